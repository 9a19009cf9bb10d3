//! Endpoints on real Docker containers, through the AWS CLI: pipelines, Direct mode, instances,
//! variants, updates, healing, restart and delete.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::json;

use crate::common::{AwsCli, Smemu, TEST_IMAGE, eventually, tagger, unique};

#[test]
fn a_two_container_pipeline_runs_both_containers_in_order() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let name = unique("pipe2");
    // The second container starts slowly, so the endpoint is seen Creating before InService: long
    // enough for two CLI calls on a loaded machine (at 3 s, CI-like load let it finish first).
    let mut slow = tagger("b", None);
    slow["Environment"]["SMEMU_TEST_STARTUP_DELAY_MS"] = json!("10000");
    aws.sagemaker(&[
        "create-model",
        "--model-name",
        &name,
        "--containers",
        &json!([tagger("a", None), slow]).to_string(),
    ])
    .json();
    aws.create_config(&name, &name);
    let created = aws.sagemaker(&["create-endpoint", "--endpoint-name", &name, "--endpoint-config-name", &name]).json();
    assert_eq!(created["EndpointArn"], format!("arn:aws:sagemaker:us-east-1:000000000000:endpoint/{name}"));
    let creating = aws.describe_endpoint(&name);
    assert_eq!(creating["EndpointStatus"], "Creating");
    let (not_yet, _) = aws.invoke(&name, "x", &[]);
    not_yet.assert_error("ValidationError", "is not in service");
    aws.wait_in_service(&name);

    let (out, body) = aws.invoke(&name, "x\ny\n", &[]);
    let meta = out.json();
    assert_eq!(body, "x|a|b\ny|a|b\n");
    assert_eq!(meta["InvokedProductionVariant"], "AllTraffic");
    assert_eq!(meta["ContentType"], "text/plain");

    let described = aws.describe_endpoint(&name);
    let variant = &described["ProductionVariants"][0];
    assert_eq!(variant["CurrentInstanceCount"], 1);
    assert_eq!(variant["DesiredInstanceCount"], 1);
    assert_eq!(variant["CurrentWeight"], 1.0);
    let images = variant["DeployedImages"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    assert_eq!(images[0]["SpecifiedImage"], TEST_IMAGE);
    assert!(images[0]["ResolvedImage"].as_str().unwrap().contains("sha256:"), "{images:?}");
    // Both containers of the instance run, with our labels.
    assert_eq!(smemu.containers(&["smemu.variant=AllTraffic"]).len(), 2);
}

#[test]
fn a_three_container_pipeline_and_direct_mode() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let serial = unique("pipe3");
    aws.deploy(
        &serial,
        &json!([tagger("a", Some("one")), tagger("b", Some("two")), tagger("c", Some("three"))]),
        &[],
        1,
    );
    assert_eq!(aws.invoke(&serial, "x", &[]).1, "x|a|b|c");
    // Custom attributes reach the containers and come back (the test model echoes them).
    let (out, _) = aws.invoke(&serial, "x", &["--custom-attributes", "trace=42"]);
    assert_eq!(out.json()["CustomAttributes"], "trace=42");
    // A body over 6 MB is refused before any container sees it.
    let big = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(big.path(), vec![b'x'; 6 * 1024 * 1024 + 1]).unwrap();
    let (too_big, _) = aws.invoke(&serial, &format!("fileb://{}", big.path().display()), &[]);
    too_big.assert_error("ValidationError", "Member must have length less than or equal to 6291456");
    // ListEndpoints filters by name and status.
    let listed = aws.sagemaker(&["list-endpoints", "--name-contains", &serial, "--status-equals", "InService"]).json();
    assert_eq!(listed["Endpoints"].as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed["Endpoints"][0]["EndpointName"], serial.as_str());
    let none = aws.sagemaker(&["list-endpoints", "--name-contains", &serial, "--status-equals", "Failed"]).json();
    assert_eq!(none["Endpoints"], json!([]));
    // A Serial endpoint refuses a target container.
    let (out, _) = aws.invoke(&serial, "x", &["--target-container-hostname", "two"]);
    out.assert_error("ValidationError", "Serial mode");

    let direct = unique("direct");
    aws.deploy(
        &direct,
        &json!([tagger("a", Some("first")), tagger("b", Some("second"))]),
        &["--inference-execution-config", "Mode=Direct"],
        1,
    );
    assert_eq!(aws.invoke(&direct, "x", &["--target-container-hostname", "second"]).1, "x|b");
    assert_eq!(aws.invoke(&direct, "x", &["--target-container-hostname", "first"]).1, "x|a");
    let (missing, _) = aws.invoke(&direct, "x", &[]);
    missing.assert_error("ValidationError", "X-Amzn-SageMaker-Target-Container-Hostname");
    let (unknown, _) = aws.invoke(&direct, "x", &["--target-container-hostname", "third"]);
    unknown.assert_error("ValidationError", "The target container hostname third is not present");
}

#[test]
fn two_instances_both_serve_and_two_variants_share_traffic_by_weight() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let name = unique("fleet");
    aws.deploy(&name, &json!([tagger("only", None)]), &[], 2);
    assert_eq!(smemu.containers(&[]).len(), 2);
    for _ in 0..12 {
        assert_eq!(aws.invoke(&name, "x", &[]).1, "x|only");
    }
    // Each instance logged some of the requests (least-busy routing spreads sequential calls only
    // when both are idle, so look for at least one each).
    for id in smemu.containers(&[]) {
        let logs = Command::new("docker").args(["logs", &id]).output().unwrap();
        let text = String::from_utf8_lossy(&logs.stdout).to_string() + &String::from_utf8_lossy(&logs.stderr);
        assert!(text.contains("/invocations"), "instance {id} served nothing: {text}");
    }

    // Two variants with their own models and weights.
    let blue = unique("blue");
    let green = unique("green");
    aws.sagemaker(&["create-model", "--model-name", &blue, "--containers", &json!([tagger("blue", None)]).to_string()])
        .json();
    aws.sagemaker(&[
        "create-model",
        "--model-name",
        &green,
        "--containers",
        &json!([tagger("green", None)]).to_string(),
    ])
    .json();
    let config = unique("two-variants");
    aws.sagemaker(&[
        "create-endpoint-config",
        "--endpoint-config-name",
        &config,
        "--production-variants",
        &format!(
            "VariantName=Blue,ModelName={blue},InstanceType=ml.m5.large,InitialInstanceCount=1,InitialVariantWeight=1"
        ),
        &format!(
            "VariantName=Green,ModelName={green},InstanceType=ml.m5.large,InitialInstanceCount=1,InitialVariantWeight=1"
        ),
    ])
    .json();
    let endpoint = unique("weighted");
    aws.sagemaker(&["create-endpoint", "--endpoint-name", &endpoint, "--endpoint-config-name", &config]).json();
    aws.wait_in_service(&endpoint);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..30 {
        let (out, body) = aws.invoke(&endpoint, "x", &[]);
        let variant = out.json()["InvokedProductionVariant"].as_str().unwrap().to_owned();
        assert_eq!(body, if variant == "Blue" { "x|blue" } else { "x|green" });
        seen.insert(variant);
    }
    assert_eq!(seen.len(), 2, "30 calls at equal weights reached only {seen:?}");
    let (out, body) = aws.invoke(&endpoint, "x", &["--target-variant", "Green"]);
    assert_eq!((out.json()["InvokedProductionVariant"].as_str(), body.as_str()), (Some("Green"), "x|green"));
    let (unknown, _) = aws.invoke(&endpoint, "x", &["--target-variant", "Red"]);
    unknown.assert_error("ValidationError", "Red");

    // All traffic to Green, then Blue scaled out to 2 instances.
    aws.sagemaker(&[
        "update-endpoint-weights-and-capacities",
        "--endpoint-name",
        &endpoint,
        "--desired-weights-and-capacities",
        "VariantName=Blue,DesiredWeight=0,DesiredInstanceCount=2",
    ])
    .json();
    let described = aws.wait_in_service(&endpoint);
    let blue_variant = described["ProductionVariants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["VariantName"] == "Blue")
        .unwrap()
        .clone();
    assert_eq!(
        (blue_variant["CurrentWeight"].as_f64(), blue_variant["CurrentInstanceCount"].as_i64()),
        (Some(0.0), Some(2))
    );
    for _ in 0..10 {
        assert_eq!(aws.invoke(&endpoint, "x", &[]).1, "x|green");
    }
    assert_eq!(smemu.containers(&["smemu.variant=Blue"]).len(), 2);

    // UpdateEndpoint to the same config keeping the current weights and counts, except the
    // instance count, which comes from the config again (1).
    aws.sagemaker(&[
        "update-endpoint",
        "--endpoint-name",
        &endpoint,
        "--endpoint-config-name",
        &config,
        "--retain-all-variant-properties",
        "--exclude-retained-variant-properties",
        "VariantPropertyType=DesiredInstanceCount",
    ])
    .json();
    let described = aws.wait_in_service(&endpoint);
    let blue_variant = described["ProductionVariants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["VariantName"] == "Blue")
        .unwrap()
        .clone();
    assert_eq!(
        (blue_variant["CurrentWeight"].as_f64(), blue_variant["CurrentInstanceCount"].as_i64()),
        (Some(0.0), Some(1)),
        "{described}"
    );
    for _ in 0..5 {
        assert_eq!(aws.invoke(&endpoint, "x", &[]).1, "x|green");
    }
}

#[test]
fn an_update_under_load_fails_no_invocation_and_a_broken_update_rolls_back() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let name = unique("live");
    aws.deploy(&name, &json!([tagger("v1", None)]), &[], 1);
    let v2 = unique("v2");
    // The new fleet starts slowly, so the update is seen in progress while the old fleet serves
    // (with room for a slow CLI start on a machine busy with the load below).
    let mut slow = tagger("v2", None);
    slow["Environment"]["SMEMU_TEST_STARTUP_DELAY_MS"] = json!("6000");
    aws.sagemaker(&["create-model", "--model-name", &v2, "--containers", &json!([slow]).to_string()]).json();
    aws.create_config(&v2, &v2);

    // Continuous load from another thread while the update runs.
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let load = {
        let (stop, failures, calls) = (stop.clone(), failures.clone(), calls.clone());
        let url = smemu.url.clone();
        let name = name.clone();
        std::thread::spawn(move || {
            let aws = AwsCli::new(&url);
            let mut bodies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let (out, body) = aws.invoke(&name, "x", &[]);
                calls.fetch_add(1, Ordering::Relaxed);
                if !out.success {
                    failures.fetch_add(1, Ordering::Relaxed);
                    eprintln!("failed invocation: {}", out.stderr);
                }
                bodies.push(body);
            }
            bodies
        })
    };
    // And three raw HTTP clients calling back to back, to cover the moment traffic moves.
    let raw_load: Vec<_> = (0..3)
        .map(|_| {
            let (stop, url, name) = (stop.clone(), smemu.url.clone(), name.clone());
            std::thread::spawn(move || {
                let mut answers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let answer = raw_invoke(&url, &name, "x");
                    let ok = answer.starts_with("HTTP/1.1 200");
                    answers.push(if ok {
                        answer.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned()
                    } else {
                        answer
                    });
                    // Back to back, but leaving the CLI calls of the test room to run.
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                answers
            })
        })
        .collect();
    aws.sagemaker(&["update-endpoint", "--endpoint-name", &name, "--endpoint-config-name", &v2]).json();
    let updating = aws.describe_endpoint(&name);
    assert_eq!(updating["EndpointStatus"], "Updating", "{updating}");
    let described = aws.wait_in_service(&name);
    assert_eq!(described["EndpointConfigName"], v2.as_str());
    eventually(30, "the new fleet to answer", || (aws.invoke(&name, "x", &[]).1 == "x|v2").then_some(()));
    stop.store(true, Ordering::Relaxed);
    let bodies = load.join().unwrap();
    assert_eq!(failures.load(Ordering::Relaxed), 0, "invocations failed during the update");
    assert!(calls.load(Ordering::Relaxed) > 0);
    assert!(bodies.iter().all(|b| b == "x|v1" || b == "x|v2"), "{bodies:?}");
    let raw: Vec<String> = raw_load.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let failed: Vec<&String> = raw.iter().filter(|b| *b != "x|v1" && *b != "x|v2").collect();
    assert!(failed.is_empty(), "{} of {} raw invocations failed: {:?}", failed.len(), raw.len(), &failed[..1]);
    assert!(raw.iter().any(|b| b == "x|v1") && raw.iter().any(|b| b == "x|v2"), "the load did not span the switch");
    // The old fleet is gone.
    eventually(30, "the old fleet to be removed", || (smemu.containers(&[]).len() == 1).then_some(()));

    // An update to an image that does not exist fails; the endpoint stays on v2 and keeps serving.
    let broken = unique("broken");
    aws.sagemaker(&[
        "create-model",
        "--model-name",
        &broken,
        "--primary-container",
        "Image=smemu-no-such-image:latest",
    ])
    .json();
    aws.create_config(&broken, &broken);
    aws.sagemaker(&["update-endpoint", "--endpoint-name", &name, "--endpoint-config-name", &broken]).json();
    let after = aws.wait_in_service(&name);
    assert_eq!(after["EndpointConfigName"], v2.as_str());
    assert!(after["FailureReason"].as_str().unwrap_or_default().contains("smemu-no-such-image"), "{after}");
    assert_eq!(aws.invoke(&name, "x", &[]).1, "x|v2");
}

#[test]
fn a_crashed_container_is_replaced_and_a_restart_adopts_the_fleet() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut smemu = Smemu::start_in(&data_dir);
    let aws = smemu.aws();
    let name = unique("heal");
    aws.deploy(&name, &json!([tagger("a", None), tagger("b", None)]), &[], 1);
    let before = smemu.containers(&[]);
    assert_eq!(before.len(), 2);

    // Kill one container: the watchdog replaces the instance.
    let out = Command::new("docker").args(["kill", &before[1]]).output().unwrap();
    assert!(out.status.success());
    eventually(60, "a replacement instance", || {
        let now = smemu.containers(&[]);
        let running = Command::new("docker")
            .args(["ps", "-q", "--no-trunc", "--filter", &format!("label=smemu.owner={}", smemu.owner())])
            .output()
            .unwrap();
        let running = String::from_utf8_lossy(&running.stdout).lines().count();
        (running == 2 && now.iter().all(|id| !before.contains(id)) && aws.invoke(&name, "x", &[]).1 == "x|a|b")
            .then_some(())
    });
    assert_eq!(aws.describe_endpoint(&name)["EndpointStatus"], "InService");

    // Restart smemu: the endpoint is still InService and serving, with no duplicate containers,
    // and a container of ours that belongs to no endpoint is removed.
    let serving = smemu.containers(&[]);
    smemu.stop();
    let ghost = Command::new("docker")
        .args(["run", "-d", "--label", &format!("smemu.owner={}", smemu.owner())])
        .args(["--label", "smemu.managed=true", "--label", "smemu.kind=endpoint"])
        .args(["--label", "smemu.resource=000000000000/us-east-1/ghost", "--label", "smemu.instance=ghost-0"])
        .args(["--label", "smemu.container-index=0", TEST_IMAGE, "serve"])
        .output()
        .unwrap();
    assert!(ghost.status.success(), "{}", String::from_utf8_lossy(&ghost.stderr));
    let smemu = Smemu::start_in(&data_dir);
    let aws = smemu.aws();
    assert_eq!(aws.describe_endpoint(&name)["EndpointStatus"], "InService");
    assert_eq!(aws.invoke(&name, "x", &[]).1, "x|a|b");
    let mut after = smemu.containers(&[]);
    after.sort();
    let mut serving = serving;
    serving.sort();
    assert_eq!(after, serving, "the restart replaced healthy containers or kept the orphan");
}

#[test]
fn a_restart_during_an_update_serves_the_old_fleet_then_finishes_the_update() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let mut smemu = Smemu::start_in(&data_dir);
    let aws = smemu.aws();
    let name = unique("midway");
    aws.deploy(&name, &json!([tagger("v1", None)]), &[], 1);
    let v1_containers = smemu.containers(&[]);
    let v2 = unique("v2");
    // The new fleet takes 8 s to answer /ping: smemu is stopped while it is half built.
    let mut slow = tagger("v2", None);
    slow["Environment"]["SMEMU_TEST_STARTUP_DELAY_MS"] = json!("8000");
    aws.sagemaker(&["create-model", "--model-name", &v2, "--containers", &json!([slow]).to_string()]).json();
    aws.create_config(&v2, &v2);
    aws.sagemaker(&["update-endpoint", "--endpoint-name", &name, "--endpoint-config-name", &v2]).json();
    eventually(30, "the new fleet's container", || (smemu.containers(&[]).len() == 2).then_some(()));
    smemu.stop();

    let mut smemu = Smemu::start_in(&data_dir);
    let aws = smemu.aws();
    // The old fleet serves again at once; the update goes on from the start.
    let first = aws.describe_endpoint(&name);
    assert_eq!(first["EndpointStatus"], "Updating", "{first}");
    // Adoption runs beside the API at start-up: give it a moment, well inside the new fleet's 8 s.
    eventually(5, "the old fleet to serve again", || (aws.invoke(&name, "x", &[]).1 == "x|v1").then_some(()));
    let done = aws.wait_in_service(&name);
    assert_eq!(done["EndpointConfigName"], v2.as_str());
    assert!(done.get("FailureReason").is_none(), "the update rolled back: {done}");
    assert_eq!(aws.invoke(&name, "x", &[]).1, "x|v2");
    let now = smemu.containers(&[]);
    assert_eq!(now.len(), 1, "the old fleet or the half-built one was left behind: {now:?}");
    assert!(!v1_containers.contains(&now[0]));

    // A container that died while smemu was down is replaced when it starts again.
    smemu.stop();
    assert!(Command::new("docker").args(["kill", &now[0]]).output().unwrap().status.success());
    let smemu = Smemu::start_in(&data_dir);
    let aws = smemu.aws();
    assert_eq!(aws.describe_endpoint(&name)["EndpointStatus"], "InService");
    eventually(60, "the dead instance to be replaced", || (aws.invoke(&name, "x", &[]).1 == "x|v2").then_some(()));
    let replaced = smemu.containers(&[]);
    assert_eq!(replaced.len(), 1, "{replaced:?}");
    assert_ne!(replaced[0], now[0]);
}

#[test]
fn a_pipeline_container_that_never_answers_ping_fails_the_endpoint_naming_it() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let name = unique("noping");
    let model = json!([
        tagger("a", Some("features")),
        {"Image": TEST_IMAGE, "ContainerHostname": "scorer", "Environment": {"SMEMU_TEST_ROLE": "ping-fail"}}
    ]);
    aws.sagemaker(&["create-model", "--model-name", &name, "--containers", &model.to_string()]).json();
    let variant = "VariantName=AllTraffic,ModelName=".to_owned()
        + &name
        + ",InstanceType=ml.m5.large,InitialInstanceCount=1,ContainerStartupHealthCheckTimeoutInSeconds=60";
    aws.sagemaker(&["create-endpoint-config", "--endpoint-config-name", &name, "--production-variants", &variant])
        .json();
    aws.sagemaker(&["create-endpoint", "--endpoint-name", &name, "--endpoint-config-name", &name]).json();
    let failed = eventually(120, "the endpoint to fail", || {
        let d = aws.describe_endpoint(&name);
        (d["EndpointStatus"] != "Creating").then_some(d)
    });
    assert_eq!(failed["EndpointStatus"], "Failed", "{failed}");
    let reason = failed["FailureReason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "The scorer for production variant AllTraffic did not pass the ping health check. Please check CloudWatch logs for this endpoint."
        ),
        "{reason}"
    );
    assert!(smemu.containers(&[]).is_empty(), "a failed endpoint keeps no containers");
    // The CLI's waiter sees the failure.
    assert!(!aws.sagemaker(&["wait", "endpoint-in-service", "--endpoint-name", &name]).success);
}

#[test]
fn pipeline_hops_carry_content_types_and_the_last_one_gets_accept_and_the_sagemaker_headers() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let name = unique("headers");
    let model = json!([
        {"Image": TEST_IMAGE, "Environment": {"SMEMU_TEST_ROLE": "echo", "SMEMU_TEST_OUTPUT_CONTENT_TYPE": "application/x-features"}},
        {"Image": TEST_IMAGE, "Environment": {"SMEMU_TEST_ROLE": "echo-env"}}
    ]);
    aws.deploy(&name, &model, &[], 1);
    let (out, body) = aws.invoke(
        &name,
        "1,2",
        &["--accept", "application/json", "--inference-id", "req-7", "--custom-attributes", "trace=9"],
    );
    let out = out.json();
    assert_eq!(out["ContentType"], "application/json");
    assert_eq!(out["InvokedProductionVariant"], "AllTraffic");
    let seen: serde_json::Value = serde_json::from_str(&body).unwrap();
    let headers = &seen["headers"];
    assert_eq!(seen["body"], "1,2", "container 1 changed the body: {seen}");
    assert_eq!(headers["content-type"], "application/x-features", "{seen}");
    assert_eq!(headers["accept"], "application/json", "{seen}");
    assert_eq!(headers["x-amzn-sagemaker-inference-id"], "req-7", "{seen}");
    assert_eq!(headers["x-amzn-sagemaker-custom-attributes"], "trace=9", "{seen}");

    // Header constraints are checked before any container is called.
    let long_id = "i".repeat(65);
    let (bad, _) = aws.invoke(&name, "x", &["--inference-id", &long_id]);
    bad.assert_error("ValidationError", "inferenceId");
}

#[test]
fn without_a_docker_engine_the_control_plane_works_and_endpoints_fail_saying_why() {
    let tmp = tempfile::tempdir().unwrap();
    let socket = tmp.path().join("no-docker.sock");
    let docker_host = format!("unix://{}", socket.display());
    let smemu = Smemu::start_with_env(
        &tmp.path().join("data"),
        &["--s3-listen", "127.0.0.1:0"],
        &[("DOCKER_HOST", docker_host.as_str())],
    );
    let aws = smemu.aws();
    let name = unique("nodocker");
    aws.sagemaker(&["create-model", "--model-name", &name, "--containers", &json!([tagger("a", None)]).to_string()])
        .json();
    aws.create_config(&name, &name);
    aws.sagemaker(&["create-endpoint", "--endpoint-name", &name, "--endpoint-config-name", &name]).json();
    let failed = eventually(30, "the endpoint to fail", || {
        let d = aws.describe_endpoint(&name);
        (d["EndpointStatus"] != "Creating").then_some(d)
    });
    assert_eq!(failed["EndpointStatus"], "Failed", "{failed}");
    let reason = failed["FailureReason"].as_str().unwrap();
    assert!(reason.contains("no-docker.sock"), "the reason does not name the engine it tried: {reason}");
    let listed = aws.sagemaker(&["list-endpoints", "--name-contains", &name]).json();
    assert_eq!(listed["Endpoints"][0]["EndpointStatus"], "Failed");
    assert!(aws.sagemaker(&["delete-endpoint", "--endpoint-name", &name]).success);
    eventually(30, "the endpoint to be deleted", || {
        (!aws.sagemaker(&["describe-endpoint", "--endpoint-name", &name]).success).then_some(())
    });
}

#[test]
fn containers_are_limited_by_instance_type_unless_turned_off_and_name_their_data_dir() {
    let memory_of = |smemu: &Smemu| -> Vec<String> {
        smemu
            .containers(&[])
            .iter()
            .map(|id| {
                let out = Command::new("docker")
                    .args(["inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}", id])
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&out.stdout).trim().to_owned()
            })
            .collect()
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()).min(2);
    let limited = Smemu::start();
    let name = unique("limited");
    limited.aws().deploy(&name, &json!([tagger("a", None), tagger("b", None)]), &[], 1);
    // ml.m5.large: 2 vCPUs (at most the host's) and 8 GiB, for each container of the instance.
    let expected = format!("{} {}", 8u64 << 30, cpus * 1_000_000_000);
    assert_eq!(memory_of(&limited), vec![expected.clone(), expected]);
    // Every container names the data directory of the smemu that made it.
    let data_dir = std::fs::canonicalize(&limited.data_dir).unwrap().display().to_string();
    for id in limited.containers(&[]) {
        let out = Command::new("docker")
            .args(["inspect", "-f", "{{index .Config.Labels \"smemu.data-dir\"}}", &id])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), data_dir);
    }

    let tmp = tempfile::tempdir().unwrap();
    let free = Smemu::start_with(&tmp.path().join("data"), &["--s3-listen", "127.0.0.1:0", "--no-resource-limits"]);
    free.aws().deploy(&name, &json!([tagger("a", None)]), &[], 1);
    assert_eq!(memory_of(&free), vec!["0 0".to_owned()]);
}

#[test]
fn list_endpoints_sorts_filters_by_time_and_paginates() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let prefix = unique("roster");
    // One endpoint that serves and two that fail at once (their image does not exist).
    aws.deploy(&format!("{prefix}-b"), &json!([tagger("b", None)]), &[], 1);
    // The CLI sends times in whole seconds: the others are created in a later second.
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let broken = format!("{prefix}-model");
    aws.sagemaker(&["create-model", "--model-name", &broken, "--primary-container", "Image=smemu-no-such-image:1"])
        .json();
    aws.create_config(&broken, &broken);
    for suffix in ["c", "a"] {
        let name = format!("{prefix}-{suffix}");
        aws.sagemaker(&["create-endpoint", "--endpoint-name", &name, "--endpoint-config-name", &broken]).json();
        eventually(30, "the endpoint to fail", || {
            (aws.describe_endpoint(&name)["EndpointStatus"] == "Failed").then_some(())
        });
    }
    let names = |page: &serde_json::Value| -> Vec<String> {
        page["Endpoints"].as_array().unwrap().iter().map(|e| e["EndpointName"].as_str().unwrap().to_owned()).collect()
    };
    let list = |extra: &[&str]| {
        let mut args = vec!["list-endpoints", "--name-contains", prefix.as_str(), "--no-paginate"];
        args.extend(extra);
        aws.sagemaker(&args).json()
    };
    let n = |s: &str| format!("{prefix}-{s}");
    // Default: newest first.
    assert_eq!(names(&list(&[])), [n("a"), n("c"), n("b")]);
    assert_eq!(names(&list(&["--sort-by", "Name", "--sort-order", "Ascending"])), [n("a"), n("b"), n("c")]);
    // By status (Failed before InService), ties by name as given back.
    let by_status = names(&list(&["--sort-by", "Status", "--sort-order", "Ascending"]));
    assert_eq!(by_status[2], n("b"), "{by_status:?}");
    // Pages of two.
    let page1 = list(&["--sort-by", "Name", "--sort-order", "Ascending", "--max-results", "2"]);
    assert_eq!(names(&page1), [n("a"), n("b")]);
    let token = page1["NextToken"].as_str().expect("NextToken").to_owned();
    let page2 = list(&["--sort-by", "Name", "--sort-order", "Ascending", "--max-results", "2", "--next-token", &token]);
    assert_eq!(names(&page2), [n("c")]);
    assert!(page2.get("NextToken").is_none(), "{page2}");
    // Time filters: created after the serving one's second leaves the two newer ones.
    let created = aws.describe_endpoint(&n("b"))["CreationTime"].as_f64().unwrap();
    let after = format!("{}", created.floor() + 1.0);
    assert_eq!(
        names(&list(&["--creation-time-after", &after, "--sort-by", "Name", "--sort-order", "Ascending"])),
        [n("a"), n("c")]
    );
    assert_eq!(names(&list(&["--creation-time-before", &after])), [n("b")]);
    assert_eq!(
        names(&list(&["--status-equals", "Failed", "--sort-by", "Name", "--sort-order", "Ascending"])),
        [n("a"), n("c")]
    );
    let modified = list(&["--last-modified-time-after", "2000-01-01T00:00:00Z"]);
    assert_eq!(names(&modified).len(), 3);
    assert!(names(&list(&["--last-modified-time-before", "2000-01-01T00:00:00Z"])).is_empty());
}

#[test]
fn delete_removes_every_container_and_errors_match_the_real_service() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let name = unique("doomed");
    let failing = json!([{"Image": TEST_IMAGE, "Environment": {"SMEMU_TEST_ROLE": "fail", "SMEMU_TEST_FAIL_STATUS": "400", "SMEMU_TEST_FAIL_MESSAGE": "bad input"}}]);
    aws.deploy(&name, &failing, &[], 1);

    let (out, _) = aws.invoke(&name, "x", &[]);
    out.assert_error("ModelError", "Received client error (400) from primary with message \"bad input\"");

    // The 424 body carries the real members, in the real order.
    let raw = raw_invoke(&smemu.url, &name, "x");
    assert!(raw.starts_with("HTTP/1.1 424"), "{raw}");
    assert!(raw.to_ascii_lowercase().contains("x-amzn-errortype: modelerror"), "{raw}");
    let body: serde_json::Value = serde_json::from_str(raw.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["ErrorCode"], "CLIENT_ERROR_FROM_MODEL");
    assert_eq!(body["OriginalStatusCode"], 400);
    assert_eq!(body["OriginalMessage"], "bad input");
    assert_eq!(
        body["LogStreamArn"],
        format!("arn:aws:logs:us-east-1:000000000000:log-group:/aws/sagemaker/Endpoints/{name}")
    );
    let text = raw.split("\r\n\r\n").nth(1).unwrap();
    let at = |key: &str| text.find(&format!("\"{key}\"")).unwrap();
    assert!(at("ErrorCode") < at("LogStreamArn") && at("LogStreamArn") < at("Message"), "{text}");
    assert!(at("Message") < at("OriginalMessage") && at("OriginalMessage") < at("OriginalStatusCode"), "{text}");

    let (missing, _) = aws.invoke("no-such-endpoint", "x", &[]);
    missing.assert_error("ValidationError", "Endpoint no-such-endpoint of account 000000000000 not found.");
    aws.sagemaker(&["describe-endpoint", "--endpoint-name", "no-such-endpoint"]).assert_error(
        "ValidationException",
        "Could not find endpoint \"arn:aws:sagemaker:us-east-1:000000000000:endpoint/no-such-endpoint\".",
    );
    aws.sagemaker(&["create-endpoint", "--endpoint-name", &unique("e"), "--endpoint-config-name", "no-such-config"])
        .assert_error("ValidationException", "Could not find endpoint configuration");
    aws.sagemaker(&["create-endpoint", "--endpoint-name", &name, "--endpoint-config-name", &name]).assert_error(
        "ValidationException",
        &format!(
            "Cannot create already existing endpoint \"arn:aws:sagemaker:us-east-1:000000000000:endpoint/{name}\"."
        ),
    );
    aws.sagemaker(&[
        "update-endpoint-weights-and-capacities",
        "--endpoint-name",
        &name,
        "--desired-weights-and-capacities",
        "VariantName=Nope,DesiredWeight=1",
    ])
    .assert_error(
        "ValidationException",
        "The variant name(s) \"Nope\" is/are not present within endpoint configuration",
    );

    assert!(aws.sagemaker(&["delete-endpoint", "--endpoint-name", &name]).success);
    eventually(60, "the endpoint to be deleted", || {
        let out = aws.sagemaker(&["describe-endpoint", "--endpoint-name", &name]);
        (!out.success && out.stderr.contains("Could not find endpoint")).then_some(())
    });
    assert!(aws.sagemaker(&["wait", "endpoint-deleted", "--endpoint-name", &name]).success);
    assert!(smemu.containers(&[]).is_empty(), "containers left after delete");
    // The config and model stay.
    aws.sagemaker(&["describe-endpoint-config", "--endpoint-config-name", &name]).json();
}

#[test]
fn a_container_that_exits_fails_the_endpoint_with_its_logs() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let name = unique("crash");
    let crash = json!([{"Image": TEST_IMAGE, "Environment": {"SMEMU_TEST_ROLE": "crash"}}]);
    aws.sagemaker(&["create-model", "--model-name", &name, "--containers", &crash.to_string()]).json();
    aws.create_config(&name, &name);
    aws.sagemaker(&["create-endpoint", "--endpoint-name", &name, "--endpoint-config-name", &name]).json();
    let failed = eventually(60, "the endpoint to fail", || {
        let d = aws.describe_endpoint(&name);
        (d["EndpointStatus"] == "Failed").then_some(d)
    });
    let reason = failed["FailureReason"].as_str().unwrap();
    assert!(
        reason
            .starts_with("The primary container for production variant AllTraffic did not pass the ping health check."),
        "{reason}"
    );
    assert!(reason.contains("crashing on purpose"), "{reason}");
    assert!(smemu.containers(&[]).is_empty(), "a failed endpoint keeps no containers");
    let (out, _) = aws.invoke(&name, "x", &[]);
    out.assert_error("ValidationError", "not in service");
    aws.sagemaker(&["update-endpoint", "--endpoint-name", &name, "--endpoint-config-name", &name])
        .assert_error("ValidationException", "Cannot update in-progress endpoint");
}

#[test]
fn a_pipeline_container_slower_than_60_s_gives_the_real_timeout_error() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let name = unique("sluggish");
    // The second container answers after 75 s, longer than SageMaker's 60 s invocation limit.
    let slow = json!({
        "Image": TEST_IMAGE,
        "ContainerHostname": "scorer",
        "Environment": {"SMEMU_TEST_ROLE": "slow", "SMEMU_TEST_DELAY_MS": "75000"}
    });
    aws.deploy(&name, &json!([tagger("a", Some("features")), slow]), &[], 1);
    let started = std::time::Instant::now();
    // The CLI's own read timeout is 60 s too: give it room to see smemu's answer.
    let (out, _) = aws.invoke(&name, "x", &["--cli-read-timeout", "120"]);
    out.assert_error(
        "ModelError",
        "Received server error (0) from scorer with message \"Your invocation timed out while waiting for a response from container scorer.",
    );
    assert!(started.elapsed() >= std::time::Duration::from_secs(60), "gave up before 60 s: {:?}", started.elapsed());
    // The endpoint keeps serving after a timed-out invocation.
    assert_eq!(aws.describe_endpoint(&name)["EndpointStatus"], "InService");
}

/// InvokeEndpoint on raw HTTP/1.1, to see the status line, headers and body as sent.
fn raw_invoke(url: &str, endpoint: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /endpoints/{endpoint}/invocations HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}
