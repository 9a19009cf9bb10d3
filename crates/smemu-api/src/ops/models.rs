//! CreateModel, DescribeModel, ListModels, DeleteModel.

use std::collections::HashSet;

use smemu_store::{ImmutableKind, Record};
use smemu_types::sagemaker::{
    ContainerDefinition, ContainerMode, CreateModelInput, CreateModelOutput, DeleteModelInput, DescribeModelInput,
    DescribeModelOutput, InferenceExecutionMode, ListModelsInput, ListModelsOutput, ModelSortKey, ModelSummary,
    OrderKey,
};

use super::listing::{self, CommonListInput};
use super::spec::{from_json, now_ms, stored_tags, timestamp, to_json};
use crate::arn::{ResourceType, arn};
use crate::{ApiError, AppState, RequestContext};

const KIND: ImmutableKind = ImmutableKind::Model;

pub(crate) async fn create(
    state: &AppState,
    ctx: &RequestContext,
    input: CreateModelInput,
) -> Result<CreateModelOutput, ApiError> {
    let name = input.model_name.clone().unwrap_or_default();
    let model_arn = arn(&ctx.scope, ResourceType::Model, &name);
    check_containers(&input)?;
    check_file_urls(state, &input)?;
    // The spec is what DescribeModel echoes: everything given but the name and the tags.
    let spec = CreateModelInput { model_name: None, tags: None, ..input.clone() };
    let record =
        Record { scope: ctx.scope.clone(), name, arn: model_arn.clone(), created_ms: now_ms(), spec: to_json(&spec)? };
    state
        .store
        .create(KIND, &record, &stored_tags(input.tags.as_deref()))
        .await
        .map_err(|err| ApiError::from_store(err, &model_arn))?;
    Ok(CreateModelOutput { model_arn: Some(model_arn) })
}

pub(crate) async fn describe(
    state: &AppState,
    ctx: &RequestContext,
    input: DescribeModelInput,
) -> Result<DescribeModelOutput, ApiError> {
    let name = input.model_name.unwrap_or_default();
    let record = state
        .store
        .get(KIND, &ctx.scope, &name)
        .await
        .map_err(|err| ApiError::from_store(err, &arn(&ctx.scope, ResourceType::Model, &name)))?;
    let mut out: DescribeModelOutput = from_json(record.spec)?;
    out.model_name = Some(record.name);
    out.model_arn = Some(record.arn);
    out.creation_time = Some(timestamp(record.created_ms));
    Ok(out)
}

pub(crate) async fn list(
    state: &AppState,
    ctx: &RequestContext,
    input: ListModelsInput,
) -> Result<ListModelsOutput, ApiError> {
    let query = listing::query(CommonListInput {
        name_contains: input.name_contains.as_deref(),
        created_before: input.creation_time_before.as_ref(),
        created_after: input.creation_time_after.as_ref(),
        sort_by_name: matches!(input.sort_by, Some(ModelSortKey::Name)),
        ascending: matches!(input.sort_order, Some(OrderKey::Ascending)),
        max_results: input.max_results,
        next_token: input.next_token.as_deref(),
    })?;
    let page = state.store.list(KIND, &ctx.scope, &query).await?;
    Ok(ListModelsOutput {
        next_token: listing::token_after(&query, page.items.len(), page.more),
        models: Some(
            page.items
                .into_iter()
                .map(|s| ModelSummary {
                    model_name: Some(s.name),
                    model_arn: Some(s.arn),
                    creation_time: Some(timestamp(s.created_ms)),
                })
                .collect(),
        ),
    })
}

pub(crate) async fn delete(
    state: &AppState,
    ctx: &RequestContext,
    input: DeleteModelInput,
) -> Result<super::Empty, ApiError> {
    let name = input.model_name.unwrap_or_default();
    // Endpoints keep running on their resolved copy of a deleted model, as in SageMaker.
    state
        .store
        .delete(KIND, &ctx.scope, &name)
        .await
        .map_err(|err| ApiError::from_store(err, &arn(&ctx.scope, ResourceType::Model, &name)))?;
    Ok(super::Empty {})
}

/// `file://` model data (smemu's extension) must lie inside `--file-root`; checked again when an
/// endpoint or job fetches it, since a path can change in between.
fn check_file_urls(state: &AppState, input: &CreateModelInput) -> Result<(), ApiError> {
    let Some(objects) = state.runtime.objects() else { return Ok(()) };
    let containers = input.primary_container.iter().chain(input.containers.iter().flatten());
    for container in containers {
        let source = container.model_data_source.as_ref().and_then(|s| s.s3_data_source.as_ref());
        let named = [
            ("ModelDataUrl", container.model_data_url.as_deref()),
            ("ModelDataSource.S3DataSource.S3Uri", source.and_then(|s| s.s3_uri.as_deref())),
        ];
        for (field, uri) in named {
            if let Some(uri) = uri {
                objects.check_file_uri(uri).map_err(|err| ApiError::file_outside_roots(field, &err.to_string()))?;
            }
        }
    }
    Ok(())
}

/// The rules on containers that the model's constraints cannot express.
/// See <https://docs.aws.amazon.com/sagemaker/latest/dg/inference-pipelines.html> and
/// <https://docs.aws.amazon.com/sagemaker/latest/dg/multi-container-direct.html>.
fn check_containers(input: &CreateModelInput) -> Result<(), ApiError> {
    let containers: &[ContainerDefinition] = match (&input.primary_container, &input.containers) {
        (Some(_), Some(list)) if !list.is_empty() => {
            return Err(ApiError::validation("Either PrimaryContainer or Containers can be specified, but not both."));
        }
        (Some(primary), _) => std::slice::from_ref(primary),
        (None, Some(list)) if !list.is_empty() => list,
        (None, _) => {
            return Err(ApiError::validation("Either PrimaryContainer or Containers must be specified."));
        }
    };
    for (index, container) in containers.iter().enumerate() {
        if container.image.is_none() && container.model_package_name.is_none() {
            return Err(ApiError::validation(format!(
                "Container {} must specify an Image or a ModelPackageName.",
                index + 1
            )));
        }
    }
    if input.primary_container.is_some() {
        return Ok(());
    }
    let multi_model = containers.iter().filter(|c| matches!(c.mode, Some(ContainerMode::MultiModel))).count();
    if multi_model > 1 && containers.len() > 1 {
        return Err(ApiError::validation(
            "More than one container in MultiModel mode is not supported with inference pipeline.",
        ));
    }
    let direct = matches!(
        input.inference_execution_config.as_ref().and_then(|c| c.mode.as_ref()),
        Some(InferenceExecutionMode::Direct)
    );
    let named: Vec<&str> = containers.iter().filter_map(|c| c.container_hostname.as_deref()).collect();
    if direct && named.len() != containers.len() {
        return Err(ApiError::validation(
            "ContainerHostname must be specified for every container when InferenceExecutionConfig.Mode is Direct.",
        ));
    }
    if !named.is_empty() && named.len() != containers.len() {
        return Err(ApiError::validation(
            "ContainerHostname must be specified for all containers or for none of them.",
        ));
    }
    let mut seen = HashSet::new();
    if let Some(dup) = named.iter().find(|name| !seen.insert(name.to_lowercase())) {
        return Err(ApiError::validation(format!(
            "ContainerHostname \"{dup}\" is used by more than one container; hostnames must be unique within a model."
        )));
    }
    Ok(())
}
