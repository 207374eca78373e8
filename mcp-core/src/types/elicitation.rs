use std::collections::BTreeMap;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::common::{JsonObject, tag};
use super::tasks::LegacyTaskMetadata;
use crate::meta::Meta;

tag!(
    /// The tag `"form"`.
    FormModeTag = "form"
);
tag!(
    /// The tag `"url"`.
    UrlModeTag = "url"
);
tag!(
    /// The schema type `"object"`.
    ObjectTypeTag = "object"
);
tag!(
    /// The schema type `"string"`.
    StringTypeTag = "string"
);
tag!(
    /// The schema type `"boolean"`.
    BooleanTypeTag = "boolean"
);
tag!(
    /// The schema type `"array"`.
    ArrayTypeTag = "array"
);

/// Params of `elicitation/create`: a form or a URL.
#[derive(Debug, Clone, PartialEq)]
pub enum ElicitRequestParams {
    /// Ask the user to fill in a form.
    Form(ElicitRequestFormParams),
    /// Send the user to a URL (2025-11-25 on).
    Url(ElicitRequestUrlParams),
}

impl Serialize for ElicitRequestParams {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ElicitRequestParams::Form(f) => f.serialize(s),
            ElicitRequestParams::Url(u) => u.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for ElicitRequestParams {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        match value.get("mode").and_then(Value::as_str) {
            None | Some("form") => ElicitRequestFormParams::deserialize(value)
                .map(ElicitRequestParams::Form)
                .map_err(D::Error::custom),
            Some("url") => ElicitRequestUrlParams::deserialize(value)
                .map(ElicitRequestParams::Url)
                .map_err(D::Error::custom),
            Some(other) => Err(D::Error::custom(format!(
                "unknown elicitation mode `{other}`"
            ))),
        }
    }
}

/// A form to fill in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ElicitRequestFormParams {
    /// `"form"`; may be left out (2025-06-18 has no modes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<FormModeTag>,
    /// What to ask the user.
    pub message: String,
    /// The form: a flat object of primitive fields.
    pub requested_schema: ElicitationSchema,
    /// Ask for a task (2025-11-25 experimental tasks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<LegacyTaskMetadata>,
    /// Metadata.
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// A URL the user should open, for what must not pass through the client (credentials, payments).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ElicitRequestUrlParams {
    /// Always `"url"`.
    pub mode: UrlModeTag,
    /// What to tell the user.
    pub message: String,
    /// The URL.
    pub url: String,
    /// An id for `notifications/elicitation/complete` (2025-11-25).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elicitation_id: Option<String>,
    /// Ask for a task (2025-11-25 experimental tasks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<LegacyTaskMetadata>,
    /// Metadata.
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// The schema of an elicitation form: an object whose properties are primitive fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ElicitationSchema {
    /// The JSON Schema dialect.
    #[serde(rename = "$schema", skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Always `"object"`.
    #[serde(rename = "type")]
    pub kind: ObjectTypeTag,
    /// The fields.
    pub properties: BTreeMap<String, PrimitiveSchemaDefinition>,
    /// The fields that must be filled in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<Vec<String>>,
}

/// Formats a string field may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StringFormat {
    /// An email address.
    Email,
    /// A URI.
    Uri,
    /// A date.
    Date,
    /// A date and time.
    DateTime,
}

/// A string field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StringSchema {
    /// Always `"string"`.
    #[serde(rename = "type")]
    pub kind: StringTypeTag,
    /// A label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Help text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The shortest allowed length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u64>,
    /// The longest allowed length.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    /// The format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<StringFormat>,
    /// The default value (2025-11-25 on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// Whether a number field takes any number or only integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NumberType {
    /// Any number.
    Number,
    /// Integers only.
    Integer,
}

/// A number field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumberSchema {
    /// `"number"` or `"integer"`.
    #[serde(rename = "type")]
    pub kind: NumberType,
    /// A label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Help text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The least allowed value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    /// The greatest allowed value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    /// The default value (2025-11-25 on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<f64>,
}

/// A boolean field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BooleanSchema {
    /// Always `"boolean"`.
    #[serde(rename = "type")]
    pub kind: BooleanTypeTag,
    /// A label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Help text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The default value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<bool>,
}

/// One choice with a label.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TitledOption {
    /// The value.
    #[serde(rename = "const")]
    pub value: String,
    /// Its label.
    pub title: String,
}

/// One of several strings, without labels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UntitledSingleSelectEnumSchema {
    /// Always `"string"`.
    #[serde(rename = "type")]
    pub kind: StringTypeTag,
    /// A label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Help text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The choices.
    #[serde(rename = "enum")]
    pub values: Vec<String>,
    /// The default choice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// One of several strings, with labels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TitledSingleSelectEnumSchema {
    /// Always `"string"`.
    #[serde(rename = "type")]
    pub kind: StringTypeTag,
    /// A label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Help text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The choices.
    pub one_of: Vec<TitledOption>,
    /// The default choice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// The item schema of a multi-select without labels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UntitledEnumItems {
    /// Always `"string"`.
    #[serde(rename = "type")]
    pub kind: StringTypeTag,
    /// The choices.
    #[serde(rename = "enum")]
    pub values: Vec<String>,
}

/// The item schema of a multi-select with labels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TitledEnumItems {
    /// The choices.
    pub any_of: Vec<TitledOption>,
}

/// Several of several strings, without labels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UntitledMultiSelectEnumSchema {
    /// Always `"array"`.
    #[serde(rename = "type")]
    pub kind: ArrayTypeTag,
    /// A label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Help text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The fewest choices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_items: Option<u64>,
    /// The most choices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u64>,
    /// The choices.
    pub items: UntitledEnumItems,
    /// The default choices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Vec<String>>,
}

/// Several of several strings, with labels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TitledMultiSelectEnumSchema {
    /// Always `"array"`.
    #[serde(rename = "type")]
    pub kind: ArrayTypeTag,
    /// A label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Help text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The fewest choices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_items: Option<u64>,
    /// The most choices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u64>,
    /// The choices.
    pub items: TitledEnumItems,
    /// The default choices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Vec<String>>,
}

/// One of several strings with labels in `enumNames` (the form before 2025-11-25; deprecated).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LegacyTitledEnumSchema {
    /// Always `"string"`.
    #[serde(rename = "type")]
    pub kind: StringTypeTag,
    /// A label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Help text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The choices.
    #[serde(rename = "enum")]
    pub values: Vec<String>,
    /// Their labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enum_names: Option<Vec<String>>,
    /// The default choice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// A field of an elicitation form.
#[derive(Debug, Clone, PartialEq)]
pub enum PrimitiveSchemaDefinition {
    /// A string.
    String(StringSchema),
    /// A number or an integer.
    Number(NumberSchema),
    /// A boolean.
    Boolean(BooleanSchema),
    /// One of several strings.
    UntitledSingleSelect(UntitledSingleSelectEnumSchema),
    /// One of several labelled strings.
    TitledSingleSelect(TitledSingleSelectEnumSchema),
    /// Several of several strings.
    UntitledMultiSelect(UntitledMultiSelectEnumSchema),
    /// Several of several labelled strings.
    TitledMultiSelect(TitledMultiSelectEnumSchema),
    /// One of several strings labelled by `enumNames`.
    LegacyTitledEnum(LegacyTitledEnumSchema),
}

impl Serialize for PrimitiveSchemaDefinition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::String(x) => x.serialize(s),
            Self::Number(x) => x.serialize(s),
            Self::Boolean(x) => x.serialize(s),
            Self::UntitledSingleSelect(x) => x.serialize(s),
            Self::TitledSingleSelect(x) => x.serialize(s),
            Self::UntitledMultiSelect(x) => x.serialize(s),
            Self::TitledMultiSelect(x) => x.serialize(s),
            Self::LegacyTitledEnum(x) => x.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for PrimitiveSchemaDefinition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        fn parse<'a, T: Deserialize<'a>, E: serde::de::Error>(
            v: &'a Value,
            f: fn(T) -> PrimitiveSchemaDefinition,
        ) -> Result<PrimitiveSchemaDefinition, E> {
            T::deserialize(v).map(f).map_err(E::custom)
        }
        let v = Value::deserialize(d)?;
        let has = |k: &str| v.get(k).is_some();
        match v.get("type").and_then(Value::as_str) {
            Some("boolean") => parse(&v, Self::Boolean),
            Some("number" | "integer") => parse(&v, Self::Number),
            Some("array") => {
                if v.get("items").is_some_and(|i| i.get("anyOf").is_some()) {
                    parse(&v, Self::TitledMultiSelect)
                } else {
                    parse(&v, Self::UntitledMultiSelect)
                }
            }
            Some("string") if has("oneOf") => parse(&v, Self::TitledSingleSelect),
            Some("string") if has("enumNames") => parse(&v, Self::LegacyTitledEnum),
            Some("string") if has("enum") => parse(&v, Self::UntitledSingleSelect),
            Some("string") => parse(&v, Self::String),
            _ => Err(D::Error::custom(
                "an elicitation field must be a string, number, integer, boolean or enum schema",
            )),
        }
    }
}

/// What the user did with an elicitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ElicitAction {
    /// Submitted or confirmed.
    Accept,
    /// Explicitly declined.
    Decline,
    /// Dismissed without choosing.
    Cancel,
}

/// Result of `elicitation/create`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ElicitResult {
    /// What the user did.
    pub action: ElicitAction,
    /// The form's values, when accepted in form mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<JsonObject>,
    /// Metadata.
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// Params of `notifications/elicitation/complete` (2025-11-25).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ElicitationCompleteNotificationParams {
    /// The URL elicitation that completed.
    pub elicitation_id: String,
    /// Metadata.
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}
