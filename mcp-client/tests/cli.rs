//! The `mcp` command against the example server: its output (insta snapshots) and its exit codes.

use std::process::Command;

use crate::client::manual_server;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn mcp(args: &[&str]) -> Run {
    let server = manual_server();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mcp"));
    cmd.args(args).arg("--").arg(server);
    let out = cmd.output().expect("runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// Snapshots the exit code and stdout, with the workspace version (the example server's) redacted.
fn snapshot(name: &str, run: &Run) {
    let stdout = run.stdout.replace(env!("CARGO_PKG_VERSION"), "[version]");
    insta::assert_snapshot!(name, format!("exit {}\n{stdout}", run.code));
}

#[test]
fn readable_output() {
    for (name, args) in [
        ("tools", vec!["tools"]),
        ("call", vec!["call", "add", "a=1", "b=2"]),
        ("call_progress", vec!["call", "count_down", "from=2"]),
        ("resources", vec!["resources"]),
        ("read", vec!["read", "notes://welcome"]),
        ("prompts", vec!["prompts"]),
        (
            "prompt",
            vec!["prompt", "review", "code=let x = 1;", "language=Rust"],
        ),
        ("discover_modern", vec!["discover"]),
        ("discover_legacy", vec!["--era", "legacy", "discover"]),
    ] {
        let run = mcp(&args);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        snapshot(name, &run);
    }
}

#[test]
fn json_output() {
    let run = mcp(&[
        "--json",
        "--era",
        "legacy",
        "call",
        "add",
        "--args",
        r#"{"a": 40, "b": 2}"#,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    snapshot("call_json_legacy", &run);
    let run = mcp(&["--json", "tools"]);
    let tools: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(tools[0]["name"], "add");
}

#[test]
fn exit_codes_scripts_can_rely_on() {
    let tool_error = mcp(&["call", "add", "a=x", "b=1"]);
    assert_eq!(tool_error.code, 1, "{}", tool_error.stderr);
    assert_eq!(
        tool_error.stdout.trim(),
        "invalid argument `a`: \"x\" is not of type \"number\""
    );
    let usage = mcp(&["call"]);
    assert_eq!(usage.code, 2);
    let bad_pair = mcp(&["prompt", "review", "code"]);
    assert_eq!(bad_pair.code, 2);
    assert!(bad_pair.stderr.contains("key=value"));
    let server_error = mcp(&["call", "nope"]);
    assert_eq!(server_error.code, 5);
    assert!(server_error.stderr.contains("Unknown tool: nope"));
    let unreachable = Command::new(env!("CARGO_BIN_EXE_mcp"))
        .args(["tools", "http://127.0.0.1:1/mcp"])
        .output()
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(3));
    let no_server = Command::new(env!("CARGO_BIN_EXE_mcp"))
        .args(["tools"])
        .output()
        .unwrap();
    assert_eq!(no_server.status.code(), Some(2));
}
