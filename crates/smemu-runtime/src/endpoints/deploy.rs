//! Bringing an endpoint's fleet up (through the shared `launch` machinery) and taking its instances down.

use std::sync::Arc;
use std::time::Duration;

use smemu_store::EndpointRecord;
use smemu_types::sagemaker::EndpointStatus;

use smemu_backend::{Backend, OwnerKind, PlacedInstance};

use super::Endpoints;
use super::plan::{DeployedImageDoc, EndpointDoc, Fleet, VariantPlan};
use crate::clock::now_ms;
use crate::failure::INSTANCE_QUOTA_NAME;
use crate::launch::LaunchSpec;
use crate::pipeline::ContainerPlan;
use crate::routing::{EndpointKey, LiveEndpoint, LiveInstance, LiveVariant};

/// How long an old fleet may keep finishing requests after traffic moved away from it.
const DRAIN_LIMIT: Duration = Duration::from_secs(65);

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Why a fleet could not be brought up: the endpoint's FailureReason.
pub type DeployFailure = String;

impl Endpoints {
    pub(super) fn backend(&self) -> Result<&Arc<dyn Backend>, DeployFailure> {
        self.inner.launcher.backend().map_err(|err| err.to_string())
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
        // `Runtime` keeps every account within the quota (`quota.rs`); a store written otherwise (an older
        // smemu, a lower `--max-instances` since) must not make this allocate per instance asked for.
        self.within_quota(u64::try_from(count).unwrap_or(u64::MAX))?;
        let spec = LaunchSpec {
            kind: OwnerKind::Endpoint,
            resource: key.resource_label(),
            variant: &variant.name,
            generation: fleet_id,
            instance_type: variant.instance_type.as_deref(),
            containers: &variant.containers,
            startup_timeout: Duration::from_secs(variant.startup_timeout_s),
            epoch_s: now_ms() / 1000,
        };
        let ids: Vec<String> =
            (first..first + count).map(|index| format!("{fleet_id}-{}-{index}", variant.name.to_lowercase())).collect();
        match self.inner.launcher.launch(&spec, &ids).await {
            Ok(placed) => Ok(placed.iter().map(|p| Arc::new(live_instance(variant, p))).collect()),
            Err(err) => Err(match err.container() {
                Some(index) => format!("{} {err}", ping_failure(variant, index)),
                None => err.to_string(),
            }),
        }
    }

    /// Brings every variant of a fleet up; all or nothing.
    pub(super) async fn bring_up_fleet(
        &self,
        key: &EndpointKey,
        fleet: &mut Fleet,
    ) -> Result<LiveEndpoint, DeployFailure> {
        self.within_quota(fleet.instances())?;
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
        Ok(LiveEndpoint {
            variants,
            capture: self.capture_sink(key, fleet),
            async_inference: fleet.async_inference.is_some(),
        })
    }

    /// Refuses a fleet (or a part of one) larger than `--max-instances` with the reason the
    /// endpoint records.
    pub(super) fn within_quota(&self, instances: u64) -> Result<(), DeployFailure> {
        let limit = self.max_instances();
        if instances > u64::from(limit) { Err(over_quota(instances, limit)) } else { Ok(()) }
    }

    pub(super) async fn remove_live(&self, variant: &LiveVariant) {
        for instance in &variant.instances {
            self.inner.launcher.remove_by_id(&instance.instance_id).await;
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
        plan.containers.iter().zip(&placed.containers).map(|(c, p)| (c.hostname.clone(), p.address)).collect(),
    )
}

/// The FailureReason of an endpoint whose fleet alone is larger than the instance quota.
fn over_quota(instances: u64, limit: u32) -> String {
    format!(
        "The endpoint asks for {instances} instances, more than the account-level service limit '{INSTANCE_QUOTA_NAME}' of {limit} Instances."
    )
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

pub(super) async fn save(
    ctl: &Endpoints,
    record: EndpointRecord,
    status: EndpointStatus,
    doc: &EndpointDoc,
) -> Result<(), Error> {
    let changed = EndpointRecord { status, modified_ms: now_ms(), state: serde_json::to_value(doc)?, ..record };
    ctl.inner.store.update_endpoint(&changed).await?;
    Ok(())
}

/// [`save`], returning the stored record, for the next compare-and-set.
pub(super) async fn save_kept(
    ctl: &Endpoints,
    record: EndpointRecord,
    status: EndpointStatus,
    doc: &EndpointDoc,
) -> Result<EndpointRecord, Error> {
    let changed = EndpointRecord { status, modified_ms: now_ms(), state: serde_json::to_value(doc)?, ..record };
    Ok(ctl.inner.store.update_endpoint(&changed).await?)
}

/// Waits until no request is in flight on an old fleet (bounded), so that an update or delete
/// fails no invocation.
pub(super) async fn drain(old: &LiveEndpoint) {
    for instance in old.instances() {
        drain_instance(instance).await;
    }
}

pub(super) async fn drain_instance(instance: &LiveInstance) {
    let deadline = tokio::time::Instant::now() + DRAIN_LIMIT;
    while instance.in_flight() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Removes the endpoint's containers: all of them, or those of one fleet.
pub(super) async fn remove_endpoint_containers(ctl: &Endpoints, key: &EndpointKey, fleet: Option<&str>) {
    ctl.inner.launcher.remove_resource(OwnerKind::Endpoint, &key.resource_label(), fleet).await;
}

/// Instance ids end in their index within the variant; new ones continue after the highest.
pub(super) fn next_index(instances: &[Arc<LiveInstance>]) -> usize {
    instances
        .iter()
        .filter_map(|i| i.instance_id.rsplit('-').next().and_then(|n| n.parse::<usize>().ok()))
        .max()
        .map_or(0, |n| n + 1)
}
