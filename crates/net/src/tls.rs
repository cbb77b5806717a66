//! The scenario CA and per-machine leaf certificates.
//!
//! `fakedc certs` writes the CA under `certs/` so clients can trust it once;
//! `--ephemeral` runs keep it in memory. Leaf certificates are made lazily,
//! on the first TLS handshake of a machine, so a 1,000-machine fleet starts
//! without signing 1,000 certificates.
//!
//! Some protocols start TLS in the middle of a connection (TDS after
//! PRELOGIN, RDP after X.224, net.tcp after its upgrade request): a
//! service accepts the plain stream and calls [`upgrade`] (or
//! [`crate::ConnInfo::tls_upgrade`]) when its protocol says so; the
//! certificate is the same per-machine leaf the TLS listeners present.

use crate::{BoxIo, ConnInfo};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

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

// By hand: the key must never be printed; `ConnInfo` (which carries the
// CA for upgrades) is `Debug`.
impl std::fmt::Debug for CertAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let leaves = self.leaves.lock().map(|m| m.len()).unwrap_or(0);
        f.debug_struct("CertAuthority")
            .field("dir", &self.dir)
            .field("leaves", &leaves)
            .finish_non_exhaustive()
    }
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

    /// The configuration for TLS started inside another protocol
    /// ([`upgrade`]): the same leaf (and session cache) as
    /// [`CertAuthority::server_config`], made on first use, but
    /// - no ALPN: TDS, RDP and net.tcp clients negotiate none, and a
    ///   client that offers protocols none of which is `http/1.1` would be
    ///   refused by a server that insists on it (RFC 7301);
    /// - no TLS 1.3 session tickets: they are written after the client's
    ///   Finished, so a framing adapter that switches from wrapped
    ///   handshake records (TDS PRELOGIN) to raw TLS when the handshake
    ///   returns would send them in the wrong framing.
    pub fn upgrade_config(
        &self,
        dns_name: &str,
        address: IpAddr,
    ) -> Result<Arc<ServerConfig>, TlsError> {
        let key = format!("{dns_name}|{address}|upgrade");
        if let Some(cfg) = self.leaves.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(cfg);
        }
        let mut cfg = (*self.server_config(dns_name, address)?).clone();
        cfg.alpn_protocols.clear();
        cfg.send_tls13_tickets = 0;
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

/// How long a server-side TLS handshake may take, on a listener or in an
/// upgrade, before the connection is dropped: a peer that stalls mid
/// handshake must not hold a connection slot for ever.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Records rustls may hold encrypted before they reach the socket. Its
/// default (64 KiB) cuts a bulk body into one `writev` per 64 KiB; four
/// times that sends a megabyte in four syscalls. It bounds memory per
/// connection only while a body is being sent.
const SEND_BUFFER: usize = 256 << 10;

/// Runs a server handshake on `io` with `config`, within
/// [`HANDSHAKE_TIMEOUT`]. The TLS listeners and [`upgrade`] share it.
pub async fn accept<S>(
    io: S,
    config: Arc<ServerConfig>,
) -> io::Result<tokio_rustls::server::TlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(io)).await {
        Ok(Ok(mut s)) => {
            s.get_mut().1.set_buffer_limit(Some(SEND_BUFFER));
            Ok(s)
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "TLS handshake timed out",
        )),
    }
}

/// Starts TLS (server side) on an established stream of `conn`'s
/// connection, presenting the machine's leaf (its DNS name and the
/// address the peer connected to, as the listener's TLS does), and
/// returns the stream of its own type so the caller can still reach it
/// (`get_mut().0`).
///
/// Why generic: TDS carries the handshake's TLS records inside PRELOGIN
/// packets and then switches to raw TLS. The TDS service wraps its stream
/// in its own framing adapter (which wraps and unwraps handshake records),
/// calls this, and flips the adapter to pass-through through `get_mut()`
/// once it returns; the upgrade configuration sends nothing after the
/// handshake (see [`CertAuthority::upgrade_config`]), so the switch point
/// is exact. RDP (after X.224) and net.tcp (after its upgrade request) need
/// no adapter and use [`upgrade`].
pub async fn upgrade_stream<S>(
    io: S,
    conn: &ConnInfo,
    ca: &CertAuthority,
) -> io::Result<tokio_rustls::server::TlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = ca
        .upgrade_config(&conn.dns_name, conn.local.ip())
        .map_err(io::Error::other)?;
    accept(io, config).await
}

/// [`upgrade_stream`] for the boxed stream a service is handed: what RDP
/// and net.tcp call when their protocol says "TLS now". The next bytes on
/// `io` must be the peer's ClientHello: a caller that buffered past its
/// own protocol's last message would lose them (TDS, RDP and net.tcp
/// clients wait for the server's answer before sending the ClientHello,
/// so reading exactly one message is enough).
pub async fn upgrade(io: BoxIo, conn: &ConnInfo, ca: &CertAuthority) -> io::Result<BoxIo> {
    Ok(Box::new(upgrade_stream(io, conn, ca).await?))
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

/// Whom a client trusts: fakedc's own clients (the BITS client, probes,
/// benchmarks) share this one definition.
#[derive(Clone, Debug)]
pub enum Trust {
    /// These CA certificates (the scenario CA).
    Roots(Vec<CertificateDer<'static>>),
    /// Any certificate, still checking the handshake signatures: for the
    /// `check` probes, whose question is the protocol, not trust.
    AnyCertificate,
}

impl Trust {
    /// The CA certificates in a PEM file's contents.
    pub fn from_pem(pem: &[u8]) -> Result<Trust, String> {
        let mut rd = std::io::BufReader::new(pem);
        let certs: Vec<_> = rustls_pemfile::certs(&mut rd)
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        if certs.is_empty() {
            return Err("no certificate in the PEM".into());
        }
        Ok(Trust::Roots(certs))
    }
}

/// A rustls client configuration (ring, safe defaults, ALPN http/1.1).
pub fn client_config(trust: &Trust) -> Result<Arc<rustls::ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let mut cfg = match trust {
        Trust::Roots(certs) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in certs {
                roots.add(c.clone())?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Trust::AnyCertificate => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
            .with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Accepts any certificate but still verifies the handshake signatures.
#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
