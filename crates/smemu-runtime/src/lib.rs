//! Deploys inference pipelines onto local instances and runs them.
//!
//! smemu-api talks to the [`Runtime`] in domain words (deploy, update, delete, invoke, start and
//! stop a job, describe what runs). Behind it: the endpoint controller (`control`), which
//! converges the containers that run with the endpoints the store describes and keeps the routing
//! table; the transform-job controller and runner (`control::jobs`); the relay (`invoke`), which
//! carries an invocation through a pipeline's containers; the clock and the timers. Containers are
//! placed by a [`smemu_backend::Backend`].

pub mod clock;
mod control;
mod error;
pub mod failure;
mod invoke;
mod quota;
mod runtime;
pub mod timers;

pub use control::jobs::doc::{self, JobDoc};
pub use control::live::LiveEndpoint;
pub use control::plan::{DeployedImageDoc, EndpointDoc, Fleet, VariantPlan};
pub use control::status;
pub use control::{BackendUnavailable, ControllerConfig};
pub(crate) use control::{Endpoints, Launcher, TransformJobs};
pub use error::RuntimeError;
pub use invoke::{
    CUSTOM_ATTRIBUTES, Invocation, InvokeError, Invoked, MAX_PAYLOAD, push_decimal, serve_from_lane_pool, write_message,
};
pub use runtime::{EndpointUpdate, EndpointView, JobView, NewEndpoint, NewJob, Retained, Runtime, VariantChange};
