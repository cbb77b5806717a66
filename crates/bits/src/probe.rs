//! The BITS probe of `fakedc check`: connect, TLS handshake (any
//! certificate: the check's question is the protocol, not trust; plain
//! HTTP for `bits-http`), then a BITS Ping. Only an `Ack` is "verified". Works against IIS as well.

use crate::client::{Client, ClientConfig, ClientError, Trust};
use std::net::SocketAddr;
use std::time::Duration;

/// Shared with every other probe (see `fakedc_net::protocol`).
pub use fakedc_net::{ProbeReport, ProbeVerdict};

fn report(verdict: ProbeVerdict, detail: impl Into<String>) -> ProbeReport {
    ProbeReport::new(verdict, detail)
}

/// Pings BITS at `addr` (TLS when `tls`), with credentials if given: Basic
/// over TLS, NTLM over plain HTTP (where fakedc, like a careful IIS,
/// refuses Basic).
pub async fn probe(
    addr: SocketAddr,
    tls: bool,
    credentials: Option<(&str, &str)>,
    timeout: Duration,
) -> ProbeReport {
    let url = format!("{}://{addr}/", if tls { "https" } else { "http" });
    let mut cfg = ClientConfig::new(Trust::AnyCertificate);
    cfg.timeout = timeout;
    cfg.credentials = credentials.map(|(u, p)| (u.to_string(), p.to_string()));
    let mut client = match Client::new(&url, cfg) {
        Ok(c) => c,
        Err(e) => return report(ProbeVerdict::WrongProtocol, e.to_string()),
    };
    let r = tokio::time::timeout(timeout * 2, client.ping()).await;
    match r {
        Err(_) | Ok(Err(ClientError::Timeout(_))) => report(
            ProbeVerdict::Timeout,
            format!("no answer within {timeout:?}"),
        ),
        Ok(Err(ClientError::Connect { source, .. })) => {
            report(ProbeVerdict::Refused, source.to_string())
        }
        Ok(Err(ClientError::Tls(e))) => report(ProbeVerdict::TlsFailure, e),
        Ok(Err(ClientError::Handshake { source, .. })) => {
            report(ProbeVerdict::TlsFailure, source.to_string())
        }
        // The NTLM handshake (plain HTTP) failed with these credentials.
        Ok(Err(ClientError::Unauthorized)) => report(
            ProbeVerdict::AuthFailure,
            "NTLM refused with 401 (check --user/--password)",
        ),
        Ok(Err(e)) => report(ProbeVerdict::WrongProtocol, e.to_string()),
        Ok(Ok(p)) if p.status == 401 => report(
            ProbeVerdict::AuthFailure,
            "BITS Ping refused with 401 (give --user/--password)",
        ),
        Ok(Ok(p)) if p.status == 200 && p.acked => report(
            ProbeVerdict::Verified,
            format!(
                "BITS Ping acked{}{}",
                p.tls_version.map(|v| format!(", {v}")).unwrap_or_default(),
                p.server
                    .map(|s| format!(", Server: {s}"))
                    .unwrap_or_default()
            ),
        ),
        Ok(Ok(p)) => report(
            ProbeVerdict::WrongProtocol,
            format!("BITS Ping answered HTTP {} without an Ack", p.status),
        ),
    }
}
