//! S3 configuration: the endpoint's region, where to look sessions up, and every limit the service
//! applies, with its source. Where the real value is unknown the field says so (\[unk\]) and the default
//! is a documented modelling choice.

use std::time::Duration;

/// Configuration of one regional S3 endpoint (`s3.<region>.amazonaws.com`).
#[derive(Clone, Debug)]
pub struct S3Config {
    /// Region of this endpoint. A request signed for another region is refused with
    /// `AuthorizationHeaderMalformed` (400), as S3 does.
    pub region: String,
    /// Base URL of the STS endpoint whose simulator-only session lookup
    /// (`GET {sts_url}/credsim-internal/sessions/{access key id}`, see [`crate::sts::SessionInfo`])
    /// tells this service who holds an access key. A trailing `/` is ignored.
    pub sts_url: String,
    /// The account that owns every bucket. A caller from another account needs a bucket policy, and
    /// bucket policies are not modelled, so such requests are `AccessDenied`. `None` (the default) takes
    /// every bucket to be in the caller's own account: a modelling choice for single-account scenarios.
    pub bucket_owner_account: Option<String>,
    /// Largest difference between a request's `X-Amz-Date` and this host's clock before S3 answers
    /// `RequestTimeTooSkewed` (403): 15 minutes (S3 error reference; the SigV4 documentation's
    /// "within 15 minutes").
    pub max_request_skew: Duration,
    /// Whether `AccessDenied` messages carry the extra context S3 gives for same-account requests
    /// ("User: … is not authorized to perform: s3:GetObject on resource: "…" because no
    /// identity-based policy allows the s3:GetObject action"; S3 user guide, "Troubleshoot access
    /// denied (403 Forbidden) errors"). When false, or for anonymous and cross-account callers, the
    /// message is the classic "Access Denied". Default true.
    pub detailed_access_denied: bool,
    /// Timeout of one session lookup at STS. Its real counterpart (AWS's internal authentication) is
    /// \[unk\]; default 5 s. A lookup that fails or times out is `InternalError` (500).
    pub sts_lookup_timeout: Duration,
    /// Whether sessions are cached per access key until they expire (the default). A cached session
    /// keeps the identity policies it was looked up with: a later change to the role's policies reaches
    /// only sessions looked up afterwards (AWS documents policy changes as eventually consistent; the
    /// real delay is \[unk\]). When false, every request asks STS.
    pub cache_sessions: bool,
}

impl S3Config {
    /// Defaults for the endpoint in `region`, looking sessions up at `sts_url`.
    pub fn new(region: String, sts_url: String) -> S3Config {
        S3Config {
            region,
            sts_url,
            bucket_owner_account: None,
            max_request_skew: Duration::from_secs(15 * 60),
            detailed_access_denied: true,
            sts_lookup_timeout: Duration::from_secs(5),
            cache_sessions: true,
        }
    }

    /// The host name this endpoint serves: `s3.<region>.amazonaws.com`.
    pub fn host(&self) -> String {
        host(&self.region)
    }

    /// The session lookup URL for an access key id.
    pub(super) fn session_url(&self, access_key_id: &str) -> String {
        format!("{}{}{access_key_id}", self.sts_url.trim_end_matches('/'), crate::sts::internal::SESSIONS_PATH)
    }
}

/// The host name of the S3 endpoint in `region`: `s3.<region>.amazonaws.com`.
pub fn host(region: &str) -> String {
    format!("s3.{region}.amazonaws.com")
}
