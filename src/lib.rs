//! smemu's process: configuration, start-up (store, object layer, container runtime, listeners)
//! and clean shutdown.
//!
//! The binary (`main.rs`) parses flags into a [`Config`] and calls [`run`]; tests bind their
//! listeners on port 0 first and call [`run`] in-process the same way.

mod config;
mod owner;
pub mod terminal;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use smemu_api::{ApiConfig, AppState};
use smemu_backend::{Backend, DockerBackend};
use smemu_objects::{EmbeddedAuth, EmbeddedService, FileRoots, InternalKey, Objects, ObjectsConfig};
use smemu_runtime::{ControllerConfig, Runtime};
use smemu_store::{CachedStore, SqliteStore, WriterOptions};
use smemu_telemetry::logs::{LOGS_FILE, LogConfig, LogStore};
use smemu_types::auth::{AccessKeys, is_account_id, is_region_name};
use tokio::net::TcpListener;

pub use config::{AuthMode, Config, LogFormat, ServeArgs};

/// The database file inside the data directory.
pub const STATE_FILE: &str = "state.db";

/// The sockets smemu serves, bound by the caller (so that port 0 works and is known).
pub struct Listeners {
    pub api: TcpListener,
    /// The embedded S3; `None` serves none.
    pub s3: Option<TcpListener>,
}

/// Opens the state in `config.data_dir`, settles what an earlier smemu left, calls `ready` and
/// serves until `shutdown` resolves, then lets in-flight requests finish. Containers keep running
/// across a restart; the next start adopts them.
///
/// `ready` runs once the state store is open and migrated and start-up is done, just before the
/// first request is served (`smemu serve` prints its ready line there): a client, or another
/// process opening `state.db`, that waits for it never races the store's creation, migrations or
/// start-up writes (issue 16: a `sqlite3` taking the write lock right after an earlier ready line
/// made the migrations wait out the busy timeout, and smemu exit).
pub async fn run(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
    ready: impl FnOnce() + Send,
) -> anyhow::Result<()> {
    let access_keys = check_identity(&config)?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    // One store for the whole process: the cache of immutable records is only sound when every
    // delete goes through it.
    let writer = WriterOptions {
        max_queued_writes: usize::try_from(config.max_queued_writes).unwrap_or(usize::MAX),
        checkpoint_interval: config.checkpoint_interval,
        lock_timeout: config.state_lock_timeout,
    };
    let store = Arc::new(CachedStore::new(SqliteStore::open_with(&config.data_dir.join(STATE_FILE), writer).await?));

    // Where the embedded S3 keeps its objects, and who may use it: with --auth strict the keys
    // of --access-keys; smemu's own client signs with a key made up now and never written down.
    let s3_root = config.data_dir.join("s3");
    let s3_auth = EmbeddedAuth {
        strict_keys: access_keys.as_deref().cloned(),
        default_account: config.default_account.clone(),
        internal_key: InternalKey::generate(),
    };
    let internal_key = s3_auth.internal_key.clone();
    let (s3_stop, s3_stopped) = tokio::sync::watch::channel(false);
    let mut embedded_endpoint = None;
    let mut embedded_service = None;
    let s3_task = match listeners.s3 {
        Some(listener) => {
            embedded_endpoint = Some(format!("http://{}", listener.local_addr()?));
            let service = EmbeddedService::new(s3_root.clone(), s3_auth)?;
            embedded_service = Some(service.clone());
            let mut stopped = s3_stopped.clone();
            Some(tokio::spawn(smemu_objects::serve_embedded(listener, service, async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            })))
        }
        None => None,
    };
    // The embedded server runs in this process: the object layer may read its files, and write
    // small objects through its service without HTTP.
    let embedded_root = embedded_endpoint.is_some().then_some(s3_root);
    let objects = Objects::new(ObjectsConfig {
        embedded_endpoint,
        embedded_credentials: None,
        embedded_key: Some(internal_key),
        default_account: config.default_account.clone(),
        external_endpoint: config.s3_endpoint.clone(),
        external_credentials: None,
        force_path_style: config.s3_path_style,
        region: config.default_region.clone(),
        embedded_root,
        embedded_service,
    })
    .await?
    // `file://` stays inside --file-root and away from smemu's own data.
    .with_file_roots(FileRoots::new(&config.file_roots).forbid(&config.data_dir, "smemu's data directory"))
    .with_listing_limit(config.max_listed_files);

    let backend: Result<Arc<dyn Backend>, String> = match DockerBackend::connect().await {
        Ok(docker) => Ok(Arc::new(docker)),
        Err(err) => {
            tracing::warn!(error = %err, "no Docker engine: the control plane works, endpoints will fail");
            Err(err.to_string())
        }
    };
    // Absolute: artifact directories are bind-mounted, and compared with the mounts Docker reports.
    let data_dir = std::fs::canonicalize(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone());
    let runtime = Runtime::new(
        store.clone(),
        backend,
        Some(objects),
        ControllerConfig {
            owner: owner::owner_id(&config.data_dir)?,
            data_dir: data_dir.display().to_string(),
            artifacts_dir: data_dir.join("artifacts"),
            max_artifact_size: config.max_artifact_size,
            artifact_cache_size: config.artifact_cache_size,
            resource_limits: config.resource_limits,
            watchdog_interval: Duration::from_secs(2),
            max_instances: config.max_instances,
            transform_logs_dir: config.data_dir.join("logs").join("transform-jobs"),
            max_async_queued: config.max_async_queued,
            max_async_input_bytes: config.max_async_input_bytes,
            capture: config.capture,
        },
    );
    // Containers' output, on a file of its own so that it never contends with the state's writer;
    // opened before start-up so that adopted containers are followed from where they stopped.
    let logs =
        LogStore::open(&config.data_dir.join(LOGS_FILE), LogConfig { retention_bytes: config.log_retention_bytes })
            .await
            .context("opening the log store")?;
    runtime.capture_logs(logs.clone());
    // CloudWatch's metrics: their own file, so that the flusher never waits on the state's writer.
    let metric_store =
        smemu_telemetry::metrics::MetricStore::open(&config.data_dir.join(smemu_telemetry::metrics::STORE_FILE))
            .await?;
    // CloudWatch alarms: in the metric store's file, loaded before start-up so that a deployment
    // adopted mid-way watches its AutoRollbackConfiguration alarms from the first second; judged by
    // their own task a little after each period ends (once the flusher has written it).
    let alarms = smemu_telemetry::alarms::Alarms::open(
        &metric_store,
        smemu_telemetry::alarms::AlarmsConfig {
            max_alarms: config.max_alarms,
            history_retention: config.alarm_history_retention,
        },
    )
    .await?;
    runtime.set_alarms(Arc::new(alarms.clone()));
    // Before serving: what an earlier smemu left is settled, adopted or removed.
    Box::pin(runtime.start()).await;
    let api_config = ApiConfig {
        default_account: config.default_account.clone(),
        default_region: config.default_region.clone(),
        access_keys,
    };
    let state = AppState::new(store.clone(), api_config, runtime).with_logs(logs.clone());
    let wire = smemu_api::wire::WireConfig {
        idle_timeout: config.idle_timeout,
        shutdown_timeout: config.shutdown_timeout,
        max_buffered_bytes: config.max_buffered_bytes,
        min_body_rate: config.min_body_rate,
    };
    let (metrics_stop, metrics_stopped) = tokio::sync::watch::channel(false);
    let flusher = {
        let mut stopped = metrics_stopped.clone();
        tokio::spawn(smemu_telemetry::metrics::flush::run(
            state.runtime.recorders(),
            metric_store.clone(),
            smemu_telemetry::metrics::FlushConfig {
                interval: config.metrics_interval,
                retention: config.metrics_retention,
                fine_retention: config.metrics_fine_retention,
            },
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            },
        ))
    };
    let sampler = state.runtime.start_instance_metrics(config.instance_metrics_interval);
    let evaluator = {
        let mut stopped = metrics_stopped.clone();
        tokio::spawn(smemu_telemetry::alarms::evaluator::run(
            alarms.clone(),
            metric_store.clone(),
            smemu_telemetry::alarms::evaluator::EvaluatorConfig {
                tick: Duration::from_secs(1),
                lag: config.metrics_interval + Duration::from_secs(1),
            },
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            },
        ))
    };
    let state = state.with_metrics(metric_store.clone()).with_alarms(alarms);
    let runtime = state.runtime.clone();
    ready();
    smemu_api::wire::serve(listeners.api, state, wire, shutdown).await.context("serving the API")?;

    // The capture records of the last flush interval go to their destination (the embedded S3
    // among them) before it stops.
    runtime.flush_capture().await;

    // The last interval's counts are written before the store closes.
    sampler.abort();
    let _ = metrics_stop.send(true);
    let _ = flusher.await;
    let _ = evaluator.await;
    metric_store.close().await;
    let _ = s3_stop.send(true);
    if let Some(task) = s3_task {
        task.await.context("embedded S3 task")?.context("embedded S3")?;
    }
    // What the capture tasks queued is written before the process ends.
    logs.flush().await;
    store.inner().close().await;
    Ok(())
}

/// Refuses to start with a default account or region that is not well formed (they become parts
/// of ARNs and paths), and, for `--auth strict`, without a readable, valid, non-empty keys file.
/// Returns the keys the API listener checks signatures against (`None`: `--auth any`).
pub fn check_identity(config: &Config) -> anyhow::Result<Option<Arc<AccessKeys>>> {
    if !is_account_id(&config.default_account) {
        anyhow::bail!("--default-account {:?} is not an AWS account id (12 digits)", config.default_account);
    }
    if !is_region_name(&config.default_region) {
        anyhow::bail!(
            "--default-region {:?} is not a region name (lower-case letters and digits joined by hyphens, such as us-east-1)",
            config.default_region
        );
    }
    if config.auth != AuthMode::Strict {
        return Ok(None);
    }
    let path = config.access_keys.as_ref().context("--auth strict needs --access-keys FILE (SMEMU_ACCESS_KEYS)")?;
    let text = std::fs::read_to_string(path).with_context(|| format!("--auth strict: reading {}", path.display()))?;
    let keys = AccessKeys::parse(&text).map_err(|err| anyhow::anyhow!("--auth strict: {}: {err}", path.display()))?;
    if keys.is_empty() {
        anyhow::bail!("--auth strict: {} lists no access keys", path.display());
    }
    Ok(Some(Arc::new(keys)))
}
