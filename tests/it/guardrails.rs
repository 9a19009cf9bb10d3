//! UpdateEndpoint with deployment guardrails, end to end with real containers of the test image
//! (`tagger`: each answer names the fleet that gave it): a canary of one instance in three under a
//! client load with no failed call, a linear update through the AWS SDK for Rust, a rolling update
//! in batches, the refusal of a canary too large, and rollbacks by CloudWatch alarms: one on the
//! new fleet's 5XX errors, one forced with SetAlarmState.

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
    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(&smemu, &name, &stop);
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
    stop.store(true, Ordering::Relaxed);
    assert_no_failed_call(clients);
}

#[test]
fn a_rolling_update_replaces_instances_in_batches() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let name = deploy_v1(&aws, 2);
    let v2 = tagged_config(&aws, "v2", 2);
    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(&smemu, &name, &stop);
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
    stop.store(true, Ordering::Relaxed);
    assert_no_failed_call(clients);
    eventually(30, "two instances left", || (smemu.containers(&[]).len() == 2).then_some(()));
}

/// Joins the load's clients: every answer came from one fleet or the other.
fn assert_no_failed_call(clients: Vec<std::thread::JoinHandle<Vec<String>>>) {
    let answers: Vec<String> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    let failed: Vec<&String> = answers.iter().filter(|a| *a != "x|v1" && *a != "x|v2").collect();
    assert!(!answers.is_empty());
    assert!(failed.is_empty(), "{} of {} calls failed: {:?}", failed.len(), answers.len(), &failed[..1]);
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

/// The changes of `EndpointStatus` (and the final description) while `name` moves, polled twice a
/// second until it is `InService` with no pending deployment. A rollback is quick here (the old
/// fleet never stopped serving), so a poll may miss `RollingBack`; the statuses seen are checked
/// for order, the outcome by `FailureReason` and by who answers.
fn statuses_until_in_service(aws: &AwsCli, name: &str, secs: u64) -> (Vec<String>, Value) {
    let mut seen: Vec<String> = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let described = aws.describe_endpoint(name);
        let status = described["EndpointStatus"].as_str().unwrap_or_default().to_owned();
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if status == "InService" && described.get("PendingDeploymentSummary").is_none() {
            return (seen, described);
        }
        assert!(std::time::Instant::now() < deadline, "{name} did not settle: {seen:?}, last {described}");
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// `aws cloudwatch put-metric-alarm` with a 10 s period, breached by any datapoint above 0.
fn put_alarm(aws: &AwsCli, alarm: &str, namespace: &str, metric: &str, dimensions: &[String]) {
    let mut args = vec![
        "put-metric-alarm",
        "--alarm-name",
        alarm,
        "--namespace",
        namespace,
        "--metric-name",
        metric,
        "--statistic",
        "Sum",
        "--period",
        "10",
        "--evaluation-periods",
        "1",
        "--threshold",
        "0",
        "--comparison-operator",
        "GreaterThanThreshold",
        "--treat-missing-data",
        "notBreaching",
    ];
    if !dimensions.is_empty() {
        args.push("--dimensions");
        args.extend(dimensions.iter().map(String::as_str));
    }
    let put = aws.run("cloudwatch", &args);
    assert!(put.success, "put-metric-alarm: {}", put.stderr);
}

/// Statuses of a rollback in their order: `Updating`, then `RollingBack` (if a poll saw it), then
/// `InService`; never `Failed`.
fn assert_rolled_back(seen: &[String]) {
    let order = ["Updating", "RollingBack", "InService"];
    let ranks: Vec<Option<usize>> = seen.iter().map(|s| order.iter().position(|o| o == s)).collect();
    assert!(ranks.iter().all(Option::is_some) && ranks.is_sorted(), "statuses as they changed: {seen:?}");
    assert_eq!(seen.last().map(String::as_str), Some("InService"), "{seen:?}");
}

fn alarm_state(aws: &AwsCli, alarm: &str) -> String {
    let described = aws.run("cloudwatch", &["describe-alarms", "--alarm-names", alarm]).json();
    described["MetricAlarms"][0]["StateValue"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn an_alarm_on_5xx_errors_of_a_bad_canary_rolls_the_update_back_with_no_other_failed_call() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let name = deploy_v1(&aws, 2);
    // The bad model: every answer a 500 (the test image's `flaky` role at its default 100 %).
    let bad = unique("bad");
    let container = json!([{"Image": crate::common::TEST_IMAGE, "Environment": {"SMEMU_TEST_ROLE": "flaky"}}]);
    aws.sagemaker(&["create-model", "--model-name", &bad, "--containers", &container.to_string()]).json();
    let variant = format!("VariantName=AllTraffic,ModelName={bad},InstanceType=ml.m5.large,InitialInstanceCount=2");
    aws.sagemaker(&["create-endpoint-config", "--endpoint-config-name", &bad, "--production-variants", &variant])
        .json();
    let v1_config = aws.describe_endpoint(&name)["EndpointConfigName"].as_str().unwrap().to_owned();
    let alarm = unique("errors");
    let dimensions = [format!("Name=EndpointName,Value={name}"), "Name=VariantName,Value=AllTraffic".to_owned()];
    put_alarm(&aws, &alarm, "AWS/SageMaker", "Invocation5XXErrors", &dimensions);

    let stop = Arc::new(AtomicBool::new(false));
    let clients = load(&smemu, &name, &stop);
    let config = json!({
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY", "WaitIntervalInSeconds": 300,
                "CanarySize": { "Type": "INSTANCE_COUNT", "Value": 1 }
            },
            "TerminationWaitInSeconds": 0
        },
        "AutoRollbackConfiguration": { "Alarms": [{ "AlarmName": alarm }] }
    });
    aws.sagemaker(&[
        "update-endpoint",
        "--endpoint-name",
        &name,
        "--endpoint-config-name",
        &bad,
        "--deployment-config",
        &config.to_string(),
    ])
    .json();
    // The canary's errors trip the alarm long before its 300 s wait ends.
    let (seen, done) = statuses_until_in_service(&aws, &name, 240);
    stop.store(true, Ordering::Relaxed);
    assert_rolled_back(&seen);
    assert_eq!(alarm_state(&aws, &alarm), "ALARM");
    assert_eq!(done["EndpointConfigName"], v1_config.as_str(), "{done}");
    let reason = done["FailureReason"].as_str().unwrap_or_default();
    assert!(reason.contains(&alarm) && reason.contains("rolled back"), "FailureReason: {reason}");
    assert_eq!(share_of_v2(&smemu.url, &name, 20), 0.0, "all traffic back on the old fleet");
    // Every failed call is one the bad model answered itself.
    let answers: Vec<String> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    let bad_answers = answers.iter().filter(|a| a.contains("flaky model failure")).count();
    let failed: Vec<&String> = answers.iter().filter(|a| *a != "x|v1" && !a.contains("flaky model failure")).collect();
    assert!(bad_answers > 0, "the canary served no call of the load");
    assert!(failed.is_empty(), "{} of {} calls failed otherwise: {:?}", failed.len(), answers.len(), &failed[..1]);
    eventually(30, "the bad fleet to be removed", || (smemu.containers(&[]).len() == 2).then_some(()));
}

#[test]
fn set_alarm_state_forces_a_rollback_while_the_new_fleet_bakes() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let name = deploy_v1(&aws, 1);
    let v1_config = aws.describe_endpoint(&name)["EndpointConfigName"].as_str().unwrap().to_owned();
    let v2 = tagged_config(&aws, "v2", 1);
    // An alarm on a metric nobody publishes: only SetAlarmState moves it.
    let alarm = unique("manual");
    put_alarm(&aws, &alarm, "Custom/Guardrails", "NeverPublished", &[]);
    let config = json!({
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": { "Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 300 },
            "TerminationWaitInSeconds": 0
        },
        "AutoRollbackConfiguration": { "Alarms": [{ "AlarmName": alarm }] }
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
    // All traffic on the new fleet, which bakes for 300 s.
    eventually(120, "the new fleet to take the traffic", || {
        let described = aws.describe_endpoint(&name);
        (pending_status(&described).is_some() && share_of_v2(&smemu.url, &name, 5) == 1.0).then_some(())
    });
    let set = aws.run(
        "cloudwatch",
        &["set-alarm-state", "--alarm-name", &alarm, "--state-value", "ALARM", "--state-reason", "forced by the test"],
    );
    assert!(set.success, "set-alarm-state: {}", set.stderr);
    let (seen, done) = statuses_until_in_service(&aws, &name, 120);
    assert_rolled_back(&seen);
    assert_eq!(done["EndpointConfigName"], v1_config.as_str(), "{done}");
    assert!(done["FailureReason"].as_str().unwrap_or_default().contains(&alarm), "{done}");
    assert_eq!(share_of_v2(&smemu.url, &name, 20), 0.0);
    eventually(30, "the new fleet to be removed", || (smemu.containers(&[]).len() == 1).then_some(()));
}

/// smemu is killed (SIGKILL) while `config` moves traffic, and started again on its data directory:
/// the deployment is still `Updating`, the endpoint answers at once (both fleets adopted), and the
/// update goes on to `InService` on the new config with every instance of it.
fn a_deployment_survives_a_crash_of_smemu(config: Value, instances: u32) {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut smemu = Smemu::start_in(&data_dir);
    let aws = smemu.aws();
    let name = deploy_v1(&aws, instances);
    let v2 = tagged_config(&aws, "v2", instances);
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
    eventually(120, "the first traffic step", || {
        (pending_status(&aws.describe_endpoint(&name)).as_deref() == Some("ActivatingTraffic")
            && share_of_v2(&smemu.url, &name, 10) > 0.0)
            .then_some(())
    });
    smemu.kill();

    let smemu = Smemu::start_in(&data_dir);
    let aws = smemu.aws();
    let described = aws.describe_endpoint(&name);
    assert_eq!(described["EndpointStatus"], "Updating", "{described}");
    assert_eq!(described["PendingDeploymentSummary"]["EndpointConfigName"], v2.as_str(), "{described}");
    // Both fleets serve from the first call after the restart (share_of_v2 panics on a failed call).
    share_of_v2(&smemu.url, &name, 20);
    let done = aws.wait_in_service(&name);
    assert_eq!(done["EndpointConfigName"], v2.as_str(), "{done}");
    assert!(done.get("FailureReason").is_none(), "{done}");
    assert_eq!(share_of_v2(&smemu.url, &name, 20), 1.0);
    eventually(60, "only the new fleet left", || (smemu.containers(&[]).len() == instances as usize).then_some(()));
}

#[test]
fn a_canary_goes_on_after_smemu_is_killed_mid_way() {
    a_deployment_survives_a_crash_of_smemu(
        json!({"BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY", "WaitIntervalInSeconds": 15,
                "CanarySize": { "Type": "INSTANCE_COUNT", "Value": 1 }
            },
            "TerminationWaitInSeconds": 0
        }}),
        3,
    );
}

#[test]
fn a_linear_update_goes_on_after_smemu_is_killed_mid_way() {
    a_deployment_survives_a_crash_of_smemu(
        json!({"BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "LINEAR", "WaitIntervalInSeconds": 10,
                "LinearStepSize": { "Type": "CAPACITY_PERCENT", "Value": 50 }
            },
            "TerminationWaitInSeconds": 0
        }}),
        2,
    );
}

#[test]
fn a_rolling_update_goes_on_after_smemu_is_killed_mid_way() {
    a_deployment_survives_a_crash_of_smemu(
        json!({"RollingUpdatePolicy": {
            "MaximumBatchSize": { "Type": "INSTANCE_COUNT", "Value": 1 },
            "WaitIntervalInSeconds": 10
        }}),
        2,
    );
}
