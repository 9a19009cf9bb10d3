//! Why a request's identity was refused (`identity.rs` with `--auth any`, `sigv4.rs` with
//! `--auth strict`), with the real services' codes and texts.

use crate::ApiError;
use crate::error::ErrorCode;

/// Why a request's identity was refused, with the real services' codes and texts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum AuthError {
    /// No `Authorization` header and no presigning parameters (strict mode only).
    #[error("Missing Authentication Token")]
    Missing,
    #[error("{0}")]
    Incomplete(String),
    /// The real text names the region; at most 64 characters of it are echoed.
    #[error("Credential should be scoped to a valid region, not '{0}'. ")]
    InvalidRegion(String),
    #[error("Credential should be scoped to correct service: '{0}'. ")]
    WrongService(String),
    #[error("The security token included in the request is invalid.")]
    UnknownKey,
    #[error(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    )]
    Mismatch,
    #[error("Signature expired: {signed} is now earlier than {earliest} ({now}{window})")]
    Expired { signed: String, earliest: String, now: String, window: String },
    #[error("Signature not yet current: {signed} is still later than {latest} ({now} + 15 min.)")]
    NotYetCurrent { signed: String, latest: String, now: String },
}

impl AuthError {
    /// The error code clients see (`__type` / `X-Amzn-ErrorType`), as JSON-protocol services
    /// name them.
    pub(crate) fn code(&self) -> ErrorCode {
        match self {
            AuthError::Missing => ErrorCode::MissingAuthenticationToken,
            AuthError::Incomplete(_) => ErrorCode::IncompleteSignature,
            AuthError::UnknownKey => ErrorCode::UnrecognizedClient,
            AuthError::InvalidRegion(_)
            | AuthError::WrongService(_)
            | AuthError::Mismatch
            | AuthError::Expired { .. }
            | AuthError::NotYetCurrent { .. } => ErrorCode::InvalidSignature,
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        ApiError::authentication(err.code(), err.to_string())
    }
}
