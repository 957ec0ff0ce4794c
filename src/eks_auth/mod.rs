//! The Amazon EKS Auth service: `AssumeRoleForPodIdentity`, the API the EKS Pod Identity Agent
//! calls to trade a pod's service-account token for the credentials of the role associated with
//! its service account.
//!
//! It stands for the regional endpoint `https://eks-auth.<region>.api.aws` (port 443; plain HTTP
//! on the simulated wire) and speaks restJson1 per the `eks-auth` 2023-11-26 model (see [`wire`]).
//! Facts come from `shared/reference/agent.md` §3–§5 and `iam.md` §1.8–§1.10.
//!
//! One call, in order (the order is a modelling choice; every step's error is the model's shape):
//! 0. under a fault switched on by the fault injector ([`runtime::refuse_request`]) the call is
//!    refused first: `ThrottlingException` (429) or `ServiceUnavailableException` (503);
//! 1. the token bucket ([`throttle`]) admits the request, else `ThrottlingException` (429);
//! 2. the request is parsed and validated ([`wire::parse_request`]); an unknown cluster is
//!    `ResourceNotFoundException` `"No cluster found for name: <name>."` (the EKS API's wording);
//! 3. the token ([`token`]) is decoded, its `iss` must be the cluster's issuer, its RS256 signature
//!    must verify against the cluster's JWKS, fetched over the network from the issuer and cached
//!    ([`keys`]), then `aud` ∋ `pods.eks.amazonaws.com`, `exp`/`nbf` against EKS Auth's clock
//!    (`ExpiredTokenException` / `InvalidTokenException`), `sub` and the pod binding;
//! 4. the association of the token's namespace and service account comes from the EKS API's
//!    simulator-only endpoint, cached ([`associations`]); none → `ResourceNotFoundException` (404);
//! 5. STS `AssumeRole` over the network, SigV4-signed with EKS Auth's service identity (STS knows
//!    it as `pods.eks.amazonaws.com`, see `StsService::register_service_identity`), with
//!    `RoleSessionName` `eks-<cluster>-<pod>-<uuid>` ([`sts_client::role_session_name`]),
//!    `DurationSeconds` = `credential_duration_s` (6 h: the EKS guide's cache lifetime for an
//!    association without a target role), the six session tags, all transitive (`eks-cluster-arn`,
//!    `eks-cluster-name`, `kubernetes-namespace`, `kubernetes-service-account`,
//!    `kubernetes-pod-name`, `kubernetes-pod-uid`) unless `disableSessionTags`, the association's
//!    `policy` as `Policy` (on this hop only without a target role), and the service context
//!    `aws:SourceAccount` = the cluster's account and `aws:SourceArn` (see [`SourceArn`]);
//! 6. with `targetRoleArn`, a second `AssumeRole` signed with the first session's credentials
//!    (role chaining): `DurationSeconds` = `chained_duration_s` (59 min, the EKS guide's cache
//!    lifetime with a target role; STS caps chained sessions at 1 h), no new tags (the six are
//!    inherited transitively, and passing them again would fail), `ExternalId` when session tags are
//!    off (the association's `externalId` if the EKS API sends one, else the EKS guide's
//!    `<region>/<account>/<cluster>/<namespace>/<service account>`), and `policy` here;
//! 7. STS failures map to EKS Auth errors ([`sts_client::map_failure`]); success is the model's
//!    five-member response with the final hop's credentials (`assumedRoleUser.arn` is STS's
//!    assumed-role ARN).
//!
//! Every call records one `eks_auth.request` trace event: `cluster`, `namespace`,
//! `service_account`, `pod` (= `pod_name`), `pod_name`, `pod_uid`, `token_aud` (the `aud` claims
//! joined by `,`), `token_exp_s` (the token's `exp`), `outcome` (`ok`/`error`), `error_code`,
//! `http_status`, `association_id`, `role_arn`, `target_role_arn`, `access_key_id`, `expiration` and
//! `expiration_s` (epoch s, as STS issued it), `ms` (time spent, simulated). Key and association fetches record `eks_auth.jwks_fetch` and
//! `eks_auth.associations_fetch` (`cluster`, `outcome`). Never a token, secret or session token.
//!
//! State (caches, the token bucket) lives in the process and is lost on a crash, as it would be.

pub mod associations;
pub mod keys;
pub mod sts_client;
pub mod throttle;
pub mod token;
pub mod wire;

#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use rand_chacha::rand_core::Rng;
use tokio::time::Instant;

use crate::http::{self, HttpClient, HttpError, Request, Response, Timeouts};
use crate::jwt::{Jwk, Jwks, OidcDiscovery, VerificationMemo};
use crate::runtime::{self, FieldValue, fields};
use associations::{Association, AssociationList};
use keys::KeysEntry;
use sts_client::{AssumeRoleCall, StsCredentials, StsFailure};
use throttle::TokenBucket;
use token::PodIdentity;
use wire::{AssumeRoleForPodIdentityResponse, EksAuthError, ErrorCode};

/// One cluster EKS Auth serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EksAuthCluster {
    /// The cluster name in the request path.
    pub name: String,
    /// `arn:aws:eks:<region>:<account>:cluster/<name>`: the `eks-cluster-arn` tag, and the source
    /// of the account for `aws:SourceAccount` and the external id.
    pub arn: String,
    /// The cluster's OIDC issuer URL, `https://oidc.eks.<region>.amazonaws.com/id/<ID>`: tokens
    /// must carry it as `iss`, and keys are discovered from it.
    pub issuer: String,
}

impl EksAuthCluster {
    /// The account id in the cluster ARN.
    pub fn account_id(&self) -> &str {
        self.arn.split(':').nth(4).unwrap_or_default()
    }
}

/// What EKS Auth sends STS as `aws:SourceArn` on the first hop. AWS samples condition Pod Identity
/// trust policies on `aws:SourceAccount`; which ARN comes as `aws:SourceArn` is not documented
/// (`iam.md` §1.8: blogs say the cluster ARN; a user expected the association ARN and it did not
/// match, mountpoint-s3-csi-driver#781), so it is a parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceArn {
    /// The cluster ARN (default).
    Cluster,
    /// The association ARN.
    Association,
    /// No `aws:SourceArn`.
    Omit,
}

/// Configuration of the EKS Auth endpoint of one account in one region.
#[derive(Clone, Debug)]
pub struct EksAuthConfig {
    /// The region this endpoint serves (`eks-auth.<region>.api.aws`); SigV4 region of its STS calls.
    pub region: String,
    /// The clusters of this account and region; a request for any other name is
    /// `ResourceNotFoundException`.
    pub clusters: Vec<EksAuthCluster>,
    /// Port to serve on: 443.
    pub port: u16,
    /// Base URL of the EKS API host serving the simulator-only association endpoint,
    /// `https://eks.<region>.amazonaws.com`.
    pub eks_api_url: String,
    /// Base URL of STS, `https://sts.<region>.amazonaws.com` (regional endpoint).
    pub sts_url: String,
    /// The access key id STS knows EKS Auth's service identity by.
    pub service_access_key_id: String,
    /// The secret it signs with (STS does not verify signatures yet; kept so requests are real
    /// SigV4).
    pub service_secret_access_key: String,
    /// The audience a token must carry: `pods.eks.amazonaws.com` (`agent.md` §5), also returned
    /// as `audience`.
    pub audience: String,
    /// `DurationSeconds` of the association role's session: 21600 (6 h, EKS guide "Caching
    /// considerations"; the real request value is not published, \[unk\]).
    pub credential_duration_s: u32,
    /// `DurationSeconds` of the target role's session (role chaining): 3540 (59 min, EKS guide
    /// "Caching considerations"; STS's chaining cap is 3600).
    pub chained_duration_s: u32,
    /// How long a cluster's association list is reused: 10 s (\[unk\]; adds to the EKS API's
    /// propagation delay).
    pub associations_cache_ttl_s: u64,
    /// JWKS cache lifetime without `Cache-Control: max-age`: 3600 s (\[unk\], as STS).
    pub jwks_cache_ttl_s_default: u64,
    /// Cap on any JWKS cache lifetime: 86400 s (a bound, \[unk\]).
    pub jwks_cache_ttl_s_max: u64,
    /// At most one unknown-`kid` refetch per issuer per this many seconds: 10 (\[unk\]).
    pub jwks_refetch_interval_s_min: u64,
    /// Clock-skew tolerance on `exp`/`nbf`, seconds: 0 (\[unk\]; the agent's own check uses 0).
    pub leeway_s: u64,
    /// Token-bucket refill rate, requests per second: 50 (\[unk\]: no published limit; users
    /// report a low one, `agent.md` §3.4).
    pub throttle_rate_per_s: u64,
    /// Token-bucket size: 100 (\[unk\]).
    pub throttle_burst: u64,
    /// Connect timeout of every upstream call (issuer, EKS API, STS), ms: 1000 (\[unk\]).
    pub upstream_connect_timeout_ms: u64,
    /// Whole-request timeout of every upstream call, ms: 5000 (\[unk\]; STS's IdP timeout).
    pub upstream_timeout_ms: u64,
    /// `eks-<cluster>-<pod>` is cut to this many characters in the role session name: 26 (fits
    /// the one observed real name, see [`sts_client::role_session_name`]).
    pub session_name_prefix_chars_max: usize,
    /// What `aws:SourceArn` carries (see [`SourceArn`]).
    pub source_arn: SourceArn,
    /// Memoised RS256 verifications (`crypto.md`): 10000.
    pub jwt_verify_memo_entries_max: usize,
}

impl EksAuthConfig {
    /// Defaults for `region`, with upstream URLs derived from it.
    pub fn new(region: &str, clusters: Vec<EksAuthCluster>, service_access_key_id: &str) -> EksAuthConfig {
        EksAuthConfig {
            region: region.to_owned(),
            clusters,
            port: 443,
            eks_api_url: format!("https://eks.{region}.amazonaws.com"),
            sts_url: format!("https://sts.{region}.amazonaws.com"),
            service_access_key_id: service_access_key_id.to_owned(),
            service_secret_access_key: "credsim-eks-auth-service-secret".to_owned(),
            audience: "pods.eks.amazonaws.com".to_owned(),
            credential_duration_s: 21600,
            chained_duration_s: 3540,
            associations_cache_ttl_s: 10,
            jwks_cache_ttl_s_default: 3600,
            jwks_cache_ttl_s_max: 86400,
            jwks_refetch_interval_s_min: 10,
            leeway_s: 0,
            throttle_rate_per_s: 50,
            throttle_burst: 100,
            upstream_connect_timeout_ms: 1000,
            upstream_timeout_ms: 5000,
            session_name_prefix_chars_max: 26,
            source_arn: SourceArn::Cluster,
            jwt_verify_memo_entries_max: 10_000,
        }
    }

    /// The host name EKS Auth is reached at: `eks-auth.<region>.api.aws`.
    pub fn host_name(&self) -> String {
        format!("eks-auth.{}.api.aws", self.region)
    }
}

/// Serves EKS Auth on this host until the host stops.
pub async fn run(config: EksAuthConfig) {
    let port = config.port.to_string();
    let me = Rc::new(EksAuth::new(config));
    let e = http::serve(&port, move |req| {
        let me = me.clone();
        async move { me.handle(req).await }
    })
    .await;
    runtime::record("eks_auth.stopped", fields!["error" => e.to_string()]);
}

/// The EKS Auth process.
struct EksAuth {
    config: EksAuthConfig,
    client: HttpClient,
    state: RefCell<State>,
}

/// Mutable state, borrowed only between awaits.
struct State {
    /// JWKS by issuer URL; bounded by the number of clusters.
    keys: BTreeMap<String, KeysEntry>,
    /// Association lists by cluster name with their fetch time; bounded by the number of clusters.
    associations: BTreeMap<String, (Vec<Association>, Instant)>,
    bucket: TokenBucket,
    /// Bounded by `jwt_verify_memo_entries_max`.
    memo: VerificationMemo,
    /// Associations ever seen by (cluster, namespace, service account): filled only while the
    /// planted bug `EksAuthIgnoresDeletion` is on (bounded by the associations created in the run).
    seen: BTreeMap<(String, String, String), Association>,
}

/// Fields of the `eks_auth.request` event, filled in as the call proceeds.
#[derive(Default)]
struct Trace(Vec<(&'static str, FieldValue)>);

impl Trace {
    fn set(&mut self, name: &'static str, value: impl Into<FieldValue>) {
        let value = value.into();
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }
}

impl EksAuth {
    fn new(config: EksAuthConfig) -> EksAuth {
        let bucket = TokenBucket::new(config.throttle_rate_per_s, config.throttle_burst, Instant::now());
        let memo = VerificationMemo::new(config.jwt_verify_memo_entries_max);
        EksAuth {
            config,
            client: HttpClient::new(),
            state: RefCell::new(State { keys: BTreeMap::new(), associations: BTreeMap::new(), bucket, memo, seen: BTreeMap::new() }),
        }
    }

    fn timeouts(&self) -> Timeouts {
        Timeouts {
            connect: Duration::from_millis(self.config.upstream_connect_timeout_ms),
            request: Duration::from_millis(self.config.upstream_timeout_ms),
        }
    }

    async fn handle(&self, req: Request) -> Response {
        let started = Instant::now();
        let request_id = runtime::with_rng(|r| {
            let mut b = [0u8; 16];
            r.fill_bytes(&mut b);
            sts_client::uuid_v4(b)
        });
        let mut trace = Trace::default();
        let cluster = wire::cluster_from_path(req.uri().path()).map(str::to_owned);
        let refusal = runtime::refuse_request();
        let resp = match cluster {
            // A fault switched on by the injector: the model's `ThrottlingException` (429) or
            // `ServiceUnavailableException` (503), before any work.
            _ if refusal.is_some() => {
                if let Some(cluster) = &cluster {
                    trace.set("cluster", cluster.clone());
                }
                let e = match refusal {
                    Some(runtime::Refusal::Throttled) => EksAuthError::new(ErrorCode::ThrottlingException, "Rate exceeded"),
                    _ => EksAuthError::new(
                        ErrorCode::ServiceUnavailableException,
                        "The service is unavailable. Back off and retry the operation.",
                    ),
                };
                trace.set("outcome", "error");
                trace.set("error_code", e.code.name());
                trace.set("http_status", u64::from(e.code.status()));
                wire::error(&e, &request_id)
            }
            Some(cluster) if req.method() == ::http::Method::POST => {
                trace.set("cluster", cluster.clone());
                match self.assume_role_for_pod_identity(&cluster, req.body(), &mut trace).await {
                    Ok(body) => {
                        trace.set("outcome", "ok");
                        trace.set("http_status", 200u64);
                        wire::success(&body, &request_id)
                    }
                    Err(e) => {
                        trace.set("outcome", "error");
                        trace.set("error_code", e.code.name());
                        trace.set("http_status", u64::from(e.code.status()));
                        wire::error(&e, &request_id)
                    }
                }
            }
            _ => {
                trace.set("outcome", "error");
                trace.set("error_code", "UnknownOperationException");
                trace.set("http_status", 404u64);
                wire::unknown_operation(&request_id)
            }
        };
        trace.set("request_id", request_id);
        trace.set("ms", u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
        runtime::record("eks_auth.request", trace.0);
        resp
    }

    async fn assume_role_for_pod_identity(
        &self,
        cluster_name: &str,
        body: &Bytes,
        trace: &mut Trace,
    ) -> Result<AssumeRoleForPodIdentityResponse, EksAuthError> {
        // 1. Rate limit.
        if !self.state.borrow_mut().bucket.try_take(Instant::now()) {
            return Err(EksAuthError::new(ErrorCode::ThrottlingException, "Rate exceeded"));
        }
        // 2. Request and cluster.
        let req = wire::parse_request(cluster_name, body)?;
        if let Some(node) = &req.eks_node_name {
            trace.set("node", node.clone());
        }
        let cluster = self.config.clusters.iter().find(|c| c.name == req.cluster_name).ok_or_else(|| {
            EksAuthError::new(ErrorCode::ResourceNotFoundException, format!("No cluster found for name: {}.", req.cluster_name))
        })?;

        // 3. Token.
        let pod = self.validate_token(cluster, &req.token, trace).await?;
        trace.set("namespace", pod.namespace.clone());
        trace.set("service_account", pod.service_account.clone());
        trace.set("pod", pod.pod_name.clone());
        trace.set("pod_name", pod.pod_name.clone());
        trace.set("pod_uid", pod.pod_uid.clone());

        // 4. Association.
        let list = self.associations(cluster).await?;
        let key = (cluster.name.clone(), pod.namespace.clone(), pod.service_account.clone());
        let fresh = associations::find(&list, &pod.namespace, &pod.service_account).cloned();
        let found = if runtime::bug(crate::bugs::Bug::EksAuthIgnoresDeletion) {
            // Planted bug: every association ever seen is remembered, and one missing from the fresh
            // list is still honoured, so a deleted association keeps issuing. The real service answers
            // from the current list only (`ResourceNotFoundException` once the deletion propagated).
            let mut state = self.state.borrow_mut();
            match fresh {
                Some(a) => {
                    state.seen.insert(key, a.clone());
                    Some(a)
                }
                None => state.seen.get(&key).cloned(),
            }
        } else {
            fresh
        };
        let association = found.ok_or_else(|| {
            // [unk] wording.
            EksAuthError::new(
                ErrorCode::ResourceNotFoundException,
                format!(
                    "No Pod Identity Association found for service account {} in namespace {} of cluster {}.",
                    pod.service_account, pod.namespace, cluster.name
                ),
            )
        })?;
        trace.set("association_id", association.association_id.clone());
        trace.set("role_arn", association.role_arn.clone());
        if let Some(t) = &association.target_role_arn {
            trace.set("target_role_arn", t.clone());
        }

        // 5. First hop, as the service.
        let uuid = runtime::with_rng(|r| {
            let mut b = [0u8; 16];
            r.fill_bytes(&mut b);
            sts_client::uuid_v4(b)
        });
        let session_name =
            sts_client::role_session_name(&cluster.name, &pod.pod_name, &uuid, self.config.session_name_prefix_chars_max);
        let tags = if association.disable_session_tags { Vec::new() } else { session_tags(cluster, &pod) };
        let target = association.target_role_arn.as_deref();
        let first = AssumeRoleCall {
            role_arn: &association.role_arn,
            role_session_name: &session_name,
            duration_s: self.config.credential_duration_s,
            tags: &tags,
            tags_transitive: true,
            external_id: None,
            policy: if target.is_none() { association.policy.as_deref() } else { None },
        };
        let source_arn = match self.config.source_arn {
            SourceArn::Cluster => Some(cluster.arn.clone()),
            SourceArn::Association => Some(association.association_arn.clone()),
            SourceArn::Omit => None,
        };
        let mut source = vec![(crate::sts::SOURCE_ACCOUNT_HEADER, cluster.account_id().to_owned())];
        if let Some(arn) = source_arn {
            source.push((crate::sts::SOURCE_ARN_HEADER, arn));
        }
        let mut creds = self.call_sts(None, &first, &source).await.map_err(|f| {
            trace.set("sts_error", f.code.clone());
            sts_client::map_failure(&f)
        })?;

        // 6. Target role (role chaining).
        if let Some(target_arn) = target {
            let external_id = association.disable_session_tags.then(|| {
                association.external_id.clone().unwrap_or_else(|| {
                    format!(
                        "{}/{}/{}/{}/{}",
                        self.config.region,
                        cluster.account_id(),
                        cluster.name,
                        pod.namespace,
                        pod.service_account
                    )
                })
            });
            let second = AssumeRoleCall {
                role_arn: target_arn,
                role_session_name: &session_name,
                duration_s: self.config.chained_duration_s,
                tags: &[],
                tags_transitive: false,
                external_id: external_id.as_deref(),
                policy: association.policy.as_deref(),
            };
            creds = self.call_sts(Some(&creds), &second, &[]).await.map_err(|f| {
                trace.set("sts_error", f.code.clone());
                sts_client::map_failure(&f)
            })?;
        }
        trace.set("access_key_id", creds.access_key_id.clone());
        trace.set("expiration", creds.expiration_s);
        // The expiry as STS issued it (STS's clock; the true clock unless STS is skewed).
        trace.set("expiration_s", creds.expiration_s);

        Ok(AssumeRoleForPodIdentityResponse {
            subject: wire::Subject { namespace: pod.namespace, service_account: pod.service_account },
            audience: self.config.audience.clone(),
            pod_identity_association: wire::PodIdentityAssociationRef {
                association_arn: association.association_arn,
                association_id: association.association_id,
            },
            assumed_role_user: wire::AssumedRoleUser { arn: creds.assumed_role_arn, assume_role_id: creds.assumed_role_id },
            credentials: wire::Credentials {
                session_token: creds.session_token,
                secret_access_key: creds.secret_access_key,
                access_key_id: creds.access_key_id,
                expiration: creds.expiration_s,
            },
        })
    }

    /// Step 3: decode, issuer, signature, then the claims.
    async fn validate_token(&self, cluster: &EksAuthCluster, token: &str, trace: &mut Trace) -> Result<PodIdentity, EksAuthError> {
        let (header, payload) = token::decode(token)?;
        token::check_issuer(&payload, &cluster.issuer)?;
        if header.alg != "RS256" {
            return Err(EksAuthError::new(ErrorCode::InvalidTokenException, "The token is not signed with RS256."));
        }
        let candidates = self.verification_keys(cluster, header.kid.as_deref()).await?;
        {
            let mut state = self.state.borrow_mut();
            if !candidates.iter().any(|jwk| state.memo.verify(token, jwk).is_ok()) {
                return Err(EksAuthError::new(ErrorCode::InvalidTokenException, "The token signature is invalid."));
            }
        }
        let now_s = i64::try_from(runtime::unix_s(runtime::now())).unwrap_or(i64::MAX);
        let leeway = i64::try_from(self.config.leeway_s).unwrap_or(i64::MAX);
        let pod = token::check_claims(&payload, &self.config.audience, now_s, leeway)?;
        let aud: Vec<&str> = match payload.get("aud") {
            Some(serde_json::Value::String(a)) => vec![a.as_str()],
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(serde_json::Value::as_str).collect(),
            _ => Vec::new(),
        };
        trace.set("token_aud", aud.join(","));
        trace.set("token_exp_s", payload.get("exp").and_then(serde_json::Value::as_u64).unwrap_or(0));
        Ok(pod)
    }

    /// The issuer's keys that may have signed a token with `kid`, from the cache or the network.
    async fn verification_keys(&self, cluster: &EksAuthCluster, kid: Option<&str>) -> Result<Vec<Jwk>, EksAuthError> {
        let now = Instant::now();
        let cached = self.state.borrow().keys.get(&cluster.issuer).cloned();
        let (entry, fetched_now) = match cached {
            Some(e) if now < e.expires_at => (e, false),
            _ => (self.fetch_keys(cluster).await?, true),
        };
        let keys = entry.candidates(kid);
        if !keys.is_empty() {
            return Ok(keys);
        }
        let refetch_due = entry.fetched_at + Duration::from_secs(self.config.jwks_refetch_interval_s_min) <= now;
        // Planted bug: an unknown `kid` never triggers a refetch, so a key rotated in before the cache
        // expires is refused until the TTL runs out. The real cache refetches (rate-limited) here.
        let no_refetch = runtime::bug(crate::bugs::Bug::JwksNoRefetch);
        if !fetched_now && refetch_due && !no_refetch {
            let keys = self.fetch_keys(cluster).await?.candidates(kid);
            if !keys.is_empty() {
                return Ok(keys);
            }
        }
        Err(EksAuthError::new(ErrorCode::InvalidTokenException, "The token was signed with an unknown key."))
    }

    /// Discovery, then JWKS; stores the entry.
    async fn fetch_keys(&self, cluster: &EksAuthCluster) -> Result<KeysEntry, EksAuthError> {
        let t0 = Instant::now();
        let unavailable = |why: String| {
            runtime::record("eks_auth.jwks_fetch", fields!["cluster" => &cluster.name, "outcome" => why, "ms" => t0.elapsed().as_millis() as u64]);
            // [unk] what EKS Auth answers when it cannot get a cluster's keys.
            EksAuthError::new(ErrorCode::ServiceUnavailableException, "Unable to retrieve the signing keys of the cluster's OIDC issuer.")
        };
        let t = self.timeouts();
        let resp = self.client.get(&OidcDiscovery::url_for_issuer(&cluster.issuer), &[], t).await.map_err(|e| unavailable(e.code()))?;
        if resp.status() != 200 {
            return Err(unavailable(format!("discovery http {}", resp.status().as_u16())));
        }
        let discovery: OidcDiscovery = serde_json::from_slice(resp.body()).map_err(|_| unavailable("discovery bad json".into()))?;
        let resp = self.client.get(&discovery.jwks_uri, &[], t).await.map_err(|e| unavailable(e.code()))?;
        if resp.status() != 200 {
            return Err(unavailable(format!("jwks http {}", resp.status().as_u16())));
        }
        let jwks: Jwks = serde_json::from_slice(resp.body()).map_err(|_| unavailable("jwks bad json".into()))?;
        let cc = resp.headers().get(::http::header::CACHE_CONTROL).and_then(|v| v.to_str().ok());
        let ttl = keys::cache_ttl_s(cc, self.config.jwks_cache_ttl_s_default, self.config.jwks_cache_ttl_s_max);
        let now = Instant::now();
        let entry = KeysEntry { jwks, fetched_at: now, expires_at: now + Duration::from_secs(ttl) };
        self.state.borrow_mut().keys.insert(cluster.issuer.clone(), entry.clone());
        runtime::record("eks_auth.jwks_fetch", fields!["cluster" => &cluster.name, "outcome" => "ok", "ms" => t0.elapsed().as_millis() as u64]);
        Ok(entry)
    }

    /// Step 4: the cluster's associations, from the cache while fresh. When a refresh fails the
    /// previous list is used (\[unk\]; stale data beats an outage for a read path), and without one
    /// the call is `ServiceUnavailableException`.
    async fn associations(&self, cluster: &EksAuthCluster) -> Result<Vec<Association>, EksAuthError> {
        let now = Instant::now();
        let ttl = Duration::from_secs(self.config.associations_cache_ttl_s);
        let cached = self.state.borrow().associations.get(&cluster.name).cloned();
        if let Some((list, at)) = &cached
            && now.duration_since(*at) < ttl
        {
            return Ok(list.clone());
        }
        let url = format!("{}{}", self.config.eks_api_url.trim_end_matches('/'), associations::internal_path(&cluster.name));
        let fetched: Result<Vec<Association>, String> = match self.client.get(&url, &[], self.timeouts()).await {
            Err(e) => Err(e.code()),
            // The EKS API does not know the cluster: it has no associations.
            Ok(resp) if resp.status() == 404 => Ok(Vec::new()),
            Ok(resp) if resp.status() != 200 => Err(format!("http {}", resp.status().as_u16())),
            Ok(resp) => serde_json::from_slice::<AssociationList>(resp.body())
                .map(|l| l.associations)
                .map_err(|_| "bad json".to_owned()),
        };
        match fetched {
            Ok(list) => {
                runtime::record(
                    "eks_auth.associations_fetch",
                    fields!["cluster" => &cluster.name, "outcome" => "ok", "count" => list.len()],
                );
                self.state.borrow_mut().associations.insert(cluster.name.clone(), (list.clone(), now));
                Ok(list)
            }
            Err(why) => {
                runtime::record("eks_auth.associations_fetch", fields!["cluster" => &cluster.name, "outcome" => why]);
                match cached {
                    Some((list, _)) => Ok(list),
                    None => Err(EksAuthError::new(
                        ErrorCode::ServiceUnavailableException,
                        "The service is unavailable. Back off and retry the operation.",
                    )),
                }
            }
        }
    }

    /// One `AssumeRole`, signed with EKS Auth's service identity or with `creds`.
    async fn call_sts(
        &self,
        creds: Option<&StsCredentials>,
        call: &AssumeRoleCall<'_>,
        extra_headers: &[(&str, String)],
    ) -> Result<StsCredentials, StsFailure> {
        let body = sts_client::form_body(call);
        let target = http::parse_url(&self.config.sts_url).map_err(|e| transport(&e))?;
        let (akid, secret, token) = match creds {
            Some(c) => (c.access_key_id.as_str(), c.secret_access_key.as_str(), c.session_token.as_str()),
            None => (self.config.service_access_key_id.as_str(), self.config.service_secret_access_key.as_str(), ""),
        };
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";
        let signed = crate::sigv4::sign_post(
            akid,
            secret,
            token,
            &self.config.region,
            "sts",
            &target.host_header,
            "/",
            content_type,
            body.as_bytes(),
            runtime::now(),
        );
        let mut b = ::http::Request::post("/")
            .header(::http::header::CONTENT_TYPE, content_type)
            .header(::http::header::AUTHORIZATION, signed.authorization)
            .header("x-amz-date", signed.amz_date);
        if !token.is_empty() {
            b = b.header("x-amz-security-token", signed.security_token);
        }
        for (k, v) in extra_headers {
            b = b.header(*k, v.as_str());
        }
        let req = b.body(Bytes::from(body)).map_err(|e| StsFailure { code: "bad_request".into(), message: e.to_string(), status: 0 })?;
        let url = format!("{}/", self.config.sts_url.trim_end_matches('/'));
        let resp = self.client.send(&url, req, self.timeouts()).await.map_err(|e| transport(&e))?;
        sts_client::parse_response(resp.status().as_u16(), resp.body())
    }
}

fn transport(e: &HttpError) -> StsFailure {
    StsFailure { code: format!("transport_{}", e.code()), message: e.to_string(), status: 0 }
}

/// The six Pod Identity session tags (`iam.md` §1.8), in the EKS guide's order.
pub fn session_tags(cluster: &EksAuthCluster, pod: &PodIdentity) -> Vec<(String, String)> {
    [
        ("eks-cluster-arn", cluster.arn.as_str()),
        ("eks-cluster-name", cluster.name.as_str()),
        ("kubernetes-namespace", pod.namespace.as_str()),
        ("kubernetes-service-account", pod.service_account.as_str()),
        ("kubernetes-pod-name", pod.pod_name.as_str()),
        ("kubernetes-pod-uid", pod.pod_uid.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}
