//! The gateway end to end: in-process upstreams behind a gateway, callers with different
//! identities, rules, approval, isolation, configuration errors, and what upstreams receive.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_client::testing::{InProcess, Recorder, Seen};
use mcp_client::types::*;
use mcp_client::{Client, EraChoice, Transport};
use mcp_core::ErrorCode;
use mcp_gateway::{Config, ConfigError, Gateway};
use mcp_server::{Context, Identity, Server, ToolHandler};
use serde_json::{Value, json};
use tokio::sync::{Notify, mpsc};

/// A safety net for waits, never a synchronization.
const SAFETY: Duration = Duration::from_secs(20);

fn schema() -> JsonObject {
    serde_json::from_value(json!({"type": "object"})).unwrap()
}

/// A tool definition annotated read-only (no approval needed by default).
fn read_only(name: &str) -> Tool {
    let mut t = Tool::new(name, schema());
    t.annotations = Some(ToolAnnotations {
        read_only_hint: Some(true),
        ..Default::default()
    });
    t
}

/// A tool answering its own name and arguments; read-only when annotated so.
struct Named {
    name: &'static str,
    read_only: bool,
    calls: Arc<Mutex<Vec<Value>>>,
}

impl ToolHandler for Named {
    fn definition(&self) -> Tool {
        let mut t = Tool::new(self.name, schema());
        if self.read_only {
            t.annotations = Some(ToolAnnotations {
                read_only_hint: Some(true),
                ..Default::default()
            });
        }
        t
    }
    async fn call(&self, cx: Context, args: JsonObject) -> mcp_server::Result<CallToolResult> {
        self.calls.lock().unwrap().push(Value::Object(args.clone()));
        cx.progress(1.0, Some(2.0), Some("half"));
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "{} {}",
            self.name,
            Value::Object(args)
        ))]))
    }
}

/// Never returns (until cancelled); tells the test it started.
struct Hang(Arc<Notify>);

impl ToolHandler for Hang {
    fn definition(&self) -> Tool {
        Tool::new("hang", schema())
    }
    async fn call(&self, _cx: Context, _args: JsonObject) -> mcp_server::Result<CallToolResult> {
        self.0.notify_one();
        std::future::pending().await
    }
}

/// An upstream server with these tools (name, read-only).
fn upstream(tools: &[(&'static str, bool)], calls: &Arc<Mutex<Vec<Value>>>) -> Server {
    let mut s = Server::new("upstream", "1.0.0");
    for (name, read_only) in tools {
        s = s.tool(Named {
            name,
            read_only: *read_only,
            calls: calls.clone(),
        });
    }
    s
}

/// Connects to `server` in process through a relay that `kill` cuts (a crash: the connection
/// ends, and every reconnection ends at once).
fn channel(
    server: Server,
    kill: tokio::sync::watch::Receiver<bool>,
) -> impl Fn() -> mcp_client::Result<Transport> + Send + Sync + 'static {
    move || {
        let (to_relay, mut from_host) = mpsc::channel(64);
        let (to_host, from_relay) = mpsc::channel(64);
        let (to_server, incoming) = mpsc::channel(64);
        let (outgoing, mut from_server) = mpsc::channel(64);
        tokio::spawn(server.clone().serve_channel(incoming, outgoing));
        let mut kill = kill.clone();
        tokio::spawn(async move {
            if *kill.borrow_and_update() {
                return;
            }
            loop {
                tokio::select! {
                    m = from_host.recv() => {
                        let Some(m) = m else { break };
                        if to_server.send(m).await.is_err() {
                            break;
                        }
                    }
                    m = from_server.recv() => {
                        let Some(m) = m else { break };
                        if to_host.send(m).await.is_err() {
                            break;
                        }
                    }
                    // A dropped switch never fires.
                    () = async {
                        if kill.changed().await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    } => break,
                }
            }
        });
        Ok(Transport::from_channels(to_relay, from_relay, None))
    }
}

fn alive() -> tokio::sync::watch::Receiver<bool> {
    tokio::sync::watch::channel(false).1
}

fn parse(text: &str) -> Config {
    Config::parse("gateway.toml", text).unwrap_or_else(|e| panic!("{e}"))
}

/// The upstream entries of the tests: reached in process (the URL is never used).
const UPSTREAMS: &str = r#"
[upstreams.fs]
url = "http://127.0.0.1:9/unused"
environment = "prod"

[upstreams.web]
url = "http://127.0.0.1:9/unused"
environment = "staging"
"#;

struct Setup {
    gateway: Gateway,
    fs_calls: Arc<Mutex<Vec<Value>>>,
}

/// The gateway of `config` over in-process upstreams `fs` and `web` with these tools (name,
/// read-only).
async fn fs_and_web(
    config: Config,
    fs: &[(&'static str, bool)],
    web: &[(&'static str, bool)],
) -> Gateway {
    let calls = Arc::new(Mutex::new(Vec::new()));
    Gateway::builder(config)
        .transport("fs", channel(upstream(fs, &calls), alive()))
        .transport("web", channel(upstream(web, &calls), alive()))
        .start()
        .await
        .expect("the gateway starts")
}

async fn gateway(rules: &str) -> Setup {
    let fs_calls = Arc::new(Mutex::new(Vec::new()));
    let web_calls = Arc::new(Mutex::new(Vec::new()));
    let fs = upstream(
        &[
            ("read_file", true),
            ("write_file", false),
            ("delete_file", false),
        ],
        &fs_calls,
    );
    let web = upstream(&[("fetch", true)], &web_calls);
    let config = parse(&format!("{UPSTREAMS}\n{rules}"));
    let gateway = Gateway::builder(config)
        .transport("fs", channel(fs, alive()))
        .transport("web", channel(web, alive()))
        .start()
        .await
        .expect("the gateway starts");
    Setup { gateway, fs_calls }
}

async fn client(g: &Gateway, identity: Option<Identity>) -> Client {
    client_with(g, identity, Recorder::new(), EraChoice::Legacy).await
}

async fn client_with(
    g: &Gateway,
    identity: Option<Identity>,
    recorder: Recorder,
    era: EraChoice,
) -> Client {
    let mut c = InProcess::new(g.server().clone())
        .handler(recorder)
        .era(era);
    if let Some(id) = identity {
        c = c.identity(id);
    }
    c.connect().await.expect("the client connects")
}

/// The tools `c` may see, in the order listed.
async fn listed_in_order(c: &Client) -> Vec<String> {
    c.list_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect()
}

async fn listed(c: &Client) -> Vec<String> {
    let mut names = listed_in_order(c).await;
    names.sort();
    names
}

const ALL_TOOLS: [&str; 4] = [
    "fs__delete_file",
    "fs__read_file",
    "fs__write_file",
    "web__fetch",
];

/// The `data.reason` of a refused call, or `None` when it ran.
async fn refusal(c: &Client, tool: &str) -> Option<String> {
    match c.call_tool(tool, json!({})).await {
        Ok(r) => {
            assert_ne!(r.is_error, Some(true), "{tool}: {r:?}");
            None
        }
        Err(mcp_client::Error::Server(e)) => {
            assert_eq!(e.code, ErrorCode(-32003), "{tool}: {e:?}");
            assert_eq!(e.message, format!("access denied to tool `{tool}`"));
            Some(e.data.unwrap()["reason"].as_str().unwrap().to_owned())
        }
        Err(e) => panic!("{tool}: {e}"),
    }
}

/// Lists, then calls every tool: a tool is callable exactly when it is listed.
async fn listed_is_callable(c: &Client) -> Vec<String> {
    let listed = listed(c).await;
    for tool in ALL_TOOLS {
        let refused = refusal(c, tool).await;
        assert_eq!(
            refused.is_none(),
            listed.contains(&tool.to_owned()),
            "{tool}: listed {listed:?}, refused {refused:?}"
        );
    }
    listed
}

const RULES: &str = r#"
[[rules]]                       # 0: analysts read files and use the web
tools = ["fs__read_*", "web__*"]
roles = ["analyst"]
approval = "none"

[[rules]]                       # 1: admins use everything
tools = ["*"]
roles = ["admin"]
approval = "none"

[[rules]]                       # 2: nobody deletes in prod
effect = "deny"
tools = ["*delete*"]
environments = ["prod"]

[[rules]]                       # 3: callers of the tenant acme may fetch
tools = ["web__fetch"]
claims = { tenant = "acme" }

[[rules]]                       # 4: operators use what is in the environment their token names
tools = ["*"]
roles = ["ops"]
environment_claim = "env"
approval = "none"
"#;

fn claims(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[tokio::test]
async fn rules_decide_lists_and_calls_alike() {
    let s = gateway(RULES).await;
    let g = &s.gateway;

    // Globs, and deny wins over an allow that matches too (rule 2 over rules 0 and 1).
    let analyst = client(g, Some(Identity::configured("ann").with_roles(["analyst"]))).await;
    assert_eq!(
        listed_is_callable(&analyst).await,
        ["fs__read_file", "web__fetch"]
    );
    assert_eq!(
        refusal(&analyst, "fs__delete_file").await.as_deref(),
        Some("denied_by_rule")
    );
    assert_eq!(
        refusal(&analyst, "fs__write_file").await.as_deref(),
        Some("no_rule_allows")
    );
    let admin = client(g, Some(Identity::configured("root").with_roles(["admin"]))).await;
    assert_eq!(
        listed_is_callable(&admin).await,
        ["fs__read_file", "fs__write_file", "web__fetch"]
    );
    assert_eq!(
        refusal(&admin, "fs__delete_file").await.as_deref(),
        Some("denied_by_rule")
    );

    // Fail closed: a caller no rule names sees and calls nothing.
    let nobody = client(g, Some(Identity::configured("eve"))).await;
    assert!(listed_is_callable(&nobody).await.is_empty());
    let anonymous = client(g, None).await;
    assert!(listed_is_callable(&anonymous).await.is_empty());
    assert_eq!(
        refusal(&anonymous, "web__fetch").await.as_deref(),
        Some("no_rule_allows")
    );

    // A claim of the caller's token.
    let acme = Identity::configured("bob").with_claims(claims(json!({"tenant": "acme"})));
    let acme = client(g, Some(acme)).await;
    assert_eq!(listed_is_callable(&acme).await, ["web__fetch"]);
    let other = Identity::configured("bob").with_claims(claims(json!({"tenant": "other"})));
    assert!(
        listed_is_callable(&client(g, Some(other)).await)
            .await
            .is_empty()
    );

    // Environment scoping by the caller's claim: staging only, then prod (still no delete).
    let ops = |env: Value| {
        Identity::configured("olga")
            .with_roles(["ops"])
            .with_claims(claims(json!({ "env": env })))
    };
    let staging = client(g, Some(ops(json!("staging")))).await;
    assert_eq!(listed_is_callable(&staging).await, ["web__fetch"]);
    let prod = client(g, Some(ops(json!(["prod"])))).await;
    assert_eq!(
        listed_is_callable(&prod).await,
        ["fs__read_file", "fs__write_file"]
    );

    // The arguments reached the upstream for the allowed calls, and a good call still works.
    let r = admin
        .call_tool("fs__read_file", json!({"path": "a.txt"}))
        .await
        .unwrap();
    assert_eq!(
        r.content[0].as_text().unwrap(),
        r#"read_file {"path":"a.txt"}"#
    );
    assert!(s.fs_calls.lock().unwrap().iter().all(|a| {
        a.as_object()
            .is_some_and(|o| o.is_empty() || o["path"] == "a.txt")
    }));
    g.close().await;
}

/// Rules that name the upstream apart from the item: the same rules under any separator.
const UPSTREAM_RULES: &str = r#"
[[rules]]                       # 0: analysts read files (by fs's own names) and use the web
upstreams = ["fs"]
tools = ["read_*"]
roles = ["analyst"]
approval = "none"

[[rules]]
upstreams = ["w*"]
tools = ["*"]
roles = ["analyst"]
approval = "none"

[[rules]]                       # 2: a pattern without `upstreams` still names namespaced items
tools = ["read_*"]
roles = ["reader"]
approval = "none"

[[rules]]                       # 3: admins use everything but fs's deletes
tools = ["*"]
roles = ["admin"]
approval = "none"

[[rules]]
effect = "deny"
upstreams = ["fs"]
tools = ["delete_*"]
"#;

#[tokio::test]
async fn rules_scoped_to_upstreams_match_the_names_items_have_there() {
    for separator in ["__", "."] {
        let at = |name: &str| name.replacen("__", separator, 1);
        let s = gateway(&format!(
            "[gateway]\nseparator = \"{separator}\"\n{UPSTREAM_RULES}"
        ))
        .await;
        let g = &s.gateway;
        let analyst = client(g, Some(Identity::configured("ann").with_roles(["analyst"]))).await;
        assert_eq!(
            listed(&analyst).await,
            [at("fs__read_file"), at("web__fetch")],
            "separator {separator}"
        );
        assert_eq!(
            refusal(&analyst, &at("fs__write_file")).await.as_deref(),
            Some("no_rule_allows")
        );
        assert_eq!(refusal(&analyst, &at("fs__read_file")).await, None);
        // `read_*` without `upstreams` matches namespaced names: here, none.
        let reader = client(g, Some(Identity::configured("rob").with_roles(["reader"]))).await;
        assert!(listed(&reader).await.is_empty(), "separator {separator}");
        assert_eq!(
            refusal(&reader, &at("fs__read_file")).await.as_deref(),
            Some("no_rule_allows")
        );
        // Deny wins, scoped to its upstream by name.
        let admin = client(g, Some(Identity::configured("root").with_roles(["admin"]))).await;
        assert_eq!(
            listed(&admin).await,
            [at("fs__read_file"), at("fs__write_file"), at("web__fetch")]
        );
        assert_eq!(
            refusal(&admin, &at("fs__delete_file")).await.as_deref(),
            Some("denied_by_rule")
        );
        g.close().await;
    }
}

/// Filters of the check table's test: two apply to served items, two to none.
const FILTERS: &str = r#"
[[filters]]
name = "keys"
detector = "secrets"
action = "redact"

[[filters]]
name = "typo"
detector = "email"
action = "redact"
tools = ["fss__*"]

[[filters]]
name = "web-prod"
regex = "internal"
action = "block"
tools = ["web__*", "fs__*"]
environments = ["prod"]

[[filters]]
name = "dev-only"
regex = "debug"
action = "drop"
environments = ["dev"]
"#;

#[tokio::test]
async fn the_check_table_shows_each_caller_and_rules_that_match_nothing() {
    let rules =
        format!("{RULES}\n[[rules]]\ntools = [\"nothing__*\"]\nroles = [\"ghost\"]\n{FILTERS}");
    let s = gateway(&rules).await;
    let table = s.gateway.table();
    let section = |label: &str| -> Vec<String> {
        let start = table.find(&format!("caller: {label}\n")).unwrap();
        table[start..]
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with("  "))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    };
    assert_eq!(
        section("role analyst"),
        [
            "fs__delete_file prod no no -",
            "fs__read_file prod yes yes no",
            "fs__write_file prod no no -",
            "web__fetch staging yes yes no",
        ]
    );
    // Without an explicit approval, a tool not annotated read-only would need one: none here.
    assert_eq!(
        section("role admin"),
        [
            "fs__delete_file prod no no -",
            "fs__read_file prod yes yes no",
            "fs__write_file prod yes yes no",
            "web__fetch staging yes yes no",
        ]
    );
    assert!(
        table.contains("warning: rules[5] (allow) matches no served item"),
        "{table}"
    );
    // A filter for a tool no upstream serves, or for an environment no served item is in.
    let warned: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("warning: filters"))
        .collect();
    assert_eq!(
        warned,
        [
            "warning: filters[1] (typo) applies to no served item",
            "warning: filters[3] (dev-only) applies to no served item",
        ]
    );
    s.gateway.close().await;
}

/// A rule that asks for several things at once (a role and scopes, a claim naming the
/// environment) gets a caller of its own in the table, and no false warning; a configuration
/// under which nobody may call anything says so.
#[tokio::test]
async fn the_check_table_has_a_caller_for_each_rule_that_asks_for_several_things() {
    let s = gateway(
        r#"
[[rules]]
tools = ["fs__read_*"]
roles = ["ops"]
scopes = ["files:read"]
approval = "none"

[[rules]]
tools = ["web__*"]
environment_claim = "env"
approval = "none"
"#,
    )
    .await;
    let table = s.gateway.table();
    assert!(!table.contains("warning: rules"), "{table}");
    assert!(
        table.contains("caller: role ops, scopes files:read\n"),
        "{table}"
    );
    assert!(
        table.contains("caller: claim env=every environment\n"),
        "{table}"
    );
    assert!(!table.contains("no caller above may call"), "{table}");
    // A caller of one's own: what a given token would be allowed.
    let ops = mcp_gateway::table::caller("subject=olga, role=ops, scope=files:read").unwrap();
    let table = s.gateway.table_for(&[("olga's token".to_owned(), ops)]);
    let start = table
        .find("caller: olga's token\n")
        .expect("the caller's section");
    let section: Vec<String> = table[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert!(
        section.contains(&"fs__read_file prod yes yes no".to_owned()),
        "{section:?}"
    );
    assert!(
        mcp_gateway::table::caller("rank=9")
            .unwrap_err()
            .contains("unknown key `rank`")
    );
    s.gateway.close().await;

    let s = gateway("[[rules]]\neffect = \"deny\"\ntools = [\"*\"]\n").await;
    let table = s.gateway.table();
    assert!(
        table.contains("warning: no caller above may call any tool"),
        "{table}"
    );
    s.gateway.close().await;

    // Names kept, and both upstreams serve `read_file`: left out, and said so.
    let g = fs_and_web(
        parse(&format!(
            "[gateway]\nnaming = \"kept\"\n{UPSTREAMS}\n[[rules]]\ntools = [\"*\"]\n"
        )),
        &[("read_file", true)],
        &[("read_file", true), ("fetch", true)],
    )
    .await;
    let table = g.table();
    assert!(
        table.contains("warning: tool `read_file` is served by fs and web: it is left out"),
        "{table}"
    );
    g.close().await;
}

#[tokio::test]
async fn an_upstream_tool_not_read_only_needs_approval_bound_to_each_call() {
    let s = gateway(
        r#"
[[rules]]
tools = ["fs__*"]
roles = ["admin"]
"#,
    )
    .await;
    let g = &s.gateway;
    let admin = Identity::configured("root").with_roles(["admin"]);

    // Read-only: no approval asked.
    let recorder = Recorder::new();
    let c = client_with(g, Some(admin.clone()), recorder.clone(), EraChoice::Legacy).await;
    let r = c
        .call_tool("fs__read_file", json!({"path": "a"}))
        .await
        .unwrap();
    assert_ne!(r.is_error, Some(true));
    assert!(recorder.elicitations().is_empty());

    // Declined: refused, and the upstream never sees the call.
    let recorder = Recorder::new().decline();
    let c = client_with(g, Some(admin.clone()), recorder.clone(), EraChoice::Legacy).await;
    let r = c
        .call_tool("fs__write_file", json!({"path": "a", "text": "x"}))
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    assert!(
        r.content[0].as_text().unwrap().starts_with("not approved"),
        "{r:?}"
    );
    assert_eq!(recorder.elicitations().len(), 1);
    assert!(
        !s.fs_calls
            .lock()
            .unwrap()
            .iter()
            .any(|a| a.get("text").is_some())
    );

    // Approved: runs once. The same call again, and a call with other arguments, each ask again
    // (the second is declined and does not run).
    let recorder = Recorder::new()
        .accept(json!({"approve": true}))
        .accept(json!({"approve": true}))
        .decline();
    let c = client_with(g, Some(admin.clone()), recorder.clone(), EraChoice::Legacy).await;
    let args = json!({"path": "a", "text": "x"});
    let r = c.call_tool("fs__write_file", &args).await.unwrap();
    assert_ne!(r.is_error, Some(true), "{r:?}");
    let r = c.call_tool("fs__write_file", &args).await.unwrap();
    assert_ne!(r.is_error, Some(true), "{r:?}");
    let r = c
        .call_tool("fs__write_file", json!({"path": "b", "text": "y"}))
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true), "{r:?}");
    let asked = recorder.elicitations();
    assert_eq!(asked.len(), 3);
    let ElicitRequestParams::Form(last) = &asked[2] else {
        panic!("a form: {:?}", asked[2]);
    };
    assert!(last.message.contains("fs__write_file"), "{}", last.message);
    let written: Vec<Value> = s
        .fs_calls
        .lock()
        .unwrap()
        .iter()
        .filter(|a| a.get("text").is_some())
        .cloned()
        .collect();
    assert_eq!(written, [args.clone(), args]);
    g.close().await;
}

/// `[approval]` with a webhook: it decides each call of an `out_of_band` tool (with its
/// credentials, told the tool and the arguments' summary), and the caller's user is never asked,
/// even by a client that would say yes.
#[tokio::test]
async fn a_webhook_approves_what_the_caller_cannot_approve_itself() {
    /// What the webhook was sent: its `Authorization` header and the body.
    type Asked = Vec<(Option<String>, Value)>;
    let asked: Arc<Mutex<Asked>> = Arc::default();
    let seen = asked.clone();
    let hook = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| {
                let seen = seen.clone();
                async move {
                    let auth = headers
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let mut seen = seen.lock().unwrap();
                    seen.push((auth, body));
                    axum::Json(if seen.len() == 1 {
                        json!({"approved": true})
                    } else {
                        json!({"approved": false, "reason": "not during the freeze"})
                    })
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, hook).await });
    let s = gateway(&format!(
        r#"
[[rules]]
tools = ["fs__*"]
roles = ["admin"]
approval = "out_of_band"

[approval]
webhook = "http://127.0.0.1:{port}/hook"
headers = {{ Authorization = "Bearer hook-secret" }}
timeout_secs = 10
"#
    ))
    .await;
    let g = &s.gateway;
    let admin = Identity::configured("root").with_roles(["admin"]);
    let recorder = Recorder::new().accept(json!({"approve": true}));
    let c = client_with(g, Some(admin), recorder.clone(), EraChoice::Legacy).await;

    let args = json!({"path": "a", "text": "x"});
    let r = c.call_tool("fs__write_file", &args).await.unwrap();
    assert_ne!(r.is_error, Some(true), "{r:?}");
    let r = c
        .call_tool("fs__write_file", json!({"path": "b", "text": "y"}))
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true), "{r:?}");
    let text = r.content[0].as_text().unwrap();
    assert!(text.contains("not during the freeze"), "{text}");

    assert!(recorder.elicitations().is_empty(), "the caller was asked");
    let written: Vec<Value> = s.fs_calls.lock().unwrap().clone();
    assert_eq!(written, [args], "only the approved call ran");
    let asked = asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 2);
    for (auth, body) in &asked {
        assert_eq!(auth.as_deref(), Some("Bearer hook-secret"));
        assert_eq!(body["request"]["tool"], "fs__write_file", "{body}");
        assert!(
            body["summary"].as_str().unwrap().contains("fs__write_file"),
            "{body}"
        );
    }
    g.close().await;
}

/// Without `[approval]`, an `out_of_band` rule could never be approved: the configuration says
/// so at the rule, and a webhook that is not HTTPS (off loopback) is refused before starting.
#[test]
fn an_out_of_band_rule_needs_an_approver() {
    let e = config_error(
        "[upstreams.fs]\ncommand = \"x\"\n\n[[rules]]\ntools = [\"*\"]\napproval = \"out_of_band\"\n",
    );
    assert_eq!(
        (e.line, e.key.as_deref()),
        (6, Some("rules[0].approval")),
        "{e}"
    );
    assert!(e.message.contains("none is configured"), "{e}");
    let config = Config::parse(
        "gw.toml",
        "[upstreams.fs]\ncommand = \"x\"\n[approval]\nwebhook = \"http://approvals.example/hook\"\n",
    )
    .unwrap();
    let e = mcp_gateway::validate(&config).expect_err("plain http off loopback");
    assert!(e.to_string().contains("plain http"), "{e}");
    let e = config_error(
        "[upstreams.fs]\ncommand = \"x\"\n[approval]\nterminal = true\nwebhook = \"https://a/\"\n",
    );
    assert_eq!(e.key.as_deref(), Some("approval.terminal"), "{e}");
    let e = config_error("[upstreams.fs]\ncommand = \"x\"\n[approval]\nheaders = { A = \"b\" }\n");
    assert_eq!(e.key.as_deref(), Some("approval.headers"), "{e}");
}

#[tokio::test]
async fn progress_passes_through_in_both_eras() {
    let s = gateway("[[rules]]\ntools = [\"*\"]\n").await;
    for era in [EraChoice::Legacy, EraChoice::Modern] {
        let c = client_with(&s.gateway, None, Recorder::new(), era).await;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let r = c
            .call_tool_with_progress("web__fetch", json!({}), move |p| {
                sink.lock().unwrap().push(p.clone());
            })
            .await
            .unwrap();
        assert_eq!(r.content[0].as_text().unwrap(), "fetch {}");
        let p = seen.lock().unwrap().clone();
        assert_eq!(p.len(), 1, "{era:?}: {p:?}");
        assert_eq!((p[0].progress, p[0].total), (1.0, Some(2.0)));
        assert_eq!(p[0].message.as_deref(), Some("half"));
    }
    s.gateway.close().await;
}

#[tokio::test]
async fn a_hung_or_crashed_upstream_does_not_hold_up_the_others() {
    let started = Arc::new(Notify::new());
    let calls = Arc::new(Mutex::new(Vec::new()));
    let slow = Server::new("slow", "1").tool(Hang(started.clone()));
    let crashy = upstream(&[("boom", true)], &calls);
    let ok = upstream(&[("echo", true)], &calls);
    let (crash, crashed) = tokio::sync::watch::channel(false);
    let config = parse(
        r#"
[upstreams.slow]
url = "http://127.0.0.1:9/unused"
[upstreams.crashy]
url = "http://127.0.0.1:9/unused"
[upstreams.ok]
url = "http://127.0.0.1:9/unused"

[[rules]]
tools = ["slow__*"]
timeout_ms = 300
approval = "none"

[[rules]]
tools = ["ok__*", "crashy__*"]
"#,
    );
    let memory = Arc::new(mcp_server::audit::MemorySink::default());
    let g = Gateway::builder(config)
        .transport("slow", channel(slow, alive()))
        .transport("crashy", channel(crashy, crashed))
        .transport("ok", channel(ok, alive()))
        .audit(mcp_server::audit::Audit::new().with_sink(memory.clone()))
        .start()
        .await
        .unwrap();
    let recorder = Recorder::new();
    let c = Arc::new(client_with(&g, None, recorder.clone(), EraChoice::Legacy).await);

    // A call that hangs upstream...
    let hung = tokio::spawn({
        let c = c.clone();
        async move { c.call_tool("slow__hang", json!({})).await }
    });
    tokio::time::timeout(SAFETY, started.notified())
        .await
        .unwrap();
    // ... while another upstream answers.
    let r = tokio::time::timeout(SAFETY, c.call_tool("ok__echo", json!({"n": 1})))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.content[0].as_text().unwrap(), r#"echo {"n":1}"#);
    // The hung call ends at its rule's timeout, as a tool error.
    let r = tokio::time::timeout(SAFETY, hung)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(r.is_error, Some(true));
    assert_eq!(
        r.content[0].as_text().unwrap(),
        "tool `slow__hang` timed out after 300 ms"
    );

    // An upstream that crashes: its tools leave the list (the caller is told), the others stay
    // and answer.
    assert!(listed(&c).await.contains(&"crashy__boom".to_owned()));
    crash.send(true).unwrap();
    tokio::time::timeout(SAFETY, async {
        loop {
            let told = recorder.changes().len();
            if !listed(&c).await.contains(&"crashy__boom".to_owned()) {
                break;
            }
            recorder.wait_for(|_| recorder.changes().len() > told).await;
        }
    })
    .await
    .unwrap();
    let tools = listed(&c).await;
    assert!(!tools.contains(&"crashy__boom".to_owned()), "{tools:?}");
    assert!(tools.contains(&"ok__echo".to_owned()), "{tools:?}");
    let r = c.call_tool("ok__echo", json!({"n": 2})).await.unwrap();
    assert_eq!(r.content[0].as_text().unwrap(), r#"echo {"n":2}"#);
    // The failure is audited, naming the upstream and why.
    let failed: Vec<_> = memory
        .records()
        .into_iter()
        .filter(|r| r.kind == mcp_server::audit::AuditKind::Upstream)
        .collect();
    assert!(
        failed.iter().any(|r| r.method == "upstream/failed"
            && r.item.as_deref() == Some("crashy")
            && r.reason.is_some()),
        "{failed:?}"
    );
    assert!(
        failed
            .iter()
            .filter(|r| r.method == "upstream/failed")
            .all(|r| r.item.as_deref() == Some("crashy")),
        "{failed:?}"
    );
    g.close().await;
}

fn config_error(text: &str) -> ConfigError {
    Config::parse("conf/gw.toml", text).expect_err("the configuration is refused")
}

#[test]
fn anomaly_tags_by_upstream_name_one_that_is_configured() {
    let base = "[upstreams.fs]\ncommand = \"x\"\n\n[anomaly.tags]\n";
    let e = config_error(&format!(
        "{base}egress = {{ upstreams = [\"f*\", \"web\"] }}\n"
    ));
    assert_eq!(
        (e.line, e.key.as_deref()),
        (5, Some("anomaly.tags.egress.upstreams[1]")),
        "{e}"
    );
    assert!(
        e.message
            .contains("`web` names no upstream (the upstreams: fs)"),
        "{e}"
    );
    let e = config_error(&format!("{base}egress = {{ upstream = [\"fs\"] }}\n"));
    assert_eq!(e.line, 5, "{e}");
    assert!(e.message.contains("unknown field `upstream`"), "{e}");
    let e = config_error(&format!("{base}egress = \"fs__*\"\n"));
    assert_eq!(e.line, 5, "{e}");
    assert!(
        e.message
            .contains("a list of tool name patterns, or a table with `upstreams`"),
        "{e}"
    );
    Config::parse(
        "gw.toml",
        &format!("{base}egress = {{ upstreams = [\"fs\"], tools = [\"send_*\"] }}\nsecret = [\"fs__read\"]\n"),
    )
    .expect("both forms are accepted");
}

/// `${VAR:-default}` as hosts' configurations write it: the default when the variable is unset
/// or empty, the variable otherwise; and an upstream name whose end would make a separator with
/// the separator's start is refused.
#[test]
fn variables_take_defaults_and_names_split_where_they_end() {
    let config = Config::parse(
        "gw.toml",
        "[upstreams.fs]\ncommand = \"x\"\nheaders = { A = \"${MCP_GATEWAY_TEST_UNSET_VAR:-fallback}\", B = \"${PATH:-none}\" }\n",
    )
    .expect("a variable with a default need not be set");
    assert_eq!(
        mcp_gateway::config::expand(
            "${MCP_GATEWAY_TEST_UNSET_VAR:-a b}/${MCP_GATEWAY_TEST_UNSET_VAR:-}."
        )
        .unwrap(),
        "a b/."
    );
    assert_eq!(
        mcp_gateway::config::expand("${PATH:-none}").unwrap(),
        std::env::var("PATH").unwrap()
    );
    assert_eq!(
        config.upstreams["fs"].headers["A"],
        "${MCP_GATEWAY_TEST_UNSET_VAR:-fallback}"
    );
    let e = config_error("[upstreams.fs]\ncommand = \"x\"\nheaders = { A = \"${:-x}\" }\n");
    assert!(e.message.contains("`${:-x}` is not a variable name"), "{e}");

    let e = config_error("[gateway]\nseparator = \"--\"\n[upstreams.fs-]\ncommand = \"x\"\n");
    assert_eq!(
        (e.line, e.key.as_deref()),
        (3, Some("upstreams.fs-")),
        "{e}"
    );
    assert!(e.message.contains("make another separator"), "{e}");
    Config::parse(
        "gw.toml",
        "[gateway]\nseparator = \"--\"\n[upstreams.f-s]\ncommand = \"x\"\n",
    )
    .expect("a `-` inside the name is no separator");
    let config = Config::parse(
        "gw.toml",
        "[upstreams.old]\ntype = \"sse\"\nurl = \"http://127.0.0.1:1/sse\"\n",
    )
    .expect("`sse`, as hosts name the HTTP+SSE transport, is an HTTP upstream");
    assert_eq!(config.upstreams["old"].kind.as_deref(), Some("sse"));
    let e = config_error("[upstreams.old]\ntype = \"sse\"\ncommand = \"x\"\n");
    assert!(e.message.contains("does not fit"), "{e}");

    // A separator clients would refuse in a tool name.
    for separator in [":", "/", " "] {
        let e = config_error(&format!(
            "[gateway]\nseparator = \"{separator}\"\n[upstreams.fs]\ncommand = \"x\"\n"
        ));
        assert_eq!(e.key.as_deref(), Some("gateway.separator"), "{e}");
        assert!(e.message.contains("not a character of tool names"), "{e}");
    }
}

/// The example configurations of the repository load (their variables given a value) and pass
/// `validate`, as `check --offline` would with their environment set.
#[test]
fn the_example_configurations_are_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/gateway");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let mut text = std::fs::read_to_string(&path).unwrap();
        // Each `${NAME}` (no default) as a value the file could be given.
        while let Some(start) = text.find("${") {
            let end = start + text[start..].find('}').unwrap();
            let inner = &text[start + 2..end];
            let value = match inner.split_once(":-") {
                Some((_, default)) => default.to_owned(),
                None => format!("https://value-of-{}", inner.to_lowercase()),
            };
            text.replace_range(start..=end, &value);
        }
        let config = Config::parse(&path, &text).unwrap_or_else(|e| panic!("{e}"));
        mcp_gateway::validate(&config).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        seen += 1;
    }
    assert!(seen >= 4, "{seen} configurations in {}", dir.display());
}

/// Rules that would silently do nothing are refused: a pattern written as a regular expression
/// (as other gateways take them), and an approval on a rule that matches no tool.
#[test]
fn rules_that_would_match_nothing_or_approve_nothing_are_refused() {
    let base = "[upstreams.fs]\ncommand = \"x\"\n\n[[rules]]\n";
    let e = config_error(&format!("{base}tools = [\"fs__read\", \"^fs__.*$\"]\n"));
    assert_eq!(
        (e.line, e.key.as_deref()),
        (5, Some("rules[0].tools[1]")),
        "{e}"
    );
    assert!(e.message.contains("looks like a regular expression"), "{e}");
    let e = config_error(&format!("{base}prompts = [\"fs__.*$\"]\n"));
    assert_eq!(e.key.as_deref(), Some("rules[0].prompts[0]"), "{e}");
    let e = config_error(&format!(
        "{base}resources = [\"fs+file:///*\"]\napproval = \"required\"\n"
    ));
    assert_eq!(
        (e.line, e.key.as_deref()),
        (6, Some("rules[0].approval")),
        "{e}"
    );
    assert!(e.message.contains("no `tools` patterns"), "{e}");
    Config::parse(
        "gw.toml",
        &format!("{base}resources = [\"fs+file:///*\"]\napproval = \"none\"\n"),
    )
    .expect("`none` asks nothing");
}

#[test]
fn config_errors_name_the_file_the_line_and_the_key() {
    let e = config_error(
        "[upstreams.fs]\ncommand = \"mcp-fs\"\nargz = [\"-v\"]\n\n[[rules]]\ntools = [\"*\"]\n",
    );
    assert_eq!(
        (e.file.to_str(), e.line, e.key.as_deref()),
        (Some("conf/gw.toml"), 3, Some("upstreams.fs.argz")),
        "{e}"
    );
    assert!(e.message.starts_with("unknown field `argz`"), "{e}");
    assert!(
        e.to_string()
            .starts_with("conf/gw.toml:3:1: `upstreams.fs.argz`: unknown field `argz`"),
        "{e}"
    );

    let e = config_error(
        "[upstreams.fs]\ncommand = \"mcp-fs\"\n\n[[rules]]\ntools = [\"*\"]\n\n[[rules]]\ntools = [\"fs__*\", \"fs__[a\"]\n",
    );
    assert_eq!(
        (e.line, e.key.as_deref()),
        (8, Some("rules[1].tools[1]")),
        "{e}"
    );
    assert!(e.message.starts_with("bad pattern `fs__[a`"), "{e}");

    // Roots are `file://` URIs; a path gets the URI to write.
    let e =
        config_error("[upstreams.fs]\ncommand = \"x\"\nroots = [\"file:///srv\", \"/srv/data\"]\n");
    assert_eq!(
        (e.line, e.key.as_deref()),
        (3, Some("upstreams.fs.roots[1]")),
        "{e}"
    );
    assert_eq!(
        e.message,
        "`/srv/data` is not a `file://` URI: write `file:///srv/data`"
    );

    // An upstream pattern that names no upstream would make its rule match nothing.
    let e = config_error(
        "[upstreams.fs]\ncommand = \"x\"\n\n[[rules]]\nupstreams = [\"fs\", \"fss\"]\ntools = [\"*\"]\n",
    );
    assert_eq!(
        (e.line, e.key.as_deref()),
        (5, Some("rules[0].upstreams[1]")),
        "{e}"
    );
    assert_eq!(e.message, "`fss` names no upstream (the upstreams: fs)");
    let e = config_error(
        "[upstreams.fs]\ncommand = \"x\"\n\n[[rules]]\nupstreams = [\"f[s\"]\ntools = [\"*\"]\n",
    );
    assert_eq!(
        (e.line, e.key.as_deref()),
        (5, Some("rules[0].upstreams[0]")),
        "{e}"
    );
    assert!(e.message.starts_with("bad pattern `f[s`"), "{e}");

    let e = config_error(
        "[upstreams.fs]\ncommand = \"x\"\n\n[[rules]]\ntools = [\"*\"]\nrate_limit = \"5/fortnight\"\n",
    );
    assert_eq!(
        (e.line, e.key.as_deref()),
        (6, Some("rules[0].rate_limit")),
        "{e}"
    );

    let e = config_error("[upstreams.fs]\ncommand = \"x\"\nurl = \"http://a/mcp\"\n");
    assert_eq!(
        (e.line, e.key.as_deref()),
        (3, Some("upstreams.fs.url")),
        "{e}"
    );
    assert_eq!(e.message, "give either `command` or `url`, not both");

    let e = config_error(
        "[upstreams.fs]\ncommand = \"x\"\n[[rules]]\neffect = \"maybe\"\ntools = [\"*\"]\n",
    );
    assert_eq!(
        (e.line, e.key.as_deref()),
        (4, Some("rules[0].effect")),
        "{e}"
    );
    assert!(e.message.contains("unknown variant `maybe`"), "{e}");

    let e = config_error(
        "[upstreams.fs]\ncommand = \"x\"\nheaders = { Authorization = \"Bearer ${MCP_GATEWAY_TEST_UNSET_VAR}\" }\n",
    );
    assert_eq!(
        (e.line, e.key.as_deref()),
        (3, Some("upstreams.fs.headers.Authorization")),
        "{e}"
    );
    assert_eq!(
        e.message,
        "the environment variable `MCP_GATEWAY_TEST_UNSET_VAR` is not set"
    );

    let e = config_error(
        "[upstreams.fs]\ncommand = \"x\"\ninherit_env = [\"PATH\",\n  \"AWS_*_KEY\"]\n",
    );
    assert_eq!(
        (e.line, e.key.as_deref()),
        (4, Some("upstreams.fs.inherit_env[1]")),
        "{e}"
    );
    assert!(e.message.contains("is not a variable name"), "{e}");

    let e = config_error("[upstreams.web]\nurl = \"http://a/mcp\"\ninherit_env = [\"*\"]\n");
    assert_eq!(
        (e.line, e.key.as_deref()),
        (3, Some("upstreams.web.inherit_env")),
        "{e}"
    );

    let e = config_error(
        "[upstreams.fs]\ncommand = \"x\"\noauth = { client_id = \"g\", issuer = \"https://a\" }\n",
    );
    assert_eq!(
        (e.line, e.key.as_deref()),
        (3, Some("upstreams.fs.oauth")),
        "{e}"
    );
    let e = config_error(
        "[upstreams.web]\nurl = \"http://a/mcp\"\n[upstreams.web.oauth]\nclient_id = \"g\"\nissuer = \"auth.example\"\n",
    );
    assert_eq!(
        (e.line, e.key.as_deref()),
        (5, Some("upstreams.web.oauth.issuer")),
        "{e}"
    );

    let e = config_error(
        "[upstreams.fs]\ncommand = \"x\"\n[front.tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\nclient_roles = { bot = [\"admin\"] }\n",
    );
    assert_eq!(
        (e.line, e.key.as_deref()),
        (6, Some("front.tls.client_roles")),
        "{e}"
    );

    let e = config_error("[upstreams.fs\ncommand = \"x\"\n");
    assert_eq!((e.line, e.key.as_deref()), (1, None), "{e}");

    // A good configuration is still accepted.
    let ok = Config::parse(
        "conf/gw.toml",
        "[upstreams.fs]\ncommand = \"x\"\n[[rules]]\ntools = [\"*\"]\n",
    )
    .unwrap();
    assert_eq!(ok.rules.len(), 1);
}

#[tokio::test]
async fn the_callers_token_never_reaches_an_upstream() {
    use mcp_server::http::auth::testing::TestAuthServer;
    use mcp_server::http::{HttpConfig, McpService};

    // An HTTP upstream that records the headers of every request it receives.
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen: Arc<Mutex<Vec<axum::http::HeaderMap>>> = Arc::default();
    let record = seen.clone();
    let upstream_router = McpService::new(upstream(&[("whoami", true)], &calls), HttpConfig::new())
        .router()
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                record.lock().unwrap().push(req.headers().clone());
                next.run(req)
            },
        ));
    let upstream_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_url = format!("http://{}/mcp", upstream_listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(upstream_listener, upstream_router).await });

    // The gateway's front checks bearer tokens from a local authorization server.
    let authz = TestAuthServer::start().await.unwrap();
    let front_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front_url = format!("http://{}/mcp", front_listener.local_addr().unwrap());
    let config = parse(&format!(
        r#"
[front.oauth]
resource = "{front_url}"
issuer = "{}"
jwks_url = "{}"

[upstreams.api]
url = "{upstream_url}"
headers = {{ X-Upstream-Key = "Key ${{CARGO_PKG_NAME}}" }}

[[rules]]
tools = ["*"]
"#,
        authz.issuer(),
        authz.jwks_url()
    ));
    let http = mcp_gateway::http_config(&config).unwrap();
    let g = Gateway::start(config).await.unwrap();
    let front = g.server().clone();
    tokio::spawn(async move {
        mcp_server::http::serve(front, http, front_listener, std::future::pending()).await
    });

    let token = authz.access_token(&front_url, "alice", &[]);
    let c = Client::builder()
        .connect_http(
            mcp_client::HttpServer::new(front_url.clone())
                .header("Authorization", format!("Bearer {token}")),
        )
        .await
        .unwrap();
    let r = c.call_tool("whoami", json!({"q": 1})).await.unwrap();
    assert_eq!(r.content[0].as_text().unwrap(), r#"whoami {"q":1}"#);
    assert_eq!(*calls.lock().unwrap(), [json!({"q": 1})]);

    // Without a token the front refuses, and nothing more reaches the upstream.
    let before = seen.lock().unwrap().len();
    let anonymous = Client::builder()
        .connect_http(mcp_client::HttpServer::new(front_url))
        .await;
    assert!(
        matches!(anonymous, Err(mcp_client::Error::Http { status: 401, .. })),
        "{anonymous:?}"
    );
    assert_eq!(seen.lock().unwrap().len(), before);

    let seen = seen.lock().unwrap().clone();
    assert!(!seen.is_empty());
    let key = format!("Key {}", env!("CARGO_PKG_NAME"));
    for headers in seen.iter() {
        assert!(headers.get("authorization").is_none(), "{headers:?}");
        assert_eq!(headers.get("x-upstream-key").unwrap(), key.as_str());
        for (name, value) in headers {
            let value = String::from_utf8_lossy(value.as_bytes());
            assert!(!value.contains(&token), "{name}: {value}");
        }
    }
    g.close().await;
}

#[tokio::test]
async fn a_reload_swaps_the_rules_keeps_the_connection_and_refuses_a_changed_upstream() {
    let s = gateway("[[rules]]\ntools = [\"web__*\"]\napproval = \"none\"\n").await;
    let g = &s.gateway;
    let recorder = Recorder::new();
    let c = client_with(g, None, recorder.clone(), EraChoice::Legacy).await;
    assert_eq!(listed(&c).await, ["web__fetch"]);

    // New rules: the same connection lists and calls by them, and is told the lists changed.
    let told = recorder.changes().len();
    let new = parse(&format!(
        "{UPSTREAMS}\n[[rules]]\ntools = [\"fs__read_*\"]\napproval = \"none\"\n"
    ));
    g.reload(new).unwrap();
    tokio::time::timeout(
        SAFETY,
        recorder.wait_for(|_| recorder.changes().len() > told),
    )
    .await
    .unwrap();
    assert_eq!(listed_is_callable(&c).await, ["fs__read_file"]);

    // A configuration whose upstreams differ in how they are reached is refused (any one
    // setting of the entry, not applied without a restart); the rules in force stay.
    for changed in [
        "timeout_secs = 5",
        "era = \"legacy\"",
        "max_messages_per_second = 10",
        "connect_timeout_secs = 3",
        "headers = { X-Key = \"k\" }",
    ] {
        let moved = parse(&format!(
            "{}\n[[rules]]\ntools = [\"*\"]\n",
            UPSTREAMS.replace(
                "environment = \"prod\"",
                &format!("environment = \"prod\"\n{changed}")
            )
        ));
        let refused = g.reload(moved).expect_err(changed);
        assert_eq!(
            refused.to_string(),
            "the upstreams or their naming changed: restart the gateway to apply that"
        );
    }
    let refronted = parse(&format!(
        "{UPSTREAMS}\n[front]\nidentity = {{ subject = \"ops\" }}\n[[rules]]\ntools = [\"*\"]\n"
    ));
    assert!(
        g.reload(refronted)
            .unwrap_err()
            .to_string()
            .starts_with("the front"),
    );
    assert_eq!(listed_is_callable(&c).await, ["fs__read_file"]);
    // The environment label alone is applied.
    let relabelled = parse(&format!(
        "{}\n[[rules]]\ntools = [\"fs__read_*\"]\napproval = \"none\"\n",
        UPSTREAMS.replace("environment = \"prod\"", "environment = \"test\"")
    ));
    g.reload(relabelled).unwrap();
    g.close().await;
}

/// A reload (SIGHUP, which log rotation sends too) keeps the rate buckets of a rule configured
/// as before, wherever it now stands; a rule whose limit changed starts afresh.
#[tokio::test]
async fn a_reload_keeps_what_an_unchanged_rule_has_counted() {
    const LIMITED: &str =
        "[[rules]]\ntools = [\"web__*\"]\napproval = \"none\"\nrate_limit = \"2/min\"\n";
    let s = gateway(LIMITED).await;
    let g = &s.gateway;
    let c = client(g, None).await;
    let limited = |r: Option<String>| r.as_deref() == Some("rate_limited");
    let refused = |c: &Client| {
        let c = c.clone();
        async move {
            match c.call_tool("web__fetch", json!({})).await {
                Ok(r) => {
                    assert_ne!(r.is_error, Some(true), "{r:?}");
                    None
                }
                Err(mcp_client::Error::Server(e)) => {
                    Some(e.data.unwrap()["reason"].as_str().unwrap().to_owned())
                }
                Err(e) => panic!("{e}"),
            }
        }
    };
    assert_eq!(refused(&c).await, None);
    assert_eq!(refused(&c).await, None);
    assert!(limited(refused(&c).await));

    // The same rule after a new one: still spent.
    g.reload(parse(&format!(
        "{UPSTREAMS}\n[[rules]]\ntools = [\"fs__read_*\"]\napproval = \"none\"\n{LIMITED}"
    )))
    .unwrap();
    assert!(limited(refused(&c).await), "the bucket was refilled");

    // Another limit: a rule of its own.
    g.reload(parse(&format!(
        "{UPSTREAMS}\n{}",
        LIMITED.replace("2/min", "3/min")
    )))
    .unwrap();
    assert_eq!(refused(&c).await, None);
    g.close().await;
}

/// A rule's limits apply before a call is held for approval: nobody is asked to approve a call
/// the limits then refuse.
#[tokio::test]
async fn limits_refuse_a_call_before_anyone_is_asked_to_approve_it() {
    let s = gateway(
        "[[rules]]\ntools = [\"fs__*\"]\nrate_limit = \"1/min\"\nmax_argument_bytes = 64\n",
    )
    .await;
    let recorder = Recorder::new()
        .accept(json!({"approve": true}))
        .accept(json!({"approve": true}));
    let c = client_with(&s.gateway, None, recorder.clone(), EraChoice::Legacy).await;
    let r = c
        .call_tool("fs__write_file", json!({"path": "a"}))
        .await
        .unwrap();
    assert_ne!(r.is_error, Some(true), "{r:?}");
    assert_eq!(recorder.elicitations().len(), 1);
    // Too large, then too soon: refused, and not asked.
    let e = c
        .call_tool("fs__write_file", json!({"text": "x".repeat(100)}))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("exceed 64 bytes"), "{e}");
    let e = c
        .call_tool("fs__write_file", json!({"path": "b"}))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("too many calls"), "{e}");
    assert_eq!(recorder.elicitations().len(), 1, "asked for a refused call");
    s.gateway.close().await;
}

/// A call a rule's limit refuses is a decision record that says which limit.
#[tokio::test]
async fn a_call_a_limit_refuses_is_audited_with_the_limit() {
    use mcp_server::audit::{Audit, AuditKind, Decision, MemorySink};
    let memory = Arc::new(MemorySink::default());
    let calls = Arc::new(Mutex::new(Vec::new()));
    let config = parse(&format!(
        "{UPSTREAMS}\n[[rules]]\ntools = [\"*\"]\napproval = \"none\"\nrate_limit = \"1/min\"\nmax_argument_bytes = 64\n"
    ));
    let g = Gateway::builder(config)
        .transport(
            "fs",
            channel(upstream(&[("read_file", true)], &calls), alive()),
        )
        .transport(
            "web",
            channel(upstream(&[("fetch", true)], &calls), alive()),
        )
        .audit(Audit::new().with_sink(memory.clone()))
        .start()
        .await
        .unwrap();
    let c = client(&g, Some(Identity::configured("alice"))).await;
    c.call_tool("web__fetch", json!({})).await.unwrap();
    memory.take();
    let denials = |memory: &MemorySink| -> Vec<(String, String)> {
        memory
            .take()
            .into_iter()
            .filter(|r| r.kind == AuditKind::Decision && r.decision == Some(Decision::Deny))
            .map(|r| (r.item.unwrap_or_default(), r.reason.unwrap_or_default()))
            .collect()
    };
    assert!(c.call_tool("web__fetch", json!({})).await.is_err());
    assert_eq!(
        denials(&memory),
        [("web__fetch".to_owned(), "rate_limited".to_owned())]
    );
    let big = json!({"text": "x".repeat(100)});
    assert!(c.call_tool("fs__read_file", &big).await.is_err());
    assert_eq!(
        denials(&memory),
        [("fs__read_file".to_owned(), "arguments_too_large".to_owned())]
    );
    g.close().await;
}

#[tokio::test]
async fn anomaly_flags_hold_or_deny_a_call_and_are_audited() {
    use mcp_server::audit::{Audit, AuditKind, Decision, MemorySink};
    let memory = Arc::new(MemorySink::default());
    let calls = Arc::new(Mutex::new(Vec::new()));
    let fs = upstream(&[("read_file", true), ("write_file", false)], &calls);
    let web = upstream(&[("fetch", true)], &calls);
    let config = parse(&format!(
        r#"{UPSTREAMS}
[[rules]]
tools = ["*"]
approval = "none"

[anomaly]
first_destructive_action = "approval"

[anomaly.tags]
secret = ["fs__read_*"]
egress = {{ upstreams = ["web"] }}   # every tool of `web`, by upstream

[[anomaly.sequences]]
first = "secret"
then = "egress"
within_secs = 600
action = "deny"
"#
    ));
    let g = Gateway::builder(config)
        .transport("fs", channel(fs, alive()))
        .transport("web", channel(web, alive()))
        .audit(Audit::new().with_sink(memory.clone()))
        .start()
        .await
        .unwrap();
    let recorder = Recorder::new().decline();
    let alice = Identity::configured("alice");
    let c = client_with(&g, Some(alice), recorder.clone(), EraChoice::Legacy).await;

    // The first call of a destructive tool waits for approval (declined here); the next does not.
    let r = c
        .call_tool("fs__write_file", json!({"n": 1}))
        .await
        .unwrap();
    assert_eq!(r.is_error, Some(true), "{r:?}");
    assert!(r.content[0].as_text().unwrap().starts_with("not approved"));
    let r = c
        .call_tool("fs__write_file", json!({"n": 2}))
        .await
        .unwrap();
    assert_eq!(r.content[0].as_text().unwrap(), r#"write_file {"n":2}"#);
    assert_eq!(recorder.elicitations().len(), 1);

    // Egress alone is fine; a secret, then egress, is denied.
    assert_eq!(refusal(&c, "web__fetch").await, None);
    assert_eq!(refusal(&c, "fs__read_file").await, None);
    let e = c.call_tool("web__fetch", json!({})).await.unwrap_err();
    let mcp_client::Error::Server(e) = e else {
        panic!("{e}")
    };
    assert_eq!(e.code, ErrorCode(-32003));
    assert_eq!(e.data.unwrap()["reason"], "anomaly_sequence");
    // The tool is still listed: flags decide calls, never lists.
    assert!(listed(&c).await.contains(&"web__fetch".to_owned()));

    let flags: Vec<(String, Option<Decision>, String)> = memory
        .records()
        .into_iter()
        .filter(|r| r.kind == AuditKind::Decision)
        .filter(|r| {
            r.reason
                .as_deref()
                .is_some_and(|x| x.starts_with("anomaly_"))
        })
        .map(|r| (r.item.unwrap(), r.decision, r.reason.unwrap()))
        .collect();
    assert_eq!(
        flags,
        [
            (
                "fs__write_file".to_owned(),
                Some(Decision::Allow),
                "anomaly_first_destructive".to_owned()
            ),
            (
                "web__fetch".to_owned(),
                Some(Decision::Deny),
                "anomaly_sequence".to_owned()
            ),
            // The server's own record of the refusal, with the flag as its reason.
            (
                "web__fetch".to_owned(),
                Some(Decision::Deny),
                "anomaly_sequence".to_owned()
            ),
        ]
    );
    g.close().await;
}

/// The `test-upstream` example (a stdio server written for one user), built if missing.
fn test_upstream() -> std::path::PathBuf {
    // The test executable is `<target>/<profile>/deps/main-…`; examples are next to `deps`.
    let exe = std::env::current_exe().expect("the test executable");
    let profile = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("a target directory");
    let bin = profile
        .join("examples")
        .join(format!("test-upstream{}", std::env::consts::EXE_SUFFIX));
    if !bin.exists() {
        // `cargo test` builds the examples; `cargo test --test main` does not.
        let mut cargo = std::process::Command::new(env!("CARGO"));
        cargo.args(["build", "-p", "mcp-gateway", "--example", "test-upstream"]);
        if profile.ends_with("release") {
            cargo.arg("--release");
        }
        let status = cargo
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "the example builds");
        assert!(bin.exists(), "the example is at {}", bin.display());
    }
    bin
}

/// The text of a tool result's first block.
fn first_text(r: &CallToolResult) -> String {
    r.content[0].as_text().expect("a text block").to_owned()
}

/// The text a tool call answers.
async fn text_of(c: &Client, tool: &str, arguments: Value) -> String {
    first_text(&c.call_tool(tool, arguments).await.unwrap())
}

/// The process id a `pid` tool answers.
async fn pid(c: &Client) -> u32 {
    text_of(c, "mem__pid", json!({}))
        .await
        .parse()
        .expect("a process id")
}

#[tokio::test]
async fn upstream_results_are_filtered_by_the_configured_rules_and_audited_without_values() {
    use mcp_server::audit::{Audit, AuditKind, Decision, MemorySink};
    let bin = test_upstream();
    let text = format!(
        r#"
[gateway]
naming = "prefixed"

[upstreams.keys]
command = {bin:?}
environment = "prod"

[[rules]]
tools = ["*"]
resources = ["*"]
approval = "none"

[[filters]]
name = "secrets"
detector = "secrets"
action = "redact"

[[filters]]
name = "email"
detector = "email"
action = "redact"
tools = ["keys__*"]
resources = ["keys+*"]
except_roles = ["owner"]
except_scopes = ["pii:read"]

[[filters]]
name = "region"
regex = 'eu-west-\d'
action = "redact"
environments = ["staging"]

[[filters]]
name = "memo-call"
regex = 'call'
action = "redact"
resources = ["keys+memo://*"]
environments = ["prod"]
"#,
        bin = bin.to_str().unwrap()
    );
    let config = parse(&text);
    let memory = Arc::new(MemorySink::default());
    let g = Gateway::builder(config)
        .audit(Audit::new().with_sink(memory.clone()))
        .start()
        .await
        .unwrap();
    let alice = client(&g, Some(Identity::configured("alice"))).await;
    let r = alice.call_tool("keys__secrets", json!({})).await.unwrap();
    // The region rule is for staging; this upstream is prod.
    assert_eq!(
        first_text(&r),
        "deploy key [redacted:secrets.aws_access_key_id], owner [redacted:email], region eu-west-1"
    );
    // A caller with the excepted role sees the email, never the key.
    let owner = client(&g, Some(Identity::configured("olga").with_roles(["owner"]))).await;
    let r = owner.call_tool("keys__secrets", json!({})).await.unwrap();
    assert_eq!(
        first_text(&r),
        "deploy key [redacted:secrets.aws_access_key_id], owner ann@example.com, region eu-west-1"
    );
    // So does one granted the excepted scope.
    let reader = client(
        &g,
        Some(Identity::configured("pia").with_scopes(["pii:read"])),
    )
    .await;
    let r = reader.call_tool("keys__secrets", json!({})).await.unwrap();
    assert_eq!(
        first_text(&r),
        "deploy key [redacted:secrets.aws_access_key_id], owner ann@example.com, region eu-west-1"
    );

    // Resources too, by their namespaced URI and their upstream's environment (prod here).
    let contents = alice.read_resource("keys+memo://today").await.unwrap();
    let ResourceContents::Text(memo) = &contents[0] else {
        panic!("a text: {contents:?}")
    };
    assert_eq!(
        memo.text,
        "[redacted:memo-call] [redacted:email] about the rollout"
    );

    let records: Vec<_> = memory
        .records()
        .into_iter()
        .filter(|r| r.kind == AuditKind::Filter)
        .collect();
    type Fired = (Option<String>, Option<Decision>, Vec<(String, u64)>);
    let fired: Vec<Fired> = records
        .iter()
        .map(|r| {
            (
                r.item.clone(),
                r.decision,
                r.filters.clone().unwrap_or_default().into_iter().collect(),
            )
        })
        .collect();
    assert_eq!(
        fired,
        [
            (
                Some("keys__secrets".to_owned()),
                Some(Decision::Allow),
                vec![
                    ("email".to_owned(), 1),
                    ("secrets.aws_access_key_id".to_owned(), 1)
                ]
            ),
            (
                Some("keys__secrets".to_owned()),
                Some(Decision::Allow),
                vec![("secrets.aws_access_key_id".to_owned(), 1)]
            ),
            (
                Some("keys__secrets".to_owned()),
                Some(Decision::Allow),
                vec![("secrets.aws_access_key_id".to_owned(), 1)]
            ),
            (
                Some("keys+memo://today".to_owned()),
                Some(Decision::Allow),
                vec![("email".to_owned(), 1), ("memo-call".to_owned(), 1)]
            ),
        ]
    );
    for r in &records {
        let line = r.to_canonical_json();
        assert!(
            !line.contains("AKIA") && !line.contains("ann@"),
            "no value in the audit record: {line}"
        );
    }

    // Filters are compiled into the front server: a reload that changes them is refused.
    let changed = parse(&text.replace("eu-west", "us-east"));
    match g.reload(changed) {
        Err(e) => assert_eq!(
            e.to_string(),
            "the filters changed: restart the gateway to apply them"
        ),
        Ok(()) => panic!("a reload with other filters is refused"),
    }
    assert!(g.reload(parse(&text)).is_ok(), "the same filters reload");
    g.close().await;
}

#[test]
fn filter_rules_that_do_not_compile_name_the_file_the_line_and_the_key() {
    let base = "[upstreams.fs]\ncommand = \"x\"\n\n[[rules]]\ntools = [\"*\"]\n\n";
    let cases: [(&str, usize, &str, &str); 10] = [
        (
            "[[filters]]\nname = \"a\"\nregex = \"(unclosed\"\naction = \"redact\"\n",
            9,
            "filters[0].regex",
            "the pattern does not compile",
        ),
        (
            "[[filters]]\nname = \"a\"\ndetector = \"aws_keys\"\naction = \"redact\"\n",
            9,
            "filters[0].detector",
            "unknown detector `aws_keys`",
        ),
        (
            "[[filters]]\nname = \"a\"\ndetector = \"email\"\naction = \"truncate\"\n",
            10,
            "filters[0].action",
            "`truncate` needs a size cap",
        ),
        (
            "[[filters]]\nname = \"a\"\nregex = \"(action\"\naction = \"redact\"\n",
            9,
            "filters[0].regex",
            "the pattern does not compile",
        ),
        (
            "[[filters]]\nname = \"cap\"\nmax_bytes = 0\naction = \"truncate\"\n",
            9,
            "filters[0].max_bytes",
            "the size cap is 0 bytes",
        ),
        (
            "[[filters]]\nname = \"cap\"\nmax_bytes = 10\naction = \"redact\"\n",
            10,
            "filters[0].action",
            "a size cap's action is `truncate` or `block`",
        ),
        (
            "[[filters]]\nname = \"a\"\ndetector = \"email\"\naction = \"redact\"\ntools = [\"fs__*\", \"fs__[a\"]\n",
            11,
            "filters[0].tools[1]",
            "the glob `fs__[a` does not compile",
        ),
        (
            "[[filters]]\nname = \"a\"\ndetector = \"email\"\naction = \"redact\"\n\n[[filters]]\nname = \"b\"\npointer = \"debug\"\naction = \"drop\"\n",
            14,
            "filters[1].pointer",
            "does not start with `/`",
        ),
        (
            "[[filters]]\nname = \"a\"\ndetector = \"email\"\naction = \"redact\"\ntool = [\"x\"]\n",
            11,
            "filters[0].tool",
            "unknown field `tool`",
        ),
        (
            "[[filters]]\nname = \"a\"\ndetector = \"email\"\naction = \"redact\"\nupstreams = [\"f*\", \"web\"]\n",
            11,
            "filters[0].upstreams[1]",
            "`web` names no upstream (the upstreams: fs)",
        ),
    ];
    for (filters, line, key, message) in cases {
        let e = config_error(&format!("{base}{filters}"));
        assert_eq!(
            (e.file.to_str(), e.line, e.key.as_deref()),
            (Some("conf/gw.toml"), line, Some(key)),
            "{e}"
        );
        assert!(e.message.contains(message), "{e}");
    }
    let e =
        config_error("[upstreams.web]\nurl = \"http://a/mcp\"\ninstances = \"per_principal\"\n");
    assert_eq!(
        (e.line, e.key.as_deref()),
        (3, Some("upstreams.web.instances")),
        "{e}"
    );
    let e = config_error("[upstreams.fs]\ncommand = \"x\"\nmax_instances = 3\n");
    assert_eq!(
        (e.line, e.key.as_deref()),
        (3, Some("upstreams.fs.max_instances")),
        "{e}"
    );
}

#[tokio::test]
async fn each_principal_gets_its_own_upstream_process_up_to_the_cap_and_idle_ones_stop() {
    use mcp_server::audit::{Audit, AuditKind, Decision, MemorySink};
    let bin = test_upstream();
    let config = parse(&format!(
        r#"
[upstreams.mem]
command = {bin:?}
instances = "per_principal"
idle_timeout_secs = 60
max_instances = 2

[upstreams.other]
command = {bin:?}

[[rules]]
tools = ["*"]
resources = ["*"]
approval = "none"
"#,
        bin = bin.to_str().unwrap()
    ));
    let memory = Arc::new(MemorySink::default());
    let g = Gateway::builder(config)
        .audit(Audit::new().with_sink(memory.clone()))
        .start()
        .await
        .unwrap();
    let alice = client(&g, Some(Identity::configured("alice"))).await;
    let bob = client(&g, Some(Identity::configured("bob"))).await;
    // The lists come from the shared instance; no principal's instance runs yet.
    assert!(listed(&alice).await.contains(&"mem__recall".to_owned()));
    assert_eq!(g.instances().get("mem"), Some(&0));

    // Two sessions of one principal, calling at once: one process is started for both.
    let alice_again = client(&g, Some(Identity::configured("alice"))).await;
    let (a, a_again) = tokio::join!(pid(&alice), pid(&alice_again));
    assert_eq!(a, a_again);
    assert_eq!(g.instances().get("mem"), Some(&1));
    let b = pid(&bob).await;
    assert_ne!(a, b, "two principals, two processes");
    assert_eq!(pid(&alice).await, a, "a principal keeps its process");
    // Reads go to the caller's own process too.
    let contents = bob.read_resource("mem+pid://self").await.unwrap();
    let ResourceContents::Text(read) = &contents[0] else {
        panic!("a text: {contents:?}")
    };
    assert_eq!(read.text, b.to_string());
    assert_eq!(g.instances().get("mem"), Some(&2));
    // A shared upstream is one process for everyone.
    assert_eq!(
        text_of(&alice, "other__pid", json!({})).await,
        text_of(&bob, "other__pid", json!({})).await
    );

    // What one principal stores, the other does not see.
    let r = alice
        .call_tool("mem__remember", json!({"value": "alice's note"}))
        .await
        .unwrap();
    assert_eq!(first_text(&r), "remembered");
    assert_eq!(text_of(&bob, "mem__recall", json!({})).await, "(nothing)");
    assert_eq!(
        text_of(&alice, "mem__recall", json!({})).await,
        "alice's note"
    );

    // A caller without an identity has no instance of its own.
    let anonymous = client(&g, None).await;
    let r = anonymous.call_tool("mem__pid", json!({})).await.unwrap();
    assert_eq!(r.is_error, Some(true), "{r:?}");
    assert_eq!(
        first_text(&r),
        "upstream `mem` runs one instance per principal: the caller has no identity"
    );

    // The same subject from another issuer is another principal: at the cap, it is refused
    // at once with a clear error, and audited.
    let carol = client(
        &g,
        Some(Identity::configured("alice").with_issuer("https://other.example")),
    )
    .await;
    let r = carol.call_tool("mem__pid", json!({})).await.unwrap();
    assert_eq!(r.is_error, Some(true), "{r:?}");
    assert_eq!(
        first_text(&r),
        "upstream `mem` runs one instance per principal and all 2 are in use: try again later"
    );
    let limited: Vec<_> = memory
        .records()
        .into_iter()
        .filter(|r| r.kind == AuditKind::Decision && r.reason.as_deref() == Some("instance_limit"))
        .map(|r| (r.item, r.decision))
        .collect();
    assert_eq!(
        limited,
        [(Some("mem__pid".to_owned()), Some(Decision::Deny))]
    );
    assert_eq!(g.instances().get("mem"), Some(&2));

    // Idle instances stop after the idle timeout (on tokio's clock, paused here: no waiting).
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(61)).await;
    for _ in 0..1000 {
        if g.instances().get("mem") == Some(&0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(g.instances().get("mem"), Some(&0));
    tokio::time::resume();

    // Room again: the third principal gets a process of its own; alice gets a new one, and
    // what her old one held went with it.
    let c = pid(&carol).await;
    assert!(c != a && c != b, "{c} is a new process");
    assert_eq!(text_of(&alice, "mem__recall", json!({})).await, "(nothing)");
    assert_ne!(pid(&alice).await, a);
    g.close().await;
}

// ---------------------------------------------------------------------------------------------
// The tasks extension through the gateway: a call the upstream runs as a task becomes a task of
// the front, owned by its caller, whose status, input requests, result and cancellation follow
// the upstream's task.

/// Runs as a task when it can: waits until the test opens `gate` (or, with `"now": true`, not
/// at all), then reports; with `"ask": true` it first asks to confirm, under the key `confirm`.
/// Tells `cancelled` when its run is dropped before the end.
struct Job {
    gate: Arc<tokio::sync::Semaphore>,
    started: Arc<Notify>,
    cancelled: Arc<Notify>,
}

/// Notifies when dropped unless disarmed: a run that never reached its end.
struct Unfinished(Option<Arc<Notify>>);

impl Drop for Unfinished {
    fn drop(&mut self) {
        if let Some(n) = self.0.take() {
            n.notify_one();
        }
    }
}

impl ToolHandler for Job {
    fn definition(&self) -> Tool {
        let mut t = Tool::new("job", schema());
        t.execution = Some(ToolExecution {
            task_support: Some(TaskSupport::Optional),
        });
        t
    }
    async fn call(&self, cx: Context, args: JsonObject) -> mcp_server::Result<CallToolResult> {
        let mut unfinished = Unfinished(Some(self.cancelled.clone()));
        self.started.notify_one();
        let confirmed = if args.get("ask") == Some(&json!(true)) {
            let schema = serde_json::from_value(json!({
                "type": "object",
                "properties": {"ok": {"type": "boolean"}},
                "required": ["ok"]
            }))
            .unwrap();
            let asking = cx.keyed("confirm").elicit_with("Go on?", schema);
            let answer = if args.get("impatient") == Some(&json!(true)) {
                // Gives up when the gate opens first.
                tokio::select! {
                    answer = asking => answer?,
                    _permit = self.gate.acquire() => {
                        unfinished.0 = None;
                        return Ok(CallToolResult::success(vec![ContentBlock::text("gave up")]));
                    }
                }
            } else {
                asking.await?
            };
            format!(
                " confirmed {}",
                Value::Object(answer.content.unwrap_or_default())
            )
        } else {
            String::new()
        };
        if args.get("fail") == Some(&json!(true)) {
            unfinished.0 = None;
            return Err(mcp_server::Error::protocol(
                mcp_core::ErrorObject::internal_error("the job crashed"),
            ));
        }
        if args.get("now") != Some(&json!(true)) {
            let _permit = self.gate.acquire().await.expect("the gate stays open");
        }
        unfinished.0 = None;
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "job {}{confirmed}",
            args.get("label").and_then(Value::as_str).unwrap_or("-")
        ))]))
    }
}

struct Tasks {
    gateway: Gateway,
    gate: Arc<tokio::sync::Semaphore>,
    started: Arc<Notify>,
    cancelled: Arc<Notify>,
}

async fn tasks_gateway() -> Tasks {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let started = Arc::new(Notify::new());
    let cancelled = Arc::new(Notify::new());
    let job = Job {
        gate: gate.clone(),
        started: started.clone(),
        cancelled: cancelled.clone(),
    };
    let upstream = Server::new("upstream", "1.0.0").tool(job);
    let config = parse(
        r#"
[upstreams.work]
url = "http://127.0.0.1:9/unused"

[[rules]]
tools = ["*"]
approval = "none"
"#,
    );
    let gateway = Gateway::builder(config)
        .transport("work", channel(upstream, alive()))
        .start()
        .await
        .expect("the gateway starts");
    Tasks {
        gateway,
        gate,
        started,
        cancelled,
    }
}

/// A modern caller of the gateway that answers forms.
async fn modern_caller(g: &Gateway, who: &str) -> Client {
    client_with(
        g,
        Some(Identity::configured(who)),
        Recorder::new().decline(),
        EraChoice::Modern,
    )
    .await
}

/// Polls the front task until `done` says its state is the one awaited.
async fn poll_until(c: &Client, id: &str, done: impl Fn(&Task) -> bool) -> Task {
    tokio::time::timeout(SAFETY, async {
        loop {
            let task = c.get_task(id).await.expect("the caller sees its task");
            if done(&task) {
                return task;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the task gets there")
}

fn started_task(call: mcp_client::ToolCall) -> Task {
    match call {
        mcp_client::ToolCall::Task(t) => *t,
        other => panic!("expected a task, got {other:?}"),
    }
}

fn text(result: &JsonObject) -> String {
    result["content"][0]["text"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_upstream_task_becomes_a_task_of_the_front() {
    let t = tasks_gateway().await;
    let alice = modern_caller(&t.gateway, "alice").await;
    assert!(
        alice.session().capabilities.has_extension(TASKS_EXTENSION),
        "the front advertises the tasks extension of its upstream"
    );

    // Created, polled while it works, then completed with the upstream's result inline.
    let call = alice
        .call_tool_or_task("job", json!({"label": "a"}))
        .await
        .unwrap();
    let task = started_task(call);
    assert_eq!(task.status, TaskStatus::Working);
    let working = alice.get_task(&task.task_id).await.unwrap();
    assert_eq!(working.status, TaskStatus::Working);
    assert!(working.result.is_none());
    t.gate.add_permits(1);
    let done = poll_until(&alice, &task.task_id, |t| t.status.is_terminal()).await;
    assert_eq!(done.status, TaskStatus::Completed, "{done:?}");
    assert_eq!(text(done.result.as_ref().unwrap()), "job a");

    // Without the extension the same tool runs to the end in the request, at the upstream too.
    let plain = alice
        .call_tool("job", json!({"label": "b", "now": true}))
        .await
        .unwrap();
    assert_eq!(plain.content, vec![ContentBlock::text("job b")]);

    // An upstream's protocol error fails the front's task with its code and message.
    let task = started_task(
        alice
            .call_tool_or_task("job", json!({"fail": true}))
            .await
            .unwrap(),
    );
    let failed = poll_until(&alice, &task.task_id, |t| t.status.is_terminal()).await;
    assert_eq!(failed.status, TaskStatus::Failed, "{failed:?}");
    let error = failed.error.unwrap();
    assert_eq!(
        (error.code, error.message.as_str()),
        (ErrorCode::INTERNAL_ERROR, "the job crashed")
    );
    assert!(failed.result.is_none());
}

#[tokio::test]
async fn the_upstream_tasks_questions_reach_the_caller_under_its_keys() {
    let t = tasks_gateway().await;
    let alice = modern_caller(&t.gateway, "alice").await;
    t.gate.add_permits(1);
    let task = started_task(
        alice
            .call_tool_or_task("job", json!({"label": "q", "ask": true}))
            .await
            .unwrap(),
    );
    let asked = poll_until(&alice, &task.task_id, |t| {
        t.status == TaskStatus::InputRequired
    })
    .await;
    let requests = asked.input_requests.expect("the question is in tasks/get");
    assert_eq!(requests.keys().collect::<Vec<_>>(), ["confirm"]);
    match &requests["confirm"] {
        InputRequest::Elicit(ElicitRequestParams::Form(f)) => assert_eq!(f.message, "Go on?"),
        other => panic!("expected a form, got {other:?}"),
    }
    let answer = InputResponse::Elicit(ElicitResult {
        action: ElicitAction::Accept,
        content: Some(serde_json::from_value(json!({"ok": true})).unwrap()),
        meta: None,
    });
    alice
        .update_task(&task.task_id, [("confirm".to_owned(), answer)].into())
        .await
        .unwrap();
    let done = poll_until(&alice, &task.task_id, |t| t.status.is_terminal()).await;
    assert_eq!(done.status, TaskStatus::Completed, "{done:?}");
    assert_eq!(
        text(done.result.as_ref().unwrap()),
        r#"job q confirmed {"ok":true}"#
    );
}

#[tokio::test]
async fn an_upstream_task_that_ends_with_its_question_open_ends_the_fronts() {
    let t = tasks_gateway().await;
    let alice = modern_caller(&t.gateway, "alice").await;
    let task = started_task(
        alice
            .call_tool_or_task("job", json!({"ask": true, "impatient": true}))
            .await
            .unwrap(),
    );
    poll_until(&alice, &task.task_id, |t| {
        t.status == TaskStatus::InputRequired
    })
    .await;
    // The upstream's task completes without the answer: so does the front's.
    t.gate.add_permits(1);
    let done = poll_until(&alice, &task.task_id, |t| t.status.is_terminal()).await;
    assert_eq!(done.status, TaskStatus::Completed, "{done:?}");
    assert_eq!(text(done.result.as_ref().unwrap()), "gave up");
    assert!(done.input_requests.is_none());
}

#[tokio::test]
async fn a_task_is_its_callers_and_cancelling_it_cancels_the_upstreams() {
    let t = tasks_gateway().await;
    let alice = modern_caller(&t.gateway, "alice").await;
    let bob = modern_caller(&t.gateway, "bob").await;
    let started = t.started.notified();
    let task = started_task(
        alice
            .call_tool_or_task("job", json!({"label": "mine"}))
            .await
            .unwrap(),
    );
    tokio::time::timeout(SAFETY, started)
        .await
        .expect("the upstream runs the job");

    // Another principal's id is answered exactly like an unknown id, for every task method.
    let unknown = |e: mcp_client::Error| match e {
        mcp_client::Error::Server(e) => (e.code, e.message.replace(&task.task_id, "ID")),
        other => panic!("expected a JSON-RPC error, got {other}"),
    };
    let never = "no-such-task-00000000000000";
    let theirs = unknown(bob.get_task(&task.task_id).await.unwrap_err());
    let nobodys = unknown(bob.get_task(never).await.unwrap_err());
    assert_eq!(theirs.0, ErrorCode::INVALID_PARAMS);
    assert_eq!(theirs.1, nobodys.1.replace(never, "ID"));
    assert_eq!(
        unknown(bob.cancel_task(&task.task_id).await.unwrap_err()),
        theirs
    );
    assert_eq!(
        unknown(
            bob.update_task(&task.task_id, InputResponses::new())
                .await
                .unwrap_err()
        ),
        theirs
    );
    // Bob's attempts changed nothing.
    assert_eq!(
        alice.get_task(&task.task_id).await.unwrap().status,
        TaskStatus::Working
    );

    // Alice cancels: the front's task is cancelled and so is the upstream's run.
    let cancelled = t.cancelled.notified();
    alice.cancel_task(&task.task_id).await.unwrap();
    assert_eq!(
        alice.get_task(&task.task_id).await.unwrap().status,
        TaskStatus::Cancelled
    );
    tokio::time::timeout(SAFETY, cancelled)
        .await
        .expect("the upstream's task is cancelled");
    // Opening the gate now completes nothing: the front's task stays cancelled.
    t.gate.add_permits(1);
    alice.cancel_task(&task.task_id).await.unwrap();
    assert_eq!(
        alice.get_task(&task.task_id).await.unwrap().status,
        TaskStatus::Cancelled
    );
}

/// Two replicas of one gateway configuration sharing `store`, each with its own upstreams.
async fn replicas(rules: &str, store: Arc<mcp_server::store::MemoryStore>) -> (Setup, Setup) {
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let fs_calls = Arc::new(Mutex::new(Vec::new()));
        let fs = upstream(&[("read_file", true), ("write_file", false)], &fs_calls);
        let web = upstream(&[("fetch", true)], &Arc::new(Mutex::new(Vec::new())));
        let gateway = Gateway::builder(parse(&format!("{UPSTREAMS}\n{rules}")))
            .transport("fs", channel(fs, alive()))
            .transport("web", channel(web, alive()))
            .store(store.clone())
            .start()
            .await
            .expect("the gateway starts");
        replicas.push(Setup { gateway, fs_calls });
    }
    let b = replicas.pop().unwrap();
    (replicas.pop().unwrap(), b)
}

#[tokio::test]
async fn replicas_sharing_a_store_keep_one_rate_limit_and_fail_closed_without_it() {
    let store = Arc::new(mcp_server::store::MemoryStore::new());
    let rules =
        "[[rules]]\ntools = [\"fs__read_file\"]\nrate_limit = \"2/min\"\napproval = \"none\"\n";
    let (a, b) = replicas(rules, store.clone()).await;
    let alice = || Some(Identity::configured("alice"));
    let (ca, cb) = (
        client(&a.gateway, alice()).await,
        client(&b.gateway, alice()).await,
    );
    assert_eq!(refusal(&ca, "fs__read_file").await, None);
    assert_eq!(refusal(&cb, "fs__read_file").await, None);
    // The third call of the minute, on either replica, is over the one limit.
    for c in [&ca, &cb] {
        match c.call_tool("fs__read_file", json!({})).await {
            Err(mcp_client::Error::Server(e)) => {
                assert_eq!(e.data.unwrap()["reason"], "rate_limited");
            }
            other => panic!("expected the rate limit, got {other:?}"),
        }
    }
    // Another principal has its own bucket.
    let cbob = client(&b.gateway, Some(Identity::configured("bob"))).await;
    assert_eq!(refusal(&cbob, "fs__read_file").await, None);
    // Without the store, the limit cannot be counted: refused, not let through.
    store.set_available(false);
    match cbob.call_tool("fs__read_file", json!({})).await {
        Err(mcp_client::Error::Server(e)) => {
            assert_eq!(e.code, ErrorCode(-32004), "{e:?}");
            assert_eq!(e.data.unwrap()["reason"], "store_unavailable");
        }
        other => panic!("expected store_unavailable, got {other:?}"),
    }
    store.set_available(true);
    assert_eq!(
        a.fs_calls.lock().unwrap().len() + b.fs_calls.lock().unwrap().len(),
        3
    );
}

#[tokio::test]
async fn the_front_lists_items_in_the_upstreams_order() {
    // Upstreams as configured, each one's tools as it lists them: the same order in every
    // process (a client that takes the first tool, as the conformance suite does, gets the same
    // one each time).
    let s = gateway(
        r#"
[[rules]]
tools = ["*"]
approval = "none"
"#,
    )
    .await;
    let c = client(&s.gateway, Some(Identity::configured("ann"))).await;
    assert_eq!(
        listed_in_order(&c).await,
        [
            "fs__read_file",
            "fs__write_file",
            "fs__delete_file",
            "web__fetch"
        ]
    );
}

/// The environment variable names a `test-upstream` behind the gateway was started with.
async fn env_of(c: &Client, upstream: &str) -> Vec<String> {
    text_of(c, &format!("{upstream}__env"), json!({}))
        .await
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_stdio_upstream_inherits_only_the_variables_it_is_given() {
    let bin = test_upstream();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[upstreams.plain]
command = {bin:?}
env = {{ GIVEN = "given" }}

[upstreams.named]
command = {bin:?}
inherit_env = ["WANTED_*", "ALSO"]

[upstreams.everything]
command = {bin:?}
inherit_env = ["*"]

[[rules]]
tools = ["*"]
approval = "none"
"#,
            bin = bin.to_str().unwrap()
        ),
    )
    .unwrap();
    // The gateway as it runs, a process whose environment holds the credential of an HTTP
    // upstream, and variables some of its stdio upstreams are to see.
    let gateway = mcp_client::StdioServer::new(env!("CARGO_BIN_EXE_mcp-gateway"))
        .args(["--stdio", "--config", config.to_str().unwrap()])
        .env("SEARCH_TOKEN", "secret")
        .env("WANTED_ONE", "1")
        .env("WANTED_TWO", "2")
        .env("ALSO", "1")
        .env("ALSO_NOT", "1");
    let c = Client::builder().connect_stdio(gateway).await.unwrap();

    let plain = env_of(&c, "plain").await;
    assert!(plain.contains(&"GIVEN".to_owned()), "{plain:?}");
    if std::env::var_os("PATH").is_some() {
        assert!(plain.contains(&"PATH".to_owned()), "{plain:?}");
    }
    for name in ["SEARCH_TOKEN", "WANTED_ONE", "ALSO"] {
        assert!(!plain.contains(&name.to_owned()), "{name}: {plain:?}");
    }

    let named = env_of(&c, "named").await;
    for name in ["WANTED_ONE", "WANTED_TWO", "ALSO"] {
        assert!(named.contains(&name.to_owned()), "{name}: {named:?}");
    }
    for name in ["SEARCH_TOKEN", "ALSO_NOT", "GIVEN"] {
        assert!(!named.contains(&name.to_owned()), "{name}: {named:?}");
    }

    let everything = env_of(&c, "everything").await;
    for name in ["SEARCH_TOKEN", "WANTED_ONE", "ALSO_NOT"] {
        assert!(
            everything.contains(&name.to_owned()),
            "{name}: {everything:?}"
        );
    }
    c.close().await;
}

/// A resource `notes://a`, readable by everyone.
struct Notes;

impl mcp_server::ResourceHandler for Notes {
    fn definition(&self) -> mcp_server::ResourceDefinition {
        mcp_server::ResourceDefinition::Static(Resource {
            uri: "notes://a".into(),
            name: "notes".into(),
            ..Default::default()
        })
    }
    fn policy(&self) -> mcp_server::Policy {
        mcp_server::Policy::public()
    }
    async fn read(
        &self,
        _cx: Context,
        uri: String,
        _variables: std::collections::BTreeMap<String, String>,
    ) -> mcp_server::Result<Vec<ResourceContents>> {
        Ok(vec![ResourceContents::text(uri, None, "a note")])
    }
}

#[tokio::test]
async fn a_callers_subscription_is_made_upstream_and_ended_with_the_last_one() {
    use mcp_client::Subscription;
    use mcp_server::subscriptions::SubscriptionChange;
    // Two upstreams serving the same resource, one in each era; each records the first
    // subscriber and the last one's leaving, as the gateway's front does.
    let mut servers = Vec::new();
    let mut gateway = Gateway::builder(parse(
        r#"
[upstreams.old]
url = "http://127.0.0.1:9/unused"
era = "legacy"

[upstreams.new]
url = "http://127.0.0.1:9/unused"
era = "modern"

[[rules]]
resources = ["*"]
"#,
    ));
    for name in ["old", "new"] {
        let changes = Arc::new(Mutex::new(Vec::new()));
        let seen = changes.clone();
        let server = Server::new(name, "1.0.0")
            .on_subscription_change(move |c| seen.lock().unwrap().push(c))
            .resource(Notes);
        gateway = gateway.transport(name, channel(server.clone(), alive()));
        servers.push((name, server, changes));
    }
    let g = gateway.start().await.unwrap();
    for era in [EraChoice::Legacy, EraChoice::Modern] {
        let c = client_with(&g, None, Recorder::new(), era).await;
        for (name, server, changes) in &servers {
            let uri = format!("{name}+notes://a");
            let mut listener = c.listen(Subscription::new().resource(&uri)).await.unwrap();
            // The upstream is subscribed in the background: it tells of updates once it is.
            let updated = tokio::time::timeout(SAFETY, async {
                loop {
                    server.notify_resource_updated("notes://a");
                    if let Ok(Some(change)) =
                        tokio::time::timeout(Duration::from_millis(50), listener.next()).await
                    {
                        return change;
                    }
                }
            })
            .await
            .unwrap_or_else(|_| panic!("{era:?} caller, {name}: no update reached the caller"));
            assert_eq!(
                updated,
                mcp_client::Change::Resource(uri.clone()),
                "{era:?} {name}"
            );
            // The caller's subscription ends: so does the upstream's.
            drop(listener);
            tokio::time::timeout(SAFETY, async {
                while changes.lock().unwrap().last()
                    != Some(&SubscriptionChange::Unsubscribed("notes://a".into()))
                {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await
            .unwrap_or_else(|_| {
                panic!("{era:?} {name}: the upstream stays subscribed: {changes:?}")
            });
            let mut made = changes.lock().unwrap();
            assert_eq!(
                *made,
                [
                    SubscriptionChange::Subscribed("notes://a".into()),
                    SubscriptionChange::Unsubscribed("notes://a".into()),
                ],
                "{era:?} {name}"
            );
            made.clear();
        }
        c.close().await;
    }
    // A legacy session that ends without unsubscribing ends its subscriptions too.
    let (_, _, changes) = &servers[0];
    let c = client_with(&g, None, Recorder::new(), EraChoice::Legacy).await;
    c.subscribe("old+notes://a").await.unwrap();
    c.close().await;
    drop(c);
    tokio::time::timeout(SAFETY, async {
        while changes.lock().unwrap().len() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the upstream stays subscribed: {changes:?}"));
    assert_eq!(
        *changes.lock().unwrap(),
        [
            SubscriptionChange::Subscribed("notes://a".into()),
            SubscriptionChange::Unsubscribed("notes://a".into()),
        ]
    );
    g.close().await;
}

/// Answers who called it (the subject of the token the upstream checked), for scope `calc`.
struct Caller;

impl ToolHandler for Caller {
    fn definition(&self) -> Tool {
        read_only("whoami")
    }
    fn policy(&self) -> mcp_server::Policy {
        mcp_server::Policy {
            scopes: vec!["calc".into()],
            ..mcp_server::Policy::public()
        }
    }
    async fn call(&self, cx: Context, _args: JsonObject) -> mcp_server::Result<CallToolResult> {
        let who = cx.identity().map_or("nobody", |i| i.subject()).to_owned();
        Ok(CallToolResult::success(vec![ContentBlock::text(who)]))
    }
}

#[tokio::test]
async fn an_upstream_behind_oauth_gets_the_gateways_own_token() {
    use mcp_server::http::HttpConfig;
    use mcp_server::http::auth::testing::TestAuthServer;
    use mcp_server::http::auth::{Jwks, JwtValidator, ResourceServer};

    let authz = TestAuthServer::start().await.unwrap();
    authz.add_client("gateway", "s3cret");
    // The upstream accepts tokens of that authorization server for itself, with scope `calc`.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let validator = JwtValidator::new(&url, authz.issuer(), Jwks::url(authz.jwks_url()));
    let resource = ResourceServer::new(&url, authz.issuer(), validator).unwrap();
    let upstream = Server::new("protected", "1.0.0")
        .require_authorization()
        .tool(Caller);
    tokio::spawn(async move {
        mcp_server::http::serve(
            upstream,
            HttpConfig::new().auth(resource),
            listener,
            std::future::pending(),
        )
        .await
    });

    let gateway = |secret: &str| {
        parse(&format!(
            r#"
[upstreams.api]
url = "{url}"
oauth = {{ client_id = "gateway", client_secret = "{secret}", issuer = "{}", scopes = ["calc"] }}

[[rules]]
tools = ["*"]
"#,
            authz.issuer()
        ))
    };
    let g = Gateway::start(gateway("s3cret")).await.unwrap();
    let c = client(&g, Some(Identity::configured("alice"))).await;
    // The upstream saw the gateway's client, not the caller.
    assert_eq!(text_of(&c, "whoami", json!({})).await, "gateway");
    assert_eq!(text_of(&c, "whoami", json!({})).await, "gateway");
    // One token, held for the calls that followed.
    assert_eq!(authz.tokens_issued(), 1);
    c.close().await;
    g.close().await;

    // With a wrong secret no token is given: the upstream is unavailable, its tools absent.
    let g = Gateway::start(gateway("wrong")).await.unwrap();
    let c = client(&g, Some(Identity::configured("alice"))).await;
    assert!(listed(&c).await.is_empty());
    assert_eq!(authz.tokens_issued(), 1);
    let health = g.health();
    assert!(
        matches!(&health[..], [(name, mcp_client::host::Health::Failed { reason, .. })]
            if name == "api" && reason.contains("invalid_client")),
        "{health:?}"
    );
    g.close().await;
}

#[tokio::test]
async fn an_https_front_with_client_certificates_names_callers_by_them() {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair,
    };
    // A CA, the gateway's certificate for 127.0.0.1, and two callers' certificates.
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "Callers CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&server_key, &*ca)
        .unwrap();
    let caller = |cn: &str| {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &*ca).unwrap();
        format!("{}{}", cert.pem(), key.serialize_pem())
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gateway.pem"), server.pem()).unwrap();
    std::fs::write(dir.path().join("gateway.key"), server_key.serialize_pem()).unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
    let file = dir.path().join("gateway.toml");
    std::fs::write(
        &file,
        format!(
            r#"{UPSTREAMS}
[front.tls]
cert = "gateway.pem"
key = "gateway.key"
client_ca = "ca.pem"
client_roles = {{ "ops-bot" = ["admin"] }}

[[rules]]
tools = ["web__*"]
roles = ["admin"]
approval = "none"
"#
        ),
    )
    .unwrap();
    let config = Config::load(&file).unwrap();
    let http = mcp_gateway::http_config(&config).unwrap();
    let g = fs_and_web(config, &[("read_file", true)], &[("fetch", true)]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}/mcp", listener.local_addr().unwrap());
    let front = g.server().clone();
    tokio::spawn(async move {
        mcp_server::http::serve(front, http, listener, std::future::pending()).await
    });

    // A modern `tools/list` over HTTPS, as the holder of `identity` (PEM certificate and key).
    let list = |identity: Option<String>| {
        let url = url.clone();
        let ca = ca.pem();
        async move {
            let mut client = reqwest::Client::builder()
                .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap());
            if let Some(pem) = identity {
                client = client.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
            }
            let response = client
                .build()
                .unwrap()
                .post(&url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", "tools/list")
                .body(
                    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
                        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                        "io.modelcontextprotocol/clientCapabilities": {},
                        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"}
                    }}})
                    .to_string(),
                )
                .send()
                .await
                // The whole chain of causes: the TLS alert is the innermost.
                .map_err(|e| format!("{e:?}"))?;
            let body: Value = response.json().await.map_err(|e| format!("{e:?}"))?;
            Ok::<Vec<String>, String>(
                body["result"]["tools"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{body}"))
                    .iter()
                    .map(|t| t["name"].as_str().unwrap().to_owned())
                    .collect(),
            )
        }
    };
    // The certificate's name carries the role the rules ask for; another caller's does not.
    assert_eq!(list(Some(caller("ops-bot"))).await.unwrap(), ["web__fetch"]);
    assert_eq!(
        list(Some(caller("guest"))).await.unwrap(),
        Vec::<String>::new()
    );
    // Without a certificate the handshake fails.
    let refused = list(None).await.unwrap_err();
    assert!(refused.contains("CertificateRequired"), "{refused}");
    g.close().await;
}

#[tokio::test]
async fn an_upstream_that_does_not_start_is_reported_and_the_others_serve() {
    use mcp_server::audit::{Audit, AuditKind, MemorySink};
    let calls = Arc::new(Mutex::new(Vec::new()));
    let memory = Arc::new(MemorySink::default());
    let g = Gateway::builder(parse(
        r#"
[upstreams.missing]
command = "/nonexistent/mcp-server-that-is-not-there"

[upstreams.web]
url = "http://127.0.0.1:9/unused"

[[rules]]
tools = ["*"]
approval = "none"
"#,
    ))
    .transport(
        "web",
        channel(upstream(&[("fetch", true)], &calls), alive()),
    )
    .audit(Audit::new().with_sink(memory.clone()))
    .start()
    .await
    .unwrap();
    let c = client(&g, None).await;
    assert_eq!(listed(&c).await, ["web__fetch"]);
    assert!(matches!(
        g.health().into_iter().find(|(n, _)| n == "missing"),
        Some((_, mcp_client::host::Health::Failed { .. }))
    ));
    let failed = memory
        .records()
        .into_iter()
        .find(|r| r.kind == AuditKind::Upstream && r.method == "upstream/failed")
        .expect("an audit record of the failure");
    assert_eq!(failed.item.as_deref(), Some("missing"));
    assert!(
        failed
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("mcp-server-that-is-not-there")),
        "{failed:?}"
    );
    g.close().await;
}

/// A port nothing listens on (bound and released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET url` until it answers: its status and body.
async fn probe(url: &str) -> (u16, String) {
    for _ in 0..200 {
        if let Ok(r) = reqwest::get(url).await {
            let status = r.status().as_u16();
            return (status, r.text().await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing answers at {url}");
}

/// The binary serves `/healthz` and `/readyz` beside `/mcp`, and with `--metrics` each
/// upstream's state as a gauge: one upstream that cannot start leaves the gateway ready while
/// another serves, and unready when it is the only one; the probes never say why it failed.
#[tokio::test]
async fn the_binary_serves_probes_and_an_upstream_gauge() {
    let dir = tempfile::tempdir().unwrap();
    let bin = test_upstream();
    let missing = dir.path().join("no-such-server");
    let both = dir.path().join("both.toml");
    std::fs::write(
        &both,
        format!(
            "[upstreams.ok]\ncommand = {bin:?}\n\n[upstreams.broken]\ncommand = {missing:?}\n\n\
             [[rules]]\ntools = [\"*\"]\n",
            bin = bin.to_str().unwrap(),
            missing = missing.to_str().unwrap()
        ),
    )
    .unwrap();
    let alone = dir.path().join("alone.toml");
    std::fs::write(
        &alone,
        format!(
            "[upstreams.broken]\ncommand = {:?}\n\n[[rules]]\ntools = [\"*\"]\n",
            missing.to_str().unwrap()
        ),
    )
    .unwrap();

    let (port, metrics) = (free_port(), free_port());
    let mut gateway = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
        .args(["--config", both.to_str().unwrap()])
        .args(["--port", &port.to_string()])
        .args(["--metrics", &format!("127.0.0.1:{metrics}")])
        .args(["--log-format", "json"])
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // With `--log-format json` every line on stderr is a JSON object, what the binary itself
    // says included.
    let mut log = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(
        gateway.stderr.take().unwrap(),
    ));
    tokio::time::timeout(SAFETY, async {
        while let Some(line) = log.next_line().await.unwrap() {
            let event: Value = serde_json::from_str(&line).expect("a JSON log line");
            if event["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("serving http://"))
            {
                return;
            }
        }
        panic!("the gateway did not say where it serves")
    })
    .await
    .unwrap();
    assert_eq!(
        probe(&format!("http://127.0.0.1:{port}/healthz")).await,
        (200, "ok\n".into())
    );
    // Ready once neither upstream is starting any more.
    let readyz = format!("http://127.0.0.1:{port}/readyz");
    let (status, body) = loop {
        let (status, body) = probe(&readyz).await;
        if !body.contains("starting") {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(json["ready"], true, "{body}");
    assert_eq!(json["upstreams"]["ok"], "ready", "{body}");
    assert!(
        matches!(
            json["upstreams"]["broken"].as_str(),
            Some("failed" | "restarting")
        ),
        "{body}"
    );
    assert!(!body.contains("no-such-server"), "{body}");
    let scraped = probe(&format!("http://127.0.0.1:{metrics}/metrics"))
        .await
        .1;
    assert!(
        scraped.contains("mcp_gateway_upstream_up{upstream=\"ok\"} 1"),
        "{scraped}"
    );
    assert!(
        scraped.contains("mcp_gateway_upstream_up{upstream=\"broken\"} 0"),
        "{scraped}"
    );

    // This one listens on every address (as in a container), without authenticating
    // anyone: it says so.
    let port = free_port();
    let mut alone_gateway = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
        .args(["--config", alone.to_str().unwrap()])
        .args(["--listen", &format!("0.0.0.0:{port}")])
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(
        alone_gateway.stderr.take().unwrap(),
    ));
    let warning = tokio::time::timeout(SAFETY, async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            if line.contains("warning") {
                return line;
            }
        }
        panic!("no warning")
    })
    .await
    .unwrap();
    assert!(warning.contains("authenticates no one"), "{warning}");
    let readyz = format!("http://127.0.0.1:{port}/readyz");
    let (status, body) = loop {
        let (status, body) = probe(&readyz).await;
        if !body.contains("starting") {
            break (status, body);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("\"ready\":false"), "{body}");
    // The endpoint itself is where it was.
    let mcp = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/mcp"))
        .send()
        .await
        .unwrap();
    assert_ne!(mcp.status().as_u16(), 404);
    // There, a GET without a session is not allowed (405), as on any front.
    assert_eq!(mcp.status().as_u16(), 405);
}

/// A configuration in `dir` serving `test-upstream` to everyone, with an audit file: its path
/// and the audit file's.
fn audited_config(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let audit = dir.join("audit.jsonl");
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\naudit = {audit:?}\n\n[upstreams.up]\ncommand = {bin:?}\n\n\
             [[rules]]\ntools = [\"*\"]\napproval = \"none\"\n",
            audit = audit.to_str().unwrap(),
            bin = test_upstream().to_str().unwrap()
        ),
    )
    .unwrap();
    (config, audit)
}

/// `check --strict` fails on a warning (for CI), and `check` alone only prints it.
#[test]
fn check_strict_fails_on_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = audited_config(dir.path());
    let check = |strict: bool| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_mcp-gateway"));
        command.arg("check");
        if strict {
            command.arg("--strict");
        }
        command.arg(&config).output().unwrap()
    };
    let clean = check(true);
    assert!(clean.status.success(), "{clean:?}");
    // One more rule, for a tool nobody serves.
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[[rules]]\ntools = [\"gone__*\"]\n");
    std::fs::write(&config, text).unwrap();
    let lax = check(false);
    assert!(lax.status.success(), "{lax:?}");
    assert!(
        String::from_utf8_lossy(&lax.stdout).contains("warning: rules[1]"),
        "{lax:?}"
    );
    let strict = check(true);
    assert_eq!(strict.status.code(), Some(1), "{strict:?}");
    assert!(
        String::from_utf8_lossy(&strict.stderr).contains("1 warnings (--strict)"),
        "{strict:?}"
    );
}

/// Waits until `c` lists `tool` (its upstream is ready).
async fn until_listed(c: &Client, tool: &str) {
    for _ in 0..100 {
        if listed(c).await.iter().any(|t| t == tool) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("`{tool}` is never listed");
}

/// The binary serving `config` on stdio, and a client of it once `wait` is listed.
async fn stdio_gateway(config: &std::path::Path) -> (tokio::process::Child, Client) {
    let mut gateway = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
        .args(["--stdio", "--config", config.to_str().unwrap()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (stdin, stdout) = (
        gateway.stdin.take().unwrap(),
        gateway.stdout.take().unwrap(),
    );
    let c = Client::builder()
        .connect(Transport::from_io(stdout, stdin))
        .await
        .unwrap();
    until_listed(&c, "wait").await;
    (gateway, c)
}

/// Sends `signal` to the process `pid`.
#[cfg(unix)]
fn signal(pid: u32, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(i32::try_from(pid).unwrap()).unwrap();
    rustix::process::kill_process(pid, signal).unwrap();
}

/// SIGTERM (`docker stop`, Kubernetes) stops the binary as Ctrl-C does, not at once: over
/// HTTP (on every core, and on one thread) a call in flight gets its answer and its response
/// record, and the process exits 0 with every record written; on stdio it exits 0 with the
/// records of what it answered.
#[cfg(unix)]
#[tokio::test]
async fn sigterm_lets_calls_in_flight_finish_and_writes_every_audit_record() {
    let dir = tempfile::tempdir().unwrap();
    let (config, audit) = audited_config(dir.path());
    let terminate = |pid: u32| signal(pid, rustix::process::Signal::TERM);
    let records = |kind: &str| {
        std::fs::read_to_string(&audit)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("whole JSON lines"))
            .filter(|r| r["method"] == "tools/call" && r["kind"] == kind)
            .count()
    };

    // On the runtime of every core (the default), and on one thread (`--threads 1`).
    for threads in [&[][..], &["--threads", "1"][..]] {
        if audit.exists() {
            std::fs::remove_file(&audit).unwrap();
        }
        let port = free_port();
        let mut gateway = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
            .args(["--config", config.to_str().unwrap()])
            .args(["--port", &port.to_string()])
            .args(threads)
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        probe(&format!("http://127.0.0.1:{port}/healthz")).await;
        let url = format!("http://127.0.0.1:{port}/mcp");
        let c = Client::builder()
            .connect_http(mcp_client::HttpServer::new(url))
            .await
            .unwrap();
        // The upstream's tools are listed once it is ready.
        until_listed(&c, "wait").await;
        let call = tokio::spawn({
            let c = c.clone();
            async move { text_of(&c, "wait", json!({ "ms": 800 })).await }
        });
        // The call is in flight (its request record written) when the signal comes.
        for _ in 0..100 {
            if records("request") == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(records("request"), 1);
        terminate(gateway.id().unwrap());
        assert_eq!(
            tokio::time::timeout(SAFETY, call).await.unwrap().unwrap(),
            "waited"
        );
        let status = tokio::time::timeout(SAFETY, gateway.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "{status:?}");
        assert_eq!(records("response"), 1);
    }

    std::fs::remove_file(&audit).unwrap();
    let (mut stdio, c) = stdio_gateway(&config).await;
    assert_eq!(text_of(&c, "wait", json!({ "ms": 1 })).await, "waited");
    terminate(stdio.id().unwrap());
    let status = tokio::time::timeout(SAFETY, stdio.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!((records("request"), records("response")), (1, 1));
}

/// `[front] allowed_origins` and `allowed_hosts`: a browser client of another origin, and a
/// reverse proxy on the same machine that passes the public `Host`, are refused (403) by
/// default and served once listed; an origin with a path is a configuration error.
#[tokio::test]
async fn the_front_accepts_the_origins_and_hosts_it_is_configured_with() {
    let bin = test_upstream();
    let text = |front: &str| {
        format!(
            "[front]\n{front}\n\n[upstreams.up]\ncommand = {:?}\n\n[[rules]]\ntools = [\"*\"]\n",
            bin.to_str().unwrap()
        )
    };
    // The status of an `initialize` POSTed with these headers to a front so configured.
    async fn status(config: Config, headers: &[(&str, &str)]) -> u16 {
        let http = mcp_gateway::http_config(&config).unwrap();
        let g = Gateway::start(config).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        let front = g.server().clone();
        let served = tokio::spawn(async move {
            mcp_server::http::serve(front, http, listener, std::future::pending()).await
        });
        let mut request = reqwest::Client::new()
            .post(url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .body(
                json!({
                    "jsonrpc": "2.0", "id": 1, "method": "initialize",
                    "params": {
                        "protocolVersion": "2025-06-18", "capabilities": {},
                        "clientInfo": { "name": "t", "version": "1" }
                    }
                })
                .to_string(),
            );
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let status = request.send().await.unwrap().status().as_u16();
        served.abort();
        g.close().await;
        status
    }
    let origin = [("Origin", "https://app.example.com")];
    let host = [("Host", "gateway.example.com")];
    assert_eq!(status(parse(&text("")), &origin).await, 403);
    assert_eq!(status(parse(&text("")), &host).await, 403);
    let listed = text(
        "allowed_origins = [\"https://app.example.com\"]\nallowed_hosts = [\"gateway.example.com\"]",
    );
    assert_eq!(status(parse(&listed), &origin).await, 200);
    assert_eq!(status(parse(&listed), &host).await, 200);
    assert_eq!(
        status(parse(&listed), &[("Origin", "https://evil.example.com")]).await,
        403
    );
    assert_eq!(
        status(parse(&listed), &[("Host", "evil.example.com")]).await,
        403
    );
    let any = text("allowed_origins = [\"*\"]\nallowed_hosts = [\"*\"]");
    assert_eq!(status(parse(&any), &origin).await, 200);
    assert_eq!(status(parse(&any), &host).await, 200);

    // Checked with the file, so that `check`, a start and a reload all refuse it.
    let e = Config::parse(
        "gw.toml",
        &text("allowed_origins = [\"https://app.example.com/login\"]"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("front.allowed_origins") && e.contains("no path"),
        "{e}"
    );
}

/// SIGHUP reopens the audit file: after `logrotate` renamed it, the records go on in a new
/// file at the path, whose chain continues the old one's (each verifies; the new one says
/// from which hash).
#[cfg(unix)]
#[tokio::test]
async fn sighup_reopens_a_rotated_audit_file() {
    let dir = tempfile::tempdir().unwrap();
    let (config, audit) = audited_config(dir.path());
    let (mut gateway, c) = stdio_gateway(&config).await;
    assert_eq!(text_of(&c, "wait", json!({ "ms": 1 })).await, "waited");
    // What the call wrote reaches the file (the writer batches every few milliseconds).
    for _ in 0..100 {
        if std::fs::read_to_string(&audit).is_ok_and(|t| t.contains("\"kind\":\"response\"")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rotated = dir.path().join("audit.jsonl.1");
    std::fs::rename(&audit, &rotated).unwrap();
    signal(gateway.id().unwrap(), rustix::process::Signal::HUP);
    // The new file appears with its first record.
    for _ in 0..100 {
        if audit.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(text_of(&c, "wait", json!({ "ms": 1 })).await, "waited");
    c.close().await;
    let status = tokio::time::timeout(SAFETY, gateway.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");

    let before = mcp_server::audit::verify(&rotated).unwrap();
    let after = mcp_server::audit::verify(&audit).unwrap();
    assert!(before.records >= 2, "{before:?}");
    assert_eq!(after.continues, before.last_hash);
    let text = std::fs::read_to_string(&audit).unwrap();
    assert!(text.contains("\"kind\":\"continued\""), "{text}");
    assert!(text.contains("\"item\":\"wait\""), "{text}");
}

/// `check --offline` validates what it can without starting any upstream (for CI, where the
/// upstreams' commands may be missing): beyond the file, an upstream's unset variable and the
/// front's missing certificate, each named by file, line and key; and it starts nothing.
#[test]
fn check_offline_validates_without_starting_the_upstreams() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("started");
    // An upstream that leaves a mark when it starts.
    let entry = format!(
        "[upstreams.marks]\ncommand = \"sh\"\nargs = [\"-c\", \"touch {} && cat\"]\n\n",
        marker.to_str().unwrap()
    );
    let rule = "[[rules]]\ntools = [\"*\"]\n";
    let check = |name: &str, text: String| {
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
            .args(["check", "--offline"])
            .arg(&file)
            .output()
            .unwrap()
    };
    let ok = check(
        "good.toml",
        format!("{entry}[upstreams.gone]\ncommand = \"/no/such/server\"\n\n{rule}"),
    );
    assert!(ok.status.success(), "{ok:?}");
    assert!(
        String::from_utf8_lossy(&ok.stdout).starts_with("valid: "),
        "{ok:?}"
    );
    let unset = check(
        "unset.toml",
        format!(
            "{entry}[upstreams.api]\nurl = \"https://api.example.com/mcp\"\n\
             headers = {{ Authorization = \"Bearer ${{MCP_GATEWAY_TEST_NEVER_SET}}\" }}\n\n{rule}"
        ),
    );
    assert_eq!(unset.status.code(), Some(2), "{unset:?}");
    let said = String::from_utf8_lossy(&unset.stderr);
    assert!(
        said.contains("unset.toml:") && said.contains("MCP_GATEWAY_TEST_NEVER_SET"),
        "{said}"
    );
    let no_cert = check(
        "tls.toml",
        format!("[front.tls]\ncert = \"missing.pem\"\nkey = \"missing.key\"\n\n{entry}{rule}"),
    );
    assert_eq!(no_cert.status.code(), Some(2), "{no_cert:?}");
    let said = String::from_utf8_lossy(&no_cert.stderr);
    assert!(
        said.contains("tls.toml:") && said.contains("front.tls"),
        "{said}"
    );
    assert!(!marker.exists(), "check --offline started an upstream");
}

/// `server` as an upstream that does not say it can be subscribed to (as the Python SDK's
/// `MCPServer` says): its `initialize` result without `resources.subscribe`.
fn without_subscribe(server: Server) -> impl Fn() -> mcp_client::Result<Transport> + Send + Sync {
    move || {
        let (to_server, incoming) = mpsc::channel(64);
        let (outgoing, mut from_server) = mpsc::channel(64);
        let (to_host, from_relay) = mpsc::channel(64);
        tokio::spawn(server.clone().serve_channel(incoming, outgoing));
        tokio::spawn(async move {
            while let Some(mut m) = from_server.recv().await {
                if let mcp_core::JsonRpcMessage::Response(r) = &mut m {
                    let mut result: Value = serde_json::from_str(r.result.get()).unwrap();
                    if let Some(resources) = result
                        .pointer_mut("/capabilities/resources")
                        .and_then(Value::as_object_mut)
                    {
                        resources.remove("subscribe");
                        r.result = serde_json::value::to_raw_value(&result).unwrap();
                    }
                }
                if to_host.send(m).await.is_err() {
                    break;
                }
            }
        });
        Ok(Transport::from_channels(to_server, from_relay, None))
    }
}

/// A caller's subscription to a resource whose upstream cannot be subscribed to is refused
/// (-32602) in both eras, where it was acknowledged for updates that never came; reading it
/// still works, and only callers who may read it learn that much.
#[tokio::test]
async fn a_subscription_the_upstream_cannot_serve_is_refused() {
    use mcp_client::Subscription;
    let g = Gateway::builder(parse(
        r#"
[upstreams.py]
url = "http://127.0.0.1:9/unused"
era = "legacy"

[[rules]]
roles = ["reader"]
resources = ["*"]
"#,
    ))
    .transport(
        "py",
        without_subscribe(Server::new("py", "1.0.0").resource(Notes)),
    )
    .start()
    .await
    .unwrap();
    let reader = Identity::configured("ann").with_roles(["reader"]);
    for era in [EraChoice::Legacy, EraChoice::Modern] {
        let c = client_with(&g, Some(reader.clone()), Recorder::new(), era).await;
        let read = c.read_resource("notes://a").await.unwrap();
        assert_eq!(read.len(), 1, "{era:?}");
        let refused = match era {
            EraChoice::Legacy => c.subscribe("notes://a").await.map(|_| ()),
            _ => c
                .listen(Subscription::new().resource("notes://a"))
                .await
                .map(|_| ()),
        };
        let e = refused.expect_err("refused").to_string();
        assert!(e.contains("does not support subscriptions"), "{era:?}: {e}");
        c.close().await;
    }
    // A caller who may not read it is refused as its read is: nothing more learned.
    let c = client_with(&g, None, Recorder::new(), EraChoice::Legacy).await;
    let e = c
        .subscribe("notes://a")
        .await
        .expect_err("refused")
        .to_string();
    assert!(!e.contains("subscriptions"), "{e}");
    let read = c
        .read_resource("notes://a")
        .await
        .expect_err("refused")
        .to_string();
    assert_eq!(e, read);
}

/// A tool answering the roots its server is given (during the call), one URI per line.
struct RootsTool;

impl ToolHandler for RootsTool {
    fn definition(&self) -> Tool {
        read_only("roots")
    }
    async fn call(&self, cx: Context, _args: JsonObject) -> mcp_server::Result<CallToolResult> {
        let roots = cx.roots().await?;
        let uris: Vec<String> = roots.into_iter().map(|r| r.uri).collect();
        Ok(CallToolResult::success(vec![ContentBlock::text(
            uris.join("\n"),
        )]))
    }
}

/// A legacy upstream written by hand: it initializes, then asks for the roots outside any
/// request (as a filesystem server does once initialized) and reports the answer.
fn asks_roots_when_initialized(
    answer: mpsc::UnboundedSender<Value>,
) -> impl Fn() -> mcp_client::Result<Transport> + Send + Sync + 'static {
    move || {
        let (to_server, mut incoming) = mpsc::channel::<mcp_core::jsonrpc::JsonRpcMessage>(64);
        let (outgoing, from_server) = mpsc::channel(64);
        let answer = answer.clone();
        tokio::spawn(async move {
            let send = |v: Value| {
                let outgoing = outgoing.clone();
                async move {
                    let m = mcp_core::jsonrpc::JsonRpcMessage::from_slice(v.to_string().as_bytes())
                        .expect("a message");
                    let _ = outgoing.send(m).await;
                }
            };
            while let Some(m) = incoming.recv().await {
                let m = serde_json::to_value(&m).expect("serializes");
                match (m["method"].as_str(), &m["id"]) {
                    (Some("initialize"), id) => {
                        send(json!({"jsonrpc": "2.0", "id": id, "result": {
                            "protocolVersion": "2025-06-18",
                            "capabilities": {"tools": {}},
                            "serverInfo": {"name": "fs", "version": "1.0.0"},
                        }}))
                        .await;
                    }
                    (Some("notifications/initialized"), _) => {
                        send(json!({"jsonrpc": "2.0", "id": "r1", "method": "roots/list"})).await;
                    }
                    (Some("tools/list"), id) => {
                        send(json!({"jsonrpc": "2.0", "id": id, "result": {"tools": []}})).await;
                    }
                    (Some(_), id) if !id.is_null() => {
                        send(json!({"jsonrpc": "2.0", "id": id, "result": {}})).await;
                    }
                    (None, id) if id == "r1" => {
                        let _ = answer.send(m);
                    }
                    _ => {}
                }
            }
        });
        Ok(Transport::from_channels(to_server, from_server, None))
    }
}

#[tokio::test]
async fn configured_roots_answer_the_upstream_and_no_caller_is_asked() {
    let config = parse(
        r#"
[upstreams.fixed]
url = "http://127.0.0.1:9/unused"
era = "legacy"
roots = ["file:///srv/data", "file:///srv/shared"]

[upstreams.fixedm]
url = "http://127.0.0.1:9/unused"
era = "modern"
roots = ["file:///srv/data", "file:///srv/shared"]

[upstreams.open]
url = "http://127.0.0.1:9/unused"

[upstreams.early]
url = "http://127.0.0.1:9/unused"
roots = []

[upstreams.late]
url = "http://127.0.0.1:9/unused"

[[rules]]
tools = ["*"]
"#,
    );
    let server = || Server::new("upstream", "1.0.0").tool(RootsTool);
    let (early_tx, mut early) = mpsc::unbounded_channel();
    let (late_tx, mut late) = mpsc::unbounded_channel();
    let g = Gateway::builder(config)
        .transport("fixed", channel(server(), alive()))
        .transport("fixedm", channel(server(), alive()))
        .transport("open", channel(server(), alive()))
        .transport("early", asks_roots_when_initialized(early_tx))
        .transport("late", asks_roots_when_initialized(late_tx))
        .start()
        .await
        .expect("the gateway starts");

    // `check` shows what each upstream is told.
    let table = g.table();
    assert!(
        table.contains(
            "upstream fixed (environment -, roots file:///srv/data file:///srv/shared): "
        ),
        "{table}"
    );
    assert!(
        table.contains("upstream early (environment -, told it has no roots): "),
        "{table}"
    );
    assert!(table.contains("upstream late (environment -): "), "{table}");

    // Outside any call: the configured roots (here none), else refused as before.
    let answer = tokio::time::timeout(SAFETY, early.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer["result"], json!({"roots": []}), "{answer}");
    let answer = tokio::time::timeout(SAFETY, late.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer["error"]["code"], -32601, "{answer}");

    // During a call, in either era of the upstream: the configured roots, and the caller is
    // never asked; without them, the caller's.
    for era in [EraChoice::Legacy, EraChoice::Modern] {
        let caller = Recorder::new().roots(vec![Root {
            uri: "file:///home/caller".into(),
            name: None,
            meta: None,
        }]);
        let c = client_with(&g, None, caller.clone(), era).await;
        for tool in ["fixed__roots", "fixedm__roots"] {
            assert_eq!(
                text_of(&c, tool, json!({})).await,
                "file:///srv/data\nfile:///srv/shared",
                "{tool}, caller {era:?}"
            );
        }
        assert!(
            !caller.seen().iter().any(|s| matches!(s, Seen::Roots)),
            "caller {era:?}: {:?}",
            caller.seen()
        );
        assert_eq!(
            text_of(&c, "open__roots", json!({})).await,
            "file:///home/caller"
        );
        assert!(caller.seen().iter().any(|s| matches!(s, Seen::Roots)));
    }
    g.close().await;
}

/// A tool answering the trace context its request carried: `traceparent tracestate`, `-` for
/// a member that is absent.
struct TraceTool;

impl ToolHandler for TraceTool {
    fn definition(&self) -> Tool {
        read_only("trace")
    }
    async fn call(&self, cx: Context, _args: JsonObject) -> mcp_server::Result<CallToolResult> {
        let member = |k: &str| {
            cx.meta()
                .0
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("-")
                .to_owned()
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "{} {}",
            member("traceparent"),
            member("tracestate")
        ))]))
    }
}

/// Calls `tool` with these `_meta` members; the text it answers.
async fn traced_call(c: &Client, tool: &str, meta: Value) -> String {
    let params = CallToolRequestParams {
        name: tool.into(),
        arguments: None,
        task: None,
        input_responses: None,
        request_state: None,
        meta: Some(serde_json::from_value(meta).unwrap()),
    };
    match c
        .request::<mcp_core::messages::CallTool>(params)
        .await
        .unwrap()
    {
        Outcome::Complete(r) => first_text(&r),
        other => panic!("{tool}: {other:?}"),
    }
}

/// A gateway fronting two upstreams made by `server`, `legacy` and `modern`, each reached in
/// that era, every tool allowed.
async fn eras_gateway(server: impl Fn() -> Server) -> Gateway {
    let config = parse(
        r#"
[upstreams.legacy]
url = "http://127.0.0.1:9/unused"
era = "legacy"

[upstreams.modern]
url = "http://127.0.0.1:9/unused"
era = "modern"

[[rules]]
tools = ["*"]
"#,
    );
    Gateway::builder(config)
        .transport("legacy", channel(server(), alive()))
        .transport("modern", channel(server(), alive()))
        .start()
        .await
        .expect("the gateway starts")
}

#[tokio::test]
async fn the_callers_trace_context_reaches_the_upstream_unchanged() {
    let g = eras_gateway(|| Server::new("upstream", "1.0.0").tool(TraceTool)).await;
    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    for era in [EraChoice::Legacy, EraChoice::Modern] {
        let c = client_with(&g, None, Recorder::new(), era).await;
        for tool in ["legacy__trace", "modern__trace"] {
            let at = format!("{tool}, caller {era:?}");
            assert_eq!(
                traced_call(
                    &c,
                    tool,
                    json!({"traceparent": PARENT, "tracestate": "acme=7"})
                )
                .await,
                format!("{PARENT} acme=7"),
                "{at}"
            );
            assert_eq!(
                traced_call(&c, tool, json!({"traceparent": PARENT})).await,
                format!("{PARENT} -"),
                "{at}"
            );
            // An invalid trace parent is not passed on, nor is its state; nor is anything
            // without one.
            let invalid = "00-00000000000000000000000000000000-00f067aa0ba902b7-01";
            assert_eq!(
                traced_call(
                    &c,
                    tool,
                    json!({"traceparent": invalid, "tracestate": "acme=7"})
                )
                .await,
                "- -",
                "{at}"
            );
            assert_eq!(
                traced_call(&c, tool, json!({"tracestate": "acme=7"})).await,
                "- -"
            );
            assert_eq!(text_of(&c, tool, json!({})).await, "- -", "{at}");
        }
    }
    g.close().await;
}

/// A tool whose result carries `_meta` of its own, and a key of the upstream's exchange.
struct MetaTool;

impl ToolHandler for MetaTool {
    fn definition(&self) -> Tool {
        read_only("priced")
    }
    async fn call(&self, _cx: Context, _args: JsonObject) -> mcp_server::Result<CallToolResult> {
        let mut r = CallToolResult::success(vec![ContentBlock::text("ok")]);
        r.meta = Some(
            mcp_core::meta::Meta::new()
                .with("com.example/cost", &3)
                .with(
                    mcp_core::meta::keys::RELATED_TASK,
                    &json!({"taskId": "up-1"}),
                ),
        );
        Ok(r)
    }
}

#[tokio::test]
async fn a_result_keeps_the_upstream_tools_meta_and_not_the_upstreams_exchange() {
    let g = eras_gateway(|| Server::new("upstream", "1.0.0").tool(MetaTool)).await;
    for era in [EraChoice::Legacy, EraChoice::Modern] {
        let c = client_with(&g, None, Recorder::new(), era).await;
        for tool in ["legacy__priced", "modern__priced"] {
            let at = format!("{tool}, caller {era:?}");
            let result = c.call_tool(tool, json!({})).await.unwrap();
            let meta = result.meta.expect("the tool's own `_meta`").0;
            assert_eq!(meta.get("com.example/cost"), Some(&json!(3)), "{at}");
            assert!(
                !meta.contains_key(mcp_core::meta::keys::RELATED_TASK),
                "{at}: {meta:?}"
            );
            // The front's own server info, in the modern era only; never the upstream's.
            let info = meta.get(mcp_core::meta::keys::SERVER_INFO);
            match era {
                EraChoice::Modern => assert_eq!(info.unwrap()["name"], "mcp-gateway", "{at}"),
                _ => assert_eq!(info, None, "{at}"),
            }
        }
    }
    g.close().await;
}

/// The instructions a caller of `config`'s gateway gets, its upstreams giving these.
async fn instructions_of(config: &str, fs: Option<&str>, web: Option<&str>) -> Option<String> {
    let with = |text: Option<&str>| {
        let s = Server::new("upstream", "1.0.0");
        match text {
            Some(t) => s.instructions(t),
            None => s,
        }
    };
    let mut builder = Gateway::builder(parse(config)).transport("fs", channel(with(fs), alive()));
    if config.contains("[upstreams.web]") {
        builder = builder.transport("web", channel(with(web), alive()));
    }
    let g = builder.start().await.expect("the gateway starts");
    let mut seen = Vec::new();
    for era in [EraChoice::Legacy, EraChoice::Modern] {
        let c = client_with(&g, None, Recorder::new(), era).await;
        seen.push(c.session().instructions);
    }
    g.close().await;
    assert_eq!(seen[0], seen[1], "both eras get the same instructions");
    seen.pop().flatten()
}

#[tokio::test]
async fn callers_get_the_gateways_instructions_and_each_upstreams() {
    let rules = "[[rules]]\ntools = [\"*\"]\n";
    let both = format!("[gateway]\ninstructions = \"Acme's tools.\"\n{UPSTREAMS}{rules}");
    assert_eq!(
        instructions_of(&both, Some("Paths are absolute."), Some("Search first.\n"))
            .await
            .as_deref(),
        Some(
            "Acme's tools.\n\n\
             ## Upstream `fs` (its tools and prompts are named `fs__<name>` here)\n\n\
             Paths are absolute.\n\n\
             ## Upstream `web` (its tools and prompts are named `web__<name>` here)\n\n\
             Search first."
        )
    );
    // An upstream without instructions adds nothing; nothing at all, no instructions.
    let plain = format!("{UPSTREAMS}{rules}");
    assert_eq!(
        instructions_of(&plain, None, Some("Search first."))
            .await
            .as_deref(),
        Some(
            "## Upstream `web` (its tools and prompts are named `web__<name>` here)\n\nSearch first."
        )
    );
    assert_eq!(instructions_of(&plain, None, None).await, None);
    // Turned off: the gateway's own only.
    let own_only = format!(
        "[gateway]\ninstructions = \"Acme's tools.\"\nupstream_instructions = false\n{UPSTREAMS}{rules}"
    );
    assert_eq!(
        instructions_of(&own_only, Some("Paths are absolute."), None)
            .await
            .as_deref(),
        Some("Acme's tools.")
    );
    // One upstream, names kept, nothing configured: its instructions as they are.
    let alone = format!("[upstreams.fs]\nurl = \"http://127.0.0.1:9/unused\"\n{rules}");
    assert_eq!(
        instructions_of(&alone, Some("Paths are absolute."), None)
            .await
            .as_deref(),
        Some("Paths are absolute.")
    );
}

/// How many changes `l` hears until none comes for `quiet`.
async fn updates_within(l: &mut mcp_client::Listener, quiet: Duration) -> usize {
    let mut n = 0;
    while let Ok(Some(_)) = tokio::time::timeout(quiet, l.next()).await {
        n += 1;
    }
    n
}

#[tokio::test]
async fn replicas_tell_each_subscriber_of_an_upstream_update_once() {
    use mcp_client::Subscription;
    // One upstream behind two replicas sharing a store (as an HTTP upstream is), a subscriber
    // on each: each replica holds its own subscription upstream and hears the update itself.
    let store = Arc::new(mcp_server::store::MemoryStore::new());
    let upstream = Server::new("notes", "1.0.0").resource(Notes);
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let g = Gateway::builder(parse(
            "[upstreams.notes]\nurl = \"http://127.0.0.1:9/unused\"\n[[rules]]\nresources = [\"*\"]\n",
        ))
        .transport("notes", channel(upstream.clone(), alive()))
        .store(store.clone())
        .start()
        .await
        .expect("the gateway starts");
        replicas.push(g);
    }
    let mut listeners = Vec::new();
    for g in &replicas {
        let c = client_with(g, None, Recorder::new(), EraChoice::Modern).await;
        let l = c
            .listen(Subscription::new().resource("notes://a"))
            .await
            .unwrap();
        listeners.push((c, l));
    }
    // Until both replicas are subscribed upstream, the upstream tells only some of them.
    tokio::time::timeout(SAFETY, async {
        let mut heard = [false, false];
        while heard != [true, true] {
            upstream.notify_resource_updated("notes://a");
            for (i, (_, l)) in listeners.iter_mut().enumerate() {
                if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(50), l.next()).await
                {
                    heard[i] = true;
                }
            }
        }
    })
    .await
    .expect("both replicas hear the upstream");
    // Quiet, then one update: once to each.
    for (_, l) in &mut listeners {
        updates_within(l, Duration::from_millis(300)).await;
    }
    upstream.notify_resource_updated("notes://a");
    for (i, (_, l)) in listeners.iter_mut().enumerate() {
        let heard = updates_within(l, Duration::from_millis(300)).await;
        assert_eq!(heard, 1, "the subscriber of replica {i}");
    }
    for g in replicas {
        g.close().await;
    }
}

#[tokio::test]
async fn a_filter_scoped_to_an_upstream_matches_the_names_items_have_there() {
    // The same rule under both namings: by the upstream's own tool name.
    for naming in ["prefixed", "kept"] {
        let config = parse(&format!(
            "[gateway]\nnaming = \"{naming}\"\n{UPSTREAMS}\n[[rules]]\ntools = [\"*\"]\napproval = \"none\"\n\n\
             [[filters]]\nname = \"arg\"\nregex = \"secret\"\naction = \"redact\"\nupstreams = [\"fs\"]\ntools = [\"read_*\"]\n\n\
             [[filters]]\nname = \"none\"\nregex = \"x\"\naction = \"redact\"\nupstreams = [\"web\"]\ntools = [\"read_file\"]\n"
        ));
        let g = fs_and_web(config, &[("read_file", true)], &[("read_page", true)]).await;
        let c = client(&g, None).await;
        let (fs, web) = match naming {
            "kept" => ("read_file", "read_page"),
            _ => ("fs__read_file", "web__read_page"),
        };
        assert_eq!(
            text_of(&c, fs, json!({"a": "secret"})).await,
            "read_file {\"a\":\"[redacted:arg]\"}",
            "{naming}"
        );
        // Another upstream's tool of a matching name is not the rule's.
        assert_eq!(
            text_of(&c, web, json!({"a": "secret"})).await,
            "read_page {\"a\":\"secret\"}",
            "{naming}"
        );
        // `check` sees that it applies, and that the second applies to nothing.
        let table = g.table();
        assert!(!table.contains("filters[0]"), "{naming}: {table}");
        assert!(
            table.contains("warning: filters[1] (none) applies to no served item"),
            "{naming}: {table}"
        );
        g.close().await;
    }
}

#[tokio::test]
async fn the_check_table_warns_of_tool_names_clients_drop_or_refuse() {
    const LONG: &str = "summarize_every_open_ticket_of_the_quarter_by_customer_tiers";
    let config = parse(&format!("{UPSTREAMS}\n[[rules]]\ntools = [\"*\"]\n"));
    let g = fs_and_web(
        config,
        &[("read.file", true), ("ok", true)],
        &[(LONG, true)],
    )
    .await;
    let table = g.table();
    let warned: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("warning: tool"))
        .collect();
    assert_eq!(
        warned,
        [
            "warning: tool `fs__read.file` has characters other than letters, digits, `_` and `-`: some clients refuse it",
            &format!(
                "warning: tool `web__{LONG}` is 65 characters long: some clients drop names over 64 (a shorter separator or upstream name shortens it)"
            ),
        ],
        "{table}"
    );
    g.close().await;
}
