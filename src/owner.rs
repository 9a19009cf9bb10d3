//! The owner id that marks this smemu's containers (label `smemu.owner`): one per data directory,
//! kept in it, so that a restart finds its own containers and two smemus never touch each other's.

use std::path::Path;

use anyhow::Context;

/// The file, inside the data directory, that holds the owner id.
pub const OWNER_FILE: &str = "owner-id";

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

/// The owner id a data directory holds, without making one: `None` when it has none.
pub fn existing_owner_id(data_dir: &Path) -> Option<String> {
    let id = std::fs::read_to_string(data_dir.join(OWNER_FILE)).ok()?;
    let id = id.trim();
    (!id.is_empty()).then(|| id.to_owned())
}
