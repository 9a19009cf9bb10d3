//! CreateTransformJob, DescribeTransformJob, ListTransformJobs, StopTransformJob. Create checks
//! what can be checked up front and starts the job's runner (`control::jobs`); the others read or
//! nudge the stored job.

use smemu_store::{ImmutableKind, StoreError, TransformJobRecord};
use smemu_types::sagemaker::{
    CreateModelInput, CreateTransformJobRequest, CreateTransformJobResponse, DescribeTransformJobRequest,
    DescribeTransformJobResponse, ListTransformJobsRequest, ListTransformJobsResponse, S3DataType, SortBy, SortOrder,
    StopTransformJobRequest, TransformJobStatus, TransformJobSummary,
};

use super::listing::{self, CommonListInput};
use super::quota;
use super::spec::{from_json, now_ms, stored_tags, timestamp, to_json};
use crate::arn::{ResourceType, arn};
use crate::{ApiError, AppState, RequestContext};
use smemu_runtime::control::jobs::doc::{self, JobDoc};
use smemu_runtime::control::jobs::inputs::{self, InputError};
use smemu_runtime::control::jobs::{JobKey, params, update};
use smemu_runtime::control::plan::{is_direct, pipeline_of};

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
    if is_direct(&model) {
        return Err(ApiError::transform_direct_model(&model_arn));
    }
    check_file_urls(state, &input)?;
    let objects = state.transform_jobs.launcher().objects().map(|objects| objects.as_account(&ctx.scope.account));
    inputs::list(objects.as_ref(), &input).await.map_err(|err| match err {
        InputError::NoObjects { uri } => ApiError::no_input_objects(&uri),
        other => ApiError::validation(other.to_string()),
    })?;

    // What Describe echoes: everything given but the name and the tags.
    let request = CreateTransformJobRequest { transform_job_name: None, tags: None, ..input.clone() };
    let doc = JobDoc {
        pipeline: params::job_pipeline(pipeline_of(&model), &request),
        request,
        failure_reason: None,
        start_ms: None,
        end_ms: None,
        logs: Vec::new(),
    };
    let now = now_ms();
    let record = TransformJobRecord {
        scope: ctx.scope.clone(),
        name: name.clone(),
        arn: job_arn.clone(),
        status: doc::IN_PROGRESS.into(),
        created_ms: now,
        modified_ms: now,
        version: 1,
        state: to_json(&doc)?,
    };
    let quota = quota::lock(state, &ctx.scope).await;
    quota.admit(state, &ctx.scope, quota::transform_instances(input.transform_resources.as_ref())).await?;
    state.store.create_transform_job(&record, &stored_tags(input.tags.as_deref())).await.map_err(|err| match err {
        StoreError::AlreadyExists { .. } => ApiError::transform_job_in_use(&job_arn),
        other => ApiError::from_store(other, &job_arn),
    })?;
    state.transform_jobs.run(JobKey::new(&ctx.scope, &name));
    Ok(CreateTransformJobResponse { transform_job_arn: Some(job_arn) })
}

/// `file://` inputs and outputs (smemu's extension) must lie inside `--file-root`; checked again
/// each time the job reads or writes, since a path can change in between.
fn check_file_urls(state: &AppState, input: &CreateTransformJobRequest) -> Result<(), ApiError> {
    let Some(objects) = state.transform_jobs.launcher().objects() else { return Ok(()) };
    let source =
        input.transform_input.as_ref().and_then(|i| i.data_source.as_ref()).and_then(|d| d.s3_data_source.as_ref());
    let named = [
        ("TransformInput.DataSource.S3DataSource.S3Uri", source.and_then(|s| s.s3_uri.as_deref())),
        ("TransformOutput.S3OutputPath", input.transform_output.as_ref().and_then(|o| o.s3_output_path.as_deref())),
    ];
    for (field, uri) in named {
        if let Some(uri) = uri {
            objects.check_file_uri(uri).map_err(|err| ApiError::file_outside_roots(field, &err.to_string()))?;
        }
    }
    Ok(())
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
    params::plan(input, None).map_err(ApiError::validation)?;
    Ok(())
}

pub(crate) async fn describe(
    state: &AppState,
    ctx: &RequestContext,
    input: DescribeTransformJobRequest,
) -> Result<DescribeTransformJobResponse, ApiError> {
    let name = input.transform_job_name.unwrap_or_default();
    let record = state
        .store
        .get_transform_job(&ctx.scope, &name)
        .await
        .map_err(|err| ApiError::from_store(err, &arn(&ctx.scope, ResourceType::TransformJob, &name)))?;
    let doc: JobDoc = from_json(record.state)?;
    let mut out: DescribeTransformJobResponse = from_json(to_json(&doc.request)?)?;
    out.transform_job_name = Some(record.name);
    out.transform_job_arn = Some(record.arn);
    out.transform_job_status = Some(TransformJobStatus::from(record.status.as_str()));
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
            let doc: JobDoc = from_json(record.state)?;
            Ok(TransformJobSummary {
                transform_job_name: Some(record.name),
                transform_job_arn: Some(record.arn),
                creation_time: Some(timestamp(record.created_ms)),
                last_modified_time: Some(timestamp(record.modified_ms)),
                transform_end_time: doc.end_ms.map(timestamp),
                transform_job_status: Some(TransformJobStatus::from(record.status.as_str())),
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
    let record = update(state.store.as_ref(), &ctx.scope, &name, |record, _| {
        let running = record.status == doc::IN_PROGRESS;
        if running {
            record.status = doc::STOPPING.into();
        }
        running
    })
    .await
    .map_err(|err| ApiError::from_store(err, &job_arn))?;
    // Stopping twice is the same stop.
    if record.status != doc::STOPPING {
        return Err(ApiError::transform_job_not_stoppable(&record.status));
    }
    state.transform_jobs.stop(&JobKey::new(&ctx.scope, &record.name));
    Ok(super::Empty {})
}
