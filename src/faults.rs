//! Faults: what goes wrong, when, and for how long.
//!
//! A fault is an entry of a scenario's `[[fault]]` list (or one drawn by `chaos` from a seed): it starts
//! at a simulated time, lasts a duration, and then heals by itself. The kinds are the failures that
//! break credential delivery in production: network partitions (both ways or one way, between hosts or
//! groups of hosts), a crashed process (peers see resets) or a lost machine (silence), slow or lossy
//! links, a throttling or unavailable AWS service, an OIDC issuer outage, a signing-key rotation, a
//! skewed clock, an agent DaemonSet rollout and a node drain.
//!
//! This module is the vocabulary only: parsing, validation, and the scenario snippet that `replay
//! --shrink` prints. Targets are names (`sts`, `nodes`, `node-2`, …) that `cluster` resolves to hosts
//! when it builds the world, and its fault driver carries faults out on the simulated clock.
//!
//! ```toml
//! [[fault]]
//! kind = "partition"      # partition | crash | latency | loss | throttle | outage | key-rotation |
//! at = "2h"               # clock-skew | agent-rollout | node-drain
//! duration = "30m"
//! a = "nodes"
//! b = "eks-auth"
//! ```

use std::fmt::Write as _;
use std::time::Duration;

use serde::Deserialize;

use crate::scenario::HumanDuration;

/// Target names every scenario understands, besides host names. `cluster` resolves them.
pub const TARGET_NAMES: &[&str] =
    &["sts", "eks-auth", "eks-api", "oidc", "s3", "aws", "apiserver", "webhook", "kubectl", "nodes"];

/// One fault: a kind, when it starts and how long it lasts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Fault {
    /// Simulated time since the start of the run.
    pub at: HumanDuration,
    /// How long until it heals (for `key-rotation`: how long the old key stays published; for
    /// `agent-rollout`: ignored, the rollout takes `interval` per node).
    #[serde(default)]
    pub duration: HumanDuration,
    #[serde(flatten)]
    pub kind: FaultKind,
}

/// What goes wrong.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum FaultKind {
    /// Packets from `a` to `b` (and back, unless `oneway`) are held until the partition heals.
    Partition {
        a: String,
        b: String,
        #[serde(default)]
        oneway: bool,
    },
    /// A process crashes and restarts after `duration`. Without `process`, every process of the host.
    /// `machine = true` is a lost machine: it is cut off from everyone first, so peers hear nothing
    /// (no FIN, no RST) until it comes back.
    Crash {
        host: String,
        #[serde(default)]
        process: Option<String>,
        #[serde(default)]
        machine: bool,
    },
    /// One-way latency on the links between `a` and `b` (both ways), uniform in `[min_ms, max_ms]`.
    Latency { a: String, b: String, min_ms: u64, max_ms: u64 },
    /// Packet loss on the links between `a` and `b` (both ways): each lost packet costs a retransmission.
    Loss { a: String, b: String, rate: f64 },
    /// The service refuses this share of requests with its throttling error.
    Throttle { service: String, rate: f64 },
    /// The service answers every request with its 5xx "unavailable" error.
    Outage { service: String },
    /// The cluster's ServiceAccount signing key is replaced; the old key stays in the JWKS for `duration`.
    KeyRotation {
        #[serde(default)]
        cluster: Option<String>,
    },
    /// The host's wall clock is off by `skew_ms` (a jump when it starts, back when it heals).
    ClockSkew { host: String, skew_ms: i64 },
    /// The Pod Identity Agent DaemonSet is rolled: one node's agent at a time is stopped and started
    /// again `interval` later (maxUnavailable 1).
    AgentRollout {
        #[serde(default)]
        cluster: Option<String>,
        #[serde(default = "default_rollout_interval")]
        interval: HumanDuration,
    },
    /// The node is drained: its pods are deleted and created again on the other nodes of its cluster.
    /// The node stays cordoned (no new pods) for `duration`.
    NodeDrain { node: String },
}

fn default_rollout_interval() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}

impl Fault {
    /// When it heals.
    pub fn end(&self) -> Duration {
        self.at.0 + self.active_for()
    }

    /// How long it is in effect (an agent rollout lasts one interval per node; the caller knows nodes,
    /// so this is the declared duration for every kind).
    pub fn active_for(&self) -> Duration {
        self.duration.0
    }

    /// When the world is healthy again, as the checkers see it. Mostly [`Fault::end`]; an agent rollout
    /// ends after one interval per node; a key rotation disturbs only while caches catch up
    /// ([`KEY_ROTATION_SETTLE`]) — its `duration` is how long the old key stays published, which should
    /// outlive every token signed with it.
    pub fn effect_end(&self, nodes: u32) -> Duration {
        match &self.kind {
            FaultKind::AgentRollout { interval, .. } => self.at.0 + interval.0 * nodes,
            FaultKind::KeyRotation { .. } => self.at.0 + KEY_ROTATION_SETTLE,
            _ => self.end(),
        }
    }

    /// The kind's name, as written in scenario files.
    pub fn kind_name(&self) -> &'static str {
        self.kind.name()
    }

    /// What it targets, in a few words (`nodes->eks-auth`, `node-2/kubelet`, `sts`).
    pub fn target(&self) -> String {
        match &self.kind {
            FaultKind::Partition { a, b, oneway } => format!("{a}{}{b}", if *oneway { "->" } else { "<->" }),
            FaultKind::Crash { host, process, machine } => {
                let p = process.as_deref().map(|p| format!("/{p}")).unwrap_or_default();
                format!("{host}{p}{}", if *machine { " (machine)" } else { "" })
            }
            FaultKind::Latency { a, b, .. } | FaultKind::Loss { a, b, .. } => format!("{a}<->{b}"),
            FaultKind::Throttle { service, .. } | FaultKind::Outage { service } => service.clone(),
            FaultKind::KeyRotation { cluster } | FaultKind::AgentRollout { cluster, .. } => {
                cluster.clone().unwrap_or_else(|| "cluster".into())
            }
            FaultKind::ClockSkew { host, .. } => host.clone(),
            FaultKind::NodeDrain { node } => node.clone(),
        }
    }

    /// A one-line description for tables and logs.
    pub fn describe(&self) -> String {
        let extra = match &self.kind {
            FaultKind::Latency { min_ms, max_ms, .. } => format!(" {min_ms}-{max_ms} ms"),
            FaultKind::Loss { rate, .. } | FaultKind::Throttle { rate, .. } => format!(" {:.0}%", rate * 100.0),
            FaultKind::ClockSkew { skew_ms, .. } => format!(" {skew_ms:+} ms"),
            _ => String::new(),
        };
        format!("{} {}{} at {} for {}", self.kind_name(), self.target(), extra, fmt_duration(self.at.0), fmt_duration(self.duration.0))
    }

    /// The fault as a `[[fault]]` entry that can be pasted into a scenario file.
    pub fn to_toml(&self) -> String {
        let mut s = String::from("[[fault]]\n");
        let _ = writeln!(s, "kind = {:?}", self.kind_name());
        let _ = writeln!(s, "at = {:?}", fmt_duration(self.at.0));
        if !matches!(self.kind, FaultKind::AgentRollout { .. }) {
            let _ = writeln!(s, "duration = {:?}", fmt_duration(self.duration.0));
        }
        let q = |s: &mut String, k: &str, v: &str| {
            let _ = writeln!(s, "{k} = {v:?}");
        };
        match &self.kind {
            FaultKind::Partition { a, b, oneway } => {
                q(&mut s, "a", a);
                q(&mut s, "b", b);
                if *oneway {
                    s.push_str("oneway = true\n");
                }
            }
            FaultKind::Crash { host, process, machine } => {
                q(&mut s, "host", host);
                if let Some(p) = process {
                    q(&mut s, "process", p);
                }
                if *machine {
                    s.push_str("machine = true\n");
                }
            }
            FaultKind::Latency { a, b, min_ms, max_ms } => {
                q(&mut s, "a", a);
                q(&mut s, "b", b);
                let _ = writeln!(s, "min_ms = {min_ms}\nmax_ms = {max_ms}");
            }
            FaultKind::Loss { a, b, rate } => {
                q(&mut s, "a", a);
                q(&mut s, "b", b);
                let _ = writeln!(s, "rate = {rate}");
            }
            FaultKind::Throttle { service, rate } => {
                q(&mut s, "service", service);
                let _ = writeln!(s, "rate = {rate}");
            }
            FaultKind::Outage { service } => q(&mut s, "service", service),
            FaultKind::KeyRotation { cluster } => {
                if let Some(c) = cluster {
                    q(&mut s, "cluster", c);
                }
            }
            FaultKind::ClockSkew { host, skew_ms } => {
                q(&mut s, "host", host);
                let _ = writeln!(s, "skew_ms = {skew_ms}");
            }
            FaultKind::AgentRollout { cluster, interval } => {
                if let Some(c) = cluster {
                    q(&mut s, "cluster", c);
                }
                q(&mut s, "interval", &fmt_duration(interval.0));
            }
            FaultKind::NodeDrain { node } => q(&mut s, "node", node),
        }
        s
    }

    /// Checks the values that the type cannot: rates in 0..=1, ordered latency bounds. The message names
    /// the field.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let rate_ok = |r: f64| (0.0..=1.0).contains(&r);
        match &self.kind {
            FaultKind::Loss { rate, .. } if !rate_ok(*rate) => Err(("rate".into(), format!("loss rate {rate} is not between 0 and 1"))),
            FaultKind::Loss { rate, .. } if *rate >= 1.0 => {
                Err(("rate".into(), "loss rate 1 would hold packets forever: use a partition".into()))
            }
            FaultKind::Throttle { rate, .. } if !rate_ok(*rate) => {
                Err(("rate".into(), format!("throttle rate {rate} is not between 0 and 1")))
            }
            FaultKind::Latency { min_ms, max_ms, .. } if min_ms > max_ms => {
                Err(("min_ms".into(), format!("min_ms {min_ms} is larger than max_ms {max_ms}")))
            }
            FaultKind::Throttle { service, .. } | FaultKind::Outage { service } if !SERVICES.contains(&service.as_str()) => {
                Err(("service".into(), format!("unknown service {service:?}; one of {}", SERVICES.join(", "))))
            }
            FaultKind::AgentRollout { interval, .. } if interval.0.is_zero() => {
                Err(("interval".into(), "an agent rollout needs an interval above zero".into()))
            }
            _ => Ok(()),
        }
    }
}

/// How long a key rotation counts as a fault for the liveness checks: the OIDC issuer caches the API
/// server's JWKS for 60 s and verifiers refetch on an unknown `kid`, so 10 minutes is generous.
pub const KEY_ROTATION_SETTLE: Duration = Duration::from_secs(600);

/// Services that can be throttled or taken out.
pub const SERVICES: &[&str] = &["sts", "eks-auth", "eks-api", "oidc", "s3", "apiserver"];

impl FaultKind {
    /// The kind's name, as written in scenario files.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Partition { .. } => "partition",
            FaultKind::Crash { .. } => "crash",
            FaultKind::Latency { .. } => "latency",
            FaultKind::Loss { .. } => "loss",
            FaultKind::Throttle { .. } => "throttle",
            FaultKind::Outage { .. } => "outage",
            FaultKind::KeyRotation { .. } => "key-rotation",
            FaultKind::ClockSkew { .. } => "clock-skew",
            FaultKind::AgentRollout { .. } => "agent-rollout",
            FaultKind::NodeDrain { .. } => "node-drain",
        }
    }
}

/// A duration the way scenario files write it: `"90s"`, `"15m"`, `"2h5m"`, `"500ms"`.
pub fn fmt_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".into();
    }
    if d.subsec_millis() != 0 && d.as_secs() == 0 {
        return format!("{}ms", d.as_millis());
    }
    let s = d.as_secs();
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if m > 0 {
        let _ = write!(out, "{m}m");
    }
    if sec > 0 || out.is_empty() {
        let _ = write!(out, "{sec}s");
    }
    out
}

/// A fault list as scenario text (`[[fault]]` entries separated by blank lines).
pub fn to_toml(faults: &[Fault]) -> String {
    faults.iter().map(Fault::to_toml).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct List {
        fault: Vec<Fault>,
    }

    fn parse(text: &str) -> Vec<Fault> {
        toml::from_str::<List>(text).map(|l| l.fault).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    fn d(s: u64) -> HumanDuration {
        HumanDuration(Duration::from_secs(s))
    }

    #[test]
    fn every_kind_survives_a_round_trip_through_its_snippet() {
        let all = vec![
            Fault { at: d(7200), duration: d(1800), kind: FaultKind::Partition { a: "nodes".into(), b: "eks-auth".into(), oneway: true } },
            Fault { at: d(60), duration: d(90), kind: FaultKind::Crash { host: "node-2".into(), process: Some("kubelet".into()), machine: false } },
            Fault { at: d(60), duration: d(90), kind: FaultKind::Crash { host: "node-1".into(), process: None, machine: true } },
            Fault { at: d(1), duration: d(2), kind: FaultKind::Latency { a: "nodes".into(), b: "sts".into(), min_ms: 50, max_ms: 400 } },
            Fault { at: d(1), duration: d(2), kind: FaultKind::Loss { a: "nodes".into(), b: "sts".into(), rate: 0.25 } },
            Fault { at: d(1), duration: d(2), kind: FaultKind::Throttle { service: "sts".into(), rate: 0.5 } },
            Fault { at: d(1), duration: d(1800), kind: FaultKind::Outage { service: "oidc".into() } },
            Fault { at: d(3600), duration: d(600), kind: FaultKind::KeyRotation { cluster: Some("basic".into()) } },
            Fault { at: d(10), duration: d(600), kind: FaultKind::ClockSkew { host: "node-3".into(), skew_ms: -90_000 } },
            Fault { at: d(10), duration: d(0), kind: FaultKind::AgentRollout { cluster: None, interval: d(45) } },
            Fault { at: d(10), duration: d(300), kind: FaultKind::NodeDrain { node: "node-1".into() } },
        ];
        let text = to_toml(&all);
        assert_eq!(parse(&text), all, "{text}");
    }

    #[test]
    fn a_snippet_reads_like_a_scenario_entry() {
        let f = Fault { at: d(7200), duration: d(1830), kind: FaultKind::Outage { service: "eks-auth".into() } };
        assert_eq!(f.to_toml(), "[[fault]]\nkind = \"outage\"\nat = \"2h\"\nduration = \"30m30s\"\nservice = \"eks-auth\"\n");
        assert_eq!(f.describe(), "outage eks-auth at 2h for 30m30s");
    }

    #[test]
    fn bad_values_name_their_field() {
        let cases = [
            ("kind = \"loss\"\nat = 1\na = \"x\"\nb = \"y\"\nrate = 1.5", "rate"),
            ("kind = \"loss\"\nat = 1\na = \"x\"\nb = \"y\"\nrate = 1.0", "rate"),
            ("kind = \"throttle\"\nat = 1\nservice = \"sts\"\nrate = -0.1", "rate"),
            ("kind = \"latency\"\nat = 1\na = \"x\"\nb = \"y\"\nmin_ms = 5\nmax_ms = 1", "min_ms"),
            ("kind = \"outage\"\nat = 1\nservice = \"dynamodb\"", "service"),
        ];
        for (body, field) in cases {
            let f = &parse(&format!("[[fault]]\n{body}"))[0];
            assert_eq!(f.validate().map_err(|e| e.0), Err(field.to_string()), "{body}");
        }
    }

    #[test]
    fn unknown_kinds_and_fields_are_refused() {
        assert!(toml::from_str::<List>("[[fault]]\nkind = \"meteor\"\nat = 1").is_err());
        assert!(toml::from_str::<List>("[[fault]]\nkind = \"outage\"\nat = 1\nservice = \"sts\"\nsevere = true").is_err());
    }

    #[test]
    fn durations_print_the_way_scenarios_write_them() {
        for (secs, text) in [(0, "0s"), (59, "59s"), (60, "1m"), (3661, "1h1m1s"), (93600, "26h")] {
            assert_eq!(fmt_duration(Duration::from_secs(secs)), text);
            assert_eq!(crate::scenario::parse_duration(text), Ok(Duration::from_secs(secs)));
        }
        assert_eq!(fmt_duration(Duration::from_millis(500)), "500ms");
    }
}
