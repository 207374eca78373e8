//! The integration tests of mcp-client, in one binary.

mod auth;
mod cli;
mod client;
mod host;
mod macros_ui;
mod security;
mod typed;

/// Installs `subscriber` for this thread, so that what it captures does not depend on which
/// parallel test reaches a log line first. `tracing` caches per line, for the whole process,
/// whether the line is wanted; with a single dispatcher alive the first thread to reach it
/// decides alone, and a parallel test without a subscriber would silence the line everywhere.
/// A second dispatcher, alive for the whole run, makes every such decision ask all of them.
pub(crate) fn capture_logs(
    subscriber: impl tracing::Subscriber + Send + Sync + 'static,
) -> tracing::subscriber::DefaultGuard {
    static ANCHOR: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
    ANCHOR.get_or_init(|| tracing::Dispatch::new(tracing_subscriber::registry()));
    let guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();
    guard
}
