//! `AssumeRole`: a caller that already holds AWS credentials (an STS role session, or an AWS service
//! such as EKS Auth acting as `pods.eks.amazonaws.com`) trades them for a session of another role,
//! optionally with session tags.
//!
//! Same shape as its sibling `assume_role_with_web_identity`: parse the request, apply it, render
//! the result. One call, in order (facts from the STS model `AssumeRole` docs, `iam.md` §1.8–§1.10;
//! the order of steps 3–8 is not documented and is a modelling choice):
//! 1. the caller is resolved from the SigV4 `Authorization` header's `Credential=<AKID>/…` (the
//!    signature is not verified yet, as for `GetCallerIdentity`): a registered service identity
//!    (no session token), or an STS session whose `x-amz-security-token` must match. No header →
//!    `MissingAuthenticationToken` (403); unknown key or wrong token → `InvalidClientTokenId`
//!    (403); expired session → `ExpiredToken` (403);
//! 2. parameters are validated against the STS model (`ValidationError`, Coral messages, e.g.
//!    `Value '…' at 'tags.6.member.value' failed to satisfy constraint: …` \[obs\]); then the
//!    semantic tag rules, each an `InvalidParameterValue` (400; code and wording \[unk\]): tag keys
//!    unique case-insensitively, no `aws:` prefix on keys or values, every `TransitiveTagKeys`
//!    entry names a passed tag, and no passed tag re-uses the key of a transitive tag inherited
//!    from the calling session ("If you pass a session tag with the same key as an inherited tag,
//!    the operation fails", STS model);
//! 3. the effective session tags are the inherited transitive tags plus the passed tags; the
//!    transitive keys are the inherited ones plus `TransitiveTagKeys` (`iam.md` §1.10);
//! 4. the role must exist in this account, else `AccessDenied`;
//! 5. authorisation, per action: `sts:AssumeRole`; `sts:TagSession` when the effective tags are not
//!    empty (also when they are only inherited: Pod Identity's transitive tags make every chained
//!    `AssumeRole` need it, terrapod#1546 \[obs\]); `sts:SetSourceIdentity` when `SourceIdentity`
//!    is passed. The role's trust policy is evaluated with the caller as principal (`Service` for a
//!    service identity, `AWS` = the assumed-role ARN for a session) and the condition keys listed
//!    at [`trust_context`]. A session caller is also subject to its role's identity policies (and
//!    its session policy): they must allow the action on the role ARN unless the trust policy
//!    names the caller's role or session itself (same account); a trust grant to the account
//!    (`arn:aws:iam::<acct>:root` or the bare id) delegates the decision to them (IAM User Guide,
//!    cross-account and same-account role assumption; `pod-id-assign-target-role`). Any explicit
//!    Deny wins. Denied → `AccessDenied` (403) "User: <caller> is not authorized to perform:
//!    <action> on resource: <role arn>" \[obs, for both actions\];
//! 6. `DurationSeconds` (default 3600): a role-chained call (caller is a session) may not exceed
//!    `role_chaining_duration_s_max` (3600) \[obs message\]; otherwise it may not exceed the role's
//!    `MaxSessionDuration`, except for AWS service callers (see `StsConfig`);
//! 7. the packed size of the effective tags must fit `packed_policy_bytes_max`, else
//!    `PackedPolicyTooLarge` "Packed size of session tags consumes N% of allotted space." \[obs\];
//! 8. `SourceIdentity` is set once: a chained session inherits it and may not change it
//!    (`InvalidParameterValue`, \[unk\] wording);
//! 9. credentials are minted like `AssumeRoleWithWebIdentity`'s and the session stored with its
//!    tags, transitive keys, session policy and source identity.
//!
//! Result XML children of `<AssumeRoleResult>`, in the API reference example's order:
//! `SourceIdentity` (when set), `AssumedRoleUser` {`Arn`, `AssumedRoleId`}, `Credentials`
//! {`AccessKeyId`, `SecretAccessKey`, `SessionToken`, `Expiration`}, `PackedPolicySize` (when tags
//! or a policy were involved). `SessionTokenUtilization`/`SessionTokenSize` (2026 model additions)
//! are not sent.
//!
//! Service context: an AWS service acting for a customer resource tells STS which one, and trust
//! policies see it as `aws:SourceAccount` / `aws:SourceArn`. In AWS that travels inside AWS; here a
//! service-identity caller sends it in the simulator-only headers [`SOURCE_ACCOUNT_HEADER`] and
//! [`SOURCE_ARN_HEADER`] (ignored from any other caller).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, StatusCode};
use indexmap::IndexMap;

use super::assume_role_with_web_identity::{
    ARN_PATTERN, POLICY_PATTERN, SESSION_NAME_PATTERN, StringField, arn_char, integer_field, mint_session,
    policy_char, role_name_in_account, session_char,
};
use super::get_caller_identity::credential_from_authorization;
use super::registry::Session;
use super::wire::{StsError, esc, iso8601, msg, unix_secs};
use super::{StsConfig, StsEnv, StsService, Trace};
use crate::iam::{
    self, Decision, Effect, PolicyDocument, Principal, PrincipalBlock, PrincipalKind, Principals,
    RequestContext,
};

/// Simulator-only header: the account of the customer resource an AWS service acts for
/// (`aws:SourceAccount`). Honoured only from a registered service identity.
pub const SOURCE_ACCOUNT_HEADER: &str = "x-credsim-source-account";
/// Simulator-only header: the ARN of the customer resource an AWS service acts for
/// (`aws:SourceArn`). Honoured only from a registered service identity.
pub const SOURCE_ARN_HEADER: &str = "x-credsim-source-arn";

/// Session tags per request: 50 (`tagListType` max).
pub(super) const TAGS_MAX: usize = 50;
/// Session tag key length: 1–128 (`tagKeyType`).
pub(super) const TAG_KEY_CHARS_MAX: usize = 128;
/// Session tag value length: 0–256 (`tagValueType`).
pub(super) const TAG_VALUE_CHARS_MAX: usize = 256;
/// `tagKeyType` pattern, printed verbatim in messages.
const TAG_KEY_PATTERN: &str = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+";
/// `tagValueType` pattern.
const TAG_VALUE_PATTERN: &str = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*";
/// `externalIdType` pattern.
const EXTERNAL_ID_PATTERN: &str = r"[\w+=,.@:\/-]*";
/// `sourceIdentityType` pattern.
const SOURCE_IDENTITY_PATTERN: &str = r"[\w+=,.@-]*";
/// The role-chaining message \[obs: aws-vault#263, eks-anywhere#9485\].
const CHAINING_DURATION_EXCEEDED: &str =
    "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.";

/// Who is calling `AssumeRole`.
#[derive(Clone, Debug)]
pub(super) enum Caller {
    /// An AWS service acting as `principal` (a registered service identity).
    Service { principal: String },
    /// The holder of an STS role session.
    Session(Box<Session>),
}

impl Caller {
    /// How the caller appears in `AccessDenied` messages and traces: the assumed-role ARN, or the
    /// service principal (\[unk\] what real STS prints for a service).
    fn name(&self) -> &str {
        match self {
            Caller::Service { principal } => principal,
            Caller::Session(s) => &s.assumed_role_arn,
        }
    }

    fn principal(&self) -> Principal {
        match self {
            Caller::Service { principal } => Principal::Service(principal.clone()),
            Caller::Session(s) => Principal::Aws(s.assumed_role_arn.clone()),
        }
    }
}

/// The validated request.
#[derive(Debug)]
pub(super) struct ArRequest {
    pub role_arn: String,
    pub role_session_name: String,
    pub duration_s: Option<u32>,
    /// `Tags.member.N.{Key,Value}` in request order.
    pub tags: Vec<(String, String)>,
    pub transitive_tag_keys: Vec<String>,
    pub external_id: Option<String>,
    pub source_identity: Option<String>,
    /// `Policy`: text and parsed form.
    pub policy: Option<(String, PolicyDocument)>,
    pub policy_arns: Vec<String>,
}

/// Service context sent by a service-identity caller.
#[derive(Clone, Debug, Default)]
struct SourceContext {
    account: Option<String>,
    arn: Option<String>,
}

pub(crate) fn handle(
    svc: &StsService,
    http_req: &Request<Bytes>,
    params: &IndexMap<String, String>,
    env: &dyn StsEnv,
    trace: &mut Trace,
) -> Result<String, StsError> {
    let config = &svc.config;
    let now = env.now();

    // 1. Caller.
    let caller = resolve_caller(svc, http_req, params, now, trace)?;
    trace.set("caller", caller.name().to_owned());
    let source = match &caller {
        Caller::Service { .. } => {
            let header = |name: &str| {
                http_req
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            SourceContext { account: header(SOURCE_ACCOUNT_HEADER), arn: header(SOURCE_ARN_HEADER) }
        }
        Caller::Session(_) => SourceContext::default(),
    };

    // 2. Parameters.
    let req = parse_request(params, config)?;
    trace.set("role_arn", req.role_arn.clone());
    trace.set("role_session_name", req.role_session_name.clone());
    trace.set("tag_count", req.tags.len().to_string());

    // 3. Effective tags.
    let (inherited, inherited_transitive) = match &caller {
        Caller::Session(s) => inherited_tags(s),
        Caller::Service { .. } => (BTreeMap::new(), BTreeSet::new()),
    };
    if let Some(key) = overridden_inherited_key(&inherited, &req.tags) {
        // [unk] code and wording; the rule is the STS model's.
        return Err(invalid_parameter(format!(
            "Cannot override the transitive session tag {key} inherited from the calling session."
        )));
    }
    let mut session_tags = inherited;
    session_tags.extend(req.tags.iter().cloned());
    let mut transitive = inherited_transitive;
    for key in &req.transitive_tag_keys {
        // Stored with the case of the passed tag (the keys were checked to name passed tags).
        if let Some((k, _)) = req.tags.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)) {
            transitive.insert(k.clone());
        }
    }
    trace.set("inherited_tag_count", (session_tags.len() - req.tags.len()).to_string());
    trace.set("transitive_tag_count", transitive.len().to_string());

    // 4. Role.
    let denied = |action: &str| {
        StsError::access_denied(format!(
            "User: {} is not authorized to perform: {action} on resource: {}",
            caller.name(),
            req.role_arn
        ))
    };
    let role = role_name_in_account(&req.role_arn, svc)
        .and_then(|name| svc.role(name))
        .ok_or_else(|| denied("sts:AssumeRole"))?;

    // 5. Authorisation.
    let source_identity = match (&caller, &req.source_identity) {
        (Caller::Session(s), Some(new)) if s.source_identity.as_ref().is_some_and(|old| old != new) => {
            return Err(invalid_parameter(
                "SourceIdentity cannot be changed in a role chain.", // [unk] wording
            ));
        }
        (Caller::Session(s), None) => s.source_identity.clone(),
        (_, new) => new.clone(),
    };
    let mut actions = vec!["sts:AssumeRole"];
    if !session_tags.is_empty() {
        actions.push("sts:TagSession");
    }
    if req.source_identity.is_some() {
        actions.push("sts:SetSourceIdentity");
    }
    let (identity_policies, caller_session_policy, same_account) = match &caller {
        Caller::Service { .. } => (Vec::new(), None, true),
        Caller::Session(s) => {
            let policies = role_name_in_account(&s.role_arn, svc)
                .map(|name| {
                    svc.state
                        .borrow()
                        .role_policies
                        .get(&name.to_lowercase())
                        .map(|m| m.values().map(|p| p.doc.clone()).collect::<Vec<_>>())
                        .unwrap_or_default()
                })
                .unwrap_or_default();
            (policies, s.session_policy.clone(), arn_account(&s.role_arn) == Some(config.account_id.as_str()))
        }
    };
    let trust_input = TrustInput {
        caller: &caller,
        role_arn: &role.arn,
        role_session_name: &req.role_session_name,
        tags: &session_tags,
        transitive_tag_keys: &req.transitive_tag_keys,
        external_id: req.external_id.as_deref(),
        source_identity: source_identity.as_deref(),
        source: &source,
        now,
    };
    let identity_refs: Vec<&PolicyDocument> = identity_policies.iter().collect();
    for action in &actions {
        let ctx = trust_context(action, &trust_input);
        let decision = authorize(
            &caller,
            &role.trust_policy,
            &identity_refs,
            caller_session_policy.as_ref(),
            same_account,
            &ctx,
        );
        if decision != Decision::Allow {
            trace.set("trust_decision", format!("{decision:?}"));
            trace.set("denied_action", (*action).to_owned());
            return Err(denied(action));
        }
    }
    trace.set("trust_decision", "Allow");

    // 6. Duration.
    let chained = matches!(caller, Caller::Session(_));
    let duration_s = req.duration_s.unwrap_or(config.duration_s_default);
    trace.set("duration_s", duration_s.to_string());
    trace.set("chained", chained.to_string());
    if chained && duration_s > config.role_chaining_duration_s_max {
        return Err(StsError::new("ValidationError", StatusCode::BAD_REQUEST, CHAINING_DURATION_EXCEEDED));
    }
    let role_max_applies =
        !(matches!(caller, Caller::Service { .. }) && config.service_sessions_ignore_role_max);
    if role_max_applies && duration_s > role.max_session_duration_s {
        return Err(StsError::new(
            "ValidationError",
            StatusCode::BAD_REQUEST,
            msg::DURATION_EXCEEDS_MAX,
        ));
    }

    // 7. Packed size.
    let packed = packed_percent(&session_tags, config);
    if let Some(p) = packed
        && p > 100
    {
        return Err(StsError::new(
            "PackedPolicyTooLarge",
            StatusCode::BAD_REQUEST,
            format!("Packed size of session tags consumes {p}% of allotted space."),
        ));
    }

    // 9. Credentials.
    let now_s = unix_secs(now);
    let issued_at = UNIX_EPOCH + Duration::from_secs(u64::try_from(now_s).unwrap_or(0));
    let expiration = issued_at + Duration::from_secs(u64::from(duration_s));
    let show_packed = !session_tags.is_empty() || req.policy.is_some();
    let (policy_json, policy_doc) = match req.policy {
        Some((json, doc)) => (Some(json), Some(doc)),
        None => (None, None),
    };
    let session = mint_session(
        svc,
        env,
        Session {
            access_key_id: String::new(),
            secret_access_key: String::new(),
            session_token: String::new(),
            expiration,
            role_arn: role.arn.clone(),
            role_id: role.role_id.clone(),
            role_session_name: req.role_session_name.clone(),
            assumed_role_arn: format!(
                "arn:{}:sts::{}:assumed-role/{}/{}",
                config.partition, config.account_id, role.name, req.role_session_name
            ),
            assumed_role_id: format!("{}:{}", role.role_id, req.role_session_name),
            provider_arn: String::new(),
            subject: caller.name().to_owned(),
            audience: String::new(),
            session_policy: policy_doc,
            session_policy_json: policy_json,
            policy_arns: req.policy_arns,
            session_tags,
            transitive_tag_keys: transitive,
            source_identity,
            chained,
        },
    );
    trace.set("access_key_id", session.access_key_id.clone());
    trace.set("expiration", iso8601(session.expiration));
    super::record_issued(env, "AssumeRole", &session, None);
    if let Some(si) = &session.source_identity {
        trace.set("source_identity", si.clone());
    }
    Ok(render(&session, if show_packed { packed.or(Some(0)) } else { None }))
}

/// Step 1: who is calling.
fn resolve_caller(
    svc: &StsService,
    req: &Request<Bytes>,
    params: &IndexMap<String, String>,
    now: SystemTime,
    trace: &mut Trace,
) -> Result<Caller, StsError> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let credential = match (header("authorization"), params.get("X-Amz-Credential")) {
        (Some(auth), _) => credential_from_authorization(auth).ok_or_else(|| {
            StsError::new("IncompleteSignature", StatusCode::BAD_REQUEST, msg::INCOMPLETE_SIGNATURE)
        })?,
        (None, Some(c)) => c.clone(),
        (None, None) => {
            return Err(StsError::new(
                "MissingAuthenticationToken",
                StatusCode::FORBIDDEN,
                msg::MISSING_AUTHENTICATION_TOKEN,
            ));
        }
    };
    let access_key_id = credential.split('/').next().unwrap_or_default().to_owned();
    trace.set("caller_access_key_id", access_key_id.clone());
    if let Some(principal) = svc.state.borrow().service_identities.get(&access_key_id) {
        return Ok(Caller::Service { principal: principal.clone() });
    }
    let invalid =
        || StsError::new("InvalidClientTokenId", StatusCode::FORBIDDEN, msg::INVALID_CLIENT_TOKEN_ID);
    let session = svc.session(&access_key_id).ok_or_else(invalid)?;
    let presented =
        header("x-amz-security-token").or(params.get("X-Amz-Security-Token").map(String::as_str));
    if presented != Some(session.session_token.as_str()) {
        return Err(invalid());
    }
    if now >= session.expiration {
        return Err(StsError::new("ExpiredToken", StatusCode::FORBIDDEN, msg::EXPIRED_SECURITY_TOKEN));
    }
    Ok(Caller::Session(Box::new(session)))
}

/// `InvalidParameterValue` (400, common-errors table) for the semantic tag rules (\[unk\] which
/// code real STS uses for each).
fn invalid_parameter(message: impl Into<String>) -> StsError {
    StsError::new("InvalidParameterValue", StatusCode::BAD_REQUEST, message)
}

/// Step 2: parameters against the STS model, every violation reported at once, then the semantic
/// tag rules.
pub(super) fn parse_request(
    params: &IndexMap<String, String>,
    config: &StsConfig,
) -> Result<ArRequest, StsError> {
    let mut errors: Vec<String> = Vec::new();
    let get = |name: &str| params.get(name).map(String::as_str);
    let field = StringField::new;
    let fields = [
        ("RoleArn", field("roleArn", true, false, Some((ARN_PATTERN, arn_char)), 20, 2048)),
        (
            "RoleSessionName",
            field("roleSessionName", true, false, Some((SESSION_NAME_PATTERN, session_char)), 2, 64),
        ),
        // unrestrictedSessionPolicyDocumentType has no model max; the 2048-character plaintext
        // limit is enforced here with the same message shape ([unk] real code).
        ("Policy", field("policy", false, false, Some((POLICY_PATTERN, policy_char)), 1, 2048)),
        (
            "ExternalId",
            field("externalId", false, false, Some((EXTERNAL_ID_PATTERN, external_id_char)), 2, 1224),
        ),
        (
            "SourceIdentity",
            field("sourceIdentity", false, false, Some((SOURCE_IDENTITY_PATTERN, session_char)), 2, 256),
        ),
    ];
    for (param, spec) in &fields {
        spec.check(get(param), &mut errors);
    }

    let mut tags: Vec<(String, String)> = Vec::new();
    for n in 1.. {
        let key = get(&format!("Tags.member.{n}.Key"));
        let value = get(&format!("Tags.member.{n}.Value"));
        if key.is_none() && value.is_none() {
            break;
        }
        let key_name = format!("tags.{n}.member.key");
        let value_name = format!("tags.{n}.member.value");
        StringField::new(&key_name, true, false, Some((TAG_KEY_PATTERN, tag_char)), 1, TAG_KEY_CHARS_MAX)
            .check(key, &mut errors);
        StringField::new(&value_name, true, false, Some((TAG_VALUE_PATTERN, tag_char)), 0, TAG_VALUE_CHARS_MAX)
            .check(value, &mut errors);
        tags.push((key.unwrap_or_default().to_owned(), value.unwrap_or_default().to_owned()));
    }
    if tags.len() > TAGS_MAX {
        // [unk] how Coral renders a list of structures; the constraint text is the model's.
        let shown: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        errors.push(format!(
            "Value '[{}]' at 'tags' failed to satisfy constraint: Member must have length less than or equal to {TAGS_MAX}",
            shown.join(", ")
        ));
    }
    let mut transitive_tag_keys = Vec::new();
    for n in 1.. {
        let Some(key) = get(&format!("TransitiveTagKeys.member.{n}")) else {
            break;
        };
        let name = format!("transitiveTagKeys.{n}.member");
        StringField::new(&name, false, false, Some((TAG_KEY_PATTERN, tag_char)), 1, TAG_KEY_CHARS_MAX)
            .check(Some(key), &mut errors);
        transitive_tag_keys.push(key.to_owned());
    }
    if transitive_tag_keys.len() > TAGS_MAX {
        errors.push(format!(
            "Value '[{}]' at 'transitiveTagKeys' failed to satisfy constraint: Member must have length less than or equal to {TAGS_MAX}",
            transitive_tag_keys.join(", ")
        ));
    }
    let mut policy_arns = Vec::new();
    for n in 1.. {
        let Some(arn) = get(&format!("PolicyArns.member.{n}.arn")) else {
            break;
        };
        let name = format!("policyArns.{n}.member.arn");
        StringField::new(&name, false, false, Some((ARN_PATTERN, arn_char)), 20, 2048)
            .check(Some(arn), &mut errors);
        policy_arns.push(arn.to_owned());
    }
    if policy_arns.len() > 10 {
        errors.push(format!(
            "Value '[{}]' at 'policyArns' failed to satisfy constraint: Member must have length less than or equal to 10",
            policy_arns.join(", ")
        ));
    }
    let duration = integer_field(
        &mut errors,
        "durationSeconds",
        get("DurationSeconds"),
        i64::from(config.duration_s_min),
        i64::from(config.duration_s_max),
    );
    integer_field(&mut errors, "minimumSessionTokenSize", get("MinimumSessionTokenSize"), 0, 4096);
    if !errors.is_empty() {
        return Err(StsError::validation(&errors));
    }

    check_tag_semantics(&tags, &transitive_tag_keys)?;
    if get("SourceIdentity").is_some_and(|s| s.to_ascii_lowercase().starts_with("aws:")) {
        return Err(invalid_parameter("SourceIdentity cannot begin with the reserved prefix aws:"));
    }
    let policy = match get("Policy") {
        Some(p) => Some((
            p.to_owned(),
            PolicyDocument::parse(p).map_err(|e| {
                StsError::new(
                    "MalformedPolicyDocument",
                    StatusCode::BAD_REQUEST,
                    format!("The policy is not valid: {e}"),
                )
            })?,
        )),
        None => None,
    };
    Ok(ArRequest {
        role_arn: get("RoleArn").unwrap_or_default().to_owned(),
        role_session_name: get("RoleSessionName").unwrap_or_default().to_owned(),
        duration_s: duration.and_then(|d| u32::try_from(d).ok()),
        tags,
        transitive_tag_keys,
        external_id: get("ExternalId").map(str::to_owned),
        source_identity: get("SourceIdentity").map(str::to_owned),
        policy,
        policy_arns,
    })
}


/// `[\p{L}\p{Z}\p{N}_.:/=+\-@]`: letters, separators (spaces), numbers and `_.:/=+-@`.
pub(super) fn tag_char(c: char) -> bool {
    c.is_alphabetic()
        || c.is_numeric()
        || matches!(
            c,
            ' ' | '\u{A0}'
                | '\u{1680}'
                | '\u{2000}'..='\u{200A}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
        )
        || "_.:/=+-@".contains(c)
}

fn external_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c)
}

/// The semantic tag rules of step 2.
pub(super) fn check_tag_semantics(
    tags: &[(String, String)],
    transitive_tag_keys: &[String],
) -> Result<(), StsError> {
    let mut seen = BTreeSet::new();
    for (k, v) in tags {
        if !seen.insert(k.to_lowercase()) {
            // [unk] wording; IAM's TagRole says "Duplicate tag keys found. Please note that Tag
            // keys are case insensitive."
            return Err(invalid_parameter(format!(
                "Duplicate tag keys found: {k}. Please note that Tag keys are case insensitive."
            )));
        }
        if k.to_ascii_lowercase().starts_with("aws:") || v.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid_parameter(format!(
                "Tag {k}: keys and values cannot begin with the reserved prefix aws:"
            )));
        }
    }
    for key in transitive_tag_keys {
        if !seen.contains(&key.to_lowercase()) {
            return Err(invalid_parameter(format!(
                "Transitive tag key {key} is not a session tag key of this request."
            )));
        }
    }
    Ok(())
}

/// The calling session's transitive tags (the ones the new session inherits) and their keys.
fn inherited_tags(s: &Session) -> (BTreeMap<String, String>, BTreeSet<String>) {
    let tags: BTreeMap<String, String> = s
        .session_tags
        .iter()
        .filter(|(k, _)| s.transitive_tag_keys.contains(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let keys = tags.keys().cloned().collect();
    (tags, keys)
}

/// A passed tag whose key (case-insensitively) is an inherited transitive key, if any.
pub(super) fn overridden_inherited_key(
    inherited: &BTreeMap<String, String>,
    tags: &[(String, String)],
) -> Option<String> {
    tags.iter()
        .find(|(k, _)| inherited.keys().any(|i| i.eq_ignore_ascii_case(k)))
        .map(|(k, _)| k.clone())
}

/// The packed size of the effective session tags as a percentage of the budget (rounded up), or
/// None when the check is off. See `StsConfig::packed_policy_bytes_max`.
pub(super) fn packed_percent(tags: &BTreeMap<String, String>, config: &StsConfig) -> Option<u32> {
    let max = config.packed_policy_bytes_max?.max(1);
    let bytes: usize = tags
        .iter()
        .map(|(k, v)| k.len() + v.len() + config.packed_tag_overhead_bytes)
        .sum();
    Some(u32::try_from(bytes.saturating_mul(100).div_ceil(max)).unwrap_or(u32::MAX))
}

/// Account id field of an ARN.
fn arn_account(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    (parts.len() == 6).then(|| parts[4])
}

/// Everything the trust-policy request context is built from.
struct TrustInput<'a> {
    caller: &'a Caller,
    role_arn: &'a str,
    role_session_name: &'a str,
    /// Effective session tags (inherited transitive + passed).
    tags: &'a BTreeMap<String, String>,
    transitive_tag_keys: &'a [String],
    external_id: Option<&'a str>,
    source_identity: Option<&'a str>,
    source: &'a SourceContext,
    now: SystemTime,
}

/// The request context for one action (`iam.md` §1.8–§1.10, IAM global condition keys):
/// `aws:RequestTag/<k>` and `aws:TagKeys` over the effective tags (inherited transitive tags
/// included: EKS's target-role trust example conditions the chained hop on
/// `aws:RequestTag/eks-cluster-arn`, a tag it can only inherit), `sts:TransitiveTagKeys`,
/// `sts:RoleSessionName`, `sts:ExternalId`, `sts:SourceIdentity`; for a session caller
/// `aws:PrincipalArn` (the role ARN), `aws:PrincipalAccount`, `aws:PrincipalType` (`AssumedRole`),
/// `aws:userid`, `aws:PrincipalTag/<k>` (its session tags), `aws:SourceIdentity`; for a service
/// `aws:PrincipalIsAWSService`, `aws:PrincipalServiceName`, `aws:SourceAccount`, `aws:SourceArn`;
/// and `aws:CurrentTime`, `aws:EpochTime`.
fn trust_context(action: &str, t: &TrustInput<'_>) -> RequestContext {
    let mut ctx = RequestContext::new(t.caller.principal(), action, t.role_arn);
    for (k, v) in t.tags {
        ctx.set_key(&format!("aws:RequestTag/{k}"), [v.clone()]);
    }
    if !t.tags.is_empty() {
        ctx.set_key("aws:TagKeys", t.tags.keys().cloned());
    }
    if !t.transitive_tag_keys.is_empty() {
        ctx.set_key("sts:TransitiveTagKeys", t.transitive_tag_keys.iter().cloned());
    }
    ctx.set_key("sts:RoleSessionName", [t.role_session_name.to_owned()]);
    if let Some(e) = t.external_id {
        ctx.set_key("sts:ExternalId", [e.to_owned()]);
    }
    if let Some(si) = t.source_identity {
        ctx.set_key("sts:SourceIdentity", [si.to_owned()]);
    }
    match t.caller {
        Caller::Session(s) => {
            ctx.set_key("aws:PrincipalArn", [s.role_arn.clone()]);
            if let Some(acct) = arn_account(&s.role_arn) {
                ctx.set_key("aws:PrincipalAccount", [acct.to_owned()]);
            }
            ctx.set_key("aws:PrincipalType", ["AssumedRole"]);
            ctx.set_key("aws:userid", [s.assumed_role_id.clone()]);
            ctx.set_key("aws:PrincipalIsAWSService", ["false"]);
            for (k, v) in &s.session_tags {
                ctx.set_key(&format!("aws:PrincipalTag/{k}"), [v.clone()]);
            }
            if let Some(si) = &s.source_identity {
                ctx.set_key("aws:SourceIdentity", [si.clone()]);
            }
        }
        Caller::Service { principal } => {
            ctx.set_key("aws:PrincipalIsAWSService", ["true"]);
            ctx.set_key("aws:PrincipalServiceName", [principal.clone()]);
            if let Some(a) = &t.source.account {
                ctx.set_key("aws:SourceAccount", [a.clone()]);
            }
            if let Some(a) = &t.source.arn {
                ctx.set_key("aws:SourceArn", [a.clone()]);
            }
        }
    }
    ctx.set_key("aws:CurrentTime", [iso8601(t.now)]);
    ctx.set_key("aws:EpochTime", [unix_secs(t.now).to_string()]);
    ctx
}

/// Whether `entry` (an `AWS` principal entry) names a whole account: a bare 12-digit id or
/// `arn:<partition>:iam::<id>:root`.
fn is_account_principal(entry: &str) -> bool {
    let digits = |s: &str| s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit());
    if digits(entry) {
        return true;
    }
    let parts: Vec<&str> = entry.split(':').collect();
    matches!(parts.as_slice(), ["arn", _, "iam", "", id, "root"] if digits(id))
}

/// The trust policy with account-wide `AWS` entries removed from its Allow statements: what it
/// grants to specific principals on its own.
fn specific_grants(trust: &PolicyDocument) -> PolicyDocument {
    let mut doc = trust.clone();
    for st in doc.statements.iter_mut().filter(|s| s.effect == Effect::Allow) {
        if let Some(PrincipalBlock::Principal(Principals::Map(m))) = &mut st.principal
            && let Some(aws) = m.get_mut(&PrincipalKind::Aws)
        {
            aws.retain(|e| !is_account_principal(e));
            if aws.is_empty() {
                m.remove(&PrincipalKind::Aws);
            }
        }
    }
    doc
}

/// The decision for one action (step 5): explicit Deny anywhere wins; a service caller needs the
/// trust policy alone; a session caller needs either a trust grant naming it specifically (same
/// account) or a trust grant plus an Allow from its role's identity policies and, when it has
/// one, its session policy.
pub(super) fn authorize(
    caller: &Caller,
    trust: &PolicyDocument,
    identity_policies: &[&PolicyDocument],
    session_policy: Option<&PolicyDocument>,
    same_account: bool,
    ctx: &RequestContext,
) -> Decision {
    let trust_decision = iam::evaluate(&[trust], ctx);
    if trust_decision == Decision::ExplicitDeny {
        return Decision::ExplicitDeny;
    }
    if matches!(caller, Caller::Service { .. }) {
        return trust_decision;
    }
    let identity = iam::evaluate(identity_policies, ctx);
    let session = session_policy.map(|p| p.evaluate(ctx));
    if identity == Decision::ExplicitDeny || session == Some(Decision::ExplicitDeny) {
        return Decision::ExplicitDeny;
    }
    if trust_decision != Decision::Allow {
        return Decision::ImplicitDeny;
    }
    if same_account && iam::evaluate(&[&specific_grants(trust)], ctx) == Decision::Allow {
        return Decision::Allow;
    }
    if identity == Decision::Allow && session.is_none_or(|d| d == Decision::Allow) {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

fn render(s: &Session, packed_percent: Option<u32>) -> String {
    let mut out = String::new();
    if let Some(si) = &s.source_identity {
        out.push_str(&format!("    <SourceIdentity>{}</SourceIdentity>\n", esc(si)));
    }
    out.push_str(&format!(
        concat!(
            "    <AssumedRoleUser>\n",
            "      <Arn>{}</Arn>\n",
            "      <AssumedRoleId>{}</AssumedRoleId>\n",
            "    </AssumedRoleUser>\n",
            "    <Credentials>\n",
            "      <AccessKeyId>{}</AccessKeyId>\n",
            "      <SecretAccessKey>{}</SecretAccessKey>\n",
            "      <SessionToken>{}</SessionToken>\n",
            "      <Expiration>{}</Expiration>\n",
            "    </Credentials>\n",
        ),
        esc(&s.assumed_role_arn),
        esc(&s.assumed_role_id),
        esc(&s.access_key_id),
        esc(&s.secret_access_key),
        esc(&s.session_token),
        iso8601(s.expiration),
    ));
    if let Some(p) = packed_percent {
        out.push_str(&format!("    <PackedPolicySize>{p}</PackedPolicySize>\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> IndexMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    const ROLE: &str = "arn:aws:iam::111122223333:role/app";

    #[test]
    fn tags_and_transitive_keys_parse_in_order() {
        let p = params(&[
            ("RoleArn", ROLE),
            ("RoleSessionName", "s1"),
            ("Tags.member.1.Key", "team"),
            ("Tags.member.1.Value", "payments"),
            ("Tags.member.2.Key", "empty"),
            ("Tags.member.2.Value", ""),
            ("TransitiveTagKeys.member.1", "Team"),
        ]);
        let r = parse_request(&p, &StsConfig::default()).unwrap();
        assert_eq!(r.tags, vec![("team".into(), "payments".into()), ("empty".into(), String::new())]);
        assert_eq!(r.transitive_tag_keys, vec!["Team".to_owned()]);
        assert_eq!(r.duration_s, None);
    }

    #[test]
    fn tag_limits_are_coral_validation_errors() {
        let long_key = "k".repeat(129);
        let long_value = "v".repeat(257);
        let p = params(&[
            ("RoleArn", ROLE),
            ("RoleSessionName", "s1"),
            ("Tags.member.1.Key", &long_key),
            ("Tags.member.1.Value", &long_value),
            ("Tags.member.2.Key", "bad!char"),
            ("Tags.member.2.Value", "x"),
        ]);
        let e = parse_request(&p, &StsConfig::default()).unwrap_err();
        assert_eq!(e.code, "ValidationError");
        assert!(e.message.starts_with("3 validation errors detected: "), "{}", e.message);
        assert!(e.message.contains("at 'tags.1.member.key' failed to satisfy constraint: Member must have length less than or equal to 128"));
        assert!(e.message.contains("at 'tags.1.member.value' failed to satisfy constraint: Member must have length less than or equal to 256"));
        assert!(e.message.contains(r"at 'tags.2.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]+"));
    }

    #[test]
    fn fifty_one_tags_are_too_many() {
        let kv: Vec<(String, String)> = (1..=51)
            .flat_map(|n| {
                [(format!("Tags.member.{n}.Key"), format!("k{n}")), (format!("Tags.member.{n}.Value"), "v".into())]
            })
            .collect();
        let mut p = params(&[("RoleArn", ROLE), ("RoleSessionName", "s1")]);
        p.extend(kv);
        let e = parse_request(&p, &StsConfig::default()).unwrap_err();
        assert_eq!(e.code, "ValidationError");
        assert!(e.message.starts_with("1 validation error detected: "));
        assert!(e.message.ends_with("at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"));
        p.shift_remove("Tags.member.51.Key");
        p.shift_remove("Tags.member.51.Value");
        assert_eq!(parse_request(&p, &StsConfig::default()).unwrap().tags.len(), 50);
    }

    #[test]
    fn semantic_tag_rules() {
        let t = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
        };
        assert!(check_tag_semantics(&t(&[("a", "1"), ("b", "2")]), &["A".into()]).is_ok());
        let dup = check_tag_semantics(&t(&[("Dept", "1"), ("dept", "2")]), &[]).unwrap_err();
        assert_eq!(dup.code, "InvalidParameterValue");
        assert!(check_tag_semantics(&t(&[("aws:x", "1")]), &[]).is_err());
        assert!(check_tag_semantics(&t(&[("x", "AWS:y")]), &[]).is_err());
        assert!(check_tag_semantics(&t(&[("a", "1")]), &["b".into()]).is_err());
        let inherited: BTreeMap<String, String> = [("eks-cluster-name".to_owned(), "c".to_owned())].into();
        assert_eq!(
            overridden_inherited_key(&inherited, &t(&[("EKS-Cluster-Name", "x")])),
            Some("EKS-Cluster-Name".to_owned())
        );
        assert_eq!(overridden_inherited_key(&inherited, &t(&[("other", "x")])), None);
    }

    #[test]
    fn packed_size_model_matches_its_calibration_points() {
        let c = StsConfig::default();
        // aws-actions/configure-aws-credentials#1898: 9 tags T1..T9 with 250-char values: 498 %.
        let nine: BTreeMap<String, String> = (1..=9).map(|n| (format!("T{n}"), "a".repeat(250))).collect();
        let p = packed_percent(&nine, &c).unwrap();
        assert!((480..=520).contains(&p), "{p}");
        // containers-roadmap#2413: EKS Pod Identity's six tags with typical names: about 74 %.
        let eks: BTreeMap<String, String> = [
            ("eks-cluster-arn", "arn:aws:eks:eu-west-1:123456789012:cluster/my-cluster-name"),
            ("eks-cluster-name", "my-cluster-name"),
            ("kubernetes-namespace", "applications"),
            ("kubernetes-service-account", "application-service"),
            ("kubernetes-pod-name", "application-deployment-7d9f8b6c5d-x2x4z"),
            ("kubernetes-pod-uid", "0b5f3a1e-8c7d-4e2f-9a6b-1c3d5e7f9a0b"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let p = packed_percent(&eks, &c).unwrap();
        assert!((60..=85).contains(&p), "{p}");
        let off = StsConfig { packed_policy_bytes_max: None, ..StsConfig::default() };
        assert_eq!(packed_percent(&eks, &off), None);
    }

    fn session(role: &str, name: &str) -> Session {
        Session {
            access_key_id: "ASIAX".into(),
            secret_access_key: String::new(),
            session_token: String::new(),
            expiration: UNIX_EPOCH,
            role_arn: format!("arn:aws:iam::111122223333:role/{role}"),
            role_id: "AROAX".into(),
            role_session_name: name.into(),
            assumed_role_arn: format!("arn:aws:sts::111122223333:assumed-role/{role}/{name}"),
            assumed_role_id: format!("AROAX:{name}"),
            provider_arn: String::new(),
            subject: String::new(),
            audience: String::new(),
            session_policy: None,
            session_policy_json: None,
            policy_arns: vec![],
            session_tags: BTreeMap::new(),
            transitive_tag_keys: BTreeSet::new(),
            source_identity: None,
            chained: false,
        }
    }

    fn doc(json: &str) -> PolicyDocument {
        PolicyDocument::parse(json).unwrap()
    }

    fn ctx_for(caller: &Caller, action: &str) -> RequestContext {
        RequestContext::new(caller.principal(), action, "arn:aws:iam::111122223333:role/target")
    }

    #[test]
    fn account_root_trust_delegates_to_identity_policies() {
        let caller = Caller::Session(Box::new(session("first", "s")));
        let root_trust = doc(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":["sts:AssumeRole","sts:TagSession"]}]}"#);
        let role_trust = doc(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/first"},"Action":"sts:AssumeRole"}]}"#);
        let allow = doc(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","sts:TagSession"],"Resource":"arn:aws:iam::111122223333:role/target"}]}"#);
        let deny = doc(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"sts:*","Resource":"*"}]}"#);
        let ctx = ctx_for(&caller, "sts:AssumeRole");
        assert_eq!(authorize(&caller, &root_trust, &[], None, true, &ctx), Decision::ImplicitDeny);
        assert_eq!(authorize(&caller, &root_trust, &[&allow], None, true, &ctx), Decision::Allow);
        // A trust policy naming the caller's role is enough on its own in the same account …
        assert_eq!(authorize(&caller, &role_trust, &[], None, true, &ctx), Decision::Allow);
        // … but not across accounts.
        assert_eq!(authorize(&caller, &role_trust, &[], None, false, &ctx), Decision::ImplicitDeny);
        // An explicit Deny in the caller's identity policies wins.
        assert_eq!(authorize(&caller, &role_trust, &[&deny], None, true, &ctx), Decision::ExplicitDeny);
        // A session policy intersects the identity policies.
        let narrow = doc(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#);
        assert_eq!(authorize(&caller, &root_trust, &[&allow], Some(&narrow), true, &ctx), Decision::ImplicitDeny);
    }

    #[test]
    fn service_callers_need_only_the_trust_policy() {
        let caller = Caller::Service { principal: "pods.eks.amazonaws.com".into() };
        let trust = doc(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#);
        assert_eq!(authorize(&caller, &trust, &[], None, true, &ctx_for(&caller, "sts:AssumeRole")), Decision::Allow);
        assert_eq!(
            authorize(&caller, &trust, &[], None, true, &ctx_for(&caller, "sts:TagSession")),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn account_principals() {
        assert!(is_account_principal("111122223333"));
        assert!(is_account_principal("arn:aws:iam::111122223333:root"));
        assert!(!is_account_principal("arn:aws:iam::111122223333:role/root"));
        assert!(!is_account_principal("*"));
    }
}
