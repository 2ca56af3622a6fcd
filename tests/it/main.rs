//! Integration tests, compiled as one binary (one link, shared build).

#![expect(clippy::panic, reason = "a test fails by panicking with what it found")]

mod apply;
mod common;
mod crash;
mod roundtrip;
mod validate;
