//! SECURITY.md: "`null` sent for an optional argument | treated as absent; `null` for a required
//! one names the argument". Model clients, and strict function-calling modes of every provider,
//! send `"limit": null` for an optional `limit`; the server treats it as absent at every depth,
//! validating or not, and keeps a `null` where the schema itself admits one.

use mcp_server::validate::{SchemaValidator, Subject};
use mcp_server::{Server, ServerOptions, tool};
use serde_json::{Value, json};

use crate::support::Client;

/// Filters of a search.
#[derive(Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
struct Filters {
    /// At most this many.
    max: Option<u32>,
    /// Only this aisle.
    aisle: Option<String>,
    /// Kept products only.
    #[serde(default)]
    in_stock: bool,
}

/// A line of a shopping list.
#[derive(Debug, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
struct Line {
    name: String,
    qty: Option<u32>,
}

/// Searches products; echoes what it received, as the handler saw it.
#[tool]
fn search(
    query: String,
    limit: Option<u32>,
    filters: Option<Filters>,
    #[arg(default)] lines: Vec<Line>,
) -> String {
    format!("query={query} limit={limit:?} filters={filters:?} lines={lines:?}")
}

/// The same, with the schema as schemars writes it: `Option` admits `null` there.
#[tool(raw_schema)]
fn search_raw(query: String, limit: Option<u32>) -> String {
    format!("query={query} limit={limit:?}")
}

/// What a search found: `best` is `None` when nothing matched.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
struct Found {
    count: u32,
    best: Option<Line>,
}

/// Finds the best line for a query; an optional output field serialized as `null` when absent.
#[tool]
fn find(query: String) -> Found {
    Found {
        count: u32::from(query == "tea"),
        best: (query == "tea").then(|| Line {
            name: "tea".into(),
            qty: None,
        }),
    }
}

fn server(validate: bool) -> Server {
    Server::new("nulls", "1.0.0")
        .options(ServerOptions {
            validate,
            ..ServerOptions::default()
        })
        .tool(Search)
        .tool(SearchRaw)
        .tool(Find)
}

async fn call(c: &mut Client, id: i64, name: &str, arguments: Value) -> Value {
    let r = c
        .call(
            id,
            "tools/call",
            json!({"name": name, "arguments": arguments}),
        )
        .await;
    r["result"].clone()
}

fn text(result: &Value) -> &str {
    result["content"][0]["text"]
        .as_str()
        .expect("a text result")
}

async fn started(validate: bool) -> Client {
    let mut c = Client::start(server(validate));
    c.initialize("2025-06-18", json!({})).await;
    c
}

/// A good request, served.
async fn still_served(c: &mut Client, id: i64) {
    let r = call(c, id, "search", json!({"query": "tea", "limit": 2})).await;
    assert_eq!(r.get("isError"), None, "{r}");
    assert_eq!(
        text(&r),
        "query=tea limit=Some(2) filters=None lines=[]",
        "{r}"
    );
}

#[tokio::test]
async fn null_for_optional_argument_is_absent() {
    for validate in [true, false] {
        let mut c = started(validate).await;
        let r = call(
            &mut c,
            1,
            "search",
            json!({"query": "milk", "limit": null, "filters": null, "lines": null}),
        )
        .await;
        assert_eq!(r.get("isError"), None, "{r}");
        assert_eq!(
            text(&r),
            "query=milk limit=None filters=None lines=[]",
            "validate={validate}"
        );
        still_served(&mut c, 2).await;
    }
}

#[tokio::test]
async fn null_for_required_argument_names_it() {
    let mut c = started(true).await;
    let r = call(&mut c, 1, "search", json!({"query": null, "limit": null})).await;
    assert_eq!(r["isError"], json!(true), "{r}");
    assert_eq!(
        text(&r),
        r#"invalid argument `query`: null is not of type "string""#
    );
    still_served(&mut c, 2).await;

    // Without validation, the handler's deserialization names it.
    let mut c = started(false).await;
    let r = call(&mut c, 1, "search", json!({"query": null})).await;
    assert_eq!(r["isError"], json!(true), "{r}");
    assert_eq!(
        text(&r),
        "invalid argument `query`: invalid type: null, expected a string"
    );
    still_served(&mut c, 2).await;
}

#[tokio::test]
async fn null_for_optional_nested_property_is_absent() {
    for validate in [true, false] {
        let mut c = started(validate).await;
        let r = call(
            &mut c,
            1,
            "search",
            json!({
                "query": "milk",
                "filters": {"max": null, "aisle": null, "in_stock": null},
                "lines": [{"name": "oat", "qty": null}, {"name": "soy", "qty": 2}]
            }),
        )
        .await;
        assert_eq!(r.get("isError"), None, "{r}");
        assert_eq!(
            text(&r),
            "query=milk limit=None filters=Some(Filters { max: None, aisle: None, in_stock: false }) \
             lines=[Line { name: \"oat\", qty: None }, Line { name: \"soy\", qty: Some(2) }]",
            "validate={validate}"
        );
        still_served(&mut c, 2).await;
    }
}

#[tokio::test]
async fn null_for_required_nested_property_names_it() {
    let mut c = started(true).await;
    let r = call(
        &mut c,
        1,
        "search",
        json!({"query": "milk", "lines": [{"name": "oat"}, {"name": null, "qty": null}]}),
    )
    .await;
    assert_eq!(r["isError"], json!(true), "{r}");
    assert_eq!(
        text(&r),
        r#"invalid argument `lines[1].name`: null is not of type "string""#
    );
    still_served(&mut c, 2).await;
}

#[tokio::test]
async fn null_where_the_schema_admits_null_is_kept() {
    let mut c = started(true).await;
    // `raw_schema` keeps `"type": ["integer", "null"]`: the null is valid as it is, and reaches
    // the handler (as `None`).
    let r = call(
        &mut c,
        1,
        "search_raw",
        json!({"query": "milk", "limit": null}),
    )
    .await;
    assert_eq!(r.get("isError"), None, "{r}");
    assert_eq!(text(&r), "query=milk limit=None");
    still_served(&mut c, 2).await;
}

fn validator(schema: Value) -> SchemaValidator {
    SchemaValidator::new(&schema, Subject::Arguments).unwrap()
}

#[test]
fn nulls_are_removed_only_where_they_mean_absent() {
    let v = validator(json!({
        "type": "object",
        "properties": {
            "q": {"type": "string"},
            "limit": {"type": "integer"},
            "nullable": {"type": ["integer", "null"]},
            "either": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "anything": {},
            "must": {"type": ["string", "null"]},
            "map": {"type": "object", "additionalProperties": {"$ref": "#/$defs/Item"}},
            "grid": {"type": "array", "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}}}
        },
        "required": ["q", "must"],
        "$defs": {
            "Item": {"type": "object", "properties": {"n": {"type": "integer"}, "k": {"type": "string"}}, "required": ["k"]}
        }
    }));
    let mut args = json!({
        "q": null, "limit": null, "nullable": null, "either": null, "anything": null, "must": null,
        "map": {"a": {"n": null, "k": null}},
        "grid": [[{"n": null, "k": "x"}], [null]]
    });
    assert_eq!(v.remove_absent_nulls(&mut args), 3);
    assert_eq!(
        args,
        json!({
            "q": null, "nullable": null, "either": null, "anything": null, "must": null,
            "map": {"a": {"k": null}},
            "grid": [[{"k": "x"}], [null]]
        })
    );
    // Nothing to remove: nothing changes.
    let mut clean = json!({"q": "x", "must": "y", "map": {"a": {"k": "z"}}});
    let before = clean.clone();
    assert_eq!(v.remove_absent_nulls(&mut clean), 0);
    assert_eq!(clean, before);
}

#[test]
fn nulls_are_removed_in_recursive_schemas() {
    let v = validator(json!({
        "type": "object",
        "properties": {"tree": {"$ref": "#/$defs/Node"}},
        "required": ["tree"],
        "$defs": {"Node": {"type": "object", "properties": {
            "label": {"type": "string"},
            "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}
        }}}
    }));
    let mut args = json!({"tree": {"label": null, "children": [
        {"label": "a", "children": null},
        {"children": [{"label": null}]}
    ]}});
    assert_eq!(v.remove_absent_nulls(&mut args), 3);
    assert_eq!(
        args,
        json!({"tree": {"children": [{"label": "a"}, {"children": [{}]}]}})
    );
    assert!(v.is_valid(&args));
}

#[test]
fn structured_output_nulls_of_optional_fields_stand_for_absent_too() {
    let v = SchemaValidator::new(
        &json!({"type": "object", "properties": {
            "n": {"type": "integer"},
            "m": {"type": ["integer", "null"]},
            "k": {"type": "integer"}
        }, "required": ["k"]}),
        Subject::StructuredContent,
    )
    .unwrap();
    let mut out = json!({"n": null, "m": null, "k": null});
    assert_eq!(v.remove_absent_nulls(&mut out), 1);
    assert_eq!(out, json!({"m": null, "k": null}));
}

#[tokio::test]
async fn none_in_structured_output_is_left_out_not_refused() {
    for validate in [true, false] {
        let mut c = started(validate).await;
        // `best: None` and, nested, `qty: None`: optional, not nullable in the output schema.
        let r = call(&mut c, 1, "find", json!({"query": "coffee"})).await;
        assert_eq!(r.get("isError"), None, "{r}");
        assert_eq!(
            r["structuredContent"],
            json!({"count": 0}),
            "validate={validate}"
        );
        let r = call(&mut c, 2, "find", json!({"query": "tea"})).await;
        assert_eq!(
            r["structuredContent"],
            json!({"count": 1, "best": {"name": "tea"}}),
            "validate={validate}"
        );
        still_served(&mut c, 3).await;
    }
}
