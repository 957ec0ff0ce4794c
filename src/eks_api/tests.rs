//! Unit tests of the EKS API's rules, without a network.

use super::model::{association_id, is_association_id, PodIdentityAssociation};
use super::validate::{self, CreateRequest, UpdateRequest};
use super::wire::epoch_seconds;
use super::*;

const ROLE: &str = "arn:aws:iam::111122223333:role/app";
const T0: u64 = 1_800_000_000_000;

fn cfg() -> EksApiConfig {
    EksApiConfig::default()
}

fn state() -> EksApiState {
    let mut s = EksApiState::default();
    s.add_cluster("prod", "arn:aws:eks:us-west-2:111122223333:cluster/prod");
    s
}

/// Ids `a-00000000000000001`, `a-00000000000000002`, …
fn ids() -> impl FnMut() -> String {
    let mut n = 0u64;
    move || {
        n += 1;
        format!("a-{n:017}")
    }
}

fn create_req(ns: &str, sa: &str) -> CreateRequest {
    validate::create(format!(r#"{{"namespace":"{ns}","serviceAccount":"{sa}","roleArn":"{ROLE}"}}"#).as_bytes(), &cfg()).unwrap()
}

fn create(s: &mut EksApiState, ns: &str, sa: &str, now: u64, ids: &mut dyn FnMut() -> String) -> Result<PodIdentityAssociation, EksError> {
    s.create(&cfg(), "prod", create_req(ns, sa), now, ids)
}

fn err_of(body: &str) -> EksError {
    validate::create(body.as_bytes(), &cfg()).unwrap_err()
}

#[test]
fn association_ids_are_a_dash_and_17_lowercase_alphanumerics() {
    let id = association_id((0..17).map(|i| i * 7));
    assert_eq!(id.len(), 19);
    assert!(is_association_id(&id), "{id}");
    assert!(is_association_id("a-8mvwvh57cu74mgcst"), "real id from the AWS CLI examples");
    assert!(!is_association_id("a-8MVWVH57CU74MGCST"));
    assert!(!is_association_id("b-8mvwvh57cu74mgcst"));
    assert!(!is_association_id("a-8mvwvh57cu74mgcs"));
}

#[test]
fn create_builds_the_documented_arn_and_shape() {
    let mut s = state();
    let a = create(&mut s, "default", "default", T0 + 961, &mut ids()).unwrap();
    assert_eq!(a.association_arn, "arn:aws:eks:us-west-2:111122223333:podidentityassociation/prod/a-00000000000000001");
    let v = a.to_json();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "clusterName",
            "namespace",
            "serviceAccount",
            "roleArn",
            "associationArn",
            "associationId",
            "tags",
            "createdAt",
            "modifiedAt",
            "disableSessionTags"
        ]
    );
    assert_eq!(v["tags"], serde_json::json!({}));
    assert_eq!(v["createdAt"].to_string(), "1800000000.961");
    let summary = a.summary_json();
    assert!(summary.get("roleArn").is_none() && summary.get("createdAt").is_none());
}

#[test]
fn timestamps_are_epoch_seconds_numbers() {
    assert_eq!(epoch_seconds(1_700_862_734_922).to_string(), "1700862734.922");
    assert_eq!(epoch_seconds(1_700_862_734_000).to_string(), "1700862734");
}

#[test]
fn missing_and_mistyped_parameters_are_invalid_parameter() {
    let e = err_of(r#"{"serviceAccount":"sa","roleArn":"arn:aws:iam::111122223333:role/app"}"#);
    assert_eq!((e.code, e.status), ("InvalidParameterException", 400));
    assert_eq!(e.message, "The parameter namespace is required.");
    let e = err_of(r#"{"namespace":"ns","serviceAccount":7,"roleArn":"arn:aws:iam::111122223333:role/app"}"#);
    assert_eq!(e.message, "The parameter serviceAccount must be a string.");
    let e = err_of(r#"{"namespace":"ns","serviceAccount":"sa","#);
    assert!(e.message.starts_with("The request body is not valid JSON"), "{}", e.message);
    assert_eq!(err_of("[1]").code, "InvalidParameterException");
    assert_eq!(err_of("").message, "The parameter namespace is required.");
}

#[test]
fn role_arns_are_checked_for_shape_and_account() {
    let e = err_of(r#"{"namespace":"ns","serviceAccount":"sa","roleArn":"arn:aws:iam::111122223333:user/bob"}"#);
    assert!(e.message.contains("not a valid IAM role ARN"), "{}", e.message);
    let e = err_of(r#"{"namespace":"ns","serviceAccount":"sa","roleArn":"arn:aws:iam::444455556666:role/app"}"#);
    assert!(e.message.contains("cluster's account 111122223333"), "{}", e.message);
    // A target role may be in any account.
    let ok = validate::create(
        br#"{"namespace":"ns","serviceAccount":"sa","roleArn":"arn:aws:iam::111122223333:role/app","targetRoleArn":"arn:aws:iam::444455556666:role/t"}"#,
        &cfg(),
    )
    .unwrap();
    assert_eq!(ok.target_role_arn.as_deref(), Some("arn:aws:iam::444455556666:role/t"));
    let e = err_of(r#"{"namespace":"ns","serviceAccount":"sa","roleArn":"arn:aws:iam::111122223333:role/app","targetRoleArn":"nope"}"#);
    assert!(e.message.starts_with("The parameter targetRoleArn"), "{}", e.message);
    // Roles with a path are roles.
    validate::role_arn("roleArn", "arn:aws:iam::111122223333:role/test/example", "aws", Some("111122223333")).unwrap();
}

#[test]
fn kubernetes_names_are_checked() {
    let e = err_of(r#"{"namespace":"Prod","serviceAccount":"sa","roleArn":"arn:aws:iam::111122223333:role/app"}"#);
    assert!(e.message.starts_with("The parameter namespace must be a valid Kubernetes name"), "{}", e.message);
    let e = err_of(r#"{"namespace":"a.b","serviceAccount":"sa","roleArn":"arn:aws:iam::111122223333:role/app"}"#);
    assert!(e.message.contains("namespace"), "a namespace is a label, no dots");
    validate::create(br#"{"namespace":"ns","serviceAccount":"my.sa-1","roleArn":"arn:aws:iam::111122223333:role/app"}"#, &cfg()).unwrap();
}

#[test]
fn policy_needs_session_tags_disabled_and_a_valid_document_within_the_limit() {
    let pol = r#"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"*\"}]}"#;
    let base = r#""namespace":"ns","serviceAccount":"sa","roleArn":"arn:aws:iam::111122223333:role/app""#;
    let e = err_of(&format!(r#"{{{base},"policy":"{pol}"}}"#));
    assert_eq!(e.message, "The parameter disableSessionTags must be true when a policy is specified.");
    let ok = validate::create(format!(r#"{{{base},"policy":"{pol}","disableSessionTags":true}}"#).as_bytes(), &cfg()).unwrap();
    assert!(ok.policy.is_some() && ok.disable_session_tags);
    let e = err_of(&format!(r#"{{{base},"policy":"{{\"Statement\":5}}","disableSessionTags":true}}"#));
    assert!(e.message.starts_with("The parameter policy is not a valid IAM policy document"), "{}", e.message);
    let mut c = cfg();
    c.policy_chars_max = 20;
    let e = validate::create(format!(r#"{{{base},"policy":"{pol}","disableSessionTags":true}}"#).as_bytes(), &c).unwrap_err();
    assert_eq!(e.message, "The parameter policy must be at most 20 characters long.");
}

#[test]
fn tags_follow_the_model_limits() {
    let base = r#""namespace":"ns","serviceAccount":"sa","roleArn":"arn:aws:iam::111122223333:role/app""#;
    let many: Vec<String> = (0..51).map(|i| format!(r#""k{i}":"v""#)).collect();
    let e = err_of(&format!(r#"{{{base},"tags":{{{}}}}}"#, many.join(",")));
    assert_eq!(e.message, "The parameter tags must have at most 50 entries.");
    let e = err_of(&format!(r#"{{{base},"tags":{{"{}":"v"}}}}"#, "k".repeat(129)));
    assert!(e.message.contains("1-128"), "{}", e.message);
    let e = err_of(&format!(r#"{{{base},"tags":{{"k":"{}"}}}}"#, "v".repeat(257)));
    assert!(e.message.contains("256"), "{}", e.message);
    let e = err_of(&format!(r#"{{{base},"tags":{{"aws:team":"x"}}}}"#));
    assert!(e.message.contains("reserved"), "{}", e.message);
    let ok = validate::create(format!(r#"{{{base},"tags":{{"team":"payments"}}}}"#).as_bytes(), &cfg()).unwrap();
    assert_eq!(ok.tags.get("team").map(String::as_str), Some("payments"));
}

#[test]
fn one_association_per_service_account_then_409() {
    let mut s = state();
    let mut ids = ids();
    let first = create(&mut s, "ns", "sa", T0, &mut ids).unwrap();
    let e = create(&mut s, "ns", "sa", T0 + 1, &mut ids).unwrap_err();
    assert_eq!((e.code, e.status), ("ResourceInUseException", 409));
    assert_eq!(e.message, format!("Association already exists: {}", first.association_id));
    // Another service account, or the same one in another namespace, is fine.
    create(&mut s, "ns", "other", T0, &mut ids).unwrap();
    create(&mut s, "ns2", "sa", T0, &mut ids).unwrap();
}

#[test]
fn unknown_cluster_and_association_are_404() {
    let mut s = state();
    let e = s.create(&cfg(), "nope", create_req("ns", "sa"), T0, &mut ids()).unwrap_err();
    assert_eq!((e.code, e.status, e.message.as_str()), ("ResourceNotFoundException", 404, "No cluster found for name: nope."));
    let e = s.describe("prod", "a-zzzzzzzzzzzzzzzzz").unwrap_err();
    assert_eq!((e.code, e.status), ("ResourceNotFoundException", 404));
    let e = s.delete(&cfg(), "prod", "a-123", T0).unwrap_err();
    assert_eq!((e.code, e.message.as_str()), ("InvalidParameterException", "The parameter associationId should be 19 characters long."));
}

#[test]
fn the_limit_is_per_cluster_and_frees_up_on_delete() {
    let mut c = cfg();
    c.associations_per_cluster_max = 2;
    let mut s = state();
    s.add_cluster("dev", "arn:aws:eks:us-west-2:111122223333:cluster/dev");
    let mut ids = ids();
    let a = s.create(&c, "prod", create_req("ns", "a"), T0, &mut ids).unwrap();
    s.create(&c, "prod", create_req("ns", "b"), T0, &mut ids).unwrap();
    let e = s.create(&c, "prod", create_req("ns", "c"), T0, &mut ids).unwrap_err();
    assert_eq!((e.code, e.status), ("ResourceLimitExceededException", 400));
    s.create(&c, "dev", create_req("ns", "c"), T0, &mut ids).unwrap();
    s.delete(&c, "prod", &a.association_id, T0).unwrap();
    s.create(&c, "prod", create_req("ns", "c"), T0, &mut ids).unwrap();
}

#[test]
fn client_request_tokens_make_create_idempotent() {
    let mut s = state();
    let mut ids = ids();
    let body = |sa: &str| {
        validate::create(
            format!(r#"{{"namespace":"ns","serviceAccount":"{sa}","roleArn":"{ROLE}","clientRequestToken":"tok-1"}}"#).as_bytes(),
            &cfg(),
        )
        .unwrap()
    };
    let a = s.create(&cfg(), "prod", body("sa"), T0, &mut ids).unwrap();
    let again = s.create(&cfg(), "prod", body("sa"), T0 + 5, &mut ids).unwrap();
    assert_eq!(a, again, "a retry with the same token replays the first answer, not a 409");
    let e = s.create(&cfg(), "prod", body("other"), T0 + 5, &mut ids).unwrap_err();
    assert_eq!(e.code, "InvalidParameterException");
    assert_eq!(s.associations("prod").len(), 1);
}

#[test]
fn update_merges_and_rechecks_the_policy_rule() {
    let mut s = state();
    let a = create(&mut s, "ns", "sa", T0, &mut ids()).unwrap();
    let id = a.association_id.clone();
    let e = validate::update(b"{}", &cfg()).unwrap_err();
    assert!(e.message.starts_with("An update must change at least one"), "{}", e.message);
    let target = "arn:aws:iam::444455556666:role/t";
    let u = validate::update(format!(r#"{{"targetRoleArn":"{target}"}}"#).as_bytes(), &cfg()).unwrap();
    let b = s.update(&cfg(), "prod", &id, u, T0 + 1000).unwrap();
    assert_eq!(b.target_role_arn.as_deref(), Some(target));
    assert_eq!(b.external_id.as_deref(), Some("us-west-2/111122223333/prod/ns/sa"));
    assert_eq!((b.created_at_ms, b.modified_at_ms), (T0, T0 + 1000));
    // A policy on an association with session tags on is refused; with them off it is accepted.
    let pol = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    let u = UpdateRequest { policy: Some(pol.into()), ..Default::default() };
    assert_eq!(s.update(&cfg(), "prod", &id, u.clone(), T0).unwrap_err().code, "InvalidParameterException");
    let u = UpdateRequest { policy: Some(pol.into()), disable_session_tags: Some(true), ..Default::default() };
    assert_eq!(s.update(&cfg(), "prod", &id, u, T0).unwrap().policy.as_deref(), Some(pol));
    // An empty string clears the target role (and its external id).
    let u = UpdateRequest { target_role_arn: Some(String::new()), ..Default::default() };
    let c = s.update(&cfg(), "prod", &id, u, T0).unwrap();
    assert_eq!((c.target_role_arn, c.external_id), (None, None));
    assert_eq!(s.describe("prod", &id).unwrap().policy.as_deref(), Some(pol));
}

#[test]
fn list_filters_and_pages_in_creation_order() {
    let mut s = state();
    let mut ids = ids();
    for (ns, sa) in [("a", "x"), ("b", "x"), ("a", "y"), ("a", "z"), ("c", "x")] {
        create(&mut s, ns, sa, T0, &mut ids).unwrap();
    }
    let q = |query: &str| validate::list_query(Some(query), &cfg()).unwrap();
    let subjects = |page: &[PodIdentityAssociation]| page.iter().map(|a| format!("{}/{}", a.namespace, a.service_account)).collect::<Vec<_>>();
    let (page, next) = s.list("prod", &q("namespace=a&maxResults=2")).unwrap();
    assert_eq!(subjects(&page), ["a/x", "a/y"]);
    let next = next.expect("a third match exists");
    let (page, last) = s.list("prod", &q(&format!("namespace=a&maxResults=2&nextToken={next}"))).unwrap();
    assert_eq!((subjects(&page), last), (vec!["a/z".to_string()], None));
    let (page, _) = s.list("prod", &q("serviceAccount=x")).unwrap();
    assert_eq!(subjects(&page), ["a/x", "b/x", "c/x"]);
    // Exactly max_results matches: no next token.
    let (page, next) = s.list("prod", &q("serviceAccount=x&maxResults=3")).unwrap();
    assert_eq!((page.len(), next), (3, None));
    for bad in ["maxResults=0", "maxResults=101", "maxResults=x", "nextToken=garbage"] {
        let e = validate::list_query(Some(bad), &cfg()).unwrap_err();
        assert_eq!(e.code, "InvalidParameterException", "{bad}");
    }
}

#[test]
fn changes_become_visible_only_after_the_delay_in_order() {
    let c = cfg(); // 5 s
    let mut s = state();
    let mut ids = ids();
    let a = s.create(&c, "prod", create_req("ns", "sa"), T0, &mut ids).unwrap();
    assert!(s.apply_due(T0 + 4_999).is_empty());
    assert_eq!(s.propagated("prod").unwrap().len(), 0);
    assert_eq!(s.next_due_ms(), Some(T0 + 5_000));
    let applied = s.apply_due(T0 + 5_000);
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0].kind, ChangeKind::Created);
    assert_eq!(s.propagated("prod").unwrap()[0].role_arn, ROLE);

    let other = "arn:aws:iam::111122223333:role/other";
    let u = UpdateRequest { role_arn: Some(other.into()), ..Default::default() };
    s.update(&c, "prod", &a.association_id, u, T0 + 6_000).unwrap();
    s.delete(&c, "prod", &a.association_id, T0 + 7_000).unwrap();
    assert_eq!(s.describe("prod", &a.association_id).unwrap_err().code, "ResourceNotFoundException", "the API itself is consistent");
    s.apply_due(T0 + 10_999);
    assert_eq!(s.propagated("prod").unwrap()[0].role_arn, ROLE, "the update is not due yet");
    s.apply_due(T0 + 11_000);
    assert_eq!(s.propagated("prod").unwrap()[0].role_arn, other);
    s.apply_due(T0 + 11_999);
    assert_eq!(s.propagated("prod").unwrap().len(), 1, "the deletion is not due yet");
    let applied = s.apply_due(T0 + 12_000);
    assert_eq!(applied[0].kind, ChangeKind::Deleted);
    assert!(s.propagated("prod").unwrap().is_empty());
    assert_eq!(s.pending_changes(), 0);
}

#[test]
fn propagated_json_omits_absent_optionals() {
    let mut c = cfg();
    c.propagation_delay_ms = 0;
    let mut s = state();
    s.create(&c, "prod", create_req("ns", "sa"), T0, &mut ids()).unwrap();
    s.apply_due(T0);
    let v = s.propagated_json("prod").unwrap();
    let a = &v["associations"][0];
    assert_eq!(a["disableSessionTags"], false);
    assert!(a.get("targetRoleArn").is_none() && a.get("policy").is_none() && a.get("externalId").is_none());
    let back: PropagatedView = serde_json::from_value(v).unwrap();
    assert_eq!(back.associations[0].namespace, "ns");
}

#[test]
fn routes() {
    use ::http::Method;
    assert_eq!(Route::of(&Method::POST, "/clusters/c/pod-identity-associations"), Route::Create("c".into()));
    assert_eq!(Route::of(&Method::GET, "/clusters/c/pod-identity-associations"), Route::List("c".into()));
    assert_eq!(Route::of(&Method::GET, "/clusters/c/pod-identity-associations/a-1"), Route::Describe("c".into(), "a-1".into()));
    assert_eq!(Route::of(&Method::POST, "/clusters/c/pod-identity-associations/a-1"), Route::Update("c".into(), "a-1".into()));
    assert_eq!(Route::of(&Method::DELETE, "/clusters/c/pod-identity-associations/a-1"), Route::Delete("c".into(), "a-1".into()));
    assert_eq!(Route::of(&Method::GET, "/credsim-internal/clusters/c/pod-identity-associations"), Route::Internal("c".into()));
    assert_eq!(Route::of(&Method::PUT, "/clusters/c/pod-identity-associations"), Route::Unknown);
    assert_eq!(Route::of(&Method::GET, "/clusters/c"), Route::Unknown);
}

#[test]
fn a_clock_stepping_back_never_reorders_propagation() {
    // A clock-skew fault can step the EKS host's wall clock back between two writes.
    let c = cfg(); // 5 s
    let mut s = state();
    let mut ids = ids();
    let a = s.create(&c, "prod", create_req("ns", "sa"), T0 + 1_000, &mut ids).unwrap();
    let other = "arn:aws:iam::111122223333:role/other";
    let u = UpdateRequest { role_arn: Some(other.into()), ..Default::default() };
    s.update(&c, "prod", &a.association_id, u, T0).unwrap();
    s.check_invariants(&c);
    // The update is due at T0 + 5 s, but the creation made before it is not due until T0 + 6 s.
    assert!(s.apply_due(T0 + 5_000).is_empty(), "the update waits for the creation made before it");
    let applied = s.apply_due(T0 + 6_000);
    assert_eq!(applied.iter().map(|c| c.kind).collect::<Vec<_>>(), [ChangeKind::Created, ChangeKind::Updated]);
    assert_eq!(s.propagated("prod").unwrap()[0].role_arn, other);
}

/// The actor over HTTP on the simulator: wire shapes, error headers, and propagation in simulated time.
mod on_the_simulator {
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::time::Duration;

    use bytes::Bytes;
    use serde_json::Value;
    use sim::{Event, Sim, SimConfig};

    use super::super::*;
    use crate::http::{HttpClient, Timeouts};

    const HOST: &str = "eks.us-west-2.amazonaws.com";

    /// Status, `x-amzn-errortype` (empty on success) and JSON body.
    type Answer = (u16, String, Value);

    async fn call(http: &HttpClient, method: &str, path: &str, body: Option<Value>) -> Answer {
        let mut b = ::http::Request::builder().method(method).uri("/");
        if body.is_some() {
            b = b.header("content-type", "application/json");
        }
        let bytes = body.map(|v| Bytes::from(v.to_string())).unwrap_or_default();
        let resp = http.send(&format!("https://{HOST}{path}"), b.body(bytes).unwrap(), Timeouts::default()).await.unwrap();
        assert!(resp.headers().contains_key("x-amzn-requestid") || path.starts_with(INTERNAL_PREFIX), "{path}");
        let kind = resp.headers().get("x-amzn-errortype").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let json = serde_json::from_slice(resp.body()).unwrap_or(Value::Null);
        (resp.status().as_u16(), kind, json)
    }

    /// Runs `script` on a client host next to the EKS API (cluster `prod`, default config).
    fn simulate<F, Fut>(script: F) -> (Vec<Answer>, Vec<Event>)
    where
        F: FnOnce(Rc<HttpClient>) -> Fut + 'static,
        Fut: std::future::Future<Output = Vec<Answer>> + 'static,
    {
        let mut world = Sim::new(SimConfig::new(3));
        let state = EksApiState::new();
        state.borrow_mut().add_cluster("prod", "arn:aws:eks:us-west-2:111122223333:cluster/prod");
        let h = world.add_host(HOST);
        world.add_software(h, move || run(EksApiConfig::default(), state.clone()));
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
        let out = world.run(async move { tokio::time::timeout(Duration::from_secs(3600), rx).await.unwrap().unwrap() });
        (out, world.take_events())
    }

    #[test]
    fn create_conflict_propagation_and_delete_over_http() {
        let base = "/clusters/prod/pod-identity-associations";
        let internal = "/credsim-internal/clusters/prod/pod-identity-associations";
        let (answers, events) = simulate(move |http| async move {
            let body = serde_json::json!({"namespace": "ns", "serviceAccount": "sa", "roleArn": super::ROLE});
            let mut out = vec![call(&http, "POST", base, Some(body.clone())).await];
            out.push(call(&http, "POST", base, Some(body)).await);
            out.push(call(&http, "GET", internal, None).await);
            tokio::time::sleep(Duration::from_millis(5_000)).await;
            out.push(call(&http, "GET", internal, None).await);
            out.push(call(&http, "GET", &format!("{base}?namespace=ns&serviceAccount=sa"), None).await);
            let id = out[0].2["association"]["associationId"].as_str().unwrap().to_owned();
            out.push(call(&http, "DELETE", &format!("{base}/{id}"), None).await);
            out.push(call(&http, "GET", &format!("{base}/{id}"), None).await);
            out.push(call(&http, "PUT", base, None).await);
            out.push(call(&http, "POST", base, Some(Value::String("{".into()))).await);
            tokio::time::sleep(Duration::from_millis(5_000)).await;
            out.push(call(&http, "GET", internal, None).await);
            out
        });
        let [created, conflict, before, after, list, deleted, gone, unknown, bad_json, emptied] = &answers[..] else {
            panic!("{answers:?}")
        };
        assert_eq!((created.0, created.1.as_str()), (200, ""));
        let id = created.2["association"]["associationId"].as_str().unwrap();
        assert!(model::is_association_id(id), "{id}");
        assert_eq!((conflict.0, conflict.1.as_str()), (409, "ResourceInUseException"));
        assert_eq!(conflict.2["message"], format!("Association already exists: {id}"));
        assert_eq!(before.2["associations"], serde_json::json!([]), "not visible before the propagation delay");
        assert_eq!(after.2["associations"][0]["associationId"], id);
        assert_eq!(list.2["associations"][0]["associationId"], id);
        assert!(list.2.get("nextToken").is_none());
        assert_eq!((deleted.0, deleted.2["association"]["associationId"].as_str()), (200, Some(id)));
        assert_eq!((gone.0, gone.1.as_str()), (404, "ResourceNotFoundException"));
        assert_eq!((unknown.0, unknown.1.as_str()), (404, "UnknownOperationException"));
        assert_eq!((bad_json.0, bad_json.1.as_str()), (400, "InvalidParameterException"));
        assert_eq!(emptied.2["associations"], serde_json::json!([]), "the deletion propagated");

        let propagated: Vec<(&str, Option<u64>)> =
            events.iter().filter(|e| e.kind == "eks_api.propagated").map(|e| (e.str("change"), e.u64("delay_ms"))).collect();
        assert_eq!(propagated, [("created", Some(5_000)), ("deleted", Some(5_000))]);
        let ops: Vec<(&str, &str)> =
            events.iter().filter(|e| e.kind == "eks_api.request").map(|e| (e.str("operation"), e.str("outcome"))).collect();
        assert_eq!(ops[..2], [("CreatePodIdentityAssociation", "ok"), ("CreatePodIdentityAssociation", "error")]);
    }
}

/// Service faults and the `eks_api.association` trace contract, on the simulator.
mod faults_and_trace {
    use bytes::Bytes;

    use super::super::*;
    use crate::runtime::ServiceFault;
    use crate::testing::{ask, run_script};

    const HOST: &str = "eks.us-west-2.amazonaws.com";

    fn serve() -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> {
        let state = EksApiState::new();
        state.borrow_mut().add_cluster("prod", "arn:aws:eks:us-west-2:111122223333:cluster/prod");
        move || Box::pin(run(EksApiConfig::default(), state.clone()))
    }

    fn list() -> Request {
        ::http::Request::get("/").body(Bytes::new()).unwrap()
    }

    #[test]
    fn faults_answer_eks_errors_and_healthy_is_unchanged() {
        let cases = [
            (ServiceFault::Outage, 500, "ServerException"),
            (ServiceFault::Throttle { rate: 1.0 }, 429, "ThrottlingException"),
            (ServiceFault::Healthy, 200, ""),
        ];
        for (fault, status, code) in cases {
            let url = format!("https://{HOST}/clusters/prod/pod-identity-associations");
            let (answers, events) = ask(HOST, fault, serve(), &url, vec![list()]);
            let r = &answers[0];
            assert_eq!(r.status().as_u16(), status, "{fault:?}");
            let kind = r.headers().get("x-amzn-ErrorType").and_then(|v| v.to_str().ok()).unwrap_or("");
            assert!(kind.starts_with(code), "{kind}");
            let e = events.iter().find(|e| e.kind == "eks_api.request").unwrap();
            assert_eq!((e.str("error_code"), e.u64("http_status")), (code, Some(u64::from(status))), "{fault:?}");
        }
    }

    #[test]
    fn every_successful_change_records_eks_api_association() {
        let ((), events) = run_script(HOST, serve(), || async {
            let http = crate::http::HttpClient::new();
            let t = crate::http::Timeouts::default();
            let base = format!("https://{HOST}/clusters/prod/pod-identity-associations");
            let role = "arn:aws:iam::111122223333:role/pod-role";
            let body = serde_json::json!({"namespace": "ns", "serviceAccount": "sa", "roleArn": role});
            let r = http.post(&base, "application/json", body.to_string(), t).await.unwrap();
            let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
            let id = v["association"]["associationId"].as_str().unwrap().to_owned();
            // A conflicting create fails and records nothing.
            http.post(&base, "application/json", body.to_string(), t).await.unwrap();
            let other = "arn:aws:iam::111122223333:role/other-role";
            let upd = serde_json::json!({"roleArn": other});
            assert_eq!(http.post(&format!("{base}/{id}"), "application/json", upd.to_string(), t).await.unwrap().status(), 200);
            let del = ::http::Request::delete("/").body(Bytes::new()).unwrap();
            assert_eq!(http.send(&format!("{base}/{id}"), del, t).await.unwrap().status(), 200);
        });
        let recorded: Vec<[&str; 5]> = events
            .iter()
            .filter(|e| e.kind == "eks_api.association")
            .map(|e| [e.str("op"), e.str("cluster"), e.str("namespace"), e.str("service_account"), e.str("role_arn")])
            .collect();
        assert_eq!(
            recorded,
            [
                ["create", "prod", "ns", "sa", "arn:aws:iam::111122223333:role/pod-role"],
                ["update", "prod", "ns", "sa", "arn:aws:iam::111122223333:role/other-role"],
                ["delete", "prod", "ns", "sa", ""],
            ]
        );
        let ids: std::collections::BTreeSet<&str> =
            events.iter().filter(|e| e.kind == "eks_api.association").map(|e| e.str("association_id")).collect();
        assert_eq!(ids.len(), 1);
        assert!(model::is_association_id(ids.first().unwrap()));
    }
}
