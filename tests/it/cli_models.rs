//! CreateModel, DescribeModel, ListModels, DeleteModel through the AWS CLI.

use serde_json::json;

use crate::common::{Smemu, unique};

const IMAGE: &str = "smemu-testmodel:latest";

#[test]
fn a_two_container_model_describes_both_containers_in_order_with_the_real_arn() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let name = unique("Pipeline");
    let containers = json!([
        {"Image": IMAGE, "ContainerHostname": "features", "Environment": {"ROLE": "transform"}},
        {"Image": IMAGE, "ContainerHostname": "predictor", "ModelDataUrl": "s3://bucket/model.tar.gz"}
    ]);
    let created =
        aws.sagemaker(&["create-model", "--model-name", &name, "--containers", &containers.to_string()]).json();
    let arn = format!("arn:aws:sagemaker:us-east-1:000000000000:model/{}", name.to_lowercase());
    assert_eq!(created["ModelArn"], arn);

    let described = aws.sagemaker(&["describe-model", "--model-name", &name]).json();
    assert_eq!(described["ModelName"], name.as_str());
    assert_eq!(described["ModelArn"], arn);
    assert_eq!(described["Containers"], containers);
    assert!(described.get("PrimaryContainer").is_none());
    assert!(described["CreationTime"].is_string() || described["CreationTime"].is_number());
}

#[test]
fn creating_an_existing_model_is_refused_with_the_real_message() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let name = unique("dup");
    let arn = aws.create_simple_model(&name);
    // Uniqueness ignores case, as in SageMaker.
    let again =
        aws.sagemaker(&["create-model", "--model-name", &name.to_uppercase(), "--primary-container", "Image=x"]);
    again.assert_error("ValidationException", &format!("Cannot create already existing model \"{arn}\"."));
    // The stored model is unchanged.
    let described = aws.sagemaker(&["describe-model", "--model-name", &name]).json();
    assert_eq!(described["PrimaryContainer"]["Image"], IMAGE);
}

#[test]
fn a_missing_model_is_not_found_with_the_real_message() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let arn = "arn:aws:sagemaker:us-east-1:000000000000:model/no-such-model";
    aws.sagemaker(&["describe-model", "--model-name", "No-Such-Model"])
        .assert_error("ValidationException", &format!("Could not find model \"{arn}\"."));
    aws.sagemaker(&["delete-model", "--model-name", "no-such-model"])
        .assert_error("ValidationException", &format!("Could not find model \"{arn}\"."));
}

#[test]
fn an_invalid_model_name_fails_the_pattern_constraint() {
    let smemu = Smemu::start();
    smemu
        .aws()
        .sagemaker(&["create-model", "--model-name", "bad_name!", "--primary-container", "Image=x"])
        .assert_error(
            "ValidationException",
            "1 validation error detected: Value 'bad_name!' at 'modelName' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: [a-zA-Z0-9]([\\-a-zA-Z0-9]*[a-zA-Z0-9])?",
        );
}

#[test]
fn several_violations_are_reported_at_once() {
    let smemu = Smemu::start();
    let long_name = "m".repeat(64);
    let out = smemu.aws().sagemaker(&[
        "create-model",
        "--model-name",
        &long_name,
        "--primary-container",
        "Image=x",
        "--execution-role-arn",
        "not-a-role-arn-but-long-enough",
    ]);
    out.assert_error("ValidationException", "2 validation errors detected: ");
    assert!(
        out.stderr
            .contains("at 'modelName' failed to satisfy constraint: Member must have length less than or equal to 63")
    );
    assert!(out.stderr.contains(
        "at 'executionRoleArn' failed to satisfy constraint: Member must satisfy regular expression pattern"
    ));
}

#[test]
fn container_rules_of_pipelines_are_enforced() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let both = aws.sagemaker(&[
        "create-model",
        "--model-name",
        &unique("both"),
        "--primary-container",
        "Image=x",
        "--containers",
        "Image=y",
    ]);
    both.assert_error("ValidationException", "Either PrimaryContainer or Containers");
    let neither = aws.sagemaker(&["create-model", "--model-name", &unique("neither")]);
    neither.assert_error("ValidationException", "Either PrimaryContainer or Containers must be specified");

    let direct_unnamed = aws.sagemaker(&[
        "create-model",
        "--model-name",
        &unique("direct"),
        "--containers",
        "Image=x",
        "Image=y",
        "--inference-execution-config",
        "Mode=Direct",
    ]);
    direct_unnamed.assert_error("ValidationException", "ContainerHostname must be specified for every container");

    let some_named = aws.sagemaker(&[
        "create-model",
        "--model-name",
        &unique("partial"),
        "--containers",
        "Image=x,ContainerHostname=a",
        "Image=y",
    ]);
    some_named.assert_error("ValidationException", "for all containers or for none");

    let same_name = aws.sagemaker(&[
        "create-model",
        "--model-name",
        &unique("same"),
        "--containers",
        "Image=x,ContainerHostname=a",
        "Image=y,ContainerHostname=a",
    ]);
    same_name.assert_error("ValidationException", "ContainerHostname \"a\" is used by more than one container");

    let multi = aws.sagemaker(&[
        "create-model",
        "--model-name",
        &unique("multi"),
        "--containers",
        "Image=x,Mode=MultiModel",
        "Image=y,Mode=MultiModel",
    ]);
    multi.assert_error(
        "ValidationException",
        "More than one container in MultiModel mode is not supported with inference pipeline.",
    );

    let sixteen: Vec<String> = (0..16).map(|i| format!("Image=img{i}")).collect();
    let mut args = vec!["create-model", "--model-name", "too-many", "--containers"];
    args.extend(sixteen.iter().map(String::as_str));
    aws.sagemaker(&args).assert_error(
        "ValidationException",
        "at 'containers' failed to satisfy constraint: Member must have length less than or equal to 15",
    );

    let direct = unique("direct-ok");
    aws.sagemaker(&[
        "create-model",
        "--model-name",
        &direct,
        "--containers",
        "Image=x,ContainerHostname=first",
        "Image=y,ContainerHostname=second",
        "--inference-execution-config",
        "Mode=Direct",
        "--enable-network-isolation",
        "--execution-role-arn",
        "arn:aws:iam::123456789012:role/SageMakerRole",
        "--vpc-config",
        "SecurityGroupIds=sg-12345678,Subnets=subnet-12345678",
    ])
    .json();
    let described = aws.sagemaker(&["describe-model", "--model-name", &direct]).json();
    assert_eq!(described["InferenceExecutionConfig"], json!({"Mode": "Direct"}));
    assert_eq!(described["EnableNetworkIsolation"], true);
    assert_eq!(described["ExecutionRoleArn"], "arn:aws:iam::123456789012:role/SageMakerRole");
    assert_eq!(described["VpcConfig"], json!({"SecurityGroupIds": ["sg-12345678"], "Subnets": ["subnet-12345678"]}));
}

#[test]
fn list_models_filters_sorts_and_paginates() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let prefix = unique("lst");
    let names: Vec<String> = ["b", "a", "c"].iter().map(|s| format!("{prefix}-{s}")).collect();
    for (i, name) in names.iter().enumerate() {
        aws.create_simple_model(name);
        // The CLI sends timestamps in whole seconds: keep the first model a second apart from the
        // others so that the time filters below have a boundary the CLI can express.
        std::thread::sleep(std::time::Duration::from_millis(if i == 0 { 1100 } else { 20 }));
    }
    aws.create_simple_model(&unique("other"));

    let names_of = |out: &serde_json::Value| -> Vec<String> {
        out["Models"].as_array().unwrap().iter().map(|m| m["ModelName"].as_str().unwrap().to_owned()).collect()
    };

    // Default: newest first.
    let all = aws.sagemaker(&["list-models", "--name-contains", &prefix]).json();
    assert_eq!(names_of(&all), [names[2].clone(), names[1].clone(), names[0].clone()]);

    let by_name = aws
        .sagemaker(&["list-models", "--name-contains", &prefix, "--sort-by", "Name", "--sort-order", "Ascending"])
        .json();
    assert_eq!(names_of(&by_name), [format!("{prefix}-a"), format!("{prefix}-b"), format!("{prefix}-c")]);

    // One page at a time with NextToken.
    let page1 = aws
        .sagemaker(&[
            "list-models",
            "--name-contains",
            &prefix,
            "--sort-by",
            "Name",
            "--sort-order",
            "Ascending",
            "--max-results",
            "2",
            "--no-paginate",
        ])
        .json();
    assert_eq!(names_of(&page1), [format!("{prefix}-a"), format!("{prefix}-b")]);
    let token = page1["NextToken"].as_str().expect("NextToken");
    let page2 = aws
        .sagemaker(&[
            "list-models",
            "--name-contains",
            &prefix,
            "--sort-by",
            "Name",
            "--sort-order",
            "Ascending",
            "--max-results",
            "2",
            "--next-token",
            token,
            "--no-paginate",
        ])
        .json();
    assert_eq!(names_of(&page2), [format!("{prefix}-c")]);
    assert!(page2.get("NextToken").is_none());

    // The CLI's own paginator, one item per page, sees every model exactly once.
    let paged = aws.sagemaker(&["list-models", "--name-contains", &prefix, "--page-size", "1"]).json();
    assert_eq!(names_of(&paged).len(), 3);

    // Time filters: after is inclusive, before exclusive (the CLI truncates to the second).
    let second = aws.sagemaker(&["describe-model", "--model-name", &names[1]]).json();
    let t = second["CreationTime"].clone();
    let t = t.as_str().map(str::to_owned).unwrap_or_else(|| t.to_string());
    let after = aws.sagemaker(&["list-models", "--name-contains", &prefix, "--creation-time-after", &t]).json();
    assert_eq!(names_of(&after), [names[2].clone(), names[1].clone()]);
    let before = aws.sagemaker(&["list-models", "--name-contains", &prefix, "--creation-time-before", &t]).json();
    assert_eq!(names_of(&before), [names[0].clone()]);

    aws.sagemaker(&["list-models", "--next-token", "not-a-token", "--no-paginate"])
        .assert_error("ValidationException", "Invalid pagination token");
    aws.sagemaker(&["list-models", "--max-results", "101", "--no-paginate"]).assert_error(
        "ValidationException",
        "Value '101' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 100",
    );
}

#[test]
fn delete_model_removes_it() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let name = unique("gone");
    aws.create_simple_model(&name);
    assert!(aws.sagemaker(&["delete-model", "--model-name", &name]).success);
    aws.sagemaker(&["describe-model", "--model-name", &name])
        .assert_error("ValidationException", "Could not find model");
    // The name is free again.
    aws.create_simple_model(&name);
}
