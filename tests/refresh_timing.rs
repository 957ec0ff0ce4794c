//! Refresh timing, measured from the trace of real runs: the kubelet's 80 % rule for projected tokens and
//! each SDK profile's credential refresh window.

use std::collections::BTreeMap;

use credsim::cluster::{self, RunOptions};
use credsim::scenario;

const BASE: &str = r#"
[scenario]
name = "timing"
duration = "DURATION"

[cluster]
name = "timing"
nodes = 1

[[role]]
name = "app"
trust_policy = '''
{"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
  "Principal": {"Federated": "${OIDC_PROVIDER_ARN}"},
  "Action": "sts:AssumeRoleWithWebIdentity",
  "Condition": {"StringEquals": {"${OIDC_PROVIDER}:aud": "sts.amazonaws.com"}}}]}
'''

[[service_account]]
name = "app"
role = "app"
annotations = { "eks.amazonaws.com/token-expiration" = "TOKEN_TTL" }
"#;

fn events(extra: &str, duration: &str, token_ttl: &str) -> Vec<sim::Event> {
    let text = BASE.replace("DURATION", duration).replace("TOKEN_TTL", token_ttl) + extra;
    let l = scenario::load_str(&text, "timing.toml", None).unwrap();
    let out = cluster::run(&l, &RunOptions { seed: 3, keep_events: true, ..Default::default() }).unwrap();
    assert!(out.summary.errors.is_empty(), "{:?}", out.summary.errors);
    out.events
}

#[test]
fn kubelet_refreshes_at_80_percent_of_ttl_on_a_sync() {
    let extra = r#"
[[workload]]
name = "app"
service_account = "app"
pods_per_node = 3
spread = "5m"
use_interval = "10m"
action = "credentials"
"#;
    let ev = events(extra, "4h", "3600");
    let refreshes: Vec<_> = ev.iter().filter(|e| e.kind == "kubelet.token_refreshed").collect();
    // 4 h of 1 h tokens refreshed every ~48 min: 4 or 5 refreshes per pod.
    assert!(refreshes.len() >= 12, "only {} refreshes", refreshes.len());
    for r in refreshes {
        let age = r.u64("age_s").unwrap();
        // Rule fires once age > 2880 - jitter (jitter in [0, 10)); checked on 60 s syncs.
        assert!((2870..=2941).contains(&age), "refresh at age {age}s");
        assert_eq!(r.u64("expiration_s"), Some(3600));
    }
}

/// Seconds between each credential refresh and the expiry of the credentials it replaced
/// (positive: before expiry).
fn refresh_leads(ev: &[sim::Event], sdk: &str) -> Vec<i64> {
    let mut last_exp: BTreeMap<String, u64> = BTreeMap::new();
    let mut leads = Vec::new();
    for e in ev.iter().filter(|e| e.kind == "pod.credentials" && e.str("sdk") == sdk) {
        let pod = e.str("pod").to_string();
        let exp = e.u64("expiration").unwrap();
        let now_s = (sim::EPOCH_UNIX_S * 1_000_000_000 + e.t_ns) as f64 / 1e9;
        if let Some(prev) = last_exp.get(&pod) {
            leads.push((*prev as f64 - now_s).round() as i64);
        }
        last_exp.insert(pod, exp);
    }
    leads
}

#[test]
fn sdk_profiles_refresh_in_their_windows() {
    let extra = r#"
[[workload]]
name = "rust"
service_account = "app"
pods_per_node = 2
sdk = "rust"
use_interval = "1s"
action = "credentials"

[[workload]]
name = "botocore"
service_account = "app"
pods_per_node = 2
sdk = "botocore"
use_interval = "1s"
action = "credentials"

[[workload]]
name = "go"
service_account = "app"
pods_per_node = 2
sdk = "go"
use_interval = "1s"
action = "credentials"
"#;
    let ev = events(extra, "3h", "86400");
    let rust = refresh_leads(&ev, "rust");
    let boto = refresh_leads(&ev, "botocore");
    let go = refresh_leads(&ev, "go");
    assert!(rust.len() >= 4 && boto.len() >= 4 && go.len() >= 4, "{rust:?} {boto:?} {go:?}");
    // aws-config: lazily, 5-10 s before expiry (uses every 1 s).
    assert!(rust.iter().all(|l| (4..=10).contains(l)), "rust {rust:?}");
    // botocore: at the 15-minute advisory mark.
    assert!(boto.iter().all(|l| (899..=901).contains(l)), "botocore {boto:?}");
    // aws-sdk-go-v2 web identity: ExpiryWindow 0, so at expiry.
    assert!(go.iter().all(|l| (-1..=0).contains(l)), "go {go:?}");
}
