//! One connection with the host: read a frame, act on it, answer with a Resp.

use std::io::{BufReader, BufWriter};
use std::os::unix::net::UnixStream;

use comet_protocol::{FrameError, Message, RespPayload, read_message, write_message};

use crate::runner::Runner;

/// How a session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The host sent Stop.
    Stopped,
    /// The connection closed or broke.
    Disconnected,
}

/// Serves frames until Stop or until the connection ends. Never panics on bad input: a malformed
/// frame gets an error reply, a frame that breaks the stream (truncated, oversized) ends the session.
/// `sandbox_fd` is the connection's descriptor when the first Init may confine this process.
pub fn serve(stream: UnixStream, sandbox_fd: Option<i32>) -> End {
    let Ok(write_half) = stream.try_clone() else {
        return End::Disconnected;
    };
    let mut reader = BufReader::new(stream);
    let mut writer = BufWriter::new(write_half);
    let mut runner: Option<Runner> = None;
    let mut first = true;
    loop {
        let message = match read_message(&mut reader) {
            Ok(Some(m)) => m,
            Ok(None) => break,
            Err(e) if e.is_fatal() => {
                eprintln!("comet-agent: {e}; closing the connection");
                let _ = reply(&mut writer, RespPayload::error("", e.to_string()));
                break;
            }
            Err(e) => {
                let _ = reply(&mut writer, RespPayload::error("", e.to_string()));
                continue;
            }
        };
        let message = match confine(message, first, sandbox_fd) {
            Ok(message) => message,
            Err(answer) => {
                // A sandbox that cannot be entered must not run anything: say why, then stop.
                let _ = reply(&mut writer, *answer);
                return End::Stopped;
            }
        };
        first = false;
        let (answer, end) = handle(message, &mut runner);
        if reply(&mut writer, answer).is_err() {
            break;
        }
        if end {
            if let Some(r) = runner.take() {
                r.shutdown();
            }
            return End::Stopped;
        }
        if let Some(r) = runner.as_mut() {
            r.prepare_next();
        }
    }
    if let Some(r) = runner.take() {
        r.shutdown();
    }
    End::Disconnected
}

/// Enters the sandbox the first Init asks for; refuses one asked for later (the process is no
/// longer single-threaded then, and un-confining is never allowed).
fn confine(message: Message, first: bool, fd: Option<i32>) -> Result<Message, Box<RespPayload>> {
    let Message::Init(mut init) = message else {
        return Ok(message);
    };
    let Some(spec) = init.sandbox.take() else {
        return Ok(Message::Init(init));
    };
    match (first, fd) {
        (true, Some(fd)) => crate::sandbox::enter(&spec, fd)
            .map(|()| Message::Init(init))
            .map_err(|e| {
                Box::new(RespPayload::error(
                    "",
                    format!("cannot enter the sandbox: {e}"),
                ))
            }),
        _ => Err(Box::new(RespPayload::error(
            "",
            "only the first Init of a connection passed as --fd may carry a sandbox",
        ))),
    }
}

/// The answer to one message, and whether the session ends after sending it.
fn handle(message: Message, runner: &mut Option<Runner>) -> (RespPayload, bool) {
    match message {
        Message::Init(init) => {
            if let Some(old) = runner.take() {
                old.shutdown();
            }
            match Runner::start(init) {
                Ok(r) => {
                    *runner = Some(r);
                    (RespPayload::status("ready"), false)
                }
                Err(e) => (RespPayload::error("", e), false),
            }
        }
        Message::Exec(exec) => match runner.as_mut() {
            Some(r) => (r.exec(&exec), false),
            None => (
                RespPayload::error(&exec.request_id, "agent received Exec before Init"),
                false,
            ),
        },
        Message::Ping => (RespPayload::status("ok"), false),
        Message::Stop => (RespPayload::status("stopping"), true),
        Message::Resp(_) => (
            RespPayload::error("", "agent does not accept Resp frames"),
            false,
        ),
    }
}

fn reply(w: &mut BufWriter<UnixStream>, payload: RespPayload) -> Result<(), FrameError> {
    match write_message(w, &Message::Resp(payload)) {
        Err(FrameError::TooLarge { len, max }) => {
            // The answer itself was too big to frame: say so instead of going silent.
            let msg = format!("response of {len} bytes exceeds the {max}-byte frame limit");
            write_message(w, &Message::Resp(RespPayload::error("", msg)))
        }
        other => other,
    }
}
