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

/// `println!` that ends the process quietly when stdout is closed (`credsim ... | head`), instead of
/// panicking on the broken pipe.
macro_rules! out {
    ($($arg:tt)*) => {{
        out_raw!("{}\n", format_args!($($arg)*))
    }};
}

/// `print!` with [`out!`]'s handling of a closed stdout.
macro_rules! out_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: cannot write to stdout: {e}");
            std::process::exit(1);
        }
    }};
}

/// `chaos`, `replay` and `merge` (uses the macros above).
mod chaos_cmd;
/// `bench` (uses the macros above).
mod bench_cmd;

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
        /// Switch a planted bug on (repeatable; see `credsim chaos --list-bugs`).
        #[arg(long, value_name = "NAME")]
        bug: Vec<String>,
        /// Write a report (report.md with charts, report.json, .hgrm files) into DIR.
        #[arg(long, value_name = "DIR")]
        report: Option<PathBuf>,
    },
    /// Write a report (report.md, report.json, charts) from a trace file saved with `run --trace`.
    Report {
        /// The trace file (JSON lines).
        trace: PathBuf,
        /// Directory to write the report into.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// IRSA vs Pod Identity on four workloads (or, with --engine, the engine's own speed).
    Bench(bench_cmd::BenchArgs),
    /// Swarm testing: run many seeds, each drawing its own faults on top of SCENARIO, and check invariants.
    Chaos(ChaosArgs),
    /// Run one seed of a chaos sweep again, exactly (same digest); optionally shrink its faults.
    Replay(ReplayArgs),
    /// Combine chaos results files (JSON lines) from shards into one report.
    Merge {
        /// Results files written by `credsim chaos --results`.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print one JSON summary object.
        #[arg(long)]
        json: bool,
    },
    /// The Amazon EKS Pod Identity Webhook, offline.
    Webhook {
        #[command(subcommand)]
        command: WebhookCommand,
    },
}

#[derive(clap::Args)]
struct ChaosArgs {
    /// Scenario file (TOML) the drawn faults are added to.
    #[arg(required_unless_present = "list_bugs")]
    scenario: Option<PathBuf>,
    /// Seeds to run: A..B (B excluded), A..=B, or N.
    #[arg(long, default_value = "1..101")]
    seeds: String,
    /// Switch a planted bug on (repeatable); see --list-bugs.
    #[arg(long, value_name = "NAME")]
    bug: Vec<String>,
    /// List the planted bugs and exit.
    #[arg(long)]
    list_bugs: bool,
    /// Run every seed twice and fail on any digest difference.
    #[arg(long)]
    check_determinism: bool,
    /// Run only the k-th of n slices of the seed range (k/n, 1-based), e.g. for a CI matrix.
    #[arg(long, value_name = "K/N")]
    shard: Option<String>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Results file, one JSON line per seed (default: results/chaos-<scenario>-<first>-<last>.jsonl).
    #[arg(long, value_name = "FILE")]
    results: Option<PathBuf>,
    /// Print one JSON summary object at the end instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ReplayArgs {
    /// The scenario the sweep ran.
    scenario: PathBuf,
    /// The seed to replay.
    #[arg(long)]
    seed: u64,
    /// The planted bugs the sweep had on (repeatable).
    #[arg(long, value_name = "NAME")]
    bug: Vec<String>,
    /// Write every trace event to FILE as JSON lines.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Minimise the drawn fault schedule while the same invariant still fails; print it as a snippet.
    #[arg(long)]
    shrink: bool,
    /// Most runs the shrinker may spend.
    #[arg(long, default_value_t = 200)]
    shrink_budget: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum WebhookCommand {
    /// Print the JSON Patch the webhook would return for a Pod, and the mutated Pod.
    Mutate(MutateArgs),
}

#[derive(clap::Args)]
struct MutateArgs {
    /// The Pod manifest (YAML or JSON).
    pod: PathBuf,
    /// The Pod's ServiceAccount manifest (YAML or JSON); without it the webhook has none in its cache.
    #[arg(long, value_name = "SA.yaml")]
    service_account: Option<PathBuf>,
    /// A Pod Identity association NAMESPACE/SERVICE_ACCOUNT (repeatable).
    #[arg(long, value_name = "NS/SA")]
    association: Vec<String>,
    /// `--aws-default-region`.
    #[arg(long)]
    region: Option<String>,
    /// `--token-expiration`, seconds.
    #[arg(long)]
    token_expiration: Option<i64>,
    /// `--sts-regional-endpoint`.
    #[arg(long)]
    sts_regional_endpoint: bool,
    /// `--annotation-prefix`.
    #[arg(long)]
    annotation_prefix: Option<String>,
    /// `--token-audience`.
    #[arg(long)]
    token_audience: Option<String>,
    /// `--token-mount-path`.
    #[arg(long)]
    token_mount_path: Option<String>,
    /// Seed for the Pod Identity token-lifetime jitter.
    #[arg(long, default_value_t = 1)]
    seed: u64,
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
    let command = cli.command.unwrap_or(Command::Run { scenario: None, seed: None, json: false, trace: None, bug: Vec::new(), report: None });
    match command {
        Command::Run { scenario, seed, json, trace, bug, report } => run(scenario, seed, json, trace, &bug, report),
        Command::Report { trace, out } => report_from_trace(&trace, &out),
        Command::Bench(args) => bench_cmd::bench(args),
        Command::Chaos(args) => chaos_cmd::chaos(args),
        Command::Replay(args) => chaos_cmd::replay(args),
        Command::Merge { files, json } => chaos_cmd::merge(&files, json),
        Command::Webhook { command: WebhookCommand::Mutate(args) } => mutate(args),
    }
}

/// Reads a manifest, naming the file and the field that does not parse.
fn read_manifest<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let de = serde_yaml::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        let at = inner.location().map(|l| format!(":{}:{}", l.line(), l.column())).unwrap_or_default();
        // serde_yaml's message repeats the path and the location; keep only what is new.
        let mut msg = inner.to_string();
        if let Some(l) = inner.location() {
            msg = msg.trim_end_matches(&format!(" at line {} column {}", l.line(), l.column())).to_string();
        }
        let msg = msg.strip_prefix(&format!("{field}: ")).unwrap_or(&msg).to_string();
        format!("{}{at}: field `{field}`: {msg}", path.display())
    })
}

fn mutate(args: MutateArgs) -> ExitCode {
    use credsim::webhook;
    let pod: k8s_openapi::api::core::v1::Pod = match read_manifest(&args.pod) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let sa: Option<k8s_openapi::api::core::v1::ServiceAccount> = match &args.service_account {
        Some(p) => match read_manifest(p) {
            Ok(sa) => Some(sa),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let mut cfg = webhook::config::WebhookConfig::default();
    if let Some(r) = args.region {
        cfg.aws_default_region = r;
    }
    if let Some(t) = args.token_expiration {
        cfg.token_expiration_s = t;
    }
    cfg.sts_regional_endpoint = args.sts_regional_endpoint;
    if let Some(p) = args.annotation_prefix {
        cfg.annotation_prefix = p;
    }
    if let Some(a) = args.token_audience {
        cfg.token_audience = a;
    }
    if let Some(m) = args.token_mount_path {
        cfg.token_mount_path = m;
    }
    let namespace = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
    let sa_name = pod.spec.as_ref().and_then(|s| s.service_account_name.clone()).unwrap_or_else(|| "default".into());
    let mut pod = pod;
    pod.metadata.namespace = Some(namespace.clone());
    if let Some(spec) = pod.spec.as_mut() {
        spec.service_account_name = Some(sa_name.clone());
    }
    let mut assoc = None;
    for a in &args.association {
        let Some((ns, name)) = a.split_once('/') else {
            eprintln!("error: --association {a:?}: expected NAMESPACE/SERVICE_ACCOUNT");
            return ExitCode::from(2);
        };
        if ns == namespace && name == sa_name {
            assoc = Some(webhook::pod_identity::PodIdentityAssociationRef::new(ns, name));
        }
    }
    let sa = sa.filter(|sa| {
        sa.metadata.name.as_deref() == Some(sa_name.as_str())
            && sa.metadata.namespace.as_deref().unwrap_or(namespace.as_str()) == namespace
    });
    let sa = sa.map(|mut sa| {
        sa.metadata.namespace = Some(namespace.clone());
        sa
    });
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.seed);
    let m = match webhook::mutate(&cfg, &pod, sa.as_ref(), assoc.as_ref(), &mut rng) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {}: {e}", args.pod.display());
            return ExitCode::from(2);
        }
    };
    out!("# {}", m.outcome);
    for w in &m.warnings {
        out!("# warning: {w}");
    }
    match &m.patch {
        None => out!("# no patch: the Pod is admitted unchanged"),
        Some(p) => {
            out!("# JSON Patch");
            out!("{}", serde_json::to_string_pretty(p).unwrap_or_default());
            match webhook::apply(&pod, p) {
                Ok(mutated) => {
                    out!("---\n# mutated Pod");
                    out_raw!("{}", serde_yaml::to_string(&mutated).unwrap_or_default());
                }
                Err(e) => {
                    eprintln!("error: applying the patch: {e}");
                    return ExitCode::from(1);
                }
            }
        }
    }
    ExitCode::SUCCESS
}

fn run(path: Option<PathBuf>, seed: Option<u64>, json: bool, trace: Option<PathBuf>, bug: &[String], report_dir: Option<PathBuf>) -> ExitCode {
    let mut bugs = Vec::new();
    for b in bug {
        match b.parse::<credsim::bugs::Bug>() {
            Ok(b) => bugs.push(b),
            Err(e) => {
                eprintln!("error: --bug: {e}");
                return ExitCode::from(2);
            }
        }
    }
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
    let result = cluster::run_with_progress(&loaded, &RunOptions { seed, keep_events: trace.is_some(), bugs, report: report_dir.is_some(), ..Default::default() }, &report);
    bar.finish_and_clear();
    let outcome = match result {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // The trace and the report are written before the summary is printed, so nothing is lost if
    // stdout is closed.
    if let Some(t) = trace {
        let meta = credsim::report::data::RunMeta {
            scenario: outcome.summary.scenario.clone(),
            seed,
            duration_s: loaded.scenario.scenario.duration.0.as_secs(),
        };
        let mut out = credsim::report::trace_file::meta_line(&meta);
        out.push('\n');
        for e in &outcome.events {
            out.push_str(&e.to_json_line());
            out.push('\n');
        }
        if let Err(e) = std::fs::write(&t, out) {
            eprintln!("error: writing trace {}: {e}", t.display());
            return ExitCode::from(1);
        }
    }
    if let (Some(dir), Some((data, hists))) = (&report_dir, &outcome.report) {
        match credsim::report::write::write_run_report(dir, data, hists) {
            Ok(files) => eprintln!("credsim: report written to {} ({} files; open report.md)", dir.display(), files.len()),
            Err(e) => {
                eprintln!("error: writing the report: {e}");
                return ExitCode::from(1);
            }
        }
    }
    if json {
        match serde_json::to_string_pretty(&outcome.summary) {
            Ok(s) => out!("{s}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        out!("{}", outcome.summary.to_text().trim_end());
    }
    ExitCode::SUCCESS
}

fn report_from_trace(trace: &std::path::Path, out: &std::path::Path) -> ExitCode {
    let (meta, events) = match credsim::report::trace_file::read(trace) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut c = credsim::report::data::Collector::new(meta.duration_s);
    for e in &events {
        c.observe(e);
    }
    let (data, hists) = c.finish(meta);
    match credsim::report::write::write_run_report(out, &data, &hists) {
        Ok(files) => {
            out!("report written to {} ({} files; open report.md)", out.display(), files.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: writing the report: {e}");
            ExitCode::from(1)
        }
    }
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
