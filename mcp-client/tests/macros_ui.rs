//! Compile-time behaviour of `#[client]`: what compiles, and the error each mistake gives.
//!
//! The cases live in `mcp-macros/tests/ui/client/{pass,fail}/*.rs`, next to the macro, and run
//! here because they need `mcp_client` in scope. After changing a message, regenerate the
//! expected `.stderr` files with `TRYBUILD=overwrite cargo test -p mcp-client --test main macros_ui`
//! and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("../mcp-macros/tests/ui/client/pass/*.rs");
    t.compile_fail("../mcp-macros/tests/ui/client/fail/*.rs");
}
