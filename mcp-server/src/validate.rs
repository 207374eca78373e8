//! JSON Schema validation of tool arguments and structured output.
//!
//! Arguments are checked against a tool's `inputSchema` before its handler runs, and structured
//! output against its `outputSchema` before it is sent. Schemas are compiled once (when the tool
//! is registered) by a [`SchemaCompiler`], which also shares identical schemas and regular
//! expressions between tools.
//!
//! Validation is the `validation` feature (on by default; it brings the `jsonschema` crate).
//! Without it a server checks neither arguments nor structured output against the schemas: a
//! tool with typed arguments still refuses arguments that do not deserialize into them (an
//! invalid-params error, in serde's words), a tool taking raw JSON gets what was sent, and only
//! the presence of structured output a tool declares is checked. The `null` handling below, and
//! the schema depth limit, are the same with and without it. `SchemaValidator`,
//! `SchemaCompiler::compile` and `ToolSchemas::input` exist only with it.
//!
//! Before that, a `null` sent for a property that is not required, and whose schema does not
//! admit `null`, is removed: it stands for "absent" (model clients and strict function-calling
//! modes send `"limit": null` for an optional `limit`). This goes through nested objects and
//! arrays as the schema describes them ([`ToolSchemas::remove_absent_nulls`]); a `null` for a
//! required property stays, and validation names it. Structured output gets the same treatment
//! before it is checked and sent ([`ToolSchemas::remove_absent_output_nulls`]): a Rust `Option`
//! serialized as `null` for an optional output field leaves the field out, as the output schema
//! (optional, not nullable) says it should be.
//!
//! Compilation is safe on untrusted schemas:
//! - no external reference is ever fetched: a `$ref` (or `$schema`) to `http:`, `https:` or
//!   `file:` fails to compile, without any network or file access;
//! - `pattern` and `patternProperties` run on the linear-time [`regex`](https://docs.rs/regex)
//!   engine, so a pattern like `(a+)+$` cannot backtrack catastrophically (look-around and
//!   back-references are refused at compile time instead);
//! - a schema nested deeper than a limit is refused before compiling, by a walk that does not
//!   recurse.
//!
//! Schemas without `$schema` are draft 2020-12, as the MCP specification says. `format` is
//! checked for the formats the validator knows (`date-time`, `email`, `uri`...); unknown formats
//! (such as schemars' `uint32`) are ignored.
//!
//! ```
//! use mcp_server::validate::{SchemaValidator, Subject};
//! use serde_json::json;
//!
//! let schema = json!({
//!     "type": "object",
//!     "properties": { "a": { "type": "number" }, "b": { "type": "number" } },
//!     "required": ["a", "b"]
//! });
//! let validator = SchemaValidator::new(&schema, Subject::Arguments).unwrap();
//! assert!(validator.validate(&json!({"a": 1, "b": 2})).is_ok());
//! let failure = validator.validate(&json!({"a": 1, "b": "x"})).unwrap_err();
//! assert_eq!(failure.to_string(), r#"invalid argument `b`: "x" is not of type "number""#);
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
#[cfg(feature = "validation")]
use std::sync::Mutex;

#[cfg(feature = "validation")]
use jsonschema::error::ValidationErrorKind;
#[cfg(feature = "validation")]
use jsonschema::paths::LocationSegment;
#[cfg(feature = "validation")]
use jsonschema::{PatternCache, PatternOptions, Retrieve, Uri, ValidationError};
use mcp_core::types::Tool;
use serde_json::Value;
#[cfg(feature = "validation")]
use sha2::{Digest, Sha256};

/// The deepest nesting of JSON objects and arrays a schema may have, by default.
pub const DEFAULT_MAX_SCHEMA_DEPTH: usize = 64;

/// How many errors a [`ValidationFailure`] reports at most, by default.
pub const DEFAULT_MAX_ERRORS: usize = 5;

/// Longest instance value (in bytes of JSON) quoted in an error message; longer ones are
/// called "the value".
#[cfg(feature = "validation")]
const MAX_QUOTED_VALUE: usize = 64;

/// Largest compiled size of one regular expression (`pattern`, `patternProperties`).
#[cfg(feature = "validation")]
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Which document a schema describes: it names the fields in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Subject {
    /// The arguments of a tool call (`inputSchema`): "invalid argument `b`: ...".
    Arguments,
    /// The structured output of a tool (`outputSchema`): "output field `b`: ...".
    StructuredContent,
}

impl Subject {
    fn field_noun(self) -> &'static str {
        match self {
            Subject::Arguments => "argument",
            Subject::StructuredContent => "output field",
        }
    }

    fn whole_noun(self) -> &'static str {
        match self {
            Subject::Arguments => "arguments",
            Subject::StructuredContent => "structured output",
        }
    }
}

/// Limits and choices of schema compilation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(not(feature = "validation"), allow(dead_code))]
pub struct SchemaOptions {
    max_depth: usize,
    max_errors: usize,
    validate_formats: bool,
}

impl Default for SchemaOptions {
    fn default() -> Self {
        SchemaOptions {
            max_depth: DEFAULT_MAX_SCHEMA_DEPTH,
            max_errors: DEFAULT_MAX_ERRORS,
            validate_formats: true,
        }
    }
}

impl SchemaOptions {
    /// The default options: depth at most [`DEFAULT_MAX_SCHEMA_DEPTH`], at most
    /// [`DEFAULT_MAX_ERRORS`] errors reported, known formats checked.
    pub fn new() -> Self {
        Self::default()
    }

    /// The deepest nesting of objects and arrays a schema may have (the root object is 1).
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = depth;
        self
    }

    /// How many errors a failure reports at most (at least one is always reported).
    pub fn max_errors(mut self, n: usize) -> Self {
        self.max_errors = n.max(1);
        self
    }

    /// Whether `format` is checked (on by default) or only an annotation.
    pub fn validate_formats(mut self, yes: bool) -> Self {
        self.validate_formats = yes;
        self
    }
}

/// Why a schema could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The schema is nested deeper than allowed.
    #[error("the schema is nested deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// The schema is not a valid JSON Schema, or refers to something that cannot be used (an
    /// external `$ref`, a regular expression the linear-time engine does not support...).
    #[error("invalid schema{}: {message}", at_location(.location))]
    Invalid {
        /// Where in the schema (a JSON pointer; empty for the root).
        location: String,
        /// What is wrong.
        message: String,
    },
}

fn at_location(location: &str) -> String {
    if location.is_empty() {
        String::new()
    } else {
        format!(" at `{location}`")
    }
}

/// Refuses every external reference: compiling never touches the network or the file system.
#[cfg(feature = "validation")]
struct NoRetrieval;

#[cfg(feature = "validation")]
impl Retrieve for NoRetrieval {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        Err(format!("external references are not resolved (`{}`)", uri.as_str()).into())
    }
}

/// The nesting depth of `value` (a scalar is 0, `{}` is 1), stopping once it passes `limit`.
/// Iterative, so that a hostile document cannot overflow the stack.
fn depth_exceeds(value: &Value, limit: usize) -> bool {
    let mut stack: Vec<(&Value, usize)> = vec![(value, 0)];
    while let Some((v, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Object(m) => Box::new(m.values()),
            Value::Array(a) => Box::new(a.iter()),
            _ => continue,
        };
        let depth = depth + 1;
        if depth > limit {
            return true;
        }
        stack.extend(children.map(|c| (c, depth)));
    }
    false
}

/// Compiles one schema with the safe settings.
#[cfg(feature = "validation")]
fn compile(
    schema: &Value,
    options: &SchemaOptions,
    patterns: Option<&PatternCache>,
) -> Result<jsonschema::Validator, SchemaError> {
    if depth_exceeds(schema, options.max_depth) {
        return Err(SchemaError::TooDeep {
            limit: options.max_depth,
        });
    }
    let mut builder = jsonschema::options()
        .with_retriever(NoRetrieval)
        .with_pattern_options(PatternOptions::regex().size_limit(REGEX_SIZE_LIMIT))
        .should_validate_formats(options.validate_formats)
        .should_ignore_unknown_formats(true);
    if let Some(cache) = patterns {
        builder = builder.with_pattern_cache(cache.clone());
    }
    builder.build(schema).map_err(|e| SchemaError::Invalid {
        location: e.schema_path().as_str().to_owned(),
        message: e.to_string(),
    })
}

/// A compiled schema that checks instances and names the wrong fields.
///
/// Cheap to clone (the compiled schema is shared). Only with the `validation` feature.
#[cfg(feature = "validation")]
#[derive(Clone)]
pub struct SchemaValidator {
    validator: Arc<jsonschema::Validator>,
    subject: Subject,
    max_errors: usize,
    /// Where a `null` means "absent" (arguments only).
    nulls: Arc<NullPlan>,
}

#[cfg(feature = "validation")]
impl fmt::Debug for SchemaValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchemaValidator")
            .field("subject", &self.subject)
            .field("draft", &self.validator.draft())
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "validation")]
impl SchemaValidator {
    /// Compiles `schema` with the default [`SchemaOptions`].
    pub fn new(schema: &Value, subject: Subject) -> Result<Self, SchemaError> {
        Self::with_options(schema, subject, &SchemaOptions::default())
    }

    /// Compiles `schema` with these options.
    pub fn with_options(
        schema: &Value,
        subject: Subject,
        options: &SchemaOptions,
    ) -> Result<Self, SchemaError> {
        Ok(SchemaValidator {
            validator: Arc::new(compile(schema, options, None)?),
            subject,
            max_errors: options.max_errors,
            nulls: Arc::new(NullPlan::for_subject(schema, subject)),
        })
    }

    /// What the schema describes.
    pub fn subject(&self) -> Subject {
        self.subject
    }

    /// Removes every `null` that stands for an absent optional property, at any depth: a
    /// property that the schema does not require and whose own schema does not admit `null`
    /// (objects inside objects and inside arrays are followed through `properties`, `items`,
    /// `additionalProperties`, local `$ref`s and `allOf`). Returns how many were removed.
    ///
    /// Model clients, and strict function-calling modes, send `"limit": null` for an optional
    /// `limit`; a handler's serialized `Option` field is `null` when `None`. When `instance`
    /// holds no such `null`, nothing is changed. A `null` for a required property, or for one
    /// whose schema admits `null`, is kept (and validation judges it).
    ///
    /// ```
    /// use mcp_server::validate::{SchemaValidator, Subject};
    /// use serde_json::json;
    ///
    /// let schema = json!({
    ///     "type": "object",
    ///     "properties": { "q": { "type": "string" }, "limit": { "type": "integer" } },
    ///     "required": ["q"]
    /// });
    /// let validator = SchemaValidator::new(&schema, Subject::Arguments).unwrap();
    /// let mut arguments = json!({"q": "milk", "limit": null});
    /// assert_eq!(validator.remove_absent_nulls(&mut arguments), 1);
    /// assert_eq!(arguments, json!({"q": "milk"}));
    /// ```
    pub fn remove_absent_nulls(&self, instance: &mut Value) -> usize {
        self.nulls.apply(instance)
    }

    /// Whether `instance` is valid (faster than [`SchemaValidator::validate`]).
    pub fn is_valid(&self, instance: &Value) -> bool {
        self.validator.is_valid(instance)
    }

    /// Checks `instance`; on failure, names the first few wrong fields.
    pub fn validate(&self, instance: &Value) -> Result<(), ValidationFailure> {
        if self.validator.is_valid(instance) {
            return Ok(());
        }
        let mut errors = Vec::new();
        let mut total = 0;
        for error in self.validator.iter_errors(instance) {
            for field_error in FieldError::from_validation_error(&error) {
                total += 1;
                if errors.len() < self.max_errors {
                    errors.push(field_error);
                }
            }
        }
        if errors.is_empty() {
            // is_valid and iter_errors disagree only if the validator has a bug: still refuse.
            errors.push(FieldError {
                pointer: String::new(),
                field: String::new(),
                keyword: String::new(),
                message: "does not match the schema".into(),
                masked_message: "does not match the schema".into(),
            });
            total = 1;
        }
        Err(ValidationFailure {
            subject: self.subject,
            errors,
            total,
        })
    }
}

/// One wrong field of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Where the field is, as a JSON pointer (`/filters/limit`; empty for the whole document).
    pub pointer: String,
    /// The field as people write it (`filters.limit`, `items[2].name`; empty for the whole
    /// document).
    pub field: String,
    /// The JSON Schema keyword that failed (`type`, `required`, `pattern`...).
    pub keyword: String,
    /// What is wrong, quoting the value when it is short.
    pub message: String,
    /// What is wrong, never quoting the value (for fields that must not be logged).
    pub masked_message: String,
}

/// `filters.limit`, `items[2]`, `["odd key"]` from the segments of a JSON pointer.
#[cfg(feature = "validation")]
fn dotted(segments: impl Iterator<Item = String>) -> String {
    let mut out = String::new();
    for segment in segments {
        out.push_str(&segment);
    }
    out.strip_prefix('.').map(str::to_owned).unwrap_or(out)
}

#[cfg(feature = "validation")]
fn property_segment(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-' || c == '$');
    if plain {
        format!(".{name}")
    } else {
        format!("[{}]", Value::String(name.to_owned()))
    }
}

#[cfg(feature = "validation")]
fn pointer_segment(name: &str) -> String {
    format!("/{}", name.replace('~', "~0").replace('/', "~1"))
}

#[cfg(feature = "validation")]
impl FieldError {
    fn from_validation_error(error: &ValidationError<'_>) -> Vec<FieldError> {
        let parent_pointer = error.instance_path().as_str().to_owned();
        let parent_field = dotted(error.instance_path().iter().map(|s| match s {
            LocationSegment::Property(p) => property_segment(&p),
            LocationSegment::Index(i) => format!("[{i}]"),
        }));
        let child = |name: &str| {
            (
                format!("{parent_pointer}{}", pointer_segment(name)),
                format!("{parent_field}{}", property_segment(name))
                    .trim_start_matches('.')
                    .to_owned(),
            )
        };
        let keyword = error.kind().keyword().to_owned();
        match error.kind() {
            ValidationErrorKind::Required { property } => {
                let name = property
                    .as_str()
                    .map_or_else(|| property.to_string(), str::to_owned);
                let (pointer, field) = child(&name);
                let message = "is required but missing".to_owned();
                vec![FieldError {
                    pointer,
                    field,
                    keyword,
                    masked_message: message.clone(),
                    message,
                }]
            }
            ValidationErrorKind::AdditionalProperties { unexpected }
            | ValidationErrorKind::UnevaluatedProperties { unexpected } => unexpected
                .iter()
                .map(|name| {
                    let (pointer, field) = child(name);
                    let message = "is not allowed (unexpected property)".to_owned();
                    FieldError {
                        pointer,
                        field,
                        keyword: keyword.clone(),
                        masked_message: message.clone(),
                        message,
                    }
                })
                .collect(),
            _ => {
                let masked_message = error.masked_with("the value").to_string();
                let short = serde_json::to_string(error.instance().as_ref())
                    .is_ok_and(|s| s.len() <= MAX_QUOTED_VALUE);
                let message = if short {
                    error.to_string()
                } else {
                    masked_message.clone()
                };
                vec![FieldError {
                    pointer: parent_pointer,
                    field: parent_field,
                    keyword,
                    message,
                    masked_message,
                }]
            }
        }
    }
}

/// An instance that does not match its schema: the first few wrong fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationFailure {
    subject: Subject,
    errors: Vec<FieldError>,
    total: usize,
}

impl ValidationFailure {
    /// What was validated.
    pub fn subject(&self) -> Subject {
        self.subject
    }

    /// The reported errors (at most [`SchemaOptions::max_errors`]).
    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }

    /// How many errors were found, reported or not.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The same failure with the values of these top-level fields left out of the messages
    /// (for [`crate::Policy::sensitive`] arguments).
    pub fn redacted<S: AsRef<str>>(mut self, sensitive: &[S]) -> Self {
        for e in &mut self.errors {
            let top = e.pointer.split('/').nth(1).unwrap_or("");
            let top = top.replace("~1", "/").replace("~0", "~");
            if sensitive.iter().any(|s| s.as_ref() == top) {
                e.message.clone_from(&e.masked_message);
            }
        }
        self
    }
}

impl fmt::Display for ValidationFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            if e.field.is_empty() {
                write!(f, "{}: {}", self.subject.whole_noun(), e.message)?;
            } else if e.keyword == "required" {
                write!(
                    f,
                    "missing required {} `{}`",
                    self.subject.field_noun(),
                    e.field
                )?;
            } else if e.keyword == "additionalProperties" || e.keyword == "unevaluatedProperties" {
                write!(f, "unexpected {} `{}`", self.subject.field_noun(), e.field)?;
            } else {
                write!(
                    f,
                    "invalid {} `{}`: {}",
                    self.subject.field_noun(),
                    e.field,
                    e.message
                )?;
            }
        }
        let more = self.total.saturating_sub(self.errors.len());
        match more {
            0 => Ok(()),
            1 => f.write_str("; and 1 more error"),
            n => write!(f, "; and {n} more errors"),
        }
    }
}

impl std::error::Error for ValidationFailure {}

/// The compiled schemas of one tool.
#[derive(Debug, Clone)]
pub struct ToolSchemas {
    input: Compiled,
    output: Option<Compiled>,
}

/// One compiled schema: its validator (with the `validation` feature) and its plan of absent
/// `null`s.
#[cfg(feature = "validation")]
type Compiled = SchemaValidator;

/// One schema as the runtime keeps it without the `validation` feature: its plan of absent
/// `null`s.
#[cfg(not(feature = "validation"))]
#[derive(Debug, Clone)]
struct Compiled {
    nulls: Arc<NullPlan>,
}

impl ToolSchemas {
    /// The validator of the arguments (`inputSchema`).
    #[cfg(feature = "validation")]
    pub fn input(&self) -> &SchemaValidator {
        &self.input
    }

    /// The validator of the structured output (`outputSchema`), if the tool declares one.
    #[cfg(feature = "validation")]
    pub fn output(&self) -> Option<&SchemaValidator> {
        self.output.as_ref()
    }

    /// Removes the `null`s of a call's arguments that stand for absent optional arguments
    /// (`SchemaValidator::remove_absent_nulls`); the runtime does this before validating and
    /// before the handler deserializes them. Returns how many were removed.
    pub fn remove_absent_nulls(&self, arguments: &mut serde_json::Map<String, Value>) -> usize {
        self.input.nulls.apply_object(arguments)
    }

    /// Removes the `null`s of structured output that stand for absent optional fields (a Rust
    /// `Option` serialized as `null`), as the output schema describes them; the runtime does
    /// this before checking and sending a tool's structured output. Returns how many were
    /// removed (0 without an `outputSchema`).
    pub fn remove_absent_output_nulls(&self, structured: &mut Value) -> usize {
        self.output
            .as_ref()
            .map_or(0, |output| output.nulls.apply(structured))
    }

    /// Checks a call's arguments (a missing `arguments` is checked as `{}`). Without the
    /// `validation` feature, every argument list passes.
    pub fn validate_arguments(&self, arguments: Option<&Value>) -> Result<(), ValidationFailure> {
        #[cfg(feature = "validation")]
        match arguments {
            Some(a) => self.input.validate(a),
            None => self.input.validate(&Value::Object(Default::default())),
        }
        #[cfg(not(feature = "validation"))]
        {
            let _ = arguments;
            Ok(())
        }
    }

    /// Checks structured output. Without an `outputSchema` everything passes; with one, a
    /// missing `structuredContent` is a failure (the specification requires it). Without the
    /// `validation` feature only that presence is checked.
    pub fn validate_output(&self, structured: Option<&Value>) -> Result<(), ValidationFailure> {
        let Some(output) = &self.output else {
            return Ok(());
        };
        match structured {
            #[cfg(feature = "validation")]
            Some(s) => output.validate(s),
            #[cfg(not(feature = "validation"))]
            Some(_) => {
                let _ = output;
                Ok(())
            }
            None => Err(ValidationFailure {
                subject: Subject::StructuredContent,
                errors: vec![FieldError {
                    pointer: String::new(),
                    field: String::new(),
                    keyword: "outputSchema".into(),
                    message: "missing, but the tool declares an output schema".into(),
                    masked_message: "missing, but the tool declares an output schema".into(),
                }],
                total: 1,
            }),
        }
    }
}

/// Compiles schemas once: identical schemas (by content) share one compiled validator, and all
/// share compiled regular expressions. Keep one per server and compile each tool's schemas when
/// it is registered.
///
/// Without the `validation` feature it checks each schema's depth and plans the removal of
/// absent `null`s, and compiles no validator.
pub struct SchemaCompiler {
    options: SchemaOptions,
    #[cfg(feature = "validation")]
    patterns: PatternCache,
    #[cfg(feature = "validation")]
    compiled: Mutex<HashMap<[u8; 32], Arc<jsonschema::Validator>>>,
}

impl Default for SchemaCompiler {
    fn default() -> Self {
        Self::new(SchemaOptions::default())
    }
}

impl fmt::Debug for SchemaCompiler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("SchemaCompiler");
        d.field("options", &self.options);
        #[cfg(feature = "validation")]
        d.field("compiled", &self.len());
        d.finish_non_exhaustive()
    }
}

impl SchemaCompiler {
    /// A compiler with these options.
    pub fn new(options: SchemaOptions) -> Self {
        SchemaCompiler {
            options,
            #[cfg(feature = "validation")]
            patterns: PatternCache::new(),
            #[cfg(feature = "validation")]
            compiled: Mutex::new(HashMap::new()),
        }
    }

    /// How many distinct schemas have been compiled.
    #[cfg(feature = "validation")]
    pub fn len(&self) -> usize {
        self.compiled.lock().expect("not poisoned").len()
    }

    /// Whether nothing has been compiled yet.
    #[cfg(feature = "validation")]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn check_depth(&self, schema: &Value) -> Result<(), SchemaError> {
        if depth_exceeds(schema, self.options.max_depth) {
            return Err(SchemaError::TooDeep {
                limit: self.options.max_depth,
            });
        }
        Ok(())
    }

    /// Compiles `schema`, or returns the validator compiled earlier for an identical one.
    #[cfg(feature = "validation")]
    pub fn compile(
        &self,
        schema: &Value,
        subject: Subject,
    ) -> Result<SchemaValidator, SchemaError> {
        // Check the depth before hashing: canonical_json recurses.
        self.check_depth(schema)?;
        let key: [u8; 32] = Sha256::digest(crate::approval::canonical_json(schema)).into();
        if let Some(v) = self.compiled.lock().expect("not poisoned").get(&key) {
            return Ok(SchemaValidator {
                validator: Arc::clone(v),
                subject,
                max_errors: self.options.max_errors,
                nulls: Arc::new(NullPlan::for_subject(schema, subject)),
            });
        }
        // Compiled outside the lock; two threads compiling the same schema at once both
        // succeed and one result is kept.
        let validator = Arc::new(compile(schema, &self.options, Some(&self.patterns))?);
        let validator = Arc::clone(
            self.compiled
                .lock()
                .expect("not poisoned")
                .entry(key)
                .or_insert(validator),
        );
        Ok(SchemaValidator {
            validator,
            subject,
            max_errors: self.options.max_errors,
            nulls: Arc::new(NullPlan::for_subject(schema, subject)),
        })
    }

    #[cfg(feature = "validation")]
    fn compile_one(&self, schema: &Value, subject: Subject) -> Result<Compiled, SchemaError> {
        self.compile(schema, subject)
    }

    #[cfg(not(feature = "validation"))]
    fn compile_one(&self, schema: &Value, subject: Subject) -> Result<Compiled, SchemaError> {
        self.check_depth(schema)?;
        Ok(Compiled {
            nulls: Arc::new(NullPlan::for_subject(schema, subject)),
        })
    }

    /// Compiles a tool's input schema and, if it has one, its output schema.
    pub fn compile_tool(&self, tool: &Tool) -> Result<ToolSchemas, ToolSchemaError> {
        let input = self
            .compile_one(
                &Value::Object(tool.input_schema.clone()),
                Subject::Arguments,
            )
            .map_err(|error| ToolSchemaError {
                tool: tool.name.clone(),
                which: "inputSchema",
                error,
            })?;
        let output = match &tool.output_schema {
            Some(s) => Some(
                self.compile_one(&Value::Object(s.clone()), Subject::StructuredContent)
                    .map_err(|error| ToolSchemaError {
                        tool: tool.name.clone(),
                        which: "outputSchema",
                        error,
                    })?,
            ),
            None => None,
        };
        Ok(ToolSchemas { input, output })
    }
}

/// Where a `null` in an instance means "absent": computed once from a schema, as a graph of
/// nodes (recursive schemas make cycles through `$ref`). Node 0 is the root.
#[derive(Debug, Default)]
struct NullPlan {
    nodes: Vec<NullNode>,
}

#[derive(Debug, Default)]
struct NullNode {
    /// The properties of an object: whether a `null` there is absent, and the node of the
    /// property's value, if it has anything to follow.
    properties: HashMap<String, (bool, Option<usize>)>,
    /// Whether some property's `null` is absent (else objects here are only walked through).
    any_absent: bool,
    /// The node of other properties' values (`additionalProperties`).
    additional: Option<usize>,
    /// The node of array elements (`items`).
    items: Option<usize>,
    /// Whether an absent `null` can be below (else the walk does not go there).
    useful: bool,
}

/// The deepest a plan follows a schema (schemas are limited to [`DEFAULT_MAX_SCHEMA_DEPTH`]
/// levels by default; `$ref` cycles are joined, not followed).
const MAX_PLAN_DEPTH: usize = 128;

impl NullPlan {
    fn for_subject(schema: &Value, _subject: Subject) -> NullPlan {
        NullPlan::new(schema)
    }

    fn new(schema: &Value) -> NullPlan {
        let mut builder = PlanBuilder {
            root: schema,
            nodes: Vec::new(),
            made: HashMap::new(),
            budget: std::cell::Cell::new(100_000),
        };
        builder.node(&[schema], 0);
        let mut nodes = builder.nodes;
        if nodes.is_empty() {
            nodes.push(NullNode::default());
        }
        // Mark the nodes an absent `null` can be found at or below (a fixpoint: cycles).
        loop {
            let mut changed = false;
            for i in 0..nodes.len() {
                if nodes[i].useful {
                    continue;
                }
                let n = &nodes[i];
                let below = n
                    .properties
                    .values()
                    .filter_map(|(_, c)| *c)
                    .chain(n.additional)
                    .chain(n.items)
                    .any(|c| nodes[c].useful);
                if n.any_absent || below {
                    nodes[i].useful = true;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        NullPlan { nodes }
    }

    fn apply(&self, instance: &mut Value) -> usize {
        match instance {
            Value::Object(map) => self.apply_object(map),
            _ => 0,
        }
    }

    /// Walks `map` and what the plan follows below it, without recursion.
    fn apply_object(&self, map: &mut serde_json::Map<String, Value>) -> usize {
        if !self.nodes.first().is_some_and(|n| n.useful) {
            return 0;
        }
        let mut removed = 0;
        let mut stack: Vec<(&mut Value, usize)> = Vec::new();
        self.visit_object(map, 0, &mut stack, &mut removed);
        while let Some((value, node)) = stack.pop() {
            match value {
                Value::Object(map) => self.visit_object(map, node, &mut stack, &mut removed),
                Value::Array(items) => {
                    if let Some(item) = self.nodes[node].items
                        && self.nodes[item].useful
                    {
                        stack.extend(items.iter_mut().map(|v| (v, item)));
                    }
                }
                _ => {}
            }
        }
        removed
    }

    fn visit_object<'v>(
        &self,
        map: &'v mut serde_json::Map<String, Value>,
        node: usize,
        stack: &mut Vec<(&'v mut Value, usize)>,
        removed: &mut usize,
    ) {
        let n = &self.nodes[node];
        // Rewritten only when a `null` is actually there.
        if n.any_absent && map.values().any(Value::is_null) {
            let before = map.len();
            map.retain(|k, v| !(v.is_null() && n.properties.get(k).is_some_and(|(a, _)| *a)));
            *removed += before - map.len();
        }
        for (k, v) in map.iter_mut() {
            if !matches!(v, Value::Object(_) | Value::Array(_)) {
                continue;
            }
            let child = match n.properties.get(k) {
                Some((_, child)) => *child,
                None => n.additional,
            };
            if let Some(child) = child
                && self.nodes[child].useful
            {
                stack.push((v, child));
            }
        }
    }
}

struct PlanBuilder<'s> {
    root: &'s Value,
    nodes: Vec<NullNode>,
    /// The node made for each set of schemas (by address), so that recursive schemas and
    /// shared parts make one node.
    made: HashMap<Vec<usize>, usize>,
    /// Steps left for [`PlanBuilder::admits_null`] (bounds the work on hostile schemas).
    budget: std::cell::Cell<usize>,
}

impl<'s> PlanBuilder<'s> {
    /// The local schema a `$ref` points at (`#/$defs/X`, `#/definitions/X`, `#`, any pointer).
    fn resolve(&self, reference: &str) -> Option<&'s Value> {
        let pointer = reference.strip_prefix('#')?;
        self.root.pointer(pointer)
    }

    /// The schemas that describe one value together: `schemas`, their `allOf` parts, their
    /// `$ref` targets, and the one non-null alternative of an `anyOf`/`oneOf` with `null`.
    fn parts(&self, schemas: &[&'s Value], out: &mut Vec<&'s Value>, depth: usize) {
        if depth > MAX_PLAN_DEPTH {
            return;
        }
        for &schema in schemas {
            let Value::Object(m) = schema else { continue };
            if out.iter().any(|s| std::ptr::eq(*s, schema)) {
                continue;
            }
            out.push(schema);
            if let Some(Value::String(r)) = m.get("$ref")
                && let Some(target) = self.resolve(r)
            {
                self.parts(&[target], out, depth + 1);
            }
            if let Some(Value::Array(all)) = m.get("allOf") {
                let all: Vec<&Value> = all.iter().collect();
                self.parts(&all, out, depth + 1);
            }
            for key in ["anyOf", "oneOf"] {
                if let Some(Value::Array(list)) = m.get(key) {
                    let non_null: Vec<&Value> = list.iter().filter(|s| !is_null_type(s)).collect();
                    if non_null.len() == 1 {
                        self.parts(&non_null, out, depth + 1);
                    }
                }
            }
        }
    }

    /// The node of a value described by `schemas` (all of them hold), or `None` when there is
    /// nothing below it to follow.
    fn node(&mut self, schemas: &[&'s Value], depth: usize) -> Option<usize> {
        if depth > MAX_PLAN_DEPTH {
            return None;
        }
        let mut key: Vec<usize> = schemas
            .iter()
            .map(|s| std::ptr::from_ref::<Value>(s) as usize)
            .collect();
        key.sort_unstable();
        if let Some(&id) = self.made.get(&key) {
            return Some(id);
        }
        let mut parts = Vec::new();
        self.parts(schemas, &mut parts, depth);
        let id = self.nodes.len();
        self.nodes.push(NullNode::default());
        self.made.insert(key, id);

        let mut required: Vec<&str> = Vec::new();
        let mut properties: Vec<(&str, Vec<&'s Value>)> = Vec::new();
        let mut additional: Vec<&'s Value> = Vec::new();
        let mut items: Vec<&'s Value> = Vec::new();
        for part in &parts {
            let Value::Object(m) = part else { continue };
            if let Some(Value::Array(r)) = m.get("required") {
                required.extend(r.iter().filter_map(Value::as_str));
            }
            if let Some(Value::Object(props)) = m.get("properties") {
                for (name, schema) in props {
                    match properties.iter_mut().find(|(n, _)| *n == name.as_str()) {
                        Some((_, list)) => list.push(schema),
                        None => properties.push((name.as_str(), vec![schema])),
                    }
                }
            }
            if let Some(a @ Value::Object(_)) = m.get("additionalProperties") {
                additional.push(a);
            }
            if let Some(i @ Value::Object(_)) = m.get("items") {
                items.push(i);
            }
        }

        let mut node = NullNode::default();
        for (name, schemas) in properties {
            let absent =
                !required.contains(&name) && !schemas.iter().any(|s| self.admits_null(s, 0));
            let child = self.node(&schemas, depth + 1);
            node.any_absent |= absent;
            if absent || child.is_some() {
                node.properties.insert(name.to_owned(), (absent, child));
            }
        }
        if !additional.is_empty() {
            node.additional = self.node(&additional, depth + 1);
        }
        if !items.is_empty() {
            node.items = self.node(&items, depth + 1);
        }
        self.nodes[id] = node;
        Some(id)
    }

    /// Whether `schema` accepts `null` (when unsure, yes: the `null` is then kept, and
    /// validation judges it).
    fn admits_null(&self, schema: &Value, depth: usize) -> bool {
        let budget = self.budget.get();
        if depth > MAX_PLAN_DEPTH || budget == 0 {
            return true;
        }
        self.budget.set(budget - 1);
        let m = match schema {
            Value::Bool(b) => return *b,
            Value::Object(m) => m,
            _ => return true,
        };
        if let Some(Value::String(r)) = m.get("$ref")
            && let Some(target) = self.resolve(r)
            && !self.admits_null(target, depth + 1)
        {
            return false;
        }
        if let Some(t) = m.get("type") {
            let null = match t {
                Value::String(t) => t == "null",
                Value::Array(ts) => ts.iter().any(|t| t == "null"),
                _ => true,
            };
            if !null {
                return false;
            }
        }
        if let Some(Value::Array(values)) = m.get("enum")
            && !values.iter().any(Value::is_null)
        {
            return false;
        }
        if let Some(c) = m.get("const")
            && !c.is_null()
        {
            return false;
        }
        if let Some(Value::Array(all)) = m.get("allOf")
            && !all.iter().all(|s| self.admits_null(s, depth + 1))
        {
            return false;
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(Value::Array(list)) = m.get(key)
                && !list.iter().any(|s| self.admits_null(s, depth + 1))
            {
                return false;
            }
        }
        true
    }
}

/// `{"type": "null"}`.
fn is_null_type(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
}

/// A tool whose schema does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {which} of tool `{tool}` is unusable: {error}")]
pub struct ToolSchemaError {
    /// The tool.
    pub tool: String,
    /// `inputSchema` or `outputSchema`.
    pub which: &'static str,
    /// Why.
    #[source]
    pub error: SchemaError,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn depth_is_measured_without_recursion() {
        assert!(!depth_exceeds(&json!(1), 0));
        assert!(depth_exceeds(&json!({}), 0));
        assert!(!depth_exceeds(&json!({"a": [1]}), 2));
        assert!(depth_exceeds(&json!({"a": [[1]]}), 2));
        let mut deep = json!(true);
        for _ in 0..10_000 {
            deep = Value::Array(vec![deep]);
        }
        assert!(depth_exceeds(&deep, 64));
        // Dropping a deep Value recurses in serde_json; take it apart iteratively instead.
        let mut v = deep;
        while let Value::Array(mut a) = v {
            v = a.pop().unwrap_or(Value::Null);
        }
    }

    #[cfg(feature = "validation")]
    #[test]
    fn fields_are_dotted() {
        assert_eq!(
            dotted([".filters", ".limit"].into_iter().map(String::from)),
            "filters.limit"
        );
        assert_eq!(
            dotted([".items", "[2]", "[\"a b\"]"].into_iter().map(String::from)),
            "items[2][\"a b\"]"
        );
        assert_eq!(property_segment("a.b"), "[\"a.b\"]");
    }
}
