//! HTTP glue on the shared front: `/sdk` (vim25 SOAP, the version
//! documents) and `/folder` (datastore transfer) on every vCenter's and
//! ESXi host's 443. Thin: bodies read with a limit, the call handed to
//! [`Sdk`], the answer and a journal entry written.

use crate::folder::{self, FolderError, Upload};
use crate::sdk::{Caller, Sdk};
use crate::soap;
use bytes::Bytes;
use fakedc_model::{MachineId, Model, Role, ServiceKind};
use fakedc_net::{
    full, BoxFuture, ConnInfo, HttpRequest, HttpResponse, HttpService, RequestJournal, Services,
};
use http_body_util::BodyExt;
use hyper::body::{Frame, SizeHint};
use hyper::header::{self, HeaderValue};
use hyper::{Method, StatusCode};
use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tracing::{debug, info_span, Instrument};

/// The endpoint kinds the SDK mounts on.
pub const KINDS: [ServiceKind; 2] = [ServiceKind::EsxiHttps, ServiceKind::VmwareWebServices];

const COOKIE: &str = "vmware_soap_session";

/// `[machine.options.vsphere]`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Options {
    /// vCenter: the ESX/ESXi hosts it manages (default: all of them).
    pub manages: Option<Vec<String>>,
    /// How long a task stays `queued` (default 200) and then `running`
    /// (default 800), in model-clock milliseconds, at most a minute each.
    pub task_queued_ms: Option<u64>,
    pub task_running_ms: Option<u64>,
}

impl Options {
    pub fn task_timing(&self) -> crate::sdk::TaskTiming {
        let d = crate::sdk::TaskTiming::default();
        crate::sdk::TaskTiming {
            queued: self
                .task_queued_ms
                .map(std::time::Duration::from_millis)
                .unwrap_or(d.queued),
            running: self
                .task_running_ms
                .map(std::time::Duration::from_millis)
                .unwrap_or(d.running),
        }
    }
}

/// Checks a machine's `[machine.options.vsphere]`.
pub fn validate(
    model_machines: &[fakedc_model::Machine],
    m: &fakedc_model::Machine,
) -> Result<Options, fakedc_net::OptionsError> {
    let Some(v) = m.options.get("vsphere") else {
        return Ok(Options::default());
    };
    let o: Options = serde_json::from_value(v.clone())
        .map_err(|e| fakedc_net::OptionsError::new(&m.name, "vsphere", e.to_string()))?;
    for (name, v) in [
        ("task_queued_ms", o.task_queued_ms),
        ("task_running_ms", o.task_running_ms),
    ] {
        if v.is_some_and(|v| v > 60_000) {
            return Err(fakedc_net::OptionsError::new(
                &m.name,
                "vsphere",
                format!("{name} is at most 60000"),
            ));
        }
    }
    if let Some(names) = &o.manages {
        if m.role != Role::Vcenter {
            return Err(fakedc_net::OptionsError::new(
                &m.name,
                "vsphere",
                "manages is for vcenter machines",
            ));
        }
        for n in names {
            let ok = model_machines
                .iter()
                .any(|h| &h.name == n && matches!(h.role, Role::EsxiHost | Role::EsxHost));
            if !ok && !model_machines.is_empty() {
                return Err(fakedc_net::OptionsError::new(
                    &m.name,
                    "vsphere",
                    format!("manages: '{n}' is not an ESX/ESXi host of the scenario"),
                ));
            }
        }
    }
    Ok(o)
}

/// Registers `/sdk` and `/folder` on every SDK endpoint.
pub fn register(
    services: &mut Services,
    model: &Arc<Model>,
) -> Result<(), fakedc_net::OptionsError> {
    let mut sdks = HashMap::new();
    for m in model.machines() {
        if KINDS.iter().any(|k| m.endpoint(*k).is_some()) {
            let o = validate(model.machines(), m)?;
            sdks.insert(
                m.id,
                Arc::new(Sdk::new(
                    model.clone(),
                    m.id,
                    o.manages.as_deref(),
                    o.task_timing(),
                )),
            );
        }
    }
    let sdks = Arc::new(sdks);
    {
        // Any chassis change may interest a waiting WaitForUpdates.
        let sdks = Arc::downgrade(&sdks);
        model.on_change(move |_| {
            if let Some(s) = sdks.upgrade() {
                for sdk in s.values() {
                    sdk.notify.notify_waiters();
                }
            }
        });
    }
    let svc = Arc::new(VsphereHttp {
        model: model.clone(),
        sdks,
    });
    for k in KINDS {
        services.http(k, "/sdk", svc.clone());
        services.http(k, "/folder", svc.clone());
        // The welcome page: GET and HEAD of `/` only, so BITS keeps every
        // other path and method of ESXi's 443 (its Ping goes to `/`).
        services.http(k, "GET /", svc.clone());
    }
    Ok(())
}

struct VsphereHttp {
    model: Arc<Model>,
    sdks: Arc<HashMap<MachineId, Arc<Sdk>>>,
}

fn text(status: StatusCode, ct: &'static str, body: impl Into<Bytes>) -> HttpResponse {
    let mut r = hyper::Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    r
}

fn header_str(req: &HttpRequest, name: header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The session cookie's value (pyvmomi sends back the whole `Set-Cookie`
/// line; quotes are optional).
pub fn cookie_of(req: &HttpRequest) -> Option<String> {
    for v in req.headers().get_all(header::COOKIE) {
        let Ok(v) = v.to_str() else { continue };
        for part in v.split(';') {
            if let Some((k, val)) = part.trim().split_once('=') {
                if k.trim() == COOKIE {
                    let val = val.trim().trim_matches('"');
                    if !val.is_empty() && val.len() <= 128 {
                        return Some(val.to_string());
                    }
                }
            }
        }
    }
    None
}

/// The vimServiceVersions.xml document pyvmomi's SmartConnect reads.
pub fn versions_xml() -> String {
    let mut prior = String::new();
    for v in crate::PRIOR_VERSIONS {
        prior.push_str(&format!("<version>{v}</version>"));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<namespaces version=\"1.0\">\n <namespace>\n  <name>urn:vim25</name>\n  <version>{}</version>\n  <priorVersions>{prior}</priorVersions>\n </namespace>\n</namespaces>\n",
        crate::API_VERSION
    )
}

fn wsdl(host: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<definitions targetNamespace=\"urn:vim25Service\" xmlns=\"http://schemas.xmlsoap.org/wsdl/\" xmlns:soap=\"http://schemas.xmlsoap.org/wsdl/soap/\" xmlns:interface=\"urn:vim25\">\n <import location=\"vim.wsdl\" namespace=\"urn:vim25\" />\n <service name=\"VimService\">\n  <port binding=\"interface:VimBinding\" name=\"VimPort\">\n   <soap:address location=\"https://{}/sdk\" />\n  </port>\n </service>\n</definitions>\n",
        fakedc_xml::escape_attr(host)
    )
}

/// ESXi 6.5 and later answer `GET /` with a page that sends browsers to
/// the Host Client at `/ui`; these are its bytes as nmap's service probes
/// match them ("VMware ESXi Web UI"), with the headers in that order.
pub const ESXI_WELCOME: &str = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">\n\n<html lang=\"en\">\n<head>\n    <meta http-equiv=\"content-type\" content=\"text/html; charset=utf8\">\n    <meta http-equiv=\"refresh\" content=\"0;URL='/ui'\"/>\n</head>\n</html>\n";

/// vCenter's getting-started page (links to the vSphere Client, the
/// datastore browser and the SDK). Its exact markup is not verified
/// against a vCenter; the links are what it offers.
pub const VCENTER_WELCOME: &str = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n    <meta http-equiv=\"content-type\" content=\"text/html; charset=utf-8\">\n    <title>VMware vSphere</title>\n</head>\n<body>\n    <h1>Getting Started</h1>\n    <p><a href=\"/ui/\">Launch vSphere Client (HTML5)</a></p>\n    <p><a href=\"/folder\">Browse datastores in the vSphere inventory</a></p>\n    <p><a href=\"/sdk/vimService.wsdl\">vSphere Web Services SDK</a></p>\n</body>\n</html>\n";

/// `GET /` (and HEAD): the machine's welcome page, anonymous as on ESXi.
fn welcome(model: &Model, sdk: &Sdk, head: bool) -> HttpResponse {
    let body = match sdk.inv.api {
        crate::inventory::Api::HostAgent => ESXI_WELCOME,
        crate::inventory::Api::VirtualCenter => VCENTER_WELCOME,
    };
    let mut r = hyper::Response::new(full(if head { "" } else { body }));
    let h = r.headers_mut();
    // ESXi's order (nmap matches it): Date, Connection, Content-Type,
    // X-Frame-Options, Content-Length. hyper writes the map in order and
    // adds its own Date last unless one is set.
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(model.clock.wall())) {
        h.insert(header::DATE, v);
    }
    h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    r
}

impl HttpService for VsphereHttp {
    fn call(&self, req: HttpRequest, conn: Arc<ConnInfo>) -> BoxFuture<HttpResponse> {
        let model = self.model.clone();
        let sdk = self.sdks.get(&conn.machine).cloned();
        let span = info_span!("vsphere", method = %req.method(), path = %req.uri().path());
        Box::pin(
            async move {
                let Some(sdk) = sdk else {
                    return text(StatusCode::NOT_FOUND, "text/plain", "Not Found");
                };
                let path = req.uri().path().to_string();
                if path == "/" && matches!(*req.method(), Method::GET | Method::HEAD) {
                    let r = welcome(&model, &sdk, req.method() == Method::HEAD);
                    RequestJournal {
                        model: &model,
                        conn: &conn,
                        user: None,
                        op: format!("{} /", req.method()),
                        start: model.clock.now(),
                    }
                    .record("ok");
                    r
                } else if path == "/sdk" || path == "/sdk/" {
                    sdk_post(model, sdk, req, conn).await
                } else if path == "/sdk/vimServiceVersions.xml" && req.method() == Method::GET {
                    text(StatusCode::OK, "text/xml", versions_xml())
                } else if path == "/sdk/vimService.wsdl" && req.method() == Method::GET {
                    text(StatusCode::OK, "text/xml", wsdl(&conn.dns_name))
                } else if path.starts_with("/folder") {
                    folder_req(model, sdk, req, conn).await
                } else {
                    text(StatusCode::NOT_FOUND, "text/plain", "Not Found")
                }
            }
            .instrument(span),
        )
    }
}

async fn sdk_post(
    model: Arc<Model>,
    sdk: Arc<Sdk>,
    req: HttpRequest,
    conn: Arc<ConnInfo>,
) -> HttpResponse {
    let start = model.clock.now();
    let mut j = RequestJournal {
        model: &model,
        conn: &conn,
        user: None,
        op: "POST /sdk".into(),
        start,
    };
    let xml = |status, body: String| {
        let mut r = text(status, "text/xml; charset=utf-8", body);
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        r
    };
    if req.method() != Method::POST {
        j.record("method not allowed");
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "Method Not Allowed",
        );
    }
    let cookie = cookie_of(&req);
    let agent = header_str(&req, header::USER_AGENT)
        .unwrap_or_default()
        .chars()
        .take(256)
        .collect();
    let body = match soap_body(req.into_body()).await {
        Some(b) => b,
        None => {
            j.record("request over the size limit: InvalidRequest");
            let f = soap::VimFault::invalid_request(format!(
                "The request is larger than {} bytes",
                soap::MAX_BODY
            ));
            return xml(StatusCode::INTERNAL_SERVER_ERROR, soap::fault(&f));
        }
    };
    let call = match soap::decode(&body) {
        Ok(c) => c,
        Err(f) => {
            j.record(&format!("fault {}: {}", f.kind, f.msg));
            return xml(StatusCode::INTERNAL_SERVER_ERROR, soap::fault(&f));
        }
    };
    let answer = sdk
        .call(
            call,
            Caller {
                cookie,
                ip: conn.peer.ip(),
                agent,
            },
        )
        .await;
    j.op = answer.op;
    j.user = answer.user;
    match answer.fault {
        Some(kind) => j.record(&format!("fault {kind}")),
        None => j.record("ok"),
    }
    let status = if answer.fault.is_some() {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    let mut r = xml(status, answer.xml);
    if let Some(c) = answer.set_cookie {
        if let Ok(v) =
            HeaderValue::from_str(&format!("{COOKIE}=\"{c}\"; Path=/; HttpOnly; Secure; "))
        {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    r
}

/// A body fed by a reader thread.
struct ChannelBody {
    rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    remaining: u64,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(b))) => {
                self.remaining = self.remaining.saturating_sub(b.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) if self.remaining > 0 => Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file ended early",
            )))),
            Poll::Ready(None) => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Most of a refused upload's body read and discarded, so the client
/// sees the answer instead of a reset while it is still sending.
const MAX_DRAIN: usize = 64 * 1024 * 1024;

async fn drain(body: &mut hyper::body::Incoming) {
    let mut n = 0usize;
    while let Some(Ok(f)) = body.frame().await {
        n += f.data_ref().map(|d| d.len()).unwrap_or(0);
        if n > MAX_DRAIN {
            break;
        }
    }
}

fn folder_status(e: &FolderError) -> (StatusCode, String) {
    match e {
        FolderError::Bad(m) => (StatusCode::BAD_REQUEST, m.clone()),
        FolderError::NotFound => (StatusCode::NOT_FOUND, "Not Found".into()),
        FolderError::Forbidden => (StatusCode::FORBIDDEN, "Forbidden".into()),
        FolderError::TooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request Entity Too Large".into(),
        ),
        // hostd answers a failed datastore write with a bare 500 (as
        // govc users report it); the text says why.
        FolderError::Full => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Insufficient disk space on datastore".into(),
        ),
        FolderError::Io(e) => {
            debug!(error = %e, "folder I/O");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error".into(),
            )
        }
    }
}

async fn folder_req(
    model: Arc<Model>,
    sdk: Arc<Sdk>,
    req: HttpRequest,
    conn: Arc<ConnInfo>,
) -> HttpResponse {
    let start = model.clock.now();
    let method = req.method().clone();
    let raw_path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let mut j = RequestJournal {
        model: &model,
        conn: &conn,
        user: None,
        op: format!(
            "{method} {}",
            raw_path.chars().take(200).collect::<String>()
        ),
        start,
    };
    // Who: the SDK session's cookie, or Basic; never anonymous.
    let user = match cookie_of(&req).and_then(|c| sdk.session_user(&c)) {
        Some(u) => Some(u),
        None => header_str(&req, header::AUTHORIZATION)
            .and_then(fakedc_net::auth::parse_basic)
            .and_then(|(u, p)| model.authenticate(conn.machine, &u, &p).map(|x| x.name)),
    };
    let mut body = req.into_body();
    let fail = |j: &RequestJournal<'_>, e: FolderError| {
        let (s, m) = folder_status(&e);
        j.record(&format!("{}: {m}", s.as_u16()));
        text(s, "text/plain", m)
    };
    // Who and where, checked before any byte of an upload is taken; a
    // refused upload's body is read and dropped so the client, still
    // sending, reads the answer rather than a reset (govc's PUT otherwise
    // ends in a broken pipe).
    let checked = (|| {
        let Some(user) = user else {
            return Err(None);
        };
        j.user = Some(user);
        let rel = raw_path
            .strip_prefix("/folder")
            .and_then(|p| folder::percent_decode(p, false))
            .ok_or_else(|| Some(FolderError::Bad("malformed path".into())))?;
        let rel = folder::check_path(&rel).map_err(Some)?;
        let ds = folder::query_param(&query, "dsName")
            .ok_or_else(|| Some(FolderError::Bad("dsName is required".into())))?;
        let dc = folder::query_param(&query, "dcPath");
        let share = sdk.datastore_share(dc.as_deref(), &ds).map_err(Some)?;
        Ok((rel, share))
    })();
    let (rel, (dir, quota)) = match checked {
        Ok(x) => x,
        Err(e) => {
            if method == Method::PUT {
                drain(&mut body).await;
            }
            return match e {
                Some(e) => fail(&j, e),
                None => {
                    j.record("401: no session cookie or valid Basic credentials");
                    let mut r = text(StatusCode::UNAUTHORIZED, "text/plain", "Unauthorized");
                    r.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"VMware HTTP server\""),
                    );
                    r
                }
            };
        }
    };
    match method {
        Method::GET | Method::HEAD => {
            let opened = tokio::task::spawn_blocking({
                let rel = rel.clone();
                move || folder::open_read(&dir, &rel)
            })
            .await;
            let (mut file, len) = match opened {
                Ok(Ok(x)) => x,
                Ok(Err(e)) => return fail(&j, e),
                Err(e) => return fail(&j, FolderError::Io(io::Error::other(e))),
            };
            j.record(&format!("200 ({len} bytes)"));
            if method == Method::HEAD {
                let mut r = hyper::Response::new(fakedc_net::full(Bytes::new()));
                r.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                );
                return r;
            }
            let (tx, rx) = tokio::sync::mpsc::channel(4);
            tokio::task::spawn_blocking(move || {
                let mut left = len;
                while left > 0 {
                    let n = left.min(256 * 1024) as usize;
                    match folder::read_chunk(&mut file, n) {
                        Ok(b) if b.is_empty() => break,
                        Ok(b) => {
                            left -= b.len() as u64;
                            if tx.blocking_send(Ok(Bytes::from(b))).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = tx.blocking_send(Err(e));
                            return;
                        }
                    }
                }
            });
            let body = ChannelBody { rx, remaining: len };
            let mut r = hyper::Response::new(body.boxed());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            r
        }
        Method::PUT => {
            let started = tokio::task::spawn_blocking(move || Upload::start(dir, rel, quota)).await;
            let mut up = match started {
                Ok(Ok(u)) => u,
                Ok(Err(e)) => {
                    drain(&mut body).await;
                    return fail(&j, e);
                }
                Err(e) => return fail(&j, FolderError::Io(io::Error::other(e))),
            };
            let mut pending: Vec<u8> = Vec::new();
            loop {
                let frame = match body.frame().await {
                    None => break,
                    Some(Ok(f)) => f,
                    Some(Err(e)) => {
                        j.record(&format!("upload aborted: {e}"));
                        return text(StatusCode::BAD_REQUEST, "text/plain", "Bad Request");
                    }
                };
                if let Ok(d) = frame.into_data() {
                    pending.extend_from_slice(&d);
                }
                if pending.len() >= 1024 * 1024 {
                    let chunk = std::mem::take(&mut pending);
                    let r =
                        tokio::task::spawn_blocking(move || up.write(&chunk).map(|()| up)).await;
                    up = match r {
                        Ok(Ok(u)) => u,
                        Ok(Err(e)) => {
                            // The status, not a broken pipe, reaches the
                            // client: read (and drop) what it still sends.
                            drain(&mut body).await;
                            return fail(&j, e);
                        }
                        Err(e) => return fail(&j, FolderError::Io(io::Error::other(e))),
                    };
                }
            }
            let r = tokio::task::spawn_blocking(move || {
                up.write(&pending)?;
                up.finish()
            })
            .await;
            match r {
                Ok(Ok(existed)) => {
                    let s = if existed {
                        StatusCode::OK
                    } else {
                        StatusCode::CREATED
                    };
                    j.record(&format!("{} (published by rename)", s.as_u16()));
                    text(s, "text/plain", "")
                }
                Ok(Err(e)) => fail(&j, e),
                Err(e) => fail(&j, FolderError::Io(io::Error::other(e))),
            }
        }
        Method::DELETE => {
            let r = tokio::task::spawn_blocking(move || {
                if rel.as_os_str().is_empty() {
                    return Err(FolderError::Forbidden);
                }
                let len = fakedc_model::quota::file_len(&dir, &rel);
                dir.remove_file(&rel)
                    .map(|()| quota.release(len))
                    .map_err(|e| match e.kind() {
                        io::ErrorKind::NotFound => FolderError::NotFound,
                        _ => FolderError::Io(e),
                    })
            })
            .await;
            match r {
                Ok(Ok(())) => {
                    j.record("204");
                    let mut r = text(StatusCode::NO_CONTENT, "text/plain", "");
                    *r.body_mut() = fakedc_net::full(Bytes::new());
                    r
                }
                Ok(Err(e)) => fail(&j, e),
                Err(e) => fail(&j, FolderError::Io(io::Error::other(e))),
            }
        }
        _ => {
            j.record("405");
            text(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain",
                "Method Not Allowed",
            )
        }
    }
}

/// Extra request bytes read and discarded after the SOAP limit, so a
/// client still sending an oversized request can finish and read the fault
/// (closing on it mid-upload resets the connection: the client sees a TLS
/// EOF instead of vCenter's InvalidRequest).
const DRAIN_MAX: usize = 64 * 1024 * 1024;

/// The request body if it is at most [`soap::MAX_BODY`] bytes; `None` when
/// it is larger (the rest drained up to [`DRAIN_MAX`]) or broken.
async fn soap_body<B>(mut body: B) -> Option<Bytes>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
{
    // A request usually arrives in one frame, kept as it is; only a
    // body in several frames is copied together.
    let mut first: Option<Bytes> = None;
    let mut buf = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return None };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen <= soap::MAX_BODY {
            if first.is_none() && buf.is_empty() {
                first = Some(data);
            } else {
                if let Some(f) = first.take() {
                    buf.extend_from_slice(&f);
                }
                buf.extend_from_slice(&data);
            }
        } else {
            first = None;
            buf = Vec::new();
            if seen > soap::MAX_BODY.saturating_add(DRAIN_MAX) {
                return None;
            }
        }
    }
    if seen > soap::MAX_BODY {
        return None;
    }
    Some(first.unwrap_or_else(|| Bytes::from(buf)))
}
