//! Typed tool contracts: the name, input type and output type of a tool, shared by the server
//! that implements it and the clients that call it.
//!
//! A contract lives in a crate of its own that depends on `mcp-core`, `serde` and `schemars`
//! only, not on a server or client runtime. The server's `#[tool]` implements [`ToolContract`]
//! for the marker it generates (and can be told to agree with a contract declared elsewhere); a
//! client calls `client.call(Add, AddInput { a: 1.0, b: 2.0 })` and gets the output type back.
//!
//! ```
//! # #[cfg(feature = "schemars")] {
//! use mcp_core::contract::ToolContract;
//!
//! #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
//! pub struct AddInput {
//!     pub a: f64,
//!     pub b: f64,
//! }
//!
//! mcp_core::tool_contract! {
//!     /// Adds two numbers.
//!     pub struct Add = "add" (AddInput) -> f64;
//! }
//!
//! assert_eq!(Add::NAME, "add");
//! // A number is not an object: the server wraps it as `{"result": ...}`.
//! assert!(Add::output_wrapped());
//! let schema = Add::output_schema().unwrap();
//! assert_eq!(schema["required"], serde_json::json!(["result"]));
//! # }
//! ```
//!
//! The output schema of a contract is compared with the `outputSchema` the server declares
//! ([`check_output_schema`]): a client reports drift instead of failing on some later result.
//!
//! A whole server's contract is its public surface at one protocol version, as a stable JSON
//! document ([`ServerContract`]): snapshot it in a test, and compare releases with [`diff`] or
//! [`assert_compatible`] to catch a change that breaks clients before it ships. [`lint`] checks
//! tool schemas against the dialects model providers accept ([`Dialect`]).

mod diff;
mod document;
mod lint;

pub use diff::{ContractDiff, Finding, Rule, Severity, assert_compatible, diff};
pub use document::{CONTRACT_FORMAT, ContractError, ContractServer, ServerContract};
pub use lint::{Dialect, LintFinding, lint};

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::types::JsonObject;

/// The contract of a tool: its name, what it takes and what it returns.
///
/// Implemented by `#[tool]` for the marker of a function, by [`tool_contract!`](crate::tool_contract)
/// for a unit struct, or by hand:
///
/// ```
/// use mcp_core::contract::ToolContract;
///
/// #[derive(Debug, Clone, Copy)]
/// pub struct Echo;
///
/// impl ToolContract for Echo {
///     const NAME: &'static str = "echo";
///     type Input = serde_json::Value;
///     // Text content: no output schema, the text is the value.
///     type Output = String;
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a tool contract",
    label = "not a `ToolContract`",
    note = "use the marker of a `#[tool]` fn, a struct declared with `mcp_core::tool_contract!`, or implement `mcp_core::contract::ToolContract`",
    note = "a `#[tool]` marker implements it only when the tool's arguments implement `serde::Serialize` and its output implements `serde::Deserialize`"
)]
pub trait ToolContract {
    /// The tool's name, as in `tools/list`.
    const NAME: &'static str;
    /// The arguments: serialized as the `arguments` object of `tools/call`.
    type Input: Serialize;
    /// The result: decoded from `structuredContent` (or from the text of a tool without
    /// structured output).
    type Output: DeserializeOwned;

    /// The `outputSchema` the server is expected to declare (with the `{"result": ...}`
    /// wrapper when the output is not an object); `None` for a tool returning content, which
    /// skips the comparison.
    fn output_schema() -> Option<JsonObject> {
        None
    }

    /// Whether `structuredContent` is `{"result": value}` rather than the value itself: true
    /// when the output is not a JSON object (a number, a string, a list, an enum). By default,
    /// whether the output schema is such a wrapper ([`is_result_wrapper`]).
    fn output_wrapped() -> bool {
        Self::output_schema().is_some_and(|s| is_result_wrapper(&s))
    }
}

/// Whether an output schema is the `{"result": ...}` wrapper servers put around outputs that
/// are not objects: an object whose one property, required, is `result`.
pub fn is_result_wrapper(schema: &JsonObject) -> bool {
    let one_property = schema
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| p.len() == 1 && p.contains_key("result"));
    one_property && required(schema) == ["result"]
}

/// Where and how a contract's output schema and a server's disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SchemaDrift {
    /// A JSON pointer into the output (`""` for the output itself, `/total`, `/items/0/name`).
    pub path: String,
    /// What differs, in words.
    pub reason: String,
}

impl SchemaDrift {
    /// A drift at `path` (a JSON pointer into the output).
    pub fn new(path: impl Into<String>, reason: impl Into<String>) -> Self {
        SchemaDrift {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for SchemaDrift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "at `{}`: {}", self.path, self.reason)
        }
    }
}

impl std::error::Error for SchemaDrift {}

/// How deep the comparison goes (schemas nested deeper are taken as compatible).
const MAX_DEPTH: usize = 32;

/// Checks that every output the server may send, judging by its `outputSchema` (`actual`),
/// decodes as the contract expects (`expected`).
///
/// Compatibility, not equality: each property the contract requires must be declared by the
/// server, required there too, and of a compatible type (`integer` fits `number`; a type list
/// must share a type); nested objects and array items are compared the same way. The server may
/// add properties, and what the contract leaves open (no `type`, `$ref`, `anyOf`, ...) is not
/// compared.
///
/// ```
/// use mcp_core::contract::check_output_schema;
/// use serde_json::json;
///
/// let contract = json!({"type": "object", "properties": {"total": {"type": "number"}}, "required": ["total"]});
/// let server = json!({"type": "object", "properties": {"total": {"type": "string"}}, "required": ["total"]});
/// let drift = check_output_schema(contract.as_object().unwrap(), server.as_object().unwrap()).unwrap_err();
/// assert_eq!(drift.to_string(), "at `/total`: the contract expects `number`, the server declares `string`");
/// ```
pub fn check_output_schema(expected: &JsonObject, actual: &JsonObject) -> Result<(), SchemaDrift> {
    let mut path = String::new();
    compare(
        expected,
        actual,
        &Defs::of(expected),
        &Defs::of(actual),
        &mut path,
        0,
    )
}

/// The local definitions of a schema, to follow `#/$defs/...` references.
struct Defs<'a>(Option<&'a Map<String, Value>>);

impl<'a> Defs<'a> {
    fn of(root: &'a JsonObject) -> Self {
        Defs(
            root.get("$defs")
                .or_else(|| root.get("definitions"))
                .and_then(Value::as_object),
        )
    }

    /// The schema itself, or the definition it refers to.
    fn resolve(&self, schema: &'a Map<String, Value>) -> &'a Map<String, Value> {
        let target = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| {
                r.strip_prefix("#/$defs/")
                    .or_else(|| r.strip_prefix("#/definitions/"))
            })
            .and_then(|name| self.0?.get(name))
            .and_then(Value::as_object);
        target.unwrap_or(schema)
    }
}

fn types(schema: &Map<String, Value>) -> Option<Vec<&str>> {
    match schema.get("type")? {
        Value::String(t) => Some(vec![t.as_str()]),
        Value::Array(ts) => Some(ts.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

fn type_fits(server: &str, contract: &str) -> bool {
    server == contract || (server == "integer" && contract == "number")
}

fn show(types: &[&str]) -> String {
    let quoted: Vec<String> = types.iter().map(|t| format!("`{t}`")).collect();
    quoted.join(" or ")
}

fn required(schema: &Map<String, Value>) -> Vec<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn compare(
    expected: &Map<String, Value>,
    actual: &Map<String, Value>,
    expected_defs: &Defs<'_>,
    actual_defs: &Defs<'_>,
    path: &mut String,
    depth: usize,
) -> Result<(), SchemaDrift> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let expected = expected_defs.resolve(expected);
    let actual = actual_defs.resolve(actual);
    let drift = |path: &str, reason: String| SchemaDrift {
        path: path.to_owned(),
        reason,
    };
    let (Some(want), Some(have)) = (types(expected), types(actual)) else {
        return Ok(());
    };
    if !have.iter().any(|h| want.iter().any(|w| type_fits(h, w))) {
        return Err(drift(
            path,
            format!(
                "the contract expects {}, the server declares {}",
                show(&want),
                show(&have)
            ),
        ));
    }
    if want.contains(&"object") && have.contains(&"object") {
        let empty = Map::new();
        let want_props = expected
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let have_props = actual
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let have_required = required(actual);
        for name in required(expected) {
            let len = path.len();
            path.push('/');
            path.push_str(name);
            let Some(have_prop) = have_props.get(name) else {
                return Err(drift(
                    path,
                    "required by the contract, but the server does not declare it".into(),
                ));
            };
            if !have_required.contains(&name) {
                return Err(drift(
                    path,
                    "required by the contract, but optional on the server".into(),
                ));
            }
            if let (Some(Value::Object(w)), Value::Object(h)) = (want_props.get(name), have_prop) {
                compare(w, h, expected_defs, actual_defs, path, depth + 1)?;
            }
            path.truncate(len);
        }
    }
    if want.contains(&"array")
        && have.contains(&"array")
        && let (Some(Value::Object(w)), Some(Value::Object(h))) =
            (expected.get("items"), actual.get("items"))
    {
        let len = path.len();
        path.push_str("/0");
        compare(w, h, expected_defs, actual_defs, path, depth + 1)?;
        path.truncate(len);
    }
    Ok(())
}

/// Schemas of contract types, generated the way the server generates them.
#[cfg(feature = "schemars")]
mod schemas {
    use schemars::JsonSchema;
    use schemars::generate::SchemaSettings;
    use serde_json::{Map, Value};

    use crate::types::JsonObject;

    fn root<T: JsonSchema + ?Sized>() -> Value {
        SchemaSettings::draft2020_12()
            .into_generator()
            .into_root_schema_for::<T>()
            .to_value()
    }

    /// Whether values of `T` serialize to JSON objects, judging by its schema.
    pub fn is_object<T: JsonSchema + ?Sized>() -> bool {
        root::<T>().get("type").and_then(Value::as_str) == Some("object")
    }

    /// The output schema of a tool returning `T`: `T`'s schema when it is an object, else an
    /// object with a single required `result` property.
    pub fn output_schema<T: JsonSchema + ?Sized>() -> JsonObject {
        let mut schema = root::<T>();
        if schema.get("type").and_then(Value::as_str) == Some("object") {
            return crate::schema::strict_object_schema(schema);
        }
        let defs = schema
            .as_object_mut()
            .and_then(|m| {
                m.remove("$schema");
                m.remove("$defs")
            })
            .unwrap_or_else(|| Value::Object(Map::new()));
        let mut wrapper = Map::new();
        wrapper.insert("type".into(), "object".into());
        let mut properties = Map::new();
        properties.insert("result".into(), schema);
        wrapper.insert("properties".into(), Value::Object(properties));
        wrapper.insert("required".into(), Value::Array(vec!["result".into()]));
        wrapper.insert("$defs".into(), defs);
        crate::schema::strict_object_schema(Value::Object(wrapper))
    }
}

/// What [`tool_contract!`](crate::tool_contract) and the macros' generated code call. Not a
/// public API.
#[doc(hidden)]
pub mod __private {
    pub use serde;

    #[cfg(feature = "schemars")]
    pub use super::schemas::{is_object, output_schema};

    /// Whether two strings are equal, in a constant (`#[tool(contract = ...)]` compares names).
    pub const fn same_str(a: &str, b: &str) -> bool {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }

    /// The fields of an `#[arg(flatten)]` struct, written as entries of the `{Marker}Input`
    /// they are flattened into (the tool takes them as top-level arguments); `null`s are left
    /// out.
    pub fn flatten_fields<M, T>(map: &mut M, value: &T) -> Result<(), M::Error>
    where
        M: serde::ser::SerializeMap,
        T: serde::Serialize + ?Sized,
    {
        use serde::ser::Error as _;
        match serde_json::to_value(value) {
            Ok(serde_json::Value::Object(fields)) => {
                // `None` is left out, as for the other fields: absent, not `null`.
                for (name, value) in fields.iter().filter(|(_, v)| !v.is_null()) {
                    map.serialize_entry(name, value)?;
                }
                Ok(())
            }
            Ok(other) => Err(M::Error::custom(format!(
                "a flattened argument serializes to an object, not `{other}`"
            ))),
            Err(e) => Err(M::Error::custom(e)),
        }
    }

    /// A field of a generated `{Marker}Input`, to leave out a `None` (autoref
    /// specialization: `(&&Field(&value)).is_none()`).
    pub struct Field<'a, T: ?Sized>(pub &'a T);

    /// An `Option` field: left out when `None`.
    pub trait OptionNone {
        /// Whether the field is `None`.
        fn is_none(&self) -> bool;
    }

    impl<T> OptionNone for &Field<'_, Option<T>> {
        fn is_none(&self) -> bool {
            self.0.is_none()
        }
    }

    /// Any other field: always sent.
    pub trait NeverNone {
        /// Never.
        fn is_none(&self) -> bool {
            false
        }
    }

    impl<T: ?Sized> NeverNone for Field<'_, T> {}

    /// Implemented only by the contract's output type (`#[tool(contract = ...)]`).
    #[diagnostic::on_unimplemented(
        message = "the tool's output type `{Self}` is not its contract's output type `{T}`",
        label = "not the contract's output type",
        note = "a tool implementing a contract returns the contract's output type (or `Result` of it)"
    )]
    pub trait SameOutput<T: ?Sized> {}

    impl<T: ?Sized> SameOutput<T> for T {}

    /// Implemented only by the contract's input type (`#[tool(contract = ...)]`).
    #[diagnostic::on_unimplemented(
        message = "the tool's `#[args]` type `{Self}` is not its contract's input type `{T}`",
        label = "not the contract's input type",
        note = "a tool implementing a contract takes the contract's input type as its `#[args]` parameter"
    )]
    pub trait SameInput<T: ?Sized> {}

    impl<T: ?Sized> SameInput<T> for T {}

    /// Compiles only when the tool's output type is the contract's.
    pub fn same_output<Tool: SameOutput<Contract> + ?Sized, Contract: ?Sized>() {}

    /// Compiles only when the tool's `#[args]` type is the contract's input type.
    pub fn same_input<Tool: SameInput<Contract> + ?Sized, Contract: ?Sized>() {}
}

/// Declares a tool contract without a runtime: a unit struct implementing [`ToolContract`].
///
/// `pub struct Marker = "tool-name" (Input) -> Output;` with `Output: JsonSchema` for a tool
/// with structured output, or `... -> Output as text;` for a tool returning text content (no
/// output schema; the text is decoded as JSON when it parses as `Output`, else taken as a
/// string). Needs the `schemars` feature of `mcp-core` for the schema of structured outputs.
///
/// ```
/// # #[cfg(feature = "schemars")] {
/// #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
/// pub struct Report {
///     pub metric: String,
///     pub value: f64,
/// }
///
/// mcp_core::tool_contract! {
///     /// The KPI report of a metric.
///     pub struct Query = "query" (serde_json::Value) -> Report;
///     /// Echoes its input.
///     pub struct Echo = "echo" (serde_json::Value) -> String as text;
/// }
///
/// use mcp_core::contract::ToolContract;
/// assert!(!Query::output_wrapped());
/// assert!(Echo::output_schema().is_none());
/// # }
/// ```
#[macro_export]
macro_rules! tool_contract {
    () => {};
    (
        $(#[$attr:meta])*
        $vis:vis struct $marker:ident = $name:literal ($input:ty) -> $output:ty as text;
        $($rest:tt)*
    ) => {
        $(#[$attr])*
        #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::marker::Copy)]
        $vis struct $marker;

        impl $crate::contract::ToolContract for $marker {
            const NAME: &'static str = $name;
            type Input = $input;
            type Output = $output;
        }

        $crate::tool_contract!($($rest)*);
    };
    (
        $(#[$attr:meta])*
        $vis:vis struct $marker:ident = $name:literal ($input:ty) -> $output:ty;
        $($rest:tt)*
    ) => {
        $(#[$attr])*
        #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::marker::Copy)]
        $vis struct $marker;

        impl $crate::contract::ToolContract for $marker {
            const NAME: &'static str = $name;
            type Input = $input;
            type Output = $output;

            fn output_schema() -> ::core::option::Option<$crate::types::JsonObject> {
                ::core::option::Option::Some($crate::contract::__private::output_schema::<$output>())
            }

            fn output_wrapped() -> bool {
                !$crate::contract::__private::is_object::<$output>()
            }
        }

        $crate::tool_contract!($($rest)*);
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(expected: Value, actual: Value) -> Result<(), SchemaDrift> {
        check_output_schema(
            expected.as_object().expect("an object"),
            actual.as_object().expect("an object"),
        )
    }

    fn object(properties: Value, required: &[&str]) -> Value {
        json!({"type": "object", "properties": properties, "required": required})
    }

    #[test]
    fn integers_fit_numbers_but_not_the_other_way() {
        let number = object(json!({"n": {"type": "number"}}), &["n"]);
        let integer = object(json!({"n": {"type": "integer"}}), &["n"]);
        assert_eq!(check(number.clone(), integer.clone()), Ok(()));
        let drift = check(integer, number).unwrap_err();
        assert_eq!(drift.path, "/n");
        assert_eq!(
            drift.reason,
            "the contract expects `integer`, the server declares `number`"
        );
    }

    #[test]
    fn a_required_property_must_be_required_on_the_server() {
        let contract = object(json!({"n": {"type": "number"}}), &["n"]);
        let server = object(json!({"n": {"type": "number"}}), &[]);
        let drift = check(contract, server).unwrap_err();
        assert_eq!(
            drift.to_string(),
            "at `/n`: required by the contract, but optional on the server"
        );
    }

    #[test]
    fn extra_server_properties_and_optional_contract_ones_are_compatible() {
        let contract = object(
            json!({"a": {"type": "string"}, "maybe": {"type": "boolean"}}),
            &["a"],
        );
        let server = object(
            json!({"a": {"type": "string"}, "b": {"type": "number"}}),
            &["a", "b"],
        );
        assert_eq!(check(contract, server), Ok(()));
    }

    #[test]
    fn nested_objects_array_items_and_refs_are_compared() {
        let contract = object(
            json!({"rows": {"type": "array", "items": {"$ref": "#/$defs/Row"}}}),
            &["rows"],
        );
        let mut contract = contract;
        contract["$defs"] = json!({"Row": object(json!({"id": {"type": "integer"}}), &["id"])});
        let server = object(
            json!({"rows": {"type": "array", "items": object(json!({"id": {"type": "string"}}), &["id"])}}),
            &["rows"],
        );
        let drift = check(contract, server).unwrap_err();
        assert_eq!(drift.path, "/rows/0/id");
    }

    #[test]
    fn type_lists_must_share_a_type() {
        let contract = object(json!({"v": {"type": ["string", "null"]}}), &["v"]);
        let server = object(json!({"v": {"type": ["null", "boolean"]}}), &["v"]);
        assert_eq!(check(contract.clone(), server), Ok(()));
        let server = object(json!({"v": {"type": "boolean"}}), &["v"]);
        assert!(check(contract, server).is_err());
    }

    #[test]
    fn the_result_wrapper_is_recognized() {
        let wrapper = object(json!({"result": {"type": "number"}}), &["result"]);
        assert!(is_result_wrapper(wrapper.as_object().expect("an object")));
        let optional = object(json!({"result": {"type": "number"}}), &[]);
        assert!(!is_result_wrapper(optional.as_object().expect("an object")));
    }

    #[test]
    fn names_compare_in_constants() {
        const { assert!(__private::same_str("add", "add")) };
        assert!(!__private::same_str("add", "adds"));
        assert!(!__private::same_str("add", "sub"));
    }
}
