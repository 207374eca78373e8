//! Typed calls against our own server in process, in both eras: `#[tool]` markers as contracts,
//! contracts declared apart (`tool_contract!`) and their drift, `#[client]` traits, and
//! `Client::listen`.

use std::time::Duration;

use mcp_client::{Change, Client, EraChoice, Error, Subscription, ToolContract, Transport};
use mcp_server::Server;
use serde::{Deserialize, Serialize};

/// Summary statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub(crate) struct Stats {
    pub count: u32,
    pub mean: f64,
}

/// Adds two numbers.
#[mcp_server::tool]
pub(crate) async fn add(a: f64, b: f64) -> f64 {
    a + b
}

/// Statistics of some values.
#[mcp_server::tool(marker = StatsTool)]
pub(crate) fn stats(cx: mcp_server::Context, values: Vec<f64>) -> Result<Stats, mcp_server::Error> {
    let _ = cx;
    if values.is_empty() {
        return Err(mcp_server::Error::public("no values"));
    }
    Ok(Stats {
        count: values.len() as u32,
        mean: values.iter().sum::<f64>() / values.len() as f64,
    })
}

/// Greets someone, in text.
#[mcp_server::tool(name = "greet")]
pub(crate) fn hello(#[arg(rename = "who")] name: String) -> String {
    format!("hello {name}")
}

/// Implements a contract declared apart: the compiler checks that they agree.
#[mcp_server::tool(contract = contracts::AddTwiceContract)]
fn add_twice(#[args] args: contracts::AddArgs) -> f64 {
    2.0 * (args.a + args.b)
}

#[mcp_server::resource("file:///notes.txt")]
fn notes() -> String {
    "notes".into()
}

fn server() -> Server {
    Server::new("typed", "1.0.0")
        .tool(Add)
        .tool(StatsTool)
        .tool(Hello)
        .tool(AddTwice)
        .resource(Notes)
}

fn in_process(server: Server) -> Transport {
    let (client_w, server_r) = tokio::io::duplex(1 << 16);
    let (server_w, client_r) = tokio::io::duplex(1 << 16);
    tokio::spawn(server.serve_io(server_r, server_w));
    Transport::from_io(client_r, client_w)
}

async fn connect(era: EraChoice) -> (Client, Server) {
    let srv = server();
    let client = Client::builder()
        .era(era)
        .connect(in_process(srv.clone()))
        .await
        .unwrap();
    (client, srv)
}

const ERAS: [EraChoice; 2] = [EraChoice::Legacy, EraChoice::Modern];

#[tokio::test]
async fn tool_markers_are_contracts_in_both_eras() {
    assert_eq!(Add::NAME, "add");
    assert_eq!(StatsTool::NAME, "stats");
    assert!(Add::output_wrapped());
    assert!(!StatsTool::output_wrapped());
    for era in ERAS {
        let (client, _) = connect(era).await;
        let sum: f64 = client.call(Add, AddInput { a: 1.0, b: 2.0 }).await.unwrap();
        assert_eq!(sum, 3.0, "{era:?}");
        let stats = client
            .call(
                StatsTool,
                StatsToolInput {
                    values: vec![1.0, 2.0, 6.0],
                },
            )
            .await
            .unwrap();
        assert_eq!(
            stats,
            Stats {
                count: 3,
                mean: 3.0
            },
            "{era:?}"
        );
        // A renamed argument keeps its wire name; a text output decodes as a string.
        let text = client
            .call(Hello, HelloInput { name: "Ada".into() })
            .await
            .unwrap();
        assert_eq!(text, "hello Ada", "{era:?}");
        // A tool error is its own variant, with the text.
        let err = client
            .call(StatsTool, StatsToolInput { values: vec![] })
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Tool { tool, message } if tool == "stats" && message.contains("no values")),
            "{era:?}: {err}"
        );
    }
}

/// What a client crate declares, apart from the server.
#[allow(dead_code)]
mod contracts {
    use super::*;

    #[derive(Serialize, schemars::JsonSchema)]
    pub(crate) struct StatsArgs {
        pub values: Vec<f64>,
    }

    /// `count` became a string.
    #[derive(Debug, Deserialize, schemars::JsonSchema)]
    pub(crate) struct StringCount {
        pub count: String,
        pub mean: f64,
    }

    /// Expects a property the server does not have.
    #[derive(Debug, Deserialize, schemars::JsonSchema)]
    pub(crate) struct WithMedian {
        pub count: u32,
        pub median: f64,
    }

    /// Only part of the output: compatible.
    #[derive(Debug, Deserialize, schemars::JsonSchema)]
    pub(crate) struct JustMean {
        pub mean: f64,
    }

    #[derive(Serialize, Deserialize, schemars::JsonSchema)]
    pub(crate) struct AddArgs {
        pub a: f64,
        pub b: f64,
    }

    mcp_client::mcp_core::tool_contract! {
        /// `stats`, as an old client knew it.
        pub(crate) struct StatsAsStrings = "stats" (StatsArgs) -> StringCount;
        /// `stats`, as a newer server might answer.
        pub(crate) struct StatsWithMedian = "stats" (StatsArgs) -> WithMedian;
        /// The part of `stats` this client needs.
        pub(crate) struct StatsMean = "stats" (StatsArgs) -> JustMean;
        /// `add` returning an integer: the server's number may not be one.
        pub(crate) struct AddInt = "add" (AddArgs) -> i64;
        /// `add`, declared apart from the server.
        pub(crate) struct AddApart = "add" (AddArgs) -> f64;
        /// A tool the server does not have.
        pub(crate) struct Missing = "missing" (AddArgs) -> f64;
        /// What `add_twice` implements, declared before it.
        pub(crate) struct AddTwiceContract = "add_twice" (AddArgs) -> f64;
    }
}

#[tokio::test]
async fn contracts_declared_apart_report_drift() {
    use contracts::*;
    let (client, _) = connect(EraChoice::Auto).await;
    let args = || StatsArgs {
        values: vec![2.0, 4.0],
    };

    let err = client.call(StatsAsStrings, args()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the output schema of `stats` on the server drifted from the contract: at `/count`: the contract expects `string`, the server declares `integer`"
    );
    let err = client.call(StatsWithMedian, args()).await.unwrap_err();
    assert!(
        matches!(&err, Error::SchemaDrift { tool, drift } if tool == "stats" && drift.path == "/median"),
        "{err}"
    );
    assert!(err.to_string().contains("does not declare it"), "{err}");
    // The verdict is kept: the same error again, without listing again.
    let again = client.call(StatsWithMedian, args()).await.unwrap_err();
    assert_eq!(again.to_string(), err.to_string());

    // The tool implementing the contract, called through the contract and through its marker.
    let twice = client
        .call(AddTwiceContract, AddArgs { a: 1.0, b: 2.0 })
        .await
        .unwrap();
    assert_eq!(twice, 6.0);
    let twice = client
        .call(AddTwice, AddArgs { a: 2.0, b: 2.0 })
        .await
        .unwrap();
    assert_eq!(twice, 8.0);

    let mean = client.call(StatsMean, args()).await.unwrap();
    assert_eq!(mean.mean, 3.0);
    let sum = client
        .call(AddApart, AddArgs { a: 0.5, b: 2.0 })
        .await
        .unwrap();
    assert_eq!(sum, 2.5);
    let err = client
        .call(AddInt, AddArgs { a: 1.0, b: 1.0 })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::SchemaDrift { drift, .. } if drift.path == "/result"),
        "{err}"
    );
    let err = client
        .call(Missing, AddArgs { a: 1.0, b: 1.0 })
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the output schema of `missing` on the server drifted from the contract: the server lists no tool of that name"
    );
}

/// Reports each change of the server's tool list.
struct ToolsChanged(tokio::sync::mpsc::UnboundedSender<()>);

impl mcp_client::ClientHandler for ToolsChanged {
    fn on_change(&self, change: Change) {
        if change == Change::Tools {
            let _ = self.0.send(());
        }
    }
}

#[tokio::test]
async fn the_verdict_is_forgotten_when_the_tools_change() {
    use contracts::*;
    let srv = server();
    let (changed, mut changes) = tokio::sync::mpsc::unbounded_channel();
    let client = Client::builder()
        .era(EraChoice::Legacy)
        .handler(ToolsChanged(changed))
        .connect(in_process(srv.clone()))
        .await
        .unwrap();
    let sum = client
        .call(AddApart, AddArgs { a: 1.0, b: 1.0 })
        .await
        .unwrap();
    assert_eq!(sum, 2.0);
    srv.remove_tool("add");
    tokio::time::timeout(Duration::from_secs(10), changes.recv())
        .await
        .expect("the client hears that the tools changed");
    let verdict = client
        .call(AddApart, AddArgs { a: 1.0, b: 1.0 })
        .await
        .expect_err("the removed tool is noticed");
    assert!(
        verdict.to_string().contains("no tool of that name"),
        "{verdict}"
    );
}

#[mcp_client::client]
pub(crate) trait Calc {
    /// `add`.
    async fn add(&self, a: f64, b: f64) -> mcp_client::Result<f64>;
    /// `stats`, with the output type of the server.
    async fn stats(&self, values: Vec<f64>) -> mcp_client::Result<Stats>;
    /// `greet` under another name, with a borrowed, renamed argument.
    #[tool(name = "greet")]
    async fn hello(&self, #[arg(rename = "who")] name: &str) -> mcp_client::Result<String>;
    /// `stats` with a drifted output type.
    #[tool(name = "stats")]
    async fn stats_as_strings(&self, values: Vec<f64>) -> Result<contracts::StringCount, MyError>;
}

/// An error type of the application's own.
#[derive(Debug)]
pub(crate) struct MyError(Error);

impl From<Error> for MyError {
    fn from(e: Error) -> Self {
        MyError(e)
    }
}

#[tokio::test]
async fn client_traits_call_tools_in_both_eras() {
    for era in ERAS {
        let (client, _) = connect(era).await;
        assert_eq!(client.add(2.0, 3.5).await.unwrap(), 5.5, "{era:?}");
        assert_eq!(
            client.stats(vec![1.0, 3.0]).await.unwrap(),
            Stats {
                count: 2,
                mean: 2.0
            }
        );
        assert_eq!(client.hello("Bob").await.unwrap(), "hello Bob");
        let err = client.stats(vec![]).await.unwrap_err();
        assert!(matches!(err, Error::Tool { .. }), "{err}");
        let MyError(err) = client.stats_as_strings(vec![1.0]).await.unwrap_err();
        assert!(
            matches!(&err, Error::SchemaDrift { drift, .. } if drift.path == "/count"),
            "{err}"
        );
        // The futures are `Send`: they can be spawned.
        let spawned = tokio::spawn({
            let client = client.clone();
            async move { client.add(1.0, 1.0).await }
        });
        assert_eq!(spawned.await.unwrap().unwrap(), 2.0);
    }
}

async fn next_change(listener: &mut mcp_client::Listener) -> Change {
    tokio::time::timeout(Duration::from_secs(10), listener.next())
        .await
        .expect("a change within 10 s")
        .expect("the stream is open")
}

#[tokio::test]
async fn listen_yields_changes_in_both_eras() {
    for era in ERAS {
        let (client, srv) = connect(era).await;
        let mut listener = client
            .listen(Subscription::new().tools().resource("file:///notes.txt"))
            .await
            .unwrap();
        // Not subscribed: not yielded.
        srv.notify_resource_updated("file:///other.txt");
        srv.notify_resource_updated("file:///notes.txt");
        assert_eq!(
            next_change(&mut listener).await,
            Change::Resource("file:///notes.txt".into()),
            "{era:?}"
        );
        srv.remove_tool("greet");
        assert_eq!(next_change(&mut listener).await, Change::Tools, "{era:?}");

        // Two listeners each see their own subscription's events, once.
        let mut tools_only = client.listen(Subscription::new().tools()).await.unwrap();
        srv.remove_tool("add");
        assert_eq!(next_change(&mut listener).await, Change::Tools);
        assert_eq!(next_change(&mut tools_only).await, Change::Tools);
        srv.notify_resource_updated("file:///notes.txt");
        assert_eq!(
            next_change(&mut listener).await,
            Change::Resource("file:///notes.txt".into())
        );
        drop(tools_only);
        drop(listener);
        // The connection still works after the subscriptions ended.
        let stats = client.stats(vec![5.0]).await.unwrap();
        assert_eq!(stats.count, 1);
    }
}

/// Searches products; says what it received.
#[mcp_server::tool]
pub(crate) fn search(query: String, aisle: Option<String>, limit: Option<u32>) -> String {
    format!("query={query} aisle={aisle:?} limit={limit:?}")
}

#[mcp_client::client]
pub(crate) trait Shop {
    /// `search`, with optional arguments.
    async fn search(
        &self,
        query: String,
        aisle: Option<String>,
        limit: Option<u32>,
    ) -> mcp_client::Result<String>;
}

#[tokio::test]
async fn typed_call_with_none_is_served_by_the_same_tool() {
    // `None` is left out of the arguments, as the tool's schema says (not required).
    let input = SearchInput {
        query: "milk".into(),
        aisle: None,
        limit: Some(3),
    };
    assert_eq!(
        serde_json::to_value(&input).unwrap(),
        serde_json::json!({"query": "milk", "limit": 3})
    );
    for era in ERAS {
        let server = Server::new("shop", "1.0.0").tool(Search);
        let client = Client::builder()
            .era(era)
            .connect(in_process(server))
            .await
            .unwrap();
        let text = client
            .call(
                Search,
                SearchInput {
                    query: "milk".into(),
                    aisle: None,
                    limit: None,
                },
            )
            .await
            .unwrap();
        assert_eq!(text, "query=milk aisle=None limit=None", "{era:?}");
        let text = client.search("tea".into(), None, Some(2)).await.unwrap();
        assert_eq!(text, "query=tea aisle=None limit=Some(2)", "{era:?}");
        // A good call with every argument is still served.
        let text = client
            .call(
                Search,
                SearchInput {
                    query: "oat".into(),
                    aisle: Some("dairy".into()),
                    limit: Some(1),
                },
            )
            .await
            .unwrap();
        assert_eq!(
            text, "query=oat aisle=Some(\"dairy\") limit=Some(1)",
            "{era:?}"
        );
    }
}
