//! What the controller tests share: a fake engine ([`Env`]), a smemu "process" on it ([`Smemu`]:
//! a SQLite store in the temporary directory and the controllers), and every call that creates,
//! updates, deletes, invokes, starts, stops or describes, in one place.
//!
//! The calls below go through the runtime's domain API ([`Runtime`]) as smemu-api's operations do;
//! the models and endpoint configurations they deploy are stored first, as CreateModel and
//! CreateEndpointConfig store them.
#![allow(clippy::expect_used)] // Helpers fail the test by panicking, like the tests themselves.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderValue;
use smemu_backend::fake::FakeBackend;
use smemu_backend::{Backend, ObservedInstance, OwnerKind};
use smemu_objects::{FileRoots, Objects, ObjectsConfig};
use smemu_runtime::{
    AcceptedAsync, ControllerConfig, EndpointUpdate, Invocation, InvokeError, Invoked, NewAsyncRequest, NewEndpoint,
    NewJob, Runtime, RuntimeError,
};
use smemu_store::{ImmutableKind, Record, Scope, SqliteStore, Store, StoreError};
use smemu_telemetry::logs::{Cursor, LOGS_FILE, LogConfig, LogStore, StreamOrder, TimeRange};
use smemu_types::sagemaker::{CreateModelInput, CreateTransformJobRequest, EndpointStatus, TransformJobStatus};

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
/// Short, so that a crash is seen within a test's time.
const WATCHDOG_INTERVAL: Duration = Duration::from_millis(50);
/// How long a test waits for a state it expects; passing tests wait milliseconds.
const PATIENCE: Duration = Duration::from_secs(20);

pub fn scope() -> Scope {
    Scope { account: ACCOUNT.into(), region: REGION.into() }
}

/// What outlives one smemu process: its data directory and the engine its containers run on.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub fake: FakeBackend,
    /// The `smemu.owner` label of this data directory's containers.
    pub owner: String,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("files")).expect("files dir");
        let owner = format!("ctl-test-{}", uuid::Uuid::new_v4().simple());
        Env { dir, fake: FakeBackend::start().expect("fake engine"), owner }
    }

    /// A path under the `--file-root` (`<tmp>/files`).
    pub fn file(&self, relative: &str) -> PathBuf {
        self.dir.path().join("files").join(relative)
    }

    /// The `file://` URI of [`Env::file`].
    pub fn file_uri(&self, relative: &str) -> String {
        format!("file://{}", self.file(relative).display())
    }

    /// Every instance the engine runs for this data directory.
    pub async fn instances(&self) -> Vec<ObservedInstance> {
        self.fake.list(&self.owner).await.expect("list")
    }

    pub async fn instances_of(&self, kind: OwnerKind) -> Vec<ObservedInstance> {
        self.instances().await.into_iter().filter(|i| i.kind == kind).collect()
    }

    /// The addresses of every running instance, by instance id, sorted.
    pub async fn running_addresses(&self) -> Vec<(String, Vec<SocketAddr>)> {
        let mut running: Vec<(String, Vec<SocketAddr>)> = self
            .instances()
            .await
            .into_iter()
            .filter(|i| i.all_running())
            .map(|i| (i.instance_id, i.containers.iter().filter_map(|c| c.address).collect()))
            .collect();
        running.sort();
        running
    }
}

/// One smemu process: the store in the data directory, the controllers, started as `smemu` starts
/// them (transform jobs settled, endpoints adopted, the watchdog running).
pub struct Smemu {
    pub store: Arc<dyn Store>,
    pub runtime: Runtime,
    /// Where containers' output is captured (`<tmp>/logs.sqlite`).
    pub logs: LogStore,
}

/// What DescribeEndpoint would show of an endpoint.
#[derive(Debug, Clone)]
pub struct EndpointView {
    pub status: EndpointStatus,
    pub failure_reason: Option<String>,
    /// The fleet that serves (`smemu.generation` of its instances).
    pub fleet_id: String,
    pub config_name: String,
    pub updating_to: Option<String>,
}

/// What DescribeTransformJob would show of a job.
#[derive(Debug, Clone)]
pub struct JobView {
    pub status: TransformJobStatus,
    pub failure_reason: Option<String>,
    pub started: bool,
    pub ended: bool,
    pub logs: Vec<String>,
}

impl Smemu {
    pub async fn start(env: &Env) -> Smemu {
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(&env.dir.path().join("state.db")).await.expect("open the store"));
        // No S3 is used: an address where nothing listens keeps the SDK away from the host's AWS
        // settings; `file://` is confined to `<tmp>/files`.
        let objects = Objects::new(ObjectsConfig {
            embedded_endpoint: Some("http://127.0.0.1:9".into()),
            default_account: ACCOUNT.into(),
            region: REGION.into(),
            ..Default::default()
        })
        .await
        .expect("objects")
        .with_file_roots(FileRoots::new(&[env.dir.path().join("files")]));
        let backend: Arc<dyn Backend> = Arc::new(env.fake.clone());
        let config = ControllerConfig {
            owner: env.owner.clone(),
            data_dir: env.dir.path().display().to_string(),
            artifacts_dir: env.dir.path().join("artifacts"),
            max_artifact_size: 1 << 20,
            artifact_cache_size: 1 << 20,
            resource_limits: false,
            watchdog_interval: WATCHDOG_INTERVAL,
            max_instances: 20,
            transform_logs_dir: env.dir.path().join("logs"),
            max_async_queued: 1000,
            max_async_input_bytes: 1 << 20,
            capture: Default::default(),
        };
        let runtime = Runtime::new(store.clone(), Ok(backend), Some(objects), config);
        let logs = LogStore::open(&env.dir.path().join(LOGS_FILE), LogConfig { retention_bytes: u64::MAX })
            .await
            .expect("open the log store");
        runtime.capture_logs(logs.clone());
        runtime.start().await;
        Smemu { store, runtime, logs }
    }

    // ---- endpoints ----

    /// CreateModel and CreateEndpointConfig of what `config` deploys.
    pub async fn store_config(&self, config: &ConfigSpec) {
        let mut variants = Vec::new();
        for variant in &config.variants {
            let model = model_name(&variant.image);
            self.store_model(&model, serde_json::json!({ "PrimaryContainer": { "Image": variant.image } })).await;
            variants.push(serde_json::json!({
                "VariantName": variant.name,
                "ModelName": model,
                "InitialInstanceCount": variant.instances,
                "InstanceType": "ml.m5.large",
                "ContainerStartupHealthCheckTimeoutInSeconds": variant.startup_timeout_s,
            }));
        }
        let mut spec = serde_json::json!({ "ProductionVariants": variants });
        if let Some(config) = &config.async_inference {
            spec["AsyncInferenceConfig"] = config.clone();
        }
        self.store_immutable(ImmutableKind::EndpointConfig, &config.name, spec).await;
    }

    async fn store_model(&self, name: &str, spec: serde_json::Value) {
        self.store_immutable(ImmutableKind::Model, name, spec).await;
    }

    /// Stores a model or endpoint config; one stored already (by an earlier call) is kept.
    async fn store_immutable(&self, kind: ImmutableKind, name: &str, spec: serde_json::Value) {
        let record = Record {
            scope: scope(),
            name: name.into(),
            arn: format!("arn:aws:sagemaker:{REGION}:{ACCOUNT}:{}/{}", kind.noun().replace(' ', "-"), name),
            created_ms: now_ms(),
            spec,
        };
        match self.store.create(kind, &record, &[]).await {
            Ok(()) | Err(StoreError::AlreadyExists { .. }) => {}
            Err(err) => panic!("storing {name}: {err}"),
        }
    }

    /// The messages of every stream of a log group, by stream name, in time order.
    pub async fn log_lines(&self, group: &str) -> Vec<(String, Vec<String>)> {
        let Some(group) = self.logs.group_id(ACCOUNT, REGION, group).await.expect("log group") else {
            return Vec::new();
        };
        let mut lines = Vec::new();
        for stream in self.logs.streams(group, None, StreamOrder::Name, false, 0, 50).await.expect("streams") {
            let id = self.logs.stream_id(group, &stream.name).await.expect("stream").expect("stream id");
            let events = self.logs.events_after(id, Cursor::START, TimeRange::default(), 1000).await.expect("events");
            lines.push((stream.name, events.into_iter().map(|e| e.message).collect()));
        }
        lines
    }

    /// CreateEndpoint of an endpoint configuration; returns the id of the fleet it deploys.
    pub async fn deploy(&self, name: &str, config: ConfigSpec) -> String {
        self.store_config(&config).await;
        let arn = format!("arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{}", name.to_lowercase());
        let new = NewEndpoint {
            scope: &scope(),
            name,
            arn: &arn,
            config_name: &config.name,
            deployment_config: None,
            tags: &[],
        };
        self.runtime.deploy(new).await.expect("create endpoint");
        self.runtime.describe(&scope(), name).await.expect("endpoint").doc.current.id
    }

    /// UpdateEndpoint to a new configuration (blue/green); returns the id of the new fleet.
    pub async fn update(&self, name: &str, config: ConfigSpec) -> String {
        self.store_config(&config).await;
        let update = EndpointUpdate { config_name: &config.name, retain: None, deployment_config: None };
        self.runtime.update(&scope(), name, update).await.expect("update endpoint");
        let pending = self.runtime.describe(&scope(), name).await.expect("endpoint").doc.pending;
        pending.map(|fleet| fleet.id).unwrap_or_default()
    }

    /// DeleteEndpoint.
    pub async fn delete(&self, name: &str) {
        self.runtime.delete(&scope(), name).await.expect("delete endpoint");
    }

    /// InvokeEndpoint with a body of `text/csv`.
    pub async fn invoke(&self, name: &str, body: &str) -> Result<Invoked, InvokeError> {
        let live = self.runtime.live(&scope(), name).await?;
        let request = Invocation {
            body: Bytes::copy_from_slice(body.as_bytes()),
            content_type: Some(HeaderValue::from_static("text/csv")),
            accept: None,
            custom_attributes: None,
            target_variant: None,
            target_container: None,
            inference_id: None,
            received: std::time::Instant::now(),
        };
        self.runtime.invoke(&scope(), name, &live, request).await
    }

    /// InvokeEndpointAsync with an inline `text/csv` body.
    pub async fn invoke_async(&self, name: &str, body: &str, id: &str) -> Result<AcceptedAsync, InvokeError> {
        let request = NewAsyncRequest {
            inference_id: Some(id.into()),
            body: Some(Bytes::copy_from_slice(body.as_bytes())),
            content_type: Some("text/csv".into()),
            ..Default::default()
        };
        self.runtime.invoke_async(&scope(), name, request).await
    }

    /// The answer's body as text; panics on an error.
    pub async fn invoke_ok(&self, name: &str, body: &str) -> String {
        match self.invoke(name, body).await {
            Ok(answer) => String::from_utf8_lossy(&answer.body).into_owned(),
            Err(err) => panic!("invoking {name}: {err}"),
        }
    }

    /// DescribeEndpoint; `None` once the endpoint is gone.
    pub async fn describe(&self, name: &str) -> Option<EndpointView> {
        let smemu_runtime::EndpointView { record, doc } = match self.runtime.describe(&scope(), name).await {
            Ok(view) => view,
            Err(RuntimeError::Store(StoreError::NotFound { .. })) => return None,
            Err(err) => panic!("reading endpoint {name}: {err}"),
        };
        Some(EndpointView {
            status: record.status,
            failure_reason: doc.failure_reason,
            fleet_id: doc.current.id,
            config_name: doc.current.config_name,
            updating_to: doc.pending.map(|p| p.config_name),
        })
    }

    /// Where InvokeEndpoint routes now: each instance's id and its containers' addresses
    /// (empty when nothing is routed).
    pub async fn routed(&self, name: &str) -> Vec<(String, Vec<SocketAddr>)> {
        let Ok(live) = self.runtime.live(&scope(), name).await else { return Vec::new() };
        live.instances()
            .map(|i| (i.instance_id.clone(), i.containers.iter().map(|(_, addr)| *addr).collect()))
            .collect()
    }

    /// Waits until the endpoint is neither `Creating` nor `Updating`.
    pub async fn settled(&self, name: &str) -> EndpointView {
        eventually(&format!("endpoint {name} to settle"), || async {
            self.describe(name)
                .await
                .filter(|v| v.status != EndpointStatus::Creating && v.status != EndpointStatus::Updating)
        })
        .await
    }

    /// Waits until the endpoint is gone.
    pub async fn gone(&self, name: &str) {
        eventually(&format!("endpoint {name} to be deleted"), || async {
            self.describe(name).await.is_none().then_some(())
        })
        .await;
    }

    // ---- transform jobs ----

    /// CreateTransformJob of `request` (the API's JSON) on a model whose pipeline runs `images`.
    pub async fn start_job(&self, name: &str, request: serde_json::Value, images: Vec<String>) {
        let request: CreateTransformJobRequest = serde_json::from_value(request).expect("request");
        let containers: Vec<serde_json::Value> =
            images.iter().map(|image| serde_json::json!({ "Image": image })).collect();
        // One image is a single-container model (its container is `primary`), more a pipeline.
        let model = match containers.as_slice() {
            [one] => serde_json::json!({ "PrimaryContainer": one }),
            _ => serde_json::json!({ "Containers": containers }),
        };
        let model: CreateModelInput = serde_json::from_value(model).expect("model");
        let arn = format!("arn:aws:sagemaker:{REGION}:{ACCOUNT}:transform-job/{}", name.to_lowercase());
        let new = NewJob { scope: &scope(), name, arn: &arn, model: &model, request: &request, tags: &[] };
        self.runtime.start_job(new).await.expect("create transform job");
    }

    /// StopTransformJob.
    pub async fn stop_job(&self, name: &str) {
        self.runtime.stop_job(&scope(), name).await.expect("stop");
    }

    /// DescribeTransformJob.
    pub async fn describe_job(&self, name: &str) -> JobView {
        let smemu_runtime::JobView { record, doc } =
            self.runtime.describe_job(&scope(), name).await.expect("transform job");
        JobView {
            status: record.status,
            failure_reason: doc.failure_reason,
            started: doc.start_ms.is_some(),
            ended: doc.end_ms.is_some(),
            logs: doc.logs,
        }
    }

    /// Waits until the job has ended (`Completed`, `Failed` or `Stopped`).
    pub async fn job_ended(&self, name: &str) -> JobView {
        eventually(&format!("transform job {name} to end"), || async {
            Some(self.describe_job(name).await).filter(|job| smemu_runtime::doc::is_terminal(&job.status))
        })
        .await
    }
}

// ---- what tests deploy ----

/// One variant of an endpoint configuration: `instances` instances of a single-container model.
#[derive(Debug, Clone)]
pub struct VariantSpec {
    pub name: String,
    pub image: String,
    pub instances: i32,
    /// `ContainerStartupHealthCheckTimeoutInSeconds`: healthy fakes answer at once; a test of a
    /// failing health check sets 1.
    pub startup_timeout_s: u64,
}

/// An endpoint configuration.
#[derive(Debug, Clone)]
pub struct ConfigSpec {
    pub name: String,
    pub variants: Vec<VariantSpec>,
    /// `AsyncInferenceConfig` (the API's JSON): an asynchronous endpoint.
    pub async_inference: Option<serde_json::Value>,
}

/// A single-container model's image, for a transform job.
pub fn container(image: &str) -> String {
    image.to_owned()
}

pub fn variant(name: &str, image: &str, instances: i32) -> VariantSpec {
    VariantSpec { name: name.into(), image: image.into(), instances, startup_timeout_s: 30 }
}

/// The endpoint configuration `config_name` of these variants.
pub fn fleet(config_name: &str, variants: Vec<VariantSpec>) -> ConfigSpec {
    ConfigSpec { name: config_name.into(), variants, async_inference: None }
}

/// An asynchronous endpoint configuration answering under `output` and failing under `failure`,
/// one request at a time per instance.
pub fn async_fleet(config_name: &str, variants: Vec<VariantSpec>, output: &str, failure: &str) -> ConfigSpec {
    let config = serde_json::json!({
        "OutputConfig": { "S3OutputPath": output, "S3FailurePath": failure },
        "ClientConfig": { "MaxConcurrentInvocationsPerInstance": 1 }
    });
    ConfigSpec { name: config_name.into(), variants, async_inference: Some(config) }
}

/// One model per image.
fn model_name(image: &str) -> String {
    format!("model-{}", image.replace([':', '/', '.'], "-"))
}

/// A transform job's request: every object under `in/`, one request per object, into `out/`.
pub fn job_request(env: &Env, instances: i32) -> serde_json::Value {
    serde_json::json!({
        "ModelName": "model",
        "TransformInput": {
            "DataSource": { "S3DataSource": { "S3DataType": "S3Prefix", "S3Uri": env.file_uri("in/") } },
            "ContentType": "text/csv"
        },
        "TransformOutput": { "S3OutputPath": env.file_uri("out/") },
        "TransformResources": { "InstanceType": "ml.m5.large", "InstanceCount": instances }
    })
}

/// `count` small CSV objects under `in/`: `part-<i>.csv` holds `<i>,a` and `<i>,b`.
pub fn write_inputs(env: &Env, count: usize) {
    std::fs::create_dir_all(env.file("in")).expect("in dir");
    for i in 0..count {
        std::fs::write(env.file(&format!("in/part-{i}.csv")), format!("{i},a\n{i},b\n")).expect("input");
    }
}

/// Polls `probe` until it gives a value; fails the test after a bounded wait.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what} after {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn now_ms() -> i64 {
    smemu_runtime::clock::now_ms()
}
