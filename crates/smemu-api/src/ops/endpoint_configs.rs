//! CreateEndpointConfig, DescribeEndpointConfig, ListEndpointConfigs, DeleteEndpointConfig.

use std::collections::HashSet;

use smemu_store::{ImmutableKind, Record, StoreError};
use smemu_types::sagemaker::{
    CreateEndpointConfigInput, CreateEndpointConfigOutput, DeleteEndpointConfigInput, DescribeEndpointConfigInput,
    DescribeEndpointConfigOutput, EndpointConfigSortKey, EndpointConfigSummary, ListEndpointConfigsInput,
    ListEndpointConfigsOutput, OrderKey, ProductionVariant,
};

use super::listing::{self, CommonListInput};
use super::spec::{from_json, now_ms, stored_tags, timestamp, to_json};
use crate::arn::{ResourceType, arn};
use crate::{ApiError, AppState, RequestContext};

const KIND: ImmutableKind = ImmutableKind::EndpointConfig;

/// Serverless memory sizes SageMaker offers, in MB.
const SERVERLESS_MEMORY_MB: [i32; 6] = [1024, 2048, 3072, 4096, 5120, 6144];

pub(crate) async fn create(
    state: &AppState,
    ctx: &RequestContext,
    input: CreateEndpointConfigInput,
) -> Result<CreateEndpointConfigOutput, ApiError> {
    let name = input.endpoint_config_name.clone().unwrap_or_default();
    let config_arn = arn(&ctx.scope, ResourceType::EndpointConfig, &name);
    let mut variants = input.production_variants.clone().unwrap_or_default();
    check_variants(&variants)?;
    check_async_output(&input)?;
    for variant in variants.iter().chain(input.shadow_production_variants.iter().flatten()) {
        if let Some(model) = &variant.model_name {
            model_must_exist(state, ctx, model).await?;
        }
    }
    // SageMaker reports the default weight it applied.
    for variant in &mut variants {
        if variant.serverless_config.is_none() && variant.initial_variant_weight.is_none() {
            variant.initial_variant_weight = Some(1.0);
        }
    }
    let spec = CreateEndpointConfigInput {
        endpoint_config_name: None,
        tags: None,
        production_variants: Some(variants),
        ..input.clone()
    };
    let record =
        Record { scope: ctx.scope.clone(), name, arn: config_arn.clone(), created_ms: now_ms(), spec: to_json(&spec)? };
    state
        .store
        .create(KIND, &record, &stored_tags(input.tags.as_deref()))
        .await
        .map_err(|err| ApiError::from_store(err, &config_arn))?;
    Ok(CreateEndpointConfigOutput { endpoint_config_arn: Some(config_arn) })
}

pub(crate) async fn describe(
    state: &AppState,
    ctx: &RequestContext,
    input: DescribeEndpointConfigInput,
) -> Result<DescribeEndpointConfigOutput, ApiError> {
    let name = input.endpoint_config_name.unwrap_or_default();
    let record = state
        .store
        .get(KIND, &ctx.scope, &name)
        .await
        .map_err(|err| ApiError::from_store(err, &arn(&ctx.scope, ResourceType::EndpointConfig, &name)))?;
    let mut out: DescribeEndpointConfigOutput = from_json(record.spec)?;
    out.endpoint_config_name = Some(record.name);
    out.endpoint_config_arn = Some(record.arn);
    out.creation_time = Some(timestamp(record.created_ms));
    Ok(out)
}

pub(crate) async fn list(
    state: &AppState,
    ctx: &RequestContext,
    input: ListEndpointConfigsInput,
) -> Result<ListEndpointConfigsOutput, ApiError> {
    let query = listing::query(CommonListInput {
        name_contains: input.name_contains.as_deref(),
        created_before: input.creation_time_before.as_ref(),
        created_after: input.creation_time_after.as_ref(),
        sort_by_name: matches!(input.sort_by, Some(EndpointConfigSortKey::Name)),
        ascending: matches!(input.sort_order, Some(OrderKey::Ascending)),
        max_results: input.max_results,
        next_token: input.next_token.as_deref(),
    })?;
    let page = state.store.list(KIND, &ctx.scope, &query).await?;
    Ok(ListEndpointConfigsOutput {
        next_token: listing::token_after(&query, page.items.len(), page.more),
        endpoint_configs: Some(
            page.items
                .into_iter()
                .map(|s| EndpointConfigSummary {
                    endpoint_config_name: Some(s.name),
                    endpoint_config_arn: Some(s.arn),
                    creation_time: Some(timestamp(s.created_ms)),
                })
                .collect(),
        ),
    })
}

pub(crate) async fn delete(
    state: &AppState,
    ctx: &RequestContext,
    input: DeleteEndpointConfigInput,
) -> Result<super::Empty, ApiError> {
    let name = input.endpoint_config_name.unwrap_or_default();
    // An endpoint using this config keeps its resolved copy and keeps running, as in SageMaker.
    state
        .store
        .delete(KIND, &ctx.scope, &name)
        .await
        .map_err(|err| ApiError::from_store(err, &arn(&ctx.scope, ResourceType::EndpointConfig, &name)))?;
    Ok(super::Empty {})
}

/// An asynchronous endpoint writes every answer under `OutputConfig.S3OutputPath`
/// (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference-create-endpoint.html): without one
/// there is nowhere to put them. (The generated validation already requires `OutputConfig` and keeps
/// `MaxConcurrentInvocationsPerInstance` within 1–1000.)
fn check_async_output(input: &CreateEndpointConfigInput) -> Result<(), ApiError> {
    let Some(config) = &input.async_inference_config else { return Ok(()) };
    let path = config.output_config.as_ref().and_then(|o| o.s3_output_path.as_deref()).unwrap_or_default();
    if path.is_empty() {
        return Err(ApiError::validation("AsyncInferenceConfig.OutputConfig.S3OutputPath must be specified."));
    }
    Ok(())
}

async fn model_must_exist(state: &AppState, ctx: &RequestContext, model: &str) -> Result<(), ApiError> {
    match state.store.get(ImmutableKind::Model, &ctx.scope, model).await {
        Ok(_) => Ok(()),
        Err(StoreError::NotFound { .. }) => {
            Err(ApiError::not_found("model", &arn(&ctx.scope, ResourceType::Model, model)))
        }
        Err(other) => Err(other.into()),
    }
}

/// Rules across variants that the shape constraints cannot express (texts unconfirmed).
fn check_variants(variants: &[ProductionVariant]) -> Result<(), ApiError> {
    let mut names = HashSet::new();
    for variant in variants {
        let name = variant.variant_name.as_deref().unwrap_or_default();
        if !names.insert(name.to_lowercase()) {
            return Err(ApiError::validation(format!(
                "Variant name \"{name}\" appears more than once; variant names must be unique within an endpoint configuration."
            )));
        }
        if variant.model_name.is_none() {
            return Err(ApiError::validation(format!("Variant \"{name}\" must specify a ModelName.")));
        }
        match (&variant.serverless_config, &variant.instance_type, &variant.initial_instance_count) {
            (Some(_), None, None) => {}
            (Some(_), _, _) => {
                return Err(ApiError::validation(format!(
                    "Variant \"{name}\" cannot specify both ServerlessConfig and InstanceType or InitialInstanceCount."
                )));
            }
            (None, Some(_), Some(_)) => {}
            (None, _, _) => {
                return Err(ApiError::validation(format!(
                    "Variant \"{name}\" must specify InstanceType and InitialInstanceCount, or ServerlessConfig."
                )));
            }
        }
        if let Some(memory) = variant.serverless_config.as_ref().and_then(|s| s.memory_size_in_mb)
            && !SERVERLESS_MEMORY_MB.contains(&memory)
        {
            return Err(ApiError::validation(format!(
                "Value '{memory}' at 'memorySizeInMB' of variant \"{name}\" is not supported; choose one of {SERVERLESS_MEMORY_MB:?}."
            )));
        }
    }
    Ok(())
}
