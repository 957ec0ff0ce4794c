//! Scenario files: what a run simulates, in TOML.
//!
//! A scenario names a cluster (region, account, nodes), the IAM side (OIDC provider registration and
//! roles with trust policies), the Kubernetes side (ServiceAccounts with their annotations, workloads
//! of pods with an SDK profile and an arrival schedule), the network's latency, the duration and the
//! seed. `scenarios/irsa-basic.toml` is the built-in default and a commented example of every field.
//!
//! Errors name the file, the line and column, and the field (`role[0].trust_policy`), and never panic.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// The built-in default scenario (`scenarios/irsa-basic.toml`), compiled in so `credsim run` works
/// from anywhere.
pub const DEFAULT_SCENARIO: &str = include_str!("../scenarios/irsa-basic.toml");
/// Its file name, for messages.
pub const DEFAULT_SCENARIO_PATH: &str = "scenarios/irsa-basic.toml";

/// A whole scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub scenario: Meta,
    /// One `[cluster]` table, or several `[[cluster]]` entries.
    #[serde(rename = "cluster", deserialize_with = "one_or_many")]
    pub clusters: Vec<Cluster>,
    #[serde(default)]
    pub network: Network,
    #[serde(default, rename = "oidc_provider")]
    pub oidc_providers: Vec<OidcProvider>,
    #[serde(default, rename = "role")]
    pub roles: Vec<Role>,
    #[serde(default, rename = "service_account")]
    pub service_accounts: Vec<ServiceAccount>,
    #[serde(default, rename = "workload")]
    pub workloads: Vec<Workload>,
    /// EKS Pod Identity associations created at the start (after ServiceAccounts).
    #[serde(default, rename = "association")]
    pub associations: Vec<Association>,
    /// S3 buckets and their objects.
    #[serde(default, rename = "bucket")]
    pub buckets: Vec<Bucket>,
    /// Things the operator does at given times (associations, rolling restarts).
    #[serde(default, rename = "action")]
    pub actions: Vec<TimedAction>,
    #[serde(default)]
    pub sts: StsSettings,
    #[serde(default)]
    pub eks_auth: EksAuthSettings,
    #[serde(default)]
    pub kubelet: KubeletSettings,
    #[serde(default)]
    pub webhook: WebhookSettings,
    #[serde(default)]
    pub agent: AgentSettings,
    #[serde(default)]
    pub eks: EksSettings,
    #[serde(default)]
    pub iam: IamSettings,
    /// Faults injected at given times (see `faults`).
    #[serde(default, rename = "fault")]
    pub faults: Vec<crate::faults::Fault>,
    #[serde(default)]
    pub invariants: InvariantSettings,
}

/// `[invariants]`: the checkers' allowances (see `invariants`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvariantSettings {
    /// How long after the last fault heals every running pod must hold valid credentials again
    /// (default 15 minutes).
    #[serde(default)]
    pub liveness_deadline: Option<HumanDuration>,
    /// Service accounts whose pods are expected never to get credentials (a deliberately misconfigured
    /// workload, a cluster beyond a quota): `namespace/name` in every cluster, or
    /// `cluster/namespace/name` in one (a replica's name, e.g. `team-101`, works). The liveness checks
    /// leave them out.
    #[serde(default)]
    pub expected_to_fail: Vec<String>,
}

/// Accepts a table or an array of tables.
fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    // A visitor rather than an untagged enum: an untagged enum buffers its input, which loses the path
    // and line of an error inside the table (`cluster.nodes`), and replaces its message.
    struct OneOrMany<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for OneOrMany<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a table or an array of tables")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Vec<T>, A::Error> {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(|t| vec![t])
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Vec<T>, A::Error> {
            Vec::<T>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
        }
    }
    d.deserialize_any(OneOrMany(std::marker::PhantomData))
}

/// `[scenario]`: name, seed and length of the run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Default seed (`--seed` overrides it).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Simulated length of the run, e.g. `"26h"`.
    pub duration: HumanDuration,
}

fn default_seed() -> u64 {
    1
}

/// `[cluster]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    pub name: String,
    #[serde(default = "default_region")]
    pub region: String,
    #[serde(default = "default_account")]
    pub account_id: String,
    /// The 32 upper-case hex digits of the OIDC issuer id (`https://oidc.eks.<region>.amazonaws.com/id/<ID>`).
    /// Derived from the cluster name when absent, so trust policies stay valid across seeds.
    #[serde(default)]
    pub oidc_id: Option<String>,
    /// Number of worker nodes (`node-1` … `node-N`).
    pub nodes: u32,
    /// Copies of this cluster, named `<name>-001` …; `1` (the default) keeps the name as is.
    #[serde(default = "default_one")]
    pub replicas: u32,
    /// Register the cluster's issuer as an IAM OIDC provider (client id `sts.amazonaws.com`), as
    /// `eksctl utils associate-iam-oidc-provider` does. Needed for IRSA.
    #[serde(default = "default_true")]
    pub iam_oidc_provider: bool,
    /// Run the EKS Pod Identity Agent add-on on every node.
    #[serde(default = "default_true")]
    pub pod_identity_agent: bool,
    /// The cluster's IP family, `"ipv4"` (default) or `"ipv6"`. In an IPv6 cluster the webhook injects
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI=http://[fd00:ec2::23]/v1/credentials` and the agent also
    /// listens on `[fd00:ec2::23]:80`.
    #[serde(default)]
    pub ip_family: IpFamilySetting,
}

/// `ip_family` of a `[cluster]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpFamilySetting {
    #[default]
    Ipv4,
    Ipv6,
}

fn default_one() -> u32 {
    1
}
fn default_true() -> bool {
    true
}

fn default_region() -> String {
    "us-west-2".into()
}
fn default_account() -> String {
    "111122223333".into()
}

/// `[network]`: one-way latency of every link, uniform per packet.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    #[serde(default = "default_latency_min")]
    pub latency_us_min: u64,
    #[serde(default = "default_latency_max")]
    pub latency_us_max: u64,
}

impl Default for Network {
    fn default() -> Self {
        Network { latency_us_min: default_latency_min(), latency_us_max: default_latency_max() }
    }
}
fn default_latency_min() -> u64 {
    200
}
fn default_latency_max() -> u64 {
    1_000
}

/// `[[oidc_provider]]`: an IAM OIDC identity provider. Without any, the cluster's issuer is registered
/// with client id `sts.amazonaws.com` (what `eksctl utils associate-iam-oidc-provider` does).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProvider {
    /// Issuer URL; `"cluster"` (the default) means this cluster's issuer.
    #[serde(default = "default_cluster_issuer")]
    pub url: String,
    #[serde(default = "default_client_ids")]
    pub client_ids: Vec<String>,
    #[serde(default)]
    pub thumbprints: Vec<String>,
}

fn default_cluster_issuer() -> String {
    "cluster".into()
}
fn default_client_ids() -> Vec<String> {
    vec!["sts.amazonaws.com".into()]
}

/// `[[role]]`: an IAM role. The trust policy may use `${OIDC_PROVIDER}` (issuer without `https://`),
/// `${OIDC_PROVIDER_ARN}` and `${ACCOUNT_ID}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    pub name: String,
    /// The trust policy, inline JSON.
    #[serde(default)]
    pub trust_policy: Option<String>,
    /// Or a path to a JSON file, relative to the scenario file.
    #[serde(default)]
    pub trust_policy_file: Option<String>,
    /// `MaxSessionDuration`, seconds (IAM default 3600; 3600–43200).
    #[serde(default = "default_max_session")]
    pub max_session_duration_s: u64,
    /// Inline identity policies (`PutRolePolicy`).
    #[serde(default)]
    pub policies: Vec<InlinePolicy>,
}

/// An inline identity policy of a role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InlinePolicy {
    pub name: String,
    /// The policy, IAM JSON.
    pub document: String,
}

fn default_max_session() -> u64 {
    3600
}

/// `[[service_account]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccount {
    /// Cluster (base) name; every cluster when absent.
    #[serde(default)]
    pub cluster: Option<String>,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    pub name: String,
    /// Role name from `[[role]]`: sets `eks.amazonaws.com/role-arn` to its ARN.
    #[serde(default)]
    pub role: Option<String>,
    /// Any other annotations, verbatim.
    #[serde(default)]
    pub annotations: indexmap::IndexMap<String, String>,
}

fn default_namespace() -> String {
    "default".into()
}

/// The SDK whose credential behaviour a pod reproduces.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum SdkName {
    /// aws-config (Rust): lazy cache, refresh 5–10 s before expiry.
    Rust,
    /// botocore (Python): 15 min advisory / 10 min mandatory refresh.
    Botocore,
    /// aws-sdk-go-v2: no early refresh for web identity.
    Go,
}

impl fmt::Display for SdkName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SdkName::Rust => "rust",
            SdkName::Botocore => "botocore",
            SdkName::Go => "go",
        })
    }
}

/// What a pod does with its credentials each time it wakes.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Resolve credentials only (what every SDK call does first).
    Credentials,
    /// Resolve credentials and call STS `GetCallerIdentity` with them.
    GetCallerIdentity,
    /// Resolve credentials and read the workload's `s3_reads` objects.
    S3Get,
    /// Resolve credentials and write the workload's `s3_writes` objects (body: the pod's name).
    S3Put,
}

/// `[[association]]`: an EKS Pod Identity association.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Association {
    /// Cluster (base) name; every cluster when absent.
    #[serde(default)]
    pub cluster: Option<String>,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    pub service_account: String,
    /// Role name from `[[role]]`.
    pub role: String,
    /// Role name to chain into (`targetRoleArn`).
    #[serde(default)]
    pub target_role: Option<String>,
    #[serde(default)]
    pub disable_session_tags: bool,
    /// Session policy (IAM JSON).
    #[serde(default)]
    pub policy: Option<String>,
}

/// `[[bucket]]`: an S3 bucket with objects.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bucket {
    pub name: String,
    #[serde(default)]
    pub objects: Vec<Object>,
}

/// An object in a bucket. Its owning cluster (for the own/cross split of the summary) is its
/// `eks-cluster-name` tag.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Object {
    pub key: String,
    #[serde(default)]
    pub tags: indexmap::IndexMap<String, String>,
    #[serde(default)]
    pub body: String,
}

/// `[[action]]`: something the operator does at a time. (Unknown fields are refused by [`ActionKind`]:
/// serde cannot deny them on a struct that flattens.)
#[derive(Debug, Clone, Deserialize)]
pub struct TimedAction {
    pub at: HumanDuration,
    #[serde(flatten)]
    pub what: ActionKind,
}

/// What a timed action does.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ActionKind {
    /// `CreatePodIdentityAssociation`.
    CreateAssociation(Association),
    /// `UpdatePodIdentityAssociation` of a namespace/service account's association: the fields given
    /// replace the association's (`target_role = ""` removes the target role, `policy = ""` the policy).
    UpdateAssociation {
        #[serde(default)]
        cluster: Option<String>,
        #[serde(default = "default_namespace")]
        namespace: String,
        service_account: String,
        #[serde(default)]
        role: Option<String>,
        #[serde(default)]
        target_role: Option<String>,
        #[serde(default)]
        disable_session_tags: Option<bool>,
        #[serde(default)]
        policy: Option<String>,
    },
    /// `DeletePodIdentityAssociation` of a namespace/service account's association.
    DeleteAssociation {
        #[serde(default)]
        cluster: Option<String>,
        #[serde(default = "default_namespace")]
        namespace: String,
        service_account: String,
    },
    /// Replaces every pod of a workload, one at a time: the new pod is created, then after `pause` the
    /// old one is deleted (a Deployment rollout with maxSurge 1, maxUnavailable 0).
    RollingRestart {
        workload: String,
        #[serde(default)]
        cluster: Option<String>,
        #[serde(default = "default_pause")]
        pause: HumanDuration,
    },
}

fn default_pause() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}

/// `[[workload]]`: a set of identical pods.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    pub name: String,
    /// Cluster (base) name; every cluster when absent.
    #[serde(default)]
    pub cluster: Option<String>,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    pub service_account: String,
    /// Pods on every node.
    pub pods_per_node: u32,
    /// SDK profile of the pods.
    #[serde(default = "default_sdk")]
    pub sdk: SdkName,
    /// When the first pod is created.
    #[serde(default)]
    pub start: HumanDuration,
    /// Pods are created at uniformly random instants in `[start, start + spread]`.
    #[serde(default)]
    pub spread: HumanDuration,
    /// How often each pod uses its credentials.
    #[serde(default = "default_use_interval")]
    pub use_interval: HumanDuration,
    #[serde(default = "default_action")]
    pub action: Action,
    /// Pod annotations, verbatim (e.g. `eks.amazonaws.com/skip-containers`).
    #[serde(default)]
    pub annotations: indexmap::IndexMap<String, String>,
    /// With `action = "s3-get"`: objects read on every use, `"bucket/key"` or `"bucket/*"`.
    #[serde(default)]
    pub s3_reads: Vec<String>,
    /// With `action = "s3-put"`: objects written on every use, `"bucket/key"`; the key may use
    /// `${CLUSTER_NAME}` (and the other cluster variables).
    #[serde(default)]
    pub s3_writes: Vec<String>,
    /// Extra containers in each pod, after the workload's own (which runs the workload; sidecars run
    /// nothing), e.g. `["log-shipper"]` to pair with `annotations = { "eks.amazonaws.com/skip-containers"
    /// = "log-shipper" }`. Container names: DNS-1123 labels, unique in the pod. Default none.
    #[serde(default)]
    pub sidecars: Vec<String>,
}

fn default_sdk() -> SdkName {
    SdkName::Rust
}
fn default_use_interval() -> HumanDuration {
    HumanDuration(Duration::from_secs(300))
}
fn default_action() -> Action {
    Action::GetCallerIdentity
}

/// `[sts]`: STS model settings (see `sts::StsConfig` for defaults and sources).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StsSettings {
    /// Clock-skew allowance for `exp`/`nbf`/`iat`, seconds.
    #[serde(default)]
    pub leeway_s: Option<u64>,
    /// How long STS caches an issuer's JWKS, seconds.
    #[serde(default)]
    pub jwks_cache_s: Option<u64>,
}

/// `[eks_auth]`: EKS Auth model settings (see `eks_auth::EksAuthConfig` for defaults and sources).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EksAuthSettings {
    /// `AssumeRoleForPodIdentity` rate limit per account and region, requests per second (a token
    /// bucket). AWS publishes none; the default (50) is a modelling choice, so sweep it.
    #[serde(default)]
    pub throttle_rate_per_s: Option<u64>,
    /// The bucket's size (default 100).
    #[serde(default)]
    pub throttle_burst: Option<u64>,
}

/// `[kubelet]`: kubelet model settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeletSettings {
    /// Pod sync period, seconds (kubelet `--sync-frequency`, default 60).
    #[serde(default)]
    pub sync_period_s: Option<u64>,
}

/// `[webhook]`: webhook flags.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// `--token-expiration` default, seconds.
    #[serde(default)]
    pub token_expiration_s: Option<i64>,
    /// `--sts-regional-endpoint`.
    #[serde(default)]
    pub sts_regional_endpoint: Option<bool>,
}

/// `[agent]`: Pod Identity Agent settings (see `pod_identity_agent` for defaults and sources).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSettings {
    /// Key the cache by pod UID instead of by token (the newer agent's behaviour).
    #[serde(default)]
    pub cache_by_pod_uid: Option<bool>,
    /// `--max-credential-retention-before-renewal`, seconds.
    #[serde(default)]
    pub max_credential_retention_s: Option<u64>,
}

/// `[eks]`: EKS control-plane settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EksSettings {
    /// How long an association change takes to reach EKS Auth and the webhook, milliseconds.
    #[serde(default)]
    pub propagation_delay_ms: Option<u64>,
    /// Associations per cluster (EKS quota: 5,000).
    #[serde(default)]
    pub associations_per_cluster_max: Option<usize>,
}

/// `[iam]`: account quotas.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamSettings {
    /// OIDC providers per account (quota: 100).
    #[serde(default)]
    pub oidc_providers_max: Option<usize>,
    /// Trust policy size, characters without whitespace (2,048; raisable to 4,096).
    #[serde(default)]
    pub trust_policy_chars_max: Option<usize>,
}

/// A duration written as `"90s"`, `"15m"`, `"26h"`, `"2d"`, `"500ms"` or a number of seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(s) => Ok(HumanDuration(Duration::from_secs(s))),
            Raw::Text(t) => parse_duration(&t).map(HumanDuration).map_err(serde::de::Error::custom),
        }
    }
}

/// Parses a duration: a bare number of seconds (`"90"`), or `humantime`'s forms: `"500ms"`, `"90s"`,
/// `"15m"`, `"26h"`, `"2d"`, and combinations such as `"2h5m"` or `"1h 30m"`.
pub fn parse_duration(t: &str) -> Result<Duration, String> {
    let t = t.trim();
    if let Ok(n) = t.parse::<u64>() {
        return Ok(Duration::from_secs(n));
    }
    humantime::parse_duration(t).map_err(|e| format!("bad duration {t:?} ({e}): expected e.g. \"90s\", \"15m\", \"2h5m\", \"2d\""))
}

/// A scenario error that names where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub field: String,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        if !self.field.is_empty() {
            write!(f, ": field `{}`", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// A loaded scenario with what was needed to resolve it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub scenario: Scenario,
    /// Where it came from (for messages and reports).
    pub path: String,
    /// The scenario text as read.
    pub text: String,
    /// Trust policies by role name, after reading files (placeholders still unexpanded).
    pub trust_policies: Vec<String>,
}

/// Reads and validates a scenario file.
pub fn load_file(path: &Path) -> Result<Loaded, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        file: path.display().to_string(),
        line: None,
        column: None,
        field: String::new(),
        message: format!("cannot read: {e}"),
    })?;
    load_str(&text, &path.display().to_string(), path.parent())
}

/// Parses and validates scenario text. `base` resolves relative file references.
pub fn load_str(text: &str, file: &str, base: Option<&Path>) -> Result<Loaded, ScenarioError> {
    let err = |span: Option<std::ops::Range<usize>>, field: String, message: String| {
        let (line, column) = match span {
            Some(s) => {
                let (l, c) = line_col(text, s.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        ScenarioError { file: file.to_string(), line, column, field, message }
    };
    let de = toml::Deserializer::parse(text).map_err(|e| err(e.span(), String::new(), e.message().to_string()))?;
    let scenario: Scenario = serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        err(inner.span(), if field == "." { String::new() } else { field }, inner.message().to_string())
    })?;

    // Semantic checks, each naming the field and the line of its key.
    let at = |field: String, needle: &str, message: String| {
        let pos = find_key_line(text, needle);
        ScenarioError { file: file.to_string(), line: pos, column: None, field, message }
    };
    let s = &scenario;
    if s.clusters.is_empty() {
        return Err(at("cluster".into(), "[cluster]", "a scenario needs a [cluster]".into()));
    }
    for (i, c) in s.clusters.iter().enumerate() {
        let f = |k: &str| if s.clusters.len() == 1 { format!("cluster.{k}") } else { format!("cluster[{i}].{k}") };
        if c.nodes == 0 {
            return Err(at(f("nodes"), "nodes", "a cluster needs at least one node".into()));
        }
        if c.replicas == 0 {
            return Err(at(f("replicas"), "replicas", "must be at least 1".into()));
        }
        if let Some(id) = &c.oidc_id
            && (id.len() != 32 || !id.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()))
        {
            return Err(at(f("oidc_id"), "oidc_id", "must be 32 upper-case hex digits".into()));
        }
    }
    // A cluster is named by its base name (every replica) or by one replica's name (`<name>-001` …).
    let cluster_known = |c: &Option<String>| {
        c.as_ref().is_none_or(|c| {
            s.clusters.iter().any(|k| {
                &k.name == c
                    || (k.replicas > 1
                        && c.strip_prefix(&format!("{}-", k.name))
                            .and_then(|r| r.parse::<u32>().ok().filter(|_| r.len() == 3))
                            .is_some_and(|r| (1..=k.replicas).contains(&r)))
            })
        })
    };
    let role_known = |r: &str| s.roles.iter().any(|k| k.name == r);
    if s.scenario.duration.0.is_zero() {
        return Err(at("scenario.duration".into(), "duration", "the run must last longer than 0s".into()));
    }
    // The trust policy quota (ACLSizePerRole) is 2,048 by default and can be raised to at most 4,096.
    if let Some(m) = s.iam.trust_policy_chars_max
        && !(1..=4096).contains(&m)
    {
        return Err(at("iam.trust_policy_chars_max".into(), "trust_policy_chars_max", format!("{m} is outside the quota's range: IAM allows at most 4096 (the default is 2048)")));
    }
    if s.network.latency_us_min > s.network.latency_us_max {
        return Err(at("network.latency_us_min".into(), "latency_us_min", "must not exceed latency_us_max".into()));
    }
    let mut trust_policies = Vec::new();
    for (i, r) in s.roles.iter().enumerate() {
        let policy = match (&r.trust_policy, &r.trust_policy_file) {
            (Some(p), None) => p.clone(),
            (None, Some(f)) => {
                let p = base.unwrap_or(Path::new(".")).join(f);
                std::fs::read_to_string(&p).map_err(|e| {
                    at(format!("role[{i}].trust_policy_file"), "trust_policy_file", format!("cannot read {}: {e}", p.display()))
                })?
            }
            _ => {
                return Err(at(
                    format!("role[{i}]"),
                    &format!("name = \"{}\"", r.name),
                    "give exactly one of trust_policy or trust_policy_file".into(),
                ));
            }
        };
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&policy) {
            return Err(at(format!("role[{i}].trust_policy"), "trust_policy", format!("not JSON: {e}")));
        }
        trust_policies.push(policy);
    }
    for (i, sa) in s.service_accounts.iter().enumerate() {
        if let Some(role) = &sa.role
            && !s.roles.iter().any(|r| &r.name == role)
        {
            return Err(at(format!("service_account[{i}].role"), &format!("role = \"{role}\""), format!("no [[role]] named {role:?}")));
        }
    }
    for (i, a) in s.associations.iter().enumerate() {
        check_association(a, &format!("association[{i}]"), &cluster_known, &role_known, &at)?;
    }
    for (i, a) in s.actions.iter().enumerate() {
        match &a.what {
            ActionKind::CreateAssociation(a) => check_association(a, &format!("action[{i}]"), &cluster_known, &role_known, &at)?,
            ActionKind::UpdateAssociation { cluster, role, target_role, .. } => {
                if !cluster_known(cluster) {
                    return Err(at(format!("action[{i}].cluster"), "cluster", format!("no [[cluster]] named {cluster:?}")));
                }
                for (name, r) in [("role", role), ("target_role", target_role)] {
                    if let Some(r) = r.as_deref().filter(|r| !r.is_empty())
                        && !role_known(r)
                    {
                        return Err(at(format!("action[{i}].{name}"), name, format!("no [[role]] named {r:?}")));
                    }
                }
            }
            ActionKind::DeleteAssociation { cluster, .. } if !cluster_known(cluster) => {
                return Err(at(format!("action[{i}].cluster"), "cluster", format!("no [[cluster]] named {cluster:?}")));
            }
            ActionKind::RollingRestart { workload, cluster, .. } => {
                if !s.workloads.iter().any(|w| &w.name == workload) {
                    return Err(at(format!("action[{i}].workload"), &format!("workload = \"{workload}\""), format!("no [[workload]] named {workload:?}")));
                }
                if !cluster_known(cluster) {
                    return Err(at(format!("action[{i}].cluster"), "cluster", format!("no [[cluster]] named {cluster:?}")));
                }
            }
            _ => {}
        }
    }
    for (i, w) in s.workloads.iter().enumerate() {
        if !cluster_known(&w.cluster) {
            return Err(at(format!("workload[{i}].cluster"), "cluster", format!("no [[cluster]] named {:?}", w.cluster)));
        }
        for (field, list) in [("s3_reads", &w.s3_reads), ("s3_writes", &w.s3_writes)] {
            for (j, r) in list.iter().enumerate() {
                let ok = r.split_once('/').is_some_and(|(b, k)| !k.is_empty() && s.buckets.iter().any(|x| x.name == b));
                if !ok {
                    return Err(at(format!("workload[{i}].{field}[{j}]"), r, format!("{r:?} is not \"bucket/key\" of a [[bucket]]")));
                }
            }
        }
        for (j, c) in w.sidecars.iter().enumerate() {
            let label = !c.is_empty()
                && c.len() <= 63
                && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !c.starts_with('-')
                && !c.ends_with('-');
            let field = format!("workload[{i}].sidecars[{j}]");
            if !label {
                return Err(at(field, "sidecars", format!("{c:?} is not a container name (a DNS-1123 label: a-z, 0-9, '-', at most 63)")));
            }
            if *c == w.name || w.sidecars[..j].contains(c) {
                return Err(at(field, "sidecars", format!("container name {c:?} appears twice in the pod (the workload's container is {:?})", w.name)));
            }
        }
        if !s.service_accounts.iter().any(|sa| sa.name == w.service_account && sa.namespace == w.namespace) {
            return Err(at(
                format!("workload[{i}].service_account"),
                &format!("service_account = \"{}\"", w.service_account),
                format!("no [[service_account]] {}/{}", w.namespace, w.service_account),
            ));
        }
        if w.use_interval.0.is_zero() {
            return Err(at(format!("workload[{i}].use_interval"), "use_interval", "must be longer than 0s".into()));
        }
    }
    for (i, f) in s.faults.iter().enumerate() {
        let here = |field: &str, message: String| ScenarioError {
            file: file.to_string(),
            line: entry_key_line(text, "[[fault]]", i, &format!("{field} =")),
            column: None,
            field: format!("fault[{i}].{field}"),
            message,
        };
        if let Err((field, message)) = f.validate() {
            return Err(here(&field, message));
        }
        if f.at.0 >= s.scenario.duration.0 {
            let ends = crate::faults::fmt_duration(s.scenario.duration.0);
            return Err(here("at", format!("the fault starts at {} but the run ends at {ends}", crate::faults::fmt_duration(f.at.0))));
        }
    }
    for (i, entry) in s.invariants.expected_to_fail.iter().enumerate() {
        let parts: Vec<&str> = entry.split('/').collect();
        let (cluster, sa) = match parts.as_slice() {
            [ns, name] => (None, format!("{ns}/{name}")),
            [c, ns, name] => (Some(c.to_string()), format!("{ns}/{name}")),
            _ => (None, String::new()),
        };
        if !s.service_accounts.iter().any(|k| format!("{}/{}", k.namespace, k.name) == sa) || !cluster_known(&cluster) {
            return Err(at(
                format!("invariants.expected_to_fail[{i}]"),
                "expected_to_fail",
                format!("no [[service_account]] {entry:?} (write namespace/name or cluster/namespace/name)"),
            ));
        }
    }
    Ok(Loaded { scenario, path: file.to_string(), text: text.to_string(), trust_policies })
}

impl Loaded {
    /// The first line of the scenario text that contains `needle` (for errors found after parsing).
    pub fn line_of(&self, needle: &str) -> Option<usize> {
        find_key_line(&self.text, needle)
    }
}

fn check_association(
    a: &Association,
    field: &str,
    cluster_known: &dyn Fn(&Option<String>) -> bool,
    role_known: &dyn Fn(&str) -> bool,
    at: &dyn Fn(String, &str, String) -> ScenarioError,
) -> Result<(), ScenarioError> {
    if !cluster_known(&a.cluster) {
        return Err(at(format!("{field}.cluster"), "cluster", format!("no [[cluster]] named {:?}", a.cluster)));
    }
    if !role_known(&a.role) {
        return Err(at(format!("{field}.role"), &format!("role = \"{}\"", a.role), format!("no [[role]] named {:?}", a.role)));
    }
    if let Some(t) = &a.target_role
        && !role_known(t)
    {
        return Err(at(format!("{field}.target_role"), "target_role", format!("no [[role]] named {t:?}")));
    }
    Ok(())
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn find_key_line(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.trim_start().starts_with(needle) || l.contains(needle)).map(|i| i + 1)
}

/// The line of `needle` inside the `n`-th (0-based) `[[header]]` entry, else the entry's header line.
pub fn entry_key_line(text: &str, header: &str, n: usize, needle: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let starts: Vec<usize> = lines.iter().enumerate().filter(|(_, l)| l.trim() == header).map(|(i, _)| i).collect();
    let start = *starts.get(n)?;
    let end = lines.iter().enumerate().skip(start + 1).find(|(_, l)| l.trim_start().starts_with('[')).map_or(lines.len(), |(i, _)| i);
    let found = (start + 1..end).find(|&i| lines[i].trim_start().starts_with(needle));
    Some(found.unwrap_or(start) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scenario_loads() {
        let l = load_str(DEFAULT_SCENARIO, DEFAULT_SCENARIO_PATH, None).unwrap();
        assert_eq!(l.scenario.clusters[0].nodes, 3);
        assert_eq!(l.scenario.scenario.duration.0, Duration::from_secs(26 * 3600));
    }

    #[test]
    fn eks_auth_rate_limit_is_a_scenario_setting() {
        let text = format!("{DEFAULT_SCENARIO}\n[eks_auth]\nthrottle_rate_per_s = 7\nthrottle_burst = 9\n");
        let l = load_str(&text, "x.toml", None).unwrap();
        assert_eq!((l.scenario.eks_auth.throttle_rate_per_s, l.scenario.eks_auth.throttle_burst), (Some(7), Some(9)));
        let e = load_str(&format!("{DEFAULT_SCENARIO}\n[eks_auth]\nrate = 7\n"), "x.toml", None).unwrap_err();
        assert!(e.to_string().contains("rate"), "{e}");
    }

    #[test]
    fn syntax_error_names_line() {
        let e = load_str("[scenario]\nname = \"x\"\nduration = \n", "x.toml", None).unwrap_err();
        assert_eq!(e.file, "x.toml");
        assert_eq!(e.line, Some(3));
    }

    #[test]
    fn type_error_names_field_and_line() {
        let text = "[scenario]\nname = \"x\"\nduration = \"1h\"\n[cluster]\nname = \"c\"\nnodes = \"three\"\n";
        let e = load_str(text, "x.toml", None).unwrap_err();
        assert_eq!(e.field, "cluster.nodes");
        assert_eq!(e.line, Some(6));
        assert!(e.to_string().starts_with("x.toml:6:"), "{e}");
    }

    #[test]
    fn unknown_field_is_rejected() {
        let text = "[scenario]\nname = \"x\"\nduration = \"1h\"\nsead = 3\n[cluster]\nname = \"c\"\nnodes = 1\n";
        let e = load_str(text, "x.toml", None).unwrap_err();
        assert!(e.message.contains("sead"), "{e}");
        assert_eq!(e.line, Some(4));
    }

    #[test]
    fn bad_duration_is_explained() {
        let text = "[scenario]\nname = \"x\"\nduration = \"twenty-six hours\"\n[cluster]\nname = \"c\"\nnodes = 1\n";
        let e = load_str(text, "x.toml", None).unwrap_err();
        assert_eq!(e.field, "scenario.duration");
        assert!(e.message.contains("bad duration"), "{e}");
    }

    #[test]
    fn durations_combine_units() {
        assert_eq!(parse_duration("2h5m"), Ok(Duration::from_secs(2 * 3600 + 300)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("99999999999999999999d").is_err(), "overflow is an error, not a panic");
    }

    #[test]
    fn unknown_field_in_an_action_is_rejected() {
        let text = "[scenario]\nname = \"x\"\nduration = \"1h\"\n[cluster]\nname = \"c\"\nnodes = 1\n\
                    [[workload]]\nname = \"w\"\nservice_account = \"a\"\npods_per_node = 1\n\
                    [[action]]\nat = \"1m\"\nkind = \"rolling-restart\"\nworkload = \"w\"\nbogus = 1\n";
        let e = load_str(text, "x.toml", None).unwrap_err();
        assert!(e.message.contains("bogus"), "{e}");
        assert_eq!(e.field, "action[0]");
    }

    #[test]
    fn a_replica_is_named_by_its_number() {
        let base = "[scenario]\nname = \"x\"\nduration = \"1h\"\n[cluster]\nname = \"team\"\nnodes = 1\nreplicas = 3\n\
                    [[service_account]]\nname = \"a\"\n[[workload]]\nname = \"w\"\nservice_account = \"a\"\npods_per_node = 1\n";
        assert!(load_str(&format!("{base}cluster = \"team-003\"\n"), "x.toml", None).is_ok());
        assert!(load_str(&format!("{base}cluster = \"team\"\n"), "x.toml", None).is_ok());
        let e = load_str(&format!("{base}cluster = \"team-004\"\n"), "x.toml", None).unwrap_err();
        assert_eq!(e.field, "workload[0].cluster");
    }

    #[test]
    fn sidecars_default_to_none_and_must_be_unique_container_names() {
        let base = "[scenario]\nname = \"x\"\nduration = \"1h\"\n[cluster]\nname = \"c\"\nnodes = 1\n\
                    [[service_account]]\nname = \"a\"\n[[workload]]\nname = \"w\"\nservice_account = \"a\"\npods_per_node = 1\n";
        let l = load_str(base, "x.toml", None).unwrap();
        assert!(l.scenario.workloads[0].sidecars.is_empty());
        let ok = format!("{base}sidecars = [\"log-shipper\"]\nannotations = {{ \"eks.amazonaws.com/skip-containers\" = \"log-shipper\" }}\n");
        assert_eq!(load_str(&ok, "x.toml", None).unwrap().scenario.workloads[0].sidecars, ["log-shipper"]);
        // (sidecars value, field named in the error)
        let cases = [
            ("[\"Log_Shipper\"]", "workload[0].sidecars[0]"),
            ("[\"\"]", "workload[0].sidecars[0]"),
            ("[\"log\", \"log\"]", "workload[0].sidecars[1]"),
            ("[\"w\"]", "workload[0].sidecars[0]"),
            ("\"log-shipper\"", "workload[0].sidecars"),
        ];
        for (value, field) in cases {
            let e = load_str(&format!("{base}sidecars = {value}\n"), "x.toml", None).unwrap_err();
            assert_eq!(e.field, field, "{value}: {e}");
            assert_eq!(e.line, Some(13), "{value}: {e}");
        }
    }

    #[test]
    fn dangling_role_reference_names_field() {
        let text = "[scenario]\nname = \"x\"\nduration = \"1h\"\n[cluster]\nname = \"c\"\nnodes = 1\n\
                    [[service_account]]\nname = \"a\"\nrole = \"nope\"\n";
        let e = load_str(text, "x.toml", None).unwrap_err();
        assert_eq!(e.field, "service_account[0].role");
        assert_eq!(e.line, Some(9));
    }

    #[test]
    fn faults_and_expected_failures_are_checked_and_located() {
        let base = "[scenario]\nname = \"x\"\nduration = \"1h\"\n[cluster]\nname = \"c\"\nnodes = 1\n\
                    [[service_account]]\nname = \"a\"\n";
        let ok = format!("{base}[invariants]\nexpected_to_fail = [\"default/a\", \"c/default/a\"]\n[[fault]]\nkind = \"outage\"\nservice = \"sts\"\nat = \"10m\"\nduration = \"5m\"\n");
        let l = load_str(&ok, "x.toml", None).unwrap();
        assert_eq!(l.scenario.faults.len(), 1);
        // (extra text, field named in the error, line)
        let cases = [
            ("[invariants]\nexpected_to_fail = [\"default/b\"]\n", "invariants.expected_to_fail[0]", 10),
            ("[invariants]\nexpected_to_fail = [\"other/default/a\"]\n", "invariants.expected_to_fail[0]", 10),
            ("[[fault]]\nkind = \"loss\"\na = \"nodes\"\nb = \"sts\"\nrate = 2.0\nat = \"1m\"\n", "fault[0].rate", 13),
            ("[[fault]]\nkind = \"outage\"\nservice = \"sts\"\nat = \"2h\"\n", "fault[0].at", 12),
            // The second fault's error points into the second entry.
            ("[[fault]]\nkind = \"outage\"\nservice = \"sts\"\nat = \"1m\"\n[[fault]]\nkind = \"outage\"\nservice = \"dynamo\"\nat = \"1m\"\n", "fault[1].service", 15),
        ];
        for (extra, field, line) in cases {
            let e = load_str(&format!("{base}{extra}"), "x.toml", None).unwrap_err();
            assert_eq!((e.field.as_str(), e.line), (field, Some(line)), "{extra}: {e}");
        }
    }
}
