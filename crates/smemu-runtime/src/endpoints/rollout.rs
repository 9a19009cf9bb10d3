//! An UpdateEndpoint as its `DeploymentConfig` runs it (blue/green): the new fleet comes up beside
//! the old; traffic moves to it in the configured steps (all at once, a canary then the rest, or
//! linear steps), each followed by its wait, during which the `AutoRollbackConfiguration` alarms
//! and the deployment's timeout are checked every second; then the old fleet is terminated after
//! `TerminationWaitInSeconds`. An alarm in ALARM or the timeout rolls back: all traffic to the old
//! fleet, the new one removed, `InService` on the old config with the reason.
//!
//! Each step is stored (`Rollout`) before it starts, by compare-and-set, so that a restart adopts
//! both fleets at the stored share (`reconcile::adopt`) and goes on from there.

use std::sync::Arc;
use std::time::Duration;

use smemu_store::EndpointRecord;
use smemu_types::sagemaker::EndpointStatus;

use super::Endpoints;
use super::deploy::{drain, drain_instance, remove_endpoint_containers, save, save_kept};
use super::plan::{EndpointDoc, Fleet, Phase, Rollout};
use super::policy::{Guardrails, Update};
use crate::clock::now_ms;
use crate::routing::{EndpointKey, LiveEndpoint, LiveInstance, LiveVariant, Shift};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// How often a step that bakes looks at its alarms and at the deployment's timeout.
const ALARM_POLL: Duration = Duration::from_secs(1);

/// Runs (or, after a restart, goes on with) the deployment of `doc.pending`.
pub(super) async fn run(
    ctl: &Endpoints,
    key: &EndpointKey,
    mut record: EndpointRecord,
    mut doc: EndpointDoc,
) -> Result<(), Error> {
    let Some(mut green_fleet) = doc.pending.clone() else { return Ok(()) };
    let guard = Guardrails::of_doc(&doc);
    let mut rollout = doc.rollout.clone().unwrap_or_else(|| Rollout::new(now_ms()));
    let deadline_ms = rollout.started_ms.saturating_add(i64::try_from(guard.timeout_s * 1000).unwrap_or(i64::MAX));
    if rollout.phase == Phase::RollingBack {
        let reason = rollout.reason.clone().unwrap_or_default();
        return roll_back(ctl, key, record, doc, reason).await;
    }
    let old = old_variants(ctl, key);
    // The new fleet: the one the routing table holds when a restart interrupted a step, else
    // brought up now (a restart during its bring-up starts it over).
    let resumed = match rollout.phase {
        Phase::ActivatingTraffic | Phase::Baking => shifted_green(ctl, key),
        _ => None,
    };
    let green = match resumed {
        Some(green) => green,
        None => {
            remove_endpoint_containers(ctl, key, Some(&green_fleet.id)).await;
            rollout.phase = Phase::Creating;
            rollout.step = 0;
            doc.rollout = Some(rollout.clone());
            record = save_kept(ctl, record, EndpointStatus::Updating, &doc).await?;
            let left = Duration::from_millis(u64::try_from(deadline_ms - now_ms()).unwrap_or(0));
            match tokio::time::timeout(left, ctl.bring_up_fleet(key, &mut green_fleet)).await {
                Err(_elapsed) => return roll_back(ctl, key, record, doc, timeout_reason(guard.timeout_s)).await,
                Ok(Err(reason)) => {
                    // The old fleet never stopped serving: back to InService on it, as the service does.
                    remove_endpoint_containers(ctl, key, Some(&green_fleet.id)).await;
                    doc.pending = None;
                    doc.rollout = None;
                    doc.failure_reason = Some(reason);
                    save(ctl, record, EndpointStatus::InService, &doc).await?;
                    return Ok(());
                }
                Ok(Ok(live)) => {
                    doc.pending = Some(green_fleet.clone());
                    live.variants
                }
            }
        }
    };
    let same_variants = old.len() == green.len() && green.iter().all(|g| old.iter().any(|o| o.name == g.name));
    let watched = !guard.alarms.is_empty() || guard.wait_s() > 0;
    if !same_variants || (!guard.stepped() && !watched) {
        // All at once with nothing to watch, or variants that differ (the guardrails need the
        // same ones): the new fleet takes every call at once.
        return complete(ctl, key, record, doc, green, &guard).await;
    }
    let steps = guard.steps(&green_fleet);
    let first = if rollout.phase == Phase::Creating { 0 } else { rollout.step };
    for step in first..steps {
        let resumed = rollout.phase != Phase::Creating && rollout.step == step;
        if !resumed {
            rollout.phase = if step + 1 < steps { Phase::ActivatingTraffic } else { Phase::Baking };
            rollout.step = step;
            rollout.step_started_ms = now_ms();
            doc.rollout = Some(rollout.clone());
        }
        // The routing first, then the step's record: once DescribeEndpoint reports a step, every
        // call is routed by it (saved first, a call made on seeing the step could still take the
        // step before's shares). A restart between the two repeats the recorded step.
        shift(ctl, key, &old, &green, &green_fleet, &guard, step, &doc);
        if !resumed {
            record = save_kept(ctl, record, EndpointStatus::Updating, &doc).await?;
        }
        let until = rollout.step_started_ms.saturating_add(i64::try_from(guard.wait_s() * 1000).unwrap_or(i64::MAX));
        if let Err(reason) = bake(ctl, key, &guard, rollout.step_started_ms, until, deadline_ms).await {
            return roll_back(ctl, key, record, doc, reason).await;
        }
        // Past the first step, a restart's resumed step is behind us.
        rollout.phase = Phase::ActivatingTraffic;
    }
    complete(ctl, key, record, doc, green, &guard).await
}

/// The old fleet's variants as the routing table holds them, without any share moved.
pub(super) fn old_variants(ctl: &Endpoints, key: &EndpointKey) -> Vec<LiveVariant> {
    ctl.inner
        .live
        .get(key)
        .map(|live| live.variants.iter().map(|v| LiveVariant { shift: None, ..v.clone() }).collect())
        .unwrap_or_default()
}

/// The new fleet's variants that a restart's adoption installed beside the old ones, if every
/// variant has its new side with an instance.
pub(super) fn shifted_green(ctl: &Endpoints, key: &EndpointKey) -> Option<Vec<LiveVariant>> {
    let live = ctl.inner.live.get(key)?;
    live.variants
        .iter()
        .map(|v| v.shift.as_ref().filter(|s| !s.to.instances.is_empty()).map(|s| s.to.clone()))
        .collect()
}

/// Installs the routing of `step`: each old variant with its new side taking its share.
#[allow(clippy::too_many_arguments)] // The step's inputs, each needed; a struct would only rename them.
fn shift(
    ctl: &Endpoints,
    key: &EndpointKey,
    old: &[LiveVariant],
    green: &[LiveVariant],
    green_fleet: &Fleet,
    guard: &Guardrails,
    step: u32,
    doc: &EndpointDoc,
) {
    let variants = old
        .iter()
        .map(|variant| {
            let to = green.iter().find(|g| g.name == variant.name).cloned();
            let share = guard.share(green_fleet, &variant.name, step);
            LiveVariant { shift: to.map(|to| Arc::new(Shift { to, share })), ..variant.clone() }
        })
        .collect();
    ctl.inner.live.put(
        key.clone(),
        LiveEndpoint {
            variants,
            capture: ctl.capture_sink(key, &doc.current),
            async_inference: doc.current.async_inference.is_some(),
        },
    );
}

/// Waits until `until_ms`, checking the alarms (at least once) and the deployment's deadline
/// every second; the reason to roll back if either trips. An alarm trips if it is in ALARM or
/// went into ALARM since `since_ms` (the step's start), however briefly.
pub(super) async fn bake(
    ctl: &Endpoints,
    key: &EndpointKey,
    guard: &Guardrails,
    since_ms: i64,
    until_ms: i64,
    deadline_ms: i64,
) -> Result<(), String> {
    loop {
        if let Some(alarm) = ctl.in_alarm(key, &guard.alarms, since_ms) {
            return Err(alarm_reason(&alarm));
        }
        let now = now_ms();
        if now >= deadline_ms {
            return Err(timeout_reason(guard.timeout_s));
        }
        if now >= until_ms {
            return Ok(());
        }
        let left = Duration::from_millis(u64::try_from(until_ms.min(deadline_ms) - now).unwrap_or(0));
        tokio::time::sleep(left.min(ALARM_POLL)).await;
    }
}

/// The new fleet takes every call; the endpoint is `InService` on the new config; the old fleet
/// is terminated after `TerminationWaitInSeconds`, in a task of its own so that the endpoint's
/// reconciles (and the watchdog) are not held meanwhile.
pub(super) async fn complete(
    ctl: &Endpoints,
    key: &EndpointKey,
    record: EndpointRecord,
    mut doc: EndpointDoc,
    green: Vec<LiveVariant>,
    guard: &Guardrails,
) -> Result<(), Error> {
    let Some(green_fleet) = doc.pending.take() else { return Ok(()) };
    let old_live = ctl.inner.live.put(
        key.clone(),
        LiveEndpoint {
            variants: green,
            capture: ctl.capture_sink(key, &green_fleet),
            async_inference: green_fleet.async_inference.is_some(),
        },
    );
    let old_fleet = std::mem::replace(&mut doc.current, green_fleet);
    doc.rollout = None;
    doc.failure_reason = None;
    save(ctl, record, EndpointStatus::InService, &doc).await?;
    let termination_wait = match guard.update {
        Update::BlueGreen { termination_wait_s, .. } => Duration::from_secs(termination_wait_s),
        Update::Rolling { .. } => Duration::ZERO,
    };
    let (ctl, key) = (ctl.clone(), key.clone());
    tokio::spawn(async move {
        tokio::time::sleep(termination_wait).await;
        if let Some(old) = old_live {
            drain(&old).await;
        }
        remove_endpoint_containers(&ctl, &key, Some(&old_fleet.id)).await;
    });
    Ok(())
}

/// All traffic back to the old fleet, the new one drained and removed, `InService` on the old
/// config with `reason` as its FailureReason. `RollingBack` is stored first, so that a restart
/// finishes the way back.
async fn roll_back(
    ctl: &Endpoints,
    key: &EndpointKey,
    record: EndpointRecord,
    mut doc: EndpointDoc,
    reason: String,
) -> Result<(), Error> {
    tracing::warn!(endpoint = %key.name, %reason, "rolling the deployment back");
    let record = begin_rollback(ctl, record, &mut doc, &reason).await?;
    let green: Vec<_> = ctl
        .inner
        .live
        .get(key)
        .map(|live| {
            live.variants.iter().filter_map(|v| v.shift.as_ref()).flat_map(|s| s.to.instances.clone()).collect()
        })
        .unwrap_or_default();
    ctl.inner.live.put(
        key.clone(),
        LiveEndpoint {
            variants: old_variants(ctl, key),
            capture: ctl.capture_sink(key, &doc.current),
            async_inference: doc.current.async_inference.is_some(),
        },
    );
    finish_rollback(ctl, key, record, doc, &green, reason).await
}

/// The start of every rollback (blue/green and rolling): `RollingBack` stored with its reason, so
/// that a restart finishes the rollback rather than the deployment.
pub(super) async fn begin_rollback(
    ctl: &Endpoints,
    record: EndpointRecord,
    doc: &mut EndpointDoc,
    reason: &str,
) -> Result<EndpointRecord, Error> {
    let mut rollout = doc.rollout.clone().unwrap_or_else(|| Rollout::new(now_ms()));
    rollout.phase = Phase::RollingBack;
    rollout.step_started_ms = now_ms();
    rollout.reason = Some(reason.to_owned());
    doc.rollout = Some(rollout);
    save_kept(ctl, record, EndpointStatus::RollingBack, doc).await
}

/// The end of every rollback once the traffic is back on the old fleet: the new instances drained,
/// the new fleet's containers removed, the endpoint `InService` on the old config with `reason`.
pub(super) async fn finish_rollback(
    ctl: &Endpoints,
    key: &EndpointKey,
    record: EndpointRecord,
    mut doc: EndpointDoc,
    green: &[Arc<LiveInstance>],
    reason: String,
) -> Result<(), Error> {
    for instance in green {
        drain_instance(instance).await;
    }
    if let Some(pending) = doc.pending.take() {
        remove_endpoint_containers(ctl, key, Some(&pending.id)).await;
    }
    doc.rollout = None;
    doc.failure_reason = Some(reason);
    save(ctl, record, EndpointStatus::InService, &doc).await?;
    Ok(())
}

/// The FailureReason of a deployment an alarm rolled back.
pub fn alarm_reason(alarm: &str) -> String {
    format!(
        "The deployment was rolled back because the CloudWatch alarm '{alarm}' of the AutoRollbackConfiguration went into ALARM state."
    )
}

/// The FailureReason of a deployment that ran past `MaximumExecutionTimeoutInSeconds`.
pub fn timeout_reason(timeout_s: u64) -> String {
    format!(
        "The deployment was rolled back because it did not complete within the maximum execution timeout of {timeout_s} seconds."
    )
}
