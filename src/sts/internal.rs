//! **Simulator-only, not an AWS API**: how resource services (the simulated S3, …) learn who holds an
//! access key.
//!
//! In AWS a service that receives a SigV4-signed request asks AWS's internal authentication which
//! principal the access key belongs to, with which session tags and policies. Until the simulated
//! services verify SigV4 signatures themselves, they ask STS over the network instead:
//!
//! `GET /credsim-internal/sessions/{access_key_id}` on the STS host →
//! * `200` with a JSON [`SessionInfo`]: `access_key_id`, `arn` (the assumed-role ARN),
//!   `assumed_role_id` (`<role id>:<session name>`, the value of `aws:userid`), `role_arn`, `role_name`, `account_id`, `role_session_name`, `expiration` (Unix seconds), `principal_tags`
//!   (`{key: value}`, the session tags), `transitive_tag_keys`, `identity_policies` (the role's
//!   inline policies as JSON strings, in name order), `session_policy` (JSON string, when the
//!   session was issued with `Policy`), `source_identity` (when set) and `session_token_sha256`
//!   (hex SHA-256 of the session token, so a service can check the presented
//!   `x-amz-security-token` without STS revealing the token). Expired sessions are still
//!   answered until STS prunes them: the caller compares `expiration` with its own clock.
//! * `404` `{"message": "…"}` for an unknown key (including service identities, which are not
//!   sessions); `405` for any method but GET.
//!
//! No secret is ever returned. Every lookup records an `sts.session_lookup` trace event
//! (`access_key_id`, `found`).

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{StsEnv, StsService};

/// Every simulator-only path on the STS host starts with this.
pub const PATH_PREFIX: &str = "/credsim-internal/";
/// The session lookup path prefix; the access key id follows.
pub const SESSIONS_PATH: &str = "/credsim-internal/sessions/";

/// What a resource service learns about an access key (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub access_key_id: String,
    /// `arn:<p>:sts::<acct>:assumed-role/<role>/<session>`.
    pub arn: String,
    /// `<role id>:<role session name>`: what `aws:userid` is for this session (`iam.md` §1.5).
    #[serde(default)]
    pub assumed_role_id: String,
    pub role_arn: String,
    pub role_name: String,
    pub account_id: String,
    pub role_session_name: String,
    /// Unix seconds.
    pub expiration: u64,
    /// Session tags (`aws:PrincipalTag/<key>`).
    pub principal_tags: BTreeMap<String, String>,
    pub transitive_tag_keys: Vec<String>,
    /// The role's inline identity policies, as JSON text.
    pub identity_policies: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_identity: Option<String>,
    /// Hex SHA-256 of the session token.
    pub session_token_sha256: String,
}

impl StsService {
    /// The [`SessionInfo`] of an issued session, if STS still remembers it.
    pub fn session_info(&self, access_key_id: &str) -> Option<SessionInfo> {
        let s = self.session(access_key_id)?;
        let role_name = s.role_arn.rsplit('/').next().unwrap_or_default().to_owned();
        let account_id = s.role_arn.split(':').nth(4).unwrap_or_default().to_owned();
        let identity_policies = self.role_policies(&role_name).into_iter().map(|(_, json)| json).collect();
        let digest = Sha256::digest(s.session_token.as_bytes());
        Some(SessionInfo {
            access_key_id: s.access_key_id,
            arn: s.assumed_role_arn,
            assumed_role_id: s.assumed_role_id,
            role_arn: s.role_arn,
            role_name,
            account_id,
            role_session_name: s.role_session_name,
            expiration: crate::runtime::unix_s(s.expiration),
            principal_tags: s.session_tags,
            transitive_tag_keys: s.transitive_tag_keys.into_iter().collect(),
            identity_policies,
            session_policy: s.session_policy_json,
            source_identity: s.source_identity,
            session_token_sha256: hex::encode(digest),
        })
    }
}

fn json_response(status: StatusCode, body: &impl Serialize) -> Response<Bytes> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = Response::new(Bytes::from(bytes));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    resp
}

/// Serves a request under [`PATH_PREFIX`].
pub(super) fn handle(svc: &StsService, req: &Request<Bytes>, env: &dyn StsEnv) -> Response<Bytes> {
    let path = req.uri().path();
    let Some(key) = path.strip_prefix(SESSIONS_PATH).filter(|k| !k.is_empty() && !k.contains('/')) else {
        return json_response(StatusCode::NOT_FOUND, &serde_json::json!({"message": format!("no such path {path}")}));
    };
    if req.method() != http::Method::GET {
        return json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &serde_json::json!({"message": "only GET is supported"}),
        );
    }
    let info = svc.session_info(key);
    env.record(
        "sts.session_lookup",
        &[("access_key_id", key.to_owned()), ("found", info.is_some().to_string())],
    );
    match info {
        Some(info) => json_response(StatusCode::OK, &info),
        None => json_response(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"message": format!("no session with access key id {key}")}),
        ),
    }
}
