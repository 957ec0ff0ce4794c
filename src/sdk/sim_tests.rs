//! The SDK's chain on the simulator: a pod on `node-1` with a fake container-credentials endpoint
//! bound to `169.254.170.23:80` on the node and a fake STS on its own host.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use sim::{Sim, SimConfig};

use super::container::{ENV_FULL_URI, ENV_TOKEN_FILE};
use super::*;
use crate::http;
use crate::scenario::SdkName;

const SDKS: [SdkName; 3] = [SdkName::Rust, SdkName::Botocore, SdkName::Go];
const AGENT_URL: &str = "http://169.254.170.23/v1/credentials";
const POD_TOKEN_FILE: &str = "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount/eks-pod-identity-token";
const IRSA_TOKEN_FILE: &str = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token";

/// The fake container-credentials endpoint and the fake STS, with what they saw.
struct Fakes {
    /// Status the endpoint answers (200: credentials valid for `lifetime`).
    agent_status: Cell<u16>,
    lifetime: Cell<Duration>,
    /// `Authorization` of every request the endpoint got.
    agent_seen: RefCell<Vec<String>>,
    /// `None`: STS answers credentials; `Some(code)`: that error.
    sts_error: RefCell<Option<&'static str>>,
    sts_calls: Cell<usize>,
}

impl Fakes {
    fn new() -> Rc<Fakes> {
        Rc::new(Fakes {
            agent_status: Cell::new(200),
            lifetime: Cell::new(Duration::from_secs(6 * 3600)),
            agent_seen: RefCell::new(Vec::new()),
            sts_error: RefCell::new(None),
            sts_calls: Cell::new(0),
        })
    }

    fn agent(&self, req: http::Request) -> http::Response {
        let auth = req.headers().get("authorization").map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).unwrap_or_default();
        self.agent_seen.borrow_mut().push(auth);
        let n = self.agent_seen.borrow().len();
        match self.agent_status.get() {
            200 => {
                let exp = runtime::rfc3339(runtime::now() + self.lifetime.get());
                let body = serde_json::json!({
                    "AccessKeyId": format!("ASIACONTAINER{n:04}"), "SecretAccessKey": "s", "Token": "t",
                    "AccountId": "111122223333", "Expiration": exp
                });
                http::response(200, "application/json", body.to_string())
            }
            s => http::response(s, "text/plain; charset=utf-8", "[r]: (Error): nope, fault: server\n"),
        }
    }

    fn sts(&self) -> http::Response {
        self.sts_calls.set(self.sts_calls.get() + 1);
        if let Some(code) = *self.sts_error.borrow() {
            let xml = format!(
                r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>{code}</Code><Message>no</Message></Error><RequestId>r</RequestId></ErrorResponse>"#
            );
            return http::response(400, "text/xml", xml);
        }
        let exp = runtime::rfc3339(runtime::now() + Duration::from_secs(3600));
        let xml = format!(
            r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><AssumedRoleUser><Arn>arn:aws:sts::111122223333:assumed-role/cart/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser><Credentials><SessionToken>st</SessionToken><SecretAccessKey>sk</SecretAccessKey><Expiration>{exp}</Expiration><AccessKeyId>ASIAWEBIDENTITY</AccessKeyId></Credentials></AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>"#
        );
        http::response(200, "text/xml", xml)
    }
}

/// Runs `script` as a pod on `node-1` (with the fake endpoint on the node when `with_agent`) for
/// `duration`.
fn simulate<F, Fut>(fakes: &Rc<Fakes>, with_agent: bool, duration: Duration, script: F)
where
    F: FnOnce() -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let mut sim = Sim::new(SimConfig::new(3));
    let sts = sim.add_host("sts.us-west-2.amazonaws.com");
    let f = fakes.clone();
    sim.add_software(sts, move || {
        let f = f.clone();
        async move {
            http::serve("443", move |_req| {
                let f = f.clone();
                async move { f.sts() }
            })
            .await;
        }
    });
    let node = sim.add_host("node-1");
    if with_agent {
        let f = fakes.clone();
        sim.add_software(node, move || {
            let f = f.clone();
            async move {
                http::serve("169.254.170.23:80", move |req| {
                    let f = f.clone();
                    async move { f.agent(req) }
                })
                .await;
            }
        });
    }
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
}

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut e: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    e.insert("AWS_REGION".into(), "us-west-2".into());
    e
}

fn pod_identity_env() -> BTreeMap<String, String> {
    env(&[(ENV_FULL_URI, AGENT_URL), (ENV_TOKEN_FILE, POD_TOKEN_FILE)])
}

fn fs_with(files: &[(&str, &str)]) -> PodFs {
    let fs: PodFs = Default::default();
    for (p, c) in files {
        fs.borrow_mut().insert(p.to_string(), Bytes::from(c.to_string()));
    }
    fs
}

type Outcomes = Rc<RefCell<Vec<Result<Credentials, SdkError>>>>;

#[test]
fn container_provider_rereads_the_token_file_on_every_load() {
    for sdk in SDKS {
        let fakes = Fakes::new();
        fakes.lifetime.set(Duration::from_secs(30 * 60));
        let fs = fs_with(&[(POD_TOKEN_FILE, "token-1")]);
        let out: Outcomes = Default::default();
        let o = out.clone();
        simulate(&fakes, true, Duration::from_secs(3600), move || async move {
            let start = tokio::time::Instant::now();
            let mut p = CredentialsProvider::new(SdkProfile::for_sdk(sdk), pod_identity_env(), fs.clone(), "cart-1".into());
            let r = p.credentials().await;
            o.borrow_mut().push(r);
            // The kubelet rotates the token; cached credentials are still used a minute later…
            fs.borrow_mut().insert(POD_TOKEN_FILE.into(), Bytes::from_static(b"token-2"));
            tokio::time::sleep_until(start + Duration::from_secs(60)).await;
            let r = p.credentials().await;
            o.borrow_mut().push(r);
            // …and the next load, 2 s before expiry (inside every SDK's refresh window), sends the new one.
            tokio::time::sleep_until(start + Duration::from_secs(30 * 60 - 2)).await;
            let r = p.credentials().await;
            o.borrow_mut().push(r);
        });
        let out = out.borrow();
        let keys: Vec<String> = out.iter().map(|r| r.as_ref().map(|c| c.access_key_id.clone()).unwrap_or_else(|e| e.code.clone())).collect();
        assert_eq!(keys, ["ASIACONTAINER0001", "ASIACONTAINER0001", "ASIACONTAINER0002"], "{sdk}");
        assert!(out.iter().all(|r| r.as_ref().is_ok_and(|c| c.source == "container" && c.account_id == "111122223333")));
        assert_eq!(*fakes.agent_seen.borrow(), ["token-1", "token-2"], "{sdk}");
    }
}

#[test]
fn full_uri_with_a_disallowed_host_is_rejected_without_a_request() {
    let cases = [
        ("http://10.0.0.7/v1/credentials", false),
        ("http://169.254.169.254/latest/meta-data/iam/security-credentials/", false),
        ("http://agent.example.com/v1/credentials", false),
        (AGENT_URL, true),
    ];
    for sdk in SDKS {
        for (uri, allowed) in cases {
            let fakes = Fakes::new();
            let fs = fs_with(&[(POD_TOKEN_FILE, "token-1")]);
            let out: Outcomes = Default::default();
            let o = out.clone();
            let e = env(&[(ENV_FULL_URI, uri), (ENV_TOKEN_FILE, POD_TOKEN_FILE)]);
            simulate(&fakes, true, Duration::from_secs(60), move || async move {
                let mut p = CredentialsProvider::new(SdkProfile::for_sdk(sdk), e, fs, "cart-1".into());
                let r = p.credentials().await;
                o.borrow_mut().push(r);
            });
            let r = out.borrow()[0].clone();
            if allowed {
                assert!(r.is_ok(), "{sdk} {uri}: {r:?}");
                assert_eq!(fakes.agent_seen.borrow().len(), 1);
            } else {
                assert_eq!(r.unwrap_err().code, "InvalidContainerUri", "{sdk} {uri}");
                assert!(fakes.agent_seen.borrow().is_empty(), "{sdk} {uri}");
            }
        }
    }
}

#[test]
fn web_identity_comes_before_container_credentials_and_does_not_fall_through() {
    // (role ARN set, STS error) → (expected source or error code, STS calls, container calls), per SDK.
    type Expect = (&'static str, usize, usize);
    let cases: [(bool, Option<&'static str>, [Expect; 3]); 3] = [
        // Both env sets: web identity wins; the agent is never asked.
        (true, None, [("web_identity", 1, 0), ("web_identity", 1, 0), ("web_identity", 1, 0)]),
        // Web identity fails: the error is returned, the container provider is not tried.
        (true, Some("InvalidIdentityToken"), [("InvalidIdentityToken", 1, 0), ("InvalidIdentityToken", 1, 0), ("InvalidIdentityToken", 3, 0)]),
        // A token file without a role ARN: Rust and Go skip web identity; botocore aborts the chain.
        (false, None, [("container", 0, 1), ("InvalidConfigError", 0, 0), ("container", 0, 1)]),
    ];
    for (with_role, sts_error, expected) in cases {
        for (sdk, (want, sts_calls, agent_calls)) in SDKS.into_iter().zip(expected) {
            let fakes = Fakes::new();
            *fakes.sts_error.borrow_mut() = sts_error;
            let fs = fs_with(&[(POD_TOKEN_FILE, "pod-identity-token"), (IRSA_TOKEN_FILE, "irsa-token")]);
            let mut e = pod_identity_env();
            e.insert("AWS_WEB_IDENTITY_TOKEN_FILE".into(), IRSA_TOKEN_FILE.into());
            if with_role {
                e.insert("AWS_ROLE_ARN".into(), "arn:aws:iam::111122223333:role/cart".into());
            }
            let out: Outcomes = Default::default();
            let o = out.clone();
            simulate(&fakes, true, Duration::from_secs(120), move || async move {
                let mut p = CredentialsProvider::new(SdkProfile::for_sdk(sdk), e, fs, "cart-1".into());
                let r = p.credentials().await;
                o.borrow_mut().push(r);
            });
            let got = match &out.borrow()[0] {
                Ok(c) => c.source.to_string(),
                Err(e) => e.code.clone(),
            };
            let ctx = format!("{sdk} role={with_role} sts_error={sts_error:?}");
            assert_eq!(got, want, "{ctx}");
            assert_eq!(fakes.sts_calls.get(), sts_calls, "{ctx}");
            assert_eq!(fakes.agent_seen.borrow().len(), agent_calls, "{ctx}");
        }
    }
}

#[test]
fn container_errors_are_retried_as_each_sdk_does() {
    // (status, then attempts per SDK: Rust, botocore, Go). Rust and Go retry 5xx only; botocore
    // retries any non-200.
    let cases: [(u16, [usize; 3]); 3] = [(500, [3, 3, 3]), (503, [3, 3, 3]), (404, [1, 3, 1])];
    for (status, attempts) in cases {
        for (sdk, want) in SDKS.into_iter().zip(attempts) {
            let fakes = Fakes::new();
            fakes.agent_status.set(status);
            let fs = fs_with(&[(POD_TOKEN_FILE, "token-1")]);
            let out: Outcomes = Default::default();
            let o = out.clone();
            let took = Rc::new(Cell::new(Duration::ZERO));
            let t = took.clone();
            simulate(&fakes, true, Duration::from_secs(120), move || async move {
                let t0 = tokio::time::Instant::now();
                let mut p = CredentialsProvider::new(SdkProfile::for_sdk(sdk), pod_identity_env(), fs, "cart-1".into());
                let r = p.credentials().await;
                t.set(t0.elapsed());
                o.borrow_mut().push(r);
            });
            assert_eq!(out.borrow()[0].as_ref().unwrap_err().code, format!("http_{status}"), "{sdk} {status}");
            assert_eq!(fakes.agent_seen.borrow().len(), want, "{sdk} {status}");
            if sdk == SdkName::Botocore {
                // A fixed 1 s sleep after every failed attempt, the last one included.
                assert!(took.get() >= Duration::from_secs(3) && took.get() < Duration::from_secs(4), "{:?}", took.get());
            }
        }
    }
}

#[test]
fn unreachable_agent_is_a_transport_error_after_retries() {
    for sdk in SDKS {
        let fakes = Fakes::new();
        let fs = fs_with(&[(POD_TOKEN_FILE, "token-1")]);
        let out: Outcomes = Default::default();
        let o = out.clone();
        simulate(&fakes, false, Duration::from_secs(600), move || async move {
            let mut p = CredentialsProvider::new(SdkProfile::for_sdk(sdk), pod_identity_env(), fs, "cart-1".into());
            let r = p.credentials().await;
            o.borrow_mut().push(r);
        });
        let e = out.borrow()[0].clone().unwrap_err();
        assert!(e.code.starts_with("connect_"), "{sdk}: {e:?}");
    }
}

#[test]
fn planted_bug_sdk_ignores_expiry_keeps_expired_credentials_only_when_on() {
    // (bug on, with a role ARN: web identity, else container) → loads and whether the second answer is
    // the first, expired set.
    for bug in [false, true] {
        for web_identity in [false, true] {
            for sdk in SDKS {
                let bugs: &[crate::bugs::Bug] = if bug { &[crate::bugs::Bug::SdkIgnoresExpiry] } else { &[] };
                runtime::install_controls(bugs);
                let fakes = Fakes::new();
                fakes.lifetime.set(Duration::from_secs(3600));
                let fs = fs_with(&[(POD_TOKEN_FILE, "pod-identity-token"), (IRSA_TOKEN_FILE, "irsa-token")]);
                let mut e = pod_identity_env();
                if web_identity {
                    e.insert("AWS_WEB_IDENTITY_TOKEN_FILE".into(), IRSA_TOKEN_FILE.into());
                    e.insert("AWS_ROLE_ARN".into(), "arn:aws:iam::111122223333:role/cart".into());
                }
                let out: Rc<RefCell<Vec<(String, bool)>>> = Default::default();
                let o = out.clone();
                simulate(&fakes, true, Duration::from_secs(3 * 3600), move || async move {
                    let mut p = CredentialsProvider::new(SdkProfile::for_sdk(sdk), e, fs, "cart-1".into());
                    for _ in 0..2 {
                        let c = p.credentials().await.expect("credentials");
                        o.borrow_mut().push((c.access_key_id.clone(), c.expiration <= runtime::now()));
                        // Both fakes answer credentials valid for 1 h; the second use is past that.
                        tokio::time::sleep(Duration::from_secs(3600 + 60)).await;
                    }
                });
                let ctx = format!("{sdk} bug={bug} web_identity={web_identity}");
                let loads = if web_identity { fakes.sts_calls.get() } else { fakes.agent_seen.borrow().len() };
                assert_eq!(loads, if bug { 1 } else { 2 }, "{ctx}");
                let out = out.borrow();
                assert!(!out[0].1, "{ctx}: first set already expired");
                // Second answer: expired (the first set again) only with the bug.
                assert_eq!(out[1].1, bug, "{ctx}: {out:?}");
                if bug {
                    assert_eq!(out[1].0, out[0].0, "{ctx}");
                }
            }
        }
    }
    runtime::install_controls(&[]);
}
