//! A small WinRM client: one keep-alive HTTP/1.1 connection (plain or TLS),
//! Basic or NTLM with MS-WSMV encryption. Used by `fakedc check`, the
//! benchmark and the Rust tests; it also works against real Windows hosts.

use crate::message::ns;
use crate::ntlm;
use crate::service::{decrypt, encrypt};
use base64::Engine as _;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response accepted.
const MAX_RESPONSE: usize = 16 << 20;

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
    #[error("not an HTTP/WinRM answer: {0}")]
    Protocol(String),
    #[error("credentials rejected (HTTP 401)")]
    Auth,
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// An HTTP response (the front's client type).
pub use fakedc_net::client::Response;

/// How to authenticate.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Basic { user: String, password: String },
    Ntlm { user: String, password: String },
}

/// One connection to a `/wsman` endpoint.
pub struct Client {
    io: Box<dyn Stream>,
    host: String,
    timeout: Duration,
    basic: Option<String>,
    session: Option<ntlm::Session>,
    /// Whether messages are sealed (NTLM over plain HTTP).
    pub encrypt: bool,
}

/// A TLS configuration that accepts any certificate: `check` reports what
/// it sees, and trust is not its question.
pub fn insecure_tls() -> Arc<rustls::ClientConfig> {
    match fakedc_net::tls::client_config(&fakedc_net::tls::Trust::AnyCertificate) {
        Ok(c) => c,
        // The ring provider always supports the default versions.
        Err(_) => Arc::new(
            rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        ),
    }
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
    /// Connects (and completes TLS when `tls` is given).
    pub async fn connect(
        addr: SocketAddr,
        tls: Option<Arc<rustls::ClientConfig>>,
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
        let io: Box<dyn Stream> = match tls {
            Some(cfg) => {
                let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
                let s = timed(timeout, async {
                    tokio_rustls::TlsConnector::from(cfg)
                        .connect(name, tcp)
                        .await
                        .map_err(|e| ClientError::Tls(e.to_string()))
                })
                .await?;
                Box::new(s)
            }
            None => Box::new(tcp),
        };
        Ok(Client {
            io,
            host: addr.to_string(),
            timeout,
            basic: None,
            session: None,
            encrypt: false,
        })
    }

    /// Sends one raw POST to /wsman and reads the answer.
    pub async fn post(
        &mut self,
        extra_headers: &[(&str, &str)],
        content_type: &str,
        body: &[u8],
    ) -> Result<Response, ClientError> {
        let mut head = format!(
            "POST /wsman HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nUser-Agent: fakedc-probe\r\n",
            self.host,
            body.len()
        );
        if !content_type.is_empty() {
            let _ = write!(head, "Content-Type: {content_type}\r\n");
        }
        for (k, v) in extra_headers {
            let _ = write!(head, "{k}: {v}\r\n");
        }
        head.push_str("\r\n");
        let t = self.timeout;
        let io = &mut self.io;
        timed(t, async move {
            io.write_all(head.as_bytes()).await?;
            io.write_all(body).await?;
            io.flush().await?;
            read_response(io, false).await
        })
        .await
    }

    /// Authenticates the connection.
    pub async fn login(&mut self, auth: &Auth) -> Result<(), ClientError> {
        match auth {
            Auth::None => Ok(()),
            Auth::Basic { user, password } => {
                self.basic = Some(basic_header(user, password));
                Ok(())
            }
            Auth::Ntlm { user, password } => {
                let (domain, name) = match user.split_once('\\') {
                    Some((d, n)) => (d, n),
                    None => ("", user.as_str()),
                };
                let mut c = ntlm::Client::new(name, domain, password);
                let neg = format!(
                    "Negotiate {}",
                    base64::engine::general_purpose::STANDARD.encode(c.negotiate())
                );
                let r = self.post(&[("Authorization", &neg)], "", b"").await?;
                let challenge = r
                    .header("WWW-Authenticate")
                    .and_then(|h| h.strip_prefix("Negotiate "))
                    .and_then(|t| {
                        base64::engine::general_purpose::STANDARD
                            .decode(t.trim())
                            .ok()
                    })
                    .ok_or_else(|| {
                        ClientError::Protocol(format!("no NTLM challenge (HTTP {})", r.status))
                    })?;
                let (auth, session) = c
                    .authenticate(&challenge)
                    .map_err(|e| ClientError::Protocol(e.to_string()))?;
                let hdr = format!(
                    "Negotiate {}",
                    base64::engine::general_purpose::STANDARD.encode(auth)
                );
                let r = self.post(&[("Authorization", &hdr)], "", b"").await?;
                match r.status {
                    200 => {
                        self.session = Some(session);
                        Ok(())
                    }
                    401 => Err(ClientError::Auth),
                    s => Err(ClientError::Protocol(format!(
                        "HTTP {s} after AUTHENTICATE"
                    ))),
                }
            }
        }
    }

    /// Sends a SOAP envelope (sealed when NTLM encryption is on) and returns
    /// (HTTP status, plaintext answer).
    pub async fn soap(&mut self, envelope: &str) -> Result<(u16, String), ClientError> {
        let basic = self.basic.clone();
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(b) = basic.as_deref() {
            headers.push(("Authorization", b));
        }
        let r = match (self.encrypt, self.session.as_mut()) {
            (true, Some(s)) => {
                let body = encrypt(s, envelope.as_bytes());
                self.post(
                    &headers,
                    "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\";boundary=\"Encrypted Boundary\"",
                    &body,
                )
                .await?
            }
            _ => {
                self.post(
                    &headers,
                    "application/soap+xml;charset=UTF-8",
                    envelope.as_bytes(),
                )
                .await?
            }
        };
        if r.status == 401 {
            return Err(ClientError::Auth);
        }
        let text = match (
            r.header("Content-Type")
                .is_some_and(|c| c.starts_with("multipart/encrypted")),
            self.session.as_mut(),
        ) {
            (true, Some(s)) => String::from_utf8_lossy(
                &decrypt(s, &r.body).map_err(|e| ClientError::Protocol(e.to_string()))?,
            )
            .into_owned(),
            _ => r.text(),
        };
        Ok((r.status, text))
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

/// An `Authorization: Basic` value (the front's one writer).
pub use fakedc_net::auth::basic_header;

/// An Identify request.
pub fn identify_request() -> String {
    format!(
        r#"<s:Envelope xmlns:s="{}" xmlns:wsmid="{}"><s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>"#,
        ns::S,
        ns::WSMID
    )
}

/// A generic request envelope.
pub fn request(action: &str, resource_uri: &str, selectors: &[(&str, &str)], body: &str) -> String {
    let mut sel = String::new();
    if !selectors.is_empty() {
        sel.push_str("<w:SelectorSet>");
        for (k, v) in selectors {
            let _ = write!(sel, r#"<w:Selector Name="{k}">{v}</w:Selector>"#);
        }
        sel.push_str("</w:SelectorSet>");
    }
    format!(
        concat!(
            r#"<s:Envelope xmlns:s="{s}" xmlns:a="{a}" xmlns:w="{w}" xmlns:n="{n}" xmlns:p="{p}">"#,
            "<s:Header><a:To>http://localhost/wsman</a:To><a:ReplyTo><a:Address s:mustUnderstand=\"true\">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>",
            "<a:Action s:mustUnderstand=\"true\">{act}</a:Action><w:MaxEnvelopeSize s:mustUnderstand=\"true\">512000</w:MaxEnvelopeSize>",
            "<a:MessageID>uuid:{id}</a:MessageID><w:OperationTimeout>PT20S</w:OperationTimeout>",
            "<w:ResourceURI s:mustUnderstand=\"true\">{uri}</w:ResourceURI>{sel}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
        ),
        s = ns::S,
        a = ns::A,
        w = ns::W,
        n = ns::N,
        p = ns::P,
        act = action,
        id = crate::message::new_uuid(),
        uri = resource_uri,
        sel = sel,
        body = body
    )
}

/// An optimized Enumerate body.
pub fn enumerate_body(max_elements: u32) -> String {
    format!(
        "<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>{max_elements}</w:MaxElements></n:Enumerate>"
    )
}
