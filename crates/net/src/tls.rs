//! The scenario CA and per-machine leaf certificates.
//!
//! `fakedc certs` writes the CA under `certs/` so clients can trust it once;
//! `--ephemeral` runs keep it in memory. Leaf certificates are made lazily,
//! on the first TLS handshake of a machine, so a 1,000-machine fleet starts
//! without signing 1,000 certificates.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("TLS configuration failed: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The CA: its certificate (PEM) and what is needed to sign leaves.
pub struct CertAuthority {
    key: KeyPair,
    cert: rcgen::Certificate,
    pem: String,
    /// Where the CA lives on disk, if it does.
    pub dir: Option<PathBuf>,
    leaves: Mutex<HashMap<String, Arc<ServerConfig>>>,
}

/// File names under the certs directory.
pub const CA_CERT_FILE: &str = "fakedc-ca.pem";
pub const CA_KEY_FILE: &str = "fakedc-ca.key";

impl CertAuthority {
    /// A fresh CA kept in memory.
    pub fn generate() -> Result<CertAuthority, TlsError> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "fakedc test CA");
        dn.push(DnType::OrganizationName, "fakedc");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = rcgen::date_time_ymd(2025, 1, 1);
        params.not_after = rcgen::date_time_ymd(2036, 1, 1);
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        let pem = cert.pem();
        Ok(CertAuthority {
            key,
            cert,
            pem,
            dir: None,
            leaves: Mutex::new(HashMap::new()),
        })
    }

    /// Loads the CA from `dir`, creating and saving one if none is there.
    /// Returns whether it was created.
    pub fn load_or_create(dir: &Path) -> Result<(CertAuthority, bool), TlsError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| TlsError::Io { path, source }
        };
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        if cert_path.exists() && key_path.exists() {
            let pem = std::fs::read_to_string(&cert_path).map_err(io(&cert_path))?;
            let key_pem = std::fs::read_to_string(&key_path).map_err(io(&key_path))?;
            let key = KeyPair::from_pem(&key_pem)?;
            let params = CertificateParams::from_ca_cert_pem(&pem)?;
            // Re-signing the stored parameters with the stored key yields an
            // issuer equivalent to the one on disk (same name and key).
            let cert = params.self_signed(&key)?;
            return Ok((
                CertAuthority {
                    key,
                    cert,
                    pem,
                    dir: Some(dir.to_path_buf()),
                    leaves: Mutex::new(HashMap::new()),
                },
                false,
            ));
        }
        let mut ca = CertAuthority::generate()?;
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        write_atomic(&cert_path, ca.pem.as_bytes()).map_err(io(&cert_path))?;
        write_atomic(&key_path, ca.key.serialize_pem().as_bytes()).map_err(io(&key_path))?;
        ca.dir = Some(dir.to_path_buf());
        Ok((ca, true))
    }

    /// The CA certificate in PEM, for clients to trust.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    pub fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    /// A rustls server configuration for one machine, made on first use.
    pub fn server_config(
        &self,
        dns_name: &str,
        address: IpAddr,
    ) -> Result<Arc<ServerConfig>, TlsError> {
        let key = format!("{dns_name}|{address}");
        if let Some(cfg) = self.leaves.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(cfg);
        }
        let (chain, private) = self.leaf(dns_name, address)?;
        let cfg =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()?
                .with_no_client_auth()
                .with_single_cert(chain, private)?;
        let mut cfg = cfg;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        let cfg = Arc::new(cfg);
        if let Ok(mut m) = self.leaves.lock() {
            m.insert(key, cfg.clone());
        }
        Ok(cfg)
    }

    /// Signs a leaf for a machine: its DNS name and address as SANs.
    pub fn leaf(
        &self,
        dns_name: &str,
        address: IpAddr,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
        let mut params = CertificateParams::new(vec![dns_name.to_string()])?;
        params.subject_alt_names.push(SanType::IpAddress(address));
        let short = dns_name.split('.').next().unwrap_or(dns_name);
        if short != dns_name {
            params
                .subject_alt_names
                .push(SanType::DnsName(short.to_string().try_into()?));
        }
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, dns_name);
        params.distinguished_name = dn;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.not_before = rcgen::date_time_ymd(2025, 1, 1);
        params.not_after = rcgen::date_time_ymd(2035, 12, 31);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.cert, &self.key)?;
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((vec![cert.der().clone()], private))
    }
}

/// Writes a file under a temporary name and renames it into place, so a
/// crash never leaves a half-written file under the final name.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}
