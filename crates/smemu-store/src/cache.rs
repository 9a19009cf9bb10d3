//! A read-through cache of the immutable records (models, endpoint configurations).
//!
//! Sound because the database refuses every `UPDATE` of those tables: a record read once stays
//! true until it is deleted. Deletes bump an epoch, so a read that raced a delete never puts the
//! deleted record back. Only this process writes the file (one smemu per data directory).
//!
//! Why: Describe calls are the hot path of SageMaker clients' polling, and each SQLite read costs
//! a hand-off to sqlx's connection thread and back, which dominates a small request on 2 cores.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::{ImmutableKind, Record, Scope};

/// Immutable records by kind, scope and name (names compare case-insensitively, as `COLLATE NOCASE`).
#[derive(Debug, Default)]
pub(crate) struct ImmutableCache {
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
    table: &'static str,
    account: String,
    region: String,
    name: String,
}

impl Key {
    fn new(kind: ImmutableKind, scope: &Scope, name: &str) -> Key {
        Key {
            table: kind.table(),
            account: scope.account.clone(),
            region: scope.region.clone(),
            // SQLite's NOCASE folds ASCII letters only; names are ASCII by their pattern anyway.
            name: name.to_ascii_lowercase(),
        }
    }
}

/// What a reader saw before it went to the database: [`ImmutableCache::fill`] keeps its result
/// only if no delete happened in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket(u64);

impl ImmutableCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The map holds plain data: a panic elsewhere cannot leave it half-changed.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached record, or a ticket to fill the cache with what the database answers.
    pub(crate) fn get(&self, kind: ImmutableKind, scope: &Scope, name: &str) -> Result<Record, Ticket> {
        let inner = self.lock();
        inner.records.get(&Key::new(kind, scope, name)).cloned().ok_or(Ticket(inner.epoch))
    }

    /// Keeps a record read from the database, unless a delete came after the ticket was taken.
    pub(crate) fn fill(&self, kind: ImmutableKind, ticket: Ticket, record: &Record) {
        let mut inner = self.lock();
        if inner.epoch == ticket.0 {
            inner.records.insert(Key::new(kind, &record.scope, &record.name), record.clone());
        }
    }

    /// Forgets a deleted record; called after the delete committed.
    pub(crate) fn forget(&self, kind: ImmutableKind, scope: &Scope, name: &str) {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.records.remove(&Key::new(kind, scope, name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
