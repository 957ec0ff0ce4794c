//! The run summary: what happened, computed from the trace as it is recorded.
//!
//! [`Metrics`] subscribes to trace events and keeps counters and HdrHistograms in simulated time; a
//! [`Summary`] is its snapshot at the end of the run, printed for a person or as one JSON object.
//! Everything in a summary is a pure function of the seed and the scenario, except `wall_ms` and
//! `sim_wall_ratio` (which a snapshot test therefore leaves out).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;
use sim::Event;

/// Accumulates metrics from trace events.
pub struct Metrics {
    pod_created_ns: BTreeMap<String, u64>,
    pod_sdk: BTreeMap<String, String>,
    first_credentials_ns: BTreeMap<String, u64>,
    first_ms: Histogram<u64>,
    first_ms_by_sdk: BTreeMap<String, Histogram<u64>>,
    sts_calls: u64,
    sts_calls_by_action: BTreeMap<String, u64>,
    sts_attempts_by_sdk: BTreeMap<String, u64>,
    agent_attempts_by_sdk: BTreeMap<String, u64>,
    credentials_issued: u64,
    tokens_mounted: u64,
    token_refreshes: u64,
    pods_token_refreshed: BTreeSet<String>,
    pods_with_token: BTreeSet<String>,
    errors: BTreeMap<String, u64>,
    no_credentials: u64,
    api_calls_ok: u64,
    api_calls_failed: u64,
    /// Admission mode per pod (`web_identity`, `container_credentials`, `none`).
    pod_mode: BTreeMap<String, String>,
    pods_deleted: BTreeSet<String>,
    /// Per pod: currently inside a gap (a run of uses without credentials)?
    in_gap: BTreeMap<String, bool>,
    gaps_by_pod: BTreeMap<String, u64>,
    agent_cache: BTreeMap<String, u64>,
    eks_auth_calls: u64,
    eks_auth_errors: BTreeMap<String, u64>,
    s3: S3Counts,
    s3_seen: bool,
    quota_refusals: BTreeMap<String, u64>,
}

/// S3 reads split by whether the object belongs to the reader's cluster.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct S3Counts {
    pub allowed_own: u64,
    pub denied_own: u64,
    pub allowed_cross: u64,
    pub denied_cross: u64,
    /// Writes (`PutObject`, `action = "s3-put"`), allowed and denied (no own/cross split: a new
    /// object has no tags yet).
    pub writes_allowed: u64,
    pub writes_denied: u64,
    /// Reads and writes that failed for another reason (code → count).
    pub errors: BTreeMap<String, u64>,
}

/// One credential flow's figures.
#[derive(Debug, Clone, Serialize)]
pub struct FlowSummary {
    pub pods: u64,
    pub pods_with_credentials: u64,
    pub first_credentials_ms: Quantiles,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 24 * 3_600_000, 3).expect("static histogram bounds are valid")
}

impl Metrics {
    pub fn new() -> Self {
        Metrics {
            pod_created_ns: BTreeMap::new(),
            pod_sdk: BTreeMap::new(),
            first_credentials_ns: BTreeMap::new(),
            first_ms: hist(),
            first_ms_by_sdk: BTreeMap::new(),
            sts_calls: 0,
            sts_calls_by_action: BTreeMap::new(),
            sts_attempts_by_sdk: BTreeMap::new(),
            agent_attempts_by_sdk: BTreeMap::new(),
            credentials_issued: 0,
            tokens_mounted: 0,
            token_refreshes: 0,
            pods_token_refreshed: BTreeSet::new(),
            pods_with_token: BTreeSet::new(),
            errors: BTreeMap::new(),
            no_credentials: 0,
            api_calls_ok: 0,
            api_calls_failed: 0,
            pod_mode: BTreeMap::new(),
            pods_deleted: BTreeSet::new(),
            in_gap: BTreeMap::new(),
            gaps_by_pod: BTreeMap::new(),
            agent_cache: BTreeMap::new(),
            eks_auth_calls: 0,
            eks_auth_errors: BTreeMap::new(),
            s3: S3Counts::default(),
            s3_seen: false,
            quota_refusals: BTreeMap::new(),
        }
    }

    fn error(&mut self, code: &str) {
        *self.errors.entry(code.to_string()).or_default() += 1;
    }

    /// Folds one event in.
    pub fn observe(&mut self, e: &Event) {
        match e.kind.as_str() {
            "apiserver.pod_created" => {
                self.pod_created_ns.insert(e.str("pod").to_string(), e.t_ns);
            }
            "apiserver.admission_failed" => self.error("AdmissionFailed"),
            "pod.credentials" => {
                let pod = e.str("pod").to_string();
                self.in_gap.insert(pod.clone(), false);
                self.pod_sdk.insert(pod.clone(), e.str("sdk").to_string());
                if !self.first_credentials_ns.contains_key(&pod) {
                    self.first_credentials_ns.insert(pod.clone(), e.t_ns);
                    if let Some(created) = self.pod_created_ns.get(&pod) {
                        let ms = (e.t_ns.saturating_sub(*created) / 1_000_000).max(1);
                        let _ = self.first_ms.record(ms);
                        let _ = self.first_ms_by_sdk.entry(e.str("sdk").to_string()).or_insert_with(hist).record(ms);
                    }
                }
            }
            "pod.no_credentials" => {
                self.no_credentials += 1;
                self.error(e.str("code"));
                let pod = e.str("pod").to_string();
                if !self.in_gap.get(&pod).copied().unwrap_or(false) {
                    *self.gaps_by_pod.entry(pod.clone()).or_default() += 1;
                }
                self.in_gap.insert(pod, true);
            }
            "webhook.admission" => {
                self.pod_mode.insert(e.str("pod").to_string(), e.str("mode").to_string());
            }
            "apiserver.pod_deleted" => {
                self.pods_deleted.insert(e.str("pod").to_string());
            }
            "agent.request" => {
                let c = e.str("cache");
                if !c.is_empty() {
                    *self.agent_cache.entry(c.to_string()).or_default() += 1;
                }
            }
            "eks_auth.request" => {
                self.eks_auth_calls += 1;
                let code = e.str("error_code");
                if !code.is_empty() {
                    *self.eks_auth_errors.entry(code.to_string()).or_default() += 1;
                }
            }
            "eks_api.request" => {
                let code = e.str("error_code");
                if code.contains("LimitExceeded") {
                    *self.quota_refusals.entry(code.to_string()).or_default() += 1;
                }
            }
            "pod.s3" => {
                self.s3_seen = true;
                if e.str("operation") == "PutObject" {
                    match e.str("outcome") {
                        "allowed" => self.s3.writes_allowed += 1,
                        "denied" => self.s3.writes_denied += 1,
                        code => *self.s3.errors.entry(code.to_string()).or_default() += 1,
                    }
                    return;
                }
                let own = e.str("owner") == e.str("cluster");
                match (e.str("outcome"), own) {
                    ("allowed", true) => self.s3.allowed_own += 1,
                    ("denied", true) => self.s3.denied_own += 1,
                    ("allowed", false) => self.s3.allowed_cross += 1,
                    ("denied", false) => self.s3.denied_cross += 1,
                    (code, _) => *self.s3.errors.entry(code.to_string()).or_default() += 1,
                }
            }
            "pod.api_call" => {
                if e.str("outcome") == "ok" {
                    self.api_calls_ok += 1;
                } else {
                    self.api_calls_failed += 1;
                    self.error(e.str("outcome"));
                }
            }
            "sdk.sts_call" => {
                let sdk = e.str("sdk").to_string();
                if !sdk.is_empty() {
                    *self.sts_attempts_by_sdk.entry(sdk).or_default() += 1;
                }
                if e.str("outcome") != "ok" {
                    self.error(e.str("outcome"));
                }
            }
            "sdk.container_call" => {
                let sdk = e.str("sdk").to_string();
                if !sdk.is_empty() {
                    *self.agent_attempts_by_sdk.entry(sdk).or_default() += 1;
                }
            }
            "sts.request" => {
                self.sts_calls += 1;
                *self.sts_calls_by_action.entry(e.str("action").to_string()).or_default() += 1;
                if e.str("outcome") == "ok" && matches!(e.str("action"), "AssumeRoleWithWebIdentity" | "AssumeRole") {
                    self.credentials_issued += 1;
                }
            }
            "kubelet.token_mounted" => {
                self.tokens_mounted += 1;
                self.pods_with_token.insert(e.str("pod").to_string());
            }
            "kubelet.token_refreshed" => {
                self.token_refreshes += 1;
                self.pods_token_refreshed.insert(e.str("pod").to_string());
            }
            "kubelet.token_mount_failed" => self.error("TokenMountFailed"),
            "kubelet.token_refresh_failed" => self.error("TokenRefreshFailed"),
            _ => {}
        }
    }

    /// The summary at the end of a run.
    pub fn summary(&self, run: RunFacts) -> Summary {
        let q = |h: &Histogram<u64>| Quantiles {
            p50: if h.is_empty() { 0 } else { h.value_at_quantile(0.50) },
            p99: if h.is_empty() { 0 } else { h.value_at_quantile(0.99) },
            max: if h.is_empty() { 0 } else { h.max() },
        };
        let pods = self.pod_created_ns.len() as u64;
        let with = self.first_credentials_ns.keys().filter(|p| self.pod_created_ns.contains_key(*p)).count() as u64;
        let mut by_sdk = BTreeMap::new();
        for (sdk, h) in &self.first_ms_by_sdk {
            let pods = self.pod_sdk.values().filter(|s| *s == sdk).count() as u64;
            by_sdk.insert(
                sdk.clone(),
                SdkSummary { pods_with_credentials: pods, first_credentials_ms: q(h), sts_attempts: *self.sts_attempts_by_sdk.get(sdk).unwrap_or(&0),
                    agent_attempts: *self.agent_attempts_by_sdk.get(sdk).unwrap_or(&0),
                },
            );
        }
        let flow = |mode: &str| {
            let mut h = hist();
            let mut pods = 0;
            let mut with = 0;
            for (pod, m) in &self.pod_mode {
                if m != mode || !self.pod_created_ns.contains_key(pod) {
                    continue;
                }
                pods += 1;
                if let (Some(c), Some(f)) = (self.pod_created_ns.get(pod), self.first_credentials_ns.get(pod)) {
                    with += 1;
                    let _ = h.record((f.saturating_sub(*c) / 1_000_000).max(1));
                }
            }
            FlowSummary { pods, pods_with_credentials: with, first_credentials_ms: q(&h) }
        };
        let mut flows = BTreeMap::new();
        flows.insert("irsa".to_string(), flow("web_identity"));
        flows.insert("pod_identity".to_string(), flow("container_credentials"));
        let mut pods_running_by_mode: BTreeMap<String, u64> = BTreeMap::new();
        for (pod, m) in &self.pod_mode {
            if self.pod_created_ns.contains_key(pod) && !self.pods_deleted.contains(pod) {
                *pods_running_by_mode.entry(m.clone()).or_default() += 1;
            }
        }
        let mut quota_refusals = run.quota_refusals.clone();
        for (k, v) in &self.quota_refusals {
            *quota_refusals.entry(k.clone()).or_default() += v;
        }
        let agent_cache = AgentCache {
            hits: *self.agent_cache.get("hit").unwrap_or(&0),
            misses: *self.agent_cache.get("miss").unwrap_or(&0),
            stale_served: *self.agent_cache.get("stale").unwrap_or(&0),
            coalesced: *self.agent_cache.get("coalesced").unwrap_or(&0),
        };
        Summary {
            flows,
            pods_running_by_mode,
            agent_cache,
            eks_auth_calls: self.eks_auth_calls,
            eks_auth_errors: self.eks_auth_errors.clone(),
            credential_gaps: self.gaps_by_pod.values().sum(),
            credential_gaps_by_pod: self.gaps_by_pod.clone(),
            s3: self.s3_seen.then(|| self.s3.clone()),
            quota_refusals,
            violations: Vec::new(),
            quota_refusal_messages: run.quota_refusal_messages,
            scenario: run.scenario,
            seed: run.seed,
            sim_seconds: run.sim_seconds,
            wall_ms: run.wall_ms,
            sim_wall_ratio: if run.wall_ms == 0 { 0.0 } else { (run.sim_seconds as f64 * 1000.0 / run.wall_ms as f64).round() },
            pods,
            pods_with_credentials: with,
            pods_without_credentials: pods - with,
            first_credentials_ms: q(&self.first_ms),
            sts_calls: self.sts_calls,
            sts_calls_by_action: self.sts_calls_by_action.clone(),
            credentials_issued: self.credentials_issued,
            tokens_mounted: self.tokens_mounted,
            token_refreshes: self.token_refreshes,
            pods_with_token_refreshed: self.pods_token_refreshed.len() as u64,
            pods_with_token: self.pods_with_token.len() as u64,
            uses_without_credentials: self.no_credentials,
            api_calls_ok: self.api_calls_ok,
            api_calls_failed: self.api_calls_failed,
            errors: self.errors.clone(),
            by_sdk,
            events: run.events,
            digest: run.digest,
        }
    }
}

/// Facts about the run that do not come from the trace.
pub struct RunFacts {
    pub scenario: String,
    pub seed: u64,
    pub sim_seconds: u64,
    pub wall_ms: u64,
    pub events: u64,
    pub digest: String,
    /// Refusals found while building the world (IAM quotas), code → count.
    pub quota_refusals: BTreeMap<String, u64>,
    /// The same refusals as IAM words them (`CreateOpenIDConnectProvider <url>: LimitExceeded: ...`).
    pub quota_refusal_messages: Vec<String>,
}

/// The Pod Identity Agents' cache, summed over nodes.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AgentCache {
    pub hits: u64,
    pub misses: u64,
    pub stale_served: u64,
    pub coalesced: u64,
}

/// p50 / p99 / max.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Quantiles {
    pub p50: u64,
    pub p99: u64,
    pub max: u64,
}

/// Per-SDK-profile figures.
#[derive(Debug, Clone, Serialize)]
pub struct SdkSummary {
    pub pods_with_credentials: u64,
    pub first_credentials_ms: Quantiles,
    /// Calls the SDK made to STS (web identity).
    pub sts_attempts: u64,
    /// Calls the SDK made to the Pod Identity Agent (container credentials).
    pub agent_attempts: u64,
}

/// The run summary (`credsim run --json` prints it).
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub seed: u64,
    pub sim_seconds: u64,
    pub wall_ms: u64,
    pub sim_wall_ratio: f64,
    pub pods: u64,
    pub pods_with_credentials: u64,
    pub pods_without_credentials: u64,
    /// Pod creation at the API server → first credentials in the pod, simulated milliseconds.
    pub first_credentials_ms: Quantiles,
    /// Requests STS served (all actions).
    pub sts_calls: u64,
    pub sts_calls_by_action: BTreeMap<String, u64>,
    /// Credentials STS issued (`AssumeRoleWithWebIdentity` and `AssumeRole`, EKS Auth's included).
    pub credentials_issued: u64,
    pub tokens_mounted: u64,
    pub token_refreshes: u64,
    pub pods_with_token_refreshed: u64,
    pub pods_with_token: u64,
    /// Times a pod asked its SDK for credentials and got none.
    pub uses_without_credentials: u64,
    pub api_calls_ok: u64,
    pub api_calls_failed: u64,
    /// Error code → count, from every actor's point of view.
    pub errors: BTreeMap<String, u64>,
    pub by_sdk: BTreeMap<String, SdkSummary>,
    /// Per credential flow (by the webhook's decision for each pod): `irsa`, `pod_identity`.
    pub flows: BTreeMap<String, FlowSummary>,
    /// Pods still running at the end, by the webhook's decision (`web_identity`,
    /// `container_credentials`, `none`).
    pub pods_running_by_mode: BTreeMap<String, u64>,
    pub agent_cache: AgentCache,
    pub eks_auth_calls: u64,
    pub eks_auth_errors: BTreeMap<String, u64>,
    /// Intervals in which a running pod asked for credentials and had none (a run of failed uses is one).
    pub credential_gaps: u64,
    pub credential_gaps_by_pod: BTreeMap<String, u64>,
    /// S3 reads, when the scenario has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Counts>,
    /// Requests refused by a quota, code → count.
    pub quota_refusals: BTreeMap<String, u64>,
    /// Each refusal found while building the world, as IAM words it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quota_refusal_messages: Vec<String>,
    /// Invariant violations, one line each (`name at 123.4s: message`); empty when every invariant held.
    pub violations: Vec<String>,
    pub events: u64,
    pub digest: String,
}

/// Violations as summary lines: `invariant at T s: message`.
pub fn violation_lines(v: &[crate::invariants::Violation]) -> Vec<String> {
    v.iter().map(|v| format!("{} at {:.1}s: {}", v.invariant, v.t_ns as f64 / 1e9, v.message)).collect()
}

impl Summary {
    /// The human-readable summary.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let h = self.sim_seconds / 3600;
        let m = self.sim_seconds / 60 % 60;
        let _ = writeln!(s, "scenario        {} (seed {})", self.scenario, self.seed);
        let _ = writeln!(
            s,
            "simulated       {h}h{m:02}m in {:.2} s wall  ({}x real time)",
            self.wall_ms as f64 / 1000.0,
            self.sim_wall_ratio
        );
        let _ = writeln!(s);
        let _ = writeln!(s, "pods            {} started, {} got credentials, {} never did", self.pods, self.pods_with_credentials, self.pods_without_credentials);
        let _ = writeln!(
            s,
            "first creds     p50 {} ms, p99 {} ms, max {} ms  (pod created -> SDK has credentials, simulated)",
            self.first_credentials_ms.p50, self.first_credentials_ms.p99, self.first_credentials_ms.max
        );
        for (sdk, b) in &self.by_sdk {
            let _ = writeln!(
                s,
                "  {sdk:<13} {} pods, p50 {} ms, p99 {} ms, {} STS attempts{}",
                b.pods_with_credentials,
                b.first_credentials_ms.p50,
                b.first_credentials_ms.p99,
                b.sts_attempts,
                if b.agent_attempts > 0 { format!(", {} agent attempts", b.agent_attempts) } else { String::new() }
            );
        }
        for (flow, f) in &self.flows {
            if f.pods > 0 {
                let _ = writeln!(
                    s,
                    "  via {flow:<9} {} pods, {} got credentials, p50 {} ms, p99 {} ms",
                    f.pods, f.pods_with_credentials, f.first_credentials_ms.p50, f.first_credentials_ms.p99
                );
            }
        }
        let actions: Vec<String> = self.sts_calls_by_action.iter().map(|(a, n)| format!("{a} {n}")).collect();
        let _ = writeln!(s, "STS calls       {} ({})", self.sts_calls, actions.join(", "));
        let _ = writeln!(
            s,
            "tokens          {} mounted, {} refreshed; {} of {} pods had their token refreshed",
            self.tokens_mounted, self.token_refreshes, self.pods_with_token_refreshed, self.pods_with_token
        );
        if self.eks_auth_calls > 0 || self.agent_cache.hits + self.agent_cache.misses > 0 {
            let a = &self.agent_cache;
            let _ = writeln!(
                s,
                "pod identity    {} EKS Auth calls; agent cache {} hits, {} misses, {} stale served, {} coalesced",
                self.eks_auth_calls, a.hits, a.misses, a.stale_served, a.coalesced
            );
        }
        let _ = writeln!(
            s,
            "workload        {} API calls ok, {} failed; {} uses without credentials in {} gaps",
            self.api_calls_ok, self.api_calls_failed, self.uses_without_credentials, self.credential_gaps
        );
        if let Some(s3) = &self.s3 {
            let _ = writeln!(
                s,
                "s3 reads        own cluster: {} allowed, {} denied; other clusters: {} allowed, {} denied",
                s3.allowed_own, s3.denied_own, s3.allowed_cross, s3.denied_cross
            );
            if s3.writes_allowed + s3.writes_denied > 0 {
                let _ = writeln!(s, "s3 writes       {} allowed, {} denied", s3.writes_allowed, s3.writes_denied);
            }
        }
        let running: Vec<String> = self.pods_running_by_mode.iter().map(|(m, n)| format!("{m} {n}")).collect();
        let _ = writeln!(s, "running at end  {}", running.join(", "));
        if !self.quota_refusals.is_empty() {
            let q: Vec<String> = self.quota_refusals.iter().map(|(c, n)| format!("{c} {n}")).collect();
            let _ = writeln!(s, "quota refusals  {}", q.join(", "));
            for m in &self.quota_refusal_messages {
                let _ = writeln!(s, "  {m}");
            }
        }
        if self.errors.is_empty() {
            let _ = writeln!(s, "errors          none");
        } else {
            let _ = writeln!(s, "errors");
            for (code, n) in &self.errors {
                let _ = writeln!(s, "  {code:<28} {n}");
            }
        }
        if self.violations.is_empty() {
            let _ = writeln!(s, "invariants      all held");
        } else {
            let _ = writeln!(s, "invariants      {} violated", self.violations.len());
            for v in &self.violations {
                let _ = writeln!(s, "  {v}");
            }
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "trace           {} events, digest {}", self.events, self.digest);
        s
    }
}
