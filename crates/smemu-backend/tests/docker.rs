//! The Docker backend against a real engine and the test image `smemu-testmodel:latest`.
//!
//! Needs `scripts/ensure-docker.sh` and `scripts/build-test-image.sh` to have run. The tests fail
//! loudly when the engine or the image is missing; only `SMEMU_SKIP_DOCKER_TESTS=1` skips them.
//! Each test uses its own owner id and removes everything carrying it when it ends, pass or fail.
#![allow(clippy::expect_used)] // Helpers fail the test by panicking, like the tests themselves.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use smemu_backend::{
    Backend, BackendError, ContainerSpec, DockerBackend, InstanceSpec, OwnerKind, PlacedInstance, ResourceLimits,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const IMAGE: &str = "smemu-testmodel:latest";

/// A connected backend and a fresh owner id; removes the owner's containers when dropped.
struct Harness {
    backend: DockerBackend,
    owner: String,
}

impl Harness {
    async fn start() -> Option<Harness> {
        if std::env::var("SMEMU_SKIP_DOCKER_TESTS").as_deref() == Ok("1") {
            eprintln!("SMEMU_SKIP_DOCKER_TESTS=1: skipping a Docker test");
            return None;
        }
        let backend = match DockerBackend::connect().await {
            Ok(backend) => backend.with_stop_grace(Duration::from_secs(10)),
            Err(err) => panic!("{err} (or set SMEMU_SKIP_DOCKER_TESTS=1 to skip the Docker tests)"),
        };
        if let Err(err) = backend.image_id(IMAGE).await {
            panic!("{err}: build it with scripts/build-test-image.sh");
        }
        let owner = format!("rt-test-{}", uuid::Uuid::new_v4().simple());
        Some(Harness { backend, owner })
    }

    fn spec(&self, instance_id: &str, containers: Vec<ContainerSpec>) -> InstanceSpec {
        InstanceSpec {
            owner: self.owner.clone(),
            data_dir: "/tmp/smemu-runtime-test".into(),
            kind: OwnerKind::Endpoint,
            resource: format!("123456789012/us-east-1/{instance_id}-endpoint"),
            variant: "AllTraffic".into(),
            instance_id: instance_id.into(),
            generation: "fleet-1".into(),
            containers,
            limits: None,
        }
    }

    /// Container ids carrying this owner's label, as the docker CLI sees them.
    fn docker_ids(&self) -> Vec<String> {
        let out = Command::new("docker")
            .args(["ps", "-aq", "--filter", &format!("label=smemu.owner={}", self.owner)])
            .output()
            .expect("docker ps");
        String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_owned).collect()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let ids = self.docker_ids();
        if !ids.is_empty() {
            let _ = Command::new("docker").args(["rm", "-f"]).args(&ids).output();
        }
    }
}

fn container(name: &str, env: &[(&str, &str)]) -> ContainerSpec {
    ContainerSpec {
        name_in_pipeline: name.into(),
        image: IMAGE.into(),
        environment: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        model_dir: None,
        args: vec!["serve".into()],
    }
}

/// The answer to one HTTP/1.1 request: status, headers (lowercased names), body.
struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

/// A one-shot HTTP/1.1 request to `addr` over a plain TcpStream.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<Answer> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| std::io::Error::other(format!("no head: {text}")))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status: {head}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(Answer { status, headers, body: body.to_owned() })
}

async fn invoke(addr: SocketAddr, content_type: &str, body: &str) -> Answer {
    http(addr, "POST", "/invocations", &[("Content-Type", content_type)], body).await.expect("invocation")
}

/// Waits until every container of the instance answers /ping with 200.
async fn wait_ready(placed: &PlacedInstance) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for c in &placed.containers {
        loop {
            match http(c.address, "GET", "/ping", &[], "").await {
                Ok(answer) if answer.status == 200 => break,
                other if Instant::now() > deadline => {
                    panic!("{} at {} never became healthy: {:?}", c.name_in_pipeline, c.address, other.err())
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

fn docker_inspect(id: &str, format: &str) -> String {
    let out = Command::new("docker").args(["inspect", "-f", format, id]).output().expect("docker inspect");
    assert!(out.status.success(), "docker inspect {id}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test]
async fn pipeline_containers_answer_on_loopback_and_reach_each_other_on_localhost() {
    let Some(h) = Harness::start().await else { return };
    // The Docker backend binds container `i` to 8080 + i in the shared namespace (its
    // SAGEMAKER_BIND_TO_PORT): the first container answers on localhost:8080 there.
    let forward_port = "8080";
    let mut spec = h.spec(
        "pipeline",
        vec![
            container("first", &[("SMEMU_TEST_ROLE", "transform"), ("SMEMU_TEST_TAG", "a")]),
            container("second", &[("SMEMU_TEST_ROLE", "transform"), ("SMEMU_TEST_TAG", "b")]),
            // Calls the first container on 127.0.0.1 from inside the shared namespace.
            container("third", &[("SMEMU_TEST_ROLE", "forward"), ("SMEMU_TEST_FORWARD_PORT", forward_port)]),
        ],
    );
    spec.limits = Some(ResourceLimits { nano_cpus: 500_000_000, memory_bytes: 256 << 20 });
    let placed = h.backend.place(&spec).await.expect("place");
    assert_eq!(placed.instance_id, "pipeline");
    let names: Vec<&str> = placed.containers.iter().map(|c| c.name_in_pipeline.as_str()).collect();
    assert_eq!(names, ["first", "second", "third"]);
    let image_id = h.backend.image_id(IMAGE).await.expect("image id");
    assert!(image_id.starts_with("sha256:"), "{image_id}");
    assert!(placed.containers.iter().all(|c| c.image_id == image_id));
    wait_ready(&placed).await;

    let [first, second, third] = [0, 1, 2].map(|i| placed.containers[i].address);
    assert!(first != second && second != third && first != third);
    // Published on loopback: that is where the Docker backend says its containers answer.
    assert!(placed.containers.iter().all(|c| c.address.ip().is_loopback()), "{:?}", placed.containers);
    let answer = invoke(first, "text/csv", "x\ny\n").await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "x|a\ny|a\n"));
    assert_eq!(answer.headers["content-type"], "text/csv");
    assert_eq!(invoke(second, "text/csv", "x").await.body, "x|b");
    let forwarded = invoke(third, "text/plain", "x").await;
    assert_eq!((forwarded.status, forwarded.body.as_str()), (200, "x|a"), "third -> localhost:8080 -> first");
    let attributes = [("Content-Type", "text/plain"), ("X-Amzn-SageMaker-Custom-Attributes", "trace=1")];
    let answer = http(first, "POST", "/invocations", &attributes, "x").await.expect("invocation");
    assert_eq!(answer.headers["x-amzn-sagemaker-custom-attributes"], "trace=1");

    // Published on loopback only, limits and labels as asked, nothing restarted.
    let owner_id = &placed.containers[0].container_id;
    let bindings =
        docker_inspect(owner_id, "{{range $p, $b := .HostConfig.PortBindings}}{{$p}}={{(index $b 0).HostIp}} {{end}}");
    assert_eq!(bindings, "8080/tcp=127.0.0.1 8081/tcp=127.0.0.1 8082/tcp=127.0.0.1");
    for c in &placed.containers {
        let limits = docker_inspect(&c.container_id, "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}");
        assert_eq!(limits, format!("500000000 {}", 256 << 20));
        let label = docker_inspect(&c.container_id, "{{index .Config.Labels \"smemu.container\"}}");
        assert_eq!(label, c.name_in_pipeline);
        let state = h.backend.inspect(&c.container_id).await.expect("inspect");
        assert!(state.running && state.exit_code.is_none() && state.restart_count == 0 && !state.oom_killed);
    }
    assert!(h.backend.logs_tail(owner_id, 10).await.expect("logs").contains("POST /invocations -> 200"));

    // The test model stops on SIGTERM: removal does not wait for the SIGKILL grace period.
    let started = Instant::now();
    h.backend.remove(&h.owner, &placed.instance_id).await.expect("remove");
    assert!(started.elapsed() < Duration::from_secs(8), "remove took {:?}", started.elapsed());
    assert!(h.docker_ids().is_empty());
}

#[tokio::test]
async fn containers_get_their_port_safe_range_hostname_environment_and_model_dir() {
    let Some(h) = Harness::start().await else { return };
    let model = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(model.path().join("sub")).expect("mkdir");
    std::fs::write(model.path().join("sub/weights.txt"), "w=1").expect("write");
    let echo = |name: &str| {
        let mut c =
            container(name, &[("SMEMU_TEST_ROLE", "echo-env"), ("FOO", "bar"), ("SMEMU_TEST_ECHO_VARS", "FOO")]);
        c.model_dir = Some(PathBuf::from(model.path()));
        c
    };
    let placed = h.backend.place(&h.spec("env", vec![echo("first"), echo("second")])).await.expect("place");
    wait_ready(&placed).await;
    let mut seen = Vec::new();
    for c in &placed.containers {
        let answer = invoke(c.address, "application/json", "{}").await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        seen.push(serde_json::from_str::<Value>(&answer.body).expect("json"));
    }
    let env = |i: usize, name: &str| seen[i]["env"][name].as_str().unwrap_or_default().to_owned();
    assert_eq!((env(0, "SAGEMAKER_BIND_TO_PORT"), env(1, "SAGEMAKER_BIND_TO_PORT")), ("8080".into(), "8081".into()));
    assert_eq!(env(0, "SAGEMAKER_SAFE_PORT_RANGE"), "20000-20099");
    assert_eq!(env(1, "SAGEMAKER_SAFE_PORT_RANGE"), "20100-20199");
    assert_eq!((env(0, "HOSTNAME"), env(1, "HOSTNAME")), ("first".into(), "second".into()));
    assert_eq!(env(1, "FOO"), "bar");
    // Docker gives a container that joins another's network namespace that container's hostname.
    assert_eq!((seen[0]["hostname"].as_str(), seen[1]["hostname"].as_str()), (Some("first"), Some("first")));
    assert_eq!(seen[1]["model_files"]["/opt/ml/model/sub/weights.txt"], "w=1");
    assert_eq!(seen[0]["headers"]["content-type"], "application/json");
    let mounts = docker_inspect(&placed.containers[1].container_id, "{{range .Mounts}}{{.Destination}} {{.RW}}{{end}}");
    assert_eq!(mounts, "/opt/ml/model false");
    h.backend.remove(&h.owner, &placed.instance_id).await.expect("remove");
}

#[tokio::test]
async fn list_finds_an_owners_instances_and_remove_leaves_none() {
    let Some(h) = Harness::start().await else { return };
    let Some(other) = Harness::start().await else { return };
    let one = h.backend.place(&h.spec("one", vec![container("solo", &[])])).await.expect("place one");
    let mut two_spec = h.spec("two", vec![container("a", &[]), container("b", &[])]);
    two_spec.kind = OwnerKind::TransformJob;
    two_spec.generation = "fleet-2".into();
    let two = h.backend.place(&two_spec).await.expect("place two");
    let foreign = other.backend.place(&other.spec("one", vec![container("solo", &[])])).await.expect("place other");

    let listed = h.backend.list(&h.owner).await.expect("list");
    let ids: Vec<&str> = listed.iter().map(|i| i.instance_id.as_str()).collect();
    assert_eq!(ids, ["one", "two"], "the other owner's instance is not listed");
    let found = &listed[1];
    assert_eq!(found.kind, OwnerKind::TransformJob);
    assert_eq!(found.resource, "123456789012/us-east-1/two-endpoint");
    assert_eq!((found.variant.as_str(), found.generation.as_str()), ("AllTraffic", "fleet-2"));
    assert!(found.all_running());
    for (observed, placed) in found.containers.iter().zip(&two.containers) {
        assert_eq!(observed.name_in_pipeline, placed.name_in_pipeline);
        assert_eq!(observed.container_id, placed.container_id);
        assert_eq!(observed.address, Some(placed.address));
    }
    assert_eq!(listed[0].containers[0].address, Some(one.containers[0].address));

    h.backend.remove(&h.owner, &one.instance_id).await.expect("remove one");
    h.backend.remove(&h.owner, "two").await.expect("remove two");
    // Removing what is gone already is fine (a watchdog and a delete may both ask).
    h.backend.remove(&h.owner, "two").await.expect("remove two again");
    assert!(h.backend.list(&h.owner).await.expect("list").is_empty());
    assert!(h.docker_ids().is_empty());
    assert_eq!(other.docker_ids().len(), 1, "another owner's containers are left alone");
    other.backend.remove(&other.owner, &foreign.instance_id).await.expect("remove other");
}

#[tokio::test]
async fn a_missing_image_is_named_and_nothing_is_created() {
    let Some(h) = Harness::start().await else { return };
    let missing = "smemu-no-such-image:never";
    match h.backend.image_id(missing).await {
        Err(BackendError::ImageNotFound { image }) => assert_eq!(image, missing),
        other => panic!("expected ImageNotFound, got {other:?}"),
    }
    let mut spec = h.spec("missing", vec![container("ok", &[]), container("bad", &[])]);
    spec.containers[1].image = missing.into();
    let err = h.backend.place(&spec).await.expect_err("place must fail");
    assert!(matches!(&err, BackendError::ImageNotFound { image } if image == missing), "{err:?}");
    assert!(err.to_string().contains(missing), "{err}");
    assert!(h.docker_ids().is_empty());
}

#[tokio::test]
async fn a_crashing_container_reports_its_exit_code_and_logs() {
    let Some(h) = Harness::start().await else { return };
    let spec = h.spec("crash", vec![container("crasher", &[("SMEMU_TEST_ROLE", "crash")])]);
    match h.backend.place(&spec).await {
        // Usually the container is gone before placing ends: place says so and cleans up.
        Err(BackendError::Exited { index, name_in_pipeline, code, log_tail }) => {
            assert_eq!((index, name_in_pipeline.as_str(), code), (0, "crasher", 3));
            assert!(log_tail.contains("crashing on purpose"), "{log_tail}");
            assert!(h.docker_ids().is_empty());
        }
        // Otherwise inspect shows it.
        Ok(placed) => {
            let id = &placed.containers[0].container_id;
            let deadline = Instant::now() + Duration::from_secs(10);
            let state = loop {
                let state = h.backend.inspect(id).await.expect("inspect");
                if !state.running || Instant::now() > deadline {
                    break state;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            assert_eq!((state.running, state.exit_code), (false, Some(3)));
            assert!(h.backend.logs_tail(id, 5).await.expect("logs").contains("crashing on purpose"));
            h.backend.remove(&h.owner, &placed.instance_id).await.expect("remove");
        }
        Err(other) => panic!("expected the crash to be reported, got {other}"),
    }
}

#[tokio::test]
async fn an_absent_engine_fails_fast() {
    let started = Instant::now();
    let err = DockerBackend::connect_to("unix:///nonexistent/smemu/docker.sock").await.expect_err("no engine there");
    assert!(matches!(err, BackendError::EngineUnavailable { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/smemu/docker.sock"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // An address that accepts nothing within the ping timeout (loopback, closed port) too.
    let err = DockerBackend::connect_to("tcp://127.0.0.1:9").await.expect_err("nothing listens on port 9");
    assert!(matches!(err, BackendError::EngineUnavailable { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
}
