//! CloudWatch's Smithy RPC v2 CBOR protocol: `POST /service/GraniteServiceVersion20100801/operation/<Op>`
//! with `Smithy-Protocol: rpc-v2-cbor` and a CBOR body, answered in CBOR
//! (https://smithy.io/2.0/additional-specs/protocols/smithy-rpc-v2.html). What the AWS SDK for
//! Rust sends for CloudWatch (`wire/cloudwatch.rs` says which client sends which protocol).

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use smemu_types::cloudwatch::Operation;

use super::cloudwatch::{self, Codec};
use super::json_rpc::read_body;
use super::sigv4::Received;
use super::{cbor, compressed, identity, render};
use crate::{ApiError, AppState, RequestContext};

/// The service's shape name, the path's `{serviceName}`.
const SERVICE_NAME: &str = "GraniteServiceVersion20100801";
/// The spec: a service SHOULD also accept its absolute shape id, `#` written as `.`.
const SERVICE_ID: &str = "com.amazonaws.cloudwatch.GraniteServiceVersion20100801";
/// CloudWatch's SigV4 signing name.
const SIGNING_NAME: &str = "monitoring";
const PROTOCOL: &str = "rpc-v2-cbor";
const CBOR: &str = "application/cbor";

pub(super) async fn handle(
    State(state): State<AppState>,
    Path((service, operation)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let request_id = render::request_id();
    let op = Operation::from_name(&operation);
    let result: Result<_, (Option<StatusCode>, ApiError)> = async {
        let raw = read_body(&headers, body).await.map_err(|(status, err)| (Some(status), err))?;
        let target = uri.path_and_query().map_or("/", |target| target.as_str());
        let received = Received { method: method.as_str(), target, headers: &headers, body: &raw };
        let scope = identity::identify_as(&state.config, SIGNING_NAME, &received).map_err(|err| (None, err.into()))?;
        claim(&service, &headers).map_err(|err| (None, err))?;
        let op = op.ok_or_else(|| (Some(StatusCode::NOT_FOUND), ApiError::unknown_operation(&operation)))?;
        let body = compressed::decoded(&headers, raw).map_err(|(status, err)| (Some(status), err))?;
        let ctx = RequestContext { scope, request_id: request_id.clone() };
        cloudwatch::dispatch::<Cbor>(&state, &ctx, op, &body).await.map_err(|err| (None, err))
    }
    .await;
    let response = match result {
        Ok(body) => success(body, &request_id),
        Err((status, err)) => {
            if let ApiError::Internal(source) = &err {
                tracing::error!(request_id = %request_id, operation = %operation, error = %source, "internal error");
            }
            error(status, &err, &request_id)
        }
    };
    tracing::info!(
        request_id = %request_id,
        operation = op.map_or("-", |op| op.name()),
        protocol = PROTOCOL,
        status = response.status().as_u16(),
        latency_us = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

/// What the spec requires of a request before it is routed: the protocol header, CloudWatch's
/// service name, and no `X-Amz-Target` (which it says servers MUST reject).
fn claim(service: &str, headers: &HeaderMap) -> Result<(), ApiError> {
    let protocol = headers.get("smithy-protocol").and_then(|v| v.to_str().ok());
    if protocol != Some(PROTOCOL) {
        return Err(ApiError::serialization("The request must carry the header Smithy-Protocol: rpc-v2-cbor."));
    }
    if headers.contains_key("x-amz-target") || headers.contains_key("x-amzn-target") {
        return Err(ApiError::serialization("An rpc-v2-cbor request must not carry X-Amz-Target."));
    }
    if service != SERVICE_NAME && service != SERVICE_ID {
        return Err(ApiError::unknown_operation(&format!("{service} (smemu serves {SERVICE_NAME} in rpc-v2-cbor)")));
    }
    Ok(())
}

struct Cbor;

impl Codec for Cbor {
    type Request<'a> = &'a [u8];
    type Encoded = Vec<u8>;

    fn decode<I: serde::de::DeserializeOwned>(body: &[u8]) -> Result<I, ApiError> {
        cbor::from_slice(body).map_err(|err| ApiError::serialization(err.to_string()))
    }

    fn encode<O: serde::Serialize>(output: &O) -> Result<Vec<u8>, ApiError> {
        cbor::to_vec(output).map_err(ApiError::internal)
    }
}

fn headers_of(response: &mut Response, request_id: &str) {
    let headers = response.headers_mut();
    headers.insert("smithy-protocol", HeaderValue::from_static(PROTOCOL));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", value);
    }
}

/// 200 with the output, or with no body and no content type for an operation without output.
fn success(body: Option<Vec<u8>>, request_id: &str) -> Response {
    let mut response = match body {
        Some(body) => ([(CONTENT_TYPE, CBOR)], body).into_response(),
        None => StatusCode::OK.into_response(),
    };
    headers_of(&mut response, request_id);
    response
}

/// `{"__type": <absolute shape id>, "message": <text>}` with the error's status, and its query
/// code in `x-amzn-query-error` (`<Code>;<Sender|Receiver>`), which the SDKs of this
/// awsQueryCompatible service read for the code.
fn error(status: Option<StatusCode>, err: &ApiError, request_id: &str) -> Response {
    let described = cloudwatch::describe(err);
    let body = cbor::to_vec(&ErrorBody { kind: &described.shape_id, message: described.message }).unwrap_or_default();
    let mut response = (status.unwrap_or(described.status), [(CONTENT_TYPE, CBOR)], body).into_response();
    headers_of(&mut response, request_id);
    if let Ok(value) = HeaderValue::from_str(&format!("{};{}", described.code, described.fault)) {
        response.headers_mut().insert("x-amzn-query-error", value);
    }
    response
}

#[derive(serde::Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "__type")]
    kind: &'a str,
    message: &'a str,
}
