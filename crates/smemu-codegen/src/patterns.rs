//! Model patterns (Java regular expressions, unanchored, matching the whole value) → the anchored pattern
//! and engine the generated code compiles. Deciding here, by compiling, keeps runtime free of surprises.

/// How the generated code checks one pattern.
#[derive(Debug, PartialEq, Eq)]
pub enum Compiled {
    /// The `regex` crate compiles it.
    Regex(String),
    /// Only `fancy-regex` does (look-around).
    Fancy(String),
    /// Neither does: the check is skipped, with this reason in a generated comment.
    Skipped(String),
}

pub fn compile(model: &str) -> Compiled {
    let anchored = format!("^(?:{})$", translate(model));
    let regex_err = match regex::Regex::new(&anchored) {
        Ok(_) => return Compiled::Regex(anchored),
        Err(e) => e,
    };
    match fancy_regex::Regex::new(&anchored) {
        Ok(_) => Compiled::Fancy(anchored),
        Err(fancy_err) => Compiled::Skipped(format!(
            "neither regex ({}) nor fancy-regex ({fancy_err}) compiles it",
            one_line(&regex_err.to_string())
        )),
    }
}

/// Java classes that the Rust engines lack or read differently, rewritten to what Java means:
/// `\p{Print}` (Java: printable ASCII) → `[\x20-\x7E]`, and `\d` (Java: ASCII digits only) → `[0-9]`.
/// Both replacements are character classes, so they are valid inside `[...]` too (as nested classes).
fn translate(model: &str) -> String {
    let mut out = String::with_capacity(model.len());
    let mut rest = model;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let escape = &rest[i..];
        let (replacement, len) = if escape.starts_with("\\p{Print}") {
            ("[\\x20-\\x7E]", "\\p{Print}".len())
        } else if escape.starts_with("\\d") {
            ("[0-9]", 2)
        } else {
            // Any other escape is copied whole, so an escaped backslash never starts a new escape.
            let len = escape.chars().nth(1).map_or(1, |c| 1 + c.len_utf8());
            (&escape[..len], len)
        };
        out.push_str(replacement);
        rest = &escape[len..];
    }
    out.push_str(rest);
    out
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines() {
        assert_eq!(compile("[a-z]+"), Compiled::Regex("^(?:[a-z]+)$".into()));
        assert!(matches!(compile("(?!\\s*$).+"), Compiled::Fancy(_)));
        assert!(matches!(compile("a(?<!-)"), Compiled::Fancy(_)));
        assert!(matches!(compile("("), Compiled::Skipped(_)));
    }

    #[test]
    fn java_classes() {
        assert_eq!(translate("\\A\\S[\\p{Print}]*\\z"), "\\A\\S[[\\x20-\\x7E]]*\\z");
        assert_eq!(translate("\\d{12}\\\\d"), "[0-9]{12}\\\\d");
        let Compiled::Regex(re) = compile("\\A\\S[\\p{Print}]*\\z") else { panic!("compiles") };
        let re = regex::Regex::new(&re).unwrap();
        assert!(re.is_match("abc def"));
        assert!(!re.is_match(" abc"));
        assert!(!re.is_match("ab\u{e9}"));
    }
}
