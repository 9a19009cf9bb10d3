//! One transform job from start to end: list the inputs, bring `InstanceCount` instances of the
//! pipeline up, resolve the execution parameters, transform every object on the instance it was
//! given (up to `MaxConcurrentTransforms` requests in flight per instance), write each output only
//! when its whole object succeeded, then keep the logs, remove the containers and record the end.
//! See <https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform.html>.

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use futures::{FutureExt, StreamExt, TryStreamExt, stream};
use smemu_backend::{OwnerKind, PlacedInstance};
use smemu_batch::capture::{self as batch_capture, StampFormat};
use smemu_batch::{PreparedObject, Reassembler, TransformPlan, distribute_objects, output_uri, relative_key};
use smemu_objects::Objects;
use smemu_types::sagemaker::TransformJobStatus;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_util::io::StreamReader;

use super::doc::{self, JobDoc};
use super::inputs::{self, Input, Inputs};
use super::params::{self, ExecutionParameters};
use super::segments::{self, Segments};
use super::{JobKey, TransformJobs, update};
use crate::capture::Followed;
use crate::clock::now_ms;
use crate::failure::JobFailure;
use crate::invoke::batch::{BatchCallError, BatchTransport};
use crate::invoke::relay::{Hop, PipelineError};
use crate::launch::{LOG_TAIL, LaunchSpec};

/// How long the containers of a job may take to answer `/ping` (SageMaker's hosting default).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(240);
/// How long the first container may take to answer `GET /execution-parameters`.
const EXECUTION_PARAMETERS_TIMEOUT: Duration = Duration::from_secs(10);
/// How many lines of each container's log are kept with the job when it ends.
const CONTAINER_LOG_LINES: usize = 50;

/// How a job ended.
pub(super) enum Outcome {
    Completed,
    Failed(JobFailure),
    Stopped,
}

/// Runs the job and records how it ended; failures are recorded, never returned.
pub(super) async fn run(jobs: &TransformJobs, key: &JobKey, mut stop: watch::Receiver<bool>) {
    let store = jobs.inner.store.as_ref();
    let doc: JobDoc = match store.get_transform_job(&key.scope(), &key.name).await {
        Ok(record) if record.status == TransformJobStatus::InProgress => match serde_json::from_value(record.state) {
            Ok(doc) => doc,
            Err(err) => {
                tracing::error!(job = %key.name, error = %err, "reading a transform job");
                return;
            }
        },
        // Stopped before it started.
        Ok(_) => return finish(jobs, key, Outcome::Stopped, Vec::new(), now_ms()).await,
        Err(err) => {
            tracing::error!(job = %key.name, error = %err, "reading a transform job");
            return;
        }
    };
    let log = JobLog::default();
    let work = Work { jobs, key, doc: &doc, log: &log, stop: stop.clone(), epoch_s: now_ms() / 1000 };
    let outcome = tokio::select! {
        result = work.transform() => match result {
            Ok(()) => Outcome::Completed,
            Err(failure) => Outcome::Failed(failure),
        },
        // Dropping the work cancels the requests in flight; the containers go in `finish`.
        () = stopped(&mut stop) => Outcome::Stopped,
    };
    // TransformEndTime is when the work ended, not when the clean-up below is done.
    let ended_ms = now_ms();
    let mut lines = log.take();
    lines.extend(container_logs(jobs, key).await);
    finish(jobs, key, outcome, lines, ended_ms).await;
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|stop| *stop).await.is_err() {
        // The switch went away without being flipped: nobody can stop this job any more.
        std::future::pending::<()>().await;
    }
}

/// Removes the job's containers, then records the end: `Stopped` when a stop was asked for
/// (whatever the work achieved), else the outcome, ending at `ended_ms`. A job that already ended
/// is left alone.
pub(super) async fn finish(jobs: &TransformJobs, key: &JobKey, outcome: Outcome, lines: Vec<String>, ended_ms: i64) {
    jobs.launcher().remove_resource(OwnerKind::TransformJob, &key.resource_label(), None).await;
    let mut kept = Vec::new();
    let result = update(jobs.inner.store.as_ref(), &key.scope(), &key.name, |record, doc| {
        if doc::is_terminal(&record.status) {
            return false;
        }
        let (status, reason) = match &outcome {
            _ if record.status == TransformJobStatus::Stopping => (TransformJobStatus::Stopped, None),
            Outcome::Stopped => (TransformJobStatus::Stopped, None),
            Outcome::Completed => (TransformJobStatus::Completed, None),
            Outcome::Failed(failure) => (TransformJobStatus::Failed, Some(failure.reason())),
        };
        record.status = status.to_owned();
        doc.failure_reason = reason;
        doc.end_ms = Some(ended_ms);
        doc.logs.extend(lines.iter().cloned());
        let extra = doc.logs.len().saturating_sub(doc::MAX_LOG_LINES);
        doc.logs.drain(..extra);
        kept.clone_from(&doc.logs);
        true
    })
    .await;
    match result {
        Ok(record) => tracing::info!(job = %key.name, status = %record.status, "transform job ended"),
        Err(err) => tracing::error!(job = %key.name, error = %err, "recording the end of a transform job"),
    }
    if let Some(path) = jobs.log_file(key)
        && !kept.is_empty()
    {
        write_log(&path, &kept).await;
    }
}

/// Writes the job's log lines to its log file; a failure only costs the file (the lines stay in
/// the store).
async fn write_log(path: &std::path::Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    let written = async {
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        tokio::fs::write(path, text).await
    }
    .await;
    if let Err(err) = written {
        tracing::warn!(path = %path.display(), error = %err, "writing a transform job's log");
    }
}

/// The last lines of every container of the job, before they are removed.
async fn container_logs(jobs: &TransformJobs, key: &JobKey) -> Vec<String> {
    let launcher = jobs.launcher();
    let Ok(backend) = launcher.backend() else { return Vec::new() };
    let Ok(observed) = backend.list(launcher.owner()).await else { return Vec::new() };
    let resource = key.resource_label();
    let mut lines = Vec::new();
    for instance in observed.iter().filter(|o| o.kind == OwnerKind::TransformJob && o.resource == resource) {
        for container in &instance.containers {
            let tail = launcher.log_tail(&container.container_id, CONTAINER_LOG_LINES).await;
            lines.extend(
                tail.lines().map(|line| format!("{}/{}: {line}", instance.instance_id, container.name_in_pipeline)),
            );
        }
    }
    lines
}

/// The job's own log lines, written from concurrent tasks.
#[derive(Default)]
struct JobLog(Mutex<Vec<String>>);

impl JobLog {
    fn push(&self, line: String) {
        tracing::info!(target: "smemu::transform_job", "{line}");
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(line);
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

/// One instance of the job's pipeline, and how many requests it may still take.
struct Instance {
    placed: PlacedInstance,
    /// How errors name each container: `primary` alone, its hostname in a pipeline.
    who: Vec<String>,
    permits: Semaphore,
}

impl Instance {
    fn hops(&self) -> Vec<Hop<'_>> {
        self.placed
            .containers
            .iter()
            .zip(&self.who)
            .map(|(c, who)| Hop { who, addr: c.address, latency: None })
            .collect()
    }

    fn container_id(&self, who: &str) -> &str {
        self.who
            .iter()
            .position(|w| w == who)
            .and_then(|i| self.placed.containers.get(i))
            .map_or("", |c| c.container_id.as_str())
    }
}

/// What every object of a job shares once the job runs.
struct Running<'a> {
    objects: &'a Objects,
    inputs: &'a Inputs,
    plan: TransformPlan,
    transport: BatchTransport,
    concurrency: usize,
    output_path: &'a str,
    /// `DataCaptureConfig.GenerateInferenceId` on a CSV or JSON output: the records' format and
    /// the job's start time they carry.
    stamp: Option<(StampFormat, String)>,
}

struct Work<'a> {
    jobs: &'a TransformJobs,
    key: &'a JobKey,
    doc: &'a JobDoc,
    log: &'a JobLog,
    stop: watch::Receiver<bool>,
    /// When the instances started: their log streams are `<job>/<instance-id>-<epoch_s>...`.
    epoch_s: i64,
}

impl Work<'_> {
    async fn transform(&self) -> Result<(), JobFailure> {
        let request = &self.doc.request;
        let launcher = self.jobs.launcher();
        // The job reads and writes S3 as its own account.
        let objects = launcher.objects().map(|objects| objects.as_account(&self.key.account));
        let mut inputs =
            inputs::list(objects.as_ref(), request).await.map_err(|err| JobFailure::Client(err.to_string()))?;
        let objects = objects.as_ref().ok_or_else(|| JobFailure::Client("smemu has no object store".into()))?;
        inputs::fill_sizes(objects, &mut inputs).await;
        let (timeout, retries) = params::client_config(request);
        let transport = BatchTransport::new(
            request.transform_input.as_ref().and_then(|i| i.content_type.as_deref()),
            request.transform_output.as_ref().and_then(|o| o.accept.as_deref()),
            timeout,
            retries,
        )
        .map_err(JobFailure::Client)?;

        let placed = self.launch().await?;
        self.started().await;
        // The captured data is labelled with the hour the job started, and its records with the time.
        let started_ms = now_ms();
        let capture = request.data_capture_config.as_ref();
        let destination = capture.and_then(|c| c.destination_s3_uri.as_deref());
        let output_type = request
            .transform_output
            .as_ref()
            .and_then(|o| o.accept.as_deref())
            .or_else(|| request.transform_input.as_ref().and_then(|i| i.content_type.as_deref()));
        let stamp = capture
            .filter(|c| c.generate_inference_id == Some(true))
            .and_then(|_| output_type.and_then(StampFormat::of))
            .map(|format| (format, crate::data_capture::inference_time(started_ms)));
        let resolved = params::resolve(request, self.execution_parameters(&placed[0]).await?.as_ref())
            .map_err(JobFailure::Client)?;
        self.log.push(resolved.log_line());
        for instance in &placed {
            self.data_log(&instance.instance_id, resolved.log_line());
        }
        let running = Running {
            objects,
            inputs: &inputs,
            plan: params::plan(request, Some(resolved)).map_err(JobFailure::Client)?,
            transport,
            concurrency: usize::try_from(resolved.concurrency).unwrap_or(1),
            output_path: request.transform_output.as_ref().and_then(|o| o.s3_output_path.as_deref()).unwrap_or(""),
            stamp,
        };
        let single = self.doc.pipeline.len() == 1;
        let instances: Vec<Instance> = placed
            .into_iter()
            .map(|placed| Instance {
                who: placed
                    .containers
                    .iter()
                    .map(|c| if single { "primary".to_owned() } else { c.name_in_pipeline.clone() })
                    .collect(),
                placed,
                permits: Semaphore::new(running.concurrency),
            })
            .collect();
        let sizes: Vec<u64> = inputs.items.iter().map(|i| i.size.unwrap_or(0)).collect();
        let assigned = distribute_objects(&sizes, instances.len());
        let per_instance = assigned.into_iter().zip(&instances).map(|(objects, instance)| {
            let running = &running;
            stream::iter(objects)
                .map(move |index| {
                    // Boxed as `Send`: the compiler cannot prove it for this closure's futures otherwise.
                    async move { (index, self.object(running, instance, &running.inputs.items[index]).await) }.boxed()
                })
                .buffer_unordered(running.concurrency)
                .collect::<Vec<_>>()
        });
        let mut results: Vec<(usize, Result<(), JobFailure>)> =
            futures::future::join_all(per_instance).await.into_iter().flatten().collect();
        // The job fails with the first failed object in input order; the others kept their output.
        results.sort_by_key(|(index, _)| *index);
        let done: Vec<&Input> =
            results.iter().filter(|(_, result)| result.is_ok()).map(|(index, _)| &inputs.items[*index]).collect();
        let captured = match destination {
            Some(destination) if !*self.stop.borrow() => {
                self.write_capture(&running, destination, started_ms, &done).await
            }
            _ => Ok(()),
        };
        // An object's failure is the job's reason before a capture that could not be written.
        match results.into_iter().find_map(|(_, result)| result.err()) {
            Some(failure) => {
                if let Err(err) = captured {
                    tracing::warn!(job = %self.key.name, error = %err, "writing a failed job's captured data");
                }
                Err(failure)
            }
            None => captured,
        }
    }

    /// `DataCaptureConfig`: manifests of the inputs and outputs of the objects that succeeded,
    /// under `<DestinationS3Uri>/input` and `/output` and the hour the job started
    /// (`smemu_batch::capture`).
    async fn write_capture(
        &self,
        running: &Running<'_>,
        destination: &str,
        started_ms: i64,
        done: &[&Input],
    ) -> Result<(), JobFailure> {
        let Some(first) = done.first() else { return Ok(()) };
        let base = &running.inputs.base;
        // The folder every input's relative key hangs from (the prefix, or a partial name's folder).
        let first_key = relative_key(&first.uri, base);
        let input_prefix = first.uri.strip_suffix(&first_key).unwrap_or(base).to_owned();
        let input_keys: Vec<String> =
            done.iter().map(|input| input.uri.strip_prefix(&input_prefix).unwrap_or(&input.uri).to_owned()).collect();
        let output_prefix = format!("{}/", running.output_path.trim_end_matches('/'));
        let output_keys: Vec<String> = done
            .iter()
            .map(|input| {
                let target = output_uri(&input.uri, base, running.output_path);
                target.strip_prefix(&output_prefix).unwrap_or(&target).to_owned()
            })
            .collect();
        let hour = crate::data_capture::hour_folder(started_ms);
        let destination = destination.trim_end_matches('/');
        for (side, prefix, keys) in [("input", &input_prefix, input_keys), ("output", &output_prefix, output_keys)] {
            let uri = format!("{destination}/{side}/{hour}/{}.jsonl", self.key.name);
            running.objects.put_bytes(&uri, batch_capture::manifest(prefix, &keys)).await.map_err(|err| {
                JobFailure::Data {
                    object: uri.clone(),
                    reason: format!("the captured data could not be written: {err}"),
                }
            })?;
        }
        Ok(())
    }

    async fn launch(&self) -> Result<Vec<PlacedInstance>, JobFailure> {
        let request = &self.doc.request;
        let resources = request.transform_resources.as_ref();
        let count = resources.and_then(|r| r.instance_count).and_then(|n| usize::try_from(n).ok()).unwrap_or(1).max(1);
        // CreateTransformJob admitted the count under the quota (`quota.rs`); never allocate past it.
        let limit = self.jobs.launcher().config().max_instances;
        if u64::try_from(count).unwrap_or(u64::MAX) > u64::from(limit) {
            return Err(JobFailure::Startup(format!("InstanceCount {count} is past --max-instances ({limit}).")));
        }
        let run_id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        let spec = LaunchSpec {
            kind: OwnerKind::TransformJob,
            resource: self.key.resource_label(),
            variant: "transform",
            generation: &run_id,
            instance_type: resources.and_then(|r| r.instance_type.as_ref()).map(|t| t.as_str()),
            containers: &self.doc.pipeline,
            startup_timeout: STARTUP_TIMEOUT,
            epoch_s: self.epoch_s,
        };
        let ids: Vec<String> = (0..count).map(|i| format!("tj{run_id}-{i}")).collect();
        self.jobs.launcher().launch(&spec, &ids).await.map_err(|err| JobFailure::Startup(err.to_string()))
    }

    /// `TransformStartTime`: the containers run and answer.
    async fn started(&self) {
        let result = update(self.jobs.inner.store.as_ref(), &self.key.scope(), &self.key.name, |record, doc| {
            let first = record.status == TransformJobStatus::InProgress && doc.start_ms.is_none();
            if first {
                doc.start_ms = Some(now_ms());
            }
            first
        })
        .await;
        if let Err(err) = result {
            tracing::warn!(job = %self.key.name, error = %err, "recording the start of a transform job");
        }
    }

    /// Asks the first container (of a pipeline: unconfirmed which one SageMaker asks) what it
    /// prefers for the parameters the job left unset; no answer means no preference.
    async fn execution_parameters(&self, instance: &PlacedInstance) -> Result<Option<ExecutionParameters>, JobFailure> {
        let Some(first) = instance.containers.first() else { return Ok(None) };
        let relay = self.jobs.launcher().relay();
        match relay.execution_parameters(first.address, EXECUTION_PARAMETERS_TIMEOUT).await {
            Ok(Some(body)) => ExecutionParameters::parse(&body).map(Some).map_err(JobFailure::Client),
            Ok(None) => Ok(None),
            Err(err) => {
                tracing::warn!(job = %self.key.name, error = %err, "GET /execution-parameters");
                Ok(None)
            }
        }
    }

    /// One object: read, cut into requests, send them (retrying), reassemble in input order, write.
    async fn object(&self, running: &Running<'_>, instance: &Instance, input: &Input) -> Result<(), JobFailure> {
        let result = self.transform_object(running, instance, input).await;
        if let Err(failure) = &result {
            let line = format!("[sagemaker logs]: {}: {failure}", input.uri);
            self.data_log(&instance.placed.instance_id, line.clone());
            self.log.push(line);
        }
        result
    }

    /// A line of the service's own in the instance's `data-log` stream, where SageMaker writes the
    /// job's parameters and each object's failure
    /// (<https://docs.aws.amazon.com/sagemaker/latest/dg/logging-cloudwatch.html>).
    fn data_log(&self, instance_id: &str, line: String) {
        let resource = self.key.resource_label();
        let at = Followed {
            kind: OwnerKind::TransformJob,
            resource: &resource,
            variant: "transform",
            instance_id,
            epoch_s: self.epoch_s,
        };
        self.jobs.launcher().data_log(&at, line);
    }

    /// One object, read in pieces ([`Segments`]): the requests of each piece go out (within the
    /// instance's concurrency), its answers are put back in order and assembled, and the pieces'
    /// outputs stream in order into the output object, which appears only when every piece
    /// succeeded (an upload that fails or is dropped leaves no object behind).
    async fn transform_object(
        &self,
        running: &Running<'_>,
        instance: &Instance,
        input: &Input,
    ) -> Result<(), JobFailure> {
        let data = |reason: String| JobFailure::Data { object: input.uri.clone(), reason };
        let chunks = running.objects.get_stream(&input.uri).await.map_err(|err| data(err.to_string()))?;
        let pieces = stream::unfold(Segments::new(running.plan.clone(), chunks), |mut segments| async move {
            let piece = segments.next().await?;
            Some((piece, segments))
        })
        .boxed();
        let (sender, mut receiver) = mpsc::channel::<std::io::Result<Bytes>>(1);
        let mut failure = None;
        let produce = async {
            // Owned by this block, so that the body ends when the block does.
            let sender = sender;
            let mut outputs = pieces
                .map(|piece| {
                    async move {
                        match piece {
                            Ok(prepared) => self.piece(running, instance, input, prepared).await,
                            Err(reason) => Err(JobFailure::Data { object: input.uri.clone(), reason }),
                        }
                    }
                    .boxed()
                })
                .buffered(running.concurrency + 1);
            while let Some(output) = outputs.next().await {
                let item = output.map_err(|err| {
                    failure = Some(err);
                    std::io::Error::other("the object could not be transformed")
                });
                let failed = item.is_err();
                if sender.send(item).await.is_err() || failed {
                    return;
                }
            }
            if *self.stop.borrow() {
                // A stopped job writes nothing more: failing the body abandons the upload.
                let _ = sender.send(Err(std::io::Error::other("the job was stopped"))).await;
            }
        };
        let target = output_uri(&input.uri, &running.inputs.base, running.output_path);
        let body = StreamReader::new(Box::pin(stream::poll_fn(move |cx| receiver.poll_recv(cx))));
        let ((), written) = futures::future::join(produce, running.objects.put_stream(&target, body)).await;
        if let Some(failure) = failure {
            return Err(failure);
        }
        if *self.stop.borrow() {
            return Ok(());
        }
        written.map_err(|err| JobFailure::Data { object: target.clone(), reason: err.to_string() })?;
        Ok(())
    }

    /// One piece of an object: its requests through the pipeline, its output assembled.
    async fn piece(
        &self,
        running: &Running<'_>,
        instance: &Instance,
        input: &Input,
        prepared: PreparedObject,
    ) -> Result<Bytes, JobFailure> {
        let data = |reason: String| JobFailure::Data { object: input.uri.clone(), reason };
        let relay = self.jobs.launcher().relay();
        let hops = instance.hops();
        // Owned, so that the futures below borrow nothing of `prepared` (which keeps them `Send`).
        let requests: Vec<(usize, Bytes)> = prepared.requests().iter().map(|r| (r.index, r.body.clone())).collect();
        let answered: Result<Vec<(usize, Bytes)>, BatchCallError> = stream::iter(requests)
            .map(|(index, body)| {
                let hops = &hops;
                async move {
                    // Never closed, so acquiring only waits.
                    let _permit = instance.permits.acquire().await;
                    running.transport.call(relay, hops, body).await.map(|body| (index, body))
                }
                .boxed()
            })
            .buffer_unordered(running.concurrency)
            .try_collect()
            .await;
        let answered = match answered {
            Ok(answered) => answered,
            Err(err) => return Err(self.algorithm_error(instance, input, err).await),
        };
        let mut reassembler = Reassembler::new(prepared.requests().len());
        for (index, body) in answered {
            reassembler.insert(index, body).map_err(|err| data(err.to_string()))?;
        }
        let ordered = reassembler.into_ordered().map_err(|err| data(err.to_string()))?;
        let output = prepared
            .assemble(ordered)
            .map_err(|err| data(segments::describe(running.plan.settings().split, 0, err)))?;
        match &running.stamp {
            // GenerateInferenceId: a random UUID per output record, with the job's start time.
            Some((format, time)) => {
                batch_capture::stamp_lines(&output, *format, time, || uuid::Uuid::new_v4().to_string()).map_err(data)
            }
            None => Ok(output),
        }
    }

    async fn algorithm_error(&self, instance: &Instance, input: &Input, err: BatchCallError) -> JobFailure {
        let who = err.last.who().to_owned();
        let cause = match &err.last {
            PipelineError::Status { who, status, body } => {
                JobFailure::container_status(*status, who, &String::from_utf8_lossy(body))
            }
            other => other.to_string(),
        };
        let log_tail = self.jobs.launcher().log_tail(instance.container_id(&who), LOG_TAIL).await;
        JobFailure::Algorithm { object: input.uri.clone(), attempts: err.attempts, cause, who, log_tail }
    }
}
