//! Integration tests, compiled as one binary (one link, shared build).

// A test fails by panicking; the workspace denies `panic` for the code it ships.
#![expect(clippy::panic, reason = "tests fail by panicking")]

mod common;
mod plan;
mod validate;
