//! The awsJson1.1 protocol: `POST /` with `X-Amz-Target: SageMaker.<Operation>` (the control plane)
//! or `Logs_20140328.<Operation>` (CloudWatch Logs).

use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use http::header::CONTENT_LENGTH;
use http::{HeaderMap, Method, StatusCode, Uri};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use smemu_types::logs::Operation as LogsOperation;
use smemu_types::sagemaker::Operation;

use super::decode::Rejection;
use super::sigv4::Received;
use super::{cloudwatch_json, dispatch, identity, render};
use crate::{ApiError, AppState, RequestContext};

/// The most bytes a control-plane request body may have (axum's default limit, which smemu
/// applied before it read bodies itself): the largest SageMaker inputs are far smaller.
pub(super) const MAX_BODY: usize = 2 * 1024 * 1024;

pub(crate) async fn handle(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let body = match read_body(&headers, body).await {
        Ok(body) => body,
        Err((status, err)) => return render::wire_error(Some(status), &err, &render::request_id()),
    };
    let target = uri.path_and_query().map_or("/", |target| target.as_str());
    let received = Received { method: method.as_str(), target, headers: &headers, body: &body };
    // CloudWatch (AWS JSON 1.0) answers in its own handler: its errors carry the query code.
    if let Some(operation) = cloudwatch_json::operation_in(&headers) {
        return cloudwatch_json::handle(&state, &received, operation).await;
    }
    let request_id = uuid::Uuid::new_v4().to_string();
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    let operation = route(target);
    let op_name = operation.as_ref().map(Routed::name).unwrap_or("-");
    // Who is asking comes first: a refused identity is answered before the target is looked at.
    let result = match (identity::identify(&state.config, &received), operation) {
        (Err(refused), _) => Err(refused.into()),
        (Ok(scope), Ok(routed)) => {
            let ctx = RequestContext { scope, request_id: request_id.clone() };
            match routed {
                Routed::SageMaker(op) => dispatch::dispatch(&state, &ctx, op, &body).await,
                Routed::Logs(op) => dispatch::dispatch_logs(&state, &ctx, op, &body).await,
            }
        }
        (Ok(_), Err(rejection)) => Err(rejection.into()),
    };
    let response = match result {
        Ok(body) => render::success(body, &request_id),
        Err(err) => {
            if let ApiError::Internal(source) = &err {
                tracing::error!(request_id = %request_id, operation = op_name, error = %source, "internal error");
            }
            render::control_plane_error(&err, &request_id)
        }
    };
    tracing::info!(
        request_id = %request_id,
        operation = op_name,
        status = response.status().as_u16(),
        latency_us = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

/// The body, at most [`MAX_BODY`] bytes: a longer declared length is refused before any of it is
/// read, a longer chunked body as soon as it passes the limit.
pub(super) async fn read_body(headers: &HeaderMap, body: Body) -> Result<bytes::Bytes, (StatusCode, ApiError)> {
    let too_large = || (StatusCode::PAYLOAD_TOO_LARGE, ApiError::body_too_large(MAX_BODY));
    let declared = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        // Too slow or cut off: the connection is closing, but the answer is still AWS-shaped.
        Err(err) => Err((
            StatusCode::BAD_REQUEST,
            ApiError::serialization(format!("The request body could not be read: {err}")),
        )),
    }
}

/// Any path but `/` and the invocations path.
pub(super) async fn unknown_path(method: Method, uri: Uri) -> Response {
    render::wire_error(
        Some(StatusCode::NOT_FOUND),
        &ApiError::unknown_path(method.as_str(), uri.path()),
        &render::request_id(),
    )
}

/// `/` with a method other than `POST`.
pub(super) async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    render::wire_error(
        Some(StatusCode::METHOD_NOT_ALLOWED),
        &ApiError::unknown_path(method.as_str(), uri.path()),
        &render::request_id(),
    )
}

/// The services answered on this listener, by their `X-Amz-Target` prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Routed {
    SageMaker(Operation),
    /// CloudWatch Logs (AWS JSON 1.1, `Logs_20140328.<Operation>`).
    Logs(LogsOperation),
}

impl Routed {
    fn name(&self) -> &'static str {
        match self {
            Routed::SageMaker(op) => op.name(),
            Routed::Logs(op) => op.name(),
        }
    }
}

fn route(target: Option<&str>) -> Result<Routed, Rejection> {
    if let Some(name) = target.and_then(|t| t.strip_prefix("Logs_20140328.")) {
        return LogsOperation::from_name(name)
            .map(Routed::Logs)
            .ok_or_else(|| Rejection::UnknownTarget(target.unwrap_or_default().to_owned()));
    }
    operation_of(target).map(Routed::SageMaker)
}

fn operation_of(target: Option<&str>) -> Result<Operation, Rejection> {
    let target = target.ok_or(Rejection::MissingTarget)?;
    target
        .strip_prefix("SageMaker.")
        .and_then(Operation::from_name)
        .ok_or_else(|| Rejection::UnknownTarget(target.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_bodies_are_held_to_the_same_limit() {
        assert_eq!(super::super::compressed::MAX_DECOMPRESSED, MAX_BODY);
    }

    #[test]
    fn targets_map_to_operations_or_rejections() {
        assert_eq!(operation_of(Some("SageMaker.CreateModel")).ok(), Some(Operation::CreateModel));
        assert!(matches!(operation_of(Some("SageMaker.CreateTrainingJob")), Err(Rejection::UnknownTarget(_))));
        assert!(matches!(operation_of(Some("CreateModel")), Err(Rejection::UnknownTarget(_))));
        assert!(matches!(operation_of(None), Err(Rejection::MissingTarget)));
        assert_eq!(route(Some("Logs_20140328.GetLogEvents")).ok(), Some(Routed::Logs(LogsOperation::GetLogEvents)));
        assert!(matches!(route(Some("Logs_20140328.PutLogEvents")), Err(Rejection::UnknownTarget(_))));
        assert_eq!(route(Some("SageMaker.ListModels")).ok(), Some(Routed::SageMaker(Operation::ListModels)));
    }
}
