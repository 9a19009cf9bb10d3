//! The commands for people at a terminal: `smemu ps`, `smemu logs`, `smemu prune`.
//!
//! They read a data directory (`--data-dir`, the flag `smemu serve` takes) and the Docker engine,
//! not a running smemu's API: they work the same whether smemu runs or not (after a test kept its
//! state with `--smemu-keep`, say), need no credentials, and see every account and region.

pub mod logs;
pub mod prune;
pub mod ps;

use std::path::{Path, PathBuf};

use anyhow::Context;
use smemu_backend::DockerBackend;

/// The data directory, absolute (as containers' `smemu.data-dir` label names it), checked to be one.
fn data_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    let absolute = std::fs::canonicalize(dir).with_context(|| format!("no data directory at {}", dir.display()))?;
    if !absolute.join(crate::STATE_FILE).is_file() {
        anyhow::bail!("{} is not a smemu data directory (it has no {})", absolute.display(), crate::STATE_FILE);
    }
    Ok(absolute)
}

async fn engine() -> anyhow::Result<DockerBackend> {
    DockerBackend::connect().await.context("the Docker engine")
}
