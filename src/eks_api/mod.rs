//! The Amazon EKS API's Pod Identity association operations (`eks.<region>.amazonaws.com`, port 443).
//!
//! It stands for the regional EKS control-plane API, as far as EKS Pod Identity needs it: the five
//! association operations of the EKS service model (2017-11-01, `restJson1`, SigV4 signing name `eks`;
//! `shared/reference/models/eks-2017-11-01.pod-identity-trimmed.service-2.json`, `agent.md` §4):
//!
//! | operation | method and path | success |
//! |---|---|---|
//! | `CreatePodIdentityAssociation` | `POST /clusters/{name}/pod-identity-associations` | `{association}` |
//! | `ListPodIdentityAssociations` | `GET /clusters/{name}/pod-identity-associations?namespace=&serviceAccount=&maxResults=&nextToken=` | `{associations, nextToken}` |
//! | `DescribePodIdentityAssociation` | `GET /clusters/{name}/pod-identity-associations/{associationId}` | `{association}` |
//! | `UpdatePodIdentityAssociation` | `POST /clusters/{name}/pod-identity-associations/{associationId}` | `{association}` |
//! | `DeletePodIdentityAssociation` | `DELETE /clusters/{name}/pod-identity-associations/{associationId}` | `{association}` (the deleted one) |
//!
//! Errors are the model's, with its HTTP statuses, in the `restJson1` shape (see [`wire`]): a second
//! association for one namespace and service account is `ResourceInUseException` (409, "Association
//! already exists: a-…"); the per-cluster limit ([`EksApiConfig::associations_per_cluster_max`], 5,000)
//! is `ResourceLimitExceededException` (400); an unknown cluster or association is
//! `ResourceNotFoundException` (404); bad parameters, including a body that is not JSON, are
//! `InvalidParameterException` (400). What is validated, and on which evidence, is listed in
//! [`validate`]. `clientRequestToken` makes Create and Update idempotent: the same token with the same
//! request replays the first answer.
//!
//! **Eventual consistency.** The API's own answers are immediately consistent, but EKS Auth and the
//! webhook see a change only `propagation_delay_ms` later (\[unk\]; "may take several seconds", model
//! documentation): creations, updates and deletions alike. They read that delayed view from a
//! **simulator-only endpoint, not an AWS API**: `GET /credsim-internal/clusters/{name}/pod-identity-associations`
//! → `{"associations": [`[`PropagatedAssociation`]`…]}` (`associationArn`, `associationId`,
//! `clusterName`, `namespace`, `serviceAccount`, `roleArn`, `targetRoleArn` if any,
//! `disableSessionTags`, `policy` if any, `externalId` if any). A propagation task applies each change
//! at the moment it is due and records `eks_api.propagated`.
//!
//! **Not modelled.** Callers sign with SigV4, but signatures are not verified and no caller
//! authorisation (`eks:CreatePodIdentityAssociation`, `iam:PassRole`) is evaluated: every request is
//! accepted as the account's administrator. The role's existence and trust policy are not checked
//! (see [`validate`]). Add-on-owned associations (`ownerArn`) never occur.
//!
//! State ([`EksApiState`]) is shared with the composition root, which registers clusters with
//! [`EksApiState::add_cluster`] before the run, and survives restarts of this host (EKS is durable).
//! Trace events: `eks_api.request` {operation, cluster, namespace, service_account, association_id,
//! outcome (`ok`/`error`), error_code, http_status, request_id}, `eks_api.propagated` {cluster,
//! association_id, change (`created`/`updated`/`deleted`), namespace, service_account, delay_ms}, and
//! `eks_api.association` {op (`create`/`update`/`delete`), cluster, namespace, service_account,
//! association_id, role_arn ("" on delete)} on every change that succeeds, and `eks_api.stopped`. No
//! secrets pass through this actor.
//!
//! **Faults.** Under a service fault (`runtime::refuse_request`) every request but the simulator-only
//! view is refused first: an outage is the model's `ServerException` (500); a throttle is
//! `ThrottlingException` (429), which the trimmed EKS model does not list (\[unk\]: the common AWS
//! throttling error, with the status restJson1 services use for it).

pub mod config;
pub mod model;
mod state;
pub mod validate;
pub mod wire;

#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::Notify;

pub use config::EksApiConfig;
pub use model::{PodIdentityAssociation, PropagatedAssociation, PropagatedView};
pub use state::{Change, ChangeKind, EksApiState};
pub use wire::EksError;

use crate::http::{self, Request, Response};
use crate::runtime::{self, FieldValue};

/// The simulator-only path prefix of the propagated view.
pub const INTERNAL_PREFIX: &str = "/credsim-internal/clusters/";

/// Serves the EKS API on port 443 of this host until the host stops.
pub async fn run(config: EksApiConfig, state: Rc<RefCell<EksApiState>>) {
    let changed = Rc::new(Notify::new());
    runtime::spawn(propagate(state.clone(), changed.clone()));
    let config = Rc::new(config);
    let e = http::serve("443", move |req| {
        let (config, state, changed) = (config.clone(), state.clone(), changed.clone());
        async move { handle(&config, &state, &changed, req) }
    })
    .await;
    runtime::record("eks_api.stopped", runtime::fields!["error" => e.to_string()]);
}

fn now_ms() -> u64 {
    runtime::unix_ms(runtime::now())
}

/// Applies due changes and records them.
fn apply_due(state: &RefCell<EksApiState>) {
    let now = now_ms();
    let applied = state.borrow_mut().apply_due(now);
    for c in applied {
        let (ns, sa) = c
            .snapshot
            .as_ref()
            .map(|s| (s.namespace.clone(), s.service_account.clone()))
            .unwrap_or_default();
        runtime::record(
            "eks_api.propagated",
            runtime::fields![
                "cluster" => &c.cluster,
                "association_id" => &c.association_id,
                "change" => c.kind.as_str(),
                "namespace" => ns,
                "service_account" => sa,
                "delay_ms" => now.saturating_sub(c.made_at_ms),
            ],
        );
    }
}

/// Makes each change visible when it is due; sleeps in between (idle time is free).
async fn propagate(state: Rc<RefCell<EksApiState>>, changed: Rc<Notify>) {
    loop {
        apply_due(&state);
        let next = state.borrow().next_due_ms();
        match next {
            Some(due) => {
                let wait = Duration::from_millis(due.saturating_sub(now_ms()));
                tokio::select! {
                    biased;
                    _ = changed.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            None => changed.notified().await,
        }
    }
}

/// Which operation a request is, from its method and path.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Route {
    Create(String),
    List(String),
    Describe(String, String),
    Update(String, String),
    Delete(String, String),
    Internal(String),
    Unknown,
}

impl Route {
    fn of(method: &::http::Method, path: &str) -> Route {
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let m = method.as_str();
        match (m, segs.as_slice()) {
            ("POST", ["clusters", name, "pod-identity-associations"]) => Route::Create((*name).into()),
            ("GET", ["clusters", name, "pod-identity-associations"]) => Route::List((*name).into()),
            ("GET", ["clusters", name, "pod-identity-associations", id]) => Route::Describe((*name).into(), (*id).into()),
            ("POST", ["clusters", name, "pod-identity-associations", id]) => Route::Update((*name).into(), (*id).into()),
            ("DELETE", ["clusters", name, "pod-identity-associations", id]) => Route::Delete((*name).into(), (*id).into()),
            ("GET", ["credsim-internal", "clusters", name, "pod-identity-associations"]) => Route::Internal((*name).into()),
            _ => Route::Unknown,
        }
    }

    fn operation(&self) -> &'static str {
        match self {
            Route::Create(_) => "CreatePodIdentityAssociation",
            Route::List(_) => "ListPodIdentityAssociations",
            Route::Describe(..) => "DescribePodIdentityAssociation",
            Route::Update(..) => "UpdatePodIdentityAssociation",
            Route::Delete(..) => "DeletePodIdentityAssociation",
            Route::Internal(_) => "credsim-internal:PropagatedAssociations",
            Route::Unknown => "Unknown",
        }
    }
}

fn new_association_id() -> String {
    runtime::with_rng(|r| {
        let draws: Vec<u32> = (0..model::ASSOCIATION_ID_SUFFIX_LEN).map(|_| rand::Rng::next_u32(r)).collect();
        model::association_id(draws)
    })
}

/// Handles one request. Never holds a borrow across an await (there is none).
fn handle(cfg: &EksApiConfig, state: &RefCell<EksApiState>, changed: &Notify, req: Request) -> Response {
    let route = Route::of(req.method(), req.uri().path());
    if let Route::Internal(cluster) = &route {
        apply_due(state);
        return match state.borrow().propagated_json(cluster) {
            Ok(v) => http::json(200, &v),
            Err(e) => wire::error(&e, ""),
        };
    }
    let request_id = runtime::with_rng(wire::request_id);
    let now = now_ms();
    let mut fields: Vec<(&str, FieldValue)> = vec![("operation", route.operation().into())];
    let refusal = runtime::refuse_request();
    let result: Result<serde_json::Value, EksError> = match &route {
        // Under a service fault the request is refused before any work (see `EksError::throttling`).
        _ if refusal.is_some() => Err(match refusal {
            Some(runtime::Refusal::Throttled) => EksError::throttling(),
            _ => EksError::server_unavailable(),
        }),
        Route::Create(cluster) => {
            fields.push(("cluster", cluster.into()));
            validate::create(req.body(), cfg).and_then(|r| {
                fields.push(("namespace", r.namespace.clone().into()));
                fields.push(("service_account", r.service_account.clone().into()));
                let mut ids = new_association_id;
                state.borrow_mut().create(cfg, cluster, r, now, &mut ids)
            })
            .map(|a| {
                fields.push(("association_id", a.association_id.clone().into()));
                json!({ "association": a.to_json() })
            })
        }
        Route::List(cluster) => {
            fields.push(("cluster", cluster.into()));
            validate::list_query(req.uri().query(), cfg).and_then(|q| {
                if let Some(ns) = &q.namespace {
                    fields.push(("namespace", ns.into()));
                }
                if let Some(sa) = &q.service_account {
                    fields.push(("service_account", sa.into()));
                }
                state.borrow().list(cluster, &q)
            })
            .map(|(page, next)| {
                fields.push(("count", page.len().into()));
                let mut body = json!({ "associations": page.iter().map(PodIdentityAssociation::summary_json).collect::<Vec<_>>() });
                if let Some(t) = next {
                    body["nextToken"] = json!(t);
                }
                body
            })
        }
        Route::Describe(cluster, id) | Route::Update(cluster, id) | Route::Delete(cluster, id) => {
            fields.push(("cluster", cluster.into()));
            fields.push(("association_id", id.into()));
            let r = match &route {
                Route::Describe(..) => state.borrow().describe(cluster, id),
                Route::Update(..) => validate::update(req.body(), cfg).and_then(|u| state.borrow_mut().update(cfg, cluster, id, u, now)),
                _ => state.borrow_mut().delete(cfg, cluster, id, now),
            };
            r.map(|a| {
                fields.push(("namespace", a.namespace.clone().into()));
                fields.push(("service_account", a.service_account.clone().into()));
                json!({ "association": a.to_json() })
            })
        }
        Route::Internal(_) | Route::Unknown => Err(EksError::unknown_operation()),
    };
    if matches!(route, Route::Create(_) | Route::Update(..) | Route::Delete(..))
        && let Ok(body) = &result
    {
        changed.notify_one();
        let a = &body["association"];
        let s = |k: &str| a[k].as_str().unwrap_or_default().to_owned();
        let (op, role_arn) = match route {
            Route::Create(_) => ("create", s("roleArn")),
            Route::Update(..) => ("update", s("roleArn")),
            _ => ("delete", String::new()),
        };
        runtime::record(
            "eks_api.association",
            runtime::fields![
                "op" => op,
                "cluster" => s("clusterName"),
                "namespace" => s("namespace"),
                "service_account" => s("serviceAccount"),
                "association_id" => s("associationId"),
                "role_arn" => role_arn,
            ],
        );
    }
    let response = match &result {
        Ok(body) => {
            fields.push(("outcome", "ok".into()));
            fields.push(("http_status", 200u64.into()));
            wire::ok(body, &request_id)
        }
        Err(e) => {
            fields.push(("outcome", "error".into()));
            fields.push(("error_code", e.code.into()));
            fields.push(("http_status", u64::from(e.status).into()));
            wire::error(e, &request_id)
        }
    };
    fields.push(("request_id", request_id.into()));
    runtime::record("eks_api.request", fields);
    response
}
