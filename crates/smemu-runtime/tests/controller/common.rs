//! What the controller tests share: a fake engine ([`Env`]), a smemu "process" on it ([`Smemu`]:
//! a SQLite store in the temporary directory and the controllers), and every call that creates,
//! updates, deletes, invokes, starts, stops or describes, in one place.
//!
//! The calls below do what the operations in `smemu-api/src/ops/` do today (store the record the
//! way CreateEndpoint, UpdateEndpoint, DeleteEndpoint, CreateTransformJob and StopTransformJob
//! store it, then kick the controller); when the runtime offers its domain API (deploy, update,
//! delete, invoke, start_job, stop_job, describe), only these helpers change.
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
use smemu_runtime::control::jobs::doc::{self as job_status, JobDoc};
use smemu_runtime::control::jobs::{JobKey, params, update};
use smemu_runtime::control::plan::{ContainerPlan, EndpointDoc, Fleet, VariantPlan};
use smemu_runtime::control::{EndpointKey, status};
use smemu_runtime::invoke::{Invocation, InvokeError, Invoked};
use smemu_runtime::{ControllerConfig, Endpoints, Launcher, TransformJobs};
use smemu_store::{EndpointRecord, Scope, SqliteStore, Store, StoreError, TransformJobRecord};
use smemu_types::sagemaker::CreateTransformJobRequest;

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
    store: Arc<dyn Store>,
    endpoints: Endpoints,
    jobs: TransformJobs,
}

/// What DescribeEndpoint would show of an endpoint.
#[derive(Debug, Clone)]
pub struct EndpointView {
    pub status: String,
    pub failure_reason: Option<String>,
    /// The fleet that serves (`smemu.generation` of its instances).
    pub fleet_id: String,
    pub config_name: String,
    pub updating_to: Option<String>,
}

/// What DescribeTransformJob would show of a job.
#[derive(Debug, Clone)]
pub struct JobView {
    pub status: String,
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
        let launcher = Launcher::new(
            Ok(backend),
            Some(objects),
            ControllerConfig {
                owner: env.owner.clone(),
                data_dir: env.dir.path().display().to_string(),
                artifacts_dir: env.dir.path().join("artifacts"),
                max_artifact_size: 1 << 20,
                artifact_cache_size: 1 << 20,
                resource_limits: false,
                watchdog_interval: WATCHDOG_INTERVAL,
                max_instances: 20,
            },
        );
        let endpoints = Endpoints::new(store.clone(), launcher.clone());
        let jobs = TransformJobs::new(store.clone(), launcher, env.dir.path().join("logs"));
        jobs.start().await;
        Box::pin(endpoints.start()).await;
        Smemu { store, endpoints, jobs }
    }

    // ---- endpoints ----

    /// CreateEndpoint of a fleet (what CreateEndpoint resolves from a config and its models).
    pub async fn deploy(&self, name: &str, fleet: Fleet) {
        let doc = EndpointDoc { failure_reason: None, last_deployment_config: None, current: fleet, pending: None };
        let now = now_ms();
        let record = EndpointRecord {
            scope: scope(),
            name: name.into(),
            arn: format!("arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/{}", name.to_lowercase()),
            status: status::CREATING.into(),
            created_ms: now,
            modified_ms: now,
            version: 1,
            state: serde_json::to_value(&doc).expect("doc"),
        };
        self.store.create_endpoint(&record, &[]).await.expect("create endpoint");
        self.endpoints.kick(EndpointKey::new(&scope(), name));
    }

    /// UpdateEndpoint to a new fleet (blue/green).
    pub async fn update(&self, name: &str, fleet: Fleet) {
        let (record, mut doc) = self.load(name).await;
        assert_eq!(record.status, status::IN_SERVICE, "UpdateEndpoint needs an InService endpoint");
        doc.failure_reason = None;
        doc.pending = Some(fleet);
        self.save_and_kick(record, status::UPDATING, &doc).await;
    }

    /// DeleteEndpoint.
    pub async fn delete(&self, name: &str) {
        let (record, doc) = self.load(name).await;
        self.save_and_kick(record, status::DELETING, &doc).await;
    }

    /// InvokeEndpoint with a body of `text/csv`.
    pub async fn invoke(&self, name: &str, body: &str) -> Result<Invoked, InvokeError> {
        let live = self.endpoints.live(&scope(), name).await?;
        let request = Invocation {
            body: Bytes::copy_from_slice(body.as_bytes()),
            content_type: Some(HeaderValue::from_static("text/csv")),
            accept: None,
            custom_attributes: None,
            target_variant: None,
            target_container: None,
            inference_id: None,
        };
        self.endpoints.invoke_live(&scope(), name, &live, request).await
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
        let record = match self.store.get_endpoint(&scope(), name).await {
            Ok(record) => record,
            Err(StoreError::NotFound { .. }) => return None,
            Err(err) => panic!("reading endpoint {name}: {err}"),
        };
        let doc: EndpointDoc = serde_json::from_value(record.state).expect("endpoint doc");
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
        let Ok(live) = self.endpoints.live(&scope(), name).await else { return Vec::new() };
        live.instances()
            .map(|i| (i.instance_id.clone(), i.containers.iter().map(|(_, addr)| *addr).collect()))
            .collect()
    }

    /// Waits until the endpoint is neither `Creating` nor `Updating`.
    pub async fn settled(&self, name: &str) -> EndpointView {
        eventually(&format!("endpoint {name} to settle"), || async {
            self.describe(name).await.filter(|v| v.status != status::CREATING && v.status != status::UPDATING)
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

    async fn load(&self, name: &str) -> (EndpointRecord, EndpointDoc) {
        let record = self.store.get_endpoint(&scope(), name).await.expect("endpoint");
        let doc = serde_json::from_value(record.state.clone()).expect("endpoint doc");
        (record, doc)
    }

    async fn save_and_kick(&self, record: EndpointRecord, status: &str, doc: &EndpointDoc) {
        let key = EndpointKey::new(&record.scope, &record.name);
        let changed = EndpointRecord {
            status: status.to_owned(),
            modified_ms: now_ms(),
            state: serde_json::to_value(doc).expect("doc"),
            ..record
        };
        self.store.update_endpoint(&changed).await.expect("update endpoint");
        self.endpoints.kick(key);
    }

    // ---- transform jobs ----

    /// CreateTransformJob of `request` (the API's JSON, without the model's containers) on a
    /// model whose pipeline is `containers`.
    pub async fn start_job(&self, name: &str, request: serde_json::Value, containers: Vec<ContainerPlan>) {
        let request: CreateTransformJobRequest = serde_json::from_value(request).expect("request");
        let doc = JobDoc {
            pipeline: params::job_pipeline(containers, &request),
            request,
            failure_reason: None,
            start_ms: None,
            end_ms: None,
            logs: Vec::new(),
        };
        let now = now_ms();
        let record = TransformJobRecord {
            scope: scope(),
            name: name.into(),
            arn: format!("arn:aws:sagemaker:{REGION}:{ACCOUNT}:transform-job/{}", name.to_lowercase()),
            status: job_status::IN_PROGRESS.into(),
            created_ms: now,
            modified_ms: now,
            version: 1,
            state: serde_json::to_value(&doc).expect("doc"),
        };
        self.store.create_transform_job(&record, &[]).await.expect("create transform job");
        self.jobs.run(JobKey::new(&scope(), name));
    }

    /// StopTransformJob.
    pub async fn stop_job(&self, name: &str) {
        let record = update(self.store.as_ref(), &scope(), name, |record, _| {
            let running = record.status == job_status::IN_PROGRESS;
            if running {
                record.status = job_status::STOPPING.into();
            }
            running
        })
        .await
        .expect("stop");
        assert_eq!(record.status, job_status::STOPPING);
        self.jobs.stop(&JobKey::new(&scope(), name));
    }

    /// DescribeTransformJob.
    pub async fn describe_job(&self, name: &str) -> JobView {
        let record = self.store.get_transform_job(&scope(), name).await.expect("transform job");
        let doc: JobDoc = serde_json::from_value(record.state).expect("job doc");
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
            Some(self.describe_job(name).await).filter(|job| job_status::is_terminal(&job.status))
        })
        .await
    }
}

// ---- what tests deploy ----

/// A single-container model.
pub fn container(image: &str) -> ContainerPlan {
    ContainerPlan {
        hostname: "primary".into(),
        image: image.into(),
        environment: Default::default(),
        model_data_url: None,
        model_data_prefix: None,
    }
}

/// A variant of `instances` instances of a single-container model.
pub fn variant(name: &str, image: &str, instances: i32) -> VariantPlan {
    VariantPlan {
        name: name.into(),
        model_name: format!("model-{}", image.replace([':', '/'], "-")),
        containers: vec![container(image)],
        direct: false,
        instance_type: Some("ml.m5.large".into()),
        desired_instances: instances,
        current_instances: 0,
        desired_weight: 1.0,
        current_weight: 0.0,
        // Healthy fakes answer at once; a test of a failing health check sets 1.
        startup_timeout_s: 30,
        deployed_images: Vec::new(),
    }
}

/// The fleet an endpoint config resolves to.
pub fn fleet(config_name: &str, variants: Vec<VariantPlan>) -> Fleet {
    Fleet {
        id: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
        config_name: config_name.into(),
        started_ms: now_ms(),
        variants,
    }
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
