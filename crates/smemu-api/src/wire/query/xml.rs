//! Writing a generated output shape as the query protocol's XML: each member an element named as
//! the member, list items `<member>`, map pairs `<entry><key/><value/></entry>`, timestamps ISO
//! 8601, booleans `true`/`false`, numbers as decimal text.

use std::fmt::Write;

use serde::Serialize;
use serde::ser;
use smemu_types::Timestamp;

use super::XmlError;

/// The shape's members as XML elements (the content of `<OperationResult>`).
pub(crate) fn to_xml<T: Serialize + ?Sized>(value: &T) -> Result<String, XmlError> {
    let mut xml = Xml { out: String::new(), timestamp: false };
    value.serialize(&mut xml)?;
    Ok(xml.out)
}

/// Text as XML character data or attribute value. Characters XML 1.0 cannot carry at all (most
/// C0 controls) are replaced, so that the document stays well-formed.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Kept through parsers that normalise line ends.
            '\r' => out.push_str("&#xD;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

struct Xml {
    out: String,
    /// The next number is a [`Timestamp`]'s epoch seconds (see `serialize_newtype_struct`).
    timestamp: bool,
}

impl Xml {
    fn text(&mut self, text: &str) -> Result<(), XmlError> {
        self.out.push_str(&escape(text));
        Ok(())
    }

    fn display(&mut self, value: impl std::fmt::Display) -> Result<(), XmlError> {
        write!(self.out, "{value}").map_err(|err| XmlError(err.to_string()))
    }

    fn element<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), XmlError> {
        write!(self.out, "<{name}>").map_err(|err| XmlError(err.to_string()))?;
        value.serialize(&mut *self)?;
        write!(self.out, "</{name}>").map_err(|err| XmlError(err.to_string()))
    }
}

impl<'a> ser::Serializer for &'a mut Xml {
    type Ok = ();
    type Error = XmlError;
    type SerializeSeq = Items<'a>;
    type SerializeTuple = Items<'a>;
    type SerializeTupleStruct = Items<'a>;
    type SerializeTupleVariant = ser::Impossible<(), XmlError>;
    type SerializeMap = Items<'a>;
    type SerializeStruct = Items<'a>;
    type SerializeStructVariant = ser::Impossible<(), XmlError>;

    fn serialize_bool(self, v: bool) -> Result<(), XmlError> {
        self.display(v)
    }
    fn serialize_i8(self, v: i8) -> Result<(), XmlError> {
        self.display(v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), XmlError> {
        self.display(v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), XmlError> {
        self.display(v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), XmlError> {
        self.display(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), XmlError> {
        self.display(v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), XmlError> {
        self.display(v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), XmlError> {
        self.display(v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), XmlError> {
        self.display(v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), XmlError> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), XmlError> {
        if std::mem::take(&mut self.timestamp) {
            return self.text(&Timestamp::from_secs_f64(v).to_iso8601());
        }
        // The service writes doubles in decimal (`1.0`, `0.5`), and infinities as Java does.
        if v.is_nan() {
            self.text("NaN")
        } else if v.is_infinite() {
            self.text(if v > 0.0 { "Infinity" } else { "-Infinity" })
        } else {
            self.display(v)
        }
    }
    fn serialize_char(self, v: char) -> Result<(), XmlError> {
        self.text(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), XmlError> {
        self.text(v)
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<(), XmlError> {
        // Blobs are base64 in the query protocol; no CloudWatch output has one.
        Err(XmlError("blobs are not written by this encoder".into()))
    }
    fn serialize_none(self) -> Result<(), XmlError> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), XmlError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), XmlError> {
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), XmlError> {
        Ok(())
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result<(), XmlError> {
        self.text(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, name: &'static str, value: &T) -> Result<(), XmlError> {
        self.timestamp = name == smemu_types::timestamp::SERDE_NAME;
        value.serialize(&mut *self)?;
        self.timestamp = false;
        Ok(())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), XmlError> {
        self.element(variant, value)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Items<'a>, XmlError> {
        Ok(Items { xml: self })
    }
    fn serialize_tuple(self, _len: usize) -> Result<Items<'a>, XmlError> {
        Ok(Items { xml: self })
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Items<'a>, XmlError> {
        Ok(Items { xml: self })
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, XmlError> {
        Err(XmlError("tuple variants are not shapes".into()))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Items<'a>, XmlError> {
        Ok(Items { xml: self })
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Items<'a>, XmlError> {
        Ok(Items { xml: self })
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, XmlError> {
        Err(XmlError("struct variants are not shapes".into()))
    }
}

/// The items of a list (each a `<member>`), the pairs of a map (each an `<entry>`) or the members
/// of a structure (each an element of its name), written inside the element that holds them.
struct Items<'a> {
    xml: &'a mut Xml,
}

impl ser::SerializeSeq for Items<'_> {
    type Ok = ();
    type Error = XmlError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), XmlError> {
        self.xml.element("member", value)
    }
    fn end(self) -> Result<(), XmlError> {
        Ok(())
    }
}

impl ser::SerializeTuple for Items<'_> {
    type Ok = ();
    type Error = XmlError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), XmlError> {
        self.xml.element("member", value)
    }
    fn end(self) -> Result<(), XmlError> {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for Items<'_> {
    type Ok = ();
    type Error = XmlError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), XmlError> {
        self.xml.element("member", value)
    }
    fn end(self) -> Result<(), XmlError> {
        Ok(())
    }
}

impl ser::SerializeMap for Items<'_> {
    type Ok = ();
    type Error = XmlError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), XmlError> {
        self.xml.out.push_str("<entry>");
        self.xml.element("key", key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), XmlError> {
        self.xml.element("value", value)?;
        self.xml.out.push_str("</entry>");
        Ok(())
    }
    fn end(self) -> Result<(), XmlError> {
        Ok(())
    }
}

impl ser::SerializeStruct for Items<'_> {
    type Ok = ();
    type Error = XmlError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), XmlError> {
        self.xml.element(key, value)
    }
    fn end(self) -> Result<(), XmlError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smemu_types::cloudwatch::{Datapoint, Dimension, GetMetricStatisticsOutput, ListMetricsOutput, Metric};

    #[test]
    fn members_lists_maps_and_timestamps() {
        let out = GetMetricStatisticsOutput {
            datapoints: Some(vec![Datapoint {
                timestamp: Some(Timestamp::parse_iso8601("2026-12-06T19:00:00Z").unwrap()),
                sum: Some(2.0),
                extended_statistics: Some([("p99".to_owned(), 0.5)].into()),
                ..Default::default()
            }]),
            label: Some("a<b".into()),
        };
        assert_eq!(
            to_xml(&out).unwrap(),
            "<Datapoints><member><ExtendedStatistics><entry><key>p99</key><value>0.5</value></entry></ExtendedStatistics>\
             <Sum>2</Sum><Timestamp>2026-12-06T19:00:00Z</Timestamp></member></Datapoints><Label>a&lt;b</Label>"
        );
    }

    #[test]
    fn nested_structures_and_empty_lists() {
        let out = ListMetricsOutput {
            metrics: Some(vec![Metric {
                dimensions: Some(vec![Dimension { name: Some("N".into()), value: Some("V".into()) }]),
                metric_name: Some("m".into()),
                namespace: None,
            }]),
            next_token: None,
            owning_accounts: Some(vec![]),
        };
        assert_eq!(
            to_xml(&out).unwrap(),
            "<Metrics><member><Dimensions><member><Name>N</Name><Value>V</Value></member></Dimensions>\
             <MetricName>m</MetricName></member></Metrics><OwningAccounts></OwningAccounts>"
        );
    }

    #[test]
    fn text_is_escaped_and_kept_well_formed() {
        assert_eq!(escape("<&>\"'\r\u{1}"), "&lt;&amp;&gt;&quot;&apos;&#xD;\u{FFFD}");
    }
}
