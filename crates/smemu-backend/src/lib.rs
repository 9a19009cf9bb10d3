//! Runs inference pipelines as local "instances": the containers of one pipeline, co-located.
//!
//! A [`Backend`] places, inspects, lists and removes instances and reports the socket address each
//! container answers at. It does no health checks, no proxying and keeps no state (smemu-runtime's
//! controllers do that) and exports no engine layout (ports, namespaces: its own business), so
//! that another backend (Kubernetes: one Pod per instance, with its own IP) stays small.
//! [`DockerBackend`] is the Docker implementation on bollard; with the `fake` feature,
//! [`fake::FakeBackend`] runs "containers" as HTTP servers in this process, for tests.

mod backend;
mod docker;
mod error;
#[cfg(feature = "fake")]
pub mod fake;
mod inventory;
mod labels;
mod layout;
mod timestamps;

pub use backend::{
    Backend, ContainerSpec, ContainerState, InstanceSpec, LogLine, LogLines, ObservedContainer, ObservedInstance,
    OwnerKind, PlacedContainer, PlacedInstance, ResourceLimits,
};
pub use docker::DockerBackend;
pub use error::BackendError;
pub use inventory::ManagedContainer;
// Instance metrics' readings (a line of its own beside the list above).
pub use backend::ContainerStats;
