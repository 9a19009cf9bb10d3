//! How the runtime runs containers: its settings, from smemu's flags.

use std::path::PathBuf;
use std::time::Duration;

/// How the controller runs containers.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// Marks every container of this smemu (its data dir), so that another smemu's are never touched.
    pub owner: String,
    /// The data directory, named in a label of every container.
    pub data_dir: String,
    /// Where model artifacts are unpacked (mounted read-only into containers).
    pub artifacts_dir: PathBuf,
    /// Most bytes one model artifact may extract to (`--max-artifact-size`).
    pub max_artifact_size: u64,
    /// Unused cached artifacts are evicted past this many bytes (`--artifact-cache-size`).
    pub artifact_cache_size: u64,
    /// Map instance types to CPU and memory limits.
    pub resource_limits: bool,
    /// How often the watchdog looks for dead instances.
    pub watchdog_interval: Duration,
    /// `--max-instances`: the instances one account may run at once (checked by `quota.rs`);
    /// the controller never brings up a fleet larger than this, whatever the store says.
    pub max_instances: u32,
    /// Where each transform job's log is written when it ends (`<account>/<region>/<name>.log`).
    pub transform_logs_dir: PathBuf,
    /// `--max-async-queued`: the most InvokeEndpointAsync requests one endpoint may have queued.
    pub max_async_queued: u64,
    /// `--max-async-input-bytes`: the largest InvokeEndpointAsync input smemu reads (the service's is 1 GB).
    pub max_async_input_bytes: u64,
    /// Data capture's queue and writer bounds (`--capture-*`).
    pub capture: crate::data_capture::CaptureLimits,
}

/// Why smemu cannot run containers at all (told in every endpoint's and job's FailureReason).
pub type BackendUnavailable = String;
