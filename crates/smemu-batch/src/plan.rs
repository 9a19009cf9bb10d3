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
use crate::node::{Node, NodeError};
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

    fn check_processing(s: &TransformSettings, dp: &crate::settings::DataProcessing) -> Result<Processing, BatchError> {
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
        if csv
            && ((input_format == DataFormat::Csv && s.split != SplitType::Line)
                || s.assemble_with != AssemblyType::Line)
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
        self.prepare_from(object, 0)
    }

    /// Splits, filters and batches `data`, bytes of an object that are already decompressed
    /// (whatever `CompressionType` says) and whose first record is the object's record
    /// `first_record`: a reader that cuts an object into pieces prepares each piece with
    /// this, so that errors name records by their place in the whole object.
    pub fn prepare_from(&self, data: Bytes, first_record: usize) -> Result<PreparedObject, BatchError> {
        self.prepare_plain(data, first_record).map_err(|err| err.shift_records(first_record))
    }

    fn prepare_plain(&self, object: Bytes, first_record: usize) -> Result<PreparedObject, BatchError> {
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
                    _ if !filtered => object.slice(records[range.start].span.start..records[range.end - 1].span.end),
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
        Ok(PreparedObject { plan: self.clone(), object, records, requests, first_record })
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
                    let cols = parse_csv_line(&r.payload)
                        .map_err(|reason| BatchError::BadRecord { index: r.index, reason })?;
                    filter.select(&Node::Array(cols.into_iter().map(Node::Text).collect()))
                }
                DataFormat::Json | DataFormat::JsonLines => {
                    let node = Node::parse(&r.payload)
                        .map_err(|err| BatchError::BadRecord { index: r.index, reason: err.to_string() })?;
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
            SplitType::RecordIO | SplitType::TFRecord
                if self.settings.batch_strategy == BatchStrategy::SingleRecord =>
            {
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
    /// The object's index of `records[0]`, added to record indexes in errors.
    first_record: usize,
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

    /// For reading an object in pieces: drops the last request when there are several, since
    /// records still to come may belong in its batch, and returns where its records start in
    /// the object. Because MultiRecord packs greedily, preparing the rest again from there gives
    /// the very batches the whole object would have.
    pub fn hold_back_last(&mut self) -> Option<usize> {
        if self.requests.len() < 2 {
            return None;
        }
        let last = self.requests.pop()?;
        let start = self.records.get(last.records.start)?.span.start;
        self.records.truncate(last.records.start);
        Some(start)
    }

    /// Builds the output object from one response per request, in request order
    /// (see [`crate::Reassembler`] for responses that arrive out of order).
    pub fn assemble(&self, responses: Vec<Bytes>) -> Result<Bytes, BatchError> {
        self.assemble_plain(responses).map_err(|err| err.shift_records(self.first_record))
    }

    fn assemble_plain(&self, responses: Vec<Bytes>) -> Result<Bytes, BatchError> {
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
                let deep_output = |k: usize, err: NodeError| BatchError::BadOutputRecord {
                    index,
                    output: k,
                    reason: err.to_string(),
                };
                let bad_output = |reason: String| BatchError::Response {
                    index: req.index,
                    reason: format!("output record {k} is not valid CSV: {reason}"),
                };
                let (record, format) = if p.join {
                    let input = &self.records[index];
                    let bad_input = |reason| BatchError::BadRecord { index, reason };
                    let bad_json = |err: NodeError| BatchError::BadRecord { index, reason: err.to_string() };
                    let joined = match p.input_format {
                        DataFormat::Csv => {
                            let mut cols = parse_csv_line(&input.payload).map_err(bad_input)?;
                            cols.extend(parse_csv_line(output).map_err(bad_output)?);
                            Node::Array(cols.into_iter().map(Node::Text).collect())
                        }
                        DataFormat::Json | DataFormat::JsonLines => join_json(
                            Node::parse(&input.payload).map_err(bad_json)?,
                            parse_output_json(output).map_err(|err| deep_output(k, err))?,
                        ),
                    };
                    (joined, p.input_format)
                } else {
                    let node = match p.output_format {
                        DataFormat::Csv => Node::Array(
                            parse_csv_line(output).map_err(bad_output)?.into_iter().map(Node::Text).collect(),
                        ),
                        DataFormat::Json | DataFormat::JsonLines => {
                            parse_output_json(output).map_err(|err| deep_output(k, err))?
                        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compression::gzip;
    use crate::framing::{encode_recordio, encode_tfrecord};
    use crate::settings::DataProcessing;
    use crate::{BYTES_PER_MB, Reassembler};

    fn b(s: &str) -> Bytes {
        Bytes::from(s.to_owned())
    }

    fn text(b: &Bytes) -> String {
        String::from_utf8(b.to_vec()).unwrap()
    }

    fn bodies(reqs: &[Request]) -> Vec<String> {
        reqs.iter().map(|r| text(&r.body)).collect()
    }

    fn line_settings(strategy: BatchStrategy, mb: u32) -> TransformSettings {
        TransformSettings {
            split: SplitType::Line,
            batch_strategy: strategy,
            max_payload_mb: mb,
            content_type: Some("text/csv".into()),
            ..TransformSettings::default()
        }
    }

    #[test]
    fn preparing_in_pieces_with_the_last_batch_held_back_gives_the_whole_objects_batches() {
        let plan = TransformPlan::new(line_settings(BatchStrategy::MultiRecord, 1)).unwrap();
        let object: Bytes = (0..100_000).map(|i| format!("{i},{}\n", "x".repeat(i % 97))).collect::<String>().into();
        let whole = bodies(plan.prepare(object.clone()).unwrap().requests());
        assert!(whole.len() > 3, "{}", whole.len());
        let mut pieces = Vec::new();
        let mut rest = object;
        loop {
            // Cut about 1.5 MB in, at a line end, as a reader of the object would.
            let cut = rest.len().min(1_500_000);
            let end = rest[..cut].iter().rposition(|&b| b == b'\n').map_or(rest.len(), |i| i + 1);
            let last_piece = end == rest.len();
            let mut prepared = plan.prepare(rest.slice(..end)).unwrap();
            let held = if last_piece { None } else { prepared.hold_back_last() };
            pieces.extend(bodies(prepared.requests()));
            rest = match held {
                Some(start) => [&rest[start..end], &rest[end..]].concat().into(),
                None => rest.slice(end..),
            };
            if last_piece {
                break;
            }
        }
        assert_eq!(pieces, whole);
    }

    fn dp(input: &str, join: JoinSource, output: &str) -> Option<DataProcessing> {
        Some(DataProcessing { input_filter: input.into(), output_filter: output.into(), join_source: join })
    }

    fn csv_plan(input: &str, join: JoinSource, output: &str, strategy: BatchStrategy) -> TransformPlan {
        TransformPlan::new(TransformSettings {
            assemble_with: AssemblyType::Line,
            data_processing: dp(input, join, output),
            ..line_settings(strategy, 6)
        })
        .unwrap()
    }

    fn json_plan(content_type: &str, split: SplitType, input: &str, join: JoinSource, output: &str) -> TransformPlan {
        TransformPlan::new(TransformSettings {
            split,
            batch_strategy: BatchStrategy::MultiRecord,
            content_type: Some(content_type.into()),
            assemble_with: AssemblyType::Line,
            data_processing: dp(input, join, output),
            ..TransformSettings::default()
        })
        .unwrap()
    }

    fn invalid(settings: TransformSettings) -> String {
        match TransformPlan::new(settings) {
            Err(BatchError::InvalidSettings { message }) => message,
            other => panic!("expected InvalidSettings, got {other:?}"),
        }
    }

    // ---- validation -------------------------------------------------------------------

    #[test]
    fn max_payload_above_100_is_refused() {
        let m = invalid(TransformSettings { max_payload_mb: 101, ..TransformSettings::default() });
        assert!(m.contains("Value '101' at 'maxPayloadInMB'") && m.contains("less than or equal to 100"), "{m}");
        assert!(TransformPlan::new(TransformSettings { max_payload_mb: 100, ..TransformSettings::default() }).is_ok());
    }

    #[test]
    fn data_processing_needs_csv_or_json_content_types() {
        let s = TransformSettings {
            content_type: Some("application/x-image".into()),
            data_processing: dp("$[1:]", JoinSource::None, "$"),
            ..TransformSettings::default()
        };
        let m = invalid(s.clone());
        assert!(m.contains("ContentType is 'application/x-image'"), "{m}");
        let m = invalid(TransformSettings { content_type: None, ..s.clone() });
        assert!(m.contains("ContentType is not set"), "{m}");
        let m = invalid(TransformSettings {
            content_type: Some("application/json".into()),
            accept: Some("text/plain".into()),
            ..s.clone()
        });
        assert!(m.contains("Accept is 'text/plain'"), "{m}");
        // Default DataProcessing is no processing: any content type is fine.
        let ok = TransformSettings { data_processing: Some(DataProcessing::default()), ..s };
        assert!(!TransformPlan::new(ok).unwrap().processes_output());
    }

    #[test]
    fn csv_data_processing_needs_line_split_and_line_assembly() {
        let base = TransformSettings {
            content_type: Some("text/csv".into()),
            data_processing: dp("$", JoinSource::Input, "$"),
            split: SplitType::Line,
            assemble_with: AssemblyType::Line,
            ..TransformSettings::default()
        };
        assert!(TransformPlan::new(base.clone()).unwrap().processes_output());
        let m = invalid(TransformSettings { split: SplitType::None, ..base.clone() });
        assert!(m.contains("requires SplitType Line and AssembleWith Line; got SplitType None"), "{m}");
        let m = invalid(TransformSettings { assemble_with: AssemblyType::None, ..base.clone() });
        assert!(m.contains("AssembleWith None"), "{m}");
        // JSON Lines may use Line or not.
        let json = TransformSettings { content_type: Some("application/jsonlines".into()), ..base };
        assert!(TransformPlan::new(TransformSettings { assemble_with: AssemblyType::None, ..json }).is_ok());
    }

    #[test]
    fn data_processing_refuses_binary_split_types() {
        let m = invalid(TransformSettings {
            split: SplitType::TFRecord,
            content_type: Some("application/json".into()),
            data_processing: dp("$.a", JoinSource::None, "$"),
            ..TransformSettings::default()
        });
        assert!(m.contains("SplitType TFRecord"), "{m}");
    }

    #[test]
    fn filters_are_checked_up_front() {
        let csv = |input: &str, output: &str| TransformSettings {
            assemble_with: AssemblyType::Line,
            data_processing: dp(input, JoinSource::Input, output),
            ..line_settings(BatchStrategy::MultiRecord, 6)
        };
        let m = invalid(csv("$.features", "$"));
        assert!(m.contains("Invalid JsonPath: $.features") && m.contains("by index"), "{m}");
        let m = invalid(csv("$[1:]", "$['id','SageMakerOutput']"));
        assert!(m.contains("OutputFilter on text/csv"), "{m}");
        let m = invalid(csv("$", "$[0:2,246:]"));
        assert_eq!(
            m,
            "Invalid JsonPath: $[0:2,246:]: only single range filters of format (eg: [1:5]) are supported. \
             Format [0:2,246:] is not supported"
        );
        let m = invalid(csv("$..x", "$"));
        assert!(m.contains("recursive descent"), "{m}");
        let long = format!("$[{}]", "0,".repeat(31) + "0");
        assert!(long.len() > 63);
        let m = invalid(csv(&long, "$"));
        assert!(m.contains("at 'dataProcessing.inputFilter'") && m.contains("length less than or equal to 63"), "{m}");
    }

    // ---- splitting and batching -------------------------------------------------------

    #[test]
    fn line_single_record_sends_each_line_with_its_newline() {
        let plan = TransformPlan::new(line_settings(BatchStrategy::SingleRecord, 6)).unwrap();
        let reqs = plan.requests(b("a,1\nb,2\r\nc,3")).unwrap();
        assert_eq!(bodies(&reqs), ["a,1\n", "b,2\r\n", "c,3"]);
        assert_eq!(reqs[2].index, 2);
        assert_eq!(reqs[2].records, 2..3);
        assert_eq!(reqs[2].record_count, 1);
    }

    #[test]
    fn multi_record_with_no_limit_sends_the_whole_object_as_one_slice() {
        let plan = TransformPlan::new(line_settings(BatchStrategy::MultiRecord, 0)).unwrap();
        let object = b("a,1\nb,2\nc,3\n");
        let prepared = plan.prepare(object.clone()).unwrap();
        assert_eq!(prepared.requests().len(), 1);
        let r = &prepared.requests()[0];
        assert_eq!((r.records.clone(), r.record_count), (0..3, 3));
        assert_eq!(r.body, object);
        assert_eq!(
            r.body.as_ptr(),
            prepared.object().as_ptr(),
            "unfiltered multi-record bodies are slices, not copies"
        );
    }

    #[test]
    fn multi_record_packs_up_to_exactly_max_payload() {
        // Two lines of exactly half a MiB each (newline included) fill 1 MiB exactly.
        let half = "x".repeat(BYTES_PER_MB / 2 - 1) + "\n";
        let object = format!("{half}{half}tail\n");
        let plan = TransformPlan::new(line_settings(BatchStrategy::MultiRecord, 1)).unwrap();
        let reqs = plan.requests(b(&object)).unwrap();
        assert_eq!(reqs.iter().map(|r| r.records.clone()).collect::<Vec<_>>(), vec![0..2, 2..3]);
        assert_eq!(reqs[0].body.len(), BYTES_PER_MB);
        assert_eq!(text(&reqs[1].body), "tail\n");
        // One byte more and the second line no longer fits with the first.
        let object = format!("{half}x{half}");
        let reqs = plan.requests(b(&object)).unwrap();
        assert_eq!(reqs.len(), 2);
    }

    #[test]
    fn a_record_over_max_payload_fails_the_object() {
        let big = "y".repeat(BYTES_PER_MB) + "\n";
        let object = format!("small\n{big}");
        for strategy in [BatchStrategy::MultiRecord, BatchStrategy::SingleRecord] {
            let plan = TransformPlan::new(line_settings(strategy, 1)).unwrap();
            let err = plan.requests(b(&object)).unwrap_err();
            assert_eq!(err, BatchError::RecordTooLarge { index: 1, size: BYTES_PER_MB + 1, max: BYTES_PER_MB });
        }
        // SplitType None: the whole object is the record.
        let plan = TransformPlan::new(TransformSettings { max_payload_mb: 1, ..TransformSettings::default() }).unwrap();
        let err = plan.requests(b(&object)).unwrap_err();
        assert!(matches!(err, BatchError::RecordTooLarge { index: 0, .. }), "{err}");
        // And with no limit it goes through.
        let plan = TransformPlan::new(line_settings(BatchStrategy::SingleRecord, 0)).unwrap();
        assert_eq!(plan.requests(b(&object)).unwrap().len(), 2);
    }

    #[test]
    fn split_none_sends_the_object_once() {
        let plan = TransformPlan::new(TransformSettings::default()).unwrap();
        let reqs = plan.requests(b("a\nb\n")).unwrap();
        assert_eq!(bodies(&reqs), ["a\nb\n"]);
        assert_eq!(plan.requests(Bytes::new()).unwrap().len(), 1, "an empty object is still one request");
    }

    #[test]
    fn recordio_keeps_framing_with_multi_record_and_strips_it_with_single_record() {
        let mut object = encode_recordio(b"img-1").unwrap();
        object.extend(encode_recordio(b"img-22").unwrap());
        let object = Bytes::from(object);
        let settings =
            TransformSettings { split: SplitType::RecordIO, max_payload_mb: 0, ..TransformSettings::default() };
        let multi =
            TransformPlan::new(TransformSettings { batch_strategy: BatchStrategy::MultiRecord, ..settings.clone() })
                .unwrap()
                .requests(object.clone())
                .unwrap();
        assert_eq!(multi.len(), 1);
        assert_eq!(multi[0].body, object, "framed records, padding included");
        let single = TransformPlan::new(TransformSettings { batch_strategy: BatchStrategy::SingleRecord, ..settings })
            .unwrap()
            .requests(object)
            .unwrap();
        assert_eq!(bodies(&single), ["img-1", "img-22"]);
    }

    #[test]
    fn tfrecord_keeps_or_strips_framing_and_fails_on_crc() {
        let mut object = encode_tfrecord(b"ex-1");
        object.extend(encode_tfrecord(b"ex-2"));
        let object = Bytes::from(object);
        let settings = TransformSettings { split: SplitType::TFRecord, ..TransformSettings::default() };
        let single =
            TransformPlan::new(TransformSettings { batch_strategy: BatchStrategy::SingleRecord, ..settings.clone() })
                .unwrap();
        assert_eq!(bodies(&single.requests(object.clone()).unwrap()), ["ex-1", "ex-2"]);
        let multi = TransformPlan::new(settings).unwrap();
        assert_eq!(multi.requests(object.clone()).unwrap()[0].body, object);
        let mut corrupt = object.to_vec();
        let last = corrupt.len() - 6;
        corrupt[last] ^= 0x55;
        let err = multi.requests(corrupt).unwrap_err();
        assert!(matches!(&err, BatchError::BadFraming { format: "TFRecord", offset: 20, .. }), "{err}");
    }

    #[test]
    fn gzip_objects_are_decompressed_first() {
        let plan = TransformPlan::new(TransformSettings {
            compression: CompressionType::Gzip,
            ..line_settings(BatchStrategy::SingleRecord, 6)
        })
        .unwrap();
        let reqs = plan.requests(gzip(b"r1\nr2\n")).unwrap();
        assert_eq!(bodies(&reqs), ["r1\n", "r2\n"]);
        let out = plan.assemble(gzip(b"r1\nr2\n"), vec![b("o1"), b("o2")]).unwrap();
        assert_eq!(text(&out), "o1o2");
        assert!(matches!(plan.requests(b("not gzip")), Err(BatchError::Gzip { .. })));
    }

    // ---- assembly without data processing ---------------------------------------------

    #[test]
    fn assemble_with_line_and_none() {
        let object = b("a\nb\nc\n");
        let line = TransformPlan::new(TransformSettings {
            assemble_with: AssemblyType::Line,
            ..line_settings(BatchStrategy::SingleRecord, 6)
        })
        .unwrap();
        let out = line.assemble(object.clone(), vec![b("1"), b("2\n"), b("3")]).unwrap();
        assert_eq!(text(&out), "1\n2\n3\n");
        let none = TransformPlan::new(line_settings(BatchStrategy::SingleRecord, 6)).unwrap();
        let out = none.assemble(object.clone(), vec![b("1"), b("2\n"), b("3")]).unwrap();
        assert_eq!(text(&out), "12\n3");
        let err = none.assemble(object, vec![b("1")]).unwrap_err();
        assert_eq!(err, BatchError::ResponseCount { expected: 3, got: 1 });
    }

    #[test]
    fn empty_line_split_object_has_no_requests_and_an_empty_output() {
        let plan = csv_plan("$[1:]", JoinSource::Input, "$", BatchStrategy::MultiRecord);
        let prepared = plan.prepare(Bytes::new()).unwrap();
        assert!(prepared.requests().is_empty());
        assert!(prepared.assemble(vec![]).unwrap().is_empty());
    }

    #[test]
    fn responses_arriving_out_of_order_are_put_back_by_index() {
        let plan = TransformPlan::new(TransformSettings {
            assemble_with: AssemblyType::Line,
            ..line_settings(BatchStrategy::SingleRecord, 6)
        })
        .unwrap();
        let prepared = plan.prepare(b("a\nb\nc\n")).unwrap();
        let mut slots = Reassembler::new(prepared.requests().len());
        for r in prepared.requests().iter().rev() {
            slots.insert(r.index, Bytes::from(text(&r.body).trim().to_uppercase())).unwrap();
        }
        let out = prepared.assemble(slots.into_ordered().unwrap()).unwrap();
        assert_eq!(text(&out), "A\nB\nC\n");
    }

    // ---- DataProcessing: CSV ------------------------------------------------------------

    #[test]
    fn csv_input_filter_join_and_output_filter() {
        // The guide's "ID column" example, with quoting and a CRLF line.
        let plan = csv_plan("$[1:]", JoinSource::Input, "$[0,-1]", BatchStrategy::MultiRecord);
        let object = b("\"id,1\",1.5,\"say \"\"hi\"\"\"\r\nid2,2.5,x\n");
        let prepared = plan.prepare(object).unwrap();
        assert_eq!(bodies(prepared.requests()), ["1.5,\"say \"\"hi\"\"\"\r\n2.5,x\n"]);
        let out = prepared.assemble(vec![b("0.25\n0.75\n")]).unwrap();
        assert_eq!(text(&out), "\"id,1\",0.25\nid2,0.75\n");
    }

    #[test]
    fn csv_join_keeps_all_input_columns_then_output_columns() {
        let plan = csv_plan("$", JoinSource::Input, "$", BatchStrategy::SingleRecord);
        let prepared = plan.prepare(b("1,2,3\n4,5,6")).unwrap();
        assert_eq!(bodies(prepared.requests()), ["1,2,3\n", "4,5,6"]);
        let out = prepared.assemble(vec![b("1\n"), b("0,\"a,b\"")]).unwrap();
        assert_eq!(text(&out), "1,2,3,1\n4,5,6,0,\"a,b\"\n");
    }

    #[test]
    fn csv_output_filter_alone_selects_from_the_output() {
        let plan = csv_plan("$", JoinSource::None, "$[0]", BatchStrategy::MultiRecord);
        let out = plan.assemble(b("q\nr\n"), vec![b("a,b,c\nd,e,f\n")]).unwrap();
        assert_eq!(text(&out), "a\nd\n");
    }

    #[test]
    fn input_filter_changes_what_counts_against_max_payload() {
        // Each raw line is over 1 MiB because of its first column, which the filter drops.
        let id = "i".repeat(BYTES_PER_MB);
        let object = format!("{id},1\n{id},2\n");
        let plan = TransformPlan::new(TransformSettings {
            assemble_with: AssemblyType::Line,
            data_processing: dp("$[1:]", JoinSource::None, "$"),
            ..line_settings(BatchStrategy::MultiRecord, 1)
        })
        .unwrap();
        let reqs = plan.requests(b(&object)).unwrap();
        assert_eq!(bodies(&reqs), ["1\n2\n"]);
    }

    #[test]
    fn output_index_beyond_the_joined_record_names_the_filter() {
        let plan = csv_plan("$[1:]", JoinSource::Input, "$[0,4]", BatchStrategy::MultiRecord);
        let err = plan.assemble(b("id,1,2\n"), vec![b("0.5\n")]).unwrap_err();
        assert_eq!(
            err,
            BatchError::Filter {
                param: "OutputFilter",
                filter: "$[0,4]".into(),
                index: 0,
                reason: "index 4 is beyond the record's 4 elements".into()
            }
        );
        assert!(err.to_string().starts_with("OutputFilter \"$[0,4]\" on record 0"), "{err}");
    }

    #[test]
    fn input_index_beyond_the_record_names_the_input_filter() {
        let plan = csv_plan("$[3]", JoinSource::None, "$", BatchStrategy::MultiRecord);
        let err = plan.requests(b("a,b,c,d\na,b\n")).unwrap_err();
        assert!(
            matches!(&err, BatchError::Filter { param: "InputFilter", index: 1, filter, .. } if filter == "$[3]"),
            "{err}"
        );
    }

    #[test]
    fn join_needs_one_output_line_per_input_record() {
        let plan = csv_plan("$[1:]", JoinSource::Input, "$", BatchStrategy::MultiRecord);
        let err = plan.assemble(b("a,1\nb,2\nc,3\n"), vec![b("0.1\n0.2\n")]).unwrap_err();
        assert_eq!(err, BatchError::JoinMismatch { request: 0, inputs: 3, outputs: 2 });
        // A trailing newline is not an extra record, but a blank line is.
        assert!(plan.assemble(b("a,1\nb,2\n"), vec![b("0.1\n0.2\n")]).is_ok());
        let err = plan.assemble(b("a,1\nb,2\n"), vec![b("0.1\n\n0.2\n")]).unwrap_err();
        assert_eq!(err, BatchError::JoinMismatch { request: 0, inputs: 2, outputs: 3 });
    }

    #[test]
    fn malformed_csv_input_and_output_are_reported() {
        let plan = csv_plan("$[1:]", JoinSource::Input, "$", BatchStrategy::SingleRecord);
        let err = plan.requests(b("ok,1\n\"open,2\n")).unwrap_err();
        assert!(matches!(&err, BatchError::BadRecord { index: 1, reason } if reason.contains("unterminated")), "{err}");
        let err = plan.assemble(b("a,1\n"), vec![b("\"x\"y\n")]).unwrap_err();
        assert!(matches!(&err, BatchError::Response { index: 0, .. }), "{err}");
    }

    // ---- DataProcessing: JSON -----------------------------------------------------------

    #[test]
    fn json_lines_filter_join_and_select_id_with_output() {
        // The guide's JSON example: features in, id and SageMakerOutput out.
        let plan = json_plan(
            "application/jsonlines",
            SplitType::Line,
            "$.features",
            JoinSource::Input,
            "$['id','SageMakerOutput']",
        );
        let object = b("{\"id\":\"a\",\"features\":[1,2.50]}\n{\"id\":\"b\",\"features\":[3,4]}\n");
        let prepared = plan.prepare(object).unwrap();
        assert_eq!(bodies(prepared.requests()), ["[1,2.50]\n[3,4]\n"]);
        let out = prepared.assemble(vec![b("{\"label\":1}\nnot json\n")]).unwrap();
        assert_eq!(
            text(&out),
            "{\"id\":\"a\",\"SageMakerOutput\":{\"label\":1}}\n{\"id\":\"b\",\"SageMakerOutput\":\"not json\"}\n"
        );
    }

    #[test]
    fn json_lines_join_without_filters_keeps_member_order() {
        let plan = json_plan("application/jsonlines", SplitType::Line, "$", JoinSource::Input, "$");
        let out = plan.assemble(b("{\"z\":1,\"a\":2}\n"), vec![b("[0.9]\n")]).unwrap();
        assert_eq!(text(&out), "{\"z\":1,\"a\":2,\"SageMakerOutput\":[0.9]}\n");
    }

    #[test]
    fn too_deep_records_fail_by_their_index_in_the_whole_object_and_deep_outputs_too() {
        let deep = "[".repeat(20_000) + &"]".repeat(20_000);
        // InputFilter parses the input record.
        let plan = json_plan("application/jsonlines", SplitType::Line, "$[0]", JoinSource::None, "$");
        let err = plan.prepare_from(b(&format!("[1]\n{deep}\n")), 40).unwrap_err();
        assert!(matches!(&err, BatchError::BadRecord { index: 41, reason } if reason.contains("128 levels")), "{err}");
        assert_eq!(err.record_index(), Some(41));
        // The join parses the input record too.
        let plan = json_plan("application/jsonlines", SplitType::Line, "$", JoinSource::Input, "$");
        let err = plan.assemble(b(&format!("{deep}\n")), vec![b("1\n")]).unwrap_err();
        assert!(matches!(&err, BatchError::BadRecord { index: 0, reason } if reason.contains("128 levels")), "{err}");
        // The OutputFilter parses the model's output.
        let plan = json_plan("application/jsonlines", SplitType::Line, "$", JoinSource::None, "$[0]");
        let prepared = plan.prepare_from(b("[1]\n[2]\n"), 7).unwrap();
        let err = prepared.assemble(vec![Bytes::from(format!("[1]\n{deep}\n"))]).unwrap_err();
        let m = err.to_string();
        assert!(m.contains("output record 1") && m.contains("input record 8") && m.contains("128 levels"), "{m}");
    }

    #[test]
    fn json_non_object_input_joins_under_sagemaker_input() {
        let plan = json_plan("application/jsonlines", SplitType::Line, "$", JoinSource::Input, "$");
        let out = plan.assemble(b("[1,2]\n\"txt\"\n"), vec![b("0\n1\n")]).unwrap();
        assert_eq!(
            text(&out),
            "{\"SageMakerInput\":[1,2],\"SageMakerOutput\":0}\n{\"SageMakerInput\":\"txt\",\"SageMakerOutput\":1}\n"
        );
    }

    #[test]
    fn json_document_with_split_none_joins_a_multi_line_response() {
        let plan = json_plan(
            "application/json",
            SplitType::None,
            "$.instances",
            JoinSource::Input,
            "$.SageMakerOutput.predictions[-1]",
        );
        let object = b("{\n  \"instances\": [[1], [2]],\n  \"tag\": \"t\"\n}\n");
        let prepared = plan.prepare(object).unwrap();
        assert_eq!(bodies(prepared.requests()), ["[[1],[2]]"]);
        let out = prepared.assemble(vec![b("{\n \"predictions\": [0.1, 0.2]\n}\n")]).unwrap();
        assert_eq!(text(&out), "0.2\n");
    }

    #[test]
    fn json_output_filter_without_join_and_bad_input_records() {
        let plan = json_plan("application/jsonlines", SplitType::Line, "$.x", JoinSource::None, "$.score");
        let out = plan.assemble(b("{\"x\":1}\n{\"x\":2}\n"), vec![b("{\"score\":5}\n{\"score\":6}\n")]).unwrap();
        assert_eq!(text(&out), "5\n6\n");
        let err = plan.requests(b("{\"x\":1}\n{oops\n")).unwrap_err();
        assert!(matches!(&err, BatchError::BadRecord { index: 1, reason } if reason.contains("not JSON")), "{err}");
        let err = plan.assemble(b("{\"x\":1}\n"), vec![b("{\"other\":1}\n")]).unwrap_err();
        assert!(matches!(&err, BatchError::Filter { param: "OutputFilter", .. }), "{err}");
    }

    #[test]
    fn json_assemble_with_none_concatenates_processed_records() {
        let plan = TransformPlan::new(TransformSettings {
            split: SplitType::Line,
            batch_strategy: BatchStrategy::SingleRecord,
            content_type: Some("application/jsonlines".into()),
            assemble_with: AssemblyType::None,
            data_processing: dp("$", JoinSource::Input, "$"),
            ..TransformSettings::default()
        })
        .unwrap();
        let out = plan.assemble(b("{\"a\":1}\n{\"a\":2}\n"), vec![b("1\n"), b("2")]).unwrap();
        assert_eq!(text(&out), "{\"a\":1,\"SageMakerOutput\":1}{\"a\":2,\"SageMakerOutput\":2}");
    }

    #[test]
    fn input_filter_only_passes_responses_through() {
        let plan = json_plan("application/jsonlines", SplitType::Line, "$.f", JoinSource::None, "$");
        assert!(!plan.processes_output());
        let out = plan.assemble(b("{\"f\":1}\n"), vec![b("raw bytes, not JSON")]).unwrap();
        assert_eq!(text(&out), "raw bytes, not JSON\n");
    }
}
