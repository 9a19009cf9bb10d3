//! Constraint violations and their message in the AWS (Coral) form the real service answers with.

use std::fmt;

/// One broken constraint: where, what value, which constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// lowerCamelCase member path, list items 1-based: `productionVariants.1.member.instanceType`.
    pub path: String,
    /// The value as the message shows it; `None` for a missing member (`Value null at ...`).
    pub value: Option<String>,
    pub constraint: String,
}

/// Every violation of one input, reported at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<Violation>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&violation_message(&self.0))
    }
}

impl std::error::Error for ValidationErrors {}

/// `1 validation error detected: Value 'x' at 'modelName' failed to satisfy constraint: ...`,
/// or `N validation errors detected: <e1>; <e2>`.
pub fn violation_message(violations: &[Violation]) -> String {
    let n = violations.len();
    let noun = if n == 1 { "error" } else { "errors" };
    let items: Vec<String> = violations
        .iter()
        .map(|v| {
            let value = match &v.value {
                Some(value) => format!("Value '{value}'"),
                None => "Value null".to_owned(),
            };
            format!("{value} at '{}' failed to satisfy constraint: {}", v.path, v.constraint)
        })
        .collect();
    format!("{n} validation {noun} detected: {}", items.join("; "))
}

/// Implemented (by generated code) for every structure shape.
pub trait Validate {
    /// Appends the violations of `self`, found at `path` (empty for the input itself).
    fn validate_into(&self, path: &str, out: &mut Vec<Violation>);

    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut out = Vec::new();
        self.validate_into("", &mut out);
        if out.is_empty() { Ok(()) } else { Err(ValidationErrors(out)) }
    }
}

/// Helpers the generated validators call.
pub mod check {
    use super::Violation;

    /// `parent.member`, or `member` at the top.
    pub fn join(parent: &str, member: &str) -> String {
        if parent.is_empty() { member.to_owned() } else { format!("{parent}.{member}") }
    }

    /// `parent.N.member` for the N-th (1-based) item of a list.
    pub fn item(parent: &str, index: usize) -> String {
        format!("{parent}.{}.member", index + 1)
    }

    pub fn required<T>(value: &Option<T>, path: &str, out: &mut Vec<Violation>) {
        if value.is_none() {
            out.push(Violation { path: path.to_owned(), value: None, constraint: "Member must not be null".into() });
        }
    }

    pub fn length(len: usize, shown: impl FnOnce() -> String, min: Option<usize>, max: Option<usize>, path: &str, out: &mut Vec<Violation>) {
        if let Some(min) = min
            && len < min
        {
            out.push(Violation {
                path: path.to_owned(),
                value: Some(shown()),
                constraint: format!("Member must have length greater than or equal to {min}"),
            });
        } else if let Some(max) = max
            && len > max
        {
            out.push(Violation {
                path: path.to_owned(),
                value: Some(shown()),
                constraint: format!("Member must have length less than or equal to {max}"),
            });
        }
    }

    pub fn range(value: f64, shown: impl FnOnce() -> String, min: Option<f64>, max: Option<f64>, path: &str, out: &mut Vec<Violation>) {
        if let Some(min) = min
            && value < min
        {
            out.push(Violation {
                path: path.to_owned(),
                value: Some(shown()),
                constraint: format!("Member must have value greater than or equal to {}", number(min)),
            });
        } else if let Some(max) = max
            && value > max
        {
            out.push(Violation {
                path: path.to_owned(),
                value: Some(shown()),
                constraint: format!("Member must have value less than or equal to {}", number(max)),
            });
        }
    }

    pub fn pattern(value: &str, matches: bool, pattern: &str, path: &str, out: &mut Vec<Violation>) {
        if !matches {
            out.push(Violation {
                path: path.to_owned(),
                value: Some(value.to_owned()),
                constraint: format!("Member must satisfy regular expression pattern: {pattern}"),
            });
        }
    }

    pub fn enum_value(value: &str, known: bool, values: &[&str], path: &str, out: &mut Vec<Violation>) {
        if !known {
            out.push(Violation {
                path: path.to_owned(),
                value: Some(value.to_owned()),
                constraint: format!("Member must satisfy enum value set: [{}]", values.join(", ")),
            });
        }
    }

    /// Integers without a fraction, as the model writes them.
    fn number(n: f64) -> String {
        if n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", n as i64) } else { format!("{n}") }
    }

    /// A list's or map's value as a message shows it (compact JSON).
    pub fn shown<T: serde::Serialize>(value: &T) -> String {
        serde_json::to_string(value).unwrap_or_default()
    }
}
