//! Snapshots of the expansions, pretty-printed: what `#[tool]` and friends write, reviewable with
//! `cargo insta review`.

use proc_macro2::TokenStream;
use quote::quote;

use crate::ast::Kind;
use crate::expand;

fn pretty(tokens: TokenStream) -> String {
    let file: syn::File = syn::parse2(tokens).expect("the expansion parses");
    prettyplease::unparse(&file)
}

#[test]
fn tool() {
    let out = expand::item(
        Kind::Tool,
        quote!(),
        quote! {
            /// Add two numbers.
            pub async fn add(
                /// The left operand.
                a: f64,
                b: f64,
            ) -> f64 {
                a + b
            }
        },
    );
    insta::assert_snapshot!(pretty(out));
}

#[test]
fn tool_with_options_and_injected_parameters() {
    let out = expand::item(
        Kind::Tool,
        quote!(
            title = "Query KPIs",
            read_only,
            scopes = ["kpi:read"],
            rate_limit = "10/min"
        ),
        quote! {
            async fn query(
                db: State<Db>,
                #[arg(rename = "metric", description = "What to query.")] m: Metric,
                #[arg(default = 10)] limit: u32,
                #[arg(sensitive)] token: Option<String>,
            ) -> Result<Json<Report>, Error> {
                todo()
            }
        },
    );
    insta::assert_snapshot!(pretty(out));
}

#[test]
fn tool_blocking_with_flattened_arguments() {
    let out = expand::item(
        Kind::Tool,
        quote!(blocking),
        quote! {
            /// Search the documents.
            pub fn search(
                db: State<Db>,
                /// What to look for.
                query: String,
                #[arg(flatten)] options: SearchOptions,
            ) -> anyhow::Result<Vec<String>> {
                todo()
            }
        },
    );
    insta::assert_snapshot!(pretty(out));
}

#[test]
fn resource_template() {
    let out = expand::item(
        Kind::Resource,
        quote!(
            "kpi://reports/{year}/{month}",
            mime_type = "application/json",
            complete(month = months)
        ),
        quote! {
            /// A monthly report.
            async fn report(db: State<Db>, year: u16, month: u8) -> Result<Report, Error> {
                todo()
            }
        },
    );
    insta::assert_snapshot!(pretty(out));
}

#[test]
fn prompt() {
    let out = expand::item(
        Kind::Prompt,
        quote!(),
        quote! {
            /// Review code.
            fn review(
                /// The code.
                code: String,
                language: Option<String>,
            ) -> Vec<PromptMessage> {
                todo()
            }
        },
    );
    insta::assert_snapshot!(pretty(out));
}

#[test]
fn handlers() {
    let out = expand::handlers(
        quote!(),
        quote! {
            impl Kpi {
                /// Count.
                #[tool(read_only)]
                async fn count(&self, cx: Context) -> u64 {
                    todo()
                }

                #[prompt]
                fn explain(self: Arc<Self>, metric: String) -> String {
                    todo()
                }

                fn helper(&self) {}
            }
        },
    );
    insta::assert_snapshot!(pretty(out));
}

#[test]
fn errors_come_with_the_function_and_a_dummy_marker() {
    let out = expand::item(
        Kind::Tool,
        quote!(descripton = "x", rate_limit = "often"),
        quote! {
            fn add(a: f64, b: f64) -> f64 {
                a + b
            }
        },
    );
    insta::assert_snapshot!(pretty(out));
}

#[test]
fn a_handled_method_passes_through() {
    let item = quote! {
        fn count(&self) -> u64 {
            1
        }
    };
    let out = expand::item(Kind::Tool, quote!(__mcp_handled), item.clone());
    assert_eq!(out.to_string(), item.to_string());
}
