//! A COMET client with failover across heads, speaking the API exactly as the original Python
//! `CometInterface` does: query parameters, `Accept: application/json`, bodies
//! `{"val_": "<JSON as a string>"}`.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use reqwest::Method;
use reqwest::blocking::Client;
use serde_json::Value;

pub struct CometClient {
    heads: Vec<String>,
    http: Client,
}

/// The tokens and address of a slice's entries.
#[derive(Debug, Clone)]
pub struct Slice {
    pub id: String,
    pub read_token: String,
    pub write_token: String,
}

impl CometClient {
    /// `heads` are base URLs (`https://comet1:8111/`); `ca_cert` is a PEM file to trust;
    /// `identity` a PEM client certificate and key, for heads that want one to create entries.
    pub fn new(
        heads: Vec<String>,
        ca_cert: Option<&std::path::Path>,
        identity: Option<(&std::path::Path, &std::path::Path)>,
        insecure: bool,
    ) -> Result<CometClient> {
        if heads.is_empty() {
            bail!("no COMET heads given");
        }
        let mut builder = Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .danger_accept_invalid_certs(insecure);
        if let Some(path) = ca_cert {
            let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
        }
        if let Some((cert, key)) = identity {
            let mut pem =
                std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?;
            pem.extend(std::fs::read(key).with_context(|| format!("reading {}", key.display()))?);
            builder = builder.identity(reqwest::Identity::from_pem(&pem)?);
        }
        Ok(CometClient {
            heads: heads
                .into_iter()
                .map(|h| h.trim_end_matches('/').to_string())
                .collect(),
            http: builder.build()?,
        })
    }

    /// Tries each head, in a fresh random order, until one answers; a head that is down or
    /// failing (5xx) is skipped.
    fn call(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, &str)],
        body: Option<String>,
    ) -> Result<Value> {
        let mut order: Vec<&String> = self.heads.iter().collect();
        shuffle(&mut order);
        let mut last_error = None;
        for head in order {
            let mut request = self
                .http
                .request(method.clone(), format!("{head}{path}"))
                .query(params)
                .header("Accept", "application/json");
            if let Some(body) = &body {
                request = request
                    .header("Content-Type", "application/json")
                    .body(body.clone());
            }
            match request.send() {
                Ok(r) if r.status().is_server_error() => {
                    // Say why (a full store is a 507 too), when the head says it.
                    let status = r.status();
                    let why = r
                        .json::<Value>()
                        .ok()
                        .and_then(|v| v["message"].as_str().map(|m| format!(": {m}")))
                        .unwrap_or_default();
                    last_error = Some(anyhow!("{head}: {status}{why}"));
                }
                Ok(r) => {
                    let status = r.status();
                    match r.json::<Value>() {
                        Ok(reply) if status.is_success() => return Ok(reply["value"].clone()),
                        // A refusal (4xx) would be the same at every head.
                        Ok(reply) => bail!("{head}: {status}: {}", reply["message"]),
                        // Something that is not a COMET head answered: try the next one.
                        Err(e) => last_error = Some(anyhow!("{head}: not a COMET reply: {e}")),
                    }
                }
                Err(e) => {
                    tracing::debug!(head = %head, error = %e, "head skipped");
                    last_error = Some(anyhow!("{head}: {e}"));
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow!("no head answered")))
    }

    /// Writes `items` as the entry `(slice, family, key)`.
    pub fn write(&self, slice: &Slice, family: &str, key: &str, items: &Value) -> Result<()> {
        let body = serde_json::json!({ "val_": items.to_string() }).to_string();
        let params = [
            ("contextID", slice.id.as_str()),
            ("family", family),
            ("Key", key),
            ("readToken", slice.read_token.as_str()),
            ("writeToken", slice.write_token.as_str()),
        ];
        let value = self.call(Method::POST, "/writeScope", &params, Some(body))?;
        if let Some(error) = value.get("error") {
            bail!("writing {family}/{key}: {error}");
        }
        Ok(())
    }

    /// Every entry of `family`: key and the decoded `val_` list of each.
    pub fn enumerate(&self, slice: &Slice, family: &str) -> Result<Vec<(String, Vec<Value>)>> {
        let params = [
            ("contextID", slice.id.as_str()),
            ("family", family),
            ("readToken", slice.read_token.as_str()),
        ];
        let value = self.call(Method::GET, "/enumerateScope", &params, None)?;
        // Without a list the reply says nothing: never empty the files because of it.
        let Some(entries) = value["entries"].as_array() else {
            bail!("enumerating {family}: the reply has no entries: {value}");
        };
        let mut out = Vec::new();
        for entry in entries {
            let key = entry["key"].as_str().unwrap_or_default().to_string();
            match decode(&entry["value"]) {
                Some(items) => out.push((key, items)),
                None => tracing::warn!(family, key, "entry value is not a val_ list; skipped"),
            }
        }
        Ok(out)
    }
}

/// `"{\"val_\": \"[...]\"}"` → the list: decoded twice, as every COMET client does.
fn decode(value: &Value) -> Option<Vec<Value>> {
    let outer: Value = serde_json::from_str(value.as_str()?).ok()?;
    let inner: Value = serde_json::from_str(outer.get("val_")?.as_str()?).ok()?;
    inner.as_array().cloned()
}

/// A Fisher-Yates shuffle seeded from the clock: spreading VMs over heads needs no more.
fn shuffle<T>(items: &mut [T]) {
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        ^ u64::from(std::process::id());
    for i in (1..items.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        items.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_decoded_twice() {
        let stored =
            Value::String(r#"{"val_": "[{\"hostName\": \"vm1\", \"ip\": \"10.0.0.1\"}]"}"#.into());
        let items = decode(&stored).unwrap();
        assert_eq!(items[0]["hostName"], "vm1");
        assert!(decode(&Value::String("not json".into())).is_none());
        assert!(decode(&Value::String(r#"{"val_": "{}"}"#.into())).is_none());
    }

    #[test]
    fn shuffle_keeps_every_item() {
        let mut items: Vec<u32> = (0..50).collect();
        shuffle(&mut items);
        items.sort();
        assert_eq!(items, (0..50).collect::<Vec<_>>());
    }
}
