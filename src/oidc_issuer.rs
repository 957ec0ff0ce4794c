//! The cluster's public OIDC issuer: `https://oidc.eks.<region>.amazonaws.com/id/<ID>`.
//!
//! EKS publishes each cluster's service-account signing keys at a public, AWS-run endpoint so that STS (and
//! anyone else) can verify projected tokens. It serves two documents per cluster (`shared/reference/sdk.md` §2):
//!
//! * `GET /id/<ID>/.well-known/openid-configuration`: the seven discovery fields EKS serves, with
//!   `jwks_uri = <issuer>/keys`;
//! * `GET /id/<ID>/keys`: the JWKS (`kty`, `kid`, `use`, `alg`, `n`, `e`).
//!
//! Here the keys come from the cluster's API server (`GET /openid/v1/jwks`), fetched over the network and
//! cached for `upstream_cache`, so a key rotation on the API server reaches the issuer the way it would
//! reach a real mirror. Responses carry `Cache-Control: max-age=<jwks_max_age_s>` (the value EKS sends is
//! not documented: a parameter).
//!
//! The real issuer is S3/CloudFront-hosted: under a service fault (`runtime::refuse_request`) it answers a
//! plain `503 Service Unavailable` (text, no AWS error body) for a throttle and an outage alike, and
//! records `oidc.request_refused` {cluster, path, outcome, code, http_status}.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::http::{self, HttpClient, Request, Response, Timeouts};
use crate::jwt::OidcDiscovery;
use crate::runtime::{self, fields};

/// One cluster the issuer publishes for.
#[derive(Clone, Debug)]
pub struct IssuedCluster {
    /// The 32 hex-digit id in the issuer path.
    pub id: String,
    /// The full issuer URL.
    pub issuer: String,
    /// Where the cluster's API server serves its JWKS.
    pub apiserver_jwks_url: String,
}

/// Settings of the issuer.
#[derive(Clone, Debug)]
pub struct OidcIssuerConfig {
    pub clusters: Vec<IssuedCluster>,
    /// How long keys fetched from an API server are reused.
    pub upstream_cache: Duration,
    /// `Cache-Control: max-age` on responses, seconds ([unk] for EKS; 3600 by default).
    pub jwks_max_age_s: u64,
}

/// The issuer process.
pub struct OidcIssuer {
    config: OidcIssuerConfig,
    cache: RefCell<BTreeMap<String, (Bytes, Instant)>>,
    client: HttpClient,
}

impl OidcIssuer {
    /// Serves on port 443 of this host until the host stops.
    pub async fn run(config: OidcIssuerConfig) {
        let me = Rc::new(OidcIssuer { config, cache: RefCell::new(BTreeMap::new()), client: HttpClient::new() });
        let e = http::serve("443", move |req| {
            let me = me.clone();
            async move { me.handle(req).await }
        })
        .await;
        runtime::record("oidc.stopped", fields!["error" => e.to_string()]);
    }

    async fn handle(&self, req: Request) -> Response {
        let path = req.uri().path().to_string();
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        let cluster = match segs.as_slice() {
            ["id", id, ..] => self.config.clusters.iter().find(|c| c.id == *id),
            _ => None,
        };
        let Some(cluster) = cluster else {
            return http::response(404, "text/plain", "Not Found");
        };
        // The issuer is a static site behind S3 and CloudFront: under a fault (throttle or outage) it
        // answers a plain 503 with no AWS error body, as a CDN edge does.
        if let Some(refusal) = runtime::refuse_request() {
            let code = match refusal {
                runtime::Refusal::Throttled => "SlowDown",
                runtime::Refusal::Unavailable => "ServiceUnavailable",
            };
            runtime::record(
                "oidc.request_refused",
                fields!["cluster" => &cluster.id, "path" => &path, "outcome" => "error", "code" => code, "http_status" => 503u64],
            );
            return http::response(503, "text/plain", "Service Unavailable");
        }
        let max_age = format!("max-age={}", self.config.jwks_max_age_s);
        let mut resp = match &segs[2..] {
            [".well-known", "openid-configuration"] => {
                runtime::record("oidc.discovery", fields!["cluster" => &cluster.id]);
                http::json(200, &OidcDiscovery::for_issuer(&cluster.issuer))
            }
            ["keys"] => match self.keys(cluster).await {
                Ok(body) => {
                    runtime::record("oidc.keys", fields!["cluster" => &cluster.id]);
                    http::response(200, "application/json", body)
                }
                Err(e) => {
                    runtime::record("oidc.keys_failed", fields!["cluster" => &cluster.id, "error" => &e]);
                    http::response(503, "text/plain", "Service Unavailable")
                }
            },
            _ => return http::response(404, "text/plain", "Not Found"),
        };
        if let Ok(v) = http::header_value(&max_age) {
            resp.headers_mut().insert(::http::header::CACHE_CONTROL, v);
        }
        resp
    }

    async fn keys(&self, c: &IssuedCluster) -> Result<Bytes, String> {
        if let Some((body, at)) = self.cache.borrow().get(&c.id)
            && at.elapsed() < self.config.upstream_cache
        {
            return Ok(body.clone());
        }
        let resp = self
            .client
            .get(&c.apiserver_jwks_url, &[], Timeouts { connect: Duration::from_secs(2), request: Duration::from_secs(5) })
            .await
            .map_err(|e| e.to_string())?;
        if resp.status() != 200 {
            return Err(format!("API server answered {}", resp.status()));
        }
        let body = resp.into_body();
        self.cache.borrow_mut().insert(c.id.clone(), (body.clone(), Instant::now()));
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::ServiceFault;
    use crate::testing::{ask, text};

    const HOST: &str = "oidc.eks.us-west-2.amazonaws.com";
    const ID: &str = "EXAMPLED539D4633E53DE1B716D3041E";

    #[test]
    fn faults_answer_a_plain_503_and_healthy_is_unchanged() {
        let cases = [(ServiceFault::Outage, 503), (ServiceFault::Throttle { rate: 1.0 }, 503), (ServiceFault::Healthy, 200)];
        for (fault, status) in cases {
            let config = OidcIssuerConfig {
                clusters: vec![IssuedCluster {
                    id: ID.into(),
                    issuer: format!("https://{HOST}/id/{ID}"),
                    apiserver_jwks_url: "https://apiserver.demo/openid/v1/jwks".into(),
                }],
                upstream_cache: Duration::from_secs(60),
                jwks_max_age_s: 3600,
            };
            let get = ::http::Request::get("/").body(Bytes::new()).unwrap();
            let url = format!("https://{HOST}/id/{ID}/.well-known/openid-configuration");
            let (answers, events) = ask(HOST, fault, move || OidcIssuer::run(config.clone()), &url, vec![get]);
            let r = &answers[0];
            assert_eq!(r.status().as_u16(), status, "{fault:?}");
            let refused = events.iter().filter(|e| e.kind == "oidc.request_refused").count();
            if status == 503 {
                assert_eq!(text(r), "Service Unavailable");
                assert_eq!(refused, 1);
            } else {
                assert!(text(r).contains("jwks_uri"), "{}", text(r));
                assert_eq!(refused, 0);
            }
        }
    }
}
