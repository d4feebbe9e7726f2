//! The `nova` binary as a user runs it: against a running `nova daemon` process, and alone.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::process::{Daemon, Env, example};
use common::{agents_under, all_agents_under, examples};

/// Builds the example Rust handler with the host toolchain, into the shared target directory.
fn build_rust_hello() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
        .join("examples");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(examples().join("rust-hello/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .status()
        .expect("run cargo");
    assert!(status.success(), "building examples/rust-hello failed");
    target.join("release/rust-hello")
}

fn build_c_hello(dir: &Path) -> PathBuf {
    let out = dir.join("hello-c");
    let status = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&out)
        .arg(examples().join("c/hello.c"))
        .status()
        .expect("run cc");
    assert!(status.success(), "cc failed");
    out
}

#[test]
fn register_invoke_list_get_update_delete_through_the_daemon() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(data_dir.path());
    let env = Env {
        url: daemon.url.clone(),
        data_dir,
    };

    env.ok(&[
        "register",
        "hello",
        "-r",
        "python",
        "-c",
        &example("python/hello.py"),
        "-m",
        "64",
        "-e",
        "A=1",
    ]);
    let cold = env.ok(&["invoke", "hello", "-p", r#"{"name": "World"}"#]);
    assert!(cold.contains("Cold Start: true"), "{cold}");
    assert!(cold.contains("\"message\": \"Hello, World!\""), "{cold}");
    for key in ["Request ID: ", "Duration:   ", "Output:"] {
        assert!(cold.contains(key), "{key} missing in {cold}");
    }
    let warm = env.ok(&["invoke", "hello", "-p", r#"{"name": "again"}"#]);
    assert!(warm.contains("Cold Start: false"), "{warm}");

    env.ok(&[
        "register",
        "counter",
        "-r",
        "python",
        "-c",
        &example("python/counter.py"),
        "-H",
        "counter.handler",
        "--mode",
        "persistent",
    ]);
    env.ok(&["invoke", "counter"]);
    let second: serde_json::Value =
        serde_json::from_str(&env.ok(&["invoke", "counter", "-o", "json"])).expect("json");
    assert_eq!(second["output"]["invocations"], 2);
    assert_eq!(second["cold_start"], false);

    let rust = build_rust_hello();
    env.ok(&[
        "register",
        "hello-rust",
        "-r",
        "rust",
        "-c",
        rust.to_str().expect("path"),
    ]);
    let out = env.ok(&["invoke", "hello-rust", "-p", r#"{"name": "Rust"}"#]);
    assert!(
        out.contains("\"runtime\": \"rust\"") && out.contains("Hello, Rust!"),
        "{out}"
    );

    let c = build_c_hello(env.data_dir.path());
    env.ok(&[
        "register",
        "hello-c",
        "-r",
        "go",
        "-c",
        c.to_str().expect("path"),
    ]);
    let out = env.ok(&["invoke", "hello-c", "-p", r#"{"name": "C"}"#]);
    assert!(out.contains("Hello, C!"), "{out}");

    let table = env.ok(&["list"]);
    for name in ["hello ", "counter", "hello-rust", "hello-c"] {
        assert!(table.contains(name), "{name} missing from\n{table}");
    }
    let listed: serde_json::Value =
        serde_json::from_str(&env.ok(&["list", "-o", "json"])).expect("json");
    assert_eq!(listed.as_array().map(Vec::len), Some(4));
    let details = env.ok(&["get", "hello"]);
    assert!(
        details.contains("Memory:         64 MB") && details.contains("Env:            A=1"),
        "{details}"
    );

    let new_code = env.data_dir.path().join("v2.py");
    std::fs::write(&new_code, "def handler(event):\n    return {'v': 2}\n").expect("write");
    let updated = env.ok(&[
        "update",
        "hello",
        "-c",
        new_code.to_str().expect("path"),
        "-e",
        "B=2",
    ]);
    assert!(updated.contains("version 2"), "{updated}");
    let after: serde_json::Value =
        serde_json::from_str(&env.ok(&["invoke", "hello", "-o", "json"])).expect("json");
    assert_eq!(
        (after["output"]["v"].clone(), after["cold_start"].clone()),
        (2.into(), true.into())
    );
    let got: serde_json::Value =
        serde_json::from_str(&env.ok(&["get", "hello", "-o", "json"])).expect("json");
    assert_eq!(got["env_vars"], serde_json::json!({"A": "1", "B": "2"}));
    assert_eq!(
        got["memory_mb"], 64,
        "update must keep settings it was not given"
    );

    env.ok(&["delete", "hello"]);
    env.fails(&["get", "hello"], "function 'hello' not found");

    let instances = env.data_dir.path().join("instances");
    assert!(agents_under(&instances) > 0);
    assert!(daemon.terminate().success());
    assert_eq!(
        all_agents_under(&instances),
        0,
        "SIGTERM left agents behind"
    );
}

#[test]
fn invalid_input_is_refused_with_a_message_and_nonzero_exit() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(data_dir.path());
    let env = Env {
        url: daemon.url.clone(),
        data_dir,
    };
    let hello = example("python/hello.py");
    env.fails(
        &["register", "x", "-r", "cobol", "-c", &hello],
        "unknown runtime 'cobol'",
    );
    env.fails(
        &["register", "x", "-r", "python", "-c", "/no/such/file.py"],
        "cannot read code file /no/such/file.py",
    );
    env.fails(
        &[
            "register", "x", "-r", "python", "-c", &hello, "--vcpus", "0",
        ],
        "vcpus must be between 1 and 32",
    );
    env.fails(
        &[
            "register", "x", "-r", "python", "-c", &hello, "--vcpus", "33",
        ],
        "vcpus must be between 1 and 32",
    );
    env.fails(
        &["register", "x", "-r", "python", "-c", &hello, "-m", "-5"],
        "--memory must not be negative",
    );
    env.fails(
        &[
            "register",
            "x",
            "-r",
            "python",
            "-c",
            &hello,
            "--disk-iops",
            "-1",
        ],
        "--disk-iops must not be negative",
    );
    env.fails(
        &[
            "register", "x", "-r", "python", "-c", &hello, "-e", "NOEQUALS",
        ],
        "expected KEY=VALUE",
    );
    env.fails(
        &[
            "register", "x", "-r", "python", "-c", &hello, "--mode", "forever",
        ],
        "invalid value 'forever'",
    );
    env.fails(
        &["register", "bad/name", "-r", "python", "-c", &hello],
        "invalid function name",
    );
    env.ok(&["register", "x", "-r", "python", "-c", &hello]);
    env.fails(
        &["register", "x", "-r", "python", "-c", &hello],
        "function 'x' already exists",
    );
    env.fails(
        &["invoke", "x", "-p", "{oops"],
        "--payload is not valid JSON",
    );
    env.fails(&["invoke", "ghost"], "function 'ghost' not found");
    env.fails(&["update", "x"], "nothing to update");
    drop(daemon);
}

#[test]
fn without_a_daemon_commands_use_the_local_store_and_invoke_runs_cold() {
    let env = Env {
        data_dir: tempfile::tempdir().expect("tempdir"),
        // Nothing listens on port 9 (discard) on loopback here.
        url: "http://127.0.0.1:9".into(),
    };
    env.ok(&[
        "register",
        "local",
        "-r",
        "python",
        "-c",
        &example("python/hello.py"),
    ]);
    for _ in 0..2 {
        let out = env.ok(&["invoke", "local", "-p", r#"{"name": "Local"}"#]);
        assert!(
            out.contains("Cold Start: true") && out.contains("Hello, Local!"),
            "{out}"
        );
    }
    assert!(env.ok(&["list"]).contains("local"));
    let instances = env.data_dir.path().join("instances");
    assert_eq!(
        agents_under(&instances),
        0,
        "a local invoke left its instance running"
    );

    // A daemon started later sees what was registered locally.
    let daemon = Daemon::start(env.data_dir.path());
    let remote = Env {
        url: daemon.url.clone(),
        data_dir: tempfile::tempdir().expect("unused"),
    };
    let out = remote.ok(&["invoke", "local"]);
    assert!(out.contains("Hello, Anonymous!"), "{out}");
}

#[test]
fn version_help_and_default_config() {
    let env = Env {
        data_dir: tempfile::tempdir().expect("tempdir"),
        url: "http://127.0.0.1:9".into(),
    };
    assert!(env.ok(&["version"]).starts_with("nova "));
    let help = env.ok(&["register", "--help"]);
    for flag in [
        "--runtime",
        "--code",
        "--handler",
        "--memory",
        "--timeout",
        "--min-replicas",
        "--max-replicas",
        "--vcpus",
        "--disk-iops",
        "--disk-bandwidth",
        "--net-rx-bandwidth",
        "--net-tx-bandwidth",
        "--env",
        "--mode",
    ] {
        assert!(help.contains(flag), "{flag} missing from register --help");
    }
    let config = env.data_dir.path().join("nova.yaml");
    std::fs::write(&config, env.ok(&["config", "print-default"])).expect("write");
    env.ok(&["--config", config.to_str().expect("path"), "list"]);
    std::fs::write(&config, "htp:\n  addr: ':1'\n").expect("write");
    env.fails(
        &["--config", config.to_str().expect("path"), "list"],
        "unknown field `htp`",
    );
}

/// The cgroup directories a daemon process `pid` owns, across the v1 controllers.
fn cgroups_of(pid: u32) -> Vec<PathBuf> {
    ["memory", "cpu", "pids", "blkio"]
        .iter()
        .filter_map(|c| std::fs::read_dir(Path::new("/sys/fs/cgroup").join(c).join("nova")).ok())
        .flat_map(|d| d.flatten().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.split('.').next() == Some(pid.to_string().as_str()))
        })
        .collect()
}

fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_restarted_daemon_cleans_what_a_killed_one_left() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let mut daemon = Daemon::start(data_dir.path());
    let env = Env {
        url: daemon.url.clone(),
        data_dir,
    };
    env.ok(&[
        "register",
        "warm",
        "-r",
        "python",
        "-c",
        &example("python/counter.py"),
        "-H",
        "counter.handler",
        "--mode",
        "persistent",
        "--min-replicas",
        "2",
    ]);
    let instances = env.data_dir.path().join("instances");
    wait_until("two pre-warmed instances", || agents_under(&instances) == 2);
    let old_pid = daemon.child.id();
    let old_dir = instances.join(old_pid.to_string());
    daemon.child.kill().expect("SIGKILL");
    daemon.child.wait().expect("reap");
    // The agents die with the daemon; its files and cgroups stay until someone cleans up.
    wait_until("agents to die with the daemon", || {
        agents_under(&instances) == 0
    });
    assert!(old_dir.exists());
    // SAFETY: geteuid has no preconditions.
    let as_root = unsafe { libc::geteuid() } == 0;
    if as_root {
        assert!(
            !cgroups_of(old_pid).is_empty(),
            "expected the killed daemon's cgroups"
        );
    }

    let restarted = Daemon::start(env.data_dir.path());
    assert!(
        !old_dir.exists(),
        "the killed daemon's instance files are still there"
    );
    assert!(
        cgroups_of(old_pid).is_empty(),
        "the killed daemon's cgroups are still there"
    );
    wait_until("min_replicas warm again", || agents_under(&instances) == 2);
    let new_pid = restarted.child.id();
    assert!(restarted.terminate().success());
    assert_eq!(all_agents_under(&instances), 0);
    wait_until("cgroups removed on SIGTERM", || {
        cgroups_of(new_pid).is_empty()
    });
}
