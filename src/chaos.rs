//! Chaos experiments: seed sweeps that find failures, replay them exactly, and shrink them.
//!
//! This is swarm testing in the manner of FoundationDB's simulator and TigerBeetle's VOPR. For each seed
//! the *world* is drawn from the seed on top of a scenario: which faults, how many, when, on which links
//! (see [`draw`]), the network's latency model, the SDK mix and the agent's cache mode. The run is then
//! an ordinary deterministic simulation, checked by `invariants` as it goes, so a failing seed replays
//! bit for bit (`credsim replay SCENARIO --seed N`, same digest), and [`shrink`] minimises its fault
//! schedule by delta debugging (remove faults, shorten them, merge neighbours) while the same invariant
//! still fails.
//!
//! Seeds run in parallel on all cores; each simulation stays on one thread. Every finished seed is
//! written to the results file (JSON lines) at once, so nothing is lost when a sweep is stopped.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::bugs::Bug;
use crate::cluster::{self, ClusterFacts, RunOptions};
use crate::faults::{Fault, FaultKind};
use crate::scenario::{HumanDuration, Loaded, SdkName};

/// What one seed found.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SeedResult {
    pub seed: u64,
    pub digest: String,
    /// Invariants that failed, first failure first.
    pub violations: Vec<ViolationRecord>,
    /// How many faults the world had.
    pub faults: usize,
    /// The planted bugs that were on.
    pub bugs: Vec<String>,
    pub wall_ms: u64,
    /// A second run's digest when it differed (`--check-determinism`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub determinism_mismatch: Option<String>,
    /// The command that replays this seed.
    pub replay: String,
}

impl SeedResult {
    pub fn failed(&self) -> bool {
        !self.violations.is_empty() || self.determinism_mismatch.is_some()
    }

    /// The invariant a failure is filed under: the earliest violation's, or `determinism`.
    pub fn primary_invariant(&self) -> Option<&str> {
        self.violations.first().map(|v| v.invariant.as_str()).or(self.determinism_mismatch.as_ref().map(|_| "determinism"))
    }
}

/// One violation, as the results file keeps it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ViolationRecord {
    pub invariant: String,
    /// Simulated time, seconds since the start.
    pub t_s: f64,
    #[serde(default)]
    pub pod: Option<String>,
    pub message: String,
}

/// A world drawn for one seed: the scenario with the drawn faults and perturbations applied.
pub struct World {
    pub loaded: Loaded,
    /// The faults in effect (the scenario's own first, then the drawn ones).
    pub faults: Vec<Fault>,
    /// What else the seed changed, in words (for replay output).
    pub perturbations: Vec<String>,
}

/// How a sweep runs.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    pub seeds: Range<u64>,
    pub bugs: Vec<Bug>,
    /// Run each seed twice and compare digests.
    pub check_determinism: bool,
    /// Worker threads (each runs whole simulations).
    pub jobs: usize,
    /// The scenario's path as the user gave it (for replay commands).
    pub scenario_arg: String,
}

/// The shortest time a drawn fault starts after the run does (pods start in the first minutes).
const DRAW_EARLIEST: Duration = Duration::from_secs(5 * 60);

/// Draws the world of `seed` on top of `base`: 0–4 faults (one in eight seeds has none), the latency
/// model, a new SDK for some workloads, and the agent's cache key. Every fault heals at least the
/// liveness deadline plus 10 minutes before the run ends, so the liveness checks always have a healthy
/// stretch to judge.
pub fn draw(base: &Loaded, seed: u64) -> World {
    let mut loaded = base.clone();
    let mut rng = ChaCha8Rng::seed_from_u64(sim::derive_seed(seed, "chaos/world"));
    let s = &mut loaded.scenario;
    let mut perturbations = Vec::new();

    // Latency model: 0.1–0.5 ms minimum, up to 5 ms maximum one way.
    let min_us = rng.random_range(100..=500u64);
    let max_us = rng.random_range(min_us..=5_000u64);
    s.network.latency_us_min = min_us;
    s.network.latency_us_max = max_us;
    perturbations.push(format!("[network] latency_us_min = {min_us}, latency_us_max = {max_us}"));
    // SDK mix: each workload keeps its SDK or gets another one.
    for w in &mut s.workloads {
        if rng.random_bool(0.5) {
            let sdk = [SdkName::Rust, SdkName::Botocore, SdkName::Go][rng.random_range(0..3usize)];
            if sdk != w.sdk {
                perturbations.push(format!("workload {} sdk = {:?}", w.name, sdk.to_string()));
                w.sdk = sdk;
            }
        }
    }
    // Agent cache key: the older token key or the pod UID.
    if s.clusters.iter().any(|c| c.pod_identity_agent) && s.agent.cache_by_pod_uid.is_none() && rng.random_bool(0.5) {
        s.agent.cache_by_pod_uid = Some(true);
        perturbations.push("[agent] cache_by_pod_uid = true".into());
    }

    let clusters = ClusterFacts::all(&loaded);
    let deadline = loaded.scenario.invariants.liveness_deadline.map(|d| d.0).unwrap_or(crate::invariants::LIVENESS_DEADLINE_DEFAULT);
    let run = loaded.scenario.scenario.duration.0;
    let latest_end = run.saturating_sub(deadline + Duration::from_secs(600));
    let mut faults = loaded.scenario.faults.clone();
    if latest_end > DRAW_EARLIEST + Duration::from_secs(60) {
        let n = [0usize, 1, 1, 2, 2, 3, 3, 4][rng.random_range(0..8usize)];
        for _ in 0..n {
            if let Some(f) = draw_fault(&mut rng, &clusters, DRAW_EARLIEST, latest_end) {
                faults.push(f);
            }
        }
    }
    loaded.scenario.faults = faults.clone();
    World { loaded, faults, perturbations }
}

/// Log-uniform duration between `lo` and `hi` seconds, whole seconds.
fn log_uniform(rng: &mut ChaCha8Rng, lo: u64, hi: u64) -> Duration {
    let (l, h) = ((lo.max(1) as f64).ln(), (hi.max(lo + 1) as f64).ln());
    Duration::from_secs(rng.random_range(l..h).exp().round() as u64)
}

fn draw_fault(rng: &mut ChaCha8Rng, clusters: &[ClusterFacts], earliest: Duration, latest_end: Duration) -> Option<Fault> {
    let c = &clusters[rng.random_range(0..clusters.len())];
    let nodes: Vec<String> = (1..=c.nodes).map(|i| format!("{}-{i}", c.node_prefix)).collect();
    let node = nodes[rng.random_range(0..nodes.len())].clone();
    let pi = c.pod_identity_agent;
    let multi = clusters.len() > 1;
    let apiserver = if multi { format!("apiserver.{}", c.name) } else { "apiserver".into() };
    let webhook = if multi { format!("webhook.{}", c.name) } else { "webhook".into() };
    let node_side = if rng.random_bool(0.5) { "nodes".to_string() } else { node.clone() };
    let aws = ["sts", "eks-auth", "oidc", "eks-api"];
    let aws_one = |rng: &mut ChaCha8Rng| aws[rng.random_range(0..if pi { 4 } else { 3 })].to_string();
    // Kinds and their weights.
    let kinds: [(&str, u32); 10] = [
        ("partition", 4),
        ("crash", 4),
        ("latency", 2),
        ("loss", 2),
        ("throttle", 2),
        ("outage", 3),
        ("key-rotation", 2),
        ("clock-skew", 2),
        ("agent-rollout", if pi { 1 } else { 0 }),
        ("node-drain", if nodes.len() > 1 { 1 } else { 0 }),
    ];
    let total: u32 = kinds.iter().map(|k| k.1).sum();
    let mut pick = rng.random_range(0..total);
    let kind = kinds.iter().find(|(_, w)| {
        if pick < *w {
            true
        } else {
            pick -= w;
            false
        }
    })?;
    let (kind, duration): (FaultKind, Duration) = match kind.0 {
        "partition" => {
            let (a, b) = match rng.random_range(0..4u32) {
                0 => (apiserver.clone(), webhook.clone()),
                1 => (node_side.clone(), apiserver.clone()),
                _ => (node_side.clone(), aws_one(rng)),
            };
            (FaultKind::Partition { a, b, oneway: rng.random_bool(0.3) }, log_uniform(rng, 10, 2 * 3600))
        }
        "crash" => {
            let pick = rng.random_range(0..6u32);
            let k = match pick {
                0 => FaultKind::Crash { host: node.clone(), process: Some("kubelet".into()), machine: false },
                1 if pi => FaultKind::Crash { host: node.clone(), process: Some(crate::fault_driver::AGENT_PROCESS.into()), machine: false },
                2 => FaultKind::Crash { host: node.clone(), process: None, machine: rng.random_bool(0.5) },
                3 => FaultKind::Crash { host: webhook.clone(), process: None, machine: false },
                4 => FaultKind::Crash { host: apiserver.clone(), process: None, machine: false },
                _ => FaultKind::Crash { host: aws_one(rng), process: None, machine: false },
            };
            (k, log_uniform(rng, 5, 30 * 60))
        }
        "latency" => {
            let min_ms = rng.random_range(20..=200u64);
            let max_ms = min_ms + rng.random_range(0..=1_000u64);
            (FaultKind::Latency { a: node_side.clone(), b: aws_one(rng), min_ms, max_ms }, log_uniform(rng, 60, 2 * 3600))
        }
        "loss" => {
            let rate = (rng.random_range(1..=30u32) as f64) / 100.0;
            (FaultKind::Loss { a: node_side.clone(), b: aws_one(rng), rate }, log_uniform(rng, 60, 2 * 3600))
        }
        "throttle" => {
            let service = if pi && rng.random_bool(0.5) { "eks-auth" } else { "sts" };
            let rate = (rng.random_range(20..=90u32) as f64) / 100.0;
            (FaultKind::Throttle { service: service.into(), rate }, log_uniform(rng, 60, 3600))
        }
        "outage" => (FaultKind::Outage { service: aws_one(rng) }, log_uniform(rng, 60, 8 * 3600)),
        // The old key stays published longer than any token signed with it lives (24 h + a margin):
        // removing it earlier breaks pods by design, which is a misconfiguration, not a fault to survive.
        "key-rotation" => (FaultKind::KeyRotation { cluster: Some(c.name.clone()) }, Duration::from_secs(rng.random_range(25 * 3600..=30 * 3600u64))),
        "clock-skew" => {
            let ms = rng.random_range(1_000..=600_000i64) * if rng.random_bool(0.5) { 1 } else { -1 };
            (FaultKind::ClockSkew { host: node.clone(), skew_ms: ms }, log_uniform(rng, 600, 4 * 3600))
        }
        "agent-rollout" => {
            let interval = HumanDuration(Duration::from_secs(rng.random_range(10..=120u64)));
            (FaultKind::AgentRollout { cluster: Some(c.name.clone()), interval }, Duration::ZERO)
        }
        _ => (FaultKind::NodeDrain { node }, log_uniform(rng, 600, 3600)),
    };
    let probe = Fault { at: HumanDuration(Duration::ZERO), duration: HumanDuration(duration), kind: kind.clone() };
    let span = probe.effect_end(c.nodes);
    let latest_start = latest_end.checked_sub(span)?;
    if latest_start <= earliest {
        return None;
    }
    let at = Duration::from_secs(rng.random_range(earliest.as_secs()..=latest_start.as_secs()));
    Some(Fault { at: HumanDuration(at), duration: HumanDuration(duration), kind })
}

/// The replay command for a seed.
pub fn replay_command(scenario_arg: &str, seed: u64, bugs: &[Bug]) -> String {
    let mut cmd = format!("credsim replay {scenario_arg} --seed {seed}");
    for b in bugs {
        cmd.push_str(&format!(" --bug {b}"));
    }
    cmd
}

/// Runs one world and checks it.
pub fn run_world(world: &World, seed: u64, bugs: &[Bug], keep_events: bool) -> Result<cluster::RunOutcome, crate::scenario::ScenarioError> {
    cluster::run(&world.loaded, &RunOptions { seed, keep_events, bugs: bugs.to_vec(), stop_when_failed: None, report: false })
}

/// Whether a world breaks `invariant`, stopping the run as soon as it has (what the shrinker asks, many
/// times over).
fn breaks(world: &World, seed: u64, bugs: &[Bug], invariant: &str) -> bool {
    let opts = RunOptions { seed, keep_events: false, bugs: bugs.to_vec(), stop_when_failed: Some(invariant.to_string()), report: false };
    cluster::run(&world.loaded, &opts).map(|o| o.violations.iter().any(|v| v.invariant == invariant)).unwrap_or(false)
}

/// Runs one seed of a sweep: draw, run, check (and run again when checking determinism).
pub fn run_seed(base: &Loaded, seed: u64, opts: &SweepOptions) -> SeedResult {
    let world = draw(base, seed);
    let replay = replay_command(&opts.scenario_arg, seed, &opts.bugs);
    let bugs: Vec<String> = opts.bugs.iter().map(|b| b.to_string()).collect();
    match run_world(&world, seed, &opts.bugs, false) {
        Ok(out) => {
            let mut r = SeedResult {
                seed,
                digest: out.summary.digest.clone(),
                violations: records(&out.violations),
                faults: world.faults.len(),
                bugs,
                wall_ms: out.summary.wall_ms,
                determinism_mismatch: None,
                replay,
            };
            if opts.check_determinism
                && let Ok(again) = run_world(&world, seed, &opts.bugs, false)
                && again.summary.digest != r.digest
            {
                r.determinism_mismatch = Some(again.summary.digest.clone());
            }
            r
        }
        Err(e) => SeedResult {
            seed,
            digest: String::new(),
            violations: vec![ViolationRecord { invariant: "scenario".into(), t_s: 0.0, pod: None, message: e.to_string() }],
            faults: world.faults.len(),
            bugs,
            wall_ms: 0,
            determinism_mismatch: None,
            replay,
        },
    }
}

/// The results file's form of violations.
pub fn records(v: &[crate::invariants::Violation]) -> Vec<ViolationRecord> {
    v.iter()
        .map(|v| ViolationRecord { invariant: v.invariant.to_string(), t_s: v.t_ns as f64 / 1e9, pod: v.pod.clone(), message: v.message.clone() })
        .collect()
}

/// Called after each finished seed with (done, total, failures so far).
pub type OnSeed<'a> = &'a (dyn Fn(&SeedResult, u64, u64, u64) + Sync);

/// Runs every seed of `opts.seeds`, `opts.jobs` at a time, appending each result to `results` as it
/// finishes. Returns the results ordered by seed.
pub fn sweep(base: &Loaded, opts: &SweepOptions, results: Option<&Path>, on_seed: OnSeed<'_>) -> std::io::Result<Vec<SeedResult>> {
    let file = match results {
        Some(p) => {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            Some(Mutex::new(std::io::BufWriter::new(std::fs::File::create(p)?)))
        }
        None => None,
    };
    let next = AtomicU64::new(opts.seeds.start);
    let done = AtomicU64::new(0);
    let failures = AtomicU64::new(0);
    let total = opts.seeds.end.saturating_sub(opts.seeds.start);
    let out: Mutex<Vec<SeedResult>> = Mutex::new(Vec::new());
    let write_error: Mutex<Option<std::io::Error>> = Mutex::new(None);
    // Each worker runs whole simulations, one at a time, on its own thread: a simulation is
    // single-threaded and owns its thread-local world, so seeds never share state.
    #[allow(clippy::disallowed_methods)]
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= opts.seeds.end {
                        break;
                    }
                    let r = run_seed(base, seed, opts);
                    if r.failed() {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    if let Some(f) = &file {
                        let line = serde_json::to_string(&r).unwrap_or_default();
                        let mut f = f.lock().unwrap_or_else(|e| e.into_inner());
                        if let Err(e) = writeln!(f, "{line}").and_then(|_| f.flush()) {
                            *write_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                        }
                    }
                    let d = done.fetch_add(1, Ordering::Relaxed) + 1;
                    on_seed(&r, d, total, failures.load(Ordering::Relaxed));
                    out.lock().unwrap_or_else(|e| e.into_inner()).push(r);
                }
            });
        }
    });
    if let Some(e) = write_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    let mut v = out.into_inner().unwrap_or_else(|e| e.into_inner());
    v.sort_by_key(|r| r.seed);
    Ok(v)
}

/// The `--shard k/n` slice of a seed range: the k-th (1-based) of n nearly equal contiguous slices.
pub fn shard(seeds: Range<u64>, k: u64, n: u64) -> Range<u64> {
    let len = seeds.end.saturating_sub(seeds.start);
    let lo = seeds.start + len * (k - 1) / n;
    let hi = seeds.start + len * k / n;
    lo..hi
}

/// Parses `A..B` (B exclusive), `A..=B` or a single seed.
pub fn parse_seeds(s: &str) -> Result<Range<u64>, String> {
    let num = |x: &str| x.trim().parse::<u64>().map_err(|_| format!("bad seed {x:?} in {s:?}: expected A..B, A..=B or N"));
    if let Some((a, b)) = s.split_once("..=") {
        Ok(num(a)?..num(b)? + 1)
    } else if let Some((a, b)) = s.split_once("..") {
        let r = num(a)?..num(b)?;
        if r.is_empty() {
            return Err(format!("empty seed range {s:?}"));
        }
        Ok(r)
    } else {
        let n = num(s)?;
        Ok(n..n + 1)
    }
}

/// Parses `k/n` (1 ≤ k ≤ n).
pub fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("bad shard {s:?}: expected k/n with 1 <= k <= n, e.g. 3/8");
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let (k, n) = (k.trim().parse::<u64>().map_err(|_| bad())?, n.trim().parse::<u64>().map_err(|_| bad())?);
    if k == 0 || n == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

/// Failures by invariant (the earliest violation of each failing seed).
pub fn failures_by_invariant(results: &[SeedResult]) -> BTreeMap<String, Vec<u64>> {
    let mut m: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for r in results.iter().filter(|r| r.failed()) {
        m.entry(r.primary_invariant().unwrap_or("?").to_string()).or_default().push(r.seed);
    }
    m
}

/// Reads results files (JSON lines) and combines them: one result per seed (a later file's result for
/// a seed replaces an earlier one only if they agree on the digest; a disagreement is an error, since
/// the same seed must give the same run).
pub fn merge(paths: &[std::path::PathBuf]) -> Result<Vec<SeedResult>, String> {
    let mut by_seed: BTreeMap<u64, SeedResult> = BTreeMap::new();
    for p in paths {
        let text = std::fs::read_to_string(p).map_err(|e| format!("{}: cannot read: {e}", p.display()))?;
        for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let r: SeedResult = serde_json::from_str(line).map_err(|e| format!("{}:{}: not a seed result: {e}", p.display(), i + 1))?;
            if let Some(prev) = by_seed.get(&r.seed)
                && prev.digest != r.digest
                && prev.bugs == r.bugs
            {
                return Err(format!(
                    "{}:{}: seed {} has digest {} here but {} in an earlier file: the runs differ (different scenario or build?)",
                    p.display(),
                    i + 1,
                    r.seed,
                    r.digest,
                    prev.digest
                ));
            }
            by_seed.insert(r.seed, r);
        }
    }
    Ok(by_seed.into_values().collect())
}

/// Minimises a failing world's fault schedule while `invariant` still fails: drop faults one at a time,
/// then halve durations, then merge same-kind faults on the same target, repeating until nothing
/// changes. Perturbations (latency model, SDK mix, agent cache key) go back to the scenario's when the
/// failure survives without them. Returns the minimal world and how many runs it took.
pub fn shrink(base: &Loaded, seed: u64, bugs: &[Bug], invariant: &str, budget: usize) -> (World, usize) {
    let mut world = draw(base, seed);
    let mut runs = 0usize;
    // With planted bugs, a candidate counts only if the failure is the bug's: the same world without
    // the bugs must pass (otherwise shrinking could turn a fault into a misconfiguration that fails on
    // its own, e.g. a signing key withdrawn while tokens signed with it still live).
    let fails = |w: &World, runs: &mut usize| -> bool {
        *runs += 1;
        if !breaks(w, seed, bugs, invariant) {
            return false;
        }
        if bugs.is_empty() {
            return true;
        }
        *runs += 1;
        !breaks(w, seed, &[], invariant)
    };
    // Perturbations first: a failure that needs none of them is easier to read.
    if !world.perturbations.is_empty() {
        let mut plain = World { loaded: base.clone(), faults: world.faults.clone(), perturbations: Vec::new() };
        plain.loaded.scenario.faults = world.faults.clone();
        if fails(&plain, &mut runs) {
            world = plain;
        }
    }
    let with = |w: &World, faults: Vec<Fault>| {
        let mut loaded = w.loaded.clone();
        loaded.scenario.faults = faults.clone();
        World { loaded, faults, perturbations: w.perturbations.clone() }
    };
    let mut changed = true;
    while changed && runs < budget {
        changed = false;
        // 1. Remove.
        let mut i = 0;
        while i < world.faults.len() && runs < budget {
            let mut fs = world.faults.clone();
            fs.remove(i);
            let cand = with(&world, fs);
            if fails(&cand, &mut runs) {
                world = cand;
                changed = true;
            } else {
                i += 1;
            }
        }
        // 2. Shorten (halve while it still fails; not below 1 s). A key rotation's duration is how long
        // the old key stays published, not how long the disturbance lasts: it is left alone.
        for i in 0..world.faults.len() {
            while runs < budget && world.faults[i].duration.0 >= Duration::from_secs(2) && !matches!(world.faults[i].kind, FaultKind::KeyRotation { .. }) {
                let mut fs = world.faults.clone();
                fs[i].duration = HumanDuration(Duration::from_secs(fs[i].duration.0.as_secs() / 2));
                let cand = with(&world, fs);
                if fails(&cand, &mut runs) {
                    world = cand;
                    changed = true;
                } else {
                    break;
                }
            }
        }
        // 3. Merge two faults of the same kind and target into one that covers both.
        'merge: for i in 0..world.faults.len() {
            for j in i + 1..world.faults.len() {
                let (a, b) = (&world.faults[i], &world.faults[j]);
                if runs >= budget || a.kind != b.kind {
                    continue;
                }
                let start = a.at.0.min(b.at.0);
                let end = a.end().max(b.end());
                let mut fs = world.faults.clone();
                fs[i] = Fault { at: HumanDuration(start), duration: HumanDuration(end - start), kind: a.kind.clone() };
                fs.remove(j);
                let cand = with(&world, fs);
                if fails(&cand, &mut runs) {
                    world = cand;
                    changed = true;
                    break 'merge;
                }
            }
        }
    }
    (world, runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Loaded {
        crate::scenario::load_str(crate::scenario::DEFAULT_SCENARIO, "irsa-basic.toml", None).unwrap()
    }

    #[test]
    fn the_same_seed_draws_the_same_world_and_others_differ() {
        let b = base();
        let (w1, w2) = (draw(&b, 42), draw(&b, 42));
        assert_eq!(w1.faults, w2.faults);
        assert_eq!(w1.perturbations, w2.perturbations);
        let distinct: std::collections::BTreeSet<String> = (0..20).map(|s| crate::faults::to_toml(&draw(&b, s).faults)).collect();
        assert!(distinct.len() > 10, "{distinct:?}");
    }

    #[test]
    fn drawn_faults_heal_before_the_liveness_stretch_and_only_name_known_targets() {
        let b = base();
        let run = b.scenario.scenario.duration.0;
        for seed in 0..200 {
            for f in draw(&b, seed).faults {
                assert!(f.at.0 >= DRAW_EARLIEST, "{seed}: {}", f.describe());
                assert!(f.effect_end(3) + crate::invariants::LIVENESS_DEADLINE_DEFAULT + Duration::from_secs(600) <= run, "{seed}: {}", f.describe());
                assert!(f.validate().is_ok(), "{seed}: {}", f.describe());
                // irsa-basic runs no agent: nothing may target one.
                assert!(!matches!(f.kind, FaultKind::AgentRollout { .. }), "{seed}");
            }
        }
    }

    #[test]
    fn seed_ranges_and_shards_cover_every_seed_once() {
        assert_eq!(parse_seeds("1..1000"), Ok(1..1000));
        assert_eq!(parse_seeds("1..=1000"), Ok(1..1001));
        assert_eq!(parse_seeds("7"), Ok(7..8));
        assert!(parse_seeds("9..3").is_err() && parse_seeds("a..b").is_err());
        assert_eq!(parse_shard("3/8"), Ok((3, 8)));
        assert!(parse_shard("0/8").is_err() && parse_shard("9/8").is_err() && parse_shard("x").is_err());
        let r = 1..1001;
        let mut all = Vec::new();
        for k in 1..=7 {
            all.extend(shard(r.clone(), k, 7));
        }
        assert_eq!(all, (1..1001).collect::<Vec<_>>());
    }

    #[test]
    fn merge_keeps_one_result_per_seed_and_refuses_disagreeing_digests() {
        let dir = std::env::temp_dir().join(format!("credsim-merge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let r = |seed, digest: &str| SeedResult {
            seed,
            digest: digest.into(),
            violations: vec![],
            faults: 1,
            bugs: vec![],
            wall_ms: 1,
            determinism_mismatch: None,
            replay: String::new(),
        };
        let line = |r: &SeedResult| serde_json::to_string(r).unwrap() + "\n";
        let (a, b, c) = (dir.join("a.jsonl"), dir.join("b.jsonl"), dir.join("c.jsonl"));
        std::fs::write(&a, line(&r(2, "x")) + &line(&r(1, "y"))).unwrap();
        std::fs::write(&b, line(&r(3, "z")) + &line(&r(2, "x"))).unwrap();
        std::fs::write(&c, line(&r(3, "DIFFERENT"))).unwrap();
        let merged = merge(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(merged.iter().map(|r| r.seed).collect::<Vec<_>>(), vec![1, 2, 3]);
        let e = merge(&[a, b, c.clone()]).unwrap_err();
        assert!(e.contains("c.jsonl:1") && e.contains("seed 3"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
