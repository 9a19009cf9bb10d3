//! The checks the generated `Validate` impls call, one per kind of constraint, with the service's texts.
//! Generated code decides which checks apply; these only compare and push [`Violation`]s.

use crate::Violation;
use crate::pattern::Pattern;
use crate::render::Render;

/// `parent.member`, or `member` at the top level. Member names are lowerCamelCase, like the service's.
pub(crate) fn member_path(parent: &str, member: &str) -> String {
    if parent.is_empty() { member.to_owned() } else { format!("{parent}.{member}") }
}

/// The path of list item `index` (0-based): `parent.<index + 1>.member`.
pub(crate) fn item_path(parent: &str, index: usize) -> String {
    format!("{parent}.{}.member", index + 1)
}

/// The path of a map value: `parent.<key>.member`.
pub(crate) fn value_path(parent: &str, key: &str) -> String {
    format!("{parent}.{key}.member")
}

/// `min`/`max` length of a string (in chars), list, map or blob (`len` is that length).
pub(crate) fn length<T: Render + ?Sized>(
    value: &T,
    len: usize,
    min: Option<usize>,
    max: Option<usize>,
    path: &str,
    out: &mut Vec<Violation>,
) {
    if let Some(min) = min.filter(|&min| len < min) {
        out.push(Violation::new(
            path,
            value.render(),
            format!("Member must have length greater than or equal to {min}"),
        ));
    }
    if let Some(max) = max.filter(|&max| len > max) {
        out.push(Violation::new(path, value.render(), format!("Member must have length less than or equal to {max}")));
    }
}

/// Numeric `min`; `text` is the bound as the model writes it.
pub(crate) fn min_value<T: PartialOrd + Render>(value: &T, min: T, text: &str, path: &str, out: &mut Vec<Violation>) {
    if *value < min {
        out.push(Violation::new(
            path,
            value.render(),
            format!("Member must have value greater than or equal to {text}"),
        ));
    }
}

/// Numeric `max`; `text` is the bound as the model writes it.
pub(crate) fn max_value<T: PartialOrd + Render>(value: &T, max: T, text: &str, path: &str, out: &mut Vec<Violation>) {
    if *value > max {
        out.push(Violation::new(path, value.render(), format!("Member must have value less than or equal to {text}")));
    }
}

/// `pattern`: the whole value must match.
pub(crate) fn pattern(value: &str, pattern: &Pattern, path: &str, out: &mut Vec<Violation>) {
    if !pattern.is_match(value) {
        out.push(Violation::new(
            path,
            value,
            format!("Member must satisfy regular expression pattern: {}", pattern.model()),
        ));
    }
}

/// `enum`: called with the string of an `Unknown` variant.
pub(crate) fn enum_value(value: &str, values: &[&str], path: &str, out: &mut Vec<Violation>) {
    out.push(Violation::new(path, value, format!("Member must satisfy enum value set: [{}]", values.join(", "))));
}

/// Map keys: the service reports every distinct failed key constraint once, against the whole map.
/// `key_violations` are the keys' own violations (their paths are not used).
pub(crate) fn map_keys<T: Render + ?Sized>(
    value: &T,
    key_violations: &[Violation],
    path: &str,
    out: &mut Vec<Violation>,
) {
    let mut constraints: Vec<&str> = Vec::new();
    for v in key_violations {
        if !constraints.contains(&v.constraint.as_str()) {
            constraints.push(&v.constraint);
        }
    }
    if !constraints.is_empty() {
        out.push(Violation::new(
            path,
            value.render(),
            format!("Map keys must satisfy constraint: [{}]", constraints.join(", ")),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(member_path("", "modelName"), "modelName");
        assert_eq!(member_path("vpcConfig", "subnets"), "vpcConfig.subnets");
        assert_eq!(item_path("containers", 0), "containers.1.member");
        assert_eq!(value_path("environment", "K"), "environment.K.member");
    }

    #[test]
    fn bounds() {
        let mut out = Vec::new();
        length("héllo", "héllo".chars().count(), Some(1), Some(5), "p", &mut out);
        assert!(out.is_empty(), "chars, not bytes");
        length("", 0, Some(1), None, "p", &mut out);
        min_value(&0.5f64, 1.0, "1", "w", &mut out);
        max_value(&101i32, 100, "100", "m", &mut out);
        let texts: Vec<String> = out.iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            [
                "Value '' at 'p' failed to satisfy constraint: Member must have length greater than or equal to 1",
                "Value '0.5' at 'w' failed to satisfy constraint: Member must have value greater than or equal to 1",
                "Value '101' at 'm' failed to satisfy constraint: Member must have value less than or equal to 100",
            ]
        );
    }

    #[test]
    fn map_keys_once_per_constraint() {
        let keys = [Violation::new("", "1a", "c1"), Violation::new("", "2b", "c1"), Violation::new("", "3c", "c2")];
        let mut out = Vec::new();
        map_keys("{..}", &keys, "environment", &mut out);
        assert_eq!(out, [Violation::new("environment", "{..}", "Map keys must satisfy constraint: [c1, c2]")]);
    }
}
