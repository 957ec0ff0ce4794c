//! The container credentials provider, as each SDK profile runs it (`shared/reference/sdk.md` §4a–4c,
//! §5.3): `AWS_CONTAINER_CREDENTIALS_FULL_URI` pointing at the EKS Pod Identity agent
//! (`http://169.254.170.23/v1/credentials`), with the projected token read from
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` on every load.
//!
//! | | Rust aws-config 1.13 | botocore 1.44 | aws-sdk-go-v2 |
//! |---|---|---|---|
//! | URI precedence | RELATIVE over FULL | RELATIVE over FULL | FULL over RELATIVE |
//! | FULL_URI allowed | https; loopback IP, 169.254.170.2, 169.254.170.23, fd00:ec2::23; names resolved | https; loopback IP, those three, `localhost` | any non-http scheme; those IPs; names resolved |
//! | token | file over env var, re-read per load, CR/LF → error | same | same |
//! | headers | `accept: application/json`, `authorization` | same | same + `amz-sdk-request` |
//! | timeouts | connect 2 s, read 5 s | 2 s (connect and read) | client defaults (dial 30 s, no overall) |
//! | retries | 3, standard backoff, on 5xx/IO/unparsable 200 | 3, 1 s sleep after every failure, on anything | 3, standard backoff, on 5xx/IO |
//! | JSON | keys case-insensitive, `Token`\|`SessionToken`, `Expiration`\|`ExpiresAt` ending in `Z`, `Code` must be `Success` | exact keys, all four required, any date | keys case-insensitive, `AccessKeyId`+`SecretAccessKey` required, RFC 3339 |
//!
//! Host names: the simulated network has no general DNS resolver for pods, so a FULL_URI host name
//! counts as not allowed unless it is `localhost` (which botocore allows by name and the others
//! resolve to loopback). Go: a missing `Expiration` means credentials that never expire (modelled as
//! the year 9999).
//!
//! Trace: `sdk.container_call` {pod, sdk, attempt, outcome (ok, `http_<status>`, a transport code,
//! `InvalidJsonCredentials`, …), status (0: no response), ms, access_key_id on success}.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::{Credentials, PodFs, SdkError, SdkProfile};
use crate::http::{HttpClient, Timeouts};
use crate::runtime::{self, fields};
use crate::scenario::SdkName;

/// `AWS_CONTAINER_CREDENTIALS_FULL_URI`.
pub const ENV_FULL_URI: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
/// `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (ECS; resolved against `http://169.254.170.2`).
pub const ENV_RELATIVE_URI: &str = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI";
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`.
pub const ENV_TOKEN_FILE: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";
/// `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
pub const ENV_TOKEN: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN";
/// The ECS agent's address, base of RELATIVE_URI.
pub const ECS_BASE: &str = "http://169.254.170.2";

/// Whether the container provider is configured at all (either URI variable set).
pub fn configured(env: &BTreeMap<String, String>) -> bool {
    env.contains_key(ENV_FULL_URI) || env.contains_key(ENV_RELATIVE_URI)
}

fn err(code: &str, message: impl Into<String>) -> SdkError {
    SdkError::new(code, message)
}

/// The URI to call, by the SDK's precedence, checked against its allowed hosts. `Ok(None)`: neither
/// variable is set (the chain moves on).
pub fn resolve_uri(sdk: SdkName, env: &BTreeMap<String, String>) -> Result<Option<String>, SdkError> {
    let relative = env.get(ENV_RELATIVE_URI).map(|r| format!("{ECS_BASE}{r}"));
    let full = env.get(ENV_FULL_URI);
    match sdk {
        SdkName::Go => match (full, relative) {
            (Some(f), _) => check_full_uri(sdk, f).map(Some),
            (None, r) => Ok(r),
        },
        SdkName::Rust | SdkName::Botocore => match (relative, full) {
            (Some(r), _) => Ok(Some(r)),
            (None, Some(f)) => check_full_uri(sdk, f).map(Some),
            (None, None) => Ok(None),
        },
    }
}

/// The FULL_URI rule of each SDK.
pub fn check_full_uri(sdk: SdkName, uri: &str) -> Result<String, SdkError> {
    let parsed: http::Uri = uri.parse().map_err(|_| err("InvalidContainerUri", format!("invalid full URI {uri:?}")))?;
    let scheme = parsed.scheme_str().unwrap_or_default().to_ascii_lowercase();
    let host = parsed.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    if host.is_empty() {
        return Err(err("InvalidContainerUri", format!("no host in full URI {uri:?}")));
    }
    let allowed = match sdk {
        // Rust: https always; otherwise the host (resolved if a name) must be allowed.
        SdkName::Rust => scheme == "https" || host_allowed(&host),
        // botocore: https, loopback IP literals, and four hosts by name.
        SdkName::Botocore => {
            scheme == "https"
                || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
                || ["169.254.170.2", "169.254.170.23", "fd00:ec2::23", "localhost"].contains(&host.as_str())
        }
        // Go: only http is checked.
        SdkName::Go => scheme != "http" || host_allowed(&host),
    };
    if allowed {
        Ok(uri.to_string())
    } else {
        Err(err(
            "InvalidContainerUri",
            format!("invalid endpoint host {host:?} in {uri:?}: only loopback, 169.254.170.2, 169.254.170.23 and fd00:ec2::23 are allowed"),
        ))
    }
}

/// An allowed IP (loopback, the ECS and EKS link-local addresses), or a name that resolves to only
/// such addresses; in the simulation only `localhost` does.
pub fn host_allowed(host: &str) -> bool {
    match host.parse::<IpAddr>() {
        Ok(ip) => ip_allowed(ip),
        Err(_) => host == "localhost",
    }
}

fn ip_allowed(ip: IpAddr) -> bool {
    ip.is_loopback()
        || ip == IpAddr::from([169, 254, 170, 2])
        || ip == IpAddr::from([169, 254, 170, 23])
        || ip == "fd00:ec2::23".parse::<IpAddr>().expect("a valid IPv6 literal")
}

/// The `Authorization` value: the token file (re-read now) wins over the env var; `None` when neither
/// is set. A CR or LF anywhere is an error in every SDK.
pub fn auth_token(env: &BTreeMap<String, String>, fs: &PodFs) -> Result<Option<String>, SdkError> {
    let token = if let Some(path) = env.get(ENV_TOKEN_FILE) {
        match fs.borrow().get(path) {
            Some(b) => String::from_utf8_lossy(b).into_owned(),
            None => return Err(err("TokenFileUnreadable", format!("failed to read authorization token from {path}: No such file or directory"))),
        }
    } else if let Some(t) = env.get(ENV_TOKEN) {
        t.clone()
    } else {
        return Ok(None);
    };
    if token.contains(['\r', '\n']) {
        return Err(err("InvalidAuthorizationToken", "authorization token contains a CR or LF and is not a legal header value"));
    }
    Ok(Some(token))
}

/// One attempt's result as the retry loop sees it.
#[derive(Debug)]
pub enum AttemptError {
    /// No response (connect failure, timeout).
    Transport(SdkError),
    /// A non-2xx response.
    Status(u16, SdkError),
    /// A 2xx whose body the SDK could not turn into credentials.
    Unparsable(SdkError),
}

impl AttemptError {
    fn error(&self) -> &SdkError {
        match self {
            AttemptError::Transport(e) | AttemptError::Status(_, e) | AttemptError::Unparsable(e) => e,
        }
    }

    fn into_error(self) -> SdkError {
        match self {
            AttemptError::Transport(e) | AttemptError::Status(_, e) | AttemptError::Unparsable(e) => e,
        }
    }
}

/// Whether the SDK retries after this failure.
pub fn retryable(sdk: SdkName, e: &AttemptError) -> bool {
    match (sdk, e) {
        // botocore: any non-200, unparsable body or connection error.
        (SdkName::Botocore, _) => true,
        (_, AttemptError::Transport(_)) => true,
        (_, AttemptError::Status(s, _)) => matches!(s, 500 | 502 | 503 | 504),
        // Rust classifies a 2xx with a bad body as retryable; Go's deserialisation error is not.
        (SdkName::Rust, AttemptError::Unparsable(_)) => true,
        (SdkName::Go, AttemptError::Unparsable(_)) => false,
    }
}

/// Turns a response into credentials by the SDK's rules.
pub fn parse_response(sdk: SdkName, status: u16, body: &[u8]) -> Result<Credentials, AttemptError> {
    let text = String::from_utf8_lossy(body);
    let ok = match sdk {
        SdkName::Botocore => status == 200,
        _ => (200..300).contains(&status),
    };
    if !ok {
        let message = match sdk {
            SdkName::Botocore => format!("Received non 200 response {status} from container metadata: {}", text.trim_end()),
            _ => text.trim_end().to_string(),
        };
        return Err(AttemptError::Status(status, err(&format!("http_{status}"), message)));
    }
    let json: Value = serde_json::from_slice(body)
        .map_err(|_| AttemptError::Unparsable(err("InvalidJsonCredentials", "Unable to parse JSON returned from container metadata services")))?;
    let Value::Object(obj) = json else {
        return Err(AttemptError::Unparsable(err("InvalidJsonCredentials", "credentials JSON is not an object")));
    };
    match sdk {
        SdkName::Rust => parse_rust(&obj),
        SdkName::Botocore => parse_botocore(&obj),
        SdkName::Go => parse_go(&obj),
    }
    .map_err(AttemptError::Unparsable)
}

/// A string member by any of `names`, compared case-insensitively (Rust and Go).
fn member_ci<'a>(obj: &'a serde_json::Map<String, Value>, names: &[&str]) -> Option<&'a Value> {
    obj.iter().find(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n))).map(|(_, v)| v)
}

fn as_string(v: Option<&Value>, field: &str) -> Result<Option<String>, SdkError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(err("InvalidJsonCredentials", format!("invalid type for {field}: expected a string"))),
    }
}

fn missing(field: &str) -> SdkError {
    err("InvalidJsonCredentials", format!("missing field {field}"))
}

/// aws-config `json_credentials::parse_json_credentials`.
pub fn parse_rust(obj: &serde_json::Map<String, Value>) -> Result<Credentials, SdkError> {
    let code = as_string(member_ci(obj, &["Code"]), "Code")?;
    if let Some(code) = code
        && code != "Success"
    {
        let message = as_string(member_ci(obj, &["Message"]), "Message")?.unwrap_or_default();
        return Err(err(&code, message));
    }
    let akid = as_string(member_ci(obj, &["AccessKeyId"]), "AccessKeyId")?.ok_or_else(|| missing("AccessKeyId"))?;
    let secret = as_string(member_ci(obj, &["SecretAccessKey"]), "SecretAccessKey")?.ok_or_else(|| missing("SecretAccessKey"))?;
    let token = as_string(member_ci(obj, &["Token", "SessionToken"]), "Token")?.ok_or_else(|| missing("Token"))?;
    let exp = as_string(member_ci(obj, &["Expiration", "ExpiresAt"]), "Expiration")?.ok_or_else(|| missing("Expiration"))?;
    if !exp.ends_with('Z') {
        return Err(err("InvalidJsonCredentials", format!("Expiration {exp:?} is not an RFC 3339 UTC date-time ending in Z")));
    }
    let expiration = parse_rfc3339(&exp).ok_or_else(|| err("InvalidJsonCredentials", format!("invalid Expiration {exp:?}")))?;
    let account_id = as_string(member_ci(obj, &["AccountId"]), "AccountId")?.unwrap_or_default();
    Ok(container_credentials(akid, secret, token, expiration, account_id))
}

/// botocore `ContainerProvider`: exact keys, all four required; the date is parsed leniently later.
pub fn parse_botocore(obj: &serde_json::Map<String, Value>) -> Result<Credentials, SdkError> {
    let get = |k: &str| -> Result<String, SdkError> {
        match obj.get(k) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v) if !v.is_null() => Ok(v.to_string()),
            _ => Err(err("KeyError", format!("'{k}'"))),
        }
    };
    let akid = get("AccessKeyId")?;
    let secret = get("SecretAccessKey")?;
    let token = get("Token")?;
    let exp = get("Expiration")?;
    let expiration = parse_lenient(&exp).ok_or_else(|| err("InvalidJsonCredentials", format!("could not parse Expiration {exp:?}")))?;
    let account_id = obj.get("AccountId").and_then(Value::as_str).unwrap_or_default().to_string();
    Ok(container_credentials(akid, secret, token, expiration, account_id))
}

/// aws-sdk-go-v2 `endpointcreds`: `encoding/json` matches keys case-insensitively; the keys are
/// required, the token and expiration optional.
pub fn parse_go(obj: &serde_json::Map<String, Value>) -> Result<Credentials, SdkError> {
    let akid = as_string(member_ci(obj, &["AccessKeyId"]), "AccessKeyId")?.filter(|s| !s.is_empty()).ok_or_else(|| missing("AccessKeyId"))?;
    let secret =
        as_string(member_ci(obj, &["SecretAccessKey"]), "SecretAccessKey")?.filter(|s| !s.is_empty()).ok_or_else(|| missing("SecretAccessKey"))?;
    let token = as_string(member_ci(obj, &["Token"]), "Token")?.unwrap_or_default();
    let expiration = match as_string(member_ci(obj, &["Expiration"]), "Expiration")? {
        Some(e) => parse_rfc3339(&e).ok_or_else(|| err("InvalidJsonCredentials", format!("parsing time {e:?} as RFC 3339")))?,
        None => never_expires(),
    };
    let account_id = as_string(member_ci(obj, &["AccountId"]), "AccountId")?.unwrap_or_default();
    Ok(container_credentials(akid, secret, token, expiration, account_id))
}

/// 9999-12-31T23:59:59Z: Go's `CanExpire = false`.
pub fn never_expires() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(253_402_300_799)
}

fn container_credentials(akid: String, secret: String, token: String, expiration: SystemTime, account_id: String) -> Credentials {
    Credentials {
        access_key_id: akid,
        secret_access_key: secret,
        session_token: token,
        expiration,
        account_id,
        assumed_role_arn: String::new(),
        source: "container",
    }
}

fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some(SystemTime::from(t))
}

/// `dateutil.parser.parse`, for the forms an endpoint plausibly sends: RFC 3339 with any offset, or
/// without one (naive, taken as UTC), `T` or space separated.
fn parse_lenient(s: &str) -> Option<SystemTime> {
    if let Some(t) = parse_rfc3339(s) {
        return Some(t);
    }
    let normalised = s.replacen(' ', "T", 1);
    parse_rfc3339(&normalised).or_else(|| parse_rfc3339(&format!("{normalised}Z")))
}

/// Loads container credentials once, with the profile's retries. `Ok(None)` is never returned: the
/// caller checks [`configured`] first.
pub async fn load(http: &HttpClient, profile: &SdkProfile, env: &BTreeMap<String, String>, fs: &PodFs, pod: &str) -> Result<Credentials, SdkError> {
    let sdk = profile.name;
    let Some(uri) = resolve_uri(sdk, env)? else {
        return Err(err("CredentialsNotLoaded", "no container credentials URI in the environment"));
    };
    let token = auth_token(env, fs)?;
    let timeouts = Timeouts { connect: profile.container_connect_timeout, request: profile.container_request_timeout };
    let attempts_max = profile.container_attempts_max.max(1);
    let mut attempt = 1;
    loop {
        let t0 = tokio::time::Instant::now();
        let mut headers: Vec<(&str, String)> = vec![("accept", "application/json".to_string())];
        if let Some(t) = &token {
            headers.push(("authorization", t.clone()));
        }
        if sdk == SdkName::Go {
            headers.push(("amz-sdk-request", format!("attempt={attempt}; max={attempts_max}")));
        }
        let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (result, status) = match http.get(&uri, &pairs, timeouts).await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                (parse_response(sdk, status, resp.body()), status)
            }
            Err(e) => (Err(AttemptError::Transport(err(&e.code(), e.to_string()))), 0),
        };
        let ms = t0.elapsed().as_millis() as u64;
        let e = match result {
            Ok(c) => {
                runtime::record(
                    "sdk.container_call",
                    fields!["pod" => pod, "sdk" => sdk.to_string(), "uri" => &uri, "attempt" => attempt, "outcome" => "ok", "status" => u64::from(status), "ms" => ms, "access_key_id" => &c.access_key_id],
                );
                return Ok(c);
            }
            Err(e) => e,
        };
        runtime::record(
            "sdk.container_call",
            fields!["pod" => pod, "sdk" => sdk.to_string(), "uri" => &uri, "attempt" => attempt, "outcome" => &e.error().code, "status" => u64::from(status), "ms" => ms],
        );
        let retry = retryable(sdk, &e);
        if let Some(sleep) = profile.container_retry_sleep {
            // botocore sleeps after every failure, the last one included, then gives up.
            tokio::time::sleep(sleep).await;
        }
        if !retry || attempt >= attempts_max {
            return Err(e.into_error());
        }
        if profile.container_retry_sleep.is_none() {
            let delay = runtime::with_rng(|r| profile.retry.backoff(attempt, false, r));
            tokio::time::sleep(delay).await;
        }
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const AGENT: &str = "http://169.254.170.23/v1/credentials";

    #[test]
    fn uri_precedence_per_sdk() {
        let both = env(&[(ENV_FULL_URI, AGENT), (ENV_RELATIVE_URI, "/v2/credentials/abc")]);
        assert_eq!(resolve_uri(SdkName::Rust, &both).unwrap().unwrap(), "http://169.254.170.2/v2/credentials/abc");
        assert_eq!(resolve_uri(SdkName::Botocore, &both).unwrap().unwrap(), "http://169.254.170.2/v2/credentials/abc");
        assert_eq!(resolve_uri(SdkName::Go, &both).unwrap().unwrap(), AGENT);
        assert_eq!(resolve_uri(SdkName::Go, &env(&[])).unwrap(), None);
    }

    #[test]
    fn allowed_hosts_per_sdk() {
        let ok = |sdk, uri: &str| check_full_uri(sdk, uri).is_ok();
        for sdk in [SdkName::Rust, SdkName::Botocore, SdkName::Go] {
            assert!(ok(sdk, AGENT));
            assert!(ok(sdk, "http://[fd00:ec2::23]/v1/credentials"));
            assert!(ok(sdk, "http://169.254.170.2/creds"));
            assert!(ok(sdk, "http://127.0.0.1:8080/creds"));
            assert!(ok(sdk, "http://[::1]/creds"));
            assert!(ok(sdk, "http://localhost/creds"));
            assert!(ok(sdk, "https://creds.example.com/v1"));
            assert!(!ok(sdk, "http://10.0.0.7/creds"));
            assert!(!ok(sdk, "http://169.254.169.254/creds"));
            assert!(!ok(sdk, "http://creds.example.com/v1"));
        }
        // Go checks only http URIs; Rust and botocore reject other schemes to other hosts.
        assert!(ok(SdkName::Go, "ftp://10.0.0.7/creds"));
        assert!(!ok(SdkName::Rust, "ftp://10.0.0.7/creds"));
        assert!(!ok(SdkName::Botocore, "ftp://10.0.0.7/creds"));
        assert_eq!(check_full_uri(SdkName::Rust, "http://10.0.0.7/").unwrap_err().code, "InvalidContainerUri");
    }

    #[test]
    fn token_file_wins_is_reread_and_rejects_newlines() {
        let fs: PodFs = Default::default();
        let e = env(&[(ENV_TOKEN_FILE, "/t"), (ENV_TOKEN, "from-env")]);
        assert_eq!(auth_token(&e, &fs).unwrap_err().code, "TokenFileUnreadable");
        fs.borrow_mut().insert("/t".into(), bytes::Bytes::from_static(b"a.b.c"));
        assert_eq!(auth_token(&e, &fs).unwrap().as_deref(), Some("a.b.c"));
        fs.borrow_mut().insert("/t".into(), bytes::Bytes::from_static(b"d.e.f"));
        assert_eq!(auth_token(&e, &fs).unwrap().as_deref(), Some("d.e.f"));
        fs.borrow_mut().insert("/t".into(), bytes::Bytes::from_static(b"d.e.f\n"));
        assert_eq!(auth_token(&e, &fs).unwrap_err().code, "InvalidAuthorizationToken");
        assert_eq!(auth_token(&env(&[(ENV_TOKEN, "from-env")]), &fs).unwrap().as_deref(), Some("from-env"));
        assert_eq!(auth_token(&env(&[(ENV_TOKEN, "x\r")]), &fs).unwrap_err().code, "InvalidAuthorizationToken");
        assert_eq!(auth_token(&env(&[]), &fs).unwrap(), None);
    }

    const AGENT_JSON: &str = r#"{"AccessKeyId":"ASIAPOD","SecretAccessKey":"s","Token":"t","AccountId":"111122223333","Expiration":"2027-01-15T14:00:00.123Z"}"#;

    #[test]
    fn every_sdk_parses_the_agents_reply() {
        for sdk in [SdkName::Rust, SdkName::Botocore, SdkName::Go] {
            let c = parse_response(sdk, 200, AGENT_JSON.as_bytes()).unwrap();
            assert_eq!(c.access_key_id, "ASIAPOD");
            assert_eq!(c.session_token, "t");
            assert_eq!(c.account_id, "111122223333");
            assert_eq!(c.source, "container");
            assert_eq!(runtime::unix_ms(c.expiration), 1_800_021_600_123);
        }
    }

    #[test]
    fn rust_rules() {
        let p = |s: &str| parse_response(SdkName::Rust, 200, s.as_bytes());
        // Case-insensitive keys, SessionToken for Token.
        let c = p(r#"{"accesskeyid":"A","SECRETACCESSKEY":"s","SessionToken":"t","expiration":"2027-01-15T14:00:00Z"}"#).unwrap();
        assert_eq!((c.access_key_id.as_str(), c.session_token.as_str(), c.account_id.as_str()), ("A", "t", ""));
        // Offsets are rejected: Expiration must end in Z.
        assert!(matches!(p(r#"{"AccessKeyId":"A","SecretAccessKey":"s","Token":"t","Expiration":"2027-01-15T14:00:00+00:00"}"#), Err(AttemptError::Unparsable(_))));
        // Missing token or expiration.
        assert!(p(r#"{"AccessKeyId":"A","SecretAccessKey":"s","Expiration":"2027-01-15T14:00:00Z"}"#).is_err());
        assert!(p(r#"{"AccessKeyId":"A","SecretAccessKey":"s","Token":"t"}"#).is_err());
        // Code other than Success is an error carrying the code and message.
        let e = p(r#"{"Code":"AssumeRoleUnauthorizedAccess","Message":"nope"}"#).unwrap_err();
        assert_eq!((e.error().code.as_str(), e.error().message.as_str()), ("AssumeRoleUnauthorizedAccess", "nope"));
        assert!(p(r#"{"Code":"Success","AccessKeyId":"A","SecretAccessKey":"s","Token":"t","Expiration":"2027-01-15T14:00:00Z"}"#).is_ok());
        // A 2xx that is not JSON: retryable for Rust, not for Go.
        let bad = parse_response(SdkName::Rust, 200, b"[req-1]\n").unwrap_err();
        assert!(retryable(SdkName::Rust, &bad));
        assert!(!retryable(SdkName::Go, &parse_response(SdkName::Go, 200, b"[req-1]\n").unwrap_err()));
    }

    #[test]
    fn botocore_rules() {
        let p = |s: &str| parse_response(SdkName::Botocore, 200, s.as_bytes());
        // Exact keys: a lower-case key is missing.
        assert_eq!(p(r#"{"accessKeyId":"A","SecretAccessKey":"s","Token":"t","Expiration":"2027-01-15T14:00:00Z"}"#).unwrap_err().error().code, "KeyError");
        // Any date dateutil reads: offsets and naive times.
        let c = p(r#"{"AccessKeyId":"A","SecretAccessKey":"s","Token":"t","Expiration":"2027-01-15T16:00:00+02:00"}"#).unwrap();
        assert_eq!(runtime::rfc3339(c.expiration), "2027-01-15T14:00:00Z");
        let c = p(r#"{"AccessKeyId":"A","SecretAccessKey":"s","Token":"t","Expiration":"2027-01-15 14:00:00"}"#).unwrap();
        assert_eq!(runtime::rfc3339(c.expiration), "2027-01-15T14:00:00Z");
        // Every non-200 is retried, a 4xx too.
        let e = parse_response(SdkName::Botocore, 404, b"[r]: (ResourceNotFoundException): no association, fault: client\n").unwrap_err();
        assert!(retryable(SdkName::Botocore, &e));
        assert!(e.error().message.starts_with("Received non 200 response 404 from container metadata: [r]"));
    }

    #[test]
    fn go_rules() {
        let p = |s: &str| parse_response(SdkName::Go, 200, s.as_bytes());
        let c = p(r#"{"accesskeyid":"A","SecretAccessKey":"s"}"#).unwrap();
        assert_eq!(c.expiration, never_expires());
        assert_eq!(c.session_token, "");
        assert!(p(r#"{"SecretAccessKey":"s","Token":"t"}"#).is_err());
        let c = p(r#"{"AccessKeyId":"A","SecretAccessKey":"s","Token":"t","Expiration":"2027-01-15T16:00:00+02:00"}"#).unwrap();
        assert_eq!(runtime::rfc3339(c.expiration), "2027-01-15T14:00:00Z");
    }

    #[test]
    fn status_classes() {
        for (sdk, status, retried) in [
            (SdkName::Rust, 500, true),
            (SdkName::Rust, 503, true),
            (SdkName::Rust, 429, false),
            (SdkName::Rust, 400, false),
            (SdkName::Go, 502, true),
            (SdkName::Go, 404, false),
            (SdkName::Botocore, 400, true),
            (SdkName::Botocore, 500, true),
        ] {
            let e = parse_response(sdk, status, b"x\n").unwrap_err();
            assert_eq!(e.error().code, format!("http_{status}"));
            assert_eq!(retryable(sdk, &e), retried, "{sdk} {status}");
        }
        assert!(retryable(SdkName::Go, &AttemptError::Transport(err("timeout", "t"))));
    }
}
