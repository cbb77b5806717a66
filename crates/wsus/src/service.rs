//! The HTTP glue on a WSUS machine's 8530/8531 (common port) and 80/443
//! (content port): the client web services (anonymous, as IIS serves
//! them: the cookie is the client's credential), `/Content` downloads
//! (anonymous, HEAD and ranged GET with `If-Range`, BITS's range and
//! precondition rules), the admin service (Windows authentication through
//! `fakedc_net::auth`, NTLM and Negotiate as IIS offers them), the WSDLs
//! at `?wsdl`, the journal and the `busy` fault rule (`ServerBusy`).

use crate::admin;
use crate::msg::{self, DecodeError, ErrorCode, Service, WsusFault};
use crate::server::{Cx, Server, WsusOptions};
use bytes::Bytes;
use fakedc_bits::proto::{self as bp, Precondition, RangeRequest, Validators};
use fakedc_model::{FaultKind, Model, Record, ServiceKind};
use fakedc_net::auth::{self, NtlmOffer, Outcome, Policy};
use fakedc_net::{full, BoxFuture, ConnInfo, HttpRequest, HttpResponse, HttpService, Services};
use http_body_util::BodyExt;
use hyper::body::Frame;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, StatusCode};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};
use tracing::debug;

pub use fakedc_net::OptionsError;

/// The per-connection NTLM state's key.
const STATE_KEY: &str = "wsus";
/// Content generated per body frame.
const CHUNK: usize = 256 << 10;
/// Content files' Last-Modified (stable across restarts, so `If-Range`
/// from an interrupted download still matches): 2026-01-01.
const CONTENT_MODIFIED_SECS: u64 = 1_767_225_600;

/// The endpoints WSUS answers on.
pub const KINDS: [ServiceKind; 4] = [
    ServiceKind::WsusControlHttp,
    ServiceKind::WsusControlHttps,
    ServiceKind::WsusHttp,
    ServiceKind::WsusHttps,
];

/// Parses and checks one machine's `[machine.options.wsus]`.
pub fn validate(m: &fakedc_model::Machine) -> Result<WsusOptions, OptionsError> {
    let err = |message: String| OptionsError::new(&m.name, "wsus", message);
    let opts: WsusOptions = match m.options.get("wsus") {
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| err(e.to_string()))?,
        None => WsusOptions::default(),
    };
    opts.validate().map_err(err)?;
    Ok(opts)
}

/// Registers WSUS on every machine that has one of its endpoints. Each
/// machine's catalogue and state are built once and shared by its ports.
pub fn register(services: &mut Services, model: &Arc<Model>) -> Result<(), OptionsError> {
    let mut machines = Vec::with_capacity(model.machines().len());
    for m in model.machines() {
        if KINDS.iter().all(|k| m.endpoint(*k).is_none()) {
            machines.push(None);
            continue;
        }
        let opts = validate(m)?;
        let now = model.clock.unix_millis();
        let id = crate::identity::load(m.share.as_deref(), &opts, now);
        let key = id.key_bytes().unwrap_or_else(rand::random);
        machines.push(Some(Arc::new(
            Server::new(&opts, now, key).with_identity(id.server_id, id.config_ms),
        )));
    }
    let shared = Arc::new(Shared {
        model: model.clone(),
        machines,
    });
    for kind in KINDS {
        services.http(
            kind,
            "/",
            Arc::new(WsusHttp {
                shared: shared.clone(),
            }),
        );
    }
    Ok(())
}

/// What `/about` lists.
pub fn operations() -> Vec<String> {
    let mut v: Vec<String> = [
        "SimpleAuth GetAuthorizationCookie",
        "Client GetConfig (MaxExtendedUpdatesPerRequest, ProtocolVersion 3.2, IsInventoryRequired, ClientReportingLevel)",
        "Client GetCookie (sealed cookies with expiry)",
        "Client RegisterComputer (client-side targeting by group name)",
        "Client SyncUpdates (categories, approved updates and their prerequisites, out-of-scope revisions, driver pass, NewCookie, Truncated)",
        "Client GetExtendedUpdateInfo (Core, Extended, LocalizedProperties, FileUrl)",
        "Client GetFileLocations",
        "Client RefreshCache",
        "Reporting ReportEventBatch, ReportEventBatch2",
        "identity (id, cookie key, configuration time) kept in the share across restarts: wsus/server.json",
        "faults: InvalidCookie, ConfigChanged, ServerChanged, InvalidParameters, InvalidAuthorizationCookie, RegistrationRequired, ServerBusy",
        "GET/HEAD /Content/XX/<SHA1>.cab with Range and If-Range (generated content, SHA-1/SHA-256 digests)",
        "?wsdl for the client, SimpleAuth, Reporting and admin services",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for op in admin::OPS {
        v.push(format!("ApiRemoting30 {} (NTLM/Negotiate)", op.name));
    }
    v
}

struct Shared {
    model: Arc<Model>,
    machines: Vec<Option<Arc<Server>>>,
}

struct WsusHttp {
    shared: Arc<Shared>,
}

impl HttpService for WsusHttp {
    fn call(&self, req: HttpRequest, conn: Arc<ConnInfo>) -> BoxFuture<HttpResponse> {
        let shared = self.shared.clone();
        Box::pin(async move {
            let Some(server) = shared.machines.get(conn.machine.0).cloned().flatten() else {
                return fakedc_net::http::error_page(&conn, StatusCode::NOT_FOUND);
            };
            let mut cx = Req {
                model: shared.model.clone(),
                server,
                started: shared.model.clock.now(),
                conn,
                user: None,
                final_auth: None,
            };
            let mut r = cx.handle(req).await;
            if let Some(v) = cx.final_auth.take() {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            r
        })
    }
}

struct Req {
    model: Arc<Model>,
    server: Arc<Server>,
    conn: Arc<ConnInfo>,
    started: Instant,
    user: Option<String>,
    final_auth: Option<HeaderValue>,
}

impl Req {
    fn journal(&self, operation: String, outcome: String) {
        self.model.journal.record(Record {
            machine: self.conn.machine_name.clone(),
            service: self.conn.service.name().into(),
            peer: Some(self.conn.peer),
            user: self.user.clone(),
            operation,
            outcome,
            latency: self.model.clock.since(self.started),
        });
    }

    fn busy(&self) -> bool {
        self.model
            .faults
            .matching(&self.conn.machine_name, self.conn.service.name())
            .iter()
            .any(|f| matches!(f, FaultKind::Busy))
    }

    /// `http(s)://host:port` as the client addressed us (a Host header
    /// with anything but host characters falls back to our address).
    fn base_url(&self, headers: &HeaderMap) -> String {
        let scheme = if self.conn.tls { "https" } else { "http" };
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                !h.is_empty()
                    && h.len() <= 255
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-.:[]_".contains(&b))
            })
            .map(str::to_string)
            .unwrap_or_else(|| self.conn.local.to_string());
        format!("{scheme}://{host}")
    }

    async fn handle(&mut self, req: HttpRequest) -> HttpResponse {
        let path = req.uri().path().to_string();
        let lower = path.to_ascii_lowercase();
        if lower.starts_with("/content/") {
            return self.content(req, &path).await;
        }
        let Some(svc) = Service::from_path(&path) else {
            self.journal(
                format!("{} {}", req.method(), truncate(&path)),
                "404 not found".into(),
            );
            return fakedc_net::http::error_page(&self.conn, StatusCode::NOT_FOUND);
        };
        if svc == Service::Admin {
            match self.authenticate(req.headers()) {
                Ok(u) => self.user = Some(u),
                Err(r) => {
                    // Drain a small body so the connection (which carries
                    // the NTLM handshake) stays usable.
                    let _ = tokio::time::timeout(
                        Duration::from_secs(5),
                        http_body_util::Limited::new(req.into_body(), msg::MAX_BODY).collect(),
                    )
                    .await;
                    return *r;
                }
            }
        }
        let wsdl = req
            .uri()
            .query()
            .is_some_and(|q| q.eq_ignore_ascii_case("wsdl"));
        if req.method() == Method::GET && wsdl {
            let base = self.base_url(req.headers());
            self.journal(format!("GET {}?wsdl", svc.path()), "200".into());
            return xml_response(StatusCode::OK, wsdl_for(svc, &base));
        }
        if req.method() != Method::POST {
            self.journal(format!("{} {}", req.method(), svc.path()), "405".into());
            let mut r = fakedc_net::http::error_page(&self.conn, StatusCode::METHOD_NOT_ALLOWED);
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
            return r;
        }
        let action = req
            .headers()
            .get("soapaction")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let base = self.base_url(req.headers());
        if req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > msg::MAX_BODY as u64)
        {
            self.journal(
                format!("POST {}", svc.path()),
                "413 request too large".into(),
            );
            return fakedc_net::http::error_page(&self.conn, StatusCode::PAYLOAD_TOO_LARGE);
        }
        let body = match tokio::time::timeout(
            Duration::from_secs(30),
            http_body_util::Limited::new(req.into_body(), msg::MAX_BODY).collect(),
        )
        .await
        {
            Ok(Ok(b)) => b.to_bytes(),
            _ => {
                self.journal(
                    format!("POST {}", svc.path()),
                    "413 request too large or unreadable".into(),
                );
                return fakedc_net::http::error_page(&self.conn, StatusCode::PAYLOAD_TOO_LARGE);
            }
        };
        let req = match msg::decode(svc, action.as_deref(), &body) {
            Ok(r) => r,
            Err(e) => {
                let (code, op) = match &e {
                    DecodeError::Unreadable(_) => ("soap:Client", "(unreadable)".to_string()),
                    DecodeError::UnknownAction(a) => {
                        ("soap:Client", format!("(unknown action {})", truncate(a)))
                    }
                };
                self.journal(
                    format!("{} {op}", svc_name(svc)),
                    format!("fault {code}: {}", truncate(&e.to_string())),
                );
                return xml_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    msg::asmx_fault(code, &e.to_string()),
                );
            }
        };
        let op_name = format!("{} {}", svc_name(svc), req.op);
        let method_uri = format!("{}/{}", svc.namespace(), req.op);
        let actor = format!("{base}{}", svc.path());
        if svc == Service::Admin {
            if self.busy() {
                self.journal(op_name, "busy (fault rule): 503".into());
                return fakedc_net::http::error_page(&self.conn, StatusCode::SERVICE_UNAVAILABLE);
            }
            let admin_user = self.user.clone().unwrap_or_default();
            let s = self.server.clone();
            let now = self.model.clock.unix_millis();
            return match admin::dispatch(&s, &req.op, &req.body, &admin_user, now) {
                Ok(x) => {
                    self.journal(op_name, "ok".into());
                    xml_response(StatusCode::OK, msg::envelope(&x))
                }
                Err(e) => {
                    self.journal(op_name, e.outcome());
                    xml_response(StatusCode::INTERNAL_SERVER_ERROR, e.fault())
                }
            };
        }
        if self.busy() {
            let f = WsusFault::new(ErrorCode::ServerBusy);
            self.journal(op_name, "fault ServerBusy (fault rule)".into());
            return self.fault(&f, &actor, &method_uri);
        }
        let cx = Cx {
            now_ms: self.model.clock.unix_millis(),
            base_url: &base,
        };
        let s = &self.server;
        let out = match (svc, req.op.as_str()) {
            (Service::SimpleAuth, "GetAuthorizationCookie") => {
                s.get_authorization_cookie(&req.body)
            }
            (Service::Client, "GetConfig") => s.get_config(&cx),
            (Service::Client, "GetCookie") => s.get_cookie(&req.body, &cx),
            (Service::Client, "RegisterComputer") => s.register_computer(&req.body, &cx),
            (Service::Client, "SyncUpdates") => s.sync_updates(&req.body, &cx),
            (Service::Client, "GetExtendedUpdateInfo") => {
                s.get_extended_update_info(&req.body, &cx)
            }
            (Service::Client, "GetFileLocations") => s.get_file_locations(&req.body, &cx),
            (Service::Client, "RefreshCache") => s.refresh_cache(&req.body, &cx),
            (Service::Reporting, "ReportEventBatch") => s.report_event_batch(&req.body, &cx, false),
            (Service::Reporting, "ReportEventBatch2") => s.report_event_batch(&req.body, &cx, true),
            (_, op) => {
                // An operation of the published WSDL this server does not
                // implement: WSUS's InternalServerError naming it.
                let f = WsusFault::with(
                    ErrorCode::InternalServerError,
                    format!("{op} is not implemented by this server"),
                );
                self.journal(
                    op_name,
                    format!("fault InternalServerError: {op} not implemented"),
                );
                return self.fault(&f, &actor, &method_uri);
            }
        };
        match out {
            Ok(a) => {
                self.journal(
                    format!("{op_name}{}", computer_suffix(a.computer.as_deref())),
                    "ok".into(),
                );
                xml_response(StatusCode::OK, msg::envelope(&a.xml))
            }
            Err((f, computer)) => {
                self.journal(
                    format!("{op_name}{}", computer_suffix(computer.as_deref())),
                    format!(
                        "fault {}{}",
                        f.code.name(),
                        f.message
                            .as_deref()
                            .map(|m| format!(": {}", truncate(m)))
                            .unwrap_or_default()
                    ),
                );
                self.fault(&f, &actor, &method_uri)
            }
        }
    }

    fn fault(&self, f: &WsusFault, actor: &str, method: &str) -> HttpResponse {
        let id = crate::catalog::derived_guid(&format!("fault:{}", rand::random::<u64>()));
        xml_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            msg::wsus_fault(f, actor, method, &id),
        )
    }

    /// Windows authentication for the admin service (IIS's Negotiate and
    /// NTLM; no Basic, no anonymous).
    fn authenticate(&mut self, headers: &HeaderMap) -> Result<String, Box<HttpResponse>> {
        let a = match headers.get(header::AUTHORIZATION).map(|v| v.to_str()) {
            None => None,
            Some(Ok(t)) => Some(t),
            Some(Err(_)) => {
                return Err(Box::new(
                    self.unauthorized(None, "undecodable Authorization header"),
                ))
            }
        };
        let policy = Policy {
            basic: false,
            basic_realm: "",
            ntlm: NtlmOffer::NegotiateAndNtlm,
            digest: None,
        };
        let out = auth::with_ntlm(&self.conn, STATE_KEY, |st| {
            auth::authenticate(&self.model, &self.conn, st, &policy, a, "", "")
        });
        match out {
            Outcome::Authenticated {
                login,
                reply_header,
            } => {
                self.final_auth = reply_header.and_then(|h| HeaderValue::from_str(&h).ok());
                Ok(login.user.name)
            }
            Outcome::Connection(login) => Ok(login.user.name),
            Outcome::Challenge(c) => {
                self.journal(
                    "Admin (authentication)".into(),
                    "401 NTLM challenge sent".into(),
                );
                let mut r = fakedc_net::http::error_page(&self.conn, StatusCode::UNAUTHORIZED);
                if let Ok(v) = HeaderValue::from_str(&c) {
                    r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                Err(Box::new(r))
            }
            Outcome::Anonymous => Err(Box::new(self.unauthorized(Some(&policy), "no credentials"))),
            Outcome::Refused { reason, .. } | Outcome::Malformed(reason) => {
                debug!(%reason, "wsus admin authentication refused");
                Err(Box::new(self.unauthorized(Some(&policy), &reason)))
            }
        }
    }

    fn unauthorized(&self, policy: Option<&Policy<'_>>, why: &str) -> HttpResponse {
        self.journal(
            "Admin (authentication)".into(),
            format!("401 unauthorized: {why}"),
        );
        let mut r = fakedc_net::http::error_page(&self.conn, StatusCode::UNAUTHORIZED);
        let default = Policy {
            basic: false,
            basic_realm: "",
            ntlm: NtlmOffer::NegotiateAndNtlm,
            digest: None,
        };
        for c in auth::challenges(&self.model, &self.conn, policy.unwrap_or(&default), false) {
            if let Ok(v) = HeaderValue::from_str(&c) {
                r.headers_mut().append(header::WWW_AUTHENTICATE, v);
            }
        }
        r
    }

    /// `/Content/XX/<SHA1>.cab`: the generated file whose SHA-1 the name
    /// is, with BITS's range and precondition rules.
    async fn content(&mut self, req: HttpRequest, path: &str) -> HttpResponse {
        let method = req.method().clone();
        let range_text = req
            .headers()
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok())
            .map(|r| r.chars().take(100).collect::<String>());
        let op = match &range_text {
            Some(r) => format!("{method} {} {r}", truncate(path)),
            None => format!("{method} {}", truncate(path)),
        };
        if method != Method::GET && method != Method::HEAD {
            self.journal(op, "405".into());
            let mut r = fakedc_net::http::error_page(&self.conn, StatusCode::METHOD_NOT_ALLOWED);
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        if self.busy() {
            self.journal(op, "busy (fault rule): 503".into());
            return fakedc_net::http::error_page(&self.conn, StatusCode::SERVICE_UNAVAILABLE);
        }
        let Some((u, f)) = parse_content_path(path).and_then(|sha1| {
            let s = self.server.clone();
            s.catalog.file_by_sha1(&sha1)
        }) else {
            self.journal(op, "404 not found".into());
            return fakedc_net::http::error_page(&self.conn, StatusCode::NOT_FOUND);
        };
        let Some(file) = self.server.catalog.file(u, f) else {
            return fakedc_net::http::error_page(&self.conn, StatusCode::NOT_FOUND);
        };
        let (seed, len) = (file.seed, file.size);
        let v = Validators::new(
            SystemTime::UNIX_EPOCH + Duration::from_secs(CONTENT_MODIFIED_SECS),
            len,
        );
        let h = req.headers();
        let hs = |n: &str| h.get(n).and_then(|v| v.to_str().ok());
        let conds = bp::Conditions {
            if_match: hs("if-match"),
            if_unmodified_since: hs("if-unmodified-since"),
            if_none_match: hs("if-none-match"),
            if_modified_since: hs("if-modified-since"),
            if_range: hs("if-range"),
        };
        let honor_range = match bp::evaluate(&conds, &v) {
            Precondition::Failed => {
                self.journal(op, "412 precondition failed".into());
                return validators(empty(StatusCode::PRECONDITION_FAILED), &v);
            }
            Precondition::NotModified => {
                self.journal(op, "304 not modified".into());
                return validators(empty(StatusCode::NOT_MODIFIED), &v);
            }
            Precondition::Proceed { honor_range } => honor_range,
        };
        let range = match (honor_range, range_text.as_deref()) {
            (true, Some(r)) => bp::parse_range(r, len, 1),
            _ => RangeRequest::Full,
        };
        let (status, start, end, content_range) = match range {
            RangeRequest::Full => (StatusCode::OK, 0, len, None),
            RangeRequest::Partial(r) => {
                let (a, b) = r.first().copied().unwrap_or((0, len.saturating_sub(1)));
                (
                    StatusCode::PARTIAL_CONTENT,
                    a,
                    b + 1,
                    Some(format!("bytes {a}-{b}/{len}")),
                )
            }
            RangeRequest::Unsatisfiable => {
                self.journal(op, format!("416 range not satisfiable (length {len})"));
                let mut r = empty(StatusCode::RANGE_NOT_SATISFIABLE);
                insert(&mut r, header::CONTENT_RANGE, &format!("bytes */{len}"));
                return validators(r, &v);
            }
        };
        let n = end - start;
        let head = method == Method::HEAD;
        self.journal(
            op,
            format!(
                "{} {n} bytes{}",
                status.as_u16(),
                if head { " (head)" } else { "" }
            ),
        );
        let cached = if head || n == 0 {
            None
        } else if let Some(b) = self.server.cached_content(u, f) {
            Some(b)
        } else {
            let s = self.server.clone();
            tokio::task::spawn_blocking(move || s.cache_content(u, f))
                .await
                .ok()
                .flatten()
        };
        let body = match cached {
            _ if head || n == 0 => full(Bytes::new()),
            // The cache holds the whole file: `start..end` lies inside it.
            Some(b) if b.len() as u64 == len => full(b.slice(start as usize..end as usize)),
            _ => GenBody {
                seed,
                pos: start,
                end,
            }
            .boxed(),
        };
        let mut r = hyper::Response::new(body);
        *r.status_mut() = status;
        insert(&mut r, header::CONTENT_LENGTH, &n.to_string());
        insert(
            &mut r,
            header::CONTENT_TYPE,
            "application/vnd.ms-cab-compressed",
        );
        if let Some(cr) = content_range {
            insert(&mut r, header::CONTENT_RANGE, &cr);
        }
        r.headers_mut()
            .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        validators(r, &v)
    }
}

/// `/Content/XX/<40 hex>.cab` (any case) → the SHA-1; XX must be its last
/// byte, as WSUS lays the directory out.
pub fn parse_content_path(path: &str) -> Option<[u8; 20]> {
    let rest = path.get(9..)?;
    if !path.get(..9)?.eq_ignore_ascii_case("/content/") {
        return None;
    }
    let (dir, file) = rest.split_once('/')?;
    let hex = file.get(..40)?;
    if !file.get(40..)?.eq_ignore_ascii_case(".cab") {
        return None;
    }
    let sha1 = crate::catalog::parse_sha1_hex(hex)?;
    let last = format!("{:02x}", sha1[19]);
    dir.eq_ignore_ascii_case(&last).then_some(sha1)
}

/// A generated content body, one chunk per frame.
struct GenBody {
    seed: u64,
    pos: u64,
    end: u64,
}

impl hyper::body::Body for GenBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.pos >= self.end {
            return Poll::Ready(None);
        }
        let n = ((self.end - self.pos) as usize).min(CHUNK);
        let mut buf = vec![0u8; n];
        fakedc_bits::fill_virtual(self.seed, self.pos, &mut buf);
        self.pos += n as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))))
    }

    fn is_end_stream(&self) -> bool {
        self.pos >= self.end
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.end - self.pos)
    }
}

fn wsdl_for(svc: Service, base: &str) -> String {
    let location = format!("{base}{}", svc.path());
    let published = match svc {
        Service::Admin => return admin::wsdl(&location),
        Service::Client => include_str!("../wsdl/client.wsdl"),
        Service::SimpleAuth => include_str!("../wsdl/simpleauth.wsdl"),
        Service::Reporting => include_str!("../wsdl/reporting.wsdl"),
    };
    // The published WSDLs carry http://localhost/... placeholders.
    let placeholder = format!("http://localhost{}", svc.path());
    published.replace(&placeholder, &fakedc_xml::escape_attr(&location))
}

fn svc_name(s: Service) -> &'static str {
    match s {
        Service::SimpleAuth => "SimpleAuth",
        Service::Client => "Client",
        Service::Reporting => "Reporting",
        Service::Admin => "Admin",
    }
}

fn computer_suffix(c: Option<&str>) -> String {
    c.map(|c| format!(" computer={}", truncate(c)))
        .unwrap_or_default()
}

fn truncate(s: &str) -> String {
    s.chars().take(120).collect()
}

fn xml_response(status: StatusCode, xml: String) -> HttpResponse {
    let mut r = hyper::Response::new(full(Bytes::from(xml)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    r
}

fn empty(status: StatusCode) -> HttpResponse {
    let mut r = hyper::Response::new(full(Bytes::new()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    r
}

fn insert(r: &mut HttpResponse, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

fn validators(mut r: HttpResponse, v: &Validators) -> HttpResponse {
    insert(
        &mut r,
        header::LAST_MODIFIED,
        &bp::fmt_http_date(v.last_modified),
    );
    insert(&mut r, header::ETAG, &v.etag);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_paths() {
        let sha1 = [0xabu8; 20];
        let p = Server::content_url("", &sha1);
        assert_eq!(parse_content_path(&p), Some(sha1));
        assert_eq!(parse_content_path(&p.to_ascii_lowercase()), Some(sha1));
        assert_eq!(
            parse_content_path("/Content/00/ABABABABABABABABABABABABABABABABABABABAB.cab"),
            None
        );
        assert_eq!(parse_content_path("/Content/AB/../../etc/passwd"), None);
    }
}
