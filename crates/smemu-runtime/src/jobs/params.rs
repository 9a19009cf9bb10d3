//! A transform job's parameters: the request's members as smemu-batch settings, the environment its
//! containers get, and how the container's `GET /execution-parameters` fills what the job left unset.
//! See <https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-batch-code.html>.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use smemu_batch::{
    AssemblyType, BatchStrategy, CompressionType, DataProcessing, JoinSource, SplitType, TransformPlan,
    TransformSettings,
};
use smemu_types::sagemaker::CreateTransformJobRequest;

use crate::pipeline::ContainerPlan;

/// Without `MaxConcurrentTransforms` from the job or the container: one request at a time.
const DEFAULT_CONCURRENCY: u32 = 1;
/// The most requests in flight per instance: 100 MB in flight at 1 MB each (API_CreateTransformJob).
const MAX_CONCURRENCY: u32 = 100;
/// `MaxPayloadInMB`'s default.
const DEFAULT_PAYLOAD_MB: u32 = smemu_batch::settings::DEFAULT_MAX_PAYLOAD_MB;
/// `ModelClientConfig.InvocationsTimeoutInSeconds`' default.
const DEFAULT_INVOCATION_TIMEOUT_S: u64 = 600;
/// `ModelClientConfig.InvocationsMaxRetries`' default.
const DEFAULT_MAX_RETRIES: u32 = 3;

/// What the job runs with once the job's values, the container's and the defaults are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    pub concurrency: u32,
    pub strategy: BatchStrategy,
    pub payload_mb: u32,
}

impl Resolved {
    /// The line SageMaker writes to a job's log once it knows its parameters.
    pub fn log_line(&self) -> String {
        format!(
            "[sagemaker logs]: MaxConcurrentTransforms={}, MaxPayloadInMB={}, BatchStrategy={}",
            self.concurrency,
            self.payload_mb,
            env_strategy(self.strategy)
        )
    }
}

/// A container's answer to `GET /execution-parameters`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ExecutionParameters {
    #[serde(rename = "MaxConcurrentTransforms")]
    pub max_concurrent_transforms: Option<u32>,
    #[serde(rename = "BatchStrategy")]
    pub batch_strategy: Option<String>,
    #[serde(rename = "MaxPayloadInMB")]
    pub max_payload_in_mb: Option<u32>,
}

impl ExecutionParameters {
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(body)
            .map_err(|err| format!("the answer to GET /execution-parameters is not valid: {err}"))
    }
}

/// Job value, then container answer, then default, member by member.
pub fn resolve(
    request: &CreateTransformJobRequest,
    container: Option<&ExecutionParameters>,
) -> Result<Resolved, String> {
    let container_strategy = match container.and_then(|c| c.batch_strategy.as_deref()) {
        // Containers answer in the environment's spelling; the API's is accepted too.
        Some("MULTI_RECORD" | "MultiRecord") => Some(BatchStrategy::MultiRecord),
        Some("SINGLE_RECORD" | "SingleRecord") => Some(BatchStrategy::SingleRecord),
        Some(other) => {
            return Err(format!(
                "the container's execution parameters name BatchStrategy '{other}'; expected MULTI_RECORD or SINGLE_RECORD"
            ));
        }
        None => None,
    };
    Ok(Resolved {
        concurrency: request
            .max_concurrent_transforms
            .and_then(|n| u32::try_from(n).ok())
            .or(container.and_then(|c| c.max_concurrent_transforms))
            .unwrap_or(DEFAULT_CONCURRENCY)
            // 0 would run nothing; a container's answer is bounded as the request is (ops::transform_jobs).
            .clamp(1, MAX_CONCURRENCY),
        strategy: job_strategy(request)?.or(container_strategy).unwrap_or(BatchStrategy::MultiRecord),
        payload_mb: request
            .max_payload_in_mb
            .and_then(|n| u32::try_from(n).ok())
            .or(container.and_then(|c| c.max_payload_in_mb))
            .unwrap_or(DEFAULT_PAYLOAD_MB),
    })
}

fn job_strategy(request: &CreateTransformJobRequest) -> Result<Option<BatchStrategy>, String> {
    request
        .batch_strategy
        .as_ref()
        .map(|s| s.as_str().parse().map_err(|e: smemu_batch::BatchError| e.to_string()))
        .transpose()
}

fn env_strategy(strategy: BatchStrategy) -> &'static str {
    match strategy {
        BatchStrategy::MultiRecord => "MULTI_RECORD",
        BatchStrategy::SingleRecord => "SINGLE_RECORD",
    }
}

/// The plan for the job's data. With `resolved` unknown yet (at creation), the job's own values or
/// the defaults stand in, which is enough to check the DataProcessing rules up front.
pub fn plan(request: &CreateTransformJobRequest, resolved: Option<Resolved>) -> Result<TransformPlan, String> {
    let resolved = match resolved {
        Some(r) => r,
        None => resolve(request, None)?,
    };
    TransformPlan::new(settings(request, resolved)?).map_err(|err| err.to_string())
}

fn settings(request: &CreateTransformJobRequest, resolved: Resolved) -> Result<TransformSettings, String> {
    fn parse<T: std::str::FromStr<Err = smemu_batch::BatchError> + Default>(value: Option<&str>) -> Result<T, String> {
        value.map_or(Ok(T::default()), |v| v.parse().map_err(|e: smemu_batch::BatchError| e.to_string()))
    }
    let input = request.transform_input.as_ref();
    let output = request.transform_output.as_ref();
    let data_processing = request
        .data_processing
        .as_ref()
        .map(|dp| {
            Ok::<_, String>(DataProcessing {
                input_filter: dp.input_filter.clone().unwrap_or_else(|| "$".into()),
                output_filter: dp.output_filter.clone().unwrap_or_else(|| "$".into()),
                join_source: parse::<JoinSource>(dp.join_source.as_ref().map(|j| j.as_str()))?,
            })
        })
        .transpose()?;
    Ok(TransformSettings {
        split: parse::<SplitType>(input.and_then(|i| i.split_type.as_ref()).map(|s| s.as_str()))?,
        batch_strategy: resolved.strategy,
        max_payload_mb: resolved.payload_mb,
        content_type: input.and_then(|i| i.content_type.clone()),
        accept: output.and_then(|o| o.accept.clone()),
        assemble_with: parse::<AssemblyType>(output.and_then(|o| o.assemble_with.as_ref()).map(|a| a.as_str()))?,
        data_processing,
        compression: parse::<CompressionType>(input.and_then(|i| i.compression_type.as_ref()).map(|c| c.as_str()))?,
    })
}

/// The model's containers with what a transform job adds to every one of them: the job's
/// `Environment`, then `SAGEMAKER_BATCH=true` and the batch variables the job set explicitly
/// (unset ones are left for `/execution-parameters` to decide).
pub fn job_pipeline(model: Vec<ContainerPlan>, request: &CreateTransformJobRequest) -> Vec<ContainerPlan> {
    let mut added: BTreeMap<String, String> = request.environment.clone().unwrap_or_default();
    added.insert("SAGEMAKER_BATCH".into(), "true".into());
    if let Some(mb) = request.max_payload_in_mb {
        added.insert("SAGEMAKER_MAX_PAYLOAD_IN_MB".into(), mb.to_string());
    }
    if let Ok(Some(strategy)) = job_strategy(request) {
        added.insert("SAGEMAKER_BATCH_STRATEGY".into(), env_strategy(strategy).into());
    }
    if let Some(n) = request.max_concurrent_transforms {
        added.insert("SAGEMAKER_MAX_CONCURRENT_TRANSFORMS".into(), n.to_string());
    }
    model
        .into_iter()
        .map(|mut c| {
            c.environment.extend(added.clone());
            c
        })
        .collect()
}

/// `ModelClientConfig`: per-call timeout and retries after the first attempt.
pub fn client_config(request: &CreateTransformJobRequest) -> (Duration, u32) {
    let config = request.model_client_config.as_ref();
    let timeout = config
        .and_then(|c| c.invocations_timeout_in_seconds)
        .and_then(|s| u64::try_from(s).ok())
        .unwrap_or(DEFAULT_INVOCATION_TIMEOUT_S);
    let retries = config
        .and_then(|c| c.invocations_max_retries)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(DEFAULT_MAX_RETRIES);
    (Duration::from_secs(timeout), retries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: serde_json::Value) -> CreateTransformJobRequest {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn the_job_wins_then_the_container_then_the_defaults() {
        let container = ExecutionParameters {
            max_concurrent_transforms: Some(8),
            batch_strategy: Some("SINGLE_RECORD".into()),
            max_payload_in_mb: Some(2),
        };
        let unset = request(serde_json::json!({}));
        assert_eq!(
            resolve(&unset, None).unwrap(),
            Resolved { concurrency: 1, strategy: BatchStrategy::MultiRecord, payload_mb: 6 }
        );
        assert_eq!(
            resolve(&unset, Some(&container)).unwrap(),
            Resolved { concurrency: 8, strategy: BatchStrategy::SingleRecord, payload_mb: 2 }
        );
        let set = request(serde_json::json!({"MaxConcurrentTransforms": 3, "BatchStrategy": "MultiRecord"}));
        assert_eq!(
            resolve(&set, Some(&container)).unwrap(),
            Resolved { concurrency: 3, strategy: BatchStrategy::MultiRecord, payload_mb: 2 }
        );
        let odd = ExecutionParameters { batch_strategy: Some("BATCHES".into()), ..Default::default() };
        assert!(resolve(&unset, Some(&odd)).unwrap_err().contains("'BATCHES'"));
        assert_eq!(
            ExecutionParameters::parse(br#"{"MaxConcurrentTransforms":2}"#).unwrap().max_concurrent_transforms,
            Some(2)
        );
        assert!(ExecutionParameters::parse(b"nope").is_err());
    }

    #[test]
    fn containers_get_the_batch_variables_the_job_set_and_its_environment() {
        let model = vec![ContainerPlan {
            hostname: "primary".into(),
            image: "img".into(),
            environment: BTreeMap::from([("A".into(), "model".into()), ("B".into(), "model".into())]),
            model_data_url: None,
            model_data_prefix: None,
        }];
        let only_strategy = request(serde_json::json!({"BatchStrategy": "SingleRecord", "Environment": {"B": "job"}}));
        let env = &job_pipeline(model.clone(), &only_strategy)[0].environment;
        assert_eq!(env.get("SAGEMAKER_BATCH").map(String::as_str), Some("true"));
        assert_eq!(env.get("SAGEMAKER_BATCH_STRATEGY").map(String::as_str), Some("SINGLE_RECORD"));
        assert_eq!((env.get("A").map(String::as_str), env.get("B").map(String::as_str)), (Some("model"), Some("job")));
        assert!(
            !env.contains_key("SAGEMAKER_MAX_PAYLOAD_IN_MB")
                && !env.contains_key("SAGEMAKER_MAX_CONCURRENT_TRANSFORMS")
        );
        let all = request(serde_json::json!({"MaxPayloadInMB": 1, "MaxConcurrentTransforms": 4}));
        let env = &job_pipeline(model, &all)[0].environment;
        assert_eq!(env.get("SAGEMAKER_MAX_PAYLOAD_IN_MB").map(String::as_str), Some("1"));
        assert_eq!(env.get("SAGEMAKER_MAX_CONCURRENT_TRANSFORMS").map(String::as_str), Some("4"));
    }

    #[test]
    fn data_processing_rules_are_checked_through_smemu_batch() {
        let csv_without_lines = request(serde_json::json!({
            "TransformInput": {"ContentType": "text/csv", "SplitType": "None"},
            "DataProcessing": {"InputFilter": "$[1:]"}
        }));
        assert!(plan(&csv_without_lines, None).unwrap_err().contains("requires SplitType Line"));
        let fine = request(serde_json::json!({
            "TransformInput": {"ContentType": "text/csv", "SplitType": "Line"},
            "TransformOutput": {"AssembleWith": "Line"},
            "DataProcessing": {"InputFilter": "$[1:]", "JoinSource": "Input"}
        }));
        let planned = plan(&fine, None).unwrap();
        assert!(planned.processes_output());
        assert_eq!(planned.settings().split, SplitType::Line);
        let defaults = client_config(&request(serde_json::json!({})));
        assert_eq!(defaults, (Duration::from_secs(600), 3));
        let set = request(
            serde_json::json!({"ModelClientConfig": {"InvocationsTimeoutInSeconds": 5, "InvocationsMaxRetries": 0}}),
        );
        assert_eq!(client_config(&set), (Duration::from_secs(5), 0));
    }
}
