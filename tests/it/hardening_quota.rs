//! The instance quota (`--max-instances`) through the AWS CLI: requests past it get the real
//! service's `ResourceLimitExceeded` at once, smemu stays up and small, the sum counts endpoints and
//! transform jobs together, concurrent creates cannot both pass, and a store that already holds an
//! endpoint past the limit starts and fails that endpoint with the reason.

use std::process::Command;

use serde_json::{Value, json};

use aws_sdk_sagemaker::error::ProvideErrorMetadata;
use aws_sdk_sagemaker::types::ContainerDefinition;

use crate::common::{AwsCli, CliOutput, Smemu, TEST_IMAGE, eventually, sdk_config, sdk_variant, unique};

/// The quota's name in every `ResourceLimitExceeded` text.
const QUOTA: &str = "Number of instances across all endpoints and transform jobs (smemu --max-instances)";

/// How much smemu's RSS may grow over a test: a request that allocated per instance asked for would
/// pass this within a second (2147483647 instance ids), a refused one never comes near.
const RSS_GROWTH_LIMIT_KIB: u64 = 200 * 1024;

/// How many creates race for the room of two, and how many times.
const RACERS: usize = 16;
const ROUNDS: u32 = 4;

/// The real service's text (see `ApiError::instance_quota_exceeded`).
fn quota_text(limit: u64, used: u64, delta: u64) -> String {
    format!(
        "The account-level service limit '{QUOTA}' is {limit} Instances, with current utilization of {used} Instances and a request delta of {delta} Instances. Please use AWS Service Quotas to request an increase for this quota."
    )
}

/// A model of the test image with `env`, and a one-variant config of it on `instances` instances.
fn model_and_config(aws: &AwsCli, name: &str, env: Value, instances: u64) {
    let container = json!({"Image": TEST_IMAGE, "Environment": env});
    aws.sagemaker(&["create-model", "--model-name", name, "--primary-container", &container.to_string()]).json();
    config(aws, name, name, instances);
}

fn config(aws: &AwsCli, name: &str, model: &str, instances: u64) {
    let variant = json!([{
        "VariantName": "AllTraffic",
        "ModelName": model,
        "InstanceType": "ml.m5.large",
        "InitialInstanceCount": instances,
    }]);
    aws.sagemaker(&[
        "create-endpoint-config",
        "--endpoint-config-name",
        name,
        "--production-variants",
        &variant.to_string(),
    ])
    .json();
}

fn create_endpoint(aws: &AwsCli, name: &str, config: &str) -> CliOutput {
    aws.sagemaker(&["create-endpoint", "--endpoint-name", name, "--endpoint-config-name", config])
}

fn set_capacity(aws: &AwsCli, endpoint: &str, instances: u64) -> CliOutput {
    aws.sagemaker(&[
        "update-endpoint-weights-and-capacities",
        "--endpoint-name",
        endpoint,
        "--desired-weights-and-capacities",
        &format!("VariantName=AllTraffic,DesiredInstanceCount={instances}"),
    ])
}

/// A bucket with one input object, for transform jobs.
fn input_bucket(smemu: &Smemu) -> String {
    let s3 = AwsCli::new(&smemu.s3_url);
    let bucket = unique("quota");
    assert!(s3.run("s3", &["mb", &format!("s3://{bucket}")]).success);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "r1\n").unwrap();
    let put = s3.run("s3", &["cp", file.path().to_str().unwrap(), &format!("s3://{bucket}/in/rows.txt")]);
    assert!(put.success, "{}", put.stderr);
    bucket
}

fn create_transform_job(aws: &AwsCli, name: &str, model: &str, bucket: &str, instances: u64) -> CliOutput {
    let request = json!({
        "TransformJobName": name,
        "ModelName": model,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": format!("s3://{bucket}/in/")}},
            "ContentType": "text/plain",
            "SplitType": "Line",
        },
        "TransformOutput": {"S3OutputPath": format!("s3://{bucket}/out-{name}/")},
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": instances},
    });
    aws.sagemaker(&["create-transform-job", "--cli-input-json", &request.to_string()])
}

#[track_caller]
fn assert_not_found(aws: &AwsCli, endpoint: &str) {
    aws.sagemaker(&["describe-endpoint", "--endpoint-name", endpoint])
        .assert_error("ValidationException", "Could not find endpoint");
}

#[test]
fn counts_of_2147483647_instances_are_refused_at_once_and_smemu_stays_up_and_small() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let serving = unique("serving");
    model_and_config(&aws, &serving, json!({"SMEMU_TEST_ROLE": "echo"}), 1);
    create_endpoint(&aws, &serving, &serving).json();
    aws.wait_in_service(&serving);
    let huge = unique("huge");
    config(&aws, &huge, &serving, 2_147_483_647);
    let bucket = input_bucket(&smemu);
    let rss_before = smemu.rss_kib();

    // The default limit is 16; the serving endpoint uses 1.
    create_endpoint(&aws, &huge, &huge).assert_error("ResourceLimitExceeded", &quota_text(16, 1, 2_147_483_647));
    assert_not_found(&aws, &huge);
    aws.sagemaker(&["update-endpoint", "--endpoint-name", &serving, "--endpoint-config-name", &huge])
        .assert_error("ResourceLimitExceeded", &quota_text(16, 1, 2_147_483_647));
    set_capacity(&aws, &serving, 2_147_483_647)
        .assert_error("ResourceLimitExceeded", &quota_text(16, 1, 2_147_483_646));
    let job = unique("huge-job");
    create_transform_job(&aws, &job, &serving, &bucket, 2_147_483_647)
        .assert_error("ResourceLimitExceeded", &quota_text(16, 1, 2_147_483_647));
    aws.sagemaker(&["describe-transform-job", "--transform-job-name", &job])
        .assert_error("ValidationException", "Could not find");

    let rss_after = smemu.rss_kib();
    assert!(rss_after < rss_before + RSS_GROWTH_LIMIT_KIB, "smemu's RSS grew from {rss_before} KiB to {rss_after} KiB");
    // Up, unchanged, and still serving.
    let described = aws.describe_endpoint(&serving);
    assert_eq!(described["EndpointStatus"], "InService", "{described}");
    assert_eq!(described["EndpointConfigName"], serving.as_str());
    assert_eq!(described["ProductionVariants"][0]["DesiredInstanceCount"], 1);
    assert!(described.get("FailureReason").is_none(), "{described}");
    let (out, body) = aws.invoke(&serving, "still here", &[]);
    assert!(out.success, "{}", out.stderr);
    assert_eq!(body, "still here");
}

#[test]
fn the_quota_counts_endpoints_and_transform_jobs_of_an_account_together() {
    let tmp = tempfile::tempdir().unwrap();
    let smemu = Smemu::start_with(&tmp.path().join("data"), &["--s3-listen", "127.0.0.1:0", "--max-instances", "2"]);
    let aws = smemu.aws();
    let first = unique("first");
    model_and_config(&aws, &first, json!({"SMEMU_TEST_ROLE": "echo"}), 1);
    create_endpoint(&aws, &first, &first).json();
    aws.wait_in_service(&first);
    // A job that stays InProgress: its one record takes 60 s.
    let slow = unique("slow");
    model_and_config(&aws, &slow, json!({"SMEMU_TEST_ROLE": "slow", "SMEMU_TEST_DELAY_MS": "60000"}), 1);
    let bucket = input_bucket(&smemu);
    let job = unique("running");
    create_transform_job(&aws, &job, &slow, &bucket, 1).json();

    // 1 endpoint instance + 1 job instance = the limit of 2: every request that adds one is refused.
    let second = unique("second");
    create_endpoint(&aws, &second, &slow).assert_error("ResourceLimitExceeded", &quota_text(2, 2, 1));
    assert_not_found(&aws, &second);
    create_transform_job(&aws, &unique("more"), &slow, &bucket, 1)
        .assert_error("ResourceLimitExceeded", &quota_text(2, 2, 1));
    set_capacity(&aws, &first, 2).assert_error("ResourceLimitExceeded", &quota_text(2, 2, 1));
    // UpdateEndpoint runs the new fleet beside the old one until traffic moves: one more instance.
    aws.sagemaker(&["update-endpoint", "--endpoint-name", &first, "--endpoint-config-name", &slow])
        .assert_error("ResourceLimitExceeded", &quota_text(2, 2, 1));
    assert_eq!(aws.describe_endpoint(&first)["EndpointStatus"], "InService");
    // Another account has a quota of its own.
    let other = AwsCli::new(&smemu.url).with_identity("111122223333", "us-east-1");
    let theirs = unique("theirs");
    model_and_config(&other, &theirs, json!({"SMEMU_TEST_ROLE": "echo"}), 2);
    create_endpoint(&other, &theirs, &theirs).json();

    // A stopped job frees its instance; the endpoint may then grow to the limit, and shrink at it.
    aws.sagemaker(&["stop-transform-job", "--transform-job-name", &job]).json();
    eventually(60, "the job to stop", || {
        let d = aws.sagemaker(&["describe-transform-job", "--transform-job-name", &job]).json();
        (d["TransformJobStatus"] == "Stopped").then_some(())
    });
    set_capacity(&aws, &first, 2).json();
    let grown = aws.wait_in_service(&first);
    assert_eq!(grown["ProductionVariants"][0]["CurrentInstanceCount"], 2, "{grown}");
    create_endpoint(&aws, &second, &slow).assert_error("ResourceLimitExceeded", &quota_text(2, 2, 1));
    set_capacity(&aws, &first, 1).json();
    let shrunk = aws.wait_in_service(&first);
    assert_eq!(shrunk["ProductionVariants"][0]["CurrentInstanceCount"], 1, "{shrunk}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_cannot_pass_the_quota_together() {
    let tmp = tempfile::tempdir().unwrap();
    let smemu = Smemu::start_with(&tmp.path().join("data"), &["--s3-listen", "127.0.0.1:0", "--max-instances", "2"]);
    // Several races, each in an account of its own (each account has its own quota).
    for round in 1..=ROUNDS {
        let account = format!("{round:012}");
        // The Rust SDK sends them all at once (the CLI's start-up would space them out).
        let client = aws_sdk_sagemaker::Client::new(&sdk_config(&smemu.url, &account, "us-east-1").await);
        // Containers that take 10 minutes to answer: every endpoint stays Creating through the test.
        let model = unique("late");
        client
            .create_model()
            .model_name(&model)
            .primary_container(
                ContainerDefinition::builder()
                    .image(TEST_IMAGE)
                    .environment("SMEMU_TEST_ROLE", "echo")
                    .environment("SMEMU_TEST_STARTUP_DELAY_MS", "600000")
                    .build(),
            )
            .send()
            .await
            .unwrap();
        client
            .create_endpoint_config()
            .endpoint_config_name(&model)
            .production_variants(sdk_variant("AllTraffic", &model, 1))
            .send()
            .await
            .unwrap();
        // Warm connections first, so that the creates leave together instead of one per new connection.
        let warm = futures::future::join_all((0..RACERS).map(|_| client.list_endpoints().send())).await;
        assert!(warm.iter().all(Result::is_ok));
        let creates = (0..RACERS).map(|i| {
            client.create_endpoint().endpoint_name(unique(&format!("race{i}"))).endpoint_config_name(&model).send()
        });
        let outcomes = futures::future::join_all(creates).await;
        let created = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(created, 2, "account {account}: {outcomes:#?}");
        for refused in outcomes.iter().filter_map(|o| o.as_ref().err()) {
            assert_eq!(refused.code(), Some("ResourceLimitExceeded"), "{refused:?}");
            assert_eq!(refused.message(), Some(quota_text(2, 2, 1).as_str()));
        }
        let listed = client.list_endpoints().send().await.unwrap();
        assert_eq!(listed.endpoints().len(), 2, "{listed:?}");
    }
}

#[test]
fn a_stored_endpoint_of_2147483647_instances_starts_failed_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let name = unique("stored");
    {
        // An endpoint left Creating (its container takes 10 minutes to answer)...
        let mut first = Smemu::start_in(&data_dir);
        let aws = first.aws();
        model_and_config(&aws, &name, json!({"SMEMU_TEST_ROLE": "echo", "SMEMU_TEST_STARTUP_DELAY_MS": "600000"}), 1);
        create_endpoint(&aws, &name, &name).json();
        assert_eq!(aws.describe_endpoint(&name)["EndpointStatus"], "Creating");
        first.kill();
    }
    // ...whose stored document then asks for 2147483647 instances, as an smemu without a quota
    // stored it (the same document; only the count differs).
    let out = Command::new("sqlite3")
        .arg(data_dir.join(smemu::STATE_FILE))
        .arg(format!(
            "UPDATE endpoints SET state = json_set(state, '$.current.variants[0].desired_instances', 2147483647) WHERE name = '{name}';"
        ))
        .output()
        .expect("sqlite3 is installed by make test-deps");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let smemu = Smemu::start_in(&data_dir);
    let rss_at_start = smemu.rss_kib();
    let aws = smemu.aws();
    let described = eventually(60, "the stored endpoint to fail", || {
        let d = aws.describe_endpoint(&name);
        (d["EndpointStatus"] == "Failed").then_some(d)
    });
    assert_eq!(
        described["FailureReason"],
        format!(
            "The endpoint asks for 2147483647 instances, more than the account-level service limit '{QUOTA}' of 16 Instances."
        ),
        "{described}"
    );
    // It answers, stays small, and the failed endpoint can be deleted.
    assert!(aws.sagemaker(&["list-endpoints"]).success);
    let rss = smemu.rss_kib();
    assert!(rss < rss_at_start + RSS_GROWTH_LIMIT_KIB, "smemu's RSS grew from {rss_at_start} KiB to {rss} KiB");
    aws.sagemaker(&["delete-endpoint", "--endpoint-name", &name]).json();
    eventually(60, "the endpoint to go", || {
        (!aws.sagemaker(&["describe-endpoint", "--endpoint-name", &name]).success).then_some(())
    });
    assert!(smemu.containers(&["smemu.kind=endpoint"]).is_empty());
}

#[test]
fn request_counts_past_their_bounds_are_refused_before_anything_runs() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    // Checked before the model and the inputs: neither needs to exist.
    let request = |concurrency: i64| {
        json!({
            "TransformJobName": unique("wide"),
            "ModelName": "no-such-model",
            "MaxConcurrentTransforms": concurrency,
            "TransformInput": {
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://nowhere/in/"}},
            },
            "TransformOutput": {"S3OutputPath": "s3://nowhere/out/"},
            "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
        })
        .to_string()
    };
    aws.sagemaker(&["create-transform-job", "--cli-input-json", &request(2_147_483_647)]).assert_error(
        "ValidationException",
        "MaxConcurrentTransforms (2147483647) multiplied by MaxPayloadInMB must not exceed 100: at most 100 concurrent transforms.",
    );
    // 100 passes this check and reaches the next one (the model).
    aws.sagemaker(&["create-transform-job", "--cli-input-json", &request(100)])
        .assert_error("ValidationException", "Could not find model");
    // At most 10 variants per config (the generated validation of the model's list bound).
    let variants: Vec<Value> = (0..11)
        .map(|i| json!({"VariantName": format!("v{i}"), "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}))
        .collect();
    aws.sagemaker(&[
        "create-endpoint-config",
        "--endpoint-config-name",
        &unique("wide"),
        "--production-variants",
        &Value::from(variants).to_string(),
    ])
    .assert_error(
        "ValidationException",
        "at 'productionVariants' failed to satisfy constraint: Member must have length less than or equal to 10",
    );
}
