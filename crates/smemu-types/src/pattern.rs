//! Compiled `pattern` constraints. The generator picks the engine: `regex` where it compiles, `fancy-regex` for
//! the look-around some model patterns use. Compilation happens once, on first use (the generated code keeps
//! each [`Pattern`] in a `LazyLock`).

/// One model pattern: its text as the model gives it (quoted in the message) and its compiled, anchored form.
pub(crate) struct Pattern {
    model: &'static str,
    matcher: Matcher,
}

enum Matcher {
    Regex(regex::Regex),
    Fancy(fancy_regex::Regex),
    /// Did not compile (the generator checks that it does, so only a dependency change gets here): the check
    /// is skipped rather than rejecting every value or panicking.
    Broken,
}

impl Pattern {
    /// `anchored` is `^(?:<model>)$` (model patterns must match the whole value), possibly with Java-only
    /// classes translated.
    pub(crate) fn regex(model: &'static str, anchored: &str) -> Self {
        let matcher = regex::Regex::new(anchored).map_or(Matcher::Broken, Matcher::Regex);
        Self { model, matcher }
    }

    pub(crate) fn fancy(model: &'static str, anchored: &str) -> Self {
        let matcher = fancy_regex::Regex::new(anchored).map_or(Matcher::Broken, Matcher::Fancy);
        Self { model, matcher }
    }

    /// The pattern as the model gives it.
    pub(crate) fn model(&self) -> &'static str {
        self.model
    }

    /// Whether the whole value matches. A `fancy-regex` error (backtracking limit) counts as a match: an
    /// exhausted matcher is no evidence against the value.
    pub(crate) fn is_match(&self, value: &str) -> bool {
        match &self.matcher {
            Matcher::Regex(re) => re.is_match(value),
            Matcher::Fancy(re) => re.is_match(value).unwrap_or(true),
            Matcher::Broken => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    #[test]
    fn engines() {
        let plain = Pattern::regex("[a-z]+", "^(?:[a-z]+)$");
        assert!(plain.is_match("abc"));
        assert!(!plain.is_match("abc1"));
        let look = Pattern::fancy("(?!\\s*$).+", "^(?:(?!\\s*$).+)$");
        assert!(look.is_match("x"));
        assert!(!look.is_match("   "));
        let broken = Pattern::regex("(", "^(?:()$");
        assert!(broken.is_match("anything"));
        assert_eq!(broken.model(), "(");
    }
}
