//! TLS for distribution (Erlang's `-proto_dist inet_tls`): every node-to-node connection
//! runs inside TLS, and the cookie handshake runs inside that.
//!
//! A node has a certificate chain and its key, and trusts a CA. A node connecting checks
//! the other's certificate against the CA and against the host of the node name it dials
//! (so certificates carry the host names or IP addresses nodes are named by). With mutual
//! authentication (the default), the accepting node also requires a certificate from the
//! CA. The port mapper stays plain, as Erlang's does: it only maps names to ports.
//!
//! A node with TLS and one without cannot connect: each says why in its log (the TLS node
//! sees a plain hello where a TLS one belongs; the plain node is refused with "this node
//! requires TLS").
//!
//! ```no_run
//! use locus::{Node, TlsConfig};
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let tls = TlsConfig::from_pem_files("node.pem", "node.key", "ca.pem")?;
//! let node = Node::builder().name("a@10.0.0.1").cookie("c").tls(tls).start().await?;
//! println!("{} speaks TLS to its peers", node.name());
//! # Ok(()) }
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// A node's TLS identity and trust: its certificate chain and key, and the CA it trusts
/// for other nodes. Build one from PEM files or bytes.
#[derive(Clone)]
pub struct TlsConfig {
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
    roots: Arc<RootCertStore>,
    mutual: bool,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("chain", &self.chain.len())
            .field("roots", &self.roots.len())
            .field("mutual", &self.mutual)
            .finish_non_exhaustive()
    }
}

/// TLS settings that cannot be used. The message names the file and the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file cannot be read.
    #[error("cannot read {what} {path}: {error}")]
    Read {
        /// Which file: certificate, key, CA.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// Why.
        error: String,
    },
    /// No certificate in the certificate file.
    #[error("{0} holds no PEM certificate (BEGIN CERTIFICATE)")]
    NoCertificate(String),
    /// No usable private key in the key file.
    #[error("{0} holds no PEM private key (BEGIN PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)")]
    NoKey(String),
    /// The CA file holds nothing usable as a trust anchor.
    #[error("{0} holds no usable CA certificate")]
    NoCa(String),
    /// rustls refused the combination (for example a key that does not match the
    /// certificate).
    #[error("invalid TLS settings: {0}")]
    Invalid(String),
}

impl TlsConfig {
    /// Reads PEM files: the node's certificate chain, its private key, and the CA
    /// certificates that other nodes' certificates must chain to.
    ///
    /// # Errors
    ///
    /// [`TlsError`] names the file that cannot be read or holds nothing usable.
    pub fn from_pem_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
        ca: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        let read = |what: &'static str, path: &Path| {
            std::fs::read(path).map_err(|e| TlsError::Read {
                what,
                path: path.to_owned(),
                error: e.to_string(),
            })
        };
        let (cert, key, ca) = (cert.as_ref(), key.as_ref(), ca.as_ref());
        Self::parse(
            &read("certificate", cert)?,
            &read("key", key)?,
            &read("CA", ca)?,
            [cert, key, ca].map(|p| p.display().to_string()),
        )
    }

    /// The same from PEM bytes.
    ///
    /// # Errors
    ///
    /// [`TlsError`] if a part holds nothing usable.
    pub fn from_pem(cert: &[u8], key: &[u8], ca: &[u8]) -> Result<Self, TlsError> {
        Self::parse(
            cert,
            key,
            ca,
            ["the certificate", "the key", "the CA"].map(str::to_owned),
        )
    }

    fn parse(cert: &[u8], key: &[u8], ca: &[u8], names: [String; 3]) -> Result<Self, TlsError> {
        let [cert_name, key_name, ca_name] = names;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
            .filter_map(Result::ok)
            .collect();
        if chain.is_empty() {
            return Err(TlsError::NoCertificate(cert_name));
        }
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|_| TlsError::NoKey(key_name))?;
        let mut roots = RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(ca).filter_map(Result::ok) {
            roots
                .add(ca)
                .map_err(|e| TlsError::Invalid(format!("{ca_name}: {e}")))?;
        }
        if roots.is_empty() {
            return Err(TlsError::NoCa(ca_name));
        }
        let config = Self {
            chain,
            key: Arc::new(key),
            roots: Arc::new(roots),
            mutual: true,
        };
        // Surface a key that does not match its certificate now, not at the first peer.
        config.context()?;
        Ok(config)
    }

    /// Whether accepting nodes require a certificate from connecting ones (default: yes).
    /// Without it, only connecting nodes check certificates; the cookie still
    /// authenticates both.
    pub fn mutual(mut self, on: bool) -> Self {
        self.mutual = on;
        self
    }

    /// The acceptor and connector this configuration makes.
    pub(crate) fn context(&self) -> Result<Arc<TlsContext>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let invalid = |e: rustls::Error| TlsError::Invalid(e.to_string());
        let server = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(invalid)?;
        let server = if self.mutual {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                self.roots.clone(),
                provider.clone(),
            )
            .build()
            .map_err(|e| TlsError::Invalid(e.to_string()))?;
            server.with_client_cert_verifier(verifier)
        } else {
            server.with_no_client_auth()
        };
        let server = server
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(invalid)?;
        let client = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(invalid)?
            .with_root_certificates(self.roots.clone())
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())
            .map_err(invalid)?;
        Ok(Arc::new(TlsContext {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
        }))
    }
}

/// What a distributed node uses to wrap its connections.
pub(crate) struct TlsContext {
    pub(crate) acceptor: TlsAcceptor,
    pub(crate) connector: TlsConnector,
}

/// The name a dialled node's certificate must carry: its host (a DNS name or an IP).
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    ServerName::try_from(host.to_owned())
        .map_err(|e| format!("{host:?} cannot be checked against a certificate: {e}"))
}

/// Whether the first byte of a stream starts a TLS handshake record (a locus handshake
/// starts with a length prefix, whose first byte is 0).
pub(crate) fn looks_like_tls(first: u8) -> bool {
    first == 0x16
}
