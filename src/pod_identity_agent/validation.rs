//! What the agent checks before it calls EKS Auth, in upstream's order (`agent.md` §1.3):
//! `internal/validation/request.go` and golang-jwt v5.2.2's `ParseUnverified` + default `Validator`.
//!
//! 1. the `Host` the pod called (port and IPv6 brackets stripped, as `net.SplitHostPort` does) must be
//!    one of the target hosts, else **403** `Access Denied. Called agent through invalid address, …`;
//! 2. the raw `Authorization` header (no `Bearer ` stripped) must not be empty, else **400**;
//! 3. it must parse as a JWT without checking the signature (three segments, base64url JSON header
//!    with a known `alg`, base64url JSON claims whose registered claims have the right types), else
//!    **400** `Service account token cannot be parsed: …`;
//! 4. `exp` must be in the future and `nbf` not in the future, each only when present, with no leeway
//!    and both truncated to whole seconds (golang-jwt's `TimePrecision`), else **400**
//!    `Service account token failed basic claim validations: …`. `iat`, `aud`, `iss` and the
//!    signature are EKS Auth's business.
//!
//! Error texts are upstream's prefixes; the detail after them mimics golang-jwt's wording for the
//! common cases (segment count, base64, JSON, `alg`, expired / not yet valid) and is approximate for
//! Go `encoding/json` type errors.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde_json::{Map, Value};

/// The one path the credential servers register (exact match in Go's `ServeMux`).
pub const PATH_CREDENTIALS: &str = "/v1/credentials";

/// Go's `NotFoundHandler` body for every other path.
pub const NOT_FOUND_BODY: &str = "404 page not found";

/// The rate limiter's refusal body (`internal/middleware/rate_limiter`).
pub const TOO_MANY_REQUESTS_BODY: &str = "Too Many Requests";

/// Signing methods golang-jwt v5 registers (`GetSigningMethod` knows nothing else).
const SIGNING_METHODS: [&str; 14] = [
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512",
    "EdDSA", "none",
];

/// Go's `base64.RawURLEncoding` (not `Strict()`): no padding, trailing bits tolerated.
const RAW_URL: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    base64::engine::GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone),
);

/// Why the agent refused a request before any EKS Auth call: the status and the message that
/// `http.Error` writes (without the newline it appends).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub message: String,
}

impl Rejection {
    fn bad_request(message: String) -> Rejection {
        Rejection { status: 400, message }
    }
}

/// Who a token speaks for, read from its (unverified) `kubernetes.io` claims: for the trace and, in
/// the newer agent, the cache key. Empty strings when a claim is absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenIdentity {
    pub pod: String,
    pub pod_uid: String,
    pub namespace: String,
    pub service_account: String,
}

/// Step 1: the `Host` check (`validateRequestTargetHost`).
pub fn check_host(host: &str, target_hosts: &[String]) -> Result<(), Rejection> {
    let mut h = match split_host_port(host) {
        Some((h, _port)) => h,
        None => host,
    };
    if h.len() > 1 && h.starts_with('[') && h.ends_with(']') {
        h = &h[1..h.len() - 1];
    }
    if target_hosts.iter().any(|t| t == h) {
        return Ok(());
    }
    // Go formats the slice with %s: "[a b]".
    Err(Rejection {
        status: 403,
        message: format!(
            "Access Denied. Called agent through invalid address, please use either [{}] address not {h}",
            target_hosts.join(" ")
        ),
    })
}

/// Go's `net.SplitHostPort`, enough of it: `host:port` or `[v6]:port`; `None` when there is no port or
/// too many colons.
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']')?;
        let after = &rest[end + 1..];
        let port = after.strip_prefix(':')?;
        return Some((&rest[..end], port));
    }
    let (h, p) = s.split_once(':')?;
    if p.contains(':') {
        return None;
    }
    Some((h, p))
}

/// Steps 2–4: presence, unverified parse, basic claims at `now`. On success, who the token is for.
pub fn check_token(token: &str, now: SystemTime) -> Result<TokenIdentity, Rejection> {
    if token.is_empty() {
        return Err(Rejection::bad_request("Service account token cannot be empty".to_string()));
    }
    let claims = parse_unverified(token)
        .map_err(|e| Rejection::bad_request(format!("Service account token cannot be parsed: {e}")))?;
    validate_claims(&claims, now)
        .map_err(|e| Rejection::bad_request(format!("Service account token failed basic claim validations: {e}")))?;
    Ok(identity(&claims))
}

/// golang-jwt v5 `Parser.ParseUnverified` into `RegisteredClaims`: the claims object, or the error text.
pub fn parse_unverified(token: &str) -> Result<Map<String, Value>, String> {
    let malformed = |m: String| format!("token is malformed: {m}");
    let mut parts = token.splitn(3, '.');
    let (Some(h), Some(c), Some(sig)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed("token contains an invalid number of segments".into()));
    };
    if sig.contains('.') {
        return Err(malformed("token contains an invalid number of segments".into()));
    }
    let header_bytes = decode_segment(h).map_err(|e| malformed(format!("could not base64 decode header: {e}")))?;
    let header: Map<String, Value> =
        serde_json::from_slice(&header_bytes).map_err(|e| malformed(format!("could not JSON decode header: {}", go_json_error(&e))))?;
    let claim_bytes = decode_segment(c).map_err(|e| malformed(format!("could not base64 decode claim: {e}")))?;
    let claims: Value =
        serde_json::from_slice(&claim_bytes).map_err(|e| malformed(format!("could not JSON decode claim: {}", go_json_error(&e))))?;
    let claims = match claims {
        Value::Object(m) => m,
        // `null` decodes into an empty RegisteredClaims; anything else is a type error.
        Value::Null => Map::new(),
        other => {
            return Err(malformed(format!(
                "could not JSON decode claim: json: cannot unmarshal {} into Go value of type jwt.RegisteredClaims",
                go_type(&other)
            )));
        }
    };
    check_registered_types(&claims).map_err(|e| malformed(format!("could not JSON decode claim: {e}")))?;
    match header.get("alg") {
        Some(Value::String(alg)) if SIGNING_METHODS.contains(&alg.as_str()) => Ok(claims),
        Some(Value::String(_)) => Err("token is unverifiable: signing method (alg) is unavailable".into()),
        _ => Err("token is unverifiable: signing method (alg) is unspecified".into()),
    }
}

/// base64url without padding, as `DecodeSegment` does by default.
fn decode_segment(s: &str) -> Result<Vec<u8>, String> {
    RAW_URL.decode(s).map_err(|e| match e {
        base64::DecodeError::InvalidByte(at, _) => format!("illegal base64 data at input byte {at}"),
        base64::DecodeError::InvalidLastSymbol(at, _) => format!("illegal base64 data at input byte {at}"),
        _ => format!("illegal base64 data at input byte {}", s.len()),
    })
}

fn go_json_error(e: &serde_json::Error) -> String {
    match e.classify() {
        serde_json::error::Category::Eof => "unexpected end of JSON input".to_string(),
        _ => format!("invalid character at offset {}", e.column()),
    }
}

fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `RegisteredClaims` field types: `iss`/`sub`/`jti` strings, `aud` a string or an array of strings,
/// `exp`/`nbf`/`iat` NumericDates (a number, or a string holding a valid number).
fn check_registered_types(claims: &Map<String, Value>) -> Result<(), String> {
    for k in ["iss", "sub", "jti"] {
        match claims.get(k) {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(v) => {
                return Err(format!(
                    "json: cannot unmarshal {} into Go struct field RegisteredClaims.{k} of type string",
                    go_type(v)
                ));
            }
        }
    }
    match claims.get("aud") {
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {}
        Some(_) => return Err("invalid type for claim".to_string()),
    }
    for k in ["exp", "nbf", "iat"] {
        if let Some(v) = claims.get(k) {
            numeric_date(v).map_err(|e| format!("could not parse NumericData: {e}"))?;
        }
    }
    Ok(())
}

/// A NumericDate claim in whole seconds (golang-jwt truncates to `TimePrecision` = 1 s). `Ok(None)`
/// for JSON `null`.
fn numeric_date(v: &Value) -> Result<Option<i64>, String> {
    let f = match v {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_f64().ok_or("number out of range")?,
        Value::String(s) => s.parse::<f64>().map_err(|_| format!("json: invalid number literal, trying to unmarshal \"\\\"{s}\\\"\" into Number"))?,
        other => return Err(format!("json: cannot unmarshal {} into Go value of type json.Number", go_type(other))),
    };
    Ok(Some(f.trunc() as i64))
}

/// golang-jwt's default `Validator`: `exp` (now must be before it) and `nbf` (now must not be before
/// it), leeway 0, errors joined with ", ".
pub fn validate_claims(claims: &Map<String, Value>, now: SystemTime) -> Result<(), String> {
    let now_ns = unix_ns(now);
    let mut errs = Vec::new();
    if let Some(Ok(Some(exp))) = claims.get("exp").map(numeric_date)
        && now_ns >= i128::from(exp) * 1_000_000_000
    {
        errs.push("token is expired");
    }
    if let Some(Ok(Some(nbf))) = claims.get("nbf").map(numeric_date)
        && now_ns < i128::from(nbf) * 1_000_000_000
    {
        errs.push("token is not valid yet");
    }
    if errs.is_empty() { Ok(()) } else { Err(errs.join(", ")) }
}

fn unix_ns(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// The pod, namespace and service account a token names (`kubernetes.io` claims).
pub fn identity(claims: &Map<String, Value>) -> TokenIdentity {
    let k8s = claims.get("kubernetes.io");
    let s = |path: &[&str]| -> String {
        let mut v = k8s;
        for p in path {
            v = v.and_then(|x| x.get(p));
        }
        v.and_then(Value::as_str).unwrap_or_default().to_string()
    };
    TokenIdentity {
        pod: s(&["pod", "name"]),
        pod_uid: s(&["pod", "uid"]),
        namespace: s(&["namespace"]),
        service_account: s(&["serviceaccount", "name"]),
    }
}

/// Whole seconds since the epoch as a wall-clock time (for tests and fakes).
pub fn at_unix_s(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
}
