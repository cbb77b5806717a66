//! The WCF probe of `fakedc check`: on net.tcp the preamble (Version,
//! Mode, Via, KnownEncoding, PreambleEnd) must be acknowledged, and with
//! credentials the negotiate upgrade and one `GetServerInfo` call must
//! succeed; on HTTP(S) the endpoint's `?wsdl` must be a WSDL.

use crate::client::{payload, Client, ClientError};
use crate::contract::{self, MANAGEMENT};
use crate::service::contracts;
use fakedc_net::{ProbeReport, ProbeTarget, ProbeVerdict};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub async fn probe(t: ProbeTarget) -> ProbeReport {
    let timeout = t.timeout;
    match tokio::time::timeout(timeout * 2, run(t)).await {
        Ok(r) => r,
        Err(_) => ProbeReport::new(
            ProbeVerdict::Timeout,
            format!("no answer within {timeout:?}"),
        ),
    }
}

fn from_err(e: ClientError) -> ProbeReport {
    match e {
        ClientError::Io(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            ProbeReport::new(ProbeVerdict::Refused, e.to_string())
        }
        ClientError::Auth(e) => ProbeReport::new(ProbeVerdict::AuthFailure, e),
        e => ProbeReport::new(ProbeVerdict::WrongProtocol, e.to_string()),
    }
}

async fn run(t: ProbeTarget) -> ProbeReport {
    let Some(c) = contracts(t.service).first() else {
        return ProbeReport::new(ProbeVerdict::WrongProtocol, "no WCF endpoint on this kind");
    };
    if t.service.http() {
        return http(&t, c.path()).await;
    }
    let base = format!("net.tcp://{}{}", t.addr, MANAGEMENT.path());
    let Some(creds) = t.creds() else {
        return match Client::connect(t.addr, &format!("{base}/mex"), None).await {
            Ok(c) => {
                let _ = c.close().await;
                ProbeReport::new(ProbeVerdict::Verified, "net.tcp preamble acknowledged")
            }
            Err(e) => from_err(e),
        };
    };
    // Windows security first; a SecurityMode.None endpoint answers the
    // upgrade with UpgradeInvalid.
    let mut client = match Client::connect(t.addr, &base, Some(creds)).await {
        Ok(c) => c,
        Err(ClientError::Framing(f)) if f.ends_with("UpgradeInvalid") => {
            match Client::connect(t.addr, &base, None).await {
                Ok(c) => c,
                Err(e) => return from_err(e),
            }
        }
        Err(e) => return from_err(e),
    };
    let op = &MANAGEMENT.ops[0];
    let r = client
        .call(
            &MANAGEMENT.action(op),
            Some(crate::nbfx::Node::new("", op.name).ns("", contract::NS)),
        )
        .await;
    let _ = client.close().await;
    match r {
        Ok(env) => {
            let version = payload(&env)
                .and_then(|p| p.children.first())
                .and_then(|r| r.children.iter().find(|c| c.name == "ProductVersion"))
                .map(|v| v.text.clone());
            match version {
                Some(v) => {
                    let mut rep = ProbeReport::new(
                        ProbeVerdict::Verified,
                        format!("net.tcp GetServerInfo: VMM {v}"),
                    );
                    rep.facts.push(("version", v));
                    rep
                }
                None => ProbeReport::new(
                    ProbeVerdict::WrongProtocol,
                    "GetServerInfo answered without a version",
                ),
            }
        }
        Err(e) => from_err(e),
    }
}

/// One HTTP/1.1 exchange (TLS with any certificate when `t.tls`): the
/// whole answer as text.
async fn exchange(t: &ProbeTarget, req: &str) -> Result<String, ProbeReport> {
    let s = tokio::net::TcpStream::connect(t.addr)
        .await
        .map_err(|e| ProbeReport::new(ProbeVerdict::Refused, e.to_string()))?;
    let mut out = Vec::new();
    let r: std::io::Result<()> = async {
        if t.tls {
            let cfg = fakedc_net::tls::client_config(&fakedc_net::tls::Trust::AnyCertificate)
                .map_err(std::io::Error::other)?;
            let name = rustls_pki_name(t.addr.ip());
            let mut tls = tokio_rustls::TlsConnector::from(Arc::clone(&cfg))
                .connect(name, s)
                .await?;
            tls.write_all(req.as_bytes()).await?;
            let _ = tls.read_to_end(&mut out).await;
        } else {
            let mut s = s;
            s.write_all(req.as_bytes()).await?;
            s.read_to_end(&mut out).await?;
        }
        Ok(())
    }
    .await;
    r.map_err(|e| ProbeReport::new(ProbeVerdict::TlsFailure, e.to_string()))?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

async fn http(t: &ProbeTarget, path: String) -> ProbeReport {
    let req = format!(
        "GET {path}?wsdl HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        t.addr
    );
    let text = match exchange(t, &req).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    if !(text.starts_with("HTTP/1.1 200") && text.contains("wsdl:definitions")) {
        return ProbeReport::new(
            ProbeVerdict::WrongProtocol,
            format!(
                "{path}?wsdl: {}",
                text.lines().next().unwrap_or("no answer")
            ),
        );
    }
    // With credentials, one logged-in call on the agent's HTTPS endpoint
    // (Basic over TLS, which it accepts).
    let (Some((user, password)), true) = (t.creds(), t.tls) else {
        return ProbeReport::new(ProbeVerdict::Verified, format!("WSDL at {path}?wsdl"));
    };
    let body = format!(
        "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><GetCommand xmlns=\"{0}\"><smbiosGuid>00000000-0000-0000-0000-000000000000</smbiosGuid></GetCommand></s:Body></s:Envelope>",
        contract::NS
    );
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/xml; charset=utf-8\r\nSOAPAction: \"{}/IWinPEAgent/GetCommand\"\r\nAuthorization: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        t.addr,
        contract::NS,
        fakedc_net::auth::basic_header(user, password),
        body.len()
    );
    match exchange(t, &req).await {
        Err(r) => r,
        Ok(text) if text.starts_with("HTTP/1.1 401") => {
            ProbeReport::new(ProbeVerdict::AuthFailure, format!("{path}: 401 for {user}"))
        }
        Ok(text) if text.starts_with("HTTP/1.1 200") && text.contains("<GetCommandResult>") => {
            ProbeReport::new(
                ProbeVerdict::Verified,
                format!("WSDL at {path}?wsdl, GetCommand as {user}"),
            )
        }
        Ok(text) => ProbeReport::new(
            ProbeVerdict::WrongProtocol,
            format!(
                "{path} GetCommand: {}",
                text.lines().next().unwrap_or("no answer")
            ),
        ),
    }
}

fn rustls_pki_name(ip: std::net::IpAddr) -> rustls::pki_types::ServerName<'static> {
    rustls::pki_types::ServerName::IpAddress(ip.into())
}
