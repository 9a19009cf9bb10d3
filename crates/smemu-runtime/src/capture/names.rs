//! Log group and stream names as SageMaker gives them, and the instance ids they carry.

use smemu_backend::OwnerKind;

/// Endpoints log to `/aws/sagemaker/Endpoints/[EndpointName]`
/// (<https://docs.aws.amazon.com/sagemaker/latest/dg/logging-cloudwatch.html>).
pub fn endpoint_group(endpoint: &str) -> String {
    format!("/aws/sagemaker/Endpoints/{endpoint}")
}

/// Transform jobs log to `/aws/sagemaker/TransformJobs`
/// (<https://docs.aws.amazon.com/sagemaker/latest/dg/logging-cloudwatch.html>).
pub const TRANSFORM_GROUP: &str = "/aws/sagemaker/TransformJobs";

/// The stream where the service writes its own lines for a transform job's instance
/// (`[transform-job-name]/[instance-id]-[epoch_timestamp]/data-log`,
/// <https://docs.aws.amazon.com/sagemaker/latest/dg/logging-cloudwatch.html>).
pub const DATA_LOG: &str = "data-log";

/// The id an instance shows in stream names: EC2's form (`i-` and 17 hex digits), derived from
/// smemu's own instance id (`<fleet>-<variant>-<n>`, `tj<run>-<n>`), so that it is stable across
/// restarts and unique per instance. FNV-1a: stable across Rust versions, unlike `DefaultHasher`.
pub fn instance_id(smemu_id: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in smemu_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("i-0{hash:016x}")
}

/// Where one container's lines go: its group and stream.
///
/// Endpoints: `[production-variant-name]/[instance-id]`, and for inference pipelines
/// `[production-variant-name]/[instance-id]/[container-name provided in SageMaker AI model]`
/// (<https://docs.aws.amazon.com/sagemaker/latest/dg/logging-cloudwatch.html>,
/// <https://docs.aws.amazon.com/sagemaker/latest/dg/inference-pipeline-logs-metrics.html>); the
/// container name is its `ContainerHostname`, else `container-1`, `container-2`... in model order
/// (`pipeline.rs` names them so).
///
/// Transform jobs: `[transform-job-name]/[instance-id]-[epoch_timestamp]`, and
/// `.../[container-name]` for pipelines (same pages); `epoch_s` is when the instance started.
pub fn stream_of(
    kind: OwnerKind,
    name: &str,
    variant: &str,
    smemu_instance: &str,
    epoch_s: i64,
    container: Option<&str>,
) -> (String, String) {
    let instance = instance_id(smemu_instance);
    let (group, base) = match kind {
        OwnerKind::Endpoint => (endpoint_group(name), format!("{variant}/{instance}")),
        OwnerKind::TransformJob => (TRANSFORM_GROUP.to_owned(), format!("{name}/{instance}-{epoch_s}")),
    };
    match container {
        Some(container) => (group, format!("{base}/{container}")),
        None => (group, base),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_developer_guide() {
        let id = instance_id("f1-alltraffic-0");
        assert!(id.starts_with("i-0") && id.len() == 19 && id[2..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(id, instance_id("f1-alltraffic-0"), "stable");
        assert_ne!(id, instance_id("f1-alltraffic-1"));
        assert_eq!(
            stream_of(OwnerKind::Endpoint, "ep", "AllTraffic", "f1-alltraffic-0", 0, None),
            ("/aws/sagemaker/Endpoints/ep".to_owned(), format!("AllTraffic/{id}"))
        );
        assert_eq!(
            stream_of(OwnerKind::Endpoint, "ep", "AllTraffic", "f1-alltraffic-0", 0, Some("container-2")).1,
            format!("AllTraffic/{id}/container-2")
        );
        let (group, stream) =
            stream_of(OwnerKind::TransformJob, "job", "transform", "f1-alltraffic-0", 1700000000, None);
        assert_eq!((group.as_str(), stream), (TRANSFORM_GROUP, format!("job/{id}-1700000000")));
    }
}
