//! The `smemu.*` labels on every container smemu creates: how it finds, adopts and cleans up its
//! own containers and never touches anyone else's.

pub const MANAGED: &str = "smemu.managed";
pub const OWNER: &str = "smemu.owner";
/// The data directory of the smemu that created the container (for people; smemu selects by owner).
pub const DATA_DIR: &str = "smemu.data-dir";
pub const KIND: &str = "smemu.kind";
pub const RESOURCE: &str = "smemu.resource";
pub const VARIANT: &str = "smemu.variant";
pub const INSTANCE: &str = "smemu.instance";
pub const GENERATION: &str = "smemu.generation";
pub const CONTAINER: &str = "smemu.container";
pub const INDEX: &str = "smemu.container-index";
