//! The endpoint and transform-job controllers on the in-memory fake backend: no container engine,
//! a real SQLite store in a temporary directory, a 50 ms watchdog. Each test scripts the fake's
//! images (healthy, failing `/ping`, crashing, slow), drives the controllers through the helpers
//! in `controller/common.rs` and checks what the store says and what the engine runs.

#[path = "controller/common.rs"]
mod common;

use std::time::Duration;

use common::{Env, Smemu, async_fleet, container, eventually, fleet, job_request, variant, write_inputs};
use smemu_backend::OwnerKind;
use smemu_backend::fake::Behaviour;
use smemu_runtime::InvokeError;
use smemu_types::sagemaker::{EndpointStatus, TransformJobStatus};

/// The text SageMaker gives an endpoint whose only container never answered `/ping`.
const PING_FAILURE: &str = "The primary container for production variant AllTraffic did not pass the ping health check. Please check CloudWatch logs for this endpoint.";

#[tokio::test]
async fn a_created_endpoint_comes_in_service_on_its_instances_and_answers() {
    let env = Env::new();
    env.fake.script("model:1", Behaviour::echo());
    let smemu = Smemu::start(&env).await;
    let fleet_id = smemu.deploy("ep", fleet("config-1", vec![variant("AllTraffic", "model:1", 2)])).await;

    let ep = smemu.settled("ep").await;
    assert_eq!((ep.status, ep.failure_reason), (EndpointStatus::InService, None));
    let instances = env.instances().await;
    assert_eq!(instances.len(), 2, "{instances:?}");
    for instance in &instances {
        assert_eq!(instance.kind, OwnerKind::Endpoint);
        assert_eq!(instance.resource, "123456789012/us-east-1/ep");
        assert_eq!((instance.variant.as_str(), instance.generation.as_str()), ("AllTraffic", fleet_id.as_str()));
        assert!(instance.all_running());
    }
    let answer = smemu.invoke("ep", "1,2,3").await.expect("invoke");
    assert_eq!((&answer.body[..], answer.variant.as_str()), (&b"1,2,3"[..], "AllTraffic"));
    assert_eq!(answer.content_type.as_ref().and_then(|v| v.to_str().ok()), Some("text/csv"));
}

#[tokio::test]
async fn a_container_that_fails_ping_fails_the_endpoint_with_the_reason_and_its_logs() {
    let env = Env::new();
    env.fake.script("model:sick", Behaviour::echo().ping_fails(503).logs(["loading weights", "CUDA not found"]));
    let smemu = Smemu::start(&env).await;
    let mut sick = variant("AllTraffic", "model:sick", 1);
    sick.startup_timeout_s = 1;
    smemu.deploy("ep", fleet("config-1", vec![sick])).await;

    let ep = smemu.settled("ep").await;
    assert_eq!(ep.status, EndpointStatus::Failed);
    let reason = ep.failure_reason.unwrap_or_default();
    assert!(reason.starts_with(PING_FAILURE), "{reason}");
    assert!(reason.contains("within 1 seconds") && reason.contains("CUDA not found"), "{reason}");
    assert!(env.instances().await.is_empty(), "a failed endpoint keeps no instance");
    match smemu.invoke("ep", "x").await {
        Err(InvokeError::NotInService { status, .. }) => assert_eq!(status, EndpointStatus::Failed),
        other => panic!("expected NotInService, got {other:?}"),
    }
}

#[tokio::test]
async fn a_missing_image_fails_the_endpoint_naming_the_image() {
    let env = Env::new();
    let smemu = Smemu::start(&env).await;
    smemu.deploy("ep", fleet("config-1", vec![variant("AllTraffic", "nowhere/model:404", 1)])).await;

    let ep = smemu.settled("ep").await;
    assert_eq!(ep.status, EndpointStatus::Failed);
    let reason = ep.failure_reason.unwrap_or_default();
    assert!(reason.contains("image nowhere/model:404 is not present"), "{reason}");
    assert_eq!(env.fake.placed(), 0);
}

#[tokio::test]
async fn an_update_brings_the_new_fleet_up_beside_the_old_then_moves_traffic_and_removes_the_old() {
    let env = Env::new();
    env.fake.script("model:1", Behaviour::fixed(200, "one"));
    // Held unhealthy until the test has seen the old fleet serve during the update.
    env.fake.script("model:2", Behaviour::fixed(200, "two").ping_fails(503));
    let smemu = Smemu::start(&env).await;
    let blue_id = smemu.deploy("ep", fleet("config-1", vec![variant("AllTraffic", "model:1", 1)])).await;
    assert_eq!(smemu.settled("ep").await.status, EndpointStatus::InService);
    assert_eq!(smemu.invoke_ok("ep", "x").await, "one");

    let green_id = smemu.update("ep", fleet("config-2", vec![variant("AllTraffic", "model:2", 2)])).await;
    // Both fleets run; the old one serves while the new one is not healthy.
    eventually("the new fleet to be placed", || async {
        let instances = env.instances().await;
        (instances.iter().filter(|i| i.generation == green_id).count() == 2).then_some(())
    })
    .await;
    let during = smemu.describe("ep").await.expect("endpoint");
    assert_eq!((during.status, during.updating_to.as_deref()), (EndpointStatus::Updating, Some("config-2")));
    assert_eq!(smemu.invoke_ok("ep", "x").await, "one");

    env.fake.script("model:2", Behaviour::fixed(200, "two"));
    let ep = smemu.settled("ep").await;
    assert_eq!((ep.status, ep.failure_reason), (EndpointStatus::InService, None));
    assert_eq!((ep.fleet_id.as_str(), ep.config_name.as_str(), ep.updating_to), (green_id.as_str(), "config-2", None));
    assert_eq!(smemu.invoke_ok("ep", "x").await, "two");
    let instances = eventually("the old fleet to be removed", || async {
        let instances = env.instances().await;
        instances.iter().all(|i| i.generation != blue_id).then_some(instances)
    })
    .await;
    assert_eq!(instances.len(), 2);
    assert!(instances.iter().all(|i| i.generation == green_id && i.all_running()), "{instances:?}");
}

#[tokio::test]
async fn a_failed_update_leaves_the_old_fleet_serving_and_says_why() {
    let env = Env::new();
    env.fake.script("model:1", Behaviour::fixed(200, "one"));
    env.fake.script("model:broken", Behaviour::echo().ping_fails(500).logs(["Traceback: bad model"]));
    let smemu = Smemu::start(&env).await;
    let blue_id = smemu.deploy("ep", fleet("config-1", vec![variant("AllTraffic", "model:1", 1)])).await;
    assert_eq!(smemu.settled("ep").await.status, EndpointStatus::InService);

    let mut broken = variant("AllTraffic", "model:broken", 1);
    broken.startup_timeout_s = 1;
    smemu.update("ep", fleet("config-2", vec![broken])).await;

    // As the service does: back to InService on the old fleet, the reason kept.
    let ep = smemu.settled("ep").await;
    assert_eq!(ep.status, EndpointStatus::InService);
    let reason = ep.failure_reason.unwrap_or_default();
    assert!(reason.starts_with(PING_FAILURE) && reason.contains("Traceback: bad model"), "{reason}");
    assert_eq!((ep.fleet_id.as_str(), ep.config_name.as_str(), ep.updating_to), (blue_id.as_str(), "config-1", None));
    assert_eq!(smemu.invoke_ok("ep", "x").await, "one");
    let instances = env.instances().await;
    assert_eq!(instances.len(), 1, "the new fleet is removed: {instances:?}");
    assert_eq!(instances[0].generation, blue_id);
}

#[tokio::test]
async fn the_watchdog_replaces_a_crashed_instance() {
    let env = Env::new();
    env.fake.script("model:1", Behaviour::echo());
    let smemu = Smemu::start(&env).await;
    smemu.deploy("ep", fleet("config-1", vec![variant("AllTraffic", "model:1", 2)])).await;
    assert_eq!(smemu.settled("ep").await.status, EndpointStatus::InService);
    let before = env.running_addresses().await;
    assert_eq!(before.len(), 2);
    assert_eq!(sorted(smemu.routed("ep").await), before);

    let (crashed, survivor) = (&before[0], &before[1]);
    assert!(env.fake.crash(&crashed.0));
    // Replaced on the engine and in the routing: traffic goes to what runs.
    let after = eventually("the crashed instance to be replaced and routed", || async {
        let running = env.running_addresses().await;
        let routed = sorted(smemu.routed("ep").await);
        (running.len() == 2 && routed == running).then_some(running)
    })
    .await;
    assert!(after.contains(survivor), "the healthy instance is kept: {after:?}");
    assert!(!after.contains(crashed), "{after:?}");
    assert_eq!(env.fake.placed(), 3);
    assert_eq!(smemu.describe("ep").await.expect("endpoint").status, EndpointStatus::InService);
    // Both routed instances answer (the least busy one takes each call in turn).
    for _ in 0..4 {
        assert_eq!(smemu.invoke_ok("ep", "still here").await, "still here");
    }
}

#[test]
fn containers_output_is_captured_into_their_stream_and_a_restart_neither_loses_nor_repeats_it() {
    let env = Env::new();
    env.fake.script("model:1", Behaviour::echo().logs(["loading", "ready"]));
    let group = "/aws/sagemaker/Endpoints/ep";
    let stream = {
        let process = tokio::runtime::Runtime::new().expect("runtime");
        process.block_on(async {
            let smemu = Smemu::start(&env).await;
            smemu.deploy("ep", fleet("config-1", vec![variant("AllTraffic", "model:1", 1)])).await;
            assert_eq!(smemu.settled("ep").await.status, EndpointStatus::InService);
            let streams = eventually("the container's lines to be captured", || async {
                let streams = smemu.log_lines(group).await;
                (streams.len() == 1 && streams[0].1.len() == 2).then_some(streams)
            })
            .await;
            assert_eq!(streams[0].1, ["loading", "ready"]);
            // `<VariantName>/<instance-id>`, the id in EC2's form.
            let (variant, instance) = streams[0].0.split_once('/').expect("variant/instance");
            assert_eq!(variant, "AllTraffic");
            assert!(instance.starts_with("i-0") && instance.len() == 19, "{instance}");
            streams[0].0.clone()
        })
    };
    // While smemu is down the container writes one more line; the engine keeps them all.
    env.fake.script("model:1", Behaviour::echo().logs(["loading", "ready", "served while smemu was down"]));
    let process = tokio::runtime::Runtime::new().expect("runtime");
    process.block_on(async {
        let smemu = Smemu::start(&env).await;
        let streams = eventually("the adopted container's new line to be captured", || async {
            let streams = smemu.log_lines(group).await;
            streams.first().is_some_and(|s| s.1.len() >= 3).then_some(streams)
        })
        .await;
        assert_eq!(
            streams,
            vec![(stream, vec!["loading".to_owned(), "ready".into(), "served while smemu was down".into()])]
        );
    });
}

#[test]
fn a_restarted_smemu_adopts_the_running_instances_and_replaces_the_dead() {
    let env = Env::new();
    env.fake.script("model:1", Behaviour::echo());
    let (kept, dead) = {
        // The first smemu: its runtime is the process; dropping it ends every task it runs.
        let process = tokio::runtime::Runtime::new().expect("runtime");
        process.block_on(async {
            let smemu = Smemu::start(&env).await;
            smemu.deploy("ep", fleet("config-1", vec![variant("AllTraffic", "model:1", 2)])).await;
            assert_eq!(smemu.settled("ep").await.status, EndpointStatus::InService);
            let running = env.running_addresses().await;
            (running[0].clone(), running[1].clone())
        })
    };
    // While smemu is down, one instance dies; the engine keeps the other running.
    assert!(env.fake.crash(&dead.0));
    assert_eq!(env.fake.placed(), 2);

    let process = tokio::runtime::Runtime::new().expect("runtime");
    process.block_on(async {
        let smemu = Smemu::start(&env).await;
        // Adopted before start-up returns: it answers at once, on the instance that survived.
        assert_eq!(smemu.describe("ep").await.expect("endpoint").status, EndpointStatus::InService);
        assert_eq!(smemu.routed("ep").await, vec![kept.clone()]);
        let served_before = env.fake.invocations()[&kept.0];
        assert_eq!(smemu.invoke_ok("ep", "after restart").await, "after restart");
        assert_eq!(env.fake.invocations()[&kept.0], served_before + 1);
        // The dead one is replaced by the watchdog (under its id, with new containers).
        let healed = eventually("the dead instance to be replaced and routed", || async {
            let running = env.running_addresses().await;
            let routed = sorted(smemu.routed("ep").await);
            (running.len() == 2 && routed == running).then_some(running)
        })
        .await;
        assert!(healed.contains(&kept), "the adopted instance is kept: {healed:?}");
        assert!(!healed.contains(&dead), "{healed:?}");
        assert_eq!(env.fake.placed(), 3, "only the dead instance was placed again");
    });
}

#[tokio::test]
async fn a_deleted_endpoint_goes_with_its_instances() {
    let env = Env::new();
    env.fake.script("model:1", Behaviour::echo());
    let smemu = Smemu::start(&env).await;
    smemu.deploy("ep", fleet("config-1", vec![variant("AllTraffic", "model:1", 2)])).await;
    assert_eq!(smemu.settled("ep").await.status, EndpointStatus::InService);

    smemu.delete("ep").await;
    smemu.gone("ep").await;
    assert!(env.instances().await.is_empty());
    assert!(matches!(smemu.invoke("ep", "x").await, Err(InvokeError::EndpointNotFound { .. })));
}

fn sorted(mut routed: Vec<(String, Vec<std::net::SocketAddr>)>) -> Vec<(String, Vec<std::net::SocketAddr>)> {
    routed.sort();
    routed
}

#[tokio::test]
async fn a_transform_job_spreads_its_objects_over_its_instances_and_completes() {
    let env = Env::new();
    env.fake.script("model:batch", Behaviour::echo().logs(["batch model ready"]));
    write_inputs(&env, 4);
    let smemu = Smemu::start(&env).await;
    smemu.start_job("job", job_request(&env, 2), vec![container("model:batch")]).await;

    let job = smemu.job_ended("job").await;
    assert_eq!((job.status, job.failure_reason.as_deref()), (TransformJobStatus::Completed, None));
    assert!(job.started && job.ended);
    for i in 0..4 {
        let output = std::fs::read_to_string(env.file(&format!("out/part-{i}.csv.out"))).expect("output");
        assert_eq!(output, format!("{i},a\n{i},b\n"));
    }
    // Two instances, each given two of the four objects (one request each).
    let served = env.fake.invocations();
    assert_eq!(served.len(), 2, "{served:?}");
    assert!(served.values().all(|&n| n == 2), "{served:?}");
    assert!(job.logs.iter().any(|l| l.ends_with("/primary: batch model ready")), "{:?}", job.logs);
    assert!(env.instances_of(OwnerKind::TransformJob).await.is_empty(), "a finished job keeps no instance");
}

#[tokio::test]
async fn a_stopped_transform_job_ends_stopped_writes_nothing_and_removes_its_instances() {
    let env = Env::new();
    // Answers long after the test is over: the job is mid-transform when it is stopped.
    env.fake.script("model:slow", Behaviour::echo().answer_after(Duration::from_secs(3600)));
    write_inputs(&env, 2);
    let smemu = Smemu::start(&env).await;
    smemu.start_job("job", job_request(&env, 2), vec![container("model:slow")]).await;
    eventually("both instances to receive a request", || async {
        let served = env.fake.invocations();
        (served.len() == 2 && served.values().all(|&n| n == 1)).then_some(())
    })
    .await;
    assert_eq!(env.instances_of(OwnerKind::TransformJob).await.len(), 2);

    smemu.stop_job("job").await;
    let job = smemu.job_ended("job").await;
    assert_eq!((job.status, job.failure_reason.as_deref()), (TransformJobStatus::Stopped, None));
    assert!(job.started && job.ended);
    assert!(env.instances_of(OwnerKind::TransformJob).await.is_empty(), "a stopped job keeps no instance");
    // No output object, and no temporary file of a cancelled write (`.<name>.part-<id>`) that a
    // later job listing `out/` would read as an input.
    let written: Vec<String> = std::fs::read_dir(env.file("out"))
        .map(|dir| dir.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    assert!(written.is_empty(), "a stopped job writes nothing: {written:?}");
}

#[tokio::test]
async fn async_requests_write_their_outputs_and_failures_and_each_mode_refuses_the_other() {
    let env = Env::new();
    env.fake.script("model:1", Behaviour::echo());
    env.fake.script("model:bad", Behaviour::fixed(500, "exploded"));
    let smemu = Smemu::start(&env).await;
    let (out, fail) = (env.file_uri("async/out"), env.file_uri("async/fail"));
    smemu.deploy("ep", async_fleet("async-1", vec![variant("AllTraffic", "model:1", 1)], &out, &fail)).await;
    smemu.deploy("bad", async_fleet("async-2", vec![variant("AllTraffic", "model:bad", 1)], &out, &fail)).await;
    smemu.deploy("rt", fleet("rt-1", vec![variant("AllTraffic", "model:1", 1)])).await;
    for name in ["ep", "bad", "rt"] {
        assert_eq!(smemu.settled(name).await.status, EndpointStatus::InService);
    }

    let accepted = smemu.invoke_async("ep", "1,2,3", "id-1").await.expect("accepted");
    assert_eq!(accepted.output_location, format!("{out}/id-1.out"));
    assert_eq!(accepted.failure_location, Some(format!("{fail}/id-1-error.out")));
    for i in 2..6 {
        smemu.invoke_async("ep", &format!("{i}"), &format!("id-{i}")).await.expect("accepted");
    }
    for i in 1..6 {
        let path = env.file(&format!("async/out/id-{i}.out"));
        let body = eventually("an async output", || async { std::fs::read_to_string(&path).ok() }).await;
        assert_eq!(body, if i == 1 { "1,2,3".to_owned() } else { format!("{i}") });
    }
    smemu.invoke_async("bad", "x", "id-bad").await.expect("accepted");
    let path = env.file("async/fail/id-bad-error.out");
    let failure = eventually("the failure object", || async { std::fs::read_to_string(&path).ok() }).await;
    assert!(failure.contains("Received server error (500) from primary") && failure.contains("exploded"), "{failure}");
    assert!(!env.file("async/out/id-bad.out").exists());

    assert!(matches!(smemu.invoke("ep", "x").await, Err(InvokeError::AsyncEndpoint { .. })));
    assert!(matches!(smemu.invoke_async("rt", "x", "id-rt").await, Err(InvokeError::NotAsyncEndpoint { .. })));
    assert!(matches!(smemu.invoke_async("none", "x", "id-none").await, Err(InvokeError::EndpointNotFound { .. })));
}
