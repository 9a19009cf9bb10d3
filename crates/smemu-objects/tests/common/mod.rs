//! Shared test fixtures: an in-process embedded S3 on 127.0.0.1:0, an isolated AWS CLI, test data.

#![allow(dead_code)]
// each test binary uses a different subset
// Fixtures, not test functions, so clippy does not exempt them; a failed setup should
// stop the test right there.
#![allow(clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use smemu_objects::{EmbeddedAuth, EmbeddedS3, Objects, ObjectsConfig};
use smemu_types::auth::AccessKeys;

pub struct Server {
    pub s3: EmbeddedS3,
    pub root: PathBuf,
    _dir: tempfile::TempDir,
}

/// Starts an embedded S3 in this process, storing under a fresh temp dir; with `creds`, in
/// strict mode with that one key.
pub async fn start_server(creds: Option<(&str, &str)>) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("s3");
    let auth = match creds {
        Some((access, secret)) => {
            EmbeddedAuth::strict(AccessKeys::parse(&format!("{access} {secret}")).expect("one key"))
        }
        None => EmbeddedAuth::any(),
    };
    let s3 =
        EmbeddedS3::start("127.0.0.1:0".parse().expect("addr"), root.clone(), auth).await.expect("start embedded S3");
    Server { s3, root, _dir: dir }
}

pub async fn embedded_objects(server: &Server) -> Objects {
    Objects::new(ObjectsConfig {
        embedded_endpoint: Some(server.s3.endpoint()),
        region: "us-east-1".into(),
        ..Default::default()
    })
    .await
    .expect("objects")
}

/// `<repo>/.venv/bin/aws`, which scripts/ensure-venv.sh installs.
pub fn aws_cli() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let aws = repo.join(".venv/bin/aws");
    assert!(
        aws.exists(),
        "the AWS CLI is missing at {}: run scripts/ensure-venv.sh (it creates .venv and pip-installs awscli)",
        aws.display()
    );
    aws
}

/// An AWS CLI bound to one endpoint and one pair of keys, with nothing from the host's
/// AWS configuration (profiles, env vars, endpoint overrides) leaking in.
pub struct Cli {
    aws: PathBuf,
    endpoint: String,
    access_key: String,
    secret_key: String,
    home: tempfile::TempDir,
}

impl Cli {
    pub fn new(endpoint: &str, access_key: &str, secret_key: &str) -> Self {
        let home = tempfile::tempdir().expect("tempdir");
        std::fs::write(home.path().join("config"), "").expect("config");
        std::fs::write(home.path().join("credentials"), "").expect("credentials");
        Cli {
            aws: aws_cli(),
            endpoint: endpoint.to_owned(),
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
            home,
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(&self.aws)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("AWS_CONFIG_FILE", self.home.path().join("config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.home.path().join("credentials"))
            .env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_key)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_PAGER", "")
            .arg("--endpoint-url")
            .arg(&self.endpoint)
            .args(args)
            .output()
            .expect("run aws")
    }

    /// Runs and asserts success, returning stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "aws {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Deterministic incompressible-looking bytes (xorshift), so a byte compare catches
/// misplaced or duplicated parts.
pub fn test_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}
