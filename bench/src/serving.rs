//! `nova-bench serving`: what our serving loop (`comet_httpd::serve`: header timeout, connection
//! cap, JSON answers for parser errors) and the browser guard (Host, Origin, JSON bodies) cost
//! per request, beside `axum::serve` running the same router in the same process, in alternating
//! rounds. The route echoes a small JSON body, so the figures are the HTTP layer alone.

use std::time::Duration;

use anyhow::Result;
use axum::Router;
use axum::routing::post;
use tokio::net::TcpListener;

use crate::raw_http;
use crate::stats;

#[derive(clap::Args)]
pub struct ServingArgs {
    /// How long each measurement runs.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Concurrent clients of the throughput rows.
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// Alternating rounds; the summary takes the median of each.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
}

fn app() -> Router {
    Router::new().route("/echo", post(|body: String| async move { body }))
}

async fn listener() -> Result<(TcpListener, String)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/echo", listener.local_addr()?);
    Ok((listener, url))
}

pub async fn run(args: ServingArgs) -> Result<()> {
    let (plain, plain_url) = listener().await?;
    tokio::spawn(async move { axum::serve(plain, app()).await });
    let (ours, ours_url) = listener().await?;
    tokio::spawn(comet_httpd::serve(
        ours,
        app(),
        comet_httpd::Limits::default(),
        std::future::pending(),
    ));
    let (guarded, guarded_url) = listener().await?;
    let guard = comet_httpd::BrowserGuard::new(comet_httpd::GuardConfig {
        check_host: true,
        json_bodies: true,
        ..Default::default()
    });
    tokio::spawn(comet_httpd::serve(
        guarded,
        guard.layer(app()),
        comet_httpd::Limits::default(),
        std::future::pending(),
    ));
    let targets = [
        ("axum::serve (baseline)", plain_url),
        ("comet_httpd::serve", ours_url),
        ("comet_httpd::serve + guard", guarded_url),
    ];
    const BODY: &str = r#"{"n": 1}"#;
    for (_, url) in &targets {
        let warm = raw_http::load(url, "POST", BODY, 1, Duration::from_millis(300)).await;
        anyhow::ensure!(warm.errors == 0, "the warm-up failed at {url}");
    }
    println!(
        "POST of a small JSON body echoed back, {} alternating rounds",
        args.rounds
    );
    stats::header();
    let mut p50 = vec![Vec::new(); targets.len()];
    let mut rate = vec![Vec::new(); targets.len()];
    for _ in 0..args.rounds {
        for (i, (name, url)) in targets.iter().enumerate() {
            let one = raw_http::load(url, "POST", BODY, 1, args.duration)
                .await
                .summary();
            stats::row(name, 1, &one);
            p50[i].push(one.p50_ms * 1000.0);
            let many = raw_http::load(url, "POST", BODY, args.clients, args.duration)
                .await
                .summary();
            stats::row(name, args.clients, &many);
            rate[i].push(many.per_sec);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (base_p50, base_rate) = (median(&mut p50[0]), median(&mut rate[0]));
    println!(
        "medians: {} p50 {base_p50:.1} µs, {base_rate:.0} req/s",
        targets[0].0
    );
    for i in 1..targets.len() {
        let (p, r) = (median(&mut p50[i]), median(&mut rate[i]));
        println!(
            "         {} p50 {p:.1} µs ({:+.1} µs), {r:.0} req/s ({:+.1} %)",
            targets[i].0,
            p - base_p50,
            (r / base_rate - 1.0) * 100.0
        );
    }
    Ok(())
}
