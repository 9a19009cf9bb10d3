//! compression: `CompressionType: Gzip` input objects, gunzipped before they are split.
//!
//! SageMaker "automatically decompresses the data for the transform job"
//! (<https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformInput.html>).
//! Multi-member gzip files (several gzip streams back to back, as `cat a.gz b.gz`
//! makes) are valid gzip and decompress to the concatenation, like `gunzip` does.

use std::io::Read;

use bytes::Bytes;
use flate2::read::MultiGzDecoder;

use crate::error::BatchError;

/// Gunzips a whole object held in memory.
pub fn gunzip(data: &[u8]) -> Result<Bytes, BatchError> {
    if data.is_empty() {
        // flate2 reads an empty stream as empty output; an empty object is not a gzip file.
        return Err(BatchError::Gzip { reason: "the object is empty, not a gzip stream".into() });
    }
    let mut out = Vec::with_capacity(data.len().saturating_mul(3).min(64 << 20));
    gunzip_reader(data).read_to_end(&mut out).map_err(|e| BatchError::Gzip { reason: e.to_string() })?;
    Ok(Bytes::from(out))
}

/// Wraps a reader of gzip bytes so it yields the decompressed bytes, for callers that
/// stream an object instead of buffering it.
pub fn gunzip_reader<R: Read>(reader: R) -> MultiGzDecoder<R> {
    MultiGzDecoder::new(reader)
}

#[cfg(test)]
pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_concatenates_members() {
        assert_eq!(gunzip(&gzip(b"a,b\nc,d\n")).unwrap(), Bytes::from_static(b"a,b\nc,d\n"));
        let mut two = gzip(b"first\n");
        two.extend(gzip(b"second\n"));
        assert_eq!(gunzip(&two).unwrap(), Bytes::from_static(b"first\nsecond\n"));
    }

    #[test]
    fn streaming_reader_matches_whole_buffer() {
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let gz = gzip(&data);
        let mut out = Vec::new();
        gunzip_reader(&gz[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn rejects_non_gzip_truncated_and_empty() {
        assert!(matches!(gunzip(b"plain text, not gzip"), Err(BatchError::Gzip { .. })));
        let gz = gzip(b"some longer text that compresses into a few bytes");
        assert!(matches!(gunzip(&gz[..gz.len() - 6]), Err(BatchError::Gzip { .. })));
        assert!(matches!(gunzip(b""), Err(BatchError::Gzip { .. })));
    }
}
