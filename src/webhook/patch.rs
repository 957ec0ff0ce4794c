//! Building the JSON Patch: upstream `getPodSpecPatch` and `addEnvToContainer`
//! (`pkg/handler/handler.go`), shared by both modes.
//!
//! The patch shape is upstream's, op for op (reference §4.2); every op is `add`:
//! 1. Pod Identity only: the `eks.amazonaws.com/pod-identity: enabled` label
//!    (`/metadata/labels` when the Pod has no labels map, else `/metadata/labels/eks.amazonaws.com~1pod-identity`);
//! 2. the projected token volume, unless a volume of that name exists (`/spec/volumes` when the
//!    Pod has no volumes list, else `/spec/volumes/0`, which prepends);
//! 3. always `/spec/containers` with the whole re-serialised containers array;
//! 4. `/spec/initContainers` likewise, when the Pod has any.
//!
//! Containers are decoded into typed `k8s-openapi` structs and re-encoded whole, as upstream does
//! with `k8s.io/api` structs: a field unknown to the library is dropped (issues #84, #165, #208).

use std::collections::BTreeSet;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation};
use k8s_openapi::api::core::v1::{
    Container, EnvVar, Pod, ProjectedVolumeSource, ServiceAccountTokenProjection, Volume, VolumeMount,
    VolumeProjection,
};
use serde::Serialize;

use super::config::{POD_IDENTITY_LABEL, POD_IDENTITY_LABEL_VALUE};
use super::{goparse, ContainerReport, WebhookError};

pub(crate) const ENV_ROLE_ARN: &str = "AWS_ROLE_ARN";
pub(crate) const ENV_WEB_IDENTITY_TOKEN_FILE: &str = "AWS_WEB_IDENTITY_TOKEN_FILE";
pub(crate) const ENV_CONTAINER_CREDENTIALS_FULL_URI: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
pub(crate) const ENV_CONTAINER_AUTHORIZATION_TOKEN_FILE: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";
pub(crate) const ENV_REGION: &str = "AWS_REGION";
pub(crate) const ENV_DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";
pub(crate) const ENV_STS_REGIONAL_ENDPOINTS: &str = "AWS_STS_REGIONAL_ENDPOINTS";
/// The only value upstream ever injects for [`ENV_STS_REGIONAL_ENDPOINTS`].
pub(crate) const STS_REGIONAL: &str = "regional";

/// Which credentials the pod gets; decides the env names and the label op.
#[derive(Debug, Clone)]
pub(crate) enum Credentials {
    /// IRSA: `AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE`.
    WebIdentity { role_arn: String },
    /// Pod Identity: `AWS_CONTAINER_CREDENTIALS_FULL_URI` + `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`.
    ContainerCredentials { full_uri: String },
}

/// Everything the patch depends on, resolved from flags, the SA entry and Pod annotations
/// (upstream `podPatchConfig`).
#[derive(Debug, Clone)]
pub(crate) struct PodPatchConfig {
    pub containers_to_skip: BTreeSet<String>,
    pub token_expiration_s: i64,
    pub use_regional_sts: bool,
    pub audience: String,
    pub mount_path: String,
    pub volume_name: String,
    pub token_path: String,
    /// `--aws-default-region`; empty means none.
    pub region: String,
    pub credentials: Credentials,
}

/// The token file path the env points at: `filepath.Join(mountPath, tokenPath)`, in Windows form
/// (`C:` + backslashes) when the Pod's node selector asks for Windows. Only
/// `spec.nodeSelector["kubernetes.io/os"]` or `["beta.kubernetes.io/os"]` equal to `windows`
/// count; node affinity does not (upstream README).
fn token_file_path(pod: &Pod, pc: &PodPatchConfig) -> String {
    let path = goparse::filepath_join(&[&pc.mount_path, &pc.token_path]);
    let node_selector = pod.spec.as_ref().and_then(|s| s.node_selector.as_ref());
    let os = |key: &str| node_selector.and_then(|n| n.get(key)).map(String::as_str);
    if os("beta.kubernetes.io/os") == Some("windows") || os("kubernetes.io/os") == Some("windows") {
        format!("C:{}", path.replace('/', "\\"))
    } else {
        path
    }
}

/// The patch for one Pod and what it does.
pub(crate) struct PodSpecPatch {
    pub patch: Patch,
    pub containers: ContainerReport,
    /// Whether the volume op is in the patch.
    pub volume_added: bool,
    /// The token-file env value (see [`token_file_path`]).
    pub token_file: String,
}

/// The patch for `pod` (upstream `getPodSpecPatch`).
pub(crate) fn pod_spec_patch(pod: &Pod, pc: &PodPatchConfig) -> Result<PodSpecPatch, WebhookError> {
    let token_file = token_file_path(pod, pc);
    let mut report = ContainerReport::default();
    let spec = pod.spec.as_ref();

    let mut init_containers = Vec::new();
    for container in spec.and_then(|s| s.init_containers.as_deref()).unwrap_or_default() {
        init_containers.push(mutate_container(container, &token_file, pc, &mut report));
    }
    let mut containers = Vec::new();
    for container in spec.map(|s| s.containers.as_slice()).unwrap_or_default() {
        containers.push(mutate_container(container, &token_file, pc, &mut report));
    }

    let mut ops = Vec::new();

    if matches!(pc.credentials, Credentials::ContainerCredentials { .. }) {
        if pod.metadata.labels.is_none() {
            let labels = serde_json::json!({ POD_IDENTITY_LABEL: POD_IDENTITY_LABEL_VALUE });
            ops.push(add(&["metadata", "labels"], labels));
        } else {
            ops.push(add(&["metadata", "labels", POD_IDENTITY_LABEL], POD_IDENTITY_LABEL_VALUE.into()));
        }
        report.changed = true;
    }

    let volumes = spec.and_then(|s| s.volumes.as_ref());
    let volume_exists = volumes.is_some_and(|v| v.iter().any(|v| v.name == pc.volume_name));
    if !volume_exists {
        let volume = token_volume(pc);
        match volumes {
            None => ops.push(add(&["spec", "volumes"], to_value(&[volume])?)),
            Some(_) => ops.push(add(&["spec", "volumes", "0"], to_value(&volume)?)),
        }
        report.changed = true;
    }

    ops.push(add(&["spec", "containers"], to_value(&containers)?));
    if !init_containers.is_empty() {
        ops.push(add(&["spec", "initContainers"], to_value(&init_containers)?));
    }
    Ok(PodSpecPatch { patch: Patch(ops), containers: report, volume_added: !volume_exists, token_file })
}

/// The projected volume: one `serviceAccountToken` source, no `defaultMode` (the API server
/// defaults it to 0644). An empty audience is omitted, as Go's `omitempty` does, which makes the
/// API server use its own default audience.
fn token_volume(pc: &PodPatchConfig) -> Volume {
    Volume {
        name: pc.volume_name.clone(),
        projected: Some(ProjectedVolumeSource {
            default_mode: None,
            sources: Some(vec![VolumeProjection {
                service_account_token: Some(ServiceAccountTokenProjection {
                    audience: (!pc.audience.is_empty()).then(|| pc.audience.clone()),
                    expiration_seconds: Some(pc.token_expiration_s),
                    path: pc.token_path.clone(),
                }),
                ..VolumeProjection::default()
            }]),
        }),
        ..Volume::default()
    }
}

/// One container, as `addEnvToContainer` leaves it. Skipped containers come back unchanged.
fn mutate_container(original: &Container, token_file: &str, pc: &PodPatchConfig, report: &mut ContainerReport) -> Container {
    let mut container = original.clone();
    // Planted bug: with any `skip-containers` annotation, every container is treated as skipped (no
    // env, no token mount). Upstream skips exactly the containers the annotation names.
    let skip_all = !pc.containers_to_skip.is_empty() && crate::runtime::bug(crate::bugs::Bug::WebhookSkipDropsMount);
    if skip_all || pc.containers_to_skip.contains(&container.name) {
        report.skipped.push(container.name.clone());
        return container;
    }

    // Which names are already set; values are not read, `valueFrom` counts the same.
    let env = container.env.get_or_insert_with(Vec::new);
    let has = |names: &[&str]| env.iter().any(|e| names.contains(&e.name.as_str()));
    let web_identity_defined = has(&[ENV_ROLE_ARN, ENV_WEB_IDENTITY_TOKEN_FILE]);
    let container_credentials_defined = has(&[ENV_CONTAINER_CREDENTIALS_FULL_URI, ENV_CONTAINER_AUTHORIZATION_TOKEN_FILE]);
    let region_defined = has(&[ENV_REGION, ENV_DEFAULT_REGION]);
    let sts_defined = has(&[ENV_STS_REGIONAL_ENDPOINTS]);

    // Early exit: the mode's keys, a region key and the STS key are all present. Upstream then
    // leaves the container completely alone, volume mount included, even when it is configured to
    // inject neither region nor STS (fixture `rawPodHasAll`).
    let mode_defined = match pc.credentials {
        Credentials::WebIdentity { .. } => web_identity_defined,
        Credentials::ContainerCredentials { .. } => container_credentials_defined,
    };
    if mode_defined && region_defined && sts_defined {
        report.already_configured.push(original.name.clone());
        return original.clone();
    }

    let mut changed = false;
    if !sts_defined && pc.use_regional_sts {
        env.push(env_var(ENV_STS_REGIONAL_ENDPOINTS, STS_REGIONAL));
        changed = true;
    }
    if !region_defined && !pc.region.is_empty() {
        env.push(env_var(ENV_DEFAULT_REGION, &pc.region));
        env.push(env_var(ENV_REGION, &pc.region));
        changed = true;
    }
    match &pc.credentials {
        Credentials::ContainerCredentials { full_uri } => {
            if !container_credentials_defined {
                env.push(env_var(ENV_CONTAINER_CREDENTIALS_FULL_URI, full_uri));
                env.push(env_var(ENV_CONTAINER_AUTHORIZATION_TOKEN_FILE, token_file));
                changed = true;
            }
        }
        Credentials::WebIdentity { role_arn } => {
            if !web_identity_defined {
                env.push(env_var(ENV_ROLE_ARN, role_arn));
                env.push(env_var(ENV_WEB_IDENTITY_TOKEN_FILE, token_file));
                changed = true;
            }
        }
    }
    // Go's `env` is a nil slice when absent and `omitempty` drops it; keep "absent" absent.
    if env.is_empty() && original.env.is_none() {
        container.env = None;
    }

    // A mount with the volume's *name* blocks ours, whatever its path.
    let mounts = container.volume_mounts.get_or_insert_with(Vec::new);
    if !mounts.iter().any(|m| m.name == pc.volume_name) {
        mounts.push(VolumeMount {
            name: pc.volume_name.clone(),
            read_only: Some(true),
            mount_path: pc.mount_path.clone(),
            ..VolumeMount::default()
        });
        changed = true;
    }

    if changed {
        report.changed = true;
        report.mutated.push(container.name.clone());
    } else {
        report.already_configured.push(container.name.clone());
    }
    container
}

fn env_var(name: &str, value: &str) -> EnvVar {
    EnvVar { name: name.to_owned(), value: Some(value.to_owned()), value_from: None }
}

fn add(tokens: &[&str], value: serde_json::Value) -> PatchOperation {
    PatchOperation::Add(AddOperation { path: PointerBuf::from_tokens(tokens.iter().copied()), value })
}

fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<serde_json::Value, WebhookError> {
    serde_json::to_value(value).map_err(|e| WebhookError::Encode { reason: e.to_string() })
}
