//! [RFC 6570] URI Templates (levels 1–4): parsing, expansion and matching.
//!
//! MCP resource templates (`resources/templates/list`) are RFC 6570 URI
//! templates. A [`UriTemplate`] is parsed once and can then be
//!
//! * **expanded** with a set of variables ([`UriTemplate::expand`]), exactly as
//!   specified by RFC 6570 for all four levels, and
//! * **matched** against a concrete URI ([`UriTemplate::match_uri`]), which
//!   answers "could this URI be an expansion of the template, and with which
//!   variable values?" — the operation a server needs to route a
//!   `resources/read` request to the template that produced the URI.
//!
//! ```
//! use mcp_core::uri_template::{UriTemplate, Value};
//!
//! let t = UriTemplate::parse("kpi://reports/{year}/{month}{?fields,page}")?;
//! assert_eq!(
//!     t.expand(&[("year", "2024"), ("month", "05"), ("page", "2")]),
//!     "kpi://reports/2024/05?page=2",
//! );
//!
//! let m = t.match_uri("kpi://reports/2024/05?fields=a,b").unwrap();
//! assert_eq!(m.get_str("year"), Some("2024"));
//! assert_eq!(m.get_str("month"), Some("05"));
//! assert_eq!(
//!     m.get("fields"),
//!     Some(&Value::List(vec!["a".into(), "b".into()])),
//! );
//! assert_eq!(m.get("page"), None);
//! assert!(t.match_uri("kpi://reports/2024").is_none());
//! # Ok::<(), mcp_core::uri_template::TemplateError>(())
//! ```
//!
//! # Parsing
//!
//! [`UriTemplate::parse`] follows the RFC 6570 grammar strictly and reports
//! the byte offset and reason of the first error ([`TemplateError`]):
//! unclosed or stray braces, empty expressions, the operators reserved for
//! future extensions (`=`, `,`, `!`, `@`, `|`), invalid variable names,
//! invalid prefix modifiers (`:N` requires `1 <= N <= 9999`, no leading zero,
//! and cannot be combined with `*`), characters that are not allowed in a
//! literal (controls, space, `"`, `'`, `<`, `>`, `\`, `^`, `` ` ``, `|`), and
//! `%` not followed by two hex digits. Non-ASCII literal characters
//! (`ucschar` / `iprivate`) are accepted and, as the RFC requires, appear
//! percent-encoded (UTF-8, uppercase hex) in expansions.
//!
//! # Expansion
//!
//! Variables come from any [`VarSource`]: `HashMap`/`BTreeMap` with string or
//! [`Value`] values, slices, arrays and `Vec`s of `(name, value)` pairs, or a
//! previous [`Match`]. Undefined variables, empty lists and empty maps are
//! skipped, as are their operator prefix and separators. Values are
//! percent-encoded per operator: only unreserved characters pass through for
//! `{x}`, `{.x}`, `{/x}`, `{;x}`, `{?x}` and `{&x}`; `{+x}` and `{#x}` also
//! pass through reserved characters and existing `%XX` triplets. A prefix
//! modifier (`{x:3}`) counts Unicode scalar values and applies to string
//! values only (the RFC leaves it undefined for lists and maps; it is ignored
//! there).
//!
//! # Matching
//!
//! Inverting RFC 6570 is ambiguous in general (`{x}{y}` can split `"ab"` in
//! three ways, `{x,y}` cannot tell an undefined `x` from an undefined `y`, a
//! one-element list looks like a string, …). [`UriTemplate::match_uri`] does
//! **not** search for a decomposition: it makes one deterministic left-to-right
//! pass with no backtracking and no regular expressions, in time linear in the
//! length of the URI (times the size of the template), and returns the
//! decomposition given by the rules below — or `None` if that decomposition
//! does not fit. When a template and its values avoid the ambiguities the
//! rules resolve arbitrarily (the round-trip property tests spell out one
//! such set of conditions), `match_uri(expand(vars))` gives back exactly the
//! defined variables of `vars`.
//!
//! The template is treated as a leading literal followed by *groups*, each
//! one or more adjacent expressions followed by a literal (possibly empty at
//! the end of the template).
//!
//! 1. **Literals** must appear verbatim, in their expanded (percent-encoded)
//!    form. The leading literal must be a prefix of the URI and the trailing
//!    literal must be a suffix.
//! 2. **Where a group ends.** Each expression can only produce certain
//!    characters: for `{x}`, `{.x}`, `{/x}`, `{;x}`, `{?x}`, `{&x}` these are
//!    unreserved characters, `%XX`, `,` and the operator's own prefix and
//!    separator characters (plus `=` for named operators and exploded
//!    variables); for `{+x}` and `{#x}` every character allowed in a URI.
//!    The literal after a group is located as follows:
//!    * the last literal of the template is a suffix of the URI;
//!    * otherwise, if the literal contains a character none of the group's
//!      expressions can produce, the first such character must be the first
//!      character after the group's start that the group cannot produce
//!      (this is how `kpi://reports/{year}/{month}` splits at `/`);
//!    * otherwise (e.g. the `/` after a `{+path}`, or the `-` after `{x}`),
//!      the literal is the **first occurrence** of the literal text after
//!      the group's start (after the first expression's operator character,
//!      if present), found with a linear substring search.
//! 3. **Expressions inside a group.** When an expression is directly followed
//!    by another expression, it extends over the longest run of characters
//!    it can produce, except that if it can produce the next expression's
//!    operator character it stops at the *first* `?`, `&` or `#` or at the
//!    *last* `/`, `.` or `;` of that run (so `{+path}{?q}`, `{+dir}{/file}`
//!    and `{name}{.ext}` split as one would expect). The last expression of a
//!    group must consume the group exactly.
//! 4. **Operators with a prefix** (`#`, `.`, `/`, `;`, `?`, `&`): if the
//!    prefix character is not at the current position, all variables of the
//!    expression are undefined. For `{x}` and `{+x}` an empty match means
//!    all variables are undefined (so `""` and undefined are the same).
//! 5. **Positional operators** (`{x}`, `{+x}`, `{#x}`, `{.x}`, `{/x}`): the
//!    text is split on the separator (`,`, `,`, `,`, `.`, `/`) and the items
//!    are assigned to the variables in template order, one each; an
//!    exploded variable takes as many items as possible while leaving one
//!    item for each variable after it; trailing variables without items are
//!    undefined. Surplus items go to the last variable: as a
//!    [`Value::List`] for `{x}`, re-joined into one string for `{+x}`,
//!    `{#x}` and `{.x}` (whose values may contain the separator), and are an
//!    error for `{/x}`. An unexploded item containing `,` (for `.` and `/`,
//!    where `,` is not the separator) is a [`Value::List`]. Exploded items
//!    become a [`Value::Map`] if every item has the form `key=value` (split
//!    at the first `=`), a [`Value::List`] if none has; a mix is only
//!    accepted (as a list) for `{+x*}`/`{#x*}`, whose values may contain
//!    `=`.
//! 6. **Named operators** (`{;x}`, `{?x}`, `{&x}`): the text is split on the
//!    separator into `name[=value]` items and items are assigned **by name**,
//!    in any order; variables without an item are undefined (absent from the
//!    result). A bare `name` means the empty string. An item for an exploded
//!    variable adds an element to its [`Value::List`]; an item whose name is
//!    not a variable of the expression is a `key=value` entry of the first
//!    exploded variable (turning it into a [`Value::Map`]), or — if the
//!    expression has no exploded variable — ends the expression there (the
//!    rest must then match what follows, e.g. `{?a}{&b}`). So unknown query
//!    parameters make the match fail rather than being ignored.
//! 7. **Values** are percent-decoded (hex digits of either case are
//!    accepted); invalid `%` escapes and escapes that do not decode to UTF-8
//!    make the match fail. Unexploded values containing `,` (which string
//!    values always encode as `%2C`, except in `{+x}`/`{#x}`) are returned as
//!    a [`Value::List`], so an unexploded map comes back as a list of
//!    alternating keys and values. For `{+x}` and `{#x}`, whose values may
//!    contain `,`, unexploded values are never lists (`,` only separates
//!    variables, see rule 5), and a `%XX` that expansion passed through
//!    from the value is decoded too. A variable with a prefix
//!    modifier must not be longer than the prefix. A variable that occurs
//!    several times must have consistent values (equal, or one a prefix of
//!    the other if an occurrence has a prefix modifier; the longer one
//!    wins).
//! 8. As a leniency for IRIs, non-ASCII characters in the URI are accepted
//!    inside any value and returned unchanged.
//!
//! Results are returned in template order ([`UriTemplate::variables`]).
//!
//! [RFC 6570]: https://www.rfc-editor.org/rfc/rfc6570

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::str::FromStr;

// ---------------------------------------------------------------------------
// Values and variable sources
// ---------------------------------------------------------------------------

/// The value of a template variable.
///
/// An empty [`Value::List`] or [`Value::Map`] counts as undefined, as in
/// RFC 6570; an empty [`Value::String`] is defined.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    /// A string value.
    String(String),
    /// A list of strings.
    List(Vec<String>),
    /// An ordered associative array of `(key, value)` pairs.
    Map(Vec<(String, String)>),
}

impl Value {
    /// The string, if this is a [`Value::String`].
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The elements, if this is a [`Value::List`].
    #[must_use]
    pub fn as_list(&self) -> Option<&[String]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// The pairs, if this is a [`Value::Map`].
    #[must_use]
    pub fn as_map(&self) -> Option<&[(String, String)]> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// Whether RFC 6570 considers this value defined (strings always are;
    /// lists and maps when they are not empty).
    #[must_use]
    pub fn is_defined(&self) -> bool {
        match self {
            Value::String(_) => true,
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<Vec<String>> for Value {
    fn from(l: Vec<String>) -> Self {
        Value::List(l)
    }
}

impl From<Vec<&str>> for Value {
    fn from(l: Vec<&str>) -> Self {
        Value::List(l.into_iter().map(str::to_owned).collect())
    }
}

impl From<Vec<(String, String)>> for Value {
    fn from(m: Vec<(String, String)>) -> Self {
        Value::Map(m)
    }
}

impl From<Vec<(&str, &str)>> for Value {
    fn from(m: Vec<(&str, &str)>) -> Self {
        Value::Map(
            m.into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }
}

impl From<ValueRef<'_>> for Value {
    fn from(v: ValueRef<'_>) -> Self {
        match v {
            ValueRef::String(s) => Value::String(s.to_owned()),
            ValueRef::List(l) => Value::List(l.to_vec()),
            ValueRef::Map(m) => Value::Map(m.to_vec()),
        }
    }
}

/// A borrowed view of a variable value, handed out by a [`VarSource`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueRef<'a> {
    /// A string value.
    String(&'a str),
    /// A list of strings (empty means undefined).
    List(&'a [String]),
    /// An ordered associative array (empty means undefined).
    Map(&'a [(String, String)]),
}

/// Types that can be viewed as a template variable value.
///
/// Implemented for [`Value`], `str`, `String` (strings), `[String]` and
/// `Vec<String>` (lists), `[(String, String)]` and `Vec<(String, String)>`
/// (maps), and references to any of these.
pub trait AsValueRef {
    /// Borrows `self` as a [`ValueRef`].
    fn as_value_ref(&self) -> ValueRef<'_>;
}

impl AsValueRef for Value {
    fn as_value_ref(&self) -> ValueRef<'_> {
        match self {
            Value::String(s) => ValueRef::String(s),
            Value::List(l) => ValueRef::List(l),
            Value::Map(m) => ValueRef::Map(m),
        }
    }
}

impl AsValueRef for str {
    fn as_value_ref(&self) -> ValueRef<'_> {
        ValueRef::String(self)
    }
}

impl AsValueRef for String {
    fn as_value_ref(&self) -> ValueRef<'_> {
        ValueRef::String(self)
    }
}

impl AsValueRef for [String] {
    fn as_value_ref(&self) -> ValueRef<'_> {
        ValueRef::List(self)
    }
}

impl AsValueRef for Vec<String> {
    fn as_value_ref(&self) -> ValueRef<'_> {
        ValueRef::List(self)
    }
}

impl AsValueRef for [(String, String)] {
    fn as_value_ref(&self) -> ValueRef<'_> {
        ValueRef::Map(self)
    }
}

impl AsValueRef for Vec<(String, String)> {
    fn as_value_ref(&self) -> ValueRef<'_> {
        ValueRef::Map(self)
    }
}

impl<T: AsValueRef + ?Sized> AsValueRef for &T {
    fn as_value_ref(&self) -> ValueRef<'_> {
        (**self).as_value_ref()
    }
}

/// A source of variable values for [`UriTemplate::expand`].
///
/// Implemented for `HashMap` and `BTreeMap` keyed by `String` or `&str`,
/// for slices, arrays and `Vec`s of `(name, value)` pairs (the first pair
/// with a given name wins), for [`Match`], and for references to these.
/// Values can be anything implementing [`AsValueRef`], e.g. `&str`, `String`
/// or [`Value`].
///
/// ```
/// use std::collections::HashMap;
/// use mcp_core::uri_template::{UriTemplate, Value};
///
/// let t = UriTemplate::parse("{/path*}{?q}").unwrap();
/// let mut vars = HashMap::new();
/// vars.insert("path".to_string(), Value::from(vec!["a", "b c"]));
/// vars.insert("q".to_string(), Value::from("x&y"));
/// assert_eq!(t.expand(&vars), "/a/b%20c?q=x%26y");
/// assert_eq!(t.expand(&[("q", "1")]), "?q=1");
/// ```
pub trait VarSource {
    /// The value of variable `name`, or `None` if it is undefined.
    fn get(&self, name: &str) -> Option<ValueRef<'_>>;
}

impl<T: VarSource + ?Sized> VarSource for &T {
    fn get(&self, name: &str) -> Option<ValueRef<'_>> {
        (**self).get(name)
    }
}

impl<K, V, S> VarSource for HashMap<K, V, S>
where
    K: Borrow<str> + Hash + Eq,
    V: AsValueRef,
    S: BuildHasher,
{
    fn get(&self, name: &str) -> Option<ValueRef<'_>> {
        HashMap::get(self, name).map(AsValueRef::as_value_ref)
    }
}

impl<K, V> VarSource for BTreeMap<K, V>
where
    K: Borrow<str> + Ord,
    V: AsValueRef,
{
    fn get(&self, name: &str) -> Option<ValueRef<'_>> {
        BTreeMap::get(self, name).map(AsValueRef::as_value_ref)
    }
}

impl<K: AsRef<str>, V: AsValueRef> VarSource for [(K, V)] {
    fn get(&self, name: &str) -> Option<ValueRef<'_>> {
        self.iter()
            .find(|(k, _)| k.as_ref() == name)
            .map(|(_, v)| v.as_value_ref())
    }
}

impl<K: AsRef<str>, V: AsValueRef, const N: usize> VarSource for [(K, V); N] {
    fn get(&self, name: &str) -> Option<ValueRef<'_>> {
        VarSource::get(self.as_slice(), name)
    }
}

impl<K: AsRef<str>, V: AsValueRef> VarSource for Vec<(K, V)> {
    fn get(&self, name: &str) -> Option<ValueRef<'_>> {
        VarSource::get(self.as_slice(), name)
    }
}

impl VarSource for Match {
    fn get(&self, name: &str) -> Option<ValueRef<'_>> {
        Match::get(self, name).map(AsValueRef::as_value_ref)
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why a template failed to parse; see [`TemplateError::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TemplateErrorKind {
    /// A `{` without a matching `}`.
    UnclosedExpression,
    /// A `}` outside an expression.
    UnmatchedCloseBrace,
    /// An expression with nothing inside, `{}`.
    EmptyExpression,
    /// One of the operators RFC 6570 reserves for future extensions
    /// (`=`, `,`, `!`, `@`, `|`).
    ReservedOperator(char),
    /// A variable name that is empty or contains a character other than
    /// ALPHA, DIGIT, `_`, `%XX` and non-leading, non-trailing, non-repeated
    /// `.`, or unexpected text after the `*` modifier.
    InvalidVariableName,
    /// A prefix modifier that is not `:` followed by 1 to 9999 without a
    /// leading zero (this includes `:N*`).
    InvalidPrefix,
    /// A character not allowed in a template literal (controls, space, `"`,
    /// `'`, `<`, `>`, `\`, `^`, `` ` ``, `|` or a non-character code point).
    InvalidLiteral,
    /// A `%` in a literal that is not followed by two hex digits.
    InvalidPercentEncoding,
}

impl fmt::Display for TemplateErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateErrorKind::UnclosedExpression => {
                f.write_str("unclosed expression (missing '}')")
            }
            TemplateErrorKind::UnmatchedCloseBrace => f.write_str("'}' outside an expression"),
            TemplateErrorKind::EmptyExpression => f.write_str("empty expression"),
            TemplateErrorKind::ReservedOperator(c) => {
                write!(f, "operator '{c}' is reserved for future extensions")
            }
            TemplateErrorKind::InvalidVariableName => f.write_str("invalid variable name"),
            TemplateErrorKind::InvalidPrefix => {
                f.write_str("invalid prefix modifier (expected ':' and a length from 1 to 9999)")
            }
            TemplateErrorKind::InvalidLiteral => {
                f.write_str("character not allowed in a template literal")
            }
            TemplateErrorKind::InvalidPercentEncoding => {
                f.write_str("'%' not followed by two hexadecimal digits")
            }
        }
    }
}

/// A malformed URI template: the byte offset of the problem and its reason.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TemplateError {
    offset: usize,
    kind: TemplateErrorKind,
}

impl TemplateError {
    fn new(offset: usize, kind: TemplateErrorKind) -> Self {
        TemplateError { offset, kind }
    }

    /// Byte offset in the template where the problem was detected.
    #[must_use]
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// What is wrong.
    #[must_use]
    pub fn kind(&self) -> TemplateErrorKind {
        self.kind
    }
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid URI template at byte {}: {}",
            self.offset, self.kind
        )
    }
}

impl std::error::Error for TemplateError {}

// ---------------------------------------------------------------------------
// Character classes
// ---------------------------------------------------------------------------

/// A set of ASCII bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ByteSet(u128);

impl ByteSet {
    const fn of(chars: &[u8]) -> Self {
        let mut bits = 0u128;
        let mut i = 0;
        while i < chars.len() {
            bits |= 1u128 << chars[i];
            i += 1;
        }
        ByteSet(bits)
    }

    const fn union(self, other: ByteSet) -> Self {
        ByteSet(self.0 | other.0)
    }

    const fn with(self, b: u8) -> Self {
        ByteSet(self.0 | (1u128 << b))
    }

    const fn without(self, b: u8) -> Self {
        ByteSet(self.0 & !(1u128 << b))
    }

    /// Exact membership (non-ASCII bytes are never members).
    fn has(self, b: u8) -> bool {
        b < 0x80 && self.0 & (1u128 << b) != 0
    }

    /// Membership for matching: non-ASCII bytes always belong (IRI leniency).
    fn accepts(self, b: u8) -> bool {
        b >= 0x80 || self.0 & (1u128 << b) != 0
    }
}

const UNRESERVED: ByteSet =
    ByteSet::of(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~");
const RESERVED: ByteSet = ByteSet::of(b":/?#[]@!$&'()*+,;=");
/// ASCII characters allowed verbatim in a template literal (RFC 6570 §2.1).
const LITERAL: ByteSet = UNRESERVED.union(RESERVED).without(b'\'');

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_pct_triplet(b: &[u8], i: usize) -> bool {
    b.get(i) == Some(&b'%')
        && b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
        && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
}

/// `ucschar / iprivate` from RFC 6570 §1.5.
fn is_ucschar_or_iprivate(c: char) -> bool {
    let cp = u32::from(c);
    match cp {
        0xA0..=0xD7FF | 0xE000..=0xFDCF | 0xFDF0..=0xFFEF => true,
        0x10000.. => cp & 0xFFFF <= 0xFFFD && !(0xE0000..0xE1000).contains(&cp),
        _ => false,
    }
}

fn push_pct(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0xF)]));
}

/// Appends `s` percent-encoded: unreserved characters (and, if
/// `allow_reserved`, reserved characters and existing `%XX` triplets) are
/// copied, everything else is UTF-8 encoded as uppercase `%XX`.
fn encode_into(s: &str, allow_reserved: bool, out: &mut String) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        while i < b.len()
            && (UNRESERVED.has(b[i])
                || (allow_reserved && (RESERVED.has(b[i]) || is_pct_triplet(b, i))))
        {
            i += if b[i] == b'%' { 3 } else { 1 };
        }
        if i > start {
            // `start..i` only spans ASCII, so these are char boundaries.
            out.push_str(&s[start..i]);
        }
        if i < b.len() {
            push_pct(out, b[i]);
            i += 1;
        }
    }
}

/// Percent-decodes `b` (a slice of a `&str` cut at ASCII positions).
fn decode(b: &[u8]) -> Option<String> {
    if !b.contains(&b'%') {
        return std::str::from_utf8(b).ok().map(str::to_owned);
    }
    let mut v = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hi = hex_val(*b.get(i + 1)?)?;
            let lo = hex_val(*b.get(i + 2)?)?;
            v.push(hi << 4 | lo);
            i += 3;
        } else {
            v.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(v).ok()
}

/// End of the longest run of `set` characters in `b[from..to]`.
fn scan(b: &[u8], from: usize, to: usize, set: ByteSet) -> usize {
    b[from..to]
        .iter()
        .position(|&c| !set.accepts(c))
        .map_or(to, |i| from + i)
}

// ---------------------------------------------------------------------------
// Template structure
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Simple,
    Reserved,
    Fragment,
    Label,
    Path,
    PathParam,
    Query,
    QueryCont,
}

impl Op {
    fn first(self) -> Option<u8> {
        match self {
            Op::Simple | Op::Reserved => None,
            Op::Fragment => Some(b'#'),
            Op::Label => Some(b'.'),
            Op::Path => Some(b'/'),
            Op::PathParam => Some(b';'),
            Op::Query => Some(b'?'),
            Op::QueryCont => Some(b'&'),
        }
    }

    fn sep(self) -> u8 {
        match self {
            Op::Simple | Op::Reserved | Op::Fragment => b',',
            Op::Label => b'.',
            Op::Path => b'/',
            Op::PathParam => b';',
            Op::Query | Op::QueryCont => b'&',
        }
    }

    fn named(self) -> bool {
        matches!(self, Op::PathParam | Op::Query | Op::QueryCont)
    }

    fn ifemp(self) -> &'static str {
        match self {
            Op::Query | Op::QueryCont => "=",
            _ => "",
        }
    }

    fn allow_reserved(self) -> bool {
        matches!(self, Op::Reserved | Op::Fragment)
    }
}

#[derive(Debug, Clone)]
struct VarSpec {
    name: Box<str>,
    prefix: Option<usize>,
    explode: bool,
    /// Some occurrence of this name in the template has a prefix modifier.
    name_prefixed: bool,
}

#[derive(Debug, Clone)]
struct Expr {
    op: Op,
    vars: Vec<VarSpec>,
    /// Characters the expansion can contain after the operator prefix.
    body: ByteSet,
}

/// How the end of a group (and so the position of its literal) is found.
#[derive(Debug, Clone, Copy)]
enum Bound {
    /// No literal follows: the group runs to the end of the URI.
    End,
    /// The literal is the last part of the template: it is a suffix.
    Suffix,
    /// Byte `k` of the literal is the first one the group cannot produce.
    Stop(usize),
    /// The group can produce the whole literal: first occurrence.
    Search,
}

/// One or more adjacent expressions and the literal after them.
#[derive(Debug, Clone)]
struct Segment {
    exprs: Vec<Expr>,
    /// Every character the group can produce, operator prefixes included.
    union: ByteSet,
    /// The following literal, in expanded (percent-encoded) form.
    literal: Box<str>,
    bound: Bound,
}

/// A parsed RFC 6570 URI template.
///
/// Parse once with [`UriTemplate::parse`] (or [`str::parse`]), then
/// [`expand`](UriTemplate::expand) or [`match_uri`](UriTemplate::match_uri)
/// as often as needed. `Display` and [`as_str`](UriTemplate::as_str) give
/// back the original text; equality and hashing compare that text.
#[derive(Clone)]
pub struct UriTemplate {
    source: Box<str>,
    /// The leading literal, in expanded form.
    head: Box<str>,
    segments: Vec<Segment>,
    names: Vec<Box<str>>,
}

impl UriTemplate {
    /// Parses `template`.
    ///
    /// # Errors
    ///
    /// Anything that is not valid RFC 6570 syntax is rejected with a
    /// [`TemplateError`] giving the byte offset and the reason (see
    /// [`TemplateErrorKind`]).
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        use TemplateErrorKind as K;
        let bytes = template.as_bytes();
        let mut head = String::new();
        let mut segments: Vec<Segment> = Vec::new();
        let mut exprs: Vec<Expr> = Vec::new();
        let mut lit = String::new();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'{' => {
                    let close = bytes[i + 1..]
                        .iter()
                        .position(|&c| c == b'}')
                        .map(|p| i + 1 + p)
                        .ok_or(TemplateError::new(i, K::UnclosedExpression))?;
                    if !lit.is_empty() {
                        if exprs.is_empty() {
                            head = std::mem::take(&mut lit);
                        } else {
                            segments.push(Segment::new(
                                std::mem::take(&mut exprs),
                                std::mem::take(&mut lit),
                            ));
                        }
                    }
                    exprs.push(parse_expression(template, i, close)?);
                    i = close + 1;
                }
                b'}' => return Err(TemplateError::new(i, K::UnmatchedCloseBrace)),
                b'%' => {
                    if !is_pct_triplet(bytes, i) {
                        return Err(TemplateError::new(i, K::InvalidPercentEncoding));
                    }
                    lit.push_str(&template[i..i + 3]);
                    i += 3;
                }
                b if b < 0x80 => {
                    if !LITERAL.has(b) {
                        return Err(TemplateError::new(i, K::InvalidLiteral));
                    }
                    lit.push(char::from(b));
                    i += 1;
                }
                _ => {
                    let c = template[i..].chars().next().unwrap_or_default();
                    if !is_ucschar_or_iprivate(c) {
                        return Err(TemplateError::new(i, K::InvalidLiteral));
                    }
                    let mut buf = [0u8; 4];
                    for &b in c.encode_utf8(&mut buf).as_bytes() {
                        push_pct(&mut lit, b);
                    }
                    i += c.len_utf8();
                }
            }
        }
        if exprs.is_empty() {
            head = lit;
        } else {
            segments.push(Segment::new(exprs, lit));
        }

        // Locating rule for each group's literal.
        let n = segments.len();
        for (idx, seg) in segments.iter_mut().enumerate() {
            seg.bound = if seg.literal.is_empty() {
                Bound::End
            } else if idx + 1 == n {
                Bound::Suffix
            } else {
                match seg.literal.bytes().position(|c| !seg.union.accepts(c)) {
                    Some(k) => Bound::Stop(k),
                    None => Bound::Search,
                }
            };
        }

        // Unique names in order, and which of them ever carry a prefix.
        let mut names: Vec<Box<str>> = Vec::new();
        let mut prefixed: Vec<bool> = Vec::new();
        for var in segments.iter().flat_map(|s| &s.exprs).flat_map(|e| &e.vars) {
            match names.iter().position(|n| *n == var.name) {
                Some(p) => prefixed[p] |= var.prefix.is_some(),
                None => {
                    names.push(var.name.clone());
                    prefixed.push(var.prefix.is_some());
                }
            }
        }
        for var in segments
            .iter_mut()
            .flat_map(|s| &mut s.exprs)
            .flat_map(|e| &mut e.vars)
        {
            let p = names.iter().position(|n| *n == var.name).unwrap_or(0);
            var.name_prefixed = prefixed.get(p).copied().unwrap_or(false);
        }

        Ok(UriTemplate {
            source: template.into(),
            head: head.into(),
            segments,
            names,
        })
    }

    /// The original template text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The variable names, in order of first appearance, each once.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|n| &**n)
    }

    /// Whether the template has no expressions (it only matches itself).
    #[must_use]
    pub fn is_literal(&self) -> bool {
        self.segments.is_empty()
    }

    /// Expands the template with the variables in `vars` (RFC 6570 §3).
    ///
    /// ```
    /// use mcp_core::uri_template::UriTemplate;
    ///
    /// let t: UriTemplate = "repo://{owner}/{repo}/blob/{+path}".parse().unwrap();
    /// let uri = t.expand(&[("owner", "me"), ("repo", "x y"), ("path", "src/lib.rs")]);
    /// assert_eq!(uri, "repo://me/x%20y/blob/src/lib.rs");
    /// ```
    #[must_use]
    pub fn expand<V: VarSource + ?Sized>(&self, vars: &V) -> String {
        let mut out = String::with_capacity(self.source.len() + 16);
        self.expand_into(vars, &mut out);
        out
    }

    /// Like [`expand`](UriTemplate::expand), appending to `out`.
    pub fn expand_into<V: VarSource + ?Sized>(&self, vars: &V, out: &mut String) {
        out.push_str(&self.head);
        for seg in &self.segments {
            for e in &seg.exprs {
                e.expand(vars, out);
            }
            out.push_str(&seg.literal);
        }
    }

    /// Whether `uri` matches the template; `self.match_uri(uri).is_some()`.
    #[must_use]
    pub fn matches(&self, uri: &str) -> bool {
        self.match_uri(uri).is_some()
    }

    /// Checks whether `uri` could be an expansion of this template and
    /// extracts the (percent-decoded) variable values.
    ///
    /// Runs one left-to-right pass without backtracking, in time linear in
    /// `uri.len()` (times the template size). Because inverting RFC 6570 is
    /// ambiguous in general, this follows the deterministic rules described
    /// in the [module documentation](self#matching); in short: literals must
    /// match verbatim, the last literal is a suffix, a literal is otherwise
    /// found at the first character the preceding expressions cannot
    /// produce or else at its first occurrence, `{x}` stops at anything but
    /// unreserved characters, `%XX` and `,`, `{+x}`/`{#x}` run up to the
    /// next literal, and `{?x}`/`{&x}`/`{;x}` items are matched by name.
    /// Variables that are not present are absent from the result.
    ///
    /// ```
    /// use mcp_core::uri_template::{UriTemplate, Value};
    ///
    /// let t = UriTemplate::parse("https://api.example.com/users/{id}{?fields,page}").unwrap();
    /// let m = t.match_uri("https://api.example.com/users/42?page=3").unwrap();
    /// assert_eq!(m.get_str("id"), Some("42"));
    /// assert_eq!(m.get("fields"), None);
    /// assert_eq!(m.get_str("page"), Some("3"));
    /// assert!(t.match_uri("https://api.example.com/users/42/x").is_none());
    ///
    /// let t = UriTemplate::parse("file:///{+path}").unwrap();
    /// let m = t.match_uri("file:///home/me/caf%C3%A9.txt").unwrap();
    /// assert_eq!(m.get_str("path"), Some("home/me/café.txt"));
    /// ```
    #[must_use]
    pub fn match_uri(&self, uri: &str) -> Option<Match> {
        let b = uri.as_bytes();
        if !b.starts_with(self.head.as_bytes()) {
            return None;
        }
        let mut pos = self.head.len();
        let mut out: Vec<(String, Value)> = Vec::new();
        for seg in &self.segments {
            let end = seg.group_end(uri, pos)?;
            let mut p = pos;
            let n = seg.exprs.len();
            for (i, e) in seg.exprs.iter().enumerate() {
                let limit = match seg.exprs.get(i + 1) {
                    Some(next) => e.sub_limit(next, b, p, end),
                    None => end,
                };
                p = e.match_at(b, p, limit, &mut out)?;
                if i + 1 == n && p != end {
                    return None;
                }
            }
            let lit = seg.literal.as_bytes();
            if !b[end..].starts_with(lit) {
                return None;
            }
            pos = end + lit.len();
        }
        (pos == b.len()).then_some(Match { vars: out })
    }
}

fn parse_expression(template: &str, open: usize, close: usize) -> Result<Expr, TemplateError> {
    use TemplateErrorKind as K;
    let content = &template[open + 1..close];
    let cb = content.as_bytes();
    let (op, mut start) = match cb.first() {
        None => return Err(TemplateError::new(open, K::EmptyExpression)),
        Some(b'+') => (Op::Reserved, 1),
        Some(b'#') => (Op::Fragment, 1),
        Some(b'.') => (Op::Label, 1),
        Some(b'/') => (Op::Path, 1),
        Some(b';') => (Op::PathParam, 1),
        Some(b'?') => (Op::Query, 1),
        Some(b'&') => (Op::QueryCont, 1),
        Some(&c @ (b'=' | b',' | b'!' | b'@' | b'|')) => {
            return Err(TemplateError::new(
                open + 1,
                K::ReservedOperator(char::from(c)),
            ));
        }
        Some(_) => (Op::Simple, 0),
    };
    let mut vars = Vec::new();
    loop {
        let end = cb[start..]
            .iter()
            .position(|&c| c == b',')
            .map_or(cb.len(), |p| start + p);
        vars.push(parse_varspec(&content[start..end], open + 1 + start)?);
        if end == cb.len() {
            break;
        }
        start = end + 1;
    }

    let mut body = UNRESERVED.with(b'%').with(b',');
    if op.allow_reserved() {
        body = body.union(RESERVED);
    }
    body = body.with(op.sep());
    if op.named() || vars.iter().any(|v| v.explode) {
        body = body.with(b'=');
    }
    Ok(Expr { op, vars, body })
}

fn parse_varspec(spec: &str, offset: usize) -> Result<VarSpec, TemplateError> {
    use TemplateErrorKind as K;
    let b = spec.as_bytes();
    let mut i = 0;
    let mut need_char = true;
    loop {
        match b.get(i) {
            Some(c) if c.is_ascii_alphanumeric() || *c == b'_' => {
                i += 1;
                need_char = false;
            }
            Some(b'%') => {
                if !is_pct_triplet(b, i) {
                    return Err(TemplateError::new(offset + i, K::InvalidVariableName));
                }
                i += 3;
                need_char = false;
            }
            Some(b'.') if !need_char => {
                i += 1;
                need_char = true;
            }
            _ => break,
        }
    }
    if need_char {
        return Err(TemplateError::new(offset + i, K::InvalidVariableName));
    }
    let (prefix, explode) = match b.get(i) {
        None => (None, false),
        Some(b'*') if i + 1 == b.len() => (None, true),
        Some(b'*') => return Err(TemplateError::new(offset + i + 1, K::InvalidVariableName)),
        Some(b':') => {
            let digits = &b[i + 1..];
            let valid = (1..=4).contains(&digits.len())
                && digits[0] != b'0'
                && digits.iter().all(u8::is_ascii_digit);
            if !valid {
                return Err(TemplateError::new(offset + i, K::InvalidPrefix));
            }
            let n = digits
                .iter()
                .fold(0usize, |acc, d| acc * 10 + usize::from(d - b'0'));
            (Some(n), false)
        }
        Some(_) => return Err(TemplateError::new(offset + i, K::InvalidVariableName)),
    };
    Ok(VarSpec {
        name: spec[..i].into(),
        prefix,
        explode,
        name_prefixed: false,
    })
}

impl Segment {
    fn new(exprs: Vec<Expr>, literal: String) -> Self {
        let union = exprs.iter().fold(ByteSet(0), |acc, e| {
            let acc = acc.union(e.body);
            match e.op.first() {
                Some(c) => acc.with(c),
                None => acc,
            }
        });
        Segment {
            exprs,
            union,
            literal: literal.into(),
            bound: Bound::End,
        }
    }

    /// Where the group starting at `pos` ends (= where its literal starts).
    fn group_end(&self, uri: &str, pos: usize) -> Option<usize> {
        let b = uri.as_bytes();
        let lit = self.literal.as_bytes();
        match self.bound {
            Bound::End => Some(b.len()),
            Bound::Suffix => {
                (b.len() >= pos + lit.len() && b.ends_with(lit)).then(|| b.len() - lit.len())
            }
            Bound::Stop(k) => {
                let run = scan(b, pos, b.len(), self.union);
                let end = run.checked_sub(k)?;
                (end >= pos && b[end..].starts_with(lit)).then_some(end)
            }
            Bound::Search => {
                // Skip the first expression's operator character, if present:
                // an expression whose operator is there is taken as defined.
                let lead = self.exprs.first().and_then(|e| e.op.first());
                let start = if lead.is_some() && b.get(pos) == lead.as_ref() {
                    pos + 1
                } else {
                    pos
                };
                let found = start + uri.get(start..)?.find(&*self.literal)?;
                // The group must be able to produce everything before it.
                (scan(b, start, found, self.union) == found).then_some(found)
            }
        }
    }
}

impl Expr {
    fn expand<V: VarSource + ?Sized>(&self, vars: &V, out: &mut String) {
        let op = self.op;
        let allow = op.allow_reserved();
        let mut first = true;
        for var in &self.vars {
            let Some(value) = vars.get(&var.name) else {
                continue;
            };
            let defined = match value {
                ValueRef::String(_) => true,
                ValueRef::List(l) => !l.is_empty(),
                ValueRef::Map(m) => !m.is_empty(),
            };
            if !defined {
                continue;
            }
            if first {
                if let Some(c) = op.first() {
                    out.push(char::from(c));
                }
                first = false;
            } else {
                out.push(char::from(op.sep()));
            }
            match value {
                ValueRef::String(s) => {
                    if op.named() {
                        out.push_str(&var.name);
                        if s.is_empty() {
                            out.push_str(op.ifemp());
                            continue;
                        }
                        out.push('=');
                    }
                    let s = match var.prefix {
                        Some(n) => s.char_indices().nth(n).map_or(s, |(i, _)| &s[..i]),
                        None => s,
                    };
                    encode_into(s, allow, out);
                }
                ValueRef::List(list) if !var.explode => {
                    if op.named() {
                        out.push_str(&var.name);
                        out.push('=');
                    }
                    for (i, item) in list.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        encode_into(item, allow, out);
                    }
                }
                ValueRef::List(list) => {
                    for (i, item) in list.iter().enumerate() {
                        if i > 0 {
                            out.push(char::from(op.sep()));
                        }
                        if op.named() {
                            out.push_str(&var.name);
                            if item.is_empty() {
                                out.push_str(op.ifemp());
                                continue;
                            }
                            out.push('=');
                        }
                        encode_into(item, allow, out);
                    }
                }
                ValueRef::Map(map) if !var.explode => {
                    if op.named() {
                        out.push_str(&var.name);
                        out.push('=');
                    }
                    for (i, (k, v)) in map.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        encode_into(k, allow, out);
                        out.push(',');
                        encode_into(v, allow, out);
                    }
                }
                ValueRef::Map(map) => {
                    for (i, (k, v)) in map.iter().enumerate() {
                        if i > 0 {
                            out.push(char::from(op.sep()));
                        }
                        encode_into(k, allow, out);
                        if op.named() && v.is_empty() {
                            out.push_str(op.ifemp());
                            continue;
                        }
                        out.push('=');
                        encode_into(v, allow, out);
                    }
                }
            }
        }
    }

    /// The end limit for this expression when it is directly followed by
    /// `next` inside a group ending at `end` (rule 3).
    fn sub_limit(&self, next: &Expr, b: &[u8], p: usize, end: usize) -> usize {
        let Some(c) = next.op.first() else {
            return end;
        };
        if self.op.named() || !self.body.has(c) || p >= end {
            return end;
        }
        let start = match self.op.first() {
            Some(f) if b[p] == f => p + 1,
            _ => p,
        };
        let run = scan(b, start, end, self.body);
        let hay = &b[start..run];
        let found = if matches!(c, b'?' | b'&' | b'#') {
            hay.iter().position(|&x| x == c)
        } else {
            hay.iter().rposition(|&x| x == c)
        };
        found.map_or(run, |i| start + i)
    }

    /// Matches this expression at `p`, consuming at most up to `limit`;
    /// returns the end of what was consumed.
    fn match_at(
        &self,
        b: &[u8],
        p: usize,
        limit: usize,
        out: &mut Vec<(String, Value)>,
    ) -> Option<usize> {
        let mut q = p;
        if let Some(f) = self.op.first() {
            if q < limit && b[q] == f {
                q += 1;
            } else {
                return Some(p);
            }
        }
        let start_len = out.len();
        let end = if self.op.named() {
            self.match_named(b, p, q, limit, out)?
        } else {
            self.match_positional(b, q, limit, out)?
        };
        self.finish(out, start_len)?;
        Some(end)
    }

    /// Rule 5: `{x}`, `{+x}`, `{#x}`, `{.x}`, `{/x}`.
    fn match_positional(
        &self,
        b: &[u8],
        q: usize,
        limit: usize,
        out: &mut Vec<(String, Value)>,
    ) -> Option<usize> {
        let end = scan(b, q, limit, self.body);
        let body = &b[q..end];
        if body.is_empty() && self.op.first().is_none() {
            return Some(end);
        }
        let op = self.op;
        let sep = op.sep();
        let strict = !op.allow_reserved();
        let mut remaining = body.split(|&c| c == sep).count();
        let mut cur = 0;
        let m = self.vars.len();
        for (vi, var) in self.vars.iter().enumerate() {
            if remaining == 0 {
                break;
            }
            let after = m - vi - 1;
            if var.explode {
                let take = remaining.saturating_sub(after);
                if take == 0 {
                    continue;
                }
                let mut stop = cur;
                for _ in 0..take {
                    stop = item_end(body, stop, sep) + 1;
                }
                let chunk = &body[cur..stop - 1];
                cur = stop.min(body.len());
                remaining -= take;
                let value = self.exploded_items(chunk)?;
                put(out, var, value)?;
            } else if after == 0 && remaining > 1 {
                let rest = &body[cur..];
                let value = match op {
                    Op::Simple => Value::List(
                        rest.split(|&c| c == sep)
                            .map(|it| decode_strict(it, strict))
                            .collect::<Option<_>>()?,
                    ),
                    Op::Path => return None,
                    _ => Value::String(decode_strict(rest, strict)?),
                };
                remaining = 0;
                put(out, var, value)?;
            } else {
                let stop = item_end(body, cur, sep);
                let item = &body[cur..stop];
                cur = (stop + 1).min(body.len());
                remaining -= 1;
                put(out, var, item_value(item, sep != b',', strict)?)?;
            }
        }
        Some(end)
    }

    /// Items of an exploded positional variable (rule 5).
    fn exploded_items(&self, chunk: &[u8]) -> Option<Value> {
        let sep = self.op.sep();
        let strict = !self.op.allow_reserved();
        let items = || chunk.split(move |&c| c == sep);
        // Elements never contain a raw `,` unless it is the separator.
        if strict && sep != b',' && chunk.contains(&b',') {
            return None;
        }
        let pairs = items().filter(|it| it.contains(&b'=')).count();
        if pairs == items().count() {
            items()
                .map(|it| {
                    let eq = it.iter().position(|&c| c == b'=')?;
                    Some((
                        decode_strict(&it[..eq], strict)?,
                        decode_strict(&it[eq + 1..], strict)?,
                    ))
                })
                .collect::<Option<_>>()
                .map(Value::Map)
        } else if pairs == 0 || !strict {
            items().map(decode).collect::<Option<_>>().map(Value::List)
        } else {
            None
        }
    }

    /// Rule 6: `{;x}`, `{?x}`, `{&x}`. `p` is the operator character, `q`
    /// the position after it.
    fn match_named(
        &self,
        b: &[u8],
        p: usize,
        q: usize,
        limit: usize,
        out: &mut Vec<(String, Value)>,
    ) -> Option<usize> {
        let sep = self.op.sep();
        let start_len = out.len();
        let mut cur = q;
        loop {
            let mut stop = cur;
            while stop < limit && b[stop] != sep && self.body.accepts(b[stop]) {
                stop += 1;
            }
            let item = &b[cur..stop];
            let (name, raw) = match item.iter().position(|&c| c == b'=') {
                Some(eq) => (&item[..eq], &item[eq + 1..]),
                None => (item, &item[item.len()..]),
            };
            if raw.contains(&b'=') {
                return None;
            }
            match self.vars.iter().find(|v| v.name.as_bytes() == name) {
                Some(var) if !var.explode => {
                    put(out, var, item_value(raw, true, true)?)?;
                }
                Some(var) => add_exploded(out, start_len, var, None, raw)?,
                None => match self.vars.iter().find(|v| v.explode) {
                    Some(var) if !name.is_empty() => {
                        add_exploded(out, start_len, var, Some(name), raw)?;
                    }
                    // Not ours: the expression ends before this item.
                    _ => return Some(if cur == q { p } else { cur - 1 }),
                },
            }
            if stop < limit && b[stop] == sep {
                cur = stop + 1;
            } else {
                return Some(stop);
            }
        }
    }

    /// Orders this expression's results by template order and merges
    /// exploded variables that already occurred earlier in the template.
    fn finish(&self, out: &mut Vec<(String, Value)>, start_len: usize) -> Option<()> {
        if self.op.named() {
            out[start_len..]
                .sort_unstable_by_key(|(n, _)| self.vars.iter().position(|v| *v.name == **n));
        }
        let mut i = start_len;
        while i < out.len() {
            match out[..start_len].iter().position(|(n, _)| *n == out[i].0) {
                Some(j) => {
                    let (new_name, new_value) = out.remove(i);
                    let prefixed = self
                        .vars
                        .iter()
                        .any(|v| *v.name == *new_name && v.name_prefixed);
                    merge(&mut out[j].1, new_value, prefixed)?;
                }
                None => i += 1,
            }
        }
        Some(())
    }
}

/// End of the item starting at `from` (the next `sep`, or the end).
fn item_end(body: &[u8], from: usize, sep: u8) -> usize {
    body[from..]
        .iter()
        .position(|&c| c == sep)
        .map_or(body.len(), |i| from + i)
}

/// Decodes a value; in `strict` mode (operators that encode reserved
/// characters), a raw `=` cannot be part of a value.
fn decode_strict(b: &[u8], strict: bool) -> Option<String> {
    if strict && b.contains(&b'=') {
        return None;
    }
    decode(b)
}

/// An unexploded item: a list if it contains `,` (and `split_lists`), else a
/// string.
fn item_value(item: &[u8], split_lists: bool, strict: bool) -> Option<Value> {
    if split_lists && item.contains(&b',') {
        item.split(|&c| c == b',')
            .map(|it| decode_strict(it, strict))
            .collect::<Option<_>>()
            .map(Value::List)
    } else {
        decode_strict(item, strict).map(Value::String)
    }
}

/// Adds an item of a named exploded variable: a list element if `key` is
/// `None`, a map entry otherwise.
fn add_exploded(
    out: &mut Vec<(String, Value)>,
    start_len: usize,
    var: &VarSpec,
    key: Option<&[u8]>,
    raw: &[u8],
) -> Option<()> {
    let value = decode(raw)?;
    let idx = match out[start_len..].iter().position(|(n, _)| **n == *var.name) {
        Some(i) => start_len + i,
        None => {
            out.push((var.name.to_string(), Value::List(Vec::new())));
            out.len() - 1
        }
    };
    let slot = &mut out[idx].1;
    if let (Some(_), Value::List(list)) = (key, &mut *slot) {
        let pairs = std::mem::take(list)
            .into_iter()
            .map(|v| (var.name.to_string(), v))
            .collect();
        *slot = Value::Map(pairs);
    }
    match slot {
        Value::List(list) => list.push(value),
        Value::Map(map) => {
            let key = match key {
                Some(k) => decode(k)?,
                None => var.name.to_string(),
            };
            map.push((key, value));
        }
        Value::String(_) => return None,
    }
    Some(())
}

/// Records `value` for `var`, checking its prefix length and merging with an
/// earlier occurrence of the same name.
fn put(out: &mut Vec<(String, Value)>, var: &VarSpec, value: Value) -> Option<()> {
    if let (Some(n), Value::String(s)) = (var.prefix, &value)
        && s.chars().count() > n
    {
        return None;
    }
    match out.iter_mut().find(|(n, _)| **n == *var.name) {
        Some((_, existing)) => merge(existing, value, var.name_prefixed),
        None => {
            out.push((var.name.to_string(), value));
            Some(())
        }
    }
}

/// Two occurrences of one variable must agree; with a prefix modifier
/// somewhere, one may be a prefix of the other (the longer is kept).
fn merge(existing: &mut Value, new: Value, prefixed: bool) -> Option<()> {
    if *existing == new {
        return Some(());
    }
    if prefixed && let (Value::String(a), Value::String(b)) = (&*existing, &new) {
        if a.starts_with(b.as_str()) {
            return Some(());
        }
        if b.starts_with(a.as_str()) {
            *existing = new;
            return Some(());
        }
    }
    None
}

impl fmt::Display for UriTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl fmt::Debug for UriTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("UriTemplate").field(&self.source).finish()
    }
}

impl FromStr for UriTemplate {
    type Err = TemplateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UriTemplate::parse(s)
    }
}

impl TryFrom<&str> for UriTemplate {
    type Error = TemplateError;

    fn try_from(s: &str) -> Result<Self, Self::Error> {
        UriTemplate::parse(s)
    }
}

impl AsRef<str> for UriTemplate {
    fn as_ref(&self) -> &str {
        &self.source
    }
}

impl PartialEq for UriTemplate {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for UriTemplate {}

impl Hash for UriTemplate {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.source.hash(state);
    }
}

// ---------------------------------------------------------------------------
// Match results
// ---------------------------------------------------------------------------

/// The variables extracted by [`UriTemplate::match_uri`], in template order.
///
/// Only variables present in the URI are included. A `Match` is itself a
/// [`VarSource`], so `t.expand(&t.match_uri(uri)?)` re-expands it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Match {
    vars: Vec<(String, Value)>,
}

impl Match {
    /// The value of `name`, if it was matched.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.vars.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The value of `name`, if it was matched as a [`Value::String`].
    #[must_use]
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }

    /// Whether `name` was matched.
    #[must_use]
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Number of matched variables.
    #[must_use]
    pub fn len(&self) -> usize {
        self.vars.len()
    }

    /// Whether no variable was matched.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// Iterates over `(name, value)` in template order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.vars.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// The matched `(name, value)` pairs in template order.
    #[must_use]
    pub fn as_slice(&self) -> &[(String, Value)] {
        &self.vars
    }

    /// Consumes the match, returning the `(name, value)` pairs.
    #[must_use]
    pub fn into_vec(self) -> Vec<(String, Value)> {
        self.vars
    }
}

impl IntoIterator for Match {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.vars.into_iter()
    }
}

impl<'a> IntoIterator for &'a Match {
    type Item = &'a (String, Value);
    type IntoIter = std::slice::Iter<'a, (String, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.vars.iter()
    }
}

impl From<Match> for Vec<(String, Value)> {
    fn from(m: Match) -> Self {
        m.vars
    }
}
