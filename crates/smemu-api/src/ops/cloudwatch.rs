//! CloudWatch's metric operations: GetMetricStatistics, GetMetricData, ListMetrics, PutMetricData.
//! No protocol here: every wire (AWS JSON 1.0, query, RPC v2 CBOR) decodes into the generated
//! input, calls these, and renders the output or the `ApiError` (whose codes are the query codes
//! of this awsQueryCompatible service), so that each protocol answers the same.

use smemu_types::Validate;
use smemu_types::cloudwatch::{
    GetMetricDataInput, GetMetricDataOutput, GetMetricStatisticsInput, GetMetricStatisticsOutput, ListMetricsInput,
    ListMetricsOutput, PutMetricDataInput,
};

use crate::{ApiError, AppState, RequestContext};

pub(crate) async fn get_metric_statistics(
    _state: &AppState,
    _ctx: &RequestContext,
    input: GetMetricStatisticsInput,
) -> Result<GetMetricStatisticsOutput, ApiError> {
    check(&input)?;
    Ok(GetMetricStatisticsOutput { datapoints: Some(Vec::new()), label: input.metric_name })
}

pub(crate) async fn get_metric_data(
    _state: &AppState,
    _ctx: &RequestContext,
    input: GetMetricDataInput,
) -> Result<GetMetricDataOutput, ApiError> {
    check(&input)?;
    Ok(GetMetricDataOutput { metric_data_results: Some(Vec::new()), messages: Some(Vec::new()), next_token: None })
}

pub(crate) async fn list_metrics(
    _state: &AppState,
    _ctx: &RequestContext,
    input: ListMetricsInput,
) -> Result<ListMetricsOutput, ApiError> {
    check(&input)?;
    Ok(ListMetricsOutput { metrics: Some(Vec::new()), next_token: None, owning_accounts: None })
}

/// PutMetricData has no output shape: `Ok(())` is the empty answer of each protocol.
pub(crate) async fn put_metric_data(
    _state: &AppState,
    _ctx: &RequestContext,
    input: PutMetricDataInput,
) -> Result<(), ApiError> {
    check(&input)?;
    Ok(())
}

/// The model's constraints: a missing required member is `MissingParameter` naming it as the
/// query protocol does (`MetricData.member.1.MetricName`), any other violation `ValidationError`
/// with Coral's message.
fn check(input: &impl Validate) -> Result<(), ApiError> {
    let Err(errors) = input.validate() else { return Ok(()) };
    if let Some(missing) = errors.0.iter().find(|v| v.is_null()) {
        return Err(ApiError::cw_missing(&query_name(&missing.path)));
    }
    Err(ApiError::cw_validation(errors.to_string()))
}

/// `metricData.1.member.metricName` → `MetricData.member.1.MetricName`.
fn query_name(path: &str) -> String {
    let parts: Vec<&str> = path.split('.').collect();
    let mut out: Vec<String> = Vec::with_capacity(parts.len());
    let mut i = 0;
    while i < parts.len() {
        let part = parts[i];
        if part.parse::<u64>().is_ok() && parts.get(i + 1) == Some(&"member") {
            out.push("member".into());
            out.push(part.into());
            i += 2;
            continue;
        }
        let mut chars = part.chars();
        out.push(chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default());
        i += 1;
    }
    out.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_named_as_the_query_protocol_names_them() {
        assert_eq!(query_name("namespace"), "Namespace");
        assert_eq!(query_name("metricData.1.member.metricName"), "MetricData.member.1.MetricName");
    }
}
