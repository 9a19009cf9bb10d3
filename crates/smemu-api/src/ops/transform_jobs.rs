//! CreateTransformJob, DescribeTransformJob, ListTransformJobs, StopTransformJob. Create checks
//! what can be checked up front and has the runtime start the job (`Runtime::start_job`); the
//! others read the stored job or ask the runtime to stop it.

use smemu_runtime::{JobView, NewJob, Runtime, RuntimeError};
use smemu_store::{ImmutableKind, StoreError};
use smemu_types::sagemaker::{
    CreateModelInput, CreateTransformJobRequest, CreateTransformJobResponse, DescribeTransformJobRequest,
    DescribeTransformJobResponse, ListTransformJobsRequest, ListTransformJobsResponse, S3DataType, SortBy, SortOrder,
    StopTransformJobRequest, TransformJobSummary,
};

use super::listing::{self, CommonListInput};
use super::spec::{from_json, stored_tags, timestamp, to_json};
use crate::arn::{ResourceType, arn};
use crate::{ApiError, AppState, RequestContext};

/// The cap on `MaxConcurrentTransforms` × `MaxPayloadInMB` (documented in API_CreateTransformJob).
const MAX_CONCURRENT_PAYLOAD_MB: i64 = 100;

pub(crate) async fn create(
    state: &AppState,
    ctx: &RequestContext,
    input: CreateTransformJobRequest,
) -> Result<CreateTransformJobResponse, ApiError> {
    let name = input.transform_job_name.clone().unwrap_or_default();
    let job_arn = arn(&ctx.scope, ResourceType::TransformJob, &name);
    // A job name is taken forever: say so before looking at anything else. The insert below still
    // settles a race between two creates.
    match state.store.get_transform_job(&ctx.scope, &name).await {
        Ok(_) => return Err(ApiError::transform_job_in_use(&job_arn)),
        Err(StoreError::NotFound { .. }) => {}
        Err(err) => return Err(err.into()),
    }
    check_request(&input)?;
    let model_name = input.model_name.clone().unwrap_or_default();
    let model_arn = arn(&ctx.scope, ResourceType::Model, &model_name);
    let model = state
        .store
        .get(ImmutableKind::Model, &ctx.scope, &model_name)
        .await
        .map_err(|err| ApiError::from_store(err, &model_arn))?;
    let model: CreateModelInput = from_json(model.spec)?;
    let new = NewJob {
        scope: &ctx.scope,
        name: &name,
        arn: &job_arn,
        model: &model,
        request: &input,
        tags: &stored_tags(input.tags.as_deref()),
    };
    state.runtime.start_job(new).await.map_err(|err| match err {
        RuntimeError::DirectModel => ApiError::transform_direct_model(&model_arn),
        RuntimeError::Store(StoreError::AlreadyExists { .. }) => ApiError::transform_job_in_use(&job_arn),
        other => ApiError::from_runtime(other, &ctx.scope, &job_arn),
    })?;
    Ok(CreateTransformJobResponse { transform_job_arn: Some(job_arn) })
}

/// The rules the generated validation cannot express, checked before anything is stored.
fn check_request(input: &CreateTransformJobRequest) -> Result<(), ApiError> {
    // Each request in flight may carry at least 1 MB, so more than 100 at once passes the cap
    // whatever the payload; without this bound the runner would run every request at once.
    if let Some(concurrency) = input.max_concurrent_transforms.filter(|n| i64::from(*n) > MAX_CONCURRENT_PAYLOAD_MB) {
        return Err(ApiError::transform_concurrency_too_large(concurrency));
    }
    if let (Some(concurrency), Some(payload)) = (input.max_concurrent_transforms, input.max_payload_in_mb)
        && i64::from(concurrency) * i64::from(payload) > MAX_CONCURRENT_PAYLOAD_MB
    {
        return Err(ApiError::transform_payload_times_concurrency(concurrency, payload));
    }
    let data_type = input
        .transform_input
        .as_ref()
        .and_then(|i| i.data_source.as_ref())
        .and_then(|d| d.s3_data_source.as_ref())
        .and_then(|s| s.s3_data_type.as_ref());
    if let Some(other) = data_type.filter(|t| !matches!(t, S3DataType::S3Prefix | S3DataType::ManifestFile)) {
        return Err(ApiError::transform_data_type(other.as_str()));
    }
    // Split, batch, DataProcessing: what smemu-batch would refuse once the job runs.
    Runtime::check_job(input).map_err(ApiError::validation)?;
    Ok(())
}

pub(crate) async fn describe(
    state: &AppState,
    ctx: &RequestContext,
    input: DescribeTransformJobRequest,
) -> Result<DescribeTransformJobResponse, ApiError> {
    let name = input.transform_job_name.unwrap_or_default();
    let job_arn = arn(&ctx.scope, ResourceType::TransformJob, &name);
    let JobView { record, doc } = state
        .runtime
        .describe_job(&ctx.scope, &name)
        .await
        .map_err(|err| ApiError::from_runtime(err, &ctx.scope, &job_arn))?;
    let mut out: DescribeTransformJobResponse = from_json(to_json(&doc.request)?)?;
    out.transform_job_name = Some(record.name);
    out.transform_job_arn = Some(record.arn);
    out.transform_job_status = Some(record.status);
    out.failure_reason = doc.failure_reason;
    out.creation_time = Some(timestamp(record.created_ms));
    out.transform_start_time = doc.start_ms.map(timestamp);
    out.transform_end_time = doc.end_ms.map(timestamp);
    Ok(out)
}

pub(crate) async fn list(
    state: &AppState,
    ctx: &RequestContext,
    input: ListTransformJobsRequest,
) -> Result<ListTransformJobsResponse, ApiError> {
    let mut query = listing::query(CommonListInput {
        name_contains: input.name_contains.as_deref(),
        created_before: input.creation_time_before.as_ref(),
        created_after: input.creation_time_after.as_ref(),
        sort_by_name: matches!(input.sort_by, Some(SortBy::Name)),
        ascending: matches!(input.sort_order, Some(SortOrder::Ascending)),
        max_results: input.max_results,
        next_token: input.next_token.as_deref(),
    })?;
    listing::status_filters(
        &mut query,
        matches!(input.sort_by, Some(SortBy::Status)),
        input.status_equals.as_ref().map(|s| s.as_str()),
        input.last_modified_time_before.as_ref(),
        input.last_modified_time_after.as_ref(),
    );
    let page = state.store.list_transform_jobs(&ctx.scope, &query).await?;
    let next_token = listing::token_after(&query, page.items.len(), page.more);
    let summaries = page
        .items
        .into_iter()
        .map(|record| {
            let JobView { record, doc } = JobView::of(record)?;
            Ok(TransformJobSummary {
                transform_job_name: Some(record.name),
                transform_job_arn: Some(record.arn),
                creation_time: Some(timestamp(record.created_ms)),
                last_modified_time: Some(timestamp(record.modified_ms)),
                transform_end_time: doc.end_ms.map(timestamp),
                transform_job_status: Some(record.status),
                failure_reason: doc.failure_reason,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(ListTransformJobsResponse { next_token, transform_job_summaries: Some(summaries) })
}

pub(crate) async fn stop(
    state: &AppState,
    ctx: &RequestContext,
    input: StopTransformJobRequest,
) -> Result<super::Empty, ApiError> {
    let name = input.transform_job_name.unwrap_or_default();
    let job_arn = arn(&ctx.scope, ResourceType::TransformJob, &name);
    state.runtime.stop_job(&ctx.scope, &name).await.map_err(|err| ApiError::from_runtime(err, &ctx.scope, &job_arn))?;
    Ok(super::Empty {})
}
