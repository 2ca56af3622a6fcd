//! orgplan: policy-as-code for a Claude Team or Enterprise organization.
//!
//! The pipeline, one module per stage:
//!
//! ```text
//! policies/*.yaml ──load──▶ Sources + Documents (every node keeps file:line:col)
//!                 ──validate──▶ Policy (typed, checked)         + Diagnostics
//!                 ──resolve──▶ effective permissions per user  (each value keeps its origin)
//! live URI ──provider.read──▶ LiveState
//! (Policy, LiveState) ──diff──▶ Vec<Operation> ──plan──▶ Plan (safety-checked, serializable)
//! Plan ──provider.apply──▶ ApplyReport (+ audit log)
//! ```
//!
//! The command line (`orgplan validate`, `plan`, `apply`, …) is the binary built on it.

pub mod apply;
pub mod diag;
pub mod diff;
pub mod explain;
pub mod export;
pub mod live;
pub mod load;
pub mod model;
pub mod plan;
pub mod policytest;
pub mod pool;
pub mod provider;
pub mod resolve;
pub mod review;
// The synthetic-org generator belongs to the binary (the hidden `orgplan synth`); the
// digest tests of `plan::canonical` compile it here as well, to check a large org.
#[cfg(test)]
#[expect(dead_code, reason = "the tests use the generator, not the parse floor")]
#[path = "synth.rs"]
mod synth;
pub mod validate;
