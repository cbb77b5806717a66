//! The SMI-S probe `fakedc check` uses: a CIM-XML EnumerateInstances of
//! CIM_RegisteredProfile in root/interop over HTTP(S) with Basic, which
//! reports the profiles the provider registers. Without credentials it
//! checks that `/cimom` asks for Basic. Works against real providers too.

use fakedc_net::{ProbeReport, ProbeVerdict};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The request the probe sends (what pywbem sends with `--use-pull no`).
pub const ENUM_PROFILES: &str = concat!(
    "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\n",
    "<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\"><MESSAGE ID=\"1001\" PROTOCOLVERSION=\"1.0\"><SIMPLEREQ>",
    "<IMETHODCALL NAME=\"EnumerateInstances\"><LOCALNAMESPACEPATH><NAMESPACE NAME=\"root\"/>",
    "<NAMESPACE NAME=\"interop\"/></LOCALNAMESPACEPATH><IPARAMVALUE NAME=\"ClassName\">",
    "<CLASSNAME NAME=\"CIM_RegisteredProfile\"/></IPARAMVALUE></IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>"
);

trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// One response: status, headers (lower-case names), body.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Posts one CIM-XML body to `/cimom` and reads the answer (a small
/// client for the probe, the benchmark and tests).
pub async fn post(
    addr: SocketAddr,
    tls: bool,
    creds: Option<(&str, &str)>,
    method: &str,
    object: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<Response, (ProbeVerdict, String)> {
    let fut = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::ConnectionRefused {
                (ProbeVerdict::Refused, "connection refused".to_string())
            } else {
                (ProbeVerdict::Refused, e.to_string())
            }
        })?;
        let mut io: Box<dyn Io> = if tls {
            let cfg = fakedc_net::tls::client_config(&fakedc_net::tls::Trust::AnyCertificate)
                .map_err(|e| (ProbeVerdict::TlsFailure, e.to_string()))?;
            let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
            let s = tokio_rustls::TlsConnector::from(Arc::clone(&cfg))
                .connect(name, tcp)
                .await
                .map_err(|e| (ProbeVerdict::TlsFailure, e.to_string()))?;
            Box::new(s)
        } else {
            Box::new(tcp)
        };
        let mut head = format!(
            "POST /cimom HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/xml; charset=\"utf-8\"\r\nContent-Length: {}\r\nCIMOperation: MethodCall\r\nCIMMethod: {method}\r\nCIMObject: {object}\r\nConnection: close\r\n",
            body.len()
        );
        if let Some((u, p)) = creds {
            let basic = fakedc_net::auth::basic_header(u, p);
            head.push_str(&format!("Authorization: {basic}\r\n"));
        }
        head.push_str("\r\n");
        let io_err = |e: std::io::Error| (ProbeVerdict::WrongProtocol, e.to_string());
        io.write_all(head.as_bytes()).await.map_err(io_err)?;
        io.write_all(body).await.map_err(io_err)?;
        io.flush().await.map_err(io_err)?;
        let mut raw = Vec::new();
        // Connection: close, so the answer ends at EOF; capped.
        let mut buf = [0u8; 16384];
        loop {
            let n = io.read(&mut buf).await.map_err(io_err)?;
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
            if raw.len() > 256 << 20 {
                return Err((ProbeVerdict::WrongProtocol, "answer too large".into()));
            }
        }
        parse_response(&raw)
            .ok_or_else(|| (ProbeVerdict::WrongProtocol, "not an HTTP answer".into()))
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| (ProbeVerdict::Timeout, "timed out".to_string()))?
}

fn parse_response(raw: &[u8]) -> Option<Response> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(raw.get(..end)?).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw.get(end + 4..)?.to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body)?;
    }
    Some(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&b[..eol]).ok()?.trim(), 16).ok()?;
        b = b.get(eol + 2..)?;
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

/// Probes an array's `/cimom`.
pub async fn probe(
    addr: SocketAddr,
    tls: bool,
    creds: Option<(&str, &str)>,
    timeout: Duration,
) -> ProbeReport {
    let r = match post(
        addr,
        tls,
        creds,
        "EnumerateInstances",
        "root/interop",
        ENUM_PROFILES.as_bytes(),
        timeout,
    )
    .await
    {
        Ok(r) => r,
        Err((v, d)) => return ProbeReport::new(v, d),
    };
    let hdr = |n: &str| {
        r.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    match (r.status, creds) {
        (401, None) if hdr("www-authenticate").is_some_and(|v| v.starts_with("Basic")) => {
            ProbeReport::new(
                ProbeVerdict::Verified,
                "CIM-XML /cimom asks for Basic; profiles need credentials (--user/--password)",
            )
        }
        (401, Some(_)) => {
            ProbeReport::new(ProbeVerdict::AuthFailure, "credentials rejected (HTTP 401)")
        }
        (200, _)
            if hdr("cimoperation").is_some_and(|v| v.eq_ignore_ascii_case("MethodResponse")) =>
        {
            let x = String::from_utf8_lossy(&r.body);
            let mut profiles = Vec::new();
            let mut rest = x.as_ref();
            let tag = "<PROPERTY NAME=\"RegisteredName\" TYPE=\"string\"><VALUE>";
            while let Some(i) = rest.find(tag) {
                rest = &rest[i + tag.len()..];
                if let Some(e) = rest.find('<') {
                    profiles.push(rest[..e].to_string());
                }
                if profiles.len() > 64 {
                    break;
                }
            }
            let mut report = ProbeReport::new(
                ProbeVerdict::Verified,
                format!("SMI-S profiles: {}", profiles.join(", ")),
            );
            report.facts = profiles.into_iter().map(|p| ("profile", p)).collect();
            report
        }
        (s, _) => ProbeReport::new(
            ProbeVerdict::WrongProtocol,
            format!("POST /cimom answered HTTP {s} without a CIM-XML response"),
        ),
    }
}
