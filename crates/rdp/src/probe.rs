//! The client side for `check`: the Direct Approach's first half as
//! xfreerdp `/vmconnect` does it. A preconnection PDU (naming the nil
//! GUID: the probe knows no VM, and the server answers TLS and CredSSP
//! before it looks the VM up), the TLS handshake, and with credentials
//! CredSSP with NTLM (fakedc-ntlm's client), the public-key binding both
//! ways and the delegated credentials.

use crate::credssp::{self, PasswordCreds, TsRequest};
use crate::service::Framed;
use fakedc_net::tls::{client_config, Trust};
use fakedc_net::{ProbeReport, ProbeVerdict};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// The VM id the probe names.
pub const PROBE_VM: &str = "00000000-0000-0000-0000-000000000000";

pub async fn probe(
    addr: SocketAddr,
    creds: Option<(&str, &str)>,
    timeout: Duration,
) -> ProbeReport {
    match tokio::time::timeout(timeout, run(addr, creds)).await {
        Ok(r) => r,
        Err(_) => ProbeReport::new(ProbeVerdict::Timeout, format!("no answer in {timeout:?}")),
    }
}

async fn run(addr: SocketAddr, creds: Option<(&str, &str)>) -> ProbeReport {
    match direct(addr, PROBE_VM, creds).await {
        Ok(_) => ProbeReport::new(
            ProbeVerdict::Verified,
            match creds {
                Some((user, _)) => format!("preconnection PDU, TLS, CredSSP (NTLM) as {user}"),
                None => {
                    "preconnection PDU, then TLS (CredSSP not tried without credentials)".into()
                }
            },
        ),
        Err((v, why)) => ProbeReport::new(v, why),
    }
}

/// A client's TLS stream to VMConnect after the Direct Approach's first
/// half, with the read buffer in front of it.
pub type Session = Framed<tokio_rustls::client::TlsStream<TcpStream>>;

/// Connects as xfreerdp `/vmconnect:<vm>` does: the preconnection PDU,
/// TLS, and with credentials CredSSP. The probe, the hostile-input tests
/// and the benchmark's own client start here.
pub async fn direct(
    addr: SocketAddr,
    vm: &str,
    creds: Option<(&str, &str)>,
) -> Result<Session, (ProbeVerdict, String)> {
    let mut s = TcpStream::connect(addr)
        .await
        .map_err(|e| (ProbeVerdict::Refused, e.to_string()))?;
    s.write_all(&crate::pcb::encode_v2(vm))
        .await
        .map_err(|e| (ProbeVerdict::WrongProtocol, e.to_string()))?;
    let mut cfg = client_config(&Trust::AnyCertificate)
        .map(|c| (*c).clone())
        .map_err(|e| (ProbeVerdict::TlsFailure, e.to_string()))?;
    cfg.alpn_protocols.clear();
    let name = rustls::pki_types::ServerName::try_from(addr.ip().to_string())
        .map_err(|e| (ProbeVerdict::TlsFailure, e.to_string()))?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, s)
        .await
        .map_err(|e| {
            (
                ProbeVerdict::TlsFailure,
                format!("TLS after the preconnection PDU: {e}"),
            )
        })?;
    let public_key = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|c| x509_parser::parse_x509_certificate(c.as_ref()).ok())
        .map(|(_, c)| c.public_key().subject_public_key.data.to_vec())
        .ok_or_else(|| {
            (
                ProbeVerdict::TlsFailure,
                "no server certificate".to_string(),
            )
        })?;
    let mut framed = Framed::new(tls);
    if let Some((user, password)) = creds {
        credssp_client(&mut framed, user, password, &public_key).await?;
    }
    Ok(framed)
}

async fn credssp_client(
    rd: &mut Session,
    user: &str,
    password: &str,
    public_key: &[u8],
) -> Result<(), (ProbeVerdict, String)> {
    let wrong = |e: String| (ProbeVerdict::WrongProtocol, e);
    let (domain, bare) = match user.split_once('\\') {
        Some((d, u)) => (d, u),
        None => ("", user),
    };
    let mut client = fakedc_ntlm::Client::new(bare, domain, password);
    let req = TsRequest {
        version: credssp::VERSION,
        nego_token: Some(client.negotiate()),
        ..TsRequest::default()
    };
    rd.get_mut()
        .write_all(&req.encode())
        .await
        .map_err(|e| wrong(e.to_string()))?;
    let der = rd.der().await.map_err(|e| wrong(e.to_string()))?;
    let ch = TsRequest::decode(&der).map_err(|e| wrong(e.to_string()))?;
    let challenge = ch.nego_token.ok_or_else(|| wrong("no CHALLENGE".into()))?;
    let (auth, mut session) = client
        .authenticate(&challenge)
        .map_err(|e| wrong(e.to_string()))?;
    let nonce: [u8; 32] = rand::random();
    let version = ch.version.clamp(2, credssp::VERSION);
    let (sig, sealed) = session.wrap(&credssp::client_binding(version, Some(&nonce), public_key));
    let mut pka = sig.to_vec();
    pka.extend_from_slice(&sealed);
    let req = TsRequest {
        version: credssp::VERSION,
        nego_token: Some(auth),
        pub_key_auth: Some(pka),
        client_nonce: (version >= 5).then_some(nonce),
        ..TsRequest::default()
    };
    rd.get_mut()
        .write_all(&req.encode())
        .await
        .map_err(|e| wrong(e.to_string()))?;
    let der = rd
        .der()
        .await
        .map_err(|e| (ProbeVerdict::AuthFailure, format!("CredSSP ended: {e}")))?;
    let reply = TsRequest::decode(&der).map_err(|e| wrong(e.to_string()))?;
    if let Some(code) = reply.error_code {
        return Err((
            ProbeVerdict::AuthFailure,
            format!("CredSSP errorCode {code:#010x}"),
        ));
    }
    let pka = reply
        .pub_key_auth
        .filter(|p| p.len() > 16)
        .ok_or_else(|| wrong("no server pubKeyAuth".into()))?;
    let got = session
        .unwrap(&pka[..16], &pka[16..])
        .map_err(|e| wrong(e.to_string()))?;
    if got != credssp::server_binding(version, Some(&nonce), public_key) {
        return Err(wrong("server pubKeyAuth does not bind its key".into()));
    }
    let creds = credssp::encode_credentials(&PasswordCreds {
        domain: domain.to_string(),
        user: bare.to_string(),
        password: password.to_string(),
    });
    let (sig, sealed) = session.wrap(&creds);
    let mut ai = sig.to_vec();
    ai.extend_from_slice(&sealed);
    let req = TsRequest {
        version: credssp::VERSION,
        auth_info: Some(ai),
        ..TsRequest::default()
    };
    rd.get_mut()
        .write_all(&req.encode())
        .await
        .map_err(|e| wrong(e.to_string()))?;
    rd.get_mut()
        .flush()
        .await
        .map_err(|e| wrong(e.to_string()))?;
    Ok(())
}
