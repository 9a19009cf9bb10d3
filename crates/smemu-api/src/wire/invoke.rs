//! The runtime's restJson1 protocol: `POST /endpoints/{EndpointName}/invocations`, answered by
//! [`reply`] whether the transport's fast path (`plain.rs`) or hyper ([`handle`]) read the request.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::response::Response;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::{Body, Incoming};

use super::auth_error::AuthError;
use super::identity;
use super::sigv4::Received;
use crate::AppState;
use smemu_http1::{Buffered, MinRate, Reply, Reservation};
use smemu_runtime::{CUSTOM_ATTRIBUTES, Invocation, InvokeError, LiveEndpoint, MAX_PAYLOAD};
use smemu_store::Scope;

// Names built once, not parsed from text at each lookup: this runs for every invocation.
const TARGET_VARIANT: HeaderName = HeaderName::from_static("x-amzn-sagemaker-target-variant");
const TARGET_CONTAINER: HeaderName = HeaderName::from_static("x-amzn-sagemaker-target-container-hostname");
const INFERENCE_ID: HeaderName = HeaderName::from_static("x-amzn-sagemaker-inference-id");
pub(super) const INVOKED_VARIANT: HeaderName = HeaderName::from_static("x-amzn-invoked-production-variant");
pub(super) const CUSTOM_ATTRIBUTES_HEADER: HeaderName = HeaderName::from_static(CUSTOM_ATTRIBUTES);
pub(super) const REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");
const ERROR_TYPE: HeaderName = HeaderName::from_static("x-amzn-errortype");

/// Every request header [`reply`] reads.
pub(super) static READ_HEADERS: [HeaderName; 7] =
    [AUTHORIZATION, CONTENT_TYPE, ACCEPT, CUSTOM_ATTRIBUTES_HEADER, TARGET_VARIANT, TARGET_CONTAINER, INFERENCE_ID];

/// The `EndpointName` of an InvokeEndpoint path, percent-decoded; `None` for any other path.
pub(super) fn endpoint_of(path: &str) -> Option<String> {
    endpoint_in(path, "/invocations")
}

/// The percent-decoded `EndpointName` of `/endpoints/{EndpointName}<suffix>`, the form of every
/// runtime path (`/invocations`, `/invocations-response-stream`, `/async-invocations`).
pub(super) fn endpoint_in(path: &str, suffix: &str) -> Option<String> {
    let name = path.strip_prefix("/endpoints/")?.strip_suffix(suffix)?;
    if name.is_empty() || name.contains('/') {
        return None;
    }
    Some(percent_encoding::percent_decode_str(name).decode_utf8_lossy().into_owned())
}

/// InvokeEndpoint as served by hyper (see `plain.rs` for the requests the fast path serves).
pub(super) async fn handle(
    state: &AppState,
    buffered: &Buffered,
    endpoint: String,
    request: Request<MinRate<Incoming>>,
) -> Response {
    let (parts, body) = request.into_parts();
    let target = parts.uri.path_and_query().map_or("/", |target| target.as_str());
    let length = declared_length(&parts.headers, &body);
    // A body left unread (a missing endpoint, too large, throttled) makes hyper close the
    // connection after the answer rather than read it.
    response(reply(state, buffered, endpoint, target, &parts.headers, length, || read_body(body)).await)
}

/// An answer for hyper to frame (the fast path frames its own).
pub(super) fn response(reply: Reply) -> Response {
    let mut response = Response::new(axum::body::Body::from(reply.body));
    *response.status_mut() = reply.status;
    *response.headers_mut() = reply.headers;
    response
}

/// Answers one invocation of `endpoint` with `headers`, whose body of `length` bytes `body`
/// reads; `target` (path and query as received) is read only by `--auth strict`. With `--auth
/// any` the body is read only once the endpoint is known to serve and the bytes fit under
/// `--max-buffered-bytes`: a refused body is never buffered (the framing drains or closes).
pub(super) async fn reply<F, Fut>(
    state: &AppState,
    buffered: &Buffered,
    endpoint: String,
    target: &str,
    headers: &HeaderMap,
    length: usize,
    body: F,
) -> Reply
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Bytes, InvokeError>>,
{
    // OverheadLatency counts from here (the head is read; the body is not yet).
    let arrived = Instant::now();
    let mut request_id = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let request_id: &str = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut request_id);
    let result = async {
        let admitted = admit(state, buffered, &endpoint, target, headers, length, body, arrived, &ACCEPT).await?;
        let Admitted { scope, live, request, _held } = admitted;
        state.runtime.invoke(&scope, &endpoint, &live, request).await.map_err(|err| render_error(&err))
    }
    .await;
    let mut reply = match result {
        Ok(invoked) => {
            let mut out = HeaderMap::with_capacity(4);
            out.insert(
                CONTENT_TYPE,
                invoked.content_type.unwrap_or(HeaderValue::from_static("application/octet-stream")),
            );
            if let Ok(variant) = HeaderValue::from_str(&invoked.variant) {
                out.insert(INVOKED_VARIANT, variant);
            }
            if let Some(attributes) = invoked.custom_attributes {
                out.insert(CUSTOM_ATTRIBUTES_HEADER, attributes);
            }
            Reply { status: StatusCode::OK, headers: out, body: invoked.body }
        }
        Err(refused) => refused,
    };
    if let Ok(value) = HeaderValue::from_str(request_id) {
        reply.headers.insert(REQUEST_ID, value);
    }
    tracing::info!(request_id, operation = "InvokeEndpoint", endpoint, status = reply.status.as_u16(), "request");
    reply
}

/// An invocation let in: who calls, the fleet that serves, the request, and its body's share of
/// `--max-buffered-bytes` (held until the invocation is answered).
pub(super) struct Admitted<'b> {
    pub scope: Scope,
    pub live: Arc<LiveEndpoint>,
    pub request: Invocation,
    pub _held: Reservation<'b>,
}

/// Everything both invoke calls check before calling containers: size, identity, endpoint,
/// buffer cap, headers. `accept` names the header that carries `Accept` (it differs between
/// InvokeEndpoint and InvokeEndpointWithResponseStream). With `--auth any` the body is read only
/// once the endpoint is known to serve and the bytes fit under `--max-buffered-bytes`: a refused
/// body is never buffered (the framing drains or closes).
#[allow(clippy::too_many_arguments)] // the pieces of one request, as both wires hold them
pub(super) async fn admit<'b, F, Fut>(
    state: &AppState,
    buffered: &'b Buffered,
    endpoint: &str,
    target: &str,
    headers: &HeaderMap,
    length: usize,
    body: F,
    arrived: Instant,
    accept: &HeaderName,
) -> Result<Admitted<'b>, Reply>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Bytes, InvokeError>>,
{
    if length > MAX_PAYLOAD {
        return Err(render_error(&InvokeError::PayloadTooLarge { max: MAX_PAYLOAD }));
    }
    if state.config.access_keys.is_none() {
        let scope = identity::scope_of(headers, target, &state.config).map_err(|err| render_auth_error(&err))?;
        let live = state.runtime.live(&scope, endpoint).await.map_err(|err| render_error(&err))?;
        let _held = buffered.reserve(length).ok_or_else(|| render_error(&InvokeError::Throttled))?;
        let body = body().await.map_err(|err| render_error(&err))?;
        let request = invocation(headers, body, arrived, accept).map_err(|err| render_error(&err))?;
        return Ok(Admitted { scope, live, request, _held });
    }
    // --auth strict: the signature covers the body, so the caller is known only once the body
    // is read (within the buffer cap); nothing about endpoints is told to an unverified caller.
    let _held = buffered.reserve(length).ok_or_else(|| render_error(&InvokeError::Throttled))?;
    let body = body().await.map_err(|err| render_error(&err))?;
    let received = Received { method: "POST", target, headers, body: &body };
    let scope = identity::identify(&state.config, &received).map_err(|err| render_auth_error(&err))?;
    let live = state.runtime.live(&scope, endpoint).await.map_err(|err| render_error(&err))?;
    let request = invocation(headers, body, arrived, accept).map_err(|err| render_error(&err))?;
    Ok(Admitted { scope, live, request, _held })
}

/// The declared length of a body hyper reads; a chunked body's length is known only once read:
/// it is counted at the most it may be.
pub(super) fn declared_length(headers: &HeaderMap, body: &MinRate<Incoming>) -> usize {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .or(body.size_hint().exact())
        .map_or(MAX_PAYLOAD, |n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// Reads at most [`MAX_PAYLOAD`] bytes; more is the real validation error, not a 413.
pub(super) async fn read_body(body: MinRate<Incoming>) -> Result<Bytes, InvokeError> {
    match Limited::new(body, MAX_PAYLOAD).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
            Err(InvokeError::PayloadTooLarge { max: MAX_PAYLOAD })
        }
        Err(err) => Err(InvokeError::InvalidHeader(format!("The request body could not be read: {err}"))),
    }
}

fn invocation(
    headers: &HeaderMap,
    body: Bytes,
    received: Instant,
    accept: &HeaderName,
) -> Result<Invocation, InvokeError> {
    let text = |name: &HeaderName| header_text(headers, name);
    let custom_attributes = headers.get(&CUSTOM_ATTRIBUTES_HEADER).cloned();
    if let Some(value) = &custom_attributes
        && value.len() > 1024
    {
        return Err(InvokeError::InvalidHeader(
            "1 validation error detected: Value at 'customAttributes' failed to satisfy constraint: Member must have length less than or equal to 1024".into(),
        ));
    }
    let inference_id = headers.get(&INFERENCE_ID).cloned();
    if let Some(id) = &inference_id
        && (id.is_empty() || id.len() > 64)
    {
        // Through `Violation`, which echoes at most the first 1,024 characters of a header that
        // may be tens of kilobytes long.
        let violation = smemu_types::Violation::new(
            "inferenceId",
            id.to_str().unwrap_or_default(),
            "Member must have length between 1 and 64",
        );
        return Err(InvokeError::InvalidHeader(smemu_types::violation_message(&[violation])));
    }
    Ok(Invocation {
        body,
        content_type: headers.get(CONTENT_TYPE).cloned(),
        accept: headers.get(accept).cloned(),
        custom_attributes,
        target_variant: text(&TARGET_VARIANT)?,
        target_container: text(&TARGET_CONTAINER)?,
        inference_id,
        received,
    })
}

/// Runtime errors: the type in `X-Amzn-ErrorType`, a JSON body with `Message` (and, for
/// `ModelError`, the real members in the real order).
pub(super) fn render_error(err: &InvokeError) -> Reply {
    let (status, code, body) = match err {
        InvokeError::Model { status: original, server_side, message, original_message, log_group } => {
            let code = if *server_side { "SERVER_ERROR_FROM_MODEL" } else { "CLIENT_ERROR_FROM_MODEL" };
            // Key order as the real service sends it; serde_json keeps insertion order here.
            let body = format!(
                "{{\"ErrorCode\":{},\"LogStreamArn\":{},\"Message\":{},\"OriginalMessage\":{},\"OriginalStatusCode\":{}}}",
                json(code),
                json(log_group),
                json(message),
                json(original_message),
                original
            );
            (StatusCode::FAILED_DEPENDENCY, "ModelError", body)
        }
        InvokeError::Internal(_) => {
            let body = format!("{{\"Message\":{},\"message\":{}}}", json(&err.to_string()), json(&err.to_string()));
            (StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure", body)
        }
        InvokeError::Throttled | InvokeError::AsyncQueueFull { .. } => {
            let body = format!("{{\"message\":{}}}", json(&err.to_string()));
            (StatusCode::BAD_REQUEST, "ThrottlingException", body)
        }
        other => {
            let body = format!("{{\"Message\":{},\"message\":{}}}", json(&other.to_string()), json(&other.to_string()));
            (StatusCode::BAD_REQUEST, "ValidationError", body)
        }
    };
    let mut headers = HeaderMap::with_capacity(3);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ERROR_TYPE, HeaderValue::from_static(code));
    Reply { status, headers, body: Bytes::from(body) }
}

/// Header `name`'s value as text, if sent; a value that is not ASCII is the runtime's `InvalidHeader`.
pub(super) fn header_text(headers: &HeaderMap, name: &HeaderName) -> Result<Option<String>, InvokeError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map(str::to_owned)
                .map_err(|_| InvokeError::InvalidHeader(format!("Header {name} must be ASCII.")))
        })
        .transpose()
}

/// A refused identity, in the runtime's error shape (400, as for the control plane).
pub(super) fn render_auth_error(err: &AuthError) -> Reply {
    let message = json(&err.to_string());
    let mut headers = HeaderMap::with_capacity(3);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ERROR_TYPE, HeaderValue::from_static(err.code().as_str()));
    Reply {
        status: StatusCode::BAD_REQUEST,
        headers,
        body: Bytes::from(format!("{{\"Message\":{message},\"message\":{message}}}")),
    }
}

pub(super) fn json(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

#[cfg(test)]
mod tests {
    use super::endpoint_of;

    #[test]
    fn the_endpoint_name_comes_from_the_invocations_path() {
        assert_eq!(endpoint_of("/endpoints/churn/invocations").as_deref(), Some("churn"));
        assert_eq!(endpoint_of("/endpoints/my%20endpoint/invocations").as_deref(), Some("my endpoint"));
    }

    #[test]
    fn other_paths_are_not_invocations() {
        for path in
            ["/", "/endpoints//invocations", "/endpoints/a/b/invocations", "/endpoints/a", "/endpoints/a/invocations/x"]
        {
            assert_eq!(endpoint_of(path), None, "{path}");
        }
    }
}
