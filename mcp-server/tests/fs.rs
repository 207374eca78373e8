//! `FileResources`: files under a root, and every way a URI might try to leave it.

use std::path::Path;

use mcp_server::__private::fuzz_dispatch;
use mcp_server::Server;
use mcp_server::fs::{FileResources, PathError};
use mcp_server::mcp_core::JsonRpcMessage;
use serde_json::{Value, json};

/// `tmp/data` (the root) with files, a hidden file and symlinks; `tmp/data-evil` (a sibling
/// sharing the root's name as a prefix) and `tmp/outside.txt`, both with secrets.
fn layout() -> (tempfile::TempDir, FileResources) {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let data = t.join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::create_dir_all(t.join("data-evil")).unwrap();
    std::fs::write(data.join("a.txt"), "hello").unwrap();
    std::fs::write(data.join("sub/b.json"), "{\"b\":1}").unwrap();
    std::fs::write(data.join("img.png"), [0x89, b'P', b'N', b'G', 0, 0xff]).unwrap();
    std::fs::write(data.join("notes"), "plain words").unwrap();
    std::fs::write(data.join("big.txt"), "x".repeat(100)).unwrap();
    std::fs::write(data.join(".env"), "SECRET=1").unwrap();
    std::fs::write(t.join("data-evil/secret.txt"), "SECRET sibling").unwrap();
    std::fs::write(t.join("outside.txt"), "SECRET outside").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        symlink(t.join("outside.txt"), data.join("link_out")).unwrap();
        symlink("../data-evil/secret.txt", data.join("link_sibling")).unwrap();
        symlink(t.join("data-evil"), data.join("dir_out")).unwrap();
        symlink("sub/b.json", data.join("link_in")).unwrap();
        symlink(".env", data.join("link_hidden")).unwrap();
    }
    let files = FileResources::new(&data, "file:///data")
        .unwrap()
        .name("data")
        .max_size(64);
    (tmp, files)
}

fn resolve(files: &FileResources, uri: &str) -> Result<String, PathError> {
    files.resolve_uri(uri).map(|p| {
        p.strip_prefix(files.root())
            .unwrap()
            .to_string_lossy()
            .into_owned()
    })
}

#[test]
fn files_under_the_root_resolve() {
    let (_tmp, files) = layout();
    assert_eq!(files.uri_template(), "file:///data/{+path}");
    assert_eq!(resolve(&files, "file:///data/a.txt"), Ok("a.txt".into()));
    assert_eq!(
        resolve(&files, "file:///data/sub/b.json"),
        Ok("sub/b.json".into())
    );
    // Percent-encoding of ordinary characters is fine.
    assert_eq!(resolve(&files, "file:///data/%61.txt"), Ok("a.txt".into()));
    #[cfg(unix)]
    assert_eq!(
        resolve(&files, "file:///data/link_in"),
        Ok("sub/b.json".into())
    );
}

#[test]
fn traversal_in_every_spelling_is_refused() {
    let (_tmp, files) = layout();
    let cases = [
        ("file:///data/../outside.txt", PathError::Traversal),
        ("file:///data/sub/../../outside.txt", PathError::Traversal),
        ("file:///data/./a.txt", PathError::Traversal),
        ("file:///data/%2e%2e/outside.txt", PathError::Encoded),
        ("file:///data/%2E%2E/outside.txt", PathError::Encoded),
        ("file:///data/..%2foutside.txt", PathError::Encoded),
        (
            "file:///data/sub%2F..%2F..%2Foutside.txt",
            PathError::Encoded,
        ),
        ("file:///data/%252e%252e/outside.txt", PathError::Encoded),
        ("file:///data/a.txt%00.png", PathError::Encoded),
        ("file:///data/..%5coutside.txt", PathError::Encoded),
        ("file:///data//etc/passwd", PathError::Absolute),
        ("file:///data/.env", PathError::Hidden),
    ];
    for (uri, error) in cases {
        assert_eq!(resolve(&files, uri), Err(error), "{uri}");
        assert!(error.is_invalid());
    }
    // Decoded paths handed over directly are checked the same way.
    assert_eq!(files.resolve("a\0.txt"), Err(PathError::Nul));
    assert_eq!(files.resolve("..\\outside.txt"), Err(PathError::Backslash));
    assert_eq!(files.resolve("/etc/passwd"), Err(PathError::Absolute));
    assert_eq!(files.resolve("%2e%2e/x"), Err(PathError::Encoded));
    assert_eq!(files.resolve(""), Err(PathError::Empty));
}

#[test]
fn siblings_missing_files_and_directories_are_not_found() {
    let (_tmp, files) = layout();
    // The sibling directory does not even match the template.
    assert_eq!(
        resolve(&files, "file:///data-evil/secret.txt"),
        Err(PathError::NotFound)
    );
    assert_eq!(
        resolve(&files, "file:///data/missing.txt"),
        Err(PathError::NotFound)
    );
    assert_eq!(
        resolve(&files, "file:///data/sub"),
        Err(PathError::NotAFile)
    );
    assert_eq!(
        resolve(&files, "file:///data/big.txt"),
        Err(PathError::TooLarge)
    );
    assert!(!PathError::NotFound.is_invalid());
}

#[cfg(unix)]
#[test]
fn symlinks_out_of_the_root_are_refused() {
    let (_tmp, files) = layout();
    for uri in [
        "file:///data/link_out",
        "file:///data/link_sibling",
        "file:///data/dir_out/secret.txt",
    ] {
        assert_eq!(resolve(&files, uri), Err(PathError::OutsideRoot), "{uri}");
    }
    assert_eq!(
        resolve(&files, "file:///data/link_hidden"),
        Err(PathError::Hidden)
    );
    // With hidden entries allowed, the same link is fine: it stays inside.
    let open = files.clone().allow_hidden(true);
    assert_eq!(
        resolve(&open, "file:///data/link_hidden"),
        Ok(".env".into())
    );
}

#[test]
fn a_bad_prefix_or_root_is_an_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(FileResources::new(tmp.path(), "file:///{x}/").is_err());
    assert!(FileResources::new(tmp.path().join("missing"), "file:///x/").is_err());
    std::fs::write(tmp.path().join("f"), "").unwrap();
    assert!(FileResources::new(tmp.path().join("f"), "file:///x/").is_err());
}

/// One modern `resources/read` through the server's own template matching.
async fn read(server: &Server, uri: &str) -> Value {
    let request = json!({
        "jsonrpc": "2.0", "id": 1, "method": "resources/read",
        "params": {
            "uri": uri,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"}
            }
        }
    });
    let out = fuzz_dispatch(server, request.to_string().as_bytes()).await;
    let answers: Vec<Value> = out
        .into_iter()
        .filter(|m| matches!(m, JsonRpcMessage::Response(_) | JsonRpcMessage::Error(_)))
        .map(|m| serde_json::to_value(m).unwrap())
        .collect();
    assert_eq!(answers.len(), 1, "{answers:?}");
    answers.into_iter().next().unwrap()
}

#[tokio::test]
async fn reads_through_the_server() {
    let (_tmp, files) = layout();
    let server = Server::new("files", "1.0.0").resource(files);

    let r = read(&server, "file:///data/a.txt").await;
    let c = &r["result"]["contents"][0];
    assert_eq!(c["uri"], "file:///data/a.txt");
    assert_eq!(c["mimeType"], "text/plain");
    assert_eq!(c["text"], "hello");

    let r = read(&server, "file:///data/sub/b.json").await;
    assert_eq!(r["result"]["contents"][0]["mimeType"], "application/json");

    let r = read(&server, "file:///data/img.png").await;
    let c = &r["result"]["contents"][0];
    assert_eq!(c["mimeType"], "image/png");
    assert_eq!(c["blob"], "iVBORwD/");

    // No extension: text when it is text.
    let r = read(&server, "file:///data/notes").await;
    assert_eq!(r["result"]["contents"][0]["text"], "plain words");

    let r = read(&server, "file:///data/%2e%2e/outside.txt").await;
    assert_eq!(r["error"]["code"], -32602);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid resource path")
    );

    #[cfg(unix)]
    for uri in ["file:///data/link_out", "file:///data/link_sibling"] {
        let r = read(&server, uri).await;
        // Modern era: "resource not found" is -32602, with the URI as data.
        assert_eq!(r["error"]["code"], -32602, "{r}");
        assert_eq!(r["error"]["data"]["uri"], uri);
        assert!(!r.to_string().contains("SECRET"));
        assert!(!r.to_string().contains(&*_tmp.path().to_string_lossy()));
    }

    let r = read(&server, "file:///data/big.txt").await;
    assert_eq!(r["error"]["code"], -32603);
}

#[test]
fn the_root_is_resolved_once() {
    let (tmp, files) = layout();
    let canonical = std::fs::canonicalize(tmp.path().join("data")).unwrap();
    assert_eq!(files.root(), Path::new(&canonical));
}

#[test]
fn paths_complete_to_what_a_read_would_accept() {
    let (_tmp, files) = layout();
    let c = files.complete_path("");
    let mut expected = vec!["a.txt", "big.txt", "img.png", "notes", "sub/"];
    if cfg!(unix) {
        // `link_in` stays inside; `link_out`, `link_sibling`, `dir_out` lead out; `.env` and
        // `link_hidden` are hidden (the latter as a target).
        expected = vec!["a.txt", "big.txt", "img.png", "link_in", "notes", "sub/"];
    }
    assert_eq!(c.values, expected);
    assert_eq!(c.total, Some(expected.len() as u64));
    assert_eq!(c.has_more, Some(false));
    assert_eq!(files.complete_path("sub/").values, vec!["sub/b.json"]);
    assert_eq!(files.complete_path("sub/x").values, Vec::<String>::new());
    assert_eq!(files.complete_path("b").values, vec!["big.txt"]);
    assert!(files.complete_path("../").values.is_empty());
    assert!(files.complete_path("%2e%2e/").values.is_empty());
    assert!(files.complete_path("missing/").values.is_empty());
    #[cfg(unix)]
    assert!(files.complete_path("dir_out/").values.is_empty());
    assert_eq!(files.complete_path(".").values, Vec::<String>::new());
    let open = files.clone().allow_hidden(true);
    assert!(open.complete_path(".").values.contains(&".env".to_owned()));
}

/// A directory of the root is swapped for a symlink to a directory outside, and back, by a
/// thread of its own while thousands of reads of a file in it run: every read returns the file
/// inside the root or "resource not found", never a byte of the file outside.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_directory_swapped_for_a_symlink_never_leaks_outside_bytes() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    const READS: usize = 4000;
    const MAX_SWAPS: usize = 200_000;
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let data = t.join("data");
    std::fs::create_dir_all(data.join("dir")).unwrap();
    std::fs::create_dir_all(t.join("evil")).unwrap();
    std::fs::write(data.join("dir/f.txt"), "inside").unwrap();
    std::fs::write(data.join("ok.txt"), "fine").unwrap();
    std::fs::write(t.join("evil/f.txt"), "SECRET outside").unwrap();
    std::os::unix::fs::symlink(t.join("evil"), data.join("swap")).unwrap();
    let server =
        Server::new("files", "1.0.0").resource(FileResources::new(&data, "file:///data").unwrap());

    // Swaps `dir` for the symlink and back until the reads are done (or a bound is reached).
    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicUsize::new(0));
    let swapper = {
        let (stop, swaps, data) = (stop.clone(), swaps.clone(), data.clone());
        std::thread::spawn(move || {
            for _ in 0..MAX_SWAPS {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                std::fs::rename(data.join("dir"), data.join("real")).unwrap();
                std::fs::rename(data.join("swap"), data.join("dir")).unwrap();
                std::fs::rename(data.join("dir"), data.join("swap")).unwrap();
                std::fs::rename(data.join("real"), data.join("dir")).unwrap();
                swaps.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    let server = Arc::new(server);
    let (inside, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let (server, inside, refused) = (server.clone(), inside.clone(), refused.clone());
            tokio::spawn(async move {
                for _ in 0..READS / 4 {
                    let r = read(&server, "file:///data/dir/f.txt").await;
                    assert!(!r.to_string().contains("SECRET"), "{r}");
                    if r["result"]["contents"][0]["text"] == "inside" {
                        inside.fetch_add(1, Ordering::Relaxed);
                    } else {
                        // Modern era: "resource not found" is -32602, with the URI as data.
                        assert_eq!(r["error"]["code"], -32602, "{r}");
                        assert_eq!(r["error"]["data"]["uri"], "file:///data/dir/f.txt", "{r}");
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for r in readers {
        r.await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();
    let (inside, refused) = (
        inside.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed),
    );
    assert_eq!(inside + refused, READS);
    assert!(swaps.load(Ordering::Relaxed) > 0);

    // The tree is back in place: reads are served.
    let r = read(&server, "file:///data/dir/f.txt").await;
    assert_eq!(r["result"]["contents"][0]["text"], "inside", "{r}");
    let r = read(&server, "file:///data/ok.txt").await;
    assert_eq!(r["result"]["contents"][0]["text"], "fine", "{r}");
}

/// Opening beneath the root still follows a symlink that stays inside, and a FIFO is refused
/// without blocking the read.
#[cfg(unix)]
#[tokio::test]
async fn inside_symlinks_are_followed_and_a_fifo_does_not_block() {
    let (tmp, files) = layout();
    let server = Server::new("files", "1.0.0").resource(files);
    let data = tmp.path().join("data");
    let r = read(&server, "file:///data/link_in").await;
    assert_eq!(r["result"]["contents"][0]["text"], "{\"b\":1}", "{r}");
    // A FIFO never blocks the read: it is not a regular file.
    let status = std::process::Command::new("mkfifo")
        .arg(data.join("pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    let r = read(&server, "file:///data/pipe").await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    let r = read(&server, "file:///data/a.txt").await;
    assert_eq!(r["result"]["contents"][0]["text"], "hello", "{r}");
}
