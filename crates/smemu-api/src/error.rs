//! The errors clients see, with the real service's codes and texts, as named constructors.
//!
//! Every text a client may match on lives here, so the contract (`shared/sagemaker-contract.md`)
//! can be checked against one file. Each protocol renders an [`ApiError`] once (`wire`).

use smemu_store::StoreError;
use smemu_types::ValidationErrors;

/// The error codes smemu answers with on the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Bad input and, in SageMaker, also "not found" for most resources.
    Validation,
    ResourceNotFound,
    ResourceInUse,
    ResourceLimitExceeded,
    UnknownOperation,
    Serialization,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Validation => "ValidationException",
            ErrorCode::ResourceNotFound => "ResourceNotFound",
            ErrorCode::ResourceInUse => "ResourceInUse",
            ErrorCode::ResourceLimitExceeded => "ResourceLimitExceeded",
            ErrorCode::UnknownOperation => "UnknownOperationException",
            ErrorCode::Serialization => "SerializationException",
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

    pub fn too_many_tags(max: usize) -> Self {
        Self::client(ErrorCode::ResourceLimitExceeded, format!("A resource can have at most {max} tags."))
    }

    pub fn invalid_next_token() -> Self {
        Self::validation("Invalid pagination token: use the NextToken of an earlier answer to the same call.")
    }

    pub fn unknown_operation(target: &str) -> Self {
        Self::client(ErrorCode::UnknownOperation, format!("Operation {target} is not supported by smemu."))
    }

    pub fn serialization(message: impl Into<String>) -> Self {
        Self::client(ErrorCode::Serialization, message)
    }

    pub fn internal(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(err))
    }

    /// Maps a store error for the resource with this ARN.
    pub fn from_store(err: StoreError, arn: &str) -> Self {
        match err {
            StoreError::NotFound { kind, .. } => Self::not_found(kind, arn),
            StoreError::AlreadyExists { kind, .. } => Self::already_exists(kind, arn),
            StoreError::TooManyTags { max, .. } => Self::too_many_tags(max),
            other => Self::internal(other),
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
        Self::internal(err)
    }
}
