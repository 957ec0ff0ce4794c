//! STS on the simulator under service faults: an outage answers `ServiceUnavailable` (503), a throttle
//! `Throttling` (400, "Rate exceeded"), both in the query protocol's XML error shape and counted in
//! `sts.request`; a healthy STS answers as before.

use std::rc::Rc;

use bytes::Bytes;

use super::{StsConfig, StsService, server};
use crate::runtime::ServiceFault;
use crate::testing::{ask, text};

const HOST: &str = "sts.us-west-2.amazonaws.com";

/// An `AssumeRoleWithWebIdentity` without its required parameters: a `ValidationError` when healthy.
fn incomplete_awrwi() -> crate::http::Request {
    ::http::Request::post("/")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Bytes::from("Action=AssumeRoleWithWebIdentity&Version=2011-06-15"))
        .unwrap()
}

#[test]
fn faults_answer_sts_errors_and_healthy_is_unchanged() {
    let cases = [
        (ServiceFault::Outage, 503, "ServiceUnavailable", "Receiver"),
        (ServiceFault::Throttle { rate: 1.0 }, 400, "Throttling", "Sender"),
        (ServiceFault::Healthy, 400, "ValidationError", "Sender"),
    ];
    for (fault, status, code, kind) in cases {
        let sts = Rc::new(StsService::new(StsConfig::new("111122223333", "us-west-2")));
        let (answers, events) =
            ask(HOST, fault, move || server::run(sts.clone()), &format!("https://{HOST}/"), vec![incomplete_awrwi()]);
        let body = text(&answers[0]);
        assert_eq!(answers[0].status().as_u16(), status, "{fault:?}: {body}");
        assert!(body.starts_with("<ErrorResponse"), "{body}");
        assert!(body.contains(&format!("<Code>{code}</Code>")), "{fault:?}: {body}");
        assert!(body.contains(&format!("<Type>{kind}</Type>")), "{body}");
        if code == "Throttling" {
            assert!(body.contains("<Message>Rate exceeded</Message>"), "{body}");
        }
        let ev = events.iter().find(|e| e.kind == "sts.request").expect("one sts.request");
        assert_eq!((ev.str("outcome"), ev.str("error_code")), ("error", code), "{fault:?}");
    }
}
