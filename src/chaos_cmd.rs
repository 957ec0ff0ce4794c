//! `credsim chaos`, `credsim replay` and `credsim merge`: the command-line face of `credsim::chaos`.
//!
//! Part of the binary, not the library: it owns the progress bar, the tables people read and the exit
//! codes (0 all seeds passed, 1 a seed failed, 2 bad input).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use credsim::bugs::Bug;
use credsim::chaos::{self, SeedResult, SweepOptions};
use credsim::scenario::{self, Loaded};

use super::{ChaosArgs, ReplayArgs};

fn load(p: &Path) -> Result<Loaded, ExitCode> {
    scenario::load_file(p).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

fn parse_bugs(names: &[String]) -> Result<Vec<Bug>, ExitCode> {
    let mut out = Vec::new();
    for n in names {
        match n.parse::<Bug>() {
            Ok(b) => out.push(b),
            Err(e) => {
                eprintln!("error: --bug: {e}");
                return Err(ExitCode::from(2));
            }
        }
    }
    Ok(out)
}

pub fn chaos(a: ChaosArgs) -> ExitCode {
    if a.list_bugs {
        for b in Bug::ALL {
            out!("{:<32} {}  (breaks: {})", b.name(), b.description(), b.expected_invariant());
        }
        return ExitCode::SUCCESS;
    }
    let Some(path) = a.scenario else { return ExitCode::from(2) };
    let loaded = match load(&path) {
        Ok(l) => l,
        Err(c) => return c,
    };
    let bugs = match parse_bugs(&a.bug) {
        Ok(b) => b,
        Err(c) => return c,
    };
    let mut seeds = match chaos::parse_seeds(&a.seeds) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: --seeds: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(s) = &a.shard {
        match chaos::parse_shard(s) {
            Ok((k, n)) => seeds = chaos::shard(seeds, k, n),
            Err(e) => {
                eprintln!("error: --shard: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let jobs = a.jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)).max(1);
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "scenario".into());
    let results_path = a.results.clone().unwrap_or_else(|| {
        let last = seeds.end.saturating_sub(1);
        PathBuf::from(format!("results/chaos-{stem}-{}-{last}.jsonl", seeds.start))
    });
    let opts = SweepOptions {
        seeds: seeds.clone(),
        bugs: bugs.clone(),
        check_determinism: a.check_determinism,
        jobs,
        scenario_arg: path.display().to_string(),
    };
    let total = seeds.end - seeds.start;
    if !a.json {
        eprintln!(
            "credsim chaos: {} seeds {}..{} of {} on {jobs} threads{}{}",
            total,
            seeds.start,
            seeds.end,
            path.display(),
            if bugs.is_empty() { String::new() } else { format!(", bugs: {}", a.bug.join(", ")) },
            if a.check_determinism { ", each seed twice" } else { "" }
        );
    }
    let bar = if a.json { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(total) };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{bar:40}] {pos}/{len} seeds, {msg} ({elapsed} wall)")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let t0 = credsim::cluster::wall_clock_start();
    let on_seed = |_r: &SeedResult, done: u64, _total: u64, failures: u64| {
        let mins = t0.elapsed().as_secs_f64() / 60.0;
        bar.set_position(done);
        bar.set_message(format!("{failures} failing, {:.0} seeds/min", done as f64 / mins.max(1e-9)));
    };
    let results = match chaos::sweep(&loaded, &opts, Some(&results_path), &on_seed) {
        Ok(r) => r,
        Err(e) => {
            bar.finish_and_clear();
            eprintln!("error: writing {}: {e}", results_path.display());
            return ExitCode::from(1);
        }
    };
    bar.finish_and_clear();
    let minutes = t0.elapsed().as_secs_f64() / 60.0;
    report(&results, Some(minutes), Some(&results_path), a.json)
}

/// How many failing seeds per invariant the table shows with their replay commands (the results
/// file has every one).
const REPLAYS_SHOWN: usize = 5;

/// The end-of-sweep report: a table of failures by invariant with replay commands, or one JSON object.
fn report(results: &[SeedResult], minutes: Option<f64>, results_path: Option<&Path>, json: bool) -> ExitCode {
    let by_inv = chaos::failures_by_invariant(results);
    let failing: Vec<u64> = results.iter().filter(|r| r.failed()).map(|r| r.seed).collect();
    let mismatches = results.iter().filter(|r| r.determinism_mismatch.is_some()).count();
    let rate = minutes.map(|m| results.len() as f64 / m.max(1e-9));
    if json {
        let v = serde_json::json!({
            "seeds": results.len(),
            "failures": failing.len(),
            "failures_by_invariant": by_inv.iter().map(|(k, v)| (k.clone(), v.len())).collect::<std::collections::BTreeMap<_, _>>(),
            "seeds_per_minute": rate.map(|r| (r * 10.0).round() / 10.0),
            "failing_seeds": failing,
            "determinism_mismatches": mismatches,
            "results_file": results_path.map(|p| p.display().to_string()),
        });
        out!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        out!("seeds           {} run, {} failing{}", results.len(), failing.len(), rate.map(|r| format!(", {r:.1} seeds/min")).unwrap_or_default());
        if mismatches > 0 {
            out!("determinism     {mismatches} seeds gave different digests on a second run");
        }
        if by_inv.is_empty() {
            out!("invariants      all held");
        } else {
            out!("");
            out!("{:<28} {:>8}  seeds", "invariant", "failures");
            for (inv, seeds) in &by_inv {
                let more = if seeds.len() > 12 { format!(" … ({} more)", seeds.len() - 12) } else { String::new() };
                out!("{:<28} {:>8}  {}{more}", inv, seeds.len(), seeds.iter().take(12).map(u64::to_string).collect::<Vec<_>>().join(" "));
                // The replay command of each of the first few, with what went wrong first.
                for r in seeds.iter().take(REPLAYS_SHOWN).filter_map(|s| results.iter().find(|r| r.seed == *s)) {
                    out!("  {}", r.replay);
                    if let Some(v) = r.violations.first() {
                        out!("    {}", v.message);
                    }
                }
            }
        }
        if let Some(p) = results_path {
            out!("results         {}", p.display());
        }
    }
    if failing.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

pub fn merge(files: &[PathBuf], json: bool) -> ExitCode {
    match chaos::merge(files) {
        Ok(results) => report(&results, None, None, json),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

pub fn replay(a: ReplayArgs) -> ExitCode {
    let loaded = match load(&a.scenario) {
        Ok(l) => l,
        Err(c) => return c,
    };
    let bugs = match parse_bugs(&a.bug) {
        Ok(b) => b,
        Err(c) => return c,
    };
    let world = chaos::draw(&loaded, a.seed);
    let outcome = match chaos::run_world(&world, a.seed, &bugs, a.trace.is_some()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(t) = &a.trace {
        let mut out = String::new();
        for e in &outcome.events {
            out.push_str(&e.to_json_line());
            out.push('\n');
        }
        if let Err(e) = std::fs::write(t, out) {
            eprintln!("error: writing trace {}: {e}", t.display());
            return ExitCode::from(1);
        }
    }
    let violations = chaos::records(&outcome.violations);
    let mut shrunk = None;
    if a.shrink {
        match violations.first() {
            Some(v) => {
                if !a.json {
                    eprintln!("credsim replay: shrinking {} fault(s) while {} still fails ...", world.faults.len(), v.invariant);
                }
                let (min, runs) = chaos::shrink(&loaded, a.seed, &bugs, &v.invariant, a.shrink_budget);
                shrunk = Some((v.invariant.clone(), min, runs));
            }
            None => eprintln!("credsim replay: nothing to shrink: seed {} holds every invariant", a.seed),
        }
    }
    if a.json {
        let v = serde_json::json!({
            "seed": a.seed,
            "digest": outcome.summary.digest,
            "faults": world.faults.iter().map(|f| f.describe()).collect::<Vec<_>>(),
            "perturbations": world.perturbations,
            "violations": violations,
            "shrunk": shrunk.as_ref().map(|(inv, w, runs)| serde_json::json!({
                "invariant": inv,
                "runs": runs,
                "faults_before": world.faults.len(),
                "faults_after": w.faults.len(),
                "faults": w.faults.iter().map(|f| f.describe()).collect::<Vec<_>>(),
                "perturbations": w.perturbations,
                "snippet": credsim::faults::to_toml(&w.faults),
            })),
        });
        out!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    } else {
        out!("{}", outcome.summary.to_text().trim_end());
        out!("");
        out!("world           {} fault(s){}", world.faults.len(), if world.perturbations.is_empty() { String::new() } else { format!("; {}", world.perturbations.join("; ")) });
        for f in &world.faults {
            out!("  {}", f.describe());
        }
        print_violations(&violations);
        if let Some((inv, w, runs)) = &shrunk {
            out!("");
            out!("shrunk          {} -> {} fault(s) in {runs} runs; {inv} still fails", world.faults.len(), w.faults.len());
            if !w.perturbations.is_empty() {
                out!("                needs the seed's other draws too: {}", w.perturbations.join("; "));
            }
            let bug_args: String = a.bug.iter().map(|b| format!(" --bug {b}")).collect();
            out!("# replace the [[fault]] entries of {} with these, then: credsim run <file> --seed {}{bug_args}", a.scenario.display(), a.seed);
            out!("{}", credsim::faults::to_toml(&w.faults).trim_end());
        }
    }
    if violations.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

fn print_violations(v: &[chaos::ViolationRecord]) {
    if v.is_empty() {
        out!("invariants      all held");
        return;
    }
    out!("invariants      {} violated", v.len());
    for x in v {
        out!("  {:<26} at {:>9.1}s  {}", x.invariant, x.t_s, x.message);
    }
}
