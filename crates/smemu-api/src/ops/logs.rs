//! The CloudWatch Logs operations over the log store (`smemu_telemetry::logs`): DescribeLogGroups,
//! DescribeLogStreams, GetLogEvents and FilterLogEvents, as
//! <https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/> describes them.

use smemu_telemetry::logs::{
    Cursor, FilterPattern, GroupSelect, LogStore, StoredEvent, StreamOrder, StreamSelect, TimeRange, event_size,
};
use smemu_types::logs::{
    DescribeLogGroupsRequest, DescribeLogGroupsResponse, DescribeLogStreamsRequest, DescribeLogStreamsResponse,
    FilterLogEventsRequest, FilterLogEventsResponse, FilteredLogEvent, GetLogEventsRequest, GetLogEventsResponse,
    LogGroup, LogGroupClass, LogStream, OrderBy, OutputLogEvent,
};

use crate::{ApiError, AppState, RequestContext};

/// DescribeLogGroups' and DescribeLogStreams' default and largest page.
const DESCRIBE_LIMIT: i64 = 50;
/// GetLogEvents' and FilterLogEvents' default and largest page: "as many log events as can fit
/// in a response size of 1 MB (up to 10,000 log events)".
const EVENTS_LIMIT: i64 = 10_000;
const EVENTS_BYTES: u64 = 1024 * 1024;
/// Events FilterLogEvents reads for one page before it answers with what matched so far and a
/// token (the real service also returns partial, even empty, pages with a token).
const FILTER_SCAN: usize = 100_000;
const FILTER_BATCH: i64 = 1000;

fn store(state: &AppState) -> Result<&LogStore, ApiError> {
    // Without a log store (an embedding that set none) no group exists.
    state.logs.as_ref().ok_or_else(ApiError::log_group_not_found)
}

fn group_arn(ctx: &RequestContext, name: &str) -> String {
    format!("arn:aws:logs:{}:{}:log-group:{name}", ctx.scope.region, ctx.scope.account)
}

/// The group a request names by `logGroupName` or `logGroupIdentifier` (a name or the group's ARN
/// in this account and region; the model's pattern already refuses the `:*` form); its id in the store.
async fn group_of(
    state: &AppState,
    ctx: &RequestContext,
    name: Option<&str>,
    identifier: Option<&str>,
) -> Result<(i64, String), ApiError> {
    let name = match (name, identifier) {
        (Some(_), Some(_)) => return Err(ApiError::log_group_name_and_arn()),
        (None, None) => return Err(ApiError::log_group_missing()),
        (Some(name), None) => name.to_owned(),
        (None, Some(identifier)) => match identifier.strip_prefix("arn:") {
            None => identifier.to_owned(),
            Some(_) => {
                let prefix = group_arn(ctx, "");
                let name = identifier.strip_prefix(&prefix).ok_or_else(ApiError::log_group_not_found)?;
                name.strip_suffix(":*").unwrap_or(name).to_owned()
            }
        },
    };
    let id = store(state)?
        .group_id(&ctx.scope.account, &ctx.scope.region, &name)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(ApiError::log_group_not_found)?;
    Ok((id, name))
}

fn limit_of(limit: Option<i32>, max: i64) -> i64 {
    limit.map_or(max, i64::from).clamp(1, max)
}

pub(crate) async fn describe_log_groups(
    state: &AppState,
    ctx: &RequestContext,
    input: DescribeLogGroupsRequest,
) -> Result<DescribeLogGroupsResponse, ApiError> {
    if input.log_group_name_prefix.is_some() && input.log_group_name_pattern.is_some() {
        return Err(ApiError::group_prefix_and_pattern());
    }
    let after = input.next_token.as_deref().map(|t| tokens::decode_name(t).ok_or_else(ApiError::invalid_logs_token));
    let after = after.transpose()?;
    let limit = limit_of(input.limit, DESCRIBE_LIMIT);
    // Identifiers may be ARNs; the store compares names.
    let names: Option<Vec<String>> = input.log_group_identifiers.as_ref().map(|ids| {
        ids.iter()
            .map(|id| {
                let name = id.rsplit_once(":log-group:").map_or(id.as_str(), |(_, name)| name);
                name.strip_suffix(":*").unwrap_or(name).to_owned()
            })
            .collect()
    });
    // Every group smemu writes is of the STANDARD class.
    let other_class = input.log_group_class.as_ref().is_some_and(|class| *class != LogGroupClass::Standard);
    let Some(logs) = state.logs.as_ref().filter(|_| !other_class) else {
        return Ok(DescribeLogGroupsResponse { log_groups: Some(Vec::new()), next_token: None });
    };
    let mut groups = logs
        .groups(
            &ctx.scope.account,
            &ctx.scope.region,
            &GroupSelect {
                prefix: input.log_group_name_prefix.as_deref(),
                pattern: input.log_group_name_pattern.as_deref().filter(|p| !p.is_empty()),
                names: names.as_deref(),
                after: after.as_deref(),
            },
            limit + 1,
        )
        .await
        .map_err(ApiError::internal)?;
    let more = groups.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    groups.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_token = if more { groups.last().map(|g| tokens::encode_name(&g.name)) } else { None };
    let log_groups = groups
        .into_iter()
        .map(|g| {
            let arn = group_arn(ctx, &g.name);
            LogGroup {
                arn: Some(format!("{arn}:*")),
                log_group_arn: Some(arn),
                creation_time: Some(g.creation_time),
                log_group_name: Some(g.name),
                metric_filter_count: Some(0),
                stored_bytes: Some(g.stored_bytes),
                log_group_class: Some(LogGroupClass::Standard),
                ..LogGroup::default()
            }
        })
        .collect();
    Ok(DescribeLogGroupsResponse { log_groups: Some(log_groups), next_token })
}

pub(crate) async fn describe_log_streams(
    state: &AppState,
    ctx: &RequestContext,
    input: DescribeLogStreamsRequest,
) -> Result<DescribeLogStreamsResponse, ApiError> {
    let order = match input.order_by {
        Some(OrderBy::LastEventTime) => StreamOrder::LastEventTime,
        _ => StreamOrder::Name,
    };
    if order == StreamOrder::LastEventTime && input.log_stream_name_prefix.is_some() {
        return Err(ApiError::order_by_time_with_prefix());
    }
    let (group, group_name) =
        group_of(state, ctx, input.log_group_name.as_deref(), input.log_group_identifier.as_deref()).await?;
    let offset = match input.next_token.as_deref() {
        Some(token) => tokens::decode_offset(token).ok_or_else(ApiError::invalid_logs_token)?,
        None => 0,
    };
    let limit = limit_of(input.limit, DESCRIBE_LIMIT);
    let mut streams = store(state)?
        .streams(
            group,
            input.log_stream_name_prefix.as_deref(),
            order,
            input.descending.unwrap_or(false),
            offset,
            limit + 1,
        )
        .await
        .map_err(ApiError::internal)?;
    let more = streams.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    streams.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_token = more.then(|| tokens::encode_offset(offset + limit));
    let group_arn = group_arn(ctx, &group_name);
    let log_streams = streams
        .into_iter()
        .map(|s| LogStream {
            arn: Some(format!("{group_arn}:log-stream:{}", s.name)),
            creation_time: Some(s.creation_time),
            first_event_timestamp: s.first_event_ts,
            last_event_timestamp: s.last_event_ts,
            last_ingestion_time: s.last_ingestion_time,
            log_stream_name: Some(s.name),
            // "As of June 17, 2019, this parameter is no longer supported for log streams, and is
            // always reported as zero" (API_LogStream).
            stored_bytes: Some(0),
            ..LogStream::default()
        })
        .collect();
    Ok(DescribeLogStreamsResponse { log_streams: Some(log_streams), next_token })
}

/// GetLogEvents: without a token, the first events (`startFromHead`) or the last ones; a forward
/// token (`f/...`) reads on after the page it came with, a backward one (`b/...`) before it. At
/// the end of the stream the token given comes back: "If you have reached the end of the stream,
/// it returns the same token you passed in" (API_GetLogEvents).
pub(crate) async fn get_log_events(
    state: &AppState,
    ctx: &RequestContext,
    input: GetLogEventsRequest,
) -> Result<GetLogEventsResponse, ApiError> {
    let (group, _) =
        group_of(state, ctx, input.log_group_name.as_deref(), input.log_group_identifier.as_deref()).await?;
    let logs = store(state)?;
    let stream_name = input.log_stream_name.as_deref().unwrap_or_default();
    let stream = logs
        .stream_id(group, stream_name)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(ApiError::log_stream_not_found)?;
    let token = match input.next_token.as_deref() {
        Some(token) => Some(tokens::decode_cursor(token).ok_or_else(ApiError::invalid_logs_token)?),
        None => None,
    };
    let forward = match token {
        Some((forward, _)) => forward,
        None => input.start_from_head.unwrap_or(false),
    };
    let range = TimeRange { start: input.start_time, end: input.end_time };
    let limit = limit_of(input.limit, EVENTS_LIMIT);
    let (events, from) = if forward {
        let from = token.map_or(Cursor::START, |(_, c)| c);
        let mut events = logs.events_after(stream, from, range, limit).await.map_err(ApiError::internal)?;
        events.truncate(within_bytes(events.iter()));
        (events, from)
    } else {
        let from = token.map_or(Cursor::END, |(_, c)| c);
        let mut events = logs.events_before(stream, from, range, limit).await.map_err(ApiError::internal)?;
        let keep = within_bytes(events.iter().rev());
        events.drain(..events.len() - keep);
        (events, from)
    };
    let (first, last) = match (events.first(), events.last()) {
        (Some(first), Some(last)) => (first.cursor(), last.cursor()),
        // Nothing (more) this way: both tokens stay where the reader is.
        _ => (from, from),
    };
    Ok(GetLogEventsResponse {
        events: Some(
            events
                .into_iter()
                .map(|e| OutputLogEvent {
                    ingestion_time: Some(e.ingestion_ms),
                    message: Some(e.message),
                    timestamp: Some(e.timestamp_ms),
                })
                .collect(),
        ),
        next_forward_token: Some(tokens::encode_cursor(true, last)),
        next_backward_token: Some(tokens::encode_cursor(false, first)),
    })
}

/// How many of `events`, in the order given, fit in one answer's megabyte.
fn within_bytes<'a>(events: impl Iterator<Item = &'a StoredEvent>) -> usize {
    let mut bytes = 0;
    let mut count = 0;
    for event in events {
        bytes += event_size(&event.message);
        if bytes > EVENTS_BYTES && count > 0 {
            break;
        }
        count += 1;
    }
    count
}

/// FilterLogEvents: a group's events (all streams, named ones or those with a prefix) in time
/// order, those the pattern matches, a page at a time.
pub(crate) async fn filter_log_events(
    state: &AppState,
    ctx: &RequestContext,
    input: FilterLogEventsRequest,
) -> Result<FilterLogEventsResponse, ApiError> {
    let select = match (input.log_stream_names, input.log_stream_name_prefix) {
        (Some(_), Some(_)) => return Err(ApiError::stream_names_and_prefix()),
        (Some(names), None) => StreamSelect::Names(names),
        (None, Some(prefix)) => StreamSelect::Prefix(prefix),
        (None, None) => StreamSelect::All,
    };
    let pattern = FilterPattern::parse(input.filter_pattern.as_deref().unwrap_or_default())
        .map_err(ApiError::invalid_filter_pattern)?;
    let (group, _) =
        group_of(state, ctx, input.log_group_name.as_deref(), input.log_group_identifier.as_deref()).await?;
    let mut from = match input.next_token.as_deref() {
        Some(token) => tokens::decode_filter(token).ok_or_else(ApiError::invalid_logs_token)?,
        None => Cursor::START,
    };
    let range = TimeRange { start: input.start_time, end: input.end_time };
    let limit = usize::try_from(limit_of(input.limit, EVENTS_LIMIT)).unwrap_or(1);
    let logs = store(state)?;
    let mut matched = Vec::new();
    let mut bytes = 0;
    let mut scanned = 0;
    let mut exhausted = false;
    'pages: while matched.len() < limit && scanned < FILTER_SCAN {
        let batch = logs.group_events(group, &select, from, range, FILTER_BATCH).await.map_err(ApiError::internal)?;
        if batch.len() < usize::try_from(FILTER_BATCH).unwrap_or(usize::MAX) {
            exhausted = true;
        }
        for event in batch {
            scanned += 1;
            if pattern.matches(&event.message) {
                bytes += event_size(&event.message);
                if bytes > EVENTS_BYTES && !matched.is_empty() {
                    exhausted = false;
                    break 'pages;
                }
                from = event.cursor();
                matched.push(event);
                if matched.len() == limit {
                    exhausted = false;
                    break 'pages;
                }
            } else {
                from = event.cursor();
            }
        }
        if exhausted {
            break;
        }
    }
    Ok(FilterLogEventsResponse {
        events: Some(
            matched
                .into_iter()
                .map(|e| FilteredLogEvent {
                    event_id: Some(format!("{:056}", e.seq)),
                    ingestion_time: Some(e.ingestion_ms),
                    log_stream_name: Some(e.stream),
                    message: Some(e.message),
                    timestamp: Some(e.timestamp_ms),
                })
                .collect(),
        ),
        next_token: (!exhausted).then(|| tokens::encode_filter(from)),
        // "As of May 15, 2020, this parameter is no longer supported. This parameter returns an
        // empty list." (API_FilterLogEvents)
        searched_log_streams: Some(Vec::new()),
    })
}

/// The opaque tokens of these operations. GetLogEvents' have the real ones' form (`f/` or `b/`,
/// 56 digits, `/s`); the digits carry a position in (timestamp, insertion) order.
mod tokens {
    use smemu_telemetry::logs::Cursor;

    /// i64 order as u64 order.
    fn to_u64(value: i64) -> u64 {
        (value as u64) ^ (1 << 63)
    }

    fn to_i64(value: u64) -> i64 {
        (value ^ (1 << 63)) as i64
    }

    fn digits(cursor: Cursor) -> String {
        format!("{:016}{:020}{:020}", 0, to_u64(cursor.ts), to_u64(cursor.seq))
    }

    fn undigits(text: &str) -> Option<Cursor> {
        if text.len() != 56 || !text.bytes().all(|b| b.is_ascii_digit()) || &text[..16] != "0000000000000000" {
            return None;
        }
        let ts = text[16..36].parse::<u64>().ok()?;
        let seq = text[36..56].parse::<u64>().ok()?;
        Some(Cursor { ts: to_i64(ts), seq: to_i64(seq) })
    }

    pub fn encode_cursor(forward: bool, cursor: Cursor) -> String {
        format!("{}/{}/s", if forward { "f" } else { "b" }, digits(cursor))
    }

    /// `(forward, position)`.
    pub fn decode_cursor(token: &str) -> Option<(bool, Cursor)> {
        let (forward, rest) = match token.split_at_checked(2)? {
            ("f/", rest) => (true, rest),
            ("b/", rest) => (false, rest),
            _ => return None,
        };
        Some((forward, undigits(rest.strip_suffix("/s")?)?))
    }

    pub fn encode_filter(cursor: Cursor) -> String {
        format!("F{}", digits(cursor))
    }

    pub fn decode_filter(token: &str) -> Option<Cursor> {
        undigits(token.strip_prefix('F')?)
    }

    pub fn encode_offset(offset: i64) -> String {
        format!("S{offset:020}")
    }

    pub fn decode_offset(token: &str) -> Option<i64> {
        let digits = token.strip_prefix('S')?;
        if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }

    /// A group name, hex-encoded (names are ASCII by the model's pattern, but any text round-trips).
    pub fn encode_name(name: &str) -> String {
        let mut token = String::from("G");
        for byte in name.bytes() {
            token.push_str(&format!("{byte:02x}"));
        }
        token
    }

    pub fn decode_name(token: &str) -> Option<String> {
        let hex = token.strip_prefix('G')?;
        if hex.len() % 2 != 0 || hex.is_empty() {
            return None;
        }
        let bytes: Option<Vec<u8>> =
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect();
        String::from_utf8(bytes?).ok()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn tokens_round_trip_and_refuse_what_they_did_not_give() {
            for cursor in [Cursor::START, Cursor::END, Cursor { ts: 1_700_000_000_123, seq: 42 }] {
                assert_eq!(decode_cursor(&encode_cursor(true, cursor)), Some((true, cursor)));
                assert_eq!(decode_cursor(&encode_cursor(false, cursor)), Some((false, cursor)));
                assert_eq!(decode_filter(&encode_filter(cursor)), Some(cursor));
            }
            let token = encode_cursor(true, Cursor { ts: 5, seq: 6 });
            assert!(token.starts_with("f/") && token.ends_with("/s") && token.len() == 60, "{token}");
            assert_eq!(decode_offset(&encode_offset(150)), Some(150));
            assert_eq!(
                decode_name(&encode_name("/aws/sagemaker/Endpoints/x")).as_deref(),
                Some("/aws/sagemaker/Endpoints/x")
            );
            for bad in ["", "f/", "f/123/s", "x/00/s", "S12", "G0", "Gzz", "F1", "b/ééé"] {
                assert_eq!(decode_cursor(bad), None, "{bad}");
                assert_eq!(decode_filter(bad), None, "{bad}");
                assert_eq!(decode_offset(bad), None, "{bad}");
                assert_eq!(decode_name(bad), None, "{bad}");
            }
        }
    }
}
