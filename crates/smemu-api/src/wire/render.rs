//! Renders answers of the control plane in the AWS JSON 1.1 form.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header::CONTENT_TYPE};

use crate::ApiError;

const AMZ_JSON: &str = "application/x-amz-json-1.1";

pub(crate) fn success(body: Vec<u8>, request_id: &str) -> Response {
    with_headers((StatusCode::OK, body).into_response(), request_id)
}

/// `{"__type": code, "message": text}` (plus `Message` for modeled exceptions), status 400 for
/// every client error as SageMaker does, and the code in `X-Amzn-ErrorType` for clients (the
/// Rust SDK) that read it there first.
pub(crate) fn control_plane_error(err: &ApiError, request_id: &str) -> Response {
    let (status, code, message, modeled) = match err {
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
    let mut response = with_headers((status, body.to_string()).into_response(), request_id);
    response.headers_mut().insert("x-amzn-errortype", HeaderValue::from_static(code));
    response
}

fn with_headers(mut response: Response, request_id: &str) -> Response {
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(AMZ_JSON));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", value);
    }
    response
}
