//! JSON Schemas for handler inputs and outputs, generated once per item with schemars and
//! rewritten into the strict shape every client accepts ([`mcp_core::schema`]).

use mcp_core::types::{ElicitationSchema, JsonObject};
use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

fn generator() -> SchemaGenerator {
    SchemaSettings::draft2020_12().into_generator()
}

/// Builds the input schema of a handler from its parameters, one property each.
pub struct ObjectSchemaBuilder {
    generator: SchemaGenerator,
    properties: Map<String, Value>,
    required: Vec<Value>,
    raw: bool,
}

impl Default for ObjectSchemaBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ObjectSchemaBuilder {
    /// An object schema with no properties yet.
    pub fn new() -> Self {
        ObjectSchemaBuilder {
            generator: generator(),
            properties: Map::new(),
            required: Vec::new(),
            raw: false,
        }
    }

    /// Keeps schemars' output as it is (`$ref`s, `null` type arrays) instead of the strict shape.
    pub fn raw(mut self, raw: bool) -> Self {
        self.raw = raw;
        self
    }

    /// Adds a property of type `T`; `required` unless it has a default or is an `Option`.
    pub fn property<T: JsonSchema + ?Sized>(
        &mut self,
        name: &str,
        description: Option<&str>,
        required: bool,
    ) {
        let mut schema = self.generator.subschema_for::<T>().to_value();
        if let (Some(d), Value::Object(m)) = (description, &mut schema) {
            m.insert("description".into(), Value::String(d.to_owned()));
        }
        self.properties.insert(name.to_owned(), schema);
        if required {
            self.required.push(Value::String(name.to_owned()));
        }
    }

    /// Adds the properties of the struct `T` (its required ones required), for
    /// `#[arg(flatten)]`. Fails, adding nothing, when `T`'s schema has no properties or one of
    /// them is there already.
    pub(crate) fn flatten<T: JsonSchema + ?Sized>(&mut self) -> std::result::Result<(), String> {
        let schema = T::json_schema(&mut self.generator).to_value();
        let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
            return Err("the type has no named fields (its schema has no `properties`); flatten a struct with named fields".into());
        };
        if let Some(name) = properties.keys().find(|n| self.properties.contains_key(*n)) {
            return Err(format!(
                "its field `{name}` has the name of another argument of the tool; rename one (`#[arg(rename = \"...\")]`, `#[serde(rename = \"...\")]`)"
            ));
        }
        for (name, property) in properties {
            self.properties.insert(name.clone(), property.clone());
        }
        if let Some(required) = schema.get("required").and_then(Value::as_array) {
            self.required.extend(required.iter().cloned());
        }
        Ok(())
    }

    /// The finished schema.
    pub fn build(mut self) -> JsonObject {
        let mut root = Map::new();
        root.insert("type".into(), Value::String("object".into()));
        root.insert("properties".into(), Value::Object(self.properties));
        root.insert("required".into(), Value::Array(self.required));
        let defs = self.generator.take_definitions(true);
        if !defs.is_empty() {
            root.insert("$defs".into(), Value::Object(defs.into_iter().collect()));
        }
        if self.raw {
            root
        } else {
            mcp_core::schema::strict_object_schema(Value::Object(root))
        }
    }
}

/// The schema of `T`, strict, whatever its shape (for output schemas, see [`output_schema`]).
pub fn schema_value<T: JsonSchema + ?Sized>() -> Value {
    let schema = generator().into_root_schema_for::<T>().to_value();
    match schema {
        Value::Object(_) => Value::Object(mcp_core::schema::strict_object_schema(schema)),
        other => other,
    }
}

/// Whether values of `T` serialize to JSON objects, judging by its schema.
pub fn is_object_schema<T: JsonSchema + ?Sized>() -> bool {
    let schema = generator().into_root_schema_for::<T>().to_value();
    schema.get("type").and_then(Value::as_str) == Some("object")
}

/// The output schema of a tool returning `T`: `T`'s own schema when it is an object, else an
/// object with a single `result` property (and `structuredContent` is wrapped the same way).
pub fn output_schema<T: JsonSchema + ?Sized>() -> JsonObject {
    if is_object_schema::<T>() {
        mcp_core::schema::strict_object_schema(generator().into_root_schema_for::<T>().to_value())
    } else {
        let mut b = ObjectSchemaBuilder::new();
        b.property::<T>("result", None, true);
        b.build()
    }
}

/// The form schema of `T` for elicitation; fails when `T` is not a flat object of primitives.
pub fn elicitation_schema<T: JsonSchema + ?Sized>() -> Result<ElicitationSchema> {
    let strict =
        mcp_core::schema::strict_object_schema(generator().into_root_schema_for::<T>().to_value());
    serde_json::from_value(Value::Object(strict)).map_err(|e| {
        Error::internal(format!(
            "`{}` cannot be an elicitation form (a flat object of strings, numbers, booleans and enums): {e}",
            std::any::type_name::<T>()
        ))
    })
}
