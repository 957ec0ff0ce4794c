//! `engine-compare`: one scenario on credsim's engine and on turmoil 0.7.2, compared.
//!
//! Default: `scenarios/day-1k.toml`, one simulated hour, seed 1. Prints the report; `--json FILE` also
//! writes it as JSON. Exits 1 when the engines disagree.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

#[derive(Parser)]
#[command(about = "Run a scenario on credsim's engine and on turmoil 0.7.2 and compare speed and latency distributions")]
struct Args {
    /// The scenario (no [[fault]] entries: the turmoil engine runs none).
    #[arg(default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/day-1k.toml"))]
    scenario: PathBuf,
    /// Simulated time to run, replacing the scenario's `duration` ("1h", "10m", ...).
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    duration: Duration,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also write the comparison as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Print simulated progress to stderr.
    #[arg(long)]
    progress: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let loaded = engine_compare::load(&args.scenario, Some(args.duration))?;
    let show = args.progress;
    let report = move |engine: &str, t: Duration, total: Duration| {
        if show {
            eprint!("\r{engine}: {:>6} / {} s simulated   ", t.as_secs(), total.as_secs());
            if t >= total {
                eprintln!();
            }
        }
    };
    let c = engine_compare::compare(&loaded, args.seed, &report)?;
    print!("{}", c.to_text());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&c)? + "\n")?;
    }
    if c.verdict != "agree" {
        std::process::exit(1);
    }
    Ok(())
}
