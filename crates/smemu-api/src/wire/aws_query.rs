//! CloudWatch's query protocol: `POST /` with `Content-Type: application/x-www-form-urlencoded`
//! and `Action=<Op>&Version=2010-08-01&...` (or the same parameters in a `GET /?...`), answered in XML
//! (https://smithy.io/2.0/aws/protocols/aws-query-protocol.html). What older clients send
//! (`wire/cloudwatch.rs` says which client sends which protocol).

use std::time::Instant;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, StatusCode};
use hyper::body::Incoming;
use smemu_http1::MinRate;
use smemu_types::cloudwatch::Operation;

use super::cloudwatch::{self, Codec};
use super::json_rpc::read_body;
use super::query::{self, Params};
use super::sigv4::Received;
use super::{compressed, identity, render};
use crate::{ApiError, AppState, RequestContext};

/// CloudWatch's XML namespace (the model's `xmlNamespace`), on every answer's root element.
const XMLNS: &str = "http://monitoring.amazonaws.com/doc/2010-08-01/";
/// CloudWatch's SigV4 signing name.
const SIGNING_NAME: &str = "monitoring";
const FORM: &str = "application/x-www-form-urlencoded";

/// Whether a request is a query-protocol one: `POST /` with a form body and no `X-Amz-Target`
/// (which the JSON protocols always carry), or the older `GET /?Action=...` with the parameters in
/// the URL (boto 2 read CloudWatch so).
pub(super) fn claims<B>(request: &Request<B>) -> bool {
    if request.uri().path() != "/" || request.headers().contains_key("x-amz-target") {
        return false;
    }
    if request.method() == http::Method::GET {
        let query = request.uri().query().unwrap_or("");
        return query.starts_with("Action=") || query.contains("&Action=");
    }
    let form = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with(FORM));
    request.method() == http::Method::POST && form
}

pub(super) async fn handle(state: &AppState, request: Request<MinRate<Incoming>>) -> Response {
    let started = Instant::now();
    let request_id = render::request_id();
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;
    let mut action = None;
    let result: Result<_, (Option<StatusCode>, ApiError)> = async {
        let raw = read_body(headers, Body::new(body)).await.map_err(|(status, err)| (Some(status), err))?;
        let target = parts.uri.path_and_query().map_or("/", |target| target.as_str());
        let received = Received { method: parts.method.as_str(), target, headers, body: &raw };
        let scope = identity::identify_as(&state.config, SIGNING_NAME, &received).map_err(|err| (None, err.into()))?;
        let form = match parts.method {
            http::Method::GET => bytes::Bytes::copy_from_slice(parts.uri.query().unwrap_or("").as_bytes()),
            _ => compressed::decoded(headers, raw).map_err(|(status, err)| (Some(status), err))?,
        };
        let mut params = Params::parse(&form).map_err(|err| (None, err.into()))?;
        let name = params.take("Action").ok_or((None, ApiError::query_missing_action()))?;
        // `Version` names the API version; CloudWatch has had one (2010-08-01), so it is not checked.
        params.take("Version");
        let op = Operation::from_name(&name).ok_or_else(|| (None, ApiError::query_invalid_action(&name)))?;
        action = Some(op);
        let ctx = RequestContext { scope, request_id: request_id.clone() };
        let result = cloudwatch::dispatch::<Query>(state, &ctx, op, &params).await.map_err(|err| (None, err))?;
        Ok((op, result))
    }
    .await;
    let response = match result {
        Ok((op, result)) => success(op, result.as_deref(), &request_id),
        Err((status, err)) => {
            if let ApiError::Internal(source) = &err {
                tracing::error!(request_id = %request_id, error = %source, "internal error");
            }
            error(status, &err, &request_id)
        }
    };
    tracing::info!(
        request_id = %request_id,
        operation = action.map_or("-", |op| op.name()),
        protocol = "query",
        status = response.status().as_u16(),
        latency_us = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

struct Query;

impl Codec for Query {
    type Request<'a> = &'a Params;
    /// The output's members as XML elements.
    type Encoded = String;

    fn decode<I: serde::de::DeserializeOwned>(params: &Params) -> Result<I, ApiError> {
        query::from_params(params).map_err(ApiError::from)
    }

    fn encode<O: serde::Serialize>(output: &O) -> Result<String, ApiError> {
        query::to_xml(output).map_err(ApiError::internal)
    }
}

fn xml_response(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut response = (status, [(CONTENT_TYPE, "text/xml")], body).into_response();
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-amzn-requestid", value);
    }
    response
}

/// `<OpResponse xmlns=…><OpResult>members</OpResult><ResponseMetadata><RequestId>…` (no result
/// element for an operation without output).
fn success(op: Operation, members: Option<&str>, request_id: &str) -> Response {
    let name = op.name();
    let result = members.map(|members| format!("<{name}Result>{members}</{name}Result>")).unwrap_or_default();
    let body = format!(
        "<{name}Response xmlns=\"{XMLNS}\">{result}<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{name}Response>",
        query::escape(request_id)
    );
    xml_response(StatusCode::OK, body, request_id)
}

/// `<ErrorResponse><Error><Type>Sender</Type><Code>…</Code><Message>…</Message></Error><RequestId>…`
/// with the error's status (400 for the sender's errors, 500 for smemu's).
fn error(status: Option<StatusCode>, err: &ApiError, request_id: &str) -> Response {
    let described = cloudwatch::describe(err);
    let body = format!(
        "<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>{}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
        described.fault,
        query::escape(described.code),
        query::escape(described.message),
        query::escape(request_id)
    );
    xml_response(status.unwrap_or(described.status), body, request_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(content_type: &str, target: Option<&str>) -> Request<()> {
        let mut builder = Request::post("/").header(CONTENT_TYPE, content_type);
        if let Some(target) = target {
            builder = builder.header("x-amz-target", target);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn only_form_posts_to_the_root_without_a_target_are_claimed() {
        assert!(claims(&request("application/x-www-form-urlencoded; charset=utf-8", None)));
        assert!(!claims(&request("application/x-amz-json-1.0", None)));
        assert!(!claims(&request(FORM, Some("GraniteServiceVersion20100801.ListMetrics"))));
        assert!(claims(&Request::get("/?Version=2010-08-01&Action=ListMetrics").body(()).unwrap()));
        assert!(!claims(&Request::get("/?Version=2010-08-01").body(()).unwrap()));
        assert!(!claims(&Request::get("/metrics?Action=ListMetrics").body(()).unwrap()));
    }
}
