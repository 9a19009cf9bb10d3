//! InvokeEndpoint: pick a variant and an instance, then relay the request through the pipeline.
//!
//! Serial mode (SageMaker's inference pipelines, `Relay::through`): container 1 gets the caller's
//! request, each 2xx answer becomes the next container's request with its content type, the last
//! answer goes back. Direct mode: only the container the caller names is called.

pub mod batch;
mod error;
pub mod relay;
pub mod stream;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderValue;

pub use error::{InvokeError, LogLocation};
use relay::{Hop, PipelineError, PipelineRequest, Relay, micros};
use smemu_telemetry::metrics::Outcome;

use crate::routing::{InFlight, LiveEndpoint, LiveVariant};

/// The header that carries `CustomAttributes` to containers and back.
pub const CUSTOM_ATTRIBUTES: &str = "x-amzn-sagemaker-custom-attributes";
/// The largest request body, and the largest answer a pipeline container may pass on (6 MB).
pub const MAX_PAYLOAD: usize = 6 * 1024 * 1024;
/// How long an invocation may take, whatever the pipeline's length (SageMaker's 60 s).
pub const INVOCATION_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Invocation {
    pub body: Bytes,
    pub content_type: Option<HeaderValue>,
    pub accept: Option<HeaderValue>,
    pub custom_attributes: Option<HeaderValue>,
    pub target_variant: Option<String>,
    pub target_container: Option<String>,
    pub inference_id: Option<HeaderValue>,
    /// When smemu received the request: `OverheadLatency` is measured from here.
    pub received: Instant,
}

#[derive(Debug)]
pub struct Invoked {
    pub body: Bytes,
    pub content_type: Option<HeaderValue>,
    pub custom_attributes: Option<HeaderValue>,
    pub variant: String,
}

/// Where one invocation goes: the variant, its containers to call in order (one in Direct mode),
/// and the instance's in-flight count held until the route is dropped.
pub(crate) struct Route<'a> {
    pub variant: &'a LiveVariant,
    pub hops: Vec<Hop<'a>>,
    _in_flight: InFlight,
}

/// Picks the variant (the one asked for, or by weight), the least busy instance and the
/// containers to call, refusing what InvokeEndpoint refuses.
pub(crate) fn route<'a>(
    live: &'a LiveEndpoint,
    logs: &LogLocation<'_>,
    request: &Invocation,
) -> Result<Route<'a>, InvokeError> {
    let variant = match &request.target_variant {
        Some(name) => live
            .variant(name)
            .ok_or_else(|| InvokeError::UnknownVariant { variant: name.clone(), endpoint: logs.endpoint.to_owned() })?,
        // One variant needs no dice (it is still refused when its weight is 0).
        None => live
            .pick_variant(if live.variants.len() == 1 { 0.0 } else { rand::random::<f64>() })
            .ok_or_else(|| InvokeError::NoRoutableVariant { endpoint: logs.endpoint.to_owned() })?,
    }
    .fleet_for_call();
    let instance =
        variant.least_busy().ok_or_else(|| logs.unreachable(variant.who.first().map_or("primary", String::as_str)))?;
    let in_flight = instance.begin();

    let hop = |index: usize| Hop {
        who: variant.who.get(index).map_or("primary", String::as_str),
        addr: instance.containers[index].1,
        latency: variant.container_latency.get(index).map(|latency| &**latency),
    };
    let hops: Vec<Hop<'_>> = if variant.direct {
        let hostname = request
            .target_container
            .as_deref()
            .ok_or_else(|| InvokeError::TargetContainerRequired { endpoint: logs.endpoint.to_owned() })?;
        let index = instance.containers.iter().position(|(name, _)| name == hostname).ok_or_else(|| {
            InvokeError::UnknownTargetContainer { hostname: hostname.to_owned(), endpoint: logs.endpoint.to_owned() }
        })?;
        vec![hop(index)]
    } else {
        if request.target_container.is_some() {
            return Err(InvokeError::TargetContainerNotAllowed { endpoint: logs.endpoint.to_owned() });
        }
        (0..instance.containers.len()).map(hop).collect()
    };
    Ok(Route { variant, hops, _in_flight: in_flight })
}

/// The headers sent to every container besides those of the pipeline request.
fn extra_headers(request: &Invocation) -> Vec<(&'static str, HeaderValue)> {
    request.inference_id.iter().map(|id| ("x-amzn-sagemaker-inference-id", id.clone())).collect()
}

/// How a failed pipeline counts in the metrics.
fn outcome_of(err: &PipelineError) -> Outcome {
    match err {
        PipelineError::Status { status, .. } if (400..500).contains(status) => Outcome::Error4xx,
        _ => Outcome::Error5xx,
    }
}

/// A failed pipeline as the caller sees it: a `ModelError`.
fn model_error(logs: &LogLocation<'_>, err: PipelineError) -> InvokeError {
    match err {
        PipelineError::Timeout { who, .. } => logs.timeout(&who),
        PipelineError::Unreachable { who, .. } => logs.unreachable(&who),
        PipelineError::Status { who, status, body } => {
            logs.container_error(status, &who, &String::from_utf8_lossy(&body))
        }
        PipelineError::TooLarge { from, to, size, max } => logs.intermediate_too_large(&from, &to, size, max),
    }
}

pub async fn invoke(
    relay: &Relay,
    live: &LiveEndpoint,
    logs: &LogLocation<'_>,
    request: Invocation,
    timeout: Duration,
) -> Result<Invoked, InvokeError> {
    let Route { variant, hops, _in_flight } = route(live, logs, &request)?;
    let extra = extra_headers(&request);
    let received = request.received;
    let model_started = Instant::now();
    let reply = relay
        .through(
            &hops,
            PipelineRequest {
                body: request.body,
                content_type: request.content_type,
                accept: request.accept.as_ref(),
                custom_attributes: request.custom_attributes.as_ref(),
                extra_headers: &extra,
                max_intermediate: Some(MAX_PAYLOAD),
                timeout,
            },
        )
        .await;
    // ModelLatency: the time the model took "as viewed from SageMaker", through every container;
    // OverheadLatency: from receiving the request until answering, minus ModelLatency
    // (https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html).
    let done = Instant::now();
    let model = micros(done.saturating_duration_since(model_started));
    let outcome = reply.as_ref().map_or_else(outcome_of, |_| Outcome::Ok);
    variant.metrics.record(model, micros(done.saturating_duration_since(received)).saturating_sub(model), outcome);
    let reply = reply.map_err(|err| model_error(logs, err))?;
    let (body, content_type, custom_attributes) = (reply.body, reply.content_type, reply.custom_attributes);
    Ok(Invoked { body, content_type, custom_attributes, variant: variant.name.clone() })
}
