//! Serde behaviour of the generated shapes and enums, and the `Operation` lists.
#![allow(clippy::expect_used)] // A test fails by panicking; helpers outside #[test] fns need this too.

use smemu_types::sagemaker::{
    DescribeModelOutput, EndpointStatus, ListModelsInput, Operation, ProductionVariantInstanceType,
};
use smemu_types::{Timestamp, runtime};

#[test]
fn describe_model_output_round_trips_with_its_timestamp() {
    let out = DescribeModelOutput {
        model_name: Some("m".into()),
        model_arn: Some("arn:aws:sagemaker:us-east-1:123456789012:model/m".into()),
        creation_time: Some(Timestamp::from_secs_f64(1529870369.986)),
        ..Default::default()
    };
    let json = serde_json::to_string(&out).expect("encodes");
    assert_eq!(
        json,
        r#"{"CreationTime":1529870369.986,"ModelArn":"arn:aws:sagemaker:us-east-1:123456789012:model/m","ModelName":"m"}"#
    );
    let back: DescribeModelOutput = serde_json::from_str(&json).expect("decodes");
    assert_eq!(back, out);
}

#[test]
fn unknown_enum_values_round_trip() {
    let status: EndpointStatus = serde_json::from_str(r#""Hibernating""#).expect("any string decodes");
    assert_eq!(status, EndpointStatus::Unknown("Hibernating".into()));
    assert_eq!(serde_json::to_string(&status).expect("encodes"), r#""Hibernating""#);
    let known: EndpointStatus = serde_json::from_str(r#""InService""#).expect("decodes");
    assert_eq!(known, EndpointStatus::InService);
    assert_eq!(known.to_string(), "InService");
    assert!(serde_json::from_str::<EndpointStatus>("1").is_err(), "only strings");
}

#[test]
fn enum_names_values_and_conversions() {
    assert_eq!(ProductionVariantInstanceType::from("ml.t2.medium"), ProductionVariantInstanceType::MlT2Medium);
    assert_eq!(ProductionVariantInstanceType::MlC42xlarge.as_str(), "ml.c4.2xlarge");
    let values = ProductionVariantInstanceType::values();
    assert_eq!(values[0], "ml.t2.medium");
    for value in values {
        let parsed = ProductionVariantInstanceType::from(*value);
        assert!(!matches!(parsed, ProductionVariantInstanceType::Unknown(_)), "{value}");
        assert_eq!(parsed.as_str(), *value);
    }
    assert_eq!(EndpointStatus::values().first(), Some(&"OutOfService"));
}

#[test]
fn wrong_json_types_are_serde_errors_and_unknown_fields_are_ignored() {
    assert!(serde_json::from_str::<ListModelsInput>(r#"{"MaxResults":"10"}"#).is_err());
    let input: ListModelsInput = serde_json::from_str(r#"{"MaxResults":10,"Bogus":true}"#).expect("decodes");
    assert_eq!(input.max_results, Some(10));
    let empty: ListModelsInput = serde_json::from_str("{}").expect("every member is optional");
    assert_eq!(empty, ListModelsInput::default());
    assert_eq!(serde_json::to_string(&empty).expect("encodes"), "{}");
}

#[test]
fn operations() {
    assert_eq!(Operation::ALL.len(), 21);
    for op in Operation::ALL {
        assert_eq!(Operation::from_name(op.name()), Some(*op));
    }
    assert_eq!(Operation::from_name("CreateModel"), Some(Operation::CreateModel));
    assert_eq!(Operation::from_name("createModel"), None);
    assert_eq!(Operation::CreateModel.input_shape(), Some("CreateModelInput"));
    assert_eq!(Operation::CreateModel.output_shape(), Some("CreateModelOutput"));
    assert_eq!(Operation::DeleteModel.output_shape(), None);
    assert_eq!(
        runtime::Operation::ALL,
        [
            runtime::Operation::InvokeEndpoint,
            runtime::Operation::InvokeEndpointAsync,
            runtime::Operation::InvokeEndpointWithResponseStream
        ]
    );
    assert_eq!(runtime::Operation::InvokeEndpoint.to_string(), "InvokeEndpoint");
}
