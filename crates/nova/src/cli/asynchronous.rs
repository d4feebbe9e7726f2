//! `nova invoke NAME --async` and `nova async get|list|retry`: async invocations, through the
//! daemon's HTTP API, or on the local store when no daemon answers (an enqueue is then stored
//! and a daemon on the store runs it when it starts).

use anyhow::{Context, Result};
use clap::Subcommand;
use nova_api::Qualifier;
use nova_store::AsyncQuery;
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
