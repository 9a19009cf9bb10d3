//! The batch transform benchmarks: a transform job through smemu (records/s between
//! `TransformStartTime` and `TransformEndTime`, i.e. without container start-up), and the baseline
//! of the bench client driving a pipeline's containers directly with the same batches and the same
//! concurrency per instance.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use smemu_batch::{
    AssemblyType, BatchStrategy, CompressionType, SplitType, TransformPlan, TransformSettings, distribute_objects,
};

use crate::{Sender, call, connect, expect_ok, post};

/// What both sides of the comparison share.
pub struct Shape {
    pub concurrency: usize,
    pub payload_mb: u32,
    pub records: u64,
}

/// `transform`: one job over every object under `input`, on `instances` instances of the
/// 2-container pipeline `model`; prints records/s while the job ran.
pub async fn job(
    target: &str,
    model: &str,
    input: &str,
    output: &str,
    instances: usize,
    shape: &Shape,
) -> anyhow::Result<()> {
    let mut sender = connect(target).await?;
    let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis();
    let name = format!("bench-tj-{millis}-{instances}");
    let request = serde_json::json!({
        "TransformJobName": name,
        "ModelName": model,
        "BatchStrategy": "MultiRecord",
        "MaxConcurrentTransforms": shape.concurrency,
        "MaxPayloadInMB": shape.payload_mb,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": format!("{output}/{name}"), "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": instances},
    });
    expect_ok(call(&mut sender, target, "CreateTransformJob", &request.to_string()).await?)?;
    let describe = serde_json::json!({"TransformJobName": name}).to_string();
    let deadline = Instant::now() + Duration::from_secs(600);
    let described = loop {
        let (status, body) = call(&mut sender, target, "DescribeTransformJob", &describe).await?;
        let described: serde_json::Value = serde_json::from_slice(&body)?;
        match described["TransformJobStatus"].as_str() {
            Some("Completed") if status == 200 => break described,
            Some("InProgress") if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(10)).await,
            _ => bail!("transform job did not complete: {described}"),
        }
    };
    let seconds = |key: &str| described[key].as_f64().with_context(|| format!("{key} in {described}"));
    let elapsed = seconds("TransformEndTime")? - seconds("TransformStartTime")?;
    report("via smemu", instances, shape, Duration::from_secs_f64(elapsed));
    Ok(())
}

/// `transform-direct`: the same objects, batched by the same rules, sent by this client through
/// each pipeline (`127.0.0.1:P1,127.0.0.1:P2` per instance) with `concurrency` requests in
/// flight per instance, responses reassembled in input order. Like the job, it reads every input
/// and writes every output (local files, the cheapest storage there is) within the time taken.
pub async fn direct(files: &[PathBuf], pipelines: &[Vec<String>], shape: &Shape) -> anyhow::Result<()> {
    if pipelines.is_empty() {
        bail!("--pipeline names no containers");
    }
    let out_dir = tempfile::tempdir()?;
    let plan = TransformPlan::new(TransformSettings {
        split: SplitType::Line,
        batch_strategy: BatchStrategy::MultiRecord,
        max_payload_mb: shape.payload_mb,
        content_type: Some("text/csv".into()),
        accept: None,
        assemble_with: AssemblyType::Line,
        data_processing: None,
        compression: CompressionType::None,
    })?;
    let mut sizes = Vec::new();
    for file in files {
        sizes.push(std::fs::metadata(file).with_context(|| format!("reading {}", file.display()))?.len());
    }
    let assigned = distribute_objects(&sizes, pipelines.len());
    let started = Instant::now();
    let mut instances = Vec::new();
    for (hops, indexes) in pipelines.iter().zip(assigned) {
        let mine: Vec<(PathBuf, PathBuf)> =
            indexes.iter().map(|&i| (files[i].clone(), out_dir.path().join(format!("{i}.out")))).collect();
        let (hops, plan, concurrency) = (hops.clone(), plan.clone(), shape.concurrency);
        instances.push(tokio::spawn(async move { instance(plan, mine, hops, concurrency).await }));
    }
    let mut records = 0;
    for instance in instances {
        records += instance.await??;
    }
    if records != shape.records {
        bail!("transformed {records} records, expected {}", shape.records);
    }
    report("direct", pipelines.len(), shape, started.elapsed());
    Ok(())
}

/// One instance's objects (input file, output file), each read, split, sent, reassembled and
/// written; returns the records transformed.
async fn instance(
    plan: TransformPlan,
    objects: Vec<(PathBuf, PathBuf)>,
    hops: Vec<String>,
    concurrency: usize,
) -> anyhow::Result<u64> {
    let mut records = 0;
    for (input, output) in objects {
        let object = Bytes::from(tokio::fs::read(&input).await?);
        let prepared = plan.prepare(object)?;
        let requests: Arc<Vec<Bytes>> = Arc::new(prepared.requests().iter().map(|r| r.body.clone()).collect());
        let next = Arc::new(AtomicUsize::new(0));
        let mut workers = Vec::new();
        for _ in 0..concurrency.min(requests.len()).max(1) {
            let (requests, next, hops) = (requests.clone(), next.clone(), hops.clone());
            workers.push(tokio::spawn(async move { worker(&requests, &next, &hops).await }));
        }
        let mut responses = vec![Bytes::new(); requests.len()];
        for worker in workers {
            for (index, body) in worker.await?? {
                responses[index] = body;
            }
        }
        let assembled = prepared.assemble(responses)?;
        records += assembled.iter().filter(|&&b| b == b'\n').count() as u64;
        tokio::fs::write(&output, assembled).await?;
    }
    Ok(records)
}

/// Takes requests in turn and sends each through every hop; keeps one connection per hop.
async fn worker(requests: &[Bytes], next: &AtomicUsize, hops: &[String]) -> anyhow::Result<Vec<(usize, Bytes)>> {
    let mut senders: Vec<(String, Sender)> = Vec::new();
    for addr in hops {
        senders.push((addr.clone(), connect(addr).await?));
    }
    let mut answered = Vec::new();
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some(body) = requests.get(index) else { return Ok(answered) };
        let mut body = body.clone();
        for (addr, sender) in &mut senders {
            let (status, answer) = post(sender, addr, "/invocations", "text/csv", body).await?;
            expect_ok((status, answer.clone()))?;
            body = answer;
        }
        answered.push((index, body));
    }
}

fn report(side: &str, instances: usize, shape: &Shape, elapsed: Duration) {
    println!(
        "transform {side:<10} instances={instances} c={:<2} payload={} MB  {:>9.0} records/s   ({} records in {:.0} ms)",
        shape.concurrency,
        shape.payload_mb,
        shape.records as f64 / elapsed.as_secs_f64(),
        shape.records,
        elapsed.as_secs_f64() * 1000.0
    );
}
