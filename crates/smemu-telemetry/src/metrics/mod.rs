//! Metrics: recording on the invoke path (`recorder`), per-second points in
//! `<data-dir>/metrics.sqlite` (`flush`, `store`), statistics over any period (`query`,
//! `histogram`), and the Prometheus text (`prometheus`).

pub mod flush;
pub mod histogram;
pub mod model;
pub mod prometheus;
pub mod query;
pub mod recorder;
pub mod store;

pub use flush::FlushConfig;
pub use model::{Point, SeriesKey, Stats};
pub use query::{Aggregate, Statistic};
pub use recorder::{Latency, Outcome, Recorders, VariantKey, VariantMetrics};
pub use store::{ListedSeries, MetricStore, MetricsError, SeriesFilter};

/// The file inside the data directory.
pub const STORE_FILE: &str = "metrics.sqlite";

/// Namespaces and metric names as SageMaker publishes them
/// (<https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html>).
pub mod names {
    /// Invocation metrics.
    pub const SAGEMAKER: &str = "AWS/SageMaker";
    /// Endpoint instances' utilization.
    pub const ENDPOINTS: &str = "/aws/sagemaker/Endpoints";
    /// Transform job instances' utilization.
    pub const TRANSFORM_JOBS: &str = "/aws/sagemaker/TransformJobs";
    pub const INVOCATIONS: &str = "Invocations";
    pub const INVOCATIONS_PER_INSTANCE: &str = "InvocationsPerInstance";
    pub const ERRORS_4XX: &str = "Invocation4XXErrors";
    pub const ERRORS_5XX: &str = "Invocation5XXErrors";
    pub const MODEL_LATENCY: &str = "ModelLatency";
    pub const OVERHEAD_LATENCY: &str = "OverheadLatency";
    /// Per container of an inference pipeline, with the `ContainerName` dimension
    /// (<https://docs.aws.amazon.com/sagemaker/latest/dg/inference-pipeline-logs-metrics.html>).
    pub const CONTAINER_LATENCY: &str = "ContainerLatency";
    pub const CPU: &str = "CPUUtilization";
    pub const MEMORY: &str = "MemoryUtilization";
    pub const DISK: &str = "DiskUtilization";
}

/// Units as CloudWatch spells them.
pub mod units {
    pub const NONE: &str = "None";
    pub const MICROS: &str = "Microseconds";
    pub const PERCENT: &str = "Percent";
}
