//! End-to-end tests of the STS actor through its HTTP interface, with a fake host environment that
//! serves an EKS-style OIDC issuer from memory and can be made unreachable.
//!
//! Every negative asserts the real error code and HTTP status (`sdk.md` §1.5).

use std::cell::{Cell, RefCell, RefMut};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use credsim::jwt::{
    Jwks, KubernetesClaims, ObjectRef, OidcDiscovery, ServiceAccountTokenClaims, SigningKey,
};
use credsim::sts::{
    FetchError, FetchFuture, IdpOutageError, RegistryError, StsConfig, StsEnv, StsService,
};
use http::{Request, Response, StatusCode};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

const ISSUER: &str = "https://oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B716D3041E";
const HOST_PATH: &str = "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B716D3041E";
const ACCT: &str = "111122223333";
const ROLE_ARN: &str = "arn:aws:iam::111122223333:role/checkout";
const SUB: &str = "system:serviceaccount:payments:checkout-api";
/// 2027-01-15T08:00:00Z.
const T0: u64 = 1_800_000_000;

/// Key generation is slow-ish: two keys per test binary.
fn key_a() -> &'static SigningKey {
    static K: OnceLock<SigningKey> = OnceLock::new();
    K.get_or_init(|| SigningKey::generate(1))
}

fn key_b() -> &'static SigningKey {
    static K: OnceLock<SigningKey> = OnceLock::new();
    K.get_or_init(|| SigningKey::generate(2))
}

// ----------------------------------------------------------------------------------------------
// Fake host environment.

/// A canned HTTP response.
#[derive(Clone)]
struct Canned {
    status: StatusCode,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

/// A recorded trace event: kind and fields.
type Event = (String, Vec<(String, String)>);

struct FakeEnv {
    now: Cell<SystemTime>,
    rng: RefCell<ChaCha8Rng>,
    routes: RefCell<BTreeMap<String, Canned>>,
    /// When set, every fetch fails with this error (issuer unreachable).
    fail_with: RefCell<Option<FetchError>>,
    fetches: RefCell<Vec<String>>,
    events: RefCell<Vec<Event>>,
}

impl StsEnv for FakeEnv {
    fn now(&self) -> SystemTime {
        self.now.get()
    }

    fn rng(&self) -> RefMut<'_, ChaCha8Rng> {
        self.rng.borrow_mut()
    }

    fn fetch<'a>(&'a self, url: &'a str, timeout: Duration) -> FetchFuture<'a> {
        Box::pin(async move {
            assert_eq!(
                timeout,
                Duration::from_secs(5),
                "STS passes its 5 s IdP timeout"
            );
            self.fetches.borrow_mut().push(url.to_owned());
            if let Some(e) = self.fail_with.borrow().clone() {
                return Err(e);
            }
            let canned = self.routes.borrow().get(url).cloned().unwrap_or(Canned {
                status: StatusCode::NOT_FOUND,
                headers: vec![],
                body: b"not found".to_vec(),
            });
            let mut resp = Response::new(Bytes::from(canned.body));
            *resp.status_mut() = canned.status;
            for (k, v) in canned.headers {
                resp.headers_mut().insert(k, v.parse().unwrap());
            }
            Ok(resp)
        })
    }

    fn record(&self, kind: &str, fields: &[(&str, String)]) {
        self.events.borrow_mut().push((
            kind.to_owned(),
            fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        ));
    }
}

impl FakeEnv {
    fn new(seed: u64) -> FakeEnv {
        FakeEnv {
            now: Cell::new(UNIX_EPOCH + Duration::from_secs(T0)),
            rng: RefCell::new(ChaCha8Rng::seed_from_u64(seed)),
            routes: RefCell::new(BTreeMap::new()),
            fail_with: RefCell::new(None),
            fetches: RefCell::new(Vec::new()),
            events: RefCell::new(Vec::new()),
        }
    }

    fn advance(&self, secs: u64) {
        self.now.set(self.now.get() + Duration::from_secs(secs));
    }

    fn now_s(&self) -> i64 {
        self.now.get().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
    }

    /// Serves an EKS-style issuer: discovery and `/keys` with these keys.
    fn serve_issuer(&self, keys: &[&SigningKey], cache_control: Option<&str>) {
        let discovery = OidcDiscovery::for_issuer(ISSUER);
        let jwks = Jwks {
            keys: keys.iter().map(|k| k.jwk()).collect(),
        };
        let mut routes = self.routes.borrow_mut();
        routes.insert(
            OidcDiscovery::url_for_issuer(ISSUER),
            Canned {
                status: StatusCode::OK,
                headers: vec![],
                body: serde_json::to_vec(&discovery).unwrap(),
            },
        );
        let headers = cache_control
            .map(|c| vec![("cache-control", c.to_owned())])
            .unwrap_or_default();
        routes.insert(
            discovery.jwks_uri.clone(),
            Canned {
                status: StatusCode::OK,
                headers,
                body: serde_json::to_vec(&jwks).unwrap(),
            },
        );
    }

    fn jwks_fetches(&self) -> usize {
        self.fetches
            .borrow()
            .iter()
            .filter(|u| u.ends_with("/keys"))
            .count()
    }
}

/// Polls a future that never waits (the fake env answers immediately).
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the fake environment never pends"),
    }
}

// ----------------------------------------------------------------------------------------------
// World setup and request helpers.

struct World {
    sts: StsService,
    env: FakeEnv,
    provider_arn: String,
}

fn trust_policy(sub_condition: &str) -> String {
    format!(
        r#"{{
  "Version": "2012-10-17",
  "Statement": [{{
    "Effect": "Allow",
    "Principal": {{"Federated": "arn:aws:iam::{ACCT}:oidc-provider/{HOST_PATH}"}},
    "Action": "sts:AssumeRoleWithWebIdentity",
    "Condition": {{
      "StringEquals": {{"{HOST_PATH}:aud": "sts.amazonaws.com"}},
      {sub_condition}
    }}
  }}]
}}"#
    )
}

fn world_with(config: StsConfig) -> World {
    let sts = StsService::new(config);
    let provider_arn = sts
        .register_oidc_provider(ISSUER, &["sts.amazonaws.com"], &[])
        .unwrap();
    sts.create_role(
        "checkout",
        &trust_policy(&format!(r#""StringLike": {{"{HOST_PATH}:sub": "{SUB}"}}"#)),
        3600,
    )
    .unwrap();
    sts.create_role(
        "payments-any",
        &trust_policy(&format!(
            r#""StringLike": {{"{HOST_PATH}:sub": "system:serviceaccount:payments:*"}}"#
        )),
        43200,
    )
    .unwrap();
    let env = FakeEnv::new(99);
    env.serve_issuer(&[key_a()], None);
    World {
        sts,
        env,
        provider_arn,
    }
}

fn world() -> World {
    world_with(StsConfig::default())
}

fn claims_at(now_s: i64) -> ServiceAccountTokenClaims {
    ServiceAccountTokenClaims {
        aud: vec!["sts.amazonaws.com".into()],
        exp: now_s + 86400,
        iat: now_s,
        iss: ISSUER.into(),
        jti: Some("6b1a7d4e-0000-4000-8000-000000000001".into()),
        kubernetes: KubernetesClaims {
            namespace: "payments".into(),
            node: Some(ObjectRef {
                name: "ip-10-0-1-1.ec2.internal".into(),
                uid: "node-uid".into(),
            }),
            pod: Some(ObjectRef {
                name: "checkout-api-0".into(),
                uid: "pod-uid".into(),
            }),
            serviceaccount: ObjectRef {
                name: "checkout-api".into(),
                uid: "sa-uid".into(),
            },
            warnafter: None,
        },
        nbf: now_s,
        sub: SUB.into(),
    }
}

fn token(w: &World) -> String {
    key_a().sign(&claims_at(w.env.now_s()))
}

fn form(pairs: &[(&str, &str)]) -> Request<Bytes> {
    Request::post("/")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Bytes::from(serde_urlencoded::to_string(pairs).unwrap()))
        .unwrap()
}

fn awrwi(token: &str, extra: &[(&str, &str)]) -> Request<Bytes> {
    let mut pairs = vec![
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", ROLE_ARN),
        ("RoleSessionName", "web-identity-token-1800000000000"),
        ("WebIdentityToken", token),
    ];
    for (k, v) in extra {
        pairs.retain(|(pk, _)| pk != k);
        pairs.push((k, v));
    }
    form(&pairs)
}

fn call(w: &World, req: Request<Bytes>) -> Response<Bytes> {
    block_on(w.sts.handle(req, &w.env))
}

fn body(resp: &Response<Bytes>) -> String {
    String::from_utf8(resp.body().to_vec()).unwrap()
}

/// Flattens XML into `(path, text)` pairs, e.g. `("ErrorResponse/Error/Code", "AccessDenied")`,
/// plus the order of the root's children.
fn xml(body: &str) -> (BTreeMap<String, String>, Vec<String>) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(body);
    let mut path: Vec<String> = Vec::new();
    let mut out = BTreeMap::new();
    let mut root_children = Vec::new();
    let mut text = String::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) => {
                let name = e.local_name().as_ref().to_owned();
                if path.len() == 1 {
                    root_children.push(name.clone());
                }
                path.push(name);
                text.clear();
            }
            Event::Text(t) => text.push_str(&t),
            Event::GeneralRef(r) => text.push(match &*r {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                other => panic!("unexpected entity {other}"),
            }),
            Event::End(_) => {
                out.insert(path.join("/"), text.trim().to_owned());
                path.pop();
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    (out, root_children)
}

/// `(status, code, message)` of an error response, checking its shape.
fn error_of(resp: &Response<Bytes>) -> (StatusCode, String, String) {
    assert_eq!(resp.headers()["content-type"], "text/xml");
    assert!(resp.headers().contains_key("x-amzn-requestid"));
    let (x, children) = xml(&body(resp));
    assert_eq!(children, ["Error", "RequestId"], "ErrorResponse layout");
    let ty = &x["ErrorResponse/Error/Type"];
    assert_eq!(
        ty,
        if resp.status().is_client_error() {
            "Sender"
        } else {
            "Receiver"
        }
    );
    (
        resp.status(),
        x["ErrorResponse/Error/Code"].clone(),
        x["ErrorResponse/Error/Message"].clone(),
    )
}

fn assert_error(resp: &Response<Bytes>, status: StatusCode, code: &str) -> String {
    let (s, c, m) = error_of(resp);
    assert_eq!((s, c.as_str()), (status, code), "message: {m}");
    m
}

// ----------------------------------------------------------------------------------------------
// Success.

#[test]
fn success_returns_credentials_in_the_real_xml_shape() {
    let w = world();
    let resp = call(&w, awrwi(&token(&w), &[]));
    assert_eq!(resp.status(), StatusCode::OK, "{}", body(&resp));
    assert_eq!(resp.headers()["content-type"], "text/xml");
    assert_eq!(resp.headers()["date"], "Fri, 15 Jan 2027 08:00:00 GMT");
    let request_id = resp.headers()["x-amzn-requestid"]
        .to_str()
        .unwrap()
        .to_owned();
    let (x, children) = xml(&body(&resp));
    assert_eq!(
        children,
        ["AssumeRoleWithWebIdentityResult", "ResponseMetadata"],
        "Result must come first"
    );
    let r = |p: &str| {
        x[&format!("AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult/{p}")].clone()
    };
    let akid = r("Credentials/AccessKeyId");
    assert!(akid.starts_with("ASIA") && akid.len() == 20, "{akid}");
    assert_eq!(r("Credentials/SecretAccessKey").len(), 40);
    assert!(r("Credentials/SessionToken").len() > 100);
    assert_eq!(
        r("Credentials/Expiration"),
        "2027-01-15T09:00:00Z",
        "default DurationSeconds is 3600"
    );
    assert_eq!(r("SubjectFromWebIdentityToken"), SUB);
    assert_eq!(r("Audience"), "sts.amazonaws.com");
    assert_eq!(r("Provider"), w.provider_arn);
    assert_eq!(
        r("AssumedRoleUser/Arn"),
        "arn:aws:sts::111122223333:assumed-role/checkout/web-identity-token-1800000000000"
    );
    let role = w.sts.role("checkout").unwrap();
    assert_eq!(
        r("AssumedRoleUser/AssumedRoleId"),
        format!("{}:web-identity-token-1800000000000", role.role_id)
    );
    assert_eq!(
        x["AssumeRoleWithWebIdentityResponse/ResponseMetadata/RequestId"],
        request_id
    );

    // One trace event, without the token or any secret.
    let events = w.env.events.borrow();
    let (_, fields) = events.iter().find(|(k, _)| k == "sts.request").unwrap();
    let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("outcome").as_deref(), Some("ok"));
    assert_eq!(get("subject").as_deref(), Some(SUB));
    assert_eq!(get("role_arn").as_deref(), Some(ROLE_ARN));
    let secrets = [
        token(&w),
        r("Credentials/SecretAccessKey"),
        r("Credentials/SessionToken"),
    ];
    for (kind, fields) in events.iter() {
        for (name, value) in fields {
            for s in &secrets {
                assert!(!value.contains(s.as_str()), "{kind}.{name} leaks a secret");
            }
        }
    }
}

#[test]
fn form_body_in_any_order_with_charset_and_plus_encoding() {
    let w = world();
    let t = token(&w);
    let raw = format!(
        "WebIdentityToken={t}&RoleSessionName=my+session&Version=2011-06-15&RoleArn={}&Action=AssumeRoleWithWebIdentity",
        ROLE_ARN.replace(':', "%3A").replace('/', "%2F")
    );
    let req = Request::post("/")
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(Bytes::from(raw))
        .unwrap();
    let resp = call(&w, req);
    // "my session" contains a space: the regex rejects it, proving `+` was decoded to a space.
    let m = assert_error(&resp, StatusCode::BAD_REQUEST, "ValidationError");
    assert!(m.contains("Value 'my session' at 'roleSessionName'"), "{m}");
    let resp = call(&w, awrwi(&t, &[("RoleSessionName", "my%20session")]));
    assert_error(&resp, StatusCode::BAD_REQUEST, "ValidationError");
}

#[test]
fn duration_seconds_sets_expiration_and_is_bounded_by_the_role() {
    let w = world();
    let resp = call(&w, awrwi(&token(&w), &[("DurationSeconds", "1800")]));
    let (x, _) = xml(&body(&resp));
    assert_eq!(
        x["AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult/Credentials/Expiration"],
        "2027-01-15T08:30:00Z"
    );
    let m = assert_error(
        &call(&w, awrwi(&token(&w), &[("DurationSeconds", "7200")])),
        StatusCode::BAD_REQUEST,
        "ValidationError",
    );
    assert_eq!(
        m,
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
    );
    // A role with a 12 h maximum accepts 43200.
    let resp = call(
        &w,
        awrwi(
            &token(&w),
            &[
                ("DurationSeconds", "43200"),
                ("RoleArn", "arn:aws:iam::111122223333:role/payments-any"),
            ],
        ),
    );
    assert_eq!(resp.status(), StatusCode::OK, "{}", body(&resp));
}

#[test]
fn get_caller_identity_resolves_the_session() {
    let w = world();
    let resp = call(&w, awrwi(&token(&w), &[]));
    let (x, _) = xml(&body(&resp));
    let r = |p: &str| {
        x[&format!("AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult/{p}")].clone()
    };
    let gci = |akid: &str, session_token: Option<&str>| {
        let mut b = Request::post("/")
            .header("content-type", "application/x-www-form-urlencoded")
            .header(
                "authorization",
                format!("AWS4-HMAC-SHA256 Credential={akid}/20270115/us-west-2/sts/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=00"),
            );
        if let Some(t) = session_token {
            b = b.header("x-amz-security-token", t);
        }
        b.body(Bytes::from_static(
            b"Action=GetCallerIdentity&Version=2011-06-15",
        ))
        .unwrap()
    };
    let akid = r("Credentials/AccessKeyId");
    let session_token = r("Credentials/SessionToken");

    let ok = call(&w, gci(&akid, Some(&session_token)));
    assert_eq!(ok.status(), StatusCode::OK, "{}", body(&ok));
    let (g, children) = xml(&body(&ok));
    assert_eq!(children, ["GetCallerIdentityResult", "ResponseMetadata"]);
    let res =
        |p: &str| g[&format!("GetCallerIdentityResponse/GetCallerIdentityResult/{p}")].clone();
    assert_eq!(res("Arn"), r("AssumedRoleUser/Arn"));
    assert_eq!(res("UserId"), r("AssumedRoleUser/AssumedRoleId"));
    assert_eq!(res("Account"), ACCT);

    assert_error(
        &call(&w, gci("ASIAUNKNOWNUNKNOWN00", Some(&session_token))),
        StatusCode::FORBIDDEN,
        "InvalidClientTokenId",
    );
    assert_error(
        &call(&w, gci(&akid, Some("wrong"))),
        StatusCode::FORBIDDEN,
        "InvalidClientTokenId",
    );
    let unsigned = form(&[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")]);
    assert_error(
        &call(&w, unsigned),
        StatusCode::FORBIDDEN,
        "MissingAuthenticationToken",
    );
    w.env.advance(3600);
    let m = assert_error(
        &call(&w, gci(&akid, Some(&session_token))),
        StatusCode::FORBIDDEN,
        "ExpiredToken",
    );
    assert_eq!(m, "The security token included in the request is expired");
}

// ----------------------------------------------------------------------------------------------
// One test per STS negative.

#[test]
fn bad_signature_is_invalid_identity_token() {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let w = world();
    let t = token(&w);
    // Forge: keep header and signature, swap the subject.
    let parts: Vec<&str> = t.split('.').collect();
    let mut payload: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    payload["sub"] = "system:serviceaccount:kube-system:cluster-admin".into();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).unwrap()),
        parts[2]
    );
    assert_error(
        &call(&w, awrwi(&forged, &[])),
        StatusCode::BAD_REQUEST,
        "InvalidIdentityToken",
    );
    // Signed by another key that claims key A's kid: header of A, payload and signature of B.
    let tb = key_b().sign(&claims_at(w.env.now_s()));
    let pb: Vec<&str> = tb.split('.').collect();
    let spliced = format!("{}.{}.{}", parts[0], pb[1], pb[2]);
    assert_error(
        &call(&w, awrwi(&spliced, &[])),
        StatusCode::BAD_REQUEST,
        "InvalidIdentityToken",
    );
}

#[test]
fn unknown_kid_fails_even_after_one_refetch() {
    let w = world();
    // Warm the cache with key A.
    assert_eq!(call(&w, awrwi(&token(&w), &[])).status(), StatusCode::OK);
    assert_eq!(w.env.jwks_fetches(), 1);
    let tb = key_b().sign(&claims_at(w.env.now_s()));
    let m = assert_error(
        &call(&w, awrwi(&tb, &[])),
        StatusCode::BAD_REQUEST,
        "InvalidIdentityToken",
    );
    assert!(m.starts_with("Couldn't retrieve verification key"), "{m}");
    assert_eq!(
        w.env.jwks_fetches(),
        2,
        "exactly one refetch on the unknown kid"
    );
}

#[test]
fn wrong_audience_is_invalid_identity_token() {
    let w = world();
    let mut c = claims_at(w.env.now_s());
    c.aud = vec!["pods.eks.amazonaws.com".into()];
    let m = assert_error(
        &call(&w, awrwi(&key_a().sign(&c), &[])),
        StatusCode::BAD_REQUEST,
        "InvalidIdentityToken",
    );
    assert_eq!(m, "Incorrect token audience");
    // Several audiences: one matching client id is enough.
    c.aud = vec!["pods.eks.amazonaws.com".into(), "sts.amazonaws.com".into()];
    assert_eq!(
        call(&w, awrwi(&key_a().sign(&c), &[])).status(),
        StatusCode::OK
    );
    // No aud at all.
    let mut v = serde_json::to_value(claims_at(w.env.now_s())).unwrap();
    v.as_object_mut().unwrap().remove("aud");
    let m = assert_error(
        &call(&w, awrwi(&key_a().sign(&v), &[])),
        StatusCode::BAD_REQUEST,
        "InvalidIdentityToken",
    );
    assert_eq!(m, "Missing a required claim: aud");
}

#[test]
fn wrong_issuer_is_invalid_identity_token() {
    let w = world();
    let mut c = claims_at(w.env.now_s());
    c.iss = "https://oidc.eks.us-east-1.amazonaws.com/id/0000000000000000000000000000000A".into();
    let m = assert_error(
        &call(&w, awrwi(&key_a().sign(&c), &[])),
        StatusCode::BAD_REQUEST,
        "InvalidIdentityToken",
    );
    assert_eq!(
        m,
        format!(
            "No OpenIDConnect provider found in your account for {}",
            c.iss
        )
    );
    // Not normalised: a trailing slash is a different issuer.
    c.iss = format!("{ISSUER}/");
    assert_error(
        &call(&w, awrwi(&key_a().sign(&c), &[])),
        StatusCode::BAD_REQUEST,
        "InvalidIdentityToken",
    );
    assert_eq!(
        w.env.jwks_fetches(),
        0,
        "no IdP traffic for an unregistered issuer"
    );
}

#[test]
fn expired_token_is_expired_token_exception() {
    let w = world();
    let t = token(&w);
    w.env.advance(86400);
    let m = assert_error(
        &call(&w, awrwi(&t, &[])),
        StatusCode::BAD_REQUEST,
        "ExpiredTokenException",
    );
    let now = w.env.now_s();
    assert_eq!(
        m,
        format!(
            "Token expired: current date/time {now} must be before the expiration date/time{now}"
        )
    );
    // One second earlier it was still valid.
    let w = world();
    let t = token(&w);
    w.env.advance(86399);
    assert_eq!(call(&w, awrwi(&t, &[])).status(), StatusCode::OK);
}

#[test]
fn leeway_and_token_age_are_configurable() {
    let config = StsConfig {
        leeway_s: 60,
        token_age_s_max: Some(3600),
        ..StsConfig::default()
    };
    let w = world_with(config);
    // Issued 30 s in the future (API server clock ahead): accepted within the leeway.
    let mut c = claims_at(w.env.now_s() + 30);
    assert_eq!(
        call(&w, awrwi(&key_a().sign(&c), &[])).status(),
        StatusCode::OK
    );
    c = claims_at(w.env.now_s() + 120);
    assert_error(
        &call(&w, awrwi(&key_a().sign(&c), &[])),
        StatusCode::BAD_REQUEST,
        "InvalidIdentityToken",
    );
    // Older than token_age_s_max (+ leeway): Token too old.
    let t = token(&w);
    w.env.advance(3600 + 61);
    let m = assert_error(
        &call(&w, awrwi(&t, &[])),
        StatusCode::BAD_REQUEST,
        "ExpiredTokenException",
    );
    assert_eq!(m, "Token too old: 3661");
}

#[test]
fn subject_not_allowed_by_trust_policy_is_access_denied() {
    let w = world();
    let mut c = claims_at(w.env.now_s());
    c.sub = "system:serviceaccount:payments:other".into();
    let m = assert_error(
        &call(&w, awrwi(&key_a().sign(&c), &[])),
        StatusCode::FORBIDDEN,
        "AccessDenied",
    );
    assert_eq!(m, "Not authorized to perform sts:AssumeRoleWithWebIdentity");
    // The namespace-wide role takes it.
    let resp = call(
        &w,
        awrwi(
            &key_a().sign(&c),
            &[("RoleArn", "arn:aws:iam::111122223333:role/payments-any")],
        ),
    );
    assert_eq!(resp.status(), StatusCode::OK);
    // A role that does not exist looks the same as a refusal.
    let resp = call(
        &w,
        awrwi(
            &token(&w),
            &[("RoleArn", "arn:aws:iam::111122223333:role/nope")],
        ),
    );
    assert_error(&resp, StatusCode::FORBIDDEN, "AccessDenied");
    let resp = call(
        &w,
        awrwi(
            &token(&w),
            &[("RoleArn", "arn:aws:iam::444455556666:role/checkout")],
        ),
    );
    assert_error(&resp, StatusCode::FORBIDDEN, "AccessDenied");
}

#[test]
fn issuer_unreachable_is_invalid_identity_token_by_default() {
    let w = world();
    *w.env.fail_with.borrow_mut() = Some(FetchError::Timeout);
    let m = assert_error(
        &call(&w, awrwi(&token(&w), &[])),
        StatusCode::BAD_REQUEST,
        "InvalidIdentityToken",
    );
    assert_eq!(
        m,
        "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements"
    );
    // An IdP answering 503 is an outage too.
    *w.env.fail_with.borrow_mut() = None;
    w.env
        .routes
        .borrow_mut()
        .get_mut(&format!("{ISSUER}/keys"))
        .unwrap()
        .status = StatusCode::SERVICE_UNAVAILABLE;
    assert_error(
        &call(&w, awrwi(&token(&w), &[])),
        StatusCode::BAD_REQUEST,
        "InvalidIdentityToken",
    );
}

#[test]
fn issuer_unreachable_can_be_idp_communication_error() {
    let config = StsConfig {
        idp_outage_error: IdpOutageError::IdpCommunicationError,
        ..StsConfig::default()
    };
    let w = world_with(config);
    *w.env.fail_with.borrow_mut() = Some(FetchError::Connect("connection refused".into()));
    assert_error(
        &call(&w, awrwi(&token(&w), &[])),
        StatusCode::BAD_REQUEST,
        "IDPCommunicationError",
    );
}

#[test]
fn validation_error_for_bad_role_session_name() {
    let w = world();
    let m = assert_error(
        &call(&w, awrwi(&token(&w), &[("RoleSessionName", "a:b")])),
        StatusCode::BAD_REQUEST,
        "ValidationError",
    );
    assert_eq!(
        m,
        r"1 validation error detected: Value 'a:b' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*"
    );
    let long = "x".repeat(65);
    let m = assert_error(
        &call(&w, awrwi(&token(&w), &[("RoleSessionName", &long)])),
        StatusCode::BAD_REQUEST,
        "ValidationError",
    );
    assert_eq!(
        m,
        format!(
            "1 validation error detected: Value '{long}' at 'roleSessionName' failed to satisfy constraint: Member must have length less than or equal to 64"
        )
    );
    // Missing required members, all reported at once; the token is never echoed.
    let m = assert_error(
        &call(
            &w,
            form(&[
                ("Action", "AssumeRoleWithWebIdentity"),
                ("Version", "2011-06-15"),
                ("WebIdentityToken", "abc"),
            ]),
        ),
        StatusCode::BAD_REQUEST,
        "ValidationError",
    );
    assert_eq!(
        m,
        "3 validation errors detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null; \
         Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null; \
         Value at 'webIdentityToken' failed to satisfy constraint: Member must have length greater than or equal to 4"
    );
}

#[test]
fn validation_error_for_duration_seconds_out_of_bounds() {
    let w = world();
    let m = assert_error(
        &call(&w, awrwi(&token(&w), &[("DurationSeconds", "899")])),
        StatusCode::BAD_REQUEST,
        "ValidationError",
    );
    assert_eq!(
        m,
        "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"
    );
    let m = assert_error(
        &call(&w, awrwi(&token(&w), &[("DurationSeconds", "43201")])),
        StatusCode::BAD_REQUEST,
        "ValidationError",
    );
    assert!(
        m.ends_with("Member must have value less than or equal to 43200"),
        "{m}"
    );
    assert_error(
        &call(&w, awrwi(&token(&w), &[("DurationSeconds", "soon")])),
        StatusCode::BAD_REQUEST,
        "ValidationError",
    );
}

#[test]
fn unknown_action_and_missing_version_are_invalid_action() {
    let w = world();
    let m = assert_error(
        &call(
            &w,
            form(&[("Action", "AssumeRoot"), ("Version", "2011-06-15")]),
        ),
        StatusCode::BAD_REQUEST,
        "InvalidAction",
    );
    assert_eq!(
        m,
        "Could not find operation AssumeRoot for version 2011-06-15"
    );
    let m = assert_error(
        &call(&w, form(&[("Action", "GetCallerIdentity")])),
        StatusCode::BAD_REQUEST,
        "InvalidAction",
    );
    assert_eq!(
        m,
        "Could not find operation GetCallerIdentity for version NO_VERSION_SPECIFIED"
    );
    assert_error(
        &call(&w, form(&[])),
        StatusCode::BAD_REQUEST,
        "MissingAction",
    );
}

// ----------------------------------------------------------------------------------------------
// JWKS caching and rotation.

#[test]
fn jwks_rotation_is_picked_up_by_refetch_on_unknown_kid() {
    let w = world();
    assert_eq!(call(&w, awrwi(&token(&w), &[])).status(), StatusCode::OK);
    // EKS rotates: publishes B next to A and starts signing with B.
    w.env.serve_issuer(&[key_a(), key_b()], None);
    w.env.advance(60);
    let tb = key_b().sign(&claims_at(w.env.now_s()));
    let resp = call(&w, awrwi(&tb, &[]));
    assert_eq!(resp.status(), StatusCode::OK, "{}", body(&resp));
    assert_eq!(w.env.jwks_fetches(), 2);
    // Both keys now come from the cache.
    assert_eq!(call(&w, awrwi(&token(&w), &[])).status(), StatusCode::OK);
    assert_eq!(w.env.jwks_fetches(), 2);
}

#[test]
fn jwks_cache_follows_cache_control() {
    let w = world();
    w.env.serve_issuer(&[key_a()], Some("public, max-age=600"));
    let t = token(&w);
    for _ in 0..3 {
        assert_eq!(call(&w, awrwi(&t, &[])).status(), StatusCode::OK);
    }
    assert_eq!(w.env.jwks_fetches(), 1, "cached for max-age");
    assert_eq!(
        w.sts.jwt_verify_memo_stats(),
        (2, 1),
        "the same token is verified once"
    );
    w.env.advance(600);
    assert_eq!(call(&w, awrwi(&t, &[])).status(), StatusCode::OK);
    assert_eq!(w.env.jwks_fetches(), 2, "refetched after max-age");

    let w = world();
    w.env.serve_issuer(&[key_a()], Some("no-cache"));
    for _ in 0..2 {
        assert_eq!(call(&w, awrwi(&token(&w), &[])).status(), StatusCode::OK);
    }
    assert_eq!(
        w.env.jwks_fetches(),
        2,
        "no-cache means every call refetches"
    );
}

#[test]
fn stale_jwks_is_served_only_when_configured() {
    for serve_stale in [false, true] {
        let config = StsConfig {
            jwks_serve_stale_on_error: serve_stale,
            ..StsConfig::default()
        };
        let w = world_with(config);
        assert_eq!(call(&w, awrwi(&token(&w), &[])).status(), StatusCode::OK);
        w.env.advance(3600);
        *w.env.fail_with.borrow_mut() = Some(FetchError::Timeout);
        let resp = call(&w, awrwi(&token(&w), &[]));
        if serve_stale {
            assert_eq!(resp.status(), StatusCode::OK);
        } else {
            assert_error(&resp, StatusCode::BAD_REQUEST, "InvalidIdentityToken");
        }
    }
}

// ----------------------------------------------------------------------------------------------
// Robustness and determinism.

#[test]
fn malformed_tokens_and_bodies_never_panic() {
    let w = world();
    let good = token(&w);
    let mut inputs: Vec<String> = vec![
        "abcd".into(),
        "a.b.c".into(),
        "...".into(),
        "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.".into(),
        "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.c2ln".into(),
        good[..good.len() / 2].to_owned(),
        format!("{good}.extra"),
        good.replace('.', ""),
    ];
    // Non-integer exp, alg none with a real issuer, HS256.
    {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let enc = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap());
        let now = w.env.now_s();
        let payload = serde_json::json!({"iss": ISSUER, "aud": "sts.amazonaws.com", "sub": SUB, "exp": (now + 60) as f64 + 0.5});
        inputs.push(format!(
            "{}.{}.c2ln",
            enc(serde_json::json!({"alg": "RS256", "kid": key_a().kid()})),
            enc(payload.clone())
        ));
        inputs.push(format!(
            "{}.{}.c2ln",
            enc(serde_json::json!({"alg": "none"})),
            enc(payload.clone())
        ));
        inputs.push(format!(
            "{}.{}.c2ln",
            enc(serde_json::json!({"alg": "HS256", "kid": key_a().kid()})),
            enc(payload)
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for _ in 0..200 {
        let len = 4 + (rng.next_u32() % 300) as usize;
        let mut bytes = good.as_bytes().to_vec();
        for _ in 0..(1 + rng.next_u32() % 5) {
            let i = (rng.next_u32() as usize) % bytes.len();
            bytes[i] = b"A-_.=x{}\"%"[(rng.next_u32() % 10) as usize];
        }
        bytes.truncate(len.max(bytes.len() / 2));
        if bytes == good.as_bytes() {
            continue; // every mutation happened to be a no-op
        }
        inputs.push(String::from_utf8_lossy(&bytes).into_owned());
    }
    for t in &inputs {
        let resp = call(&w, awrwi(t, &[]));
        assert!(
            resp.status() == StatusCode::BAD_REQUEST,
            "{t}: {}",
            body(&resp)
        );
        let (_, code, _) = error_of(&resp);
        assert!(
            ["InvalidIdentityToken", "ValidationError"].contains(&code.as_str()),
            "{t}: {code}"
        );
    }
    // Garbage bodies.
    for _ in 0..50 {
        let mut raw = vec![0u8; (rng.next_u32() % 200) as usize];
        rng.fill_bytes(&mut raw);
        let req = Request::post("/").body(Bytes::from(raw)).unwrap();
        let resp = call(&w, req);
        assert!(resp.status().is_client_error());
        error_of(&resp);
    }
}

#[test]
fn same_seed_same_bytes() {
    let run = || {
        let w = world();
        let t = token(&w);
        let mut out = Vec::new();
        for extra in [
            &[][..],
            &[("RoleSessionName", "a:b")][..],
            &[("DurationSeconds", "1800")][..],
        ] {
            let resp = call(&w, awrwi(&t, extra));
            out.push((resp.status(), resp.headers().clone(), resp.body().clone()));
        }
        out
    };
    assert_eq!(run(), run());
}

#[test]
fn registry_enforces_iam_rules() {
    let sts = StsService::new(StsConfig::default());
    assert!(matches!(
        sts.register_oidc_provider("http://insecure", &["sts.amazonaws.com"], &[]),
        Err(RegistryError::InvalidInput(_))
    ));
    let arn = sts
        .register_oidc_provider(
            ISSUER,
            &["sts.amazonaws.com"],
            &["9e99a48a9960b14926bb7f3b02e22da2b0ab7280"],
        )
        .unwrap();
    assert_eq!(
        arn,
        format!("arn:aws:iam::{ACCT}:oidc-provider/{HOST_PATH}")
    );
    assert!(matches!(
        sts.register_oidc_provider(ISSUER, &["sts.amazonaws.com"], &[]),
        Err(RegistryError::EntityAlreadyExists(_))
    ));
    // 2048 non-whitespace characters: whitespace is free, content is not.
    let padded = trust_policy(&format!(r#""StringLike": {{"{HOST_PATH}:sub": "{SUB}"}}"#))
        .replace(' ', "     ");
    assert!(sts.create_role("padded", &padded, 3600).is_ok());
    let many: Vec<String> = (0..60)
        .map(|i| format!("\"system:serviceaccount:ns{i}:sa{i}\""))
        .collect();
    let big = trust_policy(&format!(
        r#""StringLike": {{"{HOST_PATH}:sub": [{}]}}"#,
        many.join(",")
    ));
    let err = sts.create_role("big", &big, 3600).unwrap_err();
    assert_eq!(
        err.to_string(),
        "LimitExceeded: Cannot exceed quota for ACLSizePerRole: 2048"
    );
    let err = sts.create_role("broken", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRoleWithWebIdentity"}]}"#, 3600).unwrap_err();
    assert!(
        matches!(&err, RegistryError::MalformedPolicyDocument(e) if e.statement == Some(0) && e.field == "Principal"),
        "{err}"
    );
    // Two StringEquals blocks: a last-wins reader would drop the :aud condition.
    let dup = trust_policy(&format!(
        r#""StringEquals": {{"{HOST_PATH}:sub": "{SUB}"}}"#
    ));
    let err = sts.create_role("dup", &dup, 3600).unwrap_err();
    assert!(
        matches!(&err, RegistryError::MalformedPolicyDocument(e) if e.field == "Condition"),
        "{err}"
    );
    assert!(matches!(
        sts.create_role("PADDED", &padded, 3600),
        Err(RegistryError::EntityAlreadyExists(_))
    ));
    assert!(matches!(
        sts.create_role("long", &padded, 43201),
        Err(RegistryError::InvalidInput(_))
    ));
}

// ----------------------------------------------------------------------------------------------
// Trace contract and planted bugs.

/// The fields of every `credentials.issued` event.
fn issued(w: &World) -> Vec<BTreeMap<String, String>> {
    w.env
        .events
        .borrow()
        .iter()
        .filter(|(k, _)| k == "credentials.issued")
        .map(|(_, f)| f.iter().cloned().collect())
        .collect()
}

#[test]
fn credentials_issued_carries_the_token_fields() {
    let w = world();
    let c = claims_at(w.env.now_s());
    let resp = call(&w, awrwi(&key_a().sign(&c), &[]));
    assert_eq!(resp.status(), StatusCode::OK);
    let events = issued(&w);
    assert_eq!(events.len(), 1);
    let f = &events[0];
    assert_eq!(f["api"], "AssumeRoleWithWebIdentity");
    assert!(f["access_key_id"].starts_with("ASIA"));
    assert!(body(&resp).contains(&f["access_key_id"]));
    assert_eq!(f["role_arn"], ROLE_ARN);
    assert_eq!(f["expiration_s"], (T0 + 3600).to_string(), "DurationSeconds defaults to 1 h");
    assert_eq!(f["tags"], "");
    assert_eq!(f["token_iss"], ISSUER);
    assert_eq!(f["token_aud"], "sts.amazonaws.com");
    assert_eq!(f["token_exp_s"], c.exp.to_string());
    assert_eq!(f["token_sub"], SUB);
    assert_eq!(f["allowed_aud"], "sts.amazonaws.com");
    // A failed call issues nothing.
    let mut bad = claims_at(w.env.now_s());
    bad.aud = vec!["pods.eks.amazonaws.com".into()];
    assert_eq!(call(&w, awrwi(&key_a().sign(&bad), &[])).status(), StatusCode::BAD_REQUEST);
    assert_eq!(issued(&w).len(), 1);
}

#[test]
fn bug_sts_skips_aud_issues_for_a_wrong_audience() {
    for bug_on in [false, true] {
        let bugs: &[credsim::bugs::Bug] = if bug_on { &[credsim::bugs::Bug::StsSkipsAud] } else { &[] };
        credsim::runtime::install_controls(bugs);
        let w = world();
        // A role whose trust policy checks only the subject, as many hand-written ones do.
        let only_sub = format!(
            r#"{{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow",
              "Principal": {{"Federated": "arn:aws:iam::{ACCT}:oidc-provider/{HOST_PATH}"}},
              "Action": "sts:AssumeRoleWithWebIdentity",
              "Condition": {{"StringEquals": {{"{HOST_PATH}:sub": "{SUB}"}}}}}}]}}"#
        );
        w.sts.create_role("sub-only", &only_sub, 3600).unwrap();
        let mut c = claims_at(w.env.now_s());
        c.aud = vec!["pods.eks.amazonaws.com".into()];
        let req = awrwi(&key_a().sign(&c), &[("RoleArn", "arn:aws:iam::111122223333:role/sub-only")]);
        let resp = call(&w, req);
        if bug_on {
            assert_eq!(resp.status(), StatusCode::OK, "{}", body(&resp));
            let f = &issued(&w)[0];
            assert_eq!((f["token_aud"].as_str(), f["allowed_aud"].as_str()), ("pods.eks.amazonaws.com", "sts.amazonaws.com"));
        } else {
            let m = assert_error(&resp, StatusCode::BAD_REQUEST, "InvalidIdentityToken");
            assert_eq!(m, "Incorrect token audience");
            assert!(issued(&w).is_empty());
        }
    }
    credsim::runtime::install_controls(&[]);
}

#[test]
fn bug_jwks_no_refetch_refuses_a_rotated_key_until_the_cache_expires() {
    for bug_on in [false, true] {
        let bugs: &[credsim::bugs::Bug] = if bug_on { &[credsim::bugs::Bug::JwksNoRefetch] } else { &[] };
        credsim::runtime::install_controls(bugs);
        let w = world();
        // Warm the cache with key A, then the issuer rotates in key B.
        assert_eq!(call(&w, awrwi(&token(&w), &[])).status(), StatusCode::OK);
        w.env.serve_issuer(&[key_a(), key_b()], None);
        w.env.advance(60);
        let tb = key_b().sign(&claims_at(w.env.now_s()));
        let resp = call(&w, awrwi(&tb, &[]));
        if bug_on {
            assert_error(&resp, StatusCode::BAD_REQUEST, "InvalidIdentityToken");
            assert_eq!(w.env.jwks_fetches(), 1, "no refetch on the unknown kid");
            // The cache TTL (3600 s by default) still expires and refetches.
            w.env.advance(3600);
            let tb = key_b().sign(&claims_at(w.env.now_s()));
            assert_eq!(call(&w, awrwi(&tb, &[])).status(), StatusCode::OK);
            assert_eq!(w.env.jwks_fetches(), 2);
        } else {
            assert_eq!(resp.status(), StatusCode::OK, "{}", body(&resp));
            assert_eq!(w.env.jwks_fetches(), 2, "one refetch on the unknown kid");
        }
    }
    credsim::runtime::install_controls(&[]);
}
