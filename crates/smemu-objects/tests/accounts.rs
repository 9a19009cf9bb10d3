//! `Objects` acting as accounts on an embedded S3 with `--auth strict`: the internal key signs
//! every operation smemu needs (multipart included), and another account's bucket is refused,
//! also on the fast path that reads the server's files directly.

// A test stops at its first failed step; expect() says which step.
#![allow(clippy::expect_used)]

mod common;

use common::test_bytes;
use futures::TryStreamExt;
use smemu_objects::{EmbeddedAuth, EmbeddedS3, ObjectError, Objects, ObjectsConfig};
use smemu_types::auth::AccessKeys;

const A: &str = "111111111111";
const B: &str = "222222222222";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_internal_key_acts_as_each_account_in_strict_mode() {
    acts_as_each_account(false).await;
}

/// The same with small PutObjects called in-process (`ObjectsConfig::embedded_service`), as smemu
/// writes capture files and async outputs: the same access checks, the same objects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_puts_act_as_each_account_in_strict_mode() {
    acts_as_each_account(true).await;
}

async fn acts_as_each_account(in_process: bool) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("s3");
    let auth = EmbeddedAuth::strict(AccessKeys::parse("AKIDUSER secret").expect("keys"));
    let internal_key = auth.internal_key.clone();
    let server = EmbeddedS3::start("127.0.0.1:0".parse().expect("addr"), root.clone(), auth).await.expect("start");
    let objects = Objects::new(ObjectsConfig {
        embedded_endpoint: Some(server.endpoint()),
        embedded_key: Some(internal_key),
        embedded_root: Some(root.clone()),
        embedded_service: in_process.then(|| server.service()),
        region: "us-east-1".into(),
        ..Default::default()
    })
    .await
    .expect("objects");
    let a = objects.as_account(A);
    let b = objects.as_account(B);
    assert_eq!((a.account(), objects.account()), (A, "000000000000"));

    a.create_bucket("a-models").await.expect("A creates its bucket");
    let big = test_bytes(smemu_objects::PART_SIZE + 3, 5);
    a.put_stream("s3://a-models/big.bin", &big[..]).await.expect("signed multipart upload");
    a.put_bytes("s3://a-models/small.txt", "small").await.expect("signed put");
    let listed: Vec<_> = a.list("s3://a-models/").await.expect("list").into_iter().map(|o| o.key).collect();
    assert_eq!(listed, ["big.bin", "small.txt"]);
    let read: Vec<_> = a.get_stream("s3://a-models/big.bin").await.expect("get").try_collect().await.expect("read");
    assert_eq!(read.concat(), big);
    assert_eq!(std::fs::read_to_string(root.join(".smemu-owners/a-models")).expect("owner record").trim(), A);
    // Stored as s3s-fs stores any upload: the ETag is the body's MD5, read back over HTTP.
    let head = a.s3_client().head_object().bucket("a-models").key("small.txt").send().await.expect("head");
    assert_eq!(head.e_tag(), Some("\"eb5c1399a871211c7e7ed732d15e3a8b\""), "MD5 of `small`");
    // A key with characters a URI path escapes is stored under the key itself.
    let odd = "dir/a b+c%d ü~.txt";
    a.put_bytes(&format!("s3://a-models/{odd}"), "odd").await.expect("put an odd key");
    let got = a.s3_client().get_object().bucket("a-models").key(odd).send().await.expect("get the odd key");
    assert_eq!(got.body.collect().await.expect("read").into_bytes().as_ref(), b"odd");
    // A key that climbs out of its bucket is refused, and nothing is written.
    a.put_bytes("s3://a-models/x/../../b-bucket/planted", "x").await.expect_err("a key leaving its bucket");
    assert!(!root.join("b-bucket").exists());

    // B is refused everywhere, including `get`, which would otherwise open A's file directly.
    for err in [
        b.get("s3://a-models/small.txt").await.err(),
        b.head("s3://a-models/small.txt").await.err(),
        b.list("s3://a-models/").await.err(),
        b.put_bytes("s3://a-models/planted.txt", "x").await.err(),
        b.delete("s3://a-models/small.txt").await.err(),
    ] {
        assert!(matches!(err, Some(ObjectError::AccessDenied { .. })), "{err:?}");
    }
    assert!(!root.join("a-models/planted.txt").exists());
    // Nor can B copy A's object into a bucket of its own.
    b.create_bucket("b-bucket").await.expect("B creates its bucket");
    let copied =
        b.s3_client().copy_object().bucket("b-bucket").key("stolen").copy_source("a-models/small.txt").send().await;
    let code = copied.as_ref().err().and_then(aws_sdk_s3::error::ProvideErrorMetadata::code);
    assert_eq!(code, Some("AccessDenied"), "{copied:?}");
    assert!(!root.join("b-bucket/stolen").exists());
    // A put into a bucket nobody created is NoSuchBucket, not a new bucket owned by nobody.
    let err = a.put_bytes("s3://never-created/k", "x").await.err();
    assert!(matches!(err, Some(ObjectError::NoSuchBucket { .. })), "{err:?}");
    assert!(!root.join("never-created").exists());
    a.head("s3://a-models/small.txt").await.expect("A's object is still there");

    // A key made up without the server's internal key is refused.
    let forged = Objects::new(ObjectsConfig {
        embedded_endpoint: Some(server.endpoint()),
        region: "us-east-1".into(),
        ..Default::default()
    })
    .await
    .expect("objects")
    .as_account(A);
    let err = forged.list("s3://a-models/").await.expect_err("a made-up internal key");
    assert!(err.to_string().contains("HTTP 403, SignatureDoesNotMatch"), "{err}");
    server.shutdown().await.expect("shutdown");
    // With the listener closed, only an in-process put still gets through.
    let late = a.put_bytes("s3://a-models/late.txt", "late").await;
    assert_eq!(late.is_ok(), in_process, "{late:?}");
    assert_eq!(root.join("a-models/late.txt").exists(), in_process);
}
