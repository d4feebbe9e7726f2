//! Hostile functions against the real sandbox: each attack, then a well-behaved function that
//! must still succeed. As root these run fully isolated (namespaces, cgroups, seccomp); without
//! root there is nothing to test: each test prints `skipped: needs root (…)` and returns. CI
//! runs as root, so there they all run.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use comet::sandbox::{
    IsolationConfig, IsolationMode, ProcessBackend, ProcessConfig, find_agent, find_python,
};
use comet::{Executor, ExecutorConfig, InvokeError};
use common::python_spec;
use nova_api::{FunctionSpec, InvokeRequest, InvokeResponse, Mode, Network};
use serde_json::value::RawValue;
use serde_json::{Value, json};

struct Sandbox {
    executor: Executor,
    dir: tempfile::TempDir,
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A backend that must isolate; `None`, after printing why the test is skipped, when this user
/// cannot.
fn sandbox() -> Option<Sandbox> {
    if !is_root() {
        // The harness names the test's thread after the test; shown with `-- --show-output`.
        let test = std::thread::current().name().unwrap_or("?").to_string();
        println!(
            "skipped: needs root (namespaces, cgroups and seccomp cannot be set up otherwise): {test}"
        );
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = ProcessBackend::new(ProcessConfig {
        agent: find_agent().expect("comet-agent not built: run `cargo build --workspace --bins`"),
        python: find_python(),
        code_dir: dir.path().join("code"),
        instance_dir: dir.path().join("instances"),
        isolation: IsolationConfig {
            mode: IsolationMode::Required,
            ..IsolationConfig::default()
        },
    })
    .expect("isolation is available as root");
    assert_eq!(backend.isolation(), "namespaces + cgroups + seccomp");
    Some(Sandbox {
        executor: Executor::new(Arc::new(backend), ExecutorConfig::default()),
        dir,
    })
}

fn python(name: &str, code: &str, mode: Mode) -> FunctionSpec {
    FunctionSpec {
        memory_mb: 64,
        ..python_spec(name, code, mode)
    }
}

const WELL_BEHAVED: &str = "def handler(event):\n    return {'ok': True}\n";

impl Sandbox {
    async fn call(&self, spec: &FunctionSpec, event: Value) -> Result<InvokeResponse, InvokeError> {
        let payload = RawValue::from_string(event.to_string()).expect("json");
        self.executor
            .invoke(
                Arc::new(spec.clone()),
                InvokeRequest {
                    request_id: "t".into(),
                    payload,
                },
            )
            .await
    }

    /// The output of a call that must succeed.
    async fn ok(&self, spec: &FunctionSpec, event: Value) -> Value {
        let r = self.call(spec, event).await.expect("invoke");
        assert!(
            r.error.is_none(),
            "{}: {:?}\n{}",
            spec.name,
            r.error,
            r.stderr
        );
        serde_json::from_str(r.output.expect("output").get()).expect("json")
    }

    /// Then a well-behaved function still works.
    async fn still_serves(&self) {
        let good = python("good", WELL_BEHAVED, Mode::Persistent);
        assert_eq!(self.ok(&good, json!({})).await, json!({"ok": true}));
    }

    fn code_dir(&self) -> PathBuf {
        self.dir.path().join("code")
    }
}

/// Tries each path and reports what happened, never the contents.
const PROBE: &str = r#"
import os
def handler(event):
    result = {}
    for path in event["read"]:
        try:
            if os.path.isdir(path):
                os.listdir(path)
            else:
                open(path, "rb").read(16)
            result[path] = "readable"
        except Exception as e:
            result[path] = type(e).__name__
    for path in event.get("write", []):
        try:
            with open(path, "w") as f:
                f.write("x")
            result[path] = "written"
        except Exception as e:
            result[path] = type(e).__name__
    return result
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_other_code_and_the_data_dir_are_invisible() {
    let Some(s) = sandbox() else { return };
    let secret = python(
        "secret",
        "SECRET = 'do-not-read'\ndef handler(event):\n    return 1\n",
        Mode::Process,
    );
    s.ok(&secret, json!({})).await;
    let secret_code = s.code_dir().join(&secret.code_hash).join("handler");
    assert!(
        secret_code.exists(),
        "the other function's code is on the host"
    );
    let probe = python("probe", PROBE, Mode::Persistent);
    let data_dir = s.dir.path().display().to_string();
    let read = json!([
        "/etc/shadow",
        "/root",
        secret_code.display().to_string(),
        data_dir,
        "/code/handler",
        "/proc/1/environ"
    ]);
    let got = s.ok(&probe, json!({"read": read})).await;
    assert_ne!(got["/etc/shadow"], "readable", "{got}");
    assert_ne!(got["/root"], "readable", "{got}");
    assert_ne!(got[secret_code.display().to_string()], "readable", "{got}");
    assert_ne!(got[&data_dir], "readable", "{got}");
    assert_ne!(got["/proc/1/environ"], "readable", "{got}");
    assert_eq!(
        got["/code/handler"], "readable",
        "its own code is readable: {got}"
    );
    s.still_serves().await;
    s.executor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_tmp_is_writable() {
    let Some(s) = sandbox() else { return };
    let probe = python("writer", PROBE, Mode::Process);
    let write = json!([
        "/code/x",
        "/usr/x",
        "/etc/passwd",
        "/x",
        "/tmp/x",
        "/dev/shm/x"
    ]);
    let got = s.ok(&probe, json!({"read": [], "write": write})).await;
    for path in ["/code/x", "/usr/x", "/etc/passwd", "/x"] {
        assert_ne!(got[path], "written", "{path} was writable: {got}");
    }
    assert_eq!(got["/tmp/x"], "written", "{got}");
    assert_eq!(got["/dev/shm/x"], "written", "{got}");
    s.still_serves().await;
    s.executor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_unprivileged_alone_in_its_namespaces_under_seccomp() {
    let Some(s) = sandbox() else { return };
    let code = r#"
import ctypes, os, socket
libc = ctypes.CDLL(None, use_errno=True)
def handler(event):
    unshare = libc.unshare(0x10000000)  # CLONE_NEWUSER: fine for any user, but not in here
    unshare_errno = ctypes.get_errno()
    mount = libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)
    return {"uid": os.getuid(), "gid": os.getgid(), "hostname": socket.gethostname(),
            "pids": len([p for p in os.listdir("/proc") if p.isdigit()]),
            "unshare": [unshare, unshare_errno], "mount": mount}
"#;
    let got = s
        .ok(&python("who", code, Mode::Persistent), json!({}))
        .await;
    assert_eq!(
        (got["uid"].clone(), got["gid"].clone()),
        (json!(65534), json!(65534))
    );
    assert_eq!(got["hostname"], "nova");
    assert!(
        got["pids"].as_u64().is_some_and(|n| n <= 4),
        "sees other processes: {got}"
    );
    assert_eq!(
        got["unshare"],
        json!([-1, libc::EPERM]),
        "seccomp must refuse unshare: {got}"
    );
    assert_eq!(got["mount"], -1);
    s.executor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_none_cannot_reach_the_hosts_loopback_but_host_can() {
    let Some(s) = sandbox() else { return };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let code = r#"
import socket
def handler(event):
    try:
        socket.create_connection(("127.0.0.1", event["port"]), timeout=2).close()
        return "connected"
    except Exception as e:
        return type(e).__name__
"#;
    let mut none = python("net-none", code, Mode::Process);
    assert_ne!(s.ok(&none, json!({"port": port})).await, "connected");
    none.name = "net-host".into();
    none.network = Network::Host;
    none.version = 1;
    assert_eq!(
        s.ok(&none, json!({"port": port})).await,
        "connected",
        "--network host is the opt-in"
    );
    s.still_serves().await;
    s.executor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_bomb_is_contained() {
    let Some(s) = sandbox() else { return };
    let bomb = "import os\nif __name__ == '__main__':\n    while True:\n        try:\n            os.fork()\n        except OSError:\n            pass\n";
    let mut spec = python("bomb", bomb, Mode::Process);
    spec.timeout_s = 2;
    let r = s.call(&spec, json!({})).await.expect("a bomb is an answer");
    assert!(r.timed_out, "{r:?}");
    s.still_serves().await;
    // The machine still forks fine.
    assert!(
        std::process::Command::new("true")
            .status()
            .expect("fork")
            .success()
    );
    s.executor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_past_the_limit_is_out_of_memory_and_the_instance_is_replaced() {
    let Some(s) = sandbox() else { return };
    let hog = "import os\nINSTANCE = os.urandom(4).hex()\ndef handler(event):\n    if event.get('hog'):\n        blocks = [bytearray(1 << 20) for _ in range(512)]\n    return INSTANCE\n";
    let spec = python("hog", hog, Mode::Persistent);
    let before = s.ok(&spec, json!({})).await;
    let r = s
        .call(&spec, json!({"hog": true}))
        .await
        .expect("OOM is an answer");
    let error = r.error.expect("error");
    assert!(
        error.contains("out of memory") && error.contains("64 MB"),
        "{error}"
    );
    let after = s.call(&spec, json!({})).await.expect("invoke");
    assert!(after.cold_start, "the OOM-killed instance must be replaced");
    assert_ne!(
        serde_json::from_str::<Value>(after.output.expect("output").get()).expect("json"),
        before
    );
    s.still_serves().await;
    s.executor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spinning_past_the_timeout_is_killed() {
    let Some(s) = sandbox() else { return };
    let mut spec = python(
        "spin",
        "def handler(event):\n    while True:\n        pass\n",
        Mode::Persistent,
    );
    spec.timeout_s = 1;
    let r = s
        .call(&spec, json!({}))
        .await
        .expect("timeout is an answer");
    assert!(
        r.timed_out && r.error.as_deref().unwrap_or("").contains("timed out"),
        "{r:?}"
    );
    s.still_serves().await;
    s.executor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flooding_stdout_is_bounded() {
    let Some(s) = sandbox() else { return };
    let flood = "import sys\nif __name__ == '__main__':\n    for _ in range(100):\n        sys.stdout.write('x' * (1 << 20))\n";
    let r = s
        .call(&python("flood", flood, Mode::Process), json!({}))
        .await
        .expect("answer");
    assert!(
        r.error.as_deref().unwrap_or("").contains("exceeds"),
        "{:?}",
        r.error
    );
    s.still_serves().await;
    s.executor.shutdown().await;
}

/// The instance cgroups this test's backend created, if any remain.
fn cgroups_left(owner_prefix: &str) -> Vec<PathBuf> {
    let mut left = Vec::new();
    for controller in ["memory", "cpu", "pids", "blkio"] {
        let nova = Path::new("/sys/fs/cgroup").join(controller).join("nova");
        let Ok(entries) = std::fs::read_dir(&nova) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(owner_prefix) {
                let inner: Vec<_> = std::fs::read_dir(e.path())
                    .map(|d| {
                        d.flatten()
                            .filter(|x| x.path().is_dir())
                            .map(|x| x.path())
                            .collect()
                    })
                    .unwrap_or_default();
                left.extend(inner);
            }
        }
    }
    left
}

fn mount_count() -> usize {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|m| m.lines().count())
        .unwrap_or(0)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_mixed_invocations_leave_nothing_behind() {
    let Some(s) = sandbox() else { return };
    let mounts = mount_count();
    let code = r#"
import os, time
def handler(event):
    kind = event["kind"]
    if kind == "crash":
        raise RuntimeError("crash")
    if kind == "exit":
        os._exit(3)
    if kind == "hang":
        time.sleep(30)
    if kind == "oom":
        blocks = [bytearray(1 << 20) for _ in range(512)]
    return kind
"#;
    let mut persistent = python("mixed", code, Mode::Persistent);
    persistent.timeout_s = 1;
    let once = python(
        "mixed-once",
        "import sys, json\nif __name__ == '__main__':\n    e = json.load(open(sys.argv[1]))\n    sys.exit(0 if e['i'] % 2 else 1) if e['kind'] == 'exit' else print(json.dumps(e['i']))\n",
        Mode::Process,
    );
    let kinds = |i: usize| match i % 100 {
        0..=4 => "oom",
        5 => "hang",
        6..=15 => "crash",
        16..=20 => "exit",
        _ => "ok",
    };
    let fds_before = open_fds();
    let mut answered = 0;
    for chunk in (0..1000).collect::<Vec<_>>().chunks(4) {
        let calls: Vec<_> = chunk
            .iter()
            .map(|&i| {
                let spec = if i % 7 == 0 {
                    once.clone()
                } else {
                    persistent.clone()
                };
                let event = json!({"kind": kinds(i), "i": i});
                let executor = s.executor.clone();
                tokio::spawn(async move {
                    let payload = RawValue::from_string(event.to_string()).expect("json");
                    executor
                        .invoke(
                            Arc::new(spec),
                            InvokeRequest {
                                request_id: i.to_string(),
                                payload,
                            },
                        )
                        .await
                })
            })
            .collect();
        for c in calls {
            // Every call gets an answer or a clear error; none hangs or takes the executor down.
            match c.await.expect("task") {
                Ok(_) | Err(InvokeError::Instance { .. }) => answered += 1,
                Err(e) => panic!("unexpected failure: {e}"),
            }
        }
    }
    assert_eq!(answered, 1000);
    let owner = format!("{}.", std::process::id());
    s.executor.shutdown().await;
    // Give the kernel a moment to finish tearing down namespaces.
    for _ in 0..100 {
        if cgroups_left(&owner).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        cgroups_left(&owner),
        Vec::<PathBuf>::new(),
        "cgroups left behind"
    );
    let instances = s.dir.path().join("instances");
    let left: Vec<_> = std::fs::read_dir(&instances)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "instance directories left behind: {left:?}"
    );
    assert_eq!(
        mount_count(),
        mounts,
        "mounts leaked into the host's namespace"
    );
    assert!(
        open_fds() <= fds_before + 2,
        "sockets or files leaked: {} -> {}",
        fds_before,
        open_fds()
    );
    assert_eq!(agents_of_this_process(), 0, "agent processes left behind");
}

/// Live comet-agent processes whose parent is this test process.
fn agents_of_this_process() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
                    let exe = std::fs::read_link(e.path().join("exe")).unwrap_or_default();
                    let ppid = stat
                        .rsplit(')')
                        .next()
                        .and_then(|rest| rest.split_whitespace().nth(1))
                        .unwrap_or("");
                    exe.file_name().is_some_and(|n| n == "comet-agent") && ppid == me
                })
                .count()
        })
        .unwrap_or(0)
}
