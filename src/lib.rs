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

pub mod apply;
pub mod cli;
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
pub mod synth;
pub mod validate;
