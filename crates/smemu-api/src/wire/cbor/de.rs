//! Decoding a generated shape from a CBOR body: a serde `Deserializer` over minicbor's decoder.

use minicbor::Decoder;
use minicbor::data::Type;
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};

use super::{CborError, MAX_DEPTH};

/// RFC 8949 §3.4.2: tag 1, epoch-based date/time, over an integer or a float (RPC v2 CBOR's only
/// timestamp form).
const EPOCH_TAG: u64 = 1;

/// Decodes one data item of `body` into `T`; bytes after it are an error (the SDKs refuse them too).
/// An empty body is an empty structure: the protocol sends none for an input without members.
pub(crate) fn from_slice<T: DeserializeOwned>(body: &[u8]) -> Result<T, CborError> {
    if body.is_empty() {
        return T::deserialize(de::value::MapDeserializer::new(std::iter::empty::<((), ())>()));
    }
    let mut de = Cbor { dec: Decoder::new(body), depth: 0 };
    let value = T::deserialize(&mut de)?;
    if de.dec.position() != body.len() {
        return Err(CborError::Trailing);
    }
    Ok(value)
}

struct Cbor<'b> {
    dec: Decoder<'b>,
    /// Arrays, maps and tags open around the current item.
    depth: usize,
}

impl<'b> Cbor<'b> {
    fn enter(&mut self) -> Result<(), CborError> {
        if self.depth >= MAX_DEPTH {
            return Err(CborError::TooDeep);
        }
        self.depth += 1;
        Ok(())
    }

    /// Consumes a break byte if one is next (the end of an indefinite-length array or map).
    fn at_break(&mut self) -> Result<bool, CborError> {
        if self.dec.datatype()? == Type::Break {
            self.dec.set_position(self.dec.position() + 1);
            return Ok(true);
        }
        Ok(false)
    }

    /// A number as an f64, from any of CBOR's integer and float forms.
    fn number(&mut self) -> Result<f64, CborError> {
        Ok(match self.dec.datatype()? {
            Type::F16 | Type::F32 | Type::F64 => self.dec.f64()?,
            Type::U8 | Type::U16 | Type::U32 | Type::U64 => self.dec.u64()? as f64,
            Type::I8 | Type::I16 | Type::I32 | Type::I64 => self.dec.i64()? as f64,
            other => return Err(CborError::Shape(format!("expected a number, found {other}"))),
        })
    }
}

impl<'de> de::Deserializer<'de> for &mut Cbor<'de> {
    type Error = CborError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CborError> {
        match self.dec.datatype()? {
            Type::Bool => visitor.visit_bool(self.dec.bool()?),
            // The spec: servers MUST read `undefined` as null.
            Type::Null => {
                self.dec.null()?;
                visitor.visit_unit()
            }
            Type::Undefined => {
                self.dec.undefined()?;
                visitor.visit_unit()
            }
            Type::U8 | Type::U16 | Type::U32 | Type::U64 => visitor.visit_u64(self.dec.u64()?),
            Type::I8 | Type::I16 | Type::I32 | Type::I64 => visitor.visit_i64(self.dec.i64()?),
            Type::Int => visitor.visit_i128(i128::from(self.dec.int()?)),
            Type::F16 | Type::F32 | Type::F64 => visitor.visit_f64(self.dec.f64()?),
            Type::String => visitor.visit_borrowed_str(self.dec.str()?),
            Type::StringIndef => {
                // Chunks are slices of the input, so the string is no longer than the body.
                let mut text = String::new();
                for chunk in self.dec.str_iter()? {
                    text.push_str(chunk?);
                }
                visitor.visit_string(text)
            }
            Type::Bytes => visitor.visit_borrowed_bytes(self.dec.bytes()?),
            Type::BytesIndef => {
                let mut bytes = Vec::new();
                for chunk in self.dec.bytes_iter()? {
                    bytes.extend_from_slice(chunk?);
                }
                visitor.visit_byte_buf(bytes)
            }
            Type::Array | Type::ArrayIndef => {
                self.enter()?;
                let len = self.dec.array()?;
                let value = visitor.visit_seq(Items { de: &mut *self, left: len })?;
                self.depth -= 1;
                Ok(value)
            }
            Type::Map | Type::MapIndef => {
                self.enter()?;
                let len = self.dec.map()?;
                let value = visitor.visit_map(Items { de: &mut *self, left: len })?;
                self.depth -= 1;
                Ok(value)
            }
            Type::Tag => {
                // A tag where the shape does not expect a timestamp: the tagged item is read as
                // the shape's member (so a timestamp read as `any` is its number). Bignums and
                // decimal fractions (tags 2-4) are not in any served shape; their content is
                // then a byte string or array the shape refuses.
                self.enter()?;
                self.dec.tag()?;
                let value = self.deserialize_any(visitor)?;
                self.depth -= 1;
                Ok(value)
            }
            other => Err(CborError::Shape(format!("unexpected CBOR item: {other}"))),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CborError> {
        match self.dec.datatype()? {
            Type::Null => {
                self.dec.null()?;
                visitor.visit_none()
            }
            Type::Undefined => {
                self.dec.undefined()?;
                visitor.visit_none()
            }
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, CborError> {
        if name != smemu_types::timestamp::SERDE_NAME {
            return visitor.visit_newtype_struct(self);
        }
        if self.dec.datatype()? != Type::Tag {
            return Err(CborError::Shape("expected a timestamp (tag 1)".into()));
        }
        let tag = self.dec.tag()?.as_u64();
        if tag != EPOCH_TAG {
            return Err(CborError::Shape(format!("expected a timestamp (tag 1), found tag {tag}")));
        }
        let secs = self.number()?;
        visitor.visit_newtype_struct(secs.into_deserializer())
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, CborError> {
        // Generated enums are strings (read through `deserialize_str`); a Rust enum read as its
        // variant's name covers any other.
        match self.dec.datatype()? {
            Type::String | Type::StringIndef => {
                let name: String = de::Deserialize::deserialize(&mut *self)?;
                visitor.visit_enum(name.into_deserializer())
            }
            other => Err(CborError::Shape(format!("expected an enum value, found {other}"))),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// The items of an array or the pairs of a map; `left` is `None` for indefinite lengths (ended by
/// a break). No size hint: a declared length is not trusted for an allocation.
struct Items<'a, 'b> {
    de: &'a mut Cbor<'b>,
    left: Option<u64>,
}

impl Items<'_, '_> {
    fn has_next(&mut self) -> Result<bool, CborError> {
        match &mut self.left {
            Some(0) => Ok(false),
            Some(n) => {
                *n -= 1;
                Ok(true)
            }
            None => Ok(!self.de.at_break()?),
        }
    }
}

impl<'de> de::SeqAccess<'de> for Items<'_, 'de> {
    type Error = CborError;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, CborError> {
        if !self.has_next()? {
            return Ok(None);
        }
        seed.deserialize(&mut *self.de).map(Some)
    }
}

impl<'de> de::MapAccess<'de> for Items<'_, 'de> {
    type Error = CborError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, CborError> {
        if !self.has_next()? {
            return Ok(None);
        }
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, CborError> {
        seed.deserialize(&mut *self.de)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smemu_types::cloudwatch::{GetMetricStatisticsInput, StandardUnit, Statistic};

    #[test]
    fn reads_what_the_sdk_sends_indefinite_maps_and_tagged_timestamps() {
        // {_ "Namespace": "ns", "Period": 60, "StartTime": 1(1700000000), "EndTime": 1(1700000060.5),
        //    "Statistics": ["Sum"], "Unit": "Count", "Unknown": [1, {}] }
        let mut e = minicbor::Encoder::new(Vec::new());
        e.begin_map().unwrap();
        e.str("Namespace").unwrap().str("ns").unwrap();
        e.str("Period").unwrap().u8(60).unwrap();
        e.str("StartTime").unwrap().tag(minicbor::data::Tag::new(1)).unwrap().u32(1_700_000_000).unwrap();
        e.str("EndTime").unwrap().tag(minicbor::data::Tag::new(1)).unwrap().f64(1_700_000_060.5).unwrap();
        e.str("Statistics").unwrap().array(1).unwrap().str("Sum").unwrap();
        e.str("Unit").unwrap().str("Count").unwrap();
        e.str("Unknown").unwrap().array(2).unwrap().u8(1).unwrap().map(0).unwrap();
        e.end().unwrap();
        let input: GetMetricStatisticsInput = from_slice(&e.into_writer()).unwrap();
        assert_eq!(input.namespace.as_deref(), Some("ns"));
        assert_eq!(input.period, Some(60));
        assert_eq!(input.start_time.unwrap().as_millis(), 1_700_000_000_000);
        assert_eq!(input.end_time.unwrap().as_millis(), 1_700_000_060_500);
        assert_eq!(input.statistics, Some(vec![Statistic::Sum]));
        assert_eq!(input.unit, Some(StandardUnit::Count));
    }

    #[test]
    fn an_empty_body_is_an_empty_structure() {
        let input: GetMetricStatisticsInput = from_slice(b"").unwrap();
        assert_eq!(input, GetMetricStatisticsInput::default());
    }

    #[test]
    fn a_timestamp_must_be_tag_1() {
        let mut e = minicbor::Encoder::new(Vec::new());
        e.map(1).unwrap().str("StartTime").unwrap().u32(5).unwrap();
        let err = from_slice::<GetMetricStatisticsInput>(&e.into_writer()).unwrap_err();
        assert!(matches!(err, CborError::Shape(_)), "{err}");
    }

    #[test]
    fn a_wrong_member_type_is_a_shape_error() {
        let mut e = minicbor::Encoder::new(Vec::new());
        e.map(1).unwrap().str("Period").unwrap().str("sixty").unwrap();
        let err = from_slice::<GetMetricStatisticsInput>(&e.into_writer()).unwrap_err();
        assert!(matches!(err, CborError::Shape(_)), "{err}");
    }

    #[test]
    fn deep_nesting_is_refused_without_recursing_on_it() {
        // An unknown member holding 100 000 nested arrays: refused at MAX_DEPTH.
        let mut body = vec![0xa1, 0x61, b'X'];
        body.extend(std::iter::repeat_n(0x81, 100_000));
        body.push(0x00);
        let err = from_slice::<GetMetricStatisticsInput>(&body).unwrap_err();
        assert!(matches!(err, CborError::TooDeep), "{err}");
    }

    #[test]
    fn declared_lengths_allocate_nothing() {
        // Statistics: an array declaring 2^64-1 items, a text string declaring 2^63 bytes.
        let mut body = vec![0xa1, 0x6a];
        body.extend_from_slice(b"Statistics");
        body.push(0x9b);
        body.extend_from_slice(&[0xff; 8]);
        assert!(from_slice::<GetMetricStatisticsInput>(&body).is_err());
        let mut body = vec![0xa1, 0x69];
        body.extend_from_slice(b"Namespace");
        body.push(0x7b);
        body.extend_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0]);
        assert!(matches!(from_slice::<GetMetricStatisticsInput>(&body), Err(CborError::Syntax(_))));
    }

    #[test]
    fn trailing_bytes_are_refused() {
        assert!(matches!(from_slice::<GetMetricStatisticsInput>(&[0xa0, 0xa0]), Err(CborError::Trailing)));
    }
}
