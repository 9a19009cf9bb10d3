//! A `CompressionType: Gzip` input object decompressed while it is read, in bounded blocks, so
//! that what the object expands to is never held whole (a 3 MB gzip of zeros expands to 3 GB).
//!
//! flate2 decompresses from a blocking reader, so the decoder runs on tokio's blocking pool and
//! talks to the async side through two small channels: compressed chunks in, decompressed blocks
//! out. Whoever stops reading the output (a job that failed or was stopped) ends the decoder at its
//! next block, and with it the reading of the object.

use std::io::Read;

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use smemu_objects::ObjectError;
use tokio::sync::mpsc;

/// The most one decompressed block holds: the memory a decompressing object adds, per channel slot.
const BLOCK: usize = 64 * 1024;
/// Blocks (and compressed chunks) waiting in each channel.
const QUEUE: usize = 2;

/// Why an object could not be read or decompressed, worded for a `FailureReason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GunzipError {
    /// Reading the compressed object failed.
    #[error("{0}")]
    Read(String),
    /// The object is not (valid) gzip.
    #[error("gzip: {0}")]
    Gzip(String),
}

/// The decompressed bytes of a stream of gzip bytes (multi-member gzip decompresses to the
/// concatenation, like `gunzip`), in blocks of at most [`BLOCK`] bytes.
pub fn gunzip_stream(
    mut chunks: BoxStream<'static, Result<Bytes, ObjectError>>,
) -> BoxStream<'static, Result<Bytes, GunzipError>> {
    let (compressed_tx, compressed_rx) = mpsc::channel::<Result<Bytes, GunzipError>>(QUEUE);
    let (plain_tx, plain_rx) = mpsc::channel::<Result<Bytes, GunzipError>>(QUEUE);
    tokio::spawn(async move {
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.map_err(|err| GunzipError::Read(err.to_string()));
            // The decoder is gone (it failed, or nobody reads its output): stop reading the object.
            if compressed_tx.send(chunk).await.is_err() {
                return;
            }
        }
    });
    tokio::task::spawn_blocking(move || decode(ChannelReader::new(compressed_rx), &plain_tx));
    futures::stream::unfold(plain_rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }).boxed()
}

/// Runs on the blocking pool: reads and decompresses until the end, an error, or nobody listens.
fn decode(reader: ChannelReader, out: &mpsc::Sender<Result<Bytes, GunzipError>>) {
    let mut decoder = smemu_batch::gunzip_reader(reader);
    loop {
        let mut block = vec![0u8; BLOCK];
        let item = match decoder.read(&mut block) {
            Ok(0) if decoder.get_ref().seen > 0 => return,
            Ok(n) if n > 0 => {
                block.truncate(n);
                Ok(Bytes::from(block))
            }
            Ok(_) | Err(_) if decoder.get_ref().seen == 0 && decoder.get_ref().failure.is_none() => {
                // An empty object is not a gzip file (flate2 reads it as empty output or as an
                // unexpected end, depending on the version).
                Err(GunzipError::Gzip("the object is empty, not a gzip stream".into()))
            }
            Ok(_) => return,
            Err(err) => Err(decoder.get_mut().failure.take().unwrap_or_else(|| GunzipError::Gzip(err.to_string()))),
        };
        let failed = item.is_err();
        if out.blocking_send(item).is_err() || failed {
            return;
        }
    }
}

/// A blocking [`Read`] over the compressed chunks, which keeps why reading failed (the decoder
/// only passes an `io::Error` on).
struct ChannelReader {
    rx: mpsc::Receiver<Result<Bytes, GunzipError>>,
    current: Bytes,
    /// Compressed bytes read so far.
    seen: u64,
    failure: Option<GunzipError>,
}

impl ChannelReader {
    fn new(rx: mpsc::Receiver<Result<Bytes, GunzipError>>) -> Self {
        ChannelReader { rx, current: Bytes::new(), seen: 0, failure: None }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(err)) => {
                    let text = err.to_string();
                    self.failure = Some(err);
                    return Err(std::io::Error::other(text));
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        self.seen += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn chunked(data: Vec<u8>, size: usize) -> BoxStream<'static, Result<Bytes, ObjectError>> {
        let chunks: Vec<Result<Bytes, ObjectError>> =
            data.chunks(size).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        futures::stream::iter(chunks).boxed()
    }

    async fn collect(stream: BoxStream<'static, Result<Bytes, GunzipError>>) -> (Vec<u8>, Option<GunzipError>) {
        let mut out = Vec::new();
        let mut stream = stream;
        while let Some(item) = stream.next().await {
            match item {
                Ok(block) => {
                    assert!(block.len() <= BLOCK);
                    out.extend_from_slice(&block);
                }
                Err(err) => return (out, Some(err)),
            }
        }
        (out, None)
    }

    #[tokio::test]
    async fn decompresses_members_in_bounded_blocks() {
        let data: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut gz = gzip(&data[..500_000]);
        gz.extend(gzip(&data[500_000..]));
        let (out, err) = collect(gunzip_stream(chunked(gz, 7_000))).await;
        assert_eq!(err, None);
        assert_eq!(out, data);
    }

    #[tokio::test]
    async fn bad_truncated_and_empty_objects_are_gzip_errors() {
        let (_, err) = collect(gunzip_stream(chunked(b"plain text, not gzip".to_vec(), 4))).await;
        assert!(matches!(err, Some(GunzipError::Gzip(_))), "{err:?}");
        let gz = gzip(&[1u8; 10_000]);
        let (_, err) = collect(gunzip_stream(chunked(gz[..gz.len() - 6].to_vec(), 100))).await;
        assert!(matches!(err, Some(GunzipError::Gzip(_))), "{err:?}");
        let (_, err) = collect(gunzip_stream(chunked(Vec::new(), 1))).await;
        assert_eq!(err, Some(GunzipError::Gzip("the object is empty, not a gzip stream".into())));
    }

    #[tokio::test]
    async fn a_read_error_is_reported_as_such() {
        let gz = gzip(&[1u8; 100_000]);
        let chunks: Vec<Result<Bytes, ObjectError>> = vec![
            Ok(Bytes::copy_from_slice(&gz[..20])),
            Err(ObjectError::Io { uri: "s3://b/k.gz".into(), source: std::io::Error::other("connection reset") }),
        ];
        let (_, err) = collect(gunzip_stream(futures::stream::iter(chunks).boxed())).await;
        assert!(matches!(&err, Some(GunzipError::Read(m)) if m.contains("connection reset")), "{err:?}");
    }
}
