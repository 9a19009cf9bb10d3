//! plan: the high-level API, a validated [`TransformPlan`] that turns an input object into
//! requests ([`TransformPlan::requests`]) and responses back into the output object
//! ([`TransformPlan::assemble`]).
//!
//! Steps, in SageMaker's order
//! (<https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform-data-processing.html#batch-transform-data-processing-workflow>):
//! gunzip (`CompressionType`), split (`SplitType`), `InputFilter` per record, batch
//! (`BatchStrategy`, `MaxPayloadInMB`); then, per response: split into output records,
//! `JoinSource`, `OutputFilter`, `AssembleWith`.
//!
//! This first version holds a whole (decompressed) object in memory; records, and the
//! request bodies of unfiltered input, are zero-copy slices of it. The splitting
//! ([`crate::split_records`]), framing and gunzip layers are iterators/readers already,
//! so a streaming version can reuse them.
//!
//! When no output processing is asked for (no join, `OutputFilter` `$`), response bodies
//! are passed through untouched, whatever their content type. Otherwise each response is
//! cut into output records: the whole body (minus one trailing newline) for a one-record
//! request in a JSON content type, one record per line in every other case; with
//! `JoinSource=Input` their number must equal the request's record count.

use std::ops::Range;

use bytes::{Bytes, BytesMut};

use crate::assemble::{assemble_bodies, push_record};
use crate::batching::{max_payload_bytes, pack};
use crate::compression::gunzip;
use crate::csv_record::{parse_csv_line, write_csv_line};
use crate::error::BatchError;
use crate::join::{join_json, parse_output_json, split_output_lines, whole_output};
use crate::jsonpath::{JsonPath, MAX_FILTER_LEN};
use crate::node::Node;
use crate::settings::{
    AssemblyType, BatchStrategy, CompressionType, DataFormat, JoinSource, MAX_PAYLOAD_MB_LIMIT, SplitType,
    TransformSettings, is_root_filter,
};
use crate::split::{Record, split_all};

/// One inference request: which records it carries and the body to POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Position among the object's requests, from 0; responses are put back by it.
    pub index: usize,
    /// Indexes of the object's records in this request.
    pub records: Range<usize>,
    /// `records.len()`.
    pub record_count: usize,
    /// The request body.
    pub body: Bytes,
}

/// Validated settings, ready to cut objects into requests and reassemble their responses.
#[derive(Debug, Clone)]
pub struct TransformPlan {
    settings: TransformSettings,
    max_bytes: Option<usize>,
    processing: Option<Processing>,
}

#[derive(Debug, Clone)]
struct Processing {
    input_format: DataFormat,
    output_format: DataFormat,
    /// `None` for `$`.
    input_filter: Option<JsonPath>,
    /// `None` for `$`.
    output_filter: Option<JsonPath>,
    join: bool,
}

impl Processing {
    fn touches_output(&self) -> bool {
        self.join || self.output_filter.is_some()
    }
}

impl TransformPlan {
    /// Checks the settings once, up front; the error reads like SageMaker's
    /// `ValidationException` (or, for filters, like its job failure reason).
    pub fn new(settings: TransformSettings) -> Result<TransformPlan, BatchError> {
        if settings.max_payload_mb > MAX_PAYLOAD_MB_LIMIT {
            return Err(BatchError::invalid(format!(
                "1 validation error detected: Value '{}' at 'maxPayloadInMB' failed to satisfy constraint: \
                 Member must have value less than or equal to {MAX_PAYLOAD_MB_LIMIT}",
                settings.max_payload_mb
            )));
        }
        let processing = match &settings.data_processing {
            Some(dp) if !dp.is_default() => Some(Self::check_processing(&settings, dp)?),
            _ => None,
        };
        Ok(TransformPlan { max_bytes: max_payload_bytes(settings.max_payload_mb), settings, processing })
    }

    fn check_processing(
        s: &TransformSettings,
        dp: &crate::settings::DataProcessing,
    ) -> Result<Processing, BatchError> {
        // "You can use input files in JSON and CSV format only", and both ContentType and
        // Accept must be text/csv, application/json or application/jsonlines
        // (https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform-data-processing.html#batch-transform-data-processing-steps).
        let classify = |field: &str, value: Option<&str>| {
            value.and_then(DataFormat::from_content_type).ok_or_else(|| {
                BatchError::invalid(format!(
                    "DataProcessing (InputFilter, JoinSource, OutputFilter) is supported only when {field} is \
                     text/csv, application/json or application/jsonlines; {field} is {}",
                    value.map_or("not set".to_owned(), |v| format!("'{v}'"))
                ))
            })
        };
        let input_format = classify("ContentType", s.content_type.as_deref())?;
        let output_format = match s.accept.as_deref() {
            None => input_format,
            accept => classify("Accept", accept)?,
        };
        if matches!(s.split, SplitType::RecordIO | SplitType::TFRecord) {
            return Err(BatchError::invalid(format!(
                "DataProcessing works on text records; it cannot be combined with SplitType {}",
                s.split
            )));
        }
        // "If you set input and output formats to text/csv, you must also set the
        // SplitType and AssemblyType parameters to line" (same page).
        let csv = input_format == DataFormat::Csv || output_format == DataFormat::Csv;
        if csv && ((input_format == DataFormat::Csv && s.split != SplitType::Line) || s.assemble_with != AssemblyType::Line)
        {
            return Err(BatchError::invalid(format!(
                "DataProcessing with text/csv requires SplitType Line and AssembleWith Line; \
                 got SplitType {} and AssembleWith {}",
                s.split, s.assemble_with
            )));
        }
        let join = dp.join_source == JoinSource::Input;
        // The output filter sees the joined record (shaped like the input) or, without a
        // join, the model's output record.
        let output_record_format = if join { input_format } else { output_format };
        let input_filter = Self::check_filter("InputFilter", "inputFilter", &dp.input_filter, input_format)?;
        let output_filter =
            Self::check_filter("OutputFilter", "outputFilter", &dp.output_filter, output_record_format)?;
        Ok(Processing { input_format, output_format, input_filter, output_filter, join })
    }

    fn check_filter(
        param: &str,
        field: &str,
        filter: &str,
        format: DataFormat,
    ) -> Result<Option<JsonPath>, BatchError> {
        if filter.chars().count() > MAX_FILTER_LEN {
            return Err(BatchError::invalid(format!(
                "1 validation error detected: Value '{filter}' at 'dataProcessing.{field}' failed to satisfy \
                 constraint: Member must have length less than or equal to {MAX_FILTER_LEN}"
            )));
        }
        if is_root_filter(filter) {
            return Ok(None);
        }
        let path = JsonPath::parse(filter.trim())
            .map_err(|reason| BatchError::invalid(format!("Invalid JsonPath: {filter}: {reason}")))?;
        // "For CSV data, each row is taken as a JSON array, so only index based JSONPaths
        // can be applied, e.g. $[0], $[1:]" (batch-transform-data-processing.html#data-processing-operators).
        if format == DataFormat::Csv && !path.is_index_only() {
            return Err(BatchError::invalid(format!(
                "Invalid JsonPath: {filter}: {param} on text/csv data must select columns by index, \
                 such as $[0] or $[1:]"
            )));
        }
        Ok(Some(path))
    }

    /// The settings this plan was made from.
    pub fn settings(&self) -> &TransformSettings {
        &self.settings
    }

    /// The request size limit in bytes (`None` for `MaxPayloadInMB=0`).
    pub fn max_payload_bytes(&self) -> Option<usize> {
        self.max_bytes
    }

    /// Whether response bodies are rewritten (joined or filtered) rather than passed through.
    pub fn processes_output(&self) -> bool {
        self.processing.as_ref().is_some_and(Processing::touches_output)
    }

    /// Decompresses (if asked), splits, filters and batches one input object.
    pub fn prepare(&self, object: impl Into<Bytes>) -> Result<PreparedObject, BatchError> {
        let raw = object.into();
        let object = match self.settings.compression {
            CompressionType::Gzip => gunzip(&raw)?,
            CompressionType::None => raw,
        };
        let records = split_all(&object, self.settings.split)?;
        let pieces = records.iter().map(|r| self.request_piece(r)).collect::<Result<Vec<_>, _>>()?;
        let sizes: Vec<usize> = pieces.iter().map(Bytes::len).collect();
        let batches = pack(&sizes, self.settings.batch_strategy, self.max_bytes)?;
        let filtered = self.processing.as_ref().is_some_and(|p| p.input_filter.is_some());
        let requests = batches
            .into_iter()
            .enumerate()
            .map(|(index, range)| {
                let body = match range.len() {
                    1 => pieces[range.start].clone(),
                    // Unfiltered records sent with MultiRecord are their raw bytes, which
                    // lie back to back in the object: the body is one slice of it.
                    _ if !filtered => {
                        object.slice(records[range.start].span.start..records[range.end - 1].span.end)
                    }
                    _ => {
                        let mut b = BytesMut::with_capacity(sizes[range.clone()].iter().sum());
                        for p in &pieces[range.clone()] {
                            b.extend_from_slice(p);
                        }
                        b.freeze()
                    }
                };
                Request { index, record_count: range.len(), records: range, body }
            })
            .collect();
        Ok(PreparedObject { plan: self.clone(), object, records, requests })
    }

    /// The requests for one input object, in input order.
    pub fn requests(&self, object: impl Into<Bytes>) -> Result<Vec<Request>, BatchError> {
        Ok(self.prepare(object)?.requests)
    }

    /// The output object for one input object, given one response per request in request
    /// order (as returned by [`TransformPlan::requests`] for the same bytes).
    pub fn assemble(&self, object: impl Into<Bytes>, responses: Vec<Bytes>) -> Result<Bytes, BatchError> {
        self.prepare(object)?.assemble(responses)
    }

    /// What one record contributes to a request body.
    fn request_piece(&self, r: &Record) -> Result<Bytes, BatchError> {
        if let Some(p) = &self.processing
            && let Some(filter) = &p.input_filter
        {
            let selected = match p.input_format {
                DataFormat::Csv => {
                    let cols = parse_csv_line(&r.payload).map_err(|reason| BatchError::BadRecord { index: r.index, reason })?;
                    filter.select(&Node::Array(cols.into_iter().map(Node::Text).collect()))
                }
                DataFormat::Json | DataFormat::JsonLines => {
                    let node = Node::parse(&r.payload).map_err(|reason| BatchError::BadRecord { index: r.index, reason })?;
                    filter.select(&node)
                }
            }
            .map_err(|reason| BatchError::Filter {
                param: "InputFilter",
                filter: filter.as_str().to_owned(),
                index: r.index,
                reason,
            })?;
            let mut out = serialize(&selected, p.input_format);
            // The record keeps its own line ending, as unfiltered records do.
            out.extend_from_slice(&r.terminator);
            return Ok(Bytes::from(out));
        }
        Ok(match self.settings.split {
            // Framing is kept with MultiRecord and stripped with SingleRecord: "padding is
            // removed if the value of BatchStrategy is set to SingleRecord. Padding is not
            // removed if the value of BatchStrategy is set to MultiRecord"
            // (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformInput.html).
            SplitType::RecordIO | SplitType::TFRecord if self.settings.batch_strategy == BatchStrategy::SingleRecord => {
                r.payload.clone()
            }
            _ => r.raw.clone(),
        })
    }
}

fn serialize(node: &Node, format: DataFormat) -> Vec<u8> {
    match format {
        DataFormat::Csv => {
            let cols: Vec<String> = match node {
                Node::Array(items) => items.iter().map(Node::to_column).collect(),
                other => vec![other.to_column()],
            };
            let mut out = Vec::new();
            write_csv_line(&cols, &mut out);
            out
        }
        DataFormat::Json | DataFormat::JsonLines => node.to_json(),
    }
}

/// One object cut into records and requests, kept to reassemble its responses without
/// splitting it again.
#[derive(Debug, Clone)]
pub struct PreparedObject {
    plan: TransformPlan,
    object: Bytes,
    records: Vec<Record>,
    requests: Vec<Request>,
}

impl PreparedObject {
    /// The requests, in input order.
    pub fn requests(&self) -> &[Request] {
        &self.requests
    }

    /// The object's records.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The object after decompression.
    pub fn object(&self) -> &Bytes {
        &self.object
    }

    /// Builds the output object from one response per request, in request order
    /// (see [`crate::Reassembler`] for responses that arrive out of order).
    pub fn assemble(&self, responses: Vec<Bytes>) -> Result<Bytes, BatchError> {
        if responses.len() != self.requests.len() {
            return Err(BatchError::ResponseCount { expected: self.requests.len(), got: responses.len() });
        }
        let with = self.plan.settings.assemble_with;
        let Some(p) = self.plan.processing.as_ref().filter(|p| p.touches_output()) else {
            return Ok(assemble_bodies(&responses, with));
        };
        let mut out = BytesMut::new();
        for (req, body) in self.requests.iter().zip(&responses) {
            let outputs = if req.record_count == 1 && p.output_format.is_json() {
                vec![whole_output(body)]
            } else {
                split_output_lines(body)
            };
            if p.join && outputs.len() != req.record_count {
                return Err(BatchError::JoinMismatch {
                    request: req.index,
                    inputs: req.record_count,
                    outputs: outputs.len(),
                });
            }
            for (k, output) in outputs.iter().enumerate() {
                // With a join, output k belongs to input record records.start + k.
                let index = (req.records.start + k).min(req.records.end.saturating_sub(1));
                let bad_output = |reason: String| BatchError::Response {
                    index: req.index,
                    reason: format!("output record {k} is not valid CSV: {reason}"),
                };
                let (record, format) = if p.join {
                    let input = &self.records[index];
                    let bad_input = |reason| BatchError::BadRecord { index, reason };
                    let joined = match p.input_format {
                        DataFormat::Csv => {
                            let mut cols = parse_csv_line(&input.payload).map_err(bad_input)?;
                            cols.extend(parse_csv_line(output).map_err(bad_output)?);
                            Node::Array(cols.into_iter().map(Node::Text).collect())
                        }
                        DataFormat::Json | DataFormat::JsonLines => {
                            join_json(Node::parse(&input.payload).map_err(bad_input)?, parse_output_json(output))
                        }
                    };
                    (joined, p.input_format)
                } else {
                    let node = match p.output_format {
                        DataFormat::Csv => {
                            Node::Array(parse_csv_line(output).map_err(bad_output)?.into_iter().map(Node::Text).collect())
                        }
                        DataFormat::Json | DataFormat::JsonLines => parse_output_json(output),
                    };
                    (node, p.output_format)
                };
                let selected = match &p.output_filter {
                    Some(f) => f.select(&record).map_err(|reason| BatchError::Filter {
                        param: "OutputFilter",
                        filter: f.as_str().to_owned(),
                        index,
                        reason,
                    })?,
                    None => record,
                };
                push_record(&mut out, &serialize(&selected, format), with);
            }
        }
        Ok(out.freeze())
    }
}
