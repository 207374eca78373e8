//! Server-Sent Events: a parser with limits, and the writer's side.
//!
//! The parser follows the HTML living standard's event stream interpretation (fields `event`,
//! `data`, `id`, `retry`, comments, `\n`, `\r\n` and `\r` line ends) and bounds memory: a line or
//! an event larger than [`SseLimits::max_event_size`] is an error, and so is a run of more than
//! [`SseLimits::max_comment_lines`] lines without an event (comments, unknown fields, blank lines
//! that end no event: a stream of keep-alives forever is still fine as long as events come, the
//! count restarts at every event; lines of `event`, `data`, `id` and `retry` count towards the
//! event's size).

use std::fmt::Write as _;

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event` field (`message` when absent).
    pub event: Option<String>,
    /// The `data` lines, joined with `\n`.
    pub data: String,
    /// The `id` field, if the event had one.
    pub id: Option<String>,
    /// The `retry` field, in milliseconds.
    pub retry: Option<u64>,
}

/// Limits of the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseLimits {
    /// The largest event (all its lines), in bytes (default 4 MiB).
    pub max_event_size: usize,
    /// The most lines carrying nothing (comments, unknown fields, blank lines that end no event)
    /// in a row before an event (default 100,000).
    pub max_comment_lines: usize,
}

impl Default for SseLimits {
    fn default() -> Self {
        SseLimits {
            max_event_size: 4 * 1024 * 1024,
            max_comment_lines: 100_000,
        }
    }
}

/// Why a stream was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// An event or a line is larger than the limit.
    #[error("an SSE event exceeds {0} bytes")]
    TooLarge(usize),
    /// Too many comment lines in a row.
    #[error("more than {0} SSE comment lines in a row")]
    TooManyComments(usize),
    /// The stream is not UTF-8.
    #[error("the SSE stream is not UTF-8")]
    NotUtf8,
}

/// An incremental parser: push bytes, take events.
#[derive(Debug, Default)]
pub struct SseParser {
    limits: SseLimits,
    line: Vec<u8>,
    event: SseEvent,
    has_data: bool,
    event_size: usize,
    comments: usize,
    last_was_cr: bool,
    failed: Option<SseError>,
}

impl SseParser {
    /// A parser with limits.
    pub fn new(limits: SseLimits) -> Self {
        SseParser {
            limits,
            ..Default::default()
        }
    }

    /// Feeds bytes; returns the events they complete. After an error the parser stays failed.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let mut events = Vec::new();
        for &b in bytes {
            if self.last_was_cr {
                self.last_was_cr = false;
                if b == b'\n' {
                    continue;
                }
            }
            match b {
                b'\n' | b'\r' => {
                    self.last_was_cr = b == b'\r';
                    if let Err(e) = self.end_line(&mut events) {
                        self.failed = Some(e.clone());
                        return Err(e);
                    }
                }
                _ => {
                    if self.line.len() >= self.limits.max_event_size {
                        let e = SseError::TooLarge(self.limits.max_event_size);
                        self.failed = Some(e.clone());
                        return Err(e);
                    }
                    self.line.push(b);
                }
            }
        }
        Ok(events)
    }

    fn end_line(&mut self, events: &mut Vec<SseEvent>) -> Result<(), SseError> {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            if self.has_data || self.event.id.is_some() || self.event.retry.is_some() {
                let mut event = std::mem::take(&mut self.event);
                if event.data.ends_with('\n') {
                    event.data.pop();
                }
                if self.has_data {
                    events.push(event);
                } else if event.id.is_some() || event.retry.is_some() {
                    // An event with no data still carries its id and retry.
                    events.push(SseEvent {
                        data: String::new(),
                        ..event
                    });
                }
                // An event: the run of lines without one starts over.
                self.comments = 0;
            } else {
                self.event = SseEvent::default();
                // A blank line that ends no event is as empty as a comment.
                self.count_empty_line()?;
            }
            self.has_data = false;
            self.event_size = 0;
            return Ok(());
        }
        let line = String::from_utf8(line).map_err(|_| SseError::NotUtf8)?;
        if line.starts_with(':') {
            return self.count_empty_line();
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_str(), ""),
        };
        if !matches!(field, "event" | "data" | "id" | "retry") {
            // An unknown field is ignored, as a comment is, and counted as one.
            return self.count_empty_line();
        }
        self.event_size += line.len() + 1;
        if self.event_size > self.limits.max_event_size {
            return Err(SseError::TooLarge(self.limits.max_event_size));
        }
        match field {
            "event" => self.event.event = Some(value.to_owned()),
            "data" => {
                self.event.data.push_str(value);
                self.event.data.push('\n');
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.event.id = Some(value.to_owned()),
            "retry" => {
                if let Ok(ms) = value.parse() {
                    self.event.retry = Some(ms);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Counts a line that carries nothing (a comment, an unknown field, a blank line ending no
    /// event): only an event restarts the count.
    fn count_empty_line(&mut self) -> Result<(), SseError> {
        self.comments += 1;
        if self.comments > self.limits.max_comment_lines {
            return Err(SseError::TooManyComments(self.limits.max_comment_lines));
        }
        Ok(())
    }
}

/// Writes one event in wire form: `id:`, `event:`, `retry:` and one `data:` line per line.
pub fn write_event(event: &SseEvent, out: &mut String) {
    if let Some(id) = &event.id {
        let _ = writeln!(out, "id: {id}");
    }
    if let Some(name) = &event.event {
        let _ = writeln!(out, "event: {name}");
    }
    if let Some(retry) = event.retry {
        let _ = writeln!(out, "retry: {retry}");
    }
    for line in event.data.split('\n') {
        let _ = writeln!(out, "data: {line}");
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut p = SseParser::default();
        chunks.iter().flat_map(|c| p.push(c).unwrap()).collect()
    }

    #[test]
    fn fields_line_ends_and_chunking() {
        let text = b"id: 7\r\nevent: message\rdata: {\"a\":1}\ndata: x\n\n: keep-alive\n\nretry: 3000\nid: 8\n\n";
        let whole = parse_all(&[text]);
        let bytewise: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(parse_all(&bytewise), whole);
        assert_eq!(
            whole,
            vec![
                SseEvent {
                    event: Some("message".into()),
                    data: "{\"a\":1}\nx".into(),
                    id: Some("7".into()),
                    retry: None
                },
                SseEvent {
                    event: None,
                    data: String::new(),
                    id: Some("8".into()),
                    retry: Some(3000)
                },
            ]
        );
    }

    #[test]
    fn limits_hold() {
        let mut p = SseParser::new(SseLimits {
            max_event_size: 16,
            max_comment_lines: 3,
        });
        assert_eq!(
            p.push(b"data: 0123456789abcdef\n"),
            Err(SseError::TooLarge(16))
        );
        assert!(p.push(b"data: x\n\n").is_err(), "stays failed");
        let mut p = SseParser::new(SseLimits {
            max_event_size: 16,
            max_comment_lines: 3,
        });
        assert!(p.push(b":a\n:b\n:c\ndata: ok\n\n").unwrap().len() == 1);
        assert_eq!(
            p.push(b":a\n:b\n:c\n:d\n"),
            Err(SseError::TooManyComments(3))
        );
    }

    #[test]
    fn blank_lines_and_unknown_fields_do_not_reset_the_comment_count() {
        let limits = SseLimits {
            max_event_size: 64,
            max_comment_lines: 3,
        };
        for flood in [
            &b":a\n\n:b\n\n"[..],
            b"x-unknown: 1\n:a\nfoo\n:b\n",
            b"\n\n\n\n",
            b"bar: 1\nbar: 2\nbar: 3\nbar: 4\n",
        ] {
            let mut p = SseParser::new(limits);
            assert_eq!(
                p.push(flood),
                Err(SseError::TooManyComments(3)),
                "{flood:?}"
            );
        }
        // An event restarts the count, and keep-alives between events are fine.
        let mut p = SseParser::new(limits);
        for _ in 0..10 {
            assert_eq!(p.push(b":a\n:b\ndata: x\n\n").unwrap().len(), 1);
        }
    }

    #[test]
    fn write_then_parse() {
        let e = SseEvent {
            event: Some("message".into()),
            data: "line1\nline2".into(),
            id: Some("s-1".into()),
            retry: Some(10),
        };
        let mut out = String::new();
        write_event(&e, &mut out);
        assert_eq!(parse_all(&[out.as_bytes()]), vec![e]);
    }
}
