//! The `WWW-Authenticate: Bearer` challenge (RFC 6750 section 3, RFC 9728 section 5.1).

/// What a server said when it refused a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BearerChallenge {
    /// `resource_metadata`: where the protected resource metadata is.
    pub resource_metadata: Option<String>,
    /// `scope`: the scopes the request needs, space-separated.
    pub scope: Option<String>,
    /// `error`, e.g. `invalid_token` or `insufficient_scope`.
    pub error: Option<String>,
    /// `error_description`.
    pub error_description: Option<String>,
}

impl BearerChallenge {
    /// Parses a `WWW-Authenticate` value; `None` when it has no `Bearer` (or `DPoP`) challenge.
    pub fn parse(header: &str) -> Option<BearerChallenge> {
        let mut lexer = Lexer {
            s: header.as_bytes(),
            i: 0,
        };
        let mut in_bearer = false;
        let mut found = false;
        let mut c = BearerChallenge::default();
        loop {
            lexer.skip(|b| b == b' ' || b == b'\t' || b == b',');
            let Some(token) = lexer.token() else { break };
            lexer.skip(|b| b == b' ' || b == b'\t');
            if lexer.peek() == Some(b'=') {
                lexer.i += 1;
                lexer.skip(|b| b == b' ' || b == b'\t');
                let value = if lexer.peek() == Some(b'"') {
                    lexer.quoted()
                } else {
                    lexer.token().unwrap_or_default()
                };
                if in_bearer {
                    let slot = match token.to_ascii_lowercase().as_str() {
                        "resource_metadata" => &mut c.resource_metadata,
                        "scope" => &mut c.scope,
                        "error" => &mut c.error,
                        "error_description" => &mut c.error_description,
                        _ => continue,
                    };
                    slot.get_or_insert(value);
                }
            } else {
                // A new scheme; a token68 right after it is not an auth-param and is skipped.
                // DPoP challenges (RFC 9449 section 7.1) carry the same parameters.
                in_bearer =
                    token.eq_ignore_ascii_case("bearer") || token.eq_ignore_ascii_case("dpop");
                found |= in_bearer;
            }
        }
        found.then_some(c)
    }

    /// The challenged scopes, split on spaces.
    pub fn scopes(&self) -> Vec<String> {
        split_scopes(self.scope.as_deref())
    }
}

pub(crate) fn split_scopes(s: Option<&str>) -> Vec<String> {
    s.unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip(&mut self, f: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&f) {
            self.i += 1;
        }
    }

    fn token(&mut self) -> Option<String> {
        let start = self.i;
        self.skip(|b| !matches!(b, b' ' | b'\t' | b',' | b'=' | b'"'));
        // token68 may end in `=` padding: keep trailing `=` that are not followed by a value.
        if self.i == start {
            if self.peek().is_some() && self.peek() != Some(b'=') {
                self.i += 1; // a stray quote: skip it rather than loop
                return Some(String::new());
            }
            return None;
        }
        Some(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn quoted(&mut self) -> String {
        self.i += 1;
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(n) = self.peek() {
                        out.push(n);
                        self.i += 1;
                    }
                }
                _ => out.push(b),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}
