//! A token bucket with the semantics of `golang.org/x/time/rate.Limiter`, which the agent uses twice:
//! per credential server and pattern (1000 req/s, burst 500, `Allow` → 429), and for background
//! renewals (`--max-service-qps` 3/s, burst 3, `Allow` then `Wait`) (`agent.md` §1.2, §2).
//!
//! Pure: time is passed in as the span since an arbitrary origin (the host's elapsed simulated time).

use std::time::Duration;

/// `rate.Limiter`: tokens refill at `rate_per_s` up to `burst`; a new limiter starts full.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate_per_s: f64,
    burst: f64,
    tokens: f64,
    last: Duration,
}

impl TokenBucket {
    pub fn new(rate_per_s: f64, burst: u32) -> TokenBucket {
        assert!(rate_per_s > 0.0, "a limiter needs a positive rate");
        TokenBucket { rate_per_s, burst: f64::from(burst), tokens: f64::from(burst), last: Duration::ZERO }
    }

    /// Tokens available at `now` (refilled since the last update, capped at the burst).
    fn advance(&self, now: Duration) -> f64 {
        let elapsed = now.saturating_sub(self.last).as_secs_f64();
        (self.tokens + elapsed * self.rate_per_s).min(self.burst)
    }

    /// `Allow()`: takes a token if one is available now.
    pub fn allow(&mut self, now: Duration) -> bool {
        let t = self.advance(now);
        if t >= 1.0 {
            self.tokens = t - 1.0;
            self.last = self.last.max(now);
            true
        } else {
            false
        }
    }

    /// `Wait()`'s reservation: takes a token, going into debt if needed, and returns how long the
    /// caller must wait before acting.
    pub fn reserve(&mut self, now: Duration) -> Duration {
        let t = self.advance(now) - 1.0;
        self.tokens = t;
        self.last = self.last.max(now);
        if t >= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(-t / self.rate_per_s) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_limiter_allows_the_burst_then_the_rate() {
        // The credential server's limiter: 1000 req/s, burst 500 (configuration.RequestRate / 2).
        let mut b = TokenBucket::new(1000.0, 500);
        let t0 = Duration::from_secs(10);
        assert_eq!((0..600).filter(|_| b.allow(t0)).count(), 500);
        // 1 ms later exactly one more token has arrived.
        assert!(b.allow(t0 + Duration::from_millis(1)));
        assert!(!b.allow(t0 + Duration::from_millis(1)));
        // Half a second refills the whole burst, no more.
        assert_eq!((0..600).filter(|_| b.allow(t0 + Duration::from_secs(2))).count(), 500);
    }

    #[test]
    fn renewal_limiter_allow_then_wait_spends_two_tokens() {
        // 3/s, burst 3: Allow + Wait per renewal, so the first renewal costs two tokens and the second
        // finds one left, then has to wait a third of a second for the one Wait takes.
        let mut b = TokenBucket::new(3.0, 3);
        let t = Duration::from_secs(60);
        assert!(b.allow(t));
        assert_eq!(b.reserve(t), Duration::ZERO);
        assert!(b.allow(t));
        let w = b.reserve(t);
        assert!((w.as_secs_f64() - 1.0 / 3.0).abs() < 1e-9, "{w:?}");
        // In debt: nothing allowed until the debt is paid and a token has come back.
        assert!(!b.allow(t + Duration::from_millis(500)));
        assert!(b.allow(t + Duration::from_millis(667)));
    }
}
