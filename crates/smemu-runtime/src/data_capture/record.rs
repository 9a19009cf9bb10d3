//! One captured invocation as a JSON Lines record, and where its file goes, in the shape and layout of
//! the developer guide's "Capture data from real-time endpoint" and "View Data Capture data" pages
//! (<https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html>):
//! `<DestinationS3Uri>/<EndpointName>/<VariantName>/yyyy/mm/dd/hh/<mm-ss-SSS>-<uuid>.jsonl`, each line
//! `{"captureData":{"endpointInput":{..},"endpointOutput":{..}},"eventMetadata":{..},"eventVersion":"0"}`.

use std::borrow::Cow;

use base64::Engine as _;
use serde::Serialize;

/// How a payload is written into `data`: as text for the content types `CaptureContentTypeHeader`
/// lists, base64 for any other ("If no headers are specified SageMaker AI will by default base64
/// encode", API reference `DataCaptureConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Encoding {
    #[serde(rename = "CSV")]
    Csv,
    #[serde(rename = "JSON")]
    Json,
    #[serde(rename = "BASE64")]
    Base64,
}

/// The content types `CaptureContentTypeHeader` names, as media types in lower case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentTypes {
    pub csv: Vec<String>,
    pub json: Vec<String>,
}

/// `text/csv; charset=utf-8` → `text/csv`, in the case given.
fn without_parameters(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or_default().trim()
}

/// `Text/CSV; charset=utf-8` → `text/csv`.
fn media_type(content_type: &str) -> String {
    without_parameters(content_type).to_ascii_lowercase()
}

impl ContentTypes {
    pub fn new(csv: &[String], json: &[String]) -> Self {
        ContentTypes {
            csv: csv.iter().map(|t| media_type(t)).collect(),
            json: json.iter().map(|t| media_type(t)).collect(),
        }
    }

    /// The encoding of a payload of `content_type`; text that is not UTF-8 falls back to base64,
    /// since a JSON string cannot carry it.
    pub fn encode<'a>(&self, content_type: Option<&str>, data: &'a [u8]) -> (Encoding, Cow<'a, str>) {
        // Compared in place rather than through `media_type`: the writer encodes two payloads per
        // record, and lower-casing each into a `String` was an allocation apiece.
        let kind = content_type.map(without_parameters);
        let listed = |types: &[String], kind: &str| types.iter().any(|t| t.eq_ignore_ascii_case(kind));
        let text = match kind {
            Some(kind) if listed(&self.csv, kind) => Some(Encoding::Csv),
            Some(kind) if listed(&self.json, kind) => Some(Encoding::Json),
            _ => None,
        };
        match (text, std::str::from_utf8(data)) {
            (Some(encoding), Ok(text)) => (encoding, Cow::Borrowed(text)),
            _ => (Encoding::Base64, Cow::Owned(base64::engine::general_purpose::STANDARD.encode(data))),
        }
    }
}

/// One side of an invocation as captured.
pub struct Payload<'a> {
    pub content_type: Option<&'a str>,
    pub data: &'a [u8],
}

/// What a record holds, borrowed from the captured invocation.
pub struct Event<'a> {
    pub input: Option<Payload<'a>>,
    pub output: Option<Payload<'a>>,
    pub event_id: &'a str,
    pub inference_id: Option<&'a str>,
    pub at_ms: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Line<'a> {
    capture_data: CaptureData<'a>,
    event_metadata: EventMetadata<'a>,
    event_version: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CaptureData<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint_input: Option<Side<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    endpoint_output: Option<Side<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Side<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    observed_content_type: Option<&'a str>,
    mode: &'static str,
    data: Cow<'a, str>,
    encoding: Encoding,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventMetadata<'a> {
    event_id: &'a str,
    /// The caller's `InferenceId`, when it gave one (developer guide: "the inferenceId … is included
    /// in the eventMetadata of the captured record").
    #[serde(skip_serializing_if = "Option::is_none")]
    inference_id: Option<&'a str>,
    inference_time: &'a str,
}

/// Appends one record and its newline to `out`.
pub fn write_line(out: &mut Vec<u8>, types: &ContentTypes, event: &Event<'_>) -> Result<(), serde_json::Error> {
    let time = Seconds::new(event.at_ms);
    let line = Line {
        capture_data: CaptureData {
            endpoint_input: side(types, event.input.as_ref(), "INPUT"),
            endpoint_output: side(types, event.output.as_ref(), "OUTPUT"),
        },
        event_metadata: EventMetadata {
            event_id: event.event_id,
            inference_id: event.inference_id,
            inference_time: &time,
        },
        event_version: "0",
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.push(b'\n');
    Ok(())
}

fn side<'a>(types: &ContentTypes, payload: Option<&Payload<'a>>, mode: &'static str) -> Option<Side<'a>> {
    payload.map(|p| {
        let (encoding, data) = types.encode(p.content_type, p.data);
        Side { observed_content_type: p.content_type, mode, data, encoding }
    })
}

/// UTC date and time of epoch milliseconds: (year, month, day, hour, minute, second, millisecond).
fn civil(ms: i64) -> (i64, i64, i64, i64, i64, i64, i64) {
    let secs = ms.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // H. Hinnant's `civil_from_days`.
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day, rest / 3600, rest % 3600 / 60, rest % 60, ms.rem_euclid(1000))
}

/// `inferenceTime` as the guide's records show it: `2022-02-14T17:25:49Z`.
pub fn inference_time(ms: i64) -> String {
    Seconds::new(ms).to_string()
}

/// [`inference_time`] on the stack: the writer writes one per record, and `format!` made it an
/// allocation and a formatting pass each.
struct Seconds {
    text: [u8; 20],
    /// A year outside 0..=9999 does not fit `text`: formatted as `format!` would (never for a
    /// record taken from the clock, but `civil` takes any `i64`).
    other: Option<String>,
}

impl Seconds {
    fn new(ms: i64) -> Self {
        let (y, mo, d, h, mi, s, _) = civil(ms);
        if !(0..=9999).contains(&y) {
            let other = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z");
            return Seconds { text: [0; 20], other: Some(other) };
        }
        let mut text = *b"0000-00-00T00:00:00Z";
        for (at, width, value) in [(0, 4, y), (5, 2, mo), (8, 2, d), (11, 2, h), (14, 2, mi), (17, 2, s)] {
            let mut value = value;
            for digit in text[at..at + width].iter_mut().rev() {
                // `value` is within 0..10^width here: `% 10` is a digit.
                *digit = b'0' + u8::try_from(value % 10).unwrap_or(0);
                value /= 10;
            }
        }
        Seconds { text, other: None }
    }
}

impl std::ops::Deref for Seconds {
    type Target = str;
    fn deref(&self) -> &str {
        match &self.other {
            Some(other) => other,
            // Only ASCII digits and separators were written.
            None => std::str::from_utf8(&self.text).unwrap_or_default(),
        }
    }
}

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

/// The folder of the hour `ms` falls in: `<destination>/<endpoint>/<variant>/yyyy/mm/dd/hh`.
pub fn hour_prefix(destination: &str, endpoint: &str, variant: &str, ms: i64) -> String {
    format!("{}/{endpoint}/{variant}/{}", destination.trim_end_matches('/'), hour_folder(ms))
}

/// `yyyy/mm/dd/hh` of the UTC hour `ms` falls in.
pub fn hour_folder(ms: i64) -> String {
    let (y, mo, d, h, ..) = civil(ms);
    format!("{y:04}/{mo:02}/{d:02}/{h:02}")
}

/// A file's name within its hour: minute, second and millisecond of its first record, then a
/// unique id, as in the guide's listing (`23-34-543-0bd5ec7b-….jsonl`).
pub fn file_name(ms: i64, unique: &str) -> String {
    let (.., mi, s, milli) = civil(ms);
    format!("{mi:02}-{s:02}-{milli:03}-{unique}.jsonl")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn types() -> ContentTypes {
        ContentTypes::new(&["text/csv".into()], &["application/json".into(), "Application/JSONLines".into()])
    }

    fn parse(event: &Event<'_>) -> serde_json::Value {
        let mut out = Vec::new();
        write_line(&mut out, &types(), event).unwrap();
        assert_eq!(out.last(), Some(&b'\n'));
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1, "one line per record");
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn a_record_has_the_guides_shape() {
        let event = Event {
            input: Some(Payload { content_type: Some("text/csv"), data: b"1,2,3\n4,5,6" }),
            output: Some(Payload { content_type: Some("application/json; charset=utf-8"), data: br#"{"a":[1,"x"]}"# }),
            event_id: "e-1",
            inference_id: Some("inf-7"),
            at_ms: 1_644_859_549_123,
        };
        assert_eq!(
            parse(&event),
            serde_json::json!({
                "captureData": {
                    "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": "1,2,3\n4,5,6", "encoding": "CSV"},
                    "endpointOutput": {"observedContentType": "application/json; charset=utf-8", "mode": "OUTPUT",
                                        "data": "{\"a\":[1,\"x\"]}", "encoding": "JSON"}
                },
                "eventMetadata": {"eventId": "e-1", "inferenceId": "inf-7", "inferenceTime": "2022-02-14T17:25:49Z"},
                "eventVersion": "0"
            })
        );
    }

    #[test]
    fn unlisted_types_and_non_utf8_text_are_base64_and_a_missing_side_is_left_out() {
        let event = Event {
            input: Some(Payload { content_type: Some("text/csv"), data: &[0xff, 0xfe, b','] }),
            output: None,
            event_id: "e",
            inference_id: None,
            at_ms: 0,
        };
        let line = parse(&event);
        assert_eq!(line["captureData"]["endpointInput"]["encoding"], "BASE64");
        assert_eq!(line["captureData"]["endpointInput"]["data"], "//4s");
        assert!(line["captureData"].get("endpointOutput").is_none());
        assert!(line["eventMetadata"].get("inferenceId").is_none());
        let (encoding, data) = types().encode(Some("image/png"), b"png");
        assert_eq!((encoding, data.as_ref()), (Encoding::Base64, "cG5n"));
        let (encoding, _) = types().encode(None, b"x");
        assert_eq!(encoding, Encoding::Base64);
        let (encoding, _) = types().encode(Some("application/jsonlines"), b"{}");
        assert_eq!(encoding, Encoding::Json);
        let (encoding, _) = ContentTypes::default().encode(Some("text/csv"), b"1");
        assert_eq!(encoding, Encoding::Base64, "without CaptureContentTypeHeader everything is base64");
    }

    #[test]
    fn files_go_under_endpoint_variant_and_the_utc_hour() {
        // 2024-02-29T23:59:58.007Z
        let ms = 1_709_251_198_007;
        assert_eq!(
            hour_prefix("s3://b/capture/", "ep", "AllTraffic", ms),
            "s3://b/capture/ep/AllTraffic/2024/02/29/23"
        );
        assert_eq!(file_name(ms, "u"), "59-58-007-u.jsonl");
        assert_eq!(inference_time(ms), "2024-02-29T23:59:58Z");
        assert_eq!(inference_time(0), "1970-01-01T00:00:00Z");
    }

    proptest::proptest! {
        /// The stack formatter writes what `format!` wrote, for any instant.
        #[test]
        fn inference_time_matches_the_formatted_text(ms: i64) {
            let (y, mo, d, h, mi, s, _) = civil(ms);
            proptest::prop_assert_eq!(inference_time(ms), format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"));
        }
    }

    proptest::proptest! {
        #[test]
        fn any_payload_round_trips_through_its_record(data: Vec<u8>, csv: bool) {
            let content_type = if csv { "text/csv" } else { "application/octet-stream" };
            let event = Event {
                input: Some(Payload { content_type: Some(content_type), data: &data }),
                output: None, event_id: "e", inference_id: None, at_ms: 0,
            };
            let line = parse(&event);
            let side = &line["captureData"]["endpointInput"];
            let text = side["data"].as_str().unwrap_or_default();
            let back = if side["encoding"] == "BASE64" {
                base64::engine::general_purpose::STANDARD.decode(text).unwrap()
            } else {
                text.as_bytes().to_vec()
            };
            proptest::prop_assert_eq!(back, data);
        }
    }
}
