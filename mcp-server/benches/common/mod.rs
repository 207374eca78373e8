//! What the end-to-end benches share: one request sent again and again to a server through the
//! message-level entry (`Server::serve_channel`), each iteration until its answer is back.

use std::hint::black_box;

use criterion::BenchmarkGroup;
use criterion::measurement::WallTime;
use mcp_server::Server;
use mcp_server::mcp_core::JsonRpcMessage;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

/// Serves `server` on `rt` and measures `request` (a JSON-RPC request) end to end as `name`.
pub(crate) fn bench_call(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &Runtime,
    name: &str,
    server: Server,
    request: &str,
) {
    let (to_server, incoming) = mpsc::channel(16);
    let (outgoing, mut from_server) = mpsc::channel(16);
    rt.spawn(server.serve_channel(incoming, outgoing));
    let request = JsonRpcMessage::from_json(request).expect("a request");
    group.bench_function(name, |b| {
        b.iter(|| {
            rt.block_on(async {
                to_server.send(request.clone()).await.expect("serving");
                let answer = from_server.recv().await.expect("an answer");
                black_box(answer)
            })
        });
    });
}
