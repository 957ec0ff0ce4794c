//! The AWS Security Token Service (STS) actor: `AssumeRoleWithWebIdentity` (IRSA),
//! `AssumeRole` (EKS Pod Identity and role chaining, with session tags) and `GetCallerIdentity`,
//! with full web-identity token validation.
//!
//! It stands for a regional STS endpoint (`sts.<region>.amazonaws.com`) together with the slice
//! of IAM it consults: IAM OIDC identity providers and roles with trust policies. It speaks the
//! awsQuery protocol (form-encoded `POST /`, XML answers; see [`wire`]), exactly as the AWS SDKs'
//! web-identity credential providers expect it, so a real SDK pointed at the simulated network
//! accepts its answers byte for byte.
//!
//! One `AssumeRoleWithWebIdentity` call, in order (facts from `sdk.md` §1.3–§1.7 and `iam.md` §1.7;
//! the order of steps 3–7 is not documented and is a modelling choice):
//! 1. parameters are validated against the STS model (`ValidationError` with Coral messages);
//! 2. the token is decoded (three base64url JSON segments, else `InvalidIdentityToken`);
//! 3. `iss` must equal a registered provider URL exactly (`No OpenIDConnect provider found…`);
//! 4. an `aud` must be one of the provider's client IDs (`Incorrect token audience`,
//!    `Missing a required claim: aud`);
//! 5. discovery and JWKS are fetched over the simulated network through [`StsEnv::fetch`], cached
//!    per `Cache-Control`, refetched once on an unknown `kid` (see the `jwks` submodule); the
//!    RS256 signature is verified (memoised, `crypto.md`);
//! 6. `exp`, `nbf`, `iat` are checked against [`StsEnv::now`] with `leeway_s`
//!    (`ExpiredTokenException: Token expired: …`, optionally `Token too old: …`);
//! 7. the role's trust policy is evaluated by [`crate::iam`] with principal `Federated` = the
//!    provider ARN, action `sts:AssumeRoleWithWebIdentity`, resource the role ARN and condition
//!    keys `<host/path>:sub`, `:aud`, `:amr` and `:azp` when present, `sts:RoleSessionName`,
//!    `aws:CurrentTime`, `aws:EpochTime` (a missing role is also `AccessDenied`, 403);
//! 8. `DurationSeconds` must not exceed the role's `MaxSessionDuration`;
//! 9. credentials are minted from the host's seeded RNG (`ASIA…` key id) and remembered so that
//!    `GetCallerIdentity` can resolve them.
//!
//! `GetCallerIdentity` resolves the caller from the access key id in the SigV4 `Authorization`
//! header (`Credential=<AKID>/…`) and checks `x-amz-security-token`; the signature itself is not
//! verified yet (the secret is kept in the session so that it can be).
//!
//! `AssumeRole` (see [`assume_role`](self) for the steps and their sources) resolves its caller the
//! same way: an STS session (role chaining) or a registered AWS service identity
//! ([`StsService::register_service_identity`], the stand-in for an AWS service such as EKS Auth
//! calling STS as `pods.eks.amazonaws.com`). It evaluates the role's trust policy (and, for a
//! session caller, the caller role's identity policies from [`StsService::put_role_policy`]) for
//! `sts:AssumeRole`, plus `sts:TagSession` when tags are passed or inherited, and stores the
//! session tags on the new session.
//!
//! Resource services (S3, …) resolve a caller's access key through a simulator-only endpoint on
//! this host, `GET /credsim-internal/sessions/{access_key_id}` ([`internal`]): **not an AWS API**,
//! the stand-in for AWS's internal authentication until SigV4 signatures are verified.
//!
//! Everything is single-threaded: state sits in a `RefCell` and no borrow is held across an
//! await, so concurrent requests on one host interleave safely. Time comes only from
//! [`StsEnv::now`], randomness only from [`StsEnv::rng`], the network only from [`StsEnv::fetch`].
//! Every call records one `sts.request` trace event (action, outcome, error code, role, subject,
//! issuer; never the token, secret or session token), and every IdP request one `sts.idp_fetch`.

mod assume_role;
mod assume_role_with_web_identity;
pub mod config;
mod get_caller_identity;
pub mod internal;
mod jwks;
pub mod registry;
pub mod server;
pub mod wire;

#[cfg(test)]
mod tests;

use std::cell::{RefCell, RefMut};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Request, Response};
use rand_chacha::ChaCha8Rng;

pub use config::{IdpOutageError, StsConfig};
pub use registry::{OidcProvider, RegistryError, Role, Session};
pub use assume_role::{SOURCE_ACCOUNT_HEADER, SOURCE_ARN_HEADER};
pub use internal::SessionInfo;
pub use wire::StsError;

use crate::iam::PolicyDocument;
use crate::jwt::VerificationMemo;
use crate::runtime::FieldValue;

/// Why an outbound HTTP GET over the simulated network failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// No complete response within the timeout STS passed.
    #[error("timeout")]
    Timeout,
    /// The connection could not be established (host down, refused, partitioned).
    #[error("connect failed: {0}")]
    Connect(String),
    /// The connection broke mid-request or the response was not valid HTTP.
    #[error("i/o error: {0}")]
    Io(String),
}

/// The boxed future [`StsEnv::fetch`] returns (need not be `Send`: each simulation is one thread).
pub type FetchFuture<'a> = Pin<Box<dyn Future<Output = Result<Response<Bytes>, FetchError>> + 'a>>;

/// What the STS actor needs from its host in the simulated world.
pub trait StsEnv {
    /// The STS host's simulated wall clock.
    fn now(&self) -> SystemTime;
    /// The STS host's seeded RNG.
    fn rng(&self) -> RefMut<'_, ChaCha8Rng>;
    /// HTTP GET over the simulated network, giving up after `timeout`.
    fn fetch<'a>(&'a self, url: &'a str, timeout: Duration) -> FetchFuture<'a>;
    /// Records a trace event. Never pass secrets (tokens, secret keys, session tokens) in fields.
    fn record(&self, kind: &str, fields: &[(&str, String)]);
    /// Records a trace event with typed fields (numbers stay numbers). Environments without a typed
    /// trace get the fields as strings through [`StsEnv::record`].
    fn record_typed(&self, kind: &str, fields: Vec<(&str, FieldValue)>) {
        let fields: Vec<(&str, String)> = fields.into_iter().map(|(k, v)| (k, v.to_string())).collect();
        self.record(kind, &fields);
    }
    /// The true wall clock (no skew), for trace fields only, never for a decision. Defaults to
    /// [`StsEnv::now`] for environments without skew.
    fn true_now(&self) -> SystemTime {
        self.now()
    }
}

/// Token fields of a `credentials.issued` event of `AssumeRoleWithWebIdentity`.
pub(crate) struct IssuedToken<'a> {
    pub iss: &'a str,
    pub aud: &'a [String],
    pub exp_s: i64,
    pub sub: &'a str,
    pub allowed_aud: &'a [String],
}

/// Records `credentials.issued` for a freshly minted session (trace contract #1): the role, the key
/// id, the expiry on the true clock, the session tags as sorted `k=v`, and for a web identity the
/// token's claims and the provider's client ids. Never the secret or the session token.
pub(crate) fn record_issued(env: &dyn StsEnv, api: &str, session: &Session, token: Option<IssuedToken<'_>>) {
    // The expiry is on STS's clock; shift it by STS's skew to the true clock (zero without skew).
    let skew_s = wire::unix_secs(env.now()) - wire::unix_secs(env.true_now());
    let expiration_s = u64::try_from(wire::unix_secs(session.expiration) - skew_s).unwrap_or(0);
    let tags: Vec<String> = session.session_tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut fields: Vec<(&str, FieldValue)> = vec![
        ("api", api.into()),
        ("access_key_id", session.access_key_id.clone().into()),
        ("role_arn", session.role_arn.clone().into()),
        ("expiration_s", expiration_s.into()),
        ("tags", tags.join(",").into()),
    ];
    if let Some(t) = token {
        fields.push(("token_iss", t.iss.into()));
        fields.push(("token_aud", t.aud.join(",").into()));
        fields.push(("token_exp_s", u64::try_from(t.exp_s).unwrap_or(0).into()));
        fields.push(("token_sub", t.sub.into()));
        fields.push(("allowed_aud", t.allowed_aud.join(",").into()));
    }
    env.record_typed("credentials.issued", fields);
}

/// The STS actor: configuration, the IAM registry it consults, and its caches.
pub struct StsService {
    config: StsConfig,
    state: RefCell<State>,
}

/// Mutable state, borrowed only in synchronous sections.
struct State {
    /// Registered IAM OIDC providers by exact URL (= the `iss` they accept).
    providers: BTreeMap<String, OidcProvider>,
    /// Roles by lower-cased name (IAM role names are unique case-insensitively).
    roles: BTreeMap<String, Role>,
    /// Roles ever created: feeds deterministic role ids.
    roles_created: u64,
    /// Issued sessions by access key id; bounded by `sessions_max`.
    sessions: BTreeMap<String, Session>,
    /// JWKS cache by issuer URL; bounded by the number of providers.
    jwks: BTreeMap<String, jwks::JwksEntry>,
    /// Memo of successful RS256 verifications; bounded by `jwt_verify_memo_entries_max`.
    memo: VerificationMemo,
    /// Long-term access key ids of AWS services, by key id → service principal
    /// (`pods.eks.amazonaws.com`). Bounded by the configuration that registers them.
    service_identities: BTreeMap<String, String>,
    /// Inline identity policies by lower-cased role name, then policy name (IAM `PutRolePolicy`);
    /// bounded per role by `role_policy_chars_max`.
    role_policies: BTreeMap<String, BTreeMap<String, RolePolicy>>,
}

/// One inline identity policy of a role: its text, as given, and its parsed form.
#[derive(Clone, Debug)]
pub(crate) struct RolePolicy {
    pub json: String,
    pub doc: PolicyDocument,
}

/// The error STS answers a refused request with (see [`crate::runtime::refuse_request`]).
fn refusal_error(refusal: Option<crate::runtime::Refusal>) -> StsError {
    match refusal {
        Some(crate::runtime::Refusal::Throttled) => {
            StsError::new("Throttling", http::StatusCode::BAD_REQUEST, "Rate exceeded")
        }
        _ => StsError::new(
            "ServiceUnavailable",
            http::StatusCode::SERVICE_UNAVAILABLE,
            "Service is unavailable. Please try again later.",
        ),
    }
}

/// Fields collected while handling one call, recorded as one `sts.request` trace event.
#[derive(Default)]
pub(crate) struct Trace(Vec<(&'static str, String)>);

impl Trace {
    pub(crate) fn set(&mut self, name: &'static str, value: impl Into<String>) {
        let value = value.into();
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }
}

impl StsService {
    pub fn new(config: StsConfig) -> StsService {
        let memo = VerificationMemo::new(config.jwt_verify_memo_entries_max);
        StsService {
            config,
            state: RefCell::new(State {
                providers: BTreeMap::new(),
                roles: BTreeMap::new(),
                roles_created: 0,
                sessions: BTreeMap::new(),
                jwks: BTreeMap::new(),
                memo,
                service_identities: BTreeMap::new(),
                role_policies: BTreeMap::new(),
            }),
        }
    }

    pub fn config(&self) -> &StsConfig {
        &self.config
    }

    /// Registers an IAM OIDC identity provider (IAM `CreateOpenIDConnectProvider`) and returns its
    /// ARN, `arn:<partition>:iam::<acct>:oidc-provider/<url without https://>`.
    pub fn register_oidc_provider(
        &self,
        url: &str,
        client_ids: &[&str],
        thumbprints: &[&str],
    ) -> Result<String, RegistryError> {
        let c = &self.config;
        let arn = registry::provider_arn(&c.partition, &c.account_id, url)?;
        if client_ids.len() > c.client_ids_per_provider_max
            || client_ids.iter().any(|id| id.is_empty() || id.len() > 255)
        {
            return Err(RegistryError::InvalidInput(format!(
                "ClientIDList must hold at most {} client IDs of 1-255 characters",
                c.client_ids_per_provider_max
            )));
        }
        if thumbprints.len() > c.thumbprints_per_provider_max
            || thumbprints
                .iter()
                .any(|t| t.len() != 40 || !t.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(RegistryError::InvalidInput(format!(
                "ThumbprintList must hold at most {} 40-character hex thumbprints",
                c.thumbprints_per_provider_max
            )));
        }
        let mut state = self.state.borrow_mut();
        if state.providers.contains_key(url) {
            return Err(RegistryError::EntityAlreadyExists(format!(
                "Provider with url {url} already exists."
            )));
        }
        if state.providers.len() >= c.oidc_providers_max {
            return Err(RegistryError::LimitExceeded(format!(
                "Cannot exceed quota for OpenIdConnectProvidersPerAccount: {}",
                c.oidc_providers_max
            )));
        }
        state.providers.insert(
            url.to_owned(),
            OidcProvider {
                url: url.to_owned(),
                arn: arn.clone(),
                client_ids: client_ids.iter().map(|s| (*s).to_owned()).collect(),
                thumbprints: thumbprints.iter().map(|s| (*s).to_owned()).collect(),
            },
        );
        Ok(arn)
    }

    /// Creates a role (IAM `CreateRole`) with a trust policy and a maximum session duration.
    pub fn create_role(
        &self,
        name: &str,
        trust_policy_json: &str,
        max_session_duration_s: u32,
    ) -> Result<Role, RegistryError> {
        let c = &self.config;
        registry::validate_role_name(name)?;
        if !(3600..=43200).contains(&max_session_duration_s) {
            return Err(RegistryError::InvalidInput(format!(
                "MaxSessionDuration {max_session_duration_s} must be between 3600 and 43200 seconds"
            )));
        }
        let size = registry::policy_size_chars(trust_policy_json);
        if size > c.trust_policy_chars_max {
            return Err(RegistryError::LimitExceeded(format!(
                "Cannot exceed quota for ACLSizePerRole: {}",
                c.trust_policy_chars_max
            )));
        }
        let trust_policy = PolicyDocument::parse(trust_policy_json)
            .map_err(RegistryError::MalformedPolicyDocument)?;
        trust_policy
            .validate_trust_policy()
            .map_err(RegistryError::MalformedPolicyDocument)?;
        let mut state = self.state.borrow_mut();
        let key = name.to_lowercase();
        if state.roles.contains_key(&key) {
            return Err(RegistryError::EntityAlreadyExists(format!(
                "Role with name {name} already exists."
            )));
        }
        let role = Role {
            name: name.to_owned(),
            arn: format!("arn:{}:iam::{}:role/{name}", c.partition, c.account_id),
            role_id: registry::role_id(&c.account_id, name, state.roles_created),
            max_session_duration_s,
            trust_policy,
            trust_policy_json: trust_policy_json.to_owned(),
        };
        state.roles_created += 1;
        state.roles.insert(key, role.clone());
        Ok(role)
    }

    /// Registers the long-term access key id an AWS service signs its STS calls with, and the
    /// service principal it acts as (EKS Auth: `pods.eks.amazonaws.com`). Such callers match
    /// `"Principal": {"Service": …}` in trust policies, are never role-chained, and are not bound
    /// by a role's `MaxSessionDuration` (see `StsConfig::service_sessions_ignore_role_max`).
    /// Registering a key again replaces its principal.
    pub fn register_service_identity(&self, access_key_id: &str, service_principal: &str) {
        assert!(
            !access_key_id.is_empty() && !service_principal.is_empty(),
            "a service identity needs a key id and a principal"
        );
        self.state
            .borrow_mut()
            .service_identities
            .insert(access_key_id.to_owned(), service_principal.to_owned());
    }

    /// Adds or replaces an inline identity policy of a role (IAM `PutRolePolicy`). Sessions of the
    /// role carry these policies: `AssumeRole` evaluates them when the role's session assumes
    /// another role, and resource services get them from the session lookup ([`internal`]).
    ///
    /// Errors as IAM: `NoSuchEntity` for an unknown role; `InvalidInput` for a policy name that is
    /// not 1–128 characters of `[\w+=,.@-]`; `MalformedPolicyDocument`; `LimitExceeded` when the
    /// role's inline policies together exceed `role_policy_chars_max` non-whitespace characters.
    pub fn put_role_policy(
        &self,
        role_name: &str,
        policy_name: &str,
        policy_json: &str,
    ) -> Result<(), RegistryError> {
        let key = role_name.to_lowercase();
        let Some(role) = self.role(role_name) else {
            return Err(RegistryError::NoSuchEntity(format!(
                "The role with name {role_name} cannot be found."
            )));
        };
        let name_ok = |c: char| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c);
        if policy_name.is_empty() || policy_name.len() > 128 || !policy_name.chars().all(name_ok) {
            return Err(RegistryError::InvalidInput(format!(
                "Policy name '{policy_name}' must be 1-128 characters of letters, digits and _+=,.@-"
            )));
        }
        let doc = PolicyDocument::parse(policy_json).map_err(RegistryError::MalformedPolicyDocument)?;
        let mut state = self.state.borrow_mut();
        let policies = state.role_policies.entry(key).or_default();
        let others: usize = policies
            .iter()
            .filter(|(n, _)| n.as_str() != policy_name)
            .map(|(_, p)| registry::policy_size_chars(&p.json))
            .sum();
        if others + registry::policy_size_chars(policy_json) > self.config.role_policy_chars_max {
            return Err(RegistryError::LimitExceeded(format!(
                "Maximum policy size of {} bytes exceeded for role {}",
                self.config.role_policy_chars_max, role.name
            )));
        }
        policies.insert(
            policy_name.to_owned(),
            RolePolicy { json: policy_json.to_owned(), doc },
        );
        Ok(())
    }

    /// The inline identity policies of a role as `(name, JSON)`, in name order.
    pub fn role_policies(&self, role_name: &str) -> Vec<(String, String)> {
        self.state
            .borrow()
            .role_policies
            .get(&role_name.to_lowercase())
            .map(|m| m.iter().map(|(n, p)| (n.clone(), p.json.clone())).collect())
            .unwrap_or_default()
    }

    /// The role with this name (case-insensitive), if any.
    pub fn role(&self, name: &str) -> Option<Role> {
        self.state.borrow().roles.get(&name.to_lowercase()).cloned()
    }

    /// The provider registered for exactly this URL, if any.
    pub fn oidc_provider(&self, url: &str) -> Option<OidcProvider> {
        self.state.borrow().providers.get(url).cloned()
    }

    /// The session issued with this access key id, if still remembered (expired ones included
    /// until pruned).
    pub fn session(&self, access_key_id: &str) -> Option<Session> {
        self.state.borrow().sessions.get(access_key_id).cloned()
    }

    /// `(hits, misses)` of the RS256 verification memo.
    pub fn jwt_verify_memo_stats(&self) -> (u64, u64) {
        let s = self.state.borrow();
        (s.memo.hits, s.memo.misses)
    }

    /// Handles one HTTP request to the STS endpoint and always answers (errors are XML too).
    pub async fn handle(&self, req: Request<Bytes>, env: &dyn StsEnv) -> Response<Bytes> {
        if req.uri().path().starts_with(internal::PATH_PREFIX) {
            return internal::handle(self, &req, env);
        }
        let request_id = wire::request_id(&mut env.rng());
        let params = wire::parse_params(&req);
        let action = params.get("Action").cloned().unwrap_or_default();
        let mut trace = Trace::default();
        let refusal = crate::runtime::refuse_request();
        let result: Result<(&'static str, String), StsError> =
            match (action.as_str(), params.get("Version").map(String::as_str)) {
                // A fault switched on by the injector: STS's own query-protocol errors (`sdk.md` §1.5; the 503 message is [unk]):
                // `Throttling` 400 "Rate exceeded", `ServiceUnavailable` 503.
                _ if refusal.is_some() => Err(refusal_error(refusal)),
                ("", _) => Err(StsError::new(
                    "MissingAction",
                    http::StatusCode::BAD_REQUEST,
                    wire::msg::MISSING_ACTION,
                )),
                ("AssumeRoleWithWebIdentity", Some(wire::API_VERSION)) => {
                    assume_role_with_web_identity::handle(self, &params, env, &mut trace)
                        .await
                        .map(|xml| ("AssumeRoleWithWebIdentity", xml))
                }
                ("AssumeRole", Some(wire::API_VERSION)) => {
                    assume_role::handle(self, &req, &params, env, &mut trace)
                        .map(|xml| ("AssumeRole", xml))
                }
                ("GetCallerIdentity", Some(wire::API_VERSION)) => {
                    get_caller_identity::handle(self, &req, &params, env, &mut trace)
                        .map(|xml| ("GetCallerIdentity", xml))
                }
                (a, v) => Err(StsError::new(
                    "InvalidAction",
                    http::StatusCode::BAD_REQUEST,
                    wire::msg::invalid_action(a, v.unwrap_or("NO_VERSION_SPECIFIED")),
                )),
            };
        let now = env.now();
        let mut fields: Vec<(&str, String)> = vec![
            ("action", action),
            ("request_id", request_id.clone()),
            ("region", self.config.region.clone()),
        ];
        let response = match result {
            Ok((op, children)) => {
                fields.push(("outcome", "ok".to_owned()));
                wire::xml_response(
                    http::StatusCode::OK,
                    wire::success_xml(op, &children, &request_id),
                    &request_id,
                    now,
                )
            }
            Err(err) => {
                fields.push(("outcome", "error".to_owned()));
                fields.push(("error_code", err.code.to_owned()));
                fields.push(("http_status", err.status.as_u16().to_string()));
                wire::xml_response(
                    err.status,
                    wire::error_xml(&err, &request_id),
                    &request_id,
                    now,
                )
            }
        };
        fields.extend(trace.0.iter().map(|(k, v)| (*k, v.clone())));
        env.record("sts.request", &fields);
        response
    }
}
