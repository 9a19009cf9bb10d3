//! The SQLite store's one writer: writes queued together commit together, each failing alone; the
//! queue is bounded and a write past it is refused at once, changing nothing; nothing acknowledged
//! is lost when the store is dropped without closing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A test fails by panicking.

use std::time::Duration;

use serde_json::json;
use smemu_store::{ImmutableKind, Record, Scope, SqliteStore, Store, StoreError, Tag, WriterOptions};
use sqlx::Connection;

fn scope() -> Scope {
    Scope { account: "111111111111".into(), region: "us-east-1".into() }
}

fn record(name: &str) -> Record {
    Record {
        scope: scope(),
        name: name.into(),
        arn: format!("arn:aws:sagemaker:us-east-1:111111111111:model/{}", name.to_lowercase()),
        created_ms: 1,
        spec: json!({"PrimaryContainer": {"Image": "img"}}),
    }
}

/// Another connection to the file that holds the write lock until dropped or committed, so that
/// the writer waits (in SQLite's busy handler: only another connection makes it wait) while writes
/// pile up behind it.
async fn hold_the_write_lock(path: &std::path::Path) -> sqlx::SqliteConnection {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE").execute(&mut conn).await.unwrap();
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_committed_together_fail_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store.create(ImmutableKind::Model, &record("taken"), &[]).await.unwrap();
    let mut lock = hold_the_write_lock(&path).await;
    // While the writer waits, creations of new names, of a taken name, and a tag change past the
    // limit queue up; they are committed in as few transactions as the writer can.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = store.clone();
        let name = if i % 5 == 0 { "TAKEN".to_owned() } else { format!("new-{i}") };
        tasks.push(tokio::spawn(async move {
            (name.clone(), store.create(ImmutableKind::Model, &record(&name), &[]).await)
        }));
    }
    let too_many: Vec<Tag> = (0..51).map(|i| Tag { key: format!("k{i}"), value: "v".into() }).collect();
    let arn = record("taken").arn;
    let tagging = {
        let store = store.clone();
        let arn = arn.clone();
        tokio::spawn(async move { store.add_tags(&arn, &too_many).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    sqlx::query("COMMIT").execute(&mut lock).await.unwrap();
    for task in tasks {
        let (name, result) = task.await.unwrap();
        if name == "TAKEN" {
            assert!(matches!(result, Err(StoreError::AlreadyExists { .. })), "{name}: {result:?}");
        } else {
            result.unwrap_or_else(|err| panic!("{name}: {err:?}"));
            assert_eq!(store.get(ImmutableKind::Model, &scope(), &name).await.unwrap().name, name);
        }
    }
    let refused = tagging.await.unwrap().unwrap_err();
    assert!(matches!(refused, StoreError::TooManyTags { count: 51, .. }), "{refused:?}");
    assert!(store.list_tags(&arn, 0, 100).await.unwrap().items.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_past_the_queue_bound_are_refused_at_once_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let options = WriterOptions { max_queued_writes: 2, ..WriterOptions::default() };
    let store = SqliteStore::open_with(&path, options).await.unwrap();
    let mut lock = hold_the_write_lock(&path).await;
    // While the writer waits for the lock it holds at most one batch (at most 2 writes) and the
    // queue 2 more: of 10 writes at once, at least 6 are refused, and only they can answer.
    let (answers, mut answered) = tokio::sync::mpsc::unbounded_channel();
    for i in 0..10 {
        let (store, answers) = (store.clone(), answers.clone());
        tokio::spawn(async move {
            let name = format!("m-{i}");
            let result = store.create(ImmutableKind::Model, &record(&name), &[]).await;
            let _ = answers.send((name, result));
        });
    }
    let mut refused = Vec::new();
    while refused.len() < 6 {
        let (name, result) =
            tokio::time::timeout(Duration::from_secs(8), answered.recv()).await.expect("refusals").unwrap();
        assert!(matches!(result, Err(StoreError::Overloaded { queued: 2 })), "{name}: {result:?}");
        refused.push(name);
    }
    sqlx::query("COMMIT").execute(&mut lock).await.unwrap();
    drop(answers);
    let mut accepted = 0;
    while let Some((name, result)) = answered.recv().await {
        match result {
            Ok(()) => accepted += 1,
            Err(StoreError::Overloaded { .. }) => refused.push(name),
            Err(other) => panic!("{name}: {other:?}"),
        }
    }
    assert!((1..=4).contains(&accepted), "{accepted} writes accepted past a queue of 2");
    for name in &refused {
        let missing = store.get(ImmutableKind::Model, &scope(), name).await.unwrap_err();
        assert!(matches!(missing, StoreError::NotFound { .. }), "{missing:?}");
    }
    // With the queue drained, writes are accepted again.
    store.create(ImmutableKind::Model, &record("after"), &[]).await.unwrap();
}

#[tokio::test]
async fn acknowledged_writes_are_in_the_file_without_a_close() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let store = SqliteStore::open(&path).await.unwrap();
        for i in 0..50 {
            store.create(ImmutableKind::Model, &record(&format!("kept-{i}")), &[]).await.unwrap();
        }
        // Dropped without `close`: only what a commit returned is promised.
    }
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM models").fetch_one(&mut conn).await.unwrap();
    assert_eq!(count, 50);
    let check: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut conn).await.unwrap();
    assert_eq!(check, "ok");
}

#[tokio::test]
async fn close_commits_what_was_queued_and_empties_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let writes: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.create(ImmutableKind::Model, &record(&format!("q-{i}")), &[]).await })
        })
        .collect();
    for write in writes {
        write.await.unwrap().unwrap();
    }
    store.close().await;
    // The final TRUNCATE checkpoint leaves an empty WAL: everything is in the database file.
    let wal = std::fs::metadata(dir.path().join("state.db-wal")).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal, 0);
    let late = store.create(ImmutableKind::Model, &record("late"), &[]).await.unwrap_err();
    assert!(matches!(late, StoreError::Database(_)), "{late:?}");
}

/// Another process holding the write lock past the writer's lock timeout: the writes waiting are
/// refused with `Locked` (the API's `ThrottlingException`), changing nothing, and the writer goes
/// on once the lock is free; nothing else fails or stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_waiting_past_the_lock_timeout_are_refused_and_the_writer_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let options = WriterOptions { lock_timeout: Duration::from_millis(300), ..WriterOptions::default() };
    let store = SqliteStore::open_with(&path, options).await.unwrap();
    store.create(ImmutableKind::Model, &record("before"), &[]).await.unwrap();
    let mut lock = hold_the_write_lock(&path).await;
    let started = std::time::Instant::now();
    let refused = store.create(ImmutableKind::Model, &record("locked-out"), &[]).await.unwrap_err();
    assert!(matches!(refused, StoreError::Locked { .. }), "{refused:?}");
    assert!(started.elapsed() >= Duration::from_millis(300), "refused after {:?}", started.elapsed());
    // Reads go on meanwhile (WAL): the lock only stops writers.
    store.get(ImmutableKind::Model, &scope(), "before").await.unwrap();
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    store.create(ImmutableKind::Model, &record("after"), &[]).await.unwrap();
    let missing = store.get(ImmutableKind::Model, &scope(), "locked-out").await.unwrap_err();
    assert!(matches!(missing, StoreError::NotFound { .. }), "{missing:?}");
}
