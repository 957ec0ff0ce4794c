//! `sim`: a small, domain-free, event-driven deterministic network simulator.
//!
//! A simulation is one seed, one thread and one paused tokio runtime. Everything a program inside the
//! simulation could ask the outside world for — the time, a random number, a socket — comes from the
//! [`World`] instead, so the same seed replays the same run byte for byte.
//!
//! The major components are:
//!
//! * [`Sim`] — builds a world from a seed, registers named hosts with their software, and runs it for a
//!   span of simulated time. Idle time is free: tokio's paused clock jumps straight to the next timer,
//!   and every packet delivery *is* a timer, so there is no tick loop.
//! * [`host`] — hosts run named processes, and processes own tasks. [`spawn`] scopes a task to the calling
//!   host and process (its polls *and* its drop), so [`control::crash`] can abort exactly that host's
//!   software, [`control::crash_process`] exactly one process of it, and the restarts start them afresh.
//! * [`net`] — a message-level stream fabric with the semantics of a well-behaved TCP: FIFO per link,
//!   latency per packet, loss as retransmission delay (an RTO that doubles), partitions that hold
//!   packets until they heal, FIN/RST on close, connection refused when nothing listens.
//! * [`clock`] — each host's simulated wall clock: a fixed epoch + elapsed simulated time + that host's skew.
//! * [`trace`] — an ordered record of everything actors report, with a running digest that names the run.
//!
//! Architecture invariant: nothing in this crate knows what a pod, a token or a credential is.

pub mod clock;
pub mod host;
pub mod net;
pub mod trace;
mod world;

pub use clock::{elapsed, now_monotonic, true_wall_clock, wall_clock, EPOCH_UNIX_S};
pub use host::{current_host, current_host_name, current_process_name, spawn, spawn_in_process, HostId};
pub use net::{LatencyModel, LinkFaults};
pub use trace::{Event, FieldValue, Trace};
pub use world::{control, with_rng, Sim, SimConfig, MAIN_PROCESS};

/// Derives an independent 64-bit seed for a named purpose (a host, the network, an actor) from the run's
/// seed, so adding a host or an actor never shifts the random numbers another one sees.
pub fn derive_seed(seed: u64, purpose: &str) -> u64 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(purpose.as_bytes());
    let out = h.finalize();
    u64::from_le_bytes(out[..8].try_into().expect("sha256 output has 32 bytes"))
}
