//! Where a command goes: the daemon's HTTP API when one answers, else the local store.

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use nova_api::{
    Function, FunctionAlias, FunctionConfig, FunctionPatch, FunctionVersion, InvocationEntry,
    InvokeResponse, Qualifier,
};
use nova_store::{ListQuery, LogQuery, Schedule, VersionQuery};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use nova::apikeys::{CreatedKey, Scope};
use nova::app::AppState;
use nova::config::Settings;
use nova::daemon;
use nova::schedule::ScheduleSpec;

/// How long the CLI waits for a daemon to answer its health check before working locally.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

pub enum Target {
    /// A daemon answered at this base URL.
    Remote {
        client: reqwest::Client,
        url: String,
    },
    /// No daemon: the local store, and a one-off executor for `invoke`.
    Local(AppState),
}

impl Target {
    /// Probes `url`; without an answer from a Nova daemon, opens the local store.
    pub async fn connect(url: &str, api_key: Option<&str>, settings: &Settings) -> Result<Target> {
        let url = url.trim_end_matches('/').to_string();
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(key) = api_key {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}"))
                .context("the API key has characters a header cannot carry")?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .context("cannot create an HTTP client")?;
        if is_nova(&client, &url).await {
            return Ok(Target::Remote { client, url });
        }
        let app = daemon::assemble(settings, false)
            .await
            .context("no daemon answered and the local store could not be opened")?;
        Ok(Target::Local(app))
    }

    pub async fn register(&self, config: FunctionConfig) -> Result<Function> {
        match self {
            Target::Remote { .. } => self.call(Method::POST, "/functions", Some(&config)).await,
            Target::Local(f) => Ok(f.functions.register(config).await?),
        }
    }

    pub async fn update(&self, name: &str, patch: FunctionPatch) -> Result<Function> {
        match self {
            Target::Remote { .. } => {
                self.call(Method::PATCH, &format!("/functions/{name}"), Some(&patch))
                    .await
            }
            Target::Local(f) => Ok(f.functions.update(name, patch).await?),
        }
    }

    pub async fn get(&self, name: &str) -> Result<Function> {
        match self {
            Target::Remote { .. } => {
                self.call(Method::GET, &format!("/functions/{name}"), None::<&()>)
                    .await
            }
            Target::Local(f) => Ok(f.functions.get(name).await?),
        }
    }

    /// Version `number` of `name`.
    pub async fn version(&self, name: &str, number: u64) -> Result<FunctionVersion> {
        match self {
            Target::Remote { .. } => {
                let path = format!("/functions/{name}/versions/{number}");
                self.call(Method::GET, &path, None::<&()>).await
            }
            Target::Local(f) => Ok(f.functions.version(name, number).await?),
        }
    }

    /// Every version of `name`, newest first.
    pub async fn versions(&self, name: &str) -> Result<Vec<FunctionVersion>> {
        let mut all = Vec::new();
        let limit = 1000u32;
        loop {
            let query = VersionQuery {
                limit,
                offset: all.len() as u32,
            };
            let page: Vec<FunctionVersion> = match self {
                Target::Remote { .. } => {
                    let path = format!(
                        "/functions/{name}/versions?limit={limit}&offset={}",
                        query.offset
                    );
                    self.call(Method::GET, &path, None::<&()>).await?
                }
                Target::Local(f) => f.functions.versions(name, &query).await?,
            };
            let done = page.len() < limit as usize;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    pub async fn publish(&self, name: &str, description: &str) -> Result<FunctionVersion> {
        match self {
            Target::Remote { .. } => {
                let body = serde_json::json!({ "description": description });
                let path = format!("/functions/{name}/versions");
                self.call(Method::POST, &path, Some(&body)).await
            }
            Target::Local(f) => Ok(f.functions.publish(name, description).await?),
        }
    }

    /// Creates or moves `alias` (of `alias.function`).
    pub async fn set_alias(&self, alias: &FunctionAlias) -> Result<FunctionAlias> {
        match self {
            Target::Remote { .. } => {
                let path = format!("/functions/{}/aliases/{}", alias.function, alias.name);
                self.call(Method::PUT, &path, Some(alias)).await
            }
            Target::Local(f) => Ok(f.functions.set_alias(alias.clone(), true).await?),
        }
    }

    /// The aliases of `name`, by name.
    pub async fn aliases(&self, name: &str) -> Result<Vec<FunctionAlias>> {
        match self {
            Target::Remote { .. } => {
                let path = format!("/functions/{name}/aliases");
                self.call(Method::GET, &path, None::<&()>).await
            }
            Target::Local(f) => Ok(f.functions.aliases(name).await?),
        }
    }

    pub async fn alias(&self, name: &str, alias: &str) -> Result<FunctionAlias> {
        match self {
            Target::Remote { .. } => {
                let path = format!("/functions/{name}/aliases/{alias}");
                self.call(Method::GET, &path, None::<&()>).await
            }
            Target::Local(f) => Ok(f.functions.alias(name, alias).await?),
        }
    }

    pub async fn delete_alias(&self, name: &str, alias: &str) -> Result<()> {
        match self {
            Target::Remote { .. } => {
                let path = format!("/functions/{name}/aliases/{alias}");
                self.send(Method::DELETE, &path, None::<&()>).await?;
                Ok(())
            }
            Target::Local(f) => Ok(f.functions.delete_alias(name, alias).await?),
        }
    }

    pub async fn create_schedule(&self, name: &str, spec: &ScheduleSpec) -> Result<Schedule> {
        match self {
            Target::Remote { .. } => {
                let path = format!("/functions/{name}/schedules");
                self.call(Method::POST, &path, Some(spec)).await
            }
            Target::Local(f) => Ok(f.schedules.create(name, spec.clone()).await?),
        }
    }

    pub async fn schedules(&self, name: &str) -> Result<Vec<Schedule>> {
        match self {
            Target::Remote { .. } => {
                let path = format!("/functions/{name}/schedules");
                self.call(Method::GET, &path, None::<&()>).await
            }
            Target::Local(f) => Ok(f.schedules.list(name).await?),
        }
    }

    pub async fn update_schedule(
        &self,
        name: &str,
        id: &str,
        spec: &ScheduleSpec,
    ) -> Result<Schedule> {
        match self {
            Target::Remote { .. } => {
                let path = format!("/functions/{name}/schedules/{id}");
                self.call(Method::PATCH, &path, Some(spec)).await
            }
            Target::Local(f) => Ok(f.schedules.update(name, id, spec.clone()).await?),
        }
    }

    pub async fn delete_schedule(&self, name: &str, id: &str) -> Result<()> {
        match self {
            Target::Remote { .. } => {
                let path = format!("/functions/{name}/schedules/{id}");
                self.send(Method::DELETE, &path, None::<&()>).await?;
                Ok(())
            }
            Target::Local(f) => Ok(f.schedules.delete(name, id).await?),
        }
    }

    pub async fn create_key(
        &self,
        name: &str,
        scopes: &[Scope],
        expires: Option<String>,
    ) -> Result<CreatedKey> {
        match self {
            Target::Remote { .. } => {
                let body =
                    serde_json::json!({"name": name, "scopes": scopes, "expires_in": expires});
                self.call(Method::POST, "/apikeys", Some(&body)).await
            }
            Target::Local(f) => {
                let ttl = match expires {
                    Some(text) => Some(
                        humantime::parse_duration(&text)
                            .with_context(|| format!("--expires '{text}'"))?,
                    ),
                    None => None,
                };
                Ok(f.keys.create(name, scopes, ttl).await?)
            }
        }
    }

    pub async fn list_keys(&self) -> Result<Vec<nova::apikeys::ApiKeyView>> {
        match self {
            Target::Remote { .. } => self.call(Method::GET, "/apikeys", None::<&()>).await,
            Target::Local(f) => Ok(f.keys.list().await?),
        }
    }

    pub async fn revoke_key(&self, name: &str) -> Result<()> {
        match self {
            Target::Remote { .. } => {
                self.send(
                    Method::POST,
                    &format!("/apikeys/{name}/revoke"),
                    None::<&()>,
                )
                .await?;
                Ok(())
            }
            Target::Local(f) => match f.keys.revoke(name).await? {
                true => Ok(()),
                false => Err(anyhow!("no active API key '{name}'")),
            },
        }
    }

    pub async fn delete_key(&self, name: &str) -> Result<()> {
        match self {
            Target::Remote { .. } => {
                self.send(Method::DELETE, &format!("/apikeys/{name}"), None::<&()>)
                    .await?;
                Ok(())
            }
            Target::Local(f) => match f.keys.delete(name).await? {
                true => Ok(()),
                false => Err(anyhow!("no API key '{name}'")),
            },
        }
    }

    pub async fn set_secret(&self, name: &str, value: &str) -> Result<()> {
        match self {
            Target::Remote { .. } => {
                let body = serde_json::json!({ "value": value });
                self.send(Method::PUT, &format!("/secrets/{name}"), Some(&body))
                    .await?;
                Ok(())
            }
            Target::Local(f) => Ok(f.functions.set_secret(name, value).await?),
        }
    }

    pub async fn get_secret(&self, name: &str) -> Result<String> {
        match self {
            Target::Remote { .. } => {
                let reply: serde_json::Value = self
                    .call(Method::GET, &format!("/secrets/{name}"), None::<&()>)
                    .await?;
                Ok(reply["value"].as_str().unwrap_or_default().to_string())
            }
            Target::Local(f) => Ok(f
                .secrets()?
                .get(name)
                .await
                .map_err(nova::service::ServiceError::from)?),
        }
    }

    /// (name, updated_at in RFC 3339) of every secret.
    pub async fn list_secrets(&self) -> Result<Vec<(String, String)>> {
        let listed: Vec<serde_json::Value> = match self {
            Target::Remote { .. } => self.call(Method::GET, "/secrets", None::<&()>).await?,
            Target::Local(f) => f
                .secrets()?
                .list()
                .await
                .map_err(nova::service::ServiceError::from)?
                .into_iter()
                .map(|s| {
                    let updated_at = nova::logs::rfc3339(s.updated_at);
                    serde_json::json!({"name": s.name, "updated_at": updated_at})
                })
                .collect(),
        };
        Ok(listed
            .iter()
            .map(|s| {
                let name = s["name"].as_str().unwrap_or_default().to_string();
                let updated_at = s["updated_at"].as_str().unwrap_or_default().to_string();
                (name, updated_at)
            })
            .collect())
    }

    pub async fn delete_secret(&self, name: &str) -> Result<()> {
        match self {
            Target::Remote { .. } => {
                self.send(Method::DELETE, &format!("/secrets/{name}"), None::<&()>)
                    .await?;
                Ok(())
            }
            Target::Local(f) => match f.functions.delete_secret(name).await? {
                true => Ok(()),
                false => Err(anyhow!("no secret named '{name}'")),
            },
        }
    }

    /// The newest `tail` invocations of `name` (or the one with `request_id`).
    pub async fn logs(
        &self,
        name: &str,
        tail: u32,
        request_id: Option<String>,
    ) -> Result<Vec<InvocationEntry>> {
        match self {
            Target::Remote { .. } => {
                let mut path = format!("/functions/{name}/logs?tail={tail}");
                if let Some(id) = &request_id {
                    path.push_str(&format!("&request_id={}", nova::config::percent_encode(id)));
                }
                self.call(Method::GET, &path, None::<&()>).await
            }
            Target::Local(f) => {
                f.functions.get(name).await?;
                let query = LogQuery {
                    function: Some(name.to_string()),
                    request_id,
                    limit: tail,
                    offset: 0,
                };
                Ok(f.functions.invocations(&query).await?)
            }
        }
    }

    pub async fn list(&self, search: Option<String>) -> Result<Vec<Function>> {
        let mut all = Vec::new();
        let limit = 1000u32;
        loop {
            let query = ListQuery {
                search: search.clone(),
                limit,
                offset: all.len() as u32,
            };
            let page: Vec<Function> = match self {
                Target::Remote { .. } => {
                    let mut path = format!("/functions?limit={limit}&offset={}", query.offset);
                    if let Some(s) = &search {
                        path.push_str(&format!("&search={}", nova::config::percent_encode(s)));
                    }
                    self.call(Method::GET, &path, None::<&()>).await?
                }
                Target::Local(f) => f.functions.list(&query).await?,
            };
            let done = page.len() < limit as usize;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    pub async fn delete(&self, name: &str) -> Result<()> {
        match self {
            Target::Remote { .. } => {
                self.send(Method::DELETE, &format!("/functions/{name}"), None::<&()>)
                    .await?;
                Ok(())
            }
            Target::Local(f) => Ok(f.functions.delete(name).await?),
        }
    }

    pub async fn invoke(
        &self,
        name: &str,
        qualifier: &Qualifier,
        payload: String,
    ) -> Result<InvokeResponse> {
        match self {
            Target::Remote { client, url } => {
                let mut path = format!("{url}/functions/{name}/invoke");
                if *qualifier != Qualifier::Latest {
                    let q = nova::config::percent_encode(&qualifier.to_string());
                    path.push_str(&format!("?qualifier={q}"));
                }
                let resp = client
                    .post(path)
                    .header("content-type", "application/json")
                    .body(payload)
                    .send()
                    .await
                    .with_context(|| format!("cannot reach the Nova daemon at {url}"))?;
                // A timeout (504) still carries the invocation's answer.
                if resp.status() == StatusCode::GATEWAY_TIMEOUT {
                    return resp
                        .json()
                        .await
                        .context("unreadable reply from the daemon");
                }
                decode(resp).await
            }
            Target::Local(f) => {
                let result = f.functions.invoke_at(name, qualifier, &payload).await;
                f.functions.dataplane().shutdown().await;
                Ok(result?)
            }
        }
    }

    /// Stops what a local target started.
    pub async fn close(self) {
        if let Target::Local(f) = self {
            f.functions.dataplane().shutdown().await;
        }
    }

    pub(super) async fn call<B: serde::Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T> {
        decode(self.send(method, path, body).await?).await
    }

    pub(super) async fn send<B: serde::Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<reqwest::Response> {
        let Target::Remote { client, url } = self else {
            unreachable!("only remote targets send requests");
        };
        let mut request = client.request(method, format!("{url}{path}"));
        if let Some(body) = body {
            request = request.json(body);
        }
        let resp = request
            .send()
            .await
            .with_context(|| format!("cannot reach the Nova daemon at {url}"))?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(error_of(resp).await)
        }
    }
}

pub(super) async fn decode<T: DeserializeOwned>(resp: reqwest::Response) -> Result<T> {
    if !resp.status().is_success() {
        return Err(error_of(resp).await);
    }
    resp.json()
        .await
        .context("unreadable reply from the daemon")
}

/// The daemon's `{"error": "..."}` as an error message.
async fn error_of(resp: reqwest::Response) -> anyhow::Error {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or(text);
    anyhow!("{message} (HTTP {})", status.as_u16())
}

async fn is_nova(client: &reqwest::Client, url: &str) -> bool {
    let probe = client
        .get(format!("{url}/health"))
        .timeout(PROBE_TIMEOUT)
        .send();
    match probe.await {
        Ok(resp) if resp.status().is_success() => resp
            .json::<serde_json::Value>()
            .await
            .is_ok_and(|v| v.get("service").and_then(|s| s.as_str()) == Some("nova")),
        _ => false,
    }
}
