//! Who is calling, and may they: the `Authorization` header, the session behind an access key, and the
//! identity-policy decision for one action on one resource.
//!
//! **Signatures are not verified.** The access key id is read from the SigV4 `Credential=` of the
//! `Authorization` header and the session it belongs to is looked up at STS (simulator-only
//! endpoint, [`crate::sts::internal`]); the signature itself is taken on trust until live mode brings
//! SigV4 verification. What *is* checked is everything S3 checks before the signature: the header's
//! shape, the signing region, the request time against the clock, the session token (by its SHA-256,
//! which STS publishes) and the session's expiry.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::config::S3Config;
use super::wire::{DenyReason, Reply};
use crate::iam::{self, Decision, PolicyDocument, Principal, RequestContext};
use crate::sts::SessionInfo;

/// What a SigV4 `Authorization` header says about the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigV4Credential {
    pub access_key_id: String,
    /// `YYYYMMDD` of the credential scope.
    pub date: String,
    pub region: String,
    pub service: String,
}

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

fn malformed_credential() -> Reply {
    Reply::authorization_header_malformed(
        "the Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".",
    )
}

/// Parses `AWS4-HMAC-SHA256 Credential=<akid>/<date>/<region>/<service>/aws4_request,
/// SignedHeaders=…, Signature=…` and checks the scope's region and service against this endpoint.
pub fn parse_authorization(header: &str, region: &str) -> Result<SigV4Credential, Reply> {
    let Some(rest) = header.strip_prefix(ALGORITHM).filter(|r| r.starts_with(' ')) else {
        return Err(Reply::unsupported_authorization_type());
    };
    let mut credential = None;
    let mut signed_headers = false;
    let mut signature = false;
    for part in rest.split(',') {
        let Some((name, value)) = part.trim().split_once('=') else {
            return Err(Reply::authorization_header_malformed(&format!("the authorization component {:?} is malformed.", part.trim())));
        };
        match name {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = !value.is_empty(),
            "Signature" => signature = !value.is_empty(),
            _ => {}
        }
    }
    let Some(credential) = credential else {
        return Err(Reply::authorization_header_malformed("the authorization header requires a 'Credential' parameter."));
    };
    if !signed_headers {
        return Err(Reply::authorization_header_malformed("the authorization header requires a 'SignedHeaders' parameter."));
    }
    if !signature {
        return Err(Reply::authorization_header_malformed("the authorization header requires a 'Signature' parameter."));
    }
    let parts: Vec<&str> = credential.split('/').collect();
    let [akid, date, req_region, service, "aws4_request"] = parts[..] else {
        return Err(malformed_credential());
    };
    if akid.is_empty() || date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed_credential());
    }
    if req_region != region {
        return Err(Reply::wrong_region(req_region, region));
    }
    if service != "s3" {
        return Err(Reply::authorization_header_malformed(&format!(
            "incorrect service \"{service}\". This endpoint belongs to \"s3\"."
        )));
    }
    Ok(SigV4Credential {
        access_key_id: akid.to_owned(),
        date: date.to_owned(),
        region: req_region.to_owned(),
        service: service.to_owned(),
    })
}

/// Parses an `X-Amz-Date` (`YYYYMMDD'T'HHMMSS'Z'`).
pub fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let f = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let t = time::PrimitiveDateTime::parse(s, &f).ok()?.assume_utc();
    let secs = u64::try_from(t.unix_timestamp()).ok()?;
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

/// The request time check: `Ok` when `amz_date` is within `max_skew` of `now`.
pub fn check_request_time(amz_date: Option<&str>, now: SystemTime, max_skew: Duration) -> Result<(), Reply> {
    let Some(raw) = amz_date else { return Err(Reply::missing_date()) };
    let Some(t) = parse_amz_date(raw) else { return Err(Reply::missing_date()) };
    let skew = match t.duration_since(now) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    if skew > max_skew {
        return Err(Reply::request_time_too_skewed(
            raw,
            &crate::sigv4::amz_date(now),
            u64::try_from(max_skew.as_millis()).unwrap_or(u64::MAX),
        ));
    }
    Ok(())
}

/// Whether an access key id is plausible enough to put in a lookup URL (AWS ids are upper-case
/// letters and digits, 16–128 characters; anything else cannot exist).
pub fn plausible_access_key_id(akid: &str) -> bool {
    (16..=128).contains(&akid.len()) && akid.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// A session, as looked up at STS, with its policies parsed once.
#[derive(Debug)]
pub struct Caller {
    pub info: SessionInfo,
    /// The role's identity policies that parse (STS validated them when they were attached).
    pub identity_policies: Vec<PolicyDocument>,
    /// The session policy, if the session has one.
    pub session_policy: Option<PolicyDocument>,
}

impl Caller {
    pub fn new(info: SessionInfo) -> Caller {
        let identity_policies = info.identity_policies.iter().filter_map(|p| PolicyDocument::parse(p).ok()).collect();
        let session_policy = info.session_policy.as_deref().and_then(|p| PolicyDocument::parse(p).ok());
        Caller { info, identity_policies, session_policy }
    }

    /// Whether the session has expired at `now` (its `Expiration` is exclusive).
    pub fn expired(&self, now: SystemTime) -> bool {
        crate::runtime::unix_s(now) >= self.info.expiration
    }
}

/// Sessions by access key id, each kept until it expires.
#[derive(Debug, Default)]
pub struct SessionCache {
    by_key: BTreeMap<String, Rc<Caller>>,
}

impl SessionCache {
    pub fn get(&self, akid: &str) -> Option<Rc<Caller>> {
        self.by_key.get(akid).cloned()
    }

    /// Remembers a session, dropping every expired one first (so the cache holds live sessions only).
    pub fn insert(&mut self, caller: Rc<Caller>, now: SystemTime) {
        self.by_key.retain(|_, c| !c.expired(now));
        self.by_key.insert(caller.info.access_key_id.clone(), caller);
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

/// Checks a session against the request's `x-amz-security-token` and the clock. A temporary key
/// presented without its token is unknown to S3 (`InvalidAccessKeyId`, a modelling choice: the real
/// answer is \[unk\]); a token that is not the session's is `InvalidToken`; an expired session is
/// `ExpiredToken`.
pub fn check_session(caller: &Caller, security_token: Option<&str>, now: SystemTime) -> Result<(), Reply> {
    let Some(token) = security_token.filter(|t| !t.is_empty()) else {
        return Err(Reply::invalid_access_key_id(&caller.info.access_key_id));
    };
    if crate::sigv4::payload_sha256_hex(token.as_bytes()) != caller.info.session_token_sha256 {
        return Err(Reply::invalid_token());
    }
    if caller.expired(now) {
        return Err(Reply::expired_token());
    }
    Ok(())
}

/// The request context of one action by a session (`iam.md` §1.5, §1.8, §1.11; IAM global condition
/// keys): `aws:PrincipalArn` (the role ARN), `aws:PrincipalAccount`, `aws:PrincipalType`
/// (`AssumedRole`), `aws:userid` (`<role id>:<session name>`), `aws:PrincipalTag/<k>` (the session
/// tags), `aws:SourceIdentity` when set, `aws:CurrentTime`, `aws:EpochTime`, `aws:SecureTransport`
/// (`true`: S3 is reached over HTTPS; the simulated wire is plain HTTP), and
/// `s3:ExistingObjectTag/<k>` for each tag of the object (GetObject only: S3 does not offer it for
/// PutObject, `iam.md` §1.11).
pub fn request_context(
    caller: &SessionInfo,
    action: &str,
    resource: &str,
    object_tags: Option<&BTreeMap<String, String>>,
    now: SystemTime,
) -> RequestContext {
    let mut ctx = RequestContext::new(Principal::Aws(caller.arn.clone()), action, resource);
    ctx.set_key("aws:PrincipalArn", [caller.role_arn.clone()]);
    ctx.set_key("aws:PrincipalAccount", [caller.account_id.clone()]);
    ctx.set_key("aws:PrincipalType", ["AssumedRole"]);
    if !caller.assumed_role_id.is_empty() {
        ctx.set_key("aws:userid", [caller.assumed_role_id.clone()]);
    }
    ctx.set_key("aws:PrincipalIsAWSService", ["false"]);
    for (k, v) in &caller.principal_tags {
        ctx.set_key(&format!("aws:PrincipalTag/{k}"), [v.clone()]);
    }
    if let Some(si) = &caller.source_identity {
        ctx.set_key("aws:SourceIdentity", [si.clone()]);
    }
    ctx.set_key("aws:CurrentTime", [crate::runtime::rfc3339(now)]);
    ctx.set_key("aws:EpochTime", [crate::runtime::unix_s(now).to_string()]);
    ctx.set_key("aws:SecureTransport", ["true"]);
    for (k, v) in object_tags.into_iter().flatten() {
        ctx.set_key(&format!("s3:ExistingObjectTag/{k}"), [v.clone()]);
    }
    ctx
}

/// The decision for a session: an explicit Deny in the identity or session policy wins; otherwise the
/// identity policies must allow and, when the session has a session policy, so must it (`iam.md`
/// §1.1: the effective permissions of a session are the intersection). Without bucket policies (not
/// modelled) there is nothing else to consult.
pub fn decide(caller: &Caller, ctx: &RequestContext) -> Result<(), DenyReason> {
    let identity: Vec<&PolicyDocument> = caller.identity_policies.iter().collect();
    let id = iam::evaluate(&identity, ctx);
    let session = caller.session_policy.as_ref().map(|p| p.evaluate(ctx));
    if id == Decision::ExplicitDeny {
        return Err(DenyReason::Explicit("identity-based"));
    }
    if session == Some(Decision::ExplicitDeny) {
        return Err(DenyReason::Explicit("session"));
    }
    if id != Decision::Allow {
        return Err(DenyReason::Implicit("identity-based"));
    }
    if session.is_some_and(|d| d != Decision::Allow) {
        return Err(DenyReason::Implicit("session"));
    }
    Ok(())
}

/// Whether the caller is in the account that owns the buckets (always, when the config names none).
pub fn same_account(cfg: &S3Config, caller: &SessionInfo) -> bool {
    cfg.bucket_owner_account.as_ref().is_none_or(|a| *a == caller.account_id)
}
