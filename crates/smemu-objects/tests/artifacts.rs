//! Model artifacts: tarball extraction with the digest cache, refused archives, and uncompressed prefixes.

// A test stops at its first failed step; expect() says which step.
#![allow(clippy::expect_used)]

mod common;

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::{Server, embedded_objects, start_server, test_bytes};
use sha2::{Digest, Sha256};
use smemu_objects::{ObjectError, Objects, fetch_model_artifacts, fetch_model_artifacts_detailed, fetch_model_prefix};
use tar::{EntryType, Header};

enum Entry<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8], u32),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    CharDevice(&'a str),
}

/// Builds a .tar.gz with names written raw into the headers: tar's own builder refuses
/// `..` and absolute paths, which is exactly what these tests need to produce.
fn tar_gz(entries: &[Entry<'_>]) -> Vec<u8> {
    fn header(name: &str, kind: EntryType, size: u64, mode: u32, link: Option<&str>) -> Header {
        let mut h = Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(link) = link {
            h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        h
    }
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for e in entries {
        let (h, data): (Header, &[u8]) = match e {
            Entry::Dir(n) => (header(n, EntryType::Directory, 0, 0o755, None), &[]),
            Entry::File(n, d, mode) => (header(n, EntryType::Regular, d.len() as u64, *mode, None), d),
            Entry::Symlink(n, t) => (header(n, EntryType::Symlink, 0, 0o777, Some(t)), &[]),
            Entry::Hardlink(n, t) => (header(n, EntryType::Link, 0, 0o644, Some(t)), &[]),
            Entry::CharDevice(n) => (header(n, EntryType::Char, 0, 0o666, None), &[]),
        };
        builder.append(&h, data).expect("append");
    }
    let mut gz = builder.into_inner().expect("finish tar");
    gz.flush().expect("flush");
    gz.finish().expect("finish gzip")
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn entries_of(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

async fn upload(server: &Server, objects: &Objects, key: &str, data: &[u8]) -> String {
    let _ = server;
    objects.create_bucket("artifacts").await.expect("bucket");
    let uri = format!("s3://artifacts/{key}");
    objects.put_bytes(&uri, data.to_vec()).await.expect("upload");
    uri
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn good_tarball_is_extracted_once_per_digest() {
    let server = start_server(None).await;
    let objects = embedded_objects(&server).await;
    let weights = test_bytes(300_000, 1);
    let archive = tar_gz(&[
        Entry::Dir("./"),
        Entry::Dir("model/"),
        Entry::File("model/weights.bin", &weights, 0o600),
        Entry::File("code/inference.py", b"print('hi')\n", 0o644),
        Entry::File("bin/serve", b"#!/bin/sh\n", 0o4755),
        Entry::File("blobs/abc", b"blob", 0o644),
        // Hugging Face snapshot layout: a link climbing to a sibling directory.
        Entry::Symlink("snapshots/v1/config.json", "../../blobs/abc"),
        Entry::Hardlink("model/weights-copy.bin", "model/weights.bin"),
    ]);
    let uri = upload(&server, &objects, "m/model.tar.gz", &archive).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let cache = tmp.path().join("cache");

    let first = fetch_model_artifacts_detailed(&objects, &cache, &uri).await.expect("fetch");
    let digest = sha256_hex(&archive);
    assert_eq!(first.digest.as_deref(), Some(digest.as_str()));
    assert_eq!(first.dir, cache.join(&digest));
    assert!(first.extracted);

    let dir = &first.dir;
    assert_eq!(std::fs::read(dir.join("model/weights.bin")).expect("weights"), weights);
    assert_eq!(std::fs::read(dir.join("model/weights-copy.bin")).expect("hard link"), weights);
    assert_eq!(std::fs::read_to_string(dir.join("code/inference.py")).expect("code"), "print('hi')\n");
    assert_eq!(std::fs::read(dir.join("snapshots/v1/config.json")).expect("through symlink"), b"blob");
    assert!(std::fs::symlink_metadata(dir.join("snapshots/v1/config.json")).expect("link").file_type().is_symlink());
    let serve_mode = std::fs::metadata(dir.join("bin/serve")).expect("serve").permissions().mode();
    assert_eq!(serve_mode & 0o7777, 0o755, "setuid dropped, exec kept: {serve_mode:o}");
    let weights_mode = std::fs::metadata(dir.join("model/weights.bin")).expect("weights").permissions().mode();
    assert_eq!(weights_mode & 0o777, 0o644, "made readable for any container user: {weights_mode:o}");

    // Same content again, by the same URI and by a file:// copy: no second extraction.
    let inode = std::fs::metadata(dir).expect("dir").ino();
    let again = fetch_model_artifacts_detailed(&objects, &cache, &uri).await.expect("fetch again");
    assert_eq!(again.dir, first.dir);
    assert!(!again.extracted, "re-extracted the same digest");
    let copy = tmp.path().join("copy.tar.gz");
    std::fs::write(&copy, &archive).expect("copy");
    let via_file = fetch_model_artifacts_detailed(&objects, &cache, &format!("file://{}", copy.display()))
        .await
        .expect("fetch file://");
    assert_eq!(via_file.dir, first.dir);
    assert!(!via_file.extracted);
    assert_eq!(std::fs::metadata(dir).expect("dir").ino(), inode, "cache directory was replaced");
    assert_eq!(entries_of(&cache), std::slice::from_ref(&digest), "leftovers in the cache dir");

    // Concurrent fetches into a fresh cache: both get the same directory, one extracts.
    let cache2 = tmp.path().join("cache2");
    let (a, b) = tokio::join!(
        fetch_model_artifacts_detailed(&objects, &cache2, &uri),
        fetch_model_artifacts_detailed(&objects, &cache2, &uri)
    );
    let (a, b) = (a.expect("fetch a"), b.expect("fetch b"));
    assert_eq!(a.dir, b.dir);
    assert_eq!(u8::from(a.extracted) + u8::from(b.extracted), 1, "{a:?} {b:?}");
    assert_eq!(entries_of(&cache2), [digest]);
    server.s3.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_tarballs_are_refused_without_writing_outside() {
    let server = start_server(None).await;
    let objects = embedded_objects(&server).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let tag = uuid::Uuid::new_v4().simple().to_string();
    // The cache is tmp/cache; archives are extracted in tmp/cache/.extract-*/, so `../../x`
    // would land in tmp/ (outside the cache) and an absolute path anywhere.
    let cache = tmp.path().join("cache");
    let outside = |name: &str| tmp.path().join(name);
    let abs_evil = PathBuf::from(format!("/tmp/evil-{tag}"));
    let up_evil = format!("../../evil-{tag}");
    let abs_evil_s = abs_evil.display().to_string();
    let link_evil = format!("../evil-link-{tag}");

    // (case, archive, the entry named in the refusal, a word of the reason)
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        (
            "dotdot",
            tar_gz(&[Entry::File("ok.txt", b"fine", 0o644), Entry::File(&up_evil, b"pwned", 0o644)]),
            &up_evil,
            "`..`",
        ),
        ("absolute", tar_gz(&[Entry::File(&abs_evil_s, b"pwned", 0o644)]), &abs_evil_s, "absolute path"),
        (
            "symlink-up",
            tar_gz(&[Entry::Symlink("escape", "../../../"), Entry::File("escape/x", b"p", 0o644)]),
            "escape",
            "escapes",
        ),
        ("symlink-abs", tar_gz(&[Entry::Symlink("passwd", "/etc/passwd")]), "passwd", "absolute path"),
        // `d -> .` is harmless by itself, but `d/x -> ../…` would resolve from the root's
        // parent: refused because it would be written through the link `d`.
        (
            "through-link",
            tar_gz(&[Entry::Symlink("d", "."), Entry::Symlink("d/x", &link_evil)]),
            "d/x",
            "through a symlink",
        ),
        ("hardlink-abs", tar_gz(&[Entry::Hardlink("h", "/etc/passwd")]), "h", "outside the archive"),
        ("hardlink-up", tar_gz(&[Entry::Hardlink("h", "../../secret")]), "h", "outside the archive"),
        ("device", tar_gz(&[Entry::CharDevice("dev/null")]), "dev/null", "device file"),
    ];
    for (name, archive, bad_entry, why) in cases {
        let uri = upload(&server, &objects, &format!("evil/{name}.tar.gz"), &archive).await;
        let err = fetch_model_artifacts(&objects, &cache, &uri).await.expect_err(name);
        match &err {
            ObjectError::UnsafeEntry { uri: u, entry, reason } => {
                assert_eq!(u, &uri, "{name}");
                assert_eq!(entry, bad_entry, "{name}");
                assert!(reason.contains(why), "{name}: {reason}");
            }
            other => panic!("{name}: unexpected error {other:?}"),
        }
        let message = err.to_string();
        assert!(message.contains(&uri) && message.contains(bad_entry), "{name}: {message}");
        assert_eq!(entries_of(&cache), Vec::<String>::new(), "{name}: leftovers in the cache dir");
    }
    assert!(!abs_evil.exists(), "absolute entry was written");
    assert_eq!(entries_of(tmp.path()), ["cache"], "something was written beside the cache dir");
    assert!(!outside(&format!("evil-{tag}")).exists());
    server.s3.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_a_tarball_and_missing_objects() {
    let server = start_server(None).await;
    let objects = embedded_objects(&server).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let cache = tmp.path().join("cache");
    let uri = upload(&server, &objects, "junk.tar.gz", b"this is not gzip").await;
    let err = fetch_model_artifacts(&objects, &cache, &uri).await.expect_err("junk");
    assert!(err.to_string().contains(&uri), "{err}");
    let missing = "s3://artifacts/none.tar.gz";
    let err = fetch_model_artifacts(&objects, &cache, missing).await.expect_err("missing");
    assert!(matches!(&err, ObjectError::NoSuchKey { uri } if uri == missing), "{err:?}");
    let err = fetch_model_artifacts(&objects, &cache, "s3://artifacts/dir/").await.expect_err("prefix");
    assert!(matches!(err, ObjectError::InvalidUri { .. }), "{err:?}");
    assert_eq!(entries_of(&cache), Vec::<String>::new(), "leftovers in the cache dir");
    server.s3.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_directory_is_used_directly() {
    let objects = Objects::new(Default::default()).await.expect("objects");
    let tmp = tempfile::tempdir().expect("tempdir");
    let model = tmp.path().join("model");
    std::fs::create_dir(&model).expect("mkdir");
    std::fs::write(model.join("w.bin"), b"w").expect("write");
    let cache = tmp.path().join("cache");
    let uri = format!("file://{}", model.display());
    assert_eq!(fetch_model_artifacts(&objects, &cache, &uri).await.expect("fetch"), model);
    assert_eq!(fetch_model_prefix(&objects, &cache, &uri).await.expect("fetch prefix"), model);
    assert!(!cache.exists(), "a directory needs no cache");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uncompressed_prefix_is_copied_as_a_tree() {
    let server = start_server(None).await;
    let objects = embedded_objects(&server).await;
    objects.create_bucket("artifacts").await.expect("bucket");
    let big = test_bytes(smemu_objects::PART_SIZE + 100, 5);
    objects.put_bytes("s3://artifacts/p/model/config.json", "{}").await.expect("put");
    objects.put_stream("s3://artifacts/p/model/weights/part-1.bin", &big[..]).await.expect("put");
    objects.put_bytes("s3://artifacts/p/model-v2/other.bin", "not mine").await.expect("put");
    let tmp = tempfile::tempdir().expect("tempdir");
    let cache = tmp.path().join("cache");

    let prefix = "s3://artifacts/p/model/";
    let dir = fetch_model_prefix(&objects, &cache, prefix).await.expect("fetch prefix");
    assert_eq!(entries_of(&dir), ["config.json", "weights"]);
    assert_eq!(std::fs::read(dir.join("weights/part-1.bin")).expect("weights"), big);
    assert_eq!(fetch_model_prefix(&objects, &cache, prefix).await.expect("again"), dir, "unchanged prefix re-copied");

    // A changed object makes a new copy; the old one stays for whoever still mounts it.
    objects.put_bytes("s3://artifacts/p/model/config.json", r#"{"v":2}"#).await.expect("put");
    let dir2 = fetch_model_prefix(&objects, &cache, prefix).await.expect("fetch changed");
    assert_ne!(dir2, dir);
    assert_eq!(std::fs::read_to_string(dir2.join("config.json")).expect("config"), r#"{"v":2}"#);
    assert_eq!(entries_of(&cache).len(), 2, "{:?}", entries_of(&cache));

    let err = fetch_model_prefix(&objects, &cache, "s3://artifacts/p/model").await.expect_err("no slash");
    assert!(matches!(err, ObjectError::InvalidUri { .. }), "{err:?}");
    let err = fetch_model_prefix(&objects, &cache, "s3://artifacts/p/empty/").await.expect_err("empty");
    assert!(matches!(&err, ObjectError::NoSuchKey { uri } if uri == "s3://artifacts/p/empty/"), "{err:?}");
    server.s3.shutdown().await.expect("shutdown");
}
