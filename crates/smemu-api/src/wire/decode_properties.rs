//! Property tests of the control plane's JSON decoding (`json_rpc::decode`, then the generated
//! inputs' `validate`): any body, deeply nested brackets included, is decoded or refused with a
//! rejection, never a panic or a stack overflow. serde_json's recursion limit (128) bounds the
//! nesting: nothing in smemu turns it off (`disable_recursion_limit` is not used anywhere).

use proptest::prelude::*;
use smemu_types::sagemaker::{
    AddTagsInput, CreateEndpointConfigInput, CreateEndpointInput, CreateModelInput, CreateTransformJobRequest,
};
use smemu_types::validate::Validate;

use super::decode::{Rejection, decode};

/// Decodes `body` as each of a few inputs with nested members and validates what decodes.
fn decode_all(body: &[u8]) {
    fn one<I: serde::de::DeserializeOwned + Validate>(body: &[u8]) {
        if let Ok(input) = decode::<I>(body) {
            let _ = input.validate();
        }
    }
    one::<CreateModelInput>(body);
    one::<CreateEndpointConfigInput>(body);
    one::<CreateEndpointInput>(body);
    one::<CreateTransformJobRequest>(body);
    one::<AddTagsInput>(body);
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|i| serde_json::json!(i)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| serde_json::json!(f)),
        ".{0,12}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("ModelName".to_owned()),
                    Just("Containers".to_owned()),
                    Just("PrimaryContainer".to_owned()),
                    Just("Environment".to_owned()),
                    Just("ProductionVariants".to_owned()),
                    Just("TransformInput".to_owned()),
                    Just("DataSource".to_owned()),
                    Just("Tags".to_owned()),
                    Just("Key".to_owned()),
                    "[A-Za-z]{1,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn nested(depth: usize) -> String {
    format!("{{\"Tags\":{}{}}}", "[".repeat(depth), "]".repeat(depth))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_bytes_decode_or_are_refused(body in prop::collection::vec(any::<u8>(), 0..400)) {
        decode_all(&body);
    }

    #[test]
    fn any_json_object_decodes_or_is_refused(members in prop::collection::btree_map(
        prop_oneof![Just("ModelName".to_owned()), Just("Containers".to_owned()), Just("Tags".to_owned()),
                    Just("TransformInput".to_owned()), Just("ProductionVariants".to_owned()), "[A-Za-z]{1,12}"],
        json_value(),
        0..6,
    )) {
        let body = serde_json::to_vec(&serde_json::Value::Object(members.into_iter().collect())).unwrap();
        decode_all(&body);
    }

    #[test]
    fn nesting_past_serde_jsons_limit_is_a_rejection(depth in 0usize..50_000) {
        let body = nested(depth);
        let result = decode::<AddTagsInput>(body.as_bytes());
        if depth > 126 {
            // The object and `Tags` take two of serde_json's 128 levels.
            prop_assert!(matches!(result, Err(Rejection::MalformedJson(_) | Rejection::WrongMemberType(_))));
        }
    }
}
