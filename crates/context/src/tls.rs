//! HTTPS with rustls, for any router (the whole data-plane server when TLS is configured). A
//! client certificate is optional at the handshake (VMs have none) but, when one is presented,
//! it must chain to the configured CA; each request learns whether its connection presented one
//! through the [`Caller`] extension, which the exchange requires to create or delete entries.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::{Extension, Router};
use rustls::RootCertStore;
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsConfig;
use crate::service::Caller;

/// A handshake that takes longer than this is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    Pem { path: String, message: String },
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("client CA: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

fn certificates(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_error = |message: String| TlsError::Pem {
        path: path.display().to_string(),
        message,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(e.to_string()))?;
    if certs.is_empty() {
        return Err(pem_error("no certificate in the file".into()));
    }
    Ok(certs)
}

/// The rustls server configuration for `tls`.
pub fn server_config(tls: &TlsConfig) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match &tls.client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(ca)? {
                roots.add(cert)?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let chain = certificates(&tls.cert)?;
    let key = PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| TlsError::Pem {
        path: tls.key.display().to_string(),
        message: e.to_string(),
    })?;
    let mut config = builder.with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `app` over TLS until `shutdown` resolves, with the default limits of
/// [`comet_httpd::Limits`].
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: Arc<ServerConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(
        listener,
        app,
        config,
        comet_httpd::Limits::default(),
        shutdown,
    )
    .await
}

/// Serves `app` over TLS until `shutdown` resolves: handshakes must finish within 10 s, then the
/// connection is served like plain HTTP (`limits`: header timeout, connection cap, bounded drain).
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    config: Arc<ServerConfig>,
    limits: comet_httpd::Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = Arc::new(Handshake(TlsAcceptor::from(config)));
    comet_httpd::serve_with(listener, app, limits, acceptor, shutdown).await
}

/// The TLS handshake, and whether the client presented a certificate ([`Caller`]).
struct Handshake(TlsAcceptor);

impl comet_httpd::Acceptor for Handshake {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;

    fn accept(
        &self,
        tcp: tokio::net::TcpStream,
        app: Router,
    ) -> comet_httpd::serve::Accepting<Self::Io> {
        let acceptor = self.0.clone();
        Box::pin(async move {
            let Ok(Ok(stream)) =
                tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
            else {
                return None;
            };
            let caller = Caller {
                has_certificate: stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .is_some_and(|c| !c.is_empty()),
            };
            Some((stream, app.layer(Extension(caller))))
        })
    }
}
