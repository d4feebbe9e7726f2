//! Persistent mode: one long-lived handler process, one JSON line in and one out per invocation.
//!
//! In: `{"input": <event>, "context": {…}}`. Out: `{"output": <result>}` or `{"error": "…"}`, with
//! optional `"stdout"` and `"stderr"` strings. A handler that needs a handshake (the Python
//! bootstrap) first prints `{"ready":true}` or `{"error": "…"}`.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use comet_protocol::RespPayload;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::kill_group;
use comet_protocol::contract::{MAX_LOG, MAX_OUTPUT, preview, tail};

/// Longest reply line accepted: a result plus its logs.
const MAX_LINE: usize = MAX_OUTPUT + 2 * MAX_LOG + 1024;

enum Line {
    Text(Vec<u8>),
    TooLong,
    Closed,
}

#[derive(Deserialize)]
struct Reply {
    #[serde(default)]
    output: Option<Box<RawValue>>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    stdout: String,
    #[serde(default)]
    stderr: String,
    #[serde(default)]
    ready: bool,
}

pub struct Persistent {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<Line>,
    alive: bool,
}

impl Persistent {
    pub fn start(
        command: &[String],
        env: &[(String, String)],
        tmp_dir: &Path,
        handshake: bool,
        ready_timeout: Duration,
    ) -> Result<Persistent, String> {
        let mut child = Command::new(&command[0])
            .args(&command[1..])
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(tmp_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", command[0]))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            kill_group(child.id());
            return Err("handler pipes were not created".to_string());
        };
        let mut handler = Persistent {
            child,
            stdin,
            lines: read_lines(stdout),
            alive: true,
        };
        if handshake {
            handler.await_ready(ready_timeout)?;
        }
        Ok(handler)
    }

    fn await_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let reply = self.next_line(timeout).and_then(|line| {
            serde_json::from_slice::<Reply>(&line)
                .map_err(|_| format!("handler's first line is not a handshake: {}", lossy(&line)))
        });
        match reply {
            Ok(r) if r.ready => Ok(()),
            Ok(r) => Err(r
                .error
                .unwrap_or_else(|| "handler did not report ready".into())),
            Err(e) => Err(e),
        }
        .inspect_err(|_| self.kill_now())
    }

    /// Sends one request and waits for its reply line.
    pub fn call(
        &mut self,
        input: &RawValue,
        context: &serde_json::Value,
        timeout: Duration,
    ) -> RespPayload {
        let mut line = Vec::with_capacity(input.get().len() + 256);
        line.extend_from_slice(b"{\"input\":");
        line.extend_from_slice(input.get().as_bytes());
        line.extend_from_slice(b",\"context\":");
        line.extend_from_slice(context.to_string().as_bytes());
        line.extend_from_slice(b"}\n");
        if let Err(e) = self
            .stdin
            .write_all(&line)
            .and_then(|()| self.stdin.flush())
        {
            self.kill_now();
            return RespPayload::error("", format!("handler process is gone: {e}"));
        }
        match self.next_line(timeout) {
            Ok(reply) => to_resp(&reply),
            Err(e) => {
                let mut resp = RespPayload::error("", e);
                resp.timed_out = self.alive;
                if self.alive {
                    resp.error = Some(format!(
                        "handler timed out after {} s and was killed",
                        timeout.as_secs()
                    ));
                }
                self.kill_now();
                resp
            }
        }
    }

    fn next_line(&mut self, timeout: Duration) -> Result<Vec<u8>, String> {
        match self.lines.recv_timeout(timeout) {
            Ok(Line::Text(line)) => Ok(line),
            Ok(Line::TooLong) => {
                self.kill_now();
                Err(format!("handler reply exceeds {MAX_LINE} bytes"))
            }
            Ok(Line::Closed) | Err(RecvTimeoutError::Disconnected) => {
                self.alive = false;
                let status = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
                Err(format!("handler process exited ({status})"))
            }
            Err(RecvTimeoutError::Timeout) => Err("timed out".to_string()),
        }
    }

    pub fn is_alive(&self) -> bool {
        self.alive
    }

    fn kill_now(&mut self) {
        kill_group(self.child.id());
        let _ = self.child.wait();
        self.alive = false;
    }

    pub fn kill(mut self) {
        self.kill_now();
    }
}

fn to_resp(line: &[u8]) -> RespPayload {
    let Ok(reply) = serde_json::from_slice::<Reply>(line) else {
        return RespPayload::error(
            "",
            format!(
                "handler reply is not {{\"output\": …}} or {{\"error\": …}}: {}",
                lossy(line)
            ),
        );
    };
    let output = match (&reply.error, reply.output) {
        (None, None) => RawValue::from_string("null".to_string()).ok(),
        (_, output) => output,
    };
    RespPayload {
        output,
        error: reply.error,
        stdout: tail(&reply.stdout, MAX_LOG),
        stderr: tail(&reply.stderr, MAX_LOG),
        ..RespPayload::default()
    }
}

fn lossy(line: &[u8]) -> String {
    preview(&String::from_utf8_lossy(line), 200)
}

/// Reads newline-terminated lines on a thread, refusing any longer than [`MAX_LINE`].
fn read_lines<R: Read + Send + 'static>(pipe: R) -> Receiver<Line> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::with_capacity(64 * 1024, pipe);
        loop {
            let mut line = Vec::new();
            // A read error ends the stream like EOF: the handler is gone either way.
            let n = (&mut reader)
                .take(MAX_LINE as u64)
                .read_until(b'\n', &mut line)
                .unwrap_or_default();
            let event = if n == 0 {
                Line::Closed
            } else if line.last() != Some(&b'\n') && n == MAX_LINE {
                Line::TooLong
            } else {
                Line::Text(line)
            };
            let last = !matches!(event, Line::Text(_));
            if tx.send(event).is_err() || last {
                break;
            }
        }
    });
    rx
}
