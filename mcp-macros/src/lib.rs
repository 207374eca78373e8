#![doc = include_str!("../README.md")]

mod ast;
mod attr;
mod case;
mod check;
mod client;
mod ctxt;
mod debug;
mod expand;
mod template;
#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

#[doc = include_str!("../docs/tool.md")]
#[proc_macro_attribute]
pub fn tool(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::item(ast::Kind::Tool, attr.into(), item.into()).into()
}

#[doc = include_str!("../docs/resource.md")]
#[proc_macro_attribute]
pub fn resource(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::item(ast::Kind::Resource, attr.into(), item.into()).into()
}

#[doc = include_str!("../docs/prompt.md")]
#[proc_macro_attribute]
pub fn prompt(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::item(ast::Kind::Prompt, attr.into(), item.into()).into()
}

#[doc = include_str!("../docs/handlers.md")]
#[proc_macro_attribute]
pub fn handlers(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::handlers(attr.into(), item.into()).into()
}

#[doc = include_str!("../docs/client.md")]
#[proc_macro_attribute]
pub fn client(attr: TokenStream, item: TokenStream) -> TokenStream {
    client::client(attr.into(), item.into()).into()
}
