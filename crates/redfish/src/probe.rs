//! The Redfish probe `fakedc check` uses: a GET of the service root over
//! TLS (any certificate, as BMCs have self-signed ones), then, with
//! credentials, a GET of `/redfish/v1/Systems` with Basic. Works against
//! real BMCs too.

use fakedc_net::{ProbeReport, ProbeVerdict};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest answer read.
const MAX_ANSWER: usize = 256 * 1024;

fn r(v: ProbeVerdict, d: impl Into<String>) -> ProbeReport {
    ProbeReport::new(v, d)
}

/// One HTTP/1.1 GET over a fresh TLS connection: (status, body).
async fn get(
    addr: SocketAddr,
    path: &str,
    auth: Option<&str>,
) -> Result<(u16, String), ProbeReport> {
    let tcp = TcpStream::connect(addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::ConnectionRefused {
            r(ProbeVerdict::Refused, "connection refused")
        } else {
            r(ProbeVerdict::Refused, e.to_string())
        }
    })?;
    let cfg = fakedc_net::tls::client_config(&fakedc_net::tls::Trust::AnyCertificate)
        .map_err(|e| r(ProbeVerdict::TlsFailure, e.to_string()))?;
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let mut s = tokio_rustls::TlsConnector::from(cfg)
        .connect(name, tcp)
        .await
        .map_err(|e| r(ProbeVerdict::TlsFailure, e.to_string()))?;
    let mut head = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n"
    );
    if let Some(a) = auth {
        head.push_str(&format!("Authorization: {a}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())
        .await
        .map_err(|e| r(ProbeVerdict::WrongProtocol, e.to_string()))?;
    let mut buf = Vec::new();
    let _ = (&mut s).take(MAX_ANSWER as u64).read_to_end(&mut buf).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|t| t.get(..3))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| r(ProbeVerdict::WrongProtocol, "no HTTP status line"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|b| b.1.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Probes a BMC's `/redfish` on HTTPS.
pub async fn probe(
    addr: SocketAddr,
    creds: Option<(&str, &str)>,
    timeout: Duration,
) -> ProbeReport {
    match tokio::time::timeout(timeout, run(addr, creds)).await {
        Ok(x) => x,
        Err(_) => r(ProbeVerdict::Timeout, "no answer in time"),
    }
}

async fn run(addr: SocketAddr, creds: Option<(&str, &str)>) -> ProbeReport {
    let (status, body) = match get(addr, "/redfish/v1/", None).await {
        Ok(x) => x,
        Err(e) => return e,
    };
    let v: serde_json::Value = serde_json::from_str(body.trim()).unwrap_or_default();
    let Some(version) = v.get("RedfishVersion").and_then(|x| x.as_str()) else {
        return r(
            ProbeVerdict::WrongProtocol,
            format!("service root answered HTTP {status} without RedfishVersion"),
        );
    };
    let detail = format!("Redfish {version}");
    let Some((user, password)) = creds else {
        return r(
            ProbeVerdict::Verified,
            format!("{detail}; Systems need credentials"),
        );
    };
    let b = fakedc_net::auth::basic_header(user, password);
    match get(addr, "/redfish/v1/Systems", Some(&b)).await {
        Ok((200, _)) => r(ProbeVerdict::Verified, format!("{detail}; Systems listed")),
        Ok((401, _)) => r(
            ProbeVerdict::AuthFailure,
            format!("{detail}; Basic refused"),
        ),
        Ok((s, _)) => r(
            ProbeVerdict::WrongProtocol,
            format!("{detail}; Systems answered HTTP {s}"),
        ),
        Err(e) => e,
    }
}
