//! The filter-pattern syntax of `FilterLogEvents` for unstructured log events, as
//! <https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html> has it:
//! terms (every one must appear), `"quoted phrases"`, `-exclusions` (none may appear) and `?`
//! alternatives (at least one must appear); matching is case sensitive. JSON (`{ ... }`),
//! space-delimited (`[ ... ]`) and regular-expression (`%...%`) patterns are refused as unsupported.
//!
//! No recursion; the input's length is bounded by the API (`filterPattern` at most 1024 chars).

/// Why a pattern cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("Invalid filter pattern: {0}")]
    Invalid(&'static str),
    #[error(
        "smemu does not support {0} filter patterns; it supports terms, \"quoted phrases\", -exclusions and ?alternatives"
    )]
    Unsupported(&'static str),
}

/// A parsed pattern; the empty pattern matches every event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterPattern {
    required: Vec<String>,
    excluded: Vec<String>,
    any_of: Vec<String>,
}

impl FilterPattern {
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let trimmed = text.trim();
        match trimmed.chars().next() {
            Some('{') => return Err(PatternError::Unsupported("JSON")),
            Some('[') => return Err(PatternError::Unsupported("space-delimited")),
            Some('%') => return Err(PatternError::Unsupported("regular expression")),
            _ => {}
        }
        let mut pattern = FilterPattern::default();
        let mut chars = trimmed.chars().peekable();
        loop {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let Some(&first) = chars.peek() else { break };
            let kind = match first {
                '?' | '-' => {
                    chars.next();
                    first
                }
                _ => ' ',
            };
            let mut term = String::new();
            if chars.next_if_eq(&'"').is_some() {
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\\' => match chars.next() {
                            Some(escaped) => term.push(escaped),
                            None => break,
                        },
                        other => term.push(other),
                    }
                }
                if !closed {
                    return Err(PatternError::Invalid("a quoted phrase is not closed"));
                }
                if chars.peek().is_some_and(|c| !c.is_whitespace()) {
                    return Err(PatternError::Invalid("a quoted phrase must be followed by a space"));
                }
            } else {
                while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                    if c == '"' {
                        return Err(PatternError::Invalid("a quote inside a term"));
                    }
                    term.push(c);
                }
            }
            if term.is_empty() {
                if kind == ' ' {
                    // `""`: an empty phrase is in every message.
                    continue;
                }
                return Err(PatternError::Invalid("'?' or '-' must be followed by a term"));
            }
            match kind {
                '?' => pattern.any_of.push(term),
                '-' => pattern.excluded.push(term),
                _ => pattern.required.push(term),
            }
        }
        Ok(pattern)
    }

    pub fn matches(&self, message: &str) -> bool {
        self.required.iter().all(|t| message.contains(t.as_str()))
            && !self.excluded.iter().any(|t| message.contains(t.as_str()))
            && (self.any_of.is_empty() || self.any_of.iter().any(|t| message.contains(t.as_str())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn matches(pattern: &str, message: &str) -> bool {
        FilterPattern::parse(pattern).unwrap().matches(message)
    }

    #[test]
    fn terms_phrases_exclusions_and_alternatives() {
        assert!(matches("", "anything"));
        assert!(matches("ERROR", "[ERROR] disk full"));
        assert!(!matches("ERROR", "[error] disk full"), "case sensitive");
        assert!(matches("ERROR disk", "[ERROR] disk full"));
        assert!(!matches("ERROR memory", "[ERROR] disk full"));
        assert!(matches("\"disk full\"", "[ERROR] disk full"));
        assert!(!matches("\"full disk\"", "[ERROR] disk full"));
        assert!(matches("ERROR -memory", "[ERROR] disk full"));
        assert!(!matches("ERROR -disk", "[ERROR] disk full"));
        assert!(matches("?WARN ?ERROR", "[ERROR] disk full"));
        assert!(!matches("?WARN ?INFO", "[ERROR] disk full"));
        assert!(matches("-\"no such\" ERROR", "[ERROR] disk full"));
        assert!(matches("\"say \\\"hi\\\"\"", "they say \"hi\""));
    }

    #[test]
    fn bad_and_unsupported_patterns_are_refused() {
        assert!(matches!(FilterPattern::parse("\"open"), Err(PatternError::Invalid(_))));
        assert!(matches!(FilterPattern::parse("a - b"), Err(PatternError::Invalid(_))));
        assert!(matches!(FilterPattern::parse("ab\"c\""), Err(PatternError::Invalid(_))));
        assert!(matches!(FilterPattern::parse("{ $.level = \"x\" }"), Err(PatternError::Unsupported(_))));
        assert!(matches!(FilterPattern::parse("[ip, user]"), Err(PatternError::Unsupported(_))));
        assert!(matches!(FilterPattern::parse("%ERR.*%"), Err(PatternError::Unsupported(_))));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn any_pattern_parses_or_is_refused_without_panicking(
            pattern in "[ a-z?\"\\\\{\\[%-]{0,200}",
            message in "[ a-z\"]{0,100}",
        ) {
            if let Ok(parsed) = FilterPattern::parse(&pattern) {
                let _ = parsed.matches(&message);
            }
        }

        #[test]
        fn a_term_matches_every_message_that_contains_it(term in "[a-zA-Z0-9_]{1,20}", before in ".{0,20}", after in ".{0,20}") {
            let message = format!("{before}{term}{after}");
            prop_assert!(matches(&term, &message));
            let exclusion = format!("-{term}");
            prop_assert!(!FilterPattern::parse(&exclusion).unwrap().matches(&message));
        }
    }
}
