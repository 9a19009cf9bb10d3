//! jsonpath: the JSONPath subset of `DataProcessing` filters, parsed once and applied to [`Node`]s.
//!
//! Supported, per the "Supported JSONPath Operators" table of
//! <https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform-data-processing.html#data-processing-operators>:
//! `$`; `.name`; `*` (`$.*`, `$[*]`, `$.id.*`); `['a']` and `['a','b']` (also written
//! `.['a','b']`); `[i]` and `[i,j]` with negative indexes counting from the end (`-1` is
//! the last element); slices `[a:b]`, `[a:]`, `[:b]`; an index union with one slice such
//! as `$[0,5:]` (an example value of `OutputFilter` in
//! <https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DataProcessing.html>);
//! steps chain (`$.features[1:3]`). Not supported, as on AWS: recursive descent `..`,
//! filter expressions `[?()]`, slice steps `[a:b:c]`, paths nested inside a bracket
//! union, and more than one slice in a union (AWS fails a job with "only single range
//! filters of format (eg: `[1:5]`) are supported", quoted in
//! <https://github.com/aws/sagemaker-python-sdk/issues/1112>).
//!
//! **Slice ends are inclusive.** The developer guide's CSV example says "The colon (:)
//! tells SageMaker to include all of the elements between two values, inclusive. For
//! example, `$[1:4]` specifies the second through fifth columns", and `[:5]` "includes all
//! columns from the first column (index 0) through the sixth column"
//! (<https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform-data-processing.html#batch-transform-data-processing-example-select-csv>).
//! The operator table's mention of JavaScript's `slice()` (end-exclusive) contradicts
//! that, but the worked examples are explicit twice, so they win.
//!
//! Results follow Jayway JsonPath (which the guide points to): a path whose steps each
//! pick one value (`$.a`, `$[0]`) yields that value; `['a','b']` on an object yields an
//! object with those members in the order asked; a wildcard, slice or index union yields
//! an array of the picks, and later steps apply to each pick. Indexes, slice bounds and
//! names that are not in the record are errors ("If you specify indexes that aren't
//! within the dimension size of the joined dataset, you get an error",
//! `API_DataProcessing`).

use std::borrow::Cow;

use crate::node::Node;

/// AWS's length limit for `InputFilter` / `OutputFilter`.
pub const MAX_FILTER_LEN: usize = 63;

/// A parsed filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    source: String,
    steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// `.name` or `['name']`.
    Child(String),
    /// `['a','b',...]` with two or more names.
    Members(Vec<String>),
    /// `.*` or `[*]`.
    Wildcard,
    /// `[i]`, `[i,j]`, `[a:b]`, `[i,a:]`...
    Indexes(Vec<IndexSel>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IndexSel {
    Index(i64),
    /// Inclusive bounds; `None` = from the first / through the last element.
    Slice(Option<i64>, Option<i64>),
}

impl JsonPath {
    /// Parses a filter; the error is a reason to put after the filter text.
    pub fn parse(source: &str) -> Result<JsonPath, String> {
        let mut p = Parser { s: source.as_bytes(), pos: 0, source };
        p.skip_ws();
        if !p.eat(b'$') {
            return Err("a JSONPath must start with $".into());
        }
        let mut steps = Vec::new();
        loop {
            p.skip_ws();
            match p.peek() {
                None => break,
                Some(b'.') => {
                    p.pos += 1;
                    match p.peek() {
                        Some(b'.') => return Err("recursive descent (..) is not supported".into()),
                        Some(b'*') => {
                            p.pos += 1;
                            steps.push(Step::Wildcard);
                        }
                        // `$.field1.['child1','child2']` is a documented spelling.
                        Some(b'[') => {}
                        _ => {
                            let start = p.pos;
                            while p.peek().is_some_and(|c| !matches!(c, b'.' | b'[' | b']' | b' ')) {
                                p.pos += 1;
                            }
                            if p.pos == start {
                                return Err(format!("a name is missing after '.' at position {start}"));
                            }
                            steps.push(Step::Child(source[start..p.pos].to_owned()));
                        }
                    }
                }
                Some(b'[') => {
                    p.pos += 1;
                    steps.push(p.bracket()?);
                }
                Some(c) => return Err(format!("unexpected '{}' at position {}", c as char, p.pos)),
            }
        }
        Ok(JsonPath { source: source.to_owned(), steps })
    }

    /// The filter as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True for `$` alone: selects the whole record.
    pub fn is_root(&self) -> bool {
        self.steps.is_empty()
    }

    /// True when every step selects by position (`[..]` or `*`), the only kind of path
    /// that means something for a CSV row ("only index based JSONPaths can be applied").
    pub fn is_index_only(&self) -> bool {
        self.steps.iter().all(|s| matches!(s, Step::Indexes(_) | Step::Wildcard))
    }

    /// Applies the path; the error says what did not fit.
    pub fn select(&self, root: &Node) -> Result<Node, String> {
        let mut current: Vec<Cow<'_, Node>> = vec![Cow::Borrowed(root)];
        let mut single = true;
        for step in &self.steps {
            let mut next = Vec::with_capacity(current.len());
            for node in current {
                match node {
                    Cow::Borrowed(n) => apply(step, n, &mut next)?,
                    Cow::Owned(n) => {
                        let mut picked = Vec::new();
                        apply(step, &n, &mut picked)?;
                        next.extend(picked.into_iter().map(|c| Cow::Owned(c.into_owned())));
                    }
                }
            }
            single &= match step {
                Step::Child(_) | Step::Members(_) => true,
                Step::Wildcard => false,
                Step::Indexes(sels) => matches!(sels.as_slice(), [IndexSel::Index(_)]),
            };
            current = next;
        }
        if single && let [only] = current.as_slice() {
            return Ok(only.clone().into_owned());
        }
        Ok(Node::Array(current.into_iter().map(Cow::into_owned).collect()))
    }
}

fn apply<'a>(step: &Step, node: &'a Node, out: &mut Vec<Cow<'a, Node>>) -> Result<(), String> {
    let wrap = Cow::Borrowed;
    match step {
        Step::Child(name) => out.push(wrap(member(node, name)?)),
        Step::Members(names) => {
            let members =
                names.iter().map(|n| Ok((n.clone(), member(node, n)?.clone()))).collect::<Result<_, String>>()?;
            out.push(Cow::Owned(Node::Object(members)));
        }
        Step::Wildcard => match node {
            Node::Object(members) => out.extend(members.iter().map(|(_, v)| wrap(v))),
            Node::Array(items) => out.extend(items.iter().map(wrap)),
            other => return Err(format!("* needs an object or an array, found {}", other.kind())),
        },
        Step::Indexes(sels) => {
            let Node::Array(items) = node else {
                return Err(format!("[...] by index needs an array, found {}", node.kind()));
            };
            let len = items.len();
            for sel in sels {
                match *sel {
                    IndexSel::Index(i) => out.push(wrap(&items[resolve(i, len, "index")?])),
                    IndexSel::Slice(start, end) => {
                        let s = resolve(start.unwrap_or(0), len, "slice start")?;
                        let e = resolve(end.unwrap_or(-1), len, "slice end")?;
                        if s > e {
                            return Err(format!("slice start {s} is after slice end {e}"));
                        }
                        out.extend(items[s..=e].iter().map(wrap));
                    }
                }
            }
        }
    }
    Ok(())
}

fn member<'a>(node: &'a Node, name: &str) -> Result<&'a Node, String> {
    match node {
        Node::Object(members) => members
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .ok_or_else(|| format!("the record has no member '{name}'")),
        other => Err(format!("member '{name}' needs an object, found {}", other.kind())),
    }
}

fn resolve(i: i64, len: usize, what: &str) -> Result<usize, String> {
    let len_i = i64::try_from(len).unwrap_or(i64::MAX);
    let abs = if i < 0 { len_i + i } else { i };
    if (0..len_i).contains(&abs) {
        // In 0..len, so it fits in usize.
        Ok(usize::try_from(abs).unwrap_or(usize::MAX))
    } else {
        Err(format!("{what} {i} is beyond the record's {len} elements"))
    }
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    source: &'a str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c == b' ' || c == b'\t') {
            self.pos += 1;
        }
    }

    fn expect_close(&mut self) -> Result<(), String> {
        self.skip_ws();
        if self.eat(b']') { Ok(()) } else { Err(format!("expected ']' at position {}", self.pos)) }
    }

    /// After `[`.
    fn bracket(&mut self) -> Result<Step, String> {
        let open = self.pos - 1;
        self.skip_ws();
        match self.peek() {
            Some(b'*') => {
                self.pos += 1;
                self.expect_close()?;
                Ok(Step::Wildcard)
            }
            Some(b'\'' | b'"') => {
                let mut names = Vec::new();
                loop {
                    self.skip_ws();
                    let Some(q @ (b'\'' | b'"')) = self.peek() else {
                        return Err(format!("expected a quoted name at position {}", self.pos));
                    };
                    self.pos += 1;
                    let start = self.pos;
                    while self.peek().is_some_and(|c| c != q) {
                        self.pos += 1;
                    }
                    if self.peek().is_none() {
                        return Err(format!("unterminated name starting at position {start}"));
                    }
                    names.push(self.source[start..self.pos].to_owned());
                    self.pos += 1;
                    self.skip_ws();
                    if !self.eat(b',') {
                        break;
                    }
                }
                self.expect_close()?;
                Ok(if names.len() == 1 { Step::Child(names.remove(0)) } else { Step::Members(names) })
            }
            Some(b'?' | b'(') => Err("filter and script expressions are not supported".into()),
            _ => {
                let mut sels = Vec::new();
                loop {
                    let start = self.int()?;
                    self.skip_ws();
                    if self.eat(b':') {
                        let end = self.int()?;
                        self.skip_ws();
                        if self.peek() == Some(b':') {
                            return Err("slice steps ([start:end:step]) are not supported".into());
                        }
                        sels.push(IndexSel::Slice(start, end));
                    } else {
                        let Some(i) = start else {
                            return Err(format!("expected an index at position {}", self.pos));
                        };
                        sels.push(IndexSel::Index(i));
                    }
                    self.skip_ws();
                    if !self.eat(b',') {
                        break;
                    }
                }
                self.expect_close()?;
                if sels.iter().filter(|s| matches!(s, IndexSel::Slice(..))).count() > 1 {
                    let text = &self.source[open..self.pos];
                    return Err(format!(
                        "only single range filters of format (eg: [1:5]) are supported. Format {text} is not supported"
                    ));
                }
                Ok(Step::Indexes(sels))
            }
        }
    }

    fn int(&mut self) -> Result<Option<i64>, String> {
        self.skip_ws();
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let text = &self.source[start..self.pos];
        if text.is_empty() {
            return Ok(None);
        }
        text.parse::<i64>().map(Some).map_err(|_| format!("'{text}' at position {start} is not an index"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(path: &str, json: &str) -> Result<String, String> {
        let p = JsonPath::parse(path).map_err(|e| format!("parse: {e}"))?;
        let n = Node::parse(json.as_bytes()).unwrap();
        p.select(&n).map(|r| String::from_utf8(r.to_json()).unwrap())
    }

    const ROW: &str = r#"["c0","c1","c2","c3","c4","c5","c6"]"#;
    const DOC: &str = r#"{"id":7,"features":[1,2,3,4],"meta":{"a":1,"b":{"c":true}},"SageMakerOutput":{"label":1}}"#;

    #[test]
    fn root_selects_everything() {
        assert_eq!(sel("$", DOC).unwrap(), DOC);
        assert!(JsonPath::parse("$").unwrap().is_root());
        assert!(!JsonPath::parse("$[0]").unwrap().is_root());
    }

    #[test]
    fn dot_names_chain() {
        assert_eq!(sel("$.id", DOC).unwrap(), "7");
        assert_eq!(sel("$.features", DOC).unwrap(), "[1,2,3,4]");
        assert_eq!(sel("$.meta.b.c", DOC).unwrap(), "true");
        assert_eq!(sel("$['meta']['a']", DOC).unwrap(), "1");
    }

    #[test]
    fn wildcards() {
        assert_eq!(sel("$.*", r#"{"a":1,"b":[2]}"#).unwrap(), "[1,[2]]");
        assert_eq!(sel("$.meta.*", DOC).unwrap(), r#"[1,{"c":true}]"#);
        assert_eq!(sel("$[*]", "[3,2,1]").unwrap(), "[3,2,1]");
        assert_eq!(sel("$[*].x", r#"[{"x":1},{"x":2}]"#).unwrap(), "[1,2]");
        assert!(sel("$.id.*", DOC).unwrap_err().contains("found a number"));
    }

    #[test]
    fn bracket_member_unions_make_objects_in_asked_order() {
        assert_eq!(sel("$['id','SageMakerOutput']", DOC).unwrap(), r#"{"id":7,"SageMakerOutput":{"label":1}}"#);
        assert_eq!(sel("$[\"features\", 'id']", DOC).unwrap(), r#"{"features":[1,2,3,4],"id":7}"#);
        assert_eq!(sel("$.meta.['b','a']", DOC).unwrap(), r#"{"b":{"c":true},"a":1}"#);
        assert!(sel("$['id','nope']", DOC).unwrap_err().contains("no member 'nope'"));
    }

    #[test]
    fn single_and_multiple_indexes_with_negatives() {
        assert_eq!(sel("$[1]", ROW).unwrap(), r#""c1""#);
        assert_eq!(sel("$[-1]", ROW).unwrap(), r#""c6""#);
        assert_eq!(sel("$[1,3,5]", ROW).unwrap(), r#"["c1","c3","c5"]"#);
        assert_eq!(sel("$[0,-1]", ROW).unwrap(), r#"["c0","c6"]"#);
        assert_eq!(sel("$[ -2 , 0 ]", ROW).unwrap(), r#"["c5","c0"]"#);
    }

    #[test]
    fn slices_are_inclusive_with_open_ends() {
        // AWS guide: $[1:4] is the second through fifth columns.
        assert_eq!(sel("$[1:4]", ROW).unwrap(), r#"["c1","c2","c3","c4"]"#);
        assert_eq!(sel("$[2:5]", ROW).unwrap(), r#"["c2","c3","c4","c5"]"#);
        // [5:] is the sixth column through the last; [:5] the first through the sixth.
        assert_eq!(sel("$[5:]", ROW).unwrap(), r#"["c5","c6"]"#);
        assert_eq!(sel("$[:5]", ROW).unwrap(), r#"["c0","c1","c2","c3","c4","c5"]"#);
        assert_eq!(sel("$[1:]", ROW).unwrap(), r#"["c1","c2","c3","c4","c5","c6"]"#);
        assert_eq!(sel("$[-2:]", ROW).unwrap(), r#"["c5","c6"]"#);
        assert_eq!(sel("$[3:3]", ROW).unwrap(), r#"["c3"]"#, "a one-element slice is still an array");
        assert_eq!(sel("$[0,5:]", ROW).unwrap(), r#"["c0","c5","c6"]"#);
    }

    #[test]
    fn chained_slices_on_members() {
        assert_eq!(sel("$.features[1:3]", DOC).unwrap(), "[2,3,4]");
        assert_eq!(sel("$.features[-1]", DOC).unwrap(), "4");
    }

    #[test]
    fn out_of_range_is_an_error_naming_the_index() {
        let e = sel("$[7]", ROW).unwrap_err();
        assert_eq!(e, "index 7 is beyond the record's 7 elements");
        assert!(sel("$[-8]", ROW).unwrap_err().contains("index -8"));
        assert!(sel("$[2:9]", ROW).unwrap_err().contains("slice end 9"));
        assert!(sel("$[7:]", ROW).unwrap_err().contains("slice start 7"));
        assert!(sel("$[4:2]", ROW).unwrap_err().contains("after slice end"));
        assert!(sel("$[0]", DOC).unwrap_err().contains("needs an array, found an object"));
        assert!(sel("$.x", ROW).unwrap_err().contains("needs an object, found an array"));
    }

    #[test]
    fn unsupported_syntax_is_refused_at_parse_time() {
        let err = |p: &str| JsonPath::parse(p).unwrap_err();
        assert!(err("id").contains("must start with $"));
        assert!(err("$..id").contains("recursive descent"));
        assert!(err("$[?(@.a)]").contains("not supported"));
        assert!(err("$[0:4:2]").contains("slice steps"));
        assert_eq!(
            err("$[0:2,246:]"),
            "only single range filters of format (eg: [1:5]) are supported. Format [0:2,246:] is not supported"
        );
        assert!(err("$[").contains("expected"));
        assert!(err("$['a").contains("unterminated"));
        assert!(err("$.").contains("name is missing"));
        assert!(err("$[a]").contains("expected an index"));
        assert!(err("$[99999999999999999999]").contains("not an index"));
        assert!(err("$ x").contains("unexpected 'x'"));
    }

    #[test]
    fn index_only_paths_are_recognized_for_csv() {
        assert!(JsonPath::parse("$[1:]").unwrap().is_index_only());
        assert!(JsonPath::parse("$[0,-1]").unwrap().is_index_only());
        assert!(JsonPath::parse("$[*]").unwrap().is_index_only());
        assert!(!JsonPath::parse("$.features").unwrap().is_index_only());
        assert!(!JsonPath::parse("$['a','b']").unwrap().is_index_only());
    }
}
