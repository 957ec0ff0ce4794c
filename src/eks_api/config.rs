//! EKS API configuration: every limit and timing the simulated service applies, with its source. Where
//! the upstream value is unknown the field says so (\[unk\]) and the default is a documented modelling
//! choice.

/// Configuration of one regional EKS API endpoint (one account, one region).
#[derive(Clone, Debug)]
pub struct EksApiConfig {
    /// Region of this endpoint; it appears in association ARNs.
    pub region: String,
    /// The account that owns the clusters; it appears in association ARNs, and `roleArn` must be a role
    /// in it (`agent.md` §4: the caller needs `iam:PassRole`, so the role is in the cluster's account).
    pub account_id: String,
    /// ARN partition (`aws`, `aws-cn`, `aws-us-gov`).
    pub partition: String,

    /// Associations per cluster: 5,000 in the current EKS user guide, not adjustable (`agent.md` §4; the
    /// Dec 2024 guide said 1,000). Create beyond it is `ResourceLimitExceededException` (400).
    pub associations_per_cluster_max: usize,
    /// How long an association change (create, update, delete) takes to reach EKS Auth and the webhook,
    /// in milliseconds. The API reference says associations are eventually consistent and "may take
    /// several seconds to be effective" (`agent.md` §4); the real distribution is \[unk\]. Default 5000.
    pub propagation_delay_ms: u64,

    /// `maxResults` when `ListPodIdentityAssociations` gets none: "up to 100" (model documentation).
    pub list_max_results_default: usize,
    /// Largest `maxResults` accepted: 100 (model `ListPodIdentityAssociationsMaxResults`, 1–100).
    pub list_max_results_max: usize,
    /// Tags per association: 50 (model `TagMap` max), keys 1–128 and values at most 256 characters.
    pub tags_max: usize,
    /// Longest `policy` in characters. EKS's own limit is \[unk\]; the policy becomes an STS session
    /// policy, whose plaintext limit is 2,048 characters (`iam.md` §1.9), so EKS cannot usefully accept
    /// more. Default 2048.
    pub policy_chars_max: usize,
    /// `clientRequestToken`s remembered per cluster for idempotent retries (a bound; the real window is
    /// \[unk\]). The oldest token is forgotten first.
    pub client_request_tokens_max: usize,
}

impl EksApiConfig {
    /// Defaults for `account_id` in `region`.
    pub fn new(region: impl Into<String>, account_id: impl Into<String>) -> EksApiConfig {
        EksApiConfig {
            region: region.into(),
            account_id: account_id.into(),
            partition: "aws".to_owned(),
            associations_per_cluster_max: 5_000,
            propagation_delay_ms: 5_000,
            list_max_results_default: 100,
            list_max_results_max: 100,
            tags_max: 50,
            policy_chars_max: 2_048,
            client_request_tokens_max: 1_000,
        }
    }
}

impl Default for EksApiConfig {
    /// Account `111122223333` (the AWS documentation example account) in `us-west-2`.
    fn default() -> EksApiConfig {
        EksApiConfig::new("us-west-2", "111122223333")
    }
}
