//! The Amazon EKS Pod Identity Webhook: the mutating admission webhook that gives pods AWS
//! credentials (`github.com/aws/amazon-eks-pod-identity-webhook`, modelled at `3bf80a3`, after PR #310).
//!
//! The API server sends it every Pod CREATE as an `admission.k8s.io/v1` AdmissionReview over HTTPS
//! (`POST /mutate`). It answers `allowed: true`, with a base64 JSON Patch when the Pod's
//! ServiceAccount is set up for one of two credential modes:
//!
//! * **IRSA** (web identity): the SA has a `<prefix>/role-arn` annotation. The Pod gets a projected
//!   `aws-iam-token` volume (audience `sts.amazonaws.com`) and, per container, `AWS_ROLE_ARN` and
//!   `AWS_WEB_IDENTITY_TOKEN_FILE`; the SDK then calls STS `AssumeRoleWithWebIdentity`.
//! * **EKS Pod Identity** (container credentials): `(namespace, SA)` is in the association set.
//!   The Pod gets the `eks-pod-identity-token` volume (audience `pods.eks.amazonaws.com`), the
//!   `eks.amazonaws.com/pod-identity: enabled` label and `AWS_CONTAINER_CREDENTIALS_FULL_URI` /
//!   `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`; the SDK then asks the Pod Identity agent. This mode
//!   wins over IRSA when both apply.
//!
//! Both may add `AWS_STS_REGIONAL_ENDPOINTS=regional` and `AWS_DEFAULT_REGION`/`AWS_REGION`.
//!
//! The facts (annotations, flags, defaults, env order, the early-exit rule, patch shape, the
//! envelope and its errors) come from `shared/reference/webhook.md` and were checked against the
//! upstream source; the 24 upstream fixtures in `tests/data/webhook/` pin them down.
//!
//! The major components are:
//! * [`config`]: [`WebhookConfig`], the flags that change a patch, with upstream defaults;
//! * [`service_account`]: what the upstream ServiceAccount cache stores per SA;
//! * [`pod_identity`]: [`PodIdentityAssociationRef`] and the association file format;
//! * `patch` (private): the JSON Patch builder shared by both modes;
//! * [`admission`]: the AdmissionReview v1 wire format and [`review`].
//!
//! Everything here is pure: no I/O, no clock, no threads. The one random choice (the Pod Identity
//! token-lifetime jitter) is drawn from the RNG the caller passes. What happens *before* the
//! mutation (informer lag, the `--service-account-lookup-grace-period` wait, association-file
//! propagation; reference §6) is the caller's model: it decides which ServiceAccount and which
//! association the webhook "sees" and passes them in.

pub mod admission;
pub mod config;
mod goparse;
mod patch;
pub mod pod_identity;
pub mod server;
pub mod service_account;

use std::fmt;

use json_patch::Patch;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use rand::RngExt;

pub use admission::{error_response, review, review_with_outcome, Reviewed};
pub use config::{ComposeRoleArn, ContainerCredentialsConfig, IpFamily, WebhookConfig};
pub use pod_identity::{parse_association_file, PodIdentityAssociationRef};
pub use service_account::ServiceAccountEntry;

use config::{annotation, TOKEN_EXPIRATION_DEFAULT_S, TOKEN_EXPIRATION_JITTER_MIN_S, TOKEN_EXPIRATION_MIN_S};
use patch::{Credentials, PodPatchConfig};

/// Everything that can go wrong. Malformed input is reported here, never by a panic.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum WebhookError {
    /// The request body is not JSON at all.
    #[error("admission review is not valid JSON: {reason}")]
    InvalidJson {
        /// The parser's message, with line and column.
        reason: String,
    },
    /// A field the webhook needs is absent or `null`.
    #[error("admission review is missing `{field}`")]
    MissingField {
        /// Dotted path of the field, e.g. `request.uid`.
        field: &'static str,
    },
    /// A field is present but has the wrong type or an unusable value.
    #[error("admission review field `{field}` is invalid: {reason}")]
    InvalidField {
        /// Dotted path of the field, e.g. `request.userInfo.groups[0]`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `request.object` does not decode as a Pod.
    #[error("`request.object` is not a Pod: at `{field}`: {reason}")]
    InvalidPod {
        /// Path of the offending field, e.g. `request.object.spec.containers[0].name`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The ServiceAccount or association passed to [`mutate`] is not the Pod's.
    #[error("{what} `{given}` does not belong to the pod's service account `{expected}`")]
    InputMismatch {
        /// `service account` or `pod identity association`.
        what: &'static str,
        /// `namespace/name` that was passed.
        given: String,
        /// `namespace/name` of the Pod's ServiceAccount.
        expected: String,
    },
    /// A JSON Patch could not be applied.
    #[error("JSON patch does not apply: {reason}")]
    PatchFailed {
        /// The json-patch error (operation index, path, kind).
        reason: String,
    },
    /// Applying a JSON Patch produced something that is no longer a Pod.
    #[error("patched object is not a Pod: at `{field}`: {reason}")]
    PatchedObjectInvalid {
        /// Path of the offending field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The Pod Identity association file is not valid JSON.
    #[error("pod identity association file is invalid: {reason}")]
    InvalidAssociationFile {
        /// The parser's message.
        reason: String,
    },
    /// Serialising a value failed (not expected with k8s-openapi types).
    #[error("could not encode: {reason}")]
    Encode {
        /// The serialiser's message.
        reason: String,
    },
}

/// The result of [`mutate`]: the patch upstream would send, and what it decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Mutation {
    /// The JSON Patch for the AdmissionResponse. `None` means upstream sends **no** patch
    /// (`allowed: true` only). When `Some`, it is sent even if it changes nothing: upstream always
    /// replaces the containers array, so a re-admitted, already-mutated Pod gets an identical copy.
    pub patch: Option<Patch>,
    /// Which mode applied, with the values it injected, or why nothing was.
    pub outcome: Outcome,
    /// What upstream would log as a warning on the way (invalid ARN, unparseable annotation values).
    pub warnings: Vec<String>,
}

/// The credential mode chosen for a Pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// IRSA: `AssumeRoleWithWebIdentity` with a projected token (upstream metric label `sts_web_identity`).
    WebIdentity,
    /// EKS Pod Identity: the container credentials provider (upstream label `container_credentials`).
    ContainerCredentials,
    /// Nothing injected.
    None,
}

/// What [`mutate`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// IRSA was injected.
    WebIdentity {
        /// `AWS_ROLE_ARN` value.
        role_arn: String,
        /// The projected token and its mount.
        token: TokenProjection,
        /// What happened to each container.
        containers: ContainerReport,
    },
    /// EKS Pod Identity was injected.
    ContainerCredentials {
        /// `AWS_CONTAINER_CREDENTIALS_FULL_URI` value.
        full_uri: String,
        /// The projected token and its mount.
        token: TokenProjection,
        /// What happened to each container.
        containers: ContainerReport,
    },
    /// No patch: `allowed: true` and nothing else.
    NotMutated(NotMutatedReason),
}

/// Why a Pod got no patch. Upstream logs both as "Service account did not have the right
/// annotations or was not found in the cache".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotMutatedReason {
    /// The ServiceAccount is not in the webhook's cache (not created yet, or not yet seen by the
    /// informer: the race of issues #174 and #264), and there is no Pod Identity association.
    ServiceAccountNotFound,
    /// The ServiceAccount is cached but has no (or an empty) `role-arn`, and no association.
    NoRoleArn,
}

/// The projected ServiceAccount token the patch asks the kubelet for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenProjection {
    /// Pod volume name (`aws-iam-token` or `eks-pod-identity-token` by default).
    pub volume_name: String,
    /// Token audience; empty means the API server's default.
    pub audience: String,
    /// `expirationSeconds`, after overrides, the 600 s floor and (Pod Identity) jitter.
    pub expiration_s: i64,
    /// Where the volume is mounted in each mutated container.
    pub mount_path: String,
    /// Value of the token-file env var (Windows form for Windows pods).
    pub token_file: String,
    /// Whether `AWS_STS_REGIONAL_ENDPOINTS=regional` is injected.
    pub regional_sts: bool,
    /// Whether the volume op is in the patch (false: a volume of that name already existed).
    pub volume_added: bool,
}

/// What happened to the Pod's containers (init containers first, then regular ones).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerReport {
    /// Upstream's `changed` flag: the patch changes something (it is sent either way).
    pub changed: bool,
    /// Containers that got env or a volume mount.
    pub mutated: Vec<String>,
    /// Containers named in `<prefix>/skip-containers`.
    pub skipped: Vec<String>,
    /// Containers left as they were because they already had what the webhook would add.
    pub already_configured: Vec<String>,
}

impl Mutation {
    /// The credential mode chosen.
    pub fn mode(&self) -> Mode {
        match self.outcome {
            Outcome::WebIdentity { .. } => Mode::WebIdentity,
            Outcome::ContainerCredentials { .. } => Mode::ContainerCredentials,
            Outcome::NotMutated(_) => Mode::None,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let containers = |f: &mut fmt::Formatter<'_>, c: &ContainerReport| {
            write!(f, "; mutated {:?}", c.mutated)?;
            if !c.skipped.is_empty() {
                write!(f, ", skipped {:?}", c.skipped)?;
            }
            if !c.already_configured.is_empty() {
                write!(f, ", already configured {:?}", c.already_configured)?;
            }
            Ok::<(), fmt::Error>(())
        };
        let token = |f: &mut fmt::Formatter<'_>, t: &TokenProjection| {
            write!(f, "; token {} aud {:?} exp {}s at {}", t.volume_name, t.audience, t.expiration_s, t.mount_path)?;
            if t.regional_sts {
                write!(f, "; regional STS")?;
            }
            Ok::<(), fmt::Error>(())
        };
        match self {
            Outcome::WebIdentity { role_arn, token: t, containers: c } => {
                write!(f, "IRSA role {role_arn}")?;
                token(f, t)?;
                containers(f, c)
            }
            Outcome::ContainerCredentials { full_uri, token: t, containers: c } => {
                write!(f, "Pod Identity via {full_uri}")?;
                token(f, t)?;
                containers(f, c)
            }
            Outcome::NotMutated(NotMutatedReason::ServiceAccountNotFound) => {
                write!(f, "not mutated: service account not in cache and no pod identity association")
            }
            Outcome::NotMutated(NotMutatedReason::NoRoleArn) => {
                write!(f, "not mutated: service account has no role-arn and no pod identity association")
            }
        }
    }
}

/// Decide and build the patch for one Pod, as upstream's `buildPodPatchConfig` + `getPodSpecPatch`.
///
/// * `pod`: the Pod being created. Its `spec.serviceAccountName` is already defaulted by the API
///   server's ServiceAccount admission plugin; the webhook does not default it.
/// * `sa`: the Pod's ServiceAccount if the webhook's cache has it, else `None`. Only its
///   `<prefix>/...` annotations are read.
/// * `assoc`: the Pod Identity association for `(namespace, serviceAccountName)` if the webhook's
///   association set has one. It takes precedence over IRSA.
/// * `rng`: source of the Pod Identity jitter; drawn from only when a Pod Identity token's
///   lifetime resolves to exactly 86400 s.
///
/// `sa` and `assoc` must be the Pod's own (same SA name, and same namespace when the Pod's
/// `metadata.namespace` is set); otherwise this returns [`WebhookError::InputMismatch`].
pub fn mutate<R: rand::Rng + ?Sized>(
    cfg: &WebhookConfig,
    pod: &Pod,
    sa: Option<&ServiceAccount>,
    assoc: Option<&PodIdentityAssociationRef>,
    rng: &mut R,
) -> Result<Mutation, WebhookError> {
    let sa_name = pod.spec.as_ref().and_then(|s| s.service_account_name.as_deref()).unwrap_or("");
    let pod_namespace = pod.metadata.namespace.as_deref().filter(|ns| !ns.is_empty());
    check_belongs(pod_namespace, sa_name, sa, assoc)?;

    let entry = sa.map(|sa| ServiceAccountEntry::from_service_account(cfg, sa));
    let mut warnings = entry.as_ref().map(|e| e.warnings.clone()).unwrap_or_default();

    let pc = if let Some(_assoc) = assoc {
        // Pod Identity: audience, paths and URI from the flags. Regional STS and the lifetime come
        // from the SA entry when cached ("common configurations"), else false / 86400: note that a
        // miss does not fall back to `--sts-regional-endpoint`.
        let cc = &cfg.container_credentials;
        let (use_regional_sts, sa_expiration_s) = match &entry {
            Some(e) => (e.use_regional_sts, e.token_expiration_s),
            None => (false, TOKEN_EXPIRATION_DEFAULT_S),
        };
        let (mut token_expiration_s, containers_to_skip) = pod_annotations(cfg, pod, sa_expiration_s, &mut warnings);
        if token_expiration_s == TOKEN_EXPIRATION_DEFAULT_S {
            token_expiration_s = rng.random_range(TOKEN_EXPIRATION_JITTER_MIN_S..=TOKEN_EXPIRATION_DEFAULT_S);
        }
        PodPatchConfig {
            containers_to_skip,
            token_expiration_s,
            use_regional_sts,
            audience: cc.audience.clone(),
            mount_path: cc.token_mount_path.clone(),
            volume_name: cc.token_volume_name.clone(),
            token_path: cc.token_path.clone(),
            region: cfg.aws_default_region.clone(),
            credentials: Credentials::ContainerCredentials { full_uri: cc.full_uri.clone() },
        }
    } else {
        let entry = match entry {
            None => return Ok(not_mutated(NotMutatedReason::ServiceAccountNotFound, warnings)),
            Some(e) if e.role_arn.is_empty() => return Ok(not_mutated(NotMutatedReason::NoRoleArn, warnings)),
            Some(e) => e,
        };
        let (token_expiration_s, containers_to_skip) = pod_annotations(cfg, pod, entry.token_expiration_s, &mut warnings);
        PodPatchConfig {
            containers_to_skip,
            token_expiration_s,
            use_regional_sts: entry.use_regional_sts,
            audience: entry.audience,
            mount_path: cfg.token_mount_path.clone(),
            volume_name: config::IRSA_VOLUME_NAME.to_owned(),
            token_path: config::IRSA_TOKEN_PATH.to_owned(),
            region: cfg.aws_default_region.clone(),
            credentials: Credentials::WebIdentity { role_arn: entry.role_arn },
        }
    };

    // Invariant: every path above floors the lifetime at 600 s (flag, SA, Pod) or jitters it to
    // at least 79200 s, so the API server's own minimum can never reject the projection.
    debug_assert!(pc.token_expiration_s >= TOKEN_EXPIRATION_MIN_S, "token lifetime {} below floor", pc.token_expiration_s);
    let built = patch::pod_spec_patch(pod, &pc)?;
    let containers = built.containers;
    let token = TokenProjection {
        volume_name: pc.volume_name,
        audience: pc.audience,
        expiration_s: pc.token_expiration_s,
        mount_path: pc.mount_path,
        token_file: built.token_file,
        regional_sts: pc.use_regional_sts,
        volume_added: built.volume_added,
    };
    let outcome = match pc.credentials {
        Credentials::WebIdentity { role_arn } => Outcome::WebIdentity { role_arn, token, containers },
        Credentials::ContainerCredentials { full_uri } => Outcome::ContainerCredentials { full_uri, token, containers },
    };
    Ok(Mutation { patch: Some(built.patch), outcome, warnings })
}

/// Apply a JSON Patch (RFC 6902) to a Pod, as the API server does with a webhook's patch.
/// All-or-nothing: on error the input is untouched and nothing is returned.
pub fn apply(pod: &Pod, patch: &Patch) -> Result<Pod, WebhookError> {
    let mut doc = serde_json::to_value(pod).map_err(|e| WebhookError::Encode { reason: e.to_string() })?;
    json_patch::patch(&mut doc, patch).map_err(|e| WebhookError::PatchFailed { reason: e.to_string() })?;
    serde_path_to_error::deserialize(doc).map_err(|e| WebhookError::PatchedObjectInvalid {
        field: e.path().to_string(),
        reason: e.into_inner().to_string(),
    })
}

fn not_mutated(reason: NotMutatedReason, warnings: Vec<String>) -> Mutation {
    Mutation { patch: None, outcome: Outcome::NotMutated(reason), warnings }
}

/// Upstream `parsePodAnnotations`: the Pod's `token-expiration` overrides the SA/flag value (raised
/// to 600 s; ignored if not an integer), and `skip-containers` names containers to leave alone
/// (one Go CSV record; a parse error skips nothing).
fn pod_annotations(
    cfg: &WebhookConfig,
    pod: &Pod,
    sa_expiration_s: i64,
    warnings: &mut Vec<String>,
) -> (i64, std::collections::BTreeSet<String>) {
    let annotations = pod.metadata.annotations.as_ref();
    let get = |name: &str| annotations.and_then(|a| a.get(&cfg.annotation_key(name)));
    let pod_name = pod.metadata.name.as_deref().or(pod.metadata.generate_name.as_deref()).unwrap_or("");

    let mut expiration_s = sa_expiration_s;
    if let Some(value) = get(annotation::TOKEN_EXPIRATION) {
        match goparse::parse_int(value) {
            Some(seconds) => expiration_s = seconds.max(TOKEN_EXPIRATION_MIN_S),
            None => warnings.push(format!(
                "pod {pod_name}: invalid {} value {value:?}, using {sa_expiration_s} seconds",
                annotation::TOKEN_EXPIRATION
            )),
        }
    }

    let mut skip = std::collections::BTreeSet::new();
    if let Some(value) = get(annotation::SKIP_CONTAINERS) {
        match goparse::csv_first_record(value) {
            Ok(names) => skip.extend(names),
            Err(e) => warnings.push(format!(
                "pod {pod_name}: could not parse {} annotation ({e:?}); skipping no container",
                annotation::SKIP_CONTAINERS
            )),
        }
    }
    (expiration_s, skip)
}

fn check_belongs(
    pod_namespace: Option<&str>,
    sa_name: &str,
    sa: Option<&ServiceAccount>,
    assoc: Option<&PodIdentityAssociationRef>,
) -> Result<(), WebhookError> {
    let expected = || format!("{}/{}", pod_namespace.unwrap_or("?"), sa_name);
    if let Some(sa) = sa {
        let name = sa.metadata.name.as_deref().unwrap_or("");
        let namespace = sa.metadata.namespace.as_deref().unwrap_or("");
        let namespace_ok = pod_namespace.is_none_or(|ns| namespace.is_empty() || ns == namespace);
        if name != sa_name || !namespace_ok {
            return Err(WebhookError::InputMismatch {
                what: "service account",
                given: format!("{namespace}/{name}"),
                expected: expected(),
            });
        }
    }
    if let Some(assoc) = assoc {
        let namespace_ok = pod_namespace.is_none_or(|ns| ns == assoc.namespace);
        if assoc.service_account != sa_name || !namespace_ok {
            return Err(WebhookError::InputMismatch {
                what: "pod identity association",
                given: format!("{}/{}", assoc.namespace, assoc.service_account),
                expected: expected(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
