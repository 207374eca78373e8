//! The client against a misbehaving HTTP server (the "Client side" table of SECURITY.md): an
//! oversized SSE event and a flood of SSE comment lines give a clear error with bounded memory,
//! and the client keeps working afterwards.

use std::time::Duration;

use mcp_client::{Client, EraChoice, HttpServer};
use mcp_core::sse::SseLimits;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// What the fake server streams in answer to `tools/call`.
#[derive(Clone, Copy)]
enum Misbehaviour {
    /// One event of this many bytes.
    HugeEvent(usize),
    /// This many comment lines, then nothing.
    Comments(usize),
}

/// A minimal HTTP/1.1 server: answers `initialize` properly, notifications with 202, `tools/call`
/// with `bad` for the tool `bad` and with a good result otherwise.
async fn fake_server(bad: Misbehaviour) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut r = BufReader::new(r);
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0; length];
                    if r.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let msg: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let reply = answer(&msg, bad);
                    if w.write_all(&reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

fn http(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nmcp-session-id: s1\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

fn answer(msg: &Value, bad: Misbehaviour) -> Vec<u8> {
    let id = msg.get("id").cloned();
    match msg["method"].as_str() {
        Some("initialize") => {
            let r = json!({"jsonrpc": "2.0", "id": id, "result": {
                "protocolVersion": "2025-11-25",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "fake", "version": "1"}
            }});
            http("200 OK", "application/json", r.to_string().as_bytes())
        }
        Some("tools/call") if msg["params"]["name"] == "bad" => {
            let body = match bad {
                Misbehaviour::HugeEvent(n) => {
                    let mut b = b"data: ".to_vec();
                    b.resize(6 + n, b'x');
                    b.extend_from_slice(b"\n\n");
                    b
                }
                Misbehaviour::Comments(n) => b": keep-alive\n".repeat(n),
            };
            http("200 OK", "text/event-stream", &body)
        }
        Some("tools/call") => {
            let r = json!({"jsonrpc": "2.0", "id": id, "result": {
                "content": [{"type": "text", "text": "fine"}]
            }});
            let event = format!("data: {r}\n\n");
            http("200 OK", "text/event-stream", event.as_bytes())
        }
        _ if id.is_none() => http("202 Accepted", "application/json", b""),
        _ => {
            let r = json!({"jsonrpc": "2.0", "id": id, "result": {}});
            http("200 OK", "application/json", r.to_string().as_bytes())
        }
    }
}

async fn connect(url: &str) -> Client {
    let server = HttpServer::new(url).sse_limits(SseLimits {
        max_event_size: 64 * 1024,
        max_comment_lines: 10_000,
    });
    Client::builder()
        .era(EraChoice::Legacy)
        .timeout(Duration::from_secs(20))
        .connect_http(server)
        .await
        .expect("connects")
}

#[tokio::test]
async fn an_oversized_sse_event_is_a_clear_error() {
    let url = fake_server(Misbehaviour::HugeEvent(1 << 20)).await;
    let client = connect(&url).await;
    let err = client
        .call_tool("bad", json!({}))
        .await
        .expect_err("the event is over the limit");
    assert!(err.to_string().contains("exceeds 65536 bytes"), "{err}");
    let ok = client
        .call_tool("good", json!({}))
        .await
        .expect("still works");
    assert_eq!(ok.content[0].as_text(), Some("fine"));
}

#[tokio::test]
async fn a_flood_of_sse_comments_is_a_clear_error() {
    let url = fake_server(Misbehaviour::Comments(200_000)).await;
    let client = connect(&url).await;
    let err = client
        .call_tool("bad", json!({}))
        .await
        .expect_err("too many comment lines");
    assert!(
        err.to_string()
            .contains("more than 10000 SSE comment lines"),
        "{err}"
    );
    let ok = client
        .call_tool("good", json!({}))
        .await
        .expect("still works");
    assert_eq!(ok.content[0].as_text(), Some("fine"));
}
