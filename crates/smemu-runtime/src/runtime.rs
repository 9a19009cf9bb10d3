//! What smemu-api asks of the runtime, in domain words: deploy, update and delete an endpoint,
//! invoke it, start and stop a transform job, and describe what runs.
//!
//! Each call checks what only the runtime knows (the endpoint's status, the instance quota, the
//! job's inputs), records what is wanted in the store and hands it to the controller, which
//! brings the containers in line in the background. The API crate checks the request itself and
//! words the errors ([`RuntimeError`]).

use std::collections::HashSet;
use std::sync::Arc;

use smemu_backend::Backend;
use smemu_objects::Objects;
use smemu_store::{EndpointRecord, ImmutableKind, Scope, Store, StoreError, Tag, TransformJobRecord};
use smemu_types::sagemaker::{
    CreateEndpointConfigInput, CreateModelInput, CreateTransformJobRequest, DeploymentConfig, EndpointStatus,
    TransformJobStatus,
};

use crate::async_inference::{AcceptedAsync, AsyncQueue, NewAsyncRequest};
use crate::clock::now_ms;
use crate::endpoints::plan::{EndpointDoc, Fleet};
use crate::endpoints::policy;
use crate::error::{RuntimeError, read_doc, write_doc};
use crate::invoke::stream::{InvokedStream, StreamTarget};
use crate::invoke::{self, INVOCATION_TIMEOUT, Invocation, InvokeError, Invoked, LogLocation};
use crate::jobs::inputs::{self, InputError};
use crate::jobs::{JobKey, params, update};
use crate::pipeline::{is_direct, pipeline_of};
use crate::quota::{AccountLocks, transform_instances};
use crate::routing::EndpointKey;
use crate::routing::LiveEndpoint;
use crate::{BackendUnavailable, ControllerConfig, Endpoints, JobDoc, Launcher, TransformJobs};

/// The runtime as smemu-api sees it; cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    store: Arc<dyn Store>,
    /// Artifacts, placement, `/ping` waits and the relay: what endpoints, jobs and invocations share.
    launcher: Launcher,
    endpoints: Endpoints,
    jobs: TransformJobs,
    /// The instance quota's lock per account (`quota`), shared by endpoints and jobs.
    quota: Arc<AccountLocks>,
    /// InvokeEndpointAsync's durable queue and its workers.
    async_queue: AsyncQueue,
}

/// CreateEndpoint: deploy the endpoint configuration `config_name` as endpoint `name`.
pub struct NewEndpoint<'a> {
    pub scope: &'a Scope,
    pub name: &'a str,
    pub arn: &'a str,
    pub config_name: &'a str,
    /// `DeploymentConfig`, kept as given (used by later updates that retain it) and reported as
    /// `LastDeploymentConfig`.
    pub deployment_config: Option<DeploymentConfig>,
    pub tags: &'a [Tag],
}

/// UpdateEndpoint: deploy another configuration on a running endpoint (blue/green).
pub struct EndpointUpdate<'a> {
    pub config_name: &'a str,
    /// `RetainAllVariantProperties`: keep each same-named variant's instance count and weight,
    /// except those the request excludes.
    pub retain: Option<Retained>,
    /// `None` keeps the endpoint's deployment config (`RetainDeploymentConfig`); `Some` replaces it.
    pub deployment_config: Option<Option<DeploymentConfig>>,
}

/// The variant properties UpdateEndpoint carries over.
#[derive(Debug, Clone, Copy)]
pub struct Retained {
    pub instance_count: bool,
    pub weight: bool,
}

/// UpdateEndpointWeightsAndCapacities: one variant's new weight and instance count.
pub struct VariantChange<'a> {
    pub variant: &'a str,
    pub weight: Option<f64>,
    pub instances: Option<i32>,
}

/// An endpoint as stored: status and times, and what it runs (`record.state` is taken out: it is
/// `doc`).
pub struct EndpointView {
    pub record: EndpointRecord,
    pub doc: EndpointDoc,
}

impl EndpointView {
    /// While an UpdateEndpoint moves traffic: the share of variant `name`'s calls the new fleet
    /// takes, and the step and number of steps it is at.
    pub fn traffic_share(&self, name: &str) -> Option<(f64, u32, u32)> {
        let rollout = self.doc.rollout.as_ref()?;
        let green = self.doc.pending.as_ref()?;
        let guard = policy::Guardrails::of_doc(&self.doc);
        Some((guard.share(green, name, rollout.step), rollout.step + 1, guard.steps(green)))
    }

    /// How long each step of the running deployment bakes (`WaitIntervalInSeconds`).
    pub fn wait_s(&self) -> u64 {
        policy::Guardrails::of_doc(&self.doc).wait_s()
    }
}

/// CreateTransformJob: run `model` over the request's inputs.
pub struct NewJob<'a> {
    pub scope: &'a Scope,
    pub name: &'a str,
    pub arn: &'a str,
    pub model: &'a CreateModelInput,
    /// The request as given (its name and tags are left out of what Describe echoes).
    pub request: &'a CreateTransformJobRequest,
    pub tags: &'a [Tag],
}

/// A transform job as stored: status and times, the request and how it went (`record.state` is
/// taken out: it is `doc`).
pub struct JobView {
    pub record: TransformJobRecord,
    pub doc: JobDoc,
}

impl JobView {
    /// Reads the job's document; one that does not parse is a corrupt store.
    pub fn of(mut record: TransformJobRecord) -> Result<JobView, StoreError> {
        let doc = read_doc(&record.name, std::mem::take(&mut record.state))?;
        Ok(JobView { record, doc })
    }
}

impl Runtime {
    /// A runtime on `backend` (or, when no engine can be used, why not: every endpoint and job then
    /// fails with that reason), reading artifacts and job data through `objects`.
    pub fn new(
        store: Arc<dyn Store>,
        backend: Result<Arc<dyn Backend>, BackendUnavailable>,
        objects: Option<Objects>,
        config: ControllerConfig,
    ) -> Self {
        let logs_dir = config.transform_logs_dir.clone();
        let launcher = Launcher::new(backend, objects, config);
        let endpoints = Endpoints::new(store.clone(), launcher.clone());
        let jobs = TransformJobs::new(store.clone(), launcher.clone(), logs_dir);
        let async_queue = AsyncQueue::new(store.clone(), launcher.clone(), endpoints.clone());
        Runtime { store, launcher, endpoints, jobs, quota: Arc::default(), async_queue }
    }

    /// Captures every container's output into `store` from now on: call before [`Runtime::start`],
    /// so that the instances it adopts are followed too. Without it nothing is captured.
    pub fn capture_logs(&self, store: smemu_telemetry::logs::LogStore) {
        self.launcher.set_capture(crate::capture::Capture::new(store));
    }

    /// Reads the alarms deployments watch (`AutoRollbackConfiguration`) from `alarms` from now on;
    /// until then none is in ALARM.
    pub fn set_alarms(&self, alarms: Arc<dyn crate::AlarmStates>) {
        self.endpoints.set_alarms(alarms);
    }

    /// At start-up, before serving: settles the transform jobs an earlier smemu left running (never
    /// seen InProgress forever), adopts or replaces the endpoints' containers it left, and starts
    /// the watchdog.
    pub async fn start(&self) {
        self.jobs.start().await;
        Box::pin(self.endpoints.start()).await;
        // After adoption, so that requests left queued find their endpoints live.
        self.async_queue.start();
        // A cache left over its size (or a smaller --artifact-cache-size) shrinks now, not at the
        // next launch.
        let launcher = self.launcher.clone();
        tokio::spawn(async move { launcher.evict_artifacts().await });
    }

    /// The fleet that serves an endpoint now, or why there is none. The wire asks before it reads
    /// an invocation's body, so that a body for a missing endpoint is never buffered.
    pub async fn live(&self, scope: &Scope, name: &str) -> Result<Arc<LiveEndpoint>, InvokeError> {
        self.endpoints.live(scope, name).await
    }

    /// Writes the data-capture records not written yet: on shutdown, once the API stopped
    /// answering and before the object stores stop.
    pub async fn flush_capture(&self) {
        self.endpoints.flush_capture().await;
    }

    /// The invocation recorders of every variant (the metrics flusher and `/metrics` read them).
    pub fn recorders(&self) -> Arc<smemu_telemetry::metrics::Recorders> {
        self.endpoints.recorders()
    }

    /// Starts sampling instance metrics every `interval` (the task runs until aborted).
    pub fn start_instance_metrics(&self, interval: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let data_dir = std::path::PathBuf::from(&self.launcher.config().data_dir);
        tokio::spawn(crate::instance_metrics::run(self.launcher.clone(), self.recorders(), interval, data_dir))
    }

    /// InvokeEndpoint through the pipeline of the fleet [`Runtime::live`] found.
    pub async fn invoke(
        &self,
        scope: &Scope,
        name: &str,
        live: &LiveEndpoint,
        request: Invocation,
    ) -> Result<Invoked, InvokeError> {
        if live.async_inference {
            return Err(InvokeError::AsyncEndpoint { endpoint: name.to_owned(), account: scope.account.clone() });
        }
        let logs = LogLocation { region: &scope.region, account: &scope.account, endpoint: name };
        // Data capture only draws and clones here; the writer encodes and writes elsewhere.
        let sampled = live
            .capture
            .as_ref()
            .and_then(|sink| sink.sample(&request.body, request.content_type.as_ref(), request.inference_id.as_ref()));
        let invoked = invoke::invoke(self.launcher.relay(), live, &logs, request, INVOCATION_TIMEOUT).await;
        if let (Some(sampled), Ok(invoked)) = (sampled, &invoked) {
            sampled.finish(&invoked.variant, &invoked.body, invoked.content_type.as_ref());
        }
        invoked
    }

    /// InvokeEndpointWithResponseStream through the pipeline of the fleet [`Runtime::live`] found:
    /// returns once the last container has begun to answer, its body to come as events.
    pub async fn invoke_stream(
        &self,
        scope: &Scope,
        name: &str,
        live: Arc<LiveEndpoint>,
        request: Invocation,
    ) -> Result<InvokedStream, InvokeError> {
        // The service refuses a real-time call on an async endpoint with ValidationError, streamed
        // or not (both seen refused: https://github.com/strands-agents/harness-sdk/issues/1969).
        if live.async_inference {
            return Err(InvokeError::AsyncEndpoint { endpoint: name.to_owned(), account: scope.account.clone() });
        }
        // Captured as InvokeEndpoint is: the developer guide's data capture names no exception for
        // streamed answers, so the whole streamed answer is the record's endpointOutput, written
        // once the stream has ended whole.
        let sampled = live
            .capture
            .as_ref()
            .and_then(|sink| sink.sample(&request.body, request.content_type.as_ref(), request.inference_id.as_ref()));
        let target =
            StreamTarget { region: scope.region.clone(), account: scope.account.clone(), endpoint: name.to_owned() };
        invoke::stream::invoke_stream(self.launcher.relay().clone(), live, target, request, INVOCATION_TIMEOUT, sampled)
            .await
    }

    /// InvokeEndpointAsync: stores the request in the endpoint's queue (answered once stored) and
    /// tells where its answer or failure will be written.
    pub async fn invoke_async(
        &self,
        scope: &Scope,
        name: &str,
        request: NewAsyncRequest,
    ) -> Result<AcceptedAsync, InvokeError> {
        let live = self.live(scope, name).await?;
        let not_async = || InvokeError::NotAsyncEndpoint { endpoint: name.to_owned(), account: scope.account.clone() };
        if !live.async_inference {
            return Err(not_async());
        }
        let view = self.describe(scope, name).await.map_err(|err| InvokeError::Internal(err.to_string()))?;
        let config = view.doc.current.async_inference.ok_or_else(not_async)?;
        self.async_queue.accept(scope, name, &config, request).await
    }

    /// The object layer the runtime reads artifacts and job inputs from; `None` without one.
    pub fn objects(&self) -> Option<&Objects> {
        self.launcher.objects()
    }

    fn max_instances(&self) -> u32 {
        self.endpoints.max_instances()
    }

    pub async fn deploy(&self, new: NewEndpoint<'_>) -> Result<(), RuntimeError> {
        let fleet = self.resolve(new.scope, new.config_name).await?;
        if let Some(config) = &new.deployment_config {
            policy::check(config, &fleet, None).map_err(RuntimeError::InvalidDeploymentConfig)?;
        }
        let doc = EndpointDoc {
            failure_reason: None,
            last_deployment_config: new.deployment_config.as_ref().map(|c| write_doc(new.name, c)).transpose()?,
            current: fleet,
            pending: None,
            rollout: None,
        };
        let now = now_ms();
        let record = EndpointRecord {
            scope: new.scope.clone(),
            name: new.name.to_owned(),
            arn: new.arn.to_owned(),
            status: EndpointStatus::Creating,
            created_ms: now,
            modified_ms: now,
            version: 1,
            state: write_doc(new.name, &doc)?,
        };
        let quota = self.quota.lock(new.scope).await;
        quota.admit(self.store.as_ref(), self.max_instances(), doc.instances()).await?;
        self.store.create_endpoint(&record, new.tags).await?;
        self.endpoints.kick(EndpointKey::new(new.scope, new.name));
        Ok(())
    }

    /// Brings a new fleet up beside the old one; traffic moves once it is healthy. Returns the ARN.
    pub async fn update(&self, scope: &Scope, name: &str, update: EndpointUpdate<'_>) -> Result<String, RuntimeError> {
        // Taken before the endpoint is read, so that what it runs now is what the check counts.
        let quota = self.quota.lock(scope).await;
        let EndpointView { record, mut doc } = self.describe(scope, name).await?;
        must_be_in_service(&record)?;
        let mut fleet = self.resolve(scope, update.config_name).await?;
        if let Some(retain) = update.retain {
            for variant in &mut fleet.variants {
                if let Some(old) = doc.current.variant(&variant.name) {
                    if retain.instance_count {
                        variant.desired_instances = old.desired_instances;
                    }
                    if retain.weight {
                        variant.desired_weight = old.desired_weight;
                    }
                }
            }
        }
        if let Some(config) = update.deployment_config {
            doc.last_deployment_config = config.as_ref().map(|c| write_doc(name, c)).transpose()?;
        }
        // The config this update runs with (given, or retained), checked against both fleets.
        let config: Option<DeploymentConfig> =
            doc.last_deployment_config.clone().and_then(|value| serde_json::from_value(value).ok());
        if let Some(config) = &config {
            policy::check(config, &fleet, Some(&doc.current)).map_err(RuntimeError::InvalidDeploymentConfig)?;
        }
        // The new fleet comes up beside the old one: both run until traffic moves.
        quota.admit(self.store.as_ref(), self.max_instances(), fleet.instances()).await?;
        doc.failure_reason = None;
        doc.pending = Some(fleet);
        doc.rollout = None;
        self.save_and_kick(record, EndpointStatus::Updating, &doc).await
    }

    /// Changes variants' weights and instance counts in place. Returns the ARN. A missing endpoint
    /// is named first, then a variant named twice, then variants the endpoint's config lacks, then
    /// an endpoint that is not `InService`.
    pub async fn set_weights_and_capacities(
        &self,
        scope: &Scope,
        name: &str,
        changes: &[VariantChange<'_>],
    ) -> Result<String, RuntimeError> {
        let quota = self.quota.lock(scope).await;
        let EndpointView { record, mut doc } = self.describe(scope, name).await?;
        let mut seen = HashSet::new();
        if let Some(twice) = changes.iter().find(|change| !seen.insert(change.variant)) {
            return Err(RuntimeError::VariantNamedTwice { name: twice.variant.to_owned() });
        }
        let missing: Vec<String> = changes
            .iter()
            .filter(|change| doc.current.variant(change.variant).is_none())
            .map(|change| change.variant.to_owned())
            .collect();
        if !missing.is_empty() {
            return Err(RuntimeError::UnknownVariants { names: missing, config: doc.current.config_name });
        }
        must_be_in_service(&record)?;
        let before = doc.instances();
        for change in changes {
            if let Some(variant) = doc.current.variants.iter_mut().find(|v| v.name == change.variant) {
                if let Some(weight) = change.weight {
                    variant.desired_weight = weight;
                }
                if let Some(count) = change.instances {
                    variant.desired_instances = count;
                }
            }
        }
        // Only added instances need room; fewer are always allowed.
        quota.admit(self.store.as_ref(), self.max_instances(), doc.instances().saturating_sub(before)).await?;
        self.save_and_kick(record, EndpointStatus::Updating, &doc).await
    }

    /// Removes the endpoint's containers, then the endpoint.
    pub async fn delete(&self, scope: &Scope, name: &str) -> Result<(), RuntimeError> {
        let EndpointView { record, doc } = self.describe(scope, name).await?;
        if !matches!(
            record.status,
            EndpointStatus::InService | EndpointStatus::Failed | EndpointStatus::UpdateRollbackFailed
        ) {
            return Err(RuntimeError::EndpointInProgress { arn: record.arn });
        }
        self.save_and_kick(record, EndpointStatus::Deleting, &doc).await?;
        self.async_queue.drop_endpoint(scope, name).await;
        Ok(())
    }

    pub async fn describe(&self, scope: &Scope, name: &str) -> Result<EndpointView, RuntimeError> {
        let mut record = self.store.get_endpoint(scope, name).await?;
        let doc = read_doc(&record.name, std::mem::take(&mut record.state))?;
        Ok(EndpointView { record, doc })
    }

    async fn save_and_kick(
        &self,
        record: EndpointRecord,
        status: EndpointStatus,
        doc: &EndpointDoc,
    ) -> Result<String, RuntimeError> {
        let arn = record.arn.clone();
        let key = EndpointKey::new(&record.scope, &record.name);
        let state = write_doc(&record.name, doc)?;
        let changed = EndpointRecord { status, modified_ms: now_ms(), state, ..record };
        match self.store.update_endpoint(&changed).await {
            Ok(_) => {}
            // The controller moved the endpoint on since we read it: it is in progress.
            Err(StoreError::Conflict { .. }) => return Err(RuntimeError::EndpointInProgress { arn }),
            Err(other) => return Err(other.into()),
        }
        self.endpoints.kick(key);
        Ok(arn)
    }

    /// The configuration and its models as a fleet to deploy.
    async fn resolve(&self, scope: &Scope, config_name: &str) -> Result<Fleet, RuntimeError> {
        let lookup = |kind: ImmutableKind, name: &str| {
            let name = name.to_owned();
            move |source| RuntimeError::Lookup { kind, name, source }
        };
        let config = self
            .store
            .get(ImmutableKind::EndpointConfig, scope, config_name)
            .await
            .map_err(lookup(ImmutableKind::EndpointConfig, config_name))?;
        let config: CreateEndpointConfigInput = read_doc(config_name, config.spec)?;
        let mut models = Vec::new();
        for variant in config.production_variants.iter().flatten() {
            let model_name = variant.model_name.as_deref().unwrap_or_default();
            let model = self
                .store
                .get(ImmutableKind::Model, scope, model_name)
                .await
                .map_err(lookup(ImmutableKind::Model, model_name))?;
            models.push(read_doc::<CreateModelInput>(model_name, model.spec)?);
        }
        Ok(Fleet::resolve(config_name, &config, &models))
    }

    /// Checks a transform job's settings as the runner will use them (split, batch, DataProcessing).
    pub fn check_job(request: &CreateTransformJobRequest) -> Result<(), String> {
        params::plan(request, None).map(|_| ())
    }

    /// Stores the job `InProgress` and starts its runner.
    pub async fn start_job(&self, new: NewJob<'_>) -> Result<(), RuntimeError> {
        if is_direct(new.model) {
            return Err(RuntimeError::DirectModel);
        }
        self.check_file_urls(new.request)?;
        let objects = self.objects().map(|objects| objects.as_account(&new.scope.account));
        inputs::list(objects.as_ref(), new.request).await.map_err(|err| match err {
            InputError::NoObjects { uri } => RuntimeError::NoInputObjects { uri },
            other => RuntimeError::Inputs(other.to_string()),
        })?;
        // What Describe echoes: everything given but the name and the tags.
        let request = CreateTransformJobRequest { transform_job_name: None, tags: None, ..new.request.clone() };
        let doc = JobDoc {
            pipeline: params::job_pipeline(pipeline_of(new.model), &request),
            request,
            failure_reason: None,
            start_ms: None,
            end_ms: None,
            logs: Vec::new(),
        };
        let now = now_ms();
        let record = TransformJobRecord {
            scope: new.scope.clone(),
            name: new.name.to_owned(),
            arn: new.arn.to_owned(),
            status: TransformJobStatus::InProgress,
            created_ms: now,
            modified_ms: now,
            version: 1,
            state: write_doc(new.name, &doc)?,
        };
        let quota = self.quota.lock(new.scope).await;
        let instances = transform_instances(new.request.transform_resources.as_ref());
        quota.admit(self.store.as_ref(), self.max_instances(), instances).await?;
        self.store.create_transform_job(&record, new.tags).await?;
        self.jobs.run(JobKey::new(new.scope, new.name));
        Ok(())
    }

    /// `file://` inputs and outputs (smemu's extension) must lie inside `--file-root`; checked again
    /// each time the job reads or writes, since a path can change in between.
    fn check_file_urls(&self, input: &CreateTransformJobRequest) -> Result<(), RuntimeError> {
        let Some(objects) = self.objects() else { return Ok(()) };
        let source =
            input.transform_input.as_ref().and_then(|i| i.data_source.as_ref()).and_then(|d| d.s3_data_source.as_ref());
        let named = [
            ("TransformInput.DataSource.S3DataSource.S3Uri", source.and_then(|s| s.s3_uri.as_deref())),
            ("TransformOutput.S3OutputPath", input.transform_output.as_ref().and_then(|o| o.s3_output_path.as_deref())),
        ];
        for (field, uri) in named {
            if let Some(uri) = uri {
                objects
                    .check_file_uri(uri)
                    .map_err(|err| RuntimeError::FileOutsideRoots { field, reason: err.to_string() })?;
            }
        }
        Ok(())
    }

    /// Asks a running job to stop; stopping twice is the same stop.
    pub async fn stop_job(&self, scope: &Scope, name: &str) -> Result<(), RuntimeError> {
        let record = update(self.store.as_ref(), scope, name, |record, _| {
            let running = record.status == TransformJobStatus::InProgress;
            if running {
                record.status = TransformJobStatus::Stopping;
            }
            running
        })
        .await?;
        if record.status != TransformJobStatus::Stopping {
            return Err(RuntimeError::JobNotStoppable { status: record.status });
        }
        self.jobs.stop(&JobKey::new(scope, &record.name));
        Ok(())
    }

    pub async fn describe_job(&self, scope: &Scope, name: &str) -> Result<JobView, RuntimeError> {
        Ok(JobView::of(self.store.get_transform_job(scope, name).await?)?)
    }
}

/// UpdateEndpoint (and UpdateEndpointWeightsAndCapacities) run on an endpoint in service, or one
/// whose rollback failed (updating it again is how it recovers).
fn must_be_in_service(record: &EndpointRecord) -> Result<(), RuntimeError> {
    if matches!(record.status, EndpointStatus::InService | EndpointStatus::UpdateRollbackFailed) {
        Ok(())
    } else {
        Err(RuntimeError::EndpointInProgress { arn: record.arn.clone() })
    }
}
