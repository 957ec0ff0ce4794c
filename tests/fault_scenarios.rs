//! The fault scenarios of the catalogue end to end: each runs with its seed, its summary is a
//! snapshot, every invariant holds, and the facts each scenario is about are asserted.

use credsim::cluster::{self, RunOptions};
use credsim::scenario;
use credsim::summary::Summary;

fn run_file(name: &str) -> Summary {
    let l = scenario::load_file(std::path::Path::new(&format!("scenarios/{name}.toml"))).unwrap();
    let s = cluster::run(&l, &RunOptions { seed: l.scenario.scenario.seed, ..Default::default() }).unwrap().summary;
    assert!(s.violations.is_empty(), "{name}: invariants failed:\n{}", s.violations.join("\n"));
    let mut v = serde_json::to_value(&s).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("wall_ms");
    o.remove("sim_wall_ratio");
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_json_snapshot!(format!("{name}.summary"), v);
    });
    s
}

#[test]
fn oidc_outage_fails_refreshes_during_the_outage_and_pods_recover() {
    let s = run_file("oidc-outage");
    assert_eq!(s.pods_with_credentials, 30);
    assert!(s.errors.get("InvalidIdentityToken").copied().unwrap_or(0) > 0, "{:?}", s.errors);
    assert_eq!(s.pods_running_by_mode.get("web_identity"), Some(&30));
}

#[test]
fn agent_rollout_keeps_every_pod_supplied() {
    let s = run_file("agent-rollout");
    assert_eq!(s.pods_with_credentials, 30);
    assert_eq!(s.uses_without_credentials, 0, "{}", s.to_text());
}

#[test]
fn eks_auth_outage_is_ridden_out_on_cached_credentials() {
    let s = run_file("eks-auth-outage");
    assert_eq!(s.pods_with_credentials, 30);
    assert!(s.eks_auth_errors.get("ServiceUnavailableException").copied().unwrap_or(0) > 0, "{:?}", s.eks_auth_errors);
    assert_eq!(s.uses_without_credentials, 0, "{}", s.to_text());
}

#[test]
fn key_rotation_needs_no_pod_to_fail() {
    let s = run_file("key-rotation");
    assert_eq!(s.pods_with_credentials, 30);
    assert!(s.errors.is_empty(), "{:?}", s.errors);
    assert_eq!(s.pods_with_token_refreshed, 30);
}

#[test]
fn clock_skew_makes_the_slow_node_use_expired_credentials_within_the_allowance() {
    let s = run_file("clock-skew");
    assert_eq!(s.pods_with_credentials, 30);
    assert!(s.errors.get("ExpiredToken").copied().unwrap_or(0) > 0, "{:?}", s.errors);
}

#[test]
fn sts_throttling_storm_drains() {
    let s = run_file("sts-throttling-storm");
    assert_eq!(s.pods, 2000);
    assert_eq!(s.pods_with_credentials, 2000);
    assert!(s.errors.get("Throttling").copied().unwrap_or(0) > 0, "{:?}", s.errors);
}

#[test]
fn chaos_mixed_holds_every_invariant_without_faults() {
    let s = run_file("chaos-mixed");
    // The misconfigured audience never works; the retired association stops working at 2h.
    assert!(s.errors.get("InvalidIdentityToken").copied().unwrap_or(0) > 0, "{:?}", s.errors);
    assert_eq!(s.pods, 16);
}
