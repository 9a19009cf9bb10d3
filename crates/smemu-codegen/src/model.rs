//! The botocore service-2 model, as far as the generator reads it (unknown keys are ignored).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// One `service-2.json`. Maps are `BTreeMap`s: output order is sorted by name, so it never depends on the file.
#[derive(Debug, Deserialize)]
pub struct Model {
    pub metadata: BTreeMap<String, serde_json::Value>,
    pub operations: BTreeMap<String, Operation>,
    pub shapes: BTreeMap<String, Shape>,
}

#[derive(Debug, Deserialize)]
pub struct Operation {
    pub name: String,
    pub input: Option<ShapeRef>,
    pub output: Option<ShapeRef>,
}

#[derive(Debug, Deserialize)]
pub struct ShapeRef {
    pub shape: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Shape {
    #[serde(rename = "type")]
    pub kind: String,
    pub members: BTreeMap<String, Member>,
    pub required: Vec<String>,
    pub member: Option<ShapeRef>,
    pub key: Option<ShapeRef>,
    pub value: Option<ShapeRef>,
    /// Kept as JSON numbers so that messages print the bound exactly as the model writes it.
    pub min: Option<serde_json::Number>,
    pub max: Option<serde_json::Number>,
    pub pattern: Option<String>,
    #[serde(rename = "enum")]
    pub enum_values: Option<Vec<String>>,
    pub exception: bool,
    pub payload: Option<String>,
    pub union: bool,
}

#[derive(Debug, Deserialize)]
pub struct Member {
    pub shape: String,
    pub location: Option<String>,
    #[serde(rename = "locationName")]
    pub location_name: Option<String>,
    /// The member is an event's payload (event streams): the frame's body, not a JSON member.
    #[serde(default)]
    pub eventpayload: bool,
}

impl Model {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn shape(&self, name: &str) -> Result<&Shape, String> {
        self.shapes.get(name).ok_or_else(|| format!("shape `{name}` is referenced but not defined"))
    }

    pub fn meta(&self, key: &str) -> Result<&str, String> {
        self.metadata.get(key).and_then(|v| v.as_str()).ok_or_else(|| format!("metadata.{key} is missing"))
    }
}

impl Shape {
    /// A non-zero `min` (a zero minimum constrains nothing for lengths) as a usize.
    pub fn min_len(&self) -> Result<Option<u64>, String> {
        len_bound(self.min.as_ref()).map(|m| m.filter(|&m| m > 0))
    }

    pub fn max_len(&self) -> Result<Option<u64>, String> {
        len_bound(self.max.as_ref())
    }
}

fn len_bound(n: Option<&serde_json::Number>) -> Result<Option<u64>, String> {
    n.map(|n| n.as_u64().ok_or_else(|| format!("length bound {n} is not a non-negative integer"))).transpose()
}
