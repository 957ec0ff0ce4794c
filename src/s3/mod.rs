//! An S3-like object store (`s3.<region>.amazonaws.com`, port 443): buckets, objects with tags, and
//! `GetObject`/`PutObject` authorised by the caller's role session, so that session-tag ABAC can be
//! shown end to end.
//!
//! It stands for Amazon S3's REST API as far as a pod reading and writing objects needs it:
//! path-style `GET /{bucket}/{key}` and `PUT /{bucket}/{key}`, SigV4-signed by the caller
//! ([`get_object`], [`put_object`] are the client side), answered with the REST-XML error document
//! of the S3 API reference (see [`wire`]). Facts: the S3 API and error references, the S3 user guide
//! ("Troubleshoot access denied (403 Forbidden) errors"), `shared/reference/iam.md` §1.1, §1.5,
//! §1.11.
//!
//! **Authorisation.** The access key id comes from the `Authorization` header. **Signatures are not
//! verified** (they come with live mode); everything S3 checks before the signature is (see
//! [`auth`]). The session behind the key is looked up at STS through the **simulator-only** endpoint
//! `GET {sts}/credsim-internal/sessions/{akid}` ([`crate::sts::SessionInfo`]) and cached per key until
//! it expires. The role's identity policies (and the session policy, if any) are evaluated with
//! [`crate::iam`] for action `s3:GetObject` / `s3:PutObject` on `arn:aws:s3:::<bucket>/<key>`, with
//! `aws:PrincipalTag/<k>` from the session tags, `s3:ExistingObjectTag/<k>` from the object's tags
//! (GetObject), `aws:userid`, `aws:PrincipalArn`, `aws:PrincipalAccount` and the other keys listed
//! in [`auth::request_context`]. Explicit Deny wins; no Allow is an implicit deny; both are
//! `AccessDenied` (403).
//!
//! The order of checks: route → `Authorization` shape and region → request time → access key
//! (`InvalidAccessKeyId`) → session token (`InvalidToken`) → expiry (`ExpiredToken`) → bucket
//! (`NoSuchBucket`) → policy (`AccessDenied`) → object. A missing object is `NoSuchKey` (404) only
//! when the caller may also `s3:ListBucket` the bucket, else `AccessDenied` (403), as the GetObject
//! reference documents; GetObject itself must be allowed first (evaluated without object tags).
//! A request without an `Authorization` header is anonymous: no bucket policy grants it anything.
//!
//! **Not modelled:** bucket policies, ACLs, Block Public Access, versioning, virtual-hosted-style
//! addressing, presigned URLs, `x-amz-tagging` on PutObject (refused with `NotImplemented`), and every
//! other operation (`NotImplemented`, 501).
//!
//! State ([`S3State`]) is shared with the composition root, which creates buckets and seeds tagged
//! objects before the run, and survives restarts of this host; the session cache does not.
//! Trace event: `s3.request` {operation, bucket, key, access_key_id, principal_arn (the session's
//! assumed-role ARN), outcome (`allowed`/`denied`/`error`), error_code, http_status, request_id}, and
//! `s3.stopped` {error}. The
//! access key id is not a secret; secret keys and session tokens never reach this actor's trace.

pub mod auth;
mod client;
pub mod config;
mod state;
pub mod wire;

#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use bytes::Bytes;

pub use client::{get_object, object_path, put_object};
pub use config::S3Config;
pub use state::{Object, S3State};
pub use wire::S3Error;

use crate::http::{self, HttpClient, Request, Response, Timeouts};
use crate::runtime::{self, FieldValue};
use auth::{Caller, SessionCache};
use wire::{DenyReason, Reply};

/// One incarnation of the S3 process: config, the durable state, and what dies with the process.
struct Actor {
    config: S3Config,
    state: Rc<RefCell<S3State>>,
    sessions: RefCell<SessionCache>,
    http: HttpClient,
}

/// Serves S3 on port 443 of this host until the host stops.
pub async fn run(config: S3Config, state: Rc<RefCell<S3State>>) {
    let actor = Rc::new(Actor { config, state, sessions: RefCell::new(SessionCache::default()), http: HttpClient::new() });
    let e = http::serve("443", move |req| {
        let actor = actor.clone();
        async move { handle(&actor, req).await }
    })
    .await;
    runtime::record("s3.stopped", runtime::fields!["error" => e.to_string()]);
}

/// Which operation a request is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Route {
    GetObject { bucket: String, key: String },
    PutObject { bucket: String, key: String },
    /// Anything else this simulator does not serve; the text names it.
    Unsupported(String),
    /// A path whose key does not decode.
    BadUri(String),
}

impl Route {
    fn of(method: &::http::Method, path: &str) -> Route {
        let trimmed = path.strip_prefix('/').unwrap_or(path);
        let (bucket, raw_key) = trimmed.split_once('/').unwrap_or((trimmed, ""));
        let (Some(bucket), Some(key)) = (wire::decode_path(bucket), wire::decode_path(raw_key)) else {
            return Route::BadUri(path.to_owned());
        };
        if bucket.is_empty() || key.is_empty() {
            let what = if bucket.is_empty() { "A service-level request" } else { "A bucket-level request" };
            return Route::Unsupported(format!("{what} ({method} {path})"));
        }
        match method.as_str() {
            "GET" => Route::GetObject { bucket, key },
            "PUT" => Route::PutObject { bucket, key },
            m => Route::Unsupported(format!("{m} on an object")),
        }
    }

    fn operation(&self) -> &'static str {
        match self {
            Route::GetObject { .. } => "GetObject",
            Route::PutObject { .. } => "PutObject",
            Route::Unsupported(_) | Route::BadUri(_) => "Unknown",
        }
    }
}

/// What the trace says about one request.
#[derive(Default)]
struct Outcome {
    access_key_id: String,
    principal_arn: String,
    /// `allowed`, `denied` or `error`.
    outcome: &'static str,
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Handles one request and records it.
async fn handle(actor: &Actor, req: Request) -> Response {
    let (request_id, host_id) = runtime::with_rng(wire::request_ids);
    let route = Route::of(req.method(), req.uri().path());
    let mut out = Outcome::default();
    // Under a service fault S3 answers with its own 503s before any work: `SlowDown` when throttling,
    // `ServiceUnavailable` in an outage.
    let result = match runtime::refuse_request() {
        Some(runtime::Refusal::Throttled) => Err(wire::Reply::slow_down()),
        Some(runtime::Refusal::Unavailable) => Err(wire::Reply::service_unavailable()),
        None => serve(actor, &req, &route, &mut out).await,
    };
    let (bucket, key) = match &route {
        Route::GetObject { bucket, key } | Route::PutObject { bucket, key } => (bucket.clone(), key.clone()),
        _ => (String::new(), String::new()),
    };
    let (response, error_code, status) = match result {
        Ok(resp) => {
            out.outcome = "allowed";
            let status = resp.status().as_u16();
            (wire::with_ids(resp, &request_id, &host_id), String::new(), status)
        }
        Err(reply) => {
            if out.outcome.is_empty() {
                out.outcome = "error";
            }
            let code = reply.error.code.clone();
            let status = reply.error.status;
            (wire::error_response(&reply, &request_id, &host_id), code, status)
        }
    };
    let fields: Vec<(&str, FieldValue)> = vec![
        ("operation", route.operation().into()),
        ("bucket", bucket.into()),
        ("key", key.into()),
        ("access_key_id", out.access_key_id.into()),
        ("principal_arn", out.principal_arn.into()),
        ("outcome", out.outcome.into()),
        ("error_code", error_code.into()),
        ("http_status", u64::from(status).into()),
        ("request_id", request_id.into()),
    ];
    runtime::record("s3.request", fields);
    response
}

/// The request's caller: `None` when anonymous.
async fn authenticate(actor: &Actor, req: &Request, out: &mut Outcome) -> Result<Option<Rc<Caller>>, Reply> {
    let Some(authorization) = header(req, "authorization") else { return Ok(None) };
    let cfg = &actor.config;
    let cred = auth::parse_authorization(authorization, &cfg.region)?;
    out.access_key_id = cred.access_key_id.clone();
    let now = runtime::now();
    auth::check_request_time(header(req, "x-amz-date"), now, cfg.max_request_skew)?;
    if header(req, "x-amz-content-sha256").is_none() {
        return Err(Reply::missing_content_sha256());
    }
    if !auth::plausible_access_key_id(&cred.access_key_id) {
        return Err(Reply::invalid_access_key_id(&cred.access_key_id));
    }
    let cached = if cfg.cache_sessions { actor.sessions.borrow().get(&cred.access_key_id) } else { None };
    let caller = match cached {
        Some(c) => c,
        None => {
            let c = Rc::new(lookup(actor, &cred.access_key_id).await?);
            if cfg.cache_sessions {
                actor.sessions.borrow_mut().insert(c.clone(), runtime::now());
            }
            c
        }
    };
    out.principal_arn = caller.info.arn.clone();
    // An expired session stays cached (answering ExpiredToken without asking STS again) until the next
    // insertion sweeps it out.
    auth::check_session(&caller, header(req, "x-amz-security-token"), runtime::now())?;
    Ok(Some(caller))
}

/// Asks STS who holds `akid`.
async fn lookup(actor: &Actor, akid: &str) -> Result<Caller, Reply> {
    let t = Timeouts { connect: actor.config.sts_lookup_timeout, request: actor.config.sts_lookup_timeout };
    let resp = actor.http.get(&actor.config.session_url(akid), &[], t).await.map_err(|_| Reply::internal_error())?;
    match resp.status().as_u16() {
        200 => serde_json::from_slice(resp.body()).map(Caller::new).map_err(|_| Reply::internal_error()),
        404 => Err(Reply::invalid_access_key_id(akid)),
        _ => Err(Reply::internal_error()),
    }
}

/// Authorises `action` on `resource` for `caller` (anonymous when `None`), marking `out` denied on
/// refusal.
fn authorize(
    cfg: &S3Config,
    caller: Option<&Caller>,
    action: &str,
    resource: &str,
    object_tags: Option<&BTreeMap<String, String>>,
    out: &mut Outcome,
) -> Result<(), Reply> {
    let denied = |out: &mut Outcome, message: String| {
        out.outcome = "denied";
        Reply::access_denied(message)
    };
    let Some(caller) = caller else {
        return Err(denied(out, wire::ACCESS_DENIED.into()));
    };
    if !auth::same_account(cfg, &caller.info) {
        return Err(denied(out, wire::ACCESS_DENIED.into()));
    }
    let ctx = auth::request_context(&caller.info, action, resource, object_tags, runtime::now());
    auth::decide(caller, &ctx).map_err(|reason: DenyReason| {
        let message = if cfg.detailed_access_denied {
            wire::access_denied_message(&caller.info.arn, action, resource, reason)
        } else {
            wire::ACCESS_DENIED.into()
        };
        denied(out, message)
    })
}

async fn serve(actor: &Actor, req: &Request, route: &Route, out: &mut Outcome) -> Result<Response, Reply> {
    let (bucket, key) = match route {
        Route::GetObject { bucket, key } | Route::PutObject { bucket, key } => (bucket, key),
        Route::Unsupported(what) => return Err(Reply::not_implemented(what)),
        Route::BadUri(uri) => return Err(Reply::invalid_uri(uri)),
    };
    if matches!(route, Route::PutObject { .. }) && req.headers().contains_key("x-amz-tagging") {
        return Err(Reply::not_implemented("PutObject with x-amz-tagging"));
    }
    let caller = authenticate(actor, req, out).await?;
    let caller = caller.as_deref();
    if !actor.state.borrow().has_bucket(bucket) {
        return Err(Reply::no_such_bucket(bucket));
    }
    let cfg = &actor.config;
    let object_arn = format!("arn:aws:s3:::{bucket}/{key}");
    match route {
        Route::GetObject { .. } => {
            let object = actor.state.borrow().object(bucket, key).cloned();
            let Some(object) = object else {
                authorize(cfg, caller, "s3:GetObject", &object_arn, None, out)?;
                authorize(cfg, caller, "s3:ListBucket", &format!("arn:aws:s3:::{bucket}"), None, out)?;
                return Err(Reply::no_such_key(key));
            };
            authorize(cfg, caller, "s3:GetObject", &object_arn, Some(&object.tags), out)?;
            let mut resp = http::response(200, "binary/octet-stream", object.body.clone());
            let h = resp.headers_mut();
            if let Ok(v) = http::header_value(&object.etag) {
                h.insert(::http::header::ETAG, v);
            }
            let modified = std::time::UNIX_EPOCH + std::time::Duration::from_millis(object.last_modified_ms);
            if let Ok(v) = http::header_value(&httpdate::fmt_http_date(modified)) {
                h.insert(::http::header::LAST_MODIFIED, v);
            }
            if !object.tags.is_empty() {
                h.insert("x-amz-tagging-count", ::http::HeaderValue::from(object.tags.len()));
            }
            Ok(resp)
        }
        _ => {
            if let Some(claimed) = header(req, "x-amz-content-sha256").filter(|c| *c != "UNSIGNED-PAYLOAD") {
                let computed = crate::sigv4::payload_sha256_hex(req.body());
                if claimed != computed {
                    return Err(Reply::content_sha256_mismatch(claimed, &computed));
                }
            }
            authorize(cfg, caller, "s3:PutObject", &object_arn, None, out)?;
            let object = Object::new(req.body().clone(), BTreeMap::new(), runtime::unix_ms(runtime::now()));
            let etag = object.etag.clone();
            actor.state.borrow_mut().store(bucket, key, object);
            let mut resp = http::response(200, "application/xml", Bytes::new());
            if let Ok(v) = http::header_value(&etag) {
                resp.headers_mut().insert(::http::header::ETAG, v);
            }
            Ok(resp)
        }
    }
}
