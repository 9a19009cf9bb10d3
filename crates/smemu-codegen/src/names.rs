//! Rust names for model names (types, fields, enum variants, functions) and Rust literals for model strings.

use heck::ToSnakeCase;

/// Rust keywords (strict and reserved, 2024 edition).
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate", "do", "dyn", "else",
    "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "macro", "match", "mod",
    "move", "mut", "override", "priv", "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait",
    "true", "try", "type", "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Names a generated type must not take: the prelude's (generated code uses `Option`, `String`, `Vec`
/// unqualified) and the generated module's own `Operation`.
const TAKEN_TYPE_NAMES: &[&str] = &[
    "AsMut",
    "AsRef",
    "Box",
    "Clone",
    "Copy",
    "Debug",
    "Default",
    "DoubleEndedIterator",
    "Drop",
    "Eq",
    "Err",
    "ExactSizeIterator",
    "Extend",
    "Fn",
    "FnMut",
    "FnOnce",
    "From",
    "FromIterator",
    "Hash",
    "Into",
    "IntoIterator",
    "Iterator",
    "None",
    "Ok",
    "Operation",
    "Option",
    "Ord",
    "PartialEq",
    "PartialOrd",
    "Result",
    "Send",
    "Sized",
    "Some",
    "String",
    "Sync",
    "ToOwned",
    "ToString",
    "TryFrom",
    "TryInto",
    "Unpin",
    "Vec",
];

/// The type name of a structure or enum shape: the shape's name, suffixed `Shape` when that is a keyword or a
/// taken name. Returns whether it was renamed.
pub fn type_name(shape: &str) -> (String, bool) {
    if KEYWORDS.contains(&shape) || TAKEN_TYPE_NAMES.contains(&shape) {
        (format!("{shape}Shape"), true)
    } else {
        (shape.to_owned(), false)
    }
}

/// `ModelName` → `model_name`, `Type` → `r#type` (`self`-like keywords, which cannot be raw, get a `_`).
pub fn field_name(member: &str) -> String {
    let snake = member.to_snake_case();
    match snake.as_str() {
        "self" | "super" | "crate" | "_" => format!("{snake}_"),
        s if KEYWORDS.contains(&s) => format!("r#{snake}"),
        _ => snake,
    }
}

/// The service's name for a member in violation paths: `ModelName` → `modelName`, `VpcConfig` → `vpcConfig`.
pub fn path_name(member: &str) -> String {
    let mut chars = member.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The per-shape check function: `check_model_name`.
pub fn check_fn(shape: &str) -> String {
    format!("check_{}", shape.to_snake_case())
}

/// Enum variant names for the values, in order: each value's alphanumeric runs, capitalised and joined
/// (`ml.t2.medium` → `MlT2Medium`, `ml.c4.2xlarge` → `MlC42xlarge`, `IN_PROGRESS` → `InProgress`), the AWS
/// Rust SDK's names for the same values. Fused numbers can collide; a collision gets a numeric suffix.
pub fn variant_names(values: &[String]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        let base = variant_name(value);
        let mut name = base.clone();
        let mut n = 2;
        while names.contains(&name) {
            name = format!("{base}{n}");
            n += 1;
        }
        names.push(name);
    }
    names
}

fn variant_name(value: &str) -> String {
    let mut name = String::new();
    for run in value.split(|c: char| !c.is_ascii_alphanumeric()).filter(|r| !r.is_empty()) {
        let shouting = !run.chars().any(|c| c.is_ascii_lowercase());
        let mut chars = run.chars();
        if let Some(first) = chars.next() {
            name.push(first.to_ascii_uppercase());
        }
        if shouting {
            name.extend(chars.map(|c| c.to_ascii_lowercase()));
        } else {
            name.extend(chars);
        }
    }
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, 'V');
    }
    // `Unknown` is the catch-all variant; `Self` cannot be a variant.
    if name == "Unknown" || name == "Self" {
        name.push_str("Value");
    }
    name
}

/// A Rust string literal for `s`: raw (`r"..."`) when it has backslashes, so patterns read as in the model.
pub fn str_lit(s: &str) -> String {
    if s.contains('\\') && !s.chars().any(char::is_control) {
        let mut hashes = String::new();
        while s.contains(&format!("\"{hashes}")) {
            hashes.push('#');
        }
        format!("r{hashes}\"{s}\"{hashes}")
    } else {
        format!("{s:?}")
    }
}

/// `s` as inline code in a doc comment, with enough backticks around it.
pub fn doc_code(s: &str) -> String {
    let mut ticks = String::from("`");
    while s.contains(ticks.as_str()) {
        ticks.push('`');
    }
    let pad = if s.starts_with('`') || s.ends_with('`') { " " } else { "" };
    format!("{ticks}{pad}{s}{pad}{ticks}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants() {
        let values: Vec<String> =
            ["ml.t2.medium", "ml.c4.2xlarge", "Serial", "IN_PROGRESS", "TFRecord", "Unknown", "a-b", "a.b"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        assert_eq!(
            variant_names(&values),
            ["MlT2Medium", "MlC42xlarge", "Serial", "InProgress", "TFRecord", "UnknownValue", "AB", "AB2"]
        );
    }

    #[test]
    fn fields_and_paths() {
        assert_eq!(field_name("ModelName"), "model_name");
        assert_eq!(field_name("Type"), "r#type");
        assert_eq!(field_name("EnableSSMAccess"), "enable_ssm_access");
        assert_eq!(path_name("VpcConfig"), "vpcConfig");
        assert_eq!(type_name("String"), ("StringShape".to_owned(), true));
        assert_eq!(type_name("Tag"), ("Tag".to_owned(), false));
    }

    #[test]
    fn literals() {
        assert_eq!(str_lit("a\\-b"), "r\"a\\-b\"");
        assert_eq!(str_lit("a\\\"b"), "r#\"a\\\"b\"#");
        assert_eq!(str_lit("plain"), "\"plain\"");
        assert_eq!(doc_code("a`b"), "``a`b``");
    }
}
