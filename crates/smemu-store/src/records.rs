//! The records the store keeps and the list queries it answers.

use smemu_types::sagemaker::{EndpointStatus, TransformJobStatus};

/// The account and region a request acts in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    pub account: String,
    pub region: String,
}

/// The resources that never change once created, each in its own table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImmutableKind {
    Model,
    EndpointConfig,
}

impl ImmutableKind {
    pub(crate) fn table(self) -> &'static str {
        match self {
            ImmutableKind::Model => "models",
            ImmutableKind::EndpointConfig => "endpoint_configs",
        }
    }

    pub fn noun(self) -> &'static str {
        match self {
            ImmutableKind::Model => "model",
            ImmutableKind::EndpointConfig => "endpoint configuration",
        }
    }
}

/// A stored model or endpoint configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub scope: Scope,
    pub name: String,
    pub arn: String,
    /// Creation time, epoch milliseconds.
    pub created_ms: i64,
    /// The resource as created, as JSON.
    pub spec: serde_json::Value,
}

/// A stored resource whose status changes over its life: an endpoint or a transform job. `state` is
/// the runtime's JSON document (for an endpoint: config, deployed fleets, failure reason; for a
/// job: the request, its pipeline, times, failure reason, logs); the store only keeps it and guards
/// concurrent changes with `version`.
#[derive(Debug, Clone, PartialEq)]
pub struct StatefulRecord<S> {
    pub scope: Scope,
    pub name: String,
    pub arn: String,
    pub status: S,
    pub created_ms: i64,
    pub modified_ms: i64,
    /// Incremented by every update; an update names the version it read (compare-and-set).
    pub version: i64,
    pub state: serde_json::Value,
}

/// A stored endpoint.
pub type EndpointRecord = StatefulRecord<EndpointStatus>;

/// A stored transform job (never deleted: its name can never be used again in its scope).
pub type TransformJobRecord = StatefulRecord<TransformJobStatus>;

/// A resource's status: the API model's generated enum, stored as its wire string (so that a value
/// an older or newer smemu wrote still reads back, as the enum's `Unknown`).
pub trait Status: Clone + std::fmt::Debug + PartialEq + Send + Sync + 'static {
    fn as_str(&self) -> &str;
    fn parse(text: &str) -> Self;
}

impl Status for EndpointStatus {
    fn as_str(&self) -> &str {
        EndpointStatus::as_str(self)
    }

    fn parse(text: &str) -> Self {
        EndpointStatus::from(text)
    }
}

impl Status for TransformJobStatus {
    fn as_str(&self) -> &str {
        TransformJobStatus::as_str(self)
    }

    fn parse(text: &str) -> Self {
        TransformJobStatus::from(text)
    }
}

/// One row of ListEndpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointSummary {
    pub name: String,
    pub arn: String,
    pub status: EndpointStatus,
    pub created_ms: i64,
    pub modified_ms: i64,
}

/// One row of a List* answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub name: String,
    pub arn: String,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    Name,
    #[default]
    CreationTime,
    /// Endpoints and jobs only.
    Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    Ascending,
    /// SageMaker lists newest first unless asked otherwise.
    #[default]
    Descending,
}

/// Filters, order and page of a List* call.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ListQuery {
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
    /// Only resources created strictly before this time (epoch ms).
    pub created_before_ms: Option<i64>,
    /// Only resources created at or after this time (epoch ms), as SageMaker documents it.
    pub created_after_ms: Option<i64>,
    /// Endpoints and jobs only: exact status.
    pub status_equals: Option<String>,
    /// Endpoints and jobs only: last modified strictly before (epoch ms).
    pub modified_before_ms: Option<i64>,
    /// Endpoints and jobs only: last modified at or after (epoch ms).
    pub modified_after_ms: Option<i64>,
    pub sort_by: SortKey,
    pub sort_order: SortOrder,
    /// How many matching rows to skip (the page token).
    pub offset: u64,
    pub limit: u32,
}

/// One page of results; `more` says whether another page follows.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub more: bool,
}

/// An InvokeEndpointAsync request the queue holds until its output or failure is written. `request`
/// is the runtime's JSON document; the store only keeps it, in acceptance order (`seq`).
#[derive(Debug, Clone, PartialEq)]
pub struct AsyncRequestRecord {
    /// Assigned by the store when the request is queued; 0 in a record not stored yet.
    pub seq: i64,
    pub scope: Scope,
    pub endpoint: String,
    pub inference_id: String,
    /// When the request was accepted, epoch milliseconds.
    pub accepted_ms: i64,
    pub request: serde_json::Value,
}
