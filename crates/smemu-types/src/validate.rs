//! Validation results: the [`Validate`] trait every generated structure implements, the [`Violation`]s it
//! reports and the message the real service (AWS Coral) builds from them.

use std::fmt;

/// The constraint text of a missing required member; such a violation renders its value as a bare `null`.
pub const NOT_NULL: &str = "Member must not be null";

/// The most characters of an offending value a message echoes. AWS does not document how Coral
/// shortens long values, so smemu chooses: the first 1,024 characters (the longest constraint
/// most members have, so a value that only just fails is shown whole), then [`ELLIPSIS`]. Without
/// a cap a 2 MB string would come back in a 2 MB error body.
pub const MAX_ECHOED_CHARS: usize = 1024;
/// What follows a value cut at [`MAX_ECHOED_CHARS`].
pub const ELLIPSIS: &str = "...";

/// One failed constraint: where (`path`, e.g. `containers.1.member.image`), the offending value as rendered in
/// the message, and the constraint's text (e.g. `Member must have length less than or equal to 63`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: String,
    pub value: String,
    pub constraint: String,
}

impl Violation {
    pub fn new(path: impl Into<String>, value: impl Into<String>, constraint: impl Into<String>) -> Self {
        Self { path: path.into(), value: capped(value.into()), constraint: constraint.into() }
    }

    /// A required member that is absent.
    pub fn null(path: impl Into<String>) -> Self {
        Self::new(path, "null", NOT_NULL)
    }

    /// Whether this is a missing required member (rendered `Value null at ...`, without quotes).
    pub fn is_null(&self) -> bool {
        self.constraint == NOT_NULL
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_null() {
            write!(f, "Value null at '{}' failed to satisfy constraint: {}", self.path, self.constraint)
        } else {
            write!(f, "Value '{}' at '{}' failed to satisfy constraint: {}", self.value, self.path, self.constraint)
        }
    }
}

/// `value`, cut after [`MAX_ECHOED_CHARS`] characters (never inside one) and marked with [`ELLIPSIS`].
fn capped(mut value: String) -> String {
    if let Some((cut, _)) = value.char_indices().nth(MAX_ECHOED_CHARS) {
        value.truncate(cut);
        value.push_str(ELLIPSIS);
    }
    value
}

/// The most violations a message lists. AWS documents no such limit; smemu chooses one so that
/// an input with a violation per list item (80,000 empty tag keys in a 2 MB body) does not come
/// back as a 9 MB message. The count stays the true one; what is not listed is counted at the end.
pub const MAX_LISTED_VIOLATIONS: usize = 100;

/// The service's message for a set of violations: `1 validation error detected: <e>` or
/// `N validation errors detected: <e1>; <e2>` (past [`MAX_LISTED_VIOLATIONS`], the rest as
/// `; and <k> more`). Empty for no violations.
pub fn violation_message(violations: &[Violation]) -> String {
    let mut errors =
        violations.iter().take(MAX_LISTED_VIOLATIONS).map(Violation::to_string).collect::<Vec<_>>().join("; ");
    if let Some(more) = violations.len().checked_sub(MAX_LISTED_VIOLATIONS).filter(|&more| more > 0) {
        errors.push_str(&format!("; and {more} more"));
    }
    match violations.len() {
        0 => String::new(),
        1 => format!("1 validation error detected: {errors}"),
        n => format!("{n} validation errors detected: {errors}"),
    }
}

/// Every violation of one input; `Display` is the service's `ValidationException` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<Violation>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&violation_message(&self.0))
    }
}

impl std::error::Error for ValidationErrors {}

/// The model's constraints on a shape: required members, lengths, ranges, patterns, enums, recursively.
pub trait Validate {
    /// Appends the violations of `self`, found at `path` (empty for the top-level input), to `out`.
    fn validate_into(&self, path: &str, out: &mut Vec<Violation>);

    /// Every violation at once, in model member order, or `Ok` when there is none.
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut out = Vec::new();
        self.validate_into("", &mut out);
        if out.is_empty() { Ok(()) } else { Err(ValidationErrors(out)) }
    }
}

/// Members that close a cycle of structures are boxed; they validate as what they hold.
impl<T: Validate + ?Sized> Validate for Box<T> {
    fn validate_into(&self, path: &str, out: &mut Vec<Violation>) {
        (**self).validate_into(path, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_and_many() {
        let a = Violation::null("modelName");
        let b = Violation::new("maxResults", "0", "Member must have value greater than or equal to 1");
        assert_eq!(
            violation_message(std::slice::from_ref(&a)),
            "1 validation error detected: Value null at 'modelName' failed to satisfy constraint: Member must not be null"
        );
        assert_eq!(
            ValidationErrors(vec![a, b]).to_string(),
            "2 validation errors detected: Value null at 'modelName' failed to satisfy constraint: Member must not be null; \
             Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1"
        );
        assert_eq!(violation_message(&[]), "");
    }

    #[test]
    fn long_values_are_echoed_in_part() {
        let long = "é".repeat(MAX_ECHOED_CHARS + 1);
        let violation = Violation::new("modelName", long, "Member must have length less than or equal to 63");
        assert_eq!(violation.value, format!("{}{ELLIPSIS}", "é".repeat(MAX_ECHOED_CHARS)));
        let exact = "a".repeat(MAX_ECHOED_CHARS);
        assert_eq!(Violation::new("p", exact.clone(), "c").value, exact);
    }

    #[test]
    fn many_violations_are_counted_but_listed_in_part() {
        let many: Vec<Violation> = (0..MAX_LISTED_VIOLATIONS + 5).map(|i| Violation::null(format!("m{i}"))).collect();
        let message = violation_message(&many);
        assert!(message.starts_with(&format!("{} validation errors detected: ", MAX_LISTED_VIOLATIONS + 5)));
        assert!(message.ends_with(&format!(
            "'m{}' failed to satisfy constraint: {NOT_NULL}; and 5 more",
            MAX_LISTED_VIOLATIONS - 1
        )));
        assert_eq!(message.matches(NOT_NULL).count(), MAX_LISTED_VIOLATIONS);
    }
}
