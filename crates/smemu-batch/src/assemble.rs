//! assemble: putting response bodies back in input order and joining them by `AssembleWith`.
//!
//! "To concatenate the results in binary format, specify None. To add a newline
//! character at the end of every transformed record, specify Line"
//! (<https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformOutput.html>),
//! and "The predictions in an output file are listed in the same order as the
//! corresponding records in the input file"
//! (<https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform.html>).
//!
//! With `Line`, a body that already ends in `\n` (or `\r\n`) gets nothing added, so a
//! model that answers with newline-terminated lines is not double-spaced; an empty body
//! becomes an empty line, keeping one output line per request.

use bytes::{Bytes, BytesMut};

use crate::error::BatchError;
use crate::settings::AssemblyType;

/// Appends one output record (or one response body) to `out` according to `with`.
pub fn push_record(out: &mut BytesMut, record: &[u8], with: AssemblyType) {
    out.extend_from_slice(record);
    if with == AssemblyType::Line && !record.ends_with(b"\n") {
        out.extend_from_slice(b"\n");
    }
}

/// Joins response bodies, already in request order, into the output object.
pub fn assemble_bodies(responses: &[Bytes], with: AssemblyType) -> Bytes {
    if let [only] = responses
        && (with == AssemblyType::None || only.ends_with(b"\n"))
    {
        return only.clone();
    }
    let mut out = BytesMut::with_capacity(responses.iter().map(|r| r.len() + 1).sum());
    for r in responses {
        push_record(&mut out, r, with);
    }
    out.freeze()
}

/// Collects responses that arrive in any order (requests run concurrently) and hands
/// them back in request order.
#[derive(Debug, Clone)]
pub struct Reassembler {
    slots: Vec<Option<Bytes>>,
    filled: usize,
}

impl Reassembler {
    /// Expects one response for each of `request_count` requests (indexes `0..request_count`).
    pub fn new(request_count: usize) -> Self {
        Reassembler { slots: vec![None; request_count], filled: 0 }
    }

    /// Stores the response of request `index`; an unknown index or a second response for
    /// the same request is an error (a bug in the caller, never silently dropped).
    pub fn insert(&mut self, index: usize, body: Bytes) -> Result<(), BatchError> {
        let count = self.slots.len();
        let slot = self
            .slots
            .get_mut(index)
            .ok_or_else(|| BatchError::Response { index, reason: format!("there are only {count} requests") })?;
        if slot.is_some() {
            return Err(BatchError::Response {
                index,
                reason: "a response for this request was already stored".into(),
            });
        }
        *slot = Some(body);
        self.filled += 1;
        Ok(())
    }

    /// True once every request has its response.
    pub fn is_complete(&self) -> bool {
        self.filled == self.slots.len()
    }

    /// Requests still without a response, in order.
    pub fn missing(&self) -> Vec<usize> {
        self.slots.iter().enumerate().filter(|(_, s)| s.is_none()).map(|(i, _)| i).collect()
    }

    /// The responses in request order; an error names the first request without one.
    pub fn into_ordered(self) -> Result<Vec<Bytes>, BatchError> {
        self.slots
            .into_iter()
            .enumerate()
            .map(|(index, s)| s.ok_or_else(|| BatchError::Response { index, reason: "no response was stored".into() }))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[test]
    fn none_concatenates_as_returned() {
        assert_eq!(assemble_bodies(&[b("1"), b("2\n"), b("3")], AssemblyType::None), b("12\n3"));
        assert_eq!(assemble_bodies(&[b("only")], AssemblyType::None), b("only"));
        assert_eq!(assemble_bodies(&[], AssemblyType::None), b(""));
    }

    #[test]
    fn line_ends_every_record_with_exactly_one_newline() {
        assert_eq!(assemble_bodies(&[b("1"), b("2\n"), b("3")], AssemblyType::Line), b("1\n2\n3\n"));
        assert_eq!(assemble_bodies(&[b("a\r\n"), b("b")], AssemblyType::Line), b("a\r\nb\n"));
        assert_eq!(assemble_bodies(&[b("x"), b(""), b("y")], AssemblyType::Line), b("x\n\ny\n"));
        assert_eq!(assemble_bodies(&[b("multi\nline")], AssemblyType::Line), b("multi\nline\n"));
        assert_eq!(assemble_bodies(&[b("done\n")], AssemblyType::Line), b("done\n"));
    }

    #[test]
    fn reassembler_orders_out_of_order_responses() {
        let mut r = Reassembler::new(3);
        r.insert(2, b("c")).unwrap();
        r.insert(0, b("a")).unwrap();
        assert!(!r.is_complete());
        assert_eq!(r.missing(), vec![1]);
        r.insert(1, b("b")).unwrap();
        assert!(r.is_complete());
        assert_eq!(r.into_ordered().unwrap(), vec![b("a"), b("b"), b("c")]);
    }

    #[test]
    fn reassembler_refuses_duplicates_unknown_and_missing() {
        let mut r = Reassembler::new(2);
        r.insert(0, b("a")).unwrap();
        assert!(matches!(r.insert(0, b("again")), Err(BatchError::Response { index: 0, .. })));
        assert!(matches!(r.insert(5, b("x")), Err(BatchError::Response { index: 5, .. })));
        assert!(matches!(r.into_ordered(), Err(BatchError::Response { index: 1, .. })));
    }
}
