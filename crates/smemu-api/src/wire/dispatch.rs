//! Operation → decode, validate, call, encode. One arm per served operation, per service.

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;
use smemu_types::Validate;
use smemu_types::logs::Operation as LogsOperation;
use smemu_types::sagemaker::Operation;

use super::decode::decode;
use crate::ops;
use crate::{ApiError, AppState, RequestContext};

pub(crate) async fn dispatch(
    state: &AppState,
    ctx: &RequestContext,
    op: Operation,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    use Operation as Op;
    match op {
        Op::CreateModel => call(body, |i| ops::models::create(state, ctx, i)).await,
        Op::DescribeModel => call(body, |i| ops::models::describe(state, ctx, i)).await,
        Op::ListModels => call(body, |i| ops::models::list(state, ctx, i)).await,
        Op::DeleteModel => call(body, |i| ops::models::delete(state, ctx, i)).await,
        Op::CreateEndpointConfig => call(body, |i| ops::endpoint_configs::create(state, ctx, i)).await,
        Op::DescribeEndpointConfig => call(body, |i| ops::endpoint_configs::describe(state, ctx, i)).await,
        Op::ListEndpointConfigs => call(body, |i| ops::endpoint_configs::list(state, ctx, i)).await,
        Op::DeleteEndpointConfig => call(body, |i| ops::endpoint_configs::delete(state, ctx, i)).await,
        Op::CreateEndpoint => call(body, |i| ops::endpoints::create(state, ctx, i)).await,
        Op::DescribeEndpoint => call(body, |i| ops::endpoints::describe(state, ctx, i)).await,
        Op::ListEndpoints => call(body, |i| ops::endpoints::list(state, ctx, i)).await,
        Op::UpdateEndpoint => call(body, |i| ops::endpoints::update(state, ctx, i)).await,
        Op::UpdateEndpointWeightsAndCapacities => {
            call(body, |i| ops::endpoints::update_weights_and_capacities(state, ctx, i)).await
        }
        Op::DeleteEndpoint => call(body, |i| ops::endpoints::delete(state, ctx, i)).await,
        Op::CreateTransformJob => call(body, |i| ops::transform_jobs::create(state, ctx, i)).await,
        Op::DescribeTransformJob => call(body, |i| ops::transform_jobs::describe(state, ctx, i)).await,
        Op::ListTransformJobs => call(body, |i| ops::transform_jobs::list(state, ctx, i)).await,
        Op::StopTransformJob => call(body, |i| ops::transform_jobs::stop(state, ctx, i)).await,
        Op::AddTags => call(body, |i| ops::tags::add(state, ctx, i)).await,
        Op::ListTags => call(body, |i| ops::tags::list(state, ctx, i)).await,
        Op::DeleteTags => call(body, |i| ops::tags::delete(state, ctx, i)).await,
    }
}

/// The CloudWatch Logs operations (`Logs_20140328.<Operation>`).
pub(crate) async fn dispatch_logs(
    state: &AppState,
    ctx: &RequestContext,
    op: LogsOperation,
    body: &[u8],
) -> Result<Vec<u8>, ApiError> {
    use LogsOperation as Op;
    match op {
        Op::DescribeLogGroups => call_logs(body, |i| ops::logs::describe_log_groups(state, ctx, i)).await,
        Op::DescribeLogStreams => call_logs(body, |i| ops::logs::describe_log_streams(state, ctx, i)).await,
        Op::GetLogEvents => call_logs(body, |i| ops::logs::get_log_events(state, ctx, i)).await,
        Op::FilterLogEvents => call_logs(body, |i| ops::logs::filter_log_events(state, ctx, i)).await,
    }
}

/// [`call`] for CloudWatch Logs, which answers the model's constraint violations with
/// `InvalidParameterException` (and the same "1 validation error detected" text).
async fn call_logs<I, O, F, Fut>(body: &[u8], operation: F) -> Result<Vec<u8>, ApiError>
where
    I: DeserializeOwned + Validate,
    O: Serialize,
    F: FnOnce(I) -> Fut,
    Fut: Future<Output = Result<O, ApiError>>,
{
    let input: I = decode(body)?;
    input.validate().map_err(|errors| ApiError::invalid_parameter(errors.to_string()))?;
    let output = operation(input).await?;
    serde_json::to_vec(&output).map_err(ApiError::internal)
}

async fn call<I, O, F, Fut>(body: &[u8], operation: F) -> Result<Vec<u8>, ApiError>
where
    I: DeserializeOwned + Validate,
    O: Serialize,
    F: FnOnce(I) -> Fut,
    Fut: Future<Output = Result<O, ApiError>>,
{
    let input: I = decode(body)?;
    input.validate()?;
    let output = operation(input).await?;
    serde_json::to_vec(&output).map_err(ApiError::internal)
}
