//! HTTP/1.1 between actors: a hyper server loop and a keep-alive client, over the transport seam.
//!
//! Every actor that serves (API server, webhook, OIDC issuer, STS) hands [`serve`] an async handler from
//! a whole request to a whole response; every actor that calls (kubelet, SDK, STS fetching JWKS) uses an
//! [`HttpClient`], which keeps idle connections per authority the way SDK connection pools do.
//!
//! Two determinism rules live here: hyper's automatic `Date` header reads the real clock, so it is off
//! and [`serve`] adds a `Date` from the host's simulated clock instead; and every timeout is a tokio
//! timer, which the simulation's paused clock drives.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::time::Instant;

use crate::runtime;

/// A request with its whole body.
pub type Request = http::Request<Bytes>;
/// A response with its whole body.
pub type Response = http::Response<Bytes>;

type Handler = Rc<dyn Fn(Request) -> Pin<Box<dyn Future<Output = Response>>>>;

/// Serves HTTP/1.1 on `addr` on this host until the host stops. Returns only if binding fails.
pub async fn serve<H, F>(addr: &str, handler: H) -> std::io::Error
where
    H: Fn(Request) -> F + 'static,
    F: Future<Output = Response> + 'static,
{
    let listener = match runtime::bind(addr).await {
        Ok(l) => l,
        Err(e) => return e,
    };
    let handler: Handler = Rc::new(move |req| Box::pin(handler(req)));
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => return e,
        };
        let handler = handler.clone();
        runtime::spawn(async move {
            let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let handler = handler.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let body = match body.collect().await {
                        Ok(b) => b.to_bytes(),
                        Err(e) => return Err(e),
                    };
                    let mut resp = handler(http::Request::from_parts(parts, body)).await;
                    let date = httpdate::fmt_http_date(runtime::now());
                    if let Ok(v) = http::HeaderValue::from_str(&date) {
                        resp.headers_mut().insert(http::header::DATE, v);
                    }
                    Ok::<_, hyper::Error>(resp.map(Full::new))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .auto_date_header(false)
                .header_read_timeout(None)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Builds a response with a body and content type.
pub fn response(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response {
    let mut r = http::Response::new(body.into());
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

/// A header value from text.
pub fn header_value(v: &str) -> Result<http::HeaderValue, http::header::InvalidHeaderValue> {
    http::HeaderValue::from_str(v)
}

/// A JSON response.
pub fn json<T: serde::Serialize>(status: u16, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => response(status, "application/json", body),
        Err(e) => response(500, "text/plain", format!("serialising response: {e}")),
    }
}

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("bad url {0:?}")]
    BadUrl(String),
    #[error("connect to {addr}: {kind:?}")]
    Connect { addr: String, kind: std::io::ErrorKind },
    #[error("connect to {0} timed out")]
    ConnectTimeout(String),
    #[error("request to {0} timed out")]
    Timeout(String),
    #[error("connection to {addr} failed: {msg}")]
    Io { addr: String, msg: String },
}

impl HttpError {
    /// A short stable code for metrics (`connect_refused`, `timeout`, …).
    pub fn code(&self) -> String {
        match self {
            HttpError::BadUrl(_) => "bad_url".into(),
            HttpError::Connect { kind, .. } => format!("connect_{kind:?}").to_lowercase(),
            HttpError::ConnectTimeout(_) => "connect_timeout".into(),
            HttpError::Timeout(_) => "timeout".into(),
            HttpError::Io { .. } => "io".into(),
        }
    }
}

/// Timeouts a caller applies to one request.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub connect: Duration,
    /// Whole request (send + wait for the full response).
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { connect: Duration::from_millis(3_100), request: Duration::from_secs(30) }
    }
}

/// How long an idle pooled connection is kept (hyper-util's legacy client default: 90 s).
const POOL_IDLE_MAX: Duration = Duration::from_secs(90);
/// Idle connections kept per authority.
const POOL_PER_AUTHORITY_MAX: usize = 4;

/// Idle connections by authority, each with the time it was last used.
type Pool = BTreeMap<String, Vec<(SendRequest<Full<Bytes>>, Instant)>>;

/// A keep-alive HTTP/1.1 client owned by one actor.
#[derive(Default)]
pub struct HttpClient {
    idle: RefCell<Pool>,
}

/// The parts of a URL a client needs.
pub struct Target {
    /// `host:port` to connect to.
    pub authority: String,
    /// Value of the `Host` header.
    pub host_header: String,
    /// Path and query.
    pub path: String,
}

/// Splits `http[s]://host[:port]/path` (plain HTTP on the wire either way: TLS is out of scope).
pub fn parse_url(url: &str) -> Result<Target, HttpError> {
    let uri: http::Uri = url.parse().map_err(|_| HttpError::BadUrl(url.to_string()))?;
    let host = uri.host().ok_or_else(|| HttpError::BadUrl(url.to_string()))?;
    let port = uri.port_u16().unwrap_or(if uri.scheme_str() == Some("https") { 443 } else { 80 });
    let host_header = match uri.port_u16() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let path = uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let h = host.trim_start_matches('[').trim_end_matches(']');
    let authority = if h.contains(':') { format!("[{h}]:{port}") } else { format!("{h}:{port}") };
    Ok(Target { authority, host_header, path })
}

impl HttpClient {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends `req` to `url`. The request's URI is replaced by the URL's path; `Host` is set unless given.
    pub async fn send(&self, url: &str, mut req: Request, t: Timeouts) -> Result<Response, HttpError> {
        let target = parse_url(url)?;
        *req.uri_mut() = target.path.parse().map_err(|_| HttpError::BadUrl(url.to_string()))?;
        if !req.headers().contains_key(http::header::HOST)
            && let Ok(v) = http::HeaderValue::from_str(&target.host_header)
        {
            req.headers_mut().insert(http::header::HOST, v);
        }
        let deadline = Instant::now() + t.request;
        let mut sender = match self.take_idle(&target.authority) {
            Some(s) => s,
            None => self.open(&target.authority, t.connect).await?,
        };
        let addr = target.authority.clone();
        let fut = async {
            sender.ready().await.map_err(|e| HttpError::Io { addr: addr.clone(), msg: e.to_string() })?;
            let resp =
                sender.send_request(req.map(Full::new)).await.map_err(|e| HttpError::Io { addr: addr.clone(), msg: e.to_string() })?;
            let (parts, body) = resp.into_parts();
            let body = body.collect().await.map_err(|e| HttpError::Io { addr: addr.clone(), msg: e.to_string() })?.to_bytes();
            Ok::<_, HttpError>(http::Response::from_parts(parts, body))
        };
        match tokio::time::timeout_at(deadline, fut).await {
            Ok(Ok(resp)) => {
                self.put_idle(&target.authority, sender);
                Ok(resp)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(HttpError::Timeout(target.authority)),
        }
    }

    /// A GET with no body.
    pub async fn get(&self, url: &str, headers: &[(&str, &str)], t: Timeouts) -> Result<Response, HttpError> {
        let mut b = http::Request::get("/");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(Bytes::new()).map_err(|_| HttpError::BadUrl(url.to_string()))?;
        self.send(url, req, t).await
    }

    /// A POST with a body and content type.
    pub async fn post(&self, url: &str, content_type: &str, body: impl Into<Bytes>, t: Timeouts) -> Result<Response, HttpError> {
        let req = http::Request::post("/")
            .header(http::header::CONTENT_TYPE, content_type)
            .body(body.into())
            .map_err(|_| HttpError::BadUrl(url.to_string()))?;
        self.send(url, req, t).await
    }

    fn take_idle(&self, authority: &str) -> Option<SendRequest<Full<Bytes>>> {
        let now = Instant::now();
        let mut idle = self.idle.borrow_mut();
        let list = idle.get_mut(authority)?;
        while let Some((s, since)) = list.pop() {
            if !s.is_closed() && now.duration_since(since) < POOL_IDLE_MAX {
                return Some(s);
            }
        }
        None
    }

    fn put_idle(&self, authority: &str, s: SendRequest<Full<Bytes>>) {
        let mut idle = self.idle.borrow_mut();
        let list = idle.entry(authority.to_string()).or_default();
        if list.len() < POOL_PER_AUTHORITY_MAX {
            list.push((s, Instant::now()));
        }
    }

    async fn open(&self, authority: &str, connect_timeout: Duration) -> Result<SendRequest<Full<Bytes>>, HttpError> {
        let stream = match tokio::time::timeout(connect_timeout, runtime::connect(authority)).await {
            Err(_) => return Err(HttpError::ConnectTimeout(authority.to_string())),
            Ok(Err(e)) => return Err(HttpError::Connect { addr: authority.to_string(), kind: e.kind() }),
            Ok(Ok(s)) => s,
        };
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| HttpError::Io { addr: authority.to_string(), msg: e.to_string() })?;
        runtime::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }
}
