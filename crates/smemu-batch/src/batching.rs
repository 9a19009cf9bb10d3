//! batching: grouping consecutive records into requests by `BatchStrategy` and `MaxPayloadInMB`.
//!
//! "When the value of BatchStrategy is MultiRecord, Amazon SageMaker sends the maximum
//! number of records in each request, up to the MaxPayloadInMB limit. If the value of
//! BatchStrategy is SingleRecord, Amazon SageMaker sends individual records in each request"
//! (<https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformInput.html>).
//! A record alone above the limit fails the object: "Exceeding the MaxPayloadInMB limit
//! causes an error [...] if individual records within the dataset exceed the limit"
//! (<https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform.html#batch-transform-errors>).
//! Records are never reordered or split, and only records of one object are ever passed
//! here, so records of different objects never share a request.

use std::ops::Range;

use crate::error::BatchError;
use crate::settings::BatchStrategy;

/// Bytes in one `MaxPayloadInMB` unit: the limit is taken as MiB.
pub const BYTES_PER_MB: usize = 1024 * 1024;

/// The request size limit in bytes for a `MaxPayloadInMB` value; `0` means no limit.
pub fn max_payload_bytes(max_payload_mb: u32) -> Option<usize> {
    (max_payload_mb != 0).then(|| max_payload_mb as usize * BYTES_PER_MB)
}

/// Groups records, given the size in bytes each adds to a request body, into ranges of
/// record indexes, one per request, in input order.
///
/// `MultiRecord` packs while the body stays at or under `max_bytes` (a body exactly at
/// the limit is allowed); with no limit every record goes into one request.
pub fn pack(
    sizes: &[usize],
    strategy: BatchStrategy,
    max_bytes: Option<usize>,
) -> Result<Vec<Range<usize>>, BatchError> {
    if let Some(max) = max_bytes
        && let Some((index, &size)) = sizes.iter().enumerate().find(|&(_, &s)| s > max)
    {
        return Err(BatchError::RecordTooLarge { index, size, max });
    }
    let mut batches = Vec::new();
    match strategy {
        BatchStrategy::SingleRecord => batches.extend((0..sizes.len()).map(|i| i..i + 1)),
        BatchStrategy::MultiRecord => {
            let mut start = 0;
            let mut total = 0usize;
            for (i, &size) in sizes.iter().enumerate() {
                if i > start && max_bytes.is_some_and(|max| total.saturating_add(size) > max) {
                    batches.push(start..i);
                    start = i;
                    total = 0;
                }
                total = total.saturating_add(size);
            }
            if start < sizes.len() {
                batches.push(start..sizes.len());
            }
        }
    }
    Ok(batches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use BatchStrategy::{MultiRecord, SingleRecord};

    #[test]
    fn mb_means_mib_and_zero_means_unlimited() {
        assert_eq!(max_payload_bytes(6), Some(6 * 1_048_576));
        assert_eq!(max_payload_bytes(0), None);
    }

    #[test]
    fn single_record_sends_one_record_per_request() {
        assert_eq!(pack(&[3, 4, 5], SingleRecord, Some(10)).unwrap(), vec![0..1, 1..2, 2..3]);
        assert_eq!(pack(&[3, 4, 5], SingleRecord, None).unwrap(), vec![0..1, 1..2, 2..3]);
    }

    #[test]
    fn multi_record_packs_exactly_up_to_the_limit() {
        // 4 + 6 = 10 fills the limit exactly; the next record starts a new request.
        assert_eq!(pack(&[4, 6, 1, 9, 2], MultiRecord, Some(10)).unwrap(), vec![0..2, 2..4, 4..5]);
        // One byte over splits.
        assert_eq!(pack(&[4, 7], MultiRecord, Some(10)).unwrap(), vec![0..1, 1..2]);
        // A record exactly at the limit is alone and allowed.
        assert_eq!(pack(&[10, 10], MultiRecord, Some(10)).unwrap(), vec![0..1, 1..2]);
    }

    #[test]
    fn no_limit_means_the_whole_object_in_one_request() {
        assert_eq!(pack(&[usize::MAX / 4, usize::MAX / 4, 1], MultiRecord, None).unwrap(), vec![0..3]);
        assert!(pack(&[], MultiRecord, None).unwrap().is_empty());
    }

    #[test]
    fn a_record_over_the_limit_fails_naming_index_and_size() {
        let err = pack(&[1, 2, 11, 3], MultiRecord, Some(10)).unwrap_err();
        assert_eq!(err, BatchError::RecordTooLarge { index: 2, size: 11, max: 10 });
        let err = pack(&[11], SingleRecord, Some(10)).unwrap_err();
        assert_eq!(err, BatchError::RecordTooLarge { index: 0, size: 11, max: 10 });
    }

    #[test]
    fn zero_sized_records_pack_with_others() {
        assert_eq!(pack(&[0, 10, 0, 0, 1], MultiRecord, Some(10)).unwrap(), vec![0..4, 4..5]);
    }
}
