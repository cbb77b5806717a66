//! HTTP on a machine's port: one hyper connection per accepted stream,
//! requests routed by path prefix to the services registered for that port.

use crate::{BoxFuture, Conn, ConnInfo};
use bytes::Bytes;
use fakedc_model::{ServiceKind, WebServer};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;

/// Response body type: boxed so services can stream (large downloads).
pub type Body = BoxBody<Bytes, std::io::Error>;
pub type HttpRequest = hyper::Request<Incoming>;
pub type HttpResponse = hyper::Response<Body>;

/// A whole body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// An HTTP service under a path prefix.
pub trait HttpService: Send + Sync + 'static {
    fn call(&self, req: HttpRequest, conn: Arc<ConnInfo>) -> BoxFuture<HttpResponse>;
}

/// One route: a path prefix, the endpoint kind it belongs to (what the
/// journal, fault rules and the service see as `ConnInfo::service`), and
/// its service.
#[derive(Clone)]
struct Route {
    prefix: String,
    kind: ServiceKind,
    service: Arc<dyn HttpService>,
}

/// Path-prefix routes of one listener, possibly of several endpoint kinds
/// sharing its port.
#[derive(Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    pub fn add(&mut self, prefix: &str, kind: ServiceKind, service: Arc<dyn HttpService>) {
        self.routes.retain(|r| r.prefix != prefix);
        self.routes.push(Route {
            prefix: prefix.to_string(),
            kind,
            service,
        });
        // Longest prefix first.
        self.routes
            .sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
    }

    /// Adds every route of `other`; a prefix both have is a clash (which
    /// service would answer is not decidable), reported as `Err(prefix)`.
    pub fn merge(&mut self, other: &Router) -> Result<(), String> {
        for r in &other.routes {
            if self
                .routes
                .iter()
                .any(|x| x.prefix == r.prefix && x.kind != r.kind)
            {
                return Err(r.prefix.clone());
            }
            self.add(&r.prefix, r.kind, r.service.clone());
        }
        Ok(())
    }

    /// The route for a request. A pattern is a path prefix (`/sdk`), or
    /// `GET <path>`: that exact path for GET and HEAD only. The second form
    /// lets a page own `/` where another protocol owns every other path
    /// and method under it: ESXi's welcome page on `GET /` beside BITS,
    /// whose uploads and Ping are `BITS_POST`s to any path, `/` included,
    /// and whose downloads are GETs of file paths, never of `/` itself.
    fn route(&self, method: &hyper::Method, path: &str) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| match r.prefix.strip_prefix("GET ") {
                Some(exact) => {
                    path == exact && (method == hyper::Method::GET || method == hyper::Method::HEAD)
                }
                None => path.starts_with(r.prefix.as_str()),
            })
    }

    /// Whether routes of more than one endpoint kind are here.
    fn shared(&self) -> bool {
        self.routes.windows(2).any(|w| w[0].kind != w[1].kind)
    }
}

/// The error page the machine's web server sends for `status`, with its
/// `Server` header (HTTP.sys's HTML on Windows, the BMC's web server's,
/// none on ESXi): what a client sees for a path nothing serves, or a
/// refusal the front makes before any service runs.
pub fn error_page(conn: &ConnInfo, status: hyper::StatusCode) -> HttpResponse {
    let web = WebServer::of(conn.role, conn.service);
    let (ct, body) = web.error_page(status.as_u16());
    let mut r = hyper::Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static(ct));
    stamp(&mut r, web);
    r
}

/// Adds the web server's `Server` header unless the service set one (BITS
/// may be configured to claim another IIS version).
fn stamp(r: &mut HttpResponse, web: WebServer) {
    if let Some(s) = web.server_header() {
        if !r.headers().contains_key(hyper::header::SERVER) {
            r.headers_mut()
                .insert(hyper::header::SERVER, HeaderValue::from_static(s));
        }
    }
}

/// Serves one connection until it closes or fakedc shuts down (then the
/// request in flight finishes first).
pub(crate) fn serve(router: Arc<Router>, conn: Conn) -> BoxFuture<()> {
    Box::pin(async move {
        let info = conn.info.clone();
        // On a shared listener each endpoint kind gets its own view of the
        // connection (same peer, same state map, its own `service`), made
        // once per connection.
        let views: Arc<Vec<(ServiceKind, Arc<ConnInfo>)>> = Arc::new(if router.shared() {
            let mut v: Vec<(ServiceKind, Arc<ConnInfo>)> = Vec::new();
            for r in &router.routes {
                if !v.iter().any(|(k, _)| *k == r.kind) {
                    let mut i = (*info).clone();
                    i.service = r.kind;
                    v.push((r.kind, Arc::new(i)));
                }
            }
            v
        } else {
            Vec::new()
        });
        let svc = service_fn(move |req: HttpRequest| {
            let router = router.clone();
            let info = info.clone();
            let views = views.clone();
            // One span per request under the connection's, whatever
            // service answers (services add their own inside it).
            let span =
                tracing::debug_span!("http", method = %req.method(), path = %req.uri().path());
            tracing::Instrument::instrument(
                async move {
                    let resp = match router.route(req.method(), req.uri().path()) {
                        Some(r) => {
                            let conn = views
                                .iter()
                                .find(|(k, _)| *k == r.kind)
                                .map(|(_, c)| c.clone())
                                .unwrap_or(info);
                            let web = WebServer::of(conn.role, conn.service);
                            let mut resp = r.service.call(req, conn).await;
                            stamp(&mut resp, web);
                            resp
                        }
                        None => {
                            tracing::debug!("no route: 404");
                            error_page(&info, hyper::StatusCode::NOT_FOUND)
                        }
                    };
                    Ok::<_, std::convert::Infallible>(resp)
                },
                span,
            )
        });
        let closing = conn.info.closing.clone();
        let http = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(Duration::from_secs(30))
            // HTTP.sys, IIS and the embedded servers write `Content-Length`,
            // not hyper's `content-length`; clients and nmap see the case.
            .title_case_headers(true)
            .max_buf_size(64 * 1024)
            .serve_connection(
                TokioIo::new(ResponseHeads::new(
                    Http10AsHttp11::new(conn.io),
                    WebServer::of(conn.info.role, conn.info.service),
                )),
                svc,
            );
        tokio::pin!(http);
        tokio::select! {
            _ = http.as_mut() => {}
            _ = closing.cancelled() => {
                http.as_mut().graceful_shutdown();
                let _ = http.await;
            }
        }
    })
}

/// HTTP.sys, IIS and the embedded servers fakedc plays answer an HTTP/1.0
/// request with an `HTTP/1.1` status line (and close the connection);
/// hyper answers `HTTP/1.0`, which identification tools (nmap's
/// fingerprints) and careful clients tell apart. This reader rewrites the
/// first request line of a connection from `HTTP/1.0` to `HTTP/1.1` and
/// adds `Connection: close`, so hyper answers as those servers do. Only
/// the first request can be 1.0: the connection then closes.
struct Http10AsHttp11<T> {
    inner: T,
    state: FirstLine,
}

enum FirstLine {
    /// Collecting the first line (bounded).
    Scanning(Vec<u8>),
    /// Handing out the (rewritten) bytes collected.
    Draining(Vec<u8>, usize),
    /// Everything after: straight through.
    Pass,
}

/// Longest first line looked at; longer ones pass through unchanged.
const MAX_FIRST_LINE: usize = 8192;

impl<T> Http10AsHttp11<T> {
    fn new(inner: T) -> Self {
        Http10AsHttp11 {
            inner,
            state: FirstLine::Scanning(Vec::new()),
        }
    }
}

/// The first line's rewrite (the whole buffer collected so far).
fn rewrite_first_line(mut acc: Vec<u8>) -> Vec<u8> {
    let Some(eol) = acc.windows(2).position(|w| w == b"\r\n") else {
        return acc;
    };
    if !acc[..eol].ends_with(b" HTTP/1.0") {
        return acc;
    }
    acc[eol - 1] = b'1';
    let tail = acc.split_off(eol + 2);
    acc.extend_from_slice(b"Connection: close\r\n");
    acc.extend_from_slice(&tail);
    acc
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Http10AsHttp11<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let this = &mut *self;
        loop {
            match &mut this.state {
                FirstLine::Pass => return std::pin::Pin::new(&mut this.inner).poll_read(cx, buf),
                FirstLine::Draining(data, pos) => {
                    let n = (data.len() - *pos).min(buf.remaining());
                    buf.put_slice(&data[*pos..*pos + n]);
                    *pos += n;
                    if *pos >= data.len() {
                        this.state = FirstLine::Pass;
                    }
                    return Poll::Ready(Ok(()));
                }
                FirstLine::Scanning(acc) => {
                    let mut tmp = [0u8; 1024];
                    let mut rb = tokio::io::ReadBuf::new(&mut tmp);
                    match std::pin::Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Ready(Ok(())) => {
                            let got = rb.filled();
                            let eof = got.is_empty();
                            acc.extend_from_slice(got);
                            let done = eof
                                || acc.len() >= MAX_FIRST_LINE
                                || acc.windows(2).any(|w| w == b"\r\n");
                            if done {
                                let data = rewrite_first_line(std::mem::take(acc));
                                this.state = if data.is_empty() {
                                    FirstLine::Pass
                                } else {
                                    FirstLine::Draining(data, 0)
                                };
                                if eof && matches!(this.state, FirstLine::Pass) {
                                    return Poll::Ready(Ok(()));
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Http10AsHttp11<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// What hyper writes, made to read as the machine's web server writes it.
///
/// hyper answers a request it cannot parse (bad header, bad method, a
/// version it does not speak, a head too large) itself, before any service
/// runs, with a bare `Connection: close`, `Content-Length: 0` and `Date`
/// and no `Server`: a shape no Windows or BMC web server sends, and one nmap
/// fingerprints. This writer recognises exactly that canned response (the
/// whole write, nothing else) and replaces it with the machine's web
/// server's own error page and `Server` header, keeping hyper's status and
/// `Date` (so no clock is read here). Every other write passes through.
struct ResponseHeads<T> {
    inner: T,
    web: WebServer,
    /// A replacement being written, and how much of it is out.
    pending: Option<(Vec<u8>, usize)>,
}

impl<T> ResponseHeads<T> {
    fn new(inner: T, web: WebServer) -> Self {
        ResponseHeads {
            inner,
            web,
            pending: None,
        }
    }
}

/// hyper's own error response: `(status, date)` when `data` is exactly it.
fn hyper_canned_error(data: &[u8]) -> Option<(u16, &[u8])> {
    let rest = data.strip_prefix(b"HTTP/1.1 ")?;
    let status: u16 = std::str::from_utf8(rest.get(..3)?).ok()?.parse().ok()?;
    if !(400..600).contains(&status) {
        return None;
    }
    let eol = rest.windows(2).position(|w| w == b"\r\n")?;
    let rest = rest[eol + 2..].strip_prefix(b"Connection: close\r\nContent-Length: 0\r\nDate: ")?;
    let date = rest.strip_suffix(b"\r\n\r\n")?;
    if date.is_empty() || date.len() > 64 || date.contains(&b'\r') {
        return None;
    }
    Some((status, date))
}

/// hyper's title case writes `Www-Authenticate`; HTTP.sys, IIS and the
/// embedded servers write `WWW-Authenticate`. A copy of `data` with the
/// name fixed when `data` is a response head (or starts with one) that
/// carries it; the fix keeps every length and offset, so short writes
/// stay consistent. Only the head (up to the blank line) is looked at.
fn windows_header_case(data: &[u8]) -> Option<Vec<u8>> {
    use memchr::memmem::Finder;
    use std::sync::LazyLock;
    const TITLE: &[u8] = b"\r\nWww-Authenticate:";
    if !data.starts_with(b"HTTP/1.1 ") {
        return None;
    }
    // Every response head passes here: memmem's vectorised search with
    // finders built once, not a byte-by-byte window scan.
    static HEAD_END: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\r\n\r\n"));
    static NAME: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(TITLE));
    let head_end = HEAD_END.find(data).unwrap_or(data.len());
    let head = &data[..head_end];
    let mut at = NAME.find_iter(head).peekable();
    at.peek()?;
    let mut out = data.to_vec();
    for i in at {
        out[i + 3] = b'W';
        out[i + 4] = b'W';
    }
    Some(out)
}

/// The machine's error response replacing hyper's canned one; `None` for
/// web servers that send no `Server` header (their bare answer stands).
fn replacement(web: WebServer, status: u16, date: &[u8]) -> Option<Vec<u8>> {
    let server = web.server_header()?;
    let reason = hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let (ct, body) = web.error_page(status);
    let mut out =
        format!("HTTP/1.1 {status} {reason}\r\nContent-Type: {ct}\r\nServer: {server}\r\nDate: ")
            .into_bytes();
    out.extend_from_slice(date);
    out.extend_from_slice(
        format!(
            "\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    Some(out)
}

impl<T: tokio::io::AsyncWrite + Unpin> ResponseHeads<T> {
    /// Writes the pending replacement out; `Ready(Ok(()))` once it is all
    /// out (or there is none).
    fn drain(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        while let Some((buf, pos)) = &mut self.pending {
            if *pos >= buf.len() {
                self.pending = None;
                break;
            }
            match std::pin::Pin::new(&mut self.inner).poll_write(cx, &buf[*pos..]) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()))
                }
                Poll::Ready(Ok(n)) => *pos += n,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Starts a replacement when `data` is hyper's canned error.
    fn intercept(&mut self, data: &[u8]) -> bool {
        if self.pending.is_some() {
            return true;
        }
        let Some(out) =
            hyper_canned_error(data).and_then(|(status, date)| replacement(self.web, status, date))
        else {
            return false;
        };
        self.pending = Some((out, 0));
        true
    }
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for ResponseHeads<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for ResponseHeads<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = &mut *self;
        if this.intercept(data) {
            return this.drain(cx).map_ok(|()| data.len());
        }
        if let Some(fixed) = windows_header_case(data) {
            return std::pin::Pin::new(&mut this.inner).poll_write(cx, &fixed);
        }
        std::pin::Pin::new(&mut this.inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = &mut *self;
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        // hyper's canned error is one short head; anything longer is a
        // real response and goes straight through.
        if this.pending.is_some() || total <= 256 {
            let joined: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
            if this.intercept(&joined) {
                return this.drain(cx).map_ok(|()| total);
            }
        }
        // A response head is the first slice: write it alone when its
        // header case needs fixing (a short vectored write is allowed).
        if let Some(fixed) = bufs.first().and_then(|b| windows_header_case(b)) {
            return std::pin::Pin::new(&mut this.inner).poll_write(cx, &fixed);
        }
        std::pin::Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = &mut *self;
        match this.drain(cx) {
            std::task::Poll::Ready(Ok(())) => std::pin::Pin::new(&mut this.inner).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = &mut *self;
        match this.drain(cx) {
            std::task::Poll::Ready(Ok(())) => std::pin::Pin::new(&mut this.inner).poll_shutdown(cx),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    struct Nobody;
    impl HttpService for Nobody {
        fn call(&self, _: HttpRequest, _: Arc<ConnInfo>) -> BoxFuture<HttpResponse> {
            Box::pin(async { HttpResponse::new(Default::default()) })
        }
    }

    #[test]
    fn get_routes_take_exactly_their_path_for_get_and_head() {
        let mut r = Router::default();
        r.add("/", ServiceKind::EsxiHttps, Arc::new(Nobody));
        r.add("GET /", ServiceKind::VmwareWebServices, Arc::new(Nobody));
        r.add("/sdk", ServiceKind::VmwareWebServices, Arc::new(Nobody));
        let kind = |m: &str, p: &str| {
            let m = hyper::Method::from_bytes(m.as_bytes()).expect("method");
            r.route(&m, p).map(|x| x.prefix.as_str())
        };
        assert_eq!(kind("GET", "/"), Some("GET /"));
        assert_eq!(kind("HEAD", "/"), Some("GET /"));
        assert_eq!(kind("BITS_POST", "/"), Some("/"));
        assert_eq!(kind("GET", "/file.iso"), Some("/"));
        assert_eq!(kind("GET", "/sdk"), Some("/sdk"));
    }

    #[test]
    fn first_line_rewrite() {
        assert_eq!(
            rewrite_first_line(b"GET / HTTP/1.0\r\n\r\n".to_vec()),
            b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(
            rewrite_first_line(b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec()),
            b"GET / HTTP/1.1\r\nHost: x\r\n"
        );
        assert_eq!(
            rewrite_first_line(b"GET / HTTP/1.0".to_vec()),
            b"GET / HTTP/1.0"
        );
    }

    #[tokio::test]
    async fn byte_by_byte_requests_are_rewritten_once() {
        let (mut client, server) = tokio::io::duplex(64);
        let mut r = Http10AsHttp11::new(server);
        let req = b"HEAD /x HTTP/1.0\r\nUser-Agent: t\r\n\r\nGET /y HTTP/1.0\r\n";
        tokio::spawn(async move {
            for b in req {
                let _ = client.write_all(&[*b]).await;
            }
        });
        let mut out = Vec::new();
        let _ = r.read_to_end(&mut out).await;
        assert_eq!(
            out,
            b"HEAD /x HTTP/1.1\r\nConnection: close\r\nUser-Agent: t\r\n\r\nGET /y HTTP/1.0\r\n"
        );
    }

    #[test]
    fn hyper_canned_errors_are_recognised_exactly() {
        let canned =
            b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\nDate: Sun, 06 Dec 2026 06:54:31 GMT\r\n\r\n";
        assert_eq!(
            hyper_canned_error(canned),
            Some((400, &b"Sun, 06 Dec 2026 06:54:31 GMT"[..]))
        );
        // A service's own response (another header, a body) is not it.
        assert_eq!(
            hyper_canned_error(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nConnection: close\r\nContent-Length: 0\r\nDate: x\r\n\r\n"),
            None
        );
        assert_eq!(
            hyper_canned_error(
                b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\nDate: x\r\n\r\n"
            ),
            None
        );
        let page = replacement(WebServer::HttpSys, 400, b"D").unwrap_or_default();
        let page = String::from_utf8_lossy(&page);
        assert!(page.starts_with("HTTP/1.1 400 Bad Request\r\nContent-Type: text/html; charset=us-ascii\r\nServer: Microsoft-HTTPAPI/2.0\r\nDate: D\r\n"), "{page}");
        let (_, body) = WebServer::HttpSys.error_page(400);
        assert!(
            page.ends_with(&format!("Content-Length: {}\r\n\r\n{body}", body.len())),
            "{page}"
        );
        assert_eq!(replacement(WebServer::Vmware, 400, b"D"), None);
    }

    #[test]
    fn www_authenticate_is_written_as_windows_writes_it() {
        let head = b"HTTP/1.1 401 Unauthorized\r\nWww-Authenticate: Negotiate\r\nWww-Authenticate: NTLM\r\nContent-Length: 0\r\n\r\nWww-Authenticate: body";
        let fixed = windows_header_case(head).unwrap_or_default();
        assert_eq!(
            fixed,
            b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\nWWW-Authenticate: NTLM\r\nContent-Length: 0\r\n\r\nWww-Authenticate: body"
        );
        assert_eq!(windows_header_case(b"body\r\nWww-Authenticate: x"), None);
        assert_eq!(
            windows_header_case(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
            None
        );
    }

    #[tokio::test]
    async fn canned_error_is_rewritten_through_short_writes() {
        let (client, mut server) = tokio::io::duplex(16);
        let mut w = ResponseHeads::new(client, WebServer::HttpSys);
        let canned: &[u8] =
            b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\nDate: D\r\n\r\n";
        let writer = tokio::spawn(async move {
            w.write_all(canned).await?;
            w.write_all(b"after").await?;
            w.shutdown().await
        });
        let mut out = Vec::new();
        let _ = server.read_to_end(&mut out).await;
        assert!(matches!(writer.await, Ok(Ok(()))));
        let expect = [
            replacement(WebServer::HttpSys, 400, b"D").unwrap_or_default(),
            b"after".to_vec(),
        ]
        .concat();
        assert_eq!(out, expect);
    }
}
