//! Length-prefixed framing over any blocking byte stream.

use std::io::{self, Read, Write};

use thiserror::Error;

use crate::message::Message;

/// The largest frame body either side accepts: 8 MiB.
pub const MAX_FRAME_LEN: usize = 8 * 1024 * 1024;

/// Why a frame could not be read or written.
#[derive(Debug, Error)]
pub enum FrameError {
    #[error("connection error: {0}")]
    Io(#[from] io::Error),
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("connection closed inside a frame ({got} of {expected} bytes)")]
    Truncated { expected: usize, got: usize },
    #[error("malformed frame: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("unknown message type {0}")]
    UnknownType(u8),
}

impl FrameError {
    /// Whether the connection can no longer be used (as opposed to one bad message).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            FrameError::Io(_) | FrameError::TooLarge { .. } | FrameError::Truncated { .. }
        )
    }
}

/// Prefixes a frame body with its length, refusing bodies over the limit.
pub fn encode(message: &Message) -> Result<Vec<u8>, FrameError> {
    let body = message.to_json()?;
    check_len(body.len())?;
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

pub(crate) fn check_len(len: usize) -> Result<(), FrameError> {
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_FRAME_LEN,
        });
    }
    Ok(())
}

/// Writes one message as a frame.
pub fn write_message<W: Write>(w: &mut W, message: &Message) -> Result<(), FrameError> {
    w.write_all(&encode(message)?)?;
    w.flush()?;
    Ok(())
}

/// Reads one message. `Ok(None)` means the peer closed the connection between frames.
pub fn read_message<R: Read>(r: &mut R) -> Result<Option<Message>, FrameError> {
    let mut header = [0u8; 4];
    let got = read_full(r, &mut header)?;
    let Some(len) = body_len(&header, got)? else {
        return Ok(None);
    };
    let mut body = vec![0u8; len];
    let got = read_full(r, &mut body)?;
    decode_body(&body, got)
}

/// The body length a header announces, after `got` of its 4 bytes arrived; `None` at a clean
/// end of stream.
pub(crate) fn body_len(header: &[u8; 4], got: usize) -> Result<Option<usize>, FrameError> {
    match got {
        0 => Ok(None),
        4 => {
            let len = u32::from_be_bytes(*header) as usize;
            check_len(len)?;
            Ok(Some(len))
        }
        got => Err(FrameError::Truncated { expected: 4, got }),
    }
}

/// Decodes a body of which `got` bytes arrived.
pub(crate) fn decode_body(body: &[u8], got: usize) -> Result<Option<Message>, FrameError> {
    if got < body.len() {
        return Err(FrameError::Truncated {
            expected: body.len(),
            got,
        });
    }
    Message::from_json(body).map(Some)
}

/// Reads until `buf` is full or the stream ends; returns how many bytes arrived.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn round_trip_and_clean_eof() {
        let mut buf = Vec::new();
        write_message(&mut buf, &Message::Ping).expect("write");
        write_message(&mut buf, &Message::Stop).expect("write");
        let mut r = Cursor::new(buf);
        assert!(matches!(read_message(&mut r), Ok(Some(Message::Ping))));
        assert!(matches!(read_message(&mut r), Ok(Some(Message::Stop))));
        assert!(matches!(read_message(&mut r), Ok(None)));
    }

    #[test]
    fn oversized_header_is_refused_before_allocating() {
        let mut r = Cursor::new(u32::MAX.to_be_bytes().to_vec());
        assert!(matches!(
            read_message(&mut r),
            Err(FrameError::TooLarge { .. })
        ));
    }

    #[test]
    fn truncated_header_and_body() {
        let mut r = Cursor::new(vec![0, 0]);
        assert!(matches!(
            read_message(&mut r),
            Err(FrameError::Truncated {
                expected: 4,
                got: 2
            })
        ));
        let mut bytes = 100u32.to_be_bytes().to_vec();
        bytes.extend_from_slice(b"{\"type\":4");
        let mut r = Cursor::new(bytes);
        assert!(matches!(
            read_message(&mut r),
            Err(FrameError::Truncated {
                expected: 100,
                got: 9
            })
        ));
    }

    #[test]
    fn malformed_body_is_not_fatal() {
        let body = b"{nope}";
        let mut bytes = (body.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(body);
        let err = read_message(&mut Cursor::new(bytes)).unwrap_err();
        assert!(matches!(err, FrameError::Malformed(_)));
        assert!(!err.is_fatal());
    }
}
