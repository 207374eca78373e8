//! Compile-time behaviour of the macros: what compiles, and the error each mistake gives.
//!
//! The cases live in `mcp-macros/tests/ui/<macro>/{pass,fail}/*.rs`, next to the macros, and run
//! here because they need `mcp_server` in scope. After changing a message, regenerate the
//! expected `.stderr` files with `TRYBUILD=overwrite cargo test -p mcp-server --test main macros_ui`
//! and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    for m in ["tool", "resource", "prompt", "handlers"] {
        t.pass(format!("../mcp-macros/tests/ui/{m}/pass/*.rs"));
        t.compile_fail(format!("../mcp-macros/tests/ui/{m}/fail/*.rs"));
    }
}
