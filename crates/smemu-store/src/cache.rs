//! A read-through cache of the immutable records (models, endpoint configurations) in front of
//! any [`Store`]: [`CachedStore`].
//!
//! Sound because an implementation refuses every change of those records (SQLite: the schema's
//! triggers): a record read once stays true until it is deleted. Deletes bump an epoch, so a read
//! that raced a delete never puts the deleted record back. Only this process writes the store
//! (one smemu per data directory), so no delete happens behind the cache's back. What changes
//! (endpoints, transform jobs, tags, lists) and what is absent are always asked of the inner store.
//!
//! Why: Describe calls are the hot path of SageMaker clients' polling, and each SQLite read costs
//! a hand-off to sqlx's connection thread and back, which dominates a small request on 2 cores.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use smemu_types::sagemaker::TransformJobStatus;

use crate::{
    AsyncRequestRecord, EndpointRecord, EndpointSummary, ImmutableKind, ListQuery, Page, Record, Scope, Store,
    StoreError, Summary, Tag, TransformJobRecord,
};

/// A [`Store`] that answers repeated reads of models and endpoint configurations from memory and
/// passes every other call to `S` unchanged.
///
/// Deliberately not `Clone`: two copies would hold two caches, and a delete through one would
/// leave the other answering the deleted record. Share one behind an `Arc`.
#[derive(Debug)]
pub struct CachedStore<S> {
    inner: S,
    immutable: ImmutableCache,
}

impl<S: Store> CachedStore<S> {
    /// Wraps `inner`, starting with nothing cached.
    pub fn new(inner: S) -> Self {
        CachedStore { inner, immutable: ImmutableCache::default() }
    }

    /// The wrapped store, for what only it offers (such as closing it).
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

#[async_trait]
impl<S: Store> Store for CachedStore<S> {
    async fn create(&self, kind: ImmutableKind, record: &Record, tags: &[Tag]) -> Result<(), StoreError> {
        // Not filled here: the cache holds only what the inner store answered (its stored form).
        self.inner.create(kind, record, tags).await
    }

    async fn get(&self, kind: ImmutableKind, scope: &Scope, name: &str) -> Result<Record, StoreError> {
        let ticket = match self.immutable.get(kind, scope, name) {
            Ok(record) => return Ok(record),
            Err(ticket) => ticket,
        };
        // `NotFound` is not kept: a create may follow at any time.
        let record = self.inner.get(kind, scope, name).await?;
        self.immutable.fill(kind, ticket, &record);
        Ok(record)
    }

    async fn delete(&self, kind: ImmutableKind, scope: &Scope, name: &str) -> Result<(), StoreError> {
        let result = self.inner.delete(kind, scope, name).await;
        // Forgotten whatever the answer: an error does not prove the record is still there.
        self.immutable.forget(kind, scope, name);
        result
    }

    async fn list(&self, kind: ImmutableKind, scope: &Scope, query: &ListQuery) -> Result<Page<Summary>, StoreError> {
        self.inner.list(kind, scope, query).await
    }

    async fn create_endpoint(&self, record: &EndpointRecord, tags: &[Tag]) -> Result<(), StoreError> {
        self.inner.create_endpoint(record, tags).await
    }

    async fn get_endpoint(&self, scope: &Scope, name: &str) -> Result<EndpointRecord, StoreError> {
        self.inner.get_endpoint(scope, name).await
    }

    async fn update_endpoint(&self, record: &EndpointRecord) -> Result<EndpointRecord, StoreError> {
        self.inner.update_endpoint(record).await
    }

    async fn delete_endpoint(&self, scope: &Scope, name: &str, version: i64) -> Result<(), StoreError> {
        self.inner.delete_endpoint(scope, name, version).await
    }

    async fn list_endpoints(&self, scope: &Scope, query: &ListQuery) -> Result<Page<EndpointSummary>, StoreError> {
        self.inner.list_endpoints(scope, query).await
    }

    async fn all_endpoints(&self) -> Result<Vec<EndpointRecord>, StoreError> {
        self.inner.all_endpoints().await
    }

    async fn create_transform_job(&self, record: &TransformJobRecord, tags: &[Tag]) -> Result<(), StoreError> {
        self.inner.create_transform_job(record, tags).await
    }

    async fn get_transform_job(&self, scope: &Scope, name: &str) -> Result<TransformJobRecord, StoreError> {
        self.inner.get_transform_job(scope, name).await
    }

    async fn update_transform_job(&self, record: &TransformJobRecord) -> Result<TransformJobRecord, StoreError> {
        self.inner.update_transform_job(record).await
    }

    async fn list_transform_jobs(
        &self,
        scope: &Scope,
        query: &ListQuery,
    ) -> Result<Page<TransformJobRecord>, StoreError> {
        self.inner.list_transform_jobs(scope, query).await
    }

    async fn transform_jobs_with_status(
        &self,
        statuses: &[TransformJobStatus],
    ) -> Result<Vec<TransformJobRecord>, StoreError> {
        self.inner.transform_jobs_with_status(statuses).await
    }

    async fn arn_exists(&self, arn: &str) -> Result<bool, StoreError> {
        self.inner.arn_exists(arn).await
    }

    async fn add_tags(&self, arn: &str, tags: &[Tag]) -> Result<Vec<Tag>, StoreError> {
        self.inner.add_tags(arn, tags).await
    }

    async fn list_tags(&self, arn: &str, offset: u64, limit: u32) -> Result<Page<Tag>, StoreError> {
        self.inner.list_tags(arn, offset, limit).await
    }

    async fn delete_tags(&self, arn: &str, keys: &[String]) -> Result<(), StoreError> {
        self.inner.delete_tags(arn, keys).await
    }

    async fn enqueue_async_request(
        &self,
        record: &AsyncRequestRecord,
        max_queued: u64,
    ) -> Result<Option<i64>, StoreError> {
        self.inner.enqueue_async_request(record, max_queued).await
    }

    async fn endpoints_with_async_requests(&self) -> Result<Vec<(Scope, String)>, StoreError> {
        self.inner.endpoints_with_async_requests().await
    }

    async fn queued_async_requests(
        &self,
        scope: &Scope,
        endpoint: &str,
        limit: u32,
    ) -> Result<Vec<AsyncRequestRecord>, StoreError> {
        self.inner.queued_async_requests(scope, endpoint, limit).await
    }

    async fn finish_async_request(&self, seq: i64) -> Result<(), StoreError> {
        self.inner.finish_async_request(seq).await
    }

    async fn drop_async_requests(&self, scope: &Scope, endpoint: &str) -> Result<u64, StoreError> {
        self.inner.drop_async_requests(scope, endpoint).await
    }
}

/// Immutable records by kind, scope and name (names compare case-insensitively, as `COLLATE NOCASE`).
#[derive(Debug, Default)]
struct ImmutableCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Bumped by every delete.
    epoch: u64,
    records: HashMap<Key, Record>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    kind: ImmutableKind,
    account: String,
    region: String,
    name: String,
}

impl Key {
    fn new(kind: ImmutableKind, scope: &Scope, name: &str) -> Key {
        Key {
            kind,
            account: scope.account.clone(),
            region: scope.region.clone(),
            // SQLite's NOCASE folds ASCII letters only; names are ASCII by their pattern anyway.
            name: name.to_ascii_lowercase(),
        }
    }
}

/// What a reader saw before it went to the inner store: [`ImmutableCache::fill`] keeps its result
/// only if no delete happened in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ticket(u64);

impl ImmutableCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The map holds plain data: a panic elsewhere cannot leave it half-changed.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached record, or a ticket to fill the cache with what the inner store answers.
    fn get(&self, kind: ImmutableKind, scope: &Scope, name: &str) -> Result<Record, Ticket> {
        let inner = self.lock();
        inner.records.get(&Key::new(kind, scope, name)).cloned().ok_or(Ticket(inner.epoch))
    }

    /// Keeps a record read from the inner store, unless a delete came after the ticket was taken.
    fn fill(&self, kind: ImmutableKind, ticket: Ticket, record: &Record) {
        let mut inner = self.lock();
        if inner.epoch == ticket.0 {
            inner.records.insert(Key::new(kind, &record.scope, &record.name), record.clone());
        }
    }

    /// Forgets a deleted record; called after the delete returned.
    fn forget(&self, kind: ImmutableKind, scope: &Scope, name: &str) {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.records.remove(&Key::new(kind, scope, name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smemu_types::sagemaker::EndpointStatus;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn record(name: &str) -> Record {
        Record {
            scope: Scope { account: "111111111111".into(), region: "us-east-1".into() },
            name: name.into(),
            arn: format!("arn:aws:sagemaker:us-east-1:111111111111:model/{}", name.to_lowercase()),
            created_ms: 1,
            spec: serde_json::json!({}),
        }
    }

    #[test]
    fn a_filled_record_is_found_by_any_case_of_its_name_in_its_scope_only() {
        let cache = ImmutableCache::default();
        let model = record("Churn");
        let ticket = cache.get(ImmutableKind::Model, &model.scope, "churn").unwrap_err();
        cache.fill(ImmutableKind::Model, ticket, &model);
        assert_eq!(cache.get(ImmutableKind::Model, &model.scope, "CHURN"), Ok(model.clone()));
        let other = Scope { account: "222222222222".into(), region: "us-east-1".into() };
        assert!(cache.get(ImmutableKind::Model, &other, "churn").is_err());
        assert!(cache.get(ImmutableKind::EndpointConfig, &model.scope, "churn").is_err());
    }

    #[test]
    fn a_read_that_raced_a_delete_does_not_bring_the_record_back() {
        let cache = ImmutableCache::default();
        let model = record("churn");
        let ticket = cache.get(ImmutableKind::Model, &model.scope, "churn").unwrap_err();
        cache.forget(ImmutableKind::Model, &model.scope, "churn");
        cache.fill(ImmutableKind::Model, ticket, &model);
        assert!(cache.get(ImmutableKind::Model, &model.scope, "churn").is_err());
    }

    #[test]
    fn a_delete_forgets_the_record() {
        let cache = ImmutableCache::default();
        let model = record("churn");
        let ticket = cache.get(ImmutableKind::Model, &model.scope, "churn").unwrap_err();
        cache.fill(ImmutableKind::Model, ticket, &model);
        cache.forget(ImmutableKind::Model, &model.scope, "Churn");
        assert!(cache.get(ImmutableKind::Model, &model.scope, "churn").is_err());
    }

    /// A second, trivial [`Store`]: immutable records and endpoints in maps, counting how often it
    /// is asked for a record; what these tests do not use answers empty.
    #[derive(Default)]
    struct MemoryStore {
        records: Mutex<HashMap<(ImmutableKind, String), Record>>,
        endpoints: Mutex<HashMap<String, EndpointRecord>>,
        gets: AtomicUsize,
        endpoint_gets: AtomicUsize,
    }

    impl MemoryStore {
        fn gets(&self) -> usize {
            self.gets.load(Ordering::SeqCst)
        }
    }

    fn not_found(kind: &'static str, name: &str) -> StoreError {
        StoreError::NotFound { kind, name: name.to_owned() }
    }

    #[async_trait]
    impl Store for MemoryStore {
        async fn create(&self, kind: ImmutableKind, record: &Record, _: &[Tag]) -> Result<(), StoreError> {
            let key = (kind, record.name.to_ascii_lowercase());
            let mut records = self.records.lock().unwrap();
            if records.contains_key(&key) {
                return Err(StoreError::AlreadyExists { kind: kind.noun(), name: record.name.clone() });
            }
            records.insert(key, record.clone());
            Ok(())
        }
        async fn get(&self, kind: ImmutableKind, _: &Scope, name: &str) -> Result<Record, StoreError> {
            self.gets.fetch_add(1, Ordering::SeqCst);
            let records = self.records.lock().unwrap();
            records.get(&(kind, name.to_ascii_lowercase())).cloned().ok_or_else(|| not_found(kind.noun(), name))
        }
        async fn delete(&self, kind: ImmutableKind, _: &Scope, name: &str) -> Result<(), StoreError> {
            let removed = self.records.lock().unwrap().remove(&(kind, name.to_ascii_lowercase()));
            removed.map(|_| ()).ok_or_else(|| not_found(kind.noun(), name))
        }
        async fn list(&self, _: ImmutableKind, _: &Scope, _: &ListQuery) -> Result<Page<Summary>, StoreError> {
            Ok(Page { items: Vec::new(), more: false })
        }
        async fn create_endpoint(&self, record: &EndpointRecord, _: &[Tag]) -> Result<(), StoreError> {
            self.endpoints.lock().unwrap().insert(record.name.to_ascii_lowercase(), record.clone());
            Ok(())
        }
        async fn get_endpoint(&self, _: &Scope, name: &str) -> Result<EndpointRecord, StoreError> {
            self.endpoint_gets.fetch_add(1, Ordering::SeqCst);
            let endpoints = self.endpoints.lock().unwrap();
            endpoints.get(&name.to_ascii_lowercase()).cloned().ok_or_else(|| not_found("endpoint", name))
        }
        async fn update_endpoint(&self, record: &EndpointRecord) -> Result<EndpointRecord, StoreError> {
            let stored = EndpointRecord { version: record.version + 1, ..record.clone() };
            self.endpoints.lock().unwrap().insert(record.name.to_ascii_lowercase(), stored.clone());
            Ok(stored)
        }
        async fn delete_endpoint(&self, _: &Scope, name: &str, _: i64) -> Result<(), StoreError> {
            self.endpoints.lock().unwrap().remove(&name.to_ascii_lowercase());
            Ok(())
        }
        async fn list_endpoints(&self, _: &Scope, _: &ListQuery) -> Result<Page<EndpointSummary>, StoreError> {
            Ok(Page { items: Vec::new(), more: false })
        }
        async fn all_endpoints(&self) -> Result<Vec<EndpointRecord>, StoreError> {
            Ok(self.endpoints.lock().unwrap().values().cloned().collect())
        }
        async fn create_transform_job(&self, _: &TransformJobRecord, _: &[Tag]) -> Result<(), StoreError> {
            Ok(())
        }
        async fn get_transform_job(&self, _: &Scope, name: &str) -> Result<TransformJobRecord, StoreError> {
            Err(not_found("transform job", name))
        }
        async fn update_transform_job(&self, record: &TransformJobRecord) -> Result<TransformJobRecord, StoreError> {
            Ok(record.clone())
        }
        async fn list_transform_jobs(&self, _: &Scope, _: &ListQuery) -> Result<Page<TransformJobRecord>, StoreError> {
            Ok(Page { items: Vec::new(), more: false })
        }
        async fn transform_jobs_with_status(
            &self,
            _: &[TransformJobStatus],
        ) -> Result<Vec<TransformJobRecord>, StoreError> {
            Ok(Vec::new())
        }
        async fn arn_exists(&self, _: &str) -> Result<bool, StoreError> {
            Ok(false)
        }
        async fn add_tags(&self, _: &str, tags: &[Tag]) -> Result<Vec<Tag>, StoreError> {
            Ok(tags.to_vec())
        }
        async fn list_tags(&self, _: &str, _: u64, _: u32) -> Result<Page<Tag>, StoreError> {
            Ok(Page { items: Vec::new(), more: false })
        }
        async fn delete_tags(&self, _: &str, _: &[String]) -> Result<(), StoreError> {
            Ok(())
        }
        async fn enqueue_async_request(&self, _: &AsyncRequestRecord, _: u64) -> Result<Option<i64>, StoreError> {
            Ok(None)
        }
        async fn endpoints_with_async_requests(&self) -> Result<Vec<(Scope, String)>, StoreError> {
            Ok(Vec::new())
        }
        async fn queued_async_requests(
            &self,
            _: &Scope,
            _: &str,
            _: u32,
        ) -> Result<Vec<AsyncRequestRecord>, StoreError> {
            Ok(Vec::new())
        }
        async fn finish_async_request(&self, _: i64) -> Result<(), StoreError> {
            Ok(())
        }
        async fn drop_async_requests(&self, _: &Scope, _: &str) -> Result<u64, StoreError> {
            Ok(0)
        }
    }

    fn endpoint(status: EndpointStatus) -> EndpointRecord {
        EndpointRecord {
            scope: record("x").scope,
            name: "Ep".into(),
            arn: "arn:aws:sagemaker:us-east-1:111111111111:endpoint/ep".into(),
            status,
            created_ms: 1,
            modified_ms: 1,
            version: 1,
            state: serde_json::json!({}),
        }
    }

    #[tokio::test]
    async fn repeated_reads_of_an_immutable_record_ask_the_inner_store_once() {
        let store = CachedStore::new(MemoryStore::default());
        let model = record("Churn");
        store.create(ImmutableKind::Model, &model, &[]).await.unwrap();
        for name in ["Churn", "churn", "CHURN"] {
            assert_eq!(store.get(ImmutableKind::Model, &model.scope, name).await.unwrap(), model);
        }
        assert_eq!(store.inner().gets(), 1);
        // Another kind of the same name is its own entry.
        store.create(ImmutableKind::EndpointConfig, &model, &[]).await.unwrap();
        store.get(ImmutableKind::EndpointConfig, &model.scope, "churn").await.unwrap();
        store.get(ImmutableKind::EndpointConfig, &model.scope, "churn").await.unwrap();
        assert_eq!(store.inner().gets(), 2);
    }

    #[tokio::test]
    async fn an_absent_record_is_asked_again_and_found_once_created() {
        let store = CachedStore::new(MemoryStore::default());
        let model = record("late");
        let missing = store.get(ImmutableKind::Model, &model.scope, "late").await.unwrap_err();
        assert!(matches!(missing, StoreError::NotFound { .. }), "{missing:?}");
        store.create(ImmutableKind::Model, &model, &[]).await.unwrap();
        assert_eq!(store.get(ImmutableKind::Model, &model.scope, "late").await.unwrap(), model);
        assert_eq!(store.inner().gets(), 2);
    }

    #[tokio::test]
    async fn a_deleted_record_is_not_answered_from_the_cache() {
        let store = CachedStore::new(MemoryStore::default());
        let model = record("gone");
        store.create(ImmutableKind::Model, &model, &[]).await.unwrap();
        store.get(ImmutableKind::Model, &model.scope, "gone").await.unwrap();
        store.delete(ImmutableKind::Model, &model.scope, "GONE").await.unwrap();
        let missing = store.get(ImmutableKind::Model, &model.scope, "gone").await.unwrap_err();
        assert!(matches!(missing, StoreError::NotFound { .. }), "{missing:?}");
        // A new record of the same name is the new one, not the cached old one.
        let again = Record { created_ms: 2, ..model };
        store.create(ImmutableKind::Model, &again, &[]).await.unwrap();
        assert_eq!(store.get(ImmutableKind::Model, &again.scope, "gone").await.unwrap().created_ms, 2);
    }

    #[tokio::test]
    async fn endpoints_change_so_every_read_asks_the_inner_store() {
        let store = CachedStore::new(MemoryStore::default());
        let created = endpoint(EndpointStatus::Creating);
        store.create_endpoint(&created, &[]).await.unwrap();
        let read = store.get_endpoint(&created.scope, "ep").await.unwrap();
        assert_eq!(read.status, EndpointStatus::Creating);
        store.update_endpoint(&EndpointRecord { status: EndpointStatus::InService, ..read }).await.unwrap();
        let read = store.get_endpoint(&created.scope, "ep").await.unwrap();
        assert_eq!((read.status, read.version), (EndpointStatus::InService, 2));
        assert_eq!(store.inner().endpoint_gets.load(Ordering::SeqCst), 2);
        assert_eq!(store.inner().gets(), 0);
    }
}
