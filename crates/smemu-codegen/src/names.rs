//! Rust names for model names: snake_case fields, PascalCase variants, lowerCamelCase paths.

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern", "false", "fn",
    "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "self", "Self",
    "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where", "while", "abstract", "become",
    "box", "do", "final", "gen", "macro", "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// Type names that would shadow what generated code uses.
const RESERVED_TYPES: &[&str] =
    &["Option", "Result", "Vec", "String", "Box", "Default", "BTreeMap", "Timestamp", "Bytes", "Validate", "Violation"];

/// `ModelDataUrl` → `model_data_url`, `S3Uri` → `s3_uri`, `MemorySizeInMB` → `memory_size_in_mb`.
pub fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                None => false,
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_ascii_uppercase() => next.is_some_and(|n| n.is_ascii_lowercase()),
                _ => false,
            };
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    if KEYWORDS.contains(&out.as_str()) { format!("r#{out}") } else { out }
}

/// The member as AWS messages name it: `ModelName` → `modelName`.
pub fn lower_camel(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub fn type_name(shape: &str) -> String {
    if RESERVED_TYPES.contains(&shape) { format!("{shape}Shape") } else { shape.to_owned() }
}

/// `ml.t2.medium` → `MlT2Medium`, `ALL_AT_ONCE` → `AllAtOnce`, `Serial` → `Serial`.
pub fn variant(value: &str) -> String {
    let mut out = String::new();
    for part in value.split(|c: char| !c.is_ascii_alphanumeric()).filter(|p| !p.is_empty()) {
        let all_upper = part.chars().all(|c| !c.is_ascii_lowercase());
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            let rest: String = chars.collect();
            out.push_str(&if all_upper { rest.to_ascii_lowercase() } else { rest });
        }
    }
    if out.is_empty() {
        out.push_str("Empty");
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    if out == "Unknown" {
        out.push_str("Value");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_rust_and_aws_conventions() {
        assert_eq!(snake("ModelDataUrl"), "model_data_url");
        assert_eq!(snake("S3Uri"), "s3_uri");
        assert_eq!(snake("MemorySizeInMB"), "memory_size_in_mb");
        assert_eq!(snake("EnableSSMAccess"), "enable_ssm_access");
        assert_eq!(snake("Type"), "r#type");
        assert_eq!(lower_camel("ProductionVariants"), "productionVariants");
        assert_eq!(variant("ml.t2.medium"), "MlT2Medium");
        assert_eq!(variant("ALL_AT_ONCE"), "AllAtOnce");
        assert_eq!(variant("SingleModel"), "SingleModel");
        assert_eq!(variant("1.0"), "V10");
        assert_eq!(type_name("String"), "StringShape");
    }
}
