//! The webhook process: an HTTPS (here: plain HTTP) server on `:443/mutate` around [`super::review`],
//! with the ServiceAccount informer that feeds its cache.
//!
//! As upstream (webhook.md §6): a cluster-wide informer keeps a ServiceAccount cache (list, then watch),
//! and the server starts without waiting for it to sync. A pod whose ServiceAccount is not in the cache
//! is admitted unmutated, unless `--service-account-lookup-grace-period` is above zero: then the webhook
//! fetches the ServiceAccount from the API server directly (1 s timeout) and waits for it up to the grace
//! period. The value EKS runs with is not published: a parameter, default 0 as in the code.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ServiceAccount;
use serde_json::Value;

use super::pod_identity::PodIdentityAssociationRef;
use super::{review_with_outcome, Outcome, WebhookConfig};
use crate::http::{self, HttpClient, Request, Response, Timeouts};
use crate::runtime::{self, fields};

/// Settings of the webhook process beyond the mutation flags.
#[derive(Clone, Debug)]
pub struct WebhookServerConfig {
    pub mutation: WebhookConfig,
    /// Base URL of the API server.
    pub apiserver_url: String,
    /// `--service-account-lookup-grace-period` (code default 0: no wait, no API fallback).
    pub sa_lookup_grace: Duration,
    /// Where the cluster's Pod Identity associations are read (the EKS API's propagated view; the EKS-run
    /// webhook gets them as a file, `--watch-container-credentials-config`), if Pod Identity is on.
    pub associations_url: Option<String>,
    /// How often that view is re-read ([unk] for EKS: a parameter).
    pub associations_poll: Duration,
}

type AssocSet = Rc<RefCell<std::collections::BTreeSet<PodIdentityAssociationRef>>>;

type SaCache = Rc<RefCell<BTreeMap<(String, String), ServiceAccount>>>;

/// Runs the webhook on this host until the host stops.
pub async fn run(config: WebhookServerConfig) {
    let cache: SaCache = Rc::new(RefCell::new(BTreeMap::new()));
    runtime::spawn(informer(config.apiserver_url.clone(), cache.clone()));
    let assocs: AssocSet = Rc::new(RefCell::new(std::collections::BTreeSet::new()));
    if let Some(url) = config.associations_url.clone() {
        runtime::spawn(watch_associations(url, config.associations_poll, assocs.clone()));
    }
    let config = Rc::new(config);
    let client = Rc::new(HttpClient::new());
    let e = http::serve("443", move |req| {
        let (config, cache, client, assocs) = (config.clone(), cache.clone(), client.clone(), assocs.clone());
        async move { mutate(&config, &cache, &assocs, &client, req).await }
    })
    .await;
    runtime::record("webhook.stopped", fields!["error" => e.to_string()]);
}

async fn mutate(config: &WebhookServerConfig, cache: &SaCache, assocs: &AssocSet, client: &HttpClient, req: Request) -> Response {
    if req.uri().path() != "/mutate" || req.method() != ::http::Method::POST {
        return http::response(404, "text/plain", "404 page not found\n");
    }
    let body = req.into_body();
    // Which ServiceAccount the pod names, to fall back to the API when the cache misses.
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let ns = v["request"]["namespace"].as_str().unwrap_or("").to_string();
    let sa = v["request"]["object"]["spec"]["serviceAccountName"].as_str().unwrap_or("").to_string();
    let key = (ns.clone(), sa.clone());
    if !config.sa_lookup_grace.is_zero() && !cache.borrow().contains_key(&key) {
        let url = format!("{}/api/v1/namespaces/{ns}/serviceaccounts/{sa}", config.apiserver_url);
        let t = Timeouts { connect: Duration::from_secs(1), request: Duration::from_secs(1) };
        if let Ok(Ok(r)) = tokio::time::timeout(config.sa_lookup_grace, client.get(&url, &[], t)).await
            && r.status() == 200
            && let Ok(found) = serde_json::from_slice::<ServiceAccount>(r.body())
        {
            cache.borrow_mut().insert(key.clone(), found);
        }
    }
    let result = {
        let c = cache.borrow();
        let a = assocs.borrow();
        runtime::with_rng(|rng| {
            review_with_outcome(
                &config.mutation,
                &body,
                |n, s| c.get(&(n.to_string(), s.to_string())).cloned(),
                |n, s| {
                    let k = PodIdentityAssociationRef::new(n, s);
                    a.contains(&k).then_some(k)
                },
                rng,
            )
        })
    };
    match result {
        Ok(r) => {
            let mode = match r.mutation.outcome {
                Outcome::WebIdentity { .. } => "web_identity",
                Outcome::ContainerCredentials { .. } => "container_credentials",
                Outcome::NotMutated(_) => "none",
            };
            let pod = v["request"]["object"]["metadata"]["name"].as_str().unwrap_or("").to_string();
            runtime::record(
                "webhook.admission",
                fields!["namespace" => &r.namespace, "pod" => pod, "service_account" => &r.service_account, "mode" => mode],
            );
            http::response(200, "application/json", r.body)
        }
        Err(e) => {
            runtime::record("webhook.bad_request", fields!["error" => e.to_string()]);
            http::response(200, "application/json", super::admission::error_response(&body, &e))
        }
    }
}

/// The ServiceAccount informer: list, then watch (long poll), forever.
async fn informer(apiserver_url: String, cache: SaCache) {
    let client = HttpClient::new();
    let mut rv = "0".to_string();
    let mut backoff = Duration::from_millis(200);
    loop {
        let url = format!("{apiserver_url}/api/v1/serviceaccounts?resourceVersion={rv}&timeoutSeconds=60");
        let t = Timeouts { connect: Duration::from_secs(5), request: Duration::from_secs(75) };
        let list: Value = match client.get(&url, &[], t).await {
            Ok(r) if r.status() == 200 => serde_json::from_slice(r.body()).unwrap_or(Value::Null),
            _ => Value::Null,
        };
        if list.is_null() {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(30));
            continue;
        }
        backoff = Duration::from_millis(200);
        if let Some(v) = list["metadata"]["resourceVersion"].as_str() {
            rv = v.to_string();
        }
        for item in list["items"].as_array().into_iter().flatten() {
            let Ok(sa) = serde_json::from_value::<ServiceAccount>(item.clone()) else { continue };
            let key = (sa.metadata.namespace.clone().unwrap_or_default(), sa.metadata.name.clone().unwrap_or_default());
            cache.borrow_mut().insert(key, sa);
        }
    }
}

/// Keeps the association set fresh from the EKS API's propagated view.
async fn watch_associations(url: String, every: Duration, set: AssocSet) {
    let client = HttpClient::new();
    let t = Timeouts { connect: Duration::from_secs(2), request: Duration::from_secs(5) };
    loop {
        if let Ok(r) = client.get(&url, &[], t).await
            && r.status() == 200
            && let Ok(v) = serde_json::from_slice::<Value>(r.body())
        {
            let mut next = std::collections::BTreeSet::new();
            for a in v["associations"].as_array().into_iter().flatten() {
                if let (Some(ns), Some(sa)) = (a["namespace"].as_str(), a["serviceAccount"].as_str()) {
                    next.insert(PodIdentityAssociationRef::new(ns, sa));
                }
            }
            *set.borrow_mut() = next;
        }
        tokio::time::sleep(every).await;
    }
}
