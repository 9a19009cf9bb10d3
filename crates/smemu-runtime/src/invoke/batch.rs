//! Batch transform's requests through a pipeline: the relay InvokeEndpoint uses, with the job's
//! content types given as text and its retries. Keeps header types out of the job runner.

use std::time::Duration;

use bytes::Bytes;
use http::HeaderValue;

use super::relay::{Hop, PipelineError, PipelineRequest, Relay};

/// How one job calls its pipeline.
#[derive(Debug, Clone)]
pub struct BatchTransport {
    content_type: Option<HeaderValue>,
    accept: Option<HeaderValue>,
    /// `ModelClientConfig.InvocationsTimeoutInSeconds`, per call through the pipeline.
    timeout: Duration,
    /// `ModelClientConfig.InvocationsMaxRetries`: attempts after the first.
    max_retries: u32,
}

/// A request that failed on every attempt, with the last failure.
#[derive(Debug)]
pub struct BatchCallError {
    pub attempts: u32,
    pub last: PipelineError,
}

impl BatchTransport {
    /// `TransformInput.ContentType` goes to the first container, `TransformOutput.Accept` to the
    /// last. A value that cannot be a header is an error naming the member.
    pub fn new(
        content_type: Option<&str>,
        accept: Option<&str>,
        timeout: Duration,
        max_retries: u32,
    ) -> Result<Self, String> {
        let header = |member: &str, value: Option<&str>| {
            value
                .map(|v| {
                    HeaderValue::from_str(v).map_err(|_| format!("{member} '{v}' cannot be sent as an HTTP header"))
                })
                .transpose()
        };
        Ok(BatchTransport {
            content_type: header("ContentType", content_type)?,
            accept: header("Accept", accept)?,
            timeout,
            max_retries,
        })
    }

    /// Sends `body` through the pipeline, retrying any failure up to the job's retry count, and
    /// returns the last container's body.
    pub async fn call(&self, relay: &Relay, hops: &[Hop<'_>], body: Bytes) -> Result<Bytes, BatchCallError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let request = PipelineRequest {
                body: body.clone(),
                content_type: self.content_type.clone(),
                accept: self.accept.as_ref(),
                custom_attributes: None,
                extra_headers: &[],
                // MaxPayloadInMB bounds what the job sends; intermediate answers are not capped.
                max_intermediate: None,
                timeout: self.timeout,
            };
            match relay.through(hops, request).await {
                Ok(reply) => return Ok(reply.body),
                Err(last) if attempts > self.max_retries => return Err(BatchCallError { attempts, last }),
                Err(err) => tracing::debug!(error = %err, attempts, "batch request failed; retrying"),
            }
        }
    }
}
