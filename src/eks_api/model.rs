//! The `PodIdentityAssociation` resource, its JSON shapes (full, summary, propagated) and its
//! identifiers.
//!
//! Facts (`agent.md` §4, the trimmed EKS model, AWS CLI examples):
//! * ids are `a-` followed by 17 lower-case letters and digits (`a-8mvwvh57cu74mgcst`,
//!   `a-hglcskyuft3ui87hc`), 19 characters in all;
//! * ARNs are `arn:<partition>:eks:<region>:<account>:podidentityassociation/<cluster>/<id>`;
//! * the full shape lists `clusterName, namespace, serviceAccount, roleArn, associationArn,
//!   associationId, tags, createdAt, modifiedAt` in that order (CLI output), then the optional
//!   `ownerArn, disableSessionTags, targetRoleArn, externalId, policy`; `tags` is `{}` when empty;
//! * the summary (List) has `clusterName, namespace, serviceAccount, associationArn, associationId,
//!   ownerArn`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::wire::epoch_seconds;

/// Characters after `a-` in an association id.
pub const ASSOCIATION_ID_SUFFIX_LEN: usize = 17;
/// The whole id: `a-` + 17.
pub const ASSOCIATION_ID_LEN: usize = 2 + ASSOCIATION_ID_SUFFIX_LEN;
const ID_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// An association id from 17 random draws (each taken modulo the 36-character alphabet).
pub fn association_id(draws: impl IntoIterator<Item = u32>) -> String {
    let mut id = String::with_capacity(ASSOCIATION_ID_LEN);
    id.push_str("a-");
    id.extend(draws.into_iter().take(ASSOCIATION_ID_SUFFIX_LEN).map(|d| ID_ALPHABET[d as usize % ID_ALPHABET.len()] as char));
    assert_eq!(id.len(), ASSOCIATION_ID_LEN, "an association id needs 17 draws");
    id
}

/// Whether `id` has the shape of an association id.
pub fn is_association_id(id: &str) -> bool {
    id.len() == ASSOCIATION_ID_LEN
        && id.starts_with("a-")
        && id.bytes().skip(2).all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// One association, as the EKS API stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodIdentityAssociation {
    pub cluster_name: String,
    pub namespace: String,
    pub service_account: String,
    pub role_arn: String,
    pub association_arn: String,
    pub association_id: String,
    pub tags: BTreeMap<String, String>,
    /// Unix milliseconds (the EKS host's clock).
    pub created_at_ms: u64,
    /// Unix milliseconds.
    pub modified_at_ms: u64,
    /// Set when an EKS add-on owns the association; never set here (add-ons are not simulated).
    pub owner_arn: Option<String>,
    pub disable_session_tags: bool,
    pub target_role_arn: Option<String>,
    /// Set when there is a target role (see [`external_id`]).
    pub external_id: Option<String>,
    pub policy: Option<String>,
}

/// The `externalId` of an association with a target role.
///
/// The API model calls it "the unique identifier for this EKS Pod Identity association for a target IAM
/// role"; the EKS user guide gives the `sts:ExternalId` EKS passes as
/// `<region>/<account>/<cluster>/<namespace>/<service account>`. The two descriptions differ
/// (`iam.md` §1.8); this simulator uses the user guide's form, which is unique per association since a
/// namespace and service account have at most one.
pub fn external_id(region: &str, account: &str, cluster: &str, namespace: &str, service_account: &str) -> String {
    format!("{region}/{account}/{cluster}/{namespace}/{service_account}")
}

/// What EKS Auth and the webhook see of an association once it has propagated (simulator-only shape,
/// served by `GET /credsim-internal/clusters/{name}/pod-identity-associations`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropagatedAssociation {
    pub association_arn: String,
    pub association_id: String,
    pub cluster_name: String,
    pub namespace: String,
    pub service_account: String,
    pub role_arn: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_role_arn: Option<String>,
    pub disable_session_tags: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// The body of the simulator-only view: `{"associations": [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropagatedView {
    pub associations: Vec<PropagatedAssociation>,
}

impl PodIdentityAssociation {
    /// The full `PodIdentityAssociation` JSON shape.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("clusterName".into(), json!(self.cluster_name));
        m.insert("namespace".into(), json!(self.namespace));
        m.insert("serviceAccount".into(), json!(self.service_account));
        m.insert("roleArn".into(), json!(self.role_arn));
        m.insert("associationArn".into(), json!(self.association_arn));
        m.insert("associationId".into(), json!(self.association_id));
        m.insert("tags".into(), json!(self.tags));
        m.insert("createdAt".into(), epoch_seconds(self.created_at_ms));
        m.insert("modifiedAt".into(), epoch_seconds(self.modified_at_ms));
        if let Some(o) = &self.owner_arn {
            m.insert("ownerArn".into(), json!(o));
        }
        m.insert("disableSessionTags".into(), json!(self.disable_session_tags));
        if let Some(t) = &self.target_role_arn {
            m.insert("targetRoleArn".into(), json!(t));
        }
        if let Some(e) = &self.external_id {
            m.insert("externalId".into(), json!(e));
        }
        if let Some(p) = &self.policy {
            m.insert("policy".into(), json!(p));
        }
        Value::Object(m)
    }

    /// The `PodIdentityAssociationSummary` JSON shape (List).
    pub fn summary_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("clusterName".into(), json!(self.cluster_name));
        m.insert("namespace".into(), json!(self.namespace));
        m.insert("serviceAccount".into(), json!(self.service_account));
        m.insert("associationArn".into(), json!(self.association_arn));
        m.insert("associationId".into(), json!(self.association_id));
        if let Some(o) = &self.owner_arn {
            m.insert("ownerArn".into(), json!(o));
        }
        Value::Object(m)
    }

    /// What propagates to EKS Auth and the webhook.
    pub fn propagated(&self) -> PropagatedAssociation {
        PropagatedAssociation {
            association_arn: self.association_arn.clone(),
            association_id: self.association_id.clone(),
            cluster_name: self.cluster_name.clone(),
            namespace: self.namespace.clone(),
            service_account: self.service_account.clone(),
            role_arn: self.role_arn.clone(),
            target_role_arn: self.target_role_arn.clone(),
            disable_session_tags: self.disable_session_tags,
            policy: self.policy.clone(),
            external_id: self.external_id.clone(),
        }
    }
}
