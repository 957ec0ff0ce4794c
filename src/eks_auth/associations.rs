//! The Pod Identity associations EKS Auth resolves a service account with.
//!
//! In AWS, EKS Auth reads associations from the EKS control plane's store. Here it asks the
//! simulated EKS API over the network through a **simulator-only** endpoint (not an AWS API):
//! `GET {eks_api_url}/credsim-internal/clusters/{name}/pod-identity-associations` →
//! `200 {"associations": [{"associationArn", "associationId", "clusterName", "namespace",
//! "serviceAccount", "roleArn", "targetRoleArn"?, "disableSessionTags", "policy"?,
//! "externalId"?}]}`, already filtered by the EKS API's propagation delay ("several seconds"
//! before a create or update takes effect, `agent.md` §4). EKS Auth caches each cluster's list for
//! `associations_cache_ttl_s` (\[unk\]), which adds to that delay.
//!
//! One association per (namespace, service account) per cluster (`agent.md` §4); none →
//! `ResourceNotFoundException` (404).

use serde::{Deserialize, Serialize};

/// One association as the EKS API's internal endpoint sends it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Association {
    pub association_arn: String,
    pub association_id: String,
    #[serde(default)]
    pub cluster_name: String,
    pub namespace: String,
    pub service_account: String,
    pub role_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_role_arn: Option<String>,
    #[serde(default)]
    pub disable_session_tags: bool,
    /// Inline session policy (JSON text); requires `disable_session_tags` (EKS API rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The association's `externalId` (EKS API model), when the EKS API sends it: EKS Auth passes
    /// it as `ExternalId` on the target-role hop when session tags are off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// The body of the internal endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssociationList {
    pub associations: Vec<Association>,
}

/// The association of `namespace`/`service_account`, if any (exact, case-sensitive match, as
/// Kubernetes names are).
pub fn find<'a>(list: &'a [Association], namespace: &str, service_account: &str) -> Option<&'a Association> {
    list.iter().find(|a| a.namespace == namespace && a.service_account == service_account)
}

/// The path of the internal endpoint for a cluster.
pub fn internal_path(cluster: &str) -> String {
    format!("/credsim-internal/clusters/{cluster}/pod-identity-associations")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_internal_shape_and_finds_by_namespace_and_account() {
        let body = r#"{"associations": [
            {"associationArn": "arn:aws:eks:us-west-2:111122223333:podidentityassociation/demo/a-1",
             "associationId": "a-1", "clusterName": "demo", "namespace": "payments",
             "serviceAccount": "checkout", "roleArn": "arn:aws:iam::111122223333:role/r",
             "disableSessionTags": false},
            {"associationArn": "arn:aws:eks:us-west-2:111122223333:podidentityassociation/demo/a-2",
             "associationId": "a-2", "clusterName": "demo", "namespace": "payments",
             "serviceAccount": "batch", "roleArn": "arn:aws:iam::111122223333:role/r",
             "targetRoleArn": "arn:aws:iam::444455556666:role/t", "disableSessionTags": true,
             "policy": "{}"}
        ]}"#;
        let list: AssociationList = serde_json::from_str(body).unwrap();
        assert_eq!(find(&list.associations, "payments", "checkout").unwrap().association_id, "a-1");
        let b = find(&list.associations, "payments", "batch").unwrap();
        assert!(b.disable_session_tags);
        assert_eq!(b.target_role_arn.as_deref(), Some("arn:aws:iam::444455556666:role/t"));
        assert!(find(&list.associations, "payments", "Checkout").is_none());
        assert!(find(&list.associations, "other", "checkout").is_none());
    }
}
