//! `x-mcp-header` (2026-07-28, SEP-2243): tool parameters a server designates to be mirrored into
//! `Mcp-Param-{Name}` HTTP headers on `tools/call`, and the value encoding shared with `Mcp-Name`.
//!
//! A tool whose annotations break the rules (empty or non-token name, duplicate names ignoring
//! case, a non-primitive or `number` parameter, an annotation not reachable through `properties`
//! alone) is invalid: the client leaves it out of `tools/list`.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use base64::Engine as _;
use mcp_core::jsonrpc::JsonRpcRequest;
use mcp_core::{JsonRpcMessage, RequestId};
use serde_json::{Map, Value};

/// The schema keyword.
const KEYWORD: &str = "x-mcp-header";
/// The largest integer JavaScript represents exactly (2^53 - 1).
const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// One designated parameter: the header's name part and the `properties` path to the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParamHeader {
    pub(crate) name: String,
    pub(crate) path: Vec<String>,
}

/// The designated parameters of a tool's `inputSchema`, or why the tool is invalid.
pub(crate) fn header_params(input_schema: &Map<String, Value>) -> Result<Vec<ParamHeader>, String> {
    let mut found = Vec::new();
    walk_properties(input_schema, &mut Vec::new(), &mut found)?;
    // Annotations anywhere else (under items, anyOf, $ref targets, ...) make the tool invalid.
    let mut reachable = 0;
    count_annotations(&Value::Object(input_schema.clone()), &mut reachable);
    if reachable != found.len() {
        return Err(format!(
            "`{KEYWORD}` is only allowed on properties reached through `properties` alone"
        ));
    }
    let mut seen = HashSet::new();
    for p in &found {
        if !seen.insert(p.name.to_ascii_lowercase()) {
            return Err(format!(
                "`{KEYWORD}` value `{}` is used twice (names ignore case)",
                p.name
            ));
        }
    }
    Ok(found)
}

fn walk_properties(
    schema: &Map<String, Value>,
    path: &mut Vec<String>,
    found: &mut Vec<ParamHeader>,
) -> Result<(), String> {
    let Some(Value::Object(properties)) = schema.get("properties") else {
        return Ok(());
    };
    for (key, prop) in properties {
        let Value::Object(prop) = prop else { continue };
        path.push(key.clone());
        if let Some(annotation) = prop.get(KEYWORD) {
            let at = path.join(".");
            let Value::String(name) = annotation else {
                return Err(format!("`{KEYWORD}` of `{at}` is not a string"));
            };
            check_name(name).map_err(|e| format!("`{KEYWORD}` of `{at}` {e}"))?;
            if !is_primitive(prop.get("type")) {
                return Err(format!(
                    "`{KEYWORD}` of `{at}` is on a parameter that is not a string, integer or boolean"
                ));
            }
            found.push(ParamHeader {
                name: name.clone(),
                path: path.clone(),
            });
        }
        walk_properties(prop, path, found)?;
        path.pop();
    }
    Ok(())
}

/// Counts the annotations of every subschema. Property names (keys of `properties`) and instance
/// data (`const`, `default`, `enum`, `examples`) are not schema keywords, so they are skipped.
fn count_annotations(value: &Value, count: &mut usize) {
    match value {
        Value::Object(m) => {
            if m.contains_key(KEYWORD) {
                *count += 1;
            }
            for (key, v) in m {
                match (key.as_str(), v) {
                    ("const" | "default" | "enum" | "examples", _) => {}
                    (
                        "properties" | "patternProperties" | "$defs" | "definitions",
                        Value::Object(subs),
                    ) => {
                        subs.values().for_each(|s| count_annotations(s, count));
                    }
                    _ => count_annotations(v, count),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| count_annotations(v, count)),
        _ => {}
    }
}

/// A header name part: non-empty HTTP token characters (RFC 9110 `tchar`).
fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("is empty");
    }
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.chars().all(tchar) {
        Ok(())
    } else {
        Err("is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~)")
    }
}

/// `string`, `integer` or `boolean` (optionally with `null`); never `number`.
fn is_primitive(kind: Option<&Value>) -> bool {
    let ok = |t: &str| matches!(t, "string" | "integer" | "boolean");
    match kind {
        Some(Value::String(t)) => ok(t),
        Some(Value::Array(ts)) => {
            let named: Vec<&str> = ts.iter().filter_map(Value::as_str).collect();
            named.len() == ts.len()
                && named.iter().any(|t| ok(t))
                && named.iter().all(|t| ok(t) || *t == "null")
        }
        _ => false,
    }
}

/// A header value for `value`: as is when it is plain visible ASCII (inner spaces allowed),
/// else `=?base64?{UTF-8 in base64}?=` (also when it looks like that sentinel already).
pub(crate) fn encode_header_value(value: &str) -> String {
    let plain = value.chars().all(|c| (' '..='~').contains(&c))
        && value.trim() == value
        && !(value.starts_with("=?base64?") && value.ends_with("?="));
    if plain {
        value.to_owned()
    } else {
        format!(
            "=?base64?{}?=",
            base64::engine::general_purpose::STANDARD.encode(value.as_bytes())
        )
    }
}

/// The string form of an argument: strings as is, integers in decimal, booleans as
/// `true`/`false`; nothing for null, absent or other values (which get no header).
fn argument_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                (i.abs() <= MAX_SAFE_INTEGER).then(|| i.to_string())
            } else {
                let f = n.as_f64()?;
                // An integer parameter sent as 42.0 is still 42.
                (f.fract() == 0.0 && f.abs() <= MAX_SAFE_INTEGER as f64)
                    .then(|| (f as i64).to_string())
            }
        }
        _ => None,
    }
}

/// What the HTTP transport learned from the `tools/list` results it carried: the designated
/// parameters of each valid tool, by name.
#[derive(Debug, Default)]
pub(crate) struct ToolHeaders {
    /// Ids of `tools/list` requests waiting for their answer.
    lists: Mutex<HashSet<RequestId>>,
    tools: Mutex<HashMap<String, Vec<ParamHeader>>>,
}

impl ToolHeaders {
    /// Notes an outgoing `tools/list` request, to read its answer.
    pub(crate) fn note_outgoing(&self, message: &JsonRpcMessage) {
        if let JsonRpcMessage::Request(JsonRpcRequest { id, method, .. }) = message
            && method == "tools/list"
        {
            self.lists.lock().expect("not poisoned").insert(id.clone());
        }
    }

    /// Reads the tools of a `tools/list` answer.
    pub(crate) fn note_incoming(&self, message: &JsonRpcMessage) {
        let id = match message {
            JsonRpcMessage::Response(r) => &r.id,
            JsonRpcMessage::Error(e) => match &e.id {
                Some(id) => id,
                None => return,
            },
            _ => return,
        };
        if !self.lists.lock().expect("not poisoned").remove(id) {
            return;
        }
        let JsonRpcMessage::Response(r) = message else {
            return;
        };
        let Ok(result) = serde_json::from_str::<Value>(r.result.get()) else {
            return;
        };
        let Some(tools) = result.get("tools").and_then(Value::as_array) else {
            return;
        };
        let mut known = self.tools.lock().expect("not poisoned");
        for tool in tools {
            let (Some(name), Some(Value::Object(schema))) = (
                tool.get("name").and_then(Value::as_str),
                tool.get("inputSchema"),
            ) else {
                continue;
            };
            match header_params(schema) {
                Ok(params) => {
                    known.insert(name.to_owned(), params);
                }
                Err(_) => {
                    known.remove(name);
                }
            }
        }
    }

    /// Whether the tool `name` designates arguments as headers (a call of it needs
    /// [`ToolHeaders::headers_for`]).
    pub(crate) fn designates(&self, name: &str) -> bool {
        self.tools
            .lock()
            .expect("not poisoned")
            .get(name)
            .is_some_and(|params| !params.is_empty())
    }

    /// The `Mcp-Param-{Name}` headers of a `tools/call` with these params (name and arguments).
    pub(crate) fn headers_for(&self, params: &Value) -> Vec<(String, String)> {
        let Some(name) = params.get("name").and_then(Value::as_str) else {
            return Vec::new();
        };
        let known = self.tools.lock().expect("not poisoned");
        let Some(designated) = known.get(name) else {
            return Vec::new();
        };
        let arguments = params.get("arguments");
        designated
            .iter()
            .filter_map(|p| {
                let value = p.path.iter().try_fold(arguments?, |v, key| v.get(key))?;
                let text = argument_text(value)?;
                Some((format!("mcp-param-{}", p.name), encode_header_value(&text)))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(v: Value) -> Map<String, Value> {
        v.as_object().expect("object").clone()
    }

    #[test]
    fn finds_nested_annotations() {
        let s = schema(json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "opts": {"type": "object", "properties": {"tenant": {"type": "integer", "x-mcp-header": "Tenant"}}},
            "query": {"type": "string"}
        }}));
        let params = header_params(&s).expect("valid");
        assert_eq!(
            params,
            vec![
                ParamHeader {
                    name: "Tenant".into(),
                    path: vec!["opts".into(), "tenant".into()]
                },
                ParamHeader {
                    name: "Region".into(),
                    path: vec!["region".into()]
                },
            ]
        );
    }

    #[test]
    fn names_and_data_are_not_annotations() {
        let s = schema(json!({"type": "object", "properties": {
            "x-mcp-header": {"type": "string", "default": {"x-mcp-header": "D"}},
            "r": {"type": "string", "x-mcp-header": "R", "examples": [{"x-mcp-header": "E"}]}
        }}));
        assert_eq!(header_params(&s).expect("valid").len(), 1);
    }

    #[test]
    fn rejects_invalid_annotations() {
        let bad = [
            json!({"properties": {"v": {"type": "string", "x-mcp-header": ""}}}),
            json!({"properties": {"v": {"type": "string", "x-mcp-header": "My Region"}}}),
            json!({"properties": {"v": {"type": "string", "x-mcp-header": "Région"}}}),
            json!({"properties": {"v": {"type": "string", "x-mcp-header": "A:B"}}}),
            json!({"properties": {"v": {"type": "string", "x-mcp-header": "R\t1"}}}),
            json!({"properties": {"v": {"type": "number", "x-mcp-header": "N"}}}),
            json!({"properties": {"v": {"type": "object", "x-mcp-header": "O"}}}),
            json!({"properties": {"v": {"type": "null", "x-mcp-header": "O"}}}),
            json!({"properties": {"v": {"type": "array", "items": {"type": "string"}, "x-mcp-header": "O"}}}),
            json!({"properties": {"a": {"type": "string", "x-mcp-header": "X"}, "b": {"type": "string", "x-mcp-header": "x"}}}),
            json!({"properties": {"v": {"type": "array", "items": {"type": "string", "x-mcp-header": "I"}}}}),
            json!({"anyOf": [{"properties": {"v": {"type": "string", "x-mcp-header": "V"}}}]}),
        ];
        for b in bad {
            assert!(header_params(&schema(b.clone())).is_err(), "accepted {b}");
        }
    }

    #[test]
    fn encodes_values() {
        assert_eq!(encode_header_value("us west 1"), "us west 1");
        assert_eq!(
            encode_header_value("Hello, 世界"),
            "=?base64?SGVsbG8sIOS4lueVjA==?="
        );
        assert_eq!(encode_header_value(" padded "), "=?base64?IHBhZGRlZCA=?=");
        assert_eq!(
            encode_header_value("line1\nline2"),
            "=?base64?bGluZTEKbGluZTI=?="
        );
        assert_eq!(
            encode_header_value("=?base64?literal?="),
            "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="
        );
    }

    #[test]
    fn headers_follow_the_listed_schema() {
        let th = ToolHeaders::default();
        let list = JsonRpcMessage::from_json(
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}}"#,
        )
        .expect("request");
        th.note_outgoing(&list);
        let answer = JsonRpcMessage::from_json(
            r#"{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"t","inputSchema":{"type":"object","properties":{
                "region":{"type":"string","x-mcp-header":"Region"},
                "n":{"type":"integer","x-mcp-header":"N"},
                "flag":{"type":"boolean","x-mcp-header":"Flag"},
                "q":{"type":"string"}}}}]}}"#,
        )
        .expect("response");
        th.note_incoming(&answer);
        let mut h = th.headers_for(&json!({"name": "t", "arguments": {
            "region": "eu", "n": 42, "flag": false, "q": "x"
        }}));
        h.sort();
        assert_eq!(
            h,
            vec![
                ("mcp-param-Flag".to_owned(), "false".to_owned()),
                ("mcp-param-N".to_owned(), "42".to_owned()),
                ("mcp-param-Region".to_owned(), "eu".to_owned()),
            ]
        );
        // Null and absent values get no header; unknown tools none at all.
        assert!(
            th.headers_for(&json!({"name": "t", "arguments": {"region": null}}))
                .is_empty()
        );
        assert!(th.headers_for(&json!({"name": "other"})).is_empty());
    }
}
