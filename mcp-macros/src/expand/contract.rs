//! `impl ToolContract` for the marker of a `#[tool]`, and its `{Marker}Input` struct: the typed
//! view of the tool that clients call (`client.call(Add, AddInput { a: 1.0, b: 2.0 })`).
//!
//! The bounds the contract needs (`Serialize` arguments, a `Deserialize` output) are written as
//! `for<'__mcp> T: Bound`: a bound the compiler checks where the contract is used, not here, so
//! a tool whose types do not serialize still compiles, and only has no usable contract.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{GenericArgument, Ident, Path, PathArguments, Type};

use super::Target;
use crate::ast::{Function, Param};

/// The contract of a named marker, or nothing when the function's types cannot be named in a
/// struct (references, `impl Trait`, `_`): the `{Marker}Input` struct (an item of the caller's
/// scope) and the impls (in the item's `const _` block, where `__mcp` is the runtime's
/// `__private` and `__mcp_output_schema` the tool's output schema).
pub(super) fn expand(
    name: &str,
    contract: Option<&Path>,
    f: &Function,
    target: &Target<'_>,
) -> (Option<TokenStream>, Option<TokenStream>) {
    if let Some(contract) = contract {
        return (None, Some(agree(name, contract, f, target)));
    }
    if !target.named {
        return (None, None);
    }
    let krate = &target.krate;
    let c = quote!(#krate::mcp_core::contract);
    let serde = quote!(__mcp_c::serde);
    let marker = &target.marker;
    let output = output_type(&f.output);
    if !nameable(output) {
        return (None, None);
    }
    let output = target.ty(output);
    let ret = target.ty(&f.output);
    let p = quote!(__mcp);
    // The contract reads `Result` by name; the runtime splits it by type. They must agree.
    let ok = target.ty(first_type_arg(&f.output, "Result").unwrap_or(&f.output));
    let ok_check = quote_spanned! {f.output_span=>
        #[allow(dead_code)]
        fn __mcp_same_ok() {
            #p::same_ok::<#ok, _>(&(&&#p::Split::<#ret>::new()).ret());
        }
    };

    let args_param = f.params.iter().find(|p| p.args.is_some());
    let (input_ty, input_item, input_impl) = match args_param {
        Some(p) => {
            if !nameable(&p.ty) {
                return (None, None);
            }
            (target.ty(&p.ty), None, None)
        }
        None => {
            let params: Vec<&Param> = f.params.iter().filter(|p| !p.injected()).collect();
            if params.iter().any(|p| !p.named || !nameable(&p.ty)) {
                return (None, None);
            }
            let input = format_ident!("{}Input", marker);
            let (item, imp) = input_struct(&input, name, &params, target, &serde);
            (quote!(#input), Some(item), Some(imp))
        }
    };

    let impls = quote! {
        use #c::__private as __mcp_c;

        #input_impl

        #ok_check

        #[automatically_derived]
        impl #c::ToolContract for #marker
        where
            for<'__mcp> #input_ty: #serde::Serialize,
            for<'__mcp> #output: #serde::de::DeserializeOwned,
        {
            const NAME: &'static str = #name;
            type Input = #input_ty;
            type Output = #output;

            fn output_schema() -> #p::Option<#p::JsonObject> {
                __mcp_output_schema()
            }
        }
    };
    (input_item, Some(impls))
}

/// The `{Marker}Input` struct: the arguments under their wire names, and its `Serialize` impl
/// written out (its bounds deferred like the contract's).
fn input_struct(
    input: &Ident,
    tool: &str,
    params: &[&Param],
    target: &Target<'_>,
    serde: &TokenStream,
) -> (TokenStream, TokenStream) {
    let c = quote!(__mcp_c);
    let vis = &target.vis;
    let doc = format!(
        "The arguments of the tool `{tool}`, for typed clients: `client.call({}, {input} {{ ... }})`.",
        target.marker
    );
    let fields: Vec<Ident> = params
        .iter()
        .enumerate()
        .map(|(i, p)| match &p.ident {
            Some(ident) => ident.clone(),
            None => field_ident(&p.name, i, p.name_span),
        })
        .collect();
    let types: Vec<TokenStream> = params.iter().map(|p| target.ty(&p.ty)).collect();
    let docs = params.iter().map(|p| {
        let d = if p.arg.flatten.is_some() {
            "Flattened: its fields are arguments of the tool.".to_owned()
        } else {
            p.description
                .clone()
                .unwrap_or_else(|| format!("`{}`.", p.name))
        };
        quote!(#[doc = #d])
    });
    let entries = params.iter().zip(&fields).map(|(p, field)| {
        let name = &p.name;
        if p.arg.flatten.is_some() {
            quote!(#c::flatten_fields(&mut __mcp_map, &self.#field)?;)
        } else {
            quote! {
                if !(&&#c::Field(&self.#field)).is_none() {
                    __mcp_map.serialize_entry(#name, &self.#field)?;
                }
            }
        }
    });
    let bounds = types
        .iter()
        .map(|ty| quote_spanned!(ty.span()=> for<'__mcp> #ty: #serde::Serialize));
    let item = quote! {
        // No derives: they would demand of every argument type what the tool does not.
        #[doc = #doc]
        #vis struct #input {
            #(#docs pub #fields: #types,)*
        }
    };
    let imp = quote! {
        #[automatically_derived]
        impl #serde::Serialize for #input
        where
            #(#bounds,)*
        {
            fn serialize<__S: #serde::Serializer>(
                &self,
                __mcp_serializer: __S,
            ) -> ::core::result::Result<__S::Ok, __S::Error> {
                use #serde::ser::SerializeMap as _;
                #[allow(unused_imports)]
                use #c::{NeverNone as _, OptionNone as _};
                let mut __mcp_map = __mcp_serializer.serialize_map(::core::option::Option::None)?;
                // `None` is left out: absent, as the tool's schema says (not required).
                #(#entries)*
                __mcp_map.end()
            }
        }
    };
    (item, imp)
}

/// A field for a wire name: the name itself when it is an identifier, else `arg{i}`.
fn field_ident(name: &str, i: usize, span: Span) -> Ident {
    let plain = !name.is_empty()
        && name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric())
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name != "_";
    if !plain {
        return format_ident!("arg{}", i, span = span);
    }
    match syn::parse_str::<Ident>(name) {
        Ok(mut ident) => {
            ident.set_span(span);
            ident
        }
        Err(_) if !matches!(name, "self" | "Self" | "super" | "crate") => {
            Ident::new_raw(name, span)
        }
        Err(_) => format_ident!("arg{}", i, span = span),
    }
}

/// The output of a return type: `T` of `Result<T, E>` (any path ending in `Result`) and of
/// `Json<T>`.
fn output_type(ty: &Type) -> &Type {
    let mut ty = ty;
    for wrapper in ["Result", "Json"] {
        if let Some(inner) = first_type_arg(ty, wrapper) {
            ty = inner;
        }
    }
    ty
}

fn first_type_arg<'a>(ty: &'a Type, suffix: &str) -> Option<&'a Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if !last.ident.to_string().ends_with(suffix) {
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

/// Whether a type can be named in a struct field or an associated type as written.
fn nameable(ty: &Type) -> bool {
    let tokens = quote!(#ty).to_string();
    !(tokens.contains('&')
        || tokens.contains("impl ")
        || tokens.contains('\'')
        || tokens.contains("dyn ")
        || tokens
            .split(|c: char| !(c == '_' || c.is_alphanumeric()))
            .any(|t| t == "_"))
}

/// `contract = C`: the marker's contract is `C`'s, and the tool agrees with it at compile time
/// (the name, the `#[args]` type, the output type). Everything is spanned at the contract's path
/// (the type checks at the tool's types), so that a wrong path is one error, there.
fn agree(name: &str, contract: &Path, f: &Function, target: &Target<'_>) -> TokenStream {
    let span = contract.span();
    let krate = respan(target.krate.clone(), span);
    let c = quote_spanned!(span=> #krate::mcp_core::contract);
    let p = quote_spanned!(span=> #krate::__private);
    let marker = &target.marker;
    let of = |item: TokenStream| quote_spanned!(span=> <#contract as #c::ToolContract>::#item);
    let (c_name, c_input, c_output) = (of(quote!(NAME)), of(quote!(Input)), of(quote!(Output)));
    let message = format!(
        "the tool `{name}` and its contract have different names; give the tool the contract's name with `name = \"...\"`"
    );
    let output = target.ty(output_type(&f.output));
    let output_check = quote_spanned! {output.span()=>
        #c::__private::same_output::<#output, #c_output>();
    };
    let input_check = f.params.iter().find(|p| p.args.is_some()).map(|p| {
        let ty = target.ty(&p.ty);
        quote_spanned! {ty.span()=>
            #c::__private::same_input::<#ty, #c_input>();
        }
    });
    quote_spanned! {span=>
        const _: () = ::core::assert!(#c::__private::same_str(#c_name, #name), #message);

        const _: () = {
            #[allow(dead_code)]
            fn __mcp_agree() {
                #output_check
                #input_check
            }
        };

        #[automatically_derived]
        impl #c::ToolContract for #marker {
            const NAME: &'static str = #c_name;
            type Input = #c_input;
            type Output = #c_output;

            fn output_schema() -> ::core::option::Option<#p::JsonObject> {
                <#contract as #c::ToolContract>::output_schema()
            }

            fn output_wrapped() -> bool {
                <#contract as #c::ToolContract>::output_wrapped()
            }
        }
    }
}

/// The tokens, every one at `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            if let proc_macro2::TokenTree::Group(g) = &tt {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                tt = proc_macro2::TokenTree::Group(group);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}
