//! The errors clients see, with the real service's codes and texts, as named constructors.
//!
//! Every text a client may match on lives here, so the contract (`shared/sagemaker-contract.md`)
//! can be checked against one file. Each protocol renders an [`ApiError`] once (`wire`).

use smemu_runtime::RuntimeError;
use smemu_runtime::failure::INSTANCE_QUOTA_NAME;
use smemu_store::{ImmutableKind, Scope, StoreError};

use crate::arn::ResourceType;
use smemu_types::ValidationErrors;

/// The error codes smemu answers with on the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Bad input and, in SageMaker, also "not found" for most resources.
    Validation,
    ResourceNotFound,
    ResourceInUse,
    ResourceLimitExceeded,
    /// Too many requests at once (the AWS common error, retried by every AWS SDK).
    Throttling,
    UnknownOperation,
    Serialization,
    /// The identity errors of SigV4 (`wire/auth_error.rs` holds their texts): answered with 400,
    /// as the JSON-protocol services do.
    InvalidSignature,
    UnrecognizedClient,
    MissingAuthenticationToken,
    IncompleteSignature,
    /// CloudWatch Logs: bad input, including the model's constraints.
    InvalidParameter,
    /// CloudWatch Logs: a missing log group or stream.
    LogsResourceNotFound,
    // CloudWatch (awsQueryCompatible): the query-protocol codes botocore's cloudwatch model gives
    // its exceptions (`error.code`), which every protocol renders (JSON 1.0 also in
    // `x-amzn-query-error`). `ValidationError` is the query code of a constraint violation.
    CwInvalidParameterValue,
    CwMissingParameter,
    CwInvalidParameterCombination,
    CwInvalidNextToken,
    CwLimitExceeded,
    CwValidation,
    /// An alarm that does not exist (SetAlarmState, DeleteAlarms): 404 in every protocol.
    CwResourceNotFound,
    /// SetAlarmState's `StateReasonData` that is not JSON.
    CwInvalidFormat,
    // The query protocol's own common errors (CloudWatch's CommonErrors page), for forms that name
    // no operation or cannot be read.
    QueryMissingAction,
    QueryInvalidAction,
    QueryInvalidParameter,
    QueryMalformed,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Validation => "ValidationException",
            ErrorCode::ResourceNotFound => "ResourceNotFound",
            ErrorCode::ResourceInUse => "ResourceInUse",
            ErrorCode::ResourceLimitExceeded => "ResourceLimitExceeded",
            ErrorCode::Throttling => "ThrottlingException",
            ErrorCode::UnknownOperation => "UnknownOperationException",
            ErrorCode::Serialization => "SerializationException",
            ErrorCode::InvalidSignature => "InvalidSignatureException",
            ErrorCode::UnrecognizedClient => "UnrecognizedClientException",
            ErrorCode::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            ErrorCode::IncompleteSignature => "IncompleteSignatureException",
            ErrorCode::InvalidParameter => "InvalidParameterException",
            ErrorCode::LogsResourceNotFound => "ResourceNotFoundException",
            ErrorCode::CwInvalidParameterValue => "InvalidParameterValue",
            ErrorCode::CwMissingParameter => "MissingParameter",
            ErrorCode::CwInvalidParameterCombination => "InvalidParameterCombination",
            ErrorCode::CwInvalidNextToken => "InvalidNextToken",
            ErrorCode::CwLimitExceeded => "LimitExceeded",
            ErrorCode::CwValidation => "ValidationError",
            ErrorCode::CwResourceNotFound => "ResourceNotFound",
            ErrorCode::CwInvalidFormat => "InvalidFormat",
            ErrorCode::QueryMissingAction => "MissingAction",
            ErrorCode::QueryInvalidAction => "InvalidAction",
            ErrorCode::QueryInvalidParameter => "InvalidQueryParameter",
            ErrorCode::QueryMalformed => "MalformedQueryString",
        }
    }

    /// The modeled SageMaker exceptions carry their text in a `Message` member as well.
    pub fn is_modeled(self) -> bool {
        matches!(self, ErrorCode::ResourceNotFound | ErrorCode::ResourceInUse | ErrorCode::ResourceLimitExceeded)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The caller's fault: answered with 400 and the code and message as they are.
    #[error("{code:?}: {message}")]
    Client { code: ErrorCode, message: String },
    /// smemu's fault: logged with its source, answered with 500 and a generic message.
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    fn client(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError::Client { code, message: message.into() }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::client(ErrorCode::Validation, message)
    }

    /// `Could not find model "<arn>".` (real text; the SageMaker Python SDK matches on
    /// `ValidationException` + `Could not find`).
    pub fn not_found(noun: &str, arn: &str) -> Self {
        Self::validation(format!("Could not find {noun} \"{arn}\"."))
    }

    /// `Cannot create already existing model "<arn>".` (real text; the Python SDK recognises a
    /// duplicate model by it).
    pub fn already_exists(noun: &str, arn: &str) -> Self {
        Self::validation(format!("Cannot create already existing {noun} \"{arn}\"."))
    }

    /// An endpoint that is not `InService` (or `Failed`, for DeleteEndpoint) cannot change (real text).
    pub fn endpoint_in_progress(arn: &str) -> Self {
        Self::validation(format!("Cannot update in-progress endpoint \"{arn}\"."))
    }

    /// Tagging calls on an ARN that names no resource (real text).
    pub fn resource_does_not_exist() -> Self {
        Self::validation("Resource does not exist")
    }

    /// A `ResourceArn` that fits the model's pattern but is not an ARN of a resource smemu serves
    /// (text unconfirmed; the pattern's own violation is checked first by `validate`, with the
    /// real text). At most 256 characters of the value are echoed, the model's maximum.
    pub fn invalid_arn(arn: &str, why: &crate::arn::ArnError) -> Self {
        let arn: String = arn.chars().take(256).collect();
        Self::validation(format!("Invalid resource ARN '{arn}': {why}."))
    }

    pub fn too_many_tags(max: usize) -> Self {
        Self::client(ErrorCode::ResourceLimitExceeded, format!("A resource can have at most {max} tags."))
    }

    /// Past `--max-instances`: the real service's account-level quota error. Real text, as SageMaker
    /// answers CreateEndpoint past `'ml.m5.large for endpoint usage'` (e.g.
    /// https://github.com/aws-samples/aws-genai-llm-chatbot/issues/244: "The account-level service limit
    /// 'ml.g5.12xlarge for endpoint usage' is 2 Instances, with current utilization of 2 Instances and a
    /// request delta of 1 Instances. Please use AWS Service Quotas to request an increase for this
    /// quota"); smemu's one quota counts every instance type, endpoints and transform jobs together,
    /// and its name says which flag raises it.
    pub fn instance_quota_exceeded(limit: u64, utilization: u64, delta: u64) -> Self {
        Self::client(
            ErrorCode::ResourceLimitExceeded,
            format!(
                "The account-level service limit '{INSTANCE_QUOTA_NAME}' is {limit} Instances, with current utilization of {utilization} Instances and a request delta of {delta} Instances. Please use AWS Service Quotas to request an increase for this quota."
            ),
        )
    }

    pub fn invalid_next_token() -> Self {
        Self::validation("Invalid pagination token: use the NextToken of an earlier answer to the same call.")
    }

    /// A transform job name already used in this account and region: job names can never be reused
    /// (unconfirmed text, modeled on the real training-job one).
    pub fn transform_job_in_use(arn: &str) -> Self {
        Self::client(
            ErrorCode::ResourceInUse,
            format!(
                "Transform job names must be unique within an AWS account and region, and a transform job with this name already exists ({arn})"
            ),
        )
    }

    /// An input prefix (or manifest) that names no object (real text).
    pub fn no_input_objects(uri: &str) -> Self {
        Self::validation(format!(
            "No S3 objects found under S3 URL \"{uri}\" given in input data source. Please ensure that the bucket exists in the selected region, that objects exist under that S3 prefix, and that the role provided has \"ListBucket\" permissions on the bucket in question."
        ))
    }

    /// Every request in flight may carry `MaxPayloadInMB`, and their total is capped at 100 MB
    /// (documented in API_CreateTransformJob; text unconfirmed).
    pub fn transform_payload_times_concurrency(concurrency: i32, payload_mb: i32) -> Self {
        Self::validation(format!(
            "MaxConcurrentTransforms ({concurrency}) multiplied by MaxPayloadInMB ({payload_mb}) must not exceed 100."
        ))
    }

    /// `MaxConcurrentTransforms` past 100: with any payload of 1 MB or more, past the documented cap
    /// on their product (text unconfirmed).
    pub fn transform_concurrency_too_large(concurrency: i32) -> Self {
        Self::validation(format!(
            "MaxConcurrentTransforms ({concurrency}) multiplied by MaxPayloadInMB must not exceed 100: at most 100 concurrent transforms."
        ))
    }

    /// Only two data types are valid for transform inputs (documented; text unconfirmed).
    pub fn transform_data_type(value: &str) -> Self {
        Self::validation(format!(
            "S3DataType {value} is not supported for transform input: use S3Prefix or ManifestFile."
        ))
    }

    /// Batch transform runs pipelines serially; Direct mode has no single answer per record (text unconfirmed).
    pub fn transform_direct_model(model_arn: &str) -> Self {
        Self::validation(format!(
            "Model \"{model_arn}\" uses InferenceExecutionConfig.Mode Direct, which batch transform does not support."
        ))
    }

    /// StopTransformJob on a job that already ended (the SageMaker Python SDK expects
    /// `ValidationException`; text modeled on the real training-job one, unconfirmed).
    pub fn transform_job_not_stoppable(status: &str) -> Self {
        Self::validation(format!("The request was rejected because the transform job is in status {status}."))
    }

    /// A `file://` URI outside `--file-root`, or one reaching the Docker socket or smemu's data
    /// directory. smemu's own rule (SageMaker reads only S3); `reason` names the flag.
    pub fn file_outside_roots(field: &str, reason: &str) -> Self {
        Self::validation(format!("Invalid {field}: {reason}"))
    }

    pub fn unknown_operation(target: &str) -> Self {
        Self::client(ErrorCode::UnknownOperation, format!("Operation {target} is not supported by smemu."))
    }

    /// A request whose identity was refused (`--auth strict`, or a malformed credential scope).
    pub fn authentication(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::client(code, message)
    }

    pub fn serialization(message: impl Into<String>) -> Self {
        Self::client(ErrorCode::Serialization, message)
    }

    // What the listener answers before any operation (sent with 404, 405, 413 or 431 as fits):
    // AWS documents no texts for these, so smemu's say what was wrong.

    /// A path or method the API does not serve.
    pub fn unknown_path(method: &str, path: &str) -> Self {
        Self::client(
            ErrorCode::UnknownOperation,
            format!(
                "No operation is served at {method} {path}: smemu serves POST / with X-Amz-Target, and POST /endpoints/{{EndpointName}}/invocations."
            ),
        )
    }

    /// A request body longer than the listener reads.
    pub fn body_too_large(max: usize) -> Self {
        Self::validation(format!("The request body is larger than {max} bytes, the most smemu reads for one request."))
    }

    /// A request that is not HTTP/1.1 as RFC 9112 has it.
    pub fn malformed_http(detail: &str) -> Self {
        Self::serialization(format!("The request is not valid HTTP/1.1: {detail}."))
    }

    /// A request head (request line and headers) longer than the listener reads.
    pub fn head_too_large(max: usize) -> Self {
        Self::serialization(format!("The request head is larger than {max} bytes, the most smemu reads."))
    }

    pub fn too_many_headers(max: usize) -> Self {
        Self::serialization(format!("The request has more than {max} headers, the most smemu reads."))
    }

    // CloudWatch Logs (`ops/logs.rs`). Texts from
    // <https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/CommonErrors.html> and the
    // operations' pages; those marked unconfirmed are smemu's words for a documented rule.

    /// A missing log group (real text).
    pub fn log_group_not_found() -> Self {
        Self::client(ErrorCode::LogsResourceNotFound, "The specified log group does not exist.")
    }

    /// A missing log stream (real text).
    pub fn log_stream_not_found() -> Self {
        Self::client(ErrorCode::LogsResourceNotFound, "The specified log stream does not exist.")
    }

    /// CloudWatch Logs reports the model's constraint violations as `InvalidParameterException`
    /// with the usual "1 validation error detected: ..." text.
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::client(ErrorCode::InvalidParameter, message)
    }

    /// Both `logGroupName` and `logGroupIdentifier` (real text).
    pub fn log_group_name_and_arn() -> Self {
        Self::invalid_parameter("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
    }

    /// Neither `logGroupName` nor `logGroupIdentifier` (text unconfirmed).
    pub fn log_group_missing() -> Self {
        Self::invalid_parameter("Either logGroupName or logGroupIdentifier must be specified.")
    }

    /// DescribeLogStreams: "If you order the results by event time, you cannot specify the
    /// logStreamNamePrefix parameter" (API_DescribeLogStreams; real text).
    pub fn order_by_time_with_prefix() -> Self {
        Self::invalid_parameter("Cannot order by LastEventTime with a logStreamNamePrefix.")
    }

    /// FilterLogEvents: "If you specify a value for both logStreamNamePrefix and logStreamNames,
    /// the action returns an InvalidParameterException error" (API_FilterLogEvents; text unconfirmed).
    pub fn stream_names_and_prefix() -> Self {
        Self::invalid_parameter("logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
    }

    /// DescribeLogGroups: a prefix and a pattern together (documented as exclusive; text unconfirmed).
    pub fn group_prefix_and_pattern() -> Self {
        Self::invalid_parameter("logGroupNamePrefix and logGroupNamePattern are mutually exclusive parameters.")
    }

    /// A `nextToken` this service did not give for this call (text unconfirmed).
    pub fn invalid_logs_token() -> Self {
        Self::invalid_parameter("The specified nextToken is invalid.")
    }

    /// A filter pattern smemu cannot read or does not support.
    pub fn invalid_filter_pattern(reason: impl std::fmt::Display) -> Self {
        Self::invalid_parameter(reason.to_string())
    }

    pub fn internal(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(err))
    }

    /// `ThrottlingException: Rate exceeded` (the real text, as SageMaker throttles a control-plane
    /// call; AWS SDKs and the CLI retry it with backoff): past `--max-queued-writes`, or when another
    /// process held the state file's write lock past the writer's lock timeout (nothing changed).
    pub fn throttled() -> Self {
        Self::client(ErrorCode::Throttling, "Rate exceeded")
    }

    /// Maps a store error for the resource with this ARN.
    pub fn from_store(err: StoreError, arn: &str) -> Self {
        match err {
            StoreError::NotFound { kind, .. } => Self::not_found(kind, arn),
            StoreError::AlreadyExists { kind, .. } => Self::already_exists(kind, arn),
            StoreError::TooManyTags { max, .. } => Self::too_many_tags(max),
            StoreError::Overloaded { .. } | StoreError::Locked { .. } => Self::throttled(),
            other => Self::internal(other),
        }
    }

    /// Maps a runtime refusal for the resource with this ARN.
    pub fn from_runtime(err: RuntimeError, scope: &Scope, arn: &str) -> Self {
        match err {
            RuntimeError::InstanceQuota { limit, used, delta } => Self::instance_quota_exceeded(limit, used, delta),
            RuntimeError::EndpointInProgress { arn } => Self::endpoint_in_progress(&arn),
            RuntimeError::InvalidDeploymentConfig(message) => Self::validation(message),
            RuntimeError::VariantNamedTwice { name } => {
                Self::validation(format!("The variant name \"{name}\" was non-unique within the request."))
            }
            RuntimeError::UnknownVariants { names, config } => Self::validation(format!(
                "The variant name(s) \"{}\" is/are not present within endpoint configuration \"{config}\".",
                names.join(", ")
            )),
            RuntimeError::DirectModel => Self::transform_direct_model(arn),
            RuntimeError::FileOutsideRoots { field, reason } => Self::file_outside_roots(field, &reason),
            RuntimeError::NoInputObjects { uri } => Self::no_input_objects(&uri),
            RuntimeError::Inputs(reason) => Self::validation(reason),
            RuntimeError::JobNotStoppable { status } => Self::transform_job_not_stoppable(status.as_str()),
            RuntimeError::Lookup { kind, name, source } => {
                let kind = match kind {
                    ImmutableKind::Model => ResourceType::Model,
                    ImmutableKind::EndpointConfig => ResourceType::EndpointConfig,
                };
                Self::from_store(source, &crate::arn::arn(scope, kind, &name))
            }
            RuntimeError::Store(err) => Self::from_store(err, arn),
        }
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(errors: ValidationErrors) -> Self {
        Self::validation(errors.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Overloaded { .. } | StoreError::Locked { .. } => Self::throttled(),
            other => Self::internal(other),
        }
    }
}

/// CloudWatch's errors (`ops::cloudwatch`). Codes are the query codes of botocore's `cloudwatch`
/// model; texts follow what the service answers where it is known (quoted in clients' issue
/// trackers), and are marked unconfirmed otherwise.
impl ApiError {
    /// `The value <v> for parameter <P> is invalid.` (real text, e.g. a NaN `Value` in PutMetricData).
    pub fn cw_invalid_value(parameter: &str, value: &str) -> Self {
        let value: String = value.chars().take(256).collect();
        Self::client(
            ErrorCode::CwInvalidParameterValue,
            format!("The value {value} for parameter {parameter} is invalid."),
        )
    }

    /// `InvalidParameterValue` with the service's sentence for one parameter.
    pub fn cw_invalid_parameter(message: impl Into<String>) -> Self {
        Self::client(ErrorCode::CwInvalidParameterValue, message)
    }

    /// `The parameter <P> is required.` (`MissingParameter`).
    pub fn cw_missing(parameter: &str) -> Self {
        Self::client(ErrorCode::CwMissingParameter, format!("The parameter {parameter} is required."))
    }

    /// Both of two exclusive parameters (real text, e.g. `Value` and `StatisticValues` of one datum).
    pub fn cw_mutually_exclusive(a: &str, b: &str) -> Self {
        Self::client(
            ErrorCode::CwInvalidParameterCombination,
            format!("The parameters {a} and {b} are mutually exclusive and you have specified both."),
        )
    }

    /// Neither of two parameters of which one is needed (real text for `Value`/`StatisticValues`).
    pub fn cw_at_least_one(a: &str, b: &str) -> Self {
        Self::client(
            ErrorCode::CwInvalidParameterCombination,
            format!("At least one of the parameters {a} and {b} must be specified."),
        )
    }

    /// `InvalidParameterCombination` with the service's sentence.
    pub fn cw_combination(message: impl Into<String>) -> Self {
        Self::client(ErrorCode::CwInvalidParameterCombination, message)
    }

    /// More datapoints than one GetMetricStatistics answer holds (API_GetMetricStatistics: "If you
    /// request more than 1,440 data points, CloudWatch returns an error"; the service's text).
    pub fn cw_too_many_datapoints(requested: u64, limit: u64) -> Self {
        Self::cw_combination(format!(
            "You have requested up to {requested} datapoints, which exceeds the limit of {limit}. You may reduce the datapoints requested by increasing Period, or decreasing the time range."
        ))
    }

    /// A `NextToken` that is not one smemu gave for this call (text unconfirmed).
    pub fn cw_invalid_next_token() -> Self {
        Self::client(
            ErrorCode::CwInvalidNextToken,
            "The service cannot process the NextToken: use the NextToken of an earlier answer to the same call.",
        )
    }

    /// Constraint violations of the model, in Coral's form under the query code `ValidationError`
    /// (the code CloudWatch answers them with, e.g. for a bad `MetricStat.Stat`).
    pub fn cw_validation(message: impl Into<String>) -> Self {
        Self::client(ErrorCode::CwValidation, message)
    }

    /// An alarm that does not exist (SetAlarmState, DeleteAlarms; text unconfirmed).
    pub fn cw_alarm_not_found(name: &str) -> Self {
        let name: String = name.chars().take(255).collect();
        Self::client(ErrorCode::CwResourceNotFound, format!("Alarm {name} not found"))
    }

    /// SetAlarmState's `StateReasonData` that does not parse as JSON (text unconfirmed).
    pub fn cw_invalid_format(message: impl Into<String>) -> Self {
        Self::client(ErrorCode::CwInvalidFormat, message)
    }

    /// One alarm more than `--max-alarms` (LimitExceeded; CloudWatch no longer has a per-account
    /// alarm quota, smemu keeps one so that memory stays bounded; text smemu's).
    pub fn cw_alarm_limit(max: usize) -> Self {
        Self::client(
            ErrorCode::CwLimitExceeded,
            format!("The maximum number of alarms ({max}) for this account and Region has been reached."),
        )
    }

    /// A GetMetricData `Expression`: smemu evaluates no metric math, and says so in the error the
    /// service gives an expression it cannot evaluate (`ValidationError`, `Error in expression
    /// '<id>': ...`; the reason is smemu's).
    pub fn cw_expression_unsupported(id: &str) -> Self {
        let id: String = id.chars().take(255).collect();
        Self::cw_validation(format!(
            "Error in expression '{id}': metric math expressions are not supported by smemu; use MetricStat queries."
        ))
    }
}

/// The query protocol's common errors
/// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CommonErrors.html; the texts
/// are smemu's, saying what was wrong).
impl ApiError {
    /// A form without `Action`.
    pub fn query_missing_action() -> Self {
        Self::client(ErrorCode::QueryMissingAction, "The request must contain the parameter Action.")
    }

    /// An `Action` the service does not have (or smemu does not serve).
    pub fn query_invalid_action(action: &str) -> Self {
        let action: String = action.chars().take(256).collect();
        Self::client(
            ErrorCode::QueryInvalidAction,
            format!("The action {action} is not valid for this web service (or is not served by smemu)."),
        )
    }

    /// A parameter name the protocol cannot mean (an index that is not a positive integer, a name
    /// given twice, too many parameters or segments).
    pub fn query_invalid_parameter(message: impl Into<String>) -> Self {
        Self::client(ErrorCode::QueryInvalidParameter, message)
    }

    /// A body that is not form data.
    pub fn query_malformed(message: impl Into<String>) -> Self {
        Self::client(ErrorCode::QueryMalformed, message)
    }
}
