//! Deploys inference pipelines onto local instances and runs them.
//!
//! smemu-api talks to the [`Runtime`] (`runtime.rs`) in domain words: deploy, update, delete and
//! invoke an endpoint, start and stop a transform job, describe what runs. Behind it:
//! - `endpoints/`: the endpoint controller: the stored endpoint document (`plan.rs`), fleets up and
//!   down (`deploy.rs`), the per-status reconcile, start-up adoption and the watchdog
//!   (`reconcile.rs`); it keeps the routing table (`routing.rs`) that invocations read;
//! - `jobs/`: the transform-job controller and runner;
//! - `launch.rs`: what both share: artifacts, placing instances on the backend, `/ping` waits;
//! - `invoke/`: the relay through a pipeline (variant and instance choice, calls to containers
//!   through `smemu_http1`'s client, the runtime's error texts, batch calls with retries);
//! - `quota.rs`: the instance quota; `pipeline.rs`: a model's containers; `clock.rs`: times.
//!
//! `data_capture/`: `DataCaptureConfig`: sampled invocations written as JSON Lines off the invoke path.
//! `async_inference/`: InvokeEndpointAsync's durable queue (in the state store) and its workers.
//!
//! `capture/`: containers' output followed into CloudWatch Logs streams named as SageMaker names them.
//!
//! Containers are placed by a [`smemu_backend::Backend`].

pub mod alarms;
mod async_inference;
mod capture;
pub mod clock;
mod config;
pub mod data_capture;
mod endpoints;
mod error;
pub mod failure;
mod instance_metrics;
mod invoke;
mod jobs;
mod launch;
mod pipeline;
mod quota;
mod routing;
mod runtime;

pub use alarms::{AlarmStates, NoAlarms};
pub use async_inference::{
    AcceptedAsync, DEFAULT_INVOCATION_TIMEOUT_S, DEFAULT_MAX_CONCURRENT_PER_INSTANCE, DEFAULT_REQUEST_TTL_S,
    NewAsyncRequest,
};
// The instance id log stream names carry (`smemu ps` shows it beside them).
pub use capture::names::instance_id as log_instance_id;
pub use config::{BackendUnavailable, ControllerConfig};
pub(crate) use endpoints::Endpoints;
pub use endpoints::plan::{DeployedImageDoc, EndpointDoc, Fleet, Phase, Rollout, VariantPlan};
pub use error::RuntimeError;
pub use invoke::stream::{InvokedStream, StreamErrorCode, StreamEvent};
pub use invoke::{CUSTOM_ATTRIBUTES, Invocation, InvokeError, Invoked, MAX_PAYLOAD};
pub(crate) use jobs::TransformJobs;
pub use jobs::doc::{self, JobDoc};
pub(crate) use launch::Launcher;
pub use routing::LiveEndpoint;
pub use runtime::{EndpointUpdate, EndpointView, JobView, NewEndpoint, NewJob, Retained, Runtime, VariantChange};
