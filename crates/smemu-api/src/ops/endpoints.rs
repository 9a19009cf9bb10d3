//! CreateEndpoint, DescribeEndpoint, ListEndpoints, UpdateEndpoint, UpdateEndpointWeightsAndCapacities,
//! DeleteEndpoint. These record what is wanted and answer at once; the controller (`control`)
//! brings the containers in line and moves the status on.

use std::collections::HashSet;

use smemu_store::{EndpointRecord, ImmutableKind, Scope, StoreError};
use smemu_types::sagemaker::{
    CreateEndpointInput, CreateEndpointOutput, CreateModelInput, DeleteEndpointInput, DeployedImage,
    DescribeEndpointInput, DescribeEndpointOutput, EndpointSortKey, EndpointStatus, EndpointSummary,
    ListEndpointsInput, ListEndpointsOutput, OrderKey, PendingDeploymentSummary, PendingProductionVariantSummary,
    ProductionVariantStatus, ProductionVariantSummary, UpdateEndpointInput, UpdateEndpointOutput,
    UpdateEndpointWeightsAndCapacitiesInput, UpdateEndpointWeightsAndCapacitiesOutput, VariantPropertyType,
    VariantStatus,
};

use super::listing::{self, CommonListInput};
use super::quota;
use super::spec::{from_json, now_ms, stored_tags, timestamp};
use crate::arn::{ResourceType, arn};
use crate::{ApiError, AppState, RequestContext};
use smemu_runtime::control::plan::{EndpointDoc, Fleet, VariantPlan, is_direct, pipeline_of};
use smemu_runtime::control::{EndpointKey, status};

/// Without `ContainerStartupHealthCheckTimeoutInSeconds`, SageMaker waits this long for `/ping`.
const DEFAULT_STARTUP_TIMEOUT_S: u64 = 240;

pub(crate) async fn create(
    state: &AppState,
    ctx: &RequestContext,
    input: CreateEndpointInput,
) -> Result<CreateEndpointOutput, ApiError> {
    let name = input.endpoint_name.clone().unwrap_or_default();
    let endpoint_arn = arn(&ctx.scope, ResourceType::Endpoint, &name);
    let config_name = input.endpoint_config_name.clone().unwrap_or_default();
    let fleet = resolve_fleet(state, &ctx.scope, &config_name).await?;
    let now = now_ms();
    let doc = EndpointDoc {
        failure_reason: None,
        last_deployment_config: input
            .deployment_config
            .as_ref()
            .map(serde_json::to_value)
            .transpose()
            .map_err(ApiError::internal)?,
        current: fleet,
        pending: None,
    };
    let record = EndpointRecord {
        scope: ctx.scope.clone(),
        name: name.clone(),
        arn: endpoint_arn.clone(),
        status: status::CREATING.into(),
        created_ms: now,
        modified_ms: now,
        version: 1,
        state: serde_json::to_value(&doc).map_err(ApiError::internal)?,
    };
    let quota = quota::lock(state, &ctx.scope).await;
    quota.admit(state, &ctx.scope, doc.instances()).await?;
    state
        .store
        .create_endpoint(&record, &stored_tags(input.tags.as_deref()))
        .await
        .map_err(|err| ApiError::from_store(err, &endpoint_arn))?;
    state.endpoints.kick(EndpointKey::new(&ctx.scope, &name));
    Ok(CreateEndpointOutput { endpoint_arn: Some(endpoint_arn) })
}

pub(crate) async fn describe(
    state: &AppState,
    ctx: &RequestContext,
    input: DescribeEndpointInput,
) -> Result<DescribeEndpointOutput, ApiError> {
    let (record, doc) = load(state, &ctx.scope, input.endpoint_name.as_deref().unwrap_or_default()).await?;
    let in_progress = record.status != status::IN_SERVICE && record.status != status::FAILED;
    let variant_status = |status: VariantStatus, since: i64| {
        in_progress.then(|| {
            vec![ProductionVariantStatus {
                status: Some(status),
                start_time: Some(timestamp(since)),
                status_message: None,
            }]
        })
    };
    let current_status = match record.status.as_str() {
        status::CREATING => variant_status(VariantStatus::Creating, record.modified_ms),
        status::DELETING => variant_status(VariantStatus::Deleting, record.modified_ms),
        status::UPDATING if doc.pending.is_none() => variant_status(VariantStatus::Updating, record.modified_ms),
        _ => None,
    };
    let production_variants = doc
        .current
        .variants
        .iter()
        .map(|v| ProductionVariantSummary {
            variant_name: Some(v.name.clone()),
            deployed_images: Some(deployed_images(v)),
            current_weight: Some(v.current_weight),
            desired_weight: Some(v.desired_weight),
            current_instance_count: Some(v.current_instances),
            desired_instance_count: Some(v.desired_instances),
            variant_status: current_status.clone(),
            ..Default::default()
        })
        .collect();
    let pending = doc.pending.as_ref().map(|fleet| PendingDeploymentSummary {
        endpoint_config_name: Some(fleet.config_name.clone()),
        start_time: Some(timestamp(fleet.started_ms)),
        production_variants: Some(
            fleet
                .variants
                .iter()
                .map(|v| PendingProductionVariantSummary {
                    variant_name: Some(v.name.clone()),
                    deployed_images: Some(deployed_images(v)),
                    current_weight: Some(v.current_weight),
                    desired_weight: Some(v.desired_weight),
                    current_instance_count: Some(v.current_instances),
                    desired_instance_count: Some(v.desired_instances),
                    instance_type: v.instance_type.as_deref().map(Into::into),
                    variant_status: Some(vec![ProductionVariantStatus {
                        status: Some(VariantStatus::Creating),
                        start_time: Some(timestamp(fleet.started_ms)),
                        status_message: None,
                    }]),
                    ..Default::default()
                })
                .collect(),
        ),
        ..Default::default()
    });
    Ok(DescribeEndpointOutput {
        endpoint_name: Some(record.name),
        endpoint_arn: Some(record.arn),
        endpoint_config_name: Some(doc.current.config_name.clone()),
        endpoint_status: Some(EndpointStatus::from(record.status.as_str())),
        failure_reason: doc.failure_reason,
        creation_time: Some(timestamp(record.created_ms)),
        last_modified_time: Some(timestamp(record.modified_ms)),
        production_variants: Some(production_variants),
        last_deployment_config: doc.last_deployment_config.map(from_json).transpose()?,
        pending_deployment_summary: pending,
        ..Default::default()
    })
}

pub(crate) async fn list(
    state: &AppState,
    ctx: &RequestContext,
    input: ListEndpointsInput,
) -> Result<ListEndpointsOutput, ApiError> {
    let mut query = listing::query(CommonListInput {
        name_contains: input.name_contains.as_deref(),
        created_before: input.creation_time_before.as_ref(),
        created_after: input.creation_time_after.as_ref(),
        sort_by_name: matches!(input.sort_by, Some(EndpointSortKey::Name)),
        ascending: matches!(input.sort_order, Some(OrderKey::Ascending)),
        max_results: input.max_results,
        next_token: input.next_token.as_deref(),
    })?;
    listing::status_filters(
        &mut query,
        matches!(input.sort_by, Some(EndpointSortKey::Status)),
        input.status_equals.as_ref().map(|s| s.as_str()),
        input.last_modified_time_before.as_ref(),
        input.last_modified_time_after.as_ref(),
    );
    let page = state.store.list_endpoints(&ctx.scope, &query).await?;
    Ok(ListEndpointsOutput {
        next_token: listing::token_after(&query, page.items.len(), page.more),
        endpoints: Some(
            page.items
                .into_iter()
                .map(|s| EndpointSummary {
                    endpoint_name: Some(s.name),
                    endpoint_arn: Some(s.arn),
                    creation_time: Some(timestamp(s.created_ms)),
                    last_modified_time: Some(timestamp(s.modified_ms)),
                    endpoint_status: Some(EndpointStatus::from(s.status.as_str())),
                })
                .collect(),
        ),
    })
}

pub(crate) async fn update(
    state: &AppState,
    ctx: &RequestContext,
    input: UpdateEndpointInput,
) -> Result<UpdateEndpointOutput, ApiError> {
    // Taken before the endpoint is read, so that what it runs now is what the check counts.
    let quota = quota::lock(state, &ctx.scope).await;
    let (record, mut doc) = load(state, &ctx.scope, input.endpoint_name.as_deref().unwrap_or_default()).await?;
    must_be_in_service(&record)?;
    let config_name = input.endpoint_config_name.clone().unwrap_or_default();
    let mut fleet = resolve_fleet(state, &ctx.scope, &config_name).await?;
    if input.retain_all_variant_properties == Some(true) {
        let excluded: HashSet<VariantPropertyType> = input
            .exclude_retained_variant_properties
            .iter()
            .flatten()
            .filter_map(|p| p.variant_property_type.clone())
            .collect();
        for variant in &mut fleet.variants {
            if let Some(old) = doc.current.variant(&variant.name) {
                if !excluded.contains(&VariantPropertyType::DesiredInstanceCount) {
                    variant.desired_instances = old.desired_instances;
                }
                if !excluded.contains(&VariantPropertyType::DesiredWeight) {
                    variant.desired_weight = old.desired_weight;
                }
            }
        }
    }
    if input.retain_deployment_config != Some(true) {
        doc.last_deployment_config =
            input.deployment_config.as_ref().map(serde_json::to_value).transpose().map_err(ApiError::internal)?;
    }
    // The new fleet comes up beside the old one: both run until traffic moves.
    quota.admit(state, &ctx.scope, fleet.instances()).await?;
    doc.failure_reason = None;
    doc.pending = Some(fleet);
    save_and_kick(state, record, status::UPDATING, &doc)
        .await
        .map(|arn| UpdateEndpointOutput { endpoint_arn: Some(arn) })
}

pub(crate) async fn update_weights_and_capacities(
    state: &AppState,
    ctx: &RequestContext,
    input: UpdateEndpointWeightsAndCapacitiesInput,
) -> Result<UpdateEndpointWeightsAndCapacitiesOutput, ApiError> {
    let quota = quota::lock(state, &ctx.scope).await;
    let (record, mut doc) = load(state, &ctx.scope, input.endpoint_name.as_deref().unwrap_or_default()).await?;
    let wanted = input.desired_weights_and_capacities.unwrap_or_default();
    // Validate everything before changing anything.
    let mut seen = HashSet::new();
    for change in &wanted {
        let variant = change.variant_name.as_deref().unwrap_or_default();
        if !seen.insert(variant) {
            return Err(ApiError::validation(format!(
                "The variant name \"{variant}\" was non-unique within the request."
            )));
        }
    }
    let missing: Vec<&str> = seen.iter().copied().filter(|v| doc.current.variant(v).is_none()).collect();
    if !missing.is_empty() {
        return Err(ApiError::validation(format!(
            "The variant name(s) \"{}\" is/are not present within endpoint configuration \"{}\".",
            missing.join(", "),
            doc.current.config_name
        )));
    }
    must_be_in_service(&record)?;
    let before = doc.instances();
    for change in &wanted {
        let name = change.variant_name.as_deref().unwrap_or_default();
        if let Some(variant) = doc.current.variants.iter_mut().find(|v| v.name == name) {
            if let Some(weight) = change.desired_weight {
                variant.desired_weight = weight;
            }
            if let Some(count) = change.desired_instance_count {
                variant.desired_instances = count;
            }
        }
    }
    // Only added instances need room; fewer are always allowed.
    quota.admit(state, &ctx.scope, doc.instances().saturating_sub(before)).await?;
    save_and_kick(state, record, status::UPDATING, &doc)
        .await
        .map(|arn| UpdateEndpointWeightsAndCapacitiesOutput { endpoint_arn: Some(arn) })
}

pub(crate) async fn delete(
    state: &AppState,
    ctx: &RequestContext,
    input: DeleteEndpointInput,
) -> Result<super::Empty, ApiError> {
    let (record, doc) = load(state, &ctx.scope, input.endpoint_name.as_deref().unwrap_or_default()).await?;
    if record.status != status::IN_SERVICE && record.status != status::FAILED {
        return Err(ApiError::endpoint_in_progress(&record.arn));
    }
    save_and_kick(state, record, status::DELETING, &doc).await?;
    Ok(super::Empty {})
}

async fn load(state: &AppState, scope: &Scope, name: &str) -> Result<(EndpointRecord, EndpointDoc), ApiError> {
    let record = state
        .store
        .get_endpoint(scope, name)
        .await
        .map_err(|err| ApiError::from_store(err, &arn(scope, ResourceType::Endpoint, name)))?;
    let doc = from_json(record.state.clone())?;
    Ok((record, doc))
}

fn must_be_in_service(record: &EndpointRecord) -> Result<(), ApiError> {
    if record.status == status::IN_SERVICE { Ok(()) } else { Err(ApiError::endpoint_in_progress(&record.arn)) }
}

async fn save_and_kick(
    state: &AppState,
    record: EndpointRecord,
    status: &str,
    doc: &EndpointDoc,
) -> Result<String, ApiError> {
    let arn = record.arn.clone();
    let key = EndpointKey::new(&record.scope, &record.name);
    let changed = EndpointRecord {
        status: status.to_owned(),
        modified_ms: now_ms(),
        state: serde_json::to_value(doc).map_err(ApiError::internal)?,
        ..record
    };
    match state.store.update_endpoint(&changed).await {
        Ok(_) => {}
        // The controller moved the endpoint on since we read it: it is in progress.
        Err(StoreError::Conflict { .. }) => return Err(ApiError::endpoint_in_progress(&arn)),
        Err(other) => return Err(ApiError::from_store(other, &arn)),
    }
    state.endpoints.kick(key);
    Ok(arn)
}

fn deployed_images(variant: &VariantPlan) -> Vec<DeployedImage> {
    variant
        .deployed_images
        .iter()
        .map(|d| DeployedImage {
            specified_image: Some(d.specified.clone()),
            resolved_image: Some(d.resolved.clone()),
            resolution_time: Some(timestamp(d.resolution_ms)),
        })
        .collect()
}

/// Resolves a config and its models into the fleet to deploy (a copy: later deletes of the
/// config or models do not touch the endpoint).
async fn resolve_fleet(state: &AppState, scope: &Scope, config_name: &str) -> Result<Fleet, ApiError> {
    let config = state
        .store
        .get(ImmutableKind::EndpointConfig, scope, config_name)
        .await
        .map_err(|err| ApiError::from_store(err, &arn(scope, ResourceType::EndpointConfig, config_name)))?;
    let config: smemu_types::sagemaker::CreateEndpointConfigInput = from_json(config.spec)?;
    let mut variants = Vec::new();
    for variant in config.production_variants.unwrap_or_default() {
        let model_name = variant.model_name.clone().unwrap_or_default();
        let model = state
            .store
            .get(ImmutableKind::Model, scope, &model_name)
            .await
            .map_err(|err| ApiError::from_store(err, &arn(scope, ResourceType::Model, &model_name)))?;
        let model: CreateModelInput = from_json(model.spec)?;
        let direct = is_direct(&model);
        let containers = pipeline_of(&model);
        let serverless = variant.serverless_config.is_some();
        variants.push(VariantPlan {
            name: variant.variant_name.clone().unwrap_or_default(),
            model_name,
            containers,
            direct,
            instance_type: variant.instance_type.as_ref().map(|t| t.as_str().to_owned()),
            // A serverless variant runs as one local instance.
            desired_instances: if serverless { 1 } else { variant.initial_instance_count.unwrap_or(1) },
            current_instances: 0,
            desired_weight: variant.initial_variant_weight.unwrap_or(1.0),
            current_weight: 0.0,
            startup_timeout_s: variant
                .container_startup_health_check_timeout_in_seconds
                .and_then(|s| u64::try_from(s).ok())
                .unwrap_or(DEFAULT_STARTUP_TIMEOUT_S),
            deployed_images: Vec::new(),
        });
    }
    Ok(Fleet {
        id: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
        config_name: config_name.to_owned(),
        started_ms: now_ms(),
        variants,
    })
}
