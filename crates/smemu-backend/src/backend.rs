//! The backend trait and the instance descriptions it works with.
//!
//! A backend places, inspects, lists and removes instances: the co-located containers of one
//! pipeline. It does no health checks, no proxying and keeps no state: what runs is read back
//! from the engine (labels), so a restarted smemu finds its containers again.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use async_trait::async_trait;

use crate::BackendError;

/// What an instance serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerKind {
    Endpoint,
    TransformJob,
}

impl OwnerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerKind::Endpoint => "endpoint",
            OwnerKind::TransformJob => "transform-job",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "endpoint" => Some(OwnerKind::Endpoint),
            "transform-job" => Some(OwnerKind::TransformJob),
            _ => None,
        }
    }
}

/// One container of a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSpec {
    /// Its hostname in the pipeline (`ContainerHostname`, `container-N` or `primary`).
    pub name_in_pipeline: String,
    pub image: String,
    /// The model's environment. The backend adds what depends on where the container runs:
    /// `SAGEMAKER_BIND_TO_PORT` (the port it must listen on), `SAGEMAKER_SAFE_PORT_RANGE` and
    /// `HOSTNAME`; the controller never needs to know those.
    pub environment: BTreeMap<String, String>,
    /// Mounted read-only at `/opt/ml/model`.
    pub model_dir: Option<PathBuf>,
    /// `["serve"]` for hosting, as SageMaker starts containers.
    pub args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceLimits {
    pub nano_cpus: i64,
    pub memory_bytes: i64,
}

/// One instance to place: every container of the pipeline, sharing one network namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceSpec {
    /// Marks the containers of one smemu (one data directory).
    pub owner: String,
    /// The data directory of that smemu, as a label for people reading `docker ps`.
    pub data_dir: String,
    pub kind: OwnerKind,
    /// The endpoint or job, as `<account>/<region>/<name>`.
    pub resource: String,
    pub variant: String,
    /// Unique among the owner's instances.
    pub instance_id: String,
    /// The fleet (deployment) the instance belongs to.
    pub generation: String,
    pub containers: Vec<ContainerSpec>,
    /// The instance type's CPU and memory, shared by its containers.
    pub limits: Option<ResourceLimits>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedContainer {
    pub name_in_pipeline: String,
    pub container_id: String,
    /// Where smemu reaches the container's HTTP server (`/ping`, `/invocations`): a port Docker
    /// publishes on 127.0.0.1, a Pod's own IP on Kubernetes, an in-process server in the fake.
    pub address: SocketAddr,
    /// The image the container runs: its repo digest when it has one, else its id (`sha256:...`).
    pub image_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedInstance {
    pub instance_id: String,
    /// In pipeline order.
    pub containers: Vec<PlacedContainer>,
}

/// A container as found on the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedContainer {
    pub container_id: String,
    pub name_in_pipeline: String,
    pub index: usize,
    pub running: bool,
    /// Where smemu reaches the container (as [`PlacedContainer::address`]), when it runs.
    pub address: Option<SocketAddr>,
    /// The host directory mounted as its model (`/opt/ml/model`), if any.
    pub model_dir: Option<PathBuf>,
}

/// An instance as found on the engine, from its containers' labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedInstance {
    pub kind: OwnerKind,
    pub resource: String,
    pub variant: String,
    pub instance_id: String,
    pub generation: String,
    /// In pipeline order.
    pub containers: Vec<ObservedContainer>,
}

impl ObservedInstance {
    pub fn all_running(&self) -> bool {
        !self.containers.is_empty() && self.containers.iter().all(|c| c.running)
    }
}

/// One container's resource use as the engine reports it once (Docker's one-shot stats): the
/// sampler turns two readings into CPU percent, one into memory and disk percent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContainerStats {
    /// CPU time the container has used since it started, in nanoseconds.
    pub cpu_ns: u64,
    /// CPU time the whole host has used, in nanoseconds (the denominator of the container's share).
    pub system_cpu_ns: u64,
    /// CPUs the container may use.
    pub online_cpus: u32,
    /// Memory in use (without the page cache it may drop), and the most it may use.
    pub memory_bytes: u64,
    pub memory_limit_bytes: u64,
    /// Bytes the container wrote to its own filesystem (its writable layer).
    pub disk_bytes: u64,
}

/// One container's state as the engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerState {
    pub running: bool,
    /// Set once the container has stopped.
    pub exit_code: Option<i64>,
    /// Always 0 under smemu's restart policy ("no"); reported so a change of policy shows.
    pub restart_count: i64,
    /// Killed for exceeding its memory limit (the instance type's memory).
    pub oom_killed: bool,
}

#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Answers when the engine can be used.
    async fn ping(&self) -> Result<(), BackendError>;
    /// The image's resolved id (its repo digest when it has one); `ImageNotFound` when absent.
    async fn image_id(&self, image: &str) -> Result<String, BackendError>;
    /// Creates and starts every container of the instance; on failure removes what it made. A
    /// missing image fails with `ImageNotFound` before anything is created; a container that
    /// stops while the instance is being placed fails with `Exited` and its last log lines.
    async fn place(&self, spec: &InstanceSpec) -> Result<PlacedInstance, BackendError>;
    /// One container's resource use now (instance metrics; never on the invoke path).
    async fn stats(&self, container_id: &str) -> Result<ContainerStats, BackendError>;
    /// One container's state (of a placed or observed instance).
    async fn inspect(&self, container_id: &str) -> Result<ContainerState, BackendError>;
    /// The last `lines` lines the container wrote (stdout and stderr).
    async fn logs_tail(&self, container_id: &str, lines: usize) -> Result<String, BackendError>;
    /// Every instance carrying this owner's labels.
    async fn list(&self, owner: &str) -> Result<Vec<ObservedInstance>, BackendError>;
    /// Stops (SIGTERM, then SIGKILL after the grace period) and removes one of the owner's
    /// instances, by the id it was placed with; one already gone is fine. By id, not by a placed
    /// description: what a restart adopts is only known by its labels.
    async fn remove(&self, owner: &str, instance_id: &str) -> Result<(), BackendError>;
}
