//! InvokeEndpointWithResponseStream, `POST /endpoints/{EndpointName}/invocations-response-stream`:
//! admitted as InvokeEndpoint is (`invoke::admit`: identity, size, endpoint, buffer cap, headers),
//! answered as an AWS event stream (`application/vnd.amazon.eventstream`) of `PayloadPart` events,
//! each sent as soon as the runtime reads it from the last container. See
//! <https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpointWithResponseStream.html>.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use aws_smithy_types::event_stream::{Header, HeaderValue as EventHeader, Message};
use axum::response::Response;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, Request};
use hyper::body::{Frame, Incoming};
use tokio::sync::mpsc;

use super::invoke::{
    Admitted, CUSTOM_ATTRIBUTES_HEADER, INVOKED_VARIANT, REQUEST_ID, admit, declared_length, read_body, render_error,
    response,
};
use crate::AppState;
use smemu_http1::{Buffered, MinRate};
use smemu_runtime::{StreamErrorCode, StreamEvent};

/// The stream's `Accept` travels in its own header (the API reference's request syntax).
const ACCEPT: HeaderName = HeaderName::from_static("x-amzn-sagemaker-accept");
/// The container's content type travels here: `Content-Type` names the event stream.
const CONTENT_TYPE_OUT: HeaderName = HeaderName::from_static("x-amzn-sagemaker-content-type");
const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// The `EndpointName` of an InvokeEndpointWithResponseStream path, percent-decoded; `None` for
/// any other path.
pub(super) fn endpoint_of(path: &str) -> Option<String> {
    super::invoke::endpoint_in(path, "/invocations-response-stream")
}

/// Answers one stream request: an error before the first byte in InvokeEndpoint's shapes
/// (`ValidationError`, `ModelError`...), otherwise 200 and the events as they come.
pub(super) async fn handle(
    state: &AppState,
    buffered: &Buffered,
    endpoint: String,
    request: Request<MinRate<Incoming>>,
) -> Response {
    let arrived = Instant::now();
    let (parts, body) = request.into_parts();
    let target = parts.uri.path_and_query().map_or("/", |target| target.as_str());
    let length = declared_length(&parts.headers, &body);
    let request_id = uuid::Uuid::new_v4().hyphenated().to_string();
    let headers = &parts.headers;
    let result = async {
        let admitted =
            admit(state, buffered, &endpoint, target, headers, length, || read_body(body), arrived, &ACCEPT).await?;
        let Admitted { scope, live, request, _held } = admitted;
        state.runtime.invoke_stream(&scope, &endpoint, live, request).await.map_err(|err| render_error(&err))
    }
    .await;
    let mut answer = match result {
        Ok(stream) => {
            let mut out = HeaderMap::with_capacity(5);
            out.insert(CONTENT_TYPE, HeaderValue::from_static(EVENT_STREAM));
            out.insert(
                CONTENT_TYPE_OUT,
                stream.content_type.unwrap_or(HeaderValue::from_static("application/octet-stream")),
            );
            if let Ok(variant) = HeaderValue::from_str(&stream.variant) {
                out.insert(INVOKED_VARIANT, variant);
            }
            if let Some(attributes) = stream.custom_attributes {
                out.insert(CUSTOM_ATTRIBUTES_HEADER, attributes);
            }
            let mut answer = Response::new(axum::body::Body::new(EventBody { events: stream.events, ended: false }));
            *answer.headers_mut() = out;
            answer
        }
        Err(refused) => response(refused),
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        answer.headers_mut().insert(REQUEST_ID, value);
    }
    tracing::info!(
        request_id,
        operation = "InvokeEndpointWithResponseStream",
        endpoint,
        status = answer.status().as_u16(),
        "request"
    );
    answer
}

/// The response body: one event-stream message per event, as the runtime sends them.
struct EventBody {
    events: mpsc::Receiver<StreamEvent>,
    ended: bool,
}

impl hyper::body::Body for EventBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let message = match self.events.poll_recv(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(StreamEvent::Part(bytes))) => payload_part(bytes),
            Poll::Ready(Some(StreamEvent::Failed(code))) => {
                self.ended = true;
                model_stream_error(code)
            }
            Poll::Ready(Some(StreamEvent::End)) => {
                self.ended = true;
                return Poll::Ready(None);
            }
            // The runtime's task ended without saying how: the unknown failure the API names.
            Poll::Ready(None) => {
                self.ended = true;
                internal_stream_failure()
            }
        };
        Poll::Ready(Some(Ok(Frame::data(message))))
    }

    fn is_end_stream(&self) -> bool {
        self.ended
    }
}

/// A `PayloadPart` event: the bytes are the frame's payload (the member is the event payload).
fn payload_part(bytes: Bytes) -> Bytes {
    frame(event("event", ":event-type", "PayloadPart", "application/octet-stream"), bytes)
}

/// A `ModelStreamError` exception event with its `ErrorCode`.
fn model_stream_error(code: StreamErrorCode) -> Bytes {
    let error = smemu_types::runtime::ModelStreamError {
        error_code: Some(code.as_str().to_owned()),
        message: Some(code.message().to_owned()),
    };
    let body = serde_json::to_vec(&error).unwrap_or_default();
    frame(event("exception", ":exception-type", "ModelStreamError", "application/json"), Bytes::from(body))
}

/// An `InternalStreamFailure` exception event (the API reference's text).
fn internal_stream_failure() -> Bytes {
    let failure = smemu_types::runtime::InternalStreamFailure {
        message: Some(
            "The stream processing failed because of an unknown error, exception or failure. Try your request again."
                .into(),
        ),
    };
    let body = serde_json::to_vec(&failure).unwrap_or_default();
    frame(event("exception", ":exception-type", "InternalStreamFailure", "application/json"), Bytes::from(body))
}

/// The three headers an event's frame carries (`:message-type`, the type, `:content-type`).
fn event(
    message_type: &'static str,
    type_header: &'static str,
    name: &'static str,
    content_type: &'static str,
) -> [Header; 3] {
    [
        Header::new(":message-type", EventHeader::String(message_type.into())),
        Header::new(type_header, EventHeader::String(name.into())),
        Header::new(":content-type", EventHeader::String(content_type.into())),
    ]
}

/// One frame: prelude, headers, payload and CRCs, written by the SDKs' own crate.
fn frame(headers: [Header; 3], payload: Bytes) -> Bytes {
    let message = Message::new_from_parts(headers.into(), payload);
    let mut out = Vec::with_capacity(message.payload().len() + 128);
    match aws_smithy_eventstream::frame::write_message_to(&message, &mut out) {
        Ok(()) => Bytes::from(out),
        // Only a payload over the frame limit (16 MB) fails; parts are container reads, far smaller.
        Err(err) => {
            tracing::warn!(error = %err, "an event could not be framed");
            Bytes::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_eventstream::frame::read_message_from;

    fn header<'a>(message: &'a Message, name: &str) -> &'a str {
        let found = message.headers().iter().find(|h| h.name().as_str() == name).unwrap();
        found.value().as_string().unwrap().as_str()
    }

    #[test]
    fn the_stream_path_names_its_endpoint() {
        assert_eq!(endpoint_of("/endpoints/llm/invocations-response-stream").as_deref(), Some("llm"));
        assert_eq!(endpoint_of("/endpoints/a%20b/invocations-response-stream").as_deref(), Some("a b"));
        for path in [
            "/endpoints/llm/invocations",
            "/endpoints//invocations-response-stream",
            "/endpoints/a/b/invocations-response-stream",
        ] {
            assert_eq!(endpoint_of(path), None, "{path}");
        }
    }

    #[test]
    fn a_payload_part_frames_its_bytes_with_the_event_headers() {
        let framed = payload_part(Bytes::from_static(b"token "));
        let message = read_message_from(&framed[..]).unwrap();
        assert_eq!(header(&message, ":message-type"), "event");
        assert_eq!(header(&message, ":event-type"), "PayloadPart");
        assert_eq!(header(&message, ":content-type"), "application/octet-stream");
        assert_eq!(&message.payload()[..], b"token ");
    }

    #[test]
    fn a_broken_stream_is_a_model_stream_error_exception_with_its_code() {
        let framed = model_stream_error(StreamErrorCode::StreamBroken);
        let message = read_message_from(&framed[..]).unwrap();
        assert_eq!(header(&message, ":message-type"), "exception");
        assert_eq!(header(&message, ":exception-type"), "ModelStreamError");
        let body: serde_json::Value = serde_json::from_slice(message.payload()).unwrap();
        assert_eq!(body["ErrorCode"], "StreamBroken");
        assert!(body["Message"].as_str().is_some_and(|m| !m.is_empty()));
        let framed = internal_stream_failure();
        let message = read_message_from(&framed[..]).unwrap();
        assert_eq!(header(&message, ":exception-type"), "InternalStreamFailure");
    }

    #[tokio::test]
    async fn events_become_frames_in_order_and_a_silent_end_is_an_internal_failure() {
        use http_body_util::BodyExt;
        let (tx, events) = mpsc::channel(4);
        tx.send(StreamEvent::Part(Bytes::from_static(b"a"))).await.unwrap();
        tx.send(StreamEvent::Part(Bytes::from_static(b"b"))).await.unwrap();
        drop(tx);
        let body = EventBody { events, ended: false }.collect().await.unwrap().to_bytes();
        let mut rest = &body[..];
        let mut seen = Vec::new();
        while !rest.is_empty() {
            let message = read_message_from(&mut rest).unwrap();
            seen.push(header(&message, ":message-type").to_owned() + ":" + &String::from_utf8_lossy(message.payload()));
        }
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert_eq!(&seen[..2], ["event:a", "event:b"]);
        assert!(seen[2].starts_with("exception:"), "{seen:?}");

        let (tx, events) = mpsc::channel(4);
        tx.send(StreamEvent::Part(Bytes::from_static(b"a"))).await.unwrap();
        tx.send(StreamEvent::End).await.unwrap();
        let body = EventBody { events, ended: false }.collect().await.unwrap().to_bytes();
        let mut rest = &body[..];
        assert_eq!(read_message_from(&mut rest).unwrap().payload().as_ref(), b"a");
        assert!(rest.is_empty(), "nothing follows the end: {} bytes", rest.len());
    }
}
