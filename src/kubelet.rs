//! The kubelet on a worker node: starts the node's pods, mounts their projected service-account tokens
//! and keeps those tokens fresh.
//!
//! It watches the API server for pods bound to its node. For each new pod it requests a token for every
//! `serviceAccountToken` projection (the TokenRequest API, bound to the pod), writes it into the pod's
//! files at `<mountPath>/<path>` with no trailing newline, and only then starts the containers, as a
//! real kubelet mounts volumes before starting containers. Mount failures are retried with the volume
//! manager's backoff (500 ms doubling to 2 min 2 s).
//!
//! Refresh follows `pkg/kubelet/token/token_manager.go` (`requiresRefresh`, sdk.md §3.3): a token is
//! replaced once `now > exp − 20 % · ttl − jitter` or `now > iat + 24 h − jitter`, with `jitter` uniform
//! whole seconds in `[0, 10)`, checked on the pod's periodic syncs (`--sync-frequency`, 1 min). Rather
//! than waking every minute, the kubelet sleeps straight to the first sync at which the rule can fire:
//! the same instants, without a million idle wake-ups a day. A failed refresh keeps the old token while
//! it is unexpired and tries again at the next sync.
//!
//! Containers are not the kubelet's own tasks: it hands them to the node's container runtime (the
//! `containers` process of the host, [`CONTAINER_RUNTIME_PROCESS`]), and a pod's projected volume (its
//! [`PodFs`]) lives on the node, in [`NodeState`]. So a kubelet restart, as a real one does, leaves
//! running containers alone: the new kubelet re-lists its pods, finds those whose containers still run,
//! re-adopts them (mounts a fresh token into the existing volume, as the volume manager re-mounts
//! projected volumes, and refreshes it from then on) and starts only pods that do not run. A host crash
//! kills the containers too, so after it every pod starts afresh.
//!
//! Trace: `kubelet.started` {node, generation (1 the first time, +1 per restart), restart (bool)},
//! `kubelet.pod_admitted`, `kubelet.pod_adopted` {namespace, pod}, `kubelet.token_mounted`,
//! `kubelet.token_mount_failed`, `kubelet.pod_started`, `kubelet.token_refreshed`,
//! `kubelet.token_refresh_failed`, `kubelet.token_request`, `kubelet.pod_stopped`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use k8s_openapi::api::authentication::v1::{BoundObjectReference, TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use crate::bugs::Bug;
use crate::http::{HttpClient, Timeouts};
use crate::pod::Container;
use crate::runtime::{self, fields};
use crate::scenario::{Action, SdkName};
use crate::sdk::PodFs;

/// Annotations through which a scenario tells a pod's containers how to behave (this simulator's own
/// keys; a real image would just run its code).
pub const ANNOTATION_SDK: &str = "credsim.dev/sdk";
pub const ANNOTATION_ACTION: &str = "credsim.dev/action";
pub const ANNOTATION_USE_INTERVAL_S: &str = "credsim.dev/use-interval-s";

/// The host process the kubelet hands containers to (containerd, in a real node).
pub const CONTAINER_RUNTIME_PROCESS: &str = "containers";

/// What a node keeps across kubelet restarts (not across a host crash): the pods whose containers it
/// runs, with their projected volumes, and how many times a kubelet started on it.
#[derive(Default)]
pub struct NodeState {
    /// Running pods by (namespace, name).
    pods: BTreeMap<(String, String), RunningPod>,
    /// Kubelet starts so far.
    generation: u64,
}

/// A pod whose containers the container runtime runs.
struct RunningPod {
    uid: String,
    fs: PodFs,
    containers: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningPod {
    /// Whether any container still runs (a host crash ends them all).
    fn running(&self) -> bool {
        self.containers.iter().any(|c| !c.is_finished())
    }
}

impl std::fmt::Debug for NodeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeState").field("pods", &self.pods.keys().collect::<Vec<_>>()).field("generation", &self.generation).finish()
    }
}

/// Settings of one kubelet.
#[derive(Clone, Debug)]
pub struct KubeletConfig {
    /// The node's name (also its host name).
    pub node: String,
    /// Base URL of the API server, e.g. `https://kube-apiserver:443`.
    pub apiserver_url: String,
    /// `--sync-frequency` (default 1 min).
    pub sync_period: Duration,
    /// token_manager.go `maxJitter` (10 s).
    pub refresh_jitter_max: Duration,
    /// token_manager.go `maxTTL` (24 h).
    pub token_age_max: Duration,
    /// First mount retry delay (nestedpendingoperations `initialDurationBeforeRetry`: 500 ms).
    pub mount_retry_initial: Duration,
    /// Longest mount retry delay (`maxDurationBeforeRetry`: 2 min 2 s).
    pub mount_retry_max: Duration,
    /// The node's state that outlives the kubelet process (shared by every clone of this config, so
    /// every start of the kubelet on this node sees the same node).
    pub node_state: Rc<RefCell<NodeState>>,
}

impl KubeletConfig {
    pub fn new(node: String, apiserver_url: String) -> Self {
        KubeletConfig {
            node,
            apiserver_url,
            sync_period: Duration::from_secs(60),
            refresh_jitter_max: Duration::from_secs(10),
            token_age_max: Duration::from_secs(24 * 3600),
            mount_retry_initial: Duration::from_millis(500),
            mount_retry_max: Duration::from_millis(122_000),
            node_state: Rc::new(RefCell::new(NodeState::default())),
        }
    }
}

/// A token projection in a pod: where to write what.
#[derive(Clone, Debug)]
struct TokenVolume {
    volume: String,
    audience: String,
    expiration_s: i64,
    /// Full paths of the token file in each container that mounts the volume.
    files: Vec<String>,
}

/// A token the kubelet holds.
#[derive(Clone, Debug)]
struct HeldToken {
    token: String,
    iat: SystemTime,
    exp: SystemTime,
}

/// The kubelet process.
pub struct Kubelet {
    config: KubeletConfig,
    client: HttpClient,
}

impl Kubelet {
    /// Runs the kubelet on this host until the host (or the kubelet's process) stops.
    pub async fn run(config: KubeletConfig) {
        let generation = {
            let mut st = config.node_state.borrow_mut();
            st.generation += 1;
            st.generation
        };
        runtime::record("kubelet.started", fields!["node" => &config.node, "generation" => generation, "restart" => generation > 1]);
        let me = Rc::new(Kubelet { config, client: HttpClient::new() });
        let mut pods: BTreeMap<(String, String), (String, tokio::task::JoinHandle<()>)> = BTreeMap::new();
        let mut rv = String::from("0");
        let mut backoff = Duration::from_millis(200);
        loop {
            let url = format!(
                "{}/api/v1/pods?fieldSelector=spec.nodeName={}&resourceVersion={}&timeoutSeconds=60",
                me.config.apiserver_url, me.config.node, rv
            );
            let timeouts = Timeouts { connect: Duration::from_secs(5), request: Duration::from_secs(75) };
            let list: Value = match me.client.get(&url, &[], timeouts).await {
                Ok(r) if r.status() == 200 => match serde_json::from_slice(r.body()) {
                    Ok(v) => v,
                    Err(_) => Value::Null,
                },
                Ok(_) | Err(_) => Value::Null,
            };
            if list.is_null() {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
            backoff = Duration::from_millis(200);
            if let Some(v) = list["metadata"]["resourceVersion"].as_str() {
                rv = v.to_string();
            }
            for item in list["items"].as_array().into_iter().flatten() {
                let Ok(pod) = serde_json::from_value::<Pod>(item.clone()) else { continue };
                let ns = pod.metadata.namespace.clone().unwrap_or_default();
                let name = pod.metadata.name.clone().unwrap_or_default();
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                let key = (ns.clone(), name.clone());
                if pod.metadata.deletion_timestamp.is_some() {
                    // The node forgets the pod and stops its containers. A real kubelet sends SIGTERM
                    // and kills after the grace period (30 s by default); the workloads here exit on
                    // SIGTERM, so they stop at once.
                    let running = me.config.node_state.borrow_mut().pods.remove(&key);
                    for c in running.into_iter().flat_map(|p| p.containers) {
                        c.abort();
                    }
                    if let Some((_, task)) = pods.remove(&key) {
                        task.abort();
                        runtime::record("kubelet.pod_stopped", fields!["namespace" => ns, "pod" => name]);
                    }
                    continue;
                }
                if pods.get(&key).is_some_and(|(u, _)| *u == uid) {
                    continue;
                }
                let me2 = me.clone();
                let task = runtime::spawn(async move { me2.run_pod(pod).await });
                pods.insert(key, (uid, task));
            }
        }
    }

    /// One pod's life on this node: mount tokens, start containers (unless they already run: a pod
    /// re-adopted after a kubelet restart), refresh tokens.
    async fn run_pod(self: Rc<Self>, pod: Pod) {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let Some(spec) = pod.spec.clone() else { return };
        let sa = spec.service_account_name.clone().unwrap_or_else(|| "default".into());
        let volumes = token_volumes(&pod);
        let key = (ns.clone(), name.clone());
        let adopted: Option<PodFs> = {
            let st = self.config.node_state.borrow();
            st.pods.get(&key).filter(|p| p.uid == uid && p.running()).map(|p| p.fs.clone())
        };
        let fs: PodFs = adopted.clone().unwrap_or_else(|| Rc::new(RefCell::new(BTreeMap::new())));
        if adopted.is_some() {
            runtime::record("kubelet.pod_adopted", fields!["namespace" => &ns, "pod" => &name]);
        } else {
            runtime::record("kubelet.pod_admitted", fields!["namespace" => &ns, "pod" => &name, "token_volumes" => volumes.len()]);
        }

        // Mount: every token volume, before any container starts.
        let mut held = Vec::new();
        for v in &volumes {
            let mut delay = self.config.mount_retry_initial;
            let tok = loop {
                match self.request_token(&ns, &sa, &name, &uid, v).await {
                    Ok(t) => break t,
                    Err(e) => {
                        runtime::record(
                            "kubelet.token_mount_failed",
                            fields!["namespace" => &ns, "pod" => &name, "volume" => &v.volume, "error" => e],
                        );
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(self.config.mount_retry_max);
                    }
                }
            };
            write_token(&fs, v, &tok.token);
            runtime::record(
                "kubelet.token_mounted",
                fields!["namespace" => &ns, "pod" => &name, "volume" => &v.volume, "expiration_s" => v.expiration_s as u64, "exp" => runtime::unix_s(tok.exp)],
            );
            held.push(tok);
        }

        if adopted.is_none() {
            self.start_containers(&pod, &spec, &ns, &name, &uid, &fs);
        }

        // Keep every token fresh. Pod syncs happen every sync_period from now.
        if adopted.is_some() && runtime::bug(Bug::KubeletStopsRefresh) {
            // Planted bug: a re-adopted pod's tokens are mounted but never refreshed. The real kubelet
            // (and the code below) refreshes every mounted token the same way, re-adopted or not.
            std::future::pending::<()>().await;
        }
        let sync_origin = tokio::time::Instant::now();
        let mut refreshers = Vec::new();
        for (v, tok) in volumes.into_iter().zip(held) {
            let me = self.clone();
            let (ns, name, uid, sa, fs) = (ns.clone(), name.clone(), uid.clone(), sa.clone(), fs.clone());
            refreshers.push(runtime::spawn(async move { me.keep_fresh(ns, name, uid, sa, fs, v, tok, sync_origin).await }));
        }
        // This task owns the pod's refreshers: when it is aborted (pod deleted), its children go with it.
        struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);
        impl Drop for AbortOnDrop {
            fn drop(&mut self) {
                for t in &self.0 {
                    t.abort();
                }
            }
        }
        let _guard = AbortOnDrop(refreshers);
        std::future::pending::<()>().await;
    }

    /// Hands the pod's containers to the container runtime and records the pod as running on the node.
    fn start_containers(&self, pod: &Pod, spec: &k8s_openapi::api::core::v1::PodSpec, ns: &str, name: &str, uid: &str, fs: &PodFs) {
        let (ns, name) = (ns.to_string(), name.to_string());
        let ann = pod.metadata.annotations.clone().unwrap_or_default();
        let sdk = match ann.get(ANNOTATION_SDK).map(String::as_str) {
            Some("botocore") => SdkName::Botocore,
            Some("go") => SdkName::Go,
            _ => SdkName::Rust,
        };
        let action = match ann.get(ANNOTATION_ACTION).map(String::as_str) {
            Some("credentials") => Action::Credentials,
            Some("s3-get") => Action::S3Get,
            Some("s3-put") => Action::S3Put,
            _ => Action::GetCallerIdentity,
        };
        let cluster = ann.get(crate::cluster::ANNOTATION_CLUSTER).cloned().unwrap_or_default();
        let s3_reads: Vec<crate::pod::S3Read> = ann
            .get(crate::cluster::ANNOTATION_S3_READS)
            .map(|v| v.split(',').filter_map(crate::pod::S3Read::parse).collect())
            .unwrap_or_default();
        let s3_writes: Vec<crate::pod::S3Read> = ann
            .get(crate::cluster::ANNOTATION_S3_WRITES)
            .map(|v| v.split(',').filter_map(crate::pod::S3Read::parse).collect())
            .unwrap_or_default();
        let use_interval =
            Duration::from_secs(ann.get(ANNOTATION_USE_INTERVAL_S).and_then(|v| v.parse().ok()).unwrap_or(300).max(1));
        let mut containers = Vec::new();
        // The workload runs in the first container; the others (sidecars) run nothing of interest here.
        for c in spec.containers.iter().take(1) {
            let env: BTreeMap<String, String> =
                c.env.iter().flatten().filter_map(|e| e.value.clone().map(|v| (e.name.clone(), v))).collect();
            let container = Container {
                pod: name.clone(),
                namespace: ns.clone(),
                container: c.name.clone(),
                sdk,
                action,
                use_interval,
                env,
                fs: fs.clone(),
                cluster: cluster.clone(),
                s3_reads: s3_reads.clone(),
                s3_writes: s3_writes.clone(),
            };
            containers.push(runtime::spawn_in_process(CONTAINER_RUNTIME_PROCESS, container.run()));
        }
        runtime::record("kubelet.pod_started", fields!["namespace" => &ns, "pod" => &name, "containers" => spec.containers.len()]);
        self.config
            .node_state
            .borrow_mut()
            .pods
            .insert((ns, name), RunningPod { uid: uid.to_string(), fs: fs.clone(), containers });
    }

    #[allow(clippy::too_many_arguments)]
    async fn keep_fresh(
        self: Rc<Self>,
        ns: String,
        name: String,
        uid: String,
        sa: String,
        fs: PodFs,
        v: TokenVolume,
        mut tok: HeldToken,
        sync_origin: tokio::time::Instant,
    ) {
        let sync = self.config.sync_period;
        loop {
            // The instant (wall clock) after which requiresRefresh fires with the largest jitter.
            let ttl = Duration::from_secs(v.expiration_s.max(0) as u64);
            let by_ttl = tok.exp - ttl / 5;
            let by_age = tok.iat + self.config.token_age_max;
            let threshold = by_ttl.min(by_age);
            let earliest = threshold - self.config.refresh_jitter_max;
            // Sleep to the first sync tick at or after `earliest`, then test the rule there.
            let now = runtime::now();
            let wait = earliest.duration_since(now).unwrap_or(Duration::ZERO);
            let target = tokio::time::Instant::now() + wait;
            let since_origin = target.saturating_duration_since(sync_origin);
            let ticks = since_origin.as_nanos().div_ceil(sync.as_nanos()) as u32;
            let tick = sync_origin + sync * ticks.max(1);
            tokio::time::sleep_until(tick).await;
            loop {
                let now = runtime::now();
                let jitter = Duration::from_secs(runtime::with_rng(|r| rand::RngExt::random_range(r, 0..self.config.refresh_jitter_max.as_secs().max(1))));
                let requires = now > tok.exp - ttl / 5 - jitter || now > tok.iat + self.config.token_age_max - jitter || now < tok.iat;
                if requires {
                    break;
                }
                tokio::time::sleep(sync).await;
            }
            // Refresh, retrying on later syncs while the old token is still good.
            loop {
                match self.request_token(&ns, &sa, &name, &uid, &v).await {
                    Ok(new) => {
                        let age_s = runtime::now().duration_since(tok.iat).unwrap_or_default().as_secs();
                        write_token(&fs, &v, &new.token);
                        runtime::record(
                            "kubelet.token_refreshed",
                            fields![
                                "namespace" => &ns,
                                "pod" => &name,
                                "volume" => &v.volume,
                                "age_s" => age_s,
                                "expiration_s" => v.expiration_s as u64,
                                "exp" => runtime::unix_s(new.exp),
                            ],
                        );
                        tok = new;
                        break;
                    }
                    Err(e) => {
                        let expired = runtime::now() >= tok.exp;
                        runtime::record(
                            "kubelet.token_refresh_failed",
                            fields!["namespace" => &ns, "pod" => &name, "volume" => &v.volume, "error" => e, "old_token_expired" => expired],
                        );
                        tokio::time::sleep(sync).await;
                    }
                }
            }
        }
    }

    /// `POST …/serviceaccounts/{sa}/token`, bound to the pod.
    async fn request_token(&self, ns: &str, sa: &str, pod: &str, uid: &str, v: &TokenVolume) -> Result<HeldToken, String> {
        let tr = TokenRequest {
            spec: TokenRequestSpec {
                audiences: vec![v.audience.clone()],
                expiration_seconds: Some(v.expiration_s),
                bound_object_ref: Some(BoundObjectReference {
                    api_version: Some("v1".into()),
                    kind: Some("Pod".into()),
                    name: Some(pod.to_string()),
                    uid: Some(uid.to_string()),
                }),
            },
            ..Default::default()
        };
        let body = serde_json::to_vec(&tr).map_err(|e| e.to_string())?;
        let url = format!("{}/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token", self.config.apiserver_url);
        let t0 = tokio::time::Instant::now();
        let resp = self
            .client
            .post(&url, "application/json", Bytes::from(body), Timeouts { connect: Duration::from_secs(5), request: Duration::from_secs(30) })
            .await
            .map_err(|e| e.code())?;
        if resp.status() != 201 && resp.status() != 200 {
            let v: Value = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
            return Err(format!("http_{}: {}", resp.status().as_u16(), v["message"].as_str().unwrap_or("")));
        }
        let out: TokenRequest = serde_json::from_slice(resp.body()).map_err(|e| format!("bad TokenRequest response: {e}"))?;
        let status = out.status.ok_or("TokenRequest response without status")?;
        let exp = std::time::UNIX_EPOCH + Duration::from_secs(status.expiration_timestamp.0.as_second().max(0) as u64);
        let iat = exp - Duration::from_secs(v.expiration_s.max(0) as u64);
        runtime::record("kubelet.token_request", fields!["pod" => pod, "ms" => t0.elapsed().as_millis() as u64]);
        Ok(HeldToken { token: status.token, iat, exp })
    }
}

fn write_token(fs: &PodFs, v: &TokenVolume, token: &str) {
    let mut f = fs.borrow_mut();
    for path in &v.files {
        f.insert(path.clone(), Bytes::from(token.to_string()));
    }
}

/// Finds every `serviceAccountToken` projection and where each container mounts it.
fn token_volumes(pod: &Pod) -> Vec<TokenVolume> {
    let Some(spec) = &pod.spec else { return Vec::new() };
    let mut out = Vec::new();
    for vol in spec.volumes.iter().flatten() {
        let Some(projected) = &vol.projected else { continue };
        for src in projected.sources.iter().flatten() {
            let Some(sat) = &src.service_account_token else { continue };
            let mut files = Vec::new();
            for c in spec.containers.iter().chain(spec.init_containers.iter().flatten()) {
                for m in c.volume_mounts.iter().flatten() {
                    if m.name == vol.name {
                        files.push(format!("{}/{}", m.mount_path.trim_end_matches('/'), sat.path));
                    }
                }
            }
            files.sort();
            files.dedup();
            out.push(TokenVolume {
                volume: vol.name.clone(),
                audience: sat.audience.clone().unwrap_or_default(),
                expiration_s: sat.expiration_seconds.unwrap_or(3600),
                files,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;
    use sim::{control, Event, FieldValue, Sim, SimConfig};

    use super::*;
    use crate::api_server::{ApiServer, ApiServerConfig, ApiServerStore};
    use crate::jwt::SigningKey;

    const APISERVER: &str = "kube-apiserver";

    /// What the driver does to node-1 at 100 s, and undoes at 200 s.
    #[derive(Clone, Copy, Debug)]
    enum Fault {
        KubeletProcess,
        Host,
    }

    /// An API server, an operator that creates one ServiceAccount and one pod on node-1 (a 600 s
    /// projected token, as the webhook would add it), and node-1's kubelet; `fault` hits node-1 at 100 s
    /// and is undone at 200 s; the run lasts 1500 s.
    fn simulate(fault: Fault, bugs: &[crate::bugs::Bug]) -> Vec<Event> {
        crate::runtime::install_controls(bugs);
        let mut sim = Sim::new(SimConfig::new(11));
        let h = sim.add_host(APISERVER);
        let key = crate::api_server::SigningKeys::new(SigningKey::generate(5));
        let store = ApiServerStore::new();
        sim.add_software(h, move || ApiServer::run(ApiServerConfig::new("https://issuer.example".into()), key.clone(), store.clone()));
        let op = sim.add_host("kubectl");
        sim.add_software(op, || async {
            let c = HttpClient::new();
            let t = Timeouts { connect: Duration::from_secs(5), request: Duration::from_secs(30) };
            let sa = json!({"metadata": {"name": "app", "namespace": "default"}});
            let url = format!("https://{APISERVER}/api/v1/namespaces/default/serviceaccounts");
            c.post(&url, "application/json", sa.to_string(), t).await.expect("SA created");
            let pod = json!({
                "metadata": {"name": "app-1", "namespace": "default",
                             "annotations": {ANNOTATION_ACTION: "credentials", ANNOTATION_USE_INTERVAL_S: "30"}},
                "spec": {
                    "serviceAccountName": "app", "nodeName": "node-1",
                    "containers": [
                        {"name": "app", "volumeMounts": [{"name": "aws-iam-token", "mountPath": "/var/run/secrets/eks.amazonaws.com/serviceaccount", "readOnly": true}]},
                        {"name": "log-shipper"}
                    ],
                    "volumes": [{"name": "aws-iam-token", "projected": {"sources": [{"serviceAccountToken": {"audience": "sts.amazonaws.com", "expirationSeconds": 600, "path": "token"}}]}}]
                }
            });
            let url = format!("https://{APISERVER}/api/v1/namespaces/default/pods");
            c.post(&url, "application/json", pod.to_string(), t).await.expect("pod created");
        });
        let node = sim.add_host("node-1");
        let kc = KubeletConfig::new("node-1".into(), format!("https://{APISERVER}"));
        sim.add_process(node, "kubelet", move || Kubelet::run(kc.clone()));
        sim.run(async move {
            tokio::time::sleep(Duration::from_secs(100)).await;
            match fault {
                Fault::KubeletProcess => assert!(control::crash_process(node, "kubelet")),
                Fault::Host => control::crash(node),
            }
            tokio::time::sleep(Duration::from_secs(100)).await;
            match fault {
                Fault::KubeletProcess => assert!(control::restart_process(node, "kubelet")),
                Fault::Host => control::restart(node),
            }
            tokio::time::sleep(Duration::from_secs(1300)).await;
        });
        crate::runtime::install_controls(&[]);
        sim.take_events()
    }

    fn of<'a>(ev: &'a [Event], kind: &str) -> Vec<&'a Event> {
        ev.iter().filter(|e| e.kind == kind).collect()
    }

    fn secs(e: &Event) -> u64 {
        e.t_ns / 1_000_000_000
    }

    #[test]
    fn kubelet_restart_readopts_running_pods_and_keeps_refreshing_their_tokens() {
        let ev = simulate(Fault::KubeletProcess, &[]);
        let started: Vec<(u64, bool)> = of(&ev, "kubelet.started").iter().map(|e| (e.u64("generation").unwrap(), e.get("restart") == Some(&FieldValue::Bool(true)))).collect();
        assert_eq!(started, [(1, false), (2, true)]);
        // The containers kept running: started once, re-adopted once, and the workload used the SDK
        // while the kubelet was down.
        assert_eq!(of(&ev, "kubelet.pod_started").len(), 1);
        assert_eq!(of(&ev, "kubelet.pod_adopted").len(), 1);
        assert!(of(&ev, "pod.no_credentials").iter().any(|e| (101..200).contains(&secs(e))));
        // One token mounted at admission, a fresh one at re-adoption; refreshed before and after.
        let mounted: Vec<u64> = of(&ev, "kubelet.token_mounted").iter().map(|e| secs(e)).collect();
        assert_eq!(mounted.len(), 2, "{mounted:?}");
        assert!(mounted[1] >= 200);
        let refreshed: Vec<u64> = of(&ev, "kubelet.token_refreshed").iter().map(|e| secs(e)).collect();
        // 600 s tokens, refreshed ~480 s after each mount: at ~680 s and ~1160 s after the restart.
        assert_eq!(refreshed.iter().filter(|t| **t > 200).count(), 2, "{refreshed:?}");
    }

    #[test]
    fn planted_bug_kubelet_stops_refresh_leaves_readopted_tokens_to_expire_only_when_on() {
        let ev = simulate(Fault::KubeletProcess, &[crate::bugs::Bug::KubeletStopsRefresh]);
        assert_eq!(of(&ev, "kubelet.pod_adopted").len(), 1);
        assert_eq!(of(&ev, "kubelet.token_mounted").len(), 2);
        assert!(of(&ev, "kubelet.token_refreshed").is_empty());
        // The bug needs a restart: a fresh pod after a host crash is refreshed as usual.
        let ev = simulate(Fault::Host, &[crate::bugs::Bug::KubeletStopsRefresh]);
        assert!(of(&ev, "kubelet.pod_adopted").is_empty());
        assert!(!of(&ev, "kubelet.token_refreshed").is_empty());
    }

    #[test]
    fn host_crash_kills_the_containers_so_the_restarted_kubelet_starts_the_pod_afresh() {
        let ev = simulate(Fault::Host, &[]);
        assert_eq!(of(&ev, "kubelet.started").len(), 2);
        assert_eq!(of(&ev, "kubelet.pod_started").len(), 2);
        assert!(of(&ev, "kubelet.pod_adopted").is_empty());
        // Nothing of the pod ran while the machine was down.
        assert!(!of(&ev, "pod.no_credentials").iter().any(|e| (101..200).contains(&secs(e))));
        // Sidecars run nothing: each start runs one workload container.
        assert!(of(&ev, "kubelet.pod_started").iter().all(|e| e.u64("containers") == Some(2)));
    }
}
