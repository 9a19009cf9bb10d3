//! AddTags, ListTags, DeleteTags through the AWS CLI.

use serde_json::json;

use crate::common::{AwsCli, Smemu, unique};

#[test]
fn tags_given_at_creation_are_listed_upserted_and_deleted() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let name = unique("tagged");
    let created = aws
        .sagemaker(&[
            "create-model",
            "--model-name",
            &name,
            "--primary-container",
            "Image=x",
            "--tags",
            "Key=team,Value=ml",
            "Key=env,Value=dev",
        ])
        .json();
    let arn = created["ModelArn"].as_str().unwrap();
    assert_eq!(
        aws.sagemaker(&["list-tags", "--resource-arn", arn]).json()["Tags"],
        json!([{"Key": "team", "Value": "ml"}, {"Key": "env", "Value": "dev"}])
    );

    let added = aws
        .sagemaker(&["add-tags", "--resource-arn", arn, "--tags", "Key=env,Value=prod", "Key=owner,Value=me"])
        .json();
    assert_eq!(
        added["Tags"],
        json!([{"Key": "team", "Value": "ml"}, {"Key": "env", "Value": "prod"}, {"Key": "owner", "Value": "me"}])
    );

    assert!(aws.sagemaker(&["delete-tags", "--resource-arn", arn, "--tag-keys", "team", "absent"]).success);
    assert_eq!(
        aws.sagemaker(&["list-tags", "--resource-arn", arn]).json()["Tags"],
        json!([{"Key": "env", "Value": "prod"}, {"Key": "owner", "Value": "me"}])
    );
}

#[test]
fn tagging_errors_match_the_real_service() {
    let smemu = Smemu::start();
    let aws = smemu.aws();
    let missing = "arn:aws:sagemaker:us-east-1:000000000000:model/never-created";
    aws.sagemaker(&["list-tags", "--resource-arn", missing])
        .assert_error("ValidationException", "Resource does not exist");
    aws.sagemaker(&["add-tags", "--resource-arn", missing, "--tags", "Key=a,Value=b"])
        .assert_error("ValidationException", "Resource does not exist");

    let arn = aws.create_simple_model(&unique("limits"));
    aws.sagemaker(&["add-tags", "--resource-arn", &arn, "--tags", "Key=bad*key,Value=v"]).assert_error(
        "ValidationException",
        "at 'tags.1.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern",
    );

    let fifty: Vec<String> = (0..50).map(|i| format!("Key=k{i},Value=v")).collect();
    let mut args = vec!["add-tags", "--resource-arn", &arn, "--tags"];
    args.extend(fifty.iter().map(String::as_str));
    aws.sagemaker(&args).json();
    aws.sagemaker(&["add-tags", "--resource-arn", &arn, "--tags", "Key=one-more,Value=v"])
        .assert_error("ResourceLimitExceeded", "at most 50 tags");
    let listed = aws.sagemaker(&["list-tags", "--resource-arn", &arn, "--max-results", "50", "--no-paginate"]).json();
    assert_eq!(listed["Tags"].as_array().unwrap().len(), 50);
    assert!(listed.get("NextToken").is_none());
}

#[test]
fn another_account_cannot_see_or_tag_a_resource() {
    let smemu = Smemu::start();
    let owner = AwsCli::new(&smemu.url).with_identity("111111111111", "us-east-1");
    let name = unique("private");
    let arn = owner.create_simple_model(&name);
    assert_eq!(arn, format!("arn:aws:sagemaker:us-east-1:111111111111:model/{name}"));

    let stranger = AwsCli::new(&smemu.url).with_identity("222222222222", "us-east-1");
    stranger
        .sagemaker(&["list-tags", "--resource-arn", &arn])
        .assert_error("ValidationException", "Resource does not exist");
    stranger.sagemaker(&["describe-model", "--model-name", &name]).assert_error(
        "ValidationException",
        &format!("Could not find model \"arn:aws:sagemaker:us-east-1:222222222222:model/{name}\"."),
    );
    let other_region = AwsCli::new(&smemu.url).with_identity("111111111111", "eu-west-1");
    other_region
        .sagemaker(&["describe-model", "--model-name", &name])
        .assert_error("ValidationException", "Could not find model");
    // The same name is free in another account or region.
    stranger.create_simple_model(&name);
    other_region.create_simple_model(&name);
}
