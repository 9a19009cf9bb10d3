//! InvokeEndpointAsync's queue in the store: order, the per-endpoint bound, durability across a
//! reopen, finishing twice, and dropping an endpoint's queue; run bare and behind the cache.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A test fails by panicking.

use serde_json::json;
use smemu_store::{AsyncRequestRecord, CachedStore, Scope, SqliteStore, Store};

fn scope(account: &str) -> Scope {
    Scope { account: account.into(), region: "us-east-1".into() }
}

fn request(scope: &Scope, endpoint: &str, id: &str) -> AsyncRequestRecord {
    AsyncRequestRecord {
        seq: 0,
        scope: scope.clone(),
        endpoint: endpoint.into(),
        inference_id: id.into(),
        accepted_ms: 1_000,
        request: json!({"input": format!("s3://in/{id}")}),
    }
}

fn ids(records: &[AsyncRequestRecord]) -> Vec<&str> {
    records.iter().map(|r| r.inference_id.as_str()).collect()
}

async fn queue_scenario(store: &dyn Store) {
    let a = scope("111111111111");
    let b = scope("222222222222");
    let first = store.enqueue_async_request(&request(&a, "Ep", "one"), 2).await.unwrap().unwrap();
    let second = store.enqueue_async_request(&request(&a, "ep", "two"), 2).await.unwrap().unwrap();
    assert!(second > first, "seq grows: {first} then {second}");
    // The endpoint's bound counts names case-insensitively, per scope.
    assert_eq!(store.enqueue_async_request(&request(&a, "EP", "three"), 2).await.unwrap(), None);
    store.enqueue_async_request(&request(&b, "ep", "other-account"), 2).await.unwrap().unwrap();
    store.enqueue_async_request(&request(&a, "other", "four"), 2).await.unwrap().unwrap();

    let mut endpoints = store.endpoints_with_async_requests().await.unwrap();
    endpoints.sort_by(|x, y| (&x.0.account, x.1.to_lowercase()).cmp(&(&y.0.account, y.1.to_lowercase())));
    let endpoints: Vec<(&str, String)> =
        endpoints.iter().map(|(s, e)| (s.account.as_str(), e.to_lowercase())).collect();
    assert_eq!(
        endpoints,
        [("111111111111", "ep".into()), ("111111111111", "other".into()), ("222222222222", "ep".into())]
    );

    let queued = store.queued_async_requests(&a, "EP", 100).await.unwrap();
    assert_eq!(ids(&queued), ["one", "two"]);
    assert_eq!(queued[0].request, json!({"input": "s3://in/one"}));
    assert_eq!(queued[0].scope, a);
    assert_eq!(ids(&store.queued_async_requests(&a, "ep", 1).await.unwrap()), ["one"]);
    assert_eq!(ids(&store.queued_async_requests(&b, "ep", 10).await.unwrap()), ["other-account"]);

    store.finish_async_request(first).await.unwrap();
    store.finish_async_request(first).await.unwrap(); // twice is no error
    assert_eq!(ids(&store.queued_async_requests(&a, "ep", 10).await.unwrap()), ["two"]);
    // A place freed is a place again.
    store.enqueue_async_request(&request(&a, "ep", "five"), 2).await.unwrap().unwrap();

    assert_eq!(store.drop_async_requests(&a, "EP").await.unwrap(), 2);
    assert!(store.queued_async_requests(&a, "ep", 10).await.unwrap().is_empty());
    assert_eq!(ids(&store.queued_async_requests(&b, "ep", 10).await.unwrap()), ["other-account"]);
    assert_eq!(ids(&store.queued_async_requests(&a, "other", 10).await.unwrap()), ["four"]);
}

#[tokio::test]
async fn sqlite_store_keeps_the_async_queue() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("state.db")).await.unwrap();
    queue_scenario(&store).await;
}

#[tokio::test]
async fn cached_sqlite_store_keeps_the_async_queue() {
    let dir = tempfile::tempdir().unwrap();
    let store = CachedStore::new(SqliteStore::open(&dir.path().join("state.db")).await.unwrap());
    queue_scenario(&store).await;
}

#[tokio::test]
async fn queued_requests_survive_a_reopen_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let a = scope("111111111111");
    {
        let store = SqliteStore::open(&path).await.unwrap();
        for id in ["x", "y", "z"] {
            store.enqueue_async_request(&request(&a, "ep", id), 10).await.unwrap().unwrap();
        }
        store.close().await;
    }
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(ids(&store.queued_async_requests(&a, "ep", 10).await.unwrap()), ["x", "y", "z"]);
}
