//! The parts of botocore's `service-2.json` format the generator reads.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Model {
    pub metadata: Metadata,
    /// Operation names (their input and output shapes are reached through `shapes`).
    pub operations: BTreeMap<String, serde_json::Value>,
    pub shapes: BTreeMap<String, Shape>,
}

#[derive(Debug, Deserialize)]
pub struct Metadata {
    #[serde(rename = "x-smemu-botocore-version")]
    pub botocore_version: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ShapeRef {
    pub shape: String,
    #[serde(default)]
    pub location: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Shape {
    #[serde(rename = "type")]
    pub kind: String,
    /// Member order as in the file (the trimmed models are written with sorted keys).
    #[serde(default)]
    pub members: BTreeMap<String, ShapeRef>,
    #[serde(default)]
    pub required: Vec<String>,
    pub member: Option<ShapeRef>,
    pub key: Option<ShapeRef>,
    pub value: Option<ShapeRef>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub pattern: Option<String>,
    #[serde(rename = "enum")]
    pub values: Option<Vec<String>>,
    pub payload: Option<String>,
}

impl Model {
    pub fn parse(text: &str) -> Result<Model, serde_json::Error> {
        serde_json::from_str(text)
    }

    pub fn shape(&self, name: &str) -> Result<&Shape, String> {
        self.shapes.get(name).ok_or_else(|| format!("unknown shape {name}"))
    }
}
