//! One scenario, generic over [`Store`], run against every implementation (today: SQLite, bare and
//! behind the read-through cache that smemu runs).
#![allow(clippy::unwrap_used, clippy::expect_used)] // A test fails by panicking.

use serde_json::json;
use smemu_store::{
    CachedStore, EndpointRecord, ImmutableKind, ListQuery, Record, Scope, SortKey, SortOrder, SqliteStore, Store,
    StoreError, Tag, TransformJobRecord,
};
use smemu_types::sagemaker::{EndpointStatus, TransformJobStatus};

fn scope(account: &str) -> Scope {
    Scope { account: account.into(), region: "us-east-1".into() }
}

fn record(scope: &Scope, name: &str, created_ms: i64) -> Record {
    Record {
        scope: scope.clone(),
        name: name.into(),
        arn: format!("arn:aws:sagemaker:{}:{}:model/{}", scope.region, scope.account, name.to_lowercase()),
        created_ms,
        spec: json!({"PrimaryContainer": {"Image": "img"}}),
    }
}

fn tag(key: &str, value: &str) -> Tag {
    Tag { key: key.into(), value: value.into() }
}

async fn scenario(store: &dyn Store) {
    let a = scope("111111111111");
    let b = scope("222222222222");
    let model = ImmutableKind::Model;

    store.create(model, &record(&a, "Alpha", 1_000), &[tag("team", "x")]).await.unwrap();
    store.create(model, &record(&a, "beta", 2_000), &[]).await.unwrap();
    store.create(model, &record(&a, "gamma", 3_000), &[]).await.unwrap();

    // Names are unique case-insensitively within a scope, but another account may reuse one.
    let dup = store.create(model, &record(&a, "ALPHA", 4_000), &[]).await.unwrap_err();
    assert!(matches!(dup, StoreError::AlreadyExists { .. }), "{dup:?}");
    store.create(model, &record(&b, "Alpha", 4_000), &[]).await.unwrap();

    let got = store.get(model, &a, "alpha").await.unwrap();
    assert_eq!(got.name, "Alpha");
    assert_eq!(got.spec, json!({"PrimaryContainer": {"Image": "img"}}));
    assert!(matches!(store.get(model, &a, "nope").await, Err(StoreError::NotFound { .. })));
    assert!(matches!(store.get(ImmutableKind::EndpointConfig, &a, "Alpha").await, Err(StoreError::NotFound { .. })));

    // Default order: newest first; pages neither overlap nor skip.
    let q = ListQuery { limit: 2, ..Default::default() };
    let first = store.list(model, &a, &q).await.unwrap();
    assert_eq!(first.items.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["gamma", "beta"]);
    assert!(first.more);
    let second = store.list(model, &a, &ListQuery { offset: 2, ..q.clone() }).await.unwrap();
    assert_eq!(second.items.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["Alpha"]);
    assert!(!second.more);

    let filtered = ListQuery {
        name_contains: Some("A".into()),
        created_after_ms: Some(2_000),
        sort_by: SortKey::Name,
        sort_order: SortOrder::Ascending,
        limit: 10,
        ..Default::default()
    };
    let page = store.list(model, &a, &filtered).await.unwrap();
    assert_eq!(page.items.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["beta", "gamma"]);
    let before = ListQuery { created_before_ms: Some(2_000), limit: 10, ..Default::default() };
    let page = store.list(model, &a, &before).await.unwrap();
    assert_eq!(page.items.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["Alpha"]);

    // Tags: upsert by key, insertion order, limit of 50 enforced atomically.
    let arn = got.arn.clone();
    assert!(store.arn_exists(&arn).await.unwrap());
    let all = store.add_tags(&arn, &[tag("team", "y"), tag("env", "dev")]).await.unwrap();
    assert_eq!(all, [tag("team", "y"), tag("env", "dev")]);
    let too_many: Vec<Tag> = (0..49).map(|i| tag(&format!("k{i}"), "v")).collect();
    let err = store.add_tags(&arn, &too_many).await.unwrap_err();
    assert!(matches!(err, StoreError::TooManyTags { count: 51, .. }), "{err:?}");
    assert_eq!(store.list_tags(&arn, 0, 100).await.unwrap().items.len(), 2);
    store.delete_tags(&arn, &["env".into(), "absent".into()]).await.unwrap();
    assert_eq!(store.list_tags(&arn, 0, 100).await.unwrap().items, [tag("team", "y")]);

    // Deleting takes the tags along; a new resource of the same name starts clean.
    store.delete(model, &a, "Alpha").await.unwrap();
    assert!(!store.arn_exists(&arn).await.unwrap());
    assert!(matches!(store.delete(model, &a, "Alpha").await, Err(StoreError::NotFound { .. })));
    assert!(matches!(store.get(model, &a, "alpha").await, Err(StoreError::NotFound { .. })));
    store.create(model, &record(&a, "Alpha", 5_000), &[]).await.unwrap();
    assert_eq!(store.get(model, &a, "ALPHA").await.unwrap().created_ms, 5_000);
    assert!(store.list_tags(&arn, 0, 100).await.unwrap().items.is_empty());

    transform_jobs(store, &a, &b).await;
}

fn job(scope: &Scope, name: &str, created_ms: i64) -> TransformJobRecord {
    TransformJobRecord {
        scope: scope.clone(),
        name: name.into(),
        arn: format!("arn:aws:sagemaker:{}:{}:transform-job/{}", scope.region, scope.account, name.to_lowercase()),
        status: TransformJobStatus::InProgress,
        created_ms,
        modified_ms: created_ms,
        version: 1,
        state: json!({"ModelName": "m"}),
    }
}

/// Transform jobs: unique names per scope (case-insensitively), compare-and-set, list filters
/// returning whole records, the start-up query by status, tags on job ARNs.
async fn transform_jobs(store: &dyn Store, a: &Scope, b: &Scope) {
    let first = job(a, "Nightly", 10_000);
    store.create_transform_job(&first, &[tag("k", "v")]).await.unwrap();
    store.create_transform_job(&job(a, "hourly", 11_000), &[]).await.unwrap();
    let dup = store.create_transform_job(&job(a, "NIGHTLY", 12_000), &[]).await.unwrap_err();
    assert!(matches!(dup, StoreError::AlreadyExists { kind: "transform job", .. }), "{dup:?}");
    store.create_transform_job(&job(b, "Nightly", 12_000), &[]).await.unwrap();
    let missing = store.get_transform_job(a, "nope").await.unwrap_err();
    assert!(matches!(missing, StoreError::NotFound { kind: "transform job", .. }), "{missing:?}");

    let read = store.get_transform_job(a, "nightly").await.unwrap();
    assert_eq!((read.name.as_str(), read.version), ("Nightly", 1));
    let done = TransformJobRecord {
        status: TransformJobStatus::Completed,
        modified_ms: 20_000,
        state: json!({"ModelName": "m", "EndMs": 20_000}),
        ..read.clone()
    };
    assert_eq!(store.update_transform_job(&done).await.unwrap().version, 2);
    let stale = store.update_transform_job(&TransformJobRecord { status: TransformJobStatus::Stopping, ..read }).await;
    assert!(matches!(stale, Err(StoreError::Conflict { .. })), "{stale:?}");
    assert_eq!(store.get_transform_job(a, "Nightly").await.unwrap().state["EndMs"], 20_000);

    let completed = ListQuery { status_equals: Some("Completed".into()), limit: 10, ..Default::default() };
    let page = store.list_transform_jobs(a, &completed).await.unwrap();
    assert_eq!(page.items.iter().map(|j| j.name.as_str()).collect::<Vec<_>>(), ["Nightly"]);
    assert_eq!(page.items[0].state["EndMs"], 20_000);
    let modified = ListQuery { modified_after_ms: Some(15_000), limit: 10, ..Default::default() };
    assert_eq!(store.list_transform_jobs(a, &modified).await.unwrap().items.len(), 1);
    let by_status =
        ListQuery { sort_by: SortKey::Status, sort_order: SortOrder::Ascending, limit: 1, ..Default::default() };
    let page = store.list_transform_jobs(a, &by_status).await.unwrap();
    assert_eq!((page.items[0].status.as_str(), page.more), ("Completed", true));

    let running = store
        .transform_jobs_with_status(&[TransformJobStatus::InProgress, TransformJobStatus::Stopping])
        .await
        .unwrap();
    assert_eq!(
        running.iter().map(|j| (j.scope.account.as_str(), j.name.as_str())).collect::<Vec<_>>(),
        [("111111111111", "hourly"), ("222222222222", "Nightly")]
    );
    assert!(store.transform_jobs_with_status(&[]).await.unwrap().is_empty());

    assert!(store.arn_exists(&first.arn).await.unwrap());
    store.add_tags(&first.arn, &[tag("env", "dev")]).await.unwrap();
    assert_eq!(store.list_tags(&first.arn, 0, 10).await.unwrap().items, [tag("k", "v"), tag("env", "dev")]);
}

#[tokio::test]
async fn sqlite_store_passes_the_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("state.db")).await.unwrap();
    scenario(&store).await;
}

#[tokio::test]
async fn cached_sqlite_store_passes_the_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let store = CachedStore::new(SqliteStore::open(&dir.path().join("state.db")).await.unwrap());
    scenario(&store).await;
}

#[tokio::test]
async fn concurrent_creates_of_one_name_have_exactly_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("state.db")).await.unwrap();
    let a = scope("111111111111");
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            let rec = record(&a, if i % 2 == 0 { "race" } else { "RACE" }, i);
            tokio::spawn(async move { store.create(ImmutableKind::Model, &rec, &[]).await })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => wins += 1,
            Err(StoreError::AlreadyExists { .. }) => {}
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn the_database_itself_refuses_to_update_a_model_or_config() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("state.db")).await.unwrap();
    let a = scope("111111111111");
    store.create(ImmutableKind::Model, &record(&a, "frozen", 1), &[]).await.unwrap();
    store.create(ImmutableKind::EndpointConfig, &record(&a, "frozen", 1), &[]).await.unwrap();
    for (table, text) in
        [("models", "models are immutable"), ("endpoint_configs", "endpoint configurations are immutable")]
    {
        let err = sqlx::query(&format!("UPDATE {table} SET spec = '{{}}'")).execute(store.pool()).await.unwrap_err();
        assert!(err.to_string().contains(text), "{err}");
    }
    assert_eq!(store.get(ImmutableKind::Model, &a, "frozen").await.unwrap().spec["PrimaryContainer"]["Image"], "img");
}

#[tokio::test]
async fn the_database_itself_refuses_to_delete_a_transform_job() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("state.db")).await.unwrap();
    let a = scope("111111111111");
    store.create_transform_job(&job(&a, "kept", 1), &[]).await.unwrap();
    let err = sqlx::query("DELETE FROM transform_jobs").execute(store.pool()).await.unwrap_err();
    assert!(err.to_string().contains("transform jobs are never deleted"), "{err}");
    assert_eq!(store.get_transform_job(&a, "kept").await.unwrap().status, TransformJobStatus::InProgress);
}

#[tokio::test]
async fn a_resource_taking_an_arn_does_not_get_tags_left_behind_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("state.db")).await.unwrap();
    let a = scope("111111111111");
    let model = record(&a, "reborn", 1);
    let config = record(&a, "reborn", 1);
    let config_arn = config.arn.replace(":model/", ":endpoint-config/");
    // Rows no resource owns, as a file written by an older smemu (or by hand) may hold.
    for arn in [&model.arn, &config_arn] {
        sqlx::query("INSERT INTO tags (arn, key, value) VALUES (?1, 'stale', 'x')")
            .bind(arn)
            .execute(store.pool())
            .await
            .unwrap();
    }
    store.create(ImmutableKind::Model, &model, &[tag("fresh", "y")]).await.unwrap();
    store.create(ImmutableKind::EndpointConfig, &Record { arn: config_arn.clone(), ..config }, &[]).await.unwrap();
    assert_eq!(store.list_tags(&model.arn, 0, 10).await.unwrap().items, [tag("fresh", "y")]);
    assert!(store.list_tags(&config_arn, 0, 10).await.unwrap().items.is_empty());
}

#[tokio::test]
async fn state_survives_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let a = scope("111111111111");
    {
        let store = SqliteStore::open(&path).await.unwrap();
        store.create(ImmutableKind::EndpointConfig, &record(&a, "kept", 7), &[tag("k", "v")]).await.unwrap();
        store.pool().close().await;
    }
    let store = SqliteStore::open(&path).await.unwrap();
    let got = store.get(ImmutableKind::EndpointConfig, &a, "kept").await.unwrap();
    assert_eq!(got.created_ms, 7);
    assert_eq!(store.list_tags(&got.arn, 0, 10).await.unwrap().items, [tag("k", "v")]);
}

#[tokio::test]
async fn endpoint_changes_are_compare_and_set() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("state.db")).await.unwrap();
    let a = scope("111111111111");
    let record = EndpointRecord {
        scope: a.clone(),
        name: "Ep".into(),
        arn: "arn:aws:sagemaker:us-east-1:111111111111:endpoint/ep".into(),
        status: EndpointStatus::Creating,
        created_ms: 10,
        modified_ms: 10,
        version: 1,
        state: json!({"EndpointConfigName": "c"}),
    };
    store.create_endpoint(&record, &[tag("k", "v")]).await.unwrap();
    assert!(matches!(store.create_endpoint(&record, &[]).await, Err(StoreError::AlreadyExists { .. })));
    assert!(store.arn_exists(&record.arn).await.unwrap());

    let read = store.get_endpoint(&a, "ep").await.unwrap();
    let updated = store
        .update_endpoint(&EndpointRecord { status: EndpointStatus::InService, modified_ms: 20, ..read.clone() })
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    // A writer that read version 1 loses.
    let stale = store.update_endpoint(&EndpointRecord { status: EndpointStatus::Failed, ..read.clone() }).await;
    assert!(matches!(stale, Err(StoreError::Conflict { .. })), "{stale:?}");
    assert_eq!(store.get_endpoint(&a, "EP").await.unwrap().status, EndpointStatus::InService);

    let in_service = ListQuery { status_equals: Some("InService".into()), limit: 10, ..Default::default() };
    assert_eq!(store.list_endpoints(&a, &in_service).await.unwrap().items.len(), 1);
    let creating = ListQuery { status_equals: Some("Creating".into()), limit: 10, ..Default::default() };
    assert!(store.list_endpoints(&a, &creating).await.unwrap().items.is_empty());
    assert_eq!(store.all_endpoints().await.unwrap().len(), 1);

    assert!(matches!(store.delete_endpoint(&a, "ep", 1).await, Err(StoreError::Conflict { .. })));
    assert_eq!(store.list_tags(&record.arn, 0, 10).await.unwrap().items, [tag("k", "v")], "a lost delete keeps them");
    store.delete_endpoint(&a, "ep", 2).await.unwrap();
    assert!(matches!(store.get_endpoint(&a, "ep").await, Err(StoreError::NotFound { .. })));
    assert!(!store.arn_exists(&record.arn).await.unwrap());
    assert!(store.list_tags(&record.arn, 0, 10).await.unwrap().items.is_empty(), "its tags went with it");
}
