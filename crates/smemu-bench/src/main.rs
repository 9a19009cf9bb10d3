//! `smemu-bench`: a loopback load generator for `make bench`.
//!
//! Drives smemu's control plane with keep-alive HTTP/1.1 connections at a fixed concurrency for a
//! fixed time and prints requests/s and latency percentiles. Each worker owns one connection, so
//! concurrency is exactly the number of requests in flight. `compare` interleaves invocations
//! through smemu, through the relay floor (`relay_floor.rs`) and direct, round by round, so that
//! a busy machine's drift hits all three alike. The transform scenarios (`transform.rs`) time one
//! job instead.

mod async_inference;
mod relay_floor;
mod streaming;
mod transform;
mod writes;

use std::path::PathBuf;
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
    /// `invoke`: the endpoint; `deploy`: the endpoint to create.
    #[arg(long, default_value = "bench-endpoint")]
    endpoint: String,
    /// `direct`, `compare`, `relay-floor`: the pipeline's containers (`127.0.0.1:PORT`, in order),
    /// called one after the other.
    #[arg(long, value_delimiter = ',')]
    direct: Vec<String>,
    /// `compare`: a running relay floor (`--scenario relay-floor`) to measure beside smemu.
    #[arg(long)]
    floor: Option<String>,
    /// With `compare`: smemu's process id, to report the CPU it spends per invocation.
    #[arg(long)]
    smemu_pid: Option<u32>,
    /// With `compare`: the relay floor's process id, likewise.
    #[arg(long)]
    floor_pid: Option<u32>,
    /// `compare`, `writes`: how many rounds of smemu, floor and direct (of the write and read runs).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// `deploy`: the image of both pipeline containers.
    #[arg(long, default_value = "smemu-testmodel:latest")]
    image: String,
    /// `deploy`: the test image's `SMEMU_TEST_ROLE` of both containers (`transform` tags every line).
    #[arg(long, default_value = "echo")]
    role: String,
    /// `deploy`: the last container's role instead of `--role` (e.g. `stream`).
    #[arg(long)]
    last_role: Option<String>,
    /// `deploy`: more environment for the last container, as `NAME=VALUE` pairs.
    #[arg(long, value_delimiter = ',')]
    last_env: Vec<String>,
    /// `deploy`: capture every invocation (`DataCaptureConfig` at 100 %, input and output) under this S3 URI.
    #[arg(long)]
    capture_destination: Option<String>,
    /// `deploy`: an asynchronous endpoint (`AsyncInferenceConfig`, 4 invocations per instance at a
    /// time) whose outputs go under this S3 URI (failures under `<URI>-failures`).
    #[arg(long)]
    async_output: Option<String>,
    /// `async`: the embedded S3's address, where the outputs are counted.
    #[arg(long)]
    s3: Option<String>,
    /// `async`: how many InvokeEndpointAsync requests (at most 1000).
    #[arg(long, default_value_t = 400)]
    requests: usize,
    /// `deploy`, `transform`: how many instances.
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// `transform`: the model to run (as `deploy` creates it).
    #[arg(long, default_value = "bench-transform")]
    model: String,
    /// `transform`: the S3 prefix of the input objects; `async`: the requests' InputLocation.
    #[arg(long)]
    input: Option<String>,
    /// `transform`: where outputs go (the job's name is appended); `async`: the endpoint's S3OutputPath.
    #[arg(long)]
    output: Option<String>,
    /// `transform`, `transform-direct`: `MaxPayloadInMB`.
    #[arg(long, default_value_t = 1)]
    payload_mb: u32,
    /// `transform`, `transform-direct`: the number of records in the input, for records/s.
    #[arg(long, default_value_t = 100_000)]
    records: u64,
    /// `transform-direct`: the input objects as local files.
    #[arg(long, value_delimiter = ',')]
    files: Vec<PathBuf>,
    /// `transform-direct`: one instance's pipeline (`127.0.0.1:P1,127.0.0.1:P2`); repeat per instance.
    #[arg(long)]
    pipeline: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Scenario {
    /// DescribeModel of one existing model.
    DescribeModel,
    /// CreateModel then DeleteModel of a fresh name (a pair counts as one operation).
    CreateDeleteModel,
    /// Creates a 2-container pipeline endpoint and prints the time from CreateEndpoint to InService.
    Deploy,
    /// InvokeEndpoint through smemu.
    Invoke,
    /// The same two containers called directly in sequence, as smemu would (the baseline).
    Direct,
    /// `invoke`, the relay floor and `direct` in interleaved rounds; prints medians and ratios.
    Compare,
    /// Serves the relay floor for `--direct` on a loopback port it prints, until killed.
    RelayFloor,
    /// One transform job (`MaxConcurrentTransforms` = `--concurrency`); prints records/s.
    Transform,
    /// The transform baseline: the same batches sent directly through `--pipeline`s.
    TransformDirect,
    /// InvokeEndpointWithResponseStream beside `--direct` in interleaved rounds (`streaming.rs`).
    Stream,
    /// CreateModel/DeleteModel at c=1 and c=16 beside DescribeModel at c=16, every call timed, in
    /// interleaved rounds (`writes.rs`).
    Writes,
    /// `--requests` InvokeEndpointAsync calls, then every output written (`async_inference.rs`).
    Async,
}

/// The request body of the invocation benchmarks.
const PAYLOAD: &str = "1.0,2.0,3.0,4.0\n";

pub(crate) type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let shape = transform::Shape { concurrency: args.concurrency, payload_mb: args.payload_mb, records: args.records };
    match args.scenario {
        Scenario::Deploy => return deploy(&args).await,
        Scenario::Transform => {
            let (Some(input), Some(output)) = (&args.input, &args.output) else {
                bail!("transform needs --input and --output")
            };
            return transform::job(&args.target, &args.model, input, output, args.instances, &shape).await;
        }
        Scenario::TransformDirect => {
            let pipelines: Vec<Vec<String>> =
                args.pipeline.iter().map(|p| p.split(',').map(str::to_owned).collect()).collect();
            return transform::direct(&args.files, &pipelines, &shape).await;
        }
        Scenario::RelayFloor => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            return relay_floor::serve(listener, args.direct.clone()).await;
        }
        Scenario::Compare => return compare(&args).await,
        Scenario::Stream => return streaming::compare(&args).await,
        Scenario::Writes => return writes::rounds(&args).await,
        Scenario::Async => return async_inference::round(&args).await,
        _ => {}
    }
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
    let run = measure(&args, &args.target, args.scenario).await?;
    println!("{}", run.line(&format!("{:?}", args.scenario), args.concurrency));
    Ok(())
}

/// One timed run: requests/s and latency percentiles.
#[derive(Debug, Clone, Copy)]
struct Run {
    ops_per_second: f64,
    p50: Duration,
    p99: Duration,
    ops: usize,
}

impl Run {
    fn line(&self, label: &str, concurrency: usize) -> String {
        format!(
            "{label:<20} c={concurrency:<3} {:>9.0} ops/s   p50 {:>7.3} ms   p99 {:>7.3} ms   ({} ops)",
            self.ops_per_second,
            ms(self.p50),
            ms(self.p99),
            self.ops
        )
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Runs `scenario` against `target` with `--concurrency` workers for `--seconds`.
async fn measure(args: &Args, target: &str, scenario: Scenario) -> anyhow::Result<Run> {
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let mut workers = Vec::new();
    for worker in 0..args.concurrency {
        let target = target.to_owned();
        let endpoint = args.endpoint.clone();
        let direct = args.direct.clone();
        workers.push(tokio::spawn(
            async move { run_worker(worker, &target, scenario, deadline, &endpoint, &direct).await },
        ));
    }
    let started = Instant::now();
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    if latencies.is_empty() {
        bail!("no request completed in {} s", args.seconds);
    }
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    Ok(Run { ops_per_second: latencies.len() as f64 / elapsed, p50: pct(0.50), p99: pct(0.99), ops: latencies.len() })
}

/// `--rounds` rounds of smemu, the relay floor (with `--floor`) and direct, then the medians:
/// requests/s, p50, and per round the ratio to direct and the p50 added.
async fn compare(args: &Args) -> anyhow::Result<()> {
    let (mut smemu, mut floor, mut direct) = (Vec::new(), Vec::new(), Vec::new());
    // Which of the three runs first turns each round, so that none always follows the same one.
    let mut modes = vec![Mode::Smemu, Mode::Direct];
    if args.floor.is_some() {
        modes.insert(1, Mode::Floor);
    }
    for round in 1..=args.rounds {
        for mode in modes.iter().cycle().skip(round - 1).take(modes.len()) {
            let (label, target, scenario, runs) = match mode {
                Mode::Smemu => ("smemu", args.target.as_str(), Scenario::Invoke, &mut smemu),
                Mode::Floor => ("relay floor", args.floor.as_deref().unwrap_or_default(), Scenario::Invoke, &mut floor),
                Mode::Direct => ("direct", args.target.as_str(), Scenario::Direct, &mut direct),
            };
            let pid = match mode {
                Mode::Smemu => args.smemu_pid,
                Mode::Floor => args.floor_pid,
                Mode::Direct => None,
            };
            let cpu_before = pid.map(cpu_seconds).transpose()?;
            let run = measure(args, target, scenario).await?;
            let cpu = match (pid, cpu_before) {
                (Some(pid), Some(before)) => Some((cpu_seconds(pid)? - before) / run.ops as f64 * 1e6),
                _ => None,
            };
            let cpu_note = cpu.map(|us| format!("   {us:.0} us CPU per call")).unwrap_or_default();
            println!("{}{cpu_note}", run.line(&format!("  {round}: {label}"), args.concurrency));
            runs.push((run, cpu));
        }
    }
    let c = args.concurrency;
    let direct: Vec<Run> = direct.into_iter().map(|(run, _)| run).collect();
    let summary = |label: &str, runs: &[(Run, Option<f64>)]| {
        let ratio = median(runs.iter().zip(&direct).map(|((r, _), d)| r.ops_per_second / d.ops_per_second * 100.0));
        let added = median(runs.iter().zip(&direct).map(|((r, _), d)| ms(r.p50) - ms(d.p50)));
        let rate = median(runs.iter().map(|(r, _)| r.ops_per_second));
        let p50 = median(runs.iter().map(|(r, _)| ms(r.p50)));
        let p99 = median(runs.iter().map(|(r, _)| ms(r.p99)));
        let cpu = median(runs.iter().filter_map(|(_, cpu)| *cpu));
        let cpu_note = if cpu.is_nan() { String::new() } else { format!(", {cpu:.0} us CPU per call") };
        println!(
            "{label:<12} c={c:<3} median {rate:>6.0} ops/s  p50 {p50:.3} ms  p99 {p99:.3} ms  = {ratio:.0} % of direct, p50 +{added:.3} ms{cpu_note}"
        );
    };
    summary("Invoke", &smemu);
    if !floor.is_empty() {
        summary("Relay floor", &floor);
    }
    let rate = median(direct.iter().map(|r| r.ops_per_second));
    let (p50, p99) = (median(direct.iter().map(|r| ms(r.p50))), median(direct.iter().map(|r| ms(r.p99))));
    println!("{:<12} c={c:<3} median {rate:>6.0} ops/s  p50 {p50:.3} ms  p99 {p99:.3} ms", "Direct");
    Ok(())
}

/// The CPU time (user and system, all threads) process `pid` has used so far, in seconds.
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    // Linux's clock ticks for /proc are USER_HZ, 100 per second on every architecture it runs on.
    const TICKS_PER_SECOND: f64 = 100.0;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("process {pid}"))?;
    // Fields after the command name, which is in parentheses and may hold spaces: state is
    // field 3, utime 14 and stime 15.
    let after_name = stat.rsplit_once(')').map(|(_, rest)| rest).context("malformed /proc stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize| -> anyhow::Result<f64> {
        Ok(fields.get(index - 3).context("malformed /proc stat")?.parse::<f64>()?)
    };
    Ok((ticks(14)? + ticks(15)?) / TICKS_PER_SECOND)
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Smemu,
    Floor,
    Direct,
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

async fn run_worker(
    worker: usize,
    target: &str,
    scenario: Scenario,
    deadline: Instant,
    endpoint: &str,
    direct: &[String],
) -> anyhow::Result<Vec<Duration>> {
    let mut sender = connect(target).await?;
    // One connection per pipeline container for the direct baseline (as smemu keeps a pool).
    let mut hops = Vec::new();
    if let Scenario::Direct = scenario {
        for addr in direct {
            hops.push((addr.clone(), connect(addr).await?));
        }
    }
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
            Scenario::Invoke => {
                let path = format!("/endpoints/{endpoint}/invocations");
                expect_ok(post(&mut sender, target, &path, "text/csv", Bytes::from_static(PAYLOAD.as_bytes())).await?)?;
            }
            Scenario::Direct => {
                let mut body = Bytes::from_static(PAYLOAD.as_bytes());
                for (addr, hop) in &mut hops {
                    let (status, answer) = post(hop, addr, "/invocations", "text/csv", body).await?;
                    expect_ok((status, answer.clone()))?;
                    body = answer;
                }
            }
            Scenario::Deploy
            | Scenario::Transform
            | Scenario::TransformDirect
            | Scenario::Compare
            | Scenario::Stream
            | Scenario::Writes
            | Scenario::Async
            | Scenario::RelayFloor => {
                unreachable!("runs once, not in workers")
            }
        }
        latencies.push(started.elapsed());
        n += 1;
    }
    Ok(latencies)
}

pub(crate) async fn connect(target: &str) -> anyhow::Result<Sender> {
    let stream = tokio::net::TcpStream::connect(target).await.with_context(|| format!("connecting to {target}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

pub(crate) async fn post(
    sender: &mut Sender,
    host: &str,
    path: &str,
    content_type: &str,
    body: Bytes,
) -> anyhow::Result<(u16, Bytes)> {
    let request = Request::post(path)
        .header("host", host)
        .header("content-type", content_type)
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/us-east-1/sagemaker/aws4_request, SignedHeaders=host, Signature=0",
        )
        .body(Full::new(body))?;
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    Ok((status, response.into_body().collect().await?.to_bytes()))
}

/// Creates a 2-container pipeline (`--role`) and its endpoint on `--instances` instances; prints
/// CreateEndpoint → InService.
async fn deploy(args: &Args) -> anyhow::Result<()> {
    let mut sender = connect(&args.target).await?;
    let name = &args.endpoint;
    let container = |host: &str, role: &str, extra: &[String]| {
        let mut environment = serde_json::json!({"SMEMU_TEST_ROLE": role, "SMEMU_TEST_TAG": host});
        for pair in extra {
            if let Some((name, value)) = pair.split_once('=') {
                environment[name] = value.into();
            }
        }
        serde_json::json!({"Image": args.image, "ContainerHostname": host, "Environment": environment}).to_string()
    };
    let last_role = args.last_role.as_deref().unwrap_or(&args.role);
    let model = format!(
        r#"{{"ModelName":"{name}","Containers":[{},{}]}}"#,
        container("first", &args.role, &[]),
        container("second", last_role, &args.last_env)
    );
    expect_ok(call(&mut sender, &args.target, "CreateModel", &model).await?)?;
    let capture = args.capture_destination.as_deref().map_or(String::new(), |uri| {
        format!(
            r#","DataCaptureConfig":{{"InitialSamplingPercentage":100,"DestinationS3Uri":"{uri}","CaptureOptions":[{{"CaptureMode":"InputAndOutput"}}],"CaptureContentTypeHeader":{{"CsvContentTypes":["text/csv"]}}}}"#
        )
    });
    let asynchronous = args.async_output.as_deref().map_or(String::new(), |uri| {
        format!(
            r#","AsyncInferenceConfig":{{"OutputConfig":{{"S3OutputPath":"{uri}","S3FailurePath":"{uri}-failures"}},"ClientConfig":{{"MaxConcurrentInvocationsPerInstance":4}}}}"#
        )
    });
    let config = format!(
        r#"{{"EndpointConfigName":"{name}","ProductionVariants":[{{"VariantName":"AllTraffic","ModelName":"{name}","InstanceType":"ml.m5.large","InitialInstanceCount":{}}}]{capture}{asynchronous}}}"#,
        args.instances
    );
    expect_ok(call(&mut sender, &args.target, "CreateEndpointConfig", &config).await?)?;
    let started = Instant::now();
    let endpoint = format!(r#"{{"EndpointName":"{name}","EndpointConfigName":"{name}"}}"#);
    expect_ok(call(&mut sender, &args.target, "CreateEndpoint", &endpoint).await?)?;
    let describe = format!(r#"{{"EndpointName":"{name}"}}"#);
    loop {
        let (status, body) = call(&mut sender, &args.target, "DescribeEndpoint", &describe).await?;
        let text = String::from_utf8_lossy(&body);
        if status == 200 && text.contains(r#""EndpointStatus":"InService""#) {
            break;
        }
        if text.contains(r#""EndpointStatus":"Failed""#) || started.elapsed() > Duration::from_secs(120) {
            bail!("endpoint did not come up: {text}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "CreateEndpoint -> InService: {:.0} ms (2-container pipeline, {} instance(s))",
        started.elapsed().as_secs_f64() * 1000.0,
        args.instances
    );
    Ok(())
}

pub(crate) async fn call(
    sender: &mut Sender,
    target: &str,
    operation: &str,
    body: &str,
) -> anyhow::Result<(u16, Bytes)> {
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

pub(crate) fn expect_ok((status, body): (u16, Bytes)) -> anyhow::Result<()> {
    if status != 200 {
        bail!("status {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(())
}
