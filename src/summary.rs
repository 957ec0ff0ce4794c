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
    credentials_issued: u64,
    tokens_mounted: u64,
    token_refreshes: u64,
    pods_token_refreshed: BTreeSet<String>,
    pods_with_token: BTreeSet<String>,
    errors: BTreeMap<String, u64>,
    no_credentials: u64,
    api_calls_ok: u64,
    api_calls_failed: u64,
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
            credentials_issued: 0,
            tokens_mounted: 0,
            token_refreshes: 0,
            pods_token_refreshed: BTreeSet::new(),
            pods_with_token: BTreeSet::new(),
            errors: BTreeMap::new(),
            no_credentials: 0,
            api_calls_ok: 0,
            api_calls_failed: 0,
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
            "sts.request" => {
                self.sts_calls += 1;
                *self.sts_calls_by_action.entry(e.str("action").to_string()).or_default() += 1;
                if e.str("outcome") == "ok" && e.str("action") == "AssumeRoleWithWebIdentity" {
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
                SdkSummary { pods_with_credentials: pods, first_credentials_ms: q(h), sts_attempts: *self.sts_attempts_by_sdk.get(sdk).unwrap_or(&0) },
            );
        }
        Summary {
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
    pub sts_attempts: u64,
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
    pub events: u64,
    pub digest: String,
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
                "  {sdk:<13} {} pods, p50 {} ms, p99 {} ms, {} STS attempts",
                b.pods_with_credentials, b.first_credentials_ms.p50, b.first_credentials_ms.p99, b.sts_attempts
            );
        }
        let actions: Vec<String> = self.sts_calls_by_action.iter().map(|(a, n)| format!("{a} {n}")).collect();
        let _ = writeln!(s, "STS calls       {} ({})", self.sts_calls, actions.join(", "));
        let _ = writeln!(
            s,
            "tokens          {} mounted, {} refreshed; {} of {} pods had their token refreshed",
            self.tokens_mounted, self.token_refreshes, self.pods_with_token_refreshed, self.pods_with_token
        );
        let _ = writeln!(
            s,
            "workload        {} API calls ok, {} failed; {} uses without credentials",
            self.api_calls_ok, self.api_calls_failed, self.uses_without_credentials
        );
        if self.errors.is_empty() {
            let _ = writeln!(s, "errors          none");
        } else {
            let _ = writeln!(s, "errors");
            for (code, n) in &self.errors {
                let _ = writeln!(s, "  {code:<28} {n}");
            }
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "trace           {} events, digest {}", self.events, self.digest);
        s
    }
}
