//! smemu's state store: the `Store` trait in SageMaker's words, its SQLite implementation, and a
//! read-through cache of the immutable records that wraps any implementation.
//!
//! Records hold the stored request as JSON (`spec`), so that the store needs none of the generated
//! request shapes (the API crate and the runtime turn them back into shapes); only the statuses
//! are the generated enums. smemu opens
//! `CachedStore::new(SqliteStore::open_with(..))` and shares it behind one `Arc`. Its writes go
//! through one writer thread that commits the writes waiting together (`writer.rs`).
//!
//! A second implementation (Postgres, say) implements [`Store`] and must provide what SQLite's
//! schema provides here (`migrations/`): names unique per scope case-insensitively
//! (`AlreadyExists`), models and endpoint configurations never updated (so that [`CachedStore`]
//! stays true), endpoint and job changes as compare-and-set on `version` (`Conflict`), transform
//! jobs never deleted, tags removed with their resource and at most [`MAX_TAGS_PER_RESOURCE`]
//! (`TooManyTags`, changing nothing), and list order with the name breaking ties. Its own failures
//! go into [`StoreError::Open`], [`StoreError::Migrate`] or [`StoreError::Database`] as a boxed
//! source, built inside the implementation. `tests/scenario.rs` runs against every implementation.

mod cache;
mod error;
mod records;
mod sqlite;
mod writer;

pub use cache::CachedStore;
pub use error::{BoxError, StoreError};
pub use records::{
    AsyncRequestRecord, EndpointRecord, EndpointSummary, ImmutableKind, ListQuery, Page, Record, Scope, SortKey,
    SortOrder, StatefulRecord, Status, Summary, Tag, TransformJobRecord,
};
pub use sqlite::SqliteStore;
pub use writer::WriterOptions;

use async_trait::async_trait;
use smemu_types::sagemaker::TransformJobStatus;

/// At most this many tags per resource (SageMaker's documented limit).
pub const MAX_TAGS_PER_RESOURCE: usize = 50;

/// What the API needs to keep, in domain words. Every call is scoped by account and region, so
/// one account's or region's resources are invisible to another.
///
/// An implementation may refuse a client's write (a creation, a deletion by name, a tag change, a
/// queued async request) with [`StoreError::Overloaded`] when too many writes are waiting, changing
/// nothing; compare-and-set updates, `delete_endpoint` and the async queue's removals wait instead.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates a model or endpoint configuration with its tags, atomically.
    /// A name taken in this scope (case-insensitively) gives `AlreadyExists`.
    async fn create(&self, kind: ImmutableKind, record: &Record, tags: &[Tag]) -> Result<(), StoreError>;
    /// Looks a resource up by name (case-insensitively); `NotFound` when absent.
    async fn get(&self, kind: ImmutableKind, scope: &Scope, name: &str) -> Result<Record, StoreError>;
    /// Deletes a resource and its tags; `NotFound` when absent.
    async fn delete(&self, kind: ImmutableKind, scope: &Scope, name: &str) -> Result<(), StoreError>;
    /// Filters, sorts, then returns one page.
    async fn list(&self, kind: ImmutableKind, scope: &Scope, query: &ListQuery) -> Result<Page<Summary>, StoreError>;

    /// Creates an endpoint with its tags; a name taken in this scope gives `AlreadyExists`.
    async fn create_endpoint(&self, record: &EndpointRecord, tags: &[Tag]) -> Result<(), StoreError>;
    /// Looks an endpoint up by name (case-insensitively); `NotFound` when absent.
    async fn get_endpoint(&self, scope: &Scope, name: &str) -> Result<EndpointRecord, StoreError>;
    /// Replaces status and state if the stored version is still `record.version`, and returns the
    /// record as stored (version incremented). Another writer in between gives `Conflict`.
    async fn update_endpoint(&self, record: &EndpointRecord) -> Result<EndpointRecord, StoreError>;
    /// Deletes an endpoint and its tags if the stored version is still `version`.
    async fn delete_endpoint(&self, scope: &Scope, name: &str, version: i64) -> Result<(), StoreError>;
    /// Filters (including status and modification time), sorts, then returns one page.
    async fn list_endpoints(&self, scope: &Scope, query: &ListQuery) -> Result<Page<EndpointSummary>, StoreError>;
    /// Every endpoint of every scope: what the controller must converge at start-up.
    async fn all_endpoints(&self) -> Result<Vec<EndpointRecord>, StoreError>;

    /// Creates a transform job with its tags. A name taken in this scope (case-insensitively) gives
    /// `AlreadyExists`, forever: jobs are never deleted.
    async fn create_transform_job(&self, record: &TransformJobRecord, tags: &[Tag]) -> Result<(), StoreError>;
    /// Looks a transform job up by name (case-insensitively); `NotFound` when absent.
    async fn get_transform_job(&self, scope: &Scope, name: &str) -> Result<TransformJobRecord, StoreError>;
    /// Replaces status and state if the stored version is still `record.version` (compare-and-set,
    /// as for endpoints), and returns the record as stored. Another writer in between gives `Conflict`.
    async fn update_transform_job(&self, record: &TransformJobRecord) -> Result<TransformJobRecord, StoreError>;
    /// Filters (including status and modification time), sorts, then returns one page of whole
    /// records (ListTransformJobs answers with the failure reason and end time they hold).
    async fn list_transform_jobs(
        &self,
        scope: &Scope,
        query: &ListQuery,
    ) -> Result<Page<TransformJobRecord>, StoreError>;
    /// The transform jobs of every scope whose status is one of `statuses`, oldest first: what
    /// start-up must settle.
    async fn transform_jobs_with_status(
        &self,
        statuses: &[TransformJobStatus],
    ) -> Result<Vec<TransformJobRecord>, StoreError>;

    /// Whether any resource has this ARN (tags may only be attached to existing resources).
    async fn arn_exists(&self, arn: &str) -> Result<bool, StoreError>;
    /// Adds or replaces tags by key; returns the resource's tags afterwards.
    /// More than [`MAX_TAGS_PER_RESOURCE`] in total gives `TooManyTags` and changes nothing.
    async fn add_tags(&self, arn: &str, tags: &[Tag]) -> Result<Vec<Tag>, StoreError>;
    /// One page of a resource's tags in insertion order.
    async fn list_tags(&self, arn: &str, offset: u64, limit: u32) -> Result<Page<Tag>, StoreError>;
    /// Removes the named keys; absent keys are ignored.
    async fn delete_tags(&self, arn: &str, keys: &[String]) -> Result<(), StoreError>;

    /// Queues an InvokeEndpointAsync request unless its endpoint already has `max_queued` requests
    /// queued (counted and inserted in one transaction): `Some(seq)` once stored, `None` when full.
    async fn enqueue_async_request(
        &self,
        record: &AsyncRequestRecord,
        max_queued: u64,
    ) -> Result<Option<i64>, StoreError>;
    /// The endpoints (of every scope) that have requests queued.
    async fn endpoints_with_async_requests(&self) -> Result<Vec<(Scope, String)>, StoreError>;
    /// The first `limit` requests queued for one endpoint, first accepted first.
    async fn queued_async_requests(
        &self,
        scope: &Scope,
        endpoint: &str,
        limit: u32,
    ) -> Result<Vec<AsyncRequestRecord>, StoreError>;
    /// Removes a request whose output or failure is written; an absent one is no error (done twice).
    async fn finish_async_request(&self, seq: i64) -> Result<(), StoreError>;
    /// Removes every queued request of an endpoint (it is deleted); returns how many.
    async fn drop_async_requests(&self, scope: &Scope, endpoint: &str) -> Result<u64, StoreError>;
}
