//! Bringing a fleet up (artifacts, containers, health) and taking containers down.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smemu_runtime::{Backend, ContainerSpec, InstanceSpec, OwnerKind, PlacedInstance, ResourceLimits, RuntimeError};

use super::Endpoints;
use super::live::{EndpointKey, LiveEndpoint, LiveInstance, LiveVariant};
use super::plan::{ContainerPlan, DeployedImageDoc, Fleet, VariantPlan};
use crate::clock::now_ms;

/// How often `/ping` is polled while instances start: InService soon after the containers answer.
const PING_INTERVAL: Duration = Duration::from_millis(50);
/// How many log lines a FailureReason quotes.
const LOG_TAIL: usize = 5;

/// Why a fleet could not be brought up: the endpoint's FailureReason.
pub(crate) type DeployFailure = String;

impl Endpoints {
    pub(super) fn backend(&self) -> Result<&Arc<dyn Backend>, DeployFailure> {
        self.inner.backend.as_ref().map_err(|why| format!("smemu cannot run containers: {why}"))
    }

    /// Places `count` instances of a variant (numbered from `first`) and waits until every
    /// container answers `/ping`. On failure, removes whatever it placed.
    pub(super) async fn bring_up(
        &self,
        key: &EndpointKey,
        fleet_id: &str,
        variant: &VariantPlan,
        first: usize,
        count: usize,
    ) -> Result<Vec<Arc<LiveInstance>>, DeployFailure> {
        let backend = self.backend()?;
        let model_dirs = self.model_dirs(variant).await?;
        let mut placed = Vec::new();
        let mut failure = None;
        for index in first..first + count {
            let spec = self.instance_spec(key, fleet_id, variant, index, &model_dirs);
            match backend.place(&spec).await {
                Ok(instance) => placed.push(instance),
                Err(RuntimeError::Exited { index, name_in_pipeline, code, log_tail }) => {
                    failure = Some(format!(
                        "{} Container {name_in_pipeline} exited with code {code}; its last log lines: {log_tail}",
                        ping_failure(variant, index)
                    ));
                    break;
                }
                Err(err) => {
                    failure = Some(err.to_string());
                    break;
                }
            }
        }
        if failure.is_none() {
            failure = self.wait_healthy(variant, &placed).await.err();
        }
        if let Some(reason) = failure {
            for instance in &placed {
                self.remove_instance(instance).await;
            }
            return Err(reason);
        }
        Ok(placed.iter().map(|p| Arc::new(live_instance(variant, p))).collect())
    }

    /// Brings every variant of a fleet up; all or nothing.
    pub(super) async fn bring_up_fleet(
        &self,
        key: &EndpointKey,
        fleet: &mut Fleet,
    ) -> Result<LiveEndpoint, DeployFailure> {
        let mut variants: Vec<LiveVariant> = Vec::new();
        for plan in &fleet.variants {
            let count = usize::try_from(plan.desired_instances).unwrap_or(0);
            match self.bring_up(key, &fleet.id, plan, 0, count).await {
                Ok(instances) => variants.push(live_variant(plan, instances)),
                Err(reason) => {
                    for up in &variants {
                        self.remove_live(up).await;
                    }
                    return Err(reason);
                }
            }
        }
        let backend = self.backend()?;
        for plan in &mut fleet.variants {
            plan.current_instances = plan.desired_instances;
            plan.current_weight = plan.desired_weight;
            plan.deployed_images = deployed_images(backend.as_ref(), &plan.containers).await;
        }
        Ok(LiveEndpoint { variants })
    }

    /// Polls `/ping` of every container until all answer 200; fails early when a container exits,
    /// and after the variant's start-up timeout.
    async fn wait_healthy(&self, variant: &VariantPlan, placed: &[PlacedInstance]) -> Result<(), DeployFailure> {
        let deadline = Instant::now() + Duration::from_secs(variant.startup_timeout_s);
        let backend = self.backend()?;
        let mut pending: Vec<(usize, &str, SocketAddr)> = placed
            .iter()
            .flat_map(|instance| {
                instance.containers.iter().enumerate().map(|(i, c)| (i, c.container_id.as_str(), loopback(c.host_port)))
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
            if last_exit_check.elapsed() > Duration::from_millis(500) {
                last_exit_check = Instant::now();
                for (index, id, _) in &pending {
                    if let Ok(state) = backend.inspect(id).await
                        && !state.running
                    {
                        let tail = backend.logs_tail(id, LOG_TAIL).await.unwrap_or_default();
                        return Err(format!(
                            "{} Container {} exited with code {}; its last log lines: {}",
                            ping_failure(variant, *index),
                            variant.containers[*index].hostname,
                            state.exit_code.unwrap_or(-1),
                            tail.trim()
                        ));
                    }
                }
            }
            if Instant::now() >= deadline {
                let (index, id, _) = pending[0];
                let tail = backend.logs_tail(id, LOG_TAIL).await.unwrap_or_default();
                return Err(format!(
                    "{} Container {} did not answer GET /ping with 200 within {} seconds; its last log lines: {}",
                    ping_failure(variant, index),
                    variant.containers[index].hostname,
                    variant.startup_timeout_s,
                    tail.trim()
                ));
            }
            tokio::time::sleep(PING_INTERVAL).await;
        }
        Ok(())
    }

    /// Downloads and unpacks the model artifacts of every container (once per content digest).
    async fn model_dirs(&self, variant: &VariantPlan) -> Result<Vec<Option<PathBuf>>, DeployFailure> {
        let mut dirs = Vec::new();
        for container in &variant.containers {
            dirs.push(self.model_dir(container).await?);
        }
        Ok(dirs)
    }

    async fn model_dir(&self, container: &ContainerPlan) -> Result<Option<PathBuf>, DeployFailure> {
        let (uri, prefix) = match (&container.model_data_url, &container.model_data_prefix) {
            (Some(url), _) => (url, false),
            (None, Some(prefix)) => (prefix, true),
            (None, None) => return Ok(None),
        };
        let Some(objects) = &self.inner.objects else {
            return Err(format!("Could not find model data at {uri}: smemu has no object store configured."));
        };
        let cache = &self.inner.config.artifacts_dir;
        let fetched = if prefix {
            smemu_objects::fetch_model_prefix(objects, cache, uri).await
        } else {
            smemu_objects::fetch_model_artifacts(objects, cache, uri).await
        };
        fetched.map(Some).map_err(|err| format!("Could not find model data at {uri}: {err}"))
    }

    fn instance_spec(
        &self,
        key: &EndpointKey,
        fleet_id: &str,
        variant: &VariantPlan,
        index: usize,
        model_dirs: &[Option<PathBuf>],
    ) -> InstanceSpec {
        InstanceSpec {
            owner: self.inner.config.owner.clone(),
            kind: OwnerKind::Endpoint,
            resource: key.resource_label(),
            variant: variant.name.clone(),
            instance_id: format!("{fleet_id}-{}-{index}", variant.name.to_lowercase()),
            generation: fleet_id.to_owned(),
            containers: variant
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
            limits: if self.inner.config.resource_limits {
                variant.instance_type.as_deref().and_then(limits_of)
            } else {
                None
            },
        }
    }

    pub(super) async fn remove_instance(&self, instance: &PlacedInstance) {
        if let Ok(backend) = self.backend()
            && let Err(err) = backend.remove(instance).await
        {
            tracing::warn!(instance = %instance.instance_id, error = %err, "removing instance");
        }
    }

    pub(super) async fn remove_live(&self, variant: &LiveVariant) {
        if let Ok(backend) = self.backend() {
            for instance in &variant.instances {
                if let Err(err) = backend.remove_by_id(&self.inner.config.owner, &instance.instance_id).await {
                    tracing::warn!(instance = %instance.instance_id, error = %err, "removing instance");
                }
            }
        }
    }
}

pub(super) fn live_variant(plan: &VariantPlan, instances: Vec<Arc<LiveInstance>>) -> LiveVariant {
    LiveVariant::new(
        plan.name.clone(),
        plan.desired_weight,
        plan.direct,
        (0..plan.containers.len()).map(|i| plan.who(i).to_owned()).collect(),
        instances,
    )
}

fn live_instance(plan: &VariantPlan, placed: &PlacedInstance) -> LiveInstance {
    LiveInstance::new(
        placed.instance_id.clone(),
        plan.containers
            .iter()
            .zip(&placed.containers)
            .map(|(c, p)| (c.hostname.clone(), loopback(p.host_port)))
            .collect(),
    )
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The real service's text for a container that never became healthy.
fn ping_failure(variant: &VariantPlan, index: usize) -> String {
    let who = if variant.containers.len() == 1 {
        "primary container".to_owned()
    } else {
        variant.containers[index].hostname.clone()
    };
    format!(
        "The {who} for production variant {} did not pass the ping health check. Please check CloudWatch logs for this endpoint.",
        variant.name
    )
}

async fn deployed_images(backend: &dyn Backend, containers: &[ContainerPlan]) -> Vec<DeployedImageDoc> {
    let mut images = Vec::new();
    for container in containers {
        let resolved = backend.image_id(&container.image).await.unwrap_or_else(|_| container.image.clone());
        images.push(DeployedImageDoc { specified: container.image.clone(), resolved, resolution_ms: now_ms() });
    }
    images
}

/// CPU and memory of the instance types, as limits for each of an instance's containers. CPUs are
/// capped at the machine's: Docker refuses a limit above what the host has.
fn limits_of(instance_type: &str) -> Option<ResourceLimits> {
    let size = instance_type.rsplit('.').next()?;
    let (vcpus, gib): (i64, i64) = match size {
        "medium" => (1, 4),
        "large" => (2, 8),
        "xlarge" => (4, 16),
        "2xlarge" => (8, 32),
        "4xlarge" => (16, 64),
        _ => return None,
    };
    let host_cpus = std::thread::available_parallelism().map_or(1, |n| i64::try_from(n.get()).unwrap_or(1));
    Some(ResourceLimits { nano_cpus: vcpus.min(host_cpus) * 1_000_000_000, memory_bytes: gib * 1024 * 1024 * 1024 })
}
