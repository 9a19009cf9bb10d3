//! Deploys inference pipelines onto local instances and runs them.
//!
//! The endpoint controller (`control`) converges the containers that run with the endpoints the
//! store describes; the transform-job controller (`control::jobs`) runs batch transforms; the
//! relay (`invoke`) carries an invocation through a pipeline's containers. Containers are placed
//! by a `smemu_backend::Backend`.

pub mod clock;
pub mod control;
pub mod failure;
pub mod invoke;

pub use control::{BackendUnavailable, ControllerConfig, Endpoints, Launcher, TransformJobs};
