//! `nova daemon` as a web page, a slow client and an operator on a shared host would meet it:
//! cross-site requests and rebound host names are refused, slow and half-open clients neither
//! hold connections nor SIGTERM, the data directory is the owner's alone, and two daemons on one
//! Postgres start on one host as typed.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::process::{Daemon, NOVA, daemon_and_cli};

/// One HTTP/1.1 request over a fresh connection to `url` (`http://127.0.0.1:port`); the reply.
fn raw(url: &str, request: &str) -> String {
    let addr = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(request.as_bytes()).expect("write");
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    reply
}

fn post(url: &str, headers: &str, body: &str) -> String {
    raw(
        url,
        &format!(
            "POST /functions HTTP/1.1\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

const FUNCTION: &str = r#"{"name":"csrf","runtime":"python","code":"def handler(e):\n    return 1\n","network":"host"}"#;

#[test]
fn cross_site_requests_and_rebound_hosts_are_refused() {
    let (daemon, env) = daemon_and_cli(&[
        "--allowed-host",
        "nova.internal",
        "--allowed-origin",
        "https://console.example",
    ]);
    let url = &daemon.url;
    // The issue's page: a "simple" cross-site request through a rebound name.
    let reply = post(
        url,
        "Host: evil.example\r\nOrigin: http://evil.example\r\nContent-Type: text/plain\r\n",
        FUNCTION,
    );
    assert!(reply.starts_with("HTTP/1.1 403"), "{reply}");
    assert!(reply.contains("not served here"), "{reply}");
    // Through localhost, from a foreign page.
    let reply = post(
        url,
        "Host: localhost\r\nOrigin: http://evil.example\r\nContent-Type: application/json\r\n",
        FUNCTION,
    );
    assert!(reply.starts_with("HTTP/1.1 403"), "{reply}");
    assert!(reply.contains("cross-origin"), "{reply}");
    // No Origin, but a body no page can send cross-site without a preflight is required.
    let reply = post(
        url,
        "Host: 127.0.0.1\r\nContent-Type: text/plain\r\n",
        FUNCTION,
    );
    assert!(reply.starts_with("HTTP/1.1 415"), "{reply}");
    let reply = raw(
        url,
        "POST /functions/csrf/invoke HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n\
         Content-Length: 2\r\nConnection: close\r\n\r\n{}",
    );
    assert!(reply.starts_with("HTTP/1.1 415"), "{reply}");
    assert!(
        env.ok(&["list", "-o", "json"]).trim() == "[]",
        "a refused request registered something"
    );

    // The configured name and origin, and the API's own origin, are let in.
    let reply = post(
        url,
        "Host: nova.internal:8080\r\nOrigin: https://console.example\r\nContent-Type: application/json\r\n",
        FUNCTION,
    );
    assert!(reply.starts_with("HTTP/1.1 201"), "{reply}");
    let host = url.trim_start_matches("http://");
    let reply = raw(
        url,
        &format!(
            "GET /functions/csrf HTTP/1.1\r\nHost: {host}\r\nOrigin: {url}\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}

#[test]
fn slow_and_half_open_clients_hold_neither_a_connection_nor_shutdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("nova.yaml");
    std::fs::write(
        &config,
        "http:\n  header_timeout: 1s\n  drain_timeout: 1s\n",
    )
    .expect("write");
    let data = dir.path().join("data");
    let daemon = Daemon::start_with(&data, &["--config", config.to_str().expect("utf-8")]);
    let addr = daemon.url.trim_start_matches("http://").to_string();

    let mut slow = TcpStream::connect(&addr).expect("connect");
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    slow.write_all(b"GET /health HTTP/1.1\r\nHost: loc")
        .expect("write");
    let mut buf = Vec::new();
    assert!(
        slow.read_to_end(&mut buf).is_ok(),
        "the slow client was not disconnected"
    );

    // A request whose body never finishes is in flight when SIGTERM comes.
    let mut half = TcpStream::connect(&addr).expect("connect");
    half.write_all(
        b"POST /functions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
          Content-Length: 1000\r\n\r\n{\"name\":",
    )
    .expect("write");
    std::thread::sleep(Duration::from_millis(300));
    let asked = Instant::now();
    let status = daemon.terminate();
    assert!(status.success(), "{status:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "SIGTERM took {:?}",
        asked.elapsed()
    );
    drop(half);
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_data_directory_and_its_files_are_the_owners_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("fresh");
    let daemon = Daemon::start(&data);
    let reply = post(
        &daemon.url,
        "Host: localhost\r\nContent-Type: application/json\r\n",
        r#"{"name":"f","runtime":"python","code":"def handler(e):\n    return 1\n","env_vars":{"TOKEN":"s3cret"}}"#,
    );
    assert!(reply.starts_with("HTTP/1.1 201"), "{reply}");
    let reply = raw(
        &daemon.url,
        "POST /functions/f/invoke HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: 2\r\nConnection: close\r\n\r\n{}",
    );
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert_eq!(mode(&data), 0o700);
    let mut stack = vec![data.clone()];
    let mut files = 0;
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir").flatten() {
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            if meta.file_type().is_symlink() {
                continue;
            }
            let m = meta.permissions().mode() & 0o777;
            let in_code_cache = path
                .strip_prefix(data.join("code-cache"))
                .is_ok_and(|rest| rest.components().count() >= 1);
            if in_code_cache {
                // Shared with the sandbox's group (root) or nobody (otherwise); never others.
                assert_eq!(m & 0o007, 0, "{} is {m:o}", path.display());
            } else {
                assert_eq!(m & 0o077, 0, "{} is {m:o}", path.display());
            }
            files += 1;
            if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    assert!(files >= 4, "only {files} entries under the data directory");
    for name in ["nova.db", "master.key"] {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
    drop(daemon);

    // A data directory left open by an older version is closed at start.
    let old = dir.path().join("old");
    std::fs::create_dir(&old).expect("mkdir");
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let daemon = Daemon::start(&old);
    assert_eq!(mode(&old), 0o700);
    drop(daemon);
}

#[test]
fn two_daemons_on_one_postgres_start_on_one_host_without_a_data_directory() {
    let home = tempfile::tempdir().expect("tempdir");
    // A database of its own: the shared one holds other tests' secrets under other master keys.
    let admin = "postgres://postgres:postgres@127.0.0.1:5432/test";
    let name = format!("nova_hardening_{}", std::process::id());
    let psql = |sql: &str| {
        let out = Command::new("psql")
            .args([admin, "-qc", sql])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    psql(&format!("DROP DATABASE IF EXISTS {name}"));
    psql(&format!("CREATE DATABASE {name}"));
    let dsn = &format!("postgres://postgres:postgres@127.0.0.1:5432/{name}");
    let mut daemons = Vec::new();
    for _ in 0..2 {
        let mut child = Command::new(NOVA)
            .args(["daemon", "--http", "127.0.0.1:0", "--pg-dsn", dsn])
            .env("HOME", home.path())
            .env_remove("NOVA_DATA_DIR")
            .env_remove("XDG_DATA_HOME")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line);
        if !line.starts_with("Nova daemon listening on ") {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait");
            panic!(
                "the daemon did not start: {line:?} {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        daemons.push(child);
    }
    for mut d in daemons {
        assert!(d.try_wait().expect("wait").is_none(), "a daemon exited");
        let _ = d.kill();
        let _ = d.wait();
    }
    psql(&format!("DROP DATABASE IF EXISTS {name}"));
}
