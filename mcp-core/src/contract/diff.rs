//! Comparing two contracts of a server: what would break a client written against the old one.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use super::document::{ContractError, ServerContract};
use crate::types::{JsonObject, Prompt, Tool};

/// Whether a change can break a client written against the old contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A client written against the old contract may fail.
    Breaking,
    /// Old clients keep working.
    Compatible,
}

/// What changed, by rule. The names (`Display`) are stable and used in `mcp contract diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Rule {
    /// A tool, resource, template or prompt is gone.
    ItemRemoved,
    /// A tool, resource, template or prompt is new.
    ItemAdded,
    /// An argument (or a property of an object inside one) is gone.
    ArgumentRemoved,
    /// An argument is gone and another with the same schema appeared.
    ArgumentRenamed,
    /// A new argument that must be given.
    ArgumentAddedRequired,
    /// A new argument that may be left out.
    ArgumentAddedOptional,
    /// An argument that could be left out must now be given.
    ArgumentNowRequired,
    /// An argument that had to be given may now be left out.
    ArgumentNowOptional,
    /// An input accepts fewer types.
    InputTypeNarrowed,
    /// An input accepts more types.
    InputTypeWidened,
    /// An input accepts fewer enum values (or gained an enum or a `const`).
    InputEnumNarrowed,
    /// An input accepts more enum values.
    InputEnumWidened,
    /// A minimum, maximum, length, item count or `multipleOf` accepts less.
    InputRangeNarrowed,
    /// A minimum, maximum, length or item count accepts more.
    InputRangeWidened,
    /// A `pattern` or `format` was added to an input or changed.
    InputPatternNarrowed,
    /// A `pattern` or `format` of an input was removed.
    InputPatternWidened,
    /// An input's `anyOf`/`oneOf`/`allOf`/`not` changed (not compared further).
    InputCompositionChanged,
    /// The tool no longer declares an output schema.
    OutputSchemaRemoved,
    /// The tool now declares an output schema.
    OutputSchemaAdded,
    /// An output field is gone, or may now be absent.
    OutputFieldRemoved,
    /// An output field is new.
    OutputFieldAdded,
    /// An output field may now hold a type (or enum value) it could not before.
    OutputRetyped,
    /// An output's `anyOf`/`oneOf`/`allOf`/`not` changed (not compared further).
    OutputCompositionChanged,
    /// A read-only tool may now destroy.
    BecameDestructive,
    /// A tool now has to be called as a task.
    TaskNowRequired,
    /// A resource template's URI template changed.
    UriTemplateChanged,
    /// A capability the server declared is gone.
    CapabilityRemoved,
    /// A capability is new.
    CapabilityAdded,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = serde_json::to_value(self).expect("a rule serializes");
        f.write_str(v.as_str().expect("a rule is a string"))
    }
}

/// One difference between two contracts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// Breaking or compatible.
    pub severity: Severity,
    /// Which rule.
    pub rule: Rule,
    /// The item: `tool add`, `prompt greet`, `resource file:///a`, `template logs`,
    /// `capabilities`.
    pub item: String,
    /// A JSON pointer into the item's definition (`/inputSchema/properties/limit`); empty for
    /// the item itself.
    pub pointer: String,
    /// What changed, in words.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Breaking => "breaking",
            Severity::Compatible => "compatible",
        };
        write!(f, "{severity} [{}] {}", self.rule, self.item)?;
        if !self.pointer.is_empty() {
            write!(f, " {}", self.pointer)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The findings of [`diff`], breaking first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ContractDiff {
    /// Every difference found.
    pub findings: Vec<Finding>,
}

impl ContractDiff {
    /// Whether any finding is breaking.
    pub fn is_breaking(&self) -> bool {
        self.breaking().next().is_some()
    }

    /// The breaking findings.
    pub fn breaking(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Breaking)
    }
}

impl fmt::Display for ContractDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for finding in &self.findings {
            writeln!(f, "{finding}")?;
        }
        Ok(())
    }
}

/// Compares the contract a client was written against (`old`) with a new one.
///
/// Inputs may accept more and outputs may promise more; anything else breaks a client:
/// a removed tool, resource, template or prompt; a removed or renamed argument; a new required
/// argument; a narrowed type, enum, range, pattern or format on an input; a removed, optional
/// or retyped output field (an output enum value added counts as retyped: a typed client
/// rejects it); a tool whose annotations go from read-only to destructive; a changed URI
/// template; a removed capability. Additions are reported as compatible.
///
/// ```
/// use mcp_core::contract::{Rule, ServerContract, diff};
/// use mcp_core::types::{Implementation, ServerCapabilities, Tool};
/// use mcp_core::ProtocolVersion;
/// use serde_json::json;
///
/// let contract = |schema: serde_json::Value| {
///     let tool = Tool::new("search", schema.as_object().unwrap().clone());
///     ServerContract::new(ProtocolVersion::V2025_11_25, &Implementation::new("s", "1"), ServerCapabilities::default())
///         .with_tools(vec![tool])
/// };
/// let old = contract(json!({"type": "object", "properties": {"q": {"type": "string"}}}));
/// let new = contract(json!({"type": "object", "properties": {"q": {"type": "string"}, "limit": {"type": "integer"}}, "required": ["limit"]}));
/// let d = diff(&old, &new).unwrap();
/// assert!(d.is_breaking());
/// assert_eq!(d.findings[0].rule, Rule::ArgumentAddedRequired);
/// assert_eq!(d.findings[0].pointer, "/inputSchema/properties/limit");
/// ```
pub fn diff(old: &ServerContract, new: &ServerContract) -> Result<ContractDiff, ContractError> {
    if old.protocol_version != new.protocol_version {
        return Err(ContractError::VersionMismatch {
            old: old.protocol_version.clone(),
            new: new.protocol_version.clone(),
        });
    }
    let mut out = Vec::new();
    capabilities(old, new, &mut out);
    keyed(&old.tools, &new.tools, |t| &t.name, "tool", &mut out, tool);
    keyed(
        &old.resources,
        &new.resources,
        |r| &r.uri,
        "resource",
        &mut out,
        |_, _, _| {},
    );
    keyed(
        &old.resource_templates,
        &new.resource_templates,
        |t| &t.name,
        "template",
        &mut out,
        |o, n, cx| {
            if o.uri_template != n.uri_template {
                cx.push(
                    Severity::Breaking,
                    Rule::UriTemplateChanged,
                    "/uriTemplate",
                    format!(
                        "URI template changed from `{}` to `{}`",
                        o.uri_template, n.uri_template
                    ),
                );
            }
        },
    );
    keyed(
        &old.prompts,
        &new.prompts,
        |p| &p.name,
        "prompt",
        &mut out,
        prompt,
    );
    out.sort_by_key(|f| f.severity);
    Ok(ContractDiff { findings: out })
}

/// Panics with the breaking findings if `new` would break a client written against `old`.
///
/// For a unit test that holds the released contract as a file:
///
/// ```
/// use mcp_core::contract::{ServerContract, assert_compatible};
/// use mcp_core::types::{Implementation, ServerCapabilities};
/// use mcp_core::ProtocolVersion;
///
/// let old = ServerContract::new(ProtocolVersion::V2025_11_25, &Implementation::new("s", "1"), ServerCapabilities::default());
/// let new = old.clone();
/// assert_compatible(&old, &new);
/// ```
#[track_caller]
pub fn assert_compatible(old: &ServerContract, new: &ServerContract) {
    match diff(old, new) {
        Ok(d) if !d.is_breaking() => {}
        Ok(d) => {
            let lines: Vec<String> = d.breaking().map(ToString::to_string).collect();
            panic!(
                "the new contract breaks clients of the old one:\n{}",
                lines.join("\n")
            );
        }
        Err(e) => panic!("the contracts cannot be compared: {e}"),
    }
}

/// Where findings about one item go.
struct Cx<'a> {
    item: String,
    out: &'a mut Vec<Finding>,
}

impl Cx<'_> {
    fn push(&mut self, severity: Severity, rule: Rule, pointer: &str, message: String) {
        self.out.push(Finding {
            severity,
            rule,
            item: self.item.clone(),
            pointer: pointer.to_owned(),
            message,
        });
    }
}

fn keyed<T>(
    old: &[T],
    new: &[T],
    key: impl Fn(&T) -> &String,
    kind: &str,
    out: &mut Vec<Finding>,
    compare: impl Fn(&T, &T, &mut Cx<'_>),
) {
    let new_by: BTreeMap<&String, &T> = new.iter().map(|n| (key(n), n)).collect();
    let old_keys: BTreeSet<&String> = old.iter().map(&key).collect();
    for o in old {
        let mut cx = Cx {
            item: format!("{kind} {}", key(o)),
            out,
        };
        match new_by.get(key(o)) {
            Some(n) => compare(o, n, &mut cx),
            None => cx.push(
                Severity::Breaking,
                Rule::ItemRemoved,
                "",
                format!("{kind} `{}` was removed", key(o)),
            ),
        }
    }
    for n in new.iter().filter(|n| !old_keys.contains(key(n))) {
        out.push(Finding {
            severity: Severity::Compatible,
            rule: Rule::ItemAdded,
            item: format!("{kind} {}", key(n)),
            pointer: String::new(),
            message: format!("{kind} `{}` was added", key(n)),
        });
    }
}

fn capabilities(old: &ServerContract, new: &ServerContract, out: &mut Vec<Finding>) {
    let (old_caps, new_caps) = (
        serde_json::to_value(&old.capabilities).unwrap_or_default(),
        serde_json::to_value(&new.capabilities).unwrap_or_default(),
    );
    let (mut o, mut n) = (BTreeMap::new(), BTreeMap::new());
    flatten(&old_caps, "", &mut o);
    flatten(&new_caps, "", &mut n);
    let mut cx = Cx {
        item: "capabilities".to_owned(),
        out,
    };
    for (pointer, value) in &o {
        if truthy(value) && !n.get(pointer).is_some_and(truthy) {
            cx.push(
                Severity::Breaking,
                Rule::CapabilityRemoved,
                pointer,
                format!("capability `{pointer}` is no longer declared"),
            );
        }
    }
    for (pointer, value) in &n {
        if truthy(value) && !o.get(pointer).is_some_and(truthy) {
            cx.push(
                Severity::Compatible,
                Rule::CapabilityAdded,
                pointer,
                format!("capability `{pointer}` is now declared"),
            );
        }
    }
}

/// The leaves of a capabilities object: `true` flags, and empty objects (a capability with no
/// options, such as `logging: {}`).
fn flatten<'a>(v: &'a Value, pointer: &str, leaves: &mut BTreeMap<String, &'a Value>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                flatten(v, &format!("{pointer}/{}", escape(k)), leaves);
            }
        }
        _ if !pointer.is_empty() => {
            leaves.insert(pointer.to_owned(), v);
        }
        _ => {}
    }
}

fn truthy(v: &&Value) -> bool {
    !matches!(v, Value::Bool(false) | Value::Null)
}

fn tool(old: &Tool, new: &Tool, cx: &mut Cx<'_>) {
    let mut schema = Schemas {
        old_defs: defs(&old.input_schema),
        new_defs: defs(&new.input_schema),
        cx,
        depth: 0,
        visiting: Vec::new(),
    };
    schema.input(&old.input_schema, &new.input_schema, "/inputSchema", true);
    match (&old.output_schema, &new.output_schema) {
        (Some(o), Some(n)) => {
            schema.old_defs = defs(o);
            schema.new_defs = defs(n);
            schema.output(o, n, "/outputSchema");
        }
        (Some(_), None) => schema.cx.push(
            Severity::Breaking,
            Rule::OutputSchemaRemoved,
            "/outputSchema",
            "the tool no longer declares an output schema".to_owned(),
        ),
        (None, Some(_)) => schema.cx.push(
            Severity::Compatible,
            Rule::OutputSchemaAdded,
            "/outputSchema",
            "the tool now declares an output schema".to_owned(),
        ),
        (None, None) => {}
    }
    let read_only = |t: &Tool| {
        t.annotations
            .as_ref()
            .and_then(|a| a.read_only_hint)
            .unwrap_or(false)
    };
    // The spec's defaults: a tool that is not read-only may destroy unless it says it does not.
    let destructive = |t: &Tool| {
        !read_only(t)
            && t.annotations
                .as_ref()
                .and_then(|a| a.destructive_hint)
                .unwrap_or(true)
    };
    if read_only(old) && destructive(new) {
        cx.push(
            Severity::Breaking,
            Rule::BecameDestructive,
            "/annotations",
            "the tool was read-only and may now destroy".to_owned(),
        );
    }
    let task = |t: &Tool| {
        t.execution
            .as_ref()
            .and_then(|e| serde_json::to_value(e).ok())
            .and_then(|v| v.get("taskSupport").cloned())
    };
    if task(new).as_ref().and_then(Value::as_str) == Some("required")
        && task(old).as_ref().and_then(Value::as_str) != Some("required")
    {
        cx.push(
            Severity::Breaking,
            Rule::TaskNowRequired,
            "/execution/taskSupport",
            "the tool must now be called as a task".to_owned(),
        );
    }
}

fn prompt(old: &Prompt, new: &Prompt, cx: &mut Cx<'_>) {
    let args = |p: &Prompt| -> BTreeMap<String, bool> {
        p.arguments
            .iter()
            .flatten()
            .map(|a| (a.name.clone(), a.required.unwrap_or(false)))
            .collect()
    };
    let (o, n) = (args(old), args(new));
    for (name, required) in &o {
        let pointer = format!("/arguments/{}", escape(name));
        match n.get(name) {
            None => cx.push(
                Severity::Breaking,
                Rule::ArgumentRemoved,
                &pointer,
                format!("argument `{name}` was removed"),
            ),
            Some(true) if !required => cx.push(
                Severity::Breaking,
                Rule::ArgumentNowRequired,
                &pointer,
                format!("argument `{name}` is now required"),
            ),
            Some(false) if *required => cx.push(
                Severity::Compatible,
                Rule::ArgumentNowOptional,
                &pointer,
                format!("argument `{name}` is now optional"),
            ),
            Some(_) => {}
        }
    }
    for (name, required) in n.iter().filter(|(k, _)| !o.contains_key(*k)) {
        let pointer = format!("/arguments/{}", escape(name));
        if *required {
            cx.push(
                Severity::Breaking,
                Rule::ArgumentAddedRequired,
                &pointer,
                format!("new required argument `{name}`"),
            );
        } else {
            cx.push(
                Severity::Compatible,
                Rule::ArgumentAddedOptional,
                &pointer,
                format!("new optional argument `{name}`"),
            );
        }
    }
}

/// Escapes a key for a JSON pointer (RFC 6901).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn defs(root: &JsonObject) -> Option<&Map<String, Value>> {
    root.get("$defs")
        .or_else(|| root.get("definitions"))
        .and_then(Value::as_object)
}

/// Schemas nested deeper than this are not compared (recursive `$ref`s end here too).
const MAX_DEPTH: usize = 24;

const COMPOSITION: [&str; 4] = ["anyOf", "oneOf", "allOf", "not"];

struct Schemas<'a, 'c, 'o> {
    old_defs: Option<&'a Map<String, Value>>,
    new_defs: Option<&'a Map<String, Value>>,
    cx: &'c mut Cx<'o>,
    depth: usize,
    /// The pairs of `$ref`s being compared: a recursive schema is compared once.
    visiting: Vec<(Option<&'a Value>, Option<&'a Value>)>,
}

fn resolve<'a>(
    schema: &'a Map<String, Value>,
    defs: Option<&'a Map<String, Value>>,
) -> &'a Map<String, Value> {
    let mut s = schema;
    // A chain of references, followed a few steps at most.
    for _ in 0..8 {
        let Some(target) = s
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| {
                r.strip_prefix("#/$defs/")
                    .or_else(|| r.strip_prefix("#/definitions/"))
            })
            .and_then(|name| defs?.get(name))
            .and_then(Value::as_object)
        else {
            break;
        };
        s = target;
    }
    s
}

/// The JSON types a schema allows; `None` when it does not say.
fn type_set(schema: &Map<String, Value>) -> Option<BTreeSet<&str>> {
    match schema.get("type")? {
        Value::String(t) => Some(BTreeSet::from([t.as_str()])),
        Value::Array(ts) => Some(ts.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

/// Whether a value of type `t` fits a schema allowing `types` (`integer` fits `number`).
fn type_fits(t: &str, types: &BTreeSet<&str>) -> bool {
    types.contains(t) || (t == "integer" && types.contains("number"))
}

fn required(schema: &Map<String, Value>) -> BTreeSet<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The properties of an object schema (none when it declares none).
fn properties(schema: &Map<String, Value>) -> &Map<String, Value> {
    static NONE: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
    schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&NONE)
}

fn values(schema: &Map<String, Value>) -> Option<Vec<&Value>> {
    if let Some(c) = schema.get("const") {
        return Some(vec![c]);
    }
    schema
        .get("enum")
        .and_then(Value::as_array)
        .map(|e| e.iter().collect())
}

fn number(schema: &Map<String, Value>, key: &str) -> Option<f64> {
    schema.get(key).and_then(Value::as_f64)
}

fn show(v: &Value) -> String {
    v.to_string()
}

fn names(set: &BTreeSet<&str>) -> String {
    set.iter()
        .map(|t| format!("`{t}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl<'a> Schemas<'a, '_, '_> {
    /// `new` must accept every value `old` accepted.
    fn input(
        &mut self,
        old: &'a Map<String, Value>,
        new: &'a Map<String, Value>,
        at: &str,
        top: bool,
    ) {
        if self.enter(old, new) {
            self.input_here(old, new, at, top);
            self.visiting.pop();
        }
    }

    /// Whether to compare `old` with `new`: not too deep, and not a pair of references already
    /// being compared further up.
    fn enter(&mut self, old: &'a Map<String, Value>, new: &'a Map<String, Value>) -> bool {
        let refs = (old.get("$ref"), new.get("$ref"));
        if self.depth > MAX_DEPTH || (refs != (None, None) && self.visiting.contains(&refs)) {
            return false;
        }
        self.visiting.push(refs);
        true
    }

    fn input_here(
        &mut self,
        old: &'a Map<String, Value>,
        new: &'a Map<String, Value>,
        at: &str,
        top: bool,
    ) {
        let old = resolve(old, self.old_defs);
        let new = resolve(new, self.new_defs);
        if COMPOSITION.iter().any(|k| old.get(*k) != new.get(*k)) {
            self.cx.push(
                Severity::Breaking,
                Rule::InputCompositionChanged,
                at,
                "`anyOf`/`oneOf`/`allOf`/`not` changed".to_owned(),
            );
        }

        match (type_set(old), type_set(new)) {
            (Some(o), Some(n)) => {
                let lost: BTreeSet<&str> =
                    o.iter().copied().filter(|t| !type_fits(t, &n)).collect();
                let gained: BTreeSet<&str> =
                    n.iter().copied().filter(|t| !type_fits(t, &o)).collect();
                if !lost.is_empty() {
                    self.cx.push(
                        Severity::Breaking,
                        Rule::InputTypeNarrowed,
                        at,
                        format!("no longer accepts {}", names(&lost)),
                    );
                } else if !gained.is_empty() {
                    self.cx.push(
                        Severity::Compatible,
                        Rule::InputTypeWidened,
                        at,
                        format!("now also accepts {}", names(&gained)),
                    );
                }
            }
            (None, Some(n)) => self.cx.push(
                Severity::Breaking,
                Rule::InputTypeNarrowed,
                at,
                format!("now accepts only {}", names(&n)),
            ),
            (Some(o), None) => self.cx.push(
                Severity::Compatible,
                Rule::InputTypeWidened,
                at,
                format!("accepted only {} and now any type", names(&o)),
            ),
            (None, None) => {}
        }

        match (values(old), values(new)) {
            (Some(o), Some(n)) => {
                let lost: Vec<String> = o
                    .iter()
                    .filter(|v| !n.contains(v))
                    .map(|v| show(v))
                    .collect();
                let gained: Vec<String> = n
                    .iter()
                    .filter(|v| !o.contains(v))
                    .map(|v| show(v))
                    .collect();
                if !lost.is_empty() {
                    self.cx.push(
                        Severity::Breaking,
                        Rule::InputEnumNarrowed,
                        at,
                        format!("no longer accepts {}", lost.join(", ")),
                    );
                }
                if !gained.is_empty() {
                    self.cx.push(
                        Severity::Compatible,
                        Rule::InputEnumWidened,
                        at,
                        format!("now also accepts {}", gained.join(", ")),
                    );
                }
            }
            (None, Some(n)) => {
                let list: Vec<String> = n.iter().map(|v| show(v)).collect();
                self.cx.push(
                    Severity::Breaking,
                    Rule::InputEnumNarrowed,
                    at,
                    format!("now accepts only {}", list.join(", ")),
                );
            }
            (Some(_), None) => self.cx.push(
                Severity::Compatible,
                Rule::InputEnumWidened,
                at,
                "no longer limited to an enum".to_owned(),
            ),
            (None, None) => {}
        }

        self.ranges(old, new, at);

        for key in ["pattern", "format"] {
            match (old.get(key), new.get(key)) {
                (o, Some(n)) if o != Some(n) => self.cx.push(
                    Severity::Breaking,
                    Rule::InputPatternNarrowed,
                    at,
                    match o {
                        Some(o) => format!("`{key}` changed from {} to {}", show(o), show(n)),
                        None => format!("now has `{key}` {}", show(n)),
                    },
                ),
                (Some(o), None) => self.cx.push(
                    Severity::Compatible,
                    Rule::InputPatternWidened,
                    at,
                    format!("`{key}` {} was removed", show(o)),
                ),
                _ => {}
            }
        }

        self.input_properties(old, new, at, top);

        if let (Some(o), Some(n)) = (
            old.get("items").and_then(Value::as_object),
            new.get("items").and_then(Value::as_object),
        ) {
            self.depth += 1;
            self.input(o, n, &format!("{at}/items"), false);
            self.depth -= 1;
        }
    }

    fn input_properties(
        &mut self,
        old: &'a Map<String, Value>,
        new: &'a Map<String, Value>,
        at: &str,
        top: bool,
    ) {
        let (op, np) = (properties(old), properties(new));
        let (or, nr) = (required(old), required(new));
        let noun = if top { "argument" } else { "property" };
        let added: Vec<&String> = np.keys().filter(|k| !op.contains_key(*k)).collect();
        let mut renamed_to = BTreeSet::new();
        for (name, o) in op {
            let pointer = format!("{at}/properties/{}", escape(name));
            match np.get(name) {
                Some(n) => {
                    if nr.contains(name.as_str()) && !or.contains(name.as_str()) {
                        self.cx.push(
                            Severity::Breaking,
                            Rule::ArgumentNowRequired,
                            &pointer,
                            format!("{noun} `{name}` is now required"),
                        );
                    } else if or.contains(name.as_str()) && !nr.contains(name.as_str()) {
                        self.cx.push(
                            Severity::Compatible,
                            Rule::ArgumentNowOptional,
                            &pointer,
                            format!("{noun} `{name}` is now optional"),
                        );
                    }
                    if let (Some(o), Some(n)) = (o.as_object(), n.as_object()) {
                        self.depth += 1;
                        self.input(o, n, &pointer, false);
                        self.depth -= 1;
                    }
                }
                None => {
                    // The same schema under a new name is most likely a rename.
                    let twin = added
                        .iter()
                        .find(|k| !renamed_to.contains(**k) && np.get(**k) == Some(o));
                    match twin {
                        Some(to) => {
                            renamed_to.insert(*to);
                            self.cx.push(
                                Severity::Breaking,
                                Rule::ArgumentRenamed,
                                &pointer,
                                format!("{noun} `{name}` was renamed to `{to}`"),
                            );
                        }
                        None => self.cx.push(
                            Severity::Breaking,
                            Rule::ArgumentRemoved,
                            &pointer,
                            format!("{noun} `{name}` was removed"),
                        ),
                    }
                }
            }
        }
        for name in added {
            if renamed_to.contains(name) {
                continue;
            }
            let pointer = format!("{at}/properties/{}", escape(name));
            if nr.contains(name.as_str()) {
                self.cx.push(
                    Severity::Breaking,
                    Rule::ArgumentAddedRequired,
                    &pointer,
                    format!("new required {noun} `{name}`"),
                );
            } else {
                self.cx.push(
                    Severity::Compatible,
                    Rule::ArgumentAddedOptional,
                    &pointer,
                    format!("new optional {noun} `{name}`"),
                );
            }
        }
    }

    /// Lower bounds may only go down and upper bounds up for an input.
    fn ranges(&mut self, old: &Map<String, Value>, new: &Map<String, Value>, at: &str) {
        const LOWER: [&str; 5] = [
            "minimum",
            "exclusiveMinimum",
            "minLength",
            "minItems",
            "minProperties",
        ];
        const UPPER: [&str; 5] = [
            "maximum",
            "exclusiveMaximum",
            "maxLength",
            "maxItems",
            "maxProperties",
        ];
        for (keys, lower) in [(LOWER, true), (UPPER, false)] {
            for key in keys {
                let (o, n) = (number(old, key), number(new, key));
                let narrowed = match (o, n) {
                    (None, Some(_)) => Some(true),
                    (Some(_), None) => Some(false),
                    (Some(o), Some(n)) if o != n => Some(if lower { n > o } else { n < o }),
                    _ => None,
                };
                let describe = |v: Option<f64>| v.map_or("none".to_owned(), |v| v.to_string());
                match narrowed {
                    Some(true) => self.cx.push(
                        Severity::Breaking,
                        Rule::InputRangeNarrowed,
                        at,
                        format!("`{key}` went from {} to {}", describe(o), describe(n)),
                    ),
                    Some(false) => self.cx.push(
                        Severity::Compatible,
                        Rule::InputRangeWidened,
                        at,
                        format!("`{key}` went from {} to {}", describe(o), describe(n)),
                    ),
                    None => {}
                }
            }
        }
        let (o, n) = (old.get("multipleOf"), new.get("multipleOf"));
        if n.is_some() && o != n {
            self.cx.push(
                Severity::Breaking,
                Rule::InputRangeNarrowed,
                at,
                format!(
                    "`multipleOf` went from {} to {}",
                    o.map_or("none".to_owned(), show),
                    n.map_or("none".to_owned(), show)
                ),
            );
        }
    }

    /// `new` may only produce values `old` promised.
    fn output(&mut self, old: &'a Map<String, Value>, new: &'a Map<String, Value>, at: &str) {
        if self.enter(old, new) {
            self.output_here(old, new, at);
            self.visiting.pop();
        }
    }

    fn output_here(&mut self, old: &'a Map<String, Value>, new: &'a Map<String, Value>, at: &str) {
        let old = resolve(old, self.old_defs);
        let new = resolve(new, self.new_defs);

        if COMPOSITION.iter().any(|k| old.get(*k) != new.get(*k)) {
            self.cx.push(
                Severity::Breaking,
                Rule::OutputCompositionChanged,
                at,
                "`anyOf`/`oneOf`/`allOf`/`not` changed".to_owned(),
            );
        }

        match (type_set(old), type_set(new)) {
            (Some(o), Some(n)) => {
                let gained: BTreeSet<&str> =
                    n.iter().copied().filter(|t| !type_fits(t, &o)).collect();
                if !gained.is_empty() {
                    self.cx.push(
                        Severity::Breaking,
                        Rule::OutputRetyped,
                        at,
                        format!("may now be {} (was {})", names(&gained), names(&o)),
                    );
                }
            }
            (Some(o), None) => self.cx.push(
                Severity::Breaking,
                Rule::OutputRetyped,
                at,
                format!("was {} and may now be any type", names(&o)),
            ),
            _ => {}
        }

        match (values(old), values(new)) {
            (Some(o), Some(n)) => {
                let gained: Vec<String> = n
                    .iter()
                    .filter(|v| !o.contains(v))
                    .map(|v| show(v))
                    .collect();
                if !gained.is_empty() {
                    self.cx.push(
                        Severity::Breaking,
                        Rule::OutputRetyped,
                        at,
                        format!("may now be {}", gained.join(", ")),
                    );
                }
            }
            (Some(_), None) => self.cx.push(
                Severity::Breaking,
                Rule::OutputRetyped,
                at,
                "is no longer limited to an enum".to_owned(),
            ),
            _ => {}
        }

        let (op, np) = (properties(old), properties(new));
        let (or, nr) = (required(old), required(new));
        for (name, o) in op {
            let pointer = format!("{at}/properties/{}", escape(name));
            match np.get(name) {
                None => self.cx.push(
                    Severity::Breaking,
                    Rule::OutputFieldRemoved,
                    &pointer,
                    format!("output field `{name}` was removed"),
                ),
                Some(n) => {
                    if or.contains(name.as_str()) && !nr.contains(name.as_str()) {
                        self.cx.push(
                            Severity::Breaking,
                            Rule::OutputFieldRemoved,
                            &pointer,
                            format!("output field `{name}` may now be absent"),
                        );
                    }
                    if let (Some(o), Some(n)) = (o.as_object(), n.as_object()) {
                        self.depth += 1;
                        self.output(o, n, &pointer);
                        self.depth -= 1;
                    }
                }
            }
        }
        for name in np.keys().filter(|k| !op.contains_key(*k)) {
            self.cx.push(
                Severity::Compatible,
                Rule::OutputFieldAdded,
                &format!("{at}/properties/{}", escape(name)),
                format!("new output field `{name}`"),
            );
        }

        if let (Some(o), Some(n)) = (
            old.get("items").and_then(Value::as_object),
            new.get("items").and_then(Value::as_object),
        ) {
            self.depth += 1;
            self.output(o, n, &format!("{at}/items"));
            self.depth -= 1;
        }
    }
}
