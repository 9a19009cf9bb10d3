//! The state store's write queue (`--max-queued-writes`): while its writer cannot commit, writes
//! past the bound get the real `ThrottlingException` at once and change nothing; those queued
//! commit once it can, and smemu answers as before.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use aws_sdk_sagemaker::error::ProvideErrorMetadata;
use aws_sdk_sagemaker::types::ContainerDefinition;

use crate::common::{Smemu, sdk_config, unique};

/// The Rust SDK's SageMaker client for `url`, without retries: the SDK retries throttling, and one
/// attempt shows the answer itself.
async fn client_without_retries(url: &str) -> aws_sdk_sagemaker::Client {
    let config = aws_sdk_sagemaker::config::Builder::from(&sdk_config(url, "AKIDSMEMUTEST", "us-east-1").await)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_sagemaker::Client::from_conf(config)
}

// It failed in full-suite runs on a loaded machine (issue 16) while smemu printed its ready line
// before opening its store: the sqlite3 below raced smemu's creation and migration of the file (smemu
// exited once its migrations had waited out the busy timeout; once sqlite3 could not take the lock).
// The ready line now comes once the store is open and start-up is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_past_the_write_queue_get_throttling_exception_and_the_queued_ones_commit() {
    let mut smemu = Smemu::start_fresh_with(&["--max-queued-writes", "2"]);
    let client = client_without_retries(&smemu.url).await;
    // A hand-run sqlite3 holding the write lock: smemu's writer waits for it (the only wait it has).
    let (mut holder, mut stdin) = hold_write_lock(&smemu);

    // While the writer waits for the lock it holds at most one batch (2 creates) and the queue 2
    // more: of 10 creates at once at least 6 are refused, and only they can be answered.
    let prefix = unique("queued");
    let (answers, mut answered) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..10 {
        let (client, answers, name) = (client.clone(), answers.clone(), format!("{prefix}-{i}"));
        tokio::spawn(async move {
            let answer = client
                .create_model()
                .model_name(&name)
                .primary_container(ContainerDefinition::builder().image("img").build())
                .send()
                .await
                .map(|_| ());
            let _ = answers.send((name, answer));
        });
    }
    let mut refused = Vec::new();
    while refused.len() < 6 {
        let (name, answer) =
            tokio::time::timeout(Duration::from_secs(8), answered.recv()).await.expect("refusals").unwrap();
        let err = answer.expect_err("a create went through while the writer was blocked");
        if err.code() != Some("ThrottlingException") {
            // Seen once in a full suite run (connection refused): say what became of smemu.
            panic!("{err:?}\nsmemu exited: {}\n{}", smemu.exited(), log_tail(&smemu));
        }
        assert_eq!(err.message(), Some("Rate exceeded"), "{err:?}");
        refused.push(name);
    }

    writeln!(stdin, "COMMIT;").unwrap();
    drop(stdin);
    holder.wait().unwrap();
    drop(answers);
    let mut accepted = Vec::new();
    while let Some((name, answer)) = answered.recv().await {
        match answer {
            Ok(()) => accepted.push(name),
            Err(err) => {
                assert_eq!(err.code(), Some("ThrottlingException"), "{name}: {err:?}");
                refused.push(name);
            }
        }
    }
    assert!(!accepted.is_empty());
    for name in &accepted {
        client.describe_model().model_name(name).send().await.unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
    for name in &refused {
        let missing = client.describe_model().model_name(name).send().await.expect_err("a refused create was stored");
        assert!(missing.message().unwrap_or_default().starts_with("Could not find model"), "{missing:?}");
    }
    // The queue drained: creates are accepted again.
    client
        .create_model()
        .model_name(format!("{prefix}-after"))
        .primary_container(ContainerDefinition::builder().image("img").build())
        .send()
        .await
        .unwrap();
}

/// A hand-run sqlite3 holding the state file's write lock (`BEGIN IMMEDIATE`) until `COMMIT;` is
/// written to the stdin returned with it.
fn hold_write_lock(smemu: &Smemu) -> (Child, ChildStdin) {
    let mut holder = Command::new("sqlite3")
        .arg(smemu.data_dir.join(smemu::STATE_FILE))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sqlite3");
    let mut stdin = holder.stdin.take().expect("stdin");
    // The CLI gives up on a busy lock at once unless told to wait, and goes on after an error
    // unless told to stop: `locked` is printed only once the lock is held.
    writeln!(stdin, ".timeout 10000\n.bail on\nBEGIN IMMEDIATE;\nSELECT 'locked';").unwrap();
    stdin.flush().unwrap();
    let mut line = String::new();
    BufReader::new(holder.stdout.take().expect("stdout")).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "locked");
    (holder, stdin)
}

/// The last lines smemu logged (the test server's `smemu.log`, beside its data directory).
fn log_tail(smemu: &Smemu) -> String {
    let log = smemu.data_dir.parent().map(|dir| dir.join("smemu.log")).unwrap_or_default();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// `--state-lock-timeout`: while another process holds the state file's write lock for longer, a
/// create gets `ThrottlingException` after that long and changes nothing; once the lock is free the
/// same create goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_lock_held_past_the_state_lock_timeout_throttles_and_changes_nothing() {
    let smemu = Smemu::start_fresh_with(&["--state-lock-timeout", "1s"]);
    let client = client_without_retries(&smemu.url).await;
    let (mut holder, mut stdin) = hold_write_lock(&smemu);

    let name = unique("locked");
    let create = || {
        client.create_model().model_name(&name).primary_container(ContainerDefinition::builder().image("img").build())
    };
    let started = std::time::Instant::now();
    let err = create().send().await.expect_err("a create went through while the lock was held");
    let waited = started.elapsed();
    assert_eq!(err.code(), Some("ThrottlingException"), "{err:?}");
    assert_eq!(err.message(), Some("Rate exceeded"), "{err:?}");
    assert!(waited >= Duration::from_millis(900) && waited < Duration::from_secs(8), "answered after {waited:?}");

    writeln!(stdin, "COMMIT;").unwrap();
    drop(stdin);
    holder.wait().unwrap();
    let missing = client.describe_model().model_name(&name).send().await.expect_err("the refused create was stored");
    assert!(missing.message().unwrap_or_default().starts_with("Could not find model"), "{missing:?}");
    create().send().await.expect("the same create once the lock is free");
    client.describe_model().model_name(&name).send().await.expect("stored");
}
