//! TLS for the HTTP server: rustls (with the `ring` provider) over a
//! certificate chain and a private key read from PEM files. Off unless
//! `[tls]` is configured; every endpoint is then served over TLS only.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;

/// `[tls]` in the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain, PEM, the server's own certificate first.
    pub cert_file: PathBuf,
    /// Its private key, PEM (PKCS #8, PKCS #1 or SEC1).
    pub key_file: PathBuf,
}

/// Why TLS cannot be set up; names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS certificate {path}: {problem}")]
    Certificate { path: PathBuf, problem: String },
    #[error("TLS private key {path}: {problem}")]
    Key { path: PathBuf, problem: String },
    #[error("TLS: the certificate and key cannot be used together: {0}")]
    Mismatch(String),
}

/// The rustls configuration of `tls`: HTTP/1.1, TLS 1.2 and 1.3.
pub fn server_config(tls: &TlsConfig) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certificate = |path: &Path, problem: String| TlsError::Certificate { path: path.to_owned(), problem };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&tls.cert_file)
        .map_err(|e| certificate(&tls.cert_file, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| certificate(&tls.cert_file, e.to_string()))?;
    if certs.is_empty() {
        return Err(certificate(&tls.cert_file, "holds no PEM certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key_file)
        .map_err(|e| TlsError::Key { path: tls.key_file.clone(), problem: e.to_string() })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Mismatch(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Mismatch(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
