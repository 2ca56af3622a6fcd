//! Integration tests, compiled as one binary (one link, shared build).

mod common;
mod validate;
