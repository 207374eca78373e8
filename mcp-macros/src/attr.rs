//! Parsing of `#[tool(...)]`, `#[resource(...)]`, `#[prompt(...)]`, `#[handlers(...)]` and
//! `#[arg(...)]`: every option is checked where it is written, and every error is collected.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, Ident, Lit, LitStr, Path, Token};

use crate::ast::Kind;
use crate::ctxt::Errors;

/// One comma-separated piece of an attribute: a literal, a flag, `key = value` or `key(...)`.
pub(crate) enum RawArg {
    Positional(LitStr),
    Flag(Ident),
    Value(Ident, Expr),
    List(Ident, Punctuated<RawArg, Token![,]>),
}

impl Parse for RawArg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(LitStr) {
            return input.parse().map(RawArg::Positional);
        }
        let key = input.call(Ident::parse_any)?;
        if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            Ok(RawArg::Value(key, input.parse()?))
        } else if input.peek(syn::token::Paren) {
            let content;
            syn::parenthesized!(content in input);
            Ok(RawArg::List(
                key,
                content.parse_terminated(RawArg::parse, Token![,])?,
            ))
        } else {
            Ok(RawArg::Flag(key))
        }
    }
}

impl RawArg {
    fn key(&self) -> Option<&Ident> {
        match self {
            RawArg::Positional(_) => None,
            RawArg::Flag(k) | RawArg::Value(k, _) | RawArg::List(k, _) => Some(k),
        }
    }
}

/// Parses the arguments of an attribute.
pub(crate) fn parse_args(tokens: TokenStream) -> syn::Result<Vec<RawArg>> {
    Ok(Punctuated::<RawArg, Token![,]>::parse_terminated
        .parse2(tokens)?
        .into_iter()
        .collect())
}

/// The options of `#[tool]`.
pub(crate) const TOOL_OPTIONS: &[&str] = &[
    "name",
    "title",
    "description",
    "read_only",
    "destructive",
    "idempotent",
    "open_world",
    "icons",
    "meta",
    "task_support",
    "defer_task",
    "blocking",
    "scopes",
    "roles",
    "approval",
    "rate_limit",
    "max_concurrency",
    "timeout",
    "max_argument_bytes",
    "max_result_bytes",
    "public",
    "raw_schema",
    "contract",
    "marker",
    "crate",
];

/// The options of `#[resource]`.
pub(crate) const RESOURCE_OPTIONS: &[&str] = &[
    "name",
    "title",
    "description",
    "mime_type",
    "size",
    "audience",
    "priority",
    "icons",
    "meta",
    "complete",
    "blocking",
    "scopes",
    "roles",
    "approval",
    "rate_limit",
    "max_concurrency",
    "timeout",
    "max_argument_bytes",
    "max_result_bytes",
    "public",
    "marker",
    "crate",
];

/// The options of `#[prompt]`.
pub(crate) const PROMPT_OPTIONS: &[&str] = &[
    "name",
    "title",
    "description",
    "icons",
    "meta",
    "complete",
    "blocking",
    "scopes",
    "roles",
    "approval",
    "rate_limit",
    "max_concurrency",
    "timeout",
    "max_argument_bytes",
    "max_result_bytes",
    "public",
    "marker",
    "crate",
];

const ARG_OPTIONS: &[&str] = &["rename", "description", "default", "sensitive", "flatten"];

const HANDLERS_OPTIONS: &[&str] = &["crate"];

fn one_of(options: &[&str]) -> String {
    let quoted: Vec<String> = options.iter().map(|o| format!("`{o}`")).collect();
    quoted.join(", ")
}

/// The valid option closest to a mistyped one, if one is close: compared without case, `_` and
/// `-` (`readOnly`, `readonly` → `read_only`), then by Damerau-Levenshtein distance, at most a
/// third of the option's length (at least 1).
pub(crate) fn closest<'a>(key: &str, options: &[&'a str]) -> Option<&'a str> {
    let normal = |s: &str| s.to_ascii_lowercase().replace(['_', '-'], "");
    let key = normal(key);
    options
        .iter()
        .map(|o| (strsim::damerau_levenshtein(&key, &normal(o)), *o))
        .filter(|(distance, o)| *distance <= (o.len() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, o)| o)
}

/// "unknown `#[tool]` option `readonly`; did you mean `read_only`?", or the list of options
/// when none is close. `context` follows the attribute's name (" in a `#[client]` trait").
pub(crate) fn unknown_option(attr: &str, context: &str, key: &str, options: &[&str]) -> String {
    match closest(key, options) {
        Some(option) => {
            format!("unknown `{attr}` option `{key}`{context}; did you mean `{option}`?")
        }
        None if options.len() == 1 => {
            format!(
                "unknown `{attr}` option `{key}`{context}; expected `{}`",
                options[0]
            )
        }
        None => format!(
            "unknown `{attr}` option `{key}`{context}; expected one of {}",
            one_of(options)
        ),
    }
}

/// An unknown option of an item macro: the closest of its own, else where the option belongs
/// when another item macro has it (`#[prompt(read_only)]`), else the list.
fn unknown_item_option(kind: Kind, key: &str) -> String {
    let options = kind_options(kind);
    if closest(key, options).is_none() {
        let other = [Kind::Tool, Kind::Resource, Kind::Prompt]
            .into_iter()
            .filter(|k| *k != kind)
            .find(|k| kind_options(*k).contains(&key));
        if let Some(other) = other {
            return format!(
                "`{key}` is an option of `{}`, not of `{}`; expected one of {}",
                other.attr(),
                kind.attr(),
                one_of(options)
            );
        }
    }
    unknown_option(kind.attr(), "", key, options)
}

fn kind_options(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Tool => TOOL_OPTIONS,
        Kind::Resource => RESOURCE_OPTIONS,
        Kind::Prompt => PROMPT_OPTIONS,
    }
}

/// Icons: literal `src`s, or a function returning `Vec<Icon>`.
pub(crate) enum Icons {
    Srcs(Vec<LitStr>),
    Fn(Path),
}

/// `approval = "..."`.
#[derive(Default, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ApprovalAttr {
    #[default]
    None,
    Required,
    OutOfBand,
}

/// The declared policy.
#[derive(Default)]
pub(crate) struct PolicyAttr {
    /// Whether any policy option was given.
    pub(crate) declared: bool,
    pub(crate) scopes: Vec<LitStr>,
    pub(crate) scopes_key: Option<Ident>,
    pub(crate) roles: Vec<LitStr>,
    pub(crate) roles_key: Option<Ident>,
    pub(crate) approval: ApprovalAttr,
    /// Requests per that many seconds.
    pub(crate) rate_limit: Option<(u32, u64)>,
    pub(crate) max_concurrency: Option<u32>,
    pub(crate) timeout_ms: Option<u64>,
    pub(crate) max_argument_bytes: Option<usize>,
    pub(crate) max_result_bytes: Option<usize>,
    pub(crate) public: Option<Ident>,
}

/// Everything an item attribute may say. Which options a macro accepts is checked by name.
pub(crate) struct ItemAttr {
    pub(crate) kind: Kind,
    pub(crate) uri: Option<LitStr>,
    pub(crate) name: Option<LitStr>,
    pub(crate) title: Option<LitStr>,
    pub(crate) description: Option<LitStr>,
    pub(crate) read_only: Option<bool>,
    pub(crate) destructive: Option<bool>,
    pub(crate) idempotent: Option<bool>,
    pub(crate) open_world: Option<bool>,
    pub(crate) icons: Option<Icons>,
    pub(crate) meta: Option<Path>,
    pub(crate) task_support: Option<LitStr>,
    pub(crate) defer_task: bool,
    /// `blocking`: a sync function run on the blocking pool.
    pub(crate) blocking: Option<Ident>,
    pub(crate) mime_type: Option<LitStr>,
    pub(crate) size: Option<u64>,
    pub(crate) audience: Vec<LitStr>,
    pub(crate) priority: Option<f64>,
    pub(crate) complete: Vec<(Ident, Path)>,
    pub(crate) policy: PolicyAttr,
    pub(crate) raw_schema: bool,
    /// `contract = path`: a `ToolContract` declared elsewhere that the tool agrees with.
    pub(crate) contract: Option<Path>,
    pub(crate) marker: Option<Ident>,
    pub(crate) krate: Option<Path>,
}

impl ItemAttr {
    fn new(kind: Kind) -> Self {
        ItemAttr {
            kind,
            uri: None,
            name: None,
            title: None,
            description: None,
            read_only: None,
            destructive: None,
            idempotent: None,
            open_world: None,
            icons: None,
            meta: None,
            task_support: None,
            defer_task: false,
            blocking: None,
            mime_type: None,
            size: None,
            audience: Vec::new(),
            priority: None,
            complete: Vec::new(),
            policy: PolicyAttr::default(),
            raw_schema: false,
            contract: None,
            marker: None,
            krate: None,
        }
    }
}

/// Reads typed values out of `key = value` pairs, recording what is wrong with them.
struct Reader<'a> {
    attr: &'static str,
    errors: &'a mut Errors,
}

impl Reader<'_> {
    fn expected(&mut self, tokens: impl ToTokens, key: &Ident, what: &str) {
        let attr = self.attr;
        self.errors
            .on(tokens, format!("`{attr}` option `{key}` expects {what}"));
    }

    fn value<'v>(&mut self, arg: &'v RawArg, what: &str) -> Option<&'v Expr> {
        match arg {
            RawArg::Value(_, e) => Some(e),
            RawArg::Flag(k) | RawArg::List(k, _) => {
                self.expected(k, k, what);
                None
            }
            RawArg::Positional(_) => None,
        }
    }

    fn string(&mut self, arg: &RawArg) -> Option<LitStr> {
        let key = arg.key()?;
        let what = format!("a string: `{key} = \"...\"`");
        match self.value(arg, &what)? {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => Some(s.clone()),
            other => {
                self.expected(other, key, &what);
                None
            }
        }
    }

    fn flag(&mut self, arg: &RawArg) -> Option<bool> {
        match arg {
            RawArg::Flag(_) => Some(true),
            RawArg::Value(
                _,
                Expr::Lit(ExprLit {
                    lit: Lit::Bool(b), ..
                }),
            ) => Some(b.value),
            RawArg::Value(key, other) => {
                let what = format!("nothing or a boolean: `{key}` or `{key} = false`");
                self.expected(other, key, &what);
                None
            }
            RawArg::List(key, _) => {
                let what = format!("nothing or a boolean: `{key}` or `{key} = false`");
                self.expected(key, key, &what);
                None
            }
            RawArg::Positional(_) => None,
        }
    }

    fn int<N: std::str::FromStr>(&mut self, arg: &RawArg, range: &str) -> Option<N>
    where
        N::Err: std::fmt::Display,
    {
        let key = arg.key()?;
        let what = format!("an integer {range}: `{key} = 10`");
        match self.value(arg, &what)? {
            Expr::Lit(ExprLit {
                lit: Lit::Int(i), ..
            }) => match i.base10_parse::<N>() {
                Ok(n) => Some(n),
                Err(e) => {
                    self.errors.on(i, format!("invalid `{key}`: {e}"));
                    None
                }
            },
            other => {
                self.expected(other, key, &what);
                None
            }
        }
    }

    fn strings(&mut self, arg: &RawArg) -> Option<Vec<LitStr>> {
        let key = arg.key()?;
        let what = format!("a list of strings: `{key} = [\"...\", \"...\"]`");
        match self.value(arg, &what)? {
            Expr::Array(array) => {
                let mut out = Vec::new();
                for element in &array.elems {
                    match element {
                        Expr::Lit(ExprLit {
                            lit: Lit::Str(s), ..
                        }) => out.push(s.clone()),
                        other => self.expected(other, key, &what),
                    }
                }
                Some(out)
            }
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => Some(vec![s.clone()]),
            other => {
                self.expected(other, key, &what);
                None
            }
        }
    }

    fn path(&mut self, arg: &RawArg, what: &str) -> Option<Path> {
        let key = arg.key()?;
        match self.value(arg, what)? {
            Expr::Path(p) if p.qself.is_none() => Some(p.path.clone()),
            other => {
                self.expected(other, key, what);
                None
            }
        }
    }
}

/// Parses an item attribute. `kind` picks the accepted options.
pub(crate) fn item_attr(kind: Kind, args: Vec<RawArg>, errors: &mut Errors) -> ItemAttr {
    let attr_name = kind.attr();
    let options = match kind {
        Kind::Tool => TOOL_OPTIONS,
        Kind::Resource => RESOURCE_OPTIONS,
        Kind::Prompt => PROMPT_OPTIONS,
    };
    let mut out = ItemAttr::new(kind);
    let mut seen: Vec<String> = Vec::new();
    let mut r = Reader {
        attr: attr_name,
        errors,
    };
    for (i, arg) in args.iter().enumerate() {
        let key = match arg {
            RawArg::Positional(lit) => {
                if kind == Kind::Resource && i == 0 {
                    out.uri = Some(lit.clone());
                } else if kind == Kind::Resource {
                    r.errors.on(
                        lit,
                        "the URI of a `#[resource]` comes first: `#[resource(\"scheme://...\", ...)]`",
                    );
                } else {
                    r.errors.on(
                        lit,
                        format!(
                            "`{attr_name}` takes no positional argument; for a name, write `name = {}`",
                            lit.to_token_stream()
                        ),
                    );
                }
                continue;
            }
            other => other.key().expect("named"),
        };
        let key_str = key.unraw().to_string();
        if !options.contains(&key_str.as_str()) {
            r.errors.on(key, unknown_item_option(kind, &key_str));
            continue;
        }
        if seen.contains(&key_str) {
            r.errors
                .on(key, format!("duplicate `{attr_name}` option `{key_str}`"));
            continue;
        }
        seen.push(key_str.clone());
        let policy = &mut out.policy;
        match key_str.as_str() {
            "name" => {
                out.name = r.string(arg);
                if let (Kind::Tool, Some(name)) = (kind, &out.name)
                    && let Err(e) = validate_tool_name(&name.value())
                {
                    r.errors.on(name, format!("invalid tool name: {e}"));
                }
            }
            "title" => out.title = r.string(arg),
            "description" => out.description = r.string(arg),
            "read_only" => out.read_only = r.flag(arg),
            "destructive" => out.destructive = r.flag(arg),
            "idempotent" => out.idempotent = r.flag(arg),
            "open_world" => out.open_world = r.flag(arg),
            "raw_schema" => out.raw_schema = r.flag(arg).unwrap_or(false),
            "defer_task" => out.defer_task = r.flag(arg).unwrap_or(false),
            "blocking" => {
                if r.flag(arg).unwrap_or(false) {
                    out.blocking = Some(key.clone());
                }
            }
            "icons" => {
                out.icons = match arg {
                    RawArg::Value(_, Expr::Path(_)) => r
                        .path(arg, "a function returning `Vec<Icon>`")
                        .map(Icons::Fn),
                    _ => r.strings(arg).map(Icons::Srcs),
                }
            }
            "meta" => {
                out.meta = r.path(
                    arg,
                    "the path of a function returning `Meta`: `meta = my_meta`",
                )
            }
            "task_support" => {
                if let Some(s) = r.string(arg) {
                    if matches!(s.value().as_str(), "forbidden" | "optional" | "required") {
                        out.task_support = Some(s);
                    } else {
                        r.errors.on(
                            &s,
                            format!(
                                "invalid `task_support` {:?}; expected one of \"forbidden\", \"optional\", \"required\"",
                                s.value()
                            ),
                        );
                    }
                }
            }
            "mime_type" => out.mime_type = r.string(arg),
            "size" => out.size = r.int(arg, "(bytes)"),
            "audience" => {
                for role in r.strings(arg).unwrap_or_default() {
                    if matches!(role.value().as_str(), "user" | "assistant") {
                        out.audience.push(role);
                    } else {
                        r.errors.on(
                            &role,
                            format!(
                                "invalid `audience` {:?}; expected \"user\" or \"assistant\"",
                                role.value()
                            ),
                        );
                    }
                }
            }
            "priority" => {
                let what = "a number from 0 to 1: `priority = 0.5`";
                let value = r.value(arg, what).cloned();
                let parsed = match &value {
                    Some(Expr::Lit(ExprLit {
                        lit: Lit::Float(f), ..
                    })) => f.base10_parse::<f64>().ok(),
                    Some(Expr::Lit(ExprLit {
                        lit: Lit::Int(i), ..
                    })) => i.base10_parse::<f64>().ok(),
                    _ => None,
                };
                match (parsed, value) {
                    (Some(p), _) if (0.0..=1.0).contains(&p) => out.priority = Some(p),
                    (_, Some(v)) => r.expected(v, key, what),
                    _ => {}
                }
            }
            "complete" => match arg {
                RawArg::List(_, list) => {
                    for entry in list {
                        match entry {
                            RawArg::Value(var, Expr::Path(p)) if p.qself.is_none() => {
                                if out.complete.iter().any(|(v, _)| v == var) {
                                    r.errors
                                        .on(var, format!("duplicate completion for `{var}`"));
                                } else {
                                    out.complete.push((var.clone(), p.path.clone()));
                                }
                            }
                            other => {
                                let tokens = match other {
                                    RawArg::Positional(l) => l.to_token_stream(),
                                    RawArg::Flag(k) => k.to_token_stream(),
                                    RawArg::Value(_, e) => e.to_token_stream(),
                                    RawArg::List(k, _) => k.to_token_stream(),
                                };
                                r.errors.on(
                                    tokens,
                                    "`complete(...)` expects `name = path::to::function` pairs",
                                );
                            }
                        }
                    }
                }
                _ => r.expected(
                    key,
                    key,
                    "a list: `complete(name = path::to::function, ...)`",
                ),
            },
            "scopes" => {
                policy.declared = true;
                policy.scopes = r.strings(arg).unwrap_or_default();
                policy.scopes_key = Some(key.clone());
            }
            "roles" => {
                policy.declared = true;
                policy.roles = r.strings(arg).unwrap_or_default();
                policy.roles_key = Some(key.clone());
            }
            "approval" => {
                policy.declared = true;
                if let Some(s) = r.string(arg) {
                    match s.value().as_str() {
                        "required" => policy.approval = ApprovalAttr::Required,
                        "out_of_band" => policy.approval = ApprovalAttr::OutOfBand,
                        "none" => policy.approval = ApprovalAttr::None,
                        v => r.errors.on(
                            &s,
                            format!(
                                "invalid `approval` {v:?}; expected \"required\", \"out_of_band\" \
                                 or \"none\""
                            ),
                        ),
                    }
                }
            }
            "rate_limit" => {
                policy.declared = true;
                if let Some(s) = r.string(arg) {
                    match parse_rate_limit(&s.value()) {
                        Some(limit) => policy.rate_limit = Some(limit),
                        None => r.errors.on(
                            &s,
                            format!(
                                "invalid `rate_limit` {:?}; expected requests per period, like \"10/s\", \"100/min\", \"1000/h\" or \"5/day\"",
                                s.value()
                            ),
                        ),
                    }
                }
            }
            "max_concurrency" => {
                policy.declared = true;
                policy.max_concurrency = r.int(arg, "(calls at once)");
            }
            "timeout" => {
                policy.declared = true;
                if let Some(s) = r.string(arg) {
                    match parse_duration_ms(&s.value()) {
                        Some(ms) => policy.timeout_ms = Some(ms),
                        None => r.errors.on(
                            &s,
                            format!(
                                "invalid `timeout` {:?}; expected a positive number and a unit, like \"500ms\", \"30s\", \"5min\" or \"1h\"",
                                s.value()
                            ),
                        ),
                    }
                }
            }
            "max_argument_bytes" => {
                policy.declared = true;
                policy.max_argument_bytes = r.int(arg, "(bytes)");
            }
            "max_result_bytes" => {
                policy.declared = true;
                policy.max_result_bytes = r.int(arg, "(bytes)");
            }
            "public" => {
                if r.flag(arg).unwrap_or(false) {
                    policy.declared = true;
                    policy.public = Some(key.clone());
                }
            }
            "contract" => {
                out.contract = r.path(
                    arg,
                    "a path to a `ToolContract` type: `contract = contracts::Add`",
                )
            }
            "marker" => {
                out.marker = match arg {
                    RawArg::Value(_, Expr::Path(p)) if p.qself.is_none() => {
                        match p.path.get_ident() {
                            Some(ident) => Some(ident.clone()),
                            None => {
                                r.expected(p, key, "a type name: `marker = MyTool`");
                                None
                            }
                        }
                    }
                    _ => {
                        r.path(arg, "a type name: `marker = MyTool`");
                        None
                    }
                }
            }
            "crate" => out.krate = crate_path(&mut r, arg),
            _ => unreachable!("every option is handled"),
        }
    }
    out
}

fn crate_path(r: &mut Reader<'_>, arg: &RawArg) -> Option<Path> {
    let lit = r.string(arg)?;
    match lit.parse_with(Path::parse_mod_style) {
        Ok(path) => Some(path),
        Err(_) => {
            r.errors.on(
                &lit,
                format!(
                    "invalid `crate` path {:?}; expected a path like \"my_sdk::mcp_server\"",
                    lit.value()
                ),
            );
            None
        }
    }
}

/// Parses `#[handlers(...)]`: only `crate`.
pub(crate) fn handlers_attr(args: Vec<RawArg>, errors: &mut Errors) -> Option<Path> {
    crate_only_attr("#[handlers]", args, errors)
}

/// Parses `#[client(...)]`: only `crate`.
pub(crate) fn client_attr(args: Vec<RawArg>, errors: &mut Errors) -> Option<Path> {
    crate_only_attr("#[client]", args, errors)
}

/// The options of `#[tool]` on a method of a `#[client]` trait.
const CLIENT_TOOL_OPTIONS: &[&str] = &["name"];

/// Parses `#[tool(...)]` on a method of a `#[client]` trait: only `name`, validated.
pub(crate) fn client_tool_attr(args: Vec<RawArg>, errors: &mut Errors) -> Option<LitStr> {
    let mut name = None;
    let mut r = Reader {
        attr: "#[tool]",
        errors,
    };
    for arg in &args {
        match arg.key() {
            Some(key) if key == "name" && name.is_none() => {
                name = r.string(arg);
                if let Some(lit) = &name
                    && let Err(e) = validate_tool_name(&lit.value())
                {
                    r.errors.on(lit, format!("invalid tool name: {e}"));
                }
            }
            Some(key) if key == "name" => r.errors.on(key, "duplicate `#[tool]` option `name`"),
            Some(key) => r.errors.on(
                key,
                unknown_option(
                    "#[tool]",
                    " in a `#[client]` trait",
                    &key.unraw().to_string(),
                    CLIENT_TOOL_OPTIONS,
                ),
            ),
            None => {
                if let RawArg::Positional(lit) = arg {
                    r.errors.on(
                        lit,
                        format!(
                            "`#[tool]` takes no positional argument; for a name, write `name = {}`",
                            lit.to_token_stream()
                        ),
                    );
                }
            }
        }
    }
    name
}

fn crate_only_attr(attr: &'static str, args: Vec<RawArg>, errors: &mut Errors) -> Option<Path> {
    let mut krate = None;
    let mut r = Reader { attr, errors };
    for arg in &args {
        match arg.key() {
            Some(key) if key == "crate" && krate.is_none() => krate = crate_path(&mut r, arg),
            Some(key) if key == "crate" => r
                .errors
                .on(key, format!("duplicate `{attr}` option `crate`")),
            Some(key) => r.errors.on(
                key,
                unknown_option(attr, "", &key.unraw().to_string(), HANDLERS_OPTIONS),
            ),
            None => {
                if let RawArg::Positional(lit) = arg {
                    r.errors
                        .on(lit, format!("`{attr}` takes no positional argument"));
                }
            }
        }
    }
    krate
}

/// What `#[arg(...)]` says about a parameter.
#[derive(Default)]
pub(crate) struct ArgAttr {
    pub(crate) rename: Option<LitStr>,
    pub(crate) description: Option<LitStr>,
    /// `Some(None)` for `default`, `Some(Some(expr))` for `default = expr`.
    pub(crate) default: Option<Option<Expr>>,
    pub(crate) sensitive: bool,
    /// `flatten`: the fields of the parameter's struct are top-level arguments.
    pub(crate) flatten: Option<Span>,
    /// The `#[arg]` attribute, for errors about it.
    pub(crate) span: Option<Span>,
}

/// Adds the options of one `#[arg(...)]` to `out`.
pub(crate) fn arg_attr(tokens: TokenStream, out: &mut ArgAttr, errors: &mut Errors) {
    let args = match parse_args(tokens) {
        Ok(args) => args,
        Err(e) => {
            errors.push(e);
            return;
        }
    };
    let mut r = Reader {
        attr: "#[arg]",
        errors,
    };
    for arg in &args {
        let Some(key) = arg.key() else {
            if let RawArg::Positional(lit) = arg {
                r.errors.on(
                    lit,
                    "`#[arg]` takes options; for a name, write `#[arg(rename = \"...\")]`",
                );
            }
            continue;
        };
        let key_str = key.unraw().to_string();
        let duplicate = match key_str.as_str() {
            "rename" => out.rename.is_some(),
            "description" => out.description.is_some(),
            "default" => out.default.is_some(),
            "sensitive" => out.sensitive,
            "flatten" => out.flatten.is_some(),
            _ => {
                r.errors
                    .on(key, unknown_option("#[arg]", "", &key_str, ARG_OPTIONS));
                continue;
            }
        };
        if duplicate {
            r.errors
                .on(key, format!("duplicate `#[arg]` option `{key_str}`"));
            continue;
        }
        match (key_str.as_str(), arg) {
            ("rename", _) => out.rename = r.string(arg),
            ("description", _) => out.description = r.string(arg),
            ("default", RawArg::Flag(_)) => out.default = Some(None),
            ("default", RawArg::Value(_, e)) => out.default = Some(Some(e.clone())),
            ("default", _) => r.expected(
                key,
                key,
                "nothing (`Default::default()`) or a value: `default = 10`",
            ),
            ("sensitive", _) => out.sensitive = r.flag(arg).unwrap_or(false),
            ("flatten", _) => {
                if r.flag(arg).unwrap_or(false) {
                    out.flatten = Some(key.span());
                }
            }
            _ => unreachable!("every option is handled"),
        }
    }
}

/// The rules of `mcp_core::types::validate_tool_name`: 1 to 128 of `[A-Za-z0-9_.-]`.
pub(crate) fn validate_tool_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a tool name cannot be empty".into());
    }
    if let Some((i, c)) = name
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(format!(
            "a tool name may only use `A-Z`, `a-z`, `0-9`, `_`, `-` and `.`; found {c:?} at byte {i}"
        ));
    }
    if name.len() > 128 {
        return Err(format!(
            "a tool name has at most 128 characters; this one has {}",
            name.len()
        ));
    }
    Ok(())
}

/// The grammar of `mcp_server::RateLimit::parse`: requests per period in seconds.
pub(crate) fn parse_rate_limit(s: &str) -> Option<(u32, u64)> {
    let (n, unit) = s.split_once('/')?;
    let requests: u32 = n.trim().parse().ok().filter(|n| *n > 0)?;
    let per = match unit.trim() {
        "s" | "sec" | "second" => 1,
        "m" | "min" | "minute" => 60,
        "h" | "hour" => 3600,
        "d" | "day" => 86_400,
        _ => return None,
    };
    Some((requests, per))
}

/// `"500ms"`, `"30s"`, `"5min"`, `"1h"` in milliseconds; zero is not a timeout.
pub(crate) fn parse_duration_ms(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok().filter(|n| *n > 0)?;
    let factor = match unit.trim() {
        "ms" => 1,
        "s" => 1000,
        "min" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits() {
        assert_eq!(parse_rate_limit("10/min"), Some((10, 60)));
        assert_eq!(parse_rate_limit(" 5 / day "), Some((5, 86_400)));
        assert_eq!(parse_rate_limit("0/s"), None);
        assert_eq!(parse_rate_limit("10/fortnight"), None);
        assert_eq!(parse_rate_limit("ten/s"), None);
        assert_eq!(parse_rate_limit("10"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("500ms"), Some(500));
        assert_eq!(parse_duration_ms("30s"), Some(30_000));
        assert_eq!(parse_duration_ms("5min"), Some(300_000));
        assert_eq!(parse_duration_ms("1h"), Some(3_600_000));
        assert_eq!(parse_duration_ms("0s"), None);
        assert_eq!(parse_duration_ms("30"), None);
        assert_eq!(parse_duration_ms("30 secs"), None);
        assert_eq!(parse_duration_ms("s"), None);
    }

    #[test]
    fn suggestions() {
        assert_eq!(closest("readonly", TOOL_OPTIONS), Some("read_only"));
        assert_eq!(closest("readOnly", TOOL_OPTIONS), Some("read_only"));
        assert_eq!(closest("descripton", TOOL_OPTIONS), Some("description"));
        assert_eq!(closest("ratelimit", TOOL_OPTIONS), Some("rate_limit"));
        assert_eq!(closest("timout", PROMPT_OPTIONS), Some("timeout"));
        assert_eq!(closest("mimetype", RESOURCE_OPTIONS), Some("mime_type"));
        assert_eq!(closest("renam", ARG_OPTIONS), Some("rename"));
        assert_eq!(closest("flaten", ARG_OPTIONS), Some("flatten"));
        assert_eq!(closest("crat", HANDLERS_OPTIONS), Some("crate"));
        assert_eq!(closest("nmae", CLIENT_TOOL_OPTIONS), Some("name"));
        // Nothing close: no guess.
        assert_eq!(closest("colour", TOOL_OPTIONS), None);
        assert_eq!(closest("title", CLIENT_TOOL_OPTIONS), None);
        assert_eq!(
            unknown_option("#[tool]", "", "readonly", TOOL_OPTIONS),
            "unknown `#[tool]` option `readonly`; did you mean `read_only`?"
        );
        assert_eq!(
            unknown_option("#[handlers]", "", "name", HANDLERS_OPTIONS),
            "unknown `#[handlers]` option `name`; expected `crate`"
        );
        assert!(unknown_item_option(Kind::Prompt, "read_only").starts_with(
            "`read_only` is an option of `#[tool]`, not of `#[prompt]`; expected one of `name`"
        ));
    }

    #[test]
    fn tool_names() {
        assert!(validate_tool_name("get_weather.v2-beta").is_ok());
        assert!(validate_tool_name("").is_err());
        assert!(validate_tool_name("my tool").is_err());
        assert!(validate_tool_name(&"x".repeat(129)).is_err());
        assert!(validate_tool_name(&"x".repeat(128)).is_ok());
    }
}
