//! The Docker backend on bollard.
//!
//! An instance's containers share one network namespace, as on a SageMaker instance: the first
//! container owns it and publishes every container's port on 127.0.0.1 (Docker picks the host
//! ports); the others join it with `network_mode: container:<first>` (see [`crate::layout`]).
//! Consequence: if the first container dies the namespace goes with it and the others lose their
//! network, so the controller replaces whole instances (SageMaker replaces instances too) rather
//! than restarting single containers; the restart policy is "no".

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::models::ContainerSummaryStateEnum;
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, LogsOptions, RemoveContainerOptions, StopContainerOptions,
};
use futures::StreamExt;

use crate::backend::{
    Backend, ContainerState, InstanceSpec, LogLine, LogLines, ObservedContainer, ObservedInstance, OwnerKind,
    PlacedContainer, PlacedInstance,
};
use crate::{BackendError, labels, layout};

/// How long one call to the engine may take (creating, stopping) before it counts as failed.
const ENGINE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the engine has to answer a ping: an absent or wedged engine must fail fast, not hang.
const PING_TIMEOUT: Duration = Duration::from_secs(3);
/// Between SIGTERM and SIGKILL, as SageMaker allows a container to shut down.
const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(30);
/// Where bollard connects when `DOCKER_HOST` is unset (named for error messages).
const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

#[derive(Debug, Clone)]
pub struct DockerBackend {
    docker: Docker,
    /// The engine's address, for messages.
    host: String,
    stop_grace: Duration,
}

impl DockerBackend {
    /// Connects to the engine at `DOCKER_HOST` or the default socket and checks that it answers.
    pub async fn connect() -> Result<Self, BackendError> {
        let host = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty());
        Self::connect_to(host.as_deref().unwrap_or(DEFAULT_HOST)).await
    }

    /// Connects to the engine at `host` (`unix:///path`, `tcp://host:port`, as `DOCKER_HOST`)
    /// and checks that it answers within a few seconds.
    pub async fn connect_to(host: &str) -> Result<Self, BackendError> {
        let docker = Docker::connect_with_host(host)
            .map_err(|e| BackendError::EngineUnavailable { host: host.to_owned(), reason: e.to_string() })?
            .with_timeout(ENGINE_TIMEOUT);
        let backend = DockerBackend { docker, host: host.to_owned(), stop_grace: DEFAULT_STOP_GRACE };
        backend.ping().await?;
        Ok(backend)
    }

    /// Sets the time between SIGTERM and SIGKILL when removing instances (30 s by default).
    pub fn with_stop_grace(mut self, grace: Duration) -> Self {
        self.stop_grace = grace;
        // A stop call lasts up to the grace period: the client must wait longer than that.
        self.docker = self.docker.with_timeout(ENGINE_TIMEOUT.max(grace + Duration::from_secs(30)));
        self
    }

    async fn create_and_start(
        &self,
        spec: &InstanceSpec,
        index: usize,
        namespace_owner: Option<&str>,
    ) -> Result<String, BackendError> {
        let name = layout::container_name(spec, index);
        let body = layout::create_body(spec, index, namespace_owner);
        let options = CreateContainerOptions { name: Some(name.clone()), ..Default::default() };
        let created = self.docker.create_container(Some(options), body).await.map_err(|source| {
            if is_not_found(&source) {
                // The image went away between the check in `place` and now.
                BackendError::ImageNotFound { image: spec.containers[index].image.clone() }
            } else {
                BackendError::Create { container: name.clone(), source }
            }
        })?;
        if let Err(source) = self.docker.start_container(&created.id, None).await {
            let _ = self.force_remove(&created.id).await;
            return Err(BackendError::Start { container: name, source });
        }
        Ok(created.id)
    }

    /// Where the instance's containers answer: the loopback ports the namespace owner publishes.
    async fn published_addresses(&self, owner_id: &str, count: usize) -> Result<Vec<SocketAddr>, BackendError> {
        let inspected = self
            .docker
            .inspect_container(owner_id, None)
            .await
            .map_err(|source| BackendError::Inspect { target: owner_id.to_owned(), source })?;
        let ports = inspected.network_settings.and_then(|n| n.ports).unwrap_or_default();
        (0..count)
            .map(|i| {
                ports
                    .get(&layout::port_key(i))
                    .and_then(|b| b.as_ref())
                    .and_then(|b| b.iter().find(|b| b.host_ip.as_deref() == Some(layout::HOST_IP)))
                    .and_then(|b| b.host_port.as_deref())
                    .and_then(|p| p.parse().ok())
                    .map(layout::loopback)
                    .ok_or_else(|| BackendError::NoPort { container: owner_id.to_owned() })
            })
            .collect()
    }

    /// The first container of an instance that is no longer running, with its exit code and logs.
    async fn first_exited(&self, spec: &InstanceSpec, ids: &[String]) -> Option<BackendError> {
        for (index, id) in ids.iter().enumerate() {
            if let Ok(state) = self.inspect(id).await
                && !state.running
            {
                return Some(BackendError::Exited {
                    index,
                    name_in_pipeline: spec.containers[index].name_in_pipeline.clone(),
                    code: state.exit_code.unwrap_or(-1),
                    log_tail: self.logs_tail(id, 5).await.unwrap_or_default().trim().to_owned(),
                });
            }
        }
        None
    }

    async fn force_remove(&self, id: &str) -> Result<(), BackendError> {
        let options = RemoveContainerOptions { force: true, v: true, ..Default::default() };
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(source) if is_not_found(&source) => Ok(()),
            Err(source) => Err(BackendError::Remove { container: id.to_owned(), source }),
        }
    }

    /// Stops the containers (SIGTERM, SIGKILL after the grace period), then removes them, the
    /// namespace owner last.
    pub(crate) async fn stop_and_remove(&self, ids_in_order: &[String]) -> Result<(), BackendError> {
        let grace = i32::try_from(self.stop_grace.as_secs()).unwrap_or(i32::MAX);
        // All at once: an instance's shutdown takes one grace period, not one per container.
        let stops = ids_in_order.iter().map(|id| async move {
            let options = StopContainerOptions { t: Some(grace), ..Default::default() };
            // Already stopped or gone is fine: removal follows and reports what matters.
            let _ = self.docker.stop_container(id, Some(options)).await;
        });
        futures::future::join_all(stops).await;
        for id in ids_in_order.iter().rev() {
            self.force_remove(id).await?;
        }
        Ok(())
    }

    pub(crate) async fn list_labeled(
        &self,
        filters: Vec<String>,
    ) -> Result<Vec<bollard::models::ContainerSummary>, BackendError> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([("label".to_owned(), filters)])),
            ..Default::default()
        };
        self.docker.list_containers(Some(options)).await.map_err(BackendError::List)
    }
}

#[async_trait]
impl Backend for DockerBackend {
    async fn ping(&self) -> Result<(), BackendError> {
        let unavailable = |reason: String| BackendError::EngineUnavailable { host: self.host.clone(), reason };
        match tokio::time::timeout(PING_TIMEOUT, self.docker.ping()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(unavailable(err.to_string())),
            Err(_) => Err(unavailable(format!("no answer within {} s", PING_TIMEOUT.as_secs()))),
        }
    }

    async fn image_id(&self, image: &str) -> Result<String, BackendError> {
        match self.docker.inspect_image(image).await {
            Ok(found) => Ok(found.repo_digests.and_then(|d| d.into_iter().next()).or(found.id).unwrap_or_default()),
            Err(source) if is_not_found(&source) => Err(BackendError::ImageNotFound { image: image.to_owned() }),
            Err(source) => Err(BackendError::Inspect { target: format!("image {image}"), source }),
        }
    }

    async fn place(&self, spec: &InstanceSpec) -> Result<PlacedInstance, BackendError> {
        // A missing image fails before anything is created.
        let mut image_ids = Vec::with_capacity(spec.containers.len());
        for container in &spec.containers {
            image_ids.push(self.image_id(&container.image).await?);
        }
        let mut ids: Vec<String> = Vec::new();
        for index in 0..spec.containers.len() {
            match self.create_and_start(spec, index, ids.first().map(String::as_str)).await {
                Ok(id) => ids.push(id),
                Err(err) => {
                    let _ = self.stop_and_remove(&ids).await;
                    return Err(err);
                }
            }
        }
        let Some(first) = ids.first() else {
            return Ok(PlacedInstance { instance_id: spec.instance_id.clone(), containers: Vec::new() });
        };
        let addresses = self.published_addresses(first, ids.len()).await;
        // A container that died at once (bad command, crash at start) is reported now with its
        // logs rather than later as a failing health check. Ports vanish when the owner exits.
        if let Some(exited) = self.first_exited(spec, &ids).await {
            let _ = self.stop_and_remove(&ids).await;
            return Err(exited);
        }
        let addresses = match addresses {
            Ok(addresses) => addresses,
            Err(err) => {
                let _ = self.stop_and_remove(&ids).await;
                return Err(err);
            }
        };
        let containers = spec
            .containers
            .iter()
            .zip(ids)
            .zip(addresses)
            .zip(image_ids)
            .map(|(((c, container_id), address), image_id)| PlacedContainer {
                name_in_pipeline: c.name_in_pipeline.clone(),
                container_id,
                address,
                image_id,
            })
            .collect();
        Ok(PlacedInstance { instance_id: spec.instance_id.clone(), containers })
    }

    async fn inspect(&self, container_id: &str) -> Result<ContainerState, BackendError> {
        let inspected = self
            .docker
            .inspect_container(container_id, None)
            .await
            .map_err(|source| BackendError::Inspect { target: container_id.to_owned(), source })?;
        let state = inspected.state.unwrap_or_default();
        let running = state.running.unwrap_or(false);
        Ok(ContainerState {
            running,
            // Docker reports 0 for a container that has not stopped yet.
            exit_code: if running { None } else { state.exit_code },
            restart_count: inspected.restart_count.unwrap_or(0),
            oom_killed: state.oom_killed.unwrap_or(false),
        })
    }

    async fn stats(&self, container_id: &str) -> Result<crate::ContainerStats, BackendError> {
        let err = |source| BackendError::Inspect { target: container_id.to_owned(), source };
        // One reading, without Docker's one-second wait for a second one: the sampler keeps the
        // previous reading and computes the CPU share between the two itself.
        let options = bollard::query_parameters::StatsOptions { stream: false, one_shot: true };
        let mut readings = self.docker.stats(container_id, Some(options));
        let reading = match readings.next().await {
            Some(reading) => reading.map_err(err)?,
            None => return Err(BackendError::NoSuchContainer { container: container_id.to_owned() }),
        };
        let cpu = reading.cpu_stats.unwrap_or_default();
        let memory = reading.memory_stats.unwrap_or_default();
        // `docker stats` shows usage minus the inactive page cache (cgroup v2: `inactive_file`;
        // v1: `total_inactive_file`): what the kernel cannot simply drop.
        let inactive = memory
            .stats
            .as_ref()
            .and_then(|s| s.get("inactive_file").or_else(|| s.get("total_inactive_file")).copied())
            .unwrap_or(0);
        let sized = self
            .docker
            .inspect_container(container_id, Some(bollard::query_parameters::InspectContainerOptions { size: true }))
            .await
            .map_err(err)?;
        Ok(crate::ContainerStats {
            cpu_ns: cpu.cpu_usage.and_then(|u| u.total_usage).unwrap_or(0),
            system_cpu_ns: cpu.system_cpu_usage.unwrap_or(0),
            online_cpus: cpu.online_cpus.unwrap_or(1),
            memory_bytes: memory.usage.unwrap_or(0).saturating_sub(inactive),
            memory_limit_bytes: memory.limit.unwrap_or(0),
            disk_bytes: sized.size_rw.and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
        })
    }

    async fn logs_tail(&self, container_id: &str, lines: usize) -> Result<String, BackendError> {
        let options = LogsOptions { stdout: true, stderr: true, tail: lines.to_string(), ..Default::default() };
        let mut stream = self.docker.logs(container_id, Some(options));
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(output) => text.push_str(&output.to_string()),
                Err(source) => return Err(BackendError::Logs { container: container_id.to_owned(), source }),
            }
        }
        Ok(text)
    }

    fn follow_logs(&self, container_id: &str, since_ms: i64) -> LogLines {
        let options = LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            timestamps: true,
            since: i32::try_from(since_ms.max(0) / 1000).unwrap_or(i32::MAX),
            ..Default::default()
        };
        let container = container_id.to_owned();
        self.docker
            .logs(container_id, Some(options))
            .flat_map(move |chunk| {
                let lines = match chunk {
                    Ok(output) => lines_of(output.into_bytes().as_ref()).into_iter().map(Ok).collect(),
                    Err(source) => vec![Err(BackendError::Logs { container: container.clone(), source })],
                };
                futures::stream::iter(lines)
            })
            .boxed()
    }

    async fn list(&self, owner: &str) -> Result<Vec<ObservedInstance>, BackendError> {
        let summaries = self.list_labeled(vec![format!("{}={owner}", labels::OWNER)]).await?;
        let mut instances: BTreeMap<String, ObservedInstance> = BTreeMap::new();
        // (inner port, host port) pairs, published by each instance's first container.
        let mut published: HashMap<String, Vec<(u16, u16)>> = HashMap::new();
        for summary in &summaries {
            let labels = summary.labels.clone().unwrap_or_default();
            let get = |key: &str| labels.get(key).cloned().unwrap_or_default();
            // Containers with labels this version cannot read are left alone, not guessed at.
            let Some(kind) = OwnerKind::parse(&get(labels::KIND)) else { continue };
            let Ok(index) = get(labels::INDEX).parse::<usize>() else { continue };
            let instance_id = get(labels::INSTANCE);
            let running = summary.state == Some(ContainerSummaryStateEnum::RUNNING);
            if index == 0 {
                let ports = summary
                    .ports
                    .iter()
                    .flatten()
                    .filter(|p| p.ip.as_deref() == Some(layout::HOST_IP))
                    .filter_map(|p| p.public_port.map(|public| (p.private_port, public)))
                    .collect();
                published.insert(instance_id.clone(), ports);
            }
            let instance = instances.entry(instance_id.clone()).or_insert_with(|| ObservedInstance {
                kind,
                resource: get(labels::RESOURCE),
                variant: get(labels::VARIANT),
                instance_id: instance_id.clone(),
                generation: get(labels::GENERATION),
                containers: Vec::new(),
            });
            instance.containers.push(ObservedContainer {
                container_id: summary.id.clone().unwrap_or_default(),
                name_in_pipeline: get(labels::CONTAINER),
                index,
                running,
                address: None,
                model_dir: summary.mounts.iter().flatten().find_map(|m| {
                    (m.destination.as_deref() == Some(layout::MODEL_DIR))
                        .then(|| m.source.clone().map(std::path::PathBuf::from))?
                }),
            });
        }
        let mut out: Vec<ObservedInstance> = instances.into_values().collect();
        for instance in &mut out {
            instance.containers.sort_by_key(|c| c.index);
            let ports = published.get(&instance.instance_id).cloned().unwrap_or_default();
            for container in &mut instance.containers {
                let inner = layout::inner_port(container.index);
                container.address =
                    ports.iter().find(|(private, _)| *private == inner).map(|(_, public)| layout::loopback(*public));
            }
        }
        Ok(out)
    }

    async fn remove(&self, owner: &str, instance_id: &str) -> Result<(), BackendError> {
        let summaries = self
            .list_labeled(vec![format!("{}={owner}", labels::OWNER), format!("{}={instance_id}", labels::INSTANCE)])
            .await?;
        let mut containers: Vec<(usize, String)> = summaries
            .iter()
            .map(|s| {
                let index =
                    s.labels.as_ref().and_then(|l| l.get(labels::INDEX)).and_then(|i| i.parse().ok()).unwrap_or(0);
                (index, s.id.clone().unwrap_or_default())
            })
            .collect();
        containers.sort();
        let ids: Vec<String> = containers.into_iter().map(|(_, id)| id).collect();
        self.stop_and_remove(&ids).await
    }
}

fn is_not_found(err: &DockerError) -> bool {
    matches!(err, DockerError::DockerResponseServerError { status_code: 404, .. })
}

/// The lines of one frame of the engine's log stream: each begins with the RFC 3339 time the
/// engine stamped it with (`timestamps=true`), then a space. A frame is one line as the engine's
/// log driver keeps them; one that holds several is split.
fn lines_of(frame: &[u8]) -> Vec<LogLine> {
    let text = String::from_utf8_lossy(frame);
    let mut lines = Vec::new();
    let mut last_ms = 0;
    for raw in text.split_terminator('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let (timestamp_ms, message) = match raw.split_once(' ') {
            Some((stamp, message)) => match crate::timestamps::rfc3339_ms(stamp) {
                Some(ms) => (ms, message),
                None => (last_ms, raw),
            },
            None => match crate::timestamps::rfc3339_ms(raw) {
                Some(ms) => (ms, ""),
                None => (last_ms, raw),
            },
        };
        last_ms = timestamp_ms;
        lines.push(LogLine { timestamp_ms, message: message.to_owned() });
    }
    lines
}
