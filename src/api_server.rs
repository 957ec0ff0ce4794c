//! The Kubernetes API server (kube-apiserver, as EKS runs it for a cluster), reduced to what the credential
//! flows touch.
//!
//! It stores ServiceAccounts and Pods (real `k8s-openapi` types), runs mutating admission by calling the
//! webhook with an `admission.k8s.io/v1` AdmissionReview over HTTP and applying the returned JSON Patch,
//! and signs bound service-account tokens for the `TokenRequest` subresource
//! (`POST /api/v1/namespaces/{ns}/serviceaccounts/{sa}/token`) with the cluster's RS256 key, whose public
//! half it serves at `/openid/v1/jwks` for the OIDC issuer. Token claims and limits follow
//! `shared/reference/sdk.md` §3 (min 600 s, `kubernetes.io` claims with pod and node binding, `nbf = iat`).
//!
//! Kubelets learn about their pods with a long poll, `GET /api/v1/pods?fieldSelector=spec.nodeName=N&resourceVersion=RV`,
//! which answers with every pod of that node changed after `RV` (deleted ones carry a
//! `deletionTimestamp`), or waits up to `timeoutSeconds`. It stands in for a watch stream; what a kubelet
//! sees is the same sequence of pod states.
//!
//! **Key rotation.** The signing key lives in a [`SigningKeys`] ring shared with the composition root:
//! [`SigningKeys::rotate`] makes a new key sign from then on while `/openid/v1/jwks` keeps serving the old
//! one for an overlap, as `--service-account-key-file` may list several keys during a rotation
//! (`sdk.md` §2: EKS rotates its signing key every seven days). The old key leaves the JWKS by itself
//! when the overlap ends: the ring compares the simulated time with the end at every JWKS request and
//! token signing (no timer, no polling), and records `apiserver.signing_key_removed` the first time it
//! sees it gone.
//!
//! **Faults.** Under a service fault ([`runtime::refuse_request`]) every request is refused first with a
//! `metav1.Status`: `429 TooManyRequests` (what kube-apiserver's max-in-flight and priority-and-fairness
//! filters answer, with `Retry-After: 1`) or `503 ServiceUnavailable`, and `apiserver.request_refused`
//! {method, path, code, http_status} is recorded.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestStatus};
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

use crate::http::{self, HttpClient, Request, Response, Timeouts};
use crate::jwt::SigningKey;
use crate::runtime::{self, fields};

/// Settings of the simulated API server.
#[derive(Clone, Debug)]
pub struct ApiServerConfig {
    /// `--service-account-issuer`: the cluster's OIDC issuer URL.
    pub issuer: String,
    /// Port it listens on (EKS: 443).
    pub port: u16,
    /// URL of the mutating webhook (`MutatingWebhookConfiguration` service path `/mutate`).
    pub webhook_url: Option<String>,
    /// Webhook call timeout (`timeoutSeconds`; Kubernetes default 10 s).
    pub webhook_timeout: Duration,
    /// `failurePolicy` of the webhook: the shipped `deploy/mutatingwebhook.yaml` says `Ignore`
    /// (webhook.md §1.2), so a pod is admitted unmutated when the webhook cannot be reached.
    pub webhook_failure_ignore: bool,
    /// Minimum `expirationSeconds` of a TokenRequest ("may not specify a duration less than 10 minutes").
    pub token_expiration_s_min: i64,
    /// Longest a watch long-poll waits before answering empty.
    pub watch_timeout: Duration,
}

impl ApiServerConfig {
    pub fn new(issuer: String) -> Self {
        ApiServerConfig {
            issuer,
            port: 443,
            webhook_url: None,
            webhook_timeout: Duration::from_secs(10),
            webhook_failure_ignore: true,
            token_expiration_s_min: 600,
            watch_timeout: Duration::from_secs(60),
        }
    }
}

/// The API server's service-account signing keys: the one that signs now, and earlier ones, each while
/// its overlap lasts. A cheap clone: every clone is the same ring (the composition root keeps one to
/// rotate keys; the API server process reads it, across restarts).
#[derive(Clone)]
pub struct SigningKeys(Rc<RefCell<KeyRing>>);

struct KeyRing {
    current: Rc<SigningKey>,
    /// Earlier keys, oldest first, each with the simulated time (since start) until which the JWKS
    /// still lists it. Kubernetes verifies with every key in `--service-account-key-file`, so a second
    /// rotation inside the first one's overlap keeps both old keys.
    previous: Vec<(Rc<SigningKey>, Duration)>,
}

impl SigningKeys {
    /// A ring with one key.
    pub fn new(key: SigningKey) -> SigningKeys {
        SigningKeys(Rc::new(RefCell::new(KeyRing { current: Rc::new(key), previous: Vec::new() })))
    }

    /// From now on tokens are signed with `new`; the JWKS serves the old key as well until
    /// `now + overlap`. Earlier keys keep their own overlaps. Records `apiserver.signing_key`
    /// {kid_new, kid_old, overlap_s} on the calling host.
    pub fn rotate(&self, new: SigningKey, overlap: Duration) {
        let until = runtime::elapsed() + overlap;
        let mut ring = self.0.borrow_mut();
        let old = std::mem::replace(&mut ring.current, Rc::new(new));
        runtime::record(
            "apiserver.signing_key",
            fields!["kid_new" => ring.current.kid(), "kid_old" => old.kid(), "overlap_s" => overlap.as_secs()],
        );
        ring.previous.push((old, until));
    }

    /// The key that signs now.
    pub fn current(&self) -> Rc<SigningKey> {
        self.prune();
        self.0.borrow().current.clone()
    }

    /// The public keys the JWKS serves now: the current one first, then earlier ones in their overlap,
    /// newest first.
    pub fn jwks(&self) -> crate::jwt::Jwks {
        self.prune();
        let ring = self.0.borrow();
        let mut keys = vec![ring.current.jwk()];
        keys.extend(ring.previous.iter().rev().map(|(k, _)| k.jwk()));
        crate::jwt::Jwks { keys }
    }

    /// Drops earlier keys whose overlap has ended, recording `apiserver.signing_key_removed` for each.
    fn prune(&self) {
        let now = runtime::elapsed();
        let mut ring = self.0.borrow_mut();
        ring.previous.retain(|(old, until)| {
            let keep = now < *until;
            if !keep {
                runtime::record("apiserver.signing_key_removed", fields!["kid" => old.kid()]);
            }
            keep
        });
    }
}

/// What survives an API server restart: etcd and the signing key on disk.
pub struct ApiServerStore {
    service_accounts: BTreeMap<(String, String), ServiceAccount>,
    pods: BTreeMap<(String, String), Pod>,
    /// Pod changes in order: (resourceVersion, namespace, name).
    changes: Vec<(u64, String, String)>,
    /// ServiceAccount changes in order, for informers.
    sa_changes: Vec<(u64, String, String)>,
    resource_version: u64,
}

impl ApiServerStore {
    pub fn new() -> Rc<RefCell<Self>> {
        Rc::new(RefCell::new(ApiServerStore {
            service_accounts: BTreeMap::new(),
            pods: BTreeMap::new(),
            changes: Vec::new(),
            sa_changes: Vec::new(),
            resource_version: 0,
        }))
    }
}

/// The API server process.
pub struct ApiServer {
    config: ApiServerConfig,
    keys: SigningKeys,
    store: Rc<RefCell<ApiServerStore>>,
    changed: Rc<tokio::sync::Notify>,
    client: HttpClient,
}

impl ApiServer {
    /// Runs the API server on this host until the host stops.
    pub async fn run(config: ApiServerConfig, keys: SigningKeys, store: Rc<RefCell<ApiServerStore>>) {
        let port = config.port;
        let server = Rc::new(ApiServer { config, keys, store, changed: Rc::new(tokio::sync::Notify::new()), client: HttpClient::new() });
        let e = http::serve(&port.to_string(), move |req| {
            let server = server.clone();
            async move { server.handle(req).await }
        })
        .await;
        runtime::record("apiserver.stopped", fields!["error" => e.to_string()]);
    }

    async fn handle(&self, req: Request) -> Response {
        let path = req.uri().path().to_string();
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        let method = req.method().clone();
        if let Some(refusal) = runtime::refuse_request() {
            let (code, reason, message) = match refusal {
                runtime::Refusal::Throttled => {
                    (429, "TooManyRequests", "Too many requests, please try again later.")
                }
                runtime::Refusal::Unavailable => (503, "ServiceUnavailable", "the server is currently unable to handle the request"),
            };
            runtime::record(
                "apiserver.request_refused",
                fields!["method" => method.as_str(), "path" => &path, "outcome" => "error", "code" => reason, "http_status" => u64::from(code)],
            );
            let mut resp = status(code, reason, message);
            if code == 429
                && let Ok(v) = http::header_value("1")
            {
                resp.headers_mut().insert(::http::header::RETRY_AFTER, v);
            }
            return resp;
        }
        match (method.as_str(), segs.as_slice()) {
            ("GET", ["openid", "v1", "jwks"]) => http::json(200, &self.keys.jwks()),
            ("GET", [".well-known", "openid-configuration"]) => {
                http::json(200, &crate::jwt::OidcDiscovery::for_issuer(&self.config.issuer))
            }
            ("POST", ["api", "v1", "namespaces", ns, "serviceaccounts"]) => self.create_service_account(ns, &req.into_body()),
            ("GET", ["api", "v1", "namespaces", ns, "serviceaccounts", name]) => {
                match self.store.borrow().service_accounts.get(&(ns.to_string(), name.to_string())) {
                    Some(sa) => http::json(200, sa),
                    None => status(404, "NotFound", &format!("serviceaccounts \"{name}\" not found")),
                }
            }
            ("POST", ["api", "v1", "namespaces", ns, "serviceaccounts", name, "token"]) => {
                self.token_request(ns, name, &req.into_body())
            }
            ("POST", ["api", "v1", "namespaces", ns, "pods"]) => self.create_pod(ns, req.into_body()).await,
            ("DELETE", ["api", "v1", "namespaces", ns, "pods", name]) => self.delete_pod(ns, name),
            ("GET", ["api", "v1", "pods"]) => self.watch(Kind::Pods, req.uri().query().unwrap_or("")).await,
            ("GET", ["api", "v1", "serviceaccounts"]) => self.watch(Kind::ServiceAccounts, req.uri().query().unwrap_or("")).await,
            _ => status(404, "NotFound", &format!("the server could not find the requested resource {method} {path}")),
        }
    }

    fn next_rv(&self) -> u64 {
        let mut s = self.store.borrow_mut();
        s.resource_version += 1;
        s.resource_version
    }

    fn create_service_account(&self, ns: &str, body: &Bytes) -> Response {
        let mut sa: ServiceAccount = match serde_json::from_slice(body) {
            Ok(sa) => sa,
            Err(e) => return status(400, "BadRequest", &format!("ServiceAccount does not parse: {e}")),
        };
        let Some(name) = sa.metadata.name.clone() else {
            return status(422, "Invalid", "ServiceAccount metadata.name: Required value");
        };
        sa.metadata.namespace = Some(ns.to_string());
        sa.metadata.uid = Some(new_uid());
        sa.metadata.resource_version = Some(self.next_rv().to_string());
        let mut s = self.store.borrow_mut();
        let key = (ns.to_string(), name.clone());
        if s.service_accounts.contains_key(&key) {
            return status(409, "AlreadyExists", &format!("serviceaccounts \"{name}\" already exists"));
        }
        s.service_accounts.insert(key, sa.clone());
        let rv = s.resource_version;
        s.sa_changes.push((rv, ns.to_string(), name.clone()));
        drop(s);
        self.changed.notify_waiters();
        runtime::record("apiserver.serviceaccount_created", fields!["namespace" => ns, "name" => name]);
        http::json(201, &sa)
    }

    async fn create_pod(&self, ns: &str, body: Bytes) -> Response {
        let mut pod: Pod = match serde_json::from_slice(&body) {
            Ok(p) => p,
            Err(e) => return status(400, "BadRequest", &format!("Pod does not parse: {e}")),
        };
        let Some(name) = pod.metadata.name.clone() else {
            return status(422, "Invalid", "Pod metadata.name: Required value");
        };
        pod.metadata.namespace = Some(ns.to_string());
        if self.store.borrow().pods.contains_key(&(ns.to_string(), name.clone())) {
            return status(409, "AlreadyExists", &format!("pods \"{name}\" already exists"));
        }
        pod.metadata.uid = Some(new_uid());
        let sa_name = pod.spec.as_ref().and_then(|s| s.service_account_name.clone()).unwrap_or_else(|| "default".into());
        if let Some(spec) = pod.spec.as_mut() {
            spec.service_account_name = Some(sa_name.clone());
        }
        if !self.store.borrow().service_accounts.contains_key(&(ns.to_string(), sa_name.clone())) {
            return status(403, "Forbidden", &format!("pods \"{name}\" is forbidden: error looking up service account {ns}/{sa_name}: serviceaccount \"{sa_name}\" not found"));
        }
        let t0 = runtime::elapsed();
        let pod = match self.admit(pod).await {
            Ok(p) => p,
            Err(resp) => return resp,
        };
        let admission_ms = (runtime::elapsed() - t0).as_micros() as u64 / 1000;
        let rv = self.next_rv();
        let mut pod = pod;
        pod.metadata.resource_version = Some(rv.to_string());
        pod.metadata.creation_timestamp = Some(k8s_time(runtime::now()));
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
        let shape = PodShape::of(&pod);
        {
            let mut s = self.store.borrow_mut();
            s.pods.insert((ns.to_string(), name.clone()), pod.clone());
            s.changes.push((rv, ns.to_string(), name.clone()));
        }
        self.changed.notify_waiters();
        runtime::record(
            "apiserver.pod_created",
            fields![
                "namespace" => ns,
                "pod" => name,
                "node" => node,
                "admission_ms" => admission_ms,
                "service_account" => sa_name,
                "containers" => shape.containers,
                "token_mounted" => shape.token_mounted,
                "skip_containers" => shape.skip_containers,
                "uid" => pod.metadata.uid.clone().unwrap_or_default(),
            ],
        );
        http::json(201, &pod)
    }

    /// Mutating admission: AdmissionReview v1 to the webhook, JSON Patch back.
    #[allow(clippy::result_large_err)] // the error is the HTTP response to send, built once per pod
    async fn admit(&self, pod: Pod) -> Result<Pod, Response> {
        let Some(url) = &self.config.webhook_url else { return Ok(pod) };
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let uid = new_uid();
        let review = json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": uid,
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
                "requestResource": {"group": "", "version": "v1", "resource": "pods"},
                "name": name,
                "namespace": ns,
                "operation": "CREATE",
                "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
                "object": pod,
                "oldObject": null,
                "dryRun": false,
                "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
            }
        });
        let body = serde_json::to_vec(&review).unwrap_or_default();
        let timeouts = Timeouts { connect: self.config.webhook_timeout, request: self.config.webhook_timeout };
        let failed = |why: String| {
            runtime::record("apiserver.admission_failed", fields!["namespace" => &ns, "pod" => &name, "error" => &why]);
            if self.config.webhook_failure_ignore {
                Ok(pod.clone())
            } else {
                Err(status(500, "InternalError", &format!("Internal error occurred: failed calling webhook \"pod-identity-webhook.amazonaws.com\": {why}")))
            }
        };
        let resp = match self.client.post(url, "application/json", body, timeouts).await {
            Ok(r) => r,
            Err(e) => return failed(e.to_string()),
        };
        if resp.status() != 200 {
            return failed(format!("webhook answered HTTP {}", resp.status()));
        }
        let review: serde_json::Value = match serde_json::from_slice(resp.body()) {
            Ok(v) => v,
            Err(e) => return failed(format!("AdmissionReview response does not parse: {e}")),
        };
        let r = &review["response"];
        if r["uid"] != json!(uid) {
            return failed("AdmissionReview response uid does not match the request".into());
        }
        if r["allowed"] != json!(true) {
            let msg = r["status"]["message"].as_str().unwrap_or("denied").to_string();
            return Err(status(400, "BadRequest", &format!("admission webhook denied the request: {msg}")));
        }
        let Some(patch_b64) = r["patch"].as_str() else { return Ok(pod) };
        use base64::Engine;
        let patch_bytes = match base64::engine::general_purpose::STANDARD.decode(patch_b64) {
            Ok(b) => b,
            Err(e) => return failed(format!("patch is not base64: {e}")),
        };
        let patch: json_patch::Patch = match serde_json::from_slice(&patch_bytes) {
            Ok(p) => p,
            Err(e) => return failed(format!("patch is not a JSON Patch: {e}")),
        };
        let mut doc = serde_json::to_value(&pod).unwrap_or_default();
        if let Err(e) = json_patch::patch(&mut doc, &patch) {
            return failed(format!("applying the patch: {e}"));
        }
        match serde_json::from_value::<Pod>(doc) {
            Ok(p) => Ok(p),
            Err(e) => failed(format!("patched pod does not parse: {e}")),
        }
    }

    fn delete_pod(&self, ns: &str, name: &str) -> Response {
        let rv = self.next_rv();
        let mut s = self.store.borrow_mut();
        let Some(pod) = s.pods.get_mut(&(ns.to_string(), name.to_string())) else {
            return status(404, "NotFound", &format!("pods \"{name}\" not found"));
        };
        pod.metadata.deletion_timestamp = Some(k8s_time(runtime::now()));
        pod.metadata.resource_version = Some(rv.to_string());
        let pod = pod.clone();
        s.changes.push((rv, ns.to_string(), name.to_string()));
        drop(s);
        self.changed.notify_waiters();
        runtime::record("apiserver.pod_deleted", fields!["namespace" => ns, "pod" => name]);
        http::json(200, &pod)
    }

    /// Long poll for changes after `resourceVersion`: pods of one node (`fieldSelector=spec.nodeName=N`,
    /// the kubelet) or all ServiceAccounts (the webhook's informer).
    async fn watch(&self, kind: Kind, query: &str) -> Response {
        let q: BTreeMap<String, String> = serde_urlencoded::from_str(query).unwrap_or_default();
        let node = q.get("fieldSelector").and_then(|f| f.strip_prefix("spec.nodeName=")).unwrap_or("").to_string();
        let mut since: u64 = q.get("resourceVersion").and_then(|v| v.parse().ok()).unwrap_or(0);
        let timeout = q
            .get("timeoutSeconds")
            .and_then(|v| v.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(self.config.watch_timeout)
            .min(self.config.watch_timeout);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            let (items, rv) = {
                let s = self.store.borrow();
                let log = match kind {
                    Kind::Pods => &s.changes,
                    Kind::ServiceAccounts => &s.sa_changes,
                };
                let start = log.partition_point(|(rv, _, _)| *rv <= since);
                let mut seen = std::collections::BTreeSet::new();
                let mut items = Vec::new();
                for (_, ns, name) in &log[start..] {
                    let key = (ns.clone(), name.clone());
                    if !seen.insert(key.clone()) {
                        continue;
                    }
                    match kind {
                        Kind::Pods => {
                            if let Some(p) = s.pods.get(&key)
                                && p.spec.as_ref().and_then(|sp| sp.node_name.as_deref()) == Some(node.as_str())
                            {
                                items.push(serde_json::to_value(p).unwrap_or_default());
                            }
                        }
                        Kind::ServiceAccounts => {
                            if let Some(sa) = s.service_accounts.get(&key) {
                                items.push(serde_json::to_value(sa).unwrap_or_default());
                            }
                        }
                    }
                }
                (items, s.resource_version)
            };
            if !items.is_empty() || tokio::time::Instant::now() >= deadline {
                let list_kind = match kind {
                    Kind::Pods => "PodList",
                    Kind::ServiceAccounts => "ServiceAccountList",
                };
                return http::json(
                    200,
                    &json!({"apiVersion": "v1", "kind": list_kind, "metadata": {"resourceVersion": rv.to_string()}, "items": items}),
                );
            }
            // Nothing up to `rv` concerns this watcher: the next wake-up scans only what is newer. (Without
            // this every watcher rescanned the whole backlog on every change: quadratic in a start-up
            // storm, 200 kubelets x 10,000 pods.)
            since = rv;
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }

    fn token_request(&self, ns: &str, sa_name: &str, body: &Bytes) -> Response {
        let tr: TokenRequest = match serde_json::from_slice(body) {
            Ok(t) => t,
            Err(e) => return status(400, "BadRequest", &format!("TokenRequest does not parse: {e}")),
        };
        let s = self.store.borrow();
        let Some(sa) = s.service_accounts.get(&(ns.to_string(), sa_name.to_string())) else {
            return status(404, "NotFound", &format!("serviceaccounts \"{sa_name}\" not found"));
        };
        let exp_s = tr.spec.expiration_seconds.unwrap_or(3600);
        if exp_s < self.config.token_expiration_s_min {
            return status(422, "Invalid", "TokenRequest.authentication.k8s.io is invalid: spec.expirationSeconds: Invalid value: may not specify a duration less than 10 minutes");
        }
        if exp_s > (1i64 << 32) {
            return status(422, "Invalid", "TokenRequest.authentication.k8s.io is invalid: spec.expirationSeconds: Invalid value: may not specify a duration larger than 2^32 seconds");
        }
        // Pod binding: the pod must exist with that uid.
        let mut pod_claim = None;
        let mut node_claim = None;
        if let Some(bound) = &tr.spec.bound_object_ref {
            if bound.kind.as_deref() != Some("Pod") {
                return status(400, "BadRequest", "only Pod-bound tokens are simulated");
            }
            let pname = bound.name.clone().unwrap_or_default();
            let Some(pod) = s.pods.get(&(ns.to_string(), pname.clone())) else {
                return status(404, "NotFound", &format!("pods \"{pname}\" not found"));
            };
            let uid = pod.metadata.uid.clone().unwrap_or_default();
            if bound.uid.as_deref().is_some_and(|u| u != uid) {
                return status(409, "Conflict", &format!("the UID in the bound object reference ({}) does not match the UID in record. The object might have been deleted and then recreated", bound.uid.clone().unwrap_or_default()));
            }
            if pod.metadata.deletion_timestamp.is_some() {
                return status(400, "BadRequest", &format!("pods \"{pname}\" is being deleted"));
            }
            pod_claim = Some(json!({"name": pname, "uid": uid}));
            if let Some(node) = pod.spec.as_ref().and_then(|sp| sp.node_name.clone()) {
                node_claim = Some(json!({"name": node, "uid": node_uid(&node)}));
            }
        }
        let audiences = if tr.spec.audiences.is_empty() { vec![self.config.issuer.clone()] } else { tr.spec.audiences.clone() };
        let now = runtime::unix_s(runtime::now());
        let exp = now + exp_s as u64;
        let mut k8s = json!({
            "namespace": ns,
            "serviceaccount": {"name": sa_name, "uid": sa.metadata.uid.clone().unwrap_or_default()},
        });
        if let Some(p) = pod_claim.clone() {
            k8s["pod"] = p;
        }
        if let Some(n) = node_claim {
            k8s["node"] = n;
        }
        let claims = json!({
            "aud": audiences,
            "exp": exp,
            "iat": now,
            "iss": self.config.issuer,
            "jti": new_uid(),
            "kubernetes.io": k8s,
            "nbf": now,
            "sub": format!("system:serviceaccount:{ns}:{sa_name}"),
        });
        drop(s);
        let token = self.keys.current().sign(&claims);
        let pod_name = pod_claim.as_ref().and_then(|p| p["name"].as_str()).unwrap_or("").to_string();
        runtime::record(
            "apiserver.token_issued",
            fields!["namespace" => ns, "service_account" => sa_name, "pod" => pod_name, "audience" => audiences.join(","), "expiration_s" => exp_s as u64, "exp" => exp],
        );
        let mut out = tr;
        out.status = Some(TokenRequestStatus {
            token,
            expiration_timestamp: k8s_time(std::time::UNIX_EPOCH + Duration::from_secs(exp)),
        });
        out.metadata.namespace = Some(ns.to_string());
        out.metadata.name = Some(sa_name.to_string());
        http::json(201, &out)
    }
}

/// The names of projected token volumes the webhook adds: IRSA's and Pod Identity's.
const TOKEN_VOLUMES: [&str; 2] = ["aws-iam-token", "eks-pod-identity-token"];

/// What `apiserver.pod_created` says about an admitted pod's containers.
struct PodShape {
    /// Container names (init containers first, as the pod lists them), joined by `,`.
    containers: String,
    /// Names of the containers that mount a projected token volume, joined by `,`.
    token_mounted: String,
    /// The `eks.amazonaws.com/skip-containers` annotation, "" if none.
    skip_containers: String,
}

impl PodShape {
    fn of(pod: &Pod) -> PodShape {
        let mut containers = Vec::new();
        let mut mounted = Vec::new();
        if let Some(spec) = &pod.spec {
            for c in spec.init_containers.iter().flatten().chain(spec.containers.iter()) {
                containers.push(c.name.clone());
                let mounts_token =
                    c.volume_mounts.iter().flatten().any(|m| TOKEN_VOLUMES.contains(&m.name.as_str()));
                if mounts_token {
                    mounted.push(c.name.clone());
                }
            }
        }
        let skip_containers = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("eks.amazonaws.com/skip-containers").cloned())
            .unwrap_or_default();
        PodShape { containers: containers.join(","), token_mounted: mounted.join(","), skip_containers }
    }
}

/// What a watch is for.
#[derive(Clone, Copy)]
enum Kind {
    Pods,
    ServiceAccounts,
}

/// A `metav1.Status` failure body.
fn status(code: u16, reason: &str, message: &str) -> Response {
    http::json(
        code,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code}),
    )
}

/// A Kubernetes timestamp.
pub fn k8s_time(t: std::time::SystemTime) -> Time {
    let s = runtime::unix_s(t) as i64;
    Time(k8s_openapi::jiff::Timestamp::from_second(s).unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH))
}

/// A random UUID (v4 layout) from this host's seeded RNG.
pub fn new_uid() -> String {
    let b: [u8; 16] = runtime::with_rng(|r| {
        let mut b = [0u8; 16];
        rand::Rng::fill_bytes(r, &mut b);
        b
    });
    uuid_from_bytes(b)
}

fn uuid_from_bytes(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// A node's uid, stable for its name.
pub fn node_uid(name: &str) -> String {
    let s = runtime::stable_hash(&format!("node-uid/{name}"));
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&s.to_le_bytes());
    b[8..].copy_from_slice(&s.rotate_left(17).to_le_bytes());
    uuid_from_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::ServiceFault;
    use crate::testing::{ask, run_script, text};

    const HOST: &str = "apiserver.demo";
    const ISSUER: &str = "https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B716D3041E";

    fn serve(keys: SigningKeys) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> {
        let store = ApiServerStore::new();
        move || Box::pin(ApiServer::run(ApiServerConfig::new(ISSUER.into()), keys.clone(), store.clone()))
    }

    fn get(path: &str) -> Request {
        ::http::Request::get(path).body(Bytes::new()).unwrap()
    }

    #[test]
    fn faults_answer_status_errors_and_healthy_is_unchanged() {
        let cases = [
            (ServiceFault::Outage, 503, "ServiceUnavailable"),
            (ServiceFault::Throttle { rate: 1.0 }, 429, "TooManyRequests"),
            (ServiceFault::Healthy, 200, ""),
        ];
        for (fault, code, reason) in cases {
            let keys = SigningKeys::new(SigningKey::generate(21));
            let (answers, events) = ask(HOST, fault, serve(keys), &format!("https://{HOST}/openid/v1/jwks"), vec![get("/")]);
            let r = &answers[0];
            assert_eq!(r.status().as_u16(), code, "{fault:?}");
            let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
            let refused = events.iter().filter(|e| e.kind == "apiserver.request_refused").count();
            if code == 200 {
                assert_eq!(v["keys"].as_array().map(Vec::len), Some(1), "{v}");
                assert_eq!(refused, 0);
            } else {
                assert_eq!((v["kind"].as_str(), v["status"].as_str()), (Some("Status"), Some("Failure")), "{v}");
                assert_eq!((v["reason"].as_str(), v["code"].as_u64()), (Some(reason), Some(u64::from(code))), "{}", text(r));
                assert_eq!(r.headers().contains_key(::http::header::RETRY_AFTER), code == 429);
                let e = events.iter().find(|e| e.kind == "apiserver.request_refused").unwrap();
                assert_eq!((e.str("code"), e.u64("http_status")), (reason, Some(u64::from(code))));
            }
        }
    }

    #[test]
    fn rotation_signs_with_the_new_key_and_serves_both_during_the_overlap_only() {
        let (a, b) = (SigningKey::generate(21), SigningKey::generate(22));
        let (kid_a, kid_b) = (a.kid().to_owned(), b.kid().to_owned());
        assert_ne!(kid_a, kid_b, "kid is derived from the public key");
        let keys = SigningKeys::new(a);
        let ring = keys.clone();
        let base = format!("https://{HOST}");
        let ((before, during, after, t1, t2), events) = run_script(HOST, serve(keys), move || async move {
            let http = HttpClient::new();
            let t = Timeouts { connect: Duration::from_secs(5), request: Duration::from_secs(30) };
            let jwks_kids = || async {
                let r = http.get(&format!("{base}/openid/v1/jwks"), &[], t).await.unwrap();
                let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
                v["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
            };
            let token_kid = || async {
                let body = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"audiences": ["sts.amazonaws.com"]}});
                let url = format!("{base}/api/v1/namespaces/payments/serviceaccounts/checkout/token");
                let r = http.post(&url, "application/json", body.to_string(), t).await.unwrap();
                let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
                let token = v["status"]["token"].as_str().unwrap().to_owned();
                crate::jwt::decode_unverified(&token).unwrap().0.kid.unwrap()
            };
            let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "checkout"}});
            let url = format!("{base}/api/v1/namespaces/payments/serviceaccounts");
            assert_eq!(http.post(&url, "application/json", sa.to_string(), t).await.unwrap().status(), 201);
            let t1 = token_kid().await;
            let before = jwks_kids().await;
            ring.rotate(b, Duration::from_secs(600));
            let t2 = token_kid().await;
            let during = jwks_kids().await;
            tokio::time::sleep(Duration::from_secs(601)).await;
            let after = jwks_kids().await;
            let _ = jwks_kids().await;
            (before, during, after, t1, t2)
        });
        assert_eq!((t1, t2), (kid_a.clone(), kid_b.clone()), "new tokens carry the new kid");
        assert_eq!(before, vec![kid_a.clone()]);
        assert_eq!(during, vec![kid_b.clone(), kid_a.clone()]);
        assert_eq!(after, vec![kid_b.clone()]);
        let rotated: Vec<_> = events.iter().filter(|e| e.kind == "apiserver.signing_key").collect();
        assert_eq!(rotated.len(), 1);
        assert_eq!((rotated[0].str("kid_new"), rotated[0].str("kid_old")), (kid_b.as_str(), kid_a.as_str()));
        assert_eq!(rotated[0].u64("overlap_s"), Some(600));
        let removed: Vec<_> = events.iter().filter(|e| e.kind == "apiserver.signing_key_removed").collect();
        assert_eq!(removed.len(), 1, "recorded once, when first observed");
        assert_eq!(removed[0].str("kid"), kid_a);
    }

    #[test]
    fn pod_created_names_containers_token_mounts_and_skip_annotation() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "annotations": {"eks.amazonaws.com/skip-containers": "sidecar"}},
            "spec": {
                "initContainers": [{"name": "init", "volumeMounts": [{"name": "aws-iam-token", "mountPath": "/t"}]}],
                "containers": [
                    {"name": "app", "volumeMounts": [{"name": "eks-pod-identity-token", "mountPath": "/t"}]},
                    {"name": "sidecar", "volumeMounts": [{"name": "data", "mountPath": "/d"}]},
                    {"name": "bare"}
                ]
            }
        }))
        .unwrap();
        let s = PodShape::of(&pod);
        assert_eq!(s.containers, "init,app,sidecar,bare");
        assert_eq!(s.token_mounted, "init,app");
        assert_eq!(s.skip_containers, "sidecar");
        let empty = PodShape::of(&Pod::default());
        assert_eq!((empty.containers.as_str(), empty.token_mounted.as_str(), empty.skip_containers.as_str()), ("", "", ""));
    }
}
