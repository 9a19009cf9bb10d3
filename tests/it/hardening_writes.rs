//! The state store's write queue (`--max-queued-writes`): while its writer cannot commit, writes
//! past the bound get the real `ThrottlingException` at once and change nothing; those queued
//! commit once it can, and smemu answers as before.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use aws_sdk_sagemaker::error::ProvideErrorMetadata;
use aws_sdk_sagemaker::types::ContainerDefinition;

use crate::common::{Smemu, sdk_config, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_past_the_write_queue_get_throttling_exception_and_the_queued_ones_commit() {
    let smemu = Smemu::start_fresh_with(&["--max-queued-writes", "2"]);
    let config = aws_sdk_sagemaker::config::Builder::from(&sdk_config(&smemu.url, "AKIDSMEMUTEST", "us-east-1").await)
        // The SDK retries throttling: one attempt shows the answer itself.
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .build();
    let client = aws_sdk_sagemaker::Client::from_conf(config);
    // A hand-run sqlite3 holding the write lock: smemu's writer waits for it (the only wait it has).
    let mut holder = Command::new("sqlite3")
        .arg(smemu.data_dir.join(smemu::STATE_FILE))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sqlite3");
    let mut stdin = holder.stdin.take().expect("stdin");
    writeln!(stdin, "BEGIN IMMEDIATE;\nSELECT 'locked';").unwrap();
    stdin.flush().unwrap();
    let mut line = String::new();
    BufReader::new(holder.stdout.take().expect("stdout")).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "locked");

    // One create at a time until one is answered at once: the writer holds one, the queue two.
    let prefix = unique("queued");
    let mut waiting = Vec::new();
    let mut refused = None;
    for i in 0..10 {
        let (client, name) = (client.clone(), format!("{prefix}-{i}"));
        let mut call = tokio::spawn(async move {
            let answer = client
                .create_model()
                .model_name(&name)
                .primary_container(ContainerDefinition::builder().image("img").build())
                .send()
                .await;
            (name, answer)
        });
        match tokio::time::timeout(Duration::from_millis(500), &mut call).await {
            Ok(done) => {
                refused = Some(done.unwrap());
                break;
            }
            Err(_) => waiting.push(call),
        }
    }
    let (name, answer) = refused.expect("no create was refused past a queue of 2");
    let err = answer.expect_err("a create past the queue succeeded");
    assert_eq!(err.code(), Some("ThrottlingException"), "{err:?}");
    assert_eq!(err.message(), Some("Rate exceeded"), "{err:?}");
    assert!(waiting.len() <= 3, "{} creates waited behind a queue of 2", waiting.len());

    writeln!(stdin, "COMMIT;").unwrap();
    drop(stdin);
    holder.wait().unwrap();
    for call in waiting {
        let (queued, answer) = call.await.unwrap();
        answer.unwrap_or_else(|e| panic!("queued create {queued}: {e:?}"));
        client.describe_model().model_name(&queued).send().await.unwrap();
    }
    let missing = client.describe_model().model_name(&name).send().await.expect_err("the refused create was stored");
    assert!(missing.message().unwrap_or_default().starts_with("Could not find model"), "{missing:?}");
    // The queue drained: creates are accepted again.
    client
        .create_model()
        .model_name(format!("{prefix}-after"))
        .primary_container(ContainerDefinition::builder().image("img").build())
        .send()
        .await
        .unwrap();
}
