//! The network: a message-level stream fabric with the semantics of a well-behaved TCP.
//!
//! Each connection is two one-way pipes of chunks (one chunk per write, like a segment). A chunk is
//! stamped with its delivery time when it is sent and becomes readable at that simulated instant; the
//! reader sleeps on a tokio timer until then, so delivering a packet costs one timer and idle time costs
//! nothing. The rules, chosen so that fault results never contain simulator artefacts:
//!
//! * **FIFO per link.** A chunk never overtakes an earlier one between the same two hosts
//!   (`due = max(now + latency, last due on that link)`), so data can never beat the handshake.
//! * **Nothing is ever dropped.** Packet loss on a link becomes retransmission delay: each loss adds an
//!   RTO, and the RTO doubles on repeated loss (Linux: 200 ms minimum RTO, 1 s initial SYN RTO).
//! * **Partitions hold packets** sent across them until the partition heals; a host that is partitioned
//!   and crashed (a lost machine) therefore looks silent, while a crashed process on a live machine
//!   answers with FIN/RST and refuses new connections.
//! * **Close.** Dropping a stream sends FIN, or RST when it still had unread data. Connecting to a port
//!   nobody listens on gets a reset after one round trip (`ConnectionRefused`); a full accept backlog drops
//!   the SYN, which is retransmitted after the SYN RTO.
//!
//! Streams implement tokio's `AsyncRead`/`AsyncWrite`, so hyper runs over them unchanged.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, Bytes};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::host::{current_host, current_owner, HostId};
use crate::world::with_world;

/// One-way latency of a link: uniform in `[min_us, max_us]` per packet.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatencyModel {
    pub min_us: u64,
    pub max_us: u64,
}

impl LatencyModel {
    pub fn fixed_us(us: u64) -> Self {
        LatencyModel { min_us: us, max_us: us }
    }
    fn sample(&self, rng: &mut ChaCha8Rng) -> Duration {
        let us = if self.max_us > self.min_us { rng.random_range(self.min_us..=self.max_us) } else { self.min_us };
        Duration::from_micros(us)
    }
}

impl Default for LatencyModel {
    /// 0.2–1 ms one way: two hosts in one availability zone.
    fn default() -> Self {
        LatencyModel { min_us: 200, max_us: 1_000 }
    }
}

/// Faults that apply to one directed link.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinkFaults {
    /// Probability that a packet is lost (and so retransmitted after an RTO).
    pub loss: f64,
    /// Latency override for this link.
    pub latency: Option<LatencyModel>,
}

/// Minimum retransmission timeout (Linux `TCP_RTO_MIN`).
const RTO_MIN: Duration = Duration::from_millis(200);
/// Initial SYN retransmission timeout (Linux `TCP_TIMEOUT_INIT`).
const SYN_RTO: Duration = Duration::from_secs(1);
/// SYN retransmissions before `connect` gives up (Linux `tcp_syn_retries` is 6).
const SYN_RETRIES_MAX: u32 = 6;
/// Accept backlog (Linux `somaxconn` default 4096 since 5.4; 1024 before).
pub const BACKLOG_DEFAULT: usize = 4096;
/// First ephemeral port (IANA dynamic range).
const EPHEMERAL_PORT_MIN: u16 = 49_152;

/// The fabric's shared state: link models, faults, FIFO clocks and held pipes.
pub(crate) struct Fabric {
    pub(crate) latency: LatencyModel,
    pub(crate) links: BTreeMap<(HostId, HostId), LinkFaults>,
    /// Directed cuts: packets from `.0` to `.1` are held.
    pub(crate) cut: BTreeSet<(HostId, HostId)>,
    last_due: BTreeMap<(HostId, HostId), Instant>,
    held: Vec<Weak<RefCell<Pipe>>>,
    rng: ChaCha8Rng,
    /// Woken whenever a partition changes, so held handshakes re-check.
    pub(crate) changed: Rc<tokio::sync::Notify>,
    pub(crate) packets: u64,
}

impl Fabric {
    pub(crate) fn new(latency: LatencyModel, rng: ChaCha8Rng) -> Self {
        Fabric {
            latency,
            links: BTreeMap::new(),
            cut: BTreeSet::new(),
            last_due: BTreeMap::new(),
            held: Vec::new(),
            rng,
            changed: Rc::new(tokio::sync::Notify::new()),
            packets: 0,
        }
    }

    /// When a packet sent now from `src` reaches `dst`, or `None` if the link is cut.
    fn schedule(&mut self, src: HostId, dst: HostId, now: Instant, first_rto: Duration) -> Option<Instant> {
        self.packets += 1;
        if src == dst {
            return Some(now);
        }
        if self.cut.contains(&(src, dst)) {
            return None;
        }
        let faults = self.links.get(&(src, dst)).copied().unwrap_or_default();
        let model = faults.latency.unwrap_or(self.latency);
        let mut delay = model.sample(&mut self.rng);
        if faults.loss > 0.0 {
            let mut rto = first_rto;
            let mut tries = 0;
            while tries < 16 && self.rng.random_bool(faults.loss.min(0.99)) {
                delay += rto;
                rto *= 2;
                tries += 1;
            }
        }
        let last = self.last_due.entry((src, dst)).or_insert(now);
        let due = (now + delay).max(*last);
        *last = due;
        Some(due)
    }

    /// Re-times held chunks after a partition change.
    pub(crate) fn retime_held(&mut self, now: Instant) {
        let held = std::mem::take(&mut self.held);
        for weak in held {
            let Some(pipe) = weak.upgrade() else { continue };
            let (src, dst) = {
                let p = pipe.borrow();
                (p.src, p.dst)
            };
            let mut still_held = false;
            let mut wake = None;
            {
                let mut p = pipe.borrow_mut();
                let mut i = 0;
                while i < p.chunks.len() {
                    if p.chunks[i].due.is_none() {
                        match self.schedule(src, dst, now, RTO_MIN) {
                            Some(d) => {
                                p.chunks[i].due = Some(d);
                                if i == 0 {
                                    wake = p.reader.take();
                                }
                            }
                            None => {
                                still_held = true;
                                break;
                            }
                        }
                    }
                    i += 1;
                }
            }
            if still_held {
                self.held.push(weak);
            }
            if let Some(w) = wake {
                w.wake();
            }
        }
        self.changed.notify_waiters();
    }
}

enum ChunkKind {
    Data(Bytes),
    Fin,
    Rst,
}

struct Chunk {
    /// Delivery time; `None` while held by a partition.
    due: Option<Instant>,
    kind: ChunkKind,
}

/// One direction of a connection.
pub(crate) struct Pipe {
    src: HostId,
    dst: HostId,
    chunks: VecDeque<Chunk>,
    reader: Option<Waker>,
    reader_gone: bool,
}

impl Pipe {
    fn new(src: HostId, dst: HostId) -> Rc<RefCell<Pipe>> {
        Rc::new(RefCell::new(Pipe { src, dst, chunks: VecDeque::new(), reader: None, reader_gone: false }))
    }
}

/// Sends one chunk down a pipe.
fn send(pipe: &Rc<RefCell<Pipe>>, kind: ChunkKind) {
    let now = Instant::now();
    let (src, dst, tail_held, gone) = {
        let p = pipe.borrow();
        (p.src, p.dst, p.chunks.back().is_some_and(|c| c.due.is_none()), p.reader_gone)
    };
    if gone {
        return;
    }
    let due = with_world(|w| {
        let f = w.fabric_mut();
        let due = if tail_held { None } else { f.schedule(src, dst, now, RTO_MIN) };
        if due.is_none() && !tail_held {
            f.held.push(Rc::downgrade(pipe));
        }
        due
    });
    let wake = {
        let mut p = pipe.borrow_mut();
        p.chunks.push_back(Chunk { due, kind });
        if p.chunks.len() == 1 { p.reader.take() } else { None }
    };
    if let Some(w) = wake {
        w.wake();
    }
}

/// A connected stream (mirrors `tokio::net::TcpStream`).
pub struct TcpStream {
    local: SocketAddr,
    peer: SocketAddr,
    rx: Rc<RefCell<Pipe>>,
    tx: Rc<RefCell<Pipe>>,
    timer: Option<Pin<Box<Sleep>>>,
    write_closed: bool,
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpStream").field("local", &self.local).field("peer", &self.peer).finish()
    }
}

impl TcpStream {
    /// Connects from the calling host to `addr` (`"name:port"` or `"ip:port"`).
    pub async fn connect(addr: &str) -> io::Result<TcpStream> {
        let src = current_host().ok_or_else(|| io::Error::other("connect outside a host"))?;
        let (dst, dst_ip, port) = with_world(|w| w.resolve(src, addr))?;
        let (src_ip, src_port) = with_world(|w| w.ephemeral(src));
        let local = SocketAddr::new(src_ip, src_port);
        let peer = SocketAddr::new(dst_ip, port);

        let mut rto = SYN_RTO;
        for _attempt in 0..=SYN_RETRIES_MAX {
            // SYN.
            let arrive = wait_link(src, dst, SYN_RTO).await;
            tokio::time::sleep_until(arrive).await;
            enum AtServer {
                Accepted(Rc<RefCell<Pipe>>, Rc<RefCell<Pipe>>),
                Refused,
                BacklogFull,
            }
            let outcome = with_world(|w| {
                let Some(listener) = w.listener(dst, dst_ip, port) else { return AtServer::Refused };
                let mut l = listener.borrow_mut();
                if l.queue.len() >= l.backlog {
                    return AtServer::BacklogFull;
                }
                let c2s = Pipe::new(src, dst);
                let s2c = Pipe::new(dst, src);
                let server = TcpStream {
                    local: SocketAddr::new(dst_ip, port),
                    peer: local,
                    rx: c2s.clone(),
                    tx: s2c.clone(),
                    timer: None,
                    write_closed: false,
                };
                l.queue.push_back(server);
                if let Some(wk) = l.waker.take() {
                    wk.wake();
                }
                AtServer::Accepted(c2s, s2c)
            });
            match outcome {
                AtServer::Accepted(c2s, s2c) => {
                    // SYN-ACK.
                    let back = wait_link(dst, src, RTO_MIN).await;
                    tokio::time::sleep_until(back).await;
                    return Ok(TcpStream { local, peer, rx: s2c, tx: c2s, timer: None, write_closed: false });
                }
                AtServer::Refused => {
                    let back = wait_link(dst, src, RTO_MIN).await;
                    tokio::time::sleep_until(back).await;
                    return Err(io::Error::new(io::ErrorKind::ConnectionRefused, format!("connection refused: {addr}")));
                }
                AtServer::BacklogFull => {
                    tokio::time::sleep(rto).await;
                    rto *= 2;
                }
            }
        }
        Err(io::Error::new(io::ErrorKind::TimedOut, format!("connect timed out: {addr}")))
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.peer)
    }
}

/// Waits until a packet from `src` can cross to `dst`, then returns its arrival time.
async fn wait_link(src: HostId, dst: HostId, first_rto: Duration) -> Instant {
    loop {
        let (due, changed) = with_world(|w| {
            let f = w.fabric_mut();
            (f.schedule(src, dst, Instant::now(), first_rto), f.changed.clone())
        });
        if let Some(d) = due {
            return d;
        }
        changed.notified().await;
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            let now = Instant::now();
            let wait_until = {
                let mut p = self.rx.borrow_mut();
                match p.chunks.front_mut() {
                    None => {
                        p.reader = Some(cx.waker().clone());
                        return Poll::Pending;
                    }
                    Some(Chunk { due: None, .. }) => {
                        p.reader = Some(cx.waker().clone());
                        return Poll::Pending;
                    }
                    Some(Chunk { due: Some(d), .. }) if *d > now => {
                        let d = *d;
                        p.reader = Some(cx.waker().clone());
                        d
                    }
                    Some(Chunk { kind: ChunkKind::Data(b), .. }) => {
                        let n = b.len().min(buf.remaining());
                        buf.put_slice(&b[..n]);
                        b.advance(n);
                        if b.is_empty() {
                            p.chunks.pop_front();
                        }
                        return Poll::Ready(Ok(()));
                    }
                    Some(Chunk { kind: ChunkKind::Fin, .. }) => return Poll::Ready(Ok(())),
                    Some(Chunk { kind: ChunkKind::Rst, .. }) => {
                        return Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionReset, "connection reset by peer")));
                    }
                }
            };
            let this = &mut *self;
            match &mut this.timer {
                Some(t) if t.deadline() == wait_until => {}
                Some(t) => t.as_mut().reset(wait_until),
                None => this.timer = Some(Box::pin(tokio::time::sleep_until(wait_until))),
            }
            match this.timer.as_mut().expect("timer set above").as_mut().poll(cx) {
                Poll::Ready(()) => continue,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

use std::future::Future;

impl TcpStream {
    fn reset_received(&self) -> bool {
        let now = Instant::now();
        let p = self.rx.borrow();
        matches!(p.chunks.front(), Some(Chunk { due: Some(d), kind: ChunkKind::Rst }) if *d <= now)
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.write_closed {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, "write after shutdown")));
        }
        if self.reset_received() {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionReset, "connection reset by peer")));
        }
        send(&self.tx, ChunkKind::Data(Bytes::copy_from_slice(buf)));
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.write_closed {
            self.write_closed = true;
            send(&self.tx, ChunkKind::Fin);
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        let unread = {
            let mut p = self.rx.borrow_mut();
            p.reader_gone = true;
            p.reader = None;
            let unread = p.chunks.iter().any(|c| matches!(c.kind, ChunkKind::Data(_)));
            p.chunks.clear();
            unread
        };
        if !self.write_closed {
            self.write_closed = true;
            send(&self.tx, if unread { ChunkKind::Rst } else { ChunkKind::Fin });
        }
    }
}

/// Accept queue of a listening socket.
pub(crate) struct ListenerQueue {
    queue: VecDeque<TcpStream>,
    waker: Option<Waker>,
    backlog: usize,
    /// The process (of the listener's host) that bound it: it goes away when that process crashes.
    owner_process: usize,
}

impl ListenerQueue {
    pub(crate) fn owner_process(&self) -> usize {
        self.owner_process
    }
}

/// A listening socket (mirrors `tokio::net::TcpListener`).
pub struct TcpListener {
    host: HostId,
    addr: SocketAddr,
    /// The address it was bound to (`None`: every address of the host).
    bound_ip: Option<IpAddr>,
    queue: Rc<RefCell<ListenerQueue>>,
}

impl TcpListener {
    /// Binds on the calling host. `addr` is `"port"`, `"0.0.0.0:port"` or `"ip:port"`; a specific IP
    /// becomes one of the host's addresses (how a node-local agent owns a link-local address).
    pub async fn bind(addr: &str) -> io::Result<TcpListener> {
        let owner = current_owner().ok_or_else(|| io::Error::other("bind outside a host"))?;
        let host = owner.host;
        let (ip, port) = parse_bind(addr)?;
        let queue = Rc::new(RefCell::new(ListenerQueue {
            queue: VecDeque::new(),
            waker: None,
            backlog: BACKLOG_DEFAULT,
            owner_process: owner.process,
        }));
        let addr = with_world(|w| w.bind(host, ip, port, queue.clone()))?;
        Ok(TcpListener { host, addr, bound_ip: ip, queue })
    }

    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        std::future::poll_fn(|cx| {
            let mut q = self.queue.borrow_mut();
            match q.queue.pop_front() {
                Some(s) => {
                    let peer = s.peer;
                    Poll::Ready(Ok((s, peer)))
                }
                None => {
                    q.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        let port = self.addr.port();
        let (host, ip) = (self.host, self.bound_ip);
        let q = self.queue.clone();
        with_world(|w| w.unbind(host, port, ip, &q));
        // Unaccepted connections are reset when their socket drops here.
        let pending = std::mem::take(&mut self.queue.borrow_mut().queue);
        drop(pending);
    }
}

fn parse_bind(addr: &str) -> io::Result<(Option<IpAddr>, u16)> {
    let bad = || io::Error::new(io::ErrorKind::InvalidInput, format!("bad bind address {addr:?}"));
    if let Ok(port) = addr.parse::<u16>() {
        return Ok((None, port));
    }
    let sa: SocketAddr = addr.parse().map_err(|_| bad())?;
    let ip = if sa.ip().is_unspecified() { None } else { Some(sa.ip()) };
    Ok((ip, sa.port()))
}

/// Per-host network state kept in the world.
pub(crate) struct HostNet {
    pub(crate) addrs: Vec<IpAddr>,
    /// Listeners by (port, bound address); `None` listens on every address of the host.
    pub(crate) listeners: BTreeMap<(u16, Option<IpAddr>), Rc<RefCell<ListenerQueue>>>,
    next_port: u16,
}

impl HostNet {
    pub(crate) fn new(ip: IpAddr) -> Self {
        HostNet { addrs: vec![ip], listeners: BTreeMap::new(), next_port: EPHEMERAL_PORT_MIN }
    }

    pub(crate) fn next_ephemeral(&mut self) -> (IpAddr, u16) {
        let p = self.next_port;
        self.next_port = if p == u16::MAX { EPHEMERAL_PORT_MIN } else { p + 1 };
        (self.addrs[0], p)
    }
}

/// The address the `n`-th host gets: 10.0.0.0/8, in registration order.
pub(crate) fn host_ip(n: u32) -> IpAddr {
    let n = n + 1;
    IpAddr::V4(Ipv4Addr::new(10, (n >> 16) as u8, (n >> 8) as u8, n as u8))
}
