//! Audit records: JSON Lines round trip, the hash chain and `verify` (library and `mcp-audit`),
//! redaction, concurrency, the tracing sink, and W3C trace context.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mcp_server::Identity;
use mcp_server::audit::{
    Audit, AuditKind, AuditRecord, AuditSink, Decision, JsonlSink, MemorySink, Outcome, Overflow,
    VerifyError, hash_arguments, verify, verify_with_key,
};
use mcp_server::trace::{TraceContext, TraceParentError};
use mcp_server::types::JsonObject;
use serde_json::{Value, json};

const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn obj(v: Value) -> JsonObject {
    v.as_object().unwrap().clone()
}

/// A record as the dispatcher would write for a tool call, at a fixed time.
fn record(i: usize) -> AuditRecord {
    AuditRecord::new(AuditKind::Response, "tools/call")
        .with_time(SystemTime::UNIX_EPOCH + Duration::from_millis(1_785_240_000_000 + i as u64))
        .with_principal(Some(&Identity::configured("alice")))
        .with_session_id("s-1")
        .with_request_id((i as i64).into())
        .with_item(format!("tool-{i}"))
        .with_arguments(
            &obj(json!({"n": i, "password": "hunter2"})),
            &["password".into()],
        )
        .with_decision(Decision::Allow, Some("scopes ok"))
        .with_outcome(Outcome::Ok, None)
        .with_latency(Duration::from_micros(1500))
        .with_trace(Some(&TraceContext::parse(TP).unwrap()))
}

fn write_log(path: &Path, n: usize, chained: bool) {
    let mut b = JsonlSink::builder(path);
    if chained {
        b = b.chained();
    }
    let sink = b.open().unwrap();
    for i in 0..n {
        sink.record(&record(i));
    }
    sink.flush().unwrap();
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn rewrite(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

fn altered_line(result: Result<impl std::fmt::Debug, VerifyError>) -> (usize, String) {
    match result {
        Err(VerifyError::Altered { line, reason }) => (line, reason),
        other => panic!("expected an altered line, got {other:?}"),
    }
}

fn log_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("audit.jsonl")
}

#[test]
fn jsonl_lines_round_trip_to_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_log(&path, 3, false);
    let lines = lines(&path);
    assert_eq!(lines.len(), 3);
    for (i, line) in lines.iter().enumerate() {
        let back: AuditRecord = serde_json::from_str(line).unwrap();
        assert_eq!(back, record(i));
    }
    let first: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(first["time"], "2026-07-28T12:00:00.000Z");
    assert_eq!(first["principal"], "alice");
    assert_eq!(first["latency_ms"], 1.5);
    assert_eq!(first["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    // Absent fields are there as null: every line has the same shape.
    assert_eq!(first["error_code"], Value::Null);
    // Not chained: verify refuses to vouch for it.
    let (line, reason) = altered_line(verify(&path));
    assert_eq!(line, 1);
    assert!(reason.contains("not a hash-chained record"), "{reason}");
}

#[test]
fn a_chained_line_looks_like_this() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_log(&path, 2, true);
    insta::assert_snapshot!(std::fs::read_to_string(&path).unwrap());
}

#[test]
fn the_chain_verifies_and_continues_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_log(&path, 3, true);
    write_log(&path, 2, true);
    let report = verify(&path).unwrap();
    assert_eq!(report.records, 5);
    let last: Value = serde_json::from_str(lines(&path).last().unwrap()).unwrap();
    assert_eq!(report.last_hash.as_deref(), last["hash"].as_str());
    // Each line links to the one before.
    let all = lines(&path);
    let second: Value = serde_json::from_str(&all[1]).unwrap();
    let first: Value = serde_json::from_str(&all[0]).unwrap();
    assert_eq!(second["prev"], first["hash"]);
    assert_eq!(first["prev"], mcp_server::audit::GENESIS);
    // Text that JSON escapes, and text it does not, verifies too.
    let sink = JsonlSink::builder(&path).chained().open().unwrap();
    sink.record(&record(5).with_item("café \"q\" \\ \n\t\u{1}/ 😀"));
    drop(sink);
    assert_eq!(verify(&path).unwrap().records, 6);
    // An empty log is a valid, empty chain.
    let empty = dir.path().join("empty.jsonl");
    write_log(&empty, 0, true);
    assert_eq!(verify(&empty).unwrap().records, 0);
}

/// Rotation: after the file is renamed, `reopen` writes to a new file at the path, which starts
/// with a `continued` record linking it to the old one; each file verifies on its own and the
/// new one says where it continues from. A reopen of the same file just goes on appending; a
/// file that starts mid-chain without the `continued` record is still refused (its head was
/// cut).
#[test]
fn a_rotated_log_continues_its_chain_in_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let sink = JsonlSink::builder(&path).chained().open().unwrap();
    sink.record(&record(0));
    sink.record(&record(1));
    sink.flush().unwrap();
    // Reopened where nothing was rotated: the same file, the same chain, no extra record.
    sink.reopen().unwrap();
    sink.record(&record(2));
    sink.flush().unwrap();
    assert_eq!(lines(&path).len(), 3);
    let old = verify(&path).unwrap();
    assert_eq!((old.records, old.continues.as_deref()), (3, None));

    let rotated = dir.path().join("audit.jsonl.1");
    std::fs::rename(&path, &rotated).unwrap();
    sink.record(&record(3));
    // Queued before the reopen: written to the rotated file, which it ends.
    sink.reopen().unwrap();
    sink.record(&record(4));
    drop(sink);

    let before = verify(&rotated).unwrap();
    assert_eq!(before.records, 4);
    let after = verify(&path).unwrap();
    assert_eq!(after.records, 2);
    assert_eq!(after.continues, before.last_hash);
    let first: Value = serde_json::from_str(&lines(&path)[0]).unwrap();
    assert_eq!(first["kind"], "continued");
    assert_eq!(first["method"], "audit/continued");
    // A restart goes on in the new file.
    write_log(&path, 1, true);
    assert_eq!(verify(&path).unwrap().records, 3);

    // The head of the new file cut off (the `continued` record and one more): refused.
    let cut = dir.path().join("cut.jsonl");
    rewrite(&cut, &lines(&path)[1..]);
    let (line, reason) = altered_line(verify(&cut));
    assert_eq!(line, 1);
    assert!(reason.contains("does not start the chain"), "{reason}");

    // The command line says where the chain continues from.
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-audit"))
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "continues from: {}",
            before.last_hash.as_deref().unwrap()
        )),
        "{text}"
    );
}

#[test]
fn an_altered_line_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_log(&path, 5, true);
    let mut all = lines(&path);
    all[2] = all[2].replace("\"principal\":\"alice\"", "\"principal\":\"mallory\"");
    rewrite(&path, &all);
    let (line, reason) = altered_line(verify(&path));
    assert_eq!(line, 3);
    assert!(reason.contains("changed"), "{reason}");

    // A duplicated key that JSON readers resolve differently (the first wins for some, the last
    // for serde_json), or any reformatting, is refused even though the parsed content is intact.
    let b = dir.path().join("b.jsonl");
    write_log(&b, 3, true);
    let clean = lines(&b);
    let mut all = clean.clone();
    all[1] = all[1].replacen("{", "{\"principal\":\"mallory\",", 1);
    rewrite(&b, &all);
    let (line, reason) = altered_line(verify(&b));
    assert_eq!(line, 2);
    assert!(reason.contains("duplicated"), "{reason}");
    let mut all = clean.clone();
    let v: Value = serde_json::from_str(&all[2]).unwrap();
    all[2] = serde_json::to_string_pretty(&v).unwrap().replace('\n', " ");
    rewrite(&b, &all);
    assert_eq!(altered_line(verify(&b)).0, 3);
    rewrite(&b, &clean);
    assert_eq!(verify(&b).unwrap().records, 3);
}

#[test]
fn a_removed_line_is_found_at_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_log(&path, 5, true);
    let mut all = lines(&path);
    all.remove(2);
    rewrite(&path, &all);
    let (line, reason) = altered_line(verify(&path));
    assert_eq!(line, 3);
    assert!(reason.contains("removed or inserted"), "{reason}");

    // The first line removed.
    let mut all = lines(&path);
    all.remove(0);
    rewrite(&path, &all);
    let (line, reason) = altered_line(verify(&path));
    assert_eq!(line, 1);
    assert!(reason.contains("does not start the chain"), "{reason}");
}

#[test]
fn an_inserted_line_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_log(&path, 4, true);
    let clean = lines(&path);

    // A replayed copy of a valid line.
    let mut all = clean.clone();
    all.insert(2, clean[1].clone());
    rewrite(&path, &all);
    assert_eq!(altered_line(verify(&path)).0, 3);

    // A record without a chain.
    let mut all = clean.clone();
    all.insert(1, serde_json::to_string(&record(9)).unwrap());
    rewrite(&path, &all);
    assert_eq!(altered_line(verify(&path)).0, 2);

    // A line with a well-formed but wrong hash.
    let mut all = clean.clone();
    let mut forged: Value = serde_json::from_str(&clean[3]).unwrap();
    forged["prev"] = serde_json::from_str::<Value>(&clean[2]).unwrap()["hash"].clone();
    forged["item"] = json!("forged");
    all.insert(3, forged.to_string());
    rewrite(&path, &all);
    assert_eq!(altered_line(verify(&path)).0, 4);

    // Garbage, and a line cut short by a crash.
    let mut all = clean.clone();
    all.insert(0, "not json".into());
    rewrite(&path, &all);
    assert_eq!(altered_line(verify(&path)).0, 1);
    let mut text = clean.join("\n");
    text.push('\n');
    text.push_str(&clean[0][..40]);
    std::fs::write(&path, text).unwrap();
    let (line, reason) = altered_line(verify(&path));
    assert_eq!(line, 5);
    assert!(reason.contains("incomplete"), "{reason}");
}

#[test]
fn a_torn_last_line_does_not_stop_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_log(&path, 2, true);
    let clean = lines(&path);
    let mut text = clean.join("\n");
    text.push('\n');
    text.push_str("{\"hash\":\"00");
    std::fs::write(&path, text).unwrap();
    write_log(&path, 1, true);
    let all = lines(&path);
    assert_eq!(all.len(), 4);
    // The new record continues the chain of the last complete line.
    let new: Value = serde_json::from_str(&all[3]).unwrap();
    let old: Value = serde_json::from_str(&all[1]).unwrap();
    assert_eq!(new["prev"], old["hash"]);
    // The cut line is reported, not hidden.
    assert_eq!(altered_line(verify(&path)).0, 3);
}

#[test]
fn a_chain_does_not_continue_an_unchained_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_log(&path, 2, false);
    let err = JsonlSink::builder(&path).chained().open().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(err.to_string().contains("no hash chain"), "{err}");
    assert_eq!(lines(&path).len(), 2);
}

#[test]
fn a_keyed_chain_needs_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let sink = JsonlSink::builder(&path)
        .hmac_key(b"secret key".to_vec())
        .open()
        .unwrap();
    for i in 0..3 {
        sink.record(&record(i));
    }
    drop(sink);
    assert_eq!(verify_with_key(&path, b"secret key").unwrap().records, 3);
    assert_eq!(altered_line(verify_with_key(&path, b"other key")).0, 1);
    assert_eq!(altered_line(verify(&path)).0, 1);
}

#[test]
fn the_command_verifies_and_names_the_line() {
    let bin = env!("CARGO_BIN_EXE_mcp-audit");
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    write_log(&path, 5, true);

    let out = Command::new(bin).arg("verify").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.starts_with("ok: 5 records\n"), "{stdout}");

    let mut all = lines(&path);
    all[3] = all[3].replace("tool-3", "tool-x");
    rewrite(&path, &all);
    let out = Command::new(bin).arg("verify").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.starts_with("altered at line 4: "), "{stdout}");

    let out = Command::new(bin)
        .arg("verify")
        .arg(dir.path().join("missing.jsonl"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));

    let out = Command::new(bin).arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: mcp-audit verify"));

    // With a key file.
    let keyed = dir.path().join("keyed.jsonl");
    let key = dir.path().join("key");
    std::fs::write(&key, b"k3y").unwrap();
    let sink = JsonlSink::builder(&keyed)
        .hmac_key(b"k3y".to_vec())
        .open()
        .unwrap();
    sink.record(&record(0));
    drop(sink);
    let out = Command::new(bin)
        .args(["verify", "--key-file"])
        .arg(&key)
        .arg(&keyed)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = Command::new(bin)
        .arg("verify")
        .arg(&keyed)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.starts_with("altered at line 1: "), "{stdout}");
    assert!(stdout.contains("check it with --key-file KEY"), "{stdout}");
}

#[test]
fn sensitive_fields_and_argument_values_never_appear() {
    let args = obj(json!({"city": "Paris", "password": "hunter2", "pin": 1234}));
    let sensitive = vec!["password".to_owned(), "pin".to_owned()];
    let r = AuditRecord::new(AuditKind::Request, "tools/call")
        .with_arguments(&args, &sensitive)
        .with_decision(
            Decision::Deny,
            Some("token Bearer abcDEF.123-xyz was refused"),
        );
    let line = serde_json::to_string(&r).unwrap();
    for secret in ["Paris", "hunter2", "1234", "abcDEF.123-xyz"] {
        assert!(!line.contains(secret), "{secret} in {line}");
    }
    // The hash is of the arguments without the sensitive fields: it does not depend on them,
    // does depend on the others, and not on key order.
    let other = obj(json!({"pin": 0, "password": "x", "city": "Paris"}));
    assert_eq!(
        hash_arguments(&args, &sensitive),
        hash_arguments(&other, &sensitive)
    );
    assert_eq!(
        r.args_hash.as_deref(),
        Some(hash_arguments(&obj(json!({"city": "Paris"})), &[]).as_str())
    );
    let lyon = obj(json!({"city": "Lyon", "password": "hunter2", "pin": 1234}));
    assert_ne!(
        hash_arguments(&args, &sensitive),
        hash_arguments(&lyon, &sensitive)
    );
    // SHA-256 of the canonical JSON `{"city":"Paris"}`.
    assert_eq!(
        hash_arguments(&obj(json!({"city": "Paris"})), &[]),
        "6e1e312d537bc71b5410b0599f5a508142149e13174c6ee0d1671658845bc67d"
    );
}

/// Captures what a `tracing` subscriber prints.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_tracing_sink_emits_one_event_without_secrets() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let audit = Audit::new().with_sink(mcp_server::audit::TracingSink);
    {
        let _guard = crate::support::capture_logs(subscriber);
        let r = record(7).with_decision(Decision::Deny, Some("Bearer eyJabc.eyJdef.sig expired"));
        audit.record(&r);
    }
    let out = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("WARN mcp::audit"), "{out}");
    assert!(
        out.contains("principal=\"alice\"") || out.contains("principal=alice"),
        "{out}"
    );
    assert!(
        out.contains("item=\"tool-7\"") || out.contains("item=tool-7"),
        "{out}"
    );
    for secret in ["hunter2", "eyJabc", "eyJdef"] {
        assert!(!out.contains(secret), "{secret} in {out}");
    }
}

#[test]
fn every_sink_gets_every_record() {
    let a = Arc::new(MemorySink::default());
    let b = Arc::new(MemorySink::default());
    let audit = Audit::new();
    assert!(!audit.is_enabled());
    let audit = audit.with_sink(a.clone()).with_sink(b.clone());
    assert!(audit.is_enabled());
    let clone = audit.clone();
    audit.record(&record(1));
    clone.record(&record(2));
    assert_eq!(a.records(), vec![record(1), record(2)]);
    assert_eq!(b.take(), vec![record(1), record(2)]);
    assert!(b.records().is_empty());
}

#[test]
fn concurrent_writers_produce_one_line_per_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let sink = Arc::new(
        JsonlSink::builder(&path)
            .chained()
            .capacity(16)
            .overflow(Overflow::Block)
            .open()
            .unwrap(),
    );
    let audit = Audit::new().with_sink(sink.clone());
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let audit = audit.clone();
            std::thread::spawn(move || {
                for i in 0..200 {
                    audit.record(&record(0).with_item(format!("t{t}-{i}")));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    sink.flush().unwrap();
    assert_eq!(sink.dropped(), 0);
    assert_eq!(verify(&path).unwrap().records, 1600);
    let mut items: Vec<String> = lines(&path)
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["item"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    items.sort();
    items.dedup();
    assert_eq!(items.len(), 1600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_drops_and_counts_without_blocking_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let sink = Arc::new(JsonlSink::builder(&path).capacity(1).open().unwrap());
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let sink = sink.clone();
            tokio::spawn(async move {
                for i in 0..2000 {
                    sink.record(&record(i));
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let s = sink.clone();
    tokio::task::spawn_blocking(move || s.flush().unwrap())
        .await
        .unwrap();
    // Every record is either written or counted as dropped, and the drops are in the log too:
    // marker records count them all.
    let (markers, records): (Vec<Value>, Vec<Value>) = lines(&path)
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .partition(|v| v["kind"] == "dropped");
    assert_eq!(records.len() as u64 + sink.dropped(), 8000);
    let marked: u64 = markers.iter().map(|m| m["dropped"].as_u64().unwrap()).sum();
    assert_eq!(marked, sink.dropped());
}

#[test]
fn traceparent_is_parsed_strictly() {
    let cx = TraceContext::parse(TP).unwrap();
    assert_eq!(cx.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(cx.parent_id(), "00f067aa0ba902b7");
    assert_eq!(cx.flags(), 1);
    assert!(cx.sampled());
    assert_eq!(cx.to_string(), TP);
    // A later version may carry more fields.
    assert!(TraceContext::parse(&format!("01{}-extra", &TP[2..])).is_ok());
    let bad = [
        ("", TraceParentError::Format),
        (&TP[..54], TraceParentError::Format),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
            TraceParentError::Format,
        ),
        (
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            TraceParentError::Format,
        ),
        (
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            TraceParentError::NotHex,
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            TraceParentError::NotHex,
        ),
        (
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            TraceParentError::InvalidVersion,
        ),
        (
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            TraceParentError::ZeroTraceId,
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            TraceParentError::ZeroParentId,
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0é",
            TraceParentError::Format,
        ),
    ];
    for (value, error) in bad {
        assert_eq!(TraceContext::parse(value), Err(error), "{value}");
    }
    let meta = mcp_server::mcp_core::Meta(obj(json!({"traceparent": TP})));
    assert_eq!(TraceContext::from_meta(&meta), Some(Ok(cx)));
    let meta = mcp_server::mcp_core::Meta(obj(json!({"traceparent": 7})));
    assert_eq!(
        TraceContext::from_meta(&meta),
        Some(Err(TraceParentError::NotAString))
    );
    assert_eq!(TraceContext::from_meta(&Default::default()), None);

    let child = cx.child();
    assert_eq!(child.trace_id(), cx.trace_id());
    assert_ne!(child.parent_id(), cx.parent_id());
    assert_eq!(TraceContext::parse(&child.to_string()), Ok(child));
}

#[test]
fn the_request_span_carries_the_callers_trace() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let cx = TraceContext::parse(TP).unwrap();
    {
        let _guard = crate::support::capture_logs(subscriber);
        let span = TraceContext::request_span("tools/call", Some(&cx));
        let _enter = span.enter();
        tracing::info!("inside");
    }
    let out = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        out.contains("trace_id=4bf92f3577b34da6a3ce929d0e0e4736"),
        "{out}"
    );
    assert!(out.contains("parent_id=00f067aa0ba902b7"), "{out}");
    assert!(out.contains("mcp.request"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// Keyed chains, overflow markers and refusals before dispatch.

fn run_audit(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-audit"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// Someone without the key rewrites a keyed log with a changed record and a consistent chain
/// (recomputed with plain SHA-256, or with a guessed key): `mcp-audit verify --key-file` fails
/// at the first line, while the genuine log, continued after a restart, still verifies.
#[test]
fn a_log_rewritten_without_the_key_fails_keyed_verification() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let key = dir.path().join("audit.key");
    std::fs::write(&key, b"a long random key\n").unwrap();
    let sink = JsonlSink::builder(&path)
        .hmac_key_file(&key)
        .unwrap()
        .open()
        .unwrap();
    for i in 0..3 {
        sink.record(&record(i));
    }
    drop(sink);
    let verify_keyed = |file: &Path| {
        run_audit(&[
            "verify".as_ref(),
            "--key-file".as_ref(),
            key.as_os_str(),
            file.as_os_str(),
        ])
    };
    let (code, stdout, _) = verify_keyed(&path);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.starts_with("ok: 3 records\n"), "{stdout}");

    // The forger's records: the genuine ones, one of them changed.
    let mut forged: Vec<AuditRecord> = lines(&path)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    forged[1].principal = Some("mallory".into());
    let rewrite_with = |builder: mcp_server::audit::JsonlSinkBuilder, name: &str| {
        let file = dir.path().join(name);
        let sink = builder.open().unwrap();
        for r in &forged {
            sink.record(r);
        }
        drop(sink);
        let _ = std::fs::rename(&file, &file);
        file
    };
    let plain = rewrite_with(
        JsonlSink::builder(dir.path().join("plain.jsonl")).chained(),
        "plain.jsonl",
    );
    // Its chain is consistent: without the key, nothing shows the change.
    let (code, stdout, _) = run_audit(&["verify".as_ref(), plain.as_os_str()]);
    assert_eq!(code, Some(0), "{stdout}");
    let (code, stdout, _) = verify_keyed(&plain);
    assert_eq!(code, Some(1), "{stdout}");
    assert_eq!(
        stdout,
        "altered at line 1: the content does not match its hash (the line was changed)\n"
    );
    let guessed = rewrite_with(
        JsonlSink::builder(dir.path().join("guessed.jsonl")).hmac_key(b"a guessed key".to_vec()),
        "guessed.jsonl",
    );
    let (code, stdout, _) = verify_keyed(&guessed);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(stdout.starts_with("altered at line 1: "), "{stdout}");
    assert_eq!(
        altered_line(verify_with_key(&guessed, b"a long random key\n")).0,
        1
    );

    // An empty key file is refused, by the sink and by the command.
    let empty = dir.path().join("empty.key");
    std::fs::write(&empty, b"").unwrap();
    let err = JsonlSink::builder(&path).hmac_key_file(&empty).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    let (code, _, stderr) = run_audit(&[
        "verify".as_ref(),
        "--key-file".as_ref(),
        empty.as_os_str(),
        path.as_os_str(),
    ]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("is empty"), "{stderr}");

    // The genuine log goes on after a restart, and still verifies.
    let sink = JsonlSink::builder(&path)
        .hmac_key_file(&key)
        .unwrap()
        .open()
        .unwrap();
    sink.record(&record(3));
    drop(sink);
    let (code, stdout, _) = verify_keyed(&path);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(stdout.starts_with("ok: 4 records\n"), "{stdout}");
}

#[test]
fn the_command_explains_itself() {
    let (code, stdout, _) = run_audit(&["--help".as_ref()]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("usage: mcp-audit verify [--key-file KEY] FILE"));
    assert!(stdout.contains("--key-file KEY"), "{stdout}");
    assert!(stdout.contains("HMAC-SHA256"), "{stdout}");
    assert!(stdout.contains("kind `dropped`"), "{stdout}");
}

/// A tool for the servers below.
struct Echo;
impl mcp_server::ToolHandler for Echo {
    fn definition(&self) -> mcp_server::types::Tool {
        mcp_server::types::Tool::new("echo", obj(json!({"type": "object"})))
    }
    async fn call(
        &self,
        _cx: mcp_server::Context,
        _args: JsonObject,
    ) -> mcp_server::Result<mcp_server::types::CallToolResult> {
        Ok(mcp_server::types::CallToolResult::success(vec![
            mcp_server::types::ContentBlock::text("echoed"),
        ]))
    }
}

struct Boom;
impl mcp_server::ToolHandler for Boom {
    fn definition(&self) -> mcp_server::types::Tool {
        mcp_server::types::Tool::new("boom", obj(json!({"type": "object"})))
    }
    async fn call(
        &self,
        _cx: mcp_server::Context,
        _args: JsonObject,
    ) -> mcp_server::Result<mcp_server::types::CallToolResult> {
        panic!("the handler broke with password=hunter2");
    }
}

fn modern_call(id: i64, method: &str, params: Value) -> String {
    let mut params = params;
    params["_meta"] = crate::support::modern_meta(json!({}));
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()
}

/// The one answer `fuzz_dispatch` gives to a request.
async fn answer(server: &mcp_server::Server, line: &str) -> Value {
    use mcp_server::mcp_core::JsonRpcMessage;
    let out = mcp_server::__private::fuzz_dispatch(server, line.as_bytes()).await;
    let answers: Vec<Value> = out
        .into_iter()
        .filter(|m| matches!(m, JsonRpcMessage::Response(_) | JsonRpcMessage::Error(_)))
        .map(|m| serde_json::to_value(m).unwrap())
        .collect();
    assert_eq!(answers.len(), 1, "{answers:?}");
    answers.into_iter().next().unwrap()
}

/// When the writer cannot keep up (here: it writes into a pipe nobody reads yet), records are
/// dropped, the handlers go on unhindered, and once the writer catches up a marker record says
/// how many were lost and when; the chain holds across it and later requests are audited.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overflowing_sink_writes_a_marker_of_what_it_dropped() {
    use std::io::BufRead as _;
    const CALLS: i64 = 400;
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("audit.pipe");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let sink = Arc::new(
        JsonlSink::builder(&fifo)
            .chained()
            .capacity(8)
            .open()
            .unwrap(),
    );
    // Every record the server makes also goes to memory, to count them.
    let all = Arc::new(MemorySink::default());
    let server = mcp_server::Server::new("audited", "1.0.0")
        .tool(Echo)
        .audit(Audit::new().with_sink(sink.clone()).with_sink(all.clone()));

    // Nobody reads the pipe: the writer is stuck once its buffer is full. Every call is still
    // answered at once.
    let calls = async {
        for id in 0..CALLS {
            let r = answer(
                &server,
                &modern_call(id, "tools/call", json!({"name": "echo"})),
            )
            .await;
            assert_eq!(r["result"]["content"][0]["text"], "echoed", "{r}");
        }
    };
    tokio::time::timeout(Duration::from_secs(60), calls)
        .await
        .expect("the handlers were never blocked by the audit writer");
    let dropped = sink.dropped();
    assert!(dropped > 0);

    // Now the pipe is read: the writer catches up and writes the marker.
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let reader_path = fifo.clone();
    let reader = std::thread::spawn(move || {
        let file = std::fs::File::open(reader_path).unwrap();
        for line in std::io::BufReader::new(file).lines() {
            if lines_tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let s = sink.clone();
    tokio::task::spawn_blocking(move || s.flush().unwrap())
        .await
        .unwrap();
    // A good request afterwards is audited after the marker.
    let r = answer(
        &server,
        &modern_call(CALLS, "tools/call", json!({"name": "echo"})),
    )
    .await;
    assert_eq!(r["result"]["content"][0]["text"], "echoed");
    let s = sink.clone();
    tokio::task::spawn_blocking(move || s.flush().unwrap())
        .await
        .unwrap();
    assert_eq!(
        sink.dropped(),
        dropped,
        "nothing dropped once the pipe is read"
    );
    let mut got = Vec::new();
    loop {
        let line = lines_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        got.push(line);
        if v["kind"] == "response" && v["request_id"] == json!(CALLS) {
            break;
        }
    }
    let values: Vec<Value> = got
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let markers: Vec<&Value> = values.iter().filter(|v| v["kind"] == "dropped").collect();
    assert!(!markers.is_empty());
    let marked: u64 = markers.iter().map(|m| m["dropped"].as_u64().unwrap()).sum();
    assert_eq!(marked, dropped);
    for m in &markers {
        assert_eq!(m["method"], "audit/dropped");
        let n = m["dropped"].as_u64().unwrap();
        let reason = m["reason"].as_str().unwrap();
        assert!(
            reason.starts_with(&format!("{n} audit records dropped from 20")),
            "{reason}"
        );
        assert!(reason.ends_with(": the queue was full"), "{reason}");
        assert_eq!(m["time"].as_str().unwrap().len(), 24);
    }
    // Every record is written or counted as dropped.
    let records = values.len() - markers.len();
    assert_eq!(records as u64 + dropped, all.records().len() as u64);
    // The last call's records come after the last marker.
    let last_marker = values.iter().rposition(|v| v["kind"] == "dropped").unwrap();
    let after: Vec<&Value> = values[last_marker + 1..].iter().collect();
    assert!(
        after
            .iter()
            .any(|v| v["kind"] == "request" && v["request_id"] == json!(CALLS)),
        "{after:?}"
    );
    // The chain holds across the markers.
    let copy = dir.path().join("copy.jsonl");
    rewrite(&copy, &got);
    assert_eq!(verify(&copy).unwrap().records, got.len());

    drop(server);
    drop(sink);
    drop(lines_rx);
    reader.join().unwrap();
}

/// Requests refused before they reach a handler get exactly one record each, of kind
/// `refusal`, naming the method, the JSON-RPC code and what was refused, never the request's
/// content; a panic completes its request's record pair; good requests are audited as before.
/// Over stdio (any byte stream), a legacy session starts with `initialize` and ends with the
/// input: both audited, with the principal that opened it; a modern request opens none.
#[tokio::test]
async fn a_legacy_session_over_a_stream_is_audited_from_initialize_to_the_end_of_input() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let memory = Arc::new(MemorySink::default());
    let server = mcp_server::Server::new("audited", "1.0.0")
        .tool(Echo)
        .identity(Identity::configured("ops").with_roles(["admin"]))
        .audit(Audit::new().with_sink(memory.clone()));
    let (client, served) = tokio::io::duplex(64 * 1024);
    let (read, write) = tokio::io::split(served);
    let serving = tokio::spawn(server.serve_io(read, write));
    let (read, mut write) = tokio::io::split(client);
    let mut lines = tokio::io::BufReader::new(read).lines();
    let long_name = "n".repeat(200);
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": long_name, "version": "9.9"}}});
    write
        .write_all(format!("{init}\n").as_bytes())
        .await
        .unwrap();
    let initialized: Value =
        serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap();
    assert_eq!(initialized["result"]["protocolVersion"], "2025-06-18");
    write.shutdown().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("the end of input ends serving")
        .unwrap()
        .unwrap();

    let records: Vec<AuditRecord> = memory
        .take()
        .into_iter()
        .filter(|r| r.kind == AuditKind::Session)
        .collect();
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0].method, "session/start");
    assert_eq!(
        records[0].reason.as_deref(),
        Some(format!("protocol 2025-06-18; client {} 9.9", "n".repeat(64)).as_str()),
        "the client's name is bounded"
    );
    assert_eq!(records[1].method, "session/end");
    assert_eq!(records[1].reason.as_deref(), Some("end of input"));
    for r in &records {
        assert_eq!(r.principal.as_deref(), Some("ops"));
        assert_eq!(r.session_id, None);
    }

    // A modern request is a session of its own: no start, no end.
    let modern = mcp_server::Server::new("audited", "1.0.0")
        .tool(Echo)
        .audit(Audit::new().with_sink(memory.clone()));
    let served = answer(&modern, &modern_call(1, "tools/list", json!({}))).await;
    assert!(served.get("result").is_some(), "{served}");
    assert!(
        memory.take().iter().all(|r| r.kind != AuditKind::Session),
        "a modern request opened a session"
    );
}

#[tokio::test]
async fn requests_refused_before_dispatch_are_audited_once() {
    let memory = Arc::new(MemorySink::default());
    let server = mcp_server::Server::new("audited", "1.0.0")
        .tool(Echo)
        .tool(Boom)
        .audit(Audit::new().with_sink(memory.clone()));

    let check = |records: Vec<AuditRecord>, method: &str, code: i64, reason: &str| {
        assert_eq!(records.len(), 1, "{records:?}");
        let r = &records[0];
        assert_eq!(r.kind, AuditKind::Refusal);
        assert_eq!(r.method, method);
        assert_eq!(r.outcome, Some(Outcome::Error));
        assert_eq!(r.error_code, Some(code));
        assert_eq!(r.reason.as_deref(), Some(reason));
        assert_eq!(r.status, None);
        let line = serde_json::to_string(r).unwrap();
        assert!(!line.contains("hunter2"), "{line}");
    };

    // Unparseable params: the parser's message quotes the value; the record does not.
    let r = answer(
        &server,
        &modern_call(
            1,
            "tools/call",
            json!({"name": "echo", "arguments": "hunter2"}),
        ),
    )
    .await;
    assert_eq!(r["error"]["code"], -32602);
    check(memory.take(), "tools/call", -32602, "unparseable params");

    // A tampered `requestState`.
    let r = answer(
        &server,
        &modern_call(
            2,
            "tools/call",
            json!({"name": "echo", "requestState": "forged.hunter2"}),
        ),
    )
    .await;
    assert_eq!(r["error"]["code"], -32602);
    check(
        memory.take(),
        "tools/call",
        -32602,
        "invalid requestState (tampered, expired, or bound to another request or principal)",
    );

    // An unknown method, an unsupported version, params that are not an object.
    let r = answer(&server, &modern_call(3, "tools/frobnicate", json!({}))).await;
    assert_eq!(r["error"]["code"], -32601);
    check(memory.take(), "tools/frobnicate", -32601, "unknown method");
    let line = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list",
        "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2099-01-01"}}});
    let r = answer(&server, &line.to_string()).await;
    assert_eq!(r["error"]["code"], -32022);
    check(
        memory.take(),
        "tools/list",
        -32022,
        "unsupported protocol version",
    );
    let line =
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list", "params": {"_meta": "hunter2"}});
    let r = answer(&server, &line.to_string()).await;
    assert_eq!(r["error"]["code"], -32602);
    check(memory.take(), "tools/list", -32602, "unparseable params");
    // A legacy request without a session.
    let line = json!({"jsonrpc": "2.0", "id": 6, "method": "tools/list"});
    let r = answer(&server, &line.to_string()).await;
    assert_eq!(r["error"]["code"], -32600);
    check(memory.take(), "tools/list", -32600, "no session");

    // A panic: the request's records (the request, the policy's decision), then its response
    // record with -32603, nothing more.
    let r = answer(
        &server,
        &modern_call(7, "tools/call", json!({"name": "boom"})),
    )
    .await;
    assert_eq!(r["error"]["code"], -32603);
    let records = memory.take();
    let kinds: Vec<AuditKind> = records.iter().map(|r| r.kind).collect();
    let pair = [AuditKind::Request, AuditKind::Decision, AuditKind::Response];
    assert_eq!(kinds, pair, "{records:?}");
    let response = &records[2];
    assert_eq!(response.item, None);
    assert_eq!(response.method, "tools/call");
    assert_eq!(response.request_id, Some(7.into()));
    assert_eq!(response.error_code, Some(-32603));
    assert_eq!(response.reason.as_deref(), Some("the handler panicked"));
    assert!(!serde_json::to_string(&records).unwrap().contains("hunter2"));

    // A good request: its request and response records, no refusal.
    let r = answer(
        &server,
        &modern_call(8, "tools/call", json!({"name": "echo"})),
    )
    .await;
    assert_eq!(r["result"]["content"][0]["text"], "echoed");
    let records = memory.take();
    let kinds: Vec<AuditKind> = records.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, pair, "{records:?}");
    assert_eq!(records[2].outcome, Some(Outcome::Ok));
}

/// Answers the trace parent its context holds.
#[mcp_server::tool]
fn traced(cx: mcp_server::Context) -> String {
    cx.trace_parent()
        .map_or_else(|| "none".to_owned(), |t| t.to_string())
}

#[tokio::test]
async fn a_requests_trace_parent_reaches_its_handler_and_its_audit_records() {
    use crate::support::{Client, modern_meta};
    let memory = Arc::new(MemorySink::default());
    let server = mcp_server::Server::new("traced", "1")
        .tool(Traced)
        .audit(Audit::new().with_sink(memory.clone()));
    let mut c = Client::start(server);
    let text = |r: &Value| {
        r["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    let call = |meta: Value| json!({"name": "traced", "arguments": {}, "_meta": meta});
    let r = c
        .call(
            1,
            "tools/call",
            call(modern_meta(json!({"traceparent": TP}))),
        )
        .await;
    assert_eq!(text(&r), TP, "{r}");
    // An invalid one is ignored, never half-used.
    let bad = "00-00000000000000000000000000000000-00f067aa0ba902b7-01";
    let r = c
        .call(
            2,
            "tools/call",
            call(modern_meta(json!({"traceparent": bad}))),
        )
        .await;
    assert_eq!(text(&r), "none", "{r}");
    let traced: Vec<_> = memory
        .records()
        .into_iter()
        .filter(|r| r.kind == AuditKind::Response)
        .map(|r| r.trace_id)
        .collect();
    assert_eq!(
        traced,
        [Some("4bf92f3577b34da6a3ce929d0e0e4736".to_owned()), None]
    );
}
