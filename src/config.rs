//! Command-line flags; every flag can also be given as an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use smemu_runtime::data_capture::CaptureLimits;
use smemu_types::limits::{parse_bytes, parse_duration};

/// `smemu serve` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address of the SageMaker API (control plane and runtime). Port 0 picks a free port.
    #[arg(long, env = "SMEMU_LISTEN", default_value = "127.0.0.1:9090")]
    pub listen: SocketAddr,
    /// Directory for smemu's state (SQLite database, model artifacts, objects).
    #[arg(long, env = "SMEMU_DATA_DIR", default_value = ".smemu")]
    pub data_dir: PathBuf,
    /// Account used when a request's access key id is not a 12-digit account number.
    #[arg(long, env = "SMEMU_DEFAULT_ACCOUNT", default_value = "000000000000")]
    pub default_account: String,
    /// Region used for requests that carry no SigV4 credential scope.
    #[arg(long, env = "SMEMU_DEFAULT_REGION", default_value = "us-east-1")]
    pub default_region: String,
    /// Address of the embedded S3 server (model artifacts, batch data). Port 0 picks a free port.
    #[arg(long, env = "SMEMU_S3_LISTEN", default_value = "127.0.0.1:9091")]
    pub s3_listen: SocketAddr,
    /// Do not serve the embedded S3.
    #[arg(long, env = "SMEMU_NO_S3")]
    pub no_s3: bool,
    /// Use this S3 (AWS, MinIO, LocalStack...) for `s3://` URIs instead of the embedded one, with
    /// the usual AWS credential chain.
    #[arg(long, env = "AWS_ENDPOINT_URL_S3")]
    pub s3_endpoint: Option<String>,
    /// Address buckets path-style (`http://host/bucket/key`) on the external S3.
    #[arg(long, env = "SMEMU_S3_PATH_STYLE")]
    pub s3_path_style: bool,
    /// Do not limit containers' CPU and memory by instance type.
    #[arg(long, env = "SMEMU_NO_RESOURCE_LIMITS")]
    pub no_resource_limits: bool,
    /// Instances (of all endpoints and transform jobs) one account may run at once; past it
    /// CreateEndpoint, UpdateEndpoint, UpdateEndpointWeightsAndCapacities and CreateTransformJob
    /// get `ResourceLimitExceeded`, as an account quota of the real service would give.
    #[arg(long, env = "SMEMU_MAX_INSTANCES", default_value_t = 16)]
    pub max_instances: u32,
    /// Most InvokeEndpointAsync requests one endpoint may have queued (not yet finished); past it
    /// InvokeEndpointAsync gets `ThrottlingException`.
    #[arg(long, env = "SMEMU_MAX_ASYNC_QUEUED", default_value_t = 10_000)]
    pub max_async_queued: u64,
    /// Largest InvokeEndpointAsync input object smemu reads into memory (the service allows 1 GB);
    /// a larger one fails its request (written to the failure location).
    #[arg(long, env = "SMEMU_MAX_ASYNC_INPUT_BYTES", default_value = "256MiB", value_parser = parse_bytes)]
    pub max_async_input_bytes: u64,
    /// Captured invocations (`DataCaptureConfig`) waiting for the capture writer; past it new
    /// records are dropped and counted, never waited for.
    #[arg(long, env = "SMEMU_CAPTURE_QUEUE_RECORDS", default_value_t = 8192)]
    pub capture_queue_records: usize,
    /// Payload bytes (requests and answers) of the captured invocations waiting for the writer;
    /// past it new records are dropped and counted.
    #[arg(long, env = "SMEMU_CAPTURE_QUEUE_BYTES", default_value = "64MiB", value_parser = parse_bytes)]
    pub capture_queue_bytes: u64,
    /// The capture writer writes the records it holds at least this often (e.g. `2s`, `500ms`).
    #[arg(long, env = "SMEMU_CAPTURE_FLUSH_INTERVAL", default_value = "2s", value_parser = parse_duration)]
    pub capture_flush_interval: Duration,
    /// A capture file is written as soon as it holds this many records.
    #[arg(long, env = "SMEMU_CAPTURE_FILE_RECORDS", default_value_t = 1000)]
    pub capture_file_records: usize,
    /// Writes (creations, deletions, tag changes) that may wait for the state store's writer at
    /// once, also the most it commits in one transaction; past it the call gets `ThrottlingException`.
    #[arg(long, env = "SMEMU_MAX_QUEUED_WRITES", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_queued_writes: u32,
    /// How often committed writes are copied from the state store's WAL into its database file
    /// (a checkpoint, off the request path).
    #[arg(long, env = "SMEMU_CHECKPOINT_INTERVAL", default_value = "500ms", value_parser = parse_duration)]
    pub checkpoint_interval: Duration,
    /// How long the state store's writer waits for the write lock when another process (a hand-run
    /// `sqlite3`) holds it; past it the writes waiting get `ThrottlingException`, changing nothing.
    #[arg(long, env = "SMEMU_STATE_LOCK_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub state_lock_timeout: Duration,
    /// Most bytes one model artifact may extract to (e.g. `20GiB`, `512MiB`, or bytes).
    #[arg(long, env = "SMEMU_MAX_ARTIFACT_SIZE", default_value = "20GiB", value_parser = parse_bytes)]
    pub max_artifact_size: u64,
    /// Unused cached artifacts under `<data-dir>/artifacts` are evicted, oldest use first, past this size.
    #[arg(long, env = "SMEMU_ARTIFACT_CACHE_SIZE", default_value = "50GiB", value_parser = parse_bytes)]
    pub artifact_cache_size: u64,
    /// A directory `file://` URIs may name (model data, transform input and output); repeatable.
    /// Default: the directory smemu was started in and the system temporary directory.
    #[arg(long = "file-root", env = "SMEMU_FILE_ROOTS", value_delimiter = ':')]
    pub file_roots: Vec<PathBuf>,
    /// Most files and directories a `file://` listing (a transform job's input prefix) visits;
    /// past it CreateTransformJob gets a ValidationException.
    #[arg(long, env = "SMEMU_MAX_LISTED_FILES", default_value_t = 100_000)]
    pub max_listed_files: usize,
    /// Metric points (CloudWatch's, in `<data-dir>/metrics.sqlite`) are kept this long (e.g.
    /// `24h`, `72h`); older ones are deleted.
    #[arg(long, env = "SMEMU_METRICS_RETENTION", default_value = "24h", value_parser = parse_duration)]
    pub metrics_retention: Duration,
    /// Metric points are kept per second this long, then merged per minute (CloudWatch keeps
    /// high-resolution data 3 hours).
    #[arg(long, env = "SMEMU_METRICS_FINE_RETENTION", default_value = "3h", value_parser = parse_duration)]
    pub metrics_fine_retention: Duration,
    /// How often invocation metrics are written: the finest period a query can tell apart.
    #[arg(long, env = "SMEMU_METRICS_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub metrics_interval: Duration,
    /// How often instance metrics (CPU, memory, disk utilization) are sampled from the engine.
    #[arg(long, env = "SMEMU_INSTANCE_METRICS_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    pub instance_metrics_interval: Duration,
    /// Most CloudWatch metric alarms one account may have in one region; past it PutMetricAlarm
    /// gets `LimitExceeded` (CloudWatch itself sets no such quota; smemu keeps alarms in memory).
    #[arg(long, env = "SMEMU_MAX_ALARMS", default_value_t = 5000)]
    pub max_alarms: usize,
    /// CloudWatch alarm history items (DescribeAlarmHistory) are kept this long.
    #[arg(long, env = "SMEMU_ALARM_HISTORY_RETENTION", default_value = "720h", value_parser = parse_duration)]
    pub alarm_history_retention: Duration,
    /// An API connection with no request in progress is closed after this long (e.g. `60s`, `2m`).
    #[arg(long, env = "SMEMU_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// After SIGINT/SIGTERM, in-flight requests get this long to finish before connections are closed.
    #[arg(long, env = "SMEMU_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
    /// Most invocation body bytes held in memory across all API connections at once; past it
    /// InvokeEndpoint is answered with a throttling error.
    #[arg(long, env = "SMEMU_MAX_BUFFERED_BYTES", default_value = "512MiB", value_parser = parse_bytes)]
    pub max_buffered_bytes: u64,
    /// Bytes per second a request body must keep up once `--idle-timeout` has passed since it
    /// began (e.g. `1KiB`); a body that trickles more slowly is cut off.
    #[arg(long, env = "SMEMU_MIN_BODY_RATE", default_value = "1KiB", value_parser = parse_bytes)]
    pub min_body_rate: u64,
    /// Most bytes of containers' log events kept in `<data-dir>/logs.sqlite` (each event counted
    /// as CloudWatch counts it: message bytes + 26); past it the oldest events are dropped.
    #[arg(long, env = "SMEMU_LOG_RETENTION_BYTES", default_value = "256MiB", value_parser = parse_bytes)]
    pub log_retention_bytes: u64,
    /// `any` accepts every request (the account is read from a 12-digit access key id);
    /// `strict` verifies SigV4 signatures against `--access-keys`.
    #[arg(long, env = "SMEMU_AUTH", value_enum, default_value = "any")]
    pub auth: AuthMode,
    /// File of `ACCESS_KEY_ID SECRET_ACCESS_KEY [ACCOUNT_ID]` lines, the keys `--auth strict` accepts.
    #[arg(long, env = "SMEMU_ACCESS_KEYS")]
    pub access_keys: Option<PathBuf>,
    /// Allow `--listen`/`--s3-listen` on a non-loopback address with `--auth any`.
    #[arg(long, env = "SMEMU_ALLOW_REMOTE")]
    pub allow_remote: bool,
    /// Log filter, e.g. `info` or `smemu_api=debug,info`.
    #[arg(long, env = "SMEMU_LOG", default_value = "info")]
    pub log_level: String,
    /// Log line format.
    #[arg(long, env = "SMEMU_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// How requests are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// Any request is accepted; signatures are not checked.
    Any,
    /// SigV4 signatures are verified against `--access-keys`.
    Strict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// What [`crate::run`] needs, independent of how it was given.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub default_account: String,
    pub default_region: String,
    /// An external S3 for `s3://` URIs; `None` uses the embedded one.
    pub s3_endpoint: Option<String>,
    pub s3_path_style: bool,
    pub resource_limits: bool,
    /// See [`ServeArgs::max_instances`].
    pub max_instances: u32,
    /// See [`ServeArgs::max_async_queued`].
    pub max_async_queued: u64,
    /// See [`ServeArgs::max_async_input_bytes`].
    pub max_async_input_bytes: u64,
    /// `--capture-queue-records`, `--capture-queue-bytes`, `--capture-flush-interval`,
    /// `--capture-file-records`.
    pub capture: CaptureLimits,
    /// See [`ServeArgs::max_queued_writes`].
    pub max_queued_writes: u32,
    /// See [`ServeArgs::checkpoint_interval`].
    pub checkpoint_interval: Duration,
    /// See [`ServeArgs::state_lock_timeout`].
    pub state_lock_timeout: Duration,
    /// See [`ServeArgs::max_artifact_size`].
    pub max_artifact_size: u64,
    /// See [`ServeArgs::artifact_cache_size`].
    pub artifact_cache_size: u64,
    /// See [`ServeArgs::file_roots`]; never empty once built by [`Config::from`] or [`Config::new`].
    pub file_roots: Vec<PathBuf>,
    /// See [`ServeArgs::max_listed_files`].
    pub max_listed_files: usize,
    /// See [`ServeArgs::metrics_retention`].
    pub metrics_retention: Duration,
    /// See [`ServeArgs::metrics_fine_retention`].
    pub metrics_fine_retention: Duration,
    /// See [`ServeArgs::metrics_interval`].
    pub metrics_interval: Duration,
    /// See [`ServeArgs::instance_metrics_interval`].
    pub instance_metrics_interval: Duration,
    /// See [`ServeArgs::max_alarms`].
    pub max_alarms: usize,
    /// See [`ServeArgs::alarm_history_retention`].
    pub alarm_history_retention: Duration,
    /// See [`ServeArgs::idle_timeout`].
    pub idle_timeout: Duration,
    /// See [`ServeArgs::shutdown_timeout`].
    pub shutdown_timeout: Duration,
    /// See [`ServeArgs::max_buffered_bytes`].
    pub max_buffered_bytes: u64,
    /// See [`ServeArgs::min_body_rate`].
    pub min_body_rate: u64,
    /// See [`ServeArgs::log_retention_bytes`].
    pub log_retention_bytes: u64,
    /// See [`ServeArgs::auth`].
    pub auth: AuthMode,
    /// See [`ServeArgs::access_keys`].
    pub access_keys: Option<PathBuf>,
}

/// `file://` roots when none are given: the working directory and the system temporary directory.
pub fn default_file_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.push(cwd);
    }
    roots.push(std::env::temp_dir());
    roots
}

impl Config {
    /// Defaults for a data directory (tests, embedding).
    pub fn new(data_dir: PathBuf) -> Self {
        Config {
            data_dir,
            default_account: "000000000000".into(),
            default_region: "us-east-1".into(),
            s3_endpoint: None,
            s3_path_style: false,
            resource_limits: true,
            max_instances: 16,
            max_async_queued: 10_000,
            max_async_input_bytes: 256 << 20,
            capture: CaptureLimits::default(),
            max_queued_writes: 1024,
            checkpoint_interval: Duration::from_millis(500),
            state_lock_timeout: Duration::from_secs(10),
            max_artifact_size: 20 << 30,
            artifact_cache_size: 50 << 30,
            file_roots: default_file_roots(),
            max_listed_files: 100_000,
            metrics_retention: Duration::from_secs(24 * 3600),
            metrics_fine_retention: Duration::from_secs(3 * 3600),
            metrics_interval: Duration::from_secs(1),
            instance_metrics_interval: Duration::from_secs(5),
            max_alarms: 5000,
            alarm_history_retention: Duration::from_secs(30 * 24 * 3600),
            idle_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(30),
            max_buffered_bytes: 512 << 20,
            min_body_rate: 1024,
            log_retention_bytes: 256 << 20,
            auth: AuthMode::Any,
            access_keys: None,
        }
    }
}

impl From<&ServeArgs> for Config {
    fn from(args: &ServeArgs) -> Self {
        Config {
            data_dir: args.data_dir.clone(),
            default_account: args.default_account.clone(),
            default_region: args.default_region.clone(),
            s3_endpoint: args.s3_endpoint.clone().filter(|e| !e.is_empty()),
            s3_path_style: args.s3_path_style,
            resource_limits: !args.no_resource_limits,
            max_instances: args.max_instances,
            max_async_queued: args.max_async_queued,
            max_async_input_bytes: args.max_async_input_bytes,
            capture: CaptureLimits {
                queue_records: args.capture_queue_records,
                queue_bytes: usize::try_from(args.capture_queue_bytes).unwrap_or(usize::MAX),
                flush_interval: args.capture_flush_interval,
                file_records: args.capture_file_records,
                ..CaptureLimits::default()
            },
            max_queued_writes: args.max_queued_writes,
            checkpoint_interval: args.checkpoint_interval,
            state_lock_timeout: args.state_lock_timeout,
            max_artifact_size: args.max_artifact_size,
            artifact_cache_size: args.artifact_cache_size,
            file_roots: if args.file_roots.is_empty() { default_file_roots() } else { args.file_roots.clone() },
            max_listed_files: args.max_listed_files,
            metrics_retention: args.metrics_retention,
            metrics_fine_retention: args.metrics_fine_retention,
            metrics_interval: args.metrics_interval,
            instance_metrics_interval: args.instance_metrics_interval,
            max_alarms: args.max_alarms,
            alarm_history_retention: args.alarm_history_retention,
            idle_timeout: args.idle_timeout,
            shutdown_timeout: args.shutdown_timeout,
            max_buffered_bytes: args.max_buffered_bytes,
            min_body_rate: args.min_body_rate,
            log_retention_bytes: args.log_retention_bytes,
            auth: args.auth,
            access_keys: args.access_keys.clone(),
        }
    }
}
