//! Builds a simulated world from a scenario and runs it.
//!
//! This is where a scenario becomes hosts and software: the OIDC issuer, STS (with its IAM registry of
//! OIDC providers and roles), the cluster's API server, the webhook, one kubelet per node, and a
//! `kubectl` host that plays the operator, creating ServiceAccounts and then pods on the scenario's
//! schedule. Every actor is started through the engine and talks to the others only over the network.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container as K8sContainer, Pod, PodSpec, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::api_server::{ApiServer, ApiServerConfig, ApiServerStore};
use crate::http::{HttpClient, Timeouts};
use crate::jwt::SigningKey;
use crate::kubelet::{Kubelet, KubeletConfig, ANNOTATION_ACTION, ANNOTATION_SDK, ANNOTATION_USE_INTERVAL_S};
use crate::oidc_issuer::{IssuedCluster, OidcIssuer, OidcIssuerConfig};
use crate::runtime::{self, fields};
use crate::scenario::{Action, Loaded, ScenarioError};
use crate::summary::{Metrics, RunFacts, Summary};

/// Host names (DNS names on the simulated network).
pub const APISERVER_HOST: &str = "kube-apiserver";
pub const WEBHOOK_HOST: &str = "pod-identity-webhook";
pub const KUBECTL_HOST: &str = "kubectl";

/// The facts of a cluster that everything else derives from.
#[derive(Clone, Debug)]
pub struct ClusterFacts {
    pub name: String,
    pub region: String,
    pub account_id: String,
    pub oidc_id: String,
    /// `https://oidc.eks.<region>.amazonaws.com/id/<ID>`.
    pub issuer: String,
    /// The issuer without `https://` (IAM condition-key prefix).
    pub provider: String,
    /// `arn:aws:iam::<acct>:oidc-provider/<provider>`.
    pub provider_arn: String,
}

impl ClusterFacts {
    pub fn from_scenario(l: &Loaded) -> Self {
        let c = &l.scenario.cluster;
        let oidc_id = c.oidc_id.clone().unwrap_or_else(|| oidc_id_for(&c.name));
        let provider = format!("oidc.eks.{}.amazonaws.com/id/{oidc_id}", c.region);
        ClusterFacts {
            name: c.name.clone(),
            region: c.region.clone(),
            account_id: c.account_id.clone(),
            oidc_id,
            issuer: format!("https://{provider}"),
            provider_arn: format!("arn:aws:iam::{}:oidc-provider/{provider}", c.account_id),
            provider,
        }
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
}

/// Options of one run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub seed: u64,
    /// Keep the whole trace in memory (for `--trace`).
    pub keep_events: bool,
}

/// Called as simulated time passes: (elapsed, total).
pub type Progress<'a> = &'a dyn Fn(Duration, Duration);

/// How many steps the driver takes through a run (progress granularity). The driver always steps,
/// whether anyone watches or not, so showing progress cannot change a run.
const DRIVER_STEPS: u32 = 200;

/// A planned pod creation.
#[derive(Clone, Debug)]
struct PlannedPod {
    at: Duration,
    namespace: String,
    pod: Pod,
}

/// Builds the world for `loaded` and runs it to the end.
pub fn run(loaded: &Loaded, opts: &RunOptions) -> Result<RunOutcome, ScenarioError> {
    run_with_progress(loaded, opts, &|_, _| {})
}

/// [`run`], reporting simulated progress as it goes.
pub fn run_with_progress(loaded: &Loaded, opts: &RunOptions, progress: Progress<'_>) -> Result<RunOutcome, ScenarioError> {
    let wall_start = wall_clock_start();
    let s = &loaded.scenario;
    let facts = ClusterFacts::from_scenario(loaded);
    let mut cfg = sim::SimConfig::new(opts.seed);
    cfg.keep_events = opts.keep_events;
    cfg.latency = sim::LatencyModel { min_us: s.network.latency_us_min, max_us: s.network.latency_us_max };
    let mut world = sim::Sim::new(cfg);

    let metrics = Rc::new(RefCell::new(Metrics::new()));
    {
        let m = metrics.clone();
        world.subscribe(move |e| m.borrow_mut().observe(e));
    }

    // OIDC issuer.
    let oidc_host = format!("oidc.eks.{}.amazonaws.com", facts.region);
    let h = world.add_host(&oidc_host);
    let issuer_cfg = OidcIssuerConfig {
        clusters: vec![IssuedCluster {
            id: facts.oidc_id.clone(),
            issuer: facts.issuer.clone(),
            apiserver_jwks_url: format!("https://{APISERVER_HOST}/openid/v1/jwks"),
        }],
        upstream_cache: Duration::from_secs(60),
        jwks_max_age_s: 3600,
    };
    world.add_software(h, move || OidcIssuer::run(issuer_cfg.clone()));

    // STS and its IAM registry (durable: it survives an STS restart, as IAM does).
    let sts = Rc::new(build_sts(loaded, &facts)?);
    let h = world.add_host(&format!("sts.{}.amazonaws.com", facts.region));
    world.add_alias(h, "sts.amazonaws.com");
    world.add_software(h, move || crate::sts::server::run(sts.clone()));

    // API server, with the cluster's service-account signing key (on disk: survives restarts).
    let key = Rc::new(SigningKey::generate(sim::derive_seed(opts.seed, &format!("sa-signer/{}", facts.name))));
    let store = ApiServerStore::new();
    let mut api_cfg = ApiServerConfig::new(facts.issuer.clone());
    api_cfg.webhook_url = Some(format!("https://{WEBHOOK_HOST}/mutate"));
    let h = world.add_host(APISERVER_HOST);
    world.add_software(h, move || ApiServer::run(api_cfg.clone(), key.clone(), store.clone()));

    // Webhook.
    let webhook_cfg = webhook_config(loaded, &facts);
    let h = world.add_host(WEBHOOK_HOST);
    world.add_software(h, move || crate::webhook::server::run(webhook_cfg.clone()));

    // Nodes.
    let node_names: Vec<String> = (1..=s.cluster.nodes).map(|i| format!("node-{i}")).collect();
    for node in &node_names {
        let h = world.add_host(node);
        let mut kc = KubeletConfig::new(node.clone(), format!("https://{APISERVER_HOST}"));
        if let Some(p) = s.kubelet.sync_period_s {
            kc.sync_period = Duration::from_secs(p.max(1));
        }
        world.add_software(h, move || Kubelet::run(kc.clone()));
    }

    // The operator: ServiceAccounts first, then pods on schedule.
    let plan = plan_pods(loaded, &node_names, opts.seed);
    let sas: Vec<ServiceAccount> = s
        .service_accounts
        .iter()
        .map(|sa| {
            let mut ann = std::collections::BTreeMap::new();
            if let Some(role) = &sa.role {
                ann.insert("eks.amazonaws.com/role-arn".to_string(), facts.role_arn(role));
            }
            for (k, v) in &sa.annotations {
                ann.insert(k.clone(), facts.expand(v));
            }
            ServiceAccount {
                metadata: ObjectMeta {
                    name: Some(sa.name.clone()),
                    namespace: Some(sa.namespace.clone()),
                    annotations: Some(ann),
                    ..Default::default()
                },
                ..Default::default()
            }
        })
        .collect();
    let h = world.add_host(KUBECTL_HOST);
    world.add_software(h, move || operator(sas.clone(), plan.clone()));

    let duration = s.scenario.duration.0;
    world.run(async move {
        let start = tokio::time::Instant::now();
        for i in 1..=DRIVER_STEPS {
            tokio::time::sleep_until(start + duration * i / DRIVER_STEPS).await;
            progress(duration * i / DRIVER_STEPS, duration);
        }
    });

    let wall_ms = wall_clock_start_elapsed_ms(wall_start);
    let facts_run = RunFacts {
        scenario: s.scenario.name.clone(),
        seed: opts.seed,
        sim_seconds: world.elapsed().as_secs(),
        wall_ms,
        events: world.event_count(),
        digest: world.digest(),
    };
    let summary = metrics.borrow().summary(facts_run);
    Ok(RunOutcome { summary, events: world.take_events() })
}

/// Every pod the scenario creates, when and where, drawn from the seed.
fn plan_pods(loaded: &Loaded, nodes: &[String], seed: u64) -> Vec<PlannedPod> {
    let mut rng = ChaCha8Rng::seed_from_u64(sim::derive_seed(seed, "schedule"));
    let mut plan = Vec::new();
    for w in &loaded.scenario.workloads {
        for (ni, node) in nodes.iter().enumerate() {
            for j in 0..w.pods_per_node {
                let spread_ms = w.spread.0.as_millis() as u64;
                let at = w.start.0 + Duration::from_millis(if spread_ms == 0 { 0 } else { rng.random_range(0..=spread_ms) });
                let mut ann = std::collections::BTreeMap::new();
                for (k, v) in &w.annotations {
                    ann.insert(k.clone(), v.clone());
                }
                ann.insert(ANNOTATION_SDK.into(), w.sdk.to_string());
                ann.insert(
                    ANNOTATION_ACTION.into(),
                    match w.action {
                        Action::Credentials => "credentials".into(),
                        Action::GetCallerIdentity => "get-caller-identity".into(),
                    },
                );
                ann.insert(ANNOTATION_USE_INTERVAL_S.into(), w.use_interval.0.as_secs().max(1).to_string());
                let name = format!("{}-{}-{:03}", w.name, ni + 1, j);
                let mut labels = std::collections::BTreeMap::new();
                labels.insert("app".to_string(), w.name.clone());
                let pod = Pod {
                    metadata: ObjectMeta {
                        name: Some(name),
                        namespace: Some(w.namespace.clone()),
                        annotations: Some(ann),
                        labels: Some(labels),
                        ..Default::default()
                    },
                    spec: Some(PodSpec {
                        service_account_name: Some(w.service_account.clone()),
                        node_name: Some(node.clone()),
                        containers: vec![K8sContainer {
                            name: w.name.clone(),
                            image: Some(format!("public.ecr.aws/credsim/{}:latest", w.name)),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                    status: None,
                };
                plan.push(PlannedPod { at, namespace: w.namespace.clone(), pod });
            }
        }
    }
    plan.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.pod.metadata.name.cmp(&b.pod.metadata.name)));
    plan
}

/// The operator's software on the `kubectl` host.
async fn operator(sas: Vec<ServiceAccount>, plan: Vec<PlannedPod>) {
    let client = HttpClient::new();
    let base = format!("https://{APISERVER_HOST}");
    let t = Timeouts { connect: Duration::from_secs(5), request: Duration::from_secs(30) };
    for sa in &sas {
        let ns = sa.metadata.namespace.clone().unwrap_or_default();
        let body = serde_json::to_vec(sa).unwrap_or_default();
        apply_with_retry(&client, &format!("{base}/api/v1/namespaces/{ns}/serviceaccounts"), body, t).await;
    }
    let start = tokio::time::Instant::now();
    for p in plan {
        tokio::time::sleep_until(start + p.at).await;
        let body = serde_json::to_vec(&p.pod).unwrap_or_default();
        let url = format!("{base}/api/v1/namespaces/{}/pods", p.namespace);
        let client = &client;
        apply_with_retry(client, &url, body, t).await;
    }
    std::future::pending::<()>().await;
}

/// `kubectl apply` with a few retries (409 counts as done).
async fn apply_with_retry(client: &HttpClient, url: &str, body: Vec<u8>, t: Timeouts) {
    let mut delay = Duration::from_secs(1);
    for _ in 0..10 {
        match client.post(url, "application/json", body.clone(), t).await {
            Ok(r) if r.status().is_success() || r.status() == 409 => return,
            Ok(r) => {
                runtime::record("kubectl.failed", fields!["url" => url, "status" => r.status().as_u16() as u64]);
            }
            Err(e) => {
                runtime::record("kubectl.failed", fields!["url" => url, "error" => e.code()]);
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

/// Wall-clock timing of the whole run, for the sim/wall ratio. This is the one place real time is read:
/// it measures the simulator and never reaches an actor.
#[allow(clippy::disallowed_methods)]
fn wall_clock_start() -> std::time::Instant {
    std::time::Instant::now()
}

fn wall_clock_start_elapsed_ms(start: std::time::Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

/// The webhook as EKS runs it: `--aws-default-region` set to the cluster's region and
/// `--sts-regional-endpoint=true` (EKS pods show `AWS_REGION`, `AWS_DEFAULT_REGION` and
/// `AWS_STS_REGIONAL_ENDPOINTS=regional`; the managed flags are not published, so both are scenario
/// settings).
fn webhook_config(loaded: &Loaded, facts: &ClusterFacts) -> crate::webhook::server::WebhookServerConfig {
    let w = &loaded.scenario.webhook;
    let mut m = crate::webhook::config::WebhookConfig { aws_default_region: facts.region.clone(), ..Default::default() };
    m.sts_regional_endpoint = w.sts_regional_endpoint.unwrap_or(true);
    if let Some(t) = w.token_expiration_s {
        m.token_expiration_s = t;
    }
    crate::webhook::server::WebhookServerConfig {
        mutation: m,
        apiserver_url: format!("https://{APISERVER_HOST}"),
        sa_lookup_grace: Duration::ZERO,
    }
}

/// STS with the scenario's IAM: OIDC providers and roles (trust policies with placeholders expanded).
fn build_sts(loaded: &Loaded, facts: &ClusterFacts) -> Result<crate::sts::StsService, ScenarioError> {
    let s = &loaded.scenario;
    let mut cfg = crate::sts::StsConfig::new(facts.account_id.clone(), facts.region.clone());
    if let Some(l) = s.sts.leeway_s {
        cfg.leeway_s = l;
    }
    if let Some(t) = s.sts.jwks_cache_s {
        cfg.jwks_cache_ttl_s_default = t;
    }
    let sts = crate::sts::StsService::new(cfg);
    let err = |field: String, near: &str, message: String| ScenarioError {
        file: loaded.path.clone(),
        line: loaded.line_of(near),
        column: None,
        field,
        message,
    };
    let providers = if s.oidc_providers.is_empty() {
        vec![crate::scenario::OidcProvider { url: "cluster".into(), client_ids: vec!["sts.amazonaws.com".into()], thumbprints: vec![] }]
    } else {
        s.oidc_providers.clone()
    };
    for (i, p) in providers.iter().enumerate() {
        let url = if p.url == "cluster" { facts.issuer.clone() } else { facts.expand(&p.url) };
        let ids: Vec<&str> = p.client_ids.iter().map(String::as_str).collect();
        let thumbs: Vec<&str> = p.thumbprints.iter().map(String::as_str).collect();
        sts.register_oidc_provider(&url, &ids, &thumbs)
            .map_err(|e| err(format!("oidc_provider[{i}]"), "[[oidc_provider]]", e.to_string()))?;
    }
    for (i, (r, policy)) in s.roles.iter().zip(&loaded.trust_policies).enumerate() {
        let policy = facts.expand(policy);
        let max = u32::try_from(r.max_session_duration_s).unwrap_or(u32::MAX);
        sts.create_role(&r.name, &policy, max)
            .map_err(|e| err(format!("role[{i}]"), &format!("name = \"{}\"", r.name), e.to_string()))?;
    }
    Ok(sts)
}
