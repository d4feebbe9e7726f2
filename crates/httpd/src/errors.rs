//! JSON bodies for the answers hyper writes by itself. When a request cannot be parsed (malformed,
//! URI too long, headers too large) hyper answers 400, 414 or 431 with an empty body before any
//! router sees it. [`JsonErrors`] wraps a connection's stream and, when such a response head goes
//! out, sends it with a JSON `{"error": "..."}` body instead, so that every error a client of
//! ours reads has the same shape.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A stream whose hyper-written error responses get a JSON body.
#[derive(Debug)]
pub struct JsonErrors<Io> {
    inner: Io,
    /// A rewritten response still to be written, and how much of it has been.
    pending: Vec<u8>,
    written: usize,
}

impl<Io> JsonErrors<Io> {
    pub fn new(inner: Io) -> JsonErrors<Io> {
        JsonErrors {
            inner,
            pending: Vec::new(),
            written: 0,
        }
    }
}

/// What an automatic answer of `status` says.
fn message(status: &str) -> Option<&'static str> {
    Some(match status {
        "400" => "malformed HTTP request",
        "414" => "the request URI is too long",
        "431" => "the request headers are too large",
        _ => return None,
    })
}

/// `bytes` rewritten with a JSON body when they are exactly one of hyper's automatic error
/// responses: a whole head with an error status, `content-length: 0`, no content type, nothing
/// after it. Our own error responses always carry a JSON body, so they never match.
pub fn rewrite(bytes: &[u8]) -> Option<Vec<u8>> {
    if !bytes.starts_with(b"HTTP/1.") || !bytes.ends_with(b"\r\n\r\n") {
        return None;
    }
    let head = std::str::from_utf8(bytes).ok()?;
    let mut lines = head[..head.len() - 4].split("\r\n");
    let status_line = lines.next()?;
    let status = status_line.split(' ').nth(1)?;
    let message = message(status)?;
    let headers: Vec<&str> = lines.collect();
    let header = |name: &str| {
        headers.iter().find_map(|h| {
            let (n, v) = h.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    };
    if header("content-length") != Some("0") || header("content-type").is_some() {
        return None;
    }
    let body = serde_json::json!({ "error": message }).to_string();
    let mut out = format!(
        "{status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for h in headers {
        let name = h.split_once(':').map_or(h, |(n, _)| n).trim();
        if !name.eq_ignore_ascii_case("content-length") && !name.eq_ignore_ascii_case("connection")
        {
            out.push_str(h);
            out.push_str("\r\n");
        }
    }
    out.push_str("connection: close\r\n\r\n");
    out.push_str(&body);
    Some(out.into_bytes())
}

impl<Io: AsyncWrite + Unpin> JsonErrors<Io> {
    /// Writes what is left of a rewritten response.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        if !self.pending.is_empty() {
            self.pending.clear();
            self.written = 0;
        }
        Poll::Ready(Ok(()))
    }

    /// Takes `bytes` as written when they are an automatic error response, sending the rewrite.
    fn poll_rewrite(
        &mut self,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Option<Poll<io::Result<usize>>> {
        let rewritten = rewrite(bytes)?;
        self.pending = rewritten;
        self.written = 0;
        Some(match self.poll_pending(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            // The rest goes out on the next write, flush or shutdown.
            _ => Poll::Ready(Ok(bytes.len())),
        })
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for JsonErrors<Io> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for JsonErrors<Io> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        if let Some(done) = this.poll_rewrite(cx, buf) {
            return done;
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        // An automatic response is a head alone, in the first slice.
        let only = bufs.iter().filter(|b| !b.is_empty()).count() == 1;
        if only
            && let Some(first) = bufs.iter().find(|b| !b.is_empty())
            && let Some(done) = this.poll_rewrite(cx, first)
        {
            return done;
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyper_automatic_errors_get_a_json_body() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Tue, 01 Dec 2026 15:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(rewrite(head).expect("rewritten")).expect("utf-8");
        let (head, body) = out.split_once("\r\n\r\n").expect("a head");
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(head.contains("content-type: application/json"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert!(head.contains("date: Tue"));
        assert!(head.contains("connection: close"));
        let json: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(json["error"], "the request headers are too large");
    }

    #[test]
    fn our_own_responses_pass_untouched() {
        for bytes in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\nleftover",
            b"{\"HTTP/1.1 400\"}",
        ] {
            assert_eq!(rewrite(bytes), None, "{}", String::from_utf8_lossy(bytes));
        }
    }
}
