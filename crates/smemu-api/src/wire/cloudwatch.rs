//! CloudWatch behind the query and RPC v2 CBOR protocols: one arm per operation, generic over the
//! protocol's codec, and what each protocol says of an [`ApiError`] (query code, fault, status,
//! the error shape's absolute id).
//!
//! Which protocol clients send (checked against the clients themselves): botocore picks the first
//! of its `PRIORITY_ORDERED_SUPPORTED_PROTOCOLS` (`json`, `rest-json`, `rest-xml`,
//! `smithy-rpc-v2-cbor`, `query`) that the model lists (`smithy-rpc-v2-cbor`, `json`, `query`),
//! so awscli 1.46.3 (bundled botocore 1.43.62) and boto3 send AWS JSON 1.0; the AWS SDK for Rust
//! (`aws-sdk-cloudwatch` 1.140) sends Smithy RPC v2 CBOR (`POST
//! /service/GraniteServiceVersion20100801/operation/<Op>`, with `x-amzn-query-mode: true`); older
//! clients, whose CloudWatch model has only `"protocol": "query"`, send the query protocol.

use http::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;
use smemu_types::cloudwatch::Operation;

use crate::error::ErrorCode;
use crate::ops;
use crate::{ApiError, AppState, RequestContext};

/// CloudWatch's Smithy namespace: error shape ids are `com.amazonaws.cloudwatch#<Shape>`.
const NAMESPACE: &str = "com.amazonaws.cloudwatch";

/// A protocol's decoding of inputs and encoding of outputs.
pub(super) trait Codec {
    /// What a request carries its input in.
    type Request<'a>: Copy;
    /// An encoded output.
    type Encoded;
    fn decode<I: DeserializeOwned>(request: Self::Request<'_>) -> Result<I, ApiError>;
    fn encode<O: Serialize>(output: &O) -> Result<Self::Encoded, ApiError>;
}

/// Decodes, runs and encodes `op`; `None` for an operation without output (PutMetricData,
/// PutMetricAlarm, DeleteAlarms, SetAlarmState, Enable/DisableAlarmActions), whose
/// answer has no body (RPC v2 CBOR) or no result element (query). Validation is the operation's
/// (`ops::cloudwatch`), so every protocol reports the same violation with the same code.
pub(super) async fn dispatch<C: Codec>(
    state: &AppState,
    ctx: &RequestContext,
    op: Operation,
    request: C::Request<'_>,
) -> Result<Option<C::Encoded>, ApiError> {
    use Operation as Op;
    use ops::cloudwatch as cw;
    use ops::cloudwatch_alarms as alarms;
    match op {
        Op::GetMetricStatistics => {
            C::encode(&cw::get_metric_statistics(state, ctx, C::decode(request)?).await?).map(Some)
        }
        Op::GetMetricData => C::encode(&cw::get_metric_data(state, ctx, C::decode(request)?).await?).map(Some),
        Op::ListMetrics => C::encode(&cw::list_metrics(state, ctx, C::decode(request)?).await?).map(Some),
        Op::PutMetricData => {
            cw::put_metric_data(state, ctx, C::decode(request)?).await?;
            Ok(None)
        }
        Op::PutMetricAlarm => {
            alarms::put_metric_alarm(state, ctx, C::decode(request)?).await?;
            Ok(None)
        }
        Op::DescribeAlarms => C::encode(&alarms::describe_alarms(state, ctx, C::decode(request)?).await?).map(Some),
        Op::DescribeAlarmsForMetric => {
            C::encode(&alarms::describe_alarms_for_metric(state, ctx, C::decode(request)?).await?).map(Some)
        }
        Op::DeleteAlarms => {
            alarms::delete_alarms(state, ctx, C::decode(request)?).await?;
            Ok(None)
        }
        Op::SetAlarmState => {
            alarms::set_alarm_state(state, ctx, C::decode(request)?).await?;
            Ok(None)
        }
        Op::DescribeAlarmHistory => {
            C::encode(&alarms::describe_alarm_history(state, ctx, C::decode(request)?).await?).map(Some)
        }
        Op::EnableAlarmActions => {
            alarms::enable_alarm_actions(state, ctx, C::decode(request)?).await?;
            Ok(None)
        }
        Op::DisableAlarmActions => {
            alarms::disable_alarm_actions(state, ctx, C::decode(request)?).await?;
            Ok(None)
        }
    }
}

/// An error as CloudWatch's protocols state it.
#[derive(Debug, PartialEq)]
pub(super) struct Described<'e> {
    pub status: StatusCode,
    /// The query code (`<Code>`, and the first half of `x-amzn-query-error`).
    pub code: &'e str,
    /// `Sender` or `Receiver` (`<Type>`, the second half of `x-amzn-query-error`).
    pub fault: &'static str,
    /// The error shape's absolute id (`__type` of RPC v2 CBOR).
    pub shape_id: String,
    pub message: &'e str,
}

/// The model's exceptions by query code (botocore's `cloudwatch` model: `error.code` → shape),
/// and the common errors by the code the query protocol gives them (CommonErrors page:
/// https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CommonErrors.html).
pub(super) fn describe(err: &ApiError) -> Described<'_> {
    let (code, message) = match err {
        ApiError::Client { code, message } => (*code, message.as_str()),
        ApiError::Internal(_) => {
            return Described {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                code: "InternalServiceError",
                fault: "Receiver",
                shape_id: format!("{NAMESPACE}#InternalServiceFault"),
                message: "An internal error occurred in smemu; see its log.",
            };
        }
    };
    let sender = |status: StatusCode, query: &'static str, shape_id: String| Described {
        status,
        code: query,
        fault: "Sender",
        shape_id,
        message,
    };
    let modeled = |shape: &str| format!("{NAMESPACE}#{shape}");
    let bad = StatusCode::BAD_REQUEST;
    let forbidden = StatusCode::FORBIDDEN;
    match code {
        ErrorCode::CwInvalidParameterValue => sender(bad, code.as_str(), modeled("InvalidParameterValueException")),
        ErrorCode::CwMissingParameter => sender(bad, code.as_str(), modeled("MissingRequiredParameterException")),
        ErrorCode::CwInvalidParameterCombination => {
            sender(bad, code.as_str(), modeled("InvalidParameterCombinationException"))
        }
        ErrorCode::CwInvalidNextToken => sender(bad, code.as_str(), modeled("InvalidNextToken")),
        ErrorCode::CwLimitExceeded => sender(bad, code.as_str(), modeled("LimitExceededFault")),
        ErrorCode::CwResourceNotFound => sender(StatusCode::NOT_FOUND, code.as_str(), modeled("ResourceNotFound")),
        ErrorCode::CwInvalidFormat => sender(bad, code.as_str(), modeled("InvalidFormatFault")),
        // Constraint violations are Coral's validation error, under the query code `ValidationError`.
        ErrorCode::CwValidation | ErrorCode::Validation => {
            sender(bad, "ValidationError", "com.amazon.coral.validate#ValidationException".into())
        }
        ErrorCode::Serialization => {
            sender(bad, "SerializationException", "com.amazon.coral.service#SerializationException".into())
        }
        ErrorCode::UnknownOperation | ErrorCode::QueryInvalidAction => {
            sender(bad, "InvalidAction", "com.amazon.coral.service#UnknownOperationException".into())
        }
        ErrorCode::QueryMissingAction => sender(bad, code.as_str(), code.as_str().into()),
        ErrorCode::QueryInvalidParameter => sender(bad, code.as_str(), code.as_str().into()),
        ErrorCode::QueryMalformed => sender(StatusCode::NOT_FOUND, code.as_str(), code.as_str().into()),
        // The identity errors under their query names and statuses.
        ErrorCode::InvalidSignature => {
            sender(forbidden, "SignatureDoesNotMatch", "com.amazon.coral.service#InvalidSignatureException".into())
        }
        ErrorCode::UnrecognizedClient => {
            sender(forbidden, "InvalidClientTokenId", "com.amazon.coral.service#UnrecognizedClientException".into())
        }
        ErrorCode::MissingAuthenticationToken => sender(
            forbidden,
            "MissingAuthenticationToken",
            "com.amazon.coral.service#MissingAuthenticationTokenException".into(),
        ),
        ErrorCode::IncompleteSignature => {
            sender(bad, "IncompleteSignature", "com.amazon.coral.service#IncompleteSignatureException".into())
        }
        // SageMaker's codes never come from a CloudWatch operation; named as they are.
        other => sender(bad, other.as_str(), other.as_str().into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modeled_errors_carry_their_query_code_and_shape() {
        let err = ApiError::cw_missing("Namespace");
        let d = describe(&err);
        assert_eq!((d.status, d.code, d.fault), (StatusCode::BAD_REQUEST, "MissingParameter", "Sender"));
        assert_eq!(d.shape_id, "com.amazonaws.cloudwatch#MissingRequiredParameterException");
        assert_eq!(d.message, "The parameter Namespace is required.");
        let err = ApiError::cw_validation("1 validation error detected");
        assert_eq!(describe(&err).code, "ValidationError");
        let err = ApiError::internal(std::io::Error::other("disk"));
        let d = describe(&err);
        assert_eq!(
            (d.status, d.code, d.fault),
            (StatusCode::INTERNAL_SERVER_ERROR, "InternalServiceError", "Receiver")
        );
        let err = ApiError::query_malformed("x");
        assert_eq!(describe(&err).status, StatusCode::NOT_FOUND);
    }
}
