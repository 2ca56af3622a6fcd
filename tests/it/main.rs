//! Integration tests, compiled as one binary (one link, shared build).

// A test reports failure by panicking; the crate-wide ban is for the library and binary.
#![expect(clippy::panic, reason = "tests fail by panicking")]

mod common;
mod robustness;
mod schema;
mod validate;
