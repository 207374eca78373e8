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
    /// A plain `application/json` answer of this many bytes, streamed in chunks (no
    /// `Content-Length`) so that neither side holds it.
    HugeJson(usize),
    /// This many blank lines, then nothing.
    Blanks(usize),
    /// This many lines of a field no one knows, with comments and blank lines between.
    UnknownFields(usize),
}

/// How many bytes of a [`Misbehaviour::HugeJson`] body the fake server managed to write
/// before the client hung up.
static STREAMED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Streams `size` bytes of a JSON-looking body with chunked encoding; stops when the client
/// goes away.
async fn stream_json(w: &mut tokio::net::tcp::OwnedWriteHalf, size: usize) {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nmcp-session-id: s1\r\n\r\n";
    if w.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    while sent < size {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
        if w.write_all(&framed).await.is_err() {
            return;
        }
        sent += chunk.len();
        STREAMED.store(sent, std::sync::atomic::Ordering::SeqCst);
    }
    let _ = w.write_all(b"0\r\n\r\n").await;
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
                    if let Misbehaviour::HugeJson(size) = bad
                        && msg["method"] == "tools/call"
                        && msg["params"]["name"] == "bad"
                    {
                        stream_json(&mut w, size).await;
                        return;
                    }
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
                Misbehaviour::HugeJson(_) => unreachable!("streamed by the connection loop"),
                Misbehaviour::Blanks(n) => b"\n".repeat(n),
                Misbehaviour::UnknownFields(n) => b"x-unknown: 1\n\n".repeat(n / 2),
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

#[tokio::test]
async fn a_200_mb_json_body_is_a_clear_size_error_with_bounded_memory() {
    let url = fake_server(Misbehaviour::HugeJson(200 << 20)).await;
    let client = connect(&url).await;
    let err = client
        .call_tool("bad", json!({}))
        .await
        .expect_err("the body is over the limit");
    assert_eq!(
        err.to_string(),
        "HTTP 502: the response body exceeds 65536 bytes"
    );
    // The client stopped reading at the limit: the server could not push the 200 MB through,
    // only what the socket buffers hold.
    let streamed = STREAMED.load(std::sync::atomic::Ordering::SeqCst);
    assert!(streamed < 32 << 20, "{streamed} bytes were taken in");
    let ok = client
        .call_tool("good", json!({}))
        .await
        .expect("still works");
    assert_eq!(ok.content[0].as_text(), Some("fine"));
}

// ---------------------------------------------------------------------------------------------
// The SSRF guard: addresses that hide a private one, and ranges no server should send the client
// to. Each refusal is followed by a public address the same guard lets through.

/// The guard of a client talking to a public `https` server.
async fn public_guard() -> mcp_client::auth::UrlGuard {
    mcp_client::auth::UrlGuard::for_server("https://93.184.216.34/mcp")
        .await
        .unwrap()
}

/// Checks that `host` (an address literal as written in a URL) is refused as `kind` (`a private`,
/// `a loopback`, `a link-local`, `a forbidden`) with the exact message naming `ip` (as Rust
/// writes it), then that a public address still passes.
async fn refused_as(host: &str, ip: &str, kind: &str) {
    let parsed: std::net::IpAddr = host.trim_matches(['[', ']']).parse().unwrap();
    assert_eq!(parsed.to_string(), ip);
    let guard = public_guard().await;
    let url = format!("https://{host}/.well-known/oauth-authorization-server");
    let err = guard.check(&url).await.expect_err(&url);
    assert_eq!(
        err.to_string(),
        format!("refused URL `{url}`: the host resolves to {kind} address ({ip})")
    );
    let good = "https://93.184.216.34/.well-known/oauth-authorization-server";
    assert_eq!(guard.check(good).await.unwrap().as_str(), good);
}

#[tokio::test]
async fn ssrf_nat64_forms_of_private_addresses_are_refused() {
    // 64:ff9b::10.0.0.1, 64:ff9b::169.254.169.254, 64:ff9b::127.0.0.1
    refused_as("[64:ff9b::a00:1]", "64:ff9b::a00:1", "a private").await;
    refused_as("[64:ff9b::a9fe:a9fe]", "64:ff9b::a9fe:a9fe", "a link-local").await;
    refused_as("[64:ff9b::7f00:1]", "64:ff9b::7f00:1", "a loopback").await;
    // Local-use NAT64 (RFC 8215): the IPv4 part is the operator's.
    refused_as("[64:ff9b:1::808:808]", "64:ff9b:1::808:808", "a private").await;
}

#[tokio::test]
async fn ssrf_6to4_forms_of_private_addresses_are_refused() {
    // 2002:c0a8:0101:: carries 192.168.1.1; 2002:a9fe:a9fe:: carries 169.254.169.254.
    refused_as("[2002:c0a8:101::1]", "2002:c0a8:101::1", "a private").await;
    refused_as("[2002:a9fe:a9fe::]", "2002:a9fe:a9fe::", "a link-local").await;
    refused_as("[2002:7f00:1::]", "2002:7f00:1::", "a loopback").await;
}

#[tokio::test]
async fn ssrf_ipv4_mapped_forms_of_private_addresses_are_refused() {
    refused_as("[::ffff:10.1.2.3]", "::ffff:10.1.2.3", "a private").await;
    refused_as(
        "[::ffff:169.254.169.254]",
        "::ffff:169.254.169.254",
        "a link-local",
    )
    .await;
    refused_as("[::ffff:127.0.0.1]", "::ffff:127.0.0.1", "a loopback").await;
}

#[tokio::test]
async fn ssrf_ipv4_compatible_forms_of_private_addresses_are_refused() {
    refused_as("[::10.1.2.3]", "::a01:203", "a private").await;
    refused_as("[::169.254.169.254]", "::a9fe:a9fe", "a link-local").await;
    refused_as("[::127.0.0.2]", "::7f00:2", "a loopback").await;
}

#[tokio::test]
async fn ssrf_the_benchmarking_range_is_refused() {
    refused_as("198.18.0.1", "198.18.0.1", "a forbidden").await;
    refused_as("198.19.255.254", "198.19.255.254", "a forbidden").await;
    // Its neighbours are public.
    let guard = public_guard().await;
    assert!(guard.check("https://198.20.0.1/").await.is_ok());
    assert!(guard.check("https://198.17.255.255/").await.is_ok());
}

#[tokio::test]
async fn ssrf_the_reserved_range_240_is_refused() {
    refused_as("240.0.0.1", "240.0.0.1", "a forbidden").await;
    refused_as("254.1.2.3", "254.1.2.3", "a forbidden").await;
    refused_as("255.255.255.255", "255.255.255.255", "a forbidden").await;
}

#[tokio::test]
async fn ssrf_documentation_ranges_are_refused() {
    refused_as("192.0.2.1", "192.0.2.1", "a forbidden").await;
    refused_as("198.51.100.7", "198.51.100.7", "a forbidden").await;
    refused_as("203.0.113.9", "203.0.113.9", "a forbidden").await;
    refused_as("[2001:db8::1]", "2001:db8::1", "a forbidden").await;
    refused_as("[3fff::1]", "3fff::1", "a forbidden").await;
    // A documentation address carried by NAT64 is refused too.
    refused_as("[64:ff9b::c000:201]", "64:ff9b::c000:201", "a forbidden").await;
}

#[tokio::test]
async fn ssrf_nat64_and_6to4_forms_of_public_addresses_pass() {
    let guard = public_guard().await;
    for url in [
        "https://[64:ff9b::5db8:d822]/",
        "https://[2002:5db8:d822::1]/",
        "https://[2606:4700::1111]/",
    ] {
        assert_eq!(guard.check(url).await.unwrap().as_str(), url);
    }
}

// ---------------------------------------------------------------------------------------------
// The deprecated HTTP+SSE transport: the `endpoint` must be on the stream's origin, and little
// is kept from before it.

/// A server of the deprecated HTTP+SSE transport: GET `/sse` streams `prelude(base)` (which
/// should name the endpoint), then the answers to what is POSTed to `/messages`.
async fn legacy_server(prelude: fn(&str) -> String) -> String {
    use axum::body::{Body, Bytes};
    use axum::extract::State;
    use axum::routing::{get, post};
    use std::sync::{Arc, Mutex};
    use tokio::sync::mpsc;

    type Stream = Arc<Mutex<Option<mpsc::Sender<String>>>>;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stream: Stream = Arc::default();
    let first = prelude(&base);
    let sse = move |State(stream): State<Stream>| {
        let first = first.clone();
        async move {
            let (tx, rx) = mpsc::channel::<String>(16);
            tx.send(first).await.unwrap();
            *stream.lock().unwrap() = Some(tx);
            let body = futures::stream::unfold(rx, |mut rx| async move {
                let item = rx.recv().await?;
                Some((Ok::<_, std::io::Error>(Bytes::from(item)), rx))
            });
            axum::response::Response::builder()
                .header("content-type", "text/event-stream")
                .body(Body::from_stream(body))
                .unwrap()
        }
    };
    let messages = |State(stream): State<Stream>, body: Bytes| async move {
        let msg: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let id = msg.get("id").cloned();
        let json = match msg["method"].as_str() {
            Some("initialize") => json!({"jsonrpc": "2.0", "id": id, "result": {
                "protocolVersion": "2024-11-05",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "legacy", "version": "1"}
            }}),
            Some("tools/call") => json!({"jsonrpc": "2.0", "id": id, "result": {
                "content": [{"type": "text", "text": "fine"}]
            }}),
            _ => json!({"jsonrpc": "2.0", "id": id, "result": {}}),
        };
        if id.is_some() {
            let tx = stream.lock().unwrap().clone();
            if let Some(tx) = tx {
                let _ = tx.send(format!("event: message\ndata: {json}\n\n")).await;
            }
        }
        axum::http::StatusCode::ACCEPTED
    };
    let app = axum::Router::new()
        .route("/sse", get(sse))
        .route("/messages", post(messages))
        .with_state(stream);
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("{base}/sse")
}

async fn legacy_connect(url: &str) -> mcp_client::Result<Client> {
    let transport = HttpServer::new(url).legacy_sse_transport().await?;
    Client::builder()
        .era(EraChoice::Legacy)
        .timeout(Duration::from_secs(20))
        .connect(transport)
        .await
}

/// A well-behaved legacy server still works.
async fn a_good_legacy_server_is_served() {
    let url = legacy_server(|_| "event: endpoint\ndata: /messages?session=1\n\n".to_owned()).await;
    let client = legacy_connect(&url).await.expect("connects");
    let ok = client.call_tool("good", json!({})).await.expect("works");
    assert_eq!(ok.content[0].as_text(), Some("fine"));
}

#[tokio::test]
async fn a_legacy_endpoint_on_another_origin_is_refused() {
    // The same host on another port is another origin.
    let url = legacy_server(|base| {
        let port: u16 = base.rsplit(':').next().unwrap().parse().unwrap();
        let other = if port == 65535 { port - 1 } else { port + 1 };
        format!("event: endpoint\ndata: http://127.0.0.1:{other}/messages\n\n")
    })
    .await;
    let err = legacy_connect(&url).await.expect_err("refused");
    let origin = url.trim_end_matches("/sse");
    let port: u16 = origin.rsplit(':').next().unwrap().parse().unwrap();
    let other = if port == 65535 { port - 1 } else { port + 1 };
    assert_eq!(
        err.to_string(),
        format!(
            "the server broke the protocol: the endpoint `http://127.0.0.1:{other}/messages` is not on the origin of the SSE stream `{origin}`"
        )
    );
    let url =
        legacy_server(|_| "event: endpoint\ndata: https://evil.example/messages\n\n".to_owned())
            .await;
    let err = legacy_connect(&url).await.expect_err("refused");
    assert!(
        err.to_string()
            .contains("the endpoint `https://evil.example/messages` is not on the origin"),
        "{err}"
    );
    a_good_legacy_server_is_served().await;
}

#[tokio::test]
async fn a_legacy_stream_buffers_few_events_before_the_endpoint() {
    let url = legacy_server(|_| {
        let early =
            "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\"}\n\n";
        format!("{}event: endpoint\ndata: /messages\n\n", early.repeat(17))
    })
    .await;
    let err = legacy_connect(&url).await.expect_err("refused");
    assert_eq!(
        err.to_string(),
        "the server broke the protocol: more than 16 events before the `endpoint` event"
    );
    // A comment flood before the endpoint is bounded by the SSE limits.
    let url = legacy_server(|_| ": x\n".repeat(100_001)).await;
    let err = legacy_connect(&url).await.expect_err("refused");
    assert_eq!(
        err.to_string(),
        "the server broke the protocol: more than 100000 SSE comment lines in a row"
    );
    a_good_legacy_server_is_served().await;
}

// ---------------------------------------------------------------------------------------------
// Server-to-client requests run with bounded concurrency.

/// A roots handler that holds every request until released, counting those inside.
struct HeldRoots {
    inside: std::sync::atomic::AtomicUsize,
    entered: tokio::sync::mpsc::UnboundedSender<()>,
    release: tokio::sync::watch::Receiver<bool>,
}

impl mcp_client::ClientHandler for HeldRoots {
    fn capabilities(&self) -> mcp_client::HandlerCapabilities {
        mcp_client::HandlerCapabilities {
            roots: true,
            ..Default::default()
        }
    }
    async fn roots(&self) -> Result<Vec<mcp_client::types::Root>, mcp_core::ErrorObject> {
        self.inside
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let _ = self.entered.send(());
        let mut release = self.release.clone();
        let _ = release.wait_for(|r| *r).await;
        self.inside
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        Ok(Vec::new())
    }
}

#[tokio::test]
async fn server_requests_run_with_bounded_concurrency() {
    use std::sync::atomic::Ordering;
    use tokio::io::AsyncBufReadExt;
    let (client_w, server_r) = tokio::io::duplex(1 << 20);
    let (mut server_w, client_r) = tokio::io::duplex(1 << 20);
    let (entered_tx, mut entered) = tokio::sync::mpsc::unbounded_channel();
    let (release_tx, release) = tokio::sync::watch::channel(false);
    let handler = std::sync::Arc::new(HeldRoots {
        inside: Default::default(),
        entered: entered_tx,
        release,
    });
    // The fake server: answers `initialize`, collects everything else the client sends.
    let (from_client_tx, mut from_client) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let mut lines = BufReader::new(server_r).lines();
    let init = tokio::spawn(async move {
        let first: Value =
            serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
        let answer = json!({"jsonrpc": "2.0", "id": first["id"], "result": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "serverInfo": {"name": "fake", "version": "1"}
        }});
        (answer, lines)
    });
    let transport = mcp_client::Transport::from_io(client_r, client_w);
    let connecting = tokio::spawn(
        Client::builder()
            .era(EraChoice::Legacy)
            .handler(handler.clone())
            .max_server_requests(4)
            .connect(transport),
    );
    let (answer, mut lines) = init.await.unwrap();
    server_w
        .write_all(format!("{answer}\n").as_bytes())
        .await
        .unwrap();
    let client = connecting.await.unwrap().unwrap();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = from_client_tx.send(serde_json::from_str(&line).unwrap());
        }
    });
    // Six `roots/list` at once: four reach the handler, two are refused at once.
    for i in 0..6 {
        let request = json!({"jsonrpc": "2.0", "id": format!("r{i}"), "method": "roots/list"});
        server_w
            .write_all(format!("{request}\n").as_bytes())
            .await
            .unwrap();
    }
    let mut refused = Vec::new();
    while refused.len() < 2 {
        let m = from_client.recv().await.unwrap();
        if m["id"].is_string() {
            refused.push(m);
        }
    }
    for m in &refused {
        assert_eq!(m["error"]["code"], -32000, "{m}");
        assert_eq!(
            m["error"]["message"],
            "the client is busy: more than 4 server requests at once"
        );
    }
    let ids: Vec<&str> = refused.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["r4", "r5"]);
    for _ in 0..4 {
        entered.recv().await.unwrap();
    }
    assert_eq!(handler.inside.load(Ordering::SeqCst), 4);
    // Released, the four are answered, and the permits are back: a later request is served.
    release_tx.send_replace(true);
    let mut answered = 0;
    while answered < 4 {
        let m = from_client.recv().await.unwrap();
        if m["id"].is_string() {
            assert_eq!(m["result"]["roots"], json!([]), "{m}");
            answered += 1;
        }
    }
    let request = json!({"jsonrpc": "2.0", "id": "later", "method": "roots/list"});
    server_w
        .write_all(format!("{request}\n").as_bytes())
        .await
        .unwrap();
    loop {
        let m = from_client.recv().await.unwrap();
        if m["id"] == "later" {
            assert_eq!(m["result"]["roots"], json!([]), "{m}");
            break;
        }
    }
    drop(client);
}

// ---------------------------------------------------------------------------------------------
// A child server's stderr lines are length-limited.

/// Log output, line by line, to a channel.
#[derive(Clone)]
struct LogLines(tokio::sync::mpsc::UnboundedSender<String>);

impl std::io::Write for LogLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = self.0.send(String::from_utf8_lossy(buf).into_owned());
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogLines {
    type Writer = LogLines;
    fn make_writer(&'a self) -> LogLines {
        self.clone()
    }
}

#[tokio::test]
async fn captured_stderr_lines_of_a_child_are_length_limited() {
    let (tx, mut logged) = tokio::sync::mpsc::unbounded_channel();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(LogLines(tx))
        .with_ansi(false)
        .without_time()
        .with_target(false)
        .with_level(false)
        .finish();
    let _guard = crate::capture_logs(subscriber);
    // One line of a million bytes, then a short one.
    let script = "head -c 1000000 /dev/zero | tr '\\0' x >&2; echo >&2; echo done >&2";
    let transport = mcp_client::StdioServer::new("sh")
        .args(["-c", script])
        .stderr(mcp_client::StderrMode::Capture)
        .spawn()
        .unwrap();
    let long = logged.recv().await.unwrap();
    let expected = format!("{}… (991808 more bytes cut)\n", "x".repeat(8192));
    assert_eq!(long.trim_start(), expected);
    // The next line is logged whole.
    let next = logged.recv().await.unwrap();
    assert_eq!(next.trim_start(), "done\n");
    drop(transport);
}

// ---------------------------------------------------------------------------------------------
// Blank lines and unknown fields count towards the comment flood.

#[tokio::test]
async fn a_flood_of_blank_lines_or_unknown_sse_fields_is_a_clear_error() {
    for flood in [
        Misbehaviour::Blanks(200_000),
        Misbehaviour::UnknownFields(200_000),
    ] {
        let url = fake_server(flood).await;
        let client = connect(&url).await;
        let err = client
            .call_tool("bad", json!({}))
            .await
            .expect_err("too many empty lines");
        assert!(
            err.to_string()
                .contains("more than 10000 SSE comment lines in a row"),
            "{err}"
        );
        let ok = client
            .call_tool("good", json!({}))
            .await
            .expect("still works");
        assert_eq!(ok.content[0].as_text(), Some("fine"));
    }
}
