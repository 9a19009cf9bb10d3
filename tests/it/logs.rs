//! CloudWatch Logs through the AWS CLI (`aws logs ...`): containers' output captured from real
//! Docker containers of the test image (which prints a line per request) into the groups and
//! streams SageMaker names, read back with describe-log-groups, describe-log-streams,
//! get-log-events and filter-log-events; kept across a restart; bounded by
//! `--log-retention-bytes`; and printed by the SageMaker Python SDK's `transform(logs=True)`.

use serde_json::{Value, json};

use crate::common::{AwsCli, CliOutput, Smemu, TEST_IMAGE, eventually, repo, tagger, unique};

/// The test model's line for each invocation (`<method> <path> -> <status> in <n> ms`).
const INVOKED: &str = "POST /invocations -> 200";

fn logs(aws: &AwsCli, args: &[&str]) -> CliOutput {
    aws.run("logs", args)
}

fn ok(out: CliOutput) -> Value {
    assert!(out.success, "{}", out.stderr);
    out.json()
}

/// Stream names of a group (with a prefix), in name order.
fn stream_names(aws: &AwsCli, group: &str, prefix: Option<&str>) -> Vec<String> {
    let mut args = vec!["describe-log-streams", "--log-group-name", group];
    if let Some(prefix) = prefix {
        args.extend(["--log-stream-name-prefix", prefix]);
    }
    let out = ok(logs(aws, &args));
    out["logStreams"].as_array().unwrap().iter().map(|s| s["logStreamName"].as_str().unwrap().to_owned()).collect()
}

/// Every message of a stream, from its head.
fn messages(aws: &AwsCli, group: &str, stream: &str) -> Vec<String> {
    let out =
        ok(logs(aws, &["get-log-events", "--log-group-name", group, "--log-stream-name", stream, "--start-from-head"]));
    out["events"].as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap().to_owned()).collect()
}

fn count(messages: &[String], needle: &str) -> usize {
    messages.iter().filter(|m| m.contains(needle)).count()
}

/// A 2-container pipeline endpoint (unnamed containers: `container-1`, `container-2`) and a
/// transform job: their streams and lines; token semantics; filters; errors; then a restart of
/// smemu on the same data directory keeps every line and repeats none.
#[test]
fn pipeline_endpoint_and_transform_job_logs_read_through_the_cli_and_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut smemu = Smemu::start_in(&data_dir);
    let aws = smemu.aws();
    let name = unique("logs-pipe");
    aws.deploy(&name, &json!([tagger("a", None), tagger("b", None)]), &[], 1);
    let (out, body) = aws.invoke(&name, "hello", &[]);
    assert!(out.success, "{}", out.stderr);
    assert_eq!(body, "hello|a|b");

    let group = format!("/aws/sagemaker/Endpoints/{name}");
    let groups = ok(logs(&aws, &["describe-log-groups", "--log-group-name-prefix", &group]));
    assert_eq!(groups["logGroups"][0]["logGroupName"], group.as_str(), "{groups}");
    assert_eq!(groups["logGroups"][0]["arn"], format!("arn:aws:logs:us-east-1:000000000000:log-group:{group}:*"));

    // `<VariantName>/<instance-id>/<container-name>`: ContainerHostname, else container-<n>.
    let streams = eventually(30, "both containers' streams", || {
        let names = stream_names(&aws, &group, None);
        (names.len() == 2).then_some(names)
    });
    let (first, second) = (&streams[0], &streams[1]);
    let instance = first.strip_prefix("AllTraffic/").and_then(|s| s.strip_suffix("/container-1")).expect(first);
    assert!(instance.starts_with("i-0") && instance.len() == 19, "{instance}");
    assert_eq!(second, &format!("AllTraffic/{instance}/container-2"));
    let described = ok(logs(
        &aws,
        &["describe-log-streams", "--log-group-name", &group, "--order-by", "LastEventTime", "--descending"],
    ));
    assert_eq!(described["logStreams"].as_array().unwrap().len(), 2, "{described}");
    assert!(described["logStreams"][0]["lastEventTimestamp"].as_i64().is_some(), "{described}");

    // Each container printed the request's line.
    for stream in [first, second] {
        eventually(30, "the invocation's line in each container's stream", || {
            (count(&messages(&aws, &group, stream), INVOKED) == 1).then_some(())
        });
    }

    // Forward tokens: one event at a time from the head, until the same token comes back.
    let all = messages(&aws, &group, first);
    let mut token: Option<String> = None;
    let mut read = Vec::new();
    loop {
        let mut args = vec!["get-log-events", "--log-group-name", &group, "--log-stream-name", first, "--limit", "1"];
        match &token {
            Some(t) => args.extend(["--next-token", t.as_str()]),
            None => args.push("--start-from-head"),
        }
        let page = ok(logs(&aws, &args));
        let next = page["nextForwardToken"].as_str().unwrap().to_owned();
        assert!(next.starts_with("f/") && next.ends_with("/s"), "{next}");
        let events = page["events"].as_array().unwrap();
        if events.is_empty() {
            assert_eq!(token.as_deref(), Some(next.as_str()), "the end of the stream gives back the token it got");
            break;
        }
        read.extend(events.iter().map(|e| e["message"].as_str().unwrap().to_owned()));
        assert!(read.len() <= all.len(), "read past the stream's end");
        token = Some(next);
    }
    assert_eq!(read[..all.len()], all[..]);
    // Backward: the last event, then the one before it.
    let last =
        ok(logs(&aws, &["get-log-events", "--log-group-name", &group, "--log-stream-name", first, "--limit", "1"]));
    assert_eq!(last["events"][0]["message"], all.last().unwrap().as_str());
    let back = last["nextBackwardToken"].as_str().unwrap();
    assert!(back.starts_with("b/"), "{back}");
    let before = ok(logs(
        &aws,
        &[
            "get-log-events",
            "--log-group-name",
            &group,
            "--log-stream-name",
            first,
            "--limit",
            "1",
            "--next-token",
            back,
        ],
    ));
    assert_eq!(before["events"][0]["message"], all[all.len() - 2].as_str());

    // Filters across the group's streams: a term, a quoted phrase, an exclusion.
    let filtered = |pattern: &str| -> Vec<Value> {
        let out = ok(logs(&aws, &["filter-log-events", "--log-group-name", &group, "--filter-pattern", pattern]));
        assert_eq!(out["searchedLogStreams"], json!([]), "{out}");
        out["events"].as_array().unwrap().clone()
    };
    let term = filtered("invocations");
    assert_eq!(term.len(), 2, "{term:?}");
    let mut in_streams: Vec<&str> = term.iter().map(|e| e["logStreamName"].as_str().unwrap()).collect();
    in_streams.sort();
    assert_eq!(in_streams, [first.as_str(), second.as_str()]);
    assert_eq!(filtered("\"POST /invocations\"").len(), 2);
    assert_eq!(filtered("\"/invocations POST\"").len(), 0);
    let excluded = filtered("ms -ping");
    assert!(excluded.iter().all(|e| !e["message"].as_str().unwrap().contains("ping")), "{excluded:?}");
    assert_eq!(excluded.len(), 2, "{excluded:?}");
    let one_stream = ok(logs(
        &aws,
        &[
            "filter-log-events",
            "--log-group-name",
            &group,
            "--log-stream-names",
            second,
            "--filter-pattern",
            "invocations",
        ],
    ));
    assert_eq!(one_stream["events"].as_array().unwrap().len(), 1, "{one_stream}");

    // The real service's errors.
    logs(&aws, &["get-log-events", "--log-group-name", "/aws/sagemaker/Endpoints/nope", "--log-stream-name", "x"])
        .assert_error("ResourceNotFoundException", "The specified log group does not exist.");
    logs(&aws, &["get-log-events", "--log-group-name", &group, "--log-stream-name", "AllTraffic/nope"])
        .assert_error("ResourceNotFoundException", "The specified log stream does not exist.");
    logs(&aws, &["describe-log-streams", "--log-group-name", "/nope"])
        .assert_error("ResourceNotFoundException", "The specified log group does not exist.");
    logs(
        &aws,
        &[
            "describe-log-streams",
            "--log-group-name",
            &group,
            "--order-by",
            "LastEventTime",
            "--log-stream-name-prefix",
            "All",
        ],
    )
    .assert_error("InvalidParameterException", "Cannot order by LastEventTime with a logStreamNamePrefix.");
    logs(&aws, &["get-log-events", "--log-group-name", &group, "--log-stream-name", first, "--next-token", "f/123/s"])
        .assert_error("InvalidParameterException", "The specified nextToken is invalid.");
    let json_pattern =
        logs(&aws, &["filter-log-events", "--log-group-name", &group, "--filter-pattern", "{ $.level = \"x\" }"]);
    assert!(
        !json_pattern.success && json_pattern.stderr.contains("InvalidParameterException"),
        "{}",
        json_pattern.stderr
    );

    // A transform job: its instance's stream, the container's lines and the data-log.
    let job = transform_job(&aws, &smemu);
    let prefix = format!("{job}/");
    let job_streams = eventually(60, "the job's streams", || {
        let names = stream_names(&aws, "/aws/sagemaker/TransformJobs", Some(&prefix));
        (names.len() == 2).then_some(names)
    });
    let container_stream = &job_streams[0];
    let (instance, epoch) = container_stream.strip_prefix(&prefix).unwrap().rsplit_once('-').unwrap();
    assert!(instance.starts_with("i-0") && epoch.parse::<i64>().is_ok(), "{container_stream}");
    assert_eq!(job_streams[1], format!("{container_stream}/data-log"));
    eventually(30, "the job's request line", || {
        (count(&messages(&aws, "/aws/sagemaker/TransformJobs", container_stream), INVOKED) >= 1).then_some(())
    });
    let data_log = messages(&aws, "/aws/sagemaker/TransformJobs", &job_streams[1]);
    assert!(data_log.iter().any(|m| m.starts_with("[sagemaker logs]: MaxConcurrentTransforms=")), "{data_log:?}");

    // Pagination: the CLI follows each operation's nextToken a page of one at a time.
    let paged =
        ok(logs(&aws, &["describe-log-groups", "--log-group-name-prefix", "/aws/sagemaker/", "--page-size", "1"]));
    let paged: Vec<&str> =
        paged["logGroups"].as_array().unwrap().iter().map(|g| g["logGroupName"].as_str().unwrap()).collect();
    assert_eq!(paged, [group.as_str(), "/aws/sagemaker/TransformJobs"]);
    let paged = ok(logs(&aws, &["describe-log-streams", "--log-group-name", &group, "--page-size", "1"]));
    assert_eq!(paged["logStreams"].as_array().unwrap().len(), 2, "{paged}");
    let paged = ok(logs(
        &aws,
        &["filter-log-events", "--log-group-name", &group, "--filter-pattern", "invocations", "--page-size", "1"],
    ));
    assert_eq!(paged["events"].as_array().unwrap().len(), 2, "{paged}");

    // A restart: streams and lines stay; capture resumes without repeating a line.
    let before_restart = messages(&aws, &group, first);
    smemu.stop();
    let smemu = Smemu::start_in(&data_dir);
    let aws = smemu.aws();
    assert_eq!(stream_names(&aws, &group, None), streams);
    let after = messages(&aws, &group, first);
    assert_eq!(after[..before_restart.len()], before_restart[..]);
    let (out, _) = aws.invoke(&name, "again", &[]);
    assert!(out.success, "{}", out.stderr);
    let resumed = eventually(30, "the second invocation's line", || {
        let lines = messages(&aws, &group, first);
        (count(&lines, INVOKED) >= 2).then_some(lines)
    });
    assert_eq!(count(&resumed, INVOKED), 2, "{resumed:?}");
    assert_eq!(count(&resumed, "listening on"), 1, "{resumed:?}");
    assert_eq!(count(&messages(&aws, "/aws/sagemaker/TransformJobs", container_stream), INVOKED), 1);

    // A redeploy (UpdateEndpoint onto a new fleet): the old fleet's streams stay beside the new ones.
    let config = format!("{name}-2");
    aws.create_config(&config, &name);
    aws.sagemaker(&["update-endpoint", "--endpoint-name", &name, "--endpoint-config-name", &config]).json();
    aws.wait_in_service(&name);
    let after_update = eventually(30, "the new fleet's streams", || {
        let names = stream_names(&aws, &group, None);
        (names.len() == 4).then_some(names)
    });
    assert!(streams.iter().all(|old| after_update.contains(old)), "{after_update:?}");
    assert_eq!(count(&messages(&aws, &group, first), INVOKED), 2, "the old stream keeps its lines");
}

/// What clients check before sending, answered as the service does when it is sent anyway.
#[test]
fn bad_input_gets_the_services_errors_on_the_wire() {
    use std::io::{Read, Write};

    let smemu = Smemu::start();
    let post = |target: &str, body: &str| -> (u16, Value) {
        let addr = smemu.url.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: {target}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    };
    let error = |target: &str, body: &str| -> (String, String) {
        let (status, answer) = post(target, body);
        assert_eq!(status, 400, "{answer}");
        (answer["__type"].as_str().unwrap().to_owned(), answer["message"].as_str().unwrap().to_owned())
    };
    assert_eq!(post("Logs_20140328.DescribeLogGroups", "{}"), (200, json!({"logGroups": []})));
    assert_eq!(
        error("Logs_20140328.GetLogEvents", r#"{"logGroupName": "g", "logStreamName": "s", "limit": 0}"#),
        (
            "InvalidParameterException".to_owned(),
            "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1".to_owned()
        )
    );
    assert_eq!(
        error("Logs_20140328.FilterLogEvents", r#"{"logGroupName": "g", "logGroupIdentifier": "g"}"#),
        (
            "InvalidParameterException".to_owned(),
            "LogGroup name and LogGroup ARN are mutually exclusive parameters.".to_owned()
        )
    );
    assert_eq!(error("Logs_20140328.DescribeLogStreams", "{}").0, "InvalidParameterException");
    assert_eq!(
        error(
            "Logs_20140328.DescribeLogStreams",
            r#"{"logGroupIdentifier": "arn:aws:logs:us-east-1:000000000000:log-group:/aws/sagemaker/Endpoints/none"}"#
        ),
        ("ResourceNotFoundException".to_owned(), "The specified log group does not exist.".to_owned())
    );
    assert_eq!(
        error(
            "Logs_20140328.FilterLogEvents",
            r#"{"logGroupName": "g", "logStreamNames": ["a"], "logStreamNamePrefix": "a"}"#
        )
        .0,
        "InvalidParameterException"
    );
    assert_eq!(
        error("Logs_20140328.DescribeLogGroups", r#"{"nextToken": "nope"}"#).1,
        "The specified nextToken is invalid."
    );
    assert_eq!(error("Logs_20140328.PutLogEvents", "{}").0, "UnknownOperationException");
}

/// Uploads one CSV object to the embedded S3, runs a one-container transform job over it and
/// waits until it completed; returns the job's name.
fn transform_job(aws: &AwsCli, smemu: &Smemu) -> String {
    let s3 = AwsCli::new(&smemu.s3_url);
    let bucket = unique("logs");
    assert!(s3.run("s3", &["mb", &format!("s3://{bucket}")]).success);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data.csv"), "1,2\n3,4\n").unwrap();
    let put =
        s3.run("s3", &["cp", dir.path().join("data.csv").to_str().unwrap(), &format!("s3://{bucket}/in/data.csv")]);
    assert!(put.success, "{}", put.stderr);
    let job = unique("logs-job");
    aws.sagemaker(&["create-model", "--model-name", &job, "--containers", &json!([tagger("t", None)]).to_string()])
        .json();
    let request = json!({
        "TransformJobName": job,
        "ModelName": job,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": format!("s3://{bucket}/in/")}},
            "ContentType": "text/csv", "SplitType": "Line"
        },
        "TransformOutput": {"S3OutputPath": format!("s3://{bucket}/out/"), "AssembleWith": "Line"},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    });
    aws.sagemaker(&["create-transform-job", "--cli-input-json", &request.to_string()]).json();
    let ended = eventually(120, "the transform job to end", || {
        let d = aws.sagemaker(&["describe-transform-job", "--transform-job-name", &job]).json();
        (!matches!(d["TransformJobStatus"].as_str(), Some("InProgress" | "Stopping"))).then_some(d)
    });
    assert_eq!(ended["TransformJobStatus"], "Completed", "{ended}");
    job
}

/// `SMEMU_LOG_RETENTION_BYTES` (`--log-retention-bytes`): past it the oldest events go first.
#[test]
fn log_retention_drops_the_oldest_events_first() {
    let tmp = tempfile::tempdir().unwrap();
    // Room for about ten of the test model's lines (each ~35 bytes + 26).
    let smemu = Smemu::start_with_env(
        &tmp.path().join("data"),
        &["--s3-listen", "127.0.0.1:0"],
        &[("SMEMU_LOG_RETENTION_BYTES", "600")],
    );
    let aws = smemu.aws();
    let name = unique("logs-keep");
    aws.deploy(&name, &json!([{"Image": TEST_IMAGE}]), &[], 1);
    let group = format!("/aws/sagemaker/Endpoints/{name}");
    let stream = eventually(30, "the container's stream", || stream_names(&aws, &group, None).into_iter().next());
    eventually(30, "the start-up line", || {
        (count(&messages(&aws, &group, &stream), "listening on") == 1).then_some(())
    });
    for i in 0..12 {
        let (out, _) = aws.invoke(&name, &format!("call {i}"), &[]);
        assert!(out.success, "{}", out.stderr);
    }
    let kept = eventually(30, "the twelfth invocation's line, the start-up line dropped", || {
        let lines = messages(&aws, &group, &stream);
        (lines.last().is_some_and(|l| l.contains(INVOKED)) && count(&lines, "listening on") == 0).then_some(lines)
    });
    let bytes: usize = kept.iter().map(|m| m.len() + 26).sum();
    assert!(bytes <= 600, "{bytes} bytes kept: {kept:?}");
    assert!(count(&kept, INVOKED) >= 5 && count(&kept, INVOKED) < 12, "{kept:?}");
}

/// The SageMaker Python SDK: `Transformer(...).transform(..., wait=True, logs=True)` prints the
/// job's container lines, read through smemu's CloudWatch Logs (boto3 pointed at smemu by
/// `AWS_ENDPOINT_URL`, at its S3 by `AWS_ENDPOINT_URL_S3`).
#[test]
fn the_python_sdk_prints_a_transform_jobs_container_lines() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let s3 = AwsCli::new(&smemu.s3_url);
    let bucket = unique("sdk-logs");
    assert!(s3.run("s3", &["mb", &format!("s3://{bucket}")]).success);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data.csv"), "1,2\n").unwrap();
    assert!(
        s3.run("s3", &["cp", dir.path().join("data.csv").to_str().unwrap(), &format!("s3://{bucket}/in/data.csv")])
            .success
    );
    let model = unique("sdk-logs");
    aws.sagemaker(&["create-model", "--model-name", &model, "--containers", &json!([tagger("sdk", None)]).to_string()])
        .json();

    let script = r#"
import sys
import boto3
import sagemaker
from sagemaker.transformer import Transformer

model, bucket = sys.argv[1], sys.argv[2]
session = sagemaker.Session(boto_session=boto3.Session(region_name="us-east-1"), default_bucket=bucket)
transformer = Transformer(
    model_name=model,
    instance_count=1,
    instance_type="ml.m5.large",
    output_path=f"s3://{bucket}/out/",
    sagemaker_session=session,
)
transformer.transform(f"s3://{bucket}/in/", content_type="text/csv", split_type="Line", wait=True, logs=True)
print("SDK-DONE", transformer.latest_transform_job.job_name)
"#;
    let python = repo().join(".venv/bin/python");
    let out = std::process::Command::new(&python)
        .args(["-c", script, &model, &bucket])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .env("AWS_ENDPOINT_URL", &smemu.url)
        .env("AWS_ENDPOINT_URL_S3", &smemu.s3_url)
        .env("AWS_ACCESS_KEY_ID", "000000000000")
        .env("AWS_SECRET_ACCESS_KEY", "smemu-secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // The SDK looks for its own config files and telemetry unless told not to.
        .env("SAGEMAKER_SKIP_CONFIG_LOADING", "true")
        .output()
        .expect("run the SageMaker Python SDK");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("SDK-DONE"), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains(INVOKED), "the container's lines are printed; stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("smemu-testmodel role=transform tag=sdk"), "stdout: {stdout}\nstderr: {stderr}");
}
