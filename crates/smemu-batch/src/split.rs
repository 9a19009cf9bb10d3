//! split: cutting one (already decompressed) object into records according to `SplitType`.
//!
//! Choices, since the API leaves them open
//! (<https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformInput.html>):
//! - `None`: exactly one record, the whole object, even when the object is empty (the
//!   model still gets its request).
//! - `Line`: a record is everything up to and INCLUDING its `\n`; the last line may lack
//!   one. A `\r` right before the `\n` belongs to the terminator (`\r\n` files work), a
//!   lone `\r` is data. Empty lines are records too (nothing is dropped, so output lines
//!   match input lines one to one). An empty object has no records. Keeping the
//!   terminator in the bytes sent means a `MultiRecord` request is an exact slice of the
//!   object, and a `SingleRecord` request is the line as it appears in the file.
//! - `RecordIO` / `TFRecord`: see [`crate::framing`].

use std::ops::Range;

use bytes::Bytes;

use crate::error::BatchError;
use crate::framing::{
    Frame, Probe, RecordIoFrames, TfRecordFrames, probe_recordio, probe_tfrecord, recordio_frames, tfrecord_frames,
};
use crate::settings::SplitType;

/// One record of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Position among the object's records, from 0.
    pub index: usize,
    /// Where the record sits in the object, framing and line terminator included.
    pub span: Range<usize>,
    /// The record as it appears in the object (`object[span]`).
    pub raw: Bytes,
    /// The record's content: the line without its terminator, the frame's data without
    /// its framing, or the whole object for `SplitType=None`.
    pub payload: Bytes,
    /// The line terminator (`\n`, `\r\n`, or empty for a last line without one); empty
    /// for other split types.
    pub terminator: Bytes,
}

/// Iterates the records of `object`; after an error it yields nothing more.
pub fn split_records(object: &Bytes, split: SplitType) -> Records {
    let inner = match split {
        SplitType::None => Inner::Whole(Some(object.clone())),
        SplitType::Line => Inner::Lines { data: object.clone(), pos: 0 },
        SplitType::RecordIO => Inner::RecordIo(recordio_frames(object)),
        SplitType::TFRecord => Inner::TfRecord(tfrecord_frames(object)),
    };
    Records { inner, next_index: 0, object: object.clone() }
}

/// Where the record that starts `data` ends, for a reader that has only the first bytes of an
/// object, so that it can cut the object at record boundaries and refuse a record as soon as it
/// is known to be too large: a line ends at its `\n`, a framed record where its headers say; with
/// `SplitType=None` the one record only ends with the object.
pub fn probe_record(data: &[u8], split: SplitType) -> Probe {
    match split {
        SplitType::None => Probe::Partial { size: data.len() },
        SplitType::Line => match data.iter().position(|&b| b == b'\n') {
            Some(i) => Probe::Complete { len: i + 1 },
            None => Probe::Partial { size: data.len() },
        },
        SplitType::RecordIO => probe_recordio(data),
        SplitType::TFRecord => probe_tfrecord(data),
    }
}

/// Collects [`split_records`] into a vector.
pub fn split_all(object: &Bytes, split: SplitType) -> Result<Vec<Record>, BatchError> {
    split_records(object, split).collect()
}

/// Iterator returned by [`split_records`].
#[derive(Debug, Clone)]
pub struct Records {
    inner: Inner,
    next_index: usize,
    object: Bytes,
}

#[derive(Debug, Clone)]
enum Inner {
    Whole(Option<Bytes>),
    Lines { data: Bytes, pos: usize },
    RecordIo(RecordIoFrames),
    TfRecord(TfRecordFrames),
}

impl Records {
    fn record_of_frame(&self, index: usize, frame: Frame) -> Record {
        Record {
            index,
            raw: self.object.slice(frame.span.clone()),
            span: frame.span,
            payload: frame.payload,
            terminator: Bytes::new(),
        }
    }
}

impl Iterator for Records {
    type Item = Result<Record, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        let index = self.next_index;
        let item = match &mut self.inner {
            Inner::Whole(whole) => whole.take().map(|data| {
                Ok(Record { index, span: 0..data.len(), raw: data.clone(), payload: data, terminator: Bytes::new() })
            }),
            Inner::Lines { data, pos } => {
                if *pos >= data.len() {
                    None
                } else {
                    let start = *pos;
                    let end = data[start..].iter().position(|&b| b == b'\n').map_or(data.len(), |i| start + i + 1);
                    let content_end = if data[..end].ends_with(b"\r\n") && end - start >= 2 {
                        end - 2
                    } else if data[..end].ends_with(b"\n") {
                        end - 1
                    } else {
                        end
                    };
                    *pos = end;
                    Some(Ok(Record {
                        index,
                        span: start..end,
                        raw: data.slice(start..end),
                        payload: data.slice(start..content_end),
                        terminator: data.slice(content_end..end),
                    }))
                }
            }
            Inner::RecordIo(frames) => {
                let f = frames.next();
                f.map(|r| r.map(|frame| self.record_of_frame(index, frame)))
            }
            Inner::TfRecord(frames) => {
                let f = frames.next();
                f.map(|r| r.map(|frame| self.record_of_frame(index, frame)))
            }
        };
        if item.is_some() {
            self.next_index += 1;
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::{encode_recordio, encode_tfrecord};

    fn lines(s: &'static str) -> Vec<(String, String)> {
        split_all(&Bytes::from_static(s.as_bytes()), SplitType::Line)
            .unwrap()
            .into_iter()
            .map(|r| {
                assert_eq!(r.raw.len(), r.payload.len() + r.terminator.len());
                (String::from_utf8(r.payload.to_vec()).unwrap(), String::from_utf8(r.terminator.to_vec()).unwrap())
            })
            .collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn line_split_with_trailing_newline() {
        assert_eq!(lines("a,1\nb,2\n"), pairs(&[("a,1", "\n"), ("b,2", "\n")]));
    }

    #[test]
    fn line_split_without_trailing_newline() {
        assert_eq!(lines("a,1\nb,2"), pairs(&[("a,1", "\n"), ("b,2", "")]));
    }

    #[test]
    fn line_split_crlf_and_lone_cr() {
        assert_eq!(lines("a\r\nb\r\nc"), pairs(&[("a", "\r\n"), ("b", "\r\n"), ("c", "")]));
        assert_eq!(lines("x\ry\n"), pairs(&[("x\ry", "\n")]), "a lone CR is data");
        assert_eq!(lines("\r\n"), pairs(&[("", "\r\n")]));
    }

    #[test]
    fn line_split_keeps_empty_lines_and_indexes_records() {
        assert_eq!(lines("a\n\nb\n"), pairs(&[("a", "\n"), ("", "\n"), ("b", "\n")]));
        assert!(lines("").is_empty(), "an empty object has no lines");
        let recs = split_all(&Bytes::from_static(b"p\nq\nr"), SplitType::Line).unwrap();
        let idx: Vec<usize> = recs.iter().map(|r| r.index).collect();
        assert_eq!(idx, vec![0, 1, 2]);
        assert_eq!(recs[1].span, 2..4);
        assert_eq!(recs[1].raw, Bytes::from_static(b"q\n"));
    }

    #[test]
    fn none_split_is_one_record_even_when_empty() {
        let recs = split_all(&Bytes::from_static(b"a\nb\n"), SplitType::None).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].payload, Bytes::from_static(b"a\nb\n"));
        let recs = split_all(&Bytes::new(), SplitType::None).unwrap();
        assert_eq!(recs.len(), 1);
        assert!(recs[0].payload.is_empty());
    }

    #[test]
    fn framed_splits_keep_raw_and_strip_payload() {
        let mut obj = encode_recordio(b"r1").unwrap();
        obj.extend(encode_recordio(b"r22").unwrap());
        let obj = Bytes::from(obj);
        let recs = split_all(&obj, SplitType::RecordIO).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[1].index, 1);
        assert_eq!(recs[1].payload, Bytes::from_static(b"r22"));
        assert_eq!(recs[1].raw.as_ref(), encode_recordio(b"r22").unwrap().as_slice());

        let mut obj = encode_tfrecord(b"t1");
        obj.extend(encode_tfrecord(b"t2"));
        let obj = Bytes::from(obj);
        let recs = split_all(&obj, SplitType::TFRecord).unwrap();
        assert_eq!(recs[0].payload, Bytes::from_static(b"t1"));
        assert_eq!(recs[0].raw.as_ref(), encode_tfrecord(b"t1").as_slice());
        assert!(recs[0].terminator.is_empty());
    }

    #[test]
    fn probes_find_record_ends_and_sizes_from_headers() {
        assert_eq!(probe_record(b"ab\ncd", SplitType::Line), Probe::Complete { len: 3 });
        assert_eq!(probe_record(b"abcd", SplitType::Line), Probe::Partial { size: 4 });
        assert_eq!(probe_record(b"a\nb", SplitType::None), Probe::Partial { size: 3 });
        let rio = encode_recordio(b"hello").unwrap();
        assert_eq!(probe_record(&rio, SplitType::RecordIO), Probe::Complete { len: rio.len() });
        assert_eq!(probe_record(&rio[..9], SplitType::RecordIO), Probe::Partial { size: 5 });
        assert_eq!(probe_record(&rio[..3], SplitType::RecordIO), Probe::Partial { size: 0 });
        assert_eq!(probe_record(b"not a recordio header", SplitType::RecordIO), Probe::Invalid);
        // A record split at the magic is one record of several parts.
        let mut payload = b"abcd".to_vec();
        payload.extend_from_slice(&crate::RECORDIO_MAGIC.to_le_bytes());
        payload.extend_from_slice(b"efgh");
        let parts = encode_recordio(&payload).unwrap();
        assert_eq!(probe_record(&parts, SplitType::RecordIO), Probe::Complete { len: parts.len() });
        let tf = encode_tfrecord(&[7u8; 100]);
        assert_eq!(probe_record(&tf, SplitType::TFRecord), Probe::Complete { len: tf.len() });
        // The length header alone tells the size, before the data arrives.
        assert_eq!(probe_record(&tf[..12], SplitType::TFRecord), Probe::Partial { size: 100 });
        let mut bad = tf.clone();
        bad[8] ^= 1;
        assert_eq!(probe_record(&bad, SplitType::TFRecord), Probe::Invalid);
    }

    #[test]
    fn framing_error_stops_the_iteration() {
        let mut obj = encode_tfrecord(b"ok");
        obj.extend_from_slice(b"garbage that is not a record");
        let mut it = split_records(&Bytes::from(obj), SplitType::TFRecord);
        assert!(it.next().unwrap().is_ok());
        assert!(matches!(it.next(), Some(Err(BatchError::BadFraming { .. }))));
        assert!(it.next().is_none());
    }
}
