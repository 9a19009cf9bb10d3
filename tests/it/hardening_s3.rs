//! The embedded S3 hardened (issue 10, items 6 and 10): keys stay in their bucket, buckets
//! belong to the account that created them, and `--auth strict` verifies SigV4 — all through
//! the AWS CLI against `Smemu::s3_url`, raw HTTP only for a presigned URL and an unsigned request.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

use crate::common::{AwsCli, CliOutput, Smemu, TEST_IMAGE, model_tarball, unique};

const ACCOUNT_A: &str = "111111111111";
const ACCOUNT_B: &str = "222222222222";

/// The AWS CLI against one endpoint with one pair of keys (the shared `AwsCli` has one fixed secret).
struct Cli {
    url: String,
    access_key: String,
    secret: String,
}

impl Cli {
    fn new(url: &str, access_key: &str, secret: &str) -> Cli {
        Cli { url: url.to_owned(), access_key: access_key.to_owned(), secret: secret.to_owned() }
    }

    fn command(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", std::env::temp_dir())
            .env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret)
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_MAX_ATTEMPTS", "1")
            .env("AWS_PAGER", "");
        command
    }

    fn output(command: &mut Command) -> CliOutput {
        let out = command.output().expect("run aws");
        CliOutput {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn run(&self, args: &[&str]) -> CliOutput {
        let mut command = self.command(&AwsCli::binary());
        command.args(["--endpoint-url", &self.url, "--region", "us-east-1", "--output", "json"]).args(args);
        Cli::output(&mut command)
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.success, "aws {args:?} failed: {}", out.stderr);
        out.stdout
    }

    /// The same CLI with its clock `minutes` ahead (botocore's signing time, patched in-process).
    fn run_skewed(&self, minutes: u32, args: &[&str]) -> CliOutput {
        let python = AwsCli::binary().with_file_name("python3");
        // `botocore` is importable once awscli is (it vendors it); patch whichever signers exist.
        let script = format!(
            "import sys, datetime, importlib\n\
             import awscli.clidriver\n\
             for name in ('botocore.auth', 'botocore.crt.auth', 'awscli.botocore.auth', 'awscli.botocore.crt.auth'):\n\
             \x20   try:\n\
             \x20       module = importlib.import_module(name)\n\
             \x20   except ImportError:\n\
             \x20       continue\n\
             \x20   now = module.get_current_datetime\n\
             \x20   module.get_current_datetime = lambda *a, now=now, **k: now(*a, **k) + datetime.timedelta(minutes={minutes})\n\
             sys.exit(awscli.clidriver.main())\n"
        );
        let mut command = self.command(&python);
        command
            .args(["-c", &script, "--endpoint-url", &self.url, "--region", "us-east-1", "--output", "json"])
            .args(args);
        Cli::output(&mut command)
    }
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() { pending.push(path) } else { found.push(path) }
        }
    }
    found
}

/// One raw HTTP/1.1 GET of `url` (`http://host:port/path?query`): status line and body.
fn raw_get(url: &str) -> (String, String) {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = TcpStream::connect(host).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.lines().next().unwrap_or_default().to_owned();
    let body = answer.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    (status, body)
}

#[test]
fn a_key_that_climbs_out_of_its_bucket_is_refused_and_nothing_is_written_elsewhere() {
    let smemu = Smemu::start();
    let s3 = Cli::new(&smemu.s3_url, ACCOUNT_A, "any");
    let tmp = tempfile::tempdir().unwrap();
    let (attacker, victim) = (unique("attacker"), unique("victim"));
    s3.ok(&["s3api", "create-bucket", "--bucket", &attacker]);
    s3.ok(&["s3api", "create-bucket", "--bucket", &victim]);
    let original = tmp.path().join("original");
    std::fs::write(&original, "the real model").unwrap();
    s3.ok(&["s3api", "put-object", "--bucket", &victim, "--key", "model.tar.gz", "--body", original.to_str().unwrap()]);
    let evil = tmp.path().join("evil");
    std::fs::write(&evil, "planted").unwrap();
    let climbing = format!("../{victim}/model.tar.gz");
    let refused = "Object key is not supported by this S3";

    s3.run(&["s3api", "put-object", "--bucket", &attacker, "--key", &climbing, "--body", evil.to_str().unwrap()])
        .assert_error("InvalidArgument", refused);
    let out = tmp.path().join("out");
    s3.run(&["s3api", "get-object", "--bucket", &attacker, "--key", &climbing, out.to_str().unwrap()])
        .assert_error("InvalidArgument", refused);
    s3.run(&["s3api", "create-multipart-upload", "--bucket", &attacker, "--key", &climbing])
        .assert_error("InvalidArgument", refused);
    s3.run(&["s3api", "delete-object", "--bucket", &attacker, "--key", &climbing])
        .assert_error("InvalidArgument", refused);
    s3.run(&["s3api", "delete-objects", "--bucket", &attacker, "--delete", &format!("Objects=[{{Key={climbing}}}]")])
        .assert_error("InvalidArgument", refused);
    s3.run(&[
        "s3api",
        "copy-object",
        "--bucket",
        &attacker,
        "--key",
        "copied",
        "--copy-source",
        &format!("{attacker}/{climbing}"),
    ])
    .assert_error("InvalidArgument", refused);
    let absolute =
        s3.run(&["s3api", "put-object", "--bucket", &attacker, "--key", "/etc/evil", "--body", evil.to_str().unwrap()]);
    assert!(!absolute.success, "an absolute key was stored: {}", absolute.stdout);

    // Nothing was written: the victim's object is intact and no file holds the planted bytes.
    let root = smemu.data_dir.join("s3");
    assert_eq!(std::fs::read_to_string(root.join(&victim).join("model.tar.gz")).unwrap(), "the real model");
    for file in files_under(&root) {
        assert_ne!(std::fs::read(&file).unwrap(), b"planted", "{} holds the planted bytes", file.display());
    }
    assert!(!Path::new("/etc/evil").exists());
    // The refused requests left smemu serving.
    let listed = s3.ok(&["s3api", "list-objects-v2", "--bucket", &victim]);
    assert!(listed.contains("model.tar.gz"), "{listed}");
}

/// What another account sees of `bucket` (holding `k`, written by account A).
fn assert_only_a_may_use(s3_url: &str, bucket: &str, tmp: &Path) {
    let a = Cli::new(s3_url, ACCOUNT_A, "any");
    let b = Cli::new(s3_url, ACCOUNT_B, "any");
    let default = Cli::new(s3_url, "AKIDSMEMUTEST", "any");
    let body = tmp.join("body");
    std::fs::write(&body, "from b").unwrap();
    let out = tmp.join("out");
    for other in [&b, &default] {
        other
            .run(&["s3api", "get-object", "--bucket", bucket, "--key", "k", out.to_str().unwrap()])
            .assert_error("AccessDenied", "Access Denied");
        other
            .run(&["s3api", "put-object", "--bucket", bucket, "--key", "k", "--body", body.to_str().unwrap()])
            .assert_error("AccessDenied", "Access Denied");
        other.run(&["s3api", "list-objects-v2", "--bucket", bucket]).assert_error("AccessDenied", "Access Denied");
        other
            .run(&["s3api", "delete-object", "--bucket", bucket, "--key", "k"])
            .assert_error("AccessDenied", "Access Denied");
        other.run(&["s3api", "delete-bucket", "--bucket", bucket]).assert_error("AccessDenied", "Access Denied");
        other.run(&["s3api", "create-bucket", "--bucket", bucket]).assert_error("BucketAlreadyExists", "not available");
        let theirs = other.ok(&["s3api", "list-buckets"]);
        assert!(!theirs.contains(bucket), "another account lists {bucket}: {theirs}");
    }
    assert!(a.ok(&["s3api", "list-buckets"]).contains(bucket));
    a.ok(&["s3api", "get-object", "--bucket", bucket, "--key", "k", out.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "from a", "another account changed the object");
}

#[test]
fn a_bucket_belongs_to_the_account_that_created_it_across_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut smemu = Smemu::start_in(&data_dir);
    let bucket = unique("owned");
    let a = Cli::new(&smemu.s3_url, ACCOUNT_A, "any");
    a.ok(&["s3", "mb", &format!("s3://{bucket}")]);
    let body = tmp.path().join("a-body");
    std::fs::write(&body, "from a").unwrap();
    a.ok(&["s3api", "put-object", "--bucket", &bucket, "--key", "k", "--body", body.to_str().unwrap()]);
    assert_only_a_may_use(&smemu.s3_url, &bucket, tmp.path());

    // Ownership is on disk, beside the buckets, and a restart keeps it.
    let record = data_dir.join("s3").join(".smemu-owners").join(&bucket);
    assert_eq!(std::fs::read_to_string(&record).unwrap().trim(), ACCOUNT_A);
    smemu.stop();
    let smemu = Smemu::start_in(&data_dir);
    assert_only_a_may_use(&smemu.s3_url, &bucket, tmp.path());
    let b = Cli::new(&smemu.s3_url, ACCOUNT_B, "any");
    assert!(!b.ok(&["s3", "ls"]).contains(&bucket));

    // SageMaker reads S3 as the caller's account too: B's transform job cannot list A's bucket.
    let aws_b = smemu.aws().with_identity(ACCOUNT_B, "us-east-1");
    let model = unique("bmodel");
    aws_b.create_simple_model(&model);
    let uri = format!("s3://{bucket}/");
    let job = aws_b.sagemaker(&[
        "create-transform-job",
        "--transform-job-name",
        &unique("bjob"),
        "--model-name",
        &model,
        "--transform-input",
        &json!({"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}}}).to_string(),
        "--transform-output",
        &json!({"S3OutputPath": format!("s3://{bucket}/out/")}).to_string(),
        "--transform-resources",
        "InstanceType=ml.m5.large,InstanceCount=1",
    ]);
    job.assert_error("ValidationException", "access denied");
}

#[test]
fn an_endpoint_whose_model_is_in_another_accounts_bucket_fails_with_a_reason() {
    let smemu = Smemu::start();
    let tmp = tempfile::tempdir().unwrap();
    let bucket = unique("amodels");
    let a = Cli::new(&smemu.s3_url, ACCOUNT_A, "any");
    a.ok(&["s3", "mb", &format!("s3://{bucket}")]);
    let tarball = model_tarball(tmp.path(), "a's model");
    let uri = format!("s3://{bucket}/model.tar.gz");
    a.ok(&["s3", "cp", tarball.to_str().unwrap(), &uri]);

    let aws_b = smemu.aws().with_identity(ACCOUNT_B, "us-east-1");
    let name = unique("stolen");
    let failed = aws_b.deploy_failing(&name, &uri);
    let reason = failed["FailureReason"].as_str().unwrap();
    assert!(reason.contains(&uri) && reason.contains("access denied"), "{failed}");
}

#[test]
fn strict_mode_verifies_sigv4_on_the_embedded_s3_and_smemu_still_reads_its_models() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = tmp.path().join("access-keys");
    // Account A's key id is its account, so the API derives the same account in either mode;
    // its secret is the one the shared `AwsCli` signs the SageMaker calls with.
    std::fs::write(
        &keys,
        format!("# test keys\n{ACCOUNT_A} smemu-secret {ACCOUNT_A}\nAKIDSTRICTB secret-b {ACCOUNT_B}\n"),
    )
    .unwrap();
    let smemu = Smemu::start_with(
        &tmp.path().join("data"),
        &["--s3-listen", "127.0.0.1:0", "--auth", "strict", "--access-keys", keys.to_str().unwrap()],
    );
    let a = Cli::new(&smemu.s3_url, ACCOUNT_A, "smemu-secret");
    let bucket = unique("strict");
    let uri = format!("s3://{bucket}/model.tar.gz");

    // The right keys work: mb, cp, ls, and a presigned URL fetched with a plain GET.
    a.ok(&["s3", "mb", &format!("s3://{bucket}")]);
    let tarball = model_tarball(tmp.path(), "hello from strict s3");
    a.ok(&["s3", "cp", tarball.to_str().unwrap(), &uri]);
    let note = tmp.path().join("note.txt");
    std::fs::write(&note, "presigned body").unwrap();
    a.ok(&["s3", "cp", note.to_str().unwrap(), &format!("s3://{bucket}/note.txt")]);
    let listed = a.ok(&["s3", "ls", &format!("s3://{bucket}/")]);
    assert!(listed.contains("model.tar.gz") && listed.contains("note.txt"), "{listed}");
    let presigned = a.ok(&["s3", "presign", &format!("s3://{bucket}/note.txt"), "--expires-in", "300"]);
    let (status, body) = raw_get(presigned.trim());
    assert!(status.contains(" 200 "), "{status}: {body}");
    assert_eq!(body, "presigned body");

    // A tampered presigned URL, wrong keys, a skewed clock and no signature are refused.
    let (status, body) = raw_get(&presigned.trim().replace("note.txt", "model.tar.gz"));
    assert!(status.contains(" 403 ") && body.contains("<Code>SignatureDoesNotMatch</Code>"), "{status}: {body}");
    Cli::new(&smemu.s3_url, ACCOUNT_A, "wrong-secret").run(&["s3", "ls", &format!("s3://{bucket}/")]).assert_error(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    );
    Cli::new(&smemu.s3_url, "AKIDUNKNOWN", "whatever")
        .run(&["s3api", "list-buckets"])
        .assert_error("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.");
    a.run_skewed(20, &["s3api", "list-objects-v2", "--bucket", &bucket]).assert_error(
        "RequestTimeTooSkewed",
        "The difference between the request time and the current time is too large.",
    );
    let (status, body) = raw_get(&format!("{}/{bucket}/note.txt", smemu.s3_url));
    assert!(status.contains(" 403 ") && body.contains("<Code>AccessDenied</Code>"), "{status}: {body}");
    // A listed key of another account: verified, and still not the owner.
    Cli::new(&smemu.s3_url, "AKIDSTRICTB", "secret-b")
        .run(&["s3", "ls", &format!("s3://{bucket}/")])
        .assert_error("AccessDenied", "Access Denied");

    // smemu's own client signs as the endpoint's account with its internal key.
    let aws = smemu.aws().with_identity(ACCOUNT_A, "us-east-1");
    let name = unique("strictmodel");
    let container = json!({"Image": TEST_IMAGE, "ModelDataUrl": uri, "Environment": {"SMEMU_TEST_ROLE": "echo-env"}});
    aws.deploy(&name, &json!([container]), &[], 1);
    let (_, body) = aws.invoke(&name, "{}", &[]);
    assert!(body.contains("hello from strict s3"), "the container did not see its model: {body}");
}
