//! A query request's parameters as a tree of their dotted names: `Dimensions.member.1.Name=x`
//! is the value `x` at the path `Dimensions` → `member` → `1` → `Name`.

use std::collections::BTreeMap;

use super::QueryError;

/// The most parameters one request may have. CloudWatch's largest query inputs (PutMetricData:
/// 1000 metrics, each with dimensions and up to 150 values and counts) stay far below it.
pub(crate) const MAX_PARAMS: usize = 50_000;

/// The most dot-separated segments in one parameter name. CloudWatch's deepest is 9
/// (`MetricDataQueries.member.1.MetricStat.Metric.Dimensions.member.1.Name`).
pub(crate) const MAX_DEPTH: usize = 16;

/// The highest list or map position read. CloudWatch's longest lists (PutMetricData's 1000
/// metrics, GetMetricData's 500 queries) stay far below it; a position past it (`member.999999999`)
/// is refused rather than read as a sparse list.
pub(crate) const MAX_INDEX: u32 = 100_000;

/// A parameter's value and the parameters named below it.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Node {
    pub(super) value: Option<String>,
    pub(super) children: BTreeMap<String, Node>,
}

/// The parsed form.
#[derive(Debug, PartialEq)]
pub(crate) struct Params {
    pub(super) root: Node,
}

impl Params {
    /// Parses an `application/x-www-form-urlencoded` body. Every name must be dotted segments, and
    /// the segment after `member` or `entry` (a list's or map's position) a positive integer.
    /// The tree never has more nodes than the body has parameter segments: an index is a key,
    /// not a position to allocate up to.
    pub(crate) fn parse(body: &[u8]) -> Result<Params, QueryError> {
        let mut root = Node::default();
        let mut count = 0usize;
        for pair in body.split(|&b| b == b'&').filter(|pair| !pair.is_empty()) {
            count += 1;
            if count > MAX_PARAMS {
                return Err(QueryError::Parameter(format!(
                    "The request has more than {MAX_PARAMS} parameters, the most smemu reads."
                )));
            }
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &b""[..]),
            };
            let name = decode(name)?;
            insert(&mut root, &name, decode(value)?)?;
        }
        Ok(Params { root })
    }

    /// Removes a top-level parameter (`Action`, `Version`) and returns its value.
    pub(crate) fn take(&mut self, name: &str) -> Option<String> {
        let node = self.root.children.remove(name)?;
        node.value
    }
}

fn insert(root: &mut Node, name: &str, value: String) -> Result<(), QueryError> {
    let segments: Vec<&str> = name.splitn(MAX_DEPTH + 1, '.').collect();
    if segments.len() > MAX_DEPTH {
        return Err(QueryError::Parameter(format!(
            "Parameter name {} has more than {MAX_DEPTH} segments.",
            shorten(name)
        )));
    }
    let mut node = root;
    let mut previous = "";
    for segment in &segments {
        if segment.is_empty() {
            return Err(QueryError::Parameter(format!("Parameter name {} has an empty segment.", shorten(name))));
        }
        if matches!(previous, "member" | "entry") && !is_index(segment) {
            return Err(QueryError::Parameter(format!(
                "Parameter name {}: the position after {previous} must be an integer from 1 to {MAX_INDEX}.",
                shorten(name)
            )));
        }
        node = node.children.entry((*segment).to_owned()).or_default();
        previous = segment;
    }
    match &mut node.value {
        Some(_) => Err(QueryError::Parameter(format!("Parameter {} is given more than once.", shorten(name)))),
        slot => {
            *slot = Some(value);
            Ok(())
        }
    }
}

/// `application/x-www-form-urlencoded` text: `+` is a space, `%XX` a byte, and the bytes UTF-8
/// (refused otherwise, rather than replaced, so that no value changes on the way in).
fn decode(raw: &[u8]) -> Result<String, QueryError> {
    let spaced: Vec<u8> = raw.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
    let bytes: Vec<u8> = percent_encoding::percent_decode(&spaced).collect();
    String::from_utf8(bytes).map_err(|_| {
        QueryError::Malformed(format!("{} is not UTF-8 once decoded", shorten(&String::from_utf8_lossy(raw))))
    })
}

/// A list or map position: 1 to [`MAX_INDEX`], no sign, no leading zero (so that `1` and `01`
/// cannot name one position twice).
pub(super) fn is_index(segment: &str) -> bool {
    !segment.starts_with('0') && segment.parse::<u32>().is_ok_and(|n| (1..=MAX_INDEX).contains(&n))
}

/// A name as echoed in an error: at most 256 characters.
pub(super) fn shorten(name: &str) -> String {
    name.chars().take(256).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_names_become_a_tree() {
        let params = Params::parse(b"Namespace=ns&Dimensions.member.1.Name=a&Dimensions.member.1.Value=b%20c").unwrap();
        let dims = &params.root.children["Dimensions"].children["member"].children["1"];
        assert_eq!(dims.children["Value"].value.as_deref(), Some("b c"));
        assert_eq!(params.root.children["Namespace"].value.as_deref(), Some("ns"));
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(matches!(Params::parse(b"A..B=1"), Err(QueryError::Parameter(_))));
        assert!(matches!(Params::parse(b"A.member.0=1"), Err(QueryError::Parameter(_))));
        assert!(matches!(Params::parse(b"A.member.01=1"), Err(QueryError::Parameter(_))));
        assert!(matches!(Params::parse(b"A.member.x=1"), Err(QueryError::Parameter(_))));
        assert!(matches!(Params::parse(b"A.member.4294967296=1"), Err(QueryError::Parameter(_))));
        assert!(matches!(Params::parse(b"A=1&A=2"), Err(QueryError::Parameter(_))));
        let deep = vec!["a"; MAX_DEPTH + 1].join(".") + "=1";
        assert!(matches!(Params::parse(deep.as_bytes()), Err(QueryError::Parameter(_))));
        assert!(matches!(Params::parse(b"A=%FF"), Err(QueryError::Malformed(_))));
    }

    #[test]
    fn too_many_parameters_are_refused() {
        let body: String = (0..=MAX_PARAMS).map(|i| format!("P{i}=1&")).collect();
        assert!(matches!(Params::parse(body.as_bytes()), Err(QueryError::Parameter(_))));
    }

    #[test]
    fn a_sparse_index_is_one_node_and_a_huge_one_is_refused() {
        let params = Params::parse(b"A.member.100000=1").unwrap();
        assert_eq!(params.root.children["A"].children["member"].children.len(), 1);
        assert!(matches!(Params::parse(b"A.member.100001=1"), Err(QueryError::Parameter(_))));
        assert!(matches!(Params::parse(b"A.member.999999999=1"), Err(QueryError::Parameter(_))));
    }
}
