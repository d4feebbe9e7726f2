//! Real context heads on loopback ports, and the Python client that drives them.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use comet_context::{ContextConfig, Exchange};

pub struct Head {
    pub url: String,
    pub exchange: Arc<Exchange>,
    task: tokio::task::JoinHandle<()>,
}

impl Head {
    /// Stops serving: new connections are refused from now on.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for Head {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A head with its own embedded store in `dir`.
pub async fn embedded(config: ContextConfig, dir: &Path) -> Head {
    let exchange = comet_context::open(&config, dir).await.unwrap();
    serve(exchange, &config).await
}

/// A head over `exchange` (several heads may share one), over HTTPS when `config.tls` is set.
pub async fn serve(exchange: Arc<Exchange>, config: &ContextConfig) -> Head {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = comet_context::http::routes(exchange.clone(), config.max_value_size);
    let (scheme, task) = match &config.tls {
        Some(tls) => {
            let server = comet_context::tls::server_config(tls).unwrap();
            let task = tokio::spawn(async move {
                comet_context::tls::serve(listener, app, server, std::future::pending())
                    .await
                    .unwrap();
            });
            ("https", task)
        }
        None => (
            "http",
            tokio::spawn(async move {
                axum::serve(listener, app).await.unwrap();
            }),
        ),
    };
    let sweeper = exchange.spawn_sweeper();
    let task = tokio::spawn(async move {
        let _ = task.await;
        if let Some(s) = sweeper {
            s.abort();
        }
    });
    Head {
        url: format!("{scheme}://{addr}"),
        exchange,
        task,
    }
}

/// The interpreter with `requests`: Debian's (scripts/deps.sh installs python3-requests).
pub fn python() -> PathBuf {
    for candidate in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(candidate)
            .args(["-c", "import requests"])
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return PathBuf::from(candidate);
        }
    }
    panic!("no python3 with requests: run scripts/deps.sh (it installs python3-requests)");
}

/// Runs the Python client with `args`; returns everything it printed (its last line is "OK"
/// when every check passed).
pub async fn python_client(args: Vec<String>) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/comet_interface.py");
    let out = tokio::process::Command::new(python())
        .arg(script)
        .args(args)
        .output()
        .await
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    )
}

/// A reqwest client that sends what COMET clients send.
pub fn client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("accept", "application/json".parse().unwrap());
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// `value` of the reply to `method path?query` with `body`.
pub async fn call(
    http: &reqwest::Client,
    method: &str,
    url: &str,
    query: &[(&str, &str)],
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = http.request(method, url).query(query);
    if let Some(b) = body {
        request = request.body(b.to_string());
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let json: serde_json::Value = r.json().await.unwrap();
    (status, json["value"].clone())
}
