//! The generated validators give the real service's messages, and shapes decode leniently.
#![allow(clippy::expect_used)] // A test fails by panicking.

use smemu_types::sagemaker::{
    ContainerDefinition, CreateEndpointConfigInput, CreateModelInput, DescribeModelOutput, ListModelsInput,
    ProductionVariant, ProductionVariantInstanceType,
};
use smemu_types::{Timestamp, Validate};

fn message(input: &impl Validate) -> String {
    input.validate().expect_err("invalid").to_string()
}

#[test]
fn a_missing_required_member_is_null() {
    assert_eq!(
        message(&CreateModelInput::default()),
        "1 validation error detected: Value null at 'modelName' failed to satisfy constraint: Member must not be null"
    );
}

#[test]
fn a_bad_name_breaks_the_whole_value_pattern() {
    let input = CreateModelInput { model_name: Some("bad_name!".into()), ..Default::default() };
    assert_eq!(
        message(&input),
        "1 validation error detected: Value 'bad_name!' at 'modelName' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: [a-zA-Z0-9]([\\-a-zA-Z0-9]*[a-zA-Z0-9])?"
    );
    // A valid prefix is not enough: the pattern must match the whole value.
    let input = CreateModelInput { model_name: Some("good-".into()), ..Default::default() };
    assert!(input.validate().is_err());
    let input = CreateModelInput { model_name: Some("good-name".into()), ..Default::default() };
    assert!(input.validate().is_ok());
}

#[test]
fn several_violations_are_listed_together() {
    let input = CreateModelInput {
        model_name: Some("m".repeat(64)),
        containers: Some(vec![ContainerDefinition { image: Some("has space".into()), ..Default::default() }; 16]),
        ..Default::default()
    };
    let text = message(&input);
    assert!(text.starts_with("18 validation errors detected: "), "{text}");
    assert!(
        text.contains("at 'modelName' failed to satisfy constraint: Member must have length less than or equal to 63")
    );
    assert!(
        text.contains("at 'containers' failed to satisfy constraint: Member must have length less than or equal to 15")
    );
    assert!(text.contains("Value 'has space' at 'containers.1.member.image' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\S]+"));
}

#[test]
fn an_unknown_instance_type_is_outside_the_enum() {
    let input = CreateEndpointConfigInput {
        endpoint_config_name: Some("c".into()),
        production_variants: Some(vec![ProductionVariant {
            variant_name: Some("v".into()),
            instance_type: Some("ml.bogus".into()),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let text = message(&input);
    assert!(
        text.starts_with("1 validation error detected: Value 'ml.bogus' at 'productionVariants.1.member.instanceType' failed to satisfy constraint: Member must satisfy enum value set: [ml.t2.medium, "),
        "{text}"
    );
    assert_eq!(ProductionVariantInstanceType::from("ml.m5.large"), ProductionVariantInstanceType::MlM5Large);
}

#[test]
fn numbers_are_range_checked() {
    let input = ListModelsInput { max_results: Some(0), ..Default::default() };
    assert_eq!(
        message(&input),
        "1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"
    );
}

#[test]
fn shapes_round_trip_json_and_decode_leniently() {
    let json = r#"{"ModelName":"m","ModelArn":"arn","CreationTime":1529870369.986,"PrimaryContainer":{"Image":"i","Mode":"Weird"},"Extra":1}"#;
    let out: DescribeModelOutput = serde_json::from_str(json).expect("decodes");
    assert_eq!(out.creation_time.map(|t| t.as_secs_f64()), Some(1529870369.986));
    let again = serde_json::to_value(&out).expect("encodes");
    assert_eq!(again["CreationTime"], serde_json::json!(1529870369.986));
    assert_eq!(again["PrimaryContainer"]["Mode"], "Weird");
    assert!(again.get("Extra").is_none());
    let whole: Timestamp = serde_json::from_str("1529870369").expect("integer seconds");
    assert_eq!(whole.as_secs_f64(), 1529870369.0);
}

#[test]
fn a_wrong_json_type_is_a_decode_error() {
    assert!(serde_json::from_str::<ListModelsInput>(r#"{"MaxResults":"ten"}"#).is_err());
    assert!(serde_json::from_str::<ListModelsInput>(r#"{"CreationTimeAfter":"yesterday"}"#).is_err());
}
