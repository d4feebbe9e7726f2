//! What the tests and benchmarks of several crates share for driving real processes: a free
//! loopback port, and a `comet daemon` worker started over a temporary data directory and
//! killed when dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A loopback port nothing listens on (at the moment of asking).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
}

/// A `comet daemon` child process, ready (its gRPC service bound) once started.
pub struct Worker {
    pub child: Child,
    /// `127.0.0.1:port` of its gRPC service.
    pub endpoint: String,
    _dir: tempfile::TempDir,
}

impl Worker {
    /// Starts `comet` (the binary at `comet`) as worker `node_id` with its gRPC service on
    /// `grpc_addr` (`127.0.0.1:0`: any free port) and `extra` flags, and waits for it to say
    /// where it listens.
    pub fn start(
        comet: &Path,
        node_id: &str,
        grpc_addr: &str,
        extra: &[&str],
    ) -> Result<Worker, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        let mut child = Command::new(comet)
            .args(["daemon", "--node-id", node_id, "--grpc-addr", grpc_addr])
            .args(["--http-addr", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(extra)
            .env("COMET_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start {}: {e} (build the binaries first)",
                    comet.display()
                )
            })?;
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = BufReader::new(stdout).read_line(&mut line);
        }
        let Some((_, endpoint)) = line.trim().rsplit_once("gRPC on ") else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("comet daemon did not start: {line:?}"));
        };
        Ok(Worker {
            endpoint: endpoint.to_string(),
            child,
            _dir: dir,
        })
    }

    /// Kills the worker now.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}
