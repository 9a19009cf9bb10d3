//! error: the one error type of smemu-batch, [`BatchError`], worded for a transform job's `FailureReason`.

use thiserror::Error;

/// Everything that can go wrong while planning, splitting, filtering, joining or
/// reassembling one transform job's data.
///
/// [`BatchError::InvalidSettings`] is the only variant meant for request validation
/// (its message reads like a `ValidationException`); every other variant fails one
/// input object, which is how SageMaker reports bad data: the object gets no `.out`
/// and the job is marked failed
/// (<https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform.html#batch-transform-errors>).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BatchError {
    /// The settings can never work (checked by [`crate::TransformPlan::new`]).
    #[error("{message}")]
    InvalidSettings { message: String },

    /// One record is bigger than a whole request may be.
    #[error(
        "record {index} is {size} bytes, larger than MaxPayloadInMB allows ({max} bytes); \
         raise MaxPayloadInMB (0 = no limit) or split the input into smaller records"
    )]
    RecordTooLarge { index: usize, size: usize, max: usize },

    /// A record found to be over the limit while it is still being read (its whole size is
    /// not known: reading stops there, so that memory stays bounded).
    #[error(
        "record {index} is larger than MaxPayloadInMB allows ({max} bytes); \
         raise MaxPayloadInMB (0 = no limit) or split the input into smaller records"
    )]
    PayloadExceeded { index: usize, max: usize },

    /// A RecordIO or TFRecord object whose framing cannot be read.
    #[error("bad {format} framing at byte {offset}: {reason}")]
    BadFraming { format: &'static str, offset: usize, reason: String },

    /// A manifest file that is not the documented JSON array.
    #[error("bad manifest {uri}: {reason}")]
    BadManifest { uri: String, reason: String },

    /// An input record that cannot be read in the job's content type (CSV, JSON).
    #[error("input record {index}: {reason}")]
    BadRecord { index: usize, reason: String },

    /// A record of the model's response that cannot be read (the input record it answers is `index`).
    #[error("output record {output} of the model's response to input record {index}: {reason}")]
    BadOutputRecord { index: usize, output: usize, reason: String },

    /// A JSONPath filter that does not fit the record it is applied to.
    #[error("{param} {filter:?} on record {index}: {reason}")]
    Filter { param: &'static str, filter: String, index: usize, reason: String },

    /// With `JoinSource=Input` each input record needs exactly one output record.
    #[error(
        "request {request} sent {inputs} records but its response holds {outputs} records; \
         joining with the input needs one output line per input record"
    )]
    JoinMismatch { request: usize, inputs: usize, outputs: usize },

    /// `assemble` was given a different number of responses than there were requests.
    #[error("expected {expected} responses (one per request), got {got}")]
    ResponseCount { expected: usize, got: usize },

    /// A response put back at an index that has no request, or twice.
    #[error("response {index}: {reason}")]
    Response { index: usize, reason: String },

    /// A `CompressionType: Gzip` object that does not decompress.
    #[error("gzip: {reason}")]
    Gzip { reason: String },
}

impl BatchError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        BatchError::InvalidSettings { message: message.into() }
    }

    /// The input record the error is about, counted from 0 in its object, if it names one.
    pub fn record_index(&self) -> Option<usize> {
        match self {
            BatchError::RecordTooLarge { index, .. }
            | BatchError::PayloadExceeded { index, .. }
            | BatchError::BadRecord { index, .. }
            | BatchError::BadOutputRecord { index, .. }
            | BatchError::Filter { index, .. } => Some(*index),
            _ => None,
        }
    }

    /// The same error with record indexes counted `first` records later: for errors found
    /// in a piece of an object whose first record is the object's record `first`.
    pub fn shift_records(mut self, first: usize) -> Self {
        match &mut self {
            BatchError::RecordTooLarge { index, .. }
            | BatchError::PayloadExceeded { index, .. }
            | BatchError::BadRecord { index, .. }
            | BatchError::BadOutputRecord { index, .. }
            | BatchError::Filter { index, .. } => *index += first,
            _ => {}
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_facts() {
        let e = BatchError::RecordTooLarge { index: 3, size: 7, max: 5 };
        let s = e.to_string();
        assert!(s.contains("record 3") && s.contains("7 bytes") && s.contains("(5 bytes)"), "{s}");
        let e = BatchError::Filter {
            param: "OutputFilter",
            filter: "$[9]".into(),
            index: 2,
            reason: "index 9 is beyond the record's 4 elements".into(),
        };
        assert_eq!(e.to_string(), "OutputFilter \"$[9]\" on record 2: index 9 is beyond the record's 4 elements");
        assert_eq!(BatchError::invalid("nope").to_string(), "nope");
    }
}
