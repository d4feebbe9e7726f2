//! Bounded capture of a child's output pipe on a thread of its own.
//!
//! The pipe is always drained to the end, so a handler that floods its output never blocks on a
//! full pipe; only the first (or last) `limit` bytes are kept.

use std::io::Read;
use std::sync::mpsc::{self, Receiver};
use std::thread;

/// Which bytes to keep when a stream exceeds its limit.
#[derive(Clone, Copy)]
pub enum Keep {
    /// The beginning: a result must be whole, so more than this is an error anyway.
    Head,
    /// The end: the last lines of a log say most about a failure.
    Tail,
}

/// What a capture saw.
#[derive(Debug, Default)]
pub struct Captured {
    pub bytes: Vec<u8>,
    /// Every byte that came through the pipe, kept or not.
    pub total: u64,
}

impl Captured {
    pub fn overflowed(&self) -> bool {
        self.total > self.bytes.len() as u64
    }

    pub fn lossy(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Drains `pipe` on a new thread; the receiver yields once the pipe closes.
pub fn spawn<R: Read + Send + 'static>(
    mut pipe: R,
    limit: usize,
    keep: Keep,
) -> Receiver<Captured> {
    let (tx, rx) = mpsc::sync_channel(1);
    thread::spawn(move || {
        let mut out = Captured::default();
        let mut buf = [0u8; 16 * 1024];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    out.total += n as u64;
                    append(&mut out.bytes, &buf[..n], limit, keep);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = tx.send(out);
    });
    rx
}

fn append(kept: &mut Vec<u8>, chunk: &[u8], limit: usize, keep: Keep) {
    match keep {
        Keep::Head => {
            let room = limit.saturating_sub(kept.len());
            kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        Keep::Tail => {
            kept.extend_from_slice(chunk);
            if kept.len() > limit {
                let excess = kept.len() - limit;
                kept.drain(..excess);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_and_tail_are_bounded() {
        let data = vec![b'x'; 100_000];
        let head = spawn(std::io::Cursor::new(data.clone()), 10, Keep::Head)
            .recv()
            .expect("capture");
        assert_eq!((head.bytes.len(), head.total), (10, 100_000));
        assert!(head.overflowed());
        let mut tail_data = data;
        tail_data.extend_from_slice(b"END");
        let tail = spawn(std::io::Cursor::new(tail_data), 5, Keep::Tail)
            .recv()
            .expect("capture");
        assert_eq!(tail.bytes, b"xxEND");
    }
}
