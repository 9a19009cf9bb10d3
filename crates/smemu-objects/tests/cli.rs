//! The embedded S3 driven by the real AWS CLI: bucket and object round trips, multipart, auth modes.

// A test stops at its first failed step; expect() says which step.
#![allow(clippy::expect_used)]

mod common;

use common::{Cli, start_server, test_bytes};

const BIG: usize = 20 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_round_trip_with_arbitrary_keys() {
    let server = start_server(None).await;
    let endpoint = server.s3.endpoint();
    // Keys nobody configured on the server: it must take any.
    let key_id = format!("AKIA{}", uuid::Uuid::new_v4().simple().to_string().to_uppercase());
    let secret = uuid::Uuid::new_v4().to_string();

    let work = tempfile::tempdir().expect("tempdir");
    let up = work.path().join("big.bin");
    let down = work.path().join("down.bin");
    let data = test_bytes(BIG, 42);
    std::fs::write(&up, &data).expect("write");
    let (up_s, down_s) = (up.display().to_string(), down.display().to_string());

    // The CLI blocks; run it off the runtime that serves the embedded S3.
    let lines = tokio::task::spawn_blocking(move || {
        let cli = Cli::new(&endpoint, &key_id, &secret);
        cli.ok(&["s3", "mb", "s3://cli-bucket"]);
        cli.ok(&["s3", "cp", &up_s, "s3://cli-bucket/dir/big.bin"]);

        // 20 MB at the CLI's 8 MB chunk size: a 3-part upload, whose ETag says so.
        let head = cli.ok(&["s3api", "head-object", "--bucket", "cli-bucket", "--key", "dir/big.bin"]);
        let head: serde_json::Value = serde_json::from_str(&head).expect("head-object JSON");
        assert_eq!(head["ContentLength"], BIG as u64, "{head}");
        assert!(head["ETag"].as_str().is_some_and(|e| e.trim_matches('"').ends_with("-3")), "not multipart: {head}");

        let ls = cli.ok(&["s3", "ls", "s3://cli-bucket/dir/"]);
        let buckets = cli.ok(&["s3", "ls"]);

        cli.ok(&["s3", "cp", "s3://cli-bucket/dir/big.bin", &down_s]);

        cli.ok(&["s3", "rm", "s3://cli-bucket/dir/big.bin"]);
        let after_rm = cli.ok(&["s3", "ls", "--recursive", "s3://cli-bucket/"]);
        let missing = cli.run(&["s3api", "head-object", "--bucket", "cli-bucket", "--key", "dir/big.bin"]);
        assert!(!missing.status.success(), "object still there after rm");

        cli.ok(&["s3", "rb", "s3://cli-bucket"]);
        let after_rb = cli.ok(&["s3", "ls"]);
        (ls, buckets, after_rm, after_rb)
    })
    .await
    .expect("cli thread");
    let (ls, buckets, after_rm, after_rb) = lines;

    assert!(ls.lines().any(|l| l.ends_with(" big.bin") && l.contains(&BIG.to_string())), "ls: {ls}");
    assert!(buckets.contains("cli-bucket"), "bucket list: {buckets}");
    assert_eq!(std::fs::read(&down).expect("downloaded"), data, "downloaded bytes differ");
    assert!(!after_rm.contains("big.bin"), "ls after rm: {after_rm}");
    assert!(!after_rb.contains("cli-bucket"), "ls after rb: {after_rb}");
    assert!(!server.root.join("cli-bucket").exists(), "bucket directory left after rb");
    server.s3.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_with_credentials_checks_signatures() {
    let server = start_server(Some(("smemu-key", "smemu-secret"))).await;
    let endpoint = server.s3.endpoint();
    let (good, bad) = tokio::task::spawn_blocking(move || {
        let good = Cli::new(&endpoint, "smemu-key", "smemu-secret");
        good.ok(&["s3", "mb", "s3://signed"]);
        let listed = good.ok(&["s3", "ls"]);
        let bad = Cli::new(&endpoint, "smemu-key", "wrong-secret").run(&["s3", "ls"]);
        (listed, bad)
    })
    .await
    .expect("cli thread");
    assert!(good.contains("signed"), "{good}");
    assert!(!bad.status.success(), "wrong secret accepted");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("SignatureDoesNotMatch"), "{bad:?}");
    server.s3.shutdown().await.expect("shutdown");
}
