//! The real S3 messages for the signature errors s3s answers without one.
//!
//! s3s renders `SignatureDoesNotMatch` and `RequestTimeTooSkewed` with no `<Message>` or with
//! its own wording; clients print the message, and scripts match it, so the answer carries
//! the one S3 gives (<https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html>).

use s3s::Body;

/// The message S3 gives with `code`, for the codes whose s3s message differs.
fn real_message(code: &str) -> Option<&'static str> {
    match code {
        "SignatureDoesNotMatch" => Some(
            "The request signature we calculated does not match the signature you provided. \
             Check your key and signing method.",
        ),
        "RequestTimeTooSkewed" => Some("The difference between the request time and the current time is too large."),
        _ => None,
    }
}

/// Text between `<tag>` and `</tag>` in `xml` (s3s escapes none of its codes and writes
/// messages as text).
pub(super) fn element<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(&xml[start..end])
}

/// The error body with `code`'s real message, when `body` is an s3s error whose message differs.
fn rewrite(body: &[u8]) -> Option<String> {
    let xml = std::str::from_utf8(body).ok()?;
    let code = element(xml, "Code")?;
    let message = real_message(code)?;
    let request_id = element(xml, "RequestId").map(|id| format!("<RequestId>{id}</RequestId>")).unwrap_or_default();
    Some(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message>{request_id}</Error>"
    ))
}

/// Gives a 403 signature error its real message; every other answer passes unchanged.
pub(super) fn with_real_message(mut res: http::Response<Body>) -> http::Response<Body> {
    if res.status() != http::StatusCode::FORBIDDEN {
        return res;
    }
    let Some(fixed) = res.body().bytes().and_then(|bytes| rewrite(&bytes)) else { return res };
    res.headers_mut().remove(http::header::CONTENT_LENGTH);
    *res.body_mut() = Body::from(fixed);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_errors_get_the_real_message_and_keep_the_request_id() {
        let body = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SignatureDoesNotMatch</Code><RequestId>r1</RequestId></Error>";
        let fixed = rewrite(body).unwrap_or_default();
        assert!(fixed.contains("<Message>The request signature we calculated does not match"), "{fixed}");
        assert!(fixed.contains("<RequestId>r1</RequestId>"), "{fixed}");
        let skewed = b"<Error><Code>RequestTimeTooSkewed</Code><Message>request time is too far from server time</Message></Error>";
        assert!(rewrite(skewed).unwrap_or_default().contains("is too large."));
        assert_eq!(rewrite(b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"), None);
        assert_eq!(rewrite(b"\xff"), None);
    }
}
