//! What the result filters cost: `tools/call` end to end through the message-level entry
//! (`Server::serve_channel`, modern era), with a 4 KiB and a 64 KiB text result, without
//! filters and with every built-in detector redacting (on text with no secret: the common
//! case; and with a few secrets in it).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mcp_server::filter::{Action, Filters, Rule};
use mcp_server::types::{CallToolResult, ContentBlock, JsonObject, Tool};
use mcp_server::{Context, Policy, Server, ToolHandler};

mod common;

/// Returns its text.
struct Report(String);

impl ToolHandler for Report {
    fn definition(&self) -> Tool {
        Tool::new("report", JsonObject::new())
    }
    fn policy(&self) -> Policy {
        Policy::public()
    }
    async fn call(&self, _cx: Context, _args: JsonObject) -> mcp_server::Result<CallToolResult> {
        Ok(CallToolResult::success(vec![ContentBlock::text(
            self.0.clone(),
        )]))
    }
}

/// About `len` bytes of log-like text; with `secrets`, a key, an email and a card every 2 KiB.
fn text(len: usize, secrets: bool) -> String {
    let line =
        "2026-12-05T06:00:00Z INFO request served in 12 ms, status 200, 1432 bytes, user 4711\n";
    let secret = "access AKIAIOSFODNN7EXAMPLE for jane.doe@example.com, card 4111 1111 1111 1111\n";
    let mut out = String::with_capacity(len + 128);
    while out.len() < len {
        if secrets && out.len() % 2048 < line.len() {
            out.push_str(secret);
        }
        out.push_str(line);
    }
    out.truncate(len);
    out
}

const CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"report","arguments":{},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"bench","version":"1"}}}}"#;

fn bench_filter(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime");
    for (size, len) in [("4KiB", 4 * 1024), ("64KiB", 64 * 1024)] {
        let mut group = c.benchmark_group(format!("tools_call/{size}"));
        group.throughput(Throughput::Bytes(len as u64));
        for (name, filtered, secrets) in [
            ("no_filters", false, false),
            ("builtin_filters_clean", true, false),
            ("builtin_filters_secrets", true, true),
        ] {
            let mut server = Server::new("bench", "1").tool(Report(text(len, secrets)));
            if filtered {
                server =
                    server.filters(Filters::new(Rule::builtin(Action::Redact)).expect("compiles"));
            }
            common::bench_call(&mut group, &rt, name, server, CALL);
        }
        group.finish();
    }
}

criterion_group!(benches, bench_filter);
criterion_main!(benches);
