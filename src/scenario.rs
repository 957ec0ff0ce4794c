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
    pub cluster: Cluster,
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
    #[serde(default)]
    pub sts: StsSettings,
    #[serde(default)]
    pub kubelet: KubeletSettings,
    #[serde(default)]
    pub webhook: WebhookSettings,
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
}

fn default_max_session() -> u64 {
    3600
}

/// `[[service_account]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccount {
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
}

/// `[[workload]]`: a set of identical pods.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    pub name: String,
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

/// Parses `"90s"`, `"15m"`, `"26h"`, `"2d"`, `"500ms"`.
pub fn parse_duration(t: &str) -> Result<Duration, String> {
    let t = t.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("bad duration {t:?}: expected e.g. \"90s\", \"15m\", \"26h\""))?;
    let secs = |m: u64| Ok(Duration::from_secs(n * m));
    match unit.trim() {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86_400),
        u => Err(format!("bad duration unit {u:?} in {t:?}: use ms, s, m, h or d")),
    }
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
    if s.cluster.nodes == 0 {
        return Err(at("cluster.nodes".into(), "nodes", "a cluster needs at least one node".into()));
    }
    if s.scenario.duration.0.is_zero() {
        return Err(at("scenario.duration".into(), "duration", "the run must last longer than 0s".into()));
    }
    if s.network.latency_us_min > s.network.latency_us_max {
        return Err(at("network.latency_us_min".into(), "latency_us_min", "must not exceed latency_us_max".into()));
    }
    if let Some(id) = &s.cluster.oidc_id
        && (id.len() != 32 || !id.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()))
    {
        return Err(at("cluster.oidc_id".into(), "oidc_id", "must be 32 upper-case hex digits".into()));
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
    for (i, w) in s.workloads.iter().enumerate() {
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
    Ok(Loaded { scenario, path: file.to_string(), text: text.to_string(), trust_policies })
}

impl Loaded {
    /// The first line of the scenario text that contains `needle` (for errors found after parsing).
    pub fn line_of(&self, needle: &str) -> Option<usize> {
        find_key_line(&self.text, needle)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scenario_loads() {
        let l = load_str(DEFAULT_SCENARIO, DEFAULT_SCENARIO_PATH, None).unwrap();
        assert_eq!(l.scenario.cluster.nodes, 3);
        assert_eq!(l.scenario.scenario.duration.0, Duration::from_secs(26 * 3600));
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
        let text = "[scenario]\nname = \"x\"\nduration = \"26 hours\"\n[cluster]\nname = \"c\"\nnodes = 1\n";
        let e = load_str(text, "x.toml", None).unwrap_err();
        assert_eq!(e.field, "scenario.duration");
        assert!(e.message.contains("bad duration"), "{e}");
    }

    #[test]
    fn dangling_role_reference_names_field() {
        let text = "[scenario]\nname = \"x\"\nduration = \"1h\"\n[cluster]\nname = \"c\"\nnodes = 1\n\
                    [[service_account]]\nname = \"a\"\nrole = \"nope\"\n";
        let e = load_str(text, "x.toml", None).unwrap_err();
        assert_eq!(e.field, "service_account[0].role");
        assert_eq!(e.line, Some(9));
    }
}
