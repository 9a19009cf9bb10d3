//! The object layer's one error type, worded in terms of URIs rather than backends.

use std::io;

/// Every failure of the object layer names the URI it was about, so a message can be
/// shown to a SageMaker API caller (e.g. in a `FailureReason`) without more context.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("the bucket of {uri} does not exist")]
    NoSuchBucket { uri: String },

    #[error("no object at {uri}")]
    NoSuchKey { uri: String },

    /// The object's bucket belongs to another account than the one the request acted as.
    #[error("access denied to {uri}: its bucket belongs to another account")]
    AccessDenied { uri: String },

    #[error("invalid object URI {uri:?}: {reason}")]
    InvalidUri { uri: String, reason: String },

    #[error("I/O error on {uri}: {source}")]
    Io {
        uri: String,
        #[source]
        source: io::Error,
    },

    #[error("object storage error on {uri}: {message}")]
    Backend { uri: String, message: String },

    /// A model archive (or an S3 prefix copied as a directory) was refused because one
    /// entry would land outside the extraction root or is a kind of file a model never
    /// needs (device, fifo). Nothing outside the cache directory was written.
    #[error("refused {uri}: entry {entry:?} {reason}")]
    UnsafeEntry { uri: String, entry: String, reason: String },

    /// A model artifact would extract (or a prefix copy would grow) past the size limit.
    #[error(
        "{uri} is larger than {size} ({limit} bytes), the most a model artifact may extract to \
         (smemu --max-artifact-size)",
        size = human_bytes(*limit)
    )]
    TooLarge { uri: String, limit: u64 },

    /// A `file://` URI outside the directories smemu may use, or one that reaches the Docker socket.
    #[error("{0}")]
    FileOutsideRoots(#[from] crate::roots::Confined),

    /// A `file://` listing that stopped at a limit (see [`crate::store::MAX_LISTED_ENTRIES`]).
    #[error("listing {uri} stopped: {reason}")]
    ListingTooLarge { uri: String, reason: String },
}

/// `20 GiB`, `64 MiB`, `512 KiB` or `123 bytes`: the largest binary unit that divides evenly,
/// else bytes.
pub fn human_bytes(n: u64) -> String {
    for (shift, unit) in [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if n >= 1 << shift && n.is_multiple_of(1 << shift) {
            return format!("{} {unit}", n >> shift);
        }
    }
    format!("{n} bytes")
}

impl ObjectError {
    pub(crate) fn io(uri: impl Into<String>, source: io::Error) -> Self {
        Self::Io { uri: uri.into(), source }
    }

    pub(crate) fn backend(uri: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Backend { uri: uri.into(), message: message.into() }
    }

    pub(crate) fn invalid(uri: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidUri { uri: uri.into(), reason: reason.into() }
    }

    /// The URI this error is about.
    pub fn uri(&self) -> &str {
        match self {
            Self::NoSuchBucket { uri }
            | Self::NoSuchKey { uri }
            | Self::AccessDenied { uri }
            | Self::InvalidUri { uri, .. }
            | Self::Io { uri, .. }
            | Self::Backend { uri, .. }
            | Self::UnsafeEntry { uri, .. }
            | Self::TooLarge { uri, .. }
            | Self::ListingTooLarge { uri, .. } => uri,
            Self::FileOutsideRoots(confined) => &confined.uri,
        }
    }

    /// True for "the object (or its bucket) is not there", which callers often treat
    /// differently from transport failures.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NoSuchBucket { .. } | Self::NoSuchKey { .. })
    }
}
