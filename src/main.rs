//! `credsim`: the command line.
//!
//! `credsim run [SCENARIO] [--seed N] [--json] [--trace FILE]` runs a scenario (the built-in
//! `scenarios/irsa-basic.toml` when none is given) and prints its summary. Exit codes: 0 success,
//! 1 the run failed, 2 bad input (a scenario that does not load).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use credsim::cluster::{self, RunOptions};
use credsim::scenario;

#[derive(Parser)]
#[command(name = "credsim", version, about = "Deterministic simulation of how EKS pods get AWS credentials (IRSA, Pod Identity)")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario and print its summary.
    Run {
        /// Scenario file (TOML). Default: the built-in scenarios/irsa-basic.toml.
        scenario: Option<PathBuf>,
        /// Seed (default: the scenario's).
        #[arg(long)]
        seed: Option<u64>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Write every trace event to FILE as JSON lines.
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    // `RUST_LOG=sim::trace=debug` prints every trace event, stamped with simulated time.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_timer(sim::trace::SimTimer)
            .with_writer(std::io::stderr)
            .init();
    }
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Run { scenario: None, seed: None, json: false, trace: None });
    match command {
        Command::Run { scenario, seed, json, trace } => run(scenario, seed, json, trace),
    }
}

fn run(path: Option<PathBuf>, seed: Option<u64>, json: bool, trace: Option<PathBuf>) -> ExitCode {
    let loaded = match &path {
        Some(p) => scenario::load_file(p),
        None => scenario::load_str(scenario::DEFAULT_SCENARIO, scenario::DEFAULT_SCENARIO_PATH, None),
    };
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let seed = seed.unwrap_or(loaded.scenario.scenario.seed);
    if !json {
        eprintln!(
            "credsim: running {} ({}) with seed {seed} for {} simulated ...",
            loaded.scenario.scenario.name,
            loaded.path,
            humanize(loaded.scenario.scenario.duration.0)
        );
    }
    // A progress bar on stderr for people (hidden when stderr is not a terminal, and for --json).
    let bar = if json { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(1000) };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} simulated {msg} [{bar:40}] {percent}% ({elapsed} wall)")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let report = |done: std::time::Duration, total: std::time::Duration| {
        bar.set_position((done.as_secs_f64() / total.as_secs_f64().max(1e-9) * 1000.0) as u64);
        bar.set_message(format!("{}/{}", humanize(done), humanize(total)));
    };
    let result = cluster::run_with_progress(&loaded, &RunOptions { seed, keep_events: trace.is_some() }, &report);
    bar.finish_and_clear();
    let outcome = match result {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(t) = trace {
        let mut out = String::new();
        for e in &outcome.events {
            out.push_str(&e.to_json_line());
            out.push('\n');
        }
        if let Err(e) = std::fs::write(&t, out) {
            eprintln!("error: writing trace {}: {e}", t.display());
            return ExitCode::from(1);
        }
    }
    if json {
        match serde_json::to_string_pretty(&outcome.summary) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        print!("{}", outcome.summary.to_text());
    }
    ExitCode::SUCCESS
}

fn humanize(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}
