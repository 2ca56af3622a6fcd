//! Integration tests, compiled as one binary (one link, shared build).

// A test reports failure by panicking; the crate-wide ban is for the library and binary.
// Clippy's `allow-*-in-tests` (clippy.toml) covers `#[test]` functions, not the helpers.
#![expect(clippy::panic, clippy::expect_used, reason = "tests fail by panicking")]

mod anthropic;
mod anthropic_fidelity;
mod anthropic_server;
mod apply;
mod cli;
mod common;
mod crash;
mod docs;
mod explain;
mod fuzz_seeds;
mod github;
mod http_standin;
mod layers;
mod plan;
mod policytest;
mod review;
mod robustness;
mod roundtrip;
mod schema;
mod scim;
mod scim_faults;
mod scim_standin;
mod scim_tls;
mod terminal;
mod trust;
mod validate;
