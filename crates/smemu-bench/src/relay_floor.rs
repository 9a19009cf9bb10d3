//! The relay floor: the cheapest relay a pipeline invocation could go through, as a reference
//! beside smemu in `make bench`.
//!
//! Invoking through any relay costs one more HTTP exchange than the bench client calling the
//! containers itself. This relay does nothing else: one task per client connection with its own
//! connection to each container, requests and answers framed by `Content-Length` only (what the
//! bench client and the test image send), no routing, no pool, no checks. What it reaches of the
//! direct baseline is what the extra hop allows on the machine, whatever the relay.

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Serves on `listener` until the process ends: each request's body goes through `containers`
/// in order, the last answer's body comes back.
pub(crate) async fn serve(listener: TcpListener, containers: Vec<String>) -> anyhow::Result<()> {
    println!("relay-floor listening on {}", listener.local_addr()?);
    loop {
        let (client, _) = listener.accept().await?;
        let containers = containers.clone();
        tokio::spawn(async move {
            if let Err(err) = relay(client, &containers).await {
                eprintln!("relay-floor: {err:#}");
            }
        });
    }
}

async fn relay(mut client: TcpStream, containers: &[String]) -> anyhow::Result<()> {
    client.set_nodelay(true)?;
    let mut hops = Vec::new();
    for addr in containers {
        let stream = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        hops.push((addr, stream, Vec::new()));
    }
    let mut pending = Vec::new();
    while let Some(mut body) = read_message(&mut client, &mut pending).await? {
        for (addr, stream, pending) in &mut hops {
            let mut request = format!(
                "POST /invocations HTTP/1.1\r\nhost: {addr}\r\ncontent-type: text/csv\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            request.extend_from_slice(&body);
            stream.write_all(&request).await?;
            body = read_message(stream, pending).await?.context("the container closed the connection")?;
        }
        let mut answer =
            format!("HTTP/1.1 200 OK\r\ncontent-type: text/csv\r\ncontent-length: {}\r\n\r\n", body.len()).into_bytes();
        answer.extend_from_slice(&body);
        client.write_all(&answer).await?;
    }
    Ok(())
}

/// The body of the next message on `stream`; `None` at a clean end of the connection.
async fn read_message(stream: &mut TcpStream, pending: &mut Vec<u8>) -> anyhow::Result<Option<Vec<u8>>> {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).to_ascii_lowercase();
            let length = match head.lines().find_map(|line| line.strip_prefix("content-length:")) {
                Some(value) => value.trim().parse::<usize>().context("Content-Length")?,
                None => 0,
            };
            let start = end + 4;
            while pending.len() < start + length {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    bail!("the connection closed inside a message");
                }
                pending.extend_from_slice(&chunk[..n]);
            }
            let body = pending[start..start + length].to_vec();
            pending.drain(..start + length);
            return Ok(Some(body));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return if pending.is_empty() { Ok(None) } else { bail!("the connection closed inside a message") };
        }
        pending.extend_from_slice(&chunk[..n]);
    }
}
