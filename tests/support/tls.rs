//! Certificates made in the test: a CA and node certificates signed by it (rcgen), written
//! to a temporary directory for the OS-process tests.
#![allow(dead_code)]

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A CA that signs node certificates.
pub(crate) struct Pki {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate, PEM.
    pub(crate) ca_pem: String,
    dir: PathBuf,
}

/// A node's certificate and key, PEM, and where they were written.
pub(crate) struct NodeCert {
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
    pub(crate) ca: PathBuf,
}

impl Pki {
    /// A new CA named `name`, with a directory of its own for files.
    pub(crate) fn new(name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let dir = std::env::temp_dir().join(format!(
            "locus-pki-{}-{name}-{}",
            std::process::id(),
            super::free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_pem = cert.pem();
        std::fs::write(dir.join("ca.pem"), &ca_pem).unwrap();
        Pki {
            issuer: Issuer::new(params, key),
            ca_pem,
            dir,
        }
    }

    /// A certificate for the hosts in `names` (IP addresses or DNS names), usable by a node
    /// both to accept and to connect.
    pub(crate) fn node(&self, file: &str, names: &[&str]) -> NodeCert {
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, file);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());
        let cert_path = self.dir.join(format!("{file}.pem"));
        let key_path = self.dir.join(format!("{file}.key"));
        std::fs::write(&cert_path, &cert_pem).unwrap();
        std::fs::write(&key_path, &key_pem).unwrap();
        NodeCert {
            cert_pem,
            key_pem,
            cert: cert_path,
            key: key_path,
            ca: self.dir.join("ca.pem"),
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl NodeCert {
    /// The node's TLS settings, trusting `ca_pem`.
    pub(crate) fn config(&self, ca_pem: &str) -> locus::TlsConfig {
        locus::TlsConfig::from_pem(
            self.cert_pem.as_bytes(),
            self.key_pem.as_bytes(),
            ca_pem.as_bytes(),
        )
        .unwrap()
    }

    /// `--tls-cert`, `--tls-key`, `--tls-ca` for `locus`.
    pub(crate) fn flags(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.cert.display().to_string(),
            "--tls-key".into(),
            self.key.display().to_string(),
            "--tls-ca".into(),
            self.ca.display().to_string(),
        ]
    }
}
