//! Integration tests, compiled as one binary (one link, shared build).

// A test reports failure by panicking; the crate-wide ban is for the library and binary.
#![expect(clippy::panic, reason = "tests fail by panicking")]

mod anthropic;
mod anthropic_server;
mod apply;
mod cli;
mod common;
mod crash;
mod explain;
mod github;
mod plan;
mod review;
mod robustness;
mod roundtrip;
mod schema;
mod scim;
mod scim_faults;
mod terminal;
mod validate;
