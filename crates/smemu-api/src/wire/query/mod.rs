//! The AWS query protocol's forms and XML for the generated shapes: a request's parameters
//! (`Action=GetMetricStatistics&Namespace=...&Dimensions.member.1.Name=...`) decoded into an input
//! shape, an output shape written as the XML the protocol answers with
//! (https://smithy.io/2.0/aws/protocols/aws-query-protocol.html).
//!
//! - `form`: the parameters as a tree of dotted names, bounded in count, depth and index values.
//! - `de`: a serde `Deserializer` over that tree (lists `X.member.N`, maps `X.entry.N.key`/`.value`,
//!   scalars parsed from text, timestamps ISO 8601).
//! - `xml`: a serde `Serializer` writing a shape's members as elements (lists as `<member>`, maps as
//!   `<entry><key/><value/></entry>`, timestamps ISO 8601).

mod de;
mod form;
mod xml;

pub(crate) use de::from_params;
pub(crate) use form::Params;
#[cfg(test)]
pub(crate) use form::{MAX_DEPTH, MAX_INDEX};
pub(crate) use xml::{escape, to_xml};

/// Why a form is not the operation's input. Each is answered with the query protocol's common
/// error for it (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/CommonErrors.html).
#[derive(Debug, thiserror::Error, PartialEq)]
pub(crate) enum QueryError {
    /// Not `name=value` pairs in `application/x-www-form-urlencoded` (bad UTF-8 after decoding).
    #[error("The query string is not valid form data: {0}")]
    Malformed(String),
    /// A parameter name the protocol cannot mean: an empty segment, a position that is not an
    /// integer from 1 to `MAX_INDEX`, a name given twice, too many parameters or segments.
    #[error("{0}")]
    Parameter(String),
    /// A parameter whose text is not a value of the member's type.
    #[error("The value {value} for parameter {parameter} is invalid.")]
    Value { parameter: String, value: String },
    /// Any other mismatch between the form and the shape that serde reports.
    #[error("{0}")]
    Shape(String),
}

impl serde::de::Error for QueryError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        QueryError::Shape(msg.to_string())
    }
}

impl From<QueryError> for crate::ApiError {
    fn from(err: QueryError) -> Self {
        use crate::ApiError;
        match err {
            QueryError::Malformed(message) => ApiError::query_malformed(message),
            QueryError::Parameter(message) => ApiError::query_invalid_parameter(message),
            QueryError::Value { parameter, value } => ApiError::cw_invalid_value(&parameter, &value),
            QueryError::Shape(message) => ApiError::cw_invalid_parameter(message),
        }
    }
}

/// A shape smemu cannot write as XML (none of the generated outputs).
#[derive(Debug, thiserror::Error)]
#[error("XML encoding failed: {0}")]
pub(crate) struct XmlError(String);

impl serde::ser::Error for XmlError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        XmlError(msg.to_string())
    }
}
