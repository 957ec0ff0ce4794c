//! The default scenario end to end: its summary (snapshot), its acceptance facts, and determinism.

use credsim::cluster::{self, RunOptions};
use credsim::scenario::{self, Loaded};
use credsim::summary::Summary;

fn default_scenario() -> Loaded {
    scenario::load_str(scenario::DEFAULT_SCENARIO, scenario::DEFAULT_SCENARIO_PATH, None).unwrap()
}

fn run(l: &Loaded, seed: u64) -> Summary {
    cluster::run(l, &RunOptions { seed, keep_events: false, ..Default::default() }).unwrap().summary
}

/// The summary without the two wall-clock figures (the only parts that are not a function of the seed).
fn stable_json(s: &Summary) -> serde_json::Value {
    let mut v = serde_json::to_value(s).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("wall_ms");
    o.remove("sim_wall_ratio");
    v
}

#[test]
fn default_scenario_every_pod_gets_credentials_and_every_token_refreshes() {
    let l = default_scenario();
    let s = run(&l, l.scenario.scenario.seed);
    assert_eq!(s.pods, 30);
    assert_eq!(s.pods_with_credentials, 30, "{}", s.to_text());
    assert_eq!(s.pods_with_token, 30);
    assert_eq!(s.pods_with_token_refreshed, 30, "{}", s.to_text());
    assert!(s.errors.is_empty(), "unexpected errors: {:?}", s.errors);
    assert_eq!(s.uses_without_credentials, 0);
    assert!(s.sts_calls > 0 && s.api_calls_ok > 0);
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_json_snapshot!("irsa-basic.summary", stable_json(&s));
    });
}

#[test]
fn same_seed_same_digest_other_seed_other_digest() {
    let mut l = default_scenario();
    // A shorter run keeps the test quick; determinism does not depend on length.
    l.scenario.scenario.duration = scenario::HumanDuration(std::time::Duration::from_secs(3 * 3600));
    let a = run(&l, 7);
    let b = run(&l, 7);
    let c = run(&l, 8);
    assert_eq!(a.digest, b.digest);
    assert_eq!(stable_json(&a), stable_json(&b));
    assert_ne!(a.digest, c.digest);
}
