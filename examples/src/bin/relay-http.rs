//! The floor of what any gateway adds over Streamable HTTP: an HTTP server that forwards every
//! request to one upstream URL and streams the answer back, understanding nothing of MCP. It is
//! built on the same stack as `mcp-gateway` (axum and hyper in front, reqwest with pooled
//! keep-alive connections behind), so `scripts/bench-mcp-gateway` can show what the hop itself
//! costs beside what the gateway adds: no gateway on this stack can add less than one more HTTP
//! exchange on loopback.
//!
//! ```text
//! relay-http --port PORT UPSTREAM_URL
//! ```
//!
//! It forwards the method, the body and the headers MCP uses (`Content-Type`, `Accept`,
//! `Mcp-Session-Id`, `Mcp-Protocol-Version`, `Last-Event-ID`, `Authorization`), and answers
//! with the upstream's status, `Content-Type`, `Mcp-Session-Id` and body, streamed. A benchmark
//! reference, not a proxy to deploy: it checks nothing.

use std::process::ExitCode;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, Method, Response, StatusCode, header};
use tokio::net::TcpListener;

/// The request headers passed on, and the answer's.
const FORWARDED: [&str; 6] = [
    "content-type",
    "accept",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
    "authorization",
];
const ANSWERED: [&str; 2] = ["content-type", "mcp-session-id"];

#[derive(Clone)]
struct Relay {
    client: reqwest::Client,
    upstream: reqwest::Url,
}

async fn forward(
    State(relay): State<Relay>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let mut request = relay.client.request(method, relay.upstream.clone());
    for name in FORWARDED {
        for value in headers.get_all(name) {
            request = request.header(name, value);
        }
    }
    let answer = match request.body(body).send().await {
        Ok(answer) => answer,
        Err(e) => {
            return Response::builder()
                .status(StatusCode::BAD_GATEWAY)
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from(format!("upstream: {e}\n")))
                .expect("a valid response");
        }
    };
    let mut response = Response::builder().status(answer.status());
    for name in ANSWERED {
        if let Some(value) = answer.headers().get(name) {
            response = response.header(HeaderName::from_static(name), value);
        }
    }
    response
        .body(Body::from_stream(answer.bytes_stream()))
        .expect("a valid response")
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (port, upstream) = match args.as_slice() {
        [flag, port, url] if flag == "--port" => (port, url),
        _ => {
            eprintln!("usage: relay-http --port PORT UPSTREAM_URL");
            return ExitCode::from(2);
        }
    };
    let (Ok(port), Ok(upstream)) = (port.parse::<u16>(), reqwest::Url::parse(upstream)) else {
        eprintln!("relay-http: a port number and an http:// URL are needed");
        return ExitCode::from(2);
    };
    let relay = Relay {
        client: reqwest::Client::new(),
        upstream,
    };
    let app = axum::Router::new().fallback(forward).with_state(relay);
    let listener = match TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("relay-http: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::from(1);
        }
    };
    match axum::serve(listener, app).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("relay-http: {e}");
            ExitCode::from(1)
        }
    }
}
