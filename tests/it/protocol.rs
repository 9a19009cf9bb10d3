//! The awsJson1.1 wire form, checked on raw HTTP where the clients would hide it.

use std::io::{Read, Write};
use std::net::TcpStream;

use crate::common::Smemu;

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: serde_json::Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn post(url: &str, target: Option<&str>, body: &str) -> Answer {
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    let target = target.map(|t| format!("X-Amz-Target: {t}\r\n")).unwrap_or_default();
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.1\r\n{target}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines.filter_map(|l| l.split_once(": ")).map(|(n, v)| (n.to_owned(), v.to_owned())).collect();
    Answer { status, headers, body: serde_json::from_str(body).unwrap_or(serde_json::Value::Null) }
}

#[test]
fn every_answer_carries_a_request_id_and_the_json_content_type() {
    let smemu = Smemu::start();
    let ok = post(&smemu.url, Some("SageMaker.ListModels"), "{}");
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("content-type"), Some("application/x-amz-json-1.1"));
    assert_eq!(ok.header("x-amzn-requestid").map(str::len), Some(36));
    assert_eq!(ok.body, serde_json::json!({"Models": []}));

    let err = post(&smemu.url, Some("SageMaker.DescribeModel"), "{}");
    assert_eq!(err.status, 400);
    assert!(err.header("x-amzn-requestid").is_some());
    assert_eq!(err.header("x-amzn-errortype"), Some("ValidationException"));
    assert_eq!(err.body["__type"], "ValidationException");
    assert_eq!(
        err.body["message"],
        "1 validation error detected: Value null at 'modelName' failed to satisfy constraint: Member must not be null"
    );
}

#[test]
fn an_unknown_target_is_an_unknown_operation() {
    let smemu = Smemu::start();
    for target in [Some("SageMaker.CreateTrainingJob"), Some("Other.CreateModel"), None] {
        let answer = post(&smemu.url, target, "{}");
        assert_eq!(answer.status, 400, "{target:?}");
        assert_eq!(answer.body["__type"], "UnknownOperationException", "{target:?}");
    }
}

#[test]
fn bodies_that_are_not_json_or_have_wrong_types_are_serialization_errors() {
    let smemu = Smemu::start();
    let broken = post(&smemu.url, Some("SageMaker.ListModels"), "{\"MaxResults\": ");
    assert_eq!((broken.status, broken.body["__type"].as_str()), (400, Some("SerializationException")));
    let wrong = post(&smemu.url, Some("SageMaker.ListModels"), "{\"MaxResults\": \"ten\"}");
    assert_eq!((wrong.status, wrong.body["__type"].as_str()), (400, Some("SerializationException")));
    let not_object = post(&smemu.url, Some("SageMaker.ListModels"), "[1, 2]");
    assert_eq!(not_object.body["__type"], "SerializationException");
    // smemu still serves after bad input.
    assert_eq!(post(&smemu.url, Some("SageMaker.ListModels"), "").status, 200);
}
