//! One generated module per service model: the shared context ([`Service`]: Rust names, boxing, which shapes
//! need checks) and the file's assembly. The parts live in `types` (structures, enums), `checks`
//! (`Validate` impls and check functions) and `operations` (the `Operation` enum).

mod checks;
mod operations;
mod types;

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Model, Shape};
use crate::names;
use crate::patterns::{self, Compiled};

/// Appends one formatted line to a `String` (the output is rustfmt-ed afterwards, so layout is loose).
macro_rules! line {
    ($out:expr) => {
        $out.push('\n')
    };
    ($out:expr, $($arg:tt)*) => {{
        $out.push_str(&format!($($arg)*));
        $out.push('\n');
    }};
}
pub(crate) use line;

/// A model being generated, with every decision that spans shapes made up front.
pub struct Service<'a> {
    pub model: &'a Model,
    /// Rust type names of structure and enum shapes.
    type_names: BTreeMap<String, String>,
    /// Shapes whose Rust name differs from the model's (a keyword or prelude name), with the new name.
    pub renamed: Vec<(String, String)>,
    /// Pattern shapes whose check is skipped, with why.
    pub skipped_patterns: Vec<(String, String)>,
    /// `(structure, member)` pairs that close a cycle of structures, hence `Box`ed.
    boxed: BTreeSet<(String, String)>,
    /// Compiled patterns by shape.
    patterns: BTreeMap<String, Compiled>,
}

impl<'a> Service<'a> {
    pub fn new(model: &'a Model) -> Result<Self, String> {
        let mut type_names = BTreeMap::new();
        let mut renamed = Vec::new();
        let mut taken = BTreeSet::new();
        let mut patterns = BTreeMap::new();
        let mut skipped_patterns = Vec::new();
        for (name, shape) in &model.shapes {
            if shape.kind == "structure" || shape.enum_values.is_some() {
                let (rust, changed) = names::type_name(name);
                if !taken.insert(rust.clone()) {
                    return Err(format!("two shapes would both be named `{rust}`"));
                }
                if changed {
                    renamed.push((name.clone(), rust.clone()));
                }
                type_names.insert(name.clone(), rust);
            }
            if let Some(pattern) = &shape.pattern {
                let compiled = patterns::compile(pattern);
                if let Compiled::Skipped(why) = &compiled {
                    skipped_patterns.push((name.clone(), why.clone()));
                }
                patterns.insert(name.clone(), compiled);
            }
        }
        let mut service = Service { model, type_names, renamed, skipped_patterns, boxed: BTreeSet::new(), patterns };
        service.boxed = service.find_cycles()?;
        Ok(service)
    }

    pub fn shape(&self, name: &str) -> Result<&'a Shape, String> {
        self.model.shape(name)
    }

    /// The Rust type of a value of `shape` (members wrap it in `Option`).
    pub fn rust_type(&self, name: &str) -> Result<String, String> {
        let shape = self.shape(name)?;
        Ok(match shape.kind.as_str() {
            "structure" => self.type_name(name)?,
            "string" if shape.enum_values.is_some() => self.type_name(name)?,
            "string" => "String".into(),
            "integer" => "i32".into(),
            "long" => "i64".into(),
            "float" | "double" => "f64".into(),
            "boolean" => "bool".into(),
            "timestamp" => "crate::Timestamp".into(),
            "blob" => "bytes::Bytes".into(),
            "list" => format!("Vec<{}>", self.rust_type(&element(name, shape.member.as_ref())?)?),
            "map" => {
                let key = element(name, shape.key.as_ref())?;
                if self.shape(&key)?.kind != "string" {
                    return Err(format!("map `{name}` has non-string keys"));
                }
                format!(
                    "std::collections::BTreeMap<String, {}>",
                    self.rust_type(&element(name, shape.value.as_ref())?)?
                )
            }
            other => return Err(format!("shape `{name}` has unsupported type `{other}`")),
        })
    }

    pub fn type_name(&self, shape: &str) -> Result<String, String> {
        self.type_names.get(shape).cloned().ok_or_else(|| format!("shape `{shape}` has no Rust type"))
    }

    pub fn is_boxed(&self, structure: &str, member: &str) -> bool {
        self.boxed.contains(&(structure.to_owned(), member.to_owned()))
    }

    pub fn pattern(&self, shape: &str) -> Option<&Compiled> {
        self.patterns.get(shape)
    }

    /// Whether validating a value of `shape` can ever report anything (so callers can skip it).
    pub fn needs_check(&self, name: &str) -> Result<bool, String> {
        self.needs_check_in(name, &mut BTreeSet::new())
    }

    fn needs_check_in(&self, name: &str, visiting: &mut BTreeSet<String>) -> Result<bool, String> {
        let shape = self.shape(name)?;
        let len_bounded = shape.min_len()?.is_some() || shape.max_len()?.is_some();
        Ok(match shape.kind.as_str() {
            "string" => len_bounded || shape.enum_values.is_some() || shape.pattern.is_some(),
            "blob" => len_bounded,
            "integer" | "long" | "float" | "double" => shape.min.is_some() || shape.max.is_some(),
            "list" => len_bounded || self.needs_check_in(&element(name, shape.member.as_ref())?, visiting)?,
            "map" => {
                len_bounded
                    || self.needs_check_in(&element(name, shape.key.as_ref())?, visiting)?
                    || self.needs_check_in(&element(name, shape.value.as_ref())?, visiting)?
            }
            "structure" => {
                // A structure already being looked at is decided by the rest of the cycle.
                if !visiting.insert(name.to_owned()) {
                    return Ok(false);
                }
                let mut needs = !shape.required.is_empty();
                for member in shape.members.values() {
                    needs = needs || self.needs_check_in(&member.shape, visiting)?;
                }
                visiting.remove(name);
                needs
            }
            _ => false,
        })
    }

    /// Members whose structure type leads back to the structure holding them: they need a `Box`.
    fn find_cycles(&self) -> Result<BTreeSet<(String, String)>, String> {
        let mut boxed = BTreeSet::new();
        for (name, shape) in &self.model.shapes {
            if shape.kind != "structure" {
                continue;
            }
            for (member_name, member) in &shape.members {
                if self.reaches(&member.shape, name, &mut BTreeSet::new())? {
                    boxed.insert((name.clone(), member_name.clone()));
                }
            }
        }
        Ok(boxed)
    }

    /// Whether structure `from` contains `to` directly (through structure members only: lists and maps are
    /// already indirect).
    fn reaches(&self, from: &str, to: &str, seen: &mut BTreeSet<String>) -> Result<bool, String> {
        let shape = self.shape(from)?;
        if shape.kind != "structure" || !seen.insert(from.to_owned()) {
            return Ok(false);
        }
        if from == to {
            return Ok(true);
        }
        for member in shape.members.values() {
            if self.reaches(&member.shape, to, seen)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// The element shape of a list/map (`member`, `key` or `value`).
pub fn element(owner: &str, r: Option<&crate::model::ShapeRef>) -> Result<String, String> {
    r.map(|r| r.shape.clone()).ok_or_else(|| format!("shape `{owner}` lacks its element shape"))
}

/// The whole (unformatted) module for one model. `source` is the model's file name under `api-models/`.
pub fn module(service: &Service<'_>, source: &str) -> Result<String, String> {
    let model = service.model;
    let mut out = String::new();
    line!(out, "{}", crate::banner(&format!("api-models/{source}"), model.meta("x-smemu-botocore-version")?));
    line!(
        out,
        "//! Shapes, enums, validation and operations of `api-models/{source}`: {} ({}), API version {}.",
        model.meta("serviceId")?,
        model.meta("serviceFullName")?,
        model.meta("apiVersion")?
    );
    line!(out, "//!");
    line!(out, "//! Every structure member is an `Option` (inputs decode leniently; `Validate` reports missing ones).");
    line!(
        out,
        "//! Members bound to HTTP headers, URI labels or the payload are `#[serde(skip)]`: the wire layer fills them."
    );
    line!(out);
    operations::emit(service, &mut out)?;
    for (name, shape) in &model.shapes {
        if shape.kind == "structure" {
            types::structure(service, name, shape, &mut out)?;
            checks::validate_impl(service, name, shape, &mut out)?;
        } else if shape.enum_values.is_some() {
            types::string_enum(service, name, shape, &mut out)?;
        }
    }
    checks::check_fns(service, &mut out)?;
    Ok(out)
}
