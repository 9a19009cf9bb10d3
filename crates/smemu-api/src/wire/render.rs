//! Renders answers of the control plane in the AWS JSON 1.1 form, and the errors the listener
//! gives before any operation (unknown paths, bodies or heads too large, malformed requests) in
//! the same form, so that every answer carries a request id and an AWS error body.

use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header::CONTENT_TYPE};

use crate::ApiError;

const AMZ_JSON: &str = "application/x-amz-json-1.1";

pub(crate) fn success(body: Vec<u8>, request_id: &str) -> Response {
    with_headers((StatusCode::OK, body).into_response(), request_id)
}

/// `{"__type": code, "message": text}` (plus `Message` for modeled exceptions), status 400 for
/// every client error as SageMaker does, and the code in `X-Amzn-ErrorType` for clients (the
/// Rust SDK) that read it there first.
pub(crate) fn control_plane_error(err: &ApiError, request_id: &str) -> Response {
    wire_error(None, err, request_id)
}

/// [`control_plane_error`] with `status` in place of the usual one (404, 405, 413...).
pub(crate) fn wire_error(status: Option<StatusCode>, err: &ApiError, request_id: &str) -> Response {
    let (status, headers, body) = error_parts(status, err, request_id);
    let mut response = (status, body).into_response();
    response.headers_mut().extend(headers);
    response
}

/// The status, headers (type, error type, request id) and body of [`wire_error`], for framing
/// without hyper.
pub(crate) fn error_parts(
    status: Option<StatusCode>,
    err: &ApiError,
    request_id: &str,
) -> (StatusCode, HeaderMap, Bytes) {
    let (default, code, message, modeled) = match err {
        ApiError::Client { code, message } => {
            (StatusCode::BAD_REQUEST, code.as_str(), message.as_str(), code.is_modeled())
        }
        ApiError::Internal(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "An internal error occurred in smemu; see its log.",
            false,
        ),
    };
    let mut body = serde_json::json!({ "__type": code, "message": message });
    if modeled {
        body["Message"] = serde_json::Value::from(message);
    }
    let mut headers = HeaderMap::with_capacity(3);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(AMZ_JSON));
    headers.insert("x-amzn-errortype", HeaderValue::from_static(code));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", value);
    }
    (status.unwrap_or(default), headers, Bytes::from(body.to_string()))
}

/// A new request id, for answers given before any operation.
pub(crate) fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn with_headers(mut response: Response, request_id: &str) -> Response {
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(AMZ_JSON));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", value);
    }
    response
}
