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
//! * Operator names are matched case-sensitively, as AWS spells them; an unknown name is a parse
//!   error naming `Condition`.
//! * A key with several request values under a plain (unqualified) operator: positive operators
//!   match if any request value matches; negated operators match if none does.
//! * The absent-key rules are applied before policy values are looked at: an absent key makes a
//!   negated or `…IfExists` condition true even when its values hold an unresolvable variable.
//! * A condition whose every policy value contains an unresolvable variable, or does not parse as
//!   the operator's type (a Numeric value `"ten"`, a Date `"soon"`), is false whatever the
//!   operator (§1.5 says such a condition "matches nothing" so the statement does not apply).
//! * A request value that does not parse as the operator's type satisfies neither the operator
//!   nor its negation: `NumericNotEquals` on `"abc"` is false, like `NumericEquals`.
//! * A key present with only empty-string values is "null" (§1.3): `Null: true` holds and the
//!   set qualifiers see the empty set; plain operators compare the empty string as a value, and
//!   `…IfExists` tests it (the key exists).
//! * `Bool` takes no variables (the AWS pages contradict each other, §1.4): `${…}` in a `Bool`
//!   value is literal text, which is neither `true` nor `false`, so the condition is false.
//! * `Bool` values are case-insensitive; Numeric values are decimal numbers (no `NaN`, hex or
//!   infinities); Dates are ISO 8601 (RFC 3339, `YYYY-MM-DDThh:mm:ss` taken as UTC, or a bare
//!   date at midnight UTC) or integer epoch seconds.
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
    ///
    /// The order of the rules, each from `iam.md` §1.3–§1.5:
    /// 1. `Null` looks only at presence: `true` = the key is absent or null, `false` = present
    ///    and not null. A "null" value is an empty string (§1.3, last bullet); a key whose every
    ///    value is the empty string is null.
    /// 2. An absent key (no values at all): `…IfExists` is true; `ForAllValues:` true;
    ///    `ForAnyValue:` false; otherwise a negated operator is true and a positive one false.
    /// 3. Policy values are prepared: variables expanded (String and ARN families only, under
    ///    2012-10-17), wildcards compiled (Like and ARN operators), typed values parsed (Numeric,
    ///    Date, Bool, IP). A value with an unresolvable variable, or one that does not parse as
    ///    the operator's type, is dropped; if none is left the condition is false whatever the
    ///    operator (§1.5 "matches nothing, so the statement does not apply").
    /// 4. The set qualifiers see a null key as the empty set (vacuously true / false).
    /// 5. Values: positive operators OR over the policy values; negated operators are true only
    ///    when the request value differs from all of them (NOR).
    pub fn matches(&self, ctx: &RequestContext, variables: bool) -> bool {
        let op = self.operator;
        let request = ctx.key(&self.key_lower).filter(|v| !v.is_empty());
        let null = request.is_none_or(|v| v.iter().all(String::is_empty));
        if op.base == BaseOperator::Null {
            return self
                .values
                .iter()
                .any(|p| match p.to_ascii_lowercase().as_str() {
                    "true" => null,
                    "false" => !null,
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
        let policy: Vec<PolicyValue> = self
            .values
            .iter()
            .filter_map(|raw| PolicyValue::prepare(positive, raw, how))
            .collect();
        if policy.is_empty() {
            return false; // every value was unresolvable or unparsable
        }
        if null && op.qualifier.is_some() {
            // §1.3: an empty (null) multivalued key is the empty set.
            return op.qualifier == Some(SetQualifier::ForAllValues);
        }
        // Some(true): the request value satisfies the operator (negation applied); None: it does
        // not parse as the operator's type, so it satisfies neither the operator nor its negation.
        let satisfies = |v: &String| typed_match(positive, v, &policy).map(|hit| hit != negated);
        match op.qualifier {
            // A plain operator on a key with several request values (a modelling choice, see the
            // module doc): positive = any request value matches; negated = none does.
            None if negated => request.iter().all(|v| satisfies(v) == Some(true)),
            None | Some(SetQualifier::ForAnyValue) => {
                request.iter().any(|v| satisfies(v) == Some(true))
            }
            Some(SetQualifier::ForAllValues) => request.iter().all(|v| satisfies(v) == Some(true)),
        }
    }
}

/// A policy value ready for comparison, in the operator's type.
#[derive(Clone, Debug)]
enum PolicyValue {
    /// String, ARN and Binary operators: characters, wildcards where the operator takes them.
    Text(Vec<Tok>),
    Number(f64),
    /// Unix nanoseconds.
    Date(i128),
    Bool(bool),
    /// Network address and prefix length.
    Cidr(IpAddr, u32),
}

impl PolicyValue {
    /// `None` when the value holds an unresolvable variable or does not parse as the type.
    fn prepare(op: BaseOperator, raw: &str, how: Compile<'_>) -> Option<PolicyValue> {
        use BaseOperator::*;
        Some(match op {
            NumericEquals
            | NumericLessThan
            | NumericLessThanEquals
            | NumericGreaterThan
            | NumericGreaterThanEquals => PolicyValue::Number(parse_number(raw)?),
            DateEquals
            | DateLessThan
            | DateLessThanEquals
            | DateGreaterThan
            | DateGreaterThanEquals => PolicyValue::Date(parse_date(raw)?),
            Bool => PolicyValue::Bool(parse_bool(raw)?),
            IpAddress => {
                let (net, len) = parse_cidr(raw)?;
                PolicyValue::Cidr(net, len)
            }
            _ => PolicyValue::Text(pattern::compile(raw, how)?),
        })
    }
}

/// Does request value `v` satisfy the positive operator `op` against any policy value?
/// `None` when `v` does not parse as the operator's type.
fn typed_match(op: BaseOperator, v: &str, policy: &[PolicyValue]) -> Option<bool> {
    use BaseOperator::*;
    let any = |f: &dyn Fn(&PolicyValue) -> bool| Some(policy.iter().any(f));
    match op {
        StringEquals | BinaryEquals => {
            any(&|p| matches!(p, PolicyValue::Text(t) if literal_eq(t, v)))
        }
        StringEqualsIgnoreCase => {
            let v = v.to_lowercase();
            any(&|p| matches!(p, PolicyValue::Text(t) if text_of(t).to_lowercase() == v))
        }
        StringLike => {
            any(&|p| matches!(p, PolicyValue::Text(t) if pattern::glob_match(t, v, false)))
        }
        ArnEquals | ArnLike => {
            any(&|p| matches!(p, PolicyValue::Text(t) if pattern::arn_match(t, v)))
        }
        NumericEquals
        | NumericLessThan
        | NumericLessThanEquals
        | NumericGreaterThan
        | NumericGreaterThanEquals => {
            let a = parse_number(v)?;
            any(&|p| matches!(p, PolicyValue::Number(b) if compare(op, a.partial_cmp(b))))
        }
        DateEquals
        | DateLessThan
        | DateLessThanEquals
        | DateGreaterThan
        | DateGreaterThanEquals => {
            let a = parse_date(v)?;
            any(&|p| matches!(p, PolicyValue::Date(b) if compare(op, Some(a.cmp(b)))))
        }
        Bool => {
            let a = parse_bool(v)?;
            any(&|p| matches!(p, PolicyValue::Bool(b) if a == *b))
        }
        IpAddress => {
            let a = v.trim().parse::<IpAddr>().ok()?;
            any(&|p| matches!(p, PolicyValue::Cidr(n, len) if ip_in_net(a, *n, *len)))
        }
        // Negated operators are turned into their positive form by the caller, and `Null` is
        // answered before any value is looked at; neither reaches here.
        _ => None,
    }
}

/// The characters of a pattern compiled without wildcards.
fn text_of(p: &[Tok]) -> String {
    p.iter()
        .map(|t| if let Tok::Lit(c) = t { *c } else { '*' })
        .collect()
}

fn literal_eq(p: &[Tok], v: &str) -> bool {
    let mut chars = v.chars();
    p.iter()
        .all(|t| matches!(t, Tok::Lit(c) if chars.next() == Some(*c)))
        && chars.next().is_none()
}

/// Numeric operators take integers or decimals (§1.4). Modelling choice: surrounding whitespace
/// is ignored; `NaN`, infinities and hexadecimal are not numbers.
fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
    s.parse::<f64>().ok().filter(|n| plain && n.is_finite())
}

/// `Bool` values are `true` or `false`. Modelling choice: case-insensitive, as JSON booleans and
/// the strings `"true"`/`"True"` all occur in published policies.
fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
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

/// `IpAddress` policy values: an address or `address/prefix`.
fn parse_cidr(cidr: &str) -> Option<(IpAddr, u32)> {
    let cidr = cidr.trim();
    let (net, len) = match cidr.split_once('/') {
        Some((n, l)) => (n.parse::<IpAddr>().ok()?, l.parse::<u32>().ok()?),
        None => {
            let n = cidr.parse::<IpAddr>().ok()?;
            (n, if n.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if net.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((net, len))
}

/// Whether `addr` lies in `net/len` (same family only).
fn ip_in_net(addr: IpAddr, net: IpAddr, len: u32) -> bool {
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}
