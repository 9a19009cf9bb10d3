//! The embedded S3 through the AWS CLI, and model artifacts read from it by an endpoint.

use serde_json::json;

use crate::common::{Smemu, TEST_IMAGE, model_tarball, unique};

#[test]
fn an_endpoint_reads_its_model_from_the_embedded_s3() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let s3 = crate::common::AwsCli::new(&smemu.s3_url);
    let tmp = tempfile::tempdir().unwrap();
    let bucket = unique("models");
    assert!(s3.run("s3", &["mb", &format!("s3://{bucket}")]).success);
    let tarball = model_tarball(tmp.path(), "hello from s3");
    let up = s3.run("s3", &["cp", tarball.to_str().unwrap(), &format!("s3://{bucket}/churn/model.tar.gz")]);
    assert!(up.success, "{}", up.stderr);
    let listed = s3.run("s3", &["ls", &format!("s3://{bucket}/churn/")]);
    assert!(listed.stdout.contains("model.tar.gz"), "{}", listed.stdout);

    let name = unique("s3model");
    let container = json!({
        "Image": TEST_IMAGE,
        "ModelDataUrl": format!("s3://{bucket}/churn/model.tar.gz"),
        "Environment": {"SMEMU_TEST_ROLE": "echo-env"}
    });
    aws.deploy(&name, &json!([container]), &[], 1);
    let (_, body) = aws.invoke(&name, "{}", &[]);
    assert!(body.contains("hello from s3"), "the container did not see its model: {body}");

    // A missing artifact fails the endpoint with a reason naming the URI.
    let missing = unique("nomodel");
    let uri = format!("s3://{bucket}/absent/model.tar.gz");
    let failed = aws.deploy_failing(&missing, &uri);
    assert!(failed["FailureReason"].as_str().unwrap().contains(&uri), "{failed}");
}

#[test]
fn a_file_url_model_directory_is_mounted_read_only() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let tmp = tempfile::tempdir().unwrap();
    let model_dir = tmp.path().join("plain");
    std::fs::create_dir_all(&model_dir).unwrap();
    std::fs::write(model_dir.join("greeting.txt"), "hello from a directory").unwrap();
    let name = unique("filemodel");
    let container = json!({
        "Image": TEST_IMAGE,
        "ModelDataUrl": format!("file://{}", model_dir.display()),
        "Environment": {"SMEMU_TEST_ROLE": "echo-env"}
    });
    aws.deploy(&name, &json!([container]), &[], 1);
    let (_, body) = aws.invoke(&name, "{}", &[]);
    assert!(body.contains("hello from a directory"), "{body}");
}

#[test]
fn a_second_smemu_reads_artifacts_from_the_first_ones_s3_as_an_external_s3() {
    let first = Smemu::start();
    let tmp = tempfile::tempdir().unwrap();
    let second =
        Smemu::start_with(&tmp.path().join("data"), &["--no-s3", "--s3-endpoint", &first.s3_url, "--s3-path-style"]);
    assert_eq!(second.s3_url, "off");
    let s3 = crate::common::AwsCli::new(&first.s3_url);
    let bucket = unique("shared");
    assert!(s3.run("s3", &["mb", &format!("s3://{bucket}")]).success);
    let tarball = model_tarball(tmp.path(), "hello from another s3");
    assert!(s3.run("s3", &["cp", tarball.to_str().unwrap(), &format!("s3://{bucket}/m/model.tar.gz")]).success);

    let aws = second.aws();
    let name = unique("external");
    let container = json!({
        "Image": TEST_IMAGE,
        "ModelDataUrl": format!("s3://{bucket}/m/model.tar.gz"),
        "Environment": {"SMEMU_TEST_ROLE": "echo-env"}
    });
    aws.deploy(&name, &json!([container]), &[], 1);
    let (_, body) = aws.invoke(&name, "{}", &[]);
    assert!(body.contains("hello from another s3"), "{body}");
}

#[test]
fn model_data_sources_mount_a_prefix_as_a_directory_and_a_gzip_object_as_a_tarball() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let s3 = crate::common::AwsCli::new(&smemu.s3_url);
    let tmp = tempfile::tempdir().unwrap();
    let bucket = unique("sources");
    assert!(s3.run("s3", &["mb", &format!("s3://{bucket}")]).success);
    let plain = tmp.path().join("plain");
    std::fs::create_dir_all(plain.join("sub")).unwrap();
    std::fs::write(plain.join("greeting.txt"), "hello from a prefix").unwrap();
    std::fs::write(plain.join("sub/weights.txt"), "w").unwrap();
    let up = s3.run("s3", &["cp", "--recursive", plain.to_str().unwrap(), &format!("s3://{bucket}/plain/")]);
    assert!(up.success, "{}", up.stderr);
    let tarball = model_tarball(tmp.path(), "hello from a packed source");
    assert!(s3.run("s3", &["cp", tarball.to_str().unwrap(), &format!("s3://{bucket}/packed/model.tar.gz")]).success);

    let sources = [
        (format!("s3://{bucket}/plain/"), "S3Prefix", "None", "hello from a prefix"),
        (format!("s3://{bucket}/packed/model.tar.gz"), "S3Object", "Gzip", "hello from a packed source"),
    ];
    for (uri, data_type, compression, greeting) in sources {
        let name = unique("source");
        let container = json!({
            "Image": TEST_IMAGE,
            "ModelDataSource": {"S3DataSource": {"S3Uri": uri, "S3DataType": data_type, "CompressionType": compression}},
            "Environment": {"SMEMU_TEST_ROLE": "echo-env"}
        });
        aws.deploy(&name, &json!([container]), &[], 1);
        let (_, body) = aws.invoke(&name, "{}", &[]);
        let seen: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(seen["model_files"]["/opt/ml/model/greeting.txt"], greeting, "{uri}: {seen}");
        if compression == "None" {
            assert_eq!(seen["model_files"]["/opt/ml/model/sub/weights.txt"], "w", "{seen}");
        }
    }
}
