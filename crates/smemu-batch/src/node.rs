//! node: the record tree JSONPath filters and joins work on, an order-keeping JSON value.
//!
//! Why not `serde_json::Value`: without serde_json's `preserve_order` feature its objects
//! sort their keys, and turning that feature on here would change key order for every
//! other crate in the workspace build. [`Node`] keeps members in input order, keeps
//! scalars verbatim (`1.50` stays `1.50`, no float reformatting) and can hold plain text
//! (a CSV column, or a model output that is not JSON).
//!
//! Depth is bounded: [`Node::parse`] refuses text nested deeper than [`MAX_DEPTH`] before
//! building anything, because building, writing and dropping a [`Node`] recurse once per
//! level, and a record of 20,000 nested brackets would otherwise overflow a worker's stack
//! and take the whole process down. Everything else that makes nodes adds a bounded number
//! of levels: a join one, each step of a JSONPath (at most 63 characters) at most one.

use std::str::Utf8Error;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// A JSON value whose objects keep member order and whose scalars keep their text.
#[derive(Debug, Clone)]
pub enum Node {
    /// Members in document order (a duplicated key is kept twice; lookups take the last).
    Object(Vec<(String, Node)>),
    Array(Vec<Node>),
    /// A number, `true`, `false`, `null` or a string, as JSON text.
    Scalar(Box<RawValue>),
    /// A string value that is not JSON text yet (written out as a JSON string).
    Text(String),
}

/// How deep arrays and objects may nest in one record: serde_json's own default recursion
/// limit, so a record smemu accepts here is one every serde_json-based tool reads too (and
/// the model server most likely parses it with such a limit itself).
pub const MAX_DEPTH: usize = 128;

/// Why text is not a [`Node`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    #[error("not UTF-8: {0}")]
    NotUtf8(Utf8Error),
    #[error("not JSON: {0}")]
    NotJson(String),
    /// Valid JSON, but nested deeper than [`MAX_DEPTH`].
    #[error("JSON nested more than {MAX_DEPTH} levels deep (arrays and objects within each other)")]
    TooDeep,
}

struct Entries<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Entries<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut v = Vec::new();
                while let Some((k, val)) = map.next_entry::<String, &'de RawValue>()? {
                    v.push((k, val));
                }
                Ok(Entries(v))
            }
        }
        d.deserialize_map(V)
    }
}

impl Node {
    /// Parses JSON text (surrounding whitespace allowed), at most [`MAX_DEPTH`] levels deep.
    pub fn parse(bytes: &[u8]) -> Result<Node, NodeError> {
        let text = std::str::from_utf8(bytes).map_err(NodeError::NotUtf8)?;
        // serde_json checks a RawValue without recursing (and without a depth limit), so the
        // text is known to be one JSON value before its depth is measured ...
        let raw: &RawValue = serde_json::from_str(text).map_err(|e| NodeError::NotJson(e.to_string()))?;
        // ... and measured without recursing before `from_raw` recurses once per level.
        if nesting_depth(raw.get().as_bytes()) > MAX_DEPTH {
            return Err(NodeError::TooDeep);
        }
        Self::from_raw(raw).map_err(|e| NodeError::NotJson(e.to_string()))
    }

    /// Recurses once per nesting level: only for text [`nesting_depth`] has bounded.
    fn from_raw(raw: &RawValue) -> Result<Node, serde_json::Error> {
        let text = raw.get().trim();
        match text.as_bytes().first() {
            Some(b'{') => {
                let Entries(entries) = serde_json::from_str(text)?;
                let members = entries
                    .into_iter()
                    .map(|(k, v)| Ok((k, Node::from_raw(v)?)))
                    .collect::<Result<Vec<_>, serde_json::Error>>()?;
                Ok(Node::Object(members))
            }
            Some(b'[') => {
                let items: Vec<&RawValue> = serde_json::from_str(text)?;
                Ok(Node::Array(items.into_iter().map(Node::from_raw).collect::<Result<_, _>>()?))
            }
            _ => Ok(Node::Scalar(raw.to_owned())),
        }
    }

    /// The kind of value, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Object(_) => "an object",
            Node::Array(_) => "an array",
            Node::Text(_) => "a string",
            Node::Scalar(raw) => match raw.get().as_bytes().first() {
                Some(b'"') => "a string",
                Some(b't' | b'f') => "a boolean",
                Some(b'n') => "null",
                _ => "a number",
            },
        }
    }

    /// Compact JSON text (no spaces), members in order, scalars verbatim.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_json(&mut out);
        out
    }

    /// Appends compact JSON text to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Node::Object(members) => {
                out.push(b'{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_json_string(k, out);
                    out.push(b':');
                    v.write_json(out);
                }
                out.push(b'}');
            }
            Node::Array(items) => {
                out.push(b'[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    v.write_json(out);
                }
                out.push(b']');
            }
            Node::Scalar(raw) => out.extend_from_slice(raw.get().as_bytes()),
            Node::Text(s) => write_json_string(s, out),
        }
    }

    /// The value as one CSV column: strings unquoted, other scalars as written,
    /// objects and arrays as compact JSON.
    pub fn to_column(&self) -> String {
        match self {
            Node::Text(s) => s.clone(),
            Node::Scalar(raw) if raw.get().starts_with('"') => {
                serde_json::from_str::<String>(raw.get()).unwrap_or_else(|_| raw.get().to_owned())
            }
            Node::Scalar(raw) => raw.get().to_owned(),
            Node::Object(_) | Node::Array(_) => String::from_utf8_lossy(&self.to_json()).into_owned(),
        }
    }
}

/// The deepest nesting of arrays and objects in valid JSON text, counted in one pass without
/// recursion (brackets inside strings do not count).
pub fn nesting_depth(json: &[u8]) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut in_string = false;
    let mut escaped = false;
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

fn write_json_string(s: &str, out: &mut Vec<u8>) {
    // Serializing a &str to a Vec cannot fail.
    if serde_json::to_writer(&mut *out, s).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(s: &str) -> String {
        String::from_utf8(Node::parse(s.as_bytes()).unwrap().to_json()).unwrap()
    }

    #[test]
    fn keeps_member_order_and_scalar_text() {
        assert_eq!(round(r#"{"z": 1.50, "a": [1e5, true, null], "m": {"y":"\u00e9", "b": -0}}"#), {
            r#"{"z":1.50,"a":[1e5,true,null],"m":{"y":"\u00e9","b":-0}}"#
        });
        assert_eq!(round("  42 \n"), "42");
        assert_eq!(round(r#""a\"b""#), r#""a\"b""#);
    }

    #[test]
    fn rejects_bad_json() {
        assert!(Node::parse(b"{\"a\":").unwrap_err().to_string().contains("not JSON"));
        assert!(Node::parse(b"a,b,c").is_err());
        assert!(Node::parse(b"{} {}").is_err(), "trailing data is not one JSON value");
        assert!(Node::parse(&[0xff, 0xfe]).unwrap_err().to_string().contains("UTF-8"));
    }

    fn nested(depth: usize, leaf: &str) -> String {
        let mut s = String::new();
        for i in 0..depth {
            s.push_str(if i % 2 == 0 { "[" } else { "{\"k\":" });
        }
        s.push_str(leaf);
        for i in (0..depth).rev() {
            s.push(if i % 2 == 0 { ']' } else { '}' });
        }
        s
    }

    #[test]
    fn depth_is_limited_without_overflowing_the_stack() {
        assert_eq!(nesting_depth(nested(MAX_DEPTH, "1").as_bytes()), MAX_DEPTH);
        let ok = Node::parse(nested(MAX_DEPTH, "1").as_bytes()).unwrap();
        assert_eq!(ok.to_json(), nested(MAX_DEPTH, "1").into_bytes());
        assert_eq!(Node::parse(nested(MAX_DEPTH + 1, "1").as_bytes()).unwrap_err(), NodeError::TooDeep);
        // 20,000 levels: far past what the recursive builder could survive on a 2 MiB stack.
        let deep = "[".repeat(20_000) + &"]".repeat(20_000);
        assert_eq!(Node::parse(deep.as_bytes()).unwrap_err(), NodeError::TooDeep);
        // Unbalanced brackets are not JSON, whatever their depth.
        assert!(matches!(Node::parse("[".repeat(20_000).as_bytes()), Err(NodeError::NotJson(_))));
        // Brackets inside strings, escaped quotes included, are not nesting.
        let text = format!("[\"{}\\\"[[\"]", "[".repeat(500));
        assert_eq!(nesting_depth(text.as_bytes()), 1);
        assert!(Node::parse(text.as_bytes()).is_ok());
    }

    #[test]
    fn text_is_escaped_and_columns_unquote() {
        let t = Node::Text("say \"hi\"\n".into());
        assert_eq!(t.to_json(), br#""say \"hi\"\n""#.to_vec());
        let n = Node::parse(br#"["x\"y", 3.0, {"k":[1]}]"#).unwrap();
        let Node::Array(items) = n else { panic!("array") };
        let cols: Vec<String> = items.iter().map(Node::to_column).collect();
        assert_eq!(cols, vec!["x\"y".to_string(), "3.0".into(), r#"{"k":[1]}"#.into()]);
        assert_eq!(items[0].kind(), "a string");
        assert_eq!(items[1].kind(), "a number");
        assert_eq!(items[2].kind(), "an object");
    }
}
