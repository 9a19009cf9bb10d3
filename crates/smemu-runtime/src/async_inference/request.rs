//! One InvokeEndpointAsync request as the queue keeps it (`async_requests.request`, JSON), what the
//! caller gives, and where its answer goes.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// `X-Amzn-SageMaker-RequestTTLSeconds` when absent: 6 hours
/// (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpointAsync.html).
pub const DEFAULT_REQUEST_TTL_S: u32 = 21_600;
/// `X-Amzn-SageMaker-InvocationTimeoutSeconds` when absent: 15 minutes (same page).
pub const DEFAULT_INVOCATION_TIMEOUT_S: u32 = 900;
/// `ClientConfig.MaxConcurrentInvocationsPerInstance` when absent. The service says it "chooses an
/// optimal value"; smemu takes 4 (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_AsyncInferenceClientConfig.html).
pub const DEFAULT_MAX_CONCURRENT_PER_INSTANCE: u32 = 4;

/// InvokeEndpointAsync as the wire read and validated it.
#[derive(Debug, Clone, Default)]
pub struct NewAsyncRequest {
    /// `X-Amzn-SageMaker-Inference-Id`; a new UUID when absent.
    pub inference_id: Option<String>,
    /// `X-Amzn-SageMaker-InputLocation` (`s3://`, or `file://` under `--file-root`).
    pub input_location: Option<String>,
    /// The inline `Body` (at most 128,000 bytes), the other way to give the input.
    pub body: Option<Bytes>,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    pub custom_attributes: Option<String>,
    pub request_ttl_s: Option<u32>,
    pub invocation_timeout_s: Option<u32>,
}

/// What the 202 answer tells.
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptedAsync {
    pub inference_id: String,
    pub output_location: String,
    pub failure_location: Option<String>,
}

/// The stored request (the store keeps it as opaque JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AsyncRequestDoc {
    pub input: AsyncInput,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_attributes: Option<String>,
    pub output_location: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_location: Option<String>,
    /// Not started by then: the request fails as expired (accepted + `RequestTTLSeconds`).
    pub expires_ms: i64,
    /// `InvocationTimeoutSeconds`: how long the pipeline may take.
    pub timeout_s: u32,
    /// `MaxConcurrentInvocationsPerInstance` of the endpoint's config when accepted.
    pub max_concurrent_per_instance: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AsyncInput {
    Location(String),
    Inline(#[serde(with = "inline")] Bytes),
}

/// The inline body as base64 text in the stored JSON.
mod inline {
    use bytes::Bytes;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Bytes, serializer: S) -> Result<S::Ok, S::Error> {
        smemu_types::blob::serialize(&Some(value.clone()), serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Bytes, D::Error> {
        Ok(smemu_types::blob::deserialize(deserializer)?.unwrap_or_default())
    }
}

/// `<S3OutputPath>/<InferenceId>.out` and `<S3FailurePath>/<InferenceId>-error.out`: the names the
/// developer guide's "Check prediction results" page shows for the answer and the failure
/// (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-check-predictions.html).
pub(crate) fn output_location(output_path: &str, inference_id: &str) -> String {
    format!("{}/{inference_id}.out", output_path.trim_end_matches('/'))
}

pub(crate) fn failure_location(failure_path: &str, inference_id: &str) -> String {
    format!("{}/{inference_id}-error.out", failure_path.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_named_after_the_inference_id() {
        assert_eq!(output_location("s3://b/out/", "abc"), "s3://b/out/abc.out");
        assert_eq!(output_location("s3://b/out", "abc"), "s3://b/out/abc.out");
        assert_eq!(failure_location("s3://b/fail", "abc"), "s3://b/fail/abc-error.out");
    }

    #[test]
    fn a_stored_request_reads_back_with_its_inline_body() {
        let doc = AsyncRequestDoc {
            input: AsyncInput::Inline(Bytes::from_static(b"\x00\xffbytes")),
            content_type: Some("text/csv".into()),
            accept: None,
            custom_attributes: None,
            output_location: "s3://b/o/x.out".into(),
            failure_location: None,
            expires_ms: 5,
            timeout_s: 900,
            max_concurrent_per_instance: 4,
        };
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(serde_json::from_value::<AsyncRequestDoc>(json).unwrap(), doc);
    }
}
