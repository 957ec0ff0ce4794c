//! Unit tests for the cases the upstream corpus does not cover (reference §5.3, "Gaps"): no-mutation
//! responses, labels already present, non-default audience, the 600 s floor, `valueFrom` env,
//! re-admission, the AdmissionReview envelope, IPv6, malformed requests, and `apply`.

use std::convert::Infallible;

use base64::Engine as _;
use json_patch::Patch;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::admission::{AdmissionReview, decode_patch};
use super::*;

/// A seeded RNG that counts draws, to check when the jitter consumes randomness.
struct Counting {
    inner: ChaCha8Rng,
    draws: usize,
}

impl Counting {
    fn new(seed: u64) -> Self {
        Counting {
            inner: ChaCha8Rng::seed_from_u64(seed),
            draws: 0,
        }
    }
}

impl rand::TryRng for Counting {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        self.draws += 1;
        Ok(rand::Rng::next_u32(&mut self.inner))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.draws += 1;
        Ok(rand::Rng::next_u64(&mut self.inner))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.draws += 1;
        rand::Rng::fill_bytes(&mut self.inner, dst);
        Ok(())
    }
}

const ROLE: &str = "arn:aws:iam::111122223333:role/s3-reader";

fn pod(value: Value) -> Pod {
    serde_json::from_value(value).expect("test pod")
}

fn simple_pod() -> Pod {
    pod(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "app", "namespace": "default"},
        "spec": {"serviceAccountName": "default", "containers": [{"name": "app", "image": "amazonlinux"}]}
    }))
}

fn sa(annotations: Value) -> ServiceAccount {
    serde_json::from_value(json!({
        "metadata": {"name": "default", "namespace": "default", "annotations": annotations}
    }))
    .expect("test sa")
}

fn irsa_sa() -> ServiceAccount {
    sa(json!({"eks.amazonaws.com/role-arn": ROLE}))
}

fn assoc() -> PodIdentityAssociationRef {
    PodIdentityAssociationRef::new("default", "default")
}

fn patch_json(m: &Mutation) -> Value {
    serde_json::to_value(m.patch.as_ref().expect("a patch")).expect("serialises")
}

fn ops(m: &Mutation) -> Vec<String> {
    m.patch
        .as_ref()
        .map(|p| p.0.iter().map(|op| op.path().to_string()).collect())
        .unwrap_or_default()
}

fn env_of(pod: &Pod, container: usize) -> Vec<(String, String)> {
    pod.spec.as_ref().unwrap().containers[container]
        .env
        .as_ref()
        .map(|env| {
            env.iter()
                .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default()
}

fn token_expiration(m: &Mutation) -> i64 {
    match &m.outcome {
        Outcome::WebIdentity { token, .. } | Outcome::ContainerCredentials { token, .. } => {
            token.expiration_s
        }
        Outcome::NotMutated(_) => panic!("not mutated"),
    }
}

// ---- mutate: decisions ----

#[test]
fn no_service_account_means_no_patch() {
    let mut rng = Counting::new(1);
    let m = mutate(
        &WebhookConfig::default(),
        &simple_pod(),
        None,
        None,
        &mut rng,
    )
    .unwrap();
    assert_eq!(m.patch, None);
    assert_eq!(
        m.outcome,
        Outcome::NotMutated(NotMutatedReason::ServiceAccountNotFound)
    );
    assert_eq!(m.mode(), Mode::None);
    assert_eq!(rng.draws, 0);
}

#[test]
fn service_account_without_role_means_no_patch() {
    for annotations in [
        json!({}),
        json!({"eks.amazonaws.com/role-arn": ""}),
        json!({"other.io/role-arn": ROLE}),
    ] {
        let m = mutate(
            &WebhookConfig::default(),
            &simple_pod(),
            Some(&sa(annotations)),
            None,
            &mut Counting::new(1),
        )
        .unwrap();
        assert_eq!(m.patch, None);
        assert_eq!(m.outcome, Outcome::NotMutated(NotMutatedReason::NoRoleArn));
    }
}

#[test]
fn irsa_never_draws_jitter() {
    let mut rng = Counting::new(1);
    let m = mutate(
        &WebhookConfig::default(),
        &simple_pod(),
        Some(&irsa_sa()),
        None,
        &mut rng,
    )
    .unwrap();
    assert_eq!(m.mode(), Mode::WebIdentity);
    assert_eq!(token_expiration(&m), 86_400);
    assert_eq!(rng.draws, 0);
}

#[test]
fn pod_identity_jitter_is_seeded_uniform_and_only_for_86400() {
    let cfg = WebhookConfig::default();
    let draw = |seed: u64| {
        let mut rng = Counting::new(seed);
        let m = mutate(&cfg, &simple_pod(), None, Some(&assoc()), &mut rng).unwrap();
        assert!(rng.draws > 0);
        token_expiration(&m)
    };
    let values: Vec<i64> = (0..200).map(draw).collect();
    assert!(
        values.iter().all(|v| (79_200..=86_400).contains(v)),
        "{values:?}"
    );
    assert!(
        values.iter().any(|v| *v != values[0]),
        "jitter should vary with the seed"
    );
    assert_eq!(draw(7), draw(7), "same seed, same value");

    // A Pod annotation that resolves to something else: no draw at all.
    let mut p = simple_pod();
    p.metadata.annotations = Some(
        [(
            "eks.amazonaws.com/token-expiration".to_owned(),
            "3600".to_owned(),
        )]
        .into(),
    );
    let mut rng = Counting::new(1);
    let m = mutate(&cfg, &p, None, Some(&assoc()), &mut rng).unwrap();
    assert_eq!(token_expiration(&m), 3600);
    assert_eq!(rng.draws, 0);
    // ... and one that resolves to exactly 86400 is jittered.
    p.metadata.annotations = Some(
        [(
            "eks.amazonaws.com/token-expiration".to_owned(),
            "86400".to_owned(),
        )]
        .into(),
    );
    let mut rng = Counting::new(3);
    let m = mutate(
        &cfg,
        &p,
        Some(&sa(json!({"eks.amazonaws.com/token-expiration": "5000"}))),
        Some(&assoc()),
        &mut rng,
    )
    .unwrap();
    assert!(rng.draws > 0);
    assert!((79_200..=86_400).contains(&token_expiration(&m)));
}

#[test]
fn pod_identity_wins_over_irsa_and_ignores_sa_audience() {
    let s = sa(json!({"eks.amazonaws.com/role-arn": ROLE, "eks.amazonaws.com/audience": "custom"}));
    let m = mutate(
        &WebhookConfig::default(),
        &simple_pod(),
        Some(&s),
        Some(&assoc()),
        &mut Counting::new(1),
    )
    .unwrap();
    assert_eq!(m.mode(), Mode::ContainerCredentials);
    let patched = apply(&simple_pod(), m.patch.as_ref().unwrap()).unwrap();
    let env = env_of(&patched, 0);
    assert_eq!(
        env.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        [
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
        ]
    );
    assert_eq!(env[0].1, "http://169.254.170.23/v1/credentials");
    assert_eq!(
        env[1].1,
        "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token"
    );
    let volume = &patch_json(&m)[1]["value"][0];
    assert_eq!(volume["name"], "eks-pod-identity-token");
    assert_eq!(
        volume["projected"]["sources"][0]["serviceAccountToken"]["audience"],
        "pods.eks.amazonaws.com"
    );
    assert_eq!(
        patched.metadata.labels.unwrap()["eks.amazonaws.com/pod-identity"],
        "enabled"
    );
}

#[test]
fn pod_identity_common_config_miss_ignores_the_sts_flag() {
    let cfg = WebhookConfig {
        sts_regional_endpoint: true,
        ..WebhookConfig::default()
    };
    // SA not cached: false / 86400, not the flag.
    let m = mutate(
        &cfg,
        &simple_pod(),
        None,
        Some(&assoc()),
        &mut Counting::new(1),
    )
    .unwrap();
    let patched = apply(&simple_pod(), m.patch.as_ref().unwrap()).unwrap();
    assert!(
        !env_of(&patched, 0)
            .iter()
            .any(|(n, _)| n == "AWS_STS_REGIONAL_ENDPOINTS")
    );
    // SA cached without annotations: the flag default.
    let m = mutate(
        &cfg,
        &simple_pod(),
        Some(&sa(json!({}))),
        Some(&assoc()),
        &mut Counting::new(1),
    )
    .unwrap();
    let patched = apply(&simple_pod(), m.patch.as_ref().unwrap()).unwrap();
    assert_eq!(
        env_of(&patched, 0)[0],
        (
            "AWS_STS_REGIONAL_ENDPOINTS".to_owned(),
            "regional".to_owned()
        )
    );
}

#[test]
fn ipv6_full_uri_is_injected_verbatim() {
    let cfg = WebhookConfig {
        container_credentials: ContainerCredentialsConfig::for_ip_family(IpFamily::V6),
        ..WebhookConfig::default()
    };
    let m = mutate(
        &cfg,
        &simple_pod(),
        None,
        Some(&assoc()),
        &mut Counting::new(1),
    )
    .unwrap();
    let patched = apply(&simple_pod(), m.patch.as_ref().unwrap()).unwrap();
    assert_eq!(
        env_of(&patched, 0)[0].1,
        "http://[fd00:ec2::23]/v1/credentials"
    );
}

#[test]
fn existing_labels_get_the_escaped_label_path() {
    let mut p = simple_pod();
    p.metadata.labels = Some([("app".to_owned(), "web".to_owned())].into());
    let m = mutate(
        &WebhookConfig::default(),
        &p,
        None,
        Some(&assoc()),
        &mut Counting::new(1),
    )
    .unwrap();
    assert_eq!(
        ops(&m)[0],
        "/metadata/labels/eks.amazonaws.com~1pod-identity"
    );
    assert_eq!(patch_json(&m)[0]["value"], "enabled");
    let labels = apply(&p, m.patch.as_ref().unwrap())
        .unwrap()
        .metadata
        .labels
        .unwrap();
    assert_eq!(labels.len(), 2);
    assert_eq!(labels["eks.amazonaws.com/pod-identity"], "enabled");
}

#[test]
fn label_key_ignores_the_annotation_prefix_but_annotations_follow_it() {
    let cfg = WebhookConfig {
        annotation_prefix: "example.com".into(),
        ..WebhookConfig::default()
    };
    let mut p = simple_pod();
    p.metadata.annotations = Some(
        [
            ("example.com/token-expiration".to_owned(), "7200".to_owned()),
            (
                "eks.amazonaws.com/token-expiration".to_owned(),
                "9000".to_owned(),
            ),
        ]
        .into(),
    );
    let m = mutate(&cfg, &p, None, Some(&assoc()), &mut Counting::new(1)).unwrap();
    assert_eq!(token_expiration(&m), 7200);
    assert_eq!(
        patch_json(&m)[0]["value"],
        json!({"eks.amazonaws.com/pod-identity": "enabled"})
    );
}

#[test]
fn sa_audience_annotation_sets_the_irsa_audience_and_empty_omits_it() {
    let m = mutate(
        &WebhookConfig::default(),
        &simple_pod(),
        Some(&sa(
            json!({"eks.amazonaws.com/role-arn": ROLE, "eks.amazonaws.com/audience": "my-aud"}),
        )),
        None,
        &mut Counting::new(1),
    )
    .unwrap();
    assert_eq!(
        patch_json(&m)[0]["value"][0]["projected"]["sources"][0]["serviceAccountToken"]["audience"],
        "my-aud"
    );

    let m = mutate(
        &WebhookConfig::default(),
        &simple_pod(),
        Some(&sa(
            json!({"eks.amazonaws.com/role-arn": ROLE, "eks.amazonaws.com/audience": ""}),
        )),
        None,
        &mut Counting::new(1),
    )
    .unwrap();
    let token = &patch_json(&m)[0]["value"][0]["projected"]["sources"][0]["serviceAccountToken"];
    assert!(token.get("audience").is_none(), "{token}");
}

#[test]
fn sa_token_expiration_floor_and_no_ceiling() {
    let exp = |value: &str| {
        let s = sa(
            json!({"eks.amazonaws.com/role-arn": ROLE, "eks.amazonaws.com/token-expiration": value}),
        );
        token_expiration(
            &mutate(
                &WebhookConfig::default(),
                &simple_pod(),
                Some(&s),
                None,
                &mut Counting::new(1),
            )
            .unwrap(),
        )
    };
    assert_eq!(exp("60"), 600);
    assert_eq!(exp("200000"), 200_000);
    assert_eq!(exp("soon"), 86_400);
}

#[test]
fn value_from_env_counts_as_present() {
    let p = pod(json!({
        "metadata": {"name": "app"},
        "spec": {"serviceAccountName": "default", "containers": [{
            "name": "app",
            "env": [{"name": "AWS_REGION", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "region"}}}]
        }]}
    }));
    let cfg = WebhookConfig {
        aws_default_region: "us-west-2".into(),
        ..WebhookConfig::default()
    };
    let m = mutate(&cfg, &p, Some(&irsa_sa()), None, &mut Counting::new(1)).unwrap();
    let env = env_of(&apply(&p, m.patch.as_ref().unwrap()).unwrap(), 0);
    assert_eq!(
        env.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["AWS_REGION", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"]
    );
}

#[test]
fn readmission_gives_the_same_containers_and_no_volume_op() {
    let cfg = WebhookConfig {
        aws_default_region: "eu-west-1".into(),
        sts_regional_endpoint: true,
        ..WebhookConfig::default()
    };
    let first = mutate(
        &cfg,
        &simple_pod(),
        Some(&irsa_sa()),
        None,
        &mut Counting::new(1),
    )
    .unwrap();
    let once = apply(&simple_pod(), first.patch.as_ref().unwrap()).unwrap();
    let second = mutate(&cfg, &once, Some(&irsa_sa()), None, &mut Counting::new(1)).unwrap();
    // Upstream still sends a patch: the containers array, unchanged.
    assert_eq!(ops(&second), ["/spec/containers"]);
    match &second.outcome {
        Outcome::WebIdentity {
            containers, token, ..
        } => {
            assert!(!containers.changed);
            assert_eq!(containers.already_configured, ["app"]);
            assert!(!token.volume_added);
        }
        other => panic!("{other}"),
    }
    assert_eq!(apply(&once, second.patch.as_ref().unwrap()).unwrap(), once);
}

#[test]
fn explicit_empty_volume_list_is_prepended_to() {
    let mut p = simple_pod();
    p.spec.as_mut().unwrap().volumes = Some(vec![]);
    let m = mutate(
        &WebhookConfig::default(),
        &p,
        Some(&irsa_sa()),
        None,
        &mut Counting::new(1),
    )
    .unwrap();
    assert_eq!(ops(&m)[0], "/spec/volumes/0");
    let patched = apply(&p, m.patch.as_ref().unwrap()).unwrap();
    assert_eq!(
        patched.spec.unwrap().volumes.unwrap()[0].name,
        "aws-iam-token"
    );
}

#[test]
fn windows_pod_identity_token_path() {
    let mut p = simple_pod();
    p.spec.as_mut().unwrap().node_selector =
        Some([("kubernetes.io/os".to_owned(), "windows".to_owned())].into());
    let m = mutate(
        &WebhookConfig::default(),
        &p,
        None,
        Some(&assoc()),
        &mut Counting::new(1),
    )
    .unwrap();
    let patched = apply(&p, m.patch.as_ref().unwrap()).unwrap();
    assert_eq!(
        env_of(&patched, 0)[1].1,
        r"C:\var\run\secrets\pods.eks.amazonaws.com\serviceaccount\eks-pod-identity-token"
    );
    let mount = &patched.spec.unwrap().containers[0]
        .volume_mounts
        .clone()
        .unwrap()[0];
    assert_eq!(
        mount.mount_path,
        "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount"
    );
}

#[test]
fn unparseable_skip_containers_skips_nothing() {
    let mut p = pod(json!({
        "metadata": {"name": "app", "annotations": {"eks.amazonaws.com/skip-containers": "side\"car"}},
        "spec": {"serviceAccountName": "default", "containers": [{"name": "side\"car"}, {"name": "app"}]}
    }));
    let m = mutate(
        &WebhookConfig::default(),
        &p,
        Some(&irsa_sa()),
        None,
        &mut Counting::new(1),
    )
    .unwrap();
    assert_eq!(m.warnings.len(), 1, "{:?}", m.warnings);
    match &m.outcome {
        Outcome::WebIdentity { containers, .. } => {
            assert_eq!(containers.mutated, ["side\"car", "app"])
        }
        other => panic!("{other}"),
    }
    // Quoted, with a space kept: " app" is not "app".
    p.metadata.annotations = Some(
        [(
            "eks.amazonaws.com/skip-containers".to_owned(),
            "\"side\"\"car\", app".to_owned(),
        )]
        .into(),
    );
    let m = mutate(
        &WebhookConfig::default(),
        &p,
        Some(&irsa_sa()),
        None,
        &mut Counting::new(1),
    )
    .unwrap();
    match &m.outcome {
        Outcome::WebIdentity { containers, .. } => {
            assert_eq!(containers.skipped, ["side\"car"]);
            assert_eq!(containers.mutated, ["app"]);
        }
        other => panic!("{other}"),
    }
}

/// Names of the containers of the patched pod that mount the token volume.
fn mounting(p: &Pod, m: &Mutation, volume: &str) -> Vec<String> {
    let patched = apply(p, m.patch.as_ref().expect("a patch")).unwrap();
    let spec = patched.spec.unwrap();
    spec.containers
        .iter()
        .filter(|c| c.volume_mounts.iter().flatten().any(|v| v.name == volume))
        .map(|c| c.name.clone())
        .collect()
}

#[test]
fn planted_bug_skip_drops_mount_leaves_every_container_without_the_token_only_when_on() {
    let p = pod(json!({
        "metadata": {"name": "app", "namespace": "default", "annotations": {"eks.amazonaws.com/skip-containers": "log-shipper"}},
        "spec": {"serviceAccountName": "default", "containers": [{"name": "app"}, {"name": "log-shipper"}]}
    }));
    let cases: [(&[crate::bugs::Bug], &[&str]); 2] =
        [(&[], &["app"]), (&[crate::bugs::Bug::WebhookSkipDropsMount], &[])];
    for (bugs, want) in cases {
        crate::runtime::install_controls(bugs);
        for (sa_, assoc_, volume) in [
            (Some(irsa_sa()), None, config::IRSA_VOLUME_NAME),
            (None, Some(assoc()), "eks-pod-identity-token"),
        ] {
            let m = mutate(&WebhookConfig::default(), &p, sa_.as_ref(), assoc_.as_ref(), &mut Counting::new(1)).unwrap();
            assert_eq!(mounting(&p, &m, volume), want, "bugs {bugs:?}, volume {volume}");
            let app_env = env_of(&apply(&p, m.patch.as_ref().unwrap()).unwrap(), 0);
            assert_eq!(app_env.is_empty(), want.is_empty(), "bugs {bugs:?}: {app_env:?}");
        }
    }
    // Without the annotation the bug changes nothing.
    crate::runtime::install_controls(&[crate::bugs::Bug::WebhookSkipDropsMount]);
    let plain = simple_pod();
    let m = mutate(&WebhookConfig::default(), &plain, Some(&irsa_sa()), None, &mut Counting::new(1)).unwrap();
    assert_eq!(mounting(&plain, &m, config::IRSA_VOLUME_NAME), ["app"]);
    crate::runtime::install_controls(&[]);
}

#[test]
fn pod_identity_early_exit_leaves_container_untouched() {
    let container = json!({
        "name": "app",
        "env": [
            {"name": "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "value": "/x"},
            {"name": "AWS_DEFAULT_REGION", "value": "us-east-1"},
            {"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "legacy"}
        ]
    });
    let p = pod(
        json!({"metadata": {"name": "app"}, "spec": {"serviceAccountName": "default", "containers": [container.clone()]}}),
    );
    let m = mutate(
        &WebhookConfig::default(),
        &p,
        None,
        Some(&assoc()),
        &mut Counting::new(1),
    )
    .unwrap();
    assert_eq!(
        ops(&m),
        ["/metadata/labels", "/spec/volumes", "/spec/containers"]
    );
    assert_eq!(patch_json(&m)[2]["value"], json!([container]));
}

#[test]
fn ephemeral_containers_are_ignored_and_init_containers_included() {
    let p = pod(json!({
        "metadata": {"name": "app"},
        "spec": {
            "serviceAccountName": "default",
            "initContainers": [{"name": "init"}],
            "containers": [{"name": "app"}],
            "ephemeralContainers": [{"name": "debug"}]
        }
    }));
    let m = mutate(
        &WebhookConfig::default(),
        &p,
        Some(&irsa_sa()),
        None,
        &mut Counting::new(1),
    )
    .unwrap();
    assert_eq!(
        ops(&m),
        ["/spec/volumes", "/spec/containers", "/spec/initContainers"]
    );
    match &m.outcome {
        Outcome::WebIdentity { containers, .. } => assert_eq!(containers.mutated, ["init", "app"]),
        other => panic!("{other}"),
    }
    let patched = apply(&p, m.patch.as_ref().unwrap()).unwrap();
    assert!(
        patched.spec.unwrap().ephemeral_containers.unwrap()[0]
            .env
            .is_none()
    );
}

#[test]
fn mismatched_inputs_are_errors() {
    let other_sa = serde_json::from_value::<ServiceAccount>(
        json!({"metadata": {"name": "other", "namespace": "default"}}),
    )
    .unwrap();
    let err = mutate(
        &WebhookConfig::default(),
        &simple_pod(),
        Some(&other_sa),
        None,
        &mut Counting::new(1),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            WebhookError::InputMismatch {
                what: "service account",
                ..
            }
        ),
        "{err}"
    );
    let err = mutate(
        &WebhookConfig::default(),
        &simple_pod(),
        None,
        Some(&PodIdentityAssociationRef::new("kube-system", "default")),
        &mut Counting::new(1),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            WebhookError::InputMismatch {
                what: "pod identity association",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn outcome_describes_itself() {
    let m = mutate(
        &WebhookConfig::default(),
        &simple_pod(),
        Some(&irsa_sa()),
        None,
        &mut Counting::new(1),
    )
    .unwrap();
    let text = m.outcome.to_string();
    assert!(
        text.starts_with("IRSA role arn:aws:iam::111122223333:role/s3-reader"),
        "{text}"
    );
    assert!(text.contains("exp 86400s"), "{text}");
    let none = mutate(
        &WebhookConfig::default(),
        &simple_pod(),
        None,
        None,
        &mut Counting::new(1),
    )
    .unwrap();
    assert!(none.outcome.to_string().starts_with("not mutated"));
}

// ---- review: the AdmissionReview envelope ----

/// The request upstream's `handler_test.go` sends (`getValidReview(rawPodWithoutVolume)`).
fn upstream_request(type_meta: bool) -> Vec<u8> {
    let mut review = json!({
        "request": {
            "uid": "918ef1dc-928f-4525-99ef-988389f263c3",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "", "resource": ""},
            "namespace": "default",
            "operation": "CREATE",
            "userInfo": {
                "username": "kubernetes-admin",
                "uid": "aws-iam-authenticator:111122223333:AROAR2TG44V5CLZCFPOQZ",
                "groups": ["system:authenticated", "system:masters"]
            },
            "object": {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "balajilovesoreos", "uid": "be8695c4-4ad0-4038-8786-c508853aa255"},
                "spec": {"containers": [{"image": "amazonlinux", "name": "balajilovesoreos"}], "serviceAccountName": "default"}
            },
            "oldObject": null,
            "options": null
        }
    });
    if type_meta {
        review["apiVersion"] = json!("admission.k8s.io/v1");
        review["kind"] = json!("AdmissionReview");
    }
    serde_json::to_vec(&review).unwrap()
}

/// Upstream `TestModifierHandler`'s SA: role and `token-expiration: 3600`.
fn upstream_sa(ns: &str, name: &str) -> Option<ServiceAccount> {
    (ns == "default" && name == "default").then(|| {
        sa(json!({"eks.amazonaws.com/role-arn": ROLE, "eks.amazonaws.com/token-expiration": "3600"}))
    })
}

fn no_assoc(_: &str, _: &str) -> Option<PodIdentityAssociationRef> {
    None
}

/// Upstream's `validPatchIfNoVolumesPresent`, minus the Go-only `"resources":{}`.
fn upstream_valid_patch() -> Value {
    json!([
        {"op":"add","path":"/spec/volumes","value":[{"name":"aws-iam-token","projected":{"sources":[{"serviceAccountToken":{"audience":"sts.amazonaws.com","expirationSeconds":3600,"path":"token"}}]}}]},
        {"op":"add","path":"/spec/containers","value":[{"name":"balajilovesoreos","image":"amazonlinux","env":[{"name":"AWS_ROLE_ARN","value":"arn:aws:iam::111122223333:role/s3-reader"},{"name":"AWS_WEB_IDENTITY_TOKEN_FILE","value":"/var/run/secrets/eks.amazonaws.com/serviceaccount/token"}],"volumeMounts":[{"name":"aws-iam-token","readOnly":true,"mountPath":"/var/run/secrets/eks.amazonaws.com/serviceaccount"}]}]}
    ])
}

#[test]
fn review_echoes_uid_and_type_meta_and_sends_base64_patch() {
    for type_meta in [false, true] {
        let body = review(
            &WebhookConfig::default(),
            &upstream_request(type_meta),
            upstream_sa,
            no_assoc,
            &mut Counting::new(1),
        )
        .unwrap();
        let out: Value = serde_json::from_slice(&body).unwrap();
        let response = &out["response"];
        assert_eq!(response["uid"], "918ef1dc-928f-4525-99ef-988389f263c3");
        assert_eq!(response["allowed"], true);
        assert_eq!(response["patchType"], "JSONPatch");
        assert!(response.get("status").is_none());
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(response["patch"].as_str().unwrap())
            .unwrap();
        let patch: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(patch, upstream_valid_patch());
        if type_meta {
            assert_eq!(out["apiVersion"], "admission.k8s.io/v1");
            assert_eq!(out["kind"], "AdmissionReview");
        } else {
            assert!(
                out.get("apiVersion").is_none() && out.get("kind").is_none(),
                "{out}"
            );
        }
        assert!(out.get("request").is_none());
        // Our own types read it back.
        let parsed: AdmissionReview = serde_json::from_slice(&body).unwrap();
        let decoded = decode_patch(parsed.response.as_ref().unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(
            serde_json::to_value(decoded).unwrap(),
            upstream_valid_patch()
        );
    }
}

#[test]
fn review_without_mutation_sends_no_patch() {
    let body = review(
        &WebhookConfig::default(),
        &upstream_request(true),
        |_: &str, _: &str| None,
        no_assoc,
        &mut Counting::new(1),
    )
    .unwrap();
    let out: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        out,
        json!({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1",
               "response": {"uid": "918ef1dc-928f-4525-99ef-988389f263c3", "allowed": true}})
    );
}

#[test]
fn review_uses_the_request_namespace_for_lookups() {
    let mut body: Value = serde_json::from_slice(&upstream_request(true)).unwrap();
    body["request"]["namespace"] = json!("team-a");
    body["request"]["object"]["metadata"]["namespace"] = json!("ignored");
    body["request"]["object"]["spec"]["serviceAccountName"] = json!("s3");
    let seen = std::cell::RefCell::new(Vec::new());
    let reviewed = review_with_outcome(
        &WebhookConfig::default(),
        &serde_json::to_vec(&body).unwrap(),
        |ns: &str, name: &str| {
            seen.borrow_mut().push(format!("sa {ns}/{name}"));
            None
        },
        |ns: &str, name: &str| {
            seen.borrow_mut().push(format!("assoc {ns}/{name}"));
            Some(PodIdentityAssociationRef::new(ns, name))
        },
        &mut Counting::new(1),
    )
    .unwrap();
    assert_eq!(*seen.borrow(), ["assoc team-a/s3", "sa team-a/s3"]);
    assert_eq!(reviewed.namespace, "team-a");
    assert_eq!(reviewed.service_account, "s3");
    assert_eq!(reviewed.mutation.mode(), Mode::ContainerCredentials);
}

#[test]
fn review_is_deterministic_for_a_seed() {
    let run = |seed: u64| {
        review(
            &WebhookConfig::default(),
            &upstream_request(true),
            |_: &str, _: &str| None,
            |ns: &str, n: &str| Some(PodIdentityAssociationRef::new(ns, n)),
            &mut ChaCha8Rng::seed_from_u64(seed),
        )
        .unwrap()
    };
    assert_eq!(run(42), run(42));
}

fn review_err(body: &[u8]) -> WebhookError {
    review(
        &WebhookConfig::default(),
        body,
        upstream_sa,
        no_assoc,
        &mut Counting::new(1),
    )
    .unwrap_err()
}

fn with_request(f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&upstream_request(true)).unwrap();
    f(&mut v);
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn malformed_reviews_name_the_field() {
    let missing = |field: &'static str| WebhookError::MissingField { field };
    assert_eq!(review_err(b""), missing("request"));
    assert_eq!(review_err(b"  \n"), missing("request"));
    assert_eq!(review_err(b"{}"), missing("request"));
    assert_eq!(review_err(br#"{"request":null}"#), missing("request"));
    assert!(matches!(
        review_err(b"{not json"),
        WebhookError::InvalidJson { .. }
    ));
    // Upstream's InvalidJSON case.
    assert!(matches!(
        review_err(br#"{"request": {"object": "\"metadata\":{\"name\":\"fake\""}"#),
        WebhookError::InvalidJson { .. }
    ));
    assert!(
        matches!(review_err(b"[]"), WebhookError::InvalidField { ref field, .. } if field == "(body)")
    );
    assert!(
        matches!(review_err(br#"{"request":5}"#), WebhookError::InvalidField { ref field, .. } if field == "request")
    );
    assert_eq!(
        review_err(&with_request(|v| {
            v["request"].as_object_mut().unwrap().remove("uid");
        })),
        missing("request.uid")
    );
    assert!(
        matches!(review_err(&with_request(|v| v["request"]["uid"] = json!(7))), WebhookError::InvalidField { ref field, .. } if field == "request.uid")
    );
    assert!(
        matches!(review_err(&with_request(|v| v["request"]["uid"] = json!(""))), WebhookError::InvalidField { ref field, .. } if field == "request.uid")
    );
    assert_eq!(
        review_err(&with_request(|v| {
            v["request"].as_object_mut().unwrap().remove("object");
        })),
        missing("request.object")
    );
    assert_eq!(
        review_err(&with_request(|v| v["request"]["object"] = Value::Null)),
        missing("request.object")
    );
    let err = review_err(&with_request(|v| {
        v["request"]["userInfo"]["groups"] = json!(["ok", 5])
    }));
    assert!(
        matches!(err, WebhookError::InvalidField { ref field, .. } if field == "request.userInfo.groups[1]"),
        "{err}"
    );
}

#[test]
fn pods_that_do_not_parse_name_the_field() {
    // Upstream's InvalidPodBytes case: the object is a JSON string.
    let err =
        review_err(br#"{"request": {"uid": "u", "object": "\"metadata\":{\"name\":\"fake\""}}"#);
    assert!(
        matches!(err, WebhookError::InvalidPod { ref field, .. } if field == "request.object"),
        "{err}"
    );
    let err = review_err(&with_request(|v| {
        v["request"]["object"]["spec"]["containers"][0]["name"] = json!(5)
    }));
    assert!(
        matches!(err, WebhookError::InvalidPod { ref field, .. } if field == "request.object.spec.containers[0].name"),
        "{err}"
    );
    let err = review_err(&with_request(|v| {
        v["request"]["object"]["spec"]["volumes"] = json!({"a": 1})
    }));
    assert!(
        matches!(err, WebhookError::InvalidPod { ref field, .. } if field == "request.object.spec.volumes"),
        "{err}"
    );
    let err = review_err(&with_request(|v| {
        v["request"]["object"]["kind"] = json!("ConfigMap")
    }));
    assert!(matches!(err, WebhookError::InvalidPod { .. }), "{err}");
}

#[test]
fn error_response_is_upstreams_deny() {
    let body = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#;
    let err = review_err(body);
    let out: Value = serde_json::from_slice(&error_response(body, &err)).unwrap();
    assert_eq!(
        out,
        json!({"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1",
               "response":{"uid":"","allowed":false,"status":{"metadata":{},"message":"bad content"}}})
    );
    let body = with_request(|v| v["request"]["object"] = json!("nope"));
    let err = review_err(&body);
    let out: Value = serde_json::from_slice(&error_response(&body, &err)).unwrap();
    assert_eq!(
        out["response"]["uid"],
        "918ef1dc-928f-4525-99ef-988389f263c3"
    );
    assert_eq!(out["response"]["allowed"], false);
    assert_eq!(out["response"]["status"]["message"], err.to_string());
    // Garbage in, still a well-formed deny out.
    let out: Value = serde_json::from_slice(&error_response(
        b"\xff\x00",
        &WebhookError::InvalidJson { reason: "x".into() },
    ))
    .unwrap();
    assert_eq!(out["response"]["allowed"], false);
}

/// Random damage to a valid body, many times: `review` must return, never panic.
#[test]
fn review_never_panics_on_damaged_input() {
    use rand::RngExt;
    let valid = upstream_request(true);
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed);
    let mut outcomes = [0usize; 2];
    for _ in 0..3000 {
        let mut body = valid.clone();
        for _ in 0..rng.random_range(1..4) {
            let at = rng.random_range(0..body.len().max(1));
            match rng.random_range(0..4) {
                0 => body.truncate(at),
                1 if at < body.len() => body[at] = rng.random(),
                2 => body.insert(
                    at.min(body.len()),
                    b"{}[]\":,0n-\\"[rng.random_range(0..11)],
                ),
                _ if at < body.len() => {
                    body.remove(at);
                }
                _ => {}
            }
        }
        let result = review(
            &WebhookConfig::default(),
            &body,
            upstream_sa,
            |ns: &str, n: &str| (n == "default").then(|| PodIdentityAssociationRef::new(ns, n)),
            &mut rng.clone(),
        );
        outcomes[usize::from(result.is_ok())] += 1;
        if let Err(e) = result {
            let _ = error_response(&body, &e);
        }
    }
    assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
}

/// Structural damage: every field of the request replaced by values of each JSON type.
#[test]
fn review_never_panics_on_wrong_types() {
    let replacements = [
        json!(null),
        json!(true),
        json!(-1),
        json!(1.5),
        json!("x"),
        json!([]),
        json!({}),
        json!([{}]),
        json!({"name": 1}),
    ];
    let valid: Value = serde_json::from_slice(&upstream_request(true)).unwrap();
    let mut paths = Vec::new();
    collect_paths(&valid, String::new(), &mut paths);
    assert!(paths.len() > 20);
    for path in &paths {
        for r in &replacements {
            let mut v = valid.clone();
            *v.pointer_mut(path).unwrap() = r.clone();
            let body = serde_json::to_vec(&v).unwrap();
            if let Err(e) = review(
                &WebhookConfig::default(),
                &body,
                upstream_sa,
                no_assoc,
                &mut Counting::new(1),
            ) {
                let _ = error_response(&body, &e);
            }
        }
    }
}

fn collect_paths(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => m.iter().for_each(|(k, v)| {
            collect_paths(
                v,
                format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                out,
            )
        }),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| collect_paths(v, format!("{at}/{i}"), out)),
        _ => {}
    }
}

// ---- apply ----

#[test]
fn apply_adds_and_leaves_the_input_alone() {
    let p = simple_pod();
    let patch: Patch = serde_json::from_value(json!([
        {"op": "add", "path": "/metadata/labels", "value": {"a": "b"}},
        {"op": "add", "path": "/spec/containers/0/env", "value": [{"name": "X", "value": "1"}]}
    ]))
    .unwrap();
    let out = apply(&p, &patch).unwrap();
    assert_eq!(out.metadata.labels.as_ref().unwrap()["a"], "b");
    assert_eq!(env_of(&out, 0), [("X".to_owned(), "1".to_owned())]);
    assert_eq!(p, simple_pod());
}

#[test]
fn apply_reports_bad_paths_and_failed_tests() {
    let p = simple_pod();
    let bad_index: Patch = serde_json::from_value(
        json!([{"op": "add", "path": "/spec/containers/5", "value": {"name": "x"}}]),
    )
    .unwrap();
    assert!(matches!(
        apply(&p, &bad_index),
        Err(WebhookError::PatchFailed { .. })
    ));
    let missing_parent: Patch =
        serde_json::from_value(json!([{"op": "add", "path": "/spec/nope/x", "value": 1}])).unwrap();
    assert!(matches!(
        apply(&p, &missing_parent),
        Err(WebhookError::PatchFailed { .. })
    ));
    let failed_test: Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/metadata/name", "value": "other"}]))
            .unwrap();
    assert!(matches!(
        apply(&p, &failed_test),
        Err(WebhookError::PatchFailed { .. })
    ));
}

#[test]
fn apply_refuses_a_result_that_is_not_a_pod() {
    let patch: Patch = serde_json::from_value(
        json!([{"op": "replace", "path": "/spec/containers", "value": "oops"}]),
    )
    .unwrap();
    let err = apply(&simple_pod(), &patch).unwrap_err();
    assert!(
        matches!(err, WebhookError::PatchedObjectInvalid { ref field, .. } if field == "spec.containers"),
        "{err}"
    );
    let patch: Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "/kind", "value": "Secret"}]))
            .unwrap();
    assert!(matches!(
        apply(&simple_pod(), &patch),
        Err(WebhookError::PatchedObjectInvalid { .. })
    ));
}

#[test]
fn patch_ops_serialise_as_upstream_op_objects() {
    let m = mutate(
        &WebhookConfig::default(),
        &simple_pod(),
        Some(&irsa_sa()),
        None,
        &mut Counting::new(1),
    )
    .unwrap();
    for op in patch_json(&m).as_array().unwrap() {
        let keys: Vec<&str> = op.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["op", "path", "value"]);
        assert_eq!(op["op"], "add");
    }
}
