//! Code generation. Everything here is infallible: the errors were found before.

mod contract;
mod handlers;
mod prompt;
mod resource;
mod tool;

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, Ident, ItemFn, LitStr, Path, Type, Visibility};

use crate::ast::{self, Function, Kind, Receiver};
use crate::attr::{self, ItemAttr, PolicyAttr};
use crate::case::upper_camel;
use crate::check::{self, Checked, Place};
use crate::ctxt::Errors;

pub(crate) use handlers::handlers;

/// What `#[handlers]` leaves in the attributes of the methods it expanded.
pub(crate) const HANDLED: &str = "__mcp_handled";

/// Where the handler's function lives, and what the generated items are called.
pub(crate) struct Target<'a> {
    /// The runtime crate: `::mcp_server`, or `crate = "..."`.
    pub(crate) krate: TokenStream,
    /// The marker type implementing the handler trait.
    pub(crate) marker: Ident,
    /// The marker's visibility.
    pub(crate) vis: Visibility,
    /// Whether the marker is named by the user (documented, with a public field for methods).
    pub(crate) named: bool,
    /// The type of the `#[handlers]` impl block, for methods.
    pub(crate) self_ty: Option<&'a Type>,
}

impl Target<'_> {
    /// A type of the signature, with `Self` meaning the impl's type.
    pub(crate) fn ty(&self, ty: &Type) -> TokenStream {
        match self.self_ty {
            Some(self_ty) => ast::replace_self(ty.to_token_stream(), self_ty),
            None => ty.to_token_stream(),
        }
    }

    /// A path or expression of the attribute, with `Self` meaning the impl's type.
    pub(crate) fn tokens(&self, tokens: impl ToTokens) -> TokenStream {
        match self.self_ty {
            Some(self_ty) => ast::replace_self(tokens.to_token_stream(), self_ty),
            None => tokens.to_token_stream(),
        }
    }

    /// The call of the user's function with the extracted parameters: awaited if async; on the
    /// blocking pool with `blocking`; else inline, timed (a slow one is named in a debug event).
    pub(crate) fn call(&self, attr: &ItemAttr, f: &Function) -> TokenStream {
        let ident = &f.ident;
        let args = (0..f.params.len()).map(arg_ident);
        let blocking = attr.blocking.is_some();
        let receiver = match f.receiver {
            Receiver::None => None,
            Receiver::Ref if blocking => Some(quote!(&*__mcp_self,)),
            Receiver::Ref => Some(quote!(&*self.0,)),
            Receiver::Arc if blocking => Some(quote!(__mcp_self,)),
            Receiver::Arc => Some(quote!(::core::clone::Clone::clone(&self.0),)),
        };
        let call = match self.self_ty {
            Some(self_ty) => quote!(<#self_ty>::#ident(#receiver #(#args),*)),
            None => quote!(#ident(#(#args),*)),
        };
        let name = item_name(attr, f);
        let kind = match attr.kind {
            Kind::Tool => "tool",
            Kind::Resource => "resource",
            Kind::Prompt => "prompt",
        };
        if f.asyncness {
            quote!(#call.await)
        } else if blocking {
            let this = (f.receiver != Receiver::None)
                .then(|| quote!(let __mcp_self = ::core::clone::Clone::clone(&self.0);));
            quote!({
                #this
                __mcp::blocking(move || #call).await?
            })
        } else {
            quote!(__mcp::inline(#kind, #name, || #call))
        }
    }

    /// The marker type: a unit struct for a function, a handle on the shared value for a method.
    pub(crate) fn marker_struct(&self, kind: Kind, f: &Function) -> TokenStream {
        let Target {
            marker, vis, krate, ..
        } = self;
        let register = match kind {
            Kind::Tool => "tool",
            Kind::Resource => "resource",
            Kind::Prompt => "prompt",
        };
        match self.self_ty {
            None => {
                let doc = format!(
                    "The MCP {register} of the function `{}`, made by `{}`: register it with `Server::{register}({marker})`.",
                    f.ident,
                    kind.attr()
                );
                // Spanned at the function's name: a type of the same name clashes there.
                quote_spanned! {f.ident.span()=>
                    #[doc = #doc]
                    #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::marker::Copy)]
                    #vis struct #marker;
                }
            }
            Some(self_ty) if self.named => {
                let doc = format!(
                    "The MCP {register} of the method `{}`, made by `{}`: register it with `Server::{register}({marker}(value))`.",
                    f.ident,
                    kind.attr()
                );
                let name = marker.to_string();
                quote! {
                    #[doc = #doc]
                    #[derive(::core::clone::Clone)]
                    #vis struct #marker(pub #krate::__private::Arc<#self_ty>);

                    impl ::core::fmt::Debug for #marker {
                        fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                            f.debug_tuple(#name).finish_non_exhaustive()
                        }
                    }
                }
            }
            Some(self_ty) => quote! {
                #[allow(non_camel_case_types)]
                #[doc(hidden)]
                struct #marker(#krate::__private::Arc<#self_ty>);
            },
        }
    }
}

/// The success value of the call's result (`__mcp_out`), its error converted by type (see
/// `mcp_server::__private::ErrorKind`); an error type that fits nothing is reported at the `E`.
pub(crate) fn split(p: &TokenStream, f: &Function) -> TokenStream {
    quote_spanned! {f.error_span=>
        (&&__mcp_split).split(__mcp_out).map_err(|__mcp_e| (&&&#p::error_kind(&__mcp_e)).convert(__mcp_e))?
    }
}

/// `__mcp_arg0`, ...: the extracted parameters.
pub(crate) fn arg_ident(i: usize) -> Ident {
    format_ident!("__mcp_arg{}", i)
}

/// `Some("...")` or `None` (inside an item's `const _` block).
pub(crate) fn opt_str(value: Option<&str>) -> TokenStream {
    match value {
        Some(v) => quote!(__mcp::Some(#v)),
        None => quote!(__mcp::None),
    }
}

/// `Some(lit)` or `None` for a string literal.
pub(crate) fn opt_lit(value: Option<&LitStr>) -> TokenStream {
    match value {
        Some(v) => quote!(__mcp::Some(#v)),
        None => quote!(__mcp::None),
    }
}

/// `Some(x)` or `None` for anything that quotes.
pub(crate) fn opt<T: ToTokens>(value: Option<T>) -> TokenStream {
    match value {
        Some(v) => quote!(__mcp::Some(#v)),
        None => quote!(__mcp::None),
    }
}

/// The default of a parameter, as a `fn() -> T`.
pub(crate) fn default_fn(default: &Option<Expr>, target: &Target<'_>) -> TokenStream {
    match default {
        None => quote!(::core::default::Default::default),
        Some(expr) => {
            let expr = target.tokens(expr);
            quote_spanned!(expr.span()=> || #expr)
        }
    }
}

/// `fn policy()` when the attribute declares a policy or a parameter is sensitive; `p` is the
/// path of the runtime's `__private`.
pub(crate) fn policy_fn(p: &TokenStream, policy: &PolicyAttr, f: &Function) -> Option<TokenStream> {
    let sensitive: Vec<&str> = f
        .params
        .iter()
        .filter(|p| p.arg.sensitive)
        .map(|p| p.name.as_str())
        .collect();
    if !policy.declared && sensitive.is_empty() {
        return None;
    }
    let PolicyAttr {
        declared,
        scopes,
        roles,
        approval,
        rate_limit,
        max_concurrency,
        timeout_ms,
        max_argument_bytes,
        max_result_bytes,
        ..
    } = policy;
    // Only what is declared; the rest comes from `PolicySpec::EMPTY`.
    let mut fields = vec![quote!(declared: #declared,)];
    if !scopes.is_empty() {
        fields.push(quote!(scopes: &[#(#scopes),*],));
    }
    if !roles.is_empty() {
        fields.push(quote!(roles: &[#(#roles),*],));
    }
    match approval {
        attr::ApprovalAttr::None => {}
        attr::ApprovalAttr::Required => fields.push(quote!(approval: #p::Approval::Required,)),
        attr::ApprovalAttr::OutOfBand => {
            fields.push(quote!(approval: #p::Approval::OutOfBand,));
        }
    }
    if let Some((n, secs)) = rate_limit {
        fields.push(quote!(rate_limit: #p::Some((#n, #secs)),));
    }
    if let Some(v) = max_concurrency {
        fields.push(quote!(max_concurrency: #p::Some(#v),));
    }
    if let Some(v) = timeout_ms {
        fields.push(quote!(timeout_ms: #p::Some(#v),));
    }
    if let Some(v) = max_argument_bytes {
        fields.push(quote!(max_argument_bytes: #p::Some(#v),));
    }
    if let Some(v) = max_result_bytes {
        fields.push(quote!(max_result_bytes: #p::Some(#v),));
    }
    if !sensitive.is_empty() {
        fields.push(quote!(sensitive: &[#(#sensitive),*],));
    }
    Some(quote! {
        fn policy(&self) -> #p::Policy {
            #p::PolicySpec { #(#fields)* ..#p::PolicySpec::EMPTY }.build()
        }
    })
}

/// Literal icon `src`s for the spec (a function's icons are set after building).
pub(crate) fn icon_srcs(attr: &ItemAttr) -> TokenStream {
    match &attr.icons {
        Some(attr::Icons::Srcs(srcs)) => quote!(&[#(#srcs),*]),
        _ => quote!(&[]),
    }
}

/// The function of `icons = path`, if that form was used.
pub(crate) fn icons_fn(attr: &ItemAttr) -> Option<&Path> {
    match &attr.icons {
        Some(attr::Icons::Fn(path)) => Some(path),
        _ => None,
    }
}

/// The description: the option, else the doc comment.
pub(crate) fn description(attr: &ItemAttr, f: &Function) -> Option<String> {
    attr.description
        .as_ref()
        .map(LitStr::value)
        .or_else(|| f.doc.clone())
}

/// The name: the option, else the function's.
pub(crate) fn item_name(attr: &ItemAttr, f: &Function) -> String {
    attr.name.as_ref().map(LitStr::value).unwrap_or_else(|| {
        let name = f.ident.to_string();
        name.strip_prefix("r#").unwrap_or(&name).to_owned()
    })
}

/// `::mcp_server`, or the `crate = "..."` path.
pub(crate) fn krate(path: Option<&Path>) -> TokenStream {
    match path {
        Some(p) => p.to_token_stream(),
        None => quote!(::mcp_server),
    }
}

/// The default marker name of a function: `add` -> `Add`.
pub(crate) fn default_marker(f: &Ident) -> Ident {
    let name = f.to_string();
    let name = name.strip_prefix("r#").unwrap_or(&name);
    Ident::new(&upper_camel(name), f.span())
}

/// The traits the generated code calls methods of (autoref specialization), per macro: one
/// `use` list per item.
fn traits(kind: Kind) -> TokenStream {
    match kind {
        Kind::Tool => quote! {
            ArgumentParam as _, ArgumentWithoutDeserialize as _, ArgumentWithoutSchema as _,
            ContentOutput as _, InjectedParam as _, InvalidOutput as _, InvalidParam as _,
            StructuredOutput as _,
        },
        Kind::Resource => quote! {
            ContentsOutput as _, InvalidContentsOutput as _, JsonContentsOutput as _,
            OptionalVar as _, RequiredVar as _, AsyncCompletion as _, SyncCompletion as _,
        },
        Kind::Prompt => quote! {
            InjectedPromptParam as _, InvalidPromptOutput as _, OptionalPromptParam as _,
            PromptOutput as _, RequiredPromptParam as _, AsyncCompletion as _,
            SyncCompletion as _,
        },
    }
}

/// The marker and handler impl of one checked function. Everything but the named types (the
/// marker, `{Marker}Input`) is scoped in a `const _: () = { ... };` with one `use` list, where
/// `__mcp` names the runtime's `__private`.
pub(crate) fn handler(
    attr: &ItemAttr,
    f: &Function,
    checked: &Checked,
    target: &Target<'_>,
) -> TokenStream {
    let marker = target.marker_struct(attr.kind, f);
    let krate = &target.krate;
    let (imp, named) = match attr.kind {
        Kind::Tool => {
            let imp = tool::expand(attr, f, target);
            let (named, contract) =
                contract::expand(&item_name(attr, f), attr.contract.as_ref(), f, target);
            (quote!(#imp #contract), named)
        }
        Kind::Resource => (resource::expand(attr, f, checked, target), None),
        Kind::Prompt => (prompt::expand(attr, f, target), None),
    };
    let traits = traits(attr.kind);
    quote! {
        #marker
        #named
        const _: () = {
            use #krate::__private as __mcp;
            #[allow(unused_imports)]
            use __mcp::{SplitResult as _, SplitValue as _, OwnError as _, StdError as _, BoxedError as _, InvalidError as _, #traits};
            #imp
        };
    }
}

/// A marker whose impl only satisfies the trait, emitted next to errors so that uses of the
/// marker do not add errors of their own.
pub(crate) fn dummy(kind: Kind, f: &Function, target: &Target<'_>) -> TokenStream {
    let marker_struct = target.marker_struct(kind, f);
    let Target { krate, marker, .. } = target;
    let p = quote!(#krate::__private);
    let imp = match kind {
        Kind::Tool => quote! {
            impl #p::ToolHandler for #marker {
                fn definition(&self) -> #p::Tool {
                    ::core::unreachable!()
                }
                async fn call(
                    &self,
                    _: #p::Context,
                    _: #p::JsonObject,
                ) -> ::core::result::Result<#p::CallToolResult, #p::Error> {
                    ::core::unreachable!()
                }
            }
        },
        Kind::Resource => quote! {
            impl #p::ResourceHandler for #marker {
                fn definition(&self) -> #p::ResourceDefinition {
                    ::core::unreachable!()
                }
                async fn read(
                    &self,
                    _: #p::Context,
                    _: #p::String,
                    _: #p::BTreeMap<#p::String, #p::String>,
                ) -> ::core::result::Result<#p::Vec<#p::ResourceContents>, #p::Error> {
                    ::core::unreachable!()
                }
            }
        },
        Kind::Prompt => quote! {
            impl #p::PromptHandler for #marker {
                fn definition(&self) -> #p::Prompt {
                    ::core::unreachable!()
                }
                async fn get(
                    &self,
                    _: #p::Context,
                    _: #p::BTreeMap<#p::String, #p::String>,
                ) -> ::core::result::Result<#p::GetPromptResult, #p::Error> {
                    ::core::unreachable!()
                }
            }
        },
    };
    quote! {
        #marker_struct
        #imp
    }
}

/// `#[tool]`, `#[resource]` or `#[prompt]` on a function.
pub(crate) fn item(kind: Kind, attr: TokenStream, item: TokenStream) -> TokenStream {
    if attr.to_string() == HANDLED {
        // A method of a `#[handlers]` impl block, expanded there already.
        return item;
    }
    let mut errors = Errors::default();
    let mut func: ItemFn = match syn::parse2(item.clone()) {
        Ok(f) => f,
        Err(_) => {
            let message = format!(
                "`{}` goes on a function: `{}fn name(...) -> ... {{ ... }}`",
                kind.attr(),
                if kind == Kind::Tool { "async " } else { "" }
            );
            let error = syn::Error::new(Span::call_site(), message).to_compile_error();
            return quote!(#item #error);
        }
    };
    let attr = match attr::parse_args(attr) {
        Ok(args) => attr::item_attr(kind, args, &mut errors),
        Err(e) => {
            errors.push(e);
            attr::item_attr(kind, Vec::new(), &mut Errors::default())
        }
    };
    let f = ast::function(&func.attrs, &mut func.sig, &mut errors);
    let (checked, dummy_allowed) = check::function(&attr, &func.sig, &f, Place::Free, &mut errors);
    let target = Target {
        krate: krate(attr.krate.as_ref()),
        marker: attr
            .marker
            .clone()
            .unwrap_or_else(|| default_marker(&f.ident)),
        vis: func.vis.clone(),
        named: true,
        self_ty: None,
    };
    let output = if errors.is_empty() {
        let handler = handler(&attr, &f, &checked, &target);
        quote! {
            #func
            #handler
        }
    } else {
        let dummy = dummy_allowed.then(|| dummy(kind, &f, &target));
        let errors = errors.into_compile_errors();
        quote! {
            #func
            #dummy
            #errors
        }
    };
    crate::debug::print(&format!("{} fn {}", kind.attr(), f.ident), &output);
    output
}
