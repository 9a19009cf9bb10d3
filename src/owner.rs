//! The owner id that marks this smemu's containers (label `smemu.owner`): one per data directory,
//! kept in it, so that a restart finds its own containers and two smemus never touch each other's.

use std::path::Path;

use anyhow::Context;

const OWNER_FILE: &str = "owner-id";

pub fn owner_id(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join(OWNER_FILE);
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
        _ => {
            let id = uuid::Uuid::new_v4().simple().to_string();
            std::fs::write(&path, &id).with_context(|| format!("writing {}", path.display()))?;
            Ok(id)
        }
    }
}
