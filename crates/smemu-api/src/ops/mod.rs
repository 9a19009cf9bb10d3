//! The SageMaker operations, one module per resource (and CloudWatch Logs' in `logs.rs`). No HTTP here: a request context and a
//! generated input in, a generated output or an `ApiError` out.

pub(crate) mod cloudwatch;
pub(crate) mod cloudwatch_alarms;
pub(crate) mod endpoint_configs;
pub(crate) mod endpoints;
mod listing;
pub(crate) mod logs;
pub(crate) mod models;
mod spec;
pub(crate) mod tags;
pub(crate) mod transform_jobs;

/// The answer of operations that have no output shape: `{}`.
#[derive(serde::Serialize)]
pub(crate) struct Empty {}
