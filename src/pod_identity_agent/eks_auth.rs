//! The agent's EKS Auth client: `AssumeRoleForPodIdentity` as aws-sdk-go-v2's `eksauth` client sends
//! it from `internal/cloud/eksauth/service.go` (`agent.md` §2 "Retries/timeouts", §3; models
//! `eks-auth-2023-11-26`).
//!
//! * `POST /clusters/{clusterName}/assume-role-for-pod-identity`, restJson1, body `{"token": …}`,
//!   SigV4 with signing name `eks-auth` and the node role's credentials;
//! * per attempt a 500 ms dial and a 1 s whole-request timeout (the agent's own `http.Client`);
//! * the SDK's standard retryer: 3 attempts, backoff `U[0,1) × 2^attempt` s capped at 20 s, retrying
//!   throttling codes, HTTP 500/502/503/504 and connection errors, under a client-side retry quota of
//!   500 tokens (5 per retry, 10 per timeout retry, +1 per first-try success);
//! * errors keep what `pkg/errors.HandleCredentialFetchingError` needs: the HTTP status and request id
//!   of the `ResponseError`, and the `APIError`'s code, message and fault.
//!
//! Parsing, classification and the agent's reply for an error are pure functions; [`EksAuthClient`]
//! is the thin async shell.

use std::cell::RefCell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::Value;

use super::validation::TokenIdentity;
use super::EksAuthClientConfig;
use crate::http::{HttpClient, HttpError, Timeouts};
use crate::runtime::{self, fields};

/// Credentials as the agent hands them to SDKs (`pkg/credentials/model.go`, `EksCredentialsResponse`).
#[derive(Clone, PartialEq, Eq)]
pub struct AgentCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub token: String,
    /// The account field of `assumedRoleUser.arn` (omitted from the JSON when empty).
    pub account_id: String,
    /// Millisecond precision, as smithy-go's `ParseEpochSeconds` keeps it.
    pub expiration: SystemTime,
}

impl std::fmt::Debug for AgentCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("account_id", &self.account_id)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

impl AgentCredentials {
    /// The body of a 200: `{"AccessKeyId","SecretAccessKey","Token","AccountId","Expiration"}` in this
    /// order, `AccountId` omitted when empty, `Expiration` RFC 3339 with nanoseconds (zeros trimmed), UTC.
    pub fn to_json(&self) -> String {
        let mut m = serde_json::Map::new();
        m.insert("AccessKeyId".into(), Value::from(self.access_key_id.as_str()));
        m.insert("SecretAccessKey".into(), Value::from(self.secret_access_key.as_str()));
        m.insert("Token".into(), Value::from(self.token.as_str()));
        if !self.account_id.is_empty() {
            m.insert("AccountId".into(), Value::from(self.account_id.as_str()));
        }
        m.insert("Expiration".into(), Value::from(rfc3339_nano(self.expiration)));
        Value::Object(m).to_string()
    }
}

/// Go's `time.Format(time.RFC3339Nano)` of a UTC time: fractional seconds with trailing zeros trimmed
/// (none at all for whole seconds), then `Z`.
pub fn rfc3339_nano(t: SystemTime) -> String {
    let odt = time::OffsetDateTime::from(t);
    let base = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        odt.year(),
        odt.month() as u8,
        odt.day(),
        odt.hour(),
        odt.minute(),
        odt.second()
    );
    let ns = odt.nanosecond();
    if ns == 0 {
        return format!("{base}Z");
    }
    let frac = format!("{ns:09}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

/// A successful `AssumeRoleForPodIdentity`.
#[derive(Clone, Debug)]
pub struct Fetched {
    pub credentials: AgentCredentials,
    pub association_id: String,
    /// `assumedRoleUser.arn` (for the trace).
    pub assumed_role_arn: String,
}

/// `smithy.ErrorFault` as the agent prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Client,
    Server,
    Unknown,
}

impl Fault {
    fn as_str(self) -> &'static str {
        match self {
            Fault::Client => "client",
            Fault::Server => "server",
            Fault::Unknown => "unknown",
        }
    }
}

/// Why no credentials came back.
#[derive(Clone, Debug, PartialEq)]
pub enum FetchError {
    /// EKS Auth answered with an error: a `ResponseError` (status, request id) around an `APIError`.
    Api { status: u16, request_id: String, code: String, message: String, fault: Fault },
    /// A response the SDK could not deserialise: a `ResponseError` with no `APIError` inside.
    Deserialize { status: u16, request_id: String, detail: String },
    /// No response: connect failure, timeout, cancellation (`ResponseError` with status 0).
    Transport { code: String, detail: String, timeout: bool, dns_not_found: bool },
    /// The service's 200 failed the agent's own checks (missing members, unparsable role ARN).
    Invalid(String),
    /// The fetched credentials have at most the minimum TTL left (the cache's check).
    TooShort { remaining_s: f64 },
    /// The cached retriever's own failure before any call (e.g. no pod UID to key the cache by).
    Local(String),
    /// The retry quota ran dry: the retry middleware returns the quota error in place of the attempt's
    /// (so no status passes through). `last_code` is the failed attempt's code, for the trace.
    QuotaExceeded { available: u32, cost: u32, last_code: String },
}

impl FetchError {
    /// The status the agent answers with (`HandleCredentialFetchingError`): the service's status when
    /// there was a response, else 500.
    pub fn http_status(&self) -> u16 {
        match self {
            FetchError::Api { status, .. } | FetchError::Deserialize { status, .. } if *status != 0 => *status,
            _ => 500,
        }
    }

    /// The plain-text body (without `http.Error`'s newline). `via_cache` adds the cached retriever's
    /// `error getting credentials to cache: ` wrapping, visible only for errors that are neither a
    /// `ResponseError` nor an `APIError`.
    pub fn body(&self, via_cache: bool) -> String {
        match self {
            FetchError::Api { request_id, code, message, fault, .. } => {
                format!("[{request_id}]: ({code}): {message}, fault: {}", fault.as_str())
            }
            FetchError::Deserialize { request_id, .. } => format!("[{request_id}]"),
            // smithy-go returns an empty response with the send error, so the ResponseError exists
            // (status 0, no request id) and it alone is printed.
            FetchError::Transport { .. } => "[]".to_string(),
            FetchError::Invalid(m) if via_cache => format!("error getting credentials to cache: {m}"),
            FetchError::Invalid(m) | FetchError::Local(m) => m.clone(),
            FetchError::TooShort { remaining_s } => {
                format!("fetched credentials are expired or will expire within the next {remaining_s:.2} seconds")
            }
            FetchError::QuotaExceeded { available, cost, .. } => format!(
                "{}unable to fetch credentials from EKS Auth: operation error EKS Auth: AssumeRoleForPodIdentity, failed to get rate limit token, retry quota exceeded, {available} available, {cost} requested",
                if via_cache { "error getting credentials to cache: " } else { "" }
            ),
        }
    }

    /// A short code for the trace and the cache's metrics: the EKS Auth error code, a transport code,
    /// or `Unknown` (what `IsIrrecoverableApiError` reports for non-API errors).
    pub fn code(&self) -> String {
        match self {
            FetchError::Api { code, .. } => code.clone(),
            FetchError::Transport { code, .. } => code.clone(),
            FetchError::QuotaExceeded { last_code, .. } => last_code.clone(),
            _ => "Unknown".to_string(),
        }
    }

    /// `eksauth.IsIrrecoverableApiError`: exactly these four modelled errors drop a cache entry.
    pub fn is_irrecoverable(&self) -> bool {
        match self {
            FetchError::Api { code, .. } => IRRECOVERABLE.iter().any(|c| c.eq_ignore_ascii_case(code)),
            _ => false,
        }
    }

    /// The standard retryer's `IsErrorRetryable`.
    pub fn is_retryable(&self) -> bool {
        match self {
            FetchError::Api { status, code, .. } => {
                RETRYABLE_STATUS.contains(status) || THROTTLE_CODES.contains(&code.as_str()) || TRANSIENT_CODES.contains(&code.as_str())
            }
            FetchError::Deserialize { status, .. } => RETRYABLE_STATUS.contains(status),
            // NXDOMAIN is not retried; every other dial or send failure is.
            FetchError::Transport { dns_not_found, .. } => !dns_not_found,
            _ => false,
        }
    }

    /// `IsErrorTimeout`: a timeout costs more retry quota.
    pub fn is_timeout(&self) -> bool {
        matches!(self, FetchError::Transport { timeout: true, .. })
    }
}

/// `internal/cloud/eksauth/errors.go`.
pub const IRRECOVERABLE: [&str; 4] =
    ["ResourceNotFoundException", "ExpiredTokenException", "InvalidTokenException", "AccessDeniedException"];

/// aws-sdk-go-v2 `retry.DefaultRetryableHTTPStatusCodes`.
const RETRYABLE_STATUS: [u16; 4] = [500, 502, 503, 504];

/// aws-sdk-go-v2 `retry.DefaultThrottleErrorCodes`.
const THROTTLE_CODES: [&str; 14] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// aws-sdk-go-v2 `retry.DefaultRetryableErrorCodes`.
const TRANSIENT_CODES: [&str; 2] = ["RequestTimeout", "RequestTimeoutException"];

/// Modelled EKS Auth errors and their fault; any other code becomes a `GenericAPIError` (fault unknown).
const MODELLED: [(&str, Fault); 9] = [
    ("AccessDeniedException", Fault::Client),
    ("ExpiredTokenException", Fault::Client),
    ("InvalidParameterException", Fault::Client),
    ("InvalidRequestException", Fault::Client),
    ("InvalidTokenException", Fault::Client),
    ("ResourceNotFoundException", Fault::Client),
    ("ThrottlingException", Fault::Client),
    ("InternalServerException", Fault::Server),
    ("ServiceUnavailableException", Fault::Server),
];

/// The request path for a cluster.
pub fn request_path(cluster: &str) -> String {
    format!("/clusters/{cluster}/assume-role-for-pod-identity")
}

/// The JSON body.
pub fn request_body(token: &str) -> String {
    serde_json::json!({ "token": token }).to_string()
}

/// `restjson.SanitizeErrorCode`: drop a `:…` suffix and a `namespace#` prefix.
fn sanitize_error_code(code: &str) -> String {
    let code = code.split(':').next().unwrap_or_default();
    code.rsplit('#').next().unwrap_or_default().to_string()
}

/// Deserialises a response as the generated restJson1 client and `service.go` do.
pub fn parse_response(status: u16, request_id: &str, error_type_header: Option<&str>, body: &[u8]) -> Result<Fetched, FetchError> {
    let request_id = request_id.to_string();
    if !(200..300).contains(&status) {
        // Error code: the header wins, then `code`/`__type` in the body; message from `message`.
        let header_code = error_type_header.filter(|h| !h.is_empty()).map(sanitize_error_code);
        let (body_code, message) = if body.iter().all(u8::is_ascii_whitespace) {
            (None, None)
        } else {
            match serde_json::from_slice::<Value>(body) {
                Ok(v) => {
                    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
                    (s("code").or_else(|| s("__type")).map(|c| sanitize_error_code(&c)), s("message").or_else(|| s("Message")))
                }
                Err(e) => return Err(FetchError::Deserialize { status, request_id, detail: format!("failed to decode response body, {e}") }),
            }
        };
        let code = header_code.or(body_code).unwrap_or_else(|| "UnknownError".to_string());
        let modelled = MODELLED.iter().find(|(c, _)| c.eq_ignore_ascii_case(&code));
        return Err(match modelled {
            Some((c, fault)) => FetchError::Api { status, request_id, code: (*c).to_string(), message: message.unwrap_or_default(), fault: *fault },
            None => FetchError::Api { status, request_id, message: message.unwrap_or_else(|| code.clone()), code, fault: Fault::Unknown },
        });
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| FetchError::Deserialize { status, request_id: request_id.clone(), detail: format!("failed to decode response body, {e}") })?;
    let creds = v.get("credentials").filter(|c| c.is_object());
    let user = v.get("assumedRoleUser").filter(|c| c.is_object());
    let (Some(creds), Some(user)) = (creds, user) else {
        return Err(FetchError::Invalid("invalid response from server: credentials or assumed role empty".into()));
    };
    let s = |o: &Value, k: &str| o.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let expiration = match creds.get("expiration") {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(other) if !other.is_null() => {
            return Err(FetchError::Deserialize {
                status,
                request_id,
                detail: "expected Timestamp to be a JSON Number".into(),
            });
        }
        _ => 0.0,
    };
    // smithy-go ParseEpochSeconds: milliseconds, truncated.
    let ms = (expiration * 1000.0).trunc() as i64;
    let expiration = if ms >= 0 { UNIX_EPOCH + Duration::from_millis(ms as u64) } else { UNIX_EPOCH };
    let arn = s(user, "arn");
    let account_id = parse_arn_account(&arn).map_err(|e| FetchError::Invalid(format!("unable to parse arn from assumed role: {e}")))?;
    let association_id = v.get("podIdentityAssociation").map(|a| s(a, "associationId")).unwrap_or_default();
    Ok(Fetched {
        credentials: AgentCredentials {
            access_key_id: s(creds, "accessKeyId"),
            secret_access_key: s(creds, "secretAccessKey"),
            token: s(creds, "sessionToken"),
            account_id,
            expiration,
        },
        association_id,
        assumed_role_arn: arn,
    })
}

/// aws-sdk-go-v2 `arn.Parse(...).AccountID`.
pub fn parse_arn_account(arn: &str) -> Result<String, &'static str> {
    if !arn.starts_with("arn:") {
        return Err("arn: invalid prefix");
    }
    let sections: Vec<&str> = arn.splitn(6, ':').collect();
    if sections.len() != 6 {
        return Err("arn: not enough sections");
    }
    Ok(sections[4].to_string())
}

/// `ExponentialJitterBackoff.BackoffDelay`: `u × 2^attempt` seconds (`u` in [0, 1)), capped; `attempt`
/// is the attempt that just failed, counting from 1.
pub fn backoff(attempt: u32, backoff_max: Duration, u: f64) -> Duration {
    let ceiling = Duration::from_secs(1u64 << attempt.min(30));
    if ceiling > backoff_max {
        return backoff_max;
    }
    ceiling.mul_f64(u)
}

/// The standard retryer's client-side retry quota (`ratelimit.TokenRateLimit`).
#[derive(Clone, Debug)]
pub struct RetryQuota {
    tokens: u32,
    max: u32,
}

impl RetryQuota {
    pub fn new(max: u32) -> RetryQuota {
        RetryQuota { tokens: max, max }
    }

    /// Takes `cost` tokens for a retry; false when there are not enough.
    pub fn take(&mut self, cost: u32) -> bool {
        if self.tokens < cost {
            return false;
        }
        self.tokens -= cost;
        true
    }

    /// Gives tokens back (a retried attempt succeeded, or a first try succeeded).
    pub fn give(&mut self, n: u32) {
        self.tokens = (self.tokens + n).min(self.max);
    }

    pub fn available(&self) -> u32 {
        self.tokens
    }
}

/// Why the agent called EKS Auth (for the trace).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// On a pod's request (cache miss, or no cache).
    Request,
    /// A background renewal by the cache's sweep.
    Renewal,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Request => "request",
            Purpose::Renewal => "renewal",
        }
    }
}

/// One credential server's EKS Auth client (each bind host has its own, as upstream builds one
/// handler, retriever and SDK client per server).
pub struct EksAuthClient {
    cfg: EksAuthClientConfig,
    http: HttpClient,
    quota: RefCell<RetryQuota>,
}

impl EksAuthClient {
    pub fn new(cfg: EksAuthClientConfig) -> EksAuthClient {
        let quota = RefCell::new(RetryQuota::new(cfg.retry_quota_tokens));
        EksAuthClient { cfg, http: HttpClient::new(), quota }
    }

    /// `AssumeRoleForPodIdentity` with the standard retryer.
    pub async fn assume_role_for_pod_identity(&self, token: &str, who: &TokenIdentity, purpose: Purpose) -> Result<Fetched, FetchError> {
        let max = self.cfg.attempts_max.max(1);
        let mut retry_cost: Option<u32> = None;
        let mut attempt = 1;
        loop {
            let t0 = tokio::time::Instant::now();
            let result = self.attempt(token, attempt, max).await;
            let (error_code, status) = match &result {
                Ok(_) => (String::new(), 200),
                Err(FetchError::Api { status, code, .. }) => (code.clone(), *status),
                Err(FetchError::Deserialize { status, .. }) => ("DeserializationError".to_string(), *status),
                Err(e) => (e.code(), 0),
            };
            runtime::record(
                "agent.eks_auth",
                fields![
                    "pod" => &who.pod,
                    "namespace" => &who.namespace,
                    "service_account" => &who.service_account,
                    "purpose" => purpose.as_str(),
                    "attempt" => attempt,
                    "status" => u64::from(status),
                    "error_code" => error_code,
                    "ms" => t0.elapsed().as_millis() as u64,
                ],
            );
            let err = match result {
                Ok(f) => {
                    let mut q = self.quota.borrow_mut();
                    match retry_cost {
                        Some(c) => q.give(c),
                        None => q.give(self.cfg.no_retry_increment),
                    }
                    return Ok(f);
                }
                Err(e) => e,
            };
            if !err.is_retryable() || attempt >= max {
                return Err(err);
            }
            let cost = if err.is_timeout() { self.cfg.retry_timeout_cost } else { self.cfg.retry_cost };
            let taken = {
                let mut quota = self.quota.borrow_mut();
                if quota.take(cost) { Ok(()) } else { Err(quota.available()) }
            };
            if let Err(available) = taken {
                return Err(FetchError::QuotaExceeded { available, cost, last_code: err.code() });
            }
            retry_cost = Some(cost);
            let u = runtime::with_rng(|r| rand::RngExt::random_range(r, 0.0..1.0));
            tokio::time::sleep(backoff(attempt, self.cfg.backoff_max, u)).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, token: &str, attempt: u32, max: u32) -> Result<Fetched, FetchError> {
        let target = crate::http::parse_url(&self.cfg.url).map_err(|e| transport(&e))?;
        let host = target.host_header.clone();
        let path = request_path(&self.cfg.cluster_name);
        let url = format!("{}{path}", self.cfg.url.trim_end_matches('/'));
        let body = request_body(token);
        let ct = "application/json";
        let nc = &self.cfg.node_credentials;
        let signed = crate::sigv4::sign_post(
            &nc.access_key_id,
            &nc.secret_access_key,
            &nc.session_token,
            &self.cfg.region,
            "eks-auth",
            &host,
            &path,
            ct,
            body.as_bytes(),
            runtime::now(),
        );
        let invocation = runtime::with_rng(|r| format!("{:032x}", rand::Rng::next_u64(r) as u128 | (u128::from(rand::Rng::next_u64(r)) << 64)));
        let req = http::Request::post("/")
            .header(::http::header::CONTENT_TYPE, ct)
            .header("x-amz-date", signed.amz_date)
            .header("x-amz-security-token", signed.security_token)
            .header(::http::header::AUTHORIZATION, signed.authorization)
            .header("amz-sdk-invocation-id", invocation)
            .header("amz-sdk-request", format!("attempt={attempt}; max={max}"))
            .body(Bytes::from(body))
            .map_err(|e| FetchError::Invalid(e.to_string()))?;
        let t = Timeouts { connect: self.cfg.connect_timeout, request: self.cfg.request_timeout };
        match self.http.send(&url, req, t).await {
            Ok(resp) => {
                let h = |k: &str| resp.headers().get(k).and_then(|v| v.to_str().ok());
                let request_id = h("x-amzn-requestid").or_else(|| h("x-amz-request-id")).unwrap_or_default();
                parse_response(resp.status().as_u16(), request_id, h("x-amzn-errortype"), resp.body())
            }
            Err(e) => Err(transport(&e)),
        }
    }
}

/// A transport failure as the retryer sees it.
pub fn transport(e: &HttpError) -> FetchError {
    let timeout = matches!(e, HttpError::Timeout(_) | HttpError::ConnectTimeout(_));
    let dns_not_found = matches!(e, HttpError::Connect { kind: std::io::ErrorKind::NotFound, .. });
    FetchError::Transport { code: e.code(), detail: e.to_string(), timeout, dns_not_found }
}
