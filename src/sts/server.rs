//! The STS process on the simulated network: [`super::StsService`] behind an HTTP server on `:443`, with
//! its [`super::StsEnv`] wired to this host's clock, RNG, trace and an HTTP client for fetching issuers'
//! discovery documents and JWKS.

use std::cell::{RefCell, RefMut};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{FetchError, StsEnv, StsService};
use crate::http::{self, HttpClient, HttpError, Timeouts};
use crate::runtime::{self, FieldValue};

/// The STS host's environment.
struct HostEnv {
    client: HttpClient,
    rng: RefCell<ChaCha8Rng>,
}

impl StsEnv for HostEnv {
    fn now(&self) -> SystemTime {
        runtime::now()
    }

    fn rng(&self) -> RefMut<'_, ChaCha8Rng> {
        self.rng.borrow_mut()
    }

    fn fetch<'a>(
        &'a self,
        url: &'a str,
        timeout: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<::http::Response<Bytes>, FetchError>> + 'a>> {
        Box::pin(async move {
            let t = Timeouts { connect: timeout, request: timeout };
            self.client.get(url, &[], t).await.map_err(|e| match e {
                HttpError::Timeout(_) | HttpError::ConnectTimeout(_) => FetchError::Timeout,
                other => FetchError::Connect(other.to_string()),
            })
        })
    }

    fn record(&self, kind: &str, fields: &[(&str, String)]) {
        runtime::record(kind, fields.iter().map(|(k, v)| (*k, FieldValue::Str(v.clone()))).collect());
    }

    fn record_typed(&self, kind: &str, fields: Vec<(&str, FieldValue)>) {
        runtime::record(kind, fields);
    }

    fn true_now(&self) -> SystemTime {
        runtime::true_now()
    }
}

/// Serves STS on this host until the host stops. The service (IAM registry, sessions, JWKS cache) is
/// shared across restarts: IAM is durable.
pub async fn run(service: Rc<StsService>) {
    // The STS process's RNG: drawn from the host's seeded RNG, so each incarnation differs.
    let seed = runtime::with_rng(rand::Rng::next_u64);
    let env = Rc::new(HostEnv { client: HttpClient::new(), rng: RefCell::new(ChaCha8Rng::seed_from_u64(seed)) });
    let e = http::serve("443", move |req| {
        let (service, env) = (service.clone(), env.clone());
        async move { service.handle(req, env.as_ref()).await }
    })
    .await;
    runtime::record("sts.stopped", crate::runtime::fields!["error" => e.to_string()]);
}
