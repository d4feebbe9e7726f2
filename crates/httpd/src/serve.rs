//! The accept loop: one task per connection, HTTP/1.1 through hyper, with a header-read timeout,
//! a cap on open connections and a bounded drain on shutdown.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::errors::JsonErrors;

/// How long a connection may take and how many may be open.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest a client may take to send a request's headers, counted from when the server
    /// starts waiting for them; this also closes a keep-alive connection left idle that long.
    pub header_timeout: Duration,
    /// Most connections open at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// On shutdown, how long open connections get to finish the request in flight before they
    /// are closed.
    pub drain_timeout: Duration,
}

impl Limits {
    pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);
    pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
    pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_timeout: Limits::DEFAULT_HEADER_TIMEOUT,
            max_connections: Limits::DEFAULT_MAX_CONNECTIONS,
            drain_timeout: Limits::DEFAULT_DRAIN_TIMEOUT,
        }
    }
}

/// A connection's future, boxed.
pub type Accepting<Io> = Pin<Box<dyn Future<Output = Option<(Io, Router)>> + Send>>;

/// Turns an accepted TCP connection into the stream HTTP is read from (a TLS handshake, say) and
/// the router this connection is served by (with per-connection extensions); `None` drops it.
pub trait Acceptor: Send + Sync + 'static {
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn accept(&self, tcp: TcpStream, app: Router) -> Accepting<Self::Io>;
}

/// Plain HTTP.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plain;

impl Acceptor for Plain {
    type Io = TcpStream;
    fn accept(&self, tcp: TcpStream, app: Router) -> Accepting<TcpStream> {
        Box::pin(async move { Some((tcp, app)) })
    }
}

/// Serves `app` over plain HTTP on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, limits, Arc::new(Plain), shutdown).await
}

/// Serves `app` on `listener`, each connection through `acceptor`, until `shutdown` resolves;
/// then stops accepting, lets open connections finish their request for up to
/// [`Limits::drain_timeout`] and closes whatever is still open.
pub async fn serve_with<A: Acceptor>(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    acceptor: Arc<A>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    // Out of file descriptors, most likely: give connections time to close.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            _ = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            connections.spawn(refuse(tcp, limits.max_connections));
            continue;
        };
        let (acceptor, app, watcher) = (acceptor.clone(), app.clone(), graceful.watcher());
        connections.spawn(async move {
            let _slot = slot;
            let accepting = acceptor.accept(tcp, app);
            let Ok(Some((io, app))) = tokio::time::timeout(limits.header_timeout, accepting).await
            else {
                return;
            };
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(
                    TokioIo::new(JsonErrors::new(io)),
                    TowerToHyperService::new(app),
                );
            let _ = watcher.watch(connection).await;
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "connections still open after the drain timeout are closed"
        );
    }
    connections.shutdown().await;
    Ok(())
}

/// Answers a connection over the cap with a 503 and closes it.
async fn refuse(mut tcp: TcpStream, cap: usize) {
    let body =
        format!("{{\"error\":\"too many open connections (the cap is {cap}); retry shortly\"}}");
    let reply = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = tcp.write_all(reply.as_bytes()).await;
        let _ = tcp.shutdown().await;
    })
    .await;
}
