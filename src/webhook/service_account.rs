//! What the webhook's ServiceAccount cache stores for one ServiceAccount.
//!
//! Upstream keeps a cluster-wide informer cache of ServiceAccounts and turns each into an `Entry`
//! (`pkg/cache/cache.go`, `addSA`) on every Add and Update event, annotated or not. The entry is
//! computed from the SA's `<prefix>/...` annotations and the flag defaults; the mutation then reads
//! only the entry. This module is that conversion. When and whether the SA is in the cache (the
//! informer lag, the grace period, the API fallback; reference §6) is the caller's business: the
//! caller passes the SA if the modelled cache has it, `None` otherwise.

use k8s_openapi::api::core::v1::ServiceAccount;

use super::config::{annotation, WebhookConfig, TOKEN_EXPIRATION_MIN_S};
use super::goparse;

/// The cache entry for one ServiceAccount (upstream `cache.Entry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountEntry {
    /// `<prefix>/role-arn`, composed into a full ARN under `--compose-role-arn`. Empty when the
    /// annotation is absent or empty: such an SA is cached but gets no IRSA.
    pub role_arn: String,
    /// `<prefix>/audience`, else `--token-audience`. An annotation present but empty stays empty.
    pub audience: String,
    /// `<prefix>/sts-regional-endpoints` if it parses as a Go bool, else `--sts-regional-endpoint`.
    pub use_regional_sts: bool,
    /// `<prefix>/token-expiration` if it parses as an integer (raised to 600), else
    /// `--token-expiration`. No maximum is enforced upstream.
    pub token_expiration_s: i64,
    /// What upstream logs while building the entry (invalid ARN, unparseable values). The values
    /// are still used or ignored exactly as described above; these are only for tracing.
    pub warnings: Vec<String>,
}

impl ServiceAccountEntry {
    /// Build the entry as `addSA` does.
    pub fn from_service_account(cfg: &WebhookConfig, sa: &ServiceAccount) -> Self {
        let annotations = sa.metadata.annotations.as_ref();
        let get = |name: &str| annotations.and_then(|a| a.get(&cfg.annotation_key(name))).map(String::as_str);
        let sa_key = format!(
            "{}/{}",
            sa.metadata.namespace.as_deref().unwrap_or(""),
            sa.metadata.name.as_deref().unwrap_or("")
        );
        let mut warnings = Vec::new();

        let mut role_arn = String::new();
        if let Some(arn) = get(annotation::ROLE_ARN) {
            role_arn = match &cfg.compose_role_arn {
                Some(compose) if !arn.contains("arn:") => {
                    format!("arn:{}:iam::{}:role/{}", compose.partition, compose.account_id, arn)
                }
                _ => arn.to_owned(),
            };
            if !goparse::is_valid_role_arn(&role_arn) {
                // Upstream only warns ("arn is invalid") and still uses the value.
                warnings.push(format!("service account {sa_key}: arn is invalid: {role_arn}"));
            }
        }

        let audience = get(annotation::AUDIENCE).unwrap_or(&cfg.token_audience).to_owned();

        let mut use_regional_sts = cfg.sts_regional_endpoint;
        if let Some(value) = get(annotation::STS_REGIONAL_ENDPOINTS) {
            match goparse::parse_bool(value) {
                Some(b) => use_regional_sts = b,
                None => warnings.push(format!(
                    "service account {sa_key}: ignoring invalid {} value {value:?}",
                    annotation::STS_REGIONAL_ENDPOINTS
                )),
            }
        }

        let mut token_expiration_s = cfg.token_expiration_default_s();
        if let Some(value) = get(annotation::TOKEN_EXPIRATION) {
            match goparse::parse_int(value) {
                Some(seconds) => token_expiration_s = seconds.max(TOKEN_EXPIRATION_MIN_S),
                None => warnings.push(format!(
                    "service account {sa_key}: invalid {} value {value:?}, using {token_expiration_s} seconds",
                    annotation::TOKEN_EXPIRATION
                )),
            }
        }

        ServiceAccountEntry { role_arn, audience, use_regional_sts, token_expiration_s, warnings }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::super::config::ComposeRoleArn;
    use super::*;

    fn sa(annotations: &[(&str, &str)]) -> ServiceAccount {
        ServiceAccount {
            metadata: ObjectMeta {
                name: Some("default".into()),
                namespace: Some("default".into()),
                annotations: Some(annotations.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<BTreeMap<_, _>>()),
                ..ObjectMeta::default()
            },
            ..ServiceAccount::default()
        }
    }

    #[test]
    fn unannotated_sa_gets_flag_defaults_and_no_role() {
        let e = ServiceAccountEntry::from_service_account(&WebhookConfig::default(), &sa(&[]));
        assert_eq!(e.role_arn, "");
        assert_eq!(e.audience, "sts.amazonaws.com");
        assert!(!e.use_regional_sts);
        assert_eq!(e.token_expiration_s, 86_400);
        assert!(e.warnings.is_empty());
    }

    /// `cache_test.go` truth table: annotation {true, false, "", absent} × flag {false, true}.
    #[test]
    fn sts_annotation_overrides_flag_both_ways() {
        for flag in [false, true] {
            let cfg = WebhookConfig { sts_regional_endpoint: flag, ..WebhookConfig::default() };
            let get = |ann: Option<&str>| {
                let s = match ann {
                    Some(v) => sa(&[("eks.amazonaws.com/sts-regional-endpoints", v)]),
                    None => sa(&[]),
                };
                ServiceAccountEntry::from_service_account(&cfg, &s).use_regional_sts
            };
            assert!(get(Some("true")));
            assert!(!get(Some("false")));
            assert_eq!(get(Some("")), flag);
            assert_eq!(get(None), flag);
        }
    }

    #[test]
    fn token_expiration_floor_applies_to_annotation_and_flag() {
        let cfg = WebhookConfig::default();
        let exp = |v: &str| {
            ServiceAccountEntry::from_service_account(&cfg, &sa(&[("eks.amazonaws.com/token-expiration", v)]))
                .token_expiration_s
        };
        assert_eq!(exp("100"), 600);
        assert_eq!(exp("-5"), 600);
        assert_eq!(exp("3600"), 3600);
        // No maximum upstream: passed through to the API server.
        assert_eq!(exp("172800"), 172_800);
        assert_eq!(exp("1h"), 86_400);
        let low_flag = WebhookConfig { token_expiration_s: 60, ..WebhookConfig::default() };
        assert_eq!(ServiceAccountEntry::from_service_account(&low_flag, &sa(&[])).token_expiration_s, 600);
    }

    #[test]
    fn annotation_prefix_is_configurable() {
        let cfg = WebhookConfig { annotation_prefix: "example.com".into(), ..WebhookConfig::default() };
        let e = ServiceAccountEntry::from_service_account(
            &cfg,
            &sa(&[
                ("eks.amazonaws.com/role-arn", "arn:aws:iam::111122223333:role/ignored"),
                ("example.com/role-arn", "arn:aws:iam::111122223333:role/used"),
                ("example.com/audience", "custom"),
            ]),
        );
        assert_eq!(e.role_arn, "arn:aws:iam::111122223333:role/used");
        assert_eq!(e.audience, "custom");
    }

    #[test]
    fn compose_role_arn_expands_bare_names_only() {
        let cfg = WebhookConfig {
            compose_role_arn: Some(ComposeRoleArn::from_region("cn-north-1", "111122223333")),
            ..WebhookConfig::default()
        };
        let role = |v: &str| ServiceAccountEntry::from_service_account(&cfg, &sa(&[("eks.amazonaws.com/role-arn", v)])).role_arn;
        assert_eq!(role("path/s3-reader"), "arn:aws-cn:iam::111122223333:role/path/s3-reader");
        assert_eq!(role("arn:aws:iam::444455556666:role/x"), "arn:aws:iam::444455556666:role/x");
        assert_eq!(ComposeRoleArn::from_region("us-isob-east-1", "1").partition, "aws-iso-b");
        assert_eq!(ComposeRoleArn::from_region("us-iso-east-1", "1").partition, "aws-iso");
        assert_eq!(ComposeRoleArn::from_region("us-gov-west-1", "1").partition, "aws-us-gov");
        assert_eq!(ComposeRoleArn::from_region("eusc-de-east-1", "1").partition, "aws-eusc");
        assert_eq!(ComposeRoleArn::from_region("eu-west-1", "1").partition, "aws");
    }

    #[test]
    fn invalid_arn_is_used_but_warned() {
        let e = ServiceAccountEntry::from_service_account(
            &WebhookConfig::default(),
            &sa(&[("eks.amazonaws.com/role-arn", "not-an-arn")]),
        );
        assert_eq!(e.role_arn, "not-an-arn");
        assert_eq!(e.warnings.len(), 1);
    }
}
