//! The `smemu` wheel (`make wheel`): built with maturin, installed into a fresh venv, where pytest runs
//! tests/python with the plugin's fixtures: a pipeline deployed and invoked with real containers,
//! containers removed after a failing test, `--smemu-keep`, the SageMaker Python SDK's PipelineModel.
//!
//! Built with the dev profile (the debug build `cargo test` made: no release build in `make test`).
//! The fresh venv holds only the wheel; boto3, pytest and the SageMaker SDK come from the project's
//! venv through a `.pth` file, so that the test needs no package index.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::repo;

/// Cargo's own settings a user may have exported, kept for maturin's cargo (anything else `CARGO_*`
/// in a test's environment was set by cargo for the test).
const CARGO_SETTINGS: &[&str] = &[
    "CARGO_HOME",
    "CARGO_INCREMENTAL",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_",
    "CARGO_PROFILE_",
    "CARGO_NET_",
    "CARGO_REGISTR",
];

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// The project venv's site-packages (`make venv`).
fn project_site_packages(python: &Path) -> PathBuf {
    let out = run(Command::new(python).args(["-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]));
    PathBuf::from(out.trim())
}

#[test]
fn the_wheel_installs_into_a_fresh_venv_and_its_pytest_plugin_deploys_a_pipeline() {
    let tmp = tempfile::tempdir().unwrap();
    let wheels = tmp.path().join("wheels");
    let venv_python = repo().join(".venv/bin/python");
    let mut maturin = Command::new(repo().join(".venv/bin/maturin"));
    maturin.args(["build", "--profile", "dev", "--quiet", "--out"]).arg(&wheels).current_dir(repo());
    // Without the variables cargo sets for a test (CARGO_MANIFEST_DIR...): build scripts that watch
    // them would see a change, and this build and the next `cargo test` would each rebuild the other's.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if (name.starts_with("CARGO_") && !CARGO_SETTINGS.iter().any(|s| name.starts_with(s))) || name == "OUT_DIR" {
            maturin.env_remove(name.as_ref());
        }
    }
    run(&mut maturin);
    let wheel = std::fs::read_dir(&wheels)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .expect("a wheel");
    let file_name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    assert!(file_name.starts_with(&format!("smemu-{}-", env!("CARGO_PKG_VERSION"))), "{file_name}");

    let fresh = tmp.path().join("venv");
    run(Command::new(&venv_python).args(["-m", "venv", "--without-pip"]).arg(&fresh));
    let fresh_python = fresh.join("bin/python");
    run(Command::new(&venv_python)
        .args(["-m", "pip", "--python"])
        .arg(&fresh_python)
        .args(["install", "--no-index", "--no-deps", "--disable-pip-version-check", "-q"])
        .arg(&wheel));
    assert!(fresh.join("bin/smemu").is_file(), "the wheel installs the smemu command");
    let site = project_site_packages(&fresh_python);
    std::fs::write(site.join("project-deps.pth"), format!("{}\n", project_site_packages(&venv_python).display()))
        .unwrap();

    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = Command::new(&fresh_python)
        .args(["-m", "pytest", "-v", "-p", "no:cacheprovider"])
        .arg(repo().join("tests/python"))
        .current_dir(tmp.path())
        .env_clear()
        // No smemu on PATH: the plugin must find the one the wheel installed.
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", &home)
        .envs(std::env::var("DOCKER_HOST").ok().map(|h| ("DOCKER_HOST", h)))
        // No credentials anywhere: Server.client() supplies dummy ones.
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{text}");
    assert!(out.status.success(), "pytest in the fresh venv failed:\n{text}");
    assert!(text.contains("test_a_two_container_pipeline_through_boto3 PASSED"), "{text}");
    assert!(text.contains("test_the_sagemaker_sdks_pipeline_model_deploys_and_predicts PASSED"), "{text}");
}
