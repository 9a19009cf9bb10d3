//! Data capture (`DataCaptureConfig`) through the AWS CLI: endpoints on a 2-container pipeline of
//! the test image capture sampled invocations into smemu's embedded S3, listed and read back with
//! `aws s3`, in the layout and record shape of the developer guide
//! (<https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html>).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::common::{AwsCli, Smemu, TEST_IMAGE, eventually, tagger, unique};

/// A pipeline whose first container tags each line `|a`, the second `|b`, answering `application/json`.
fn pipeline() -> Value {
    let mut second = tagger("b", Some("second"));
    second["Environment"]["SMEMU_TEST_OUTPUT_CONTENT_TYPE"] = Value::from("application/json");
    json!([tagger("a", Some("first")), second])
}

fn create_config(aws: &AwsCli, name: &str, model: &str, capture: Value) -> crate::common::CliOutput {
    let request = json!({
        "EndpointConfigName": name,
        "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": model,
                                "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}],
        "DataCaptureConfig": capture,
    });
    aws.sagemaker(&["create-endpoint-config", "--cli-input-json", &request.to_string()])
}

/// Every object under `s3://bucket/prefix/` (key relative to the bucket → its lines as JSON).
fn captured(s3: &AwsCli, bucket: &str, prefix: &str) -> BTreeMap<String, Vec<Value>> {
    let listed = s3.run("s3", &["ls", "--recursive", &format!("s3://{bucket}/{prefix}/")]);
    let mut files = BTreeMap::new();
    for key in listed.stdout.lines().filter_map(|line| line.split_whitespace().nth(3)) {
        let dir = tempfile::tempdir().unwrap();
        let local = dir.path().join("f.jsonl");
        let out = s3.run("s3", &["cp", &format!("s3://{bucket}/{key}"), local.to_str().unwrap()]);
        assert!(out.success, "{}", out.stderr);
        let lines = read_lines(&local);
        files.insert(key.to_owned(), lines);
    }
    files
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

fn records(files: &BTreeMap<String, Vec<Value>>) -> Vec<Value> {
    files.values().flatten().cloned().collect()
}

/// `capture/<endpoint>/AllTraffic/yyyy/mm/dd/hh/mm-ss-SSS-<uuid>.jsonl`.
fn assert_layout(key: &str, prefix: &str, endpoint: &str) {
    let rest = key.strip_prefix(&format!("{prefix}/{endpoint}/AllTraffic/")).unwrap_or_else(|| panic!("{key}"));
    let parts: Vec<&str> = rest.split('/').collect();
    assert_eq!(parts.len(), 5, "{key}");
    for (part, len) in parts[..4].iter().zip([4, 2, 2, 2]) {
        assert!(part.len() == len && part.chars().all(|c| c.is_ascii_digit()), "{key}");
    }
    let name = parts[4].strip_suffix(".jsonl").unwrap_or_else(|| panic!("{key}"));
    let (time, id) = name.split_at(9);
    assert!(time.chars().enumerate().all(|(i, c)| if i == 2 || i == 5 { c == '-' } else { c.is_ascii_digit() }));
    assert!(id.strip_prefix('-').is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()), "{key}");
}

#[test]
fn captured_invocations_of_a_pipeline_are_written_as_the_guide_lays_them_out() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let s3 = AwsCli::new(&smemu.s3_url);
    let bucket = unique("capture");
    assert!(s3.run("s3", &["mb", &format!("s3://{bucket}")]).success);
    let destination = format!("s3://{bucket}/capture");
    let model = unique("cap-model");
    aws.sagemaker(&["create-model", "--model-name", &model, "--containers", &pipeline().to_string()]).json();

    let (full, never, input_only) = (unique("cap-full"), unique("cap-never"), unique("cap-input"));
    let header = json!({"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]});
    let configs = [
        (
            &full,
            json!({"InitialSamplingPercentage": 100, "DestinationS3Uri": destination, "KmsKeyId": "alias/capture",
                       "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                       "CaptureContentTypeHeader": header}),
        ),
        (
            &never,
            json!({"InitialSamplingPercentage": 0, "DestinationS3Uri": destination,
                        "CaptureOptions": [{"CaptureMode": "InputAndOutput"}], "CaptureContentTypeHeader": header}),
        ),
        (
            &input_only,
            json!({"InitialSamplingPercentage": 100, "DestinationS3Uri": destination,
                             "CaptureOptions": [{"CaptureMode": "Input"}]}),
        ),
    ];
    for (name, capture) in &configs {
        let out = create_config(&aws, name, &model, capture.clone());
        assert!(out.success, "{}", out.stderr);
        aws.sagemaker(&["create-endpoint", "--endpoint-name", name, "--endpoint-config-name", name]).json();
    }
    for (name, _) in &configs {
        aws.wait_in_service(name);
    }

    let described = aws.describe_endpoint(&full);
    assert_eq!(
        described["DataCaptureConfig"],
        json!({"EnableCapture": true, "CaptureStatus": "Started", "CurrentSamplingPercentage": 100,
               "DestinationS3Uri": destination, "KmsKeyId": "alias/capture"})
    );
    assert_eq!(aws.describe_endpoint(&never)["DataCaptureConfig"]["CurrentSamplingPercentage"], 0);

    // The endpoint that samples nothing first: its records, if any, would reach the writer before
    // the others' and be written no later.
    for i in 0..5 {
        let (out, _) = aws.invoke(&never, &format!("{i},0"), &["--content-type", "text/csv"]);
        assert!(out.success, "{}", out.stderr);
    }
    let mut sent = Vec::new();
    for i in 0..5 {
        let body = format!("{i},1\n{i},2");
        let (out, answer) = aws.invoke(&full, &body, &["--content-type", "text/csv"]);
        assert!(out.success, "{}", out.stderr);
        assert!(answer.starts_with(&format!("{i},1|a|b")), "{answer}");
        sent.push((body, answer));
    }
    for i in 0..3 {
        let (out, _) = aws.invoke(&input_only, &format!("only {i}"), &[]);
        assert!(out.success, "{}", out.stderr);
    }

    let files = eventually(30, "5 captured records", || {
        let files = captured(&s3, &bucket, &format!("capture/{full}"));
        (records(&files).len() >= 5).then_some(files)
    });
    for key in files.keys() {
        assert_layout(key, "capture", &full);
    }
    let mut got = records(&files);
    assert_eq!(got.len(), 5, "{got:?}");
    got.sort_by_key(|r| r["captureData"]["endpointInput"]["data"].as_str().unwrap_or_default().to_owned());
    let mut ids = std::collections::HashSet::new();
    for (record, (body, answer)) in got.iter().zip(&sent) {
        assert_eq!(
            record["captureData"],
            json!({
                "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": body, "encoding": "CSV"},
                "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT", "data": answer,
                                   "encoding": "JSON"}
            })
        );
        assert_eq!(record["eventVersion"], "0");
        assert!(ids.insert(record["eventMetadata"]["eventId"].as_str().unwrap().to_owned()));
        let time = record["eventMetadata"]["inferenceTime"].as_str().unwrap();
        assert!(time.len() == 20 && time.ends_with('Z') && &time[10..11] == "T", "{time}");
    }

    let input_records = records(&eventually(30, "3 input-only records", || {
        let files = captured(&s3, &bucket, &format!("capture/{input_only}"));
        (records(&files).len() >= 3).then_some(files)
    }));
    assert_eq!(input_records.len(), 3);
    let mut inputs: Vec<String> = input_records
        .iter()
        .map(|r| {
            assert!(r["captureData"].get("endpointOutput").is_none(), "{r}");
            let input = &r["captureData"]["endpointInput"];
            // No CaptureContentTypeHeader: base64, whatever the content type.
            assert_eq!(input["encoding"], "BASE64");
            assert_eq!(input["observedContentType"], "text/plain");
            let data = aws_smithy_types::base64::decode(input["data"].as_str().unwrap()).unwrap();
            String::from_utf8(data).unwrap()
        })
        .collect();
    inputs.sort();
    assert_eq!(inputs, ["only 0", "only 1", "only 2"]);

    assert!(captured(&s3, &bucket, &format!("capture/{never}")).is_empty(), "0 % captures nothing");
}

#[test]
fn capture_configs_are_validated_as_the_service_does() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let model = unique("cap-bad");
    let container = format!("Image={TEST_IMAGE}");
    aws.sagemaker(&["create-model", "--model-name", &model, "--primary-container", &container]).json();
    let good = json!({"InitialSamplingPercentage": 10, "DestinationS3Uri": "s3://b/p",
                      "CaptureOptions": [{"CaptureMode": "Input"}]});
    let bad = |key: &str, value: Value| {
        let mut capture = good.clone();
        capture[key] = value;
        create_config(&aws, &unique("cap-bad"), &model, capture)
    };
    let out = bad("InitialSamplingPercentage", json!(101));
    out.assert_error(
        "ValidationException",
        "1 validation error detected: Value '101' at 'dataCaptureConfig.initialSamplingPercentage' failed to satisfy constraint: Member must have value less than or equal to 100",
    );
    let out = bad("DestinationS3Uri", json!("ftp://b/p"));
    assert!(!out.success);
    assert!(out.stderr.contains("ValidationException") && out.stderr.contains("dataCaptureConfig.destinationS3Uri"));
    let out = bad("CaptureOptions", json!([{"CaptureMode": "Everything"}]));
    assert!(!out.success);
    assert!(out.stderr.contains("ValidationException") && out.stderr.contains("captureMode"), "{}", out.stderr);
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("DestinationS3Uri");
    // The CLI checks required members itself; a raw request is refused by smemu the same way.
    assert!(!create_config(&aws, &unique("cap-bad"), &model, missing).success);

    let name = unique("cap-good");
    let out = create_config(&aws, &name, &model, good.clone());
    assert!(out.success, "{}", out.stderr);
    let described = aws.sagemaker(&["describe-endpoint-config", "--endpoint-config-name", &name]).json();
    assert_eq!(described["DataCaptureConfig"], good);

    // A transform job's DataCaptureConfig is kept and reported as given.
    let s3 = AwsCli::new(&smemu.s3_url);
    let bucket = unique("cap-job");
    assert!(s3.run("s3", &["mb", &format!("s3://{bucket}")]).success);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    std::fs::write(&input, "1,2\n").unwrap();
    assert!(s3.run("s3", &["cp", input.to_str().unwrap(), &format!("s3://{bucket}/in/in.csv")]).success);
    let job = unique("cap-job");
    let capture = json!({"DestinationS3Uri": format!("s3://{bucket}/capture"), "KmsKeyId": "alias/k",
                         "GenerateInferenceId": true});
    let request = json!({
        "TransformJobName": job, "ModelName": model,
        "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": format!("s3://{bucket}/in")}},
                           "ContentType": "text/csv"},
        "TransformOutput": {"S3OutputPath": format!("s3://{bucket}/out")},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        "DataCaptureConfig": capture,
    });
    let out = aws.sagemaker(&["create-transform-job", "--cli-input-json", &request.to_string()]);
    assert!(out.success, "{}", out.stderr);
    let described = aws.sagemaker(&["describe-transform-job", "--transform-job-name", &job]).json();
    assert_eq!(described["DataCaptureConfig"], capture);
    let mut bad_job = request.clone();
    bad_job["TransformJobName"] = Value::from(unique("cap-job"));
    bad_job["DataCaptureConfig"]["DestinationS3Uri"] = Value::from("ftp://b/p");
    let out = aws.sagemaker(&["create-transform-job", "--cli-input-json", &bad_job.to_string()]);
    assert!(!out.success && out.stderr.contains("ValidationException"), "{}", out.stderr);
}

/// The records under `s3://bucket/capture/<endpoint>/`, once there are at least `count`.
fn wait_records(s3: &AwsCli, bucket: &str, endpoint: &str, count: usize) -> Vec<Value> {
    records(&eventually(30, &format!("{count} captured records of {endpoint}"), || {
        let files = captured(s3, bucket, &format!("capture/{endpoint}"));
        for key in files.keys() {
            assert_layout(key, "capture", endpoint);
        }
        (records(&files).len() >= count).then_some(files)
    }))
}

/// A streamed answer is captured whole, once its stream has ended, and an async request with its
/// InferenceId; InvokeEndpointWithResponseStream on the async endpoint is refused as
/// InvokeEndpoint is.
#[test]
fn streamed_and_async_invocations_are_captured_with_their_whole_answers() {
    // The capture flags as a user gives them (the shorter flush makes the records come sooner).
    let data = tempfile::tempdir().unwrap();
    let flags = ["--capture-flush-interval", "500ms", "--capture-queue-bytes", "8MiB", "--capture-file-records", "10"];
    let smemu = Smemu::start_with(&data.path().join("data"), &flags);
    let aws = smemu.aws();
    let s3 = AwsCli::new(&smemu.s3_url);
    let bucket = unique("capture-paths");
    assert!(s3.run("s3", &["mb", &format!("s3://{bucket}")]).success);
    let capture = json!({
        "InitialSamplingPercentage": 100, "DestinationS3Uri": format!("s3://{bucket}/capture"),
        "CaptureOptions": [{"CaptureMode": "InputAndOutput"}],
        "CaptureContentTypeHeader": {"CsvContentTypes": ["text/plain"]},
    });
    let (streamer, asynchronous) = (unique("cap-stream"), unique("cap-async"));
    let streaming = json!({"Image": TEST_IMAGE, "Environment": {
        "SMEMU_TEST_ROLE": "stream", "SMEMU_TEST_CHUNKS": "3", "SMEMU_TEST_CHUNK_DELAY_MS": "50"}});
    aws.sagemaker(&["create-model", "--model-name", &streamer, "--primary-container", &streaming.to_string()]).json();
    let tagging = tagger("a", None);
    aws.sagemaker(&["create-model", "--model-name", &asynchronous, "--primary-container", &tagging.to_string()]).json();
    assert!(create_config(&aws, &streamer, &streamer, capture.clone()).success);
    let request = json!({
        "EndpointConfigName": asynchronous,
        "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": asynchronous,
                                "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}],
        "DataCaptureConfig": capture,
        "AsyncInferenceConfig": {"OutputConfig": {"S3OutputPath": format!("s3://{bucket}/out")}},
    });
    let out = aws.sagemaker(&["create-endpoint-config", "--cli-input-json", &request.to_string()]);
    assert!(out.success, "{}", out.stderr);
    for name in [&streamer, &asynchronous] {
        aws.sagemaker(&["create-endpoint", "--endpoint-name", name, "--endpoint-config-name", name]).json();
    }
    for name in [&streamer, &asynchronous] {
        aws.wait_in_service(name);
    }

    let tokio = tokio::runtime::Runtime::new().unwrap();
    let (parts, refused) = tokio.block_on(async {
        let config = crate::common::sdk_config(&smemu.url, "AKIDEXAMPLE", "us-east-1").await;
        let runtime = aws_sdk_sagemakerruntime::Client::new(&config);
        let mut out = runtime
            .invoke_endpoint_with_response_stream()
            .endpoint_name(&streamer)
            .content_type("text/plain")
            .inference_id("stream-1")
            .body(aws_sdk_sagemakerruntime::primitives::Blob::new("abcdef"))
            .send()
            .await
            .unwrap();
        let mut parts = Vec::new();
        while let Some(event) = out.body.recv().await.unwrap() {
            if let aws_sdk_sagemakerruntime::types::ResponseStream::PayloadPart(part) = event {
                parts.push(String::from_utf8(part.bytes().unwrap().as_ref().to_vec()).unwrap());
            }
        }
        let refused = runtime
            .invoke_endpoint_with_response_stream()
            .endpoint_name(&asynchronous)
            .body(aws_sdk_sagemakerruntime::primitives::Blob::new("x"))
            .send()
            .await
            .err()
            .unwrap()
            .into_service_error();
        (parts, refused)
    });
    assert_eq!(parts, ["ab", "cd", "ef"], "three parts");
    // Streaming on an async endpoint: InvokeEndpoint's refusal.
    assert_eq!(refused.meta().code(), Some("ValidationError"), "{refused:?}");
    assert_eq!(
        refused.meta().message(),
        Some(
            format!(
                "Endpoint {asynchronous} of account 000000000000 is an asynchronous inference endpoint: invoke it with InvokeEndpointAsync."
            )
            .as_str()
        )
    );

    let streamed = wait_records(&s3, &bucket, &streamer, 1);
    assert_eq!(streamed.len(), 1, "{streamed:?}");
    assert_eq!(
        streamed[0]["captureData"],
        json!({
            "endpointInput": {"observedContentType": "text/plain", "mode": "INPUT", "data": "abcdef", "encoding": "CSV"},
            "endpointOutput": {"observedContentType": "text/plain", "mode": "OUTPUT", "data": "abcdef", "encoding": "CSV"}
        }),
        "the whole streamed answer is the output"
    );
    assert_eq!(streamed[0]["eventMetadata"]["inferenceId"], "stream-1");

    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("request.txt");
    std::fs::write(&input, "x,y\n").unwrap();
    let uri = format!("s3://{bucket}/in/request.txt");
    assert!(s3.run("s3", &["cp", input.to_str().unwrap(), &uri]).success);
    let accepted = aws.run(
        "sagemaker-runtime",
        &[
            "invoke-endpoint-async",
            "--endpoint-name",
            &asynchronous,
            "--input-location",
            &uri,
            "--inference-id",
            "async-1",
            "--content-type",
            "text/plain",
        ],
    );
    assert!(accepted.success, "{}", accepted.stderr);
    let answered = wait_records(&s3, &bucket, &asynchronous, 1);
    assert_eq!(answered.len(), 1, "{answered:?}");
    assert_eq!(
        answered[0]["captureData"],
        json!({
            "endpointInput": {"observedContentType": "text/plain", "mode": "INPUT", "data": "x,y\n", "encoding": "CSV"},
            "endpointOutput": {"observedContentType": "text/plain", "mode": "OUTPUT", "data": "x,y|a\n", "encoding": "CSV"}
        })
    );
    assert_eq!(answered[0]["eventMetadata"]["inferenceId"], "async-1");
    let output = eventually(30, "the async output", || {
        let out = s3.run("s3", &["cp", &format!("s3://{bucket}/out/async-1.out"), "-"]);
        out.success.then_some(out.stdout)
    });
    assert_eq!(output, "x,y|a\n", "the answer the record holds is the one written");
}

/// A flush interval far longer than the test: the records written are those smemu's shutdown
/// (SIGTERM, as a user's Ctrl-C) flushed, found by the next smemu on the same data directory.
#[test]
fn records_not_yet_flushed_are_written_when_smemu_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let flags = ["--s3-listen", "127.0.0.1:0", "--capture-flush-interval", "1h"];
    let (bucket, name) = (unique("capture-stop"), unique("cap-stop"));
    {
        let mut smemu = Smemu::start_with(&data_dir, &flags);
        let aws = smemu.aws();
        assert!(AwsCli::new(&smemu.s3_url).run("s3", &["mb", &format!("s3://{bucket}")]).success);
        aws.sagemaker(&["create-model", "--model-name", &name, "--containers", &pipeline().to_string()]).json();
        let capture = json!({"InitialSamplingPercentage": 100, "DestinationS3Uri": format!("s3://{bucket}/capture"),
                             "CaptureOptions": [{"CaptureMode": "Input"}],
                             "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]}});
        let out = create_config(&aws, &name, &name, capture);
        assert!(out.success, "{}", out.stderr);
        aws.sagemaker(&["create-endpoint", "--endpoint-name", &name, "--endpoint-config-name", &name]).json();
        aws.wait_in_service(&name);
        for i in 0..3 {
            let (out, _) = aws.invoke(&name, &format!("stop {i}"), &["--content-type", "text/csv"]);
            assert!(out.success, "{}", out.stderr);
        }
        let s3 = AwsCli::new(&smemu.s3_url);
        assert!(captured(&s3, &bucket, "capture").is_empty(), "written before the stop: the flush interval is 1 h");
        smemu.stop();
    }
    let smemu = Smemu::start_with(&data_dir, &flags);
    let files = captured(&AwsCli::new(&smemu.s3_url), &bucket, "capture");
    let mut inputs: Vec<String> = records(&files)
        .iter()
        .map(|r| r["captureData"]["endpointInput"]["data"].as_str().unwrap_or_default().to_owned())
        .collect();
    inputs.sort();
    assert_eq!(inputs, ["stop 0", "stop 1", "stop 2"], "{files:?}");
}
