//! Checks across options and the signature: what the protocol or the generated code cannot take,
//! reported at the smallest wrong token.

use quote::ToTokens;
use syn::{Signature, Type};

use crate::ast::{Function, Kind};
use crate::attr::{ItemAttr, validate_tool_name};
use crate::ctxt::Errors;
use crate::template::{self, Variable};

/// Where the function is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// A free function.
    Free,
    /// A method of a `#[handlers]` impl block.
    Method,
}

/// What the expansion needs that checking found out.
#[derive(Default)]
pub(crate) struct Checked {
    /// The variables of a resource's URI template; empty for a fixed URI.
    pub(crate) variables: Vec<Variable>,
    /// Whether a resource's URI is a template.
    pub(crate) template: bool,
}

/// Checks a function against its attribute. Returns `false` when no dummy marker may be
/// emitted next to it (a method outside `#[handlers]`: an item there would add errors).
pub(crate) fn function(
    attr: &ItemAttr,
    sig: &Signature,
    f: &Function,
    place: Place,
    errors: &mut Errors,
) -> (Checked, bool) {
    let macro_name = attr.kind.attr();
    let mut dummy_allowed = true;

    if !sig.generics.params.is_empty() {
        errors.on(
            &sig.generics,
            format!(
                "`{macro_name}` functions cannot be generic; the schema and the handler are built for concrete types"
            ),
        );
    } else if let Some(w) = &sig.generics.where_clause {
        errors.on(
            w,
            format!("`{macro_name}` functions cannot have a `where` clause"),
        );
    }
    if let Some(u) = &sig.unsafety {
        errors.on(u, format!("`{macro_name}` functions cannot be `unsafe`"));
    }
    if let Some(v) = &sig.variadic {
        errors.on(v, format!("`{macro_name}` functions cannot be variadic"));
    }
    if let Type::ImplTrait(t) = &f.output {
        errors.on(
            t,
            format!(
                "`{macro_name}` needs a return type it can name; write the type instead of `impl Trait`"
            ),
        );
    }
    if place == Place::Free
        && let Some(token) = &f.self_token
    {
        errors.on(
            token,
            format!("`{macro_name}` on a method needs `#[mcp_server::handlers]` on its impl block"),
        );
        dummy_allowed = false;
    }
    if let Some(contract) = &attr.contract
        && !f.params.iter().any(|p| p.args.is_some())
        && f.params.iter().any(|p| !p.injected())
    {
        errors.on(
            contract,
            "a tool with `contract = ...` takes its arguments as one `#[args]` parameter of the contract's input type",
        );
    }
    if let Some(blocking) = &attr.blocking
        && f.asyncness
    {
        errors.on(
            blocking,
            format!(
                "`blocking` runs a synchronous function on the blocking pool, and `{}` is `async`; remove `blocking` (an `async fn` awaits without holding a worker), or make the function synchronous",
                f.ident
            ),
        );
    }
    let mut args_seen = false;
    for (i, p) in f.params.iter().enumerate() {
        if let Type::ImplTrait(t) = &p.ty {
            errors.on(
                t,
                format!("`{macro_name}` parameters cannot be `impl Trait`; write the type"),
            );
        }
        if let Type::Reference(r) = &p.ty {
            let owned = match &*r.elem {
                Type::Path(e) if e.path.is_ident("str") => "String".to_owned(),
                Type::Slice(e) => format!("Vec<{}>", e.elem.to_token_stream()),
                other => other.to_token_stream().to_string(),
            };
            errors.on(
                r,
                format!(
                    "`{macro_name}` parameters are owned values, made from the request; take `{owned}` instead of a reference"
                ),
            );
            continue;
        }
        if let Some(ctx) = p.ctx {
            if let Some(span) = p.arg.span.or(p.args) {
                errors.at(
                    span,
                    "a parameter is either injected (`#[ctx]`) or an argument (`#[arg]`, `#[args]`), not both",
                );
                continue;
            }
            if attr.kind == Kind::Resource {
                errors.at(
                    ctx,
                    "`#[ctx]` is for `#[tool]` and `#[prompt]` parameters; a resource injects every parameter that is not a variable of its URI template",
                );
            }
        }
        if let Some(span) = p.args {
            if attr.kind != Kind::Tool {
                errors.at(span, "`#[args]` is for `#[tool]` functions");
            } else if args_seen {
                errors.at(
                    span,
                    "only one parameter can take all arguments (`#[args]`)",
                );
            } else {
                args_seen = true;
                if let Some(what) = non_object(&p.ty) {
                    errors.on(
                        &p.ty,
                        format!(
                            "`#[args]` takes all arguments as one object, and {what} is not an object; use a struct with named fields, or one parameter per argument"
                        ),
                    );
                }
                if let Some(span) = p.arg.span {
                    errors.at(
                        span,
                        "`#[arg]` options do not apply to the `#[args]` parameter; put `#[serde]` and doc comments on its fields",
                    );
                }
            }
            continue;
        }
        if let Some(flatten) = p.arg.flatten {
            let other_options = [
                p.arg.rename.as_ref().map(|_| "rename"),
                p.arg.description.as_ref().map(|_| "description"),
                p.arg.default.as_ref().map(|_| "default"),
                p.arg.sensitive.then_some("sensitive"),
            ];
            if attr.kind != Kind::Tool {
                errors.at(flatten, "`#[arg(flatten)]` is for `#[tool]` parameters");
            } else if f.params.iter().any(|q| q.args.is_some()) {
                errors.at(
                    flatten,
                    "`#[arg(flatten)]` cannot be combined with `#[args]`, which takes all arguments as one struct",
                );
            } else if let Some(option) = other_options.into_iter().flatten().next() {
                errors.at(
                    flatten,
                    format!(
                        "`flatten` cannot be combined with `{option}`: the struct's fields are the arguments; put `#[serde(...)]` attributes and doc comments on them"
                    ),
                );
            } else if let Some(what) = non_object(&p.ty) {
                errors.on(
                    &p.ty,
                    format!(
                        "`#[arg(flatten)]` makes the fields of a struct top-level arguments, and {what} has no fields; use a struct with named fields, or drop `flatten`"
                    ),
                );
            } else if f.params[..i].iter().any(|q| {
                q.arg.flatten.is_some()
                    && q.ty.to_token_stream().to_string() == p.ty.to_token_stream().to_string()
            }) {
                errors.on(
                    &p.ty,
                    format!(
                        "`{}` is flattened twice: each of its fields would be two arguments of the same name",
                        p.ty.to_token_stream()
                    ),
                );
            }
            continue;
        }
        if !p.named {
            errors.at(
                p.name_span,
                format!(
                    "`{macro_name}` needs a name for this parameter: use an identifier, or add `#[arg(rename = \"...\")]`"
                ),
            );
            continue;
        }
        if f.params[..i]
            .iter()
            .any(|q| q.named && q.args.is_none() && q.arg.flatten.is_none() && q.name == p.name)
        {
            errors.at(
                p.name_span,
                format!("two parameters are named `{}`", p.name),
            );
        }
    }

    if attr.kind == Kind::Tool && attr.name.is_none() {
        let name = f.ident.to_string();
        let name = name.strip_prefix("r#").unwrap_or(&name);
        if let Err(e) = validate_tool_name(name) {
            errors.on(
                &f.ident,
                format!("invalid tool name `{name}`: {e}; set one with `name = \"...\"`"),
            );
        }
    }

    if let (Some(_), Some(key)) = (
        &attr.policy.public,
        attr.policy
            .scopes_key
            .as_ref()
            .or(attr.policy.roles_key.as_ref()),
    ) {
        errors.on(
            key,
            format!(
                "`public` opens the item to every caller, so it cannot be combined with `{key}`"
            ),
        );
    }

    let mut checked = Checked::default();
    if attr.kind == Kind::Resource {
        resource(attr, f, errors, &mut checked);
    }
    if attr.kind != Kind::Tool {
        for (name, _) in &attr.complete {
            let known = if attr.kind == Kind::Resource {
                checked.variables.iter().any(|v| *name == v.name)
            } else {
                f.params.iter().any(|p| p.named && *name == p.name)
            };
            if !known {
                let (what, names): (&str, Vec<String>) = if attr.kind == Kind::Resource {
                    (
                        "a variable of the URI template",
                        checked.variables.iter().map(|v| v.name.clone()).collect(),
                    )
                } else {
                    (
                        "an argument of the prompt",
                        f.params
                            .iter()
                            .filter(|p| p.named)
                            .map(|p| p.name.clone())
                            .collect(),
                    )
                };
                let list = if names.is_empty() {
                    "there are none".to_owned()
                } else {
                    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
                    format!("expected one of {}", quoted.join(", "))
                };
                errors.on(name, format!("`{name}` is not {what}; {list}"));
            }
        }
    }
    (checked, dummy_allowed)
}

fn resource(attr: &ItemAttr, f: &Function, errors: &mut Errors, checked: &mut Checked) {
    let Some(uri) = &attr.uri else {
        errors.at(
            proc_macro2::Span::call_site(),
            "`#[resource]` needs a URI or a URI template first: `#[resource(\"file:///logs/{name}\")]`",
        );
        return;
    };
    let value = uri.value();
    if value.is_empty() {
        errors.on(uri, "the URI of a resource cannot be empty");
        return;
    }
    match template::variables(&value) {
        Err(e) => errors.on(uri, format!("invalid URI template: {e}")),
        Ok(variables) => {
            checked.template = value.contains('{');
            for v in &variables {
                if !f.params.iter().any(|p| p.named && p.name == v.name) {
                    errors.on(
                        uri,
                        format!(
                            "the URI template variable `{}` has no parameter; add `{}: String` (or any `FromStr` type) to the function",
                            v.name,
                            v.name.replace(['.', '%'], "_")
                        ),
                    );
                }
            }
            checked.variables = variables;
        }
    }
}

/// What an `#[args]` type obviously is when it is not an object.
fn non_object(ty: &Type) -> Option<String> {
    const PRIMITIVES: &[&str] = &[
        "bool", "char", "str", "String", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16",
        "i32", "i64", "i128", "isize", "f32", "f64",
    ];
    const SEQUENCES: &[&str] = &["Vec", "VecDeque", "HashSet", "BTreeSet", "Option"];
    match ty {
        Type::Tuple(t) if t.elems.is_empty() => Some("`()`".into()),
        Type::Tuple(_) => Some("a tuple".into()),
        Type::Array(_) | Type::Slice(_) => Some("an array".into()),
        Type::Reference(r) => non_object(&r.elem),
        Type::Paren(p) => non_object(&p.elem),
        Type::Path(p) if p.qself.is_none() => {
            let last = p.path.segments.last()?;
            let name = last.ident.to_string();
            if PRIMITIVES.contains(&name.as_str()) {
                Some(format!("`{}`", ty.to_token_stream()))
            } else if SEQUENCES.contains(&name.as_str()) {
                Some(format!("`{name}<..>`"))
            } else {
                None
            }
        }
        _ => None,
    }
}
