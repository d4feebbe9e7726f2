//! How the `comet` servers start and stop as a user types them: seed 000's Mode 3 on one host
//! (three workers, no data directory, no HTTP address), "listening" only once every listener is
//! bound, the Host check of the data services on loopback, the slow-client timeout, a bounded
//! drain on SIGTERM and owner-only data files.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use comet_testkit::free_port;

const COMET: &str = env!("CARGO_BIN_EXE_comet");

/// `comet <args>` with HOME (and so the default data directory) in `home`; its first stdout line.
fn spawn(home: &Path, args: &[&str]) -> (Child, String) {
    let mut child = Command::new(COMET)
        .args(args)
        .env("HOME", home)
        .env_remove("XDG_DATA_HOME")
        .env_remove("COMET_DATA_DIR")
        .env("COMET_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
    (child, line)
}

fn finish(mut child: Child) -> Output {
    let _ = child.kill();
    child.wait_with_output().unwrap()
}

fn terminate(child: &mut Child) -> Duration {
    let asked = Instant::now();
    // SAFETY: kill has no memory effects; the pid is our child's.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
    asked.elapsed()
}

/// An HTTP/1.1 exchange over a fresh connection; the whole reply.
fn http(port: u16, request: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    reply
}

#[test]
fn seed_mode_3_starts_three_workers_on_one_host_as_typed() {
    let home = tempfile::tempdir().unwrap();
    let mut workers = Vec::new();
    for n in 1..=3 {
        let port = free_port();
        let (child, line) = spawn(
            home.path(),
            &[
                "daemon",
                "--grpc-addr",
                &format!("127.0.0.1:{port}"),
                "--node-id",
                &format!("worker{n}"),
            ],
        );
        assert_eq!(
            line.trim(),
            format!("Comet daemon worker{n} listening: gRPC on 127.0.0.1:{port}"),
            "worker{n}"
        );
        workers.push(child);
    }
    for (n, worker) in workers.iter_mut().enumerate() {
        assert!(
            worker.try_wait().unwrap().is_none(),
            "worker{} exited",
            n + 1
        );
    }
    let nodes = home.path().join(".local/share/comet/nodes");
    for n in 1..=3 {
        let dir = nodes.join(format!("worker{n}"));
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", dir.display());
    }
    for worker in workers {
        finish(worker);
    }
}

#[test]
fn listening_is_said_only_once_every_listener_is_bound() {
    let home = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http = taken.local_addr().unwrap().to_string();
    let grpc = format!("127.0.0.1:{}", free_port());
    let (child, line) = spawn(
        home.path(),
        &["daemon", "--grpc-addr", &grpc, "--http-addr", &http],
    );
    let out = finish(child);
    assert_eq!(line, "", "said {line:?} before failing");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {http}")),
        "{stderr}"
    );

    // The KV store's lock held by another process is said once, not once per wrapping error.
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let port = free_port();
    let first_addr = format!("127.0.0.1:{port}");
    let (first, line) = spawn(
        home.path(),
        &["kv", "serve", "--data-dir", dir, "--http-addr", &first_addr],
    );
    assert!(line.contains("listening"), "{line:?}");
    let second_addr = format!("127.0.0.1:{}", free_port());
    let (second, line) = spawn(
        home.path(),
        &[
            "kv",
            "serve",
            "--data-dir",
            dir,
            "--http-addr",
            &second_addr,
        ],
    );
    let out = finish(second);
    assert_eq!(line, "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("LOCK").count(), 1, "{stderr}");
    finish(first);
}

#[test]
fn data_services_on_loopback_refuse_foreign_hosts_and_origins_and_slow_clients() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("comet.yaml");
    std::fs::write(
        &config,
        "http:\n  header_timeout: 1s\n  drain_timeout: 1s\n",
    )
    .unwrap();
    let data = home.path().join("data");
    for service in ["kv", "context"] {
        let port = free_port();
        let (mut child, line) = spawn(
            home.path(),
            &[
                service,
                "serve",
                "--config",
                config.to_str().unwrap(),
                "--data-dir",
                data.join(service).to_str().unwrap(),
                "--http-addr",
                &format!("127.0.0.1:{port}"),
            ],
        );
        assert!(line.contains("listening"), "{service}: {line:?}");
        let ok = http(
            port,
            "GET /healthcheck HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        );
        assert!(ok.starts_with("HTTP/1.1 200"), "{service}: {ok}");
        for (request, status) in [
            ("GET /nope HTTP/1.1", "404"),
            ("DELETE /healthcheck HTTP/1.1", "405"),
        ] {
            let reply = http(
                port,
                &format!("{request}\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
            );
            assert!(
                reply.starts_with(&format!("HTTP/1.1 {status}")),
                "{service}: {reply}"
            );
            assert!(reply.contains("{\"error\":"), "{service}: {reply}");
        }
        let rebound = http(
            port,
            "GET /healthcheck HTTP/1.1\r\nHost: evil.example:80\r\nConnection: close\r\n\r\n",
        );
        assert!(rebound.starts_with("HTTP/1.1 403"), "{service}: {rebound}");
        assert!(rebound.contains("{\"error\":"), "{rebound}");
        let cross = http(
            port,
            "DELETE /databases/default/keys/a HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             Origin: http://evil.example\r\nConnection: close\r\n\r\n",
        );
        assert!(cross.starts_with("HTTP/1.1 403"), "{service}: {cross}");

        // Headers never finished: the connection is closed after the header timeout.
        let mut slow = TcpStream::connect(("127.0.0.1", port)).unwrap();
        slow.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        slow.write_all(b"GET /healthcheck HTTP/1.1\r\nHost: local")
            .unwrap();
        let mut buf = Vec::new();
        let read = slow.read_to_end(&mut buf);
        assert!(
            read.is_ok(),
            "{service}: the slow client was not disconnected"
        );

        // A client holding a request open does not hold up SIGTERM past the drain timeout.
        let mut half = TcpStream::connect(("127.0.0.1", port)).unwrap();
        half.write_all(
            b"PUT /databases/default/keys/k HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nab",
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let took = terminate(&mut child);
        assert!(
            took < Duration::from_secs(15),
            "{service}: stopped after {took:?}"
        );
        drop(half);
    }
    // Every file the servers made is the owner's alone.
    let mut stack = vec![data];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let meta = entry.metadata().unwrap();
            let mode = meta.permissions().mode() & 0o777;
            assert_eq!(mode & 0o077, 0, "{} is {mode:o}", entry.path().display());
            if meta.is_dir() {
                stack.push(entry.path());
            }
        }
    }
}
