//! What a reconcile does for each endpoint status, start-up adoption, and the watchdog.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use smemu_backend::{ObservedInstance, OwnerKind};
use smemu_store::{EndpointRecord, StoreError};
use smemu_types::sagemaker::EndpointStatus;

use super::Endpoints;
use super::deploy::{drain, drain_instance, live_variant, next_index, remove_endpoint_containers, save};
use super::plan::{EndpointDoc, Fleet, Phase};
use super::policy::{Guardrails, Update};
use super::{rolling, rollout};
use crate::capture::Followed;
use crate::routing::{EndpointKey, LiveEndpoint, LiveInstance, LiveVariant, Shift};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// One reconcile of one endpoint.
pub(super) async fn run(ctl: &Endpoints, key: &EndpointKey) -> Result<(), Error> {
    let record = match ctl.inner.store.get_endpoint(&key.scope(), &key.name).await {
        Ok(record) => record,
        Err(StoreError::NotFound { .. }) => return Ok(()),
        Err(err) => return Err(err.into()),
    };
    let mut doc: EndpointDoc = serde_json::from_value(record.state.clone())?;
    if matches!(record.status, EndpointStatus::Creating | EndpointStatus::Updating | EndpointStatus::InService)
        && let Err(reason) = ctl.within_quota(doc.current.instances())
    {
        // Stored by an older smemu or before `--max-instances` was lowered: this endpoint alone
        // cannot run here. It fails with the reason instead of being brought up (or healed).
        tracing::warn!(endpoint = %key.name, %reason, "endpoint over the instance quota");
        ctl.inner.live.remove(key);
        remove_endpoint_containers(ctl, key, None).await;
        doc.pending = None;
        doc.failure_reason = Some(reason);
        save(ctl, record, EndpointStatus::Failed, &doc).await?;
        return Ok(());
    }
    match record.status {
        EndpointStatus::Creating => {
            // A restart may have left part of a fleet: start from nothing.
            remove_endpoint_containers(ctl, key, None).await;
            match ctl.bring_up_fleet(key, &mut doc.current).await {
                Ok(live) => {
                    ctl.inner.live.put(key.clone(), live);
                    save(ctl, record, EndpointStatus::InService, &doc).await?;
                }
                Err(reason) => {
                    doc.failure_reason = Some(reason);
                    save(ctl, record, EndpointStatus::Failed, &doc).await?;
                }
            }
        }
        EndpointStatus::Updating | EndpointStatus::RollingBack => {
            if ctl.inner.live.get(key).is_none() {
                // A restart interrupted the update: the current fleet serves again (what of it
                // still runs) before the change goes on; what a half-built new fleet left goes
                // with every container adoption does not keep.
                adopt_running(ctl, key, &doc).await?;
            }
            update(ctl, key, record, doc).await?;
        }
        EndpointStatus::Deleting => {
            if let Some(old) = ctl.inner.live.remove(key) {
                drain(&old).await;
            }
            remove_endpoint_containers(ctl, key, None).await;
            match ctl.inner.store.delete_endpoint(&record.scope, &record.name, record.version).await {
                Ok(()) | Err(StoreError::NotFound { .. }) => {}
                Err(err) => return Err(err.into()),
            }
        }
        EndpointStatus::Failed => {
            ctl.inner.live.remove(key);
            remove_endpoint_containers(ctl, key, None).await;
        }
        _ => heal(ctl, key, &doc).await?,
    }
    Ok(())
}

/// An `Updating` (or `RollingBack`) endpoint: UpdateEndpoint deploys the pending fleet as its
/// `DeploymentConfig` says (`rollout`); UpdateEndpointWeightsAndCapacities (no pending fleet)
/// rescales the current one.
async fn update(ctl: &Endpoints, key: &EndpointKey, record: EndpointRecord, mut doc: EndpointDoc) -> Result<(), Error> {
    if doc.pending.is_some() {
        return match Guardrails::of_doc(&doc).update {
            Update::Rolling { .. } => rolling::run(ctl, key, record, doc).await,
            Update::BlueGreen { .. } => rollout::run(ctl, key, record, doc).await,
        };
    }
    if let Err(reason) = rescale(ctl, key, &mut doc).await {
        doc.failure_reason = Some(reason);
    }
    save(ctl, record, EndpointStatus::InService, &doc).await?;
    Ok(())
}

/// Applies UpdateEndpointWeightsAndCapacities: weights at once, instances added or removed.
async fn rescale(ctl: &Endpoints, key: &EndpointKey, doc: &mut EndpointDoc) -> Result<(), String> {
    let live = ctl.inner.live.get(key).map(|l| (*l).clone()).unwrap_or(LiveEndpoint {
        variants: vec![],
        capture: None,
        async_inference: false,
    });
    let mut variants: Vec<LiveVariant> = Vec::new();
    let mut removed: Vec<Arc<LiveInstance>> = Vec::new();
    let mut failure = None;
    for plan in &mut doc.current.variants {
        let mut instances = live.variant(&plan.name).map(|v| v.instances.clone()).unwrap_or_default();
        let desired = usize::try_from(plan.desired_instances).unwrap_or(0);
        if instances.len() < desired {
            let next = next_index(&instances);
            match ctl.bring_up(key, &doc.current.id, plan, next, desired - instances.len()).await {
                Ok(more) => instances.extend(more),
                Err(reason) => failure = Some(reason),
            }
        } else {
            removed.extend(instances.drain(desired..));
        }
        plan.current_instances = i32::try_from(instances.len()).unwrap_or(i32::MAX);
        plan.current_weight = plan.desired_weight;
        variants.push(live_variant(plan, instances));
    }
    ctl.inner.live.put(
        key.clone(),
        LiveEndpoint {
            variants,
            capture: ctl.capture_sink(key, &doc.current),
            async_inference: doc.current.async_inference.is_some(),
        },
    );
    for instance in removed {
        drain_instance(&instance).await;
        ctl.inner.launcher.remove_by_id(&instance.instance_id).await;
    }
    failure.map_or(Ok(()), Err)
}

/// An InService endpoint: every instance of its fleet must be running; dead ones are replaced.
async fn heal(ctl: &Endpoints, key: &EndpointKey, doc: &EndpointDoc) -> Result<(), Error> {
    let Ok(backend) = ctl.backend() else { return Ok(()) };
    let observed = backend.list(ctl.inner.launcher.owner()).await?;
    let running: HashSet<&str> = observed
        .iter()
        .filter(|o| o.resource == key.resource_label() && o.generation == doc.current.id && o.all_running())
        .map(|o| o.instance_id.as_str())
        .collect();
    let Some(live) = ctl.inner.live.get(key) else {
        // Not routed yet (start-up): adopt what runs and answers; the next tick replaces the rest.
        return adopt(ctl, key, doc, &observed).await;
    };
    // A capture whose engine stream broke follows again (one that runs is left alone).
    for found in observed.iter().filter(|o| running.contains(o.instance_id.as_str())) {
        follow(ctl, found, found.containers.iter().map(|c| c.name_in_pipeline.clone()));
    }
    let mut changed = false;
    let mut variants = Vec::new();
    for variant in &live.variants {
        let Some(plan) = doc.current.variant(&variant.name) else { continue };
        let mut instances = Vec::new();
        for instance in &variant.instances {
            if running.contains(instance.instance_id.as_str()) {
                instances.push(instance.clone());
                continue;
            }
            changed = true;
            tracing::warn!(endpoint = %key.name, instance = %instance.instance_id, "instance died; replacing it");
            ctl.inner.launcher.remove_by_id(&instance.instance_id).await;
        }
        // Dead instances are replaced here; one whose replacement failed (engine busy, image
        // removed) is tried again on the next tick.
        let desired = usize::try_from(plan.desired_instances).unwrap_or(0);
        if instances.len() < desired {
            changed = true;
            let next = next_index(&instances);
            match ctl.bring_up(key, &doc.current.id, plan, next, desired - instances.len()).await {
                Ok(more) => instances.extend(more),
                Err(reason) => tracing::warn!(endpoint = %key.name, %reason, "re-creating missing instances"),
            }
        }
        variants.push(LiveVariant { instances, ..variant.clone() });
    }
    if changed {
        ctl.inner.live.put(
            key.clone(),
            LiveEndpoint {
                variants,
                capture: live.capture.clone(),
                async_inference: doc.current.async_inference.is_some(),
            },
        );
    }
    Ok(())
}

/// [`adopt`] with what the backend runs now; nothing to adopt without an engine.
async fn adopt_running(ctl: &Endpoints, key: &EndpointKey, doc: &EndpointDoc) -> Result<(), Error> {
    let Ok(backend) = ctl.backend() else { return Ok(()) };
    let observed = backend.list(ctl.inner.launcher.owner()).await?;
    adopt(ctl, key, doc, &observed).await
}

/// Routes to the healthy instances of the current fleet that an earlier smemu left running (and,
/// when it stopped in the middle of a step of traffic, to the new fleet's beside them at the
/// stored share); other containers of the endpoint go. Missing instances are left to the
/// watchdog's next [`heal`], so that start-up never waits for containers to come up.
async fn adopt(
    ctl: &Endpoints,
    key: &EndpointKey,
    doc: &EndpointDoc,
    observed: &[ObservedInstance],
) -> Result<(), Error> {
    let mut variants = adopt_fleet(ctl, key, &doc.current, observed).await;
    let shifting = doc.rollout.as_ref().filter(|r| matches!(r.phase, Phase::ActivatingTraffic | Phase::Baking));
    if let (Some(rollout), Some(green_fleet)) = (shifting, &doc.pending) {
        let green = adopt_fleet(ctl, key, green_fleet, observed).await;
        let guard = Guardrails::of_doc(doc);
        for variant in &mut variants {
            if let Some(to) = green.iter().find(|g| g.name == variant.name && !g.instances.is_empty()) {
                let share = match guard.update {
                    // A rolling update's share is what each fleet runs of the variant.
                    Update::Rolling { .. } => rolling::share(variant.instances.len(), to.instances.len()),
                    Update::BlueGreen { .. } => guard.share(green_fleet, &variant.name, rollout.step),
                };
                variant.shift = Some(Arc::new(Shift { to: to.clone(), share }));
            }
        }
    }
    let keep: HashSet<String> = variants
        .iter()
        .flat_map(|v| v.instances.iter().chain(v.shift.iter().flat_map(|s| s.to.instances.iter())))
        .map(|i| i.instance_id.clone())
        .collect();
    ctl.inner.live.put(
        key.clone(),
        LiveEndpoint {
            variants,
            capture: ctl.capture_sink(key, &doc.current),
            async_inference: doc.current.async_inference.is_some(),
        },
    );
    for stale in observed.iter().filter(|o| {
        o.kind == OwnerKind::Endpoint && o.resource == key.resource_label() && !keep.contains(&o.instance_id)
    }) {
        ctl.inner.launcher.remove_by_id(&stale.instance_id).await;
    }
    Ok(())
}

/// The running, healthy instances of one fleet of the endpoint, by variant (at most as many as
/// each wants); those that do not answer are removed.
async fn adopt_fleet(
    ctl: &Endpoints,
    key: &EndpointKey,
    fleet: &Fleet,
    observed: &[ObservedInstance],
) -> Vec<LiveVariant> {
    let mut variants = Vec::new();
    for plan in &fleet.variants {
        let mut instances: Vec<Arc<LiveInstance>> = Vec::new();
        for found in observed.iter().filter(|o| {
            o.resource == key.resource_label() && o.generation == fleet.id && o.variant == plan.name && o.all_running()
        }) {
            let containers: Vec<_> = plan
                .containers
                .iter()
                .zip(&found.containers)
                .filter_map(|(c, o)| o.address.map(|addr| (c.hostname.clone(), addr)))
                .collect();
            let mut healthy = containers.len() == plan.containers.len();
            for (_, addr) in &containers {
                healthy = healthy && ctl.inner.launcher.relay().ping(*addr, Duration::from_secs(2)).await;
            }
            if healthy {
                // Adopted containers go on being captured, from where their streams stopped.
                follow(ctl, found, plan.containers.iter().map(|c| c.hostname.clone()));
                instances.push(Arc::new(LiveInstance::new(found.instance_id.clone(), containers)));
            } else {
                ctl.inner.launcher.remove_by_id(&found.instance_id).await;
            }
        }
        let desired = usize::try_from(plan.desired_instances).unwrap_or(0);
        instances.truncate(desired);
        variants.push(live_variant(plan, instances));
    }
    variants
}

/// Start-up: every endpoint reconciled (InService ones adopt their containers before this returns,
/// endpoints in progress go on in the background), and containers of endpoints that no longer
/// exist removed.
pub(super) async fn adopt_all(ctl: &Endpoints) -> Result<(), Error> {
    let records = ctl.inner.store.all_endpoints().await?;
    let known: HashSet<String> = records.iter().map(|r| EndpointKey::new(&r.scope, &r.name).resource_label()).collect();
    if let Ok(backend) = ctl.backend() {
        for orphan in backend
            .list(ctl.inner.launcher.owner())
            .await?
            .iter()
            .filter(|o| o.kind == OwnerKind::Endpoint && !known.contains(&o.resource))
        {
            tracing::info!(instance = %orphan.instance_id, resource = %orphan.resource, "removing container of no endpoint");
            ctl.inner.launcher.remove_by_id(&orphan.instance_id).await;
        }
    }
    for record in records {
        let key = EndpointKey::new(&record.scope, &record.name);
        if matches!(record.status, EndpointStatus::Updating | EndpointStatus::RollingBack) {
            // The fleets that served when smemu stopped serve again before the API answers, at the
            // share a deployment had reached; the deployment goes on in the background.
            match serde_json::from_value::<EndpointDoc>(record.state.clone()) {
                Ok(doc) => adopt_running(ctl, &key, &doc).await?,
                Err(err) => tracing::error!(endpoint = %key.name, error = %err, "reading endpoint"),
            }
        }
        if matches!(
            record.status,
            EndpointStatus::Creating
                | EndpointStatus::Updating
                | EndpointStatus::RollingBack
                | EndpointStatus::Deleting
        ) {
            // Bringing a fleet up can take minutes (up to the start-up health check timeout):
            // the API serves meanwhile, as it does while any endpoint is being created.
            ctl.kick(key);
        } else {
            // Adopted before the API serves, so an InService endpoint answers from the start.
            ctl.reconcile(&key).await;
        }
    }
    Ok(())
}

/// The watchdog: heal every InService endpoint.
pub(super) async fn watch(ctl: &Endpoints) -> Result<(), Error> {
    for record in ctl.inner.store.all_endpoints().await? {
        if record.status == EndpointStatus::InService {
            ctl.reconcile(&EndpointKey::new(&record.scope, &record.name)).await;
        }
    }
    Ok(())
}

/// Captures the output of a running instance's containers (`names`: their names in the pipeline,
/// in order) from where their streams stopped; a container followed already is left alone.
fn follow(ctl: &Endpoints, found: &ObservedInstance, names: impl Iterator<Item = String>) {
    let followed = Followed {
        kind: OwnerKind::Endpoint,
        resource: &found.resource,
        variant: &found.variant,
        instance_id: &found.instance_id,
        epoch_s: 0,
    };
    let ids: Vec<(String, String)> = found.containers.iter().map(|c| c.container_id.clone()).zip(names).collect();
    ctl.inner.launcher.capture(&followed, &ids);
}
