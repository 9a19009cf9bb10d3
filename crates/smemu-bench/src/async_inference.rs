//! The async scenario: `--requests` InvokeEndpointAsync calls sent by `--concurrency` keep-alive
//! connections, then the time until every output object is in the embedded S3. Outputs are counted
//! by listing the output prefix (unsigned: `--auth any` reads anonymous requests as the default
//! account), so no client but this one and smemu spend CPU on the figure. Prints the rate at which
//! requests were accepted (202) and the rate from the first send to the last output written.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;

use crate::{Args, Sender, connect};

/// The longest a round waits for its outputs.
const WAIT: Duration = Duration::from_secs(120);
/// How often the output prefix is listed: as bench-async.sh's boto3 part does. A listing costs smemu
/// a walk of the bucket's directory (s3s-fs), so polling much faster would load what it measures.
const POLL: Duration = Duration::from_millis(50);
/// One ListObjectsV2 page: more requests per round would need continuation tokens.
const MAX_KEYS: usize = 1000;

pub(crate) async fn round(args: &Args) -> anyhow::Result<()> {
    let (Some(input), Some(output), Some(s3)) = (&args.input, &args.output, &args.s3) else {
        bail!("async needs --input (the InputLocation), --output (the endpoint's S3OutputPath) and --s3")
    };
    if args.requests > MAX_KEYS {
        bail!("at most {MAX_KEYS} requests per round");
    }
    let (bucket, prefix) = split_s3(output)?;
    let tag = format!("b{}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_micros());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let mut sender = connect(&args.target).await?;
        let (target, path, input, tag, next) = (
            args.target.clone(),
            format!("/endpoints/{}/async-invocations", args.endpoint),
            input.clone(),
            tag.clone(),
            next.clone(),
        );
        let requests = args.requests;
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    return anyhow::Ok(());
                }
                send(&mut sender, &target, &path, &input, &format!("{tag}-{i}")).await?;
            }
        }));
    }
    for worker in workers {
        worker.await??;
    }
    let accepted = started.elapsed();
    let mut lister = connect(s3).await?;
    let list = format!("/{bucket}?list-type=2&prefix={prefix}{tag}-");
    loop {
        let written = key_count(&mut lister, s3, &list).await?;
        if written >= args.requests {
            break;
        }
        if started.elapsed() > WAIT {
            bail!("{written} of {} outputs written after {} s", args.requests, WAIT.as_secs());
        }
        tokio::time::sleep(POLL).await;
    }
    let done = started.elapsed();
    let rate = |d: Duration| args.requests as f64 / d.as_secs_f64();
    println!(
        "async c={}: {} requests accepted at {:.0} req/s, every output written at {:.0} req/s",
        args.concurrency,
        args.requests,
        rate(accepted),
        rate(done)
    );
    Ok(())
}

async fn send(sender: &mut Sender, target: &str, path: &str, input: &str, id: &str) -> anyhow::Result<()> {
    let request = Request::post(path)
        .header("host", target)
        .header("x-amzn-sagemaker-content-type", "text/csv")
        .header("x-amzn-sagemaker-inputlocation", input)
        .header("x-amzn-sagemaker-inference-id", id)
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/us-east-1/sagemaker/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(Full::new(Bytes::new()))?;
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    if status != 202 {
        bail!("InvokeEndpointAsync answered {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(())
}

/// `KeyCount` of one ListObjectsV2 page.
async fn key_count(sender: &mut Sender, host: &str, path: &str) -> anyhow::Result<usize> {
    let request = Request::get(path).header("host", host).body(Full::new(Bytes::new()))?;
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    let text = String::from_utf8_lossy(&body);
    if status != 200 {
        bail!("listing the outputs answered {status}: {text}");
    }
    let count = text
        .split_once("<KeyCount>")
        .and_then(|(_, rest)| rest.split_once("</KeyCount>"))
        .context("no KeyCount in the listing")?
        .0;
    Ok(count.parse()?)
}

/// `s3://bucket/a/b` → (`bucket`, `a/b/`).
fn split_s3(uri: &str) -> anyhow::Result<(&str, String)> {
    let rest = uri.strip_prefix("s3://").context("--output is not an s3:// URI")?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    let key = key.trim_end_matches('/');
    Ok((bucket, if key.is_empty() { String::new() } else { format!("{key}/") }))
}
