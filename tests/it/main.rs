//! Integration tests, compiled as one binary (one link, shared build).

mod common;
mod robustness;
mod schema;
mod validate;
