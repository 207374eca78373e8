//! Tests for `uri_template`: every RFC 6570 expansion example, matching of
//! MCP-style templates, parse errors, a linear-time smoke test and
//! expand/match round-trip properties.

use std::collections::{BTreeMap, HashMap};

use mcp_core::uri_template::*;
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Variables as `(name, value)` pairs, in template order.
type Vars = Vec<(String, Value)>;

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

fn list(items: &[&str]) -> Value {
    Value::List(items.iter().map(|i| (*i).to_owned()).collect())
}

fn map(pairs: &[(&str, &str)]) -> Value {
    Value::Map(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

/// The variables of RFC 6570 §3.2 (a superset of those of §1.2). `undef` is
/// simply absent. `keys` keeps the RFC's order: semi, dot, comma.
fn rfc_vars() -> HashMap<String, Value> {
    let mut v = HashMap::new();
    let mut add = |name: &str, value: Value| {
        v.insert(name.to_owned(), value);
    };
    add("count", list(&["one", "two", "three"]));
    add("dom", list(&["example", "com"]));
    add("dub", s("me/too"));
    add("hello", s("Hello World!"));
    add("half", s("50%"));
    add("var", s("value"));
    add("who", s("fred"));
    add("base", s("http://example.com/home/"));
    add("path", s("/foo/bar"));
    add("list", list(&["red", "green", "blue"]));
    add("keys", map(&[("semi", ";"), ("dot", "."), ("comma", ",")]));
    add("v", s("6"));
    add("x", s("1024"));
    add("y", s("768"));
    add("empty", s(""));
    add("empty_keys", Value::Map(Vec::new()));
    v
}

fn check_expansions(cases: &[(&str, &str)]) {
    let vars = rfc_vars();
    for (template, expected) in cases {
        let t = UriTemplate::parse(template)
            .unwrap_or_else(|e| panic!("{template:?} failed to parse: {e}"));
        assert_eq!(t.expand(&vars), *expected, "expanding {template:?}");
    }
}

fn matched(template: &str, uri: &str) -> Option<Vars> {
    UriTemplate::parse(template)
        .unwrap()
        .match_uri(uri)
        .map(Match::into_vec)
}

fn pairs(items: &[(&str, Value)]) -> Vars {
    items
        .iter()
        .map(|(n, v)| ((*n).to_owned(), v.clone()))
        .collect()
}

// ---------------------------------------------------------------------------
// RFC 6570 expansion examples
// ---------------------------------------------------------------------------

#[test]
fn rfc_1_2_level_1() {
    check_expansions(&[("{var}", "value"), ("{hello}", "Hello%20World%21")]);
}

#[test]
fn rfc_1_2_level_2() {
    check_expansions(&[
        ("{+var}", "value"),
        ("{+hello}", "Hello%20World!"),
        ("{+path}/here", "/foo/bar/here"),
        ("here?ref={+path}", "here?ref=/foo/bar"),
        ("X{#var}", "X#value"),
        ("X{#hello}", "X#Hello%20World!"),
    ]);
}

#[test]
fn rfc_1_2_level_3() {
    check_expansions(&[
        ("map?{x,y}", "map?1024,768"),
        ("{x,hello,y}", "1024,Hello%20World%21,768"),
        ("{+x,hello,y}", "1024,Hello%20World!,768"),
        ("{+path,x}/here", "/foo/bar,1024/here"),
        ("{#x,hello,y}", "#1024,Hello%20World!,768"),
        ("{#path,x}/here", "#/foo/bar,1024/here"),
        ("X{.var}", "X.value"),
        ("X{.x,y}", "X.1024.768"),
        ("{/var}", "/value"),
        ("{/var,x}/here", "/value/1024/here"),
        ("{;x,y}", ";x=1024;y=768"),
        ("{;x,y,empty}", ";x=1024;y=768;empty"),
        ("{?x,y}", "?x=1024&y=768"),
        ("{?x,y,empty}", "?x=1024&y=768&empty="),
        ("?fixed=yes{&x}", "?fixed=yes&x=1024"),
        ("{&x,y,empty}", "&x=1024&y=768&empty="),
    ]);
}

#[test]
fn rfc_1_2_level_4() {
    check_expansions(&[
        ("{var:3}", "val"),
        ("{var:30}", "value"),
        ("{list}", "red,green,blue"),
        ("{list*}", "red,green,blue"),
        ("{keys}", "semi,%3B,dot,.,comma,%2C"),
        ("{keys*}", "semi=%3B,dot=.,comma=%2C"),
        ("{+path:6}/here", "/foo/b/here"),
        ("{+list}", "red,green,blue"),
        ("{+list*}", "red,green,blue"),
        ("{+keys}", "semi,;,dot,.,comma,,"),
        ("{+keys*}", "semi=;,dot=.,comma=,"),
        ("{#path:6}/here", "#/foo/b/here"),
        ("{#list}", "#red,green,blue"),
        ("{#list*}", "#red,green,blue"),
        ("{#keys}", "#semi,;,dot,.,comma,,"),
        ("{#keys*}", "#semi=;,dot=.,comma=,"),
        ("X{.var:3}", "X.val"),
        ("X{.list}", "X.red,green,blue"),
        ("X{.list*}", "X.red.green.blue"),
        ("X{.keys}", "X.semi,%3B,dot,.,comma,%2C"),
        ("X{.keys*}", "X.semi=%3B.dot=..comma=%2C"),
        ("{/var:1,var}", "/v/value"),
        ("{/list}", "/red,green,blue"),
        ("{/list*}", "/red/green/blue"),
        ("{/list*,path:4}", "/red/green/blue/%2Ffoo"),
        ("{/keys}", "/semi,%3B,dot,.,comma,%2C"),
        ("{/keys*}", "/semi=%3B/dot=./comma=%2C"),
        ("{;hello:5}", ";hello=Hello"),
        ("{;list}", ";list=red,green,blue"),
        ("{;list*}", ";list=red;list=green;list=blue"),
        ("{;keys}", ";keys=semi,%3B,dot,.,comma,%2C"),
        ("{;keys*}", ";semi=%3B;dot=.;comma=%2C"),
        ("{?var:3}", "?var=val"),
        ("{?list}", "?list=red,green,blue"),
        ("{?list*}", "?list=red&list=green&list=blue"),
        ("{?keys}", "?keys=semi,%3B,dot,.,comma,%2C"),
        ("{?keys*}", "?semi=%3B&dot=.&comma=%2C"),
        ("{&var:3}", "&var=val"),
        ("{&list}", "&list=red,green,blue"),
        ("{&list*}", "&list=red&list=green&list=blue"),
        ("{&keys}", "&keys=semi,%3B,dot,.,comma,%2C"),
        ("{&keys*}", "&semi=%3B&dot=.&comma=%2C"),
    ]);
}

#[test]
fn rfc_3_2_1_variable_expansion() {
    check_expansions(&[
        ("{count}", "one,two,three"),
        ("{count*}", "one,two,three"),
        ("{/count}", "/one,two,three"),
        ("{/count*}", "/one/two/three"),
        ("{;count}", ";count=one,two,three"),
        ("{;count*}", ";count=one;count=two;count=three"),
        ("{?count}", "?count=one,two,three"),
        ("{?count*}", "?count=one&count=two&count=three"),
        ("{&count*}", "&count=one&count=two&count=three"),
    ]);
}

#[test]
fn rfc_3_2_2_simple_string_expansion() {
    check_expansions(&[
        ("{var}", "value"),
        ("{hello}", "Hello%20World%21"),
        ("{half}", "50%25"),
        ("O{empty}X", "OX"),
        ("O{undef}X", "OX"),
        ("{x,y}", "1024,768"),
        ("{x,hello,y}", "1024,Hello%20World%21,768"),
        ("?{x,empty}", "?1024,"),
        ("?{x,undef}", "?1024"),
        ("?{undef,y}", "?768"),
        ("{var:3}", "val"),
        ("{var:30}", "value"),
        ("{list}", "red,green,blue"),
        ("{list*}", "red,green,blue"),
        ("{keys}", "semi,%3B,dot,.,comma,%2C"),
        ("{keys*}", "semi=%3B,dot=.,comma=%2C"),
    ]);
}

#[test]
fn rfc_3_2_3_reserved_expansion() {
    check_expansions(&[
        ("{+var}", "value"),
        ("{+hello}", "Hello%20World!"),
        ("{+half}", "50%25"),
        ("{base}index", "http%3A%2F%2Fexample.com%2Fhome%2Findex"),
        ("{+base}index", "http://example.com/home/index"),
        ("O{+empty}X", "OX"),
        ("O{+undef}X", "OX"),
        ("{+path}/here", "/foo/bar/here"),
        ("here?ref={+path}", "here?ref=/foo/bar"),
        ("up{+path}{var}/here", "up/foo/barvalue/here"),
        ("{+x,hello,y}", "1024,Hello%20World!,768"),
        ("{+path,x}/here", "/foo/bar,1024/here"),
        ("{+path:6}/here", "/foo/b/here"),
        ("{+list}", "red,green,blue"),
        ("{+list*}", "red,green,blue"),
        ("{+keys}", "semi,;,dot,.,comma,,"),
        ("{+keys*}", "semi=;,dot=.,comma=,"),
    ]);
}

#[test]
fn rfc_3_2_4_fragment_expansion() {
    check_expansions(&[
        ("{#var}", "#value"),
        ("{#hello}", "#Hello%20World!"),
        ("{#half}", "#50%25"),
        ("foo{#empty}", "foo#"),
        ("foo{#undef}", "foo"),
        ("{#x,hello,y}", "#1024,Hello%20World!,768"),
        ("{#path,x}/here", "#/foo/bar,1024/here"),
        ("{#path:6}/here", "#/foo/b/here"),
        ("{#list}", "#red,green,blue"),
        ("{#list*}", "#red,green,blue"),
        ("{#keys}", "#semi,;,dot,.,comma,,"),
        ("{#keys*}", "#semi=;,dot=.,comma=,"),
    ]);
}

#[test]
fn rfc_3_2_5_label_expansion() {
    check_expansions(&[
        ("{.who}", ".fred"),
        ("{.who,who}", ".fred.fred"),
        ("{.half,who}", ".50%25.fred"),
        ("www{.dom*}", "www.example.com"),
        ("X{.var}", "X.value"),
        ("X{.empty}", "X."),
        ("X{.undef}", "X"),
        ("X{.var:3}", "X.val"),
        ("X{.list}", "X.red,green,blue"),
        ("X{.list*}", "X.red.green.blue"),
        ("X{.keys}", "X.semi,%3B,dot,.,comma,%2C"),
        ("X{.keys*}", "X.semi=%3B.dot=..comma=%2C"),
        ("X{.empty_keys}", "X"),
        ("X{.empty_keys*}", "X"),
    ]);
}

#[test]
fn rfc_3_2_6_path_segment_expansion() {
    check_expansions(&[
        ("{/who}", "/fred"),
        ("{/who,who}", "/fred/fred"),
        ("{/half,who}", "/50%25/fred"),
        ("{/who,dub}", "/fred/me%2Ftoo"),
        ("{/var}", "/value"),
        ("{/var,empty}", "/value/"),
        ("{/var,undef}", "/value"),
        ("{/var,x}/here", "/value/1024/here"),
        ("{/var:1,var}", "/v/value"),
        ("{/list}", "/red,green,blue"),
        ("{/list*}", "/red/green/blue"),
        ("{/list*,path:4}", "/red/green/blue/%2Ffoo"),
        ("{/keys}", "/semi,%3B,dot,.,comma,%2C"),
        ("{/keys*}", "/semi=%3B/dot=./comma=%2C"),
    ]);
}

#[test]
fn rfc_3_2_7_path_style_parameter_expansion() {
    check_expansions(&[
        ("{;who}", ";who=fred"),
        ("{;half}", ";half=50%25"),
        ("{;empty}", ";empty"),
        ("{;v,empty,who}", ";v=6;empty;who=fred"),
        ("{;v,bar,who}", ";v=6;who=fred"),
        ("{;x,y}", ";x=1024;y=768"),
        ("{;x,y,empty}", ";x=1024;y=768;empty"),
        ("{;x,y,undef}", ";x=1024;y=768"),
        ("{;hello:5}", ";hello=Hello"),
        ("{;list}", ";list=red,green,blue"),
        ("{;list*}", ";list=red;list=green;list=blue"),
        ("{;keys}", ";keys=semi,%3B,dot,.,comma,%2C"),
        ("{;keys*}", ";semi=%3B;dot=.;comma=%2C"),
    ]);
}

#[test]
fn rfc_3_2_8_form_style_query_expansion() {
    check_expansions(&[
        ("{?who}", "?who=fred"),
        ("{?half}", "?half=50%25"),
        ("{?x,y}", "?x=1024&y=768"),
        ("{?x,y,empty}", "?x=1024&y=768&empty="),
        ("{?x,y,undef}", "?x=1024&y=768"),
        ("{?var:3}", "?var=val"),
        ("{?list}", "?list=red,green,blue"),
        ("{?list*}", "?list=red&list=green&list=blue"),
        ("{?keys}", "?keys=semi,%3B,dot,.,comma,%2C"),
        ("{?keys*}", "?semi=%3B&dot=.&comma=%2C"),
    ]);
}

#[test]
fn rfc_3_2_9_form_style_query_continuation() {
    check_expansions(&[
        ("{&who}", "&who=fred"),
        ("{&half}", "&half=50%25"),
        ("?fixed=yes{&x}", "?fixed=yes&x=1024"),
        ("{&x,y,empty}", "&x=1024&y=768&empty="),
        ("{&x,y,undef}", "&x=1024&y=768"),
        ("{&var:3}", "&var=val"),
        ("{&list}", "&list=red,green,blue"),
        ("{&list*}", "&list=red&list=green&list=blue"),
        ("{&keys}", "&keys=semi,%3B,dot,.,comma,%2C"),
        ("{&keys*}", "&semi=%3B&dot=.&comma=%2C"),
    ]);
}

// ---------------------------------------------------------------------------
// Other expansion behaviour
// ---------------------------------------------------------------------------

#[test]
fn expansion_encoding_details() {
    let t = UriTemplate::parse("{x}|{+x}|{#x}")
        .map(|_| ())
        .expect_err("'|' is not allowed in a literal");
    assert_eq!(t.kind(), TemplateErrorKind::InvalidLiteral);

    let t = UriTemplate::parse("{x}/{+x}/{#x}").unwrap();
    // Non-ASCII is UTF-8 percent-encoded with uppercase hex; `+`/`#` keep
    // reserved characters and valid pct-triplets but encode a lone '%'.
    assert_eq!(
        t.expand(&[("x", "é/%41%z ?")]),
        "%C3%A9%2F%2541%25z%20%3F/%C3%A9/%41%25z%20?/#%C3%A9/%41%25z%20?"
    );
    // Prefixes count characters, not bytes.
    let t = UriTemplate::parse("{x:2}").unwrap();
    assert_eq!(t.expand(&[("x", "äöü")]), "%C3%A4%C3%B6");
    // Non-ASCII literals are encoded; pct-encoded literals are kept.
    let t = UriTemplate::parse("caf\u{e9}%2F{x}").unwrap();
    assert_eq!(t.expand(&[("x", "1")]), "caf%C3%A9%2F1");
    // Prefix modifiers do not apply to composite values.
    let t = UriTemplate::parse("{x:1}").unwrap();
    assert_eq!(t.expand(&[("x", list(&["ab", "cd"]))]), "ab,cd");
    // Empty list/map are undefined; the whole expression disappears.
    let t = UriTemplate::parse("a{?l,m}b").unwrap();
    let vars = [("l", Value::List(vec![])), ("m", Value::Map(vec![]))];
    assert_eq!(t.expand(&vars), "ab");
}

#[test]
fn var_sources() {
    let t = UriTemplate::parse("{a}{/b*}").unwrap();
    let mut hm: HashMap<&str, Value> = HashMap::new();
    hm.insert("a", s("1"));
    hm.insert("b", list(&["x", "y"]));
    assert_eq!(t.expand(&hm), "1/x/y");
    let bt: BTreeMap<String, String> = [("a".to_owned(), "2".to_owned())].into();
    assert_eq!(t.expand(&bt), "2");
    let hs: HashMap<String, &str> = [("a".to_owned(), "3")].into();
    assert_eq!(t.expand(&hs), "3");
    assert_eq!(t.expand(&[("a", "4")]), "4");
    assert_eq!(t.expand(&vec![("a".to_owned(), s("5"))]), "5");
    assert_eq!(t.expand(&[("a", "6"), ("a", "7")][..]), "6");
    let none: [(&str, &str); 0] = [];
    assert_eq!(t.expand(&none), "");
    let mut out = String::from(">");
    t.expand_into(&[("a", "8")], &mut out);
    assert_eq!(out, ">8");
    // A Match is a VarSource.
    let m = t.match_uri("9/p/q").unwrap();
    assert_eq!(t.expand(&m), "9/p/q");
}

#[test]
fn parse_accessors() {
    let src = "https://api.example.com/users/{id}{?fields,page}{&id}";
    let t: UriTemplate = src.parse().unwrap();
    assert_eq!(t.as_str(), src);
    assert_eq!(t.to_string(), src);
    assert_eq!(t.variables().collect::<Vec<_>>(), ["id", "fields", "page"]);
    assert!(!t.is_literal());
    assert_eq!(t, UriTemplate::try_from(src).unwrap());
    assert_eq!(format!("{t:?}"), format!("UriTemplate({src:?})"));

    let lit = UriTemplate::parse("file:///etc/hosts").unwrap();
    assert!(lit.is_literal());
    assert_eq!(lit.variables().count(), 0);
    assert!(lit.match_uri("file:///etc/hosts").unwrap().is_empty());
    assert!(lit.match_uri("file:///etc/hosts2").is_none());
    assert!(lit.match_uri("file:///etc/host").is_none());

    let empty = UriTemplate::parse("").unwrap();
    assert!(empty.is_literal());
    assert!(empty.matches(""));
    assert!(!empty.matches("x"));
}

// ---------------------------------------------------------------------------
// Parse errors
// ---------------------------------------------------------------------------

#[test]
fn malformed_templates() {
    use TemplateErrorKind as K;
    let cases: &[(&str, usize, K)] = &[
        ("{", 0, K::UnclosedExpression),
        ("a{b", 1, K::UnclosedExpression),
        ("{x}{", 3, K::UnclosedExpression),
        ("a}", 1, K::UnmatchedCloseBrace),
        ("{x}}", 3, K::UnmatchedCloseBrace),
        ("{}", 0, K::EmptyExpression),
        ("x{}y", 1, K::EmptyExpression),
        ("{=x}", 1, K::ReservedOperator('=')),
        ("{,x}", 1, K::ReservedOperator(',')),
        ("{!x}", 1, K::ReservedOperator('!')),
        ("{@x}", 1, K::ReservedOperator('@')),
        ("{|x}", 1, K::ReservedOperator('|')),
        ("{x y}", 2, K::InvalidVariableName),
        ("{x-y}", 2, K::InvalidVariableName),
        ("{+}", 2, K::InvalidVariableName),
        ("{.}", 2, K::InvalidVariableName),
        ("{x.}", 3, K::InvalidVariableName),
        ("{x..y}", 3, K::InvalidVariableName),
        ("{.x.}", 4, K::InvalidVariableName),
        ("{x,}", 3, K::InvalidVariableName),
        ("{x,,y}", 3, K::InvalidVariableName),
        ("{a{b}", 2, K::InvalidVariableName),
        ("{a%2}", 2, K::InvalidVariableName),
        ("{x*y}", 3, K::InvalidVariableName),
        ("{x*:3}", 3, K::InvalidVariableName),
        ("{x**}", 3, K::InvalidVariableName),
        ("{x:0}", 2, K::InvalidPrefix),
        ("{x:}", 2, K::InvalidPrefix),
        ("{x:01}", 2, K::InvalidPrefix),
        ("{x:10000}", 2, K::InvalidPrefix),
        ("{x:3*}", 2, K::InvalidPrefix),
        ("{x:a}", 2, K::InvalidPrefix),
        ("{y,x:-1}", 4, K::InvalidPrefix),
        ("a b", 1, K::InvalidLiteral),
        ("<{x}>", 0, K::InvalidLiteral),
        ("{x}\"", 3, K::InvalidLiteral),
        ("it's", 2, K::InvalidLiteral),
        ("a\\b", 1, K::InvalidLiteral),
        ("a^b", 1, K::InvalidLiteral),
        ("a`b", 1, K::InvalidLiteral),
        ("a|b", 1, K::InvalidLiteral),
        ("a\nb", 1, K::InvalidLiteral),
        ("é\u{FFFE}", 2, K::InvalidLiteral),
        ("\u{85}", 0, K::InvalidLiteral),
        ("a%zz", 1, K::InvalidPercentEncoding),
        ("a%2", 1, K::InvalidPercentEncoding),
        ("100%", 3, K::InvalidPercentEncoding),
    ];
    for (template, offset, kind) in cases {
        let err = UriTemplate::parse(template)
            .map(|t| t.to_string())
            .expect_err(template);
        assert_eq!(
            (err.offset(), err.kind()),
            (*offset, *kind),
            "template {template:?}: {err}"
        );
        let msg = err.to_string();
        assert!(msg.contains(&format!("byte {offset}")), "{msg}");
    }

    let err: Box<dyn std::error::Error> = "{x".parse::<UriTemplate>().unwrap_err().into();
    assert_eq!(
        err.to_string(),
        "invalid URI template at byte 0: unclosed expression (missing '}')"
    );
    let err = UriTemplate::parse("{@x}").unwrap_err();
    assert!(err.to_string().contains("'@' is reserved"), "{err}");
}

#[test]
fn well_formed_edge_templates() {
    for t in [
        "{x:9999}",
        "{x:1}",
        "{a.b_c%20D9}",
        "{a,b.c*,d:3}",
        "%7B{x}%7d",
        "caf\u{e9}/{x}/\u{1F600}/\u{E000}",
        "{x}{y}{+z}{#w}",
        "!#$&()*+,-./:;=?@[]_~",
    ] {
        let parsed = UriTemplate::parse(t);
        assert!(parsed.is_ok(), "{t:?}: {parsed:?}");
    }
}

// ---------------------------------------------------------------------------
// Matching: MCP-style templates
// ---------------------------------------------------------------------------

#[test]
fn match_file_path() {
    assert_eq!(
        matched("file:///{path}", "file:///notes.txt"),
        Some(pairs(&[("path", s("notes.txt"))]))
    );
    // Simple expansion cannot produce '/'.
    assert_eq!(matched("file:///{path}", "file:///a/b.txt"), None);
    assert_eq!(
        matched("file:///{path}", "file:///a%2Fb.txt"),
        Some(pairs(&[("path", s("a/b.txt"))]))
    );
    assert_eq!(matched("file:///{path}", "http:///a"), None);
    assert_eq!(
        matched("file:///{+path}", "file:///home/me/a%20b.txt"),
        Some(pairs(&[("path", s("home/me/a b.txt"))]))
    );
    assert_eq!(
        matched("file://{/path*}", "file:///home/me/a%2Fb.txt"),
        Some(pairs(&[("path", list(&["home", "me", "a/b.txt"]))]))
    );
    // A name and an extension.
    assert_eq!(
        matched("file:///{name}.txt", "file:///my.notes.txt"),
        Some(pairs(&[("name", s("my.notes"))]))
    );
    assert_eq!(matched("file:///{name}.txt", "file:///my.notes.md"), None);
    assert_eq!(
        matched("file:///{+dir}{/file}{.ext}", "file:///a/b/c.tar.gz"),
        Some(pairs(&[
            ("dir", s("a/b")),
            ("file", s("c.tar")),
            ("ext", s("gz"))
        ]))
    );
}

#[test]
fn match_kpi_reports() {
    let t = UriTemplate::parse("kpi://reports/{year}/{month}").unwrap();
    let m = t.match_uri("kpi://reports/2024/05").unwrap();
    assert_eq!(m.get_str("year"), Some("2024"));
    assert_eq!(m.get_str("month"), Some("05"));
    assert_eq!(m.len(), 2);
    assert_eq!(
        m.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        ["year", "month"]
    );
    for bad in [
        "kpi://reports/2024",
        "kpi://reports/2024/05/extra",
        "kpi://reports/2024/05?x=1",
        "kpi://report/2024/05",
        "kpi://reports/2024/05#frag",
        "xkpi://reports/2024/05",
        "kpi://reports/20 24/05",
    ] {
        assert!(t.match_uri(bad).is_none(), "{bad}");
    }
    // Percent-decoding, including UTF-8.
    let m = t.match_uri("kpi://reports/FY%2024/Ma%C3%AFz").unwrap();
    assert_eq!(m.get_str("year"), Some("FY 24"));
    assert_eq!(m.get_str("month"), Some("Maïz"));
    // Lowercase hex is accepted.
    let m = t.match_uri("kpi://reports/%2f/%e2%82%ac").unwrap();
    assert_eq!(m.get_str("year"), Some("/"));
    assert_eq!(m.get_str("month"), Some("€"));
    // Invalid escapes and invalid UTF-8 don't match.
    assert!(t.match_uri("kpi://reports/%G1/05").is_none());
    assert!(t.match_uri("kpi://reports/%2/05").is_none());
    assert!(t.match_uri("kpi://reports/%FF/05").is_none());
    // IRI leniency: raw non-ASCII is accepted inside values.
    let m = t.match_uri("kpi://reports/2024/mär").unwrap();
    assert_eq!(m.get_str("month"), Some("mär"));
    // A comma in a simple value means a list.
    let m = t.match_uri("kpi://reports/2023,2024/05").unwrap();
    assert_eq!(m.get("year"), Some(&list(&["2023", "2024"])));
}

#[test]
fn match_test_template_data() {
    let t = UriTemplate::parse("test://template/{id}/data").unwrap();
    assert_eq!(
        t.match_uri("test://template/123/data").map(Match::into_vec),
        Some(pairs(&[("id", s("123"))]))
    );
    assert_eq!(
        t.match_uri("test://template/a%2Fb/data")
            .unwrap()
            .get_str("id"),
        Some("a/b")
    );
    for bad in [
        "test://template/123/data/",
        "test://template/123/datax",
        "test://template/1/2/data",
        "test://template/123",
        "test://template/123/Data",
    ] {
        assert!(t.match_uri(bad).is_none(), "{bad}");
    }
    // Empty and undefined expand identically: an empty `{id}` is absent.
    let m = t.match_uri("test://template//data").unwrap();
    assert!(m.is_empty());
}

#[test]
fn match_users_with_query() {
    let t = UriTemplate::parse("https://api.example.com/users/{id}{?fields,page}").unwrap();
    let m = |uri: &str| t.match_uri(uri).map(Match::into_vec);
    assert_eq!(
        m("https://api.example.com/users/42"),
        Some(pairs(&[("id", s("42"))]))
    );
    assert_eq!(
        m("https://api.example.com/users/42?fields=name,email&page=2"),
        Some(pairs(&[
            ("id", s("42")),
            ("fields", list(&["name", "email"])),
            ("page", s("2")),
        ]))
    );
    // Any order, results in template order.
    assert_eq!(
        m("https://api.example.com/users/42?page=2&fields=name"),
        Some(pairs(&[
            ("id", s("42")),
            ("fields", s("name")),
            ("page", s("2"))
        ]))
    );
    assert_eq!(
        m("https://api.example.com/users/42?page=&fields"),
        Some(pairs(&[
            ("id", s("42")),
            ("fields", s("")),
            ("page", s(""))
        ]))
    );
    assert_eq!(
        m("https://api.example.com/users/j%C3%B6rg?fields=a%26b%3Dc"),
        Some(pairs(&[("id", s("jörg")), ("fields", s("a&b=c"))]))
    );
    for bad in [
        "https://api.example.com/users/42?other=1",
        "https://api.example.com/users/42?page=1&other=1",
        "https://api.example.com/users/42?page=1&page=2",
        "https://api.example.com/users/42?page=a=b",
        "https://api.example.com/users/42&page=1",
        "https://api.example.com/users/42/?page=1",
        "https://api.example.com/users/42#x",
        "https://api.example.com/users/?page=1/",
    ] {
        assert_eq!(m(bad), None, "{bad}");
    }
    // An empty `{id}` is indistinguishable from an undefined one.
    assert_eq!(m("https://api.example.com/users/"), Some(vec![]));
    // Round trip through expand.
    let vars = [
        ("id", s("a b")),
        ("fields", list(&["x", "y,z"])),
        ("page", s("7")),
    ];
    let uri = t.expand(&vars);
    assert_eq!(
        uri,
        "https://api.example.com/users/a%20b?fields=x,y%2Cz&page=7"
    );
    assert_eq!(
        m(&uri),
        Some(pairs(&[
            ("id", s("a b")),
            ("fields", list(&["x", "y,z"])),
            ("page", s("7")),
        ]))
    );
}

#[test]
fn match_repo_blob() {
    let t = UriTemplate::parse("repo://{owner}/{repo}/blob/{+path}").unwrap();
    let m = t
        .match_uri("repo://octo/hello-world/blob/src/lib/mod.rs")
        .unwrap();
    assert_eq!(
        m.into_vec(),
        pairs(&[
            ("owner", s("octo")),
            ("repo", s("hello-world")),
            ("path", s("src/lib/mod.rs")),
        ])
    );
    // `{+path}` may contain reserved characters, including '?' and '#'.
    let m = t.match_uri("repo://o/r/blob/a/b?c=d#e").unwrap();
    assert_eq!(m.get_str("path"), Some("a/b?c=d#e"));
    // Literal text after the owner/repo is checked.
    assert!(t.match_uri("repo://octo/hello/tree/src").is_none());
    assert!(t.match_uri("repo://octo/blob/src").is_none());
    assert!(t.match_uri("repo://octo/hello/blob/a b").is_none());
    // `{+path}` followed by a query expression stops at the first '?'.
    let t = UriTemplate::parse("repo://{owner}/{repo}/blob/{+path}{?ref}").unwrap();
    let m = t.match_uri("repo://o/r/blob/x/y.rs?ref=main").unwrap();
    assert_eq!(m.get_str("path"), Some("x/y.rs"));
    assert_eq!(m.get_str("ref"), Some("main"));
}

#[test]
fn match_reserved_with_literals() {
    // First occurrence of a middle literal, suffix for the last literal.
    let t = UriTemplate::parse("x:{+a}/mid/{+b}/end").unwrap();
    let m = t.match_uri("x:p/q/mid/r/mid/s/end/end").unwrap();
    assert_eq!(m.get_str("a"), Some("p/q"));
    assert_eq!(m.get_str("b"), Some("r/mid/s/end"));
    assert!(t.match_uri("x:p/q/r/end").is_none());
    // RFC examples are matched back.
    assert_eq!(
        matched("{+path}/here", "/foo/bar/here"),
        Some(pairs(&[("path", s("/foo/bar"))]))
    );
    assert_eq!(
        matched("here?ref={+path}", "here?ref=/foo/bar"),
        Some(pairs(&[("path", s("/foo/bar"))]))
    );
    assert_eq!(
        matched("{+base}index", "http://example.com/home/index"),
        Some(pairs(&[("base", s("http://example.com/home/"))]))
    );
    assert_eq!(
        matched("{#x,hello,y}", "#1024,Hello%20World!,768"),
        Some(pairs(&[
            ("x", s("1024")),
            ("hello", s("Hello World!")),
            ("y", s("768"))
        ]))
    );
    assert_eq!(
        matched("{#path:6}/here", "#/foo/b/here"),
        Some(pairs(&[("path", s("/foo/b"))]))
    );
    // The prefix length is enforced.
    assert_eq!(matched("{#path:6}/here", "#/foo/bar/here"), None);
}

#[test]
fn match_rfc_examples_back() {
    let cases: Vec<(&str, &str, Vars)> = vec![
        ("{var}", "value", pairs(&[("var", s("value"))])),
        (
            "{hello}",
            "Hello%20World%21",
            pairs(&[("hello", s("Hello World!"))]),
        ),
        ("{half}", "50%25", pairs(&[("half", s("50%"))])),
        ("O{empty}X", "OX", vec![]),
        (
            "map?{x,y}",
            "map?1024,768",
            pairs(&[("x", s("1024")), ("y", s("768"))]),
        ),
        (
            "?{x,empty}",
            "?1024,",
            pairs(&[("x", s("1024")), ("empty", s(""))]),
        ),
        ("{var:3}", "val", pairs(&[("var", s("val"))])),
        (
            "{list}",
            "red,green,blue",
            pairs(&[("list", list(&["red", "green", "blue"]))]),
        ),
        (
            "{list*}",
            "red,green,blue",
            pairs(&[("list", list(&["red", "green", "blue"]))]),
        ),
        (
            "{keys}",
            "semi,%3B,dot,.,comma,%2C",
            pairs(&[("keys", list(&["semi", ";", "dot", ".", "comma", ","]))]),
        ),
        (
            "{keys*}",
            "semi=%3B,dot=.,comma=%2C",
            pairs(&[("keys", map(&[("semi", ";"), ("dot", "."), ("comma", ",")]))]),
        ),
        ("X{.var}", "X.value", pairs(&[("var", s("value"))])),
        (
            "X{.x,y}",
            "X.1024.768",
            pairs(&[("x", s("1024")), ("y", s("768"))]),
        ),
        ("X{.empty}", "X.", pairs(&[("empty", s(""))])),
        ("X{.undef}", "X", vec![]),
        (
            "www{.dom*}",
            "www.example.com",
            pairs(&[("dom", list(&["example", "com"]))]),
        ),
        (
            "X{.list}",
            "X.red,green,blue",
            pairs(&[("list", list(&["red", "green", "blue"]))]),
        ),
        (
            "{/who,dub}",
            "/fred/me%2Ftoo",
            pairs(&[("who", s("fred")), ("dub", s("me/too"))]),
        ),
        (
            "{/var,empty}",
            "/value/",
            pairs(&[("var", s("value")), ("empty", s(""))]),
        ),
        (
            "{/var,x}/here",
            "/value/1024/here",
            pairs(&[("var", s("value")), ("x", s("1024"))]),
        ),
        ("{/var:1,var}", "/v/value", pairs(&[("var", s("value"))])),
        (
            "{/list*,path:4}",
            "/red/green/blue/%2Ffoo",
            pairs(&[
                ("list", list(&["red", "green", "blue"])),
                ("path", s("/foo")),
            ]),
        ),
        (
            "{/keys*}",
            "/semi=%3B/dot=./comma=%2C",
            pairs(&[("keys", map(&[("semi", ";"), ("dot", "."), ("comma", ",")]))]),
        ),
        (
            "{;v,empty,who}",
            ";v=6;empty;who=fred",
            pairs(&[("v", s("6")), ("empty", s("")), ("who", s("fred"))]),
        ),
        (
            "{;v,bar,who}",
            ";v=6;who=fred",
            pairs(&[("v", s("6")), ("who", s("fred"))]),
        ),
        (
            "{;hello:5}",
            ";hello=Hello",
            pairs(&[("hello", s("Hello"))]),
        ),
        (
            "{;list*}",
            ";list=red;list=green;list=blue",
            pairs(&[("list", list(&["red", "green", "blue"]))]),
        ),
        (
            "{;keys*}",
            ";semi=%3B;dot=.;comma=%2C",
            pairs(&[("keys", map(&[("semi", ";"), ("dot", "."), ("comma", ",")]))]),
        ),
        (
            "{?x,y,empty}",
            "?x=1024&y=768&empty=",
            pairs(&[("x", s("1024")), ("y", s("768")), ("empty", s(""))]),
        ),
        (
            "{?x,y,undef}",
            "?x=1024&y=768",
            pairs(&[("x", s("1024")), ("y", s("768"))]),
        ),
        (
            "{?list*}",
            "?list=red&list=green&list=blue",
            pairs(&[("list", list(&["red", "green", "blue"]))]),
        ),
        (
            "{?keys*}",
            "?semi=%3B&dot=.&comma=%2C",
            pairs(&[("keys", map(&[("semi", ";"), ("dot", "."), ("comma", ",")]))]),
        ),
        (
            "?fixed=yes{&x}",
            "?fixed=yes&x=1024",
            pairs(&[("x", s("1024"))]),
        ),
        (
            "{?x}{&y,empty}",
            "?x=1024&y=768&empty=",
            pairs(&[("x", s("1024")), ("y", s("768")), ("empty", s(""))]),
        ),
        (
            "{&keys}",
            "&keys=semi,%3B,dot,.,comma,%2C",
            pairs(&[("keys", list(&["semi", ";", "dot", ".", "comma", ","]))]),
        ),
    ];
    for (template, uri, expected) in cases {
        assert_eq!(matched(template, uri), Some(expected), "{template} ~ {uri}");
    }
}

#[test]
fn match_documented_ambiguities() {
    // Adjacent `{x}{y}`: the first takes the whole run.
    assert_eq!(matched("{x}{y}", "ab"), Some(pairs(&[("x", s("ab"))])));
    // `{x,y}` with one item: it is `x`.
    assert_eq!(matched("?{x,y}", "?768"), Some(pairs(&[("x", s("768"))])));
    // A one-element list looks like a string.
    assert_eq!(matched("{list}", "red"), Some(pairs(&[("list", s("red"))])));
    // Surplus items: a list for `{x}`, re-joined for `{.x}` and `{+x}`,
    // rejected for `{/x}`.
    assert_eq!(
        matched("{x}", "a,b"),
        Some(pairs(&[("x", list(&["a", "b"]))]))
    );
    assert_eq!(matched("X{.x}", "X.a.b"), Some(pairs(&[("x", s("a.b"))])));
    assert_eq!(matched("{+x}", "a,b"), Some(pairs(&[("x", s("a,b"))])));
    assert_eq!(matched("{/x}", "/a/b"), None);
    // Reserved keys lose their structure: `,` in values is a separator.
    assert_eq!(
        matched("{+keys*}", "semi=;,dot=.,comma=,"),
        Some(pairs(&[("keys", list(&["semi=;", "dot=.", "comma=", ""]))]))
    );
    // `{+path}{var}`: the reserved expression takes everything.
    assert_eq!(
        matched("up{+path}{var}/here", "up/foo/barvalue/here"),
        Some(pairs(&[("path", s("/foo/barvalue"))]))
    );
    // Repeated variables must agree.
    assert_eq!(matched("{x}/{x}", "a/a"), Some(pairs(&[("x", s("a"))])));
    assert_eq!(matched("{x}/{x}", "a/b"), None);
    assert_eq!(
        matched("{x:2}/{x}", "ab/abc"),
        Some(pairs(&[("x", s("abc"))]))
    );
    assert_eq!(matched("{x:2}/{x}", "ab/xbc"), None);
    // Prefix length is enforced.
    assert_eq!(matched("{x:2}", "abc"), None);
}

// ---------------------------------------------------------------------------
// Linear time
// ---------------------------------------------------------------------------

#[test]
fn long_uris_are_matched_in_linear_time() {
    const N: usize = 100_000;
    let t = UriTemplate::parse("big://{+a}/x/{+b}/y/{+c}{?q}").unwrap();

    // A matching URI with long values full of near-misses of the literals.
    let chunk = "/x-/y-/";
    let a = chunk.repeat(N / (3 * chunk.len()));
    let uri = format!("big://{a}/x/{a}/y/{a}?q=1");
    assert!(uri.len() > N / 2);
    let m = t.match_uri(&uri).expect("matches");
    assert_eq!(m.get_str("a").map(str::len), Some(a.len()));
    assert_eq!(m.get_str("q"), Some("1"));

    // No literal occurrence at all.
    let uri = format!("big://{}", "/".repeat(N));
    assert!(t.match_uri(&uri).is_none());
    let uri = format!("big://{}", "/x".repeat(N / 2));
    assert!(t.match_uri(&uri).is_none());

    // Many expressions, each scanning the long tail.
    let many = UriTemplate::parse("{a}-{+b}-{c}-{+d}-{e}-{+f}.{g}").unwrap();
    let uri = "a-".repeat(N / 2);
    let _ = many.match_uri(&uri);
    let uri = format!("{}.z", "-".repeat(N));
    let _ = many.match_uri(&uri);

    // Named operators with many items.
    let q = UriTemplate::parse("q:{?a*}").unwrap();
    let uri = format!("q:?{}", "a=1&".repeat(N / 4));
    assert!(q.match_uri(&uri).is_none()); // trailing empty item
    let uri = format!("q:?{}a=1", "a=1&".repeat(N / 4));
    let m = q.match_uri(&uri).unwrap();
    assert_eq!(
        m.get("a").and_then(Value::as_list).map(<[_]>::len),
        Some(N / 4 + 1)
    );
}

// ---------------------------------------------------------------------------
// Property tests: match_uri(expand(vars)) == vars
// ---------------------------------------------------------------------------
//
// Inverting RFC 6570 is ambiguous in general, so the generators only build
// templates and values for which the matching rules (see the module docs)
// recover the values exactly:
//
// * Every literal that follows an expression contains a "stopper" character
//   the expression cannot produce: `/`, `:`, `@` or `!` after `{x}`, `{.x}`,
//   `{;x}`, `{?x}`, `{&x}` (which only produce unreserved characters, `%XX`
//   and their own delimiters), `:`, `@` or `!` after `{/x}` (which produces
//   `/`), and `!` after `{+x}` / `{#x}`, whose values never contain `!`. So
//   the group end is the first character the group cannot produce (minus the
//   literal's unreserved prefix), or the first occurrence of the literal —
//   which cannot start earlier, since its stopper would then be earlier.
//   The last literal is a suffix of the URI in any case.
// * `{x}` and `{+x}` values are non-empty (an empty value expands like an
//   undefined one). Prefix-operator values (`.`, `/`, `;`, `?`, `&`) may be
//   empty since the operator character is still emitted.
// * Values are arbitrary Unicode (heavy on URI delimiters), percent-encoded
//   on expansion, except: `{.x}` values contain no `.` (unreserved, so it
//   would be indistinguishable from the separator); `{+x}`/`{#x}` values
//   contain no `!` (the stopper), no `?`/`#` (the expression may be followed
//   by `{?q}`, which starts at the first `?`) and no `%` (a `%XX` in such a
//   value is passed through and then decoded); `{+x}`/`{#x}` have a single
//   variable (their values may contain `,`).
// * Only named operators (`;`, `?`, `&`) have undefined variables: they are
//   matched by name. Positional multi-variable expressions are all defined.
// * Lists have non-empty elements, at least two for unexploded lists (a
//   one-element list is indistinguishable from a string). Maps are tested
//   separately, with keys that never equal a variable name.
// * The optional query tail `{?..}{&..}` follows either a literal or an
//   expression that cannot produce `?` (or stops at the first `?`). Named
//   exploded variables are never directly followed by `{?..}{&..}` (whose
//   items would look like map entries), and `{+x}`/`{#x}` directly followed
//   by the tail get no `{&..}` (with the `{?..}` part undefined, `x` would
//   run on over the `&`).

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Simple,
    Reserved,
    Fragment,
    Label,
    Path,
    Param,
    Query,
    Cont,
}

impl Kind {
    fn op(self) -> &'static str {
        match self {
            Kind::Simple => "",
            Kind::Reserved => "+",
            Kind::Fragment => "#",
            Kind::Label => ".",
            Kind::Path => "/",
            Kind::Param => ";",
            Kind::Query => "?",
            Kind::Cont => "&",
        }
    }

    fn named(self) -> bool {
        matches!(self, Kind::Param | Kind::Query | Kind::Cont)
    }
}

/// One varspec: its modifier, the value given to `expand` (None: undefined)
/// and the value expected back from `match_uri`.
#[derive(Debug, Clone)]
struct Spec {
    modifier: String,
    value: Option<Value>,
    expected: Option<Value>,
}

#[derive(Debug, Clone)]
struct Piece {
    kind: Kind,
    specs: Vec<Spec>,
    literal: String,
}

fn uri_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => any::<char>(),
        2 => proptest::sample::select(vec![
            '%', ',', '=', '/', '?', '&', '#', '.', ';', '!', ':', '@', '-', '_', '~', '+', '*',
            '\'', '(', ')', '[', ']', '$', ' ', 'a', 'Z', '0', 'é', '€', '\u{1F600}',
        ]),
    ]
}

fn text(exclude: &'static str, len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        uri_char().prop_filter("excluded", move |c| !exclude.contains(*c)),
        len,
    )
    .prop_map(String::from_iter)
}

fn strings(
    exclude: &'static str,
    min: usize,
    n: std::ops::Range<usize>,
) -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(text(exclude, min..8), n)
}

fn defined(v: Value) -> Spec {
    Spec {
        modifier: String::new(),
        expected: Some(v.clone()),
        value: Some(v),
    }
}

/// Strings for a positional expression, possibly with a prefix modifier.
fn positional_spec(exclude: &'static str, min: usize) -> impl Strategy<Value = Spec> {
    (text(exclude, min..8), proptest::option::of(1usize..5)).prop_map(|(v, prefix)| match prefix {
        Some(n) => Spec {
            modifier: format!(":{n}"),
            expected: Some(Value::String(v.chars().take(n).collect())),
            value: Some(Value::String(v)),
        },
        None => defined(Value::String(v)),
    })
}

fn exploded(v: Value) -> Spec {
    Spec {
        modifier: "*".into(),
        expected: Some(v.clone()),
        value: Some(v),
    }
}

fn piece_specs(kind: Kind) -> BoxedStrategy<Vec<Spec>> {
    match kind {
        Kind::Simple => prop_oneof![
            proptest::collection::vec(positional_spec("", 1), 1..4),
            strings("", 0, 2..5).prop_map(|l| vec![defined(Value::List(l))]),
            strings("", 1, 1..5).prop_map(|l| vec![exploded(Value::List(l))]),
        ]
        .boxed(),
        Kind::Reserved | Kind::Fragment => positional_spec("!?#%", 1).prop_map(|s| vec![s]).boxed(),
        Kind::Label => prop_oneof![
            proptest::collection::vec(positional_spec(".", 0), 1..4),
            strings(".", 0, 2..5).prop_map(|l| vec![defined(Value::List(l))]),
            strings(".", 0, 1..5).prop_map(|l| vec![exploded(Value::List(l))]),
        ]
        .boxed(),
        Kind::Path => prop_oneof![
            proptest::collection::vec(positional_spec("", 0), 1..4),
            strings("", 0, 2..5).prop_map(|l| vec![defined(Value::List(l))]),
            strings("", 0, 1..5).prop_map(|l| vec![exploded(Value::List(l))]),
            // An exploded list followed by a string (`{/list*,path:4}`).
            (strings("", 0, 1..4), positional_spec("", 0))
                .prop_map(|(l, s)| vec![exploded(Value::List(l)), s]),
        ]
        .boxed(),
        Kind::Param | Kind::Query | Kind::Cont => {
            let named_spec = prop_oneof![
                2 => positional_spec("", 0),
                1 => Just(Spec { modifier: String::new(), value: None, expected: None }),
                1 => strings("", 0, 2..4).prop_map(|l| defined(Value::List(l))),
                1 => strings("", 0, 1..4).prop_map(|l| exploded(Value::List(l))),
            ];
            proptest::collection::vec(named_spec, 1..4).boxed()
        }
    }
}

fn literal_after(kind: Kind) -> BoxedStrategy<String> {
    match kind {
        Kind::Reserved | Kind::Fragment => "[a-z]{0,2}![a-z/]{0,3}".boxed(),
        Kind::Path => "[a-z-]{0,2}[:@!][a-z/]{0,3}".boxed(),
        _ => "[a-z~-]{0,2}[/:@!][a-z/._]{0,3}".boxed(),
    }
}

fn piece() -> impl Strategy<Value = Piece> {
    proptest::sample::select(vec![
        Kind::Simple,
        Kind::Reserved,
        Kind::Fragment,
        Kind::Label,
        Kind::Path,
        Kind::Param,
        Kind::Query,
        Kind::Cont,
    ])
    .prop_flat_map(|kind| {
        (piece_specs(kind), literal_after(kind)).prop_map(move |(specs, literal)| Piece {
            kind,
            specs,
            literal,
        })
    })
}

/// A template, the variables to expand it with, and the expected match.
fn case() -> impl Strategy<Value = (String, Vars, Vars)> {
    (
        "([a-z]{1,5}://)?",
        proptest::collection::vec(piece(), 1..5),
        any::<bool>(),
        proptest::option::of((
            proptest::collection::vec(proptest::option::of(text("", 0..6)), 1..3),
            proptest::option::of(proptest::option::of(text("", 0..6))),
        )),
    )
        .prop_map(|(head, mut pieces, last_literal, tail)| {
            let last = pieces.len() - 1;
            let last_kind = pieces[last].kind;
            let last_named_explode =
                last_kind.named() && pieces[last].specs.iter().any(|s| s.modifier == "*");
            let adjacent = !(last_literal || tail.is_some() && last_named_explode);
            if adjacent {
                pieces[last].literal.clear();
            }
            // `{+x}{?q}{&c}` with `q` undefined: `x` only stops at a `?`.
            let reserved_before_tail =
                adjacent && matches!(last_kind, Kind::Reserved | Kind::Fragment);
            let tail = tail.map(|(q, c)| (q, c.filter(|_| !reserved_before_tail)));
            let mut template = head;
            let mut vars = Vec::new();
            let mut expected = Vec::new();
            for (i, p) in pieces.iter().enumerate() {
                template.push('{');
                template.push_str(p.kind.op());
                for (j, spec) in p.specs.iter().enumerate() {
                    let name = format!("v{i}_{j}");
                    if j > 0 {
                        template.push(',');
                    }
                    template.push_str(&name);
                    template.push_str(&spec.modifier);
                    if let Some(v) = &spec.value {
                        vars.push((name.clone(), v.clone()));
                    }
                    if let Some(v) = &spec.expected {
                        expected.push((name, v.clone()));
                    }
                }
                template.push('}');
                template.push_str(&p.literal);
            }
            if let Some((query, cont)) = tail {
                template.push_str("{?");
                for (j, v) in query.iter().enumerate() {
                    let name = format!("q{j}");
                    if j > 0 {
                        template.push(',');
                    }
                    template.push_str(&name);
                    if let Some(v) = v {
                        vars.push((name.clone(), Value::String(v.clone())));
                        expected.push((name, Value::String(v.clone())));
                    }
                }
                template.push('}');
                if let Some(c) = cont {
                    template.push_str("{&c}");
                    if let Some(v) = c {
                        vars.push(("c".into(), Value::String(v.clone())));
                        expected.push(("c".into(), Value::String(v)));
                    }
                }
            }
            (template, vars, expected)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn match_inverts_expand((template, vars, expected) in case()) {
        let t = UriTemplate::parse(&template).unwrap();
        let uri = t.expand(&vars);
        let got = t.match_uri(&uri).map(Match::into_vec);
        prop_assert_eq!(got, Some(expected), "template {} uri {}", template, uri);
    }

    #[test]
    fn exploded_maps_round_trip(
        op in proptest::sample::select(vec!["", ".", "/", ";", "?", "&"]),
        entries in proptest::collection::vec((text(".", 0..6), text(".", 0..6)), 1..5),
        prefix in "[a-z]{0,3}",
    ) {
        // Keys start with 'K' so they never equal the variable name; `.` is
        // excluded because `{.m*}` uses it as the separator.
        let entries: Vec<(String, String)> =
            entries.into_iter().map(|(k, v)| (format!("K{k}"), v)).collect();
        let t = UriTemplate::parse(&format!("{prefix}{{{op}m*}}")).unwrap();
        let uri = t.expand(&[("m", Value::Map(entries.clone()))]);
        let got = t.match_uri(&uri).map(Match::into_vec);
        prop_assert_eq!(got, Some(vec![("m".to_owned(), Value::Map(entries))]), "uri {}", uri);
    }

    #[test]
    fn expand_is_a_valid_uri_and_matching_never_panics(
        (template, vars, _expected) in case(),
        junk in "[a-z/?#&=,;.%0-9A-F!:@-]{0,24}",
    ) {
        let t = UriTemplate::parse(&template).unwrap();
        let uri = t.expand(&vars);
        // Expansions only contain URI characters.
        prop_assert!(uri.bytes().all(|b| b.is_ascii_graphic()
            && !b"\"<>\\^`{|}".contains(&b)), "{}", uri);
        let _ = t.match_uri(&junk);
        let _ = t.match_uri(&format!("{uri}{junk}"));
        let _ = t.match_uri(&format!("{junk}{uri}"));
        let cut = uri.len() / 2;
        let _ = t.match_uri(&uri[..cut]);
    }

    #[test]
    fn parse_never_panics(template in "[{}a-z+#./;?&=,!@|:*0-9% é]{0,16}") {
        if let Ok(t) = UriTemplate::parse(&template) {
            prop_assert_eq!(t.as_str(), template.as_str());
            let _ = t.expand(&[("a", "x")]);
        }
    }
}
