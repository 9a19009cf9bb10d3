//! The AWS SDK for Rust against smemu in-process.

use aws_sdk_sagemaker::error::ProvideErrorMetadata;
use aws_sdk_sagemaker::types::{ContainerDefinition, ProductionVariant, ProductionVariantInstanceType};

use crate::common::{InProcess, unique};

#[tokio::test]
async fn the_rust_sdk_creates_describes_lists_and_deletes_models() {
    let smemu = InProcess::start().await;
    let client = smemu.sdk("123456789012", "eu-west-1").await;
    let name = unique("SdkModel");
    let created = client
        .create_model()
        .model_name(&name)
        .containers(ContainerDefinition::builder().image("img-a").container_hostname("a").build())
        .containers(ContainerDefinition::builder().image("img-b").container_hostname("b").build())
        .send()
        .await
        .expect("create");
    let arn = format!("arn:aws:sagemaker:eu-west-1:123456789012:model/{}", name.to_lowercase());
    assert_eq!(created.model_arn(), Some(arn.as_str()));

    let described = client.describe_model().model_name(&name).send().await.expect("describe");
    let hosts: Vec<_> = described.containers().iter().filter_map(|c| c.container_hostname()).collect();
    assert_eq!(hosts, ["a", "b"]);
    let age = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
        - described.creation_time().expect("CreationTime").as_secs_f64();
    assert!((0.0..60.0).contains(&age), "CreationTime is {age} s old");

    let err = client
        .create_model()
        .model_name(&name)
        .primary_container(ContainerDefinition::builder().image("x").build())
        .send()
        .await
        .expect_err("duplicate");
    assert_eq!(err.code(), Some("ValidationException"));
    assert_eq!(err.message(), Some(format!("Cannot create already existing model \"{arn}\".").as_str()));

    let listed: Vec<_> = client
        .list_models()
        .name_contains(&name)
        .max_results(1)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].model_name(), Some(name.as_str()));

    client.delete_model().model_name(&name).send().await.expect("delete");
    let err = client.describe_model().model_name(&name).send().await.expect_err("gone");
    assert_eq!(err.code(), Some("ValidationException"));
    assert_eq!(err.message(), Some(format!("Could not find model \"{arn}\".").as_str()));
    smemu.shutdown().await;
}

#[tokio::test]
async fn the_rust_sdk_round_trips_an_endpoint_config() {
    let smemu = InProcess::start().await;
    let client = smemu.sdk("AKIDEXAMPLE", "us-east-1").await;
    let model = unique("m");
    client
        .create_model()
        .model_name(&model)
        .primary_container(ContainerDefinition::builder().image("img").build())
        .send()
        .await
        .expect("model");
    let name = unique("cfg");
    client
        .create_endpoint_config()
        .endpoint_config_name(&name)
        .production_variants(
            ProductionVariant::builder()
                .variant_name("AllTraffic")
                .model_name(&model)
                .instance_type(ProductionVariantInstanceType::MlM5Large)
                .initial_instance_count(2)
                .build(),
        )
        .send()
        .await
        .expect("create config");
    let described = client.describe_endpoint_config().endpoint_config_name(&name).send().await.expect("describe");
    assert_eq!(
        described.endpoint_config_arn(),
        Some(format!("arn:aws:sagemaker:us-east-1:000000000000:endpoint-config/{name}").as_str())
    );
    let variant = &described.production_variants()[0];
    assert_eq!(variant.instance_type(), Some(&ProductionVariantInstanceType::MlM5Large));
    assert_eq!(variant.initial_instance_count(), Some(2));
    assert_eq!(variant.initial_variant_weight(), Some(1.0));
    smemu.shutdown().await;
}
