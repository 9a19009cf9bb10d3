//! InvokeEndpointWithResponseStream through real clients (the AWS SDK for Rust and boto3) on real
//! containers of the test image's `stream` role: parts in order through a pipeline, parts that
//! arrive while the container is still writing, a dropped connection, errors before the first
//! byte, a plain-body container and Direct mode. One smemu and two endpoints serve every case.

use std::time::{Duration, Instant};

use aws_sdk_sagemakerruntime::primitives::Blob;
use aws_sdk_sagemakerruntime::types::ResponseStream;
use aws_sdk_sagemakerruntime::types::error::ResponseStreamError;
use serde_json::{Value, json};

use crate::common::{Smemu, TEST_IMAGE, repo, sdk_config, unique};

/// What the SDK read from one stream: the parts, and the error event that ended it, if any.
struct Read {
    parts: Vec<(Instant, Vec<u8>)>,
    error: Option<ResponseStreamError>,
}

async fn read_stream(
    runtime: &aws_sdk_sagemakerruntime::Client,
    endpoint: &str,
    target: Option<&str>,
    body: &str,
) -> Result<(aws_sdk_sagemakerruntime::operation::invoke_endpoint_with_response_stream::InvokeEndpointWithResponseStreamOutput, Read), aws_sdk_sagemakerruntime::error::SdkError<aws_sdk_sagemakerruntime::operation::invoke_endpoint_with_response_stream::InvokeEndpointWithResponseStreamError>>
{
    let mut out = runtime
        .invoke_endpoint_with_response_stream()
        .endpoint_name(endpoint)
        .set_target_container_hostname(target.map(str::to_owned))
        .content_type("text/plain")
        .accept("text/plain")
        .custom_attributes("trace=1")
        .body(Blob::new(body))
        .send()
        .await?;
    let mut read = Read { parts: Vec::new(), error: None };
    loop {
        match out.body.recv().await {
            Ok(Some(ResponseStream::PayloadPart(part))) => {
                read.parts.push((Instant::now(), part.bytes().map(|b| b.as_ref().to_vec()).unwrap_or_default()));
            }
            Ok(Some(other)) => panic!("an unexpected event {other:?}"),
            Ok(None) => break,
            Err(err) => {
                read.error = Some(err.into_service_error());
                break;
            }
        }
    }
    Ok((out, read))
}

fn texts(read: &Read) -> Vec<String> {
    read.parts.iter().map(|(_, p)| String::from_utf8_lossy(p).into_owned()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_come_part_by_part_through_the_rust_sdk_and_boto3_and_fail_as_the_service_says() {
    let smemu = tokio::task::spawn_blocking(Smemu::start).await.unwrap();
    let aws = smemu.aws();
    // A pipeline whose last container streams: the echo's whole answer becomes its request.
    let pipe = unique("stream-pipe");
    let delay_ms = 400;
    let containers = json!([
        {"Image": TEST_IMAGE, "ContainerHostname": "first", "Environment": {"SMEMU_TEST_ROLE": "echo"}},
        {"Image": TEST_IMAGE, "ContainerHostname": "streamer", "Environment": {
            "SMEMU_TEST_ROLE": "stream", "SMEMU_TEST_CHUNKS": "4", "SMEMU_TEST_CHUNK_DELAY_MS": delay_ms.to_string()}},
    ]);
    // Direct mode: one container that drops its connection mid-stream, one that answers a plain
    // body, one that fails before its first byte.
    let direct = unique("stream-direct");
    let direct_containers = json!([
        {"Image": TEST_IMAGE, "ContainerHostname": "dropper", "Environment": {
            "SMEMU_TEST_ROLE": "stream", "SMEMU_TEST_CHUNKS": "5", "SMEMU_TEST_DROP_AFTER": "2"}},
        {"Image": TEST_IMAGE, "ContainerHostname": "plain", "Environment": {"SMEMU_TEST_ROLE": "echo"}},
        {"Image": TEST_IMAGE, "ContainerHostname": "failer", "Environment": {
            "SMEMU_TEST_ROLE": "fail", "SMEMU_TEST_FAIL_STATUS": "503", "SMEMU_TEST_FAIL_MESSAGE": "overloaded"}},
    ]);
    {
        let (pipe, direct) = (pipe.clone(), direct.clone());
        tokio::task::spawn_blocking(move || {
            aws.deploy(&pipe, &containers, &[], 1);
            aws.deploy(&direct, &direct_containers, &["--inference-execution-config", "Mode=Direct"], 1);
        })
        .await
        .unwrap();
    }
    let config = sdk_config(&smemu.url, "AKIDEXAMPLE", "us-east-1").await;
    let runtime = aws_sdk_sagemakerruntime::Client::new(&config);

    // Parts in order, one per chunk the last container wrote, with the real response headers.
    let (out, read) = read_stream(&runtime, &pipe, None, "abcdefgh").await.unwrap();
    assert!(read.error.is_none(), "{:?}", read.error);
    assert_eq!(texts(&read), ["ab", "cd", "ef", "gh"]);
    assert_eq!(out.content_type(), Some("text/plain"));
    assert_eq!(out.invoked_production_variant(), Some("AllTraffic"));
    assert_eq!(out.custom_attributes(), Some("trace=1"));
    // The first part came while the container was still writing: it waits `delay_ms` before each
    // later chunk, so its last chunk cannot have been written until 3 delays after its first.
    let (first, last) = (read.parts[0].0, read.parts[3].0);
    assert!(
        last.duration_since(first) >= Duration::from_millis(3 * delay_ms - 100),
        "the parts arrived together ({:?} apart): the answer was collected first",
        last.duration_since(first)
    );

    // A connection dropped mid-stream: the parts sent, then ModelStreamError with StreamBroken.
    let (_, read) = read_stream(&runtime, &direct, Some("dropper"), "").await.unwrap();
    assert_eq!(texts(&read), ["token-1 ", "token-2 "]);
    match &read.error {
        Some(ResponseStreamError::ModelStreamError(err)) => assert_eq!(err.error_code(), Some("StreamBroken")),
        other => panic!("expected ModelStreamError, got {other:?}"),
    }

    // A plain (length-framed) answer is passed on as it arrives: here, one part.
    let (out, read) = read_stream(&runtime, &direct, Some("plain"), "whole answer").await.unwrap();
    assert!(read.error.is_none(), "{:?}", read.error);
    assert_eq!(texts(&read).concat(), "whole answer");
    assert_eq!(out.content_type(), Some("text/plain"));

    // Errors before the first byte are InvokeEndpoint's.
    let err = read_stream(&runtime, &direct, Some("failer"), "x").await.err().unwrap();
    let err = err.into_service_error();
    assert_eq!(err.meta().code(), Some("ModelError"), "{err:?}");
    assert!(err.meta().message().unwrap_or_default().contains("overloaded"), "{err:?}");
    let err = read_stream(&runtime, "missing-endpoint", None, "x").await.err().unwrap().into_service_error();
    assert_eq!(err.meta().code(), Some("ValidationError"));
    assert_eq!(err.meta().message(), Some("Endpoint missing-endpoint of account 000000000000 not found."));
    let err = read_stream(&runtime, &direct, None, "x").await.err().unwrap().into_service_error();
    assert_eq!(err.meta().code(), Some("ValidationError"), "Direct mode wants a target container: {err:?}");

    // boto3 reads the same stream part by part, and sees the drop as ModelStreamError.
    let boto = boto3_stream(&smemu, &pipe, &direct).await;
    let lines: Vec<Value> = boto.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let parts: Vec<&str> =
        lines.iter().filter(|l| l["endpoint"] == "pipe").filter_map(|l| l["part"].as_str()).collect();
    assert_eq!(parts, ["ab", "cd", "ef", "gh"], "{boto}");
    let headers = lines.iter().find(|l| l["endpoint"] == "pipe" && l["content_type"].is_string()).unwrap();
    assert_eq!(headers["content_type"], "text/plain", "{boto}");
    let dropped = lines.iter().filter(|l| l["endpoint"] == "dropper").collect::<Vec<_>>();
    let dropped_parts: Vec<&str> = dropped.iter().filter_map(|l| l["part"].as_str()).collect();
    assert_eq!(dropped_parts, ["token-1 ", "token-2 "], "{boto}");
    let error = dropped.iter().find_map(|l| l["error"].as_str()).unwrap_or_else(|| panic!("no error line: {boto}"));
    assert_eq!(error, "ModelStreamError", "{boto}");
}

/// boto3's `invoke_endpoint_with_response_stream` on both endpoints; one JSON line per part
/// (with the seconds since the call), per header set and per error.
async fn boto3_stream(smemu: &Smemu, pipe: &str, direct: &str) -> String {
    let script = r#"
import json, sys, time
import boto3, botocore
pipe, direct = sys.argv[1], sys.argv[2]
client = boto3.client("sagemaker-runtime", region_name="us-east-1")
def read(label, **kwargs):
    started = time.monotonic()
    resp = client.invoke_endpoint_with_response_stream(ContentType="text/plain", **kwargs)
    print(json.dumps({"endpoint": label, "content_type": resp["ContentType"]}), flush=True)
    try:
        for event in resp["Body"]:
            part = event["PayloadPart"]["Bytes"].decode()
            print(json.dumps({"endpoint": label, "t": round(time.monotonic() - started, 3), "part": part}), flush=True)
    except botocore.exceptions.EventStreamError as err:
        print(json.dumps({"endpoint": label, "error": err.response["Error"]["Code"], "message": str(err)}), flush=True)
read("pipe", EndpointName=pipe, Body=b"abcdefgh")
read("dropper", EndpointName=direct, TargetContainerHostname="dropper", Body=b"")
"#;
    let (url, pipe, direct) = (smemu.url.clone(), pipe.to_owned(), direct.to_owned());
    tokio::task::spawn_blocking(move || {
        let home = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(repo().join(".venv/bin/python"))
            .args(["-c", script, &pipe, &direct])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("AWS_ENDPOINT_URL", &url)
            .env("AWS_ACCESS_KEY_ID", "000000000000")
            .env("AWS_SECRET_ACCESS_KEY", "smemu-secret")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .expect("run boto3");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
        stdout
    })
    .await
    .unwrap()
}

/// Streamed calls are counted as InvokeEndpoint's are, ModelLatency running to the end of the
/// stream; a stream its client abandons is no success: an Invocation4XXError (the client ended
/// it), with ModelLatency only up to when it left.
#[tokio::test(flavor = "multi_thread")]
async fn streamed_calls_count_in_the_metrics_and_an_abandoned_stream_is_no_success() {
    let smemu = tokio::task::spawn_blocking(Smemu::start).await.unwrap();
    let aws = smemu.aws();
    let name = unique("stream-metrics");
    // Six parts 500 ms apart: a whole stream takes at least 2.5 s.
    let containers = json!([{"Image": TEST_IMAGE, "Environment": {
        "SMEMU_TEST_ROLE": "stream", "SMEMU_TEST_CHUNKS": "6", "SMEMU_TEST_CHUNK_DELAY_MS": "500"}}]);
    let aws = {
        let name = name.clone();
        tokio::task::spawn_blocking(move || {
            aws.deploy(&name, &containers, &[], 1);
            aws
        })
        .await
        .unwrap()
    };
    let config = sdk_config(&smemu.url, "AKIDEXAMPLE", "us-east-1").await;
    let runtime = aws_sdk_sagemakerruntime::Client::new(&config);
    for _ in 0..2 {
        let (_, read) = read_stream(&runtime, &name, None, "abcdef").await.unwrap();
        assert!(read.error.is_none(), "{:?}", read.error);
        assert_eq!(texts(&read).concat(), "abcdef");
    }
    // A client that reads the first part, then closes its connection.
    abandon_after_first_part(&smemu.url, &name).await;

    let (latency, errors_4xx, errors_5xx) = tokio::task::spawn_blocking(move || {
        let dims = [("EndpointName", name.as_str()), ("VariantName", "AllTraffic")];
        let latency = crate::common::eventually(30, "three streamed invocations", || {
            let answer = crate::metrics::statistics(
                &aws,
                "AWS/SageMaker",
                "ModelLatency",
                &dims,
                60,
                &["SampleCount", "Minimum", "Maximum"],
            );
            (crate::metrics::total(&answer, "SampleCount") >= 3.0).then_some(answer)
        });
        let count = |metric: &str| {
            let answer = crate::metrics::statistics(&aws, "AWS/SageMaker", metric, &dims, 60, &["Sum"]);
            crate::metrics::total(&answer, "Sum")
        };
        let invocations = count("Invocations");
        assert_eq!(invocations, 3.0, "every streamed call is an invocation");
        (latency, count("Invocation4XXErrors"), count("Invocation5XXErrors"))
    })
    .await
    .unwrap();
    assert_eq!(crate::metrics::total(&latency, "SampleCount"), 3.0, "{latency}");
    assert_eq!(errors_4xx, 1.0, "the abandoned stream");
    assert_eq!(errors_5xx, 0.0, "the model never failed");
    let point = |stat: &str, pick: fn(f64, f64) -> f64| {
        latency["Datapoints"].as_array().unwrap().iter().map(|d| d[stat].as_f64().unwrap()).reduce(pick).unwrap()
    };
    // Microseconds: the whole streams ran past their last part, the abandoned one stopped early.
    assert!(point("Maximum", f64::max) >= 2_500_000.0, "{latency}");
    assert!(point("Minimum", f64::min) < 2_000_000.0, "{latency}");
}

/// InvokeEndpointWithResponseStream on raw HTTP/1.1: reads until the first event's bytes, then
/// resets the connection, as a client process that dies does.
async fn abandon_after_first_part(url: &str, endpoint: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST /endpoints/{endpoint}/invocations-response-stream HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nabcdef"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    // The head, then at least one byte of the body (the first PayloadPart frame).
    while seen.windows(4).position(|w| w == b"\r\n\r\n").is_none_or(|at| seen.len() <= at + 4) {
        let n = tcp.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before the first part: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(seen.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&seen));
    tcp.set_zero_linger().unwrap();
    drop(tcp);
}
