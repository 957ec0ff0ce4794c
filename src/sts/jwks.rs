//! How STS gets an issuer's signing keys: OIDC discovery, then the JWKS, cached per issuer.
//!
//! Facts (`sdk.md` §1.7, §2): STS fetches `<iss>/.well-known/openid-configuration`, then its
//! `jwks_uri`; IdP latency above 5 s fails the call; STS honours the JWKS `Cache-Control`
//! (`no-cache`, `no-store` or `max-age=0` made real STS refetch constantly); failures surface as
//! `InvalidIdentityToken` "Couldn't retrieve verification key…" (or, by configuration,
//! `IDPCommunicationError`). The cache TTL fallback and refetch policy are unknown upstream and
//! come from [`StsConfig`].
//!
//! The discovery document's `issuer` is not compared with `iss` (whether STS does is unknown);
//! only its `jwks_uri` is used.

use std::time::{Duration, SystemTime};

use super::{FetchError, StsConfig, StsEnv};
use crate::jwt::{Jwks, OidcDiscovery};

/// One issuer's cached key set.
#[derive(Clone, Debug)]
pub(crate) struct JwksEntry {
    pub jwks: Jwks,
    pub fetched_at: SystemTime,
    pub expires_at: SystemTime,
}

/// Why the keys could not be fetched (for the trace; the caller maps every case to the configured
/// outage error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum IdpFailure {
    Fetch(FetchError),
    Status(u16),
    Body(&'static str),
}

impl std::fmt::Display for IdpFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdpFailure::Fetch(e) => write!(f, "{e}"),
            IdpFailure::Status(s) => write!(f, "http {s}"),
            IdpFailure::Body(why) => f.write_str(why),
        }
    }
}

/// Fetches discovery and JWKS for `issuer` now. Never holds any STS state across an await.
pub(crate) async fn fetch(
    config: &StsConfig,
    issuer: &str,
    env: &dyn StsEnv,
) -> Result<JwksEntry, IdpFailure> {
    let timeout = Duration::from_millis(config.idp_fetch_timeout_ms);
    let discovery_url = OidcDiscovery::url_for_issuer(issuer);
    let (_, body) = get(env, "discovery", &discovery_url, timeout).await?;
    let discovery: OidcDiscovery = serde_json::from_slice(&body).map_err(|_| {
        record_failure(env, "discovery", &discovery_url, "bad json");
        IdpFailure::Body("discovery document is not valid JSON")
    })?;
    let (cache_control, body) = get(env, "jwks", &discovery.jwks_uri, timeout).await?;
    let jwks: Jwks = serde_json::from_slice(&body).map_err(|_| {
        record_failure(env, "jwks", &discovery.jwks_uri, "bad json");
        IdpFailure::Body("JWKS is not valid JSON")
    })?;
    let ttl_s = cache_ttl_s(cache_control.as_deref(), config);
    let now = env.now();
    Ok(JwksEntry {
        jwks,
        fetched_at: now,
        expires_at: now + Duration::from_secs(ttl_s),
    })
}

/// GET `url`; on 200 returns the `Cache-Control` header and the body.
async fn get(
    env: &dyn StsEnv,
    what: &str,
    url: &str,
    timeout: Duration,
) -> Result<(Option<String>, bytes::Bytes), IdpFailure> {
    let t0 = tokio::time::Instant::now();
    let ms = || t0.elapsed().as_millis().to_string();
    match env.fetch(url, timeout).await {
        Err(e) => {
            record_failure_ms(env, what, url, &e.to_string(), ms());
            Err(IdpFailure::Fetch(e))
        }
        Ok(resp) if resp.status() != http::StatusCode::OK => {
            record_failure_ms(env, what, url, &format!("http {}", resp.status().as_u16()), ms());
            Err(IdpFailure::Status(resp.status().as_u16()))
        }
        Ok(resp) => {
            env.record(
                "sts.idp_fetch",
                &[
                    ("what", what.to_owned()),
                    ("url", url.to_owned()),
                    ("outcome", "ok".to_owned()),
                    ("ms", ms()),
                ],
            );
            let cc = resp
                .headers()
                .get(http::header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            Ok((cc, resp.into_body()))
        }
    }
}

fn record_failure(env: &dyn StsEnv, what: &str, url: &str, outcome: &str) {
    record_failure_ms(env, what, url, outcome, "0".to_owned());
}

/// `sts.idp_fetch` for a failed GET; `ms` is how long the GET took (simulated).
fn record_failure_ms(env: &dyn StsEnv, what: &str, url: &str, outcome: &str, ms: String) {
    env.record(
        "sts.idp_fetch",
        &[
            ("what", what.to_owned()),
            ("url", url.to_owned()),
            ("outcome", outcome.to_owned()),
            ("ms", ms),
        ],
    );
}

/// Cache lifetime from `Cache-Control`: `no-cache`/`no-store` → 0, `max-age=N` → N, otherwise the
/// configured default; always capped at `jwks_cache_ttl_s_max`.
pub(crate) fn cache_ttl_s(cache_control: Option<&str>, config: &StsConfig) -> u64 {
    let mut ttl = config.jwks_cache_ttl_s_default;
    if let Some(cc) = cache_control {
        for directive in cc.split(',').map(|d| d.trim().to_ascii_lowercase()) {
            if directive == "no-cache" || directive == "no-store" {
                ttl = 0;
                break;
            }
            if let Some(n) = directive
                .strip_prefix("max-age=")
                .and_then(|n| n.trim_matches('"').parse::<u64>().ok())
            {
                ttl = n;
            }
        }
    }
    ttl.min(config.jwks_cache_ttl_s_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control() {
        let c = StsConfig::default();
        assert_eq!(cache_ttl_s(None, &c), 3600);
        assert_eq!(cache_ttl_s(Some("public, max-age=120"), &c), 120);
        assert_eq!(cache_ttl_s(Some("max-age=0"), &c), 0);
        assert_eq!(cache_ttl_s(Some("no-cache"), &c), 0);
        assert_eq!(cache_ttl_s(Some("max-age=999999999"), &c), 86400);
        assert_eq!(cache_ttl_s(Some("private"), &c), 3600);
    }
}
