//! Reports: the numbers (`report.json`) are snapshotted, the charts are checked for shape, a report
//! rebuilt from a saved trace equals the run's own, and `credsim bench --json` has the documented keys.

use std::process::Command;

use credsim::cluster::{self, RunOptions};
use credsim::report::data::{Collector, RunMeta};
use credsim::report::{trace_file, write};
use credsim::scenario;

fn load(name: &str) -> scenario::Loaded {
    scenario::load_file(std::path::Path::new(&format!("{}/scenarios/{name}", env!("CARGO_MANIFEST_DIR")))).unwrap()
}

fn tmp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("credsim-report-{}-{name}", std::process::id()))
}

#[test]
fn an_issuer_outage_report_has_its_numbers_its_fault_and_its_charts() {
    let l = load("oidc-outage.toml");
    let out = cluster::run(&l, &RunOptions { seed: 1, report: true, ..Default::default() }).unwrap();
    let (data, hists) = out.report.unwrap();
    // The fault window is where the scenario puts it: 3 h to 3 h 30 m.
    assert_eq!(data.faults.len(), 1);
    assert_eq!((data.faults[0].kind.as_str(), data.faults[0].start_s, data.faults[0].end_s), ("outage", 10_800.0, 12_600.0));
    let irsa = &data.flows["irsa"];
    assert_eq!(irsa.pods, 30);
    assert!(irsa.pods_without_credentials > 0 && irsa.longest_without_credentials_s > 0.0, "{irsa:?}");
    // Every hop of the IRSA flow was measured.
    for hop in ["admission", "token_request", "sts_issuer_fetch", "sts_exchange", "sts_api_call"] {
        assert!(data.hops[hop]["irsa"].count > 0, "{hop}");
    }
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_json_snapshot!("oidc-outage.report", data);
    });

    let dir = tmp("oidc");
    let files = write::write_run_report(&dir, &data, &hists).unwrap();
    assert!(files.iter().any(|f| f.ends_with("report.json")));
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    // The report opens with its charts: after the title and one paragraph, images.
    let first_image = md.lines().position(|l| l.starts_with("![")).unwrap();
    assert!(first_image <= 4, "{md}");
    for line in md.lines().filter(|l| l.starts_with("![")) {
        let target = line.rsplit_once("](").unwrap().1.trim_end_matches(')');
        let svg = std::fs::read_to_string(dir.join(target)).unwrap();
        assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "{target}");
    }
    // The latency chart shades the outage.
    let lat = std::fs::read_to_string(dir.join("credential-latency-irsa.svg")).unwrap();
    assert!(lat.contains("outage oidc"), "fault label missing");
    let hgrm = std::fs::read_to_string(dir.join("first_credentials-irsa.hgrm")).unwrap();
    assert!(hgrm.lines().any(|l| l.starts_with("#[Max") && l.contains("Total count") && l.ends_with(" 30]")), "{hgrm}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_report_from_a_saved_trace_equals_the_runs_own() {
    let mut l = load("chaos-mixed.toml");
    l.scenario.scenario.duration = scenario::HumanDuration(std::time::Duration::from_secs(2 * 3600));
    let out = cluster::run(&l, &RunOptions { seed: 3, report: true, keep_events: true, ..Default::default() }).unwrap();
    let (data, _) = out.report.unwrap();
    let meta = RunMeta { scenario: data.scenario.clone(), seed: 3, duration_s: 7200 };
    let mut text = trace_file::meta_line(&meta) + "\n";
    for e in &out.events {
        text.push_str(&e.to_json_line());
        text.push('\n');
    }
    let (meta, events) = trace_file::parse("trace.jsonl", &text).unwrap();
    let mut c = Collector::new(meta.duration_s);
    for e in &events {
        c.observe(e);
    }
    let (again, _) = c.finish(meta);
    assert_eq!(again, data);
}

#[test]
fn bench_json_is_keyed_by_workload_with_both_flows() {
    let out = Command::new(env!("CARGO_BIN_EXE_credsim"))
        .args(["bench", "--scale", "0.02", "--only", "throttling", "--only", "outage", "--no-report", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let o = v.as_object().unwrap();
    assert_eq!(o.keys().collect::<Vec<_>>(), ["outage", "throttling"]);
    for (w, r) in o {
        for flow in ["irsa", "pod_identity"] {
            let row = &r[flow];
            for key in [
                "first_credentials_p50_ms",
                "first_credentials_p99_ms",
                "sts_calls_per_pod_hour",
                "eks_auth_calls_per_pod_hour",
                "agent_cache_hit_ratio",
                "sts_jwks_cache_hit_ratio",
                "pods_without_credentials",
                "seconds_without_credentials",
            ] {
                assert!(row.get(key).is_some(), "{w}.{flow}.{key}");
            }
            assert_eq!(row["pods"], 60, "{w}.{flow}");
            assert_eq!(row["violations"], 0, "{w}.{flow}");
        }
        // Only Pod Identity calls EKS Auth.
        assert_eq!(r["irsa"]["eks_auth_calls_per_pod_hour"], 0.0);
        assert!(r["pod_identity"]["eks_auth_calls_per_pod_hour"].as_f64().unwrap() > 0.0);
    }
}
