//! `smemu ps`: a data directory's endpoints and transform jobs with their status, variants,
//! instances and containers (name in the pipeline, image, state, published port).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;
use smemu_backend::{ManagedContainer, OwnerKind};
use smemu_runtime::{EndpointDoc, JobDoc};
use smemu_store::{SqliteStore, StatefulRecord, Store};
use smemu_types::sagemaker::TransformJobStatus;

use crate::owner::existing_owner_id;

/// `smemu ps` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct PsArgs {
    /// The data directory to show (the one `smemu serve --data-dir` uses).
    #[arg(long, env = "SMEMU_DATA_DIR", default_value = ".smemu")]
    pub data_dir: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also show finished transform jobs (Completed, Failed, Stopped).
    #[arg(long, short = 'a')]
    pub all: bool,
}

/// What `ps --json` prints.
#[derive(Debug, Serialize)]
pub struct Listing {
    pub data_dir: String,
    /// `false` when no engine answered: containers are then unknown, not absent.
    pub engine: bool,
    pub endpoints: Vec<Resource>,
    pub transform_jobs: Vec<Resource>,
}

#[derive(Debug, Serialize)]
pub struct Resource {
    pub name: String,
    pub account: String,
    pub region: String,
    pub status: String,
    pub variants: Vec<Variant>,
}

#[derive(Debug, Serialize)]
pub struct Variant {
    /// For transform jobs, smemu's own name of the job's single "variant".
    pub name: String,
    pub instance_type: Option<String>,
    pub desired_instances: Option<i64>,
    pub current_instances: Option<i64>,
    pub instances: Vec<Instance>,
}

#[derive(Debug, Serialize)]
pub struct Instance {
    /// EC2's form (`i-0...`), as log stream names show it.
    pub id: String,
    /// smemu's own id (the `smemu.instance` label).
    pub smemu_id: String,
    pub containers: Vec<Container>,
}

#[derive(Debug, Serialize)]
pub struct Container {
    pub name: String,
    pub image: String,
    pub state: String,
    /// `127.0.0.1:PORT` while it runs.
    pub address: Option<String>,
    pub container_id: String,
}

pub async fn run(args: &PsArgs) -> anyhow::Result<()> {
    let listing = collect(args).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&listing)?);
    } else {
        print!("{}", table(&listing));
    }
    Ok(())
}

async fn collect(args: &PsArgs) -> anyhow::Result<Listing> {
    let dir = super::data_dir(&args.data_dir)?;
    let store = SqliteStore::open(&dir.join(crate::STATE_FILE)).await?;
    let endpoints = store.all_endpoints().await?;
    let statuses: &[TransformJobStatus] = if args.all {
        &[
            TransformJobStatus::InProgress,
            TransformJobStatus::Stopping,
            TransformJobStatus::Completed,
            TransformJobStatus::Failed,
            TransformJobStatus::Stopped,
        ]
    } else {
        &[TransformJobStatus::InProgress, TransformJobStatus::Stopping]
    };
    let jobs = store.transform_jobs_with_status(statuses).await?;
    store.close().await;

    let (engine, containers) = match (super::engine().await, existing_owner_id(&dir)) {
        (Ok(engine), Some(owner)) => (true, engine.managed_containers(Some(&owner)).await?),
        (Ok(_), None) => (true, Vec::new()),
        (Err(err), _) => {
            eprintln!("smemu ps: {err:#}: containers not shown");
            (false, Vec::new())
        }
    };
    // (kind, resource) → its containers, in instance and pipeline order.
    let mut placed: BTreeMap<(String, String), Vec<&ManagedContainer>> = BTreeMap::new();
    for c in &containers {
        placed.entry((c.kind.clone(), c.resource.clone())).or_default().push(c);
    }
    let mut take =
        |kind: OwnerKind, label: &str| placed.remove(&(kind.as_str().to_owned(), label.to_owned())).unwrap_or_default();

    let mut listing =
        Listing { data_dir: dir.display().to_string(), engine, endpoints: Vec::new(), transform_jobs: Vec::new() };
    for record in &endpoints {
        let mut found = take(OwnerKind::Endpoint, &resource_label(record));
        // A fleet variant's containers: its name and its fleet's generation.
        let mut pick = |variant: &str, fleet: &str| {
            let (mine, rest): (Vec<_>, Vec<_>) =
                found.drain(..).partition(|c| c.variant == variant && c.generation == fleet);
            found = rest;
            mine
        };
        let mut variants = Vec::new();
        if let Ok(doc) = serde_json::from_value::<EndpointDoc>(record.state.clone()) {
            // The serving fleet's variants, then the pending one's (an update in progress).
            for fleet in std::iter::once(&doc.current).chain(doc.pending.as_ref()) {
                for plan in &fleet.variants {
                    variants.push(Variant {
                        name: plan.name.clone(),
                        instance_type: plan.instance_type.clone(),
                        desired_instances: Some(plan.desired_instances.into()),
                        current_instances: Some(plan.current_instances.into()),
                        instances: instances(pick(&plan.name, &fleet.id)),
                    });
                }
            }
        }
        // Containers of variants the document no longer names (being removed).
        for (name, rest) in by_variant(found) {
            variants.push(Variant {
                name,
                instance_type: None,
                desired_instances: None,
                current_instances: None,
                instances: instances(rest),
            });
        }
        listing.endpoints.push(Resource {
            name: record.name.clone(),
            account: record.scope.account.clone(),
            region: record.scope.region.clone(),
            status: record.status.as_str().to_owned(),
            variants,
        });
    }
    for record in &jobs {
        let doc = serde_json::from_value::<JobDoc>(record.state.clone()).ok();
        let resources = doc.as_ref().and_then(|d| d.request.transform_resources.as_ref());
        let found = take(OwnerKind::TransformJob, &resource_label(record));
        let mut variants: Vec<Variant> = by_variant(found)
            .into_iter()
            .map(|(name, rest)| Variant {
                name,
                instance_type: resources.and_then(|r| r.instance_type.as_ref()).map(|t| t.as_str().to_owned()),
                desired_instances: resources.and_then(|r| r.instance_count).map(i64::from),
                current_instances: None,
                instances: instances(rest),
            })
            .collect();
        if variants.is_empty() {
            variants.push(Variant {
                name: String::new(),
                instance_type: resources.and_then(|r| r.instance_type.as_ref()).map(|t| t.as_str().to_owned()),
                desired_instances: resources.and_then(|r| r.instance_count).map(i64::from),
                current_instances: None,
                instances: Vec::new(),
            });
        }
        listing.transform_jobs.push(Resource {
            name: record.name.clone(),
            account: record.scope.account.clone(),
            region: record.scope.region.clone(),
            status: record.status.as_str().to_owned(),
            variants,
        });
    }
    Ok(listing)
}

/// The `smemu.resource` label of a resource's containers (smemu-runtime's `EndpointKey::resource_label`).
fn resource_label<S>(record: &StatefulRecord<S>) -> String {
    format!("{}/{}/{}", record.scope.account, record.scope.region, record.name)
}

fn by_variant(containers: Vec<&ManagedContainer>) -> BTreeMap<String, Vec<&ManagedContainer>> {
    let mut out: BTreeMap<String, Vec<&ManagedContainer>> = BTreeMap::new();
    for c in containers {
        out.entry(c.variant.clone()).or_default().push(c);
    }
    out
}

/// Containers (in instance and pipeline order) grouped by instance.
fn instances(containers: Vec<&ManagedContainer>) -> Vec<Instance> {
    let mut out: Vec<Instance> = Vec::new();
    for c in containers {
        if out.last().is_none_or(|i| i.smemu_id != c.instance) {
            out.push(Instance {
                id: smemu_runtime::log_instance_id(&c.instance),
                smemu_id: c.instance.clone(),
                containers: Vec::new(),
            });
        }
        if let Some(instance) = out.last_mut() {
            instance.containers.push(Container {
                name: c.name_in_pipeline.clone(),
                image: c.image.clone(),
                state: c.state.clone(),
                address: c.address.map(|a| a.to_string()),
                container_id: c.id.chars().take(12).collect(),
            });
        }
    }
    out
}

/// One row per container (a resource or variant without any gets one row of its own), aligned.
pub fn table(listing: &Listing) -> String {
    let mut rows: Vec<[String; 9]> = vec![
        ["NAME", "KIND", "STATUS", "VARIANT", "INSTANCE", "CONTAINER", "IMAGE", "STATE", "ADDRESS"].map(str::to_owned),
    ];
    let dash = || "-".to_owned();
    for (kind, resources) in [("endpoint", &listing.endpoints), ("transform-job", &listing.transform_jobs)] {
        for r in resources.iter() {
            let head = |variant: String| [r.name.clone(), kind.to_owned(), r.status.clone(), variant];
            if r.variants.is_empty() {
                rows.push(concat(head(dash()), [dash(), dash(), dash(), dash(), dash()]));
            }
            for v in &r.variants {
                let variant = if v.name.is_empty() { dash() } else { v.name.clone() };
                if v.instances.is_empty() {
                    let note = match (v.current_instances, v.desired_instances) {
                        (Some(current), Some(desired)) => format!("({current}/{desired} instances)"),
                        _ => dash(),
                    };
                    rows.push(concat(head(variant.clone()), [note, dash(), dash(), dash(), dash()]));
                }
                for i in &v.instances {
                    for c in &i.containers {
                        rows.push(concat(
                            head(variant.clone()),
                            [
                                i.id.clone(),
                                c.name.clone(),
                                c.image.clone(),
                                c.state.clone(),
                                c.address.clone().unwrap_or_else(dash),
                            ],
                        ));
                    }
                }
            }
        }
    }
    let mut widths = [0usize; 9];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row.iter().zip(widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    if !listing.engine {
        out.push_str("(no Docker engine answered: containers not shown)\n");
    }
    out
}

fn concat(head: [String; 4], tail: [String; 5]) -> [String; 9] {
    let [a, b, c, d] = head;
    let [e, f, g, h, i] = tail;
    [a, b, c, d, e, f, g, h, i]
}
