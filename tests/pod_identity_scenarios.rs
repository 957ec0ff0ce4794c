//! The Pod Identity scenarios end to end: each one's acceptance facts, its summary snapshot, and
//! determinism (the same seed twice gives the same digest).

use credsim::cluster::{self, RunOptions};
use credsim::scenario;
use credsim::summary::Summary;

fn run_file(path: &str, seed: u64) -> Summary {
    let l = scenario::load_file(std::path::Path::new(path)).unwrap();
    cluster::run(&l, &RunOptions { seed, keep_events: false, ..Default::default() }).unwrap().summary
}

/// The summary without the wall-clock figures, for snapshots.
fn stable_json(s: &Summary) -> serde_json::Value {
    let mut v = serde_json::to_value(s).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("wall_ms");
    o.remove("sim_wall_ratio");
    v
}

fn snapshot(name: &str, s: &Summary) {
    insta::with_settings!({snapshot_path => "../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_json_snapshot!(format!("{name}.summary"), stable_json(s));
    });
}

/// Runs a scenario twice with its seed, checks the digests match, and returns the summary.
fn run_twice(path: &str) -> Summary {
    let a = run_file(path, 1);
    let b = run_file(path, 1);
    assert_eq!(a.digest, b.digest, "{path} is not deterministic");
    a
}

#[test]
fn pod_identity_basic() {
    let s = run_twice("scenarios/pod-identity-basic.toml");
    let pi = &s.flows["pod_identity"];
    assert_eq!(s.pods, 30);
    assert_eq!(pi.pods, 30, "{}", s.to_text());
    assert_eq!(pi.pods_with_credentials, 30, "{}", s.to_text());
    assert!(s.agent_cache.hits > 0, "{}", s.to_text());
    assert_eq!(s.pods_with_token_refreshed, 30, "{}", s.to_text());
    assert!(s.errors.is_empty(), "unexpected errors: {:?}", s.errors);
    assert_eq!(s.credential_gaps, 0);
    snapshot("pod-identity-basic", &s);
}

#[test]
fn abac_two_clusters() {
    let s = run_twice("scenarios/abac-two-clusters.toml");
    let s3 = s.s3.clone().expect("the scenario reads S3");
    assert!(s3.allowed_own > 0, "{}", s.to_text());
    assert_eq!(s3.denied_own, 0, "{}", s.to_text());
    assert_eq!(s3.allowed_cross, 0, "{}", s.to_text());
    assert_eq!(s3.denied_cross, s3.allowed_own, "every pod reads one own and one other object per use");
    assert!(s3.errors.is_empty(), "{:?}", s3.errors);
    // Writers: one write under each cluster's prefix per use; only the own prefix is allowed.
    assert!(s3.writes_allowed > 0, "{}", s.to_text());
    assert_eq!(s3.writes_denied, s3.writes_allowed, "{}", s.to_text());
    assert_eq!(s.flows["pod_identity"].pods_with_credentials, 16);
    snapshot("abac-two-clusters", &s);
}

#[test]
fn migration_irsa_to_pod_identity() {
    let s = run_twice("scenarios/migration-irsa-to-pod-identity.toml");
    assert_eq!(s.credential_gaps, 0, "gaps: {:?}\n{}", s.credential_gaps_by_pod, s.to_text());
    assert_eq!(s.uses_without_credentials, 0);
    assert!(s.errors.is_empty(), "unexpected errors: {:?}", s.errors);
    // 12 pods on IRSA first, 12 replacements on Pod Identity, and only those still running.
    assert_eq!(s.flows["irsa"].pods, 12, "{}", s.to_text());
    assert_eq!(s.flows["pod_identity"].pods, 12, "{}", s.to_text());
    assert_eq!(s.flows["pod_identity"].pods_with_credentials, 12);
    assert_eq!(s.pods_running_by_mode.get("container_credentials"), Some(&12), "{:?}", s.pods_running_by_mode);
    assert_eq!(s.pods_running_by_mode.get("web_identity"), None, "{:?}", s.pods_running_by_mode);
    snapshot("migration-irsa-to-pod-identity", &s);
}

#[test]
fn irsa_provider_quota() {
    let s = run_twice("scenarios/irsa-provider-quota.toml");
    assert_eq!(s.quota_refusals.get("LimitExceeded"), Some(&1), "{:?}", s.quota_refusals);
    assert_eq!(s.quota_refusals.values().sum::<u64>(), 1);
    assert_eq!(s.quota_refusal_messages.len(), 1);
    assert!(
        s.quota_refusal_messages[0].ends_with("LimitExceeded: Cannot exceed quota for OpenIdConnectProvidersPerAccount: 100"),
        "{:?}",
        s.quota_refusal_messages
    );
    // IRSA works on team-100 and not on team-101 (no OIDC provider for its issuer).
    assert_eq!(s.flows["irsa"].pods, 2);
    assert_eq!(s.flows["irsa"].pods_with_credentials, 1, "{}", s.to_text());
    assert!(s.errors.get("InvalidIdentityToken").is_some_and(|n| *n > 0), "{:?}", s.errors);
    // Pod Identity works everywhere, team-101 included.
    assert_eq!(s.flows["pod_identity"].pods, 101);
    assert_eq!(s.flows["pod_identity"].pods_with_credentials, 101, "{}", s.to_text());
    snapshot("irsa-provider-quota", &s);
}

/// `update-association` changes the role: EKS Auth issues the old role's credentials until the change has
/// propagated, and the agent's cached entries move to the new role at their next renewal (≤ 3 h), without
/// any pod losing its credentials.
#[test]
fn update_association_moves_pods_to_the_new_role() {
    let trust = r#"'''{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}'''"#;
    let text = format!(
        "[scenario]\nname = \"update\"\nduration = \"6h\"\n[cluster]\nname = \"c\"\nnodes = 1\niam_oidc_provider = false\n\
         [[role]]\nname = \"old\"\ntrust_policy = {trust}\n[[role]]\nname = \"new\"\ntrust_policy = {trust}\n\
         [[service_account]]\nname = \"app\"\n[[association]]\nservice_account = \"app\"\nrole = \"old\"\n\
         [[workload]]\nname = \"w\"\nservice_account = \"app\"\npods_per_node = 2\nstart = \"1m\"\nuse_interval = \"5m\"\n\
         [[action]]\nat = \"1h\"\nkind = \"update-association\"\nservice_account = \"app\"\nrole = \"new\"\n"
    );
    let l = scenario::load_str(&text, "update.toml", None).unwrap();
    let out = cluster::run(&l, &RunOptions { seed: 3, keep_events: true, ..Default::default() }).unwrap();
    let issued: Vec<(u64, String)> = out
        .events
        .iter()
        .filter(|e| e.kind == "eks_auth.request" && e.str("outcome") == "ok")
        .map(|e| (e.t_ns / 1_000_000_000, e.str("role_arn").to_string()))
        .collect();
    let role = |name: &str| format!("arn:aws:iam::111122223333:role/{name}");
    assert!(issued.iter().any(|(t, r)| *t < 3600 && *r == role("old")), "{issued:?}");
    // The change is visible to EKS Auth after the EKS API's propagation delay and its own association cache.
    assert!(issued.iter().all(|(t, r)| *t < 3600 + 60 || *r == role("new")), "{issued:?}");
    assert!(issued.iter().any(|(_, r)| *r == role("new")), "{issued:?}");
    assert_eq!(out.summary.credential_gaps, 0, "{}", out.summary.to_text());
    assert!(out.summary.errors.is_empty(), "{:?}", out.summary.errors);
}

/// The trust policy quota (ACLSizePerRole): a 3,000-character trust policy is refused with IAM's error at
/// the default 2,048 (and its pods get no credentials), accepted once the scenario raises the quota to
/// 4,096; above 4,096 the setting itself is refused.
#[test]
fn trust_policy_size_quota_is_2048_raisable_to_4096() {
    // Many (harmless) condition values make the policy long without whitespace.
    let values: Vec<String> = (0..80).map(|i| format!("\"system:serviceaccount:ns{i:03}:app\"")).collect();
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Service":"pods.eks.amazonaws.com"}},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{{"StringLike":{{"aws:RequestTag/kubernetes-namespace":["default",{}]}}}}}}]}}"#,
        values.join(",")
    );
    let chars = trust.chars().filter(|c| !c.is_whitespace()).count();
    assert!((2049..=4096).contains(&chars), "{chars}");
    let scenario = |iam: &str| {
        format!(
            "[scenario]\nname = \"q\"\nduration = \"30m\"\n[cluster]\nname = \"c\"\nnodes = 1\niam_oidc_provider = false\n{iam}\
             [[role]]\nname = \"big\"\ntrust_policy = '''{trust}'''\n[[service_account]]\nname = \"app\"\n\
             [[association]]\nservice_account = \"app\"\nrole = \"big\"\n\
             [[workload]]\nname = \"w\"\nservice_account = \"app\"\npods_per_node = 1\nstart = \"1m\"\n"
        )
    };
    let run = |text: &str| {
        let l = scenario::load_str(text, "q.toml", None).unwrap();
        cluster::run(&l, &RunOptions { seed: 1, keep_events: false, ..Default::default() }).unwrap().summary
    };
    let refused = run(&scenario(""));
    assert_eq!(refused.quota_refusals.get("LimitExceeded"), Some(&1));
    assert!(refused.quota_refusal_messages[0].ends_with("Cannot exceed quota for ACLSizePerRole: 2048"), "{:?}", refused.quota_refusal_messages);
    assert_eq!(refused.pods_with_credentials, 0, "{}", refused.to_text());

    let raised = run(&scenario("[iam]\ntrust_policy_chars_max = 4096\n"));
    assert!(raised.quota_refusals.is_empty(), "{:?}", raised.quota_refusal_messages);
    assert_eq!(raised.pods_with_credentials, 1, "{}", raised.to_text());

    let e = scenario::load_str(&scenario("[iam]\ntrust_policy_chars_max = 8192\n"), "q.toml", None).unwrap_err();
    assert_eq!(e.field, "iam.trust_policy_chars_max");
}

/// An IPv6 cluster (`ip_family = "ipv6"`): the webhook injects the agent's IPv6 URI and the SDKs get their
/// credentials from the agent's `[fd00:ec2::23]:80` listener.
#[test]
fn ipv6_cluster_uses_the_agents_ipv6_address() {
    let text = std::fs::read_to_string("scenarios/pod-identity-basic.toml")
        .unwrap()
        .replace("pod_identity_agent = true", "pod_identity_agent = true\nip_family = \"ipv6\"")
        .replace("duration = \"26h\"", "duration = \"2h\"");
    let l = scenario::load_str(&text, "ipv6.toml", None).unwrap();
    let out = cluster::run(&l, &RunOptions { seed: 1, keep_events: true, ..Default::default() }).unwrap();
    let calls: Vec<&sim::Event> = out.events.iter().filter(|e| e.kind == "sdk.container_call").collect();
    assert!(!calls.is_empty());
    assert!(calls.iter().all(|e| e.str("uri") == "http://[fd00:ec2::23]/v1/credentials" && e.str("outcome") == "ok"), "{calls:?}");
    assert_eq!(out.summary.pods_with_credentials, 30, "{}", out.summary.to_text());
}
