//! smemu's HTTP/1.1 transport: one listener that serves (`serve`) and one pooled client that
//! sends to containers (`Http1Pool::send`), with the framing they share. It knows no SageMaker:
//! the caller says which requests are plain and answers them.
//!
//! # The plain path: serve
//!
//! [`serve`] (`accept.rs`) accepts each connection and gives it to one of the **lanes**
//! (`lanes.rs`: a thread per core, each with a current-thread runtime, so that a connection and
//! the container connections it uses never move between threads). There the **fast path**
//! (`fast_path.rs`) reads each request's head (`head.rs`) and asks the caller's [`PlainRule`]
//! whether it is plain: for smemu, `POST /endpoints/{name}/invocations` as the AWS SDKs send it.
//! A plain request goes to the caller's **handler**, [`PlainHandler::reply`], with its parsed
//! [`PlainHead`] and a [`PlainBody`] that reads the body (`body.rs`) only if the handler asks; the
//! handler's [`Reply`] is **written** with one `send` (`framing.rs`), and the connection waits
//! for its next request. A head that is malformed, or announces a body longer than any handler
//! reads, is answered at once with the handler's [`PlainHandler::refuse`], and the connection
//! closes.
//!
//! # The plain path: send to a container
//!
//! The caller's relay sends each request with [`Http1Pool::send`] (`client.rs`): a **pooled**
//! keep-alive connection to the container's address (the lane's own pool on a lane), the request
//! head and body written with the same **framing** (`framing.rs`), and the answer read whole,
//! framed by length, chunks or the end of the connection, all in the caller's task.
//!
//! # The hand-off
//!
//! At a connection's first request that is not plain (the control plane, a chunked body,
//! `Expect: 100-continue`, ...), the fast path hands the connection, with the bytes it has read,
//! to hyper's HTTP/1.1 server on the main runtime (`hand_off.rs`), which serves every later
//! request on it with the caller's hyper [`Service`]; each body keeps up the listener's minimum
//! rate ([`MinRate`]), and the connection is polled through `inline_wake.rs`.
//!
//! Both sides wait on timers made on a runtime of their own ([`timers`]). The limits (idle and
//! head timeout, minimum body rate, shutdown grace, the cap on buffered body bytes) are one
//! [`WireConfig`].

mod accept;
mod body;
mod client;
mod fast_path;
mod framing;
mod hand_off;
mod head;
mod inline_wake;
mod lanes;
mod limits;
mod plain;
pub mod timers;

pub use accept::serve;
pub use body::BodyError;
pub use client::{Answer, BodyReader, ClientError, Http1Pool, Request, StreamingAnswer};
pub use hand_off::Service;
pub use limits::{Buffered, MinRate, Reservation, WireConfig};
pub use plain::{PlainBody, PlainHandler, PlainHead, PlainRule, Refusal, Reply};
