//! The fleets that serve right now, by endpoint: what InvokeEndpoint routes to.
//!
//! Copy-on-write: a change builds a new `LiveEndpoint` and swaps the `Arc`, so the invoke path only
//! takes a read lock long enough to clone one `Arc`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use smemu_store::Scope;
use smemu_telemetry::metrics::{Latency, Recorders, VariantKey, VariantMetrics};

/// An endpoint by account, region and name as created (InvokeEndpoint matches the exact case).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EndpointKey {
    pub account: String,
    pub region: String,
    pub name: String,
}

impl EndpointKey {
    pub fn new(scope: &Scope, name: &str) -> Self {
        EndpointKey { account: scope.account.clone(), region: scope.region.clone(), name: name.to_owned() }
    }

    pub fn scope(&self) -> Scope {
        Scope { account: self.account.clone(), region: self.region.clone() }
    }

    /// The `smemu.resource` label of the endpoint's containers.
    pub fn resource_label(&self) -> String {
        format!("{}/{}/{}", self.account, self.region, self.name)
    }
}

/// One instance: the pipeline's containers, at the addresses the backend reported.
#[derive(Debug)]
pub struct LiveInstance {
    pub instance_id: String,
    /// (hostname, address) in pipeline order.
    pub containers: Vec<(String, SocketAddr)>,
    in_flight: AtomicUsize,
}

impl LiveInstance {
    pub fn new(instance_id: String, containers: Vec<(String, SocketAddr)>) -> Self {
        LiveInstance { instance_id, containers, in_flight: AtomicUsize::new(0) }
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Counts a request in flight until the guard drops.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }
}

pub struct InFlight(Arc<LiveInstance>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(Debug, Clone)]
pub struct LiveVariant {
    pub name: String,
    pub weight: f64,
    pub direct: bool,
    /// How each container is named in `ModelError` messages (`primary` or its hostname).
    pub who: Vec<String>,
    pub instances: Vec<Arc<LiveInstance>>,
    /// Where the next search for the least busy instance starts, so that ties rotate.
    pub next: Arc<AtomicUsize>,
    /// The variant's invocation metrics: recorded here, with no lookup, by each invocation. A
    /// detached recorder until [`LiveTable::put`] installs the variant.
    pub metrics: Arc<VariantMetrics>,
    /// `ContainerLatency` of each container, in pipeline order (empty for one container: the
    /// service publishes it for inference pipelines).
    pub container_latency: Vec<Arc<Latency>>,
    /// While a deployment moves traffic step by step (canary, linear, rolling): the new fleet's
    /// variant of this name and the share of this variant's calls it takes. Swapped with the whole
    /// routing at each step, so an invocation reads it without a lock.
    pub shift: Option<Arc<Shift>>,
}

/// The new fleet's side of a variant while traffic moves to it.
#[derive(Debug, Clone)]
pub struct Shift {
    pub to: LiveVariant,
    /// In [0, 1]: the chance that a call goes to `to`.
    pub share: f64,
}

impl LiveVariant {
    pub fn new(name: String, weight: f64, direct: bool, who: Vec<String>, instances: Vec<Arc<LiveInstance>>) -> Self {
        LiveVariant {
            name,
            weight,
            direct,
            who,
            instances,
            next: Arc::default(),
            metrics: Arc::default(),
            container_latency: Vec::new(),
            shift: None,
        }
    }

    /// The fleet that answers one call: this variant's, or, with the chance of the share a
    /// deployment has moved, the new fleet's. One branch when no deployment runs.
    pub fn fleet_for_call(&self) -> &LiveVariant {
        match &self.shift {
            Some(shift) if rand::random::<f64>() < shift.share => &shift.to,
            _ => self,
        }
    }

    /// The instance with the fewest requests in flight; among equals, the next in turn.
    pub fn least_busy(&self) -> Option<&Arc<LiveInstance>> {
        let n = self.instances.len();
        if n == 0 {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        (0..n).map(|i| &self.instances[(start + i) % n]).min_by_key(|i| i.in_flight())
    }
}

#[derive(Debug, Clone)]
pub struct LiveEndpoint {
    pub variants: Vec<LiveVariant>,
    /// Where sampled invocations are captured (`DataCaptureConfig`), if anywhere.
    pub capture: Option<Arc<crate::data_capture::CaptureSink>>,
    /// The config has `AsyncInferenceConfig`: only InvokeEndpointAsync may invoke it.
    pub async_inference: bool,
}

impl LiveEndpoint {
    /// A variant chosen at random with probability weight / sum of weights; with all weights
    /// zero, none (SageMaker then refuses to route).
    pub fn pick_variant(&self, roll: f64) -> Option<&LiveVariant> {
        let total: f64 = self.variants.iter().map(|v| v.weight.max(0.0)).sum();
        if total <= 0.0 {
            return None;
        }
        let mut point = roll * total;
        for variant in &self.variants {
            let weight = variant.weight.max(0.0);
            if point < weight {
                return Some(variant);
            }
            point -= weight;
        }
        self.variants.iter().rev().find(|v| v.weight > 0.0)
    }

    pub fn variant(&self, name: &str) -> Option<&LiveVariant> {
        self.variants.iter().find(|v| v.name == name)
    }

    /// Every instance of every variant (for draining).
    pub fn instances(&self) -> impl Iterator<Item = &Arc<LiveInstance>> {
        self.variants.iter().flat_map(|v| v.instances.iter())
    }
}

#[derive(Debug, Clone, Default)]
pub struct LiveTable {
    endpoints: Arc<RwLock<HashMap<EndpointKey, Arc<LiveEndpoint>>>>,
    /// Every variant's recorders, kept across fleets so that counts are cumulative.
    recorders: Arc<Recorders>,
}

impl LiveTable {
    pub fn get(&self, key: &EndpointKey) -> Option<Arc<LiveEndpoint>> {
        self.endpoints.read().unwrap_or_else(|poisoned| poisoned.into_inner()).get(key).cloned()
    }

    /// The recorders the live variants record into.
    pub fn recorders(&self) -> &Arc<Recorders> {
        &self.recorders
    }

    /// Installs a new routing for the endpoint and returns the one it replaces. Each variant gets
    /// its recorders here, once per fleet, so that invocations look nothing up.
    pub fn put(&self, key: EndpointKey, mut live: LiveEndpoint) -> Option<Arc<LiveEndpoint>> {
        for variant in &mut live.variants {
            self.attach(&key, variant);
            let shifted = variant.shift.as_ref().map_or(0, |shift| shift.to.instances.len());
            variant.metrics.set_instances(variant.instances.len() + shifted);
        }
        self.endpoints.write().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(key, Arc::new(live))
    }

    /// Gives a variant (and the new fleet's side of it) the recorders of its name: both fleets
    /// count into the variant's metrics, as the service publishes them per variant.
    fn attach(&self, key: &EndpointKey, variant: &mut LiveVariant) {
        let variant_key = VariantKey {
            account: key.account.clone(),
            region: key.region.clone(),
            endpoint: key.name.clone(),
            variant: variant.name.clone(),
        };
        variant.metrics = self.recorders.variant(&variant_key);
        variant.container_latency = if variant.who.len() > 1 {
            variant.who.iter().map(|who| self.recorders.container(&variant_key, who)).collect()
        } else {
            Vec::new()
        };
        if let Some(shift) = variant.shift.take() {
            let mut shift = Shift::clone(&shift);
            shift.to.shift = None;
            self.attach(key, &mut shift.to);
            variant.shift = Some(Arc::new(shift));
        }
    }

    pub fn remove(&self, key: &EndpointKey) -> Option<Arc<LiveEndpoint>> {
        self.endpoints.write().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant(name: &str, weight: f64) -> LiveVariant {
        LiveVariant::new(name.into(), weight, false, vec![], vec![])
    }

    #[test]
    fn variants_are_picked_in_proportion_to_their_weight() {
        let live = LiveEndpoint {
            variants: vec![variant("a", 1.0), variant("b", 3.0)],
            capture: None,
            async_inference: false,
        };
        assert_eq!(live.pick_variant(0.0).map(|v| v.name.as_str()), Some("a"));
        assert_eq!(live.pick_variant(0.24).map(|v| v.name.as_str()), Some("a"));
        assert_eq!(live.pick_variant(0.26).map(|v| v.name.as_str()), Some("b"));
        assert_eq!(live.pick_variant(0.999).map(|v| v.name.as_str()), Some("b"));
        let zero = LiveEndpoint { variants: vec![variant("a", 0.0)], capture: None, async_inference: false };
        assert!(zero.pick_variant(0.5).is_none());
    }

    #[test]
    fn the_least_busy_instance_is_chosen() {
        let a = Arc::new(LiveInstance::new("a".into(), vec![]));
        let b = Arc::new(LiveInstance::new("b".into(), vec![]));
        let v = LiveVariant { instances: vec![a.clone(), b.clone()], ..variant("v", 1.0) };
        let busy = a.begin();
        assert_eq!(v.least_busy().map(|i| i.instance_id.as_str()), Some("b"));
        assert_eq!(v.least_busy().map(|i| i.instance_id.as_str()), Some("b"));
        drop(busy);
        let busy = b.begin();
        assert_eq!(v.least_busy().map(|i| i.instance_id.as_str()), Some("a"));
        drop(busy);
        // Idle instances take turns.
        let first = v.least_busy().map(|i| i.instance_id.clone());
        let second = v.least_busy().map(|i| i.instance_id.clone());
        assert_ne!(first, second);
    }
}
