//! The control-plane write scenario (issue 16): each connection alternates CreateModel (a
//! 2-container pipeline) and DeleteModel of one name of its own, every call timed on its own, at
//! concurrency 1 and 16, beside DescribeModel at concurrency 16, in interleaved rounds (which of
//! the three runs first turns each round). Per run: calls/s and p50, p99, p999; the summary gives
//! the median and the range over the rounds, so that a busy machine's drift shows as a range.

use std::time::{Duration, Instant};

use anyhow::bail;

use crate::{Args, call, connect, expect_ok, median, ms};

/// One timed run of one workload.
struct Sample {
    calls_per_second: f64,
    p50: Duration,
    p99: Duration,
    p999: Duration,
}

#[derive(Debug, Clone, Copy)]
enum Workload {
    /// CreateModel, DeleteModel, CreateModel... of one name per connection.
    CreateDelete,
    /// DescribeModel of one existing model.
    Describe,
}

/// The runs of a round, in the order of the first round.
const RUNS: [(Workload, usize, &str); 3] = [
    (Workload::CreateDelete, 1, "CreateDeleteModel"),
    (Workload::CreateDelete, 16, "CreateDeleteModel"),
    (Workload::Describe, 16, "DescribeModel"),
];

const DESCRIBED: &str = "bench-writes-described";

/// `--rounds` rounds of the three runs, `--seconds` each; prints every run and then per workload
/// the median and the range of calls/s, p50, p99 and p999.
pub(crate) async fn rounds(args: &Args) -> anyhow::Result<()> {
    let mut setup = connect(&args.target).await?;
    // Ignore "already exists": the model may remain from an earlier run.
    let _ = call(&mut setup, &args.target, "CreateModel", &create_body(DESCRIBED)).await?;
    let mut samples: Vec<Vec<Sample>> = RUNS.iter().map(|_| Vec::new()).collect();
    for round in 1..=args.rounds {
        for index in (0..RUNS.len()).cycle().skip(round - 1).take(RUNS.len()) {
            let (workload, concurrency, label) = RUNS[index];
            let sample = run(&args.target, workload, concurrency, Duration::from_secs(args.seconds), round).await?;
            println!(
                "  {round}: {label:<18} c={concurrency:<3} {:>7.0} ops/s   p50 {:>6.3} ms   p99 {:>7.3} ms   p999 {:>7.3} ms",
                sample.calls_per_second,
                ms(sample.p50),
                ms(sample.p99),
                ms(sample.p999)
            );
            samples[index].push(sample);
        }
    }
    for ((_, concurrency, label), runs) in RUNS.iter().zip(&samples) {
        let range = |f: &dyn Fn(&Sample) -> f64| {
            let values: Vec<f64> = runs.iter().map(f).collect();
            let (min, max) =
                values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
            (median(values.into_iter()), min, max)
        };
        let (rate, rate_min, rate_max) = range(&|s| s.calls_per_second);
        let (p50, ..) = range(&|s| ms(s.p50));
        let (p99, p99_min, p99_max) = range(&|s| ms(s.p99));
        let (p999, p999_min, p999_max) = range(&|s| ms(s.p999));
        println!(
            "{label:<18} c={concurrency:<3} median {rate:>6.0} ops/s  p50 {p50:.3} ms  p99 {p99:.3} ms  p999 {p999:.3} ms  \
             (ranges over {} rounds: {rate_min:.0}-{rate_max:.0} ops/s, p99 {p99_min:.3}-{p99_max:.3} ms, p999 {p999_min:.3}-{p999_max:.3} ms; one op is one call)",
            runs.len()
        );
    }
    Ok(())
}

/// A CreateModel request of a 2-container pipeline.
fn create_body(name: &str) -> String {
    format!(
        r#"{{"ModelName":"{name}","Containers":[{{"Image":"bench","ContainerHostname":"first"}},{{"Image":"bench","ContainerHostname":"second"}}]}}"#
    )
}

async fn run(
    target: &str,
    workload: Workload,
    concurrency: usize,
    length: Duration,
    round: usize,
) -> anyhow::Result<Sample> {
    let deadline = Instant::now() + length;
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let target = target.to_owned();
            // One name per connection, unique to this process and round.
            let name = format!("bench-w-{}-{round}-{concurrency}-{worker}", std::process::id());
            tokio::spawn(async move { worker_loop(&target, workload, &name, deadline).await })
        })
        .collect();
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    if latencies.is_empty() {
        bail!("no call completed in {length:?}");
    }
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    Ok(Sample { calls_per_second: latencies.len() as f64 / elapsed, p50: pct(0.50), p99: pct(0.99), p999: pct(0.999) })
}

async fn worker_loop(target: &str, workload: Workload, name: &str, deadline: Instant) -> anyhow::Result<Vec<Duration>> {
    let mut sender = connect(target).await?;
    let (create, delete) = (create_body(name), format!(r#"{{"ModelName":"{name}"}}"#));
    let describe = format!(r#"{{"ModelName":"{DESCRIBED}"}}"#);
    let mut latencies = Vec::new();
    // A create is always followed by its delete, so that no model is left behind.
    while Instant::now() < deadline {
        match workload {
            Workload::CreateDelete => {
                for (operation, body) in [("CreateModel", &create), ("DeleteModel", &delete)] {
                    let started = Instant::now();
                    expect_ok(call(&mut sender, target, operation, body).await?)?;
                    latencies.push(started.elapsed());
                }
            }
            Workload::Describe => {
                let started = Instant::now();
                expect_ok(call(&mut sender, target, "DescribeModel", &describe).await?)?;
                latencies.push(started.elapsed());
            }
        }
    }
    Ok(latencies)
}
