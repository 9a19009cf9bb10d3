//! InvokeEndpointWithResponseStream: the pipeline as InvokeEndpoint runs it, except that the last
//! container's answer is forwarded as it arrives, each read of its body one event.
//!
//! A container streams by answering `/invocations` with `Transfer-Encoding: chunked` ("HTTP 1.1
//! chunked encoding", <https://aws.amazon.com/blogs/machine-learning/elevating-the-generative-ai-experience-introducing-streaming-support-in-amazon-sagemaker-hosting/>);
//! a plain (length-framed) answer is forwarded the same way, as the parts in which it arrives
//! (usually one). Before the last container's head, failures are the `ModelError`s InvokeEndpoint
//! gives; after it, a broken or overdue body ends the stream with a `ModelStreamError` event and
//! its `ErrorCode` (`StreamBroken`, `ModelInvocationTimeExceeded`:
//! <https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_ResponseStream.html>).
//!
//! The exchange runs in a task of its own, which owns the endpoint's routing entry, so that the
//! stream outlives the handler that started it; events reach the wire through a bounded channel,
//! so a slow reader slows the reading of the container rather than filling memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderValue;
use tokio::sync::{mpsc, oneshot};

use super::relay::{PipelineRequest, Relay, micros};
use super::{Invocation, InvokeError, LogLocation, MAX_PAYLOAD, Route, extra_headers, model_error, outcome_of, route};
use crate::data_capture::Sampled;
use crate::routing::LiveEndpoint;
use smemu_telemetry::metrics::Outcome;

/// Parts read from the container but not yet taken by the wire.
const PARTS_IN_FLIGHT: usize = 16;

/// How a stream the client abandoned counts: not a success (its answer was never delivered whole)
/// and not the model's failure. The metrics page defines `Invocation4XXErrors` as requests for
/// which the model returned a 4xx; the closest it names for a request ended by its client is
/// that class (the 499 "client closed request" convention), with ModelLatency up to the moment
/// the client left (https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html).
const CLIENT_GONE: Outcome = Outcome::Error4xx;

/// Why a stream ended early, as `ModelStreamError.ErrorCode` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamErrorCode {
    /// "The TCP connection between the client and the model was reset or closed."
    StreamBroken,
    /// "The model failed to finish sending the response within the timeout period."
    ModelInvocationTimeExceeded,
}

impl StreamErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamErrorCode::StreamBroken => "StreamBroken",
            StreamErrorCode::ModelInvocationTimeExceeded => "ModelInvocationTimeExceeded",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            StreamErrorCode::StreamBroken => "The model's response stream was closed or reset before it completed.",
            StreamErrorCode::ModelInvocationTimeExceeded => {
                "The model failed to finish sending the response within the allowed invocation time."
            }
        }
    }
}

/// One event of a stream, in order.
#[derive(Debug)]
pub enum StreamEvent {
    /// Bytes of the last container's answer, as read.
    Part(Bytes),
    /// The stream ends early for this reason; nothing follows.
    Failed(StreamErrorCode),
    /// The answer is complete; nothing follows. A channel closed without `End` or `Failed` means
    /// the stream failed unexpectedly (`InternalStreamFailure`).
    End,
}

/// A stream the last container has begun to answer (a 2xx): what the response headers carry,
/// and its events.
#[derive(Debug)]
pub struct InvokedStream {
    pub content_type: Option<HeaderValue>,
    pub custom_attributes: Option<HeaderValue>,
    pub variant: String,
    pub events: mpsc::Receiver<StreamEvent>,
}

/// What a log location names, owned by the stream's task.
pub struct StreamTarget {
    pub region: String,
    pub account: String,
    pub endpoint: String,
}

impl StreamTarget {
    fn logs(&self) -> LogLocation<'_> {
        LogLocation { region: &self.region, account: &self.account, endpoint: &self.endpoint }
    }
}

/// Starts the stream; returns once the last container's head has come (or the call failed).
/// `timeout` bounds the whole call, stream included.
pub async fn invoke_stream(
    relay: Relay,
    live: Arc<LiveEndpoint>,
    target: StreamTarget,
    request: Invocation,
    timeout: Duration,
    capture: Option<Sampled>,
) -> Result<InvokedStream, InvokeError> {
    let (head_tx, head_rx) = oneshot::channel();
    let (events_tx, events) = mpsc::channel(PARTS_IN_FLIGHT);
    let named = StreamTarget {
        region: target.region.clone(),
        account: target.account.clone(),
        endpoint: target.endpoint.clone(),
    };
    tokio::spawn(run(relay, live, target, request, timeout, head_tx, events_tx, capture));
    match head_rx.await {
        Ok(Ok(Head { content_type, custom_attributes, variant })) => {
            Ok(InvokedStream { content_type, custom_attributes, variant, events })
        }
        Ok(Err(err)) => Err(err),
        // The task ended without a word: as if the first container could not be reached.
        Err(_) => Err(named.logs().unreachable("primary")),
    }
}

/// What the response headers carry, sent once the last container's head has come.
struct Head {
    content_type: Option<HeaderValue>,
    custom_attributes: Option<HeaderValue>,
    variant: String,
}

#[allow(clippy::too_many_arguments)] // One task's whole state; grouping them would only rename it.
async fn run(
    relay: Relay,
    live: Arc<LiveEndpoint>,
    target: StreamTarget,
    request: Invocation,
    timeout: Duration,
    head_tx: oneshot::Sender<Result<Head, InvokeError>>,
    events: mpsc::Sender<StreamEvent>,
    mut capture: Option<Sampled>,
) {
    let logs = target.logs();
    let Route { variant, hops, _in_flight } = match route(&live, &logs, &request) {
        Ok(route) => route,
        Err(err) => {
            let _ = head_tx.send(Err(err));
            return;
        }
    };
    let extra = extra_headers(&request);
    let received = request.received;
    let model_started = Instant::now();
    let deadline = tokio::time::Instant::from_std(model_started + timeout);
    let began = relay
        .through_streaming(
            &hops,
            PipelineRequest {
                body: request.body,
                content_type: request.content_type,
                accept: request.accept.as_ref(),
                custom_attributes: request.custom_attributes.as_ref(),
                extra_headers: &extra,
                max_intermediate: Some(MAX_PAYLOAD),
                timeout,
            },
        )
        .await;
    // The metrics as InvokeEndpoint records them, ModelLatency running to the end of the stream.
    let record = |outcome: Outcome| {
        let done = Instant::now();
        let model = micros(done.saturating_duration_since(model_started));
        variant.metrics.record(model, micros(done.saturating_duration_since(received)).saturating_sub(model), outcome);
    };
    let mut stream = match began {
        Ok(stream) => stream,
        Err(err) => {
            record(outcome_of(&err));
            let _ = head_tx.send(Err(model_error(&logs, err)));
            return;
        }
    };
    let content_type = stream.content_type.take();
    let head = Head {
        content_type: content_type.clone(),
        custom_attributes: stream.custom_attributes.take(),
        variant: variant.name.clone(),
    };
    if head_tx.send(Ok(head)).is_err() {
        // The caller is gone before the first byte: a request the client abandoned, not a success.
        record(Outcome::Error4xx);
        return;
    }
    let overdue = smemu_http1::timers::sleep_until(deadline);
    tokio::pin!(overdue);
    let outcome = loop {
        let next = tokio::select! {
            biased;
            next = stream.body.next() => next,
            () = &mut overdue => {
                let _ = events.send(StreamEvent::Failed(StreamErrorCode::ModelInvocationTimeExceeded)).await;
                break Outcome::Error5xx;
            }
            // The client went away (its connection closed, so the wire dropped the receiver): noticed
            // at once, not at the container's next part, which may be far off.
            () = events.closed() => break CLIENT_GONE,
        };
        match next {
            Ok(Some(part)) => {
                if let Some(capture) = &mut capture {
                    capture.keep_part(&part);
                }
                if events.send(StreamEvent::Part(part)).await.is_err() {
                    // The container's connection is closed with the reader.
                    break CLIENT_GONE;
                }
            }
            Ok(None) => {
                let _ = events.send(StreamEvent::End).await;
                if let Some(latency) = hops.last().and_then(|hop| hop.latency) {
                    latency.record(micros(stream.last_started.elapsed()));
                }
                if let Some(capture) = capture.take() {
                    capture.finish_stream(&variant.name, content_type.as_ref());
                }
                break Outcome::Ok;
            }
            Err(err) => {
                tracing::debug!(error = %err, endpoint = %target.endpoint, "a container's response stream broke");
                let _ = events.send(StreamEvent::Failed(StreamErrorCode::StreamBroken)).await;
                break Outcome::Error5xx;
            }
        }
    };
    record(outcome);
}
