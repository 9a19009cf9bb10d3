//! The Docker backend on bollard.
//!
//! An instance's containers share one network namespace, as on a SageMaker instance: the first
//! container owns it and publishes every container's port on 127.0.0.1 (Docker picks the host
//! ports); the others join it with `network_mode: container:<first>`. Consequences: if the first
//! container dies the namespace goes with it, so the controller replaces whole instances; and only
//! the first container can carry its own hostname (Docker refuses a hostname on a joined
//! namespace), the others share it.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, LogsOptions, RemoveContainerOptions, StopContainerOptions,
};
use futures::StreamExt;

use crate::backend::{
    Backend, ContainerState, InstanceSpec, ObservedContainer, ObservedInstance, OwnerKind, PlacedContainer,
    PlacedInstance,
};
use crate::{RuntimeError, labels};

/// Container `i` of an instance listens on `FIRST_PORT + i` inside the shared namespace.
const FIRST_PORT: u16 = 8080;
/// Container `i` may use `SAFE_PORTS_BASE + 100 i ..= SAFE_PORTS_BASE + 100 i + 99` for extra ports.
const SAFE_PORTS_BASE: u16 = 20000;
/// How long a call to the engine may take before it counts as unreachable.
const ENGINE_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
pub struct DockerBackend {
    docker: Docker,
    /// Between SIGTERM and SIGKILL when stopping (SageMaker waits 30 s).
    stop_grace: Duration,
}

impl DockerBackend {
    /// Connects to the engine at `DOCKER_HOST` or the default socket and checks that it answers.
    pub async fn connect() -> Result<Self, RuntimeError> {
        let docker = Docker::connect_with_defaults()
            .map_err(|e| RuntimeError::EngineUnavailable(e.to_string()))?
            .with_timeout(ENGINE_TIMEOUT);
        let backend = DockerBackend { docker, stop_grace: Duration::from_secs(30) };
        backend.ping().await?;
        Ok(backend)
    }

    pub fn with_stop_grace(mut self, grace: Duration) -> Self {
        self.stop_grace = grace;
        self
    }

    fn container_name(spec: &InstanceSpec, index: usize) -> String {
        let owner: String = spec.owner.chars().take(8).collect();
        format!("smemu-{owner}-{}-{index}", spec.instance_id)
    }

    async fn create_and_start(
        &self,
        spec: &InstanceSpec,
        index: usize,
        namespace_owner: Option<&str>,
    ) -> Result<String, RuntimeError> {
        let container = &spec.containers[index];
        let name = Self::container_name(spec, index);
        let port = FIRST_PORT + index as u16;
        let safe_low = SAFE_PORTS_BASE + 100 * index as u16;
        let mut env: BTreeMap<String, String> = container.environment.clone();
        env.insert("SAGEMAKER_BIND_TO_PORT".into(), port.to_string());
        env.insert("SAGEMAKER_SAFE_PORT_RANGE".into(), format!("{safe_low}-{}", safe_low + 99));
        let labels: HashMap<String, String> = [
            (labels::MANAGED, "true".to_owned()),
            (labels::OWNER, spec.owner.clone()),
            (labels::KIND, spec.kind.as_str().to_owned()),
            (labels::RESOURCE, spec.resource.clone()),
            (labels::VARIANT, spec.variant.clone()),
            (labels::INSTANCE, spec.instance_id.clone()),
            (labels::GENERATION, spec.generation.clone()),
            (labels::CONTAINER, container.name_in_pipeline.clone()),
            (labels::INDEX, index.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let mut host = HostConfig {
            binds: container.model_dir.as_ref().map(|dir| vec![format!("{}:/opt/ml/model:ro", dir.display())]),
            restart_policy: Some(RestartPolicy { name: Some(RestartPolicyNameEnum::NO), maximum_retry_count: None }),
            // An init process forwards SIGTERM to servers that do not handle it as PID 1.
            init: Some(true),
            nano_cpus: spec.limits.map(|l| l.nano_cpus),
            memory: spec.limits.map(|l| l.memory_bytes),
            ..Default::default()
        };
        let mut body = ContainerCreateBody {
            image: Some(container.image.clone()),
            cmd: Some(container.args.clone()),
            env: Some(env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(labels),
            ..Default::default()
        };
        match namespace_owner {
            None => {
                // This container owns the namespace: it publishes every container's port, on loopback only.
                let ports: Vec<String> =
                    (0..spec.containers.len()).map(|i| format!("{}/tcp", FIRST_PORT + i as u16)).collect();
                host.port_bindings = Some(
                    ports
                        .iter()
                        .map(|p| {
                            (
                                p.clone(),
                                Some(vec![PortBinding {
                                    host_ip: Some("127.0.0.1".into()),
                                    host_port: Some(String::new()),
                                }]),
                            )
                        })
                        .collect(),
                );
                body.exposed_ports = Some(ports);
                body.hostname = Some(container.name_in_pipeline.clone());
            }
            Some(owner) => host.network_mode = Some(format!("container:{owner}")),
        }
        body.host_config = Some(host);
        let options = CreateContainerOptions { name: Some(name.clone()), ..Default::default() };
        let created = self.docker.create_container(Some(options), body).await.map_err(|source| {
            if is_not_found(&source) {
                RuntimeError::ImageNotFound { image: container.image.clone() }
            } else {
                RuntimeError::Create { container: name.clone(), source }
            }
        })?;
        if let Err(source) = self.docker.start_container(&created.id, None).await {
            let _ = self.force_remove(&created.id).await;
            return Err(RuntimeError::Start { container: name, source });
        }
        Ok(created.id)
    }

    /// Host ports of the instance's containers, read from the namespace owner.
    async fn published_ports(&self, owner_id: &str, count: usize) -> Result<Vec<u16>, RuntimeError> {
        let inspected = self
            .docker
            .inspect_container(owner_id, None)
            .await
            .map_err(|source| RuntimeError::Inspect { target: owner_id.to_owned(), source })?;
        let ports = inspected.network_settings.and_then(|n| n.ports).unwrap_or_default();
        (0..count)
            .map(|i| {
                let key = format!("{}/tcp", FIRST_PORT + i as u16);
                ports
                    .get(&key)
                    .and_then(|b| b.as_ref())
                    .and_then(|b| b.iter().find(|b| b.host_ip.as_deref() == Some("127.0.0.1")))
                    .and_then(|b| b.host_port.as_deref())
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| RuntimeError::NoPort { container: owner_id.to_owned() })
            })
            .collect()
    }

    /// The first container of an instance that is no longer running, with its exit code and logs.
    async fn first_exited(&self, spec: &InstanceSpec, ids: &[String]) -> Option<RuntimeError> {
        for (index, id) in ids.iter().enumerate() {
            if let Ok(state) = self.inspect(id).await
                && !state.running
            {
                return Some(RuntimeError::Exited {
                    index,
                    name_in_pipeline: spec.containers[index].name_in_pipeline.clone(),
                    code: state.exit_code.unwrap_or(-1),
                    log_tail: self.logs_tail(id, 5).await.unwrap_or_default().trim().to_owned(),
                });
            }
        }
        None
    }

    async fn force_remove(&self, id: &str) -> Result<(), RuntimeError> {
        let options = RemoveContainerOptions { force: true, v: true, ..Default::default() };
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(source) if is_not_found(&source) => Ok(()),
            Err(source) => Err(RuntimeError::Remove { container: id.to_owned(), source }),
        }
    }

    /// Stops the containers (joined ones first, the namespace owner last) and removes them.
    async fn stop_and_remove(&self, ids_in_order: &[String]) -> Result<(), RuntimeError> {
        let grace = i32::try_from(self.stop_grace.as_secs()).unwrap_or(30);
        let stops = ids_in_order.iter().rev().map(|id| async move {
            let options = StopContainerOptions { t: Some(grace), ..Default::default() };
            // Already stopped or gone is fine: removal follows.
            let _ = self.docker.stop_container(id, Some(options)).await;
        });
        futures::future::join_all(stops).await;
        for id in ids_in_order.iter().rev() {
            self.force_remove(id).await?;
        }
        Ok(())
    }

    async fn list_labeled(&self, filters: Vec<String>) -> Result<Vec<bollard::models::ContainerSummary>, RuntimeError> {
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([("label".to_owned(), filters)])),
            ..Default::default()
        };
        self.docker.list_containers(Some(options)).await.map_err(RuntimeError::List)
    }
}

#[async_trait]
impl Backend for DockerBackend {
    async fn ping(&self) -> Result<(), RuntimeError> {
        match tokio::time::timeout(Duration::from_secs(3), self.docker.ping()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(RuntimeError::EngineUnavailable(err.to_string())),
            Err(_) => Err(RuntimeError::EngineUnavailable("no answer within 3 s".into())),
        }
    }

    async fn image_id(&self, image: &str) -> Result<String, RuntimeError> {
        match self.docker.inspect_image(image).await {
            Ok(found) => Ok(found.repo_digests.and_then(|d| d.into_iter().next()).or(found.id).unwrap_or_default()),
            Err(source) if is_not_found(&source) => Err(RuntimeError::ImageNotFound { image: image.to_owned() }),
            Err(source) => Err(RuntimeError::Inspect { target: format!("image {image}"), source }),
        }
    }

    async fn place(&self, spec: &InstanceSpec) -> Result<PlacedInstance, RuntimeError> {
        // A missing image fails before anything is created.
        for container in &spec.containers {
            self.image_id(&container.image).await?;
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
        let ports = match self.published_ports(&ids[0], ids.len()).await {
            Ok(ports) => ports,
            Err(err) => {
                // Ports vanish when the namespace owner exits: say which container died and why.
                let exited = self.first_exited(spec, &ids).await;
                let _ = self.stop_and_remove(&ids).await;
                return Err(exited.unwrap_or(err));
            }
        };
        Ok(PlacedInstance {
            instance_id: spec.instance_id.clone(),
            containers: spec
                .containers
                .iter()
                .zip(ids)
                .zip(ports)
                .map(|((c, container_id), host_port)| PlacedContainer {
                    name_in_pipeline: c.name_in_pipeline.clone(),
                    container_id,
                    host_port,
                })
                .collect(),
        })
    }

    async fn inspect(&self, container_id: &str) -> Result<ContainerState, RuntimeError> {
        let inspected = self
            .docker
            .inspect_container(container_id, None)
            .await
            .map_err(|source| RuntimeError::Inspect { target: container_id.to_owned(), source })?;
        let state = inspected.state.unwrap_or_default();
        Ok(ContainerState { running: state.running.unwrap_or(false), exit_code: state.exit_code })
    }

    async fn logs_tail(&self, container_id: &str, lines: usize) -> Result<String, RuntimeError> {
        let options = LogsOptions { stdout: true, stderr: true, tail: lines.to_string(), ..Default::default() };
        let mut stream = self.docker.logs(container_id, Some(options));
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(output) => text.push_str(&output.to_string()),
                Err(source) => return Err(RuntimeError::Logs { container: container_id.to_owned(), source }),
            }
        }
        Ok(text)
    }

    async fn list(&self, owner: &str) -> Result<Vec<ObservedInstance>, RuntimeError> {
        let summaries = self.list_labeled(vec![format!("{}={owner}", labels::OWNER)]).await?;
        let mut instances: BTreeMap<String, ObservedInstance> = BTreeMap::new();
        // Ports are published by each instance's first container.
        let mut published: HashMap<String, Vec<(u16, u16)>> = HashMap::new();
        for summary in &summaries {
            let labels = summary.labels.clone().unwrap_or_default();
            let get = |key: &str| labels.get(key).cloned().unwrap_or_default();
            let Some(kind) = OwnerKind::parse(&get(labels::KIND)) else { continue };
            let instance_id = get(labels::INSTANCE);
            let index: usize = get(labels::INDEX).parse().unwrap_or(0);
            let running = matches!(summary.state, Some(bollard::models::ContainerSummaryStateEnum::RUNNING));
            if index == 0 {
                let ports = summary
                    .ports
                    .iter()
                    .flatten()
                    .filter(|p| p.ip.as_deref() == Some("127.0.0.1"))
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
                host_port: None,
            });
        }
        let mut out: Vec<ObservedInstance> = instances.into_values().collect();
        for instance in &mut out {
            instance.containers.sort_by_key(|c| c.index);
            let ports = published.get(&instance.instance_id).cloned().unwrap_or_default();
            for container in &mut instance.containers {
                let inner = FIRST_PORT + container.index as u16;
                container.host_port = ports.iter().find(|(private, _)| *private == inner).map(|(_, public)| *public);
            }
        }
        Ok(out)
    }

    async fn remove(&self, instance: &PlacedInstance) -> Result<(), RuntimeError> {
        let ids: Vec<String> = instance.containers.iter().map(|c| c.container_id.clone()).collect();
        self.stop_and_remove(&ids).await
    }

    async fn remove_by_id(&self, owner: &str, instance_id: &str) -> Result<(), RuntimeError> {
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
