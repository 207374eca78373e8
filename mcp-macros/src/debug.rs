//! `MCP_MACROS_DEBUG=1`: the expansion on stderr, laid out enough to read. (The snapshots in
//! `src/snapshots/` use prettyplease; a user's build should not compile it.)

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};

/// Prints `tokens` when `MCP_MACROS_DEBUG` is set (and not `0`).
pub(crate) fn print(what: &str, tokens: &TokenStream) {
    if std::env::var_os("MCP_MACROS_DEBUG").is_some_and(|v| v != "0" && !v.is_empty()) {
        let mut w = Writer::default();
        w.write(tokens.clone(), 0);
        eprintln!(
            "// ---- mcp-macros: expansion of {what} ----\n{}",
            w.out.trim()
        );
    }
}

/// Keywords after which a path or a parenthesis is not a continuation.
const KEYWORDS: &[&str] = &[
    "as", "fn", "for", "impl", "in", "let", "match", "mut", "return", "use", "where",
];

#[derive(Default)]
struct Writer {
    out: String,
    /// Whether the next token goes right after the previous one.
    glue: bool,
    /// Whether the previous token was an identifier or a closing `>` / `)` (a call follows).
    callee: bool,
}

impl Writer {
    fn newline(&mut self, depth: usize) {
        while self.out.ends_with(' ') {
            self.out.pop();
        }
        self.out.push('\n');
        self.out.push_str(&"    ".repeat(depth));
        self.glue = true;
    }

    fn token(&mut self, text: &str, glue_before: bool, glue_after: bool) {
        if !(self.glue || glue_before || self.out.is_empty() || self.out.ends_with('\n')) {
            self.out.push(' ');
        }
        if glue_before {
            while self.out.ends_with(' ') {
                self.out.pop();
            }
        }
        self.out.push_str(text);
        self.glue = glue_after;
    }

    fn write(&mut self, tokens: TokenStream, depth: usize) {
        let mut joint_colon = false;
        let mut tokens = tokens.into_iter().peekable();
        while let Some(tt) = tokens.next() {
            match tt {
                TokenTree::Group(g) => {
                    let (open, close) = match g.delimiter() {
                        Delimiter::Brace => ("{", "}"),
                        Delimiter::Parenthesis => ("(", ")"),
                        Delimiter::Bracket => ("[", "]"),
                        Delimiter::None => ("", ""),
                    };
                    if g.delimiter() == Delimiter::Brace {
                        self.token(open, false, false);
                        if !g.stream().is_empty() {
                            self.newline(depth + 1);
                            self.write(g.stream(), depth + 1);
                            self.newline(depth);
                        }
                        self.token(close, false, false);
                        let continues = matches!(
                            tokens.peek(),
                            Some(TokenTree::Punct(p)) if matches!(p.as_char(), ';' | ',' | '.' | '?')
                        );
                        if !continues {
                            self.newline(depth);
                        }
                    } else {
                        let glue = self.callee || g.delimiter() == Delimiter::Bracket;
                        self.token(open, glue, true);
                        self.write(g.stream(), depth);
                        self.token(close, true, false);
                    }
                    self.callee = g.delimiter() == Delimiter::Parenthesis;
                    joint_colon = false;
                }
                TokenTree::Punct(p) => {
                    let c = p.as_char();
                    let (before, after) = match c {
                        // The second `:` of `::`, then the first (glued to a preceding segment).
                        ':' if joint_colon => (true, true),
                        ':' if p.spacing() == Spacing::Joint => (self.callee, true),
                        ',' | ';' | ':' | '?' => (true, false),
                        '.' => (true, true),
                        '&' | '#' | '!' => (false, true),
                        _ => (false, p.spacing() == Spacing::Joint),
                    };
                    let mut buf = [0; 4];
                    self.token(c.encode_utf8(&mut buf), before, after);
                    if c == ';' {
                        self.newline(depth);
                    }
                    joint_colon = c == ':' && p.spacing() == Spacing::Joint;
                    self.callee = (c == '>' && !self.out.ends_with("->")) || c == '!';
                }
                other => {
                    self.token(&other.to_string(), false, false);
                    self.callee = matches!(&other, TokenTree::Ident(i) if !KEYWORDS.contains(&i.to_string().as_str()));
                    joint_colon = false;
                }
            }
        }
    }
}
