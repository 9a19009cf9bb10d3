//! Validation code: a `Validate` impl per structure (required members, then each member's checks, in member
//! order) and a private `check_<shape>` function per constrained simple, list and map shape, so a named
//! shape's constraints apply wherever a member uses it.

use std::collections::BTreeSet;

use super::{Service, element, line};
use crate::model::Shape;
use crate::names::{self, str_lit};
use crate::patterns::Compiled;

const OUT: &str = "out: &mut Vec<crate::Violation>";

pub fn validate_impl(service: &Service<'_>, name: &str, shape: &Shape, out: &mut String) -> Result<(), String> {
    let rust = service.type_name(name)?;
    let mut body = String::new();
    for (member_name, member) in &shape.members {
        let field = names::field_name(member_name);
        let path = format!("crate::check::member_path(path, {})", str_lit(&names::path_name(member_name)));
        let required = shape.required.contains(member_name);
        let call =
            if service.needs_check(&member.shape)? { Some(call(service, &member.shape, "v", &path)?) } else { None };
        match (required, call) {
            (true, Some(call)) => {
                line!(body, "match &self.{field} {{");
                line!(body, "Some(v) => {{ {call} }}");
                line!(body, "None => out.push(crate::Violation::null({path})),");
                line!(body, "}}");
            }
            (true, None) => line!(body, "if self.{field}.is_none() {{ out.push(crate::Violation::null({path})); }}"),
            (false, Some(call)) => line!(body, "if let Some(v) = &self.{field} {{ {call} }}"),
            (false, None) => {}
        }
    }
    let (path_arg, out_arg) = if body.is_empty() { ("_path", "_out") } else { ("path", "out") };
    line!(out, "impl crate::Validate for {rust} {{");
    line!(out, "fn validate_into(&self, {path_arg}: &str, {out_arg}: &mut Vec<crate::Violation>) {{");
    out.push_str(&body);
    line!(out, "}}");
    line!(out, "}}");
    line!(out);
    Ok(())
}

/// The statement checking `value` (a reference) of shape `name` at `path` (an expression of type `String`).
fn call(service: &Service<'_>, name: &str, value: &str, path: &str) -> Result<String, String> {
    Ok(if service.shape(name)?.kind == "structure" {
        format!("crate::Validate::validate_into({value}, &{path}, out);")
    } else {
        format!("{}({value}, &{path}, out);", names::check_fn(name))
    })
}

/// The check functions of every non-structure shape some check reaches, sorted by shape name.
pub fn check_fns(service: &Service<'_>, out: &mut String) -> Result<(), String> {
    let mut used = BTreeSet::new();
    let mut todo = Vec::new();
    for shape in service.model.shapes.values().filter(|s| s.kind == "structure") {
        for member in shape.members.values() {
            todo.push(member.shape.clone());
        }
    }
    while let Some(name) = todo.pop() {
        let shape = service.shape(&name)?;
        if shape.kind == "structure" || !service.needs_check(&name)? || !used.insert(name.clone()) {
            continue;
        }
        for r in [&shape.member, &shape.key, &shape.value].into_iter().flatten() {
            todo.push(r.shape.clone());
        }
    }
    for name in &used {
        check_fn(service, name, out)?;
    }
    Ok(())
}

fn check_fn(service: &Service<'_>, name: &str, out: &mut String) -> Result<(), String> {
    let shape = service.shape(name)?;
    let param = match shape.kind.as_str() {
        "string" if shape.enum_values.is_some() => format!("&{}", service.type_name(name)?),
        "string" => "&str".to_owned(),
        "blob" => "&[u8]".to_owned(),
        "list" => format!("&[{}]", service.rust_type(&element(name, shape.member.as_ref())?)?),
        _ => format!("&{}", service.rust_type(name)?),
    };
    let (min, max) = (opt(shape.min_len()?), opt(shape.max_len()?));
    let mut body = String::new();
    match shape.kind.as_str() {
        "string" => {
            let text = if shape.enum_values.is_some() {
                let rust = service.type_name(name)?;
                line!(body, "if let {rust}::Unknown(unknown) = v {{");
                line!(body, "crate::check::enum_value(unknown, {rust}::values(), path, out);");
                line!(body, "}}");
                "v.as_str()"
            } else {
                "v"
            };
            if min != "None" || max != "None" {
                line!(body, "crate::check::length({text}, {text}.chars().count(), {min}, {max}, path, out);");
            }
            if let Some(pattern) = &shape.pattern {
                match service.pattern(name) {
                    Some(Compiled::Regex(anchored)) => pattern_check(&mut body, "regex", pattern, anchored, text),
                    Some(Compiled::Fancy(anchored)) => pattern_check(&mut body, "fancy", pattern, anchored, text),
                    Some(Compiled::Skipped(why)) => {
                        line!(body, "// The pattern check is skipped: {why}.");
                        line!(body, "let _ = ({text}, path, &out);");
                    }
                    None => return Err(format!("pattern of `{name}` was not compiled")),
                }
            }
        }
        "blob" => {
            line!(body, "crate::check::length(&crate::render::ByteCount(v.len()), v.len(), {min}, {max}, path, out);");
        }
        "integer" | "long" | "float" | "double" => {
            let float = matches!(shape.kind.as_str(), "float" | "double");
            for (bound, check) in [(&shape.min, "min_value"), (&shape.max, "max_value")] {
                if let Some(n) = bound {
                    line!(
                        body,
                        "crate::check::{check}(v, {}, {}, path, out);",
                        number_lit(name, n, float, &shape.kind)?,
                        str_lit(&n.to_string())
                    );
                }
            }
        }
        "list" => {
            if min != "None" || max != "None" {
                line!(body, "crate::check::length(v, v.len(), {min}, {max}, path, out);");
            }
            let item = element(name, shape.member.as_ref())?;
            if service.needs_check(&item)? {
                line!(body, "for (i, item) in v.iter().enumerate() {{");
                line!(body, "{}", call(service, &item, "item", "crate::check::item_path(path, i)")?);
                line!(body, "}}");
            }
        }
        "map" => {
            if min != "None" || max != "None" {
                line!(body, "crate::check::length(v, v.len(), {min}, {max}, path, out);");
            }
            let key = element(name, shape.key.as_ref())?;
            let value = element(name, shape.value.as_ref())?;
            let key_checked = service.needs_check(&key)?;
            let value_checked = service.needs_check(&value)?;
            if key_checked || value_checked {
                if key_checked {
                    line!(body, "// Keys are reported together, against the whole map (as the service does).");
                    line!(body, "let mut key_violations = Vec::new();");
                }
                line!(body, "for (key, value) in v {{");
                if key_checked {
                    let key_shape = service.shape(&key)?;
                    let key_arg = if key_shape.enum_values.is_some() {
                        format!("&{}::from(key.as_str())", service.type_name(&key)?)
                    } else {
                        "key".to_owned()
                    };
                    line!(body, "{}({key_arg}, path, &mut key_violations);", names::check_fn(&key));
                }
                if value_checked {
                    line!(body, "{}", call(service, &value, "value", "crate::check::value_path(path, key)")?);
                } else {
                    line!(body, "let _ = value;");
                }
                line!(body, "}}");
                if key_checked {
                    line!(body, "crate::check::map_keys(v, &key_violations, path, out);");
                }
            }
        }
        other => return Err(format!("shape `{name}` of type `{other}` cannot be checked")),
    }
    line!(out, "/// Checks of shape `{name}`.");
    line!(out, "fn {}(v: {param}, path: &str, {OUT}) {{", names::check_fn(name));
    out.push_str(&body);
    line!(out, "}}");
    line!(out);
    Ok(())
}

fn pattern_check(body: &mut String, engine: &str, model: &str, anchored: &str, text: &str) {
    line!(body, "static PATTERN: std::sync::LazyLock<crate::pattern::Pattern> =");
    line!(
        body,
        "std::sync::LazyLock::new(|| crate::pattern::Pattern::{engine}({}, {}));",
        str_lit(model),
        str_lit(anchored)
    );
    line!(body, "crate::check::pattern({text}, &PATTERN, path, out);");
}

fn opt(n: Option<u64>) -> String {
    n.map_or_else(|| "None".to_owned(), |n| format!("Some({n})"))
}

/// A bound as a literal of the shape's Rust type; an integer bound outside that type is an error.
fn number_lit(name: &str, n: &serde_json::Number, float: bool, kind: &str) -> Result<String, String> {
    if float {
        let f = n.as_f64().ok_or_else(|| format!("`{name}`: bound {n} is not a number"))?;
        return Ok(format!("{f:?}"));
    }
    let i = n.as_i64().ok_or_else(|| format!("`{name}`: bound {n} is not an integer"))?;
    if kind == "integer" && i32::try_from(i).is_err() {
        return Err(format!("`{name}`: bound {n} does not fit an i32"));
    }
    Ok(i.to_string())
}
