//! `Objects` against the embedded S3 (s3://), an "external" S3 (the same server, path-style), and file://.

// A test stops at its first failed step; expect() says which step.
#![allow(clippy::expect_used)]

mod common;

use common::{embedded_objects, start_server, test_bytes};
use futures::{StreamExt, TryStreamExt};
use smemu_objects::{ObjectError, Objects, ObjectsConfig, S3Target};
use tokio::io::AsyncReadExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_put_get_head_list_delete() {
    let server = start_server(None).await;
    let objects = embedded_objects(&server).await;
    assert_eq!(objects.target(), &S3Target::Embedded(server.s3.endpoint()));
    objects.create_bucket("models").await.expect("create bucket");
    objects.create_bucket("models").await.expect("create bucket twice is fine");

    objects.put_bytes("s3://models/a/one.txt", "hello").await.expect("put");
    let meta = objects.head("s3://models/a/one.txt").await.expect("head");
    assert_eq!(meta.size, 5);
    assert_eq!(meta.etag.as_deref(), Some("5d41402abc4b2a76b9719d911017c592"), "md5 of 'hello'");

    let mut body = String::new();
    objects.get("s3://models/a/one.txt").await.expect("get").read_to_string(&mut body).await.expect("read");
    assert_eq!(body, "hello");

    // Larger than one part: goes multipart, streams back in several chunks.
    let big = test_bytes(smemu_objects::PART_SIZE * 2 + 12345, 7);
    let n = objects.put_stream("s3://models/a/big.bin", &big[..]).await.expect("put big");
    assert_eq!(n, big.len() as u64);
    let big_meta = objects.head("s3://models/a/big.bin").await.expect("head big");
    assert!(big_meta.etag.as_deref().is_some_and(|e| e.ends_with("-3")), "expected 3 parts: {big_meta:?}");
    let chunks: Vec<_> =
        objects.get_stream("s3://models/a/big.bin").await.expect("stream").try_collect().await.expect("chunks");
    assert!(chunks.len() > 1, "body arrived in one chunk");
    assert_eq!(chunks.concat(), big);

    let dir = tempfile::tempdir().expect("tempdir");
    let dest = dir.path().join("sub/dir/big.bin");
    assert_eq!(objects.get_to_file("s3://models/a/big.bin", &dest).await.expect("get_to_file"), big.len() as u64);
    assert_eq!(std::fs::read(&dest).expect("read"), big);
    let leftovers: Vec<_> = std::fs::read_dir(dest.parent().expect("parent")).expect("ls").collect();
    assert_eq!(leftovers.len(), 1, "temporary files left beside the download");

    let src = dir.path().join("src.bin");
    std::fs::write(&src, b"from a file").expect("write");
    objects.put_from_file("s3://models/b/c.txt", &src).await.expect("put_from_file");

    let listed = objects.list("s3://models/a/").await.expect("list");
    let keys: Vec<_> = listed.iter().map(|o| (o.key.as_str(), o.size)).collect();
    assert_eq!(keys, [("big.bin", big.len() as u64), ("one.txt", 5)]);
    assert_eq!(listed[1].uri, "s3://models/a/one.txt");
    // A plain string prefix, as S3Prefix means it.
    let all: Vec<_> = objects.list("s3://models").await.expect("list bucket").into_iter().map(|o| o.key).collect();
    assert_eq!(all, ["a/big.bin", "a/one.txt", "b/c.txt"]);
    assert!(objects.list("s3://models/zzz").await.expect("list nothing").is_empty());

    objects.delete("s3://models/a/one.txt").await.expect("delete");
    assert!(matches!(objects.head("s3://models/a/one.txt").await, Err(ObjectError::NoSuchKey { .. })));
    server.s3.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_follows_pagination() {
    let server = start_server(None).await;
    let objects = embedded_objects(&server).await;
    objects.create_bucket("many").await.expect("bucket");
    // S3 pages at 1000 keys.
    let count = 1003;
    futures::stream::iter(0..count)
        .map(|i| {
            let objects = objects.clone();
            async move { objects.put_bytes(&format!("s3://many/p/{i:05}"), vec![1u8; i % 7]).await }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<_>>()
        .await
        .expect("puts");
    let listed = objects.list("s3://many/p/").await.expect("list");
    assert_eq!(listed.len(), count);
    assert_eq!(listed[1002].key, "01002");
    assert_eq!(listed[1002].size, 1002 % 7);
    server.s3.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_buckets_and_keys_name_the_uri() {
    let server = start_server(None).await;
    let objects = embedded_objects(&server).await;
    objects.create_bucket("here").await.expect("bucket");

    for uri in ["s3://absent-bucket/k"] {
        let err = objects.get(uri).await.err().expect("get of missing bucket fails");
        assert!(matches!(&err, ObjectError::NoSuchBucket { uri: u } if u == uri), "{err:?}");
        assert!(err.to_string().contains(uri), "{err}");
        let err = objects.head(uri).await.expect_err("head of missing bucket fails");
        assert!(matches!(&err, ObjectError::NoSuchBucket { .. }), "{err:?}");
    }
    let err = objects.list("s3://absent-bucket/p/").await.expect_err("list fails");
    assert!(matches!(&err, ObjectError::NoSuchBucket { uri } if uri == "s3://absent-bucket/p/"), "{err:?}");

    let uri = "s3://here/no/such/key";
    let err = objects.get(uri).await.err().expect("get of missing key fails");
    assert!(matches!(&err, ObjectError::NoSuchKey { uri: u } if u == uri), "{err:?}");
    assert!(err.to_string().contains(uri), "{err}");
    let err = objects.head(uri).await.expect_err("head of missing key fails");
    assert!(matches!(&err, ObjectError::NoSuchKey { .. }), "{err:?}");
    let dir = tempfile::tempdir().expect("tempdir");
    let err = objects.get_to_file(uri, &dir.path().join("x")).await.expect_err("download fails");
    assert!(err.is_not_found(), "{err:?}");
    assert!(!dir.path().join("x").exists());

    for bad in ["s3://here", "s3://here/", "http://x/y", "file://relative"] {
        let err = objects.get(bad).await.err().expect("bad URI fails");
        assert!(matches!(&err, ObjectError::InvalidUri { uri, .. } if uri == bad), "{bad}: {err:?}");
    }
    server.s3.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_uris() {
    let objects = Objects::new(ObjectsConfig::default()).await.expect("objects");
    let dir = tempfile::tempdir().expect("tempdir");
    let base = dir.path().display().to_string();

    let uri = format!("file://{base}/out/deep/x.txt");
    assert_eq!(objects.put_bytes(&uri, "file data").await.expect("put"), 9);
    assert_eq!(std::fs::read_to_string(dir.path().join("out/deep/x.txt")).expect("read"), "file data");
    assert_eq!(objects.head(&uri).await.expect("head").size, 9);
    let mut body = String::new();
    objects.get(&uri).await.expect("get").read_to_string(&mut body).await.expect("read");
    assert_eq!(body, "file data");
    objects.put_bytes(&format!("file://{base}/out/y.bin"), vec![0u8; 3]).await.expect("put");
    objects.put_bytes(&format!("file://{base}/outside.txt"), "z").await.expect("put");

    let listed = objects.list(&format!("file://{base}/out")).await.expect("list dir");
    let keys: Vec<_> = listed.iter().map(|o| (o.key.as_str(), o.size)).collect();
    assert_eq!(keys, [("deep/x.txt", 9), ("y.bin", 3)]);
    assert_eq!(listed[0].uri, uri);
    // A name prefix, like S3: `out` covers `out/...` and `outside.txt`.
    let listed = objects.list(&format!("file://{base}/ou")).await.expect("list prefix");
    let keys: Vec<_> = listed.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["t/deep/x.txt", "t/y.bin", "tside.txt"]);
    assert!(objects.list(&format!("file://{base}/nothing")).await.expect("list nothing").is_empty());

    let missing = format!("file://{base}/missing.txt");
    let err = objects.get(&missing).await.err().expect("missing file");
    assert!(matches!(&err, ObjectError::NoSuchKey { uri } if *uri == missing), "{err:?}");
    assert!(matches!(objects.get(&format!("file://{base}/out")).await, Err(ObjectError::NoSuchKey { .. })));

    objects.delete(&uri).await.expect("delete");
    assert!(!dir.path().join("out/deep/x.txt").exists());
    objects.delete(&uri).await.expect("deleting a missing file is fine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_endpoint_with_path_style_and_any_keys() {
    let server = start_server(None).await;
    let embedded = embedded_objects(&server).await;
    embedded.create_bucket("shared").await.expect("bucket");
    embedded.put_bytes("s3://shared/k/v.txt", "via embedded").await.expect("put");

    // The same server seen as an external S3 (as with --s3-endpoint), wrong-looking keys
    // and all; the embedded endpoint must be ignored when an external one is set.
    let external = Objects::new(ObjectsConfig {
        embedded_endpoint: Some("http://127.0.0.1:9".into()),
        external_endpoint: Some(server.s3.endpoint()),
        external_credentials: Some(("AKIAEXTERNAL".into(), "not-the-embedded-secret".into())),
        force_path_style: true,
        region: "eu-west-1".into(),
        ..Default::default()
    })
    .await
    .expect("objects");
    assert_eq!(external.target(), &S3Target::External(server.s3.endpoint()));
    let mut body = String::new();
    external.get("s3://shared/k/v.txt").await.expect("get").read_to_string(&mut body).await.expect("read");
    assert_eq!(body, "via embedded");
    let big = test_bytes(smemu_objects::PART_SIZE + 1, 3);
    external.put_stream("s3://shared/k/big", &big[..]).await.expect("multipart via external");
    let keys: Vec<_> = external.list("s3://shared/k/").await.expect("list").into_iter().map(|o| o.key).collect();
    assert_eq!(keys, ["big", "v.txt"]);
    assert_eq!(embedded.head("s3://shared/k/big").await.expect("head").size, big.len() as u64);
    server.s3.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_server_with_credentials() {
    let server = start_server(Some(("ak", "sk"))).await;
    let good = Objects::new(ObjectsConfig {
        embedded_endpoint: Some(server.s3.endpoint()),
        embedded_credentials: Some(("ak".into(), "sk".into())),
        ..Default::default()
    })
    .await
    .expect("objects");
    good.create_bucket("signed-bucket").await.expect("bucket");
    let big = test_bytes(smemu_objects::PART_SIZE + 5, 9);
    good.put_stream("s3://signed-bucket/k", &big[..]).await.expect("signed multipart put");
    assert_eq!(good.head("s3://signed-bucket/k").await.expect("head").size, big.len() as u64);

    // The default keys are not the configured ones: refused, and the error names the URI.
    let bad = embedded_objects(&server).await;
    let err = bad.put_bytes("s3://signed-bucket/other", "x").await.expect_err("unsigned-by-the-right-key put fails");
    assert!(matches!(&err, ObjectError::Backend { uri, .. } if uri == "s3://signed-bucket/other"), "{err:?}");
    assert!(err.to_string().contains("HTTP 403"), "{err}");
    server.s3.shutdown().await.expect("shutdown");
}

/// An SDK client with the SDK's default checksum behaviour, which sends streaming bodies
/// `aws-chunked` (`STREAMING-UNSIGNED-PAYLOAD-TRAILER`), unlike `Objects`' own client.
fn chunked_client(endpoint: &str, access: &str, secret: &str) -> aws_sdk_s3::Client {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(Credentials::new(access, secret, None, None, "test"))
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_chunked_uploads_need_a_server_with_credentials() {
    use aws_sdk_s3::primitives::ByteStream;
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("body.bin");
    std::fs::write(&src, test_bytes(100_000, 11)).expect("write");

    // Accept-any server: the upload is refused, never stored with its chunk framing.
    let open = start_server(None).await;
    embedded_objects(&open).await.create_bucket("chunked").await.expect("bucket");
    let client = chunked_client(&open.s3.endpoint(), "any", "keys");
    let body = ByteStream::from_path(&src).await.expect("body");
    let err = client.put_object().bucket("chunked").key("k").body(body).send().await.expect_err("aws-chunked");
    // The server refuses once it has the headers. The client sees that answer or, when the server
    // closed the connection before the body was written, its body write failing.
    let refused = format!("{err:?}");
    assert!(refused.contains("NotImplemented") || refused.contains("BodyWrite"), "{refused}");
    assert!(!open.root.join("chunked/k").exists(), "an undecodable upload was stored");
    open.s3.shutdown().await.expect("shutdown");

    // With credentials, s3s verifies and decodes the chunks.
    let closed = start_server(Some(("ak", "sk"))).await;
    let client = chunked_client(&closed.s3.endpoint(), "ak", "sk");
    client.create_bucket().bucket("chunked").send().await.expect("bucket");
    let body = ByteStream::from_path(&src).await.expect("body");
    client.put_object().bucket("chunked").key("k").body(body).send().await.expect("aws-chunked put");
    assert_eq!(std::fs::read(closed.root.join("chunked/k")).expect("stored"), std::fs::read(&src).expect("src"));
    closed.s3.shutdown().await.expect("shutdown");
}

/// With `embedded_root`, reads open the embedded server's files; everything that is not a plain
/// object file there still answers as S3 does, and no key reads outside the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_of_the_in_process_embedded_server_open_its_files() {
    let server = start_server(None).await;
    let objects = Objects::new(ObjectsConfig {
        embedded_endpoint: Some(server.s3.endpoint()),
        region: "us-east-1".into(),
        embedded_root: Some(server.root.clone()),
        ..Default::default()
    })
    .await
    .expect("objects");
    objects.create_bucket("fast").await.expect("bucket");
    let body = test_bytes(3 * 1024 * 1024 + 17, 9);
    objects.put_bytes("s3://fast/dir/data.bin", body.clone()).await.expect("put");
    // The file is where the fast path looks, and reading gives the object, in chunks.
    assert!(server.root.join("fast/dir/data.bin").is_file());
    let chunks: Vec<_> =
        objects.get_stream("s3://fast/dir/data.bin").await.expect("get").try_collect().await.expect("read");
    assert!(chunks.len() >= 4, "{} chunks", chunks.len());
    assert_eq!(chunks.concat(), body);

    // A folder and a missing key get the server's answers (s3s-fs fails a folder with a 500).
    assert!(objects.get("s3://fast/dir").await.is_err(), "a folder is no object");
    let err = objects.get("s3://fast/nope").await.err().expect("missing");
    assert!(matches!(&err, ObjectError::NoSuchKey { uri } if uri == "s3://fast/nope"), "{err:?}");
    // A file beside the store is not reachable by a key that climbs out of the bucket.
    std::fs::write(server.root.parent().expect("parent").join("secret"), b"outside").expect("write");
    let escaped = objects.get("s3://fast/../../secret").await;
    match escaped {
        Ok(mut reader) => {
            let mut read = Vec::new();
            let _ = reader.read_to_end(&mut read).await;
            assert_ne!(read, b"outside");
        }
        Err(err) => assert!(!err.to_string().contains("outside"), "{err}"),
    }
    server.s3.shutdown().await.expect("shutdown");
}
