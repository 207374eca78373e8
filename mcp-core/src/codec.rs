//! Newline-delimited JSON framing for JSON-RPC messages (the stdio transport), without I/O.
//!
//! # Framing
//!
//! Every message is one line: compact JSON followed by `\n`. JSON escapes control characters inside
//! strings, so a newline byte can only end a message.
//!
//! - A line ends at `\n`; a `\r` right before it is dropped, so `\r\n` line endings are accepted.
//! - Blank lines (nothing but spaces, tabs and `\r`) are skipped.
//! - At the end of input, [`LineDecoder::finish`] also decodes a last line that has no `\n`.
//! - Batches (a top-level JSON array) are not supported and are answered with -32600.
//!
//! # Limits
//!
//! [`CodecConfig`] bounds what one line may cost:
//!
//! - **Size**: a line longer than [`CodecConfig::max_message_size`] bytes (not counting its `\r\n`
//!   or `\n`) is rejected. Once the unterminated line being received passes the limit, the decoder
//!   stops buffering it and drops its bytes until the next `\n`, keeping only what it needs to
//!   answer. It then yields one error for the whole line and carries on with the next. So the
//!   decoder never holds more than about the limit plus the chunk being pushed, whatever the input
//!   (a 100 MB line, or endless bytes without a newline), provided that the caller drains
//!   [`LineDecoder::decode_next`] until it returns `None` after each [`LineDecoder::push`].
//! - **Depth**: before a line is parsed, a single linear scan (aware of strings and escapes, with
//!   no recursion and no allocation) measures how deeply its arrays and objects nest; a line
//!   nesting deeper than [`CodecConfig::max_depth`] is rejected without being parsed. (`serde_json`
//!   has its own recursion limit of 128, so a `max_depth` above that has no further effect.)
//!
//! Within the limits, [`JsonRpcMessage::from_slice`] parses and classifies the line.
//!
//! # Errors
//!
//! Every bad line gives one [`DecodeError`], whose [`DecodeError::into_response`] is the error
//! response to write back; the decoder then goes on with the next line.
//!
//! | Line                                                   | Code   | `id`                      |
//! |--------------------------------------------------------|--------|---------------------------|
//! | not UTF-8, or not JSON                                 | -32700 | null                      |
//! | nesting deeper than `max_depth`                        | -32700 | null                      |
//! | longer than `max_message_size`, id not found early on  | -32700 | null                      |
//! | longer than `max_message_size`, id found early on      | -32600 | the id                    |
//! | a batch (`[...]`), a scalar or a string                | -32600 | null                      |
//! | an object that is not a valid JSON-RPC 2.0 message     | -32600 | the id, if it is valid    |
//!
//! For an over-long line the id is looked for, best effort, in the first
//! [`ID_SCAN_WINDOW`] bytes (or `max_message_size` bytes, if fewer): a top-level `"id"` member
//! holding a string or an integer, found before any value that does not fit in that window.
//!
//! # Encoding
//!
//! [`encode`] writes a message as one line of JSON followed by `\n`.
//!
//! # Example
//!
//! ```
//! # use mcp_core::codec::{encode_to_string, CodecConfig, LineDecoder};
//! # use mcp_core::jsonrpc::ErrorCode;
//! let mut decoder = LineDecoder::new(CodecConfig::default());
//! decoder.push(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\r\n\n[1,2]\n{\"jsonrpc\":");
//!
//! let ping = decoder.decode_next().unwrap().unwrap();
//! assert_eq!(ping.method(), Some("ping"));
//!
//! let batch = decoder.decode_next().unwrap().unwrap_err();
//! assert_eq!(batch.error.code, ErrorCode::INVALID_REQUEST);
//! let reply = batch.into_response(); // write this back
//!
//! assert!(decoder.decode_next().is_none()); // the last line is not complete yet
//! decoder.push(b"\"2.0\",\"method\":\"notifications/initialized\"}");
//! let initialized = decoder.finish().unwrap().unwrap(); // end of input
//! assert_eq!(
//!     encode_to_string(&initialized),
//!     "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n"
//! );
//! ```

use std::collections::VecDeque;
use std::fmt;

use serde_json::json;

use crate::jsonrpc::{
    ErrorCode, ErrorObject, JsonRpcError, JsonRpcMessage, MessageError, RequestId,
};

/// How many leading bytes of an over-long line are searched for its id (fewer when
/// [`CodecConfig::max_message_size`] is smaller).
pub const ID_SCAN_WINDOW: usize = 4096;

/// The smallest buffer capacity the decoder allocates (unless the size limit is smaller).
const MIN_CAPACITY: usize = 8 * 1024;

/// Limits on what one message may cost the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CodecConfig {
    /// The longest line accepted, in bytes, not counting its `\n` or `\r\n`. Default: 4 MiB.
    pub max_message_size: usize,
    /// The deepest nesting of arrays and objects accepted; `{}` nests 1 deep. Default: 64.
    pub max_depth: usize,
}

impl CodecConfig {
    /// The default [`CodecConfig::max_message_size`]: 4 MiB.
    pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;
    /// The default [`CodecConfig::max_depth`]: 64.
    pub const DEFAULT_MAX_DEPTH: usize = 64;

    /// Sets [`CodecConfig::max_message_size`].
    #[must_use]
    pub fn with_max_message_size(mut self, max_message_size: usize) -> Self {
        self.max_message_size = max_message_size;
        self
    }

    /// Sets [`CodecConfig::max_depth`].
    #[must_use]
    pub fn with_max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth;
        self
    }
}

impl Default for CodecConfig {
    fn default() -> Self {
        CodecConfig {
            max_message_size: Self::DEFAULT_MAX_MESSAGE_SIZE,
            max_depth: Self::DEFAULT_MAX_DEPTH,
        }
    }
}

/// What was wrong with a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The line is longer than [`CodecConfig::max_message_size`] (-32700, or -32600 with the id
    /// when the id could be read from the start of the line).
    TooLarge,
    /// Arrays and objects nest deeper than [`CodecConfig::max_depth`] (-32700).
    TooDeep,
    /// The line is not UTF-8 or not JSON (-32700).
    Parse,
    /// The line is JSON but not a valid JSON-RPC message (-32600).
    Invalid,
}

/// A line that did not decode to a message, with the error response it calls for.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{error}")]
pub struct DecodeError {
    /// What was wrong.
    pub kind: DecodeErrorKind,
    /// The id of the offending request, where it could be read: the error response echoes it.
    pub id: Option<RequestId>,
    /// The error to send back.
    pub error: ErrorObject,
}

impl DecodeError {
    /// The error's code.
    pub fn code(&self) -> ErrorCode {
        self.error.code
    }

    /// The error response to send back.
    pub fn into_response(self) -> JsonRpcError {
        JsonRpcError::new(self.id, self.error)
    }

    fn too_large(id: Option<RequestId>, limit: usize) -> Self {
        let message = format!("message too large: a line exceeds the limit of {limit} bytes");
        let error = match id {
            Some(_) => ErrorObject::invalid_request(message),
            None => ErrorObject::parse_error(message),
        };
        DecodeError {
            kind: DecodeErrorKind::TooLarge,
            id,
            error: error.with_data(json!({ "maxMessageSize": limit })),
        }
    }

    fn too_deep(limit: usize) -> Self {
        DecodeError {
            kind: DecodeErrorKind::TooDeep,
            id: None,
            error: ErrorObject::parse_error(format!(
                "parse error: arrays and objects nest deeper than {limit} levels"
            )),
        }
    }
}

impl From<MessageError> for DecodeError {
    fn from(e: MessageError) -> Self {
        let kind = if e.error.code == ErrorCode::PARSE_ERROR {
            DecodeErrorKind::Parse
        } else {
            DecodeErrorKind::Invalid
        };
        DecodeError {
            kind,
            id: e.id,
            error: e.error,
        }
    }
}

impl From<DecodeError> for JsonRpcError {
    fn from(e: DecodeError) -> Self {
        e.into_response()
    }
}

/// Decodes one complete message (for example an HTTP body) under the limits of `config`.
///
/// Unlike a line, `bytes` may contain newlines between JSON tokens.
///
/// # Errors
///
/// As for a line of the stream (see the [module documentation](self)): over the size limit,
/// nested too deep, not UTF-8 or not JSON, or not a valid JSON-RPC message.
pub fn decode(bytes: &[u8], config: &CodecConfig) -> Result<JsonRpcMessage, DecodeError> {
    if bytes.len() > config.max_message_size {
        let window = &bytes[..id_window(config)];
        return Err(DecodeError::too_large(
            scan_id(window),
            config.max_message_size,
        ));
    }
    if nests_deeper_than(bytes, config.max_depth) {
        return Err(DecodeError::too_deep(config.max_depth));
    }
    JsonRpcMessage::from_slice(bytes).map_err(DecodeError::from)
}

/// Writes `msg` as one line: compact JSON followed by `\n`.
///
/// JSON escapes newlines inside strings; a raw `params` or `result` that was built from
/// pretty-printed text may still hold newlines between its tokens, and those are written as
/// spaces, so the output is always exactly one line.
pub fn encode(msg: &JsonRpcMessage, out: &mut Vec<u8>) {
    let start = out.len();
    // Writing to a `Vec` cannot fail, nor can serializing a message: its only maps have string
    // keys, and its raw values are valid JSON.
    serde_json::to_writer(&mut *out, msg).expect("a JSON-RPC message always serializes");
    // In valid JSON, a raw `\n` or `\r` can only be whitespace between tokens.
    for b in &mut out[start..] {
        if *b == b'\n' || *b == b'\r' {
            *b = b' ';
        }
    }
    out.push(b'\n');
}

/// [`encode`] into a new `String`: the JSON text followed by `\n`.
pub fn encode_to_string(msg: &JsonRpcMessage) -> String {
    let mut out = Vec::with_capacity(128);
    encode(msg, &mut out);
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// A sans-I/O decoder for newline-delimited JSON-RPC messages.
///
/// Feed it bytes as they arrive with [`push`](Self::push), then call
/// [`decode_next`](Self::decode_next) (or use it as an [`Iterator`]) until it returns `None`,
/// which means that it needs more input. At the end of input, call [`finish`](Self::finish) until
/// it returns `None`. See the [module documentation](self) for the framing rules and limits.
///
/// ```
/// # use mcp_core::codec::LineDecoder;
/// let mut decoder = LineDecoder::default();
/// for chunk in [&b"{\"jsonrpc\":\"2.0\",\"met"[..], b"hod\":\"a\"}\n{\"jsonrpc\":\"2.0\",\"method\":\"b\"}\n"] {
///     decoder.push(chunk);
///     for outcome in &mut decoder {
///         println!("{}", outcome.unwrap().method().unwrap());
///     }
/// }
/// ```
pub struct LineDecoder {
    config: CodecConfig,
    /// Received bytes; `buf[..start]` has been consumed.
    buf: Vec<u8>,
    /// Where the current line starts.
    start: usize,
    /// `buf[start..scanned]` holds no `\n` (unless `line_end` is set, which is where the search
    /// stopped): each byte is searched once.
    scanned: usize,
    /// The position of the `\n` that ends the current line, once found.
    line_end: Option<usize>,
    /// Set, to the error it will give, while an over-long line is being dropped until its `\n`;
    /// then `buf` is empty.
    discarding: Option<DecodeError>,
    /// Errors for over-long lines that have ended; they come before anything in `buf`.
    ready: VecDeque<DecodeError>,
}

impl fmt::Debug for LineDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineDecoder")
            .field("config", &self.config)
            .field("buffered_len", &self.buffered_len())
            .field("buffer_capacity", &self.buffer_capacity())
            .field("discarding", &self.discarding.is_some())
            .field("ready_errors", &self.ready.len())
            .finish()
    }
}

impl Default for LineDecoder {
    fn default() -> Self {
        Self::new(CodecConfig::default())
    }
}

impl LineDecoder {
    /// A decoder with the given limits.
    pub fn new(config: CodecConfig) -> Self {
        LineDecoder {
            config,
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            line_end: None,
            discarding: None,
            ready: VecDeque::new(),
        }
    }

    /// The decoder's limits.
    pub fn config(&self) -> &CodecConfig {
        &self.config
    }

    /// How many received bytes are held and not yet decoded (bytes of an over-long line that are
    /// being dropped do not count).
    pub fn buffered_len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The capacity of the internal buffer, in bytes: the memory it holds.
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Whether the decoder is dropping the rest of an over-long line.
    pub fn is_discarding(&self) -> bool {
        self.discarding.is_some()
    }

    /// Appends received bytes. Then call [`decode_next`](Self::decode_next) until it returns
    /// `None`.
    pub fn push(&mut self, mut bytes: &[u8]) {
        if self.discarding.is_some() {
            // Drop the over-long line's bytes without buffering them.
            let Some(newline) = find_newline(bytes) else {
                return;
            };
            self.ready.extend(self.discarding.take());
            bytes = &bytes[newline + 1..];
        }
        if bytes.is_empty() {
            return;
        }
        self.make_room(bytes.len());
        self.buf.extend_from_slice(bytes);
        if self.line_end.is_none() {
            self.search();
        }
    }

    /// The outcome of the next complete line, skipping blank lines, or `None` if no line is
    /// complete (push more bytes, or call [`finish`](Self::finish) at the end of input).
    pub fn decode_next(&mut self) -> Option<Result<JsonRpcMessage, DecodeError>> {
        if let Some(error) = self.ready.pop_front() {
            return Some(Err(error));
        }
        loop {
            let end = match self.line_end.take() {
                Some(end) => end,
                None => {
                    self.search();
                    self.line_end.take()?
                }
            };
            let line = self.start..end;
            self.start = end + 1;
            self.scanned = self.start;
            let outcome = decode_line(&self.buf[line], &self.config);
            if self.start == self.buf.len() {
                self.clear();
            }
            if outcome.is_some() {
                return outcome;
            }
        }
    }

    /// Signals the end of input: the outcome of the next line, where the last line needs no `\n`,
    /// or `None` once everything is decoded. Call it until it returns `None`.
    ///
    /// Once it has returned `None`, the decoder is empty and may decode a new stream.
    pub fn finish(&mut self) -> Option<Result<JsonRpcMessage, DecodeError>> {
        if let Some(outcome) = self.decode_next() {
            return Some(outcome);
        }
        if let Some(error) = self.discarding.take() {
            return Some(Err(error));
        }
        // What is left is one unterminated line, within the limit (else it would be discarded).
        let outcome = decode_line(&self.buf[self.start..], &self.config);
        self.clear();
        outcome
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
        self.scanned = 0;
        self.line_end = None;
    }

    /// Looks for the current line's `\n` in the bytes not yet searched; if there is none and the
    /// line is already over the limit, starts dropping it.
    fn search(&mut self) {
        debug_assert!(self.line_end.is_none());
        match find_newline(&self.buf[self.scanned..]) {
            Some(i) => self.line_end = Some(self.scanned + i),
            None => {
                self.scanned = self.buf.len();
                // One byte of slack: a line exactly at the limit may still have its `\r` to come.
                if self.buffered_len() > self.config.max_message_size.saturating_add(1) {
                    self.start_discarding();
                }
            }
        }
    }

    fn start_discarding(&mut self) {
        let window = id_window(&self.config);
        let id = scan_id(&self.buf[self.start..self.start + window]);
        self.discarding = Some(DecodeError::too_large(id, self.config.max_message_size));
        self.clear();
    }

    /// Compacts or grows the buffer so that `additional` more bytes fit, keeping its capacity near
    /// the size limit.
    fn make_room(&mut self, additional: usize) {
        let live = self.buffered_len();
        let needed = self.buf.len() + additional;
        let grow = needed > self.buf.capacity();
        // Moving the live bytes costs no more than the consumed bytes they replace, or (when the
        // buffer would grow) a quarter of them: linear overall.
        if self.start > 0 && (self.start >= live || (grow && self.start >= live / 4)) {
            self.buf.copy_within(self.start.., 0);
            self.buf.truncate(live);
            self.scanned -= self.start;
            self.line_end = self.line_end.map(|end| end - self.start);
            self.start = 0;
        }
        let needed = self.buf.len() + additional;
        let capacity = self.buf.capacity();
        if needed <= capacity {
            return;
        }
        let target = if self.line_end.is_none() && self.scanned == self.buf.len() {
            // The buffer holds part of one line, which is dropped, not buffered, once it passes
            // the limit: so grow to the limit (plus `\r\n`) at most, or just fit the new bytes.
            let soft_cap = self.config.max_message_size.saturating_add(2);
            capacity
                .saturating_mul(2)
                .max(MIN_CAPACITY)
                .min(soft_cap)
                .max(needed)
        } else {
            // Lines are piling up undecoded: amortized growth.
            capacity.saturating_mul(2).max(needed)
        };
        self.buf.reserve_exact(target - self.buf.len());
    }
}

impl Iterator for LineDecoder {
    type Item = Result<JsonRpcMessage, DecodeError>;

    /// [`LineDecoder::decode_next`]: `None` means that more input is needed, not that the stream
    /// has ended.
    fn next(&mut self) -> Option<Self::Item> {
        self.decode_next()
    }
}

/// The index of the first `\n` (`memchr`: SIMD, with AVX2 where the CPU has it).
fn find_newline(bytes: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', bytes)
}

fn id_window(config: &CodecConfig) -> usize {
    ID_SCAN_WINDOW.min(config.max_message_size)
}

/// Decodes a line without its `\n`; `None` for a blank line.
fn decode_line(line: &[u8], config: &CodecConfig) -> Option<Result<JsonRpcMessage, DecodeError>> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() > config.max_message_size {
        let id = scan_id(&line[..id_window(config)]);
        return Some(Err(DecodeError::too_large(id, config.max_message_size)));
    }
    if line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
        return None;
    }
    if nests_deeper_than(line, config.max_depth) {
        return Some(Err(DecodeError::too_deep(config.max_depth)));
    }
    Some(JsonRpcMessage::from_slice(line).map_err(DecodeError::from))
}

/// Whether arrays and objects in `bytes` nest deeper than `max`: one pass, skipping strings (with
/// their escapes), without recursion. Malformed JSON is left to the parser.
fn nests_deeper_than(bytes: &[u8], max: usize) -> bool {
    // Nothing can nest deeper than there are openers, in strings or not: counting them is a
    // quick pass the compiler vectorizes, and it settles the common message, a few levels deep.
    if openers(bytes) <= max {
        return false;
    }
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => match string_end(bytes, i) {
                Some(end) => i = end,
                None => return false,
            },
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    false
}

/// How many `[` and `{` there are in `bytes`, strings included. Counted 64 bytes at a time in
/// bytes (a chunk has at most 64): summed as `usize`, each match was widened to eight bytes, and
/// the count cost four instructions a byte where this costs under one.
fn openers(bytes: &[u8]) -> usize {
    bytes
        .chunks(64)
        .map(|chunk| {
            let n: u8 = chunk
                .iter()
                .map(|&b| u8::from(b == b'[') | u8::from(b == b'{'))
                .sum();
            usize::from(n)
        })
        .sum()
}

/// The index of the first `"` or `\\`. It tests 8 bytes at a time, in a `u64`: a string's
/// escapes can be close together, so each match must be cheap to locate.
fn find_quote_or_backslash(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // The lowest byte of `x` that is zero has its high bit set in the result (bytes above it may
    // be marked falsely, which the lowest set bit never is).
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let (words, rest) = bytes.as_chunks::<8>();
    for (i, word) in words.iter().enumerate() {
        let word = u64::from_le_bytes(*word);
        let found = zero_bytes(word ^ (ONES * u64::from(b'"')))
            | zero_bytes(word ^ (ONES * u64::from(b'\\')));
        if found != 0 {
            return Some(i * 8 + found.trailing_zeros() as usize / 8);
        }
    }
    rest.iter()
        .position(|&b| b == b'"' || b == b'\\')
        .map(|j| words.len() * 8 + j)
}

/// The index of the `"` that closes the string opened at `open`, or `None` if it is not closed.
fn string_end(bytes: &[u8], open: usize) -> Option<usize> {
    let mut i = open + 1;
    loop {
        i += find_quote_or_backslash(bytes.get(i..)?)?;
        if bytes[i] == b'"' {
            return Some(i);
        }
        i += 2; // the backslash and the character it escapes
    }
}

/// Best effort: the id of the message that `prefix` starts, if a top-level `"id"` member holding a
/// valid id appears before anything that does not fit in `prefix`.
fn scan_id(prefix: &[u8]) -> Option<RequestId> {
    let mut s = Scanner {
        bytes: prefix,
        i: 0,
    };
    s.expect(b'{')?;
    loop {
        let key = s.string()?;
        s.expect(b':')?;
        s.skip_ws();
        let value = s.value()?;
        if is_id_key(key) {
            // `RequestId` accepts strings and integers within `i64`, nothing else.
            return serde_json::from_slice(value).ok();
        }
        match s.next_token()? {
            b',' => {}
            _ => return None,
        }
    }
}

/// Whether a key, quotes included, is `"id"` (perhaps spelled with escapes).
fn is_id_key(key: &[u8]) -> bool {
    key == b"\"id\""
        || (key.contains(&b'\\') && serde_json::from_slice::<String>(key).is_ok_and(|k| k == "id"))
}

/// A cursor over the start of a JSON text, for [`scan_id`].
struct Scanner<'a> {
    bytes: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn skip_ws(&mut self) {
        while matches!(self.bytes.get(self.i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }

    /// The next byte after whitespace, consumed.
    fn next_token(&mut self) -> Option<u8> {
        self.skip_ws();
        let b = *self.bytes.get(self.i)?;
        self.i += 1;
        Some(b)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next_token()? == byte).then_some(())
    }

    /// A string, quotes included.
    fn string(&mut self) -> Option<&'a [u8]> {
        self.skip_ws();
        if self.bytes.get(self.i) != Some(&b'"') {
            return None;
        }
        let end = string_end(self.bytes, self.i)?;
        let s = &self.bytes[self.i..=end];
        self.i = end + 1;
        Some(s)
    }

    /// A whole value, which must end within the bytes.
    fn value(&mut self) -> Option<&'a [u8]> {
        let start = self.i;
        match *self.bytes.get(self.i)? {
            b'"' => return self.string(),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match *self.bytes.get(self.i)? {
                        b'"' => self.i = string_end(self.bytes, self.i)?,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            _ => {
                // A number or a literal: it must be followed by a delimiter, or it may be cut off.
                while self
                    .bytes
                    .get(self.i)
                    .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
                {
                    self.i += 1;
                }
                self.bytes.get(self.i)?;
            }
        }
        Some(&self.bytes[start..self.i])
    }
}
