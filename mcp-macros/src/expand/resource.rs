//! `impl ResourceHandler` for a `#[resource]` function.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::{Target, arg_ident, default_fn, opt, opt_lit, opt_str, policy_fn};
use crate::ast::Function;
use crate::attr::ItemAttr;
use crate::check::Checked;

pub(super) fn expand(
    attr: &ItemAttr,
    f: &Function,
    checked: &Checked,
    target: &Target<'_>,
) -> TokenStream {
    // Inside the item's `const _` block, where `__mcp` is the runtime's `__private`.
    let p = quote!(__mcp);
    let marker = &target.marker;

    let mut extract = Vec::new();
    let mut uses_vars = false;
    for (i, param) in f.params.iter().enumerate() {
        let ty = target.ty(&param.ty);
        let span = param.ty.span();
        let var = arg_ident(i);
        let name = &param.name;
        let is_variable = checked.variables.iter().any(|v| v.name == *name);
        extract.push(if !is_variable {
            quote_spanned! {span=>
                let #var = <#ty as #p::ResourceParam>::inject(&__mcp_cx)?;
            }
        } else {
            uses_vars = true;
            match &param.arg.default {
                None => quote_spanned! {span=>
                    let #var = (&&#p::Var::<#ty>::new()).parse(&mut __mcp_vars, #name)?;
                },
                Some(default) => {
                    let default = default_fn(default, target);
                    quote_spanned! {span=>
                        let #var = #p::var_or::<#ty>(&mut __mcp_vars, #name, #default)?;
                    }
                }
            }
        });
    }

    let ret = target.ty(&f.output);
    let ret_span = f.output_span;
    let uri = attr.uri.as_ref().expect("checked");
    let template = checked.template;
    let name = super::item_name(attr, f);
    let title = opt_lit(attr.title.as_ref());
    let description = opt_str(super::description(attr, f).as_deref());
    let mime_type = opt_lit(attr.mime_type.as_ref());
    let size = opt(attr.size);
    let audience = &attr.audience;
    let priority = opt(attr.priority);
    let icons = super::icon_srcs(attr);
    let extras = (super::icons_fn(attr).is_some() || attr.meta.is_some()).then(|| {
        let icons = opt(super::icons_fn(attr).map(|path| {
            let path = target.tokens(path);
            quote!(#path())
        }));
        let meta = opt(attr.meta.as_ref().map(|path| {
            let path = target.tokens(path);
            quote!(#path())
        }));
        quote!(#p::resource_extras(&mut __mcp_definition, #icons, #meta);)
    });
    let definition_mut = extras.as_ref().map(|_| quote!(mut));
    let policy = policy_fn(&p, &attr.policy, f);
    let vars_mut = uses_vars.then(|| quote!(mut));
    let call = target.call(attr, f);
    let split = super::split(&p, f);
    // Named at the function: a future that is not `Send` is reported there.
    let handler_fn = syn::Ident::new("read", f.ident.span());
    let convert = quote_spanned!(ret_span=> (&&&__mcp_ret).resource_contents(__mcp_value, &__mcp_uri, #mime_type));
    let complete = complete_fn(&p, &attr.complete, target);

    quote! {
        #[automatically_derived]
        impl #p::ResourceHandler for #marker {
            fn definition(&self) -> #p::ResourceDefinition {
                let __mcp_ret = (&&#p::Split::<#ret>::new()).ret();
                let #definition_mut __mcp_definition = #p::ResourceSpec {
                    uri: #uri,
                    template: #template,
                    name: #name,
                    title: #title,
                    description: #description,
                    mime_type: #mime_type,
                    size: #size,
                    audience: &[#(#audience),*],
                    priority: #priority,
                    icons: #icons,
                }
                .build((&&&__mcp_ret).default_mime_type());
                #extras
                __mcp_definition
            }

            #policy

            async fn #handler_fn(
                &self,
                __mcp_cx: #p::Context,
                __mcp_uri: #p::String,
                #vars_mut __mcp_vars: #p::BTreeMap<#p::String, #p::String>,
            ) -> #p::Result<#p::Vec<#p::ResourceContents>> {
                #(#extract)*
                let __mcp_out = #call;
                let __mcp_split = #p::Split::<#ret>::new();
                let __mcp_ret = (&&__mcp_split).ret();
                let __mcp_value = #split;
                #convert
            }

            #complete
        }
    }
}

/// `fn complete()` dispatching `complete(name = path)` by name, for resources and prompts.
pub(super) fn complete_fn(
    p: &TokenStream,
    complete: &[(syn::Ident, syn::Path)],
    target: &Target<'_>,
) -> Option<TokenStream> {
    if complete.is_empty() {
        return None;
    }
    let arms = complete.iter().map(|(name, path)| {
        let name = name.to_string();
        let path = target.tokens(path);
        quote_spanned! {path.span()=>
            #name => (&&#p::Completer::new(#path(&__mcp_value))).completion(),
        }
    });
    Some(quote! {
        async fn complete(
            &self,
            _: #p::Context,
            __mcp_name: #p::String,
            __mcp_value: #p::String,
            _: ::core::option::Option<#p::CompletionContext>,
        ) -> #p::Result<#p::Completion> {
            let __mcp_completion = match __mcp_name.as_str() {
                #(#arms)*
                _ => return #p::no_completion(),
            };
            __mcp_completion.await
        }
    })
}
