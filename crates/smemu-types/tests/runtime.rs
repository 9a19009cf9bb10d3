//! The runtime model: header, URI and payload members are not JSON but are still validated.
#![allow(clippy::expect_used)] // A test fails by panicking; helpers outside #[test] fns need this too.

use smemu_types::Validate;
use smemu_types::runtime::{InvokeEndpointInput, InvokeEndpointOutput, ModelError};

fn valid() -> InvokeEndpointInput {
    InvokeEndpointInput {
        endpoint_name: Some("my-endpoint".into()),
        body: Some(bytes::Bytes::from_static(b"{}")),
        ..Default::default()
    }
}

#[test]
fn a_valid_invocation() {
    assert!(valid().validate().is_ok());
}

#[test]
fn wire_members_are_not_json() {
    let input = InvokeEndpointInput { content_type: Some("text/csv".into()), ..valid() };
    assert_eq!(serde_json::to_string(&input).expect("encodes"), "{}");
    let decoded: InvokeEndpointInput = serde_json::from_str(r#"{"EndpointName":"x","Body":"y"}"#).expect("decodes");
    assert_eq!(decoded, InvokeEndpointInput::default());
    let out = InvokeEndpointOutput { body: Some(bytes::Bytes::from_static(b"1")), ..Default::default() };
    assert_eq!(serde_json::to_string(&out).expect("encodes"), "{}");
}

#[test]
fn required_uri_and_payload() {
    let text = InvokeEndpointInput::default().validate().expect_err("invalid").to_string();
    assert_eq!(
        text,
        "2 validation errors detected: Value null at 'body' failed to satisfy constraint: Member must not be null; \
         Value null at 'endpointName' failed to satisfy constraint: Member must not be null"
    );
}

#[test]
fn header_constraints() {
    let input = InvokeEndpointInput {
        custom_attributes: Some("ü".repeat(1025)),
        inference_id: Some(String::new()),
        endpoint_name: Some("-bad".into()),
        ..valid()
    };
    let errors = input.validate().expect_err("invalid").0;
    let found: Vec<(&str, &str)> = errors.iter().map(|v| (v.path.as_str(), v.constraint.as_str())).collect();
    assert_eq!(
        found,
        [
            ("customAttributes", "Member must have length less than or equal to 1024"),
            ("customAttributes", "Member must satisfy regular expression pattern: \\p{ASCII}*"),
            ("endpointName", "Member must satisfy regular expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*"),
            ("inferenceId", "Member must have length greater than or equal to 1"),
            ("inferenceId", "Member must satisfy regular expression pattern: \\A\\S[\\p{Print}]*\\z"),
        ]
    );
}

#[test]
fn java_print_class_is_printable_ascii() {
    let with_id = |id: &str| InvokeEndpointInput { inference_id: Some(id.into()), ..valid() };
    assert!(with_id("abc-123 x").validate().is_ok());
    assert!(with_id(" leading-space").validate().is_err());
    assert!(with_id("tab\there").validate().is_err());
    assert!(with_id("caf\u{e9}").validate().is_err());
}

#[test]
fn exceptions_are_plain_shapes() {
    let e: ModelError = serde_json::from_str(r#"{"Message":"boom","OriginalStatusCode":500}"#).expect("decodes");
    assert_eq!(e.message.as_deref(), Some("boom"));
    assert_eq!(e.original_status_code, Some(500));
}
