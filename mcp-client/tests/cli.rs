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

fn mcp_plain(args: &[&std::ffi::OsStr]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_mcp"))
        .args(args)
        .output()
        .expect("runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

#[test]
fn contract_dump_and_diff() {
    let dump = mcp(&["contract", "dump"]);
    assert_eq!(dump.code, 0, "{}", dump.stderr);
    snapshot("contract_dump", &dump);
    let legacy = mcp(&["--protocol-version", "2025-06-18", "contract", "dump"]);
    assert_eq!(legacy.code, 0, "{}", legacy.stderr);
    snapshot("contract_dump_2025_06_18", &legacy);

    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.json");
    std::fs::write(&old, &dump.stdout).unwrap();
    // The same contract: no changes, exit 0.
    let same = mcp_plain(&[
        "contract".as_ref(),
        "diff".as_ref(),
        old.as_os_str(),
        old.as_os_str(),
    ]);
    assert_eq!((same.code, same.stdout.as_str()), (0, "no changes\n"));

    // `add` loses `b` and gains a required `c`; a new tool appears: breaking, exit 1.
    let mut contract: serde_json::Value = serde_json::from_str(&dump.stdout).unwrap();
    let tools = contract["tools"].as_array_mut().unwrap();
    let add = tools.iter_mut().find(|t| t["name"] == "add").unwrap();
    let schema = &mut add["inputSchema"];
    schema["properties"].as_object_mut().unwrap().remove("b");
    schema["properties"]["c"] = serde_json::json!({"type": "number"});
    schema["required"] = serde_json::json!(["a", "c"]);
    let mut extra = add.clone();
    extra["name"] = "subtract".into();
    tools.push(extra);
    let new = dir.path().join("new.json");
    std::fs::write(&new, serde_json::to_string_pretty(&contract).unwrap()).unwrap();
    let breaking = mcp_plain(&[
        "contract".as_ref(),
        "diff".as_ref(),
        old.as_os_str(),
        new.as_os_str(),
    ]);
    snapshot("contract_diff_breaking", &breaking);
    assert_eq!(breaking.code, 1);
    // The other way round only removes: still breaking.
    let json = mcp_plain(&[
        "--json".as_ref(),
        "contract".as_ref(),
        "diff".as_ref(),
        new.as_os_str(),
        old.as_os_str(),
    ]);
    assert_eq!(json.code, 1);
    let findings: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let removed: Vec<&serde_json::Value> = findings
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "item-removed")
        .collect();
    assert_eq!(removed.len(), 1, "{findings}");
    assert_eq!(removed[0]["item"], "tool subtract");
    assert_eq!(removed[0]["severity"], "breaking");

    // Not a contract, or two protocol versions: exit 2, naming the file.
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "{\"tools\": []}").unwrap();
    let not_a_contract = mcp_plain(&[
        "contract".as_ref(),
        "diff".as_ref(),
        junk.as_os_str(),
        old.as_os_str(),
    ]);
    assert_eq!(not_a_contract.code, 2);
    assert_eq!(
        not_a_contract.stderr.trim(),
        format!(
            "mcp: {}: not an MCP contract: no \"$contract\": \"mcp-contract/1\" marker",
            junk.display()
        )
    );
    let older = dir.path().join("older.json");
    std::fs::write(&older, &legacy.stdout).unwrap();
    let mismatch = mcp_plain(&[
        "contract".as_ref(),
        "diff".as_ref(),
        older.as_os_str(),
        old.as_os_str(),
    ]);
    assert_eq!(mismatch.code, 2);
    assert!(
        mismatch
            .stderr
            .contains("different protocol versions (`2025-06-18` and `2026-07-28`)"),
        "{}",
        mismatch.stderr
    );
}

#[test]
fn lint_profiles_and_exit_codes() {
    let strict = mcp(&["lint", "--profile", "strict"]);
    snapshot("lint_strict", &strict);
    assert_eq!(strict.code, 1);
    let conservative = mcp(&["lint", "--profile", "conservative"]);
    snapshot("lint_conservative", &conservative);
    assert_eq!(conservative.code, 0);
    let unknown = mcp(&["lint", "--profile", "lenient"]);
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("unknown lint profile `lenient`"),
        "{}",
        unknown.stderr
    );
    for args in [
        ["lint", "http://127.0.0.1:1/mcp", ""],
        ["contract", "dump", "http://127.0.0.1:1/mcp"],
    ] {
        let args: Vec<&std::ffi::OsStr> = args
            .iter()
            .filter(|a| !a.is_empty())
            .map(|a| a.as_ref())
            .collect();
        assert_eq!(mcp_plain(&args).code, 3, "{args:?}");
    }
}

#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    // `mcp tools -- server | head -1`: here the reader is gone before anything is written.
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcp"))
        .args(["tools", "--"])
        .arg(manual_server())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
