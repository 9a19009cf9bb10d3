//! smemu-telemetry: what SageMaker publishes to CloudWatch, kept in the data directory.
//!
//! - [`logs`]: containers' output as CloudWatch Logs events (groups, streams, events), bounded by
//!   `--log-retention-bytes`, and the queries the Logs API answers.
//! - [`metrics`]: the `AWS/SageMaker` invocation metrics recorded on the invoke path, instance
//!   metrics, users' `PutMetricData`, and the statistics CloudWatch's API and `/metrics` answer.
//!
//! - [`alarms`]: CloudWatch metric alarms on those metrics, their history and their evaluator.
//!
//! Domain words only: the API crate maps the generated shapes onto these types.

pub mod alarms;
pub mod logs;
pub mod metrics;
mod sqlite;
