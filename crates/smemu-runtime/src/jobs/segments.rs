//! An input object cut into prepared pieces while it is still being read (and decompressed), so
//! that its first requests go out before its last bytes arrive and memory stays bounded whatever
//! the object's size.
//!
//! Pieces end at record boundaries, found from the bytes read so far
//! ([`smemu_batch::probe_record`]): a line end, or the end a RecordIO/TFRecord header announces.
//! A piece's last batch is held back and prepared again with the bytes that follow
//! ([`smemu_batch::PreparedObject::hold_back_last`]), so the batches are those of the whole object.
//!
//! `MaxPayloadInMB` is enforced while reading: "The value in MaxPayloadInMB must be greater than,
//! or equal to, the size of a single record"
//! (<https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTransformJob.html>), so a
//! record (with `SplitType=None`, the whole object) known to be larger than that fails the object
//! as soon as it is known, not after it was read whole. `MaxPayloadInMB=0` (no limit) makes a
//! `SplitType=None` object, or a `MultiRecord` object, one request: SageMaker then streams it to
//! the model in chunks, smemu sends one body, so it holds at most [`UNLIMITED_PAYLOAD_CAP`] of it.

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::stream::BoxStream;
use smemu_batch::{BatchError, BatchStrategy, CompressionType, PreparedObject, Probe, SplitType, TransformPlan};
use smemu_objects::ObjectError;

use super::gunzip::{GunzipError, gunzip_stream};

/// The most smemu holds for one request when `MaxPayloadInMB` is 0 (no limit): what a model takes in
/// one body in practice is far less, and without a cap a gzip bomb would fill the machine.
pub const UNLIMITED_PAYLOAD_CAP: usize = 1024 * 1024 * 1024;

/// How much more than one payload a piece holds before it is cut.
const PIECE_SLACK: usize = 2 * 1024 * 1024;

/// Owns what it reads (a copy of the plan, the object's byte stream), so that it can drive a
/// stream of its own.
pub struct Segments {
    plan: TransformPlan,
    /// The object's bytes, decompressed.
    chunks: BoxStream<'static, Result<Bytes, GunzipError>>,
    buf: BytesMut,
    /// Where in `buf` the records known to be complete end (a record boundary).
    scanned: usize,
    /// How many complete records `buf[..scanned]` holds.
    scanned_records: usize,
    /// The object's index of the first record in `buf`.
    first_record: usize,
    /// The object's (decompressed) bytes before `buf`.
    first_byte: usize,
    /// Cut a piece once `buf` holds this much; `None` reads the whole object first.
    target: Option<usize>,
    /// [`UNLIMITED_PAYLOAD_CAP`] (smaller in tests).
    cap: usize,
    done: bool,
}

impl Segments {
    pub fn new(plan: TransformPlan, chunks: BoxStream<'static, Result<Bytes, ObjectError>>) -> Self {
        let chunks = match plan.settings().compression {
            CompressionType::Gzip => gunzip_stream(chunks),
            CompressionType::None => chunks.map(|c| c.map_err(|err| GunzipError::Read(err.to_string()))).boxed(),
        };
        let target = piece_target(&plan);
        Segments {
            plan,
            chunks,
            buf: BytesMut::new(),
            scanned: 0,
            scanned_records: 0,
            first_record: 0,
            first_byte: 0,
            target,
            cap: UNLIMITED_PAYLOAD_CAP,
            done: false,
        }
    }

    /// The next piece, in object order; `None` after the last one (an empty object is one empty
    /// piece, so that it still gets its empty output). An error ends the pieces.
    pub async fn next(&mut self) -> Option<Result<PreparedObject, String>> {
        if self.done {
            return None;
        }
        let result = self.next_piece().await;
        self.done |= !matches!(result, Ok(Some(_)));
        match result {
            Ok(Some(prepared)) => Some(Ok(prepared)),
            Ok(None) => None,
            Err(PieceError::Batch(err)) => Some(Err(describe(self.plan.settings().split, self.first_byte, err))),
            Err(PieceError::Input(err)) => Some(Err(err.to_string())),
            Err(PieceError::OverCap) => Some(Err(format!(
                "the object is larger than {} bytes, the most smemu sends in one request when \
                 MaxPayloadInMB is 0 (no limit); set MaxPayloadInMB or split the input into smaller objects",
                self.cap
            ))),
        }
    }

    async fn next_piece(&mut self) -> Result<Option<PreparedObject>, PieceError> {
        loop {
            if !self.scan()? {
                // Not framing: preparing what there is says why (and where).
                let data = self.buf.split().freeze();
                return Ok(Some(self.plan.prepare_from(data, self.first_record)?));
            }
            if self.target.is_some_and(|target| self.buf.len() >= target) && self.scanned > 0 {
                return Ok(Some(self.cut()?));
            }
            match self.chunks.next().await {
                Some(Ok(chunk)) => {
                    if self.plan.max_payload_bytes().is_none() && self.buf.len() + chunk.len() > self.cap {
                        return Err(PieceError::OverCap);
                    }
                    self.buf.extend_from_slice(&chunk);
                }
                Some(Err(err)) => return Err(PieceError::Input(err)),
                None => {
                    self.done = true;
                    let data = self.buf.split().freeze();
                    return Ok(Some(self.plan.prepare_from(data, self.first_record)?));
                }
            }
        }
    }

    /// Finds the record boundaries in the bytes not scanned yet; refuses a record as soon as it is
    /// known to be over the payload limit. `false` when the bytes are not valid framing.
    fn scan(&mut self) -> Result<bool, BatchError> {
        let split = self.plan.settings().split;
        loop {
            match smemu_batch::probe_record(&self.buf[self.scanned..], split) {
                Probe::Complete { len } => {
                    self.scanned += len;
                    self.scanned_records += 1;
                }
                Probe::Partial { size } => {
                    if let Some(max) = self.plan.max_payload_bytes()
                        && size > max
                    {
                        return Err(BatchError::PayloadExceeded {
                            index: self.first_record + self.scanned_records,
                            max,
                        });
                    }
                    return Ok(true);
                }
                Probe::Invalid => return Ok(false),
            }
        }
    }

    /// Prepares the complete records and keeps the held-back batch's records.
    fn cut(&mut self) -> Result<PreparedObject, BatchError> {
        let complete = self.buf.split_to(self.scanned).freeze();
        let mut prepared = self.plan.prepare_from(complete.clone(), self.first_record)?;
        let consumed = match prepared.hold_back_last() {
            Some(held) => {
                let mut rest = BytesMut::with_capacity(complete.len() - held + self.buf.len());
                rest.extend_from_slice(&complete[held..]);
                rest.extend_from_slice(&self.buf);
                self.buf = rest;
                held
            }
            None => complete.len(),
        };
        self.first_record += prepared.records().len();
        self.first_byte += consumed;
        self.scanned = 0;
        self.scanned_records = 0;
        Ok(prepared)
    }
}

/// Why a piece could not be made.
enum PieceError {
    Batch(BatchError),
    Input(GunzipError),
    /// `MaxPayloadInMB` is 0 and the object passed [`UNLIMITED_PAYLOAD_CAP`].
    OverCap,
}

impl From<BatchError> for PieceError {
    fn from(err: BatchError) -> Self {
        PieceError::Batch(err)
    }
}

/// A batch error as the detail of a `FailureReason`: records of `SplitType=Line` objects are named
/// by their line (counted from 1) too, and framing offsets count from the object's start.
pub fn describe(split: SplitType, first_byte: usize, err: BatchError) -> String {
    match err {
        BatchError::BadFraming { format, offset, reason } => {
            BatchError::BadFraming { format, offset: offset + first_byte, reason }.to_string()
        }
        err => match (split, err.record_index()) {
            (SplitType::Line, Some(index)) => format!("line {}: {err}", index + 1),
            _ => err.to_string(),
        },
    }
}

/// The size at which a piece is cut, when the object can be read in pieces.
fn piece_target(plan: &TransformPlan) -> Option<usize> {
    let settings = plan.settings();
    if settings.split == SplitType::None {
        return None;
    }
    match (settings.batch_strategy, plan.max_payload_bytes()) {
        (BatchStrategy::SingleRecord, _) => Some(PIECE_SLACK),
        (BatchStrategy::MultiRecord, Some(payload)) => Some(payload + PIECE_SLACK),
        // Without a payload limit the whole object is one request.
        (BatchStrategy::MultiRecord, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use smemu_batch::{TransformSettings, encode_tfrecord};

    use super::*;

    fn plan(split: SplitType, strategy: BatchStrategy, mb: u32, compression: CompressionType) -> TransformPlan {
        TransformPlan::new(TransformSettings {
            split,
            batch_strategy: strategy,
            max_payload_mb: mb,
            compression,
            ..TransformSettings::default()
        })
        .unwrap()
    }

    fn chunked(data: Vec<u8>, size: usize) -> BoxStream<'static, Result<Bytes, ObjectError>> {
        let chunks: Vec<Result<Bytes, ObjectError>> =
            data.chunks(size).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        futures::stream::iter(chunks).boxed()
    }

    /// An endless object of one repeated byte, to show that reading stops on its own.
    fn endless(byte: u8) -> BoxStream<'static, Result<Bytes, ObjectError>> {
        futures::stream::repeat_with(move || Ok(Bytes::from(vec![byte; 64 * 1024]))).boxed()
    }

    async fn bodies(mut segments: Segments) -> Result<Vec<Bytes>, String> {
        let mut out = Vec::new();
        while let Some(piece) = segments.next().await {
            out.extend(piece?.requests().iter().map(|r| r.body.clone()));
        }
        Ok(out)
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[tokio::test]
    async fn an_endless_line_is_refused_once_it_passes_the_payload_limit() {
        let plan = plan(SplitType::Line, BatchStrategy::MultiRecord, 1, CompressionType::None);
        let mut object: Vec<u8> = b"a\nb\n".to_vec();
        object.extend(vec![b'x'; 3 << 20]);
        let err = bodies(Segments::new(plan.clone(), chunked(object, 100_000))).await.unwrap_err();
        assert!(err.starts_with("line 3: record 2 is larger than MaxPayloadInMB allows (1048576 bytes)"), "{err}");
        // Endless: only a check while reading can end this.
        let err = bodies(Segments::new(plan, endless(b'x'))).await.unwrap_err();
        assert!(err.contains("record 0 is larger than MaxPayloadInMB"), "{err}");
    }

    #[tokio::test]
    async fn an_endless_gzip_object_is_refused_while_it_is_decompressed() {
        // 64 MiB of zeros compress to about 64 KiB; the limit is 1 MiB.
        let gz = gzip(&vec![0u8; 64 << 20]);
        for split in [SplitType::None, SplitType::Line] {
            let plan = plan(split, BatchStrategy::MultiRecord, 1, CompressionType::Gzip);
            let err = bodies(Segments::new(plan, chunked(gz.clone(), 8192))).await.unwrap_err();
            assert!(err.contains("record 0 is larger than MaxPayloadInMB allows (1048576 bytes)"), "{split}: {err}");
        }
    }

    #[tokio::test]
    async fn without_a_payload_limit_an_endless_object_stops_at_the_cap() {
        for (split, strategy) in
            [(SplitType::None, BatchStrategy::SingleRecord), (SplitType::Line, BatchStrategy::MultiRecord)]
        {
            let mut segments = Segments::new(plan(split, strategy, 0, CompressionType::None), endless(b'z'));
            segments.cap = 3 << 20;
            let err = bodies(segments).await.unwrap_err();
            assert!(
                err.starts_with("the object is larger than 3145728 bytes, the most smemu sends in one request"),
                "{err}"
            );
        }
        // Under the cap, no limit means one request for the whole object.
        let mut segments = Segments::new(
            plan(SplitType::Line, BatchStrategy::MultiRecord, 0, CompressionType::None),
            chunked(b"a\nb\n".to_vec(), 1),
        );
        segments.cap = 3 << 20;
        assert_eq!(bodies(segments).await.unwrap(), vec![Bytes::from_static(b"a\nb\n")]);
    }

    #[tokio::test]
    async fn gzip_lines_are_read_in_pieces_with_the_batches_of_the_whole_object() {
        let text: String = (0..200_000).map(|i| format!("{i},{}\n", "y".repeat(i % 31))).collect();
        let plain = plan(SplitType::Line, BatchStrategy::MultiRecord, 1, CompressionType::None);
        let whole = plain.prepare(text.clone()).unwrap();
        let whole: Vec<Bytes> = whole.requests().iter().map(|r| r.body.clone()).collect();
        let gz = plan(SplitType::Line, BatchStrategy::MultiRecord, 1, CompressionType::Gzip);
        let mut segments = Segments::new(gz, chunked(gzip(text.as_bytes()), 10_000));
        let mut pieces = 0;
        let mut got = Vec::new();
        while let Some(piece) = segments.next().await {
            pieces += 1;
            got.extend(piece.unwrap().requests().iter().map(|r| r.body.clone()));
        }
        assert!(pieces > 1, "read in pieces");
        assert_eq!(got, whole);
    }

    #[tokio::test]
    async fn framed_records_are_cut_at_their_ends_and_refused_by_their_header() {
        let records: Vec<Vec<u8>> = (0..3000u32).map(|i| vec![(i % 251) as u8; 1000 + (i as usize % 700)]).collect();
        let object: Vec<u8> = records.iter().flat_map(|r| encode_tfrecord(r)).collect();
        let plan1 = plan(SplitType::TFRecord, BatchStrategy::SingleRecord, 1, CompressionType::None);
        let got = bodies(Segments::new(plan1.clone(), chunked(object.clone(), 4096))).await.unwrap();
        assert_eq!(got, records.iter().map(|r| Bytes::from(r.clone())).collect::<Vec<_>>());
        // A header announcing 5 GB is refused before any of its data is read.
        let mut huge = encode_tfrecord(b"ok");
        let header = (5u64 << 30).to_le_bytes();
        huge.extend_from_slice(&header);
        huge.extend_from_slice(&smemu_batch::masked_crc32c(&header).to_le_bytes());
        let err = bodies(Segments::new(plan1.clone(), chunked(huge, 4096))).await.unwrap_err();
        assert!(err.starts_with("record 1 is larger than MaxPayloadInMB"), "{err}");
        // Bad framing after good records names its offset in the whole object.
        let mut bad = object;
        let good_len = bad.len();
        bad.extend_from_slice(b"garbage that is not a TFRecord header");
        let err = bodies(Segments::new(plan1, chunked(bad, 4096))).await.unwrap_err();
        assert!(err.contains(&format!("at byte {good_len}")), "{err}");
    }
}
