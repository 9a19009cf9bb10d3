//! UpdateEndpoint with a `DeploymentConfig` on the in-memory fake backend: canary and linear
//! traffic shifting (the share of answers from the new fleet measured while each step bakes),
//! the bake and termination wait of all at once, auto-rollback on an alarm, the deployment's
//! timeout, a restart in the middle, and the rules a config is checked against.
#![allow(clippy::expect_used)] // Helpers fail the test by panicking, like the tests themselves.

#[path = "controller/common.rs"]
#[allow(dead_code)] // Shared with controller.rs; not every helper is used here.
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::{ConfigSpec, Env, Smemu, eventually, fleet, scope, variant};
use smemu_backend::fake::Behaviour;
use smemu_runtime::{AlarmStates, EndpointUpdate, Phase, RuntimeError};
use smemu_types::sagemaker::{DeploymentConfig, EndpointStatus};

/// An alarm a test sets off at will.
#[derive(Default)]
struct Alarm {
    firing: AtomicBool,
    /// Every list of names the controller asked about.
    asked: Mutex<Vec<Vec<String>>>,
}

impl AlarmStates for Alarm {
    fn in_alarm(&self, _account: &str, _region: &str, names: &[String], _since_ms: i64) -> Option<String> {
        self.asked.lock().unwrap_or_else(|p| p.into_inner()).push(names.to_vec());
        self.firing.load(Ordering::SeqCst).then(|| names[0].clone())
    }
}

fn deployment(json: serde_json::Value) -> DeploymentConfig {
    serde_json::from_value(json).expect("deployment config")
}

fn canary(instances: i32, wait_s: i32) -> DeploymentConfig {
    deployment(serde_json::json!({
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY", "WaitIntervalInSeconds": wait_s,
                "CanarySize": { "Type": "INSTANCE_COUNT", "Value": instances }
            }
        },
        "AutoRollbackConfiguration": { "Alarms": [{ "AlarmName": "new-fleet-errors" }] }
    }))
}

async fn update_with(
    smemu: &Smemu,
    name: &str,
    config: ConfigSpec,
    with: DeploymentConfig,
) -> Result<String, RuntimeError> {
    smemu.store_config(&config).await;
    let update = EndpointUpdate { config_name: &config.name, retain: None, deployment_config: Some(Some(with)) };
    smemu.runtime.update(&scope(), name, update).await?;
    Ok(smemu.runtime.describe(&scope(), name).await.expect("endpoint").doc.pending.map(|f| f.id).unwrap_or_default())
}

/// The deployment's phase and step now (`None` once none runs).
async fn progress(smemu: &Smemu, name: &str) -> Option<(Phase, u32)> {
    let view = smemu.runtime.describe(&scope(), name).await.expect("endpoint");
    view.doc.rollout.map(|r| (r.phase, r.step))
}

/// Invokes `n` times; the share of answers that came from the new fleet ("two").
async fn share_of_new(smemu: &Smemu, name: &str, n: usize) -> f64 {
    let mut new = 0;
    for _ in 0..n {
        if smemu.invoke_ok(name, "x").await == "two" {
            new += 1;
        }
    }
    new as f64 / n as f64
}

async fn blue_endpoint(env: &Env, smemu: &Smemu, instances: i32) -> String {
    env.fake.script("model:1", Behaviour::fixed(200, "one"));
    env.fake.script("model:2", Behaviour::fixed(200, "two"));
    let blue = smemu.deploy("ep", fleet("config-1", vec![variant("AllTraffic", "model:1", instances)])).await;
    assert_eq!(smemu.settled("ep").await.status, EndpointStatus::InService);
    blue
}

#[tokio::test]
async fn a_canary_of_one_instance_in_three_takes_a_third_of_the_calls_while_it_bakes_then_all() {
    let env = Env::new();
    let smemu = Smemu::start(&env).await;
    let blue = blue_endpoint(&env, &smemu, 3).await;

    let green = update_with(&smemu, "ep", fleet("config-2", vec![variant("AllTraffic", "model:2", 3)]), canary(1, 4))
        .await
        .expect("update");
    eventually("the canary step", || async {
        (progress(&smemu, "ep").await == Some((Phase::ActivatingTraffic, 0))).then_some(())
    })
    .await;
    assert_eq!(smemu.describe("ep").await.expect("endpoint").status, EndpointStatus::Updating);
    let share = share_of_new(&smemu, "ep", 600).await;
    assert!((0.25..0.42).contains(&share), "the canary's share of answers: {share}");
    // Every instance of both fleets runs while the canary bakes.
    assert_eq!(env.instances().await.len(), 6);

    let ep = smemu.settled("ep").await;
    assert_eq!((ep.status, ep.config_name.as_str(), ep.failure_reason), (EndpointStatus::InService, "config-2", None));
    assert_eq!(share_of_new(&smemu, "ep", 50).await, 1.0);
    let left = eventually("the old fleet to be terminated", || async {
        let instances = env.instances().await;
        instances.iter().all(|i| i.generation != blue).then_some(instances)
    })
    .await;
    assert!(left.len() == 3 && left.iter().all(|i| i.generation == green), "{left:?}");
}

#[tokio::test]
async fn a_linear_update_moves_a_third_of_the_traffic_at_each_step() {
    let env = Env::new();
    let smemu = Smemu::start(&env).await;
    blue_endpoint(&env, &smemu, 3).await;
    let linear = deployment(serde_json::json!({
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "LINEAR", "WaitIntervalInSeconds": 3,
                "LinearStepSize": { "Type": "INSTANCE_COUNT", "Value": 1 }
            }
        }
    }));
    update_with(&smemu, "ep", fleet("config-2", vec![variant("AllTraffic", "model:2", 3)]), linear)
        .await
        .expect("update");
    for (step, phase, low, high) in [
        (0, Phase::ActivatingTraffic, 0.25, 0.42),
        (1, Phase::ActivatingTraffic, 0.58, 0.75),
        (2, Phase::Baking, 1.0, 1.0),
    ] {
        eventually(&format!("step {step}"), || async {
            (progress(&smemu, "ep").await == Some((phase, step))).then_some(())
        })
        .await;
        let share = share_of_new(&smemu, "ep", 400).await;
        assert!((low..=high).contains(&share), "step {step}: share {share}");
    }
    let ep = smemu.settled("ep").await;
    assert_eq!((ep.status, ep.config_name.as_str()), (EndpointStatus::InService, "config-2"));
}

#[tokio::test]
async fn all_at_once_bakes_then_keeps_the_old_fleet_for_the_termination_wait() {
    let env = Env::new();
    let smemu = Smemu::start(&env).await;
    let blue = blue_endpoint(&env, &smemu, 1).await;
    let config = deployment(serde_json::json!({
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": { "Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 2 },
            "TerminationWaitInSeconds": 3
        }
    }));
    update_with(&smemu, "ep", fleet("config-2", vec![variant("AllTraffic", "model:2", 1)]), config)
        .await
        .expect("update");
    eventually("the bake", || async { (progress(&smemu, "ep").await == Some((Phase::Baking, 0))).then_some(()) }).await;
    assert_eq!(smemu.describe("ep").await.expect("endpoint").status, EndpointStatus::Updating);
    assert_eq!(share_of_new(&smemu, "ep", 20).await, 1.0);

    let ep = smemu.settled("ep").await;
    assert_eq!((ep.status, ep.config_name.as_str()), (EndpointStatus::InService, "config-2"));
    // Deployed; the old fleet goes only after TerminationWaitInSeconds.
    assert!(env.instances().await.iter().any(|i| i.generation == blue), "the old fleet waits for its termination");
    eventually("the old fleet to be terminated", || async {
        env.instances().await.iter().all(|i| i.generation != blue).then_some(())
    })
    .await;
}

#[tokio::test]
async fn an_alarm_during_the_canary_rolls_back_to_the_old_fleet_with_the_reason() {
    let env = Env::new();
    let smemu = Smemu::start(&env).await;
    let alarm = Arc::new(Alarm::default());
    smemu.runtime.set_alarms(alarm.clone());
    let blue = blue_endpoint(&env, &smemu, 2).await;
    update_with(&smemu, "ep", fleet("config-2", vec![variant("AllTraffic", "model:2", 2)]), canary(1, 60))
        .await
        .expect("update");
    eventually("the canary step", || async {
        (progress(&smemu, "ep").await == Some((Phase::ActivatingTraffic, 0))).then_some(())
    })
    .await;
    assert!(share_of_new(&smemu, "ep", 200).await > 0.3);

    alarm.firing.store(true, Ordering::SeqCst);
    let ep = eventually("the rollback to end", || async {
        smemu.describe("ep").await.filter(|e| e.status == EndpointStatus::InService)
    })
    .await;
    assert_eq!(ep.config_name, "config-1");
    assert_eq!(ep.updating_to, None);
    assert_eq!(
        ep.failure_reason.as_deref(),
        Some(
            "The deployment was rolled back because the CloudWatch alarm 'new-fleet-errors' of the AutoRollbackConfiguration went into ALARM state."
        )
    );
    assert_eq!(share_of_new(&smemu, "ep", 50).await, 0.0);
    let instances = eventually("the new fleet to be removed", || async {
        let instances = env.instances().await;
        instances.iter().all(|i| i.generation == blue).then_some(instances)
    })
    .await;
    assert_eq!(instances.len(), 2);
    assert!(alarm.asked.lock().unwrap_or_else(|p| p.into_inner()).iter().all(|names| names == &["new-fleet-errors"]));
}

#[test]
fn a_restart_in_the_middle_of_a_canary_serves_both_fleets_at_once_and_goes_on() {
    let env = Env::new();
    {
        let process = tokio::runtime::Runtime::new().expect("runtime");
        process.block_on(async {
            let smemu = Smemu::start(&env).await;
            blue_endpoint(&env, &smemu, 2).await;
            update_with(&smemu, "ep", fleet("config-2", vec![variant("AllTraffic", "model:2", 2)]), canary(1, 5))
                .await
                .expect("update");
            eventually("the canary step", || async {
                (progress(&smemu, "ep").await == Some((Phase::ActivatingTraffic, 0))).then_some(())
            })
            .await;
        });
    }
    assert_eq!(env.fake.placed(), 4);
    let process = tokio::runtime::Runtime::new().expect("runtime");
    process.block_on(async {
        let smemu = Smemu::start(&env).await;
        // Both fleets adopted before start-up returns, at the canary's share.
        let share = share_of_new(&smemu, "ep", 400).await;
        assert!((0.38..0.62).contains(&share), "after the restart: {share}");
        let ep = smemu.settled("ep").await;
        assert_eq!(
            (ep.status, ep.config_name.as_str(), ep.failure_reason),
            (EndpointStatus::InService, "config-2", None)
        );
        assert_eq!(env.fake.placed(), 4, "nothing was placed again");
        assert_eq!(share_of_new(&smemu, "ep", 20).await, 1.0);
    });
}

#[test]
fn a_deployment_past_its_maximum_execution_timeout_rolls_back_after_a_restart() {
    let env = Env::new();
    let config = deployment(serde_json::json!({
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY", "WaitIntervalInSeconds": 3600,
                "CanarySize": { "Type": "CAPACITY_PERCENT", "Value": 50 }
            },
            "MaximumExecutionTimeoutInSeconds": 3700
        }
    }));
    {
        let process = tokio::runtime::Runtime::new().expect("runtime");
        process.block_on(async {
            let smemu = Smemu::start(&env).await;
            blue_endpoint(&env, &smemu, 2).await;
            update_with(&smemu, "ep", fleet("config-2", vec![variant("AllTraffic", "model:2", 2)]), config)
                .await
                .expect("update");
            eventually("the canary step", || async {
                (progress(&smemu, "ep").await == Some((Phase::ActivatingTraffic, 0))).then_some(())
            })
            .await;
            // As if the deployment had started more than the timeout ago.
            let mut record = smemu.store.get_endpoint(&scope(), "ep").await.expect("endpoint");
            record.state["rollout"]["started_ms"] = serde_json::json!(smemu_runtime::clock::now_ms() - 3_800_000);
            smemu.store.update_endpoint(&record).await.expect("store");
        });
    }
    let process = tokio::runtime::Runtime::new().expect("runtime");
    process.block_on(async {
        let smemu = Smemu::start(&env).await;
        let ep = eventually("the rollback", || async {
            smemu.describe("ep").await.filter(|e| e.status == EndpointStatus::InService)
        })
        .await;
        assert_eq!(ep.config_name, "config-1");
        assert_eq!(
            ep.failure_reason.as_deref(),
            Some("The deployment was rolled back because it did not complete within the maximum execution timeout of 3700 seconds.")
        );
        assert_eq!(share_of_new(&smemu, "ep", 20).await, 0.0);
    });
}

#[tokio::test]
async fn deployment_configs_are_checked_against_the_fleets_they_deploy() {
    let env = Env::new();
    let smemu = Smemu::start(&env).await;
    blue_endpoint(&env, &smemu, 3).await;
    let three = || fleet("config-2", vec![variant("AllTraffic", "model:2", 3)]);
    let refused = |result: Result<String, RuntimeError>| match result {
        Err(RuntimeError::InvalidDeploymentConfig(message)) => message,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let message = refused(update_with(&smemu, "ep", three(), canary(2, 1)).await);
    assert!(
        message.starts_with("CanarySize must be less than or equal to 50% of the variant's total instance count"),
        "{message}"
    );
    let linear = |percent: i32| {
        deployment(serde_json::json!({ "BlueGreenUpdatePolicy": { "TrafficRoutingConfiguration": {
            "Type": "LINEAR", "WaitIntervalInSeconds": 1, "LinearStepSize": { "Type": "CAPACITY_PERCENT", "Value": percent } } } }))
    };
    assert!(refused(update_with(&smemu, "ep", three(), linear(5)).await).starts_with("LinearStepSize must be 10-50%"));
    assert!(refused(update_with(&smemu, "ep", three(), linear(60)).await).starts_with("LinearStepSize must be 10-50%"));
    let no_size = deployment(serde_json::json!({ "BlueGreenUpdatePolicy": { "TrafficRoutingConfiguration": {
        "Type": "CANARY", "WaitIntervalInSeconds": 1 } } }));
    assert_eq!(
        refused(update_with(&smemu, "ep", three(), no_size).await),
        "CanarySize must be specified for the CANARY traffic routing type."
    );
    let both = deployment(serde_json::json!({
        "BlueGreenUpdatePolicy": { "TrafficRoutingConfiguration": { "Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0 } },
        "RollingUpdatePolicy": { "MaximumBatchSize": { "Type": "INSTANCE_COUNT", "Value": 1 }, "WaitIntervalInSeconds": 0 }
    }));
    assert!(refused(update_with(&smemu, "ep", three(), both).await).starts_with("Only one update policy"));
    let renamed = fleet("config-3", vec![variant("Other", "model:2", 3)]);
    let message = refused(update_with(&smemu, "ep", renamed, canary(1, 1)).await);
    assert!(message.contains("must have the same variant names"), "{message}");
    let two_variants = fleet("config-4", vec![variant("AllTraffic", "model:2", 2), variant("B", "model:2", 2)]);
    let rolling = deployment(serde_json::json!({ "RollingUpdatePolicy": {
        "MaximumBatchSize": { "Type": "INSTANCE_COUNT", "Value": 1 }, "WaitIntervalInSeconds": 0 } }));
    assert!(refused(update_with(&smemu, "ep", two_variants, rolling).await).contains("multiple production variants"));
    let too_short = deployment(serde_json::json!({ "BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": { "Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 600 },
        "TerminationWaitInSeconds": 100, "MaximumExecutionTimeoutInSeconds": 600 } }));
    assert!(
        refused(update_with(&smemu, "ep", three(), too_short).await)
            .starts_with("MaximumExecutionTimeoutInSeconds (600) must be larger")
    );
    // Nothing refused changed the endpoint.
    let ep = smemu.describe("ep").await.expect("endpoint");
    assert_eq!((ep.status, ep.config_name.as_str(), ep.updating_to), (EndpointStatus::InService, "config-1", None));
}

fn rolling(batch: i32, wait_s: i32) -> DeploymentConfig {
    deployment(serde_json::json!({
        "RollingUpdatePolicy": {
            "MaximumBatchSize": { "Type": "INSTANCE_COUNT", "Value": batch },
            "WaitIntervalInSeconds": wait_s
        },
        "AutoRollbackConfiguration": { "Alarms": [{ "AlarmName": "new-fleet-errors" }] }
    }))
}

/// Waits until the first batch of a rolling update of two instances bakes: one new instance
/// beside one old one.
async fn first_batch(env: &Env, smemu: &Smemu, green: &str) -> Vec<smemu_backend::ObservedInstance> {
    eventually("the first batch to bake", || async {
        let instances = env.instances().await;
        let new = instances.iter().filter(|i| i.generation == green).count();
        (progress(smemu, "ep").await == Some((Phase::ActivatingTraffic, 0)) && instances.len() == 2 && new == 1)
            .then_some(instances)
    })
    .await
}

#[tokio::test]
async fn a_rolling_update_replaces_one_batch_at_a_time_and_splits_calls_by_what_runs() {
    let env = Env::new();
    let smemu = Smemu::start(&env).await;
    let blue = blue_endpoint(&env, &smemu, 2).await;
    let green = update_with(&smemu, "ep", fleet("config-2", vec![variant("AllTraffic", "model:2", 2)]), rolling(1, 3))
        .await
        .expect("update");
    // After the first batch: one new instance beside one old one, never more than three running.
    let running = first_batch(&env, &smemu, &green).await;
    assert!(running.iter().any(|i| i.generation == blue), "{running:?}");
    let share = share_of_new(&smemu, "ep", 400).await;
    assert!((0.4..0.6).contains(&share), "one instance of two: {share}");
    assert_eq!(env.fake.placed(), 3, "one new instance placed per batch");

    let ep = smemu.settled("ep").await;
    assert_eq!((ep.status, ep.config_name.as_str(), ep.failure_reason), (EndpointStatus::InService, "config-2", None));
    assert_eq!(share_of_new(&smemu, "ep", 20).await, 1.0);
    let left = eventually("the old fleet to be gone", || async {
        let instances = env.instances().await;
        instances.iter().all(|i| i.generation != blue).then_some(instances)
    })
    .await;
    assert_eq!(left.len(), 2);
    assert_eq!(env.fake.placed(), 4);
}

#[tokio::test]
async fn an_alarm_during_a_rolling_update_brings_the_old_instances_back() {
    let env = Env::new();
    let smemu = Smemu::start(&env).await;
    let alarm = Arc::new(Alarm::default());
    smemu.runtime.set_alarms(alarm.clone());
    let blue = blue_endpoint(&env, &smemu, 2).await;
    let green = update_with(&smemu, "ep", fleet("config-2", vec![variant("AllTraffic", "model:2", 2)]), rolling(1, 60))
        .await
        .expect("update");
    first_batch(&env, &smemu, &green).await;
    alarm.firing.store(true, Ordering::SeqCst);
    let ep = eventually("the rollback", || async {
        smemu.describe("ep").await.filter(|e| e.status == EndpointStatus::InService)
    })
    .await;
    assert_eq!(ep.config_name, "config-1");
    assert!(ep.failure_reason.unwrap_or_default().contains("'new-fleet-errors'"));
    assert_eq!(share_of_new(&smemu, "ep", 50).await, 0.0);
    let instances = eventually("the new instance to go", || async {
        let instances = env.instances().await;
        instances.iter().all(|i| i.generation == blue).then_some(instances)
    })
    .await;
    assert_eq!(instances.len(), 2, "the terminated old instance came back");
}

#[tokio::test]
async fn a_rolling_rollback_that_cannot_bring_the_old_instances_back_is_update_rollback_failed() {
    let env = Env::new();
    let smemu = Smemu::start(&env).await;
    let alarm = Arc::new(Alarm::default());
    smemu.runtime.set_alarms(alarm.clone());
    env.fake.script("model:1", Behaviour::fixed(200, "one"));
    env.fake.script("model:2", Behaviour::fixed(200, "two"));
    let mut old = variant("AllTraffic", "model:1", 2);
    old.startup_timeout_s = 1;
    smemu.deploy("ep", fleet("config-1", vec![old])).await;
    assert_eq!(smemu.settled("ep").await.status, EndpointStatus::InService);
    let green = update_with(&smemu, "ep", fleet("config-2", vec![variant("AllTraffic", "model:2", 2)]), rolling(1, 60))
        .await
        .expect("update");
    first_batch(&env, &smemu, &green).await;
    // The old model can no longer start: the rollback cannot bring its instance back.
    env.fake.script("model:1", Behaviour::fixed(200, "one").ping_fails(503));
    alarm.firing.store(true, Ordering::SeqCst);
    let ep = eventually("the rollback to fail", || async {
        smemu.describe("ep").await.filter(|e| e.status == EndpointStatus::UpdateRollbackFailed)
    })
    .await;
    let reason = ep.failure_reason.unwrap_or_default();
    assert!(reason.contains("'new-fleet-errors'") && reason.contains("did not pass the ping health check"), "{reason}");
    // What runs of both fleets still answers.
    let answer = smemu.invoke_ok("ep", "x").await;
    assert!(answer == "one" || answer == "two", "{answer}");
}
