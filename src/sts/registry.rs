//! The IAM side STS consults: IAM OIDC identity providers, roles with trust policies, and the
//! sessions STS has issued.
//!
//! Facts (`iam.md` §1.7, §1.9; `sdk.md` §1.7, §2): an OIDC provider URL must begin with
//! `https://`, is at most 255 characters, host plus optional path, no port, query or fragment, and
//! is not normalised (a trailing slash makes a different provider); its ARN is
//! `arn:<partition>:iam::<acct>:oidc-provider/<url without https://>`; at most 100 providers per
//! account, 100 client IDs each (≤255 characters), 5 thumbprints (40 hex). Role names are 1–64
//! characters of `[\w+=,.@-]`, unique case-insensitively; `MaxSessionDuration` is 3600–43200 s;
//! the trust policy is at most 2048 non-whitespace characters by default.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::iam::{PolicyDocument, PolicyError};

/// An IAM OIDC identity provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcProvider {
    /// Exactly as registered, e.g. `https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE…`; tokens
    /// are matched on `iss` byte for byte.
    pub url: String,
    pub arn: String,
    /// Accepted `aud` values (EKS: `sts.amazonaws.com`).
    pub client_ids: Vec<String>,
    /// Stored for fidelity, never consulted (`sdk.md` §1.7).
    pub thumbprints: Vec<String>,
}

impl OidcProvider {
    /// The issuer without `https://`: the provider ARN suffix and the prefix of the trust-policy
    /// condition keys (`<host/path>:sub`, `:aud`, `:amr`, `:azp`).
    pub fn host_path(&self) -> &str {
        self.url.strip_prefix("https://").unwrap_or(&self.url)
    }
}

/// An IAM role that web identities can assume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    pub arn: String,
    /// `AROA` + 17 characters, derived from account, name and creation order (real IDs are random;
    /// this keeps them stable under a seed without spending RNG draws).
    pub role_id: String,
    pub max_session_duration_s: u32,
    pub trust_policy: PolicyDocument,
    pub trust_policy_json: String,
}

/// A set of temporary credentials STS issued, remembered so `GetCallerIdentity`, `AssumeRole` (role
/// chaining) and the resource services (through the simulator-only session lookup, see
/// [`super::internal`]) can resolve the access key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration: SystemTime,
    pub role_arn: String,
    pub role_id: String,
    pub role_session_name: String,
    /// `arn:<p>:sts::<acct>:assumed-role/<role>/<session>`.
    pub assumed_role_arn: String,
    /// `<role id>:<session name>`.
    pub assumed_role_id: String,
    /// The IAM OIDC provider ARN (`AssumeRoleWithWebIdentity`); empty for `AssumeRole`.
    pub provider_arn: String,
    /// `AssumeRoleWithWebIdentity`: the token's `sub`. `AssumeRole`: who called, the caller
    /// session's assumed-role ARN or the service principal (e.g. `pods.eks.amazonaws.com`).
    pub subject: String,
    /// The token audience that matched a client ID; empty for `AssumeRole`.
    pub audience: String,
    /// Inline session policy passed as `Policy`, if any. `AssumeRole` applies it when this session
    /// assumes another role; resource services get it from the session lookup.
    pub session_policy: Option<PolicyDocument>,
    /// The text of `Policy`, as passed.
    pub session_policy_json: Option<String>,
    /// Managed session policy ARNs (`PolicyArns.member.N.arn`), stored only.
    pub policy_arns: Vec<String>,
    /// Session tags (`aws:PrincipalTag/<key>`): the request's `Tags` plus the transitive tags
    /// inherited from the calling session (`iam.md` §1.10). Keys are unique case-insensitively.
    pub session_tags: BTreeMap<String, String>,
    /// Keys of `session_tags` that pass on to sessions this one assumes (`TransitiveTagKeys` plus
    /// every inherited transitive key).
    pub transitive_tag_keys: BTreeSet<String>,
    /// `SourceIdentity`, set once and carried along a role chain.
    pub source_identity: Option<String>,
    /// Issued by `AssumeRole` to a caller that was itself a role session (role chaining, at most
    /// one hour).
    pub chained: bool,
}

/// Why a registry call failed. Display strings follow IAM's error messages where known.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// IAM `InvalidInput` (400).
    #[error("InvalidInput: {0}")]
    InvalidInput(String),
    /// IAM `EntityAlreadyExists` (409).
    #[error("EntityAlreadyExists: {0}")]
    EntityAlreadyExists(String),
    /// IAM `LimitExceeded` (409), e.g. `Cannot exceed quota for ACLSizePerRole: 2048`.
    #[error("LimitExceeded: {0}")]
    LimitExceeded(String),
    /// IAM `MalformedPolicyDocument` (400).
    #[error("MalformedPolicyDocument: {0}")]
    MalformedPolicyDocument(PolicyError),
    /// IAM `NoSuchEntity` (404), e.g. `The role with name X cannot be found.`
    #[error("NoSuchEntity: {0}")]
    NoSuchEntity(String),
}

/// Validates a provider URL and derives its ARN.
pub(crate) fn provider_arn(
    partition: &str,
    account_id: &str,
    url: &str,
) -> Result<String, RegistryError> {
    let invalid = |why: &str| {
        Err(RegistryError::InvalidInput(format!(
            "Invalid OpenID Connect provider URL '{url}': {why}"
        )))
    };
    let Some(rest) = url.strip_prefix("https://") else {
        return invalid("must begin with https://");
    };
    if url.len() > 255 {
        return invalid("must be at most 255 characters");
    }
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        return invalid("missing host");
    }
    if host.contains(':') {
        return invalid("a port is not allowed");
    }
    if rest.contains('?') || rest.contains('#') {
        return invalid("a query or fragment is not allowed");
    }
    if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid("whitespace is not allowed");
    }
    Ok(format!(
        "arn:{partition}:iam::{account_id}:oidc-provider/{rest}"
    ))
}

/// Validates a role name: 1–64 characters of `[\w+=,.@-]` (IAM API model).
pub(crate) fn validate_role_name(name: &str) -> Result<(), RegistryError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c);
    if name.is_empty() || name.len() > 64 || !name.chars().all(ok_char) {
        return Err(RegistryError::InvalidInput(format!(
            "Role name '{name}' must be 1-64 characters of letters, digits and _+=,.@-"
        )));
    }
    Ok(())
}

/// `AROA` + 17 characters of the base32 alphabet, from SHA-256 of (account, name, sequence).
pub(crate) fn role_id(account_id: &str, name: &str, seq: u64) -> String {
    let digest = Sha256::new()
        .chain_update(account_id.as_bytes())
        .chain_update([0])
        .chain_update(name.as_bytes())
        .chain_update([0])
        .chain_update(seq.to_be_bytes())
        .finalize();
    let mut id = String::from("AROA");
    id.extend(
        digest
            .iter()
            .take(17)
            .map(|b| BASE32[usize::from(b % 32)] as char),
    );
    id
}

/// The base32 alphabet AWS unique ids are drawn from (upper-case letters and 2–7).
pub(crate) const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Counts the characters IAM counts toward policy size: everything but whitespace (`iam.md` §1.9).
pub(crate) fn policy_size_chars(json: &str) -> usize {
    json.chars().filter(|c| !c.is_whitespace()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_urls() {
        assert_eq!(
            provider_arn(
                "aws",
                "111122223333",
                "https://oidc.eks.us-west-2.amazonaws.com/id/ABC"
            )
            .unwrap(),
            "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABC"
        );
        for bad in [
            "http://x",
            "https://",
            "https://h:443/p",
            "https://h/p?q=1",
            "oidc.eks",
        ] {
            assert!(provider_arn("aws", "1", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn role_ids_are_stable_and_shaped() {
        let a = role_id("111122223333", "r", 0);
        assert_eq!(a, role_id("111122223333", "r", 0));
        assert_ne!(a, role_id("111122223333", "r", 1));
        assert_eq!(a.len(), 21);
        assert!(a.starts_with("AROA"));
    }

    #[test]
    fn whitespace_does_not_count() {
        assert_eq!(policy_size_chars("{ \"a\" :\n 1 }"), 7);
    }
}
