//! STS configuration: every limit and timing the simulated service applies, with its upstream
//! source. Where the upstream value is unknown (`sdk.md` §7 lists them) the field says so and the
//! default is a documented modelling choice, never a silent guess.

/// Which error an unreachable or failing IdP (discovery document or JWKS) produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdpOutageError {
    /// `InvalidIdentityToken` (400), "Couldn't retrieve verification key from your identity
    /// provider,  please reference AssumeRoleWithWebIdentity documentation for requirements".
    /// What EKS users actually see (`sdk.md` §0.10 and §1.7 \[obs\]). SDKs do not retry it (except
    /// aws-sdk-go-v2 for web identity).
    InvalidIdentityToken,
    /// `IDPCommunicationError` (400): the model's documented transient error, retried by every SDK.
    IdpCommunicationError,
}

/// Configuration of one STS endpoint (one account, one region).
#[derive(Clone, Debug)]
pub struct StsConfig {
    /// The 12-digit account that owns the roles and IAM OIDC providers.
    pub account_id: String,
    /// Region of this STS endpoint (regional endpoints are what the SDKs call, `sdk.md` §1.2).
    /// Only recorded in traces today: assumed-role ARNs are region-less.
    pub region: String,
    /// ARN partition (`aws`, `aws-cn`, `aws-us-gov`).
    pub partition: String,

    /// `DurationSeconds` when the caller sends none: 3600 (STS model, `roleDurationSecondsType`
    /// docs; `sdk.md` §1.3). The default-chain web-identity providers never send it.
    pub duration_s_default: u32,
    /// Smallest `DurationSeconds` accepted: 900 (STS model `min`).
    pub duration_s_min: u32,
    /// Largest `DurationSeconds` accepted before the role check: 43200 (STS model `max`).
    pub duration_s_max: u32,

    /// Clock-skew tolerance applied to `exp`, `nbf` and `iat`, in seconds. Unknown upstream
    /// (`sdk.md` §1.7 \[unk\]); default 0 = strict. Peer emulator Floci uses 60 s.
    pub leeway_s: u64,
    /// Reject tokens whose `iat` is older than this many seconds with
    /// `ExpiredTokenException: Token too old: <age>`. Real STS does this \[obs: "Token too old:
    /// 441398"\], but the threshold is unknown (`sdk.md` §1.7 \[unk\]); default off. EKS caps IRSA
    /// token lifetime at 24 h, so 86400 is a natural value to try.
    pub token_age_s_max: Option<u64>,

    /// JWKS cache lifetime when the JWKS response carries no `Cache-Control: max-age`. STS honours
    /// the IdP's caching headers \[obs: gitlab MR 138405\]; the fallback is unknown; default 3600 s
    /// (`sdk.md` §1.7 suggestion).
    pub jwks_cache_ttl_s_default: u64,
    /// Upper bound on any JWKS cache lifetime, whatever `max-age` says (a Tiger Style bound; the
    /// real cap is unknown). Default 86400 s.
    pub jwks_cache_ttl_s_max: u64,
    /// On a token whose `kid` is not in the cached JWKS, fetch the JWKS again once before failing.
    /// Unknown upstream (`sdk.md` §7); default on, which makes EKS's 7-day key rotation invisible.
    pub jwks_refetch_on_unknown_kid: bool,
    /// At most one unknown-kid refetch per issuer per this many seconds, so a stream of bad tokens
    /// cannot hammer the IdP (STS "making too many requests" to an IdP is a documented failure).
    /// Unknown upstream; default 0 = no rate limit.
    pub jwks_refetch_interval_s_min: u64,
    /// Keep using an expired JWKS cache entry when refreshing it fails. Unknown upstream; default
    /// off, so an IdP outage shows as soon as the cache expires.
    pub jwks_serve_stale_on_error: bool,
    /// Timeout for each IdP request (discovery, then JWKS), in milliseconds: 5000, from "IdP
    /// latency above 5 seconds" in the re:Post knowledge-center article (`sdk.md` §1.7).
    pub idp_fetch_timeout_ms: u64,
    /// The error an IdP outage produces (see [`IdpOutageError`]).
    pub idp_outage_error: IdpOutageError,

    /// Trust policy size limit in non-whitespace characters: 2048 (IAM quota `ACLSizePerRole`,
    /// adjustable to 4096; IAM does not count whitespace; `iam.md` §1.9).
    pub trust_policy_chars_max: usize,
    /// IAM OIDC providers per account: 100 (`iam.md` §1.9; re-check the live quota page).
    pub oidc_providers_max: usize,
    /// Client IDs per provider: 100, each at most 255 characters (IAM API model).
    pub client_ids_per_provider_max: usize,
    /// Thumbprints per provider: 5, each 40 hex characters (IAM API model). Stored, never used:
    /// AWS validates the JWKS host against its CA library first (`sdk.md` §1.7).
    pub thumbprints_per_provider_max: usize,

    /// Longest `DurationSeconds` `AssumeRole` grants to a caller that is itself a role session
    /// (role chaining): 3600 s, whatever the role's `MaxSessionDuration` (STS model
    /// `DurationSeconds` docs, `iam.md` §1.9). Above it: `ValidationError` "The requested
    /// DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining." \[obs\].
    pub role_chaining_duration_s_max: u32,
    /// Whether a role's `MaxSessionDuration` is skipped when an AWS service principal assumes it:
    /// true, because the IAM quotas page says that setting "does not limit sessions assumed by AWS
    /// services", which is how EKS Pod Identity gets 6 h credentials from roles left at the 1 h
    /// default (`iam.md` §1.8). `duration_s_max` (43200) still applies.
    pub service_sessions_ignore_role_max: bool,
    /// The packed-binary budget that session tags share, in bytes of the simulator's packed-size
    /// model (`PackedPolicyTooLarge`, "Packed size of session tags consumes N% of allotted space."
    /// \[obs\]). The real format and limit are unpublished (`iam.md` §1.9); the model counts
    /// `key + value + packed_tag_overhead_bytes` per tag (request tags plus inherited transitive
    /// tags) and is calibrated on two observations: nine 2-character keys with 250-character
    /// values consume 498 % (aws-actions/configure-aws-credentials#1898), and EKS Pod Identity's
    /// six tags with typical names consume about 74 % (containers-roadmap#2413). Default 470;
    /// `None` turns the check off. Session policies are not counted (\[unk\] how they pack).
    pub packed_policy_bytes_max: Option<usize>,
    /// Per-tag overhead of the packed-size model, in bytes (see `packed_policy_bytes_max`): 8.
    pub packed_tag_overhead_bytes: usize,
    /// Total size of a role's inline identity policies in non-whitespace characters: 10240 (IAM
    /// quota "role policy size"; `LimitExceeded` "Maximum policy size of 10240 bytes exceeded for
    /// role <name>" \[obs\]).
    pub role_policy_chars_max: usize,

    /// Live sessions remembered for `GetCallerIdentity` (a bound; expired sessions are pruned
    /// first, then the earliest-expiring one is evicted).
    pub sessions_max: usize,
    /// Memoised RS256 verifications (`crypto.md` recommendation 2).
    pub jwt_verify_memo_entries_max: usize,
    /// Random bytes in a minted session token before base64 (real tokens are opaque, several
    /// hundred characters; 512 bytes gives 684 characters).
    pub session_token_bytes: usize,
}

impl StsConfig {
    /// Defaults for account `111122223333` (the AWS documentation example account) in `us-west-2`.
    pub fn new(account_id: impl Into<String>, region: impl Into<String>) -> StsConfig {
        StsConfig {
            account_id: account_id.into(),
            region: region.into(),
            partition: "aws".to_owned(),
            duration_s_default: 3600,
            duration_s_min: 900,
            duration_s_max: 43200,
            leeway_s: 0,
            token_age_s_max: None,
            jwks_cache_ttl_s_default: 3600,
            jwks_cache_ttl_s_max: 86400,
            jwks_refetch_on_unknown_kid: true,
            jwks_refetch_interval_s_min: 0,
            jwks_serve_stale_on_error: false,
            idp_fetch_timeout_ms: 5000,
            idp_outage_error: IdpOutageError::InvalidIdentityToken,
            trust_policy_chars_max: 2048,
            oidc_providers_max: 100,
            client_ids_per_provider_max: 100,
            thumbprints_per_provider_max: 5,
            role_chaining_duration_s_max: 3600,
            service_sessions_ignore_role_max: true,
            packed_policy_bytes_max: Some(470),
            packed_tag_overhead_bytes: 8,
            role_policy_chars_max: 10240,
            sessions_max: 100_000,
            jwt_verify_memo_entries_max: 10_000,
            session_token_bytes: 512,
        }
    }
}

impl Default for StsConfig {
    fn default() -> StsConfig {
        StsConfig::new("111122223333", "us-west-2")
    }
}
