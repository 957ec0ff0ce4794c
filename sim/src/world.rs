//! The world: everything a simulation owns, and [`Sim`], the handle that builds and runs it.
//!
//! The world lives in a thread-local for the duration of [`Sim::run`], so code inside the simulation can
//! ask for the time, its RNG or a socket through free functions, as it would ask the OS.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::host::{self, HostId, Owner};
use crate::net::{self, Fabric, HostNet, LatencyModel, LinkFaults, ListenerQueue};
use crate::trace::{Event, Trace};

type Software = Rc<dyn Fn() -> Pin<Box<dyn Future<Output = ()>>>>;

/// One named process of a host: the software it starts and the tasks it owns.
struct Process {
    name: String,
    software: Vec<Software>,
    tasks: Vec<AbortHandle>,
    tasks_pruned_at: usize,
    running: bool,
}

impl Process {
    fn new(name: &str) -> Process {
        Process { name: name.to_string(), software: Vec::new(), tasks: Vec::new(), tasks_pruned_at: 0, running: true }
    }
}

/// The process that [`Sim::add_software`] adds to.
pub const MAIN_PROCESS: &str = "main";

pub(crate) struct HostState {
    pub(crate) name: String,
    /// Wall-clock skew of this host, milliseconds (positive: the host's clock runs ahead).
    pub(crate) skew_ms: i64,
    rng: ChaCha8Rng,
    net: HostNet,
    /// Processes in registration order (the order they start in).
    processes: Vec<Process>,
    /// Whether the machine is up (a crashed host runs none of its processes).
    running: bool,
}

impl HostState {
    pub(crate) fn process_name(&self, p: usize) -> &str {
        &self.processes[p].name
    }

    fn process_index(&self, name: &str) -> Option<usize> {
        self.processes.iter().position(|p| p.name == name)
    }

    /// Forgets the listeners of process `p` (all processes when `None`) at once, so nothing can connect
    /// to them while their aborted tasks wait to be dropped, and a restart can bind the same ports.
    fn drop_listeners(&mut self, p: Option<usize>) {
        self.net.listeners.retain(|_, q| p.is_some_and(|p| q.borrow().owner_process() != p));
    }
}

pub(crate) struct WorldState {
    seed: u64,
    start: Option<Instant>,
    hosts: Vec<HostState>,
    names: BTreeMap<String, HostId>,
    addrs: BTreeMap<IpAddr, HostId>,
    fabric: Fabric,
    trace: Trace,
    driver_rng: ChaCha8Rng,
    ended_at: Duration,
}

thread_local! {
    static WORLD: RefCell<Option<Rc<RefCell<WorldState>>>> = const { RefCell::new(None) };
}

/// Runs `f` with the installed world. Panics outside [`Sim::run`] (a programming error, not input).
pub(crate) fn with_world<R>(f: impl FnOnce(&mut WorldState) -> R) -> R {
    let w = WORLD.with(|w| w.borrow().clone()).expect("no simulation is running on this thread");
    let mut st = w.borrow_mut();
    f(&mut st)
}

pub(crate) fn try_elapsed() -> Option<Duration> {
    let w = WORLD.with(|w| w.borrow().clone())?;
    let st = w.try_borrow().ok()?;
    Some(st.elapsed())
}

/// Runs `f` with the calling host's seeded RNG (the driver's RNG outside hosts).
pub fn with_rng<R>(f: impl FnOnce(&mut ChaCha8Rng) -> R) -> R {
    let h = host::current_host();
    with_world(|w| match h {
        Some(h) => f(&mut w.hosts[h.0 as usize].rng),
        None => f(&mut w.driver_rng),
    })
}

impl WorldState {
    pub(crate) fn elapsed(&self) -> Duration {
        self.start.map(|s| Instant::now().saturating_duration_since(s)).unwrap_or_default()
    }

    pub(crate) fn host(&self, h: HostId) -> &HostState {
        &self.hosts[h.0 as usize]
    }

    pub(crate) fn fabric_mut(&mut self) -> &mut Fabric {
        &mut self.fabric
    }

    pub(crate) fn trace_mut(&mut self) -> &mut Trace {
        &mut self.trace
    }

    pub(crate) fn register_task(&mut self, o: Owner, handle: AbortHandle) {
        let ps = &mut self.hosts[o.host.0 as usize].processes[o.process];
        ps.tasks.push(handle);
        // Forget finished tasks now and then, so long runs don't accumulate handles.
        if ps.tasks.len() >= 2 * ps.tasks_pruned_at.max(64) {
            ps.tasks.retain(|t| !t.is_finished());
            ps.tasks_pruned_at = ps.tasks.len();
        }
    }

    /// The index of host `h`'s process `name`, registering it (with no software) if it is new.
    pub(crate) fn process_or_create(&mut self, h: HostId, name: &str) -> usize {
        let hs = &mut self.hosts[h.0 as usize];
        match hs.process_index(name) {
            Some(p) => p,
            None => {
                hs.processes.push(Process::new(name));
                hs.processes.len() - 1
            }
        }
    }

    /// Resolves `"name:port"` or `"ip:port"` as seen from host `from`.
    pub(crate) fn resolve(&self, from: HostId, addr: &str) -> io::Result<(HostId, IpAddr, u16)> {
        let (name, port) = addr
            .rsplit_once(':')
            .and_then(|(n, p)| Some((n.trim_start_matches('[').trim_end_matches(']'), p.parse::<u16>().ok()?)))
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("bad address {addr:?}")))?;
        if let Ok(ip) = name.parse::<IpAddr>() {
            // A host's own addresses (loopback, node-local link-local services) resolve to itself first.
            if ip.is_loopback() || self.hosts[from.0 as usize].net.addrs.contains(&ip) {
                return Ok((from, ip, port));
            }
            return match self.addrs.get(&ip) {
                Some(h) => Ok((*h, ip, port)),
                // Nobody owns it: a real SYN would go nowhere. Report it as unreachable.
                None => Err(io::Error::new(io::ErrorKind::HostUnreachable, format!("no route to {ip}"))),
            };
        }
        match self.names.get(name) {
            Some(h) => Ok((*h, self.hosts[h.0 as usize].net.addrs[0], port)),
            None => Err(io::Error::new(io::ErrorKind::NotFound, format!("unknown host {name:?}"))),
        }
    }

    pub(crate) fn ephemeral(&mut self, h: HostId) -> (IpAddr, u16) {
        self.hosts[h.0 as usize].net.next_ephemeral()
    }

    /// The listener that accepts a connection to `ip:port` on host `h`: one bound to exactly that address,
    /// else one bound to every address of the host (Linux semantics).
    pub(crate) fn listener(&self, h: HostId, ip: IpAddr, port: u16) -> Option<Rc<RefCell<ListenerQueue>>> {
        let hs = &self.hosts[h.0 as usize];
        if !hs.running {
            return None;
        }
        let q = hs.net.listeners.get(&(port, Some(ip))).or_else(|| hs.net.listeners.get(&(port, None)))?;
        // A listener of a crashed process is gone (it is also removed at the crash; belt and braces).
        if !hs.processes[q.borrow().owner_process()].running {
            return None;
        }
        Some(q.clone())
    }

    pub(crate) fn bind(
        &mut self,
        h: HostId,
        ip: Option<IpAddr>,
        port: u16,
        q: Rc<RefCell<ListenerQueue>>,
    ) -> io::Result<std::net::SocketAddr> {
        let hs = &mut self.hosts[h.0 as usize];
        // Two listeners may share a port on different addresses; a wildcard bind conflicts with any.
        let in_use = hs.net.listeners.keys().any(|(p, bound)| *p == port && (ip.is_none() || bound.is_none() || *bound == ip));
        if in_use {
            return Err(io::Error::new(io::ErrorKind::AddrInUse, format!("port {port} in use on {}", hs.name)));
        }
        let local = match ip {
            Some(ip) => {
                if !hs.net.addrs.contains(&ip) {
                    hs.net.addrs.push(ip);
                }
                ip
            }
            None => hs.net.addrs[0],
        };
        hs.net.listeners.insert((port, ip), q);
        Ok(std::net::SocketAddr::new(local, port))
    }

    pub(crate) fn unbind(&mut self, h: HostId, port: u16, ip: Option<IpAddr>, q: &Rc<RefCell<ListenerQueue>>) {
        let l = &mut self.hosts[h.0 as usize].net.listeners;
        if l.get(&(port, ip)).is_some_and(|cur| Rc::ptr_eq(cur, q)) {
            l.remove(&(port, ip));
        }
    }
}

/// How to build a world.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The one seed everything random derives from.
    pub seed: u64,
    /// Keep every trace event in memory (for trace files and checkers that need the whole history).
    pub keep_events: bool,
    /// Default one-way latency of every link.
    pub latency: LatencyModel,
}

impl SimConfig {
    pub fn new(seed: u64) -> Self {
        SimConfig { seed, keep_events: true, latency: LatencyModel::default() }
    }
}

/// A simulation: a world built from a seed, its hosts, and a runtime whose clock only moves when asked.
pub struct Sim {
    world: Rc<RefCell<WorldState>>,
    rt: tokio::runtime::Runtime,
}

impl Sim {
    pub fn new(cfg: SimConfig) -> Sim {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("building a current-thread runtime with only the timer cannot fail");
        let world = WorldState {
            seed: cfg.seed,
            start: None,
            hosts: Vec::new(),
            names: BTreeMap::new(),
            addrs: BTreeMap::new(),
            fabric: Fabric::new(cfg.latency, ChaCha8Rng::seed_from_u64(crate::derive_seed(cfg.seed, "network"))),
            trace: Trace::new(cfg.keep_events),
            driver_rng: ChaCha8Rng::seed_from_u64(crate::derive_seed(cfg.seed, "driver")),
            ended_at: Duration::ZERO,
        };
        Sim { world: Rc::new(RefCell::new(world)), rt }
    }

    /// Registers a host. Its RNG is derived from the seed and its name, its address from its order.
    pub fn add_host(&self, name: &str) -> HostId {
        let mut w = self.world.borrow_mut();
        assert!(!w.names.contains_key(name), "host {name:?} registered twice");
        let id = HostId(w.hosts.len() as u32);
        let ip = net::host_ip(id.0);
        let rng = ChaCha8Rng::seed_from_u64(crate::derive_seed(w.seed, &format!("host/{name}")));
        w.hosts.push(HostState {
            name: name.to_string(),
            skew_ms: 0,
            rng,
            net: HostNet::new(ip),
            processes: Vec::new(),
            running: true,
        });
        w.names.insert(name.to_string(), id);
        w.addrs.insert(ip, id);
        id
    }

    /// Adds a piece of software to a host's [`MAIN_PROCESS`]. It starts when the run starts and again on
    /// every restart, each time from scratch (state it builds inside the future is lost on a crash).
    pub fn add_software<F, Fut>(&self, h: HostId, factory: F)
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.add_process(h, MAIN_PROCESS, factory);
    }

    /// Adds a piece of software to the process `name` of a host (creating the process on first use).
    /// A process crashes and restarts on its own ([`control::crash_process`]) or with its host; every
    /// task its software spawns belongs to it. Processes start in the order they were first named.
    pub fn add_process<F, Fut>(&self, h: HostId, name: &str, factory: F)
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        let f: Software = Rc::new(move || Box::pin(factory()));
        let mut w = self.world.borrow_mut();
        let p = w.process_or_create(h, name);
        w.hosts[h.0 as usize].processes[p].software.push(f);
    }

    /// Gives a host another name (a second DNS name for the same machine, e.g. a global and a regional
    /// endpoint served by one service).
    pub fn add_alias(&self, h: HostId, name: &str) {
        let mut w = self.world.borrow_mut();
        assert!(!w.names.contains_key(name), "host name {name:?} registered twice");
        w.names.insert(name.to_string(), h);
    }

    /// Looks a host up by name.
    pub fn host_id(&self, name: &str) -> Option<HostId> {
        self.world.borrow().names.get(name).copied()
    }

    /// Subscribes to trace events as they are recorded.
    pub fn subscribe(&self, f: impl FnMut(&Event) + 'static) {
        self.world.borrow_mut().trace.subscribe(Box::new(f));
    }

    /// Runs the world: starts every host's software, then drives `driver` (the scenario: it waits, injects
    /// faults, and returns when the run is over). Simulated time only moves while something waits.
    pub fn run<F: Future>(&mut self, driver: F) -> F::Output {
        WORLD.with(|w| *w.borrow_mut() = Some(self.world.clone()));
        let local = tokio::task::LocalSet::new();
        let out = local.block_on(&self.rt, async {
            self.world.borrow_mut().start = Some(Instant::now());
            let n = self.world.borrow().hosts.len();
            for i in 0..n {
                start_software(HostId(i as u32));
            }
            let out = driver.await;
            let mut w = self.world.borrow_mut();
            w.ended_at = w.elapsed();
            out
        });
        // Drop every task while the world is still installed, each on its own host.
        drop(local);
        WORLD.with(|w| *w.borrow_mut() = None);
        out
    }

    /// Runs the world for a span of simulated time with no driver.
    pub fn run_for(&mut self, d: Duration) {
        self.run(async move { tokio::time::sleep(d).await })
    }

    /// Simulated time elapsed when the last run ended.
    pub fn elapsed(&self) -> Duration {
        self.world.borrow().ended_at
    }

    /// The trace digest so far.
    pub fn digest(&self) -> String {
        self.world.borrow().trace.digest_hex()
    }

    /// Number of trace events so far.
    pub fn event_count(&self) -> u64 {
        self.world.borrow().trace.count()
    }

    /// Takes the events kept in memory.
    pub fn take_events(&self) -> Vec<Event> {
        self.world.borrow_mut().trace.take_events()
    }

    /// Packets sent over the fabric so far.
    pub fn packets(&self) -> u64 {
        self.world.borrow().fabric.packets
    }
}

fn start_software(h: HostId) {
    let n = with_world(|w| w.hosts[h.0 as usize].processes.len());
    for p in 0..n {
        start_process(h, p);
    }
}

fn start_process(h: HostId, p: usize) {
    let software = with_world(|w| w.hosts[h.0 as usize].processes[p].software.clone());
    for s in software {
        host::spawn_on(Some(Owner { host: h, process: p }), s());
    }
}

/// Aborts every task of process `p` of host `h` (sockets close with FIN/RST as their tasks drop).
fn abort_process(w: &mut WorldState, h: HostId, p: usize) -> Vec<AbortHandle> {
    let ps = &mut w.hosts[h.0 as usize].processes[p];
    ps.running = false;
    ps.tasks_pruned_at = 0;
    std::mem::take(&mut ps.tasks)
}

/// Fault injection and control, callable from the scenario driver while the world runs.
pub mod control {
    use super::*;

    /// Looks a host up by name.
    pub fn host(name: &str) -> Option<HostId> {
        with_world(|w| w.names.get(name).copied())
    }

    /// The name of a host.
    pub fn host_name(h: HostId) -> String {
        with_world(|w| w.hosts[h.0 as usize].name.clone())
    }

    /// Crashes a host's software, every process of it: its tasks are aborted, so its sockets close (peers
    /// see FIN or RST) and its listeners go away (new connections are refused). Its memory is lost.
    pub fn crash(h: HostId) {
        let tasks = with_world(|w| {
            w.hosts[h.0 as usize].running = false;
            w.hosts[h.0 as usize].drop_listeners(None);
            let n = w.hosts[h.0 as usize].processes.len();
            (0..n).flat_map(|p| abort_process(w, h, p)).collect::<Vec<_>>()
        });
        for t in tasks {
            t.abort();
        }
    }

    /// Starts a crashed host's software again, every process, from scratch (a reboot). Does nothing to a
    /// host that is up (restart its crashed processes with [`restart_process`]).
    pub fn restart(h: HostId) {
        let was_running = with_world(|w| {
            let hs = &mut w.hosts[h.0 as usize];
            let was = std::mem::replace(&mut hs.running, true);
            if !was {
                for p in &mut hs.processes {
                    p.running = true;
                }
            }
            was
        });
        if !was_running {
            start_software(h);
        }
    }

    /// Whether a host's software is running (the machine is up; some processes may still be crashed).
    pub fn is_running(h: HostId) -> bool {
        with_world(|w| w.hosts[h.0 as usize].running)
    }

    /// The names of a host's processes, in the order they start.
    pub fn process_names(h: HostId) -> Vec<String> {
        with_world(|w| w.hosts[h.0 as usize].processes.iter().map(|p| p.name.clone()).collect())
    }

    /// Crashes one process of a host, as [`crash`] does a whole host: its tasks are aborted, its sockets
    /// close with FIN/RST, its listeners go away (connections are refused); the host's other processes
    /// keep running. Returns `false` (and does nothing) if the host has no process of that name.
    pub fn crash_process(h: HostId, name: &str) -> bool {
        let tasks = with_world(|w| {
            let p = w.hosts[h.0 as usize].process_index(name)?;
            w.hosts[h.0 as usize].drop_listeners(Some(p));
            Some(abort_process(w, h, p))
        });
        let Some(tasks) = tasks else { return false };
        for t in tasks {
            t.abort();
        }
        true
    }

    /// Starts a crashed process again, from scratch. Does nothing to a process that is running, or on a
    /// crashed host (a host restart starts all its processes). Returns `false` if there is no such process.
    pub fn restart_process(h: HostId, name: &str) -> bool {
        let start = with_world(|w| {
            let hs = &mut w.hosts[h.0 as usize];
            let p = hs.process_index(name)?;
            let start = hs.running && !std::mem::replace(&mut hs.processes[p].running, true);
            if !hs.running {
                // Stays down until the host comes back; the host restart starts it.
                hs.processes[p].running = false;
            }
            Some(start.then_some(p))
        });
        match start {
            None => false,
            Some(Some(p)) => {
                start_process(h, p);
                true
            }
            Some(None) => true,
        }
    }

    /// Whether a process of a host is running (its host is up and it has not crashed on its own).
    /// `false` for a name the host has no process of.
    pub fn is_process_running(h: HostId, name: &str) -> bool {
        with_world(|w| {
            let hs = &w.hosts[h.0 as usize];
            hs.running && hs.process_index(name).is_some_and(|p| hs.processes[p].running)
        })
    }

    /// Cuts the link from `a` to `b` (one way). Packets sent across it are held until it heals.
    pub fn partition_oneway(a: HostId, b: HostId) {
        with_world(|w| {
            w.fabric.cut.insert((a, b));
        });
    }

    /// Cuts both directions between `a` and `b`.
    pub fn partition(a: HostId, b: HostId) {
        partition_oneway(a, b);
        partition_oneway(b, a);
    }

    /// Heals the link from `a` to `b` (one way) and releases what it held.
    pub fn heal_oneway(a: HostId, b: HostId) {
        with_world(|w| {
            w.fabric.cut.remove(&(a, b));
            w.fabric.retime_held(Instant::now());
        });
    }

    /// Heals both directions between `a` and `b`.
    pub fn heal(a: HostId, b: HostId) {
        heal_oneway(a, b);
        heal_oneway(b, a);
    }

    /// Sets faults on the directed link from `a` to `b`.
    pub fn set_link(a: HostId, b: HostId, faults: LinkFaults) {
        with_world(|w| {
            w.fabric.links.insert((a, b), faults);
        });
    }

    /// Sets a host's wall-clock skew in milliseconds.
    pub fn set_skew_ms(h: HostId, skew_ms: i64) {
        with_world(|w| w.hosts[h.0 as usize].skew_ms = skew_ms);
    }

    /// All host ids, in registration order.
    pub fn hosts() -> Vec<HostId> {
        with_world(|w| (0..w.hosts.len() as u32).map(HostId).collect())
    }
}
