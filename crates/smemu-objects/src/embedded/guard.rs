//! Access control of the embedded S3: keys that stay in their bucket, and buckets that
//! belong to the account that created them.
//!
//! [`Guard`] is s3s's access hook: it runs for every operation once the signature is checked
//! (strict mode) or the caller's claimed account is known (any mode), refuses unsafe keys, and
//! answers `AccessDenied` (403, "Access Denied", as S3 does for another account's private
//! bucket) when the bucket belongs to another account. [`Owned`] wraps s3s-fs for the three
//! operations that change or list ownership: CreateBucket records the owner, DeleteBucket
//! forgets it, ListBuckets shows the caller's buckets only. Every other operation goes
//! straight to s3s-fs.

use std::sync::Arc;

use s3s::access::{S3Access, S3AccessContext};
use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};
use s3s_fs::FileSystem;

use super::identity::EmbeddedAuth;
use super::keys::{is_safe_key, unsafe_key_error};
use super::owners::Owners;

/// The account a request acts as, once [`Guard::check`] has decided it.
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub(crate) String);

/// The account an unverified request claims (`--auth any`), set before s3s sees the request.
#[derive(Debug, Clone)]
pub(crate) struct ClaimedAccount(pub(crate) String);

fn access_denied() -> S3Error {
    S3Error::with_message(S3ErrorCode::AccessDenied, "Access Denied")
}

fn no_such_bucket() -> S3Error {
    S3Error::with_message(S3ErrorCode::NoSuchBucket, "The specified bucket does not exist")
}

fn internal(err: &std::io::Error) -> S3Error {
    tracing::error!(error = %err, "embedded S3: reading bucket owners failed");
    S3Error::new(S3ErrorCode::InternalError)
}

pub(crate) struct Guard {
    pub(crate) auth: Arc<EmbeddedAuth>,
    pub(crate) owners: Owners,
}

impl Guard {
    /// `Ok` when `caller` may use the existing bucket `bucket`.
    async fn check_bucket(&self, bucket: &str, caller: &str) -> S3Result<()> {
        match self.owners.owner(bucket).await {
            Ok(Some(owner)) if owner == caller => Ok(()),
            Ok(Some(_)) => Err(access_denied()),
            // Also stops s3s-fs from creating a bucket directory on PutObject into a missing bucket.
            Ok(None) => Err(no_such_bucket()),
            Err(err) => Err(internal(&err)),
        }
    }

    async fn check_copy_source(&self, source: &CopySource, caller: Option<&Caller>) -> S3Result<()> {
        let caller = caller.ok_or_else(access_denied)?;
        match source {
            CopySource::Bucket { bucket, key, .. } => {
                if !is_safe_key(key) {
                    return Err(unsafe_key_error());
                }
                self.check_bucket(bucket, &caller.0).await
            }
            // Access point and Outpost sources name no bucket of this server.
            _ => Err(S3Error::with_message(S3ErrorCode::InvalidArgument, "Invalid copy source: use bucket/key")),
        }
    }
}

#[async_trait::async_trait]
impl S3Access for Guard {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let caller = match cx.credentials() {
            Some(credentials) => self.auth.account_of(&credentials.access_key),
            None => match cx.extensions_mut().get::<ClaimedAccount>() {
                Some(claimed) => claimed.0.clone(),
                // Strict mode and no signature: S3 refuses anonymous access to private buckets.
                None => return Err(access_denied()),
            },
        };
        if let Some(key) = cx.s3_path().get_object_key()
            && !is_safe_key(key)
        {
            return Err(unsafe_key_error());
        }
        if let Some(bucket) = cx.s3_path().get_bucket_name()
            && cx.s3_op().name() != "CreateBucket"
        {
            self.check_bucket(bucket, &caller).await?;
        }
        cx.extensions_mut().insert(Caller(caller));
        Ok(())
    }

    async fn copy_object(&self, req: &mut S3Request<CopyObjectInput>) -> S3Result<()> {
        self.check_copy_source(&req.input.copy_source, req.extensions.get::<Caller>()).await
    }

    async fn upload_part_copy(&self, req: &mut S3Request<UploadPartCopyInput>) -> S3Result<()> {
        self.check_copy_source(&req.input.copy_source, req.extensions.get::<Caller>()).await
    }

    async fn delete_objects(&self, req: &mut S3Request<DeleteObjectsInput>) -> S3Result<()> {
        if req.input.delete.objects.iter().any(|object| !is_safe_key(&object.key)) {
            return Err(unsafe_key_error());
        }
        Ok(())
    }
}

/// s3s-fs with bucket ownership (see the module docs).
pub(crate) struct Owned {
    pub(crate) fs: FileSystem,
    pub(crate) owners: Owners,
    /// Serializes CreateBucket, so two accounts racing for one name cannot both get it.
    pub(crate) creating: tokio::sync::Mutex<()>,
}

fn caller<T>(req: &S3Request<T>) -> S3Result<String> {
    req.extensions.get::<Caller>().map(|c| c.0.clone()).ok_or_else(access_denied)
}

#[async_trait::async_trait]
impl S3 for Owned {
    async fn create_bucket(&self, req: S3Request<CreateBucketInput>) -> S3Result<S3Response<CreateBucketOutput>> {
        let caller = caller(&req)?;
        let bucket = req.input.bucket.clone();
        let _creating = self.creating.lock().await;
        match self.owners.owner(&bucket).await {
            // https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateBucket.html#API_CreateBucket_Errors
            Ok(Some(owner)) if owner == caller => {
                return Err(S3Error::with_message(
                    S3ErrorCode::BucketAlreadyOwnedByYou,
                    "Your previous request to create the named bucket succeeded and you already own it.",
                ));
            }
            Ok(Some(_)) => {
                return Err(S3Error::with_message(
                    S3ErrorCode::BucketAlreadyExists,
                    "The requested bucket name is not available. The bucket namespace is shared by all users \
                     of the system. Please select a different name and try again.",
                ));
            }
            Ok(None) => {}
            Err(err) => return Err(internal(&err)),
        }
        // The record first: a crash between the two leaves a record without a bucket, which
        // the next CreateBucket of that name overwrites, never a bucket owned by nobody.
        self.owners.set(&bucket, &caller).await.map_err(|err| internal(&err))?;
        let created = self.fs.create_bucket(req).await;
        if created.is_err() {
            let _ = self.owners.remove(&bucket).await;
        }
        created
    }

    async fn delete_bucket(&self, req: S3Request<DeleteBucketInput>) -> S3Result<S3Response<DeleteBucketOutput>> {
        let bucket = req.input.bucket.clone();
        let deleted = self.fs.delete_bucket(req).await?;
        if let Err(err) = self.owners.remove(&bucket).await {
            tracing::warn!(%bucket, error = %err, "embedded S3: could not remove the owner record of a deleted bucket");
        }
        Ok(deleted)
    }

    async fn list_buckets(&self, req: S3Request<ListBucketsInput>) -> S3Result<S3Response<ListBucketsOutput>> {
        let caller = caller(&req)?;
        let mut listed = self.fs.list_buckets(req).await?;
        if let Some(buckets) = listed.output.buckets.take() {
            let mut mine = Vec::with_capacity(buckets.len());
            for bucket in buckets {
                let Some(name) = bucket.name.as_deref() else { continue };
                if self.owners.owner(name).await.map_err(|err| internal(&err))?.as_deref() == Some(caller.as_str()) {
                    mine.push(bucket);
                }
            }
            listed.output.buckets = Some(mine);
        }
        Ok(listed)
    }

    async fn copy_object(&self, req: S3Request<CopyObjectInput>) -> S3Result<S3Response<CopyObjectOutput>> {
        self.fs.copy_object(req).await
    }

    async fn delete_object(&self, req: S3Request<DeleteObjectInput>) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.fs.delete_object(req).await
    }

    async fn delete_objects(&self, req: S3Request<DeleteObjectsInput>) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.fs.delete_objects(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.fs.get_bucket_location(req).await
    }

    async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        self.fs.get_object(req).await
    }

    async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        self.fs.head_bucket(req).await
    }

    async fn head_object(&self, req: S3Request<HeadObjectInput>) -> S3Result<S3Response<HeadObjectOutput>> {
        self.fs.head_object(req).await
    }

    async fn list_objects(&self, req: S3Request<ListObjectsInput>) -> S3Result<S3Response<ListObjectsOutput>> {
        self.fs.list_objects(req).await
    }

    async fn list_objects_v2(&self, req: S3Request<ListObjectsV2Input>) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.fs.list_objects_v2(req).await
    }

    async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        self.fs.put_object(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.fs.create_multipart_upload(req).await
    }

    async fn upload_part(&self, req: S3Request<UploadPartInput>) -> S3Result<S3Response<UploadPartOutput>> {
        self.fs.upload_part(req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.fs.upload_part_copy(req).await
    }

    async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        self.fs.list_parts(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.fs.complete_multipart_upload(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.fs.abort_multipart_upload(req).await
    }
}
