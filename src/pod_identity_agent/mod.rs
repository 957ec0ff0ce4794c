//! The EKS Pod Identity Agent: the DaemonSet (`aws/eks-pod-identity-agent`, modelled at v0.1.37,
//! `d4dc0f3`) that runs on every node with `hostNetwork` and turns a pod's projected service-account
//! token into AWS credentials.
//!
//! Protocol, as SDKs and EKS Auth see it (`shared/reference/agent.md` §1–2, `sdk.md` §5):
//!
//! * it listens on `169.254.170.23:80` on its node (and `[fd00:ec2::23]:80` when configured for IPv6);
//!   a pod on that node reaches it there. Each bind address is a separate server with its own rate
//!   limiter, cache and EKS Auth client, as upstream's `createServers` builds one handler per address;
//! * `GET /v1/credentials` (exact path; any other is Go's 404 `404 page not found`; any method) behind
//!   a token bucket of 1000 req/s, burst 500 (`429 Too Many Requests`); the raw `Authorization` header is
//!   the token; the checks of [`validation`] answer 403/400 with upstream's plain-text bodies;
//! * then credentials come from the [`cache`] or from EKS Auth ([`eks_auth`]):
//!   `POST https://eks-auth.<region>.api.aws/clusters/<cluster>/assume-role-for-pod-identity`, SigV4 with
//!   the node role; a 200 to the SDK is `{"AccessKeyId","SecretAccessKey","Token","AccountId",
//!   "Expiration"}`; an error passes EKS Auth's status through (500 when there was no response) with
//!   the body `[<request id>]: (<code>): <message>, fault: <client|server|unknown>`.
//!
//! Every plain-text error is written as Go's `http.Error` writes it: `text/plain; charset=utf-8`,
//! `X-Content-Type-Options: nosniff`, message and a newline.
//!
//! Not modelled: the probe (`localhost:2703`) and metrics (`:2705`) servers, the 30 s server
//! read/write timeouts (the request path is bounded well below them), Go `ServeMux` path cleaning
//! (301 redirects for `//` paths), the newer agent's local JWT validation, IMDS-delivered credentials
//! and pod-liveness checks (§2b), and a Go panic (connection dropped) on a 200 from EKS Auth without
//! `podIdentityAssociation` (treated as an empty association id).
//!
//! Trace events:
//! * `agent.started` {bind, cache}, `agent.stopped` {bind, error};
//! * `agent.request` {pod, namespace, service_account, status, cache, error_code, ms}: one per reply
//!   from a credential server, with {access_key_id, expiration_s, pod_uid} of what was served on a 200.
//!   `cache` is `hit`, `stale` (a hit on an entry whose last renewal
//!   failed: stale credentials served while EKS Auth errs), `coalesced` (a hit after waiting for an
//!   identical request in flight), `miss` (EKS Auth was called on the request path), `expired` (only
//!   with the planted bug `agent-serves-expired`: expired credentials served after a failed fetch), or empty when
//!   the cache played no part (cache disabled, or the request was refused before it). `pod`… come from
//!   the token's unverified `kubernetes.io` claims (empty when refused before parsing). `error_code`
//!   is the EKS Auth error code or transport code of a failure (`Unknown` for the agent's own
//!   failures), empty on success and for local refusals (403/400/404/429);
//! * `agent.eks_auth` {pod, namespace, service_account, purpose (request|renewal), attempt, status
//!   (0: no response), error_code (empty on success), ms}: one per HTTP call to EKS Auth (each retry
//!   attempt is a call);
//! * `agent.cache_refresh` {pod, namespace, outcome (ok|kept|dropped|too_old|rate_limited), code};
//! * `agent.cache_evict` {pod, namespace, reason (expired|capacity|irrecoverable|min_ttl)}.
//!
//! No token, secret key or session token ever enters a field.

pub mod cache;
pub mod eks_auth;
pub mod limiter;
pub mod validation;

#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio::time::Instant;

pub use cache::{CacheKey, CacheRules, CredentialCache, EvictReason, Evicted, InFlight, KeepOutcome, Lookup};
pub use eks_auth::{AgentCredentials, EksAuthClient, FetchError, Fetched, Purpose};
pub use limiter::TokenBucket;
pub use validation::{Rejection, TokenIdentity};

use crate::http::{self, Request, Response};
use crate::runtime::{self, fields};

/// The agent's IPv4 link-local address (`configuration.DefaultIpv4TargetHost`).
pub const IPV4_ADDRESS: &str = "169.254.170.23";
/// The agent's IPv6 address (`configuration.DefaultIpv6TargetHost`).
pub const IPV6_ADDRESS: &str = "fd00:ec2::23";

/// The node role's credentials, with which the agent signs its EKS Auth calls (the instance profile
/// via the default chain upstream). EKS Auth in the simulation does not verify the signature.
#[derive(Clone)]
pub struct NodeCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

impl std::fmt::Debug for NodeCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCredentials").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

impl Default for NodeCredentials {
    fn default() -> Self {
        NodeCredentials {
            access_key_id: "ASIANODEROLEEXAMPLE0".into(),
            secret_access_key: "node-role-secret-access-key-example".into(),
            session_token: "node-role-session-token-example".into(),
        }
    }
}

/// Settings of one agent (the DaemonSet's flags and upstream's constants).
#[derive(Clone, Debug)]
pub struct PodIdentityAgentConfig {
    /// `--cluster-name` (required).
    pub cluster_name: String,
    /// The node's region: EKS Auth's endpoint and SigV4 scope.
    pub region: String,
    /// EKS Auth's base URL: `https://eks-auth.<region>.api.aws` (endpoint rule set, dual-stack suffix);
    /// `--endpoint` overrides it.
    pub eks_auth_url: String,
    /// `--bind-hosts`: upstream defaults to `169.254.170.23` and `[fd00:ec2::23]`; here the IPv4 address
    /// only, as the add-on runs in IPv4 clusters (`agent.md` §1.1, awsdocs #1092). Add
    /// `"[fd00:ec2::23]"` for IPv6. Any bind failure stops the whole agent (`log.Fatalf`).
    pub bind_hosts: Vec<String>,
    /// `--port` (80).
    pub port: u16,
    /// `Host` values the credential handler accepts (`defaultValidTargetHosts`: both addresses,
    /// whatever the bind hosts).
    pub target_hosts: Vec<String>,
    /// Per-server request limiter rate (`configuration.RequestRate` = 1000/s).
    pub request_rate_per_s: u32,
    /// Its burst (`RequestRate / 2` = 500, `ratelimiter.NewRateLimiter`).
    pub request_burst: u32,
    /// `--max-credential-retention-before-renewal` in seconds (3 h = 10800; 0 disables the cache): a
    /// cached entry is renewed `min(time to expiry, this)` after it was fetched.
    pub max_credential_retention_s: u64,
    /// `--max-cache-size` (2000 entries; 0 disables the cache).
    pub cache_entries_max: usize,
    /// `--max-service-qps` (3): background renewals per second (token bucket, burst = rate).
    pub refresh_qps: u32,
    /// Key the cache by the token's `kubernetes.io.pod.uid` claim, as newer agents do (PR #143/#154),
    /// instead of by the raw token (v0.1.37, the default). See [`CacheKey::PodUid`] for what is modelled.
    pub cache_by_pod_uid: bool,
    /// `defaultMinCredentialTtl` (15 s): credentials with no more left are neither stored nor served.
    pub credential_ttl_min: Duration,
    /// `defaultCleanupInterval` (1 min): the sweep's period.
    pub cleanup_interval: Duration,
    /// `defaultRetryInterval` (1 min): a failed renewal is retried after this…
    pub renewal_retry_interval: Duration,
    /// …plus `U[0, defaultMaxRetryJitter)` (1 min).
    pub renewal_retry_jitter_max: Duration,
    /// `renewalTimeout` (1 min): bound on one renewal (limiter wait and EKS Auth call).
    pub renewal_timeout: Duration,
    /// `defaultActiveRequestRetries` (9): polls of the cache while an identical request is in flight.
    pub coalesce_polls_max: u32,
    /// `defaultActiveRequestWaitTime` (200 ms) between those polls.
    pub coalesce_poll_interval: Duration,
    /// EKS Auth dial timeout (500 ms, `service.go`, PR #90).
    pub eks_auth_connect_timeout: Duration,
    /// EKS Auth whole-request timeout per attempt (1 s, `http.Client.Timeout`, PR #101).
    pub eks_auth_request_timeout: Duration,
    /// Standard retryer attempts (3, aws-sdk-go-v2 `retry.DefaultMaxAttempts`).
    pub eks_auth_attempts_max: u32,
    /// Standard retryer backoff cap (20 s, `retry.DefaultMaxBackoff`).
    pub eks_auth_backoff_max: Duration,
    /// Client-side retry quota (500 tokens, `retry.DefaultRetryRateTokens`).
    pub eks_auth_retry_quota_tokens: u32,
    /// Quota cost of a retry (5, `retry.DefaultRetryCost`).
    pub eks_auth_retry_cost: u32,
    /// Quota cost of a retry after a timeout (10, `retry.DefaultRetryTimeoutCost`).
    pub eks_auth_retry_timeout_cost: u32,
    /// Quota refill on a first-try success (1, `retry.DefaultNoRetryIncrement`).
    pub eks_auth_no_retry_increment: u32,
    /// The node role's credentials for SigV4.
    pub node_credentials: NodeCredentials,
}

impl PodIdentityAgentConfig {
    /// Upstream's defaults for a cluster in a region.
    pub fn new(cluster_name: &str, region: &str) -> PodIdentityAgentConfig {
        PodIdentityAgentConfig {
            cluster_name: cluster_name.to_string(),
            region: region.to_string(),
            eks_auth_url: format!("https://eks-auth.{region}.api.aws"),
            bind_hosts: vec![IPV4_ADDRESS.to_string()],
            port: 80,
            target_hosts: vec![IPV4_ADDRESS.to_string(), IPV6_ADDRESS.to_string()],
            request_rate_per_s: 1000,
            request_burst: 500,
            max_credential_retention_s: 3 * 3600,
            cache_entries_max: 2000,
            refresh_qps: 3,
            cache_by_pod_uid: false,
            credential_ttl_min: Duration::from_secs(15),
            cleanup_interval: Duration::from_secs(60),
            renewal_retry_interval: Duration::from_secs(60),
            renewal_retry_jitter_max: Duration::from_secs(60),
            renewal_timeout: Duration::from_secs(60),
            coalesce_polls_max: 9,
            coalesce_poll_interval: Duration::from_millis(200),
            eks_auth_connect_timeout: Duration::from_millis(500),
            eks_auth_request_timeout: Duration::from_millis(1000),
            eks_auth_attempts_max: 3,
            eks_auth_backoff_max: Duration::from_secs(20),
            eks_auth_retry_quota_tokens: 500,
            eks_auth_retry_cost: 5,
            eks_auth_retry_timeout_cost: 10,
            eks_auth_no_retry_increment: 1,
            node_credentials: NodeCredentials::default(),
        }
    }

    /// Both addresses, as upstream binds by default (dual-stack nodes).
    pub fn with_ipv6(mut self) -> Self {
        let v6 = format!("[{IPV6_ADDRESS}]");
        if !self.bind_hosts.contains(&v6) {
            self.bind_hosts.push(v6);
        }
        self
    }

    /// Whether the cache is on (`eks_credential_handler.go`: renewal TTL ≠ 0 and size ≠ 0).
    pub fn cache_enabled(&self) -> bool {
        self.max_credential_retention_s != 0 && self.cache_entries_max != 0
    }

    /// What stops the process at start-up upstream: a missing cluster name (cobra) and, with the cache
    /// on, `NewCachedCredentialRetriever`'s panic when `qps × renewal seconds < size / 2`.
    pub fn validate(&self) -> Result<(), String> {
        if self.cluster_name.is_empty() {
            return Err("required flag(s) \"cluster-name\" not set".into());
        }
        if self.bind_hosts.is_empty() {
            return Err("no bind hosts".into());
        }
        if self.request_rate_per_s == 0 || self.refresh_qps == 0 || self.cleanup_interval.is_zero() {
            return Err("rates and the sweep period must be positive".into());
        }
        if self.cache_enabled() {
            let renewal_s = self.max_credential_retention_s;
            if u64::from(self.refresh_qps).saturating_mul(renewal_s) < (self.cache_entries_max / 2) as u64 {
                return Err(format!(
                    "Refresh QPS is too small ({}) or credentials renewal to small ({:.2}s) to keep up with cache's size ({})",
                    self.refresh_qps, renewal_s as f64, self.cache_entries_max
                ));
            }
        }
        Ok(())
    }

    /// The EKS Auth client's part of the settings.
    pub fn eks_auth_client_config(&self) -> EksAuthClientConfig {
        EksAuthClientConfig {
            url: self.eks_auth_url.clone(),
            cluster_name: self.cluster_name.clone(),
            region: self.region.clone(),
            node_credentials: self.node_credentials.clone(),
            connect_timeout: self.eks_auth_connect_timeout,
            request_timeout: self.eks_auth_request_timeout,
            attempts_max: self.eks_auth_attempts_max,
            backoff_max: self.eks_auth_backoff_max,
            retry_quota_tokens: self.eks_auth_retry_quota_tokens,
            retry_cost: self.eks_auth_retry_cost,
            retry_timeout_cost: self.eks_auth_retry_timeout_cost,
            no_retry_increment: self.eks_auth_no_retry_increment,
        }
    }

    /// What the cache is keyed by.
    pub fn cache_key(&self) -> CacheKey {
        if self.cache_by_pod_uid { CacheKey::PodUid } else { CacheKey::Token }
    }

    fn cache_rules(&self) -> CacheRules {
        CacheRules {
            key: self.cache_key(),
            max_credential_retention_before_renewal: Duration::from_secs(self.max_credential_retention_s),
            entries_max: self.cache_entries_max,
            credential_ttl_min: self.credential_ttl_min,
            renewal_retry_interval: self.renewal_retry_interval,
            // Planted bug (see `CacheRules::keep_expired`): upstream evicts at expiry and never serves
            // credentials past it.
            keep_expired: runtime::bug(crate::bugs::Bug::AgentServesExpired),
        }
    }
}

/// Settings of one EKS Auth client (see the `eks_auth_*` fields of [`PodIdentityAgentConfig`]).
#[derive(Clone, Debug)]
pub struct EksAuthClientConfig {
    pub url: String,
    pub cluster_name: String,
    pub region: String,
    pub node_credentials: NodeCredentials,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub attempts_max: u32,
    pub backoff_max: Duration,
    pub retry_quota_tokens: u32,
    pub retry_cost: u32,
    pub retry_timeout_cost: u32,
    pub no_retry_increment: u32,
}

/// One credential server's run: ends only with its bind address and why it stopped.
type ServerFuture = Pin<Box<dyn Future<Output = (String, std::io::Error)>>>;

/// Runs the agent on this host until the host stops, or until a listener fails to bind (upstream
/// exits then, taking every server with it).
pub async fn run(config: PodIdentityAgentConfig) {
    if let Err(e) = config.validate() {
        runtime::record("agent.stopped", fields!["bind" => "", "error" => e]);
        return;
    }
    let cfg = Rc::new(config);
    let servers: Vec<ServerFuture> = cfg.bind_hosts.iter().map(|b| Box::pin(serve_one(cfg.clone(), b.clone())) as ServerFuture).collect();
    let ((bind, e), _, _) = futures_util::future::select_all(servers).await;
    runtime::record("agent.stopped", fields!["bind" => bind, "error" => e.to_string()]);
}

/// One credential server (one bind address) with its sweep.
async fn serve_one(cfg: Rc<PodIdentityAgentConfig>, bind_host: String) -> (String, std::io::Error) {
    let addr = format!("{bind_host}:{}", cfg.port);
    let server = Rc::new(CredentialServer::new(cfg.clone()));
    let mode = match (cfg.cache_enabled(), cfg.cache_key()) {
        (false, _) => "off",
        (true, CacheKey::Token) => "token",
        (true, CacheKey::PodUid) => "pod_uid",
    };
    runtime::record("agent.started", fields!["bind" => &addr, "cache" => mode]);
    let handler_server = server.clone();
    let serve = http::serve(&addr, move |req| {
        let s = handler_server.clone();
        async move { s.handle(req).await }
    });
    tokio::select! {
        biased;
        e = serve => (addr, e),
        never = server.clone().sweep_forever() => match never {},
    }
}

/// State of one credential server.
struct CredentialServer {
    cfg: Rc<PodIdentityAgentConfig>,
    /// The per-pattern request limiter.
    limiter: RefCell<TokenBucket>,
    /// `None` when the cache is disabled.
    cache: Option<RefCell<CredentialCache>>,
    in_flight: RefCell<InFlight>,
    /// Background renewal limiter (`refreshRateLimiter`).
    refresh_limiter: RefCell<TokenBucket>,
    eks_auth: EksAuthClient,
    /// Wakes the sweep when the request path stores an entry that may be due sooner.
    stored: Notify,
}

/// Removes an in-flight mark when the request that set it ends, however it ends (Go's `defer`; here
/// also when the pod hangs up and the handler is dropped).
struct Unmark<'a> {
    marks: &'a RefCell<InFlight>,
    token: &'a str,
}

impl Drop for Unmark<'_> {
    fn drop(&mut self) {
        self.marks.borrow_mut().unmark(self.token);
    }
}

/// The reply to a pod.
struct Outcome {
    status: u16,
    cache: &'static str,
    code: String,
    /// On a 200: the access key id and expiry (Unix s) of the credentials served.
    served: Option<(String, u64)>,
    response: Response,
}

/// `http.Error`: plain text, `nosniff`, message + newline.
pub fn go_error(status: u16, message: &str) -> Response {
    let mut r = http::response(status, "text/plain; charset=utf-8", format!("{message}\n"));
    r.headers_mut().insert("x-content-type-options", ::http::HeaderValue::from_static("nosniff"));
    r
}

impl CredentialServer {
    fn new(cfg: Rc<PodIdentityAgentConfig>) -> CredentialServer {
        let cache = cfg.cache_enabled().then(|| RefCell::new(CredentialCache::new(cfg.cache_rules())));
        CredentialServer {
            limiter: RefCell::new(TokenBucket::new(f64::from(cfg.request_rate_per_s), cfg.request_burst)),
            cache,
            in_flight: RefCell::new(InFlight::new(cfg.cache_entries_max)),
            refresh_limiter: RefCell::new(TokenBucket::new(f64::from(cfg.refresh_qps), cfg.refresh_qps)),
            eks_auth: EksAuthClient::new(cfg.eks_auth_client_config()),
            stored: Notify::new(),
            cfg,
        }
    }

    /// One request, start to reply, with its `agent.request` event.
    async fn handle(&self, req: Request) -> Response {
        let t0 = Instant::now();
        let mut who = TokenIdentity::default();
        let out = self.reply(&req, &mut who).await;
        let mut f = fields![
            "pod" => &who.pod,
            "namespace" => &who.namespace,
            "service_account" => &who.service_account,
            "status" => u64::from(out.status),
            "cache" => out.cache,
            "error_code" => out.code,
            "ms" => t0.elapsed().as_millis() as u64,
        ];
        if let Some((akid, exp_s)) = out.served {
            f.extend(fields!["access_key_id" => akid, "expiration_s" => exp_s, "pod_uid" => &who.pod_uid]);
        }
        runtime::record("agent.request", f);
        out.response
    }

    async fn reply(&self, req: &Request, who: &mut TokenIdentity) -> Outcome {
        let refuse = |status: u16, message: &str| Outcome { status, cache: "", code: String::new(), served: None, response: go_error(status, message) };
        // Go's server answers an HTTP/1.1 request without Host itself, before any handler.
        let Some(host) = req.headers().get(::http::header::HOST) else {
            let body = "400 Bad Request: missing required Host header";
            return Outcome {
                status: 400,
                cache: "",
                code: String::new(),
                served: None,
                response: http::response(400, "text/plain; charset=utf-8", body),
            };
        };
        let host = String::from_utf8_lossy(host.as_bytes()).into_owned();
        if req.uri().path() != validation::PATH_CREDENTIALS {
            return refuse(404, validation::NOT_FOUND_BODY);
        }
        if !self.limiter.borrow_mut().allow(runtime::elapsed()) {
            return refuse(429, validation::TOO_MANY_REQUESTS_BODY);
        }
        if let Err(r) = validation::check_host(&host, &self.cfg.target_hosts) {
            return refuse(r.status, &r.message);
        }
        let token = req
            .headers()
            .get(::http::header::AUTHORIZATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        *who = match validation::check_token(&token, runtime::now()) {
            Ok(w) => w,
            Err(r) => return refuse(r.status, &r.message),
        };
        let (result, cache) = self.credentials(&token, who).await;
        match result {
            Ok(c) => Outcome {
                status: 200,
                cache,
                code: String::new(),
                served: Some((c.access_key_id.clone(), runtime::unix_s(c.expiration))),
                response: http::response(200, "application/json", c.to_json()),
            },
            Err(e) => {
                let status = e.http_status();
                Outcome { status, cache, code: e.code(), served: None, response: go_error(status, &e.body(self.cache.is_some())) }
            }
        }
    }

    /// The (cached) retriever: `cachedCredentialRetriever.GetIamCredentials`, or EKS Auth directly.
    async fn credentials(&self, token: &str, who: &TokenIdentity) -> (Result<AgentCredentials, FetchError>, &'static str) {
        let Some(cache) = &self.cache else {
            let r = self.eks_auth.assume_role_for_pod_identity(token, who, Purpose::Request).await;
            return (r.map(|f| f.credentials), "");
        };
        let key = match cache.borrow().key_for(token, who) {
            Ok(k) => k,
            Err(m) => return (Err(FetchError::Local(m)), ""),
        };
        let mut waited = false;
        for poll in 0..=self.cfg.coalesce_polls_max {
            let found = cache.borrow_mut().lookup(&key, token, runtime::now());
            match found {
                Lookup::Hit { credentials, stale } => {
                    let label = if waited {
                        "coalesced"
                    } else if stale {
                        "stale"
                    } else {
                        "hit"
                    };
                    return (Ok(credentials), label);
                }
                Lookup::TooOld(ev) => {
                    record_evict(&ev);
                    break;
                }
                Lookup::Miss => {}
            }
            if !self.in_flight.borrow().contains(token) {
                break;
            }
            if poll < self.cfg.coalesce_polls_max {
                tokio::time::sleep(self.cfg.coalesce_poll_interval).await;
                waited = true;
            }
        }
        self.in_flight.borrow_mut().mark(token);
        let _unmark = Unmark { marks: &self.in_flight, token };
        let fetched = match self.eks_auth.assume_role_for_pod_identity(token, who, Purpose::Request).await {
            Ok(f) => f,
            Err(e) => {
                // Only with the planted bug `AgentServesExpired` does the cache keep an expired entry.
                if let Some(old) = cache.borrow().kept_expired(&key) {
                    return (Ok(old), "expired");
                }
                return (Err(e), "miss");
            }
        };
        let stored = cache.borrow_mut().store(&key, fetched.credentials.clone(), token, who, &fetched.association_id, runtime::now());
        match stored {
            Ok(overflow) => {
                if let Some(ev) = overflow {
                    record_evict(&ev);
                }
                self.stored.notify_one();
                (Ok(fetched.credentials), "miss")
            }
            Err(left) => (Err(FetchError::TooShort { remaining_s: left }), "miss"),
        }
    }

    /// The janitor: renews due entries, then evicts expired ones, on the ticks of a `cleanup_interval`
    /// ticker started with the server. Rather than waking every tick it sleeps to the first tick at
    /// which something is due (the same instants, no idle wake-ups). A sweep that outlasts a tick leaves
    /// one tick buffered, as Go's ticker channel does, so the next sweep may start right after.
    async fn sweep_forever(self: Rc<Self>) -> std::convert::Infallible {
        let Some(cache) = &self.cache else { return std::future::pending().await };
        let period = self.cfg.cleanup_interval;
        let start = Instant::now();
        let mut buffered: Option<Instant> = None;
        loop {
            loop {
                let due = cache.borrow().earliest_due();
                let now_mono = Instant::now();
                let now_wall = runtime::now();
                if let Some(b) = buffered.take()
                    && b == now_mono
                    && due.is_some_and(|d| now_wall > d)
                {
                    break;
                }
                let Some(due) = due else {
                    self.stored.notified().await;
                    continue;
                };
                let target = now_mono + due.duration_since(now_wall).unwrap_or_default();
                let tick = next_tick(start, period, target.max(now_mono));
                tokio::select! {
                    biased;
                    _ = tokio::time::sleep_until(tick) => break,
                    _ = self.stored.notified() => continue,
                }
            }
            let fired = Instant::now();
            let now = runtime::now();
            let due = cache.borrow().due_for_renewal(now);
            for (key, entry) in due {
                self.renew(&key, &entry).await;
            }
            for ev in cache.borrow_mut().evict_expired(now) {
                record_evict(&ev);
            }
            let end = Instant::now();
            if next_tick(start, period, fired) <= end {
                buffered = Some(end);
            }
        }
    }

    /// `onCredentialRenewal` for one due entry.
    async fn renew(&self, key: &str, entry: &cache::Entry) {
        let Some(cache) = &self.cache else { return };
        let who = &entry.who;
        let attempt = async {
            if !self.refresh_limiter.borrow_mut().allow(runtime::elapsed()) {
                return Err(None);
            }
            let wait = self.refresh_limiter.borrow_mut().reserve(runtime::elapsed());
            tokio::time::sleep(wait).await;
            let fetched = self.eks_auth.assume_role_for_pod_identity(&entry.token, who, Purpose::Renewal).await.map_err(Some)?;
            let stored = cache.borrow_mut().store(key, fetched.credentials, &entry.token, who, &fetched.association_id, runtime::now());
            match stored {
                Ok(overflow) => Ok(overflow),
                Err(left) => Err(Some(FetchError::TooShort { remaining_s: left })),
            }
        };
        let result = match tokio::time::timeout(self.cfg.renewal_timeout, attempt).await {
            Ok(r) => r,
            Err(_) => Err(Some(FetchError::Transport {
                code: "canceled".into(),
                detail: "context deadline exceeded".into(),
                timeout: true,
                dns_not_found: false,
            })),
        };
        let err = match result {
            Ok(overflow) => {
                record_refresh(who, "ok", "");
                if let Some(ev) = overflow {
                    record_evict(&ev);
                }
                return;
            }
            Err(e) => e,
        };
        let irrecoverable = err.as_ref().is_some_and(FetchError::is_irrecoverable);
        let code = err.as_ref().map(FetchError::code).unwrap_or_default();
        let max_ns = self.cfg.renewal_retry_jitter_max.as_nanos() as u64;
        let jitter = Duration::from_nanos(if max_ns == 0 { 0 } else { runtime::with_rng(|r| rand::RngExt::random_range(r, 0..max_ns)) });
        let (kept, overflow) = cache.borrow_mut().after_failed_renewal(key, entry, irrecoverable, jitter, runtime::now());
        let outcome = match (&kept, &err) {
            (KeepOutcome::Dropped(ev), _) => {
                record_evict(ev);
                "dropped"
            }
            (KeepOutcome::TooOld, _) => "too_old",
            (KeepOutcome::Kept { .. }, None) => "rate_limited",
            (KeepOutcome::Kept { .. }, Some(_)) => "kept",
        };
        record_refresh(who, outcome, &code);
        if let Some(ev) = overflow {
            record_evict(&ev);
        }
    }
}

/// The first tick of a ticker started at `start` with `period` that comes strictly after `after`.
pub fn next_tick(start: Instant, period: Duration, after: Instant) -> Instant {
    let since = after.saturating_duration_since(start);
    let n = since.as_nanos() / period.as_nanos() + 1;
    start + period.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX))
}

fn record_evict(ev: &Evicted) {
    runtime::record(
        "agent.cache_evict",
        fields!["pod" => &ev.entry.who.pod, "namespace" => &ev.entry.who.namespace, "reason" => ev.reason.as_str()],
    );
}

fn record_refresh(who: &TokenIdentity, outcome: &str, code: &str) {
    runtime::record("agent.cache_refresh", fields!["pod" => &who.pod, "namespace" => &who.namespace, "outcome" => outcome, "code" => code]);
}

/// Seconds of wall clock for a test or fake: `UNIX_EPOCH + s`.
pub fn wall(s: u64) -> SystemTime {
    validation::at_unix_s(s)
}
