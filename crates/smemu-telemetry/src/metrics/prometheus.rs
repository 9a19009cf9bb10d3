//! `GET /metrics`: the recorders' cumulative counts in the Prometheus text format 0.0.4
//! (<https://prometheus.io/docs/instrumenting/exposition_formats/>): counters of invocations and
//! errors, histograms of model, overhead and container latency in seconds.

use std::fmt::Write;

use super::histogram::AtomicHistogram;
use super::recorder::{Latency, Recorders, VariantKey};

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Bucket bounds in seconds. A fine bucket is counted under the first bound at or above its upper
/// edge, so a count may sit one fine bucket (≤ 3 %) higher than a sample's exact value.
const BOUNDS: [f64; 16] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

pub fn render(recorders: &Recorders) -> String {
    let (variants, containers) = recorders.list();
    let mut out = String::new();
    header(&mut out, "smemu_invocations_total", "counter", "InvokeEndpoint requests routed to the variant.");
    for (key, m) in &variants {
        let _ = writeln!(out, "smemu_invocations_total{{{}}} {}", labels(key, None), m.invocations());
    }
    header(
        &mut out,
        "smemu_invocation_errors_total",
        "counter",
        "Invocations whose model answered 4xx or 5xx (or none).",
    );
    for (key, m) in &variants {
        let (e4, e5) = m.errors();
        let l = labels(key, None);
        let _ = writeln!(out, "smemu_invocation_errors_total{{{l},class=\"4xx\"}} {e4}");
        let _ = writeln!(out, "smemu_invocation_errors_total{{{l},class=\"5xx\"}} {e5}");
    }
    let name = "smemu_model_latency_seconds";
    header(&mut out, name, "histogram", "ModelLatency: time the pipeline's containers took, as seen by smemu.");
    for (key, m) in &variants {
        histogram(&mut out, name, &labels(key, None), &m.model);
    }
    let name = "smemu_overhead_latency_seconds";
    header(&mut out, name, "histogram", "OverheadLatency: time smemu added to the model's.");
    for (key, m) in &variants {
        histogram(&mut out, name, &labels(key, None), &m.overhead);
    }
    let name = "smemu_container_latency_seconds";
    header(&mut out, name, "histogram", "ContainerLatency: time each pipeline container took.");
    for (key, container, latency) in &containers {
        histogram(&mut out, name, &labels(key, Some(container)), latency);
    }
    out
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn labels(key: &VariantKey, container: Option<&str>) -> String {
    let mut out = format!(
        "account=\"{}\",region=\"{}\",endpoint=\"{}\",variant=\"{}\"",
        escape(&key.account),
        escape(&key.region),
        escape(&key.endpoint),
        escape(&key.variant)
    );
    if let Some(container) = container {
        let _ = write!(out, ",container=\"{}\"", escape(container));
    }
    out
}

/// Label values escape backslash, double quote and line feed (the text format's rule).
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn histogram(out: &mut String, name: &str, labels: &str, latency: &Latency) {
    let slots = latency.histogram.load();
    let mut cumulative = 0u64;
    let mut slot = 0;
    for bound in BOUNDS {
        let bound_micros = bound * 1e6;
        while slot < slots.len() && AtomicHistogram::upper_bound_of_slot(slot) <= bound_micros {
            cumulative += slots[slot];
            slot += 1;
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
    }
    let total: u64 = slots.iter().sum();
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {total}");
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", latency.sum() as f64 / 1e6);
    let _ = writeln!(out, "{name}_count{{{labels}}} {total}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::recorder::Outcome;

    #[test]
    fn counters_and_histograms_are_rendered_cumulatively() {
        let recorders = Recorders::default();
        let key = VariantKey { account: "1".into(), region: "r".into(), endpoint: "e\"x".into(), variant: "v".into() };
        let variant = recorders.variant(&key);
        variant.record(2_000, 100, Outcome::Ok);
        variant.record(200_000, 100, Outcome::Error5xx);
        recorders.container(&key, "c1").record(1_500);
        let text = render(&recorders);
        let l = "account=\"1\",region=\"r\",endpoint=\"e\\\"x\",variant=\"v\"";
        assert!(text.contains(&format!("smemu_invocations_total{{{l}}} 2\n")), "{text}");
        assert!(text.contains(&format!("smemu_invocation_errors_total{{{l},class=\"5xx\"}} 1\n")));
        assert!(text.contains(&format!("smemu_model_latency_seconds_bucket{{{l},le=\"0.0025\"}} 1\n")));
        assert!(text.contains(&format!("smemu_model_latency_seconds_bucket{{{l},le=\"0.25\"}} 2\n")));
        assert!(text.contains(&format!("smemu_model_latency_seconds_count{{{l}}} 2\n")));
        assert!(text.contains(&format!("smemu_container_latency_seconds_count{{{l},container=\"c1\"}} 1\n")));
    }
}
