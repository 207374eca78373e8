//! A small stdio upstream, written for one user, that the gateway's tests run as a child
//! process (and a way to try `[[filters]]` and `instances = "per_principal"` by hand):
//!
//! - `secrets`: a text with a fake AWS access key id and an email address in it;
//! - `pid`: the process id of this instance;
//! - `env`: the names of the environment variables this process was started with, sorted, one
//!   per line;
//! - `remember` (`value`) and `recall`: one value kept in this process's memory, the state a
//!   server written for one user keeps;
//! - `wait` (`ms`): answers `waited` after that many milliseconds (a call in flight);
//! - the resource `memo://today`: a text with an email address in it; and `pid://self`, the
//!   process id again.
//!
//! `cargo run -p mcp-gateway --example test-upstream` serves on stdio.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use mcp_server::types::{
    CallToolResult, ContentBlock, JsonObject, Resource, ResourceContents, Tool, ToolAnnotations,
};
use mcp_server::{
    Context, Error, Policy, ResourceDefinition, ResourceHandler, Result, Server, ToolHandler,
};
use serde_json::{Value, json};

fn schema(v: Value) -> JsonObject {
    serde_json::from_value(v).expect("a JSON object")
}

/// The tools of this server, each answering with one text.
enum Kind {
    Secrets,
    Pid,
    Env,
    Remember,
    Recall,
    Wait,
}

struct Handler {
    kind: Kind,
    memory: Arc<Mutex<Option<String>>>,
}

impl ToolHandler for Handler {
    fn definition(&self) -> Tool {
        let (name, input) = match self.kind {
            Kind::Secrets => ("secrets", json!({ "type": "object" })),
            Kind::Pid => ("pid", json!({ "type": "object" })),
            Kind::Env => ("env", json!({ "type": "object" })),
            Kind::Remember => (
                "remember",
                json!({
                    "type": "object",
                    "properties": { "value": { "type": "string" } },
                    "required": ["value"]
                }),
            ),
            Kind::Recall => ("recall", json!({ "type": "object" })),
            Kind::Wait => (
                "wait",
                json!({
                    "type": "object",
                    "properties": { "ms": { "type": "integer", "minimum": 0 } },
                    "required": ["ms"]
                }),
            ),
        };
        let mut tool = Tool::new(name, schema(input));
        tool.annotations = Some(ToolAnnotations {
            read_only_hint: Some(!matches!(self.kind, Kind::Remember)),
            ..Default::default()
        });
        tool
    }

    fn policy(&self) -> Policy {
        Policy::public()
    }

    async fn call(&self, _cx: Context, args: JsonObject) -> Result<CallToolResult> {
        let text = match self.kind {
            // A documentation sample key (AWS's own example), not a credential.
            Kind::Secrets => {
                "deploy key AKIAIOSFODNN7EXAMPLE, owner ann@example.com, region eu-west-1"
                    .to_owned()
            }
            Kind::Pid => std::process::id().to_string(),
            Kind::Env => {
                let mut names: Vec<String> = std::env::vars_os()
                    .map(|(name, _)| name.to_string_lossy().into_owned())
                    .collect();
                names.sort();
                names.join("\n")
            }
            Kind::Remember => {
                let value = args
                    .get("value")
                    .and_then(Value::as_str)
                    .ok_or_else(|| Error::public("`value` must be a string"))?;
                *self.memory.lock().expect("not poisoned") = Some(value.to_owned());
                "remembered".to_owned()
            }
            Kind::Wait => {
                let ms = args.get("ms").and_then(Value::as_u64).unwrap_or(0);
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                "waited".to_owned()
            }
            Kind::Recall => self
                .memory
                .lock()
                .expect("not poisoned")
                .clone()
                .unwrap_or_else(|| "(nothing)".to_owned()),
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
    }
}

/// `memo://today` (`Memo(false)`) and `pid://self` (`Memo(true)`).
struct Memo(bool);

impl ResourceHandler for Memo {
    fn definition(&self) -> ResourceDefinition {
        let (uri, name) = if self.0 {
            ("pid://self", "pid")
        } else {
            ("memo://today", "memo")
        };
        ResourceDefinition::Static(Resource {
            uri: uri.into(),
            name: name.into(),
            mime_type: Some("text/plain".into()),
            ..Default::default()
        })
    }

    async fn read(
        &self,
        _cx: Context,
        uri: String,
        _variables: BTreeMap<String, String>,
    ) -> Result<Vec<ResourceContents>> {
        let text = if self.0 {
            std::process::id().to_string()
        } else {
            "call ann@example.com about the rollout".to_owned()
        };
        Ok(vec![ResourceContents::text(uri, Some("text/plain"), text)])
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let memory = Arc::new(Mutex::new(None));
    let mut server = Server::new("test-upstream", "1.0.0");
    for kind in [
        Kind::Secrets,
        Kind::Pid,
        Kind::Env,
        Kind::Remember,
        Kind::Recall,
        Kind::Wait,
    ] {
        server = server.tool(Handler {
            kind,
            memory: memory.clone(),
        });
    }
    server
        .resource(Memo(false))
        .resource(Memo(true))
        .serve_stdio()
        .await
}
