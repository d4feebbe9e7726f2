//! `comet daemon`, `comet kv serve` and `comet context serve`: one HTTP server (HTTPS when
//! `context.tls` is set) carrying the chosen services, `/healthcheck` and `/metrics`, until
//! SIGTERM or Ctrl-C.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use comet::DataPlane;
use comet::Embedded;
use comet::local::LocalConfig;
use comet::sandbox::IsolationConfig;
use comet_kv::Kv;

use crate::config::{FileConfig, Overrides, Settings};

/// Where the DataPlane gRPC service listens when told nothing (loopback: it runs code).
const DEFAULT_GRPC_ADDR: &str = "127.0.0.1:9090";

/// Which data services a server carries.
#[derive(Debug, Clone, Copy)]
pub struct Services {
    pub kv: bool,
    pub context: bool,
}

/// `comet daemon`: the DataPlane gRPC service over a local executor, beside the HTTP services
/// when they are configured.
pub async fn daemon(args: super::DaemonArgs) -> Result<ExitCode> {
    let mut overrides = args.server.overrides();
    let file_node = match &args.server.config {
        Some(path) => comet_plumbing::load_file::<FileConfig>(path)?.grpc.node_id,
        None => None,
    };
    overrides.node_id = args.node_id.clone().or(file_node);
    let settings = Settings::resolve(&overrides)?;
    let grpc_addr = args
        .grpc_addr
        .clone()
        .or(settings.grpc.addr.clone())
        .unwrap_or_else(|| DEFAULT_GRPC_ADDR.into());
    let grpc_addr = nova_api::parse_listen_addr(&grpc_addr)
        .map_err(|m| anyhow::anyhow!("invalid gRPC address '{grpc_addr}': {m}"))?;
    let idle_ttl = settings.idle_ttl(args.idle_ttl)?;
    let node_id = match overrides.node_id.clone() {
        Some(id) => id,
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "comet".into()),
    };
    data_dir(&settings)?;
    let access = access(&args, &settings).await?;
    let grpc = tokio::net::TcpListener::bind(grpc_addr)
        .await
        .with_context(|| format!("cannot listen on {grpc_addr} (gRPC)"))?;
    let grpc_bound = grpc.local_addr()?;
    // Every listener is bound and every store open before the daemon says it is listening.
    let http = match settings.http_wanted {
        true => Some(
            prepare(
                &settings,
                Services {
                    kv: true,
                    context: true,
                },
            )
            .await?,
        ),
        false => None,
    };
    let executor = comet::local::executor(&LocalConfig {
        data_dir: settings.data_dir.join("functions"),
        agent: args.programs.agent.clone(),
        python: args.programs.python.clone(),
        isolation: IsolationConfig::default(),
        idle_ttl,
        daemon: true,
    })?;
    let local = Arc::new(Embedded::new(executor, node_id.clone()));
    let (stop_grpc, grpc_stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = local.clone();
    let grpc_task = tokio::spawn(async move {
        let stopped = async {
            let _ = grpc_stopped.await;
        };
        comet_grpc::server::serve(serving, grpc, access, stopped).await
    });
    // One plain line that people and scripts can read the addresses from (gRPC last).
    match &http {
        Some(http) => println!(
            "Comet daemon {node_id} listening: HTTP on {}, gRPC on {grpc_bound}",
            http.addr
        ),
        None => println!("Comet daemon {node_id} listening: gRPC on {grpc_bound}"),
    }
    tracing::info!(data_dir = %settings.data_dir.display(), "comet daemon started");
    let served = match http {
        Some(http) => serve_prepared(http, &settings).await,
        None => {
            comet_plumbing::lifecycle::shutdown_signal().await;
            Ok(())
        }
    };
    let _ = stop_grpc.send(());
    let _ = grpc_task.await;
    local.shutdown().await;
    served?;
    tracing::info!("comet stopped");
    Ok(ExitCode::SUCCESS)
}

fn data_dir(settings: &Settings) -> Result<()> {
    comet_plumbing::lifecycle::private_dir(&settings.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            settings.data_dir.display()
        )
    })
}

/// Who may call the DataPlane service: flags over config.
async fn access(
    args: &super::DaemonArgs,
    settings: &Settings,
) -> Result<comet_grpc::access::Access> {
    let token = args.token.clone().or(settings.grpc.token.clone());
    let keys_from = args
        .api_keys_from
        .clone()
        .or(settings.grpc.api_keys_from.clone());
    let require_auth = args.require_auth || settings.grpc.require_auth.unwrap_or(false);
    let keys: Option<Arc<dyn nova_keys::KeySource>> = match &keys_from {
        Some(location) => Some(Arc::new(
            nova_keys::sql::SqlKeys::open(location)
                .await
                .map_err(|e| anyhow::anyhow!("--api-keys-from: {e}"))?,
        )),
        None => None,
    };
    if require_auth && keys.is_none() && token.is_none() {
        anyhow::bail!(
            "--require-auth needs --api-keys-from or --token: nothing to check callers against"
        );
    }
    let access = comet_grpc::access::Access::new(token.as_deref(), keys, require_auth);
    if access.is_open() {
        tracing::warn!(
            "the DataPlane service admits every caller: set --token or --api-keys-from when it is reachable from other hosts"
        );
    } else if keys_from.is_some() && token.is_none() {
        tracing::info!(
            "API keys are checked; Nova needs an API key (comet.token) once one exists, or give this worker a --token"
        );
    }
    Ok(access)
}

/// `comet kv serve` and `comet context serve`: the HTTP services alone.
pub async fn run_with(overrides: Overrides, services: Services) -> Result<ExitCode> {
    let settings = Settings::resolve(&overrides)?;
    data_dir(&settings)?;
    let http = prepare(&settings, services).await?;
    println!("Comet {services} listening on {}", http.addr);
    serve_prepared(http, &settings).await?;
    tracing::info!("comet stopped");
    Ok(ExitCode::SUCCESS)
}

impl std::fmt::Display for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match (self.kv, self.context) {
            (true, true) => "KV and context services",
            (true, false) => "KV service",
            (false, true) => "context service",
            (false, false) => "HTTP server",
        })
    }
}

/// The HTTP server, its stores open and its address bound, ready to serve.
struct Http {
    listener: tokio::net::TcpListener,
    addr: std::net::SocketAddr,
    app: Router,
    background: Vec<tokio::task::JoinHandle<()>>,
}

async fn prepare(settings: &Settings, services: Services) -> Result<Http> {
    let mut app = Router::new();
    let mut background = Vec::new();
    let mut kv = None;
    if services.kv {
        let config = settings.kv.clone();
        let opened = tokio::task::spawn_blocking(move || Kv::open(config))
            .await
            .context("opening the KV databases")??;
        let opened = Arc::new(opened);
        background.extend(comet_kv::spawn_background(&opened));
        app = app.merge(comet_kv::http::routes(opened.clone()));
        kv = Some(opened);
    }
    if services.context {
        let exchange = comet_context::open(&settings.context, &settings.data_dir)
            .await
            .context("opening the context store")?;
        background.extend(exchange.spawn_sweeper());
        app = app.merge(comet_context::http::routes(
            exchange,
            settings.context.max_value_size,
        ));
    }
    let app = app
        .route(
            "/healthcheck",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/metrics", get(move || metrics(kv.clone())))
        .method_not_allowed_fallback(|| async {
            comet_httpd::json_error(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this route",
            )
        });
    // The context routes bring a JSON 404 of their own; a router takes one fallback.
    let app = match services.context {
        true => app,
        false => app.fallback(comet_kv::http::not_found),
    };
    let app = comet_httpd::BrowserGuard::new(settings.http_guard.clone()).layer(app);
    let listener = tokio::net::TcpListener::bind(settings.http_addr)
        .await
        .with_context(|| format!("cannot listen on {} (HTTP)", settings.http_addr))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        %addr,
        tls = settings.context.tls.is_some(),
        data_dir = %settings.data_dir.display(),
        ?services,
        "comet serving"
    );
    Ok(Http {
        listener,
        addr,
        app,
        background,
    })
}

async fn serve_prepared(http: Http, settings: &Settings) -> Result<()> {
    let shutdown = comet_plumbing::lifecycle::shutdown_signal();
    let limits = settings.http_limits;
    let served = match &settings.context.tls {
        Some(tls) => {
            let config = comet_context::tls::server_config(tls)?;
            comet_context::tls::serve_with(http.listener, http.app, config, limits, shutdown).await
        }
        None => comet_httpd::serve(http.listener, http.app, limits, shutdown).await,
    };
    http.background.iter().for_each(|task| task.abort());
    Ok(served?)
}

async fn metrics(kv: Option<Arc<Kv>>) -> impl IntoResponse {
    let mut out = String::new();
    if let Some(kv) = kv {
        kv.render_metrics(&mut out);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
