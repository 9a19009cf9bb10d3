//! InvokeEndpointAsync: the durable queue and its workers
//! (https://docs.aws.amazon.com/sagemaker/latest/dg/async-inference.html).
//!
//! [`AsyncQueue::accept`] stores a request in the state store *before* the wire answers 202, so a
//! request the caller was told about survives a restart or a crash. The dispatcher takes each
//! endpoint's requests first accepted first, at most `MaxConcurrentInvocationsPerInstance` per live
//! instance in flight, and hands each to `worker.rs`, which runs it through the pipeline exactly as
//! InvokeEndpoint does (`invoke::invoke`: same relay, same metrics), writes the answer or the
//! failure object, then removes the request. A crash between the write and the removal runs the
//! request again, and the object is written again whole (the object layer replaces objects
//! atomically), so a client never sees a partial or a second, different, object name.

mod request;
mod worker;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smemu_store::{AsyncRequestRecord, Scope, Store};
use smemu_types::sagemaker::AsyncInferenceConfig;

pub use request::{
    AcceptedAsync, DEFAULT_INVOCATION_TIMEOUT_S, DEFAULT_MAX_CONCURRENT_PER_INSTANCE, DEFAULT_REQUEST_TTL_S,
    NewAsyncRequest,
};
use request::{AsyncInput, AsyncRequestDoc, failure_location, output_location};

use crate::clock::now_ms;
use crate::invoke::InvokeError;
use crate::routing::{EndpointKey, LiveEndpoint};
use crate::{Endpoints, Launcher};

/// How often the dispatcher looks at the queue without being woken (endpoints coming into
/// service, requests expiring).
const IDLE_PASS: Duration = Duration::from_secs(1);

/// The queue's handle; cheap to clone.
#[derive(Clone)]
pub(crate) struct AsyncQueue {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    launcher: Launcher,
    endpoints: Endpoints,
    /// `--max-async-queued`: the most requests one endpoint may have queued.
    max_queued: u64,
    wake: tokio::sync::Notify,
    /// Requests being run, by `seq`, and how many per endpoint.
    running: Mutex<Running>,
}

#[derive(Default)]
struct Running {
    seqs: HashSet<i64>,
    per_endpoint: HashMap<EndpointKey, usize>,
    /// Finished since the current pass began: a pass may have read such a request before its
    /// worker removed it, and must not start it again. Cleared when a pass begins (by then every
    /// request in it is gone from the store).
    done: HashSet<i64>,
}

impl AsyncQueue {
    pub(crate) fn new(store: Arc<dyn Store>, launcher: Launcher, endpoints: Endpoints) -> Self {
        let max_queued = launcher.config().max_async_queued;
        AsyncQueue {
            inner: Arc::new(Inner {
                store,
                launcher,
                endpoints,
                max_queued,
                wake: tokio::sync::Notify::new(),
                running: Mutex::default(),
            }),
        }
    }

    /// Starts the dispatcher: requests left queued by an earlier smemu run again from now on.
    pub(crate) fn start(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            // On the timers' runtime (see `smemu_http1::timers`), as the watchdog's tick.
            let mut tick = smemu_http1::timers::within(|| tokio::time::interval(IDLE_PASS));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                if let Err(err) = this.pass().await {
                    tracing::warn!(error = %err, "async inference queue");
                }
                tokio::select! {
                    () = this.inner.wake.notified() => {}
                    _ = tick.tick() => {}
                }
            }
        });
    }

    /// Stores the request for `live`, an endpoint whose config has `config`, and wakes the
    /// dispatcher. Answers once the request is stored.
    pub(crate) async fn accept(
        &self,
        scope: &Scope,
        endpoint: &str,
        config: &AsyncInferenceConfig,
        new: NewAsyncRequest,
    ) -> Result<AcceptedAsync, InvokeError> {
        let input = match (new.input_location, new.body) {
            (Some(location), _) => {
                if let Some(objects) = self.inner.launcher.objects() {
                    objects.check_file_uri(&location).map_err(|err| InvokeError::InvalidHeader(err.to_string()))?;
                }
                AsyncInput::Location(location)
            }
            (None, Some(body)) => AsyncInput::Inline(body),
            (None, None) => return Err(InvokeError::InvalidHeader(MISSING_INPUT.into())),
        };
        let output = config.output_config.as_ref();
        let output_path = output.and_then(|o| o.s3_output_path.as_deref()).unwrap_or_default();
        let inference_id = new.inference_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let accepted = AcceptedAsync {
            output_location: output_location(output_path, &inference_id),
            failure_location: output
                .and_then(|o| o.s3_failure_path.as_deref())
                .map(|path| failure_location(path, &inference_id)),
            inference_id,
        };
        let now = now_ms();
        let ttl_s = new.request_ttl_s.unwrap_or(DEFAULT_REQUEST_TTL_S);
        let doc = AsyncRequestDoc {
            input,
            content_type: new.content_type,
            accept: new.accept,
            custom_attributes: new.custom_attributes,
            output_location: accepted.output_location.clone(),
            failure_location: accepted.failure_location.clone(),
            expires_ms: now.saturating_add(i64::from(ttl_s) * 1000),
            timeout_s: new.invocation_timeout_s.unwrap_or(DEFAULT_INVOCATION_TIMEOUT_S),
            max_concurrent_per_instance: config
                .client_config
                .as_ref()
                .and_then(|c| c.max_concurrent_invocations_per_instance)
                .and_then(|n| u32::try_from(n).ok())
                .filter(|&n| n > 0)
                .unwrap_or(DEFAULT_MAX_CONCURRENT_PER_INSTANCE),
        };
        let record = AsyncRequestRecord {
            seq: 0,
            scope: scope.clone(),
            endpoint: endpoint.to_owned(),
            inference_id: accepted.inference_id.clone(),
            accepted_ms: now,
            request: serde_json::to_value(&doc).map_err(|err| InvokeError::InvalidHeader(err.to_string()))?,
        };
        let stored =
            self.inner.store.enqueue_async_request(&record, self.inner.max_queued).await.map_err(|err| match err {
                // The store's writer has `--max-queued-writes` waiting, or another process held the
                // state file's lock: nothing stored, throttled, as a busy service.
                smemu_store::StoreError::Overloaded { .. } | smemu_store::StoreError::Locked { .. } => {
                    InvokeError::Throttled
                }
                other => InvokeError::Internal(other.to_string()),
            })?;
        if stored.is_none() {
            return Err(InvokeError::AsyncQueueFull { endpoint: endpoint.to_owned(), max: self.inner.max_queued });
        }
        self.inner.wake.notify_one();
        Ok(accepted)
    }

    /// DeleteEndpoint: the endpoint's queue goes with it.
    pub(crate) async fn drop_endpoint(&self, scope: &Scope, endpoint: &str) {
        match self.inner.store.drop_async_requests(scope, endpoint).await {
            Ok(0) => {}
            Ok(dropped) => tracing::info!(endpoint, dropped, "async inference requests dropped with their endpoint"),
            Err(err) => tracing::warn!(endpoint, error = %err, "dropping async inference requests"),
        }
    }

    /// Starts every queued request that has room, endpoint by endpoint.
    async fn pass(&self) -> Result<(), smemu_store::StoreError> {
        self.inner.running.lock().unwrap_or_else(|p| p.into_inner()).done.clear();
        for (scope, endpoint) in self.inner.store.endpoints_with_async_requests().await? {
            let live = match self.inner.endpoints.live(&scope, &endpoint).await {
                Ok(live) => live,
                // Gone (DeleteEndpoint dropped its queue; this is what a race left): nothing will run them.
                Err(InvokeError::EndpointNotFound { .. }) => {
                    self.drop_endpoint(&scope, &endpoint).await;
                    continue;
                }
                // Creating or Updating: they wait.
                Err(_) => continue,
            };
            self.start_requests(&scope, &endpoint, live).await?;
        }
        Ok(())
    }

    async fn start_requests(
        &self,
        scope: &Scope,
        endpoint: &str,
        live: Arc<LiveEndpoint>,
    ) -> Result<(), smemu_store::StoreError> {
        let key = EndpointKey::new(scope, endpoint);
        let instances: usize = live.variants.iter().map(|v| v.instances.len()).sum();
        if instances == 0 {
            // Serving but with no instance yet (adopted at start-up, the watchdog replaces them):
            // the requests wait rather than fail as unreachable.
            return Ok(());
        }
        // The running requests are always among the first `capacity` queued (each pass starts the
        // first ones not running), so reading that many finds every one that may start now.
        let first = self.inner.store.queued_async_requests(scope, endpoint, 1).await?;
        let Some(first) = first.first() else { return Ok(()) };
        let per_instance = match doc_of(first) {
            Ok(doc) => doc.max_concurrent_per_instance,
            Err(err) => {
                // Unreadable (written by another smemu version?): it can never run; the rest can.
                tracing::error!(seq = first.seq, error = %err, "dropping an unreadable async inference request");
                self.inner.store.finish_async_request(first.seq).await?;
                self.inner.wake.notify_one();
                return Ok(());
            }
        };
        let capacity = instances.saturating_mul(per_instance as usize);
        let running = self.running_for(&key);
        if running >= capacity {
            return Ok(());
        }
        let limit = u32::try_from(capacity).unwrap_or(u32::MAX);
        for record in self.inner.store.queued_async_requests(scope, endpoint, limit).await? {
            {
                let mut running = self.inner.running.lock().unwrap_or_else(|p| p.into_inner());
                let count = running.per_endpoint.get(&key).copied().unwrap_or(0);
                if count >= capacity {
                    break;
                }
                if running.done.contains(&record.seq) || !running.seqs.insert(record.seq) {
                    continue;
                }
                running.per_endpoint.insert(key.clone(), count + 1);
            }
            let this = self.clone();
            let (live, key) = (live.clone(), key.clone());
            tokio::spawn(async move {
                let seq = record.seq;
                match doc_of(&record) {
                    Ok(doc) => worker::run(&this.inner.store, &this.inner.launcher, &live, record, doc).await,
                    Err(err) => {
                        // Unreadable: it can never run; keeping it would block nothing but stay forever.
                        tracing::error!(seq, error = %err, "dropping an unreadable async inference request");
                        let _ = this.inner.store.finish_async_request(seq).await;
                    }
                }
                this.finished(&key, seq);
            });
        }
        Ok(())
    }

    fn running_for(&self, key: &EndpointKey) -> usize {
        let running = self.inner.running.lock().unwrap_or_else(|p| p.into_inner());
        running.per_endpoint.get(key).copied().unwrap_or(0)
    }

    fn finished(&self, key: &EndpointKey, seq: i64) {
        {
            let mut running = self.inner.running.lock().unwrap_or_else(|p| p.into_inner());
            running.seqs.remove(&seq);
            running.done.insert(seq);
            if let Some(count) = running.per_endpoint.get_mut(key) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    running.per_endpoint.remove(key);
                }
            }
        }
        self.inner.wake.notify_one();
    }
}

fn doc_of(record: &AsyncRequestRecord) -> Result<AsyncRequestDoc, serde_json::Error> {
    serde_json::from_value(record.request.clone())
}

/// Neither `InputLocation` nor `Body`: the service's model requires one of them.
const MISSING_INPUT: &str = "Either InputLocation or Body must be specified.";
