//! How results look in a terminal.

use nova_api::{Function, FunctionAlias, FunctionVersion, InvokeResponse};

pub fn json<T: serde::Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: cannot print JSON: {e}"),
    }
}

pub fn function_table(functions: &[Function]) {
    if functions.is_empty() {
        println!("No functions registered. Try: nova register hello -r python -c hello.py");
        return;
    }
    let header = [
        "NAME", "RUNTIME", "MODE", "VERSION", "MEMORY", "TIMEOUT", "REPLICAS", "UPDATED",
    ];
    let rows: Vec<[String; 8]> = functions
        .iter()
        .map(|f| {
            [
                f.name.clone(),
                f.runtime.to_string(),
                f.mode.to_string(),
                f.version.to_string(),
                format!("{} MB", f.memory_mb),
                format!("{} s", f.timeout_s),
                format!("{}-{}", f.min_replicas, replicas_max(f.max_replicas)),
                f.updated_at.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
}

pub fn function_details(f: &Function) {
    let env = if f.env_vars.is_empty() {
        "-".to_string()
    } else {
        f.env_vars
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let l = &f.limits;
    let rate = |v: i64, unit: &str| {
        if v == 0 {
            "unlimited".to_string()
        } else {
            format!("{v} {unit}")
        }
    };
    let rows = [
        ("Name", f.name.clone()),
        ("ID", f.id.clone()),
        ("Runtime", f.runtime.to_string()),
        ("Handler", f.handler.clone()),
        ("Mode", f.mode.to_string()),
        ("Network", f.network.to_string()),
        ("Version", f.version.to_string()),
        ("Memory", format!("{} MB", f.memory_mb)),
        ("Timeout", format!("{} s", f.timeout_s)),
        (
            "Replicas",
            format!(
                "min {}, max {}",
                f.min_replicas,
                replicas_max(f.max_replicas)
            ),
        ),
        ("vCPUs", l.vcpus.to_string()),
        ("Disk IOPS", rate(l.disk_iops, "ops/s")),
        ("Disk bandwidth", rate(l.disk_bandwidth, "B/s")),
        ("Net RX", rate(l.net_rx_bandwidth, "B/s")),
        ("Net TX", rate(l.net_tx_bandwidth, "B/s")),
        ("Env", env),
        (
            "Code",
            format!("{} bytes, sha256 {}", f.code_size, f.code_hash),
        ),
        ("Created", f.created_at.clone()),
        ("Updated", f.updated_at.clone()),
    ];
    for (k, v) in rows {
        println!("{:<15} {v}", format!("{k}:"));
    }
}

/// A version: the function as it stood, then its description.
pub fn version_details(v: &FunctionVersion) {
    function_details(&v.function);
    let description = if v.description.is_empty() {
        "-"
    } else {
        &v.description
    };
    println!("{:<15} {description}", "Description:");
}

/// Versions, newest first: number, code, the settings that most often change, when, what.
pub fn version_table(versions: &[FunctionVersion]) {
    println!(
        "{:<8} {:<12} {:>8} {:>8}  {:<24}  DESCRIPTION",
        "VERSION", "CODE", "MEMORY", "TIMEOUT", "CREATED (UTC)"
    );
    for v in versions {
        let f = &v.function;
        let description = if v.description.is_empty() {
            "-"
        } else {
            &v.description
        };
        println!(
            "{:<8} {:<12} {:>5} MB {:>6} s  {:<24}  {}",
            f.version,
            &f.code_hash[..f.code_hash.len().min(12)],
            f.memory_mb,
            f.timeout_s,
            f.updated_at,
            description
        );
    }
}

/// Where an alias sends calls: `3`, or `3 (90%), 4 (10%)`.
pub fn alias_targets(a: &FunctionAlias) -> String {
    if a.routing.is_empty() {
        return a.version.to_string();
    }
    let weighted: u32 = a.routing.values().map(|&p| u32::from(p)).sum();
    let mut text = format!("{} ({}%)", a.version, 100 - weighted);
    for (version, percent) in &a.routing {
        text.push_str(&format!(", {version} ({percent}%)"));
    }
    text
}

/// Aliases by name: where each sends calls, when it last changed, what it is for.
pub fn alias_table(aliases: &[FunctionAlias]) {
    println!(
        "{:<20} {:<24}  {:<24}  DESCRIPTION",
        "ALIAS", "VERSIONS", "UPDATED (UTC)"
    );
    for a in aliases {
        let description = if a.description.is_empty() {
            "-"
        } else {
            &a.description
        };
        println!(
            "{:<20} {:<24}  {:<24}  {description}",
            a.name,
            alias_targets(a),
            a.updated_at
        );
    }
}

/// One alias, a field a line.
pub fn alias_details(a: &FunctionAlias) {
    let description = if a.description.is_empty() {
        "-"
    } else {
        &a.description
    };
    let rows = [
        ("Alias", a.name.clone()),
        ("Function", a.function.clone()),
        ("Versions", alias_targets(a)),
        ("Description", description.to_string()),
        ("Created", a.created_at.clone()),
        ("Updated", a.updated_at.clone()),
    ];
    for (k, v) in rows {
        println!("{:<15} {v}", format!("{k}:"));
    }
}

fn replicas_max(max: u32) -> String {
    if max == 0 {
        "unlimited".into()
    } else {
        max.to_string()
    }
}

/// The seed's layout: Request ID, Cold Start, Duration, then the output pretty-printed.
pub fn invocation(r: &InvokeResponse) {
    println!("Request ID: {}", r.request_id);
    println!("Cold Start: {}", r.cold_start);
    if let Some(version) = r.version {
        println!("Version:    {version}");
    }
    println!("Duration:   {}", duration(r));
    match (&r.output, &r.error) {
        (Some(output), None) => {
            println!("Output:");
            let pretty = serde_json::from_str::<serde_json::Value>(output.get())
                .and_then(|v| serde_json::to_string_pretty(&v))
                .unwrap_or_else(|_| output.get().to_string());
            println!("{pretty}");
        }
        (_, Some(error)) => {
            println!("Error:      {error}");
            if !r.stderr.trim().is_empty() {
                println!("Stderr:\n{}", r.stderr.trim_end());
            }
        }
        (None, None) => println!("Output:     (none)"),
    }
    if !r.stdout.trim().is_empty() {
        println!("Logs:\n{}", r.stdout.trim_end());
    }
}

fn duration(r: &InvokeResponse) -> String {
    if r.duration_us >= 10_000 || r.duration_us == 0 {
        format!("{} ms", r.duration_ms)
    } else {
        format!("{:.2} ms", r.duration_us as f64 / 1000.0)
    }
}

/// Invocations, newest first: when, request id, duration, cold start, outcome.
pub fn invocation_table(logs: &[nova_api::InvocationEntry]) {
    if logs.is_empty() {
        println!("No invocations recorded.");
        return;
    }
    println!(
        "{:<24} {:<32} {:>10} {:>5}  RESULT",
        "TIME (UTC)", "REQUEST ID", "DURATION", "COLD"
    );
    for log in logs {
        let outcome = match &log.error_message {
            None => "ok".to_string(),
            Some(e) => format!("error: {}", e.lines().next().unwrap_or("")),
        };
        println!(
            "{:<24} {:<32} {:>8.2}ms {:>5}  {}",
            log.created_at,
            log.id,
            log.duration_us as f64 / 1000.0,
            if log.cold_start { "yes" } else { "no" },
            outcome
        );
    }
}

/// API keys: name, id, scopes, when made, expiry, and whether active, expired or revoked.
pub fn key_table(keys: &[nova::apikeys::ApiKeyView]) {
    if keys.is_empty() {
        println!("No API keys. Create one with: nova apikey create NAME --scopes admin");
        return;
    }
    // To the second: the API's RFC 3339 carries milliseconds.
    let time = |ts: &str| match humantime::parse_rfc3339_weak(ts) {
        Ok(t) => humantime::format_rfc3339_seconds(t).to_string(),
        Err(_) => ts.to_string(),
    };
    println!(
        "{:<20} {:<14} {:<18} {:<22} {:<22} STATUS",
        "NAME", "ID", "SCOPES", "CREATED", "EXPIRES"
    );
    for k in keys {
        let status = k.status.as_str();
        println!(
            "{:<20} {:<14} {:<18} {:<22} {:<22} {status}",
            k.name,
            k.id,
            k.scopes,
            time(&k.created_at),
            k.expires_at
                .as_deref()
                .map(time)
                .unwrap_or_else(|| "never".into()),
        );
    }
}
