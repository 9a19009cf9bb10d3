//! The transform job document kept in the store (`transform_jobs.state`).

use serde::{Deserialize, Serialize};
use smemu_types::sagemaker::{CreateTransformJobRequest, TransformJobStatus};

use crate::pipeline::ContainerPlan;

/// Statuses a job never leaves.
pub fn is_terminal(status: &TransformJobStatus) -> bool {
    matches!(status, TransformJobStatus::Completed | TransformJobStatus::Failed | TransformJobStatus::Stopped)
}

/// At most this many log lines are kept with a job.
pub const MAX_LOG_LINES: usize = 500;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobDoc {
    /// CreateTransformJob's input without name and tags: what DescribeTransformJob echoes and what
    /// the runner acts on.
    pub request: CreateTransformJobRequest,
    /// The model's containers as resolved at creation (a copy: deleting the model later changes
    /// nothing), with the job's and the batch environment merged in.
    pub pipeline: Vec<ContainerPlan>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// When the containers started (epoch ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<i64>,
    /// When the job reached a terminal status (epoch ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<i64>,
    /// smemu's own lines about the job (`[sagemaker logs]: ...`, as SageMaker writes them), then
    /// the last lines of every container (`<instance>/<container>: ...`), kept when the job ends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<String>,
}
