//! WinRM over HTTP(S): the `/wsman` service on 5985, 5986 and 80.
//!
//! Per request: read the body (bounded), authenticate (Basic, or NTLM whose
//! context lives with the TCP connection in `ConnInfo.state`), unwrap MS-WSMV
//! encryption, hand the envelope to the [`Engine`], wrap the answer the same
//! way, journal it. Windows' behaviours kept on purpose: Basic over plain
//! HTTP is refused unless the machine allows unencrypted traffic, a
//! plaintext body on an NTLM connection that must encrypt gets a bare 500,
//! and a wrong password is a 401.

use crate::engine::{Call, Engine, ShellConfig};
use crate::fault::Fault;
use crate::message::{parse_request, MAX_REQUEST};
use crate::ntlm;
use crate::provider::{Ctx, ResourceProvider};
use crate::shell::{CommandRule, HostFacts, ShellLimits};
use crate::wmi;
use bytes::Bytes;
use fakedc_model::{FaultKind, Machine, MachineId, Model, Privilege, ServiceKind};
use fakedc_net::auth::{NtlmConn, NtlmOffer, Outcome, Policy, Scheme};
use fakedc_net::{full, BoxFuture, ConnInfo, HttpRequest, HttpResponse, HttpService, Services};
use http_body_util::BodyExt;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::StatusCode;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info_span, Instrument};

/// The services this crate serves.
pub const KINDS: [ServiceKind; 3] = [
    ServiceKind::WinrmHttp,
    ServiceKind::WinrmHttps,
    ServiceKind::WinrmHttp80,
];

/// Largest HTTP body read: a maximal envelope plus encryption framing.
pub const MAX_BODY: usize = MAX_REQUEST + 4096;

/// Reads a request body up to [`MAX_BODY`]. On failure the journal gets the
/// outcome and the caller gets the `w:EncodingLimit` fault to send (HTTP
/// 500) before closing the connection: the rest of the body was not read,
/// so the connection cannot be reused. Shared by every WS-Man front end.
pub async fn read_body(
    body: hyper::body::Incoming,
    conn: &ConnInfo,
    j: &Journal<'_>,
) -> Result<Bytes, String> {
    match http_body_util::Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) => {
            let too_big = e.is::<http_body_util::LengthLimitError>();
            j.record(if too_big {
                "request body over the limit: EncodingLimit fault, connection closed"
            } else {
                "request body read failed"
            });
            Err(Fault::encoding_limit(format!(
                "The request is larger than the maximum of {MAX_BODY} bytes."
            ))
            .to_xml(None, &conn.machine_name))
        }
    }
}
const ENCRYPTED_CT: &str =
    "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\";boundary=\"Encrypted Boundary\"";
const SOAP_CT: &str = "application/soap+xml;charset=UTF-8";

/// `[machine.options.winrm]` in a scenario.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WinrmOptions {
    /// WinRM's AllowUnencrypted: Basic and plaintext SOAP over HTTP
    /// (default false, as on Windows).
    pub allow_unencrypted: Option<bool>,
    /// Basic authentication enabled (default true).
    pub basic: Option<bool>,
    /// WinRS MaxShellsPerUser (default 30).
    pub max_shells_per_user: Option<usize>,
    /// WinRS IdleTimeout in seconds (default 7200).
    pub idle_timeout_s: Option<u64>,
    /// Scripted commands, tried before the built-ins.
    #[serde(default)]
    pub command: Vec<CommandRule>,
    /// PowerShell remoting configurations (`.../powershell/<name>`) served
    /// besides `Microsoft.PowerShell`, as `Register-PSSessionConfiguration`
    /// adds them.
    #[serde(default)]
    pub psrp_configurations: Vec<String>,
}

pub use fakedc_net::OptionsError;

/// The validated settings of one machine.
#[derive(Debug, Clone)]
pub struct Setup {
    pub allow_unencrypted: bool,
    pub basic: bool,
    pub shell: ShellConfig,
}

/// Parses and checks one machine's `[machine.options.winrm]`.
pub fn validate(m: &Machine) -> Result<(), OptionsError> {
    parse_options(m).map(|_| ())
}

fn parse_options(m: &Machine) -> Result<WinrmOptions, OptionsError> {
    let err = |message: String| OptionsError::new(&m.name, "winrm", message);
    let opts: WinrmOptions = match m.options.get("winrm") {
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| err(e.to_string()))?,
        None => WinrmOptions::default(),
    };
    let max_shells = opts.max_shells_per_user.unwrap_or(30);
    if !(1..=1000).contains(&max_shells) {
        return Err(err(format!(
            "max_shells_per_user {max_shells} must be 1..=1000"
        )));
    }
    if opts.command.len() > 10_000 {
        return Err(err("more than 10000 command rules".into()));
    }
    Ok(opts)
}

fn setup(model: &Model, id: MachineId) -> Result<Setup, OptionsError> {
    let m = model.machine(id);
    let opts = parse_options(m)?;
    let max_shells = opts.max_shells_per_user.unwrap_or(30);
    let hw = model.chassis(m.chassis, model.clock.now()).hardware;
    let g = hw.smbios_guid;
    let facts = HostFacts {
        hostname: m.name.to_ascii_uppercase(),
        domain: m
            .dns_name
            .split_once('.')
            .map(|(_, d)| d.to_string())
            .unwrap_or_default(),
        user: "Administrator".into(),
        ip: m.address.to_string(),
        vendor: hw.vendor.clone(),
        model: hw.model.clone(),
        serial: hw.serial.clone(),
        mac: format!("00-15-5D-{:02X}-{:02X}-{:02X}", g[13], g[14], g[15]),
    };
    Ok(Setup {
        allow_unencrypted: opts.allow_unencrypted.unwrap_or(false),
        basic: opts.basic.unwrap_or(true),
        shell: ShellConfig {
            rules: opts.command,
            limits: ShellLimits {
                max_shells_per_user: max_shells,
                idle_timeout: Duration::from_secs(opts.idle_timeout_s.unwrap_or(7200).max(1)),
                ..Default::default()
            },
            facts,
            psrp_configurations: opts.psrp_configurations,
        },
    })
}

/// The providers a Windows host serves.
pub fn windows_providers(model: &Model) -> Vec<Arc<dyn ResourceProvider>> {
    vec![
        Arc::new(wmi::Cimv2::new(model.clock.wall())),
        Arc::new(wmi::Virtualization::default()),
        Arc::new(crate::storage::StorageWmi),
    ]
}

/// Registers WinRM for 5985, 5986 and 80 (Hyper-V hosts and VM guests per
/// the port table). Fails on an invalid `[machine.options.winrm]`.
pub fn register(services: &mut Services, model: &Arc<Model>) -> Result<(), OptionsError> {
    let mut setups = HashMap::new();
    for m in model.machines() {
        if KINDS.iter().any(|k| m.endpoint(*k).is_some()) || m.options.contains_key("winrm") {
            setups.insert(m.id, Arc::new(setup(model, m.id)?));
        }
    }
    let svc = Arc::new(WinrmService {
        model: model.clone(),
        engine: Arc::new(Engine::new(windows_providers(model))),
        setups,
    });
    for k in KINDS {
        services.http(k, "/wsman", svc.clone());
    }
    Ok(())
}

/// What `/about` lists.
pub fn operations() -> Vec<String> {
    [
        "Identify (anonymous and authenticated)",
        "Authentication: Basic (HTTPS; HTTP with allow_unencrypted), Negotiate/NTLMv2 with MS-WSMV encryption (HTTP) and without (HTTPS)",
        "Remote shell cmd: Create, Command, Send, Receive (OperationTimeout -> w:TimedOut), Signal, Delete",
        "Commands: scenario table, hostname, whoami, ipconfig [/all], echo, ver, exit N, systeminfo, cmd /c",
        "PowerShell remoting (MS-PSRP) on .../powershell/Microsoft.PowerShell and [machine.options.winrm] psrp_configurations: runspace pools (SET_MAX/MIN_RUNSPACES, GET_AVAILABLE_RUNSPACES), pipelines with input, output/error/warning/verbose/debug/information streams, Signal stop/terminate; Disconnect/Reconnect, PUBLIC_KEY, RESET_RUNSPACE_STATE, CONNECT_RUNSPACEPOOL refused as not implemented",
        "Get / Put / Enumerate (optimized, Pull, Release, MaxElements, EPR modes) / Invoke",
        "Filters: WQL SELECT * FROM X [WHERE k = 'v' AND/OR ...], SelectorFilter, association filter",
        "root/cimv2: Win32_OperatingSystem, Win32_ComputerSystem, Win32_Service",
        "root/virtualization/v2: Msvm_ComputerSystem (RequestStateChange 2,3,4,6,9,10,11 -> Msvm_ConcreteJob), Msvm_VirtualSystemManagementService, Msvm_ConcreteJob",
        "http://schemas.microsoft.com/wbem/wsman/1/config (Get)",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

struct WinrmService {
    model: Arc<Model>,
    engine: Arc<Engine>,
    setups: HashMap<MachineId, Arc<Setup>>,
}

impl HttpService for WinrmService {
    fn call(&self, req: HttpRequest, conn: Arc<ConnInfo>) -> BoxFuture<HttpResponse> {
        let model = self.model.clone();
        let engine = self.engine.clone();
        let setup = self.setups.get(&conn.machine).cloned();
        let span = info_span!("request", proto = "wsman", machine = %conn.machine_name);
        Box::pin(
            async move {
                let start = model.clock.now();
                let Some(setup) = setup else {
                    return status(StatusCode::NOT_FOUND, Vec::new());
                };
                let mut j = Journal {
                    model: &model,
                    conn: &conn,
                    user: None,
                    op: "http".into(),
                    start,
                };
                let resp = handle(&model, &engine, &setup, &conn, req, &mut j).await;
                resp
            }
            .instrument(span),
        )
    }
}

/// Journal helper for one request (shared by every HTTP service).
use fakedc_net::RequestJournal as Journal;

/// What every WS-Man front end answers before reading a request: a `busy`
/// fault rule gets 503, anything but POST gets 405 with `Allow: POST`.
/// `None` lets the request through.
pub fn refuse_early(
    model: &Model,
    conn: &ConnInfo,
    req: &HttpRequest,
    j: &mut Journal<'_>,
) -> Option<HttpResponse> {
    let busy = !model.faults.is_empty()
        && model
            .faults
            .matching(&conn.machine_name, conn.service.name())
            .iter()
            .any(|f| matches!(f, FaultKind::Busy));
    // The machine's web server answers these itself (HTTP.sys's error
    // page on Windows, the BMC's on a BMC).
    if busy {
        j.record("busy (fault rule): 503");
        return Some(fakedc_net::http::error_page(
            conn,
            StatusCode::SERVICE_UNAVAILABLE,
        ));
    }
    if req.method() != hyper::Method::POST {
        j.op = format!("{} {}", req.method(), req.uri().path());
        j.record("405 method not allowed");
        let mut r = fakedc_net::http::error_page(conn, StatusCode::METHOD_NOT_ALLOWED);
        r.headers_mut()
            .insert(hyper::header::ALLOW, HeaderValue::from_static("POST"));
        return Some(r);
    }
    None
}

/// A response; the network front adds the machine's `Server` header.
fn status(code: StatusCode, body: Vec<u8>) -> HttpResponse {
    let mut r = hyper::Response::new(full(body));
    *r.status_mut() = code;
    r
}

fn unauthorized(offer_basic: bool, challenge: Option<&str>) -> HttpResponse {
    let mut r = status(StatusCode::UNAUTHORIZED, Vec::new());
    let h = r.headers_mut();
    match challenge {
        Some(v) => {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.append(WWW_AUTHENTICATE, v);
            }
        }
        None => {
            h.append(WWW_AUTHENTICATE, HeaderValue::from_static("Negotiate"));
            if offer_basic {
                h.append(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"WSMAN\""),
                );
            }
        }
    }
    r
}

fn soap(code: StatusCode, xml: String, seal: Option<&mut ntlm::Session>) -> HttpResponse {
    let (ct, body) = match seal {
        Some(s) => (ENCRYPTED_CT, encrypt(s, xml.as_bytes())),
        None => (SOAP_CT, xml.into_bytes()),
    };
    let mut r = status(code, body);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    r
}

/// Wraps a message in MS-WSMV 2.2.9.1 framing.
pub fn encrypt(s: &mut ntlm::Session, msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + 256);
    out.extend_from_slice(
        b"--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n",
    );
    out.extend_from_slice(b"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=");
    out.extend_from_slice(msg.len().to_string().as_bytes());
    out.extend_from_slice(
        b"\r\n--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n",
    );
    out.extend_from_slice(&16u32.to_le_bytes());
    // The signature goes before the sealed bytes, which are sealed in
    // place after it (no separate buffer to copy from).
    let sig_at = out.len();
    out.extend_from_slice(&[0; 16]);
    let sig = s.wrap_into(msg, &mut out);
    out[sig_at..sig_at + 16].copy_from_slice(&sig);
    out.extend_from_slice(b"--Encrypted Boundary--\r\n");
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Unwraps MS-WSMV framing (one part; what WinRM clients send).
pub fn decrypt(s: &mut ntlm::Session, body: &[u8]) -> Result<Vec<u8>, &'static str> {
    let len_at = find(body, b"Length=").ok_or("no OriginalContent length")?;
    let rest = &body[len_at + 7..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let len: usize = std::str::from_utf8(&rest[..digits])
        .ok()
        .and_then(|d| d.parse().ok())
        .ok_or("bad OriginalContent length")?;
    if len > MAX_REQUEST {
        return Err("encrypted message too large");
    }
    let marker = b"application/octet-stream\r\n";
    let at = find(rest, marker).ok_or("no octet-stream part")? + marker.len();
    let data = &rest[at..];
    let sig_len = data
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .ok_or("truncated encrypted part")?;
    if sig_len != 16 {
        return Err("unexpected signature length");
    }
    let sig = data.get(4..20).ok_or("truncated signature")?;
    let sealed = data.get(20..20 + len).ok_or("truncated sealed message")?;
    s.unwrap(sig, sealed)
        .map_err(|_| "signature does not verify")
}

/// Takes the connection's state out for the request (it is held across
/// awaits); the box is kept and put back, not reallocated per request.
fn take_state(conn: &ConnInfo) -> Box<NtlmConn> {
    fakedc_net::auth::take_ntlm(conn, STATE_KEY)
}

/// This service's key in the connection's state map.
const STATE_KEY: &str = "wsman";

fn put_state(conn: &ConnInfo, st: Box<NtlmConn>) {
    fakedc_net::auth::put_ntlm(conn, STATE_KEY, st);
}

async fn handle(
    model: &Arc<Model>,
    engine: &Engine,
    setup: &Setup,
    conn: &ConnInfo,
    req: HttpRequest,
    j: &mut Journal<'_>,
) -> HttpResponse {
    if let Some(r) = refuse_early(model, conn, &req, j) {
        return r;
    }
    // Header values are reference-counted: cloning them does not copy.
    let auth = req.headers().get(AUTHORIZATION).cloned();
    let content_type = req.headers().get(CONTENT_TYPE).cloned();
    let body = match read_body(req.into_body(), conn, j).await {
        Ok(b) => b,
        Err(xml) => {
            let mut r = soap(StatusCode::INTERNAL_SERVER_ERROR, xml, None);
            // The rest of the body was not read: the connection cannot be
            // reused.
            r.headers_mut()
                .insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
            return r;
        }
    };
    let offer_basic = setup.basic && (conn.tls || setup.allow_unencrypted);
    let mut st = take_state(conn);
    let result = authenticate_and_serve(
        model,
        engine,
        setup,
        conn,
        auth.as_ref().and_then(|v| v.to_str().ok()),
        content_type
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
        &body,
        offer_basic,
        &mut st,
        j,
    )
    .await;
    put_state(conn, st);
    result
}

#[allow(clippy::too_many_arguments)]
async fn authenticate_and_serve(
    model: &Arc<Model>,
    engine: &Engine,
    setup: &Setup,
    conn: &ConnInfo,
    auth: Option<&str>,
    content_type: &str,
    body: &[u8],
    offer_basic: bool,
    st: &mut NtlmConn,
    j: &mut Journal<'_>,
) -> HttpResponse {
    let mut via_ntlm = false;
    // SPNEGO's last token (with the server's mechListMIC), sent on the
    // answer that completes the handshake.
    let mut final_token: Option<String> = None;
    let scheme = auth.map(|a| a.trim().split_once(' ').map_or(a.trim(), |s| s.0));
    if let Some(sc) = scheme {
        j.op = if sc.eq_ignore_ascii_case("Basic") {
            "auth basic".into()
        } else if fakedc_net::auth::is_ntlm_scheme(sc) {
            "auth ntlm".into()
        } else {
            format!("auth {}", sc.to_ascii_lowercase())
        };
    }
    // WinRM's own Basic policy, worded as Windows' event log words it.
    if scheme.is_some_and(|sc| sc.eq_ignore_ascii_case("Basic")) {
        if !setup.basic {
            j.record("refused: Basic is disabled");
            return unauthorized(false, None);
        }
        if !conn.tls && !setup.allow_unencrypted {
            j.record("refused: Basic over HTTP needs AllowUnencrypted=true");
            return unauthorized(false, None);
        }
    }
    let policy = Policy {
        basic: offer_basic,
        basic_realm: "WSMAN",
        ntlm: NtlmOffer::Negotiate,
        digest: None,
    };
    let user: String =
        match fakedc_net::auth::authenticate(model, conn, st, &policy, auth, "POST", "/wsman") {
            Outcome::Authenticated {
                login,
                reply_header,
            } => {
                if login.scheme == Scheme::Ntlm {
                    j.user = Some(login.user.name.clone());
                    final_token = reply_header;
                    j.record("authenticated");
                    if body.is_empty() {
                        return with_auth_header(status(StatusCode::OK, Vec::new()), &final_token);
                    }
                    via_ntlm = true;
                }
                login.user.name
            }
            Outcome::Connection(login) => {
                via_ntlm = true;
                login.user.name
            }
            Outcome::Challenge(h) => {
                j.record("challenge sent");
                return unauthorized(offer_basic, Some(&h));
            }
            Outcome::Refused { reason, user, .. } => {
                j.user = user;
                j.record(&if reason.starts_with("auth failure") {
                    reason
                } else if reason == "wrong user or password" {
                    format!("auth failure: {reason}")
                } else {
                    format!("refused: {reason}")
                });
                return unauthorized(offer_basic, None);
            }
            Outcome::Malformed(reason) => {
                j.record(&format!("refused: {reason}"));
                return unauthorized(offer_basic, None);
            }
            Outcome::Anonymous => {
                // Identify is the one anonymous operation.
                if !body.is_empty() && !starts_with_ci(content_type, "multipart/") {
                    if let Ok(r) = parse_request(body) {
                        if r.identify {
                            j.op = "Identify".into();
                            j.record("ok (anonymous)");
                            return soap(StatusCode::OK, Engine::identify_anonymous(), None);
                        }
                    }
                }
                j.op = "auth".into();
                j.record("401: no credentials");
                return unauthorized(offer_basic, None);
            }
        };
    j.user = Some(user.clone());
    if body.is_empty() {
        j.op = "empty POST".into();
        j.record("ok");
        return status(StatusCode::OK, Vec::new());
    }
    // MS-WSMV encryption.
    let encrypted = starts_with_ci(content_type, "multipart/encrypted");
    let plain: std::borrow::Cow<'_, [u8]> = if encrypted {
        let Some(session) = st.session.as_mut().filter(|_| via_ntlm) else {
            j.op = "decrypt".into();
            j.record("400: encrypted body without an NTLM session");
            return status(StatusCode::BAD_REQUEST, Vec::new());
        };
        match decrypt(session, body) {
            Ok(p) => p.into(),
            Err(e) => {
                j.op = "decrypt".into();
                j.record(&format!("400: {e}"));
                return status(StatusCode::BAD_REQUEST, Vec::new());
            }
        }
    } else {
        if via_ntlm && !conn.tls && !setup.allow_unencrypted {
            // What Windows does with a plaintext body it wants encrypted
            // (pywinrm issues 208/129/147): a bare 500.
            j.op = "plaintext".into();
            j.record("500: unencrypted message refused (AllowUnencrypted=false)");
            return status(StatusCode::INTERNAL_SERVER_ERROR, Vec::new());
        }
        body.into()
    };
    let (code, xml) = match parse_request(&plain) {
        Err(f) => {
            j.op = "parse".into();
            j.record(&format!("fault {}", f.subcode));
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                f.to_xml(None, &conn.machine_name),
            )
        }
        Ok(r) => {
            j.op = r.journal_name();
            let call = Call {
                ctx: Ctx {
                    model,
                    machine: conn.machine,
                    user: &user,
                    privilege: Privilege::Admin,
                    now: model.clock.now(),
                },
                machine_name: &conn.machine_name,
                shell: &setup.shell,
                allow_unencrypted: setup.allow_unencrypted,
            };
            match engine.handle(&call, &r).await {
                Ok(x) => {
                    j.record("ok");
                    (StatusCode::OK, x)
                }
                Err(f) => {
                    j.record(&format!("fault {}", f.subcode));
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        f.to_xml(r.message_id.as_deref(), &conn.machine_name),
                    )
                }
            }
        }
    };
    let seal = if encrypted {
        st.session.as_mut().map(|s| s.as_mut())
    } else {
        None
    };
    with_auth_header(soap(code, xml, seal), &final_token)
}

/// `s` starts with ASCII `prefix`, ignoring case (media types are
/// case-insensitive).
fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

fn with_auth_header(mut r: HttpResponse, token: &Option<String>) -> HttpResponse {
    if let Some(v) = token.as_deref().and_then(|t| HeaderValue::from_str(t).ok()) {
        r.headers_mut().insert(WWW_AUTHENTICATE, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_validate() {
        let o: WinrmOptions = serde_json::from_value(serde_json::json!({
            "allow_unencrypted": true,
            "command": [{"pattern": "x*", "stdout": "y", "exit_code": 2}]
        }))
        .unwrap();
        assert_eq!(o.allow_unencrypted, Some(true));
        assert_eq!(o.command[0].exit_code, 2);
        assert!(serde_json::from_value::<WinrmOptions>(
            serde_json::json!({"allow_unencrypted_typo": true})
        )
        .is_err());
    }

    #[test]
    fn encryption_frames_round_trip() {
        let mut client = ntlm::Session::new([7; 16], 0xe288_8235 | ntlm::flags::N128, false);
        let mut server = ntlm::Session::new([7; 16], 0xe288_8235 | ntlm::flags::N128, true);
        let framed = encrypt(&mut client, b"<s:Envelope/>");
        assert_eq!(decrypt(&mut server, &framed).unwrap(), b"<s:Envelope/>");
        assert!(decrypt(&mut server, b"garbage").is_err());
        assert!(decrypt(&mut server, b"Length=99999999999").is_err());
        for n in 0..framed.len() {
            let mut s = ntlm::Session::new([7; 16], 0xe288_8235, true);
            let _ = decrypt(&mut s, &framed[..n]);
        }
    }
}
