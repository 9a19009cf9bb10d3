//! Running a model's pipeline as instances: model artifacts, placing instances through the runtime's
//! `Backend`, waiting until every container answers `/ping`, and removing them again. What the
//! endpoint controller and transform jobs share; each words its own failure reasons from
//! [`LaunchError`].

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use smemu_backend::{Backend, BackendError, ContainerSpec, InstanceSpec, OwnerKind, PlacedInstance, ResourceLimits};
use smemu_objects::{ArtifactCache, ArtifactLease, ObjectError, Objects};

use crate::capture::{Capture, Followed};
use crate::config::{BackendUnavailable, ControllerConfig};
use crate::invoke::relay::Relay;
use crate::pipeline::ContainerPlan;

/// How often `/ping` is polled while instances start: ready soon after the containers answer.
const PING_INTERVAL: Duration = Duration::from_millis(50);
/// How often a container that does not answer yet is checked for having exited.
const EXIT_CHECK_INTERVAL: Duration = Duration::from_millis(500);
/// How many log lines a failure quotes.
pub const LOG_TAIL: usize = 5;

/// Why instances could not be brought up. Containers are named by their pipeline hostname; callers
/// put their own words in front (an endpoint's variant, a transform job).
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("smemu cannot run containers: {0}")]
    NoBackend(BackendUnavailable),
    #[error("Could not find model data at {uri}: {reason}")]
    ModelData { uri: String, reason: String },
    /// The artifact is there but smemu will not use it: too large, or an unsafe archive entry.
    #[error("Failed to extract model data archive from URL \"{uri}\": {reason}")]
    ModelDataRefused { uri: String, reason: String },
    #[error("Container {hostname} exited with code {code}; its last log lines: {log_tail}")]
    Exited { index: usize, hostname: String, code: i64, log_tail: String },
    #[error(
        "Container {hostname} did not answer GET /ping with 200 within {timeout_s} seconds; its last log lines: {log_tail}"
    )]
    Unhealthy { index: usize, hostname: String, timeout_s: u64, log_tail: String },
    #[error("{0}")]
    Runtime(#[from] BackendError),
}

impl LaunchError {
    /// The pipeline position of the container that failed its health check, if one did.
    pub fn container(&self) -> Option<usize> {
        match self {
            LaunchError::Exited { index, .. } | LaunchError::Unhealthy { index, .. } => Some(*index),
            _ => None,
        }
    }
}

/// What to run: one pipeline, labelled for its owner.
pub struct LaunchSpec<'a> {
    pub kind: OwnerKind,
    /// The `smemu.resource` label (`<account>/<region>/<name>`).
    pub resource: String,
    pub variant: &'a str,
    pub generation: &'a str,
    pub instance_type: Option<&'a str>,
    pub containers: &'a [ContainerPlan],
    pub startup_timeout: Duration,
    /// When the instances start, in epoch seconds (transform jobs' log streams carry it).
    pub epoch_s: i64,
}

/// The shared machinery; cheap to clone.
#[derive(Clone)]
pub struct Launcher {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Result<Arc<dyn Backend>, BackendUnavailable>,
    objects: Option<Objects>,
    /// The model artifact cache in `config.artifacts_dir`; why not, when it cannot be opened.
    artifacts: Result<ArtifactCache, String>,
    config: ControllerConfig,
    relay: Relay,
    /// Where containers' output goes, once set (`Runtime::capture_logs`).
    capture: OnceLock<Capture>,
}

impl Launcher {
    pub fn new(
        backend: Result<Arc<dyn Backend>, BackendUnavailable>,
        objects: Option<Objects>,
        config: ControllerConfig,
    ) -> Self {
        let artifacts =
            ArtifactCache::open(&config.artifacts_dir, config.max_artifact_size, config.artifact_cache_size)
                .map_err(|err| err.to_string());
        // Nothing fetches yet: what a killed smemu left half-done can go.
        if let Ok(cache) = &artifacts {
            cache.remove_leftovers();
        }
        Launcher {
            inner: Arc::new(Inner {
                backend,
                objects,
                artifacts,
                config,
                relay: Relay::default(),
                capture: OnceLock::new(),
            }),
        }
    }

    pub fn set_capture(&self, capture: Capture) {
        let _ = self.inner.capture.set(capture);
    }

    /// Follows the output of an instance's containers (`(container id, hostname)` in pipeline
    /// order) into its log streams; a container already followed is left alone.
    pub fn capture(&self, at: &Followed<'_>, containers: &[(String, String)]) {
        if let (Some(capture), Ok(backend)) = (self.inner.capture.get(), self.backend()) {
            capture.follow_instance(backend, at, containers);
        }
    }

    /// A line of the service's own in a transform job instance's `data-log` stream.
    pub fn data_log(&self, at: &Followed<'_>, message: String) {
        if let Some(capture) = self.inner.capture.get() {
            capture.data_log(at, message);
        }
    }

    pub fn config(&self) -> &ControllerConfig {
        &self.inner.config
    }

    /// The `smemu.owner` label of every container this smemu runs.
    pub fn owner(&self) -> &str {
        &self.inner.config.owner
    }

    pub fn relay(&self) -> &Relay {
        &self.inner.relay
    }

    pub fn objects(&self) -> Option<&Objects> {
        self.inner.objects.as_ref()
    }

    pub fn backend(&self) -> Result<&Arc<dyn Backend>, LaunchError> {
        self.inner.backend.as_ref().map_err(|why| LaunchError::NoBackend(why.clone()))
    }

    /// Places one instance per id and waits until every container answers `/ping`; fails early
    /// when a container exits, and after the start-up timeout. On failure, removes whatever it placed.
    pub async fn launch(
        &self,
        spec: &LaunchSpec<'_>,
        instance_ids: &[String],
    ) -> Result<Vec<PlacedInstance>, LaunchError> {
        let backend = self.backend()?;
        // Model data is read as the resource's account (`resource` is `<account>/<region>/<name>`).
        let account = spec.resource.split('/').next().unwrap_or_default();
        let (model_dirs, leases) = self.model_dirs(spec.containers, account).await?;
        let mut placed = Vec::new();
        let mut failure = None;
        for id in instance_ids {
            match backend.place(&self.instance_spec(spec, id, &model_dirs)).await {
                Ok(instance) => {
                    // Followed from the start, so that what a container says before it fails
                    // its health check is kept too.
                    let at = Followed {
                        kind: spec.kind,
                        resource: &spec.resource,
                        variant: spec.variant,
                        instance_id: &instance.instance_id,
                        epoch_s: spec.epoch_s,
                    };
                    let containers: Vec<(String, String)> = instance
                        .containers
                        .iter()
                        .map(|c| (c.container_id.clone(), c.name_in_pipeline.clone()))
                        .collect();
                    self.capture(&at, &containers);
                    placed.push(instance);
                }
                Err(BackendError::Exited { index, name_in_pipeline, code, log_tail }) => {
                    failure = Some(LaunchError::Exited { index, hostname: name_in_pipeline, code, log_tail });
                    break;
                }
                Err(err) => {
                    failure = Some(err.into());
                    break;
                }
            }
        }
        if failure.is_none() {
            failure = self.wait_healthy(spec, &placed).await.err();
        }
        // The containers that mount the artifacts exist now (the engine reports their mounts to
        // eviction), or failed and went: the leases are done.
        if !leases.is_empty() {
            drop(leases);
            let this = self.clone();
            tokio::spawn(async move { this.evict_artifacts().await });
        }
        if let Some(err) = failure {
            for instance in &placed {
                self.remove_by_id(&instance.instance_id).await;
            }
            return Err(err);
        }
        Ok(placed)
    }

    async fn wait_healthy(&self, spec: &LaunchSpec<'_>, placed: &[PlacedInstance]) -> Result<(), LaunchError> {
        let deadline = Instant::now() + spec.startup_timeout;
        let backend = self.backend()?;
        let mut pending: Vec<(usize, &str, SocketAddr)> = placed
            .iter()
            .flat_map(|instance| {
                instance.containers.iter().enumerate().map(|(i, c)| (i, c.container_id.as_str(), c.address))
            })
            .collect();
        let mut last_exit_check = Instant::now();
        while !pending.is_empty() {
            let mut still = Vec::new();
            for (index, id, addr) in pending {
                if !self.inner.relay.ping(addr, Duration::from_secs(2)).await {
                    still.push((index, id, addr));
                }
            }
            pending = still;
            if pending.is_empty() {
                break;
            }
            if last_exit_check.elapsed() > EXIT_CHECK_INTERVAL {
                last_exit_check = Instant::now();
                for (index, id, _) in &pending {
                    if let Ok(state) = backend.inspect(id).await
                        && !state.running
                    {
                        return Err(LaunchError::Exited {
                            index: *index,
                            hostname: spec.containers[*index].hostname.clone(),
                            code: state.exit_code.unwrap_or(-1),
                            log_tail: self.log_tail(id, LOG_TAIL).await,
                        });
                    }
                }
            }
            if Instant::now() >= deadline {
                let (index, id, _) = pending[0];
                return Err(LaunchError::Unhealthy {
                    index,
                    hostname: spec.containers[index].hostname.clone(),
                    timeout_s: spec.startup_timeout.as_secs(),
                    log_tail: self.log_tail(id, LOG_TAIL).await,
                });
            }
            tokio::time::sleep(PING_INTERVAL).await;
        }
        Ok(())
    }

    /// The last `lines` lines a container wrote, trimmed; empty when they cannot be read.
    pub async fn log_tail(&self, container_id: &str, lines: usize) -> String {
        match self.backend() {
            Ok(backend) => backend.logs_tail(container_id, lines).await.unwrap_or_default().trim().to_owned(),
            Err(_) => String::new(),
        }
    }

    /// Downloads and unpacks the model artifacts of every container (once per content digest),
    /// read as `account`, leasing each cached directory until the caller drops the leases.
    async fn model_dirs(
        &self,
        containers: &[ContainerPlan],
        account: &str,
    ) -> Result<(Vec<Option<PathBuf>>, Vec<ArtifactLease>), LaunchError> {
        let mut dirs = Vec::new();
        let mut leases = Vec::new();
        for container in containers {
            match self.model_dir(container, account).await? {
                Some((dir, lease)) => {
                    dirs.push(Some(dir));
                    leases.push(lease);
                }
                None => dirs.push(None),
            }
        }
        Ok((dirs, leases))
    }

    async fn model_dir(
        &self,
        container: &ContainerPlan,
        account: &str,
    ) -> Result<Option<(PathBuf, ArtifactLease)>, LaunchError> {
        let (uri, prefix) = match (&container.model_data_url, &container.model_data_prefix) {
            (Some(url), _) => (url, false),
            (None, Some(prefix)) => (prefix, true),
            (None, None) => return Ok(None),
        };
        let unavailable = |reason: String| LaunchError::ModelData { uri: uri.clone(), reason };
        let Some(objects) = self.inner.objects.as_ref().map(|objects| objects.as_account(account)) else {
            return Err(unavailable("smemu has no object store configured.".into()));
        };
        let cache = self.inner.artifacts.as_ref().map_err(|why| unavailable(format!("the artifact cache: {why}")))?;
        let fetched = if prefix {
            cache.fetch_prefix(&objects, uri).await
        } else {
            cache.fetch(&objects, uri).await.map(|(model, lease)| (model.dir, lease))
        };
        fetched.map(Some).map_err(|err| match err {
            ObjectError::TooLarge { .. } | ObjectError::UnsafeEntry { .. } => {
                LaunchError::ModelDataRefused { uri: uri.clone(), reason: err.to_string() }
            }
            other => unavailable(other.to_string()),
        })
    }

    /// Evicts unused cached artifacts past `--artifact-cache-size`. In use: leased by a launch in
    /// progress, or mounted by any container of this smemu (running or not), as the engine
    /// reports it, which also covers what a restart adopted. Without an answer from the engine
    /// nothing is evicted.
    pub async fn evict_artifacts(&self) {
        let Ok(cache) = &self.inner.artifacts else { return };
        let mounted: HashSet<PathBuf> = match self.backend() {
            Ok(backend) => match backend.list(self.owner()).await {
                Ok(observed) => observed
                    .iter()
                    .flat_map(|instance| instance.containers.iter().filter_map(|c| c.model_dir.clone()))
                    .collect(),
                Err(err) => {
                    tracing::warn!(error = %err, "not evicting artifacts: cannot list containers");
                    return;
                }
            },
            // No engine: no container can use anything.
            Err(_) => HashSet::new(),
        };
        match cache.evict(&mounted).await {
            Ok(eviction) if !eviction.removed.is_empty() => {
                tracing::info!(
                    before = eviction.before,
                    after = eviction.after,
                    removed = eviction.removed.len(),
                    "artifact cache evicted"
                );
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "evicting cached artifacts"),
        }
    }

    fn instance_spec(&self, spec: &LaunchSpec<'_>, instance_id: &str, model_dirs: &[Option<PathBuf>]) -> InstanceSpec {
        InstanceSpec {
            owner: self.inner.config.owner.clone(),
            data_dir: self.inner.config.data_dir.clone(),
            kind: spec.kind,
            resource: spec.resource.clone(),
            variant: spec.variant.to_owned(),
            instance_id: instance_id.to_owned(),
            generation: spec.generation.to_owned(),
            containers: spec
                .containers
                .iter()
                .zip(model_dirs)
                .map(|(c, dir)| ContainerSpec {
                    name_in_pipeline: c.hostname.clone(),
                    image: c.image.clone(),
                    environment: c.environment.clone(),
                    model_dir: dir.clone(),
                    args: vec!["serve".to_owned()],
                })
                .collect(),
            limits: if self.inner.config.resource_limits { spec.instance_type.and_then(limits_of) } else { None },
        }
    }

    /// Removes one of this smemu's instances by id (gone already is fine).
    pub async fn remove_by_id(&self, instance_id: &str) {
        if let Ok(backend) = self.backend()
            && let Err(err) = backend.remove(self.owner(), instance_id).await
        {
            tracing::warn!(instance = %instance_id, error = %err, "removing instance");
        }
    }

    /// Removes every instance of one endpoint or job, or only those of one generation.
    pub async fn remove_resource(&self, kind: OwnerKind, resource: &str, generation: Option<&str>) {
        let Ok(backend) = self.backend() else { return };
        let Ok(observed) = backend.list(self.owner()).await else { return };
        for instance in observed
            .iter()
            .filter(|o| o.kind == kind && o.resource == resource && generation.is_none_or(|g| o.generation == g))
        {
            self.remove_by_id(&instance.instance_id).await;
        }
    }
}

/// CPU and memory of an instance type, as limits for each of an instance's containers (Docker has
/// no limit shared by several containers). vCPUs follow the size (`large` 2, `xlarge` 4,
/// `Nxlarge` 4N; `medium` 2 as on t2) and memory the family's GiB per vCPU (compute `c` 2,
/// memory `r` 8, inference `inf` 2, general purpose and accelerated 4), as in
/// <https://aws.amazon.com/sagemaker/pricing/>. CPUs are capped at the machine's: Docker refuses a
/// limit above what the host has.
fn limits_of(instance_type: &str) -> Option<ResourceLimits> {
    let (vcpus, gib) = instance_size(instance_type)?;
    let host_cpus = std::thread::available_parallelism().map_or(1, |n| i64::try_from(n.get()).unwrap_or(1));
    Some(ResourceLimits { nano_cpus: vcpus.min(host_cpus) * 1_000_000_000, memory_bytes: gib * 1024 * 1024 * 1024 })
}

/// vCPUs and GiB of memory of `ml.<family>.<size>`; `None` for a name of another form.
fn instance_size(instance_type: &str) -> Option<(i64, i64)> {
    let mut parts = instance_type.split('.');
    let (_ml, family, size) = (parts.next()?, parts.next()?, parts.next()?);
    if size == "medium" {
        return Some((2, 4));
    }
    let vcpus = match size {
        "large" => 2,
        "xlarge" => 4,
        _ => size.strip_suffix("xlarge")?.parse::<i64>().ok()?.checked_mul(4)?,
    };
    let gib_per_vcpu = if family.starts_with("inf") {
        2
    } else {
        match family.chars().next()? {
            'c' => 2,
            'r' => 8,
            _ => 4,
        }
    };
    Some((vcpus, vcpus * gib_per_vcpu))
}

#[cfg(test)]
mod tests {
    use super::instance_size;

    #[test]
    fn instance_types_map_to_their_vcpus_and_memory() {
        assert_eq!(instance_size("ml.t2.medium"), Some((2, 4)));
        assert_eq!(instance_size("ml.m5.large"), Some((2, 8)));
        assert_eq!(instance_size("ml.c5.xlarge"), Some((4, 8)));
        assert_eq!(instance_size("ml.r5.2xlarge"), Some((8, 64)));
        assert_eq!(instance_size("ml.m5.24xlarge"), Some((96, 384)));
        assert_eq!(instance_size("ml.g4dn.xlarge"), Some((4, 16)));
        assert_eq!(instance_size("ml.inf1.xlarge"), Some((4, 8)));
        assert_eq!(instance_size("ml.c6i.12xlarge"), Some((48, 96)));
        assert_eq!(instance_size("local"), None);
        assert_eq!(instance_size("ml.m5.bigxlarge"), None);
    }
}
