//! Builds a simulated world from a scenario and runs it.
//!
//! This is where a scenario becomes hosts and software. Regional AWS services, one host each: the OIDC
//! issuer, STS (with its IAM registry of OIDC providers and roles), the EKS API (Pod Identity
//! associations), EKS Auth and S3. Per cluster: an API server, the webhook, and per node a kubelet and the
//! Pod Identity Agent. A `kubectl` host plays the operator: it creates ServiceAccounts and associations
//! through the real APIs, then pods on the scenario's schedule, then the scenario's timed actions.
//! Every actor is started through the engine and talks to the others only over the network.
//!
//! This module is the composition root: the one place that knows both the engine and the actors.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container as K8sContainer, Pod, PodSpec, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::api_server::{ApiServer, ApiServerConfig, ApiServerStore};
use crate::http::{HttpClient, Timeouts};
use crate::jwt::SigningKey;
use crate::kubelet::{Kubelet, KubeletConfig, ANNOTATION_ACTION, ANNOTATION_SDK, ANNOTATION_USE_INTERVAL_S};
use crate::oidc_issuer::{IssuedCluster, OidcIssuer, OidcIssuerConfig};
use crate::runtime::{self, fields};
use crate::scenario::{Action, ActionKind, Association, Loaded, ScenarioError};
use crate::summary::{Metrics, RunFacts, Summary};

/// Pod annotation: the cluster a pod runs in (for the summary's own/cross split).
pub const ANNOTATION_CLUSTER: &str = "credsim.dev/cluster";
/// Pod annotation: objects an `s3-get` pod reads, `bucket/key=owner-cluster` separated by commas.
pub const ANNOTATION_S3_READS: &str = "credsim.dev/s3-reads";
/// Pod annotation: objects an `s3-put` pod writes, `bucket/key` separated by commas.
pub const ANNOTATION_S3_WRITES: &str = "credsim.dev/s3-writes";

/// The EKS service principal that assumes Pod Identity roles.
pub const POD_IDENTITY_PRINCIPAL: &str = "pods.eks.amazonaws.com";
/// The access key id EKS Auth signs its STS calls with (registered with STS as that service).
const EKS_AUTH_ACCESS_KEY_ID: &str = "ASIAEKSAUTHSERVICE01";

/// The facts of one cluster that everything else derives from.
#[derive(Clone, Debug)]
pub struct ClusterFacts {
    /// Cluster name (with the replica suffix when replicated).
    pub name: String,
    /// The `[cluster]` entry's name.
    pub base_name: String,
    pub region: String,
    pub account_id: String,
    pub oidc_id: String,
    /// `https://oidc.eks.<region>.amazonaws.com/id/<ID>`.
    pub issuer: String,
    /// The issuer without `https://` (IAM condition-key prefix).
    pub provider: String,
    /// `arn:aws:iam::<acct>:oidc-provider/<provider>`.
    pub provider_arn: String,
    /// `arn:aws:eks:<region>:<acct>:cluster/<name>`.
    pub arn: String,
    pub nodes: u32,
    pub iam_oidc_provider: bool,
    pub pod_identity_agent: bool,
    pub ipv6: bool,
    /// Host names of this cluster's API server and webhook, and the prefix of its nodes.
    pub apiserver_host: String,
    pub webhook_host: String,
    pub node_prefix: String,
}

impl ClusterFacts {
    /// Every cluster of a scenario, replicas expanded, in order.
    pub fn all(l: &Loaded) -> Vec<ClusterFacts> {
        let total: u32 = l.scenario.clusters.iter().map(|c| c.replicas).sum();
        let mut out = Vec::new();
        for c in &l.scenario.clusters {
            for r in 1..=c.replicas {
                let name = if c.replicas == 1 { c.name.clone() } else { format!("{}-{r:03}", c.name) };
                let oidc_id = match (&c.oidc_id, c.replicas) {
                    (Some(id), 1) => id.clone(),
                    _ => oidc_id_for(&name),
                };
                let provider = format!("oidc.eks.{}.amazonaws.com/id/{oidc_id}", c.region);
                let single = total == 1;
                out.push(ClusterFacts {
                    base_name: c.name.clone(),
                    region: c.region.clone(),
                    account_id: c.account_id.clone(),
                    issuer: format!("https://{provider}"),
                    provider_arn: format!("arn:aws:iam::{}:oidc-provider/{provider}", c.account_id),
                    provider,
                    arn: format!("arn:aws:eks:{}:{}:cluster/{name}", c.region, c.account_id),
                    oidc_id,
                    nodes: c.nodes,
                    iam_oidc_provider: c.iam_oidc_provider,
                    pod_identity_agent: c.pod_identity_agent,
                    ipv6: c.ip_family == crate::scenario::IpFamilySetting::Ipv6,
                    apiserver_host: if single { "kube-apiserver".into() } else { format!("kube-apiserver.{name}") },
                    webhook_host: if single { "pod-identity-webhook".into() } else { format!("pod-identity-webhook.{name}") },
                    node_prefix: if single { "node".into() } else { format!("{name}-node") },
                    name,
                });
            }
        }
        out
    }

    /// Whether a scenario entry with `cluster = sel` applies to this cluster.
    fn selected(&self, sel: &Option<String>) -> bool {
        sel.as_ref().is_none_or(|s| *s == self.base_name || *s == self.name)
    }

    fn node_names(&self) -> Vec<String> {
        (1..=self.nodes).map(|i| format!("{}-{i}", self.node_prefix)).collect()
    }

    /// Expands `${OIDC_PROVIDER}`, `${OIDC_PROVIDER_ARN}`, `${ACCOUNT_ID}`, `${CLUSTER_NAME}`, `${REGION}`.
    pub fn expand(&self, text: &str) -> String {
        text.replace("${OIDC_PROVIDER_ARN}", &self.provider_arn)
            .replace("${OIDC_PROVIDER}", &self.provider)
            .replace("${ACCOUNT_ID}", &self.account_id)
            .replace("${CLUSTER_NAME}", &self.name)
            .replace("${REGION}", &self.region)
    }

    pub fn role_arn(&self, role: &str) -> String {
        format!("arn:aws:iam::{}:role/{role}", self.account_id)
    }
}

/// A stable 32-hex-digit OIDC id for a cluster name (EKS draws one at random; a stable one keeps
/// trust policies valid for every seed).
pub fn oidc_id_for(cluster: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(format!("oidc-id/{cluster}").as_bytes());
    d[..16].iter().map(|b| format!("{b:02X}")).collect()
}

/// What a run produced.
pub struct RunOutcome {
    pub summary: Summary,
    /// Every trace event, when kept.
    pub events: Vec<sim::Event>,
    /// What the invariant checkers found, earliest first (also in `summary.violations`).
    pub violations: Vec<crate::invariants::Violation>,
    /// The report's numbers and histograms, when asked for (`RunOptions::report`).
    pub report: Option<(crate::report::data::ReportData, crate::report::data::Histograms)>,
}

/// Options of one run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub seed: u64,
    /// Keep the whole trace in memory (for `--trace`).
    pub keep_events: bool,
    /// Planted bugs to switch on (see `bugs`); none in ordinary runs.
    pub bugs: Vec<crate::bugs::Bug>,
    /// End the run at the first driver step after this invariant fails (the shrinker only needs to know
    /// *whether* it fails; such a run's digest is not the full run's).
    pub stop_when_failed: Option<String>,
    /// Collect the report's numbers (latency per hop, caches, time series) as the run goes.
    pub report: bool,
}

/// Called as simulated time passes: (elapsed, total).
pub type Progress<'a> = &'a dyn Fn(Duration, Duration);

/// How many steps the driver takes through a run (progress granularity). The driver always steps,
/// whether anyone watches or not, so showing progress cannot change a run.
const DRIVER_STEPS: u32 = 200;

/// One thing the operator does.
#[derive(Clone, Debug)]
enum OperatorStep {
    CreateServiceAccount { apiserver: String, namespace: String, sa: Box<ServiceAccount> },
    CreatePod { apiserver: String, namespace: String, pod: Box<Pod> },
    DeletePod { apiserver: String, namespace: String, name: String },
    CreateAssociation { cluster: String, body: serde_json::Value },
    UpdateAssociation { cluster: String, namespace: String, service_account: String, body: serde_json::Value },
    DeleteAssociation { cluster: String, namespace: String, service_account: String },
}

/// A piece of software: a factory that starts it from scratch (at the start and on every restart).
pub type Software = Rc<dyn Fn() -> Pin<Box<dyn Future<Output = ()>>>>;

/// One named process of a host and the software it runs.
pub struct ProcessSpec {
    /// `main` ([`sim::MAIN_PROCESS`]) for a host's own software; `kubelet`, `pod-identity-agent`, ... on a node.
    pub name: String,
    pub software: Software,
}

/// One machine of the world: its DNS name, its other names, and its processes in start order.
pub struct HostSpec {
    pub name: String,
    /// Further DNS names of the same machine (`sts.amazonaws.com` for the regional STS host).
    pub aliases: Vec<String>,
    pub processes: Vec<ProcessSpec>,
}

/// The world's machines and their software, built once from a scenario, in registration order (which
/// fixes host addresses). [`Topology::install`] puts it into our engine; the turmoil reference engine
/// (feature `turmoil`, `crate::turmoil_engine`) installs the same value into `turmoil::Sim`.
#[derive(Default)]
pub struct Topology {
    pub hosts: Vec<HostSpec>,
}

impl Topology {
    fn add_host(&mut self, name: &str) -> usize {
        self.hosts.push(HostSpec { name: name.to_string(), aliases: Vec::new(), processes: Vec::new() });
        self.hosts.len() - 1
    }

    fn add_alias(&mut self, h: usize, name: &str) {
        self.hosts[h].aliases.push(name.to_string());
    }

    /// Adds software to process `process` of host `h` (processes start in the order first named; a
    /// process named twice runs both pieces).
    fn add_process<F, Fut>(&mut self, h: usize, process: &str, factory: F)
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let software: Software = Rc::new(move || Box::pin(factory()));
        self.hosts[h].processes.push(ProcessSpec { name: process.to_string(), software });
    }

    fn add_software<F, Fut>(&mut self, h: usize, factory: F)
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.add_process(h, sim::MAIN_PROCESS, factory);
    }

    /// Registers every host, alias and process with our engine, in order.
    pub fn install(&self, world: &sim::Sim) {
        for host in &self.hosts {
            let h = world.add_host(&host.name);
            for a in &host.aliases {
                world.add_alias(h, a);
            }
            for p in &host.processes {
                let software = p.software.clone();
                world.add_process(h, &p.name, move || software());
            }
        }
    }
}

/// A scenario turned into a world that has not run yet: what either engine needs to run it.
pub struct Built {
    pub topology: Topology,
    pub clusters: Vec<ClusterFacts>,
    /// How long the run lasts (the scenario's `duration`).
    pub duration: Duration,
    /// The fault schedule (empty for a scenario without `[[fault]]`).
    pub fault_ops: Vec<(Duration, crate::fault_driver::Op)>,
    /// What the invariant checkers need to know of the scenario.
    pub invariant_spec: crate::invariants::InvariantSpec,
    rotate_keys: BTreeMap<String, crate::fault_driver::RotateKey>,
    quota_refusals: BTreeMap<String, u64>,
    quota_refusal_messages: Vec<String>,
}

impl Built {
    /// The run's facts for the summary, once it has run.
    pub fn facts(&self, loaded: &Loaded, seed: u64, sim_seconds: u64, wall_ms: u64, events: u64, digest: String) -> RunFacts {
        RunFacts {
            scenario: loaded.scenario.scenario.name.clone(),
            seed,
            sim_seconds,
            wall_ms,
            events,
            digest,
            quota_refusals: self.quota_refusals.clone(),
            quota_refusal_messages: self.quota_refusal_messages.clone(),
        }
    }
}

/// Builds the world for `loaded` and runs it to the end.
pub fn run(loaded: &Loaded, opts: &RunOptions) -> Result<RunOutcome, ScenarioError> {
    run_with_progress(loaded, opts, &|_, _| {})
}

/// [`run`], reporting simulated progress as it goes.
pub fn run_with_progress(loaded: &Loaded, opts: &RunOptions, progress: Progress<'_>) -> Result<RunOutcome, ScenarioError> {
    let wall_start = wall_clock_start();
    let s = &loaded.scenario;
    let mut built = build(loaded, opts)?;
    let (topology, duration, fault_ops) = (std::mem::take(&mut built.topology), built.duration, std::mem::take(&mut built.fault_ops));
    let (invariant_spec, rotate_keys) = (built.invariant_spec.clone(), std::mem::take(&mut built.rotate_keys));
    let built_facts = built;
    let mut cfg = sim::SimConfig::new(opts.seed);
    cfg.keep_events = opts.keep_events;
    cfg.latency = sim::LatencyModel { min_us: s.network.latency_us_min, max_us: s.network.latency_us_max };
    let mut world = sim::Sim::new(cfg);

    let metrics = Rc::new(RefCell::new(Metrics::new()));
    {
        let m = metrics.clone();
        world.subscribe(move |e| m.borrow_mut().observe(e));
    }
    // Like the checker below: an Option the end of the run takes out.
    let collector = Rc::new(RefCell::new(opts.report.then(|| crate::report::data::Collector::new(duration.as_secs()))));
    if opts.report {
        let c = collector.clone();
        world.subscribe(move |e| {
            if let Some(c) = c.borrow_mut().as_mut() {
                c.observe(e);
            }
        });
    }
    // An Option so the end of the run can take the checker out (its `finish` consumes it).
    let checker = Rc::new(RefCell::new(Some(crate::invariants::Checker::new(invariant_spec))));
    {
        let c = checker.clone();
        world.subscribe(move |e| {
            if let Some(c) = c.borrow_mut().as_mut() {
                c.observe(e);
            }
        });
    }
    topology.install(&world);

    let mut driver = crate::fault_driver::Driver::new(rotate_keys);
    let (stop_when, checker_driver) = (opts.stop_when_failed.clone(), checker.clone());
    world.run(async move {
        let start = tokio::time::Instant::now();
        let mut ops = fault_ops.into_iter().peekable();
        for i in 1..=DRIVER_STEPS {
            let step = duration * i / DRIVER_STEPS;
            while let Some((at, op)) = ops.next_if(|(at, _)| *at <= step) {
                tokio::time::sleep_until(start + at).await;
                driver.apply(&op);
            }
            tokio::time::sleep_until(start + step).await;
            progress(step, duration);
            if stop_when.as_deref().is_some_and(|name| checker_driver.borrow().as_ref().is_some_and(|c| c.has_failed(name))) {
                break;
            }
        }
    });

    let wall_ms = wall_clock_elapsed_ms(wall_start);
    let facts_run = built_facts.facts(loaded, opts.seed, world.elapsed().as_secs(), wall_ms, world.event_count(), world.digest());
    let mut outcome = finish(&metrics.borrow(), checker.borrow_mut().take(), facts_run, world.take_events());
    let meta = crate::report::data::RunMeta { scenario: s.scenario.name.clone(), seed: opts.seed, duration_s: duration.as_secs() };
    outcome.report = collector.borrow_mut().take().map(|c| c.finish(meta));
    Ok(outcome)
}

/// A run's outcome from its metrics, its checker (taken out at the end) and its events.
pub fn finish(metrics: &Metrics, checker: Option<crate::invariants::Checker>, facts: RunFacts, events: Vec<sim::Event>) -> RunOutcome {
    let mut summary = metrics.summary(facts);
    let violations = checker.map(crate::invariants::Checker::finish).unwrap_or_default();
    summary.violations = crate::summary::violation_lines(&violations);
    RunOutcome { summary, events, violations, report: None }
}

/// Turns a scenario into a [`Built`] world: checks it, draws the operator's plan, and builds every
/// host's software. Nothing runs yet, and no engine is involved.
pub fn build(loaded: &Loaded, opts: &RunOptions) -> Result<Built, ScenarioError> {
    let s = &loaded.scenario;
    let clusters = ClusterFacts::all(loaded);
    let first = clusters[0].clone();
    if let Some(c) = clusters.iter().find(|c| c.account_id != first.account_id || c.region != first.region) {
        return Err(ScenarioError {
            file: loaded.path.clone(),
            line: loaded.line_of("account_id"),
            column: None,
            field: "cluster".into(),
            message: format!("cluster {} is in another account or region: one account and region per scenario", c.name),
        });
    }
    let region = first.region.clone();
    runtime::install_controls(&opts.bugs);
    let targets = fault_targets(&clusters, &region);
    let fault_ops = crate::fault_driver::schedule(&s.faults, &targets).map_err(|(i, field, message)| ScenarioError {
        file: loaded.path.clone(),
        line: crate::scenario::entry_key_line(&loaded.text, "[[fault]]", i, &format!("{field} =")),
        column: None,
        field: format!("fault[{i}].{field}"),
        message,
    })?;
    let invariant_spec = invariant_spec(loaded, &clusters);
    let mut world = Topology::default();
    let mut rotate_keys: BTreeMap<String, crate::fault_driver::RotateKey> = BTreeMap::new();
    // OIDC issuer (one regional endpoint for every cluster).
    let h = world.add_host(&format!("oidc.eks.{region}.amazonaws.com"));
    let issuer_cfg = OidcIssuerConfig {
        clusters: clusters
            .iter()
            .map(|c| IssuedCluster {
                id: c.oidc_id.clone(),
                issuer: c.issuer.clone(),
                apiserver_jwks_url: format!("https://{}/openid/v1/jwks", c.apiserver_host),
            })
            .collect(),
        upstream_cache: Duration::from_secs(60),
        jwks_max_age_s: 3600,
    };
    world.add_software(h, move || OidcIssuer::run(issuer_cfg.clone()));

    // STS and its IAM registry (durable: it survives an STS restart, as IAM does).
    let (sts, (quota_refusals, quota_refusal_messages)) = build_sts(loaded, &clusters)?;
    let sts = Rc::new(sts);
    let sts_url = format!("https://sts.{region}.amazonaws.com");
    let h = world.add_host(&format!("sts.{region}.amazonaws.com"));
    world.add_alias(h, "sts.amazonaws.com");
    world.add_software(h, move || crate::sts::server::run(sts.clone()));

    // EKS API (associations) and EKS Auth.
    let eks_api_url = format!("https://eks.{region}.amazonaws.com");
    let mut eks_cfg = crate::eks_api::EksApiConfig::new(region.clone(), first.account_id.clone());
    if let Some(d) = s.eks.propagation_delay_ms {
        eks_cfg.propagation_delay_ms = d;
    }
    if let Some(m) = s.eks.associations_per_cluster_max {
        eks_cfg.associations_per_cluster_max = m;
    }
    let eks_state = crate::eks_api::EksApiState::new();
    for c in &clusters {
        eks_state.borrow_mut().add_cluster(&c.name, &c.arn);
    }
    let h = world.add_host(&format!("eks.{region}.amazonaws.com"));
    world.add_software(h, move || crate::eks_api::run(eks_cfg.clone(), eks_state.clone()));

    let eks_auth_url = format!("https://eks-auth.{region}.api.aws");
    let mut auth_cfg = crate::eks_auth::EksAuthConfig::new(
        &region,
        clusters
            .iter()
            .map(|c| crate::eks_auth::EksAuthCluster { name: c.name.clone(), arn: c.arn.clone(), issuer: c.issuer.clone() })
            .collect(),
        EKS_AUTH_ACCESS_KEY_ID,
    );
    auth_cfg.eks_api_url = eks_api_url.clone();
    if let Some(r) = s.eks_auth.throttle_rate_per_s {
        auth_cfg.throttle_rate_per_s = r;
    }
    if let Some(b) = s.eks_auth.throttle_burst {
        auth_cfg.throttle_burst = b;
    }
    auth_cfg.sts_url = sts_url.clone();
    let h = world.add_host(&format!("eks-auth.{region}.api.aws"));
    world.add_software(h, move || crate::eks_auth::run(auth_cfg.clone()));

    // S3.
    let s3_state = crate::s3::S3State::new();
    for b in &s.buckets {
        for o in &b.objects {
            let tags: Vec<(String, String)> = o.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            s3_state.borrow_mut().put_object(&b.name, &o.key, o.body.clone().into_bytes().into(), tags);
        }
    }
    let h = world.add_host(&format!("s3.{region}.amazonaws.com"));
    let s3_cfg = crate::s3::S3Config::new(region.clone(), sts_url.clone());
    world.add_software(h, move || crate::s3::run(s3_cfg.clone(), s3_state.clone()));

    // Clusters: API server, webhook, nodes (kubelet + agent).
    for c in &clusters {
        let key = crate::api_server::SigningKeys::new(SigningKey::generate(sim::derive_seed(opts.seed, &format!("sa-signer/{}", c.name))));
        {
            // A key-rotation fault: a new key, drawn from the seed, the cluster and the rotation's number.
            let (keys, name, seed, n) = (key.clone(), c.name.clone(), opts.seed, std::cell::Cell::new(0u32));
            rotate_keys.insert(
                c.name.clone(),
                Box::new(move |overlap| {
                    n.set(n.get() + 1);
                    let next = SigningKey::generate(sim::derive_seed(seed, &format!("sa-signer/{name}/rotation-{}", n.get())));
                    keys.rotate(next, overlap);
                }),
            );
        }
        let store = ApiServerStore::new();
        let mut api_cfg = ApiServerConfig::new(c.issuer.clone());
        api_cfg.webhook_url = Some(format!("https://{}/mutate", c.webhook_host));
        let h = world.add_host(&c.apiserver_host);
        world.add_software(h, move || ApiServer::run(api_cfg.clone(), key.clone(), store.clone()));

        let webhook_cfg = webhook_config(loaded, c, &eks_api_url);
        let h = world.add_host(&c.webhook_host);
        world.add_software(h, move || crate::webhook::server::run(webhook_cfg.clone()));

        for node in c.node_names() {
            let h = world.add_host(&node);
            let mut kc = KubeletConfig::new(node.clone(), format!("https://{}", c.apiserver_host));
            if let Some(p) = s.kubelet.sync_period_s {
                kc.sync_period = Duration::from_secs(p.max(1));
            }
            world.add_process(h, "kubelet", move || Kubelet::run(kc.clone()));
            if c.pod_identity_agent {
                let mut ac = crate::pod_identity_agent::PodIdentityAgentConfig::new(&c.name, &region);
                ac.eks_auth_url = eks_auth_url.clone();
                if c.ipv6 {
                    ac = ac.with_ipv6();
                }
                if let Some(b) = s.agent.cache_by_pod_uid {
                    ac.cache_by_pod_uid = b;
                }
                if let Some(r) = s.agent.max_credential_retention_s {
                    ac.max_credential_retention_s = r;
                }
                world.add_process(h, "pod-identity-agent", move || crate::pod_identity_agent::run(ac.clone()));
            }
        }
    }

    // The operator.
    let (setup, steps) = plan(loaded, &clusters, opts.seed);
    let h = world.add_host(KUBECTL_HOST);
    let eks_api_url2 = eks_api_url.clone();
    world.add_software(h, move || operator(setup.clone(), steps.clone(), eks_api_url2.clone()));

    Ok(Built {
        topology: world,
        clusters,
        duration: s.scenario.duration.0,
        fault_ops,
        invariant_spec,
        rotate_keys,
        quota_refusals,
        quota_refusal_messages,
    })
}

/// The operator's host name.
pub const KUBECTL_HOST: &str = "kubectl";

/// The names faults may target (see `faults::TARGET_NAMES`) and the hosts they stand for.
fn fault_targets(clusters: &[ClusterFacts], region: &str) -> crate::fault_driver::Targets {
    let mut g: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let regional = [
        ("sts", format!("sts.{region}.amazonaws.com")),
        ("eks-auth", format!("eks-auth.{region}.api.aws")),
        ("eks-api", format!("eks.{region}.amazonaws.com")),
        ("oidc", format!("oidc.eks.{region}.amazonaws.com")),
        ("s3", format!("s3.{region}.amazonaws.com")),
    ];
    let mut everyone: Vec<String> = Vec::new();
    for (name, host) in &regional {
        g.insert(name.to_string(), vec![host.clone()]);
        everyone.push(host.clone());
    }
    g.insert("aws".into(), regional.iter().map(|(_, h)| h.clone()).collect());
    let mut targets = crate::fault_driver::Targets::default();
    let (mut apis, mut hooks, mut nodes) = (Vec::new(), Vec::new(), Vec::new());
    for c in clusters {
        g.insert(format!("apiserver.{}", c.name), vec![c.apiserver_host.clone()]);
        g.insert(format!("webhook.{}", c.name), vec![c.webhook_host.clone()]);
        g.insert(format!("nodes.{}", c.name), c.node_names());
        apis.push(c.apiserver_host.clone());
        hooks.push(c.webhook_host.clone());
        nodes.extend(c.node_names());
        targets.cluster_nodes.push((c.name.clone(), c.node_names()));
        if c.pod_identity_agent {
            targets.agent_nodes.extend(c.node_names());
        }
    }
    everyone.extend(apis.iter().cloned());
    everyone.extend(hooks.iter().cloned());
    everyone.extend(nodes.iter().cloned());
    everyone.push(KUBECTL_HOST.into());
    g.insert("apiserver".into(), apis);
    g.insert("webhook".into(), hooks);
    g.insert("nodes".into(), nodes);
    for h in &everyone {
        g.insert(h.clone(), vec![h.clone()]);
    }
    g.insert("*".into(), everyone);
    targets.groups = g;
    targets
}

/// What the invariant checkers need to know of the scenario: the clusters, the IRSA role each
/// ServiceAccount maps to, the allowances and when faults were active.
fn invariant_spec(loaded: &Loaded, clusters: &[ClusterFacts]) -> crate::invariants::InvariantSpec {
    use crate::invariants::{ClusterSpec, InvariantSpec};
    let s = &loaded.scenario;
    let mut irsa_roles = BTreeMap::new();
    for c in clusters {
        for sa in s.service_accounts.iter().filter(|sa| c.selected(&sa.cluster)) {
            let (everywhere, here) = (format!("{}/{}", sa.namespace, sa.name), format!("{}/{}/{}", c.name, sa.namespace, sa.name));
            if s.invariants.expected_to_fail.iter().any(|e| *e == everywhere || *e == here) {
                continue;
            }
            let annotated = sa.annotations.iter().find(|(k, _)| k.as_str() == "eks.amazonaws.com/role-arn").map(|(_, v)| c.expand(v));
            if let Some(arn) = sa.role.as_ref().map(|r| c.role_arn(r)).or(annotated) {
                irsa_roles.insert((c.name.clone(), sa.namespace.clone(), sa.name.clone()), arn);
            }
        }
    }
    let max_skew = s
        .faults
        .iter()
        .filter_map(|f| match f.kind {
            crate::faults::FaultKind::ClockSkew { skew_ms, .. } => Some(skew_ms.unsigned_abs()),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let mut spec = InvariantSpec::new(
        clusters
            .iter()
            .map(|c| ClusterSpec { name: c.name.clone(), apiserver_host: c.apiserver_host.clone(), node_prefix: c.node_prefix.clone() })
            .collect(),
        s.scenario.duration.0,
    );
    spec.irsa_roles = irsa_roles;
    spec.skew_allowance = Duration::from_secs(5) + Duration::from_millis(max_skew);
    if let Some(d) = s.invariants.liveness_deadline {
        spec.liveness_deadline = d.0;
    }
    spec.fault_windows = s.faults.iter().map(|f| (f.at.0, fault_end(f, clusters))).collect();
    spec
}

/// When a fault's effects end, for the checkers (see `Fault::effect_end`).
fn fault_end(f: &crate::faults::Fault, clusters: &[ClusterFacts]) -> Duration {
    let cluster = match &f.kind {
        crate::faults::FaultKind::AgentRollout { cluster, .. } | crate::faults::FaultKind::KeyRotation { cluster } => cluster.clone(),
        _ => None,
    };
    let nodes = clusters.iter().find(|c| cluster.as_ref().is_none_or(|n| *n == c.name)).map(|c| c.nodes).unwrap_or(1);
    f.effect_end(nodes)
}

/// What the operator does first (ServiceAccounts, then associations), and then on schedule.
fn plan(loaded: &Loaded, clusters: &[ClusterFacts], seed: u64) -> (Vec<OperatorStep>, Vec<(Duration, OperatorStep)>) {
    let s = &loaded.scenario;
    let mut setup = Vec::new();
    for c in clusters {
        for sa in s.service_accounts.iter().filter(|sa| c.selected(&sa.cluster)) {
            let mut ann = BTreeMap::new();
            if let Some(role) = &sa.role {
                ann.insert("eks.amazonaws.com/role-arn".to_string(), c.role_arn(role));
            }
            for (k, v) in &sa.annotations {
                ann.insert(k.clone(), c.expand(v));
            }
            let obj = ServiceAccount {
                metadata: ObjectMeta {
                    name: Some(sa.name.clone()),
                    namespace: Some(sa.namespace.clone()),
                    annotations: Some(ann),
                    ..Default::default()
                },
                ..Default::default()
            };
            setup.push(OperatorStep::CreateServiceAccount {
                apiserver: c.apiserver_host.clone(),
                namespace: sa.namespace.clone(),
                sa: Box::new(obj),
            });
        }
        for a in s.associations.iter().filter(|a| c.selected(&a.cluster)) {
            setup.push(association_step(c, a));
        }
    }

    // Pods, on their schedule.
    let mut rng = ChaCha8Rng::seed_from_u64(sim::derive_seed(seed, "schedule"));
    let mut steps: Vec<(Duration, OperatorStep)> = Vec::new();
    let multi = clusters.len() > 1;
    for c in clusters {
        for w in s.workloads.iter().filter(|w| c.selected(&w.cluster)) {
            for (ni, node) in c.node_names().iter().enumerate() {
                for j in 0..w.pods_per_node {
                    let spread_ms = w.spread.0.as_millis() as u64;
                    let at = w.start.0 + Duration::from_millis(if spread_ms == 0 { 0 } else { rng.random_range(0..=spread_ms) });
                    let name = if multi { format!("{}-{}-{}-{:03}", w.name, c.name, ni + 1, j) } else { format!("{}-{}-{:03}", w.name, ni + 1, j) };
                    let pod = pod_for(loaded, c, w, node, &name);
                    steps.push((at, OperatorStep::CreatePod { apiserver: c.apiserver_host.clone(), namespace: w.namespace.clone(), pod: Box::new(pod) }));
                }
            }
        }
    }
    // Timed actions.
    for a in &s.actions {
        let at = a.at.0;
        for c in clusters {
            match &a.what {
                ActionKind::CreateAssociation(assoc) if c.selected(&assoc.cluster) => steps.push((at, association_step(c, assoc))),
                ActionKind::UpdateAssociation { cluster, namespace, service_account, role, target_role, disable_session_tags, policy }
                    if c.selected(cluster) =>
                {
                    let mut body = json!({});
                    if let Some(r) = role {
                        body["roleArn"] = json!(c.role_arn(r));
                    }
                    if let Some(t) = target_role {
                        body["targetRoleArn"] = json!(if t.is_empty() { String::new() } else { c.role_arn(t) });
                    }
                    if let Some(d) = disable_session_tags {
                        body["disableSessionTags"] = json!(d);
                    }
                    if let Some(p) = policy {
                        body["policy"] = json!(c.expand(p));
                    }
                    steps.push((
                        at,
                        OperatorStep::UpdateAssociation {
                            cluster: c.name.clone(),
                            namespace: namespace.clone(),
                            service_account: service_account.clone(),
                            body,
                        },
                    ))
                }
                ActionKind::DeleteAssociation { cluster, namespace, service_account } if c.selected(cluster) => steps.push((
                    at,
                    OperatorStep::DeleteAssociation { cluster: c.name.clone(), namespace: namespace.clone(), service_account: service_account.clone() },
                )),
                ActionKind::RollingRestart { workload, cluster, pause } if c.selected(cluster) => {
                    let Some(w) = s.workloads.iter().find(|w| &w.name == workload && c.selected(&w.cluster)) else { continue };
                    let mut t = at;
                    for (ni, node) in c.node_names().iter().enumerate() {
                        for j in 0..w.pods_per_node {
                            let old = if multi { format!("{}-{}-{}-{:03}", w.name, c.name, ni + 1, j) } else { format!("{}-{}-{:03}", w.name, ni + 1, j) };
                            let new = format!("{old}-r{}", at.as_secs());
                            let pod = pod_for(loaded, c, w, node, &new);
                            steps.push((t, OperatorStep::CreatePod { apiserver: c.apiserver_host.clone(), namespace: w.namespace.clone(), pod: Box::new(pod) }));
                            t += pause.0;
                            steps.push((t, OperatorStep::DeletePod { apiserver: c.apiserver_host.clone(), namespace: w.namespace.clone(), name: old }));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    steps.sort_by_key(|(at, _)| *at);
    let drains: Vec<(Duration, Duration, String)> = s
        .faults
        .iter()
        .filter_map(|f| match &f.kind {
            crate::faults::FaultKind::NodeDrain { node } => Some((f.at.0, f.end(), node.clone())),
            _ => None,
        })
        .collect();
    if !drains.is_empty() {
        steps = with_drains(steps, &drains, clusters);
    }
    (setup, steps)
}

/// Adds node drains to the operator's schedule, as `kubectl drain` and the pods' controllers would do
/// them: at the drain, every pod on the node is evicted (deleted) and created again, renamed
/// `<name>-d<secs>`, on the next other node of its cluster; while the node is cordoned, pods the
/// schedule would have put there go to another node; later steps that name a moved pod follow it.
fn with_drains(steps: Vec<(Duration, OperatorStep)>, drains: &[(Duration, Duration, String)], clusters: &[ClusterFacts]) -> Vec<(Duration, OperatorStep)> {
    let others = |node: &str| -> Vec<String> {
        clusters.iter().find(|c| c.node_names().iter().any(|n| n == node)).map(|c| c.node_names().into_iter().filter(|n| n != node).collect()).unwrap_or_default()
    };
    let cordoned = |node: &str, t: Duration| drains.iter().any(|(at, end, n)| n == node && *at <= t && t < *end);
    let mut out: Vec<(Duration, OperatorStep)> = Vec::new();
    // Live pods: (apiserver, namespace, name) -> pod; renamed: old name -> new name.
    let mut live: BTreeMap<(String, String, String), Pod> = BTreeMap::new();
    let mut renamed: BTreeMap<(String, String, String), String> = BTreeMap::new();
    let mut pending: Vec<&(Duration, Duration, String)> = drains.iter().collect();
    pending.sort_by_key(|d| d.0);
    let mut pending = pending.into_iter().peekable();
    let mut rr = 0usize;
    let mut steps = steps.into_iter().peekable();
    loop {
        let next_step = steps.peek().map(|(t, _)| *t);
        let next_drain = pending.peek().map(|d| d.0);
        match (next_step, next_drain) {
            (None, None) => break,
            (Some(ts), Some(td)) if td <= ts => {}
            (None, Some(_)) => {}
            _ => {
                let Some((t, step)) = steps.next() else { break };
                match step {
                    OperatorStep::CreatePod { apiserver, namespace, mut pod } => {
                        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default();
                        if cordoned(&node, t) {
                            let o = others(&node);
                            if !o.is_empty() {
                                if let Some(spec) = pod.spec.as_mut() {
                                    spec.node_name = Some(o[rr % o.len()].clone());
                                }
                                rr += 1;
                            }
                        }
                        let name = pod.metadata.name.clone().unwrap_or_default();
                        live.insert((apiserver.clone(), namespace.clone(), name), (*pod).clone());
                        out.push((t, OperatorStep::CreatePod { apiserver, namespace, pod }));
                    }
                    OperatorStep::DeletePod { apiserver, namespace, name } => {
                        let mut key = (apiserver.clone(), namespace.clone(), name.clone());
                        while let Some(n) = renamed.get(&key) {
                            key.2 = n.clone();
                        }
                        live.remove(&key);
                        out.push((t, OperatorStep::DeletePod { apiserver, namespace, name: key.2 }));
                    }
                    other => out.push((t, other)),
                }
                continue;
            }
        }
        let Some((at, _, node)) = pending.next() else { break };
        let o = others(node);
        if o.is_empty() {
            continue;
        }
        let on_node: Vec<((String, String, String), Pod)> =
            live.iter().filter(|(_, p)| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node.as_str())).map(|(k, p)| (k.clone(), p.clone())).collect();
        for ((apiserver, namespace, name), pod) in on_node {
            let new_name = format!("{name}-d{}", at.as_secs());
            let mut moved = pod.clone();
            moved.metadata.name = Some(new_name.clone());
            if let Some(spec) = moved.spec.as_mut() {
                spec.node_name = Some(o[rr % o.len()].clone());
            }
            rr += 1;
            out.push((*at, OperatorStep::DeletePod { apiserver: apiserver.clone(), namespace: namespace.clone(), name: name.clone() }));
            out.push((*at, OperatorStep::CreatePod { apiserver: apiserver.clone(), namespace: namespace.clone(), pod: Box::new(moved.clone()) }));
            let key = (apiserver, namespace, name);
            live.remove(&key);
            renamed.insert(key.clone(), new_name.clone());
            live.insert((key.0, key.1, new_name), moved);
        }
    }
    out
}

fn association_step(c: &ClusterFacts, a: &Association) -> OperatorStep {
    let mut body = json!({
        "namespace": a.namespace,
        "serviceAccount": a.service_account,
        "roleArn": c.role_arn(&a.role),
    });
    if let Some(t) = &a.target_role {
        body["targetRoleArn"] = json!(c.role_arn(t));
    }
    if a.disable_session_tags {
        body["disableSessionTags"] = json!(true);
    }
    if let Some(p) = &a.policy {
        body["policy"] = json!(c.expand(p));
    }
    OperatorStep::CreateAssociation { cluster: c.name.clone(), body }
}

fn pod_for(loaded: &Loaded, c: &ClusterFacts, w: &crate::scenario::Workload, node: &str, name: &str) -> Pod {
    let mut ann = BTreeMap::new();
    for (k, v) in &w.annotations {
        ann.insert(k.clone(), v.clone());
    }
    ann.insert(ANNOTATION_SDK.into(), w.sdk.to_string());
    ann.insert(
        ANNOTATION_ACTION.into(),
        match w.action {
            Action::Credentials => "credentials".into(),
            Action::GetCallerIdentity => "get-caller-identity".into(),
            Action::S3Get => "s3-get".into(),
            Action::S3Put => "s3-put".into(),
        },
    );
    ann.insert(ANNOTATION_USE_INTERVAL_S.into(), w.use_interval.0.as_secs().max(1).to_string());
    ann.insert(ANNOTATION_CLUSTER.into(), c.name.clone());
    if !w.s3_reads.is_empty() {
        ann.insert(ANNOTATION_S3_READS.into(), s3_reads(loaded, c, &w.s3_reads).join(","));
    }
    if !w.s3_writes.is_empty() {
        ann.insert(ANNOTATION_S3_WRITES.into(), w.s3_writes.iter().map(|o| c.expand(o)).collect::<Vec<_>>().join(","));
    }
    let mut labels = BTreeMap::new();
    labels.insert("app".to_string(), w.name.clone());
    Pod {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(w.namespace.clone()),
            annotations: Some(ann),
            labels: Some(labels),
            ..Default::default()
        },
        spec: Some(PodSpec {
            service_account_name: Some(w.service_account.clone()),
            node_name: Some(node.to_string()),
            containers: std::iter::once(K8sContainer {
                name: w.name.clone(),
                image: Some(format!("public.ecr.aws/credsim/{}:latest", w.name)),
                ..Default::default()
            })
            .chain(w.sidecars.iter().map(|name| K8sContainer {
                name: name.clone(),
                image: Some(format!("public.ecr.aws/credsim/{name}:latest")),
                ..Default::default()
            }))
            .collect(),
            ..Default::default()
        }),
        status: None,
    }
}

/// `bucket/key` or `bucket/*` entries, expanded to `bucket/key=owner` (owner: the object's
/// `eks-cluster-name` tag, with `${CLUSTER_NAME}` expanded for this cluster's pods).
fn s3_reads(loaded: &Loaded, c: &ClusterFacts, reads: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for r in reads {
        let Some((bucket, key)) = r.split_once('/') else { continue };
        let key = c.expand(key);
        for b in loaded.scenario.buckets.iter().filter(|b| b.name == bucket) {
            for o in b.objects.iter().filter(|o| key == "*" || o.key == key) {
                let owner = o.tags.get("eks-cluster-name").cloned().unwrap_or_default();
                out.push(format!("{}/{}={owner}", b.name, o.key));
            }
        }
    }
    out
}

/// The operator's software on the `kubectl` host.
async fn operator(setup: Vec<OperatorStep>, steps: Vec<(Duration, OperatorStep)>, eks_api_url: String) {
    let client = HttpClient::new();
    let start = tokio::time::Instant::now();
    for step in setup {
        do_step(&client, &eks_api_url, step).await;
    }
    for (at, step) in steps {
        tokio::time::sleep_until(start + at).await;
        do_step(&client, &eks_api_url, step).await;
    }
    std::future::pending::<()>().await;
}

async fn do_step(client: &HttpClient, eks_api_url: &str, step: OperatorStep) {
    let t = Timeouts { connect: Duration::from_secs(5), request: Duration::from_secs(30) };
    match step {
        OperatorStep::CreateServiceAccount { apiserver, namespace, sa } => {
            let url = format!("https://{apiserver}/api/v1/namespaces/{namespace}/serviceaccounts");
            send_with_retry(client, "POST", &url, serde_json::to_vec(&sa).unwrap_or_default(), t).await;
        }
        OperatorStep::CreatePod { apiserver, namespace, pod } => {
            let url = format!("https://{apiserver}/api/v1/namespaces/{namespace}/pods");
            send_with_retry(client, "POST", &url, serde_json::to_vec(&pod).unwrap_or_default(), t).await;
        }
        OperatorStep::DeletePod { apiserver, namespace, name } => {
            send_with_retry(client, "DELETE", &format!("https://{apiserver}/api/v1/namespaces/{namespace}/pods/{name}"), Vec::new(), t).await;
        }
        OperatorStep::CreateAssociation { cluster, body } => {
            let url = format!("{eks_api_url}/clusters/{cluster}/pod-identity-associations");
            send_with_retry(client, "POST", &url, serde_json::to_vec(&body).unwrap_or_default(), t).await;
        }
        OperatorStep::UpdateAssociation { cluster, namespace, service_account, body } => {
            for id in association_ids(client, eks_api_url, &cluster, &namespace, &service_account, t).await {
                let url = format!("{eks_api_url}/clusters/{cluster}/pod-identity-associations/{id}");
                send_with_retry(client, "POST", &url, serde_json::to_vec(&body).unwrap_or_default(), t).await;
            }
        }
        OperatorStep::DeleteAssociation { cluster, namespace, service_account } => {
            for id in association_ids(client, eks_api_url, &cluster, &namespace, &service_account, t).await {
                send_with_retry(client, "DELETE", &format!("{eks_api_url}/clusters/{cluster}/pod-identity-associations/{id}"), Vec::new(), t).await;
            }
        }
    }
}

/// `aws eks list-pod-identity-associations --namespace NS --service-account SA`: the ids.
async fn association_ids(client: &HttpClient, eks_api_url: &str, cluster: &str, namespace: &str, service_account: &str, t: Timeouts) -> Vec<String> {
    let q = serde_urlencoded::to_string([("namespace", namespace), ("serviceAccount", service_account)]).unwrap_or_default();
    let url = format!("{eks_api_url}/clusters/{cluster}/pod-identity-associations?{q}");
    let Ok(r) = client.get(&url, &[], t).await else { return Vec::new() };
    let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap_or_default();
    v["associations"].as_array().into_iter().flatten().filter_map(|a| a["associationId"].as_str().map(str::to_string)).collect()
}

/// `kubectl` / `aws eks` with a few retries; 409 (already exists) counts as done, other 4xx are final.
async fn send_with_retry(client: &HttpClient, method: &str, url: &str, body: Vec<u8>, t: Timeouts) {
    let mut delay = Duration::from_secs(1);
    for _ in 0..10 {
        let req = http::Request::builder()
            .method(method)
            .uri("/")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(bytes::Bytes::from(body.clone()));
        let Ok(req) = req else { return };
        match client.send(url, req, t).await {
            Ok(r) if r.status().is_success() || r.status() == 409 => return,
            Ok(r) => {
                runtime::record("kubectl.failed", fields!["method" => method, "url" => url, "status" => r.status().as_u16() as u64]);
                if r.status().is_client_error() && r.status() != 429 {
                    return;
                }
            }
            Err(e) => {
                runtime::record("kubectl.failed", fields!["method" => method, "url" => url, "error" => e.code()]);
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

/// The real clock, for measuring the tool itself (a run's sim/wall ratio, a sweep's seeds per minute, the
/// engine benchmark). This is the one place real time is read: it measures the simulator and never
/// reaches an actor. Every engine and command times itself with it.
#[allow(clippy::disallowed_methods)]
pub fn wall_clock_start() -> std::time::Instant {
    std::time::Instant::now()
}

/// Real milliseconds since [`wall_clock_start`].
pub fn wall_clock_elapsed_ms(start: std::time::Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

/// The webhook as EKS runs it: `--aws-default-region` set to the cluster's region and
/// `--sts-regional-endpoint=true` (EKS pods show `AWS_REGION`, `AWS_DEFAULT_REGION` and
/// `AWS_STS_REGIONAL_ENDPOINTS=regional`; the managed flags are not published, so both are scenario
/// settings). It learns the cluster's Pod Identity associations from the EKS API.
fn webhook_config(loaded: &Loaded, c: &ClusterFacts, eks_api_url: &str) -> crate::webhook::server::WebhookServerConfig {
    let w = &loaded.scenario.webhook;
    let mut m = crate::webhook::config::WebhookConfig { aws_default_region: c.region.clone(), ..Default::default() };
    m.sts_regional_endpoint = w.sts_regional_endpoint.unwrap_or(true);
    if let Some(t) = w.token_expiration_s {
        m.token_expiration_s = t;
    }
    if c.ipv6 {
        m.container_credentials = crate::webhook::config::ContainerCredentialsConfig::for_ip_family(crate::webhook::config::IpFamily::V6);
    }
    crate::webhook::server::WebhookServerConfig {
        mutation: m,
        apiserver_url: format!("https://{}", c.apiserver_host),
        sa_lookup_grace: Duration::ZERO,
        associations_url: Some(format!("{eks_api_url}/credsim-internal/clusters/{}/pod-identity-associations", c.name)),
        associations_poll: Duration::from_secs(10),
    }
}

/// Expands `${OIDC_PROVIDER:<cluster>}` and `${OIDC_PROVIDER_ARN:<cluster>}` for any cluster by name
/// (trust policies that name several clusters' providers).
fn expand_for_clusters(clusters: &[ClusterFacts], text: &str) -> String {
    let mut out = text.to_string();
    for c in clusters {
        out = out
            .replace(&format!("${{OIDC_PROVIDER_ARN:{}}}", c.name), &c.provider_arn)
            .replace(&format!("${{OIDC_PROVIDER:{}}}", c.name), &c.provider);
    }
    out
}

/// IAM calls refused while building the world: code → count, and each refusal as IAM words it.
type Refusals = (BTreeMap<String, u64>, Vec<String>);

/// STS with the scenario's IAM: OIDC providers (one per cluster that asks, then any extra), roles with
/// their trust and identity policies, and EKS Auth's service identity. Refused registrations (quotas)
/// are counted, not fatal: a scenario may be about them.
fn build_sts(loaded: &Loaded, clusters: &[ClusterFacts]) -> Result<(crate::sts::StsService, Refusals), ScenarioError> {
    let s = &loaded.scenario;
    let first = &clusters[0];
    let mut cfg = crate::sts::StsConfig::new(first.account_id.clone(), first.region.clone());
    if let Some(l) = s.sts.leeway_s {
        cfg.leeway_s = l;
    }
    if let Some(t) = s.sts.jwks_cache_s {
        cfg.jwks_cache_ttl_s_default = t;
    }
    if let Some(m) = s.iam.oidc_providers_max {
        cfg.oidc_providers_max = m;
    }
    if let Some(m) = s.iam.trust_policy_chars_max {
        cfg.trust_policy_chars_max = m;
    }
    let sts = crate::sts::StsService::new(cfg);
    sts.register_service_identity(EKS_AUTH_ACCESS_KEY_ID, POD_IDENTITY_PRINCIPAL);
    let err = |field: String, near: &str, message: String| ScenarioError {
        file: loaded.path.clone(),
        line: loaded.line_of(near),
        column: None,
        field,
        message,
    };
    let mut refusals: BTreeMap<String, u64> = BTreeMap::new();
    let mut messages: Vec<String> = Vec::new();
    let mut register = |url: &str, ids: &[&str], thumbs: &[&str], field: String, near: &str| -> Result<(), ScenarioError> {
        match sts.register_oidc_provider(url, ids, thumbs) {
            Ok(_) => Ok(()),
            Err(crate::sts::registry::RegistryError::LimitExceeded(m)) => {
                *refusals.entry("LimitExceeded".into()).or_default() += 1;
                messages.push(format!("CreateOpenIDConnectProvider {url}: LimitExceeded: {m}"));
                Ok(())
            }
            Err(e) => Err(err(field, near, e.to_string())),
        }
    };
    // Explicit [[oidc_provider]] entries; `url = "cluster"` means the first cluster's issuer.
    let mut explicit_cluster = false;
    for (i, p) in s.oidc_providers.iter().enumerate() {
        let url = if p.url == "cluster" {
            explicit_cluster = true;
            first.issuer.clone()
        } else {
            first.expand(&p.url)
        };
        let ids: Vec<&str> = p.client_ids.iter().map(String::as_str).collect();
        let thumbs: Vec<&str> = p.thumbprints.iter().map(String::as_str).collect();
        register(&url, &ids, &thumbs, format!("oidc_provider[{i}]"), "[[oidc_provider]]")?;
    }
    for (i, c) in clusters.iter().enumerate() {
        if c.iam_oidc_provider && !(i == 0 && explicit_cluster) {
            register(&c.issuer, &["sts.amazonaws.com"], &[], "cluster".into(), "[cluster")?;
        }
    }
    for (i, (r, policy)) in s.roles.iter().zip(&loaded.trust_policies).enumerate() {
        let policy = expand_for_clusters(clusters, &first.expand(policy));
        let max = u32::try_from(r.max_session_duration_s).unwrap_or(u32::MAX);
        match sts.create_role(&r.name, &policy, max) {
            Ok(_) => {}
            Err(crate::sts::registry::RegistryError::LimitExceeded(m)) => {
                *refusals.entry("LimitExceeded".into()).or_default() += 1;
                messages.push(format!("CreateRole {}: LimitExceeded: {m}", r.name));
                continue;
            }
            Err(e) => return Err(err(format!("role[{i}]"), &format!("name = \"{}\"", r.name), e.to_string())),
        }
        for (j, p) in r.policies.iter().enumerate() {
            sts.put_role_policy(&r.name, &p.name, &first.expand(&p.document))
                .map_err(|e| err(format!("role[{i}].policies[{j}]"), &format!("name = \"{}\"", p.name), e.to_string()))?;
        }
    }
    Ok((sts, (refusals, messages)))
}
