//! Which account owns each bucket of the embedded S3, kept on disk beside the buckets.
//!
//! One small file per bucket, `<root>/.smemu-owners/<bucket>`, holds the owner's 12-digit
//! account id. s3s-fs never serves it: a bucket name cannot start with `.`, and keys cannot
//! climb out of their bucket (see [`super::keys`]). A bucket directory without a record
//! (data directories older than ownership) belongs to the default account.

use std::io;
use std::path::{Path, PathBuf};

use smemu_types::auth::is_account_id;

/// The directory of owner records, inside the embedded server's root.
pub const OWNERS_DIR: &str = ".smemu-owners";

/// Reads and writes bucket owner records under one root.
#[derive(Debug, Clone)]
pub(crate) struct Owners {
    root: PathBuf,
    default_account: String,
}

impl Owners {
    pub(crate) fn new(root: &Path, default_account: &str) -> Self {
        Owners { root: root.to_path_buf(), default_account: default_account.to_owned() }
    }

    fn record(&self, bucket: &str) -> PathBuf {
        self.root.join(OWNERS_DIR).join(bucket)
    }

    /// The owner of `bucket`, `None` when there is no such bucket. `bucket` must be a valid
    /// bucket name (s3s checks it before any operation; [`Self::owner_of_name`] checks it too).
    pub(crate) async fn owner(&self, bucket: &str) -> io::Result<Option<String>> {
        match tokio::fs::metadata(self.root.join(bucket)).await {
            Ok(md) if md.is_dir() => {}
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
        match tokio::fs::read_to_string(self.record(bucket)).await {
            Ok(text) if is_account_id(text.trim()) => Ok(Some(text.trim().to_owned())),
            // A record smemu did not write whole is not an owner: the default account's rule applies.
            Ok(_) => Ok(Some(self.default_account.clone())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Some(self.default_account.clone())),
            Err(e) => Err(e),
        }
    }

    /// [`Self::owner`] for a name that did not come through s3s (an `s3://` URI): a name that
    /// is not a valid bucket name has no owner.
    pub(crate) async fn owner_of_name(&self, bucket: &str) -> io::Result<Option<String>> {
        if !s3s::path::check_bucket_name(bucket) {
            return Ok(None);
        }
        self.owner(bucket).await
    }

    /// Records `account` as the owner of `bucket`: written to a temporary file, synced and
    /// renamed, so a crash leaves the old record or the new one, never a torn one.
    pub(crate) async fn set(&self, bucket: &str, account: &str) -> io::Result<()> {
        let dir = self.root.join(OWNERS_DIR);
        tokio::fs::create_dir_all(&dir).await?;
        let tmp = dir.join(format!(".{bucket}.{}", uuid::Uuid::new_v4().simple()));
        let result = async {
            let mut file = tokio::fs::File::create(&tmp).await?;
            tokio::io::AsyncWriteExt::write_all(&mut file, format!("{account}\n").as_bytes()).await?;
            file.sync_all().await?;
            tokio::fs::rename(&tmp, self.record(bucket)).await?;
            tokio::fs::File::open(&dir).await?.sync_all().await
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }

    /// Forgets the owner of a deleted bucket.
    pub(crate) async fn remove(&self, bucket: &str) -> io::Result<()> {
        match tokio::fs::remove_file(self.record(bucket)).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_survive_a_new_instance_and_old_buckets_belong_to_the_default_account() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let owners = Owners::new(dir.path(), "000000000000");
        assert_eq!(owners.owner("models").await.ok(), Some(None), "no bucket, no owner");
        std::fs::create_dir(dir.path().join("models")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(owners.owner("models").await.ok().flatten().as_deref(), Some("000000000000"));
        owners.set("models", "111111111111").await.unwrap_or_else(|e| panic!("{e}"));
        let again = Owners::new(dir.path(), "000000000000");
        assert_eq!(again.owner("models").await.ok().flatten().as_deref(), Some("111111111111"));
        assert_eq!(again.owner_of_name("../models").await.ok(), Some(None));
        again.remove("models").await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.owner("models").await.ok().flatten().as_deref(), Some("000000000000"));
        // Nothing but the record is left in the owners directory.
        let left = std::fs::read_dir(dir.path().join(OWNERS_DIR)).map(Iterator::count).unwrap_or(1);
        assert_eq!(left, 0);
    }
}
