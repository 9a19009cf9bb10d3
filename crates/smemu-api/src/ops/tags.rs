//! AddTags, ListTags, DeleteTags on any smemu ARN.

use smemu_types::sagemaker::{AddTagsInput, AddTagsOutput, DeleteTagsInput, ListTagsInput, ListTagsOutput};

use super::listing::{next_token, offset_of};
use super::spec::{shape_tags, stored_tags};
use crate::arn::Arn;
use crate::{ApiError, AppState, RequestContext};

/// ListTags' page when `MaxResults` is absent (the model's minimum; unconfirmed default).
const DEFAULT_TAG_PAGE: u32 = 50;

pub(crate) async fn add(
    state: &AppState,
    ctx: &RequestContext,
    input: AddTagsInput,
) -> Result<AddTagsOutput, ApiError> {
    let resource = existing(state, ctx, input.resource_arn.as_deref()).await?;
    let tags = state
        .store
        .add_tags(resource, &stored_tags(input.tags.as_deref()))
        .await
        .map_err(|err| ApiError::from_store(err, resource))?;
    Ok(AddTagsOutput { tags: Some(shape_tags(tags)) })
}

pub(crate) async fn list(
    state: &AppState,
    ctx: &RequestContext,
    input: ListTagsInput,
) -> Result<ListTagsOutput, ApiError> {
    let resource = existing(state, ctx, input.resource_arn.as_deref()).await?;
    let offset = offset_of(input.next_token.as_deref())?;
    let limit = input.max_results.and_then(|n| u32::try_from(n).ok()).unwrap_or(DEFAULT_TAG_PAGE);
    let page = state.store.list_tags(resource, offset, limit).await?;
    let next = page.more.then(|| next_token(offset + page.items.len() as u64));
    Ok(ListTagsOutput { tags: Some(shape_tags(page.items)), next_token: next })
}

pub(crate) async fn delete(
    state: &AppState,
    ctx: &RequestContext,
    input: DeleteTagsInput,
) -> Result<super::Empty, ApiError> {
    let resource = existing(state, ctx, input.resource_arn.as_deref()).await?;
    state.store.delete_tags(resource, &input.tag_keys.unwrap_or_default()).await?;
    Ok(super::Empty {})
}

/// The ARN, if it names a resource of the caller's account and region in this store: the ARN
/// is parsed and its account and region compared with the caller's exactly; a resource of
/// another account or region is as absent as one that never existed.
async fn existing<'a>(state: &AppState, ctx: &RequestContext, text: Option<&'a str>) -> Result<&'a str, ApiError> {
    let text = text.unwrap_or_default();
    let arn = Arn::parse(text).map_err(|err| ApiError::invalid_arn(text, &err))?;
    if arn.in_scope(&ctx.scope) && state.store.arn_exists(text).await? {
        Ok(text)
    } else {
        Err(ApiError::resource_does_not_exist())
    }
}
