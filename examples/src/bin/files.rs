//! The files of a project, as the client shares them: its roots.
//!
//! ```text
//! files                       # stdio; serves the roots the client shares
//! files --root .              # the current directory, for clients that share no roots
//! files --port 8000 --root .  # Streamable HTTP at http://127.0.0.1:8000/mcp
//! ```
//!
//! Every request asks the client for its roots ([`Context::roots`]: a `roots/list` request in the
//! legacy era, an input request of an `input_required` round in the modern era), so a change
//! (a legacy client's `notifications/roots/list_changed`, or simply other roots in the next
//! modern request) applies to the very next request and nothing is cached to go stale. A client
//! that declares no `roots` capability gets the directories given with `--root`, or a clear
//! error without them.
//!
//! Reads go through [`FileResources`], one per root: no `..`, no encoded separators, no symlink
//! out of the root, no hidden entries, and on Linux the file is opened beneath the root's
//! descriptor without following symlinks. A path outside every root is "resource not found" for
//! a read and an `isError` result naming the path for a tool. `search` walks the roots with the
//! `ignore` crate (`.gitignore`, `.ignore`, hidden files skipped, no symlinks followed) and
//! reads what it greps through the same [`FileResources`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Parser;
use mcp_server::fs::FileResources;
use mcp_server::mcp_core::uri_template::UriTemplate;
use mcp_server::types::{ResourceContents, ResourceTemplate};
use mcp_server::{
    Context, Error, Json, ResourceDefinition, ResourceHandler, Server, State, prompt, tool,
};

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "An MCP server for the files of the client's roots")]
struct Args {
    /// A directory served to clients that share no roots (repeatable).
    #[arg(long = "root")]
    roots: Vec<PathBuf>,
    /// Serve Streamable HTTP on 127.0.0.1:PORT (path `/mcp`) instead of stdio.
    #[arg(long)]
    port: Option<u16>,
}

/// The directories for clients without roots.
#[derive(Clone)]
struct Fallback(Vec<Root>);

/// A root: its URI (with a trailing `/`) and the files beneath it.
#[derive(Clone)]
struct Root {
    name: Option<String>,
    prefix: String,
    files: FileResources,
}

impl Root {
    /// A root from a `file://` URI; `None` when it is not a directory this machine has.
    fn from_uri(uri: &str, name: Option<String>) -> Option<Root> {
        let url = url::Url::parse(uri).ok()?;
        let path = url.to_file_path().ok()?;
        let mut prefix = url.to_string();
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        let files = FileResources::new(&path, prefix.clone()).ok()?;
        Some(Root {
            name,
            prefix,
            files,
        })
    }

    fn from_dir(dir: &std::path::Path) -> std::io::Result<Root> {
        let path = std::fs::canonicalize(dir)?;
        let url = url::Url::from_directory_path(&path)
            .map_err(|()| std::io::Error::other(format!("{} has no file URI", path.display())))?;
        Root::from_uri(url.as_str(), None)
            .ok_or_else(|| std::io::Error::other(format!("{} is not a directory", path.display())))
    }

    /// The path under this root that `uri` names (decoded), if it is under it.
    fn relative(&self, uri: &str) -> Option<String> {
        let template = UriTemplate::parse(&self.files.uri_template()).ok()?;
        template.match_uri(uri)?.get_str("path").map(str::to_owned)
    }
}

/// The roots in force for this request: the client's, or the fallback.
async fn roots(cx: &Context, fallback: &Fallback) -> Result<Vec<Root>, Error> {
    if cx.client_capabilities().roots.is_none() {
        if fallback.0.is_empty() {
            return Err(Error::public(
                "the client shares no roots and the server was started without --root",
            ));
        }
        return Ok(fallback.0.clone());
    }
    let listed = cx.roots().await?;
    let roots: Vec<Root> = tokio::task::spawn_blocking(move || {
        listed
            .into_iter()
            .filter_map(|r| Root::from_uri(&r.uri, r.name))
            .collect()
    })
    .await
    .map_err(Error::internal)?;
    Ok(roots)
}

/// A `file://` URI for what a tool was given: a URI as it is, an absolute path turned into one.
fn to_uri(path: &str) -> Result<String, Error> {
    if path.starts_with("file://") {
        return Ok(path.to_owned());
    }
    url::Url::from_file_path(path)
        .map(String::from)
        .map_err(|()| {
            Error::public(format!(
                "`{path}` is neither a file:// URI nor an absolute path"
            ))
        })
}

/// The root a URI is under, and the path beneath it.
fn locate<'a>(roots: &'a [Root], uri: &str) -> Option<(&'a Root, String)> {
    roots
        .iter()
        .find_map(|root| root.relative(uri).map(|path| (root, path)))
}

/// Reads a file through its root's [`FileResources`]: as text, or `None` for a binary file.
async fn read_text(
    cx: &Context,
    root: &Root,
    uri: &str,
    path: String,
) -> Result<Option<String>, Error> {
    let variables = BTreeMap::from([("path".to_owned(), path)]);
    let contents = root
        .files
        .read(cx.clone(), uri.to_owned(), variables)
        .await?;
    Ok(contents.into_iter().next().and_then(|c| match c {
        ResourceContents::Text(t) => Some(t.text),
        ResourceContents::Blob(_) => None,
    }))
}

/// `file:///{+path}`: any file under one of the roots.
struct RootFiles(Fallback);

impl ResourceHandler for RootFiles {
    fn definition(&self) -> ResourceDefinition {
        ResourceDefinition::Template(ResourceTemplate {
            uri_template: "file:///{+path}".into(),
            name: "files".into(),
            title: Some("Files of the roots".into()),
            description: Some(
                "A file under one of the roots the client shares (hidden files excepted)".into(),
            ),
            ..Default::default()
        })
    }

    async fn read(
        &self,
        cx: Context,
        uri: String,
        _variables: BTreeMap<String, String>,
    ) -> mcp_server::Result<Vec<ResourceContents>> {
        let roots = roots(&cx, &self.0).await?;
        // Outside every root reads exactly like a file that does not exist.
        let (root, path) = locate(&roots, &uri).ok_or_else(|| Error::not_found(uri.clone()))?;
        let variables = BTreeMap::from([("path".to_owned(), path)]);
        root.files.read(cx, uri, variables).await
    }
}

/// A root the client shares.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
struct RootInfo {
    /// Its URI; files under it are `<uri><relative path>`.
    uri: String,
    /// Its name, if the client gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
}

/// The roots.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
struct RootList {
    /// The roots, in the client's order.
    roots: Vec<RootInfo>,
}

/// List the roots (directories) the client shares with this server.
#[tool(title = "List roots", read_only, idempotent)]
async fn list_roots(cx: Context, fallback: State<Fallback>) -> Result<Json<RootList>, Error> {
    let roots = roots(&cx, &fallback).await?;
    Ok(Json(RootList {
        roots: roots
            .into_iter()
            .map(|r| RootInfo {
                uri: r.prefix,
                name: r.name,
            })
            .collect(),
    }))
}

/// A file that matched, with the lines that matched when searching for text.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
struct Hit {
    /// The file's URI (read it with `read_file` or as a resource).
    uri: String,
    /// The matching lines (at most 20), when `text` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    lines: Option<Vec<Line>>,
}

/// A line of a file.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
struct Line {
    /// Its number, from 1.
    number: usize,
    /// Its text.
    text: String,
}

/// What `search` found.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
struct Hits {
    /// The files, sorted by URI.
    files: Vec<Hit>,
    /// Whether the search stopped early, at `max_results` files or after reading 10,000 files:
    /// there may be more.
    truncated: bool,
}

/// Find files under the roots by glob, and optionally the lines holding a text. Files ignored
/// by `.gitignore` or `.ignore`, and hidden files, are skipped.
#[tool(title = "Search files", read_only, idempotent)]
async fn search(
    cx: Context,
    fallback: State<Fallback>,
    /// Globs the path under its root must match, such as `**/*.rs` or `src/**`; `!` excludes.
    /// Every file when empty.
    #[arg(default)]
    globs: Vec<String>,
    /// Text the lines must contain (case-sensitive); files only when absent.
    text: Option<String>,
    /// The most files to return.
    #[arg(default = 50)]
    max_results: usize,
) -> Result<Json<Hits>, Error> {
    let roots = roots(&cx, &fallback).await?;
    let walk_roots = roots.clone();
    // Searching for text looks through up to SCAN_LIMIT files; listing stops after max_results.
    let walk_limit = if text.is_some() {
        SCAN_LIMIT
    } else {
        max_results.saturating_add(1)
    };
    // Walking is blocking work: on tokio's blocking threads.
    let found = tokio::task::spawn_blocking(move || walk(&walk_roots, &globs, walk_limit))
        .await
        .map_err(Error::internal)??;
    let mut truncated = found.len() >= walk_limit;
    let mut files = Vec::new();
    for (root, path) in found {
        if files.len() == max_results {
            truncated = true;
            break;
        }
        let root = &roots[root];
        let uri = format!("{}{}", root.prefix, encode_path(&path));
        let lines = match &text {
            None => None,
            Some(needle) => {
                // Read through the root's FileResources, like a read; skip what it refuses.
                let Ok(Some(content)) = read_text(&cx, root, &uri, path).await else {
                    continue;
                };
                let lines: Vec<Line> = content
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| l.contains(needle.as_str()))
                    .take(20)
                    .map(|(i, l)| Line {
                        number: i + 1,
                        text: l.chars().take(300).collect(),
                    })
                    .collect();
                if lines.is_empty() {
                    continue;
                }
                Some(lines)
            }
        };
        files.push(Hit { uri, lines });
    }
    Ok(Json(Hits { files, truncated }))
}

/// The most files a text search reads.
const SCAN_LIMIT: usize = 10_000;

/// Percent-encodes a relative path for a URI, keeping its slashes.
fn encode_path(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            url::form_urlencoded::byte_serialize(segment.as_bytes())
                .collect::<String>()
                .replace('+', "%20")
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The files under the roots matching the globs: (index of the root, relative path), sorted,
/// at most `max` of them.
fn walk(roots: &[Root], globs: &[String], max: usize) -> Result<Vec<(usize, String)>, Error> {
    let mut found = Vec::new();
    for (i, root) in roots.iter().enumerate() {
        let dir = root.files.root();
        let mut overrides = ignore::overrides::OverrideBuilder::new(dir);
        for glob in globs {
            overrides
                .add(glob)
                .map_err(|e| Error::public(format!("bad glob `{glob}`: {e}")))?;
        }
        let overrides = overrides
            .build()
            .map_err(|e| Error::public(format!("bad globs: {e}")))?;
        let walker = ignore::WalkBuilder::new(dir)
            .overrides(overrides)
            .follow_links(false)
            .hidden(true)
            .require_git(false)
            .sort_by_file_path(|a, b| a.cmp(b))
            .build();
        for entry in walker.flatten() {
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                continue;
            }
            let Ok(relative) = entry.path().strip_prefix(dir) else {
                continue;
            };
            let Some(relative) = relative.to_str() else {
                continue;
            };
            found.push((i, relative.replace(std::path::MAIN_SEPARATOR, "/")));
            if found.len() >= max {
                return Ok(found);
            }
        }
    }
    Ok(found)
}

/// Lines of a file.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
struct Excerpt {
    /// The file's URI.
    uri: String,
    /// The first line returned, from 1.
    start_line: usize,
    /// The last line returned.
    end_line: usize,
    /// How many lines the file has.
    total_lines: usize,
    /// The lines, joined with `\n`.
    text: String,
}

/// Read lines of a text file under the roots.
#[tool(title = "Read a file", read_only, idempotent)]
async fn read_file(
    cx: Context,
    fallback: State<Fallback>,
    /// The file: a `file://` URI (as `search` gives) or an absolute path.
    path: String,
    /// The first line, from 1.
    #[arg(default = 1)]
    start_line: usize,
    /// The last line (inclusive); 200 lines from `start_line` when absent.
    end_line: Option<usize>,
) -> Result<Json<Excerpt>, Error> {
    let uri = to_uri(&path)?;
    let roots = roots(&cx, &fallback).await?;
    let Some((root, relative)) = locate(&roots, &uri) else {
        return Err(Error::public(format!(
            "`{path}` is outside the roots the client shares"
        )));
    };
    let text = read_text(&cx, root, &uri, relative)
        .await
        .map_err(|e| Error::public(format!("cannot read `{path}`: {e}")))?
        .ok_or_else(|| Error::public(format!("`{path}` is not a text file")))?;
    let start = start_line.max(1);
    let end = end_line.unwrap_or(start + 199);
    if end < start {
        return Err(Error::public(format!(
            "end_line ({end}) is before start_line ({start})"
        )));
    }
    let total_lines = text.lines().count();
    let lines: Vec<&str> = text.lines().skip(start - 1).take(end - start + 1).collect();
    Ok(Json(Excerpt {
        uri,
        start_line: start,
        end_line: start + lines.len().saturating_sub(1),
        total_lines,
        text: lines.join("\n"),
    }))
}

/// Ask for an explanation of a file of the project.
#[prompt(title = "Explain a file")]
fn explain_file(
    /// The file's URI, as `search` gives it.
    uri: String,
) -> String {
    format!(
        "Read {uri} (the resource, or `read_file` for parts of it) and explain what it does, how \
         it fits in the project (use `search` to find where it is used), and anything that looks \
         wrong."
    )
}

fn server(fallback: Fallback) -> Server {
    Server::new("files", env!("CARGO_PKG_VERSION"))
        .instructions(
            "The files of the client's roots: `search` by glob and text, `read_file` with line \
             ranges, or read file:// resources. Nothing outside the roots is readable.",
        )
        .state(fallback.clone())
        .tool(ListRoots)
        .tool(Search)
        .tool(ReadFile)
        .resource(RootFiles(fallback))
        .prompt(ExplainFile)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let fallback = Fallback(
        args.roots
            .iter()
            .map(|dir| Root::from_dir(dir))
            .collect::<std::io::Result<_>>()?,
    );
    let server = server(fallback);
    match args.port {
        Some(port) => mcp_server::http::serve_local(server, port).await,
        None => server.serve_stdio().await,
    }
}

#[cfg(test)]
mod tests {
    use mcp_client::EraChoice;
    use mcp_client::testing::{InProcess, Recorder};
    use mcp_server::mcp_core::ProtocolVersion;
    use mcp_server::types::{CallToolResult, Root as ClientRoot};
    use serde_json::json;

    use super::*;

    /// A project root and a directory beside it holding a secret.
    fn project() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap().join("project");
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(root.join("target")).unwrap();
        std::fs::create_dir_all(dir.path().join("outside")).unwrap();
        std::fs::write(
            root.join("src/main.rs"),
            "fn main() {\n    println!(\"hi\");\n}\n",
        )
        .unwrap();
        std::fs::write(root.join(".gitignore"), "target/\n").unwrap();
        std::fs::write(root.join("target/out.rs"), "println!();\n").unwrap();
        std::fs::write(root.join(".env"), "TOKEN=x\n").unwrap();
        std::fs::write(dir.path().join("outside/secret.txt"), "secret\n").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("../outside/secret.txt", root.join("link.txt")).unwrap();
        (dir, root)
    }

    fn uri(path: &std::path::Path) -> String {
        url::Url::from_file_path(path).unwrap().to_string()
    }

    fn text(r: &CallToolResult) -> &str {
        r.content[0].as_text().unwrap()
    }

    /// Clients of both eras sharing `root`.
    fn clients(root: &std::path::Path) -> Vec<InProcess> {
        let roots = || {
            Recorder::new().roots(vec![ClientRoot {
                uri: uri(root),
                name: Some("project".into()),
                meta: None,
            }])
        };
        vec![
            InProcess::new(server(Fallback(Vec::new())))
                .era(EraChoice::Modern)
                .handler(roots()),
            InProcess::new(server(Fallback(Vec::new())))
                .protocol_version(ProtocolVersion::V2025_06_18)
                .handler(roots()),
        ]
    }

    #[tokio::test]
    async fn reads_stay_inside_the_roots_in_both_eras() {
        let (dir, root) = project();
        let main_rs = uri(&root.join("src/main.rs"));
        let secret = dir.path().join("outside/secret.txt");
        for connection in clients(&root) {
            let client = connection.connect().await.unwrap();
            let version = client.session().version;
            let r = client
                .call_tool(
                    "read_file",
                    json!({"path": main_rs, "start_line": 2, "end_line": 2}),
                )
                .await
                .unwrap();
            assert_eq!(
                r.structured_content,
                Some(
                    json!({"uri": main_rs, "start_line": 2, "end_line": 2, "total_lines": 3, "text": "    println!(\"hi\");"})
                ),
                "{version}"
            );
            let r = client
                .call_tool("read_file", json!({"path": secret.to_str().unwrap()}))
                .await
                .unwrap();
            assert_eq!(r.is_error, Some(true), "{version}");
            assert_eq!(
                text(&r),
                format!(
                    "`{}` is outside the roots the client shares",
                    secret.display()
                ),
                "{version}"
            );
            for path in [
                format!("{}/../outside/secret.txt", uri(&root)),
                format!("{}/%2e%2e/outside/secret.txt", uri(&root)),
                uri(&root.join(".env")),
                uri(&root.join("link.txt")),
            ] {
                let r = client
                    .call_tool("read_file", json!({ "path": path }))
                    .await
                    .unwrap();
                assert_eq!(r.is_error, Some(true), "{version} {path}");
                assert!(
                    text(&r).starts_with("cannot read `"),
                    "{version} {path}: {}",
                    text(&r)
                );
                assert!(
                    client.read_resource(&path).await.is_err(),
                    "{version} {path}"
                );
            }
            assert!(
                client.read_resource(&uri(&secret)).await.is_err(),
                "{version}"
            );
            let contents = client.read_resource(&main_rs).await.unwrap();
            let mcp_server::types::ResourceContents::Text(t) = &contents[0] else {
                panic!("{contents:?}")
            };
            assert_eq!(
                t.text, "fn main() {\n    println!(\"hi\");\n}\n",
                "{version}"
            );
        }
    }

    #[tokio::test]
    async fn search_follows_globs_and_ignore_files() {
        let (_dir, root) = project();
        for connection in clients(&root) {
            let client = connection.connect().await.unwrap();
            let version = client.session().version;
            let r = client
                .call_tool("search", json!({"text": "println"}))
                .await
                .unwrap();
            // target/ is ignored by .gitignore, .env is hidden, link.txt is a symlink.
            assert_eq!(
                r.structured_content,
                Some(
                    json!({"files": [{"uri": uri(&root.join("src/main.rs")), "lines": [{"number": 2, "text": "    println!(\"hi\");"}]}], "truncated": false})
                ),
                "{version}"
            );
            // Files that do not hold the text do not count against max_results.
            for name in ["a.md", "b.md"] {
                std::fs::write(root.join(name), "no match here\n").unwrap();
            }
            let r = client
                .call_tool("search", json!({"text": "println", "max_results": 1}))
                .await
                .unwrap();
            let files = &r.structured_content.as_ref().unwrap()["files"];
            assert_eq!(files[0]["uri"], uri(&root.join("src/main.rs")), "{version}");
            let r = client
                .call_tool("search", json!({"max_results": 1}))
                .await
                .unwrap();
            assert_eq!(
                r.structured_content,
                Some(json!({"files": [{"uri": uri(&root.join("a.md"))}], "truncated": true})),
                "{version}"
            );
            let r = client
                .call_tool("search", json!({"globs": ["!**/*.md", "!**/*.rs"]}))
                .await
                .unwrap();
            assert_eq!(
                r.structured_content,
                Some(json!({"files": [], "truncated": false})),
                "{version}"
            );
            let r = client
                .call_tool("search", json!({"globs": ["[oops"]}))
                .await
                .unwrap();
            assert_eq!(r.is_error, Some(true), "{version}");
            assert!(
                text(&r).starts_with("bad glob `[oops`"),
                "{version}: {}",
                text(&r)
            );
        }
    }

    #[tokio::test]
    async fn without_roots_the_fallback_or_a_clear_error() {
        let (_dir, root) = project();
        let client = InProcess::new(server(Fallback(Vec::new())))
            .connect()
            .await
            .unwrap();
        let r = client.call_tool("list_roots", json!({})).await.unwrap();
        assert_eq!(r.is_error, Some(true));
        assert_eq!(
            text(&r),
            "the client shares no roots and the server was started without --root"
        );
        let fallback = Fallback(vec![Root::from_dir(&root).unwrap()]);
        let client = InProcess::new(server(fallback)).connect().await.unwrap();
        let r = client.call_tool("list_roots", json!({})).await.unwrap();
        assert_eq!(
            r.structured_content,
            Some(json!({"roots": [{"uri": format!("{}/", uri(&root))}]}))
        );
    }
}
