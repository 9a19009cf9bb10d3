//! Runs one queued InvokeEndpointAsync request: reads its input, sends it through the pipeline as
//! InvokeEndpoint does, writes the answer to its output location or the error to its failure
//! location, then removes it from the queue.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderValue;
use smemu_objects::Objects;
use smemu_store::{AsyncRequestRecord, Store};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::request::{AsyncInput, AsyncRequestDoc};
use crate::Launcher;
use crate::clock::now_ms;
use crate::invoke::{self, Invocation, LogLocation};
use crate::routing::LiveEndpoint;

/// Why a request failed, as written to its failure object.
enum Failure {
    Expired {
        ttl_passed_ms: i64,
    },
    Input(String),
    Model(String),
    /// The answer could not be written to the output location.
    Output(String),
}

impl Failure {
    fn text(&self) -> String {
        match self {
            // The service fails a request still queued when its RequestTTLSeconds ends
            // (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpointAsync.html).
            Failure::Expired { ttl_passed_ms } => format!(
                "The request expired before it could be processed: its RequestTTLSeconds ended {} s ago.",
                ttl_passed_ms / 1000
            ),
            Failure::Input(reason) => format!("The input could not be read: {reason}"),
            Failure::Model(message) => message.clone(),
            Failure::Output(reason) => format!("The response could not be written to the output location: {reason}"),
        }
    }
}

pub(super) async fn run(
    store: &Arc<dyn Store>,
    launcher: &Launcher,
    live: &LiveEndpoint,
    record: AsyncRequestRecord,
    doc: AsyncRequestDoc,
) {
    let objects = launcher.objects().map(|objects| objects.as_account(&record.scope.account));
    let id = record.inference_id.as_str();
    let outcome = match answer(launcher, live, &record, &doc, objects.as_ref()).await {
        Ok(body) => match objects.as_ref() {
            Some(objects) => objects
                .put_bytes(&doc.output_location, body)
                .await
                .map(|_| ())
                .map_err(|err| Failure::Output(err.to_string())),
            None => Err(Failure::Output(NO_OBJECTS.into())),
        },
        Err(failure) => Err(failure),
    };
    match outcome {
        Ok(()) => tracing::info!(inference_id = id, endpoint = record.endpoint, "async inference answered"),
        Err(failure) => {
            let reason = failure.text();
            tracing::info!(inference_id = id, endpoint = record.endpoint, reason, "async inference failed");
            let written = match (&doc.failure_location, objects.as_ref()) {
                (Some(location), Some(objects)) => {
                    objects.put_bytes(location, Bytes::from(reason)).await.map(|_| ()).map_err(|e| e.to_string())
                }
                // Without S3FailurePath there is nowhere to write it; the log line above tells.
                (None, _) => Ok(()),
                (Some(_), None) => Err(NO_OBJECTS.to_owned()),
            };
            if let Err(error) = written {
                // Dropped rather than retried for ever: the next attempt would fail the same way.
                tracing::error!(inference_id = id, error, "writing an async inference failure");
            }
        }
    }
    if let Err(err) = store.finish_async_request(record.seq).await {
        tracing::warn!(inference_id = id, error = %err, "removing a finished async inference request");
    }
}

const NO_OBJECTS: &str = "smemu runs without an object store";

async fn answer(
    launcher: &Launcher,
    live: &LiveEndpoint,
    record: &AsyncRequestRecord,
    doc: &AsyncRequestDoc,
    objects: Option<&Objects>,
) -> Result<Bytes, Failure> {
    if let Some(expired) = expired(now_ms(), doc) {
        return Err(expired);
    }
    let received = Instant::now();
    let body = match &doc.input {
        AsyncInput::Inline(body) => body.clone(),
        AsyncInput::Location(uri) => {
            let objects = objects.ok_or_else(|| Failure::Input(NO_OBJECTS.into()))?;
            read_input(objects, uri, launcher.config().max_async_input_bytes).await.map_err(Failure::Input)?
        }
    };
    let header = |value: &Option<String>| value.as_deref().and_then(|v| HeaderValue::from_str(v).ok());
    let request = Invocation {
        body,
        content_type: header(&doc.content_type),
        accept: header(&doc.accept),
        custom_attributes: header(&doc.custom_attributes),
        target_variant: None,
        target_container: None,
        inference_id: HeaderValue::from_str(&record.inference_id).ok(),
        received,
    };
    let logs = LogLocation { region: &record.scope.region, account: &record.scope.account, endpoint: &record.endpoint };
    let timeout = Duration::from_secs(u64::from(doc.timeout_s));
    // Async endpoints capture what they run as real-time ones do (the same DataCaptureConfig on the
    // endpoint config), the request's payload as endpointInput and its answer as endpointOutput,
    // with the request's InferenceId (given or generated) as eventMetadata.inferenceId.
    let sampled = live
        .capture
        .as_ref()
        .and_then(|sink| sink.sample(&request.body, request.content_type.as_ref(), request.inference_id.as_ref()));
    let invoked = invoke::invoke(launcher.relay(), live, &logs, request, timeout)
        .await
        .map_err(|err| Failure::Model(err.to_string()))?;
    if let Some(sampled) = sampled {
        sampled.finish(&invoked.variant, &invoked.body, invoked.content_type.as_ref());
    }
    Ok(invoked.body)
}

/// A request whose `RequestTTLSeconds` ended before it started is not run.
fn expired(now_ms: i64, doc: &AsyncRequestDoc) -> Option<Failure> {
    (now_ms > doc.expires_ms).then(|| Failure::Expired { ttl_passed_ms: now_ms - doc.expires_ms })
}

/// Reads the whole input object, refusing one larger than `max` bytes (`--max-async-input-bytes`).
///
/// No HeadObject first: the read stops once more than `max` bytes arrived, which bounds it as
/// the size would, and a missing object fails the GET as it failed the HEAD. The HEAD was a third
/// of the object-store round trips of each request (HEAD, GET, PUT of the answer).
async fn read_input(objects: &Objects, uri: &str, max: u64) -> Result<Bytes, String> {
    let reader = objects.get(uri).await.map_err(|e| e.to_string())?;
    read_bounded(reader, uri, max).await
}

/// The whole of `reader`, or the "more than `max` bytes" failure once more than `max` arrived.
async fn read_bounded(reader: impl AsyncRead + Unpin, uri: &str, max: u64) -> Result<Bytes, String> {
    let mut body = Vec::new();
    reader.take(max.saturating_add(1)).read_to_end(&mut body).await.map_err(|e| format!("reading {uri}: {e}"))?;
    if body.len() as u64 > max {
        return Err(format!("{uri} is more than the {max} bytes an input may have."));
    }
    Ok(Bytes::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(expires_ms: i64) -> AsyncRequestDoc {
        AsyncRequestDoc {
            input: AsyncInput::Location("s3://b/in".into()),
            content_type: None,
            accept: None,
            custom_attributes: None,
            output_location: "s3://b/out/x.out".into(),
            failure_location: Some("s3://b/fail/x-error.out".into()),
            expires_ms,
            timeout_s: 900,
            max_concurrent_per_instance: 1,
        }
    }

    #[tokio::test]
    async fn an_input_is_read_whole_up_to_the_bound_and_refused_past_it() {
        let at_bound = read_bounded(&b"12345"[..], "s3://b/in", 5).await;
        assert_eq!(at_bound.as_deref(), Ok(&b"12345"[..]));
        let empty = read_bounded(&b""[..], "s3://b/in", 5).await;
        assert_eq!(empty.as_deref(), Ok(&b""[..]));
        let past = read_bounded(&b"123456"[..], "s3://b/in", 5).await;
        assert_eq!(past, Err("s3://b/in is more than the 5 bytes an input may have.".to_owned()));
    }

    #[test]
    fn a_request_past_its_ttl_fails_as_expired_and_one_within_it_runs() {
        assert!(expired(1_000, &doc(1_000)).is_none());
        let text = expired(61_000, &doc(1_000)).map(|failure| failure.text()).unwrap();
        assert!(text.starts_with("The request expired before it could be processed"), "{text}");
        assert!(text.contains("60 s ago"), "{text}");
    }
}
