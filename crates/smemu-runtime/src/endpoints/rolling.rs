//! An UpdateEndpoint with a `RollingUpdatePolicy` (one variant: the guardrails exclude others):
//! the new fleet's instances come up in batches of `MaximumBatchSize`; after each batch as many old
//! instances are drained and terminated, the variant's calls are split by what each fleet runs,
//! and the batch bakes for `WaitIntervalInSeconds` with the alarms watched. A rollback brings the
//! old fleet's instances back in batches of `RollbackMaximumBatchSize` (all at once without one),
//! removing as many new ones each time; when the old instances cannot come back, the endpoint is
//! left `UpdateRollbackFailed`, serving on what runs.

use std::sync::Arc;
use std::time::Duration;

use smemu_store::EndpointRecord;
use smemu_types::sagemaker::EndpointStatus;

use super::Endpoints;
use super::deploy::{drain_instance, live_variant, next_index, remove_endpoint_containers, save, save_kept};
use super::plan::{EndpointDoc, Phase, Rollout};
use super::policy::{Guardrails, Size, Update};
use super::rollout::{self, bake, complete, old_variants, shifted_green, timeout_reason};
use crate::clock::now_ms;
use crate::routing::{EndpointKey, LiveEndpoint, LiveInstance, LiveVariant, Shift};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The share of a variant's calls the new fleet takes when it runs `new` of the variant's
/// instances beside `old` old ones.
pub(super) fn share(old: usize, new: usize) -> f64 {
    if new == 0 { 0.0 } else { new as f64 / (old + new) as f64 }
}

/// Runs (or, after a restart, goes on with) a rolling deployment of `doc.pending`.
pub(super) async fn run(
    ctl: &Endpoints,
    key: &EndpointKey,
    mut record: EndpointRecord,
    mut doc: EndpointDoc,
) -> Result<(), Error> {
    let guard = Guardrails::of_doc(&doc);
    let Update::Rolling { batch, rollback_batch, .. } = guard.update else {
        return rollout::run(ctl, key, record, doc).await;
    };
    let Some(green_fleet) = doc.pending.clone() else { return Ok(()) };
    let (Some(plan), Some(mut old)) =
        (green_fleet.variants.first().cloned(), old_variants(ctl, key).into_iter().next())
    else {
        // Nothing to roll (the checks make this unreachable): as blue/green.
        return rollout::run(ctl, key, record, doc).await;
    };
    let mut rollout = doc.rollout.clone().unwrap_or_else(|| Rollout::new(now_ms()));
    let deadline_ms = rollout.started_ms.saturating_add(i64::try_from(guard.timeout_s * 1000).unwrap_or(i64::MAX));
    if rollout.phase == Phase::RollingBack {
        let reason = rollout.reason.clone().unwrap_or_default();
        return roll_back(ctl, key, record, doc, reason, rollback_batch).await;
    }
    let mut green = match shifted_green(ctl, key).and_then(|mut variants| variants.pop()) {
        Some(green) => green,
        None => {
            // Nothing of the new fleet serves yet: whatever a restart left of it goes.
            remove_endpoint_containers(ctl, key, Some(&green_fleet.id)).await;
            live_variant(&plan, Vec::new())
        }
    };
    let wanted = usize::try_from(plan.desired_instances).unwrap_or(0);
    let size = batch.instances(u32::try_from(wanted).unwrap_or(u32::MAX)) as usize;
    while green.instances.len() < wanted {
        rollout.phase = Phase::ActivatingTraffic;
        rollout.step = u32::try_from(green.instances.len() / size.max(1)).unwrap_or(u32::MAX);
        rollout.step_started_ms = now_ms();
        doc.rollout = Some(rollout.clone());
        record = save_kept(ctl, record, EndpointStatus::Updating, &doc).await?;
        let count = size.min(wanted - green.instances.len());
        let left = Duration::from_millis(u64::try_from(deadline_ms - now_ms()).unwrap_or(0));
        let placed =
            tokio::time::timeout(left, ctl.bring_up(key, &green_fleet.id, &plan, next_index(&green.instances), count));
        match placed.await {
            Err(_elapsed) => {
                return roll_back(ctl, key, record, doc, timeout_reason(guard.timeout_s), rollback_batch).await;
            }
            Ok(Err(reason)) => return roll_back(ctl, key, record, doc, reason, rollback_batch).await,
            Ok(Ok(more)) => green.instances.extend(more),
        }
        // As many old instances go as new ones came.
        let gone = count.min(old.instances.len());
        let removed: Vec<Arc<LiveInstance>> = old.instances.split_off(old.instances.len() - gone);
        route(ctl, key, &doc, &old, &green);
        for instance in removed {
            drain_instance(&instance).await;
            ctl.inner.launcher.remove_by_id(&instance.instance_id).await;
        }
        let until = rollout.step_started_ms.saturating_add(i64::try_from(guard.wait_s() * 1000).unwrap_or(i64::MAX));
        if let Err(reason) = bake(ctl, key, &guard, rollout.step_started_ms, until, deadline_ms).await {
            return roll_back(ctl, key, record, doc, reason, rollback_batch).await;
        }
    }
    complete(ctl, key, record, doc, vec![green], &guard).await
}

/// Routes the variant's calls between what each fleet runs.
fn route(ctl: &Endpoints, key: &EndpointKey, doc: &EndpointDoc, old: &LiveVariant, green: &LiveVariant) {
    let shift = (!green.instances.is_empty())
        .then(|| Arc::new(Shift { to: green.clone(), share: share(old.instances.len(), green.instances.len()) }));
    ctl.inner.live.put(
        key.clone(),
        LiveEndpoint {
            variants: vec![LiveVariant { shift, ..old.clone() }],
            capture: ctl.capture_sink(key, &doc.current),
            async_inference: doc.current.async_inference.is_some(),
        },
    );
}

/// Brings the old fleet back in batches, removing as many new instances each time; then
/// `InService` on the old config with `reason`, or `UpdateRollbackFailed` if the old instances
/// cannot come back.
async fn roll_back(
    ctl: &Endpoints,
    key: &EndpointKey,
    record: EndpointRecord,
    mut doc: EndpointDoc,
    reason: String,
    rollback_batch: Option<Size>,
) -> Result<(), Error> {
    tracing::warn!(endpoint = %key.name, %reason, "rolling the rolling deployment back");
    let record = rollout::begin_rollback(ctl, record, &mut doc, &reason).await?;
    let Some(plan) = doc.current.variants.first().cloned() else { return Ok(()) };
    let mut old = old_variants(ctl, key).into_iter().next().unwrap_or_else(|| live_variant(&plan, Vec::new()));
    let mut green = shifted_green(ctl, key)
        .and_then(|mut variants| variants.pop())
        .unwrap_or_else(|| live_variant(&plan, Vec::new()));
    let wanted = usize::try_from(plan.desired_instances).unwrap_or(0);
    let size = rollback_batch.map_or(wanted, |s| s.instances(u32::try_from(wanted).unwrap_or(u32::MAX)) as usize);
    while old.instances.len() < wanted {
        let count = size.max(1).min(wanted - old.instances.len());
        match ctl.bring_up(key, &doc.current.id, &plan, next_index(&old.instances), count).await {
            Ok(more) => old.instances.extend(more),
            Err(failure) => {
                // The old fleet cannot come back: what runs of both fleets serves on.
                route(ctl, key, &doc, &old, &green);
                doc.failure_reason = Some(format!("{reason} The rollback to the previous fleet failed: {failure}"));
                save(ctl, record, EndpointStatus::UpdateRollbackFailed, &doc).await?;
                return Ok(());
            }
        }
        let gone = count.min(green.instances.len());
        let removed: Vec<Arc<LiveInstance>> = green.instances.split_off(green.instances.len() - gone);
        route(ctl, key, &doc, &old, &green);
        for instance in removed {
            drain_instance(&instance).await;
            ctl.inner.launcher.remove_by_id(&instance.instance_id).await;
        }
    }
    route(ctl, key, &doc, &old, &live_variant(&plan, Vec::new()));
    rollout::finish_rollback(ctl, key, record, doc, &green.instances, reason).await
}
