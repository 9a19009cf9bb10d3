//! Moves a stored resource between shapes that share member names (a Create input and its
//! Describe output), and converts tags between the store and the shapes.

use serde::Serialize;
use serde::de::DeserializeOwned;
use smemu_store::Tag as StoredTag;
use smemu_types::sagemaker::Tag;

use crate::ApiError;
pub(crate) use smemu_runtime::clock::{millis, now_ms, timestamp};

/// Serialises `from` and reads it back as `To`: members with the same name carry over.
pub(crate) fn to_json<T: Serialize>(from: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(from).map_err(ApiError::internal)
}

pub(crate) fn from_json<To: DeserializeOwned>(value: serde_json::Value) -> Result<To, ApiError> {
    serde_json::from_value(value).map_err(ApiError::internal)
}

pub(crate) fn stored_tags(tags: Option<&[Tag]>) -> Vec<StoredTag> {
    tags.unwrap_or_default()
        .iter()
        .map(|t| StoredTag { key: t.key.clone().unwrap_or_default(), value: t.value.clone().unwrap_or_default() })
        .collect()
}

pub(crate) fn shape_tags(tags: Vec<StoredTag>) -> Vec<Tag> {
    tags.into_iter().map(|t| Tag { key: Some(t.key), value: Some(t.value) }).collect()
}
