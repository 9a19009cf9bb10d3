//! Which object keys the embedded S3 accepts: none that could name a file outside its bucket.
//!
//! S3 keys are opaque strings, but s3s-fs stores `bucket/key` as a path and resolves `..`
//! lexically, so `../victim/model.tar.gz` would write into the bucket `victim`. Keys with a
//! `.` or `..` segment, a leading `/` (an absolute path once joined) or a NUL byte are
//! refused before any file is touched.

use s3s::{S3Error, S3ErrorCode};

/// The message of the error for a refused key. It does not echo the key (up to 1 KiB).
pub(crate) const UNSAFE_KEY_MESSAGE: &str = "Object key is not supported by this S3: it starts with '/', \
     has a '.' or '..' path segment, or contains a NUL character.";

/// True when `key` names a file inside its bucket's directory, and only there.
pub(crate) fn is_safe_key(key: &str) -> bool {
    !key.starts_with('/') && !key.contains('\0') && key.split('/').all(|segment| segment != "." && segment != "..")
}

/// S3's answer to a key it will not store: 400 `InvalidArgument`.
pub(crate) fn unsafe_key_error() -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidArgument, UNSAFE_KEY_MESSAGE)
}

#[cfg(test)]
mod tests {
    use std::path::{Component, Path};

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn keys_that_climb_out_or_are_absolute_are_refused() {
        for bad in ["../victim/model.tar.gz", "a/../../b", "a/..", "..", ".", "./a", "a/./b", "/etc/passwd", "a\0b"] {
            assert!(!is_safe_key(bad), "{bad:?}");
        }
        for good in ["model.tar.gz", "a/b/c", "a..b", "...", ".hidden", "a/.b/c", "a//b", "dir/"] {
            assert!(is_safe_key(good), "{good:?}");
        }
    }

    /// Depth below the bucket after walking `key`'s components as a filesystem would;
    /// `None` when a step leaves the bucket.
    fn lexical_depth(key: &str) -> Option<usize> {
        let mut depth = 0usize;
        for component in Path::new("bucket").join(key).components() {
            match component {
                Component::Normal(_) => depth += 1,
                Component::CurDir => {}
                Component::ParentDir => depth = depth.checked_sub(1)?,
                Component::RootDir | Component::Prefix(_) => return None,
            }
            if depth == 0 {
                return None;
            }
        }
        Some(depth)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever the key, an accepted one resolves below its bucket's directory.
        #[test]
        fn accepted_keys_stay_in_their_bucket(key in "[a./\\\\\\x00-]{0,12}") {
            if is_safe_key(&key) {
                prop_assert!(lexical_depth(&key).is_some(), "{key:?} leaves the bucket");
            }
        }
    }
}
