//! The API listener under hostile or careless clients (issue 10, items 5, 8 and 9): idle and
//! half-sent connections are closed, slow bodies are cut off, a stop is bounded, bodies for
//! missing endpoints are never buffered, the bytes buffered across connections are capped, and
//! every answer is AWS-shaped with a request id. Raw TCP where no AWS client can send the input.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Smemu, tagger, unique};

/// How long a test waits for something that must happen; far above every timeout it starts
/// smemu with, so that a failure means "never", not "slowly".
const PATIENCE: Duration = Duration::from_secs(30);

fn start(flags: &[&str]) -> Smemu {
    Smemu::start_fresh_with(flags)
}

fn connect(smemu: &Smemu) -> TcpStream {
    let tcp = TcpStream::connect(smemu.url.trim_start_matches("http://")).unwrap();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    tcp
}

/// Whether smemu closes `tcp` (end of stream or reset) before [`PATIENCE`] runs out; anything
/// smemu sends before is read past.
fn closed_by_smemu(tcp: &mut TcpStream) -> bool {
    let deadline = Instant::now() + PATIENCE;
    let mut chunk = [0u8; 4096];
    while Instant::now() < deadline {
        match tcp.read(&mut chunk) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(err) if matches!(err.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => return true,
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return false,
            Err(err) => panic!("reading: {err}"),
        }
    }
    false
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }

    /// An AWS JSON error: a request id, the code in `X-Amzn-ErrorType` and in the body, a message.
    #[track_caller]
    fn assert_aws_error(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status, status, "{:?} {}", self.headers, String::from_utf8_lossy(&self.body));
        let request_id = self.header("x-amzn-requestid").expect("x-amzn-requestid");
        assert!(uuid::Uuid::parse_str(request_id).is_ok(), "{request_id}");
        assert_eq!(self.header("x-amzn-errortype"), Some(code));
        let body = self.json();
        let message = body["message"].as_str().or(body["Message"].as_str()).expect("a message").to_owned();
        if let Some(kind) = body.get("__type") {
            assert_eq!(kind, code);
        }
        assert!(!message.is_empty());
        message
    }
}

/// Reads one answer framed by `Content-Length` (smemu's answers all are).
fn read_answer(tcp: &mut TcpStream) -> Answer {
    let mut pending = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let end = loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = tcp.read(&mut chunk).expect("an answer");
        assert!(n > 0, "closed before an answer: {}", String::from_utf8_lossy(&pending));
        pending.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(pending[..end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect();
    let length: usize =
        headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("content-length")).map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = pending[end + 4..].to_vec();
    while body.len() < length {
        let n = tcp.read(&mut chunk).unwrap();
        assert!(n > 0, "closed in a body");
        body.extend_from_slice(&chunk[..n]);
    }
    Answer { status, headers, body }
}

fn exchange(smemu: &Smemu, request: &[u8]) -> Answer {
    let mut tcp = connect(smemu);
    tcp.write_all(request).unwrap();
    read_answer(&mut tcp)
}

fn list_models(tcp: &mut TcpStream) -> Answer {
    tcp.write_all(
        b"POST / HTTP/1.1\r\nHost: smemu\r\nX-Amz-Target: SageMaker.ListModels\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\n\r\n{}",
    )
    .unwrap();
    read_answer(tcp)
}

#[test]
fn idle_connections_are_closed_after_the_idle_timeout() {
    let smemu = start(&["--idle-timeout", "1s"]);
    // Never a byte (the fast path's), and idle after an answer hyper gave.
    let mut silent: Vec<TcpStream> = (0..20).map(|_| connect(&smemu)).collect();
    let mut after_hyper = connect(&smemu);
    assert_eq!(list_models(&mut after_hyper).status, 200);
    for (i, tcp) in silent.iter_mut().enumerate() {
        assert!(closed_by_smemu(tcp), "silent connection {i} still open");
    }
    assert!(closed_by_smemu(&mut after_hyper), "a connection idle after hyper's answer is still open");
    // The listener still serves.
    assert_eq!(list_models(&mut connect(&smemu)).status, 200);
}

#[test]
fn a_half_sent_head_is_closed_after_the_header_timeout() {
    let smemu = start(&["--idle-timeout", "1s"]);
    let mut fast = connect(&smemu);
    fast.write_all(b"POST /endpoints/e/invocations HTTP/1.1\r\nHost: smemu\r\nContent-Type: text/csv\r\n").unwrap();
    let mut on_hyper = connect(&smemu);
    assert_eq!(list_models(&mut on_hyper).status, 200);
    on_hyper.write_all(b"POST / HTTP/1.1\r\nHost: smemu\r\nX-Amz-Target: Sage").unwrap();
    // A head that keeps coming, a byte at a time, is cut off too: the deadline is for the whole head.
    let mut dribble = connect(&smemu);
    let started = Instant::now();
    let mut cut = false;
    while started.elapsed() < PATIENCE {
        if dribble.write_all(b"X").is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(cut, "a head dribbling for {PATIENCE:?} was never cut off");
    assert!(closed_by_smemu(&mut fast), "a half-sent invocation head is still open");
    assert!(closed_by_smemu(&mut on_hyper), "a half-sent control-plane head (hyper) is still open");
}

/// Sends `bytes` a few at a time, slower than the minimum rate; true if smemu cut the connection.
fn trickle_until_cut(tcp: &mut TcpStream) -> bool {
    let started = Instant::now();
    while started.elapsed() < PATIENCE {
        if tcp.write_all(b"0123456789").is_err() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn a_trickling_body_is_cut_off() {
    let smemu = start(&["--idle-timeout", "1s", "--min-body-rate", "1KiB"]);
    // An invocation (the fast path): a missing endpoint is answered at once, and the body that
    // still trickles in is read past at the minimum rate or cut off.
    let mut invocation = connect(&smemu);
    invocation
        .write_all(b"POST /endpoints/nowhere/invocations HTTP/1.1\r\nHost: smemu\r\nContent-Length: 100000\r\n\r\n")
        .unwrap();
    read_answer(&mut invocation).assert_aws_error(400, "ValidationError");
    assert!(trickle_until_cut(&mut invocation), "an invocation body trickling at 100 B/s was never cut off");
    // A control-plane body (hyper): cut off, with an AWS-shaped answer if the client still reads.
    let mut control = connect(&smemu);
    control
        .write_all(
            b"POST / HTTP/1.1\r\nHost: smemu\r\nX-Amz-Target: SageMaker.ListModels\r\nContent-Length: 100000\r\n\r\n{",
        )
        .unwrap();
    assert!(trickle_until_cut(&mut control), "a control-plane body trickling at 100 B/s was never cut off");
}

/// Sends SIGTERM; how long smemu took to exit, if it did within [`PATIENCE`].
fn exits_within(smemu: &mut Smemu) -> Option<Duration> {
    let started = Instant::now();
    let _ = Command::new("kill").arg("-TERM").arg(smemu.pid().to_string()).status();
    while started.elapsed() < PATIENCE {
        if smemu.exited() {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn sigterm_with_half_sent_requests_held_open_finishes_within_the_shutdown_timeout() {
    let mut smemu = start(&["--shutdown-timeout", "2s"]);
    // A half-sent head on the fast path, and a half-sent chunked body on hyper.
    let mut head = connect(&smemu);
    head.write_all(b"POST /endpoints/e/invocations HTTP/1.1\r\nHost: smemu\r\n").unwrap();
    let mut body = connect(&smemu);
    body.write_all(
        b"POST / HTTP/1.1\r\nHost: smemu\r\nX-Amz-Target: SageMaker.ListModels\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n",
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(exits_within(&mut smemu).is_some(), "smemu did not exit within {PATIENCE:?} of SIGTERM");
    assert!(closed_by_smemu(&mut head));
    assert!(closed_by_smemu(&mut body));
}

#[test]
fn a_six_megabyte_body_for_a_missing_endpoint_is_answered_before_it_is_sent() {
    let smemu = start(&[]);
    let mut tcp = connect(&smemu);
    let length = 6 * 1024 * 1024;
    tcp.write_all(
        format!("POST /endpoints/nowhere/invocations HTTP/1.1\r\nHost: smemu\r\nContent-Type: text/csv\r\nContent-Length: {length}\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    // A first 64 KiB only: the answer comes while the client still holds the rest.
    let chunk = vec![b'x'; 64 * 1024];
    tcp.write_all(&chunk).unwrap();
    let answer = read_answer(&mut tcp);
    let message = answer.assert_aws_error(400, "ValidationError");
    assert_eq!(message, "Endpoint nowhere of account 000000000000 not found.");
    // The rest is read past, and the connection serves the next request.
    for _ in 1..length / chunk.len() {
        tcp.write_all(&chunk).unwrap();
    }
    tcp.write_all(b"POST /endpoints/other/invocations HTTP/1.1\r\nHost: smemu\r\nContent-Length: 1\r\n\r\nx").unwrap();
    let next = read_answer(&mut tcp);
    assert_eq!(next.assert_aws_error(400, "ValidationError"), "Endpoint other of account 000000000000 not found.");
}

#[test]
fn past_the_buffered_bytes_cap_invocations_are_throttled() {
    let smemu = start(&["--max-buffered-bytes", "1KiB"]);
    let aws = smemu.aws();
    let name = unique("wire-cap");
    aws.deploy(&name, &json!([tagger("a", None)]), &[], 1);
    let (small, written) = aws.invoke(&name, "fits", &[]);
    assert!(small.success, "{}", small.stderr);
    assert_eq!(written.trim(), "fits|a");
    let (large, _) = aws.invoke(&name, &"x".repeat(2048), &[]);
    large.assert_error("ThrottlingException", "Rate exceeded");
    // Nothing stays counted: a body that fits still goes through.
    let (again, _) = aws.invoke(&name, "fits", &[]);
    assert!(again.success, "{}", again.stderr);
}

#[test]
fn every_refusal_is_an_aws_error_with_a_request_id_at_once() {
    let smemu = start(&[]);
    let control =
        |extra: &str| format!("POST / HTTP/1.1\r\nHost: smemu\r\nX-Amz-Target: SageMaker.ListModels\r\n{extra}\r\n");
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("404", b"GET /nothing HTTP/1.1\r\nHost: smemu\r\n\r\n".to_vec(), 404, "UnknownOperationException"),
        ("405", b"GET / HTTP/1.1\r\nHost: smemu\r\n\r\n".to_vec(), 405, "UnknownOperationException"),
        ("413", control("Content-Length: 3000000\r\n").into_bytes(), 413, "ValidationException"),
        ("400", b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n".to_vec(), 400, "SerializationException"),
        (
            "431",
            format!("GET / HTTP/1.1\r\nHost: smemu\r\nX-Big: {}\r\n\r\n", "b".repeat(70 * 1024)).into_bytes(),
            431,
            "SerializationException",
        ),
        (
            "101 headers",
            format!("GET / HTTP/1.1\r\nHost: smemu\r\n{}\r\n", "X-Many: 1\r\n".repeat(100)).into_bytes(),
            431,
            "SerializationException",
        ),
        (
            "huge control length",
            control("Content-Length: 9223372036854775807\r\n").into_bytes(),
            413,
            "ValidationException",
        ),
        (
            "huge invocation length",
            b"POST /endpoints/e/invocations HTTP/1.1\r\nHost: smemu\r\nContent-Length: 9223372036854775807\r\n\r\n"
                .to_vec(),
            400,
            "ValidationError",
        ),
    ];
    // "At once": no body is ever sent, so an answer (rather than the read timeout) means smemu
    // did not wait for one.
    for (what, request, status, code) in cases {
        let answer = exchange(&smemu, &request);
        let message = answer.assert_aws_error(status, code);
        if what == "huge invocation length" {
            assert!(message.contains("less than or equal to 6291456"), "{message}");
        }
    }
}

#[test]
fn refusals_on_a_connection_hyper_serves_are_aws_errors_too() {
    let smemu = start(&[]);
    let mut tcp = connect(&smemu);
    assert_eq!(list_models(&mut tcp).status, 200);
    tcp.write_all(b"GET /nothing HTTP/1.1\r\nHost: smemu\r\n\r\n").unwrap();
    read_answer(&mut tcp).assert_aws_error(404, "UnknownOperationException");
    // A chunked body (no length to refuse up front) passing the control plane's limit.
    tcp.write_all(
        b"POST / HTTP/1.1\r\nHost: smemu\r\nX-Amz-Target: SageMaker.ListModels\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    .unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 1024 * 1024, "x".repeat(1024 * 1024));
    for _ in 0..3 {
        tcp.write_all(chunk.as_bytes()).unwrap();
    }
    tcp.write_all(b"0\r\n\r\n").unwrap();
    read_answer(&mut tcp).assert_aws_error(413, "ValidationException");
    let mut tcp = connect(&smemu);
    assert_eq!(list_models(&mut tcp).status, 200);
    tcp.write_all(
        b"POST /endpoints/e/invocations HTTP/1.1\r\nHost: smemu\r\nContent-Length: 9223372036854775807\r\n\r\n",
    )
    .unwrap();
    let message = read_answer(&mut tcp).assert_aws_error(400, "ValidationError");
    assert!(message.contains("less than or equal to 6291456"), "{message}");
}

#[test]
fn a_validation_message_echoes_a_huge_value_in_part() {
    let smemu = start(&[]);
    let name = "m".repeat(100_000);
    let out = smemu.aws().sagemaker(&["create-model", "--model-name", &name, "--primary-container", "Image=img"]);
    out.assert_error("ValidationException", &format!("Value '{}...' at 'modelName'", "m".repeat(1024)));
    assert!(out.stderr.len() < 4096, "{} bytes of error", out.stderr.len());
    // A violation per list item (more than the CLI takes on a command line): counted, listed in part.
    let tags = vec![json!({"Key": "", "Value": ""}); 5000];
    let body = json!({"ModelName": "m", "PrimaryContainer": {"Image": "img"}, "Tags": tags}).to_string();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: smemu\r\nX-Amz-Target: SageMaker.CreateModel\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = exchange(&smemu, request.as_bytes());
    let message = answer.assert_aws_error(400, "ValidationException");
    assert!(message.starts_with("5001 validation errors detected: "), "{}", &message[..200]);
    assert!(message.ends_with("; and 4901 more"), "{}", &message[message.len() - 200..]);
    assert!(answer.body.len() < 64 * 1024, "{} bytes of error", answer.body.len());
}
