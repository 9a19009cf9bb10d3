//! `DeploymentConfig` as the controller runs it: checked against the fleet it deploys (the rules of
//! the developer guide's deployment-guardrails pages and the API reference), then read as the steps
//! of one deployment: the share of traffic the new fleet takes at each step, the waits, the timeout
//! and the alarms that roll it back.

use smemu_types::sagemaker::{CapacitySize, CapacitySizeType, DeploymentConfig, TrafficRoutingConfigType};

use super::plan::{EndpointDoc, Fleet};

/// `MaximumExecutionTimeoutInSeconds` when the policy gives none: the largest the API allows.
pub const DEFAULT_TIMEOUT_S: u64 = 28_800;

/// How one UpdateEndpoint moves from the old fleet to the new.
#[derive(Debug, Clone, PartialEq)]
pub struct Guardrails {
    pub update: Update,
    /// `AutoRollbackConfiguration.Alarms`: any of them in ALARM while traffic moves or bakes rolls back.
    pub alarms: Vec<String>,
    /// `MaximumExecutionTimeoutInSeconds` (or [`DEFAULT_TIMEOUT_S`]).
    pub timeout_s: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// `BlueGreenUpdatePolicy` (or none: all at once, no bake).
    BlueGreen { routing: Routing, wait_s: u64, termination_wait_s: u64 },
    /// `RollingUpdatePolicy`: instances replaced in batches.
    Rolling { batch: Size, rollback_batch: Option<Size>, wait_s: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Routing {
    AllAtOnce,
    Canary(Size),
    Linear(Size),
}

/// A `CapacitySize`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Size {
    Instances(u32),
    Percent(u32),
}

impl Size {
    fn of(size: &CapacitySize) -> Size {
        let value = u32::try_from(size.value.unwrap_or(1)).unwrap_or(1).max(1);
        match size.r#type {
            Some(CapacitySizeType::CapacityPercent) => Size::Percent(value),
            _ => Size::Instances(value),
        }
    }

    /// The part of `count` instances this size is.
    pub fn fraction(self, count: u32) -> f64 {
        match self {
            Size::Instances(n) => f64::from(n) / f64::from(count.max(1)),
            Size::Percent(p) => f64::from(p) / 100.0,
        }
    }

    /// How many of `count` instances this size is: at least one, at most all.
    pub fn instances(self, count: u32) -> u32 {
        let n = match self {
            Size::Instances(n) => n,
            Size::Percent(p) => (u64::from(count) * u64::from(p)).div_ceil(100).try_into().unwrap_or(u32::MAX),
        };
        n.clamp(1, count.max(1))
    }
}

fn seconds(value: Option<i32>) -> u64 {
    value.and_then(|v| u64::try_from(v).ok()).unwrap_or(0)
}

impl Guardrails {
    /// The guardrails of a stored `DeploymentConfig` (none: all at once). The config was checked
    /// when it was given; what cannot be read falls back to all at once, as the service does for
    /// endpoints excluded from guardrails.
    pub fn of(config: Option<&DeploymentConfig>) -> Guardrails {
        let alarms = config
            .and_then(|c| c.auto_rollback_configuration.as_ref())
            .and_then(|a| a.alarms.as_ref())
            .map(|alarms| alarms.iter().filter_map(|a| a.alarm_name.clone()).collect())
            .unwrap_or_default();
        let all_at_once = Update::BlueGreen { routing: Routing::AllAtOnce, wait_s: 0, termination_wait_s: 0 };
        let Some(config) = config else {
            return Guardrails { update: all_at_once, alarms, timeout_s: DEFAULT_TIMEOUT_S };
        };
        if let Some(rolling) = &config.rolling_update_policy {
            return Guardrails {
                update: Update::Rolling {
                    batch: rolling.maximum_batch_size.as_ref().map_or(Size::Instances(1), Size::of),
                    rollback_batch: rolling.rollback_maximum_batch_size.as_ref().map(Size::of),
                    wait_s: seconds(rolling.wait_interval_in_seconds),
                },
                alarms,
                timeout_s: timeout(rolling.maximum_execution_timeout_in_seconds),
            };
        }
        let Some(blue_green) = &config.blue_green_update_policy else {
            return Guardrails { update: all_at_once, alarms, timeout_s: DEFAULT_TIMEOUT_S };
        };
        let traffic = blue_green.traffic_routing_configuration.clone().unwrap_or_default();
        let routing = match traffic.r#type {
            Some(TrafficRoutingConfigType::Canary) => {
                traffic.canary_size.as_ref().map_or(Routing::AllAtOnce, |s| Routing::Canary(Size::of(s)))
            }
            Some(TrafficRoutingConfigType::Linear) => {
                traffic.linear_step_size.as_ref().map_or(Routing::AllAtOnce, |s| Routing::Linear(Size::of(s)))
            }
            _ => Routing::AllAtOnce,
        };
        Guardrails {
            update: Update::BlueGreen {
                routing,
                wait_s: seconds(traffic.wait_interval_in_seconds),
                termination_wait_s: seconds(blue_green.termination_wait_in_seconds),
            },
            alarms,
            timeout_s: timeout(blue_green.maximum_execution_timeout_in_seconds),
        }
    }

    /// The guardrails of an endpoint's stored deployment config (`LastDeploymentConfig`).
    pub fn of_doc(doc: &EndpointDoc) -> Guardrails {
        let config: Option<DeploymentConfig> =
            doc.last_deployment_config.clone().and_then(|value| serde_json::from_value(value).ok());
        Guardrails::of(config.as_ref())
    }

    /// The routing of traffic (a rolling update moves it with its batches: see `rollout`).
    pub fn routing(&self) -> Routing {
        match self.update {
            Update::BlueGreen { routing, .. } => routing,
            Update::Rolling { batch, .. } => Routing::Linear(batch),
        }
    }

    /// The share of variant `name`'s calls the new fleet `green` takes at `step`.
    pub fn share(&self, green: &Fleet, name: &str, step: u32) -> f64 {
        let count = green.variant(name).map_or(1, |v| u32::try_from(v.desired_instances).unwrap_or(1));
        let shares = self.routing().shares(count);
        let index = usize::try_from(step).unwrap_or(usize::MAX).min(shares.len() - 1);
        shares[index]
    }

    /// How many steps of traffic the deployment of `green` takes (the variant with most).
    pub fn steps(&self, green: &Fleet) -> u32 {
        let most = green
            .variants
            .iter()
            .map(|v| self.routing().shares(u32::try_from(v.desired_instances).unwrap_or(1)).len())
            .max()
            .unwrap_or(1);
        u32::try_from(most).unwrap_or(1)
    }

    /// How long each step of traffic (or each rolling batch) bakes.
    pub fn wait_s(&self) -> u64 {
        match self.update {
            Update::BlueGreen { wait_s, .. } | Update::Rolling { wait_s, .. } => wait_s,
        }
    }

    /// Whether traffic moves step by step within each variant (canary, linear, rolling) rather
    /// than all at once from one fleet to the other.
    pub fn stepped(&self) -> bool {
        !matches!(self.update, Update::BlueGreen { routing: Routing::AllAtOnce, .. })
    }
}

fn timeout(value: Option<i32>) -> u64 {
    value.and_then(|v| u64::try_from(v).ok()).unwrap_or(DEFAULT_TIMEOUT_S)
}

impl Routing {
    /// The steps of traffic a variant of `count` instances goes through, each the share the new
    /// fleet takes; the last is all of it.
    pub fn shares(self, count: u32) -> Vec<f64> {
        match self {
            Routing::AllAtOnce => vec![1.0],
            Routing::Canary(size) => vec![size.fraction(count).min(1.0), 1.0],
            Routing::Linear(size) => {
                let step = size.fraction(count).clamp(0.01, 1.0);
                let mut shares = Vec::new();
                let mut share = step;
                // At most 100 steps whatever the size (the rules allow at most 10).
                while share < 0.999_999 && shares.len() < 100 {
                    shares.push(share);
                    share += step;
                }
                shares.push(1.0);
                shares
            }
        }
    }
}

/// Why a `DeploymentConfig` is refused: a `ValidationException` with this message.
pub type Refusal = String;

/// Checks a `DeploymentConfig` against the fleet it will deploy (`new`) and, for UpdateEndpoint,
/// the fleet that serves now (`old`).
pub fn check(config: &DeploymentConfig, new: &Fleet, old: Option<&Fleet>) -> Result<(), Refusal> {
    if config.blue_green_update_policy.is_some() && config.rolling_update_policy.is_some() {
        return Err("Only one update policy, BlueGreenUpdatePolicy or RollingUpdatePolicy, can be specified in the DeploymentConfig.".into());
    }
    let counts: Vec<(&str, u32)> =
        new.variants.iter().map(|v| (v.name.as_str(), u32::try_from(v.desired_instances).unwrap_or(0))).collect();
    let mut guarded = false;
    if let Some(blue_green) = &config.blue_green_update_policy {
        let traffic = blue_green.traffic_routing_configuration.clone().unwrap_or_default();
        let wait = seconds(traffic.wait_interval_in_seconds);
        let termination = seconds(blue_green.termination_wait_in_seconds);
        if let Some(limit) = blue_green.maximum_execution_timeout_in_seconds.and_then(|v| u64::try_from(v).ok())
            && limit <= wait.saturating_add(termination)
        {
            return Err(format!(
                "MaximumExecutionTimeoutInSeconds ({limit}) must be larger than the total waiting time specified in TerminationWaitInSeconds ({termination}) and WaitIntervalInSeconds ({wait})."
            ));
        }
        match traffic.r#type {
            Some(TrafficRoutingConfigType::Canary) => {
                guarded = true;
                if traffic.linear_step_size.is_some() {
                    return Err("LinearStepSize is only valid for the LINEAR traffic routing type.".into());
                }
                let size = traffic
                    .canary_size
                    .as_ref()
                    .ok_or("CanarySize must be specified for the CANARY traffic routing type.")?;
                for (variant, count) in &counts {
                    if Size::of(size).fraction(*count) > 0.5 {
                        return Err(format!(
                            "CanarySize must be less than or equal to 50% of the variant's total instance count: variant {variant} has {count} instances."
                        ));
                    }
                }
            }
            Some(TrafficRoutingConfigType::Linear) => {
                guarded = true;
                if traffic.canary_size.is_some() {
                    return Err("CanarySize is only valid for the CANARY traffic routing type.".into());
                }
                let size = traffic
                    .linear_step_size
                    .as_ref()
                    .ok_or("LinearStepSize must be specified for the LINEAR traffic routing type.")?;
                for (variant, count) in &counts {
                    let part = Size::of(size).fraction(*count);
                    if !(0.1..=0.5).contains(&part) {
                        return Err(format!(
                            "LinearStepSize must be 10-50% of the variant's total instance count: variant {variant} has {count} instances."
                        ));
                    }
                }
            }
            _ => {
                if traffic.canary_size.is_some() || traffic.linear_step_size.is_some() {
                    return Err(
                        "CanarySize and LinearStepSize are not valid for the ALL_AT_ONCE traffic routing type.".into(),
                    );
                }
            }
        }
    }
    if let Some(rolling) = &config.rolling_update_policy {
        guarded = true;
        // Deployment guardrails' exclusions for rolling deployments.
        if new.variants.len() > 1 {
            return Err("RollingUpdatePolicy is not supported for endpoints with multiple production variants.".into());
        }
        if new.variants.iter().any(|v| v.serverless) {
            return Err("RollingUpdatePolicy is not supported for serverless endpoints.".into());
        }
        let wait = seconds(rolling.wait_interval_in_seconds);
        if let Some(limit) = rolling.maximum_execution_timeout_in_seconds.and_then(|v| u64::try_from(v).ok())
            && limit <= wait
        {
            return Err(format!(
                "MaximumExecutionTimeoutInSeconds ({limit}) must be larger than WaitIntervalInSeconds ({wait})."
            ));
        }
        if let Some(size) = &rolling.maximum_batch_size {
            for (variant, count) in &counts {
                let part = Size::of(size).fraction(*count);
                if !(0.05..=0.5).contains(&part) {
                    return Err(format!(
                        "MaximumBatchSize must be between 5% to 50% of the variant's total instance count: variant {variant} has {count} instances."
                    ));
                }
            }
        }
        if let Some(Size::Percent(p)) = rolling.rollback_maximum_batch_size.as_ref().map(Size::of)
            && p > 100
        {
            return Err("RollbackMaximumBatchSize must be at most 100% of the variant's total instance count.".into());
        }
    }
    // Deployment guardrails need the new configuration's variants to be the old one's.
    if guarded && let Some(old) = old {
        let mut before: Vec<&str> = old.variants.iter().map(|v| v.name.as_str()).collect();
        let mut after: Vec<&str> = new.variants.iter().map(|v| v.name.as_str()).collect();
        before.sort_unstable();
        after.sort_unstable();
        if before != after {
            return Err(format!(
                "The endpoint configuration {} must have the same variant names as the endpoint configuration {} to use deployment guardrails.",
                new.config_name, old.config_name
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_parts_of_a_variant() {
        assert_eq!(Size::Instances(1).fraction(3), 1.0 / 3.0);
        assert_eq!(Size::Percent(25).fraction(3), 0.25);
        assert_eq!(Size::Percent(25).instances(3), 1);
        assert_eq!(Size::Percent(50).instances(3), 2);
        assert_eq!(Size::Instances(9).instances(3), 3);
    }

    #[test]
    fn a_canary_takes_its_share_then_all_and_a_linear_update_steps_to_all() {
        assert_eq!(Routing::AllAtOnce.shares(3), vec![1.0]);
        assert_eq!(Routing::Canary(Size::Instances(1)).shares(4), vec![0.25, 1.0]);
        assert_eq!(Routing::Linear(Size::Percent(50)).shares(4), vec![0.5, 1.0]);
        let thirds = Routing::Linear(Size::Instances(1)).shares(3);
        assert_eq!(thirds.len(), 3, "{thirds:?}");
        assert!((thirds[1] - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(Routing::Linear(Size::Percent(30)).shares(10), vec![0.3, 0.6, 0.8999999999999999, 1.0]);
    }
}
