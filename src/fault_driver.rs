//! The fault driver: carries a fault schedule out on the simulated clock.
//!
//! This is part of the composition root (with `cluster`): it is the one other place that knows both the
//! engine and the domain. `cluster` resolves each [`Fault`]'s target names to hosts and hands the driver
//! a list of timed [`Op`]s; the driver applies each at its instant with `sim::control` (partitions,
//! crashes, link faults, clock skew) or with `runtime`'s service switches (throttling, outages), and
//! records `fault.start` / `fault.end` in the trace so checkers know when the world was unhealthy.
//!
//! Overlapping faults compose: a link cut by two partitions heals when both have ended; loss rates on one
//! link combine as independent losses; the latest latency override wins; a host restarted by one fault
//! while another still holds it down stays down until the last one ends.

use std::collections::BTreeMap;
use std::time::Duration;

use sim::{HostId, LinkFaults};

use crate::faults::{Fault, FaultKind};
use crate::runtime::{self, fields, ServiceFault};

/// Names a fault may target, resolved to host names by `cluster`.
#[derive(Clone, Debug, Default)]
pub struct Targets {
    /// Target name (`sts`, `nodes`, `node-2`, a host name …) → host names.
    pub groups: BTreeMap<String, Vec<String>>,
    /// Cluster name → its node host names (for rollouts); the first entry is the default cluster.
    pub cluster_nodes: Vec<(String, Vec<String>)>,
    /// Nodes that run a Pod Identity Agent.
    pub agent_nodes: Vec<String>,
}

impl Targets {
    /// The hosts a target name stands for.
    pub fn hosts(&self, name: &str) -> Result<Vec<String>, String> {
        self.groups.get(name).cloned().ok_or_else(|| {
            let mut known: Vec<&str> = self.groups.keys().map(String::as_str).filter(|k| !k.contains('.')).collect();
            known.truncate(24);
            format!("unknown target {name:?}; known: {} (or any host name)", known.join(", "))
        })
    }

    fn cluster(&self, name: &Option<String>) -> Result<&(String, Vec<String>), String> {
        match name {
            None => self.cluster_nodes.first().ok_or_else(|| "the scenario has no cluster".to_string()),
            Some(n) => self.cluster_nodes.iter().find(|(c, _)| c == n).ok_or_else(|| format!("no cluster named {n:?}")),
        }
    }
}

/// One thing the driver does at an instant.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `fault.start` / `fault.end` in the trace.
    Mark { id: usize, start: bool, kind: &'static str, target: String },
    Cut { from: String, to: String },
    Uncut { from: String, to: String },
    Crash { host: String, process: Option<String> },
    Restart { host: String, process: Option<String> },
    LinkOn { id: usize, from: String, to: String, faults: LinkFaults },
    LinkOff { id: usize, from: String, to: String },
    Service { host: String, fault: ServiceFault },
    Skew { host: String, skew_ms: i64 },
    RotateKey { cluster: String, overlap: Duration },
}

/// The process name of the Pod Identity Agent on a node (see `cluster`).
pub const AGENT_PROCESS: &str = "pod-identity-agent";

/// Turns faults into timed ops. Errors name the fault's index, the field and what is wrong.
/// Node drains are the operator's work (`cluster::plan`); here they only mark the trace.
pub fn schedule(faults: &[Fault], t: &Targets) -> Result<Vec<(Duration, Op)>, (usize, String, String)> {
    let mut ops: Vec<(Duration, u32, Op)> = Vec::new();
    for (id, f) in faults.iter().enumerate() {
        let bad = |field: &str, m: String| (id, field.to_string(), m);
        let (start, end) = (f.at.0, f.end());
        let mut at = |when: Duration, op: Op| ops.push((when, 1, op));
        let mut mark_end = end;
        match &f.kind {
            FaultKind::Partition { a, b, oneway } => {
                let (ha, hb) = (t.hosts(a).map_err(|m| bad("a", m))?, t.hosts(b).map_err(|m| bad("b", m))?);
                for x in &ha {
                    for y in hb.iter().filter(|y| *y != x) {
                        let mut pairs = vec![(x.clone(), y.clone())];
                        if !oneway {
                            pairs.push((y.clone(), x.clone()));
                        }
                        for (from, to) in pairs {
                            at(start, Op::Cut { from: from.clone(), to: to.clone() });
                            at(end, Op::Uncut { from, to });
                        }
                    }
                }
            }
            FaultKind::Crash { host, process, machine } => {
                let hosts = t.hosts(host).map_err(|m| bad("host", m))?;
                let everyone: Vec<String> = t.groups.get("*").cloned().unwrap_or_default();
                for h in hosts {
                    if *machine {
                        for other in everyone.iter().filter(|o| **o != h) {
                            for (from, to) in [(h.clone(), other.clone()), (other.clone(), h.clone())] {
                                at(start, Op::Cut { from: from.clone(), to: to.clone() });
                                at(end, Op::Uncut { from, to });
                            }
                        }
                    }
                    at(start, Op::Crash { host: h.clone(), process: process.clone() });
                    at(end, Op::Restart { host: h, process: process.clone() });
                }
            }
            FaultKind::Latency { a, b, min_ms, max_ms } => {
                let lf = LinkFaults { loss: 0.0, latency: Some(sim::LatencyModel { min_us: min_ms * 1000, max_us: max_ms * 1000 }) };
                link_ops(&mut at, id, t, a, b, lf, start, end).map_err(|(field, m)| bad(field, m))?;
            }
            FaultKind::Loss { a, b, rate } => {
                let lf = LinkFaults { loss: *rate, latency: None };
                link_ops(&mut at, id, t, a, b, lf, start, end).map_err(|(field, m)| bad(field, m))?;
            }
            FaultKind::Throttle { service, rate } => {
                for h in t.hosts(service).map_err(|m| bad("service", m))? {
                    at(start, Op::Service { host: h.clone(), fault: ServiceFault::Throttle { rate: *rate } });
                    at(end, Op::Service { host: h, fault: ServiceFault::Healthy });
                }
            }
            FaultKind::Outage { service } => {
                for h in t.hosts(service).map_err(|m| bad("service", m))? {
                    at(start, Op::Service { host: h.clone(), fault: ServiceFault::Outage });
                    at(end, Op::Service { host: h, fault: ServiceFault::Healthy });
                }
            }
            FaultKind::KeyRotation { cluster } => {
                let (name, _) = t.cluster(cluster).map_err(|m| bad("cluster", m))?;
                at(start, Op::RotateKey { cluster: name.clone(), overlap: f.duration.0 });
            }
            FaultKind::ClockSkew { host, skew_ms } => {
                for h in t.hosts(host).map_err(|m| bad("host", m))? {
                    at(start, Op::Skew { host: h.clone(), skew_ms: *skew_ms });
                    at(end, Op::Skew { host: h, skew_ms: 0 });
                }
            }
            FaultKind::AgentRollout { cluster, interval } => {
                let (_, nodes) = t.cluster(cluster).map_err(|m| bad("cluster", m))?;
                let mut when = start;
                for n in nodes.iter().filter(|n| t.agent_nodes.contains(n)) {
                    at(when, Op::Crash { host: n.clone(), process: Some(AGENT_PROCESS.into()) });
                    when += interval.0;
                    at(when, Op::Restart { host: n.clone(), process: Some(AGENT_PROCESS.into()) });
                }
                mark_end = when;
            }
            FaultKind::NodeDrain { node } => {
                t.hosts(node).map_err(|m| bad("node", m))?;
            }
        }
        // Marks bracket the fault's ops: start first, end last at their instants.
        ops.push((start, 0, Op::Mark { id, start: true, kind: f.kind_name(), target: f.target() }));
        ops.push((mark_end, 2, Op::Mark { id, start: false, kind: f.kind_name(), target: f.target() }));
    }
    // Stable: same instant keeps fault order; heals (Uncut, Restart) of one fault never reorder
    // around another fault's cuts at the same instant except by fault order.
    ops.sort_by_key(|(t, phase, _)| (*t, *phase));
    Ok(ops.into_iter().map(|(t, _, op)| (t, op)).collect())
}

#[allow(clippy::too_many_arguments)]
fn link_ops(
    at: &mut impl FnMut(Duration, Op),
    id: usize,
    t: &Targets,
    a: &str,
    b: &str,
    lf: LinkFaults,
    start: Duration,
    end: Duration,
) -> Result<(), (&'static str, String)> {
    let (ha, hb) = (t.hosts(a).map_err(|m| ("a", m))?, t.hosts(b).map_err(|m| ("b", m))?);
    for x in &ha {
        for y in hb.iter().filter(|y| *y != x) {
            for (from, to) in [(x.clone(), y.clone()), (y.clone(), x.clone())] {
                at(start, Op::LinkOn { id, from: from.clone(), to: to.clone(), faults: lf });
                at(end, Op::LinkOff { id, from, to });
            }
        }
    }
    Ok(())
}

/// What rotating a cluster's signing key means, supplied by `cluster` (which holds the key ring).
pub type RotateKey = Box<dyn Fn(Duration)>;

/// Applies ops while the world runs. Lives on the scenario driver (no host).
pub struct Driver {
    cuts: BTreeMap<(HostId, HostId), u32>,
    downs: BTreeMap<(HostId, Option<String>), u32>,
    links: BTreeMap<(HostId, HostId), Vec<(usize, LinkFaults)>>,
    rotate: BTreeMap<String, RotateKey>,
}

impl Driver {
    pub fn new(rotate: BTreeMap<String, RotateKey>) -> Driver {
        Driver { cuts: BTreeMap::new(), downs: BTreeMap::new(), links: BTreeMap::new(), rotate }
    }

    /// Carries out one op now.
    pub fn apply(&mut self, op: &Op) {
        let host = |name: &str| sim::control::host(name);
        match op {
            Op::Mark { id, start, kind, target } => {
                runtime::record(if *start { "fault.start" } else { "fault.end" }, fields!["id" => *id as u64, "kind" => *kind, "target" => target]);
            }
            Op::Cut { from, to } => {
                if let (Some(a), Some(b)) = (host(from), host(to)) {
                    let n = self.cuts.entry((a, b)).or_default();
                    *n += 1;
                    if *n == 1 {
                        sim::control::partition_oneway(a, b);
                    }
                }
            }
            Op::Uncut { from, to } => {
                if let (Some(a), Some(b)) = (host(from), host(to))
                    && let Some(n) = self.cuts.get_mut(&(a, b))
                {
                    *n -= 1;
                    if *n == 0 {
                        self.cuts.remove(&(a, b));
                        sim::control::heal_oneway(a, b);
                    }
                }
            }
            Op::Crash { host: name, process } => {
                let Some(h) = host(name) else { return };
                let n = self.downs.entry((h, process.clone())).or_default();
                *n += 1;
                if *n == 1 {
                    match process {
                        None => sim::control::crash(h),
                        Some(p) => {
                            sim::control::crash_process(h, p);
                        }
                    }
                }
            }
            Op::Restart { host: name, process } => {
                let Some(h) = host(name) else { return };
                let key = (h, process.clone());
                let Some(n) = self.downs.get_mut(&key) else { return };
                *n -= 1;
                if *n == 0 {
                    self.downs.remove(&key);
                    // A process stays down while its whole host is.
                    if process.is_some() && self.downs.contains_key(&(h, None)) {
                        return;
                    }
                    match process {
                        None => sim::control::restart(h),
                        Some(p) => {
                            sim::control::restart_process(h, p);
                        }
                    }
                }
            }
            Op::LinkOn { id, from, to, faults } => {
                if let (Some(a), Some(b)) = (host(from), host(to)) {
                    self.links.entry((a, b)).or_default().push((*id, *faults));
                    self.set_link(a, b);
                }
            }
            Op::LinkOff { id, from, to } => {
                if let (Some(a), Some(b)) = (host(from), host(to)) {
                    if let Some(v) = self.links.get_mut(&(a, b)) {
                        v.retain(|(i, _)| i != id);
                    }
                    self.set_link(a, b);
                }
            }
            Op::Service { host, fault } => runtime::set_service_fault(host, *fault),
            Op::Skew { host: name, skew_ms } => {
                if let Some(h) = host(name) {
                    sim::control::set_skew_ms(h, *skew_ms);
                }
            }
            Op::RotateKey { cluster, overlap } => {
                if let Some(rotate) = self.rotate.get(cluster) {
                    rotate(*overlap);
                }
            }
        }
    }

    /// Sets a link to the combination of the faults active on it.
    fn set_link(&mut self, a: HostId, b: HostId) {
        let active = self.links.get(&(a, b)).cloned().unwrap_or_default();
        let keep = 1.0 - active.iter().fold(1.0, |k, (_, f)| k * (1.0 - f.loss));
        let latency = active.iter().rev().find_map(|(_, f)| f.latency);
        if active.is_empty() {
            self.links.remove(&(a, b));
        }
        sim::control::set_link(a, b, LinkFaults { loss: keep, latency });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::HumanDuration;

    fn targets() -> Targets {
        let mut g = BTreeMap::new();
        for n in ["node-1", "node-2", "sts.x", "eks-auth.x"] {
            g.insert(n.to_string(), vec![n.to_string()]);
        }
        g.insert("nodes".into(), vec!["node-1".into(), "node-2".into()]);
        g.insert("sts".into(), vec!["sts.x".into()]);
        g.insert("eks-auth".into(), vec!["eks-auth.x".into()]);
        g.insert("*".into(), vec!["node-1".into(), "node-2".into(), "sts.x".into(), "eks-auth.x".into()]);
        Targets { groups: g, cluster_nodes: vec![("basic".into(), vec!["node-1".into(), "node-2".into()])], agent_nodes: vec!["node-1".into(), "node-2".into()] }
    }

    fn f(at: u64, dur: u64, kind: FaultKind) -> Fault {
        Fault { at: HumanDuration(Duration::from_secs(at)), duration: HumanDuration(Duration::from_secs(dur)), kind }
    }

    #[test]
    fn a_partition_cuts_every_pair_both_ways_and_heals_them() {
        let ops = schedule(&[f(10, 5, FaultKind::Partition { a: "nodes".into(), b: "sts".into(), oneway: false })], &targets()).unwrap();
        let cuts = ops.iter().filter(|(t, o)| *t == Duration::from_secs(10) && matches!(o, Op::Cut { .. })).count();
        let heals = ops.iter().filter(|(t, o)| *t == Duration::from_secs(15) && matches!(o, Op::Uncut { .. })).count();
        assert_eq!((cuts, heals), (4, 4));
        assert!(matches!(ops.first(), Some((_, Op::Mark { start: true, .. }))));
        assert!(matches!(ops.last(), Some((_, Op::Mark { start: false, .. }))));
    }

    #[test]
    fn a_lost_machine_is_cut_off_before_it_crashes() {
        let ops = schedule(&[f(10, 5, FaultKind::Crash { host: "node-1".into(), process: None, machine: true })], &targets()).unwrap();
        let first_crash = ops.iter().position(|(_, o)| matches!(o, Op::Crash { .. })).unwrap();
        let cuts_before = ops[..first_crash].iter().filter(|(_, o)| matches!(o, Op::Cut { .. })).count();
        assert_eq!(cuts_before, 6, "node-1 to and from the three other hosts");
    }

    #[test]
    fn an_agent_rollout_restarts_one_node_at_a_time() {
        let ops = schedule(&[f(100, 0, FaultKind::AgentRollout { cluster: None, interval: HumanDuration(Duration::from_secs(30)) })], &targets()).unwrap();
        let seq: Vec<(u64, &str, &str)> = ops
            .iter()
            .filter_map(|(t, o)| match o {
                Op::Crash { host, .. } => Some((t.as_secs(), "crash", host.as_str())),
                Op::Restart { host, .. } => Some((t.as_secs(), "restart", host.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(seq, vec![(100, "crash", "node-1"), (130, "restart", "node-1"), (130, "crash", "node-2"), (160, "restart", "node-2")]);
        assert!(matches!(ops.last(), Some((t, Op::Mark { start: false, .. })) if t.as_secs() == 160));
    }

    #[test]
    fn unknown_targets_name_the_fault_and_field() {
        let e = schedule(&[f(1, 1, FaultKind::Outage { service: "sts".into() }), f(1, 1, FaultKind::Partition { a: "nodes".into(), b: "dynamo".into(), oneway: true })], &targets()).unwrap_err();
        assert_eq!((e.0, e.1.as_str()), (1, "b"));
        assert!(e.2.contains("dynamo"), "{}", e.2);
    }
}
