//! Reading a params object while setting its `_meta` member aside, raw: what
//! [`ClientRequest::parse_for_meta_apart`](crate::messages::ClientRequest::parse_for_meta_apart)
//! does, for a server that reads a few reserved members of each request's `_meta` and the rest
//! only when a handler asks (building a [`Meta`](crate::Meta), a map of JSON values, for every
//! request cost a modern `tools/call` about a tenth of its instructions).
//!
//! [`Apart`] wraps the params' deserializer: the top-level object's members go to the params type
//! as they would, except `_meta`, whose raw text (borrowed from the input) is kept instead. Every
//! other value, and every error, is the wrapped deserializer's.

use std::fmt;

use serde::de::value::{BorrowedStrDeserializer, StringDeserializer};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

const META: &str = "_meta";

/// Reads `T` from `params` (absent params read as JSON `null`), with the `_meta` member of the
/// top-level object (if any, and not `null`) set aside as raw JSON. A `_meta` given twice keeps
/// the last.
pub(crate) fn from_params<'p, T: de::Deserialize<'p>>(
    params: Option<&'p RawValue>,
) -> Result<(T, Option<&'p RawValue>), serde_json::Error> {
    let Some(params) = params else {
        let t = T::deserialize(serde::de::value::UnitDeserializer::<serde_json::Error>::new())?;
        return Ok((t, None));
    };
    let mut meta = None;
    let mut de = serde_json::Deserializer::from_str(params.get());
    let t = T::deserialize(Apart {
        de: &mut de,
        meta: &mut meta,
    })?;
    de.end()?;
    Ok((t, meta.filter(|m: &&RawValue| m.get() != "null")))
}

/// A deserializer whose top-level map sets its `_meta` member aside.
struct Apart<'m, 'de, D> {
    de: D,
    meta: &'m mut Option<&'de RawValue>,
}

impl<'m, 'de, D: Deserializer<'de>> Deserializer<'de> for Apart<'m, 'de, D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.de.deserialize_any(Wrap {
            visitor,
            meta: self.meta,
        })
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.de.deserialize_map(Wrap {
            visitor,
            meta: self.meta,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.de.deserialize_struct(
            name,
            fields,
            Wrap {
                visitor,
                meta: self.meta,
            },
        )
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.de.deserialize_option(Wrap {
            visitor,
            meta: self.meta,
        })
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.de.deserialize_newtype_struct(
            name,
            Wrap {
                visitor,
                meta: self.meta,
            },
        )
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct enum identifier ignored_any
    }
}

/// The visitor of the top-level value: a map's members go through [`MapApart`]; anything else
/// reaches the params type's visitor unchanged.
struct Wrap<'m, 'de, V> {
    visitor: V,
    meta: &'m mut Option<&'de RawValue>,
}

macro_rules! forward_visits {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(
            fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
                self.visitor.$method(v)
            }
        )*
    };
}

impl<'m, 'de, V: Visitor<'de>> Visitor<'de> for Wrap<'m, 'de, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_map(MapApart {
            map,
            meta: self.meta,
        })
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_some(Apart {
            de,
            meta: self.meta,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, de: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_newtype_struct(Apart {
            de,
            meta: self.meta,
        })
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_seq(seq)
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_enum(data)
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.visitor.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.visitor.visit_unit()
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<V::Value, E> {
        self.visitor.visit_borrowed_str(v)
    }

    fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<V::Value, E> {
        self.visitor.visit_borrowed_bytes(v)
    }

    forward_visits! {
        visit_bool(bool), visit_i64(i64), visit_i128(i128), visit_u64(u64), visit_u128(u128),
        visit_f64(f64), visit_char(char), visit_str(&str), visit_string(String),
        visit_bytes(&[u8]), visit_byte_buf(Vec<u8>),
    }
}

/// The top-level map, without its `_meta` member.
struct MapApart<'m, 'de, A> {
    map: A,
    meta: &'m mut Option<&'de RawValue>,
}

/// A member's name, or the `_meta` member.
enum Key<'de> {
    Meta,
    Borrowed(&'de str),
    Owned(String),
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key<'de>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Key<'de>, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(if v == META {
            Key::Meta
        } else {
            Key::Borrowed(v)
        })
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(if v == META {
            Key::Meta
        } else {
            Key::Owned(v.to_owned())
        })
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
        Ok(if v == META { Key::Meta } else { Key::Owned(v) })
    }
}

impl<'m, 'de, A: MapAccess<'de>> MapAccess<'de> for MapApart<'m, 'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        loop {
            match self.map.next_key_seed(KeySeed)? {
                None => return Ok(None),
                Some(Key::Meta) => *self.meta = Some(self.map.next_value::<&'de RawValue>()?),
                Some(Key::Borrowed(name)) => {
                    return seed
                        .deserialize(BorrowedStrDeserializer::<A::Error>::new(name))
                        .map(Some);
                }
                Some(Key::Owned(name)) => {
                    return seed
                        .deserialize(StringDeserializer::<A::Error>::new(name))
                        .map(Some);
                }
            }
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.map.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::value::RawValue;

    use super::from_params;
    use crate::Meta;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct P {
        name: String,
        #[serde(rename = "_meta", default)]
        meta: Option<Meta>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Flat {
        name: String,
        #[serde(flatten)]
        rest: serde_json::Map<String, serde_json::Value>,
    }

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).unwrap()
    }

    #[test]
    fn the_meta_member_is_set_aside_raw_and_the_rest_read_as_usual() {
        let params = raw(r#"{"_meta":{"k":[1, 2]},"name":"a\u0062"}"#);
        let (p, meta): (P, _) = from_params(Some(&params)).unwrap();
        assert_eq!(
            p,
            P {
                name: "ab".into(),
                meta: None
            }
        );
        assert_eq!(meta.unwrap().get(), r#"{"k":[1, 2]}"#);
        // Nested `_meta` members are the params type's.
        let params = raw(r#"{"name":"a","x":{"_meta":1}}"#);
        let (f, meta): (Flat, _) = from_params(Some(&params)).unwrap();
        assert_eq!(f.rest["x"]["_meta"], 1);
        assert!(meta.is_none());
        // A `null` one is none; the last of two is kept.
        let params = raw(r#"{"name":"a","_meta":null}"#);
        assert!(from_params::<P>(Some(&params)).unwrap().1.is_none());
        let params = raw(r#"{"_meta":{"a":1},"name":"a","_meta":{"b":2}}"#);
        assert_eq!(
            from_params::<P>(Some(&params)).unwrap().1.unwrap().get(),
            r#"{"b":2}"#
        );
    }

    #[test]
    fn errors_are_the_params_types_own() {
        let plain = |s: &str| serde_json::from_str::<P>(s).unwrap_err().to_string();
        let apart = |s: &str| from_params::<P>(Some(&raw(s))).unwrap_err().to_string();
        for bad in [
            r#"{"name":1}"#,
            r#"{"name":"a","other":1}"#,
            r#"[1]"#,
            r#""x""#,
            r#"{}"#,
        ] {
            assert_eq!(apart(bad), plain(bad), "{bad}");
        }
        // Absent params read as null, which a struct refuses and an `Option` takes as none.
        assert!(from_params::<P>(None).is_err());
        assert_eq!(from_params::<Option<P>>(None).unwrap().0, None);
        let params = raw(r#"{"name":"a","_meta":{}}"#);
        let (p, meta) = from_params::<Option<P>>(Some(&params)).unwrap();
        assert_eq!(p.unwrap().name, "a");
        assert_eq!(meta.unwrap().get(), "{}");
    }
}
