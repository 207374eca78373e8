//! `impl PromptHandler` for a `#[prompt]` function.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::{Target, arg_ident, default_fn, opt_lit, opt_str, policy_fn};
use crate::ast::Function;
use crate::attr::ItemAttr;

pub(super) fn expand(attr: &ItemAttr, f: &Function, target: &Target<'_>) -> TokenStream {
    // Inside the item's `const _` block, where `__mcp` is the runtime's `__private`.
    let p = quote!(__mcp);
    let marker = &target.marker;

    let mut describe = Vec::new();
    let mut extract = Vec::new();
    for (i, param) in f.params.iter().enumerate() {
        let ty = target.ty(&param.ty);
        let span = param.ty.span();
        let var = arg_ident(i);
        let name = &param.name;
        if param.ctx.is_some() {
            extract.push(quote_spanned! {span=>
                let #var = <#ty as #p::InjectedByMarker>::inject(&__mcp_cx)?;
            });
            continue;
        }
        let description = opt_str(param.description.as_deref());
        let has_default = param.arg.default.is_some();
        describe.push(quote_spanned! {span=>
            (&&&#p::PromptParam::<#ty>::new()).describe(&mut __mcp_arguments, #name, #description, #has_default);
        });
        extract.push(match &param.arg.default {
            None => quote_spanned! {span=>
                let #var = (&&&#p::PromptParam::<#ty>::new()).extract(&__mcp_cx, &mut __mcp_args, #name)?;
            },
            Some(default) => {
                let default = default_fn(default, target);
                quote_spanned! {span=>
                    let #var = (&&&#p::PromptParam::<#ty>::new()).extract_or(&__mcp_cx, &mut __mcp_args, #name, #default)?;
                }
            }
        });
    }

    let ret = target.ty(&f.output);
    let ret_span = f.output_span;
    let name = super::item_name(attr, f);
    let title = opt_lit(attr.title.as_ref());
    let description = super::description(attr, f);
    let description = opt_str(description.as_deref());
    let icons = super::icon_srcs(attr);
    let icons_fn = super::icons_fn(attr).map(|path| {
        let path = target.tokens(path);
        quote!(__mcp_prompt.icons = ::core::option::Option::Some(#path());)
    });
    let meta_fn = attr.meta.as_ref().map(|path| {
        let path = target.tokens(path);
        quote!(__mcp_prompt.meta = ::core::option::Option::Some(#path());)
    });
    let prompt_mut = (icons_fn.is_some() || meta_fn.is_some()).then(|| quote!(mut));
    let arguments_mut = (!describe.is_empty()).then(|| quote!(mut));
    let args_mut = (!extract.is_empty()).then(|| quote!(mut));
    let policy = policy_fn(&p, &attr.policy, f);
    let call = target.call(attr, f);
    let split = super::split(&p, f);
    // Named at the function: a future that is not `Send` is reported there.
    let handler_fn = syn::Ident::new("get", f.ident.span());
    let convert = quote_spanned!(ret_span=> (&&__mcp_ret).prompt_result(__mcp_value)?);
    let complete = super::resource::complete_fn(&p, &attr.complete, target);

    quote! {
        #[automatically_derived]
        impl #p::PromptHandler for #marker {
            fn definition(&self) -> #p::Prompt {
                let #arguments_mut __mcp_arguments = #p::Vec::new();
                #(#describe)*
                let #prompt_mut __mcp_prompt = #p::PromptSpec {
                    name: #name,
                    title: #title,
                    description: #description,
                    icons: #icons,
                }
                .build(__mcp_arguments);
                #icons_fn
                #meta_fn
                __mcp_prompt
            }

            #policy

            async fn #handler_fn(
                &self,
                __mcp_cx: #p::Context,
                #args_mut __mcp_args: #p::BTreeMap<#p::String, #p::String>,
            ) -> #p::Result<#p::GetPromptResult> {
                #(#extract)*
                let __mcp_out = #call;
                let __mcp_split = #p::Split::<#ret>::new();
                let __mcp_ret = (&&__mcp_split).ret();
                let __mcp_value = #split;
                ::core::result::Result::Ok(#p::with_description(#convert, #description))
            }

            #complete
        }
    }
}
