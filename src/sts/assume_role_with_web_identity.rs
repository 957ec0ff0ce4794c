//! `AssumeRoleWithWebIdentity`: trade a web identity token (for IRSA, a projected Kubernetes
//! service-account token) for temporary credentials of an IAM role.
//!
//! The steps and their sources are listed in the [module docs](super); this file has the same
//! shape as its sibling: parse the request, apply it, render the result.
//!
//! Success XML children of `<AssumeRoleWithWebIdentityResult>` (`sdk.md` §1.4; any order is
//! accepted by the SDKs, this is the API reference example's order): `SubjectFromWebIdentityToken`
//! (the token's `sub`), `Audience` (the `aud` that matched a client ID), `AssumedRoleUser`
//! {`Arn`, `AssumedRoleId`}, `Credentials` {`SessionToken`, `SecretAccessKey`, `Expiration`,
//! `AccessKeyId`}, `Provider` (the IAM OIDC provider ARN, as real STS returns \[obs\] — the model
//! text says "the iss")`. `PackedPolicySize` is omitted (no session tags are modelled).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::StatusCode;
use indexmap::IndexMap;
use rand_chacha::rand_core::Rng;
use serde_json::Value;

use super::registry::{BASE32, OidcProvider, Session};
use super::wire::{StsError, esc, iso8601, msg, unix_secs};
use super::{IdpOutageError, StsEnv, StsService, Trace, jwks};
use crate::iam::{self, Decision, PolicyDocument, Principal, RequestContext};
use crate::jwt::{self, Jwk, JwtError};

/// `roleArn` / `arnType` pattern from the STS model, printed verbatim in messages.
pub(super) const ARN_PATTERN: &str =
    r"[\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+";
/// `roleSessionNameType` pattern.
pub(super) const SESSION_NAME_PATTERN: &str = r"[\w+=,.@-]*";
/// `sessionPolicyDocumentType` pattern.
pub(super) const POLICY_PATTERN: &str = r"[\u0009\u000A\u000D\u0020-\u00FF]+";

/// The validated request.
struct AwrwiRequest {
    role_arn: String,
    role_session_name: String,
    token: String,
    duration_s: u32,
    session_policy: Option<PolicyDocument>,
    session_policy_json: Option<String>,
    policy_arns: Vec<String>,
}

/// Claims STS reads, with types already checked.
struct TokenClaims {
    iss: String,
    sub: Option<String>,
    aud: Vec<String>,
    exp: i64,
    nbf: Option<i64>,
    iat: Option<i64>,
    amr: Option<Vec<String>>,
    azp: Option<String>,
}

pub(crate) async fn handle(
    svc: &StsService,
    params: &IndexMap<String, String>,
    env: &dyn StsEnv,
    trace: &mut Trace,
) -> Result<String, StsError> {
    let config = &svc.config;
    let req = parse_request(params, svc)?;
    trace.set("role_arn", req.role_arn.clone());
    trace.set("role_session_name", req.role_session_name.clone());
    trace.set("duration_s", req.duration_s.to_string());

    // 2. Decode.
    let (header, payload) = jwt::decode_unverified(&req.token)
        .map_err(|_| StsError::invalid_identity_token(msg::MALFORMED_TOKEN))?;
    let claims = read_claims(&payload)?;
    trace.set("issuer", claims.iss.clone());
    if let Some(sub) = &claims.sub {
        trace.set("subject", sub.clone());
    }

    // 3. Provider by exact issuer.
    let provider = svc.oidc_provider(&claims.iss).ok_or_else(|| {
        StsError::invalid_identity_token(format!("{}{}", msg::NO_PROVIDER_PREFIX, claims.iss))
    })?;

    // 4. Audience.
    if claims.aud.is_empty() {
        return Err(StsError::invalid_identity_token(format!(
            "{}aud",
            msg::MISSING_CLAIM_PREFIX
        )));
    }
    let matched = claims.aud.iter().find(|a| provider.client_ids.contains(a)).cloned();
    let audience = match matched {
        Some(a) => a,
        // Planted bug: the audience is never compared with the provider's client ids, so a token
        // minted for another audience passes. Real STS rejects it with `Incorrect token audience`.
        None if crate::runtime::bug(crate::bugs::Bug::StsSkipsAud) => claims.aud.first().cloned().unwrap_or_default(),
        None => return Err(StsError::invalid_identity_token(msg::INCORRECT_AUDIENCE)),
    };
    trace.set("audience", audience.clone());

    // 5. Keys and signature.
    if header.alg != "RS256" {
        return Err(StsError::invalid_identity_token(format!(
            "{}{}",
            msg::UNSUPPORTED_ALG_PREFIX,
            header.alg
        )));
    }
    if let Some(kid) = &header.kid {
        trace.set("kid", kid.clone());
    }
    let candidates = verification_keys(svc, &provider, header.kid.as_deref(), env, trace).await?;
    verify_signature(svc, &req.token, &candidates)?;

    // 6. Time, against the simulated clock.
    let now = env.now();
    let now_s = unix_secs(now);
    let leeway = i64::try_from(config.leeway_s).unwrap_or(i64::MAX);
    if now_s >= claims.exp.saturating_add(leeway) {
        return Err(StsError::expired_token_exception(msg::token_expired(
            now_s, claims.exp,
        )));
    }
    if claims
        .nbf
        .is_some_and(|nbf| nbf > now_s.saturating_add(leeway))
        || claims
            .iat
            .is_some_and(|iat| iat > now_s.saturating_add(leeway))
    {
        return Err(StsError::invalid_identity_token(msg::NOT_YET_VALID));
    }
    if let (Some(max), Some(iat)) = (config.token_age_s_max, claims.iat) {
        let age = now_s.saturating_sub(iat);
        if age
            > i64::try_from(max)
                .unwrap_or(i64::MAX)
                .saturating_add(leeway)
        {
            return Err(StsError::expired_token_exception(msg::token_too_old(age)));
        }
    }
    let subject = claims.sub.clone().ok_or_else(|| {
        StsError::invalid_identity_token(format!("{}sub", msg::MISSING_CLAIM_PREFIX))
    })?;

    // 7. Role and trust policy.
    let denied = || StsError::access_denied(msg::NOT_AUTHORIZED_AWRWI);
    let role = role_name_in_account(&req.role_arn, svc)
        .and_then(|name| svc.role(name))
        .ok_or_else(denied)?;
    let ctx = trust_context(&provider, &claims, &audience, &req, &role.arn, now);
    let evaluation = iam::evaluate_explained(&[&role.trust_policy], &ctx);
    trace.set("trust_decision", format!("{:?}", evaluation.decision));
    if evaluation.decision != Decision::Allow {
        return Err(denied());
    }

    // 8. Duration against the role.
    if req.duration_s > role.max_session_duration_s {
        return Err(StsError::new(
            "ValidationError",
            StatusCode::BAD_REQUEST,
            msg::DURATION_EXCEEDS_MAX,
        ));
    }

    // 9. Credentials.
    let issued_at = UNIX_EPOCH + Duration::from_secs(u64::try_from(now_s).unwrap_or(0));
    let expiration = issued_at + Duration::from_secs(u64::from(req.duration_s));
    let assumed_role_arn = format!(
        "arn:{}:sts::{}:assumed-role/{}/{}",
        config.partition, config.account_id, role.name, req.role_session_name
    );
    let assumed_role_id = format!("{}:{}", role.role_id, req.role_session_name);
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
            assumed_role_arn,
            assumed_role_id,
            provider_arn: provider.arn.clone(),
            subject,
            audience,
            session_policy: req.session_policy,
            session_policy_json: req.session_policy_json,
            policy_arns: req.policy_arns,
            session_tags: BTreeMap::new(),
            transitive_tag_keys: BTreeSet::new(),
            source_identity: None,
            chained: false,
        },
    );
    trace.set("access_key_id", session.access_key_id.clone());
    trace.set("expiration", iso8601(session.expiration));
    super::record_issued(
        env,
        "AssumeRoleWithWebIdentity",
        &session,
        Some(super::IssuedToken {
            iss: &claims.iss,
            aud: &claims.aud,
            exp_s: claims.exp,
            sub: &session.subject,
            allowed_aud: &provider.client_ids,
        }),
    );
    Ok(render(&session))
}

/// Step 1: parameters against the STS model constraints, every violation reported at once.
fn parse_request(
    params: &IndexMap<String, String>,
    svc: &StsService,
) -> Result<AwrwiRequest, StsError> {
    let config = &svc.config;
    let mut errors: Vec<String> = Vec::new();
    let get = |name: &str| params.get(name).map(String::as_str);
    let field = StringField::new;
    let fields = [
        (
            "RoleArn",
            field(
                "roleArn",
                true,
                false,
                Some((ARN_PATTERN, arn_char)),
                20,
                2048,
            ),
        ),
        (
            "RoleSessionName",
            field(
                "roleSessionName",
                true,
                false,
                Some((SESSION_NAME_PATTERN, session_char)),
                2,
                64,
            ),
        ),
        (
            "WebIdentityToken",
            field("webIdentityToken", true, true, None, 4, 20000),
        ),
        (
            "ProviderId",
            field("providerId", false, false, None, 4, 2048),
        ),
        (
            "Policy",
            field(
                "policy",
                false,
                false,
                Some((POLICY_PATTERN, policy_char)),
                1,
                2048,
            ),
        ),
    ];
    for (param, spec) in &fields {
        spec.check(get(param), &mut errors);
    }

    let mut policy_arns = Vec::new();
    for n in 1.. {
        let Some(arn) = get(&format!("PolicyArns.member.{n}.arn")) else {
            break;
        };
        let name = format!("policyArns.{n}.member.arn");
        StringField::new(&name, false, false, None, 20, 2048).check(Some(arn), &mut errors);
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
    integer_field(
        &mut errors,
        "minimumSessionTokenSize",
        get("MinimumSessionTokenSize"),
        0,
        4096,
    );

    if !errors.is_empty() {
        return Err(StsError::validation(&errors));
    }
    let session_policy = match get("Policy") {
        Some(p) => Some(PolicyDocument::parse(p).map_err(|e| {
            StsError::new(
                "MalformedPolicyDocument",
                StatusCode::BAD_REQUEST,
                format!("The policy is not valid: {e}"),
            )
        })?),
        None => None,
    };
    Ok(AwrwiRequest {
        role_arn: get("RoleArn").unwrap_or_default().to_owned(),
        role_session_name: get("RoleSessionName").unwrap_or_default().to_owned(),
        token: get("WebIdentityToken").unwrap_or_default().to_owned(),
        duration_s: duration
            .and_then(|d| u32::try_from(d).ok())
            .unwrap_or(config.duration_s_default),
        session_policy,
        session_policy_json: get("Policy").map(str::to_owned),
        policy_arns,
    })
}

/// A model pattern: its text (printed verbatim in messages) and a matcher for its one character
/// class (every STS pattern used here is `[class]*` or `[class]+`).
pub(super) type Pattern = (&'static str, fn(char) -> bool);

/// One string member's constraints from the STS model.
pub(super) struct StringField<'a> {
    /// lowerCamelCase member name, as Coral prints it.
    name: &'a str,
    required: bool,
    /// Sensitive members (the token) are never echoed: `Value at '…'`.
    sensitive: bool,
    /// The model's pattern text and a matcher for its single character class.
    pattern: Option<Pattern>,
    min: usize,
    max: usize,
}

pub(super) fn arn_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7E}' | '\u{85}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

pub(super) fn session_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

pub(super) fn policy_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FF}')
}

impl<'a> StringField<'a> {
    pub(super) fn new(
        name: &'a str,
        required: bool,
        sensitive: bool,
        pattern: Option<Pattern>,
        min: usize,
        max: usize,
    ) -> StringField<'a> {
        StringField {
            name,
            required,
            sensitive,
            pattern,
            min,
            max,
        }
    }

    /// Appends one message per violated constraint: pattern, then min, then max length (the
    /// order observed for an empty `roleArn`, `sdk.md` §8 consigliere#18).
    pub(super) fn check(&self, value: Option<&str>, errors: &mut Vec<String>) {
        let name = self.name;
        let Some(v) = value else {
            if self.required {
                errors.push(format!(
                    "Value null at '{name}' failed to satisfy constraint: Member must not be null"
                ));
            }
            return;
        };
        let shown = if self.sensitive {
            "Value".to_owned()
        } else {
            format!("Value '{v}'")
        };
        if let Some((text, ok)) = self.pattern
            && (!v.chars().all(ok) || (text.ends_with('+') && v.is_empty()))
        {
            errors.push(format!(
                "{shown} at '{name}' failed to satisfy constraint: Member must satisfy regular expression pattern: {text}"
            ));
        }
        let len = v.chars().count();
        if len < self.min {
            errors.push(format!(
                "{shown} at '{name}' failed to satisfy constraint: Member must have length greater than or equal to {}",
                self.min
            ));
        }
        if len > self.max {
            errors.push(format!(
                "{shown} at '{name}' failed to satisfy constraint: Member must have length less than or equal to {}",
                self.max
            ));
        }
    }
}

/// Reads and type-checks the claims STS uses.
fn read_claims(payload: &serde_json::Map<String, Value>) -> Result<TokenClaims, StsError> {
    let missing = |claim: &str| {
        StsError::invalid_identity_token(format!("{}{claim}", msg::MISSING_CLAIM_PREFIX))
    };
    let string = |claim: &str| {
        payload
            .get(claim)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let timestamp = |claim: &str| -> Result<Option<i64>, StsError> {
        match payload.get(claim) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or_else(|| {
                StsError::invalid_identity_token(format!(
                    "{}{claim}",
                    msg::NON_INTEGER_TIMESTAMP_PREFIX
                ))
            }),
        }
    };
    let strings = |v: &Value| -> Option<Vec<String>> {
        match v {
            Value::String(s) => Some(vec![s.clone()]),
            Value::Array(a) => a.iter().map(|x| x.as_str().map(str::to_owned)).collect(),
            _ => None,
        }
    };
    let iss = string("iss").ok_or_else(|| missing("iss"))?;
    let aud = match payload.get("aud") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => strings(v).ok_or_else(|| missing("aud"))?,
    };
    Ok(TokenClaims {
        iss,
        sub: string("sub"),
        aud,
        exp: timestamp("exp")?.ok_or_else(|| missing("exp"))?,
        nbf: timestamp("nbf")?,
        iat: timestamp("iat")?,
        amr: payload.get("amr").and_then(strings),
        azp: string("azp"),
    })
}

/// The provider's keys that may have signed this token, fetching and refetching the JWKS as the
/// configuration says. No state borrow is held across an await.
async fn verification_keys(
    svc: &StsService,
    provider: &OidcProvider,
    kid: Option<&str>,
    env: &dyn StsEnv,
    trace: &mut Trace,
) -> Result<Vec<Jwk>, StsError> {
    let config = &svc.config;
    let outage = || match config.idp_outage_error {
        IdpOutageError::InvalidIdentityToken => {
            StsError::invalid_identity_token(msg::IDP_KEY_RETRIEVAL)
        }
        IdpOutageError::IdpCommunicationError => StsError::new(
            "IDPCommunicationError",
            StatusCode::BAD_REQUEST,
            msg::IDP_KEY_RETRIEVAL,
        ),
    };
    let pick = |entry: &jwks::JwksEntry| -> Vec<Jwk> {
        entry
            .jwks
            .keys
            .iter()
            .filter(|k| k.kty == "RSA" && kid.is_none_or(|kid| k.kid == kid))
            .cloned()
            .collect()
    };
    let now = env.now();
    let cached = svc.state.borrow().jwks.get(&provider.url).cloned();
    let (entry, fetched_now) = match cached {
        Some(e) if now < e.expires_at => {
            trace.set("jwks", "cached");
            (e, false)
        }
        stale => match jwks::fetch(config, &provider.url, env).await {
            Ok(e) => {
                trace.set("jwks", "fetched");
                svc.state
                    .borrow_mut()
                    .jwks
                    .insert(provider.url.clone(), e.clone());
                (e, true)
            }
            Err(failure) => {
                trace.set("idp_failure", failure.to_string());
                match stale {
                    Some(e) if config.jwks_serve_stale_on_error => {
                        trace.set("jwks", "stale");
                        (e, false)
                    }
                    _ => return Err(outage()),
                }
            }
        },
    };
    let keys = pick(&entry);
    if !keys.is_empty() {
        return Ok(keys);
    }
    let refetch_due =
        entry.fetched_at + Duration::from_secs(config.jwks_refetch_interval_s_min) <= now;
    // Planted bug: an unknown `kid` never triggers a refetch, so a key rotated in before the cache
    // expires is refused until the TTL runs out. The real cache refetches (rate-limited) here.
    let no_refetch = crate::runtime::bug(crate::bugs::Bug::JwksNoRefetch);
    if !fetched_now && config.jwks_refetch_on_unknown_kid && refetch_due && !no_refetch {
        match jwks::fetch(config, &provider.url, env).await {
            Ok(e) => {
                trace.set("jwks", "refetched");
                svc.state
                    .borrow_mut()
                    .jwks
                    .insert(provider.url.clone(), e.clone());
                let keys = pick(&e);
                if !keys.is_empty() {
                    return Ok(keys);
                }
            }
            Err(failure) => {
                trace.set("idp_failure", failure.to_string());
                return Err(outage());
            }
        }
    }
    trace.set("kid_unknown", "true");
    // [unk] wording for a kid absent from the JWKS: the retrieval message is the closest observed.
    Err(StsError::invalid_identity_token(msg::IDP_KEY_RETRIEVAL))
}

/// Verifies against each candidate (one when the token names a `kid`), through the memo.
fn verify_signature(svc: &StsService, token: &str, candidates: &[Jwk]) -> Result<(), StsError> {
    let mut state = svc.state.borrow_mut();
    let mut last = JwtError::BadSignature;
    for jwk in candidates {
        match state.memo.verify(token, jwk) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(match last {
        JwtError::UnsupportedAlgorithm(alg) => {
            StsError::invalid_identity_token(format!("{}{alg}", msg::UNSUPPORTED_ALG_PREFIX))
        }
        JwtError::Malformed(_) => StsError::invalid_identity_token(msg::MALFORMED_TOKEN),
        JwtError::BadSignature | JwtError::UnusableKey(_) => {
            StsError::invalid_identity_token(msg::BAD_SIGNATURE)
        }
    })
}

/// The role name, if `role_arn` is a role ARN in this STS's account and partition.
pub(super) fn role_name_in_account<'a>(role_arn: &'a str, svc: &StsService) -> Option<&'a str> {
    let prefix = format!(
        "arn:{}:iam::{}:role/",
        svc.config.partition, svc.config.account_id
    );
    let path_and_name = role_arn.strip_prefix(&prefix)?;
    path_and_name.rsplit('/').next().filter(|n| !n.is_empty())
}

/// The request context of the trust-policy evaluation (`iam.md` §1.7).
fn trust_context(
    provider: &OidcProvider,
    claims: &TokenClaims,
    audience: &str,
    req: &AwrwiRequest,
    role_arn: &str,
    now: SystemTime,
) -> RequestContext {
    let host = provider.host_path();
    let mut ctx = RequestContext::new(
        Principal::Federated(provider.arn.clone()),
        "sts:AssumeRoleWithWebIdentity",
        role_arn,
    );
    if let Some(sub) = &claims.sub {
        ctx.set_key(&format!("{host}:sub"), [sub.clone()]);
    }
    ctx.set_key(&format!("{host}:aud"), [audience.to_owned()]);
    if let Some(amr) = &claims.amr {
        ctx.set_key(&format!("{host}:amr"), amr.clone());
    }
    if let Some(azp) = &claims.azp {
        ctx.set_key(&format!("{host}:azp"), [azp.clone()]);
    }
    ctx.set_key("sts:RoleSessionName", [req.role_session_name.clone()]);
    ctx.set_key("aws:CurrentTime", [iso8601(now)]);
    ctx.set_key("aws:EpochTime", [unix_secs(now).to_string()]);
    ctx
}

/// Fills in fresh credentials from the host RNG and stores the session (bounded).
pub(super) fn mint_session(svc: &StsService, env: &dyn StsEnv, mut session: Session) -> Session {
    const SECRET_ALPHABET: &[u8; 64] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let now = env.now();
    {
        let mut rng = env.rng();
        let mut pick = |alphabet: &[u8], n: usize| -> String {
            (0..n)
                .map(|_| alphabet[(rng.next_u32() as usize) % alphabet.len()] as char)
                .collect()
        };
        session.secret_access_key = pick(SECRET_ALPHABET, 40);
        // Temporary credentials start with ASIA; 16 more characters make the usual 20.
        session.access_key_id = format!("ASIA{}", pick(BASE32, 16));
        let mut token = vec![0u8; svc.config.session_token_bytes];
        rng.fill_bytes(&mut token);
        session.session_token = STANDARD.encode(token);
    }
    let mut state = svc.state.borrow_mut();
    if state.sessions.len() >= svc.config.sessions_max {
        state.sessions.retain(|_, s| s.expiration > now);
    }
    while state.sessions.len() >= svc.config.sessions_max.max(1) {
        let oldest = state
            .sessions
            .iter()
            .min_by_key(|(_, s)| s.expiration)
            .map(|(k, _)| k.clone());
        match oldest {
            Some(k) => state.sessions.remove(&k),
            None => break,
        };
    }
    // A 16-character base32 suffix collides with probability ~2^-80 per pair; keep the invariant
    // "one session per key id" anyway.
    debug_assert!(!state.sessions.contains_key(&session.access_key_id));
    state
        .sessions
        .insert(session.access_key_id.clone(), session.clone());
    session
}

fn render(s: &Session) -> String {
    format!(
        concat!(
            "    <SubjectFromWebIdentityToken>{}</SubjectFromWebIdentityToken>\n",
            "    <Audience>{}</Audience>\n",
            "    <AssumedRoleUser>\n",
            "      <Arn>{}</Arn>\n",
            "      <AssumedRoleId>{}</AssumedRoleId>\n",
            "    </AssumedRoleUser>\n",
            "    <Credentials>\n",
            "      <SessionToken>{}</SessionToken>\n",
            "      <SecretAccessKey>{}</SecretAccessKey>\n",
            "      <Expiration>{}</Expiration>\n",
            "      <AccessKeyId>{}</AccessKeyId>\n",
            "    </Credentials>\n",
            "    <Provider>{}</Provider>\n",
        ),
        esc(&s.subject),
        esc(&s.audience),
        esc(&s.assumed_role_arn),
        esc(&s.assumed_role_id),
        esc(&s.session_token),
        esc(&s.secret_access_key),
        iso8601(s.expiration),
        esc(&s.access_key_id),
        esc(&s.provider_arn),
    )
}

/// An integer member with its model bounds; the model's validation wording (a non-integer's wording is
/// \[unk\]). Shared with `AssumeRole`.
pub(super) fn integer_field(errors: &mut Vec<String>, name: &str, value: Option<&str>, min: i64, max: i64) -> Option<i64> {
    let v = value?;
    let Ok(n) = v.trim().parse::<i64>() else {
        errors.push(format!("Value '{v}' at '{name}' failed to satisfy constraint: Member must be an integer"));
        return None;
    };
    if n < min {
        errors.push(format!("Value '{n}' at '{name}' failed to satisfy constraint: Member must have value greater than or equal to {min}"));
    }
    if n > max {
        errors.push(format!("Value '{n}' at '{name}' failed to satisfy constraint: Member must have value less than or equal to {max}"));
    }
    Some(n)
}
