//! The Go standard-library rules the webhook inherits when it reads annotations and builds paths.
//!
//! Upstream parses annotation values with `strconv.ParseBool`, `strconv.ParseInt(s, 10, 64)` and
//! `encoding/csv`, and joins the token file path with `path/filepath.Join`. Each has edge cases
//! (which spellings of "true" count, whether spaces are trimmed, what a stray quote does, how
//! `//` collapses) that decide whether a container is mutated, so they are reproduced here rather
//! than approximated with Rust's own parsers.

/// Go `strconv.ParseBool`: exactly `1 t T TRUE true True` and `0 f F FALSE false False`.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go `strconv.ParseInt(s, 10, 64)`: optional `+`/`-`, then ASCII digits, no spaces or `_`,
/// out-of-range is an error. Rust's `i64::from_str` accepts the same language.
pub(crate) fn parse_int(s: &str) -> Option<i64> {
    s.parse::<i64>().ok()
}

/// Why Go's `csv.Reader.Read` rejected a value (`csv.ErrBareQuote`, `csv.ErrQuote`, `io.EOF`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CsvError {
    /// No record at all (empty value or only blank lines): Go returns `io.EOF`.
    Eof,
    /// A `"` inside an unquoted field.
    BareQuote,
    /// A quoted field not closed, or followed by something other than `,` or end of line.
    Quote,
}

/// The first record of `value`, read the way upstream's `getContainersToSkip` reads it:
/// `csv.NewReader(strings.NewReader(value)).Read()` with the defaults (comma `,`, no comment
/// character, `LazyQuotes` and `TrimLeadingSpace` off). Spaces are kept, blank leading lines are
/// skipped, a quoted field may contain commas, `""` and newlines, and only the first record counts.
pub(crate) fn csv_first_record(value: &str) -> Result<Vec<String>, CsvError> {
    let mut lines = CsvLines::new(value);
    // Go skips empty lines before a record.
    let mut line = loop {
        match lines.next_line() {
            None => return Err(CsvError::Eof),
            Some(l) if l == "\n" || l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    let mut fields = Vec::new();
    'fields: loop {
        if !line.starts_with('"') {
            // Unquoted field: up to the next comma or the end of the line.
            let end = line.find(',');
            let field = match end {
                Some(i) => &line[..i],
                None => line.strip_suffix('\n').unwrap_or(&line),
            };
            if field.contains('"') {
                return Err(CsvError::BareQuote);
            }
            fields.push(field.to_owned());
            match end {
                Some(i) => {
                    line = line[i + 1..].to_owned();
                    continue 'fields;
                }
                None => break 'fields,
            }
        }
        // Quoted field.
        let mut field = String::new();
        let mut rest = line[1..].to_owned();
        loop {
            if let Some(i) = rest.find('"') {
                field.push_str(&rest[..i]);
                let after = &rest[i + 1..];
                if let Some(tail) = after.strip_prefix('"') {
                    field.push('"');
                    rest = tail.to_owned();
                } else if let Some(tail) = after.strip_prefix(',') {
                    fields.push(field);
                    line = tail.to_owned();
                    continue 'fields;
                } else if after.is_empty() || after == "\n" {
                    fields.push(field);
                    break 'fields;
                } else {
                    return Err(CsvError::Quote);
                }
            } else if !rest.is_empty() {
                // The quoted field goes on past the end of this line.
                field.push_str(&rest);
                match lines.next_line() {
                    Some(next) => rest = next,
                    None => return Err(CsvError::Quote),
                }
            } else {
                return Err(CsvError::Quote);
            }
        }
    }
    Ok(fields)
}

/// Go `csv.Reader.readLine`: lines keep their `\n`, `\r\n` becomes `\n`, and a final line without
/// a newline stays without one (after dropping a lone trailing `\r`).
struct CsvLines<'a> {
    rest: &'a str,
}

impl<'a> CsvLines<'a> {
    fn new(s: &'a str) -> Self {
        CsvLines { rest: s }
    }

    fn next_line(&mut self) -> Option<String> {
        if self.rest.is_empty() {
            return None;
        }
        let (line, rest) = match self.rest.find('\n') {
            Some(i) => (&self.rest[..=i], &self.rest[i + 1..]),
            None => (self.rest, ""),
        };
        self.rest = rest;
        let mut line = line.to_owned();
        if let Some(stripped) = line.strip_suffix("\r\n") {
            line = format!("{stripped}\n");
        } else if !line.ends_with('\n') && line.ends_with('\r') {
            line.pop();
        }
        Some(line)
    }
}

/// Go `path/filepath.Join` on a Unix host: the non-empty elements joined by `/`, then
/// [`clean_path`]; all elements empty gives `""`.
pub(crate) fn filepath_join(elems: &[&str]) -> String {
    let parts: Vec<&str> = elems.iter().copied().filter(|e| !e.is_empty()).collect();
    if parts.is_empty() {
        return String::new();
    }
    clean_path(&parts.join("/"))
}

/// Go `path.Clean`: collapse `//`, drop `.` elements, resolve `..` lexically, no trailing `/`
/// (except for the root); empty becomes `.`.
pub(crate) fn clean_path(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for elem in path.split('/') {
        match elem {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|last| *last != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            e => out.push(e),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// The upstream role ARN check (`pkg/cache/cache.go`, `addSA`):
/// `^arn:aws[a-z0-9-]*:iam::\d{12}:role\/[\w-\/.@+=,]+$`. In Go's Perl-flavoured syntax the class
/// `[\w-\/.@+=,]` is ASCII word characters plus `- / . @ + = ,`. A mismatch only logs a warning.
pub(crate) fn is_valid_role_arn(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("arn:aws") else { return false };
    let Some((partition_tail, rest)) = rest.split_once(':') else { return false };
    if !partition_tail.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return false;
    }
    let Some(rest) = rest.strip_prefix("iam::") else { return false };
    let (account, rest) = rest.split_at_checked(12).unwrap_or(("", ""));
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Some(name) = rest.strip_prefix(":role/") else { return false };
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-/.@+=,".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_bool_accepts_exactly_go_spellings() {
        for s in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_bool(s), Some(true), "{s}");
        }
        for s in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_bool(s), Some(false), "{s}");
        }
        for s in ["", "yes", "tRUE", " true", "on", "2"] {
            assert_eq!(parse_bool(s), None, "{s}");
        }
    }

    #[test]
    fn parse_int_follows_go_parse_int() {
        assert_eq!(parse_int("3600"), Some(3600));
        assert_eq!(parse_int("+3600"), Some(3600));
        assert_eq!(parse_int("-1"), Some(-1));
        assert_eq!(parse_int("0"), Some(0));
        for s in ["", "1h", " 3600", "3_600", "1e3", "99999999999999999999"] {
            assert_eq!(parse_int(s), None, "{s:?}");
        }
    }

    fn rec(v: &str) -> Result<Vec<String>, CsvError> {
        csv_first_record(v)
    }

    fn ok(fields: &[&str]) -> Result<Vec<String>, CsvError> {
        Ok(fields.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn csv_reads_one_record_like_go() {
        assert_eq!(rec("sidecar"), ok(&["sidecar"]));
        assert_eq!(rec("init-first,sidecar"), ok(&["init-first", "sidecar"]));
        // Spaces are not trimmed (TrimLeadingSpace is off).
        assert_eq!(rec("a, b"), ok(&["a", " b"]));
        assert_eq!(rec("a,"), ok(&["a", ""]));
        assert_eq!(rec(r#""a,b",c"#), ok(&["a,b", "c"]));
        assert_eq!(rec(r#""say ""hi""",x"#), ok(&["say \"hi\"", "x"]));
        // Only the first record counts; blank lines before it are skipped.
        assert_eq!(rec("a\nb"), ok(&["a"]));
        assert_eq!(rec("\n\na,b\nc"), ok(&["a", "b"]));
        assert_eq!(rec("a\r\n"), ok(&["a"]));
        // A quoted field may span lines.
        assert_eq!(rec("\"a\nb\",c"), ok(&["a\nb", "c"]));
    }

    #[test]
    fn csv_errors_like_go() {
        assert_eq!(rec(""), Err(CsvError::Eof));
        assert_eq!(rec("\n"), Err(CsvError::Eof));
        assert_eq!(rec("\r"), Err(CsvError::Eof));
        assert_eq!(rec(r#"a"b"#), Err(CsvError::BareQuote));
        assert_eq!(rec(r#""a"b"#), Err(CsvError::Quote));
        assert_eq!(rec(r#""abc"#), Err(CsvError::Quote));
    }

    #[test]
    fn filepath_join_cleans_like_go() {
        assert_eq!(
            filepath_join(&["/var/run/secrets/eks.amazonaws.com/serviceaccount", "token"]),
            "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"
        );
        assert_eq!(filepath_join(&["/con-creds-mount-path", "con-creds-token-path"]), "/con-creds-mount-path/con-creds-token-path");
        assert_eq!(filepath_join(&["/a/", "token"]), "/a/token");
        assert_eq!(filepath_join(&["/a//b/./c/..", "t"]), "/a/b/t");
        assert_eq!(filepath_join(&["", "token"]), "token");
        assert_eq!(filepath_join(&["", ""]), "");
        assert_eq!(filepath_join(&["/", ""]), "/");
        assert_eq!(filepath_join(&["../x", "../../y"]), "../../y");
        assert_eq!(filepath_join(&["/..", "y"]), "/y");
        assert_eq!(clean_path(""), ".");
        assert_eq!(clean_path("a/.."), ".");
    }

    #[test]
    fn role_arn_check_matches_upstream_regex() {
        assert!(is_valid_role_arn("arn:aws:iam::111122223333:role/s3-reader"));
        assert!(is_valid_role_arn("arn:aws-cn:iam::111122223333:role/s3-reader"));
        assert!(is_valid_role_arn("arn:aws-us-gov:iam::111122223333:role/path/to/r_o.l@e+=,"));
        assert!(!is_valid_role_arn("already-defined"));
        assert!(!is_valid_role_arn("arn:aws:iam::11112222333:role/x"));
        assert!(!is_valid_role_arn("arn:aws:iam::111122223333:role/"));
        assert!(!is_valid_role_arn("arn:aws:iam::111122223333:user/x"));
        assert!(!is_valid_role_arn("arn:aws:iam::111122223333:role/a b"));
        assert!(!is_valid_role_arn("arn:AWS:iam::111122223333:role/x"));
    }
}
