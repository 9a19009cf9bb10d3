//! Every smemu container on the engine, whoever owns it: what `smemu ps` shows and `smemu prune`
//! removes. The controllers use [`crate::Backend::list`], which sees only their own owner's.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use bollard::models::ContainerSummary;

use crate::docker::DockerBackend;
use crate::{BackendError, labels, layout};

/// One container smemu created, as its labels and the engine describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedContainer {
    pub id: String,
    /// The engine's name, without the leading `/`.
    pub name: String,
    pub image: String,
    /// The engine's state word: `running`, `exited`, `created`...
    pub state: String,
    /// `smemu.owner`: the owner id of the data directory that created it.
    pub owner: String,
    /// `smemu.data-dir`: that data directory (absolute), empty for containers of an older smemu.
    pub data_dir: String,
    /// `endpoint` or `transform-job`.
    pub kind: String,
    pub resource: String,
    pub variant: String,
    pub instance: String,
    /// `smemu.generation`: the endpoint fleet (deployment) it belongs to.
    pub generation: String,
    /// Its name in the pipeline (`ContainerHostname`, else `container-N`).
    pub name_in_pipeline: String,
    pub index: usize,
    /// Where it answers on the host, while it runs.
    pub address: Option<SocketAddr>,
}

impl DockerBackend {
    /// smemu's containers: of one owner id, or every one (`None`), in instance and pipeline order.
    pub async fn managed_containers(&self, owner: Option<&str>) -> Result<Vec<ManagedContainer>, BackendError> {
        let filter = match owner {
            Some(owner) => format!("{}={owner}", labels::OWNER),
            None => format!("{}=true", labels::MANAGED),
        };
        let summaries = self.list_labeled(vec![filter]).await?;
        // The instance's first container publishes every container's port.
        let mut published: BTreeMap<(String, String), Vec<(u16, u16)>> = BTreeMap::new();
        let mut out: Vec<ManagedContainer> = summaries.iter().filter_map(managed).collect();
        for (summary, container) in summaries.iter().filter(|s| managed(s).is_some()).zip(&out) {
            if container.index == 0 {
                let ports = summary
                    .ports
                    .iter()
                    .flatten()
                    .filter(|p| p.ip.as_deref() == Some(layout::HOST_IP))
                    .filter_map(|p| p.public_port.map(|public| (p.private_port, public)))
                    .collect();
                published.insert((container.owner.clone(), container.instance.clone()), ports);
            }
        }
        for container in &mut out {
            let ports = published.get(&(container.owner.clone(), container.instance.clone()));
            let inner = layout::inner_port(container.index);
            container.address = ports
                .and_then(|ports| ports.iter().find(|(private, _)| *private == inner))
                .filter(|_| container.state == "running")
                .map(|(_, public)| layout::loopback(*public));
        }
        out.sort_by(|a, b| {
            (&a.data_dir, &a.kind, &a.resource, &a.variant, &a.instance, a.index).cmp(&(
                &b.data_dir,
                &b.kind,
                &b.resource,
                &b.variant,
                &b.instance,
                b.index,
            ))
        });
        Ok(out)
    }

    /// Stops and removes these containers, each instance's namespace owner after its other containers.
    pub async fn remove_managed(&self, containers: &[ManagedContainer]) -> Result<(), BackendError> {
        let mut instances: BTreeMap<(&str, &str), Vec<(usize, String)>> = BTreeMap::new();
        for c in containers {
            instances.entry((&c.owner, &c.instance)).or_default().push((c.index, c.id.clone()));
        }
        for mut ids in instances.into_values() {
            ids.sort();
            let ids: Vec<String> = ids.into_iter().map(|(_, id)| id).collect();
            self.stop_and_remove(&ids).await?;
        }
        Ok(())
    }
}

/// A container with smemu's labels; `None` for one whose labels this version cannot read.
fn managed(summary: &ContainerSummary) -> Option<ManagedContainer> {
    let labels = summary.labels.as_ref()?;
    let get = |key: &str| labels.get(key).cloned().unwrap_or_default();
    let owner = labels.get(labels::OWNER)?.clone();
    Some(ManagedContainer {
        id: summary.id.clone().unwrap_or_default(),
        name: summary.names.iter().flatten().next().map(|n| n.trim_start_matches('/').to_owned()).unwrap_or_default(),
        image: summary.image.clone().unwrap_or_default(),
        state: summary.state.as_ref().map(ToString::to_string).unwrap_or_default(),
        owner,
        data_dir: get(labels::DATA_DIR),
        kind: get(labels::KIND),
        resource: get(labels::RESOURCE),
        variant: get(labels::VARIANT),
        instance: get(labels::INSTANCE),
        generation: get(labels::GENERATION),
        name_in_pipeline: get(labels::CONTAINER),
        index: get(labels::INDEX).parse().unwrap_or(0),
        address: None,
    })
}
