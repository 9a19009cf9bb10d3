//! Parsing and printing of the object URIs smemu accepts: `s3://bucket/key` and `file:///abs/path`.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::ObjectError;

/// A parsed object location.
///
/// `s3://` keys are taken verbatim (no percent-decoding), as the AWS CLI and SageMaker
/// print them. `file://` URIs must carry an absolute path right after the scheme
/// (`file:///data/model.tar.gz`); they are not percent-decoded either, matching how
/// SageMaker local mode passes them around.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ObjectUri {
    S3 { bucket: String, key: String },
    File { path: PathBuf },
}

impl ObjectUri {
    pub fn parse(uri: &str) -> Result<Self, ObjectError> {
        if let Some(rest) = uri.strip_prefix("s3://") {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(ObjectError::invalid(uri, "missing bucket name"));
            }
            return Ok(Self::S3 { bucket: bucket.to_owned(), key: key.to_owned() });
        }
        if let Some(rest) = uri.strip_prefix("file://") {
            if !rest.starts_with('/') {
                return Err(ObjectError::invalid(uri, "file URIs need an absolute path (file:///abs/path)"));
            }
            return Ok(Self::File { path: PathBuf::from(rest) });
        }
        Err(ObjectError::invalid(uri, "expected an s3://bucket/key or file:///abs/path URI"))
    }

    pub fn s3(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        Self::S3 { bucket: bucket.into(), key: key.into() }
    }

    /// `file://` URI for an absolute path; relative paths are rejected so a URI never
    /// depends on the server's working directory.
    pub fn file(path: impl AsRef<Path>) -> Result<Self, ObjectError> {
        let path = path.as_ref();
        if !path.is_absolute() {
            return Err(ObjectError::invalid(path.display().to_string(), "file URIs need an absolute path"));
        }
        Ok(Self::File { path: path.to_path_buf() })
    }

    /// The same location with `suffix` appended to the key or path, used to name the
    /// objects found under a prefix.
    pub fn join(&self, suffix: &str) -> Self {
        match self {
            Self::S3 { bucket, key } => Self::S3 { bucket: bucket.clone(), key: format!("{key}{suffix}") },
            Self::File { path } => {
                let mut s = path.as_os_str().to_owned();
                s.push(suffix);
                Self::File { path: PathBuf::from(s) }
            }
        }
    }
}

impl fmt::Display for ObjectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            Self::File { path } => write!(f, "file://{}", path.display()),
        }
    }
}

impl std::str::FromStr for ObjectUri {
    type Err = ObjectError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_s3_uris() {
        assert_eq!(ObjectUri::parse("s3://b/a/b c.txt").ok(), Some(ObjectUri::s3("b", "a/b c.txt")));
        assert_eq!(ObjectUri::parse("s3://b").ok(), Some(ObjectUri::s3("b", "")));
        assert_eq!(ObjectUri::parse("s3://b/").ok(), Some(ObjectUri::s3("b", "")));
        assert_eq!(ObjectUri::s3("b", "k/x").to_string(), "s3://b/k/x");
    }

    #[test]
    fn parses_file_uris() {
        assert_eq!(
            ObjectUri::parse("file:///data/m.tar.gz").ok(),
            Some(ObjectUri::File { path: PathBuf::from("/data/m.tar.gz") })
        );
        assert_eq!(ObjectUri::parse("file:///data/m").map(|u| u.to_string()).ok(), Some("file:///data/m".to_owned()));
    }

    #[test]
    fn rejects_bad_uris() {
        for bad in ["s3:///key", "file://relative/x", "http://x/y", "/abs/path", ""] {
            match ObjectUri::parse(bad) {
                Err(ObjectError::InvalidUri { uri, .. }) => assert_eq!(uri, bad),
                other => panic!("{bad:?} parsed as {other:?}"),
            }
        }
        assert!(ObjectUri::file("rel/x").is_err());
    }
}
