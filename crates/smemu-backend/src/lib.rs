//! Runs inference pipelines as local "instances": the containers of one pipeline, co-located.
//!
//! A [`Backend`] places, inspects, lists and removes instances and reports where their containers
//! listen. It does no health checks, no proxying and keeps no state (the API crate's controller
//! does that), so that another backend (Kubernetes: one Pod per instance) stays small.
//! [`DockerBackend`] is the Docker implementation on bollard.

mod backend;
mod docker;
mod error;
mod labels;
mod layout;

pub use backend::{
    Backend, ContainerSpec, ContainerState, InstanceSpec, ObservedContainer, ObservedInstance, OwnerKind,
    PlacedContainer, PlacedInstance, ResourceLimits,
};
pub use docker::DockerBackend;
pub use error::BackendError;
pub use layout::{FIRST_PORT, inner_port, safe_port_range};
