//! The webhook's view of EKS Pod Identity associations.
//!
//! Upstream learns associations from a JSON file (`--watch-container-credentials-config`,
//! `pkg/containercredentials/{config,types}.go`) shaped
//! `{"identities":[{"namespace":"<ns>","serviceAccount":"<sa>"}, ...]}`. Each entry is only a
//! `(namespace, serviceAccount)` pair: no role, audience or URI (those come from the
//! `--container-credentials-*` flags, and EKS Auth resolves the role later). Matching is exact, with
//! no wildcard. Reference §3.3.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::WebhookError;

/// One Pod Identity association as the webhook sees it (upstream `containercredentials.Identity`).
///
/// Pods whose `(request namespace, spec.serviceAccountName)` equal this pair get container
/// credentials instead of IRSA. That is all the webhook needs to decide: the association's IAM role
/// never reaches it.
///
/// Serialised as upstream's file entry; a missing key reads as `""`, as Go's `json.Unmarshal` does.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodIdentityAssociationRef {
    /// Namespace of the ServiceAccount (the AdmissionRequest's namespace, not the Pod's metadata).
    pub namespace: String,
    /// Name of the ServiceAccount.
    pub service_account: String,
}

impl PodIdentityAssociationRef {
    /// The association for `namespace/service_account`.
    pub fn new(namespace: impl Into<String>, service_account: impl Into<String>) -> Self {
        PodIdentityAssociationRef { namespace: namespace.into(), service_account: service_account.into() }
    }
}

/// The association file's top-level object (upstream `IdentityConfigObject`).
#[derive(Debug, Deserialize)]
struct IdentityConfigObject {
    #[serde(default)]
    identities: Option<Vec<PodIdentityAssociationRef>>,
}

/// Parse the association file as upstream's `FileConfig.Load` does: empty content clears the set
/// (Pod Identity off); malformed JSON is an error, on which upstream keeps the previous set and
/// retries with back-off (10 ms to 5 min), so callers should do the same.
pub fn parse_association_file(content: &[u8]) -> Result<BTreeSet<PodIdentityAssociationRef>, WebhookError> {
    if content.is_empty() {
        return Ok(BTreeSet::new());
    }
    let object: IdentityConfigObject = serde_json::from_slice(content)
        .map_err(|e| WebhookError::InvalidAssociationFile { reason: e.to_string() })?;
    Ok(object.identities.unwrap_or_default().into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn association_file_round_trip() {
        let set = parse_association_file(
            br#"{"identities":[{"namespace":"app","serviceAccount":"s3"},{"namespace":"app","serviceAccount":"s3"},{"namespace":"b","serviceAccount":"x"}]}"#,
        )
        .unwrap();
        assert_eq!(set.len(), 2);
        assert!(set.contains(&PodIdentityAssociationRef::new("app", "s3")));
        assert!(set.contains(&PodIdentityAssociationRef::new("b", "x")));
    }

    #[test]
    fn empty_file_clears_and_bad_json_is_an_error() {
        assert!(parse_association_file(b"").unwrap().is_empty());
        assert!(parse_association_file(b"{}").unwrap().is_empty());
        assert!(parse_association_file(br#"{"identities":null}"#).unwrap().is_empty());
        let err = parse_association_file(b"{\"identities\":[").unwrap_err();
        assert!(matches!(err, WebhookError::InvalidAssociationFile { .. }), "{err}");
    }
}
