//! State lives in SQLite: it survives a restart and repeated SIGKILLs under write load, and the
//! database refuses to change a model.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_sagemaker::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sagemaker::types::ContainerDefinition;

use crate::common::{Smemu, sdk_config, sdk_variant, unique};

#[test]
fn models_configs_and_tags_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let name = unique("kept");
    let (model_before, config_before) = {
        let mut smemu = Smemu::start_in(&data_dir);
        let aws = smemu.aws();
        aws.sagemaker(&[
            "create-model",
            "--model-name",
            &name,
            "--primary-container",
            "Image=x",
            "--tags",
            "Key=k,Value=v",
        ])
        .json();
        aws.sagemaker(&[
            "create-endpoint-config",
            "--endpoint-config-name",
            &name,
            "--production-variants",
            &format!("VariantName=v,ModelName={name},InstanceType=ml.m5.large,InitialInstanceCount=1"),
        ])
        .json();
        let model = aws.sagemaker(&["describe-model", "--model-name", &name]).json();
        let config = aws.sagemaker(&["describe-endpoint-config", "--endpoint-config-name", &name]).json();
        smemu.stop();
        (model, config)
    };
    let smemu = Smemu::start_in(&data_dir);
    let aws = smemu.aws();
    assert_eq!(aws.sagemaker(&["describe-model", "--model-name", &name]).json(), model_before);
    assert_eq!(aws.sagemaker(&["describe-endpoint-config", "--endpoint-config-name", &name]).json(), config_before);
    let arn = model_before["ModelArn"].as_str().unwrap();
    assert_eq!(aws.sagemaker(&["list-tags", "--resource-arn", arn]).json()["Tags"][0]["Key"], "k");
}

#[test]
fn a_direct_sqlite_update_of_a_model_is_refused_by_the_database() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let name = unique("frozen");
    aws.create_simple_model(&name);
    let db = smemu.data_dir.join(smemu::STATE_FILE);
    let out = Command::new("sqlite3")
        .arg(&db)
        .arg(format!("UPDATE models SET spec = '{{}}' WHERE name = '{name}';"))
        .output()
        .expect("sqlite3 is installed by make test-deps");
    assert!(!out.status.success(), "the UPDATE went through");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("models are immutable"), "{stderr}");
    let described = aws.sagemaker(&["describe-model", "--model-name", &name]).json();
    assert_eq!(described["PrimaryContainer"]["Image"], "smemu-testmodel:latest");
}

#[test]
fn sigterm_stops_smemu_cleanly() {
    let mut smemu = Smemu::start();
    smemu.aws().create_simple_model(&unique("bye"));
    smemu.stop();
    let log = std::fs::read_to_string(smemu.data_dir.parent().unwrap().join("smemu.log")).unwrap();
    assert!(log.contains("smemu stopped"), "{log}");
}

/// What the clients were told, across every smemu that was killed.
#[derive(Default)]
struct Ledger {
    /// Acknowledged creates (2xx) not deleted since: must be there after the restart.
    models: BTreeSet<String>,
    configs: BTreeSet<String>,
    /// Acknowledged deletes: must stay gone.
    deleted_models: BTreeSet<String>,
    deleted_configs: BTreeSet<String>,
    /// Requests the kill cut off (no answer): either outcome is allowed.
    unknown: usize,
}

/// How many times smemu is killed, by how many clients, after how many acknowledged requests each time.
const KILLS: usize = 5;
const WRITERS: usize = 4;
const ACKED_PER_ROUND: usize = 60;

/// One writer until smemu dies: creates a model and a config of it, and every third time deletes
/// the config and the model it created before (names unique to the writer and round).
async fn write_until_killed(client: aws_sdk_sagemaker::Client, prefix: String, acked: Arc<AtomicUsize>) -> Ledger {
    let mut ledger = Ledger::default();
    let mut mine: Vec<String> = Vec::new();
    // Service errors are bugs; anything else means smemu is gone and the writer stops.
    fn gone<E: std::fmt::Debug>(err: &SdkError<E>) {
        assert!(!matches!(err, SdkError::ServiceError(_)), "smemu answered an error: {err:?}");
    }
    for i in 0.. {
        let name = format!("{prefix}-{i}");
        let model = client
            .create_model()
            .model_name(&name)
            .primary_container(ContainerDefinition::builder().image("img").build())
            .send()
            .await;
        match model {
            Ok(_) => ledger.models.insert(name.clone()),
            Err(err) => {
                gone(&err);
                ledger.unknown += 1;
                break;
            }
        };
        acked.fetch_add(1, Ordering::SeqCst);
        let config = client
            .create_endpoint_config()
            .endpoint_config_name(&name)
            .production_variants(sdk_variant("v", &name, 1))
            .send()
            .await;
        match config {
            Ok(_) => ledger.configs.insert(name.clone()),
            Err(err) => {
                gone(&err);
                ledger.unknown += 1;
                break;
            }
        };
        acked.fetch_add(1, Ordering::SeqCst);
        mine.push(name);
        if i % 3 == 2 {
            let old = mine.remove(0);
            match client.delete_endpoint_config().endpoint_config_name(&old).send().await {
                Ok(_) => {
                    ledger.configs.remove(&old);
                    ledger.deleted_configs.insert(old.clone());
                }
                Err(err) => {
                    gone(&err);
                    ledger.configs.remove(&old);
                    ledger.unknown += 1;
                    break;
                }
            }
            acked.fetch_add(1, Ordering::SeqCst);
            match client.delete_model().model_name(&old).send().await {
                Ok(_) => {
                    ledger.models.remove(&old);
                    ledger.deleted_models.insert(old);
                }
                Err(err) => {
                    gone(&err);
                    ledger.models.remove(&old);
                    ledger.unknown += 1;
                    break;
                }
            }
            acked.fetch_add(1, Ordering::SeqCst);
        }
    }
    ledger
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_creates_and_deletes_survive_repeated_sigkill_under_write_load() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut ledger = Ledger::default();
    for round in 0..KILLS {
        let mut smemu = Smemu::start_in(&data_dir);
        let config =
            aws_sdk_sagemaker::config::Builder::from(&sdk_config(&smemu.url, "AKIDSMEMUTEST", "us-east-1").await)
                // One attempt per request: a retried create could be acknowledged twice or hide a cut-off one.
                .retry_config(aws_config::retry::RetryConfig::disabled())
                .build();
        let client = aws_sdk_sagemaker::Client::from_conf(config);
        let acked = Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| tokio::spawn(write_until_killed(client.clone(), unique(&format!("r{round}w{w}")), acked.clone())))
            .collect();
        // SIGKILL while every writer has a request in flight or about to be.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        while acked.load(Ordering::SeqCst) < ACKED_PER_ROUND {
            assert!(tokio::time::Instant::now() < deadline, "round {round}: the writers are stuck");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        smemu.kill();
        for writer in writers {
            let part = writer.await.expect("writer");
            ledger.models.extend(part.models);
            ledger.configs.extend(part.configs);
            ledger.deleted_models.extend(part.deleted_models);
            ledger.deleted_configs.extend(part.deleted_configs);
            ledger.unknown += part.unknown;
        }
    }
    assert!(!ledger.models.is_empty() && !ledger.deleted_models.is_empty() && !ledger.deleted_configs.is_empty());
    eprintln!(
        "after {KILLS} kills: {} models and {} configs acknowledged and kept, {} models and {} configs acknowledged as deleted, {} requests cut off",
        ledger.models.len(),
        ledger.configs.len(),
        ledger.deleted_models.len(),
        ledger.deleted_configs.len(),
        ledger.unknown
    );

    let mut smemu = Smemu::start_in(&data_dir);
    let client = aws_sdk_sagemaker::Client::new(&sdk_config(&smemu.url, "AKIDSMEMUTEST", "us-east-1").await);
    for name in &ledger.models {
        client.describe_model().model_name(name).send().await.unwrap_or_else(|e| panic!("model {name} lost: {e:?}"));
    }
    for name in &ledger.configs {
        client
            .describe_endpoint_config()
            .endpoint_config_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("config {name} lost: {e:?}"));
    }
    for name in &ledger.deleted_models {
        let err = client.describe_model().model_name(name).send().await.expect_err("a deleted model came back");
        assert!(err.message().unwrap_or_default().starts_with("Could not find model"), "{err:?}");
    }
    for name in &ledger.deleted_configs {
        let err = client
            .describe_endpoint_config()
            .endpoint_config_name(name)
            .send()
            .await
            .expect_err("a deleted config came back");
        assert!(err.message().unwrap_or_default().starts_with("Could not find endpoint configuration"), "{err:?}");
    }
    smemu.stop();
    let check = Command::new("sqlite3")
        .arg(data_dir.join(smemu::STATE_FILE))
        .arg("PRAGMA integrity_check")
        .output()
        .expect("sqlite3 is installed by make test-deps");
    assert_eq!(String::from_utf8_lossy(&check.stdout).trim(), "ok", "{}", String::from_utf8_lossy(&check.stderr));
}

/// Client threads of the group-commit crash test, and acknowledged creates before the kill.
const CRASH_THREADS: usize = 16;
const CRASH_ACKED: usize = 400;

/// Creates 2-container models until smemu dies; returns the names acknowledged (200) and how many
/// requests got no answer.
async fn create_until_killed(
    client: aws_sdk_sagemaker::Client,
    prefix: String,
    acked: Arc<AtomicUsize>,
) -> (Vec<String>, usize) {
    let mut kept = Vec::new();
    for i in 0.. {
        let name = format!("{prefix}-{i}");
        let created = client
            .create_model()
            .model_name(&name)
            .containers(ContainerDefinition::builder().image("img").container_hostname("first").build())
            .containers(ContainerDefinition::builder().image("img").container_hostname("second").build())
            .send()
            .await;
        match created {
            Ok(_) => kept.push(name),
            Err(err) => {
                assert!(!matches!(err, SdkError::ServiceError(_)), "smemu answered an error: {err:?}");
                return (kept, 1);
            }
        }
        acked.fetch_add(1, Ordering::SeqCst);
    }
    unreachable!("the loop ends when smemu is killed")
}

/// The group commit's promise: a create is answered only once the transaction holding it (and the
/// others committed with it) is committed, so SIGKILL while many threads create loses none that
/// was answered, and leaves a database that passes SQLite's integrity check.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_create_survives_sigkill_during_concurrent_creates() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut smemu = Smemu::start_in(&data_dir);
    let config = aws_sdk_sagemaker::config::Builder::from(&sdk_config(&smemu.url, "AKIDSMEMUTEST", "us-east-1").await)
        // One attempt per request: a retried create could hide one the kill cut off.
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    let client = aws_sdk_sagemaker::Client::from_conf(config);
    let acked = Arc::new(AtomicUsize::new(0));
    let prefix = unique("crash");
    let threads: Vec<_> = (0..CRASH_THREADS)
        .map(|t| tokio::spawn(create_until_killed(client.clone(), format!("{prefix}-t{t}"), acked.clone())))
        .collect();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while acked.load(Ordering::SeqCst) < CRASH_ACKED {
        assert!(tokio::time::Instant::now() < deadline, "the creates are stuck");
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    smemu.kill();
    let (mut kept, mut cut_off) = (Vec::new(), 0);
    for thread in threads {
        let (names, lost) = thread.await.expect("client thread");
        kept.extend(names);
        cut_off += lost;
    }
    // Every thread was mid-request when smemu died.
    assert_eq!(cut_off, CRASH_THREADS);
    assert!(kept.len() >= CRASH_ACKED, "{} acknowledged", kept.len());

    // The file as the kill left it (its WAL included) is sound before anything opens it again.
    let db = data_dir.join(smemu::STATE_FILE);
    let check = Command::new("sqlite3").arg(&db).arg("PRAGMA integrity_check").output().expect("sqlite3");
    assert_eq!(String::from_utf8_lossy(&check.stdout).trim(), "ok", "{}", String::from_utf8_lossy(&check.stderr));

    let mut smemu = Smemu::start_in(&data_dir);
    let client = aws_sdk_sagemaker::Client::new(&sdk_config(&smemu.url, "AKIDSMEMUTEST", "us-east-1").await);
    for name in &kept {
        let model = client
            .describe_model()
            .model_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("model {name} lost: {e:?}"));
        assert_eq!(model.containers().len(), 2, "{name}");
    }
    eprintln!("{} acknowledged creates all present after SIGKILL; {cut_off} requests cut off", kept.len());
    smemu.stop();
    let check = Command::new("sqlite3").arg(&db).arg("PRAGMA integrity_check").output().expect("sqlite3");
    assert_eq!(String::from_utf8_lossy(&check.stdout).trim(), "ok", "{}", String::from_utf8_lossy(&check.stderr));
}
