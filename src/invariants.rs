//! Invariants: the checker that reads the trace as the run goes and says, by name, what went wrong.
//!
//! A chaos run is only as good as its oracle. This module is that oracle: a [`Checker`] subscribes to
//! the trace (every `sim::Event`, in order), keeps a little state per pod and per access key, and turns
//! the properties the issue asks for into named checks. When one fails it records a [`Violation`]: the
//! invariant's name, the pod, a one-line explanation (access key ids only, never secrets) and the few
//! trace lines that led there. It reads only the trace-event contract of `brief-chaos.md` (the events
//! named below), so it judges the actors from the outside, as an auditor reading CloudTrail and the
//! kubelet's logs would.
//!
//! The invariants, what they read, and why each allowance exists:
//!
//! * `credentials-match-pod` (safety). On `pod.credentials` the access key is joined to the STS
//!   `credentials.issued` event that minted it. Web identity keys must be for the IRSA role of the pod's
//!   ServiceAccount (`irsa_roles`, keyed by the cluster / namespace / ServiceAccount that
//!   `apiserver.pod_created` names) and their token's `sub` must be that ServiceAccount. `AssumeRole`
//!   keys (Pod Identity, via EKS Auth) must be for a role the `eks_api.association` events mapped that
//!   ServiceAccount to when the key was issued, and their session tags must name the pod's own cluster,
//!   namespace, ServiceAccount, pod name and uid. An `eks_auth.request` that succeeds for a role no
//!   association maps the ServiceAccount to (for example after a delete) fails it too. The
//!   `association_allowance` models what EKS documents as eventual consistency: a changed association
//!   reaches EKS Auth after a propagation delay and EKS Auth caches, so the old mapping may still be
//!   served for that long.
//! * `no-expired-credentials` (safety). A `pod.use` (the workload signing a request) or an
//!   `agent.request` answered 200 with a key whose issued `expiration_s` is earlier than the event's true
//!   wall time minus `skew_allowance`. The allowance is the clock difference a host may legitimately
//!   have (NTP drift plus any skew the run injects): an SDK judges expiry by its own clock.
//! * `issue-only-on-valid-token` (safety). Every web identity `credentials.issued` has a `token_aud`
//!   among the provider's `allowed_aud` and a `token_exp_s` no older than the wall time minus STS's
//!   leeway (`sts_leeway`, 300 s by default) and `skew_allowance`; every successful `eks_auth.request` saw
//!   a token for `pods.eks.amazonaws.com` that had not expired (within `skew_allowance`).
//! * `webhook-mounts-token` (safety). An `apiserver.pod_created` for a pod that should get credentials
//!   (IRSA role, or an association that existed `association_allowance` before) has a token mount in every
//!   container except those of `skip_containers`. Not judged when the API server admitted the pod
//!   without the webhook (`apiserver.admission_failed`, failure policy Ignore) or when no
//!   `webhook.admission` was seen for it, nor when the webhook did not mutate the pod while it could not
//!   yet know the ServiceAccount (informer lag: ServiceAccount younger than `association_allowance`, or a
//!   fault active within the last `liveness_deadline`).
//! * `credentials-after-heal` (liveness). At the checkpoint `T` = end of the last fault +
//!   `liveness_deadline` (and at the end of the run), every pod running at `T` (`kubelet.pod_started`, not
//!   `kubelet.pod_stopped` or `apiserver.pod_deleted`) created before `T − liveness_deadline` has had
//!   credentials, its latest outcome (`pod.credentials` / `pod.use` vs `pod.no_credentials`) is a
//!   success, and what it holds did not expire more than `liveness_deadline` before `T` (SDKs refresh
//!   lazily, on use, so credentials held by an idle workload may be a little stale). Between
//!   checkpoints, any `pod.no_credentials` of such a pod while the world has been healthy for at least
//!   `liveness_deadline` breaks it at once (failures that come and go between checkpoints).
//! * `start-storm-drains` (liveness). At the end of the run, every running pod created before
//!   `end − liveness_deadline` has received its first credentials.
//! * `refresh-in-window` (freshness). While the world is healthy (no fault active and none ended within
//!   `liveness_deadline`), a `pod.use` must not use a web identity key inside the window in which its SDK
//!   (the `sdk` of `pod.credentials`, rules from [`crate::sdk::SdkProfile`]) must already have refreshed:
//!   botocore's mandatory 10 min, Go's expiry window, Rust's lazy buffer; `skew_allowance` of slack covers
//!   a workload that signs several requests in a row after one credentials load. Pod Identity keys are
//!   not judged this way: a container-credentials refresh may get the agent's cached key back, and the
//!   agent's own renewal rule is not in the trace contract. Too-early refreshes (a new key
//!   more than 2 h before a ≥ 3 h session expires) are flagged only for single-container pods whose
//!   SDK was not restarted (`first` false), where no legitimate path changes the key that early.
//!
//! Liveness is judged per pod and container when the `pod.*` events carry a `container` field; without
//! it, a pod with `skip_containers` is judged by its latest success alone (its skipped containers are
//! expected to fail). Pods that should get no credentials (no IRSA role and no association, or no token
//! mounted) are exempt from liveness.
//!
//! Memory is per pod, per live access key (keys are forgotten a day after they expire) and per
//! association; every `observe` is a few map look-ups.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use sim::trace::{Event, FieldValue};

/// Default `liveness_deadline`: how long after the last fault heals every pod must hold credentials.
pub const LIVENESS_DEADLINE_DEFAULT: Duration = Duration::from_secs(15 * 60);
/// Default `skew_allowance` without injected skew (NTP-level drift; the lead adds the largest skew).
pub const SKEW_ALLOWANCE_DEFAULT: Duration = Duration::from_secs(5);
/// Default `association_allowance`: association propagation + EKS Auth cache + margin (a modelling
/// choice: EKS documents the delay as "eventually consistent" without a number).
pub const ASSOCIATION_ALLOWANCE_DEFAULT: Duration = Duration::from_secs(60);
/// STS's leeway on a web identity token's `exp` (a modelling choice matching the simulated STS default).
pub const STS_LEEWAY_DEFAULT: Duration = Duration::from_secs(300);
/// The audience EKS Auth accepts.
pub const POD_IDENTITY_AUDIENCE: &str = "pods.eks.amazonaws.com";

/// Trace lines kept per violation.
const EVENTS_MAX: usize = 8;
/// Access keys are forgotten this long after they expire.
const KEY_RETENTION_S: u64 = 24 * 3600;
/// Association history kept per ServiceAccount.
const ASSOC_HISTORY_MAX: usize = 16;
const NS: u64 = 1_000_000_000;

/// What the checker needs to know about the world it watches.
#[derive(Clone, Debug)]
pub struct InvariantSpec {
    pub clusters: Vec<ClusterSpec>,
    /// (cluster, namespace, service account) -> role ARN of the SA's `eks.amazonaws.com/role-arn`.
    pub irsa_roles: BTreeMap<(String, String, String), String>,
    pub liveness_deadline: Duration,
    /// Tolerated clock difference for expiry checks.
    pub skew_allowance: Duration,
    /// How long after an association update/delete issuance for the old mapping may still follow.
    pub association_allowance: Duration,
    /// STS's leeway on a web identity token's `exp`.
    pub sts_leeway: Duration,
    /// `[start, end)` of every injected fault, as simulated time since start.
    pub fault_windows: Vec<(Duration, Duration)>,
    /// Run length.
    pub end: Duration,
}

impl InvariantSpec {
    /// A spec with every allowance at its default and no faults.
    pub fn new(clusters: Vec<ClusterSpec>, end: Duration) -> InvariantSpec {
        InvariantSpec {
            clusters,
            irsa_roles: BTreeMap::new(),
            liveness_deadline: LIVENESS_DEADLINE_DEFAULT,
            skew_allowance: SKEW_ALLOWANCE_DEFAULT,
            association_allowance: ASSOCIATION_ALLOWANCE_DEFAULT,
            sts_leeway: STS_LEEWAY_DEFAULT,
            fault_windows: Vec::new(),
            end,
        }
    }
}

/// One cluster: its name (as in EKS events and session tags) and the hosts its events come from.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    pub name: String,
    /// Host name of its API server.
    pub apiserver_host: String,
    /// Its nodes are `<node_prefix>-<n>`.
    pub node_prefix: String,
}

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// One of [`Checker::NAMES`].
    pub invariant: &'static str,
    pub t_ns: u64,
    pub pod: Option<String>,
    pub message: String,
    /// The trace lines that led there, oldest first.
    pub events: Vec<String>,
    /// How many times this (invariant, pod) failed; only the first is described.
    pub count: u64,
}

const CREDENTIALS_MATCH_POD: usize = 0;
const NO_EXPIRED_CREDENTIALS: usize = 1;
const ISSUE_ONLY_ON_VALID_TOKEN: usize = 2;
const WEBHOOK_MOUNTS_TOKEN: usize = 3;
const CREDENTIALS_AFTER_HEAL: usize = 4;
const START_STORM_DRAINS: usize = 5;
const REFRESH_IN_WINDOW: usize = 6;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Api {
    WebIdentity,
    AssumeRole,
    Other,
}

/// What STS said about one access key.
struct Key {
    api: Api,
    role: String,
    exp_s: Option<u64>,
    tags: String,
    token_sub: String,
    t_ns: u64,
    line: (u64, String),
}

/// One container's (or, without a `container` field, one pod's) credential history.
#[derive(Default)]
struct Unit {
    held: Option<Held>,
    first_ok_ns: Option<u64>,
    last_ok_ns: Option<u64>,
    last_err: Option<(u64, String)>,
    sdk: String,
    last_use_key: String,
}

struct Held {
    key: String,
    exp_s: Option<u64>,
}

struct Pod {
    cluster: usize,
    namespace: String,
    name: String,
    uid: String,
    sa: String,
    created_ns: u64,
    containers: Vec<String>,
    skip: Vec<String>,
    /// Whether any container has a token mount (`None`: the event did not say).
    mounted: Option<bool>,
    running: bool,
    units: BTreeMap<String, Unit>,
    /// The pod's latest trace lines, with their times.
    ring: VecDeque<(u64, String)>,
}

impl Pod {
    fn push(&mut self, line: (u64, String)) {
        if self.ring.len() == EVENTS_MAX {
            self.ring.pop_front();
        }
        self.ring.push_back(line);
    }
}

/// One association, as the EKS API's events said.
#[derive(Clone)]
struct Assoc {
    role: String,
    from_ns: u64,
    until_ns: Option<u64>,
}

type PodKey = (usize, String, String);

/// The checker. Feed it every event with [`Checker::observe`], then [`Checker::finish`].
pub struct Checker {
    spec: InvariantSpec,
    keys: BTreeMap<String, Key>,
    key_expiry: BTreeSet<(u64, String)>,
    pods: BTreeMap<PodKey, Pod>,
    /// (cluster, pod name) -> namespace of the latest pod of that name, for events without a namespace.
    by_name: BTreeMap<(usize, String), String>,
    /// (cluster name, namespace, service account) -> associations, oldest first.
    assocs: BTreeMap<(String, String, String), Vec<Assoc>>,
    sa_created: BTreeMap<(usize, String, String), u64>,
    admission_failed: BTreeSet<(usize, String, String)>,
    webhook_mode: BTreeMap<(String, String), String>,
    checkpoints: VecDeque<u64>,
    violations: BTreeMap<(usize, String), Violation>,
    last_t_ns: u64,
}

fn num(e: &Event, key: &str) -> Option<u64> {
    match e.get(key)? {
        FieldValue::U64(v) => Some(*v),
        FieldValue::I64(v) => u64::try_from(*v).ok(),
        FieldValue::Str(s) => s.trim().parse().ok(),
        FieldValue::Bool(_) => None,
    }
}

fn flag(e: &Event, key: &str) -> Option<bool> {
    match e.get(key)? {
        FieldValue::Bool(b) => Some(*b),
        FieldValue::Str(s) => s.parse().ok(),
        _ => None,
    }
}

fn list(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|x| !x.is_empty()).map(str::to_string).collect()
}

fn tag_map(tags: &str) -> BTreeMap<&str, &str> {
    tags.split(',').filter_map(|kv| kv.split_once('=')).collect()
}

/// Unix nanoseconds of the simulated true wall clock at `t_ns`.
fn wall_ns(t_ns: u64) -> u64 {
    sim::clock::EPOCH_UNIX_S * NS + t_ns
}

fn secs(ns: u64) -> String {
    format!("{}s", ns / NS)
}

/// How close to expiry an SDK is certain to have refreshed (its "refresh required" point), by the
/// rules of [`crate::sdk::SdkProfile`].
fn must_refresh_before(sdk: &str, api: Api) -> Option<Duration> {
    use crate::scenario::SdkName;
    use crate::sdk::{RefreshRule, SdkProfile};
    let name = match sdk {
        "rust" => SdkName::Rust,
        "botocore" => SdkName::Botocore,
        "go" => SdkName::Go,
        _ => return None,
    };
    let p = SdkProfile::for_sdk(name);
    let rule = if api == Api::AssumeRole { p.container_refresh } else { p.refresh };
    Some(match rule {
        RefreshRule::Lazy { buffer, jitter_frac_max } => buffer.mul_f64((1.0 - jitter_frac_max).max(0.0)),
        RefreshRule::Windows { mandatory, .. } => mandatory,
        RefreshRule::ExpiryWindow { window } => window,
    })
}

impl Checker {
    /// Every invariant name, for reports.
    pub const NAMES: [&'static str; 7] = [
        "credentials-match-pod",
        "no-expired-credentials",
        "issue-only-on-valid-token",
        "webhook-mounts-token",
        "credentials-after-heal",
        "start-storm-drains",
        "refresh-in-window",
    ];

    pub fn new(spec: InvariantSpec) -> Checker {
        let end = spec.end.as_nanos() as u64;
        let mut checkpoints = VecDeque::new();
        if let Some(last) = spec.fault_windows.iter().map(|w| w.1).max() {
            let t = (last + spec.liveness_deadline).as_nanos() as u64;
            if t < end {
                checkpoints.push_back(t);
            }
        }
        checkpoints.push_back(end);
        Checker {
            spec,
            keys: BTreeMap::new(),
            key_expiry: BTreeSet::new(),
            pods: BTreeMap::new(),
            by_name: BTreeMap::new(),
            assocs: BTreeMap::new(),
            sa_created: BTreeMap::new(),
            admission_failed: BTreeSet::new(),
            webhook_mode: BTreeMap::new(),
            checkpoints,
            violations: BTreeMap::new(),
            last_t_ns: 0,
        }
    }

    /// Whether any invariant has failed so far.
    pub fn failed(&self) -> bool {
        !self.violations.is_empty()
    }

    /// Whether the invariant named `name` has failed so far.
    pub fn has_failed(&self, name: &str) -> bool {
        self.violations.keys().any(|(i, _)| Self::NAMES[*i] == name)
    }

    /// Feeds one trace event.
    pub fn observe(&mut self, e: &Event) {
        while self.checkpoints.front().is_some_and(|&t| t <= e.t_ns) {
            if let Some(t) = self.checkpoints.pop_front() {
                self.checkpoint(t);
            }
        }
        self.last_t_ns = e.t_ns;
        match e.kind.as_str() {
            "credentials.issued" => self.on_issued(e),
            "eks_auth.request" => self.on_eks_auth(e),
            "eks_api.association" => self.on_association(e),
            "apiserver.serviceaccount_created" => {
                if let Some(c) = self.apiserver_cluster(&e.host) {
                    self.sa_created.insert((c, e.str("namespace").into(), e.str("name").into()), e.t_ns);
                }
            }
            "apiserver.admission_failed" => {
                if let Some(c) = self.apiserver_cluster(&e.host) {
                    self.admission_failed.insert((c, e.str("namespace").into(), e.str("pod").into()));
                }
            }
            "webhook.admission" => {
                self.webhook_mode.insert((e.str("namespace").into(), e.str("pod").into()), e.str("mode").into());
            }
            "apiserver.pod_created" => self.on_pod_created(e),
            "apiserver.pod_deleted" => {
                if let Some(c) = self.apiserver_cluster(&e.host)
                    && let Some(p) = self.pods.get_mut(&(c, e.str("namespace").into(), e.str("pod").into()))
                {
                    p.running = false;
                    p.push((e.t_ns, e.to_json_line()));
                }
            }
            "kubelet.pod_started" | "kubelet.pod_stopped" => {
                if let Some(k) = self.node_pod(e) {
                    let started = e.kind == "kubelet.pod_started";
                    if let Some(p) = self.pods.get_mut(&k) {
                        p.running = started;
                        p.push((e.t_ns, e.to_json_line()));
                    }
                }
            }
            "pod.credentials" => self.on_pod_credentials(e),
            "pod.no_credentials" => {
                if let Some(k) = self.node_pod(e)
                    && let Some(p) = self.pods.get_mut(&k)
                {
                    let unit = p.units.entry(e.str("container").into()).or_default();
                    unit.last_err = Some((e.t_ns, e.str("code").into()));
                    if !e.str("sdk").is_empty() {
                        unit.sdk = e.str("sdk").into();
                    }
                    p.push((e.t_ns, e.to_json_line()));
                    self.failed_while_healthy(&k, e);
                }
            }
            "pod.use" => self.on_pod_use(e),
            "agent.request" => self.on_agent_request(e),
            _ => {}
        }
    }

    /// End-of-run checks; every violation, ordered by time.
    pub fn finish(mut self) -> Vec<Violation> {
        while let Some(t) = self.checkpoints.pop_front() {
            self.checkpoint(t);
        }
        let end = self.spec.end.as_nanos() as u64;
        let cutoff = end.saturating_sub(self.spec.liveness_deadline.as_nanos() as u64);
        let mut found = Vec::new();
        for (k, p) in &self.pods {
            if !p.running || p.created_ns >= cutoff || self.exempt(p, end) {
                continue;
            }
            let never = p.units.iter().all(|(c, u)| p.skip.contains(c) || u.first_ok_ns.is_none());
            if never {
                let code = p.units.values().filter_map(|u| u.last_err.as_ref()).max().map(|e| e.1.clone());
                let msg = format!(
                    "pod {}/{} (created at {}) never received credentials by the end of the run ({}); last error: {}",
                    p.namespace,
                    p.name,
                    secs(p.created_ns),
                    secs(end),
                    code.as_deref().unwrap_or("none recorded"),
                );
                found.push((k.clone(), msg));
            }
        }
        for (k, msg) in found {
            self.violate(START_STORM_DRAINS, end, Some(&k), msg, Vec::new());
        }
        let mut out: Vec<Violation> = self.violations.into_values().collect();
        out.sort_by_key(|v| (v.t_ns, Checker::NAMES.iter().position(|n| *n == v.invariant)));
        out
    }

    // ---- helpers ------------------------------------------------------------------------------------

    fn apiserver_cluster(&self, host: &str) -> Option<usize> {
        self.spec.clusters.iter().position(|c| c.apiserver_host == host)
    }

    fn node_cluster(&self, host: &str) -> Option<usize> {
        let mut best: Option<(usize, usize)> = None;
        for (i, c) in self.spec.clusters.iter().enumerate() {
            let Some(rest) = host.strip_prefix(c.node_prefix.as_str()).and_then(|r| r.strip_prefix('-')) else { continue };
            if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if best.is_none_or(|(_, l)| c.node_prefix.len() > l) {
                best = Some((i, c.node_prefix.len()));
            }
        }
        best.map(|b| b.0)
    }

    fn cluster_by_name(&self, name: &str) -> Option<usize> {
        self.spec.clusters.iter().position(|c| c.name == name)
    }

    /// The pod a node event is about.
    fn node_pod(&self, e: &Event) -> Option<PodKey> {
        let c = self.node_cluster(&e.host)?;
        let name = e.str("pod");
        let ns = match e.str("namespace") {
            "" => self.by_name.get(&(c, name.to_string()))?.clone(),
            ns => ns.to_string(),
        };
        Some((c, ns, name.to_string()))
    }

    fn healthy(&self, t_ns: u64) -> bool {
        let d = self.spec.liveness_deadline;
        !self.spec.fault_windows.iter().any(|&(s, en)| {
            let (s, en) = (s.as_nanos() as u64, (en + d).as_nanos() as u64);
            s <= t_ns && t_ns < en
        })
    }

    fn allowance_ns(&self) -> u64 {
        self.spec.association_allowance.as_nanos() as u64
    }

    fn skew_ns(&self) -> u64 {
        self.spec.skew_allowance.as_nanos() as u64
    }

    /// Whether `role` was an association's role for this ServiceAccount at `t_ns` (old mappings count
    /// for `association_allowance` after they changed).
    fn assoc_role_ok(&self, k: &(String, String, String), role: &str, t_ns: u64) -> bool {
        let allow = self.allowance_ns();
        self.assocs.get(k).is_some_and(|v| {
            v.iter().any(|a| a.role == role && a.from_ns <= t_ns && a.until_ns.is_none_or(|u| t_ns <= u + allow))
        })
    }

    fn assoc_roles(&self, k: &(String, String, String)) -> String {
        let live: Vec<&str> =
            self.assocs.get(k).into_iter().flatten().filter(|a| a.until_ns.is_none()).map(|a| a.role.as_str()).collect();
        if live.is_empty() { "no association".into() } else { live.join(",") }
    }

    /// The association live at `t_ns` (created at least `min_age_ns` before).
    fn assoc_live(&self, k: &(String, String, String), t_ns: u64, min_age_ns: u64) -> bool {
        self.assocs
            .get(k)
            .is_some_and(|v| v.iter().any(|a| a.from_ns + min_age_ns <= t_ns && a.until_ns.is_none_or(|u| t_ns < u)))
    }

    fn sa_key(&self, p: &Pod) -> (String, String, String) {
        (self.spec.clusters[p.cluster].name.clone(), p.namespace.clone(), p.sa.clone())
    }

    /// Pods that are expected to get no credentials.
    fn exempt(&self, p: &Pod, t_ns: u64) -> bool {
        let k = self.sa_key(p);
        let entitled = self.spec.irsa_roles.contains_key(&k) || self.assoc_live(&k, t_ns, 0);
        !entitled || p.mounted == Some(false)
    }

    /// Records a violation about a known pod: its recent lines plus `extra`, oldest first.
    fn violate(&mut self, inv: usize, t_ns: u64, pod: Option<&PodKey>, message: String, extra: Vec<(u64, String)>) {
        let mut events: Vec<(u64, String)> = pod.and_then(|k| self.pods.get(k)).map(|p| p.ring.iter().cloned().collect()).unwrap_or_default();
        for l in extra {
            if !events.contains(&l) {
                events.push(l);
            }
        }
        let pod_name = pod.map(|k| format!("{}/{}", k.1, k.2));
        self.record(inv, t_ns, pod_name, message, events);
    }

    fn record(&mut self, inv: usize, t_ns: u64, pod: Option<String>, message: String, mut events: Vec<(u64, String)>) {
        events.sort_by_key(|e| e.0);
        if events.len() > EVENTS_MAX {
            events.drain(..events.len() - EVENTS_MAX);
        }
        let events = events.into_iter().map(|e| e.1).collect();
        let key = (inv, pod.clone().unwrap_or_default());
        self.violations
            .entry(key)
            .and_modify(|v| v.count += 1)
            .or_insert(Violation { invariant: Checker::NAMES[inv], t_ns, pod, message, events, count: 1 });
    }

    fn prune_keys(&mut self, t_ns: u64) {
        let now_s = wall_ns(t_ns) / NS;
        while let Some((exp, _)) = self.key_expiry.first() {
            if exp + KEY_RETENTION_S >= now_s {
                break;
            }
            if let Some((_, k)) = self.key_expiry.pop_first() {
                self.keys.remove(&k);
            }
        }
    }

    // ---- event handlers -----------------------------------------------------------------------------

    fn on_issued(&mut self, e: &Event) {
        self.prune_keys(e.t_ns);
        let api = match e.str("api") {
            "AssumeRoleWithWebIdentity" => Api::WebIdentity,
            "AssumeRole" => Api::AssumeRole,
            _ => Api::Other,
        };
        let line = (e.t_ns, e.to_json_line());
        let id = e.str("access_key_id").to_string();
        if api == Api::WebIdentity {
            let mut why = Vec::new();
            if e.get("allowed_aud").is_some() {
                let allowed = list(e.str("allowed_aud"));
                let aud = list(e.str("token_aud"));
                if !aud.iter().any(|a| allowed.contains(a)) {
                    why.push(format!("token audience {:?} is not among the provider's client ids {:?}", e.str("token_aud"), e.str("allowed_aud")));
                }
            }
            if let Some(exp) = num(e, "token_exp_s") {
                let limit = exp * NS + (self.spec.sts_leeway + self.spec.skew_allowance).as_nanos() as u64;
                if limit < wall_ns(e.t_ns) {
                    why.push(format!("token expired at {exp} (wall clock {})", wall_ns(e.t_ns) / NS));
                }
            }
            if !why.is_empty() {
                let msg = format!(
                    "STS issued {id} (AssumeRoleWithWebIdentity, role {}, sub {}) on an invalid token: {}",
                    e.str("role_arn"),
                    e.str("token_sub"),
                    why.join("; ")
                );
                self.record(ISSUE_ONLY_ON_VALID_TOKEN, e.t_ns, None, msg, vec![line.clone()]);
            }
        }
        if id.is_empty() {
            return;
        }
        let exp_s = num(e, "expiration_s");
        if let Some(x) = exp_s {
            self.key_expiry.insert((x, id.clone()));
        }
        let key = Key {
            api,
            role: e.str("role_arn").into(),
            exp_s,
            tags: e.str("tags").into(),
            token_sub: e.str("token_sub").into(),
            t_ns: e.t_ns,
            line,
        };
        self.keys.insert(id, key);
    }

    fn on_eks_auth(&mut self, e: &Event) {
        if e.str("outcome") != "ok" {
            return;
        }
        let line = (e.t_ns, e.to_json_line());
        let pod = e.str("pod_name").to_string();
        let c = self.cluster_by_name(e.str("cluster"));
        let pod_key = c.map(|c| (c, e.str("namespace").to_string(), pod.clone()));
        let pod_label = Some(format!("{}/{}", e.str("namespace"), pod));
        let mut why = Vec::new();
        if e.get("token_aud").is_some() && e.str("token_aud") != POD_IDENTITY_AUDIENCE {
            why.push(format!("token audience {:?}, not {POD_IDENTITY_AUDIENCE:?}", e.str("token_aud")));
        }
        if let Some(exp) = num(e, "token_exp_s")
            && exp * NS + self.skew_ns() < wall_ns(e.t_ns)
        {
            why.push(format!("token expired at {exp} (wall clock {})", wall_ns(e.t_ns) / NS));
        }
        if !why.is_empty() {
            let msg = format!("EKS Auth issued {} for pod {} on an invalid token: {}", e.str("access_key_id"), pod, why.join("; "));
            match pod_key.as_ref().filter(|k| self.pods.contains_key(*k)) {
                Some(k) => self.violate(ISSUE_ONLY_ON_VALID_TOKEN, e.t_ns, Some(&k.clone()), msg, vec![line.clone()]),
                None => self.record(ISSUE_ONLY_ON_VALID_TOKEN, e.t_ns, pod_label.clone(), msg, vec![line.clone()]),
            }
        }
        let sa = (e.str("cluster").to_string(), e.str("namespace").to_string(), e.str("service_account").to_string());
        let role = e.str("role_arn");
        if !self.assoc_role_ok(&sa, role, e.t_ns) {
            let msg = format!(
                "EKS Auth issued {} for role {role} to pod {pod} of {}/{}/{} (association {}), but that ServiceAccount maps to {} (changes older than {}s count)",
                e.str("access_key_id"),
                sa.0,
                sa.1,
                sa.2,
                e.str("association_id"),
                self.assoc_roles(&sa),
                self.spec.association_allowance.as_secs(),
            );
            match pod_key.as_ref().filter(|k| self.pods.contains_key(*k)) {
                Some(k) => self.violate(CREDENTIALS_MATCH_POD, e.t_ns, Some(&k.clone()), msg, vec![line]),
                None => self.record(CREDENTIALS_MATCH_POD, e.t_ns, pod_label, msg, vec![line]),
            }
        }
    }

    fn on_association(&mut self, e: &Event) {
        let k = (e.str("cluster").to_string(), e.str("namespace").to_string(), e.str("service_account").to_string());
        let v = self.assocs.entry(k).or_default();
        for a in v.iter_mut().filter(|a| a.until_ns.is_none()) {
            a.until_ns = Some(e.t_ns);
        }
        if e.str("op") != "delete" {
            v.push(Assoc { role: e.str("role_arn").into(), from_ns: e.t_ns, until_ns: None });
        }
        if v.len() > ASSOC_HISTORY_MAX {
            v.remove(0);
        }
    }

    fn on_pod_created(&mut self, e: &Event) {
        let Some(c) = self.apiserver_cluster(&e.host) else { return };
        let ns = e.str("namespace").to_string();
        let name = e.str("pod").to_string();
        let containers = list(e.str("containers"));
        let mounted_list = list(e.str("token_mounted"));
        let skip = list(e.str("skip_containers"));
        let line = (e.t_ns, e.to_json_line());
        let mut pod = Pod {
            cluster: c,
            namespace: ns.clone(),
            name: name.clone(),
            uid: e.str("uid").into(),
            sa: e.str("service_account").into(),
            created_ns: e.t_ns,
            containers: containers.clone(),
            skip: skip.clone(),
            mounted: e.get("token_mounted").map(|_| !mounted_list.is_empty()),
            running: false,
            units: BTreeMap::new(),
            ring: VecDeque::new(),
        };
        pod.push(line.clone());
        let key = (c, ns.clone(), name.clone());
        self.by_name.insert((c, name.clone()), ns.clone());
        let sa_key = self.sa_key(&pod);
        self.pods.insert(key.clone(), pod);

        // webhook-mounts-token
        let failed = self.admission_failed.remove(&key);
        let mode = self.webhook_mode.remove(&(ns.clone(), name.clone()));
        if e.get("token_mounted").is_none() || e.get("containers").is_none() || failed {
            return;
        }
        let Some(mode) = mode else { return };
        let irsa = self.spec.irsa_roles.contains_key(&sa_key);
        let assoc = self.assoc_live(&sa_key, e.t_ns, self.allowance_ns());
        if !irsa && !assoc {
            return;
        }
        if mode == "none" {
            let sa_age_ok = self
                .sa_created
                .get(&(c, sa_key.1.clone(), sa_key.2.clone()))
                .is_some_and(|&t| t + self.allowance_ns() <= e.t_ns);
            if !sa_age_ok || !self.healthy(e.t_ns) {
                return;
            }
        }
        let missing: Vec<&String> = containers.iter().filter(|c| !skip.contains(c) && !mounted_list.contains(c)).collect();
        if !missing.is_empty() {
            let what = if irsa {
                format!("IRSA role {}", self.spec.irsa_roles[&sa_key])
            } else {
                format!("Pod Identity role {}", self.assoc_roles(&sa_key))
            };
            let msg = format!(
                "pod {ns}/{name} (ServiceAccount {}, {what}) was admitted without a token mount in container(s) {:?} (skip-containers {:?}, webhook mode {mode})",
                sa_key.2,
                missing,
                skip,
            );
            self.violate(WEBHOOK_MOUNTS_TOKEN, e.t_ns, Some(&key), msg, Vec::new());
        }
    }

    fn on_pod_credentials(&mut self, e: &Event) {
        let Some(pk) = self.node_pod(e) else { return };
        let Some(p) = self.pods.get(&pk) else { return };
        let id = e.str("access_key_id").to_string();
        let line = (e.t_ns, e.to_json_line());
        let key = self.keys.get(&id);
        let exp_s = key.and_then(|k| k.exp_s).or_else(|| num(e, "expiration"));
        let healthy = self.healthy(e.t_ns);
        let container = e.str("container").to_string();
        let single = p.containers.len() == 1;

        // credentials-match-pod
        let mut mismatch = None;
        if let Some(k) = key {
            let sa = self.sa_key(p);
            let cluster = &sa.0;
            match k.api {
                Api::WebIdentity => {
                    let expected_sub = format!("system:serviceaccount:{}:{}", p.namespace, p.sa);
                    match self.spec.irsa_roles.get(&sa) {
                        None => mismatch = Some(format!("web identity credentials for role {}, but ServiceAccount {}/{} has no IRSA role", k.role, p.namespace, p.sa)),
                        Some(r) if *r != k.role => mismatch = Some(format!("credentials for role {}, but ServiceAccount {}/{} maps to {r}", k.role, p.namespace, p.sa)),
                        Some(_) if !k.token_sub.is_empty() && k.token_sub != expected_sub => {
                            mismatch = Some(format!("credentials issued on a token for {}, not {expected_sub}", k.token_sub))
                        }
                        Some(_) => {}
                    }
                }
                Api::AssumeRole => {
                    if !self.assoc_role_ok(&sa, &k.role, k.t_ns) {
                        mismatch = Some(format!(
                            "Pod Identity credentials for role {} issued at {}, but {cluster}/{}/{} maps to {}",
                            k.role,
                            secs(k.t_ns),
                            p.namespace,
                            p.sa,
                            self.assoc_roles(&sa)
                        ));
                    } else {
                        let tags = tag_map(&k.tags);
                        let want = [
                            ("eks-cluster-name", cluster.as_str()),
                            ("kubernetes-namespace", p.namespace.as_str()),
                            ("kubernetes-service-account", p.sa.as_str()),
                            ("kubernetes-pod-name", p.name.as_str()),
                            ("kubernetes-pod-uid", p.uid.as_str()),
                        ];
                        let wrong: Vec<String> = want
                            .iter()
                            .filter(|(t, v)| !v.is_empty() && tags.get(t).copied() != Some(*v))
                            .map(|(t, v)| format!("{t}={} (should be {v})", tags.get(t).copied().unwrap_or("<missing>")))
                            .collect();
                        if !wrong.is_empty() {
                            mismatch = Some(format!("session tags name another pod: {}", wrong.join(", ")));
                        }
                    }
                }
                Api::Other => {}
            }
        }
        let issued_line = key.map(|k| k.line.clone());

        // refresh-in-window: too-early refresh (single container, same SDK instance).
        let mut early = None;
        if let Some(u) = p.units.get(&container)
            && let Some(h) = &u.held
            && healthy
            && single
            && flag(e, "first") == Some(false)
            && let (Some(old_exp), Some(old)) = (h.exp_s, self.keys.get(&h.key))
            && old_exp * NS >= old.t_ns.saturating_add(wall_ns(0)).saturating_add(3 * 3600 * NS)
            && wall_ns(e.t_ns) + 2 * 3600 * NS < old_exp * NS
        {
            early = Some(format!(
                "pod {}/{} replaced {} more than 2 h before it expires (at {old_exp}; new key {id})",
                p.namespace, p.name, h.key
            ));
        }

        let Some(p) = self.pods.get_mut(&pk) else { return };
        p.push(line.clone());
        let u = p.units.entry(container).or_default();
        u.held = Some(Held { key: id.clone(), exp_s });
        u.first_ok_ns.get_or_insert(e.t_ns);
        u.last_ok_ns = Some(e.t_ns);
        u.last_use_key = id.clone();
        if !e.str("sdk").is_empty() {
            u.sdk = e.str("sdk").into();
        }
        if let Some(why) = mismatch {
            let msg = format!("pod {}/{} got {id}: {why}", pk.1, pk.2);
            let mut extra: Vec<(u64, String)> = issued_line.into_iter().collect();
            extra.push(line);
            self.violate(CREDENTIALS_MATCH_POD, e.t_ns, Some(&pk), msg, extra);
        } else if let Some(msg) = early {
            self.violate(REFRESH_IN_WINDOW, e.t_ns, Some(&pk), msg, Vec::new());
        }
    }

    fn on_pod_use(&mut self, e: &Event) {
        let Some(pk) = self.node_pod(e) else { return };
        let id = e.str("access_key_id").to_string();
        let key = self.keys.get(&id);
        let exp_s = key.and_then(|k| k.exp_s).or_else(|| num(e, "expiration_s"));
        let api = key.map_or(Api::Other, |k| k.api);
        let issued_line = key.map(|k| k.line.clone());
        let healthy = self.healthy(e.t_ns);
        let skew = self.skew_ns();
        let Some(p) = self.pods.get_mut(&pk) else { return };
        let u = p.units.entry(e.str("container").to_string()).or_default();
        u.last_ok_ns = Some(e.t_ns);
        u.first_ok_ns.get_or_insert(e.t_ns);
        let sdk = u.sdk.clone();
        let new_use = u.last_use_key != id;
        u.last_use_key = id.clone();
        let line = (e.t_ns, e.to_json_line());
        let now = wall_ns(e.t_ns);
        let Some(exp) = exp_s else {
            if new_use {
                p.push(line);
            }
            return;
        };
        let exp_ns = exp * NS;
        if exp_ns + skew < now {
            if new_use {
                p.push(line.clone());
            }
            let msg = format!(
                "pod {}/{} used {id} at wall clock {}, {} s after it expired at {exp} (allowance {} s)",
                pk.1,
                pk.2,
                now / NS,
                (now - exp_ns) / NS,
                skew / NS
            );
            let extra = issued_line.into_iter().chain([line]).collect();
            self.violate(NO_EXPIRED_CREDENTIALS, e.t_ns, Some(&pk), msg, extra);
            return;
        }
        if new_use {
            p.push(line.clone());
        }
        // Only web identity keys: there a refresh always reaches STS and yields a new key, while a
        // container-credentials refresh may legitimately get the agent's cached key back.
        if healthy
            && api == Api::WebIdentity
            && let Some(window) = must_refresh_before(&sdk, api)
            && let Some(limit) = (window.as_nanos() as u64).checked_sub(skew)
            && exp_ns.saturating_sub(now) < limit
        {
            let msg = format!(
                "pod {}/{} ({sdk} SDK) used {id} {} s before it expires at {exp}; the SDK must refresh {} s before expiry",
                pk.1,
                pk.2,
                exp_ns.saturating_sub(now) / NS,
                window.as_secs()
            );
            let extra = issued_line.into_iter().chain([line]).collect();
            self.violate(REFRESH_IN_WINDOW, e.t_ns, Some(&pk), msg, extra);
        }
    }

    fn on_agent_request(&mut self, e: &Event) {
        if num(e, "status") != Some(200) {
            return;
        }
        let id = e.str("access_key_id").to_string();
        let key = self.keys.get(&id);
        let Some(exp) = key.and_then(|k| k.exp_s).or_else(|| num(e, "expiration_s")) else { return };
        let now = wall_ns(e.t_ns);
        if exp * NS + self.skew_ns() >= now {
            return;
        }
        let mut extra: Vec<(u64, String)> = key.map(|k| k.line.clone()).into_iter().collect();
        extra.push((e.t_ns, e.to_json_line()));
        let msg = format!(
            "agent on {} served {id} to pod {}/{} at wall clock {}, {} s after it expired at {exp}",
            e.host,
            e.str("namespace"),
            e.str("pod"),
            now / NS,
            (now - exp * NS) / NS
        );
        match self.node_pod(e).filter(|k| self.pods.contains_key(k)) {
            Some(k) => self.violate(NO_EXPIRED_CREDENTIALS, e.t_ns, Some(&k), msg, extra),
            None => {
                let pod = Some(format!("{}/{}", e.str("namespace"), e.str("pod")));
                self.record(NO_EXPIRED_CREDENTIALS, e.t_ns, pod, msg, extra)
            }
        }
    }

    /// credentials-after-heal, between checkpoints: a pod that should have credentials, has been running
    /// longer than the deadline, and fails to get them while the world has been healthy for at least the
    /// deadline (no fault active or ended within it) breaks liveness right there. This catches failures
    /// that come and go between checkpoints (a verifier that refuses a rotated key until its cache
    /// expires, a token that stopped being refreshed).
    fn failed_while_healthy(&mut self, k: &PodKey, e: &sim::Event) {
        let deadline = self.spec.liveness_deadline.as_nanos() as u64;
        let Some(p) = self.pods.get(k) else { return };
        let container = e.str("container");
        if !self.healthy(e.t_ns) || !p.running || p.created_ns + deadline > e.t_ns || self.exempt(p, e.t_ns) || p.skip.iter().any(|c| c == container) {
            return;
        }
        let why = format!(
            "pod {}/{} got no credentials at {} ({}: {}) although no fault was active since {} or earlier",
            p.namespace,
            p.name,
            secs(e.t_ns),
            e.str("code"),
            e.str("message"),
            secs(e.t_ns.saturating_sub(deadline))
        );
        self.violate(CREDENTIALS_AFTER_HEAL, e.t_ns, Some(k), why, Vec::new());
    }

    /// credentials-after-heal at `t`.
    fn checkpoint(&mut self, t: u64) {
        let deadline = self.spec.liveness_deadline.as_nanos() as u64;
        let cutoff = t.saturating_sub(deadline);
        let mut found = Vec::new();
        for (k, p) in &self.pods {
            if !p.running || p.created_ns >= cutoff || self.exempt(p, t) {
                continue;
            }
            if let Some(why) = self.unhealed(p, t) {
                found.push((k.clone(), why));
            }
        }
        for (k, why) in found {
            self.violate(CREDENTIALS_AFTER_HEAL, t, Some(&k), why, Vec::new());
        }
    }

    fn unhealed(&self, p: &Pod, t: u64) -> Option<String> {
        let deadline = self.spec.liveness_deadline.as_nanos() as u64;
        let who = format!("pod {}/{}", p.namespace, p.name);
        let relaxed = !p.skip.is_empty() && p.units.keys().all(|c| c.is_empty());
        let units: Vec<(&String, &Unit)> = p.units.iter().filter(|(c, _)| !p.skip.contains(c)).collect();
        if units.is_empty() || units.iter().all(|(_, u)| u.first_ok_ns.is_none()) {
            let code = p.units.values().filter_map(|u| u.last_err.as_ref()).max().map(|e| e.1.clone());
            return Some(format!(
                "{who} is running at {} but never had credentials; last error: {}",
                secs(t),
                code.as_deref().unwrap_or("none recorded")
            ));
        }
        for (c, u) in units {
            let label = if c.is_empty() { who.clone() } else { format!("{who} container {c}") };
            let Some(ok) = u.last_ok_ns else {
                let code = u.last_err.as_ref().map_or("none recorded", |e| e.1.as_str());
                return Some(format!("{label} is running at {} but never had credentials; last error: {code}", secs(t)));
            };
            if relaxed {
                if ok + deadline < t {
                    return Some(format!("{label} has had no credentials since {} (checked at {})", secs(ok), secs(t)));
                }
            } else if let Some((te, code)) = &u.last_err
                && *te > ok
            {
                return Some(format!(
                    "{label} has no credentials at {}: last error {code} at {}, last had credentials at {}",
                    secs(t),
                    secs(*te),
                    secs(ok)
                ));
            }
            if let Some(h) = &u.held
                && let Some(exp) = h.exp_s
                && exp * NS + deadline < wall_ns(t)
            {
                return Some(format!(
                    "{label} holds {} that expired at {exp}, more than {} s before the check at {} (last had credentials at {})",
                    h.key,
                    deadline / NS,
                    secs(t),
                    secs(ok)
                ));
            }
        }
        None
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    const ROLE_APP: &str = "arn:aws:iam::111122223333:role/app";
    const ROLE_OTHER: &str = "arn:aws:iam::111122223333:role/other";
    const ROLE_B: &str = "arn:aws:iam::111122223333:role/b";
    const API: &str = "kube-apiserver";
    const NODE: &str = "node-1";
    const STS: &str = "sts.us-east-1.amazonaws.com";
    const EKS: &str = "eks.us-east-1.amazonaws.com";
    const AUTH: &str = "eks-auth.us-east-1.api.aws";
    const MIN: u64 = 60;
    const HOUR: u64 = 3600;

    fn w(t_s: u64) -> u64 {
        sim::clock::EPOCH_UNIX_S + t_s
    }

    fn ev(t_s: u64, host: &str, kind: &str, fields: Vec<(&str, FieldValue)>) -> Event {
        Event {
            t_ns: t_s * NS,
            host: host.into(),
            kind: kind.into(),
            fields: fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        }
    }

    fn s(v: &str) -> FieldValue {
        FieldValue::Str(v.into())
    }

    fn sa(t: u64, name: &str) -> Event {
        ev(t, API, "apiserver.serviceaccount_created", vec![("namespace", s("default")), ("name", s(name))])
    }

    fn created(t: u64, pod: &str, sa: &str, containers: &str, mounted: &str, skip: &str) -> Vec<Event> {
        vec![
            ev(t, "pod-identity-webhook", "webhook.admission", vec![("namespace", s("default")), ("pod", s(pod)), ("mode", s("web_identity"))]),
            ev(
                t,
                API,
                "apiserver.pod_created",
                vec![
                    ("namespace", s("default")),
                    ("pod", s(pod)),
                    ("node", s(NODE)),
                    ("service_account", s(sa)),
                    ("containers", s(containers)),
                    ("token_mounted", s(mounted)),
                    ("skip_containers", s(skip)),
                    ("uid", s(&format!("uid-{pod}"))),
                ],
            ),
            ev(t + 1, NODE, "kubelet.pod_started", vec![("namespace", s("default")), ("pod", s(pod))]),
        ]
    }

    fn issued_web(t: u64, key: &str, role: &str, ttl: u64, aud: &str, token_exp: u64) -> Event {
        ev(
            t,
            STS,
            "credentials.issued",
            vec![
                ("api", s("AssumeRoleWithWebIdentity")),
                ("access_key_id", s(key)),
                ("role_arn", s(role)),
                ("expiration_s", s(&w(t + ttl).to_string())),
                ("tags", s("")),
                ("token_iss", s("https://oidc.eks.us-east-1.amazonaws.com/id/X")),
                ("token_aud", s(aud)),
                ("token_exp_s", s(&token_exp.to_string())),
                ("token_sub", s("system:serviceaccount:default:app")),
                ("allowed_aud", s("sts.amazonaws.com")),
            ],
        )
    }

    fn tags(pod: &str, sa: &str) -> String {
        format!(
            "eks-cluster-arn=arn:aws:eks:us-east-1:111122223333:cluster/c1,eks-cluster-name=c1,kubernetes-namespace=default,kubernetes-pod-name={pod},kubernetes-pod-uid=uid-{pod},kubernetes-service-account={sa}"
        )
    }

    fn issued_ar(t: u64, key: &str, role: &str, ttl: u64, tags: &str) -> Event {
        ev(
            t,
            STS,
            "credentials.issued",
            vec![
                ("api", s("AssumeRole")),
                ("access_key_id", s(key)),
                ("role_arn", s(role)),
                ("expiration_s", s(&w(t + ttl).to_string())),
                ("tags", s(tags)),
            ],
        )
    }

    fn creds(t: u64, pod: &str, key: &str, sdk: &str, first: bool) -> Event {
        ev(
            t,
            NODE,
            "pod.credentials",
            vec![
                ("pod", s(pod)),
                ("namespace", s("default")),
                ("sdk", s(sdk)),
                ("source", s("web_identity")),
                ("first", FieldValue::Bool(first)),
                ("role_arn", s("arn:aws:sts::111122223333:assumed-role/x/y")),
                ("access_key_id", s(key)),
                ("expiration", FieldValue::U64(0)),
            ],
        )
    }

    fn use_(t: u64, pod: &str, key: &str) -> Event {
        ev(t, NODE, "pod.use", vec![("pod", s(pod)), ("namespace", s("default")), ("access_key_id", s(key)), ("expiration_s", FieldValue::U64(0))])
    }

    fn no_creds(t: u64, pod: &str, code: &str) -> Event {
        ev(t, NODE, "pod.no_credentials", vec![("pod", s(pod)), ("sdk", s("rust")), ("code", s(code)), ("message", s("x"))])
    }

    fn assoc(t: u64, op: &str, sa: &str, role: &str) -> Event {
        ev(
            t,
            EKS,
            "eks_api.association",
            vec![
                ("op", s(op)),
                ("cluster", s("c1")),
                ("namespace", s("default")),
                ("service_account", s(sa)),
                ("association_id", s("a-1")),
                ("role_arn", s(role)),
            ],
        )
    }

    fn eks_auth(t: u64, pod: &str, sa: &str, role: &str, key: &str, aud: &str) -> Event {
        ev(
            t,
            AUTH,
            "eks_auth.request",
            vec![
                ("cluster", s("c1")),
                ("outcome", s("ok")),
                ("namespace", s("default")),
                ("service_account", s(sa)),
                ("pod_name", s(pod)),
                ("pod_uid", s(&format!("uid-{pod}"))),
                ("token_aud", s(aud)),
                ("token_exp_s", FieldValue::U64(w(t + HOUR))),
                ("association_id", s("a-1")),
                ("role_arn", s(role)),
                ("access_key_id", s(key)),
                ("expiration_s", FieldValue::U64(w(t + 6 * HOUR))),
            ],
        )
    }

    fn agent(t: u64, pod: &str, key: &str, exp: u64) -> Event {
        ev(
            t,
            NODE,
            "agent.request",
            vec![
                ("pod", s(pod)),
                ("namespace", s("default")),
                ("service_account", s("pi")),
                ("status", FieldValue::U64(200)),
                ("access_key_id", s(key)),
                ("expiration_s", FieldValue::U64(exp)),
                ("pod_uid", s(&format!("uid-{pod}"))),
            ],
        )
    }

    fn spec(end_s: u64, faults: &[(u64, u64)]) -> InvariantSpec {
        let mut sp = InvariantSpec::new(
            vec![ClusterSpec { name: "c1".into(), apiserver_host: API.into(), node_prefix: "node".into() }],
            Duration::from_secs(end_s),
        );
        sp.irsa_roles.insert(("c1".into(), "default".into(), "app".into()), ROLE_APP.into());
        sp.fault_windows = faults.iter().map(|&(a, b)| (Duration::from_secs(a), Duration::from_secs(b))).collect();
        sp
    }

    /// An IRSA pod that gets credentials at 1 min and uses them every 5 min; `issued` replaces its STS event.
    fn irsa_pod(pod: &str, issued: Event) -> Vec<Event> {
        let mut v = vec![sa(0, "app")];
        v.extend(created(30, pod, "app", "app", "app", ""));
        v.push(issued);
        v.push(creds(61, pod, "AKIRSA1", "rust", true));
        for m in (5..=40).step_by(5) {
            v.push(use_(m * MIN, pod, "AKIRSA1"));
        }
        v
    }

    fn good_irsa_issue() -> Event {
        issued_web(60, "AKIRSA1", ROLE_APP, HOUR, "sts.amazonaws.com", w(60 + 86_400))
    }

    /// A Pod Identity pod `pod` of ServiceAccount `pi`, association to ROLE_APP at 10 s.
    fn pi_pod(pod: &str) -> Vec<Event> {
        pi_pod_ttl(pod, 6 * HOUR)
    }

    fn pi_pod_ttl(pod: &str, ttl: u64) -> Vec<Event> {
        let mut v = vec![sa(0, "pi"), assoc(1, "create", "pi", ROLE_APP)];
        v.extend(created(120, pod, "pi", "app", "app", ""));
        v.push(issued_ar(130, "AKPI1", ROLE_APP, ttl, &tags(pod, "pi")));
        v.push(eks_auth(131, pod, "pi", ROLE_APP, "AKPI1", POD_IDENTITY_AUDIENCE));
        v.push(agent(132, pod, "AKPI1", w(130 + ttl)));
        v.push(creds(133, pod, "AKPI1", "rust", true));
        v
    }

    fn with(mut v: Vec<Event>, more: Vec<Event>) -> Vec<Event> {
        v.extend(more);
        v.sort_by_key(|e| e.t_ns);
        v
    }

    struct Case {
        name: &'static str,
        spec: InvariantSpec,
        events: Vec<Event>,
        /// `None`: no violation at all; `Some((invariant, pod))`: that invariant fails for that pod.
        expect: Option<(&'static str, &'static str)>,
    }

    fn cases() -> Vec<Case> {
        let mut tampered_tags = pi_pod("web-1");
        tampered_tags[5] = issued_ar(130, "AKPI1", ROLE_APP, 6 * HOUR, &tags("web-2", "pi"));
        vec![
            Case { name: "irsa pod with the right role passes", spec: spec(45 * MIN, &[]), events: irsa_pod("web-1", good_irsa_issue()), expect: None },
            Case {
                name: "irsa credentials for another role break credentials-match-pod",
                spec: spec(45 * MIN, &[]),
                events: irsa_pod("web-1", issued_web(60, "AKIRSA1", ROLE_OTHER, HOUR, "sts.amazonaws.com", w(86_400))),
                expect: Some(("credentials-match-pod", "web-1")),
            },
            Case { name: "pod identity pod with its own tags passes", spec: spec(45 * MIN, &[]), events: pi_pod("web-1"), expect: None },
            Case {
                name: "pod identity session tagged with another pod breaks credentials-match-pod",
                spec: spec(45 * MIN, &[]),
                events: tampered_tags,
                expect: Some(("credentials-match-pod", "web-1")),
            },
            Case {
                name: "new credentials after an association update are not flagged",
                spec: spec(45 * MIN, &[]),
                events: with(
                    pi_pod_ttl("web-1", 11 * MIN),
                    vec![
                        assoc(600, "update", "pi", ROLE_B),
                        issued_ar(630, "AKPI2", ROLE_APP, 10 * MIN, &tags("web-1", "pi")),
                        eks_auth(631, "web-1", "pi", ROLE_APP, "AKPI2", POD_IDENTITY_AUDIENCE),
                        creds(632, "web-1", "AKPI2", "rust", false),
                        issued_ar(1200, "AKPI3", ROLE_B, 6 * HOUR, &tags("web-1", "pi")),
                        eks_auth(1201, "web-1", "pi", ROLE_B, "AKPI3", POD_IDENTITY_AUDIENCE),
                        creds(1202, "web-1", "AKPI3", "rust", false),
                    ],
                ),
                expect: None,
            },
            Case {
                name: "issuance 10 s after an association delete passes",
                spec: spec(45 * MIN, &[]),
                events: with(
                    pi_pod("web-1"),
                    vec![
                        assoc(600, "delete", "pi", ""),
                        issued_ar(610, "AKPI2", ROLE_APP, 6 * HOUR, &tags("web-1", "pi")),
                        eks_auth(610, "web-1", "pi", ROLE_APP, "AKPI2", POD_IDENTITY_AUDIENCE),
                    ],
                ),
                expect: None,
            },
            Case {
                name: "issuance 10 min after an association delete breaks credentials-match-pod",
                spec: spec(45 * MIN, &[]),
                events: with(
                    pi_pod("web-1"),
                    vec![
                        assoc(600, "delete", "pi", ""),
                        issued_ar(1200, "AKPI2", ROLE_APP, 6 * HOUR, &tags("web-1", "pi")),
                        eks_auth(1200, "web-1", "pi", ROLE_APP, "AKPI2", POD_IDENTITY_AUDIENCE),
                    ],
                ),
                expect: Some(("credentials-match-pod", "web-1")),
            },
            Case {
                name: "using credentials after they expired breaks no-expired-credentials",
                spec: spec(45 * MIN, &[]),
                events: irsa_pod("web-1", issued_web(60, "AKIRSA1", ROLE_APP, 15 * MIN, "sts.amazonaws.com", w(86_400))),
                expect: Some(("no-expired-credentials", "web-1")),
            },
            Case {
                name: "the agent serving expired credentials breaks no-expired-credentials",
                spec: spec(45 * MIN, &[]),
                events: with(pi_pod("web-1"), vec![agent(20 * MIN, "web-1", "AKPI9", w(10 * MIN))]),
                expect: Some(("no-expired-credentials", "web-1")),
            },
            Case {
                name: "sts issuing on a token for another audience breaks issue-only-on-valid-token",
                spec: spec(45 * MIN, &[]),
                events: irsa_pod("web-1", issued_web(60, "AKIRSA1", ROLE_APP, HOUR, "api.example.com", w(86_400))),
                expect: Some(("issue-only-on-valid-token", "")),
            },
            Case {
                name: "sts issuing on a token expired beyond its leeway breaks issue-only-on-valid-token",
                spec: spec(45 * MIN, &[]),
                events: irsa_pod("web-1", issued_web(60, "AKIRSA1", ROLE_APP, HOUR, "sts.amazonaws.com", w(60) - 400)),
                expect: Some(("issue-only-on-valid-token", "")),
            },
            Case {
                name: "sts accepts a token expired within its leeway",
                spec: spec(45 * MIN, &[]),
                events: irsa_pod("web-1", issued_web(60, "AKIRSA1", ROLE_APP, HOUR, "sts.amazonaws.com", w(60) - 200)),
                expect: None,
            },
            Case {
                name: "eks auth issuing on an sts-audience token breaks issue-only-on-valid-token",
                spec: spec(45 * MIN, &[]),
                events: with(pi_pod("web-1"), vec![eks_auth(300, "web-1", "pi", ROLE_APP, "AKPI1", "sts.amazonaws.com")]),
                expect: Some(("issue-only-on-valid-token", "web-1")),
            },
            Case {
                name: "a container left without its token mount breaks webhook-mounts-token",
                spec: spec(45 * MIN, &[]),
                events: with(irsa_pod("web-1", good_irsa_issue()), created(2000, "web-2", "app", "app,sidecar", "app", "")),
                expect: Some(("webhook-mounts-token", "web-2")),
            },
            Case {
                name: "a container named in skip-containers may go without the mount",
                spec: spec(45 * MIN, &[]),
                events: with(irsa_pod("web-1", good_irsa_issue()), created(2000, "web-2", "app", "app,sidecar", "app", "sidecar")),
                expect: None,
            },
            Case {
                name: "skip-containers does not excuse the other containers",
                spec: spec(45 * MIN, &[]),
                events: with(irsa_pod("web-1", good_irsa_issue()), created(2000, "web-2", "app", "app,sidecar", "", "sidecar")),
                expect: Some(("webhook-mounts-token", "web-2")),
            },
            Case {
                name: "a pod admitted while the webhook failed (failure policy Ignore) is not judged",
                spec: spec(45 * MIN, &[]),
                events: with(
                    irsa_pod("web-1", good_irsa_issue()),
                    vec![
                        ev(1999, API, "apiserver.admission_failed", vec![("namespace", s("default")), ("pod", s("web-2")), ("error", s("timeout"))]),
                        created(2000, "web-2", "app", "app", "", "").remove(1),
                    ],
                ),
                expect: None,
            },
            Case {
                name: "a pod still failing after the heal deadline breaks credentials-after-heal",
                spec: spec(60 * MIN, &[(10 * MIN, 20 * MIN)]),
                events: with(
                    irsa_pod("web-1", good_irsa_issue())
                        .into_iter()
                        .filter(|e| e.kind != "pod.use" || e.t_ns < 10 * MIN * NS)
                        .collect(),
                    vec![no_creds(25 * MIN, "web-1", "InvalidIdentityToken"), no_creds(33 * MIN, "web-1", "InvalidIdentityToken")],
                ),
                expect: Some(("credentials-after-heal", "web-1")),
            },
            Case {
                name: "a failure between checkpoints, long after the last fault healed, breaks credentials-after-heal",
                spec: spec(60 * MIN, &[(10 * MIN, 20 * MIN)]),
                events: with(
                    irsa_pod("web-1", good_irsa_issue()).into_iter().filter(|e| e.kind != "pod.use" || e.t_ns < 10 * MIN * NS).collect(),
                    vec![no_creds(50 * MIN, "web-1", "InvalidIdentityToken"), use_(52 * MIN, "web-1", "AKIRSA1")],
                ),
                expect: Some(("credentials-after-heal", "web-1")),
            },
            Case {
                name: "a failure within the deadline after a fault, then success, passes",
                spec: spec(60 * MIN, &[(10 * MIN, 20 * MIN)]),
                events: with(
                    irsa_pod("web-1", good_irsa_issue()).into_iter().filter(|e| e.kind != "pod.use" || e.t_ns < 10 * MIN * NS).collect(),
                    vec![no_creds(30 * MIN, "web-1", "InvalidIdentityToken"), use_(32 * MIN, "web-1", "AKIRSA1")],
                ),
                expect: None,
            },
            Case {
                name: "a pod that recovers within the heal deadline passes",
                spec: spec(60 * MIN, &[(10 * MIN, 20 * MIN)]),
                events: with(
                    irsa_pod("web-1", good_irsa_issue()).into_iter().filter(|e| e.kind != "pod.use" || e.t_ns < 10 * MIN * NS).collect(),
                    vec![
                        no_creds(25 * MIN, "web-1", "InvalidIdentityToken"),
                        use_(30 * MIN, "web-1", "AKIRSA1"),
                        issued_web(31 * MIN, "AKIRSA2", ROLE_APP, HOUR, "sts.amazonaws.com", w(86_400)),
                        creds(31 * MIN, "web-1", "AKIRSA2", "rust", false),
                        use_(50 * MIN, "web-1", "AKIRSA2"),
                    ],
                ),
                expect: None,
            },
            Case {
                name: "a pod that never gets credentials breaks start-storm-drains",
                spec: spec(60 * MIN, &[]),
                events: with(created(30, "web-1", "app", "app", "app", ""), vec![no_creds(60, "web-1", "Throttling"), no_creds(50 * MIN, "web-1", "Throttling")]),
                expect: Some(("start-storm-drains", "web-1")),
            },
            Case {
                name: "a pod whose ServiceAccount maps to no role is exempt from liveness",
                spec: spec(60 * MIN, &[]),
                events: with(created(30, "web-1", "norole", "app", "", ""), vec![no_creds(60, "web-1", "CredentialsNotLoaded")]),
                expect: None,
            },
            Case {
                name: "botocore using credentials inside its mandatory window breaks refresh-in-window",
                spec: spec(30 * MIN, &[]),
                events: with(
                    vec![sa(0, "app"), issued_web(60, "AKB1", ROLE_APP, 20 * MIN, "sts.amazonaws.com", w(86_400)), creds(61, "web-1", "AKB1", "botocore", true)],
                    [created(30, "web-1", "app", "app", "app", ""), vec![use_(2 * MIN, "web-1", "AKB1"), use_(16 * MIN, "web-1", "AKB1")]].concat(),
                ),
                expect: Some(("refresh-in-window", "web-1")),
            },
            Case {
                name: "go web identity using credentials seconds before expiry passes (its window is 0)",
                spec: spec(45 * MIN, &[]),
                events: with(
                    vec![
                        sa(0, "app"),
                        issued_web(60, "AKG1", ROLE_APP, 20 * MIN, "sts.amazonaws.com", w(86_400)),
                        creds(61, "web-1", "AKG1", "go", true),
                        issued_web(21 * MIN + 1, "AKG2", ROLE_APP, HOUR, "sts.amazonaws.com", w(86_400)),
                        creds(21 * MIN + 2, "web-1", "AKG2", "go", false),
                    ],
                    [created(30, "web-1", "app", "app", "app", ""), vec![use_(21 * MIN - 2, "web-1", "AKG1"), use_(30 * MIN, "web-1", "AKG2")]].concat(),
                ),
                expect: None,
            },
            Case {
                name: "replacing a 12 h session after 1 h breaks refresh-in-window",
                spec: spec(3 * HOUR, &[]),
                events: with(
                    vec![
                        sa(0, "app"),
                        issued_web(60, "AKL1", ROLE_APP, 12 * HOUR, "sts.amazonaws.com", w(86_400)),
                        creds(61, "web-1", "AKL1", "rust", true),
                        issued_web(HOUR, "AKL2", ROLE_APP, 12 * HOUR, "sts.amazonaws.com", w(86_400)),
                        creds(HOUR + 1, "web-1", "AKL2", "rust", false),
                    ],
                    created(30, "web-1", "app", "app", "app", ""),
                ),
                expect: Some(("refresh-in-window", "web-1")),
            },
        ]
    }

    #[test]
    fn every_invariant_passes_and_fails_where_it_should() {
        for c in cases() {
            let mut ch = Checker::new(c.spec);
            for e in &c.events {
                ch.observe(e);
            }
            let got = ch.finish();
            match c.expect {
                None => assert!(got.is_empty(), "{}: expected no violation, got {got:#?}", c.name),
                Some((inv, pod)) => {
                    let v = got.iter().find(|v| v.invariant == inv);
                    let Some(v) = v else { panic!("{}: expected {inv}, got {got:#?}", c.name) };
                    if !pod.is_empty() {
                        assert_eq!(v.pod.as_deref(), Some(format!("default/{pod}").as_str()), "{}: {v:#?}", c.name);
                        assert!(v.message.contains(pod), "{}: message does not name the pod: {}", c.name, v.message);
                    }
                    assert!(!v.events.is_empty() && v.events.len() <= EVENTS_MAX, "{}: events {:?}", c.name, v.events);
                    // A pod that never got credentials, or keeps using expired ones, is also unhealed at the
                    // end: the expected overlaps.
                    let overlap = |o: &str| {
                        o == "credentials-after-heal" && (inv == "start-storm-drains" || inv == "no-expired-credentials")
                    };
                    let stray: Vec<&Violation> = got.iter().filter(|o| o.invariant != inv && !overlap(o.invariant)).collect();
                    assert!(stray.is_empty(), "{}: other invariants fired too: {stray:#?}", c.name);
                }
            }
        }
    }

    #[test]
    fn every_invariant_has_a_failing_case() {
        let failing: BTreeSet<&str> = cases().iter().filter_map(|c| c.expect.map(|e| e.0)).collect();
        for n in Checker::NAMES {
            assert!(failing.contains(n), "no failing case for {n}");
        }
    }

    #[test]
    fn one_violation_per_invariant_and_pod_with_a_count() {
        let mut ch = Checker::new(spec(45 * MIN, &[]));
        for e in irsa_pod("web-1", issued_web(60, "AKIRSA1", ROLE_APP, 15 * MIN, "sts.amazonaws.com", w(86_400))) {
            ch.observe(&e);
        }
        let got: Vec<Violation> = ch.finish().into_iter().filter(|v| v.invariant == "no-expired-credentials").collect();
        assert_eq!(got.len(), 1, "{got:#?}");
        assert!(got[0].count > 1);
        assert!(got[0].message.contains("AKIRSA1"));
    }

    #[test]
    fn node_hosts_map_to_the_longest_matching_prefix() {
        let mut sp = spec(HOUR, &[]);
        sp.clusters = vec![
            ClusterSpec { name: "a".into(), apiserver_host: "kube-apiserver.a".into(), node_prefix: "a-node".into() },
            ClusterSpec { name: "a-node".into(), apiserver_host: "kube-apiserver.a-node".into(), node_prefix: "a-node-node".into() },
        ];
        let ch = Checker::new(sp);
        assert_eq!(ch.node_cluster("a-node-3"), Some(0));
        assert_eq!(ch.node_cluster("a-node-node-12"), Some(1));
        assert_eq!(ch.node_cluster("sts.amazonaws.com"), None);
        assert_eq!(ch.apiserver_cluster("kube-apiserver.a-node"), Some(1));
    }
}
