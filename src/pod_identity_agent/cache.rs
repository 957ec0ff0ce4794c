//! The agent's credential cache, as v0.1.37 runs it (`agent.md` §2; `internal/credsretriever/
//! refreshing_cache.go` over `internal/cache/expiring`), with the newer pod-UID key as a switch (§2b).
//!
//! Every rule is a pure function of the state and an injected wall-clock `now`:
//!
//! * an entry is stored only if its credentials have more than the minimum TTL (15 s) left; it is due
//!   for renewal `min(time to expiry, max_credential_retention_before_renewal)` after the store and is
//!   evicted at the credentials' expiry;
//! * a lookup serves an entry that is not past its eviction time and still has more than the minimum
//!   TTL left; an entry with less is deleted (and the request goes to EKS Auth);
//! * storing moves an entry to the front of the LRU list (reads do not), and overflowing
//!   `cache_entries_max` evicts the least recently *stored* entry;
//! * a failed renewal drops the entry on the four irrecoverable EKS Auth errors, and otherwise keeps it,
//!   rescheduling the next try after `min(time left, retry interval + jitter)` while more than the
//!   minimum TTL is left (else the entry stays due and expires);
//! * the sweep first renews every entry whose renewal time has passed (a snapshot taken at the start,
//!   in least-recently-stored order where Go walks a map), then evicts every entry past its expiry.
//!
//! [`InFlight`] is the second cache upstream keeps (`internalActiveRequestCache`): tokens with an
//! EKS Auth call in progress, which identical requests poll before calling EKS Auth themselves.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use indexmap::IndexSet;

use super::eks_auth::AgentCredentials;
use super::validation::TokenIdentity;

/// What the cache is keyed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheKey {
    /// v0.1.37: the raw service-account token, so every token rotation or new pod is a miss.
    Token,
    /// Newer agents (PR #143/#154): the token's `kubernetes.io.pod.uid`. A cached entry is served only to
    /// the token it was fetched for; local JWT validation of a rotated token is not modelled (as when
    /// the agent has no validator), so a new token for the pod is a miss that replaces the entry.
    PodUid,
}

/// The cache's rules (see [`super::PodIdentityAgentConfig`] for sources).
#[derive(Clone, Debug)]
pub struct CacheRules {
    pub key: CacheKey,
    pub max_credential_retention_before_renewal: Duration,
    pub entries_max: usize,
    pub credential_ttl_min: Duration,
    pub renewal_retry_interval: Duration,
    /// Planted bug `AgentServesExpired` (false upstream): entries are never evicted for age (neither at
    /// expiry by the sweep nor under the minimum TTL by a request), and [`CredentialCache::kept_expired`]
    /// offers them when a fetch fails.
    pub keep_expired: bool,
}

/// One cached set of credentials.
#[derive(Clone, Debug)]
pub struct Entry {
    pub credentials: AgentCredentials,
    /// The token of the request that fetched them: renewals present it again.
    pub token: String,
    /// Who the token names (for the trace).
    pub who: TokenIdentity,
    pub association_id: String,
    /// When the sweep renews the entry.
    pub refresh_at: SystemTime,
    /// When the sweep evicts it (the credentials' expiry).
    pub evict_at: SystemTime,
    /// Renewals that failed since the last successful fetch: a hit on such an entry is "stale".
    pub renewal_failures: u32,
    /// Store order, for the LRU list.
    seq: u64,
}

/// Why an entry left the cache (`agent.cache_evict` reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvictReason {
    /// The sweep found it past its expiry.
    Expired,
    /// Storing another entry overflowed the cache.
    Capacity,
    /// A renewal got one of the four irrecoverable EKS Auth errors.
    Irrecoverable,
    /// A request found it with no more than the minimum TTL left.
    MinTtl,
}

impl EvictReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EvictReason::Expired => "expired",
            EvictReason::Capacity => "capacity",
            EvictReason::Irrecoverable => "irrecoverable",
            EvictReason::MinTtl => "min_ttl",
        }
    }
}

/// An entry that left the cache, for the trace.
#[derive(Clone, Debug)]
pub struct Evicted {
    pub key: String,
    pub entry: Entry,
    pub reason: EvictReason,
}

/// What a lookup found.
#[derive(Clone, Debug)]
pub enum Lookup {
    /// Serve these; `stale` when the entry's last renewal failed.
    Hit { credentials: AgentCredentials, stale: bool },
    /// Nothing to serve.
    Miss,
    /// The entry had too little left and was deleted; nothing to serve.
    TooOld(Box<Evicted>),
}

/// What happened to an entry after a renewal that did not store new credentials.
#[derive(Clone, Debug)]
pub enum KeepOutcome {
    /// Kept, to be tried again at `retry_at`.
    Kept { retry_at: SystemTime },
    /// Dropped (irrecoverable error).
    Dropped(Box<Evicted>),
    /// Too little left to keep trying: left as it is, due, until the sweep evicts it.
    TooOld,
}

/// Seconds from `now` to `t` (negative when `t` is past).
pub fn secs_until(t: SystemTime, now: SystemTime) -> f64 {
    match t.duration_since(now) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// `credentialsInEntryWithinValidTtl`: time left, and whether it is more than the minimum.
pub fn within_min_ttl(expiration: SystemTime, now: SystemTime, min: Duration) -> (f64, bool) {
    let left = secs_until(expiration, now);
    (left, expiration.duration_since(now).is_ok_and(|d| d > min))
}

/// The credential cache.
#[derive(Debug)]
pub struct CredentialCache {
    rules: CacheRules,
    entries: BTreeMap<String, Entry>,
    /// LRU list: store sequence → key; the smallest sequence is the least recently stored.
    order: BTreeMap<u64, String>,
    next_seq: u64,
}

impl CredentialCache {
    pub fn new(rules: CacheRules) -> CredentialCache {
        assert!(rules.entries_max > 0, "a disabled cache is not built");
        CredentialCache { rules, entries: BTreeMap::new(), order: BTreeMap::new(), next_seq: 0 }
    }

    pub fn rules(&self) -> &CacheRules {
        &self.rules
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The key of a request.
    pub fn key_for(&self, token: &str, who: &TokenIdentity) -> Result<String, String> {
        if crate::runtime::bug(crate::bugs::Bug::AgentCacheByServiceAccount) {
            // Planted bug: one entry per service account, so a second pod of it gets the first pod's
            // credentials (session tags naming the first pod). Upstream keys by the token or pod UID.
            return Ok(format!("{}/{}", who.namespace, who.service_account));
        }
        match self.rules.key {
            CacheKey::Token => Ok(token.to_string()),
            CacheKey::PodUid if who.pod_uid.is_empty() => {
                Err("failed to get pod uid from service account token: no kubernetes.io pod uid claim".to_string())
            }
            CacheKey::PodUid => Ok(who.pod_uid.clone()),
        }
    }

    /// An entry, whatever its times (for tests and the sweep's snapshot).
    pub fn peek(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// The request path's `Get` plus the minimum-TTL check.
    pub fn lookup(&mut self, key: &str, token: &str, now: SystemTime) -> Lookup {
        let Some(e) = self.entries.get(key) else { return Lookup::Miss };
        // expiring.Cache.Get: gone once now > expiration.
        if now > e.evict_at {
            return Lookup::Miss;
        }
        if !within_min_ttl(e.credentials.expiration, now, self.rules.credential_ttl_min).1 {
            if self.rules.keep_expired {
                return Lookup::Miss;
            }
            let evicted = self.remove(key, EvictReason::MinTtl).expect("the entry was just found");
            return Lookup::TooOld(Box::new(evicted));
        }
        if e.token != token && key == e.who.pod_uid {
            // A pod-UID key (with the token key, `key` is the token): a different token for the same pod.
            return Lookup::Miss;
        }
        Lookup::Hit { credentials: e.credentials.clone(), stale: e.renewal_failures > 0 }
    }

    /// `callDelegateAndCache`'s store: refuses credentials with too little left (returning the seconds
    /// left), else stores and returns what overflowed.
    pub fn store(
        &mut self,
        key: &str,
        credentials: AgentCredentials,
        token: &str,
        who: &TokenIdentity,
        association_id: &str,
        now: SystemTime,
    ) -> Result<Option<Evicted>, f64> {
        let (left, ok) = within_min_ttl(credentials.expiration, now, self.rules.credential_ttl_min);
        if !ok {
            return Err(left);
        }
        let ttl = credentials.expiration.duration_since(now).expect("checked above: the credentials expire after now");
        let refresh_at = now + ttl.min(self.rules.max_credential_retention_before_renewal);
        let entry = Entry {
            evict_at: credentials.expiration,
            credentials,
            token: token.to_string(),
            who: who.clone(),
            association_id: association_id.to_string(),
            refresh_at,
            renewal_failures: 0,
            seq: 0,
        };
        Ok(self.set(key, entry))
    }

    /// `SetWithRefreshExpire`: insert or replace, move to the front, evict the oldest on overflow.
    fn set(&mut self, key: &str, mut entry: Entry) -> Option<Evicted> {
        if let Some(old) = self.entries.get(key) {
            self.order.remove(&old.seq);
        }
        entry.seq = self.next_seq;
        self.next_seq += 1;
        self.order.insert(entry.seq, key.to_string());
        self.entries.insert(key.to_string(), entry);
        let mut evicted = None;
        if self.entries.len() > self.rules.entries_max {
            let (_, oldest) = self.order.pop_first().expect("an over-full cache has entries");
            let entry = self.entries.remove(&oldest).expect("the LRU list and the map agree");
            evicted = Some(Evicted { key: oldest, entry, reason: EvictReason::Capacity });
        }
        debug_assert_eq!(self.entries.len(), self.order.len());
        debug_assert!(self.entries.len() <= self.rules.entries_max);
        evicted
    }

    /// `Delete`: removes an entry, if present.
    pub fn remove(&mut self, key: &str, reason: EvictReason) -> Option<Evicted> {
        let entry = self.entries.remove(key)?;
        self.order.remove(&entry.seq);
        Some(Evicted { key: key.to_string(), entry, reason })
    }

    /// The sweep's snapshot of entries due for renewal (`now > refresh`), least recently stored first.
    pub fn due_for_renewal(&self, now: SystemTime) -> Vec<(String, Entry)> {
        self.order
            .values()
            .filter_map(|k| self.entries.get(k).map(|e| (k, e)))
            .filter(|(_, e)| now > e.refresh_at)
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect()
    }

    /// The end of a renewal that stored nothing: drop on an irrecoverable error, else keep the
    /// snapshot `entry` while it has more than the minimum TTL left, retrying after
    /// `min(time left, retry interval + jitter)`. Like v0.1.37 this writes the snapshot back
    /// (`SetWithRefreshExpire`), whatever the cache holds for the key by now.
    pub fn after_failed_renewal(&mut self, key: &str, entry: &Entry, irrecoverable: bool, jitter: Duration, now: SystemTime) -> (KeepOutcome, Option<Evicted>) {
        if irrecoverable {
            return match self.remove(key, EvictReason::Irrecoverable) {
                Some(e) => (KeepOutcome::Dropped(Box::new(e)), None),
                None => (KeepOutcome::TooOld, None),
            };
        }
        let (_, ok) = within_min_ttl(entry.credentials.expiration, now, self.rules.credential_ttl_min);
        if !ok {
            return (KeepOutcome::TooOld, None);
        }
        let left = entry.credentials.expiration.duration_since(now).expect("checked above");
        let retry_at = now + left.min(self.rules.renewal_retry_interval + jitter);
        let mut kept = entry.clone();
        kept.refresh_at = retry_at;
        kept.evict_at = now + left;
        kept.renewal_failures += 1;
        let overflow = self.set(key, kept);
        (KeepOutcome::Kept { retry_at }, overflow)
    }

    /// The earliest renewal or eviction time of any entry: the sweep has nothing to do before it.
    pub fn earliest_due(&self) -> Option<SystemTime> {
        self.entries.values().map(|e| e.refresh_at.min(e.evict_at)).min()
    }

    /// An entry kept past its minimum TTL or expiry, offered when a fetch fails: only with
    /// [`CacheRules::keep_expired`] (a planted bug), else always `None`.
    pub fn kept_expired(&self, key: &str) -> Option<AgentCredentials> {
        if !self.rules.keep_expired {
            return None;
        }
        self.entries.get(key).map(|e| e.credentials.clone())
    }

    /// The sweep's eviction pass: every entry with `now > expiry`, in key order (none with
    /// [`CacheRules::keep_expired`]).
    pub fn evict_expired(&mut self, now: SystemTime) -> Vec<Evicted> {
        if self.rules.keep_expired {
            return Vec::new();
        }
        let keys: Vec<String> = self.entries.iter().filter(|(_, e)| now > e.evict_at).map(|(k, _)| k.clone()).collect();
        keys.iter().filter_map(|k| self.remove(k, EvictReason::Expired)).collect()
    }
}

/// Tokens with an EKS Auth call in flight (`internalActiveRequestCache`: same size bound, no expiry,
/// oldest mark dropped on overflow).
#[derive(Debug)]
pub struct InFlight {
    marks: IndexSet<String>,
    entries_max: usize,
}

impl InFlight {
    pub fn new(entries_max: usize) -> InFlight {
        InFlight { marks: IndexSet::new(), entries_max: entries_max.max(1) }
    }

    pub fn contains(&self, token: &str) -> bool {
        self.marks.contains(token)
    }

    /// `Add`: marks a token (no-op when already marked).
    pub fn mark(&mut self, token: &str) {
        if self.marks.insert(token.to_string()) && self.marks.len() > self.entries_max {
            self.marks.shift_remove_index(0);
        }
        debug_assert!(self.marks.len() <= self.entries_max);
    }

    /// `Delete` (deferred by whoever marked, or tried to).
    pub fn unmark(&mut self, token: &str) {
        self.marks.shift_remove(token);
    }

    pub fn len(&self) -> usize {
        self.marks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.marks.is_empty()
    }
}
