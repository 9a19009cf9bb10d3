//! Batch transform through the AWS CLI: inputs in smemu's embedded S3, jobs on real Docker
//! containers of the test image, outputs read back with `aws s3`. Each test starts one smemu and
//! runs its jobs side by side to keep the file's wall time small.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};

use crate::common::{AwsCli, CliOutput, Smemu, TEST_IMAGE, eventually, tagger, unique};

/// One smemu, the CLI for its API and for its embedded S3, and a bucket of the test's own.
struct Batch {
    smemu: Smemu,
    aws: AwsCli,
    s3: AwsCli,
    bucket: String,
}

impl Batch {
    fn start() -> Batch {
        Batch::on(Smemu::start())
    }

    fn on(smemu: Smemu) -> Batch {
        let aws = smemu.aws();
        let s3 = AwsCli::new(&smemu.s3_url);
        let bucket = unique("batch");
        assert!(s3.run("s3", &["mb", &format!("s3://{bucket}")]).success);
        Batch { smemu, aws, s3, bucket }
    }

    fn uri(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// Uploads every file at once (`aws s3 cp --recursive`), keys as given.
    fn put(&self, files: &[(&str, Vec<u8>)]) {
        let dir = tempfile::tempdir().unwrap();
        for (key, body) in files {
            let path = dir.path().join(key);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, body).unwrap();
        }
        let out = self.s3.run("s3", &["cp", "--recursive", dir.path().to_str().unwrap(), &self.uri("")]);
        assert!(out.success, "{}", out.stderr);
    }

    /// Every object under `prefix/`, by key relative to it.
    fn outputs(&self, prefix: &str) -> BTreeMap<String, String> {
        let dir = tempfile::tempdir().unwrap();
        let out =
            self.s3.run("s3", &["cp", "--recursive", &self.uri(&format!("{prefix}/")), dir.path().to_str().unwrap()]);
        assert!(out.success, "{}", out.stderr);
        let mut files = BTreeMap::new();
        collect(dir.path(), dir.path(), &mut files);
        files
    }

    fn model(&self, name: &str, containers: Value) {
        self.aws.sagemaker(&["create-model", "--model-name", name, "--containers", &containers.to_string()]).json();
    }

    /// CreateTransformJob from a whole request (`--cli-input-json`), on `ml.m5.large` instances.
    fn create(&self, name: &str, model: &str, input: Value, output: Value, extra: Value) -> CliOutput {
        let mut request = json!({
            "TransformJobName": name,
            "ModelName": model,
            "TransformInput": input,
            "TransformOutput": output,
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        });
        for (key, value) in extra.as_object().cloned().unwrap_or_default() {
            request[key] = value;
        }
        self.aws.sagemaker(&["create-transform-job", "--cli-input-json", &request.to_string()])
    }

    fn describe(&self, name: &str) -> Value {
        self.aws.sagemaker(&["describe-transform-job", "--transform-job-name", name]).json()
    }

    /// Polls DescribeTransformJob until every job ended, then runs the CLI's waiter, which must
    /// return at once: succeed for Completed and Stopped, fail for Failed.
    fn wait_ended(&self, names: &[&str]) -> Vec<Value> {
        names
            .iter()
            .map(|name| {
                let described = eventually(120, &format!("transform job {name} to end"), || {
                    let d = self.describe(name);
                    (!matches!(d["TransformJobStatus"].as_str(), Some("InProgress" | "Stopping"))).then_some(d)
                });
                let waited =
                    self.aws.sagemaker(&["wait", "transform-job-completed-or-stopped", "--transform-job-name", name]);
                assert_eq!(
                    waited.success,
                    described["TransformJobStatus"] != "Failed",
                    "{described} {}",
                    waited.stderr
                );
                described
            })
            .collect()
    }

    /// This smemu's transform job containers.
    fn job_containers(&self) -> Vec<String> {
        self.smemu.containers(&["smemu.kind=transform-job"])
    }
}

fn collect(root: &Path, dir: &Path, files: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, files);
        } else {
            let key = path.strip_prefix(root).unwrap().to_str().unwrap().to_owned();
            files.insert(key, String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned());
        }
    }
}

fn s3_input(uri: &str, content_type: &str, split: &str) -> Value {
    json!({
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}},
        "ContentType": content_type,
        "SplitType": split,
    })
}

fn lines_output(uri: &str) -> Value {
    json!({"S3OutputPath": uri, "AssembleWith": "Line"})
}

fn text(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn owned(files: &[(&str, &str)]) -> BTreeMap<String, String> {
    files.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn a_two_container_pipeline_transforms_every_object_record_by_record() {
    let batch = Batch::start();
    let aws = &batch.aws;
    let pipe = unique("pipe");
    batch.model(&pipe, json!([tagger("a", None), tagger("b", None)]));
    let env = unique("env");
    batch.model(&env, json!([{"Image": TEST_IMAGE, "Environment": {"SMEMU_TEST_ROLE": "echo-env"}}]));
    // A container that states its execution parameters: used for what the job leaves unset.
    let params = unique("params");
    let preferred = json!({"MaxConcurrentTransforms": 2, "BatchStrategy": "SINGLE_RECORD", "MaxPayloadInMB": 1});
    batch.model(
        &params,
        json!([{"Image": TEST_IMAGE, "Environment": {
            "SMEMU_TEST_ROLE": "echo-env", "SMEMU_TEST_EXECUTION_PARAMETERS": preferred.to_string()
        }}]),
    );
    batch.put(&[
        ("in/one.txt", text("1\n2\n3\n")),
        ("in/two.txt", text("x\ny\n")),
        ("in/sub/three.txt", text("z\n")),
        ("env/in.txt", text("p\nq\n")),
    ]);

    let single = unique("single");
    let multi = unique("multi");
    let env_single = unique("env-single");
    let env_multi = unique("env-multi");
    let created = batch
        .create(
            &single,
            &pipe,
            s3_input(&batch.uri("in"), "text/plain", "Line"),
            lines_output(&batch.uri(&format!("out/{single}"))),
            json!({"BatchStrategy": "SingleRecord", "Tags": [{"Key": "team", "Value": "ml"}]}),
        )
        .json();
    assert_eq!(created["TransformJobArn"], format!("arn:aws:sagemaker:us-east-1:000000000000:transform-job/{single}"));
    batch
        .create(
            &multi,
            &pipe,
            s3_input(&batch.uri("in/"), "text/plain", "Line"),
            lines_output(&batch.uri(&format!("out/{multi}/"))),
            json!({"BatchStrategy": "MultiRecord"}),
        )
        .json();
    // The batch environment: what the job set, and nothing it left unset.
    batch
        .create(
            &env_single,
            &env,
            s3_input(&batch.uri("env/"), "text/plain", "Line"),
            lines_output(&batch.uri(&format!("out/{env_single}"))),
            json!({"BatchStrategy": "SingleRecord", "MaxPayloadInMB": 1, "Environment": {"FROM_JOB": "yes"}}),
        )
        .json();
    batch
        .create(
            &env_multi,
            &env,
            s3_input(&batch.uri("env/"), "text/plain", "Line"),
            lines_output(&batch.uri(&format!("out/{env_multi}"))),
            json!({}),
        )
        .json();

    let asked = unique("asked");
    batch
        .create(
            &asked,
            &params,
            s3_input(&batch.uri("env/"), "text/plain", "Line"),
            lines_output(&batch.uri(&format!("out/{asked}"))),
            json!({"MaxPayloadInMB": 2}),
        )
        .json();

    let ended = batch.wait_ended(&[&single, &multi, &env_single, &env_multi, &asked]);
    for described in &ended {
        assert_eq!(described["TransformJobStatus"], "Completed", "{described}");
    }
    let expected = owned(&[
        ("one.txt.out", "1|a|b\n2|a|b\n3|a|b\n"),
        ("sub/three.txt.out", "z|a|b\n"),
        ("two.txt.out", "x|a|b\ny|a|b\n"),
    ]);
    assert_eq!(batch.outputs(&format!("out/{single}")), expected);
    assert_eq!(batch.outputs(&format!("out/{multi}")), expected);

    // SingleRecord: one request per line; without a strategy, MultiRecord packs both lines in one.
    let answers = |job: &str| -> Vec<Value> {
        let out = batch.outputs(&format!("out/{job}"));
        out["in.txt.out"].lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let one_each = answers(&env_single);
    assert_eq!(one_each.iter().map(|a| a["body"].as_str().unwrap()).collect::<Vec<_>>(), ["p\n", "q\n"]);
    let vars = &one_each[0]["env"];
    assert_eq!(vars["SAGEMAKER_BATCH"], "true");
    assert_eq!(vars["SAGEMAKER_BATCH_STRATEGY"], "SINGLE_RECORD");
    assert_eq!(vars["SAGEMAKER_MAX_PAYLOAD_IN_MB"], "1");
    assert_eq!(vars.get("SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"), None, "{vars}");
    assert_eq!(one_each[0]["headers"]["content-type"], "text/plain");
    let together = answers(&env_multi);
    assert_eq!(together.len(), 1);
    assert_eq!(together[0]["body"], "p\nq\n");
    assert_eq!(together[0]["env"]["SAGEMAKER_BATCH"], "true");
    assert_eq!(together[0]["env"].get("SAGEMAKER_BATCH_STRATEGY"), None);
    assert_eq!(together[0]["env"].get("SMEMU_TEST_ROLE").and_then(Value::as_str), Some("echo-env"));
    // GET /execution-parameters decided the strategy and the concurrency; the job's payload stood.
    let asked_answers = answers(&asked);
    assert_eq!(asked_answers.iter().map(|a| a["body"].as_str().unwrap()).collect::<Vec<_>>(), ["p\n", "q\n"]);
    assert_eq!(asked_answers[0]["env"]["SAGEMAKER_MAX_PAYLOAD_IN_MB"], "2");
    assert_eq!(asked_answers[0]["env"].get("SAGEMAKER_BATCH_STRATEGY"), None);
    let log = std::fs::read_to_string(
        batch.smemu.data_dir.join(format!("logs/transform-jobs/000000000000/us-east-1/{asked}.log")),
    )
    .unwrap();
    assert!(
        log.contains("[sagemaker logs]: MaxConcurrentTransforms=2, MaxPayloadInMB=2, BatchStrategy=SINGLE_RECORD"),
        "{log}"
    );

    // Describe echoes the request with the job's times.
    let described = &ended[0];
    assert_eq!(described["TransformJobName"], single.as_str());
    assert_eq!(described["ModelName"], pipe.as_str());
    assert_eq!(described["BatchStrategy"], "SingleRecord");
    assert_eq!(described["TransformInput"]["SplitType"], "Line");
    assert_eq!(described["TransformResources"]["InstanceCount"], 1);
    let created_at = described["CreationTime"].as_f64().unwrap();
    let started = described["TransformStartTime"].as_f64().unwrap();
    let end = described["TransformEndTime"].as_f64().unwrap();
    assert!(created_at <= started && started <= end, "{described}");
    assert!(described.get("FailureReason").is_none());
    assert!(batch.job_containers().is_empty(), "containers left after the jobs ended");

    // List: filters, sort, page.
    let listed =
        aws.sagemaker(&["list-transform-jobs", "--name-contains", &single, "--status-equals", "Completed"]).json();
    let summaries = listed["TransformJobSummaries"].as_array().unwrap();
    assert_eq!(summaries.len(), 1, "{listed}");
    assert_eq!(summaries[0]["TransformJobName"], single.as_str());
    assert!(summaries[0]["LastModifiedTime"].as_f64().unwrap() >= end - 0.001);
    assert_eq!(summaries[0]["TransformEndTime"], described["TransformEndTime"]);
    let page = aws
        .sagemaker(&[
            "list-transform-jobs",
            "--sort-by",
            "Name",
            "--sort-order",
            "Ascending",
            "--max-results",
            "2",
            "--no-paginate",
        ])
        .json();
    let names: Vec<&str> = page["TransformJobSummaries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["TransformJobName"].as_str().unwrap())
        .collect();
    let mut all = [asked.as_str(), env_multi.as_str(), env_single.as_str(), multi.as_str(), single.as_str()];
    all.sort_unstable();
    assert_eq!(names, all[..2]);
    assert!(page["NextToken"].is_string(), "{page}");
    let none = aws.sagemaker(&["list-transform-jobs", "--name-contains", &single, "--status-equals", "Failed"]).json();
    assert_eq!(none["TransformJobSummaries"], json!([]));
    aws.sagemaker(&["list-transform-jobs", "--status-equals", "Done"]).assert_error(
        "ValidationException",
        "1 validation error detected: Value 'Done' at 'statusEquals' failed to satisfy constraint: Member must satisfy enum value set: [InProgress, Completed, Failed, Stopping, Stopped]",
    );

    // Tags on the job's ARN.
    let job_arn = created["TransformJobArn"].as_str().unwrap();
    aws.sagemaker(&["add-tags", "--resource-arn", job_arn, "--tags", "Key=env,Value=dev"]).json();
    let tags = aws.sagemaker(&["list-tags", "--resource-arn", job_arn]).json();
    assert_eq!(tags["Tags"], json!([{"Key": "team", "Value": "ml"}, {"Key": "env", "Value": "dev"}]));

    // Names are never reused; a finished job cannot be stopped.
    batch
        .create(&single.to_uppercase(), &pipe, s3_input(&batch.uri("in"), "text/plain", "Line"), lines_output(&batch.uri("x")), json!({}))
        .assert_error(
            "ResourceInUse",
            &format!("Transform job names must be unique within an AWS account and region, and a transform job with this name already exists ({job_arn})"),
        );
    aws.sagemaker(&["stop-transform-job", "--transform-job-name", &single]).assert_error(
        "ValidationException",
        "The request was rejected because the transform job is in status Completed.",
    );
}

#[test]
fn two_instances_with_four_requests_in_flight_give_the_single_instance_outputs_in_order() {
    let batch = Batch::start();
    let model = unique("spread");
    // A little latency per request, so that concurrency matters and the instances are seen running.
    let slow = json!({"Image": TEST_IMAGE, "Environment": {"SMEMU_TEST_ROLE": "slow", "SMEMU_TEST_DELAY_MS": "40"}});
    batch.model(&model, json!([slow, tagger("t", None)]));
    let files: Vec<(String, Vec<u8>)> = (0..4)
        .map(|f| {
            let body: String = (0..12).map(|l| format!("f{f}-line{l:02}\n")).collect();
            (format!("in/part-{f}.csv"), body.into_bytes())
        })
        .collect();
    batch.put(&files.iter().map(|(k, v)| (k.as_str(), v.clone())).collect::<Vec<_>>());

    let one = unique("one");
    let two = unique("two");
    batch
        .create(
            &one,
            &model,
            s3_input(&batch.uri("in/"), "text/csv", "Line"),
            lines_output(&batch.uri(&format!("out/{one}"))),
            json!({"BatchStrategy": "SingleRecord"}),
        )
        .json();
    batch
        .create(
            &two,
            &model,
            s3_input(&batch.uri("in/"), "text/csv", "Line"),
            lines_output(&batch.uri(&format!("out/{two}"))),
            json!({
                "BatchStrategy": "SingleRecord",
                "MaxConcurrentTransforms": 4,
                "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 2}
            }),
        )
        .json();
    // The second job runs on 2 instances of 2 containers each. (Not all 6 containers of both
    // jobs at once: on a loaded machine the first job can end before the second has started.)
    let second = format!("smemu.resource=000000000000/us-east-1/{two}");
    eventually(60, "the second job's two instances running", || {
        (batch.smemu.containers(&["smemu.kind=transform-job", &second]).len() == 4).then_some(())
    });
    for described in batch.wait_ended(&[&one, &two]) {
        assert_eq!(described["TransformJobStatus"], "Completed", "{described}");
    }
    let single = batch.outputs(&format!("out/{one}"));
    let spread = batch.outputs(&format!("out/{two}"));
    assert_eq!(single.len(), 4);
    assert_eq!(spread, single);
    let expected: String = (0..12).map(|l| format!("f2-line{l:02}|t\n")).collect();
    assert_eq!(single["part-2.csv.out"], expected);
    assert!(batch.job_containers().is_empty());
}

/// MXNet RecordIO framing: magic, length (flag 0), payload padded to 4 bytes.
fn recordio(records: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for record in records {
        out.extend(0xced7_230a_u32.to_le_bytes());
        out.extend(u32::try_from(record.len()).unwrap().to_le_bytes());
        out.extend(record.as_bytes());
        out.resize(out.len().next_multiple_of(4), 0);
    }
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut child = std::process::Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    child.wait_with_output().unwrap().stdout
}

#[test]
fn gzip_recordio_csv_joins_and_manifests() {
    let batch = Batch::start();
    let tag = unique("tag");
    batch.model(&tag, json!([tagger("t", None)]));
    let predict = unique("predict");
    batch.model(&predict, json!([{"Image": TEST_IMAGE, "Environment": {"SMEMU_TEST_ROLE": "predict"}}]));
    batch.put(&[
        ("gz/data.txt.gz", gzip(b"one\ntwo\n")),
        ("rec/data.rec", recordio(&["alpha", "beta"])),
        ("csv/rows.csv", text("id1,1,2\nid2,3,4\n")),
        ("data/a.txt", text("a\n")),
        ("data/sub/b.txt", text("b\n")),
        ("data/not-listed.txt", text("n\n")),
    ]);
    let manifest = json!([{"prefix": batch.uri("data/")}, "a.txt", "sub/b.txt"]).to_string();
    batch.put(&[("manifests/pick.manifest", manifest.into_bytes())]);

    let gz = unique("gz");
    let mut input = s3_input(&batch.uri("gz/"), "text/plain", "Line");
    input["CompressionType"] = json!("Gzip");
    batch.create(&gz, &tag, input, lines_output(&batch.uri(&format!("out/{gz}"))), json!({})).json();

    // SingleRecord strips the framing: the model sees the payloads.
    let rec = unique("rec");
    batch
        .create(
            &rec,
            &tag,
            s3_input(&batch.uri("rec/"), "application/x-recordio", "RecordIO"),
            lines_output(&batch.uri(&format!("out/{rec}"))),
            json!({"BatchStrategy": "SingleRecord"}),
        )
        .json();

    // The model sees the columns after the id, the output keeps the id and the prediction.
    let csv = unique("csv");
    batch
        .create(
            &csv,
            &predict,
            s3_input(&batch.uri("csv/"), "text/csv", "Line"),
            json!({"S3OutputPath": batch.uri(&format!("out/{csv}")), "AssembleWith": "Line", "Accept": "text/csv"}),
            json!({"DataProcessing": {"InputFilter": "$[1:]", "JoinSource": "Input", "OutputFilter": "$[0,-1]"}}),
        )
        .json();

    let listed = unique("manifest");
    let input = json!({
        "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": batch.uri("manifests/pick.manifest")}},
        "ContentType": "text/plain",
        "SplitType": "Line",
    });
    batch.create(&listed, &tag, input, lines_output(&batch.uri(&format!("out/{listed}"))), json!({})).json();

    // An object read in pieces while its first batches are transformed, written as a multipart
    // upload (above 8 MiB): 150,000 lines, 1 MB batches, 3 in flight.
    let big_lines: Vec<String> = (0..150_000).map(|i| format!("{i:08},{}", "v".repeat(60))).collect();
    batch.put(&[("big/rows.csv", big_lines.iter().map(|l| format!("{l}\n")).collect::<String>().into_bytes())]);
    let big = unique("big");
    batch
        .create(
            &big,
            &tag,
            s3_input(&batch.uri("big/"), "text/csv", "Line"),
            lines_output(&batch.uri(&format!("out/{big}"))),
            json!({"MaxPayloadInMB": 1, "MaxConcurrentTransforms": 3}),
        )
        .json();

    // smemu's local extension: file:// for input and output, as the Python SDK's local mode.
    let local_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(local_dir.path().join("in/nested")).unwrap();
    std::fs::write(local_dir.path().join("in/nested/rows.txt"), "l1\nl2\n").unwrap();
    let local = unique("local");
    let file_uri = |rel: &str| format!("file://{}/{rel}", local_dir.path().display());
    batch
        .create(
            &local,
            &tag,
            s3_input(&file_uri("in/"), "text/plain", "Line"),
            lines_output(&file_uri("out/")),
            json!({}),
        )
        .json();

    for described in batch.wait_ended(&[&gz, &rec, &csv, &listed, &local, &big]) {
        assert_eq!(described["TransformJobStatus"], "Completed", "{described}");
    }
    assert_eq!(batch.outputs(&format!("out/{gz}")), owned(&[("data.txt.gz.out", "one|t\ntwo|t\n")]));
    assert_eq!(batch.outputs(&format!("out/{rec}")), owned(&[("data.rec.out", "alpha|t\nbeta|t\n")]));
    assert_eq!(batch.outputs(&format!("out/{csv}")), owned(&[("rows.csv.out", "id1,3\nid2,7\n")]));
    assert_eq!(batch.outputs(&format!("out/{listed}")), owned(&[("a.txt.out", "a|t\n"), ("sub/b.txt.out", "b|t\n")]));
    assert_eq!(std::fs::read_to_string(local_dir.path().join("out/nested/rows.txt.out")).unwrap(), "l1|t\nl2|t\n");
    let big_out = batch.outputs(&format!("out/{big}"));
    let big_text = &big_out["rows.csv.out"];
    assert_eq!(big_text.lines().count(), big_lines.len());
    // Every line once, in input order, tagged ("|t" per line of each 1 MB batch).
    assert!(big_text.lines().zip(&big_lines).all(|(out, line)| out == format!("{line}|t")), "output out of order");
}

#[test]
fn failures_stops_and_the_errors_clients_see() {
    let batch = Batch::start();
    let aws = &batch.aws;
    let failing = unique("failing");
    batch.model(
        &failing,
        json!([{"Image": TEST_IMAGE, "Environment": {"SMEMU_TEST_ROLE": "fail", "SMEMU_TEST_FAIL_MESSAGE": "cannot score"}}]),
    );
    let slow = unique("slow");
    batch.model(
        &slow,
        json!([{"Image": TEST_IMAGE, "Environment": {"SMEMU_TEST_ROLE": "slow", "SMEMU_TEST_DELAY_MS": "20000"}}]),
    );
    let crash = unique("crash");
    batch.model(&crash, json!([{"Image": TEST_IMAGE, "Environment": {"SMEMU_TEST_ROLE": "crash"}}]));
    batch.put(&[("in/rows.txt", text("r1\nr2\n"))]);
    let input = || s3_input(&batch.uri("in/"), "text/plain", "Line");

    let failed = unique("failed");
    batch
        .create(
            &failed,
            &failing,
            input(),
            lines_output(&batch.uri(&format!("out/{failed}"))),
            json!({"ModelClientConfig": {"InvocationsMaxRetries": 1, "InvocationsTimeoutInSeconds": 30}}),
        )
        .json();
    let stopped = unique("stopped");
    batch.create(&stopped, &slow, input(), lines_output(&batch.uri(&format!("out/{stopped}"))), json!({})).json();
    let crashed = unique("crashed");
    batch.create(&crashed, &crash, input(), lines_output(&batch.uri(&format!("out/{crashed}"))), json!({})).json();

    assert_eq!(batch.describe(&stopped)["TransformJobStatus"], "InProgress");
    // Stop the slow job once its containers run and a request is in flight.
    eventually(60, "the slow job to start", || batch.describe(&stopped).get("TransformStartTime").map(|_| ()));
    let asked_to_stop = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!(aws.sagemaker(&["stop-transform-job", "--transform-job-name", &stopped]).success);
    let after_stop = batch.describe(&stopped)["TransformJobStatus"].clone();
    assert!(after_stop == "Stopping" || after_stop == "Stopped", "{after_stop}");

    let ended = batch.wait_ended(&[&failed, &stopped, &crashed]);
    let reason = ended[0]["FailureReason"].as_str().unwrap();
    assert_eq!(ended[0]["TransformJobStatus"], "Failed");
    assert!(reason.starts_with("AlgorithmError: See job logs for more information."), "{reason}");
    assert!(reason.contains(&batch.uri("in/rows.txt")), "{reason}");
    assert!(reason.contains("after 2 attempt(s)"), "{reason}");
    assert!(reason.contains("received server error (500) from primary with message \"cannot score\""), "{reason}");
    assert!(reason.contains("Last log lines of primary:") && reason.contains("POST /invocations"), "{reason}");
    assert!(ended[0]["TransformEndTime"].is_number());
    // The job's log: smemu's lines and the container's, kept after its containers are gone.
    let log = std::fs::read_to_string(
        batch.smemu.data_dir.join(format!("logs/transform-jobs/000000000000/us-east-1/{failed}.log")),
    )
    .unwrap();
    assert!(log.contains("[sagemaker logs]: ") && log.contains("cannot score"), "{log}");
    assert!(log.lines().any(|l| l.contains("/container-1: ") && l.contains("POST /invocations")), "{log}");

    assert_eq!(ended[1]["TransformJobStatus"], "Stopped", "{}", ended[1]);
    // Within seconds, although the request in flight would take 20 s.
    let stopped_after = ended[1]["TransformEndTime"].as_f64().unwrap() - asked_to_stop;
    assert!(stopped_after < 5.0, "stopped {stopped_after} s after StopTransformJob");
    assert!(ended[1].get("FailureReason").is_none());
    let crash_reason = ended[2]["FailureReason"].as_str().unwrap();
    assert!(
        crash_reason.starts_with(
            "AlgorithmError: The model's containers did not start. Container container-1 exited with code 3"
        ),
        "{crash_reason}"
    );
    assert!(crash_reason.contains("crashing on purpose"), "{crash_reason}");
    // Nothing written for failed or stopped jobs; no container left.
    assert!(batch.outputs("out").is_empty(), "{:?}", batch.outputs("out"));
    assert!(batch.job_containers().is_empty());
    aws.sagemaker(&["stop-transform-job", "--transform-job-name", &stopped]).assert_error(
        "ValidationException",
        "The request was rejected because the transform job is in status Stopped.",
    );

    // What CreateTransformJob refuses up front, and jobs that do not exist.
    let output = lines_output(&batch.uri("out/never"));
    let model_arn = "arn:aws:sagemaker:us-east-1:000000000000:model/no-such-model";
    batch
        .create(&unique("e"), "no-such-model", input(), output.clone(), json!({}))
        .assert_error("ValidationException", &format!("Could not find model \"{model_arn}\"."));
    let empty = batch.uri("nothing/here/");
    batch.create(&unique("e"), &failing, s3_input(&empty, "text/plain", "Line"), output.clone(), json!({})).assert_error(
        "ValidationException",
        &format!("No S3 objects found under S3 URL \"{empty}\" given in input data source. Please ensure that the bucket exists in the selected region, that objects exist under that S3 prefix, and that the role provided has \"ListBucket\" permissions on the bucket in question."),
    );
    batch
        .create(
            &unique("e"),
            &failing,
            input(),
            output.clone(),
            json!({"MaxConcurrentTransforms": 11, "MaxPayloadInMB": 10}),
        )
        .assert_error(
            "ValidationException",
            "MaxConcurrentTransforms (11) multiplied by MaxPayloadInMB (10) must not exceed 100.",
        );
    batch
        .create(
            &unique("e"),
            &failing,
            s3_input(&batch.uri("in/"), "text/csv", "None"),
            output.clone(),
            json!({"DataProcessing": {"InputFilter": "$[1:]"}}),
        )
        .assert_error(
            "ValidationException",
            "DataProcessing with text/csv requires SplitType Line and AssembleWith Line",
        );
    // What the generated validation refuses (the CLI itself checks only minimums).
    batch.create("bad_name!", &failing, input(), output.clone(), json!({})).assert_error(
        "ValidationException",
        "1 validation error detected: Value 'bad_name!' at 'transformJobName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}",
    );
    batch
        .create(&unique("e"), &failing, input(), output.clone(), json!({"MaxPayloadInMB": 101}))
        .assert_error(
            "ValidationException",
            "1 validation error detected: Value '101' at 'maxPayloadInMB' failed to satisfy constraint: Member must have value less than or equal to 100",
        );
    let mut augmented = input();
    augmented["DataSource"]["S3DataSource"]["S3DataType"] = json!("AugmentedManifestFile");
    batch.create(&unique("e"), &failing, augmented, output.clone(), json!({})).assert_error(
        "ValidationException",
        "S3DataType AugmentedManifestFile is not supported for transform input: use S3Prefix or ManifestFile.",
    );
    let direct = unique("direct");
    aws.sagemaker(&[
        "create-model",
        "--model-name",
        &direct,
        "--containers",
        &json!([tagger("a", Some("first")), tagger("b", Some("second"))]).to_string(),
        "--inference-execution-config",
        "Mode=Direct",
    ])
    .json();
    batch.create(&unique("e"), &direct, input(), output.clone(), json!({})).assert_error(
        "ValidationException",
        &format!("Model \"arn:aws:sagemaker:us-east-1:000000000000:model/{direct}\" uses InferenceExecutionConfig.Mode Direct, which batch transform does not support."),
    );
    let ghost = unique("ghost");
    let ghost_arn = format!("arn:aws:sagemaker:us-east-1:000000000000:transform-job/{ghost}");
    aws.sagemaker(&["describe-transform-job", "--transform-job-name", &ghost])
        .assert_error("ValidationException", &format!("Could not find transform job \"{ghost_arn}\"."));
    aws.sagemaker(&["stop-transform-job", "--transform-job-name", &ghost])
        .assert_error("ValidationException", &format!("Could not find transform job \"{ghost_arn}\"."));
    let waited = aws.sagemaker(&["wait", "transform-job-completed-or-stopped", "--transform-job-name", &ghost]);
    assert!(!waited.success);
}

#[test]
fn a_restart_fails_the_jobs_that_were_running_and_removes_their_containers() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let batch = Batch::on(Smemu::start_in(&data_dir));
    let slow = unique("slow");
    batch.model(
        &slow,
        json!([{"Image": TEST_IMAGE, "Environment": {"SMEMU_TEST_ROLE": "slow", "SMEMU_TEST_DELAY_MS": "30000"}}]),
    );
    batch.put(&[("in/rows.txt", text("r1\n"))]);
    let name = unique("interrupted");
    batch
        .create(
            &name,
            &slow,
            s3_input(&batch.uri("in/"), "text/plain", "Line"),
            lines_output(&batch.uri("out")),
            json!({}),
        )
        .json();
    eventually(60, "the job to start", || batch.describe(&name).get("TransformStartTime").map(|_| ()));
    assert_eq!(batch.job_containers().len(), 1);

    // The first smemu is kept (stopped) until the end: dropping it would clean up for the second.
    let Batch { smemu: mut first, bucket, .. } = batch;
    first.stop();
    let restarted = Smemu::start_in(&data_dir);
    let batch = Batch { aws: restarted.aws(), s3: AwsCli::new(&restarted.s3_url), smemu: restarted, bucket };
    let described = batch.describe(&name);
    assert_eq!(described["TransformJobStatus"], "Failed", "{described}");
    let reason = described["FailureReason"].as_str().unwrap();
    assert!(reason.starts_with("smemu restarted while the job was running"), "{reason}");
    assert!(described["TransformEndTime"].is_number());
    assert!(batch.job_containers().is_empty(), "the interrupted job's container is still there");
    assert!(batch.outputs("out").is_empty());
}

#[test]
fn json_lines_joins_and_whole_objects_assembled_as_returned() {
    let batch = Batch::start();
    let echo = unique("echo");
    batch.model(&echo, json!([{"Image": TEST_IMAGE, "Environment": {"SMEMU_TEST_ROLE": "echo"}}]));
    let tag = unique("tag");
    batch.model(&tag, json!([tagger("t", None)]));
    batch.put(&[
        ("json/rows.jsonl", text("{\"id\":\"a\",\"features\":[1,2]}\n{\"id\":\"b\",\"features\":[3,4]}\n")),
        ("whole/doc.txt", text("x\ny")),
    ]);

    // SageMaker's JSON example: the model sees the features, the output keeps the id beside it.
    let jsonl = unique("jsonl");
    batch
        .create(
            &jsonl,
            &echo,
            s3_input(&batch.uri("json/"), "application/jsonlines", "Line"),
            json!({"S3OutputPath": batch.uri(&format!("out/{jsonl}")), "AssembleWith": "Line", "Accept": "application/jsonlines"}),
            json!({"DataProcessing": {"InputFilter": "$.features", "JoinSource": "Input", "OutputFilter": "$['id','SageMakerOutput']"}}),
        )
        .json();
    // SplitType None: the whole object is one request; AssembleWith None writes the answer as is.
    let whole = unique("whole");
    batch
        .create(
            &whole,
            &tag,
            s3_input(&batch.uri("whole/"), "text/plain", "None"),
            json!({"S3OutputPath": batch.uri(&format!("out/{whole}")), "AssembleWith": "None"}),
            json!({}),
        )
        .json();
    for job in batch.wait_ended(&[&jsonl, &whole]) {
        assert_eq!(job["TransformJobStatus"], "Completed", "{job}");
    }
    assert_eq!(
        batch.outputs(&format!("out/{jsonl}")),
        owned(&[(
            "rows.jsonl.out",
            "{\"id\":\"a\",\"SageMakerOutput\":[1,2]}\n{\"id\":\"b\",\"SageMakerOutput\":[3,4]}\n"
        )])
    );
    assert_eq!(batch.outputs(&format!("out/{whole}")), owned(&[("doc.txt.out", "x|t\ny|t")]));
}

/// `DataCaptureConfig` on a transform job (developer guide, "Capture data from batch transform
/// job"): manifests of the inputs and outputs under `<DestinationS3Uri>/input` and `/output` and the
/// hour the job started, and with `GenerateInferenceId` an id and the start time on every CSV and
/// JSON output record.
#[test]
fn a_jobs_data_capture_lists_inputs_and_outputs_and_stamps_inference_ids() {
    let batch = Batch::start();
    let tag = unique("captag");
    batch.model(&tag, json!([tagger("t", None)]));
    let echo = unique("capecho");
    batch.model(&echo, json!([{"Image": TEST_IMAGE, "Environment": {"SMEMU_TEST_ROLE": "echo"}}]));
    batch.put(&[
        ("cap/csv/a.csv", text("1,2\n3,4\n")),
        ("cap/csv/sub/b.csv", text("5,6\n")),
        ("cap/json/rows.jsonl", text("{\"x\":1}\n7\n")),
    ]);
    let (csv, jsonl) = (unique("capcsv"), unique("capjson"));
    let capture = |job: &str, generate: bool| {
        json!({"DataCaptureConfig": {"DestinationS3Uri": batch.uri(&format!("captured/{job}")),
                                     "KmsKeyId": "alias/capture", "GenerateInferenceId": generate}})
    };
    batch
        .create(
            &csv,
            &tag,
            s3_input(&batch.uri("cap/csv/"), "text/csv", "Line"),
            json!({"S3OutputPath": batch.uri(&format!("out/{csv}")), "AssembleWith": "Line", "Accept": "text/csv"}),
            capture(&csv, true),
        )
        .json();
    batch
        .create(
            &jsonl,
            &echo,
            s3_input(&batch.uri("cap/json/"), "application/jsonlines", "Line"),
            json!({"S3OutputPath": batch.uri(&format!("out/{jsonl}")), "AssembleWith": "Line"}),
            capture(&jsonl, true),
        )
        .json();
    for job in batch.wait_ended(&[&csv, &jsonl]) {
        assert_eq!(job["TransformJobStatus"], "Completed", "{job}");
    }

    // Manifests, not copies, under input/ and output/ and the hour the job started.
    let files = batch.outputs(&format!("captured/{csv}"));
    let keys: Vec<&String> = files.keys().collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    let mut hours = std::collections::HashSet::new();
    for (key, side) in keys.iter().zip(["input", "output"]) {
        let parts: Vec<&str> = key.split('/').collect();
        assert_eq!(parts.len(), 6, "{key}");
        assert_eq!(parts[0], side, "{key}");
        for (part, len) in parts[1..5].iter().zip([4, 2, 2, 2]) {
            assert!(part.len() == len && part.chars().all(|c| c.is_ascii_digit()), "{key}");
        }
        assert_eq!(parts[5], format!("{csv}.jsonl"));
        hours.insert(parts[1..5].join("/"));
    }
    let manifest = |side: &str| -> Vec<Value> {
        let (_, text) = files.iter().find(|(k, _)| k.starts_with(side)).unwrap();
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{side} manifest {text:?}: {e}"))
    };
    assert_eq!(manifest("input/"), vec![json!({"prefix": batch.uri("cap/csv/")}), json!("a.csv"), json!("sub/b.csv")]);
    assert_eq!(
        manifest("output/"),
        vec![json!({"prefix": batch.uri(&format!("out/{csv}/"))}), json!("a.csv.out"), json!("sub/b.csv.out")]
    );

    // Every CSV record: the model's columns, then a UUID and the job's start time.
    let outputs = batch.outputs(&format!("out/{csv}"));
    let mut ids = std::collections::HashSet::new();
    let mut times = std::collections::HashSet::new();
    let mut models = Vec::new();
    for text in outputs.values() {
        for line in text.lines() {
            let columns: Vec<&str> = line.split(',').collect();
            assert_eq!(columns.len(), 4, "{line}");
            models.push(columns[..2].join(","));
            assert!(uuid::Uuid::parse_str(columns[2]).is_ok(), "{line}");
            assert!(ids.insert(columns[2].to_owned()), "one id per record: {line}");
            times.insert(columns[3].to_owned());
        }
    }
    assert_eq!(models, ["1,2|t", "3,4|t", "5,6|t"]);
    assert_eq!(times.len(), 1, "one start time: {times:?}");
    let time = times.into_iter().next().unwrap();
    assert!(time.len() == 20 && time.ends_with('Z') && &time[10..11] == "T", "{time}");
    // The manifests' folder is the hour of that start time.
    let hour = format!("{}/{}/{}/{}", &time[0..4], &time[5..7], &time[8..10], &time[11..13]);
    assert_eq!(hours, std::collections::HashSet::from([hour]));

    // JSON Lines: the reserved fields; a record that is not an object is wrapped.
    let outputs = batch.outputs(&format!("out/{jsonl}"));
    let lines: Vec<Value> =
        outputs["rows.jsonl.out"].lines().map(|l| serde_json::from_str(l).unwrap()).collect::<Vec<_>>();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["x"], 1);
    assert_eq!(lines[1]["SageMakerOutput"], 7);
    for line in &lines {
        assert!(uuid::Uuid::parse_str(line["SageMakerInferenceId"].as_str().unwrap()).is_ok(), "{line}");
        assert_eq!(line["SageMakerInferenceTime"].as_str().map(str::len), Some(20), "{line}");
    }
    assert_eq!(batch.describe(&jsonl)["DataCaptureConfig"]["GenerateInferenceId"], true);
}
