//! The IAM policy engine: parses policy documents and decides Allow / explicit Deny / implicit
//! Deny for one request.
//!
//! It stands for the policy evaluation inside AWS IAM that every service calls: STS evaluates role
//! trust policies with it (`Principal.Federated` = the IAM OIDC provider ARN for IRSA,
//! `Principal.Service` = `pods.eks.amazonaws.com` for Pod Identity), and simulated resources
//! evaluate the caller's identity policies, with ABAC conditions, through it.
//!
//! Facts (`shared/reference/iam.md`):
//! * §1.1 default deny; an explicit Deny in any policy wins over any Allow.
//! * §1.2 `Action`/`NotAction` match case-insensitively with `*`/`?`; `Resource`/`NotResource` are
//!   case-sensitive ARN patterns matched per colon-separated part; `Principal` forms
//!   (`AWS`, `Federated`, `Service`, `*`).
//! * §1.3–§1.4 conditions (see [`condition`]); §1.5 policy variables (see `pattern`);
//!   §1.6 condition key names are case-insensitive, values as the operator says.
//!
//! The major pieces:
//! * [`PolicyDocument::parse`]: JSON → document, errors naming statement index and field.
//! * [`RequestContext`]: who asks, for what action on which resource, with which condition keys.
//! * [`evaluate`] / [`evaluate_explained`]: the decision over policies of one type (explicit
//!   Deny wins, then any Allow, else implicit deny).
//! * [`evaluate_request`]: the §1.1 combination of policy types ([`PolicySet`]: identity and
//!   resource policies as a union, or both across accounts; permissions boundary and session
//!   policies as caps). SCPs and RCPs are not modelled (no AWS Organizations in the simulation).

pub mod condition;
mod json;
pub(crate) mod pattern;
pub mod policy;

#[cfg(test)]
mod rules;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

pub use condition::{BaseOperator, Condition, ConditionOperator, SetQualifier};
pub use policy::{
    ActionBlock, Effect, PolicyDocument, PolicyError, PolicyVersion, PrincipalBlock, PrincipalKind,
    Principals, ResourceBlock, Statement,
};

use pattern::Compile;

/// The caller, as a resource or trust policy's `Principal` element sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// An unauthenticated caller: only `"Principal": "*"` matches it.
    Anonymous,
    /// An IAM identity by ARN: the account root (`arn:aws:iam::<acct>:root`), a user, a role, or a
    /// role session (`arn:aws:sts::<acct>:assumed-role/<role>/<session>`).
    Aws(String),
    /// A federated identity provider: an IAM OIDC/SAML provider ARN or a built-in IdP name.
    Federated(String),
    /// An AWS service principal such as `pods.eks.amazonaws.com`.
    Service(String),
}

impl Principal {
    fn matches(&self, principals: &Principals) -> bool {
        let map = match principals {
            Principals::Everyone => return true,
            Principals::Map(m) => m,
        };
        let (kind, who) = match self {
            Principal::Anonymous => return false,
            Principal::Aws(arn) => (PrincipalKind::Aws, arn),
            Principal::Federated(p) => (PrincipalKind::Federated, p),
            Principal::Service(s) => (PrincipalKind::Service, s),
        };
        let Some(entries) = map.get(&kind) else {
            return false;
        };
        entries.iter().any(|e| {
            e == "*" || e == who || (kind == PrincipalKind::Aws && aws_principal_covers(e, who))
        })
    }
}

/// Whether policy entry `entry` (an account id, an account root ARN, or a role ARN) covers the
/// IAM identity `arn`. Principal entries take no wildcards except a bare `*` (IAM User Guide,
/// "AWS JSON policy elements: Principal").
fn aws_principal_covers(entry: &str, arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, partition, _, _, account, resource] = parts[..] else {
        return false;
    };
    if entry.len() == 12 && entry.bytes().all(|b| b.is_ascii_digit()) {
        return entry == account;
    }
    if entry == format!("arn:{partition}:iam::{account}:root") {
        return true;
    }
    // A role ARN in a policy also covers that role's sessions.
    let role_prefix = format!("arn:{partition}:iam::{account}:role/");
    match (
        resource
            .strip_prefix("assumed-role/")
            .and_then(|r| r.split_once('/')),
        entry.strip_prefix(&role_prefix),
    ) {
        (Some((role_name, _session)), Some(role_path_and_name)) => {
            role_path_and_name.rsplit('/').next() == Some(role_name)
        }
        _ => false,
    }
}

/// One authorisation question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestContext {
    pub principal: Principal,
    /// `service:Action`, e.g. `sts:AssumeRoleWithWebIdentity`.
    pub action: String,
    /// The resource ARN (for a trust policy, the role's ARN).
    pub resource: String,
    /// Condition keys, lowercased (§1.6), each with its values. Kept private so the invariant
    /// "keys are lowercase" cannot be broken; use [`RequestContext::set_key`].
    condition_keys: BTreeMap<String, Vec<String>>,
    /// Lowercased names of the keys that are multivalued (type `ArrayOf…`, §1.3). Whether a key
    /// is single- or multivalued is a property of the request context, not of how many values
    /// it holds; it matters for policy variables, which resolve only from single-valued keys.
    multivalued: BTreeSet<String>,
}

impl RequestContext {
    pub fn new(
        principal: Principal,
        action: impl Into<String>,
        resource: impl Into<String>,
    ) -> RequestContext {
        RequestContext {
            principal,
            action: action.into(),
            resource: resource.into(),
            condition_keys: BTreeMap::new(),
            multivalued: BTreeSet::new(),
        }
    }

    /// Sets (replaces) a condition key; the name is stored lowercased, so
    /// `aws:PrincipalTag/Team` and `aws:principaltag/team` are the same key (§1.6). The key
    /// counts as single-valued for policy variables (a list of several values never resolves
    /// anyway); use [`RequestContext::set_multivalued_key`] for `ArrayOf…` keys.
    pub fn set_key<I, S>(&mut self, key: &str, values: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let lower = key.to_lowercase();
        self.multivalued.remove(&lower);
        self.condition_keys
            .insert(lower, values.into_iter().map(Into::into).collect());
    }

    /// Sets (replaces) a multivalued condition key such as `aws:TagKeys` or an OIDC `amr`
    /// claim: the set qualifiers `ForAnyValue:`/`ForAllValues:` are meant for these, and a
    /// multivalued key never resolves as a policy variable, even with one value (§1.5).
    pub fn set_multivalued_key<I, S>(&mut self, key: &str, values: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.set_key(key, values);
        self.multivalued.insert(key.to_lowercase());
    }

    /// Builder form of [`RequestContext::set_multivalued_key`].
    pub fn with_multivalued_key<I, S>(mut self, key: &str, values: I) -> RequestContext
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.set_multivalued_key(key, values);
        self
    }

    /// The value of a single-valued key (case-insensitive name), as a policy variable sees it:
    /// `None` when the key is absent, multivalued, or holds other than exactly one value.
    pub fn single_value(&self, key: &str) -> Option<&str> {
        let lower = key.to_lowercase();
        if self.multivalued.contains(&lower) {
            return None;
        }
        match self.key(&lower) {
            Some([one]) => Some(one),
            _ => None,
        }
    }

    /// Builder form of [`RequestContext::set_key`].
    pub fn with_key<I, S>(mut self, key: &str, values: I) -> RequestContext
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.set_key(key, values);
        self
    }

    /// The values of a condition key, looked up case-insensitively.
    pub fn key(&self, key: &str) -> Option<&[String]> {
        match self.condition_keys.get(key) {
            Some(v) => Some(v),
            None => self
                .condition_keys
                .get(&key.to_lowercase())
                .map(Vec::as_slice),
        }
    }

    /// All condition keys (lowercased names).
    pub fn condition_keys(&self) -> &BTreeMap<String, Vec<String>> {
        &self.condition_keys
    }
}

/// The outcome of evaluating a set of policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Decision {
    Allow,
    /// A matching `Deny` statement: wins over every Allow.
    ExplicitDeny,
    /// No statement allowed the request (the default).
    ImplicitDeny,
}

/// Which statement decided, for trace events and error reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    pub decision: Decision,
    /// `(policy index, statement index, Sid)` of the deciding statement: the first matching Deny,
    /// else the first matching Allow; None for an implicit deny.
    pub deciding_statement: Option<(usize, usize, Option<String>)>,
}

/// Evaluates `policies` together: explicit Deny wins, then any Allow, else implicit deny.
pub fn evaluate(policies: &[&PolicyDocument], ctx: &RequestContext) -> Decision {
    evaluate_explained(policies, ctx).decision
}

/// [`evaluate`], also reporting the deciding statement.
pub fn evaluate_explained(policies: &[&PolicyDocument], ctx: &RequestContext) -> Evaluation {
    let mut first_allow = None;
    for (pi, policy) in policies.iter().enumerate() {
        for (si, st) in policy.statements.iter().enumerate() {
            if !statement_applies(policy, st, ctx) {
                continue;
            }
            match st.effect {
                Effect::Deny => {
                    return Evaluation {
                        decision: Decision::ExplicitDeny,
                        deciding_statement: Some((pi, si, st.sid.clone())),
                    };
                }
                Effect::Allow if first_allow.is_none() => {
                    first_allow = Some((pi, si, st.sid.clone()))
                }
                Effect::Allow => {}
            }
        }
    }
    match first_allow {
        Some(s) => Evaluation {
            decision: Decision::Allow,
            deciding_statement: Some(s),
        },
        None => Evaluation {
            decision: Decision::ImplicitDeny,
            deciding_statement: None,
        },
    }
}

/// The policies that apply to one request, by policy type, for [`evaluate_request`] (§1.1).
/// Service control and resource control policies are not modelled (the simulation has no AWS
/// Organizations).
#[derive(Clone, Debug, Default)]
pub struct PolicySet<'a> {
    /// Identity policies of the principal (for a role session: the role's policies).
    pub identity: Vec<&'a PolicyDocument>,
    /// Resource-based policies of the resource (a bucket policy; a role's trust policy).
    pub resource: Vec<&'a PolicyDocument>,
    /// The principal's permissions boundary, if it has one.
    pub boundary: Option<&'a PolicyDocument>,
    /// Session policies passed when the session was created (empty: none). Only a session has
    /// them.
    pub session: Vec<&'a PolicyDocument>,
    /// The resource belongs to another account than the principal: an Allow is needed on both
    /// sides, identity and resource policy.
    pub cross_account: bool,
    /// The resource policy must allow the principal itself, an identity-policy Allow is not
    /// enough: role trust policies and KMS key policies (§1.1).
    pub resource_policy_required: bool,
}

/// Evaluates a request against every applicable policy type, as `iam.md` §1.1 describes:
/// 1. an explicit Deny in any policy (identity, resource, boundary, session) wins;
/// 2. the grant: within one account an Allow from the identity *or* the resource policies (a
///    union), except that `resource_policy_required` needs the resource policy; across accounts
///    both sides must allow;
/// 3. the caps: a permissions boundary and session policies, when present, must also allow,
///    otherwise the result is an implicit deny; except that a resource-policy Allow naming the
///    role **session** ARN (`arn:aws:sts::<acct>:assumed-role/<role>/<session>`) grants to the
///    session directly and is not capped (one naming the role ARN is).
pub fn evaluate_request(set: &PolicySet<'_>, ctx: &RequestContext) -> Decision {
    let all = set
        .identity
        .iter()
        .chain(&set.resource)
        .chain(set.boundary.as_ref())
        .chain(&set.session);
    let denied = all
        .flat_map(|p| applying(p, ctx))
        .any(|st| st.effect == Effect::Deny);
    if denied {
        return Decision::ExplicitDeny;
    }
    let allows = |policies: &[&PolicyDocument]| {
        policies
            .iter()
            .flat_map(|p| applying(p, ctx))
            .any(|st| st.effect == Effect::Allow)
    };
    let identity_allow = allows(&set.identity);
    let resource_allow = allows(&set.resource);
    let granted = if set.cross_account {
        identity_allow && resource_allow
    } else if set.resource_policy_required {
        resource_allow
    } else {
        identity_allow || resource_allow
    };
    if !granted {
        return Decision::ImplicitDeny;
    }
    let session_named_directly = !set.cross_account
        && set
            .resource
            .iter()
            .flat_map(|p| applying(p, ctx))
            .any(|st| st.effect == Effect::Allow && names_session(st, &ctx.principal));
    let capped_ok = set.boundary.is_none_or(|b| allows(&[b]))
        && (set.session.is_empty() || allows(&set.session));
    if session_named_directly || capped_ok {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// The statements of `policy` that apply to `ctx`.
fn applying<'p>(
    policy: &'p PolicyDocument,
    ctx: &'p RequestContext,
) -> impl Iterator<Item = &'p Statement> + 'p {
    policy
        .statements
        .iter()
        .filter(move |st| statement_applies(policy, st, ctx))
}

/// Whether `st`'s `Principal` names the caller's role-session ARN itself (not its role, account
/// or `*`).
fn names_session(st: &Statement, who: &Principal) -> bool {
    let Principal::Aws(arn) = who else {
        return false;
    };
    let is_session = arn
        .splitn(6, ':')
        .nth(5)
        .is_some_and(|r| r.starts_with("assumed-role/"));
    is_session
        && matches!(&st.principal, Some(PrincipalBlock::Principal(Principals::Map(m)))
            if m.get(&PrincipalKind::Aws).is_some_and(|v| v.iter().any(|e| e == arn)))
}

impl PolicyDocument {
    /// Evaluates this one document on its own.
    pub fn evaluate(&self, ctx: &RequestContext) -> Decision {
        evaluate(&[self], ctx)
    }
}

fn statement_applies(policy: &PolicyDocument, st: &Statement, ctx: &RequestContext) -> bool {
    let variables = policy.version == PolicyVersion::V2012_10_17;
    let principal_ok = match &st.principal {
        None => true,
        Some(PrincipalBlock::Principal(p)) => ctx.principal.matches(p),
        Some(PrincipalBlock::NotPrincipal(p)) => !ctx.principal.matches(p),
    };
    if !principal_ok {
        return false;
    }
    let action_matches = |patterns: &[String]| {
        patterns.iter().any(|p| {
            let toks = pattern::compile(
                p,
                Compile {
                    wildcards: true,
                    variables: None,
                },
            )
            .unwrap_or_default();
            pattern::glob_match(&toks, &ctx.action, true)
        })
    };
    let action_ok = match &st.action {
        ActionBlock::Action(a) => action_matches(a),
        ActionBlock::NotAction(a) => !action_matches(a),
    };
    if !action_ok {
        return false;
    }
    let resource_matches = |patterns: &[String]| {
        patterns.iter().any(|p| {
            match pattern::compile_resource(p, variables.then_some(ctx)) {
                Some(toks) => pattern::arn_match(&toks, &ctx.resource),
                None => false, // unresolvable variable: matches no resource (§1.5)
            }
        })
    };
    let resource_ok = match &st.resource {
        None => true,
        Some(ResourceBlock::Resource(r)) => resource_matches(r),
        Some(ResourceBlock::NotResource(r)) => !resource_matches(r),
    };
    resource_ok && st.conditions.iter().all(|c| c.matches(ctx, variables))
}
