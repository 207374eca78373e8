//! Streamable HTTP responses in the tests: JSON bodies and SSE streams read event by event.

use std::time::Duration;

use serde_json::Value;

/// How long a test waits for a response or an event.
const PATIENCE: Duration = Duration::from_secs(10);

pub(crate) fn session_id(r: &reqwest::Response) -> String {
    r.headers()
        .get("mcp-session-id")
        .expect("a session id")
        .to_str()
        .unwrap()
        .to_owned()
}

pub(crate) fn content_type(r: &reqwest::Response) -> String {
    r.headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

pub(crate) fn code(message: &Value) -> i64 {
    message["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("an error response: {message}"))
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Event {
    pub(crate) id: Option<String>,
    pub(crate) data: String,
    pub(crate) retry: Option<u64>,
}

impl Event {
    pub(crate) fn message(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

/// One SSE event block; `None` for a block of comments only.
pub(crate) fn parse_block(block: &str) -> Option<Event> {
    let mut event = Event::default();
    let mut any = false;
    for line in block.lines() {
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        any = true;
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => event.id = Some(value.to_owned()),
            "data" => {
                if !event.data.is_empty() {
                    event.data.push('\n');
                }
                event.data.push_str(value);
            }
            "retry" => event.retry = value.parse().ok(),
            _ => {}
        }
    }
    any.then_some(event)
}

pub(crate) fn parse_events(text: &str) -> Vec<Event> {
    text.split("\n\n").filter_map(parse_block).collect()
}

/// The JSON-RPC messages of a response, JSON or SSE, read to the end.
pub(crate) async fn messages(r: reqwest::Response) -> Vec<Value> {
    let kind = content_type(&r);
    let body = tokio::time::timeout(PATIENCE, r.text())
        .await
        .expect("the response ends in time")
        .unwrap();
    if kind.starts_with("application/json") {
        vec![serde_json::from_str(&body).unwrap()]
    } else {
        assert!(kind.starts_with("text/event-stream"), "content type {kind}");
        parse_events(&body)
            .iter()
            .filter(|e| !e.data.is_empty())
            .map(Event::message)
            .collect()
    }
}

/// The last message of a response: the answer.
pub(crate) async fn answer(r: reqwest::Response) -> Value {
    messages(r).await.pop().expect("an answer")
}

/// An SSE response read event by event.
pub(crate) struct Sse {
    response: reqwest::Response,
    buf: Vec<u8>,
}

impl Sse {
    pub(crate) fn new(response: reqwest::Response) -> Self {
        assert_eq!(response.status(), 200);
        assert_eq!(content_type(&response), "text/event-stream");
        Sse {
            response,
            buf: Vec::new(),
        }
    }

    /// The next event; `None` when the stream ends.
    pub(crate) async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buf.drain(..i + 2).collect();
                if let Some(event) = parse_block(std::str::from_utf8(&block).unwrap()) {
                    return Some(event);
                }
                continue;
            }
            let chunk = tokio::time::timeout(PATIENCE, self.response.chunk())
                .await
                .expect("an event in time");
            match chunk {
                Ok(Some(bytes)) => self.buf.extend_from_slice(&bytes),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// The next event that carries a message, with its id.
    pub(crate) async fn next_message_event(&mut self) -> Option<Event> {
        loop {
            let event = self.next().await?;
            if !event.data.is_empty() {
                return Some(event);
            }
        }
    }

    /// The next event that carries a message.
    pub(crate) async fn next_message(&mut self) -> Option<Value> {
        loop {
            let event = self.next().await?;
            if !event.data.is_empty() {
                return Some(event.message());
            }
        }
    }
}
