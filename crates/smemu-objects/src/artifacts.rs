//! Model artifacts: turning a `ModelDataUrl` or an uncompressed `S3DataSource` prefix into a local directory to mount read-only.
//!
//! Cache layout under `cache_dir`:
//! - `<sha256 of the .tar.gz>/` — one extracted tarball per content digest, so the same
//!   bytes under different URIs (or fetched again) are extracted once;
//! - `prefix-<sha256 of the listing>/` — a copied prefix, keyed by the prefix URI and
//!   every object's key, size and ETag, so a changed prefix is copied afresh;
//! - `.download-*`, `.extract-*`, `.prefix-*` — work in progress. Everything is built
//!   under such a temporary name and renamed into place, so a directory with a final
//!   name is always complete, and concurrent fetches of the same content are safe (the
//!   loser of the rename race discards its copy and uses the winner's).

use std::path::{Path, PathBuf};

use futures::stream::{self, TryStreamExt};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::archive::extract_tar_gz;
use crate::error::ObjectError;
use crate::store::Objects;
use crate::uri::ObjectUri;

/// Objects downloaded at once when copying a prefix.
const PREFIX_CONCURRENCY: usize = 4;

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

/// A directory holding the model behind `model_data_url`.
///
/// - `s3://…/model.tar.gz` or `file:///…/model.tar.gz`: downloaded into `cache_dir`,
///   extracted once per content digest into `cache_dir/<sha256>/` (see [`crate::archive`]
///   for what archives are refused);
/// - `file:///some/dir`: that directory itself.
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
    let uri = model_data_url;
    match ObjectUri::parse(uri)? {
        ObjectUri::File { path } => {
            if tokio::fs::metadata(&path).await.is_ok_and(|md| md.is_dir()) {
                return Ok(FetchedModel { dir: path, digest: None, extracted: false });
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

    tokio::fs::create_dir_all(cache_dir).await.map_err(|e| ObjectError::io(uri, e))?;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let download = cache_dir.join(format!(".download-{tag}.tar.gz"));
    let digest = match download_hashing(objects, uri, &download).await {
        Ok(d) => d,
        Err(e) => {
            let _ = tokio::fs::remove_file(&download).await;
            return Err(e);
        }
    };

    let dir = cache_dir.join(&digest);
    if tokio::fs::metadata(&dir).await.is_ok_and(|md| md.is_dir()) {
        let _ = tokio::fs::remove_file(&download).await;
        tracing::debug!(%uri, %digest, "model artifacts already extracted");
        return Ok(FetchedModel { dir, digest: Some(digest), extracted: false });
    }

    let staging = cache_dir.join(format!(".extract-{digest}-{tag}"));
    let extracted = {
        let (uri, download, staging) = (uri.to_owned(), download.clone(), staging.clone());
        tokio::task::spawn_blocking(move || extract_tar_gz(&uri, &download, &staging))
            .await
            .map_err(|e| ObjectError::backend(model_data_url, format!("extraction task failed: {e}")))
            .and_then(|r| r)
    };
    let _ = tokio::fs::remove_file(&download).await;
    if let Err(e) = extracted {
        let _ = tokio::fs::remove_dir_all(&staging).await;
        return Err(e);
    }
    let won = publish(uri, &staging, &dir).await?;
    tracing::info!(%uri, %digest, dir = %dir.display(), extracted = won, "model artifacts ready");
    Ok(FetchedModel { dir, digest: Some(digest), extracted: won })
}

/// A directory holding every object under `s3_prefix_uri` (ModelDataSource.S3DataSource
/// with `CompressionType: None`), keys relative to the prefix. Keys with `..` components
/// are refused; keys ending in `/` (folder markers) only create directories. A `file://`
/// directory is used as is.
pub async fn fetch_model_prefix(
    objects: &Objects,
    cache_dir: &Path,
    s3_prefix_uri: &str,
) -> Result<PathBuf, ObjectError> {
    let uri = s3_prefix_uri;
    match ObjectUri::parse(uri)? {
        ObjectUri::File { path } if tokio::fs::metadata(&path).await.is_ok_and(|md| md.is_dir()) => return Ok(path),
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
    let dir = cache_dir.join(format!("prefix-{digest}"));
    if tokio::fs::metadata(&dir).await.is_ok_and(|md| md.is_dir()) {
        return Ok(dir);
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
    Ok(dir)
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

/// Streams `uri` into `dest`, returning the hex SHA-256 of the bytes written.
async fn download_hashing(objects: &Objects, uri: &str, dest: &Path) -> Result<String, ObjectError> {
    let mut reader = objects.get(uri).await?;
    let mut file = tokio::fs::File::create(dest).await.map_err(|e| ObjectError::io(uri, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = reader.read(&mut buf).await.map_err(|e| ObjectError::io(uri, e))?;
        if n == 0 {
            break;
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

    #[test]
    fn prefix_keys() {
        assert_eq!(safe_key("s3://b/p", "a//b/./c").ok(), Some(PathBuf::from("a/b/c")));
        assert!(matches!(safe_key("s3://b/p", "a/../../x"), Err(ObjectError::UnsafeEntry { .. })));
    }
}
