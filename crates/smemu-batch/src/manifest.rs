//! manifest: `S3DataType=ManifestFile` inputs, a JSON array of object keys with an optional prefix.
//!
//! Format (<https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_S3DataSource.html>):
//! `[{"prefix": "s3://bucket/some/prefix/"}, "relative/key-1", "relative/key-2"]`, each key
//! appended to the prefix as plain text (no `/` is added: the prefix carries its own).
//!
//! Choices where the documentation is silent:
//! - Without the prefix element, an entry with a scheme (`s3://...`, `file://...`) is used as
//!   is, and any other entry is taken relative to the folder that holds the manifest.
//! - The prefix object must be the first element and hold exactly one string `prefix`;
//!   entries must be non-empty strings; duplicates are kept (AWS lists what it is given).
//! - An empty list is not an error here: the caller decides what a job without inputs does.

use serde_json::Value;

use crate::error::BatchError;

/// A parsed manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The `prefix` element, when present.
    pub prefix: Option<String>,
    /// What output names are made relative to (see [`crate::naming::output_uri`]): the
    /// prefix, or else the manifest's own folder.
    pub base: String,
    /// Full URIs of the listed objects, in manifest order.
    pub uris: Vec<String>,
}

impl Manifest {
    /// Parses manifest bytes read from `manifest_uri`.
    pub fn parse(bytes: &[u8], manifest_uri: &str) -> Result<Manifest, BatchError> {
        let bad = |reason: String| BatchError::BadManifest { uri: manifest_uri.to_owned(), reason };
        let value: Value = serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
        let Value::Array(items) = value else {
            return Err(bad("a manifest must be a JSON array".into()));
        };
        let mut prefix = None;
        let mut uris = Vec::with_capacity(items.len());
        let folder = manifest_uri.rfind('/').map_or(String::new(), |i| manifest_uri[..=i].to_owned());
        for (i, item) in items.into_iter().enumerate() {
            match item {
                Value::Object(obj) if i == 0 => {
                    let p = match (obj.len(), obj.get("prefix")) {
                        (1, Some(Value::String(p))) if !p.is_empty() => p.clone(),
                        _ => {
                            return Err(bad(
                                "the first element may only be {\"prefix\": \"s3://bucket/prefix/\"}".into()
                            ));
                        }
                    };
                    prefix = Some(p);
                }
                Value::Object(_) => return Err(bad(format!("element {i} is an object; only the first may be"))),
                Value::String(key) if key.is_empty() => return Err(bad(format!("element {i} is an empty key"))),
                Value::String(key) => uris.push(match &prefix {
                    Some(p) => format!("{p}{key}"),
                    None if key.contains("://") => key,
                    None => format!("{folder}{}", key.trim_start_matches('/')),
                }),
                other => return Err(bad(format!("element {i} is {other}, not a string key"))),
            }
        }
        let base = prefix.clone().unwrap_or(folder);
        Ok(Manifest { prefix, base, uris })
    }
}

/// The full URIs a manifest lists, in order.
pub fn parse_manifest(bytes: &[u8], manifest_uri: &str) -> Result<Vec<String>, BatchError> {
    Manifest::parse(bytes, manifest_uri).map(|m| m.uris)
}

#[cfg(test)]
mod tests {
    use super::*;

    const URI: &str = "s3://bucket/manifests/input.manifest";

    #[test]
    fn with_prefix_keys_are_appended() {
        let m = Manifest::parse(br#"[{"prefix":"s3://data/in/"},"a.csv","sub/b.csv"]"#, URI).unwrap();
        assert_eq!(m.uris, ["s3://data/in/a.csv", "s3://data/in/sub/b.csv"]);
        assert_eq!(m.prefix.as_deref(), Some("s3://data/in/"));
        assert_eq!(m.base, "s3://data/in/");
        // The prefix is plain text: no slash is invented.
        let uris = parse_manifest(br#"[{"prefix":"s3://data/part-"},"0001","0002"]"#, URI).unwrap();
        assert_eq!(uris, ["s3://data/part-0001", "s3://data/part-0002"]);
    }

    #[test]
    fn without_prefix_entries_are_absolute_or_next_to_the_manifest() {
        let m = Manifest::parse(br#"["s3://other/x.csv", "local.csv", "/rooted.csv"]"#, URI).unwrap();
        assert_eq!(m.uris, ["s3://other/x.csv", "s3://bucket/manifests/local.csv", "s3://bucket/manifests/rooted.csv"]);
        assert_eq!(m.prefix, None);
        assert_eq!(m.base, "s3://bucket/manifests/");
        assert!(parse_manifest(b"[]", URI).unwrap().is_empty());
    }

    #[test]
    fn malformed_manifests_are_refused_with_the_uri() {
        let err = |b: &[u8]| parse_manifest(b, URI).unwrap_err();
        let e = err(b"{\"prefix\":\"s3://a/\"}");
        assert!(matches!(&e, BatchError::BadManifest { uri, .. } if uri == URI), "{e}");
        assert!(e.to_string().contains("must be a JSON array"), "{e}");
        assert!(err(b"not json").to_string().contains("not JSON"));
        assert!(err(br#"["a", {"prefix":"s3://a/"}]"#).to_string().contains("only the first"));
        assert!(err(br#"[{"prefix":5}, "a"]"#).to_string().contains("first element"));
        assert!(err(br#"[{"prefix":"s3://a/","x":1}, "a"]"#).to_string().contains("first element"));
        assert!(err(br#"[{"prefix":"s3://a/"}, 3]"#).to_string().contains("element 1 is 3"));
        assert!(err(br#"[{"prefix":"s3://a/"}, ""]"#).to_string().contains("empty key"));
    }
}
