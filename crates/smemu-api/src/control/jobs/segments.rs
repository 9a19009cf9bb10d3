//! An input object cut into prepared pieces while it is still being read, so that its first
//! requests go out before its last bytes arrive and no whole object needs to be in memory.
//!
//! Only `SplitType: Line` without compression is read in pieces: a line end is the only record
//! boundary that can be found without parsing from the start. Every other object is one piece.
//! A piece's last batch is held back and prepared again with the bytes that follow
//! ([`smemu_batch::PreparedObject::hold_back_last`]), so the batches are those of the whole object.

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::stream::BoxStream;
use smemu_batch::{BatchStrategy, CompressionType, PreparedObject, SplitType, TransformPlan};
use smemu_objects::ObjectError;

/// How much more than one payload a piece holds before it is cut.
const PIECE_SLACK: usize = 2 * 1024 * 1024;

/// Owns what it reads (a copy of the plan, the object's byte stream), so that it can drive a
/// stream of its own.
pub(crate) struct Segments {
    plan: TransformPlan,
    chunks: BoxStream<'static, Result<Bytes, ObjectError>>,
    buf: BytesMut,
    /// Where the last line end in `buf` is, if any (searched only in bytes that are new).
    last_newline: Option<usize>,
    /// Cut a piece once `buf` holds this much; `None` reads the whole object first.
    target: Option<usize>,
    done: bool,
}

impl Segments {
    pub fn new(plan: TransformPlan, chunks: BoxStream<'static, Result<Bytes, ObjectError>>) -> Self {
        let target = piece_target(&plan);
        Segments { plan, chunks, buf: BytesMut::new(), last_newline: None, target, done: false }
    }

    /// The next piece, in object order; `None` after the last one (an empty object is one empty
    /// piece, so that it still gets its empty output).
    pub async fn next(&mut self) -> Option<Result<PreparedObject, String>> {
        if self.done {
            return None;
        }
        loop {
            if let (Some(target), Some(newline)) = (self.target, self.last_newline)
                && self.buf.len() >= target
            {
                return Some(self.cut(newline));
            }
            match self.chunks.next().await {
                Some(Ok(chunk)) => {
                    if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
                        self.last_newline = Some(self.buf.len() + i);
                    }
                    self.buf.extend_from_slice(&chunk);
                }
                Some(Err(err)) => {
                    self.done = true;
                    return Some(Err(err.to_string()));
                }
                None => {
                    self.done = true;
                    return Some(self.plan.prepare(self.buf.split().freeze()).map_err(|err| err.to_string()));
                }
            }
        }
    }

    /// Prepares the complete lines up to `newline` and keeps the held-back batch's lines.
    fn cut(&mut self, newline: usize) -> Result<PreparedObject, String> {
        let complete = self.buf.split_to(newline + 1).freeze();
        let mut prepared = match self.plan.prepare(complete.clone()) {
            Ok(prepared) => prepared,
            Err(err) => {
                self.done = true;
                return Err(err.to_string());
            }
        };
        if let Some(held) = prepared.hold_back_last() {
            let mut rest = BytesMut::with_capacity(complete.len() - held + self.buf.len());
            rest.extend_from_slice(&complete[held..]);
            rest.extend_from_slice(&self.buf);
            self.buf = rest;
        }
        self.last_newline = self.buf.iter().rposition(|&b| b == b'\n');
        Ok(prepared)
    }
}

/// The size at which a piece is cut, when the object can be read in pieces.
fn piece_target(plan: &TransformPlan) -> Option<usize> {
    let settings = plan.settings();
    if settings.split != SplitType::Line || settings.compression != CompressionType::None {
        return None;
    }
    match (settings.batch_strategy, plan.max_payload_bytes()) {
        (BatchStrategy::SingleRecord, _) => Some(PIECE_SLACK),
        (BatchStrategy::MultiRecord, Some(payload)) => Some(payload + PIECE_SLACK),
        // Without a payload limit the whole object is one request.
        (BatchStrategy::MultiRecord, None) => None,
    }
}
