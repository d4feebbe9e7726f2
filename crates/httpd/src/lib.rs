//! How every HTTP server of Nova + Comet serves (`nova daemon`, `comet daemon`, `comet kv
//! serve`, `comet context serve`), so that each fails closed the same way:
//!
//! - [`serve`]: a client that does not finish its request headers in time (a slowloris, or an
//!   idle keep-alive connection) is dropped; connections beyond a cap are answered 503 at once and
//!   closed instead of exhausting file descriptors; on shutdown, open connections get a bounded
//!   time to finish ([`Limits`]). HTTPS plugs in through an [`Acceptor`].
//! - [`errors`]: the answers hyper writes by itself before any router sees the request (400 for a
//!   malformed request, 414 for a URI too long, 431 for headers too large) carry a JSON
//!   `{"error": "..."}` body like every other error of ours.
//! - [`guard`]: the checks that keep a web page the developer visits from driving a server on
//!   their machine: the `Host` header (DNS rebinding), the `Origin` header (cross-site requests)
//!   and, where asked, JSON-only bodies on mutating requests.

pub mod config;
pub mod errors;
pub mod guard;
pub mod serve;

pub use config::{HttpConfig, InvalidSetting};
pub use guard::{BrowserGuard, GuardConfig};
pub use serve::{Acceptor, Limits, Plain, serve, serve_with};

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// A JSON error reply, `{"error": message}` with `status`: the shape of every error we answer.
pub fn json_error(status: StatusCode, message: impl Into<String>) -> Response {
    let message: String = message.into();
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}
