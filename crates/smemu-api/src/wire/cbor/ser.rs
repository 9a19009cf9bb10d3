//! Encoding a generated shape as CBOR: a serde `Serializer` onto minicbor's encoder.

use minicbor::Encoder;
use minicbor::data::Tag;
use serde::Serialize;
use serde::ser;

use super::EncodeError;

/// The shape as one CBOR data item. Structures are indefinite-length maps (serde's field count is
/// a hint this encoder does not rely on; the AWS SDKs send and read that form), lists and maps
/// definite when their length is known; floats are always 64-bit (the spec: never half-precision);
/// timestamps tag 1 over epoch seconds.
pub(crate) fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, EncodeError> {
    let mut ser = Cbor { enc: Encoder::new(Vec::new()) };
    value.serialize(&mut ser)?;
    Ok(ser.enc.into_writer())
}

struct Cbor {
    enc: Encoder<Vec<u8>>,
}

/// Writing into a `Vec` cannot fail; the encoder's error type still has to be mapped.
fn done<T, E: std::fmt::Display>(result: Result<T, minicbor::encode::Error<E>>) -> Result<(), EncodeError> {
    result.map(|_| ()).map_err(|err| EncodeError(err.to_string()))
}

impl<'a> ser::Serializer for &'a mut Cbor {
    type Ok = ();
    type Error = EncodeError;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), EncodeError> {
        done(self.enc.bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<(), EncodeError> {
        done(self.enc.i64(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<(), EncodeError> {
        done(self.enc.i64(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<(), EncodeError> {
        done(self.enc.i64(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<(), EncodeError> {
        done(self.enc.i64(v))
    }
    fn serialize_i128(self, v: i128) -> Result<(), EncodeError> {
        done(self.enc.i128(v))
    }
    fn serialize_u8(self, v: u8) -> Result<(), EncodeError> {
        done(self.enc.u64(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<(), EncodeError> {
        done(self.enc.u64(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<(), EncodeError> {
        done(self.enc.u64(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<(), EncodeError> {
        done(self.enc.u64(v))
    }
    fn serialize_u128(self, v: u128) -> Result<(), EncodeError> {
        done(self.enc.u128(v))
    }
    fn serialize_f32(self, v: f32) -> Result<(), EncodeError> {
        done(self.enc.f64(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<(), EncodeError> {
        done(self.enc.f64(v))
    }
    fn serialize_char(self, v: char) -> Result<(), EncodeError> {
        done(self.enc.char(v))
    }
    fn serialize_str(self, v: &str) -> Result<(), EncodeError> {
        done(self.enc.str(v))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), EncodeError> {
        done(self.enc.bytes(v))
    }
    fn serialize_none(self) -> Result<(), EncodeError> {
        done(self.enc.null())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), EncodeError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), EncodeError> {
        done(self.enc.null())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), EncodeError> {
        done(self.enc.null())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), EncodeError> {
        done(self.enc.str(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, name: &'static str, value: &T) -> Result<(), EncodeError> {
        if name == smemu_types::timestamp::SERDE_NAME {
            done(self.enc.tag(Tag::new(1)))?;
        }
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), EncodeError> {
        done(self.enc.map(1))?;
        done(self.enc.str(variant))?;
        value.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Compound<'a>, EncodeError> {
        match len {
            Some(n) => done(self.enc.array(n as u64))?,
            None => done(self.enc.begin_array())?,
        }
        Ok(Compound { ser: self, indefinite: len.is_none() })
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>, EncodeError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Compound<'a>, EncodeError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, EncodeError> {
        done(self.enc.map(1))?;
        done(self.enc.str(variant))?;
        self.serialize_seq(Some(len))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Compound<'a>, EncodeError> {
        match len {
            Some(n) => done(self.enc.map(n as u64))?,
            None => done(self.enc.begin_map())?,
        }
        Ok(Compound { ser: self, indefinite: len.is_none() })
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Compound<'a>, EncodeError> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, EncodeError> {
        done(self.enc.map(1))?;
        done(self.enc.str(variant))?;
        self.serialize_map(None)
    }
}

/// An array or map being written; an indefinite one is closed with a break.
struct Compound<'a> {
    ser: &'a mut Cbor,
    indefinite: bool,
}

impl Compound<'_> {
    fn finish(self) -> Result<(), EncodeError> {
        if self.indefinite {
            done(self.ser.enc.end())?;
        }
        Ok(())
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<(), EncodeError> {
        self.finish()
    }
}

impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<(), EncodeError> {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<(), EncodeError> {
        self.finish()
    }
}

impl ser::SerializeTupleVariant for Compound<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<(), EncodeError> {
        self.finish()
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), EncodeError> {
        key.serialize(&mut *self.ser)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<(), EncodeError> {
        self.finish()
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), EncodeError> {
        done(self.ser.enc.str(key))?;
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<(), EncodeError> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), EncodeError> {
        done(self.ser.enc.str(key))?;
        value.serialize(&mut *self.ser)
    }
    fn end(self) -> Result<(), EncodeError> {
        self.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smemu_types::Timestamp;
    use smemu_types::cloudwatch::{Datapoint, GetMetricStatisticsOutput, StandardUnit};

    #[test]
    fn timestamps_are_tag_1_over_epoch_seconds_and_structures_maps() {
        let out = GetMetricStatisticsOutput {
            datapoints: Some(vec![Datapoint {
                timestamp: Some(Timestamp::from_millis(1_700_000_000_500)),
                sum: Some(3.0),
                unit: Some(StandardUnit::Count),
                ..Default::default()
            }]),
            label: Some("Invocations".into()),
        };
        let bytes = to_vec(&out).unwrap();
        let mut d = minicbor::Decoder::new(&bytes);
        assert_eq!(d.map().unwrap(), None);
        assert_eq!(d.str().unwrap(), "Datapoints");
        assert_eq!(d.array().unwrap(), Some(1));
        assert_eq!(d.map().unwrap(), None);
        let mut seen = Vec::new();
        loop {
            if d.datatype().unwrap() == minicbor::data::Type::Break {
                d.skip().unwrap();
                break;
            }
            match d.str().unwrap() {
                "Timestamp" => {
                    assert_eq!(d.tag().unwrap().as_u64(), 1);
                    assert_eq!(d.f64().unwrap(), 1_700_000_000.5);
                    seen.push("Timestamp");
                }
                "Sum" => {
                    assert_eq!(d.f64().unwrap(), 3.0);
                    seen.push("Sum");
                }
                "Unit" => {
                    assert_eq!(d.str().unwrap(), "Count");
                    seen.push("Unit");
                }
                other => panic!("unexpected member {other}"),
            }
        }
        seen.sort();
        assert_eq!(seen, ["Sum", "Timestamp", "Unit"]);
        let back: GetMetricStatisticsOutput = super::super::from_slice(&bytes).unwrap();
        assert_eq!(back, out);
    }
}
