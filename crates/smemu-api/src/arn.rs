//! ARNs as SageMaker builds them.

use smemu_store::Scope;
use smemu_types::auth::{is_account_id, is_region_name};

/// The resource types smemu serves, with their ARN segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    Model,
    EndpointConfig,
    Endpoint,
    TransformJob,
}

impl ResourceType {
    const ALL: [ResourceType; 4] =
        [ResourceType::Model, ResourceType::EndpointConfig, ResourceType::Endpoint, ResourceType::TransformJob];

    fn from_segment(segment: &str) -> Option<ResourceType> {
        ResourceType::ALL.into_iter().find(|kind| kind.segment() == segment)
    }

    fn segment(self) -> &'static str {
        match self {
            ResourceType::Model => "model",
            ResourceType::EndpointConfig => "endpoint-config",
            ResourceType::Endpoint => "endpoint",
            ResourceType::TransformJob => "transform-job",
        }
    }
}

/// `arn:aws:sagemaker:<region>:<account>:<type>/<name>`. SageMaker lower-cases the name in ARNs
/// (seen in real output), while Describe and List keep the name as given.
pub fn arn(scope: &Scope, kind: ResourceType, name: &str) -> String {
    format!("arn:aws:sagemaker:{}:{}:{}/{}", scope.region, scope.account, kind.segment(), name.to_lowercase())
}

/// An ARN of a resource smemu serves, taken apart:
/// `arn:<partition>:<service>:<region>:<account>:<resource-type>/<name>`
/// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html>).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub kind: ResourceType,
    pub name: &'a str,
}

/// Why a text is not an ARN of a resource smemu serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ArnError {
    #[error("an ARN has six `:`-separated parts: arn:<partition>:<service>:<region>:<account>:<resource>")]
    Parts,
    #[error("smemu's ARNs are in the `aws` partition and the `sagemaker` service")]
    Service,
    #[error("the region is not a region name")]
    Region,
    #[error("the account is not 12 digits")]
    Account,
    #[error("the resource is not <resource-type>/<name> of a model, endpoint-config, endpoint or transform-job")]
    Resource,
}

impl<'a> Arn<'a> {
    /// Parses `text`; every part must be well formed (no `:` or `/` where a part ends, a region
    /// name, 12 digits), so that comparing parts compares what the ARN names.
    pub fn parse(text: &'a str) -> Result<Arn<'a>, ArnError> {
        let parts: Vec<&str> = text.splitn(6, ':').collect();
        let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
            return Err(ArnError::Parts);
        };
        if *prefix != "arn" {
            return Err(ArnError::Parts);
        }
        if *partition != "aws" || *service != "sagemaker" {
            return Err(ArnError::Service);
        }
        if !is_region_name(region) {
            return Err(ArnError::Region);
        }
        if !is_account_id(account) {
            return Err(ArnError::Account);
        }
        let (segment, name) = resource.split_once('/').ok_or(ArnError::Resource)?;
        let kind = ResourceType::from_segment(segment).ok_or(ArnError::Resource)?;
        // Names are `[a-zA-Z0-9](-*[a-zA-Z0-9])*` in every served shape: nothing else names a resource.
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(ArnError::Resource);
        }
        Ok(Arn { partition, service, region, account, kind, name })
    }

    /// Whether this ARN names a resource of the scope's account and region; others are
    /// invisible to it. Exact comparison of parsed parts, never a prefix.
    pub fn in_scope(&self, scope: &Scope) -> bool {
        self.account == scope.account && self.region == scope.region
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lower_cased_in_arns() {
        let scope = Scope { account: "123456789012".into(), region: "eu-west-1".into() };
        assert_eq!(
            arn(&scope, ResourceType::EndpointConfig, "My-Config"),
            "arn:aws:sagemaker:eu-west-1:123456789012:endpoint-config/my-config"
        );
    }

    #[test]
    fn arns_of_other_accounts_or_regions_are_out_of_scope() {
        let scope = Scope { account: "123456789012".into(), region: "eu-west-1".into() };
        let in_scope = |text: &str| Arn::parse(text).is_ok_and(|arn| arn.in_scope(&scope));
        assert!(in_scope("arn:aws:sagemaker:eu-west-1:123456789012:model/m"));
        assert!(!in_scope("arn:aws:sagemaker:us-east-1:123456789012:model/m"));
        assert!(!in_scope("arn:aws:sagemaker:eu-west-1:000000000000:model/m"));
        assert!(!in_scope("arn:aws:sagemaker:eu-west-1:1234567890123:model/m"));
    }

    #[test]
    fn arns_are_taken_apart_into_their_parts() {
        let arn = Arn::parse("arn:aws:sagemaker:eu-west-1:123456789012:endpoint-config/my-config").unwrap();
        assert_eq!(
            arn,
            Arn {
                partition: "aws",
                service: "sagemaker",
                region: "eu-west-1",
                account: "123456789012",
                kind: ResourceType::EndpointConfig,
                name: "my-config"
            }
        );
        let scope = Scope { account: "123456789012".into(), region: "eu-west-1".into() };
        for kind in ResourceType::ALL {
            let text = super::arn(&scope, kind, "Name-1");
            assert_eq!(Arn::parse(&text).map(|arn| (arn.kind, arn.name)), Ok((kind, "name-1")), "{text}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any text parses or is refused; what parses has well-formed parts and names the same
        /// resource when rebuilt.
        #[test]
        fn any_text_parses_to_well_formed_parts_or_is_refused(text in "(arn:aws:sagemaker:)?[a-z0-9:/.-]{0,60}") {
            if let Ok(arn) = Arn::parse(&text) {
                proptest::prop_assert!(is_region_name(arn.region) && is_account_id(arn.account));
                let scope = Scope { account: arn.account.into(), region: arn.region.into() };
                proptest::prop_assert_eq!(super::arn(&scope, arn.kind, arn.name), text.to_lowercase());
            }
        }
    }

    /// What a region with `:` or `..` or a crafted resource made of a prefix check.
    #[test]
    fn crafted_arns_are_refused() {
        for (text, err) in [
            ("arn:aws:sagemaker:us-east-1:000000000000:123456789012:model/m", ArnError::Resource),
            ("arn:aws:sagemaker:us-east-1:123456789012:model/m:x", ArnError::Resource),
            ("arn:aws:sagemaker:..:123456789012:model/m", ArnError::Region),
            ("arn:aws:sagemaker:us-east-1:123456789012:model/../x", ArnError::Resource),
            ("arn:aws:sagemaker:us-east-1:123456789012:model/", ArnError::Resource),
            ("arn:aws:sagemaker:us-east-1:123456789012:training-job/t", ArnError::Resource),
            ("arn:aws:sagemaker:us-east-1:12345678901:model/m", ArnError::Account),
            ("arn:aws-cn:sagemaker:us-east-1:123456789012:model/m", ArnError::Service),
            ("arn:aws:s3:us-east-1:123456789012:model/m", ArnError::Service),
            ("arn:aws:sagemaker:us-east-1:123456789012", ArnError::Parts),
            ("urn:aws:sagemaker:us-east-1:123456789012:model/m", ArnError::Parts),
            ("", ArnError::Parts),
        ] {
            assert_eq!(Arn::parse(text), Err(err), "{text}");
        }
    }
}
