//! The runtime's `POST /endpoints/{EndpointName}/async-invocations` (InvokeEndpointAsync): the
//! headers are read and validated as the model gives them, the request is stored in the endpoint's
//! queue, and 202 answers at once with `InferenceId` and the output and failure locations
//! (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpointAsync.html).

use axum::response::Response;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use smemu_http1::{MinRate, Reply};
use smemu_runtime::{AcceptedAsync, InvokeError, NewAsyncRequest};
use smemu_types::Validate;
use smemu_types::runtime::{InvokeEndpointAsyncInput, InvokeEndpointAsyncOutput};

use super::identity;
use super::invoke::{header_text, render_auth_error, render_error};
use super::sigv4::Received;
use crate::AppState;

const CONTENT_TYPE_HEADER: HeaderName = HeaderName::from_static("x-amzn-sagemaker-content-type");
const ACCEPT_HEADER: HeaderName = HeaderName::from_static("x-amzn-sagemaker-accept");
const CUSTOM_ATTRIBUTES: HeaderName = HeaderName::from_static("x-amzn-sagemaker-custom-attributes");
const INFERENCE_ID: HeaderName = HeaderName::from_static("x-amzn-sagemaker-inference-id");
const INPUT_LOCATION: HeaderName = HeaderName::from_static("x-amzn-sagemaker-inputlocation");
const REQUEST_TTL: HeaderName = HeaderName::from_static("x-amzn-sagemaker-requestttlseconds");
const INVOCATION_TIMEOUT: HeaderName = HeaderName::from_static("x-amzn-sagemaker-invocationtimeoutseconds");
const OUTPUT_LOCATION: HeaderName = HeaderName::from_static("x-amzn-sagemaker-outputlocation");
const FAILURE_LOCATION: HeaderName = HeaderName::from_static("x-amzn-sagemaker-failurelocation");
const REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");

/// The largest inline `Body` (the model's `InvokeEndpointAsync` documentation: 128,000 bytes).
pub(super) const MAX_INLINE_BODY: usize = 128_000;

/// The `EndpointName` of an InvokeEndpointAsync path, percent-decoded; `None` for any other path.
pub(super) fn endpoint_of(path: &str) -> Option<String> {
    super::invoke::endpoint_in(path, "/async-invocations")
}

/// InvokeEndpointAsync as served by hyper.
pub(super) async fn handle(state: &AppState, endpoint: String, request: Request<MinRate<Incoming>>) -> Response {
    let (parts, body) = request.into_parts();
    let target = parts.uri.path_and_query().map_or("/", |target| target.as_str());
    let mut request_id = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let request_id: &str = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut request_id);
    let result = async {
        // Small (at most 128,000 bytes), and `--auth strict` needs it to check the signature.
        let body = read_body(body).await.map_err(|err| render_error(&err))?;
        let received = Received { method: "POST", target, headers: &parts.headers, body: &body };
        let scope = identity::identify(&state.config, &received).map_err(|err| render_auth_error(&err))?;
        let new = new_request(&parts.headers, body).map_err(|err| render_error(&err))?;
        state.runtime.invoke_async(&scope, &endpoint, new).await.map_err(|err| render_error(&err))
    }
    .await;
    let mut reply = match result {
        Ok(accepted) => accepted_reply(accepted),
        Err(refused) => refused,
    };
    if let Ok(value) = HeaderValue::from_str(request_id) {
        reply.headers.insert(REQUEST_ID, value);
    }
    tracing::info!(request_id, operation = "InvokeEndpointAsync", endpoint, status = reply.status.as_u16(), "request");
    let mut response = Response::new(axum::body::Body::from(reply.body));
    *response.status_mut() = reply.status;
    *response.headers_mut() = reply.headers;
    response
}

/// 202 with `{"InferenceId": ...}` and the locations in headers, as the model binds them.
fn accepted_reply(accepted: AcceptedAsync) -> Reply {
    let mut headers = HeaderMap::with_capacity(4);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(value) = HeaderValue::from_str(&accepted.output_location) {
        headers.insert(OUTPUT_LOCATION, value);
    }
    if let Some(Ok(value)) = accepted.failure_location.as_deref().map(HeaderValue::from_str) {
        headers.insert(FAILURE_LOCATION, value);
    }
    let output = InvokeEndpointAsyncOutput { inference_id: Some(accepted.inference_id), ..Default::default() };
    let body = serde_json::to_vec(&output).unwrap_or_default();
    Reply { status: StatusCode::ACCEPTED, headers, body: Bytes::from(body) }
}

async fn read_body(body: MinRate<Incoming>) -> Result<Bytes, InvokeError> {
    match Limited::new(body, MAX_INLINE_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
            Err(InvokeError::PayloadTooLarge { max: MAX_INLINE_BODY })
        }
        Err(err) => Err(InvokeError::InvalidHeader(format!("The request body could not be read: {err}"))),
    }
}

/// The request's headers as the model's input shape, validated by its generated rules (lengths,
/// patterns, `RequestTTLSeconds` 60–21600, `InvocationTimeoutSeconds` 1–3600), every violation at once.
pub(super) fn new_request(headers: &HeaderMap, body: Bytes) -> Result<NewAsyncRequest, InvokeError> {
    let text = |name: &HeaderName| header_text(headers, name);
    let integer = |name: &HeaderName| -> Result<Option<i32>, InvokeError> {
        text(name)?
            .map(|v| {
                v.trim()
                    .parse::<i32>()
                    .map_err(|_| InvokeError::InvalidHeader(format!("Header {name} must be an integer, not \"{v}\".")))
            })
            .transpose()
    };
    let input = InvokeEndpointAsyncInput {
        accept: text(&ACCEPT_HEADER)?,
        content_type: text(&CONTENT_TYPE_HEADER)?,
        custom_attributes: text(&CUSTOM_ATTRIBUTES)?,
        inference_id: text(&INFERENCE_ID)?,
        input_location: text(&INPUT_LOCATION)?,
        invocation_timeout_seconds: integer(&INVOCATION_TIMEOUT)?,
        request_ttl_seconds: integer(&REQUEST_TTL)?,
        body: (!body.is_empty()).then_some(body),
        ..Default::default()
    };
    // `file://` (smemu's extension, confined to `--file-root`) is checked by the runtime; the
    // model's pattern admits only `s3://` and `https://`.
    let is_file = input.input_location.as_deref().is_some_and(|l| l.starts_with("file://"));
    let checked = InvokeEndpointAsyncInput {
        input_location: if is_file { Some("s3://file/".into()) } else { input.input_location.clone() },
        // The path's member, present whenever the route matched.
        endpoint_name: Some("endpoint".into()),
        ..input.clone()
    };
    checked.validate().map_err(|errors| InvokeError::InvalidHeader(errors.to_string()))?;
    if input.input_location.is_some() && input.body.is_some() {
        return Err(InvokeError::InvalidHeader(BOTH_INPUTS.into()));
    }
    Ok(NewAsyncRequest {
        inference_id: input.inference_id,
        input_location: input.input_location,
        body: input.body,
        content_type: input.content_type,
        accept: input.accept,
        custom_attributes: input.custom_attributes,
        request_ttl_s: input.request_ttl_seconds.and_then(|n| u32::try_from(n).ok()),
        invocation_timeout_s: input.invocation_timeout_seconds.and_then(|n| u32::try_from(n).ok()),
    })
}

/// `InputLocation` and an inline `Body` together: the service takes one or the other.
const BOTH_INPUTS: &str = "Specify either InputLocation or Body, not both.";

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(HeaderName::from_static(name), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_endpoint_name_comes_from_the_async_path() {
        assert_eq!(endpoint_of("/endpoints/churn/async-invocations").as_deref(), Some("churn"));
        assert_eq!(endpoint_of("/endpoints/a%20b/async-invocations").as_deref(), Some("a b"));
        for path in
            ["/endpoints/churn/invocations", "/endpoints//async-invocations", "/endpoints/a/b/async-invocations"]
        {
            assert_eq!(endpoint_of(path), None, "{path}");
        }
    }

    #[test]
    fn headers_become_the_request() {
        let new = new_request(
            &headers(&[
                ("x-amzn-sagemaker-inputlocation", "s3://in/x.csv"),
                ("x-amzn-sagemaker-content-type", "text/csv"),
                ("x-amzn-sagemaker-requestttlseconds", "60"),
                ("x-amzn-sagemaker-invocationtimeoutseconds", "3600"),
                ("x-amzn-sagemaker-inference-id", "id-1"),
            ]),
            Bytes::new(),
        )
        .unwrap();
        assert_eq!(new.input_location.as_deref(), Some("s3://in/x.csv"));
        assert_eq!(new.content_type.as_deref(), Some("text/csv"));
        assert_eq!((new.request_ttl_s, new.invocation_timeout_s), (Some(60), Some(3600)));
        assert_eq!(new.inference_id.as_deref(), Some("id-1"));
        let file = new_request(&headers(&[("x-amzn-sagemaker-inputlocation", "file:///tmp/x")]), Bytes::new());
        assert!(file.is_ok());
    }

    #[test]
    fn out_of_range_limits_get_the_models_messages_all_at_once() {
        let err = new_request(
            &headers(&[
                ("x-amzn-sagemaker-inputlocation", "s3://in/x"),
                ("x-amzn-sagemaker-requestttlseconds", "59"),
                ("x-amzn-sagemaker-invocationtimeoutseconds", "3601"),
            ]),
            Bytes::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("2 validation errors detected: "), "{err}");
        assert!(err.contains("'invocationTimeoutSeconds' failed to satisfy constraint: Member must have value less than or equal to 3600"), "{err}");
        assert!(
            err.contains(
                "'requestTTLSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60"
            ),
            "{err}"
        );
        let err = new_request(&headers(&[("x-amzn-sagemaker-inputlocation", "ftp://in/x")]), Bytes::new()).unwrap_err();
        assert!(err.to_string().contains("'inputLocation'"), "{err}");
        let err = new_request(&headers(&[("x-amzn-sagemaker-requestttlseconds", "soon")]), Bytes::new()).unwrap_err();
        assert!(err.to_string().contains("must be an integer"), "{err}");
    }

    #[test]
    fn a_location_and_a_body_together_are_refused() {
        let err = new_request(&headers(&[("x-amzn-sagemaker-inputlocation", "s3://in/x")]), Bytes::from_static(b"x"))
            .unwrap_err();
        assert_eq!(err.to_string(), BOTH_INPUTS);
    }
}
