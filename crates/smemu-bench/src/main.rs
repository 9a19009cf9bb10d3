//! `smemu-bench`: a loopback load generator for `make bench`.
//!
//! Drives smemu's control plane with keep-alive HTTP/1.1 connections at a fixed concurrency for a
//! fixed time and prints requests/s and latency percentiles. Each worker owns one connection, so
//! concurrency is exactly the number of requests in flight.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Parser, ValueEnum};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;

#[derive(Debug, Parser)]
struct Args {
    /// smemu's address, e.g. 127.0.0.1:9090.
    #[arg(long)]
    target: String,
    #[arg(long, value_enum)]
    scenario: Scenario,
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    #[arg(long, default_value_t = 5)]
    seconds: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Scenario {
    /// DescribeModel of one existing model.
    DescribeModel,
    /// CreateModel then DeleteModel of a fresh name (a pair counts as one operation).
    CreateDeleteModel,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut setup = connect(&args.target).await?;
    if let Scenario::DescribeModel = args.scenario {
        // Ignore "already exists": the model may remain from an earlier run.
        let _ = call(
            &mut setup,
            &args.target,
            "CreateModel",
            r#"{"ModelName":"bench-model","PrimaryContainer":{"Image":"bench"}}"#,
        )
        .await?;
    }
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let mut workers = Vec::new();
    for worker in 0..args.concurrency {
        let target = args.target.clone();
        let scenario = args.scenario;
        workers.push(tokio::spawn(async move { run_worker(worker, &target, scenario, deadline).await }));
    }
    let started = Instant::now();
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "{:<20} c={:<3} {:>9.0} ops/s   p50 {:>7.3} ms   p99 {:>7.3} ms   ({} ops)",
        format!("{:?}", args.scenario),
        args.concurrency,
        latencies.len() as f64 / elapsed,
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
        latencies.len()
    );
    Ok(())
}

async fn run_worker(
    worker: usize,
    target: &str,
    scenario: Scenario,
    deadline: Instant,
) -> anyhow::Result<Vec<Duration>> {
    let mut sender = connect(target).await?;
    let mut latencies = Vec::new();
    let mut n = 0u64;
    while Instant::now() < deadline {
        let started = Instant::now();
        match scenario {
            Scenario::DescribeModel => {
                expect_ok(call(&mut sender, target, "DescribeModel", r#"{"ModelName":"bench-model"}"#).await?)?;
            }
            Scenario::CreateDeleteModel => {
                let name = format!("bench-{worker}-{n}");
                let create = format!(r#"{{"ModelName":"{name}","PrimaryContainer":{{"Image":"bench"}}}}"#);
                expect_ok(call(&mut sender, target, "CreateModel", &create).await?)?;
                expect_ok(call(&mut sender, target, "DeleteModel", &format!(r#"{{"ModelName":"{name}"}}"#)).await?)?;
            }
        }
        latencies.push(started.elapsed());
        n += 1;
    }
    Ok(latencies)
}

async fn connect(target: &str) -> anyhow::Result<Sender> {
    let stream = tokio::net::TcpStream::connect(target).await.with_context(|| format!("connecting to {target}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn call(sender: &mut Sender, target: &str, operation: &str, body: &str) -> anyhow::Result<(u16, Bytes)> {
    let request = Request::post("/")
        .header("host", target)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", format!("SageMaker.{operation}"))
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/us-east-1/sagemaker/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(Full::new(Bytes::from(body.to_owned())))?;
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

fn expect_ok((status, body): (u16, Bytes)) -> anyhow::Result<()> {
    if status != 200 {
        bail!("status {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(())
}
