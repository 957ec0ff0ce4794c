//! EKS Auth's request rate limit as a token bucket.
//!
//! AWS publishes no rate limit for `AssumeRoleForPodIdentity`; users report "the low per-account
//! rate limit" and `ThrottlingException` bursts (agent issues #34, #50, #92, #97, #171;
//! `agent.md` §3.4). The bucket's rate and burst are therefore configuration (\[unk\] defaults in
//! `EksAuthConfig`). One bucket per EKS Auth instance = one account in one region.
//!
//! Tokens are counted in millionths so that refills are exact integer arithmetic on the simulated
//! clock (no floating point, same bytes every run).

use std::time::Duration;

use tokio::time::Instant;

/// Millionths of a token.
const SCALE: u128 = 1_000_000;

/// A token bucket: `burst` tokens at most, refilled at `rate_per_s`.
#[derive(Debug)]
pub struct TokenBucket {
    rate_per_s: u64,
    burst: u64,
    /// Tokens × [`SCALE`].
    level: u128,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate_per_s: u64, burst: u64, now: Instant) -> TokenBucket {
        let burst = burst.max(1);
        TokenBucket { rate_per_s, burst, level: u128::from(burst) * SCALE, last: now }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed: Duration = now.saturating_duration_since(self.last);
        self.last = now;
        let refill = elapsed.as_micros() * u128::from(self.rate_per_s);
        self.level = (self.level + refill).min(u128::from(self.burst) * SCALE);
        if self.level >= SCALE {
            self.level -= SCALE;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn burst_then_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(2, 3, t0);
        assert!(b.try_take(t0) && b.try_take(t0) && b.try_take(t0));
        assert!(!b.try_take(t0));
        // 2 per second: one token every 500 ms.
        assert!(!b.try_take(t0 + Duration::from_millis(499)));
        assert!(b.try_take(t0 + Duration::from_millis(500)));
        assert!(!b.try_take(t0 + Duration::from_millis(500)));
        // Never more than the burst, however long it rested.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!((0..5).filter(|_| b.try_take(later)).count(), 3);
    }
}
