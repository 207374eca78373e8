//! Client-compatibility lints: whether a tool's schemas fit the JSON Schema dialects that model
//! providers' function calling accepts.

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::types::Tool;

/// A schema dialect that some model clients require of tool definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Dialect {
    /// Strict function calling, as OpenAI's strict mode requires (function calling with
    /// `strict: true`, and Structured Outputs: "Supported schemas",
    /// <https://platform.openai.com/docs/guides/structured-outputs#supported-schemas>):
    /// the root is an object (not `anyOf`); every object sets `additionalProperties: false`
    /// and lists every property in `required` (an optional property is written as required and
    /// nullable, `"type": ["string", "null"]`); `allOf`, `not`, `if`/`then`/`else`,
    /// `dependentRequired`, `dependentSchemas`, `patternProperties`, `unevaluatedProperties`,
    /// `propertyNames`, `minProperties`, `maxProperties`, `minLength`, `maxLength`,
    /// `uniqueItems`, `contains` are not supported; at most 10 levels of nesting and 5,000
    /// properties in all. A function name is `^[a-zA-Z0-9_-]{1,64}$`.
    Strict,
    /// The small subset that every provider accepts, for clients that pass schemas to models
    /// with an OpenAPI 3.0 `Schema` object (Gemini's `FunctionDeclaration.parameters`,
    /// <https://ai.google.dev/api/caching#Schema>, and Vertex AI's, which name a "select
    /// subset" of OpenAPI): no `$ref`/`$defs`, no `anyOf`/`oneOf`/`allOf`/`not`, one `type`
    /// (not a list), no `format`, `pattern` or `const`, no `additionalProperties` schema (maps)
    /// or `patternProperties`, at most 5 levels of nesting. A function name is
    /// `^[a-zA-Z_][a-zA-Z0-9_.-]{0,63}$`.
    Conservative,
}

impl Dialect {
    /// Every profile.
    pub const ALL: [Dialect; 2] = [Dialect::Strict, Dialect::Conservative];

    /// The profile named `name` (`strict`, `conservative`), as `mcp lint --profile` takes it.
    ///
    /// (Not a `FromStr` impl on purpose: it would show up in rustc's lists of `FromStr` types
    /// in users' compile errors.)
    pub fn parse(name: &str) -> Result<Dialect, String> {
        Dialect::ALL
            .into_iter()
            .find(|p| p.as_str() == name)
            .ok_or_else(|| {
                format!("unknown lint profile `{name}`; expected `strict` or `conservative`")
            })
    }

    /// The profile's name, as `mcp lint --profile` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Strict => "strict",
            Dialect::Conservative => "conservative",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One way a tool does not fit a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LintFinding {
    /// The profile that objects.
    pub profile: Dialect,
    /// The tool's name.
    pub tool: String,
    /// A JSON pointer into the tool's definition (`/inputSchema/properties/when`); empty for
    /// the tool itself (its name).
    pub pointer: String,
    /// What does not fit, in words.
    pub message: String,
}

impl fmt::Display for LintFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: tool {}", self.profile, self.tool)?;
        if !self.pointer.is_empty() {
            write!(f, " {}", self.pointer)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Checks each tool's name and input schema against a profile.
///
/// ```
/// use mcp_core::contract::{Dialect, lint};
/// use mcp_core::types::Tool;
/// use serde_json::json;
///
/// let schema = json!({"type": "object", "properties": {"limit": {"type": "integer"}}});
/// let tool = Tool::new("search", schema.as_object().unwrap().clone());
/// let findings = lint(&[tool], Dialect::Strict);
/// let messages: Vec<String> = findings.iter().map(ToString::to_string).collect();
/// assert_eq!(messages, [
///     "strict: tool search /inputSchema: `additionalProperties` must be `false`",
///     "strict: tool search /inputSchema/properties/limit: property `limit` must be listed in `required` (make it nullable if it is optional)",
/// ]);
/// ```
pub fn lint(tools: &[Tool], profile: Dialect) -> Vec<LintFinding> {
    let mut out = Vec::new();
    for tool in tools {
        let mut cx = Lint {
            profile,
            tool: &tool.name,
            out: &mut out,
            properties: 0,
        };
        cx.name();
        let schema = &tool.input_schema;
        if profile == Dialect::Strict && schema.contains_key("anyOf") {
            cx.push(
                "/inputSchema",
                "the root schema must not be `anyOf`".to_owned(),
            );
        }
        if schema.get("type").and_then(Value::as_str) != Some("object") {
            cx.push(
                "/inputSchema",
                "the root schema must be `\"type\": \"object\"`".to_owned(),
            );
        }
        cx.schema(schema, "/inputSchema", 0);
        if profile == Dialect::Strict && cx.properties > STRICT_MAX_PROPERTIES {
            let n = cx.properties;
            cx.push(
                "/inputSchema",
                format!("{n} properties in all; at most {STRICT_MAX_PROPERTIES}"),
            );
        }
    }
    out
}

const STRICT_MAX_DEPTH: usize = 10;
const STRICT_MAX_PROPERTIES: usize = 5000;
const CONSERVATIVE_MAX_DEPTH: usize = 5;

const STRICT_UNSUPPORTED: [&str; 15] = [
    "allOf",
    "not",
    "if",
    "then",
    "else",
    "dependentRequired",
    "dependentSchemas",
    "patternProperties",
    "unevaluatedProperties",
    "propertyNames",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "uniqueItems",
];

const CONSERVATIVE_UNSUPPORTED: [&str; 11] = [
    "$ref",
    "$defs",
    "definitions",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
    "format",
    "pattern",
    "const",
    "patternProperties",
];

struct Lint<'a> {
    profile: Dialect,
    tool: &'a str,
    out: &'a mut Vec<LintFinding>,
    properties: usize,
}

impl Lint<'_> {
    fn push(&mut self, pointer: &str, message: String) {
        self.out.push(LintFinding {
            profile: self.profile,
            tool: self.tool.to_owned(),
            pointer: pointer.to_owned(),
            message,
        });
    }

    fn name(&mut self) {
        let name = self.tool;
        let ok = match self.profile {
            Dialect::Strict => {
                (1..=64).contains(&name.len())
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            }
            Dialect::Conservative => {
                (1..=64).contains(&name.len())
                    && name
                        .bytes()
                        .next()
                        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
            }
        };
        if !ok {
            let rule = match self.profile {
                Dialect::Strict => "^[a-zA-Z0-9_-]{1,64}$",
                Dialect::Conservative => "^[a-zA-Z_][a-zA-Z0-9_.-]{0,63}$",
            };
            self.push("", format!("the name `{name}` does not match `{rule}`"));
        }
    }

    fn schema(&mut self, schema: &Map<String, Value>, at: &str, depth: usize) {
        let max_depth = match self.profile {
            Dialect::Strict => STRICT_MAX_DEPTH,
            Dialect::Conservative => CONSERVATIVE_MAX_DEPTH,
        };
        if depth > max_depth {
            self.push(
                at,
                format!("nested {depth} levels deep; at most {max_depth}"),
            );
            return;
        }
        let unsupported: &[&str] = match self.profile {
            Dialect::Strict => &STRICT_UNSUPPORTED,
            Dialect::Conservative => &CONSERVATIVE_UNSUPPORTED,
        };
        for key in unsupported {
            if schema.contains_key(*key) {
                self.push(at, format!("`{key}` is not supported"));
            }
        }
        if self.profile == Dialect::Conservative {
            if schema.get("type").is_some_and(Value::is_array) {
                self.push(at, "`type` must be one type, not a list".to_owned());
            }
            if schema
                .get("additionalProperties")
                .is_some_and(Value::is_object)
            {
                self.push(
                    at,
                    "an `additionalProperties` schema (a map) is not supported".to_owned(),
                );
            }
        }

        let is_object = schema.get("type").is_some_and(|t| match t {
            Value::String(t) => t == "object",
            Value::Array(ts) => ts.iter().any(|t| t == "object"),
            _ => false,
        }) || schema.contains_key("properties");
        let properties = schema.get("properties").and_then(Value::as_object);
        if is_object && self.profile == Dialect::Strict {
            if schema.get("additionalProperties") != Some(&Value::Bool(false)) {
                self.push(at, "`additionalProperties` must be `false`".to_owned());
            }
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for name in properties.into_iter().flat_map(|p| p.keys()) {
                if !required.contains(&name.as_str()) {
                    self.push(
                        &format!("{at}/properties/{}", escape(name)),
                        format!(
                            "property `{name}` must be listed in `required` (make it nullable if it is optional)"
                        ),
                    );
                }
            }
        }
        if let Some(properties) = properties {
            self.properties += properties.len();
            for (name, sub) in properties {
                if let Some(sub) = sub.as_object() {
                    self.schema(sub, &format!("{at}/properties/{}", escape(name)), depth + 1);
                }
            }
        }
        if let Some(items) = schema.get("items").and_then(Value::as_object) {
            self.schema(items, &format!("{at}/items"), depth + 1);
        }
        for key in ["anyOf", "oneOf"] {
            for (i, sub) in schema
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                if let Some(sub) = sub.as_object() {
                    self.schema(sub, &format!("{at}/{key}/{i}"), depth + 1);
                }
            }
        }
        for key in ["$defs", "definitions"] {
            if let Some(defs) = schema.get(key).and_then(Value::as_object) {
                for (name, sub) in defs {
                    if let Some(sub) = sub.as_object() {
                        self.schema(sub, &format!("{at}/{key}/{}", escape(name)), depth);
                    }
                }
            }
        }
    }
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

impl Dialect {
    /// Rewrites an input schema into this dialect, for clients that require it (a server can
    /// list its tools this way while validating arguments against the original schema).
    ///
    /// - [`Dialect::Strict`]: every object gets `additionalProperties: false` and lists every
    ///   property in `required`; a property that was optional becomes nullable (`"type":
    ///   [T, "null"]`, or `anyOf` with `{"type": "null"}` when it has no single type), since a
    ///   server of this crate treats `null` for an optional argument as absent. Keywords the
    ///   dialect does not support are removed (the server still enforces them).
    /// - [`Dialect::Conservative`]: local `$ref`s are inlined (a recursive one becomes `{}`), a
    ///   `const` becomes a one-value `enum`, a type list or an `anyOf`/`oneOf` with `null` and
    ///   one other schema becomes that schema with `nullable: true`, and what remains unsupported
    ///   is removed (`format`, `pattern`, other compositions, map schemas).
    ///
    /// ```
    /// use mcp_core::contract::Dialect;
    /// use serde_json::json;
    ///
    /// let schema = json!({"type": "object", "properties": {"limit": {"type": "integer"}}});
    /// let strict = Dialect::Strict.rewrite(schema.as_object().unwrap());
    /// assert_eq!(serde_json::Value::Object(strict), json!({
    ///     "type": "object",
    ///     "properties": {"limit": {"type": ["integer", "null"]}},
    ///     "required": ["limit"],
    ///     "additionalProperties": false,
    /// }));
    /// ```
    pub fn rewrite(self, schema: &Map<String, Value>) -> Map<String, Value> {
        let defs = schema
            .get("$defs")
            .or_else(|| schema.get("definitions"))
            .and_then(Value::as_object);
        match self {
            Dialect::Strict => strict(schema, 0),
            Dialect::Conservative => {
                let mut out = conservative(schema, defs, 0, &mut Vec::new());
                out.remove("$defs");
                out.remove("definitions");
                out
            }
        }
    }
}

fn strict(schema: &Map<String, Value>, depth: usize) -> Map<String, Value> {
    let mut out = schema.clone();
    for key in STRICT_UNSUPPORTED {
        out.remove(key);
    }
    if depth > 64 {
        return out;
    }
    let nested = |v: &Value| match v {
        Value::Object(m) => Value::Object(strict(m, depth + 1)),
        other => other.clone(),
    };
    for key in ["items", "additionalProperties"] {
        if let Some(v) = out.get(key).filter(|v| v.is_object()).map(nested) {
            out.insert(key.to_owned(), v);
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(variants)) = out.get(key) {
            let variants = variants.iter().map(nested).collect();
            out.insert(key.to_owned(), Value::Array(variants));
        }
    }
    for key in ["$defs", "definitions"] {
        if let Some(Value::Object(defs)) = out.get(key) {
            let defs = defs.iter().map(|(k, v)| (k.clone(), nested(v))).collect();
            out.insert(key.to_owned(), Value::Object(defs));
        }
    }
    let is_object =
        out.get("type").and_then(Value::as_str) == Some("object") || out.contains_key("properties");
    if is_object {
        let required: Vec<String> = out
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let mut all = Vec::new();
        if let Some(Value::Object(props)) = out.get("properties") {
            let mut rewritten = Map::new();
            for (name, sub) in props {
                let mut sub = nested(sub);
                if !required.contains(name) {
                    sub = nullable(sub);
                }
                all.push(Value::String(name.clone()));
                rewritten.insert(name.clone(), sub);
            }
            out.insert("properties".to_owned(), Value::Object(rewritten));
        }
        out.insert("required".to_owned(), Value::Array(all));
        out.insert("additionalProperties".to_owned(), Value::Bool(false));
    }
    out
}

/// The schema, also allowing `null`.
fn nullable(schema: Value) -> Value {
    let Value::Object(mut m) = schema else {
        return schema;
    };
    match m.get("type") {
        Some(Value::String(t)) if t == "null" => {}
        Some(Value::String(t)) => {
            let t = t.clone();
            m.insert("type".to_owned(), serde_json::json!([t, "null"]));
            if let Some(Value::Array(values)) = m.get_mut("enum")
                && !values.contains(&Value::Null)
            {
                values.push(Value::Null);
            }
        }
        Some(Value::Array(ts)) if ts.iter().any(|t| t == "null") => {}
        Some(Value::Array(_)) => {
            if let Some(Value::Array(ts)) = m.get_mut("type") {
                ts.push(Value::String("null".to_owned()));
            }
        }
        _ => {
            return serde_json::json!({"anyOf": [Value::Object(m), {"type": "null"}]});
        }
    }
    Value::Object(m)
}

const CONSERVATIVE_DROPPED: [&str; 6] = [
    "format",
    "pattern",
    "patternProperties",
    "allOf",
    "not",
    "$schema",
];

fn conservative(
    schema: &Map<String, Value>,
    defs: Option<&Map<String, Value>>,
    depth: usize,
    seen: &mut Vec<String>,
) -> Map<String, Value> {
    // Inline a local reference; a recursive one (or one too deep) becomes an open schema.
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r
            .strip_prefix("#/$defs/")
            .or_else(|| r.strip_prefix("#/definitions/"));
        let target = name.and_then(|n| defs?.get(n)).and_then(Value::as_object);
        return match (name, target) {
            (Some(name), Some(target)) if !seen.iter().any(|s| s == name) && depth < 32 => {
                seen.push(name.to_owned());
                let mut out = conservative(target, defs, depth + 1, seen);
                seen.pop();
                for key in ["description", "title"] {
                    if let Some(v) = schema.get(key) {
                        out.insert(key.to_owned(), v.clone());
                    }
                }
                out
            }
            _ => Map::new(),
        };
    }
    let mut out = schema.clone();
    for key in CONSERVATIVE_DROPPED {
        out.remove(key);
    }
    if let Some(c) = out.remove("const") {
        out.insert("enum".to_owned(), Value::Array(vec![c]));
    }
    if out
        .get("additionalProperties")
        .is_some_and(Value::is_object)
    {
        out.remove("additionalProperties");
    }
    // `[T, "null"]`: T, nullable. A list of several types keeps the first.
    if let Some(Value::Array(ts)) = out.get("type") {
        let has_null = ts.iter().any(|t| t == "null");
        let first = ts.iter().find(|t| *t != "null").cloned();
        match first {
            Some(t) => {
                out.insert("type".to_owned(), t);
            }
            None => {
                out.remove("type");
            }
        }
        if has_null {
            out.insert("nullable".to_owned(), Value::Bool(true));
        }
    }
    for key in ["anyOf", "oneOf"] {
        let Some(Value::Array(variants)) = out.remove(key) else {
            continue;
        };
        let has_null = variants
            .iter()
            .any(|v| v.get("type") == Some(&Value::from("null")));
        let others: Vec<&Value> = variants
            .iter()
            .filter(|v| v.get("type") != Some(&Value::from("null")))
            .collect();
        if let [only] = others.as_slice()
            && let Some(only) = only.as_object()
        {
            let inner = conservative(only, defs, depth + 1, seen);
            for (k, v) in inner {
                out.entry(k).or_insert(v);
            }
        }
        if has_null {
            out.insert("nullable".to_owned(), Value::Bool(true));
        }
    }
    let nested = |v: &Value, seen: &mut Vec<String>| match v {
        Value::Object(m) => Value::Object(conservative(m, defs, depth + 1, seen)),
        other => other.clone(),
    };
    if let Some(items) = out.get("items").cloned() {
        out.insert("items".to_owned(), nested(&items, seen));
    }
    if let Some(Value::Object(props)) = out.get("properties").cloned() {
        let props = props
            .iter()
            .map(|(k, v)| (k.clone(), nested(v, seen)))
            .collect();
        out.insert("properties".to_owned(), Value::Object(props));
    }
    out
}
