//! Example MCP servers and clients live in `src/bin/` of this crate:
//!
//! - `sqlite-analytics`: analytics over a SQLite database (macros; read-only queries enforced
//!   by SQLite, an approval-gated write, schema resources, an analysis prompt);
//! - `files`: the client's roots through `FileResources`, search and line-range reads;
//! - `secure-http`: operations behind OAuth, with approvals and an audit trail;
//! - `calc`, `macros-kpi`: the macros; `manual-server`, `http-server`: the handler traits by
//!   hand; `interop-client`, `interop-gateway-client`, `interop-everything`, `loadgen`: clients
//!   for the interop tests and benchmarks (`interop` holds what the first two share); `relay-floor`: the floor of a stdio gateway (copies bytes) and `relay-peek`:
//!   the floor of a pass-through one (peeks, decides, audits, splices ids), for the gateway
//!   benchmark.
//!
//! The guide in `docs/` is included below as hidden modules, so that `cargo test --doc`
//! compiles (and runs) every code block in it.

pub mod interop;

/// `docs/README.md`.
#[doc = include_str!("../../docs/README.md")]
#[doc(hidden)]
pub mod guide {
    #[doc = include_str!("../../docs/first-tool.md")]
    pub mod first_tool {}
    #[doc = include_str!("../../docs/resources.md")]
    pub mod resources {}
    #[doc = include_str!("../../docs/prompts.md")]
    pub mod prompts {}
    #[doc = include_str!("../../docs/errors.md")]
    pub mod errors {}
    #[doc = include_str!("../../docs/state.md")]
    pub mod state {}
    #[doc = include_str!("../../docs/testing.md")]
    pub mod testing {}
    #[doc = include_str!("../../docs/security.md")]
    pub mod security {}
    #[doc = include_str!("../../docs/http.md")]
    pub mod http {}
}
