//! The framing both directions share: a message's head and body written with one `send` (or one
//! `writev`), decimal numbers written without allocating, and how much of a claimed body length is
//! reserved at once.

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Bodies up to this size are copied behind the head and sent with one `send`; larger ones go
/// out with the head in one `writev`, which costs more in the kernel than a copy this size.
const COPY_BODY_UP_TO: usize = 16 * 1024;

/// How much of a body is reserved at once, whatever its `Content-Length` claims.
pub(crate) const RESERVE_STEP: usize = 1024 * 1024;

/// Writes a message, its head by `head` and then `body`: copied together and sent with one
/// `send` up to [`COPY_BODY_UP_TO`], or in one `writev` without a copy.
pub(crate) async fn write_message(
    stream: &mut TcpStream,
    head: impl FnOnce(&mut BytesMut),
    body: &Bytes,
) -> std::io::Result<()> {
    let small = body.len() <= COPY_BODY_UP_TO;
    let mut message = BytesMut::with_capacity(256 + if small { body.len() } else { 0 });
    head(&mut message);
    if small {
        message.extend_from_slice(body);
        stream.write_all(&message).await
    } else {
        stream.write_all_buf(&mut message.chain(body.clone())).await
    }
}

/// Appends `n` in decimal, without the allocation of `to_string`.
pub(crate) fn push_decimal(buf: &mut BytesMut, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_written_digit_by_digit() {
        for n in [0, 7, 10, 1200, usize::MAX] {
            let mut buf = BytesMut::new();
            push_decimal(&mut buf, n);
            assert_eq!(&buf[..], n.to_string().as_bytes());
        }
    }
}
