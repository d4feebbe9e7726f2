//! The real `comet-agent` binary driven over a real Unix socket, frame by frame.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use comet_protocol::{
    ExecPayload, InitPayload, Message, Mode, RespPayload, Runtime, read_message, write_message,
};
use serde_json::value::RawValue;

struct Agent {
    child: Child,
    socket: PathBuf,
    dir: tempfile::TempDir,
}

impl Agent {
    fn start() -> Agent {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("agent.sock");
        let child = Command::new(env!("CARGO_BIN_EXE_comet-agent"))
            .args(["--socket", socket.to_str().expect("utf-8 path")])
            .env("TMPDIR", dir.path())
            .spawn()
            .expect("spawn agent");
        Agent { child, socket, dir }
    }

    fn connect(&self) -> UnixStream {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match UnixStream::connect(&self.socket) {
                Ok(s) => return s,
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => panic!("agent never listened: {e}"),
            }
        }
    }

    fn code(&self, name: &str, source: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, source).expect("write code");
        path.display().to_string()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> String {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3".into()
    } else {
        "python3".into()
    }
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn call(conn: &mut UnixStream, m: Message) -> RespPayload {
    write_message(conn, &m).expect("send");
    match read_message(conn).expect("reply") {
        Some(Message::Resp(r)) => r,
        other => panic!("expected Resp, got {other:?}"),
    }
}

fn init(
    conn: &mut UnixStream,
    code: &str,
    mode: Mode,
    handler: &str,
    timeout_s: u32,
) -> RespPayload {
    call(
        conn,
        Message::Init(InitPayload {
            handler: handler.into(),
            mode,
            function_name: "f".into(),
            function_version: 1,
            timeout_s,
            ..InitPayload::new(Runtime::Python, vec![python(), code.into()])
        }),
    )
}

/// Sends one frame with `body` as it is, bypassing the typed encoder, and reads the reply.
fn call_raw(conn: &mut UnixStream, body: &[u8]) -> RespPayload {
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(body);
    conn.write_all(&frame).expect("send");
    match read_message(conn).expect("reply") {
        Some(Message::Resp(r)) => r,
        other => panic!("expected Resp, got {other:?}"),
    }
}

fn exec(conn: &mut UnixStream, id: &str, input: &str) -> RespPayload {
    call(
        conn,
        Message::Exec(ExecPayload {
            request_id: id.into(),
            input: RawValue::from_string(input.into()).expect("json"),
            timeout_s: 0,
        }),
    )
}

fn output(r: &RespPayload) -> serde_json::Value {
    assert!(
        r.error.is_none(),
        "unexpected error {:?} (stderr {})",
        r.error,
        r.stderr
    );
    serde_json::from_str(r.output.as_ref().expect("output").get()).expect("output is JSON")
}

#[test]
fn seed_hello_in_process_mode() {
    let agent = Agent::start();
    let mut c = agent.connect();
    let code = examples().join("python/hello.py").display().to_string();
    assert_eq!(
        init(&mut c, &code, Mode::Process, "main.handler", 5)
            .status
            .as_deref(),
        Some("ready")
    );
    let r = exec(&mut c, "r1", r#"{"name":"World"}"#);
    assert_eq!(r.request_id, "r1");
    assert_eq!(
        output(&r),
        serde_json::json!({"message": "Hello, World!", "runtime": "python"})
    );
}

#[test]
fn persistent_mode_keeps_state_and_passes_context() {
    let agent = Agent::start();
    let mut c = agent.connect();
    let code = examples().join("python/counter.py").display().to_string();
    let ready = init(&mut c, &code, Mode::Persistent, "counter.handler", 5);
    assert_eq!(ready.status.as_deref(), Some("ready"), "{ready:?}");
    let first = exec(&mut c, "a", r#"{"name":"A"}"#);
    let second = exec(&mut c, "b", r#"{}"#);
    assert_eq!(output(&first)["invocations"], 1);
    assert_eq!(output(&second)["invocations"], 2);
    assert_eq!(output(&second)["request_id"], "b");
    assert_eq!(output(&first)["pid"], output(&second)["pid"]);
    assert_eq!(first.stdout.trim(), "greeting A");
}

#[test]
fn handler_only_file_runs_in_process_mode_and_main_only_file_in_persistent_mode() {
    let agent = Agent::start();
    let mut c = agent.connect();
    let bare = agent.code(
        "bare.py",
        "def handler(event, context):\n    return {'id': context.request_id}\n",
    );
    init(&mut c, &bare, Mode::Process, "bare.handler", 5);
    assert_eq!(output(&exec(&mut c, "x1", "{}"))["id"], "x1");

    let main_only = agent.code(
        "mainonly.py",
        "import json, sys\nif __name__ == '__main__':\n    e = json.load(open(sys.argv[1]))\n    print('log line')\n    print(json.dumps({'echo': e}))\n",
    );
    init(&mut c, &main_only, Mode::Persistent, "main.handler", 5);
    let r = exec(&mut c, "y", r#"{"k":[1,2]}"#);
    assert_eq!(output(&r), serde_json::json!({"echo": {"k": [1, 2]}}));
}

#[test]
fn runtime_and_mode_reach_the_handler_by_their_wire_names() {
    let agent = Agent::start();
    let mut c = agent.connect();
    let code = agent.code(
        "names.py",
        "import os\ndef handler(event, context):\n    return [os.environ['NOVA_RUNTIME'], os.environ['NOVA_MODE'], context.runtime]\n",
    );
    for mode in [Mode::Process, Mode::Persistent] {
        let ready = init(&mut c, &code, mode, "names.handler", 5);
        assert_eq!(ready.status.as_deref(), Some("ready"), "{mode}: {ready:?}");
        assert_eq!(
            output(&exec(&mut c, "n", "{}")),
            serde_json::json!(["python", mode.as_str(), "python"]),
        );
    }
}

#[test]
fn an_init_with_an_empty_mode_runs_in_process_mode_and_unknown_names_are_refused() {
    let agent = Agent::start();
    let mut c = agent.connect();
    let code = agent.code(
        "mode.py",
        "import os\ndef handler(event):\n    return {'mode': os.environ['NOVA_MODE'], 'pid': os.getpid()}\n",
    );
    let raw_init = |runtime: &str, mode: &str| {
        let payload = serde_json::json!({
            "runtime": runtime, "mode": mode, "handler": "mode.handler",
            "command": [python(), code],
        });
        serde_json::json!({"type": 1, "payload": payload}).to_string()
    };
    let ready = call_raw(&mut c, raw_init("python", "").as_bytes());
    assert_eq!(ready.status.as_deref(), Some("ready"), "{ready:?}");
    let first = output(&exec(&mut c, "a", "{}"));
    let second = output(&exec(&mut c, "b", "{}"));
    assert_eq!(first["mode"], "process");
    assert_ne!(first["pid"], second["pid"], "process mode forks per call");

    for (runtime, mode, unknown) in [
        ("ruby", "process", "ruby"),
        ("python", "forever", "forever"),
    ] {
        let r = call_raw(&mut c, raw_init(runtime, mode).as_bytes());
        let err = r.error.expect("an unknown name is an error reply");
        assert!(
            err.contains(&format!("unknown variant `{unknown}`")),
            "{err}"
        );
    }
    assert_eq!(call(&mut c, Message::Ping).status.as_deref(), Some("ok"));
}

#[test]
fn timeout_kills_the_handler_and_the_next_call_works() {
    for mode in [Mode::Process, Mode::Persistent] {
        let agent = Agent::start();
        let mut c = agent.connect();
        let code = agent.code(
            "slow.py",
            "import time\ndef handler(event):\n    if event.get('sleep'):\n        time.sleep(30)\n    return {'ok': True}\n",
        );
        init(&mut c, &code, mode, "slow.handler", 1);
        let started = Instant::now();
        let r = exec(&mut c, "t", r#"{"sleep": true}"#);
        assert!(r.timed_out, "{mode}: {r:?}");
        assert!(
            r.error.as_deref().unwrap_or("").contains("timed out"),
            "{r:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{mode}: kill took too long"
        );
        assert_eq!(output(&exec(&mut c, "u", "{}"))["ok"], true, "{mode}");
    }
}

#[test]
fn crashes_and_non_json_are_errors_not_agent_failures() {
    let agent = Agent::start();
    let mut c = agent.connect();
    let crash = agent.code(
        "crash.py",
        "import sys\nsys.stderr.write('boom\\n')\nsys.exit(3)\n",
    );
    init(&mut c, &crash, Mode::Process, "main.handler", 5);
    let r = exec(&mut c, "c", "{}");
    let err = r.error.expect("error");
    assert!(err.contains("status 3") && err.contains("boom"), "{err}");

    let chatty = agent.code(
        "chatty.py",
        "if __name__ == '__main__':\n    print('hello, not json')\n",
    );
    init(&mut c, &chatty, Mode::Process, "main.handler", 5);
    assert!(
        exec(&mut c, "n", "{}")
            .error
            .expect("error")
            .contains("not valid JSON")
    );

    let raises = agent.code(
        "raises.py",
        "def handler(event):\n    raise ValueError('bad input')\n",
    );
    init(&mut c, &raises, Mode::Persistent, "raises.handler", 5);
    let r = exec(&mut c, "e", "{}");
    assert_eq!(r.error.as_deref(), Some("ValueError: bad input"));
    assert!(r.stderr.contains("Traceback"), "{}", r.stderr);
    assert_eq!(call(&mut c, Message::Ping).status.as_deref(), Some("ok"));
}

#[test]
fn output_flood_is_bounded() {
    let agent = Agent::start();
    let mut c = agent.connect();
    let flood = agent.code(
        "flood.py",
        "import sys\nif __name__ == '__main__':\n    sys.stdout.write('x' * (20 * 1024 * 1024))\n    sys.stderr.write('y' * (5 * 1024 * 1024))\n",
    );
    init(&mut c, &flood, Mode::Process, "main.handler", 10);
    let r = exec(&mut c, "f", "{}");
    assert!(r.error.expect("error").contains("exceeds"));
    assert!(r.stderr.len() <= 64 * 1024);
    assert_eq!(call(&mut c, Message::Ping).status.as_deref(), Some("ok"));
}

#[test]
fn bad_frames_never_crash_the_agent() {
    let agent = Agent::start();
    let mut c = agent.connect();
    // Exec before Init.
    assert!(
        exec(&mut c, "z", "{}")
            .error
            .expect("error")
            .contains("before Init")
    );
    // Malformed JSON and an unknown type: an error reply, and the connection lives on.
    for body in [
        &b"{not json"[..],
        br#"{"type":42,"payload":{}}"#,
        br#"{"type":2,"payload":{"request_id":1}}"#,
    ] {
        assert!(call_raw(&mut c, body).error.is_some());
    }
    assert_eq!(call(&mut c, Message::Ping).status.as_deref(), Some("ok"));
    // Oversized: refused before reading the body; the connection is closed.
    c.write_all(&(64u32 * 1024 * 1024).to_be_bytes())
        .expect("send");
    match read_message(&mut c).expect("reply") {
        Some(Message::Resp(r)) => assert!(r.error.expect("error").contains("exceeds")),
        other => panic!("{other:?}"),
    }
    drop(c);
    // Truncated: half a frame, then the peer goes away.
    let mut t = agent.connect();
    t.write_all(&100u32.to_be_bytes()).expect("send");
    t.write_all(b"{\"type\":").expect("send");
    t.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let _ = read_message(&mut t);
    drop(t);
    // The agent still serves the next connection.
    let mut again = agent.connect();
    assert_eq!(
        call(&mut again, Message::Ping).status.as_deref(),
        Some("ok")
    );
}

#[test]
fn stop_ends_the_agent() {
    let mut agent = Agent::start();
    let mut c = agent.connect();
    assert_eq!(
        call(&mut c, Message::Stop).status.as_deref(),
        Some("stopping")
    );
    let status = agent.child.wait().expect("wait");
    assert!(status.success());
}
