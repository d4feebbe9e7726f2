//! Shared harness: a Nova daemon on a loopback port over a temporary data directory, with the
//! real SQLite store, process backend and agent.

#![allow(dead_code)]

pub mod databases;
pub mod process;
pub mod services;

use std::path::{Path, PathBuf};
use std::time::Duration;

use nova::config::{Overrides, Settings};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct TestDaemon {
    pub url: String,
    pub dir: tempfile::TempDir,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestDaemon {
    pub async fn start() -> TestDaemon {
        Self::start_with_ttl("60s").await
    }

    pub async fn start_with_ttl(ttl: &str) -> TestDaemon {
        Self::start_with(ttl, None).await
    }

    /// A daemon whose config file holds `config` (YAML).
    pub async fn start_with_config(config: &str) -> TestDaemon {
        Self::start_with("60s", Some(config)).await
    }

    async fn start_with(ttl: &str, config: Option<&str>) -> TestDaemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let config_file = config.map(|text| {
            let path = dir.path().join("nova.yaml");
            std::fs::write(&path, text).expect("config");
            path
        });
        let settings = Settings::resolve(&Overrides {
            config_file,
            data_dir: Some(dir.path().to_path_buf()),
            http_addr: Some("127.0.0.1:0".into()),
            idle_ttl: Some(ttl.into()),
            ..Overrides::default()
        })
        .expect("settings");
        let listener = tokio::net::TcpListener::bind(settings.http_addr)
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let app = nova::daemon::assemble(&settings, true)
            .await
            .expect("assemble");
        let (stop, stopped) = oneshot::channel::<()>();
        let kv = nova::daemon::open_kv(&settings).await.expect("kv");
        let task = tokio::spawn(nova::daemon::serve(listener, app, Some(kv), async {
            let _ = stopped.await;
        }));
        TestDaemon {
            url,
            dir,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("join").expect("serve");
        }
    }

    /// The body of `GET path`.
    pub async fn text(&self, path: &str) -> String {
        let response = self.client.get(self.url(path)).send().await.expect("get");
        response.text().await.expect("body")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// Registers a function from JSON and returns the reply's status and body.
    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let resp = self
            .client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("send");
        status_and_json(resp).await
    }

    /// Any request: `method` on `path`, with a JSON body when given and extra headers.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        headers: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client.request(method, self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        status_and_json(request.send().await.expect("send")).await
    }

    pub async fn invoke(&self, name: &str, payload: &str) -> (u16, serde_json::Value) {
        let resp = self
            .client
            .post(self.url(&format!("/functions/{name}/invoke")))
            .header("content-type", "application/json")
            .body(payload.to_string())
            .send()
            .await
            .expect("send");
        status_and_json(resp).await
    }
}

/// The settings of a daemon over `dir`, its `nova.yaml` holding `config`, on Postgres at `pg`
/// when given (else SQLite in `dir`), on a free loopback port.
pub fn settings_in(dir: &Path, pg: Option<&str>, config: &str) -> Settings {
    let path = dir.join("nova.yaml");
    std::fs::write(&path, config).expect("config");
    Settings::resolve(&Overrides {
        config_file: Some(path),
        data_dir: Some(dir.to_path_buf()),
        http_addr: Some("127.0.0.1:0".into()),
        pg_dsn: pg.map(str::to_string),
        ..Overrides::default()
    })
    .expect("settings")
}

/// A daemon serving `settings` (without the KV routes) until [`Served::stop`]; for tests that
/// build their own settings (a shared store, extra config).
pub struct Served {
    pub url: String,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Served {
    pub async fn start(settings: &Settings) -> Served {
        let listener = tokio::net::TcpListener::bind(settings.http_addr)
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let app = nova::daemon::assemble(settings, true)
            .await
            .expect("assemble");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(nova::daemon::serve(listener, app, None, async {
            let _ = stopped.await;
        }));
        Served { url, stop, task }
    }

    /// Stops it and waits until it has drained.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("join").expect("serve");
    }
}

pub async fn status_and_json(resp: reqwest::Response) -> (u16, serde_json::Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, json)
}

pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// A Python handler that answers `{"says": word}`: tells versions of a function apart.
pub fn says(word: &str) -> String {
    format!("def handler(event, context=None):\n    return {{'says': '{word}'}}\n")
}

/// [`says`] written to `<dir>/<word>.py`; its path, for the CLI's `-c`.
pub fn says_file(dir: &Path, word: &str) -> String {
    let path = dir.join(format!("{word}.py"));
    std::fs::write(&path, says(word)).expect("write code");
    path.display().to_string()
}

pub fn python_function(name: &str, source: &str) -> serde_json::Value {
    serde_json::json!({ "name": name, "runtime": "python", "code": source })
}

/// Counts live instance agents (`comet-agent` processes working under `dir`), leaving out the
/// standby agents a backend keeps ready (their directories are named `standby-N`).
pub fn agents_under(dir: &Path) -> usize {
    agents(dir, false)
}

/// Every live agent under `dir`, standby ones included.
pub fn all_agents_under(dir: &Path) -> usize {
    agents(dir, true)
}

fn agents(dir: &Path, with_standby: bool) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            let p = e.path();
            let exe_is_agent = std::fs::read_link(p.join("exe"))
                .map(|x| x.file_name().is_some_and(|n| n == "comet-agent"))
                .unwrap_or(false);
            let cwd = std::fs::read_link(p.join("cwd")).unwrap_or_default();
            let standby = cwd
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("standby-"));
            exe_is_agent && cwd.starts_with(dir) && (with_standby || !standby)
        })
        .count()
}

pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..100 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}
