//! Wildcards (`*`, `?`), policy variables (`${key}`) and ARN-segment matching.
//!
//! Facts (`iam.md`): `*` matches any run of characters and `?` exactly one (§1.4, String and ARN
//! rows); in `Action` they match case-insensitively (§1.2); in ARNs (`Resource`, `ArnLike`) each of
//! the six colon-separated parts is matched on its own, so a wildcard never spans a colon that
//! separates two parts (§1.4, ARN row); `${key}` is a policy variable only under
//! `"Version": "2012-10-17"`, resolves only from single-valued keys, may carry a default
//! `${key, 'default'}`, and `${*}`, `${?}`, `${$}` are the literal characters (§1.5). A variable
//! that cannot be resolved makes the pattern match nothing (§1.5).
//!
//! Modelling choice: text substituted from a variable is literal; a `*` inside a tag value does
//! not become a wildcard (AWS does not document this case).

use super::RequestContext;

/// One element of a compiled pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    Lit(char),
    /// `*`: any run of characters, possibly empty.
    Star,
    /// `?`: exactly one character.
    Quest,
}

/// How a raw policy string is turned into tokens.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Compile<'a> {
    /// Whether `*` and `?` are wildcards (Like operators, Action, Resource) or literal (Equals).
    pub wildcards: bool,
    /// Where `${key}` variables resolve from; `None` leaves `${…}` as literal text (Version
    /// 2008-10-17, or an operator that takes no variables).
    pub variables: Option<&'a RequestContext>,
}

/// Compiles `raw` into tokens. `None` means a variable could not be resolved, so the pattern
/// matches nothing.
pub(crate) fn compile(raw: &str, how: Compile<'_>) -> Option<Vec<Tok>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while !rest.is_empty() {
        if let (Some(ctx), true, Some(end)) =
            (how.variables, rest.starts_with("${"), rest.find('}'))
        {
            let inner = &rest[2..end];
            out.extend(resolve_variable(inner, ctx)?.chars().map(Tok::Lit));
            rest = &rest[end + 1..];
            continue;
        }
        let c = rest.chars().next().expect("rest is not empty");
        out.push(match c {
            '*' if how.wildcards => Tok::Star,
            '?' if how.wildcards => Tok::Quest,
            _ => Tok::Lit(c),
        });
        rest = &rest[c.len_utf8()..];
    }
    Some(out)
}

/// The text of `${inner}`, or `None` when unresolvable.
fn resolve_variable(inner: &str, ctx: &RequestContext) -> Option<String> {
    match inner {
        "*" => return Some("*".to_owned()),
        "?" => return Some("?".to_owned()),
        "$" => return Some("$".to_owned()),
        _ => {}
    }
    let (key, default) = match inner.split_once(',') {
        Some((k, d)) => {
            let d = d.trim();
            let d = d
                .strip_prefix('\'')
                .and_then(|d| d.strip_suffix('\''))
                .unwrap_or(d);
            (k.trim(), Some(d))
        }
        None => (inner.trim(), None),
    };
    // Only single-valued keys may be used as variables (§1.5): a key declared multivalued (see
    // `RequestContext::set_multivalued_key`) never resolves, even when it holds one value.
    match ctx.single_value(key) {
        Some(single) => Some(single.to_owned()),
        None => default.map(str::to_owned),
    }
}

/// Compiles a `Resource`/`NotResource` entry. Policy variables are allowed only in the resource
/// part, after the fifth colon (§1.2); in the first five parts `${…}` is left as literal text
/// (a modelling choice: AWS documents the restriction, not what happens when it is broken), so
/// such an entry matches no real ARN. `variables` is `None` under Version 2008-10-17.
pub(crate) fn compile_resource(raw: &str, variables: Option<&RequestContext>) -> Option<Vec<Tok>> {
    let split = raw
        .char_indices()
        .filter(|(_, c)| *c == ':')
        .nth(4)
        .map_or(raw.len(), |(i, _)| i + 1);
    let (head, tail) = raw.split_at(split);
    let mut toks = compile(
        head,
        Compile {
            wildcards: true,
            variables: None,
        },
    )?;
    toks.extend(compile(
        tail,
        Compile {
            wildcards: true,
            variables,
        },
    )?);
    Some(toks)
}

/// Matches `text` against `pat` with `*`/`?` semantics. Iterative, with single-star backtracking:
/// O(len(pat) * len(text)) worst case, no recursion.
pub(crate) fn glob_match(pat: &[Tok], text: &str, ignore_case: bool) -> bool {
    let fold = |c: char| {
        if ignore_case {
            c.to_lowercase().next().unwrap_or(c)
        } else {
            c
        }
    };
    let text: Vec<char> = text.chars().map(fold).collect();
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pat.get(p) {
            Some(Tok::Star) => {
                star = Some((p, t));
                p += 1;
            }
            Some(Tok::Quest) => {
                p += 1;
                t += 1;
            }
            Some(Tok::Lit(c)) if fold(*c) == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pat[p..].iter().all(|tok| *tok == Tok::Star)
}

/// ARN matching (`ArnLike`/`ArnEquals`, `Resource`): the pattern and the ARN are each split into
/// six parts at the first five colons and matched part by part, so no wildcard spans a separator.
/// A pattern that is exactly `*` matches anything, including non-ARN strings.
pub(crate) fn arn_match(pat: &[Tok], arn: &str) -> bool {
    if pat == [Tok::Star] {
        return true;
    }
    let mut pat_parts: Vec<&[Tok]> = Vec::with_capacity(6);
    let mut start = 0;
    for (i, tok) in pat.iter().enumerate() {
        if pat_parts.len() == 5 {
            break;
        }
        if *tok == Tok::Lit(':') {
            pat_parts.push(&pat[start..i]);
            start = i + 1;
        }
    }
    pat_parts.push(&pat[start..]);
    let arn_parts: Vec<&str> = arn.splitn(6, ':').collect();
    pat_parts.len() == 6
        && arn_parts.len() == 6
        && pat_parts
            .iter()
            .zip(&arn_parts)
            .all(|(p, a)| glob_match(p, a, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(s: &str) -> Vec<Tok> {
        compile(
            s,
            Compile {
                wildcards: true,
                variables: None,
            },
        )
        .unwrap()
    }

    #[test]
    fn glob_basics() {
        let cases = [
            ("*", "", true),
            ("*", "anything", true),
            ("a*c", "abbbc", true),
            ("a*c", "ab", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*:*", "a:b", true),
            (
                "system:serviceaccount:ns:*",
                "system:serviceaccount:ns:sa",
                true,
            ),
            (
                "system:serviceaccount:ns:*",
                "system:serviceaccount:other:sa",
                false,
            ),
            ("**a", "bba", true),
            ("a*b*c", "aXbYbZc", true),
        ];
        for (p, t, want) in cases {
            assert_eq!(glob_match(&pat(p), t, false), want, "{p} vs {t}");
        }
        assert!(glob_match(
            &pat("sts:assume*"),
            "sts:AssumeRoleWithWebIdentity",
            true
        ));
    }

    #[test]
    fn arn_wildcards_do_not_span_part_separators() {
        // iam.md §1.4: StringLike matches because `*` swallows colons; ArnLike does not.
        let p = pat("arn:aws:iam::*");
        assert!(glob_match(&p, "arn:aws:iam::123456789012:role/x", false));
        assert!(!arn_match(&p, "arn:aws:iam::123456789012:role/x"));
        assert!(arn_match(
            &pat("arn:aws:iam::*:role/*"),
            "arn:aws:iam::123456789012:role/x"
        ));
        // The resource part may itself contain colons.
        assert!(arn_match(
            &pat("arn:aws:logs:*:*:log-group:*"),
            "arn:aws:logs:us-east-1:1:log-group:g:*"
        ));
        assert!(arn_match(&pat("*"), "not-an-arn"));
        assert!(!arn_match(&pat("arn:aws:s3:::b/*"), "not-an-arn"));
    }
}
