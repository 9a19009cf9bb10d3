//! What the caller tells the fast path: which requests are plain ([`PlainRule`]), how to answer
//! one ([`PlainHandler::reply`], given the parsed [`PlainHead`] and a [`PlainBody`] to read when
//! it chooses) and how to answer a request refused before its body ([`PlainHandler::refuse`]).

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, StatusCode};
use tokio::net::TcpStream;
use tokio::time::Sleep;

use crate::body::{self, BodyError};
use crate::limits::WireConfig;

/// Which requests the fast path serves. Whatever the rule, a plain request is also HTTP/1.1,
/// `POST`, one `Content-Length` of at most [`PlainRule::max_body`], no `Transfer-Encoding`,
/// `Expect`, `Upgrade` or `Connection` other than `keep-alive`, and a few dozen headers: what
/// the AWS SDKs and CLI send.
#[derive(Debug, Clone)]
pub struct PlainRule {
    /// The key of a plain request's path (for smemu, the endpoint's name, from
    /// `/endpoints/{name}/invocations`); `None`: the path is not the fast path's.
    pub route: fn(&str) -> Option<String>,
    /// The headers the handler reads: only these are kept ([`PlainHead::headers`]).
    pub read_headers: &'static [HeaderName],
    /// Keep every header and the request target instead (for a signature check over them).
    pub every_header: bool,
    /// The longest body of a plain request; a longer `Content-Length` is refused at once
    /// ([`Refusal::PlainBodyTooLarge`]).
    pub max_body: usize,
    /// The longest body of any other request (the caller's service reads no more); a longer
    /// `Content-Length` is refused at once ([`Refusal::BodyTooLarge`]), as waiting for it would
    /// hang the client.
    pub max_other_body: usize,
}

/// A plain request's head, owned, so that the read buffer can move on.
#[derive(Debug)]
pub struct PlainHead {
    /// What [`PlainRule::route`] made of the path.
    pub key: String,
    /// The path as received, with [`PlainRule::every_header`] (empty otherwise).
    pub target: String,
    /// The headers named in [`PlainRule::read_headers`], or every header.
    pub headers: HeaderMap,
    /// The body's length, from `Content-Length`.
    pub content_length: usize,
}

/// Why the fast path refuses a request before its body (which is never read): what hyper would
/// answer with an empty or plain-text body, or (absurd lengths) wait for. The connection closes
/// after the answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The head is longer than `max` bytes.
    HeadTooLarge { max: usize },
    /// More headers than hyper reads (`max`).
    TooManyHeaders { max: usize },
    /// Not HTTP/1.x, or a `Content-Length` that is not a number; what is wrong.
    Malformed(&'static str),
    /// A request other than a plain one with a body longer than [`PlainRule::max_other_body`].
    BodyTooLarge { max: usize },
    /// A plain request's body longer than [`PlainRule::max_body`].
    PlainBodyTooLarge { max: usize },
}

/// An answer the fast path frames and writes.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    /// Every header but `Content-Length` and `Date`, which the framing adds.
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The caller's side of the fast path (for smemu, the API's InvokeEndpoint handler).
pub trait PlainHandler: Send + Sync + 'static {
    /// Which requests are plain.
    fn rule(&self) -> &PlainRule;

    /// Answers a plain request. `body` is read only if the handler asks for it: one answered
    /// without it (a missing resource, a throttled call) is read past by the fast path, so that
    /// the connection serves the next request.
    fn reply(&self, head: PlainHead, body: PlainBody<'_>) -> impl Future<Output = Reply> + Send;

    /// Answers a request refused before its body.
    fn refuse(&self, refusal: Refusal) -> Reply;
}

/// A plain request's body, still on the connection: read in full by [`PlainBody::read`], at
/// the listener's minimum rate.
pub struct PlainBody<'a> {
    pub(crate) tcp: &'a mut TcpStream,
    pub(crate) buf: &'a mut bytes::BytesMut,
    pub(crate) timer: Pin<&'a mut Sleep>,
    pub(crate) config: &'a WireConfig,
    pub(crate) length: usize,
    pub(crate) outcome: &'a mut BodyOutcome,
}

/// What became of a [`PlainBody`], for the fast path to go on with the connection.
#[derive(Debug, Default)]
pub(crate) struct BodyOutcome {
    /// The handler asked for the body.
    pub read: bool,
    /// ... and it could not be read: the connection is not usable any more.
    pub cut_off: bool,
}

impl PlainBody<'_> {
    /// The body's length, from `Content-Length`.
    pub fn len(&self) -> usize {
        self.length
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// The whole body; an error if the connection closes or the body comes more slowly than the
    /// minimum rate (the connection then closes without an answer).
    pub async fn read(self) -> Result<Bytes, BodyError> {
        self.outcome.read = true;
        let read = body::read_body(self.tcp, self.buf, self.length, self.timer, self.config).await;
        self.outcome.cut_off = read.is_err();
        read
    }
}
