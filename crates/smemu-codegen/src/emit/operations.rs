//! The `Operation` enum: one variant per operation of the model, with its wire name and shapes.

use super::{Service, line};
use crate::names::str_lit;

pub fn emit(service: &Service<'_>, out: &mut String) -> Result<(), String> {
    let ops = &service.model.operations;
    for (key, op) in ops {
        if key != &op.name || !op.name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("operation `{key}` has an unexpected name `{}`", op.name));
        }
    }
    line!(out, "/// The operations of the model ({} of them), by wire name.", ops.len());
    line!(out, "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]");
    line!(out, "pub enum Operation {{");
    for op in ops.values() {
        let input = op.input.as_ref().map_or_else(|| "no input".to_owned(), |r| format!("input `{}`", r.shape));
        let output = op.output.as_ref().map_or_else(|| "no output".to_owned(), |r| format!("output `{}`", r.shape));
        line!(out, "/// `{}`: {input}, {output}.", op.name);
        line!(out, "{},", op.name);
    }
    line!(out, "}}");
    line!(out);
    line!(out, "impl Operation {{");
    line!(out, "/// Every operation, sorted by name.");
    line!(
        out,
        "pub const ALL: &'static [Operation] = &[{}];",
        ops.keys().map(|n| format!("Self::{n}")).collect::<Vec<_>>().join(", ")
    );
    line!(out);
    line!(out, "/// The operation's wire name (`X-Amz-Target` suffix / model name).");
    line!(out, "pub fn name(&self) -> &'static str {{");
    line!(out, "match self {{");
    for name in ops.keys() {
        line!(out, "Self::{name} => {},", str_lit(name));
    }
    line!(out, "}}");
    line!(out, "}}");
    line!(out);
    line!(out, "/// The operation with this wire name (case-sensitive).");
    line!(out, "pub fn from_name(name: &str) -> Option<Operation> {{");
    line!(out, "match name {{");
    for name in ops.keys() {
        line!(out, "{} => Some(Self::{name}),", str_lit(name));
    }
    line!(out, "_ => None,");
    line!(out, "}}");
    line!(out, "}}");
    line!(out);
    for (what, doc) in [("input", "input"), ("output", "output")] {
        line!(out, "/// The name of the operation's {doc} shape, if it has one.");
        line!(out, "pub fn {what}_shape(&self) -> Option<&'static str> {{");
        line!(out, "match self {{");
        for (name, op) in ops {
            let r = if what == "input" { &op.input } else { &op.output };
            match r {
                Some(r) => line!(out, "Self::{name} => Some({}),", str_lit(&r.shape)),
                None => line!(out, "Self::{name} => None,"),
            }
        }
        line!(out, "}}");
        line!(out, "}}");
        line!(out);
    }
    line!(out, "}}");
    line!(out);
    line!(out, "impl std::fmt::Display for Operation {{");
    line!(out, "fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {{ f.write_str(self.name()) }}");
    line!(out, "}}");
    line!(out);
    Ok(())
}
