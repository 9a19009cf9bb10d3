//! The transport's fast-path handler: plain InvokeEndpoint calls are answered by `invoke::reply`
//! (the one handler of both paths), and requests the fast path refuses before their body get the
//! AWS-shaped answer the rest of the API would give.

use std::sync::Arc;

use http::{HeaderValue, StatusCode};
use smemu_http1::{Buffered, PlainBody, PlainHandler, PlainHead, PlainRule, Refusal, Reply};

use super::invoke::{self, READ_HEADERS};
use super::json_rpc::MAX_BODY;
use super::render;
use crate::{ApiError, AppState};
use smemu_runtime::{InvokeError, MAX_PAYLOAD};

/// InvokeEndpoint on the fast path.
pub(super) struct Invocations {
    state: AppState,
    buffered: Arc<Buffered>,
    rule: PlainRule,
}

impl Invocations {
    pub(super) fn new(state: AppState, buffered: Arc<Buffered>) -> Self {
        let rule = PlainRule {
            route: invoke::endpoint_of,
            read_headers: &READ_HEADERS,
            // `--auth strict`: every header and the path are kept for the signature check.
            every_header: state.config.access_keys.is_some(),
            max_body: MAX_PAYLOAD,
            max_other_body: MAX_BODY,
        };
        Invocations { state, buffered, rule }
    }
}

impl PlainHandler for Invocations {
    fn rule(&self) -> &PlainRule {
        &self.rule
    }

    async fn reply(&self, head: PlainHead, body: PlainBody<'_>) -> Reply {
        let PlainHead { key: endpoint, target, headers, content_length } = head;
        invoke::reply(&self.state, &self.buffered, endpoint, &target, &headers, content_length, || async {
            body.read()
                .await
                .map_err(|err| InvokeError::InvalidHeader(format!("The request body could not be read: {err}")))
        })
        .await
    }

    fn refuse(&self, refusal: Refusal) -> Reply {
        let request_id = render::request_id();
        let (status, err) = match refusal {
            Refusal::HeadTooLarge { max } => {
                (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, ApiError::head_too_large(max))
            }
            Refusal::TooManyHeaders { max } => {
                (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, ApiError::too_many_headers(max))
            }
            Refusal::Malformed(detail) => (StatusCode::BAD_REQUEST, ApiError::malformed_http(detail)),
            Refusal::BodyTooLarge { max } => (StatusCode::PAYLOAD_TOO_LARGE, ApiError::body_too_large(max)),
            // InvokeEndpoint's own validation error, as for a body found too long while read.
            Refusal::PlainBodyTooLarge { max } => {
                let mut reply = invoke::render_error(&InvokeError::PayloadTooLarge { max });
                if let Ok(value) = HeaderValue::from_str(&request_id) {
                    reply.headers.insert("x-amzn-requestid", value);
                }
                return reply;
            }
        };
        tracing::info!(request_id, status = status.as_u16(), error = %err, "request refused before its body");
        let (status, headers, body) = render::error_parts(Some(status), &err, &request_id);
        Reply { status, headers, body }
    }
}
