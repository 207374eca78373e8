//! The variables of an RFC 6570 URI template, read at compile time so that each can be checked
//! against the function's parameters. (The macro crate depends on no runtime crate; the runtime
//! parses the template again, fully, at registration.)

/// A variable of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Variable {
    pub(crate) name: String,
    /// In a query or fragment-like expression (`{?x}`, `{&x}`), where it may be absent.
    pub(crate) optional: bool,
}

/// The variables of `template` in order, each once; or why it is not a template.
pub(crate) fn variables(template: &str) -> Result<Vec<Variable>, String> {
    let mut out: Vec<Variable> = Vec::new();
    let mut rest = template;
    let mut offset = 0;
    while let Some(open) = rest.find(['{', '}']) {
        if rest.as_bytes()[open] == b'}' {
            return Err(format!("unmatched `}}` at byte {}", offset + open));
        }
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("unclosed `{{` at byte {}", offset + open))?;
        let expression = &after[..close];
        if expression.contains('{') {
            return Err(format!("unclosed `{{` at byte {}", offset + open));
        }
        let (operator, list) = match expression.chars().next() {
            Some(c @ ('+' | '#' | '.' | '/' | ';' | '?' | '&')) => (Some(c), &expression[1..]),
            Some(c @ ('=' | ',' | '!' | '@' | '|')) => {
                return Err(format!(
                    "the operator `{c}` is reserved by RFC 6570 (at byte {})",
                    offset + open + 1
                ));
            }
            Some(_) => (None, expression),
            None => return Err(format!("empty expression `{{}}` at byte {}", offset + open)),
        };
        for spec in list.split(',') {
            let name = spec
                .strip_suffix('*')
                .unwrap_or_else(|| spec.split_once(':').map_or(spec, |(name, _)| name));
            if let Some((_, prefix)) = spec.split_once(':') {
                let valid = !prefix.is_empty()
                    && prefix.len() <= 4
                    && !prefix.starts_with('0')
                    && prefix.bytes().all(|b| b.is_ascii_digit());
                if !valid {
                    return Err(format!(
                        "invalid prefix `:{prefix}` in `{{{expression}}}`; expected 1 to 9999"
                    ));
                }
            }
            if !valid_name(name) {
                return Err(format!(
                    "invalid variable name `{name}` in `{{{expression}}}`"
                ));
            }
            if !out.iter().any(|v| v.name == name) {
                out.push(Variable {
                    name: name.to_owned(),
                    optional: matches!(operator, Some('?' | '&' | ';' | '#')),
                });
            }
        }
        offset += open + 1 + close + 1;
        rest = &after[close + 1..];
    }
    Ok(out)
}

/// `varname = varchar *( ["."] varchar )`, `varchar = ALPHA / DIGIT / "_" / pct-encoded`.
fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes[0] == b'.' || bytes[bytes.len() - 1] == b'.' {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = |b: Option<&u8>| b.is_some_and(u8::is_ascii_hexdigit);
                if !(hex(bytes.get(i + 1)) && hex(bytes.get(i + 2))) {
                    return false;
                }
                i += 3;
                continue;
            }
            b'.' if bytes[i - 1] == b'.' => return false,
            b'.' | b'_' => {}
            b if b.is_ascii_alphanumeric() => {}
            _ => return false,
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(t: &str) -> Vec<String> {
        variables(t).unwrap().into_iter().map(|v| v.name).collect()
    }

    #[test]
    fn reads_variables() {
        assert_eq!(names("kpi://reports"), Vec::<String>::new());
        assert_eq!(names("kpi://reports/{year}/{month}"), ["year", "month"]);
        assert_eq!(names("file:///{+path}{?q,page}"), ["path", "q", "page"]);
        assert_eq!(names("x://{a:3}/{/b*}{#c}{a}"), ["a", "b", "c"]);
        assert_eq!(names("x://{foo.bar}/{p%20q}"), ["foo.bar", "p%20q"]);
        let v = variables("x://{a}{?b}").unwrap();
        assert!(!v[0].optional && v[1].optional);
    }

    #[test]
    fn rejects_malformed_templates() {
        for (t, e) in [
            ("x://{a", "unclosed `{` at byte 4"),
            ("x://a}", "unmatched `}` at byte 5"),
            ("x://{}", "empty expression `{}` at byte 4"),
            ("x://{=a}", "reserved"),
            ("x://{a b}", "invalid variable name `a b`"),
            ("x://{a:0}", "invalid prefix"),
            ("x://{a:10000}", "invalid prefix"),
            ("x://{a..b}", "invalid variable name"),
            ("x://{a{b}", "unclosed"),
        ] {
            let err = variables(t).unwrap_err();
            assert!(err.contains(e), "{t}: {err}");
        }
    }
}
