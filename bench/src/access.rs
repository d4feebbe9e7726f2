//! `nova-bench access`: what an API key check, rate limiting and invocation logging add to a warm
//! invocation. Two daemons in one run: one with all three on (a key on every call, limits far
//! above the load, logs written), one with none; a persistent Python echo, one client, in
//! alternating rounds so that drift on the machine hits both alike.

use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::daemon::{Daemon, find_nova};
use crate::load::register;
use crate::raw_http;
use crate::stats;

#[derive(clap::Args)]
pub struct AccessArgs {
    /// How long each round runs.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Rounds per daemon.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// The nova binary [default: beside this one].
    #[arg(long)]
    pub nova: Option<std::path::PathBuf>,
}

const ECHO: &str = "def handler(event, context=None):\n    return {'n': event.get('n')}\n";

pub async fn run(args: AccessArgs) -> Result<()> {
    let nova = find_nova(args.nova.clone())?;
    let off = Daemon::start_configured(&nova, "auto", "logs:\n  enabled: false\n")?;
    let on = Daemon::start_configured(
        &nova,
        "auto",
        "limits:\n  per_key: 1000000/s\n  per_function: 1000000/s\n",
    )?;
    let plain = reqwest::Client::new();
    let reply: serde_json::Value = plain
        .post(format!("{}/apikeys", on.url))
        .json(&serde_json::json!({"name": "bench", "scopes": ["admin"]}))
        .send()
        .await?
        .json()
        .await?;
    let key = reply["key"].as_str().context("no key created")?.to_string();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {key}").parse()?,
    );
    let keyed = reqwest::Client::builder()
        .default_headers(headers)
        .build()?;
    register(
        &plain,
        &off.url,
        "echo",
        "python",
        "persistent",
        ECHO.as_bytes(),
    )
    .await?;
    register(
        &keyed,
        &on.url,
        "echo",
        "python",
        "persistent",
        ECHO.as_bytes(),
    )
    .await?;
    let auth = format!("authorization: Bearer {key}\r\n");
    let targets = [
        ("off: no key, no limits, no logs", &off, ""),
        ("on: key + limits + logs", &on, auth.as_str()),
    ];
    for (_, daemon, headers) in &targets {
        let url = format!("{}/functions/echo/invoke", daemon.url);
        let warm = raw_http::load_with_headers(
            &url,
            "POST",
            r#"{"n": 1}"#,
            headers,
            1,
            Duration::from_millis(500),
        )
        .await;
        if warm.errors > 0 {
            bail!("the warm-up failed at {}", daemon.url);
        }
    }
    println!(
        "warm persistent python invoke over HTTP, 1 client, {} alternating rounds",
        args.rounds
    );
    stats::header();
    let mut p50 = [Vec::new(), Vec::new()];
    for _ in 0..args.rounds {
        for (i, (name, daemon, headers)) in targets.iter().enumerate() {
            let url = format!("{}/functions/echo/invoke", daemon.url);
            let s =
                raw_http::load_with_headers(&url, "POST", r#"{"n": 1}"#, headers, 1, args.duration)
                    .await
                    .summary();
            stats::row(name, 1, &s);
            p50[i].push(s.p50_ms);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (off_p50, on_p50) = (median(&mut p50[0]), median(&mut p50[1]));
    println!(
        "p50 (median of rounds): off {:.3} ms, on {:.3} ms: {:+.1} % (target ≤ +10 %)",
        off_p50,
        on_p50,
        (on_p50 / off_p50 - 1.0) * 100.0
    );
    Ok(())
}
