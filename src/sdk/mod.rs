//! The AWS SDK inside a pod: the default credential chain and its cache, as each real SDK runs them.
//!
//! A [`CredentialsProvider`] is what `aws_config::load_defaults`, `boto3.Session()` or
//! `config.LoadDefaultConfig` builds inside a container. It reads the pod's environment and files (the
//! webhook's env vars, the kubelet's token file) and walks the chain in the SDKs' shared order, so a
//! pod with both IRSA and Pod Identity env vars behaves as real SDKs do (web identity wins, sdk.md §4d):
//!
//! 1. **web identity** (`AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE`): re-read the token file on every
//!    load and call STS `AssumeRoleWithWebIdentity` (unsigned query-protocol POST, sdk.md §1.2), parsing the
//!    XML result or error;
//! 2. **container credentials** (`AWS_CONTAINER_CREDENTIALS_FULL_URI`/`_RELATIVE_URI`, sdk.md §4–5): ask
//!    the EKS Pod Identity agent with the token file's contents in `Authorization` ([`container`]).
//!
//! A web identity failure does not fall through to the container provider (sdk.md §4d).
//! The cache, retries and timeouts come from the pod's [`SdkProfile`] (`profile.rs`); container
//! credentials use the profile's `container_refresh` rule.

pub mod container;
pub mod profile;
#[cfg(test)]
mod sim_tests;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::http::{HttpClient, HttpError, Timeouts};
use crate::runtime::{self, fields};
pub use profile::{decide, CacheDecision, RefreshRule, RetryPolicy, SdkProfile};

/// A container's view of files: path → contents. The kubelet writes projected tokens here; the SDK reads.
pub type PodFs = Rc<RefCell<BTreeMap<String, Bytes>>>;

/// Temporary AWS credentials. `Debug` hides the secret parts.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration: SystemTime,
    /// Account id from the assumed-role ARN.
    pub account_id: String,
    /// `arn:aws:sts::<acct>:assumed-role/<role>/<session>`.
    pub assumed_role_arn: String,
    /// Which provider produced them (`web_identity`, `container`).
    pub source: &'static str,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .field("assumed_role_arn", &self.assumed_role_arn)
            .finish_non_exhaustive()
    }
}

/// Why no credentials could be had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SdkError {
    /// AWS error code (`InvalidIdentityToken`, `AccessDenied`, …) or a local one (`CredentialsNotLoaded`,
    /// `TokenFileUnreadable`, `timeout`, `connect_connectionrefused`, …).
    pub code: String,
    pub message: String,
}

impl SdkError {
    fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        SdkError { code: code.into(), message: message.into() }
    }
}

/// The SDK's credential chain and cache inside one container.
pub struct CredentialsProvider {
    profile: SdkProfile,
    env: BTreeMap<String, String>,
    fs: PodFs,
    http: HttpClient,
    cached: Option<(Credentials, Duration)>,
    /// Pod name, for the trace.
    pod: String,
}

impl CredentialsProvider {
    pub fn new(profile: SdkProfile, env: BTreeMap<String, String>, fs: PodFs, pod: String) -> Self {
        CredentialsProvider { profile, env, fs, http: HttpClient::new(), cached: None, pod }
    }

    /// Credentials for the next API call: cached when the profile says so, else loaded.
    pub async fn credentials(&mut self) -> Result<Credentials, SdkError> {
        if runtime::bug(crate::bugs::Bug::SdkIgnoresExpiry)
            && let Some((c, _)) = &self.cached
        {
            // Planted bug: cached credentials are returned forever. Every real SDK asks its cache rule
            // (`decide`, below) whether they are still usable, against their expiry.
            return Ok(c.clone());
        }
        let now = runtime::now();
        let decision = match &self.cached {
            None => CacheDecision::RefreshRequired,
            Some((c, jitter)) => decide(self.rule_for(c), c.expiration, now, *jitter),
        };
        if decision == CacheDecision::Use {
            return Ok(self.cached.as_ref().map(|(c, _)| c.clone()).expect("decision Use implies a cached value"));
        }
        let loaded = match self.profile.load_timeout {
            Some(t) => match tokio::time::timeout(t, self.load()).await {
                Ok(r) => r,
                Err(_) => Err(SdkError::new("IdentityLoadTimeout", format!("identity resolver timed out after {t:?}"))),
            },
            None => self.load().await,
        };
        match loaded {
            Ok(c) => {
                let jitter = match self.rule_for(&c) {
                    RefreshRule::Lazy { buffer, jitter_frac_max } => {
                        buffer.mul_f64(runtime::with_rng(|r| rand::RngExt::random_range(r, 0.0..jitter_frac_max)))
                    }
                    _ => Duration::ZERO,
                };
                self.cached = Some((c.clone(), jitter));
                Ok(c)
            }
            Err(e) if decision == CacheDecision::RefreshOptional => {
                runtime::record("sdk.refresh_failed_kept_cached", fields!["pod" => &self.pod, "code" => &e.code]);
                Ok(self.cached.as_ref().map(|(c, _)| c.clone()).expect("optional refresh implies a cached value"))
            }
            Err(e) => {
                if self.profile.name != crate::scenario::SdkName::Go {
                    // Rust clears the entry once in the buffer window; botocore raises in the mandatory window.
                    self.cached = None;
                }
                Err(e)
            }
        }
    }

    /// Walks the chain once.
    async fn load(&self) -> Result<Credentials, SdkError> {
        let role = self.env.get("AWS_ROLE_ARN");
        let token_file = self.env.get("AWS_WEB_IDENTITY_TOKEN_FILE");
        match (role, token_file) {
            (Some(role), Some(file)) => return self.web_identity(role, file).await,
            (None, Some(_)) if self.profile.name == crate::scenario::SdkName::Botocore => {
                // botocore: a token file without a role ARN aborts the chain (InvalidConfigError).
                return Err(SdkError::new("InvalidConfigError", "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not"));
            }
            _ => {}
        }
        if container::configured(&self.env) {
            return container::load(&self.http, &self.profile, &self.env, &self.fs, &self.pod).await;
        }
        Err(SdkError::new("CredentialsNotLoaded", "no credential provider in the chain could load credentials"))
    }

    /// The cache rule for credentials from `c`'s provider.
    fn rule_for(&self, c: &Credentials) -> RefreshRule {
        if c.source == "container" { self.profile.container_refresh } else { self.profile.refresh }
    }

    fn sts_url(&self) -> String {
        if let Some(u) = self.env.get("AWS_ENDPOINT_URL_STS").or_else(|| self.env.get("AWS_ENDPOINT_URL")) {
            return u.clone();
        }
        match self.env.get("AWS_REGION").or_else(|| self.env.get("AWS_DEFAULT_REGION")) {
            Some(r) => format!("https://sts.{r}.amazonaws.com/"),
            None => "https://sts.amazonaws.com/".to_string(),
        }
    }

    /// The web identity provider: token file → `AssumeRoleWithWebIdentity`, with the profile's retries.
    async fn web_identity(&self, role_arn: &str, token_file: &str) -> Result<Credentials, SdkError> {
        let token = match self.fs.borrow().get(token_file) {
            Some(t) => t.clone(),
            None => return Err(SdkError::new("TokenFileUnreadable", format!("could not read {token_file}: No such file or directory"))),
        };
        let token = String::from_utf8_lossy(&token).into_owned();
        let session = match self.env.get("AWS_ROLE_SESSION_NAME") {
            Some(s) => s.clone(),
            None => self.profile.default_session_name(runtime::now()),
        };
        let body = serde_urlencoded::to_string([
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", role_arn),
            ("RoleSessionName", &session),
            ("WebIdentityToken", &token),
        ])
        .unwrap_or_default();
        let url = self.sts_url();
        let retry = self.profile.retry;
        let mut attempt = 1;
        loop {
            let t0 = tokio::time::Instant::now();
            let req = http::Request::post("/")
                .header(::http::header::CONTENT_TYPE, self.profile.content_type)
                .header("amz-sdk-request", format!("attempt={attempt}; max={}", retry.attempts_max))
                .body(Bytes::from(body.clone()))
                .map_err(|e| SdkError::new("BuildRequest", e.to_string()))?;
            let timeouts = Timeouts { connect: self.profile.connect_timeout, request: self.profile.request_timeout };
            let result = match self.http.send(&url, req, timeouts).await {
                Ok(resp) => parse_assume_role_response(resp.status().as_u16(), resp.body()),
                Err(e) => Err(transport_error(&e)),
            };
            let ms = t0.elapsed().as_millis() as u64;
            match result {
                Ok(c) => {
                    runtime::record(
                        "sdk.sts_call",
                        fields!["pod" => &self.pod, "attempt" => attempt, "outcome" => "ok", "ms" => ms, "sdk" => self.profile.name.to_string(), "access_key_id" => &c.access_key_id],
                    );
                    return Ok(c);
                }
                Err(e) => {
                    runtime::record(
                        "sdk.sts_call",
                        fields!["pod" => &self.pod, "attempt" => attempt, "outcome" => &e.code, "ms" => ms, "sdk" => self.profile.name.to_string()],
                    );
                    let throttling = is_throttling(&e.code);
                    let retryable = throttling
                        || is_transient(&e.code)
                        || (retry.retry_invalid_identity_token && e.code == "InvalidIdentityToken");
                    if !retryable || attempt >= retry.attempts_max {
                        return Err(e);
                    }
                    let delay = runtime::with_rng(|r| retry.backoff(attempt, throttling, r));
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }
}

fn transport_error(e: &HttpError) -> SdkError {
    SdkError::new(e.code(), e.to_string())
}

fn is_throttling(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestThrottledException"
            | "TooManyRequestsException"
            | "ProvisionedThroughputExceededException"
            | "TransactionInProgressException"
            | "RequestLimitExceeded"
            | "BandwidthLimitExceeded"
            | "LimitExceededException"
            | "RequestThrottled"
            | "SlowDown"
            | "EC2ThrottledException"
    )
}

fn is_transient(code: &str) -> bool {
    matches!(
        code,
        "IDPCommunicationError" | "RequestTimeout" | "RequestTimeoutException" | "InternalFailure" | "ServiceUnavailable" | "http_500" | "http_502" | "http_503" | "http_504"
    ) || code.starts_with("connect_")
        || code == "timeout"
        || code == "io"
}

/// Parses an STS `AssumeRoleWithWebIdentity` response (XML result or XML error) the way the SDKs do.
pub fn parse_assume_role_response(status: u16, body: &[u8]) -> Result<Credentials, SdkError> {
    let xml = String::from_utf8_lossy(body);
    if status != 200 {
        let code = xml_text(&xml, &["Error", "Code"]).unwrap_or_else(|| format!("http_{status}"));
        let message = xml_text(&xml, &["Error", "Message"]).unwrap_or_default();
        return Err(SdkError::new(code, message));
    }
    // Rust: the first child of the response root must be the Result element (sdk.md §0.9).
    if first_child(&xml).as_deref() != Some("AssumeRoleWithWebIdentityResult") {
        return Err(SdkError::new("Unhandled", "response root's first child is not AssumeRoleWithWebIdentityResult"));
    }
    let get = |path: &[&str]| xml_text(&xml, path).ok_or_else(|| SdkError::new("Unhandled", "STS credentials must be defined"));
    let akid = get(&["Credentials", "AccessKeyId"])?;
    let secret = get(&["Credentials", "SecretAccessKey"])?;
    let token = get(&["Credentials", "SessionToken"])?;
    let exp = get(&["Credentials", "Expiration"])?;
    let arn = get(&["AssumedRoleUser", "Arn"])?;
    let expiration = parse_timestamp(&exp).ok_or_else(|| SdkError::new("Unhandled", format!("bad Expiration {exp:?}")))?;
    let account_id = arn.split(':').nth(4).filter(|_| arn.split(':').count() >= 6).map(str::to_string);
    let Some(account_id) = account_id else {
        return Err(SdkError::new("Unhandled", format!("bad AssumedRoleUser ARN {arn:?}")));
    };
    Ok(Credentials {
        access_key_id: akid,
        secret_access_key: secret,
        session_token: token,
        expiration,
        account_id,
        assumed_role_arn: arn,
        source: "web_identity",
    })
}

/// The `Error/Code` of an AWS query-protocol XML error body.
pub fn error_code(xml: &str) -> Option<String> {
    xml_text(xml, &["Error", "Code"])
}

/// Parses an ISO-8601 / RFC 3339 timestamp (offsets allowed, as the Rust SDK allows for STS).
pub fn parse_timestamp(s: &str) -> Option<SystemTime> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some(SystemTime::from(t))
}

/// Text of the first element reached by following `path` (element names, any depth between).
fn xml_text(xml: &str, path: &[&str]) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut matched = 0usize;
    let mut depth_stack: Vec<bool> = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let name = e.local_name().as_ref().to_string();
                let hit = matched < path.len() && name == path[matched];
                if hit {
                    matched += 1;
                }
                depth_stack.push(hit);
                if matched == path.len() {
                    return reader.read_text(e.name()).ok().map(|t| unescape(&t));
                }
            }
            Ok(Event::End(_)) if depth_stack.pop() == Some(true) => matched -= 1,
            Ok(Event::Eof) | Err(_) => return None,
            _ => {}
        }
    }
}

fn unescape(t: &str) -> String {
    quick_xml::escape::unescape(t).map(|c| c.into_owned()).unwrap_or_else(|_| t.to_string())
}

/// Name of the first child element of the root.
fn first_child(xml: &str) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut depth = 0;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                depth += 1;
                if depth == 2 {
                    return Some(e.local_name().as_ref().to_string());
                }
            }
            Ok(Event::Empty(e)) if depth == 1 => return Some(e.local_name().as_ref().to_string()),
            Ok(Event::End(_)) => depth -= 1,
            Ok(Event::Eof) | Err(_) => return None,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:default:reader</SubjectFromWebIdentityToken>
    <Audience>sts.amazonaws.com</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::111122223333:assumed-role/s3-reader/web-identity-token-1</Arn>
      <AssumedRoleId>AROAEXAMPLE:web-identity-token-1</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>tok</SessionToken>
      <SecretAccessKey>sec</SecretAccessKey>
      <Expiration>2027-01-15T01:00:00Z</Expiration>
      <AccessKeyId>ASIAEXAMPLE</AccessKeyId>
    </Credentials>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>"#;

    #[test]
    fn parses_success_in_any_child_order() {
        let c = parse_assume_role_response(200, OK.as_bytes()).unwrap();
        assert_eq!(c.access_key_id, "ASIAEXAMPLE");
        assert_eq!(c.account_id, "111122223333");
        assert_eq!(runtime::rfc3339(c.expiration), "2027-01-15T01:00:00Z");
    }

    #[test]
    fn rejects_metadata_first() {
        let swapped = OK.replace("<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>", "").replace(
            "<AssumeRoleWithWebIdentityResult>",
            "<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata><AssumeRoleWithWebIdentityResult>",
        );
        assert_eq!(parse_assume_role_response(200, swapped.as_bytes()).unwrap_err().code, "Unhandled");
    }

    #[test]
    fn parses_error_code_and_message() {
        let xml = r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>Incorrect token audience</Message></Error><RequestId>x</RequestId></ErrorResponse>"#;
        let e = parse_assume_role_response(400, xml.as_bytes()).unwrap_err();
        assert_eq!(e.code, "InvalidIdentityToken");
        assert_eq!(e.message, "Incorrect token audience");
        assert_eq!(parse_assume_role_response(503, b"").unwrap_err().code, "http_503");
    }

    #[test]
    fn transient_and_throttling_classes() {
        assert!(is_throttling("Throttling"));
        assert!(is_transient("IDPCommunicationError"));
        assert!(!is_transient("InvalidIdentityToken"));
        assert!(is_transient("http_503"));
    }
}
