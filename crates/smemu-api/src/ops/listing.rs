//! What List* calls share: page tokens, page sizes, and the filters common to every list.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use smemu_store::{ListQuery, SortKey, SortOrder};
use smemu_types::Timestamp;

use super::spec::millis;
use crate::ApiError;

/// SageMaker's page size when `MaxResults` is absent.
pub(crate) const DEFAULT_PAGE: u32 = 10;

const TOKEN_PREFIX: &str = "smemu-page:";

/// The opaque `NextToken` for the page that starts at `offset`.
pub(crate) fn next_token(offset: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{TOKEN_PREFIX}{offset}"))
}

/// Reads a `NextToken` back; anything smemu did not hand out is a `ValidationException`.
pub(crate) fn offset_of(token: Option<&str>) -> Result<u64, ApiError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else { return Ok(0) };
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|text| text.strip_prefix(TOKEN_PREFIX).and_then(|n| n.parse().ok()))
        .ok_or_else(ApiError::invalid_next_token)
}

/// The members every List* input of models and endpoint configs has, in store words.
pub(crate) struct CommonListInput<'a> {
    pub name_contains: Option<&'a str>,
    pub created_before: Option<&'a Timestamp>,
    pub created_after: Option<&'a Timestamp>,
    pub sort_by_name: bool,
    pub ascending: bool,
    pub max_results: Option<i32>,
    pub next_token: Option<&'a str>,
}

pub(crate) fn query(input: CommonListInput<'_>) -> Result<ListQuery, ApiError> {
    Ok(ListQuery {
        name_contains: input.name_contains.map(str::to_owned),
        created_before_ms: input.created_before.map(millis),
        created_after_ms: input.created_after.map(millis),
        status_equals: None,
        modified_before_ms: None,
        modified_after_ms: None,
        sort_by: if input.sort_by_name { SortKey::Name } else { SortKey::CreationTime },
        sort_order: if input.ascending { SortOrder::Ascending } else { SortOrder::Descending },
        offset: offset_of(input.next_token)?,
        limit: input.max_results.and_then(|n| u32::try_from(n).ok()).unwrap_or(DEFAULT_PAGE),
    })
}

/// The filters and the sort key that only lists of resources with a status (endpoints,
/// transform jobs) have.
pub(crate) fn status_filters(
    query: &mut ListQuery,
    sort_by_status: bool,
    status_equals: Option<&str>,
    modified_before: Option<&Timestamp>,
    modified_after: Option<&Timestamp>,
) {
    if sort_by_status {
        query.sort_by = SortKey::Status;
    }
    query.status_equals = status_equals.map(str::to_owned);
    query.modified_before_ms = modified_before.map(millis);
    query.modified_after_ms = modified_after.map(millis);
}

/// The `NextToken` to answer with, only when more rows remain.
pub(crate) fn token_after(query: &ListQuery, returned: usize, more: bool) -> Option<String> {
    more.then(|| next_token(query.offset + returned as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_foreign_tokens_are_refused() {
        assert_eq!(offset_of(Some(&next_token(30))).ok(), Some(30));
        assert_eq!(offset_of(None).ok(), Some(0));
        assert!(offset_of(Some("garbage")).is_err());
        assert!(offset_of(Some(&URL_SAFE_NO_PAD.encode("other:5"))).is_err());
    }
}
