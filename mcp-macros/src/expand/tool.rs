//! `impl ToolHandler` for a `#[tool]` function.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::{Target, arg_ident, default_fn, opt_str, policy_fn};
use crate::ast::Function;
use crate::attr::ItemAttr;

pub(super) fn expand(attr: &ItemAttr, f: &Function, target: &Target<'_>) -> TokenStream {
    // Inside the item's `const _` block, where `__mcp` is the runtime's `__private`.
    let p = quote!(__mcp);
    let marker = &target.marker;
    let args_param = f.params.iter().position(|p| p.args.is_some());

    let mut describe = Vec::new();
    let mut extract = Vec::new();
    let mut flatten_describe = Vec::new();
    let mut flatten_extract = Vec::new();
    let tool_name = super::item_name(attr, f);
    for (i, param) in f.params.iter().enumerate() {
        let ty = target.ty(&param.ty);
        let span = param.ty.span();
        let var = arg_ident(i);
        let name = &param.name;
        if Some(i) == args_param {
            extract.push(quote_spanned! {span=>
                let #var = #p::extract_args::<#ty>(::core::mem::take(&mut __mcp_args))?;
            });
        } else if args_param.is_some() {
            // With `#[args]`, every other parameter is injected.
            extract.push(quote_spanned! {span=>
                let #var = <#ty as #p::FromContext>::from_context(&__mcp_cx)?;
            });
        } else if param.arg.flatten.is_some() {
            // After the plain arguments: the struct takes what they left.
            flatten_describe.push(quote_spanned! {span=>
                #p::flatten_schema::<#ty>(&mut __mcp_schema, #tool_name, #name);
            });
            flatten_extract.push(quote_spanned! {span=>
                let #var = #p::extract_flatten::<#ty>(&__mcp_args)?;
            });
        } else if param.injected() {
            // Injected, as the macro decided (`#[ctx]`, or the type's name): the contract leaves
            // it out of `{Marker}Input`, and the type must implement `FromContext`.
            let by = if param.ctx.is_some() {
                quote_spanned!(span=> InjectedByMarker)
            } else {
                quote_spanned!(span=> InjectedByName)
            };
            extract.push(quote_spanned! {span=>
                let #var = <#ty as #p::#by>::inject(&__mcp_cx)?;
            });
        } else {
            // An argument. Unmarked, a `FromContext` type is refused (`#[ctx]` or `#[arg]`
            // decides); `#[arg]` skips that check (one reference less).
            let param_ref = if param.arg.span.is_some() {
                quote_spanned!(span=> &&&)
            } else {
                quote_spanned!(span=> &&&&)
            };
            let description = opt_str(param.description.as_deref());
            let has_default = param.arg.default.is_some();
            describe.push(quote_spanned! {span=>
                (#param_ref #p::Param::<#ty>::new()).describe(&mut __mcp_schema, #name, #description, #has_default);
            });
            extract.push(match &param.arg.default {
                None => quote_spanned! {span=>
                    let #var = (#param_ref #p::Param::<#ty>::new()).extract(&__mcp_cx, &mut __mcp_args, #name)?;
                },
                Some(default) => {
                    let default = default_fn(default, target);
                    quote_spanned! {span=>
                        let #var = (#param_ref #p::Param::<#ty>::new()).extract_or(&__mcp_cx, &mut __mcp_args, #name, #default)?;
                    }
                }
            });
        }
    }

    describe.append(&mut flatten_describe);
    extract.append(&mut flatten_extract);
    let raw = attr.raw_schema;
    let input_schema = match args_param {
        Some(i) => {
            let ty = target.ty(&f.params[i].ty);
            quote_spanned!(f.params[i].ty.span()=> #p::args_schema::<#ty>(#raw))
        }
        None if describe.is_empty() => quote!(#p::ObjectSchemaBuilder::new().raw(#raw).build()),
        None => quote!({
            let mut __mcp_schema = #p::ObjectSchemaBuilder::new().raw(#raw);
            #(#describe)*
            __mcp_schema.build()
        }),
    };

    let ret = target.ty(&f.output);
    let ret_span = f.output_span;
    let name = super::item_name(attr, f);
    // Only what is declared; the rest comes from `ToolSpec::EMPTY`.
    let mut fields = vec![quote!(name: #name,)];
    if let Some(title) = &attr.title {
        fields.push(quote!(title: #p::Some(#title),));
    }
    if let Some(description) = super::description(attr, f) {
        fields.push(quote!(description: #p::Some(#description),));
    }
    for (field, value) in [
        (quote!(read_only), attr.read_only),
        (quote!(destructive), attr.destructive),
        (quote!(idempotent), attr.idempotent),
        (quote!(open_world), attr.open_world),
    ] {
        if let Some(value) = value {
            fields.push(quote!(#field: #p::Some(#value),));
        }
    }
    if let Some(task_support) = &attr.task_support {
        fields.push(quote!(task_support: #p::Some(#task_support),));
    }
    if let Some(crate::attr::Icons::Srcs(srcs)) = &attr.icons {
        fields.push(quote!(icons: &[#(#srcs),*],));
    }
    let icons_fn = super::icons_fn(attr).map(|path| {
        let path = target.tokens(path);
        quote!(__mcp_tool.icons = #p::Some(#path());)
    });
    let meta_fn = attr.meta.as_ref().map(|path| {
        let path = target.tokens(path);
        quote!(__mcp_tool.meta = #p::Some(#path());)
    });
    let tool_mut = (icons_fn.is_some() || meta_fn.is_some()).then(|| quote!(mut));
    let policy = policy_fn(&p, &attr.policy, f);
    let defer_task = attr.defer_task.then(|| {
        quote!(
            fn defers_task(&self) -> bool {
                true
            }
        )
    });
    let args_mut = (!extract.is_empty()).then(|| quote!(mut));
    let call = target.call(attr, f);
    let split = super::split(&p, f);
    // Named at the function: a future that is not `Send` is reported there.
    let handler_fn = syn::Ident::new("call", f.ident.span());
    let convert = quote_spanned!(ret_span=> (&&&__mcp_ret).tool_result(__mcp_value));
    let output_schema =
        quote_spanned!(ret_span=> (&&&(&&#p::Split::<#ret>::new()).ret()).output_schema());

    quote! {
        /// The output schema, shared by the handler and the contract.
        fn __mcp_output_schema() -> #p::Option<#p::JsonObject> {
            #output_schema
        }

        #[automatically_derived]
        impl #p::ToolHandler for #marker {
            fn definition(&self) -> #p::Tool {
                let #tool_mut __mcp_tool = #p::ToolSpec { #(#fields)* ..#p::ToolSpec::EMPTY }
                    .build(#input_schema, __mcp_output_schema());
                #icons_fn
                #meta_fn
                __mcp_tool
            }

            #policy

            #defer_task

            async fn #handler_fn(
                &self,
                __mcp_cx: #p::Context,
                #args_mut __mcp_args: #p::JsonObject,
            ) -> #p::Result<#p::CallToolResult> {
                #(#extract)*
                let __mcp_out = #call;
                let __mcp_split = #p::Split::<#ret>::new();
                let __mcp_ret = (&&__mcp_split).ret();
                let __mcp_value = #split;
                #convert
            }
        }
    }
}
