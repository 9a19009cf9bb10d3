//! `blob` members inside a JSON body: base64 text on the wire (the JSON protocols' rule), bytes in Rust.
//! Used by generated fields as `#[serde(with = "crate::blob")]` on an `Option<bytes::Bytes>`.

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serializer};

pub fn serialize<S: Serializer>(value: &Option<Bytes>, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(bytes) => serializer.serialize_str(&aws_smithy_types::base64::encode(bytes)),
        None => serializer.serialize_none(),
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Bytes>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        Some(text) => aws_smithy_types::base64::decode(&text)
            .map(|bytes| Some(Bytes::from(bytes)))
            .map_err(|err| serde::de::Error::custom(format!("a blob must be base64: {err}"))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Shape {
        #[serde(rename = "Body", skip_serializing_if = "Option::is_none", default, with = "crate::blob")]
        body: Option<bytes::Bytes>,
    }

    #[test]
    fn blobs_are_base64_in_json_and_bad_text_is_refused() {
        let shape = Shape { body: Some(bytes::Bytes::from_static(b"\x00hi")) };
        let text = serde_json::to_string(&shape).unwrap();
        assert_eq!(text, r#"{"Body":"AGhp"}"#);
        assert_eq!(serde_json::from_str::<Shape>(&text).unwrap(), shape);
        assert_eq!(serde_json::from_str::<Shape>("{}").unwrap(), Shape { body: None });
        assert!(serde_json::from_str::<Shape>(r#"{"Body":"***"}"#).is_err());
    }
}
