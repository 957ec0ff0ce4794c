//! Unit tests of the agent's pure rules: request validation, the cache, EKS Auth responses and errors.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use super::cache::*;
use super::eks_auth::*;
use super::validation::*;
use super::*;

/// 2027-01-15T08:00:00Z.
const T0: u64 = 1_800_000_000;

fn t(s: u64) -> SystemTime {
    wall(T0 + s)
}

/// An unsigned token with these claims (the agent never checks the signature).
fn jwt(header: serde_json::Value, claims: serde_json::Value) -> String {
    let enc = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.c2ln", enc(&header), enc(&claims))
}

fn pod_token(pod: &str, uid: &str, iat: u64, exp: u64) -> String {
    jwt(
        json!({"alg": "RS256", "kid": "k"}),
        json!({
            "aud": ["pods.eks.amazonaws.com"], "exp": exp, "iat": iat, "nbf": iat,
            "iss": "https://oidc.eks.us-west-2.amazonaws.com/id/X", "sub": "system:serviceaccount:shop:cart",
            "kubernetes.io": {"namespace": "shop", "pod": {"name": pod, "uid": uid}, "serviceaccount": {"name": "cart", "uid": "sa-uid"}}
        }),
    )
}

fn hosts() -> Vec<String> {
    vec![IPV4_ADDRESS.to_string(), IPV6_ADDRESS.to_string()]
}

// ---------------------------------------------------------------------------------------------
// Validation.

#[test]
fn host_check_strips_port_and_brackets() {
    for ok in ["169.254.170.23", "169.254.170.23:80", "[fd00:ec2::23]:80", "[fd00:ec2::23]", "fd00:ec2::23"] {
        assert_eq!(check_host(ok, &hosts()), Ok(()), "{ok}");
    }
    let r = check_host("localhost:80", &hosts()).unwrap_err();
    assert_eq!(r.status, 403);
    assert_eq!(
        r.message,
        "Access Denied. Called agent through invalid address, please use either [169.254.170.23 fd00:ec2::23] address not localhost"
    );
    assert_eq!(check_host("169.254.170.2", &hosts()).unwrap_err().status, 403);
    // No Host at all reads as the empty host.
    assert!(check_host("", &hosts()).unwrap_err().message.ends_with("[169.254.170.23 fd00:ec2::23] address not "));
}

#[test]
fn empty_token_is_400() {
    let r = check_token("", t(0)).unwrap_err();
    assert_eq!((r.status, r.message.as_str()), (400, "Service account token cannot be empty"));
}

#[test]
fn unparsable_tokens_are_400_with_golang_jwt_wording() {
    let cases = [
        ("a.b", "token is malformed: token contains an invalid number of segments"),
        ("a.b.c.d", "token is malformed: token contains an invalid number of segments"),
        ("Bearer x.y.z", "token is malformed: could not base64 decode header: illegal base64 data at input byte 6"),
    ];
    for (tok, detail) in cases {
        let r = check_token(tok, t(0)).unwrap_err();
        assert_eq!(r.status, 400);
        assert_eq!(r.message, format!("Service account token cannot be parsed: {detail}"), "{tok}");
    }
    let not_json = format!("{}.e30.sig", URL_SAFE_NO_PAD.encode("nope"));
    assert!(check_token(&not_json, t(0)).unwrap_err().message.starts_with("Service account token cannot be parsed: token is malformed: could not JSON decode header: "));
    let no_alg = jwt(json!({"typ": "JWT"}), json!({}));
    assert_eq!(check_token(&no_alg, t(0)).unwrap_err().message, "Service account token cannot be parsed: token is unverifiable: signing method (alg) is unspecified");
    let odd_alg = jwt(json!({"alg": "XS999"}), json!({}));
    assert_eq!(check_token(&odd_alg, t(0)).unwrap_err().message, "Service account token cannot be parsed: token is unverifiable: signing method (alg) is unavailable");
    let bad_iss = jwt(json!({"alg": "RS256"}), json!({"iss": 7}));
    assert!(check_token(&bad_iss, t(0)).unwrap_err().message.contains("could not JSON decode claim"));
    let bad_exp = jwt(json!({"alg": "RS256"}), json!({"exp": "soon"}));
    assert!(check_token(&bad_exp, t(0)).unwrap_err().message.contains("could not parse NumericData"));
    // An empty signature segment still parses (ParseUnverified ignores it).
    let unsigned = format!("{}.{}.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#), URL_SAFE_NO_PAD.encode("{}"));
    assert!(check_token(&unsigned, t(0)).is_ok());
}

#[test]
fn exp_and_nbf_are_checked_to_the_second_iat_is_not() {
    let tok = pod_token("cart-1", "uid-1", T0, T0 + 100);
    // exp: valid strictly before it.
    assert!(check_token(&tok, t(99) + Duration::from_millis(999)).is_ok());
    let r = check_token(&tok, t(100)).unwrap_err();
    assert_eq!((r.status, r.message.as_str()), (400, "Service account token failed basic claim validations: token is expired"));
    // nbf: valid from it on.
    assert_eq!(
        check_token(&tok, t(0) - Duration::from_millis(1)).unwrap_err().message,
        "Service account token failed basic claim validations: token is not valid yet"
    );
    assert!(check_token(&tok, t(0)).is_ok());
    // Both wrong at once: joined like golang-jwt's joinedError.
    let odd = jwt(json!({"alg": "RS256"}), json!({"exp": T0, "nbf": T0 + 10}));
    assert_eq!(check_token(&odd, t(5)).unwrap_err().message, "Service account token failed basic claim validations: token is expired, token is not valid yet");
    // iat in the future and no exp at all: fine. Fractional exp is truncated.
    assert!(check_token(&jwt(json!({"alg": "RS256"}), json!({"iat": T0 + 999})), t(0)).is_ok());
    let frac = jwt(json!({"alg": "RS256"}), json!({"exp": (T0 + 10) as f64 + 0.9}));
    assert!(check_token(&frac, t(10)).is_err());
}

#[test]
fn identity_comes_from_the_kubernetes_claims() {
    let who = check_token(&pod_token("cart-1", "uid-1", T0, T0 + 100), t(1)).unwrap();
    assert_eq!(who, TokenIdentity { pod: "cart-1".into(), pod_uid: "uid-1".into(), namespace: "shop".into(), service_account: "cart".into() });
}

// ---------------------------------------------------------------------------------------------
// Cache.

fn rules() -> CacheRules {
    CacheRules {
        key: CacheKey::Token,
        max_credential_retention_before_renewal: Duration::from_secs(3 * 3600),
        entries_max: 3,
        credential_ttl_min: Duration::from_secs(15),
        renewal_retry_interval: Duration::from_secs(60),
        keep_expired: false,
    }
}

fn creds(akid: &str, exp: SystemTime) -> AgentCredentials {
    AgentCredentials { access_key_id: akid.into(), secret_access_key: "s".into(), token: "st".into(), account_id: "111122223333".into(), expiration: exp }
}

fn who(pod: &str) -> TokenIdentity {
    TokenIdentity { pod: pod.into(), pod_uid: format!("uid-{pod}"), namespace: "shop".into(), service_account: "cart".into() }
}

fn store(c: &mut CredentialCache, key: &str, exp: SystemTime, now: SystemTime) -> Result<Option<Evicted>, f64> {
    c.store(key, creds(&format!("AK-{key}"), exp), key, &who(key), "a-1", now)
}

#[test]
fn renewal_is_due_at_min_of_ttl_and_three_hours() {
    let mut c = CredentialCache::new(rules());
    // 6 h credentials: renew 3 h after the fetch, evict at expiry.
    store(&mut c, "six", t(6 * 3600), t(0)).unwrap();
    let e = c.peek("six").unwrap();
    assert_eq!((e.refresh_at, e.evict_at), (t(3 * 3600), t(6 * 3600)));
    // 59 min credentials (target role): renewal time = expiry.
    store(&mut c, "fiftynine", t(59 * 60), t(0)).unwrap();
    assert_eq!(c.peek("fiftynine").unwrap().refresh_at, t(59 * 60));
    // Due strictly after the renewal time, oldest store first.
    let due: Vec<String> = c.due_for_renewal(t(59 * 60)).into_iter().map(|(k, _)| k).collect();
    assert!(due.is_empty());
    let due: Vec<String> = c.due_for_renewal(t(3 * 3600)).into_iter().map(|(k, _)| k).collect();
    assert_eq!(due, ["fiftynine"]);
    let due: Vec<String> = c.due_for_renewal(t(4 * 3600)).into_iter().map(|(k, _)| k).collect();
    assert_eq!(due, ["six", "fiftynine"]);
    assert_eq!(c.earliest_due(), Some(t(59 * 60)));
}

#[test]
fn nothing_is_stored_or_served_with_15_s_or_less_left() {
    let mut c = CredentialCache::new(rules());
    assert_eq!(store(&mut c, "a", t(15), t(0)).unwrap_err(), 15.0);
    assert_eq!(store(&mut c, "a", t(10), t(0)).unwrap_err(), 10.0);
    assert!(c.is_empty());
    store(&mut c, "a", t(100), t(0)).unwrap();
    assert!(matches!(c.lookup("a", "a", t(84)), Lookup::Hit { stale: false, .. }));
    // 15 s left: deleted on sight, and the request goes to EKS Auth.
    match c.lookup("a", "a", t(85)) {
        Lookup::TooOld(ev) => assert_eq!(ev.reason, EvictReason::MinTtl),
        other => panic!("{other:?}"),
    }
    assert!(c.is_empty());
}

#[test]
fn lru_evicts_the_least_recently_stored_not_the_least_read() {
    let mut c = CredentialCache::new(rules());
    for k in ["a", "b", "c"] {
        assert!(store(&mut c, k, t(3600), t(0)).unwrap().is_none());
    }
    // Reading "a" does not protect it; re-storing "b" does.
    assert!(matches!(c.lookup("a", "a", t(1)), Lookup::Hit { .. }));
    store(&mut c, "b", t(3600), t(1)).unwrap();
    let ev = store(&mut c, "d", t(3600), t(2)).unwrap().unwrap();
    assert_eq!((ev.key.as_str(), ev.reason), ("a", EvictReason::Capacity));
    let ev = store(&mut c, "e", t(3600), t(2)).unwrap().unwrap();
    assert_eq!(ev.key, "c");
    assert_eq!(c.len(), 3);
}

#[test]
fn failed_renewal_keeps_with_jittered_retry_or_drops_on_irrecoverable() {
    let mut c = CredentialCache::new(rules());
    store(&mut c, "a", t(6 * 3600), t(0)).unwrap();
    let (key, entry) = c.due_for_renewal(t(3 * 3600 + 30)).remove(0);
    let now = t(3 * 3600 + 31);
    // Recoverable: kept, retried after 1 min + jitter, served as stale meanwhile.
    let (out, overflow) = c.after_failed_renewal(&key, &entry, false, Duration::from_secs(42), now);
    assert!(overflow.is_none());
    match out {
        KeepOutcome::Kept { retry_at } => assert_eq!(retry_at, now + Duration::from_secs(102)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(c.lookup("a", "a", now), Lookup::Hit { stale: true, .. }));
    assert_eq!(c.peek("a").unwrap().evict_at, t(6 * 3600));
    // Near expiry the retry comes no later than the expiry.
    let entry = c.peek("a").unwrap().clone();
    let late = t(6 * 3600 - 30);
    match c.after_failed_renewal("a", &entry, false, Duration::from_secs(59), late).0 {
        KeepOutcome::Kept { retry_at } => assert_eq!(retry_at, t(6 * 3600)),
        other => panic!("{other:?}"),
    }
    // With 15 s or less left nothing changes: the entry stays due and expires.
    let entry = c.peek("a").unwrap().clone();
    assert!(matches!(c.after_failed_renewal("a", &entry, false, Duration::ZERO, t(6 * 3600 - 15)).0, KeepOutcome::TooOld));
    // Irrecoverable: dropped.
    match c.after_failed_renewal("a", &entry, true, Duration::ZERO, t(4 * 3600)).0 {
        KeepOutcome::Dropped(ev) => assert_eq!(ev.reason, EvictReason::Irrecoverable),
        other => panic!("{other:?}"),
    }
    assert!(c.is_empty());
}

#[test]
fn sweep_evicts_strictly_after_expiry() {
    let mut c = CredentialCache::new(rules());
    store(&mut c, "a", t(100), t(0)).unwrap();
    assert!(c.evict_expired(t(100)).is_empty());
    let ev = c.evict_expired(t(101));
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].reason, EvictReason::Expired);
}

#[test]
fn pod_uid_key_serves_only_the_same_token() {
    let mut c = CredentialCache::new(CacheRules { key: CacheKey::PodUid, ..rules() });
    let w = who("p");
    assert_eq!(c.key_for("tok-1", &w).unwrap(), "uid-p");
    c.store("uid-p", creds("AK1", t(3600)), "tok-1", &w, "a-1", t(0)).unwrap();
    assert!(matches!(c.lookup("uid-p", "tok-1", t(1)), Lookup::Hit { .. }));
    // A rotated token for the same pod: a miss, and its fetch replaces the entry (one per pod).
    assert!(matches!(c.lookup("uid-p", "tok-2", t(1)), Lookup::Miss));
    c.store("uid-p", creds("AK2", t(3600)), "tok-2", &w, "a-1", t(2)).unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c.peek("uid-p").unwrap().token, "tok-2");
    assert!(c.key_for("t", &TokenIdentity::default()).is_err());
}

#[test]
fn in_flight_marks_are_bounded() {
    let mut f = InFlight::new(2);
    f.mark("a");
    f.mark("a");
    f.mark("b");
    f.mark("c");
    assert!(!f.contains("a") && f.contains("b") && f.contains("c"));
    f.unmark("b");
    assert_eq!(f.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// EKS Auth.

const OK: &str = r#"{"subject":{"namespace":"shop","serviceAccount":"cart"},"audience":"pods.eks.amazonaws.com",
 "podIdentityAssociation":{"associationArn":"arn:aws:eks:us-west-2:111122223333:podidentityassociation/c/a-1","associationId":"a-1"},
 "assumedRoleUser":{"arn":"arn:aws:sts::444455556666:assumed-role/cart/eks-c-cart-1-uuid","assumeRoleId":"AROA:eks-c-cart-1-uuid"},
 "credentials":{"sessionToken":"st","secretAccessKey":"sk","accessKeyId":"ASIAPOD","expiration":1800021600.1234}}"#;

#[test]
fn parses_success_and_formats_the_sdk_reply() {
    let f = parse_response(200, "rid", None, OK.as_bytes()).unwrap();
    assert_eq!(f.association_id, "a-1");
    assert_eq!(f.credentials.account_id, "444455556666");
    // Epoch seconds to milliseconds, truncated; RFC3339Nano trims trailing zeros.
    assert_eq!(
        f.credentials.to_json(),
        r#"{"AccessKeyId":"ASIAPOD","SecretAccessKey":"sk","Token":"st","AccountId":"444455556666","Expiration":"2027-01-15T14:00:00.123Z"}"#
    );
    assert_eq!(rfc3339_nano(t(0)), "2027-01-15T08:00:00Z");
    assert_eq!(rfc3339_nano(t(0) + Duration::from_nanos(1_500)), "2027-01-15T08:00:00.0000015Z");
    let no_account = AgentCredentials { account_id: String::new(), ..f.credentials };
    assert!(!no_account.to_json().contains("AccountId"));
}

#[test]
fn bad_success_bodies() {
    let e = parse_response(200, "rid", None, br#"{"credentials":{}}"#).unwrap_err();
    assert_eq!((e.http_status(), e.body(false).as_str()), (500, "invalid response from server: credentials or assumed role empty"));
    let bad_arn = OK.replace("arn:aws:sts::444455556666:assumed-role", "sts::x");
    let e = parse_response(200, "rid", None, bad_arn.as_bytes()).unwrap_err();
    assert_eq!(e.body(true), "error getting credentials to cache: unable to parse arn from assumed role: arn: invalid prefix");
    assert_eq!(parse_arn_account("arn:aws:sts::1"), Err("arn: not enough sections"));
    // An undecodable 200 keeps its status: the agent answers 200 with the request id only.
    let e = parse_response(200, "rid", None, b"<html>").unwrap_err();
    assert_eq!((e.http_status(), e.body(true).as_str()), (200, "[rid]"));
}

#[test]
fn service_errors_pass_status_and_code_through() {
    let cases = [
        (400, "AccessDeniedException", "client", true, false),
        (400, "ExpiredTokenException", "client", true, false),
        (400, "InvalidTokenException", "client", true, false),
        (400, "InvalidParameterException", "client", false, false),
        (400, "InvalidRequestException", "client", false, false),
        (404, "ResourceNotFoundException", "client", true, false),
        (429, "ThrottlingException", "client", false, true),
        (500, "InternalServerException", "server", false, true),
        (503, "ServiceUnavailableException", "server", false, true),
    ];
    for (status, code, fault, irrecoverable, retryable) in cases {
        let body = json!({"message": "the message"}).to_string();
        let e = parse_response(status, "req-1", Some(&format!("{code}:http://internal.amazon.com/coral/")), body.as_bytes()).unwrap_err();
        assert_eq!(e.http_status(), status);
        assert_eq!(e.body(true), format!("[req-1]: ({code}): the message, fault: {fault}"));
        assert_eq!(e.code(), code);
        assert_eq!(e.is_irrecoverable(), irrecoverable, "{code}");
        assert_eq!(e.is_retryable(), retryable, "{code}");
    }
    // Code from the body when the header is absent; unknown codes have fault unknown.
    let e = parse_response(400, "r", None, br#"{"__type":"com.amazon#InvalidTokenException","message":"bad"}"#).unwrap_err();
    assert_eq!(e.code(), "InvalidTokenException");
    let e = parse_response(502, "r", None, b"").unwrap_err();
    assert_eq!((e.body(false).as_str(), e.is_retryable()), ("[r]: (UnknownError): UnknownError, fault: unknown", true));
}

#[test]
fn transport_failures_are_500_and_retried() {
    let e = transport(&crate::http::HttpError::ConnectTimeout("eks-auth.us-west-2.api.aws:443".into()));
    assert_eq!((e.http_status(), e.body(true).as_str()), (500, "[]"));
    assert!(e.is_retryable() && e.is_timeout() && !e.is_irrecoverable());
    assert_eq!(e.code(), "connect_timeout");
    let nx = transport(&crate::http::HttpError::Connect { addr: "x:443".into(), kind: std::io::ErrorKind::NotFound });
    assert!(!nx.is_retryable());
    let too_short = FetchError::TooShort { remaining_s: 9.987 };
    assert_eq!((too_short.http_status(), too_short.body(true).as_str()), (500, "fetched credentials are expired or will expire within the next 9.99 seconds"));
    let q = FetchError::QuotaExceeded { available: 3, cost: 5, last_code: "InternalServerException".into() };
    assert_eq!(q.http_status(), 500);
    assert!(q.body(true).starts_with("error getting credentials to cache: unable to fetch credentials from EKS Auth: operation error EKS Auth: AssumeRoleForPodIdentity, failed to get rate limit token, retry quota exceeded, 3 available, 5 requested"));
}

#[test]
fn backoff_and_quota_follow_the_standard_retryer() {
    assert_eq!(backoff(1, Duration::from_secs(20), 0.5), Duration::from_secs(1));
    assert_eq!(backoff(2, Duration::from_secs(20), 0.99), Duration::from_secs(4).mul_f64(0.99));
    assert_eq!(backoff(5, Duration::from_secs(20), 0.1), Duration::from_secs(20));
    let mut q = RetryQuota::new(12);
    assert!(q.take(10));
    assert!(!q.take(5));
    q.give(100);
    assert_eq!(q.available(), 12);
}

#[test]
fn request_body_and_path() {
    assert_eq!(request_path("prod"), "/clusters/prod/assume-role-for-pod-identity");
    assert_eq!(request_body("a.b.c"), r#"{"token":"a.b.c"}"#);
}

// ---------------------------------------------------------------------------------------------
// Configuration and the sweep's ticks.

#[test]
fn config_defaults_and_startup_checks() {
    let c = PodIdentityAgentConfig::new("prod", "us-west-2");
    assert_eq!(c.eks_auth_url, "https://eks-auth.us-west-2.api.aws");
    assert!(c.cache_enabled() && c.validate().is_ok());
    assert_eq!(c.clone().with_ipv6().bind_hosts, ["169.254.170.23", "[fd00:ec2::23]"]);
    let off = PodIdentityAgentConfig { max_credential_retention_s: 0, ..c.clone() };
    assert!(!off.cache_enabled());
    let off = PodIdentityAgentConfig { cache_entries_max: 0, ..c.clone() };
    assert!(!off.cache_enabled());
    // 3 QPS × 10 s < 2000 / 2: upstream panics at start-up.
    let tight = PodIdentityAgentConfig { max_credential_retention_s: 10, ..c.clone() };
    assert!(tight.validate().unwrap_err().starts_with("Refresh QPS is too small (3)"));
    assert!(PodIdentityAgentConfig::new("", "us-west-2").validate().is_err());
}

#[test]
fn next_tick_is_strictly_after() {
    let start = tokio::time::Instant::now();
    let p = Duration::from_secs(60);
    assert_eq!(next_tick(start, p, start), start + p);
    assert_eq!(next_tick(start, p, start + Duration::from_secs(59)), start + p);
    assert_eq!(next_tick(start, p, start + p), start + 2 * p);
    assert_eq!(next_tick(start, p, start + Duration::from_secs(3 * 3600 + 1)), start + Duration::from_secs(3 * 3600 + 60));
}
