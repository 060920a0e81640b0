//! Placeholder; replaced by the sibling service example.
fn main() {}
