//! The WSUS probe of `fakedc check`, and a small client the benchmark
//! uses: one keep-alive HTTP/1.1 connection (plain or TLS with any
//! certificate), SOAP posts, and NTLM for the admin service. The probe
//! asks GetConfig, gets an authorization cookie and a cookie; with
//! credentials it also calls the admin service's GetServerVersion over
//! NTLM. Works against a real WSUS as well.

use crate::msg;
use base64::Engine as _;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

pub use fakedc_net::{ProbeReport, ProbeVerdict};

/// Largest response read.
const MAX_RESPONSE: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connection refused")]
    Refused,
    #[error("timed out")]
    Timeout,
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("not an HTTP answer: {0}")]
    Protocol(String),
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// An HTTP response (the front's client type).
pub use fakedc_net::client::Response;

/// One connection.
pub struct Client {
    io: Box<dyn Stream>,
    host: String,
    timeout: Duration,
}

async fn timed<T>(
    t: Duration,
    f: impl std::future::Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    tokio::time::timeout(t, f)
        .await
        .map_err(|_| ClientError::Timeout)?
}

impl Client {
    pub async fn connect(
        addr: SocketAddr,
        tls: bool,
        timeout: Duration,
    ) -> Result<Client, ClientError> {
        let tcp = timed(timeout, async {
            TcpStream::connect(addr).await.map_err(|e| {
                if e.kind() == std::io::ErrorKind::ConnectionRefused {
                    ClientError::Refused
                } else {
                    ClientError::Io(e)
                }
            })
        })
        .await?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Stream> = if tls {
            let cfg: Arc<rustls::ClientConfig> =
                fakedc_net::tls::client_config(&fakedc_net::tls::Trust::AnyCertificate)
                    .map_err(|e| ClientError::Tls(e.to_string()))?;
            let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
            let s = timed(timeout, async {
                tokio_rustls::TlsConnector::from(cfg)
                    .connect(name, tcp)
                    .await
                    .map_err(|e| ClientError::Tls(e.to_string()))
            })
            .await?;
            Box::new(s)
        } else {
            Box::new(tcp)
        };
        Ok(Client {
            io,
            host: addr.to_string(),
            timeout,
        })
    }

    /// One request; reads a Content-Length answer.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, ClientError> {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nUser-Agent: Windows-Update-Agent/10.0.10011.16384 Client-Protocol/2.32\r\n",
            self.host,
            body.len()
        );
        for (k, v) in headers {
            let _ = write!(head, "{k}: {v}\r\n");
        }
        head.push_str("\r\n");
        let t = self.timeout;
        let io = &mut self.io;
        let head_only = method == "HEAD";
        timed(t, async move {
            io.write_all(head.as_bytes()).await?;
            io.write_all(body).await?;
            io.flush().await?;
            read_response(io, head_only).await
        })
        .await
    }

    /// A SOAP call to `service`'s operation `op` with `inner` as the
    /// operation element's content.
    pub async fn soap(
        &mut self,
        service: msg::Service,
        op: &str,
        inner: &str,
        extra: &[(&str, &str)],
    ) -> Result<Response, ClientError> {
        let ns = service.namespace();
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><{op} xmlns=\"{ns}\">{inner}</{op}></soap:Body></soap:Envelope>"
        );
        let action = format!("\"{ns}/{op}\"");
        let mut h: Vec<(&str, &str)> = vec![
            ("Content-Type", "text/xml; charset=utf-8"),
            ("SOAPAction", &action),
        ];
        h.extend_from_slice(extra);
        self.request("POST", service.path(), &h, body.as_bytes())
            .await
    }

    /// NTLM (as `Negotiate`) on this connection against the admin service.
    pub async fn ntlm_login(&mut self, user: &str, password: &str) -> Result<bool, ClientError> {
        let (domain, name) = user.split_once('\\').unwrap_or(("", user));
        let mut c = fakedc_ntlm::Client::new(name, domain, password);
        let b64 = base64::engine::general_purpose::STANDARD;
        let neg = format!("Negotiate {}", b64.encode(c.negotiate()));
        let r = self
            .soap(
                msg::Service::Admin,
                "GetServerVersion",
                "",
                &[("Authorization", &neg)],
            )
            .await?;
        let challenge = r
            .header("WWW-Authenticate")
            .and_then(|h| h.strip_prefix("Negotiate "))
            .and_then(|t| b64.decode(t.trim()).ok())
            .ok_or_else(|| {
                ClientError::Protocol(format!("no NTLM challenge (HTTP {})", r.status))
            })?;
        let (auth, _) = c
            .authenticate(&challenge)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let hdr = format!("Negotiate {}", b64.encode(auth));
        let r = self
            .soap(
                msg::Service::Admin,
                "GetServerVersion",
                "",
                &[("Authorization", &hdr)],
            )
            .await?;
        Ok(r.status == 200)
    }
}

/// One response off the connection (the front's shared reader).
async fn read_response(io: &mut Box<dyn Stream>, head_only: bool) -> Result<Response, ClientError> {
    fakedc_net::client::read_response(io.as_mut(), head_only, MAX_RESPONSE)
        .await
        .map_err(|e| match e {
            fakedc_net::client::ReadError::Io(e) => ClientError::Io(e),
            fakedc_net::client::ReadError::Protocol(m) => ClientError::Protocol(m),
        })
}

/// The text between `<tag>` and `</tag>` (first occurrence).
pub fn between<'a>(s: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let a = s.find(&open)? + open.len();
    let b = s[a..].find(&close)? + a;
    Some(&s[a..b])
}

/// GetConfig, GetAuthorizationCookie and GetCookie; with credentials,
/// GetServerVersion on the admin service over NTLM.
pub async fn probe(
    addr: SocketAddr,
    tls: bool,
    credentials: Option<(&str, &str)>,
    timeout: Duration,
) -> ProbeReport {
    match tokio::time::timeout(timeout * 4, run(addr, tls, credentials, timeout)).await {
        Ok(r) => r,
        Err(_) => ProbeReport::new(
            ProbeVerdict::Timeout,
            format!("no answer within {timeout:?}"),
        ),
    }
}

async fn run(
    addr: SocketAddr,
    tls: bool,
    credentials: Option<(&str, &str)>,
    timeout: Duration,
) -> ProbeReport {
    let mut c = match Client::connect(addr, tls, timeout).await {
        Ok(c) => c,
        Err(ClientError::Refused) => {
            return ProbeReport::new(ProbeVerdict::Refused, "connection refused")
        }
        Err(ClientError::Timeout) => {
            return ProbeReport::new(ProbeVerdict::Timeout, "connect timed out")
        }
        Err(ClientError::Tls(e)) => return ProbeReport::new(ProbeVerdict::TlsFailure, e),
        Err(e) => return ProbeReport::new(ProbeVerdict::WrongProtocol, e.to_string()),
    };
    let wrong = |what: &str, r: &Response| {
        ProbeReport::new(
            ProbeVerdict::WrongProtocol,
            format!(
                "{what} answered HTTP {} without the expected result",
                r.status
            ),
        )
    };
    let r = match c
        .soap(
            msg::Service::Client,
            "GetConfig",
            "<protocolVersion>1.8</protocolVersion>",
            &[],
        )
        .await
    {
        Ok(r) => r,
        Err(e) => return ProbeReport::new(ProbeVerdict::WrongProtocol, e.to_string()),
    };
    let text = r.text();
    if r.status != 200 || !text.contains("MaxExtendedUpdatesPerRequest") {
        return wrong("GetConfig", &r);
    }
    let Some(last_change) = between(&text, "LastChange").map(str::to_string) else {
        return wrong("GetConfig", &r);
    };
    let r = match c
        .soap(
            msg::Service::SimpleAuth,
            "GetAuthorizationCookie",
            "<clientId>fakedc-check</clientId><targetGroupName></targetGroupName><dnsName>fakedc-check</dnsName>",
            &[],
        )
        .await
    {
        Ok(r) => r,
        Err(e) => return ProbeReport::new(ProbeVerdict::WrongProtocol, e.to_string()),
    };
    let text = r.text();
    let Some(data) = between(&text, "CookieData").map(str::to_string) else {
        return wrong("GetAuthorizationCookie", &r);
    };
    let inner = format!(
        "<authCookies><AuthorizationCookie><PlugInId>SimpleTargeting</PlugInId><CookieData>{data}</CookieData></AuthorizationCookie></authCookies><lastChange>{last_change}</lastChange><currentTime>{last_change}</currentTime><protocolVersion>1.8</protocolVersion>"
    );
    let r = match c.soap(msg::Service::Client, "GetCookie", &inner, &[]).await {
        Ok(r) => r,
        Err(e) => return ProbeReport::new(ProbeVerdict::WrongProtocol, e.to_string()),
    };
    let text = r.text();
    let Some(expires) = between(&text, "Expiration").map(str::to_string) else {
        return wrong("GetCookie", &r);
    };
    let mut detail = format!("GetConfig, authorization cookie and cookie (expires {expires})");
    let mut report_facts = vec![("cookie_expiration", expires)];
    if let Some((u, p)) = credentials {
        match c.ntlm_login(u, p).await {
            Ok(true) => {
                detail.push_str("; admin GetServerVersion over NTLM");
                report_facts.push(("admin", "ok".into()));
            }
            Ok(false) => {
                return ProbeReport::new(
                    ProbeVerdict::AuthFailure,
                    "admin service refused the credentials (401)",
                );
            }
            Err(e) => {
                return ProbeReport::new(ProbeVerdict::WrongProtocol, format!("admin service: {e}"))
            }
        }
    }
    let mut rep = ProbeReport::new(ProbeVerdict::Verified, detail);
    rep.facts = report_facts;
    rep
}
