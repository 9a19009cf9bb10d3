//! `smemu prune`: removes the containers a data directory's smemu left, or every smemu container
//! whose data directory is gone, and says which.

use std::path::PathBuf;

use anyhow::Context;
use smemu_backend::ManagedContainer;

use crate::owner::existing_owner_id;

/// `smemu prune` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct PruneArgs {
    /// The data directory whose containers go (stop its smemu first, or it replaces them).
    #[arg(long, env = "SMEMU_DATA_DIR", default_value = ".smemu")]
    pub data_dir: PathBuf,
    /// Instead: every smemu container whose data directory (label `smemu.data-dir`) no longer
    /// exists or now belongs to another owner. Containers of live data directories stay.
    #[arg(long)]
    pub all_orphans: bool,
}

pub async fn run(args: &PruneArgs) -> anyhow::Result<()> {
    let engine = super::engine().await?;
    let doomed: Vec<ManagedContainer> = if args.all_orphans {
        let all = engine.managed_containers(None).await?;
        all.into_iter().filter(is_orphan).collect()
    } else {
        let dir = std::fs::canonicalize(&args.data_dir)
            .with_context(|| format!("no data directory at {}", args.data_dir.display()))?;
        let owner = existing_owner_id(&dir).with_context(|| {
            format!(
                "{} is not a smemu data directory (it has no owner-id); --all-orphans finds containers of deleted ones",
                dir.display()
            )
        })?;
        engine.managed_containers(Some(&owner)).await?
    };
    if doomed.is_empty() {
        println!("nothing to remove");
        return Ok(());
    }
    engine.remove_managed(&doomed).await?;
    for c in &doomed {
        println!(
            "removed {} ({} {} {}/{}/{}, data dir {})",
            c.name,
            c.kind,
            c.resource,
            c.variant,
            c.instance,
            c.name_in_pipeline,
            if c.data_dir.is_empty() { "?" } else { &c.data_dir }
        );
    }
    println!("removed {} container{}", doomed.len(), if doomed.len() == 1 { "" } else { "s" });
    Ok(())
}

/// A container whose data directory is gone, or was made anew (its owner id differs or is missing):
/// nobody will adopt it again. One without a `smemu.data-dir` label (an older smemu's) cannot be
/// judged, nor one whose owner id cannot be read (permissions): they stay.
fn is_orphan(container: &ManagedContainer) -> bool {
    if container.data_dir.is_empty() {
        return false;
    }
    let owner_file = std::path::Path::new(&container.data_dir).join(crate::owner::OWNER_FILE);
    match std::fs::read_to_string(owner_file) {
        Ok(id) => id.trim() != container.owner,
        Err(err) => err.kind() == std::io::ErrorKind::NotFound,
    }
}
