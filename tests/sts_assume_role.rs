//! `AssumeRole` through the STS actor's HTTP interface: service-principal callers (EKS Auth as
//! `pods.eks.amazonaws.com`), session tags and their limits, role chaining with transitive tags,
//! caller authentication, and the simulator-only session lookup resource services use.
//!
//! Every negative asserts the real error code and HTTP status.

use std::cell::{Cell, RefCell, RefMut};
use std::collections::BTreeMap;
use std::future::Future;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use credsim::sts::{FetchFuture, SessionInfo, StsConfig, StsEnv, StsService};
use http::{Request, Response, StatusCode};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

const ACCT: &str = "111122223333";
const EKS_AUTH_KEY: &str = "AKIAEKSAUTHEXAMPLE01";
const POD_ROLE: &str = "arn:aws:iam::111122223333:role/pod-role";
const NO_TAG_ROLE: &str = "arn:aws:iam::111122223333:role/no-tag-session";
const TARGET_ROLE: &str = "arn:aws:iam::111122223333:role/target";
const CLUSTER_ARN: &str = "arn:aws:eks:us-west-2:111122223333:cluster/demo";
/// 2027-01-15T08:00:00Z.
const T0: u64 = 1_800_000_000;

// ----------------------------------------------------------------------------------------------
// Fake host environment: a clock, an RNG and a trace; AssumeRole never fetches.

type Event = (String, Vec<(String, String)>);

struct FakeEnv {
    now: Cell<SystemTime>,
    rng: RefCell<ChaCha8Rng>,
    events: RefCell<Vec<Event>>,
}

impl StsEnv for FakeEnv {
    fn now(&self) -> SystemTime {
        self.now.get()
    }
    fn rng(&self) -> RefMut<'_, ChaCha8Rng> {
        self.rng.borrow_mut()
    }
    fn fetch<'a>(&'a self, url: &'a str, _timeout: Duration) -> FetchFuture<'a> {
        panic!("AssumeRole must not fetch anything ({url})")
    }
    fn record(&self, kind: &str, fields: &[(&str, String)]) {
        self.events.borrow_mut().push((
            kind.to_owned(),
            fields.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
        ));
    }
}

fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the fake environment never pends"),
    }
}

// ----------------------------------------------------------------------------------------------
// World.

struct World {
    sts: StsService,
    env: FakeEnv,
}

const POD_TRUST: &str = r#"{"Version": "2012-10-17", "Statement": [{
  "Effect": "Allow",
  "Principal": {"Service": "pods.eks.amazonaws.com"},
  "Action": ["sts:AssumeRole", "sts:TagSession"],
  "Condition": {"StringEquals": {"aws:SourceAccount": "111122223333"}}
}]}"#;

const NO_TAG_TRUST: &str = r#"{"Version": "2012-10-17", "Statement": [{
  "Effect": "Allow",
  "Principal": {"Service": "pods.eks.amazonaws.com"},
  "Action": "sts:AssumeRole"
}]}"#;

/// The target role of a Pod Identity chain (EKS `pod-id-assign-target-role` example).
const TARGET_TRUST: &str = r#"{"Version": "2012-10-17", "Statement": [{
  "Effect": "Allow",
  "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
  "Action": ["sts:AssumeRole", "sts:TagSession"],
  "Condition": {
    "StringEquals": {"aws:RequestTag/kubernetes-namespace": "payments"},
    "ArnEquals": {"aws:PrincipalARN": "arn:aws:iam::111122223333:role/pod-role"}
  }
}]}"#;

const ASSUME_TARGET_POLICY: &str = r#"{"Version": "2012-10-17", "Statement": [{
  "Effect": "Allow",
  "Action": ["sts:AssumeRole", "sts:TagSession"],
  "Resource": "arn:aws:iam::111122223333:role/target"
}]}"#;

const S3_POLICY: &str = r#"{"Version": "2012-10-17", "Statement": [{
  "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
  "Condition": {"StringEquals": {"s3:ExistingObjectTag/eks-cluster-name": "${aws:PrincipalTag/eks-cluster-name}"}}
}]}"#;

fn world_with(config: StsConfig) -> World {
    let sts = StsService::new(config);
    sts.register_service_identity(EKS_AUTH_KEY, "pods.eks.amazonaws.com");
    sts.create_role("pod-role", POD_TRUST, 3600).unwrap();
    sts.create_role("no-tag-session", NO_TAG_TRUST, 3600).unwrap();
    sts.create_role("target", TARGET_TRUST, 43200).unwrap();
    sts.put_role_policy("pod-role", "assume-target", ASSUME_TARGET_POLICY).unwrap();
    sts.put_role_policy("pod-role", "s3-abac", S3_POLICY).unwrap();
    let env = FakeEnv {
        now: Cell::new(UNIX_EPOCH + Duration::from_secs(T0)),
        rng: RefCell::new(ChaCha8Rng::seed_from_u64(7)),
        events: RefCell::new(Vec::new()),
    };
    World { sts, env }
}

fn world() -> World {
    world_with(StsConfig::default())
}

/// The six Pod Identity session tags.
fn eks_tags() -> Vec<(String, String)> {
    [
        ("eks-cluster-arn", CLUSTER_ARN),
        ("eks-cluster-name", "demo"),
        ("kubernetes-namespace", "payments"),
        ("kubernetes-service-account", "checkout"),
        ("kubernetes-pod-name", "checkout-6d9f-abcde"),
        ("kubernetes-pod-uid", "0b5f3a1e-8c7d-4e2f-9a6b-1c3d5e7f9a0b"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Credentials a request is signed with.
struct Creds {
    akid: String,
    secret: String,
    token: String,
}

fn eks_auth() -> Creds {
    Creds { akid: EKS_AUTH_KEY.into(), secret: "not-verified".into(), token: String::new() }
}

/// An AssumeRole form POST signed with `creds` (SigV4, as an SDK sends it).
fn assume_role(
    creds: &Creds,
    role_arn: &str,
    tags: &[(String, String)],
    transitive: &[&str],
    extra: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Request<Bytes> {
    let mut pairs: Vec<(String, String)> = vec![
        ("Action".into(), "AssumeRole".into()),
        ("Version".into(), "2011-06-15".into()),
        ("RoleArn".into(), role_arn.into()),
        ("RoleSessionName".into(), "eks-demo-checkout-6d9f-abcde-1".into()),
    ];
    for (n, (k, v)) in tags.iter().enumerate() {
        pairs.push((format!("Tags.member.{}.Key", n + 1), k.clone()));
        pairs.push((format!("Tags.member.{}.Value", n + 1), v.clone()));
    }
    for (n, k) in transitive.iter().enumerate() {
        pairs.push((format!("TransitiveTagKeys.member.{}", n + 1), (*k).to_owned()));
    }
    for (k, v) in extra {
        pairs.retain(|(pk, _)| pk != k);
        pairs.push(((*k).to_owned(), (*v).to_owned()));
    }
    let body = serde_urlencoded::to_string(&pairs).unwrap();
    let ct = "application/x-www-form-urlencoded; charset=utf-8";
    let now = UNIX_EPOCH + Duration::from_secs(T0);
    let signed = credsim::sigv4::sign_post(
        &creds.akid, &creds.secret, &creds.token, "us-west-2", "sts",
        "sts.us-west-2.amazonaws.com", "/", ct, body.as_bytes(), now,
    );
    let mut b = Request::post("/")
        .header("content-type", ct)
        .header("authorization", signed.authorization)
        .header("x-amz-date", signed.amz_date);
    if !creds.token.is_empty() {
        b = b.header("x-amz-security-token", &creds.token);
    }
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Bytes::from(body)).unwrap()
}

fn call(w: &World, req: Request<Bytes>) -> Response<Bytes> {
    block_on(w.sts.handle(req, &w.env))
}

fn body(resp: &Response<Bytes>) -> String {
    String::from_utf8(resp.body().to_vec()).unwrap()
}

/// Text of the first element named `name`.
fn xml_text(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(quick_xml::escape::unescape(&xml[start..end]).unwrap().into_owned())
}

fn assert_error(resp: &Response<Bytes>, status: StatusCode, code: &str) -> String {
    let b = body(resp);
    assert_eq!(resp.headers()["content-type"], "text/xml");
    assert_eq!(
        (resp.status(), xml_text(&b, "Code").as_deref()),
        (status, Some(code)),
        "{b}"
    );
    xml_text(&b, "Message").unwrap_or_default()
}

/// Credentials from a successful AssumeRole response, checking its shape.
fn creds_of(resp: &Response<Bytes>) -> Creds {
    let b = body(resp);
    assert_eq!(resp.status(), StatusCode::OK, "{b}");
    assert!(b.starts_with("<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <AssumeRoleResult>"), "{b}");
    Creds {
        akid: xml_text(&b, "AccessKeyId").unwrap(),
        secret: xml_text(&b, "SecretAccessKey").unwrap(),
        token: xml_text(&b, "SessionToken").unwrap(),
    }
}

fn lookup(w: &World, akid: &str) -> (StatusCode, Option<SessionInfo>) {
    let req = Request::get(format!("/credsim-internal/sessions/{akid}")).body(Bytes::new()).unwrap();
    let resp = call(w, req);
    let info = (resp.status() == StatusCode::OK).then(|| serde_json::from_slice(resp.body()).unwrap());
    (resp.status(), info)
}

fn source_headers() -> [(&'static str, &'static str); 2] {
    [("x-credsim-source-account", ACCT), ("x-credsim-source-arn", CLUSTER_ARN)]
}

/// The first hop of Pod Identity: EKS Auth assumes the pod role with the six transitive tags.
fn pod_session(w: &World) -> Creds {
    let tags = eks_tags();
    let keys: Vec<&str> = tags.iter().map(|(k, _)| k.as_str()).collect();
    let req = assume_role(&eks_auth(), POD_ROLE, &tags, &keys, &[("DurationSeconds", "21600")], &source_headers());
    creds_of(&call(w, req))
}

// ----------------------------------------------------------------------------------------------
// Service principal.

#[test]
fn service_principal_with_tag_session_gets_a_tagged_session() {
    let w = world();
    let req = assume_role(&eks_auth(), POD_ROLE, &eks_tags(), &["eks-cluster-arn"], &[("DurationSeconds", "21600")], &source_headers());
    let resp = call(&w, req);
    let b = body(&resp);
    let c = creds_of(&resp);
    assert!(c.akid.starts_with("ASIA") && c.akid.len() == 20);
    let role = w.sts.role("pod-role").unwrap();
    assert_eq!(xml_text(&b, "Arn").unwrap(), "arn:aws:sts::111122223333:assumed-role/pod-role/eks-demo-checkout-6d9f-abcde-1");
    assert_eq!(xml_text(&b, "AssumedRoleId").unwrap(), format!("{}:eks-demo-checkout-6d9f-abcde-1", role.role_id));
    // 6 h although the role's MaxSessionDuration is 1 h: AWS services are not bound by it.
    assert_eq!(xml_text(&b, "Expiration").unwrap(), "2027-01-15T14:00:00Z");
    let packed: u32 = xml_text(&b, "PackedPolicySize").unwrap().parse().unwrap();
    assert!((40..=100).contains(&packed), "{packed}");

    let s = w.sts.session(&c.akid).unwrap();
    assert_eq!(s.session_tags, eks_tags().into_iter().collect::<BTreeMap<_, _>>());
    assert_eq!(s.transitive_tag_keys.iter().collect::<Vec<_>>(), ["eks-cluster-arn"]);
    assert_eq!(s.subject, "pods.eks.amazonaws.com");
    assert!(!s.chained);

    // The trace names the action, caller, role and tag count, and carries no secret.
    let events = w.env.events.borrow();
    let (kind, fields) = events.last().unwrap();
    assert_eq!(kind, "sts.request");
    let f: BTreeMap<_, _> = fields.iter().cloned().collect();
    assert_eq!(f["action"], "AssumeRole");
    assert_eq!(f["outcome"], "ok");
    assert_eq!(f["caller"], "pods.eks.amazonaws.com");
    assert_eq!(f["role_arn"], POD_ROLE);
    assert_eq!(f["tag_count"], "6");
    assert_eq!(f["access_key_id"], c.akid);
    for v in f.values() {
        assert!(!v.contains(&c.secret) && !v.contains(&c.token));
    }
}

#[test]
fn missing_tag_session_denies_a_tagged_call_only() {
    let w = world();
    let resp = call(&w, assume_role(&eks_auth(), NO_TAG_ROLE, &eks_tags(), &[], &[], &[]));
    let m = assert_error(&resp, StatusCode::FORBIDDEN, "AccessDenied");
    assert_eq!(
        m,
        format!("User: pods.eks.amazonaws.com is not authorized to perform: sts:TagSession on resource: {NO_TAG_ROLE}")
    );
    // Without tags, sts:AssumeRole alone is enough.
    creds_of(&call(&w, assume_role(&eks_auth(), NO_TAG_ROLE, &[], &[], &[], &[])));
}

#[test]
fn source_account_condition_uses_the_service_context() {
    let w = world();
    // The pod role's trust requires aws:SourceAccount: without the service context it is denied.
    let resp = call(&w, assume_role(&eks_auth(), POD_ROLE, &eks_tags(), &[], &[], &[]));
    let m = assert_error(&resp, StatusCode::FORBIDDEN, "AccessDenied");
    assert!(m.contains("sts:AssumeRole"), "{m}");
    let wrong = [("x-credsim-source-account", "999999999999")];
    assert_error(&call(&w, assume_role(&eks_auth(), POD_ROLE, &eks_tags(), &[], &[], &wrong)), StatusCode::FORBIDDEN, "AccessDenied");
    creds_of(&call(&w, assume_role(&eks_auth(), POD_ROLE, &eks_tags(), &[], &[], &source_headers())));
}

#[test]
fn request_tag_conditions_scope_the_role() {
    let w = world();
    let trust = r#"{"Version": "2012-10-17", "Statement": [{
      "Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
      "Action": ["sts:AssumeRole", "sts:TagSession"],
      "Condition": {"StringEquals": {"aws:RequestTag/kubernetes-namespace": "payments",
                                     "aws:RequestTag/kubernetes-service-account": "checkout"}}}]}"#;
    w.sts.create_role("scoped", trust, 3600).unwrap();
    let arn = "arn:aws:iam::111122223333:role/scoped";
    creds_of(&call(&w, assume_role(&eks_auth(), arn, &eks_tags(), &[], &[], &[])));
    let mut other = eks_tags();
    other[3].1 = "someone-else".into();
    assert_error(&call(&w, assume_role(&eks_auth(), arn, &other, &[], &[], &[])), StatusCode::FORBIDDEN, "AccessDenied");
}

// ----------------------------------------------------------------------------------------------
// Tag limits.

#[test]
fn fifty_one_tags_are_a_validation_error() {
    let w = world();
    let tags: Vec<(String, String)> = (1..=51).map(|n| (format!("k{n}"), "v".into())).collect();
    let m = assert_error(&call(&w, assume_role(&eks_auth(), POD_ROLE, &tags, &[], &[], &source_headers())), StatusCode::BAD_REQUEST, "ValidationError");
    assert!(m.starts_with("1 validation error detected: "), "{m}");
    assert!(m.ends_with("at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"), "{m}");
}

#[test]
fn long_keys_and_values_are_validation_errors() {
    let w = world();
    let tags = vec![("k".repeat(129), "v".into()), ("ok".into(), "v".repeat(257))];
    let m = assert_error(&call(&w, assume_role(&eks_auth(), POD_ROLE, &tags, &[], &[], &source_headers())), StatusCode::BAD_REQUEST, "ValidationError");
    assert!(m.starts_with("2 validation errors detected: "), "{m}");
    assert!(m.contains("at 'tags.1.member.key' failed to satisfy constraint: Member must have length less than or equal to 128"), "{m}");
    assert!(m.contains("at 'tags.2.member.value' failed to satisfy constraint: Member must have length less than or equal to 256"), "{m}");
    // At the limits it passes (and fits the packed budget only with the check off: 128 + 256).
    let w = world_with(StsConfig { packed_policy_bytes_max: None, ..StsConfig::default() });
    let tags = vec![("k".repeat(128), "v".repeat(256))];
    creds_of(&call(&w, assume_role(&eks_auth(), POD_ROLE, &tags, &[], &[], &source_headers())));
}

#[test]
fn packed_size_over_budget_is_packed_policy_too_large() {
    let w = world();
    let tags: Vec<(String, String)> = (1..=9).map(|n| (format!("T{n}"), "a".repeat(250))).collect();
    let m = assert_error(&call(&w, assume_role(&eks_auth(), POD_ROLE, &tags, &[], &[], &source_headers())), StatusCode::BAD_REQUEST, "PackedPolicyTooLarge");
    assert!(m.starts_with("Packed size of session tags consumes ") && m.ends_with("% of allotted space."), "{m}");
}

#[test]
fn duplicate_keys_and_stray_transitive_keys_are_rejected() {
    let w = world();
    let dup = vec![("team".to_owned(), "a".to_owned()), ("Team".to_owned(), "b".to_owned())];
    assert_error(&call(&w, assume_role(&eks_auth(), POD_ROLE, &dup, &[], &[], &source_headers())), StatusCode::BAD_REQUEST, "InvalidParameterValue");
    assert_error(&call(&w, assume_role(&eks_auth(), POD_ROLE, &eks_tags(), &["nope"], &[], &source_headers())), StatusCode::BAD_REQUEST, "InvalidParameterValue");
}

// ----------------------------------------------------------------------------------------------
// Role chaining.

#[test]
fn role_chaining_caps_at_one_hour_and_carries_transitive_tags() {
    let w = world();
    let pod = pod_session(&w);

    // More than one hour: the chaining error, whatever the target role's 12 h maximum.
    let m = assert_error(&call(&w, assume_role(&pod, TARGET_ROLE, &[], &[], &[("DurationSeconds", "3601")], &[])), StatusCode::BAD_REQUEST, "ValidationError");
    assert_eq!(m, "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.");

    // 59 minutes, no tags passed: the six transitive tags are inherited (and satisfy the target's
    // aws:RequestTag/kubernetes-namespace condition).
    let resp = call(&w, assume_role(&pod, TARGET_ROLE, &[], &[], &[("DurationSeconds", "3540")], &[]));
    let b = body(&resp);
    let target = creds_of(&resp);
    assert_eq!(xml_text(&b, "Expiration").unwrap(), "2027-01-15T08:59:00Z");
    let s = w.sts.session(&target.akid).unwrap();
    assert!(s.chained);
    assert_eq!(s.session_tags, eks_tags().into_iter().collect::<BTreeMap<_, _>>());
    assert_eq!(s.transitive_tag_keys.len(), 6);
    assert_eq!(s.subject, "arn:aws:sts::111122223333:assumed-role/pod-role/eks-demo-checkout-6d9f-abcde-1");

    // And on to a third hop: still inherited.
    w.sts.put_role_policy("target", "again", ASSUME_TARGET_POLICY).unwrap();
    let third_trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/target"},"Action":["sts:AssumeRole","sts:TagSession"]}]}"#;
    w.sts.create_role("third", third_trust, 3600).unwrap();
    let third = creds_of(&call(&w, assume_role(&target, "arn:aws:iam::111122223333:role/third", &[], &[], &[], &[])));
    assert_eq!(w.sts.session(&third.akid).unwrap().session_tags.len(), 6);
}

#[test]
fn a_chained_call_cannot_override_an_inherited_tag_and_needs_tag_session() {
    let w = world();
    let pod = pod_session(&w);
    let over = vec![("kubernetes-namespace".to_owned(), "other".to_owned())];
    let m = assert_error(&call(&w, assume_role(&pod, TARGET_ROLE, &over, &[], &[], &[])), StatusCode::BAD_REQUEST, "InvalidParameterValue");
    assert!(m.contains("kubernetes-namespace"), "{m}");
    // A new, non-conflicting tag is fine and joins the inherited ones.
    let extra = vec![("team".to_owned(), "payments".to_owned())];
    let t = creds_of(&call(&w, assume_role(&pod, TARGET_ROLE, &extra, &[], &[], &[])));
    assert_eq!(w.sts.session(&t.akid).unwrap().session_tags.len(), 7);

    // Inherited tags alone require sts:TagSession on the next role (terrapod#1546).
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/pod-role"},"Action":"sts:AssumeRole"}]}"#;
    w.sts.create_role("assume-only", trust, 3600).unwrap();
    let m = assert_error(&call(&w, assume_role(&pod, "arn:aws:iam::111122223333:role/assume-only", &[], &[], &[], &[])), StatusCode::FORBIDDEN, "AccessDenied");
    assert_eq!(m, "User: arn:aws:sts::111122223333:assumed-role/pod-role/eks-demo-checkout-6d9f-abcde-1 is not authorized to perform: sts:TagSession on resource: arn:aws:iam::111122223333:role/assume-only");
}

#[test]
fn account_root_trust_needs_the_callers_identity_policy() {
    let w = world();
    let pod = pod_session(&w);
    // `pod-role` may assume `target` (its identity policy says so) but not `other`, whose trust
    // policy only delegates to the account.
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":["sts:AssumeRole","sts:TagSession"]}]}"#;
    w.sts.create_role("other", trust, 3600).unwrap();
    assert_error(&call(&w, assume_role(&pod, "arn:aws:iam::111122223333:role/other", &[], &[], &[], &[])), StatusCode::FORBIDDEN, "AccessDenied");
    creds_of(&call(&w, assume_role(&pod, TARGET_ROLE, &[], &[], &[], &[])));
}

// ----------------------------------------------------------------------------------------------
// Caller authentication.

#[test]
fn unknown_key_is_invalid_client_token_id_and_expired_session_expired_token() {
    let w = world();
    let stranger = Creds { akid: "AKIAUNKNOWNEXAMPLE00".into(), secret: "x".into(), token: String::new() };
    let m = assert_error(&call(&w, assume_role(&stranger, POD_ROLE, &[], &[], &[], &[])), StatusCode::FORBIDDEN, "InvalidClientTokenId");
    assert_eq!(m, "The security token included in the request is invalid");

    let pod = pod_session(&w);
    let wrong_token = Creds { akid: pod.akid.clone(), secret: pod.secret.clone(), token: "forged".into() };
    assert_error(&call(&w, assume_role(&wrong_token, TARGET_ROLE, &[], &[], &[], &[])), StatusCode::FORBIDDEN, "InvalidClientTokenId");

    w.env.now.set(w.env.now.get() + Duration::from_secs(21600));
    assert_error(&call(&w, assume_role(&pod, TARGET_ROLE, &[], &[], &[], &[])), StatusCode::FORBIDDEN, "ExpiredToken");

    let unsigned = Request::post("/")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Bytes::from(format!("Action=AssumeRole&Version=2011-06-15&RoleArn={POD_ROLE}&RoleSessionName=x1")))
        .unwrap();
    assert_error(&call(&w, unsigned), StatusCode::FORBIDDEN, "MissingAuthenticationToken");
}

#[test]
fn source_context_headers_are_ignored_from_sessions() {
    let w = world();
    let pod = pod_session(&w);
    // A role that trusts pod-role only for a given aws:SourceAccount: a session cannot claim one.
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/pod-role"},"Action":["sts:AssumeRole","sts:TagSession"],"Condition":{"StringEquals":{"aws:SourceAccount":"111122223333"}}}]}"#;
    w.sts.create_role("needs-source", trust, 3600).unwrap();
    let arn = "arn:aws:iam::111122223333:role/needs-source";
    assert_error(&call(&w, assume_role(&pod, arn, &[], &[], &[], &source_headers())), StatusCode::FORBIDDEN, "AccessDenied");
}

// ----------------------------------------------------------------------------------------------
// Session lookup for resource services.

#[test]
fn internal_lookup_returns_tags_and_policies() {
    let w = world();
    let pod = pod_session(&w);
    let (status, info) = lookup(&w, &pod.akid);
    assert_eq!(status, StatusCode::OK);
    let info = info.unwrap();
    assert_eq!(info.access_key_id, pod.akid);
    assert_eq!(info.arn, "arn:aws:sts::111122223333:assumed-role/pod-role/eks-demo-checkout-6d9f-abcde-1");
    assert_eq!(info.role_arn, POD_ROLE);
    assert_eq!(info.role_name, "pod-role");
    assert_eq!(info.assumed_role_id, format!("{}:eks-demo-checkout-6d9f-abcde-1", w.sts.role("pod-role").unwrap().role_id));
    assert_eq!(info.account_id, ACCT);
    assert_eq!(info.expiration, T0 + 21600);
    assert_eq!(info.principal_tags, eks_tags().into_iter().collect::<BTreeMap<_, _>>());
    assert_eq!(info.identity_policies, vec![ASSUME_TARGET_POLICY.to_owned(), S3_POLICY.to_owned()]);
    assert_eq!(info.session_policy, None);
    use sha2::Digest;
    let digest: String = sha2::Sha256::digest(pod.token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(info.session_token_sha256, digest);
    // The JSON never carries a secret.
    let raw = body(&call(&w, Request::get(format!("/credsim-internal/sessions/{}", pod.akid)).body(Bytes::new()).unwrap()));
    assert!(!raw.contains(&pod.secret) && !raw.contains(&pod.token));
    assert!(raw.contains("\"principal_tags\":{"), "{raw}");

    assert_eq!(lookup(&w, "ASIANOSUCHKEY0000000").0, StatusCode::NOT_FOUND);
    assert_eq!(lookup(&w, EKS_AUTH_KEY).0, StatusCode::NOT_FOUND);
    let post = Request::post(format!("/credsim-internal/sessions/{}", pod.akid)).body(Bytes::new()).unwrap();
    assert_eq!(call(&w, post).status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[test]
fn put_role_policy_validates_like_iam() {
    let w = world();
    assert!(matches!(w.sts.put_role_policy("nobody", "p", S3_POLICY), Err(credsim::sts::RegistryError::NoSuchEntity(_))));
    assert!(matches!(w.sts.put_role_policy("pod-role", "p", "{"), Err(credsim::sts::RegistryError::MalformedPolicyDocument(_))));
    assert!(matches!(w.sts.put_role_policy("pod-role", "bad name", S3_POLICY), Err(credsim::sts::RegistryError::InvalidInput(_))));
    let huge = format!(r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::{}"}}]}}"#, "b".repeat(10300));
    assert!(matches!(w.sts.put_role_policy("pod-role", "huge", &huge), Err(credsim::sts::RegistryError::LimitExceeded(_))));
    // Replacing a policy keeps one copy.
    w.sts.put_role_policy("pod-role", "s3-abac", S3_POLICY).unwrap();
    assert_eq!(w.sts.role_policies("pod-role").len(), 2);
}

#[test]
fn session_policy_is_stored_and_returned() {
    let w = world();
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    let resp = call(&w, assume_role(&eks_auth(), NO_TAG_ROLE, &[], &[], &[("Policy", policy)], &[]));
    let b = body(&resp);
    let c = creds_of(&resp);
    assert_eq!(xml_text(&b, "PackedPolicySize").as_deref(), Some("0"));
    assert_eq!(lookup(&w, &c.akid).1.unwrap().session_policy.as_deref(), Some(policy));
    let bad = call(&w, assume_role(&eks_auth(), NO_TAG_ROLE, &[], &[], &[("Policy", "{nope")], &[]));
    assert_error(&bad, StatusCode::BAD_REQUEST, "MalformedPolicyDocument");
}

#[test]
fn source_identity_is_set_once_and_inherited() {
    let w = world();
    // Setting a source identity needs sts:SetSourceIdentity.
    let resp = call(&w, assume_role(&eks_auth(), NO_TAG_ROLE, &[], &[], &[("SourceIdentity", "alice")], &[]));
    assert!(assert_error(&resp, StatusCode::FORBIDDEN, "AccessDenied").contains("sts:SetSourceIdentity"));
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:SetSourceIdentity"]}]}"#;
    w.sts.create_role("si", trust, 3600).unwrap();
    let resp = call(&w, assume_role(&eks_auth(), "arn:aws:iam::111122223333:role/si", &[], &[], &[("SourceIdentity", "alice")], &[]));
    assert_eq!(xml_text(&body(&resp), "SourceIdentity").as_deref(), Some("alice"));
    let c = creds_of(&resp);
    assert_eq!(lookup(&w, &c.akid).1.unwrap().source_identity.as_deref(), Some("alice"));
}

// ----------------------------------------------------------------------------------------------
// Trace contract.

#[test]
fn credentials_issued_carries_the_session_tags_sorted_by_key() {
    let w = world();
    let c = pod_session(&w);
    let events = w.env.events.borrow();
    let issued: Vec<BTreeMap<String, String>> = events
        .iter()
        .filter(|(k, _)| k == "credentials.issued")
        .map(|(_, f)| f.iter().cloned().collect())
        .collect();
    assert_eq!(issued.len(), 1, "one event per issued session");
    let f = &issued[0];
    assert_eq!(f["api"], "AssumeRole");
    assert_eq!(f["access_key_id"], c.akid);
    assert_eq!(f["role_arn"], POD_ROLE, "the role's ARN, not the assumed-role ARN");
    // 6 h after T0, on the true clock (the fake has no skew).
    assert_eq!(f["expiration_s"], (T0 + 21600).to_string());
    assert_eq!(
        f["tags"],
        format!(
            "eks-cluster-arn={CLUSTER_ARN},eks-cluster-name=demo,kubernetes-namespace=payments,\
             kubernetes-pod-name=checkout-6d9f-abcde,kubernetes-pod-uid=0b5f3a1e-8c7d-4e2f-9a6b-1c3d5e7f9a0b,\
             kubernetes-service-account=checkout"
        )
    );
    assert!(!f.contains_key("token_aud"), "AssumeRole has no token");
    for v in f.values() {
        assert!(!v.contains(&c.secret) && !v.contains(&c.token));
    }
}
