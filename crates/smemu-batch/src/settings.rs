//! settings: the transform job parameters this crate acts on ([`TransformSettings`]) and their AWS enum names.
//!
//! Names and allowed values follow
//! <https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTransformJob.html>,
//! `API_TransformInput`, `API_TransformOutput` and `API_DataProcessing`.

use std::fmt;
use std::str::FromStr;

use crate::error::BatchError;

/// AWS's default `MaxPayloadInMB` when the request leaves it out.
pub const DEFAULT_MAX_PAYLOAD_MB: u32 = 6;
/// AWS's upper bound for `MaxPayloadInMB`.
pub const MAX_PAYLOAD_MB_LIMIT: u32 = 100;

macro_rules! aws_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal, { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// The value as AWS spells it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = BatchError;
            /// Parses the AWS spelling (exact, as the API is case-sensitive).
            fn from_str(s: &str) -> Result<Self, BatchError> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(BatchError::invalid(format!(
                        "1 validation error detected: Value '{}' at '{}' failed to satisfy constraint: \
                         Member must satisfy enum value set: [{}]",
                        s,
                        $field,
                        [$($text),+].join(", ")
                    ))),
                }
            }
        }
    };
}

aws_enum!(
    /// `TransformInput.SplitType`: how an object is cut into records.
    SplitType, "transformInput.splitType", {
        /// The whole object is one record (AWS's default).
        #[default]
        None = "None",
        /// One record per `\n`-terminated line.
        Line = "Line",
        /// MXNet RecordIO framed records.
        RecordIO = "RecordIO",
        /// TensorFlow TFRecord framed records.
        TFRecord = "TFRecord",
    }
);

aws_enum!(
    /// `BatchStrategy`: how many records go into one request.
    ///
    /// The API documents no default; this crate's [`Default`] is `MultiRecord` (the
    /// emulator's choice: fewer requests, and identical to `SingleRecord` when
    /// `SplitType=None`).
    BatchStrategy, "batchStrategy", {
        /// One record per request.
        SingleRecord = "SingleRecord",
        /// As many whole records as fit in `MaxPayloadInMB`.
        #[default]
        MultiRecord = "MultiRecord",
    }
);

aws_enum!(
    /// `TransformOutput.AssembleWith`: how response bodies are put together.
    AssemblyType, "transformOutput.assembleWith", {
        /// Concatenate as returned (AWS's default).
        #[default]
        None = "None",
        /// Every record ends with exactly one `\n`.
        Line = "Line",
    }
);

aws_enum!(
    /// `DataProcessing.JoinSource`.
    JoinSource, "dataProcessing.joinSource", {
        /// Output only the model's results (AWS's default).
        #[default]
        None = "None",
        /// Join each original input record with its result.
        Input = "Input",
    }
);

aws_enum!(
    /// `TransformInput.CompressionType`.
    CompressionType, "transformInput.compressionType", {
        /// Objects are used as stored (AWS's default).
        #[default]
        None = "None",
        /// Objects are gunzipped before splitting.
        Gzip = "Gzip",
    }
);

/// `DataProcessing`: filters and join. Defaults are AWS's: `"$"`, `None`, `"$"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataProcessing {
    /// JSONPath selecting what of each input record is sent to the model.
    pub input_filter: String,
    /// JSONPath selecting what of each (joined) record is written out.
    pub output_filter: String,
    pub join_source: JoinSource,
}

impl Default for DataProcessing {
    fn default() -> Self {
        DataProcessing { input_filter: "$".into(), output_filter: "$".into(), join_source: JoinSource::None }
    }
}

impl DataProcessing {
    /// True when every field has its default, i.e. data processing changes nothing.
    ///
    /// An empty filter counts as `"$"`: the API allows length 0 and documents `$` as the
    /// default (<https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DataProcessing.html>).
    pub fn is_default(&self) -> bool {
        is_root_filter(&self.input_filter)
            && is_root_filter(&self.output_filter)
            && self.join_source == JoinSource::None
    }
}

pub(crate) fn is_root_filter(filter: &str) -> bool {
    let f = filter.trim();
    f.is_empty() || f == "$"
}

/// The parts of `CreateTransformJob` that decide how bytes become requests and
/// responses become an output object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformSettings {
    pub split: SplitType,
    pub batch_strategy: BatchStrategy,
    /// `MaxPayloadInMB`, in MiB (1 MB here is 1,048,576 bytes); `0` means no limit.
    pub max_payload_mb: u32,
    /// `TransformInput.ContentType`.
    pub content_type: Option<String>,
    /// `TransformOutput.Accept`; when absent, taken to be the same as `content_type`.
    pub accept: Option<String>,
    pub assemble_with: AssemblyType,
    pub data_processing: Option<DataProcessing>,
    pub compression: CompressionType,
}

impl Default for TransformSettings {
    fn default() -> Self {
        TransformSettings {
            split: SplitType::None,
            batch_strategy: BatchStrategy::default(),
            max_payload_mb: DEFAULT_MAX_PAYLOAD_MB,
            content_type: None,
            accept: None,
            assemble_with: AssemblyType::None,
            data_processing: None,
            compression: CompressionType::None,
        }
    }
}

/// The three content types `DataProcessing` understands
/// (<https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform-data-processing.html>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFormat {
    /// `text/csv`: a record is a line, seen by JSONPath as an array of its columns.
    Csv,
    /// `application/json`.
    Json,
    /// `application/jsonlines`.
    JsonLines,
}

impl DataFormat {
    /// Classifies a MIME type, ignoring case and parameters (`text/csv; charset=utf-8`).
    pub fn from_content_type(content_type: &str) -> Option<DataFormat> {
        let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        match essence.as_str() {
            "text/csv" => Some(DataFormat::Csv),
            "application/json" => Some(DataFormat::Json),
            "application/jsonlines" => Some(DataFormat::JsonLines),
            _ => None,
        }
    }

    pub(crate) fn is_json(self) -> bool {
        matches!(self, DataFormat::Json | DataFormat::JsonLines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_parse_aws_spellings_and_reject_others() {
        assert_eq!("TFRecord".parse::<SplitType>().unwrap(), SplitType::TFRecord);
        assert_eq!("RecordIO".parse::<SplitType>().unwrap(), SplitType::RecordIO);
        assert_eq!("SingleRecord".parse::<BatchStrategy>().unwrap(), BatchStrategy::SingleRecord);
        assert_eq!("Line".parse::<AssemblyType>().unwrap(), AssemblyType::Line);
        assert_eq!("Input".parse::<JoinSource>().unwrap(), JoinSource::Input);
        assert_eq!("Gzip".parse::<CompressionType>().unwrap(), CompressionType::Gzip);
        let err = "line".parse::<SplitType>().unwrap_err().to_string();
        assert!(err.contains("Value 'line' at 'transformInput.splitType'"), "{err}");
        assert!(err.contains("[None, Line, RecordIO, TFRecord]"), "{err}");
        assert_eq!(SplitType::TFRecord.to_string(), "TFRecord");
    }

    #[test]
    fn defaults_are_aws_defaults() {
        let s = TransformSettings::default();
        assert_eq!(s.max_payload_mb, 6);
        assert_eq!(s.split, SplitType::None);
        assert_eq!(s.assemble_with, AssemblyType::None);
        assert!(DataProcessing::default().is_default());
        let dp = DataProcessing { input_filter: String::new(), ..DataProcessing::default() };
        assert!(dp.is_default(), "an empty filter is the default $");
        let dp = DataProcessing { join_source: JoinSource::Input, ..DataProcessing::default() };
        assert!(!dp.is_default());
    }

    #[test]
    fn content_types_classify_with_parameters() {
        assert_eq!(DataFormat::from_content_type("text/csv"), Some(DataFormat::Csv));
        assert_eq!(DataFormat::from_content_type("Text/CSV; charset=utf-8"), Some(DataFormat::Csv));
        assert_eq!(DataFormat::from_content_type("application/jsonlines"), Some(DataFormat::JsonLines));
        assert_eq!(DataFormat::from_content_type("application/json"), Some(DataFormat::Json));
        assert_eq!(DataFormat::from_content_type("application/x-recordio-protobuf"), None);
    }
}
