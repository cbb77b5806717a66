//! The BITS HTTP service on a machine's 443 (and on 80 where a scenario
//! enables `bits-http`): MC-BUP uploads (`BITS_POST`) into the machine's
//! share and GET/HEAD ranged downloads out of it (and of the scenario's
//! virtual files), with Basic and NTLM/Negotiate authentication against the
//! machine's users, the journal, and the upload half of the `reset-after`
//! fault rule.
//!
//! NTLM is connection-based, as on IIS: the handshake's state lives with
//! the TCP connection (in `ConnInfo::state`), the NEGOTIATE is answered
//! with a 401 carrying the CHALLENGE, and an accepted AUTHENTICATE
//! authenticates that connection for the requests that follow it.
//!
//! The protocol rules are in [`crate::proto`], the disk layout in
//! [`crate::store`]; this file is the async glue: it streams fragment
//! bodies to the session file (one write in flight while the next megabyte
//! arrives) and streams downloads from a producer task.

use crate::body::{read_blocking, Frames, ReadBufs, SYNC_EVERY};
use crate::config::{BitsOptions, Config, VirtualFile};
use crate::proto::{
    self, header as bh, BitsError, ContentRange, PacketType, Precondition, RangeRequest, Validators,
};
use crate::store::{self, SessionMeta, Store};
use bytes::Bytes;
use fakedc_model::{FaultKind, Model, Record, ServiceKind};
use fakedc_net::auth::{self, NtlmOffer, Outcome, Policy};
use fakedc_net::{
    full, Body, BoxFuture, ConnInfo, HttpRequest, HttpResponse, HttpService, Services,
};
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, StatusCode};
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::OwnedMutexGuard;
use tracing::{debug, info_span, Instrument};

pub use fakedc_net::OptionsError;

/// Parses and checks one machine's `[machine.options.bits]`.
pub fn validate(m: &fakedc_model::Machine) -> Result<Config, OptionsError> {
    let err = |message: String| OptionsError::new(&m.name, "bits", message);
    let opts: BitsOptions = match m.options.get("bits") {
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| err(e.to_string()))?,
        None => BitsOptions::default(),
    };
    opts.validate().map_err(err)
}

/// Download chunk size (read from disk or generated, then sent): a
/// megabyte, so the hand-offs to the blocking pool and back (a thread
/// wake-up each) are few per gigabyte.
const READ_CHUNK: usize = 1 << 20;
/// Download chunks buffered ahead of the socket.
const READ_AHEAD: usize = 2;
/// `Range` requests with more ranges than this are served whole.
const MAX_RANGES: usize = 32;
/// Closed session ids remembered so a repeated Close-Session (its Ack was
/// lost) is answered Ack instead of "not found".
const MAX_TOMBSTONES: usize = 1024;

/// The endpoints BITS answers on: HTTPS 443 on Windows hosts and ESXi,
/// and plain HTTP where a scenario enables `bits-http`.
pub const KINDS: [ServiceKind; 3] = [
    ServiceKind::Bits,
    ServiceKind::EsxiHttps,
    ServiceKind::BitsHttp,
];

/// Registers BITS on every machine's BITS (443), ESXi HTTPS (443) and
/// BITS HTTP (80) endpoints, validating each machine's options first.
/// ESXi's is registered under "/" so the vSphere SDK can take "/sdk" later
/// (the longest prefix wins).
pub fn register(services: &mut Services, model: &Arc<Model>) -> Result<(), OptionsError> {
    let shared = Arc::new(Shared::new(model)?);
    for kind in KINDS {
        services.http(
            kind,
            "/",
            Arc::new(BitsHttp {
                shared: shared.clone(),
            }),
        );
    }
    Ok(())
}

/// What `/about` lists.
pub fn operations() -> Vec<String> {
    [
        "BITS_POST Ping",
        "BITS_POST Create-Session (BITS 1.5 upload protocol)",
        "BITS_POST Fragment (Content-Range; 416 on a gap; overlap applies only the new tail)",
        "BITS_POST Close-Session (fsync + atomic rename into the share)",
        "BITS_POST Cancel-Session",
        "upload sessions survive a restart on the same data directory; idle expiry",
        "GET / HEAD with Range (single and multipart/byteranges), If-Range, If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since",
        "virtual files from a deterministic generator",
        "Authentication: Basic (HTTPS; HTTP with allow_basic_over_http), NTLM and Negotiate (raw or SPNEGO-wrapped NTLMv2), connection-based",
        "HTTPS 443; plain HTTP on 80 where a scenario enables bits-http",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// State shared by the BITS and ESXi registrations: one entry per machine
/// that has either endpoint, so both views see the same sessions.
struct Shared {
    model: Arc<Model>,
    machines: Vec<Option<Arc<MachineBits>>>,
}

impl Shared {
    fn new(model: &Arc<Model>) -> Result<Shared, OptionsError> {
        let mut machines = Vec::with_capacity(model.machines().len());
        for m in model.machines() {
            if KINDS.iter().all(|k| m.endpoint(*k).is_none()) {
                machines.push(None);
                continue;
            }
            let cfg = validate(m)?;
            machines.push(Some(Arc::new(MachineBits {
                name: m.name.clone(),
                realm: m.dns_name.clone(),
                server: cfg
                    .server
                    .as_deref()
                    .and_then(|s| HeaderValue::from_str(s).ok()),
                cfg,
                store: m
                    .share
                    .clone()
                    .map(|s| Store::new(s).with_quota(model.share_quota(m.id))),
                sessions: Mutex::new(Table::default()),
            })));
        }
        Ok(Shared {
            model: model.clone(),
            machines,
        })
    }
}

/// One machine's BITS state.
struct MachineBits {
    name: String,
    /// The Basic realm: the machine's DNS name, like IIS.
    realm: String,
    /// A scenario's explicit `Server` header (else the front's).
    server: Option<HeaderValue>,
    cfg: Config,
    /// `None` when the machine has no share (uploads and file downloads
    /// are refused; virtual files still work).
    store: Option<Store>,
    sessions: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    /// Sessions on disk are read on first use, not at registration, so
    /// `fakedc list`/`check` never touch a share.
    loaded: bool,
    map: HashMap<String, Arc<Session>>,
    closed: VecDeque<String>,
}

/// An upload session.
struct Session {
    key: String,
    id: String,
    path: Vec<String>,
    owner: String,
    created_ms: u64,
    last_active_ms: AtomicU64,
    /// Held for the whole of a fragment, a close or a cancel; the write in
    /// flight owns it, so a request dropped mid-fragment (connection reset)
    /// releases it only after its last write landed and was counted.
    data: Arc<tokio::sync::Mutex<SessionData>>,
}

struct SessionData {
    file: Option<Arc<File>>,
    /// Bytes received contiguously from 0 (= the session file's length).
    received: u64,
    total: Option<u64>,
    /// Closed, cancelled or expired while a request waited for the lock.
    gone: bool,
    /// Flush-behind: once `received` passes this, an `fdatasync` starts in
    /// the background, so Close-Session's fsync finds little left to write.
    next_sync: u64,
    syncing: Arc<AtomicBool>,
}

type Guard = OwnedMutexGuard<SessionData>;

impl MachineBits {
    fn lock_table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Loads the sessions on disk the first time, then drops those idle
    /// too long (unless a request holds them).
    fn sweep(&self, now_ms: u64) {
        let mut expired = Vec::new();
        {
            let mut t = self.lock_table();
            if !t.loaded {
                t.loaded = true;
                if let Some(store) = &self.store {
                    for l in store.load_all() {
                        let key = proto::session_key(&l.meta.id);
                        t.map.insert(
                            key.clone(),
                            Arc::new(Session {
                                key,
                                id: l.meta.id,
                                path: l.meta.path,
                                owner: l.meta.owner,
                                created_ms: l.meta.created_ms,
                                last_active_ms: AtomicU64::new(l.last_active_ms),
                                data: Arc::new(tokio::sync::Mutex::new(SessionData {
                                    file: None,
                                    received: l.received,
                                    total: l.meta.total,
                                    gone: false,
                                    next_sync: l.received + SYNC_EVERY,
                                    syncing: Arc::default(),
                                })),
                            }),
                        );
                    }
                }
            }
            let idle = self.cfg.idle;
            t.map.retain(|_, s| {
                if !proto::is_expired(s.last_active_ms.load(Ordering::Relaxed), now_ms, idle) {
                    return true;
                }
                match s.data.clone().try_lock_owned() {
                    Ok(mut g) => {
                        g.gone = true;
                        expired.push(s.clone());
                        false
                    }
                    Err(_) => true,
                }
            });
        }
        for s in expired {
            debug!(session = %s.id, "upload session expired");
            if let Some(store) = &self.store {
                store.remove(&s.key);
            }
        }
    }

    fn get(&self, id: &str) -> Option<Arc<Session>> {
        if !proto::is_valid_session_id(id) {
            return None;
        }
        self.lock_table().map.get(&proto::session_key(id)).cloned()
    }

    fn forget(&self, key: &str, closed: bool) {
        let mut t = self.lock_table();
        t.map.remove(key);
        if closed {
            t.closed.push_back(key.to_string());
            while t.closed.len() > MAX_TOMBSTONES {
                t.closed.pop_front();
            }
        }
    }

    fn was_closed(&self, id: &str) -> bool {
        let key = proto::session_key(id);
        self.lock_table().closed.contains(&key)
    }
}

/// The registered HTTP service.
struct BitsHttp {
    shared: Arc<Shared>,
}

impl HttpService for BitsHttp {
    fn call(&self, req: HttpRequest, conn: Arc<ConnInfo>) -> BoxFuture<HttpResponse> {
        let shared = self.shared.clone();
        let span = info_span!(
            "request",
            method = %req.method(),
            path = %req.uri().path(),
            machine = %conn.machine_name
        );
        Box::pin(
            async move {
                let Some(m) = shared.machines.get(conn.machine.0).cloned().flatten() else {
                    return plain(StatusCode::NOT_FOUND, "Not Found");
                };
                let server = m.server.clone();
                let mut cx = Cx {
                    model: shared.model.clone(),
                    m,
                    conn,
                    started: shared.model.clock.now(),
                    user: None,
                    final_auth: None,
                };
                let mut resp = cx.handle(req).await;
                if let Some(server) = server {
                    resp.headers_mut().insert(header::SERVER, server);
                }
                if let Some(v) = cx.final_auth.take() {
                    resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                resp
            }
            .instrument(span),
        )
    }
}

/// One request's context.
struct Cx {
    model: Arc<Model>,
    m: Arc<MachineBits>,
    conn: Arc<ConnInfo>,
    started: Instant,
    user: Option<String>,
    /// SPNEGO's closing token, sent as `WWW-Authenticate` on the answer to
    /// the request that completed a wrapped Negotiate handshake.
    final_auth: Option<HeaderValue>,
}

/// What authenticating a request found.
enum Auth {
    User(String),
    Anonymous,
    /// Refused; the reason goes to the journal (never a credential).
    Denied(String),
    /// An NTLM NEGOTIATE: answer 401 with this `WWW-Authenticate` value.
    Challenge(String),
}

impl Cx {
    fn journal(&self, operation: String, outcome: String) {
        self.model.journal.record(Record {
            machine: self.m.name.clone(),
            service: self.conn.service.name().into(),
            peer: Some(self.conn.peer),
            user: self.user.clone(),
            operation,
            outcome,
            latency: self.model.clock.since(self.started),
        });
    }

    /// What this request may authenticate with: Basic where allowed (TLS,
    /// or plain HTTP when the scenario says so), Negotiate and NTLM as IIS
    /// offers them (the shared authenticator accepts NTLM only where the
    /// machine's web server offers it: never on ESXi).
    fn policy(&self) -> Policy<'_> {
        Policy {
            basic: self.basic_allowed(),
            basic_realm: &self.m.realm,
            ntlm: NtlmOffer::NegotiateAndNtlm,
            digest: None,
        }
    }

    /// Authenticates a request against the machine's users through the
    /// shared authenticator (`fakedc_net::auth`). A request without
    /// `Authorization` on a connection NTLM authenticated earlier is that
    /// user's, as on IIS.
    fn authenticate(&mut self, headers: &HeaderMap) -> Auth {
        let auth = match headers.get(header::AUTHORIZATION).map(|v| v.to_str()) {
            None => None,
            Some(Ok(t)) => Some(t),
            Some(Err(_)) => return Auth::Denied("undecodable Authorization header".into()),
        };
        let scheme = auth.map(|a| a.trim().split_once(' ').map_or(a.trim(), |s| s.0));
        if scheme.is_some_and(|s| s.eq_ignore_ascii_case("basic")) && !self.basic_allowed() {
            return Auth::Denied("Basic over plain HTTP is not allowed".into());
        }
        let policy = self.policy();
        let out = auth::with_ntlm(&self.conn, STATE_KEY, |st| {
            auth::authenticate(&self.model, &self.conn, st, &policy, auth, "", "")
        });
        match out {
            Outcome::Authenticated {
                login,
                reply_header,
            } => {
                self.final_auth = reply_header.and_then(|h| HeaderValue::from_str(&h).ok());
                Auth::User(login.user.name)
            }
            Outcome::Connection(login) => Auth::User(login.user.name),
            Outcome::Anonymous => Auth::Anonymous,
            Outcome::Challenge(h) => Auth::Challenge(h),
            Outcome::Refused { reason, .. } | Outcome::Malformed(reason) => {
                debug!(%reason, "authentication refused");
                Auth::Denied(reason)
            }
        }
    }

    /// Basic sends the password in clear: over TLS always, over plain
    /// HTTP only when the scenario says so.
    fn basic_allowed(&self) -> bool {
        self.conn.tls || self.m.cfg.allow_basic_over_http
    }

    /// A 401. Without a challenge it offers what IIS offers with Windows
    /// and Basic authentication on: Negotiate, NTLM and (where allowed)
    /// Basic, as separate headers; with one, only the CHALLENGE.
    fn unauthorized(&self, bits: bool, challenge: Option<&str>) -> HttpResponse {
        let mut r = if bits {
            empty(StatusCode::UNAUTHORIZED)
        } else {
            plain(
                StatusCode::UNAUTHORIZED,
                "401 - Unauthorized: Access is denied due to invalid credentials.",
            )
        };
        let h = r.headers_mut();
        if let Some(c) = challenge {
            if let Ok(v) = HeaderValue::from_str(c) {
                h.append(header::WWW_AUTHENTICATE, v);
            }
            return r;
        }
        for c in auth::challenges(&self.model, &self.conn, &self.policy(), false) {
            if let Ok(v) = HeaderValue::from_str(&c) {
                h.append(header::WWW_AUTHENTICATE, v);
            }
        }
        r
    }

    /// Journals a refused request and builds its 401. A challenge answer
    /// first drains a small body (clients that send one with the
    /// NEGOTIATE), so the connection, which carries the handshake, stays
    /// open for the AUTHENTICATE.
    async fn refuse(
        &mut self,
        op: String,
        auth: Auth,
        req: HttpRequest,
        bits: bool,
    ) -> HttpResponse {
        match auth {
            Auth::Challenge(c) => {
                self.journal(op, "401 NTLM challenge sent".into());
                let t = self.m.cfg.read_timeout;
                if tokio::time::timeout(t, drain_small(req.into_body()))
                    .await
                    .unwrap_or(false)
                {
                    self.unauthorized(bits, Some(&c))
                } else {
                    let mut r = self.unauthorized(bits, Some(&c));
                    r.headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                    r
                }
            }
            Auth::Denied(why) => {
                self.journal(op, format!("401 unauthorized: {why}"));
                self.unauthorized(bits, None)
            }
            Auth::Anonymous | Auth::User(_) => {
                self.journal(op, "401 unauthorized".into());
                self.unauthorized(bits, None)
            }
        }
    }

    async fn handle(&mut self, req: HttpRequest) -> HttpResponse {
        let method = req.method().clone();
        if method.as_str().eq_ignore_ascii_case(proto::BITS_POST) {
            return self.bits_post(req).await;
        }
        match method {
            Method::GET | Method::HEAD => self.download(req).await,
            Method::OPTIONS => {
                let mut r = empty(StatusCode::OK);
                r.headers_mut().insert(
                    header::ALLOW,
                    HeaderValue::from_static("OPTIONS, GET, HEAD, BITS_POST"),
                );
                r
            }
            _ => {
                let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
                r.headers_mut().insert(
                    header::ALLOW,
                    HeaderValue::from_static("OPTIONS, GET, HEAD, BITS_POST"),
                );
                r
            }
        }
    }

    // ----- uploads -----

    async fn bits_post(&mut self, req: HttpRequest) -> HttpResponse {
        let path = req.uri().path().to_string();
        let Some(packet) = header_str(req.headers(), bh::PACKET_TYPE).and_then(PacketType::parse)
        else {
            let e = BitsError::InvalidArg("missing or unknown BITS-Packet-Type".into());
            self.journal(format!("BITS_POST {path}"), outcome(&e));
            return bits_error(&e, None, None);
        };
        let op = packet.name().to_ascii_lowercase();
        match self.authenticate(req.headers()) {
            Auth::User(u) => self.user = Some(u),
            Auth::Anonymous if packet == PacketType::Ping && self.m.cfg.anonymous_ping => {}
            denied => return self.refuse(format!("{op} {path}"), denied, req, true).await,
        }
        self.m.sweep(store::ms(self.model.clock.wall()));
        match packet {
            PacketType::Ping => {
                self.journal(format!("ping {path}"), "ok".into());
                ack(StatusCode::OK)
            }
            PacketType::CreateSession => self.create_session(req).await,
            PacketType::Fragment => self.fragment(req).await,
            PacketType::CloseSession => self.close_session(req).await,
            PacketType::CancelSession => self.cancel_session(req).await,
        }
    }

    fn store(&self) -> Result<Store, BitsError> {
        self.m
            .store
            .clone()
            .ok_or_else(|| BitsError::AccessDenied("this machine has no share".into()))
    }

    async fn create_session(&mut self, req: HttpRequest) -> HttpResponse {
        let raw_path = req.uri().path().to_string();
        let r = self.try_create(&req).await;
        match r {
            Ok((id, path)) => {
                self.journal(
                    format!("create-session {}", proto::join_components(&path)),
                    format!("ok {id}"),
                );
                let mut r = ack(StatusCode::OK);
                let h = r.headers_mut();
                h.insert(
                    HeaderName::from_static("bits-protocol"),
                    HeaderValue::from_static(proto::PROTOCOL_BITS_1_5),
                );
                if let Ok(v) = HeaderValue::from_str(&id) {
                    h.insert(HeaderName::from_static("bits-session-id"), v);
                }
                h.insert(
                    header::ACCEPT_ENCODING,
                    HeaderValue::from_static("Identity"),
                );
                r
            }
            Err(e) => {
                self.journal(format!("create-session {raw_path}"), outcome(&e));
                bits_error(&e, None, None)
            }
        }
    }

    async fn try_create(&self, req: &HttpRequest) -> Result<(String, Vec<String>), BitsError> {
        let offered = header_str(req.headers(), bh::SUPPORTED_PROTOCOLS).unwrap_or("");
        if !proto::supports_protocol(offered) {
            return Err(BitsError::InvalidArg(
                "BITS-Supported-Protocols does not offer BITS 1.5 upload".into(),
            ));
        }
        let path = proto::normalize_path(req.uri().path())?;
        if path.is_empty() {
            return Err(BitsError::AccessDenied(
                "cannot upload to the share root".into(),
            ));
        }
        if !self.m.cfg.upload_allowed(&path) {
            return Err(BitsError::AccessDenied(format!(
                "uploads are not allowed to {}",
                proto::join_components(&path)
            )));
        }
        if self
            .m
            .cfg
            .virtual_files
            .contains_key(&proto::join_components(&path))
        {
            return Err(BitsError::AccessDenied(
                "virtual files are read-only".into(),
            ));
        }
        let store = self.store()?;
        let open = self.m.lock_table().map.len();
        if open >= self.m.cfg.max_sessions {
            return Err(BitsError::TooManySessions(self.m.cfg.max_sessions));
        }
        let id = proto::new_session_id(rand::random());
        let key = proto::session_key(&id);
        let now = store::ms(self.model.clock.wall());
        let meta = SessionMeta {
            id: id.clone(),
            path: path.clone(),
            owner: self.user.clone().unwrap_or_default(),
            created_ms: now,
            total: None,
        };
        let allow = self.m.cfg.allow_overwrite;
        let (store2, key2, meta2, path2) = (store.clone(), key.clone(), meta.clone(), path.clone());
        let file = blocking(move || {
            store2.check_upload_target(&path2, allow)?;
            store2.create(&key2, &meta2)
        })
        .await?;
        let session = Arc::new(Session {
            key: key.clone(),
            id: id.clone(),
            path: path.clone(),
            owner: meta.owner,
            created_ms: now,
            last_active_ms: AtomicU64::new(now),
            data: Arc::new(tokio::sync::Mutex::new(SessionData {
                file: Some(Arc::new(file)),
                received: 0,
                total: None,
                gone: false,
                next_sync: SYNC_EVERY,
                syncing: Arc::default(),
            })),
        });
        self.m.lock_table().map.insert(key, session);
        Ok((id, path))
    }

    /// Finds the request's session and locks it: unknown ids, sessions of
    /// another user and sessions for another URL are refused.
    async fn session_for(&self, req: &HttpRequest) -> Result<(Arc<Session>, Guard), BitsError> {
        let id = header_str(req.headers(), bh::SESSION_ID)
            .unwrap_or("")
            .trim();
        let s = self.m.get(id).ok_or(BitsError::SessionNotFound)?;
        if self.user.as_deref() != Some(s.owner.as_str()) && !s.owner.is_empty() {
            return Err(BitsError::AccessDenied(
                "the session belongs to another user".into(),
            ));
        }
        let path = proto::normalize_path(req.uri().path())?;
        if path != s.path {
            return Err(BitsError::InvalidArg(format!(
                "session {} uploads to {}, not {}",
                s.id,
                proto::join_components(&s.path),
                proto::join_components(&path)
            )));
        }
        let guard = s.data.clone().lock_owned().await;
        if guard.gone {
            return Err(BitsError::SessionNotFound);
        }
        Ok((s, guard))
    }

    /// The remaining budget of a `reset-after` rule on this connection:
    /// for uploads the rule counts fragment bytes received (the network
    /// layer counts bytes sent, which covers downloads).
    fn reset_budget(&self) -> Option<u64> {
        let limit = self
            .model
            .faults
            .matching(&self.m.name, self.conn.service.name())
            .into_iter()
            .filter_map(|f| match f {
                FaultKind::ResetAfter { bytes } => Some(bytes),
                _ => None,
            })
            .min()?;
        Some(limit.saturating_sub(conn_body_bytes(&self.conn)))
    }

    async fn fragment(&mut self, req: HttpRequest) -> HttpResponse {
        let id = header_str(req.headers(), bh::SESSION_ID)
            .unwrap_or("")
            .trim()
            .chars()
            .take(proto::MAX_SESSION_ID_LEN)
            .collect::<String>();
        let cr_text = header_str(req.headers(), "content-range")
            .unwrap_or("")
            .chars()
            .take(100)
            .collect::<String>();
        let op = format!("fragment {id} {cr_text}");
        let (session, guard) = match self.session_for(&req).await {
            Ok(x) => x,
            Err(e) => {
                self.journal(op, outcome(&e));
                return bits_error(&e, Some(&id), None);
            }
        };
        let (plan, cr, guard) = match self.plan(&req, &session, guard).await {
            Ok(x) => x,
            Err((e, received)) => {
                self.journal(op, outcome(&e));
                return bits_error(&e, Some(&session.id), received);
            }
        };
        let Some(file) = guard.file.clone() else {
            let e = BitsError::Internal("session file not open".into());
            self.journal(op, outcome(&e));
            return bits_error(&e, Some(&session.id), None);
        };
        // The new bytes are reserved from the machine's quota before any
        // is read: a fragment that does not fit writes nothing, and the
        // upload stays invisible (only Close-Session publishes it).
        let store = match self.store() {
            Ok(s) => s,
            Err(e) => return bits_error(&e, Some(&session.id), None),
        };
        let reserved = plan.write_len;
        let s2 = store.clone();
        if let Err(e) = blocking(move || s2.reserve(reserved)).await {
            self.journal(op, outcome(&e));
            return bits_error(&e, Some(&session.id), Some(guard.received));
        }
        let before = guard.received;
        let budget = self.reset_budget();
        let rx = receive(
            req.into_body(),
            guard,
            file,
            &cr,
            &plan,
            self.m.cfg.read_timeout,
            budget,
        )
        .await;
        add_conn_body_bytes(&self.conn, rx.body_bytes);
        session
            .last_active_ms
            .store(store::ms(self.model.clock.wall()), Ordering::Relaxed);
        let Some(guard) = rx.guard else {
            // The write task died: what it wrote is unknown, and the next
            // refusal's walk of the share counts it again.
            store.release(reserved);
            let e = BitsError::Internal("write task failed".into());
            self.journal(op, outcome(&e));
            return bits_error(&e, Some(&session.id), None);
        };
        // What was reserved and not written (a short or reset body).
        store.release(reserved.saturating_sub(guard.received.saturating_sub(before)));
        let received = guard.received;
        drop(guard);
        match rx.end {
            End::Complete => {
                self.journal(op, format!("ok received {received}"));
                let mut r = ack(StatusCode::OK);
                set_session_headers(&mut r, &session.id, Some(received));
                r
            }
            End::Reset => {
                self.journal(op, format!("reset by fault rule (received {received})"));
                reset_response()
            }
            End::Short => {
                let e = BitsError::InvalidArg("the body is shorter than its Content-Range".into());
                self.journal(op, format!("{} (received {received})", outcome(&e)));
                bits_error(&e, Some(&session.id), Some(received))
            }
            End::TooLong => {
                let e = BitsError::InvalidArg("the body is longer than its Content-Range".into());
                self.journal(op, format!("{} (received {received})", outcome(&e)));
                bits_error(&e, Some(&session.id), Some(received))
            }
            End::Timeout => {
                self.journal(op, format!("body stalled; dropped (received {received})"));
                bits_error(
                    &BitsError::InvalidArg("request body timed out".into()),
                    Some(&session.id),
                    Some(received),
                )
            }
            End::BodyError(why) => {
                self.journal(op, format!("connection lost: {why} (received {received})"));
                bits_error(
                    &BitsError::InvalidArg("request body failed".into()),
                    Some(&session.id),
                    Some(received),
                )
            }
            End::WriteError(why) => {
                let e = BitsError::Internal(why);
                self.journal(op, outcome(&e));
                bits_error(&e, Some(&session.id), Some(received))
            }
        }
    }

    /// Checks a fragment's headers against its session and the limits,
    /// fixes the session's total on the first fragment and opens the
    /// session file after a restart. Errors carry the received length
    /// where the client needs it (416).
    async fn plan(
        &self,
        req: &HttpRequest,
        session: &Session,
        mut guard: Guard,
    ) -> Result<(proto::FragmentPlan, ContentRange, Guard), (BitsError, Option<u64>)> {
        let h = req.headers();
        let cr = header_str(h, "content-range")
            .ok_or_else(|| BitsError::InvalidArg("a fragment needs Content-Range".into()))
            .and_then(proto::parse_content_range)
            .map_err(|e| (e, None))?;
        if let Some(enc) = header_str(h, "content-encoding") {
            if !enc.trim().eq_ignore_ascii_case("identity") {
                return Err((
                    BitsError::InvalidArg("only identity encoding is accepted".into()),
                    None,
                ));
            }
        }
        if let Some(cl) = header_str(h, "content-length") {
            if cl.trim().parse::<u64>().ok() != Some(cr.len()) {
                return Err((
                    BitsError::InvalidArg("Content-Length differs from Content-Range".into()),
                    None,
                ));
            }
        }
        let plan = proto::plan_fragment(guard.received, guard.total, &cr, &self.m.cfg.limits)
            .map_err(|e| {
                let received = matches!(e, BitsError::Gap { .. }).then_some(guard.received);
                (e, received)
            })?;
        let store = self.store().map_err(|e| (e, None))?;
        if guard.total.is_none() {
            let meta = SessionMeta {
                id: session.id.clone(),
                path: session.path.clone(),
                owner: session.owner.clone(),
                created_ms: session.created_ms,
                total: Some(cr.total),
            };
            let (s2, key) = (store.clone(), session.key.clone());
            blocking(move || s2.save_meta(&key, &meta))
                .await
                .map_err(|e| (e, None))?;
            guard.total = Some(cr.total);
        }
        if guard.file.is_none() {
            let (s2, key) = (store.clone(), session.key.clone());
            let f = blocking(move || s2.open_part(&key))
                .await
                .map_err(|e| (e, None))?;
            guard.file = Some(Arc::new(f));
        }
        Ok((plan, cr, guard))
    }

    async fn close_session(&mut self, req: HttpRequest) -> HttpResponse {
        let id = header_str(req.headers(), bh::SESSION_ID)
            .unwrap_or("")
            .trim()
            .to_string();
        let (session, mut guard) = match self.session_for(&req).await {
            Ok(x) => x,
            Err(BitsError::SessionNotFound) if self.m.was_closed(&id) => {
                self.journal(format!("close-session {id}"), "ok (already closed)".into());
                let mut r = ack(StatusCode::OK);
                set_session_headers(&mut r, &id, None);
                return r;
            }
            Err(e) => {
                self.journal(format!("close-session {id}"), outcome(&e));
                return bits_error(&e, None, None);
            }
        };
        let op = format!(
            "close-session {} {}",
            session.id,
            proto::join_components(&session.path)
        );
        let complete = match guard.total {
            Some(t) => guard.received == t,
            None => guard.received == 0,
        };
        if !complete {
            let e = BitsError::InvalidArg(format!(
                "only {} of {} bytes were received",
                guard.received,
                guard.total.unwrap_or(0)
            ));
            self.journal(op, outcome(&e));
            return bits_error(&e, Some(&session.id), Some(guard.received));
        }
        let store = match self.store() {
            Ok(s) => s,
            Err(e) => return bits_error(&e, Some(&session.id), None),
        };
        let file = match guard.file.clone() {
            Some(f) => Ok(f),
            None => {
                let (s2, key) = (store.clone(), session.key.clone());
                blocking(move || s2.open_part(&key)).await.map(Arc::new)
            }
        };
        let allow = self.m.cfg.allow_overwrite;
        let (key, path) = (session.key.clone(), session.path.clone());
        let r = match file {
            Ok(f) => blocking(move || store.commit(&key, &f, &path, allow)).await,
            Err(e) => Err(e),
        };
        match r {
            Ok(_) => {
                guard.gone = true;
                guard.file = None;
                let n = guard.received;
                drop(guard);
                self.m.forget(&session.key, true);
                self.journal(op, format!("ok {n} bytes"));
                let mut r = ack(StatusCode::OK);
                set_session_headers(&mut r, &session.id, None);
                r
            }
            Err(e) => {
                self.journal(op, outcome(&e));
                bits_error(&e, Some(&session.id), None)
            }
        }
    }

    async fn cancel_session(&mut self, req: HttpRequest) -> HttpResponse {
        let id = header_str(req.headers(), bh::SESSION_ID)
            .unwrap_or("")
            .trim()
            .to_string();
        match self.session_for(&req).await {
            Ok((session, mut guard)) => {
                guard.gone = true;
                guard.file = None;
                drop(guard);
                self.m.forget(&session.key, false);
                if let Some(store) = self.m.store.clone() {
                    let key = session.key.clone();
                    let _ = blocking(move || {
                        store.remove(&key);
                        Ok(())
                    })
                    .await;
                }
                self.journal(format!("cancel-session {}", session.id), "ok".into());
                let mut r = ack(StatusCode::OK);
                set_session_headers(&mut r, &session.id, None);
                r
            }
            Err(e) => {
                self.journal(format!("cancel-session {id}"), outcome(&e));
                bits_error(&e, None, None)
            }
        }
    }

    // ----- downloads -----

    async fn download(&mut self, req: HttpRequest) -> HttpResponse {
        let head = req.method() == Method::HEAD;
        let raw_path = req.uri().path().to_string();
        let range_text =
            header_str(req.headers(), "range").map(|r| r.chars().take(100).collect::<String>());
        let op = match &range_text {
            Some(r) => format!("{} {raw_path} {r}", req.method()),
            None => format!("{} {raw_path}", req.method()),
        };
        match self.authenticate(req.headers()) {
            Auth::User(u) => self.user = Some(u),
            denied => return self.refuse(op, denied, req, false).await,
        }
        let source = match self.open_source(&raw_path).await {
            Ok(s) => s,
            Err(e) => {
                self.journal(op, outcome(&e));
                let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::NOT_FOUND);
                return plain(status, status.canonical_reason().unwrap_or(""));
            }
        };
        let len = source.len();
        let v = Validators::new(source.modified(), len);
        let h = req.headers();
        let conds = proto::Conditions {
            if_match: header_str(h, "if-match"),
            if_unmodified_since: header_str(h, "if-unmodified-since"),
            if_none_match: header_str(h, "if-none-match"),
            if_modified_since: header_str(h, "if-modified-since"),
            if_range: header_str(h, "if-range"),
        };
        let mut honor_range = true;
        match proto::evaluate(&conds, &v) {
            Precondition::Failed => {
                self.journal(op, "412 precondition failed".into());
                let mut r = empty(StatusCode::PRECONDITION_FAILED);
                set_validators(&mut r, &v);
                return r;
            }
            Precondition::NotModified => {
                self.journal(op, "304 not modified".into());
                let mut r = empty(StatusCode::NOT_MODIFIED);
                set_validators(&mut r, &v);
                return r;
            }
            Precondition::Proceed { honor_range: h } => honor_range = honor_range && h,
        }
        let range = match (honor_range, range_text.as_deref()) {
            (true, Some(r)) => proto::parse_range(r, len, MAX_RANGES),
            _ => RangeRequest::Full,
        };
        let (status, body_len, segments, content_type, content_range) = match range {
            RangeRequest::Full => (
                StatusCode::OK,
                len,
                vec![Segment::Data { off: 0, len }],
                "application/octet-stream".to_string(),
                None,
            ),
            RangeRequest::Partial(ranges) if ranges.len() == 1 => {
                let (a, b) = ranges[0];
                (
                    StatusCode::PARTIAL_CONTENT,
                    b - a + 1,
                    vec![Segment::Data {
                        off: a,
                        len: b - a + 1,
                    }],
                    "application/octet-stream".to_string(),
                    Some(format!("bytes {a}-{b}/{len}")),
                )
            }
            RangeRequest::Partial(ranges) => {
                let boundary = format!("{:016x}", rand::random::<u64>());
                let mut segs = Vec::with_capacity(ranges.len() * 2 + 1);
                for &(a, b) in &ranges {
                    segs.push(Segment::Bytes(Bytes::from(proto::multipart_part_header(
                        &boundary, a, b, len,
                    ))));
                    segs.push(Segment::Data {
                        off: a,
                        len: b - a + 1,
                    });
                }
                segs.push(Segment::Bytes(Bytes::from(proto::multipart_end(&boundary))));
                (
                    StatusCode::PARTIAL_CONTENT,
                    proto::multipart_len(&boundary, &ranges, len),
                    segs,
                    format!("multipart/byteranges; boundary={boundary}"),
                    None,
                )
            }
            RangeRequest::Unsatisfiable => {
                self.journal(op, format!("416 range not satisfiable (length {len})"));
                let mut r = empty(StatusCode::RANGE_NOT_SATISFIABLE);
                insert(&mut r, header::CONTENT_RANGE, &format!("bytes */{len}"));
                set_validators(&mut r, &v);
                return r;
            }
        };
        self.journal(
            op,
            format!(
                "{} {body_len} bytes{}",
                status.as_u16(),
                if head { " (head)" } else { "" }
            ),
        );
        let body = if head || body_len == 0 {
            full(Bytes::new())
        } else {
            stream_body(source, segments, body_len)
        };
        let mut r = hyper::Response::new(body);
        *r.status_mut() = status;
        insert(&mut r, header::CONTENT_LENGTH, &body_len.to_string());
        insert(&mut r, header::CONTENT_TYPE, &content_type);
        if let Some(cr) = content_range {
            insert(&mut r, header::CONTENT_RANGE, &cr);
        }
        r.headers_mut()
            .insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        set_validators(&mut r, &v);
        r
    }

    async fn open_source(&self, raw_path: &str) -> Result<Source, BitsError> {
        let path = proto::normalize_path(raw_path).map_err(|e| match e {
            BitsError::AccessDenied(_) => BitsError::NotFound,
            e => e,
        })?;
        if let Some(v) = self.m.cfg.virtual_files.get(&proto::join_components(&path)) {
            return Ok(Source::Virtual(v.clone()));
        }
        let store = self.m.store.clone().ok_or(BitsError::NotFound)?;
        let (f, meta) = blocking(move || store.open_download(&path)).await?;
        Ok(Source::File {
            file: Arc::new(f),
            len: meta.len(),
            modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        })
    }
}

/// What a download reads from.
#[derive(Clone)]
enum Source {
    File {
        file: Arc<File>,
        len: u64,
        modified: SystemTime,
    },
    Virtual(VirtualFile),
}

impl Source {
    fn len(&self) -> u64 {
        match self {
            Source::File { len, .. } => *len,
            Source::Virtual(v) => v.size,
        }
    }

    fn modified(&self) -> SystemTime {
        match self {
            Source::File { modified, .. } => *modified,
            Source::Virtual(v) => v.modified,
        }
    }

    /// Fills `buf` with the bytes at `off` (read or generated); blocking.
    fn read_into(&self, off: u64, buf: &mut [u8]) -> io::Result<()> {
        match self {
            Source::File { file, .. } => file.read_exact_at(buf, off),
            Source::Virtual(v) => {
                proto::fill_virtual(v.seed, off, buf);
                Ok(())
            }
        }
    }
}

/// A piece of a download body.
enum Segment {
    Bytes(Bytes),
    Data { off: u64, len: u64 },
}

/// Streams the segments through a small channel filled by a producer task
/// (disk reads off the async workers, a few chunks ahead of the socket).
/// The producer stops when the client goes away (the channel closes).
fn stream_body(source: Source, segments: Vec<Segment>, total: u64) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(READ_AHEAD);
    tokio::spawn(async move {
        let mut bufs = ReadBufs::new(READ_CHUNK, READ_AHEAD + 2);
        for seg in segments {
            match seg {
                Segment::Bytes(b) => {
                    if tx.send(Ok(b)).await.is_err() {
                        return;
                    }
                }
                Segment::Data { off, len } => {
                    let mut pos = off;
                    let end = off + len;
                    while pos < end {
                        let n = ((end - pos) as usize).min(READ_CHUNK);
                        let src = source.clone();
                        let r = read_blocking(&mut bufs, n, move |b| src.read_into(pos, b)).await;
                        let failed = r.is_err();
                        if tx.send(r).await.is_err() || failed {
                            return;
                        }
                        pos += n as u64;
                    }
                }
            }
        }
    });
    crate::body::ChannelBody::new(rx, total).boxed()
}

/// A body that fails at once: hyper then drops the connection without
/// sending the response, and the network layer (which set SO_LINGER 0 for
/// a `reset-after` rule) turns the close into a TCP reset.
struct ResetBody;

impl hyper::body::Body for ResetBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Poll::Ready(Some(Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "fault rule: reset after N bytes",
        ))))
    }
}

fn reset_response() -> HttpResponse {
    hyper::Response::new(ResetBody.boxed())
}

/// How receiving a fragment body ended.
#[derive(Debug)]
enum End {
    Complete,
    Reset,
    Short,
    TooLong,
    Timeout,
    BodyError(String),
    WriteError(String),
}

struct Received {
    /// `None` only if a write task panicked.
    guard: Option<Guard>,
    end: End,
    body_bytes: u64,
}

/// A write in flight: it owns the session lock and the frames, and hands
/// both back.
type Write = tokio::task::JoinHandle<(Guard, Frames, io::Result<()>)>;

/// Writes `data` at `at` off the async workers; the write owns the session
/// lock and counts the bytes as received only once they are written.
fn spawn_write(mut g: Guard, file: Arc<File>, mut data: Frames, at: u64) -> Write {
    tokio::task::spawn_blocking(move || {
        let r = if at == g.received {
            data.write_at(&file, at)
        } else {
            Err(io::Error::other("write out of order"))
        };
        if r.is_ok() {
            g.received = at + data.len() as u64;
        }
        data.clear();
        (g, data, r)
    })
}

/// Starts a background `fdatasync` of the session file when another
/// [`SYNC_EVERY`] bytes were written and none is running: the disk works
/// while the network does, and the fsync before Close-Session's rename
/// (which must wait) has only the tail left.
fn flush_behind(g: &mut SessionData, file: &Arc<File>) {
    if g.received < g.next_sync || g.syncing.swap(true, Ordering::AcqRel) {
        return;
    }
    g.next_sync = g.received + SYNC_EVERY;
    let (f, flag) = (file.clone(), g.syncing.clone());
    tokio::task::spawn_blocking(move || {
        let _ = f.sync_data();
        flag.store(false, Ordering::Release);
    });
}

/// Waits for a write; on success returns the lock and the emptied list.
async fn finish_write(h: Write) -> Result<(Guard, Frames), (Option<Guard>, String)> {
    match h.await {
        Ok((g, buf, Ok(()))) => Ok((g, buf)),
        Ok((g, _, Err(e))) => Err((Some(g), e.to_string())),
        Err(e) => Err((None, e.to_string())),
    }
}

/// The session lock back: from the write in flight once it landed, with
/// its emptied frame list, or the idle lock when no write is in flight.
async fn lock_back(
    inflight: &mut Option<Write>,
    idle: &mut Option<Guard>,
) -> Result<(Guard, Option<Frames>), (Option<Guard>, String)> {
    match inflight.take() {
        Some(h) => finish_write(h).await.map(|(g, back)| (g, Some(back))),
        None => idle
            .take()
            .map(|g| (g, None))
            .ok_or_else(|| (None, "lost the session lock".into())),
    }
}

/// Streams one fragment's body into the session file: skips the overlap,
/// gathers a megabyte of frames, writes them while the next ones arrive
/// (two frame lists, reused), and keeps whatever arrived before a reset,
/// a timeout or a lost connection (it is valid data; the client's resumed
/// fragment then overlaps it).
async fn receive(
    mut body: Incoming,
    guard: Guard,
    file: Arc<File>,
    cr: &ContentRange,
    plan: &proto::FragmentPlan,
    read_timeout: Duration,
    reset_budget: Option<u64>,
) -> Received {
    let mut idle: Option<Guard> = Some(guard);
    let mut inflight: Option<Write> = None;
    let mut buf = Frames::with_capacity(64);
    let mut buf_at = plan.write_at;
    let mut pos = cr.start;
    let end_pos = cr.end + 1;
    let mut seen = 0u64;
    let mut end = End::Complete;
    let failed = |guard: Option<Guard>, why: String, seen: u64| Received {
        guard,
        end: End::WriteError(why),
        body_bytes: seen,
    };
    loop {
        let frame = match tokio::time::timeout(read_timeout, body.frame()).await {
            Err(_) => {
                end = End::Timeout;
                break;
            }
            Ok(None) => {
                if pos < end_pos {
                    end = End::Short;
                }
                break;
            }
            Ok(Some(Err(e))) => {
                end = End::BodyError(e.to_string());
                break;
            }
            Ok(Some(Ok(f))) => f,
        };
        let Ok(mut data) = frame.into_data() else {
            continue;
        };
        let mut stop = None;
        if let Some(budget) = reset_budget {
            let left = budget.saturating_sub(seen);
            if data.len() as u64 >= left {
                data.truncate(left as usize);
                stop = Some(End::Reset);
            }
        }
        seen += data.len() as u64;
        if pos + data.len() as u64 > end_pos {
            data.truncate((end_pos - pos) as usize);
            stop = Some(End::TooLong);
        }
        let d_start = pos;
        pos += data.len() as u64;
        let frontier = buf_at + buf.len() as u64;
        if pos > frontier {
            let from = frontier.saturating_sub(d_start) as usize;
            buf.push(data.slice(from..));
        }
        if buf.full() {
            // The landed write's list, emptied, takes the next frames.
            let (g, next) = match lock_back(&mut inflight, &mut idle).await {
                Ok((mut g, Some(back))) => {
                    flush_behind(&mut g, &file);
                    (g, back)
                }
                Ok((g, None)) => (g, Frames::default()),
                Err((g, why)) => return failed(g, why, seen),
            };
            let chunk = std::mem::replace(&mut buf, next);
            let at = buf_at;
            buf_at += chunk.len() as u64;
            inflight = Some(spawn_write(g, file.clone(), chunk, at));
        }
        if let Some(s) = stop {
            end = s;
            break;
        }
    }
    // Land what is in flight, then what is buffered, whatever the ending.
    let mut g = match lock_back(&mut inflight, &mut idle).await {
        Ok((g, _)) => g,
        Err((g, why)) => return failed(g, why, seen),
    };
    if !buf.is_empty() {
        g = match finish_write(spawn_write(g, file, buf, buf_at)).await {
            Ok((g, _)) => g,
            Err((g, why)) => return failed(g, why, seen),
        };
    }
    Received {
        guard: Some(g),
        end,
        body_bytes: seen,
    }
}

/// BITS's key in the connection's state map (its NTLM handshake and its
/// byte count live there, apart from any other protocol's).
const STATE_KEY: &str = "bits";

/// Per-connection BITS state kept in [`ConnInfo::state`] (the NTLM
/// handshake is the shared authenticator's `NtlmConn`, under the same key).
#[derive(Default)]
struct ConnState {
    /// Fragment bytes received on this connection (`reset-after`).
    body_bytes: u64,
}

/// Runs `f` on the connection's state (made on first use). Never held
/// across an await.
fn with_conn_state<T>(conn: &ConnInfo, f: impl FnOnce(&mut ConnState) -> T) -> T {
    conn.state.with::<ConnState, T>(STATE_KEY, f)
}

fn conn_body_bytes(conn: &ConnInfo) -> u64 {
    with_conn_state(conn, |st| st.body_bytes)
}

fn add_conn_body_bytes(conn: &ConnInfo, n: u64) {
    with_conn_state(conn, |st| st.body_bytes += n);
}

/// Largest body read (and thrown away) before a 401 challenge, so the
/// connection stays usable for the handshake.
const MAX_DRAIN: usize = 1 << 20;

/// Reads and discards a request body up to [`MAX_DRAIN`]; false when it
/// was larger or failed (the connection must then close).
async fn drain_small(body: Incoming) -> bool {
    http_body_util::Limited::new(body, MAX_DRAIN)
        .collect()
        .await
        .is_ok()
}

/// Runs blocking filesystem work off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BitsError> + Send + 'static,
) -> Result<T, BitsError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(BitsError::Internal(e.to_string())))
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn insert(r: &mut HttpResponse, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

fn set_validators(r: &mut HttpResponse, v: &Validators) {
    insert(
        r,
        header::LAST_MODIFIED,
        &proto::fmt_http_date(v.last_modified),
    );
    insert(r, header::ETAG, &v.etag);
}

/// Every BITS response: `Content-Length: 0` and no body.
fn empty(status: StatusCode) -> HttpResponse {
    let mut r = hyper::Response::new(full(Bytes::new()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    r
}

fn plain(status: StatusCode, text: &str) -> HttpResponse {
    let mut r = hyper::Response::new(full(Bytes::from(text.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn ack(status: StatusCode) -> HttpResponse {
    let mut r = empty(status);
    r.headers_mut().insert(
        HeaderName::from_static("bits-packet-type"),
        HeaderValue::from_static("Ack"),
    );
    r
}

fn set_session_headers(r: &mut HttpResponse, id: &str, received: Option<u64>) {
    if let Ok(v) = HeaderValue::from_str(id) {
        r.headers_mut()
            .insert(HeaderName::from_static("bits-session-id"), v);
    }
    if let Some(n) = received {
        r.headers_mut().insert(
            HeaderName::from_static("bits-received-content-range"),
            HeaderValue::from(n),
        );
    }
}

/// An error Ack: the HTTP status, `BITS-Error-Code` and
/// `BITS-Error-Context: 0x5`; a gap carries the received length instead.
fn bits_error(e: &BitsError, session: Option<&str>, received: Option<u64>) -> HttpResponse {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = ack(status);
    if let Some(id) = session.filter(|s| proto::is_valid_session_id(s)) {
        set_session_headers(&mut r, id, None);
    }
    let received = match e {
        BitsError::Gap { received, .. } => Some(*received),
        _ => received,
    };
    if let Some(n) = received {
        r.headers_mut().insert(
            HeaderName::from_static("bits-received-content-range"),
            HeaderValue::from(n),
        );
    }
    if let Some(code) = e.hresult() {
        insert(
            &mut r,
            HeaderName::from_static("bits-error-code"),
            &proto::format_hresult(code),
        );
        insert(
            &mut r,
            HeaderName::from_static("bits-error-context"),
            &format!("0x{:X}", proto::ERROR_CONTEXT_REMOTE_FILE),
        );
    }
    r
}

fn outcome(e: &BitsError) -> String {
    match e.hresult() {
        Some(code) => format!("{} {} {e}", e.status(), proto::format_hresult(code)),
        None => format!("{} {e}", e.status()),
    }
}
