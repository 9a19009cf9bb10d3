//! Test harness: smemu in-process or as a child process, the AWS CLI, the Rust SDK client.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// The repository root (the root package's manifest dir).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The smemu binary the tests run: a hard link (a copy where linking fails) to the one cargo built
/// for them, made once per test process under `target/it-bin/`.
///
/// Why not `CARGO_BIN_EXE_smemu` itself: the wheel test's maturin builds the same binary again
/// (its `cargo rustc` differs from `cargo test`'s build), and cargo replaces
/// `target/debug/smemu` by removing it and linking the new one, so a test starting smemu at
/// that moment got `No such file or directory`. The link keeps this process's binary whatever
/// cargo does to the path. Links of test processes that have ended are removed here.
pub fn smemu_bin() -> &'static Path {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let built = Path::new(env!("CARGO_BIN_EXE_smemu"));
        let dir = repo().join("target").join("it-bin");
        std::fs::create_dir_all(&dir).expect("target/it-bin");
        let ended = |name: &str| {
            name.strip_prefix("smemu-")
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
        };
        for entry in std::fs::read_dir(&dir).expect("read target/it-bin").flatten() {
            if ended(&entry.file_name().to_string_lossy()) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        let bin = dir.join(format!("smemu-{}", std::process::id()));
        let _ = std::fs::remove_file(&bin);
        if std::fs::hard_link(built, &bin).is_err() {
            std::fs::copy(built, &bin).expect("copy the smemu binary");
        }
        bin
    })
}

/// A name no other test uses: `<prefix>-<8 hex>`.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// smemu started as its own process (`smemu serve`) on port 0, reading the documented ready line.
/// Killed by PID on drop.
pub struct Smemu {
    child: Child,
    pub url: String,
    /// The embedded S3.
    pub s3_url: String,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Smemu {
    pub fn start() -> Smemu {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data_dir = tmp.path().join("data");
        let mut smemu = Smemu::start_in(&data_dir);
        smemu._tmp = Some(tmp);
        smemu
    }

    /// Starts smemu on an existing data dir (restart tests).
    pub fn start_in(data_dir: &Path) -> Smemu {
        Smemu::start_with(data_dir, &["--s3-listen", "127.0.0.1:0"])
    }

    /// Starts smemu on a data dir with extra `serve` flags.
    pub fn start_with(data_dir: &Path, flags: &[&str]) -> Smemu {
        Smemu::start_with_env(data_dir, flags, &[])
    }

    /// Starts smemu on a data dir with extra `serve` flags and environment variables.
    pub fn start_with_env(data_dir: &Path, flags: &[&str], env: &[(&str, &str)]) -> Smemu {
        let log_dir = data_dir.parent().unwrap_or(data_dir).to_path_buf();
        std::fs::create_dir_all(&log_dir).expect("log dir");
        let log =
            std::fs::OpenOptions::new().create(true).append(true).open(log_dir.join("smemu.log")).expect("log file");
        let mut child = Command::new(smemu_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(flags)
            .env("SMEMU_LOG", "info")
            // An external S3 is reached with the AWS credential chain: give it test keys, never the host's.
            .env("AWS_ACCESS_KEY_ID", "smemu-test")
            .env("AWS_SECRET_ACCESS_KEY", "smemu-test")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn smemu");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("ready line");
        let ready = line
            .trim()
            .strip_prefix("smemu listening on ")
            .unwrap_or_else(|| panic!("unexpected ready line {line:?}; see {}", log_dir.join("smemu.log").display()));
        let (url, s3) = ready.split_once(" s3=").expect("s3= in the ready line");
        Smemu { child, url: url.to_owned(), s3_url: s3.to_owned(), data_dir: data_dir.to_path_buf(), _tmp: None }
    }

    /// Stops smemu with SIGTERM and waits for it, as a user's Ctrl-C would.
    pub fn stop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }

    pub fn aws(&self) -> AwsCli {
        AwsCli::new(&self.url)
    }
}

impl Drop for Smemu {
    /// Kills smemu first (so that its watchdog cannot replace what follows), then removes the
    /// containers it labelled as its own.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if self.data_dir.join("owner-id").exists() && self.remove_containers() > 0 {
            // A container the engine was still creating when smemu was killed appears after the
            // first removal (seen with endpoints left Creating): look again until none is left.
            for _ in 0..20 {
                std::thread::sleep(std::time::Duration::from_millis(250));
                if self.remove_containers() == 0 {
                    break;
                }
            }
        }
    }
}

/// The real AWS CLI from the project's venv (`make venv`), isolated from the host's config.
pub struct AwsCli {
    url: String,
    access_key: String,
    region: String,
}

/// What one CLI call printed.
#[derive(Debug)]
pub struct CliOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    pub fn json(&self) -> Value {
        assert!(self.success, "aws failed: {}", self.stderr);
        if self.stdout.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&self.stdout).expect("json stdout")
        }
    }

    /// Asserts a failure with this error code and message as the CLI prints them.
    #[track_caller]
    pub fn assert_error(&self, code: &str, message: &str) {
        assert!(!self.success, "expected {code}, got success: {}", self.stdout);
        assert!(self.stderr.contains(&format!("({code})")), "expected ({code}) in: {}", self.stderr);
        assert!(self.stderr.contains(message), "expected message {message:?} in: {}", self.stderr);
    }
}

impl AwsCli {
    pub fn new(url: &str) -> AwsCli {
        AwsCli { url: url.to_owned(), access_key: "AKIDSMEMUTEST".into(), region: "us-east-1".into() }
    }

    pub fn with_identity(mut self, access_key: &str, region: &str) -> AwsCli {
        self.access_key = access_key.to_owned();
        self.region = region.to_owned();
        self
    }

    pub fn binary() -> PathBuf {
        let aws = repo().join(".venv/bin/aws");
        assert!(aws.exists(), "{} is missing: run `make venv` (make test does)", aws.display());
        aws
    }

    /// `aws --endpoint-url URL sagemaker <args>`.
    pub fn sagemaker(&self, args: &[&str]) -> CliOutput {
        self.run("sagemaker", args)
    }

    pub fn run(&self, service: &str, args: &[&str]) -> CliOutput {
        let out = Command::new(Self::binary())
            .args(["--endpoint-url", &self.url, "--output", "json", "--region", &self.region, service])
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", std::env::temp_dir())
            .env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", "smemu-secret")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_MAX_ATTEMPTS", "1")
            .env("AWS_PAGER", "")
            .output()
            .expect("run aws");
        CliOutput {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Creates a model with one container of `image` and returns its ARN.
    pub fn create_simple_model(&self, name: &str) -> String {
        let out = self.sagemaker(&[
            "create-model",
            "--model-name",
            name,
            "--primary-container",
            "Image=smemu-testmodel:latest",
        ]);
        out.json()["ModelArn"].as_str().expect("ModelArn").to_owned()
    }
}

/// smemu in this process on a random loopback port with its own data dir; stopped on drop.
pub struct InProcess {
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _tmp: tempfile::TempDir,
}

impl InProcess {
    pub async fn start() -> InProcess {
        InProcess::start_with(|_| ()).await
    }

    /// As [`InProcess::start`], with the configuration changed by `configure` first.
    pub async fn start_with(configure: impl FnOnce(&mut smemu::Config)) -> InProcess {
        let tmp = tempfile::tempdir().expect("tempdir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let mut config = smemu::Config::new(tmp.path().join("data"));
        configure(&mut config);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let listeners = smemu::Listeners { api: listener, s3: None };
        let task = tokio::spawn(smemu::run(
            config,
            listeners,
            async {
                let _ = stopped.await;
            },
            || (),
        ));
        InProcess { url, stop: Some(stop), task: Some(task), _tmp: tmp }
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("join").expect("smemu run");
        }
    }

    /// The AWS SDK for Rust, pointed at this smemu with static credentials.
    pub async fn sdk(&self, access_key: &str, region: &str) -> aws_sdk_sagemaker::Client {
        aws_sdk_sagemaker::Client::new(&sdk_config(&self.url, access_key, region).await)
    }
}

/// SDK configuration for smemu at `url` with static credentials (nothing from the host).
pub async fn sdk_config(url: &str, access_key: &str, region: &str) -> aws_config::SdkConfig {
    let creds = aws_credential_types::Credentials::new(access_key, "smemu-secret", None, None, "smemu-tests");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(url)
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(creds)
        .load()
        .await
}

/// The test image `make test-image` builds (scripts/build-test-image.sh).
pub const TEST_IMAGE: &str = "smemu-testmodel:latest";

impl Smemu {
    /// The owner id labelling this smemu's containers.
    pub fn owner(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("owner-id")).expect("owner-id").trim().to_owned()
    }

    /// Ids of this smemu's containers (running or not) whose labels match `filters` (`key=value`).
    pub fn containers(&self, filters: &[&str]) -> Vec<String> {
        let mut cmd = Command::new("docker");
        cmd.args(["ps", "-a", "-q", "--no-trunc", "--filter"]).arg(format!("label=smemu.owner={}", self.owner()));
        for filter in filters {
            cmd.args(["--filter", &format!("label={filter}")]);
        }
        let out = cmd.output().expect("docker ps");
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
    }

    /// Removes every container of this smemu (end-of-test cleanup, by label: only our own) and
    /// says how many it found.
    pub fn remove_containers(&self) -> usize {
        let ids = self.containers(&[]);
        if !ids.is_empty() {
            let _ = Command::new("docker").args(["rm", "-f"]).args(&ids).output();
        }
        ids.len()
    }
}

/// Polls `check` every 100 ms until it returns `Some`, or panics after `secs` seconds.
#[track_caller]
pub fn eventually<T>(secs: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "timed out after {secs} s waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

impl AwsCli {
    /// Creates a one-container model of the test image reading `model_data_url`, a config and an
    /// endpoint, and waits until the endpoint is Failed: what DescribeEndpoint then says.
    pub fn deploy_failing(&self, name: &str, model_data_url: &str) -> Value {
        let container = format!("Image={TEST_IMAGE},ModelDataUrl={model_data_url}");
        self.sagemaker(&["create-model", "--model-name", name, "--primary-container", &container]).json();
        self.create_config(name, name);
        self.sagemaker(&["create-endpoint", "--endpoint-name", name, "--endpoint-config-name", name]).json();
        eventually(60, "the endpoint to fail", || {
            let d = self.describe_endpoint(name);
            (d["EndpointStatus"] == "Failed").then_some(d)
        })
    }

    /// Creates a model from `containers` (JSON list), a one-variant config and an endpoint, and
    /// waits until the endpoint is InService (then checks that the CLI's waiter agrees).
    pub fn deploy(&self, name: &str, containers: &Value, extra_model_args: &[&str], instances: u32) -> Value {
        let mut args = vec!["create-model", "--model-name", name];
        let containers = containers.to_string();
        args.extend(["--containers", containers.as_str()]);
        args.extend(extra_model_args);
        self.sagemaker(&args).json();
        let variant = format!(
            "VariantName=AllTraffic,ModelName={name},InstanceType=ml.m5.large,InitialInstanceCount={instances}"
        );
        self.sagemaker(&["create-endpoint-config", "--endpoint-config-name", name, "--production-variants", &variant])
            .json();
        let created =
            self.sagemaker(&["create-endpoint", "--endpoint-name", name, "--endpoint-config-name", name]).json();
        self.wait_in_service(name);
        created
    }

    /// A config `name` with one `AllTraffic` variant of `model` on one instance.
    pub fn create_config(&self, name: &str, model: &str) {
        let variant =
            format!("VariantName=AllTraffic,ModelName={model},InstanceType=ml.m5.large,InitialInstanceCount=1");
        self.sagemaker(&["create-endpoint-config", "--endpoint-config-name", name, "--production-variants", &variant])
            .json();
    }

    pub fn describe_endpoint(&self, name: &str) -> Value {
        self.sagemaker(&["describe-endpoint", "--endpoint-name", name]).json()
    }

    /// Polls DescribeEndpoint until the status is neither Creating nor Updating, asserts InService,
    /// then runs the CLI's `endpoint-in-service` waiter, which must return at once.
    pub fn wait_in_service(&self, name: &str) -> Value {
        let described = eventually(120, "the endpoint to settle", || {
            let d = self.describe_endpoint(name);
            (!matches!(d["EndpointStatus"].as_str(), Some("Creating" | "Updating"))).then_some(d)
        });
        assert_eq!(described["EndpointStatus"], "InService", "{described}");
        assert!(self.sagemaker(&["wait", "endpoint-in-service", "--endpoint-name", name]).success);
        described
    }

    /// `aws sagemaker-runtime invoke-endpoint`; returns the CLI output and the body it wrote.
    pub fn invoke(&self, name: &str, body: &str, extra: &[&str]) -> (CliOutput, String) {
        let out_file = tempfile::NamedTempFile::new().expect("temp file");
        let path = out_file.path().to_str().expect("utf-8 path").to_owned();
        let mut args = vec!["invoke-endpoint", "--endpoint-name", name, "--body", body, "--content-type", "text/plain"];
        args.extend(extra);
        args.push(&path);
        let out = self.run("sagemaker-runtime", &args);
        let written = std::fs::read_to_string(&path).unwrap_or_default();
        (out, written)
    }
}

/// A `model.tar.gz` in `dir` holding `greeting.txt`.
pub fn model_tarball(dir: &Path, greeting: &str) -> PathBuf {
    let src = dir.join("model");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("greeting.txt"), greeting).unwrap();
    let tarball = dir.join("model.tar.gz");
    let status = Command::new("tar").arg("-czf").arg(&tarball).arg("-C").arg(&src).arg(".").status().unwrap();
    assert!(status.success());
    tarball
}

/// A pipeline container of the test image that appends `|<tag>` to every line.
pub fn tagger(tag: &str, hostname: Option<&str>) -> Value {
    let mut container = serde_json::json!({
        "Image": TEST_IMAGE,
        "Environment": {"SMEMU_TEST_ROLE": "transform", "SMEMU_TEST_TAG": tag}
    });
    if let Some(host) = hostname {
        container["ContainerHostname"] = Value::from(host);
    }
    container
}

impl Smemu {
    /// smemu on a fresh data dir with extra `serve` flags.
    pub fn start_fresh_with(flags: &[&str]) -> Smemu {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut all = vec!["--s3-listen", "127.0.0.1:0"];
        all.extend(flags);
        let mut smemu = Smemu::start_with(&tmp.path().join("data"), &all);
        smemu._tmp = Some(tmp);
        smemu
    }

    /// The smemu child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The smemu child's resident set size in KiB (`VmRSS` in `/proc/<pid>/status`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("/proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// Kills smemu with SIGKILL (no shutdown at all) and waits for it; its containers stay.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the process has exited (reaped here).
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

/// One variant for the SDK's CreateEndpointConfig: `instances` ml.m5.large instances of `model`.
pub fn sdk_variant(variant: &str, model: &str, instances: i32) -> aws_sdk_sagemaker::types::ProductionVariant {
    use aws_sdk_sagemaker::types::{ProductionVariant, ProductionVariantInstanceType};
    ProductionVariant::builder()
        .variant_name(variant)
        .model_name(model)
        .instance_type(ProductionVariantInstanceType::MlM5Large)
        .initial_instance_count(instances)
        .build()
}
