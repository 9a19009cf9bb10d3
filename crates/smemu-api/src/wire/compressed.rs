//! Request bodies sent with `Content-Encoding: gzip`: CloudWatch's PutMetricData has the
//! `requestCompression` trait, and the SDKs compress its bodies past a size (10 KiB by default;
//! https://docs.aws.amazon.com/sdkref/latest/guide/feature-compression.html).

use std::io::Read;

use bytes::Bytes;
use http::header::CONTENT_ENCODING;
use http::{HeaderMap, StatusCode};

use crate::ApiError;

/// The most bytes a body may have once decompressed: the listener's limit on bodies as sent
/// (`json_rpc::MAX_BODY`, which a test holds equal), so that a small body cannot inflate past
/// what an uncompressed one may carry.
pub(super) const MAX_DECOMPRESSED: usize = 2 * 1024 * 1024;

/// The body as the operation reads it: decompressed when the request says gzip, never past
/// [`MAX_DECOMPRESSED`] bytes.
pub(super) fn decoded(headers: &HeaderMap, body: Bytes) -> Result<Bytes, (StatusCode, ApiError)> {
    decoded_within(headers, body, MAX_DECOMPRESSED)
}

fn decoded_within(headers: &HeaderMap, body: Bytes, max: usize) -> Result<Bytes, (StatusCode, ApiError)> {
    let encoding = headers.get(CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("?").trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("" | "identity") => Ok(body),
        Some("gzip") => {
            let mut out = Vec::new();
            let read = flate2::read::GzDecoder::new(&body[..]).take(max as u64 + 1).read_to_end(&mut out);
            match read {
                Ok(n) if n > max => Err((StatusCode::PAYLOAD_TOO_LARGE, ApiError::body_too_large(max))),
                Ok(_) => Ok(Bytes::from(out)),
                Err(err) => Err((
                    StatusCode::BAD_REQUEST,
                    ApiError::serialization(format!("The gzip request body could not be decompressed: {err}")),
                )),
            }
        }
        Some(other) => Err((
            StatusCode::BAD_REQUEST,
            ApiError::serialization(format!(
                "Content-Encoding {} is not supported: send gzip or none.",
                other.chars().take(64).collect::<String>()
            )),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Bytes {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(data).unwrap();
        Bytes::from(enc.finish().unwrap())
    }

    #[test]
    fn gzip_is_inflated_within_the_limit() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_ENCODING, "gzip".parse().unwrap());
        assert_eq!(decoded_within(&headers, gzip(b"Action=ListMetrics"), 100).unwrap(), &b"Action=ListMetrics"[..]);
        // A bomb: 10 MB of zeros in a few KB, refused at the limit.
        let bomb = gzip(&vec![0; 10 << 20]);
        assert!(bomb.len() < 64 << 10);
        assert_eq!(decoded_within(&headers, bomb, 1 << 20).unwrap_err().0, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            decoded_within(&headers, Bytes::from_static(b"not gzip"), 100).unwrap_err().0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(decoded_within(&HeaderMap::new(), Bytes::from_static(b"plain"), 100).unwrap(), &b"plain"[..]);
    }
}
