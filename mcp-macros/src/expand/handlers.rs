//! `#[handlers]` on an impl block: a handler per annotated method, and `impl Handlers` to
//! register them all.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::{ImplItem, ItemImpl, Meta, Type};

use super::{Target, dummy, handler, krate};
use crate::ast::{self, Kind};
use crate::attr;
use crate::check::{self, Place};
use crate::ctxt::Errors;

pub(crate) fn handlers(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let mut imp: ItemImpl = match syn::parse2(item.clone()) {
        Ok(imp) => imp,
        Err(_) => {
            let error = syn::Error::new(
                Span::call_site(),
                "`#[handlers]` goes on an impl block: `#[handlers] impl MyServer { ... }`",
            )
            .to_compile_error();
            return quote!(#item #error);
        }
    };
    let krate_path = match attr::parse_args(attr) {
        Ok(args) => attr::handlers_attr(args, &mut errors),
        Err(e) => {
            errors.push(e);
            None
        }
    };
    if let Some((_, path, _)) = &imp.trait_ {
        errors.on(
            path,
            "`#[handlers]` goes on an inherent impl block (`impl MyServer { ... }`), not on a trait impl",
        );
    }
    if !imp.generics.params.is_empty() {
        errors.on(&imp.generics, "`#[handlers]` impl blocks cannot be generic");
    }
    let self_ty = (*imp.self_ty).clone();
    let self_name = match &self_ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .map_or_else(|| "Handlers".to_owned(), |s| s.ident.to_string()),
        _ => "Handlers".to_owned(),
    };

    let mut items = Vec::new();
    for impl_item in &mut imp.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let mut found: Option<(Kind, Meta)> = None;
        for a in &mut method.attrs {
            let Some(kind) = a
                .path()
                .segments
                .last()
                .and_then(|s| Kind::from_attr_name(&s.ident.to_string()))
            else {
                continue;
            };
            if let Some((first, _)) = &found {
                errors.on(
                    &*a,
                    format!(
                        "a method can be one handler only; it is already a `{}`",
                        first.attr()
                    ),
                );
            } else {
                found = Some((kind, a.meta.clone()));
            }
            // Left in place, so that its path resolves (and its import counts as used); the
            // macro lets a method marked this way through unchanged.
            let path = a.path().clone();
            *a = syn::parse_quote!(#[#path(__mcp_handled)]);
        }
        let Some((kind, meta)) = found else { continue };
        let args = match &meta {
            Meta::Path(_) => Ok(Vec::new()),
            Meta::List(list) => attr::parse_args(list.tokens.clone()),
            Meta::NameValue(nv) => Err(syn::Error::new_spanned(
                nv,
                format!(
                    "expected `{}` or `{}(...)]`",
                    kind.attr(),
                    kind.attr().trim_end_matches(']')
                ),
            )),
        };
        let mut item_attr = match args {
            Ok(args) => attr::item_attr(kind, args, &mut errors),
            Err(e) => {
                errors.push(e);
                attr::item_attr(kind, Vec::new(), &mut Errors::default())
            }
        };
        if item_attr.krate.is_none() {
            item_attr.krate = krate_path.clone();
        }
        let f = ast::function(&method.attrs, &mut method.sig, &mut errors);
        let (checked, _) = check::function(&item_attr, &method.sig, &f, Place::Method, &mut errors);
        let named = item_attr.marker.is_some();
        let marker = item_attr.marker.clone().unwrap_or_else(|| {
            let name = f.ident.to_string();
            let name = name.strip_prefix("r#").unwrap_or(&name);
            format_ident!("__mcp_{}_{}", self_name, name)
        });
        items.push((item_attr, f, checked, marker, method.vis.clone(), named));
    }
    if items.is_empty() && errors.is_empty() {
        errors.on(
            &imp.self_ty,
            "`#[handlers]` found no `#[tool]`, `#[resource]` or `#[prompt]` method in this impl block",
        );
    }

    let krate = krate(krate_path.as_ref());
    let p = quote!(#krate::__private);
    let targets: Vec<Target<'_>> = items
        .iter()
        .map(|(item_attr, _, _, marker, vis, named)| Target {
            krate: super::krate(item_attr.krate.as_ref()),
            marker: marker.clone(),
            vis: vis.clone(),
            named: *named,
            self_ty: Some(&self_ty),
        })
        .collect();

    let output = if errors.is_empty() {
        let handlers = items
            .iter()
            .zip(&targets)
            .map(|((item_attr, f, checked, ..), target)| handler(item_attr, f, checked, target));
        let registrations = items.iter().map(|(item_attr, _, _, marker, ..)| {
            let method = match item_attr.kind {
                Kind::Tool => quote!(tool),
                Kind::Resource => quote!(resource),
                Kind::Prompt => quote!(prompt),
            };
            quote!(.#method(#marker(#p::Arc::clone(&self))))
        });
        quote! {
            #imp
            #(#handlers)*
            #[automatically_derived]
            impl #p::Handlers for #self_ty {
                fn register(self: #p::Arc<Self>, server: #p::Server) -> #p::Server {
                    server #(#registrations)*
                }
            }
        }
    } else {
        let dummies = items
            .iter()
            .zip(&targets)
            .map(|((item_attr, f, ..), target)| dummy(item_attr.kind, f, target));
        let errors = errors.into_compile_errors();
        quote! {
            #imp
            #(#dummies)*
            impl #p::Handlers for #self_ty {
                fn register(self: #p::Arc<Self>, _: #p::Server) -> #p::Server {
                    ::core::unreachable!()
                }
            }
            #errors
        }
    };
    crate::debug::print(&format!("#[handlers] impl {self_name}"), &output);
    output
}
