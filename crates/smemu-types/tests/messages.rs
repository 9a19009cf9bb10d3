//! Exact service messages for the constraints the generated validators check, including the patterns that
//! need fancy-regex and map keys.
#![allow(clippy::expect_used)] // A test fails by panicking; helpers outside #[test] fns need this too.

use std::collections::BTreeMap;

use smemu_types::sagemaker::{
    Alarm, ContainerDefinition, CreateModelInput, ListModelsInput, ModelSortKey, VariantProperty, VariantPropertyType,
};
use smemu_types::{Validate, ValidationErrors, Violation, violation_message};

fn message(input: &impl Validate) -> String {
    input.validate().expect_err("invalid").to_string()
}

fn named(name: &str) -> CreateModelInput {
    CreateModelInput { model_name: Some(name.into()), ..Default::default() }
}

#[test]
fn too_long_model_name() {
    let name = "a".repeat(64);
    assert_eq!(
        message(&named(&name)),
        format!(
            "1 validation error detected: Value '{name}' at 'modelName' failed to satisfy constraint: \
             Member must have length less than or equal to 63"
        )
    );
    assert!(named(&"a".repeat(63)).validate().is_ok());
}

#[test]
fn bad_pattern_model_name_quotes_the_model_pattern() {
    // The pattern exactly as api-models/sagemaker.json writes it (unanchored).
    assert_eq!(
        message(&named("bad_name!")),
        "1 validation error detected: Value 'bad_name!' at 'modelName' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: [a-zA-Z0-9]([\\-a-zA-Z0-9]*[a-zA-Z0-9])?"
    );
}

#[test]
fn two_errors_are_joined_with_semicolons() {
    let input = CreateModelInput {
        model_name: Some("bad_name!".into()),
        execution_role_arn: Some("arn:aws:iam::123456789012:role/R".into()),
        containers: Some(vec![ContainerDefinition::default(); 16]),
        ..Default::default()
    };
    let errors = input.validate().expect_err("invalid");
    assert_eq!(errors.0.len(), 2, "{errors}");
    let containers = format!("[{}]", vec!["{}"; 16].join(", "));
    assert_eq!(
        errors.to_string(),
        format!(
            "2 validation errors detected: Value '{containers}' at 'containers' failed to satisfy constraint: \
             Member must have length less than or equal to 15; Value 'bad_name!' at 'modelName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9]([\\-a-zA-Z0-9]*[a-zA-Z0-9])?"
        )
    );
}

#[test]
fn every_missing_required_member_is_reported() {
    let input = VariantProperty::default();
    assert_eq!(
        message(&input),
        "1 validation error detected: Value null at 'variantPropertyType' failed to satisfy constraint: \
         Member must not be null"
    );
    let input = VariantProperty { variant_property_type: Some(VariantPropertyType::from("Nope")) };
    assert_eq!(
        message(&input),
        "1 validation error detected: Value 'Nope' at 'variantPropertyType' failed to satisfy constraint: \
         Member must satisfy enum value set: [DesiredInstanceCount, DesiredWeight, DataCaptureConfig]"
    );
}

#[test]
fn numbers_and_enums() {
    let input = ListModelsInput {
        max_results: Some(101),
        sort_by: Some(ModelSortKey::from("Size")),
        name_contains: Some("x y".into()),
        ..Default::default()
    };
    let errors = input.validate().expect_err("invalid").0;
    let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        texts,
        [
            "Value '101' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 100",
            "Value 'x y' at 'nameContains' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9-]+",
            "Value 'Size' at 'sortBy' failed to satisfy constraint: Member must satisfy enum value set: [Name, CreationTime]",
        ]
    );
}

#[test]
fn look_around_patterns_use_fancy_regex() {
    // VersionedArnOrName: `(?<!-)` — a name may not end with a hyphen.
    let container = |name: &str| CreateModelInput {
        model_name: Some("m".into()),
        primary_container: Some(ContainerDefinition { model_package_name: Some(name.into()), ..Default::default() }),
        ..Default::default()
    };
    assert!(container("my-package").validate().is_ok());
    assert!(container("arn:aws:sagemaker:us-east-1:123456789012:model-package/my-package/3").validate().is_ok());
    let text = message(&container("my-package-"));
    assert!(text.contains("Value 'my-package-' at 'primaryContainer.modelPackageName' failed"), "{text}");
    assert!(text.contains("pattern: (arn:aws[a-z\\-]*:sagemaker:"), "{text}");

    // AlarmName: `(?!\s*$).+` — not blank.
    assert!(Alarm { alarm_name: Some("cpu".into()) }.validate().is_ok());
    assert!(Alarm { alarm_name: Some("   ".into()) }.validate().is_err());
}

#[test]
fn map_values_and_keys() {
    let environment: BTreeMap<String, String> =
        [("1BAD".to_owned(), "v".to_owned()), ("GOOD".to_owned(), "x".repeat(1025))].into_iter().collect();
    let input = CreateModelInput {
        model_name: Some("m".into()),
        primary_container: Some(ContainerDefinition { environment: Some(environment), ..Default::default() }),
        ..Default::default()
    };
    let errors = input.validate().expect_err("invalid").0;
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0].path, "primaryContainer.environment.GOOD.member");
    assert_eq!(errors[0].constraint, "Member must have length less than or equal to 1024");
    assert_eq!(errors[1].path, "primaryContainer.environment");
    assert_eq!(
        errors[1].constraint,
        "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z_][a-zA-Z0-9_]*]"
    );
}

#[test]
fn list_items_are_one_based() {
    let mut containers = vec![ContainerDefinition::default(); 3];
    containers[2].image = Some("has space".into());
    let input = CreateModelInput { model_name: Some("m".into()), containers: Some(containers), ..Default::default() };
    let errors = input.validate().expect_err("invalid").0;
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].path, "containers.3.member.image");
}

#[test]
fn violation_message_is_public() {
    let v = [Violation::null("a"), Violation::new("b", "x", "c")];
    assert_eq!(
        violation_message(&v),
        "2 validation errors detected: Value null at 'a' failed to satisfy constraint: Member must not be null; \
         Value 'x' at 'b' failed to satisfy constraint: c"
    );
    assert_eq!(ValidationErrors(v.to_vec()).to_string(), violation_message(&v));
}
