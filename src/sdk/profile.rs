//! SDK profiles: how each real AWS SDK caches, refreshes and retries credentials.
//!
//! Facts from `shared/reference/sdk.md` §4 (aws-config 1.13.0 / aws-smithy-runtime 1.16.2, botocore
//! 1.44.8, aws-sdk-go-v2); each number below names its source.

use std::time::{Duration, SystemTime};

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::scenario::SdkName;

/// When cached credentials are refreshed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RefreshRule {
    /// aws-smithy-runtime's lazy identity cache: at load, `jitter = buffer × U[0, jitter_frac_max)` is
    /// drawn; the entry counts as expired when `now ≥ expiry + jitter − buffer`, i.e. 5–10 s early.
    /// Refresh happens only when a request needs credentials; a failed refresh fails the request (no
    /// stale fallback). `lazy.rs`: buffer_time 10 s, jitter U[0, 0.5).
    Lazy { buffer: Duration, jitter_frac_max: f64 },
    /// botocore `RefreshableCredentials`: inside the advisory window one refresh is tried and a failure
    /// keeps the old credentials; inside the mandatory window a failure is an error. 15 min / 10 min.
    Windows { advisory: Duration, mandatory: Duration },
    /// aws-sdk-go-v2 `CredentialsCache` with `ExpiryWindow` (0 for web identity: refresh once expired).
    ExpiryWindow { window: Duration },
}

/// How failed STS calls are retried.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts (standard retry mode: 3 in all three SDKs).
    pub attempts_max: u32,
    /// Backoff base for throttling errors.
    pub base_throttling: Duration,
    /// Backoff base for other transient errors (Rust retry spec 2.1 with the latest behaviour version: 50 ms).
    pub base_transient: Duration,
    /// Backoff cap (20 s in all three).
    pub backoff_max: Duration,
    /// Whether `InvalidIdentityToken` is retried (only aws-sdk-go-v2's web identity provider does).
    pub retry_invalid_identity_token: bool,
}

impl RetryPolicy {
    /// Full-jitter exponential backoff before attempt `attempt + 1` (attempt counts from 1).
    pub fn backoff(&self, attempt: u32, throttling: bool, rng: &mut ChaCha8Rng) -> Duration {
        let base = if throttling { self.base_throttling } else { self.base_transient };
        let exp = base.saturating_mul(1u32 << (attempt - 1).min(16)).min(self.backoff_max);
        exp.mul_f64(rng.random_range(0.0..1.0))
    }
}

/// Everything that makes one SDK behave like itself.
#[derive(Clone, Debug)]
pub struct SdkProfile {
    pub name: SdkName,
    pub refresh: RefreshRule,
    pub retry: RetryPolicy,
    /// Connect timeout for STS (Rust behaviour version ≥ v2026_01_12: 3.1 s; botocore 60 s; Go dialer 30 s).
    pub connect_timeout: Duration,
    /// Whole-request timeout for one STS attempt ([unk] per SDK; the Rust identity cache's pessimistic
    /// load timeout bounds the whole load at ≈21.6 s, see `load_timeout`).
    pub request_timeout: Duration,
    /// Upper bound on one whole credentials load, retries included (Rust: ≈21.6 s; others: none, so
    /// the sum of their attempts).
    pub load_timeout: Option<Duration>,
    /// `Content-Type` the SDK sends on the STS form body.
    pub content_type: &'static str,
    /// Cache rule for container credentials (sdk.md §5.3): Rust's lazy cache and botocore's windows
    /// as for any credentials; aws-sdk-go-v2's `config` wraps the container provider with
    /// `ExpiryWindow = 5 min`.
    pub container_refresh: RefreshRule,
    /// Connect timeout of the container provider (Rust 2 s hard-coded in `ecs.rs`; botocore 2 s
    /// `TIMEOUT_SECONDS`; Go's default dialer 30 s).
    pub container_connect_timeout: Duration,
    /// Whole-request timeout of one container provider attempt, connect included (Rust connect 2 s +
    /// read 5 s; botocore urllib3 connect 2 s + read 2 s; Go has none by default, so the sim bounds it
    /// at 30 s like its STS requests).
    pub container_request_timeout: Duration,
    /// Container provider attempts (3 in all three: Rust standard retry, botocore `RETRY_ATTEMPTS`,
    /// Go standard retryer).
    pub container_attempts_max: u32,
    /// botocore's fixed `SLEEP_TIME` (1 s) after every failed attempt, on any failure; `None`: the
    /// standard retry backoff of `retry`, on retryable failures only.
    pub container_retry_sleep: Option<Duration>,
}

impl SdkProfile {
    pub fn for_sdk(name: SdkName) -> SdkProfile {
        match name {
            SdkName::Rust => SdkProfile {
                name,
                refresh: RefreshRule::Lazy { buffer: Duration::from_secs(10), jitter_frac_max: 0.5 },
                retry: RetryPolicy {
                    attempts_max: 3,
                    base_throttling: Duration::from_secs(1),
                    base_transient: Duration::from_millis(50),
                    backoff_max: Duration::from_secs(20),
                    retry_invalid_identity_token: false,
                },
                connect_timeout: Duration::from_millis(3_100),
                request_timeout: Duration::from_secs(10),
                load_timeout: Some(Duration::from_millis(21_600)),
                content_type: "application/x-www-form-urlencoded",
                container_refresh: RefreshRule::Lazy { buffer: Duration::from_secs(10), jitter_frac_max: 0.5 },
                container_connect_timeout: Duration::from_secs(2),
                container_request_timeout: Duration::from_secs(7),
                container_attempts_max: 3,
                container_retry_sleep: None,
            },
            SdkName::Botocore => SdkProfile {
                name,
                refresh: RefreshRule::Windows { advisory: Duration::from_secs(15 * 60), mandatory: Duration::from_secs(10 * 60) },
                retry: RetryPolicy {
                    attempts_max: 3,
                    base_throttling: Duration::from_secs(1),
                    base_transient: Duration::from_secs(1),
                    backoff_max: Duration::from_secs(20),
                    retry_invalid_identity_token: false,
                },
                connect_timeout: Duration::from_secs(60),
                request_timeout: Duration::from_secs(60),
                load_timeout: None,
                content_type: "application/x-www-form-urlencoded; charset=utf-8",
                container_refresh: RefreshRule::Windows { advisory: Duration::from_secs(15 * 60), mandatory: Duration::from_secs(10 * 60) },
                container_connect_timeout: Duration::from_secs(2),
                container_request_timeout: Duration::from_secs(4),
                container_attempts_max: 3,
                container_retry_sleep: Some(Duration::from_secs(1)),
            },
            SdkName::Go => SdkProfile {
                name,
                refresh: RefreshRule::ExpiryWindow { window: Duration::ZERO },
                retry: RetryPolicy {
                    attempts_max: 3,
                    base_throttling: Duration::from_secs(1),
                    base_transient: Duration::from_secs(1),
                    backoff_max: Duration::from_secs(20),
                    retry_invalid_identity_token: true,
                },
                connect_timeout: Duration::from_secs(30),
                request_timeout: Duration::from_secs(30),
                load_timeout: None,
                content_type: "application/x-www-form-urlencoded",
                container_refresh: RefreshRule::ExpiryWindow { window: Duration::from_secs(5 * 60) },
                container_connect_timeout: Duration::from_secs(30),
                container_request_timeout: Duration::from_secs(30),
                container_attempts_max: 3,
                container_retry_sleep: None,
            },
        }
    }

    /// The role session name the SDK picks when `AWS_ROLE_SESSION_NAME` is unset (sdk.md §1.3).
    pub fn default_session_name(&self, now: SystemTime) -> String {
        let d = now.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        match self.name {
            SdkName::Rust => format!("web-identity-token-{}", d.as_millis()),
            SdkName::Botocore => format!("botocore-session-{}", d.as_secs()),
            SdkName::Go => format!("{}", d.as_nanos()),
        }
    }
}

/// What the cache should do with credentials expiring at `expiry` when asked at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheDecision {
    /// Use them.
    Use,
    /// Try to refresh; on failure keep using them (botocore advisory window).
    RefreshOptional,
    /// Refresh; on failure there are no credentials.
    RefreshRequired,
}

/// Applies a refresh rule. `jitter` is the Rust cache's per-load jitter (ignored by the others).
pub fn decide(rule: RefreshRule, expiry: SystemTime, now: SystemTime, jitter: Duration) -> CacheDecision {
    let remaining = expiry.duration_since(now).unwrap_or(Duration::ZERO);
    let expired = now >= expiry;
    match rule {
        RefreshRule::Lazy { buffer, .. } => {
            // expired when now >= expiry + jitter - buffer
            if now + buffer >= expiry + jitter { CacheDecision::RefreshRequired } else { CacheDecision::Use }
        }
        RefreshRule::Windows { advisory, mandatory } => {
            if expired || remaining <= mandatory {
                CacheDecision::RefreshRequired
            } else if remaining <= advisory {
                CacheDecision::RefreshOptional
            } else {
                CacheDecision::Use
            }
        }
        RefreshRule::ExpiryWindow { window } => {
            if expired || remaining <= window { CacheDecision::RefreshRequired } else { CacheDecision::Use }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> SystemTime {
        std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s)
    }

    #[test]
    fn rust_refreshes_between_5_and_10_s_before_expiry() {
        let rule = SdkProfile::for_sdk(SdkName::Rust).refresh;
        let expiry = t(3600);
        // Smallest jitter (0): expired from 10 s before expiry.
        assert_eq!(decide(rule, expiry, t(3589), Duration::ZERO), CacheDecision::Use);
        assert_eq!(decide(rule, expiry, t(3590), Duration::ZERO), CacheDecision::RefreshRequired);
        // Largest jitter (just under 5 s): expired from ~5 s before expiry.
        let j = Duration::from_millis(4_999);
        assert_eq!(decide(rule, expiry, t(3594), j), CacheDecision::Use);
        assert_eq!(decide(rule, expiry, t(3595), j), CacheDecision::RefreshRequired);
        // The probe in sdk.md §4a: a call at 3589 s reused, at 3597 s refreshed.
        assert_eq!(decide(rule, expiry, t(3597), j), CacheDecision::RefreshRequired);
    }

    #[test]
    fn botocore_advisory_then_mandatory() {
        let rule = SdkProfile::for_sdk(SdkName::Botocore).refresh;
        let expiry = t(3600);
        assert_eq!(decide(rule, expiry, t(2699), Duration::ZERO), CacheDecision::Use);
        assert_eq!(decide(rule, expiry, t(2700), Duration::ZERO), CacheDecision::RefreshOptional); // 15 min left
        assert_eq!(decide(rule, expiry, t(2999), Duration::ZERO), CacheDecision::RefreshOptional);
        assert_eq!(decide(rule, expiry, t(3000), Duration::ZERO), CacheDecision::RefreshRequired); // 10 min left
    }

    #[test]
    fn go_web_identity_refreshes_only_when_expired() {
        let rule = SdkProfile::for_sdk(SdkName::Go).refresh;
        let expiry = t(3600);
        assert_eq!(decide(rule, expiry, t(3599), Duration::ZERO), CacheDecision::Use);
        assert_eq!(decide(rule, expiry, t(3600), Duration::ZERO), CacheDecision::RefreshRequired);
    }

    #[test]
    fn go_container_credentials_refresh_5_min_early() {
        let p = SdkProfile::for_sdk(SdkName::Go);
        let expiry = t(3600);
        assert_eq!(decide(p.container_refresh, expiry, t(3299), Duration::ZERO), CacheDecision::Use);
        assert_eq!(decide(p.container_refresh, expiry, t(3300), Duration::ZERO), CacheDecision::RefreshRequired);
        // Rust and botocore use their usual rule for container credentials.
        assert_eq!(SdkProfile::for_sdk(SdkName::Rust).container_refresh, SdkProfile::for_sdk(SdkName::Rust).refresh);
        assert_eq!(SdkProfile::for_sdk(SdkName::Botocore).container_refresh, SdkProfile::for_sdk(SdkName::Botocore).refresh);
    }

    #[test]
    fn backoff_is_full_jitter_and_capped() {
        use rand::SeedableRng;
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let p = SdkProfile::for_sdk(SdkName::Rust).retry;
        for attempt in 1..10 {
            let d = p.backoff(attempt, false, &mut rng);
            assert!(d < Duration::from_millis(50) * (1 << (attempt - 1)).min(400));
            let d = p.backoff(attempt, true, &mut rng);
            assert!(d <= Duration::from_secs(20));
        }
    }

    #[test]
    fn session_names_follow_each_sdk() {
        let now = t(0);
        assert_eq!(SdkProfile::for_sdk(SdkName::Rust).default_session_name(now), "web-identity-token-1800000000000");
        assert_eq!(SdkProfile::for_sdk(SdkName::Botocore).default_session_name(now), "botocore-session-1800000000");
        assert_eq!(SdkProfile::for_sdk(SdkName::Go).default_session_name(now), "1800000000000000000");
    }
}
