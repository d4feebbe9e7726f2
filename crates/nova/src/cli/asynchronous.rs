//! `nova invoke NAME --async` and `nova async get|list|retry|config`: async invocations and a
//! function's async settings, through the daemon's HTTP API, or on the local store when no
//! daemon answers (an enqueue is then stored and a daemon on the store runs it when it starts).

use anyhow::{Context, Result};
use clap::Subcommand;
use nova_api::Qualifier;
use nova_store::{AsyncConfig, AsyncQuery};
use reqwest::Method;
use serde_json::Value;

use super::args::Output;
use super::target::Target;

#[derive(Debug, Subcommand)]
pub enum AsyncCommand {
    /// Show one async invocation: status, attempts, each attempt's error, the result.
    Get {
        /// The id `nova invoke NAME --async` printed.
        id: String,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "table")]
        output: Output,
    },
    /// List async invocations, newest first.
    List {
        /// Only this function's.
        #[arg(long)]
        function: Option<String>,
        /// Only those in this status: queued, running, succeeded, failed (a retry is coming),
        /// dead_lettered.
        #[arg(long)]
        status: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "table")]
        output: Output,
    },
    /// Queue a dead-lettered invocation again (its attempts start over).
    Retry {
        /// The invocation's id.
        id: String,
    },
    /// Show or change a function's own async settings: attempts, maximum event age, concurrency,
    /// and the functions called when an invocation succeeds or is dead-lettered. What is not
    /// set comes from the daemon's `async:` section. With no option, shows them.
    #[command(after_help = "Examples:\n  \
        nova async config resize --max-attempts 5 --on-failure alert\n  \
        nova async config resize --on-success audit --max-event-age 1h\n  \
        nova async config resize --unset on-success\n  \
        nova async config resize --clear\n\n\
        A destination gets one async call per outcome, its payload:\n  \
        {\"condition\": \"success\" | \"dead_lettered\", \"source\": {\"id\", \"function\", \"version\", ...},\n   \
        \"request\": <the payload>, \"response\": <the result>, \"errors\": [<each failed attempt>]}")]
    Config(ConfigArgs),
}

/// `nova async config`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// The function.
    name: String,
    /// Attempts before an invocation is dead-lettered (1 to 100).
    #[arg(long)]
    max_attempts: Option<u32>,
    /// Dead-letter an invocation not succeeded this long after it was accepted (e.g. 30m, 6h;
    /// at most 7d).
    #[arg(long, value_parser = humantime::parse_duration)]
    max_event_age: Option<std::time::Duration>,
    /// Calls of the function each daemon runs at once from the queue (1 to 1000; 0 pauses it:
    /// calls are still accepted and wait until it is raised).
    #[arg(long)]
    concurrency: Option<u32>,
    /// Call this function (async) with the request and result when an invocation succeeds.
    #[arg(long, value_name = "FUNCTION")]
    on_success: Option<String>,
    /// Call this function (async) with the request and errors when one is dead-lettered.
    #[arg(long, value_name = "FUNCTION")]
    on_failure: Option<String>,
    /// Forget one setting (it falls back to the daemon's): max-attempts, max-event-age,
    /// concurrency, on-success or on-failure. Repeatable.
    #[arg(long, value_name = "SETTING")]
    unset: Vec<String>,
    /// Forget every setting of the function's own.
    #[arg(long, conflicts_with_all = ["max_attempts", "max_event_age", "concurrency", "on_success", "on_failure", "unset"])]
    clear: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    output: Output,
}

/// `nova invoke NAME --async`: prints the id (and, with no daemon, who will run it).
pub async fn enqueue(
    target: &Target,
    name: &str,
    qualifier: &Qualifier,
    payload: String,
    key: Option<&str>,
) -> Result<()> {
    let (id, local) = match target {
        Target::Remote { client, url } => {
            let mut path = format!("{url}/functions/{name}/invoke-async");
            if *qualifier != Qualifier::Latest {
                let q = nova::config::percent_encode(&qualifier.to_string());
                path.push_str(&format!("?qualifier={q}"));
            }
            let mut request = client
                .post(path)
                .header("content-type", "application/json")
                .body(payload);
            if let Some(key) = key {
                request = request.header("idempotency-key", key);
            }
            let resp = request
                .send()
                .await
                .with_context(|| format!("cannot reach the Nova daemon at {url}"))?;
            let body: Value = super::target::decode(resp).await?;
            (body["id"].as_str().unwrap_or_default().to_string(), false)
        }
        Target::Local(app) => {
            let (invocation, _) = app.queue.enqueue(name, qualifier, &payload, key).await?;
            (invocation.id, true)
        }
    };
    println!("{id}");
    if local {
        eprintln!("queued in the local store: a Nova daemon on this store runs it when it starts");
    }
    Ok(())
}

pub async fn run(target: &Target, command: AsyncCommand) -> Result<()> {
    match command {
        AsyncCommand::Get { id, output } => {
            let invocation = get(target, &id).await?;
            match output {
                Output::Json => super::print::json(&invocation),
                Output::Table => details(&invocation),
            }
        }
        AsyncCommand::List {
            function,
            status,
            limit,
            output,
        } => {
            let list = list(target, function, status, limit).await?;
            match output {
                Output::Json => super::print::json(&list),
                Output::Table => table(&list),
            }
        }
        AsyncCommand::Retry { id } => {
            let invocation = match target {
                Target::Remote { .. } => {
                    let path = format!("/async-invocations/{id}/retry");
                    target.call::<(), Value>(Method::POST, &path, None).await?
                }
                Target::Local(app) => serde_json::to_value(app.queue.retry(&id).await?)?,
            };
            println!("{id} {}", invocation["status"].as_str().unwrap_or("?"));
        }
        AsyncCommand::Config(args) => config(target, args).await?,
    }
    Ok(())
}

/// `nova async config`: shows, changes (read, change what the options name, write back whole)
/// or clears a function's own settings.
async fn config(target: &Target, args: ConfigArgs) -> Result<()> {
    let name = args.name.as_str();
    let path = format!("/functions/{name}/async-config");
    let view: Value = if args.clear {
        match target {
            Target::Remote { .. } => {
                target.send(Method::DELETE, &path, None::<&()>).await?;
            }
            Target::Local(app) => {
                if !app.queue.delete_config(name).await? {
                    anyhow::bail!("function '{name}' has no async settings of its own");
                }
            }
        }
        eprintln!("{name}: async settings cleared; the daemon's apply");
        return Ok(());
    } else {
        let shown = match target {
            Target::Remote { .. } => target.call::<(), Value>(Method::GET, &path, None).await?,
            Target::Local(app) => serde_json::to_value(app.queue.config(name).await?)?,
        };
        let mut own: AsyncConfig = serde_json::from_value(shown["own"].clone())
            .context("the daemon answered settings this CLI cannot read")?;
        let changed = args.max_attempts.is_some()
            || args.max_event_age.is_some()
            || args.concurrency.is_some()
            || args.on_success.is_some()
            || args.on_failure.is_some()
            || !args.unset.is_empty();
        if !changed {
            shown
        } else {
            for setting in &args.unset {
                match setting.replace('_', "-").as_str() {
                    "max-attempts" => own.max_attempts = None,
                    "max-event-age" => own.max_event_age_s = None,
                    "concurrency" => own.concurrency = None,
                    "on-success" => own.on_success = None,
                    "on-failure" => own.on_failure = None,
                    other => anyhow::bail!(
                        "--unset {other}: no such setting (max-attempts, max-event-age, concurrency, on-success, on-failure)"
                    ),
                }
            }
            own.max_attempts = args.max_attempts.or(own.max_attempts);
            own.concurrency = args.concurrency.or(own.concurrency);
            if let Some(age) = args.max_event_age {
                own.max_event_age_s = Some(age.as_secs());
            }
            own.on_success = args.on_success.or(own.on_success);
            own.on_failure = args.on_failure.or(own.on_failure);
            match target {
                Target::Remote { .. } => target.call(Method::PUT, &path, Some(&own)).await?,
                Target::Local(app) => serde_json::to_value(app.queue.set_config(name, own).await?)?,
            }
        }
    };
    match args.output {
        Output::Json => super::print::json(&view),
        Output::Table => {
            let (own, effective) = (&view["own"], &view["effective"]);
            println!("{:<16} {:<24} SOURCE", "SETTING", "VALUE");
            for key in [
                "max_attempts",
                "max_event_age_s",
                "concurrency",
                "on_success",
                "on_failure",
            ] {
                let value = match &effective[key] {
                    Value::Null => "-".to_string(),
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                };
                let source = if own[key].is_null() {
                    "daemon"
                } else {
                    "function"
                };
                println!("{key:<16} {value:<24} {source}");
            }
        }
    }
    Ok(())
}

async fn get(target: &Target, id: &str) -> Result<Value> {
    Ok(match target {
        Target::Remote { .. } => {
            let path = format!("/async-invocations/{id}");
            target.call::<(), Value>(Method::GET, &path, None).await?
        }
        Target::Local(app) => serde_json::to_value(app.queue.get(id).await?)?,
    })
}

async fn list(
    target: &Target,
    function: Option<String>,
    status: Option<String>,
    limit: u32,
) -> Result<Value> {
    Ok(match target {
        Target::Remote { .. } => {
            let mut path = format!("/async-invocations?limit={limit}");
            for (name, value) in [("function", &function), ("status", &status)] {
                if let Some(value) = value {
                    let value = nova::config::percent_encode(value);
                    path.push_str(&format!("&{name}={value}"));
                }
            }
            target.call::<(), Value>(Method::GET, &path, None).await?
        }
        Target::Local(app) => {
            let query = AsyncQuery {
                function,
                status: status
                    .as_deref()
                    .map(nova::queue::parse_status)
                    .transpose()?,
                limit,
                offset: 0,
            };
            serde_json::to_value(app.queue.list(&query).await?)?
        }
    })
}

fn time(value: &Value) -> String {
    value
        .as_i64()
        .map(comet_util::rfc3339)
        .unwrap_or_else(|| "-".into())
}

fn details(i: &Value) {
    let text = |key: &str| i[key].as_str().unwrap_or("-").to_string();
    println!("ID:           {}", text("id"));
    println!("Function:     {}:{}", text("function"), text("qualifier"));
    println!("Status:       {}", text("status"));
    println!("Attempts:     {} of {}", i["attempts"], i["max_attempts"]);
    if let Some(version) = i["version"].as_u64() {
        println!("Version:      {version}");
    }
    println!("Created:      {}", time(&i["created_at_ms"]));
    println!("Updated:      {}", time(&i["updated_at_ms"]));
    if matches!(text("status").as_str(), "queued" | "failed") {
        println!("Next attempt: {}", time(&i["next_attempt_at_ms"]));
    }
    for e in i["errors"].as_array().into_iter().flatten() {
        let error = e["error"].as_str().unwrap_or_default();
        println!("Attempt {}:    {} {error}", e["attempt"], time(&e["at_ms"]));
    }
    if !i["result"].is_null() {
        println!("Result:       {}", i["result"]);
    }
}

fn table(list: &Value) {
    println!(
        "{:<34} {:<20} {:<14} {:>8}  CREATED",
        "ID", "FUNCTION", "STATUS", "ATTEMPTS"
    );
    for i in list.as_array().into_iter().flatten() {
        let attempts = format!("{}/{}", i["attempts"], i["max_attempts"]);
        println!(
            "{:<34} {:<20} {:<14} {:>8}  {}",
            i["id"].as_str().unwrap_or("-"),
            i["function"].as_str().unwrap_or("-"),
            i["status"].as_str().unwrap_or("-"),
            attempts,
            time(&i["created_at_ms"])
        );
    }
}
