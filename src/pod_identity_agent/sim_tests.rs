//! The agent on the simulator: a node host runs [`run`] and a pod's requests, a scriptable fake EKS
//! Auth answers `AssumeRoleForPodIdentity` on its own host. Each test reads what came back to the pod,
//! what reached EKS Auth and the trace.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use serde_json::{Value, json};
use sim::{Event, Sim, SimConfig};

use super::*;
use crate::http::{HttpClient, Timeouts};

const EKS_AUTH_HOST: &str = "eks-auth.us-west-2.api.aws";
const AGENT_URL: &str = "http://169.254.170.23/v1/credentials";

// ---------------------------------------------------------------------------------------------
// Fake EKS Auth.

/// What the fake answers next.
#[derive(Clone, Debug)]
enum Reply {
    /// 200 with credentials valid for this long.
    Ok(Duration),
    /// A modelled error: status and code.
    Error(u16, &'static str),
}

/// One request EKS Auth received.
#[derive(Clone, Debug)]
struct Call {
    path: String,
    content_type: String,
    signed: bool,
    token: String,
}

struct FakeEksAuth {
    reply: RefCell<Reply>,
    /// Extra time before answering.
    delay: Cell<Duration>,
    calls: RefCell<Vec<Call>>,
}

impl FakeEksAuth {
    fn new(reply: Reply) -> Rc<FakeEksAuth> {
        Rc::new(FakeEksAuth { reply: RefCell::new(reply), delay: Cell::new(Duration::ZERO), calls: RefCell::new(Vec::new()) })
    }

    fn set(&self, reply: Reply) {
        *self.reply.borrow_mut() = reply;
    }

    fn calls(&self) -> usize {
        self.calls.borrow().len()
    }

    async fn handle(&self, req: http::Request) -> http::Response {
        let h = |k: &str| req.headers().get(k).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let body: Value = serde_json::from_slice(req.body()).unwrap_or(Value::Null);
        let token = body.get("token").and_then(Value::as_str).unwrap_or_default().to_string();
        let n = {
            let mut calls = self.calls.borrow_mut();
            calls.push(Call {
                path: req.uri().path().to_string(),
                content_type: h("content-type"),
                signed: h("authorization").starts_with("AWS4-HMAC-SHA256 Credential=") && !h("x-amz-date").is_empty(),
                token: token.clone(),
            });
            calls.len()
        };
        tokio::time::sleep(self.delay.get()).await;
        let reply = self.reply.borrow().clone();
        match reply {
            Reply::Ok(lifetime) => {
                let claims = validation::parse_unverified(&token).unwrap_or_default();
                let who = validation::identity(&claims);
                // Epoch seconds as a JSON number, with a fraction (restJson1 timestamps).
                let exp_ms = runtime::unix_ms(runtime::now() + lifetime);
                let body = json!({
                    "subject": {"namespace": who.namespace, "serviceAccount": who.service_account},
                    "audience": "pods.eks.amazonaws.com",
                    "podIdentityAssociation": {
                        "associationArn": "arn:aws:eks:us-west-2:111122223333:podidentityassociation/prod/a-abcdefghij0123456",
                        "associationId": "a-abcdefghij0123456"
                    },
                    "assumedRoleUser": {
                        "arn": format!("arn:aws:sts::111122223333:assumed-role/cart/eks-prod-{}-{n}", who.pod),
                        "assumeRoleId": format!("AROAEXAMPLE:eks-prod-{}-{n}", who.pod)
                    },
                    "credentials": {
                        "sessionToken": format!("session-token-{n}"),
                        "secretAccessKey": format!("secret-{n}"),
                        "accessKeyId": format!("ASIAPOD{n:09}"),
                        "expiration": exp_ms as f64 / 1000.0
                    }
                });
                http::response(200, "application/json", body.to_string())
            }
            Reply::Error(status, code) => {
                let mut r = http::response(status, "application/json", json!({"message": format!("{code} from the fake")}).to_string());
                let hv = |s: String| ::http::HeaderValue::from_str(&s).expect("ascii header");
                r.headers_mut().insert("x-amzn-errortype", hv(format!("{code}:http://internal.amazon.com/coral/com.amazonaws.eksauth/")));
                r.headers_mut().insert("x-amzn-requestid", hv(format!("req-{n}")));
                r
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The world and the pod's side.

/// A pod's view of one reply.
#[derive(Clone, Debug)]
struct Got {
    status: u16,
    content_type: String,
    body: String,
}

impl Got {
    fn json(&self) -> serde_json::Map<String, Value> {
        match serde_json::from_str(&self.body) {
            Ok(Value::Object(m)) => m,
            _ => panic!("not a JSON object: {self:?}"),
        }
    }

    fn akid(&self) -> String {
        self.json()["AccessKeyId"].as_str().unwrap_or_default().to_string()
    }
}

/// `GET /v1/credentials` from the pod, with `authorization` (if any) and a `Host` override (if any).
async fn get_at(url: &str, authorization: Option<&str>, host: Option<&str>) -> Got {
    let mut b = ::http::Request::get("/");
    if let Some(a) = authorization {
        b = b.header("authorization", a);
    }
    if let Some(h) = host {
        b = b.header("host", h);
    }
    let req = b.body(Bytes::new()).expect("a valid request");
    let t = Timeouts { connect: Duration::from_secs(2), request: Duration::from_secs(30) };
    match HttpClient::new().send(url, req, t).await {
        Ok(r) => Got {
            status: r.status().as_u16(),
            content_type: r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string(),
            body: String::from_utf8_lossy(r.body()).into_owned(),
        },
        Err(e) => Got { status: 0, content_type: String::new(), body: e.code() },
    }
}

async fn get(token: &str) -> Got {
    get_at(AGENT_URL, Some(token), None).await
}

/// Results the pod script collects.
type Log = Rc<RefCell<Vec<Got>>>;

fn log() -> Log {
    Rc::new(RefCell::new(Vec::new()))
}

fn config() -> PodIdentityAgentConfig {
    PodIdentityAgentConfig::new("prod", "us-west-2")
}

/// Runs the agent with `cfg` on `node-1`, the fake on its host, and `script` as a pod on the node
/// (started 1 ms in, once the agent listens), for `duration`. Returns the trace.
fn simulate<F, Fut>(cfg: PodIdentityAgentConfig, fake: &Rc<FakeEksAuth>, duration: Duration, script: F) -> Vec<Event>
where
    F: FnOnce() -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let mut sim = Sim::new(SimConfig::new(7));
    let eks = sim.add_host(EKS_AUTH_HOST);
    let f = fake.clone();
    sim.add_software(eks, move || {
        let f = f.clone();
        async move {
            let e = http::serve("443", move |req| {
                let f = f.clone();
                async move { f.handle(req).await }
            })
            .await;
            panic!("fake EKS Auth stopped: {e}");
        }
    });
    let node = sim.add_host("node-1");
    sim.add_software(node, move || run(cfg.clone()));
    let script = RefCell::new(Some(script));
    sim.add_software(node, move || {
        let s = script.borrow_mut().take();
        async move {
            if let Some(s) = s {
                tokio::time::sleep(Duration::from_millis(1)).await;
                s().await;
            }
        }
    });
    sim.run_for(duration);
    sim.take_events()
}

/// The `agent.request` events' `cache` labels, in order.
fn cache_labels(events: &[Event]) -> Vec<String> {
    events.iter().filter(|e| e.kind == "agent.request").map(|e| e.str("cache").to_string()).collect()
}

fn of_kind<'a>(events: &'a [Event], kind: &str) -> Vec<&'a Event> {
    events.iter().filter(|e| e.kind == kind).collect()
}

/// An unsigned service-account token for a pod (the agent does not check signatures), valid from
/// the simulation's start for 24 h.
fn pod_token(pod: &str, uid: &str, serial: u32) -> String {
    let iat = sim::EPOCH_UNIX_S;
    let claims = json!({
        "aud": ["pods.eks.amazonaws.com"], "exp": iat + 86_400, "iat": iat, "nbf": iat,
        "iss": "https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE", "sub": "system:serviceaccount:shop:cart",
        "jti": format!("jti-{serial}"),
        "kubernetes.io": {"namespace": "shop", "pod": {"name": pod, "uid": uid}, "serviceaccount": {"name": "cart", "uid": "sa-uid"}}
    });
    let enc = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.c2lnbmF0dXJl", enc(json!({"alg": "RS256", "kid": "0123456789abcdef0123456789abcdef01234567"})), enc(claims))
}

const SIX_HOURS: Duration = Duration::from_secs(6 * 3600);

// ---------------------------------------------------------------------------------------------
// Tests.

#[test]
fn happy_path_answers_container_credentials_json_with_z_expiry() {
    let fake = FakeEksAuth::new(Reply::Ok(SIX_HOURS));
    let got = log();
    let g = got.clone();
    let token = pod_token("cart-1", "uid-1", 1);
    let tok = token.clone();
    let events = simulate(config(), &fake, Duration::from_secs(5), move || async move {
        {
            let r = get(&tok).await;
            g.borrow_mut().push(r);
        }
    });
    let r = got.borrow()[0].clone();
    assert_eq!((r.status, r.content_type.as_str()), (200, "application/json"), "{r:?}");
    // Exactly the five keys, in upstream's struct order.
    let keys = ["AccessKeyId", "SecretAccessKey", "Token", "AccountId", "Expiration"];
    let positions: Vec<Option<usize>> = keys.iter().map(|k| r.body.find(&format!("\"{k}\""))).collect();
    assert!(positions.iter().all(Option::is_some) && positions.windows(2).all(|w| w[0] < w[1]), "{}", r.body);
    let j = r.json();
    assert_eq!(j.len(), 5);
    assert_eq!(j["AccessKeyId"], "ASIAPOD000000001");
    assert_eq!(j["SecretAccessKey"], "secret-1");
    assert_eq!(j["Token"], "session-token-1");
    assert_eq!(j["AccountId"], "111122223333");
    let exp = j["Expiration"].as_str().unwrap();
    assert!(exp.ends_with('Z'), "{exp}");
    // The Rust SDK's own parser accepts it and reads the expiry EKS Auth gave (6 h from the call).
    let c = crate::sdk::container::parse_response(crate::scenario::SdkName::Rust, 200, r.body.as_bytes()).unwrap();
    let left = c.expiration.duration_since(crate::sdk::parse_timestamp("2027-01-15T00:00:00Z").unwrap()).unwrap();
    assert!(left > Duration::from_secs(6 * 3600 - 10) && left <= SIX_HOURS + Duration::from_secs(5), "{exp}");

    // What EKS Auth received: restJson1 POST to the cluster's URI, SigV4-signed, the raw token.
    let calls = fake.calls.borrow();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].path, "/clusters/prod/assume-role-for-pod-identity");
    assert_eq!(calls[0].content_type, "application/json");
    assert!(calls[0].signed);
    assert_eq!(calls[0].token, token);

    // The trace: one request (a miss) and one EKS Auth call, with who but never the token.
    let req = of_kind(&events, "agent.request");
    assert_eq!(req.len(), 1);
    let e = req[0];
    assert_eq!((e.str("pod"), e.str("namespace"), e.str("service_account")), ("cart-1", "shop", "cart"));
    assert_eq!((e.u64("status"), e.str("cache"), e.str("error_code")), (Some(200), "miss", ""));
    let up = of_kind(&events, "agent.eks_auth");
    assert_eq!(up.len(), 1);
    assert_eq!((up[0].u64("status"), up[0].str("error_code"), up[0].str("purpose")), (Some(200), "", "request"));
    for e in &events {
        for (_, v) in &e.fields {
            let v = v.to_string();
            assert!(!v.contains(&token) && !v.contains("secret-1") && !v.contains("session-token-1"), "{e:?}");
        }
    }
}

#[test]
fn host_header_must_name_the_agent_address() {
    let token = pod_token("cart-1", "uid-1", 1);
    let cases: [(&str, u16); 6] = [
        ("169.254.170.23", 200),
        ("169.254.170.23:80", 200),
        ("[fd00:ec2::23]", 200),
        ("localhost", 403),
        ("169.254.170.2", 403),
        ("127.0.0.1:80", 403),
    ];
    let fake = FakeEksAuth::new(Reply::Ok(SIX_HOURS));
    let got = log();
    let g = got.clone();
    let tok = token.clone();
    simulate(config(), &fake, Duration::from_secs(5), move || async move {
        for (host, _) in cases {
            {
            let r = get_at(AGENT_URL, Some(&tok), Some(host)).await;
            g.borrow_mut().push(r);
        }
        }
    });
    for ((host, status), r) in cases.iter().zip(got.borrow().iter()) {
        assert_eq!(r.status, *status, "{host}: {r:?}");
        if *status == 403 {
            let bare = host.split(':').next().unwrap();
            assert_eq!(r.content_type, "text/plain; charset=utf-8");
            assert_eq!(
                r.body,
                format!("Access Denied. Called agent through invalid address, please use either [169.254.170.23 fd00:ec2::23] address not {bare}\n")
            );
        }
    }
    // Refused requests never reach EKS Auth; the accepted ones share one cache entry.
    assert_eq!(fake.calls(), 1);
}

#[test]
fn missing_or_blank_authorization_is_400_without_calling_eks_auth() {
    let fake = FakeEksAuth::new(Reply::Ok(SIX_HOURS));
    let got = log();
    let g = got.clone();
    let events = simulate(config(), &fake, Duration::from_secs(5), move || async move {
        {
            let r = get_at(AGENT_URL, None, None).await;
            g.borrow_mut().push(r);
        }
        {
            let r = get_at(AGENT_URL, Some(""), None).await;
            g.borrow_mut().push(r);
        }
        {
            let r = get_at(AGENT_URL, Some("   "), None).await;
            g.borrow_mut().push(r);
        }
        {
            let r = get_at(AGENT_URL, Some("Bearer"), None).await;
            g.borrow_mut().push(r);
        }
    });
    let got = got.borrow();
    for r in &got[..3] {
        assert_eq!((r.status, r.content_type.as_str(), r.body.as_str()), (400, "text/plain; charset=utf-8", "Service account token cannot be empty\n"));
    }
    assert_eq!(got[3].status, 400);
    assert!(got[3].body.starts_with("Service account token cannot be parsed: "), "{:?}", got[3]);
    assert_eq!(fake.calls(), 0);
    assert_eq!(cache_labels(&events), ["", "", "", ""]);
}

#[test]
fn other_paths_are_go_404() {
    let fake = FakeEksAuth::new(Reply::Ok(SIX_HOURS));
    let got = log();
    let g = got.clone();
    let tok = pod_token("cart-1", "uid-1", 1);
    simulate(config(), &fake, Duration::from_secs(5), move || async move {
        {
            let r = get_at("http://169.254.170.23/", Some(&tok), None).await;
            g.borrow_mut().push(r);
        }
        {
            let r = get_at("http://169.254.170.23/v1/credentials/", Some(&tok), None).await;
            g.borrow_mut().push(r);
        }
    });
    for r in got.borrow().iter() {
        assert_eq!((r.status, r.body.as_str()), (404, "404 page not found\n"));
    }
    assert_eq!(fake.calls(), 0);
}

#[test]
fn second_request_with_the_same_token_is_a_cache_hit() {
    let fake = FakeEksAuth::new(Reply::Ok(SIX_HOURS));
    let got = log();
    let g = got.clone();
    let (a, b) = (pod_token("cart-1", "uid-1", 1), pod_token("cart-2", "uid-2", 1));
    let events = simulate(config(), &fake, Duration::from_secs(120), move || async move {
        {
            let r = get(&a).await;
            g.borrow_mut().push(r);
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
        {
            let r = get(&a).await;
            g.borrow_mut().push(r);
        }
        {
            let r = get(&b).await;
            g.borrow_mut().push(r);
        }
    });
    let got = got.borrow();
    assert!(got.iter().all(|r| r.status == 200));
    assert_eq!(got[0].akid(), got[1].akid());
    assert_ne!(got[0].akid(), got[2].akid());
    assert_eq!(fake.calls(), 2);
    assert_eq!(cache_labels(&events), ["miss", "hit", "miss"]);
}

#[test]
fn cache_keyed_by_token_or_by_pod_uid() {
    // Pod A's token, then A's rotated token, then the first token again; pod B alongside.
    // By token (v0.1.37) every token has its own entry; by pod UID there is one entry per pod, which
    // the rotated token's fetch replaces, so the old token is a miss again.
    let cases = [(false, ["miss", "miss", "hit", "miss", "hit"]), (true, ["miss", "miss", "miss", "miss", "hit"])];
    for (by_uid, expected) in cases {
        let fake = FakeEksAuth::new(Reply::Ok(SIX_HOURS));
        let (a1, a2, b) = (pod_token("cart-a", "uid-a", 1), pod_token("cart-a", "uid-a", 2), pod_token("cart-b", "uid-b", 1));
        let got = log();
        let g = got.clone();
        let cfg = PodIdentityAgentConfig { cache_by_pod_uid: by_uid, ..config() };
        let events = simulate(cfg, &fake, Duration::from_secs(10), move || async move {
            for t in [&a1, &a2, &a1, &b, &b] {
                {
            let r = get(t).await;
            g.borrow_mut().push(r);
        }
            }
        });
        assert!(got.borrow().iter().all(|r| r.status == 200), "by_uid={by_uid}");
        assert_eq!(cache_labels(&events), expected, "by_uid={by_uid}");
        let started = of_kind(&events, "agent.started");
        assert_eq!(started[0].str("cache"), if by_uid { "pod_uid" } else { "token" });
    }
    // By pod UID, a token without the claim cannot be keyed: refused, no EKS Auth call.
    let fake = FakeEksAuth::new(Reply::Ok(SIX_HOURS));
    let no_uid = format!(
        "{}.{}.c2ln",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256"}"#),
        URL_SAFE_NO_PAD.encode(json!({"sub": "system:serviceaccount:shop:cart", "exp": sim::EPOCH_UNIX_S + 3600}).to_string())
    );
    let got = log();
    let g = got.clone();
    simulate(PodIdentityAgentConfig { cache_by_pod_uid: true, ..config() }, &fake, Duration::from_secs(5), move || async move {
        {
            let r = get(&no_uid).await;
            g.borrow_mut().push(r);
        }
    });
    assert_eq!(got.borrow()[0].status, 500);
    assert_eq!(fake.calls(), 0);
}

#[test]
fn credentials_with_15_s_or_less_left_are_not_served() {
    // Fetched with 10 s left: refused outright (500), and not cached.
    let fake = FakeEksAuth::new(Reply::Ok(Duration::from_secs(10)));
    let got = log();
    let g = got.clone();
    let tok = pod_token("cart-1", "uid-1", 1);
    simulate(config(), &fake, Duration::from_secs(5), move || async move {
        {
            let r = get(&tok).await;
            g.borrow_mut().push(r);
        }
        {
            let r = get(&tok).await;
            g.borrow_mut().push(r);
        }
    });
    for r in got.borrow().iter() {
        assert_eq!(r.status, 500);
        let left: f64 = r
            .body
            .strip_prefix("fetched credentials are expired or will expire within the next ")
            .and_then(|rest| rest.strip_suffix(" seconds\n"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{r:?}"));
        // 10 s less the few milliseconds the reply took to come back.
        assert!(left > 9.9 && left <= 10.0, "{left}");
    }
    assert_eq!(fake.calls(), 2);

    // Fetched with 60 s left: served from the cache until 15 s are left, then fetched again.
    let fake = FakeEksAuth::new(Reply::Ok(Duration::from_secs(60)));
    let got = log();
    let g = got.clone();
    let tok = pod_token("cart-1", "uid-1", 1);
    let events = simulate(config(), &fake, Duration::from_secs(60), move || async move {
        let start = tokio::time::Instant::now();
        {
            let r = get(&tok).await;
            g.borrow_mut().push(r);
        }
        tokio::time::sleep_until(start + Duration::from_secs(40)).await;
        {
            let r = get(&tok).await;
            g.borrow_mut().push(r);
        }
        tokio::time::sleep_until(start + Duration::from_secs(46)).await;
        {
            let r = get(&tok).await;
            g.borrow_mut().push(r);
        }
    });
    let got = got.borrow();
    assert!(got.iter().all(|r| r.status == 200));
    assert_eq!(got[0].akid(), got[1].akid());
    assert_ne!(got[1].akid(), got[2].akid());
    assert_eq!(cache_labels(&events), ["miss", "hit", "miss"]);
    assert_eq!(of_kind(&events, "agent.cache_evict")[0].str("reason"), "min_ttl");
}

#[test]
fn stale_credentials_are_served_while_renewals_fail_transiently() {
    // Renewal comes due 3 h after the fetch; EKS Auth then answers 500/503/429: the entry is kept and
    // served (labelled stale) with the same credentials, and the renewal is retried later.
    for (status, code) in [(500, "InternalServerException"), (503, "ServiceUnavailableException"), (429, "ThrottlingException")] {
        let fake = FakeEksAuth::new(Reply::Ok(SIX_HOURS));
        let got = log();
        let g = got.clone();
        let tok = pod_token("cart-1", "uid-1", 1);
        let f = fake.clone();
        let events = simulate(config(), &fake, Duration::from_secs(3 * 3600 + 600), move || async move {
            let start = tokio::time::Instant::now();
            {
            let r = get(&tok).await;
            g.borrow_mut().push(r);
        }
            f.set(Reply::Error(status, code));
            tokio::time::sleep_until(start + Duration::from_secs(3 * 3600 + 300)).await;
            {
            let r = get(&tok).await;
            g.borrow_mut().push(r);
        }
        });
        let got = got.borrow();
        assert!(got.iter().all(|r| r.status == 200), "{code}");
        assert_eq!(got[0].akid(), got[1].akid(), "{code}");
        assert_eq!(cache_labels(&events), ["miss", "stale"], "{code}");
        let renewals: Vec<&Event> = of_kind(&events, "agent.eks_auth").into_iter().filter(|e| e.str("purpose") == "renewal").collect();
        assert!(!renewals.is_empty() && renewals.iter().all(|e| e.str("error_code") == code && e.u64("status") == Some(u64::from(status))), "{code}");
        // The first renewal was tried 3 h (plus at most one sweep period) after the fetch, and again later.
        let refreshes = of_kind(&events, "agent.cache_refresh");
        assert!(refreshes.len() >= 2 && refreshes.iter().all(|e| e.str("outcome") == "kept" && e.str("code") == code), "{code}: {refreshes:?}");
        let first_ns = refreshes[0].t_ns;
        assert!(first_ns > 3 * 3600 * 1_000_000_000 && first_ns < (3 * 3600 + 70) * 1_000_000_000, "{first_ns}");
    }
}

#[test]
fn terminal_renewal_errors_drop_the_entry_others_keep_it() {
    let cases: [(u16, &str, bool); 6] = [
        (404, "ResourceNotFoundException", true),
        (400, "ExpiredTokenException", true),
        (400, "InvalidTokenException", true),
        (400, "AccessDeniedException", true),
        (400, "InvalidParameterException", false),
        (500, "InternalServerException", false),
    ];
    for (status, code, dropped) in cases {
        let fake = FakeEksAuth::new(Reply::Ok(SIX_HOURS));
        let got = log();
        let g = got.clone();
        let tok = pod_token("cart-1", "uid-1", 1);
        let f = fake.clone();
        let events = simulate(config(), &fake, Duration::from_secs(3 * 3600 + 600), move || async move {
            let start = tokio::time::Instant::now();
            {
            let r = get(&tok).await;
            g.borrow_mut().push(r);
        }
            f.set(Reply::Error(status, code));
            tokio::time::sleep_until(start + Duration::from_secs(3 * 3600 + 90)).await;
            {
            let r = get(&tok).await;
            g.borrow_mut().push(r);
        }
        });
        let got = got.borrow();
        if dropped {
            // The entry is gone, so the pod's request goes to EKS Auth and gets its error passed through.
            assert_eq!(cache_labels(&events), ["miss", "miss"], "{code}");
            assert_eq!(got[1].status, status, "{code}");
            assert_eq!(got[1].content_type, "text/plain; charset=utf-8");
            assert!(got[1].body.starts_with("[req-") && got[1].body.ends_with(&format!("]: ({code}): {code} from the fake, fault: client\n")), "{:?}", got[1]);
            let evict = of_kind(&events, "agent.cache_evict");
            assert_eq!(evict.len(), 1);
            assert_eq!(evict[0].str("reason"), "irrecoverable");
            assert_eq!(of_kind(&events, "agent.cache_refresh")[0].str("outcome"), "dropped");
            let req = of_kind(&events, "agent.request");
            assert_eq!((req[1].u64("status"), req[1].str("error_code")), (Some(u64::from(status)), code));
        } else {
            assert_eq!(cache_labels(&events), ["miss", "stale"], "{code}");
            assert_eq!(got[1].status, 200);
            assert!(of_kind(&events, "agent.cache_evict").is_empty(), "{code}");
        }
    }
}

#[test]
fn concurrent_identical_requests_make_one_eks_auth_call() {
    let fake = FakeEksAuth::new(Reply::Ok(SIX_HOURS));
    fake.delay.set(Duration::from_millis(300));
    let got = log();
    let g = got.clone();
    let tok = pod_token("cart-1", "uid-1", 1);
    let events = simulate(config(), &fake, Duration::from_secs(10), move || async move {
        let mut tasks = Vec::new();
        for _ in 0..5 {
            let (g, tok) = (g.clone(), tok.clone());
            tasks.push(runtime::spawn(async move {
                let r = get(&tok).await;
                g.borrow_mut().push(r);
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    let got = got.borrow();
    assert_eq!(got.len(), 5);
    assert!(got.iter().all(|r| r.status == 200 && r.akid() == got[0].akid()));
    assert_eq!(fake.calls(), 1);
    let mut labels = cache_labels(&events);
    labels.sort();
    assert_eq!(labels, ["coalesced", "coalesced", "coalesced", "coalesced", "miss"]);

    // A first caller's failure is not shared: the waiters go to EKS Auth themselves.
    let fake = FakeEksAuth::new(Reply::Error(404, "ResourceNotFoundException"));
    fake.delay.set(Duration::from_millis(300));
    let got = log();
    let g = got.clone();
    let tok = pod_token("cart-1", "uid-1", 1);
    simulate(config(), &fake, Duration::from_secs(10), move || async move {
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let (g, tok) = (g.clone(), tok.clone());
            tasks.push(runtime::spawn(async move {
                let r = get(&tok).await;
                g.borrow_mut().push(r);
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    assert!(got.borrow().iter().all(|r| r.status == 404));
    assert_eq!(fake.calls(), 3);
}

#[test]
fn cache_holds_at_most_2000_entries() {
    let fake = FakeEksAuth::new(Reply::Ok(SIX_HOURS));
    let got = log();
    let g = got.clone();
    let tokens: Vec<String> = (0..2001).map(|i| pod_token(&format!("p-{i}"), &format!("uid-{i}"), 1)).collect();
    let events = simulate(config(), &fake, Duration::from_secs(600), move || async move {
        for t in &tokens {
            {
            let r = get(t).await;
            g.borrow_mut().push(r);
        }
            // Stay under the request limiter's rate.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // The newest 2000 are cached; the first one, stored least recently, was evicted.
        {
            let r = get(&tokens[2000]).await;
            g.borrow_mut().push(r);
        }
        {
            let r = get(&tokens[1]).await;
            g.borrow_mut().push(r);
        }
        {
            let r = get(&tokens[0]).await;
            g.borrow_mut().push(r);
        }
    });
    assert_eq!(got.borrow().len(), 2004);
    assert!(got.borrow().iter().all(|r| r.status == 200));
    let labels = cache_labels(&events);
    assert_eq!(labels[2001..], ["hit", "hit", "miss"]);
    // Re-fetching the first evicts the next least recently stored (the second).
    let evicted: Vec<(&str, &str)> = of_kind(&events, "agent.cache_evict").iter().map(|e| (e.str("pod"), e.str("reason"))).collect();
    assert_eq!(evicted, [("p-0", "capacity"), ("p-1", "capacity")]);
    assert_eq!(fake.calls(), 2002);
}

#[test]
fn request_limiter_answers_429_beyond_the_burst() {
    // 600 requests at one instant: the bucket (1000/s, burst 500) lets 500 through.
    let fake = FakeEksAuth::new(Reply::Ok(SIX_HOURS));
    let got = log();
    let g = got.clone();
    simulate(config(), &fake, Duration::from_secs(10), move || async move {
        let mut tasks = Vec::new();
        for _ in 0..600 {
            let g = g.clone();
            tasks.push(runtime::spawn(async move {
                let r = get_at(AGENT_URL, None, None).await;
                g.borrow_mut().push(r);
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    let got = got.borrow();
    let count = |s: u16| got.iter().filter(|r| r.status == s).count();
    // The burst, plus at most the tokens that refill (1/ms) while the 600 arrive over ~2 ms of
    // network jitter.
    assert_eq!(count(400) + count(429), 600);
    assert!((500..=505).contains(&count(400)), "{}", count(400));
    assert!(got.iter().filter(|r| r.status == 429).all(|r| r.body == "Too Many Requests\n"));
}

#[test]
fn eks_auth_status_passes_through_and_no_response_is_500() {
    let cases: [(Reply, Duration, u16, usize, &str); 5] = [
        (Reply::Error(404, "ResourceNotFoundException"), Duration::ZERO, 404, 1, "ResourceNotFoundException"),
        (Reply::Error(400, "AccessDeniedException"), Duration::ZERO, 400, 1, "AccessDeniedException"),
        // Retried by the standard retryer: 3 attempts in all.
        (Reply::Error(429, "ThrottlingException"), Duration::ZERO, 429, 3, "ThrottlingException"),
        (Reply::Error(503, "ServiceUnavailableException"), Duration::ZERO, 503, 3, "ServiceUnavailableException"),
        // Every attempt outlasts the 1 s request timeout: no response, so 500.
        (Reply::Ok(SIX_HOURS), Duration::from_secs(2), 500, 3, "timeout"),
    ];
    for (reply, delay, status, attempts, code) in cases {
        let fake = FakeEksAuth::new(reply);
        fake.delay.set(delay);
        let got = log();
        let g = got.clone();
        let tok = pod_token("cart-1", "uid-1", 1);
        let events = simulate(config(), &fake, Duration::from_secs(60), move || async move {
            {
            let r = get(&tok).await;
            g.borrow_mut().push(r);
        }
        });
        let r = got.borrow()[0].clone();
        assert_eq!(r.status, status, "{code}: {r:?}");
        assert_eq!(r.content_type, "text/plain; charset=utf-8");
        assert_eq!(fake.calls(), attempts, "{code}");
        let up = of_kind(&events, "agent.eks_auth");
        assert_eq!(up.len(), attempts);
        assert!(up.iter().all(|e| e.str("error_code") == code), "{code}: {up:?}");
        if status == 500 {
            assert_eq!(r.body, "[]\n");
        }
    }
}

#[test]
fn ipv6_listener_only_when_configured() {
    let v6_url = "http://[fd00:ec2::23]/v1/credentials";
    for (ipv6, expected) in [(false, 0u16), (true, 200)] {
        let fake = FakeEksAuth::new(Reply::Ok(SIX_HOURS));
        let got = log();
        let g = got.clone();
        let tok = pod_token("cart-1", "uid-1", 1);
        let cfg = if ipv6 { config().with_ipv6() } else { config() };
        let events = simulate(cfg, &fake, Duration::from_secs(10), move || async move {
            {
            let r = get_at(v6_url, Some(&tok), None).await;
            g.borrow_mut().push(r);
        }
            {
            let r = get(&tok).await;
            g.borrow_mut().push(r);
        }
        });
        let got = got.borrow();
        assert_eq!(got[0].status, expected, "ipv6={ipv6}: {:?}", got[0]);
        assert_eq!(got[1].status, 200);
        let binds: Vec<&str> = of_kind(&events, "agent.started").iter().map(|e| e.str("bind")).collect();
        if ipv6 {
            assert_eq!(binds, ["169.254.170.23:80", "[fd00:ec2::23]:80"]);
            // Each listener has its own cache, as upstream builds one handler per server.
            assert_eq!(cache_labels(&events), ["miss", "miss"]);
        } else {
            assert_eq!(binds, ["169.254.170.23:80"]);
        }
    }
}

#[test]
fn same_seed_same_trace() {
    let run = || {
        let fake = FakeEksAuth::new(Reply::Ok(SIX_HOURS));
        let tok = pod_token("cart-1", "uid-1", 1);
        let f = fake.clone();
        let events = simulate(config(), &fake, Duration::from_secs(3 * 3600 + 600), move || async move {
            get(&tok).await;
            f.set(Reply::Error(500, "InternalServerException"));
            tokio::time::sleep(Duration::from_secs(3 * 3600 + 120)).await;
            get(&tok).await;
        });
        events.iter().map(|e| format!("{} {} {:?}", e.t_ns, e.kind, e.fields)).collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn every_sdk_profile_gets_credentials_from_the_agent() {
    use crate::scenario::SdkName;
    use crate::sdk::{CredentialsProvider, PodFs, SdkProfile};
    const TOKEN_FILE: &str = "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token";
    for sdk in [SdkName::Rust, SdkName::Botocore, SdkName::Go] {
        let fake = FakeEksAuth::new(Reply::Ok(SIX_HOURS));
        let fs: PodFs = Default::default();
        fs.borrow_mut().insert(TOKEN_FILE.into(), Bytes::from(pod_token("cart-1", "uid-1", 1)));
        let env: std::collections::BTreeMap<String, String> = [
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", AGENT_URL),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", TOKEN_FILE),
            ("AWS_REGION", "us-west-2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let out = Rc::new(RefCell::new(None));
        let o = out.clone();
        let events = simulate(config(), &fake, Duration::from_secs(5), move || async move {
            let mut p = CredentialsProvider::new(SdkProfile::for_sdk(sdk), env, fs, "cart-1".into());
            let r = p.credentials().await;
            *o.borrow_mut() = Some(r);
        });
        let c = out.borrow_mut().take().expect("the pod ran").unwrap_or_else(|e| panic!("{sdk}: {e:?}"));
        assert_eq!((c.access_key_id.as_str(), c.account_id.as_str(), c.source), ("ASIAPOD000000001", "111122223333", "container"), "{sdk}");
        assert_eq!(cache_labels(&events), ["miss"], "{sdk}");
    }
}

#[test]
fn a_200_names_the_credentials_served_and_the_pod_uid() {
    let fake = FakeEksAuth::new(Reply::Ok(SIX_HOURS));
    let got = log();
    let g = got.clone();
    let token = pod_token("cart-1", "uid-1", 1);
    let events = simulate(config(), &fake, Duration::from_secs(5), move || async move {
        let r = get(&token).await;
        g.borrow_mut().push(r);
        let r = get("not-a-token").await;
        g.borrow_mut().push(r);
    });
    let reqs = of_kind(&events, "agent.request");
    assert_eq!(reqs.len(), 2);
    let ok = reqs[0];
    assert_eq!(ok.u64("status"), Some(200));
    assert_eq!(ok.str("access_key_id"), got.borrow()[0].akid());
    assert_eq!(ok.str("pod_uid"), "uid-1");
    let exp = got.borrow()[0].json()["Expiration"].as_str().unwrap().to_string();
    let exp_s = ok.u64("expiration_s").unwrap();
    assert_eq!(Some(exp_s), crate::sdk::parse_timestamp(&exp).map(runtime::unix_s), "{exp}");
    // A refusal carries none of them.
    assert_ne!(reqs[1].u64("status"), Some(200));
    assert!(reqs[1].fields.iter().all(|(k, _)| k != "access_key_id" && k != "pod_uid"));
}

#[test]
fn planted_bug_cache_by_service_account_serves_one_pods_credentials_to_another_only_when_on() {
    for (bug, shared) in [(false, false), (true, true)] {
        for by_uid in [false, true] {
            crate::runtime::install_controls(if bug { &[crate::bugs::Bug::AgentCacheByServiceAccount] } else { &[] });
            let fake = FakeEksAuth::new(Reply::Ok(SIX_HOURS));
            let got = log();
            let g = got.clone();
            let mut cfg = config();
            cfg.cache_by_pod_uid = by_uid;
            let events = simulate(cfg, &fake, Duration::from_secs(5), move || async move {
                // Two pods of one service account (shop/cart) on the node.
                for (pod, uid, serial) in [("cart-1", "uid-1", 1), ("cart-2", "uid-2", 2)] {
                    let r = get(&pod_token(pod, uid, serial)).await;
                    g.borrow_mut().push(r);
                }
            });
            let ctx = format!("bug={bug} by_uid={by_uid}");
            let got = got.borrow();
            assert!(got.iter().all(|r| r.status == 200), "{ctx}: {got:?}");
            assert_eq!(got[0].akid() == got[1].akid(), shared, "{ctx}");
            assert_eq!(fake.calls(), if shared { 1 } else { 2 }, "{ctx}");
            let reqs = of_kind(&events, "agent.request");
            // The trace shows the leak: cart-2 was served the key issued for cart-1.
            assert_eq!(reqs[1].str("pod"), "cart-2");
            assert_eq!(reqs[1].str("pod_uid"), "uid-2");
            assert_eq!(reqs[1].str("access_key_id") == reqs[0].str("access_key_id"), shared, "{ctx}");
        }
    }
    crate::runtime::install_controls(&[]);
}

#[test]
fn planted_bug_serves_expired_hands_out_expired_credentials_only_when_on() {
    for bug in [false, true] {
        crate::runtime::install_controls(if bug { &[crate::bugs::Bug::AgentServesExpired] } else { &[] });
        let fake = FakeEksAuth::new(Reply::Ok(Duration::from_secs(20 * 60)));
        let got = log();
        let g = got.clone();
        let f = fake.clone();
        let token = pod_token("cart-1", "uid-1", 1);
        let expired_at = Rc::new(Cell::new(false));
        let e = expired_at.clone();
        let events = simulate(config(), &fake, Duration::from_secs(3600), move || async move {
            let r = get(&token).await;
            g.borrow_mut().push(r);
            // EKS Auth starts failing; the 20 min credentials run out.
            f.set(Reply::Error(500, "InternalServerException"));
            tokio::time::sleep(Duration::from_secs(25 * 60)).await;
            let r = get(&token).await;
            if r.status == 200 {
                let exp = r.json()["Expiration"].as_str().unwrap_or_default().to_string();
                e.set(crate::sdk::parse_timestamp(&exp).is_some_and(|t| t < runtime::now()));
            }
            g.borrow_mut().push(r);
        });
        let got = got.borrow();
        assert_eq!(got[0].status, 200);
        if bug {
            assert_eq!((got[1].status, got[1].akid()), (200, got[0].akid()), "{got:?}");
            assert!(expired_at.get(), "served credentials should be past their expiry");
            assert_eq!(cache_labels(&events).last().map(String::as_str), Some("expired"));
            assert!(of_kind(&events, "agent.cache_evict").is_empty());
        } else {
            assert_eq!(got[1].status, 500, "{got:?}");
            assert_eq!(of_kind(&events, "agent.cache_evict")[0].str("reason"), "expired");
        }
    }
    crate::runtime::install_controls(&[]);
}
