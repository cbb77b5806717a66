//! A small vim25 client over one keep-alive HTTPS connection: the `check`
//! probe and the benchmark use it. It sends what pyvmomi sends
//! (`SOAPAction: "urn:vim25/<version>"`, the session cookie back).

use bytes::Bytes;
use fakedc_net::tls::{client_config, Trust};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use std::net::SocketAddr;
use tokio::net::TcpStream;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connect: {0}")]
    Connect(std::io::Error),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("HTTP: {0}")]
    Http(String),
}

pub struct Client {
    sender: SendRequest<Full<Bytes>>,
    pub cookie: Option<String>,
}

/// One response: status and body.
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Client {
    /// Connects (TLS when `tls`, any certificate).
    pub async fn connect(addr: SocketAddr, tls: bool) -> Result<Client, ClientError> {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(ClientError::Connect)?;
        let _ = tcp.set_nodelay(true);
        let sender = if tls {
            let cfg = client_config(&Trust::AnyCertificate)
                .map_err(|e| ClientError::Tls(e.to_string()))?;
            let name = ServerName::IpAddress(addr.ip().into());
            let io = tokio_rustls::TlsConnector::from(cfg)
                .connect(name, tcp)
                .await
                .map_err(|e| ClientError::Tls(e.to_string()))?;
            handshake(io).await?
        } else {
            handshake(tcp).await?
        };
        Ok(Client {
            sender,
            cookie: None,
        })
    }

    /// POSTs one SOAP body to `/sdk`.
    pub async fn post(&mut self, body: String) -> Result<Reply, ClientError> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri("/sdk")
            .header(header::HOST, "localhost")
            .header(header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .header(
                "SOAPAction",
                format!("\"urn:vim25/{}\"", crate::API_VERSION),
            )
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ClientError::Http(e.to_string()))?;
        if let Some(c) = &self.cookie {
            if let Ok(v) = HeaderValue::from_str(&format!("vmware_soap_session=\"{c}\"")) {
                req.headers_mut().insert(header::COOKIE, v);
            }
        }
        self.sender
            .ready()
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        if let Some(c) = resp
            .headers()
            .get(header::SET_COOKIE)
            .and_then(|v| v.to_str().ok())
        {
            if let Some(v) = c
                .split(';')
                .next()
                .and_then(|kv| kv.split_once('='))
                .filter(|(k, _)| k.trim() == "vmware_soap_session")
            {
                self.cookie = Some(v.1.trim_matches('"').to_string());
            }
        }
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?
            .to_bytes();
        Ok(Reply {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

async fn handshake<T>(io: T) -> Result<SendRequest<Full<Bytes>>, ClientError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| ClientError::Http(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// A request envelope around a method element.
pub fn envelope(inner: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenc=\"http://schemas.xmlsoap.org/soap/encoding/\" xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>{inner}</soapenv:Body></soapenv:Envelope>"
    )
}

pub fn retrieve_service_content() -> String {
    envelope("<RetrieveServiceContent xmlns=\"urn:vim25\"><_this type=\"ServiceInstance\">ServiceInstance</_this></RetrieveServiceContent>")
}

pub fn login(session_manager: &str, user: &str, password: &str) -> String {
    envelope(&format!(
        "<Login xmlns=\"urn:vim25\"><_this type=\"SessionManager\">{}</_this><userName>{}</userName><password>{}</password></Login>",
        fakedc_xml::escape_text(session_manager),
        fakedc_xml::escape_text(user),
        fakedc_xml::escape_text(password)
    ))
}

/// The text of the first element with this local name (a quick reader
/// for the probe and the benchmark, not a parser).
pub fn first_text<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}");
    let start = xml.find(&open)?;
    let rest = &xml[start..];
    let gt = rest.find('>')?;
    let body = &rest[gt + 1..];
    let end = body.find('<')?;
    Some(&body[..end])
}
