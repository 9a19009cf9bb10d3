//! Rebuilds the crate when a migration is added under `migrations/logs` or `migrations/metrics`:
//! `sqlx::migrate!` watches each file it found, but on stable Rust not the directory itself.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations/logs");
    println!("cargo:rerun-if-changed=../../migrations/metrics");
}
