//! The HTTP side of the Admin API: one request with its headers (the beta header each
//! endpoint documents), the spend-limit pacing, error answers and scrubbing the key.

use std::time::Instant;

use serde_json::Value;

use super::read::Paging;
use super::{AnthropicError, AnthropicProvider, BETA_SPEND_READS, BETA_USER_MANAGEMENT};
use crate::provider::http::Method;

impl AnthropicProvider {
    /// Wait until the minimum interval since the last spend-limit request has passed.
    /// The lock is held while waiting, so requests from several threads queue behind it
    /// and the pace holds whichever thread sends.
    fn pace(&self) {
        let mut last = self.last_spend.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = *last {
            let since = at.elapsed();
            if since < self.spend_interval {
                std::thread::sleep(self.spend_interval - since);
            }
        }
        *last = Some(Instant::now());
    }

    /// One request; the JSON body of a 2xx answer, else the documented error.
    pub(super) fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, AnthropicError> {
        if path.starts_with("/v1/organizations/spend_limits") {
            self.pace();
        }
        // A POST creates (a group, an invite, a member, a spend limit): one whose answer
        // was lost may have landed, so it is not sent again blindly; the apply stops and
        // a new plan, which re-reads the org, finishes the job.
        let extra: Vec<(&str, &str)> = beta_for(method, path)
            .map(|beta| vec![("anthropic-beta", beta)])
            .unwrap_or_default();
        let response = if method == Method::Post {
            self.client.send_no_replay(method, path, &extra, body)?
        } else {
            self.client.send(method, path, &extra, body)?
        };
        let bare = path.split('?').next().unwrap_or_default().to_owned();
        if response.ok() {
            return response.json().map_err(|e| AnthropicError::Shape {
                path: bare,
                detail: e.to_string(),
            });
        }
        let (kind, message) = error_of(&response);
        Err(AnthropicError::Api {
            method: method_name(method),
            path: bare,
            status: response.status,
            kind: self.scrub(&kind),
            message: self.scrub(&message),
        })
    }

    /// `text` with the key replaced, should a server ever echo it.
    pub(super) fn scrub(&self, text: &str) -> String {
        if self.key.0.is_empty() {
            text.to_owned()
        } else {
            text.replace(&self.key.0, "***")
        }
    }

    /// Every item of a list, through this provider's client.
    pub(super) fn list(&self, path: &str, paging: Paging) -> Result<Vec<Value>, AnthropicError> {
        super::read::list(&mut |url| self.call(Method::Get, url, None), path, paging)
    }
}

/// The `error.type` and `error.message` of an Anthropic API error answer (every Anthropic
/// API, the Analytics one included, answers errors in this shape); the first 200
/// characters of the body when it is not JSON. Not yet scrubbed of the key.
pub(crate) fn error_of(response: &crate::provider::http::Response) -> (String, String) {
    let body = response.json().unwrap_or(Value::Null);
    let kind = body
        .pointer("/error/type")
        .and_then(Value::as_str)
        .unwrap_or("error")
        .to_owned();
    let message = body
        .pointer("/error/message")
        .and_then(Value::as_str)
        .map_or_else(|| response.body.chars().take(200).collect(), str::to_owned);
    (kind, message)
}

/// The `anthropic-beta` value the reference documents for a request, if any.
fn beta_for(method: Method, path: &str) -> Option<&'static str> {
    let path = path.split('?').next().unwrap_or_default();
    if path.starts_with("/v1/organizations/rbac_groups")
        || path.starts_with("/v1/organizations/rbac_roles")
    {
        Some(BETA_USER_MANAGEMENT)
    } else if method == Method::Get && path == "/v1/organizations/spend_limits" {
        Some(BETA_SPEND_READS)
    } else {
        None
    }
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    use super::super::SPEND_INTERVAL;
    use crate::provider::http::{Network, Policy as HttpPolicy};
    #[test]
    fn the_key_is_scrubbed_and_never_in_debug() {
        let provider = AnthropicProvider::new(
            "http://127.0.0.1:9",
            "sk-secret",
            HttpPolicy::default(),
            &Network::default(),
            SPEND_INTERVAL,
            PathBuf::from("audit.jsonl"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(provider.scrub("bad key sk-secret"), "bad key ***");
        assert!(!format!("{provider:?}").contains("sk-secret"));
        assert!(
            AnthropicProvider::new(
                "ftp://x",
                "k",
                HttpPolicy::default(),
                &Network::default(),
                SPEND_INTERVAL,
                PathBuf::new()
            )
            .is_err()
        );
    }

    #[test]
    fn beta_headers_follow_the_reference_per_endpoint() {
        assert_eq!(
            beta_for(Method::Get, "/v1/organizations/rbac_groups?limit=1"),
            Some(BETA_USER_MANAGEMENT)
        );
        assert_eq!(
            beta_for(Method::Delete, "/v1/organizations/rbac_groups/g/members/u"),
            Some(BETA_USER_MANAGEMENT)
        );
        assert_eq!(
            beta_for(Method::Get, "/v1/organizations/rbac_roles/r/permissions"),
            Some(BETA_USER_MANAGEMENT)
        );
        assert_eq!(
            beta_for(Method::Get, "/v1/organizations/spend_limits?limit=100"),
            Some(BETA_SPEND_READS)
        );
        assert_eq!(
            beta_for(Method::Post, "/v1/organizations/spend_limits"),
            None
        );
        assert_eq!(beta_for(Method::Get, "/v1/organizations/users"), None);
    }
}
