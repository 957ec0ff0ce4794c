//! Both engines run the same small world (2 nodes x 5 pods, IRSA and Pod Identity, 10 simulated minutes):
//! every pod gets credentials on both, the counts fixed by the scenario match, and every latency
//! distribution agrees within the latency model's resolution.

use std::path::Path;

#[test]
fn small_world_gets_credentials_and_the_same_latencies_on_both_engines() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/small.toml");
    let loaded = engine_compare::load(&path, None).expect("the test scenario loads");
    let c = engine_compare::compare(&loaded, 1, &|_, _, _| {}).expect("both engines run it");
    let report = c.to_text();
    assert_eq!(c.ours.pods, 10, "{report}");
    assert!(c.every_pod_has_credentials, "{report}");
    assert_eq!(c.turmoil.pods_with_credentials, 10, "{report}");
    for count in c.counts.iter().filter(|c| c.must_match) {
        assert!(count.ok, "{} differs: {} vs {}\n{report}", count.name, count.ours, count.turmoil);
    }
    for m in &c.metrics {
        assert!(m.agrees(), "{} disagrees\n{report}", m.metric);
    }
    // Every flow was exercised on both engines.
    for name in ["first_credentials.irsa", "first_credentials.pod_identity", "sdk.sts_call", "sdk.container_call", "agent.eks_auth", "kubelet.token_request"] {
        let m = c.metrics.iter().find(|m| m.metric == name).expect("every metric is compared");
        assert!(m.ours.count > 0 && m.turmoil.count > 0, "{name} has no samples\n{report}");
    }
    assert_eq!(c.verdict, "agree", "{report}");
}

#[test]
fn the_turmoil_engine_is_deterministic() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/small.toml");
    let loaded = engine_compare::load(&path, Some(std::time::Duration::from_secs(180))).expect("the test scenario loads");
    let opts = credsim::cluster::RunOptions { seed: 1, ..Default::default() };
    let cfg = credsim::turmoil_engine::TurmoilConfig::default();
    let a = credsim::turmoil_engine::run(&loaded, &opts, &cfg, &|_, _| {}).expect("runs");
    let b = credsim::turmoil_engine::run(&loaded, &opts, &cfg, &|_, _| {}).expect("runs");
    assert!(a.summary.events > 0);
    assert_eq!(a.summary.digest, b.summary.digest);
    assert_eq!(a.summary.events, b.summary.events);
}
