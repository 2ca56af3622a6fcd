//! Policy tests (`orgplan test`): files named `*.test.yaml` / `*.test.yml` beside the
//! policy state who can do what, and every change to the policy is checked against them.
//!
//! ```text
//! *.test.yaml ──files──▶ Suites (schema-checked, references checked; file:line kept)
//! (Policy, Suites) ──run──▶ Report (per test: passed / failed, failing users explained)
//! Report ──render──▶ human | json | junit | github
//! ```
//!
//! Sits above `resolve` (the answers are the effective permissions of docs/policy.md, models
//! decided by the same code as `explain --model`) and beside `plan`.

pub mod files;
pub mod model;
pub mod render;
pub mod run;

pub use files::{Case, Suite, TestFiles, load};
pub use run::{Report, run};
