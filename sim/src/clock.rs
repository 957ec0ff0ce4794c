//! Simulated time.
//!
//! There are two clocks, as on a real machine:
//!
//! * the monotonic clock is tokio's paused clock ([`now_monotonic`], or `tokio::time::Instant::now()`),
//!   shared by every host; timers and timeouts use it;
//! * the wall clock ([`wall_clock`]) is what a host believes the date is: a fixed epoch (never the real
//!   clock) plus the simulated time elapsed since the run started plus that host's skew. Tokens,
//!   expirations and `Date` headers use it, so clock-skew faults reach exactly the code a real skew would.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::world::with_world;

/// The simulated epoch: 2027-01-15T00:00:00Z. Fixed, so the same seed gives the same dates on any day.
pub const EPOCH_UNIX_S: u64 = 1_799_971_200;

/// Simulated time elapsed since the run started (the same on every host).
pub fn elapsed() -> Duration {
    with_world(|w| w.elapsed())
}

/// The monotonic clock (tokio's paused clock).
pub fn now_monotonic() -> tokio::time::Instant {
    tokio::time::Instant::now()
}

/// The calling host's wall clock: epoch + elapsed + this host's skew.
///
/// Outside any host (the scenario driver) it is the true simulated wall clock, with no skew.
pub fn wall_clock() -> SystemTime {
    with_world(|w| {
        let base = UNIX_EPOCH + Duration::from_secs(EPOCH_UNIX_S) + w.elapsed();
        let skew_ms = crate::host::current_host().map_or(0, |h| w.host(h).skew_ms);
        if skew_ms >= 0 {
            base + Duration::from_millis(skew_ms as u64)
        } else {
            base - Duration::from_millis(skew_ms.unsigned_abs())
        }
    })
}

/// The true simulated wall clock with no skew (what an omniscient observer would read).
pub fn true_wall_clock() -> SystemTime {
    with_world(|w| UNIX_EPOCH + Duration::from_secs(EPOCH_UNIX_S) + w.elapsed())
}
