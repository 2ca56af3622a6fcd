//! Admin API response bodies through the `anthropic:` provider's read
//! (`provider::anthropic::read_with`): the input is the body of each `GET` in the order
//! the read asks, separated by a byte 0xFF (never in UTF-8 text); once they run out, each
//! further `GET` is answered with an empty last page. A state that reads is planned
//! against the drift fixture's policy.

#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use orgplan::provider::anthropic::{AnthropicError, read_with};
use orgplan::provider::http::Response;

/// Most `GET`s answered from the input: a read pages through at most this many.
const MAX_CALLS: usize = 256;

fuzz_target!(|data: &[u8]| {
    let mut bodies = data.split(|b| *b == 0xFF);
    let mut calls = 0;
    let mut get = |path: &str| {
        calls += 1;
        if calls > MAX_CALLS {
            return Err(AnthropicError::Unmappable(format!(
                "{path}: too many requests"
            )));
        }
        let body = bodies
            .next()
            .unwrap_or(br#"{"data": [], "has_more": false}"#);
        let response = Response {
            status: 200,
            headers: Vec::new(),
            body: String::from_utf8_lossy(body).into_owned(),
        };
        response.json().map_err(|e| AnthropicError::Shape {
            path: path.to_owned(),
            detail: e.to_string(),
        })
    };
    if let Ok(state) = read_with(&mut get) {
        common::plan_and_render(common::policy(), &state);
    }
});
