//! InvokeEndpointAsync through the AWS CLI: inputs uploaded to the embedded S3 with `aws s3 cp`,
//! answers and failures read back from it, the wrong mode refused both ways, DescribeEndpoint's
//! `AsyncInferenceConfig`, and requests queued behind a slow container surviving SIGTERM and SIGKILL.

use std::path::Path;

use serde_json::{Value, json};

use crate::common::{AwsCli, Smemu, TEST_IMAGE, eventually, tagger, unique};

/// An async endpoint `name` running `containers`, answering under `s3://<bucket>/out` and failing
/// under `s3://<bucket>/fail`, at most `per_instance` requests in flight on each instance.
fn deploy_async(aws: &AwsCli, name: &str, containers: &Value, bucket: &str, per_instance: u32) -> Value {
    aws.sagemaker(&["create-model", "--model-name", name, "--containers", &containers.to_string()]).json();
    let config = async_config(bucket, per_instance);
    let variant = format!("VariantName=AllTraffic,ModelName={name},InstanceType=ml.m5.large,InitialInstanceCount=1");
    aws.sagemaker(&[
        "create-endpoint-config",
        "--endpoint-config-name",
        name,
        "--production-variants",
        &variant,
        "--async-inference-config",
        &config.to_string(),
    ])
    .json();
    aws.sagemaker(&["create-endpoint", "--endpoint-name", name, "--endpoint-config-name", name]).json();
    aws.wait_in_service(name);
    config
}

fn async_config(bucket: &str, per_instance: u32) -> Value {
    json!({
        "OutputConfig": {
            "S3OutputPath": format!("s3://{bucket}/out"),
            "S3FailurePath": format!("s3://{bucket}/fail"),
            "NotificationConfig": {"SuccessTopic": "arn:aws:sns:us-east-1:123456789012:async-done"}
        },
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": per_instance}
    })
}

/// `aws s3 cp` of `body` to `uri` through the embedded S3 at `s3_url`.
fn upload(s3_url: &str, dir: &Path, uri: &str, body: &str) {
    let file = dir.join(unique("input"));
    std::fs::write(&file, body).unwrap();
    let out = AwsCli::new(s3_url).run("s3", &["cp", file.to_str().unwrap(), uri]);
    assert!(out.success, "aws s3 cp: {}", out.stderr);
}

/// `aws s3 cp <uri> -`: the object's body, or `None` while it does not exist.
fn download(s3_url: &str, uri: &str) -> Option<String> {
    let out = AwsCli::new(s3_url).run("s3", &["cp", uri, "-"]);
    out.success.then_some(out.stdout)
}

fn invoke_async(aws: &AwsCli, name: &str, input: &str, extra: &[&str]) -> crate::common::CliOutput {
    let mut args = vec!["invoke-endpoint-async", "--endpoint-name", name, "--input-location", input];
    args.extend(extra);
    aws.run("sagemaker-runtime", &args)
}

#[test]
fn async_requests_answer_202_and_write_their_output_or_failure_to_s3() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let tmp = tempfile::tempdir().unwrap();
    let bucket = unique("async");
    assert!(AwsCli::new(&smemu.s3_url).run("s3", &["mb", &format!("s3://{bucket}")]).success);

    let pipeline = json!([tagger("a", Some("first")), tagger("b", Some("second"))]);
    let name = unique("asyncep");
    let config = deploy_async(&aws, &name, &pipeline, &bucket, 2);
    // The same pipeline, real-time, for the answer to compare with.
    let realtime = unique("rtep");
    aws.deploy(&realtime, &pipeline, &[], 1);

    // DescribeEndpoint reports the config's AsyncInferenceConfig, NotificationConfig included.
    assert_eq!(aws.describe_endpoint(&name)["AsyncInferenceConfig"], config);
    assert!(aws.describe_endpoint(&realtime).get("AsyncInferenceConfig").is_none());

    let input = format!("s3://{bucket}/in/lines.txt");
    upload(&smemu.s3_url, tmp.path(), &input, "hello\nworld\n");
    let accepted = invoke_async(
        &aws,
        &name,
        &input,
        &[
            "--content-type",
            "text/plain",
            "--inference-id",
            "req-1",
            "--request-ttl-seconds",
            "600",
            "--invocation-timeout-seconds",
            "30",
        ],
    )
    .json();
    assert_eq!(accepted["InferenceId"], "req-1");
    assert_eq!(accepted["OutputLocation"], format!("s3://{bucket}/out/req-1.out"));
    assert_eq!(accepted["FailureLocation"], format!("s3://{bucket}/fail/req-1-error.out"));
    let output =
        eventually(60, "the async output", || download(&smemu.s3_url, &format!("s3://{bucket}/out/req-1.out")));
    let (invoked, realtime_answer) = aws.invoke(&realtime, "hello\nworld\n", &[]);
    assert!(invoked.success, "{}", invoked.stderr);
    assert_eq!(output, realtime_answer);
    assert_eq!(output, "hello|a|b\nworld|a|b\n");

    // Without an InferenceId, a new one names the locations.
    let generated = invoke_async(&aws, &name, &input, &["--content-type", "text/plain"]).json();
    let id = generated["InferenceId"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(generated["OutputLocation"], format!("s3://{bucket}/out/{id}.out"));
    eventually(60, "the second output", || download(&smemu.s3_url, &format!("s3://{bucket}/out/{id}.out")));

    // An input that does not exist is accepted, then fails into the failure location.
    let missing = invoke_async(&aws, &name, &format!("s3://{bucket}/in/absent"), &["--inference-id", "gone"]).json();
    assert_eq!(missing["FailureLocation"], format!("s3://{bucket}/fail/gone-error.out"));
    let failure =
        eventually(60, "the failure object", || download(&smemu.s3_url, &format!("s3://{bucket}/fail/gone-error.out")));
    assert!(failure.contains("absent"), "{failure}");
    assert!(download(&smemu.s3_url, &format!("s3://{bucket}/out/gone.out")).is_none());

    // A failing container: its ModelError lands in the failure location.
    let failing = unique("asyncfail");
    let failing_pipeline = json!([
        tagger("a", Some("first")),
        {"Image": TEST_IMAGE, "ContainerHostname": "broken",
         "Environment": {"SMEMU_TEST_ROLE": "fail", "SMEMU_TEST_FAIL_MESSAGE": "model exploded"}}
    ]);
    deploy_async(&aws, &failing, &failing_pipeline, &bucket, 1);
    invoke_async(&aws, &failing, &input, &["--inference-id", "boom"]).json();
    let failure = eventually(60, "the model's failure", || {
        download(&smemu.s3_url, &format!("s3://{bucket}/fail/boom-error.out"))
    });
    assert!(failure.contains("Received server error (500) from broken"), "{failure}");
    assert!(failure.contains("model exploded"), "{failure}");
    assert!(download(&smemu.s3_url, &format!("s3://{bucket}/out/boom.out")).is_none());

    // Each mode on an endpoint of the other is refused.
    invoke_async(&aws, &realtime, &input, &[])
        .assert_error("ValidationError", &format!("Endpoint {realtime} of account"));
    let (wrong, _) = aws.invoke(&name, "hello", &[]);
    wrong.assert_error("ValidationError", "is an asynchronous inference endpoint");
    // A missing endpoint, as InvokeEndpoint answers it.
    invoke_async(&aws, "no-such-endpoint", &input, &[]).assert_error("ValidationError", "not found");
    // A `file://` input outside `--file-root` is refused before it is queued. Raw HTTP: the AWS CLI
    // reads a `file://` argument as a parameter file and would send the file's contents instead.
    let answer = raw_async(&smemu.url, &name, "file:///etc/passwd");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("ValidationError") && answer.contains("outside the directories"), "{answer}");
}

/// InvokeEndpointAsync on raw HTTP/1.1 with only an input location, to see the answer as sent.
fn raw_async(url: &str, endpoint: &str, input_location: &str) -> String {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /endpoints/{endpoint}/async-invocations HTTP/1.1\r\nHost: {addr}\r\nX-Amzn-SageMaker-InputLocation: {input_location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn an_async_config_without_an_output_path_is_refused() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let name = unique("nooutput");
    aws.create_simple_model(&name);
    let variant = format!("VariantName=v,ModelName={name},InstanceType=ml.m5.large,InitialInstanceCount=1");
    let refused = aws.sagemaker(&[
        "create-endpoint-config",
        "--endpoint-config-name",
        &name,
        "--production-variants",
        &variant,
        "--async-inference-config",
        r#"{"OutputConfig": {"S3FailurePath": "s3://b/fail"}}"#,
    ]);
    refused.assert_error("ValidationException", "S3OutputPath");

    // No OutputConfig at all: the AWS CLI refuses it before sending (the member is required), so
    // the request goes on raw HTTP, where smemu answers it as the service's model requires.
    let body = json!({
        "EndpointConfigName": name,
        "ProductionVariants": [{"VariantName": "v", "ModelName": name, "InstanceType": "ml.m5.large",
                                "InitialInstanceCount": 1}],
        "AsyncInferenceConfig": {"ClientConfig": {"MaxConcurrentInvocationsPerInstance": 2}},
    });
    let answer = raw_control_plane(&smemu.url, "SageMaker.CreateEndpointConfig", &body.to_string());
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(head.to_ascii_lowercase().contains("x-amzn-errortype: validationexception"), "{answer}");
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["__type"], "ValidationException");
    assert_eq!(
        body["message"],
        "1 validation error detected: Value null at 'asyncInferenceConfig.outputConfig' failed to satisfy constraint: Member must not be null"
    );
    // Nothing was stored.
    aws.sagemaker(&["describe-endpoint-config", "--endpoint-config-name", &name])
        .assert_error("ValidationException", "Could not find endpoint configuration");
}

/// One unsigned awsJson1.1 control-plane request on raw HTTP/1.1; the whole answer as sent.
fn raw_control_plane(url: &str, target: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: {target}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// The keys under `s3://<bucket>/<prefix>/`, one `aws s3 ls` call.
fn listed(s3_url: &str, bucket: &str, prefix: &str) -> Vec<String> {
    let out = AwsCli::new(s3_url).run("s3", &["ls", &format!("s3://{bucket}/{prefix}/")]);
    out.stdout.lines().filter_map(|line| line.split_whitespace().last().map(str::to_owned)).collect()
}

/// Requests queued behind a slow container: SIGTERM with most still queued, then SIGKILL while one
/// is in flight; each restart runs what was left, and every request ends with exactly one output.
#[test]
fn queued_async_requests_survive_a_restart_and_a_kill() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let bucket = unique("durable");
    let name = unique("slowasync");
    let pipeline = json!([
        tagger("a", Some("first")),
        {"Image": TEST_IMAGE, "ContainerHostname": "slow",
         "Environment": {"SMEMU_TEST_ROLE": "slow", "SMEMU_TEST_DELAY_MS": "3000"}}
    ]);
    let ids: Vec<String> = (0..6).map(|i| format!("r{i}")).collect();
    {
        let mut smemu = Smemu::start_in(&data_dir);
        let aws = smemu.aws();
        assert!(AwsCli::new(&smemu.s3_url).run("s3", &["mb", &format!("s3://{bucket}")]).success);
        deploy_async(&aws, &name, &pipeline, &bucket, 1);
        for id in &ids {
            upload(&smemu.s3_url, tmp.path(), &format!("s3://{bucket}/in/{id}"), &format!("{id}\n"));
        }
        for id in &ids {
            let input = format!("s3://{bucket}/in/{id}");
            invoke_async(&aws, &name, &input, &["--inference-id", id, "--content-type", "text/plain"]).json();
        }
        // One at a time at 3 s each: most are still queued now.
        smemu.stop();
        // Dropping the handle removes the containers too: the next smemu must bring the instance back.
    }
    {
        let mut smemu = Smemu::start_in(&data_dir);
        let at_stop = listed(&smemu.s3_url, &bucket, "out").len();
        assert!(at_stop < ids.len(), "requests were still queued at SIGTERM ({at_stop} done)");
        eventually(120, "a request to finish after the restart", || {
            (listed(&smemu.s3_url, &bucket, "out").len() > at_stop).then_some(())
        });
        // SIGKILL, most likely with a request in flight in the slow container.
        smemu.kill();
    }
    let smemu = Smemu::start_in(&data_dir);
    let outputs = eventually(180, "every output after the kill", || {
        let outputs = listed(&smemu.s3_url, &bucket, "out");
        (outputs.len() >= ids.len()).then_some(outputs)
    });
    let expected: Vec<String> = ids.iter().map(|id| format!("{id}.out")).collect();
    assert_eq!(outputs, expected, "one output per request");
    for id in &ids {
        let uri = format!("s3://{bucket}/out/{id}.out");
        assert_eq!(download(&smemu.s3_url, &uri).as_deref(), Some(format!("{id}|a\n").as_str()), "{uri}");
    }
    assert!(listed(&smemu.s3_url, &bucket, "fail").is_empty(), "no request failed");
}
