//! `nova-bench async`: the async invocation queue (issue 15, point 6), on SQLite and on a fresh
//! Postgres database, one daemon each, default `async:` settings, a persistent Python echo that
//! returns the time it started (`time.time_ns()`):
//!
//! - accepted async invocations per second over HTTP (`--clients` clients, each 202 committed
//!   before it is sent): with the function paused (concurrency 0), what taking a call costs; and
//!   while the queue drains a backlog on the same cores; beside synchronous invocations per
//!   second of the same function on the same daemon;
//! - acceptance to handler start, p50/p99, on an idle daemon: calls one at a time, each waited
//!   for; the start is the handler's own clock reading, the acceptance the moment the 202 reached
//!   the client (one machine, one clock);
//! - end to end: `--count` calls enqueued, from the first acceptance to the last success (the
//!   daemon's own `created_at_ms` / `updated_at_ms`);
//! - a synchronous call's p50 while the queue works through a backlog, beside its p50 on the
//!   idle daemon.
//!
//! Targets are printed beside the figures; a figure never fails the run.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::daemon::{Daemon, find_nova};
use crate::load::register;
use crate::raw_http;
use crate::stats::{self, Summary};

#[derive(clap::Args)]
pub struct AsyncArgs {
    /// How long each throughput and latency run lasts.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Concurrent clients for the acceptance and sync throughput runs and for enqueueing.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Calls, one at a time, for acceptance-to-start.
    #[arg(long, default_value_t = 100)]
    pub starts: usize,
    /// Calls enqueued for the end-to-end run.
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
    /// A Postgres server where the benchmark may create (and drop) a database of its own.
    #[arg(
        long,
        default_value = "postgres://postgres:postgres@127.0.0.1:5432/postgres"
    )]
    pub pg_admin: String,
    /// Measure SQLite only.
    #[arg(long)]
    pub no_postgres: bool,
    /// The nova binary [default: beside this one].
    #[arg(long)]
    pub nova: Option<PathBuf>,
}

const ECHO: &str = "import time\n\
def handler(event, context=None):\n    \
    t = time.time_ns()\n    \
    return {'t': t, 'n': event.get('n')}\n";
const BODY: &str = r#"{"n": 1}"#;

/// What one store measured.
struct Figures {
    accepted: Summary,
    accepted_draining: Summary,
    sync: Summary,
    start_p50_ms: f64,
    start_p99_ms: f64,
    end_to_end_per_sec: f64,
    idle_p50_ms: f64,
    burst_p50_ms: f64,
    backlog: usize,
    backlog_left: usize,
}

pub async fn run(args: AsyncArgs) -> Result<()> {
    let nova = find_nova(args.nova.clone())?;
    println!(
        "async invocations: persistent python echo, default async settings (concurrency 4), \
         {} clients, {:?} runs",
        args.clients, args.duration
    );
    let mut results = Vec::new();
    println!("\n-- sqlite (WAL, synchronous=NORMAL: a 202 survives a SIGKILL, not a power cut)");
    results.push(("sqlite", measure(&nova, &args, "").await?));
    if args.no_postgres {
        println!("\n-- postgres: skipped (--no-postgres)");
    } else {
        match FreshDatabase::create(&args.pg_admin) {
            Ok(db) => {
                println!("\n-- postgres (a fresh database, {})", db.name);
                let config = format!("postgres:\n  dsn: {}\n", db.dsn);
                let figures = measure(&nova, &args, &config).await;
                drop(db);
                results.push(("postgres", figures?));
            }
            Err(e) => println!("\n-- postgres: skipped ({e:#})"),
        }
    }

    println!("\nsummary");
    let mut head = format!("{:<52}", "");
    for (store, _) in &results {
        head.push_str(&format!("{store:>12}"));
    }
    println!("{head}   target / peer");
    let line = |label: &str, value: &dyn Fn(&Figures) -> String, note: &str| {
        let mut l = format!("{label:<52}");
        for (_, f) in &results {
            l.push_str(&format!("{:>12}", value(f)));
        }
        println!("{l}   {note}");
    };
    let c = args.clients;
    line(
        &format!("async accepted/s ({c} clients, durable 202, paused)"),
        &|f| format!("{:.0}", f.accepted.per_sec),
        "target ≥ 5000 on sqlite",
    );
    line(
        "  the same while the queue drains a backlog",
        &|f| format!("{:.0}", f.accepted_draining.per_sec),
        "both on the same 2 cores",
    );
    line(
        &format!("  peer: sync invokes/s ({c} clients)"),
        &|f| format!("{:.0}", f.sync.per_sec),
        "same function, same daemon",
    );
    line(
        "  accepted / sync",
        &|f| format!("{:.2}×", f.accepted.per_sec / f.sync.per_sec),
        "",
    );
    line(
        "acceptance → handler start p50 ms (idle)",
        &|f| format!("{:.3}", f.start_p50_ms),
        "target ≤ 5 ms",
    );
    line(
        "acceptance → handler start p99 ms (idle)",
        &|f| format!("{:.3}", f.start_p99_ms),
        "",
    );
    line(
        &format!("end to end through the queue /s ({} calls)", args.count),
        &|f| format!("{:.0}", f.end_to_end_per_sec),
        "peer: sync invokes/s above",
    );
    line(
        "sync p50 ms, idle daemon",
        &|f| format!("{:.3}", f.idle_p50_ms),
        "",
    );
    line(
        "sync p50 ms, beside an async backlog",
        &|f| format!("{:.3}", f.burst_p50_ms),
        "",
    );
    line(
        "  backlog / idle",
        &|f| format!("{:.2}×", f.burst_p50_ms / f.idle_p50_ms),
        "target ≤ 2×",
    );
    line(
        "  backlog queued / still queued after",
        &|f| format!("{}/{}", f.backlog, f.backlog_left),
        "(0 left: the backlog ran out early)",
    );
    Ok(())
}

async fn measure(nova: &Path, args: &AsyncArgs, config: &str) -> Result<Figures> {
    let daemon = Daemon::start_configured(nova, "auto", config)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    register(
        &client,
        &daemon.url,
        "echo",
        "python",
        "persistent",
        ECHO.as_bytes(),
    )
    .await?;
    let base = daemon.url.clone();
    let sync_url = format!("{base}/functions/echo/invoke");
    let async_url = format!("{base}/functions/echo/invoke-async");
    let warm = raw_http::load(
        &sync_url,
        "POST",
        BODY,
        args.clients,
        Duration::from_millis(500),
    )
    .await;
    if warm.errors > 0 {
        bail!("the warm-up failed at {base}");
    }
    // The queue's path warmed too: a few calls through it, waited for.
    for _ in 0..5 {
        one_start(&client, &base).await?;
    }

    stats::header();
    let idle = raw_http::load(&sync_url, "POST", BODY, 1, args.duration)
        .await
        .summary();
    stats::row("sync invoke, idle", 1, &idle);
    let sync = raw_http::load(&sync_url, "POST", BODY, args.clients, args.duration)
        .await
        .summary();
    stats::row("sync invoke", args.clients, &sync);

    // Acceptance to start, one call at a time on an idle daemon.
    let mut starts = Vec::with_capacity(args.starts);
    for _ in 0..args.starts {
        starts.push(one_start(&client, &base).await?);
    }
    starts.sort_by(f64::total_cmp);
    let (start_p50_ms, start_p99_ms) = (pick(&starts, 0.50), pick(&starts, 0.99));
    println!(
        "{:<34} {:>7} {:>9} {:>7} {:>10.3} {:>10.3} {:>10}",
        "async accept → handler start",
        1,
        starts.len(),
        0,
        start_p50_ms,
        start_p99_ms,
        "-"
    );

    // End to end: enqueue `count`, from the first acceptance to the last success.
    let ids = enqueue(&client, &async_url, args.count, args.clients).await?;
    drain(&client, &base, Duration::from_secs(120)).await?;
    let mut first_created = i64::MAX;
    let mut last_done = i64::MIN;
    let mut done = 0;
    let wanted: HashSet<&String> = ids.iter().collect();
    for record in listed(&client, &base, "succeeded").await? {
        let id = record["id"].as_str().unwrap_or_default().to_string();
        if wanted.contains(&id) {
            done += 1;
            first_created = first_created.min(record["created_at_ms"].as_i64().unwrap_or(0));
            last_done = last_done.max(record["updated_at_ms"].as_i64().unwrap_or(0));
        }
    }
    let span_ms = (last_done - first_created).max(1) as f64;
    let end_to_end_per_sec = done as f64 / span_ms * 1000.0;
    println!(
        "{:<34} {:>7} {:>9} {:>7} {:>10} {:>10} {:>10.1}",
        "async end to end (all succeeded)",
        args.clients,
        done,
        args.count - done,
        "-",
        "-",
        end_to_end_per_sec
    );

    // Sync beside a backlog: enough queued to outlast the run at the end-to-end rate.
    let backlog =
        ((end_to_end_per_sec * args.duration.as_secs_f64() * 2.0) as usize).clamp(1000, 20_000);
    enqueue(&client, &async_url, backlog, args.clients).await?;
    let burst = raw_http::load(&sync_url, "POST", BODY, 1, args.duration)
        .await
        .summary();
    let backlog_left = count_in(&client, &base, "queued").await?;
    stats::row("sync invoke beside async backlog", 1, &burst);
    drain(&client, &base, Duration::from_secs(120)).await?;

    // Acceptance last: what it queues is still running when the daemon stops. First alone, the
    // function paused (concurrency 0: calls are stored and wait), so the run measures what
    // taking a call costs; then while the queue drains the backlog at the default concurrency,
    // both sharing the machine.
    let config = format!("{base}/functions/echo/async-config");
    let paused = client
        .put(&config)
        .json(&serde_json::json!({"concurrency": 0}))
        .send()
        .await?;
    if !paused.status().is_success() {
        bail!("cannot pause echo: {}", paused.text().await?);
    }
    let accepted = raw_http::load(&async_url, "POST", BODY, args.clients, args.duration)
        .await
        .summary();
    stats::row("async accept, function paused", args.clients, &accepted);
    client.delete(&config).send().await?;
    let accepted_draining = raw_http::load(&async_url, "POST", BODY, args.clients, args.duration)
        .await
        .summary();
    stats::row(
        "async accept, queue draining",
        args.clients,
        &accepted_draining,
    );
    drop(daemon);
    Ok(Figures {
        accepted,
        accepted_draining,
        sync,
        start_p50_ms,
        start_p99_ms,
        end_to_end_per_sec,
        idle_p50_ms: idle.p50_ms,
        burst_p50_ms: burst.p50_ms,
        backlog,
        backlog_left,
    })
}

fn pick(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// One async call, waited for: milliseconds from the 202's arrival to the handler's start.
async fn one_start(client: &reqwest::Client, base: &str) -> Result<f64> {
    let response = client
        .post(format!("{base}/functions/echo/invoke-async"))
        .header("content-type", "application/json")
        .body(BODY)
        .send()
        .await?;
    let accepted_ns = now_ns();
    let status = response.status();
    let body: Value = response.json().await?;
    if status.as_u16() != 202 {
        bail!("invoke-async answered {status}: {body}");
    }
    let id = body["id"].as_str().context("no id")?.to_string();
    // Let the call run untouched before asking after it.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let record: Value = client
            .get(format!("{base}/async-invocations/{id}"))
            .send()
            .await?
            .json()
            .await?;
        match record["status"].as_str() {
            Some("succeeded") => {
                let started_ns = record["result"]["t"].as_i64().context("no start time")? as i128;
                return Ok((started_ns - accepted_ns) as f64 / 1e6);
            }
            Some("queued" | "running") => {}
            _ => bail!("async invocation {id} did not succeed: {record}"),
        }
        if Instant::now() > deadline {
            bail!("async invocation {id} still not done: {record}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// `count` async calls from `clients` tasks; their ids.
async fn enqueue(
    client: &reqwest::Client,
    url: &str,
    count: usize,
    clients: usize,
) -> Result<Vec<String>> {
    let url = Arc::new(url.to_string());
    let tasks: Vec<_> = (0..clients.max(1))
        .map(|c| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for n in (c..count).step_by(clients.max(1)) {
                    let response = client
                        .post(url.as_str())
                        .header("content-type", "application/json")
                        .body(format!(r#"{{"n": {n}}}"#))
                        .send()
                        .await?;
                    let status = response.status();
                    let body: Value = response.json().await?;
                    if status.as_u16() != 202 {
                        bail!("invoke-async answered {status}: {body}");
                    }
                    ids.push(body["id"].as_str().context("no id")?.to_string());
                }
                Ok(ids)
            })
        })
        .collect();
    let mut ids = Vec::with_capacity(count);
    for t in tasks {
        ids.extend(t.await??);
    }
    Ok(ids)
}

/// Every invocation of `echo` in `status`.
async fn listed(client: &reqwest::Client, base: &str, status: &str) -> Result<Vec<Value>> {
    let mut all = Vec::new();
    for offset in (0..).step_by(1000) {
        let page: Value = client
            .get(format!(
                "{base}/functions/echo/async-invocations?status={status}&limit=1000&offset={offset}"
            ))
            .send()
            .await?
            .json()
            .await?;
        let page = page.as_array().context("not a list")?;
        all.extend(page.iter().cloned());
        if page.len() < 1000 {
            break;
        }
    }
    Ok(all)
}

async fn count_in(client: &reqwest::Client, base: &str, status: &str) -> Result<usize> {
    Ok(listed(client, base, status).await?.len())
}

/// Waits until nothing of `echo` is queued, running or waiting to retry.
async fn drain(client: &reqwest::Client, base: &str, limit: Duration) -> Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let mut busy = false;
        for status in ["queued", "running", "failed"] {
            let page: Value = client
                .get(format!(
                    "{base}/functions/echo/async-invocations?status={status}&limit=1"
                ))
                .send()
                .await?
                .json()
                .await?;
            busy |= page.as_array().is_some_and(|a| !a.is_empty());
        }
        if !busy {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the queue did not drain within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A database of the run's own on a Postgres server, made and dropped with `psql`.
struct FreshDatabase {
    admin: String,
    name: String,
    dsn: String,
}

fn psql(dsn: &str, sql: &str) -> Result<()> {
    let out = Command::new("psql")
        .arg(dsn)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .context("cannot run psql")?;
    if !out.status.success() {
        bail!(
            "psql: {sql}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl FreshDatabase {
    fn create(admin: &str) -> Result<FreshDatabase> {
        let (server, _) = admin
            .rsplit_once('/')
            .context("the Postgres DSN names no database")?;
        let name = format!(
            "nova_bench_{}_{}",
            std::process::id(),
            now_ns() % 1_000_000_000
        );
        psql(admin, &format!("CREATE DATABASE {name}"))?;
        Ok(FreshDatabase {
            admin: admin.to_string(),
            dsn: format!("{server}/{name}"),
            name,
        })
    }
}

impl Drop for FreshDatabase {
    fn drop(&mut self) {
        if let Err(e) = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        ) {
            eprintln!("{e:#}");
        }
    }
}
