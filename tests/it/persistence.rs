//! State lives in SQLite: it survives a restart, and the database refuses to change a model.

use std::process::Command;

use crate::common::{Smemu, unique};

#[test]
fn models_configs_and_tags_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().join("data");
    let name = unique("kept");
    let (model_before, config_before) = {
        let mut smemu = Smemu::start_in(&data_dir);
        let aws = smemu.aws();
        aws.sagemaker(&[
            "create-model",
            "--model-name",
            &name,
            "--primary-container",
            "Image=x",
            "--tags",
            "Key=k,Value=v",
        ])
        .json();
        aws.sagemaker(&[
            "create-endpoint-config",
            "--endpoint-config-name",
            &name,
            "--production-variants",
            &format!("VariantName=v,ModelName={name},InstanceType=ml.m5.large,InitialInstanceCount=1"),
        ])
        .json();
        let model = aws.sagemaker(&["describe-model", "--model-name", &name]).json();
        let config = aws.sagemaker(&["describe-endpoint-config", "--endpoint-config-name", &name]).json();
        smemu.stop();
        (model, config)
    };
    let smemu = Smemu::start_in(&data_dir);
    let aws = smemu.aws();
    assert_eq!(aws.sagemaker(&["describe-model", "--model-name", &name]).json(), model_before);
    assert_eq!(aws.sagemaker(&["describe-endpoint-config", "--endpoint-config-name", &name]).json(), config_before);
    let arn = model_before["ModelArn"].as_str().unwrap();
    assert_eq!(aws.sagemaker(&["list-tags", "--resource-arn", arn]).json()["Tags"][0]["Key"], "k");
}

#[test]
fn a_direct_sqlite_update_of_a_model_is_refused_by_the_database() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let name = unique("frozen");
    aws.create_simple_model(&name);
    let db = smemu.data_dir.join(smemu::STATE_FILE);
    let out = Command::new("sqlite3")
        .arg(&db)
        .arg(format!("UPDATE models SET spec = '{{}}' WHERE name = '{name}';"))
        .output()
        .expect("sqlite3 is installed by make test-deps");
    assert!(!out.status.success(), "the UPDATE went through");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("models are immutable"), "{stderr}");
    let described = aws.sagemaker(&["describe-model", "--model-name", &name]).json();
    assert_eq!(described["PrimaryContainer"]["Image"], "smemu-testmodel:latest");
}

#[test]
fn sigterm_stops_smemu_cleanly() {
    let mut smemu = Smemu::start();
    smemu.aws().create_simple_model(&unique("bye"));
    smemu.stop();
    let log = std::fs::read_to_string(smemu.data_dir.parent().unwrap().join("smemu.log")).unwrap();
    assert!(log.contains("smemu stopped"), "{log}");
}
