//! smemu's own writes into its embedded S3, called in-process.
//!
//! Capture files and async outputs are written many times a second under load, on the same two
//! cores as the invocations they record. Through the SDK each PutObject cost a signed request,
//! an HTTP round trip over loopback, and one blocking file write per chunk hyper read; here the
//! same s3s service takes the body as one chunk. The request still goes through s3s's parsing
//! and [`Guard`](super::guard::Guard) (bucket ownership, safe keys) as the account it acts as, so
//! what may be written and how it is stored (s3s-fs's ETag and metadata) do not change.

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::BodyExt as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::EmbeddedService;
use super::errors::element;
use super::guard::ClaimedAccount;
use crate::error::ObjectError;

/// What a key's path segment escapes: everything but RFC 3986's unreserved characters and `/`,
/// as the SDKs encode keys (s3s percent-decodes the path before parsing it).
const KEY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b'/');

/// The most of an error answer read (an S3 error document is well under 1 KiB).
const MAX_ERROR_BODY: usize = 16 * 1024;

impl EmbeddedService {
    /// PutObject of `body` at `bucket`/`key` as `account` (`uri` names it in errors).
    pub(crate) async fn put_object(
        &self,
        uri: &str,
        account: &str,
        bucket: &str,
        key: &str,
        body: Bytes,
    ) -> Result<(), ObjectError> {
        let path = format!("/{}/{}", utf8_percent_encode(bucket, KEY), utf8_percent_encode(key, KEY));
        let mut request = http::Request::builder()
            .method(Method::PUT)
            .uri(path)
            .header(http::header::CONTENT_LENGTH, body.len())
            .body(s3s::Body::from(body))
            .map_err(|e| ObjectError::invalid(uri, e.to_string()))?;
        // Read by the guard as the caller's account, as for a request in `--auth any` mode; only
        // this process can set it (a request from the network cannot carry extensions).
        request.extensions_mut().insert(ClaimedAccount(account.to_owned()));
        let answer = self.service.call(request).await.map_err(|e| ObjectError::backend(uri, format!("{e:?}")))?;
        if answer.status().is_success() {
            return Ok(());
        }
        let status = answer.status();
        let body = http_body_util::Limited::new(answer.into_body(), MAX_ERROR_BODY).collect().await;
        let document = body.map(|b| b.to_bytes()).unwrap_or_default();
        Err(error_of(uri, status, &String::from_utf8_lossy(&document)))
    }
}

/// The [`ObjectError`] of an S3 error answer, as `store::sdk_error` maps the SDK's.
fn error_of(uri: &str, status: StatusCode, document: &str) -> ObjectError {
    let code = element(document, "Code");
    match code {
        Some("NoSuchBucket") => ObjectError::NoSuchBucket { uri: uri.to_owned() },
        Some("NoSuchKey") => ObjectError::NoSuchKey { uri: uri.to_owned() },
        Some("AccessDenied") => ObjectError::AccessDenied { uri: uri.to_owned() },
        _ if status == StatusCode::FORBIDDEN => ObjectError::AccessDenied { uri: uri.to_owned() },
        Some(code) => {
            let message = element(document, "Message").map(|m| format!(": {m}")).unwrap_or_default();
            ObjectError::backend(uri, format!("HTTP {}, {code}{message}", status.as_u16()))
        }
        None => ObjectError::backend(uri, format!("HTTP {}", status.as_u16())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_escaped_as_the_sdks_escape_them() {
        let escaped = utf8_percent_encode("a b/c+d%e/ü~x_y.z-", KEY).to_string();
        assert_eq!(escaped, "a%20b/c%2Bd%25e/%C3%BC~x_y.z-");
    }

    #[test]
    fn error_answers_map_to_object_errors() {
        let doc = |code: &str| format!("<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>m</Message></Error>");
        assert!(matches!(error_of("u", StatusCode::NOT_FOUND, &doc("NoSuchBucket")), ObjectError::NoSuchBucket { .. }));
        assert!(matches!(error_of("u", StatusCode::FORBIDDEN, &doc("AccessDenied")), ObjectError::AccessDenied { .. }));
        assert!(matches!(error_of("u", StatusCode::FORBIDDEN, ""), ObjectError::AccessDenied { .. }));
        let other = error_of("u", StatusCode::BAD_REQUEST, &doc("InvalidArgument")).to_string();
        assert_eq!(other, "object storage error on u: HTTP 400, InvalidArgument: m");
        let bare = error_of("u", StatusCode::INTERNAL_SERVER_ERROR, "").to_string();
        assert_eq!(bare, "object storage error on u: HTTP 500");
    }
}
