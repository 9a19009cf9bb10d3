//! Identities (issue 10, items 7 and 10): strict SigV4 with real clients, presigned and skewed
//! requests, malformed credential scopes and crafted ARNs, and the refusal to serve off loopback
//! with `--auth any`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_sagemaker::error::ProvideErrorMetadata;
use aws_sdk_sagemaker::types::ContainerDefinition;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
use aws_sigv4::sign::v4;
use serde_json::Value;

use crate::common::{AwsCli, CliOutput, InProcess, Smemu, repo, sdk_config, tagger, unique};

/// The key the AWS CLI of `common.rs` signs with, as account 123456789012; a second key with no
/// account (the `--auth any` rules apply to it: not 12 digits, so the default account).
const KEYS: &str = "# test keys\nAKIDSMEMUTEST smemu-secret 123456789012\nAKIDNOACCOUNT other-secret\n";
const ACCOUNT: &str = "123456789012";
const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

fn keys_file(dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("access-keys");
    std::fs::write(&path, KEYS).unwrap();
    path.to_str().unwrap().to_owned()
}

/// smemu (its own process) with `--auth strict`.
/// smemu in strict mode, and its temporary directory: bound `(_tmp, smemu)` so that smemu drops
/// first, while its data directory (which names its containers) still exists.
fn strict() -> (tempfile::TempDir, Smemu) {
    let tmp = tempfile::tempdir().unwrap();
    let keys = keys_file(tmp.path());
    let smemu = Smemu::start_with(
        &tmp.path().join("data"),
        &["--s3-listen", "127.0.0.1:0", "--auth", "strict", "--access-keys", &keys],
    );
    (tmp, smemu)
}

/// The AWS CLI with any key and secret (common.rs's always signs with the right secret).
fn cli(url: &str, key: &str, secret: &str, service: &str, args: &[&str]) -> CliOutput {
    let out = Command::new(AwsCli::binary())
        .args(["--endpoint-url", url, "--output", "json", "--region", "us-east-1", service])
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_PAGER", "")
        .output()
        .unwrap();
    CliOutput {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn the_aws_cli_works_in_strict_mode_with_the_right_keys_and_is_refused_with_wrong_ones() {
    let (_tmp, smemu) = strict();
    let aws = smemu.aws();
    let name = unique("strict");
    let arn = aws.create_simple_model(&name);
    assert_eq!(arn, format!("arn:aws:sagemaker:us-east-1:{ACCOUNT}:model/{name}"));
    assert_eq!(aws.sagemaker(&["describe-model", "--model-name", &name]).json()["ModelArn"], arn.as_str());

    let describe = ["describe-model", "--model-name", name.as_str()];
    cli(&smemu.url, "AKIDSMEMUTEST", "wrong-secret", "sagemaker", &describe)
        .assert_error("InvalidSignatureException", SIGNATURE_MISMATCH);
    cli(&smemu.url, "AKIDUNKNOWN", "smemu-secret", "sagemaker", &describe)
        .assert_error("UnrecognizedClientException", "The security token included in the request is invalid.");
    cli(&smemu.url, "AKIDSMEMUTEST", "smemu-secret", "sagemaker", &["--no-sign-request", "list-models"])
        .assert_error("MissingAuthenticationTokenException", "Missing Authentication Token");
    // A key without an account in the file acts as the default account, which sees nothing of 123456789012.
    cli(&smemu.url, "AKIDNOACCOUNT", "other-secret", "sagemaker", &describe)
        .assert_error("ValidationException", "Could not find model");

    // InvokeEndpoint: the fast path checks signatures too.
    let endpoint = unique("strict-ep");
    aws.deploy(&endpoint, &serde_json::json!([tagger("a", None)]), &[], 1);
    let (out, body) = aws.invoke(&endpoint, "x", &[]);
    assert!(out.success, "{}", out.stderr);
    assert_eq!(body, "x|a");
    let out_file = tempfile::NamedTempFile::new().unwrap();
    let invoke = ["invoke-endpoint", "--endpoint-name", &endpoint, "--body", "x", out_file.path().to_str().unwrap()];
    cli(&smemu.url, "AKIDSMEMUTEST", "wrong-secret", "sagemaker-runtime", &invoke)
        .assert_error("InvalidSignatureException", SIGNATURE_MISMATCH);
    cli(&smemu.url, "AKIDUNKNOWN", "smemu-secret", "sagemaker-runtime", &invoke)
        .assert_error("UnrecognizedClientException", "The security token included in the request is invalid.");
    aws.sagemaker(&["delete-endpoint", "--endpoint-name", &endpoint]).json();
}

#[tokio::test]
async fn the_rust_sdk_works_in_strict_mode_on_both_apis() {
    let tmp = tempfile::tempdir().unwrap();
    let keys = keys_file(tmp.path());
    let smemu = InProcess::start_with(|config| {
        config.auth = smemu::AuthMode::Strict;
        config.access_keys = Some(keys.into());
    })
    .await;
    let url = smemu.url.clone();

    let sdk = sdk_config(&url, "AKIDSMEMUTEST", "eu-west-1").await;
    let client = aws_sdk_sagemaker::Client::new(&sdk);
    let name = unique("SdkStrict");
    let created = client
        .create_model()
        .model_name(&name)
        .primary_container(ContainerDefinition::builder().image("img").build())
        .send()
        .await
        .expect("create in strict mode");
    let arn = format!("arn:aws:sagemaker:eu-west-1:{ACCOUNT}:model/{}", name.to_lowercase());
    assert_eq!(created.model_arn(), Some(arn.as_str()));

    // The runtime (served by the fast path): the signature passes, the endpoint does not exist.
    let runtime = aws_sdk_sagemakerruntime::Client::new(&sdk);
    let body = aws_sdk_sagemakerruntime::primitives::Blob::new("1,2");
    let err = runtime.invoke_endpoint().endpoint_name("missing").body(body.clone()).send().await.unwrap_err();
    assert_eq!(err.code(), Some("ValidationError"), "{err:?}");

    let unknown = sdk_config(&url, "AKIDUNKNOWN", "eu-west-1").await;
    let err = aws_sdk_sagemaker::Client::new(&unknown).list_models().send().await.unwrap_err();
    assert_eq!(err.code(), Some("UnrecognizedClientException"));
    let wrong = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&url)
        .region(aws_config::Region::new("eu-west-1"))
        .credentials_provider(Credentials::new("AKIDSMEMUTEST", "nope", None, None, "t"))
        .load()
        .await;
    let err = aws_sdk_sagemaker::Client::new(&wrong).list_models().send().await.unwrap_err();
    assert_eq!((err.code(), err.message()), (Some("InvalidSignatureException"), Some(SIGNATURE_MISMATCH)));
    let err = aws_sdk_sagemakerruntime::Client::new(&wrong)
        .invoke_endpoint()
        .endpoint_name("missing")
        .body(body)
        .send()
        .await;
    assert_eq!(err.unwrap_err().code(), Some("InvalidSignatureException"));

    smemu.shutdown().await;
}

/// One raw HTTP/1.1 exchange; `Connection: close` is added.
fn exchange(url: &str, request_line: &str, headers: &[(String, String)], body: &str) -> (u16, String, Value) {
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut head = format!("{request_line} HTTP/1.1\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let error_type = head
        .lines()
        .find_map(|line| line.split_once(": ").filter(|(name, _)| name.eq_ignore_ascii_case("x-amzn-errortype")))
        .map(|(_, value)| value.to_owned())
        .unwrap_or_default();
    (status, error_type, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// Signs a request with aws-sigv4 as an SDK would: returns the headers to send (with the
/// signature) and, when presigned, the target with the `X-Amz-*` query.
fn signed(
    url: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
    secret: &str,
    time: SystemTime,
    presign: bool,
) -> (String, Vec<(String, String)>) {
    let host = url.trim_start_matches("http://");
    let identity = Credentials::new("AKIDSMEMUTEST", secret, None, None, "test").into();
    let mut settings = SigningSettings::default();
    if presign {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(300));
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("sagemaker")
        .time(time)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let mut all: Vec<(&str, &str)> = vec![("host", host)];
    all.extend_from_slice(headers);
    let full = format!("{url}{target}");
    let signable =
        SignableRequest::new("POST", &full, all.iter().copied(), SignableBody::Bytes(body.as_bytes())).unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut request = http::Request::builder().uri(&full).body(()).unwrap();
    for (name, value) in &all {
        request.headers_mut().insert(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
    }
    instructions.apply_to_request_http1x(&mut request);
    let target = request.uri().path_and_query().unwrap().to_string();
    let headers = request.headers().iter().map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned())).collect();
    (target, headers)
}

const LIST_MODELS: [(&str, &str); 2] =
    [("content-type", "application/x-amz-json-1.1"), ("x-amz-target", "SageMaker.ListModels")];

#[test]
fn a_presigned_request_is_accepted_and_a_tampered_one_refused() {
    let (_tmp, smemu) = strict();
    let now = SystemTime::now();
    let (target, headers) = signed(&smemu.url, "/", &LIST_MODELS, "{}", "smemu-secret", now, true);
    assert!(target.contains("X-Amz-Signature="), "{target}");
    let (status, _, body) = exchange(&smemu.url, &format!("POST {target}"), &headers, "{}");
    assert_eq!((status, &body), (200, &serde_json::json!({"Models": []})));

    let (_, error_type, body) = exchange(&smemu.url, &format!("POST {target}"), &headers, r#"{"MaxResults":1}"#);
    assert_eq!(
        (error_type.as_str(), body["message"].as_str()),
        ("InvalidSignatureException", Some(SIGNATURE_MISMATCH))
    );
    let tampered = target.replace("X-Amz-Expires=300", "X-Amz-Expires=600");
    let (_, error_type, _) = exchange(&smemu.url, &format!("POST {tampered}"), &headers, "{}");
    assert_eq!(error_type, "InvalidSignatureException");

    // InvokeEndpoint presigned: past the signature check to the missing endpoint.
    let path = "/endpoints/missing/invocations";
    let (target, headers) = signed(&smemu.url, path, &[("content-type", "text/csv")], "1,2", "smemu-secret", now, true);
    let (status, error_type, _) = exchange(&smemu.url, &format!("POST {target}"), &headers, "1,2");
    assert_eq!((status, error_type.as_str()), (400, "ValidationError"));
    let (_, error_type, _) = exchange(&smemu.url, &format!("POST {target}"), &headers, "1,3");
    assert_eq!(error_type, "InvalidSignatureException");
}

#[test]
fn a_date_more_than_15_minutes_off_is_refused() {
    let (_tmp, smemu) = strict();
    for (skew, expected) in [(-20i64, "Signature expired: "), (20, "Signature not yet current: ")] {
        let time = if skew < 0 {
            SystemTime::now() - Duration::from_secs(20 * 60)
        } else {
            SystemTime::now() + Duration::from_secs(20 * 60)
        };
        let (_, headers) = signed(&smemu.url, "/", &LIST_MODELS, "{}", "smemu-secret", time, false);
        let (status, error_type, body) = exchange(&smemu.url, "POST /", &headers, "{}");
        assert_eq!((status, error_type.as_str()), (400, "InvalidSignatureException"), "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.starts_with(expected), "{message}");
        assert!(message.ends_with(if skew < 0 { " - 15 min.)" } else { " + 15 min.)" }), "{message}");
    }
    // The same request signed now passes.
    let (_, headers) = signed(&smemu.url, "/", &LIST_MODELS, "{}", "smemu-secret", SystemTime::now(), false);
    assert_eq!(exchange(&smemu.url, "POST /", &headers, "{}").0, 200);
}

/// An `Authorization` header with `region` in its scope (not checked in `--auth any`, only read).
fn claimed(url: &str, access_key: &str, region: &str) -> Vec<(String, String)> {
    let host = url.trim_start_matches("http://");
    vec![
        ("Host".into(), host.into()),
        ("Content-Type".into(), "application/x-amz-json-1.1".into()),
        ("X-Amz-Target".into(), "SageMaker.ListModels".into()),
        (
            "Authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={access_key}/20260101/{region}/sagemaker/aws4_request, SignedHeaders=host, Signature=00"
            ),
        ),
    ]
}

#[test]
fn a_malformed_region_in_the_credential_scope_is_refused_on_both_apis() {
    let smemu = Smemu::start();
    for region in ["us-east-1:111111111111", "..", "EU-WEST-1", "x"] {
        let (status, error_type, body) = exchange(&smemu.url, "POST /", &claimed(&smemu.url, ACCOUNT, region), "{}");
        assert_eq!((status, error_type.as_str()), (400, "InvalidSignatureException"), "{region}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(message.starts_with("Credential should be scoped to a valid region"), "{message}");
        let invoke = "POST /endpoints/e/invocations";
        let (status, error_type, _) = exchange(&smemu.url, invoke, &claimed(&smemu.url, ACCOUNT, region), "x");
        assert_eq!((status, error_type.as_str()), (400, "InvalidSignatureException"), "{region}");
    }
    let (status, _, _) = exchange(&smemu.url, "POST /", &claimed(&smemu.url, ACCOUNT, "eu-west-1"), "{}");
    assert_eq!(status, 200);
    assert!(!smemu.data_dir.join("logs").join("transform-jobs").join(ACCOUNT).join("..").exists());
}

#[test]
fn crafted_arns_cannot_tag_another_accounts_resources() {
    let smemu = Smemu::start();
    let victim = AwsCli::new(&smemu.url).with_identity("111111111111", "us-east-1");
    let attacker = AwsCli::new(&smemu.url).with_identity("222222222222", "us-east-1");
    let name = unique("victim");
    let arn = victim.create_simple_model(&name);
    let tag = "Key=owned,Value=yes";

    attacker
        .sagemaker(&["add-tags", "--resource-arn", &arn, "--tags", tag])
        .assert_error("ValidationException", "Resource does not exist");
    attacker
        .sagemaker(&["list-tags", "--resource-arn", &arn])
        .assert_error("ValidationException", "Resource does not exist");
    // The attacker's own account and region as a prefix, the victim's resource after it.
    let crafted = format!("arn:aws:sagemaker:us-east-1:222222222222:111111111111:model/{name}");
    attacker
        .sagemaker(&["add-tags", "--resource-arn", &crafted, "--tags", tag])
        .assert_error("ValidationException", "Invalid resource ARN");
    let dotted = format!("arn:aws:sagemaker:..:111111111111:model/{name}");
    attacker
        .sagemaker(&["add-tags", "--resource-arn", &dotted, "--tags", tag])
        .assert_error("ValidationException", "failed to satisfy constraint");
    let traversal = format!("arn:aws:sagemaker:us-east-1:222222222222:model/../../111111111111/{name}");
    attacker
        .sagemaker(&["list-tags", "--resource-arn", &traversal])
        .assert_error("ValidationException", "Invalid resource ARN");
    // A region with `:` in the scope (raw HTTP: the CLI would not send it).
    let body = serde_json::json!({"ResourceArn": arn, "Tags": [{"Key": "owned", "Value": "yes"}]}).to_string();
    let mut headers = claimed(&smemu.url, "222222222222", "us-east-1:111111111111");
    headers[2].1 = "SageMaker.AddTags".into();
    let (_, error_type, _) = exchange(&smemu.url, "POST /", &headers, &body);
    assert_eq!(error_type, "InvalidSignatureException");

    let tags = victim.sagemaker(&["list-tags", "--resource-arn", &arn]).json();
    assert_eq!(tags["Tags"], serde_json::json!([]), "no tag landed on the victim's model");
    victim.sagemaker(&["add-tags", "--resource-arn", &arn, "--tags", tag]).json();
    assert_eq!(victim.sagemaker(&["list-tags", "--resource-arn", &arn]).json()["Tags"][0]["Key"], "owned");
}

/// `smemu serve` with `flags` that must refuse to start: its exit status and what it said.
fn refused_start(flags: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(crate::common::smemu_bin())
        .args(["serve", "--data-dir"])
        .arg(tmp.path().join("data"))
        .args(flags)
        .env("SMEMU_LOG", "warn")
        .current_dir(repo())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "smemu started with {flags:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("smemu listening"), "smemu served with {flags:?}: {stdout}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_non_loopback_listen_with_auth_any_refuses_to_start_and_says_why() {
    let said = refused_start(&["--listen", "0.0.0.0:0", "--s3-listen", "127.0.0.1:0"]);
    assert!(said.contains("refusing to serve on 0.0.0.0:0 (--listen)"), "{said}");
    assert!(said.contains("--allow-remote"), "{said}");
    let said = refused_start(&["--listen", "127.0.0.1:0", "--s3-listen", "0.0.0.0:0"]);
    assert!(said.contains("(--s3-listen)"), "{said}");
}

#[test]
fn malformed_defaults_and_missing_keys_refuse_to_start() {
    let loopback = ["--listen", "127.0.0.1:0", "--s3-listen", "127.0.0.1:0"];
    let with = |extra: &[&str]| refused_start(&[&loopback[..], extra].concat());
    assert!(
        with(&["--default-region", "us-east-1:1"]).contains("--default-region \"us-east-1:1\" is not a region name")
    );
    assert!(with(&["--default-account", "../x"]).contains("--default-account \"../x\" is not an AWS account id"));
    assert!(with(&["--auth", "strict"]).contains("--auth strict needs --access-keys FILE"));
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("keys");
    std::fs::write(&bad, "AKID only-two-fields-and 12\n").unwrap();
    let said = with(&["--auth", "strict", "--access-keys", bad.to_str().unwrap()]);
    assert!(said.contains("line 1: account \"12\" is not 12 digits"), "{said}");
}
