//! The model of an annotated function: its parameters with their wire names, doc comments and
//! `#[arg]` options, keeping the user's tokens for spans.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{
    Attribute, Expr, ExprLit, FnArg, Ident, Lit, Meta, MetaNameValue, Pat, ReturnType, Signature,
    Type,
};

use crate::attr::{ArgAttr, arg_attr};
use crate::ctxt::Errors;

/// Which macro.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Tool,
    Resource,
    Prompt,
}

impl Kind {
    /// `#[tool]`, as messages write it.
    pub(crate) fn attr(self) -> &'static str {
        match self {
            Kind::Tool => "#[tool]",
            Kind::Resource => "#[resource]",
            Kind::Prompt => "#[prompt]",
        }
    }

    /// The macro's name, to recognise it on methods in a `#[handlers]` impl.
    pub(crate) fn from_attr_name(name: &str) -> Option<Kind> {
        match name {
            "tool" => Some(Kind::Tool),
            "resource" => Some(Kind::Resource),
            "prompt" => Some(Kind::Prompt),
            _ => None,
        }
    }
}

/// How the function takes `self`, in a `#[handlers]` impl.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Receiver {
    /// An associated function.
    None,
    /// `&self`.
    Ref,
    /// `self: Arc<Self>`.
    Arc,
}

/// A parameter of the function.
pub(crate) struct Param {
    /// The wire name: the identifier, or `#[arg(rename)]`.
    pub(crate) name: String,
    /// Where the name is written.
    pub(crate) name_span: Span,
    /// Whether the name is known (a plain identifier, or renamed).
    pub(crate) named: bool,
    /// The parameter's identifier, when it is one.
    pub(crate) ident: Option<Ident>,
    pub(crate) ty: Type,
    /// `#[arg(description)]`, else the parameter's doc comment.
    pub(crate) description: Option<String>,
    pub(crate) arg: ArgAttr,
    /// `#[args]`: all arguments as one struct.
    pub(crate) args: Option<Span>,
    /// `#[ctx]`: injected from the request (`FromContext`), whatever its type's name.
    pub(crate) ctx: Option<Span>,
}

impl Param {
    /// Whether the parameter is injected rather than an argument: marked `#[ctx]`, or, unmarked,
    /// of a type the runtime injects by its name (`Context`, `State<T>`, `Meta`,
    /// `ProtocolVersion`, `Identity`). The runtime follows this decision, and checks it against
    /// `FromContext` at compile time, so that the tool's schema, its handler and its contract
    /// (`{Marker}Input`) always agree.
    pub(crate) fn injected(&self) -> bool {
        self.ctx.is_some()
            || (self.arg.span.is_none() && self.args.is_none() && is_injected(&self.ty))
    }
}

/// An annotated function, with its parameters' attributes and doc comments taken out of the
/// signature (rustc rejects them there).
pub(crate) struct Function {
    pub(crate) ident: Ident,
    /// The doc comment, joined.
    pub(crate) doc: Option<String>,
    pub(crate) asyncness: bool,
    /// The `self` parameter, if any, for errors.
    pub(crate) self_token: Option<TokenStream>,
    pub(crate) receiver: Receiver,
    pub(crate) params: Vec<Param>,
    /// The declared return type; `()` when there is none.
    pub(crate) output: Type,
    pub(crate) output_span: Span,
    /// Where an error type that does not convert is reported: the `E` of `Result<T, E>`.
    pub(crate) error_span: Span,
}

/// The doc comment of `attrs`: each line without its first space, joined, trimmed.
pub(crate) fn doc_comment(attrs: &[Attribute]) -> Option<String> {
    let mut lines = Vec::new();
    for attr in attrs {
        if let Meta::NameValue(MetaNameValue {
            path,
            value: Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }),
            ..
        }) = &attr.meta
            && path.is_ident("doc")
        {
            let value = s.value();
            for line in value.split('\n') {
                lines.push(line.strip_prefix(' ').unwrap_or(line).trim_end().to_owned());
            }
        }
    }
    let doc = lines.join("\n");
    let doc = doc.trim();
    (!doc.is_empty()).then(|| doc.to_owned())
}

fn is_arg_attr(attr: &Attribute, name: &str) -> bool {
    attr.path().is_ident(name)
}

/// Reads the function's signature, taking `#[arg]`, `#[args]` and doc comments off its
/// parameters.
pub(crate) fn function(attrs: &[Attribute], sig: &mut Signature, errors: &mut Errors) -> Function {
    let mut params = Vec::new();
    let mut receiver = Receiver::None;
    let mut self_token = None;
    for input in sig.inputs.iter_mut() {
        match input {
            FnArg::Receiver(r) => {
                self_token = Some(r.self_token.to_token_stream());
                receiver = if r.colon_token.is_none() {
                    match (&r.reference, &r.mutability) {
                        (Some(_), None) => Receiver::Ref,
                        (Some(_), Some(m)) => {
                            errors.on(
                                m,
                                "handlers run concurrently, so they cannot take `&mut self`; take `&self` and use interior mutability (a `Mutex`, an atomic)",
                            );
                            Receiver::Ref
                        }
                        (None, _) => {
                            errors.on(
                                r.self_token,
                                "handlers share one value, so they cannot take `self`; take `&self` or `self: Arc<Self>`",
                            );
                            Receiver::Ref
                        }
                    }
                } else if is_arc_self(&r.ty) {
                    Receiver::Arc
                } else {
                    errors.on(
                        &r.ty,
                        "unsupported receiver; take `&self` or `self: Arc<Self>`",
                    );
                    Receiver::Ref
                };
            }
            FnArg::Typed(pt) => {
                let mut arg = ArgAttr::default();
                let mut args = None;
                let mut ctx = None;
                let doc = doc_comment(&pt.attrs);
                pt.attrs.retain(|a| {
                    if is_arg_attr(a, "arg") {
                        arg.span = Some(a.path().span());
                        match &a.meta {
                            Meta::List(list) => arg_attr(list.tokens.clone(), &mut arg, errors),
                            // A bare `#[arg]`: an argument, whatever its type's name.
                            Meta::Path(_) => {}
                            other => errors.on(
                                other,
                                "expected options: `#[arg(rename = \"...\", description = \"...\", default, sensitive, flatten)]`",
                            ),
                        }
                        false
                    } else if is_arg_attr(a, "args") {
                        if !matches!(a.meta, Meta::Path(_)) {
                            errors.on(&a.meta, "`#[args]` takes no options");
                        }
                        args = Some(a.path().span());
                        false
                    } else if is_arg_attr(a, "ctx") {
                        if !matches!(a.meta, Meta::Path(_)) {
                            errors.on(&a.meta, "`#[ctx]` takes no options");
                        }
                        ctx = Some(a.path().span());
                        false
                    } else {
                        !a.path().is_ident("doc")
                    }
                });
                let (name, name_span, named) = match (&arg.rename, &*pt.pat) {
                    (Some(rename), _) => (rename.value(), rename.span(), true),
                    (None, Pat::Ident(p)) => (p.ident.unraw().to_string(), p.ident.span(), true),
                    (None, other) => (String::new(), other.span(), false),
                };
                let description = arg.description.as_ref().map(|d| d.value()).or(doc);
                let ident = match &*pt.pat {
                    Pat::Ident(p) => Some(p.ident.clone()),
                    _ => None,
                };
                params.push(Param {
                    name,
                    name_span,
                    named,
                    ident,
                    ty: (*pt.ty).clone(),
                    description,
                    arg,
                    args,
                    ctx,
                });
            }
        }
    }
    let (output, output_span) = match &sig.output {
        ReturnType::Default => (syn::parse_quote!(()), sig.paren_token.span.close()),
        ReturnType::Type(_, ty) => ((**ty).clone(), ty.span()),
    };
    let error_span = result_error(&output).unwrap_or(output_span);
    Function {
        ident: sig.ident.clone(),
        doc: doc_comment(attrs),
        asyncness: sig.asyncness.is_some(),
        self_token,
        receiver,
        params,
        output,
        output_span,
        error_span,
    }
}

/// The span of `E` in a `Result<T, E>` written out (any path ending in `Result`).
fn result_error(ty: &Type) -> Option<Span> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if !last.ident.to_string().ends_with("Result") {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let types: Vec<&Type> = args
        .args
        .iter()
        .filter_map(|a| match a {
            syn::GenericArgument::Type(t) => Some(t),
            _ => None,
        })
        .collect();
    (types.len() == 2).then(|| types[1].span())
}

/// `Arc<Self>`, by its last segment.
fn is_arc_self(ty: &Type) -> bool {
    let Type::Path(p) = ty else { return false };
    let Some(last) = p.path.segments.last() else {
        return false;
    };
    if last.ident != "Arc" {
        return false;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return false;
    };
    matches!(
        args.args.first(),
        Some(syn::GenericArgument::Type(Type::Path(p))) if p.path.is_ident("Self")
    )
}

/// Replaces `Self` in tokens of a method's signature with the impl's type: the generated impls
/// are for other types, where `Self` would mean something else.
pub(crate) fn replace_self(tokens: TokenStream, self_ty: &Type) -> TokenStream {
    let mut out = TokenStream::new();
    let mut iter = tokens.into_iter().peekable();
    while let Some(tt) = iter.next() {
        match tt {
            TokenTree::Ident(ref i) if i == "Self" => {
                let followed_by_path = matches!(
                    iter.peek(),
                    Some(TokenTree::Punct(p)) if p.as_char() == ':'
                );
                let mut ty = self_ty.clone();
                respan(&mut ty, i.span());
                if followed_by_path {
                    out.extend(quote!(<#ty>));
                } else {
                    ty.to_tokens(&mut out);
                }
            }
            TokenTree::Group(g) => {
                let mut group =
                    proc_macro2::Group::new(g.delimiter(), replace_self(g.stream(), self_ty));
                group.set_span(g.span());
                out.extend([TokenTree::Group(group)]);
            }
            other => out.extend([other]),
        }
    }
    out
}

fn respan(ty: &mut Type, span: Span) {
    let tokens: TokenStream = ty
        .to_token_stream()
        .into_iter()
        .map(|mut tt| {
            tt.set_span(span);
            tt
        })
        .collect();
    if let Ok(t) = syn::parse2(tokens) {
        *ty = t;
    }
}

/// Types the runtime injects (`FromContext`), by their last path segment: not arguments.
const INJECTED: &[&str] = &["Context", "State", "Meta", "ProtocolVersion", "Identity"];

/// Whether a parameter's type is one the runtime injects, judging by its name.
pub(crate) fn is_injected(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .is_some_and(|s| INJECTED.contains(&s.ident.to_string().as_str())),
        _ => false,
    }
}
