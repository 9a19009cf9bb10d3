//! Reading a request's head on the fast path: a plain request (by the caller's [`PlainRule`]),
//! one to hand over to hyper, one to refuse at once, or not complete yet.
//!
//! "Plain" is narrow on purpose, so that the fast path never has to answer a malformed or unusual
//! request: HTTP/1.1, `POST` to a path the rule routes, one `Content-Length` of at most the rule's
//! limit, no `Transfer-Encoding`, `Expect`, `Upgrade` or `Connection` other than `keep-alive`, at
//! most [`MAX_HEADERS`] headers. That is what the AWS SDKs and CLI send. Everything else (chunked
//! bodies, `100-continue`, `Connection: close`, other paths, malformed requests and their error
//! answers) is hyper's.

use http::header::{CONNECTION, CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::plain::{PlainHead, PlainRule, Refusal};

/// The most headers a plain request has; the SDKs send about a dozen.
const MAX_HEADERS: usize = 32;
/// The longest head the fast path reads: a longer one is refused here (the caller answers it),
/// rather than by hyper with an empty body. The SDKs' heads are well under 2 KiB.
pub(crate) const MAX_HEAD: usize = 64 * 1024;

pub(crate) enum Parsed {
    /// A plain request, and the bytes of its head, up to and with its empty line.
    Plain(PlainHead, usize),
    /// The head is not complete yet.
    Partial,
    /// A request this path leaves to hyper.
    Other,
    /// A request answered with an error at once, before its body (which is never read).
    Refused(Refusal),
}

/// hyper's limit on a request's headers; past it hyper would answer a bare 431 itself.
const HYPER_MAX_HEADERS: usize = 100;

/// A head with more headers than the fast path reads: hyper serves it, unless it has more than
/// hyper reads, which is refused here with an AWS-shaped 431. Only reached by such heads, so the
/// slots are allocated here rather than on every request.
fn many_headers(buf: &[u8]) -> Parsed {
    let mut slots = vec![httparse::EMPTY_HEADER; HYPER_MAX_HEADERS];
    match httparse::Request::new(&mut slots).parse(buf) {
        Err(httparse::Error::TooManyHeaders) => Parsed::Refused(Refusal::TooManyHeaders { max: HYPER_MAX_HEADERS }),
        _ => Parsed::Other,
    }
}

/// The head at the start of `buf`, read by `rule`.
pub(crate) fn parse(buf: &[u8], rule: &PlainRule) -> Parsed {
    if buf.is_empty() {
        return Parsed::Partial;
    }
    let mut slots = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut []);
    let length =
        match httparse::ParserConfig::default().parse_request_with_uninit_headers(&mut request, buf, &mut slots) {
            Ok(httparse::Status::Complete(length)) if length > MAX_HEAD => {
                return Parsed::Refused(Refusal::HeadTooLarge { max: MAX_HEAD });
            }
            Ok(httparse::Status::Complete(length)) => length,
            Ok(httparse::Status::Partial) => return Parsed::Partial,
            // More headers than a plain request has: hyper reads up to 100.
            Err(httparse::Error::TooManyHeaders) => return many_headers(buf),
            Err(err) => return Parsed::Refused(Refusal::Malformed(malformed(err))),
        };
    let Some(key) = request.path.and_then(rule.route).filter(|_| request.method == Some("POST")) else {
        return other_request(request.headers, rule.max_other_body);
    };
    if request.version != Some(1) {
        return Parsed::Other;
    }
    let signed = rule.every_header;
    let mut headers = HeaderMap::with_capacity(rule.read_headers.len());
    let mut content_length = None;
    let mut plain = true;
    for header in request.headers.iter() {
        let is = |name: &HeaderName| header.name.eq_ignore_ascii_case(name.as_str());
        // Every header (for smemu, `--auth strict`), for a client may sign any (the Rust SDK signs
        // `Content-Length`).
        if signed {
            let (Ok(name), Ok(value)) =
                (HeaderName::from_bytes(header.name.as_bytes()), HeaderValue::from_bytes(header.value))
            else {
                return Parsed::Other;
            };
            headers.append(name, value);
        }
        if is(&CONTENT_LENGTH) {
            match (content_length, decimal(header.value)) {
                (None, Some(n)) => content_length = Some(n),
                (_, None) => return Parsed::Refused(Refusal::Malformed("Content-Length is not a decimal number")),
                (Some(first), Some(n)) if first != n => {
                    return Parsed::Refused(Refusal::Malformed("Content-Length is given twice with different values"));
                }
                // Repeated with one value: hyper takes it.
                (Some(_), Some(_)) => return Parsed::Other,
            }
        } else if is(&TRANSFER_ENCODING)
            || is(&EXPECT)
            || is(&UPGRADE)
            || (is(&CONNECTION) && !header.value.eq_ignore_ascii_case(b"keep-alive"))
        {
            plain = false;
        } else if !signed && let Some(name) = rule.read_headers.iter().find(|name| is(name)) {
            // Only what the handler reads becomes a header value; httparse has checked the rest
            // as hyper would.
            let Ok(value) = HeaderValue::from_bytes(header.value) else {
                return Parsed::Other;
            };
            headers.append(name.clone(), value);
        }
    }
    match content_length {
        // Refused at once, whatever else the head says: waiting for such a body is the hang.
        Some(content_length) if content_length > rule.max_body => {
            Parsed::Refused(Refusal::PlainBodyTooLarge { max: rule.max_body })
        }
        Some(content_length) if plain => {
            let target = if signed { request.path.unwrap_or_default().to_owned() } else { String::new() };
            Parsed::Plain(PlainHead { key, target, headers, content_length }, length)
        }
        // No length (chunked), or headers the fast path leaves to hyper.
        _ => Parsed::Other,
    }
}

/// What is wrong with a head httparse refused.
fn malformed(err: httparse::Error) -> &'static str {
    match err {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Token => "invalid method or request target",
        httparse::Error::Version => "invalid HTTP version",
        httparse::Error::Status | httparse::Error::TooManyHeaders => "invalid request line",
    }
}

/// A complete head that is not a plain request: hyper's, unless its length is absurd or not a
/// number, which is answered here at once.
fn other_request(headers: &[httparse::Header<'_>], max_body: usize) -> Parsed {
    let mut seen = None;
    for header in headers.iter().filter(|h| h.name.eq_ignore_ascii_case(CONTENT_LENGTH.as_str())) {
        match decimal(header.value) {
            Some(n) if n > max_body => return Parsed::Refused(Refusal::BodyTooLarge { max: max_body }),
            Some(n) if seen.is_some_and(|first| first != n) => {
                return Parsed::Refused(Refusal::Malformed("Content-Length is given twice with different values"));
            }
            Some(n) => seen = Some(n),
            None => return Parsed::Refused(Refusal::Malformed("Content-Length is not a decimal number")),
        }
    }
    Parsed::Other
}

/// A `Content-Length` value: ASCII digits only, as RFC 9110 §8.6 has it.
/// (saturating: a longer number than `usize` holds is as absurd as `usize::MAX`).
fn decimal(value: &[u8]) -> Option<usize> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(value.iter().fold(0usize, |n, d| n.saturating_mul(10).saturating_add(usize::from(d - b'0'))))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: &str = "POST /endpoints/churn/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/csv\r\nContent-Length: 5\r\n\r\n1,2,3";

    /// How smemu's API reads invocations (`smemu_api::wire::plain`).
    fn endpoint_of(path: &str) -> Option<String> {
        let name = path.strip_prefix("/endpoints/")?.strip_suffix("/invocations")?;
        if name.is_empty() || name.contains('/') {
            return None;
        }
        Some(name.replace("%20", " "))
    }

    static READ_HEADERS: [HeaderName; 2] = [http::header::CONTENT_TYPE, http::header::AUTHORIZATION];
    const MAX_BODY: usize = 6_000_000;
    const MAX_OTHER_BODY: usize = 2 * 1024 * 1024;

    fn rule(every_header: bool) -> PlainRule {
        PlainRule {
            route: endpoint_of,
            read_headers: &READ_HEADERS,
            every_header,
            max_body: MAX_BODY,
            max_other_body: MAX_OTHER_BODY,
        }
    }

    fn parse(buf: &[u8], every_header: bool) -> Parsed {
        super::parse(buf, &rule(every_header))
    }

    fn plain(request: &str) -> (PlainHead, usize) {
        match parse(request.as_bytes(), false) {
            Parsed::Plain(head, length) => (head, length),
            Parsed::Partial => panic!("partial: {request:?}"),
            Parsed::Other => panic!("not plain: {request:?}"),
            Parsed::Refused(refusal) => panic!("refused ({refusal:?}): {request:?}"),
        }
    }

    #[test]
    fn a_plain_invocation_is_parsed_with_its_endpoint_headers_and_length() {
        let (head, length) = plain(PLAIN);
        assert_eq!(head.key, "churn");
        assert_eq!(head.content_length, 5);
        assert_eq!(&PLAIN.as_bytes()[length..], b"1,2,3");
        assert_eq!(head.headers.get("content-type").unwrap(), "text/csv");
        assert_eq!(plain(&PLAIN.replace("churn", "my%20endpoint")).0.key, "my endpoint");
        assert_eq!(plain(&PLAIN.replace("Host", "Connection: keep-alive\r\nHost")).0.content_length, 5);
    }

    #[test]
    fn strict_mode_keeps_every_header_and_the_path_for_the_signature_check() {
        let request = PLAIN.replace("Host", "X-Amz-Date: 20260101T000000Z\r\nUser-Agent: sdk\r\nHost");
        let Parsed::Plain(head, _) = parse(request.as_bytes(), true) else { panic!("not plain") };
        assert_eq!(head.target, "/endpoints/churn/invocations");
        for name in ["host", "content-type", "content-length", "x-amz-date", "user-agent"] {
            assert!(head.headers.contains_key(name), "{name}");
        }
        let (head, _) = plain(PLAIN);
        assert_eq!(head.target, "", "nothing more is kept without every_header");
        assert!(!head.headers.contains_key("host") && !head.headers.contains_key("content-length"));
    }

    #[test]
    fn a_head_cut_short_waits_for_more() {
        for end in [0, 10, PLAIN.find("\r\n\r\n").unwrap()] {
            assert!(matches!(parse(&PLAIN.as_bytes()[..end], false), Parsed::Partial), "{end}");
        }
    }

    #[test]
    fn anything_but_a_plain_invocation_is_left_to_hyper() {
        let others = [
            PLAIN.replace("POST", "GET"),
            PLAIN.replace("HTTP/1.1", "HTTP/1.0"),
            PLAIN.replace("/endpoints/churn/invocations", "/"),
            PLAIN.replace("/invocations", "/invocations?x=1"),
            PLAIN.replace("Content-Length: 5", "Transfer-Encoding: chunked"),
            PLAIN.replace("Content-Length: 5", "Content-Length: 5\r\nContent-Length: 5"),
            PLAIN.replace("Content-Length: 5\r\n", ""),
            PLAIN.replace("Host", "Expect: 100-continue\r\nHost"),
            PLAIN.replace("Host", "Connection: close\r\nHost"),
            PLAIN.replace("Host", "Upgrade: h2c\r\nHost"),
            PLAIN.replace("Host", &format!("{}Host", "X-Many: 1\r\n".repeat(MAX_HEADERS))),
            PLAIN
                .replace("/endpoints/churn/invocations", "/")
                .replace("Content-Length: 5", &format!("Content-Length: {MAX_OTHER_BODY}")),
        ];
        for request in others {
            assert!(matches!(parse(request.as_bytes(), false), Parsed::Other), "{request:?}");
        }
    }

    #[test]
    fn malformed_heads_and_absurd_lengths_are_refused_at_once() {
        let control = PLAIN.replace("/endpoints/churn/invocations", "/");
        let refused = [
            (PLAIN.replace("Content-Length: 5", "Content-Length: +5"), Refusal::Malformed("")),
            (
                PLAIN.replace("Content-Length: 5", &format!("Content-Length: {}", MAX_BODY + 1)),
                Refusal::PlainBodyTooLarge { max: MAX_BODY },
            ),
            (
                PLAIN.replace("Content-Length: 5", "Content-Length: 9223372036854775807"),
                Refusal::PlainBodyTooLarge { max: MAX_BODY },
            ),
            (
                PLAIN.replace("Content-Length: 5", "Content-Length: 99999999999999999999999"),
                Refusal::PlainBodyTooLarge { max: MAX_BODY },
            ),
            (
                PLAIN.replace("Content-Length: 5", "Transfer-Encoding: chunked\r\nContent-Length: 9223372036854775807"),
                Refusal::PlainBodyTooLarge { max: MAX_BODY },
            ),
            (
                control.replace("Content-Length: 5", &format!("Content-Length: {}", MAX_OTHER_BODY + 1)),
                Refusal::BodyTooLarge { max: MAX_OTHER_BODY },
            ),
            (
                control.replace("Content-Length: 5", "Content-Length: 9223372036854775807"),
                Refusal::BodyTooLarge { max: MAX_OTHER_BODY },
            ),
            (control.replace("Content-Length: 5", "Content-Length: x"), Refusal::Malformed("")),
            (PLAIN.replace("Content-Length: 5", "Content-Length: 5\r\nContent-Length: 6"), Refusal::Malformed("")),
            (control.replace("Content-Length: 5", "Content-Length: 5\r\nContent-Length: 6"), Refusal::Malformed("")),
            ("\0garbage\r\n\r\n".to_owned(), Refusal::Malformed("")),
            ("GET / HTTP/1.1\r\nBad Header: 1\r\n\r\n".to_owned(), Refusal::Malformed("")),
            (
                PLAIN.replace("Host", &format!("X-Big: {}\r\nHost", "b".repeat(MAX_HEAD))),
                Refusal::HeadTooLarge { max: MAX_HEAD },
            ),
            // hyper would answer more than its 100 headers with a bare 431.
            (
                PLAIN.replace("Host", &format!("{}Host", "X-Many: 1\r\n".repeat(HYPER_MAX_HEADERS))),
                Refusal::TooManyHeaders { max: HYPER_MAX_HEADERS },
            ),
        ];
        for (request, expected) in refused {
            match parse(request.as_bytes(), false) {
                Parsed::Refused(Refusal::Malformed(_)) if matches!(expected, Refusal::Malformed(_)) => {}
                Parsed::Refused(refusal) => assert_eq!(refusal, expected, "{request:?}"),
                _ => panic!("not refused: {request:?}"),
            }
        }
    }
}
