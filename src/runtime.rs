//! The actors' view of the world: the transport seam.
//!
//! Every actor asks this module, and only this module, for the things a real process would ask its OS
//! for: the wall clock, randomness, a socket, a new task, and a place to log what it did. Today every
//! call goes to the deterministic simulator (`sim`); with the cargo feature `turmoil`, a thread-local
//! flag switches every call to the turmoil 0.7.2 reference engine (`crate::turmoil_engine`) instead.
//! Without the feature the switch compiles away: `Stream` and `Listener` are `sim`'s own types and each
//! call goes straight to `sim`. Live mode (real loopback sockets for real SDKs) would plug in here too.
//!
//! Architecture invariant: actors never touch `std::time`, OS randomness, `tokio::net` or
//! `tokio::spawn` directly (clippy.toml enforces it), so swapping the engine changes one module.

use std::future::Future;
use std::io;
use std::time::SystemTime;

use rand_chacha::ChaCha8Rng;

pub use sim::fields;
pub use sim::trace::FieldValue;

/// A connected byte stream between two actors.
#[cfg(not(feature = "turmoil"))]
pub type Stream = sim::net::TcpStream;

/// A listening socket.
#[cfg(not(feature = "turmoil"))]
pub type Listener = sim::net::TcpListener;

/// A connected byte stream between two actors, on either engine (feature `turmoil`).
#[cfg(feature = "turmoil")]
pub use crate::turmoil_engine::Stream;

/// A listening socket, on either engine (feature `turmoil`).
#[cfg(feature = "turmoil")]
pub use crate::turmoil_engine::Listener;

/// Whether this thread's actors run on the turmoil reference engine. Only compiled with the feature:
/// without it every branch that asks is compiled out, and each call goes straight to `sim`.
#[cfg(feature = "turmoil")]
#[inline(always)]
fn on_turmoil() -> bool {
    crate::turmoil_engine::active()
}

/// Opens a connection from this actor's host to `addr` (`"host:port"`).
pub async fn connect(addr: &str) -> io::Result<Stream> {
    #[cfg(feature = "turmoil")]
    {
        if on_turmoil() {
            return crate::turmoil_engine::connect(addr).await.map(Stream::Turmoil);
        }
        sim::net::TcpStream::connect(addr).await.map(Stream::Sim)
    }
    #[cfg(not(feature = "turmoil"))]
    sim::net::TcpStream::connect(addr).await
}

/// Listens on this actor's host (`"port"` or `"ip:port"`).
pub async fn bind(addr: &str) -> io::Result<Listener> {
    #[cfg(feature = "turmoil")]
    {
        if on_turmoil() {
            return crate::turmoil_engine::bind(addr).await;
        }
        sim::net::TcpListener::bind(addr).await.map(Listener::Sim)
    }
    #[cfg(not(feature = "turmoil"))]
    sim::net::TcpListener::bind(addr).await
}

/// Starts a task on this actor's host; it dies with the host.
pub fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    #[cfg(feature = "turmoil")]
    if on_turmoil() {
        return crate::turmoil_engine::spawn(fut);
    }
    sim::spawn(fut)
}

/// Starts a task on this actor's host in another process, `process` (created if the host has none of that
/// name): it outlives this actor's process and dies with the host or with that process. How the kubelet
/// hands containers to the container runtime, so a kubelet restart leaves them running. (On turmoil,
/// which models no processes, a plain task of the host.)
pub fn spawn_in_process<F>(process: &str, fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    #[cfg(feature = "turmoil")]
    if on_turmoil() {
        return crate::turmoil_engine::spawn(fut);
    }
    sim::spawn_in_process(process, fut)
}

/// This host's wall clock (skew included).
pub fn now() -> SystemTime {
    #[cfg(feature = "turmoil")]
    if on_turmoil() {
        return crate::turmoil_engine::now();
    }
    sim::wall_clock()
}

/// The true wall clock, no skew: for measurements and checkers, never for an actor's decisions.
pub fn true_now() -> SystemTime {
    #[cfg(feature = "turmoil")]
    if on_turmoil() {
        return crate::turmoil_engine::now();
    }
    sim::true_wall_clock()
}

/// Simulated time since the run started (for measuring durations inside one actor).
pub fn elapsed() -> std::time::Duration {
    #[cfg(feature = "turmoil")]
    if on_turmoil() {
        return crate::turmoil_engine::elapsed();
    }
    sim::elapsed()
}

/// A stable 64-bit hash of a string (not random: the same everywhere, every run).
pub fn stable_hash(s: &str) -> u64 {
    sim::derive_seed(0, s)
}

/// Runs `f` with this host's seeded RNG.
pub fn with_rng<R>(f: impl FnOnce(&mut ChaCha8Rng) -> R) -> R {
    #[cfg(feature = "turmoil")]
    if on_turmoil() {
        return crate::turmoil_engine::with_rng(f);
    }
    sim::with_rng(f)
}

/// Records a trace event from this host. Never pass a secret (a token, a secret key) as a field.
pub fn record(kind: &str, fields: Vec<(&str, FieldValue)>) {
    #[cfg(feature = "turmoil")]
    if on_turmoil() {
        return crate::turmoil_engine::record(kind, fields);
    }
    sim::trace::record(kind, fields)
}

/// Seconds since the Unix epoch of a wall-clock time.
pub fn unix_s(t: SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Milliseconds since the Unix epoch of a wall-clock time.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// An RFC 3339 UTC timestamp with a `Z` (what AWS puts in `Expiration` fields).
pub fn rfc3339(t: SystemTime) -> String {
    let odt = time::OffsetDateTime::from(t);
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    odt.format(&fmt).unwrap_or_default()
}

/// A fault switched on for one service host by the fault injector (`cluster`'s fault driver).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum ServiceFault {
    /// Answers every request normally.
    #[default]
    Healthy,
    /// Refuses this share of requests (0..=1) with the service's own throttling error.
    Throttle { rate: f64 },
    /// Answers every request with the service's own 5xx "unavailable" error.
    Outage,
}

/// How a service must refuse one request under its current [`ServiceFault`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// STS `Throttling` (400), EKS Auth `ThrottlingException` (429), ...
    Throttled,
    /// STS `ServiceUnavailable` (503), EKS Auth `ServiceUnavailableException` (503), issuer 503, ...
    Unavailable,
}

/// The run's planted bugs and service faults: what the fault injector has switched on.
#[derive(Default)]
struct RunControls {
    bugs: std::collections::BTreeSet<crate::bugs::Bug>,
    services: std::collections::BTreeMap<String, ServiceFault>,
}

thread_local! {
    static CONTROLS: std::cell::RefCell<RunControls> = std::cell::RefCell::new(RunControls::default());
}

/// Starts a run's controls: these bugs on, every service healthy. Called by `cluster` before a run.
pub fn install_controls(bugs: &[crate::bugs::Bug]) {
    CONTROLS.with(|c| {
        *c.borrow_mut() = RunControls { bugs: bugs.iter().copied().collect(), services: Default::default() };
    });
}

/// Whether a planted bug is switched on in this run (see [`crate::bugs`]).
pub fn bug(b: crate::bugs::Bug) -> bool {
    CONTROLS.with(|c| c.borrow().bugs.contains(&b))
}

/// Switches a fault on (or, with `Healthy`, off) for the service on host `host`.
pub fn set_service_fault(host: &str, fault: ServiceFault) {
    CONTROLS.with(|c| {
        let mut c = c.borrow_mut();
        if fault == ServiceFault::Healthy {
            c.services.remove(host);
        } else {
            c.services.insert(host.to_string(), fault);
        }
    });
}

/// The fault currently switched on for the calling host's service.
pub fn service_fault() -> ServiceFault {
    // Every request of every service asks: skip the host-name lookup when nothing is switched on.
    if CONTROLS.with(|c| c.borrow().services.is_empty()) {
        return ServiceFault::Healthy;
    }
    let host = current_host_name();
    CONTROLS.with(|c| c.borrow().services.get(&host).copied().unwrap_or_default())
}

/// The calling host's name.
fn current_host_name() -> String {
    #[cfg(feature = "turmoil")]
    if on_turmoil() {
        return crate::turmoil_engine::host_name();
    }
    sim::current_host_name()
}

/// Whether the calling service must refuse the request it is handling, and how. Call once per request,
/// first thing. Draws from the host's RNG only while a throttle is on, so a healthy run is unchanged.
pub fn refuse_request() -> Option<Refusal> {
    match service_fault() {
        ServiceFault::Healthy => None,
        ServiceFault::Outage => Some(Refusal::Unavailable),
        ServiceFault::Throttle { rate } => {
            use rand::RngExt;
            with_rng(|r| r.random_bool(rate.clamp(0.0, 1.0))).then_some(Refusal::Throttled)
        }
    }
}
