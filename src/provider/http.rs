//! The HTTP client shared by the remote providers (SCIM, Anthropic Admin API).
//!
//! Every request has a timeout; 429 and 5xx answers and dropped connections are retried a
//! bounded number of times, waiting what `Retry-After` says or else an exponential backoff
//! with jitter. Credentials are headers marked secret: they never appear in `Debug`, in an
//! error or in a log line, and URLs are printed without their query string.
//!
//! TLS and proxies the way companies run them ([`Network`]): the CAs of a PEM bundle named
//! by `SSL_CERT_FILE` are trusted besides the system's, and `HTTPS_PROXY` / `HTTP_PROXY` /
//! `ALL_PROXY` with `NO_PROXY` route the connection. A certificate that does not verify is
//! an error naming the host, the reason and how to trust a private CA; it never falls back
//! to plain HTTP or to skipping verification.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ureq::http;

/// A header value that must never be printed (a bearer token, an API key).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the places that send it (headers, built by the providers from the
    /// settings) and for scrubbing echoes of it from a server's answers.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// HTTP methods the providers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// An answer from the server (any status: the provider decides what a status means).
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Response headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl Response {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// True for 2xx.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON (`null` when empty).
    pub fn json(&self) -> Result<serde_json::Value, HttpError> {
        if self.body.trim().is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_str(&self.body).map_err(|e| HttpError::Body(e.to_string()))
    }
}

/// Why a request failed for good.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// No answer: connection refused or dropped, timeout — after every retry.
    #[error("{method} {url} failed after {attempts} attempts: {detail}")]
    Transport {
        /// Method.
        method: &'static str,
        /// URL without query string.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        detail: String,
    },
    /// The body is not the JSON the provider expected.
    #[error("the server's answer is not valid JSON: {0}")]
    Body(String),
    /// The server's certificate does not verify: never retried, never bypassed.
    #[error(
        "the TLS certificate of `{host}` is not trusted: {why}\n  to trust a private CA: set `SSL_CERT_FILE=/path/to/ca-bundle.pem` (PEM; its CAs are trusted besides the system's)"
    )]
    Certificate {
        /// Host (and port) of the server.
        host: String,
        /// What the TLS library found wrong, in words.
        why: String,
    },
    /// `SSL_CERT_FILE` names a file that cannot be read or holds no certificate.
    #[error("`SSL_CERT_FILE` `{path}`: {detail}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A proxy variable that is not a proxy URL.
    #[error("`{var}` is not a usable proxy URL (`{value}`): {detail}")]
    Proxy {
        /// The variable.
        var: &'static str,
        /// Its value, without credentials.
        value: String,
        /// What is wrong.
        detail: String,
    },
    /// A path that does not start with `/` (an absolute URL, say, taken from a server's
    /// answer): it could name another host, so it is never sent, credentials and all.
    #[error("refusing to send a request outside the base URL `{base}`: `{path}`")]
    OutsideBase {
        /// The base URL.
        base: String,
        /// The path, without query string.
        path: String,
    },
}

/// Retry and timeout settings.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Timeout of one request, connection included.
    pub timeout: Duration,
    /// Attempts in all (the first one included).
    pub attempts: u32,
    /// First backoff delay; doubles every retry.
    pub base_delay: Duration,
    /// Longest wait between attempts, `Retry-After` included.
    pub max_delay: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            timeout: Duration::from_secs(30),
            attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl Policy {
    /// The defaults, adjusted by `ORGPLAN_HTTP_TIMEOUT` (seconds), `ORGPLAN_HTTP_ATTEMPTS`
    /// and `ORGPLAN_HTTP_BACKOFF_MS` as `get` finds them (the CLI looks them up in the
    /// environment) — for slow links, and for tests that inject faults.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let mut policy = Policy::default();
        let number = |name: &str| get(name).and_then(|v| v.parse::<u64>().ok());
        if let Some(seconds) = number("ORGPLAN_HTTP_TIMEOUT") {
            policy.timeout = Duration::from_secs(seconds.max(1));
        }
        if let Some(attempts) = number("ORGPLAN_HTTP_ATTEMPTS") {
            policy.attempts = attempts.clamp(1, 20) as u32;
        }
        if let Some(ms) = number("ORGPLAN_HTTP_BACKOFF_MS") {
            policy.base_delay = Duration::from_millis(ms);
            policy.max_delay = policy
                .max_delay
                .min(Duration::from_millis(ms.saturating_mul(64)).max(Duration::from_millis(ms)));
        }
        policy
    }
}

/// Where the system's trusted CAs are kept, first found wins (Debian/Ubuntu/Alpine, Fedora/
/// RHEL, macOS/BSD, openSUSE).
const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

/// How connections are made: extra trusted CAs and a proxy. [`Network::from_lookup`] reads
/// the standard variables; tests build one directly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Network {
    /// A PEM bundle of CAs trusted besides the system's (`SSL_CERT_FILE`).
    pub ca_file: Option<PathBuf>,
    /// Proxy for `https://` (`HTTPS_PROXY`, else `ALL_PROXY`).
    pub https_proxy: Option<String>,
    /// Proxy for `http://` (`HTTP_PROXY`, else `ALL_PROXY`).
    pub http_proxy: Option<String>,
    /// Hosts reached directly (`NO_PROXY`: `host`, `.domain` or `domain` for the domain
    /// and its subdomains, `*` for every host; ports ignored).
    pub no_proxy: Option<String>,
}

impl Network {
    /// `SSL_CERT_FILE`, `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY` as `get` finds
    /// them (each also in lowercase, the curl convention; the uppercase one wins).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let var = |name: &str| {
            get(name)
                .or_else(|| get(&name.to_ascii_lowercase()))
                .filter(|v| !v.trim().is_empty())
        };
        let all = var("ALL_PROXY");
        Network {
            ca_file: var("SSL_CERT_FILE").map(PathBuf::from),
            https_proxy: var("HTTPS_PROXY").or_else(|| all.clone()),
            http_proxy: var("HTTP_PROXY").or(all),
            no_proxy: var("NO_PROXY"),
        }
    }

    /// The proxy for a request to `base`, unless `NO_PROXY` names its host. (variable, URL)
    fn proxy_for(&self, base: &str) -> Option<(&'static str, &str)> {
        let https = base.starts_with("https://");
        let (var, proxy) = if https {
            ("HTTPS_PROXY", self.https_proxy.as_deref()?)
        } else {
            ("HTTP_PROXY", self.http_proxy.as_deref()?)
        };
        let host = host_of(base);
        let bypass = self.no_proxy.as_deref().is_some_and(|list| {
            list.split(',').map(str::trim).any(|entry| {
                let entry = entry.trim_start_matches("*.");
                let bare = entry.split(':').next().unwrap_or_default();
                let domain = bare.trim_start_matches('.');
                entry == "*"
                    || (!domain.is_empty()
                        && (host.eq_ignore_ascii_case(domain)
                            || host
                                .to_ascii_lowercase()
                                .ends_with(&format!(".{}", domain.to_ascii_lowercase()))))
            })
        });
        (!bypass).then_some((var, proxy))
    }

    /// The trusted roots: without `SSL_CERT_FILE`, the Mozilla roots built in; with it,
    /// the system bundle (the first of [`SYSTEM_BUNDLES`] found) plus the file's CAs.
    fn roots(&self) -> Result<ureq::tls::RootCerts, HttpError> {
        let Some(path) = &self.ca_file else {
            return Ok(ureq::tls::RootCerts::WebPki);
        };
        let mut certs = read_pem_certs(path)?;
        if certs.is_empty() {
            return Err(HttpError::CaFile {
                path: path.clone(),
                detail: "no `BEGIN CERTIFICATE` block in it (a PEM bundle is expected)".into(),
            });
        }
        if let Some(system) = SYSTEM_BUNDLES.iter().map(Path::new).find(|p| p.is_file()) {
            // The system bundle is best effort: a broken one leaves the named CAs.
            certs.extend(read_pem_certs(system).unwrap_or_default());
        }
        Ok(ureq::tls::RootCerts::new_with_certs(&certs))
    }
}

/// Every certificate of a PEM file.
fn read_pem_certs(path: &Path) -> Result<Vec<ureq::tls::Certificate<'static>>, HttpError> {
    let error = |detail: String| HttpError::CaFile {
        path: path.to_owned(),
        detail,
    };
    let bytes = std::fs::read(path).map_err(|e| error(e.to_string()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&bytes) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(cert)) => certs.push(cert),
            Ok(_) => {}
            Err(e) => return Err(error(format!("not a valid PEM bundle: {e}"))),
        }
    }
    Ok(certs)
}

/// `host[:port]` of a URL, without credentials.
fn authority_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority.rsplit('@').next().unwrap_or(authority)
}

/// The host of a URL, without port.
fn host_of(url: &str) -> &str {
    let authority = authority_of(url);
    if authority.starts_with('[') {
        return authority.split(']').next().map_or(authority, |h| &h[1..]);
    }
    authority.split(':').next().unwrap_or(authority)
}

/// The TLS library's complaint in words.
fn certificate_reason(detail: &str) -> Option<String> {
    let lower = detail.to_ascii_lowercase();
    if !(lower.contains("certificate") || lower.contains("unknownissuer")) {
        return None;
    }
    let why = if lower.contains("unknownissuer") || lower.contains("unknown issuer") {
        "it is issued by a certificate authority this machine does not trust"
    } else if lower.contains("notvalidforname") || lower.contains("not valid for name") {
        "it is not issued for this host name"
    } else if lower.contains("expired") {
        "it has expired"
    } else if lower.contains("notvalidyet") {
        "it is not valid yet"
    } else if lower.contains("revoked") {
        "it has been revoked"
    } else {
        "it does not verify"
    };
    let detail = detail.trim();
    let detail = ["io: ", "rustls: "]
        .iter()
        .fold(detail, |d, prefix| d.strip_prefix(prefix).unwrap_or(d));
    Some(format!("{why} ({detail})"))
}

/// A client for one base URL, with fixed headers (some secret).
pub struct Client {
    agent: ureq::Agent,
    base: String,
    headers: Vec<(String, Secret)>,
    policy: Policy,
    /// Shared by every thread sending through this client: a 429 holds them all.
    gate: super::backoff::Gate,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Client {
    /// A client for `base` (such as `http://127.0.0.1:8080/scim/v2`), sending `headers`
    /// with every request, straight to the server (no proxy, the built-in roots).
    pub fn new(base: &str, headers: Vec<(String, Secret)>, policy: Policy) -> Self {
        let config = Self::config(&policy)
            .tls_config(ureq::tls::TlsConfig::builder().build())
            .proxy(None)
            .build();
        Client {
            agent: config.into(),
            base: base.trim_end_matches('/').to_owned(),
            headers,
            policy,
            gate: super::backoff::Gate::new(),
        }
    }

    /// [`Client::new`] connecting as `network` says: its CAs trusted besides the system's,
    /// through its proxy unless `NO_PROXY` names the host.
    pub fn with_network(
        base: &str,
        headers: Vec<(String, Secret)>,
        policy: Policy,
        network: &Network,
    ) -> Result<Self, HttpError> {
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(network.roots()?)
            .build();
        let proxy = match network.proxy_for(base) {
            None => None,
            Some((var, url)) => Some(ureq::Proxy::new(url).map_err(|e| HttpError::Proxy {
                var,
                value: redact_url(url),
                detail: e.to_string(),
            })?),
        };
        let config = Self::config(&policy).tls_config(tls).proxy(proxy).build();
        Ok(Client {
            agent: config.into(),
            base: base.trim_end_matches('/').to_owned(),
            headers,
            policy,
            gate: super::backoff::Gate::new(),
        })
    }

    fn config(policy: &Policy) -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
        ureq::Agent::config_builder()
            .timeout_global(Some(policy.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
    }

    /// The base URL (no credentials are ever part of it).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `text` with every secret header value replaced by `***` (and the credential of a
    /// `Bearer …` value on its own), for text a server sends back: an error body may echo
    /// the request's headers.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (_, secret) in &self.headers {
            let value = secret.expose();
            let credential = value.split_once(' ').map_or(value, |(_, c)| c).trim();
            for part in [value, credential] {
                if !part.is_empty() {
                    out = out.replace(part, "***");
                }
            }
        }
        out
    }

    /// Send a request to `path` (relative to the base, query included), with `extra`
    /// headers and an optional JSON body. Retries 429, 5xx and dropped connections.
    pub fn send(
        &self,
        method: Method,
        path: &str,
        extra: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<Response, HttpError> {
        self.send_with(method, path, extra, body, true)
    }

    /// [`Client::send`] for a request that must not be sent twice blindly (a POST that
    /// creates, a PATCH that adds): 429 and 5xx answers are retried, but a lost answer
    /// (dropped connection, timeout) is returned at once, since the server may have
    /// acted; the caller checks what landed before trying again.
    pub fn send_no_replay(
        &self,
        method: Method,
        path: &str,
        extra: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<Response, HttpError> {
        self.send_with(method, path, extra, body, false)
    }

    fn send_with(
        &self,
        method: Method,
        path: &str,
        extra: &[(&str, &str)],
        body: Option<&serde_json::Value>,
        replay: bool,
    ) -> Result<Response, HttpError> {
        // The credentials go to the base URL's host only: a path is appended to it, so it
        // must start with `/` (`@other.host/…` or `.other.host/…` would change the host).
        if !path.starts_with('/') {
            return Err(HttpError::OutsideBase {
                base: self.base.clone(),
                path: redact_url(path),
            });
        }
        let url = format!("{}{path}", self.base);
        let body_text = body.map(|b| b.to_string());
        let mut last_error = String::new();
        for attempt in 1..=self.policy.attempts {
            self.gate.wait();
            match self.once(method, &url, extra, body_text.as_deref()) {
                Ok(response) => {
                    let retryable = response.status == 429 || response.status >= 500;
                    if !retryable || attempt == self.policy.attempts {
                        return Ok(response);
                    }
                    let told = retry_after(&response);
                    let wait = told
                        .unwrap_or_else(|| self.backoff(attempt))
                        .min(self.policy.max_delay);
                    // Rate limited: the whole client waits, every thread of it.
                    if response.status == 429 || told.is_some() {
                        self.gate.hold(wait);
                    } else {
                        std::thread::sleep(wait);
                    }
                }
                Err(error) => {
                    if let Some(why) = certificate_reason(&error) {
                        return Err(HttpError::Certificate {
                            host: authority_of(&self.base).to_owned(),
                            why,
                        });
                    }
                    last_error = error;
                    if !replay {
                        return Err(HttpError::Transport {
                            method: method.as_str(),
                            url: redact_url(&url),
                            attempts: attempt,
                            detail: last_error,
                        });
                    }
                    if attempt < self.policy.attempts {
                        std::thread::sleep(self.backoff(attempt));
                    }
                }
            }
        }
        Err(HttpError::Transport {
            method: method.as_str(),
            url: redact_url(&url),
            attempts: self.policy.attempts,
            detail: last_error,
        })
    }

    fn once(
        &self,
        method: Method,
        url: &str,
        extra: &[(&str, &str)],
        body: Option<&str>,
    ) -> Result<Response, String> {
        let mut builder = http::Request::builder().method(method.as_str()).uri(url);
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.expose());
        }
        for (name, value) in extra {
            builder = builder.header(*name, *value);
        }
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        let request = builder
            .body(body.unwrap_or_default().to_owned())
            .map_err(|e| e.to_string())?;
        let mut response = self.agent.run(request).map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|e| e.to_string())?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    // Exponential backoff with "full jitter": a random wait up to base × 2^(attempt-1).
    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .policy
            .base_delay
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(self.policy.max_delay);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() as u64);
        // Half fixed, half random, so a retry never fires at once.
        let half = ceiling / 2;
        half + Duration::from_nanos(nanos % (half.as_nanos().max(1) as u64))
    }
}

// `Retry-After: <seconds>`; the HTTP-date form falls back to backoff.
fn retry_after(response: &Response) -> Option<Duration> {
    response
        .header("retry-after")?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// A URL safe to print: no user info, no query string.
pub fn redact_url(url: &str) -> String {
    if url.starts_with("file:") {
        // A path holds no credentials, and may well contain `@` or `?`.
        return url.to_owned();
    }
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => match url.split_once(':') {
            Some((scheme, rest)) => (format!("{scheme}:"), rest),
            None => (String::new(), url),
        },
    };
    // A password may hold any character, `/ ? # @` included: drop everything before the
    // last `@` (hiding too much is the safe mistake), then the query and the fragment.
    let after_credentials = rest.rsplit('@').next().unwrap_or(rest);
    let without_query = after_credentials
        .split(['?', '#'])
        .next()
        .unwrap_or_default();
    format!("{scheme}{without_query}")
}

/// Percent-encode a query value (RFC 3986): every byte but the unreserved characters
/// `A-Z a-z 0-9 - _ . ~` as `%XX`. SCIM filters and opaque page cursors (which may hold
/// `+`, `/`, `=`) both go through it.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode("userName eq \"a@x.com\""),
            "userName%20eq%20%22a%40x.com%22"
        );
        assert_eq!(encode("pg+/=2"), "pg%2B%2F%3D2");
        assert_eq!(encode("A-z_0.9~é"), "A-z_0.9~%C3%A9");
    }
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    // A one-thread HTTP server answering from a script of (status, headers, body);
    // `None` drops the connection without answering. Records the requests it saw.
    fn server(
        script: Vec<Option<(u16, &'static str, &'static str)>>,
    ) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for step in script {
                let (mut stream, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    head.push_str(&line);
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                log.lock().unwrap().push(head);
                if let Some((status, headers, body)) = step {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                }
            }
        });
        (address, seen)
    }

    fn fast() -> Policy {
        Policy {
            timeout: Duration::from_secs(5),
            attempts: 4,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
        }
    }

    #[test]
    fn retries_429_500_and_dropped_connections_then_succeeds() {
        let (base, seen) = server(vec![
            Some((429, "retry-after: 0\r\n", "")),
            Some((500, "", "oops")),
            None,
            Some((200, "", "{\"ok\":true}")),
        ]);
        let client = Client::new(
            &base,
            vec![("authorization".into(), Secret::new("Bearer s3cret"))],
            fast(),
        );
        let response = client
            .send(Method::Get, "/Users?count=1", &[], None)
            .unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.json().unwrap()["ok"], true);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 4);
        assert!(seen[0].contains("authorization: Bearer s3cret"));
    }

    #[test]
    fn gives_up_after_bounded_attempts_without_leaking_the_secret() {
        let (base, _) = server(vec![None, None, None, None]);
        let client = Client::new(
            &base,
            vec![("authorization".into(), Secret::new("Bearer s3cret"))],
            fast(),
        );
        let error = client
            .send(
                Method::Post,
                "/Users?token=abc",
                &[],
                Some(&serde_json::json!({})),
            )
            .unwrap_err();
        let text = error.to_string();
        assert!(text.contains("failed after 4 attempts"), "{text}");
        assert!(!text.contains("s3cret") && !text.contains("abc"), "{text}");
        assert!(!format!("{client:?}").contains("s3cret"));
    }

    #[test]
    fn a_429_holds_every_thread_of_the_client_not_only_the_one_that_heard_it() {
        let (base, seen) = server(vec![
            Some((429, "retry-after: 1\r\n", "")),
            Some((200, "", "{}")),
            Some((200, "", "{}")),
        ]);
        let policy = Policy {
            max_delay: Duration::from_secs(2),
            ..fast()
        };
        let client = Client::new(&base, Vec::new(), policy);
        let start = std::time::Instant::now();
        let other = std::thread::scope(|scope| {
            let first = scope.spawn(|| client.send(Method::Get, "/a", &[], None));
            // The second thread starts once the first has been told to wait.
            while seen.lock().unwrap().is_empty() {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(50));
            let second = client.send(Method::Get, "/b", &[], None).unwrap();
            let other = start.elapsed();
            assert_eq!(first.join().unwrap().unwrap().status, 200);
            assert_eq!(second.status, 200);
            other
        });
        assert!(other >= Duration::from_millis(900), "{other:?}");
    }

    #[test]
    fn a_4xx_is_an_answer_not_a_retry() {
        let (base, seen) = server(vec![Some((409, "", "{\"scimType\":\"uniqueness\"}"))]);
        let client = Client::new(&base, Vec::new(), fast());
        let response = client
            .send(
                Method::Post,
                "/Users",
                &[],
                Some(&serde_json::json!({"a": 1})),
            )
            .unwrap();
        assert_eq!(response.status, 409);
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_path_that_could_name_another_host_is_never_sent() {
        let (base, seen) = server(vec![Some((200, "", "{}"))]);
        let client = Client::new(
            &base,
            vec![("authorization".into(), Secret::new("Bearer s3cret"))],
            fast(),
        );
        for path in [
            "http://127.0.0.2:9/Users",
            "@127.0.0.2:9/Users",
            ".x/Users",
            "",
        ] {
            let error = client.send(Method::Get, path, &[], None).unwrap_err();
            assert!(matches!(error, HttpError::OutsideBase { .. }), "{error}");
        }
        assert!(seen.lock().unwrap().is_empty());
    }

    #[test]
    fn credentials_with_any_character_are_never_printed() {
        for url in [
            "scim+http://bob:pa/ssw0rd@127.0.0.1:1/scim",
            "scim+http://bob:pa?ss#w@127.0.0.1:1/scim",
            "scim+http:/bob:secret@127.0.0.1:1/scim",
        ] {
            let shown = redact_url(url);
            assert!(
                !shown.contains("bob") && !shown.contains("ss"),
                "{url} -> {shown}"
            );
            assert!(shown.ends_with("127.0.0.1:1/scim"), "{url} -> {shown}");
        }
        assert_eq!(
            redact_url("file:/srv/a@b/live.json?x"),
            "file:/srv/a@b/live.json?x"
        );
    }

    #[test]
    fn urls_are_printed_without_credentials_or_query() {
        assert_eq!(
            redact_url("https://u:p@h.example/scim/v2?x=1"),
            "https://h.example/scim/v2"
        );
        assert_eq!(redact_url("http://127.0.0.1:9/a#f"), "http://127.0.0.1:9/a");
    }

    #[test]
    fn the_proxy_follows_the_scheme_and_no_proxy_bypasses_it() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            Network::from_lookup(move |name| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            })
        };
        let network = env(&[
            ("https_proxy", "http://proxy:3128"),
            ("HTTP_PROXY", "http://plain:8080"),
            ("NO_PROXY", "localhost, .corp.example,10.0.0.1:443"),
            ("SSL_CERT_FILE", "/etc/corp-ca.pem"),
        ]);
        assert_eq!(network.ca_file, Some(PathBuf::from("/etc/corp-ca.pem")));
        assert_eq!(
            network.proxy_for("https://api.anthropic.com"),
            Some(("HTTPS_PROXY", "http://proxy:3128"))
        );
        assert_eq!(
            network.proxy_for("http://idp.example/scim"),
            Some(("HTTP_PROXY", "http://plain:8080"))
        );
        for direct in [
            "https://localhost:8443/v2",
            "https://scim.corp.example/v2",
            "https://corp.example",
            "https://10.0.0.1/x",
        ] {
            assert_eq!(network.proxy_for(direct), None, "{direct}");
        }
        assert!(network.proxy_for("https://notcorp.example").is_some());
        let all = env(&[("ALL_PROXY", "http://all:1"), ("NO_PROXY", "*")]);
        assert_eq!(all.proxy_for("https://x"), None);
        assert_eq!(
            env(&[("ALL_PROXY", "http://all:1")]).proxy_for("https://x"),
            Some(("HTTPS_PROXY", "http://all:1"))
        );
    }

    #[test]
    fn a_ca_file_that_is_not_a_pem_bundle_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let network = Network {
            ca_file: Some(path.clone()),
            ..Network::default()
        };
        let error = Client::with_network("https://x", Vec::new(), fast(), &network)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("SSL_CERT_FILE") && error.contains("ca.pem"),
            "{error}"
        );
        let missing = Network {
            ca_file: Some(dir.path().join("nope.pem")),
            ..Network::default()
        };
        assert!(Client::with_network("https://x", Vec::new(), fast(), &missing).is_err());
    }

    #[test]
    fn hosts_and_certificate_reasons_are_told_in_words() {
        assert_eq!(host_of("https://u:p@h.example:8443/scim?x"), "h.example");
        assert_eq!(
            authority_of("https://u:p@h.example:8443/scim?x"),
            "h.example:8443"
        );
        assert_eq!(host_of("http://[::1]:80/"), "::1");
        let why = certificate_reason("io: invalid peer certificate: UnknownIssuer");
        assert_eq!(
            why.as_deref(),
            Some(
                "it is issued by a certificate authority this machine does not trust (invalid peer certificate: UnknownIssuer)"
            )
        );
        assert!(certificate_reason("Connection refused").is_none());
    }
}
