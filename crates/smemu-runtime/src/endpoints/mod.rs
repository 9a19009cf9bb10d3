//! The endpoint controller: converges the containers that run (observed, through the runtime's
//! `Backend`) with the endpoints the store describes (desired), one endpoint at a time, and keeps
//! the routing table InvokeEndpoint uses.
//!
//! Level-triggered and idempotent: every API change to an endpoint "kicks" it; a reconcile reads the
//! endpoint afresh and does what its status asks. A watchdog replaces instances that die, and
//! start-up adopts the containers an earlier smemu left running.

mod deploy;
pub mod plan;
pub mod policy;
mod reconcile;
mod rolling;
mod rollout;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use smemu_store::{Scope, Store};

use crate::alarms::{AlarmStates, NoAlarms};
use crate::data_capture::{CaptureSink, DataCapture};
use crate::invoke::InvokeError;
use crate::launch::Launcher;
use crate::routing::{EndpointKey, LiveEndpoint, LiveTable};

#[derive(Clone)]
pub struct Endpoints {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    launcher: Launcher,
    live: LiveTable,
    /// The data-capture writer the live fleets' sinks feed.
    capture: DataCapture,
    /// One reconcile at a time per endpoint.
    locks: Mutex<HashMap<EndpointKey, Arc<tokio::sync::Mutex<()>>>>,
    /// The alarms' states deployments watch (`AutoRollbackConfiguration`).
    alarms: RwLock<Arc<dyn AlarmStates>>,
}

impl Endpoints {
    pub fn new(store: Arc<dyn Store>, launcher: Launcher) -> Self {
        let capture = DataCapture::new(launcher.objects().cloned(), launcher.config().capture);
        Endpoints {
            inner: Arc::new(Inner {
                store,
                launcher,
                live: LiveTable::default(),
                capture,
                locks: Mutex::new(HashMap::new()),
                alarms: RwLock::new(Arc::new(NoAlarms)),
            }),
        }
    }

    /// Writes the data-capture records not written yet (shutdown).
    pub async fn flush_capture(&self) {
        self.inner.capture.flush().await;
    }

    /// Where deployments read alarm states from now on.
    pub fn set_alarms(&self, alarms: Arc<dyn AlarmStates>) {
        *self.inner.alarms.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = alarms;
    }

    /// The first of `names` in ALARM, or gone into ALARM since `since_ms`, if any.
    pub(super) fn in_alarm(&self, key: &EndpointKey, names: &[String], since_ms: i64) -> Option<String> {
        if names.is_empty() {
            return None;
        }
        let alarms = self.inner.alarms.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        alarms.in_alarm(&key.account, &key.region, names, since_ms)
    }

    /// `--max-instances`.
    pub fn max_instances(&self) -> u32 {
        self.inner.launcher.config().max_instances
    }

    /// The capture sink a live fleet of this endpoint holds (`DataCaptureConfig`), if it captures.
    pub(crate) fn capture_sink(&self, key: &EndpointKey, fleet: &plan::Fleet) -> Option<Arc<CaptureSink>> {
        self.inner.capture.sink(&key.account, &key.name, fleet.data_capture.as_ref())
    }

    /// Reconciles the endpoint in the background.
    pub fn kick(&self, key: EndpointKey) {
        let this = self.clone();
        tokio::spawn(async move { this.reconcile(&key).await });
    }

    async fn reconcile(&self, key: &EndpointKey) {
        let lock = {
            let mut locks = self.inner.locks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            locks.entry(key.clone()).or_default().clone()
        };
        let _one_at_a_time = lock.lock().await;
        // Boxed: a reconcile's future is large, and start-up and the watchdog nest it.
        if let Err(err) = Box::pin(reconcile::run(self, key)).await {
            tracing::error!(endpoint = %key.name, error = %err, "reconciling endpoint");
        }
    }

    /// At start-up: adopt or replace what an earlier smemu left, finish interrupted work, remove
    /// containers that belong to no endpoint; then watch for dead instances.
    pub async fn start(&self) {
        if let Err(err) = reconcile::adopt_all(self).await {
            tracing::error!(error = %err, "reconciling endpoints at start-up");
        }
        let this = self.clone();
        tokio::spawn(async move {
            // On the timers' runtime (see `timers`), so that the API's workers park without one.
            let mut tick =
                smemu_http1::timers::within(|| tokio::time::interval(this.inner.launcher.config().watchdog_interval));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(err) = reconcile::watch(&this).await {
                    tracing::warn!(error = %err, "watchdog");
                }
            }
        });
    }

    /// The live fleet of an endpoint, or why there is none; the wire asks before it reads an
    /// invocation's body, so that a body for a missing endpoint is never buffered.
    pub(crate) fn recorders(&self) -> Arc<smemu_telemetry::metrics::Recorders> {
        self.inner.live.recorders().clone()
    }

    pub async fn live(&self, scope: &Scope, name: &str) -> Result<Arc<LiveEndpoint>, InvokeError> {
        let key = EndpointKey::new(scope, name);
        if let Some(live) = self.inner.live.get(&key) {
            return Ok(live);
        }
        // Cold path: tell a missing endpoint from one that is not serving. Names match exactly here.
        match self.inner.store.get_endpoint(scope, name).await {
            Ok(record) if record.name == name => Err(InvokeError::NotInService {
                endpoint: name.to_owned(),
                account: scope.account.clone(),
                status: record.status,
            }),
            _ => Err(InvokeError::EndpointNotFound { endpoint: name.to_owned(), account: scope.account.clone() }),
        }
    }
}
