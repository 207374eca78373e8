//! Tools written the way application code already is: `anyhow` errors, blocking work on the
//! blocking pool, and an existing arguments struct flattened into a tool's arguments (the
//! README's "Application code as it is").
//!
//! `cargo run -p mcp-examples --bin everyday -- [DIR]`

use anyhow::Context as _;
use mcp_server::{Server, State, tool};

/// The directory the tools work in.
struct Root {
    dir: std::path::PathBuf,
}

/// Paging, as a REST handler of the same application takes it.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Paging {
    /// The page, from 0.
    #[serde(default)]
    page: usize,
    /// Results per page (default 20).
    per_page: Option<usize>,
}

/// Read a note. Errors are internal: logged with their context, the model sees "internal error".
#[tool(read_only)]
async fn read_note(root: State<Root>, name: String) -> anyhow::Result<String> {
    if name.contains(['/', '\\']) || name.starts_with('.') {
        // A `String` error would be a message the model reads; `anyhow` ones are not.
        anyhow::bail!("refused a note name with a path in it: {name:?}");
    }
    let path = root.dir.join(&name);
    tokio::fs::read_to_string(&path)
        .await
        .with_context(|| format!("reading the note {}", path.display()))
}

/// Count the lines of the files in the directory: blocking file I/O, on the blocking pool.
#[tool(blocking, read_only)]
fn count_lines(root: State<Root>) -> std::io::Result<usize> {
    let mut lines = 0;
    for entry in std::fs::read_dir(&root.dir)? {
        let path = entry?.path();
        if path.is_file() {
            lines += std::fs::read_to_string(&path).map_or(0, |t| t.lines().count());
        }
    }
    Ok(lines)
}

/// List the files whose name contains `query`: takes `{"query", "page", "per_page"}`.
#[tool(blocking, read_only)]
fn search(
    root: State<Root>,
    /// A part of the file name.
    query: String,
    #[arg(flatten)] paging: Paging,
) -> Result<Vec<String>, String> {
    let entries = std::fs::read_dir(&root.dir)
        .map_err(|e| format!("cannot list {}: {e}", root.dir.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains(&query))
        .collect();
    names.sort();
    let per_page = paging.per_page.unwrap_or(20).max(1);
    Ok(names
        .into_iter()
        .skip(paging.page * per_page)
        .take(per_page)
        .collect())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    Server::new("everyday", env!("CARGO_PKG_VERSION"))
        .state(Root { dir: dir.into() })
        .tool(ReadNote)
        .tool(CountLines)
        .tool(Search)
        .serve_stdio()
        .await
}
