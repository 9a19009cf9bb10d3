//! CloudWatch's AWS JSON 1.0 protocol, the one botocore picks first from the model's `protocols`:
//! `POST /` with `X-Amz-Target: GraniteServiceVersion20100801.<Operation>` and
//! `Content-Type: application/x-amz-json-1.0`. The service is `awsQueryCompatible`, so errors
//! carry the query code in `x-amzn-query-error: <Code>;<Sender|Receiver>`, which botocore reads
//! in place of `__type` (botocore `parsers.py`, `_do_query_compatible_error_parse`).

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header::CONTENT_TYPE};
use serde::Serialize;
use serde::de::DeserializeOwned;
use smemu_types::cloudwatch::Operation;

use super::decode::decode;
use super::sigv4::Received;
use super::{compressed, identity};
use crate::error::ErrorCode;
use crate::ops::cloudwatch as ops;
use crate::ops::cloudwatch_alarms as alarms;
use crate::{ApiError, AppState, RequestContext};

/// The `X-Amz-Target` prefix of CloudWatch (the model's `targetPrefix`).
pub(super) const TARGET_PREFIX: &str = "GraniteServiceVersion20100801.";
const AMZ_JSON_1_0: &str = "application/x-amz-json-1.0";

/// One CloudWatch request: `operation` is the target after [`TARGET_PREFIX`].
pub(super) async fn handle(state: &AppState, received: &Received<'_>, operation: &str) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let result = async {
        // CloudWatch's requests are signed for its signing name, `monitoring`.
        let scope = identity::identify_as(&state.config, "monitoring", received).map_err(ApiError::from)?;
        let op = Operation::from_name(operation)
            .ok_or_else(|| ApiError::unknown_operation(&format!("{TARGET_PREFIX}{operation}")))?;
        let ctx = RequestContext { scope, request_id: request_id.clone() };
        // botocore gzips PutMetricData bodies of 10 KiB or more (its `requestCompression` trait).
        let body = compressed::decoded(received.headers, bytes::Bytes::copy_from_slice(received.body))
            .map_err(|(_, err)| err)?;
        let body = &body[..];
        match op {
            Operation::GetMetricStatistics => call(body, |i| ops::get_metric_statistics(state, &ctx, i)).await,
            Operation::GetMetricData => call(body, |i| ops::get_metric_data(state, &ctx, i)).await,
            Operation::ListMetrics => call(body, |i| ops::list_metrics(state, &ctx, i)).await,
            // No output shape: `{}`, as the JSON protocols answer one.
            Operation::PutMetricData => {
                call(body, |i| async { ops::put_metric_data(state, &ctx, i).await.map(|()| crate::ops::Empty {}) })
                    .await
            }
            Operation::PutMetricAlarm => call(body, |i| empty(alarms::put_metric_alarm(state, &ctx, i))).await,
            Operation::DescribeAlarms => call(body, |i| alarms::describe_alarms(state, &ctx, i)).await,
            Operation::DescribeAlarmsForMetric => {
                call(body, |i| alarms::describe_alarms_for_metric(state, &ctx, i)).await
            }
            Operation::DeleteAlarms => call(body, |i| empty(alarms::delete_alarms(state, &ctx, i))).await,
            Operation::SetAlarmState => call(body, |i| empty(alarms::set_alarm_state(state, &ctx, i))).await,
            Operation::DescribeAlarmHistory => call(body, |i| alarms::describe_alarm_history(state, &ctx, i)).await,
            Operation::EnableAlarmActions => call(body, |i| empty(alarms::enable_alarm_actions(state, &ctx, i))).await,
            Operation::DisableAlarmActions => {
                call(body, |i| empty(alarms::disable_alarm_actions(state, &ctx, i))).await
            }
        }
    }
    .await;
    let response = match result {
        Ok(body) => with_headers((StatusCode::OK, body).into_response(), &request_id),
        Err(err) => error(&err, &request_id),
    };
    tracing::info!(
        request_id = %request_id,
        operation = operation,
        status = response.status().as_u16(),
        "request"
    );
    response
}

/// An operation without output shape answers `{}`, as the JSON protocols answer one.
async fn empty(operation: impl Future<Output = Result<(), ApiError>>) -> Result<crate::ops::Empty, ApiError> {
    operation.await.map(|()| crate::ops::Empty {})
}

async fn call<I, O, F, Fut>(body: &[u8], operation: F) -> Result<Vec<u8>, ApiError>
where
    I: DeserializeOwned,
    O: Serialize,
    F: FnOnce(I) -> Fut,
    Fut: Future<Output = Result<O, ApiError>>,
{
    let input: I = decode(body)?;
    let output = operation(input).await?;
    serde_json::to_vec(&output).map_err(ApiError::internal)
}

/// `{"__type": <shape>, "message": <text>}` with the query code and fault in
/// `x-amzn-query-error`: 400 and `Sender` for the caller's errors, 500 and `Receiver` for smemu's.
pub(crate) fn error(err: &ApiError, request_id: &str) -> Response {
    let (status, code, message, fault) = match err {
        // The model's `httpStatusCode`: 404 for ResourceNotFound, 400 for every other client error.
        ApiError::Client { code, message } => {
            let status =
                if *code == ErrorCode::CwResourceNotFound { StatusCode::NOT_FOUND } else { StatusCode::BAD_REQUEST };
            (status, code.as_str(), message.as_str(), "Sender")
        }
        ApiError::Internal(source) => {
            tracing::error!(request_id = %request_id, error = %source, "internal error");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServiceError",
                "An internal error occurred in smemu; see its log.",
                "Receiver",
            )
        }
    };
    let body = serde_json::json!({ "__type": shape_of(code), "message": message });
    let mut response = with_headers((status, body.to_string()).into_response(), request_id);
    if let Ok(value) = HeaderValue::from_str(&format!("{code};{fault}")) {
        response.headers_mut().insert("x-amzn-query-error", value);
    }
    response
}

/// The model's exception shape for a query code (so that clients reading `__type` find the
/// modeled error too); codes without a shape go as they are.
pub(crate) fn shape_of(code: &str) -> &str {
    match code {
        c if c == ErrorCode::CwInvalidParameterValue.as_str() => "InvalidParameterValueException",
        c if c == ErrorCode::CwMissingParameter.as_str() => "MissingRequiredParameterException",
        c if c == ErrorCode::CwInvalidParameterCombination.as_str() => "InvalidParameterCombinationException",
        c if c == ErrorCode::CwLimitExceeded.as_str() => "LimitExceededFault",
        c if c == ErrorCode::CwInvalidFormat.as_str() => "InvalidFormatFault",
        "InternalServiceError" => "InternalServiceFault",
        other => other,
    }
}

fn with_headers(mut response: Response, request_id: &str) -> Response {
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(AMZ_JSON_1_0));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", value);
    }
    response
}

/// `GET /metrics`: the invocation recorders in the Prometheus text format.
pub(super) async fn prometheus(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let text = smemu_telemetry::metrics::prometheus::render(&state.runtime.recorders());
    let mut response = (StatusCode::OK, text).into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(smemu_telemetry::metrics::prometheus::CONTENT_TYPE));
    response
}

/// The CloudWatch operation an `X-Amz-Target` names (after [`TARGET_PREFIX`]), if it names one.
pub(super) fn operation_in(headers: &http::HeaderMap) -> Option<&str> {
    headers.get("x-amz-target")?.to_str().ok()?.strip_prefix(TARGET_PREFIX)
}
