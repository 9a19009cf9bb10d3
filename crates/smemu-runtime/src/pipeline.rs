//! A model's containers as smemu runs them: what endpoints, transform jobs and the launcher share.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use smemu_types::sagemaker::{
    ContainerDefinition, CreateModelInput, InferenceExecutionMode, ModelCompressionType, S3ModelDataSource,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerPlan {
    /// The container's hostname: `ContainerHostname`, or `container-N` in a pipeline without names
    /// (as SageMaker names them in failure reasons), or `primary` for a single container.
    pub hostname: String,
    pub image: String,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_data_url: Option<String>,
    /// `ModelDataSource.S3DataSource.S3Uri` of an uncompressed model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_data_prefix: Option<String>,
}

/// The containers of a stored model as smemu runs them, in pipeline order.
pub fn pipeline_of(model: &CreateModelInput) -> Vec<ContainerPlan> {
    let (definitions, pipeline) = match (&model.primary_container, &model.containers) {
        (Some(primary), _) => (std::slice::from_ref(primary), false),
        (None, Some(list)) => (list.as_slice(), true),
        (None, None) => (&[][..], false),
    };
    definitions
        .iter()
        .enumerate()
        .map(|(i, c)| ContainerPlan {
            hostname: c
                .container_hostname
                .clone()
                .unwrap_or_else(|| if pipeline { format!("container-{}", i + 1) } else { "primary".to_owned() }),
            image: c.image.clone().unwrap_or_default(),
            environment: c.environment.clone().unwrap_or_default().into_iter().collect::<BTreeMap<_, _>>(),
            model_data_url: c.model_data_url.clone().or_else(|| packed_source(c).map(str::to_owned)),
            model_data_prefix: model_data_source(c).filter(|s| !is_gzip(s)).and_then(|s| s.s3_uri.clone()),
        })
        .collect()
}

fn model_data_source(c: &ContainerDefinition) -> Option<&S3ModelDataSource> {
    c.model_data_source.as_ref().and_then(|s| s.s3_data_source.as_ref())
}

fn is_gzip(source: &S3ModelDataSource) -> bool {
    matches!(source.compression_type, Some(ModelCompressionType::Gzip))
}

/// `ModelDataSource.S3DataSource` with `CompressionType: Gzip` names a `model.tar.gz`, as
/// `ModelDataUrl` does; with `None` it names a prefix copied as a directory.
fn packed_source(c: &ContainerDefinition) -> Option<&str> {
    model_data_source(c).filter(|s| is_gzip(s)).and_then(|s| s.s3_uri.as_deref())
}

/// `InferenceExecutionConfig.Mode = Direct`: callers pick one container by hostname.
pub fn is_direct(model: &CreateModelInput) -> bool {
    matches!(
        model.inference_execution_config.as_ref().and_then(|c| c.mode.as_ref()),
        Some(InferenceExecutionMode::Direct)
    )
}
