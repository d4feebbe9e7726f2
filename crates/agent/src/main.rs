//! `comet-agent`: the guest agent. It runs inside an instance (a sandboxed child process of the
//! process backend), receives frames from the host and runs the function's handler.
//!
//! Transports: `--fd N` serves a connected socket inherited from the host (the process backend
//! passes one end of a socket pair); `--socket PATH` listens on a Unix socket and serves one
//! connection at a time.

mod capture;
mod runner;
mod sandbox;
mod session;

use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::ExitCode;

const USAGE: &str = "\
comet-agent: runs function handlers for the Comet host

usage:
  comet-agent --fd N         serve the connected Unix socket on file descriptor N
  comet-agent --fd N --join FILE...
                             first join the cgroups whose cgroup.procs files are given
  comet-agent --socket PATH  listen on a Unix socket at PATH, serving one connection at a time
  comet-agent --version";

fn main() -> ExitCode {
    // The host keeps its own files owner-only (umask 077); what the agent and the handler create
    // inside an instance is theirs to share with the handler's unprivileged user as before.
    // SAFETY: umask has no preconditions and cannot fail.
    unsafe { libc::umask(0o022) };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["--fd", fd, ref joins @ ..] if is_join_list(joins) => {
            serve_fd(fd, joins.iter().skip(1).step_by(2).copied())
        }
        ["--socket", path] => serve_socket(path),
        ["--version"] => {
            println!("comet-agent {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        ["--help"] | ["-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unrecognised arguments {args:?}\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("comet-agent: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--join A --join B …`
fn is_join_list(args: &[&str]) -> bool {
    args.len().is_multiple_of(2) && args.iter().step_by(2).all(|a| *a == "--join")
}

fn serve_fd<'a>(fd: &str, joins: impl Iterator<Item = &'a str>) -> Result<(), String> {
    let fd: i32 = fd
        .parse()
        .map_err(|_| format!("--fd takes a file descriptor number, got '{fd}'"))?;
    if fd < 3 {
        return Err(format!("--fd {fd} would be a standard stream"));
    }
    // SAFETY: fstat only reads the descriptor table; it fails cleanly on a closed descriptor.
    let open = unsafe {
        let mut st = std::mem::zeroed::<libc::stat>();
        libc::fstat(fd, &mut st) == 0 && (st.st_mode & libc::S_IFMT) == libc::S_IFSOCK
    };
    if !open {
        return Err(format!("file descriptor {fd} is not an open socket"));
    }
    for procs in joins {
        sandbox::join_cgroup(procs)?;
    }
    // SAFETY: the descriptor is open, is a socket, and nothing else in this process owns it.
    let stream = UnixStream::from(unsafe { OwnedFd::from_raw_fd(fd) });
    session::serve(stream, Some(fd));
    Ok(())
}

fn serve_socket(path: &str) -> Result<(), String> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).map_err(|e| format!("cannot listen on {path}: {e}"))?;
    for conn in listener.incoming() {
        match conn {
            Ok(stream) => {
                // Over a listening socket the agent serves many sessions: no sandbox.
                if session::serve(stream, None) == session::End::Stopped {
                    break;
                }
            }
            Err(e) => eprintln!("comet-agent: accept failed: {e}"),
        }
    }
    Ok(())
}
