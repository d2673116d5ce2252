//! HTTPS without a proxy: rustls (through tokio-rustls) over the accepted sockets of the
//! serve loop, with a certificate that can be replaced while serving.
//!
//! [`Tls`] holds the current `rustls::ServerConfig` behind a lock; every handshake takes the
//! config current at that moment, so after [`Tls::reload`] (the binary calls it on SIGHUP)
//! new connections get the new certificate and open ones keep theirs. A reload that fails
//! (a missing file, a key that does not match) keeps the certificate in use.
//!
//! [`Stream`] is the socket as the connection sees it, plain or TLS, one type so the serve
//! loop's connection task is written once.

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{self, IoSlice};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// Why a certificate and key could not be used. Never carries the key file's contents.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate file {path}: {detail}")]
    Certificate { path: PathBuf, detail: String },
    #[error("the TLS certificate file {0} holds no PEM certificate")]
    NoCertificate(PathBuf),
    #[error("cannot read a PEM private key from the TLS key file {path}{cause}")]
    Key { path: PathBuf, cause: String },
    #[error("the TLS certificate and key cannot be used together: {0}")]
    Config(String),
}

/// The server's certificate and key files, and the TLS configuration made from them.
#[derive(Clone)]
pub struct Tls {
    cert: Arc<PathBuf>,
    key: Arc<PathBuf>,
    current: Arc<RwLock<Arc<ServerConfig>>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Reads the PEM certificate chain at `cert` and the PEM private key at `key`.
    pub fn load(cert: &Path, key: &Path) -> Result<Self, TlsError> {
        let config = server_config(cert, key)?;
        Ok(Self {
            cert: Arc::new(cert.to_owned()),
            key: Arc::new(key.to_owned()),
            current: Arc::new(RwLock::new(Arc::new(config))),
        })
    }

    /// Reads both files again; handshakes from now on use them. On an error the certificate
    /// in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = Arc::new(server_config(&self.cert, &self.key)?);
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        *current = config;
        Ok(())
    }

    /// An acceptor with the configuration current now.
    pub fn acceptor(&self) -> TlsAcceptor {
        let current = self.current.read().unwrap_or_else(|p| p.into_inner());
        TlsAcceptor::from(Arc::clone(&current))
    }
}

fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Certificate {
            path: cert.to_owned(),
            detail: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(cert.to_owned()));
    }
    // Only an I/O error is described: a parse error's detail could quote the file.
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.to_owned(),
        cause: match e {
            rustls_pki_types::pem::Error::Io(io) => format!(": {io}"),
            _ => String::new(),
        },
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    // The server speaks HTTP/1.1 only (see `server::serve_router`).
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A connection's socket: plain, or TLS after the handshake.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// The socket as served: `stream` itself, or after a TLS handshake that must finish
    /// within `timeout` (the header timeout: a client that never completes it is the same
    /// slow loris). `None` when the handshake failed or took too long.
    pub async fn accept(
        stream: TcpStream,
        tls: Option<TlsAcceptor>,
        timeout: Duration,
    ) -> Option<Self> {
        let Some(acceptor) = tls else {
            return Some(Self::Plain(stream));
        };
        match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => Some(Self::Tls(Box::new(tls))),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!("TLS handshake timed out");
                None
            }
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
