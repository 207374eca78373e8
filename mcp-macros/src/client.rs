//! `#[client]` on a trait: each `async fn` becomes a typed `tools/call`, implemented for
//! `mcp_client::Client`.
//!
//! Parsing and checks first (every error collected, each at the smallest wrong token), then a
//! generation that cannot fail. On error the trait is still emitted, without the impl, so that
//! its uses do not add errors of their own.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{
    Attribute, FnArg, GenericArgument, Ident, ItemTrait, LitStr, Meta, Pat, PathArguments,
    ReturnType, TraitItem, TraitItemFn, Type,
};

use crate::attr;
use crate::ctxt::Errors;

/// A method of the trait, checked.
struct Method {
    /// The tool's name.
    name: String,
    /// Each parameter's identifier, wire name and type.
    params: Vec<(Ident, String, Type)>,
    /// The `T` of `Result<T, E>`.
    output: Type,
    /// The declared return type, where an error type that does not convert is reported.
    ret_span: Span,
}

/// Parses `#[client(...)] trait ... { ... }` and writes the trait and its impl.
pub(crate) fn client(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let mut tr: ItemTrait = match syn::parse2(item.clone()) {
        Ok(t) => t,
        Err(_) => {
            let error = syn::Error::new(
                Span::call_site(),
                "`#[client]` goes on a trait: `#[client] trait Calc { async fn add(&self, a: f64, b: f64) -> Result<f64>; }`",
            )
            .to_compile_error();
            return quote!(#item #error);
        }
    };
    let krate = match attr::parse_args(attr) {
        Ok(args) => attr::client_attr(args, &mut errors),
        Err(e) => {
            errors.push(e);
            None
        }
    };
    let krate = match krate {
        Some(path) => path.to_token_stream(),
        None => quote!(::mcp_client),
    };
    if !tr.generics.params.is_empty() || tr.generics.where_clause.is_some() {
        errors.on(&tr.generics, "`#[client]` traits cannot be generic");
    }
    if let Some(unsafety) = &tr.unsafety {
        errors.on(unsafety, "`#[client]` traits cannot be `unsafe`");
    }

    let mut methods: Vec<Method> = Vec::new();
    for item in &mut tr.items {
        match item {
            TraitItem::Fn(f) => {
                if let Some(m) = method(f, &mut errors) {
                    methods.push(m);
                }
            }
            other => errors.on(
                &*other,
                "a `#[client]` trait holds methods only: `async fn name(&self, ...) -> Result<T>;`",
            ),
        }
    }

    if !errors.is_empty() {
        // The trait as written (parameters that were patterns now `_`), without the impl.
        let errors = errors.into_compile_errors();
        return quote!(#tr #errors);
    }

    // The trait, with `async fn` written as `fn -> impl Future + Send` so that callers can spawn
    // its futures.
    for item in &mut tr.items {
        if let TraitItem::Fn(f) = item
            && f.sig.asyncness.is_some()
            && let ReturnType::Type(arrow, ty) = &f.sig.output
        {
            let span = f.sig.asyncness.span();
            let ty = (**ty).clone();
            f.sig.asyncness = None;
            f.sig.output = ReturnType::Type(
                *arrow,
                Box::new(syn::parse_quote_spanned! {span=>
                    impl ::core::future::Future<Output = #ty> + ::core::marker::Send
                }),
            );
        }
    }

    let p = quote!(#krate::__private);
    let trait_ident = &tr.ident;
    let fns = tr.items.iter().filter_map(|item| match item {
        TraitItem::Fn(f) => Some(f),
        _ => None,
    });
    let impls = fns.zip(&methods).map(|(f, m)| {
        let sig = &f.sig;
        let name = &m.name;
        let output = &m.output;
        let args = m.params.iter().map(|(ident, wire, ty)| {
            quote_spanned! {ty.span()=>
                #p::arg(#name, &mut __mcp_arguments, #wire, &#ident)?;
            }
        });
        let expect = quote_spanned! {output.span()=>
            {
                #[allow(unused_imports)]
                use #p::{WithSchema as _, WithoutSchema as _};
                (&&#p::Output::<#output>::new()).expect()
            }
        };
        // Parenthesized at the output type: the expression's span starts there, so that the
        // `?` below can point at the return type.
        let call = quote_spanned! {output.span()=>
            (#p::call::<#output>(__mcp_client, #name, __mcp_arguments, __mcp_expect))
        };
        let ok = quote_spanned! {m.ret_span=>
            ::core::result::Result::Ok(#call.await?)
        };
        quote! {
            #sig {
                let __mcp_client = ::core::clone::Clone::clone(self);
                let __mcp_arguments = (|| -> #p::Result<#p::JsonObject> {
                    #[allow(unused_mut)]
                    let mut __mcp_arguments = #p::JsonObject::new();
                    #(#args)*
                    ::core::result::Result::Ok(__mcp_arguments)
                })();
                let __mcp_expect = #expect;
                async move { #ok }
            }
        }
    });

    let output = quote! {
        #tr

        #[automatically_derived]
        // `Ok(..?)` converts the error into the method's own error type.
        #[allow(clippy::needless_question_mark)]
        impl #trait_ident for #p::Client {
            #(#impls)*
        }
    };
    crate::debug::print(&format!("#[client] trait {trait_ident}"), &output);
    output
}

/// Checks one method and takes `#[tool]` and `#[arg]` off it.
fn method(f: &mut TraitItemFn, errors: &mut Errors) -> Option<Method> {
    let before = errors.len();
    let mut tool_name: Option<LitStr> = None;
    f.attrs.retain(|a| {
        if !a.path().is_ident("tool") {
            return true;
        }
        match &a.meta {
            Meta::Path(_) => {}
            Meta::List(list) => match attr::parse_args(list.tokens.clone()) {
                Ok(args) => tool_name = attr::client_tool_attr(args, errors),
                Err(e) => errors.push(e),
            },
            Meta::NameValue(nv) => errors.on(nv, "expected `#[tool(name = \"...\")]`"),
        }
        false
    });
    let sig = &f.sig;
    if let Some(body) = &f.default {
        errors.on(
            body,
            "a `#[client]` method has no body: the macro writes it; end the signature with `;`",
        );
    }
    if sig.asyncness.is_none() {
        errors.on(
            sig.fn_token,
            "a `#[client]` method is an `async fn`: `async fn name(&self, ...) -> Result<T>;`",
        );
    }
    if let Some(c) = &sig.constness {
        errors.on(c, "a `#[client]` method cannot be `const`");
    }
    if let Some(u) = &sig.unsafety {
        errors.on(u, "a `#[client]` method cannot be `unsafe`");
    }
    if let Some(abi) = &sig.abi {
        errors.on(abi, "a `#[client]` method cannot have an ABI");
    }
    if let Some(v) = &sig.variadic {
        errors.on(v, "a `#[client]` method cannot be variadic");
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.on(
            &sig.generics,
            "a `#[client]` method cannot be generic: its arguments and output are concrete types",
        );
    }

    let mut params = Vec::new();
    let mut has_receiver = false;
    for (i, input) in f.sig.inputs.iter_mut().enumerate() {
        match input {
            FnArg::Receiver(r) => {
                has_receiver = true;
                if r.colon_token.is_some() {
                    errors.on(&r.ty, "a `#[client]` method takes `&self`");
                } else if r.reference.is_none() {
                    errors.on(
                        r.self_token,
                        "a `#[client]` method takes `&self`, not `self`: the client is shared",
                    );
                } else if let Some(m) = &r.mutability {
                    errors.on(
                        m,
                        "a `#[client]` method takes `&self`, not `&mut self`: calls run concurrently",
                    );
                }
            }
            FnArg::Typed(pt) => {
                let mut rename: Option<LitStr> = None;
                pt.attrs.retain(|a: &Attribute| {
                    if !a.path().is_ident("arg") {
                        return true;
                    }
                    match a.parse_args_with(|input: syn::parse::ParseStream<'_>| {
                        let key: Ident = input.parse()?;
                        if key != "rename" {
                            return Err(syn::Error::new(
                                key.span(),
                                crate::attr::unknown_option(
                                    "#[arg]",
                                    " in a `#[client]` trait",
                                    &key.to_string(),
                                    &["rename"],
                                ),
                            ));
                        }
                        input.parse::<syn::Token![=]>()?;
                        input.parse::<LitStr>()
                    }) {
                        Ok(lit) => rename = Some(lit),
                        Err(e) => errors.push(e),
                    }
                    false
                });
                if i == 0 {
                    errors.on(
                        &*pt,
                        "a `#[client]` method takes `&self` first: `async fn name(&self, ...)`",
                    );
                }
                match &*pt.pat {
                    Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                        let wire = match &rename {
                            Some(lit) => lit.value(),
                            None => pi.ident.unraw().to_string(),
                        };
                        params.push((pi.ident.clone(), wire, (*pt.ty).clone()));
                    }
                    other => {
                        errors.on(
                            other,
                            "a `#[client]` method's parameters are plain names (the tool's argument names), not patterns",
                        );
                        // What rustc accepts in a method without a body, so that the error is one.
                        *pt.pat = syn::parse_quote!(_);
                    }
                }
            }
        }
    }
    if !has_receiver && f.sig.inputs.is_empty() {
        errors.on(
            &f.sig.ident,
            "a `#[client]` method takes `&self` first: `async fn name(&self, ...)`",
        );
    }
    for (i, (_, wire, _)) in params.iter().enumerate() {
        if params[..i].iter().any(|(_, w, _)| w == wire) {
            errors.on(
                &params[i].0,
                format!("two parameters are the argument `{wire}`"),
            );
        }
    }

    let ret_span = f.sig.output.span();
    let output = match &f.sig.output {
        ReturnType::Default => {
            errors.at(
                f.sig.paren_token.span.close(),
                "a `#[client]` method returns `Result<T>` (the tool's output, or the call's error): add `-> Result<T>`",
            );
            None
        }
        ReturnType::Type(_, ty) => {
            let ok = result_ok(ty);
            if ok.is_none() {
                errors.on(
                    ty,
                    "a `#[client]` method returns `Result<T>` or `Result<T, E>` with `E: From<mcp_client::Error>`",
                );
            }
            ok.cloned()
        }
    };

    let name = match &tool_name {
        Some(lit) => lit.value(),
        None => f.sig.ident.unraw().to_string(),
    };
    if tool_name.is_none()
        && let Err(e) = attr::validate_tool_name(&name)
    {
        errors.on(&f.sig.ident, format!("invalid tool name: {e}"));
    }
    if errors.len() > before {
        return None;
    }
    Some(Method {
        name,
        params,
        output: output?,
        ret_span,
    })
}

/// The `T` of a `Result<T>` or `Result<T, E>` (any path ending in `Result`).
fn result_ok(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if !last.ident.to_string().ends_with("Result") {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    args.args.iter().find_map(|a| match a {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}
