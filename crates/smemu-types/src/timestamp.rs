//! [`Timestamp`], the type of `timestamp` shapes. The JSON protocols carry timestamps as epoch seconds with a
//! millisecond fraction (`1529870369.986`); the service keeps millisecond precision, so this type does too.

use std::fmt;

use aws_smithy_types::DateTime;
use serde::de::{self, Visitor};

/// The name [`Timestamp`] gives serde for its newtype: serde_json reads and writes a newtype as its
/// content (so the JSON stays a number), while the query and CBOR protocols, which carry timestamps in
/// a form of their own (ISO 8601 text, CBOR tag 1), recognise it by this name.
pub const SERDE_NAME: &str = "$smemu::Timestamp";

/// A point in time with millisecond precision, (de)serialized as a JSON number of epoch seconds (a
/// newtype named [`SERDE_NAME`] around that number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(DateTime);

impl Timestamp {
    /// Now, truncated to the millisecond (so that it survives a JSON round trip unchanged).
    pub fn now() -> Self {
        let now = DateTime::from(std::time::SystemTime::now());
        Self::from_millis(millis_of(&now))
    }

    /// Epoch milliseconds.
    pub fn from_millis(millis: i64) -> Self {
        Self(DateTime::from_millis(millis))
    }

    /// Epoch milliseconds.
    pub fn as_millis(&self) -> i64 {
        millis_of(&self.0)
    }

    /// Epoch seconds, rounded to the millisecond.
    pub fn from_secs_f64(secs: f64) -> Self {
        // `as` saturates (and maps NaN to 0), which is the best an out-of-range float can mean here.
        Self::from_millis((secs * 1000.0).round() as i64)
    }

    /// Epoch seconds with a millisecond fraction.
    pub fn as_secs_f64(&self) -> f64 {
        self.as_millis() as f64 / 1000.0
    }

    /// An ISO 8601 (RFC 3339) date-time, as the query protocol carries timestamps
    /// (`2026-12-06T19:00:00Z`, with or without a fraction or an offset); `None` when it is not one.
    pub fn parse_iso8601(text: &str) -> Option<Self> {
        DateTime::from_str(text, aws_smithy_types::date_time::Format::DateTime).ok().map(Self::from)
    }

    /// ISO 8601 in UTC with the millisecond fraction when there is one (`2026-12-06T19:00:00.5Z`).
    pub fn to_iso8601(&self) -> String {
        // Formatting fails only for years past 9999, which no millisecond count here reaches
        // from a parsed or current time; epoch seconds are then the honest fallback.
        self.0.fmt(aws_smithy_types::date_time::Format::DateTime).unwrap_or_else(|_| self.as_secs_f64().to_string())
    }

    /// The underlying [`DateTime`] (for the AWS SDK's formatting helpers).
    pub fn as_date_time(&self) -> &DateTime {
        &self.0
    }
}

/// Epoch milliseconds, flooring sub-millisecond parts (and `secs * 1000` cannot overflow for any date the
/// service accepts; saturate otherwise).
fn millis_of(t: &DateTime) -> i64 {
    t.secs().saturating_mul(1000).saturating_add(i64::from(t.subsec_nanos() / 1_000_000))
}

impl From<DateTime> for Timestamp {
    fn from(t: DateTime) -> Self {
        Self::from_millis(millis_of(&t))
    }
}

impl From<Timestamp> for DateTime {
    fn from(t: Timestamp) -> Self {
        t.0
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_struct(SERDE_NAME, &self.as_secs_f64())
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SecondsVisitor;

        impl<'de> Visitor<'de> for SecondsVisitor {
            type Value = Timestamp;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of epoch seconds")
            }

            fn visit_i64<E: de::Error>(self, secs: i64) -> Result<Timestamp, E> {
                Ok(Timestamp::from_millis(secs.saturating_mul(1000)))
            }

            fn visit_u64<E: de::Error>(self, secs: u64) -> Result<Timestamp, E> {
                let secs = i64::try_from(secs).map_err(|_| E::custom("timestamp out of range"))?;
                self.visit_i64(secs)
            }

            fn visit_f64<E: de::Error>(self, secs: f64) -> Result<Timestamp, E> {
                Ok(Timestamp::from_secs_f64(secs))
            }

            fn visit_newtype_struct<D: serde::Deserializer<'de>>(self, inner: D) -> Result<Timestamp, D::Error> {
                inner.deserialize_f64(SecondsVisitor)
            }
        }

        deserializer.deserialize_newtype_struct(SERDE_NAME, SecondsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::Timestamp;

    #[test]
    fn wire_form() {
        let t = Timestamp::from_secs_f64(1529870369.986);
        assert_eq!(t.as_millis(), 1_529_870_369_986);
        assert_eq!(serde_json::to_string(&t).unwrap(), "1529870369.986");
        assert_eq!(serde_json::from_str::<Timestamp>("1529870369.986").unwrap(), t);
        assert_eq!(serde_json::from_str::<Timestamp>("1529870369").unwrap().as_millis(), 1_529_870_369_000);
        assert!(serde_json::from_str::<Timestamp>("\"1529870369\"").is_err());
    }

    #[test]
    fn json_is_a_plain_number_through_the_newtype() {
        // The serde newtype that the query and CBOR codecs recognise is invisible to serde_json.
        let t = Timestamp::from_millis(1_529_870_369_986);
        assert_eq!(serde_json::to_value(t).unwrap(), serde_json::json!(1529870369.986));
        assert_eq!(serde_json::from_value::<Timestamp>(serde_json::json!(1529870369.986)).unwrap(), t);
    }

    #[test]
    fn iso8601() {
        let t = Timestamp::parse_iso8601("2018-06-24T19:59:29.986Z").unwrap();
        assert_eq!(t.as_millis(), 1_529_870_369_986);
        assert_eq!(t.to_iso8601(), "2018-06-24T19:59:29.986Z");
        assert_eq!(Timestamp::parse_iso8601("2018-06-24T19:59:29Z").unwrap().to_iso8601(), "2018-06-24T19:59:29Z");
        assert!(Timestamp::parse_iso8601("yesterday").is_none());
    }

    #[test]
    fn now_round_trips_and_orders() {
        let a = Timestamp::now();
        let back: Timestamp = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(a, back);
        assert!(Timestamp::from_millis(1) < Timestamp::from_millis(2));
    }
}
