//! A transform job's input objects: every object under an `S3Prefix`, or the keys a `ManifestFile`
//! lists, read through smemu-objects (`s3://` and `file://`).

use bytes::Bytes;
use smemu_batch::Manifest;
use smemu_objects::{ObjectError, Objects};
use smemu_types::sagemaker::{CreateTransformJobRequest, S3DataType};
use tokio::io::AsyncReadExt;

/// One input object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub uri: String,
    /// From the listing; manifest entries have none until asked.
    pub size: Option<u64>,
}

/// The objects to transform and what their output names are relative to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inputs {
    pub base: String,
    pub items: Vec<Input>,
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Nothing to transform: no object under the prefix (or no bucket), no manifest, an empty manifest.
    #[error("No S3 objects found under S3 URL \"{uri}\" given in input data source.")]
    NoObjects { uri: String },
    #[error("{0}")]
    Manifest(smemu_batch::BatchError),
    #[error("{0}")]
    Objects(ObjectError),
    #[error("smemu has no object store configured to read {uri}")]
    NoObjectStore { uri: String },
}

/// Lists the inputs of a job's data source (`S3DataType` other than `ManifestFile` is read as a
/// prefix; the API refuses the others before a job exists).
pub async fn list(objects: Option<&Objects>, request: &CreateTransformJobRequest) -> Result<Inputs, InputError> {
    let source = request
        .transform_input
        .as_ref()
        .and_then(|i| i.data_source.as_ref())
        .and_then(|d| d.s3_data_source.clone())
        .unwrap_or_default();
    let uri = source.s3_uri.clone().unwrap_or_default();
    let Some(objects) = objects else { return Err(InputError::NoObjectStore { uri }) };
    let no_objects = || InputError::NoObjects { uri: uri.clone() };
    let inputs = if matches!(source.s3_data_type, Some(S3DataType::ManifestFile)) {
        let bytes = read_all(objects, &uri)
            .await
            .map_err(|err| if err.is_not_found() { no_objects() } else { InputError::Objects(err) })?;
        let manifest = Manifest::parse(&bytes, &uri).map_err(InputError::Manifest)?;
        Inputs { base: manifest.base, items: manifest.uris.into_iter().map(|uri| Input { uri, size: None }).collect() }
    } else {
        let listed = match objects.list(&uri).await {
            Ok(listed) => listed,
            Err(ObjectError::NoSuchBucket { .. }) => return Err(no_objects()),
            Err(err) => return Err(InputError::Objects(err)),
        };
        Inputs {
            base: uri.clone(),
            items: listed
                .into_iter()
                // Keys ending in `/` are folder markers some tools write, not data.
                .filter(|o| !o.key.ends_with('/'))
                .map(|o| Input { uri: o.uri, size: Some(o.size) })
                .collect(),
        }
    };
    if inputs.items.is_empty() {
        return Err(no_objects());
    }
    Ok(inputs)
}

/// Fills in the sizes a manifest does not give (for spreading objects over instances); an object
/// that cannot be read counts as empty here and fails when it is transformed.
pub async fn fill_sizes(objects: &Objects, inputs: &mut Inputs) {
    for input in inputs.items.iter_mut().filter(|i| i.size.is_none()) {
        input.size = Some(objects.head(&input.uri).await.map_or(0, |meta| meta.size));
    }
}

/// The most a manifest file may hold. AWS documents no limit; this one is far above any real
/// list of keys (about a million keys of 100 bytes) and keeps a wrong `S3Uri` (a multi-GB data
/// file named as the manifest) from being read into memory whole.
pub const MAX_MANIFEST_BYTES: u64 = 128 * 1024 * 1024;

/// One whole manifest object, at most [`MAX_MANIFEST_BYTES`].
pub async fn read_all(objects: &Objects, uri: &str) -> Result<Bytes, ObjectError> {
    let reader = objects.get(uri).await?;
    let mut body = Vec::new();
    let io = |err| ObjectError::Io { uri: uri.to_owned(), source: err };
    reader.take(MAX_MANIFEST_BYTES + 1).read_to_end(&mut body).await.map_err(io)?;
    if body.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(io(std::io::Error::other(format!(
            "the manifest is larger than {MAX_MANIFEST_BYTES} bytes, the most smemu reads as a manifest"
        ))));
    }
    Ok(Bytes::from(body))
}
