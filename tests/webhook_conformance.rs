//! Conformance: the 24 upstream webhook fixtures (`tests/data/webhook/`), each run the way the
//! upstream harness (`pkg/handler/handler_pod_test.go`, `TestUpdatePodSpec`) runs it:
//!
//! 1. decode the YAML into a typed Pod (Go: `sigs.k8s.io/yaml` into `corev1.Pod`; unknown keys such
//!    as the bogus volume-mount `path` are dropped, a missing `mountPath` becomes `""`, a duplicate
//!    key keeps the last value);
//! 2. skip the file if `testing.eks.amazonaws.com/skip` parses as true (none does);
//! 3. force `metadata.namespace` and `spec.serviceAccountName` to `default`;
//! 4. build the ServiceAccount `default/default` from the `testing.../serviceAccount/*` and
//!    `testing.../handler/{injectSTS,expiration}` annotations (the SA key first), with upstream's
//!    hard-coded `eks.amazonaws.com/` prefix;
//! 5. if `testing.../containercredentials/uri` is non-empty, put `default/default` in the Pod
//!    Identity set and take the five `--container-credentials-*` values from the annotations;
//! 6. set the region and IRSA mount path from `testing.../handler/{region,mountPath}`, every other
//!    flag at its default, and use an RNG that always returns 0 (the jitter then gives 79200);
//! 7. compute the patch and compare it with `testing.../expectedPatch`.
//!
//! Upstream compares bytes; we compare parsed JSON (key order is irrelevant, array order is not),
//! after removing two Go-encoder artefacts from both sides: keys whose value is `null` (a gRPC
//! probe's unset `service`) and `"resources": {}` (Go always writes the non-pointer struct).
//! Every case is also checked a second way: both patches applied to the input Pod with
//! [`webhook::apply`] must give the same Pod.
//!
//! Upstream's fake cache differs from the real cache (which `mutate` models) in one way that
//! matters: it does not raise a ServiceAccount `token-expiration` below 600 s. No fixture sets one;
//! the harness asserts that, so a new fixture relying on it fails loudly instead of silently.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};

use credsim::webhook::{self, ContainerCredentialsConfig, PodIdentityAssociationRef, WebhookConfig};
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

const SKIP: &str = "testing.eks.amazonaws.com/skip";
const EXPECTED_PATCH: &str = "testing.eks.amazonaws.com/expectedPatch";
const SA_ROLE_ARN: &str = "testing.eks.amazonaws.com/serviceAccount/roleArn";
const SA_AUDIENCE: &str = "testing.eks.amazonaws.com/serviceAccount/audience";
const SA_STS: &str = "testing.eks.amazonaws.com/serviceAccount/sts-regional-endpoints";
const SA_TOKEN_EXPIRATION: &str = "testing.eks.amazonaws.com/serviceAccount/token-expiration";
const CC_URI: &str = "testing.eks.amazonaws.com/containercredentials/uri";
const CC_AUDIENCE: &str = "testing.eks.amazonaws.com/containercredentials/audience";
const CC_MOUNT_PATH: &str = "testing.eks.amazonaws.com/containercredentials/mountPath";
const CC_VOLUME_NAME: &str = "testing.eks.amazonaws.com/containercredentials/volumeName";
const CC_TOKEN_PATH: &str = "testing.eks.amazonaws.com/containercredentials/tokenPath";
const HANDLER_MOUNT_PATH: &str = "testing.eks.amazonaws.com/handler/mountPath";
const HANDLER_EXPIRATION: &str = "testing.eks.amazonaws.com/handler/expiration";
const HANDLER_REGION: &str = "testing.eks.amazonaws.com/handler/region";
const HANDLER_STS: &str = "testing.eks.amazonaws.com/handler/injectSTS";

/// Upstream's `getAlwaysZeroRand`: every draw is 0, so `Int63n(7201) + 79200` is 79200. With
/// `rand`'s uniform sampling, an all-zero source likewise gives the low end of the range.
struct AlwaysZero;

impl rand::TryRng for AlwaysZero {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(0)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(0)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        dst.fill(0);
        Ok(())
    }
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/webhook")
}

/// Go `strconv.ParseBool`, for the harness's own `skip` annotation.
fn go_parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The ServiceAccount `default/default` the upstream fake cache is built from.
fn service_account(ann: &BTreeMap<String, String>) -> ServiceAccount {
    let mut sa_ann = BTreeMap::new();
    if let Some(v) = ann.get(SA_ROLE_ARN) {
        sa_ann.insert("eks.amazonaws.com/role-arn".to_owned(), v.clone());
    }
    if let Some(v) = ann.get(SA_AUDIENCE) {
        sa_ann.insert("eks.amazonaws.com/audience".to_owned(), v.clone());
    }
    if let Some(v) = ann.get(SA_STS).or_else(|| ann.get(HANDLER_STS)) {
        sa_ann.insert("eks.amazonaws.com/sts-regional-endpoints".to_owned(), v.clone());
    }
    if let Some(v) = ann.get(SA_TOKEN_EXPIRATION).or_else(|| ann.get(HANDLER_EXPIRATION)) {
        // See the module doc: the fake cache would keep a value below 600, the real one raises it.
        assert!(
            !v.parse::<i64>().is_ok_and(|s| s < 600),
            "fixture sets SA token-expiration {v} < 600: fake-cache semantics differ from the real cache"
        );
        sa_ann.insert("eks.amazonaws.com/token-expiration".to_owned(), v.clone());
    }
    ServiceAccount {
        metadata: ObjectMeta {
            name: Some("default".to_owned()),
            namespace: Some("default".to_owned()),
            annotations: Some(sa_ann),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    }
}

/// Drop `null`-valued keys and `"resources": {}`, recursively: both are Go encoder artefacts.
fn normalise(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let go_artefact = |k: &str, v: &Value| v.is_null() || (k == "resources" && v.as_object().is_some_and(|o| o.is_empty()));
            map.retain(|k, v| !go_artefact(k, v));
            map.values_mut().for_each(normalise);
        }
        Value::Array(items) => items.iter_mut().for_each(normalise),
        _ => {}
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("<{e}>"))
}

fn run_case(rel: &str) {
    let path = data_dir().join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut pod: Pod = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{rel}: not a Pod: {e}"));
    let ann = pod.metadata.annotations.clone().unwrap_or_default();
    if ann.get(SKIP).and_then(|s| go_parse_bool(s)) == Some(true) {
        eprintln!("{rel}: marked skip, as upstream skips it");
        return;
    }

    pod.metadata.namespace = Some("default".to_owned());
    pod.spec.as_mut().expect("fixture has a spec").service_account_name = Some("default".to_owned());

    let mut cfg = WebhookConfig::default();
    if let Some(region) = ann.get(HANDLER_REGION) {
        cfg.aws_default_region = region.clone();
    }
    if let Some(mount_path) = ann.get(HANDLER_MOUNT_PATH) {
        cfg.token_mount_path = mount_path.clone();
    }
    let uri = ann.get(CC_URI).cloned().unwrap_or_default();
    let assoc = if uri.is_empty() {
        None
    } else {
        let get = |k: &str| ann.get(k).cloned().unwrap_or_default();
        cfg.container_credentials = ContainerCredentialsConfig {
            audience: get(CC_AUDIENCE),
            token_mount_path: get(CC_MOUNT_PATH),
            token_volume_name: get(CC_VOLUME_NAME),
            token_path: get(CC_TOKEN_PATH),
            full_uri: uri,
        };
        Some(PodIdentityAssociationRef::new("default", "default"))
    };
    let sa = service_account(&ann);

    let mutation = webhook::mutate(&cfg, &pod, Some(&sa), assoc.as_ref(), &mut AlwaysZero)
        .unwrap_or_else(|e| panic!("{rel}: mutate failed: {e}"));
    let Some(expected) = ann.get(EXPECTED_PATCH) else {
        assert!(mutation.patch.is_none(), "{rel}: no expectedPatch but got a patch");
        return;
    };
    let patch = mutation.patch.unwrap_or_else(|| panic!("{rel}: expected a patch, got none ({})", mutation.outcome));

    // Strict: same ops, same order, same values.
    let mut got = serde_json::to_value(&patch).expect("patch serialises");
    let mut want: Value = serde_json::from_str(expected).unwrap_or_else(|e| panic!("{rel}: expectedPatch is not JSON: {e}"));
    normalise(&mut got);
    normalise(&mut want);
    let ops = |v: &Value| -> Vec<(String, String)> {
        v.as_array()
            .map(|a| a.iter().map(|op| (op["op"].as_str().unwrap_or("").to_owned(), op["path"].as_str().unwrap_or("").to_owned())).collect())
            .unwrap_or_default()
    };
    assert_eq!(ops(&got), ops(&want), "{rel}: op list differs\n got: {}\nwant: {}", pretty(&got), pretty(&want));
    assert!(got == want, "{rel}: patch differs\n got: {}\nwant: {}", pretty(&got), pretty(&want));

    // Apply-and-compare: both patches give the same Pod.
    let want_patch: json_patch::Patch = serde_json::from_str(expected).expect("expectedPatch is a JSON Patch");
    let mut applied_got = serde_json::to_value(webhook::apply(&pod, &patch).unwrap_or_else(|e| panic!("{rel}: {e}"))).expect("pod serialises");
    let mut applied_want = serde_json::to_value(webhook::apply(&pod, &want_patch).unwrap_or_else(|e| panic!("{rel}: {e}"))).expect("pod serialises");
    normalise(&mut applied_got);
    normalise(&mut applied_want);
    assert!(applied_got == applied_want, "{rel}: patched pods differ\n got: {}\nwant: {}", pretty(&applied_got), pretty(&applied_want));
}

macro_rules! cases {
    ($($name:ident => $file:literal,)*) => {
        $(
            #[test]
            fn $name() {
                run_case($file);
            }
        )*

        /// Every fixture file has a test above, and every test has a file.
        #[test]
        fn every_fixture_has_a_test() {
            let listed: std::collections::BTreeSet<&str> = [$($file),*].into_iter().collect();
            let mut found = std::collections::BTreeSet::new();
            let mut dirs = vec![data_dir()];
            while let Some(dir) = dirs.pop() {
                for entry in std::fs::read_dir(&dir).expect("data dir readable") {
                    let p = entry.expect("dir entry").path();
                    if p.is_dir() {
                        dirs.push(p);
                    } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                        let rel = p.strip_prefix(data_dir()).expect("under data dir").to_string_lossy().replace('\\', "/");
                        found.insert(rel);
                    }
                }
            }
            let found: std::collections::BTreeSet<&str> = found.iter().map(String::as_str).collect();
            assert_eq!(listed, found);
            assert_eq!(found.len(), 24);
        }
    };
}

cases! {
    // IRSA (web identity), top level.
    irsa_beta_windows_pod_without_volumes => "betaWindowsPodWithoutVolumes.pod.yaml",
    irsa_init_pod_needs_region => "initPodNeedsRegion.pod.yaml",
    irsa_raw_pod_has_all => "rawPodHasAll.pod.yaml",
    irsa_raw_pod_has_sts => "rawPodHasSTS.pod.yaml",
    irsa_raw_pod_has_token_expiration => "rawPodHasTokenExpiration.pod.yaml",
    irsa_raw_pod_has_volume_mount => "rawPodHasVolumeMount.pod.yaml",
    irsa_raw_pod_min_token_expiration => "rawPodMinTokenExpiration.pod.yaml",
    irsa_raw_pod_needs_region => "rawPodNeedsRegion.pod.yaml",
    irsa_raw_pod_needs_sts => "rawPodNeedsSTS.pod.yaml",
    irsa_raw_pod_no_sts_annotation_override => "rawPodNoSTSAnnotationOverride.pod.yaml",
    irsa_raw_pod_region_present => "rawPodRegionPresent.pod.yaml",
    irsa_raw_pod_skip => "rawPodSkip.pod.yaml",
    irsa_raw_pod_with_grpc => "rawPodWithGRPC.pod.yaml",
    irsa_raw_pod_with_init_container => "rawPodWithInitContainer.pod.yaml",
    irsa_raw_pod_with_volumes => "rawPodWithVolumes.pod.yaml",
    irsa_raw_pod_without_volumes => "rawPodWithoutVolumes.pod.yaml",
    irsa_raw_pod_with_sec_comp_profile => "rawPodWithsecCompProfile.pod.yaml",
    irsa_windows_pod_without_volumes => "windowsPodWithoutVolumes.pod.yaml",
    // EKS Pod Identity (container credentials).
    pod_identity_raw_pod_needs_all => "containercredentials/rawPodNeedsAll.pod.yaml",
    pod_identity_raw_pod_skip => "containercredentials/rawPodSkip.pod.yaml",
    pod_identity_raw_pod_with_conflicting_volume_mount => "containercredentials/rawPodWithConflictingVolumeMount.pod.yaml",
    pod_identity_raw_pod_with_role_arn => "containercredentials/rawPodWithRoleArn.pod.yaml",
    pod_identity_raw_pod_with_volume => "containercredentials/rawPodWithVolume.pod.yaml",
    pod_identity_raw_pod_without_volumes => "containercredentials/rawPodWithoutVolumes.pod.yaml",
}
