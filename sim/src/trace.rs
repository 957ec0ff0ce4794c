//! The trace: an ordered record of what every actor did, in simulated time.
//!
//! Actors call [`record`] with an event kind and a few fields. Each event is stamped with the simulated
//! time and the calling host, folded into a running SHA-256 digest (the run's identity: same seed, same
//! digest), kept in memory when the run asks for it, and handed to every subscriber (metrics, invariant
//! checkers) as it happens.
//!
//! Never put a secret in a field: the trace is written to files and reports.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::world::with_world;

/// A field value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FieldValue {
    Str(String),
    U64(u64),
    I64(i64),
    Bool(bool),
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Str(s) => f.write_str(s),
            FieldValue::U64(v) => write!(f, "{v}"),
            FieldValue::I64(v) => write!(f, "{v}"),
            FieldValue::Bool(v) => write!(f, "{v}"),
        }
    }
}

impl From<&str> for FieldValue {
    fn from(v: &str) -> Self {
        FieldValue::Str(v.to_string())
    }
}
impl From<String> for FieldValue {
    fn from(v: String) -> Self {
        FieldValue::Str(v)
    }
}
impl From<&String> for FieldValue {
    fn from(v: &String) -> Self {
        FieldValue::Str(v.clone())
    }
}
impl From<u64> for FieldValue {
    fn from(v: u64) -> Self {
        FieldValue::U64(v)
    }
}
impl From<u32> for FieldValue {
    fn from(v: u32) -> Self {
        FieldValue::U64(v as u64)
    }
}
impl From<usize> for FieldValue {
    fn from(v: usize) -> Self {
        FieldValue::U64(v as u64)
    }
}
impl From<i64> for FieldValue {
    fn from(v: i64) -> Self {
        FieldValue::I64(v)
    }
}
impl From<bool> for FieldValue {
    fn from(v: bool) -> Self {
        FieldValue::Bool(v)
    }
}

/// One recorded event.
#[derive(Clone, Debug)]
pub struct Event {
    /// Simulated time since the start of the run, in nanoseconds.
    pub t_ns: u64,
    /// The host that recorded it (`world` for the scenario driver).
    pub host: String,
    /// What happened, e.g. `sts.assume_role_with_web_identity`.
    pub kind: String,
    /// Details, in the order the actor gave them.
    pub fields: Vec<(String, FieldValue)>,
}

impl Event {
    /// The value of a field, if present.
    pub fn get(&self, key: &str) -> Option<&FieldValue> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A string field (empty when absent or not a string).
    pub fn str(&self, key: &str) -> &str {
        match self.get(key) {
            Some(FieldValue::Str(s)) => s,
            _ => "",
        }
    }

    /// A numeric field.
    pub fn u64(&self, key: &str) -> Option<u64> {
        match self.get(key) {
            Some(FieldValue::U64(v)) => Some(*v),
            _ => None,
        }
    }

    /// One line of JSON, for trace files.
    pub fn to_json_line(&self) -> String {
        let mut s = String::with_capacity(128);
        s.push_str("{\"t_ns\":");
        s.push_str(&self.t_ns.to_string());
        s.push_str(",\"host\":");
        push_json_str(&mut s, &self.host);
        s.push_str(",\"kind\":");
        push_json_str(&mut s, &self.kind);
        for (k, v) in &self.fields {
            s.push(',');
            push_json_str(&mut s, k);
            s.push(':');
            match v {
                FieldValue::Str(x) => push_json_str(&mut s, x),
                FieldValue::U64(x) => s.push_str(&x.to_string()),
                FieldValue::I64(x) => s.push_str(&x.to_string()),
                FieldValue::Bool(x) => s.push_str(if *x { "true" } else { "false" }),
            }
        }
        s.push('}');
        s
    }
}

fn push_json_str(out: &mut String, v: &str) {
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

type Subscriber = Box<dyn FnMut(&Event)>;

/// The run's trace.
pub struct Trace {
    digest: Sha256,
    count: u64,
    keep: bool,
    events: Vec<Event>,
    subscribers: Vec<Subscriber>,
}

impl Trace {
    /// An empty trace; `keep` keeps every event in memory. (The engine builds its own; public so that
    /// another engine driving the same actors can fold its events into the same digest.)
    pub fn new(keep: bool) -> Self {
        Trace { digest: Sha256::new(), count: 0, keep, events: Vec::new(), subscribers: Vec::new() }
    }

    /// Records one event: folds it into the digest, hands it to every subscriber, keeps it if asked.
    pub fn push(&mut self, ev: Event) {
        let d = &mut self.digest;
        d.update(ev.t_ns.to_le_bytes());
        d.update(ev.host.as_bytes());
        d.update([0]);
        d.update(ev.kind.as_bytes());
        d.update([0]);
        for (k, v) in &ev.fields {
            d.update(k.as_bytes());
            d.update([1]);
            match v {
                FieldValue::Str(s) => d.update(s.as_bytes()),
                FieldValue::U64(x) => d.update(x.to_le_bytes()),
                FieldValue::I64(x) => d.update(x.to_le_bytes()),
                FieldValue::Bool(x) => d.update([*x as u8]),
            }
            d.update([2]);
        }
        self.count += 1;
        for s in &mut self.subscribers {
            s(&ev);
        }
        if self.keep {
            self.events.push(ev);
        }
    }

    /// Number of events recorded so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Hex digest of everything recorded so far (16 hex digits: enough to tell runs apart by eye).
    pub fn digest_hex(&self) -> String {
        let out = self.digest.clone().finalize();
        out[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The events kept in memory (empty unless the run asked to keep them).
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Takes the events kept in memory.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Calls `f` with every event recorded from now on.
    pub fn subscribe(&mut self, f: Box<dyn FnMut(&Event)>) {
        self.subscribers.push(f);
    }
}

/// Records an event from the calling host.
pub fn record(kind: &str, fields: Vec<(&str, FieldValue)>) {
    let host = crate::host::current_host_name();
    if tracing::enabled!(target: "sim::trace", tracing::Level::DEBUG) {
        let mut line = String::new();
        for (k, v) in &fields {
            line.push_str(&format!(" {k}={v}"));
        }
        tracing::debug!(target: "sim::trace", "{host} {kind}{line}");
    }
    with_world(|w| {
        let t_ns = w.elapsed().as_nanos() as u64;
        let ev = Event {
            t_ns,
            host,
            kind: kind.to_string(),
            fields: fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        };
        w.trace_mut().push(ev);
    })
}

/// Builds the field list for [`record`]: `fields!["pod" => name, "ms" => 12u64]`.
#[macro_export]
macro_rules! fields {
    ($($k:expr => $v:expr),* $(,)?) => {
        vec![$(($k, $crate::trace::FieldValue::from($v))),*]
    };
}

/// A `tracing_subscriber` timer that prints simulated time (`+HH:MM:SS.mmm`) instead of the real clock.
pub struct SimTimer;

impl tracing_subscriber::fmt::time::FormatTime for SimTimer {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> fmt::Result {
        let t = crate::world::try_elapsed().unwrap_or_default();
        let ms = t.as_millis();
        write!(w, "+{:02}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
    }
}
