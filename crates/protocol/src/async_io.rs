//! The same framing over tokio streams, for the host side.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::frame::{FrameError, body_len, decode_body, encode};
use crate::message::Message;

/// Writes one message as a frame.
pub async fn write_message<W: AsyncWrite + Unpin>(
    w: &mut W,
    message: &Message,
) -> Result<(), FrameError> {
    w.write_all(&encode(message)?).await?;
    w.flush().await?;
    Ok(())
}

/// Reads one message. `Ok(None)` means the peer closed the connection between frames.
pub async fn read_message<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Message>, FrameError> {
    let mut header = [0u8; 4];
    let got = read_full(r, &mut header).await?;
    let Some(len) = body_len(&header, got)? else {
        return Ok(None);
    };
    let mut body = vec![0u8; len];
    let got = read_full(r, &mut body).await?;
    decode_body(&body, got)
}

async fn read_full<R: AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]).await? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trip_over_a_socket_pair() {
        let (mut a, mut b) = tokio::net::UnixStream::pair().expect("pair");
        write_message(&mut a, &Message::Ping).await.expect("write");
        drop(a);
        assert!(matches!(
            read_message(&mut b).await,
            Ok(Some(Message::Ping))
        ));
        assert!(matches!(read_message(&mut b).await, Ok(None)));
    }
}
