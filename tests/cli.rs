//! The command line as a person meets it: bad input gets a located error and exit code 2; `--json`
//! prints one object with the documented keys.

use std::process::Command;

fn credsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_credsim")).args(args).output().unwrap()
}

fn write(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("credsim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn malformed_scenario_names_file_line_and_field_and_exits_2() {
    let p = write("bad.toml", "[scenario]\nname = \"x\"\nduration = \"1h\"\n[cluster]\nname = \"c\"\nnodes = \"three\"\n");
    let out = credsim(&["run", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:6:"), "{err}");
    assert!(err.contains("cluster.nodes"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn invalid_trust_policy_is_reported_against_its_role() {
    let text = r#"[scenario]
name = "x"
duration = "1h"
[cluster]
name = "c"
nodes = 1
[[role]]
name = "broken"
trust_policy = '{"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Principal": "*", "Action": "sts:AssumeRole"}]}'
"#;
    let p = write("policy.toml", text);
    let out = credsim(&["run", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("policy.toml:8"), "{err}");
    assert!(err.contains("role[0]"), "{err}");
}

#[test]
fn missing_file_is_a_clear_error() {
    let out = credsim(&["run", "/nonexistent/scenario.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/scenario.toml: cannot read"));
}

#[test]
fn json_output_has_the_documented_keys() {
    let text = r#"[scenario]
name = "tiny"
duration = "20m"
[cluster]
name = "tiny"
nodes = 1
[[role]]
name = "r"
trust_policy = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Federated": "${OIDC_PROVIDER_ARN}"}, "Action": "sts:AssumeRoleWithWebIdentity"}]}'
[[service_account]]
name = "sa"
role = "r"
[[workload]]
name = "app"
service_account = "sa"
pods_per_node = 2
"#;
    let p = write("tiny.toml", text);
    let out = credsim(&["run", p.to_str().unwrap(), "--seed", "7", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for k in ["scenario", "seed", "sim_seconds", "wall_ms", "pods", "pods_with_credentials", "sts_calls", "token_refreshes", "errors", "first_credentials_ms", "digest"] {
        assert!(v.get(k).is_some(), "missing {k} in {v}");
    }
    assert_eq!(v["seed"], 7);
    assert_eq!(v["pods"], 2);
    assert_eq!(v["pods_with_credentials"], 2);
    assert!(v["first_credentials_ms"]["p50"].is_u64() && v["first_credentials_ms"]["p99"].is_u64());
    assert!(v["errors"].as_object().unwrap().is_empty());
}
