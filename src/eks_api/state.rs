//! The EKS API's durable state: clusters, their associations, and the log of changes on their way to
//! EKS Auth and the webhook.
//!
//! Every operation is a plain method taking the clock (`now_ms`, Unix milliseconds) and, for Create, a
//! source of fresh ids, so the rules can be unit-tested without a network. Invariants, checked by
//! `check_invariants` after every write in debug builds and by the tests:
//! * one association per (namespace, service account) per cluster;
//! * the indexes by sequence number and by subject agree with the associations;
//! * a cluster never holds more than `associations_per_cluster_max` associations;
//! * pending changes are kept in the order they were made (a queue), and each is due no earlier than it
//!   was made.
//!
//! The clock is the EKS host's wall clock, which a clock-skew fault can step backwards between two
//! writes. Timestamps then go backwards too (as a real host's would), but propagation never reorders:
//! a change waits for every change made before it, even one stamped later.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use serde_json::Value;

use super::config::EksApiConfig;
use super::model::{self, PodIdentityAssociation, PropagatedAssociation};
use super::validate::{self, CreateRequest, ListQuery, UpdateRequest};
use super::wire::{msg, EksError};

/// What a change did, for the propagation trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Created => "created",
            ChangeKind::Updated => "updated",
            ChangeKind::Deleted => "deleted",
        }
    }
}

/// One change on its way to the propagated view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub cluster: String,
    pub association_id: String,
    pub kind: ChangeKind,
    /// When the API accepted it (Unix ms).
    pub made_at_ms: u64,
    /// When it becomes visible (Unix ms): `made_at_ms + propagation_delay_ms`.
    pub due_at_ms: u64,
    /// The association as it will be seen; `None` for a deletion.
    pub snapshot: Option<PropagatedAssociation>,
}

/// A remembered `clientRequestToken`: which operation it was used for and what it returned.
#[derive(Clone, Debug)]
struct TokenUse {
    fingerprint: String,
    response: PodIdentityAssociation,
}

/// One cluster's associations.
#[derive(Clone, Debug)]
struct Cluster {
    arn: String,
    /// Current associations (the API's own, immediately consistent view) by id, with their creation
    /// sequence number.
    by_id: BTreeMap<String, (u64, PodIdentityAssociation)>,
    /// Creation order: sequence number → id. List pages follow it.
    by_seq: BTreeMap<u64, String>,
    /// (namespace, service account) → id: at most one association each.
    by_subject: BTreeMap<(String, String), String>,
    next_seq: u64,
    /// The propagated view by id: what EKS Auth and the webhook see.
    visible: BTreeMap<String, PropagatedAssociation>,
    /// Idempotency tokens, bounded by `client_request_tokens_max` (oldest forgotten first).
    tokens: BTreeMap<String, TokenUse>,
    token_order: VecDeque<String>,
}

impl Cluster {
    fn get(&self, id: &str) -> Result<&PodIdentityAssociation, EksError> {
        self.by_id.get(id).map(|(_, a)| a).ok_or_else(|| EksError::not_found(msg::no_association(id)))
    }

    /// The response remembered for `token`, if the same request used it; an error if another did.
    fn replay(&self, token: Option<&str>, fingerprint: &str) -> Result<Option<PodIdentityAssociation>, EksError> {
        let Some(t) = token else { return Ok(None) };
        match self.tokens.get(t) {
            None => Ok(None),
            Some(u) if u.fingerprint == fingerprint => Ok(Some(u.response.clone())),
            Some(_) => Err(EksError::invalid_parameter(format!(
                "The clientRequestToken {t} was already used with different parameters."
            ))),
        }
    }

    fn remember(&mut self, token: Option<String>, fingerprint: String, response: &PodIdentityAssociation, max: usize) {
        let Some(t) = token else { return };
        if max == 0 {
            return;
        }
        while self.token_order.len() >= max {
            if let Some(old) = self.token_order.pop_front() {
                self.tokens.remove(&old);
            }
        }
        self.token_order.push_back(t.clone());
        self.tokens.insert(t, TokenUse { fingerprint, response: response.clone() });
    }
}

/// The EKS API's state. Shared (`Rc<RefCell<…>>`) between the composition root, which registers clusters
/// before the run, and the actor, which survives restarts with it: EKS is durable.
#[derive(Debug, Default)]
pub struct EksApiState {
    clusters: BTreeMap<String, Cluster>,
    /// Changes not yet visible, in the order they were made.
    pending: VecDeque<Change>,
}

fn fingerprint(op: &str, id: &str, body: &impl serde::Serialize) -> String {
    format!("{op}/{id}/{}", serde_json::to_string(body).unwrap_or_default())
}

impl EksApiState {
    /// An empty state, ready to share.
    pub fn new() -> Rc<RefCell<EksApiState>> {
        Rc::new(RefCell::new(EksApiState::default()))
    }

    /// Registers a cluster (what `CreateCluster` would have done). Registering it again keeps its
    /// associations and updates its ARN.
    pub fn add_cluster(&mut self, name: &str, arn: &str) {
        let c = self.clusters.entry(name.to_owned()).or_insert_with(|| Cluster {
            arn: String::new(),
            by_id: BTreeMap::new(),
            by_seq: BTreeMap::new(),
            by_subject: BTreeMap::new(),
            next_seq: 0,
            visible: BTreeMap::new(),
            tokens: BTreeMap::new(),
            token_order: VecDeque::new(),
        });
        c.arn = arn.to_owned();
    }

    /// The ARN a cluster was registered with.
    pub fn cluster_arn(&self, name: &str) -> Option<&str> {
        self.clusters.get(name).map(|c| c.arn.as_str())
    }

    /// The cluster's current associations in creation order (the API's view).
    pub fn associations(&self, cluster: &str) -> Vec<PodIdentityAssociation> {
        let Some(c) = self.clusters.get(cluster) else { return Vec::new() };
        c.by_seq.values().filter_map(|id| c.by_id.get(id).map(|(_, a)| a.clone())).collect()
    }

    /// The cluster's propagated associations by id, as last applied by [`EksApiState::apply_due`];
    /// `None` for an unknown cluster.
    pub fn propagated(&self, cluster: &str) -> Option<Vec<PropagatedAssociation>> {
        self.clusters.get(cluster).map(|c| c.visible.values().cloned().collect())
    }

    /// Makes every change due at `now_ms` visible, in the order made, and returns them.
    pub fn apply_due(&mut self, now_ms: u64) -> Vec<Change> {
        let mut applied = Vec::new();
        // Changes are due in the order made when the delay is constant; a change that is not due yet
        // holds back later ones, so a reader never sees a later change before an earlier one.
        while self.pending.front().is_some_and(|c| c.due_at_ms <= now_ms) {
            let Some(ch) = self.pending.pop_front() else { break };
            if let Some(cluster) = self.clusters.get_mut(&ch.cluster) {
                match &ch.snapshot {
                    Some(s) => {
                        cluster.visible.insert(ch.association_id.clone(), s.clone());
                    }
                    None => {
                        cluster.visible.remove(&ch.association_id);
                    }
                }
            }
            applied.push(ch);
        }
        applied
    }

    /// When the next pending change is due (Unix ms).
    pub fn next_due_ms(&self) -> Option<u64> {
        self.pending.front().map(|c| c.due_at_ms)
    }

    /// Changes not yet visible.
    pub fn pending_changes(&self) -> usize {
        self.pending.len()
    }

    fn cluster(&self, name: &str) -> Result<&Cluster, EksError> {
        self.clusters.get(name).ok_or_else(|| EksError::not_found(msg::no_cluster(name)))
    }

    fn cluster_mut(&mut self, name: &str) -> Result<&mut Cluster, EksError> {
        self.clusters.get_mut(name).ok_or_else(|| EksError::not_found(msg::no_cluster(name)))
    }

    fn log(&mut self, cfg: &EksApiConfig, a: &PodIdentityAssociation, kind: ChangeKind, now_ms: u64) {
        // Apply what is due first, so the log only ever holds one delay's worth of changes.
        let _ = self.apply_due(now_ms);
        self.pending.push_back(Change {
            cluster: a.cluster_name.clone(),
            association_id: a.association_id.clone(),
            kind,
            made_at_ms: now_ms,
            due_at_ms: now_ms.saturating_add(cfg.propagation_delay_ms),
            snapshot: (kind != ChangeKind::Deleted).then(|| a.propagated()),
        });
    }

    /// `CreatePodIdentityAssociation`. `new_id` yields candidate ids until one is unused.
    pub fn create(
        &mut self,
        cfg: &EksApiConfig,
        cluster_name: &str,
        req: CreateRequest,
        now_ms: u64,
        new_id: &mut dyn FnMut() -> String,
    ) -> Result<PodIdentityAssociation, EksError> {
        let fp = fingerprint("create", "", &req);
        let c = self.cluster(cluster_name)?;
        if let Some(prev) = c.replay(req.client_request_token.as_deref(), &fp)? {
            return Ok(prev);
        }
        let subject = (req.namespace.clone(), req.service_account.clone());
        if let Some(existing) = c.by_subject.get(&subject) {
            return Err(EksError::in_use(msg::already_exists(existing)));
        }
        if c.by_id.len() >= cfg.associations_per_cluster_max {
            return Err(EksError::limit_exceeded(msg::limit(cluster_name, cfg.associations_per_cluster_max)));
        }
        let id = loop {
            let id = new_id();
            assert!(model::is_association_id(&id), "the id source made {id:?}");
            if !c.by_id.contains_key(&id) {
                break id;
            }
        };
        let a = PodIdentityAssociation {
            cluster_name: cluster_name.to_owned(),
            namespace: req.namespace.clone(),
            service_account: req.service_account.clone(),
            role_arn: req.role_arn.clone(),
            association_arn: format!(
                "arn:{}:eks:{}:{}:podidentityassociation/{cluster_name}/{id}",
                cfg.partition, cfg.region, cfg.account_id
            ),
            association_id: id.clone(),
            tags: req.tags.clone(),
            created_at_ms: now_ms,
            modified_at_ms: now_ms,
            owner_arn: None,
            disable_session_tags: req.disable_session_tags,
            external_id: req
                .target_role_arn
                .as_ref()
                .map(|_| model::external_id(&cfg.region, &cfg.account_id, cluster_name, &req.namespace, &req.service_account)),
            target_role_arn: req.target_role_arn.clone(),
            policy: req.policy.clone(),
        };
        let c = self.cluster_mut(cluster_name)?;
        let seq = c.next_seq;
        c.next_seq += 1;
        c.by_id.insert(id.clone(), (seq, a.clone()));
        c.by_seq.insert(seq, id.clone());
        c.by_subject.insert(subject, id);
        c.remember(req.client_request_token, fp, &a, cfg.client_request_tokens_max);
        self.log(cfg, &a, ChangeKind::Created, now_ms);
        self.check_invariants(cfg);
        Ok(a)
    }

    /// `DescribePodIdentityAssociation`.
    pub fn describe(&self, cluster_name: &str, id: &str) -> Result<PodIdentityAssociation, EksError> {
        let c = self.cluster(cluster_name)?;
        validate::association_id(id)?;
        c.get(id).cloned()
    }

    /// `UpdatePodIdentityAssociation`.
    pub fn update(
        &mut self,
        cfg: &EksApiConfig,
        cluster_name: &str,
        id: &str,
        req: UpdateRequest,
        now_ms: u64,
    ) -> Result<PodIdentityAssociation, EksError> {
        let fp = fingerprint("update", id, &req);
        let c = self.cluster(cluster_name)?;
        validate::association_id(id)?;
        if let Some(prev) = c.replay(req.client_request_token.as_deref(), &fp)? {
            return Ok(prev);
        }
        let mut a = c.get(id)?.clone();
        if let Some(r) = &req.role_arn {
            a.role_arn = r.clone();
        }
        if let Some(d) = req.disable_session_tags {
            a.disable_session_tags = d;
        }
        if let Some(t) = &req.target_role_arn {
            a.target_role_arn = (!t.is_empty()).then(|| t.clone());
            a.external_id = a
                .target_role_arn
                .as_ref()
                .map(|_| model::external_id(&cfg.region, &cfg.account_id, cluster_name, &a.namespace, &a.service_account));
        }
        if let Some(p) = &req.policy {
            a.policy = (!p.is_empty()).then(|| p.clone());
        }
        validate::policy_needs_tags_disabled(a.policy.as_deref(), a.disable_session_tags)?;
        a.modified_at_ms = now_ms;
        let c = self.cluster_mut(cluster_name)?;
        if let Some(slot) = c.by_id.get_mut(id) {
            slot.1 = a.clone();
        }
        c.remember(req.client_request_token, fp, &a, cfg.client_request_tokens_max);
        self.log(cfg, &a, ChangeKind::Updated, now_ms);
        self.check_invariants(cfg);
        Ok(a)
    }

    /// `DeletePodIdentityAssociation`: returns the deleted association. Sessions already issued stay
    /// valid (`agent.md` §4), which is nothing this actor has to do.
    pub fn delete(&mut self, cfg: &EksApiConfig, cluster_name: &str, id: &str, now_ms: u64) -> Result<PodIdentityAssociation, EksError> {
        self.cluster(cluster_name)?;
        validate::association_id(id)?;
        let c = self.cluster_mut(cluster_name)?;
        let Some((seq, a)) = c.by_id.remove(id) else {
            return Err(EksError::not_found(msg::no_association(id)));
        };
        c.by_seq.remove(&seq);
        c.by_subject.remove(&(a.namespace.clone(), a.service_account.clone()));
        self.log(cfg, &a, ChangeKind::Deleted, now_ms);
        self.check_invariants(cfg);
        Ok(a)
    }

    /// `ListPodIdentityAssociations`: summaries in creation order, filtered, one page, and the token
    /// for the next page when there is more.
    pub fn list(&self, cluster_name: &str, q: &ListQuery) -> Result<(Vec<PodIdentityAssociation>, Option<String>), EksError> {
        let c = self.cluster(cluster_name)?;
        let start = q.after_seq.map_or(0, |s| s + 1);
        let mut page = Vec::new();
        let mut next = None;
        for id in c.by_seq.range(start..).map(|(_, id)| id) {
            let Some((_, a)) = c.by_id.get(id) else { continue };
            if q.namespace.as_ref().is_some_and(|n| *n != a.namespace)
                || q.service_account.as_ref().is_some_and(|s| *s != a.service_account)
            {
                continue;
            }
            if page.len() == q.max_results {
                // There is at least one more match: resume after the last one returned.
                next = Some(validate::next_token(page_last_seq(c, &page)));
                break;
            }
            page.push(a.clone());
        }
        Ok((page, next))
    }

    /// The simulator-only propagated view as JSON, after applying what is due.
    pub fn propagated_json(&self, cluster_name: &str) -> Result<Value, EksError> {
        let v = self.propagated(cluster_name).ok_or_else(|| EksError::not_found(msg::no_cluster(cluster_name)))?;
        Ok(serde_json::to_value(model::PropagatedView { associations: v }).unwrap_or(Value::Null))
    }

    /// Asserts the invariants (see the module docs). Cheap enough for debug builds on every write.
    pub fn check_invariants(&self, cfg: &EksApiConfig) {
        if !cfg!(debug_assertions) {
            return;
        }
        for (name, c) in &self.clusters {
            assert!(c.by_id.len() <= cfg.associations_per_cluster_max, "{name}: over the association limit");
            assert_eq!(c.by_id.len(), c.by_seq.len(), "{name}: sequence index out of step");
            assert_eq!(c.by_id.len(), c.by_subject.len(), "{name}: two associations for one service account");
            for (id, (seq, a)) in &c.by_id {
                assert_eq!(c.by_seq.get(seq), Some(id), "{name}: {id} missing from the sequence index");
                assert_eq!(
                    c.by_subject.get(&(a.namespace.clone(), a.service_account.clone())),
                    Some(id),
                    "{name}: {id} missing from the subject index"
                );
            }
            assert!(c.tokens.len() == c.token_order.len(), "{name}: token index out of step");
        }
        for ch in &self.pending {
            assert!(ch.due_at_ms >= ch.made_at_ms, "a change due before it was made");
        }
    }
}

/// The sequence number of the last association on a page.
fn page_last_seq(c: &Cluster, page: &[PodIdentityAssociation]) -> u64 {
    page.last().and_then(|a| c.by_id.get(&a.association_id)).map_or(0, |(s, _)| *s)
}
