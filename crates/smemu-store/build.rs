//! Rebuilds the store when a migration is added to the top-level `migrations/`: `sqlx::migrate!`
//! embeds (and so watches) each file it found, but on stable Rust not the directory itself.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
