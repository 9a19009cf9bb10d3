//! The `smemu` binary (work in progress).
fn main() {}
