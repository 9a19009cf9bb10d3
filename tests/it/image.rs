//! The container image (`make image`, scripts/build-image.sh): started with README's `docker run`
//! line, it answers the AWS CLI and runs an endpoint on the host's engine. Built from the debug
//! binary (`dev`), so that the test compiles nothing; `make image` builds the static release one.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::json;

use crate::common::{AwsCli, repo, tagger, unique};

const IMAGE_NAME: &str = "smemu-it";

#[test]
fn the_image_answers_list_models_and_runs_an_endpoint_on_the_hosts_engine() {
    let built = Command::new(repo().join("scripts/build-image.sh"))
        .arg("dev")
        .env("SMEMU_IMAGE_NAME", IMAGE_NAME)
        .env("SMEMU_BINARY", crate::common::smemu_bin())
        .output()
        .expect("build-image.sh");
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let version = env!("CARGO_PKG_VERSION");
    let tags = Command::new("docker")
        .args([
            "image",
            "inspect",
            "-f",
            "{{.Id}}",
            &format!("{IMAGE_NAME}:{version}"),
            &format!("{IMAGE_NAME}:latest"),
        ])
        .output()
        .unwrap();
    let ids: Vec<String> = String::from_utf8_lossy(&tags.stdout).lines().map(str::to_owned).collect();
    assert_eq!(ids.len(), 2, "both tags exist: {ids:?}");
    assert_eq!(ids[0], ids[1], "one image under both tags");

    // README's line: the engine's socket, host networking, the data dir at the same path inside and out.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let data = data.canonicalize().unwrap();
    let mount = format!("{0}:{0}", data.display());
    let name = unique("smemu-image");
    let started = Command::new("docker")
        .args(["run", "-d", "--rm", "--name", &name, "--network", "host"])
        .args(["-v", "/var/run/docker.sock:/var/run/docker.sock", "-v", &mount, "-w"])
        .arg(&data)
        .arg(format!("{IMAGE_NAME}:latest"))
        .args(["serve", "--listen", "127.0.0.1:0", "--s3-listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
    let _guard = Cleanup { container: name.clone(), data_dir: data.clone() };

    let mut logs = Command::new("docker").args(["logs", "-f", &name]).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(logs.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _ = logs.kill();
    let _ = logs.wait();
    let url = line.trim().strip_prefix("smemu listening on ").unwrap_or_else(|| panic!("ready line: {line:?}"));
    let url = url.split_once(" s3=").unwrap().0;

    let aws = AwsCli::new(url);
    let listed = aws.sagemaker(&["list-models"]).json();
    assert_eq!(listed["Models"], json!([]));
    // From inside the image, smemu drives the host's engine and reaches the published port.
    let endpoint = unique("img");
    aws.deploy(&endpoint, &json!([tagger("a", Some("a")), tagger("b", Some("b"))]), &[], 1);
    let (out, body) = aws.invoke(&endpoint, "x", &[]);
    assert!(out.success, "{}", out.stderr);
    assert_eq!(body, "x|a|b");
}

/// Stops the smemu container, then removes the endpoint containers it made (by its data dir).
struct Cleanup {
    container: String,
    data_dir: std::path::PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["stop", "-t", "30", &self.container]).output();
        let _ = Command::new(crate::common::smemu_bin()).arg("prune").arg("--data-dir").arg(&self.data_dir).output();
    }
}
