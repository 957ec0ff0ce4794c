//! The IAM policy engine: parses policy documents and decides Allow / explicit Deny / implicit
//! Deny for one request.
//!
//! It stands for the policy evaluation inside AWS IAM that every service calls. Today STS uses it
//! for role trust policies (`sts:AssumeRoleWithWebIdentity` with `Principal.Federated` = the IAM
//! OIDC provider ARN); the same engine is meant to grow into identity, resource, boundary and
//! session policies and ABAC for the simulated resources.
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
//! * [`evaluate`] / [`evaluate_explained`]: the decision over a set of policies.
//!
//! Not modelled yet: the cross-policy-type combination rules of §1.1 (SCPs, boundaries, session
//! policies intersecting identity policies). Callers combine per-type decisions themselves.

pub mod condition;
mod json;
pub(crate) mod pattern;
pub mod policy;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use condition::{BaseOperator, Condition, ConditionOperator, SetQualifier};
pub use policy::{
    ActionBlock, Effect, PolicyDocument, PolicyError, PolicyVersion, PrincipalBlock, PrincipalKind,
    Principals, ResourceBlock, Statement,
};

use pattern::{Compile, Tok};

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
        }
    }

    /// Sets (replaces) a condition key; the name is stored lowercased.
    pub fn set_key<I, S>(&mut self, key: &str, values: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.condition_keys.insert(
            key.to_lowercase(),
            values.into_iter().map(Into::into).collect(),
        );
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
            let how = Compile {
                wildcards: true,
                variables: variables.then_some(ctx),
            };
            match pattern::compile(p, how) {
                Some(toks) => resource_match(&toks, &ctx.resource),
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

fn resource_match(pat: &[Tok], resource: &str) -> bool {
    pattern::arn_match(pat, resource)
}
