//! How one instance's containers are laid out in their shared network namespace: which port each
//! listens on, which extra ports it may use, the environment and labels it is given, and the
//! Docker create body that says all of it. Pure, so it is tested without an engine.
//!
//! Hostnames: Docker refuses a hostname on a container that joins another's network namespace
//! and gives it the namespace owner's hostname instead, so only the first container's kernel
//! hostname is its pipeline name. Every container gets `HOSTNAME=<its pipeline name>` in its
//! environment instead (Docker's own `HOSTNAME` yields to an explicit one), which is what most
//! servers read.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};

use bollard::models::{ContainerCreateBody, HostConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum};

use crate::backend::InstanceSpec;
use crate::labels;

/// Container `i` of an instance listens on `FIRST_PORT + i` inside the shared namespace.
const FIRST_PORT: u16 = 8080;
/// Container `i` may use `SAFE_PORTS_BASE + 100 i ..= SAFE_PORTS_BASE + 100 i + 99` for extra
/// ports: disjoint ranges, since the containers share one namespace and so one port space.
const SAFE_PORTS_BASE: u16 = 20000;
/// Where the model artifacts are mounted, read-only, as SageMaker does.
pub(crate) const MODEL_DIR: &str = "/opt/ml/model";
/// Published ports bind here only: nothing outside this host reaches a model server.
pub(crate) const HOST_IP: &str = "127.0.0.1";

/// Where smemu reaches a container: the loopback port Docker published for it.
pub(crate) fn loopback(host_port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, host_port))
}

/// The port container `index` listens on inside the namespace (`SAGEMAKER_BIND_TO_PORT`).
pub(crate) fn inner_port(index: usize) -> u16 {
    FIRST_PORT + index as u16
}

/// The `<port>/tcp` key Docker uses for container `index`'s port.
pub(crate) fn port_key(index: usize) -> String {
    format!("{}/tcp", inner_port(index))
}

/// `SAGEMAKER_SAFE_PORT_RANGE` of container `index`.
pub(crate) fn safe_port_range(index: usize) -> String {
    let low = SAFE_PORTS_BASE + 100 * index as u16;
    format!("{low}-{}", low + 99)
}

/// The Docker name of container `index`: readable in `docker ps`, unique per owner and instance.
pub(crate) fn container_name(spec: &InstanceSpec, index: usize) -> String {
    let owner: String = spec.owner.chars().take(12).collect();
    sanitize(&format!("smemu-{owner}-{}-{index}", spec.instance_id))
}

/// Docker names allow `[a-zA-Z0-9][a-zA-Z0-9_.-]*`; anything else becomes `-`.
fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') { c } else { '-' }).collect()
}

/// The labels that let smemu find, adopt and clean up its containers.
pub(crate) fn container_labels(spec: &InstanceSpec, index: usize) -> HashMap<String, String> {
    [
        (labels::MANAGED, "true".to_owned()),
        (labels::OWNER, spec.owner.clone()),
        (labels::DATA_DIR, spec.data_dir.clone()),
        (labels::KIND, spec.kind.as_str().to_owned()),
        (labels::RESOURCE, spec.resource.clone()),
        (labels::VARIANT, spec.variant.clone()),
        (labels::INSTANCE, spec.instance_id.clone()),
        (labels::GENERATION, spec.generation.clone()),
        (labels::CONTAINER, spec.containers[index].name_in_pipeline.clone()),
        (labels::INDEX, index.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// The container's environment: its own, then what SageMaker adds (which wins, as there).
pub(crate) fn container_env(spec: &InstanceSpec, index: usize) -> BTreeMap<String, String> {
    let container = &spec.containers[index];
    let mut env = container.environment.clone();
    env.entry("HOSTNAME".into()).or_insert_with(|| container.name_in_pipeline.clone());
    env.insert("SAGEMAKER_BIND_TO_PORT".into(), inner_port(index).to_string());
    env.insert("SAGEMAKER_SAFE_PORT_RANGE".into(), safe_port_range(index));
    env
}

/// The create body of container `index`. The first container (`namespace_owner` = None) owns the
/// network namespace and publishes every container's port; the others join it.
pub(crate) fn create_body(spec: &InstanceSpec, index: usize, namespace_owner: Option<&str>) -> ContainerCreateBody {
    let container = &spec.containers[index];
    let mut host = HostConfig {
        binds: container.model_dir.as_ref().map(|dir| vec![format!("{}:{MODEL_DIR}:ro", dir.display())]),
        // The controller decides what to do with a dead container (replace the instance), not Docker.
        restart_policy: Some(RestartPolicy { name: Some(RestartPolicyNameEnum::NO), maximum_retry_count: None }),
        // An init process reaps zombies and forwards SIGTERM to servers that ignore it as PID 1.
        init: Some(true),
        nano_cpus: spec.limits.map(|l| l.nano_cpus),
        memory: spec.limits.map(|l| l.memory_bytes),
        ..Default::default()
    };
    let mut body = ContainerCreateBody {
        image: Some(container.image.clone()),
        cmd: Some(container.args.clone()),
        env: Some(container_env(spec, index).iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(container_labels(spec, index)),
        ..Default::default()
    };
    match namespace_owner {
        None => {
            let ports: Vec<String> = (0..spec.containers.len()).map(port_key).collect();
            // An empty host port lets Docker pick a free one.
            let binding = || Some(vec![PortBinding { host_ip: Some(HOST_IP.into()), host_port: Some(String::new()) }]);
            host.port_bindings = Some(ports.iter().map(|p| (p.clone(), binding())).collect());
            body.exposed_ports = Some(ports);
            body.hostname = Some(container.name_in_pipeline.clone());
        }
        Some(owner) => host.network_mode = Some(format!("container:{owner}")),
    }
    body.host_config = Some(host);
    body
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::backend::{ContainerSpec, OwnerKind, ResourceLimits};

    fn spec() -> InstanceSpec {
        let container = |name: &str| ContainerSpec {
            name_in_pipeline: name.into(),
            image: "img:1".into(),
            environment: BTreeMap::from([("A".into(), "1".into()), ("SAGEMAKER_BIND_TO_PORT".into(), "9".into())]),
            model_dir: Some(PathBuf::from("/data/models/m")),
            args: vec!["serve".into()],
        };
        InstanceSpec {
            owner: "owner-1234567890abcdef".into(),
            data_dir: "/home/me/.smemu".into(),
            kind: OwnerKind::Endpoint,
            resource: "123456789012/us-east-1/ep".into(),
            variant: "AllTraffic".into(),
            instance_id: "i/1".into(),
            generation: "g1".into(),
            containers: vec![container("first"), container("second")],
            limits: Some(ResourceLimits { nano_cpus: 2_000_000_000, memory_bytes: 1 << 30 }),
        }
    }

    #[test]
    fn first_container_owns_the_namespace_and_publishes_every_port_on_loopback() {
        let body = create_body(&spec(), 0, None);
        let host = body.host_config.unwrap();
        let bindings = host.port_bindings.unwrap();
        assert_eq!(bindings.len(), 2);
        for key in ["8080/tcp", "8081/tcp"] {
            let binding = bindings[key].as_ref().unwrap();
            assert_eq!(binding[0].host_ip.as_deref(), Some("127.0.0.1"));
        }
        assert_eq!(body.hostname.as_deref(), Some("first"));
        assert_eq!(host.network_mode, None);
        assert_eq!(host.binds.unwrap(), vec!["/data/models/m:/opt/ml/model:ro"]);
        assert_eq!((host.nano_cpus, host.memory), (Some(2_000_000_000), Some(1 << 30)));
        assert_eq!(body.cmd.unwrap(), vec!["serve"]);
    }

    #[test]
    fn later_containers_join_the_first_and_publish_nothing() {
        let body = create_body(&spec(), 1, Some("abc"));
        let host = body.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("container:abc"));
        assert!(host.port_bindings.is_none() && body.exposed_ports.is_none() && body.hostname.is_none());
    }

    #[test]
    fn each_container_gets_its_port_a_disjoint_safe_range_and_its_hostname() {
        let spec = spec();
        let (first, second) = (container_env(&spec, 0), container_env(&spec, 1));
        assert_eq!(first["SAGEMAKER_BIND_TO_PORT"], "8080");
        assert_eq!(second["SAGEMAKER_BIND_TO_PORT"], "8081");
        assert_eq!(first["SAGEMAKER_SAFE_PORT_RANGE"], "20000-20099");
        assert_eq!(second["SAGEMAKER_SAFE_PORT_RANGE"], "20100-20199");
        assert_eq!((first["HOSTNAME"].as_str(), second["HOSTNAME"].as_str()), ("first", "second"));
        assert_eq!(first["A"], "1");
    }

    #[test]
    fn labels_and_names() {
        let spec = spec();
        let labels = container_labels(&spec, 1);
        assert_eq!(labels["smemu.managed"], "true");
        assert_eq!(labels["smemu.owner"], spec.owner);
        assert_eq!(labels["smemu.data-dir"], "/home/me/.smemu");
        assert_eq!(labels["smemu.kind"], "endpoint");
        assert_eq!(labels["smemu.resource"], "123456789012/us-east-1/ep");
        assert_eq!(labels["smemu.container"], "second");
        assert_eq!(labels["smemu.container-index"], "1");
        assert_eq!(container_name(&spec, 1), "smemu-owner-123456-i-1-1");
    }
}
