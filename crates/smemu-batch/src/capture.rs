//! capture: a transform job's `DataCaptureConfig` (developer guide, "Capture data from batch
//! transform job", <https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-batch.html>).
//!
//! What the guide documents, and smemu writes:
//! - Under `DestinationS3Uri`, `/input` and `/output` hold manifests, not copies ("To avoid data
//!   duplication, the captured data under the preceding two directories are manifests"): each lists
//!   the S3 locations of the job's input objects, and of their `.out` outputs, in the manifest
//!   format of `S3DataType=ManifestFile` (`[{"prefix": "s3://.../"}, "key", ...]`, the guide's
//!   example), under a `yyyy/mm/dd/hh` prefix of the job's start ("if you start your transform job
//!   at 2022-8-26 13PM UTC, then the captured data is labeled with a `2022/08/26/13/` prefix").
//! - With `GenerateInferenceId`, every output record gets an inference id (a random UUID) and the
//!   job's start time in UTC: CSV records two more columns, JSON records the reserved fields
//!   `SageMakerInferenceId` and `SageMakerInferenceTime`; only CSV, JSON and JSON Lines outputs.
//!
//! Choices where the guide is silent: the manifest's file name (`<TransformJobName>.jsonl`, one
//! per job, as the job name is never reused); it is written one element per line, as the guide
//! shows it; only objects whose output was written are listed (a failed object has no output to
//! pair its input with); a JSON record that is not an object becomes
//! `{"SageMakerOutput": <record>, ...}` (the key the join of `DataProcessing` uses for the model's
//! answer); records are lines, so stamping needs `AssembleWith: Line` output.

use bytes::Bytes;
use serde_json::Value;

/// The manifest of `keys` (relative to `prefix`), as the guide shows it: one element per line.
pub fn manifest(prefix: &str, keys: &[String]) -> Bytes {
    let mut prefix = prefix.to_owned();
    if !prefix.ends_with('/') {
        prefix.push('/');
    }
    let mut lines = Vec::with_capacity(keys.len() + 1);
    lines.push(serde_json::json!({ "prefix": prefix }).to_string());
    lines.extend(keys.iter().map(|key| Value::from(key.as_str()).to_string()));
    Bytes::from(format!("[\n{}\n]\n", lines.join(",\n")))
}

/// The output formats whose records can carry an inference id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StampFormat {
    Csv,
    Json,
}

impl StampFormat {
    /// The format of an output of `content_type`, if the guide's feature covers it.
    pub fn of(content_type: &str) -> Option<StampFormat> {
        let media = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        match media.as_str() {
            "text/csv" => Some(StampFormat::Csv),
            "application/json" | "application/jsonlines" | "application/x-jsonlines" | "application/jsonl" => {
                Some(StampFormat::Json)
            }
            _ => None,
        }
    }
}

/// Appends an inference id (from `next_id`) and `time` to every non-empty line of `output`.
/// A JSON line that does not parse is an error naming its line (1-based within `output`).
pub fn stamp_lines(
    output: &[u8],
    format: StampFormat,
    time: &str,
    mut next_id: impl FnMut() -> String,
) -> Result<Bytes, String> {
    let mut out = Vec::with_capacity(output.len() + output.len() / 4 + 64);
    for (number, line) in output.split_inclusive(|b| *b == b'\n').enumerate() {
        let (body, end) = split_ending(line);
        if body.iter().all(u8::is_ascii_whitespace) {
            out.extend_from_slice(line);
            continue;
        }
        let id = next_id();
        match format {
            StampFormat::Csv => {
                out.extend_from_slice(body);
                out.extend_from_slice(format!(",{id},{time}").as_bytes());
            }
            StampFormat::Json => stamp_json(&mut out, body, &id, time)
                .map_err(|err| format!("output line {} is not JSON: {err}", number + 1))?,
        }
        out.extend_from_slice(end);
    }
    Ok(Bytes::from(out))
}

/// A line without its `\n` or `\r\n`, and that ending.
fn split_ending(line: &[u8]) -> (&[u8], &[u8]) {
    let cut = if line.ends_with(b"\r\n") {
        2
    } else if line.ends_with(b"\n") {
        1
    } else {
        0
    };
    line.split_at(line.len() - cut)
}

fn stamp_json(out: &mut Vec<u8>, body: &[u8], id: &str, time: &str) -> Result<(), serde_json::Error> {
    // Parsed only to know it is JSON and whether an object (serde_json bounds the depth); the
    // record itself is kept byte for byte, the fields added before its closing brace.
    let value: Value = serde_json::from_slice(body)?;
    let fields =
        format!("\"SageMakerInferenceId\":{},\"SageMakerInferenceTime\":{}", Value::from(id), Value::from(time));
    match value {
        Value::Object(map) => {
            let trimmed = body.trim_ascii_end();
            let inner = &trimmed[..trimmed.len() - 1];
            out.extend_from_slice(inner);
            if !map.is_empty() {
                out.push(b',');
            }
            out.extend_from_slice(fields.as_bytes());
            out.push(b'}');
        }
        _ => {
            out.extend_from_slice(b"{\"SageMakerOutput\":");
            out.extend_from_slice(body.trim_ascii());
            out.push(b',');
            out.extend_from_slice(fields.as_bytes());
            out.push(b'}');
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("id-{n}")
        }
    }

    #[test]
    fn a_manifest_lists_keys_under_its_prefix_as_the_guide_shows() {
        let text = manifest("s3://b/in", &["a.csv".into(), "sub/b \"q\".csv".into()]);
        assert_eq!(
            std::str::from_utf8(&text).unwrap(),
            "[\n{\"prefix\":\"s3://b/in/\"},\n\"a.csv\",\n\"sub/b \\\"q\\\".csv\"\n]\n"
        );
        let parsed = crate::Manifest::parse(&text, "s3://b/m.jsonl").unwrap();
        assert_eq!(parsed.uris, ["s3://b/in/a.csv", "s3://b/in/sub/b \"q\".csv"]);
    }

    #[test]
    fn csv_records_get_two_more_columns_and_blank_lines_stay() {
        let out = stamp_lines(b"0\n1\r\n\n2", StampFormat::Csv, "2022-08-30T00:49:15Z", ids()).unwrap();
        assert_eq!(
            &out[..],
            b"0,id-1,2022-08-30T00:49:15Z\n1,id-2,2022-08-30T00:49:15Z\r\n\n2,id-3,2022-08-30T00:49:15Z"
        );
    }

    #[test]
    fn json_records_get_the_reserved_fields() {
        let out = stamp_lines(b"{\"output\": 0}\n{}\n7\n[1,2]\n", StampFormat::Json, "T", ids()).unwrap();
        let lines: Vec<Value> =
            std::str::from_utf8(&out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(
            lines,
            [
                serde_json::json!({"output": 0, "SageMakerInferenceId": "id-1", "SageMakerInferenceTime": "T"}),
                serde_json::json!({"SageMakerInferenceId": "id-2", "SageMakerInferenceTime": "T"}),
                serde_json::json!({"SageMakerOutput": 7, "SageMakerInferenceId": "id-3", "SageMakerInferenceTime": "T"}),
                serde_json::json!({"SageMakerOutput": [1, 2], "SageMakerInferenceId": "id-4",
                                   "SageMakerInferenceTime": "T"}),
            ]
        );
        assert!(std::str::from_utf8(&out).unwrap().starts_with("{\"output\": 0,\"SageMakerInferenceId\""));
        let err = stamp_lines(b"{}\nnot json\n", StampFormat::Json, "T", ids()).unwrap_err();
        assert!(err.starts_with("output line 2 is not JSON"), "{err}");
    }

    #[test]
    fn formats_come_from_the_media_type() {
        assert_eq!(StampFormat::of("text/csv; charset=utf-8"), Some(StampFormat::Csv));
        assert_eq!(StampFormat::of("Application/JSONLines"), Some(StampFormat::Json));
        assert_eq!(StampFormat::of("application/x-recordio-protobuf"), None);
    }
}
