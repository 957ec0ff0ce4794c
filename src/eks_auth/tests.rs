//! EKS Auth on the simulator: the real actor ([`run`]) on its host, the real STS (`sts::server`)
//! with Pod Identity roles, a small fake OIDC issuer serving the cluster's JWKS, a small fake EKS
//! API serving the simulator-only association list, and a client host playing the Pod Identity
//! Agent. Tokens are real RS256 JWTs signed with [`crate::jwt::SigningKey`].
//!
//! Every negative asserts the model's error shape (`x-amzn-ErrorType`) and HTTP status.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::rc::Rc;
use std::sync::OnceLock;

use serde_json::{Value, json};

use super::*;
use crate::http::Timeouts;
use crate::jwt::{KubernetesClaims, ObjectRef, ServiceAccountTokenClaims, SigningKey};
use crate::sts::{SessionInfo, StsConfig, StsService};

const REGION: &str = "us-west-2";
const ACCT: &str = "111122223333";
const ISSUER_HOST: &str = "oidc.eks.us-west-2.amazonaws.com";
const ISSUER: &str = "https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B716D3041E";
const CLUSTER_ARN: &str = "arn:aws:eks:us-west-2:111122223333:cluster/demo";
const EKS_AUTH_KEY: &str = "AKIAEKSAUTHEXAMPLE01";
const POD_NAME: &str = "checkout-6d9f-abcde";
const POD_UID: &str = "0b5f3a1e-8c7d-4e2f-9a6b-1c3d5e7f9a0b";
const AUDIENCE: &str = "pods.eks.amazonaws.com";
const EKS_AUTH_URL: &str = "https://eks-auth.us-west-2.api.aws";
const STS_URL: &str = "https://sts.us-west-2.amazonaws.com";

/// The cluster's service-account signing key (key generation is slow-ish: two per test binary).
fn key() -> &'static SigningKey {
    static K: OnceLock<SigningKey> = OnceLock::new();
    K.get_or_init(|| SigningKey::generate(11))
}

/// A key the cluster never published.
fn other_key() -> &'static SigningKey {
    static K: OnceLock<SigningKey> = OnceLock::new();
    K.get_or_init(|| SigningKey::generate(12))
}

// ----------------------------------------------------------------------------------------------
// IAM: the roles of the EKS user guide's Pod Identity examples.

/// The association role: EKS Auth's service principal may assume it and tag the session
/// (`agent.md` §3.5), from the cluster's account only.
const POD_TRUST: &str = r#"{"Version": "2012-10-17", "Statement": [{
  "Effect": "Allow",
  "Principal": {"Service": "pods.eks.amazonaws.com"},
  "Action": ["sts:AssumeRole", "sts:TagSession"],
  "Condition": {"StringEquals": {"aws:SourceAccount": "111122223333"}}
}]}"#;

/// A trust policy that forgot `sts:TagSession`.
const NO_TAG_TRUST: &str = r#"{"Version": "2012-10-17", "Statement": [{
  "Effect": "Allow",
  "Principal": {"Service": "pods.eks.amazonaws.com"},
  "Action": "sts:AssumeRole"
}]}"#;

/// A target role (`pod-id-assign-target-role`): trusts the account; the transitive tags the first
/// session carries make `sts:TagSession` necessary.
const TARGET_TRUST: &str = r#"{"Version": "2012-10-17", "Statement": [{
  "Effect": "Allow",
  "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
  "Action": ["sts:AssumeRole", "sts:TagSession"],
  "Condition": {"StringEquals": {"aws:RequestTag/kubernetes-namespace": "payments"}}
}]}"#;

/// A target role for associations with session tags off: it checks the external id EKS Auth
/// derives (`<region>/<account>/<cluster>/<namespace>/<service account>`, EKS user guide).
const TARGET_EXTERNAL_ID_TRUST: &str = r#"{"Version": "2012-10-17", "Statement": [{
  "Effect": "Allow",
  "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
  "Action": "sts:AssumeRole",
  "Condition": {"StringEquals": {"sts:ExternalId": "us-west-2/111122223333/demo/payments/checkout"}}
}]}"#;

/// The first roles' permission to assume the target roles.
const ASSUME_TARGETS: &str = r#"{"Version": "2012-10-17", "Statement": [{
  "Effect": "Allow",
  "Action": ["sts:AssumeRole", "sts:TagSession"],
  "Resource": ["arn:aws:iam::111122223333:role/target", "arn:aws:iam::111122223333:role/target-external-id"]
}]}"#;

fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCT}:role/{name}")
}

fn sts_service() -> StsService {
    let sts = StsService::new(StsConfig::new(ACCT, REGION));
    sts.register_service_identity(EKS_AUTH_KEY, AUDIENCE);
    sts.create_role("pod-role", POD_TRUST, 3600).unwrap();
    sts.create_role("no-tag-session", NO_TAG_TRUST, 3600).unwrap();
    sts.create_role("target", TARGET_TRUST, 3600).unwrap();
    sts.create_role("target-external-id", TARGET_EXTERNAL_ID_TRUST, 3600).unwrap();
    sts.put_role_policy("pod-role", "assume-targets", ASSUME_TARGETS).unwrap();
    sts.put_role_policy("no-tag-session", "assume-targets", ASSUME_TARGETS).unwrap();
    sts
}

/// An association of `payments/<sa>` in `demo`.
fn association(id: &str, sa: &str, role: &str) -> Association {
    Association {
        association_arn: format!("arn:aws:eks:{REGION}:{ACCT}:podidentityassociation/demo/{id}"),
        association_id: id.to_owned(),
        cluster_name: "demo".to_owned(),
        namespace: "payments".to_owned(),
        service_account: sa.to_owned(),
        role_arn: role_arn(role),
        target_role_arn: None,
        disable_session_tags: false,
        policy: None,
        external_id: None,
    }
}

// ----------------------------------------------------------------------------------------------
// The world.

/// What a test world holds.
struct Setup {
    config: EksAuthConfig,
    /// The EKS API's associations, by cluster; a cluster not in the map is unknown to it (404).
    /// Shared with the running fake, so a test script can change it mid-run (a deletion).
    associations: Rc<RefCell<BTreeMap<String, Vec<Association>>>>,
    /// The keys the fake issuer publishes; shared, so a script can rotate them mid-run.
    jwks: Rc<RefCell<Vec<crate::jwt::Jwk>>>,
    sts: StsService,
    seed: u64,
}

fn setup(associations: Vec<Association>) -> Setup {
    let cluster = EksAuthCluster { name: "demo".into(), arn: CLUSTER_ARN.into(), issuer: ISSUER.into() };
    Setup {
        config: EksAuthConfig::new(REGION, vec![cluster], EKS_AUTH_KEY),
        associations: Rc::new(RefCell::new(BTreeMap::from([("demo".to_owned(), associations)]))),
        jwks: Rc::new(RefCell::new(vec![key().jwk()])),
        sts: sts_service(),
        seed: 1,
    }
}

/// The standard association set: `checkout` → `pod-role`.
fn standard() -> Setup {
    setup(vec![association("a-checkout00000000000", "checkout", "pod-role")])
}

/// The cluster's OIDC issuer: discovery and the JWKS with the cluster's one key.
async fn fake_issuer(jwks: Rc<RefCell<Vec<crate::jwt::Jwk>>>) {
    let e = http::serve("443", move |req: Request| {
        let keys = jwks.borrow().clone();
        async move {
        let id_path = ISSUER.strip_prefix(&format!("https://{ISSUER_HOST}")).unwrap_or_default();
        let path = req.uri().path();
        if path == format!("{id_path}/.well-known/openid-configuration") {
            http::json(200, &OidcDiscovery::for_issuer(ISSUER))
        } else if path == format!("{id_path}/keys") {
            let mut resp = http::json(200, &Jwks { keys });
            resp.headers_mut().insert(::http::header::CACHE_CONTROL, http::header_value("max-age=3600").unwrap());
            resp
        } else {
            http::json(404, &json!({"message": "not found"}))
        }
        }
    })
    .await;
    panic!("fake issuer stopped: {e}");
}

/// The EKS API's simulator-only association endpoint, as the EKS API branch serves it.
async fn fake_eks_api(associations: Rc<RefCell<BTreeMap<String, Vec<Association>>>>) {
    let e = http::serve("443", move |req: Request| {
        let associations = associations.clone();
        async move {
            let cluster = req
                .uri()
                .path()
                .strip_prefix("/credsim-internal/clusters/")
                .and_then(|rest| rest.strip_suffix("/pod-identity-associations"))
                .unwrap_or_default();
            let list = associations.borrow().get(cluster).cloned();
            match list {
                Some(list) if req.method() == ::http::Method::GET => {
                    http::json(200, &AssociationList { associations: list })
                }
                _ => http::json(404, &json!({"message": format!("No cluster found for name: {cluster}.")})),
            }
        }
    })
    .await;
    panic!("fake EKS API stopped: {e}");
}

/// What a world run gives back.
struct Run<T> {
    out: T,
    events: Vec<sim::Event>,
    digest: String,
}

/// Builds the world of `s`, runs `script` on a node host (it plays the Pod Identity Agent), and
/// returns its result with the trace.
fn run_world<T, F, Fut>(s: Setup, script: F) -> Run<T>
where
    T: 'static,
    F: FnOnce() -> Fut + 'static,
    Fut: Future<Output = T> + 'static,
{
    let mut world = sim::Sim::new(sim::SimConfig::new(s.seed));

    let h = world.add_host(ISSUER_HOST);
    let jwks = s.jwks;
    world.add_software(h, move || fake_issuer(jwks.clone()));

    let associations = s.associations;
    let h = world.add_host(&format!("eks.{REGION}.amazonaws.com"));
    world.add_software(h, move || fake_eks_api(associations.clone()));

    let sts = Rc::new(s.sts);
    let h = world.add_host(&format!("sts.{REGION}.amazonaws.com"));
    world.add_software(h, move || crate::sts::server::run(sts.clone()));

    let config = s.config;
    let h = world.add_host(&config.host_name());
    world.add_software(h, move || run(config.clone()));

    let out: Rc<RefCell<Option<T>>> = Rc::new(RefCell::new(None));
    let script = Rc::new(RefCell::new(Some(script)));
    let h = world.add_host("node-1");
    {
        let out = out.clone();
        world.add_software(h, move || {
            let (script, out) = (script.borrow_mut().take(), out.clone());
            async move {
                if let Some(script) = script {
                    let v = script().await;
                    *out.borrow_mut() = Some(v);
                }
            }
        });
    }

    let done = out.clone();
    world.run(async move {
        let give_up = tokio::time::Instant::now() + Duration::from_secs(2 * 3600);
        while done.borrow().is_none() {
            assert!(tokio::time::Instant::now() < give_up, "the script did not finish within two hours");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let out = out.borrow_mut().take().expect("the script finished");
    Run { out, digest: world.digest(), events: world.take_events() }
}

// ----------------------------------------------------------------------------------------------
// The client side.

/// Now on the calling host's clock, epoch seconds.
fn now_s() -> i64 {
    i64::try_from(runtime::unix_s(runtime::now())).unwrap()
}

/// Claims of a Pod Identity token for `payments/checkout`, issued now for 24 h.
fn claims() -> ServiceAccountTokenClaims {
    let now = now_s();
    ServiceAccountTokenClaims {
        aud: vec![AUDIENCE.to_owned()],
        exp: now + 86400,
        iat: now,
        iss: ISSUER.to_owned(),
        jti: Some("9f0e8d7c-6b5a-4493-8271-605f4e3d2c1b".to_owned()),
        kubernetes: KubernetesClaims {
            namespace: "payments".to_owned(),
            node: Some(ObjectRef { name: "node-1".to_owned(), uid: "n-uid".to_owned() }),
            pod: Some(ObjectRef { name: POD_NAME.to_owned(), uid: POD_UID.to_owned() }),
            serviceaccount: ObjectRef { name: "checkout".to_owned(), uid: "sa-uid".to_owned() },
            warnafter: None,
        },
        nbf: now,
        sub: ServiceAccountTokenClaims::subject_for("payments", "checkout"),
    }
}

/// A token for `payments/<sa>` signed with the cluster's key.
fn token_for(sa: &str) -> String {
    let mut c = claims();
    c.kubernetes.serviceaccount.name = sa.to_owned();
    c.sub = ServiceAccountTokenClaims::subject_for("payments", sa);
    key().sign(&c)
}

fn body_for(token: &str) -> String {
    json!({ "token": token }).to_string()
}

/// One EKS Auth answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// `(x-amzn-ErrorType, message)` of an error.
    error: Option<(String, String)>,
    body: Value,
    request_id: Option<String>,
    content_type: Option<String>,
}

impl Answer {
    fn ok(&self) -> AssumeRoleForPodIdentityResponse {
        assert_eq!(self.status, 200, "{self:?}");
        serde_json::from_value(self.body.clone()).expect("the five members")
    }

    fn assert_error(&self, status: u16, code: &str) -> &str {
        let (c, m) = self.error.as_ref().unwrap_or_else(|| panic!("not an error: {self:?}"));
        assert_eq!((self.status, c.as_str()), (status, code), "{self:?}");
        assert_eq!(self.content_type.as_deref(), Some("application/json"));
        assert!(self.request_id.is_some(), "every answer carries x-amzn-RequestId");
        m
    }
}

/// The agent's side: an HTTP client on the node.
struct Agent {
    client: HttpClient,
}

impl Agent {
    fn new() -> Agent {
        Agent { client: HttpClient::new() }
    }

    async fn send(&self, method: ::http::Method, path: &str, body: String) -> Answer {
        let req = ::http::Request::builder()
            .method(method)
            .uri("/")
            .header(::http::header::CONTENT_TYPE, "application/json")
            .body(Bytes::from(body))
            .unwrap();
        let resp = self.client.send(&format!("{EKS_AUTH_URL}{path}"), req, Timeouts::default()).await.expect("EKS Auth answers");
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Answer {
            status: resp.status().as_u16(),
            error: wire::parse_error(&resp),
            body: serde_json::from_slice(resp.body()).unwrap_or(Value::Null),
            request_id: header("x-amzn-RequestId"),
            content_type: header("content-type"),
        }
    }

    /// `AssumeRoleForPodIdentity` for `cluster` with a raw body.
    async fn assume(&self, cluster: &str, body: String) -> Answer {
        self.send(::http::Method::POST, &format!("/clusters/{cluster}/assume-role-for-pod-identity"), body).await
    }

    /// STS's simulator-only session lookup.
    async fn session(&self, access_key_id: &str) -> Option<SessionInfo> {
        let url = format!("{STS_URL}/credsim-internal/sessions/{access_key_id}");
        let resp = self.client.get(&url, &[], Timeouts::default()).await.expect("STS answers");
        (resp.status() == 200).then(|| serde_json::from_slice(resp.body()).expect("SessionInfo"))
    }
}

/// The `eks_auth.request` events of a run.
fn requests(events: &[sim::Event]) -> Vec<&sim::Event> {
    events.iter().filter(|e| e.kind == "eks_auth.request").collect()
}

fn the_six_tags(cluster_arn: &str) -> BTreeMap<String, String> {
    [
        ("eks-cluster-arn", cluster_arn),
        ("eks-cluster-name", "demo"),
        ("kubernetes-namespace", "payments"),
        ("kubernetes-service-account", "checkout"),
        ("kubernetes-pod-name", POD_NAME),
        ("kubernetes-pod-uid", POD_UID),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// `expiration` is `lifetime_s` after the call (issued by STS between `before` and `after`).
fn assert_lifetime(expiration: u64, before: i64, after: i64, lifetime_s: i64) {
    let e = i64::try_from(expiration).unwrap();
    assert!(
        (before + lifetime_s..=after + lifetime_s).contains(&e),
        "expiration {e} not {lifetime_s} s after [{before}, {after}]"
    );
}

// ----------------------------------------------------------------------------------------------
// Tests.

/// What the happy path observes.
struct HappyPath {
    before: i64,
    after: i64,
    answer: Answer,
    session: Option<SessionInfo>,
    token: String,
}

async fn happy_path_script() -> HappyPath {
    let agent = Agent::new();
    let token = token_for("checkout");
    let before = now_s();
    let answer = agent
        .assume("demo", json!({"token": token, "eksNodeName": "node-1", "zone": "usw2-az1"}).to_string())
        .await;
    let after = now_s();
    let akid = answer.body["credentials"]["accessKeyId"].as_str().unwrap_or_default().to_owned();
    let session = agent.session(&akid).await;
    HappyPath { before, after, answer, session, token }
}

#[test]
fn happy_path_returns_the_model_response_and_sts_gets_the_six_transitive_tags() {
    let run = run_world(standard(), happy_path_script);
    let HappyPath { before, after, answer, session, token } = run.out;
    let r = answer.ok();
    assert_eq!(answer.content_type.as_deref(), Some("application/json"));
    assert!(answer.request_id.is_some());

    // The model's five members, camelCase, expiration a JSON integer of epoch seconds.
    assert_eq!(r.subject, wire::Subject { namespace: "payments".into(), service_account: "checkout".into() });
    assert_eq!(r.audience, AUDIENCE);
    assert_eq!(r.pod_identity_association.association_id, "a-checkout00000000000");
    assert_eq!(
        r.pod_identity_association.association_arn,
        "arn:aws:eks:us-west-2:111122223333:podidentityassociation/demo/a-checkout00000000000"
    );
    assert!(answer.body["credentials"]["expiration"].is_u64(), "{}", answer.body);
    assert_lifetime(r.credentials.expiration, before, after, 6 * 3600);
    assert!(r.credentials.access_key_id.starts_with("ASIA"));

    // assumedRoleUser: `<role id>:<session name>`, session name `eks-<cluster>-<pod>-<uuid>`.
    let (role_id, session_name) = r.assumed_role_user.assume_role_id.split_once(':').unwrap();
    assert!(role_id.starts_with("AROA"), "{role_id}");
    assert!(session_name.starts_with("eks-demo-checkout-"), "{session_name}");
    assert!(session_name.len() <= 64);
    assert_eq!(r.assumed_role_user.arn, format!("arn:aws:sts::{ACCT}:assumed-role/pod-role/{session_name}"));

    // STS issued exactly this session, with the six tags, all transitive.
    let s = session.expect("STS knows the session");
    assert_eq!(s.role_arn, role_arn("pod-role"));
    assert_eq!(s.role_session_name, session_name);
    assert_eq!(s.expiration, r.credentials.expiration);
    assert_eq!(s.principal_tags, the_six_tags(CLUSTER_ARN));
    let mut transitive = s.transitive_tag_keys.clone();
    transitive.sort();
    assert_eq!(transitive, the_six_tags(CLUSTER_ARN).into_keys().collect::<Vec<_>>());
    assert_eq!(s.session_policy, None);

    // One trace event per call with who, what and how; never a secret or a token.
    let reqs = requests(&run.events);
    assert_eq!(reqs.len(), 1);
    let e = reqs[0];
    for (field, value) in [
        ("cluster", "demo"),
        ("namespace", "payments"),
        ("service_account", "checkout"),
        ("pod", POD_NAME),
        ("outcome", "ok"),
        ("node", "node-1"),
        ("association_id", "a-checkout00000000000"),
        ("role_arn", "arn:aws:iam::111122223333:role/pod-role"),
    ] {
        assert_eq!(e.str(field), value, "{field}");
    }
    assert_eq!(e.str("access_key_id"), r.credentials.access_key_id);
    assert_eq!(e.u64("http_status"), Some(200));
    assert_eq!(e.u64("expiration"), Some(r.credentials.expiration));
    for ev in &run.events {
        let line = ev.to_json_line();
        for secret in [&r.credentials.secret_access_key, &r.credentials.session_token, &token] {
            assert!(!line.contains(secret.as_str()), "a secret reached the trace: {line}");
        }
    }
    let fetches: Vec<_> = run.events.iter().filter(|e| e.kind == "eks_auth.jwks_fetch").collect();
    assert_eq!(fetches.len(), 1);
    assert_eq!(fetches[0].str("outcome"), "ok");
}

#[test]
fn same_seed_same_trace() {
    let a = run_world(standard(), happy_path_script);
    let b = run_world(standard(), happy_path_script);
    assert_eq!(a.digest, b.digest);
    assert_eq!(a.out.answer.body, b.out.answer.body);
}

#[test]
fn token_problems_are_invalid_or_expired_token() {
    // (case, how the token is made, expected error)
    type MakeToken = fn() -> String;
    let cases: Vec<(&str, MakeToken, &str)> = vec![
        ("wrong audience", || {
            let mut c = claims();
            c.aud = vec!["sts.amazonaws.com".into()];
            key().sign(&c)
        }, "InvalidTokenException"),
        ("expired", || {
            let mut c = claims();
            c.iat -= 7200;
            c.nbf -= 7200;
            c.exp = now_s() - 60;
            key().sign(&c)
        }, "ExpiredTokenException"),
        ("not valid yet", || {
            let mut c = claims();
            c.nbf = now_s() + 600;
            key().sign(&c)
        }, "InvalidTokenException"),
        ("another cluster's issuer", || {
            let mut c = claims();
            c.iss = "https://oidc.eks.us-west-2.amazonaws.com/id/OTHERCLUSTER".into();
            key().sign(&c)
        }, "InvalidTokenException"),
        ("signed with a key the issuer never published", || other_key().sign(&claims()), "InvalidTokenException"),
        ("payload swapped under a valid signature", || {
            let good = key().sign(&claims());
            let mut c = claims();
            c.sub = ServiceAccountTokenClaims::subject_for("kube-system", "admin");
            c.kubernetes.namespace = "kube-system".into();
            let forged_payload = key().sign(&c).split('.').nth(1).unwrap().to_owned();
            let parts: Vec<&str> = good.split('.').collect();
            format!("{}.{}.{}", parts[0], forged_payload, parts[2])
        }, "InvalidTokenException"),
        ("not bound to a pod", || {
            let mut c = claims();
            c.kubernetes.pod = None;
            key().sign(&c)
        }, "InvalidTokenException"),
    ];
    let names: Vec<&str> = cases.iter().map(|(n, _, _)| *n).collect();
    let makers: Vec<MakeToken> = cases.iter().map(|(_, m, _)| *m).collect();
    let run = run_world(standard(), move || async move {
        let agent = Agent::new();
        let mut out = Vec::new();
        for make in makers {
            out.push(agent.assume("demo", body_for(&make())).await);
        }
        out
    });
    for ((name, _, code), answer) in cases.iter().zip(&run.out) {
        let m = answer.assert_error(400, code);
        assert!(!m.is_empty(), "{name}: a message");
    }
    let expired = run.out[1].error.as_ref().unwrap();
    assert!(expired.1.starts_with("The token included in the request is expired"), "{expired:?}");
    // No STS call for a rejected token.
    assert!(!run.events.iter().any(|e| e.kind == "sts.request"));
    let reqs = requests(&run.events);
    assert_eq!(reqs.len(), names.len());
    for (e, (name, _, code)) in reqs.iter().zip(&cases) {
        assert_eq!((e.str("outcome"), e.str("error_code"), e.u64("http_status")), ("error", *code, Some(400)), "{name}");
    }
}

#[test]
fn service_account_without_association_is_resource_not_found() {
    let run = run_world(standard(), || async {
        Agent::new().assume("demo", body_for(&token_for("batch"))).await
    });
    let m = run.out.assert_error(404, "ResourceNotFoundException");
    assert!(m.contains("batch"), "{m}");
    let e = requests(&run.events)[0];
    assert_eq!((e.str("namespace"), e.str("service_account"), e.str("pod")), ("payments", "batch", POD_NAME));
    assert_eq!(e.str("error_code"), "ResourceNotFoundException");
}

#[test]
fn unknown_cluster_is_resource_not_found() {
    let run = run_world(standard(), || async {
        let agent = Agent::new();
        let token = token_for("checkout");
        (agent.assume("nosuch", body_for(&token)).await, agent.assume("bad.name", body_for(&token)).await)
    });
    let m = run.out.0.assert_error(404, "ResourceNotFoundException");
    assert_eq!(m, "No cluster found for name: nosuch.");
    run.out.1.assert_error(400, "InvalidParameterException");
    assert_eq!(requests(&run.events)[0].str("cluster"), "nosuch");
}

#[test]
fn cluster_the_eks_api_does_not_know_has_no_associations() {
    let s = standard();
    s.associations.borrow_mut().clear();
    let run = run_world(s, || async { Agent::new().assume("demo", body_for(&token_for("checkout"))).await });
    run.out.assert_error(404, "ResourceNotFoundException");
}

#[test]
fn malformed_requests_are_invalid_request_or_parameter() {
    let bodies: Vec<(&str, String, &str)> = vec![
        ("not JSON", "{token:".into(), "InvalidRequestException"),
        ("empty body", String::new(), "InvalidRequestException"),
        ("a JSON array", "[]".into(), "InvalidRequestException"),
        ("no token", "{}".into(), "InvalidParameterException"),
        ("token not a string", r#"{"token": 42}"#.into(), "InvalidParameterException"),
        ("token not a JWT", r#"{"token": "abc"}"#.into(), "InvalidParameterException"),
        ("token with a space", r#"{"token": "a.b.c d"}"#.into(), "InvalidParameterException"),
        ("token that is three segments of garbage", r#"{"token": "aaa.bbb.ccc"}"#.into(), "InvalidTokenException"),
    ];
    let sent: Vec<String> = bodies.iter().map(|(_, b, _)| b.clone()).collect();
    let run = run_world(standard(), move || async move {
        let agent = Agent::new();
        let mut out = Vec::new();
        for b in sent {
            out.push(agent.assume("demo", b).await);
        }
        out
    });
    for ((name, _, code), answer) in bodies.iter().zip(&run.out) {
        let (c, _) = answer.error.as_ref().unwrap_or_else(|| panic!("{name}: {answer:?}"));
        assert_eq!(c, code, "{name}");
        answer.assert_error(400, code);
    }
}

#[test]
fn unknown_path_or_method_is_unknown_operation() {
    let run = run_world(standard(), || async {
        let agent = Agent::new();
        let token = token_for("checkout");
        vec![
            agent.send(::http::Method::GET, "/clusters/demo/assume-role-for-pod-identity", body_for(&token)).await,
            agent.send(::http::Method::POST, "/clusters/demo/assume-role", body_for(&token)).await,
            agent.send(::http::Method::POST, "/", body_for(&token)).await,
        ]
    });
    for a in &run.out {
        a.assert_error(404, "UnknownOperationException");
    }
}

#[test]
fn trust_policy_without_tag_session_is_access_denied() {
    let s = setup(vec![association("a-notag000000000000", "checkout", "no-tag-session")]);
    let run = run_world(s, || async { Agent::new().assume("demo", body_for(&token_for("checkout"))).await });
    // The model's AccessDeniedException is a 400, not a 403.
    let m = run.out.assert_error(400, "AccessDeniedException");
    assert!(m.contains("sts:TagSession"), "{m}");
    let e = requests(&run.events)[0];
    assert_eq!(e.str("sts_error"), "AccessDenied");
    assert_eq!(e.str("access_key_id"), "");
}

#[test]
fn disabled_session_tags_assume_the_role_without_tags() {
    let mut a = association("a-notag000000000000", "checkout", "no-tag-session");
    a.disable_session_tags = true;
    let run = run_world(setup(vec![a]), || async {
        let agent = Agent::new();
        let answer = agent.assume("demo", body_for(&token_for("checkout"))).await;
        let akid = answer.body["credentials"]["accessKeyId"].as_str().unwrap_or_default().to_owned();
        (answer, agent.session(&akid).await)
    });
    let r = run.out.0.ok();
    assert!(r.assumed_role_user.arn.starts_with("arn:aws:sts::111122223333:assumed-role/no-tag-session/eks-demo-"));
    let s = run.out.1.expect("session");
    assert!(s.principal_tags.is_empty(), "{:?}", s.principal_tags);
    assert!(s.transitive_tag_keys.is_empty());
}

#[test]
fn association_policy_becomes_the_session_policy() {
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    let mut a = association("a-policy00000000000", "checkout", "no-tag-session");
    a.disable_session_tags = true;
    a.policy = Some(policy.to_owned());
    let run = run_world(setup(vec![a]), || async {
        let agent = Agent::new();
        let answer = agent.assume("demo", body_for(&token_for("checkout"))).await;
        let akid = answer.body["credentials"]["accessKeyId"].as_str().unwrap_or_default().to_owned();
        (answer, agent.session(&akid).await)
    });
    run.out.0.ok();
    assert_eq!(run.out.1.expect("session").session_policy.as_deref(), Some(policy));
}

#[test]
fn target_role_chains_a_second_assume_role_with_59_minute_credentials() {
    let mut a = association("a-target00000000000", "checkout", "pod-role");
    a.target_role_arn = Some(role_arn("target"));
    let run = run_world(setup(vec![a]), || async {
        let agent = Agent::new();
        let before = now_s();
        let answer = agent.assume("demo", body_for(&token_for("checkout"))).await;
        let after = now_s();
        let akid = answer.body["credentials"]["accessKeyId"].as_str().unwrap_or_default().to_owned();
        (before, after, answer, agent.session(&akid).await)
    });
    let (before, after, answer, session) = run.out;
    let r = answer.ok();
    assert_lifetime(r.credentials.expiration, before, after, 59 * 60);
    assert!(r.assumed_role_user.arn.starts_with("arn:aws:sts::111122223333:assumed-role/target/eks-demo-"), "{}", r.assumed_role_user.arn);
    // The target session inherited the six tags transitively from the first hop.
    let s = session.expect("session");
    assert_eq!(s.role_arn, role_arn("target"));
    assert_eq!(s.principal_tags, the_six_tags(CLUSTER_ARN));
    // Two AssumeRole calls reached STS: EKS Auth's, then the first session's.
    let sts: Vec<_> = run.events.iter().filter(|e| e.kind == "sts.request" && e.str("action") == "AssumeRole").collect();
    assert_eq!(sts.len(), 2);
    assert!(sts.iter().all(|e| e.str("outcome") == "ok"));
    let e = requests(&run.events)[0];
    assert_eq!(e.str("target_role_arn"), "arn:aws:iam::111122223333:role/target");
    assert_eq!(e.str("access_key_id"), r.credentials.access_key_id);
}

#[test]
fn target_role_without_session_tags_gets_the_derived_external_id() {
    let mut a = association("a-external000000000", "checkout", "no-tag-session");
    a.disable_session_tags = true;
    a.target_role_arn = Some(role_arn("target-external-id"));
    let mut wrong = a.clone();
    wrong.service_account = "other".into();
    wrong.association_id = "a-wrongexternal0000".into();
    let run = run_world(setup(vec![a, wrong]), || async {
        let agent = Agent::new();
        (
            agent.assume("demo", body_for(&token_for("checkout"))).await,
            agent.assume("demo", body_for(&token_for("other"))).await,
        )
    });
    let r = run.out.0.ok();
    assert!(r.assumed_role_user.arn.contains(":assumed-role/target-external-id/"));
    // Another service account derives another external id, which the target's trust refuses.
    run.out.1.assert_error(400, "AccessDeniedException");
}

#[test]
fn throttling_beyond_the_bucket_is_429() {
    let mut s = standard();
    s.config.throttle_rate_per_s = 1;
    s.config.throttle_burst = 2;
    let run = run_world(s, || async {
        let agent = Agent::new();
        let mut out = Vec::new();
        for _ in 0..3 {
            out.push(agent.assume("demo", "not json".into()).await);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        out.push(agent.assume("demo", "not json".into()).await);
        out
    });
    run.out[0].assert_error(400, "InvalidRequestException");
    run.out[1].assert_error(400, "InvalidRequestException");
    run.out[2].assert_error(429, "ThrottlingException");
    run.out[3].assert_error(400, "InvalidRequestException");
}

#[test]
fn upstream_outages_are_service_unavailable() {
    /// Points the config at a host that does not exist.
    type BreakIt = fn(&mut EksAuthConfig);
    // (what is down, how the config points at nothing)
    let cases: [(&str, BreakIt); 3] = [
        ("STS", |c| c.sts_url = "https://sts.nowhere.example".into()),
        ("EKS API", |c| c.eks_api_url = "https://eks.nowhere.example".into()),
        ("OIDC issuer", |c| c.clusters[0].issuer = "https://oidc.nowhere.example/id/X".into()),
    ];
    for (what, break_it) in cases {
        let mut s = standard();
        break_it(&mut s.config);
        let issuer = s.config.clusters[0].issuer.clone();
        let run = run_world(s, move || async move {
            let mut c = claims();
            c.iss = issuer;
            Agent::new().assume("demo", body_for(&key().sign(&c))).await
        });
        let (code, _) = run.out.error.as_ref().unwrap_or_else(|| panic!("{what}: {:?}", run.out));
        assert_eq!((run.out.status, code.as_str()), (503, "ServiceUnavailableException"), "{what}");
    }
}

#[test]
fn keys_and_associations_are_cached_between_calls() {
    let run = run_world(standard(), || async {
        let agent = Agent::new();
        let mut out = Vec::new();
        for _ in 0..3 {
            out.push(agent.assume("demo", body_for(&token_for("checkout"))).await.status);
        }
        out
    });
    assert_eq!(run.out, vec![200, 200, 200]);
    let count = |kind: &str| run.events.iter().filter(|e| e.kind == kind).count();
    assert_eq!(count("eks_auth.jwks_fetch"), 1);
    assert_eq!(count("eks_auth.associations_fetch"), 1);
    assert_eq!(count("eks_auth.request"), 3);
}

#[test]
fn sts_refusing_eks_auths_own_credentials_is_internal_server_error() {
    let mut s = standard();
    s.config.service_access_key_id = "AKIAUNREGISTERED0000".into();
    let run = run_world(s, || async { Agent::new().assume("demo", body_for(&token_for("checkout"))).await });
    run.out.assert_error(500, "InternalServerException");
    let e = requests(&run.events)[0];
    assert_eq!(e.str("sts_error"), "InvalidClientTokenId");
    assert_eq!(e.u64("http_status"), Some(500));
}

// ----------------------------------------------------------------------------------------------
// Service faults, planted bugs, trace contract.

#[test]
fn faults_answer_eks_auth_errors_and_healthy_is_unchanged() {
    let cases = [
        (runtime::ServiceFault::Outage, 503, "ServiceUnavailableException"),
        (runtime::ServiceFault::Throttle { rate: 1.0 }, 429, "ThrottlingException"),
        (runtime::ServiceFault::Healthy, 200, ""),
    ];
    for (fault, status, code) in cases {
        let s = standard();
        runtime::install_controls(&[]);
        runtime::set_service_fault(&s.config.host_name(), fault);
        let run = run_world(s, || async { Agent::new().assume("demo", body_for(&token_for("checkout"))).await });
        runtime::install_controls(&[]);
        if status == 200 {
            run.out.ok();
        } else {
            let m = run.out.assert_error(status, code);
            assert!(!m.is_empty());
        }
        let e = requests(&run.events)[0];
        assert_eq!(e.u64("http_status"), Some(u64::from(status)), "{fault:?}");
        assert_eq!(e.str("error_code"), code, "{fault:?}");
        assert_eq!(e.str("cluster"), "demo");
        // A refused call does no work upstream.
        let fetches = run.events.iter().filter(|e| e.kind == "eks_auth.jwks_fetch").count();
        assert_eq!(fetches, usize::from(status == 200), "{fault:?}");
    }
}

#[test]
fn ok_requests_carry_the_pod_token_and_credential_fields() {
    let run = run_world(standard(), happy_path_script);
    let r = run.out.answer.ok();
    let e = requests(&run.events)[0];
    for (field, value) in [
        ("cluster", "demo"),
        ("namespace", "payments"),
        ("service_account", "checkout"),
        ("pod_name", POD_NAME),
        ("pod_uid", POD_UID),
        ("token_aud", AUDIENCE),
        ("association_id", "a-checkout00000000000"),
        ("role_arn", role_arn("pod-role").as_str()),
        ("access_key_id", r.credentials.access_key_id.as_str()),
    ] {
        assert_eq!(e.str(field), value, "{field}");
    }
    assert_eq!(e.u64("expiration_s"), Some(r.credentials.expiration));
    let exp = e.u64("token_exp_s").expect("token_exp_s");
    assert!(i64::try_from(exp).unwrap() == run.out.before + 86400, "{exp}");
}

#[test]
fn bug_eks_auth_ignores_deletion_keeps_issuing_for_a_deleted_association() {
    for bug_on in [false, true] {
        let s = standard();
        let associations = s.associations.clone();
        runtime::install_controls(if bug_on { &[crate::bugs::Bug::EksAuthIgnoresDeletion] } else { &[] });
        let run = run_world(s, move || async move {
            let agent = Agent::new();
            let first = agent.assume("demo", body_for(&token_for("checkout"))).await.status;
            associations.borrow_mut().insert("demo".into(), Vec::new());
            // Past the association cache's lifetime: the fresh list no longer has it.
            tokio::time::sleep(Duration::from_secs(30)).await;
            let second = agent.assume("demo", body_for(&token_for("checkout"))).await;
            (first, second)
        });
        runtime::install_controls(&[]);
        let (first, second) = run.out;
        assert_eq!(first, 200);
        if bug_on {
            let r = second.ok();
            assert_eq!(r.pod_identity_association.association_id, "a-checkout00000000000");
        } else {
            second.assert_error(404, "ResourceNotFoundException");
        }
        let fetches = run.events.iter().filter(|e| e.kind == "eks_auth.associations_fetch").count();
        assert_eq!(fetches, 2, "the second call saw a fresh list");
    }
}

#[test]
fn bug_jwks_no_refetch_refuses_a_rotated_key_until_the_cache_expires() {
    for bug_on in [false, true] {
        let s = standard();
        let jwks = s.jwks.clone();
        runtime::install_controls(if bug_on { &[crate::bugs::Bug::JwksNoRefetch] } else { &[] });
        let run = run_world(s, move || async move {
            let agent = Agent::new();
            let first = agent.assume("demo", body_for(&token_for("checkout"))).await.status;
            // The cluster rotates in a new key; a pod's token is signed with it.
            jwks.borrow_mut().push(other_key().jwk());
            tokio::time::sleep(Duration::from_secs(60)).await;
            let rotated = other_key().sign(&claims());
            let second = agent.assume("demo", body_for(&rotated)).await;
            // After the cache's max-age (3600 s) the keys are fetched again either way.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            let third = agent.assume("demo", body_for(&other_key().sign(&claims()))).await.status;
            (first, second, third)
        });
        runtime::install_controls(&[]);
        let (first, second, third) = run.out;
        assert_eq!((first, third), (200, 200));
        let fetches = run.events.iter().filter(|e| e.kind == "eks_auth.jwks_fetch").count();
        if bug_on {
            second.assert_error(400, "InvalidTokenException");
            assert_eq!(fetches, 2, "initial fetch and TTL expiry only");
        } else {
            assert_eq!(second.status, 200, "{second:?}");
            assert_eq!(fetches, 3, "initial fetch, the unknown-kid refetch, TTL expiry");
        }
    }
}
