//! `nova-bench context`: the COMET context exchange under load, on a real `comet context serve`
//! (release build, embedded store): readScope and enumerateScope throughput, and a slice of
//! `--vms` VMs each doing one comet-guest sync round (write its host and key, enumerate the
//! slice's hosts and keys, decode every value twice as clients do), timed from first request to
//! last answer.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::raw_http;
use crate::stats::{self, Samples};

#[derive(clap::Args)]
pub struct ContextArgs {
    /// VMs in the simulated slice.
    #[arg(long, default_value_t = 1000)]
    pub vms: usize,
    /// Concurrent clients (VMs syncing at once, and connections for the throughput runs).
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// How long each throughput measurement runs.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// The comet binary [default: beside this one].
    #[arg(long)]
    pub comet: Option<PathBuf>,
}

const READ: &str = "slice-read-token";
const WRITE: &str = "slice-write-token";

struct Server {
    child: Child,
    url: String,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(comet: &PathBuf) -> Result<Server> {
    let data = tempfile::tempdir()?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let child = Command::new(comet)
        .args([
            "context",
            "serve",
            "--http-addr",
            &format!("127.0.0.1:{port}"),
        ])
        .arg("--data-dir")
        .arg(data.path())
        .env("COMET_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", comet.display()))?;
    let server = Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _data: data,
    };
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(server);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    bail!("comet context serve did not start")
}

pub async fn run(args: ContextArgs) -> Result<()> {
    let comet = match args.comet.clone() {
        Some(p) => p,
        None => std::env::current_exe()?.with_file_name("comet"),
    };
    let server = start(&comet)?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()?;
    println!(
        "context exchange: {} VMs, {} clients, embedded store",
        args.vms, args.clients
    );
    let first = slice_round(&http, &server.url, "slice-a", args.vms, args.clients).await?;
    let second = slice_round(&http, &server.url, "slice-a", args.vms, args.clients).await?;
    println!(
        "{}-VM sync round, first (creates entries):  {:>8.3} s  ({} requests, {:.0} entries read)",
        args.vms,
        first.0.as_secs_f64(),
        4 * args.vms,
        first.1 as f64
    );
    println!(
        "{}-VM sync round, next (updates, full view): {:>8.3} s  ({} requests, {:.0} entries read)",
        args.vms,
        second.0.as_secs_f64(),
        4 * args.vms,
        second.1 as f64
    );
    println!();
    stats::header();
    let base = &server.url;
    let read =
        format!("{base}/readScope?contextID=slice-a&family=hostsall&Key=vm-0&readToken={READ}");
    let summary = raw_http::load(&read, "GET", "", args.clients, args.duration).await;
    stats::row("readScope (one entry)", args.clients, &summary.summary());
    // A small family beside the whole slice's.
    for i in 0..10 {
        write(
            &http,
            base,
            "slice-b",
            "hostsall",
            &format!("vm-{i}"),
            &host(i),
        )
        .await?;
    }
    let small = format!("{base}/enumerateScope?contextID=slice-b&family=hostsall&readToken={READ}");
    let summary = raw_http::load(&small, "GET", "", args.clients, args.duration).await;
    stats::row(
        "enumerateScope (10 entries)",
        args.clients,
        &summary.summary(),
    );
    let whole = format!("{base}/enumerateScope?contextID=slice-a&family=hostsall&readToken={READ}");
    let summary = raw_http::load(&whole, "GET", "", args.clients, args.duration).await;
    let name = format!("enumerateScope ({} entries)", args.vms);
    stats::row(&name, args.clients, &summary.summary());
    drop(server);
    Ok(())
}

fn host(i: usize) -> Value {
    json!([{ "hostName": format!("vm-{i}"), "ip": format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255) }])
}

/// Every VM writes its host and key and reads the slice's; returns the wall time and how many
/// entries the VMs read in all.
async fn slice_round(
    http: &reqwest::Client,
    base: &str,
    slice: &str,
    vms: usize,
    clients: usize,
) -> Result<(Duration, usize)> {
    let next = Arc::new(AtomicUsize::new(0));
    let read_entries = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let samples = stats::concurrently(clients, || {
        let (http, base, slice) = (http.clone(), base.to_string(), slice.to_string());
        let (next, read_entries) = (next.clone(), read_entries.clone());
        async move {
            let mut samples = Samples::default();
            loop {
                let vm = next.fetch_add(1, Ordering::Relaxed);
                if vm >= vms {
                    return samples;
                }
                let t = Instant::now();
                match sync_vm(&http, &base, &slice, vm).await {
                    Ok(n) => {
                        read_entries.fetch_add(n, Ordering::Relaxed);
                        samples.push(t.elapsed());
                    }
                    Err(e) => {
                        eprintln!("vm-{vm}: {e:#}");
                        samples.errors += 1;
                    }
                }
            }
        }
    })
    .await;
    let elapsed = started.elapsed();
    if samples.errors > 0 {
        bail!("{} VMs failed their round", samples.errors);
    }
    Ok((elapsed, read_entries.load(Ordering::Relaxed)))
}

async fn sync_vm(http: &reqwest::Client, base: &str, slice: &str, vm: usize) -> Result<usize> {
    let key = format!("vm-{vm}");
    write(http, base, slice, "hostsall", &key, &host(vm)).await?;
    let pubkey = json!([{ "publicKey": format!("ssh-rsa AAAAB3NzaC1yc2E{vm:08} root@vm-{vm}") }]);
    write(http, base, slice, "pubkeysall", &key, &pubkey).await?;
    let hosts = enumerate(http, base, slice, "hostsall").await?;
    let keys = enumerate(http, base, slice, "pubkeysall").await?;
    Ok(hosts + keys)
}

async fn write(
    http: &reqwest::Client,
    base: &str,
    slice: &str,
    family: &str,
    key: &str,
    items: &Value,
) -> Result<()> {
    let body = json!({ "val_": items.to_string() }).to_string();
    let reply: Value = http
        .post(format!("{base}/writeScope"))
        .query(&[("contextID", slice), ("family", family), ("Key", key)])
        .query(&[("readToken", READ), ("writeToken", WRITE)])
        .header("accept", "application/json")
        .body(body)
        .send()
        .await?
        .json()
        .await?;
    if reply["value"]["Success"].is_null() {
        bail!("write refused: {reply}");
    }
    Ok(())
}

/// Enumerates a family and decodes every value twice; returns how many items it held.
async fn enumerate(http: &reqwest::Client, base: &str, slice: &str, family: &str) -> Result<usize> {
    let reply: Value = http
        .get(format!("{base}/enumerateScope"))
        .query(&[
            ("contextID", slice),
            ("family", family),
            ("readToken", READ),
        ])
        .header("accept", "application/json")
        .send()
        .await?
        .json()
        .await?;
    let mut items = 0;
    for entry in reply["value"]["entries"].as_array().into_iter().flatten() {
        let outer: Value = serde_json::from_str(entry["value"].as_str().unwrap_or("null"))?;
        let inner: Value = serde_json::from_str(outer["val_"].as_str().unwrap_or("null"))?;
        items += inner.as_array().map_or(0, Vec::len);
    }
    Ok(items)
}
