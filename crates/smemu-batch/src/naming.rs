//! naming: the output object URI for an input object (`<S3OutputPath>/<relative key>.out`).
//!
//! "If the batch transform job successfully processes all of the records in an input
//! file, it creates an output file with the same name and the `.out` file extension"
//! (<https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform.html>), "in a
//! corresponding subfolder in the location in the output prefix"
//! (<https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformOutput.html>).
//!
//! The relative key (choices where AWS's one example is ambiguous):
//! - prefix `s3://b/in` or `s3://b/in/`, object `s3://b/in/sub/x.csv` → `sub/x.csv`
//!   (the prefix names a folder: subfolders are kept);
//! - an `S3Uri` naming the object itself, `s3://b/in/x.csv` → `x.csv`;
//! - a partial-name prefix `s3://b/in/da`, object `s3://b/in/data1.csv` → `data1.csv`
//!   (relative to the folder the prefix ends in);
//! - with a manifest, the key relative to its prefix (pass [`crate::Manifest::base`]);
//! - an object outside the prefix keeps its whole key (everything after the bucket), so
//!   two inputs never map to one output.

/// The part of `input_uri` that names it under `input_prefix`.
pub fn relative_key(input_uri: &str, input_prefix: &str) -> String {
    let prefix = input_prefix.trim_end_matches('/');
    let rel = if input_uri == prefix {
        input_uri.rsplit('/').next().unwrap_or(input_uri)
    } else if let Some(rest) = input_uri.strip_prefix(prefix).and_then(|r| r.strip_prefix('/')) {
        rest
    } else if input_uri.starts_with(prefix) && !prefix.ends_with(':') && prefix.contains('/') {
        // A partial name: relative to the folder the prefix ends in.
        let folder_end = prefix.rfind('/').map_or(0, |i| i + 1);
        &input_uri[folder_end..]
    } else {
        key_after_bucket(input_uri)
    };
    rel.trim_start_matches('/').to_owned()
}

fn key_after_bucket(uri: &str) -> &str {
    match uri.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map_or(rest, |(_, key)| key),
        None => uri,
    }
}

/// The output URI for `input_uri`: `output_path` (trailing slashes ignored), `/`, the key
/// relative to `input_prefix`, then `.out`.
pub fn output_uri(input_uri: &str, input_prefix: &str, output_path: &str) -> String {
    let base = output_path.trim_end_matches('/');
    format!("{base}/{}.out", relative_key(input_uri, input_prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_example_input1_csv() {
        assert_eq!(output_uri("s3://b/in/input1.csv", "s3://b/in/", "s3://b/output/"), "s3://b/output/input1.csv.out");
        assert_eq!(output_uri("s3://b/in/input2.csv", "s3://b/in", "s3://b/output"), "s3://b/output/input2.csv.out");
    }

    #[test]
    fn subfolders_are_kept() {
        assert_eq!(output_uri("s3://b/in/2024/x.csv", "s3://b/in", "s3://o/p/"), "s3://o/p/2024/x.csv.out");
    }

    #[test]
    fn trailing_slashes_anywhere() {
        assert_eq!(output_uri("s3://b/in/x.csv", "s3://b/in//", "s3://o/p//"), "s3://o/p/x.csv.out");
        assert_eq!(output_uri("s3://b/in/x.csv", "s3://b/in/", "s3://o"), "s3://o/x.csv.out");
    }

    #[test]
    fn a_prefix_naming_the_object_itself() {
        assert_eq!(output_uri("s3://b/data/input1.csv", "s3://b/data/input1.csv", "s3://o/"), "s3://o/input1.csv.out");
    }

    #[test]
    fn partial_name_prefix() {
        assert_eq!(output_uri("s3://b/in/data1.csv", "s3://b/in/da", "s3://o"), "s3://o/data1.csv.out");
        assert_eq!(output_uri("s3://b/data1.csv", "s3://b/da", "s3://o"), "s3://o/data1.csv.out");
    }

    #[test]
    fn manifest_keys_are_relative_to_the_manifest_prefix() {
        let m = crate::Manifest::parse(br#"[{"prefix":"s3://d/pre/"},"a/b.json"]"#, "s3://d/m.manifest").unwrap();
        assert_eq!(output_uri(&m.uris[0], &m.base, "s3://o/out"), "s3://o/out/a/b.json.out");
    }

    #[test]
    fn outside_the_prefix_keeps_the_whole_key() {
        assert_eq!(output_uri("s3://other/k/x.csv", "s3://b/in/", "s3://o"), "s3://o/k/x.csv.out");
        assert_eq!(output_uri("file:///tmp/x.csv", "s3://b/in/", "s3://o"), "s3://o/tmp/x.csv.out");
    }

    #[test]
    fn file_uris_work_like_s3() {
        assert_eq!(
            output_uri("file:///data/in/a.csv", "file:///data/in", "file:///data/out/"),
            "file:///data/out/a.csv.out"
        );
    }
}
