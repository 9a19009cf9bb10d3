//! ARNs as SageMaker builds them.

use smemu_store::Scope;

/// The resource types smemu serves, with their ARN segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    Model,
    EndpointConfig,
    Endpoint,
    TransformJob,
}

impl ResourceType {
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

/// Whether an ARN belongs to the scope's account and region; others are invisible to it.
pub fn in_scope(arn: &str, scope: &Scope) -> bool {
    arn.strip_prefix("arn:aws:sagemaker:")
        .and_then(|rest| rest.strip_prefix(scope.region.as_str()))
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|rest| rest.strip_prefix(scope.account.as_str()))
        .is_some_and(|rest| rest.starts_with(':'))
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
        assert!(in_scope("arn:aws:sagemaker:eu-west-1:123456789012:model/m", &scope));
        assert!(!in_scope("arn:aws:sagemaker:us-east-1:123456789012:model/m", &scope));
        assert!(!in_scope("arn:aws:sagemaker:eu-west-1:000000000000:model/m", &scope));
        assert!(!in_scope("arn:aws:sagemaker:eu-west-1:1234567890123:model/m", &scope));
    }
}
