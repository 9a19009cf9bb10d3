//! Model artifacts: turning a `ModelDataUrl` or an uncompressed `S3DataSource` prefix into a local directory to mount read-only, within a size limit, in a cache that evicts what no one uses.
//!
//! Cache layout under the cache directory:
//! - `<sha256 of the .tar.gz>/` — one extracted tarball per content digest, so the same
//!   bytes under different URIs (or fetched again) are extracted once;
//! - `prefix-<sha256 of the listing>/` — a copied prefix, keyed by the prefix URI and
//!   every object's key, size and ETag, so a changed prefix is copied afresh;
//! - `.download-*`, `.extract-*`, `.prefix-*` — work in progress, and `.evict-*` — being
//!   removed. Everything is built under such a temporary name and renamed into place, so a
//!   directory with a final name is always complete, and concurrent fetches of the same
//!   content are safe (the loser of the rename race discards its copy and uses the winner's).
//!   Leftovers of a killed smemu are removed at start-up ([`ArtifactCache::remove_leftovers`]).
//!
//! Limits. One artifact may take at most `max_artifact_size` bytes: the download, the
//! extraction (see [`crate::archive`]) or the prefix's listed objects. Past
//! `max_cache_size`, [`ArtifactCache::evict`] removes cached directories least recently
//! fetched first, never one in use: one leased by a fetch in progress ([`ArtifactLease`],
//! held until the containers that mount it exist), or one the caller says is mounted (the
//! caller asks its container engine, so a restarted smemu knows what its adopted containers
//! use without remembering anything).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use futures::stream::{self, TryStreamExt};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::archive::extract_tar_gz;
use crate::error::ObjectError;
use crate::store::Objects;
use crate::uri::ObjectUri;

/// Objects downloaded at once when copying a prefix.
const PREFIX_CONCURRENCY: usize = 4;

/// `--max-artifact-size`'s default.
pub const DEFAULT_MAX_ARTIFACT_SIZE: u64 = 20 << 30;
/// `--artifact-cache-size`'s default.
pub const DEFAULT_MAX_CACHE_SIZE: u64 = 50 << 30;

/// What [`fetch_model_artifacts_detailed`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedModel {
    /// The directory to mount read-only.
    pub dir: PathBuf,
    /// Hex SHA-256 of the tarball; `None` when a `file://` directory was used as is.
    pub digest: Option<String>,
    /// Whether this call extracted the archive (false: reused from the cache, or a
    /// directory used directly).
    pub extracted: bool,
}

/// Keeps one cached directory from eviction while it lives. Cheap; dropping it releases the lease.
#[derive(Debug)]
pub struct ArtifactLease {
    dir: Option<PathBuf>,
    leases: Arc<Mutex<HashMap<PathBuf, usize>>>,
}

impl Drop for ArtifactLease {
    fn drop(&mut self) {
        let Some(dir) = self.dir.take() else { return };
        let mut leases = self.leases.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = leases.get_mut(&dir) {
            *count -= 1;
            if *count == 0 {
                leases.remove(&dir);
            }
        }
    }
}

/// What one [`ArtifactCache::evict`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Eviction {
    /// Bytes on disk in cached directories before.
    pub before: u64,
    /// And after.
    pub after: u64,
    /// The directories removed.
    pub removed: Vec<PathBuf>,
}

/// The model artifact cache in one directory; cheap to clone.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    max_artifact_size: u64,
    max_cache_size: u64,
    /// Cached directories leased by fetches in progress, with their counts.
    leases: Arc<Mutex<HashMap<PathBuf, usize>>>,
    /// One eviction at a time.
    evicting: Arc<tokio::sync::Mutex<()>>,
}

impl ArtifactCache {
    /// The cache in `dir` (made absolute so that it can be bind-mounted and compared with what
    /// a container engine reports; created by the first fetch).
    pub fn open(dir: &Path, max_artifact_size: u64, max_cache_size: u64) -> Result<Self, ObjectError> {
        let uri = format!("file://{}", dir.display());
        let dir =
            std::fs::canonicalize(dir).or_else(|_| std::path::absolute(dir)).map_err(|e| ObjectError::io(&uri, e))?;
        let cache =
            ArtifactCache { dir, max_artifact_size, max_cache_size, leases: Arc::default(), evicting: Arc::default() };
        Ok(cache)
    }

    /// The (absolute) cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn max_artifact_size(&self) -> u64 {
        self.max_artifact_size
    }

    /// Removes what a killed smemu left half-done (downloads, extractions, evictions). Only
    /// while no fetch runs in this cache: at start-up.
    pub fn remove_leftovers(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if [".download-", ".extract-", ".prefix-", ".evict-"].iter().any(|p| name.starts_with(p)) {
                let path = entry.path();
                let removed = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                if let Err(err) = removed {
                    tracing::warn!(path = %path.display(), error = %err, "removing an unfinished artifact");
                }
            }
        }
    }

    fn lease(&self, dir: &Path) -> ArtifactLease {
        let mut leases = self.leases.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *leases.entry(dir.to_path_buf()).or_default() += 1;
        ArtifactLease { dir: Some(dir.to_path_buf()), leases: self.leases.clone() }
    }

    fn no_lease(&self) -> ArtifactLease {
        ArtifactLease { dir: None, leases: self.leases.clone() }
    }

    /// A directory holding the model behind `model_data_url`, leased until the lease drops.
    ///
    /// - `s3://…/model.tar.gz` or `file:///…/model.tar.gz`: downloaded into the cache,
    ///   extracted once per content digest into `<cache>/<sha256>/` (see [`crate::archive`]
    ///   for what archives are refused);
    /// - `file:///some/dir`: that directory itself (not cached, not leased).
    pub async fn fetch(
        &self,
        objects: &Objects,
        model_data_url: &str,
    ) -> Result<(FetchedModel, ArtifactLease), ObjectError> {
        let uri = model_data_url;
        match ObjectUri::parse(uri)? {
            ObjectUri::File { path } => {
                objects.check_file_uri(uri)?;
                if tokio::fs::metadata(&path).await.is_ok_and(|md| md.is_dir()) {
                    return Ok((FetchedModel { dir: path, digest: None, extracted: false }, self.no_lease()));
                }
            }
            ObjectUri::S3 { key, .. } => {
                if key.is_empty() || key.ends_with('/') {
                    return Err(ObjectError::invalid(
                        uri,
                        "ModelDataUrl must name a .tar.gz object; an uncompressed prefix needs \
                         ModelDataSource.S3DataSource with CompressionType None",
                    ));
                }
            }
        }

        let cache_dir = &self.dir;
        tokio::fs::create_dir_all(cache_dir).await.map_err(|e| ObjectError::io(uri, e))?;
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let download = cache_dir.join(format!(".download-{tag}.tar.gz"));
        let digest = match download_hashing(objects, uri, &download, self.max_artifact_size).await {
            Ok(d) => d,
            Err(e) => {
                let _ = tokio::fs::remove_file(&download).await;
                return Err(e);
            }
        };

        let dir = cache_dir.join(&digest);
        // Leased before looking: an eviction either sees the lease or has already renamed the
        // directory away, and then this is a miss.
        let lease = self.lease(&dir);
        if tokio::fs::metadata(&dir).await.is_ok_and(|md| md.is_dir()) {
            let _ = tokio::fs::remove_file(&download).await;
            touch(&dir);
            tracing::debug!(%uri, %digest, "model artifacts already extracted");
            return Ok((FetchedModel { dir, digest: Some(digest), extracted: false }, lease));
        }

        let staging = cache_dir.join(format!(".extract-{digest}-{tag}"));
        let limit = self.max_artifact_size;
        let extracted = {
            let (uri, download, staging) = (uri.to_owned(), download.clone(), staging.clone());
            tokio::task::spawn_blocking(move || extract_tar_gz(&uri, &download, &staging, limit))
                .await
                .map_err(|e| ObjectError::backend(model_data_url, format!("extraction task failed: {e}")))
                .and_then(|r| r)
        };
        let _ = tokio::fs::remove_file(&download).await;
        let counted = match extracted {
            Ok(counted) => counted,
            Err(e) => {
                let _ = tokio::fs::remove_dir_all(&staging).await;
                return Err(e);
            }
        };
        let won = publish(uri, &staging, &dir).await?;
        touch(&dir);
        tracing::info!(%uri, %digest, dir = %dir.display(), extracted = won, bytes = counted, "model artifacts ready");
        Ok((FetchedModel { dir, digest: Some(digest), extracted: won }, lease))
    }

    /// A directory holding every object under `s3_prefix_uri` (ModelDataSource.S3DataSource
    /// with `CompressionType: None`), keys relative to the prefix, leased until the lease
    /// drops. Keys with `..` components are refused; keys ending in `/` (folder markers) only
    /// create directories. A `file://` directory is used as is.
    pub async fn fetch_prefix(
        &self,
        objects: &Objects,
        s3_prefix_uri: &str,
    ) -> Result<(PathBuf, ArtifactLease), ObjectError> {
        let uri = s3_prefix_uri;
        match ObjectUri::parse(uri)? {
            ObjectUri::File { path } if tokio::fs::metadata(&path).await.is_ok_and(|md| md.is_dir()) => {
                objects.check_file_uri(uri)?;
                return Ok((path, self.no_lease()));
            }
            // As SageMaker requires: without the slash, `s3://b/model` would also take in
            // `s3://b/model-v2/...`.
            ObjectUri::S3 { key, .. } if !key.is_empty() && !key.ends_with('/') => {
                return Err(ObjectError::invalid(uri, "an uncompressed model prefix must end with '/'"));
            }
            _ => {}
        }
        let listing = objects.list(uri).await?;
        if listing.is_empty() {
            return Err(ObjectError::NoSuchKey { uri: uri.to_owned() });
        }
        let total = listing.iter().fold(0u64, |sum, obj| sum.saturating_add(obj.size));
        if total > self.max_artifact_size {
            return Err(ObjectError::TooLarge { uri: uri.to_owned(), limit: self.max_artifact_size });
        }

        let mut hasher = Sha256::new();
        hasher.update(uri.as_bytes());
        let mut files = Vec::new();
        let mut dirs = Vec::new();
        for obj in &listing {
            hasher.update(format!("\n{}\t{}\t{}", obj.key, obj.size, obj.etag.as_deref().unwrap_or("")).as_bytes());
            let rel = safe_key(uri, &obj.key)?;
            if obj.key.ends_with('/') || rel.as_os_str().is_empty() {
                dirs.push(rel);
            } else {
                files.push((obj.uri.clone(), rel));
            }
        }
        let digest = hex::encode(hasher.finalize());
        let cache_dir = &self.dir;
        let dir = cache_dir.join(format!("prefix-{digest}"));
        let lease = self.lease(&dir);
        if tokio::fs::metadata(&dir).await.is_ok_and(|md| md.is_dir()) {
            touch(&dir);
            return Ok((dir, lease));
        }

        let staging = cache_dir.join(format!(".prefix-{digest}-{}", uuid::Uuid::new_v4().simple()));
        let copied = async {
            tokio::fs::create_dir_all(&staging).await.map_err(|e| ObjectError::io(uri, e))?;
            for d in &dirs {
                tokio::fs::create_dir_all(staging.join(d)).await.map_err(|e| ObjectError::io(uri, e))?;
            }
            stream::iter(files.iter().map(Ok::<_, ObjectError>))
                .try_for_each_concurrent(PREFIX_CONCURRENCY, |(obj_uri, rel)| {
                    let dest = staging.join(rel);
                    async move { objects.get_to_file(obj_uri, &dest).await.map(drop) }
                })
                .await
        }
        .await;
        if let Err(e) = copied {
            let _ = tokio::fs::remove_dir_all(&staging).await;
            return Err(e);
        }
        publish(uri, &staging, &dir).await?;
        touch(&dir);
        Ok((dir, lease))
    }

    /// Removes unused cached directories, least recently fetched first, until the cache takes at
    /// most `max_cache_size` bytes on disk (or nothing unused is left). `mounted` are directories
    /// containers use (as the engine reports their bind mounts); leased ones are kept too.
    pub async fn evict(&self, mounted: &HashSet<PathBuf>) -> Result<Eviction, ObjectError> {
        let _one_at_a_time = self.evicting.lock().await;
        let dir = self.dir.clone();
        let uri = format!("file://{}", dir.display());
        let mut cached = tokio::task::spawn_blocking(move || cached_dirs(&dir))
            .await
            .map_err(|e| ObjectError::backend(&uri, format!("cache scan failed: {e}")))?
            .map_err(|e| ObjectError::io(&uri, e))?;
        let before: u64 = cached.iter().map(|c| c.usage).sum();
        let mut eviction = Eviction { before, after: before, removed: Vec::new() };
        if before <= self.max_cache_size {
            return Ok(eviction);
        }
        cached.sort_by_key(|c| c.last_used);
        for candidate in cached {
            if eviction.after <= self.max_cache_size {
                break;
            }
            if mounted.contains(&candidate.path) {
                continue;
            }
            // Renamed away under the lease lock, so a fetch either leased it first (kept) or finds
            // it gone and fetches it again; the slow removal happens outside the lock.
            let doomed = self.dir.join(format!(".evict-{}", uuid::Uuid::new_v4().simple()));
            {
                let leases = self.leases.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if leases.contains_key(&candidate.path) {
                    continue;
                }
                if let Err(err) = std::fs::rename(&candidate.path, &doomed) {
                    tracing::warn!(dir = %candidate.path.display(), error = %err, "evicting a cached artifact");
                    continue;
                }
            }
            if let Err(err) = tokio::fs::remove_dir_all(&doomed).await {
                tracing::warn!(dir = %doomed.display(), error = %err, "removing an evicted artifact");
            }
            tracing::info!(dir = %candidate.path.display(), bytes = candidate.usage, "evicted an unused cached artifact");
            eviction.after = eviction.after.saturating_sub(candidate.usage);
            eviction.removed.push(candidate.path);
        }
        Ok(eviction)
    }
}

/// One finished cached directory.
struct Cached {
    path: PathBuf,
    usage: u64,
    last_used: SystemTime,
}

/// The finished directories of the cache (names not starting with `.`), with their disk usage.
fn cached_dirs(dir: &Path) -> std::io::Result<Vec<Cached>> {
    let mut cached = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with('.') || !entry.file_type()?.is_dir() {
            continue;
        }
        let md = entry.metadata()?;
        let last_used = md.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        cached.push(Cached { path: entry.path(), usage: disk_usage(&entry.path()), last_used });
    }
    Ok(cached)
}

/// Bytes a tree takes on disk (allocated blocks: a sparse file counts its data only), walked
/// with a stack; links are not followed. Unreadable parts count as nothing.
fn disk_usage(root: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0u64;
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Ok(md) = entry.metadata() else { continue };
            total = total.saturating_add(md.blocks().saturating_mul(512));
            if md.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    total
}

/// Marks a cached directory as just used (its mtime orders eviction).
fn touch(dir: &Path) {
    let touched = std::fs::File::open(dir).and_then(|f| f.set_modified(SystemTime::now()));
    if let Err(err) = touched {
        tracing::debug!(dir = %dir.display(), error = %err, "marking a cached artifact as used");
    }
}

/// [`ArtifactCache::fetch`] in `cache_dir` with the default limits, without the lease.
pub async fn fetch_model_artifacts(
    objects: &Objects,
    cache_dir: &Path,
    model_data_url: &str,
) -> Result<PathBuf, ObjectError> {
    Ok(fetch_model_artifacts_detailed(objects, cache_dir, model_data_url).await?.dir)
}

/// [`fetch_model_artifacts`], also telling whether the cache was used.
pub async fn fetch_model_artifacts_detailed(
    objects: &Objects,
    cache_dir: &Path,
    model_data_url: &str,
) -> Result<FetchedModel, ObjectError> {
    let cache = ArtifactCache::open(cache_dir, DEFAULT_MAX_ARTIFACT_SIZE, DEFAULT_MAX_CACHE_SIZE)?;
    Ok(cache.fetch(objects, model_data_url).await?.0)
}

/// [`ArtifactCache::fetch_prefix`] in `cache_dir` with the default limits, without the lease.
pub async fn fetch_model_prefix(
    objects: &Objects,
    cache_dir: &Path,
    s3_prefix_uri: &str,
) -> Result<PathBuf, ObjectError> {
    let cache = ArtifactCache::open(cache_dir, DEFAULT_MAX_ARTIFACT_SIZE, DEFAULT_MAX_CACHE_SIZE)?;
    Ok(cache.fetch_prefix(objects, s3_prefix_uri).await?.0)
}

/// A key relative to the prefix as a relative path; `..` would leave the copy's root.
fn safe_key(uri: &str, key: &str) -> Result<PathBuf, ObjectError> {
    let mut rel = PathBuf::new();
    for part in key.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(ObjectError::UnsafeEntry {
                    uri: uri.to_owned(),
                    entry: key.to_owned(),
                    reason: "has a `..` component".to_owned(),
                });
            }
            p => rel.push(p),
        }
    }
    Ok(rel)
}

/// Streams `uri` into `dest`, returning the hex SHA-256 of the bytes written; more than `limit`
/// bytes is [`ObjectError::TooLarge`] (a compressed archive that large cannot extract to less).
async fn download_hashing(objects: &Objects, uri: &str, dest: &Path, limit: u64) -> Result<String, ObjectError> {
    let mut reader = objects.get(uri).await?;
    let mut file = tokio::fs::File::create(dest).await.map_err(|e| ObjectError::io(uri, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).await.map_err(|e| ObjectError::io(uri, e))?;
        if n == 0 {
            break;
        }
        total = total.saturating_add(n as u64);
        if total > limit {
            return Err(ObjectError::TooLarge { uri: uri.to_owned(), limit });
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).await.map_err(|e| ObjectError::io(uri, e))?;
    }
    file.flush().await.map_err(|e| ObjectError::io(uri, e))?;
    Ok(hex::encode(hasher.finalize()))
}

/// Renames a finished `staging` directory to `dir`. Returns false when another fetch got
/// there first (then `staging` is discarded).
async fn publish(uri: &str, staging: &Path, dir: &Path) -> Result<bool, ObjectError> {
    match tokio::fs::rename(staging, dir).await {
        Ok(()) => Ok(true),
        Err(e) => {
            let _ = tokio::fs::remove_dir_all(staging).await;
            if tokio::fs::metadata(dir).await.is_ok_and(|md| md.is_dir()) {
                Ok(false)
            } else {
                Err(ObjectError::io(uri, e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn eviction_removes_the_least_recently_used_and_never_a_leased_or_mounted_one() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        // Four cached artifacts of 64 KiB each, used in this order; the cache may keep 100 KiB.
        let cache = ArtifactCache::open(tmp.path(), 1 << 30, 100 << 10).unwrap_or_else(|e| panic!("{e}"));
        let names = ["oldest", "leased", "mounted", "newest"];
        for (i, name) in names.iter().enumerate() {
            let dir = cache.dir().join(name);
            std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(dir.join("w.bin"), vec![1u8; 64 << 10]).unwrap_or_else(|e| panic!("{e}"));
            let used = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000 + i as u64);
            std::fs::File::open(&dir).and_then(|f| f.set_modified(used)).unwrap_or_else(|e| panic!("{e}"));
        }
        std::fs::create_dir(cache.dir().join(".extract-in-progress")).unwrap_or_else(|e| panic!("{e}"));
        let lease = cache.lease(&cache.dir().join("leased"));
        let mounted = HashSet::from([cache.dir().join("mounted")]);
        let eviction = cache.evict(&mounted).await.unwrap_or_else(|e| panic!("{e}"));
        // oldest goes; leased and mounted are skipped; newest goes too, since the cache is still
        // over its size; work in progress is not the cache's to evict.
        let left: HashSet<String> = std::fs::read_dir(cache.dir())
            .unwrap_or_else(|e| panic!("{e}"))
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, HashSet::from(["leased", "mounted", ".extract-in-progress"].map(str::to_owned)));
        assert_eq!(eviction.removed, [cache.dir().join("oldest"), cache.dir().join("newest")]);
        // Released, the leased one goes at the next eviction; the mounted one stays.
        drop(lease);
        let eviction = cache.evict(&mounted).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(eviction.removed, [cache.dir().join("leased")]);
    }

    #[test]
    fn prefix_keys() {
        assert_eq!(safe_key("s3://b/p", "a//b/./c").ok(), Some(PathBuf::from("a/b/c")));
        assert!(matches!(safe_key("s3://b/p", "a/../../x"), Err(ObjectError::UnsafeEntry { .. })));
    }
}
