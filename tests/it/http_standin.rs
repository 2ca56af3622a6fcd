//! The HTTP/1.1 both stand-in servers speak (`scim_standin.rs`, `anthropic_server.rs`):
//! a listener on 127.0.0.1 that serves each connection on its own thread, one request
//! read per connection, one answer written at once and the connection closed. Each
//! stand-in keeps only its routes. `benches/remote.rs` includes this file by path too.

#![allow(dead_code, reason = "each includer uses a part")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};

use serde_json::Value;

/// One request as read off the wire.
pub struct Request {
    pub method: String,
    /// The request target: the path with its query, as sent.
    pub target: String,
    /// Every header in order, its name lowercased, its value trimmed.
    pub headers: Vec<(String, String)>,
    /// The body as JSON; `Null` when empty or not JSON.
    pub body: Value,
}

impl Request {
    /// The value of the last header called `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The target split into its path and its query (empty when there is none).
    pub fn path_and_query(&self) -> (&str, &str) {
        self.target.split_once('?').unwrap_or((&self.target, ""))
    }
}

/// Listen on a free loopback port and serve every connection with `serve` on a thread of
/// its own, so that requests sent at once are answered at once; the address listened on.
pub fn listen(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let address = listener.local_addr().expect("the listener's address");
    let serve = std::sync::Arc::new(serve);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let serve = std::sync::Arc::clone(&serve);
            std::thread::spawn(move || serve(stream));
        }
    });
    address
}

/// The request line and the headers (name lowercased, value trimmed) of the request
/// `reader` is at, up to the blank line; `None` when the connection ends first.
pub fn read_head(reader: &mut impl BufRead) -> Option<(String, Vec<(String, String)>)> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.trim_end().split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    Some((request_line, headers))
}

/// The whole request on `stream`: head, then a body of `content-length` bytes.
pub fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let (request_line, headers) = read_head(&mut reader)?;
    let length = headers
        .iter()
        .rev()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap_or(0));
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let mut parts = request_line.split_whitespace();
    Some(Request {
        method: parts.next().unwrap_or_default().to_owned(),
        target: parts.next().unwrap_or_default().to_owned(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    })
}

/// Answer `status` with `body` (nothing when empty), `extra` headers (each ending in
/// CRLF) before the content type, then close. One write: an answer in pieces would wait
/// on the client's delayed ACK.
pub fn respond(mut stream: &TcpStream, status: u16, extra: &str, content_type: &str, body: &str) {
    let answer = format!(
        "HTTP/1.1 {status} X\r\n{extra}content-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(answer.as_bytes());
}

/// `text` with its `%XX` escapes decoded (a `%` not followed by two hex digits stays).
pub fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(Ok(b)) = text.get(i + 1..i + 3).map(|h| u8::from_str_radix(h, 16))
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
