//! How a value is stored: the body, prefixed with the Content-Type it was stored with.
//!
//! Layout: `0xC0 0x4B <len: u8> <content type: len bytes> <body>`. `0xC0` never starts valid
//! UTF-8, so a text value ingested from someone else's SST files is never mistaken for one of
//! ours, and the Content-Type must be printable ASCII, so a binary one rarely is (the odds are
//! those of its first three bytes being `C0 4B 00`, or of a longer run of printable bytes after
//! `C0 4B n`); such foreign values are served verbatim as `application/octet-stream`.

use bytes::Bytes;

const MAGIC: [u8; 2] = [0xC0, 0x4B];
/// Served when a value was stored without a Content-Type, or came without our header.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";
/// Longest Content-Type kept (the length is one byte).
pub const MAX_CONTENT_TYPE: usize = 255;

/// Encodes a value for storage. `content_type` must be at most [`MAX_CONTENT_TYPE`] bytes.
pub fn encode(content_type: Option<&str>, body: &[u8]) -> Vec<u8> {
    let ct = content_type.unwrap_or("").as_bytes();
    debug_assert!(ct.len() <= MAX_CONTENT_TYPE);
    let mut out = Vec::with_capacity(3 + ct.len() + body.len());
    out.extend_from_slice(&MAGIC);
    out.push(ct.len() as u8);
    out.extend_from_slice(ct);
    out.extend_from_slice(body);
    out
}

/// A stored value, split into its Content-Type and body without copying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredValue {
    raw: Bytes,
    body_start: usize,
}

impl StoredValue {
    pub fn decode(raw: Bytes) -> StoredValue {
        let body_start = match raw.get(..3) {
            Some([0xC0, 0x4B, len])
                if raw
                    .get(3..3 + *len as usize)
                    .is_some_and(|ct| ct.iter().all(|b| (0x20..0x7f).contains(b))) =>
            {
                3 + *len as usize
            }
            _ => 0,
        };
        StoredValue { raw, body_start }
    }

    pub fn content_type(&self) -> &str {
        let ct = self.raw.get(3..self.body_start).unwrap_or_default();
        match std::str::from_utf8(ct) {
            Ok(ct) if !ct.is_empty() => ct,
            _ => DEFAULT_CONTENT_TYPE,
        }
    }

    pub fn body(&self) -> Bytes {
        self.raw.slice(self.body_start..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let v = StoredValue::decode(encode(Some("application/json"), b"{}").into());
        assert_eq!(v.content_type(), "application/json");
        assert_eq!(&v.body()[..], b"{}");
        let v = StoredValue::decode(encode(None, b"\xC0\x4B").into());
        assert_eq!(v.content_type(), DEFAULT_CONTENT_TYPE);
        assert_eq!(&v.body()[..], b"\xC0\x4B");
    }

    #[test]
    fn foreign_values_are_served_verbatim() {
        for raw in [
            &b"plain text"[..],
            b"",
            b"\xC0",
            b"\xC0\x4B\x09short",
            b"\xC0\x4B\x02\x00\xff..",
        ] {
            let v = StoredValue::decode(Bytes::copy_from_slice(raw));
            assert_eq!(v.content_type(), DEFAULT_CONTENT_TYPE);
            assert_eq!(&v.body()[..], raw);
        }
    }
}
