//! Structure (and union) shapes → structs of `Option` fields; enum string shapes → enums with an `Unknown` catch-all.

use super::{Service, element, line};
use crate::model::{Member, Shape};
use crate::names::{self, doc_code, str_lit};

pub fn structure(service: &Service<'_>, name: &str, shape: &Shape, out: &mut String) -> Result<(), String> {
    let rust = service.type_name(name)?;
    line!(out, "/// Shape `{name}`{}.", role(service, name, shape));
    if shape.union {
        // A union travels as a structure with exactly one member set (in JSON, CBOR and the
        // query form alike), so it is one here too; which member is set is the reader's concern.
        line!(out, "///");
        line!(out, "/// A union: exactly one member is set.");
    }
    line!(out, "#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]");
    line!(out, "pub struct {rust} {{");
    let mut fields = std::collections::BTreeSet::new();
    for (member_name, member) in &shape.members {
        let field = names::field_name(member_name);
        if !fields.insert(field.clone()) {
            return Err(format!("`{name}` has two members named `{field}` in Rust"));
        }
        let member_shape = service.shape(&member.shape)?;
        let required = shape.required.contains(member_name);
        let wire_skipped = member.location.is_some()
            || member.eventpayload
            || (shape.payload.as_deref() == Some(member_name.as_str())
                && matches!(member_shape.kind.as_str(), "blob" | "string"));
        line!(out, "/// {}", member_doc(service, member_name, member, required, wire_skipped)?);
        if wire_skipped {
            line!(out, "#[serde(skip)]");
        } else if member_shape.kind == "blob" {
            // A blob inside a JSON body travels as base64 text.
            line!(
                out,
                "#[serde(rename = {}, skip_serializing_if = \"Option::is_none\", default, with = \"crate::blob\")]",
                str_lit(member_name)
            );
        } else {
            line!(
                out,
                "#[serde(rename = {}, skip_serializing_if = \"Option::is_none\", default)]",
                str_lit(member_name)
            );
        }
        let mut ty = service.rust_type(&member.shape)?;
        if service.is_boxed(name, member_name) {
            ty = format!("Box<{ty}>");
        }
        line!(out, "pub {field}: Option<{ty}>,");
    }
    line!(out, "}}");
    line!(out);
    line!(out, "impl crate::render::Render for {rust} {{");
    line!(out, "fn render(&self) -> String {{ crate::render::json(self) }}");
    line!(out, "}}");
    line!(out);
    Ok(())
}

/// `(input of `CreateModel`)`, `(exception)` or nothing.
fn role(service: &Service<'_>, name: &str, shape: &Shape) -> String {
    let mut roles = Vec::new();
    for op in service.model.operations.values() {
        if op.input.as_ref().is_some_and(|r| r.shape == name) {
            roles.push(format!("input of `{}`", op.name));
        }
        if op.output.as_ref().is_some_and(|r| r.shape == name) {
            roles.push(format!("output of `{}`", op.name));
        }
    }
    if shape.exception {
        roles.push("an exception".into());
    }
    if roles.is_empty() { String::new() } else { format!(" ({})", roles.join(", ")) }
}

fn member_doc(
    service: &Service<'_>,
    member_name: &str,
    member: &Member,
    required: bool,
    wire_skipped: bool,
) -> Result<String, String> {
    let mut doc = format!("`{member_name}`");
    if required {
        doc.push_str(", required");
    }
    let located = member.location_name.as_deref().unwrap_or(member_name);
    match member.location.as_deref() {
        Some("header") => doc.push_str(&format!(", HTTP header `{located}`")),
        Some("uri") => doc.push_str(&format!(", URI label `{{{located}}}`")),
        Some(other) => doc.push_str(&format!(", HTTP {other} `{located}`")),
        None if wire_skipped => doc.push_str(", the HTTP payload"),
        None => {}
    }
    doc.push_str(&format!(": shape `{}`, {}.", member.shape, describe(service, &member.shape)?));
    Ok(doc)
}

/// The shape's type and constraints in words, e.g. `string, length 1..=63, pattern `...``.
fn describe(service: &Service<'_>, name: &str) -> Result<String, String> {
    let shape = service.shape(name)?;
    let mut parts = vec![match shape.kind.as_str() {
        "list" => format!("list of `{}`", element(name, shape.member.as_ref())?),
        "map" => {
            format!("map of `{}` to `{}`", element(name, shape.key.as_ref())?, element(name, shape.value.as_ref())?)
        }
        "string" if shape.enum_values.is_some() => "enum".to_owned(),
        other => other.to_owned(),
    }];
    let (min, max) = (shape.min.as_ref(), shape.max.as_ref());
    let numeric = matches!(shape.kind.as_str(), "integer" | "long" | "float" | "double");
    let bounds = match (min.map(ToString::to_string), max.map(ToString::to_string)) {
        (Some(min), Some(max)) => Some(format!("{min}..={max}")),
        (Some(min), None) => Some(format!("{min}..")),
        (None, Some(max)) => Some(format!("..={max}")),
        (None, None) => None,
    };
    if let Some(bounds) = bounds {
        parts.push(if numeric { format!("value {bounds}") } else { format!("length {bounds}") });
    }
    if let Some(pattern) = &shape.pattern {
        parts.push(format!("pattern {}", doc_code(pattern)));
    }
    Ok(parts.join(", "))
}

pub fn string_enum(service: &Service<'_>, name: &str, shape: &Shape, out: &mut String) -> Result<(), String> {
    let values = shape.enum_values.as_deref().unwrap_or_default();
    let variants = names::variant_names(values);
    let rust = service.type_name(name)?;
    line!(
        out,
        "/// Enum shape `{name}` ({} values); a string the model does not list decodes into `Unknown`.",
        values.len()
    );
    line!(out, "#[derive(Debug, Clone, PartialEq, Eq, Hash)]");
    line!(out, "pub enum {rust} {{");
    for (value, variant) in values.iter().zip(&variants) {
        line!(out, "/// {}", doc_code(value));
        line!(out, "{variant},");
    }
    line!(out, "/// A value the model does not list, as sent (validation reports it).");
    line!(out, "Unknown(String),");
    line!(out, "}}");
    line!(out);
    line!(out, "impl {rust} {{");
    line!(out, "/// The values the model lists, in model order.");
    line!(out, "pub fn values() -> &'static [&'static str] {{");
    line!(out, "&[{}]", values.iter().map(|v| str_lit(v)).collect::<Vec<_>>().join(", "));
    line!(out, "}}");
    line!(out);
    line!(out, "/// The wire string.");
    line!(out, "pub fn as_str(&self) -> &str {{");
    line!(out, "match self {{");
    for (value, variant) in values.iter().zip(&variants) {
        line!(out, "Self::{variant} => {},", str_lit(value));
    }
    line!(out, "Self::Unknown(value) => value,");
    line!(out, "}}");
    line!(out, "}}");
    line!(out, "}}");
    line!(out);
    line!(out, "impl From<&str> for {rust} {{");
    line!(out, "fn from(value: &str) -> Self {{");
    line!(out, "match value {{");
    for (value, variant) in values.iter().zip(&variants) {
        line!(out, "{} => Self::{variant},", str_lit(value));
    }
    line!(out, "other => Self::Unknown(other.to_owned()),");
    line!(out, "}}");
    line!(out, "}}");
    line!(out, "}}");
    line!(out);
    line!(out, "impl std::fmt::Display for {rust} {{");
    line!(out, "fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {{ f.write_str(self.as_str()) }}");
    line!(out, "}}");
    line!(out);
    line!(out, "impl serde::Serialize for {rust} {{");
    line!(out, "fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {{");
    line!(out, "serializer.serialize_str(self.as_str())");
    line!(out, "}}");
    line!(out, "}}");
    line!(out);
    line!(out, "impl<'de> serde::Deserialize<'de> for {rust} {{");
    line!(out, "fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {{");
    line!(out, "crate::enum_value::deserialize(deserializer)");
    line!(out, "}}");
    line!(out, "}}");
    line!(out);
    line!(out, "impl crate::render::Render for {rust} {{");
    line!(out, "fn render(&self) -> String {{ self.as_str().to_owned() }}");
    line!(out, "}}");
    line!(out);
    Ok(())
}
