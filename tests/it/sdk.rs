//! The AWS SDK for Rust against smemu in-process.

use aws_sdk_sagemaker::error::ProvideErrorMetadata;
use aws_sdk_sagemaker::types::{ContainerDefinition, ProductionVariantInstanceType};

use crate::common::{InProcess, Smemu, TEST_IMAGE, eventually, sdk_config, sdk_variant, unique};

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
        .production_variants(sdk_variant("AllTraffic", &model, 2))
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

#[tokio::test]
async fn concurrent_creates_of_one_model_have_one_winner_and_the_real_error() {
    let smemu = InProcess::start().await;
    let client = smemu.sdk("AKIDEXAMPLE", "us-east-1").await;
    let name = unique("race");
    let attempts = (0..6).map(|_| {
        client
            .create_model()
            .model_name(&name)
            .primary_container(ContainerDefinition::builder().image("img").build())
            .send()
    });
    let results = futures::future::join_all(attempts).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    for err in results.into_iter().filter_map(Result::err) {
        assert_eq!(err.code(), Some("ValidationException"));
        assert!(err.message().unwrap_or_default().starts_with("Cannot create already existing model"), "{err:?}");
    }
    smemu.shutdown().await;
}

/// An endpoint created, invoked and failed through the Rust SDKs (sagemaker and sagemaker-runtime).
#[tokio::test(flavor = "multi_thread")]
async fn the_rust_sdks_deploy_and_invoke_a_pipeline() {
    let smemu = tokio::task::spawn_blocking(Smemu::start).await.unwrap();
    let config = sdk_config(&smemu.url, "AKIDEXAMPLE", "us-east-1").await;
    let sm = aws_sdk_sagemaker::Client::new(&config);
    let runtime = aws_sdk_sagemakerruntime::Client::new(&config);
    let name = unique("sdk-pipe");
    let tagger = |tag: &str| {
        ContainerDefinition::builder()
            .image(TEST_IMAGE)
            .environment("SMEMU_TEST_ROLE", "transform")
            .environment("SMEMU_TEST_TAG", tag)
            .build()
    };
    sm.create_model().model_name(&name).containers(tagger("a")).containers(tagger("b")).send().await.unwrap();
    sm.create_endpoint_config()
        .endpoint_config_name(&name)
        .production_variants(sdk_variant("AllTraffic", &name, 1))
        .send()
        .await
        .unwrap();
    sm.create_endpoint().endpoint_name(&name).endpoint_config_name(&name).send().await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let status = sm.describe_endpoint().endpoint_name(&name).send().await.unwrap();
        match status.endpoint_status().map(|s| s.as_str()) {
            Some("InService") => break,
            Some("Creating") if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await
            }
            other => panic!("endpoint status {other:?}: {:?}", status.failure_reason()),
        }
    }
    let answer = runtime
        .invoke_endpoint()
        .endpoint_name(&name)
        .content_type("text/plain")
        .body(aws_sdk_sagemakerruntime::primitives::Blob::new("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.body().map(|b| b.as_ref()), Some(&b"x|a|b"[..]));
    assert_eq!(answer.invoked_production_variant(), Some("AllTraffic"));

    let err = runtime
        .invoke_endpoint()
        .endpoint_name("missing-endpoint")
        .body(aws_sdk_sagemakerruntime::primitives::Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationError"));
    assert_eq!(err.message(), Some("Endpoint missing-endpoint of account 000000000000 not found."));

    sm.delete_endpoint().endpoint_name(&name).send().await.unwrap();
    let name_for_check = name.clone();
    let url = smemu.url.clone();
    tokio::task::spawn_blocking(move || {
        let aws = crate::common::AwsCli::new(&url);
        eventually(60, "the endpoint to go", || {
            (!aws.sagemaker(&["describe-endpoint", "--endpoint-name", &name_for_check]).success).then_some(())
        })
    })
    .await
    .unwrap();
    tokio::task::spawn_blocking(move || drop(smemu)).await.unwrap();
}
