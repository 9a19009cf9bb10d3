//! CloudWatch's metric operations: GetMetricStatistics, GetMetricData, ListMetrics, PutMetricData.
//! No protocol here: every wire (AWS JSON 1.0, query, RPC v2 CBOR) decodes into the generated
//! input, calls these, and renders the output or the `ApiError` (whose codes are the query codes
//! of this awsQueryCompatible service), so that each protocol answers the same.
//!
//! Limits and rules are the service's (API_PutMetricData, API_GetMetricStatistics,
//! API_GetMetricData, API_ListMetrics in the CloudWatch API Reference).

use std::collections::BTreeMap;

use smemu_telemetry::metrics::{Aggregate, MetricStore, Point, SeriesFilter, SeriesKey, Statistic, Stats};
use smemu_types::Timestamp;
use smemu_types::Validate;
use smemu_types::cloudwatch::{
    Datapoint, Dimension, GetMetricDataInput, GetMetricDataOutput, GetMetricStatisticsInput, GetMetricStatisticsOutput,
    ListMetricsInput, ListMetricsOutput, Metric, MetricDataResult, MetricDatum, PutMetricDataInput, RecentlyActive,
    ScanBy, StandardUnit, StatusCode,
};

use crate::{ApiError, AppState, RequestContext};

/// "If you request more than 1,440 data points, CloudWatch returns an error" (API_GetMetricStatistics).
pub(crate) const MAX_STATISTICS_DATAPOINTS: u64 = 1440;
/// GetMetricData's `MaxDatapoints` default (API_GetMetricData).
pub(crate) const DEFAULT_MAX_DATAPOINTS: i64 = 100_800;
/// "You can include up to 500 MetricDataQuery structures" (API_GetMetricData).
pub(crate) const MAX_QUERIES: usize = 500;
/// "Each request is also limited to no more than 1000 different metrics" (API_PutMetricData).
pub(crate) const MAX_METRIC_DATA: usize = 1000;
/// "The Values array can include as many as 150 unique values" (API_MetricDatum).
pub(crate) const MAX_VALUES: usize = 150;
/// ListMetrics: "Up to 500 results are returned for any one call" (API_ListMetrics).
pub(crate) const LIST_PAGE: usize = 500;
/// "CloudWatch rejects values that are either too small or too large": 8.515920e-109 to
/// 1.174271e+108 in magnitude, and no NaN or infinity (API_MetricDatum).
const SMALLEST: f64 = 8.515920e-109;
const LARGEST: f64 = 1.174271e108;
/// PutMetricData accepts timestamps up to two weeks old and two hours ahead (API_MetricDatum:
/// "Data points with time stamps from 24 hours ago or longer can take at least 48 hours to
/// become available"; the two-week and two-hour bounds are the service's).
const MAX_AGE_MS: i64 = 14 * 24 * 3600 * 1000;
const MAX_AHEAD_MS: i64 = 2 * 3600 * 1000;
/// ListMetrics' `RecentlyActive=PT3H`: "only the metrics that have received new data points
/// within the past three hours".
const RECENT_MS: i64 = 3 * 3600 * 1000;

fn store(state: &AppState) -> Result<&MetricStore, ApiError> {
    state.metrics.as_ref().ok_or_else(|| ApiError::internal(NoMetricStore))
}

#[derive(Debug, thiserror::Error)]
#[error("this smemu has no metric store")]
struct NoMetricStore;

pub(crate) async fn get_metric_statistics(
    state: &AppState,
    ctx: &RequestContext,
    input: GetMetricStatisticsInput,
) -> Result<GetMetricStatisticsOutput, ApiError> {
    check(&input)?;
    let statistics = input.statistics.unwrap_or_default();
    let extended = input.extended_statistics.unwrap_or_default();
    // "You must specify either Statistics or ExtendedStatistics, but not both."
    match (statistics.is_empty(), extended.is_empty()) {
        (true, true) => return Err(ApiError::cw_at_least_one("Statistics", "ExtendedStatistics")),
        (false, false) => return Err(ApiError::cw_mutually_exclusive("Statistics", "ExtendedStatistics")),
        _ => {}
    }
    let mut percentiles = Vec::with_capacity(extended.len());
    for (i, name) in extended.iter().enumerate() {
        match Statistic::percentile(name) {
            Some(stat) => percentiles.push((name.clone(), stat)),
            None => {
                return Err(ApiError::cw_invalid_value(&format!("ExtendedStatistics.member.{}", i + 1), name));
            }
        }
    }
    let period = i64::from(input.period.unwrap_or(60));
    check_period(period, "Period")?;
    let (start, end) = time_range(input.start_time.as_ref(), input.end_time.as_ref())?;
    let start = period_floor(start, period);
    let requested = u64::try_from((end - start + period * 1000 - 1) / (period * 1000)).unwrap_or(u64::MAX);
    if requested > MAX_STATISTICS_DATAPOINTS {
        return Err(ApiError::cw_too_many_datapoints(requested, MAX_STATISTICS_DATAPOINTS));
    }
    let metric_name = input.metric_name.unwrap_or_default();
    let key = series_key(ctx, input.namespace.as_deref().unwrap_or_default(), &metric_name, input.dimensions);
    let points = store(state)?.points(&key, start, end).await.map_err(ApiError::internal)?;
    let unit = input.unit.as_ref().map(StandardUnit::as_str);
    let datapoints = smemu_telemetry::metrics::query::aggregate(&points, period, unit)
        .into_iter()
        .map(|Aggregate { ts_ms, unit, stats }| {
            let pick = |wanted: smemu_types::cloudwatch::Statistic, stat: Statistic| {
                statistics.contains(&wanted).then(|| stat.of(&stats)).flatten()
            };
            use smemu_types::cloudwatch::Statistic as S;
            let extended: BTreeMap<String, f64> =
                percentiles.iter().filter_map(|(name, stat)| Some((name.clone(), stat.of(&stats)?))).collect();
            Datapoint {
                timestamp: Some(Timestamp::from_millis(ts_ms)),
                unit: Some(StandardUnit::from(unit.as_str())),
                sample_count: pick(S::SampleCount, Statistic::SampleCount),
                average: pick(S::Average, Statistic::Average),
                sum: pick(S::Sum, Statistic::Sum),
                minimum: pick(S::Minimum, Statistic::Minimum),
                maximum: pick(S::Maximum, Statistic::Maximum),
                extended_statistics: (!percentiles.is_empty()).then_some(extended),
            }
        })
        .collect();
    Ok(GetMetricStatisticsOutput { datapoints: Some(datapoints), label: Some(metric_name) })
}

pub(crate) async fn get_metric_data(
    state: &AppState,
    ctx: &RequestContext,
    input: GetMetricDataInput,
) -> Result<GetMetricDataOutput, ApiError> {
    check(&input)?;
    let (start, end) = time_range(input.start_time.as_ref(), input.end_time.as_ref())?;
    let queries = input.metric_data_queries.unwrap_or_default();
    if queries.is_empty() {
        return Err(ApiError::cw_missing("MetricDataQueries"));
    }
    if queries.len() > MAX_QUERIES {
        return Err(ApiError::cw_invalid_parameter(format!(
            "The collection MetricDataQueries must not have a size greater than {MAX_QUERIES}."
        )));
    }
    let max_datapoints = input.max_datapoints.map_or(DEFAULT_MAX_DATAPOINTS, i64::from);
    if max_datapoints < 1 {
        return Err(ApiError::cw_invalid_value("MaxDatapoints", &max_datapoints.to_string()));
    }
    let descending = !matches!(input.scan_by, Some(ScanBy::TimestampAscending));
    let (first_query, first_offset) = match input.next_token.as_deref() {
        None => (0, 0),
        Some(token) => parse_data_token(token, queries.len()).ok_or_else(ApiError::cw_invalid_next_token)?,
    };
    // Every query is checked before any is run, so a bad one fails the call whatever the page.
    let mut plans = Vec::with_capacity(queries.len());
    for (i, query) in queries.iter().enumerate() {
        let at = format!("MetricDataQueries.member.{}", i + 1);
        let id = query.id.clone().unwrap_or_default();
        let stat = match (&query.metric_stat, &query.expression) {
            (Some(_), Some(_)) => {
                return Err(ApiError::cw_mutually_exclusive(&format!("{at}.MetricStat"), &format!("{at}.Expression")));
            }
            (None, Some(_)) => return Err(ApiError::cw_expression_unsupported(&id)),
            (None, None) => {
                return Err(ApiError::cw_at_least_one(&format!("{at}.MetricStat"), &format!("{at}.Expression")));
            }
            (Some(stat), None) => stat,
        };
        let statistic = Statistic::parse(stat.stat.as_deref().unwrap_or_default()).ok_or_else(|| {
            ApiError::cw_validation(format!("The value for parameter {at}.MetricStat.Stat is not a valid statistic."))
        })?;
        let period = i64::from(stat.period.unwrap_or(60));
        check_period(period, &format!("{at}.MetricStat.Period"))?;
        let metric = stat.metric.clone().unwrap_or_default();
        let metric_name = metric.metric_name.unwrap_or_default();
        let label = query.label.clone().unwrap_or_else(|| metric_name.clone());
        let key = series_key(ctx, metric.namespace.as_deref().unwrap_or_default(), &metric_name, metric.dimensions);
        let unit = stat.unit.as_ref().map(|unit| unit.as_str().to_owned());
        plans.push((id, label, key, statistic, period, unit, query.return_data != Some(false)));
    }
    let store = store(state)?;
    let mut budget = max_datapoints;
    let mut next_token = None;
    let mut results = Vec::new();
    for (q, (id, label, key, statistic, period, unit, returned)) in plans.into_iter().enumerate() {
        if !returned {
            continue;
        }
        let mut result = MetricDataResult {
            id: Some(id),
            label: Some(label),
            timestamps: Some(Vec::new()),
            values: Some(Vec::new()),
            status_code: Some(StatusCode::Complete),
            messages: Some(Vec::new()),
        };
        if q >= first_query && next_token.is_none() {
            let points = store.points(&key, period_floor(start, period), end).await.map_err(ApiError::internal)?;
            let mut values: Vec<(i64, f64)> =
                smemu_telemetry::metrics::query::aggregate(&points, period, unit.as_deref())
                    .into_iter()
                    .filter_map(|a| Some((a.ts_ms, statistic.of(&a.stats)?)))
                    .collect();
            if descending {
                values.reverse();
            }
            let skip = if q == first_query { first_offset } else { 0 };
            let remaining = values.len().saturating_sub(skip);
            let take = remaining.min(usize::try_from(budget).unwrap_or(usize::MAX));
            budget -= i64::try_from(take).unwrap_or(i64::MAX);
            let page = &values[skip.min(values.len())..skip.min(values.len()) + take];
            result.timestamps = Some(page.iter().map(|(ts, _)| Timestamp::from_millis(*ts)).collect());
            result.values = Some(page.iter().map(|(_, v)| *v).collect());
            if take < remaining {
                result.status_code = Some(StatusCode::PartialData);
                next_token = Some(format!("{q}.{}", skip + take));
            }
        } else if next_token.is_some() {
            result.status_code = Some(StatusCode::PartialData);
        }
        results.push(result);
    }
    Ok(GetMetricDataOutput { metric_data_results: Some(results), messages: Some(Vec::new()), next_token })
}

/// `<query index>.<values already returned>`.
fn parse_data_token(token: &str, queries: usize) -> Option<(usize, usize)> {
    let (q, offset) = token.split_once('.')?;
    let q: usize = q.parse().ok()?;
    (q < queries).then_some(())?;
    Some((q, offset.parse().ok()?))
}

pub(crate) async fn list_metrics(
    state: &AppState,
    ctx: &RequestContext,
    input: ListMetricsInput,
) -> Result<ListMetricsOutput, ApiError> {
    check(&input)?;
    let after = match input.next_token.as_deref() {
        None => 0,
        Some(token) => token.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(ApiError::cw_invalid_next_token)?,
    };
    let filter = SeriesFilter {
        account: ctx.scope.account.clone(),
        region: ctx.scope.region.clone(),
        namespace: input.namespace,
        metric_name: input.metric_name,
        dimensions: input
            .dimensions
            .unwrap_or_default()
            .into_iter()
            .map(|d| (d.name.unwrap_or_default(), d.value))
            .collect(),
        active_since_ms: matches!(input.recently_active, Some(RecentlyActive::Pt3h))
            .then(|| Timestamp::now().as_millis() - RECENT_MS),
    };
    let mut listed = store(state)?.list(&filter, after, LIST_PAGE + 1).await.map_err(ApiError::internal)?;
    let more = listed.len() > LIST_PAGE;
    listed.truncate(LIST_PAGE);
    let next_token = more.then(|| listed.last().map(|s| s.id.to_string())).flatten();
    let metrics = listed
        .into_iter()
        .map(|s| Metric {
            namespace: Some(s.key.namespace),
            metric_name: Some(s.key.metric_name),
            dimensions: Some(
                s.key
                    .dimensions
                    .into_iter()
                    .map(|(name, value)| Dimension { name: Some(name), value: Some(value) })
                    .collect(),
            ),
        })
        .collect();
    Ok(ListMetricsOutput { metrics: Some(metrics), next_token, owning_accounts: None })
}

/// PutMetricData has no output shape: `Ok(())` is the empty answer of each protocol.
pub(crate) async fn put_metric_data(
    state: &AppState,
    ctx: &RequestContext,
    input: PutMetricDataInput,
) -> Result<(), ApiError> {
    check(&input)?;
    let namespace = input.namespace.unwrap_or_default();
    // "Namespaces beginning with AWS/ are reserved for use by Amazon Web Services products"
    // (API_PutMetricData, Namespace).
    if namespace.starts_with("AWS/") {
        return Err(ApiError::cw_invalid_value("Namespace", &namespace));
    }
    let mut data = input.metric_data.unwrap_or_default();
    for entity in input.entity_metric_data.unwrap_or_default() {
        data.extend(entity.metric_data.unwrap_or_default());
    }
    if data.is_empty() {
        return Err(ApiError::cw_missing("MetricData"));
    }
    if data.len() > MAX_METRIC_DATA {
        return Err(ApiError::cw_invalid_parameter(format!(
            "The collection MetricData must not have a size greater than {MAX_METRIC_DATA}."
        )));
    }
    let now = Timestamp::now().as_millis();
    let mut points = Vec::with_capacity(data.len());
    for (i, datum) in data.into_iter().enumerate() {
        let at = format!("MetricData.member.{}", i + 1);
        let stats = datum_stats(&datum, &at)?;
        if let Some(resolution) = datum.storage_resolution
            && resolution != 1
            && resolution != 60
        {
            return Err(ApiError::cw_invalid_value(&format!("{at}.StorageResolution"), &resolution.to_string()));
        }
        let ts = datum.timestamp.as_ref().map_or(now, Timestamp::as_millis);
        if ts < now - MAX_AGE_MS {
            return Err(ApiError::cw_invalid_parameter(format!(
                "The parameter {at}.Timestamp must specify a time within the past two weeks."
            )));
        }
        if ts > now + MAX_AHEAD_MS {
            return Err(ApiError::cw_invalid_parameter(format!(
                "The parameter {at}.Timestamp must specify a time no more than two hours in the future."
            )));
        }
        let key = series_key(ctx, &namespace, datum.metric_name.as_deref().unwrap_or_default(), datum.dimensions);
        let unit = datum.unit.as_ref().map_or(StandardUnit::None.as_str(), StandardUnit::as_str).to_owned();
        points.push((key, Point { ts_ms: ts - ts.rem_euclid(1000), unit, stats }));
    }
    store(state)?.put(&points).await.map_err(ApiError::internal)
}

/// The statistics one datum adds: a `Value`, `Values` with their `Counts`, or a `StatisticValues` set.
fn datum_stats(datum: &MetricDatum, at: &str) -> Result<Stats, ApiError> {
    let value = |v: f64, name: &str| -> Result<f64, ApiError> {
        let magnitude = v.abs();
        if !v.is_finite() || magnitude > LARGEST || (magnitude != 0.0 && magnitude < SMALLEST) {
            return Err(ApiError::cw_invalid_value(name, &v.to_string()));
        }
        Ok(v)
    };
    let values = datum.values.as_deref().filter(|v| !v.is_empty());
    match (datum.value, values, &datum.statistic_values) {
        (Some(_), _, Some(_)) => {
            Err(ApiError::cw_mutually_exclusive(&format!("{at}.Value"), &format!("{at}.StatisticValues")))
        }
        (Some(_), Some(_), _) => Err(ApiError::cw_mutually_exclusive(&format!("{at}.Value"), &format!("{at}.Values"))),
        (None, Some(_), Some(_)) => {
            Err(ApiError::cw_mutually_exclusive(&format!("{at}.Values"), &format!("{at}.StatisticValues")))
        }
        (None, None, None) => Err(ApiError::cw_at_least_one(&format!("{at}.Value"), &format!("{at}.StatisticValues"))),
        (Some(v), None, None) => Ok(Stats::repeated(value(v, &format!("{at}.Value"))?, 1.0)),
        (None, Some(values), None) => {
            if values.len() > MAX_VALUES {
                return Err(ApiError::cw_invalid_parameter(format!(
                    "The collection {at}.Values must not have a size greater than {MAX_VALUES}."
                )));
            }
            let counts = datum.counts.as_deref().filter(|c| !c.is_empty());
            if counts.is_some_and(|c| c.len() != values.len()) {
                return Err(ApiError::cw_invalid_parameter(format!(
                    "The parameters {at}.Values and {at}.Counts must be of the same size."
                )));
            }
            let mut stats: Option<Stats> = None;
            for (j, v) in values.iter().enumerate() {
                let v = value(*v, &format!("{at}.Values.member.{}", j + 1))?;
                let count = counts.map_or(1.0, |c| c[j]);
                if !count.is_finite() || count < 0.0 {
                    return Err(ApiError::cw_invalid_value(
                        &format!("{at}.Counts.member.{}", j + 1),
                        &count.to_string(),
                    ));
                }
                if count == 0.0 {
                    continue;
                }
                let one = Stats::repeated(v, count);
                match &mut stats {
                    Some(stats) => stats.merge(&one),
                    None => stats = Some(one),
                }
            }
            stats.ok_or_else(|| ApiError::cw_invalid_value(&format!("{at}.Counts"), "0"))
        }
        (None, None, Some(set)) => {
            let field =
                |v: Option<f64>, name: &str| value(v.unwrap_or_default(), &format!("{at}.StatisticValues.{name}"));
            let count = field(set.sample_count, "SampleCount")?;
            let (sum, min, max) =
                (field(set.sum, "Sum")?, field(set.minimum, "Minimum")?, field(set.maximum, "Maximum")?);
            if count <= 0.0 {
                return Err(ApiError::cw_invalid_value(
                    &format!("{at}.StatisticValues.SampleCount"),
                    &count.to_string(),
                ));
            }
            if min > max {
                return Err(ApiError::cw_invalid_value(&format!("{at}.StatisticValues.Minimum"), &min.to_string()));
            }
            // Percentiles of a statistic set only when "the SampleCount value of the statistic
            // set is 1" or "the Min and the Max values of the statistic set are equal"
            // (API_GetMetricStatistics).
            let histogram = (count == 1.0 || min == max).then(|| Stats::repeated(min, count).histogram).flatten();
            Ok(Stats { count, sum, min, max, histogram })
        }
    }
}

fn series_key(
    ctx: &RequestContext,
    namespace: &str,
    metric_name: &str,
    dimensions: Option<Vec<Dimension>>,
) -> SeriesKey {
    let dimensions = dimensions
        .unwrap_or_default()
        .into_iter()
        .map(|d| (d.name.unwrap_or_default(), d.value.unwrap_or_default()))
        .collect();
    SeriesKey::new(&ctx.scope.account, &ctx.scope.region, namespace, metric_name, dimensions)
}

/// Periods of high resolution are 1, 5, 10 or 30 seconds, any other a multiple of 60
/// (API_GetMetricStatistics, Period). smemu stores every metric per second, so the short periods
/// serve SageMaker's metrics too.
fn check_period(period: i64, name: &str) -> Result<(), ApiError> {
    if period >= 1 && (matches!(period, 1 | 5 | 10 | 30) || period % 60 == 0) {
        Ok(())
    } else {
        Err(ApiError::cw_invalid_parameter(format!("The parameter {name} must be 1, 5, 10, 30 or a multiple of 60.")))
    }
}

fn time_range(start: Option<&Timestamp>, end: Option<&Timestamp>) -> Result<(i64, i64), ApiError> {
    let (start, end) = (start.map_or(0, Timestamp::as_millis), end.map_or(0, Timestamp::as_millis));
    if start >= end {
        return Err(ApiError::cw_invalid_parameter("The parameter StartTime must be less than the parameter EndTime."));
    }
    Ok((start, end))
}

fn period_floor(ts_ms: i64, period: i64) -> i64 {
    smemu_telemetry::metrics::query::period_start(ts_ms, period)
}

/// The model's constraints: a missing required member is `MissingParameter` naming it as the
/// query protocol does (`MetricData.member.1.MetricName`), any other violation `ValidationError`
/// with Coral's message.
pub(crate) fn check(input: &impl Validate) -> Result<(), ApiError> {
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
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_data_token_is_read_back_or_refused(q in 0usize..600, offset in 0usize..1_000_000, junk in "\\PC{0,20}") {
            prop_assert_eq!(parse_data_token(&format!("{q}.{offset}"), 500), (q < 500).then_some((q, offset)));
            if let Some((q, _)) = parse_data_token(&junk, 500) {
                prop_assert!(q < 500);
            }
        }
    }

    #[test]
    fn paths_are_named_as_the_query_protocol_names_them() {
        assert_eq!(query_name("namespace"), "Namespace");
        assert_eq!(query_name("metricData.1.member.metricName"), "MetricData.member.1.MetricName");
    }

    #[test]
    fn periods_follow_the_service_rule() {
        for ok in [1, 5, 10, 30, 60, 120, 3600] {
            assert!(check_period(ok, "Period").is_ok(), "{ok}");
        }
        for bad in [0, 2, 59, 61, -60] {
            assert!(check_period(bad, "Period").is_err(), "{bad}");
        }
    }

    #[test]
    fn a_statistic_set_keeps_percentiles_only_when_its_values_are_known() {
        let set = |count, min, max| MetricDatum {
            statistic_values: Some(smemu_types::cloudwatch::StatisticSet {
                sample_count: Some(count),
                sum: Some(10.0),
                minimum: Some(min),
                maximum: Some(max),
            }),
            ..Default::default()
        };
        assert!(datum_stats(&set(5.0, 2.0, 2.0), "M").unwrap().histogram.is_some());
        assert!(datum_stats(&set(5.0, 1.0, 3.0), "M").unwrap().histogram.is_none());
        assert!(datum_stats(&set(0.0, 1.0, 3.0), "M").is_err());
    }

    #[test]
    fn values_and_counts_weigh_each_value() {
        let datum = MetricDatum { values: Some(vec![1.0, 3.0]), counts: Some(vec![1.0, 3.0]), ..Default::default() };
        let stats = datum_stats(&datum, "M").unwrap();
        assert_eq!((stats.count, stats.sum, stats.min, stats.max), (4.0, 10.0, 1.0, 3.0));
        let nan = MetricDatum { value: Some(f64::NAN), ..Default::default() };
        assert!(datum_stats(&nan, "M").is_err());
    }
}
