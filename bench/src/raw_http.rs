//! A minimal HTTP/1.1 keep-alive client for load generation: one connection per client task,
//! requests written whole, responses read to their Content-Length. A general client (reqwest)
//! spends tens of microseconds per request on this machine, which the figures would otherwise
//! count against the server.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::stats::{self, Samples};

/// `clients` connections each sending `method url` with `body` back to back for `duration`;
/// a sample is a 2xx answer whose body does not carry `"error":`.
pub async fn load(
    url: &str,
    method: &str,
    body: &str,
    clients: usize,
    duration: Duration,
) -> Samples {
    load_with_headers(url, method, body, "", clients, duration).await
}

/// [`load`] with extra header lines (each ending in `\r\n`), e.g. an Authorization header.
pub async fn load_with_headers(
    url: &str,
    method: &str,
    body: &str,
    headers: &str,
    clients: usize,
    duration: Duration,
) -> Samples {
    let Some((addr, path)) = split(url) else {
        return Samples::default();
    };
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\naccept: application/json\r\ncontent-type: application/json\r\n{headers}content-length: {}\r\n\r\n{body}",
        body.len()
    );
    let start = Instant::now();
    stats::concurrently(clients, || {
        let (addr, request) = (addr.clone(), request.clone());
        async move {
            let mut samples = Samples::default();
            let Ok(mut conn) = TcpStream::connect(&addr).await else {
                samples.errors += 1;
                return samples;
            };
            let _ = conn.set_nodelay(true);
            let mut buf = Vec::with_capacity(16 * 1024);
            while start.elapsed() < duration {
                let t = Instant::now();
                match exchange(&mut conn, request.as_bytes(), &mut buf).await {
                    Some(true) => samples.push(t.elapsed()),
                    Some(false) => samples.errors += 1,
                    None => {
                        samples.errors += 1;
                        break;
                    }
                }
            }
            samples
        }
    })
    .await
}

/// One request and its response; `None` when the connection broke.
async fn exchange(conn: &mut TcpStream, request: &[u8], buf: &mut Vec<u8>) -> Option<bool> {
    conn.write_all(request).await.ok()?;
    buf.clear();
    loop {
        let mut chunk = [0u8; 8192];
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).ok()?;
            let length = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                let ok = head.starts_with("HTTP/1.1 2");
                let body = &buf[end + 4..end + 4 + length];
                return Some(ok && find(body, b"\"error\":").is_none());
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn split(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("http://")?;
    let (addr, path) = rest.split_once('/').unwrap_or((rest, ""));
    Some((addr.to_string(), format!("/{path}")))
}
