//! A BITS client (none exists off Windows): resumable MC-BUP uploads and
//! ranged downloads over HTTPS, with hyper's HTTP/1.1 client over
//! tokio-rustls (or plain HTTP). `fakedc bits upload|download` and the
//! `check` probe use it; it works against IIS as well as fakedc.
//! Credentials go as Basic over HTTPS and through a per-connection NTLM
//! handshake over HTTP (or always, with [`AuthMode::Ntlm`]).
//!
//! Resuming: an upload remembers its session id and acknowledged length in
//! a small state file (keyed by URL and local file), so a re-run continues
//! the same server session; a download writes to `FILE.bitspart` with the
//! entity's validators beside it and continues with `Range` + `If-Range`.
//! Within one run, transport failures (resets, refused connects while the
//! server restarts) are retried with backoff, continuing from what the
//! server reports as received.

use crate::body::{file_body, PipeWriter};
use crate::proto::{self, header as bh};
use bytes::Bytes;
use fakedc_net::{full, Body};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderMap};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};
use tokio::net::TcpStream;
use tracing::debug;

/// Client errors.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("bad URL '{url}': {why}")]
    Url { url: String, why: String },
    #[error("{path}: {source}")]
    Local { path: PathBuf, source: io::Error },
    #[error("CA certificate: {0}")]
    Ca(String),
    #[error("connecting to {addr}: {source}")]
    Connect { addr: String, source: io::Error },
    /// The TLS layer refused (certificate, protocol): retrying cannot help.
    #[error("TLS: {0}")]
    Tls(String),
    /// The connection failed during the TLS handshake (reset, closed).
    #[error("TLS handshake with {addr}: {source}")]
    Handshake { addr: String, source: io::Error },
    #[error("HTTP: {0}")]
    Http(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("authentication failed (HTTP 401); check --user and --password")]
    Unauthorized,
    #[error("server answered HTTP {status}{}", bits_error.map(|c| format!(" with BITS error {}", proto::format_hresult(c))).unwrap_or_default())]
    Status {
        status: u16,
        bits_error: Option<u32>,
    },
    #[error("protocol: {0}")]
    Protocol(String),
    #[error("gave up after {attempts} failed attempts; last error: {last}")]
    GaveUp {
        attempts: u32,
        last: Box<ClientError>,
    },
}

impl ClientError {
    /// Whether trying again (on a new connection) can help.
    fn retryable(&self) -> bool {
        match self {
            ClientError::Connect { .. }
            | ClientError::Handshake { .. }
            | ClientError::Http(_)
            | ClientError::Timeout(_) => true,
            ClientError::Status { status, bits_error } => {
                *bits_error != Some(proto::hresult::SESSION_NOT_FOUND)
                    && matches!(status, 500 | 502 | 503 | 504)
            }
            _ => false,
        }
    }

    fn session_not_found(&self) -> bool {
        matches!(self, ClientError::Status { bits_error: Some(c), .. } if *c == proto::hresult::SESSION_NOT_FOUND)
    }

    fn local(path: &Path) -> impl FnOnce(io::Error) -> ClientError + '_ {
        move |source| ClientError::Local {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Whom to trust (shared with every fakedc client).
pub use fakedc_net::tls::Trust;

/// Reads CA certificates from PEM.
pub fn ca_from_pem(pem: &[u8]) -> Result<Trust, ClientError> {
    Trust::from_pem(pem).map_err(ClientError::Ca)
}

/// How the client presents its credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// Basic over HTTPS, NTLM over plain HTTP (where a BITS server refuses
    /// Basic, and a password must not travel in clear).
    #[default]
    Auto,
    /// `Authorization: Basic` on every request.
    Basic,
    /// An NTLM handshake on each new connection, which then carries the
    /// authentication (IIS's connection-based NTLM), as Windows BITS does.
    Ntlm,
}

/// Client settings.
#[derive(Clone)]
pub struct ClientConfig {
    pub trust: Trust,
    /// User (optionally `DOMAIN\user`) and password.
    pub credentials: Option<(String, String)>,
    pub auth: AuthMode,
    /// Upload fragment size.
    pub fragment_size: u64,
    /// Consecutive failed attempts (without progress) before giving up.
    pub retries: u32,
    /// Connect and response-head timeout.
    pub timeout: Duration,
}

impl ClientConfig {
    pub fn new(trust: Trust) -> ClientConfig {
        ClientConfig {
            trust,
            credentials: None,
            auth: AuthMode::Auto,
            fragment_size: 64 << 20,
            retries: 8,
            timeout: Duration::from_secs(30),
        }
    }
}

/// A parsed `https://host:port/path` (or `http://`).
#[derive(Debug, Clone)]
pub struct Target {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path and query as sent on the request line.
    pub path: String,
    url: String,
}

impl Target {
    pub fn parse(url: &str) -> Result<Target, ClientError> {
        let bad = |why: &str| ClientError::Url {
            url: url.to_string(),
            why: why.to_string(),
        };
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| bad(&e.to_string()))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad("the scheme must be https:// (or http://)")),
        };
        let auth = uri.authority().ok_or_else(|| bad("no host"))?;
        let host = auth
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = auth.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        Ok(Target {
            tls,
            host,
            port,
            path,
            url: url.to_string(),
        })
    }

    fn authority(&self) -> String {
        let default = if self.tls { 443 } else { 80 };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// What a transfer did.
#[derive(Debug, Clone)]
pub struct Report {
    pub bytes: u64,
    /// Where this run started (non-zero when it resumed).
    pub resumed_from: u64,
    pub elapsed: Duration,
    /// Failed attempts that were retried.
    pub retries: u32,
}

/// The answer to a BITS Ping.
#[derive(Debug, Clone)]
pub struct PingReply {
    pub status: u16,
    pub acked: bool,
    pub server: Option<String>,
    pub tls_version: Option<String>,
}

/// A progress callback: (bytes done, total).
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Send + Sync);

/// A BITS client for one URL.
pub struct Client {
    cfg: ClientConfig,
    tls: Option<tokio_rustls::TlsConnector>,
    target: Target,
    conn: Option<SendRequest<Body>>,
    tls_version: Option<String>,
}

impl Client {
    pub fn new(url: &str, cfg: ClientConfig) -> Result<Client, ClientError> {
        let target = Target::parse(url)?;
        let tls = if target.tls {
            Some(tokio_rustls::TlsConnector::from(tls_config(&cfg.trust)?))
        } else {
            None
        };
        Ok(Client {
            cfg,
            tls,
            target,
            conn: None,
            tls_version: None,
        })
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    async fn connect(&mut self) -> Result<(), ClientError> {
        if let Some(c) = &mut self.conn {
            if c.ready().await.is_ok() {
                return Ok(());
            }
            self.conn = None;
        }
        let t = self.cfg.timeout;
        let addr_text = format!("{}:{}", self.target.host, self.target.port);
        let addr: SocketAddr = match self.target.host.parse::<IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, self.target.port),
            Err(_) => tokio::net::lookup_host(&addr_text)
                .await
                .map_err(|source| ClientError::Connect {
                    addr: addr_text.clone(),
                    source,
                })?
                .next()
                .ok_or_else(|| ClientError::Connect {
                    addr: addr_text.clone(),
                    source: io::Error::new(io::ErrorKind::NotFound, "no address"),
                })?,
        };
        let tcp = tokio::time::timeout(t, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::Timeout(t))?
            .map_err(|source| ClientError::Connect {
                addr: addr_text.clone(),
                source,
            })?;
        let _ = tcp.set_nodelay(true);
        let sender = match &self.tls {
            Some(connector) => {
                let name = match self.target.host.parse::<IpAddr>() {
                    Ok(ip) => ServerName::IpAddress(ip.into()),
                    Err(_) => ServerName::try_from(self.target.host.clone())
                        .map_err(|e| ClientError::Tls(e.to_string()))?,
                };
                let stream = tokio::time::timeout(t, connector.connect(name, tcp))
                    .await
                    .map_err(|_| ClientError::Timeout(t))?
                    .map_err(|e| {
                        match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                            Some(tls) => ClientError::Tls(tls.to_string()),
                            None => ClientError::Handshake {
                                addr: addr_text.clone(),
                                source: e,
                            },
                        }
                    })?;
                self.tls_version = stream
                    .get_ref()
                    .1
                    .protocol_version()
                    .map(|v| format!("{v:?}"));
                handshake(stream).await?
            }
            None => handshake(tcp).await?,
        };
        let mut sender = sender;
        if self.uses_ntlm() {
            self.ntlm_login(&mut sender).await?;
            // The handshake's last answer was just read; the connection
            // takes a moment to be ready for the next request (sending
            // before that fails with "connection was not ready").
            tokio::time::timeout(t, sender.ready())
                .await
                .map_err(|_| ClientError::Timeout(t))?
                .map_err(|e| ClientError::Http(e.to_string()))?;
        }
        self.conn = Some(sender);
        Ok(())
    }

    /// Whether credentials go through an NTLM handshake rather than Basic.
    fn uses_ntlm(&self) -> bool {
        self.cfg.credentials.is_some()
            && match self.cfg.auth {
                AuthMode::Auto => !self.target.tls,
                AuthMode::Basic => false,
                AuthMode::Ntlm => true,
            }
    }

    /// Authenticates a new connection with NTLM (MS-NTHT): HEAD with the
    /// NEGOTIATE, the 401's CHALLENGE, HEAD with the AUTHENTICATE. HEAD
    /// because every IIS handler authenticates it before answering, upload
    /// directory or not; what it answers after that does not matter.
    async fn ntlm_login(&self, sender: &mut SendRequest<Body>) -> Result<(), ClientError> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let Some((name, password)) = &self.cfg.credentials else {
            return Ok(());
        };
        let (domain, user) = name.split_once('\\').unwrap_or(("", name.as_str()));
        let mut ntlm = fakedc_ntlm::Client::new(user, domain, password);
        let negotiate = format!("NTLM {}", b64.encode(ntlm.negotiate()));
        let (status, h) = self.head_on(sender, &negotiate).await?;
        if status != StatusCode::UNAUTHORIZED {
            // Nothing to prove: the server let the request through.
            return Ok(());
        }
        let challenge = h
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| {
                let (scheme, tok) = v.trim().split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("NTLM")
                    .then(|| b64.decode(tok.trim()).ok())
                    .flatten()
            })
            .ok_or(ClientError::Unauthorized)?;
        let (auth, _) = ntlm
            .authenticate(&challenge)
            .map_err(|e| ClientError::Protocol(e.to_string()))?;
        let (status, _) = self
            .head_on(sender, &format!("NTLM {}", b64.encode(auth)))
            .await?;
        if status == StatusCode::UNAUTHORIZED {
            return Err(ClientError::Unauthorized);
        }
        Ok(())
    }

    /// A HEAD of the target with an `Authorization` value, on `sender`.
    async fn head_on(
        &self,
        sender: &mut SendRequest<Body>,
        authorization: &str,
    ) -> Result<(StatusCode, HeaderMap), ClientError> {
        let t = self.cfg.timeout;
        let req = Request::builder()
            .method(Method::HEAD)
            .uri(self.target.path.as_str())
            .header(header::HOST, self.target.authority())
            .header(header::USER_AGENT, "Microsoft BITS/7.8 (fakedc)")
            .header(header::AUTHORIZATION, authorization)
            .body(full(Bytes::new()))
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let exchange = async {
            sender
                .ready()
                .await
                .map_err(|e| ClientError::Http(e.to_string()))?;
            let resp = sender
                .send_request(req)
                .await
                .map_err(|e| ClientError::Http(e.to_string()))?;
            let (parts, body) = resp.into_parts();
            drain(body, 64 << 10)
                .await
                .map_err(|_| ClientError::Http("authentication answer body".into()))?;
            Ok((parts.status, parts.headers))
        };
        tokio::time::timeout(t, exchange)
            .await
            .map_err(|_| ClientError::Timeout(t))?
    }

    fn request(
        &self,
        method: &str,
        headers: &[(&str, String)],
        body: Body,
    ) -> Result<Request<Body>, ClientError> {
        let method =
            Method::from_bytes(method.as_bytes()).map_err(|e| ClientError::Http(e.to_string()))?;
        let mut b = Request::builder()
            .method(method)
            .uri(self.target.path.as_str())
            .header(header::HOST, self.target.authority())
            .header(header::USER_AGENT, "Microsoft BITS/7.8 (fakedc)");
        if let Some((u, p)) = self.cfg.credentials.as_ref().filter(|_| !self.uses_ntlm()) {
            b = b.header(header::AUTHORIZATION, proto::basic_header(u, p));
        }
        for (k, v) in headers {
            b = b.header(*k, v.as_str());
        }
        b.body(body).map_err(|e| ClientError::Http(e.to_string()))
    }

    /// Sends one request on the current (or a new) connection and waits for
    /// the response head. Any failure drops the connection.
    async fn send(&mut self, req: Request<Body>) -> Result<Response<Incoming>, ClientError> {
        self.connect().await?;
        let t = self.cfg.timeout;
        let Some(conn) = self.conn.as_mut() else {
            return Err(ClientError::Http("no connection".into()));
        };
        let r = tokio::time::timeout(t, conn.send_request(req)).await;
        match r {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => {
                self.conn = None;
                Err(ClientError::Http(e.to_string()))
            }
            Err(_) => {
                self.conn = None;
                Err(ClientError::Timeout(t))
            }
        }
    }

    /// A BITS_POST with no body; the (empty) response body is drained so
    /// the connection can be reused.
    async fn bits_post(
        &mut self,
        headers: &[(&str, String)],
        body: Body,
    ) -> Result<(StatusCode, HeaderMap), ClientError> {
        let req = self.request(proto::BITS_POST, headers, body)?;
        let resp = self.send(req).await?;
        let (parts, body) = resp.into_parts();
        if drain(body, 64 << 10).await.is_err() {
            self.conn = None;
        }
        Ok((parts.status, parts.headers))
    }

    /// BITS Ping: succeeds on an Ack.
    pub async fn ping(&mut self) -> Result<PingReply, ClientError> {
        let (status, h) = self
            .bits_post(&[(bh::PACKET_TYPE, "Ping".into())], full(Bytes::new()))
            .await?;
        Ok(PingReply {
            status: status.as_u16(),
            acked: hv(&h, bh::PACKET_TYPE).is_some_and(|v| v.eq_ignore_ascii_case("ack")),
            server: hv(&h, "server").map(String::from),
            tls_version: self.tls_version.clone(),
        })
    }

    fn check(status: StatusCode, h: &HeaderMap) -> Result<(), ClientError> {
        if status == StatusCode::UNAUTHORIZED {
            return Err(ClientError::Unauthorized);
        }
        if !status.is_success() {
            return Err(ClientError::Status {
                status: status.as_u16(),
                bits_error: hv(h, bh::ERROR_CODE).and_then(proto::parse_hresult),
            });
        }
        if !hv(h, bh::PACKET_TYPE).is_some_and(|v| v.eq_ignore_ascii_case("ack")) {
            return Err(ClientError::Protocol("the answer is not a BITS Ack".into()));
        }
        Ok(())
    }

    async fn create_session(&mut self) -> Result<String, ClientError> {
        let (status, h) = self
            .bits_post(
                &[
                    (bh::PACKET_TYPE, "Create-Session".into()),
                    (bh::SUPPORTED_PROTOCOLS, proto::PROTOCOL_BITS_1_5.into()),
                ],
                full(Bytes::new()),
            )
            .await?;
        Self::check(status, &h)?;
        if !hv(&h, bh::PROTOCOL).is_some_and(|p| p.eq_ignore_ascii_case(proto::PROTOCOL_BITS_1_5)) {
            return Err(ClientError::Protocol(
                "the server chose no supported protocol".into(),
            ));
        }
        let id = hv(&h, bh::SESSION_ID)
            .filter(|s| proto::is_valid_session_id(s))
            .ok_or_else(|| ClientError::Protocol("no usable BITS-Session-Id".into()))?;
        Ok(id.to_string())
    }

    /// Sends one fragment; returns the server's received length (also on a
    /// 416, which says where to resume).
    async fn fragment(
        &mut self,
        session: &str,
        file: &Arc<File>,
        off: u64,
        len: u64,
        total: u64,
    ) -> Result<u64, ClientError> {
        let body = file_body(file.clone(), off, len, 512 << 10, 4);
        let (status, h) = self
            .bits_post(
                &[
                    (bh::PACKET_TYPE, "Fragment".into()),
                    (bh::SESSION_ID, session.to_string()),
                    (
                        "Content-Range",
                        format!("bytes {}-{}/{total}", off, off + len - 1),
                    ),
                    ("Content-Length", len.to_string()),
                ],
                body,
            )
            .await?;
        let received =
            hv(&h, bh::RECEIVED_CONTENT_RANGE).and_then(|v| v.trim().parse::<u64>().ok());
        if status == StatusCode::RANGE_NOT_SATISFIABLE {
            return received.ok_or_else(|| {
                ClientError::Protocol("416 without BITS-Received-Content-Range".into())
            });
        }
        Self::check(status, &h)?;
        let n = received.ok_or_else(|| {
            ClientError::Protocol("Ack without BITS-Received-Content-Range".into())
        })?;
        if n > total {
            return Err(ClientError::Protocol(format!(
                "server claims {n} of {total} bytes"
            )));
        }
        Ok(n)
    }

    async fn close_session(&mut self, session: &str) -> Result<(), ClientError> {
        let (status, h) = self
            .bits_post(
                &[
                    (bh::PACKET_TYPE, "Close-Session".into()),
                    (bh::SESSION_ID, session.to_string()),
                ],
                full(Bytes::new()),
            )
            .await?;
        Self::check(status, &h)
    }

    /// Cancels a session (best effort).
    pub async fn cancel_session(&mut self, session: &str) -> Result<(), ClientError> {
        let (status, h) = self
            .bits_post(
                &[
                    (bh::PACKET_TYPE, "Cancel-Session".into()),
                    (bh::SESSION_ID, session.to_string()),
                ],
                full(Bytes::new()),
            )
            .await?;
        Self::check(status, &h)
    }

    /// HEAD: length and validators.
    async fn head(&mut self) -> Result<Entity, ClientError> {
        let req = self.request("HEAD", &[], full(Bytes::new()))?;
        let resp = self.send(req).await?;
        let (parts, body) = resp.into_parts();
        if drain(body, 64 << 10).await.is_err() {
            self.conn = None;
        }
        match parts.status {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED => return Err(ClientError::Unauthorized),
            s => {
                return Err(ClientError::Status {
                    status: s.as_u16(),
                    bits_error: None,
                })
            }
        }
        Entity::from_headers(&parts.headers)
    }

    /// Uploads `local` to the URL with MC-BUP, resuming a session a
    /// previous run left (its state lives in `state_dir`).
    pub async fn upload(
        &mut self,
        local: &Path,
        state_dir: &Path,
        progress: Progress<'_>,
    ) -> Result<Report, ClientError> {
        #[allow(clippy::disallowed_methods)] // a client timing its own transfer
        let started = Instant::now();
        let meta = fs::metadata(local).map_err(ClientError::local(local))?;
        if !meta.is_file() {
            return Err(ClientError::Local {
                path: local.to_path_buf(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
            });
        }
        let size = meta.len();
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let file = Arc::new(File::open(local).map_err(ClientError::local(local))?);
        let canonical = local.canonicalize().unwrap_or_else(|_| local.to_path_buf());
        let state_path = state_dir.join(format!(
            "upload-{:016x}.json",
            fnv1a(format!("{}\0{}", self.target.url, canonical.display()).as_bytes())
        ));
        let previous = read_json::<UploadState>(&state_path);
        if let Some(stale) = previous
            .as_ref()
            .filter(|s| !(s.url == self.target.url && s.size == size && s.mtime_ns == mtime))
            .and_then(|s| s.session.clone())
        {
            // The local file changed since that run: its session is useless
            // on the server; free it (best effort).
            let _ = self.cancel_session(&stale).await;
        }
        let mut state = previous
            .filter(|s| s.url == self.target.url && s.size == size && s.mtime_ns == mtime)
            .unwrap_or(UploadState {
                url: self.target.url.clone(),
                file: canonical.display().to_string(),
                size,
                mtime_ns: mtime,
                session: None,
                acked: 0,
            });
        let resumed_from = if state.session.is_some() {
            state.acked
        } else {
            0
        };
        let mut retry = Retry::new(self.cfg.retries);
        let frag = self.cfg.fragment_size.max(1);
        'session: loop {
            let session = match state.session.clone() {
                Some(s) => s,
                None => {
                    let id = loop {
                        match self.create_session().await {
                            Ok(id) => break id,
                            Err(e) => retry.failed(e).await?,
                        }
                    };
                    state.session = Some(id.clone());
                    state.acked = 0;
                    save_json(state_dir, &state_path, &state)?;
                    id
                }
            };
            let mut offset = state.acked.min(size);
            progress(offset, size);
            // After a failed fragment the server may hold more than we
            // know (it keeps what arrived before a reset): a one-byte
            // fragment asks where it stands before the next big one, so a
            // connection that keeps failing still moves forward.
            let mut resync = false;
            while offset < size {
                let len = if resync { 1 } else { frag.min(size - offset) };
                match self.fragment(&session, &file, offset, len, size).await {
                    Ok(n) => {
                        resync = false;
                        if n > offset {
                            retry.progressed();
                        } else {
                            // A server that keeps answering without taking
                            // data must not loop us forever.
                            retry
                                .failed(ClientError::Http(format!(
                                    "no progress: the server is at {n} of {size}"
                                )))
                                .await?;
                        }
                        offset = n;
                        state.acked = n;
                        save_json(state_dir, &state_path, &state)?;
                        progress(offset, size);
                    }
                    Err(e) if e.session_not_found() => {
                        debug!("session {session} is gone on the server; starting a new one");
                        state.session = None;
                        continue 'session;
                    }
                    Err(e) => {
                        resync = true;
                        retry.failed(e).await?
                    }
                }
            }
            let mut close_failed = false;
            loop {
                match self.close_session(&session).await {
                    Ok(()) => break 'session,
                    Err(e) if e.session_not_found() => {
                        // A retried Close whose first Ack was lost: the
                        // file is in place if its length matches.
                        if close_failed && self.head().await.is_ok_and(|en| en.len == size) {
                            break 'session;
                        }
                        state.session = None;
                        continue 'session;
                    }
                    Err(e) => {
                        close_failed = true;
                        retry.failed(e).await?
                    }
                }
            }
        }
        let _ = fs::remove_file(&state_path);
        Ok(Report {
            bytes: size,
            resumed_from,
            #[allow(clippy::disallowed_methods)]
            elapsed: started.elapsed(),
            retries: retry.total,
        })
    }

    /// Downloads the URL to `local` with ranged GETs, resuming
    /// `local.bitspart`; the file appears under its name only when whole.
    pub async fn download(
        &mut self,
        local: &Path,
        progress: Progress<'_>,
    ) -> Result<Report, ClientError> {
        #[allow(clippy::disallowed_methods)] // a client timing its own transfer
        let started = Instant::now();
        let name = local
            .file_name()
            .ok_or_else(|| ClientError::Local {
                path: local.to_path_buf(),
                source: io::Error::new(io::ErrorKind::InvalidInput, "no file name"),
            })?
            .to_string_lossy()
            .to_string();
        let part_path = local.with_file_name(format!("{name}.bitspart"));
        let meta_path = local.with_file_name(format!("{name}.bitspart.json"));
        let dir = part_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let mut retry = Retry::new(self.cfg.retries);
        let entity = loop {
            match self.head().await {
                Ok(e) => break e,
                Err(e) => retry.failed(e).await?,
            }
        };
        let mut state = DownloadState {
            url: self.target.url.clone(),
            len: entity.len,
            validator: entity.validator(),
        };
        let previous = read_json::<DownloadState>(&meta_path);
        let part = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&part_path)
            .map_err(ClientError::local(&part_path))?;
        let mut offset = part.metadata().map(|m| m.len()).unwrap_or(0);
        let matches = previous.as_ref().is_some_and(|p| {
            p.url == state.url
                && p.len == state.len
                && p.validator == state.validator
                && state.validator.is_some()
        });
        if !matches || offset > state.len {
            part.set_len(0).map_err(ClientError::local(&part_path))?;
            offset = 0;
            save_json(&dir, &meta_path, &state)?;
        }
        let resumed_from = offset;
        let part = Arc::new(part);
        progress(offset, state.len);
        while offset < state.len {
            let mut headers = vec![("Range", format!("bytes={offset}-{}", state.len - 1))];
            if let Some(v) = &state.validator {
                headers.push(("If-Range", v.clone()));
            }
            let req = self.request("GET", &headers, full(Bytes::new()))?;
            let resp = match self.send(req).await {
                Ok(r) => r,
                Err(e) => {
                    retry.failed(e).await?;
                    continue;
                }
            };
            let (parts, body) = resp.into_parts();
            let start = match parts.status {
                StatusCode::PARTIAL_CONTENT => {
                    let cr = hv(&parts.headers, "content-range").unwrap_or("");
                    let ok =
                        parse_206_range(cr).is_some_and(|(a, _, t)| a == offset && t == state.len);
                    if !ok {
                        return Err(ClientError::Protocol(format!(
                            "unexpected Content-Range '{cr}'"
                        )));
                    }
                    offset
                }
                StatusCode::OK => {
                    // The entity changed (If-Range failed) or ranges are not
                    // supported: take the whole new entity.
                    let e = Entity::from_headers(&parts.headers)?;
                    state = DownloadState {
                        url: state.url.clone(),
                        len: e.len,
                        validator: e.validator(),
                    };
                    part.set_len(0).map_err(ClientError::local(&part_path))?;
                    save_json(&dir, &meta_path, &state)?;
                    0
                }
                StatusCode::UNAUTHORIZED => return Err(ClientError::Unauthorized),
                s => {
                    let _ = drain(body, 64 << 10).await;
                    let err = ClientError::Status {
                        status: s.as_u16(),
                        bits_error: None,
                    };
                    retry.failed(err).await?;
                    continue;
                }
            };
            let mut w = PipeWriter::new(part.clone(), start);
            let mut got = start;
            let mut body = body;
            let mut failure = None;
            let t = self.cfg.timeout;
            loop {
                match tokio::time::timeout(t, body.frame()).await {
                    Ok(None) => break,
                    Ok(Some(Ok(f))) => {
                        if let Ok(d) = f.into_data() {
                            got += d.len() as u64;
                            if got > state.len {
                                failure =
                                    Some(ClientError::Protocol("more data than announced".into()));
                                break;
                            }
                            if let Err(e) = w.push(d).await {
                                return Err(ClientError::Local {
                                    path: part_path.clone(),
                                    source: e,
                                });
                            }
                        }
                    }
                    Ok(Some(Err(e))) => {
                        failure = Some(ClientError::Http(e.to_string()));
                        break;
                    }
                    Err(_) => {
                        failure = Some(ClientError::Timeout(t));
                        break;
                    }
                }
            }
            let end = w.finish().await.map_err(ClientError::local(&part_path))?;
            if end > offset {
                retry.progressed();
            }
            offset = end.min(state.len);
            progress(offset, state.len);
            if let Some(e) = failure {
                self.conn = None;
                retry.failed(e).await?;
            }
        }
        part.sync_all().map_err(ClientError::local(&part_path))?;
        fs::rename(&part_path, local).map_err(ClientError::local(local))?;
        let _ = fs::remove_file(&meta_path);
        Ok(Report {
            bytes: state.len,
            resumed_from,
            #[allow(clippy::disallowed_methods)]
            elapsed: started.elapsed(),
            retries: retry.total,
        })
    }
}

async fn handshake<T>(io: T) -> Result<SendRequest<Body>, ClientError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(1 << 20)
        .handshake(TokioIo::new(io))
        .await
        .map_err(|e| ClientError::Http(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            debug!(error = %e, "BITS client connection ended");
        }
    });
    Ok(sender)
}

/// Reads and discards a response body up to `limit` bytes.
async fn drain(mut body: Incoming, limit: usize) -> Result<(), ()> {
    let mut n = 0;
    while let Some(f) = body.frame().await {
        let f = f.map_err(|_| ())?;
        if let Ok(d) = f.into_data() {
            n += d.len();
            if n > limit {
                return Err(());
            }
        }
    }
    Ok(())
}

fn hv<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Content-Range of a 206: (start, end, total).
fn parse_206_range(s: &str) -> Option<(u64, u64, u64)> {
    proto::parse_content_range(s)
        .ok()
        .map(|c| (c.start, c.end, c.total))
}

/// A download's entity as HEAD (or a 200) describes it.
struct Entity {
    len: u64,
    etag: Option<String>,
    last_modified: Option<String>,
}

impl Entity {
    fn from_headers(h: &HeaderMap) -> Result<Entity, ClientError> {
        let len = hv(h, "content-length")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| ClientError::Protocol("no Content-Length".into()))?;
        Ok(Entity {
            len,
            etag: hv(h, "etag")
                .filter(|e| !e.starts_with("W/"))
                .map(String::from),
            last_modified: hv(h, "last-modified").map(String::from),
        })
    }

    /// What If-Range can carry: the strong ETag, else Last-Modified.
    fn validator(&self) -> Option<String> {
        self.etag.clone().or_else(|| self.last_modified.clone())
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct UploadState {
    url: String,
    file: String,
    size: u64,
    mtime_ns: u64,
    session: Option<String>,
    acked: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct DownloadState {
    url: String,
    len: u64,
    validator: Option<String>,
}

fn read_json<T: for<'de> Deserialize<'de>>(p: &Path) -> Option<T> {
    let bytes = fs::read(p).ok()?;
    if bytes.len() > 64 << 10 {
        return None;
    }
    serde_json::from_slice(&bytes).ok()
}

fn save_json<T: Serialize>(dir: &Path, p: &Path, v: &T) -> Result<(), ClientError> {
    if !dir.as_os_str().is_empty() {
        fs::create_dir_all(dir).map_err(ClientError::local(dir))?;
    }
    let tmp = p.with_extension("json.tmp");
    let bytes = serde_json::to_vec(v).map_err(|e| ClientError::Local {
        path: p.to_path_buf(),
        source: io::Error::other(e),
    })?;
    fs::write(&tmp, bytes)
        .and_then(|()| fs::rename(&tmp, p))
        .map_err(ClientError::local(p))
}

/// A stable 64-bit hash for state file names.
fn fnv1a(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h ^= x as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

/// Counts consecutive failures without progress and backs off between
/// attempts (100 ms doubling to 2 s).
struct Retry {
    max: u32,
    consecutive: u32,
    total: u32,
}

impl Retry {
    fn new(max: u32) -> Retry {
        Retry {
            max,
            consecutive: 0,
            total: 0,
        }
    }

    fn progressed(&mut self) {
        self.consecutive = 0;
    }

    async fn failed(&mut self, e: ClientError) -> Result<(), ClientError> {
        if !e.retryable() {
            return Err(e);
        }
        self.consecutive += 1;
        self.total += 1;
        if self.consecutive > self.max {
            return Err(ClientError::GaveUp {
                attempts: self.consecutive,
                last: Box::new(e),
            });
        }
        let ms = (100u64 << (self.consecutive - 1).min(5)).min(2000);
        debug!(error = %e, attempt = self.consecutive, "retrying in {ms} ms");
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(())
    }
}

/// rustls client configuration for a trust choice.
pub fn tls_config(trust: &Trust) -> Result<Arc<rustls::ClientConfig>, ClientError> {
    fakedc_net::tls::client_config(trust).map_err(|e| ClientError::Tls(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Target::parse("https://127.0.0.1:8443/upload/a%20b.bin").unwrap();
        assert!(t.tls);
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("127.0.0.1", 8443, "/upload/a%20b.bin")
        );
        assert_eq!(t.authority(), "127.0.0.1:8443");
        let t = Target::parse("https://hv01.lab.test/x").unwrap();
        assert_eq!((t.port, t.authority().as_str()), (443, "hv01.lab.test"));
        assert!(Target::parse("ftp://x/y").is_err());
        assert!(Target::parse("not a url").is_err());
    }

    #[test]
    fn retry_policy() {
        assert!(ClientError::Http("x".into()).retryable());
        assert!(!ClientError::Unauthorized.retryable());
        let nf = ClientError::Status {
            status: 500,
            bits_error: Some(proto::hresult::SESSION_NOT_FOUND),
        };
        assert!(nf.session_not_found() && !nf.retryable());
        assert!(!ClientError::Status {
            status: 413,
            bits_error: Some(proto::hresult::TOO_LARGE)
        }
        .retryable());
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    }
}
