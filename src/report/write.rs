//! Writes one run's report directory: `report.md` (charts first, then the tables), `report.json` (the
//! same numbers, [`ReportData`]), the SVG charts and one HdrHistogram percentile-distribution file
//! (`.hgrm`, loadable in HdrHistogram's online plotter) per end-to-end measure and flow.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;

use super::charts::{self, Cdf, FaultWindow, QuantilePoint, Series};
use super::data::{Histograms, ReportData, Stats, END_TO_END, FLOWS, HOPS};

/// A report directory could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("chart {name}: {source}")]
    Chart { name: String, source: charts::ChartError },
    #[error("report.json: {0}")]
    Json(#[from] serde_json::Error),
}

/// A chart's SVG, or the error naming the chart.
pub(crate) fn svg(name: &str, chart: Result<String, charts::ChartError>) -> Result<String, ReportError> {
    chart.map_err(|source| ReportError::Chart { name: name.to_string(), source })
}

pub(crate) fn write_file(path: &Path, contents: &[u8]) -> Result<(), ReportError> {
    std::fs::write(path, contents).map_err(|source| ReportError::Io { path: path.to_path_buf(), source })
}

pub(crate) fn create_dir(dir: &Path) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io { path: dir.to_path_buf(), source })
}

/// A flow's name as a person reads it.
pub fn flow_title(flow: &str) -> &str {
    match flow {
        "irsa" => "IRSA",
        "pod_identity" => "Pod Identity",
        "all" => "all",
        other => other,
    }
}

/// The fault windows of a run, for shading.
pub fn fault_windows(data: &ReportData) -> Vec<FaultWindow> {
    data.faults.iter().map(|f| FaultWindow { label: format!("{} {}", f.kind, f.target), start_s: f.start_s, end_s: f.end_s }).collect()
}

/// An empirical CDF from a histogram: (value, fraction of samples at or below it).
pub fn cdf_points(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    let total = h.len().max(1) as f64;
    let mut seen = 0u64;
    h.iter_recorded()
        .map(|v| {
            seen += v.count_at_value();
            (h.highest_equivalent(v.value_iterated_to()) as f64, seen as f64 / total)
        })
        .collect()
}

/// Writes the report of one run into `dir` (created if missing). Returns the files written.
pub fn write_run_report(dir: &Path, data: &ReportData, hists: &Histograms) -> Result<Vec<PathBuf>, ReportError> {
    create_dir(dir)?;
    let mut written = Vec::new();
    let mut put = |name: &str, bytes: &[u8]| -> Result<(), ReportError> {
        let p = dir.join(name);
        write_file(&p, bytes)?;
        written.push(p);
        Ok(())
    };
    let faults = fault_windows(data);
    let duration = data.duration_s as f64;
    let mut chart_lines = Vec::new();

    for (flow, points) in &data.time_series.credential_latency_ms {
        let pts: Vec<QuantilePoint> = points
            .iter()
            .map(|b| QuantilePoint { t_s: b.t_s, p50: b.p50 as f64, p95: b.p95 as f64, p99: b.p99 as f64, max: b.max as f64, count: b.count })
            .collect();
        let name = format!("credential-latency-{flow}.svg");
        let title = format!("{}: time to credentials over time (first and refreshed), ms", flow_title(flow));
        put(&name, svg(&name, charts::latency_over_time(&title, &pts, &faults, duration))?.as_bytes())?;
        chart_lines.push(format!("![{title}]({name})"));
    }

    let cdfs: Vec<Cdf> = FLOWS
        .iter()
        .filter_map(|f| hists.end_to_end.get(&("first_credentials".to_string(), f.to_string())).map(|h| Cdf { name: f.to_string(), points: cdf_points(h) }))
        .filter(|c| !c.points.is_empty())
        .collect();
    if !cdfs.is_empty() {
        let name = "first-credentials-cdf.svg";
        let title = "Time to first credentials (pod created → SDK holds credentials), CDF";
        put(name, svg(name, charts::cdf(title, &cdfs))?.as_bytes())?;
        chart_lines.push(format!("![{title}]({name})"));
    }
    let refresh: Vec<Cdf> = FLOWS
        .iter()
        .filter_map(|f| hists.end_to_end.get(&("credential_refresh".to_string(), f.to_string())).map(|h| Cdf { name: f.to_string(), points: cdf_points(h) }))
        .filter(|c| !c.points.is_empty())
        .collect();
    if !refresh.is_empty() {
        let name = "credential-refresh-cdf.svg";
        let title = "Credential refresh (a use that had to refresh → new credentials), CDF";
        put(name, svg(name, charts::cdf(title, &refresh))?.as_bytes())?;
        chart_lines.push(format!("![{title}]({name})"));
    }

    let bucket = data.time_series.bucket_s as f64;
    let rates: Vec<Series> = data
        .time_series
        .requests_per_s
        .iter()
        .map(|(s, v)| Series { name: s.clone(), points: v.iter().enumerate().map(|(i, r)| (i as f64 * bucket, *r)).collect() })
        .collect();
    if !rates.is_empty() {
        let name = "request-rate.svg";
        let title = "Requests per second by service";
        put(name, svg(name, charts::series_over_time(title, "requests/s", &rates, &faults, duration, true))?.as_bytes())?;
        chart_lines.push(format!("![{title}]({name})"));
    }
    let without: Vec<Series> = data
        .time_series
        .uses_without_credentials
        .iter()
        .filter(|(_, v)| v.iter().any(|n| *n > 0))
        .map(|(f, v)| Series { name: f.clone(), points: v.iter().enumerate().map(|(i, n)| (i as f64 * bucket, *n as f64)).collect() })
        .collect();
    if !without.is_empty() {
        let name = "uses-without-credentials.svg";
        let title = format!("Uses that found no credentials, per {} s", data.time_series.bucket_s);
        put(name, svg(name, charts::series_over_time(&title, "uses", &without, &faults, duration, false))?.as_bytes())?;
        chart_lines.push(format!("![{title}]({name})"));
    }
    if data.time_series.agent_hit_ratio.iter().any(Option::is_some) {
        let points = data.time_series.agent_hit_ratio.iter().enumerate().filter_map(|(i, r)| r.map(|r| (i as f64 * bucket, r))).collect();
        let name = "agent-cache-hit-ratio.svg";
        let title = "Pod Identity Agent cache hit ratio";
        put(name, svg(name, charts::series_over_time(title, "hit ratio", &[Series { name: "agents".into(), points }], &faults, duration, false))?.as_bytes())?;
        chart_lines.push(format!("![{title}]({name})"));
    }

    let mut hgrms = Vec::new();
    for ((what, flow), h) in &hists.end_to_end {
        let name = format!("{what}-{flow}.hgrm");
        put(&name, charts::percentile_distribution(h, 1.0).as_bytes())?;
        hgrms.push(name);
    }

    put("report.json", (serde_json::to_string_pretty(data)? + "\n").as_bytes())?;
    put("report.md", markdown(data, &chart_lines, &hgrms).as_bytes())?;
    Ok(written)
}

fn ms_row(s: &Stats) -> String {
    if s.count == 0 {
        return "– | – | – | – | –".to_string();
    }
    format!("{} | {} | {} | {} | {}", s.count, s.p50, s.p90, s.p99, s.max)
}

fn hms(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s / 60 % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// `report.md`: charts first, then the tables.
pub fn markdown(data: &ReportData, charts: &[String], hgrms: &[String]) -> String {
    let mut m = String::new();
    let _ = writeln!(m, "# credsim report: {} (seed {})\n", data.scenario, data.seed);
    let pods: Vec<String> = FLOWS
        .iter()
        .filter_map(|f| data.flows.get(*f).filter(|x| x.pods > 0).map(|x| format!("{} pods on {}", x.pods, flow_title(f))))
        .collect();
    let _ = writeln!(
        m,
        "{} simulated; {}; {}. All times are simulated (the engine's timers tick in whole milliseconds). \
         Reproduce with `credsim run <scenario> --seed {} --report DIR`.\n",
        hms(data.duration_s as f64),
        if pods.is_empty() { "no pods".to_string() } else { pods.join(", ") },
        match data.faults.len() {
            0 => "no faults".to_string(),
            1 => "1 fault (shaded on the time charts)".to_string(),
            n => format!("{n} faults (shaded on the time charts)"),
        },
        data.seed
    );
    for c in charts {
        let _ = writeln!(m, "{c}\n");
    }

    let _ = writeln!(m, "## IRSA and Pod Identity\n");
    let _ = writeln!(m, "| | {} |", FLOWS.iter().map(|f| flow_title(f)).collect::<Vec<_>>().join(" | "));
    let _ = writeln!(m, "|---|{}", "---:|".repeat(FLOWS.len()));
    let row = |m: &mut String, label: &str, f: &dyn Fn(&super::data::FlowFigures) -> String| {
        let cells: Vec<String> = FLOWS.iter().map(|fl| data.flows.get(*fl).map(f).unwrap_or_default()).collect();
        let _ = writeln!(m, "| {label} | {} |", cells.join(" | "));
    };
    row(&mut m, "pods", &|f| f.pods.to_string());
    row(&mut m, "pods that got credentials", &|f| f.pods_with_credentials.to_string());
    row(&mut m, "pod-hours", &|f| format!("{:.1}", f.pod_hours));
    row(&mut m, "time to first credentials p50 / p99 / max (ms)", &|f| {
        let s = &f.first_credentials_ms;
        if s.count == 0 { "–".into() } else { format!("{} / {} / {}", s.p50, s.p99, s.max) }
    });
    row(&mut m, "credential refresh p50 / p99 / max (ms)", &|f| {
        let s = &f.credential_refresh_ms;
        if s.count == 0 { "–".into() } else { format!("{} / {} / {}", s.p50, s.p99, s.max) }
    });
    row(&mut m, "STS calls per pod-hour", &|f| format!("{:.2}", f.sts_calls_per_pod_hour));
    row(&mut m, "EKS Auth calls per pod-hour", &|f| format!("{:.2}", f.eks_auth_calls_per_pod_hour));
    row(&mut m, "pods ever without credentials", &|f| f.pods_without_credentials.to_string());
    row(&mut m, "time without credentials, all pods / longest", &|f| {
        format!("{} / {}", hms(f.seconds_without_credentials), hms(f.longest_without_credentials_s))
    });
    row(&mut m, "uses that found no credentials", &|f| f.uses_without_credentials.to_string());
    let _ = writeln!(m);

    if !data.faults.is_empty() {
        let _ = writeln!(m, "## Faults\n\n| # | kind | target | from | to |\n|---:|---|---|---:|---:|");
        for f in &data.faults {
            let _ = writeln!(m, "| {} | {} | {} | {} | {} |", f.id, f.kind, f.target, hms(f.start_s), hms(f.end_s));
        }
        let _ = writeln!(m);
    }

    let _ = writeln!(m, "## Latency by hop (ms, one attempt each)\n");
    let _ = writeln!(m, "| hop | what it measures | flow | count | p50 | p90 | p99 | max |\n|---|---|---|---:|---:|---:|---:|---:|");
    for (hop, what, _) in HOPS {
        let Some(by_flow) = data.hops.get(*hop) else { continue };
        for (flow, s) in by_flow {
            if flow == "all" && by_flow.len() == 2 {
                continue; // one flow only: its row says it all
            }
            let _ = writeln!(m, "| `{hop}` | {what} | {} | {} |", flow_title(flow), ms_row(s));
        }
    }
    let _ = writeln!(m);

    let _ = writeln!(m, "## End to end by SDK profile (ms)\n");
    let _ = writeln!(m, "| measure | flow | SDK | count | p50 | p90 | p99 | max |\n|---|---|---|---:|---:|---:|---:|---:|");
    for (what, desc) in END_TO_END {
        let Some(by_flow) = data.end_to_end_by_sdk.get(*what) else { continue };
        for (flow, by_sdk) in by_flow {
            for (sdk, s) in by_sdk {
                let _ = writeln!(m, "| `{what}`: {desc} | {} | {sdk} | {} |", flow_title(flow), ms_row(s));
            }
        }
    }
    let _ = writeln!(m);

    let c = &data.caches;
    let _ = writeln!(m, "## Caches\n");
    let _ = writeln!(
        m,
        "- **Pod Identity Agents**: {} hits, {} misses, {} coalesced waits, {} stale served; hit ratio {:.3}. Evictions: {}. Background refreshes: {}.",
        c.agent.hits,
        c.agent.misses,
        c.agent.coalesced,
        c.agent.stale_served,
        c.agent.hit_ratio,
        kv(&c.agent.evictions),
        kv(&c.agent.background_refreshes)
    );
    let _ = writeln!(m, "- **STS issuer keys** (per AssumeRoleWithWebIdentity): {}.", kv(&c.sts_jwks));
    let _ = writeln!(m, "- **EKS Auth issuer keys**: {} fetches.", c.eks_auth_jwks_fetches);
    let _ = writeln!(
        m,
        "- **SDK credential caches**: {} uses served by {} credential sets ({:.1} uses per set).\n",
        c.sdk_uses, c.sdk_credential_sets, c.sdk_uses_per_credential_set
    );

    let _ = writeln!(m, "## Calls per service\n\n| service | requests | ok | errors |\n|---|---:|---:|---|");
    for (svc, codes) in &data.calls {
        let total: u64 = codes.values().sum();
        let ok = codes.get("ok").copied().unwrap_or(0);
        let errors: Vec<String> = codes.iter().filter(|(k, _)| *k != "ok").map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(m, "| {svc} | {total} | {ok} | {} |", if errors.is_empty() { "–".into() } else { errors.join(", ") });
    }
    let _ = writeln!(m);

    let _ = writeln!(m, "## Token refresh and credential headroom (s)\n");
    let _ = writeln!(m, "| measure | count | p50 | p90 | p99 | max |\n|---|---:|---:|---:|---:|---:|");
    let _ = writeln!(m, "| kubelet refresh lag past 80 % of the token's lifetime | {} |", ms_row(&data.token_refresh_lag_s));
    let _ = writeln!(m, "| time left on an SDK's credentials when replaced | {} |", ms_row(&data.credential_headroom_s));
    let _ = writeln!(
        m,
        "\n{} token refreshes came before the 80 % point; {} credential sets were replaced only after they expired.\n",
        data.token_refreshes_early, data.credentials_replaced_after_expiry
    );

    let _ = writeln!(m, "## Files\n");
    let _ = writeln!(m, "- [`report.json`](report.json): every number above.");
    for h in hgrms {
        let _ = writeln!(m, "- [`{h}`]({h}): HdrHistogram percentile distribution (ms); load it in the HdrHistogram plotter.");
    }
    m
}

fn kv(m: &std::collections::BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        return "none".to_string();
    }
    m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
}
