//! Timestamps as the JSON protocols carry them: epoch seconds, with a millisecond fraction.

use std::fmt;

use aws_smithy_types::DateTime;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time; on the wire a JSON number of epoch seconds (`1529870369.986`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timestamp(DateTime);

impl Timestamp {
    pub fn now() -> Self {
        Timestamp(DateTime::from(std::time::SystemTime::now()))
    }

    pub fn from_secs_f64(secs: f64) -> Self {
        Timestamp(DateTime::from_secs_f64(secs))
    }

    pub fn as_secs_f64(&self) -> f64 {
        self.0.as_secs_f64()
    }

    pub fn as_date_time(&self) -> &DateTime {
        &self.0
    }
}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.as_secs_f64().partial_cmp(&other.as_secs_f64())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Millisecond precision, as the real service answers.
        let millis = (self.as_secs_f64() * 1000.0).round() / 1000.0;
        serializer.serialize_f64(millis)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Seconds;
        impl Visitor<'_> for Seconds {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a timestamp in epoch seconds")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Timestamp, E> {
                if v.is_finite() { Ok(Timestamp::from_secs_f64(v)) } else { Err(E::custom("timestamp out of range")) }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
                Ok(Timestamp::from_secs_f64(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
                Ok(Timestamp::from_secs_f64(v as f64))
            }
        }
        deserializer.deserialize_any(Seconds)
    }
}
