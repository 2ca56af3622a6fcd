//! Talking to the server: requests with `If-Match` when ETags are advertised, the
//! reading of errors, versions of resources, and discovery of what the server supports
//! (`/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::read::joined;
use super::{Discovery, ScimError, ScimProvider, map};
use crate::provider::http::{Method, Response};

impl ScimProvider {
    pub(super) fn discover(&self) -> Result<Discovery, ScimError> {
        // Three independent reads, asked at once.
        let (config, schemas, types) = std::thread::scope(|scope| {
            let schemas = scope.spawn(|| self.list("/Schemas", ""));
            let types = scope.spawn(|| self.list("/ResourceTypes", ""));
            let config = self.get("/ServiceProviderConfig");
            (config, joined(schemas), joined(types))
        });
        let (config, schemas, types) = (config?, schemas?, types?);
        let supported =
            |key: &str| config.get(key).and_then(|f| f.get("supported")) == Some(&json!(true));
        let schemas: BTreeSet<String> = schemas
            .iter()
            .filter_map(|s| s.get("id")?.as_str().map(str::to_owned))
            .collect();
        let by_schema = |schema: &str| {
            types
                .iter()
                .find(|t| t.get("schema").and_then(Value::as_str) == Some(schema))
        };
        let endpoint = |t: &Value| t.get("endpoint").and_then(Value::as_str).map(str::to_owned);
        let extends = |t: Option<&Value>, ext: &str| {
            schemas.contains(ext)
                && t.and_then(|t| t.get("schemaExtensions"))
                    .and_then(Value::as_array)
                    .is_some_and(|list| {
                        list.iter()
                            .any(|e| e.get("schema").and_then(Value::as_str) == Some(ext))
                    })
        };
        let users = by_schema(map::USER);
        let groups = by_schema(map::GROUP);
        let own = |schema: &str| {
            by_schema(schema)
                .filter(|_| schemas.contains(schema))
                .and_then(endpoint)
        };
        let bulk = |key: &str| {
            config
                .get("bulk")
                .and_then(|b| b.get(key))
                .and_then(Value::as_u64)
                .filter(|n| *n > 0)
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        };
        Ok(Discovery {
            patch: supported("patch"),
            max_operations: bulk("maxOperations"),
            max_payload: bulk("maxPayloadSize"),
            etag: supported("etag"),
            filter: supported("filter"),
            users: users.and_then(endpoint).unwrap_or_else(|| "/Users".into()),
            groups: groups
                .and_then(endpoint)
                .unwrap_or_else(|| "/Groups".into()),
            user_ext: extends(users, map::USER_EXT),
            group_ext: extends(groups, map::GROUP_EXT),
            roles: own(map::ROLE),
            org: own(map::ORG),
        })
    }

    /// Send a request; `Err` for no answer, the response (any status) otherwise.
    pub(super) fn send(
        &self,
        method: Method,
        path: &str,
        if_match: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Response, ScimError> {
        let mut extra = vec![("accept", "application/scim+json")];
        if let (Some(etag), true) = (if_match, self.found.etag) {
            extra.push(("if-match", etag));
        }
        // A create or an add that lost its answer may have landed: the operation is
        // re-checked and tried again from the top (see `Run::attempt`), never replayed.
        let _slot = self.slots.take();
        if matches!(method, Method::Post | Method::Patch) {
            return self
                .client
                .send_no_replay(method, path, &extra, body)
                .map_err(|e| ScimError::Lost(e.to_string()));
        }
        Ok(self.client.send(method, path, &extra, body)?)
    }

    pub(super) fn failed(&self, method: Method, path: &str, response: &Response) -> ScimError {
        // A server may echo the request's headers, the token with them.
        let detail = response
            .json()
            .ok()
            .and_then(|v| v.get("detail").and_then(Value::as_str).map(str::to_owned))
            .map(|d| self.client.scrub(&d))
            .unwrap_or_default();
        let hint = match response.status {
            401 | 403 => " (set `ORGPLAN_SCIM_TOKEN` to a bearer token the server accepts)",
            _ => "",
        };
        ScimError::Status {
            method: match method {
                Method::Get => "GET",
                Method::Post => "POST",
                Method::Put => "PUT",
                Method::Patch => "PATCH",
                Method::Delete => "DELETE",
            },
            path: path.split('?').next().unwrap_or_default().to_owned(),
            status: response.status,
            detail,
            hint,
        }
    }

    pub(super) fn get(&self, path: &str) -> Result<Value, ScimError> {
        let response = self.send(Method::Get, path, None, None)?;
        if !response.ok() {
            return Err(self.failed(Method::Get, path, &response));
        }
        Ok(response.json()?)
    }
}

/// The version of a resource: its `ETag` header, else `meta.version`.
pub(super) fn version_of(response: &Response, body: &Value) -> Option<String> {
    response.header("etag").map(str::to_owned).or_else(|| {
        body.get("meta")?
            .get("version")?
            .as_str()
            .map(str::to_owned)
    })
}
