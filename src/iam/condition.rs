//! The `Condition` block: operators, their modifiers, and how one condition is evaluated.
//!
//! Facts (`iam.md`):
//! * §1.3 combining: operators in a block and keys under an operator are ANDed; values of one key
//!   are ORed for positive operators and NORed for negated ones (the request value must differ
//!   from all of them).
//! * §1.3 missing keys: a positive operator is false, a negated operator is true; `…IfExists` is
//!   true; `Null: true` means absent; `ForAllValues:` is true on an absent or empty key,
//!   `ForAnyValue:` false.
//! * §1.4 the operator families and which of them take policy variables (String and ARN families).
//! * §1.6 key names are case-insensitive (the [`RequestContext`] stores them lowercased), values
//!   are compared as the operator says.
//!
//! Modelling choices where AWS is silent (documented, not guessed silently):
//! * Operator names are matched case-sensitively, as AWS spells them.
//! * A key with several request values under a plain (unqualified) operator: positive operators
//!   match if any request value matches; negated operators match if none does.
//! * A condition whose every policy value contains an unresolvable variable is false, whatever
//!   the operator (§1.5 says such a condition "matches nothing" so the statement does not apply).
//! * Numeric and date values that do not parse never satisfy a positive comparison (so the
//!   negated `…NotEquals` is true).
//! * `Bool` takes no variables (the AWS pages contradict each other, §1.4).
//! * `BinaryEquals` compares the base64 text as given.

use std::net::IpAddr;
use std::str::FromStr;

use super::RequestContext;
use super::pattern::{self, Compile, Tok};

/// `ForAnyValue:` / `ForAllValues:` prefix for multivalued keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SetQualifier {
    ForAnyValue,
    ForAllValues,
}

/// The operator without its prefix and `IfExists` suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum BaseOperator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

const BASE_OPERATORS: [(&str, BaseOperator); 27] = [
    ("StringEquals", BaseOperator::StringEquals),
    ("StringNotEquals", BaseOperator::StringNotEquals),
    (
        "StringEqualsIgnoreCase",
        BaseOperator::StringEqualsIgnoreCase,
    ),
    (
        "StringNotEqualsIgnoreCase",
        BaseOperator::StringNotEqualsIgnoreCase,
    ),
    ("StringLike", BaseOperator::StringLike),
    ("StringNotLike", BaseOperator::StringNotLike),
    ("NumericEquals", BaseOperator::NumericEquals),
    ("NumericNotEquals", BaseOperator::NumericNotEquals),
    ("NumericLessThan", BaseOperator::NumericLessThan),
    ("NumericLessThanEquals", BaseOperator::NumericLessThanEquals),
    ("NumericGreaterThan", BaseOperator::NumericGreaterThan),
    (
        "NumericGreaterThanEquals",
        BaseOperator::NumericGreaterThanEquals,
    ),
    ("DateEquals", BaseOperator::DateEquals),
    ("DateNotEquals", BaseOperator::DateNotEquals),
    ("DateLessThan", BaseOperator::DateLessThan),
    ("DateLessThanEquals", BaseOperator::DateLessThanEquals),
    ("DateGreaterThan", BaseOperator::DateGreaterThan),
    ("DateGreaterThanEquals", BaseOperator::DateGreaterThanEquals),
    ("Bool", BaseOperator::Bool),
    ("BinaryEquals", BaseOperator::BinaryEquals),
    ("IpAddress", BaseOperator::IpAddress),
    ("NotIpAddress", BaseOperator::NotIpAddress),
    ("ArnEquals", BaseOperator::ArnEquals),
    ("ArnLike", BaseOperator::ArnLike),
    ("ArnNotEquals", BaseOperator::ArnNotEquals),
    ("ArnNotLike", BaseOperator::ArnNotLike),
    ("Null", BaseOperator::Null),
];

impl BaseOperator {
    /// The operator's name as written in policies.
    pub fn name(self) -> &'static str {
        BASE_OPERATORS
            .iter()
            .find(|(_, op)| *op == self)
            .map(|(n, _)| *n)
            .expect("every operator is listed")
    }

    /// For a negated operator, the positive operator it negates.
    fn positive(self) -> Option<BaseOperator> {
        use BaseOperator::*;
        Some(match self {
            StringNotEquals => StringEquals,
            StringNotEqualsIgnoreCase => StringEqualsIgnoreCase,
            StringNotLike => StringLike,
            NumericNotEquals => NumericEquals,
            DateNotEquals => DateEquals,
            NotIpAddress => IpAddress,
            ArnNotEquals => ArnEquals,
            ArnNotLike => ArnLike,
            _ => return None,
        })
    }

    /// Whether policy variables are expanded in this operator's values (§1.4, §1.5).
    fn takes_variables(self) -> bool {
        use BaseOperator::*;
        matches!(
            self,
            StringEquals
                | StringEqualsIgnoreCase
                | StringLike
                | StringNotEquals
                | StringNotEqualsIgnoreCase
                | StringNotLike
                | ArnEquals
                | ArnLike
                | ArnNotEquals
                | ArnNotLike
        )
    }

    /// Whether `*` and `?` are wildcards in this operator's values.
    fn takes_wildcards(self) -> bool {
        use BaseOperator::*;
        matches!(
            self,
            StringLike | StringNotLike | ArnEquals | ArnLike | ArnNotEquals | ArnNotLike
        )
    }
}

/// A full operator: `[ForAnyValue:|ForAllValues:]<Base>[IfExists]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConditionOperator {
    pub qualifier: Option<SetQualifier>,
    pub base: BaseOperator,
    pub if_exists: bool,
}

impl FromStr for ConditionOperator {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (qualifier, rest) = if let Some(r) = s.strip_prefix("ForAnyValue:") {
            (Some(SetQualifier::ForAnyValue), r)
        } else if let Some(r) = s.strip_prefix("ForAllValues:") {
            (Some(SetQualifier::ForAllValues), r)
        } else {
            (None, s)
        };
        let lookup = |name: &str| {
            BASE_OPERATORS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, op)| *op)
        };
        let (base, if_exists) = match lookup(rest) {
            Some(op) => (op, false),
            None => match rest.strip_suffix("IfExists").and_then(lookup) {
                Some(op) => (op, true),
                None => return Err(format!("unknown condition operator '{s}'")),
            },
        };
        if base == BaseOperator::Null && if_exists {
            return Err("NullIfExists is not a valid operator".to_owned());
        }
        if base == BaseOperator::Null && qualifier.is_some() {
            return Err(format!("'{s}': Null takes no set qualifier"));
        }
        Ok(ConditionOperator {
            qualifier,
            base,
            if_exists,
        })
    }
}

impl std::fmt::Display for ConditionOperator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.qualifier {
            Some(SetQualifier::ForAnyValue) => f.write_str("ForAnyValue:")?,
            Some(SetQualifier::ForAllValues) => f.write_str("ForAllValues:")?,
            None => {}
        }
        f.write_str(self.base.name())?;
        if self.if_exists {
            f.write_str("IfExists")?;
        }
        Ok(())
    }
}

/// One `<operator>: { <key>: <values> }` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub operator: ConditionOperator,
    /// The key as written in the policy (for messages).
    pub key: String,
    /// The key lowercased: condition key names are case-insensitive (§1.6).
    pub key_lower: String,
    /// Policy values, JSON numbers and booleans turned into their text.
    pub values: Vec<String>,
}

impl Condition {
    /// Whether this condition holds for `ctx`. `variables` is true under Version 2012-10-17.
    pub fn matches(&self, ctx: &RequestContext, variables: bool) -> bool {
        let op = self.operator;
        let request = ctx.key(&self.key_lower).filter(|v| !v.is_empty());
        if op.base == BaseOperator::Null {
            let present = request.is_some();
            return self
                .values
                .iter()
                .any(|p| match p.to_ascii_lowercase().as_str() {
                    "true" => !present,
                    "false" => present,
                    _ => false,
                });
        }
        let (positive, negated) = match op.base.positive() {
            Some(pos) => (pos, true),
            None => (op.base, false),
        };
        let Some(request) = request else {
            if op.if_exists {
                return true;
            }
            return match op.qualifier {
                Some(SetQualifier::ForAllValues) => true,
                Some(SetQualifier::ForAnyValue) => false,
                None => negated,
            };
        };
        let how = Compile {
            wildcards: positive.takes_wildcards(),
            variables: (variables && positive.takes_variables()).then_some(ctx),
        };
        let compiled: Vec<Vec<Tok>> = self
            .values
            .iter()
            .filter_map(|raw| pattern::compile(raw, how))
            .collect();
        if compiled.is_empty() {
            return false; // every value had an unresolvable variable
        }
        let any_policy_value = |v: &str| compiled.iter().any(|p| positive_match(positive, v, p));
        let per_value = |v: &String| any_policy_value(v) != negated;
        match op.qualifier {
            None if negated => !request.iter().any(|v| any_policy_value(v)),
            None => request.iter().any(|v| any_policy_value(v)),
            Some(SetQualifier::ForAnyValue) => request.iter().any(per_value),
            Some(SetQualifier::ForAllValues) => request.iter().all(per_value),
        }
    }
}

/// Does request value `v` satisfy the positive operator `op` against policy value `p`?
fn positive_match(op: BaseOperator, v: &str, p: &[Tok]) -> bool {
    use BaseOperator::*;
    let text = || {
        p.iter()
            .map(|t| if let Tok::Lit(c) = t { *c } else { '*' })
            .collect::<String>()
    };
    match op {
        StringEquals => literal_eq(p, v),
        StringEqualsIgnoreCase => text().to_lowercase() == v.to_lowercase(),
        StringLike => pattern::glob_match(p, v, false),
        ArnEquals | ArnLike => pattern::arn_match(p, v),
        NumericEquals
        | NumericLessThan
        | NumericLessThanEquals
        | NumericGreaterThan
        | NumericGreaterThanEquals => match (v.trim().parse::<f64>(), text().trim().parse::<f64>())
        {
            (Ok(a), Ok(b)) => compare(op, a.partial_cmp(&b)),
            _ => false,
        },
        DateEquals
        | DateLessThan
        | DateLessThanEquals
        | DateGreaterThan
        | DateGreaterThanEquals => match (parse_date(v), parse_date(&text())) {
            (Some(a), Some(b)) => compare(op, Some(a.cmp(&b))),
            _ => false,
        },
        Bool => {
            let t = text();
            (t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("false"))
                && t.eq_ignore_ascii_case(v)
        }
        BinaryEquals => literal_eq(p, v),
        IpAddress => ip_in_cidr(v, &text()),
        _ => unreachable!("negated operators and Null are handled by the caller"),
    }
}

fn literal_eq(p: &[Tok], v: &str) -> bool {
    let mut chars = v.chars();
    p.iter()
        .all(|t| matches!(t, Tok::Lit(c) if chars.next() == Some(*c)))
        && chars.next().is_none()
}

fn compare(op: BaseOperator, ord: Option<std::cmp::Ordering>) -> bool {
    use BaseOperator::*;
    use std::cmp::Ordering::*;
    match (op, ord) {
        (_, None) => false,
        (NumericEquals | DateEquals, Some(o)) => o == Equal,
        (NumericLessThan | DateLessThan, Some(o)) => o == Less,
        (NumericLessThanEquals | DateLessThanEquals, Some(o)) => o != Greater,
        (NumericGreaterThan | DateGreaterThan, Some(o)) => o == Greater,
        (NumericGreaterThanEquals | DateGreaterThanEquals, Some(o)) => o != Less,
        _ => false,
    }
}

/// Dates as AWS accepts them in policies: ISO 8601 (`2026-12-04T14:00:00Z`, with or without
/// offset, or a bare date) or epoch seconds. Returns Unix nanoseconds.
fn parse_date(s: &str) -> Option<i128> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    let s = s.trim();
    if let Ok(secs) = s.parse::<i64>() {
        return Some(i128::from(secs) * 1_000_000_000);
    }
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t.unix_timestamp_nanos());
    }
    if let Ok(t) = time::PrimitiveDateTime::parse(
        s,
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
    ) {
        return Some(t.assume_utc().unix_timestamp_nanos());
    }
    if let Ok(d) = time::Date::parse(s, format_description!("[year]-[month]-[day]")) {
        return Some(d.midnight().assume_utc().unix_timestamp_nanos());
    }
    None
}

/// `IpAddress`: `v` is an address, `cidr` an address or `address/prefix` of the same family.
fn ip_in_cidr(v: &str, cidr: &str) -> bool {
    let Ok(addr) = v.trim().parse::<IpAddr>() else {
        return false;
    };
    let (net, len) = match cidr.trim().split_once('/') {
        Some((n, l)) => match (n.parse::<IpAddr>(), l.parse::<u32>()) {
            (Ok(n), Ok(l)) => (n, l),
            _ => return false,
        },
        None => match cidr.trim().parse::<IpAddr>() {
            Ok(n) => (n, if n.is_ipv4() { 32 } else { 128 }),
            Err(_) => return false,
        },
    };
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if len <= 32 => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if len <= 128 => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}
