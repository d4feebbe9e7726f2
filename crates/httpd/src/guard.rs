//! Keeping web pages out. A server on the developer's machine is reachable by any page their
//! browser opens: a cross-site `fetch` with `Content-Type: text/plain` needs no preflight, and a
//! DNS name that an attacker points at 127.0.0.1 (DNS rebinding) makes the page same-origin with
//! the server. So, before any route runs:
//!
//! - the `Host` must be `localhost` (or a `*.localhost` name), an IP literal, or a configured name
//!   (when [`GuardConfig::check_host`]): a rebound name carries the attacker's host name;
//! - an `Origin`, when sent (browsers send it on every cross-origin request and on every POST),
//!   must be the server's own (`http(s)://` + the `Host` it was reached at) or a configured one;
//! - with [`GuardConfig::json_bodies`], a request that changes state and carries a body must say
//!   `Content-Type: application/json` (or `…+json`), which a page cannot send cross-site without a
//!   preflight that the `Origin` check refuses; paths under [`GuardConfig::raw_body_prefixes`]
//!   (stores of opaque bytes) are exempt.
//!
//! Clients outside a browser (curl, SDKs, our CLI) send a good `Host` and no `Origin`.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::json_error;

/// What a server accepts.
#[derive(Debug, Clone, Default)]
pub struct GuardConfig {
    /// Check the `Host` header (Nova always; the data services when bound to loopback).
    pub check_host: bool,
    /// Host names accepted besides `localhost` and IP literals (`*`: any).
    pub allowed_hosts: Vec<String>,
    /// Origins accepted besides the server's own, e.g. `https://console.example` (`*`: any).
    pub allowed_origins: Vec<String>,
    /// Mutating requests with a body must be JSON.
    pub json_bodies: bool,
    /// Paths exempt from [`GuardConfig::json_bodies`].
    pub raw_body_prefixes: Vec<String>,
}

/// The checks, ready for [`BrowserGuard::layer`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct BrowserGuard {
    config: Arc<GuardConfig>,
}

impl BrowserGuard {
    pub fn new(mut config: GuardConfig) -> BrowserGuard {
        let normalize = |list: &mut Vec<String>| {
            for item in list.iter_mut() {
                *item = item.trim().trim_end_matches('/').to_ascii_lowercase();
            }
            list.retain(|item| !item.is_empty());
        };
        normalize(&mut config.allowed_hosts);
        normalize(&mut config.allowed_origins);
        BrowserGuard {
            config: Arc::new(config),
        }
    }

    /// `router` behind these checks.
    pub fn layer(self, router: axum::Router) -> axum::Router {
        router.layer(axum::middleware::from_fn_with_state(self, check))
    }

    /// Why a request is refused, if it is: the status and a message saying what to do.
    pub fn refusal(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
    ) -> Option<(StatusCode, String)> {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let c = &self.config;
        if c.check_host
            && let Some(host) = host
            && !self.host_allowed(host)
        {
            return Some((
                StatusCode::FORBIDDEN,
                format!(
                    "host '{host}' is not served here: reach the server at localhost or an IP address, \
                 or add the name to the allowed hosts (http.allowed_hosts, --allowed-host)"
                ),
            ));
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("(not text)");
            if !self.origin_allowed(origin, host) {
                return Some((
                    StatusCode::FORBIDDEN,
                    format!(
                        "cross-origin request from '{origin}' refused: add the origin to the allowed \
                     origins (http.allowed_origins, --allowed-origin) to allow it"
                    ),
                ));
            }
        }
        if c.json_bodies
            && changes_state(method)
            && has_body(headers)
            && !c.raw_body_prefixes.iter().any(|p| path.starts_with(p))
            && !is_json(headers)
        {
            return Some((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "a request that changes state must send 'Content-Type: application/json'".into(),
            ));
        }
        None
    }

    fn host_allowed(&self, host: &str) -> bool {
        let name = host_name(host);
        let name = name.strip_suffix('.').unwrap_or(name);
        let ends_with_localhost = name.len() > ".localhost".len()
            && name.is_char_boundary(name.len() - ".localhost".len())
            && name[name.len() - ".localhost".len()..].eq_ignore_ascii_case(".localhost");
        name.eq_ignore_ascii_case("localhost")
            || ends_with_localhost
            || name.parse::<IpAddr>().is_ok()
            || self
                .config
                .allowed_hosts
                .iter()
                .any(|a| a == "*" || a.eq_ignore_ascii_case(name))
    }

    fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        if self
            .config
            .allowed_origins
            .iter()
            .any(|a| a == "*" || *a == origin)
        {
            return true;
        }
        // Same origin: the page was served by this server, at the Host it was reached at.
        let Some(host) = host else { return false };
        let host = host.to_ascii_lowercase();
        ["http://", "https://"]
            .iter()
            .any(|scheme| origin.strip_prefix(scheme) == Some(host.as_str()))
    }
}

/// The host name of a `Host` value: without the port, IPv6 literals without brackets.
fn host_name(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

async fn check(State(guard): State<BrowserGuard>, request: Request, next: Next) -> Response {
    match guard.refusal(request.method(), request.uri().path(), request.headers()) {
        Some((status, message)) => {
            tracing::warn!(%message, "request refused");
            json_error(status, message)
        }
        None => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().expect("header value"));
        }
        map
    }

    fn nova() -> BrowserGuard {
        BrowserGuard::new(GuardConfig {
            check_host: true,
            allowed_hosts: vec!["nova.internal".into()],
            allowed_origins: vec!["https://console.example/".into()],
            json_bodies: true,
            raw_body_prefixes: vec!["/databases/".into()],
        })
    }

    #[test]
    fn hosts_localhost_ip_literals_and_configured_names_only() {
        let g = nova();
        for ok in [
            "localhost",
            "localhost:8080",
            "app.localhost:1",
            "127.0.0.1:8080",
            "[::1]:8080",
            "10.1.2.3",
            "NOVA.internal:80",
        ] {
            assert_eq!(
                g.refusal(&Method::GET, "/", &headers(&[("host", ok)])),
                None,
                "{ok}"
            );
        }
        for bad in [
            "evil.example",
            "evil.example:8080",
            "127.0.0.1.evil.example",
            "localhost.evil",
        ] {
            let why = g.refusal(&Method::GET, "/", &headers(&[("host", bad)]));
            assert!(
                why.is_some_and(
                    |(s, m)| s == StatusCode::FORBIDDEN && m.contains("not served here")
                ),
                "{bad}"
            );
        }
        let open = BrowserGuard::new(GuardConfig::default());
        assert_eq!(
            open.refusal(&Method::GET, "/", &headers(&[("host", "evil.example")])),
            None
        );
    }

    #[test]
    fn origins_must_be_the_servers_own_or_configured() {
        let g = nova();
        let h = |origin: &str| headers(&[("host", "127.0.0.1:8080"), ("origin", origin)]);
        assert_eq!(
            g.refusal(&Method::POST, "/x", &h("http://127.0.0.1:8080")),
            None
        );
        assert_eq!(
            g.refusal(&Method::POST, "/x", &h("https://console.example")),
            None
        );
        for bad in [
            "http://evil.example",
            "null",
            "http://127.0.0.1:9999",
            "http://127.0.0.1:8080.evil",
        ] {
            let why = g.refusal(&Method::POST, "/x", &h(bad));
            assert!(
                why.is_some_and(|(s, m)| s == StatusCode::FORBIDDEN && m.contains("cross-origin")),
                "{bad}"
            );
        }
    }

    #[test]
    fn mutating_bodies_must_be_json_except_raw_stores() {
        let g = nova();
        let with = |ct: &str| {
            headers(&[
                ("host", "localhost"),
                ("content-length", "2"),
                ("content-type", ct),
            ])
        };
        let why = g.refusal(&Method::POST, "/functions", &with("text/plain"));
        assert_eq!(
            why.map(|(s, _)| s),
            Some(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
        assert!(
            g.refusal(
                &Method::POST,
                "/functions",
                &headers(&[("content-length", "2")])
            )
            .is_some()
        );
        assert_eq!(
            g.refusal(
                &Method::POST,
                "/functions",
                &with("application/json; charset=utf-8")
            ),
            None
        );
        assert_eq!(
            g.refusal(&Method::PATCH, "/f", &with("application/merge-patch+json")),
            None
        );
        assert_eq!(
            g.refusal(
                &Method::PUT,
                "/databases/default/keys/a",
                &with("text/plain")
            ),
            None
        );
        assert_eq!(
            g.refusal(&Method::GET, "/functions", &with("text/plain")),
            None
        );
        let empty = headers(&[("content-length", "0")]);
        assert_eq!(g.refusal(&Method::POST, "/apikeys/a/revoke", &empty), None);
    }
}
