//! S3 on the simulator: an STS host, an S3 host and a client host that gets a role session with
//! `AssumeRole` (as EKS Auth does, with the Pod Identity session tags) and reads and writes objects.
//! Pure functions (header parsing, routes, encodings, the request context) are tested directly.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use sim::{Event, FieldValue, Sim, SimConfig};

use super::auth::{self, Caller};
use super::wire::{self, Reply};
use super::*;
use crate::http::{HttpClient, Timeouts};
use crate::sdk::Credentials;
use crate::sts::{SessionInfo, StsConfig, StsService};

const REGION: &str = "us-west-2";
const ACCT: &str = "111122223333";
const STS_HOST: &str = "sts.us-west-2.amazonaws.com";
const EKS_AUTH_KEY: &str = "AKIAEKSAUTHEXAMPLE01";
const ROLE: &str = "arn:aws:iam::111122223333:role/pod-role";
const BUCKET: &str = "data";
const ALPHA: &str = "alpha/report.txt";
const BETA: &str = "beta/report.txt";

/// The Pod Identity association role's trust policy (EKS user guide).
const TRUST: &str = r#"{"Version": "2012-10-17", "Statement": [{
  "Effect": "Allow",
  "Principal": {"Service": "pods.eks.amazonaws.com"},
  "Action": ["sts:AssumeRole", "sts:TagSession"]
}]}"#;

/// The EKS user guide's ABAC example (`iam.md` §1.10): read objects of your own cluster only.
const ABAC: &str = r#"{"Version": "2012-10-17", "Statement": [{
  "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/*",
  "Condition": {"StringEquals": {"s3:ExistingObjectTag/eks-cluster-name": "${aws:PrincipalTag/eks-cluster-name}"}}
}]}"#;

const READ_WRITE: &str = r#"{"Version": "2012-10-17", "Statement": [{
  "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::data/*"
}]}"#;

const PUT_ONLY: &str = r#"{"Version": "2012-10-17", "Statement": [{
  "Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::data/*"
}]}"#;

const ALLOW_ALL: &str = r#"{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}"#;

const DENY_BETA: &str = r#"{"Version": "2012-10-17", "Statement": [{
  "Sid": "NoBeta", "Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/beta/*"
}]}"#;

const LIST: &str = r#"{"Version": "2012-10-17", "Statement": [{
  "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::data"
}]}"#;

// ----------------------------------------------------------------------------------------------
// The simulated world.

/// What a test world holds: the role's policies, and the S3 config to run with.
struct Setup {
    policies: Vec<&'static str>,
    config: S3Config,
}

impl Setup {
    fn new(policies: &[&'static str]) -> Setup {
        Setup { policies: policies.to_vec(), config: S3Config::new(REGION.into(), format!("https://{STS_HOST}")) }
    }
}

/// The objects every world starts with: one per cluster, tagged with its cluster's name.
fn seeded_state() -> Rc<RefCell<S3State>> {
    let state = S3State::new();
    {
        let mut s = state.borrow_mut();
        for (key, cluster) in [(ALPHA, "alpha"), (BETA, "beta")] {
            s.put_object(BUCKET, key, Bytes::from(format!("{cluster} data")), vec![("eks-cluster-name".into(), cluster.into())]);
        }
    }
    state
}

/// Runs `script` on a client host next to STS and S3 until it returns; gives its result, the trace
/// and the S3 state.
fn simulate<T, F, Fut>(setup: Setup, script: F) -> (T, Vec<Event>, Rc<RefCell<S3State>>)
where
    T: 'static,
    F: FnOnce(Rc<HttpClient>) -> Fut + 'static,
    Fut: Future<Output = T> + 'static,
{
    let mut world = Sim::new(SimConfig::new(7));
    let sts = StsService::new(StsConfig::new(ACCT, REGION));
    sts.register_service_identity(EKS_AUTH_KEY, "pods.eks.amazonaws.com");
    sts.create_role("pod-role", TRUST, 3600).unwrap();
    for (i, p) in setup.policies.iter().enumerate() {
        sts.put_role_policy("pod-role", &format!("p{i}"), p).unwrap();
    }
    let sts = Rc::new(sts);
    let h = world.add_host(STS_HOST);
    world.add_software(h, move || crate::sts::server::run(sts.clone()));

    let state = seeded_state();
    let h = world.add_host(&config::host(REGION));
    let (cfg, st) = (setup.config, state.clone());
    world.add_software(h, move || run(cfg.clone(), st.clone()));

    let (tx, rx) = tokio::sync::oneshot::channel();
    let once = RefCell::new(Some((script, tx)));
    let h = world.add_host("client");
    world.add_software(h, move || {
        let taken = once.borrow_mut().take();
        async move {
            if let Some((script, tx)) = taken {
                let _ = tx.send(script(Rc::new(HttpClient::new())).await);
            }
        }
    });
    let out = world.run(async move {
        tokio::time::timeout(Duration::from_secs(6 * 3600), rx).await.expect("the client script finishes").expect("the client script ran")
    });
    (out, world.take_events(), state)
}

fn text(xml: &str, path: &[&str]) -> String {
    wire::xml_text(xml, path).unwrap_or_else(|| panic!("no {path:?} in {xml}"))
}

/// A role session for `pod-role`, obtained the way EKS Auth does: `AssumeRole` signed with EKS Auth's
/// service identity, with these session tags, for `duration_s` seconds.
async fn assume(http: &HttpClient, tags: &[(&str, &str)], duration_s: u32) -> Credentials {
    let mut pairs: Vec<(String, String)> = vec![
        ("Action".into(), "AssumeRole".into()),
        ("Version".into(), "2011-06-15".into()),
        ("RoleArn".into(), ROLE.into()),
        ("RoleSessionName".into(), "eks-alpha-reader-0".into()),
        ("DurationSeconds".into(), duration_s.to_string()),
    ];
    for (n, (k, v)) in tags.iter().enumerate() {
        pairs.push((format!("Tags.member.{}.Key", n + 1), (*k).to_owned()));
        pairs.push((format!("Tags.member.{}.Value", n + 1), (*v).to_owned()));
    }
    let body = serde_urlencoded::to_string(&pairs).unwrap();
    let ct = "application/x-www-form-urlencoded";
    let s = crate::sigv4::sign_post(EKS_AUTH_KEY, "not-verified", "", REGION, "sts", STS_HOST, "/", ct, body.as_bytes(), runtime::now());
    let req = ::http::Request::post("/")
        .header("content-type", ct)
        .header("authorization", s.authorization)
        .header("x-amz-date", s.amz_date)
        .body(Bytes::from(body))
        .unwrap();
    let resp = http.send(&format!("https://{STS_HOST}/"), req, Timeouts::default()).await.unwrap();
    let xml = String::from_utf8_lossy(resp.body()).into_owned();
    assert_eq!(resp.status(), 200, "{xml}");
    let arn = text(&xml, &["AssumedRoleUser", "Arn"]);
    Credentials {
        access_key_id: text(&xml, &["Credentials", "AccessKeyId"]),
        secret_access_key: text(&xml, &["Credentials", "SecretAccessKey"]),
        session_token: text(&xml, &["Credentials", "SessionToken"]),
        expiration: crate::sdk::parse_timestamp(&text(&xml, &["Credentials", "Expiration"])).unwrap(),
        account_id: arn.split(':').nth(4).unwrap().to_owned(),
        assumed_role_arn: arn,
        source: "test",
    }
}

fn cluster_tags(cluster: &str) -> Vec<(&'static str, String)> {
    vec![
        ("eks-cluster-arn", format!("arn:aws:eks:us-west-2:111122223333:cluster/{cluster}")),
        ("eks-cluster-name", cluster.to_owned()),
        ("kubernetes-namespace", "default".to_owned()),
        ("kubernetes-service-account", "reader".to_owned()),
    ]
}

async fn assume_for(http: &HttpClient, cluster: &str) -> Credentials {
    let tags = cluster_tags(cluster);
    let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assume(http, &tags, 3600).await
}

async fn get(http: &HttpClient, c: &Credentials, key: &str) -> Result<Bytes, S3Error> {
    get_object(http, c, REGION, BUCKET, key).await
}

fn code(r: &Result<Bytes, S3Error>) -> (String, u16) {
    match r {
        Ok(_) => ("ok".into(), 200),
        Err(e) => (e.code.clone(), e.status),
    }
}

fn s3_requests(events: &[Event]) -> Vec<&Event> {
    events.iter().filter(|e| e.kind == "s3.request").collect()
}

const SESSION_ARN: &str = "arn:aws:sts::111122223333:assumed-role/pod-role/eks-alpha-reader-0";

// ----------------------------------------------------------------------------------------------
// Authorisation on the simulator.

#[test]
fn an_identity_policy_allows_get_and_put() {
    let ((read, put, back), _, state) = simulate(Setup::new(&[READ_WRITE]), |http| async move {
        let c = assume_for(&http, "alpha").await;
        let read = get(&http, &c, ALPHA).await;
        let put = put_object(&http, &c, REGION, BUCKET, "alpha/new file.txt", Bytes::from_static(b"fresh")).await;
        let back = get(&http, &c, "alpha/new file.txt").await;
        (read, put, back)
    });
    assert_eq!(read.unwrap(), Bytes::from_static(b"alpha data"));
    put.unwrap();
    assert_eq!(back.unwrap(), Bytes::from_static(b"fresh"));
    let stored = state.borrow().object(BUCKET, "alpha/new file.txt").cloned().unwrap();
    assert!(stored.tags.is_empty(), "PutObject without x-amz-tagging stores no tags");
    assert!(stored.last_modified_ms > 0);
}

#[test]
fn without_an_allowing_policy_get_is_access_denied_naming_the_reason() {
    let (r, events, _) = simulate(Setup::new(&[PUT_ONLY]), |http| async move {
        let c = assume_for(&http, "alpha").await;
        get(&http, &c, ALPHA).await
    });
    let e = r.unwrap_err();
    assert_eq!((e.code.as_str(), e.status), ("AccessDenied", 403));
    assert_eq!(
        e.message,
        format!(
            "User: {SESSION_ARN} is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::data/alpha/report.txt\" \
             because no identity-based policy allows the s3:GetObject action"
        )
    );
    let req = s3_requests(&events)[0];
    assert_eq!((req.str("outcome"), req.str("error_code"), req.u64("http_status")), ("denied", "AccessDenied", Some(403)));
}

#[test]
fn the_classic_access_denied_message_is_a_switch() {
    let mut setup = Setup::new(&[]);
    setup.config.detailed_access_denied = false;
    let (r, _, _) = simulate(setup, |http| async move {
        let c = assume_for(&http, "alpha").await;
        get(&http, &c, ALPHA).await
    });
    assert_eq!(r.unwrap_err().message, "Access Denied");
}

#[test]
fn an_explicit_deny_wins_over_an_allow() {
    let ((alpha, beta), _, _) = simulate(Setup::new(&[ALLOW_ALL, DENY_BETA]), |http| async move {
        let c = assume_for(&http, "alpha").await;
        (get(&http, &c, ALPHA).await, get(&http, &c, BETA).await)
    });
    alpha.unwrap();
    let e = beta.unwrap_err();
    assert_eq!((e.code.as_str(), e.status), ("AccessDenied", 403));
    assert!(e.message.ends_with("with an explicit deny in an identity-based policy"), "{}", e.message);
}

#[test]
fn abac_allows_the_own_clusters_objects_and_denies_the_others() {
    // (session's eks-cluster-name tag, object) → outcome
    let cases: [(Option<&str>, &str, &str); 5] = [
        (Some("alpha"), ALPHA, "ok"),
        (Some("alpha"), BETA, "AccessDenied"),
        (Some("beta"), BETA, "ok"),
        (Some("beta"), ALPHA, "AccessDenied"),
        // No tag on the session: the variable does not resolve and the condition matches nothing.
        (None, ALPHA, "AccessDenied"),
    ];
    let (results, events, _) = simulate(Setup::new(&[ABAC]), move |http| async move {
        let mut out = Vec::new();
        for (cluster, key, _) in cases {
            let c = match cluster {
                Some(cl) => assume_for(&http, cl).await,
                None => assume(&http, &[], 3600).await,
            };
            out.push(code(&get(&http, &c, key).await).0);
        }
        out
    });
    for ((cluster, key, want), got) in cases.iter().zip(&results) {
        assert_eq!(got, want, "session tagged {cluster:?} reading {key}");
    }
    let outcomes: Vec<&str> = s3_requests(&events).iter().map(|e| e.str("outcome")).collect();
    assert_eq!(outcomes, ["allowed", "denied", "allowed", "denied", "denied"]);
}

#[test]
fn a_session_policy_narrows_the_role() {
    // AssumeRole's Policy parameter becomes the session policy: the intersection applies.
    let (r, _, _) = simulate(Setup::new(&[ALLOW_ALL]), |http| async move {
        let session_policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::data/beta/*"}]}"#;
        let pairs = [
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleArn", ROLE),
            ("RoleSessionName", "narrow"),
            ("Policy", session_policy),
        ];
        let body = serde_urlencoded::to_string(pairs).unwrap();
        let ct = "application/x-www-form-urlencoded";
        let s = crate::sigv4::sign_post(EKS_AUTH_KEY, "x", "", REGION, "sts", STS_HOST, "/", ct, body.as_bytes(), runtime::now());
        let req = ::http::Request::post("/")
            .header("content-type", ct)
            .header("authorization", s.authorization)
            .header("x-amz-date", s.amz_date)
            .body(Bytes::from(body))
            .unwrap();
        let resp = http.send(&format!("https://{STS_HOST}/"), req, Timeouts::default()).await.unwrap();
        let xml = String::from_utf8_lossy(resp.body()).into_owned();
        assert_eq!(resp.status(), 200, "{xml}");
        let c = Credentials {
            access_key_id: text(&xml, &["AccessKeyId"]),
            secret_access_key: text(&xml, &["SecretAccessKey"]),
            session_token: text(&xml, &["SessionToken"]),
            expiration: UNIX_EPOCH,
            account_id: ACCT.into(),
            assumed_role_arn: text(&xml, &["AssumedRoleUser", "Arn"]),
            source: "test",
        };
        (code(&get(&http, &c, ALPHA).await), code(&get(&http, &c, BETA).await))
    });
    assert_eq!(r, (("AccessDenied".into(), 403), ("ok".into(), 200)));
}

#[test]
fn another_accounts_bucket_needs_a_bucket_policy_so_it_is_denied() {
    let mut setup = Setup::new(&[ALLOW_ALL]);
    setup.config.bucket_owner_account = Some("444455556666".into());
    let (r, _, _) = simulate(setup, |http| async move {
        let c = assume_for(&http, "alpha").await;
        get(&http, &c, ALPHA).await
    });
    let e = r.unwrap_err();
    assert_eq!((e.code.as_str(), e.status, e.message.as_str()), ("AccessDenied", 403, "Access Denied"));
}

// ----------------------------------------------------------------------------------------------
// Authentication on the simulator.

#[test]
fn an_unknown_access_key_is_invalid_access_key_id() {
    let ((unknown, implausible), events, _) = simulate(Setup::new(&[ALLOW_ALL]), |http| async move {
        let mut c = assume_for(&http, "alpha").await;
        c.access_key_id = "ASIAUNKNOWNEXAMPLE00".into();
        let unknown = get(&http, &c, ALPHA).await;
        c.access_key_id = "not-a-key".into();
        (unknown, get(&http, &c, ALPHA).await)
    });
    for r in [&unknown, &implausible] {
        let e = r.as_ref().unwrap_err();
        assert_eq!((e.code.as_str(), e.status), ("InvalidAccessKeyId", 403));
        assert_eq!(e.message, "The AWS Access Key Id you provided does not exist in our records.");
    }
    let lookups: Vec<&Event> = events.iter().filter(|e| e.kind == "sts.session_lookup").collect();
    assert_eq!(lookups.len(), 1, "an implausible key is refused without asking STS");
    assert_eq!(lookups[0].str("found"), "false");
    let req = s3_requests(&events)[0];
    assert_eq!((req.str("access_key_id"), req.str("outcome")), ("ASIAUNKNOWNEXAMPLE00", "error"));
}

#[test]
fn a_wrong_or_missing_session_token_is_refused() {
    let ((forged, missing), _, _) = simulate(Setup::new(&[ALLOW_ALL]), |http| async move {
        let mut c = assume_for(&http, "alpha").await;
        c.session_token = "forged".into();
        let forged = get(&http, &c, ALPHA).await;
        c.session_token = String::new();
        (code(&forged), code(&get(&http, &c, ALPHA).await))
    });
    assert_eq!(forged, ("InvalidToken".into(), 400));
    assert_eq!(missing, ("InvalidAccessKeyId".into(), 403));
}

#[test]
fn an_expired_session_is_expired_token_and_the_cache_saves_lookups() {
    let ((before, after), events, _) = simulate(Setup::new(&[ALLOW_ALL]), |http| async move {
        let c = assume(&http, &[], 900).await;
        let before = code(&get(&http, &c, ALPHA).await);
        let again = code(&get(&http, &c, BETA).await);
        assert_eq!(again.0, "ok");
        tokio::time::sleep(Duration::from_secs(901)).await;
        (before, get(&http, &c, ALPHA).await)
    });
    assert_eq!(before.0, "ok");
    let e = after.unwrap_err();
    assert_eq!((e.code.as_str(), e.status, e.message.as_str()), ("ExpiredToken", 400, "The provided token has expired."));
    let lookups = events.iter().filter(|e| e.kind == "sts.session_lookup").count();
    assert_eq!(lookups, 1, "one lookup, then the cached session until (and after) it expires");
}

#[test]
fn without_the_cache_every_request_asks_sts() {
    let mut setup = Setup::new(&[ALLOW_ALL]);
    setup.config.cache_sessions = false;
    let (_, events, _) = simulate(setup, |http| async move {
        let c = assume_for(&http, "alpha").await;
        for _ in 0..3 {
            get(&http, &c, ALPHA).await.unwrap();
        }
    });
    assert_eq!(events.iter().filter(|e| e.kind == "sts.session_lookup").count(), 3);
}

#[test]
fn an_unreachable_sts_is_internal_error() {
    let mut setup = Setup::new(&[ALLOW_ALL]);
    setup.config.sts_url = "https://sts.nowhere.example".into();
    let (r, _, _) = simulate(setup, |http| async move {
        let c = assume_for(&http, "alpha").await;
        code(&get(&http, &c, ALPHA).await)
    });
    assert_eq!(r, ("InternalError".into(), 500));
}

#[test]
fn a_client_clock_off_by_more_than_15_minutes_is_request_time_too_skewed() {
    let ((small, large), _, _) = simulate(Setup::new(&[ALLOW_ALL]), |http| async move {
        let c = assume_for(&http, "alpha").await;
        let me = sim::control::host("client").unwrap();
        sim::control::set_skew_ms(me, 14 * 60 * 1000);
        let small = code(&get(&http, &c, ALPHA).await);
        sim::control::set_skew_ms(me, -16 * 60 * 1000);
        (small, code(&get(&http, &c, ALPHA).await))
    });
    assert_eq!(small.0, "ok");
    assert_eq!(large, ("RequestTimeTooSkewed".into(), 403));
}

#[test]
fn a_request_signed_for_another_region_is_authorization_header_malformed() {
    let (r, _, _) = simulate(Setup::new(&[ALLOW_ALL]), |http| async move {
        let c = assume_for(&http, "alpha").await;
        // The client signs for us-east-1 but talks to the us-west-2 endpoint.
        let payload = crate::sigv4::payload_sha256_hex(b"");
        let path = object_path(BUCKET, ALPHA);
        let s = crate::sigv4::sign_request(
            &c.access_key_id,
            &c.secret_access_key,
            &c.session_token,
            "us-east-1",
            "s3",
            &crate::sigv4::SignInput {
                method: "GET",
                host: "s3.us-west-2.amazonaws.com",
                canonical_uri: &path,
                canonical_query: "",
                headers: &[("x-amz-content-sha256", &payload)],
                payload_sha256_hex: &payload,
            },
            runtime::now(),
        );
        let req = ::http::Request::get(path.as_str())
            .header("x-amz-content-sha256", &payload)
            .header("x-amz-date", s.amz_date)
            .header("x-amz-security-token", s.security_token)
            .header("authorization", s.authorization)
            .body(Bytes::new())
            .unwrap();
        let resp = http.send(&format!("https://s3.us-west-2.amazonaws.com{path}"), req, Timeouts::default()).await.unwrap();
        (resp.status().as_u16(), String::from_utf8_lossy(resp.body()).into_owned())
    });
    assert_eq!(r.0, 400);
    assert_eq!(text(&r.1, &["Error", "Code"]), "AuthorizationHeaderMalformed");
    assert_eq!(text(&r.1, &["Error", "Region"]), "us-west-2");
}

// ----------------------------------------------------------------------------------------------
// Buckets and keys on the simulator.

#[test]
fn missing_buckets_and_keys() {
    let run_with = |policies: &[&'static str]| {
        simulate(Setup::new(policies), |http| async move {
            let c = assume_for(&http, "alpha").await;
            let no_bucket = code(&get_object(&http, &c, REGION, "nope", ALPHA).await);
            let put_no_bucket = put_object(&http, &c, REGION, "nope", "k", Bytes::new()).await.map_err(|e| (e.code, e.status));
            let no_key = get(&http, &c, "alpha/missing.txt").await;
            (no_bucket, put_no_bucket, no_key)
        })
        .0
    };
    // With s3:ListBucket on the bucket: NoSuchKey (404).
    let (no_bucket, put_no_bucket, no_key) = run_with(&[READ_WRITE, LIST]);
    assert_eq!(no_bucket, ("NoSuchBucket".into(), 404));
    assert_eq!(put_no_bucket, Err(("NoSuchBucket".into(), 404)));
    let e = no_key.unwrap_err();
    assert_eq!((e.code.as_str(), e.status, e.message.as_str()), ("NoSuchKey", 404, "The specified key does not exist."));
    // Without it: AccessDenied (403), which does not reveal whether the key exists.
    let (_, _, no_key) = run_with(&[READ_WRITE]);
    let e = no_key.unwrap_err();
    assert_eq!((e.code.as_str(), e.status), ("AccessDenied", 403));
    assert!(e.message.contains("s3:ListBucket"), "{}", e.message);
}

#[test]
fn anonymous_requests_are_access_denied() {
    let (r, events, _) = simulate(Setup::new(&[ALLOW_ALL]), |http| async move {
        let resp = http.get(&format!("https://s3.us-west-2.amazonaws.com/{BUCKET}/{ALPHA}"), &[], Timeouts::default()).await.unwrap();
        wire::parse_error(resp.status().as_u16(), resp.body())
    });
    assert_eq!((r.code.as_str(), r.status, r.message.as_str()), ("AccessDenied", 403, "Access Denied"));
    assert_eq!(s3_requests(&events)[0].str("access_key_id"), "");
}

#[test]
fn unsupported_operations_are_not_implemented() {
    let (r, _, _) = simulate(Setup::new(&[ALLOW_ALL]), |http| async move {
        let list = http.get(&format!("https://s3.us-west-2.amazonaws.com/{BUCKET}"), &[], Timeouts::default()).await.unwrap();
        let del = ::http::Request::delete("/").body(Bytes::new()).unwrap();
        let del = http.send(&format!("https://s3.us-west-2.amazonaws.com/{BUCKET}/{ALPHA}"), del, Timeouts::default()).await.unwrap();
        let bad = http.get(&format!("https://s3.us-west-2.amazonaws.com/{BUCKET}/a%zz"), &[], Timeouts::default()).await.unwrap();
        [list, del, bad].map(|r| {
            let e = wire::parse_error(r.status().as_u16(), r.body());
            (e.code, e.status)
        })
    });
    assert_eq!(
        r,
        [("NotImplemented".into(), 501), ("NotImplemented".into(), 501), ("InvalidURI".into(), 400)]
    );
}

// ----------------------------------------------------------------------------------------------
// Trace.

#[test]
fn every_request_is_traced_without_secrets() {
    let (c, events, _) = simulate(Setup::new(&[ABAC]), |http| async move {
        let c = assume_for(&http, "alpha").await;
        get(&http, &c, ALPHA).await.unwrap();
        let _ = get(&http, &c, BETA).await;
        c
    });
    let reqs = s3_requests(&events);
    assert_eq!(reqs.len(), 2);
    let want = [(ALPHA, "allowed", "", 200), (BETA, "denied", "AccessDenied", 403)];
    for (e, (key, outcome, code, status)) in reqs.iter().zip(want) {
        assert_eq!(e.str("operation"), "GetObject");
        assert_eq!(e.str("bucket"), BUCKET);
        assert_eq!(e.str("key"), key);
        assert_eq!(e.str("access_key_id"), c.access_key_id);
        assert_eq!(e.str("principal_arn"), SESSION_ARN);
        assert_eq!((e.str("outcome"), e.str("error_code"), e.u64("http_status")), (outcome, code, Some(status)));
        assert_eq!(e.str("request_id").len(), 16);
    }
    for e in &events {
        for (_, v) in &e.fields {
            if let FieldValue::Str(s) = v {
                assert!(!s.contains(&c.secret_access_key) && !s.contains(&c.session_token), "{} leaks a secret", e.kind);
            }
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_trace() {
    let digest = || {
        let (_, events, _) = simulate(Setup::new(&[ABAC]), |http| async move {
            let c = assume_for(&http, "alpha").await;
            let _ = get(&http, &c, ALPHA).await;
            let _ = get(&http, &c, BETA).await;
        });
        events.iter().map(Event::to_json_line).collect::<Vec<_>>()
    };
    assert_eq!(digest(), digest());
}

// ----------------------------------------------------------------------------------------------
// Pure functions.

#[test]
fn authorization_headers_are_parsed_and_checked() {
    let ok = "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLEEXAMPLE01/20270115/us-west-2/s3/aws4_request, \
              SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=abcd";
    let c = auth::parse_authorization(ok, REGION).unwrap();
    assert_eq!((c.access_key_id.as_str(), c.date.as_str(), c.service.as_str()), ("ASIAEXAMPLEEXAMPLE01", "20270115", "s3"));
    // (header, expected code, message fragment)
    let cases = [
        ("AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=", "InvalidArgument", "Unsupported Authorization Type"),
        ("AWS4-HMAC-SHA256 Credential=AKID/2027/us-west-2/s3/aws4_request, SignedHeaders=host, Signature=a", "AuthorizationHeaderMalformed", "Credential is mal-formed"),
        ("AWS4-HMAC-SHA256 Credential=AKID/20270115/us-west-2/s3, SignedHeaders=host, Signature=a", "AuthorizationHeaderMalformed", "Credential is mal-formed"),
        ("AWS4-HMAC-SHA256 Credential=AKID/20270115/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=a", "AuthorizationHeaderMalformed", "the region 'eu-west-1' is wrong; expecting 'us-west-2'"),
        ("AWS4-HMAC-SHA256 Credential=AKID/20270115/us-west-2/sts/aws4_request, SignedHeaders=host, Signature=a", "AuthorizationHeaderMalformed", "incorrect service"),
        ("AWS4-HMAC-SHA256 Credential=AKID/20270115/us-west-2/s3/aws4_request, SignedHeaders=host", "AuthorizationHeaderMalformed", "'Signature'"),
        ("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=a", "AuthorizationHeaderMalformed", "'Credential'"),
        ("AWS4-HMAC-SHA256 garbage", "AuthorizationHeaderMalformed", "garbage"),
        ("AWS4-HMAC-SHA256", "InvalidArgument", "Unsupported"),
        ("", "InvalidArgument", "Unsupported"),
    ];
    for (header, code, fragment) in cases {
        let e = auth::parse_authorization(header, REGION).unwrap_err().error;
        assert_eq!((e.code.as_str(), e.status), (code, 400), "{header}");
        assert!(e.message.contains(fragment), "{header}: {}", e.message);
    }
}

#[test]
fn the_request_time_must_be_within_the_allowed_skew() {
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000); // 2027-01-15T08:00:00Z
    let max = Duration::from_secs(900);
    assert!(auth::check_request_time(Some("20270115T080000Z"), now, max).is_ok());
    assert!(auth::check_request_time(Some("20270115T081500Z"), now, max).is_ok(), "exactly 15 minutes is allowed");
    for (date, code) in [
        (Some("20270115T081501Z"), "RequestTimeTooSkewed"),
        (Some("20270115T074459Z"), "RequestTimeTooSkewed"),
        (Some("2027-01-15T08:00:00Z"), "AccessDenied"),
        (None, "AccessDenied"),
    ] {
        let e = auth::check_request_time(date, now, max).unwrap_err();
        assert_eq!(e.error.code, code, "{date:?}");
    }
    let e = auth::check_request_time(Some("20270115T090000Z"), now, max).unwrap_err();
    assert!(e.extra.contains(&("ServerTime", "20270115T080000Z".into())), "{:?}", e.extra);
    assert!(e.extra.contains(&("MaxAllowedSkewMilliseconds", "900000".into())));
}

#[test]
fn routes_decode_path_style_keys() {
    use ::http::Method;
    let obj = |b: &str, k: &str| (b.to_owned(), k.to_owned());
    let cases = [
        (Method::GET, "/data/alpha/report.txt", Some(("GetObject", obj("data", "alpha/report.txt")))),
        (Method::PUT, "/data/a%20b/c%2Bd", Some(("PutObject", obj("data", "a b/c+d")))),
        (Method::GET, "/data/%E2%9C%93", Some(("GetObject", obj("data", "✓")))),
    ];
    for (m, path, want) in cases {
        let got = match Route::of(&m, path) {
            Route::GetObject { bucket, key } => Some(("GetObject", (bucket, key))),
            Route::PutObject { bucket, key } => Some(("PutObject", (bucket, key))),
            _ => None,
        };
        assert_eq!(got, want, "{m} {path}");
    }
    for (m, path) in [(Method::GET, "/"), (Method::GET, "/data"), (Method::GET, "/data/"), (Method::HEAD, "/data/k"), (Method::POST, "/data/k")] {
        assert!(matches!(Route::of(&m, path), Route::Unsupported(_)), "{m} {path}");
    }
    for path in ["/data/%zz", "/data/%C3", "/data/%+1"] {
        assert!(matches!(Route::of(&Method::GET, path), Route::BadUri(_)), "{path}");
    }
}

#[test]
fn keys_are_encoded_once_for_the_path_and_the_signature() {
    assert_eq!(wire::encode_key("alpha/report.txt"), "alpha/report.txt");
    assert_eq!(wire::encode_key("a b+c=d/ü~_-."), "a%20b%2Bc%3Dd/%C3%BC~_-.");
    for key in ["alpha/report.txt", "a b+c=d/ü~_-.", "100%/x", "?#&"] {
        assert_eq!(wire::decode_path(&wire::encode_key(key)).as_deref(), Some(key));
    }
    assert_eq!(object_path("data", "a b"), "/data/a%20b");
}

#[test]
fn error_documents_have_the_rest_xml_shape() {
    let xml = wire::error_xml(&Reply::no_such_key("a<b>"), "4442587FB7D0A2F9", "host-id");
    assert_eq!(
        xml,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>\
         <Key>a&lt;b&gt;</Key><RequestId>4442587FB7D0A2F9</RequestId><HostId>host-id</HostId></Error>"
    );
    let e = wire::parse_error(404, xml.as_bytes());
    assert_eq!((e.code.as_str(), e.status), ("NoSuchKey", 404));
    assert_eq!(wire::parse_error(502, b"Bad Gateway").code, "http_502");
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
    let (id, host) = wire::request_ids(&mut rng);
    assert!(id.len() == 16 && id.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()), "{id}");
    assert_eq!(host.len(), 72);
}

#[test]
fn access_denied_messages_follow_the_documented_format() {
    use wire::DenyReason::{Explicit, Implicit};
    let m = |r| wire::access_denied_message("arn:aws:sts::1:assumed-role/r/s", "s3:GetObject", "arn:aws:s3:::b/k", r);
    assert_eq!(
        m(Implicit("identity-based")),
        "User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::b/k\" because no identity-based policy allows the s3:GetObject action"
    );
    assert!(m(Explicit("identity-based")).ends_with("with an explicit deny in an identity-based policy"));
    assert!(m(Explicit("session")).ends_with("with an explicit deny in a session policy"));
    assert!(m(Implicit("session")).ends_with("because no session policy allows the s3:GetObject action"));
}

fn session_info(tags: &[(&str, &str)]) -> SessionInfo {
    SessionInfo {
        access_key_id: "ASIAEXAMPLEEXAMPLE01".into(),
        arn: SESSION_ARN.into(),
        assumed_role_id: "AROAEXAMPLEROLEID0001:eks-alpha-reader-0".into(),
        role_arn: ROLE.into(),
        role_name: "pod-role".into(),
        account_id: ACCT.into(),
        role_session_name: "eks-alpha-reader-0".into(),
        expiration: 1_800_003_600,
        principal_tags: tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        transitive_tag_keys: Vec::new(),
        identity_policies: Vec::new(),
        session_policy: None,
        source_identity: None,
        session_token_sha256: crate::sigv4::payload_sha256_hex(b"token"),
    }
}

#[test]
fn the_request_context_carries_the_principal_and_object_keys() {
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let info = session_info(&[("eks-cluster-name", "alpha")]);
    let tags: BTreeMap<String, String> = [("Eks-Cluster-Name".to_owned(), "alpha".to_owned())].into();
    let ctx = auth::request_context(&info, "s3:GetObject", "arn:aws:s3:::data/k", Some(&tags), now);
    let key = |k: &str| ctx.key(k).map(<[String]>::to_vec);
    assert_eq!(key("aws:userid"), Some(vec!["AROAEXAMPLEROLEID0001:eks-alpha-reader-0".to_owned()]));
    assert_eq!(key("aws:PrincipalArn"), Some(vec![ROLE.to_owned()]));
    assert_eq!(key("aws:PrincipalAccount"), Some(vec![ACCT.to_owned()]));
    assert_eq!(key("aws:PrincipalTag/eks-cluster-name"), Some(vec!["alpha".to_owned()]));
    // Condition key names are case-insensitive, tag key part included (iam.md §1.6).
    assert_eq!(key("s3:ExistingObjectTag/eks-cluster-name"), Some(vec!["alpha".to_owned()]));
    assert_eq!(key("aws:CurrentTime"), Some(vec!["2027-01-15T08:00:00Z".to_owned()]));
    assert_eq!(key("aws:EpochTime"), Some(vec!["1800000000".to_owned()]));
    assert_eq!(ctx.principal, crate::iam::Principal::Aws(SESSION_ARN.into()));
    let put = auth::request_context(&info, "s3:PutObject", "arn:aws:s3:::data/k", None, now);
    assert!(put.condition_keys().keys().all(|k| !k.starts_with("s3:existingobjecttag/")));
}

#[test]
fn sessions_are_checked_for_token_and_expiry() {
    let caller = Caller::new(session_info(&[]));
    let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
    assert!(auth::check_session(&caller, Some("token"), at(1_800_003_599)).is_ok());
    let code = |t: Option<&str>, s: u64| auth::check_session(&caller, t, at(s)).unwrap_err().error.code;
    assert_eq!(code(Some("token"), 1_800_003_600), "ExpiredToken", "Expiration is exclusive");
    assert_eq!(code(Some("other"), 1_800_000_000), "InvalidToken");
    assert_eq!(code(None, 1_800_000_000), "InvalidAccessKeyId");
    assert_eq!(code(Some(""), 1_800_000_000), "InvalidAccessKeyId");
}

#[test]
fn the_session_cache_sweeps_expired_sessions_on_insert() {
    let mut cache = auth::SessionCache::default();
    let mut old = session_info(&[]);
    old.access_key_id = "ASIAOLDOLDOLDOLDOLD1".into();
    old.expiration = 100;
    cache.insert(Rc::new(Caller::new(old)), UNIX_EPOCH + Duration::from_secs(50));
    assert_eq!(cache.len(), 1);
    cache.insert(Rc::new(Caller::new(session_info(&[]))), UNIX_EPOCH + Duration::from_secs(100));
    assert_eq!(cache.len(), 1);
    assert!(cache.get("ASIAOLDOLDOLDOLDOLD1").is_none());
    assert!(cache.get("ASIAEXAMPLEEXAMPLE01").is_some());
}

#[test]
fn faults_answer_s3_errors_and_healthy_is_unchanged() {
    use crate::runtime::ServiceFault;
    let cases = [
        (ServiceFault::Outage, 503, "ServiceUnavailable"),
        (ServiceFault::Throttle { rate: 1.0 }, 503, "SlowDown"),
        // Healthy: an unsigned GetObject is S3's usual AccessDenied.
        (ServiceFault::Healthy, 403, "AccessDenied"),
    ];
    for (fault, status, code) in cases {
        let host = "s3.us-west-2.amazonaws.com";
        let cfg = S3Config::new(REGION.into(), format!("https://{STS_HOST}"));
        let state = seeded_state();
        let get = ::http::Request::get("/").body(bytes::Bytes::new()).unwrap();
        let (answers, events) = crate::testing::ask(
            host,
            fault,
            move || run(cfg.clone(), state.clone()),
            &format!("https://{host}/{BUCKET}/{ALPHA}"),
            vec![get],
        );
        let e = wire::parse_error(answers[0].status().as_u16(), answers[0].body());
        assert_eq!((e.status, e.code.as_str()), (status, code), "{fault:?}");
        let ev = events.iter().find(|e| e.kind == "s3.request").unwrap();
        let outcome = if code == "AccessDenied" { "denied" } else { "error" };
        assert_eq!((ev.str("outcome"), ev.str("error_code")), (outcome, code));
    }
}
