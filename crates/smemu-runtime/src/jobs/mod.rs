//! Transform jobs: CreateTransformJob stores a job `InProgress` and starts its runner
//! (`runner.rs`), which brings the model's pipeline up, transforms every input object and records
//! how the job ended; StopTransformJob signals the runner; start-up fails the jobs an earlier smemu
//! left running, since nothing can resume them.
//!
//! The store keeps the truth: every status change is a compare-and-set ([`update`]), so a stop
//! racing the runner's last write is settled by whoever reads second.

pub mod doc;
mod gunzip;
pub mod inputs;
pub mod params;
mod runner;
mod segments;

use smemu_types::auth::{is_account_id, is_region_name};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use smemu_backend::OwnerKind;
use smemu_store::{Scope, Store, StoreError, TransformJobRecord};
use smemu_types::sagemaker::TransformJobStatus;
use tokio::sync::watch;

use crate::clock::now_ms;
use crate::failure::JobFailure;
use crate::launch::Launcher;
use crate::routing::EndpointKey;
use doc::JobDoc;

/// A job by account, region and name as stored (the same identity as an endpoint's; the container
/// labels tell the kinds apart).
pub type JobKey = EndpointKey;

/// The transform job controller; cheap to clone.
#[derive(Clone)]
pub struct TransformJobs {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    launcher: Launcher,
    /// Where each job's log is written when it ends (`<account>/<region>/<name>.log`).
    logs_dir: PathBuf,
    /// The jobs whose runner is alive, with the switch that stops them.
    running: Mutex<HashMap<JobKey, watch::Sender<bool>>>,
}

impl TransformJobs {
    pub fn new(store: Arc<dyn Store>, launcher: Launcher, logs_dir: PathBuf) -> Self {
        TransformJobs { inner: Arc::new(Inner { store, launcher, logs_dir, running: Mutex::new(HashMap::new()) }) }
    }

    /// The file a job's log is written to when it ends (the containers' output and the
    /// `[sagemaker logs]` lines are also captured into CloudWatch Logs' `/aws/sagemaker/TransformJobs`).
    /// `None` unless every part is well formed: a path is built only from validated parts, even
    /// for a job a store written before they were validated still holds.
    pub fn log_file(&self, key: &JobKey) -> Option<PathBuf> {
        let name_ok = !key.name.is_empty() && key.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        (is_account_id(&key.account) && is_region_name(&key.region) && name_ok)
            .then(|| self.inner.logs_dir.join(&key.account).join(&key.region).join(format!("{}.log", key.name)))
    }

    pub fn launcher(&self) -> &Launcher {
        &self.inner.launcher
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<JobKey, watch::Sender<bool>>> {
        self.inner.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs a job that was just stored `InProgress`, in the background.
    pub fn run(&self, key: JobKey) {
        let (stop, stopped) = watch::channel(false);
        // Registered before the task starts, so that a StopTransformJob right after creation finds it.
        self.running().insert(key.clone(), stop);
        let this = self.clone();
        tokio::spawn(async move {
            runner::run(&this, &key, stopped).await;
            this.running().remove(&key);
            this.sweep().await;
        });
    }

    /// Tells a job's runner to stop (the job is `Stopping` already). Without a runner, settles the
    /// job as `Stopped` at once.
    pub fn stop(&self, key: &JobKey) {
        if let Some(stop) = self.running().get(key) {
            let _ = stop.send(true);
            return;
        }
        let this = self.clone();
        let key = key.clone();
        tokio::spawn(async move {
            runner::finish(&this, &key, runner::Outcome::Stopped, Vec::new(), now_ms()).await;
        });
    }

    /// At start-up: no runner survives a restart, so jobs found `InProgress` are failed (never
    /// left running forever), jobs found `Stopping` end `Stopped` as asked (they wrote no output),
    /// and every transform job container of this smemu goes.
    pub async fn start(&self) {
        match self
            .inner
            .store
            .transform_jobs_with_status(&[TransformJobStatus::InProgress, TransformJobStatus::Stopping])
            .await
        {
            Ok(interrupted) => {
                for record in interrupted {
                    tracing::warn!(job = %record.name, status = %record.status, "settling a transform job interrupted by a restart");
                    let result = update(self.inner.store.as_ref(), &record.scope, &record.name, |record, doc| {
                        if doc::is_terminal(&record.status) {
                            return false;
                        }
                        if record.status == TransformJobStatus::Stopping {
                            record.status = TransformJobStatus::Stopped;
                        } else {
                            record.status = TransformJobStatus::Failed;
                            doc.failure_reason = Some(JobFailure::Restarted.reason());
                        }
                        doc.end_ms = Some(now_ms());
                        true
                    })
                    .await;
                    if let Err(err) = result {
                        tracing::error!(job = %record.name, error = %err, "failing an interrupted transform job");
                    }
                }
            }
            Err(err) => tracing::error!(error = %err, "listing interrupted transform jobs"),
        }
        self.sweep().await;
    }

    /// Removes transform job containers of this smemu whose job has no runner: what an earlier
    /// smemu left, and anything a stopped runner was still creating when it was cancelled.
    async fn sweep(&self) {
        let Ok(backend) = self.inner.launcher.backend() else { return };
        let Ok(observed) = backend.list(self.inner.launcher.owner()).await else { return };
        let alive: Vec<String> = self.running().keys().map(JobKey::resource_label).collect();
        for orphan in observed.iter().filter(|o| o.kind == OwnerKind::TransformJob && !alive.contains(&o.resource)) {
            tracing::info!(instance = %orphan.instance_id, resource = %orphan.resource, "removing transform job container");
            self.inner.launcher.remove_by_id(&orphan.instance_id).await;
        }
    }
}

/// Reads a job afresh, lets `change` edit it (returning whether to write), and writes it back by
/// compare-and-set, again on a conflict. Returns the record as it stands afterwards.
pub async fn update(
    store: &dyn Store,
    scope: &Scope,
    name: &str,
    mut change: impl FnMut(&mut TransformJobRecord, &mut JobDoc) -> bool,
) -> Result<TransformJobRecord, StoreError> {
    loop {
        let mut record = store.get_transform_job(scope, name).await?;
        let mut doc: JobDoc = serde_json::from_value(record.state.clone())
            .map_err(|source| StoreError::Corrupt { name: format!("transform job {name}"), source })?;
        if !change(&mut record, &mut doc) {
            return Ok(record);
        }
        record.modified_ms = now_ms();
        record.state = serde_json::to_value(&doc)
            .map_err(|source| StoreError::Corrupt { name: format!("transform job {name}"), source })?;
        match store.update_transform_job(&record).await {
            Ok(stored) => return Ok(stored),
            Err(StoreError::Conflict { .. }) => continue,
            Err(err) => return Err(err),
        }
    }
}
