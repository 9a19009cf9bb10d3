//! The endpoint document kept in the store: which config an endpoint runs, the fleets it runs
//! (resolved copies of config and models, so that deleting either leaves the endpoint running, as in
//! SageMaker), and why it last failed.

use serde::{Deserialize, Serialize};
use smemu_types::sagemaker::{AsyncInferenceConfig, CreateEndpointConfigInput, CreateModelInput, DataCaptureConfig};

use crate::pipeline::{ContainerPlan, is_direct, pipeline_of};

/// `endpoints.state` (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_deployment_config: Option<serde_json::Value>,
    /// The fleet that serves (or, while `Creating`, the one being brought up).
    pub current: Fleet,
    /// The fleet `UpdateEndpoint` is bringing up; traffic moves to it once it is healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Fleet>,
    /// How far the deployment of `pending` has gone (absent before it starts and in documents of
    /// an older smemu): stored at each step, so that a restart goes on from there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
}

/// The progress of one UpdateEndpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    pub started_ms: i64,
    pub phase: Phase,
    /// The step of traffic the new fleet has reached (its share: `policy::Routing::shares`).
    pub step: u32,
    pub step_started_ms: i64,
    /// Why the deployment rolls back (the endpoint's FailureReason once it has).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where a deployment is: the new fleet coming up, traffic moving to it, a step baking, or the
/// way back to the old fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    Creating,
    ActivatingTraffic,
    Baking,
    RollingBack,
}

impl Rollout {
    pub fn new(now_ms: i64) -> Rollout {
        Rollout { started_ms: now_ms, phase: Phase::Creating, step: 0, step_started_ms: now_ms, reason: None }
    }
}

/// One deployment of an endpoint configuration: its variants and their instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fleet {
    /// Labels the containers of this fleet (`smemu.generation`), so that a restart can tell fleets apart.
    pub id: String,
    pub config_name: String,
    pub started_ms: i64,
    pub variants: Vec<VariantPlan>,
    /// The config's `DataCaptureConfig`, as given (absent in documents of an older smemu).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_capture: Option<DataCaptureConfig>,
    /// The config's `AsyncInferenceConfig` (NotificationConfig included: kept and reported, nothing
    /// is sent): such an endpoint is invoked with InvokeEndpointAsync only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub async_inference: Option<AsyncInferenceConfig>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantPlan {
    pub name: String,
    pub model_name: String,
    pub containers: Vec<ContainerPlan>,
    /// `InferenceExecutionConfig.Mode = Direct`: the caller picks one container by hostname.
    pub direct: bool,
    pub instance_type: Option<String>,
    pub desired_instances: i32,
    pub current_instances: i32,
    pub desired_weight: f64,
    pub current_weight: f64,
    pub startup_timeout_s: u64,
    #[serde(default)]
    pub deployed_images: Vec<DeployedImageDoc>,
    /// `ServerlessConfig`: run as one local instance (rolling deployments exclude it).
    #[serde(default)]
    pub serverless: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployedImageDoc {
    pub specified: String,
    pub resolved: String,
    pub resolution_ms: i64,
}

impl EndpointDoc {
    /// The instances this endpoint runs or is bringing up, as the instance quota counts them: its
    /// current fleet and, while an UpdateEndpoint brings a new fleet up beside it, that one too.
    /// A `Failed` endpoint runs none (its containers are removed); callers leave those out.
    pub fn instances(&self) -> u64 {
        self.current.instances().saturating_add(self.pending.as_ref().map_or(0, Fleet::instances))
    }
}

impl Fleet {
    pub fn variant(&self, name: &str) -> Option<&VariantPlan> {
        self.variants.iter().find(|v| v.name == name)
    }

    /// Every variant's instances (see [`VariantPlan::instances`]).
    pub fn instances(&self) -> u64 {
        self.variants.iter().fold(0, |sum, v| sum.saturating_add(v.instances()))
    }
}

impl VariantPlan {
    /// The instances of this variant while it runs or rescales: the larger of what runs and what is
    /// wanted (UpdateEndpointWeightsAndCapacities adds instances before it removes any). Counts stored
    /// by an older smemu may be anything: negative ones count as none.
    pub fn instances(&self) -> u64 {
        let count = |n: i32| u64::try_from(n).unwrap_or(0);
        count(self.desired_instances).max(count(self.current_instances))
    }

    /// "primary" for a single container, the hostname in a pipeline: how SageMaker names a
    /// container in failure reasons and `ModelError` messages.
    pub fn who(&self, index: usize) -> &str {
        if self.containers.len() == 1 { "primary" } else { &self.containers[index].hostname }
    }
}

/// Without `ContainerStartupHealthCheckTimeoutInSeconds`, SageMaker waits this long for `/ping`.
const DEFAULT_STARTUP_TIMEOUT_S: u64 = 240;

impl Fleet {
    /// The fleet that deploys an endpoint configuration: `models` are the variants' models, in the
    /// config's variant order. A copy: later deletes of the config or models do not touch it.
    pub fn resolve(config_name: &str, config: &CreateEndpointConfigInput, models: &[CreateModelInput]) -> Fleet {
        let variants = config
            .production_variants
            .iter()
            .flatten()
            .zip(models)
            .map(|(variant, model)| VariantPlan {
                name: variant.variant_name.clone().unwrap_or_default(),
                model_name: variant.model_name.clone().unwrap_or_default(),
                containers: pipeline_of(model),
                direct: is_direct(model),
                instance_type: variant.instance_type.as_ref().map(|t| t.as_str().to_owned()),
                // A serverless variant runs as one local instance.
                desired_instances: if variant.serverless_config.is_some() {
                    1
                } else {
                    variant.initial_instance_count.unwrap_or(1)
                },
                current_instances: 0,
                desired_weight: variant.initial_variant_weight.unwrap_or(1.0),
                current_weight: 0.0,
                startup_timeout_s: variant
                    .container_startup_health_check_timeout_in_seconds
                    .and_then(|s| u64::try_from(s).ok())
                    .unwrap_or(DEFAULT_STARTUP_TIMEOUT_S),
                deployed_images: Vec::new(),
                serverless: variant.serverless_config.is_some(),
            })
            .collect();
        Fleet {
            id: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
            config_name: config_name.to_owned(),
            started_ms: crate::clock::now_ms(),
            variants,
            data_capture: config.data_capture_config.clone(),
            async_inference: config.async_inference_config.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(desired: i32, current: i32) -> VariantPlan {
        VariantPlan {
            name: "v".into(),
            model_name: "m".into(),
            containers: Vec::new(),
            direct: false,
            instance_type: None,
            desired_instances: desired,
            current_instances: current,
            desired_weight: 1.0,
            current_weight: 1.0,
            startup_timeout_s: 1,
            deployed_images: Vec::new(),
            serverless: false,
        }
    }

    fn fleet(variants: Vec<VariantPlan>) -> Fleet {
        Fleet {
            id: "f".into(),
            config_name: "c".into(),
            started_ms: 0,
            variants,
            data_capture: None,
            async_inference: None,
        }
    }

    #[test]
    fn a_variant_counts_the_larger_of_desired_and_running_and_never_below_zero() {
        assert_eq!(variant(3, 1).instances(), 3);
        assert_eq!(variant(1, 3).instances(), 3);
        assert_eq!(variant(-5, -1).instances(), 0);
    }

    #[test]
    fn an_update_counts_both_fleets_and_huge_counts_do_not_overflow() {
        let doc = EndpointDoc {
            failure_reason: None,
            last_deployment_config: None,
            current: fleet(vec![variant(2, 2), variant(1, 0)]),
            pending: Some(fleet(vec![variant(4, 0)])),
            rollout: None,
        };
        assert_eq!(doc.instances(), 7);
        let huge = fleet((0..10).map(|_| variant(i32::MAX, i32::MAX)).collect());
        assert_eq!(huge.instances(), 10 * u64::try_from(i32::MAX).unwrap());
    }
}
