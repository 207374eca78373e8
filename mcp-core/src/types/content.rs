use std::borrow::Cow;
use std::fmt;

use serde::de::value::{BorrowedStrDeserializer, MapAccessDeserializer, StringDeserializer};
use serde::de::{DeserializeSeed, Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::common::{Annotations, Icon, JsonObject, tag};
use crate::meta::Meta;

tag!(
    /// The tag `"text"`.
    TextTag = "text"
);
tag!(
    /// The tag `"image"`.
    ImageTag = "image"
);
tag!(
    /// The tag `"audio"`.
    AudioTag = "audio"
);
tag!(
    /// The tag `"resource_link"`.
    ResourceLinkTag = "resource_link"
);
tag!(
    /// The tag `"resource"`.
    ResourceTag = "resource"
);
tag!(
    /// The tag `"tool_use"`.
    ToolUseTag = "tool_use"
);
tag!(
    /// The tag `"tool_result"`.
    ToolResultTag = "tool_result"
);

/// Text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TextContent {
    /// Always `"text"`.
    #[serde(rename = "type")]
    pub kind: TextTag,
    /// The text.
    pub text: String,
    /// Hints for the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// Metadata.
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// An image, base64-encoded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageContent {
    /// Always `"image"`.
    #[serde(rename = "type")]
    pub kind: ImageTag,
    /// The base64-encoded image.
    pub data: String,
    /// Its MIME type.
    pub mime_type: String,
    /// Hints for the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// Metadata.
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// Audio, base64-encoded (2025-03-26 on).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AudioContent {
    /// Always `"audio"`.
    #[serde(rename = "type")]
    pub kind: AudioTag,
    /// The base64-encoded audio.
    pub data: String,
    /// Its MIME type.
    pub mime_type: String,
    /// Hints for the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// Metadata.
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// A link to a resource the client may read (2025-06-18 on).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceLink {
    /// Always `"resource_link"`.
    #[serde(rename = "type")]
    pub kind: ResourceLinkTag,
    /// The resource's URI.
    pub uri: String,
    /// Its programmatic name.
    pub name: String,
    /// A human-readable name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its MIME type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Its size in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Icons.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icons: Option<Vec<Icon>>,
    /// Hints for the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// Metadata.
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// A resource's contents, embedded in a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddedResource {
    /// Always `"resource"`.
    #[serde(rename = "type")]
    pub kind: ResourceTag,
    /// The contents.
    pub resource: ResourceContents,
    /// Hints for the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// Metadata.
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// Text contents of a resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TextResourceContents {
    /// The resource's URI.
    pub uri: String,
    /// Its MIME type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The text.
    pub text: String,
    /// Metadata.
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// Binary contents of a resource, base64-encoded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobResourceContents {
    /// The resource's URI.
    pub uri: String,
    /// Its MIME type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The base64-encoded bytes.
    pub blob: String,
    /// Metadata.
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// The contents of a resource: text or a blob.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResourceContents {
    /// Text.
    Text(TextResourceContents),
    /// Bytes.
    Blob(BlobResourceContents),
}

impl ResourceContents {
    /// Text contents.
    pub fn text(uri: impl Into<String>, mime_type: Option<&str>, text: impl Into<String>) -> Self {
        ResourceContents::Text(TextResourceContents {
            uri: uri.into(),
            mime_type: mime_type.map(str::to_owned),
            text: text.into(),
            meta: None,
        })
    }

    /// Binary contents, already base64-encoded.
    pub fn blob(
        uri: impl Into<String>,
        mime_type: Option<&str>,
        base64: impl Into<String>,
    ) -> Self {
        ResourceContents::Blob(BlobResourceContents {
            uri: uri.into(),
            mime_type: mime_type.map(str::to_owned),
            blob: base64.into(),
            meta: None,
        })
    }

    /// The resource's URI.
    pub fn uri(&self) -> &str {
        match self {
            ResourceContents::Text(t) => &t.uri,
            ResourceContents::Blob(b) => &b.uri,
        }
    }
}

/// A request from the model to use a tool, in sampling (2025-11-25 on).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolUseContent {
    /// Always `"tool_use"`.
    #[serde(rename = "type")]
    pub kind: ToolUseTag,
    /// The id that the matching result refers to.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments.
    pub input: JsonObject,
    /// Metadata.
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

/// The result of a tool use, in sampling (2025-11-25 on).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResultContent {
    /// Always `"tool_result"`.
    #[serde(rename = "type")]
    pub kind: ToolResultTag,
    /// The id of the tool use this answers.
    pub tool_use_id: String,
    /// The unstructured result.
    pub content: Vec<ContentBlock>,
    /// The structured result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub structured_content: Option<Value>,
    /// Whether the tool failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
    /// Metadata.
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

const NO_TYPE: &str = "content block without a string `type`";

/// How a content block begins.
enum First {
    /// With its `type`, as SDKs write a block: the rest is read straight into the type's
    /// struct, without a JSON tree.
    Tag(String),
    /// With another member: the whole block, read as a JSON object.
    Whole(serde_json::Map<String, Value>),
}

/// Reads a block's first member: its `type` (which must be a string), or else the whole block.
fn first_member<'de, M: MapAccess<'de>>(map: &mut M) -> Result<First, M::Error> {
    let Some(key) = map.next_key::<Key<'de>>()? else {
        return Err(M::Error::custom(NO_TYPE));
    };
    if key.0 == "type" {
        return match map.next_value::<Value>()? {
            Value::String(s) => Ok(First::Tag(s)),
            _ => Err(M::Error::custom(NO_TYPE)),
        };
    }
    let mut object = serde_json::Map::new();
    object.insert(key.0.into_owned(), map.next_value()?);
    while let Some((k, v)) = map.next_entry::<String, Value>()? {
        object.insert(k, v);
    }
    Ok(First::Whole(object))
}

/// A member's name, borrowed from the input where it can be.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A block whose `type` was read first: yields the `type` again, then the rest of the block.
struct TagFirst<T, M> {
    tag: Option<T>,
    rest: M,
}

impl<T, M> TagFirst<T, M> {
    fn new(tag: T, rest: M) -> Self {
        TagFirst {
            tag: Some(tag),
            rest,
        }
    }
}

/// A tag as a deserializer of the value it is: the literal of a known type, or the string
/// of an unknown one.
trait TagValue {
    fn deserialize_into<'de, S: DeserializeSeed<'de>, E: serde::de::Error>(
        self,
        seed: S,
    ) -> Result<S::Value, E>;
}

impl TagValue for &'static str {
    fn deserialize_into<'de, S: DeserializeSeed<'de>, E: serde::de::Error>(
        self,
        seed: S,
    ) -> Result<S::Value, E> {
        seed.deserialize(BorrowedStrDeserializer::new(self))
    }
}

impl TagValue for String {
    fn deserialize_into<'de, S: DeserializeSeed<'de>, E: serde::de::Error>(
        self,
        seed: S,
    ) -> Result<S::Value, E> {
        seed.deserialize(StringDeserializer::new(self))
    }
}

impl<'de, T: TagValue, M: MapAccess<'de>> MapAccess<'de> for TagFirst<T, M> {
    type Error = M::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, M::Error> {
        if self.tag.is_some() {
            return seed
                .deserialize(BorrowedStrDeserializer::new("type"))
                .map(Some);
        }
        self.rest.next_key_seed(seed)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, M::Error> {
        match self.tag.take() {
            Some(tag) => tag.deserialize_into(seed),
            None => self.rest.next_value_seed(seed),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.rest
            .size_hint()
            .map(|n| n + usize::from(self.tag.is_some()))
    }
}

/// Declares an enum of content blocks told apart by their `type`, with a variant that keeps any
/// block of a type this crate does not know, so that one new content type never fails a message.
macro_rules! content_enum {
    ($(#[$m:meta])* $name:ident { $( $(#[$vm:meta])* $variant:ident($ty:ty) = $tag:literal, )* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq)]
        pub enum $name {
            $( $(#[$vm])* $variant($ty), )*
            /// A block of a type this crate does not know, kept as it came.
            Unknown(Value),
        }

        impl $name {
            /// The block's `type`.
            pub fn kind(&self) -> &str {
                match self {
                    $( $name::$variant(_) => $tag, )*
                    $name::Unknown(v) => v.get("type").and_then(Value::as_str).unwrap_or(""),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self {
                    $( $name::$variant(c) => c.serialize(s), )*
                    $name::Unknown(v) => v.serialize(s),
                }
            }
        }

        impl $name {
            /// The block of type `tag` whose `type` was read first: the rest of `map` goes
            /// straight into the type's struct, with the `type` yielded again.
            fn read_rest<'de, M: MapAccess<'de>>(tag: String, map: M) -> Result<Self, M::Error> {
                $( if tag == $tag {
                    let block = MapAccessDeserializer::new(TagFirst::new($tag, map));
                    return <$ty>::deserialize(block).map($name::$variant);
                } )*
                let block = MapAccessDeserializer::new(TagFirst::new(tag, map));
                Value::deserialize(block).map($name::Unknown)
            }

            /// A block read whole, its `type` not first.
            fn read_tree(object: serde_json::Map<String, Value>) -> Result<Self, serde_json::Error> {
                let tag = match object.get("type") {
                    Some(Value::String(s)) => s.as_str(),
                    _ => return Err(serde_json::Error::custom(NO_TYPE)),
                };
                $( if tag == $tag {
                    return <$ty>::deserialize(Value::Object(object)).map($name::$variant);
                } )*
                Ok($name::Unknown(Value::Object(object)))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a content block (an object with a string `type`)")
                    }
                    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<$name, M::Error> {
                        match first_member(&mut map)? {
                            First::Tag(tag) => $name::read_rest(tag, map),
                            First::Whole(object) => $name::read_tree(object).map_err(M::Error::custom),
                        }
                    }
                }
                d.deserialize_map(V)
            }
        }

        $( impl From<$ty> for $name {
            fn from(c: $ty) -> Self {
                $name::$variant(c)
            }
        } )*
    };
}

content_enum!(
    /// A block of content in a tool result, a prompt message or a tool result in sampling.
    ContentBlock {
        /// Text.
        Text(TextContent) = "text",
        /// An image.
        Image(ImageContent) = "image",
        /// Audio.
        Audio(AudioContent) = "audio",
        /// A link to a resource.
        ResourceLink(ResourceLink) = "resource_link",
        /// An embedded resource.
        Resource(EmbeddedResource) = "resource",
    }
);

content_enum!(
    /// A block of content in a sampling message.
    SamplingContent {
        /// Text.
        Text(TextContent) = "text",
        /// An image.
        Image(ImageContent) = "image",
        /// Audio.
        Audio(AudioContent) = "audio",
        /// The model uses a tool.
        ToolUse(ToolUseContent) = "tool_use",
        /// The result of a tool use.
        ToolResult(ToolResultContent) = "tool_result",
    }
);

impl TextContent {
    /// Text content.
    pub fn new(text: impl Into<String>) -> Self {
        TextContent {
            text: text.into(),
            ..Default::default()
        }
    }
}

impl ImageContent {
    /// An image from base64 data.
    pub fn new(base64: impl Into<String>, mime_type: impl Into<String>) -> Self {
        ImageContent {
            data: base64.into(),
            mime_type: mime_type.into(),
            ..Default::default()
        }
    }
}

impl AudioContent {
    /// Audio from base64 data.
    pub fn new(base64: impl Into<String>, mime_type: impl Into<String>) -> Self {
        AudioContent {
            data: base64.into(),
            mime_type: mime_type.into(),
            ..Default::default()
        }
    }
}

impl EmbeddedResource {
    /// An embedded resource.
    pub fn new(resource: ResourceContents) -> Self {
        EmbeddedResource {
            kind: ResourceTag,
            resource,
            annotations: None,
            meta: None,
        }
    }
}

impl ContentBlock {
    /// A text block.
    pub fn text(text: impl Into<String>) -> Self {
        ContentBlock::Text(TextContent::new(text))
    }

    /// An image block.
    pub fn image(base64: impl Into<String>, mime_type: impl Into<String>) -> Self {
        ContentBlock::Image(ImageContent::new(base64, mime_type))
    }

    /// An audio block.
    pub fn audio(base64: impl Into<String>, mime_type: impl Into<String>) -> Self {
        ContentBlock::Audio(AudioContent::new(base64, mime_type))
    }

    /// An embedded resource block.
    pub fn resource(resource: ResourceContents) -> Self {
        ContentBlock::Resource(EmbeddedResource::new(resource))
    }

    /// The text of a text block.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            ContentBlock::Text(t) => Some(&t.text),
            _ => None,
        }
    }
}

/// One value or a list of them: sampling content may be either.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// A single value.
    One(T),
    /// A list.
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    /// The values as a slice.
    pub fn as_slice(&self) -> &[T] {
        match self {
            OneOrMany::One(v) => std::slice::from_ref(v),
            OneOrMany::Many(v) => v,
        }
    }
}
