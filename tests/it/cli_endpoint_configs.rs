//! CreateEndpointConfig, DescribeEndpointConfig, ListEndpointConfigs, DeleteEndpointConfig through the AWS CLI.

use serde_json::json;

use crate::common::{Smemu, unique};

fn variant(model: &str, name: &str) -> String {
    format!("VariantName={name},ModelName={model},InstanceType=ml.m5.large,InitialInstanceCount=1")
}

#[test]
fn an_endpoint_config_is_stored_and_described_with_defaults_applied() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let model = unique("m");
    aws.create_simple_model(&model);
    let name = unique("Config");
    let created = aws
        .sagemaker(&[
            "create-endpoint-config",
            "--endpoint-config-name",
            &name,
            "--production-variants",
            &variant(&model, "AllTraffic"),
            &format!("VariantName=Canary,ModelName={model},InstanceType=ml.c5.xlarge,InitialInstanceCount=2,InitialVariantWeight=0.5"),
        ])
        .json();
    let arn = format!("arn:aws:sagemaker:us-east-1:000000000000:endpoint-config/{}", name.to_lowercase());
    assert_eq!(created["EndpointConfigArn"], arn);
    let described = aws.sagemaker(&["describe-endpoint-config", "--endpoint-config-name", &name]).json();
    assert_eq!(described["EndpointConfigName"], name.as_str());
    assert_eq!(described["EndpointConfigArn"], arn);
    assert_eq!(
        described["ProductionVariants"][0],
        json!({"VariantName": "AllTraffic", "ModelName": model, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1, "InitialVariantWeight": 1.0})
    );
    assert_eq!(described["ProductionVariants"][1]["VariantName"], "Canary");
    assert_eq!(described["ProductionVariants"][1]["InitialVariantWeight"], 0.5);
}

#[test]
fn endpoint_config_errors_match_the_real_service() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let model = unique("m");
    aws.create_simple_model(&model);

    let missing = unique("missing-model");
    aws.sagemaker(&[
        "create-endpoint-config",
        "--endpoint-config-name",
        &unique("c"),
        "--production-variants",
        &variant(&missing, "v"),
    ])
    .assert_error(
        "ValidationException",
        &format!("Could not find model \"arn:aws:sagemaker:us-east-1:000000000000:model/{missing}\"."),
    );

    aws.sagemaker(&[
        "create-endpoint-config",
        "--endpoint-config-name",
        &unique("c"),
        "--production-variants",
        &format!("VariantName=v,ModelName={model},InstanceType=ml.bogus.large,InitialInstanceCount=1"),
    ])
    .assert_error(
        "ValidationException",
        "1 validation error detected: Value 'ml.bogus.large' at 'productionVariants.1.member.instanceType' failed to satisfy constraint: Member must satisfy enum value set: [",
    );

    aws.sagemaker(&[
        "create-endpoint-config",
        "--endpoint-config-name",
        &unique("c"),
        "--production-variants",
        &variant(&model, "same"),
        &variant(&model, "same"),
    ])
    .assert_error("ValidationException", "Variant name \"same\" appears more than once");

    aws.sagemaker(&[
        "create-endpoint-config",
        "--endpoint-config-name",
        &unique("c"),
        "--production-variants",
        &format!("VariantName=v,ModelName={model},ServerlessConfig={{MemorySizeInMB=1500,MaxConcurrency=1}}"),
    ])
    .assert_error("ValidationException", "Value '1500' at 'memorySizeInMB'");

    let name = unique("dup");
    aws.sagemaker(&[
        "create-endpoint-config",
        "--endpoint-config-name",
        &name,
        "--production-variants",
        &variant(&model, "v"),
    ])
    .json();
    aws.sagemaker(&["create-endpoint-config", "--endpoint-config-name", &name, "--production-variants", &variant(&model, "v")])
        .assert_error(
            "ValidationException",
            &format!(
                "Cannot create already existing endpoint configuration \"arn:aws:sagemaker:us-east-1:000000000000:endpoint-config/{name}\"."
            ),
        );

    aws.sagemaker(&["describe-endpoint-config", "--endpoint-config-name", "nope"]).assert_error(
        "ValidationException",
        "Could not find endpoint configuration \"arn:aws:sagemaker:us-east-1:000000000000:endpoint-config/nope\".",
    );
}

#[test]
fn endpoint_configs_are_listed_and_deleted_and_survive_their_model() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let model = unique("m");
    aws.create_simple_model(&model);
    let prefix = unique("cfg");
    for suffix in ["x", "y"] {
        aws.sagemaker(&[
            "create-endpoint-config",
            "--endpoint-config-name",
            &format!("{prefix}-{suffix}"),
            "--production-variants",
            &variant(&model, "v"),
        ])
        .json();
    }
    let listed = aws
        .sagemaker(&[
            "list-endpoint-configs",
            "--name-contains",
            &prefix,
            "--sort-by",
            "Name",
            "--sort-order",
            "Descending",
        ])
        .json();
    let names: Vec<&str> = listed["EndpointConfigs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["EndpointConfigName"].as_str().unwrap())
        .collect();
    assert_eq!(names, [format!("{prefix}-y"), format!("{prefix}-x")]);

    // Deleting the model leaves configs that name it (SageMaker keeps them).
    aws.sagemaker(&["delete-model", "--model-name", &model]).json();
    aws.sagemaker(&["describe-endpoint-config", "--endpoint-config-name", &format!("{prefix}-x")]).json();

    assert!(aws.sagemaker(&["delete-endpoint-config", "--endpoint-config-name", &format!("{prefix}-x")]).success);
    aws.sagemaker(&["describe-endpoint-config", "--endpoint-config-name", &format!("{prefix}-x")])
        .assert_error("ValidationException", "Could not find endpoint configuration");
}
