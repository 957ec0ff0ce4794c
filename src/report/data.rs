//! The report's numbers: latency of every hop, end-to-end times, cache behaviour, call and error counts,
//! token refresh lag and credential headroom, over the whole run and over time.
//!
//! [`Collector`] reads the same trace events the summary reads (it is fed each event as the run goes,
//! or a saved trace afterwards), keeps HdrHistograms in simulated milliseconds (the engine's timers tick
//! in whole milliseconds, so that is the resolution of every latency here), and [`Collector::finish`]
//! turns them into [`ReportData`]: plain, serialisable numbers that `report.json` holds and the
//! Markdown and charts are drawn from. Everything is a pure function of the trace.

use std::collections::{BTreeMap, BTreeSet};

use hdrhistogram::Histogram;
use serde::Serialize;
use sim::{Event, FieldValue};

/// Latency hops, in the order the report lists them: (key, what it measures, flow it belongs to).
pub const HOPS: &[(&str, &str, &str)] = &[
    ("admission", "pod create: API server → webhook AdmissionReview → pod stored", "both"),
    ("token_request", "kubelet → API server TokenRequest (RS256 signing)", "both"),
    ("sts_issuer_fetch", "STS → OIDC issuer: discovery or JWKS GET", "irsa"),
    ("sts_exchange", "SDK → STS AssumeRoleWithWebIdentity (one attempt)", "irsa"),
    ("agent_request", "SDK → Pod Identity Agent /v1/credentials (one attempt)", "pod_identity"),
    ("agent_to_eks_auth", "agent → EKS Auth AssumeRoleForPodIdentity (one attempt)", "pod_identity"),
    ("eks_auth_jwks_fetch", "EKS Auth → OIDC issuer: discovery + JWKS", "pod_identity"),
    ("eks_auth_request", "EKS Auth handling one request (incl. its STS AssumeRole)", "pod_identity"),
    ("sts_api_call", "pod → STS GetCallerIdentity with its credentials", "both"),
    ("s3_request", "pod → S3 GetObject/PutObject with its credentials", "both"),
];

/// End-to-end measures: (key, what it measures).
pub const END_TO_END: &[(&str, &str)] = &[
    ("first_credentials", "pod created at the API server → its SDK holds credentials"),
    ("credential_refresh", "a use that had to refresh → the SDK holds the new credentials"),
];

/// The flows a pod can be on, by the webhook's decision.
pub const FLOWS: &[&str] = &["irsa", "pod_identity"];

/// Distribution of one measure, in milliseconds (or seconds where the name says so).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stats {
    pub count: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p95: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Stats {
    pub fn of(h: &Histogram<u64>) -> Stats {
        if h.is_empty() {
            return Stats::default();
        }
        Stats {
            count: h.len(),
            mean: (h.mean() * 1000.0).round() / 1000.0,
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p95: h.value_at_quantile(0.95),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// The Pod Identity Agents' caches, summed over nodes.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct AgentCacheStats {
    pub hits: u64,
    pub misses: u64,
    /// Requests that waited on another request's fetch for the same key.
    pub coalesced: u64,
    /// Requests answered with cached credentials after a failed refresh.
    pub stale_served: u64,
    /// Entries dropped, by reason.
    pub evictions: BTreeMap<String, u64>,
    /// Background refreshes, by outcome.
    pub background_refreshes: BTreeMap<String, u64>,
    /// hits / (hits + misses + coalesced + stale); 0 when there were no requests.
    pub hit_ratio: f64,
}

/// Caches across the system.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct CacheStats {
    pub agent: AgentCacheStats,
    /// STS's issuer key cache, per AssumeRoleWithWebIdentity: `cached`, `fetched`, `refetched`, `stale`.
    pub sts_jwks: BTreeMap<String, u64>,
    /// EKS Auth's issuer key fetches (each one is a cache miss or refetch).
    pub eks_auth_jwks_fetches: u64,
    /// SDK credential caches: uses, credential sets obtained, and uses per set (reuse).
    pub sdk_uses: u64,
    pub sdk_credential_sets: u64,
    pub sdk_uses_per_credential_set: f64,
}

/// Per-flow figures that the IRSA vs Pod Identity comparison reads.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct FlowFigures {
    pub pods: u64,
    pub pods_with_credentials: u64,
    /// Sum over pods of the time each ran, in hours.
    pub pod_hours: f64,
    pub first_credentials_ms: Stats,
    pub credential_refresh_ms: Stats,
    /// STS calls the flow caused (IRSA: AssumeRoleWithWebIdentity; Pod Identity: EKS Auth's AssumeRole).
    pub sts_calls: u64,
    pub sts_calls_per_pod_hour: f64,
    /// EKS Auth AssumeRoleForPodIdentity calls (Pod Identity only).
    pub eks_auth_calls: u64,
    pub eks_auth_calls_per_pod_hour: f64,
    /// Pods that, at some point while running, asked for credentials and had none (or never got any).
    pub pods_without_credentials: u64,
    /// Total and longest time a pod spent without credentials, in seconds.
    pub seconds_without_credentials: f64,
    pub longest_without_credentials_s: f64,
    /// Uses that found no credentials.
    pub uses_without_credentials: u64,
}

/// One fault's window.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FaultSpan {
    pub id: u64,
    pub kind: String,
    pub target: String,
    pub start_s: f64,
    pub end_s: f64,
}

/// Latency quantiles of one time bucket.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BucketQuantiles {
    pub t_s: f64,
    pub count: u64,
    pub p50: u64,
    pub p95: u64,
    pub p99: u64,
    pub max: u64,
}

/// Values over time, one per bucket.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TimeSeries {
    /// Bucket width, seconds; bucket `i` covers `[i * bucket_s, (i + 1) * bucket_s)`.
    pub bucket_s: u64,
    /// Time to credentials (first or refreshed) per flow, by bucket of when they arrived.
    pub credential_latency_ms: BTreeMap<String, Vec<BucketQuantiles>>,
    /// Requests per second each service received, by bucket.
    pub requests_per_s: BTreeMap<String, Vec<f64>>,
    /// Agent cache hit ratio by bucket (`None` where the agents had no requests).
    pub agent_hit_ratio: Vec<Option<f64>>,
    /// Uses that found no credentials, per flow, by bucket.
    pub uses_without_credentials: BTreeMap<String, Vec<u64>>,
}

/// Everything `report.json` holds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct ReportData {
    pub scenario: String,
    pub seed: u64,
    pub duration_s: u64,
    /// Hop → flow (`all`, `irsa`, `pod_identity`) → distribution, ms.
    pub hops: BTreeMap<String, BTreeMap<String, Stats>>,
    /// End-to-end measure → flow → distribution, ms.
    pub end_to_end: BTreeMap<String, BTreeMap<String, Stats>>,
    /// End-to-end measure → flow → SDK profile → distribution, ms.
    pub end_to_end_by_sdk: BTreeMap<String, BTreeMap<String, BTreeMap<String, Stats>>>,
    pub flows: BTreeMap<String, FlowFigures>,
    pub caches: CacheStats,
    /// Service → outcome code (`ok` or the error code) → requests.
    pub calls: BTreeMap<String, BTreeMap<String, u64>>,
    /// Seconds past the 80 % point of a token's lifetime at which the kubelet replaced it.
    pub token_refresh_lag_s: Stats,
    /// Token refreshes that came before the 80 % point.
    pub token_refreshes_early: u64,
    /// Seconds of validity an SDK's credentials had left when new ones replaced them.
    pub credential_headroom_s: Stats,
    /// Credentials replaced only after they had expired.
    pub credentials_replaced_after_expiry: u64,
    pub faults: Vec<FaultSpan>,
    pub time_series: TimeSeries,
}

/// What the run knows that the trace does not.
#[derive(Debug, Clone)]
pub struct RunMeta {
    pub scenario: String,
    pub seed: u64,
    pub duration_s: u64,
}

fn hist() -> Histogram<u64> {
    // 1 ms .. 30 days, 3 significant digits.
    Histogram::new_with_bounds(1, 30 * 24 * 3_600_000, 3).expect("static histogram bounds are valid")
}

/// A bucket width that gives ~100–300 buckets over `duration_s`.
pub fn bucket_width_s(duration_s: u64) -> u64 {
    const NICE: &[u64] = &[1, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];
    let want = duration_s / 240;
    NICE.iter().copied().find(|&w| w >= want).unwrap_or(7200)
}

/// A number field: `U64`, or a string holding one (STS records strings).
fn num(e: &Event, key: &str) -> Option<u64> {
    match e.get(key)? {
        FieldValue::U64(v) => Some(*v),
        FieldValue::I64(v) => u64::try_from(*v).ok(),
        FieldValue::Str(s) => s.parse().ok(),
        FieldValue::Bool(_) => None,
    }
}

fn flag(e: &Event, key: &str) -> bool {
    matches!(e.get(key), Some(FieldValue::Bool(true)))
}

/// Per pod: what the collector follows.
#[derive(Default)]
struct PodState {
    flow: String,
    sdk: String,
    created_ns: Option<u64>,
    deleted_ns: Option<u64>,
    first_credentials: bool,
    /// Expiration (Unix s) of the credentials the SDK holds.
    expiration_s: Option<u64>,
    /// Start of the current stretch without credentials.
    without_since_ns: Option<u64>,
    without_total_ns: u64,
    without_longest_ns: u64,
    ever_without: bool,
    uses_without: u64,
}

/// Folds trace events into the report's numbers.
pub struct Collector {
    bucket_s: u64,
    pods: BTreeMap<String, PodState>,
    hops: BTreeMap<(String, String), Histogram<u64>>,
    e2e: BTreeMap<(String, String), Histogram<u64>>,
    e2e_sdk: BTreeMap<(String, String, String), Histogram<u64>>,
    cred_buckets: BTreeMap<(String, u64), Histogram<u64>>,
    requests: BTreeMap<(String, u64), u64>,
    agent_buckets: BTreeMap<u64, (u64, u64)>,
    without_buckets: BTreeMap<(String, u64), u64>,
    calls: BTreeMap<String, BTreeMap<String, u64>>,
    agent: AgentCacheStats,
    sts_jwks: BTreeMap<String, u64>,
    eks_auth_jwks_fetches: u64,
    sdk_uses: u64,
    sdk_sets: u64,
    sts_calls_by_flow: BTreeMap<String, u64>,
    eks_auth_calls: u64,
    /// (pod, volume) → lifetime (s) of the token it holds.
    token_ttl_s: BTreeMap<(String, String), u64>,
    refresh_lag: Histogram<u64>,
    refresh_early: u64,
    headroom: Histogram<u64>,
    replaced_after_expiry: u64,
    faults: BTreeMap<u64, FaultSpan>,
    fault_order: Vec<u64>,
    last_ns: u64,
}

impl Collector {
    /// A collector for a run of `duration_s` simulated seconds (sets the time-series bucket width).
    pub fn new(duration_s: u64) -> Collector {
        Collector {
            bucket_s: bucket_width_s(duration_s),
            pods: BTreeMap::new(),
            hops: BTreeMap::new(),
            e2e: BTreeMap::new(),
            e2e_sdk: BTreeMap::new(),
            cred_buckets: BTreeMap::new(),
            requests: BTreeMap::new(),
            agent_buckets: BTreeMap::new(),
            without_buckets: BTreeMap::new(),
            calls: BTreeMap::new(),
            agent: AgentCacheStats::default(),
            sts_jwks: BTreeMap::new(),
            eks_auth_jwks_fetches: 0,
            sdk_uses: 0,
            sdk_sets: 0,
            sts_calls_by_flow: BTreeMap::new(),
            eks_auth_calls: 0,
            token_ttl_s: BTreeMap::new(),
            refresh_lag: Histogram::new_with_bounds(1, 30 * 24 * 3600, 3).expect("static histogram bounds are valid"),
            refresh_early: 0,
            headroom: Histogram::new_with_bounds(1, 30 * 24 * 3600, 3).expect("static histogram bounds are valid"),
            replaced_after_expiry: 0,
            faults: BTreeMap::new(),
            fault_order: Vec::new(),
            last_ns: 0,
        }
    }

    fn bucket(&self, t_ns: u64) -> u64 {
        t_ns / 1_000_000_000 / self.bucket_s
    }

    fn flow_of(&self, pod: &str) -> String {
        self.pods.get(pod).map(|p| p.flow.clone()).filter(|f| !f.is_empty()).unwrap_or_else(|| "none".into())
    }

    fn hop(&mut self, hop: &str, flow: &str, ms: Option<u64>) {
        let Some(ms) = ms else { return };
        let ms = ms.max(1);
        for f in ["all", flow] {
            let _ = self.hops.entry((hop.to_string(), f.to_string())).or_insert_with(hist).record(ms);
        }
    }

    fn e2e(&mut self, what: &str, pod: &str, ms: u64, t_ns: u64) {
        let ms = ms.max(1);
        let flow = self.flow_of(pod);
        let sdk = self.pods.get(pod).map(|p| p.sdk.clone()).unwrap_or_default();
        for f in ["all", flow.as_str()] {
            let _ = self.e2e.entry((what.to_string(), f.to_string())).or_insert_with(hist).record(ms);
        }
        let _ = self.e2e_sdk.entry((what.to_string(), flow.clone(), sdk)).or_insert_with(hist).record(ms);
        let b = self.bucket(t_ns);
        let _ = self.cred_buckets.entry((flow, b)).or_insert_with(hist).record(ms);
    }

    fn call(&mut self, service: &str, code: &str, t_ns: u64) {
        let code = if code.is_empty() { "ok" } else { code };
        *self.calls.entry(service.to_string()).or_default().entry(code.to_string()).or_default() += 1;
        let b = self.bucket(t_ns);
        *self.requests.entry((service.to_string(), b)).or_default() += 1;
    }

    /// Folds one event in.
    pub fn observe(&mut self, e: &Event) {
        self.last_ns = self.last_ns.max(e.t_ns);
        let t = e.t_ns;
        match e.kind.as_str() {
            "webhook.admission" => {
                let flow = match e.str("mode") {
                    "web_identity" => "irsa",
                    "container_credentials" => "pod_identity",
                    _ => "none",
                };
                self.pods.entry(e.str("pod").to_string()).or_default().flow = flow.to_string();
            }
            "apiserver.pod_created" => {
                let pod = e.str("pod").to_string();
                let st = self.pods.entry(pod.clone()).or_default();
                st.created_ns = Some(t);
                st.deleted_ns = None;
                st.first_credentials = false;
                st.without_since_ns = None;
                let flow = self.flow_of(&pod);
                self.hop("admission", &flow, num(e, "admission_ms"));
                self.call("apiserver", "", t);
            }
            "apiserver.admission_failed" => self.call("apiserver", "AdmissionFailed", t),
            "apiserver.pod_deleted" => {
                let pod = e.str("pod").to_string();
                if let Some(st) = self.pods.get_mut(&pod) {
                    st.deleted_ns = Some(t);
                    if let Some(since) = st.without_since_ns.take() {
                        close_gap(st, since, t);
                    }
                }
            }
            "apiserver.token_issued" => self.call("apiserver", "", t),
            "kubelet.token_request" => {
                let flow = self.flow_of(e.str("pod"));
                self.hop("token_request", &flow, num(e, "ms"));
            }
            "kubelet.token_mounted" => {
                if let Some(ttl) = num(e, "expiration_s") {
                    self.token_ttl_s.insert((e.str("pod").to_string(), e.str("volume").to_string()), ttl);
                }
            }
            "kubelet.token_refreshed" => {
                let key = (e.str("pod").to_string(), e.str("volume").to_string());
                if let (Some(age), Some(ttl)) = (num(e, "age_s"), self.token_ttl_s.get(&key).copied()) {
                    let due = ttl * 8 / 10;
                    if age < due {
                        self.refresh_early += 1;
                    } else {
                        let _ = self.refresh_lag.record((age - due).max(1));
                    }
                }
                if let Some(ttl) = num(e, "expiration_s") {
                    self.token_ttl_s.insert(key, ttl);
                }
            }
            "sts.idp_fetch" => self.hop("sts_issuer_fetch", "irsa", num(e, "ms")),
            "oidc.discovery" | "oidc.keys" => self.call("oidc-issuer", "", t),
            "oidc.keys_failed" => self.call("oidc-issuer", "KeysFailed", t),
            "oidc.request_refused" => self.call("oidc-issuer", e.str("code"), t),
            "sts.request" => {
                let code = match e.str("outcome") {
                    "ok" => "",
                    "error" if !e.str("error_code").is_empty() => e.str("error_code"),
                    other => other,
                };
                self.call("sts", code, t);
                let flow = match e.str("action") {
                    "AssumeRoleWithWebIdentity" => Some("irsa"),
                    "AssumeRole" if e.str("caller") == "pods.eks.amazonaws.com" => Some("pod_identity"),
                    _ => None,
                };
                if let Some(f) = flow {
                    *self.sts_calls_by_flow.entry(f.to_string()).or_default() += 1;
                }
                let jwks = e.str("jwks");
                if !jwks.is_empty() {
                    *self.sts_jwks.entry(jwks.to_string()).or_default() += 1;
                }
            }
            "sdk.sts_call" => {
                let flow = self.flow_of(e.str("pod"));
                self.hop("sts_exchange", &flow, num(e, "ms"));
            }
            "sdk.container_call" => self.hop("agent_request", "pod_identity", num(e, "ms")),
            "agent.request" => {
                self.call("pod-identity-agent", e.str("error_code"), t);
                let b = self.bucket(t);
                let entry = self.agent_buckets.entry(b).or_default();
                match e.str("cache") {
                    "hit" => {
                        self.agent.hits += 1;
                        entry.0 += 1;
                        entry.1 += 1;
                    }
                    "miss" => {
                        self.agent.misses += 1;
                        entry.1 += 1;
                    }
                    "coalesced" => {
                        self.agent.coalesced += 1;
                        entry.1 += 1;
                    }
                    "stale" => {
                        self.agent.stale_served += 1;
                        entry.1 += 1;
                    }
                    _ => {}
                }
            }
            "agent.cache_evict" => *self.agent.evictions.entry(e.str("reason").to_string()).or_default() += 1,
            "agent.cache_refresh" => *self.agent.background_refreshes.entry(e.str("outcome").to_string()).or_default() += 1,
            "agent.eks_auth" => self.hop("agent_to_eks_auth", "pod_identity", num(e, "ms")),
            "eks_auth.request" => {
                self.eks_auth_calls += 1;
                self.call("eks-auth", e.str("error_code"), t);
                self.hop("eks_auth_request", "pod_identity", num(e, "ms"));
            }
            "eks_auth.jwks_fetch" => {
                self.eks_auth_jwks_fetches += 1;
                self.hop("eks_auth_jwks_fetch", "pod_identity", num(e, "ms"));
            }
            "eks_api.request" => {
                let code = e.str("error_code");
                self.call("eks-api", code, t);
            }
            "pod.api_call" => {
                let flow = self.flow_of(e.str("pod"));
                self.hop("sts_api_call", &flow, num(e, "ms"));
            }
            "pod.s3" => {
                let flow = self.flow_of(e.str("pod"));
                self.hop("s3_request", &flow, num(e, "ms"));
                let outcome = e.str("outcome");
                self.call("s3", if outcome == "allowed" { "" } else { outcome }, t);
            }
            "pod.use" => self.sdk_uses += 1,
            "pod.credentials" => {
                self.sdk_sets += 1;
                let pod = e.str("pod").to_string();
                let first = flag(e, "first");
                let now_unix_s = sim::EPOCH_UNIX_S + t / 1_000_000_000;
                let st = self.pods.entry(pod.clone()).or_default();
                st.sdk = e.str("sdk").to_string();
                if let Some(since) = st.without_since_ns.take() {
                    close_gap(st, since, t);
                }
                let previous_expiration = st.expiration_s;
                st.expiration_s = num(e, "expiration");
                if first && !st.first_credentials {
                    st.first_credentials = true;
                    if let Some(created) = st.created_ns {
                        let ms = t.saturating_sub(created) / 1_000_000;
                        self.e2e("first_credentials", &pod, ms, t);
                    }
                } else if !first {
                    self.e2e("credential_refresh", &pod, num(e, "wait_ms").unwrap_or(0), t);
                    if let Some(exp) = previous_expiration {
                        if exp > now_unix_s {
                            let _ = self.headroom.record((exp - now_unix_s).max(1));
                        } else {
                            self.replaced_after_expiry += 1;
                        }
                    }
                }
            }
            "pod.no_credentials" => {
                let pod = e.str("pod").to_string();
                let flow = self.flow_of(&pod);
                let b = self.bucket(t);
                *self.without_buckets.entry((flow, b)).or_default() += 1;
                let st = self.pods.entry(pod).or_default();
                st.uses_without += 1;
                st.ever_without = true;
                if st.without_since_ns.is_none() {
                    st.without_since_ns = Some(t);
                }
            }
            "fault.start" => {
                let id = num(e, "id").unwrap_or(0);
                self.fault_order.push(id);
                self.faults.insert(
                    id,
                    FaultSpan { id, kind: e.str("kind").to_string(), target: e.str("target").to_string(), start_s: secs(t), end_s: f64::NAN },
                );
            }
            "fault.end" => {
                if let Some(f) = self.faults.get_mut(&num(e, "id").unwrap_or(0)) {
                    f.end_s = secs(t);
                }
            }
            _ => {}
        }
    }

    /// The report's numbers at the end of a run.
    pub fn finish(mut self, meta: RunMeta) -> (ReportData, Histograms) {
        let end_ns = (meta.duration_s * 1_000_000_000).max(self.last_ns);
        let duration_s = meta.duration_s;
        // Close open stretches without credentials at the end of the run; pods that never got any count
        // from their creation.
        for st in self.pods.values_mut() {
            if let Some(since) = st.without_since_ns.take() {
                close_gap(st, since, st.deleted_ns.unwrap_or(end_ns));
            }
            if let (false, Some(c)) = (st.first_credentials, st.created_ns) {
                if !st.ever_without {
                    close_gap(st, c, st.deleted_ns.unwrap_or(end_ns));
                }
                st.ever_without = true;
            }
        }
        let mut data = ReportData { scenario: meta.scenario, seed: meta.seed, duration_s, ..Default::default() };
        for ((hop, flow), h) in &self.hops {
            data.hops.entry(hop.clone()).or_default().insert(flow.clone(), Stats::of(h));
        }
        for ((what, flow), h) in &self.e2e {
            data.end_to_end.entry(what.clone()).or_default().insert(flow.clone(), Stats::of(h));
        }
        for ((what, flow, sdk), h) in &self.e2e_sdk {
            data.end_to_end_by_sdk.entry(what.clone()).or_default().entry(flow.clone()).or_default().insert(sdk.clone(), Stats::of(h));
        }
        for flow in FLOWS {
            let mut f = FlowFigures::default();
            let mut longest = 0u64;
            let mut total = 0u64;
            for st in self.pods.values().filter(|p| p.flow == *flow && p.created_ns.is_some()) {
                f.pods += 1;
                if st.first_credentials {
                    f.pods_with_credentials += 1;
                }
                let created = st.created_ns.unwrap_or(0);
                f.pod_hours += st.deleted_ns.unwrap_or(end_ns).saturating_sub(created) as f64 / 3.6e12;
                if st.ever_without {
                    f.pods_without_credentials += 1;
                }
                total += st.without_total_ns;
                longest = longest.max(st.without_longest_ns);
                f.uses_without_credentials += st.uses_without;
            }
            f.pod_hours = round3(f.pod_hours);
            f.seconds_without_credentials = round3(total as f64 / 1e9);
            f.longest_without_credentials_s = round3(longest as f64 / 1e9);
            let stats = |m: &str| data.end_to_end.get(m).and_then(|x| x.get(*flow)).cloned().unwrap_or_default();
            f.first_credentials_ms = stats("first_credentials");
            f.credential_refresh_ms = stats("credential_refresh");
            f.sts_calls = self.sts_calls_by_flow.get(*flow).copied().unwrap_or(0);
            if *flow == "pod_identity" {
                f.eks_auth_calls = self.eks_auth_calls;
            }
            if f.pod_hours > 0.0 {
                f.sts_calls_per_pod_hour = round3(f.sts_calls as f64 / f.pod_hours);
                f.eks_auth_calls_per_pod_hour = round3(f.eks_auth_calls as f64 / f.pod_hours);
            }
            data.flows.insert(flow.to_string(), f);
        }
        let a = &mut self.agent;
        let answered = a.hits + a.misses + a.coalesced + a.stale_served;
        a.hit_ratio = if answered == 0 { 0.0 } else { round3(a.hits as f64 / answered as f64) };
        data.caches = CacheStats {
            agent: self.agent.clone(),
            sts_jwks: self.sts_jwks.clone(),
            eks_auth_jwks_fetches: self.eks_auth_jwks_fetches,
            sdk_uses: self.sdk_uses,
            sdk_credential_sets: self.sdk_sets,
            sdk_uses_per_credential_set: if self.sdk_sets == 0 { 0.0 } else { round3(self.sdk_uses as f64 / self.sdk_sets as f64) },
        };
        data.calls = self.calls.clone();
        data.token_refresh_lag_s = Stats::of(&self.refresh_lag);
        data.token_refreshes_early = self.refresh_early;
        data.credential_headroom_s = Stats::of(&self.headroom);
        data.credentials_replaced_after_expiry = self.replaced_after_expiry;
        data.faults = self
            .fault_order
            .iter()
            .filter_map(|id| self.faults.get(id))
            .map(|f| FaultSpan { end_s: if f.end_s.is_nan() { secs(end_ns) } else { f.end_s }, ..f.clone() })
            .collect();

        // Time series.
        let buckets = end_ns.div_ceil(self.bucket_s * 1_000_000_000).max(1);
        let mut ts = TimeSeries { bucket_s: self.bucket_s, ..Default::default() };
        for flow in FLOWS {
            if !self.pods.values().any(|p| p.flow == *flow) {
                continue;
            }
            let points = (0..buckets)
                .map(|b| {
                    let h = self.cred_buckets.get(&(flow.to_string(), b));
                    let q = |x: f64| h.filter(|h| !h.is_empty()).map(|h| h.value_at_quantile(x)).unwrap_or(0);
                    BucketQuantiles {
                        t_s: (b * self.bucket_s) as f64,
                        count: h.map(|h| h.len()).unwrap_or(0),
                        p50: q(0.5),
                        p95: q(0.95),
                        p99: q(0.99),
                        max: h.filter(|h| !h.is_empty()).map(|h| h.max()).unwrap_or(0),
                    }
                })
                .collect();
            ts.credential_latency_ms.insert(flow.to_string(), points);
            ts.uses_without_credentials
                .insert(flow.to_string(), (0..buckets).map(|b| self.without_buckets.get(&(flow.to_string(), b)).copied().unwrap_or(0)).collect());
        }
        let services: BTreeSet<String> = self.requests.keys().map(|(s, _)| s.clone()).collect();
        for s in services {
            let v = (0..buckets)
                .map(|b| round3(self.requests.get(&(s.clone(), b)).copied().unwrap_or(0) as f64 / self.bucket_s as f64))
                .collect();
            ts.requests_per_s.insert(s, v);
        }
        ts.agent_hit_ratio = (0..buckets)
            .map(|b| self.agent_buckets.get(&b).filter(|(_, n)| *n > 0).map(|(h, n)| round3(*h as f64 / *n as f64)))
            .collect();
        data.time_series = ts;

        let mut hists = Histograms::default();
        for ((what, flow), h) in self.e2e {
            hists.end_to_end.insert((what, flow), h);
        }
        for ((hop, flow), h) in self.hops {
            hists.hops.insert((hop, flow), h);
        }
        (data, hists)
    }
}

/// The raw histograms behind [`ReportData`] (for CDFs and `.hgrm` files), keyed (measure, flow).
#[derive(Default)]
pub struct Histograms {
    pub end_to_end: BTreeMap<(String, String), Histogram<u64>>,
    pub hops: BTreeMap<(String, String), Histogram<u64>>,
}

fn close_gap(st: &mut PodState, since: u64, until: u64) {
    let d = until.saturating_sub(since);
    st.without_total_ns += d;
    st.without_longest_ns = st.without_longest_ns.max(d);
}

fn secs(t_ns: u64) -> f64 {
    round3(t_ns as f64 / 1e9)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t_ms: u64, kind: &str, fields: Vec<(&str, FieldValue)>) -> Event {
        Event { t_ns: t_ms * 1_000_000, host: "h".into(), kind: kind.into(), fields: fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect() }
    }

    fn s(v: &str) -> FieldValue {
        FieldValue::Str(v.into())
    }

    /// One IRSA pod and one Pod Identity pod through start-up, a refresh, a gap and a fault.
    fn sample() -> ReportData {
        let mut c = Collector::new(3600);
        let exp0 = sim::EPOCH_UNIX_S + 3600;
        for e in [
            ev(0, "webhook.admission", vec![("pod", s("a")), ("mode", s("web_identity"))]),
            ev(4, "apiserver.pod_created", vec![("pod", s("a")), ("admission_ms", FieldValue::U64(4))]),
            ev(8, "kubelet.token_request", vec![("pod", s("a")), ("ms", FieldValue::U64(4))]),
            ev(9, "kubelet.token_mounted", vec![("pod", s("a")), ("volume", s("v")), ("expiration_s", FieldValue::U64(86400))]),
            ev(20, "sts.request", vec![("action", s("AssumeRoleWithWebIdentity")), ("outcome", s("ok")), ("jwks", s("fetched"))]),
            ev(21, "sdk.sts_call", vec![("pod", s("a")), ("ms", FieldValue::U64(12))]),
            ev(21, "pod.credentials", vec![("pod", s("a")), ("sdk", s("go")), ("first", FieldValue::Bool(true)), ("expiration", FieldValue::U64(exp0))]),
            ev(0, "webhook.admission", vec![("pod", s("b")), ("mode", s("container_credentials"))]),
            ev(30, "apiserver.pod_created", vec![("pod", s("b")), ("admission_ms", FieldValue::U64(3))]),
            ev(40, "fault.start", vec![("id", FieldValue::U64(1)), ("kind", s("outage")), ("target", s("eks-auth"))]),
            ev(50, "pod.no_credentials", vec![("pod", s("b")), ("code", s("x"))]),
            ev(60_050, "pod.no_credentials", vec![("pod", s("b")), ("code", s("x"))]),
            ev(120_000, "fault.end", vec![("id", FieldValue::U64(1))]),
            ev(120_050, "agent.request", vec![("cache", s("miss")), ("error_code", s(""))]),
            ev(120_060, "pod.credentials", vec![("pod", s("b")), ("sdk", s("rust")), ("first", FieldValue::Bool(true)), ("expiration", FieldValue::U64(exp0))]),
            ev(120_070, "agent.request", vec![("cache", s("hit")), ("error_code", s(""))]),
            // 55 minutes in: IRSA pod refreshes with 5 minutes left.
            ev(3_300_000, "pod.credentials", vec![("pod", s("a")), ("sdk", s("go")), ("first", FieldValue::Bool(false)), ("expiration", FieldValue::U64(exp0 + 3300)), ("wait_ms", FieldValue::U64(15))]),
            ev(3_300_001, "kubelet.token_refreshed", vec![("pod", s("a")), ("volume", s("v")), ("age_s", FieldValue::U64(69_200)), ("expiration_s", FieldValue::U64(86400))]),
        ] {
            c.observe(&e);
        }
        c.finish(RunMeta { scenario: "t".into(), seed: 1, duration_s: 3600 }).0
    }

    #[test]
    fn hops_are_split_by_flow() {
        let d = sample();
        assert_eq!(d.hops["admission"]["all"].count, 2);
        assert_eq!(d.hops["admission"]["irsa"].p50, 4);
        assert_eq!(d.hops["admission"]["pod_identity"].p50, 3);
        assert_eq!(d.hops["sts_exchange"]["irsa"].max, 12);
    }

    #[test]
    fn end_to_end_first_credentials_and_refresh() {
        let d = sample();
        assert_eq!(d.end_to_end["first_credentials"]["irsa"].p50, 17);
        // HdrHistogram keeps 3 significant digits: 120,030 ms reads back within 0.1 %.
        let pi = d.end_to_end["first_credentials"]["pod_identity"].p50;
        assert!((120_030..=120_150).contains(&pi), "{pi}");
        assert_eq!(d.end_to_end["credential_refresh"]["irsa"].p50, 15);
        assert_eq!(d.end_to_end_by_sdk["first_credentials"]["irsa"]["go"].count, 1);
    }

    #[test]
    fn gaps_measure_pods_without_credentials() {
        let d = sample();
        let pi = &d.flows["pod_identity"];
        assert_eq!(pi.pods_without_credentials, 1);
        assert_eq!(pi.uses_without_credentials, 2);
        assert_eq!(pi.longest_without_credentials_s, 120.01);
        assert_eq!(d.flows["irsa"].pods_without_credentials, 0);
        assert_eq!(d.time_series.uses_without_credentials["pod_identity"].iter().sum::<u64>(), 2);
    }

    #[test]
    fn headroom_refresh_lag_and_caches() {
        let d = sample();
        // Expiration at 3600 s, replaced at 3300 s: 300 s left.
        assert_eq!(d.credential_headroom_s.p50, 300);
        // 80 % of 86400 s is 69120 s; refreshed at 69200 s.
        assert_eq!(d.token_refresh_lag_s.p50, 80);
        assert_eq!(d.caches.agent.hits, 1);
        assert_eq!(d.caches.agent.hit_ratio, 0.5);
        assert_eq!(d.caches.sts_jwks["fetched"], 1);
        assert_eq!(d.calls["sts"]["ok"], 1);
        assert_eq!(d.flows["irsa"].sts_calls, 1);
    }

    #[test]
    fn faults_and_time_series() {
        let d = sample();
        assert_eq!(d.faults.len(), 1);
        assert_eq!((d.faults[0].start_s, d.faults[0].end_s), (0.04, 120.0));
        assert_eq!(d.time_series.bucket_s, 30);
        assert_eq!(d.time_series.agent_hit_ratio.len(), 120);
        assert_eq!(d.time_series.agent_hit_ratio[4], Some(0.5));
        let irsa = &d.time_series.credential_latency_ms["irsa"];
        assert_eq!(irsa[0].count, 1);
        assert_eq!(irsa[110].p50, 15);
    }

    #[test]
    fn bucket_width_gives_a_readable_number_of_buckets() {
        assert_eq!(bucket_width_s(600), 5);
        assert_eq!(bucket_width_s(3600), 30);
        assert_eq!(bucket_width_s(24 * 3600), 600);
    }
}
