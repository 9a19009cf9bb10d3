//! framing: reading (and, for fixtures, writing) MXNet RecordIO and TFRecord framed records.
//!
//! `SplitType=RecordIO|TFRecord` makes one record per framed record
//! (<https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformInput.html>).
//! Each [`Frame`] carries both its framed extent in the object (`span`, sent as is with
//! `MultiRecord`) and its payload with the framing stripped (sent with `SingleRecord`).
//!
//! - RecordIO follows dmlc-core's `recordio.cc`: `u32` magic `0xced7230a`, `u32 lrecord`
//!   (upper 3 bits a continuation flag, lower 29 bits the length), the data, zero padding
//!   to 4 bytes. A writer that meets the magic at an aligned offset inside the data splits
//!   the record there (flags 1 = first, 2 = middle, 3 = last part) and drops those 4 bytes;
//!   the reader joins the parts and puts the magic back, as dmlc's `NextRecord` does.
//! - TFRecord: `u64` length, `u32` masked CRC-32C of the length bytes, the data, `u32`
//!   masked CRC-32C of the data; all little-endian. Both CRCs are checked.

use std::ops::Range;

use bytes::{Bytes, BytesMut};

use crate::error::BatchError;

/// RecordIO's magic number (little-endian on disk: `0a 23 d7 ce`).
pub const RECORDIO_MAGIC: u32 = 0xced7_230a;
const RECORDIO_MAGIC_BYTES: [u8; 4] = RECORDIO_MAGIC.to_le_bytes();
const LENGTH_MASK: u32 = (1 << 29) - 1;

/// One framed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Where the whole framed record (headers, data, padding, CRCs) sits in the object.
    pub span: Range<usize>,
    /// The record's data with the framing removed.
    pub payload: Bytes,
}

/// TFRecord's masked CRC-32C: `((crc >> 15) | (crc << 17)) + 0xa282ead8`, wrapping.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

fn bad(format: &'static str, offset: usize, reason: impl Into<String>) -> BatchError {
    BatchError::BadFraming { format, offset, reason: reason.into() }
}

fn read_u32(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn read_u64(data: &[u8], at: usize) -> Option<u64> {
    let b = data.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

/// Iterates the RecordIO records of an object; stops after the first error.
pub fn recordio_frames(data: &Bytes) -> RecordIoFrames {
    RecordIoFrames { data: data.clone(), pos: 0, failed: false }
}

/// Iterator returned by [`recordio_frames`].
#[derive(Debug, Clone)]
pub struct RecordIoFrames {
    data: Bytes,
    pos: usize,
    failed: bool,
}

impl RecordIoFrames {
    fn next_frame(&mut self) -> Result<Frame, BatchError> {
        const F: &str = "RecordIO";
        let data = &self.data;
        let start = self.pos;
        let mut pos = start;
        // Parts of the record: ranges of data, joined by the magic when there are several.
        let mut parts: Vec<Range<usize>> = Vec::new();
        loop {
            let magic = read_u32(data, pos).ok_or_else(|| bad(F, pos, "truncated record header"))?;
            if magic != RECORDIO_MAGIC {
                return Err(bad(F, pos, format!("expected magic 0xced7230a, found {magic:#010x}")));
            }
            let lrec = read_u32(data, pos + 4).ok_or_else(|| bad(F, pos, "truncated record header"))?;
            let cflag = lrec >> 29;
            let len = (lrec & LENGTH_MASK) as usize;
            let first = parts.is_empty();
            match (first, cflag) {
                (true, 0 | 1) | (false, 2 | 3) => {}
                (true, _) => return Err(bad(F, pos, format!("record starts with continuation flag {cflag}"))),
                (false, _) => {
                    return Err(bad(F, pos, format!("flag {cflag} inside a multi-part record (expected 2 or 3)")));
                }
            }
            let body = pos + 8;
            let padded = len.div_ceil(4) * 4;
            if data.len() < body + padded {
                return Err(bad(
                    F,
                    pos,
                    format!("record part of {len} bytes (+{} padding) runs past the end", padded - len),
                ));
            }
            parts.push(body..body + len);
            pos = body + padded;
            if cflag == 0 || cflag == 3 {
                break;
            }
        }
        self.pos = pos;
        let payload = if let [only] = parts.as_slice() {
            data.slice(only.clone())
        } else {
            let mut joined = BytesMut::new();
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    joined.extend_from_slice(&RECORDIO_MAGIC_BYTES);
                }
                joined.extend_from_slice(&data[part.clone()]);
            }
            joined.freeze()
        };
        Ok(Frame { span: start..pos, payload })
    }
}

impl Iterator for RecordIoFrames {
    type Item = Result<Frame, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.data.len() {
            return None;
        }
        let r = self.next_frame();
        self.failed = r.is_err();
        Some(r)
    }
}

/// Iterates the TFRecord records of an object, checking both CRCs; stops after the first error.
pub fn tfrecord_frames(data: &Bytes) -> TfRecordFrames {
    TfRecordFrames { data: data.clone(), pos: 0, failed: false }
}

/// Iterator returned by [`tfrecord_frames`].
#[derive(Debug, Clone)]
pub struct TfRecordFrames {
    data: Bytes,
    pos: usize,
    failed: bool,
}

impl TfRecordFrames {
    fn next_frame(&mut self) -> Result<Frame, BatchError> {
        const F: &str = "TFRecord";
        let data = &self.data;
        let start = self.pos;
        let len = read_u64(data, start).ok_or_else(|| bad(F, start, "truncated length header"))?;
        let len_crc = read_u32(data, start + 8).ok_or_else(|| bad(F, start, "truncated length header"))?;
        let want = masked_crc32c(&data[start..start + 8]);
        if len_crc != want {
            return Err(bad(F, start, format!("length CRC mismatch (stored {len_crc:#010x}, computed {want:#010x})")));
        }
        let body = start + 12;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| body.checked_add(l))
            .filter(|&e| e.checked_add(4).is_some_and(|t| t <= data.len()))
            .ok_or_else(|| bad(F, start, format!("record of {len} bytes runs past the end")))?;
        let data_crc = read_u32(data, end).ok_or_else(|| bad(F, start, "truncated data CRC"))?;
        let want = masked_crc32c(&data[body..end]);
        if data_crc != want {
            return Err(bad(F, start, format!("data CRC mismatch (stored {data_crc:#010x}, computed {want:#010x})")));
        }
        self.pos = end + 4;
        Ok(Frame { span: start..end + 4, payload: data.slice(body..end) })
    }
}

impl Iterator for TfRecordFrames {
    type Item = Result<Frame, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.data.len() {
            return None;
        }
        let r = self.next_frame();
        self.failed = r.is_err();
        Some(r)
    }
}

/// What the headers at the start of `data` say about the next framed record, for a reader
/// that has only part of an object (see [`crate::split::probe_record`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The next record ends `len` bytes in.
    Complete { len: usize },
    /// The next record does not end within `data`; its content is at least `size` bytes.
    Partial { size: usize },
    /// The headers are not valid framing (splitting the bytes says why).
    Invalid,
}

/// [`Probe`] for RecordIO: follows the part headers (no data is read).
pub fn probe_recordio(data: &[u8]) -> Probe {
    let mut pos = 0usize;
    let mut size = 0usize;
    let mut first = true;
    loop {
        let (Some(magic), Some(lrec)) = (read_u32(data, pos), pos.checked_add(4).and_then(|p| read_u32(data, p)))
        else {
            return Probe::Partial { size };
        };
        let cflag = lrec >> 29;
        if magic != RECORDIO_MAGIC || !matches!((first, cflag), (true, 0 | 1) | (false, 2 | 3)) {
            return Probe::Invalid;
        }
        first = false;
        let len = (lrec & LENGTH_MASK) as usize;
        size = size.saturating_add(len);
        pos = pos.saturating_add(8).saturating_add(len.div_ceil(4) * 4);
        if pos > data.len() {
            return Probe::Partial { size };
        }
        if cflag == 0 || cflag == 3 {
            return Probe::Complete { len: pos };
        }
    }
}

/// [`Probe`] for TFRecord: reads the length header (checking its CRC), not the data.
pub fn probe_tfrecord(data: &[u8]) -> Probe {
    let (Some(len), Some(len_crc)) = (read_u64(data, 0), read_u32(data, 8)) else {
        return Probe::Partial { size: 0 };
    };
    if len_crc != masked_crc32c(&data[..8]) {
        return Probe::Invalid;
    }
    let size = usize::try_from(len).unwrap_or(usize::MAX);
    match size.checked_add(16) {
        Some(total) if total <= data.len() => Probe::Complete { len: total },
        _ => Probe::Partial { size },
    }
}

/// Frames one record as dmlc's `RecordIOWriter::WriteRecord` does (splitting at aligned
/// occurrences of the magic). For building fixtures and test data.
///
/// Payloads of 2^29 bytes or more cannot be framed; they are refused with `InvalidSettings`.
pub fn encode_recordio(payload: &[u8]) -> Result<Vec<u8>, BatchError> {
    if payload.len() > LENGTH_MASK as usize {
        return Err(BatchError::invalid(format!(
            "a RecordIO record holds at most {} bytes, got {}",
            LENGTH_MASK,
            payload.len()
        )));
    }
    let mut out = Vec::with_capacity(payload.len() + 12);
    let write_part = |out: &mut Vec<u8>, flag: u32, part: &[u8]| {
        out.extend_from_slice(&RECORDIO_MAGIC_BYTES);
        // The length fits in 29 bits: checked above.
        out.extend_from_slice(&((flag << 29) | part.len() as u32).to_le_bytes());
        out.extend_from_slice(part);
    };
    let lower_align = payload.len() / 4 * 4;
    let mut dptr = 0;
    for i in (0..lower_align).step_by(4) {
        if payload[i..i + 4] == RECORDIO_MAGIC_BYTES {
            write_part(&mut out, if dptr == 0 { 1 } else { 2 }, &payload[dptr..i]);
            dptr = i + 4;
        }
    }
    write_part(&mut out, if dptr == 0 { 0 } else { 3 }, &payload[dptr..]);
    let pad = payload.len().div_ceil(4) * 4 - payload.len();
    out.extend(std::iter::repeat_n(0u8, pad));
    Ok(out)
}

/// Frames one record as TensorFlow's `TFRecordWriter` does. For building fixtures and test data.
pub fn encode_tfrecord(payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(payload.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&masked_crc32c(payload).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(it: impl Iterator<Item = Result<Frame, BatchError>>) -> Result<Vec<Frame>, BatchError> {
        it.collect()
    }

    #[test]
    #[allow(clippy::manual_rotate)] // spelled out as TensorFlow's crc32c.h writes it
    fn masked_crc_matches_tensorflow_known_values() {
        // CRC-32C check value of "123456789" is 0xe3069283 (RFC 3720 / iSCSI).
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        let crc: u32 = 0xe306_9283;
        let masked = ((crc >> 15) | (crc << 17)).wrapping_add(0xa282_ead8);
        assert_eq!(masked_crc32c(b"123456789"), masked);
        assert_ne!(masked_crc32c(b"123456789"), crc, "the mask changes the value");
    }

    #[test]
    fn recordio_layout_is_dmlc_layout() {
        let framed = encode_recordio(b"abcde").unwrap();
        assert_eq!(&framed[0..4], &[0x0a, 0x23, 0xd7, 0xce]);
        assert_eq!(u32::from_le_bytes(framed[4..8].try_into().unwrap()), 5);
        assert_eq!(&framed[8..13], b"abcde");
        assert_eq!(&framed[13..], &[0, 0, 0], "padded to 4 bytes");
        assert_eq!(framed.len(), 16);
        assert_eq!(encode_recordio(b"abcd").unwrap().len(), 12, "aligned payload gets no padding");
    }

    #[test]
    fn recordio_reads_records_with_spans_and_stripped_payloads() {
        let mut obj = encode_recordio(b"one").unwrap();
        let second_start = obj.len();
        obj.extend(encode_recordio(b"").unwrap());
        let third_start = obj.len();
        obj.extend(encode_recordio(b"three!!!").unwrap());
        let obj = Bytes::from(obj);
        let frames = collect(recordio_frames(&obj)).unwrap();
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0].payload, Bytes::from_static(b"one"));
        assert_eq!(frames[0].span, 0..12);
        assert_eq!(frames[1].payload, Bytes::new());
        assert_eq!(frames[1].span, second_start..third_start);
        assert_eq!(frames[2].payload, Bytes::from_static(b"three!!!"));
        assert_eq!(frames[2].span, third_start..obj.len());
    }

    #[test]
    fn recordio_multi_part_record_gets_its_magic_back() {
        // The magic at aligned offsets 4 and 12 splits the record into three parts.
        let mut payload = b"head".to_vec();
        payload.extend_from_slice(&RECORDIO_MAGIC_BYTES);
        payload.extend_from_slice(b"mid!");
        payload.extend_from_slice(&RECORDIO_MAGIC_BYTES);
        payload.extend_from_slice(b"tail");
        let framed = encode_recordio(&payload).unwrap();
        // Three headers: flags 1, 2, 3.
        let flags: Vec<u32> = [4usize, 16, 28]
            .iter()
            .map(|&at| u32::from_le_bytes(framed[at..at + 4].try_into().unwrap()) >> 29)
            .collect();
        assert_eq!(flags, vec![1, 2, 3]);
        let mut obj = framed.clone();
        obj.extend(encode_recordio(b"next").unwrap());
        let obj = Bytes::from(obj);
        let frames = collect(recordio_frames(&obj)).unwrap();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].payload.as_ref(), payload.as_slice());
        assert_eq!(frames[0].span, 0..framed.len());
        assert_eq!(frames[1].payload, Bytes::from_static(b"next"));
    }

    #[test]
    fn recordio_rejects_bad_magic_truncation_and_bad_flags() {
        let good = encode_recordio(b"hello").unwrap();
        let mut bad_magic = good.clone();
        bad_magic[0] ^= 0xff;
        let err = collect(recordio_frames(&Bytes::from(bad_magic))).unwrap_err();
        assert!(matches!(err, BatchError::BadFraming { format: "RecordIO", offset: 0, .. }), "{err}");

        let mut two = good.clone();
        two.extend_from_slice(&good[..good.len() - 1]);
        let err = collect(recordio_frames(&Bytes::from(two))).unwrap_err();
        assert!(matches!(err, BatchError::BadFraming { offset: 16, .. }), "{err}");
        assert!(err.to_string().contains("runs past the end"), "{err}");

        let mut cont_first = good.clone();
        cont_first[7] |= 2 << 5; // flag 2 on a first part
        let err = collect(recordio_frames(&Bytes::from(cont_first))).unwrap_err();
        assert!(err.to_string().contains("continuation flag 2"), "{err}");

        let err = collect(recordio_frames(&Bytes::from_static(&[0x0a, 0x23]))).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
    }

    #[test]
    fn tfrecord_reads_records_and_checks_both_crcs() {
        let mut obj = encode_tfrecord(b"first");
        obj.extend(encode_tfrecord(b""));
        obj.extend(encode_tfrecord(b"third record"));
        let obj = Bytes::from(obj);
        let frames = collect(tfrecord_frames(&obj)).unwrap();
        let payloads: Vec<&[u8]> = frames.iter().map(|f| f.payload.as_ref()).collect();
        assert_eq!(payloads, vec![&b"first"[..], b"", b"third record"]);
        assert_eq!(frames[0].span, 0..(12 + 5 + 4));
        assert_eq!(frames[1].span, 21..37);
        assert_eq!(frames[2].span.end, obj.len());

        let good = encode_tfrecord(b"payload");
        let mut bad_data = good.clone();
        bad_data[13] ^= 1;
        let err = collect(tfrecord_frames(&Bytes::from(bad_data))).unwrap_err();
        assert!(err.to_string().contains("data CRC mismatch"), "{err}");

        let mut bad_len_crc = good.clone();
        bad_len_crc[9] ^= 1;
        let err = collect(tfrecord_frames(&Bytes::from(bad_len_crc))).unwrap_err();
        assert!(err.to_string().contains("length CRC mismatch"), "{err}");

        let mut prefix = encode_tfrecord(b"ok");
        let off = prefix.len();
        prefix.extend_from_slice(&good[..good.len() - 2]);
        let err = collect(tfrecord_frames(&Bytes::from(prefix))).unwrap_err();
        assert!(matches!(err, BatchError::BadFraming { format: "TFRecord", offset, .. } if offset == off), "{err}");
    }

    #[test]
    fn tfrecord_huge_length_is_an_error_not_a_panic() {
        let len = u64::MAX.to_le_bytes();
        let mut obj = len.to_vec();
        obj.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
        obj.extend_from_slice(b"xxxx");
        let err = collect(tfrecord_frames(&Bytes::from(obj))).unwrap_err();
        assert!(err.to_string().contains("runs past the end"), "{err}");
    }
}
