//! `nova-bench access`: what an API key check, rate limiting and invocation logging add to a warm
//! invocation. Two daemons in one run: one with all three on (a key on every call, limits far
//! above the load, logs written), one with none, and with `--redis` a third whose limits (and
//! function cache) live in Redis; a persistent Python echo, one client, in alternating rounds so
//! that drift on the machine hits all alike.

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
    /// Also measure a third daemon whose limits and function cache live in this Redis
    /// (host:port), as several daemons sharing state would run.
    #[arg(long)]
    pub redis: Option<String>,
}

const ECHO: &str = "def handler(event, context=None):\n    return {'n': event.get('n')}\n";

pub async fn run(args: AccessArgs) -> Result<()> {
    let nova = find_nova(args.nova.clone())?;
    let off = Daemon::start_configured(&nova, "auto", "logs:\n  enabled: false\n")?;
    const LIMITS: &str = "limits:\n  per_key: 1000000/s\n  per_function: 1000000/s\n";
    let on = Daemon::start_configured(&nova, "auto", LIMITS)?;
    let shared = match &args.redis {
        Some(addr) => Some(Daemon::start_configured(
            &nova,
            "auto",
            &format!("{LIMITS}redis:\n  addr: {addr}\n"),
        )?),
        None => None,
    };
    let plain = reqwest::Client::new();
    let key = create_key(&plain, &on.url).await?;
    let keyed = keyed_client(&key)?;
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
    let shared_auth = match &shared {
        Some(d) => {
            let key = create_key(&plain, &d.url).await?;
            register(
                &keyed_client(&key)?,
                &d.url,
                "echo",
                "python",
                "persistent",
                ECHO.as_bytes(),
            )
            .await?;
            format!("authorization: Bearer {key}\r\n")
        }
        None => String::new(),
    };
    let auth = format!("authorization: Bearer {key}\r\n");
    let mut targets = vec![
        ("off: no key, no limits, no logs", &off, ""),
        ("on: key + limits + logs", &on, auth.as_str()),
    ];
    if let Some(d) = &shared {
        targets.push(("on, limits in redis", d, shared_auth.as_str()));
    }
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
    let mut p50 = vec![Vec::new(); targets.len()];
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
    let off_p50 = median(&mut p50[0]);
    let mut line = format!("p50 (median of rounds): off {off_p50:.3} ms");
    for (i, (name, _, _)) in targets.iter().enumerate().skip(1) {
        let p = median(&mut p50[i]);
        let label = name.split(':').next().unwrap_or(name);
        line.push_str(&format!(
            ", {label} {p:.3} ms ({:+.1} %)",
            (p / off_p50 - 1.0) * 100.0
        ));
    }
    println!("{line} (target ≤ +10 %)");
    Ok(())
}

async fn create_key(client: &reqwest::Client, url: &str) -> Result<String> {
    let reply: serde_json::Value = client
        .post(format!("{url}/apikeys"))
        .json(&serde_json::json!({"name": "bench", "scopes": ["admin"]}))
        .send()
        .await?
        .json()
        .await?;
    Ok(reply["key"].as_str().context("no key created")?.to_string())
}

fn keyed_client(key: &str) -> Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {key}").parse()?,
    );
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .build()?)
}
