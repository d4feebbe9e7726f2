//! A real KV server on a loopback port, over real RocksDB databases in a temporary directory.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use comet_kv::config::{DatabaseConfig, DbMode, TokenConfig};
use comet_kv::{Kv, KvConfig};
use tempfile::TempDir;

/// How the routes are served.
#[derive(Debug, Clone, Copy)]
pub enum Mount {
    /// `comet_kv::serve`: the standalone router, with its fallback.
    Standalone,
    /// `http::routes` merged into a router with no fallback of its own, as `comet kv serve`,
    /// the Comet daemon and Nova mount them.
    Embedded,
}

pub struct Server {
    pub url: String,
    pub kv: Arc<Kv>,
    pub dir: TempDir,
    pub http: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn db(name: &str, path: &Path, mode: DbMode) -> DatabaseConfig {
    DatabaseConfig {
        name: name.into(),
        path: path.to_path_buf(),
        mode,
        primary: None,
        catch_up_interval: None,
        sync_writes: false,
        block_cache_mb: Some(8),
        puller: None,
    }
}

pub fn token(name: &str, secret: &str, scopes: &[comet_kv::auth::Scope]) -> TokenConfig {
    TokenConfig {
        name: name.into(),
        token: Some(secret.into()),
        token_env: None,
        scopes: scopes.to_vec(),
    }
}

impl Server {
    /// Starts a server whose config `configure` writes, given the temporary directory.
    pub async fn start(configure: impl FnOnce(&Path) -> KvConfig) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let config = configure(dir.path()).with_defaults(dir.path());
        Server::start_in(dir, config).await
    }

    pub async fn start_in(dir: TempDir, config: KvConfig) -> Server {
        Server::serve(dir, config, Mount::Standalone).await
    }

    /// A server with one read-write database, `main`, and no tokens, mounted as `mount` says.
    pub async fn open_as(mount: Mount) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let config = KvConfig {
            databases: vec![db("main", &dir.path().join("main"), DbMode::ReadWrite)],
            ..KvConfig::default()
        }
        .with_defaults(dir.path());
        Server::serve(dir, config, mount).await
    }

    async fn serve(dir: TempDir, config: KvConfig, mount: Mount) -> Server {
        let kv = Arc::new(Kv::open(config).unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let serving = kv.clone();
        let task = tokio::spawn(async move {
            match mount {
                Mount::Standalone => comet_kv::serve(serving, listener, std::future::pending())
                    .await
                    .unwrap(),
                Mount::Embedded => {
                    let app = axum::Router::new().merge(comet_kv::http::routes(serving));
                    axum::serve(listener, app).await.unwrap()
                }
            }
        });
        Server {
            url,
            kv,
            dir,
            http: reqwest::Client::new(),
            task,
        }
    }

    /// A server with one read-write database, `main`, and no tokens.
    pub async fn open() -> Server {
        Server::start(|d| KvConfig {
            databases: vec![db("main", &d.join("main"), DbMode::ReadWrite)],
            ..KvConfig::default()
        })
        .await
    }

    /// Stops serving and waits until the databases are closed (their locks released).
    pub async fn stop(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
        // Open keep-alive connections hold the router (and the databases) until they close.
        self.http = reqwest::Client::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while Arc::strong_count(&self.kv) > 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "the server never let go of its databases"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn ingest_path(&self) -> PathBuf {
        self.dir.path().join("kv-ingest")
    }

    pub fn backup_path(&self) -> PathBuf {
        self.dir.path().join("kv-backups")
    }

    pub async fn put(&self, db: &str, key: &str, body: &str) -> u16 {
        self.http
            .put(format!("{}/databases/{db}/keys/{key}", self.url))
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Status and body of a GET.
    pub async fn get(&self, db: &str, key: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}/databases/{db}/keys/{key}", self.url))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Status and JSON of a request to `path` with `method`.
    pub async fn call(&self, method: &str, path: &str) -> (u16, serde_json::Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = self
            .http
            .request(method, format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }
}

/// The status of a request sent byte for byte, with no client normalising the path first
/// (`%2E%2E` stays as sent).
pub async fn raw_status(url: &str, method: &str, path: &str) -> u16 {
    raw(url, method, path, "Content-Length: 0\r\n", b"")
        .await
        .status
}

/// A reply read off the wire.
#[derive(Debug)]
pub struct RawReply {
    pub status: u16,
    /// The header block, names lowercased.
    pub head: String,
    pub body: String,
}

impl RawReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            (n == name).then(|| v.trim())
        })
    }

    /// Asserts the reply is `status` with a JSON `{"error": "<non-empty>"}` body.
    pub fn assert_json_error(&self, status: u16, what: &str) {
        assert_eq!(self.status, status, "{what}: {self:?}");
        assert!(
            self.header("content-type")
                .is_some_and(|ct| ct.starts_with("application/json")),
            "{what}: {self:?}"
        );
        let body: serde_json::Value = serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {self:?}"));
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}: {body}"
        );
    }
}

/// Sends `method path` with the extra header lines `headers` (each ending in CRLF) and `body`,
/// byte for byte, and reads the whole reply (`Connection: close`).
pub async fn raw(url: &str, method: &str, path: &str, headers: &str, body: &[u8]) -> RawReply {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    // The server may answer (and close) before reading a refused body.
    let _ = stream.write_all(body).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let (status_line, head) = head.split_once("\r\n").unwrap_or((head, ""));
    RawReply {
        status: status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        head: head
            .lines()
            .map(|line| match line.split_once(':') {
                Some((n, v)) => format!("{}:{v}", n.to_ascii_lowercase()),
                None => line.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n"),
        body: body.to_string(),
    }
}

/// Writes SST files for `pairs` into `dir` with the service's own builder.
pub fn build_ssts(dir: &Path, pairs: &[(&str, &str)]) {
    let input = dir.with_extension("jsonl");
    let lines: Vec<String> = pairs
        .iter()
        .map(|(k, v)| serde_json::json!({"key": k, "value": v}).to_string())
        .collect();
    std::fs::write(&input, lines.join("\n")).unwrap();
    comet_kv::sst::build(&comet_kv::sst::BuildOptions {
        input,
        format: comet_kv::sst::Format::Jsonl,
        fields: comet_kv::sst::Fields {
            key: "key".into(),
            value: "value".into(),
            csv_header: true,
        },
        output: dir.to_path_buf(),
        content_type: Some("text/plain".into()),
        memory_limit: 1 << 20,
        target_file_size: 1 << 20,
        progress: false,
    })
    .unwrap();
}
