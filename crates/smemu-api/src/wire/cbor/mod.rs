//! CBOR (RFC 8949) for the generated shapes, as Smithy RPC v2 CBOR carries them: structures and maps
//! as CBOR maps, lists as arrays, timestamps as tag 1 over epoch seconds, blobs as byte strings
//! (https://smithy.io/2.0/additional-specs/protocols/smithy-rpc-v2.html#shape-serialization).
//!
//! Serde over minicbor's tokens (the codec the AWS SDKs' own `aws-smithy-cbor` uses), so the shapes'
//! serde names are the map keys, as in JSON. Decoding is bounded: nesting depth ([`MAX_DEPTH`]),
//! and nothing is allocated from a declared length (the input, at most the listener's body limit,
//! bounds every string and array).

mod de;
mod ser;

pub(crate) use de::from_slice;
pub(crate) use ser::to_vec;

/// The deepest nesting of arrays, maps and tags decoded. CloudWatch's deepest input
/// (GetMetricData → query → MetricStat → Metric → Dimensions → Dimension) is 6 levels; the margin
/// is for shapes yet to come, the bound for the decoder's stack.
pub(crate) const MAX_DEPTH: usize = 32;

/// Why a body is not the operation's input.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CborError {
    /// Not well-formed CBOR (truncated, a reserved byte, invalid UTF-8 in a text string...).
    #[error("the body is not well-formed CBOR: {0}")]
    Syntax(#[from] minicbor::decode::Error),
    #[error("the body nests arrays, maps or tags more than {MAX_DEPTH} levels deep")]
    TooDeep,
    /// Well-formed, but a member's type is not the shape's.
    #[error("the body does not match the operation's input shape: {0}")]
    Shape(String),
    #[error("the body has bytes after its data item")]
    Trailing,
}

impl serde::de::Error for CborError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        CborError::Shape(msg.to_string())
    }
}

/// Encoding into a `Vec` cannot fail on I/O; a serde error here is a shape smemu cannot encode.
#[derive(Debug, thiserror::Error)]
#[error("CBOR encoding failed: {0}")]
pub(crate) struct EncodeError(String);

impl serde::ser::Error for EncodeError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        EncodeError(msg.to_string())
    }
}
