//! The runtime's (InvokeEndpoint's) errors, with the real service's codes, statuses and texts.
//! See <https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html>.

use smemu_types::sagemaker::EndpointStatus;

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("Endpoint {endpoint} of account {account} not found.")]
    EndpointNotFound { endpoint: String, account: String },
    #[error("Endpoint {endpoint} of account {account} is not in service (status {status}).")]
    NotInService { endpoint: String, account: String, status: EndpointStatus },
    #[error("The variant {variant} is not present within endpoint {endpoint}.")]
    UnknownVariant { variant: String, endpoint: String },
    #[error("No variant of endpoint {endpoint} has a weight above zero, so none can receive traffic.")]
    NoRoutableVariant { endpoint: String },
    #[error(
        "The endpoint {endpoint} uses the Direct inference execution mode: specify the container with the header X-Amzn-SageMaker-Target-Container-Hostname."
    )]
    TargetContainerRequired { endpoint: String },
    #[error("The target container hostname {hostname} is not present within endpoint {endpoint}.")]
    UnknownTargetContainer { hostname: String, endpoint: String },
    #[error(
        "The endpoint {endpoint} runs its containers in Serial mode: X-Amzn-SageMaker-Target-Container-Hostname is only allowed for Direct mode."
    )]
    TargetContainerNotAllowed { endpoint: String },
    /// The real service's Coral text for an oversized body.
    #[error(
        "1 validation error detected: Value at 'body' failed to satisfy constraint: Member must have length less than or equal to {max}"
    )]
    PayloadTooLarge { max: usize },
    #[error("{0}")]
    InvalidHeader(String),
    /// The bodies all connections hold would pass `--max-buffered-bytes`. InvokeEndpoint's model
    /// lists no throttling error, but the service answers a throttled call with the common
    /// `ThrottlingException` and this text, which the SDKs retry with backoff.
    #[error("Rate exceeded")]
    Throttled,
    /// InvokeEndpointAsync on an endpoint whose config has no `AsyncInferenceConfig`.
    #[error("Endpoint {endpoint} of account {account} is not an asynchronous inference endpoint.")]
    NotAsyncEndpoint { endpoint: String, account: String },
    /// InvokeEndpoint (or its streaming form) on an endpoint whose config has `AsyncInferenceConfig`.
    #[error(
        "Endpoint {endpoint} of account {account} is an asynchronous inference endpoint: invoke it with InvokeEndpointAsync."
    )]
    AsyncEndpoint { endpoint: String, account: String },
    /// The endpoint already has `--max-async-queued` requests queued. The service's queue has no
    /// documented bound; a full one is answered as a throttled call, which the SDKs retry.
    #[error("Too many requests are queued for endpoint {endpoint} (at most {max}); retry later.")]
    AsyncQueueFull { endpoint: String, max: u64 },
    /// smemu could not keep the request (its state store failed).
    #[error("{0}")]
    Internal(String),
    /// A container answered non-2xx, timed out (`status` 0), or sent on too much data.
    #[error("{message}")]
    Model { status: u16, server_side: bool, message: String, original_message: String, log_group: String },
}

/// Where SageMaker would keep the endpoint's logs (named in `ModelError`).
pub struct LogLocation<'a> {
    pub region: &'a str,
    pub account: &'a str,
    pub endpoint: &'a str,
}

impl LogLocation<'_> {
    pub fn group(&self) -> String {
        format!("/aws/sagemaker/Endpoints/{}", self.endpoint)
    }

    pub fn stream_arn(&self) -> String {
        format!("arn:aws:logs:{}:{}:log-group:{}", self.region, self.account, self.group())
    }

    fn see(&self) -> String {
        format!(
            "See https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:group={group} in account {account} for more information.",
            region = self.region,
            group = self.group(),
            account = self.account
        )
    }

    /// A container answered `status` (real text for 4xx; 5xx by analogy).
    pub fn container_error(&self, status: u16, who: &str, body: &str) -> InvokeError {
        let server_side = status >= 500;
        let kind = if server_side { "server" } else { "client" };
        InvokeError::Model {
            status,
            server_side,
            message: format!("Received {kind} error ({status}) from {who} with message \"{body}\". {}", self.see()),
            original_message: body.to_owned(),
            log_group: self.stream_arn(),
        }
    }

    /// A container took longer than the invocation timeout (real text).
    pub fn timeout(&self, who: &str) -> InvokeError {
        self.without_answer(
            who,
            format!(
                "Your invocation timed out while waiting for a response from container {who}. Review the latency metrics for each container in Amazon CloudWatch, resolve the issue, and try again."
            ),
        )
    }

    /// A container could not be reached at all (real text).
    pub fn unreachable(&self, who: &str) -> InvokeError {
        self.without_answer(
            who,
            format!(
                "Amazon SageMaker could not get a response from the {} endpoint. This can occur when CPU or memory utilization is high. To check your utilization, see Amazon CloudWatch. To fix this problem, use an instance type with more CPU capacity or memory.",
                self.endpoint
            ),
        )
    }

    /// A pipeline container answered with more than the payload limit for the next one.
    pub fn intermediate_too_large(&self, from: &str, to: &str, size: usize, max: usize) -> InvokeError {
        self.without_answer(
            from,
            format!(
                "The response of container {from} ({size} bytes) exceeds the {max}-byte payload limit for the request to container {to}."
            ),
        )
    }

    /// A `ModelError` with status 0: the container gave no usable answer (SageMaker's form).
    fn without_answer(&self, who: &str, inner: String) -> InvokeError {
        InvokeError::Model {
            status: 0,
            server_side: true,
            message: format!("Received server error (0) from {who} with message \"{inner}\". {}", self.see()),
            original_message: inner,
            log_group: self.stream_arn(),
        }
    }
}
