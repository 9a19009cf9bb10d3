//! Hostile transform inputs through the AWS CLI (issue 10, items 1 and 3): records nested 20,000
//! levels deep and a gzip object that expands far past `MaxPayloadInMB` fail their job with a
//! reason naming the object, and smemu stays up with bounded memory.

use std::io::Write;

use serde_json::{Value, json};

use crate::common::{AwsCli, Smemu, TEST_IMAGE, eventually, unique};

/// One smemu, the CLI for its API and its embedded S3, a bucket and an `echo` model of the test's own.
struct Jobs {
    smemu: Smemu,
    aws: AwsCli,
    s3: AwsCli,
    bucket: String,
    model: String,
}

impl Jobs {
    fn start() -> Jobs {
        let smemu = Smemu::start();
        let aws = smemu.aws();
        let s3 = AwsCli::new(&smemu.s3_url);
        let bucket = unique("hardening");
        assert!(s3.run("s3", &["mb", &format!("s3://{bucket}")]).success);
        let model = unique("echo");
        let containers = json!([{"Image": TEST_IMAGE, "Environment": {"SMEMU_TEST_ROLE": "echo"}}]);
        aws.sagemaker(&["create-model", "--model-name", &model, "--containers", &containers.to_string()]).json();
        Jobs { smemu, aws, s3, bucket, model }
    }

    fn uri(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn put(&self, key: &str, body: &[u8]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("object");
        std::fs::write(&path, body).unwrap();
        let out = self.s3.run("s3", &["cp", path.to_str().unwrap(), &self.uri(key)]);
        assert!(out.success, "{}", out.stderr);
    }

    /// CreateTransformJob reading `key` alone, with the request's other members in `extra`.
    fn create(&self, name: &str, key: &str, input: Value, extra: Value) {
        let mut transform_input = json!({
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": self.uri(key)}},
        });
        for (k, v) in input.as_object().cloned().unwrap_or_default() {
            transform_input[k] = v;
        }
        let mut request = json!({
            "TransformJobName": name,
            "ModelName": self.model,
            "TransformInput": transform_input,
            "TransformOutput": {"S3OutputPath": self.uri(&format!("out/{name}")), "AssembleWith": "Line"},
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        });
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            request[k] = v;
        }
        self.aws.sagemaker(&["create-transform-job", "--cli-input-json", &request.to_string()]).json();
    }

    /// DescribeTransformJob once the job ended.
    fn ended(&self, name: &str) -> Value {
        eventually(180, &format!("transform job {name} to end"), || {
            let d = self.aws.sagemaker(&["describe-transform-job", "--transform-job-name", name]).json();
            (!matches!(d["TransformJobStatus"].as_str(), Some("InProgress" | "Stopping"))).then_some(d)
        })
    }

    /// smemu still answers: a following call works.
    fn assert_up(&self) {
        let listed = self.aws.sagemaker(&["list-transform-jobs"]).json();
        assert!(listed["TransformJobSummaries"].is_array(), "{listed}");
    }

    /// The peak resident memory of the smemu process so far, in KiB (`VmHWM`).
    fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.smemu.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

/// 20,000 nested arrays: far deeper than the 128 levels a record may have.
fn deep_json() -> String {
    "[".repeat(20_000) + &"]".repeat(20_000)
}

fn reason(described: &Value) -> &str {
    described["FailureReason"].as_str().unwrap_or_default()
}

#[test]
fn records_nested_20000_levels_deep_fail_the_job_naming_object_and_line_and_smemu_stays_up() {
    let jobs = Jobs::start();
    let deep = deep_json();
    // InputFilter parses the input records: the second line is too deep.
    jobs.put("in-filter/deep.jsonl", format!("[1,2]\n{deep}\n[3,4]\n").as_bytes());
    // OutputFilter parses the model's output; `echo` answers the deep line with itself.
    jobs.put("out-filter/deep.jsonl", format!("[1]\n[2]\n{deep}\n").as_bytes());
    let jsonl = |split: &str| json!({"ContentType": "application/jsonlines", "SplitType": split});
    let input_filter = unique("deep-in");
    jobs.create(
        &input_filter,
        "in-filter/",
        jsonl("Line"),
        json!({"DataProcessing": {"InputFilter": "$[0]"}, "BatchStrategy": "MultiRecord"}),
    );
    let output_filter = unique("deep-out");
    jobs.create(
        &output_filter,
        "out-filter/",
        jsonl("Line"),
        json!({"DataProcessing": {"OutputFilter": "$[0]"}, "BatchStrategy": "SingleRecord"}),
    );

    let described = jobs.ended(&input_filter);
    assert_eq!(described["TransformJobStatus"], "Failed", "{described}");
    let why = reason(&described);
    assert!(why.starts_with("ClientError: "), "{why}");
    assert!(why.contains(&jobs.uri("in-filter/deep.jsonl")), "names the object: {why}");
    assert!(why.contains("line 2: input record 1"), "names the line: {why}");
    assert!(why.contains("nested more than 128 levels"), "{why}");
    eprintln!("InputFilter: {why}");

    let described = jobs.ended(&output_filter);
    assert_eq!(described["TransformJobStatus"], "Failed", "{described}");
    let why = reason(&described);
    assert!(why.contains(&jobs.uri("out-filter/deep.jsonl")), "names the object: {why}");
    assert!(why.contains("line 3: output record 0 of the model's response to input record 2"), "{why}");
    assert!(why.contains("nested more than 128 levels"), "{why}");
    eprintln!("OutputFilter: {why}");
    jobs.assert_up();
}

/// Gzip of `members` × 64 MiB of zeros (no newline anywhere), made of identical gzip members
/// (multi-member gzip decompresses to the concatenation): about 64 KiB per member.
fn gzip_bomb(members: usize) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        enc.write_all(&zeros).unwrap();
    }
    enc.finish().unwrap().repeat(members)
}

#[test]
fn a_gzip_input_that_expands_past_max_payload_fails_naming_the_limit_with_bounded_memory() {
    let jobs = Jobs::start();
    // 48 × 64 MiB = 3 GiB of zeros from about 3 MB of gzip.
    let bomb = gzip_bomb(48);
    eprintln!("gzip bomb: {} bytes compressed, {} bytes expanded", bomb.len(), 48u64 << 26);
    jobs.put("bomb/zeros.gz", &bomb);
    let before = jobs.peak_rss_kib();
    let mut names = Vec::new();
    for split in ["None", "Line"] {
        let name = unique(&format!("bomb-{}", split.to_lowercase()));
        jobs.create(
            &name,
            "bomb/",
            json!({"ContentType": "application/octet-stream", "SplitType": split, "CompressionType": "Gzip"}),
            json!({"MaxPayloadInMB": 6}),
        );
        names.push((split, name));
    }
    for (split, name) in &names {
        let described = jobs.ended(name);
        assert_eq!(described["TransformJobStatus"], "Failed", "{described}");
        let why = reason(&described);
        assert!(why.contains(&jobs.uri("bomb/zeros.gz")), "names the object: {why}");
        assert!(why.contains("larger than MaxPayloadInMB allows (6291456 bytes)"), "names the limit: {why}");
        eprintln!("SplitType={split}: {why}");
    }
    jobs.assert_up();
    eprintln!("smemu peak RSS (VmHWM): {} KiB before the jobs, {} KiB after both", before, jobs.peak_rss_kib());
}
