//! Property tests of the parsers that read job data (JSON nodes, JSONPath, CSV, RecordIO/TFRecord
//! framing, record probes): whatever the input, deeply nested brackets included, they answer a
//! result or an error, never panic and never recurse without bound.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A test fails by panicking.

use bytes::Bytes;
use proptest::prelude::*;
use smemu_batch::csv_record::{parse_csv_line, write_csv_line};
use smemu_batch::node::{MAX_DEPTH, NodeError, nesting_depth};
use smemu_batch::{JsonPath, Node, Probe, SplitType, encode_recordio, encode_tfrecord, probe_record, split_records};

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(256)
}

/// Text made mostly of JSON's structural characters, so that nesting (balanced or not) is common.
fn jsonish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("\"k\":".to_owned()),
        Just(",".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("1".to_owned()),
        Just("null".to_owned()),
        "[a-z ]{0,3}",
    ];
    prop::collection::vec(piece, 0..200).prop_map(|v| v.concat())
}

/// Valid JSON nested `depth` levels, arrays and objects alternating.
fn nested(depth: usize) -> String {
    let mut s = String::new();
    for i in 0..depth {
        s.push_str(if i % 2 == 0 { "[" } else { "{\"k\":" });
    }
    s.push('0');
    for i in (0..depth).rev() {
        s.push(if i % 2 == 0 { ']' } else { '}' });
    }
    s
}

fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<i32>().prop_map(|i| i.to_string()),
        "[a-z\"\\\\\\[\\]{}]{0,6}".prop_map(|s| serde_json::to_string(&s).unwrap()),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(("[a-z]{0,3}", inner), 0..6).prop_map(|v| {
                let members: Vec<String> =
                    v.into_iter().map(|(k, v)| format!("{}:{v}", serde_json::to_string(&k).unwrap())).collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn nodes_parse_or_refuse_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(node) = Node::parse(&bytes) {
            // What parses writes out as JSON that parses again to the same text.
            let json = node.to_json();
            prop_assert_eq!(Node::parse(&json).unwrap().to_json(), json);
        }
    }

    #[test]
    fn nodes_agree_with_serde_json_on_bracket_soup(text in jsonish()) {
        let ours = Node::parse(text.as_bytes());
        let theirs = serde_json::from_str::<serde::de::IgnoredAny>(&text);
        match ours {
            Ok(_) => prop_assert!(theirs.is_ok(), "{text}"),
            Err(NodeError::TooDeep) => prop_assert!(nesting_depth(text.as_bytes()) > MAX_DEPTH),
            // serde_json's own limit is also 128, so it refuses what we refuse.
            Err(_) => prop_assert!(theirs.is_err(), "{text}"),
        }
    }

    #[test]
    fn nesting_is_limited_at_any_depth(depth in 0usize..60_000) {
        let text = nested(depth);
        prop_assert_eq!(nesting_depth(text.as_bytes()), depth);
        match Node::parse(text.as_bytes()) {
            Ok(node) => {
                prop_assert!(depth <= MAX_DEPTH);
                prop_assert_eq!(node.to_json(), text.into_bytes());
            }
            Err(err) => {
                prop_assert!(depth > MAX_DEPTH);
                prop_assert_eq!(err, NodeError::TooDeep);
            }
        }
    }

    #[test]
    fn jsonpaths_parse_or_refuse_any_text(text in "\\$?[\\[\\]\\.\\*'\",:0-9a-z -]{0,63}") {
        if let Ok(path) = JsonPath::parse(&text) {
            // Selecting from any record answers a node or an error.
            for record in ["[1,[2,3],{\"a\":4}]", "{\"a\":{\"b\":[5]}}", "7", "[]"] {
                let _ = path.select(&Node::parse(record.as_bytes()).unwrap());
            }
        }
    }

    #[test]
    fn jsonpaths_select_from_any_json(path in "\\$(\\.[a-z*]|\\[(-?[0-9]|[0-9]?:[0-9]?|\\*|'[a-z]')\\]){0,8}", json in json_value()) {
        let node = Node::parse(json.as_bytes()).unwrap();
        if let Ok(path) = JsonPath::parse(&path)
            && let Ok(selected) = path.select(&node)
        {
            // A selection nests at most one level per step deeper than the record it came from.
            prop_assert!(nesting_depth(&selected.to_json()) <= nesting_depth(json.as_bytes()) + 8);
        }
    }

    #[test]
    fn csv_lines_parse_or_refuse_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_csv_line(&bytes);
    }

    #[test]
    fn csv_fields_round_trip(fields in prop::collection::vec("[a-z,\" \\r]{0,8}", 1..8)) {
        let mut line = Vec::new();
        write_csv_line(&fields, &mut line);
        prop_assert_eq!(parse_csv_line(&line).unwrap(), fields);
    }

    #[test]
    fn framed_splits_take_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let object = Bytes::from(bytes);
        for split in [SplitType::None, SplitType::Line, SplitType::RecordIO, SplitType::TFRecord] {
            let mut covered = 0;
            for record in split_records(&object, split) {
                let Ok(record) = record else { break };
                // Records lie back to back.
                prop_assert_eq!(record.span.start, covered);
                covered = record.span.end;
            }
            let _ = probe_record(&object, split);
        }
    }

    #[test]
    fn framed_records_split_and_probe_where_they_were_written(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..12),
        magic_inside in any::<bool>(),
    ) {
        let payloads: Vec<Vec<u8>> = payloads
            .into_iter()
            .map(|mut p| {
                if magic_inside {
                    // An aligned magic inside a record makes dmlc split it into parts.
                    p.splice(0..0, smemu_batch::RECORDIO_MAGIC.to_le_bytes());
                }
                p
            })
            .collect();
        for split in [SplitType::RecordIO, SplitType::TFRecord] {
            let framed: Vec<Vec<u8>> = payloads
                .iter()
                .map(|p| if split == SplitType::RecordIO { encode_recordio(p).unwrap() } else { encode_tfrecord(p) })
                .collect();
            let object = Bytes::from(framed.concat());
            let records: Vec<_> = split_records(&object, split).collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(records.len(), payloads.len());
            let mut at = 0;
            for (record, (payload, frame)) in records.iter().zip(payloads.iter().zip(&framed)) {
                prop_assert_eq!(&record.payload[..], &payload[..]);
                prop_assert_eq!(probe_record(&object[at..], split), Probe::Complete { len: frame.len() });
                // Any shorter prefix of the record is partial, never complete or invalid.
                let cut = at + frame.len() / 2;
                let partial = matches!(probe_record(&object[at..cut], split), Probe::Partial { .. });
                prop_assert!(partial || frame.len() / 2 == 0);
                at += frame.len();
            }
        }
    }
}
