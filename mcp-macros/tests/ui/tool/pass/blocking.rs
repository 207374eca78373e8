//! `blocking` on tools, resources, prompts and methods of a `#[handlers]` block.
use std::sync::Arc;

use mcp_server::{Context, Server, State, handlers, prompt, resource, tool};

struct Db;

#[tool(blocking, read_only)]
fn query(db: State<Db>, cx: Context, sql: String) -> std::io::Result<String> {
    let _ = (db, cx);
    Ok(sql)
}

#[tool(blocking = false)]
fn not_blocking(a: i64) -> i64 {
    a
}

#[resource("files://{name}", blocking)]
fn file(name: String) -> Result<Vec<u8>, String> {
    Ok(name.into_bytes())
}

#[prompt(blocking)]
fn summarize(path: String) -> anyhow::Result<String> {
    Ok(path)
}

struct Files {
    root: String,
}

#[handlers]
impl Files {
    #[tool(blocking)]
    fn list(&self, pattern: String) -> Vec<String> {
        vec![self.root.clone(), pattern]
    }

    #[tool(blocking)]
    fn count(self: Arc<Self>) -> usize {
        self.root.len()
    }

    #[resource("files://root", blocking)]
    fn root(&self) -> String {
        self.root.clone()
    }
}

fn main() {
    let _server = Server::new("s", "1")
        .state(Db)
        .tool(Query)
        .tool(NotBlocking)
        .resource(File)
        .prompt(Summarize)
        .handlers(Files { root: "/".into() });
}
