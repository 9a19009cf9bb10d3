//! Deploys inference pipelines onto local instances and runs them.
//!
//! smemu-api talks to the [`Runtime`] in domain words (deploy, update, delete, invoke, start and
//! stop a job, describe what runs). Behind it: the endpoint controller (`control`), which
//! converges the containers that run with the endpoints the store describes and keeps the routing
//! table; the transform-job controller and runner (`endpoints::jobs`); the relay (`invoke`), which
//! carries an invocation through a pipeline's containers; the clock and the timers. Containers are
//! placed by a [`smemu_backend::Backend`].

pub mod clock;
mod config;
mod endpoints;
mod error;
pub mod failure;
mod invoke;
mod jobs;
mod launch;
mod pipeline;
mod quota;
mod routing;
mod runtime;
pub mod timers;

pub use config::{BackendUnavailable, ControllerConfig};
pub(crate) use endpoints::Endpoints;
pub use endpoints::plan::{DeployedImageDoc, EndpointDoc, Fleet, VariantPlan};
pub use error::RuntimeError;
pub use invoke::{
    CUSTOM_ATTRIBUTES, Invocation, InvokeError, Invoked, MAX_PAYLOAD, push_decimal, serve_from_lane_pool, write_message,
};
pub(crate) use jobs::TransformJobs;
pub use jobs::doc::{self, JobDoc};
pub(crate) use launch::Launcher;
pub use routing::LiveEndpoint;
pub use runtime::{EndpointUpdate, EndpointView, JobView, NewEndpoint, NewJob, Retained, Runtime, VariantChange};
