//! `--tls`: serving https with a certificate of the emulator's own local CA, as Microsoft's emulators do
//! (Azurite's `--cert`, the Cosmos DB emulator's exported certificate). Some clients refuse plain http:
//! Semantic Kernel's `SessionsPythonTool` takes https endpoints only.
//!
//! On first start the emulator makes a CA and a server certificate signed by it, for `localhost`,
//! `127.0.0.1`, `::1`, the bind address and the allowed host names, and keeps them in `<data-dir>/tls/`.
//! The CA's private key is never written anywhere: nothing but this one server certificate can ever be issued
//! from it. Clients trust `<data-dir>/tls/ca.pem` (its path is logged at start):
//! `DYNAMIC_SESSIONS_CA_CERT` for this project's client, `SSL_CERT_FILE` for httpx and aiohttp,
//! `REQUESTS_CA_BUNDLE` for requests. When the names change, a new CA and certificate replace the old ones.

use std::fs;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::StartError;

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long open connections may take to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The emulator's certificate files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA certificate clients trust.
    pub ca: PathBuf,
    server: PathBuf,
    key: PathBuf,
}

fn tls_err(context: impl Into<String>) -> impl FnOnce(String) -> StartError {
    let context = context.into();
    move |e| StartError::Io { context, source: io::Error::other(e) }
}

/// The names the server certificate must cover.
fn names(bind: SocketAddr, allowed_hosts: &[String]) -> Vec<String> {
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    if !bind.ip().is_unspecified() {
        names.push(bind.ip().to_string());
    }
    for host in allowed_hosts.iter().map(|h| h.trim()).filter(|h| !h.is_empty() && *h != "*") {
        names.push(host_without_port(host).to_ascii_lowercase());
    }
    names.sort();
    names.dedup();
    names
}

/// `name`, `name:port`, `[v6]` or `[v6]:port` without the port and brackets (a bare IPv6 address stays whole).
fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(inside, _)| inside);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.parse::<u16>().is_ok() => name,
        _ => host,
    }
}

/// The certificates in `dir`, made (or remade, when the names changed) as needed.
pub(crate) fn certificates(dir: &Path, bind: SocketAddr, allowed_hosts: &[String]) -> Result<TlsFiles, StartError> {
    let files = TlsFiles { ca: dir.join("ca.pem"), server: dir.join("server.pem"), key: dir.join("server-key.pem") };
    let names = names(bind, allowed_hosts);
    let record = dir.join("names.txt");
    let wanted = names.join("\n");
    let current = fs::read_to_string(&record).ok();
    if current.as_deref() == Some(wanted.as_str()) && files.ca.exists() && files.server.exists() && files.key.exists() {
        return Ok(files);
    }
    fs::create_dir_all(dir)
        .map_err(|source| StartError::Io { context: format!("cannot create {}", dir.display()), source })?;
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    let (ca_pem, server_pem, key_pem) = issue(&names).map_err(tls_err("cannot make the TLS certificates"))?;
    write(&files.key, &key_pem, 0o600)?;
    write(&files.server, &server_pem, 0o644)?;
    write(&files.ca, &ca_pem, 0o644)?;
    write(&record, &wanted, 0o644)?;
    tracing::info!(ca = %files.ca.display(), names = %names.join(", "), "made a new local CA and server certificate");
    Ok(files)
}

fn write(path: &Path, content: &str, mode: u32) -> Result<(), StartError> {
    let temp = path.with_extension("tmp");
    let result = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&temp)
        .and_then(|mut f| io::Write::write_all(&mut f, content.as_bytes()))
        .and_then(|()| fs::rename(&temp, path));
    result.map_err(|source| StartError::Io { context: format!("cannot write {}", path.display()), source })
}

/// A CA (its key dropped at the end of this function) and a server certificate for `names`, as PEM:
/// (CA certificate, server certificate, server key).
fn issue(names: &[String]) -> Result<(String, String, String), String> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let now = time::OffsetDateTime::now_utc();
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    ca.distinguished_name.push(DnType::CommonName, "dynamic-sessions emulator local CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    ca.not_before = now - time::Duration::days(1);
    ca.not_after = now + time::Duration::days(3650);
    let ca_key = KeyPair::generate().map_err(|e| e.to_string())?;
    let ca_cert = ca.self_signed(&ca_key).map_err(|e| e.to_string())?;
    let issuer = Issuer::new(ca, ca_key);

    let mut server = CertificateParams::new(names.to_vec()).map_err(|e| e.to_string())?;
    server.distinguished_name.push(DnType::CommonName, "dynamic-sessions emulator");
    server.is_ca = IsCa::ExplicitNoCa;
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.not_before = now - time::Duration::days(1);
    server.not_after = now + time::Duration::days(825);
    let server_key = KeyPair::generate().map_err(|e| e.to_string())?;
    let server_cert = server.signed_by(&server_key, &issuer).map_err(|e| e.to_string())?;
    Ok((ca_cert.pem(), server_cert.pem(), server_key.serialize_pem()))
}

/// The rustls configuration serving `files` (HTTP/2 and HTTP/1.1).
pub(crate) fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, StartError> {
    let read = |path: &Path| {
        fs::read(path).map_err(|source| StartError::Io { context: format!("cannot read {}", path.display()), source })
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(&files.server)?)
        .collect::<Result<_, _>>()
        .map_err(|e| tls_err("the server certificate is not PEM")(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(&read(&files.key)?)
        .map_err(|e| tls_err("the server key is not PEM")(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("cannot configure TLS")(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| tls_err("the server certificate and key do not match")(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `router` over TLS on `listener` until `shutdown`, then lets open connections finish.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    config: Arc<ServerConfig>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> io::Result<()> {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let graceful = GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (tcp, _) = match accepted {
                    Ok(connection) => connection,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, builder, watcher) = (acceptor.clone(), builder.clone(), graceful.watcher());
                let service = TowerToHyperService::new(router.clone());
                tokio::spawn(async move {
                    let Ok(Ok(stream)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await else {
                        return;
                    };
                    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
                    let _ = watcher.watch(connection).await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_cover_the_names_and_are_kept() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let bind = SocketAddr::from(([127, 0, 0, 1], 8484));
        let first = certificates(dir.path(), bind, &["pool.example.net:443".into()]).ok();
        let ca = first.as_ref().and_then(|f| fs::read_to_string(&f.ca).ok()).unwrap_or_default();
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(first.as_ref().is_some_and(|f| server_config(f).is_ok()));
        let key_mode = fs::metadata(dir.path().join("server-key.pem")).map(|m| m.permissions().mode() & 0o777).ok();
        assert_eq!(key_mode, Some(0o600));
        let again = certificates(dir.path(), bind, &["pool.example.net".into()]).ok();
        assert_eq!(again.and_then(|f| fs::read_to_string(f.ca).ok()).unwrap_or_default(), ca, "same names: kept");
        let other = certificates(dir.path(), bind, &["other.example.net".into()]).ok();
        assert_ne!(other.and_then(|f| fs::read_to_string(f.ca).ok()).unwrap_or_default(), ca, "new names: remade");
        assert_eq!(names(bind, &["[::1]:1".into(), "*".into()]), ["127.0.0.1", "::1", "localhost"]);
        assert_eq!(
            names(bind, &["[fe80::2]".into(), "Pool.Example:8443".into(), "fe80::3".into()]),
            ["127.0.0.1", "::1", "fe80::2", "fe80::3", "localhost", "pool.example"]
        );
        Ok(())
    }
}
