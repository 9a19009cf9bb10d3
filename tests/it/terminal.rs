//! `smemu ps`, `smemu logs` and `smemu prune` against real endpoints: the binary as a user runs it,
//! on a data directory a running smemu (driven by the AWS CLI) fills.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

use crate::common::{Smemu, eventually, tagger, unique};

fn smemu_cmd(args: &[&str], data_dir: &Path) -> Output {
    Command::new(crate::common::smemu_bin())
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run smemu")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A two-container pipeline (`features`, `predictor`) on two instances, invoked once.
fn pipeline(smemu: &Smemu) -> String {
    let aws = smemu.aws();
    let name = unique("ps");
    aws.deploy(&name, &json!([tagger("f", Some("features")), tagger("p", Some("predictor"))]), &[], 2);
    let (out, body) = aws.invoke(&name, "hello", &[]);
    assert!(out.success, "{}", out.stderr);
    assert_eq!(body, "hello|f|p");
    name
}

#[test]
fn ps_shows_a_pipelines_variants_instances_and_containers() {
    let smemu = Smemu::start();
    let name = pipeline(&smemu);

    let listing: Value = serde_json::from_str(&stdout(&smemu_cmd(&["ps", "--json"], &smemu.data_dir))).unwrap();
    assert_eq!(listing["engine"], true);
    let endpoints = listing["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 1, "{listing:#}");
    let endpoint = &endpoints[0];
    assert_eq!(endpoint["name"], name.as_str());
    assert_eq!(endpoint["status"], "InService");
    assert_eq!(endpoint["account"], "000000000000");
    let variants = endpoint["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 1, "{listing:#}");
    assert_eq!(variants[0]["name"], "AllTraffic");
    assert_eq!(variants[0]["instance_type"], "ml.m5.large");
    assert_eq!(variants[0]["current_instances"], 2);
    let instances = variants[0]["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 2, "{listing:#}");
    let mut ports = Vec::new();
    for instance in instances {
        let containers = instance["containers"].as_array().unwrap();
        let names: Vec<&str> = containers.iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["features", "predictor"], "pipeline order; {listing:#}");
        for c in containers {
            assert_eq!(c["image"], "smemu-testmodel:latest");
            assert_eq!(c["state"], "running");
            let address = c["address"].as_str().unwrap();
            assert!(address.starts_with("127.0.0.1:"), "{address}");
            ports.push(address.to_owned());
        }
    }
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 4, "every container has its own published port: {ports:?}");

    // The table: a header and one row per container, each naming the endpoint, status and variant.
    let table = stdout(&smemu_cmd(&["ps"], &smemu.data_dir));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("NAME") && lines[0].contains("CONTAINER") && lines[0].contains("ADDRESS"), "{table}");
    assert_eq!(lines.len(), 5, "{table}");
    for line in &lines[1..] {
        assert!(line.starts_with(&name) && line.contains("InService") && line.contains("AllTraffic"), "{table}");
        assert!(line.contains("running") && line.contains("127.0.0.1:"), "{table}");
    }
    assert_eq!(lines.iter().filter(|l| l.contains(" features ")).count(), 2, "{table}");
    assert_eq!(lines.iter().filter(|l| l.contains(" predictor ")).count(), 2, "{table}");
    println!("{table}");
}

#[test]
fn ps_refuses_a_directory_that_is_not_a_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = smemu_cmd(&["ps"], dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a smemu data directory"), "{out:?}");
}

#[test]
fn logs_prints_each_containers_lines_with_its_prefix_and_follows_new_ones() {
    let smemu = Smemu::start();
    let name = pipeline(&smemu);
    let prefixed = |text: &str, container: &str| {
        text.lines().any(|l| {
            l.starts_with("AllTraffic/i-0")
                && l.contains(&format!("/{container} | "))
                && l.contains("POST /invocations -> 200")
        })
    };
    // Capture reaches the store a moment after the container writes.
    let all = eventually(30, "both containers' invocation lines", || {
        let text = stdout(&smemu_cmd(&["logs", &name], &smemu.data_dir));
        (prefixed(&text, "features") && prefixed(&text, "predictor")).then_some(text)
    });
    println!("{all}");
    for line in all.lines() {
        assert!(line.starts_with("AllTraffic/i-0") && line.contains(" | "), "every line has its prefix: {line:?}");
    }

    let only = stdout(&smemu_cmd(&["logs", &name, "--container", "predictor"], &smemu.data_dir));
    assert!(prefixed(&only, "predictor"), "{only}");
    assert!(only.lines().all(|l| l.contains("/predictor | ")), "{only}");

    assert!(prefixed(&stdout(&smemu_cmd(&["logs", &name, "--since", "10m"], &smemu.data_dir)), "features"));
    let bad = smemu_cmd(&["logs", &name, "--since", "ten minutes"], &smemu.data_dir);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("is not a duration"), "{bad:?}");
    let unknown = smemu_cmd(&["logs", "no-such-endpoint"], &smemu.data_dir);
    assert!(!unknown.status.success());
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("no logs of an endpoint or transform job"),
        "{unknown:?}"
    );

    // --follow prints what is written after it started.
    let mut follow = Command::new(crate::common::smemu_bin())
        .args(["logs", &name, "--follow", "--since", "1s", "--data-dir"])
        .arg(&smemu.data_dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    let reader = BufReader::new(follow.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in reader.lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    let (out, _) = smemu.aws().invoke(&name, "again", &[]);
    assert!(out.success);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut seen = Vec::new();
    while !(prefixed(&seen.join("\n"), "features") && prefixed(&seen.join("\n"), "predictor")) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines_rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("--follow printed no new invocation lines of both containers: {seen:?}"),
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
}

/// Whether any container (running or not) carries this owner label.
fn owner_containers(owner: &str) -> usize {
    let out = Command::new("docker")
        .args(["ps", "-a", "-q", "--filter", &format!("label=smemu.owner={owner}")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[test]
fn prune_removes_one_data_directorys_containers_or_the_orphans_and_leaves_the_rest() {
    let one_instance = |smemu: &Smemu| {
        let name = unique("prune");
        smemu.aws().deploy(&name, &json!([tagger("a", Some("a")), tagger("b", Some("b"))]), &[], 1);
    };
    let mut a = Smemu::start();
    let b = Smemu::start();
    let mut c = Smemu::start();
    for smemu in [&a, &b, &c] {
        one_instance(smemu);
    }
    let (owner_a, owner_b, owner_c) = (a.owner(), b.owner(), c.owner());
    assert_eq!(owner_containers(&owner_a), 2);

    // A's smemu stopped, its containers stay; prune --data-dir removes them, and only them.
    a.stop();
    assert_eq!(owner_containers(&owner_a), 2, "containers outlive smemu");
    let said = stdout(&smemu_cmd(&["prune"], &a.data_dir));
    assert!(said.contains("removed 2 containers"), "{said}");
    assert_eq!(said.lines().filter(|l| l.starts_with("removed smemu-")).count(), 2, "{said}");
    assert_eq!(owner_containers(&owner_a), 0);
    assert_eq!(owner_containers(&owner_b), 2);
    assert_eq!(owner_containers(&owner_c), 2);
    assert_eq!(stdout(&smemu_cmd(&["prune"], &a.data_dir)).trim(), "nothing to remove");

    // C's smemu killed and its data directory deleted: its containers are orphans.
    c.kill();
    std::fs::remove_dir_all(&c.data_dir).unwrap();
    let out = Command::new(crate::common::smemu_bin()).args(["prune", "--all-orphans"]).output().unwrap();
    let said = stdout(&out);
    let c_dir = c.data_dir.display().to_string();
    assert!(said.lines().filter(|l| l.contains(&c_dir)).count() == 2, "{said}");
    assert_eq!(owner_containers(&owner_c), 0);
    assert_eq!(owner_containers(&owner_b), 2, "a live data directory's containers stay");

    let gone = smemu_cmd(&["prune"], &c.data_dir);
    assert!(!gone.status.success() && String::from_utf8_lossy(&gone.stderr).contains("no data directory"), "{gone:?}");
}
