//! An in-memory [`Backend`] for tests of the controllers: no engine, containers that start in
//! microseconds, and failures on demand.
//!
//! Each "container" is a small HTTP/1.1 server in this process on `127.0.0.1:0` (`server.rs`)
//! that answers `GET /ping`, `GET /execution-parameters` and `POST /invocations` as the
//! [`Behaviour`] scripted for its image says, now (`behaviour.rs`): scripting an image again
//! changes its running containers too (a model whose health changes), which lets a test hold a
//! deployment at a known point. An image nobody scripted is absent (`ImageNotFound`), as an image
//! the local engine does not have.
//!
//! Instances are kept with the labels a Docker backend writes (owner, kind, resource, variant,
//! instance id, generation, containers in order), so that [`Backend::list`] answers what the
//! engine would, and a new controller on the same `FakeBackend` (clones share it) adopts what an
//! earlier one placed, as after a restart. [`FakeBackend::crash`] stops an instance's containers
//! so that the watchdog sees them exited.
//!
//! The servers run on a runtime of the fake's own (one thread), not on the caller's: like an
//! engine's containers they outlive the smemu that placed them, so a test can drop that smemu's
//! runtime (a restart) and start another. They stop when the last clone of the backend drops.

mod behaviour;
mod server;

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use async_trait::async_trait;
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

use crate::BackendError;
use crate::backend::{
    Backend, ContainerState, InstanceSpec, ObservedContainer, ObservedInstance, OwnerKind, PlacedContainer,
    PlacedInstance,
};
pub use behaviour::Behaviour;
use behaviour::{Script, now};

/// The exit code of a crashed container: killed (128 + SIGKILL), as the engine reports an OOM kill.
pub const CRASH_EXIT_CODE: i64 = 137;

/// The in-memory backend; cheap to clone, clones share the same containers.
#[derive(Debug, Clone)]
pub struct FakeBackend {
    state: Arc<Mutex<State>>,
    /// The fake's own runtime, where the containers' servers run.
    engine: Handle,
}

#[derive(Debug)]
struct State {
    /// Dropped with the last clone of the backend: the engine's thread then ends, and every
    /// server with it.
    _stop: oneshot::Sender<()>,
    scripts: HashMap<String, Script>,
    /// By (owner, instance id), as the labels select them.
    instances: BTreeMap<(String, String), FakeInstance>,
    /// Container ids are `fake-<n>`.
    next_container: u64,
    /// Instances placed so far, removed or not.
    placed: usize,
    /// `POST /invocations` received, by instance id; kept after the instance is removed.
    invocations: BTreeMap<String, Arc<AtomicUsize>>,
}

#[derive(Debug)]
struct FakeInstance {
    kind: OwnerKind,
    resource: String,
    variant: String,
    generation: String,
    containers: Vec<FakeContainer>,
}

#[derive(Debug)]
struct FakeContainer {
    id: String,
    name_in_pipeline: String,
    address: SocketAddr,
    model_dir: Option<std::path::PathBuf>,
    /// Its image's script (its logs, for `logs_tail`).
    script: Script,
    /// `None` while it runs.
    exit_code: Option<i64>,
    /// The server's task: aborting it closes the listener and every connection.
    server: AbortHandle,
}

impl FakeContainer {
    fn stop(&mut self, code: i64) {
        self.server.abort();
        self.exit_code.get_or_insert(code);
    }
}

impl FakeBackend {
    /// A backend with no image and no instance, its engine started on a thread of its own.
    pub fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let engine = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new().name("smemu-fake-engine".into()).spawn(move || {
            // Returns when the sender drops; dropping the runtime then ends every server.
            let _ = runtime.block_on(stopped);
        })?;
        let state = State {
            _stop: stop,
            scripts: HashMap::new(),
            instances: BTreeMap::new(),
            next_container: 0,
            placed: 0,
            invocations: BTreeMap::new(),
        };
        Ok(FakeBackend { state: Arc::new(Mutex::new(state)), engine })
    }

    /// How containers of `image` behave from now on, those running included. Until an image is
    /// scripted it is absent: placing it fails with `ImageNotFound`.
    pub fn script(&self, image: &str, behaviour: Behaviour) {
        let mut state = self.state();
        match state.scripts.get(image) {
            Some(script) => *script.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = behaviour,
            None => {
                state.scripts.insert(image.to_owned(), Arc::new(RwLock::new(behaviour)));
            }
        }
    }

    /// Every container of the instance stops, as if killed ([`CRASH_EXIT_CODE`]): its server
    /// closes, [`Backend::inspect`] and [`Backend::list`] report it not running. Returns whether
    /// the instance existed.
    pub fn crash(&self, instance_id: &str) -> bool {
        let mut state = self.state();
        let mut found = false;
        for ((_, id), instance) in state.instances.iter_mut() {
            if id == instance_id {
                found = true;
                instance.containers.iter_mut().for_each(|c| c.stop(CRASH_EXIT_CODE));
            }
        }
        found
    }

    /// How many `POST /invocations` the containers of each instance received (answered or not
    /// yet), by instance id; instances removed since are still counted.
    pub fn invocations(&self) -> BTreeMap<String, usize> {
        self.state().invocations.iter().map(|(id, count)| (id.clone(), count.load(Ordering::Relaxed))).collect()
    }

    /// How many instances [`Backend::place`] has placed, including those removed since.
    pub fn placed(&self) -> usize {
        self.state().placed
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn find<T>(&self, container_id: &str, read: impl FnOnce(&FakeContainer) -> T) -> Result<T, BackendError> {
        let state = self.state();
        state
            .instances
            .values()
            .flat_map(|instance| &instance.containers)
            .find(|c| c.id == container_id)
            .map(read)
            .ok_or_else(|| BackendError::NoSuchContainer { container: container_id.to_owned() })
    }
}

#[async_trait]
impl Backend for FakeBackend {
    async fn ping(&self) -> Result<(), BackendError> {
        Ok(())
    }

    async fn image_id(&self, image: &str) -> Result<String, BackendError> {
        if !self.state().scripts.contains_key(image) {
            return Err(BackendError::ImageNotFound { image: image.to_owned() });
        }
        // Stable per image, in the form an engine reports an image id.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        image.hash(&mut hasher);
        Ok(format!("sha256:{:016x}", hasher.finish()))
    }

    async fn place(&self, spec: &InstanceSpec) -> Result<PlacedInstance, BackendError> {
        // As on an engine: a missing image fails before anything is created.
        let mut scripts = Vec::with_capacity(spec.containers.len());
        let mut image_ids = Vec::with_capacity(spec.containers.len());
        for container in &spec.containers {
            image_ids.push(self.image_id(&container.image).await?);
            let script = self.state().scripts.get(&container.image).cloned();
            scripts.push(script.ok_or_else(|| BackendError::ImageNotFound { image: container.image.clone() })?);
        }
        for (index, script) in scripts.iter().enumerate() {
            let behaviour = now(script);
            if let Some(code) = behaviour.exits_at_start {
                return Err(BackendError::Exited {
                    index,
                    name_in_pipeline: spec.containers[index].name_in_pipeline.clone(),
                    code,
                    log_tail: tail(&behaviour.logs, 5).trim().to_owned(),
                });
            }
        }
        let invocations = self.state().invocations.entry(spec.instance_id.clone()).or_default().clone();
        let mut containers = Vec::with_capacity(spec.containers.len());
        for (container, script) in spec.containers.iter().zip(scripts) {
            let io = |what: &str| {
                let what = what.to_owned();
                move |source| BackendError::Io { what, source }
            };
            // Bound here, so that the address is known at once; served on the engine's runtime.
            let listener =
                std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(io("binding a fake container's port"))?;
            listener.set_nonblocking(true).map_err(io("a fake container's port"))?;
            let address = listener.local_addr().map_err(io("a fake container's port"))?;
            let server = self.engine.spawn(server::serve(listener, script.clone(), invocations.clone())).abort_handle();
            containers.push(FakeContainer {
                id: String::new(),
                name_in_pipeline: container.name_in_pipeline.clone(),
                address,
                model_dir: container.model_dir.clone(),
                script,
                exit_code: None,
                server,
            });
        }
        let mut state = self.state();
        for container in &mut containers {
            state.next_container += 1;
            container.id = format!("fake-{}", state.next_container);
        }
        let placed = PlacedInstance {
            instance_id: spec.instance_id.clone(),
            containers: containers
                .iter()
                .zip(image_ids)
                .map(|(c, image_id)| PlacedContainer {
                    name_in_pipeline: c.name_in_pipeline.clone(),
                    container_id: c.id.clone(),
                    address: c.address,
                    image_id,
                })
                .collect(),
        };
        let instance = FakeInstance {
            kind: spec.kind,
            resource: spec.resource.clone(),
            variant: spec.variant.clone(),
            generation: spec.generation.clone(),
            containers,
        };
        state.placed += 1;
        // Placing an id that is taken replaces it, as a name clash would fail on an engine:
        // either way the old containers must not keep running unseen.
        if let Some(mut old) = state.instances.insert((spec.owner.clone(), spec.instance_id.clone()), instance) {
            old.containers.iter_mut().for_each(|c| c.stop(CRASH_EXIT_CODE));
        }
        Ok(placed)
    }

    async fn inspect(&self, container_id: &str) -> Result<ContainerState, BackendError> {
        self.find(container_id, |c| ContainerState {
            running: c.exit_code.is_none(),
            exit_code: c.exit_code,
            restart_count: 0,
            oom_killed: false,
        })
    }

    /// A container that uses a tenth of a CPU and 64 MiB of its 1 GiB, and wrote 1 MiB.
    async fn stats(&self, container_id: &str) -> Result<crate::ContainerStats, BackendError> {
        self.find(container_id, |_| ())?;
        let tick = u64::try_from(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()),
        )
        .unwrap_or(0);
        Ok(crate::ContainerStats {
            cpu_ns: tick / 10,
            system_cpu_ns: tick,
            online_cpus: 1,
            memory_bytes: 64 << 20,
            memory_limit_bytes: 1 << 30,
            disk_bytes: 1 << 20,
        })
    }

    async fn logs_tail(&self, container_id: &str, lines: usize) -> Result<String, BackendError> {
        self.find(container_id, |c| tail(&now(&c.script).logs, lines))
    }

    async fn list(&self, owner: &str) -> Result<Vec<ObservedInstance>, BackendError> {
        Ok(self
            .state()
            .instances
            .iter()
            .filter(|((o, _), _)| o == owner)
            .map(|((_, instance_id), instance)| ObservedInstance {
                kind: instance.kind,
                resource: instance.resource.clone(),
                variant: instance.variant.clone(),
                instance_id: instance_id.clone(),
                generation: instance.generation.clone(),
                containers: instance
                    .containers
                    .iter()
                    .enumerate()
                    .map(|(index, c)| ObservedContainer {
                        container_id: c.id.clone(),
                        name_in_pipeline: c.name_in_pipeline.clone(),
                        index,
                        running: c.exit_code.is_none(),
                        // A stopped container publishes nothing, as on an engine.
                        address: c.exit_code.is_none().then_some(c.address),
                        model_dir: c.model_dir.clone(),
                    })
                    .collect(),
            })
            .collect())
    }

    async fn remove(&self, owner: &str, instance_id: &str) -> Result<(), BackendError> {
        if let Some(mut instance) = self.state().instances.remove(&(owner.to_owned(), instance_id.to_owned())) {
            instance.containers.iter_mut().for_each(|c| c.stop(CRASH_EXIT_CODE));
        }
        Ok(())
    }
}

/// The last `lines` of `logs`, one per line, as an engine returns a log tail.
fn tail(logs: &[String], lines: usize) -> String {
    logs[logs.len().saturating_sub(lines)..].iter().map(|line| format!("{line}\n")).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::backend::ContainerSpec;

    fn spec(instance_id: &str, images: &[&str]) -> InstanceSpec {
        InstanceSpec {
            owner: "owner".into(),
            data_dir: "/tmp/fake".into(),
            kind: OwnerKind::Endpoint,
            resource: "123456789012/us-east-1/ep".into(),
            variant: "AllTraffic".into(),
            instance_id: instance_id.into(),
            generation: "g1".into(),
            containers: images
                .iter()
                .enumerate()
                .map(|(i, image)| ContainerSpec {
                    name_in_pipeline: format!("container-{}", i + 1),
                    image: (*image).into(),
                    environment: BTreeMap::new(),
                    model_dir: None,
                    args: vec!["serve".into()],
                })
                .collect(),
            limits: None,
        }
    }

    /// One request over a fresh connection; the status and the body of the answer.
    async fn http(addr: SocketAddr, request: &str) -> std::io::Result<(u16, String)> {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut raw = String::new();
        stream.read_to_string(&mut raw).await?;
        let status = raw.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = raw.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
        Ok((status, body))
    }

    const PING: &str = "GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

    #[tokio::test]
    async fn scripted_containers_answer_as_their_image_says() {
        let fake = FakeBackend::start().unwrap();
        fake.script("echo", Behaviour::echo());
        fake.script("teapot", Behaviour::fixed(418, "short and stout").ping_fails(503));
        let placed = fake.place(&spec("i-1", &["echo", "teapot"])).await.unwrap();
        let (echo, teapot) = (placed.containers[0].address, placed.containers[1].address);
        assert_eq!(http(echo, PING).await.unwrap().0, 200);
        assert_eq!(http(teapot, PING).await.unwrap().0, 503);
        let post = "POST /invocations HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/csv\r\nContent-Length: 3\r\n\r\na,b";
        assert_eq!(http(echo, post).await.unwrap(), (200, "a,b".to_owned()));
        assert_eq!(http(teapot, post).await.unwrap(), (418, "short and stout".to_owned()));
        assert_eq!(fake.invocations()["i-1"], 2);
        // Scripting an image again changes its running containers.
        fake.script("teapot", Behaviour::echo());
        assert_eq!(http(teapot, PING).await.unwrap().0, 200);
        assert_eq!(fake.image_id("echo").await.unwrap(), fake.image_id("echo").await.unwrap());
    }

    #[tokio::test]
    async fn a_slow_ping_and_a_slow_answer_wait_as_scripted() {
        let fake = FakeBackend::start().unwrap();
        let delay = Duration::from_millis(100);
        fake.script("slow", Behaviour::echo().slow_ping(delay).answer_after(delay));
        let addr = fake.place(&spec("i-1", &["slow"])).await.unwrap().containers[0].address;
        let started = std::time::Instant::now();
        assert_eq!(http(addr, PING).await.unwrap().0, 200);
        assert!(started.elapsed() >= delay, "answered after {:?}", started.elapsed());
        let post = "POST /invocations HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1\r\n\r\nz";
        let started = std::time::Instant::now();
        assert_eq!(http(addr, post).await.unwrap(), (200, "z".to_owned()));
        assert!(started.elapsed() >= delay, "answered after {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn an_unscripted_image_is_missing_and_nothing_is_placed() {
        let fake = FakeBackend::start().unwrap();
        fake.script("echo", Behaviour::echo());
        let err = fake.place(&spec("i-1", &["echo", "nowhere:1"])).await.unwrap_err();
        assert!(matches!(&err, BackendError::ImageNotFound { image } if image == "nowhere:1"), "{err:?}");
        assert!(fake.list("owner").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_container_that_exits_at_start_is_reported_with_its_logs() {
        let fake = FakeBackend::start().unwrap();
        fake.script("echo", Behaviour::echo());
        fake.script("dies", Behaviour::echo().exits_at_start(3).logs(["loading", "out of luck"]));
        match fake.place(&spec("i-1", &["echo", "dies"])).await {
            Err(BackendError::Exited { index, name_in_pipeline, code, log_tail }) => {
                assert_eq!((index, name_in_pipeline.as_str(), code), (1, "container-2", 3));
                assert_eq!(log_tail, "loading\nout of luck");
            }
            other => panic!("expected Exited, got {other:?}"),
        }
        assert!(fake.list("owner").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn list_reports_the_labels_and_a_crash_stops_the_containers() {
        let fake = FakeBackend::start().unwrap();
        fake.script("echo", Behaviour::echo().logs(["one", "two", "three"]));
        let placed = fake.place(&spec("i-1", &["echo", "echo"])).await.unwrap();
        let mut other = spec("i-2", &["echo"]);
        other.owner = "someone-else".into();
        fake.place(&other).await.unwrap();

        let listed = fake.list("owner").await.unwrap();
        assert_eq!(listed.len(), 1, "another owner's instance is not listed");
        let found = &listed[0];
        assert_eq!((found.kind, found.resource.as_str()), (OwnerKind::Endpoint, "123456789012/us-east-1/ep"));
        assert_eq!(
            (found.variant.as_str(), found.instance_id.as_str(), found.generation.as_str()),
            ("AllTraffic", "i-1", "g1")
        );
        let indexes: Vec<usize> = found.containers.iter().map(|c| c.index).collect();
        assert_eq!(indexes, [0, 1]);
        assert!(found.all_running());
        assert_eq!(found.containers[1].address, Some(placed.containers[1].address));
        assert_eq!(fake.logs_tail(&placed.containers[0].container_id, 2).await.unwrap(), "two\nthree\n");

        assert!(fake.crash("i-1"));
        let state = fake.inspect(&placed.containers[0].container_id).await.unwrap();
        assert_eq!((state.running, state.exit_code), (false, Some(CRASH_EXIT_CODE)));
        let listed = fake.list("owner").await.unwrap();
        assert!(!listed[0].all_running() && listed[0].containers[0].address.is_none());
        // The server is gone: nothing answers at its address any more (the abort lands at the
        // task's next wake-up, so give it a moment).
        let mut refused = false;
        for _ in 0..100 {
            if http(placed.containers[0].address, PING).await.is_err() {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(refused, "a crashed container still answers");

        fake.remove("owner", "i-1").await.unwrap();
        fake.remove("owner", "i-1").await.unwrap();
        assert!(fake.list("owner").await.unwrap().is_empty());
        assert_eq!(fake.list("someone-else").await.unwrap().len(), 1);
        assert_eq!(fake.placed(), 2);
    }
}
