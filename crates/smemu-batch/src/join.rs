//! join: `JoinSource=Input`, pairing each original input record with its model output record.
//!
//! Rules from <https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DataProcessing.html>
//! and <https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform-data-processing.html#batch-transform-data-processing-example-all>:
//! - CSV: the input row's columns, then the output's columns ("if the record is
//!   `[1,2,3]`, and the label result is `[1]`, then the output file would contain
//!   `[1,2,3,1]`").
//! - JSON / JSON Lines: an input object gets the output under `SageMakerOutput` (an
//!   existing `SageMakerOutput` member is overwritten in place: the name "is reserved for
//!   output" and "values in the input file might be overwritten"); any other input becomes
//!   `{"SageMakerInput": <input>, "SageMakerOutput": <output>}`.
//! - The output is parsed as JSON when it is JSON, otherwise kept as a string (so a
//!   model answering `positive` still joins).
//!
//! The join uses the ORIGINAL input record, not what `InputFilter` sent to the model.

use bytes::Bytes;

use crate::node::{Node, NodeError};

/// Member name for the model's output in a joined JSON record.
pub const SAGEMAKER_OUTPUT: &str = "SageMakerOutput";
/// Member name for a non-object input in a joined JSON record.
pub const SAGEMAKER_INPUT: &str = "SageMakerInput";

/// CSV join: input columns followed by output columns.
pub fn join_csv(mut input: Vec<String>, output: Vec<String>) -> Vec<String> {
    input.extend(output);
    input
}

/// JSON join of one input record with one output record.
pub fn join_json(input: Node, output: Node) -> Node {
    match input {
        Node::Object(mut members) => {
            if let Some(slot) = members.iter_mut().rev().find(|(k, _)| k == SAGEMAKER_OUTPUT) {
                slot.1 = output;
            } else {
                members.push((SAGEMAKER_OUTPUT.to_owned(), output));
            }
            Node::Object(members)
        }
        other => Node::Object(vec![(SAGEMAKER_INPUT.to_owned(), other), (SAGEMAKER_OUTPUT.to_owned(), output)]),
    }
}

/// A model output record as a JSON value: parsed when it is JSON, else the text itself
/// (invalid UTF-8 replaced) as a string. JSON nested deeper than [`crate::node::MAX_DEPTH`]
/// is an error: it is JSON, and passing it on as a string would hide what the model said.
pub fn parse_output_json(bytes: &[u8]) -> Result<Node, NodeError> {
    match Node::parse(bytes) {
        Ok(node) => Ok(node),
        Err(NodeError::TooDeep) => Err(NodeError::TooDeep),
        Err(NodeError::NotJson(_) | NodeError::NotUtf8(_)) => {
            Ok(Node::Text(String::from_utf8_lossy(bytes.trim_ascii()).into_owned()))
        }
    }
}

/// Splits a response body into output records, one per line: terminators (`\n`, `\r\n`)
/// are dropped and a final newline does not make an extra empty record.
pub fn split_output_lines(body: &Bytes) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < body.len() {
        let end = body[start..].iter().position(|&b| b == b'\n').map_or(body.len(), |i| start + i);
        let content_end = if end > start && body[end - 1] == b'\r' { end - 1 } else { end };
        out.push(body.slice(start..content_end));
        start = end + 1;
    }
    out
}

/// The response of a one-record request as one output record: the body without one
/// trailing line terminator.
pub fn whole_output(body: &Bytes) -> Bytes {
    let mut end = body.len();
    if body[..end].ends_with(b"\n") {
        end -= 1;
        if body[..end].ends_with(b"\r") {
            end -= 1;
        }
    }
    body.slice(..end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(n: &Node) -> String {
        String::from_utf8(n.to_json()).unwrap()
    }

    fn node(s: &str) -> Node {
        Node::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn csv_join_appends_output_columns() {
        let joined = join_csv(vec!["1".into(), "2".into(), "3".into()], vec!["1".into()]);
        assert_eq!(joined, ["1", "2", "3", "1"]);
    }

    #[test]
    fn json_object_input_gets_sagemaker_output() {
        let j = join_json(node(r#"{"key":1}"#), node(r#"{"label":1}"#));
        assert_eq!(json(&j), r#"{"key":1,"SageMakerOutput":{"label":1}}"#);
        // An existing SageMakerOutput is overwritten in place.
        let j = join_json(node(r#"{"SageMakerOutput":0,"b":2}"#), node("5"));
        assert_eq!(json(&j), r#"{"SageMakerOutput":5,"b":2}"#);
    }

    #[test]
    fn json_non_object_input_is_wrapped() {
        let j = join_json(node("[1,2,3]"), node("0.7"));
        assert_eq!(json(&j), r#"{"SageMakerInput":[1,2,3],"SageMakerOutput":0.7}"#);
        let j = join_json(node(r#""text""#), parse_output_json(b"positive\n").unwrap());
        assert_eq!(json(&j), r#"{"SageMakerInput":"text","SageMakerOutput":"positive"}"#);
    }

    #[test]
    fn output_is_json_when_it_parses_else_a_string() {
        assert_eq!(json(&parse_output_json(b" [0.1, 0.9] ").unwrap()), "[0.1,0.9]");
        assert_eq!(json(&parse_output_json(b"0.1,0.9").unwrap()), r#""0.1,0.9""#);
        assert_eq!(json(&parse_output_json(b"").unwrap()), r#""""#);
        let deep = "[".repeat(20_000) + &"]".repeat(20_000);
        assert_eq!(parse_output_json(deep.as_bytes()).unwrap_err(), NodeError::TooDeep);
        // Unbalanced, so not JSON: kept as text like any other non-JSON answer.
        assert!(matches!(parse_output_json("[".repeat(20_000).as_bytes()), Ok(Node::Text(_))));
    }

    #[test]
    fn output_lines_drop_terminators_and_a_final_newline() {
        let lines = |s: &'static str| -> Vec<String> {
            split_output_lines(&Bytes::from_static(s.as_bytes()))
                .iter()
                .map(|b| String::from_utf8(b.to_vec()).unwrap())
                .collect()
        };
        assert_eq!(lines("a\nb\n"), ["a", "b"]);
        assert_eq!(lines("a\r\nb"), ["a", "b"]);
        assert_eq!(lines("a\n\nb\n"), ["a", "", "b"]);
        assert!(lines("").is_empty());
        assert_eq!(lines("\n"), [""]);
        assert_eq!(whole_output(&Bytes::from_static(b"{\n \"a\": 1\n}\r\n")), Bytes::from_static(b"{\n \"a\": 1\n}"));
        assert_eq!(whole_output(&Bytes::from_static(b"x\n\n")), Bytes::from_static(b"x\n"));
    }
}
