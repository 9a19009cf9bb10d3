//! Decoding an awsJson1.1 input shape, and why a request never reached an operation
//! ([`Rejection`]), grouped into the few client codes AWS uses.

use crate::ApiError;

/// Why a request never reached an operation; grouped into the few client codes AWS uses.
#[derive(Debug)]
pub(crate) enum Rejection {
    MissingTarget,
    UnknownTarget(String),
    NotAnObject,
    MalformedJson(serde_json::Error),
    WrongMemberType(serde_json::Error),
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::MissingTarget => ApiError::unknown_operation("(no X-Amz-Target header)"),
            Rejection::UnknownTarget(target) => ApiError::unknown_operation(&target),
            Rejection::NotAnObject => ApiError::serialization("The request body must be a JSON object."),
            Rejection::MalformedJson(err) => {
                ApiError::serialization(format!("The request body is not valid JSON: {err}"))
            }
            Rejection::WrongMemberType(err) => {
                ApiError::serialization(format!("The request body does not match the operation's input shape: {err}"))
            }
        }
    }
}

/// Decodes an input shape. An empty body is `{}`; syntax errors and type errors are told apart
/// because AWS answers both with `SerializationException` but clients log the message.
pub(crate) fn decode<I: serde::de::DeserializeOwned>(body: &[u8]) -> Result<I, Rejection> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { body };
    // serde would also read a struct from a JSON array; the protocol wants an object.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Rejection::NotAnObject);
    }
    serde_json::from_slice(body).map_err(|err| match err.classify() {
        serde_json::error::Category::Data => Rejection::WrongMemberType(err),
        _ => Rejection::MalformedJson(err),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_and_type_errors_are_told_apart() {
        #[derive(Debug, serde::Deserialize)]
        struct Shape {
            #[serde(rename = "MaxResults")]
            _max: Option<i32>,
        }
        assert!(matches!(decode::<Shape>(b"{\"MaxResults\": "), Err(Rejection::MalformedJson(_))));
        assert!(matches!(decode::<Shape>(b"{\"MaxResults\": \"ten\"}"), Err(Rejection::WrongMemberType(_))));
        assert!(decode::<Shape>(b"").is_ok());
        assert!(matches!(decode::<Shape>(b" [1]"), Err(Rejection::NotAnObject)));
    }
}
