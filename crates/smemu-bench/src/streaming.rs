//! The streaming scenario: InvokeEndpointWithResponseStream through smemu (its event stream read
//! and decoded) beside the same 2-container pipeline called directly (the first container's
//! whole answer sent to the second, whose chunked answer is read as it arrives), in interleaved
//! rounds. Per round: the time to the first part (small requests, one after another) and the
//! payload bytes per second of large streamed answers; the summary gives ranges and medians.

use std::time::{Duration, Instant};

use anyhow::bail;
use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::Request;

use crate::{Args, Sender, connect, median, ms};

/// The small request of the time-to-first-part measurement.
const SMALL: &[u8] = b"first-part-bench";
/// The large request of the bytes/s measurement (the last container streams it back in chunks).
const LARGE: usize = 1024 * 1024;

/// One measurement: time to the first part (p50 over the requests) and payload bytes/s.
struct Sample {
    first_part: Duration,
    bytes_per_second: f64,
}

/// Where a stream is read from.
enum Side<'a> {
    /// smemu's `invocations-response-stream` path.
    Smemu { sender: Sender, target: &'a str, path: String },
    /// The pipeline's containers, the last one's answer read as it comes.
    Direct { hops: Vec<(Sender, &'a str)> },
}

impl Side<'_> {
    /// Sends `body`; returns when the first payload byte came and the payload bytes read.
    async fn stream(&mut self, body: Bytes) -> anyhow::Result<(Duration, usize)> {
        let started = Instant::now();
        match self {
            Side::Smemu { sender, target, path } => {
                let request = Request::post(path.as_str())
                    .header("host", *target)
                    .header("content-type", "application/octet-stream")
                    .header(
                        "authorization",
                        "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/us-east-1/sagemaker/aws4_request, SignedHeaders=host, Signature=0",
                    )
                    .body(Full::new(body))?;
                sender.ready().await?;
                let response = sender.send_request(request).await?;
                if response.status() != 200 {
                    bail!("smemu answered {}", response.status());
                }
                let mut body = response.into_body();
                let (mut decoder, mut buf) = (MessageFrameDecoder::new(), BytesMut::new());
                let (mut first, mut total) = (None, 0);
                while let Some(frame) = body.frame().await {
                    let Ok(data) = frame?.into_data() else { continue };
                    buf.extend_from_slice(&data);
                    while let DecodedFrame::Complete(message) = decoder.decode_frame(&mut buf)? {
                        first.get_or_insert_with(|| started.elapsed());
                        total += message.payload().len();
                    }
                }
                Ok((first.unwrap_or_default(), total))
            }
            Side::Direct { hops } => {
                let mut body = body;
                let last = hops.len().saturating_sub(1);
                for (index, (sender, addr)) in hops.iter_mut().enumerate() {
                    let request = Request::post("/invocations")
                        .header("host", *addr)
                        .header("content-type", "application/octet-stream")
                        .body(Full::new(body.clone()))?;
                    sender.ready().await?;
                    let response = sender.send_request(request).await?;
                    if response.status() != 200 {
                        bail!("container {addr} answered {}", response.status());
                    }
                    if index < last {
                        body = response.into_body().collect().await?.to_bytes();
                        continue;
                    }
                    let mut answer = response.into_body();
                    let (mut first, mut total) = (None, 0);
                    while let Some(frame) = answer.frame().await {
                        let Ok(data) = frame?.into_data() else { continue };
                        first.get_or_insert_with(|| started.elapsed());
                        total += data.len();
                    }
                    return Ok((first.unwrap_or_default(), total));
                }
                bail!("no containers")
            }
        }
    }

    /// Small requests for `seconds`, then large ones for `seconds`.
    async fn sample(&mut self, seconds: Duration) -> anyhow::Result<Sample> {
        let mut firsts = Vec::new();
        let deadline = Instant::now() + seconds;
        while Instant::now() < deadline {
            let (first, _) = self.stream(Bytes::from_static(SMALL)).await?;
            firsts.push(first);
        }
        let large = Bytes::from(vec![b'x'; LARGE]);
        let (started, mut bytes) = (Instant::now(), 0usize);
        let deadline = started + seconds;
        while Instant::now() < deadline {
            let (_, read) = self.stream(large.clone()).await?;
            if read != LARGE {
                bail!("a stream carried {read} bytes, not {LARGE}");
            }
            bytes += read;
        }
        firsts.sort();
        let first_part = firsts.get(firsts.len() / 2).copied().unwrap_or_default();
        Ok(Sample { first_part, bytes_per_second: bytes as f64 / started.elapsed().as_secs_f64() })
    }
}

/// `--rounds` rounds of smemu then direct; prints each round and the summary.
pub(crate) async fn compare(args: &Args) -> anyhow::Result<()> {
    let mut smemu = Side::Smemu {
        sender: connect(&args.target).await?,
        target: &args.target,
        path: format!("/endpoints/{}/invocations-response-stream", args.endpoint),
    };
    let mut hops = Vec::new();
    for addr in &args.direct {
        hops.push((connect(addr).await?, addr.as_str()));
    }
    let mut direct = Side::Direct { hops };
    let seconds = Duration::from_secs(args.seconds);
    let (mut added, mut ratio) = (Vec::new(), Vec::new());
    for round in 1..=args.rounds {
        let s = smemu.sample(seconds).await?;
        let d = direct.sample(seconds).await?;
        let (a, r) = (ms(s.first_part) - ms(d.first_part), s.bytes_per_second / d.bytes_per_second * 100.0);
        println!(
            "round {round}: first part smemu {:.3} ms, direct {:.3} ms (+{a:.3} ms); streamed smemu {:.0} MB/s, direct {:.0} MB/s ({r:.0} %)",
            ms(s.first_part),
            ms(d.first_part),
            s.bytes_per_second / 1e6,
            d.bytes_per_second / 1e6
        );
        added.push(a);
        ratio.push(r);
    }
    let range = |v: &[f64]| {
        let (lo, hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
        (lo, median(v.iter().copied()), hi)
    };
    let (lo, mid, hi) = range(&added);
    println!("Streaming first part: added {lo:.3} .. {hi:.3} ms (median {mid:.3}) over {} rounds", args.rounds);
    let (lo, mid, hi) = range(&ratio);
    println!("Streaming bytes/s: {lo:.0} .. {hi:.0} % of direct (median {mid:.0} %) over {} rounds", args.rounds);
    Ok(())
}
