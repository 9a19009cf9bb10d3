//! CloudWatch metrics through the AWS CLI (`aws cloudwatch`, AWS JSON 1.0): invocation metrics
//! of a pipeline endpoint, per-container latency, error counts, persistence across a restart,
//! users' PutMetricData with percentiles, instance metrics, the real errors, and `/metrics`.

use std::io::{Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::common::{AwsCli, Smemu, TEST_IMAGE, eventually, unique};

fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// `get-metric-statistics` over the last 10 minutes (and the next one) with these dimensions.
pub(crate) fn statistics(
    aws: &AwsCli,
    namespace: &str,
    metric: &str,
    dims: &[(&str, &str)],
    period: u32,
    stats: &[&str],
) -> Value {
    let (start, end) = ((now_s() - 600).to_string(), (now_s() + 60).to_string());
    let period = period.to_string();
    let dimensions: Vec<String> = dims.iter().map(|(n, v)| format!("Name={n},Value={v}")).collect();
    let mut args = vec![
        "get-metric-statistics",
        "--namespace",
        namespace,
        "--metric-name",
        metric,
        "--start-time",
        &start,
        "--end-time",
        &end,
        "--period",
        &period,
    ];
    if !dimensions.is_empty() {
        args.push("--dimensions");
        args.extend(dimensions.iter().map(String::as_str));
    }
    let percentiles: Vec<&str> = stats.iter().copied().filter(|s| s.starts_with('p')).collect();
    let plain: Vec<&str> = stats.iter().copied().filter(|s| !s.starts_with('p')).collect();
    if !plain.is_empty() {
        args.push("--statistics");
        args.extend(plain);
    }
    if !percentiles.is_empty() {
        args.push("--extended-statistics");
        args.extend(percentiles);
    }
    aws.run("cloudwatch", &args).json()
}

/// The total of `stat` over every datapoint.
pub(crate) fn total(answer: &Value, stat: &str) -> f64 {
    answer["Datapoints"].as_array().unwrap().iter().map(|d| d[stat].as_f64().unwrap()).sum()
}

/// `GET /metrics` over a raw connection (the CLI cannot scrape).
fn scrape(url: &str) -> (String, String) {
    let addr = url.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.to_owned(), body.to_owned())
}

/// The samples of a Prometheus text exposition: `(name, labels, value)`; panics on a line that
/// is neither a comment nor a sample.
fn parse_exposition(body: &str) -> Vec<(String, String, f64)> {
    body.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad line {line:?}"));
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in {line:?}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.strip_suffix('}').unwrap_or_else(|| panic!("{line:?}"))),
                None => (series, ""),
            };
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "bad name in {line:?}");
            (name.to_owned(), labels.to_owned(), value)
        })
        .collect()
}

#[test]
fn a_pipeline_publishes_invocations_and_per_container_latency_that_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut smemu = Smemu::start_in(&data_dir);
    let aws = smemu.aws();
    let name = unique("metrics-pipe");
    let containers = json!([
        {"Image": TEST_IMAGE, "ContainerHostname": "fast", "Environment": {"SMEMU_TEST_ROLE": "echo"}},
        {"Image": TEST_IMAGE, "ContainerHostname": "slow",
         "Environment": {"SMEMU_TEST_ROLE": "slow", "SMEMU_TEST_DELAY_MS": "150"}},
    ]);
    aws.deploy(&name, &containers, &[], 1);
    const N: usize = 5;
    for i in 0..N {
        let (out, body) = aws.invoke(&name, &format!("hello {i}"), &[]);
        assert!(out.success, "{}", out.stderr);
        assert_eq!(body, format!("hello {i}"));
    }
    let endpoint = [("EndpointName", name.as_str()), ("VariantName", "AllTraffic")];
    // The flusher writes every second: wait for all N, then read at two periods.
    eventually(30, "Invocations to reach N", || {
        let a = statistics(&aws, "AWS/SageMaker", "Invocations", &endpoint, 60, &["Sum"]);
        (total(&a, "Sum") == N as f64).then_some(())
    });
    let minute = statistics(&aws, "AWS/SageMaker", "Invocations", &endpoint, 60, &["Sum", "SampleCount"]);
    assert_eq!(total(&minute, "Sum"), N as f64, "{minute}");
    assert_eq!(total(&minute, "SampleCount"), N as f64, "{minute}");
    let ten = statistics(&aws, "AWS/SageMaker", "Invocations", &endpoint, 10, &["Sum"]);
    assert_eq!(total(&ten, "Sum"), N as f64, "{ten}");
    for d in ten["Datapoints"].as_array().unwrap() {
        assert_eq!(d["Unit"], "None");
    }
    let per_instance = statistics(&aws, "AWS/SageMaker", "InvocationsPerInstance", &endpoint, 60, &["Sum"]);
    assert_eq!(total(&per_instance, "Sum"), N as f64, "one instance: 1/1 per request");

    // ContainerLatency per container: the slow one (150 ms a request) takes longer; ModelLatency
    // holds both, as it times the whole pipeline.
    let latency = |container: &str| {
        let dims = [("EndpointName", name.as_str()), ("VariantName", "AllTraffic"), ("ContainerName", container)];
        statistics(&aws, "AWS/SageMaker", "ContainerLatency", &dims, 60, &["Sum", "SampleCount", "Average"])
    };
    let (fast, slow) = (latency("fast"), latency("slow"));
    assert_eq!(total(&fast, "SampleCount"), N as f64, "{fast}");
    assert_eq!(total(&slow, "SampleCount"), N as f64, "{slow}");
    assert!(total(&slow, "Sum") >= 150_000.0 * N as f64, "{slow}");
    assert!(total(&slow, "Sum") > total(&fast, "Sum"), "{slow} vs {fast}");
    let model = statistics(&aws, "AWS/SageMaker", "ModelLatency", &endpoint, 60, &["Sum", "SampleCount"]);
    assert_eq!(model["Datapoints"][0]["Unit"], "Microseconds");
    assert!(total(&model, "Sum") >= total(&slow, "Sum") + total(&fast, "Sum"), "{model}");
    let overhead = statistics(&aws, "AWS/SageMaker", "OverheadLatency", &endpoint, 60, &["SampleCount"]);
    assert_eq!(total(&overhead, "SampleCount"), N as f64);

    // Prometheus: the same counts, cumulative, with endpoint, variant and container labels.
    let (head, body) = scrape(&smemu.url);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"), "{head}");
    let samples = parse_exposition(&body);
    let mine = |metric: &str, extra: &str| {
        samples
            .iter()
            .find(|(n, l, _)| {
                n == metric
                    && l.contains(&format!("endpoint=\"{name}\""))
                    && l.contains("variant=\"AllTraffic\"")
                    && l.contains(extra)
            })
            .map(|(_, _, v)| *v)
            .unwrap_or_else(|| panic!("no {metric} {extra} in {body}"))
    };
    assert_eq!(mine("smemu_invocations_total", ""), N as f64);
    assert_eq!(mine("smemu_model_latency_seconds_count", ""), N as f64);
    assert_eq!(mine("smemu_container_latency_seconds_count", "container=\"slow\""), N as f64);
    assert_eq!(mine("smemu_container_latency_seconds_bucket", "container=\"slow\",le=\"+Inf\""), N as f64);
    assert_eq!(mine("smemu_container_latency_seconds_bucket", "container=\"slow\",le=\"0.1\""), 0.0);
    assert!(mine("smemu_container_latency_seconds_sum", "container=\"slow\"") >= 0.15 * N as f64);

    // The points are in <data-dir>/metrics.sqlite: a new smemu on the same data answers the same.
    smemu.stop();
    let smemu = Smemu::start_in(&data_dir);
    let aws = smemu.aws();
    let again = statistics(&aws, "AWS/SageMaker", "Invocations", &endpoint, 60, &["Sum"]);
    assert_eq!(total(&again, "Sum"), N as f64, "{again}");
    let slow_again = statistics(
        &aws,
        "AWS/SageMaker",
        "ContainerLatency",
        &[("EndpointName", name.as_str()), ("VariantName", "AllTraffic"), ("ContainerName", "slow")],
        60,
        &["SampleCount"],
    );
    assert_eq!(total(&slow_again, "SampleCount"), N as f64);
}

#[test]
fn error_counts_match_the_errors_the_model_gave_and_instance_metrics_appear() {
    let smemu = Smemu::start_fresh_with(&["--instance-metrics-interval", "1s"]);
    let aws = smemu.aws();
    let deploy_failing = |status: &str| {
        let name = unique(&format!("metrics-fail{status}"));
        let containers = json!([{"Image": TEST_IMAGE,
            "Environment": {"SMEMU_TEST_ROLE": "fail", "SMEMU_TEST_FAIL_STATUS": status}}]);
        aws.deploy(&name, &containers, &[], 1);
        name
    };
    let (client, server) = (deploy_failing("400"), deploy_failing("500"));
    for _ in 0..3 {
        assert!(!aws.invoke(&client, "x", &[]).0.success);
    }
    for _ in 0..2 {
        assert!(!aws.invoke(&server, "x", &[]).0.success);
    }
    let count = |name: &str, metric: &str, stat: &str| {
        let dims = [("EndpointName", name), ("VariantName", "AllTraffic")];
        total(&statistics(&aws, "AWS/SageMaker", metric, &dims, 60, &[stat]), stat)
    };
    eventually(30, "the invocations to be flushed", || {
        (count(&client, "Invocations", "Sum") == 3.0 && count(&server, "Invocations", "Sum") == 2.0).then_some(())
    });
    assert_eq!(count(&client, "Invocation4XXErrors", "Sum"), 3.0);
    assert_eq!(count(&client, "Invocation5XXErrors", "Sum"), 0.0);
    // Each request sends 0 or 1: SampleCount is the requests, Average the error rate.
    assert_eq!(count(&client, "Invocation5XXErrors", "SampleCount"), 3.0);
    assert_eq!(count(&server, "Invocation5XXErrors", "Sum"), 2.0);
    assert_eq!(count(&server, "Invocation4XXErrors", "Sum"), 0.0);
    assert_eq!(count(&server, "Invocation5XXErrors", "Average"), 1.0);

    // Instance metrics, sampled from the engine, in percent (CPU after two samples).
    let endpoint = [("EndpointName", client.as_str()), ("VariantName", "AllTraffic")];
    for metric in ["CPUUtilization", "MemoryUtilization", "DiskUtilization"] {
        let answer = eventually(30, metric, || {
            let a = statistics(&aws, "/aws/sagemaker/Endpoints", metric, &endpoint, 60, &["Average", "Maximum"]);
            (!a["Datapoints"].as_array().unwrap().is_empty()).then_some(a)
        });
        let point = &answer["Datapoints"][0];
        assert_eq!(point["Unit"], "Percent", "{answer}");
        let max = point["Maximum"].as_f64().unwrap();
        assert!(max >= 0.0, "{answer}");
        if metric != "CPUUtilization" {
            assert!(max <= 100.0, "{answer}");
        }
    }
    let memory = statistics(&aws, "/aws/sagemaker/Endpoints", "MemoryUtilization", &endpoint, 60, &["Maximum"]);
    assert!(total(&memory, "Maximum") > 0.0, "a running model server uses some memory: {memory}");
    let listed = aws
        .run(
            "cloudwatch",
            &[
                "list-metrics",
                "--namespace",
                "/aws/sagemaker/Endpoints",
                "--dimensions",
                &format!("Name=EndpointName,Value={client}"),
            ],
        )
        .json();
    let mut names: Vec<&str> =
        listed["Metrics"].as_array().unwrap().iter().map(|m| m["MetricName"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["CPUUtilization", "DiskUtilization", "MemoryUtilization"], "{listed}");
}

#[test]
fn put_metric_data_is_listed_and_answers_percentiles() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let namespace = unique("Smemu/Test");
    // 1..=100 as Values with Counts (one each), then a statistic set and a single Value.
    let datum = json!([{
        "MetricName": "Latency",
        "Dimensions": [{"Name": "Service", "Value": "api"}],
        "Values": (1..=100).collect::<Vec<u32>>(),
        "Counts": vec![1; 100],
        "Unit": "Milliseconds",
    }]);
    aws.run("cloudwatch", &["put-metric-data", "--namespace", &namespace, "--metric-data", &datum.to_string()]).json();
    aws.run(
        "cloudwatch",
        &["put-metric-data", "--namespace", &namespace, "--metric-name", "Requests", "--value", "7", "--unit", "Count"],
    )
    .json();

    let listed = aws.run("cloudwatch", &["list-metrics", "--namespace", &namespace]).json();
    let mut names: Vec<&str> =
        listed["Metrics"].as_array().unwrap().iter().map(|m| m["MetricName"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["Latency", "Requests"], "{listed}");
    let filtered =
        aws.run("cloudwatch", &["list-metrics", "--namespace", &namespace, "--dimensions", "Name=Service"]).json();
    assert_eq!(filtered["Metrics"].as_array().unwrap().len(), 1, "{filtered}");
    assert_eq!(filtered["Metrics"][0]["Dimensions"], json!([{"Name": "Service", "Value": "api"}]));
    let recent =
        aws.run("cloudwatch", &["list-metrics", "--namespace", &namespace, "--recently-active", "PT3H"]).json();
    assert_eq!(recent["Metrics"].as_array().unwrap().len(), 2);

    let dims = [("Service", "api")];
    let p = statistics(&aws, &namespace, "Latency", &dims, 60, &["p50", "p99", "p99.9"]);
    let point = &p["Datapoints"][0];
    let near = |stat: &str, want: f64| {
        let got = point["ExtendedStatistics"][stat].as_f64().unwrap_or_else(|| panic!("no {stat} in {p}"));
        assert!((got - want).abs() <= want * 0.03, "{stat}: {got} vs {want}");
    };
    near("p50", 50.0);
    near("p99", 99.0);
    near("p99.9", 100.0);
    assert_eq!(point["Unit"], "Milliseconds");
    let s = statistics(&aws, &namespace, "Latency", &dims, 60, &["Sum", "Minimum", "Maximum", "Average"]);
    let point = &s["Datapoints"][0];
    assert_eq!(
        (point["Sum"].as_f64(), point["Minimum"].as_f64(), point["Maximum"].as_f64()),
        (Some(5050.0), Some(1.0), Some(100.0))
    );
    assert_eq!(point["Average"].as_f64(), Some(50.5));

    // GetMetricData: a MetricStat query by Id, with its label.
    let (start, end) = ((now_s() - 600).to_string(), (now_s() + 60).to_string());
    let queries = json!([{"Id": "req", "Label": "requests", "MetricStat": {
        "Metric": {"Namespace": namespace, "MetricName": "Requests"}, "Period": 60, "Stat": "Sum"}},
        {"Id": "hidden", "ReturnData": false, "MetricStat": {
        "Metric": {"Namespace": namespace, "MetricName": "Requests"}, "Period": 60, "Stat": "Sum"}}]);
    let data = aws
        .run(
            "cloudwatch",
            &[
                "get-metric-data",
                "--metric-data-queries",
                &queries.to_string(),
                "--start-time",
                &start,
                "--end-time",
                &end,
            ],
        )
        .json();
    let results = data["MetricDataResults"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{data}");
    assert_eq!(results[0]["Id"], "req");
    assert_eq!(results[0]["Label"], "requests");
    assert_eq!(results[0]["Values"], json!([7.0]));
    assert_eq!(results[0]["StatusCode"], "Complete");

    // Pagination: two minutes of data, one datapoint a page, newest first (ScanBy's default).
    let minute = |ago: u64| ((now_s() - ago) / 60 * 60).to_string();
    for (ago, value) in [(180, "1"), (120, "2")] {
        let at = minute(ago);
        aws.run(
            "cloudwatch",
            &[
                "put-metric-data",
                "--namespace",
                &namespace,
                "--metric-name",
                "Paged",
                "--value",
                value,
                "--timestamp",
                &at,
            ],
        )
        .json();
    }
    let paged = json!([{"Id": "p", "MetricStat": {
        "Metric": {"Namespace": namespace, "MetricName": "Paged"}, "Period": 60, "Stat": "Sum"}}]);
    let paged_text = paged.to_string();
    let page = |token: Option<&str>| {
        let mut args = vec![
            "get-metric-data",
            "--metric-data-queries",
            &*paged_text,
            "--start-time",
            &start,
            "--end-time",
            &end,
            "--max-datapoints",
            "1",
            "--no-paginate",
        ];
        if let Some(token) = token {
            args.extend(["--next-token", token]);
        }
        aws.run("cloudwatch", &args).json()
    };
    let first = page(None);
    assert_eq!(first["MetricDataResults"][0]["Values"], json!([2.0]), "{first}");
    assert_eq!(first["MetricDataResults"][0]["StatusCode"], "PartialData");
    let token = first["NextToken"].as_str().unwrap_or_else(|| panic!("no NextToken in {first}")).to_owned();
    let second = page(Some(&token));
    assert_eq!(second["MetricDataResults"][0]["Values"], json!([1.0]), "{second}");
    assert_eq!(second["MetricDataResults"][0]["StatusCode"], "Complete");
    assert!(second.get("NextToken").is_none(), "{second}");
}

#[test]
fn bad_inputs_get_the_errors_cloudwatch_gives() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let cw = |args: &[&str]| aws.run("cloudwatch", args);
    cw(&["put-metric-data", "--namespace", "AWS/SageMaker", "--metric-name", "M", "--value", "1"])
        .assert_error("InvalidParameterValue", "The value AWS/SageMaker for parameter Namespace is invalid.");
    let both = json!([{"MetricName": "M", "Value": 1, "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1}}]);
    cw(&["put-metric-data", "--namespace", "Mine", "--metric-data", &both.to_string()]).assert_error(
        "InvalidParameterCombination",
        "The parameters MetricData.member.1.Value and MetricData.member.1.StatisticValues are mutually exclusive and you have specified both.",
    );
    let neither = json!([{"MetricName": "M"}]);
    cw(&["put-metric-data", "--namespace", "Mine", "--metric-data", &neither.to_string()]).assert_error(
        "InvalidParameterCombination",
        "At least one of the parameters MetricData.member.1.Value and MetricData.member.1.StatisticValues must be specified.",
    );
    cw(&["put-metric-data", "--namespace", "Mine", "--metric-name", "M", "--value", "1", "--storage-resolution", "5"])
        .assert_error(
            "InvalidParameterValue",
            "The value 5 for parameter MetricData.member.1.StorageResolution is invalid.",
        );

    let (start, end) = ((now_s() - 86_400).to_string(), now_s().to_string());
    let base = [
        "get-metric-statistics",
        "--namespace",
        "Mine",
        "--metric-name",
        "M",
        "--start-time",
        &start,
        "--end-time",
        &end,
    ];
    let with = |extra: &[&str]| {
        let mut args: Vec<&str> = base.to_vec();
        args.extend(extra);
        cw(&args)
    };
    with(&["--period", "1", "--statistics", "Sum"]).assert_error(
        "InvalidParameterCombination",
        "You have requested up to 86400 datapoints, which exceeds the limit of 1440.",
    );
    with(&["--period", "60", "--statistics", "Sum", "--extended-statistics", "p99"]).assert_error(
        "InvalidParameterCombination",
        "The parameters Statistics and ExtendedStatistics are mutually exclusive and you have specified both.",
    );
    with(&["--period", "60"]).assert_error(
        "InvalidParameterCombination",
        "At least one of the parameters Statistics and ExtendedStatistics must be specified.",
    );
    with(&["--period", "7", "--statistics", "Sum"])
        .assert_error("InvalidParameterValue", "The parameter Period must be 1, 5, 10, 30 or a multiple of 60.");
    let backwards = [
        "get-metric-statistics",
        "--namespace",
        "Mine",
        "--metric-name",
        "M",
        "--start-time",
        &end,
        "--end-time",
        &start,
        "--period",
        "60",
        "--statistics",
        "Sum",
    ];
    cw(&backwards)
        .assert_error("InvalidParameterValue", "The parameter StartTime must be less than the parameter EndTime.");

    let expression = json!([{"Id": "e1", "Expression": "SUM(METRICS())"}]);
    cw(&[
        "get-metric-data",
        "--metric-data-queries",
        &expression.to_string(),
        "--start-time",
        &start,
        "--end-time",
        &end,
    ])
    .assert_error("ValidationError", "Error in expression 'e1'");
    let bad_stat = json!([{"Id": "q", "MetricStat": {"Metric": {"Namespace": "Mine", "MetricName": "M"}, "Period": 60, "Stat": "Median"}}]);
    cw(&[
        "get-metric-data",
        "--metric-data-queries",
        &bad_stat.to_string(),
        "--start-time",
        &start,
        "--end-time",
        &end,
    ])
    .assert_error(
        "ValidationError",
        "The value for parameter MetricDataQueries.member.1.MetricStat.Stat is not a valid statistic.",
    );
    cw(&["list-metrics", "--namespace", "Mine", "--next-token", "not-a-token"])
        .assert_error("InvalidNextToken", "NextToken");

    // A required member the CLI would not let go: raw AWS JSON 1.0, as botocore frames it.
    let answer = json_1_0(
        &smemu.url,
        "GetMetricStatistics",
        r#"{"MetricName":"M","StartTime":1,"EndTime":2,"Period":60,"Statistics":["Sum"]}"#,
    );
    let lower = answer.to_ascii_lowercase();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(lower.contains("x-amzn-query-error: missingparameter;sender"), "{answer}");
    assert!(lower.contains("content-type: application/x-amz-json-1.0"), "{answer}");
    assert!(answer.contains(r#""__type":"MissingRequiredParameterException""#), "{answer}");
    assert!(answer.contains("The parameter Namespace is required."), "{answer}");
    // PutMetricData has no output: an empty JSON object.
    let answer =
        json_1_0(&smemu.url, "PutMetricData", r#"{"Namespace":"Mine","MetricData":[{"MetricName":"M","Value":1}]}"#);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("\r\n\r\n{}"), "{answer}");
}

/// One AWS JSON 1.0 request over a raw connection; the whole answer as text.
fn json_1_0(url: &str, operation: &str, body: &str) -> String {
    let addr = url.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nX-Amz-Target: GraniteServiceVersion20100801.{operation}\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn a_transform_job_publishes_its_instance_utilization_by_host() {
    let smemu = Smemu::start_fresh_with(&["--instance-metrics-interval", "1s"]);
    let aws = smemu.aws();
    let s3 = AwsCli::new(&smemu.s3_url);
    let bucket = unique("metrics-batch");
    assert!(s3.run("s3", &["mb", &format!("s3://{bucket}")]).success);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.csv"), "a\nb\n").unwrap();
    let input = dir.path().join("in.csv");
    assert!(s3.run("s3", &["cp", input.to_str().unwrap(), &format!("s3://{bucket}/in/in.csv")]).success);
    let name = unique("metrics-job");
    // A slow model keeps the job's instance up for a few samples.
    let containers =
        json!([{"Image": TEST_IMAGE, "Environment": {"SMEMU_TEST_ROLE": "slow", "SMEMU_TEST_DELAY_MS": "4000"}}]);
    aws.sagemaker(&["create-model", "--model-name", &name, "--containers", &containers.to_string()]).json();
    let request = json!({
        "TransformJobName": name,
        "ModelName": name,
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": format!("s3://{bucket}/in/")}},
            "ContentType": "text/csv", "SplitType": "Line"},
        "TransformOutput": {"S3OutputPath": format!("s3://{bucket}/out/"), "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    });
    aws.sagemaker(&["create-transform-job", "--cli-input-json", &request.to_string()]).json();
    // The Host dimension is `<TransformJobName>/<instance-id>`.
    let host = eventually(60, "the job's instance metrics", || {
        let listed = aws
            .run(
                "cloudwatch",
                &["list-metrics", "--namespace", "/aws/sagemaker/TransformJobs", "--metric-name", "MemoryUtilization"],
            )
            .json();
        listed["Metrics"].as_array().unwrap().iter().find_map(|m| {
            let host = m["Dimensions"][0]["Value"].as_str()?;
            (m["Dimensions"][0]["Name"] == "Host" && host.starts_with(&format!("{name}/"))).then(|| host.to_owned())
        })
    });
    let memory =
        statistics(&aws, "/aws/sagemaker/TransformJobs", "MemoryUtilization", &[("Host", &host)], 60, &["Maximum"]);
    assert_eq!(memory["Datapoints"][0]["Unit"], "Percent", "{memory}");
    let max = memory["Datapoints"][0]["Maximum"].as_f64().unwrap();
    assert!(max > 0.0 && max <= 100.0, "{memory}");
    let disk =
        statistics(&aws, "/aws/sagemaker/TransformJobs", "DiskUtilization", &[("Host", &host)], 60, &["Maximum"]);
    assert_eq!(disk["Datapoints"].as_array().unwrap().len(), 1, "{disk}");
    let status = eventually(120, "the job to end", || {
        let d = aws.sagemaker(&["describe-transform-job", "--transform-job-name", &name]).json();
        (d["TransformJobStatus"] != "InProgress").then_some(d)
    });
    assert_eq!(status["TransformJobStatus"], "Completed", "{status}");
}
