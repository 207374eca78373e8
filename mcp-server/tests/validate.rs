//! `mcp_server::validate`: tool arguments and structured output against their schemas, and the
//! SECURITY.md rows about schemas: a field-naming error for bad arguments, a `(a+)+$` pattern
//! against 50k characters, `$ref` to `http://169.254.169.254/` or `file:` (rejected, no I/O),
//! and schemas nested too deep.

use std::io::ErrorKind;
use std::net::TcpListener;

use mcp_server::types::Tool;
use mcp_server::validate::{
    SchemaCompiler, SchemaError, SchemaOptions, SchemaValidator, Subject, ValidationFailure,
};
use serde_json::{Value, json};

fn object(v: Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

fn search_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "a": { "type": "number" },
            "b": { "type": "number" },
            "mode": { "enum": ["fast", "exact"] },
            "password": { "type": "string", "minLength": 12 },
            "filters": {
                "type": "object",
                "properties": {
                    "limit": { "type": "integer", "minimum": 1, "maximum": 100 },
                    "since": { "type": "string", "format": "date-time" }
                },
                "additionalProperties": false
            },
            "tags": { "type": "array", "items": { "type": "string", "pattern": "^[a-z]+$" } }
        },
        "required": ["a", "b"],
        "additionalProperties": false
    })
}

fn arguments() -> SchemaValidator {
    SchemaValidator::new(&search_schema(), Subject::Arguments).unwrap()
}

fn fail(validator: &SchemaValidator, instance: Value) -> ValidationFailure {
    validator
        .validate(&instance)
        .expect_err("the instance should not validate")
}

#[test]
fn good_arguments_pass() {
    let v = arguments();
    for good in [
        json!({"a": 1, "b": 2.5}),
        json!({"a": 1, "b": 2, "mode": "fast", "tags": ["x", "yz"]}),
        json!({"a": 1, "b": 2, "filters": {"limit": 100, "since": "2026-01-01T00:00:00Z"}}),
    ] {
        assert_eq!(v.validate(&good), Ok(()), "{good}");
        assert!(v.is_valid(&good));
    }
}

#[test]
fn bad_arguments_name_the_field() {
    let v = arguments();
    let f = fail(&v, json!({"a": 1, "b": "x"}));
    assert_eq!(
        f.to_string(),
        r#"invalid argument `b`: "x" is not of type "number""#
    );
    assert_eq!(f.errors()[0].pointer, "/b");
    assert_eq!(f.errors()[0].keyword, "type");

    let f = fail(&v, json!({"a": 1, "b": 2, "filters": {"limit": 0}}));
    assert_eq!(f.errors()[0].field, "filters.limit");
    assert_eq!(f.errors()[0].pointer, "/filters/limit");
    assert!(
        f.to_string()
            .starts_with("invalid argument `filters.limit`: "),
        "{f}"
    );

    let f = fail(&v, json!({"a": 1, "b": 2, "tags": ["ok", "NO"]}));
    assert_eq!(f.errors()[0].field, "tags[1]");

    let f = fail(&v, json!({"a": 1}));
    assert_eq!(f.errors()[0].field, "b");
    assert_eq!(f.errors()[0].keyword, "required");

    let f = fail(&v, json!({"a": 1, "b": 2, "extra": true}));
    assert_eq!(f.errors()[0].field, "extra");
}

#[test]
fn failures_report_a_few_errors_and_count_the_rest() {
    let v = arguments();
    let f = fail(
        &v,
        json!({"a": "1", "b": "2", "mode": "slow", "tags": [1, 2, 3], "x": 1, "y": 2}),
    );
    assert_eq!(f.errors().len(), 5);
    assert!(f.total() > 5, "{}", f.total());
    assert!(
        f.to_string()
            .ends_with(&format!("; and {} more errors", f.total() - 5))
    );

    let one = SchemaValidator::with_options(
        &search_schema(),
        Subject::Arguments,
        &SchemaOptions::new().max_errors(1),
    )
    .unwrap();
    let f = fail(&one, json!({"a": "1", "b": "2"}));
    assert_eq!(f.errors().len(), 1);
    assert_eq!(f.total(), 2);
}

#[test]
fn sensitive_values_can_be_left_out() {
    let v = arguments();
    let f = fail(&v, json!({"a": 1, "b": 2, "password": "hunter2"}));
    assert!(f.to_string().contains("hunter2"), "{f}");
    let redacted = f.redacted(&["password"]);
    assert!(!redacted.to_string().contains("hunter2"), "{redacted}");
    assert!(
        redacted
            .to_string()
            .starts_with("invalid argument `password`: ")
    );
}

#[test]
fn error_messages() {
    let v = arguments();
    let out = SchemaValidator::new(
        &json!({"type": "object", "properties": {"total": {"type": "integer"}}, "required": ["total"]}),
        Subject::StructuredContent,
    )
    .unwrap();
    let messages: Vec<String> = [
        fail(&v, json!({"a": 1, "b": "x"})),
        fail(&v, json!({"a": 1})),
        fail(&v, json!({"a": 1, "b": 2, "c": 3})),
        fail(
            &v,
            json!({"a": 1, "b": 2, "filters": {"limit": 1000, "since": "yesterday"}}),
        ),
        fail(&v, json!({"a": 1, "b": 2, "mode": "slow"})),
        fail(&v, json!({"a": 1, "b": 2, "tags": ["ok", "Not OK"]})),
        fail(&v, json!({"a": 1, "b": "x".repeat(200)})),
        fail(&v, json!([1, 2])),
        fail(
            &v,
            json!({"a": "1", "b": "2", "c": 3, "d": 4, "e": 5, "f": 6}),
        ),
        fail(&out, json!({"total": "12"})),
        fail(&out, json!({})),
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    insta::assert_json_snapshot!("validation_messages", messages);
}

#[test]
fn catastrophic_patterns_run_in_linear_time() {
    // With a backtracking engine, each extra character doubles the work: 50k characters would
    // not finish. The linear-time engine answers at once (no wall-clock assertion: finishing is
    // the point).
    let schema = json!({
        "type": "object",
        "properties": { "s": { "type": "string", "pattern": "^(a+)+$" } },
        "patternProperties": { "^(x+x+)+y$": { "type": "string" } }
    });
    let v = SchemaValidator::new(&schema, Subject::Arguments).unwrap();
    let evil = format!("{}!", "a".repeat(50_000));
    let f = fail(&v, json!({ "s": evil }));
    assert_eq!(f.errors()[0].field, "s");
    assert_eq!(f.errors()[0].keyword, "pattern");
    assert!(v.is_valid(&json!({ "s": "a".repeat(50_000) })));
    let key = format!("{}z", "x".repeat(50_000));
    assert!(v.is_valid(&json!({ key: 1 })));
}

#[test]
fn backtracking_only_regex_features_are_refused_at_compile_time() {
    for pattern in ["^(?=a)a$", r"^(a)\1$"] {
        let err = SchemaValidator::new(
            &json!({"type": "string", "pattern": pattern}),
            Subject::Arguments,
        )
        .unwrap_err();
        assert!(
            matches!(err, SchemaError::Invalid { .. }),
            "{pattern}: {err}"
        );
    }
}

#[test]
fn external_references_are_refused_without_io() {
    // A listener that would see any connection attempt.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    // A file that is a valid schema: had it been read, compiling would succeed.
    let dir = std::env::temp_dir().join(format!("mcp-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("string.json");
    std::fs::write(&file, r#"{"type": "string"}"#).unwrap();
    let file_uri = format!("file://{}", file.display());

    let schemas = [
        json!({"$ref": format!("http://127.0.0.1:{port}/schema.json")}),
        json!({"type": "object", "properties": {"a": {"$ref": format!("http://127.0.0.1:{port}/a.json#/x")}}}),
        json!({"$schema": format!("http://127.0.0.1:{port}/meta.json"), "type": "object"}),
        json!({"$defs": {"x": {"$ref": format!("https://127.0.0.1:{port}/x")}}, "$ref": "#/$defs/x"}),
        json!({"$ref": "http://169.254.169.254/latest/meta-data/"}),
        json!({"$ref": "file:///etc/passwd"}),
        json!({"$ref": file_uri}),
        json!({"$id": format!("http://127.0.0.1:{port}/root.json"), "$ref": "other.json"}),
        json!({"$ref": "other.json"}),
        json!({"$ref": "urn:example:other"}),
    ];
    for schema in &schemas {
        let err = SchemaValidator::new(schema, Subject::Arguments)
            .expect_err(&format!("{schema} should not compile"));
        assert!(
            matches!(err, SchemaError::Invalid { .. }),
            "{schema}: {err}"
        );
        let compiler = SchemaCompiler::default();
        assert!(compiler.compile(schema, Subject::Arguments).is_err());
    }
    let err = SchemaValidator::new(&schemas[4], Subject::Arguments).unwrap_err();
    assert!(
        err.to_string()
            .contains("external references are not resolved"),
        "{err}"
    );
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Err(e) => panic!("unexpected listener error: {e}"),
        Ok((_, peer)) => panic!("the validator connected to the listener (from {peer})"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn internal_references_still_work() {
    let schema = json!({
        "$id": "https://example.com/tools/search",
        "type": "object",
        "properties": { "point": { "$ref": "#/$defs/point" }, "again": { "$ref": "search#/$defs/point" } },
        "$defs": { "point": { "type": "object", "required": ["x"], "properties": { "x": { "type": "number" } } } }
    });
    let v = SchemaValidator::new(&schema, Subject::Arguments).unwrap();
    assert!(v.is_valid(&json!({"point": {"x": 1}, "again": {"x": 2}})));
    let f = fail(&v, json!({"point": {"x": "1"}}));
    assert_eq!(f.errors()[0].field, "point.x");
    let f = fail(&v, json!({"again": {}}));
    assert_eq!(f.errors()[0].field, "again.x");
}

fn nested(levels: usize) -> Value {
    let mut schema = json!({"type": "string"});
    for _ in 0..levels {
        schema = json!({"type": "object", "properties": {"a": schema}});
    }
    schema
}

#[test]
fn deep_schemas_are_refused_before_compiling() {
    // `nested(n)` is 2n + 1 JSON levels deep (each schema and its `properties`). Far deeper
    // values are not built here: dropping a `Value` recurses, and a debug build's frames would
    // overflow a test thread's stack.
    assert!(SchemaValidator::new(&nested(31), Subject::Arguments).is_ok());
    let err = SchemaValidator::new(&nested(32), Subject::Arguments).unwrap_err();
    assert_eq!(err, SchemaError::TooDeep { limit: 64 });
    assert_eq!(
        err.to_string(),
        "the schema is nested deeper than 64 levels"
    );
    assert!(
        SchemaCompiler::default()
            .compile(&nested(200), Subject::Arguments)
            .is_err()
    );
    let shallow = SchemaOptions::new().max_depth(4);
    assert!(SchemaValidator::with_options(&nested(1), Subject::Arguments, &shallow).is_ok());
    assert!(SchemaValidator::with_options(&nested(2), Subject::Arguments, &shallow).is_err());
}

#[test]
fn invalid_schemas_have_clear_errors() {
    let err = SchemaValidator::new(
        &json!({"type": "object", "properties": {"a": {"type": "strnig"}}}),
        Subject::Arguments,
    )
    .unwrap_err();
    let SchemaError::Invalid { location, message } = &err else {
        panic!("{err}");
    };
    assert!(location.contains("properties"), "{location}");
    assert!(message.contains("strnig"), "{message}");
    assert!(err.to_string().starts_with("invalid schema at `"), "{err}");
}

#[test]
fn draft_2020_12_is_the_default_and_formats_are_checked() {
    let v = SchemaValidator::new(
        &json!({"type": "array", "prefixItems": [{"type": "integer"}], "items": false}),
        Subject::Arguments,
    )
    .unwrap();
    assert!(v.is_valid(&json!([1])));
    assert!(!v.is_valid(&json!(["x"])));
    assert!(!v.is_valid(&json!([1, 2])));

    let v = SchemaValidator::new(
        &json!({"type": "object", "properties": {
            "when": {"type": "string", "format": "date-time"},
            "n": {"type": "integer", "format": "uint32"}
        }}),
        Subject::Arguments,
    )
    .unwrap();
    assert!(v.is_valid(&json!({"when": "2026-07-28T10:00:00Z", "n": 5})));
    assert_eq!(
        fail(&v, json!({"when": "soon"})).errors()[0].keyword,
        "format"
    );
    let lax = SchemaValidator::with_options(
        &json!({"type": "string", "format": "date-time"}),
        Subject::Arguments,
        &SchemaOptions::new().validate_formats(false),
    )
    .unwrap();
    assert!(lax.is_valid(&json!("soon")));
}

#[test]
fn the_compiler_compiles_each_schema_once() {
    let compiler = SchemaCompiler::default();
    let mut tool = Tool::new("search", object(search_schema()));
    tool.output_schema = Some(object(json!({
        "type": "object", "properties": {"hits": {"type": "integer"}}, "required": ["hits"]
    })));
    let schemas = compiler.compile_tool(&tool).unwrap();
    assert_eq!(compiler.len(), 2);
    // The same schema with its keys in another order is the same schema.
    let reordered: Value = serde_json::from_str(
        r#"{"required": ["hits"], "properties": {"hits": {"type": "integer"}}, "type": "object"}"#,
    )
    .unwrap();
    let again = compiler
        .compile(&reordered, Subject::StructuredContent)
        .unwrap();
    assert_eq!(compiler.len(), 2);
    assert!(again.is_valid(&json!({"hits": 3})));
    // Another tool with the same input schema shares it.
    compiler
        .compile_tool(&Tool::new("search2", object(search_schema())))
        .unwrap();
    assert_eq!(compiler.len(), 2);

    assert_eq!(
        schemas.validate_arguments(Some(&json!({"a": 1, "b": 2}))),
        Ok(())
    );
    let f = schemas.validate_arguments(None).unwrap_err();
    assert_eq!(
        f.to_string(),
        "missing required argument `a`; missing required argument `b`"
    );
    assert_eq!(schemas.validate_output(Some(&json!({"hits": 1}))), Ok(()));
    let f = schemas
        .validate_output(Some(&json!({"hits": "1"})))
        .unwrap_err();
    assert_eq!(f.subject(), Subject::StructuredContent);
    assert_eq!(
        f.to_string(),
        r#"invalid output field `hits`: "1" is not of type "integer""#
    );
    assert!(schemas.validate_output(None).is_err());

    let plain = compiler
        .compile_tool(&Tool::new("plain", object(json!({"type": "object"}))))
        .unwrap();
    assert!(plain.output().is_none());
    assert_eq!(plain.validate_output(None), Ok(()));
}

#[test]
fn a_tool_with_an_unusable_schema_is_named() {
    let compiler = SchemaCompiler::default();
    let mut tool = Tool::new("fetch", object(json!({"type": "object"})));
    tool.output_schema = Some(object(json!({"$ref": "http://169.254.169.254/"})));
    let err = compiler.compile_tool(&tool).unwrap_err();
    assert_eq!(err.tool, "fetch");
    assert_eq!(err.which, "outputSchema");
    assert!(
        err.to_string()
            .starts_with("the outputSchema of tool `fetch` is unusable: invalid schema"),
        "{err}"
    );
}
