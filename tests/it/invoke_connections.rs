//! InvokeEndpoint on raw keep-alive connections, where smemu's fast path for plain invocations
//! hands a connection over to hyper: every request on one connection gets its right answer, in
//! order, whichever of the two serves it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::json;

use crate::common::{Smemu, tagger, unique};

/// One HTTP/1.1 client connection that reads answers framed by `Content-Length`.
struct Connection {
    tcp: TcpStream,
    pending: Vec<u8>,
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Header names, lower case and sorted.
    fn header_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.headers.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
        names.sort();
        names
    }
}

impl Connection {
    fn open(url: &str) -> Connection {
        let tcp = TcpStream::connect(url.trim_start_matches("http://")).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        Connection { tcp, pending: Vec::new() }
    }

    fn send(&mut self, bytes: &str) {
        self.tcp.write_all(bytes.as_bytes()).unwrap();
    }

    fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.tcp.read(&mut chunk).unwrap();
        self.pending.extend_from_slice(&chunk[..n]);
        n
    }

    fn answer(&mut self) -> Answer {
        let end = loop {
            if let Some(end) = self.pending.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            assert!(self.fill() > 0, "the connection closed before an answer");
        };
        let head = String::from_utf8(self.pending.drain(..end + 4).collect()).unwrap();
        let mut lines = head.trim_end().split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|line| {
                let (name, value) = line.split_once(':').unwrap();
                (name.to_owned(), value.trim().to_owned())
            })
            .collect();
        let answer = Answer { status, headers, body: String::new() };
        let length: usize = answer.header("content-length").expect("Content-Length").parse().unwrap();
        while self.pending.len() < length {
            assert!(self.fill() > 0, "the connection closed inside an answer");
        }
        let body = String::from_utf8(self.pending.drain(..length).collect()).unwrap();
        Answer { body, ..answer }
    }

    /// Whether the server has closed the connection (nothing left to read).
    fn closed(&mut self) -> bool {
        self.pending.is_empty() && self.fill() == 0
    }
}

fn invocation(endpoint: &str, body: &str, extra_headers: &str) -> String {
    format!(
        "POST /endpoints/{endpoint}/invocations HTTP/1.1\r\nHost: smemu\r\nContent-Type: text/plain\r\n{extra_headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn chunked_invocation(endpoint: &str, body: &str) -> String {
    format!(
        "POST /endpoints/{endpoint}/invocations HTTP/1.1\r\nHost: smemu\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    )
}

#[test]
fn one_connection_carries_plain_pipelined_chunked_and_control_plane_requests() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let name = unique("conn");
    aws.deploy(&name, &json!([tagger("a", None), tagger("b", None)]), &[], 1);
    let mut conn = Connection::open(&smemu.url);

    // Plain: the fast path answers, with the headers the runtime sends.
    conn.send(&invocation(&name, "x", ""));
    let plain = conn.answer();
    assert_eq!((plain.status, plain.body.as_str()), (200, "x|a|b"));
    assert_eq!(plain.header("content-type"), Some("text/plain"));
    assert_eq!(plain.header("x-amzn-invoked-production-variant"), Some("AllTraffic"));
    assert_eq!(plain.header("x-amzn-requestid").map(str::len), Some(36));
    assert!(plain.header("date").is_some());

    // A head that arrives in two pieces is waited for.
    let split = invocation(&name, "split", "");
    let (first, second) = split.split_at(20);
    conn.send(first);
    std::thread::sleep(Duration::from_millis(100));
    conn.send(second);
    assert_eq!(conn.answer().body, "split|a|b");

    // Pipelined: two requests in one write, two answers in order.
    conn.send(&(invocation(&name, "p1", "") + &invocation(&name, "p2", "")));
    assert_eq!(conn.answer().body, "p1|a|b");
    assert_eq!(conn.answer().body, "p2|a|b");

    // Chunked: hyper takes the connection over, and answers alike.
    conn.send(&chunked_invocation(&name, "chunked"));
    let chunked = conn.answer();
    assert_eq!((chunked.status, chunked.body.as_str()), (200, "chunked|a|b"));
    assert_eq!(chunked.header_names(), plain.header_names());
    assert_eq!(chunked.header("x-amzn-invoked-production-variant"), Some("AllTraffic"));

    // After the hand-over: a plain invocation, then the control plane, on the same connection.
    conn.send(&invocation(&name, "y", ""));
    assert_eq!(conn.answer().body, "y|a|b");
    let describe = json!({"EndpointName": name}).to_string();
    conn.send(&format!(
        "POST / HTTP/1.1\r\nHost: smemu\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: SageMaker.DescribeEndpoint\r\nContent-Length: {}\r\n\r\n{describe}",
        describe.len()
    ));
    let described = conn.answer();
    assert_eq!(described.status, 200, "{}", described.body);
    let described: serde_json::Value = serde_json::from_str(&described.body).unwrap();
    assert_eq!(described["EndpointStatus"], "InService");

    // Errors read the same from both: an unknown endpoint, first on a fresh (fast) connection.
    let mut fresh = Connection::open(&smemu.url);
    fresh.send(&invocation("no-such-endpoint", "x", ""));
    let fast_error = fresh.answer();
    conn.send(&invocation("no-such-endpoint", "x", ""));
    let hyper_error = conn.answer();
    for error in [&fast_error, &hyper_error] {
        assert_eq!(error.status, 400);
        assert_eq!(error.header("x-amzn-errortype"), Some("ValidationError"));
        assert!(error.body.contains("Endpoint no-such-endpoint of account 000000000000 not found."), "{}", error.body);
    }
    assert_eq!(fast_error.header_names(), hyper_error.header_names());

    // `Connection: close` is honoured: one answer, then the end of the connection.
    fresh.send(&invocation(&name, "last", "Connection: close\r\n"));
    assert_eq!(fresh.answer().body, "last|a|b");
    assert!(fresh.closed());
}

#[test]
fn a_malformed_request_on_a_fresh_connection_gets_an_aws_shaped_400() {
    let smemu = Smemu::start();
    let mut conn = Connection::open(&smemu.url);
    conn.send(
        "POST /endpoints/e/invocations HTTP/1.1\r\nHost: smemu\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy",
    );
    let answer = conn.answer();
    assert_eq!(answer.status, 400);
    assert_eq!(answer.header("x-amzn-errortype"), Some("SerializationException"));
    assert!(answer.header("x-amzn-requestid").is_some());
    assert!(answer.body.contains("\"__type\":\"SerializationException\""), "{}", answer.body);
    assert!(conn.closed());
    // smemu still serves.
    let (out, _) = smemu.aws().invoke("no-such-endpoint", "x", &[]);
    out.assert_error("ValidationError", "Endpoint no-such-endpoint of account 000000000000 not found.");
}
