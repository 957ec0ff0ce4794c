//! The reference engine: the same actors on turmoil 0.7.2 (cargo feature `turmoil`).
//!
//! A second, independent simulator is the strongest check of the first. This module installs the very
//! [`Topology`](crate::cluster::Topology) that `cluster` builds for our engine into a `turmoil::Sim`
//! (one tokio runtime per host, fixed 1 ms ticks, message latency between `min_message_latency` and
//! `max_message_latency`) and answers the transport seam's questions (`runtime::connect`, `bind`,
//! `spawn`, `now`, `with_rng`, `record`) from turmoil instead of `sim`:
//!
//! * sockets are `turmoil::net::{TcpStream, TcpListener}`; names (with dots) and aliases resolve through
//!   our own table of hosts, so `sts.amazonaws.com` reaches the regional STS host; an address a host
//!   bound itself (the Pod Identity Agent's `169.254.170.23`, loopback) resolves to the caller's own
//!   host, as in our engine, because turmoil gives each host one address and listens on `0.0.0.0` only;
//! * clocks are turmoil's simulated elapsed time (`turmoil::sim_elapsed`) plus the same fixed epoch as
//!   `sim::clock` ([`sim::EPOCH_UNIX_S`]), with no skew;
//! * each host's RNG is a ChaCha8 seeded like our engine's (`sim::derive_seed(seed, "host/<name>")`);
//! * every task runs as a local task of its turmoil host; which host a poll belongs to is carried by
//!   a wrapper around every task ([`OnHost`]) because turmoil does not name the current host;
//! * `record` folds events into a `sim::Trace` stamped with turmoil's elapsed time, so metrics and the
//!   invariant checker read them exactly as they read our engine's.
//!
//! Out of scope here: faults (`[[fault]]` is refused), crashes and processes (a node's processes are
//! all tasks of the node's host). Turmoil facts come from the crate's source, v0.7.2.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::cluster::{RunOptions, RunOutcome, Topology};
use crate::runtime::FieldValue;
use crate::scenario::{Loaded, ScenarioError};
use crate::summary::Metrics;

/// How the turmoil world is built. Defaults mirror the brief and our engine where turmoil has a knob.
#[derive(Clone, Debug)]
pub struct TurmoilConfig {
    /// turmoil's `tick_duration`: every host runs this long per step (1 ms, turmoil's default).
    pub tick: Duration,
    /// turmoil's per-socket capacity (`tcp_capacity`): the accept backlog and the receive queue, in
    /// segments. turmoil panics when a listener's backlog overflows, so it is set to our engine's
    /// backlog (`sim::net::BACKLOG_DEFAULT`, Linux `somaxconn`) rather than turmoil's default of 64.
    pub tcp_capacity: usize,
}

impl Default for TurmoilConfig {
    fn default() -> Self {
        TurmoilConfig { tick: Duration::from_millis(1), tcp_capacity: sim::net::BACKLOG_DEFAULT }
    }
}

/// One host as the seam sees it.
struct HostEntry {
    name: String,
    ip: IpAddr,
    rng: ChaCha8Rng,
    /// Addresses this host bound explicitly (node-local services): they resolve to the host itself.
    local_addrs: BTreeSet<IpAddr>,
    /// Ports this host listens on (turmoil allows one listener per port and host).
    ports: BTreeSet<u16>,
}

/// The engine's state for one run, installed in a thread-local while turmoil runs.
struct State {
    hosts: Vec<HostEntry>,
    by_name: BTreeMap<String, usize>,
    by_ip: BTreeMap<IpAddr, usize>,
    trace: sim::Trace,
    driver_rng: ChaCha8Rng,
}

thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
    /// The host whose task is being polled (set by [`OnHost`]).
    static CURRENT: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Whether the actors on this thread run on turmoil (checked once per seam call).
#[inline]
pub fn active() -> bool {
    ACTIVE.with(Cell::get)
}

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| f(s.borrow_mut().as_mut().expect("the turmoil engine is not running on this thread")))
}

/// A task of one host: marks the host current while it is polled, so the seam knows whose RNG, name
/// and addresses to use.
pub struct OnHost<F> {
    host: usize,
    fut: Pin<Box<F>>,
}

impl<F: Future> Future for OnHost<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let prev = CURRENT.with(|c| c.replace(Some(self.host)));
        let out = self.fut.as_mut().poll(cx);
        CURRENT.with(|c| c.set(prev));
        out
    }
}

fn current() -> Option<usize> {
    CURRENT.with(Cell::get)
}

/// A connected byte stream on either engine.
pub enum Stream {
    Sim(sim::net::TcpStream),
    Turmoil(turmoil::net::TcpStream),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Sim(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Turmoil(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Sim(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Turmoil(s) => Pin::new(s).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Sim(s) => Pin::new(s).poll_flush(cx),
            Stream::Turmoil(s) => Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Sim(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Turmoil(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// A listening socket on either engine.
pub enum Listener {
    Sim(sim::net::TcpListener),
    Turmoil(turmoil::net::TcpListener),
    /// A second bind of a port this turmoil host already listens on, at another node-local address
    /// (the agent's IPv4 and IPv6 addresses): connections to either reach the first listener, so this
    /// one never accepts.
    Alias,
}

impl Listener {
    /// Waits for the next connection.
    pub async fn accept(&self) -> io::Result<(Stream, SocketAddr)> {
        match self {
            Listener::Sim(l) => l.accept().await.map(|(s, a)| (Stream::Sim(s), a)),
            Listener::Turmoil(l) => l.accept().await.map(|(s, a)| (Stream::Turmoil(s), a)),
            Listener::Alias => std::future::pending().await,
        }
    }
}

/// Splits `"name:port"`, `"ip:port"`, `"[v6]:port"` or `"port"`.
fn split_addr(addr: &str) -> io::Result<(Option<&str>, u16)> {
    let bad = || io::Error::new(io::ErrorKind::InvalidInput, format!("bad address {addr:?}"));
    match addr.rsplit_once(':') {
        Some((n, p)) => Ok((Some(n.trim_start_matches('[').trim_end_matches(']')), p.parse().map_err(|_| bad())?)),
        None => Ok((None, addr.parse().map_err(|_| bad())?)),
    }
}

/// Resolves `addr` as seen from the calling host: names and aliases through the host table; an IP a
/// host owns to that host; loopback and addresses the caller bound itself to the caller.
fn resolve(addr: &str) -> io::Result<SocketAddr> {
    let (name, port) = split_addr(addr)?;
    let name = name.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("no host in {addr:?}")))?;
    let me = current();
    with_state(|st| {
        if let Ok(ip) = name.parse::<IpAddr>() {
            if st.by_ip.contains_key(&ip) {
                return Ok(SocketAddr::new(ip, port));
            }
            return match me {
                Some(h) if ip.is_loopback() || st.hosts[h].local_addrs.contains(&ip) => Ok(SocketAddr::new(st.hosts[h].ip, port)),
                _ => Err(io::Error::new(io::ErrorKind::HostUnreachable, format!("no route to {ip}"))),
            };
        }
        match st.by_name.get(name) {
            Some(h) => Ok(SocketAddr::new(st.hosts[*h].ip, port)),
            None => Err(io::Error::new(io::ErrorKind::NotFound, format!("unknown host {name:?}"))),
        }
    })
}

/// Opens a connection from the calling host (turmoil).
pub async fn connect(addr: &str) -> io::Result<turmoil::net::TcpStream> {
    let to = resolve(addr)?;
    turmoil::net::TcpStream::connect(to).await
}

/// Listens on the calling host (turmoil): every bind is a `0.0.0.0` bind (turmoil's only kind); a
/// specific address becomes one of the host's own addresses.
pub async fn bind(addr: &str) -> io::Result<Listener> {
    let (name, port) = split_addr(addr)?;
    let h = current().ok_or_else(|| io::Error::other("bind outside a host"))?;
    let ip = match name {
        None => None,
        Some(n) => Some(n.parse::<IpAddr>().map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("bad address {addr:?}")))?),
    };
    let again = with_state(|st| {
        let host = &mut st.hosts[h];
        if let Some(ip) = ip.filter(|ip| !ip.is_unspecified() && *ip != host.ip) {
            host.local_addrs.insert(ip);
        }
        !host.ports.insert(port)
    });
    if again {
        return Ok(Listener::Alias);
    }
    turmoil::net::TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)).await.map(Listener::Turmoil)
}

/// Starts a task on the calling host (turmoil): a local task of the host's runtime.
#[allow(clippy::disallowed_methods)] // the seam's own spawn: the task is scoped to its host by `OnHost`
pub fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let host = current().expect("spawn outside a turmoil host");
    tokio::task::spawn_local(OnHost { host, fut: Box::pin(fut) })
}

/// Simulated time since the run started (turmoil's, at the current host's instant).
pub fn elapsed() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}

/// The wall clock: the same fixed epoch as our engine plus turmoil's elapsed time (no skew).
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(sim::EPOCH_UNIX_S) + elapsed()
}

/// Runs `f` with the calling host's RNG (the driver's outside hosts).
pub fn with_rng<R>(f: impl FnOnce(&mut ChaCha8Rng) -> R) -> R {
    let h = current();
    with_state(|st| match h {
        Some(h) => f(&mut st.hosts[h].rng),
        None => f(&mut st.driver_rng),
    })
}

/// The calling host's name (`world` outside hosts, as in our engine's trace).
pub fn host_name() -> String {
    match current() {
        Some(h) => with_state(|st| st.hosts[h].name.clone()),
        None => "world".into(),
    }
}

/// Records an event from the calling host, stamped with turmoil's elapsed time.
pub fn record(kind: &str, fields: Vec<(&str, FieldValue)>) {
    let t_ns = elapsed().as_nanos() as u64;
    let host = host_name();
    let ev = sim::Event { t_ns, host, kind: kind.to_string(), fields: fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect() };
    // Subscribers (metrics, the checker) never call back into the seam.
    with_state(|st| st.trace.push(ev));
}

/// Installs the engine's state for a run and removes it (and the engine flag) when dropped.
struct Installed;

impl Installed {
    fn new(st: State) -> Installed {
        STATE.with(|s| *s.borrow_mut() = Some(st));
        ACTIVE.with(|a| a.set(true));
        Installed
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        ACTIVE.with(|a| a.set(false));
        STATE.with(|s| *s.borrow_mut() = None);
        CURRENT.with(|c| c.set(None));
    }
}

/// Why a scenario cannot run on turmoil.
fn refuse(loaded: &Loaded, field: &str, message: &str) -> ScenarioError {
    ScenarioError { file: loaded.path.clone(), line: loaded.line_of(&format!("[[{field}]]")), column: None, field: field.into(), message: message.into() }
}

/// Called as simulated time passes: (elapsed, total).
pub type Progress<'a> = &'a dyn Fn(Duration, Duration);

/// Builds the scenario's world with `cluster::build` and runs it on turmoil for its duration.
pub fn run(loaded: &Loaded, opts: &RunOptions, cfg: &TurmoilConfig, progress: Progress<'_>) -> Result<RunOutcome, ScenarioError> {
    if !loaded.scenario.faults.is_empty() {
        return Err(refuse(loaded, "fault", "the turmoil reference engine runs no faults: remove the [[fault]] entries"));
    }
    let wall_start = crate::cluster::wall_clock_start();
    let mut built = crate::cluster::build(loaded, opts)?;
    let topology = std::mem::take(&mut built.topology);
    let duration = built.duration;
    let net = &loaded.scenario.network;

    let mut builder = turmoil::Builder::new();
    builder
        .tick_duration(cfg.tick)
        .simulation_duration(duration)
        .epoch(UNIX_EPOCH + Duration::from_secs(sim::EPOCH_UNIX_S))
        .min_message_latency(Duration::from_micros(net.latency_us_min))
        .max_message_latency(Duration::from_micros(net.latency_us_max))
        .fail_rate(0.0)
        .repair_rate(1.0)
        .tcp_capacity(cfg.tcp_capacity)
        .rng_seed(sim::derive_seed(opts.seed, "turmoil"));
    let mut world = builder.build();

    let mut trace = sim::Trace::new(opts.keep_events);
    let metrics = Rc::new(RefCell::new(Metrics::new()));
    {
        let m = metrics.clone();
        trace.subscribe(Box::new(move |e| m.borrow_mut().observe(e)));
    }
    let checker = Rc::new(RefCell::new(Some(crate::invariants::Checker::new(built.invariant_spec.clone()))));
    {
        let c = checker.clone();
        trace.subscribe(Box::new(move |e| {
            if let Some(c) = c.borrow_mut().as_mut() {
                c.observe(e);
            }
        }));
    }

    let state = install(&mut world, topology, opts.seed, trace);
    let guard = Installed::new(state);

    let steps_per_report = (duration.as_nanos() / cfg.tick.as_nanos().max(1) / 200).max(1) as u64;
    let mut steps = 0u64;
    while world.elapsed() < duration {
        if let Err(e) = world.step() {
            drop(world);
            return Err(ScenarioError { file: loaded.path.clone(), line: None, column: None, field: "turmoil".into(), message: e.to_string() });
        }
        steps += 1;
        if steps.is_multiple_of(steps_per_report) {
            progress(world.elapsed().min(duration), duration);
        }
    }
    let sim_seconds = world.elapsed().as_secs();
    // Drop every host's tasks while the seam still answers (a dropped stream may ask who it is).
    drop(world);
    let (count, digest, events) = with_state(|st| (st.trace.count(), st.trace.digest_hex(), st.trace.take_events()));
    drop(guard);
    let wall_ms = crate::cluster::wall_clock_elapsed_ms(wall_start);
    let facts = built.facts(loaded, opts.seed, sim_seconds, wall_ms, count, digest);
    let checker = checker.borrow_mut().take();
    Ok(crate::cluster::finish(&metrics.borrow(), checker, facts, events))
}

/// Registers every host with turmoil, in the topology's order, each host's processes as tasks of its
/// one turmoil host; returns the seam's table of hosts.
fn install(world: &mut turmoil::Sim<'_>, topology: Topology, seed: u64, trace: sim::Trace) -> State {
    let mut st = State {
        hosts: Vec::new(),
        by_name: BTreeMap::new(),
        by_ip: BTreeMap::new(),
        trace,
        driver_rng: ChaCha8Rng::seed_from_u64(sim::derive_seed(seed, "driver")),
    };
    for (i, host) in topology.hosts.into_iter().enumerate() {
        let software: Rc<Vec<crate::cluster::Software>> = Rc::new(host.processes.into_iter().map(|p| p.software).collect());
        world.host(host.name.as_str(), move || {
            let software = software.clone();
            OnHost {
                host: i,
                fut: Box::pin(async move {
                    for s in software.iter() {
                        spawn(s());
                    }
                    // A turmoil host whose software returns stops being ticked: keep it up.
                    std::future::pending::<()>().await;
                    turmoil::Result::Ok(())
                }),
            }
        });
        let ip = world.lookup(host.name.as_str());
        st.by_name.insert(host.name.clone(), i);
        for a in &host.aliases {
            st.by_name.insert(a.clone(), i);
        }
        st.by_ip.insert(ip, i);
        st.hosts.push(HostEntry {
            rng: ChaCha8Rng::seed_from_u64(sim::derive_seed(seed, &format!("host/{}", host.name))),
            name: host.name,
            ip,
            local_addrs: BTreeSet::new(),
            ports: BTreeSet::new(),
        });
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_into_host_and_port() {
        type HostPort<'a> = (Option<&'a str>, u16);
        let cases: &[(&str, Option<HostPort>)] = &[
            ("sts.us-west-2.amazonaws.com:443", Some((Some("sts.us-west-2.amazonaws.com"), 443))),
            ("169.254.170.23:80", Some((Some("169.254.170.23"), 80))),
            ("[fd00:ec2::23]:80", Some((Some("fd00:ec2::23"), 80))),
            ("443", Some((None, 443))),
            ("host:http", None),
            ("", None),
        ];
        for (addr, want) in cases {
            assert_eq!(split_addr(addr).ok(), *want, "{addr}");
        }
    }

    fn host(name: &str, ip: [u8; 4], local: &[&str]) -> HostEntry {
        HostEntry {
            name: name.into(),
            ip: IpAddr::from(ip),
            rng: ChaCha8Rng::seed_from_u64(0),
            local_addrs: local.iter().map(|a| a.parse().expect("test address")).collect(),
            ports: BTreeSet::new(),
        }
    }

    #[test]
    fn names_aliases_and_node_local_addresses_resolve_as_in_our_engine() {
        let hosts = vec![
            host("sts.us-west-2.amazonaws.com", [192, 168, 0, 1], &[]),
            host("node-1", [192, 168, 0, 2], &["169.254.170.23"]),
            host("node-2", [192, 168, 0, 3], &["169.254.170.23"]),
        ];
        let mut by_name: BTreeMap<String, usize> = hosts.iter().enumerate().map(|(i, h)| (h.name.clone(), i)).collect();
        by_name.insert("sts.amazonaws.com".into(), 0);
        let by_ip = hosts.iter().enumerate().map(|(i, h)| (h.ip, i)).collect();
        let _installed = Installed::new(State { hosts, by_name, by_ip, trace: sim::Trace::new(false), driver_rng: ChaCha8Rng::seed_from_u64(0) });
        let cases: &[(Option<usize>, &str, Result<&str, io::ErrorKind>)] = &[
            (Some(1), "sts.us-west-2.amazonaws.com:443", Ok("192.168.0.1:443")),
            (Some(1), "sts.amazonaws.com:443", Ok("192.168.0.1:443")),
            (Some(1), "169.254.170.23:80", Ok("192.168.0.2:80")),
            (Some(2), "169.254.170.23:80", Ok("192.168.0.3:80")),
            (Some(2), "127.0.0.1:80", Ok("192.168.0.3:80")),
            (Some(2), "192.168.0.2:80", Ok("192.168.0.2:80")),
            (Some(0), "169.254.170.23:80", Err(io::ErrorKind::HostUnreachable)),
            (Some(1), "nowhere.example:443", Err(io::ErrorKind::NotFound)),
            (Some(1), "sts.amazonaws.com", Err(io::ErrorKind::InvalidInput)),
        ];
        for (me, addr, want) in cases {
            CURRENT.with(|c| c.set(*me));
            let got = resolve(addr).map(|a| a.to_string()).map_err(|e| e.kind());
            assert_eq!(got, want.map(str::to_string), "{addr} from host {me:?}");
        }
    }
}
