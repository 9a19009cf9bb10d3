//! UpdateEndpoint with deployment guardrails, end to end with real containers of the test image
//! (`tagger`: each answer names the fleet that gave it): a canary of one instance in three under a
//! client load with no failed call, a linear update through the AWS SDK for Rust, a rolling update
//! in batches, and the refusal of a canary too large.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};

use crate::common::{AwsCli, Smemu, eventually, tagger, unique};

/// A model of the test image answering `<body>|<tag>` and a config of `instances` of it.
fn tagged_config(aws: &AwsCli, tag: &str, instances: u32) -> String {
    let name = unique(tag);
    aws.sagemaker(&["create-model", "--model-name", &name, "--containers", &json!([tagger(tag, None)]).to_string()])
        .json();
    let variant =
        format!("VariantName=AllTraffic,ModelName={name},InstanceType=ml.m5.large,InitialInstanceCount={instances}");
    aws.sagemaker(&["create-endpoint-config", "--endpoint-config-name", &name, "--production-variants", &variant])
        .json();
    name
}

fn deploy_v1(aws: &AwsCli, instances: u32) -> String {
    let name = unique("guarded");
    aws.deploy(&name, &json!([tagger("v1", None)]), &[], instances);
    name
}

/// One InvokeEndpoint over raw HTTP: the body of a 200, or the whole answer otherwise.
fn raw_invoke(url: &str, endpoint: &str) -> String {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /endpoints/{endpoint}/invocations HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    if answer.starts_with("HTTP/1.1 200") {
        answer.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned()
    } else {
        answer
    }
}

/// The share of `n` answers that came from the new fleet (`x|v2`); panics on any failed call.
fn share_of_v2(url: &str, endpoint: &str, n: usize) -> f64 {
    let mut v2 = 0;
    for _ in 0..n {
        match raw_invoke(url, endpoint).as_str() {
            "x|v2" => v2 += 1,
            "x|v1" => {}
            other => panic!("a failed invocation: {other}"),
        }
    }
    v2 as f64 / n as f64
}

/// The pending variant's first `VariantStatus` (`Status`), if an update is pending.
fn pending_status(described: &Value) -> Option<String> {
    described["PendingDeploymentSummary"]["ProductionVariants"][0]["VariantStatus"][0]["Status"]
        .as_str()
        .map(str::to_owned)
}

/// Calls the endpoint back to back from two threads until stopped; returns every answer.
fn load(smemu: &Smemu, endpoint: &str, stop: &Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<Vec<String>>> {
    (0..2)
        .map(|_| {
            let (stop, url, name) = (stop.clone(), smemu.url.clone(), endpoint.to_owned());
            std::thread::spawn(move || {
                let mut answers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    answers.push(raw_invoke(&url, &name));
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                answers
            })
        })
        .collect()
}

#[test]
fn a_canary_of_one_instance_in_three_serves_its_share_then_all_with_no_failed_call() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let name = deploy_v1(&aws, 3);
    let v2 = tagged_config(&aws, "v2", 3);
    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(&smemu, &name, &stop);

    let config = json!({
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY", "WaitIntervalInSeconds": 10,
                "CanarySize": { "Type": "INSTANCE_COUNT", "Value": 1 }
            },
            "TerminationWaitInSeconds": 0
        }
    });
    aws.sagemaker(&[
        "update-endpoint",
        "--endpoint-name",
        &name,
        "--endpoint-config-name",
        &v2,
        "--deployment-config",
        &config.to_string(),
    ])
    .json();
    let during = eventually(120, "the canary step", || {
        let d = aws.describe_endpoint(&name);
        (pending_status(&d).as_deref() == Some("ActivatingTraffic")).then_some(d)
    });
    assert_eq!(during["EndpointStatus"], "Updating", "{during}");
    assert_eq!(during["PendingDeploymentSummary"]["EndpointConfigName"], v2.as_str());
    // Measured within the wait even on a busy machine.
    let share = share_of_v2(&smemu.url, &name, 200);
    assert!((0.2..0.47).contains(&share), "the canary's share of answers: {share}");

    let done = aws.wait_in_service(&name);
    assert_eq!(done["EndpointConfigName"], v2.as_str());
    assert!(done.get("PendingDeploymentSummary").is_none(), "{done}");
    assert_eq!(done["LastDeploymentConfig"], config, "{done}");
    assert_eq!(share_of_v2(&smemu.url, &name, 30), 1.0);
    stop.store(true, Ordering::Relaxed);
    let answers: Vec<String> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    let failed: Vec<&String> = answers.iter().filter(|a| *a != "x|v1" && *a != "x|v2").collect();
    assert!(failed.is_empty(), "{} of {} calls failed: {:?}", failed.len(), answers.len(), &failed[..1]);
    eventually(30, "the old fleet to be terminated", || (smemu.containers(&[]).len() == 3).then_some(()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_linear_update_through_the_sdk_steps_bakes_and_reports_its_config() {
    use aws_sdk_sagemaker::types::{
        BlueGreenUpdatePolicy, CapacitySize, CapacitySizeType, DeploymentConfig, TrafficRoutingConfig,
        TrafficRoutingConfigType, VariantStatus,
    };
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let name = deploy_v1(&aws, 2);
    let v2 = tagged_config(&aws, "v2", 2);
    let client =
        aws_sdk_sagemaker::Client::new(&crate::common::sdk_config(&smemu.url, "AKIDEXAMPLE", "us-east-1").await);
    let config = DeploymentConfig::builder()
        .blue_green_update_policy(
            BlueGreenUpdatePolicy::builder()
                .traffic_routing_configuration(
                    TrafficRoutingConfig::builder()
                        .r#type(TrafficRoutingConfigType::Linear)
                        .wait_interval_in_seconds(3)
                        .linear_step_size(
                            CapacitySize::builder().r#type(CapacitySizeType::CapacityPercent).value(50).build(),
                        )
                        .build(),
                )
                .build(),
        )
        .build();
    client
        .update_endpoint()
        .endpoint_name(&name)
        .endpoint_config_name(&v2)
        .deployment_config(config.clone())
        .send()
        .await
        .unwrap();
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let described = loop {
        let d = client.describe_endpoint().endpoint_name(&name).send().await.unwrap();
        let status = d
            .pending_deployment_summary()
            .and_then(|p| p.production_variants().first())
            .and_then(|v| v.variant_status().first())
            .and_then(|s| s.status().cloned());
        if let Some(status) = status
            && seen.last() != Some(&status)
        {
            seen.push(status);
        }
        if d.endpoint_status().map(|s| s.as_str()) == Some("InService") {
            break d;
        }
        assert!(std::time::Instant::now() < deadline, "the update did not end: {seen:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(described.endpoint_config_name(), Some(v2.as_str()));
    assert_eq!(described.last_deployment_config(), Some(&config));
    assert!(seen.contains(&VariantStatus::ActivatingTraffic), "{seen:?}");
    assert_eq!(seen.last(), Some(&VariantStatus::Baking), "{seen:?}");
    assert_eq!(share_of_v2(&smemu.url, &name, 10), 1.0);
}

#[test]
fn a_rolling_update_replaces_instances_in_batches() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let name = deploy_v1(&aws, 2);
    let v2 = tagged_config(&aws, "v2", 2);
    let config = json!({
        "RollingUpdatePolicy": {
            "MaximumBatchSize": { "Type": "INSTANCE_COUNT", "Value": 1 },
            "WaitIntervalInSeconds": 10
        }
    });
    aws.sagemaker(&[
        "update-endpoint",
        "--endpoint-name",
        &name,
        "--endpoint-config-name",
        &v2,
        "--deployment-config",
        &config.to_string(),
    ])
    .json();
    // After the first batch: one new instance beside one old, half the calls each, never more
    // than three instances running.
    eventually(120, "the first batch to serve", || {
        (pending_status(&aws.describe_endpoint(&name)).as_deref() == Some("ActivatingTraffic")
            && smemu.containers(&[]).len() == 2
            && share_of_v2(&smemu.url, &name, 10) > 0.0)
            .then_some(())
    });
    let share = share_of_v2(&smemu.url, &name, 100);
    assert!((0.3..0.7).contains(&share), "after one batch of two: {share}");
    assert!(smemu.containers(&[]).len() <= 3);
    let done = aws.wait_in_service(&name);
    assert_eq!(done["EndpointConfigName"], v2.as_str());
    assert_eq!(share_of_v2(&smemu.url, &name, 20), 1.0);
    eventually(30, "two instances left", || (smemu.containers(&[]).len() == 2).then_some(()));
}

#[test]
fn a_canary_larger_than_half_the_fleet_is_refused_as_the_service_refuses_it() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let name = deploy_v1(&aws, 1);
    let v2 = tagged_config(&aws, "v2", 3);
    let config = json!({
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY", "WaitIntervalInSeconds": 1,
                "CanarySize": { "Type": "INSTANCE_COUNT", "Value": 2 }
            }
        }
    });
    let out = aws.sagemaker(&[
        "update-endpoint",
        "--endpoint-name",
        &name,
        "--endpoint-config-name",
        &v2,
        "--deployment-config",
        &config.to_string(),
    ]);
    out.assert_error(
        "ValidationException",
        "CanarySize must be less than or equal to 50% of the variant's total instance count: variant AllTraffic has 3 instances.",
    );
    assert_eq!(aws.describe_endpoint(&name)["EndpointStatus"], "InService");
}
