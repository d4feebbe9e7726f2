//! HTTPS with a generated PKI: the server certificate, client certificates required to create and
//! delete entries (not to read or update them), a certificate from another CA refused at the
//! handshake, and the Python client over TLS with its client certificate, as ORCA connects.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use comet_context::ContextConfig;
use comet_context::config::TlsConfig;
use common::{call, embedded, python_client};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};

struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    /// Certificate and key of a client the server trusts, and of one it does not.
    client: (PathBuf, PathBuf),
    stranger: (PathBuf, PathBuf),
}

fn authority(name: &str) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.distinguished_name.push(DnType::CommonName, name);
    (params.self_signed(&key).unwrap(), key)
}

fn issue(
    dir: &Path,
    name: &str,
    ca: &(rcgen::Certificate, KeyPair),
    usage: ExtendedKeyUsagePurpose,
) -> (PathBuf, PathBuf) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, &ca.0, &ca.1).unwrap();
    let (cert_path, key_path) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

fn pki(dir: &Path) -> Pki {
    let ca = authority("comet test CA");
    let other = authority("someone else's CA");
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca.0.pem()).unwrap();
    let (server_cert, server_key) = issue(dir, "server", &ca, ExtendedKeyUsagePurpose::ServerAuth);
    Pki {
        ca: ca_path,
        server_cert,
        server_key,
        client: issue(
            dir,
            "orca-controller",
            &ca,
            ExtendedKeyUsagePurpose::ClientAuth,
        ),
        stranger: issue(dir, "stranger", &other, ExtendedKeyUsagePurpose::ClientAuth),
    }
}

fn https_client(ca: &Path, identity: Option<&(PathBuf, PathBuf)>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("accept", "application/json".parse().unwrap());
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .default_headers(headers)
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap());
    if let Some((cert, key)) = identity {
        let mut pem = std::fs::read(cert).unwrap();
        pem.extend(std::fs::read(key).unwrap());
        builder = builder.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn client_certificates_guard_creating_and_deleting() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let config = ContextConfig {
        tls: Some(TlsConfig {
            cert: pki.server_cert.clone(),
            key: pki.server_key.clone(),
            client_ca: Some(pki.ca.clone()),
        }),
        ..ContextConfig::default()
    };
    let head = embedded(config, dir.path()).await;
    assert!(head.url.starts_with("https://"));
    let vm = https_client(&pki.ca, None);
    let controller = https_client(&pki.ca, Some(&pki.client));
    let write = format!("{}/writeScope", head.url);
    let delete = format!("{}/deleteScope", head.url);
    let entry = [
        ("contextID", "slice-tls"),
        ("family", "hostsall"),
        ("Key", "vm1"),
        ("readToken", "read-token"),
        ("writeToken", "write-token"),
    ];
    // A VM (no certificate) cannot create the entry; the controller (certificate) can.
    let (status, value) = call(&vm, "POST", &write, &entry, Some("{}")).await;
    assert_eq!(status, 403, "{value}");
    let (status, value) = call(&controller, "POST", &write, &entry, Some("{}")).await;
    assert_eq!(
        (status, value["Success"].is_string()),
        (200, true),
        "{value}"
    );
    // The VM updates and reads it with the tokens alone, but cannot delete it.
    let (status, value) = call(&vm, "POST", &write, &entry, Some("mine")).await;
    assert_eq!(
        (status, value["Success"].is_string()),
        (200, true),
        "{value}"
    );
    let (_, value) = call(
        &vm,
        "GET",
        &format!("{}/readScope", head.url),
        &entry[..4],
        None,
    )
    .await;
    assert_eq!(value["value"], "mine");
    assert_eq!(call(&vm, "DELETE", &delete, &entry, None).await.0, 403);
    let (_, value) = call(&controller, "DELETE", &delete, &entry, None).await;
    assert!(value["Success"].is_string(), "{value}");

    // A certificate from another CA does not get through the handshake.
    let stranger = https_client(&pki.ca, Some(&pki.stranger));
    assert!(
        stranger
            .get(format!("{}/getVersion", head.url))
            .send()
            .await
            .is_err()
    );
    // Plain HTTP to the HTTPS port gets no reply.
    let plain = reqwest::Client::new();
    assert!(
        plain
            .get(head.url.replace("https", "http") + "/getVersion")
            .send()
            .await
            .is_err()
    );

    // ORCA's way: Python requests with the CA and a client certificate.
    let (cert, key) = &pki.client;
    let args = [
        &head.url,
        &pki.ca.display().to_string(),
        &cert.display().to_string(),
        &key.display().to_string(),
    ];
    let out = python_client(args.iter().map(|s| s.to_string()).collect()).await;
    assert!(out.trim_end().ends_with("OK"), "{out}");
}

#[tokio::test]
async fn without_a_client_ca_tls_only_encrypts() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path());
    let config = ContextConfig {
        tls: Some(TlsConfig {
            cert: pki.server_cert.clone(),
            key: pki.server_key.clone(),
            client_ca: None,
        }),
        ..ContextConfig::default()
    };
    let head = embedded(config, dir.path()).await;
    let vm = https_client(&pki.ca, None);
    let entry = [
        ("contextID", "slice-tls2"),
        ("family", "hostsall"),
        ("Key", "vm1"),
        ("readToken", "read-token"),
        ("writeToken", "write-token"),
    ];
    let (status, value) = call(
        &vm,
        "POST",
        &format!("{}/writeScope", head.url),
        &entry,
        Some("{}"),
    )
    .await;
    assert_eq!(
        (status, value["Success"].is_string()),
        (200, true),
        "{value}"
    );
}

#[tokio::test]
async fn a_bad_certificate_path_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = comet_context::tls::server_config(&TlsConfig {
        cert: dir.path().join("missing.pem"),
        key: dir.path().join("missing.key"),
        client_ca: None,
    })
    .unwrap_err();
    assert!(err.to_string().contains("missing.pem"), "{err}");
}
