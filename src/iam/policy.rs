//! The policy document grammar: parsing JSON into [`PolicyDocument`] with errors that name the
//! statement index and field.
//!
//! Facts (`iam.md` §1.2–§1.5): `Version` is `2012-10-17` or `2008-10-17` (variables only work in
//! the former; a missing Version means the old grammar); `Statement` is one object or an array;
//! `Effect` is `Allow` or `Deny`; exactly one of `Action`/`NotAction`; at most one of
//! `Resource`/`NotResource` and of `Principal`/`NotPrincipal`; `Principal` is `"*"` or a map of
//! `AWS`/`Federated`/`Service`/`CanonicalUser` to a string or array of strings; every list-valued
//! field accepts a single string; condition values may be strings, numbers or booleans.
//!
//! Modelling choice: a JSON object that names the same member twice (two `"StringEquals"` blocks,
//! two `"Effect"`s) is rejected. A last-wins JSON reader would silently drop a condition and grant
//! more than the author wrote; see the private `json` module.
//!
//! Which fields a given kind of policy must or must not carry (a trust policy needs `Principal`
//! and may not use `NotPrincipal`; an identity policy may use neither) is checked by
//! [`PolicyDocument::validate_trust_policy`] and [`PolicyDocument::validate_identity_policy`],
//! not by the parser, so that one grammar serves identity, resource and trust policies. The
//! parser does enforce the rules that hold for every kind: no wildcard in the service part of a
//! `Resource` ARN (§1.2), known condition operators (§1.4), `Null` without `IfExists` (§1.4).

use std::collections::BTreeMap;

use super::json::{Value, duplicate_name};

use super::condition::{Condition, ConditionOperator};

/// `Version` of the policy language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PolicyVersion {
    /// `2008-10-17`, also what a document without `Version` gets: no policy variables.
    V2008_10_17,
    /// `2012-10-17`: policy variables are expanded.
    V2012_10_17,
}

/// `Effect`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Effect {
    Allow,
    Deny,
}

/// Keys of a `Principal` map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PrincipalKind {
    Aws,
    Federated,
    Service,
    CanonicalUser,
}

/// The value of `Principal` or `NotPrincipal`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principals {
    /// `"*"`: everyone, including anonymous callers.
    Everyone,
    /// `{"AWS": [...], "Federated": [...], ...}`.
    Map(BTreeMap<PrincipalKind, Vec<String>>),
}

/// `Principal` or `NotPrincipal`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrincipalBlock {
    Principal(Principals),
    NotPrincipal(Principals),
}

/// `Action` or `NotAction`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActionBlock {
    Action(Vec<String>),
    NotAction(Vec<String>),
}

/// `Resource` or `NotResource`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResourceBlock {
    Resource(Vec<String>),
    NotResource(Vec<String>),
}

/// One statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    /// Absent in identity policies (the principal is whoever the policy is attached to).
    pub principal: Option<PrincipalBlock>,
    pub action: ActionBlock,
    /// Absent in trust policies (the resource is the role itself).
    pub resource: Option<ResourceBlock>,
    /// All conditions, ANDed.
    pub conditions: Vec<Condition>,
}

/// A parsed policy document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyDocument {
    pub version: PolicyVersion,
    pub id: Option<String>,
    pub statements: Vec<Statement>,
}

/// Why a policy document was rejected. `statement` is the zero-based index in `Statement` (None
/// for document-level problems), `field` the element at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{field}: {message}", statement.map(|i| format!("Statement[{i}].")).unwrap_or_default())]
pub struct PolicyError {
    pub statement: Option<usize>,
    pub field: String,
    pub message: String,
}

impl PolicyError {
    fn doc(field: &str, message: impl Into<String>) -> PolicyError {
        PolicyError {
            statement: None,
            field: field.to_owned(),
            message: message.into(),
        }
    }

    fn stmt(index: usize, field: &str, message: impl Into<String>) -> PolicyError {
        PolicyError {
            statement: Some(index),
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

impl PolicyDocument {
    /// Parses a policy document. Never panics, whatever the input.
    pub fn parse(json: &str) -> Result<PolicyDocument, PolicyError> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| PolicyError::doc("(document)", format!("not valid JSON: {e}")))?;
        let Value::Object(doc) = value else {
            return Err(PolicyError::doc("(document)", "must be a JSON object"));
        };
        if let Some(dup) = duplicate_name(&doc) {
            return Err(PolicyError::doc(dup, "duplicate element"));
        }
        let mut version = PolicyVersion::V2008_10_17;
        let mut id = None;
        let mut statements_value = None;
        for (k, v) in &doc {
            match k.as_str() {
                "Version" => {
                    version = match v.as_str() {
                        Some("2012-10-17") => PolicyVersion::V2012_10_17,
                        Some("2008-10-17") => PolicyVersion::V2008_10_17,
                        _ => {
                            return Err(PolicyError::doc(
                                "Version",
                                "must be \"2012-10-17\" or \"2008-10-17\"",
                            ));
                        }
                    }
                }
                "Id" => {
                    id = Some(
                        v.as_str()
                            .ok_or_else(|| PolicyError::doc("Id", "must be a string"))?
                            .to_owned(),
                    )
                }
                "Statement" => statements_value = Some(v),
                other => return Err(PolicyError::doc(other, "unknown top-level element")),
            }
        }
        let statements_value =
            statements_value.ok_or_else(|| PolicyError::doc("Statement", "missing"))?;
        let raw: Vec<&Value> = match statements_value {
            Value::Array(a) => a.iter().collect(),
            Value::Object(_) => vec![statements_value],
            _ => {
                return Err(PolicyError::doc(
                    "Statement",
                    "must be an object or an array of objects",
                ));
            }
        };
        if raw.is_empty() {
            return Err(PolicyError::doc("Statement", "must not be empty"));
        }
        let statements = raw
            .into_iter()
            .enumerate()
            .map(|(i, v)| parse_statement(i, v))
            .collect::<Result<_, _>>()?;
        Ok(PolicyDocument {
            version,
            id,
            statements,
        })
    }

    /// Checks the rules that make a document a valid identity policy (one attached to a user or
    /// role, a permissions boundary or a session policy): no `Principal` and no `NotPrincipal`
    /// (§1.2: they belong to resource-based policies only), and a `Resource` or `NotResource` in
    /// every statement. The last rule is a modelling choice: §1 does not state it, IAM's own
    /// validator enforces it, and without it a statement would silently cover every resource.
    pub fn validate_identity_policy(&self) -> Result<(), PolicyError> {
        for (i, s) in self.statements.iter().enumerate() {
            match &s.principal {
                Some(PrincipalBlock::Principal(_)) => {
                    return Err(PolicyError::stmt(
                        i,
                        "Principal",
                        "not allowed in an identity policy",
                    ));
                }
                Some(PrincipalBlock::NotPrincipal(_)) => {
                    return Err(PolicyError::stmt(
                        i,
                        "NotPrincipal",
                        "not allowed in an identity policy",
                    ));
                }
                None => {}
            }
            if s.resource.is_none() {
                return Err(PolicyError::stmt(
                    i,
                    "Resource",
                    "missing (one of Resource or NotResource is required)",
                ));
            }
        }
        Ok(())
    }

    /// Checks the rules that make a document a valid role trust policy (`iam.md` §1.2): every
    /// statement names a `Principal`, none uses `NotPrincipal`, and none has `Resource` (the
    /// resource is the role).
    pub fn validate_trust_policy(&self) -> Result<(), PolicyError> {
        for (i, s) in self.statements.iter().enumerate() {
            match &s.principal {
                None => {
                    return Err(PolicyError::stmt(
                        i,
                        "Principal",
                        "a trust policy statement must name a Principal",
                    ));
                }
                Some(PrincipalBlock::NotPrincipal(_)) => {
                    return Err(PolicyError::stmt(
                        i,
                        "NotPrincipal",
                        "not allowed in a trust policy",
                    ));
                }
                Some(PrincipalBlock::Principal(_)) => {}
            }
            if let Some(r) = &s.resource {
                let field = match r {
                    ResourceBlock::Resource(_) => "Resource",
                    ResourceBlock::NotResource(_) => "NotResource",
                };
                return Err(PolicyError::stmt(
                    i,
                    field,
                    "has prohibited field in a trust policy",
                ));
            }
        }
        Ok(())
    }
}

fn parse_statement(i: usize, v: &Value) -> Result<Statement, PolicyError> {
    let Value::Object(m) = v else {
        return Err(PolicyError::stmt(i, "(statement)", "must be a JSON object"));
    };
    if let Some(dup) = duplicate_name(m) {
        return Err(PolicyError::stmt(i, dup, "duplicate element"));
    }
    let mut sid = None;
    let mut effect = None;
    let mut principal = None;
    let mut action = None;
    let mut resource = None;
    let mut conditions = Vec::new();
    let once = |slot_set: bool, field: &str, other: &str| {
        if slot_set {
            Err(PolicyError::stmt(
                i,
                field,
                format!("cannot be combined with {other}"),
            ))
        } else {
            Ok(())
        }
    };
    for (k, v) in m {
        match k.as_str() {
            "Sid" => {
                sid = Some(
                    v.as_str()
                        .ok_or_else(|| PolicyError::stmt(i, "Sid", "must be a string"))?
                        .to_owned(),
                )
            }
            "Effect" => {
                effect = Some(match v.as_str() {
                    Some("Allow") => Effect::Allow,
                    Some("Deny") => Effect::Deny,
                    _ => {
                        return Err(PolicyError::stmt(
                            i,
                            "Effect",
                            "must be \"Allow\" or \"Deny\"",
                        ));
                    }
                })
            }
            "Principal" => {
                once(principal.is_some(), "Principal", "NotPrincipal")?;
                principal = Some(PrincipalBlock::Principal(parse_principals(
                    i,
                    "Principal",
                    v,
                )?));
            }
            "NotPrincipal" => {
                once(principal.is_some(), "NotPrincipal", "Principal")?;
                principal = Some(PrincipalBlock::NotPrincipal(parse_principals(
                    i,
                    "NotPrincipal",
                    v,
                )?));
            }
            "Action" => {
                once(action.is_some(), "Action", "NotAction")?;
                action = Some(ActionBlock::Action(string_list(i, "Action", v)?));
            }
            "NotAction" => {
                once(action.is_some(), "NotAction", "Action")?;
                action = Some(ActionBlock::NotAction(string_list(i, "NotAction", v)?));
            }
            "Resource" => {
                once(resource.is_some(), "Resource", "NotResource")?;
                resource = Some(ResourceBlock::Resource(resource_list(i, "Resource", v)?));
            }
            "NotResource" => {
                once(resource.is_some(), "NotResource", "Resource")?;
                resource = Some(ResourceBlock::NotResource(resource_list(
                    i,
                    "NotResource",
                    v,
                )?));
            }
            "Condition" => conditions = parse_conditions(i, v)?,
            other => return Err(PolicyError::stmt(i, other, "unknown statement element")),
        }
    }
    Ok(Statement {
        sid,
        effect: effect.ok_or_else(|| PolicyError::stmt(i, "Effect", "missing"))?,
        principal,
        action: action.ok_or_else(|| {
            PolicyError::stmt(
                i,
                "Action",
                "missing (one of Action or NotAction is required)",
            )
        })?,
        resource,
        conditions,
    })
}

/// A string or a non-empty array of strings.
fn string_list(i: usize, field: &str, v: &Value) -> Result<Vec<String>, PolicyError> {
    let list = match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| PolicyError::stmt(i, field, "array elements must be strings"))
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => {
            return Err(PolicyError::stmt(
                i,
                field,
                "must be a string or an array of strings",
            ));
        }
    };
    if list.is_empty() {
        return Err(PolicyError::stmt(i, field, "must not be empty"));
    }
    Ok(list)
}

/// `Resource`/`NotResource`: a string list whose ARNs carry no wildcard in the service part
/// (§1.2: "No wildcard is allowed in the service segment"). Modelling choice: such an entry is
/// rejected at parse time rather than silently matching nothing.
fn resource_list(i: usize, field: &str, v: &Value) -> Result<Vec<String>, PolicyError> {
    let list = string_list(i, field, v)?;
    for entry in &list {
        let mut parts = entry.split(':');
        if parts.next() == Some("arn")
            && parts
                .nth(1)
                .is_some_and(|service| service.contains(['*', '?']))
        {
            return Err(PolicyError::stmt(
                i,
                field,
                format!("'{entry}': wildcards are not allowed in the service part of an ARN"),
            ));
        }
    }
    Ok(list)
}

fn parse_principals(i: usize, field: &str, v: &Value) -> Result<Principals, PolicyError> {
    match v {
        Value::String(s) if s == "*" => Ok(Principals::Everyone),
        Value::Object(m) => {
            if m.is_empty() {
                return Err(PolicyError::stmt(i, field, "must not be empty"));
            }
            if let Some(dup) = duplicate_name(m) {
                return Err(PolicyError::stmt(
                    i,
                    field,
                    format!("duplicate principal type '{dup}'"),
                ));
            }
            let mut out = BTreeMap::new();
            for (k, v) in m {
                let kind = match k.as_str() {
                    "AWS" => PrincipalKind::Aws,
                    "Federated" => PrincipalKind::Federated,
                    "Service" => PrincipalKind::Service,
                    "CanonicalUser" => PrincipalKind::CanonicalUser,
                    other => {
                        return Err(PolicyError::stmt(
                            i,
                            field,
                            format!("unknown principal type '{other}'"),
                        ));
                    }
                };
                out.insert(kind, string_list(i, field, v)?);
            }
            Ok(Principals::Map(out))
        }
        _ => Err(PolicyError::stmt(i, field, "must be \"*\" or an object")),
    }
}

fn parse_conditions(i: usize, v: &Value) -> Result<Vec<Condition>, PolicyError> {
    let Value::Object(ops) = v else {
        return Err(PolicyError::stmt(i, "Condition", "must be an object"));
    };
    if let Some(dup) = duplicate_name(ops) {
        return Err(PolicyError::stmt(
            i,
            "Condition",
            format!("duplicate operator '{dup}' (merge its keys into one block)"),
        ));
    }
    let mut out = Vec::new();
    for (op_name, keys) in ops {
        let operator: ConditionOperator = op_name
            .parse()
            .map_err(|e: String| PolicyError::stmt(i, "Condition", e))?;
        let Value::Object(keys) = keys else {
            return Err(PolicyError::stmt(
                i,
                "Condition",
                format!("'{op_name}' must map condition keys to values"),
            ));
        };
        if keys.is_empty() {
            return Err(PolicyError::stmt(
                i,
                "Condition",
                format!("'{op_name}' has no condition keys"),
            ));
        }
        for (key, values) in keys {
            let scalar = |x: &Value| match x {
                Value::String(s) => Some(s.clone()),
                Value::Bool(b) => Some(b.to_string()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            };
            let values = match values {
                Value::Array(a) => a.iter().map(scalar).collect::<Option<Vec<_>>>(),
                other => scalar(other).map(|s| vec![s]),
            }
            .ok_or_else(|| {
                PolicyError::stmt(
                    i,
                    "Condition",
                    format!("'{op_name}'.'{key}': values must be strings, numbers or booleans"),
                )
            })?;
            if values.is_empty() {
                return Err(PolicyError::stmt(
                    i,
                    "Condition",
                    format!("'{op_name}'.'{key}' has no values"),
                ));
            }
            out.push(Condition {
                operator,
                key: key.clone(),
                key_lower: key.to_lowercase(),
                values,
            });
        }
    }
    Ok(out)
}
