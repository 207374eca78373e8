//! Server contracts: the document, the breaking-change rules (one pair of contracts per rule)
//! and the client-compatibility lints.

use mcp_core::ProtocolVersion;
use mcp_core::contract::{
    ContractError, Dialect, Rule, ServerContract, Severity, assert_compatible, diff, lint,
};
use mcp_core::types::{
    Implementation, Prompt, PromptArgument, Resource, ResourceTemplate, ServerCapabilities, Tool,
    ToolAnnotations,
};
use serde_json::{Value, json};

fn object(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().expect("an object").clone()
}

fn base() -> ServerContract {
    ServerContract::new(
        ProtocolVersion::V2025_11_25,
        &Implementation::new("shop", "1.0.0"),
        ServerCapabilities::default(),
    )
}

fn with_tool(tool: Tool) -> ServerContract {
    base().with_tools(vec![tool])
}

fn input(schema: Value) -> ServerContract {
    with_tool(Tool::new("search", object(schema)))
}

fn output(schema: Value) -> ServerContract {
    let mut tool = Tool::new("search", object(json!({"type": "object"})));
    tool.output_schema = Some(object(schema));
    with_tool(tool)
}

/// The one finding of a diff, as (severity, rule, item, pointer).
fn only(old: &ServerContract, new: &ServerContract) -> (Severity, Rule, String, String) {
    let d = diff(old, new).expect("comparable");
    assert_eq!(d.findings.len(), 1, "expected one finding, got:\n{d}");
    let f = &d.findings[0];
    (f.severity, f.rule, f.item.clone(), f.pointer.clone())
}

fn props(p: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": p, "required": required})
}

#[test]
fn contract_is_sorted_and_drops_run_dependent_fields() {
    let mut r = Resource {
        uri: "file:///b".into(),
        name: "b".into(),
        size: Some(12),
        ..Default::default()
    };
    r.annotations = Some(mcp_core::types::Annotations {
        last_modified: Some("2026-12-03T10:00:00Z".into()),
        priority: Some(0.5),
        ..Default::default()
    });
    let a = Resource {
        uri: "file:///a".into(),
        name: "a".into(),
        ..Default::default()
    };
    let contract = base()
        .with_tools(vec![
            Tool::new("zeta", object(json!({"type": "object"}))),
            Tool::new("alpha", object(json!({"type": "object"}))),
        ])
        .with_resources(vec![r, a]);
    let json = serde_json::to_value(&contract).unwrap();
    assert_eq!(json["$contract"], "mcp-contract/1");
    assert_eq!(json["server"], json!({"name": "shop"}));
    assert_eq!(json["tools"][0]["name"], "alpha");
    assert_eq!(json["resources"][0]["uri"], "file:///a");
    assert_eq!(
        json["resources"][1],
        json!({"uri": "file:///b", "name": "b", "annotations": {"priority": 0.5}})
    );
    // It reads back as the same contract.
    let back = ServerContract::from_json(&contract.to_json_pretty()).unwrap();
    assert_eq!(back, contract);
}

#[test]
fn a_document_that_is_not_a_contract_is_a_clear_error() {
    assert_eq!(
        ServerContract::from_json("{\"tools\": []}").unwrap_err(),
        ContractError::NotAContract
    );
    assert!(matches!(
        ServerContract::from_json("not json").unwrap_err(),
        ContractError::NotJson(_)
    ));
    assert_eq!(
        ServerContract::from_json("{\"$contract\": \"mcp-contract/9\"}").unwrap_err(),
        ContractError::Format("mcp-contract/9".into())
    );
    let e =
        ServerContract::from_json("{\"$contract\": \"mcp-contract/1\", \"tools\": 3}").unwrap_err();
    assert!(matches!(e, ContractError::Invalid(_)), "{e:?}");
}

#[test]
fn contracts_of_different_protocol_versions_are_not_compared() {
    let old = base();
    let new = ServerContract::new(
        ProtocolVersion::V2025_06_18,
        &Implementation::new("shop", "1.0.0"),
        ServerCapabilities::default(),
    );
    let e = diff(&old, &new).unwrap_err();
    assert_eq!(
        e.to_string(),
        "the contracts were taken at different protocol versions (`2025-11-25` and `2025-06-18`); dump both at the same version"
    );
}

#[test]
fn identical_contracts_have_no_findings() {
    let c = input(props(json!({"q": {"type": "string"}}), &["q"]));
    assert!(diff(&c, &c).unwrap().findings.is_empty());
    assert_compatible(&c, &c);
}

#[test]
fn removed_tool_is_breaking_and_added_tool_compatible() {
    let old = input(json!({"type": "object"}));
    let new = base();
    assert_eq!(
        only(&old, &new),
        (
            Severity::Breaking,
            Rule::ItemRemoved,
            "tool search".into(),
            "".into()
        )
    );
    assert_eq!(
        only(&new, &old),
        (
            Severity::Compatible,
            Rule::ItemAdded,
            "tool search".into(),
            "".into()
        )
    );
}

#[test]
fn removed_resource_template_and_prompt_are_breaking() {
    let res = Resource {
        uri: "file:///a".into(),
        name: "a".into(),
        ..Default::default()
    };
    let old = base().with_resources(vec![res]);
    assert_eq!(only(&old, &base()).1, Rule::ItemRemoved);
    assert_eq!(only(&old, &base()).2, "resource file:///a");

    let tpl = ResourceTemplate {
        uri_template: "logs://{day}".into(),
        name: "logs".into(),
        ..Default::default()
    };
    let old = base().with_resource_templates(vec![tpl]);
    assert_eq!(
        only(&old, &base()),
        (
            Severity::Breaking,
            Rule::ItemRemoved,
            "template logs".into(),
            "".into()
        )
    );

    let old = base().with_prompts(vec![Prompt {
        name: "greet".into(),
        ..Default::default()
    }]);
    assert_eq!(
        only(&old, &base()),
        (
            Severity::Breaking,
            Rule::ItemRemoved,
            "prompt greet".into(),
            "".into()
        )
    );
}

#[test]
fn changed_uri_template_is_breaking() {
    let tpl = |t: &str| ResourceTemplate {
        uri_template: t.into(),
        name: "logs".into(),
        ..Default::default()
    };
    let old = base().with_resource_templates(vec![tpl("logs://{day}")]);
    let new = base().with_resource_templates(vec![tpl("logs://{year}/{day}")]);
    assert_eq!(
        only(&old, &new),
        (
            Severity::Breaking,
            Rule::UriTemplateChanged,
            "template logs".into(),
            "/uriTemplate".into()
        )
    );
}

#[test]
fn removed_argument_is_breaking() {
    let old = input(props(
        json!({"q": {"type": "string"}, "limit": {"type": "integer"}}),
        &["q"],
    ));
    let new = input(props(json!({"q": {"type": "string"}}), &["q"]));
    assert_eq!(
        only(&old, &new),
        (
            Severity::Breaking,
            Rule::ArgumentRemoved,
            "tool search".into(),
            "/inputSchema/properties/limit".into()
        )
    );
}

#[test]
fn renamed_argument_is_breaking_and_named_as_a_rename() {
    let old = input(props(json!({"query": {"type": "string"}}), &["query"]));
    let new = input(props(json!({"q": {"type": "string"}}), &[]));
    let d = diff(&old, &new).unwrap();
    assert_eq!(d.findings.len(), 1, "{d}");
    assert_eq!(d.findings[0].rule, Rule::ArgumentRenamed);
    assert_eq!(d.findings[0].message, "argument `query` was renamed to `q`");
}

#[test]
fn new_required_argument_is_breaking_and_new_optional_compatible() {
    let old = input(props(json!({"q": {"type": "string"}}), &["q"]));
    let required = input(props(
        json!({"q": {"type": "string"}, "limit": {"type": "integer"}}),
        &["q", "limit"],
    ));
    let optional = input(props(
        json!({"q": {"type": "string"}, "limit": {"type": "integer"}}),
        &["q"],
    ));
    assert_eq!(
        only(&old, &required),
        (
            Severity::Breaking,
            Rule::ArgumentAddedRequired,
            "tool search".into(),
            "/inputSchema/properties/limit".into()
        )
    );
    assert_eq!(
        only(&old, &optional),
        (
            Severity::Compatible,
            Rule::ArgumentAddedOptional,
            "tool search".into(),
            "/inputSchema/properties/limit".into()
        )
    );
}

#[test]
fn optional_argument_made_required_is_breaking_and_the_reverse_compatible() {
    let optional = input(props(json!({"q": {"type": "string"}}), &[]));
    let required = input(props(json!({"q": {"type": "string"}}), &["q"]));
    assert_eq!(only(&optional, &required).0, Severity::Breaking);
    assert_eq!(only(&optional, &required).1, Rule::ArgumentNowRequired);
    assert_eq!(only(&required, &optional).0, Severity::Compatible);
    assert_eq!(only(&required, &optional).1, Rule::ArgumentNowOptional);
}

#[test]
fn narrowed_input_type_is_breaking_and_widened_compatible() {
    let number = input(props(json!({"n": {"type": "number"}}), &["n"]));
    let integer = input(props(json!({"n": {"type": "integer"}}), &["n"]));
    assert_eq!(
        only(&number, &integer),
        (
            Severity::Breaking,
            Rule::InputTypeNarrowed,
            "tool search".into(),
            "/inputSchema/properties/n".into()
        )
    );
    assert_eq!(
        only(&integer, &number),
        (
            Severity::Compatible,
            Rule::InputTypeWidened,
            "tool search".into(),
            "/inputSchema/properties/n".into()
        )
    );
}

#[test]
fn narrowed_input_enum_is_breaking_and_new_enum_value_compatible() {
    let two = input(props(
        json!({"c": {"type": "string", "enum": ["red", "blue"]}}),
        &["c"],
    ));
    let one = input(props(
        json!({"c": {"type": "string", "enum": ["red"]}}),
        &["c"],
    ));
    let (s, r, _, p) = only(&two, &one);
    assert_eq!(
        (s, r, p.as_str()),
        (
            Severity::Breaking,
            Rule::InputEnumNarrowed,
            "/inputSchema/properties/c"
        )
    );
    let (s, r, _, _) = only(&one, &two);
    assert_eq!((s, r), (Severity::Compatible, Rule::InputEnumWidened));
    // An enum where there was none narrows too.
    let free = input(props(json!({"c": {"type": "string"}}), &["c"]));
    assert_eq!(only(&free, &one).1, Rule::InputEnumNarrowed);
}

#[test]
fn narrowed_input_range_is_breaking_and_widened_compatible() {
    let wide = input(props(
        json!({"n": {"type": "integer", "minimum": 0, "maximum": 100}}),
        &["n"],
    ));
    let narrow = input(props(
        json!({"n": {"type": "integer", "minimum": 1, "maximum": 100}}),
        &["n"],
    ));
    assert_eq!(only(&wide, &narrow).1, Rule::InputRangeNarrowed);
    assert_eq!(only(&wide, &narrow).0, Severity::Breaking);
    assert_eq!(only(&narrow, &wide).1, Rule::InputRangeWidened);
    let short = input(props(
        json!({"s": {"type": "string", "maxLength": 10}}),
        &["s"],
    ));
    let long = input(props(
        json!({"s": {"type": "string", "maxLength": 20}}),
        &["s"],
    ));
    assert_eq!(only(&long, &short).1, Rule::InputRangeNarrowed);
    assert_eq!(only(&short, &long).0, Severity::Compatible);
}

#[test]
fn added_or_changed_input_pattern_is_breaking_and_removed_compatible() {
    let free = input(props(json!({"s": {"type": "string"}}), &["s"]));
    let digits = input(props(
        json!({"s": {"type": "string", "pattern": "^[0-9]+$"}}),
        &["s"],
    ));
    let hex = input(props(
        json!({"s": {"type": "string", "pattern": "^[0-9a-f]+$"}}),
        &["s"],
    ));
    assert_eq!(only(&free, &digits).1, Rule::InputPatternNarrowed);
    assert_eq!(only(&digits, &hex).1, Rule::InputPatternNarrowed);
    assert_eq!(
        only(&digits, &free),
        (
            Severity::Compatible,
            Rule::InputPatternWidened,
            "tool search".into(),
            "/inputSchema/properties/s".into()
        )
    );
}

#[test]
fn nested_argument_changes_name_the_nested_pointer() {
    let old = input(props(
        json!({"filter": {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}}}}}),
        &[],
    ));
    let new = input(props(
        json!({"filter": {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "integer"}}}}}),
        &[],
    ));
    assert_eq!(
        only(&old, &new),
        (
            Severity::Breaking,
            Rule::InputTypeNarrowed,
            "tool search".into(),
            "/inputSchema/properties/filter/properties/tags/items".into()
        )
    );
}

#[test]
fn refs_are_followed_in_both_contracts() {
    let old = input(json!({
        "type": "object",
        "properties": {"node": {"$ref": "#/$defs/Node"}},
        "$defs": {"Node": {"type": "object", "properties": {"id": {"type": "string"}, "next": {"$ref": "#/$defs/Node"}}}}
    }));
    let new = input(json!({
        "type": "object",
        "properties": {"node": {"$ref": "#/$defs/Node"}},
        "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}}
    }));
    // The recursion is compared once: one finding, not one per level.
    assert_eq!(
        only(&old, &new),
        (
            Severity::Breaking,
            Rule::ArgumentRemoved,
            "tool search".into(),
            "/inputSchema/properties/node/properties/id".into()
        )
    );
}

#[test]
fn removed_output_field_is_breaking_and_added_compatible() {
    let old = output(props(
        json!({"total": {"type": "number"}, "items": {"type": "array"}}),
        &["total", "items"],
    ));
    let new = output(props(json!({"total": {"type": "number"}}), &["total"]));
    assert_eq!(
        only(&old, &new),
        (
            Severity::Breaking,
            Rule::OutputFieldRemoved,
            "tool search".into(),
            "/outputSchema/properties/items".into()
        )
    );
    assert_eq!(only(&new, &old).0, Severity::Compatible);
    assert_eq!(only(&new, &old).1, Rule::OutputFieldAdded);
}

#[test]
fn required_output_field_made_optional_is_breaking() {
    let old = output(props(json!({"total": {"type": "number"}}), &["total"]));
    let new = output(props(json!({"total": {"type": "number"}}), &[]));
    let (s, r, _, p) = only(&old, &new);
    assert_eq!(
        (s, r, p.as_str()),
        (
            Severity::Breaking,
            Rule::OutputFieldRemoved,
            "/outputSchema/properties/total"
        )
    );
}

#[test]
fn retyped_output_field_is_breaking() {
    let old = output(props(json!({"total": {"type": "integer"}}), &["total"]));
    let new = output(props(json!({"total": {"type": "string"}}), &["total"]));
    assert_eq!(
        only(&old, &new),
        (
            Severity::Breaking,
            Rule::OutputRetyped,
            "tool search".into(),
            "/outputSchema/properties/total".into()
        )
    );
    // Narrower output is fine: an integer is a number.
    let number = output(props(json!({"total": {"type": "number"}}), &["total"]));
    let integer = output(props(json!({"total": {"type": "integer"}}), &["total"]));
    assert!(diff(&number, &integer).unwrap().findings.is_empty());
    // A new enum value in an output breaks a client that decodes it.
    let a = output(props(
        json!({"s": {"type": "string", "enum": ["open"]}}),
        &["s"],
    ));
    let ab = output(props(
        json!({"s": {"type": "string", "enum": ["open", "closed"]}}),
        &["s"],
    ));
    assert_eq!(only(&a, &ab).1, Rule::OutputRetyped);
}

#[test]
fn removed_output_schema_is_breaking() {
    let old = output(props(json!({"total": {"type": "number"}}), &["total"]));
    let new = input(json!({"type": "object"}));
    assert_eq!(only(&old, &new).1, Rule::OutputSchemaRemoved);
    assert_eq!(only(&new, &old).1, Rule::OutputSchemaAdded);
    assert_eq!(only(&new, &old).0, Severity::Compatible);
}

#[test]
fn read_only_tool_becoming_destructive_is_breaking() {
    let tool = |annotations: ToolAnnotations| {
        let mut t = Tool::new("search", object(json!({"type": "object"})));
        t.annotations = Some(annotations);
        with_tool(t)
    };
    let read_only = tool(ToolAnnotations {
        read_only_hint: Some(true),
        ..Default::default()
    });
    // Not read-only and silent about destruction: destructive by the spec's defaults.
    let writes = tool(ToolAnnotations::default());
    let additive = tool(ToolAnnotations {
        read_only_hint: Some(false),
        destructive_hint: Some(false),
        ..Default::default()
    });
    assert_eq!(
        only(&read_only, &writes),
        (
            Severity::Breaking,
            Rule::BecameDestructive,
            "tool search".into(),
            "/annotations".into()
        )
    );
    assert!(diff(&read_only, &additive).unwrap().findings.is_empty());
}

#[test]
fn prompt_argument_rules() {
    let prompt = |args: &[(&str, bool)]| {
        base().with_prompts(vec![Prompt {
            name: "greet".into(),
            arguments: Some(
                args.iter()
                    .map(|(n, r)| PromptArgument {
                        name: (*n).into(),
                        required: Some(*r),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }])
    };
    let old = prompt(&[("name", true), ("tone", false)]);
    assert_eq!(
        only(&old, &prompt(&[("name", true)])),
        (
            Severity::Breaking,
            Rule::ArgumentRemoved,
            "prompt greet".into(),
            "/arguments/tone".into()
        )
    );
    assert_eq!(
        only(&old, &prompt(&[("name", true), ("tone", true)])).1,
        Rule::ArgumentNowRequired
    );
    assert_eq!(
        only(
            &old,
            &prompt(&[("name", true), ("tone", false), ("lang", true)])
        )
        .1,
        Rule::ArgumentAddedRequired
    );
    assert_eq!(
        only(
            &old,
            &prompt(&[("name", true), ("tone", false), ("lang", false)])
        )
        .0,
        Severity::Compatible
    );
}

#[test]
fn removed_capability_is_breaking() {
    let caps = ServerCapabilities {
        logging: Some(Default::default()),
        ..Default::default()
    };
    let old = ServerContract::new(
        ProtocolVersion::V2025_11_25,
        &Implementation::new("shop", "1"),
        caps,
    );
    assert_eq!(
        only(&old, &base()),
        (
            Severity::Breaking,
            Rule::CapabilityRemoved,
            "capabilities".into(),
            "/logging".into()
        )
    );
    assert_eq!(only(&base(), &old).1, Rule::CapabilityAdded);
}

#[test]
fn assert_compatible_panics_naming_the_breaking_findings() {
    let old = input(props(json!({"q": {"type": "string"}}), &["q"]));
    let new = input(props(json!({"q": {"type": "integer"}}), &["q"]));
    let panic = std::panic::catch_unwind(|| assert_compatible(&old, &new)).unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert_eq!(
        message,
        "the new contract breaks clients of the old one:\nbreaking [input-type-narrowed] tool search /inputSchema/properties/q: no longer accepts `string`"
    );
}

fn lint_messages(schema: Value, name: &str, dialect: Dialect) -> Vec<String> {
    lint(&[Tool::new(name, object(schema))], dialect)
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn strict_lint_requires_closed_objects_and_every_property_required() {
    let strict_ok = json!({
        "type": "object",
        "properties": {"q": {"type": "string"}, "limit": {"type": ["integer", "null"]}},
        "required": ["q", "limit"],
        "additionalProperties": false
    });
    assert!(lint_messages(strict_ok.clone(), "search", Dialect::Strict).is_empty());
    let open = json!({"type": "object", "properties": {"q": {"type": "string"}}});
    assert_eq!(
        lint_messages(open, "search", Dialect::Strict),
        [
            "strict: tool search /inputSchema: `additionalProperties` must be `false`",
            "strict: tool search /inputSchema/properties/q: property `q` must be listed in `required` (make it nullable if it is optional)",
        ]
    );
}

#[test]
fn strict_lint_flags_unsupported_keywords_depth_and_names() {
    let schema = json!({
        "type": "object",
        "properties": {"s": {"type": "string", "minLength": 3}},
        "required": ["s"],
        "additionalProperties": false
    });
    assert_eq!(
        lint_messages(schema, "search", Dialect::Strict),
        ["strict: tool search /inputSchema/properties/s: `minLength` is not supported"]
    );
    let ok =
        json!({"type": "object", "properties": {}, "required": [], "additionalProperties": false});
    assert_eq!(
        lint_messages(ok, "files.search", Dialect::Strict),
        [
            "strict: tool files.search: the name `files.search` does not match `^[a-zA-Z0-9_-]{1,64}$`"
        ]
    );
    // Eleven levels of nested objects.
    let mut deep =
        json!({"type": "object", "properties": {}, "required": [], "additionalProperties": false});
    for _ in 0..11 {
        deep = json!({"type": "object", "properties": {"d": deep}, "required": ["d"], "additionalProperties": false});
    }
    let findings = lint_messages(deep, "deep", Dialect::Strict);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(
        findings[0].ends_with("nested 11 levels deep; at most 10"),
        "{}",
        findings[0]
    );
}

#[test]
fn conservative_lint_flags_refs_compositions_type_lists_formats_and_patterns() {
    let schema = json!({
        "type": "object",
        "properties": {
            "when": {"type": "string", "format": "date-time"},
            "code": {"type": "string", "pattern": "^[A-Z]+$"},
            "limit": {"type": ["integer", "null"]},
            "kind": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "node": {"$ref": "#/$defs/Node"}
        },
        "$defs": {"Node": {"type": "object"}}
    });
    assert_eq!(
        lint_messages(schema, "search", Dialect::Conservative),
        [
            "conservative: tool search /inputSchema: `$defs` is not supported",
            "conservative: tool search /inputSchema/properties/code: `pattern` is not supported",
            "conservative: tool search /inputSchema/properties/kind: `anyOf` is not supported",
            "conservative: tool search /inputSchema/properties/limit: `type` must be one type, not a list",
            "conservative: tool search /inputSchema/properties/node: `$ref` is not supported",
            "conservative: tool search /inputSchema/properties/when: `format` is not supported",
        ]
    );
}

#[test]
fn strict_rewrite_passes_the_strict_lint_and_keeps_the_arguments() {
    let schema = json!({
        "type": "object",
        "properties": {
            "q": {"type": "string", "minLength": 1},
            "limit": {"type": "integer"},
            "filter": {"type": "object", "properties": {"tag": {"type": "string", "enum": ["a", "b"]}}}
        },
        "required": ["q"]
    });
    let rewritten = Dialect::Strict.rewrite(&object(schema));
    assert!(lint_messages(Value::Object(rewritten.clone()), "search", Dialect::Strict).is_empty());
    assert_eq!(
        Value::Object(rewritten),
        json!({
            "type": "object",
            "properties": {
                "q": {"type": "string"},
                "limit": {"type": ["integer", "null"]},
                "filter": {
                    "type": ["object", "null"],
                    "properties": {"tag": {"type": ["string", "null"], "enum": ["a", "b", null]}},
                    "required": ["tag"],
                    "additionalProperties": false
                }
            },
            "required": ["filter", "limit", "q"],
            "additionalProperties": false
        })
    );
}

#[test]
fn conservative_rewrite_passes_the_conservative_lint() {
    let schema = json!({
        "type": "object",
        "properties": {
            "when": {"type": "string", "format": "date-time"},
            "limit": {"type": ["integer", "null"]},
            "node": {"$ref": "#/$defs/Node", "description": "the start"},
            "maybe": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "mode": {"const": "fast"}
        },
        "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}}
    });
    let rewritten = Dialect::Conservative.rewrite(&object(schema));
    assert!(
        lint_messages(
            Value::Object(rewritten.clone()),
            "search",
            Dialect::Conservative
        )
        .is_empty(),
        "{rewritten:?}"
    );
    assert_eq!(
        Value::Object(rewritten),
        json!({
            "type": "object",
            "properties": {
                "when": {"type": "string"},
                "limit": {"type": "integer", "nullable": true},
                "node": {"type": "object", "description": "the start", "properties": {"next": {}}},
                "maybe": {"type": "string", "nullable": true},
                "mode": {"enum": ["fast"]}
            }
        })
    );
}
