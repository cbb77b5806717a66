//! The network glue: net.tcp (MC-NMF + NNS + binary SOAP) on 8100/8102 and
//! BasicHttpBinding/WSHttpBinding + WSDL + MEX on 8101 (HTTPS) and 8103
//! (HTTP). Thin: framing, SOAP and the operations are the sans-IO modules.

use crate::contract::{self, Binding, Contract};
use crate::nbfx::{self, Node};
use crate::nmf::{self, Fault as NmfFault, Record};
use crate::nns;
use crate::services::Vmm;
use crate::soap::{self, Fault, Request};
use fakedc_model::{FaultKind, Machine, MachineId, Model, ServiceKind};
use fakedc_net::auth;
use fakedc_net::{
    full, BoxFuture, BoxIo, Conn, ConnInfo, HttpRequest, HttpResponse, HttpService, OptionsError,
    RequestJournal, Services, TcpService,
};
use fakedc_ntlm::Session;
use fakedc_xml::soap::Version;
use http_body_util::BodyExt;
use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::debug;

/// Transport security of the net.tcp service endpoints (MEX is always
/// `mexTcpBinding`, security off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// NetTcpBinding's default: Windows credentials over
    /// `application/negotiate`, EncryptAndSign.
    #[default]
    Windows,
    /// `application/ssl-tls` with the machine's certificate, no client
    /// credential.
    Tls,
    /// SecurityMode.None (no upgrade).
    None,
}

/// `[machine.options.wcf]`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WcfOptions {
    #[serde(default)]
    pub net_tcp_security: Security,
}

pub fn options(machine: &Machine) -> Result<WcfOptions, OptionsError> {
    match machine.options.get("wcf") {
        None => Ok(WcfOptions::default()),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| OptionsError::new(&machine.name, "wcf", e.to_string())),
    }
}

/// The contracts served on each endpoint kind.
pub fn contracts(kind: ServiceKind) -> &'static [&'static Contract] {
    static TCP8100: [&Contract; 2] = [&contract::MANAGEMENT, &contract::TIME_SYNC];
    static TCP8102: [&Contract; 2] = [&contract::MANAGEMENT, &contract::PXE];
    static HTTPS8101: [&Contract; 1] = [&contract::WINPE_AGENT];
    static HTTP8103: [&Contract; 1] = [&contract::TIME_SYNC];
    match kind {
        ServiceKind::WcfTcp8100 => &TCP8100,
        ServiceKind::WcfNetTcp8102 => &TCP8102,
        ServiceKind::WcfHttps8101 => &HTTPS8101,
        ServiceKind::WcfHttp8103 => &HTTP8103,
        _ => &[],
    }
}

/// The endpoint a path names: (contract, is the MEX endpoint, the
/// contract's own path). Paths compare case-insensitively, as HTTP.sys
/// and the net.tcp port sharing service do.
fn resolve(kind: ServiceKind, path: &str) -> Option<(&'static Contract, bool)> {
    let path = path.trim_end_matches('/');
    contracts(kind).iter().find_map(|c| {
        let p = c.path();
        if path.eq_ignore_ascii_case(&p) {
            Some((*c, false))
        } else if path.eq_ignore_ascii_case(&format!("{p}/mex")) {
            Some((*c, true))
        } else {
            None
        }
    })
}

/// What `/about` lists.
pub fn operations() -> Vec<String> {
    let mut out = vec![
        "net.tcp: MC-NMF duplex preamble, application/negotiate (NTLM in SPNEGO, sealed NNS frames), application/ssl-tls, binary SOAP (MC-NBFS/NBFSE)".to_string(),
        "HTTP: BasicHttpBinding (SOAP 1.1), WSHttpBinding without security at <path>/ws (SOAP 1.2)".to_string(),
        "metadata: ?wsdl, ?singleWsdl, WS-MetadataExchange Get at <path>/mex (net.tcp and HTTP)".to_string(),
    ];
    for kind in [
        ServiceKind::WcfTcp8100,
        ServiceKind::WcfHttps8101,
        ServiceKind::WcfNetTcp8102,
        ServiceKind::WcfHttp8103,
    ] {
        for c in contracts(kind) {
            for op in c.ops {
                out.push(format!(
                    "{} {}: {}.{}",
                    kind.name(),
                    c.path(),
                    c.name,
                    op.name
                ));
            }
        }
    }
    out
}

/// Registers net.tcp on 8100/8102 and HTTP on 8101/8103.
pub fn register(services: &mut Services, model: &Arc<Model>) -> Result<(), fakedc_net::StartError> {
    let mut security = HashMap::new();
    for m in model.machines() {
        security.insert(m.id, options(m)?.net_tcp_security);
    }
    let vmm = Arc::new(Vmm::new(model.clone()));
    let tcp = Arc::new(NetTcp {
        model: model.clone(),
        vmm: vmm.clone(),
        security,
    });
    services.tcp(ServiceKind::WcfTcp8100, tcp.clone());
    services.tcp(ServiceKind::WcfNetTcp8102, tcp);
    let http = Arc::new(Http {
        model: model.clone(),
        vmm,
    });
    services.http(ServiceKind::WcfHttps8101, "/VirtualManager/", http.clone());
    services.http(ServiceKind::WcfHttp8103, "/VirtualManager/", http);
    Ok(())
}

/// The outcome of one SOAP exchange.
pub struct Answer {
    pub envelope: Node,
    pub op: String,
    /// `ok` or `fault <name>`.
    pub outcome: String,
    pub is_fault: bool,
}

/// The endpoint a request arrived at.
pub struct Endpoint<'a> {
    pub contract: &'a Contract,
    /// The contract's MEX endpoint rather than the contract itself.
    pub mex: bool,
    pub binding: Binding,
    /// The service address its WSDL names.
    pub address: &'a str,
    /// The path requests must be addressed to (WCF's address filter).
    pub path: &'a str,
}

/// Dispatches one request to an endpoint.
pub fn dispatch(vmm: &Vmm, ep: &Endpoint<'_>, req: &Request, machine: MachineId) -> Answer {
    let (c, mex, binding, address, endpoint_path) =
        (ep.contract, ep.mex, ep.binding, ep.address, ep.path);
    let action = req.action.clone().unwrap_or_default();
    let fault = |op: String, f: Fault| Answer {
        envelope: soap::fault(req, &f),
        op,
        outcome: format!("fault {}", f.name()),
        is_fault: true,
    };
    if let Some((ns, name)) = &req.not_understood {
        return fault(action.clone(), Fault::must_understand(ns, name));
    }
    if let Some(to) = &req.to {
        if !soap::uri_path(to).eq_ignore_ascii_case(soap::uri_path(endpoint_path)) {
            return fault(action.clone(), Fault::destination_unreachable(to));
        }
    }
    if mex {
        if action == soap::MEX_GET {
            return Answer {
                envelope: soap::reply(
                    req,
                    soap::MEX_GET_RESPONSE,
                    contract::mex_metadata(c, binding, address),
                ),
                op: "mex Get".into(),
                outcome: "ok".into(),
                is_fault: false,
            };
        }
        return fault(action.clone(), Fault::action_not_supported(&action));
    }
    let Some(op) = c.op_by_action(&action) else {
        return fault(action.clone(), Fault::action_not_supported(&action));
    };
    let name = format!("{}.{}", c.name, op.name);
    match vmm.call(c, op, req.payload.as_ref(), machine) {
        Ok(v) => Answer {
            envelope: soap::reply(req, &c.reply_action(op), contract::response_node(op, &v)),
            op: name,
            outcome: "ok".into(),
            is_fault: false,
        },
        Err(f) => fault(name, f),
    }
}

fn busy(model: &Model, info: &ConnInfo) -> bool {
    !model.faults.is_empty()
        && model
            .faults
            .matching(&info.machine_name, info.service.name())
            .iter()
            .any(|f| matches!(f, FaultKind::Busy))
}

// ------------------------------------------------------------- net.tcp

pub struct NetTcp {
    model: Arc<Model>,
    vmm: Arc<Vmm>,
    security: HashMap<MachineId, Security>,
}

/// The connection's byte stream, plain or inside NegotiateStream frames.
struct Chan {
    io: BoxIo,
    /// Sealed bytes not yet a whole frame.
    raw: Vec<u8>,
    /// Plain bytes not yet consumed.
    plain: Vec<u8>,
    nns: Option<Box<Session>>,
}

enum Stop {
    /// Send this framing fault, then close.
    Fault(NmfFault),
    /// Close without a word (EOF, I/O error, a non-framing first byte,
    /// an undecodable message).
    Close(String),
}

impl From<io::Error> for Stop {
    fn from(e: io::Error) -> Self {
        Stop::Close(e.to_string())
    }
}

impl Chan {
    async fn read_more(&mut self) -> Result<(), Stop> {
        let mut b = [0u8; 16 * 1024];
        let n = self.io.read(&mut b).await?;
        if n == 0 {
            return Err(Stop::Close("end of stream".into()));
        }
        let got = b.get(..n).unwrap_or_default().to_vec();
        self.absorb(&got)
    }

    /// Takes bytes read from the socket: plain, or sealed frames to open.
    fn absorb(&mut self, got: &[u8]) -> Result<(), Stop> {
        match self.nns.as_mut() {
            None => self.plain.extend_from_slice(got),
            Some(s) => {
                self.raw.extend_from_slice(got);
                loop {
                    match nns::decode_frame(&self.raw) {
                        Ok(Some((f, used))) => {
                            let p = nns::unseal(s, f).map_err(|e| Stop::Close(e.to_string()))?;
                            self.plain.extend_from_slice(&p);
                            self.raw.drain(..used);
                        }
                        Ok(None) => break,
                        Err(e) => return Err(Stop::Close(e.to_string())),
                    }
                }
            }
        }
        Ok(())
    }

    async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self.nns.as_mut() {
            None => self.io.write_all(bytes).await?,
            Some(s) => {
                let mut out = Vec::with_capacity(bytes.len() + 32);
                nns::seal(s, bytes, &mut out);
                self.io.write_all(&out).await?;
            }
        }
        self.io.flush().await
    }

    async fn record(&mut self, limits: &nmf::Limits) -> Result<Record, Stop> {
        loop {
            match nmf::decode(&self.plain, limits) {
                Ok(Some((r, n))) => {
                    self.plain.drain(..n);
                    return Ok(r);
                }
                Ok(None) => self.read_more().await?,
                Err(e) => return Err(Stop::Fault(e.fault())),
            }
        }
    }
}

impl TcpService for NetTcp {
    fn serve(self: Arc<Self>, conn: Conn) -> BoxFuture<()> {
        Box::pin(async move {
            let info = conn.info.clone();
            let mut ch = Chan {
                io: conn.io,
                raw: Vec::new(),
                plain: Vec::new(),
                nns: None,
            };
            let r = self.run(&mut ch, &info).await;
            match r {
                Err(Stop::Fault(f)) => {
                    self.journal(
                        &info,
                        None,
                        "preamble",
                        &format!("framing fault {}", f.name()),
                    );
                    let _ = ch.send(&nmf::fault_bytes(f)).await;
                    let _ = ch.io.shutdown().await;
                }
                Err(Stop::Close(why)) => {
                    debug!(machine = %info.machine_name, "net.tcp connection closed: {why}");
                }
                Ok(()) => {
                    let _ = ch.io.shutdown().await;
                }
            }
        })
    }
}

impl NetTcp {
    fn journal(&self, info: &ConnInfo, user: Option<&str>, op: &str, outcome: &str) {
        RequestJournal {
            model: &self.model,
            conn: info,
            user: user.map(str::to_string),
            op: op.to_string(),
            start: self.model.clock.now(),
        }
        .record(outcome);
    }

    async fn run(&self, ch: &mut Chan, info: &Arc<ConnInfo>) -> Result<(), Stop> {
        let limits = nmf::Limits::default();
        let xlimits = nbfx::Limits::default();
        let security = self
            .security
            .get(&info.machine)
            .copied()
            .unwrap_or_default();
        loop {
            // A first byte that is not a Version record: close, no fault.
            while ch.plain.is_empty() {
                ch.read_more().await?;
            }
            if ch.plain.first() != Some(&nmf::rt::VERSION) {
                return Err(Stop::Close("not a framing preamble".into()));
            }
            if busy(&self.model, info) {
                return Err(Stop::Fault(NmfFault::ServerTooBusy));
            }
            let Record::Version { major, .. } = ch.record(&limits).await? else {
                return Err(Stop::Fault(NmfFault::InvalidRecordSequence));
            };
            if major != 1 {
                return Err(Stop::Fault(NmfFault::UnsupportedVersion));
            }
            let Record::Mode(mode) = ch.record(&limits).await? else {
                return Err(Stop::Fault(NmfFault::InvalidRecordSequence));
            };
            let Record::Via(via) = ch.record(&limits).await? else {
                return Err(Stop::Fault(NmfFault::InvalidRecordSequence));
            };
            let (c, mex) = nmf::via_path(&via)
                .and_then(|p| resolve(info.service, p))
                .ok_or(Stop::Fault(NmfFault::EndpointNotFound))?;
            match ch.record(&limits).await? {
                // NetTcpBinding: duplex with the session dictionary (08);
                // TransferMode.Streamed: singleton-unsized with plain
                // binary (07). The other pairings are what a Windows
                // receiver refuses (MS-NMFTB).
                Record::KnownEncoding(e) => match (mode, e) {
                    (nmf::mode::DUPLEX, nmf::encoding::BINARY_SESSION)
                    | (nmf::mode::SINGLETON_UNSIZED, nmf::encoding::BINARY) => {}
                    (nmf::mode::DUPLEX | nmf::mode::SINGLETON_UNSIZED, _) => {
                        return Err(Stop::Fault(NmfFault::ContentTypeInvalid))
                    }
                    _ => return Err(Stop::Fault(NmfFault::UnsupportedMode)),
                },
                Record::ExtensibleEncoding(_) => {
                    return Err(Stop::Fault(NmfFault::ContentTypeInvalid))
                }
                _ => return Err(Stop::Fault(NmfFault::InvalidRecordSequence)),
            }
            let need = if mex { Security::None } else { security };
            let mut user: Option<String> = None;
            let mut upgraded = false;
            loop {
                match ch.record(&limits).await? {
                    Record::UpgradeRequest(p)
                        if !upgraded
                            && p == "application/negotiate"
                            && need == Security::Windows =>
                    {
                        ch.send(&[nmf::rt::UPGRADE_RESPONSE]).await?;
                        user = Some(self.negotiate(ch, info).await?);
                        upgraded = true;
                    }
                    Record::UpgradeRequest(p)
                        if !upgraded && p == "application/ssl-tls" && need == Security::Tls =>
                    {
                        ch.send(&[nmf::rt::UPGRADE_RESPONSE]).await?;
                        if !ch.plain.is_empty() {
                            return Err(Stop::Close("bytes before the TLS handshake".into()));
                        }
                        let io = std::mem::replace(&mut ch.io, Box::new(tokio::io::duplex(1).0));
                        ch.io = info.tls_upgrade(io).await?;
                        self.journal(info, None, "ssl-tls upgrade", "ok");
                        upgraded = true;
                    }
                    Record::UpgradeRequest(_) => return Err(Stop::Fault(NmfFault::UpgradeInvalid)),
                    Record::PreambleEnd => {
                        if need != Security::None && !upgraded {
                            return Err(Stop::Fault(NmfFault::UpgradeInvalid));
                        }
                        ch.send(&[nmf::rt::PREAMBLE_ACK]).await?;
                        break;
                    }
                    _ => return Err(Stop::Fault(NmfFault::InvalidRecordSequence)),
                }
            }
            let address = via.split(['?', '#']).next().unwrap_or_default();
            let address = address.strip_suffix("/mex").unwrap_or(address).to_string();
            let singleton = mode == nmf::mode::SINGLETON_UNSIZED;
            let mut in_session = nbfx::Session::default();
            let mut answered = false;
            loop {
                let msg = match ch.record(&limits).await? {
                    Record::SizedEnvelope(b) if !singleton => b,
                    // Singleton: one message on the connection.
                    Record::UnsizedEnvelope(b) if singleton && !answered => b,
                    Record::End => {
                        ch.send(&[nmf::rt::END]).await?;
                        break;
                    }
                    _ => return Err(Stop::Fault(NmfFault::InvalidRecordSequence)),
                };
                let start = self.model.clock.now();
                // Plain binary (07) has no string table.
                let table = if singleton {
                    Ok(msg.as_slice())
                } else {
                    in_session.read_table(&msg, &xlimits)
                };
                let parsed = table
                    .and_then(|rest| nbfx::read(rest, &in_session, &xlimits))
                    .map_err(|e| e.to_string())
                    .and_then(|el| {
                        fakedc_xml::soap::Envelope::from_element(el).map_err(|e| e.to_string())
                    });
                let env = match parsed {
                    Ok(env) => env,
                    Err(e) => {
                        // WCF aborts the session on an undecodable message.
                        self.journal(info, user.as_deref(), "message", &format!("refused: {e}"));
                        return Err(Stop::Close(e));
                    }
                };
                let req = Request::from_envelope(env, None);
                let answer = if req.version != Version::Soap12 {
                    let a = req.action.clone().unwrap_or_default();
                    Answer {
                        envelope: soap::fault(&req, &Fault::action_not_supported(&a)),
                        op: a,
                        outcome: "fault ActionNotSupported".into(),
                        is_fault: true,
                    }
                } else {
                    dispatch(
                        &self.vmm,
                        &Endpoint {
                            contract: c,
                            mex,
                            binding: Binding::NetTcp,
                            address: &address,
                            path: nmf::via_path(&via).unwrap_or_default(),
                        },
                        &req,
                        info.machine,
                    )
                };
                RequestJournal {
                    model: &self.model,
                    conn: info,
                    user: user.clone(),
                    op: answer.op.clone(),
                    start,
                }
                .record(&answer.outcome);
                let mut body = if singleton { Vec::new() } else { vec![0u8] };
                answer.envelope.to_nbfx(&mut body);
                let mut out = Vec::with_capacity(body.len() + 8);
                if singleton {
                    nmf::encode(&Record::UnsizedEnvelope(body), &mut out);
                    answered = true;
                } else {
                    nmf::encode(&Record::SizedEnvelope(body), &mut out);
                }
                ch.send(&out).await?;
            }
            // Both sides ended: a pooled connection may start over, unless
            // it was upgraded (the upgrade belongs to that session).
            if upgraded {
                return Ok(());
            }
        }
    }

    /// MS-NNS after the UpgradeResponse: the client's first token may
    /// already be in the buffer (WCF does not wait for `0A`).
    async fn negotiate(&self, ch: &mut Chan, info: &Arc<ConnInfo>) -> Result<String, Stop> {
        let mut acc = nns::Acceptor::default();
        let target = fakedc_net::auth::target_info(&self.model, info);
        let model = self.model.clone();
        let machine = info.machine;
        let lookup = move |n: &str| model.find_user(machine, n).map(|u| u.password);
        loop {
            let msg = loop {
                match nns::decode_handshake(&ch.plain) {
                    Ok(Some((m, used))) => {
                        ch.plain.drain(..used);
                        break m;
                    }
                    Ok(None) => ch.read_more().await?,
                    Err(e) => {
                        self.journal(info, None, "negotiate", &format!("refused: {e}"));
                        let _ = ch.send(&nns::error_message(nns::SEC_E_INVALID_TOKEN)).await;
                        return Err(Stop::Close(e.to_string()));
                    }
                }
            };
            match acc.step(&msg, &target, &lookup) {
                nns::Step::Continue(out) => ch.send(&out).await?,
                nns::Step::Done {
                    reply,
                    user,
                    session,
                } => {
                    ch.send(&reply).await?;
                    let name = self
                        .model
                        .find_user(info.machine, &user)
                        .map(|u| u.name)
                        .unwrap_or(user);
                    self.journal(info, Some(&name), "negotiate", "ok");
                    // Bytes after the handshake are frames.
                    let pending = std::mem::take(&mut ch.plain);
                    ch.nns = Some(session);
                    ch.absorb(&pending)?;
                    return Ok(name);
                }
                nns::Step::Refused { reply, reason, .. } => {
                    self.journal(info, None, "negotiate", &format!("auth failure: {reason}"));
                    if !reply.is_empty() {
                        let _ = ch.send(&reply).await;
                    }
                    return Err(Stop::Close(reason));
                }
            }
        }
    }
}

// ---------------------------------------------------------------- HTTP

/// Largest request body (WCF's MaxReceivedMessageSize default).
pub const MAX_BODY: usize = 65_536;

pub struct Http {
    model: Arc<Model>,
    vmm: Arc<Vmm>,
}

fn respond(status: u16, ct: &str, body: impl Into<bytes::Bytes>) -> HttpResponse {
    let mut r = hyper::Response::new(full(body));
    *r.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = hyper::header::HeaderValue::from_str(ct) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>";

impl HttpService for Http {
    fn call(&self, req: HttpRequest, conn: Arc<ConnInfo>) -> BoxFuture<HttpResponse> {
        let model = self.model.clone();
        let vmm = self.vmm.clone();
        Box::pin(async move { serve_http(&model, &vmm, req, &conn).await })
    }
}

async fn serve_http(model: &Model, vmm: &Vmm, req: HttpRequest, conn: &ConnInfo) -> HttpResponse {
    let start = model.clock.now();
    let journal = |op: &str, outcome: &str| {
        RequestJournal {
            model,
            conn,
            user: None,
            op: op.to_string(),
            start,
        }
        .record(outcome)
    };
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_ascii_lowercase);
    let (base, ws) = match path.strip_suffix("/ws") {
        Some(b) => (b.to_string(), true),
        None => (path.clone(), false),
    };
    let Some((c, mex)) = resolve(conn.service, &base) else {
        journal(&format!("{} {path}", req.method()), "404");
        return fakedc_net::http::error_page(conn, hyper::StatusCode::NOT_FOUND);
    };
    if busy(model, conn) {
        journal(&format!("{} {path}", req.method()), "busy: 503");
        return fakedc_net::http::error_page(conn, hyper::StatusCode::SERVICE_UNAVAILABLE);
    }
    let host = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| conn.local.to_string());
    let scheme = if conn.tls { "https" } else { "http" };
    let address = format!("{scheme}://{host}{}", c.path());
    if req.method() == hyper::Method::GET && !mex && !ws {
        return match query.as_deref() {
            Some("wsdl") | Some("singlewsdl") => {
                journal("GET ?wsdl", "ok");
                let w = contract::wsdl(c, Binding::BasicHttp, &address).to_xml();
                respond(200, "text/xml; charset=UTF-8", format!("{XML_DECL}{w}"))
            }
            _ => {
                journal(&format!("GET {path}"), "ok");
                respond(
                    200,
                    "text/html; charset=UTF-8",
                    format!("<HTML><HEAD><TITLE>{0} Service</TITLE></HEAD><BODY><DIV id=\"content\"><P class=\"heading1\">{0} Service</P><P class=\"intro\">You have created a service.<P class='intro'>To test this service, you will need to create a client and use it to call the service. You can do this using the svcutil.exe tool from the command line with the following syntax:</P><PRE>svcutil.exe <A HREF=\"{1}?wsdl\">{1}?wsdl</A></PRE></P></DIV></BODY></HTML>", c.service, crate::nbfx::escape(&address)),
                )
            }
        };
    }
    if req.method() != hyper::Method::POST {
        journal(&format!("{} {path}", req.method()), "405");
        return fakedc_net::http::error_page(conn, hyper::StatusCode::METHOD_NOT_ALLOWED);
    }
    // The Windows PE agent's HTTPS endpoint requires a Windows account
    // (Basic over TLS, or Negotiate/NTLM), as a BasicHttpBinding with
    // Transport security and a Windows or Basic client credential does.
    let mut user: Option<String> = None;
    let mut reply_header: Option<String> = None;
    if conn.service == ServiceKind::WcfHttps8101 {
        let policy = auth::Policy {
            basic: conn.tls,
            basic_realm: &conn.dns_name,
            ntlm: auth::NtlmOffer::NegotiateAndNtlm,
            digest: None,
        };
        let authz = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string);
        let method = req.method().to_string();
        let outcome = auth::with_ntlm(conn, "wcf", |st| {
            auth::authenticate(model, conn, st, &policy, authz.as_deref(), &method, &path)
        });
        let unauthorized = |extra: Option<String>| {
            let mut r = fakedc_net::http::error_page(conn, hyper::StatusCode::UNAUTHORIZED);
            let values = match extra {
                Some(h) => vec![h],
                None => auth::challenges(model, conn, &policy, false),
            };
            for v in values {
                if let Ok(v) = hyper::header::HeaderValue::from_str(&v) {
                    r.headers_mut().append(hyper::header::WWW_AUTHENTICATE, v);
                }
            }
            r
        };
        match outcome {
            auth::Outcome::Authenticated {
                login,
                reply_header: h,
            } => {
                user = Some(login.user.name);
                reply_header = h;
            }
            auth::Outcome::Connection(login) => user = Some(login.user.name),
            auth::Outcome::Anonymous => {
                journal(&format!("POST {path}"), "401: no credentials");
                return unauthorized(None);
            }
            auth::Outcome::Challenge(h) => return unauthorized(Some(h)),
            auth::Outcome::Refused {
                reason, user: who, ..
            } => {
                RequestJournal {
                    model,
                    conn,
                    user: who,
                    op: format!("POST {path}"),
                    start,
                }
                .record(&format!("401: {reason}"));
                return unauthorized(None);
            }
            auth::Outcome::Malformed(why) => {
                journal(&format!("POST {path}"), &format!("400: {why}"));
                return fakedc_net::http::error_page(conn, hyper::StatusCode::BAD_REQUEST);
            }
        }
    }
    let ct = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let soap_action = req
        .headers()
        .get("soapaction")
        .and_then(|h| h.to_str().ok())
        .map(str::to_string);
    // BasicHttpBinding speaks SOAP 1.1 only; /ws and /mex speak SOAP 1.2.
    let want12 = ws || mex;
    let ct_ok = if want12 {
        ct.to_ascii_lowercase().starts_with("application/soap+xml")
    } else {
        ct.to_ascii_lowercase().starts_with("text/xml")
    };
    if !ct_ok {
        journal(&format!("POST {path}"), "415");
        let expected = if want12 {
            "application/soap+xml; charset=utf-8"
        } else {
            "text/xml; charset=utf-8"
        };
        return respond(
            415,
            "text/html",
            format!("Cannot process the message because the content type '{ct}' was not the expected type '{expected}'."),
        );
    }
    let body = match http_body_util::Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            journal(&format!("POST {path}"), "413: body over the limit");
            return fakedc_net::http::error_page(conn, hyper::StatusCode::PAYLOAD_TOO_LARGE);
        }
    };
    let env = match fakedc_xml::soap::read(&body, &fakedc_xml::Limits::default()) {
        Ok(e) => e,
        Err(e) => {
            journal(&format!("POST {path}"), &format!("400: {e}"));
            return fakedc_net::http::error_page(conn, hyper::StatusCode::BAD_REQUEST);
        }
    };
    let mut r = Request::from_envelope(env, soap_action.as_deref());
    if r.action.is_none() {
        // SOAP 1.2 over HTTP may carry the action in the content type.
        r.action = ct
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("action="))
            .map(|a| a.trim_matches('"').to_string())
            .next();
    }
    let answer = if (r.version == Version::Soap12) != want12 {
        let a = r.action.clone().unwrap_or_default();
        Answer {
            envelope: soap::fault(&r, &Fault::action_not_supported(&a)),
            op: a,
            outcome: "fault ActionNotSupported".into(),
            is_fault: true,
        }
    } else {
        let addr = if ws { format!("{address}/ws") } else { address };
        dispatch(
            vmm,
            &Endpoint {
                contract: c,
                mex,
                binding: Binding::BasicHttp,
                address: &addr,
                path: &path,
            },
            &r,
            conn.machine,
        )
    };
    RequestJournal {
        model,
        conn,
        user,
        op: answer.op.clone(),
        start,
    }
    .record(&answer.outcome);
    let ct = if r.version == Version::Soap12 {
        "application/soap+xml; charset=utf-8"
    } else {
        "text/xml; charset=utf-8"
    };
    let mut resp = respond(
        if answer.is_fault { 500 } else { 200 },
        ct,
        answer.envelope.to_xml(),
    );
    if let Some(h) = reply_header.and_then(|h| hyper::header::HeaderValue::from_str(&h).ok()) {
        resp.headers_mut()
            .insert(hyper::header::WWW_AUTHENTICATE, h);
    }
    resp
}
