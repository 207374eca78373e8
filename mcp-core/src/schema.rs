//! Post-processing of JSON Schemas into the shape strict MCP clients accept.
//!
//! Generators (schemars, hand-written schemas) produce valid JSON Schema 2020-12 that some clients
//! still refuse: `$ref`s into `$defs`, `["string", "null"]` type arrays, `oneOf` lists of constants.
//! [`strict_object_schema`] rewrites a schema into the plainest equivalent form:
//!
//! - the top level is an object with `properties` and `required` (both present, maybe empty);
//! - `$ref`s to local definitions are inlined, except where a definition refers to itself (a
//!   recursive type), in which case that definition stays in `$defs`;
//! - a property that is not required and admits `null` loses the `null` (absence says it);
//! - a `oneOf`/`anyOf` of string constants becomes an `enum` of strings;
//! - `$schema` and the generator's `title` for the root type are dropped.
//!
//! Depth is bounded: a schema nested deeper than [`MAX_DEPTH`] is left as it is below that depth.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// How deep the rewriting goes.
pub const MAX_DEPTH: usize = 64;

/// Rewrites `schema` (an object schema) into the strict shape. See the module docs.
pub fn strict_object_schema(schema: Value) -> Map<String, Value> {
    let mut root = match schema {
        Value::Object(m) => m,
        Value::Bool(true) => Map::new(),
        other => {
            let mut m = Map::new();
            m.insert("allOf".into(), Value::Array(vec![other]));
            m
        }
    };
    root.remove("$schema");
    root.remove("title");
    let defs = take_defs(&mut root);
    let recursive = recursive_defs(&defs);
    let mut kept = Map::new();
    let mut stack = Vec::new();
    rewrite(&mut root, &defs, &recursive, &mut kept, &mut stack, 0);
    root.insert("type".into(), Value::String("object".into()));
    root.entry("properties")
        .or_insert_with(|| Value::Object(Map::new()));
    root.entry("required")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !kept.is_empty() {
        root.insert("$defs".into(), Value::Object(kept));
    }
    root
}

fn take_defs(root: &mut Map<String, Value>) -> Map<String, Value> {
    let mut defs = Map::new();
    for key in ["$defs", "definitions"] {
        if let Some(Value::Object(d)) = root.remove(key) {
            defs.extend(d);
        }
    }
    defs
}

fn ref_name(reference: &str) -> Option<&str> {
    reference
        .strip_prefix("#/$defs/")
        .or_else(|| reference.strip_prefix("#/definitions/"))
}

fn collect_refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref")
                && let Some(name) = ref_name(r)
            {
                out.insert(name.to_owned());
            }
            m.values().for_each(|x| collect_refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

/// The definitions that can reach themselves through `$ref`s.
fn recursive_defs(defs: &Map<String, Value>) -> BTreeSet<String> {
    let edges: Vec<(String, BTreeSet<String>)> = defs
        .iter()
        .map(|(k, v)| {
            let mut refs = BTreeSet::new();
            collect_refs(v, &mut refs);
            (k.clone(), refs)
        })
        .collect();
    let reach = |start: &str| -> bool {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<String> = edges
            .iter()
            .find(|(k, _)| k == start)
            .map(|(_, r)| r.iter().cloned().collect())
            .unwrap_or_default();
        while let Some(n) = todo.pop() {
            if n == start {
                return true;
            }
            if seen.insert(n.clone())
                && let Some((_, r)) = edges.iter().find(|(k, _)| *k == n)
            {
                todo.extend(r.iter().cloned());
            }
        }
        false
    };
    defs.keys().filter(|k| reach(k)).cloned().collect()
}

fn rewrite(
    node: &mut Map<String, Value>,
    defs: &Map<String, Value>,
    recursive: &BTreeSet<String>,
    kept: &mut Map<String, Value>,
    stack: &mut Vec<String>,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    // Inline a local $ref, unless it is recursive.
    if let Some(Value::String(r)) = node.get("$ref").cloned()
        && let Some(name) = ref_name(&r)
    {
        if recursive.contains(name) {
            node.insert("$ref".into(), Value::String(format!("#/$defs/{name}")));
            if !kept.contains_key(name)
                && !stack.iter().any(|s| s == name)
                && let Some(Value::Object(def)) = defs.get(name)
            {
                let mut def = def.clone();
                stack.push(name.to_owned());
                rewrite(&mut def, defs, recursive, kept, stack, depth + 1);
                stack.pop();
                kept.insert(name.to_owned(), Value::Object(def));
            }
        } else if let Some(Value::Object(def)) = defs.get(name) {
            node.remove("$ref");
            for (k, v) in def {
                node.entry(k.clone()).or_insert_with(|| v.clone());
            }
            node.remove("title");
        }
    }
    let required: BTreeSet<String> = node
        .get("required")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if let Some(Value::Object(props)) = node.get_mut("properties") {
        for (name, prop) in props.iter_mut() {
            if let Value::Object(p) = prop {
                rewrite(p, defs, recursive, kept, stack, depth + 1);
                if !required.contains(name) {
                    drop_null(p);
                }
            }
        }
    }
    for key in [
        "items",
        "additionalProperties",
        "not",
        "if",
        "then",
        "else",
        "contains",
    ] {
        if let Some(Value::Object(child)) = node.get_mut(key) {
            rewrite(child, defs, recursive, kept, stack, depth + 1);
        }
    }
    for key in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        if let Some(Value::Array(list)) = node.get_mut(key) {
            for child in list.iter_mut() {
                if let Value::Object(c) = child {
                    rewrite(c, defs, recursive, kept, stack, depth + 1);
                }
            }
        }
    }
    constants_to_enum(node);
}

/// `{"type": ["string", "null"]}` → `{"type": "string"}`; `anyOf: [X, {"type": "null"}]` → X.
fn drop_null(p: &mut Map<String, Value>) {
    if let Some(Value::Array(types)) = p.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let t = types.remove(0);
            p.insert("type".into(), t);
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(list)) = p.get(key) {
            let non_null: Vec<&Value> = list
                .iter()
                .filter(|s| s.get("type").and_then(Value::as_str) != Some("null"))
                .collect();
            if non_null.len() == 1
                && list.len() == 2
                && let Value::Object(inner) = non_null[0].clone()
            {
                p.remove(key);
                for (k, v) in inner {
                    p.entry(k).or_insert(v);
                }
            }
        }
    }
    if let Some(Value::Array(values)) = p.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
}

/// `oneOf: [{"const": "a"}, {"const": "b"}]` (string constants, maybe with descriptions) →
/// `"type": "string", "enum": ["a", "b"]`.
fn constants_to_enum(node: &mut Map<String, Value>) {
    for key in ["oneOf", "anyOf"] {
        let Some(Value::Array(list)) = node.get(key) else {
            continue;
        };
        let consts: Option<Vec<Value>> = list
            .iter()
            .map(|s| match s.get("const") {
                Some(c @ Value::String(_)) => Some(c.clone()),
                _ => s
                    .get("enum")
                    .and_then(Value::as_array)
                    .filter(|e| e.len() == 1 && e[0].is_string())
                    .map(|e| e[0].clone()),
            })
            .collect();
        if let Some(consts) = consts.filter(|c| !c.is_empty()) {
            node.remove(key);
            node.insert("type".into(), Value::String("string".into()));
            node.insert("enum".into(), Value::Array(consts));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_and_plain_objects_get_properties_and_required() {
        let s = strict_object_schema(json!({"type": "object"}));
        assert_eq!(
            Value::Object(s),
            json!({"type": "object", "properties": {}, "required": []})
        );
    }

    #[test]
    fn refs_are_inlined_and_options_lose_null() {
        let s = strict_object_schema(json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "QueryInput",
            "type": "object",
            "properties": {
                "metric": {"$ref": "#/$defs/Metric"},
                "since": {"type": ["string", "null"], "format": "date"},
                "limit": {"anyOf": [{"$ref": "#/$defs/Limit"}, {"type": "null"}]}
            },
            "required": ["metric"],
            "$defs": {
                "Metric": {"oneOf": [{"const": "revenue", "description": "Money"}, {"const": "users"}]},
                "Limit": {"type": "integer", "minimum": 1}
            }
        }));
        assert_eq!(
            Value::Object(s),
            json!({
                "type": "object",
                "properties": {
                    "metric": {"type": "string", "enum": ["revenue", "users"]},
                    "since": {"type": "string", "format": "date"},
                    "limit": {"type": "integer", "minimum": 1}
                },
                "required": ["metric"]
            })
        );
    }

    #[test]
    fn recursive_definitions_stay_referenced() {
        let s = strict_object_schema(json!({
            "type": "object",
            "properties": {"tree": {"$ref": "#/$defs/Node"}},
            "required": ["tree"],
            "$defs": {"Node": {"type": "object", "properties": {
                "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}
            }}}
        }));
        assert_eq!(s["properties"]["tree"], json!({"$ref": "#/$defs/Node"}));
        assert_eq!(
            s["$defs"]["Node"]["properties"]["children"]["items"],
            json!({"$ref": "#/$defs/Node"})
        );
    }
}
