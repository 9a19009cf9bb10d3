//! Reading a plain request's body on the fast path: in full, or read past, each within the
//! listener's minimum rate.

use std::io;
use std::pin::Pin;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use crate::framing::RESERVE_STEP;
use crate::limits::WireConfig;

/// How much is read at once while waiting for a head, or reading past a body.
pub(crate) const READ_CHUNK: usize = 8 * 1024;

/// Why a body was not read in full.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the connection closed")]
    Closed,
    #[error("the body came more slowly than {0} bytes per second")]
    TooSlow(u64),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Reads one more chunk of a body into `buf`, unless the minimum rate's deadline passes first.
async fn fill_body(
    tcp: &mut TcpStream,
    buf: &mut BytesMut,
    timer: Pin<&mut Sleep>,
    rate: u64,
) -> Result<(), BodyError> {
    tokio::select! {
        biased;
        read = tcp.read_buf(buf) => match read? {
            0 => Err(BodyError::Closed),
            _ => Ok(()),
        },
        () = timer => Err(BodyError::TooSlow(rate)),
    }
}

/// The next `length` bytes of the connection (the first of them may be in `buf` already).
pub(crate) async fn read_body(
    tcp: &mut TcpStream,
    buf: &mut BytesMut,
    length: usize,
    mut timer: Pin<&mut Sleep>,
    config: &WireConfig,
) -> Result<Bytes, BodyError> {
    if buf.len() < length {
        let start = Instant::now();
        let already = buf.len();
        while buf.len() < length {
            timer.as_mut().reset(config.body_deadline(start, (buf.len() - already) as u64));
            let missing = length - buf.len();
            if buf.capacity() == buf.len() {
                // Reserved as it comes, whatever the length claims.
                buf.reserve(missing.min(RESERVE_STEP));
            }
            fill_body(tcp, buf, timer.as_mut(), config.min_body_rate).await?;
        }
    }
    Ok(buf.split_to(length).freeze())
}

/// Reads past the next `length` bytes without keeping them.
pub(crate) async fn discard(
    tcp: &mut TcpStream,
    buf: &mut BytesMut,
    length: usize,
    mut timer: Pin<&mut Sleep>,
    config: &WireConfig,
) -> Result<(), BodyError> {
    let start = Instant::now();
    let mut left = length;
    loop {
        let n = left.min(buf.len());
        buf.advance(n);
        left -= n;
        if left == 0 {
            return Ok(());
        }
        timer.as_mut().reset(config.body_deadline(start, (length - left) as u64));
        buf.reserve(READ_CHUNK);
        fill_body(tcp, buf, timer.as_mut(), config.min_body_rate).await?;
    }
}
