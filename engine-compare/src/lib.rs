//! Runs one scenario on both engines — credsim's own (`sim`) and turmoil 0.7.2 (`credsim::turmoil_engine`)
//! — and compares them: speed, the counts that must agree, and the latency distributions.
//!
//! A second, independent simulator is the strongest check of the first: the actors are the same code,
//! only the clock, the network and the scheduler differ. Both engines quantise every network hop to
//! whole milliseconds (tokio's timer wheel in ours, turmoil's 1 ms tick), so a latency measured over
//! `h` sequential hops may differ by up to `h` ms between them and still be "the same" at the latency
//! model's resolution; [`Metric::hops`] says how many hops each metric's critical path has.
//!
//! Distances: for each metric the quantiles (nearest rank) p50/p90/p99/max, and a two-sample
//! Kolmogorov–Smirnov distance, raw and after the best shift of the turmoil sample by a whole number of
//! milliseconds within the tolerance (a constant per-hop offset of a tick is resolution, not
//! disagreement; anything left after that shift is a difference of shape).

use std::collections::BTreeMap;
use std::time::Duration;

use credsim::cluster::{RunOptions, RunOutcome};
use credsim::scenario::{HumanDuration, Loaded};
use credsim::summary::Summary;
use serde::Serialize;

/// The latency model's resolution: every hop is a whole number of milliseconds on both engines.
pub const RESOLUTION_MS: f64 = 1.0;

/// The KS threshold floor: after the allowed shift, at most a tenth of either sample may lie on the
/// other side of any latency value.
pub const KS_MAX: f64 = 0.10;

/// A latency metric compared between the engines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Metric {
    /// Pod created at the API server → first credentials in the pod, IRSA pods.
    FirstCredentialsIrsa,
    /// The same for Pod Identity pods.
    FirstCredentialsPodIdentity,
    /// `sdk.sts_call` ms: one STS exchange from the SDK (AssumeRoleWithWebIdentity).
    StsCall,
    /// `sdk.container_call` ms: one request from the SDK to the node's Pod Identity Agent.
    ContainerCall,
    /// `agent.eks_auth` ms: the agent's AssumeRoleForPodIdentity call to EKS Auth.
    AgentEksAuth,
    /// `kubelet.token_request` ms: the kubelet's TokenRequest to the API server.
    TokenRequest,
}

impl Metric {
    pub const ALL: [Metric; 6] = [
        Metric::FirstCredentialsIrsa,
        Metric::FirstCredentialsPodIdentity,
        Metric::StsCall,
        Metric::ContainerCall,
        Metric::AgentEksAuth,
        Metric::TokenRequest,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::FirstCredentialsIrsa => "first_credentials.irsa",
            Metric::FirstCredentialsPodIdentity => "first_credentials.pod_identity",
            Metric::StsCall => "sdk.sts_call",
            Metric::ContainerCall => "sdk.container_call",
            Metric::AgentEksAuth => "agent.eks_auth",
            Metric::TokenRequest => "kubelet.token_request",
        }
    }

    /// Sequential network hops (one-way segments) on the metric's critical path when nothing is cached
    /// and the connection is new. Each is a whole tick on both engines, but where each tick boundary
    /// falls differs, so each hop may cost up to one resolution more on one engine than on the other.
    ///
    /// * TokenRequest: kubelet → API server: SYN, SYN-ACK, request, response = 4.
    /// * STS call: SDK → STS (4), and on a JWKS cache miss STS → OIDC issuer discovery and JWKS (2 × 4),
    ///   the issuer → API server JWKS (4) = 16.
    /// * EKS Auth call: agent → EKS Auth (4); EKS Auth → OIDC issuer JWKS (4 + the issuer's 4 to the
    ///   API server), → EKS API associations (4), → STS AssumeRole (4) = 20.
    /// * Container call: pod → node agent (4, node-local) + the EKS Auth call (20) = 24.
    /// * First credentials: the kubelet's watch event (1), TokenRequest (4), then the SDK's first call
    ///   (16 for IRSA, 24 for Pod Identity) = 21 and 29.
    pub fn hops(self) -> u32 {
        match self {
            Metric::TokenRequest => 4,
            Metric::StsCall => 16,
            Metric::AgentEksAuth => 20,
            Metric::ContainerCall => 24,
            Metric::FirstCredentialsIrsa => 21,
            Metric::FirstCredentialsPodIdentity => 29,
        }
    }

    /// How far two quantiles may differ and still agree: the resolution times the hops.
    pub fn tolerance_ms(self) -> f64 {
        RESOLUTION_MS * f64::from(self.hops())
    }
}

/// Samples of every metric from one run's events, in milliseconds.
pub fn samples(events: &[sim::Event]) -> BTreeMap<Metric, Vec<f64>> {
    let mut out: BTreeMap<Metric, Vec<f64>> = Metric::ALL.iter().map(|m| (*m, Vec::new())).collect();
    let mut created: BTreeMap<&str, u64> = BTreeMap::new();
    let mut mode: BTreeMap<&str, &str> = BTreeMap::new();
    let mut first: BTreeMap<&str, u64> = BTreeMap::new();
    let ms_field = |e: &sim::Event| e.u64("ms").map(|v| v as f64);
    for e in events {
        match e.kind.as_str() {
            "apiserver.pod_created" => {
                created.entry(e.str("pod")).or_insert(e.t_ns);
            }
            "webhook.admission" => {
                mode.insert(e.str("pod"), e.str("mode"));
            }
            "pod.credentials" => {
                first.entry(e.str("pod")).or_insert(e.t_ns);
            }
            "sdk.sts_call" => out.get_mut(&Metric::StsCall).into_iter().for_each(|v| v.extend(ms_field(e))),
            "sdk.container_call" => out.get_mut(&Metric::ContainerCall).into_iter().for_each(|v| v.extend(ms_field(e))),
            "agent.eks_auth" => out.get_mut(&Metric::AgentEksAuth).into_iter().for_each(|v| v.extend(ms_field(e))),
            "kubelet.token_request" => out.get_mut(&Metric::TokenRequest).into_iter().for_each(|v| v.extend(ms_field(e))),
            _ => {}
        }
    }
    for (pod, t) in &first {
        let Some(c) = created.get(pod) else { continue };
        let metric = match mode.get(pod).copied() {
            Some("web_identity") => Metric::FirstCredentialsIrsa,
            Some("container_credentials") => Metric::FirstCredentialsPodIdentity,
            _ => continue,
        };
        if let Some(v) = out.get_mut(&metric) {
            v.push(t.saturating_sub(*c) as f64 / 1e6);
        }
    }
    for v in out.values_mut() {
        v.sort_by(f64::total_cmp);
    }
    out
}

/// A distribution's summary.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Dist {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// The nearest-rank quantile of a sorted sample (0 for an empty one).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

impl Dist {
    pub fn of(sorted: &[f64]) -> Dist {
        Dist {
            count: sorted.len(),
            p50: quantile(sorted, 0.50),
            p90: quantile(sorted, 0.90),
            p99: quantile(sorted, 0.99),
            max: sorted.last().copied().unwrap_or(0.0),
        }
    }
}

/// The two-sample Kolmogorov–Smirnov distance: the largest gap between the empirical CDFs.
pub fn ks(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return if a.is_empty() && b.is_empty() { 0.0 } else { 1.0 };
    }
    let (mut i, mut j, mut d) = (0usize, 0usize, 0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
    }
    d
}

/// The KS distance after shifting `b` by the whole number of resolutions within `tolerance` that
/// brings it closest to `a`; returns (distance, shift in ms).
pub fn ks_shifted(a: &[f64], b: &[f64], tolerance: f64) -> (f64, f64) {
    let steps = (tolerance / RESOLUTION_MS).floor() as i64;
    let mut best: (f64, f64) = (ks(a, b), 0.0);
    for s in -steps..=steps {
        let shift = s as f64 * RESOLUTION_MS;
        let moved: Vec<f64> = b.iter().map(|x| x + shift).collect();
        let d = ks(a, &moved);
        if d < best.0 - 1e-12 || (d <= best.0 + 1e-12 && shift.abs() < best.1.abs()) {
            best = (d, shift);
        }
    }
    best
}

/// The KS threshold for samples of sizes `n` and `m`: [`KS_MAX`], or the two-sample critical value at
/// α = 0.01 (`1.63 · sqrt((n + m) / (n m))`) when that is larger — with a few dozen samples, two draws
/// of one distribution routinely differ by more than 0.1.
pub fn ks_threshold(n: usize, m: usize) -> f64 {
    if n == 0 || m == 0 {
        return KS_MAX;
    }
    let (n, m) = (n as f64, m as f64);
    KS_MAX.max(1.63 * ((n + m) / (n * m)).sqrt())
}

/// One metric on both engines.
#[derive(Clone, Debug, Serialize)]
pub struct MetricComparison {
    pub metric: &'static str,
    pub ours: Dist,
    pub turmoil: Dist,
    /// The largest |difference| of p50, p90, p99 and max, ms.
    pub max_quantile_diff_ms: f64,
    pub tolerance_ms: f64,
    pub ks: f64,
    pub ks_shifted: f64,
    pub ks_shift_ms: f64,
    pub ks_threshold: f64,
    /// `agree`, `disagree`, or `no samples`.
    pub verdict: String,
}

impl MetricComparison {
    pub fn agrees(&self) -> bool {
        self.verdict == "agree" || self.verdict == "no samples"
    }
}

/// Compares one metric's samples.
pub fn compare_metric(metric: Metric, ours: &[f64], turmoil: &[f64]) -> MetricComparison {
    let (a, b) = (Dist::of(ours), Dist::of(turmoil));
    let diff = [(a.p50, b.p50), (a.p90, b.p90), (a.p99, b.p99), (a.max, b.max)].iter().map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    let tol = metric.tolerance_ms();
    let raw = ks(ours, turmoil);
    let (shifted, shift) = ks_shifted(ours, turmoil, tol);
    let threshold = ks_threshold(ours.len(), turmoil.len());
    let verdict = if ours.is_empty() && turmoil.is_empty() {
        "no samples"
    } else if diff <= tol + 1e-9 && shifted <= threshold {
        "agree"
    } else {
        "disagree"
    };
    MetricComparison {
        metric: metric.name(),
        ours: a,
        turmoil: b,
        max_quantile_diff_ms: diff,
        tolerance_ms: tol,
        ks: raw,
        ks_shifted: shifted,
        ks_shift_ms: shift,
        ks_threshold: threshold,
        verdict: verdict.into(),
    }
}

/// One engine's run.
#[derive(Clone, Debug, Serialize)]
pub struct EngineRun {
    pub engine: &'static str,
    pub wall_ms: u64,
    pub sim_seconds: u64,
    pub sim_wall_ratio: f64,
    pub events: u64,
    pub digest: String,
    pub pods: u64,
    pub pods_with_credentials: u64,
    pub violations: Vec<String>,
    #[serde(skip)]
    pub summary: Summary,
}

impl EngineRun {
    fn of(engine: &'static str, out: &RunOutcome) -> EngineRun {
        let s = &out.summary;
        EngineRun {
            engine,
            wall_ms: s.wall_ms,
            sim_seconds: s.sim_seconds,
            sim_wall_ratio: s.sim_seconds as f64 * 1000.0 / s.wall_ms.max(1) as f64,
            events: s.events,
            digest: s.digest.clone(),
            pods: s.pods,
            pods_with_credentials: s.pods_with_credentials,
            violations: s.violations.clone(),
            summary: s.clone(),
        }
    }
}

/// A count on both engines.
#[derive(Clone, Debug, Serialize)]
pub struct CountCheck {
    pub name: String,
    pub ours: u64,
    pub turmoil: u64,
    /// Whether the count is fixed by the scenario alone (then it must match exactly) or moves with
    /// timing (retries, refresh instants near the end of the run, cache hits).
    pub must_match: bool,
    pub ok: bool,
}

/// The whole comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub scenario: String,
    pub seed: u64,
    pub sim_seconds: u64,
    pub ours: EngineRun,
    pub turmoil: EngineRun,
    /// turmoil wall time / ours.
    pub speed_ratio: f64,
    pub every_pod_has_credentials: bool,
    pub counts: Vec<CountCheck>,
    pub metrics: Vec<MetricComparison>,
    /// `agree` when every metric agrees, every pod got credentials on both, and every must-match count
    /// matches; `disagree` otherwise.
    pub verdict: String,
}

/// Loads a scenario with its duration replaced (when given).
pub fn load(path: &std::path::Path, duration: Option<Duration>) -> anyhow::Result<Loaded> {
    let mut l = credsim::scenario::load_file(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(d) = duration {
        l.scenario.scenario.duration = HumanDuration(d);
    }
    Ok(l)
}

/// Runs `loaded` on both engines (ours first) and compares them.
pub fn compare(loaded: &Loaded, seed: u64, progress: &dyn Fn(&str, Duration, Duration)) -> anyhow::Result<Comparison> {
    let opts = RunOptions { seed, keep_events: true, ..Default::default() };
    let ours = credsim::cluster::run_with_progress(loaded, &opts, &|t, d| progress("ours", t, d)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let theirs = credsim::turmoil_engine::run(loaded, &opts, &credsim::turmoil_engine::TurmoilConfig::default(), &|t, d| progress("turmoil", t, d))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(compare_outcomes(loaded, seed, &ours, &theirs))
}

/// Compares two finished runs of the same scenario.
pub fn compare_outcomes(loaded: &Loaded, seed: u64, ours: &RunOutcome, theirs: &RunOutcome) -> Comparison {
    let (a, b) = (samples(&ours.events), samples(&theirs.events));
    let metrics: Vec<MetricComparison> =
        Metric::ALL.iter().map(|m| compare_metric(*m, a.get(m).map(Vec::as_slice).unwrap_or(&[]), b.get(m).map(Vec::as_slice).unwrap_or(&[]))).collect();
    let (so, st) = (&ours.summary, &theirs.summary);
    let mut counts = Vec::new();
    let mut count = |name: &str, x: u64, y: u64, must: bool| counts.push(CountCheck { name: name.into(), ours: x, turmoil: y, must_match: must, ok: !must || x == y });
    // Fixed by the scenario: pods, their flows, and one token mount per pod.
    count("pods", so.pods, st.pods, true);
    count("pods_with_credentials", so.pods_with_credentials, st.pods_with_credentials, true);
    count("tokens_mounted", so.tokens_mounted, st.tokens_mounted, true);
    for (flow, f) in &so.flows {
        let g = st.flows.get(flow).map(|g| (g.pods, g.pods_with_credentials)).unwrap_or_default();
        count(&format!("flows.{flow}.pods"), f.pods, g.0, true);
        count(&format!("flows.{flow}.pods_with_credentials"), f.pods_with_credentials, g.1, true);
    }
    // STS calls by action: AssumeRoleWithWebIdentity is one per IRSA pod plus one per SDK refresh, and
    // AssumeRole one per agent cache miss; with a healthy network neither depends on timing unless a
    // refresh falls across the end of the run. GetCallerIdentity counts pod uses, which start at
    // scheduled instants: a use that lands within a few ms of the end may fall either side.
    let actions: std::collections::BTreeSet<&String> = so.sts_calls_by_action.keys().chain(st.sts_calls_by_action.keys()).collect();
    for action in actions {
        let (x, y) = (so.sts_calls_by_action.get(action).copied().unwrap_or(0), st.sts_calls_by_action.get(action).copied().unwrap_or(0));
        count(&format!("sts_calls.{action}"), x, y, action != "GetCallerIdentity");
    }
    count("sts_calls", so.sts_calls, st.sts_calls, false);
    count("credentials_issued", so.credentials_issued, st.credentials_issued, true);
    count("eks_auth_calls", so.eks_auth_calls, st.eks_auth_calls, true);
    count("api_calls_ok", so.api_calls_ok, st.api_calls_ok, false);
    count("api_calls_failed", so.api_calls_failed, st.api_calls_failed, true);
    count("uses_without_credentials", so.uses_without_credentials, st.uses_without_credentials, true);
    count("violations", so.violations.len() as u64, st.violations.len() as u64, true);

    let every = so.pods > 0 && so.pods_with_credentials == so.pods && st.pods_with_credentials == st.pods;
    let ours_run = EngineRun::of("ours", ours);
    let turmoil_run = EngineRun::of("turmoil", theirs);
    let agree = every && metrics.iter().all(MetricComparison::agrees) && counts.iter().all(|c| c.ok);
    Comparison {
        scenario: loaded.scenario.scenario.name.clone(),
        seed,
        sim_seconds: loaded.scenario.scenario.duration.0.as_secs(),
        speed_ratio: turmoil_run.wall_ms as f64 / ours_run.wall_ms.max(1) as f64,
        ours: ours_run,
        turmoil: turmoil_run,
        every_pod_has_credentials: every,
        counts,
        metrics,
        verdict: if agree { "agree" } else { "disagree" }.into(),
    }
}

impl Comparison {
    /// The report for a person.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(s, "scenario {} seed {} simulated {} s", self.scenario, self.seed, self.sim_seconds);
        let _ = writeln!(s, "{:<8} {:>10} {:>10} {:>10} {:>18}  digest", "engine", "wall ms", "sim/wall", "events", "pods with creds");
        for r in [&self.ours, &self.turmoil] {
            let _ = writeln!(
                s,
                "{:<8} {:>10} {:>10.1} {:>10} {:>18}  {}",
                r.engine,
                r.wall_ms,
                r.sim_wall_ratio,
                r.events,
                format!("{}/{}", r.pods_with_credentials, r.pods),
                r.digest
            );
        }
        let _ = writeln!(s, "speed ratio (turmoil wall / ours): {:.2}", self.speed_ratio);
        let _ = writeln!(s, "every pod got credentials on both engines: {}", self.every_pod_has_credentials);
        let _ = writeln!(s, "\ncounts ({{must match}} exactly, else informative):");
        for c in &self.counts {
            let _ = writeln!(
                s,
                "  {:<40} {:>8} {:>8}  {}",
                c.name,
                c.ours,
                c.turmoil,
                match (c.must_match, c.ok) {
                    (true, true) => "match",
                    (true, false) => "MISMATCH",
                    (false, _) if c.ours == c.turmoil => "same",
                    (false, _) => "differs (timing)",
                }
            );
        }
        let _ = writeln!(s, "\nlatency, ms (ours | turmoil); tolerance = 1 ms x hops; KS after the best shift within tolerance:");
        for m in &self.metrics {
            let (a, b) = (&m.ours, &m.turmoil);
            let _ = writeln!(s, "  {} — {}", m.metric, m.verdict);
            let _ = writeln!(
                s,
                "    n {:>6} | {:<6}  p50 {:>7.1} | {:<7.1} p90 {:>7.1} | {:<7.1} p99 {:>7.1} | {:<7.1} max {:>7.1} | {:<7.1}",
                a.count, b.count, a.p50, b.p50, a.p90, b.p90, a.p99, b.p99, a.max, b.max
            );
            let _ = writeln!(
                s,
                "    max quantile diff {:.1} ms (tolerance {:.0}); KS {:.3}, shifted {:+.0} ms: {:.3} (threshold {:.3})",
                m.max_quantile_diff_ms, m.tolerance_ms, m.ks, m.ks_shift_ms, m.ks_shifted, m.ks_threshold
            );
        }
        for r in [&self.ours, &self.turmoil] {
            for v in &r.violations {
                let _ = writeln!(s, "violation on {}: {v}", r.engine);
            }
        }
        let _ = writeln!(s, "\nverdict: {}", self.verdict);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let cases = [(0.5, 50.0), (0.9, 90.0), (0.99, 99.0), (1.0, 100.0), (0.001, 1.0)];
        for (q, want) in cases {
            assert_eq!(quantile(&v, q), want, "q={q}");
        }
        assert_eq!(quantile(&[], 0.5), 0.0);
    }

    #[test]
    fn ks_distance_of_known_samples() {
        let cases: &[(&[f64], &[f64], f64)] = &[
            (&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0], 0.0),
            (&[1.0, 1.0], &[2.0, 2.0], 1.0),
            (&[1.0, 2.0, 3.0, 4.0], &[3.0, 4.0, 5.0, 6.0], 0.5),
            (&[], &[1.0], 1.0),
        ];
        for (a, b, want) in cases {
            assert!((ks(a, b) - want).abs() < 1e-12, "{a:?} {b:?}: {}", ks(a, b));
        }
    }

    #[test]
    fn a_shift_within_tolerance_is_resolution_not_disagreement() {
        let a: Vec<f64> = (0..50).map(|i| 10.0 + f64::from(i / 10)).collect();
        let b: Vec<f64> = a.iter().map(|x| x + 1.0).collect();
        let (d, shift) = ks_shifted(&a, &b, 2.0);
        assert_eq!((d, shift), (0.0, -1.0));
        assert!(ks(&a, &b) > 0.1);
        let c = compare_metric(Metric::TokenRequest, &a, &b);
        assert_eq!(c.verdict, "agree");
        let far: Vec<f64> = a.iter().map(|x| x + 10.0).collect();
        assert_eq!(compare_metric(Metric::TokenRequest, &a, &far).verdict, "disagree");
    }
}
