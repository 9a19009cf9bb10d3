//! Why the runtime refused a request, in its own words; smemu-api maps each once to the wire.

use smemu_store::{ImmutableKind, StoreError};
use smemu_types::sagemaker::TransformJobStatus;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Past `--max-instances` (see `quota`).
    #[error("the request adds {delta} instances to the {used} running, past the limit of {limit}")]
    InstanceQuota { limit: u64, used: u64, delta: u64 },
    /// The endpoint is not in a status that allows the change (or changed while it was asked).
    #[error("endpoint {arn} is in progress")]
    EndpointInProgress { arn: String },
    /// UpdateEndpointWeightsAndCapacities names a variant twice.
    #[error("variant {name} is named twice")]
    VariantNamedTwice { name: String },
    /// UpdateEndpointWeightsAndCapacities names variants the endpoint's config does not have.
    #[error("variants {} are not in endpoint configuration {config}", names.join(", "))]
    UnknownVariants { names: Vec<String>, config: String },
    /// Batch transform runs pipelines serially; a Direct-mode model has no single answer.
    #[error("the model uses Direct inference execution")]
    DirectModel,
    /// A `file://` location outside `--file-root` (`field` names the request member).
    #[error("{field}: {reason}")]
    FileOutsideRoots { field: &'static str, reason: String },
    /// The transform job's input names no object.
    #[error("no input objects under {uri}")]
    NoInputObjects { uri: String },
    /// The transform job's inputs cannot be read or listed.
    #[error("{0}")]
    Inputs(String),
    /// StopTransformJob on a job that already ended.
    #[error("the transform job is {status}")]
    JobNotStoppable { status: TransformJobStatus },
    /// The endpoint configuration or a model to deploy is not there (or cannot be read).
    #[error("{} {name}: {source}", kind.noun())]
    Lookup { kind: ImmutableKind, name: String, source: StoreError },
    /// A `DeploymentConfig` the fleet it deploys cannot run (the deployment guardrails' rules).
    #[error("{0}")]
    InvalidDeploymentConfig(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads a stored document (an endpoint's or a job's `state`); a document that does not parse is
/// a corrupt store, not the caller's fault.
pub(crate) fn read_doc<T: serde::de::DeserializeOwned>(name: &str, state: serde_json::Value) -> Result<T, StoreError> {
    serde_json::from_value(state).map_err(|source| StoreError::Corrupt { name: name.to_owned(), source })
}

pub(crate) fn write_doc<T: serde::Serialize>(name: &str, doc: &T) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(doc).map_err(|source| StoreError::Corrupt { name: name.to_owned(), source })
}
