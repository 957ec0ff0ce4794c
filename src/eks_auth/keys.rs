//! The signing keys EKS Auth verifies service-account tokens with: each cluster's JWKS, found
//! through its OIDC issuer's discovery document (`<issuer>/.well-known/openid-configuration`, then
//! `jwks_uri`), cached per issuer.
//!
//! Facts: the issuer serves discovery and JWKS with `Cache-Control: max-age` (`sdk.md` §2);
//! Kubernetes rotates keys with overlap, so a token may name a `kid` the cache has not seen yet.
//! How real EKS Auth obtains keys is not published (it is inside AWS and may read them from the
//! control plane directly, \[unk\]); fetching them from the public issuer like STS does is the
//! modelling choice, with the same cache rules as the STS actor: honour `max-age`
//! (`no-cache`/`no-store` → 0), fall back to `jwks_cache_ttl_s_default`, cap at
//! `jwks_cache_ttl_s_max`, and refetch once on an unknown `kid` at most every
//! `jwks_refetch_interval_s_min`.

use tokio::time::Instant;

use crate::jwt::{Jwk, Jwks};

/// One issuer's cached key set.
#[derive(Clone, Debug)]
pub struct KeysEntry {
    pub jwks: Jwks,
    pub fetched_at: Instant,
    pub expires_at: Instant,
}

impl KeysEntry {
    /// The RSA keys that may have signed a token with this `kid` (all RSA keys when it names none).
    pub fn candidates(&self, kid: Option<&str>) -> Vec<Jwk> {
        self.jwks
            .keys
            .iter()
            .filter(|k| k.kty == "RSA" && kid.is_none_or(|kid| k.kid == kid))
            .cloned()
            .collect()
    }
}

/// Cache lifetime from `Cache-Control`, in seconds: `no-cache`/`no-store` → 0, `max-age=N` → N,
/// otherwise `default_s`; never more than `max_s`.
pub fn cache_ttl_s(cache_control: Option<&str>, default_s: u64, max_s: u64) -> u64 {
    let mut ttl = default_s;
    if let Some(cc) = cache_control {
        for directive in cc.split(',').map(|d| d.trim().to_ascii_lowercase()) {
            if directive == "no-cache" || directive == "no-store" {
                ttl = 0;
                break;
            }
            if let Some(n) = directive.strip_prefix("max-age=").and_then(|n| n.trim_matches('"').parse::<u64>().ok()) {
                ttl = n;
            }
        }
    }
    ttl.min(max_s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control() {
        assert_eq!(cache_ttl_s(None, 3600, 86400), 3600);
        assert_eq!(cache_ttl_s(Some("public, max-age=120"), 3600, 86400), 120);
        assert_eq!(cache_ttl_s(Some("no-store"), 3600, 86400), 0);
        assert_eq!(cache_ttl_s(Some("max-age=999999"), 3600, 86400), 86400);
    }
}
