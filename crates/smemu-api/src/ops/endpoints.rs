//! CreateEndpoint, DescribeEndpoint, ListEndpoints, UpdateEndpoint, UpdateEndpointWeightsAndCapacities,
//! DeleteEndpoint. These ask the runtime (`smemu_runtime::Runtime`), which records what is wanted
//! and answers at once; its controller brings the containers in line and moves the status on.

use std::collections::HashSet;

use smemu_runtime::{EndpointUpdate, EndpointView, NewEndpoint, Phase, Retained, VariantChange, VariantPlan};
use smemu_store::Scope;
use smemu_types::sagemaker::{
    CreateEndpointInput, CreateEndpointOutput, DeleteEndpointInput, DeployedImage, DescribeEndpointInput,
    DescribeEndpointOutput, EndpointSortKey, EndpointStatus, EndpointSummary, ListEndpointsInput, ListEndpointsOutput,
    OrderKey, PendingDeploymentSummary, PendingProductionVariantSummary, ProductionVariantStatus,
    ProductionVariantSummary, UpdateEndpointInput, UpdateEndpointOutput, UpdateEndpointWeightsAndCapacitiesInput,
    UpdateEndpointWeightsAndCapacitiesOutput, VariantPropertyType, VariantStatus,
};

use super::listing::{self, CommonListInput};
use super::spec::{from_json, stored_tags, timestamp};
use crate::arn::{ResourceType, arn};
use crate::{ApiError, AppState, RequestContext};

pub(crate) async fn create(
    state: &AppState,
    ctx: &RequestContext,
    input: CreateEndpointInput,
) -> Result<CreateEndpointOutput, ApiError> {
    let name = input.endpoint_name.clone().unwrap_or_default();
    let endpoint_arn = arn(&ctx.scope, ResourceType::Endpoint, &name);
    let deployment_config = input.deployment_config.clone();
    state
        .runtime
        .deploy(NewEndpoint {
            scope: &ctx.scope,
            name: &name,
            arn: &endpoint_arn,
            config_name: input.endpoint_config_name.as_deref().unwrap_or_default(),
            deployment_config,
            tags: &stored_tags(input.tags.as_deref()),
        })
        .await
        .map_err(|err| ApiError::from_runtime(err, &ctx.scope, &endpoint_arn))?;
    Ok(CreateEndpointOutput { endpoint_arn: Some(endpoint_arn) })
}

pub(crate) async fn describe(
    state: &AppState,
    ctx: &RequestContext,
    input: DescribeEndpointInput,
) -> Result<DescribeEndpointOutput, ApiError> {
    let view = load(state, &ctx.scope, input.endpoint_name.as_deref().unwrap_or_default()).await?;
    let (record, doc) = (&view.record, &view.doc);
    let in_progress = record.status != EndpointStatus::InService && record.status != EndpointStatus::Failed;
    let variant_status = |status: VariantStatus, since: i64| {
        in_progress.then(|| {
            vec![ProductionVariantStatus {
                status: Some(status),
                start_time: Some(timestamp(since)),
                status_message: None,
            }]
        })
    };
    let current_status = match record.status {
        EndpointStatus::Creating => variant_status(VariantStatus::Creating, record.modified_ms),
        EndpointStatus::Deleting => variant_status(VariantStatus::Deleting, record.modified_ms),
        EndpointStatus::Updating if doc.pending.is_none() => {
            variant_status(VariantStatus::Updating, record.modified_ms)
        }
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
        start_time: Some(timestamp(doc.rollout.as_ref().map_or(fleet.started_ms, |r| r.started_ms))),
        production_variants: Some(
            fleet
                .variants
                .iter()
                .map(|v| {
                    let (status, up, share) = pending_status(&view, &record.status, v);
                    PendingProductionVariantSummary {
                        variant_name: Some(v.name.clone()),
                        deployed_images: Some(deployed_images(v)),
                        current_weight: Some(v.desired_weight * share),
                        desired_weight: Some(v.desired_weight),
                        current_instance_count: Some(if up { v.desired_instances } else { 0 }),
                        desired_instance_count: Some(v.desired_instances),
                        instance_type: v.instance_type.as_deref().map(Into::into),
                        variant_status: Some(vec![status]),
                        ..Default::default()
                    }
                })
                .collect(),
        ),
        ..Default::default()
    });
    Ok(DescribeEndpointOutput {
        endpoint_name: Some(record.name.clone()),
        endpoint_arn: Some(record.arn.clone()),
        endpoint_config_name: Some(doc.current.config_name.clone()),
        endpoint_status: Some(record.status.clone()),
        failure_reason: doc.failure_reason.clone(),
        creation_time: Some(timestamp(record.created_ms)),
        last_modified_time: Some(timestamp(record.modified_ms)),
        production_variants: Some(production_variants),
        last_deployment_config: doc.last_deployment_config.clone().map(from_json).transpose()?,
        pending_deployment_summary: pending,
        data_capture_config: doc.current.data_capture.as_ref().map(capture_summary),
        // Reported as the config gave it, NotificationConfig included (botocore's DescribeEndpointOutput).
        async_inference_config: doc.current.async_inference.clone(),
        ..Default::default()
    })
}

/// A pending variant's `VariantStatus` while an UpdateEndpoint runs, whether its instances are up,
/// and the share of the variant's traffic it takes.
fn pending_status(
    view: &EndpointView,
    status: &EndpointStatus,
    variant: &VariantPlan,
) -> (ProductionVariantStatus, bool, f64) {
    let rollout = view.doc.rollout.as_ref();
    let since = rollout.map_or_else(|| view.doc.pending.as_ref().map_or(0, |f| f.started_ms), |r| r.step_started_ms);
    let (share, step, steps) = view.traffic_share(&variant.name).unwrap_or((0.0, 1, 1));
    let percent = (share * 100.0).round();
    let (status, message, up, share) = match rollout.map(|r| r.phase) {
        _ if *status == EndpointStatus::RollingBack => (
            VariantStatus::Deleting,
            Some("Rolling back: all traffic is back on the old fleet; the new fleet is being removed.".to_owned()),
            true,
            0.0,
        ),
        Some(Phase::ActivatingTraffic) => (
            VariantStatus::ActivatingTraffic,
            Some(format!(
                "Traffic step {step} of {steps}: {percent}% of the variant's traffic on the new fleet, baking for {} seconds.",
                view.wait_s()
            )),
            true,
            share,
        ),
        Some(Phase::Baking) => (
            VariantStatus::Baking,
            Some(format!("All traffic on the new fleet; final baking period of {} seconds.", view.wait_s())),
            true,
            share,
        ),
        _ => (VariantStatus::Creating, None, false, 0.0),
    };
    (
        ProductionVariantStatus { status: Some(status), start_time: Some(timestamp(since)), status_message: message },
        up,
        share,
    )
}

/// DescribeEndpoint's `DataCaptureConfig`: the config's settings and whether capture runs
/// (`EnableCapture` defaults to true, API reference `DataCaptureConfig`); the sampling percentage
/// stays the initial one, since nothing here changes it.
fn capture_summary(
    config: &smemu_types::sagemaker::DataCaptureConfig,
) -> smemu_types::sagemaker::DataCaptureConfigSummary {
    use smemu_types::sagemaker::CaptureStatus;
    let enabled = config.enable_capture.unwrap_or(true);
    smemu_types::sagemaker::DataCaptureConfigSummary {
        enable_capture: Some(enabled),
        capture_status: Some(if enabled { CaptureStatus::Started } else { CaptureStatus::Stopped }),
        current_sampling_percentage: config.initial_sampling_percentage,
        destination_s3_uri: config.destination_s3_uri.clone(),
        kms_key_id: config.kms_key_id.clone(),
    }
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
                    endpoint_status: Some(s.status),
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
    let name = input.endpoint_name.as_deref().unwrap_or_default();
    let retain = (input.retain_all_variant_properties == Some(true)).then(|| {
        let excluded: HashSet<VariantPropertyType> = input
            .exclude_retained_variant_properties
            .iter()
            .flatten()
            .filter_map(|p| p.variant_property_type.clone())
            .collect();
        Retained {
            instance_count: !excluded.contains(&VariantPropertyType::DesiredInstanceCount),
            weight: !excluded.contains(&VariantPropertyType::DesiredWeight),
        }
    });
    let deployment_config =
        if input.retain_deployment_config == Some(true) { None } else { Some(input.deployment_config.clone()) };
    let update = EndpointUpdate {
        config_name: input.endpoint_config_name.as_deref().unwrap_or_default(),
        retain,
        deployment_config,
    };
    let arn = state
        .runtime
        .update(&ctx.scope, name, update)
        .await
        .map_err(|err| ApiError::from_runtime(err, &ctx.scope, &arn(&ctx.scope, ResourceType::Endpoint, name)))?;
    Ok(UpdateEndpointOutput { endpoint_arn: Some(arn) })
}

pub(crate) async fn update_weights_and_capacities(
    state: &AppState,
    ctx: &RequestContext,
    input: UpdateEndpointWeightsAndCapacitiesInput,
) -> Result<UpdateEndpointWeightsAndCapacitiesOutput, ApiError> {
    let name = input.endpoint_name.as_deref().unwrap_or_default();
    let wanted = input.desired_weights_and_capacities.as_deref().unwrap_or_default();
    let changes: Vec<VariantChange<'_>> = wanted
        .iter()
        .map(|change| VariantChange {
            variant: change.variant_name.as_deref().unwrap_or_default(),
            weight: change.desired_weight,
            instances: change.desired_instance_count,
        })
        .collect();
    let arn = state
        .runtime
        .set_weights_and_capacities(&ctx.scope, name, &changes)
        .await
        .map_err(|err| ApiError::from_runtime(err, &ctx.scope, &arn(&ctx.scope, ResourceType::Endpoint, name)))?;
    Ok(UpdateEndpointWeightsAndCapacitiesOutput { endpoint_arn: Some(arn) })
}

pub(crate) async fn delete(
    state: &AppState,
    ctx: &RequestContext,
    input: DeleteEndpointInput,
) -> Result<super::Empty, ApiError> {
    let name = input.endpoint_name.as_deref().unwrap_or_default();
    state
        .runtime
        .delete(&ctx.scope, name)
        .await
        .map_err(|err| ApiError::from_runtime(err, &ctx.scope, &arn(&ctx.scope, ResourceType::Endpoint, name)))?;
    Ok(super::Empty {})
}

async fn load(state: &AppState, scope: &Scope, name: &str) -> Result<EndpointView, ApiError> {
    state
        .runtime
        .describe(scope, name)
        .await
        .map_err(|err| ApiError::from_runtime(err, scope, &arn(scope, ResourceType::Endpoint, name)))
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
