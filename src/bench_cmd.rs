//! `credsim bench`: the IRSA vs Pod Identity comparison (`credsim::bench`), and with `--engine` the
//! engine's own speed figures (the day-1k and day-10k scenarios, chaos seeds per minute).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use credsim::bench::{self, FlowRun, WorkloadResult};
use credsim::cluster::{self, RunOptions};
use credsim::scenario;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Print one JSON object (keyed by workload, each with `irsa` and `pod_identity`) instead of the table.
    #[arg(long)]
    json: bool,
    /// Write the comparison report (report.md with charts, report.json, one report per run) into DIR.
    #[arg(long, value_name = "DIR", default_value = "reports/bench")]
    report: PathBuf,
    /// Do not write a report.
    #[arg(long)]
    no_report: bool,
    /// Run only these workloads (repeatable): steady-day, startup-storm, throttling, outage.
    #[arg(long, value_name = "WORKLOAD")]
    only: Vec<String>,
    /// Scale every workload's node count by this factor (pods per node stay): 0.1 for a quick look.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Worker threads (default: all cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Measure the engine instead: wall time and sim/wall of scenarios/day-1k.toml and day-10k.toml,
    /// and chaos seeds per minute on scenarios/pod-identity-basic.toml.
    #[arg(long)]
    engine: bool,
    /// With --engine: leave out the 10,000-pod day.
    #[arg(long)]
    skip_10k: bool,
    /// With --engine: chaos seeds to time.
    #[arg(long, default_value_t = 24)]
    chaos_seeds: u64,
}

pub fn bench(a: BenchArgs) -> ExitCode {
    if a.engine {
        return engine(&a);
    }
    let all = bench::workloads();
    for o in &a.only {
        if !all.iter().any(|w| w.key == o) {
            let keys: Vec<&str> = all.iter().map(|w| w.key).collect();
            eprintln!("error: --only {o}: no such workload (one of {})", keys.join(", "));
            return ExitCode::from(2);
        }
    }
    if !(a.scale > 0.0 && a.scale <= 10.0) {
        eprintln!("error: --scale {}: must be in (0, 10]", a.scale);
        return ExitCode::from(2);
    }
    let chosen: Vec<bench::Workload> = all.into_iter().filter(|w| a.only.is_empty() || a.only.iter().any(|o| o == w.key)).collect();
    let tasks: Vec<(usize, &str)> = (0..chosen.len()).flat_map(|i| bench::FLOWS.iter().map(move |f| (i, *f))).collect();
    let jobs = a.jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).clamp(1, tasks.len());
    let bar = if a.json { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(tasks.len() as u64) };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} bench [{bar:30}] {pos}/{len} runs ({elapsed} wall) {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let next = AtomicUsize::new(0);
    let done: Mutex<BTreeMap<(usize, String), Result<FlowRun, String>>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((w, flow)) = tasks.get(i) else { break };
                bar.set_message(format!("{} via {flow}", chosen[*w].key));
                let r = bench::run_one(&chosen[*w], flow, a.scale);
                done.lock().unwrap_or_else(|p| p.into_inner()).insert((*w, flow.to_string()), r);
                bar.inc(1);
            });
        }
    });
    bar.finish_and_clear();
    let mut done = done.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut results = BTreeMap::new();
    let mut runs = Vec::new();
    let order: Vec<String> = chosen.iter().map(|w| w.key.to_string()).collect();
    for (i, w) in chosen.iter().enumerate() {
        let mut take = |flow: &str| match done.remove(&(i, flow.to_string())) {
            Some(Ok(r)) => Ok(r),
            Some(Err(e)) => Err(format!("{} via {flow}: {e}", w.key)),
            None => Err(format!("{} via {flow}: did not run", w.key)),
        };
        let (irsa, pi) = match (take("irsa"), take("pod_identity")) {
            (Ok(i), Ok(p)) => (i, p),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        };
        results.insert(
            w.key.to_string(),
            WorkloadResult { title: w.title.to_string(), description: w.description.to_string(), irsa: irsa.row.clone(), pod_identity: pi.row.clone() },
        );
        runs.push((w.clone(), irsa, pi));
    }
    if !a.no_report {
        match bench::write_report(&a.report, &results, &order, &runs, a.scale) {
            Ok(()) => eprintln!("credsim: bench report written to {} (open report.md)", a.report.display()),
            Err(e) => {
                eprintln!("error: writing the bench report: {e}");
                return ExitCode::from(1);
            }
        }
    }
    if a.json {
        match serde_json::to_string_pretty(&results) {
            Ok(s) => out!("{s}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        out_raw!("{}", bench::table(&results, &order));
    }
    let violations: u64 = results.values().map(|r| r.irsa.violations + r.pod_identity.violations).sum();
    if violations > 0 {
        eprintln!("credsim: {violations} invariant violations in the bench runs (see the per-run reports)");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// One engine measurement.
#[derive(serde::Serialize)]
struct EngineFigure {
    scenario: String,
    pods: u64,
    simulated_s: u64,
    wall_s: f64,
    sim_wall_ratio: f64,
    events: u64,
    digest: String,
}

fn time_scenario(path: &str) -> Result<EngineFigure, String> {
    let loaded = scenario::load_file(std::path::Path::new(path)).map_err(|e| e.to_string())?;
    let out = cluster::run(&loaded, &RunOptions { seed: loaded.scenario.scenario.seed, ..Default::default() }).map_err(|e| e.to_string())?;
    let s = &out.summary;
    Ok(EngineFigure {
        scenario: path.to_string(),
        pods: s.pods,
        simulated_s: s.sim_seconds,
        wall_s: s.wall_ms as f64 / 1000.0,
        sim_wall_ratio: s.sim_wall_ratio,
        events: s.events,
        digest: s.digest.clone(),
    })
}

fn engine(a: &BenchArgs) -> ExitCode {
    let mut figures = Vec::new();
    let mut scenarios = vec!["scenarios/day-1k.toml"];
    if !a.skip_10k {
        scenarios.push("scenarios/day-10k.toml");
    }
    for p in scenarios {
        if !a.json {
            eprintln!("credsim: timing {p} (one core) ...");
        }
        match time_scenario(p) {
            Ok(f) => figures.push(f),
            Err(e) => {
                eprintln!("error: {p}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    // Chaos: seeds per minute on one core, the standard chaos scenario.
    let chaos_path = "scenarios/pod-identity-basic.toml";
    let base = match scenario::load_file(std::path::Path::new(chaos_path)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if !a.json {
        eprintln!("credsim: timing {} chaos seeds of {chaos_path} (one core) ...", a.chaos_seeds);
    }
    let opts = credsim::chaos::SweepOptions {
        seeds: 1..a.chaos_seeds + 1,
        bugs: Vec::new(),
        check_determinism: false,
        jobs: 1,
        scenario_arg: chaos_path.to_string(),
    };
    let t0 = cluster::wall_clock_start();
    let mut failing = 0;
    for seed in opts.seeds.clone() {
        let r = credsim::chaos::run_seed(&base, seed, &opts);
        failing += usize::from(!r.violations.is_empty());
    }
    let chaos_wall = cluster::wall_clock_elapsed_ms(t0) as f64 / 1000.0;
    let seeds_per_min = a.chaos_seeds as f64 * 60.0 / chaos_wall.max(1e-9);

    let one = &figures[0];
    let ten = figures.get(1);
    let ratio_10k = ten.map(|t| t.wall_s / one.wall_s.max(1e-9));
    if a.json {
        let v = serde_json::json!({
            "scenarios": figures,
            "day_10k_over_day_1k_wall": ratio_10k,
            "chaos": {"scenario": chaos_path, "seeds": a.chaos_seeds, "failing": failing, "wall_s": chaos_wall, "seeds_per_min_one_core": seeds_per_min},
            "targets": {"day_1k_wall_s_max": 3.0, "day_10k_over_day_1k_max": 12.0},
        });
        out!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        out!("{:<28} {:>6} {:>10} {:>9} {:>10} {:>10}", "scenario", "pods", "simulated", "wall s", "sim/wall", "events");
        for f in &figures {
            out!("{:<28} {:>6} {:>9}h {:>9.2} {:>10.0} {:>10}", f.scenario, f.pods, f.simulated_s / 3600, f.wall_s, f.sim_wall_ratio, f.events);
        }
        out!(
            "day-1k target: <= 3 s wall on one core: {:.2} s ({})",
            one.wall_s,
            if one.wall_s <= 3.0 { "met" } else { "not met" }
        );
        if let Some(r) = ratio_10k {
            out!("day-10k / day-1k wall: {r:.1}x (target <= 12x: {})", if r <= 12.0 { "met" } else { "not met" });
        }
        out!("chaos {chaos_path}: {} seeds in {chaos_wall:.1} s on one core = {seeds_per_min:.1} seeds/min ({failing} failing)", a.chaos_seeds);
    }
    ExitCode::SUCCESS
}
