//! The webhook's configuration: every upstream command-line flag that changes what a Pod looks like
//! after admission, with the upstream default, plus the constants the upstream code hard-codes.
//!
//! Sources: `main.go` (flag definitions), `pkg/constants.go`, `pkg/annotations.go` and
//! `pkg/handler/handler.go` (`NewModifier`) of `aws/amazon-eks-pod-identity-webhook` at
//! `3bf80a3`; summarised in `shared/reference/webhook.md` §1.2. Flags that only affect plumbing
//! (ports, TLS, kubeconfig, informer resync) are left out: they never change a patch.
//! `--service-account-lookup-grace-period` is also left out: the wait it controls happens before
//! the pure mutation runs, so it belongs to whoever models the ServiceAccount cache (see `mod.rs`).

/// Annotation names read under `<annotation_prefix>/` (`pkg/annotations.go`).
pub mod annotation {
    /// ServiceAccount: the IAM role ARN for IRSA. Missing or empty means "no IRSA".
    pub const ROLE_ARN: &str = "role-arn";
    /// ServiceAccount: audience of the projected IRSA token (not read on Pods, ignored by Pod Identity).
    pub const AUDIENCE: &str = "audience";
    /// ServiceAccount: Go `strconv.ParseBool` value that overrides `--sts-regional-endpoint`.
    pub const STS_REGIONAL_ENDPOINTS: &str = "sts-regional-endpoints";
    /// ServiceAccount and Pod: token lifetime in seconds; the Pod value wins.
    pub const TOKEN_EXPIRATION: &str = "token-expiration";
    /// Pod only: comma-separated (Go `encoding/csv`) container names to leave untouched.
    pub const SKIP_CONTAINERS: &str = "skip-containers";
}

/// Label added to every Pod Identity pod (PR #295). Hard-coded upstream: it does **not** follow
/// `--annotation-prefix`.
pub const POD_IDENTITY_LABEL: &str = "eks.amazonaws.com/pod-identity";
/// Value of [`POD_IDENTITY_LABEL`].
pub const POD_IDENTITY_LABEL_VALUE: &str = "enabled";

/// Default and ceiling-that-is-never-enforced of token lifetimes (`pkg/constants.go`
/// `DefaultTokenExpiration`, `MaxTokenExpiration`): 24 h, the most EKS allows.
pub const TOKEN_EXPIRATION_DEFAULT_S: i64 = 86_400;
/// Floor for token lifetimes (`MinTokenExpiration`): 10 min is the least the kube-apiserver accepts.
/// Lower values from the flag, the ServiceAccount or the Pod are raised to it, never rejected.
/// (It was 3600 before PR #207, January 2024.)
pub const TOKEN_EXPIRATION_MIN_S: i64 = 600;
/// Lower bound of the Pod Identity jitter (`DefaultMinTokenExpiration`, PR #260): a resolved
/// lifetime of exactly [`TOKEN_EXPIRATION_DEFAULT_S`] becomes a uniform draw from
/// `[79200, 86400]` so that tokens of pods created together do not all refresh at once.
pub const TOKEN_EXPIRATION_JITTER_MIN_S: i64 = 79_200;

/// IRSA projected volume name. Hard-coded upstream (`NewModifier`: `volName`), no flag.
pub const IRSA_VOLUME_NAME: &str = "aws-iam-token";
/// IRSA token file name inside the volume. Hard-coded upstream (`NewModifier`: `tokenName`), no flag.
pub const IRSA_TOKEN_PATH: &str = "token";

/// Configuration of one webhook process. `Default` gives the upstream defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// `--annotation-prefix`, default `eks.amazonaws.com`. The domain of every ServiceAccount and
    /// Pod annotation the webhook reads (`<prefix>/role-arn`, ...). It does not move the
    /// [`POD_IDENTITY_LABEL`].
    pub annotation_prefix: String,
    /// `--token-audience`, default `sts.amazonaws.com`. Audience of the IRSA token when the
    /// ServiceAccount has no `audience` annotation; STS checks it against the OIDC provider's client IDs.
    pub token_audience: String,
    /// `--token-mount-path`, default `/var/run/secrets/eks.amazonaws.com/serviceaccount`. Where the
    /// IRSA volume is mounted; `AWS_WEB_IDENTITY_TOKEN_FILE` is this path joined with `token`.
    pub token_mount_path: String,
    /// `--token-expiration`, default 86400 s. Lifetime asked for when neither the ServiceAccount nor
    /// the Pod says otherwise. `main.go` raises it to [`TOKEN_EXPIRATION_MIN_S`] at start-up; this
    /// model applies the same floor each time it reads the value.
    pub token_expiration_s: i64,
    /// `--aws-default-region`, default empty. When non-empty, `AWS_DEFAULT_REGION` and `AWS_REGION`
    /// are both set to it in containers that have neither. Empty means "inject no region"; the
    /// webhook never derives a region from the role ARN.
    pub aws_default_region: String,
    /// `--sts-regional-endpoint`, default false. Whether to inject `AWS_STS_REGIONAL_ENDPOINTS=regional`
    /// when the ServiceAccount's `sts-regional-endpoints` annotation does not parse as a Go bool.
    pub sts_regional_endpoint: bool,
    /// `--compose-role-arn`, default off (`None`). When set, a `role-arn` annotation that does not
    /// contain `arn:` is expanded to `arn:<partition>:iam::<account>:role/<value>`. Upstream reads the
    /// account and region from EC2 instance metadata once at start-up; here the caller supplies them.
    pub compose_role_arn: Option<ComposeRoleArn>,
    /// The `--container-credentials-*` flags: what a Pod Identity (container credentials) pod gets.
    pub container_credentials: ContainerCredentialsConfig,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            annotation_prefix: "eks.amazonaws.com".to_owned(),
            token_audience: "sts.amazonaws.com".to_owned(),
            token_mount_path: "/var/run/secrets/eks.amazonaws.com/serviceaccount".to_owned(),
            token_expiration_s: TOKEN_EXPIRATION_DEFAULT_S,
            aws_default_region: String::new(),
            sts_regional_endpoint: false,
            compose_role_arn: None,
            container_credentials: ContainerCredentialsConfig::default(),
        }
    }
}

impl WebhookConfig {
    /// The `--token-expiration` value as upstream uses it: raised to [`TOKEN_EXPIRATION_MIN_S`]
    /// (`main.go` calls `ValidateMinTokenExpiration` on the flag before anything reads it).
    pub fn token_expiration_default_s(&self) -> i64 {
        self.token_expiration_s.max(TOKEN_EXPIRATION_MIN_S)
    }

    /// `<annotation_prefix>/<name>`.
    pub(crate) fn annotation_key(&self, name: &str) -> String {
        format!("{}/{}", self.annotation_prefix, name)
    }
}

/// The `--container-credentials-*` flags (`main.go`, `pkg/containercredentials/config.go`
/// `NewFileConfig`). Every Pod Identity association gets the same values: the association file names
/// only `(namespace, serviceAccount)` pairs, and the role is resolved later by the Pod Identity
/// agent and EKS Auth, never by the webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerCredentialsConfig {
    /// `--container-credentials-audience`, default `pods.eks.amazonaws.com`. Audience of the projected
    /// token that the Pod Identity agent forwards to EKS Auth. The ServiceAccount `audience`
    /// annotation does not change it.
    pub audience: String,
    /// `--container-credentials-token-mount-path`, default
    /// `/var/run/secrets/pods.eks.amazonaws.com/serviceaccount`.
    pub token_mount_path: String,
    /// `--container-credentials-token-volume-name`, default `eks-pod-identity-token`.
    pub token_volume_name: String,
    /// `--container-credentials-token-path`, default `eks-pod-identity-token`: the file name inside
    /// the volume; `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` is the mount path joined with it.
    pub token_path: String,
    /// `--container-credentials-full-uri`, default [`Self::FULL_URI_IPV4`]. Injected verbatim as
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI`. The webhook has no IPv6 logic of its own: IPv6 EKS
    /// clusters are observed with [`Self::FULL_URI_IPV6`], so EKS evidently sets this flag per
    /// cluster IP family (reference §3.2; use [`Self::for_ip_family`]).
    pub full_uri: String,
}

impl ContainerCredentialsConfig {
    /// The upstream default URI: the Pod Identity agent's IPv4 link-local address.
    pub const FULL_URI_IPV4: &'static str = "http://169.254.170.23/v1/credentials";
    /// The URI observed in pods of IPv6 EKS clusters (terrakube#3285, containers-roadmap#2683): the
    /// agent's IPv6 address `fd00:ec2::23`.
    pub const FULL_URI_IPV6: &'static str = "http://[fd00:ec2::23]/v1/credentials";

    /// The defaults with the URI chosen by cluster IP family, as EKS is observed to configure it.
    pub fn for_ip_family(ip_family: IpFamily) -> Self {
        let full_uri = match ip_family {
            IpFamily::V4 => Self::FULL_URI_IPV4,
            IpFamily::V6 => Self::FULL_URI_IPV6,
        };
        ContainerCredentialsConfig { full_uri: full_uri.to_owned(), ..Self::default() }
    }
}

impl Default for ContainerCredentialsConfig {
    fn default() -> Self {
        ContainerCredentialsConfig {
            audience: "pods.eks.amazonaws.com".to_owned(),
            token_mount_path: "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount".to_owned(),
            token_volume_name: "eks-pod-identity-token".to_owned(),
            token_path: "eks-pod-identity-token".to_owned(),
            full_uri: Self::FULL_URI_IPV4.to_owned(),
        }
    }
}

/// IP family of the cluster, which decides the Pod Identity agent address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpFamily {
    /// `169.254.170.23`.
    V4,
    /// `fd00:ec2::23`.
    V6,
}

/// What `--compose-role-arn` learns from EC2 instance metadata at start-up (`main.go`): the partition
/// (derived from the instance region) and the account ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposeRoleArn {
    /// `aws`, `aws-cn`, ...; see [`ComposeRoleArn::from_region`].
    pub partition: String,
    /// 12-digit AWS account ID of the node the webhook runs on.
    pub account_id: String,
}

impl ComposeRoleArn {
    /// Partition from region prefix, as `main.go` does it: `cn-` → `aws-cn`, `us-gov-` →
    /// `aws-us-gov`, `us-iso-` → `aws-iso`, `us-isob-` → `aws-iso-b`, `eusc-` → `aws-eusc`,
    /// anything else → `aws`.
    pub fn from_region(region: &str, account_id: &str) -> Self {
        let partition = if region.starts_with("cn-") {
            "aws-cn"
        } else if region.starts_with("us-gov-") {
            "aws-us-gov"
        } else if region.starts_with("us-iso-") {
            "aws-iso"
        } else if region.starts_with("us-isob-") {
            "aws-iso-b"
        } else if region.starts_with("eusc-") {
            "aws-eusc"
        } else {
            "aws"
        };
        ComposeRoleArn { partition: partition.to_owned(), account_id: account_id.to_owned() }
    }
}
