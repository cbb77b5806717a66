//! The BMC's `/wsman` on HTTPS 443: authentication (Basic and Digest
//! against the BMC's users, the same table IPMI logs in with), privilege,
//! the journal, then the shared WS-Management engine with the SMASH
//! providers.
//!
//! The engine is the WinRM one: only the providers differ. A BMC has no
//! WinRM shell and no WinRM config resource, so those ResourceURIs are
//! refused here before the engine sees them.

use crate::cim::{SmashProvider, PROFILES};
use crate::digest::{Algorithm, Nonces};
use fakedc_model::{MachineId, Model, Privilege, ServiceKind};
use fakedc_net::auth::{DigestOffer, NtlmConn, NtlmOffer, Outcome, Policy};
use fakedc_net::{full, BoxFuture, ConnInfo, HttpRequest, HttpResponse, HttpService, Services};
use fakedc_wsman::engine::{Call, ShellConfig, CONFIG_URI};
use fakedc_wsman::message::parse_request;
use fakedc_wsman::{Ctx, Engine, Fault};
use hyper::header::{
    HeaderName, HeaderValue, AUTHORIZATION, CONNECTION, CONTENT_TYPE, WWW_AUTHENTICATE,
};
use hyper::StatusCode;
use std::collections::HashMap;
use std::sync::Arc;
use tracing::{debug, info_span, Instrument};

/// Largest HTTP body read: a maximal envelope plus slack.
const SOAP_CT: &str = "application/soap+xml;charset=UTF-8";
const SHELL_PREFIX: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell";
/// Default Digest nonce lifetime.
const NONCE_TTL_MS: u64 = 300_000;

/// `[machine.options.smash]` in a scenario.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmashOptions {
    /// HTTP Basic accepted (default true).
    pub basic: Option<bool>,
    /// Digest algorithms offered, in challenge order (default SHA-256 then
    /// MD5; curl answers the first it understands; `[]` disables Digest).
    pub digest: Option<Vec<String>>,
    /// How long a Digest nonce stays valid, in ms (default 300000).
    pub nonce_ttl_ms: Option<u64>,
    /// The older spelling of the machine's processors and memory: the
    /// scenario reads these into the model's `Compute` (one shape every
    /// front reports), so SMASH only accepts them here.
    pub cpus: Option<u32>,
    pub cores_per_cpu: Option<u32>,
    pub cpu_mhz: Option<u32>,
    pub memory_gib: Option<u64>,
}

pub use fakedc_net::OptionsError;

/// Parses and checks one machine's `[machine.options.smash]`.
pub fn validate(m: &fakedc_model::Machine) -> Result<(), OptionsError> {
    parse(m).map(|_| ())
}

/// The validated settings of one BMC.
struct Setup {
    basic: bool,
    digest: Vec<Algorithm>,
    nonces: Nonces,
    /// Opaque value of this BMC's challenges (echoed by clients).
    opaque: String,
    realm: String,
}

/// The checked parts of the options: digest algorithms, nonce lifetime.
fn parse(m: &fakedc_model::Machine) -> Result<(SmashOptions, Vec<Algorithm>, u64), OptionsError> {
    let err = |message: String| OptionsError::new(&m.name, "smash", message);
    let o: SmashOptions = match m.options.get("smash") {
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| err(e.to_string()))?,
        None => SmashOptions::default(),
    };
    let mut digest = Vec::new();
    for a in o
        .digest
        .clone()
        .unwrap_or_else(|| vec!["SHA-256".into(), "MD5".into()])
    {
        let alg = Algorithm::parse(&a).ok_or_else(|| {
            err(format!(
                "unknown digest algorithm '{a}' (MD5, MD5-sess, SHA-256, SHA-256-sess)"
            ))
        })?;
        if !digest.contains(&alg) {
            digest.push(alg);
        }
    }
    let ttl = o.nonce_ttl_ms.unwrap_or(NONCE_TTL_MS);
    if !(1..=86_400_000).contains(&ttl) {
        return Err(err(format!("nonce_ttl_ms {ttl} must be 1..=86400000")));
    }
    Ok((o, digest, ttl))
}

fn setup(model: &Model, id: MachineId) -> Result<Setup, OptionsError> {
    let m = model.machine(id);
    let (o, digest, ttl) = parse(m)?;
    let opaque: [u8; 12] = rand::random();
    Ok(Setup {
        basic: o.basic.unwrap_or(true),
        digest,
        nonces: Nonces::new(ttl),
        opaque: opaque.iter().map(|b| format!("{b:02x}")).collect(),
        realm: format!("{} BMC", m.name),
    })
}

/// Registers SMASH on 443 of every BMC. Fails on an invalid
/// `[machine.options.smash]`.
pub fn register(services: &mut Services, model: &Arc<Model>) -> Result<(), OptionsError> {
    let mut setups = HashMap::new();
    for m in model.machines() {
        if m.endpoint(ServiceKind::Smash).is_some() || m.options.contains_key("smash") {
            let s = setup(model, m.id)?;
            setups.insert(m.id, Arc::new(s));
        }
    }
    let svc = Arc::new(SmashService {
        model: model.clone(),
        engine: Arc::new(Engine::new(SmashProvider::pair())),
        setups,
        shell: ShellConfig::default(),
    });
    services.http(ServiceKind::Smash, "/wsman", svc);
    Ok(())
}

/// What `/about` lists.
pub fn operations() -> Vec<String> {
    let mut v: Vec<String> = [
        "Identify (anonymous and authenticated; vendor, BMC firmware, security profiles)",
        "Authentication: HTTP Basic; HTTP Digest (RFC 7616: SHA-256, MD5, -sess, qop=auth, userhash, expiring nonces, stale=true) against the BMC users; user privilege reads only",
        "Get / Enumerate (optimized, Pull, Release, EPR modes) / Invoke; WQL and selector filters",
        "Association filter: AssociatedInstances and AssociationInstances (References) with AssociationClassName, ResultClassName, Role, ResultRole",
        "root/interop: CIM_RegisteredProfile, CIM_ElementConformsToProfile, CIM_ReferencedProfile",
        "Base Server: CIM_ComputerSystem (RequestStateChange 2,3,4,5,10,11), CIM_ComputerSystemPackage.PlatformGUID, CIM_Chassis, CIM_SoftwareIdentity, CIM_Processor, CIM_Memory",
        "Power State Management: CIM_PowerManagementService.RequestPowerStateChange (2,5,6,8,9,10,11,12-16), CIM_AssociatedPowerManagementService, CIM_PowerManagementCapabilities",
        "Boot Control: CIM_BootService.SetBootConfigRole, CIM_BootConfigSetting.ChangeBootOrder, CIM_BootSourceSetting (CIM:Network:1, CIM:Hard-Disk:1, CIM:CD/DVD:1), CIM_OrderedComponent, CIM_ElementSettingData.IsNext",
        "Sensors and Record Log: CIM_NumericSensor, CIM_RecordLog (ClearLog), CIM_LogEntry",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(format!(
        "Profiles: {}",
        PROFILES.iter().map(|p| p.1).collect::<Vec<_>>().join(", ")
    ));
    v
}

struct SmashService {
    model: Arc<Model>,
    engine: Arc<Engine>,
    setups: HashMap<MachineId, Arc<Setup>>,
    /// Never used (shell URIs are refused) but the engine's call needs one.
    shell: ShellConfig,
}

impl HttpService for SmashService {
    fn call(&self, req: HttpRequest, conn: Arc<ConnInfo>) -> BoxFuture<HttpResponse> {
        let model = self.model.clone();
        let engine = self.engine.clone();
        let setup = self.setups.get(&conn.machine).cloned();
        let shell = self.shell.clone();
        let span = info_span!("request", proto = "smash", machine = %conn.machine_name);
        Box::pin(
            async move {
                let Some(setup) = setup else {
                    return status(StatusCode::NOT_FOUND, Vec::new());
                };
                let mut j = Journal {
                    model: &model,
                    conn: &conn,
                    user: None,
                    op: "http".into(),
                    start: model.clock.now(),
                };
                handle(&model, &engine, &setup, &shell, &conn, req, &mut j).await
            }
            .instrument(span),
        )
    }
}

/// Journal helper for one request (shared by every HTTP service).
use fakedc_net::RequestJournal as Journal;

fn status(code: StatusCode, body: Vec<u8>) -> HttpResponse {
    let mut r = hyper::Response::new(full(body));
    *r.status_mut() = code;
    r
}

fn soap(code: StatusCode, xml: String) -> HttpResponse {
    let mut r = status(code, xml.into_bytes());
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(SOAP_CT));
    r
}

/// 401 with one Digest challenge per offered algorithm (first preferred)
/// and Basic when enabled, from the shared authenticator.
fn unauthorized(model: &Model, conn: &ConnInfo, setup: &Setup, stale: bool) -> HttpResponse {
    let mut r = status(StatusCode::UNAUTHORIZED, Vec::new());
    for c in fakedc_net::auth::challenges(model, conn, &policy(setup), stale) {
        if let Ok(v) = HeaderValue::from_str(&c) {
            r.headers_mut().append(WWW_AUTHENTICATE, v);
        }
    }
    r
}

/// The Identify answer of a BMC: who made it, its firmware, and the
/// security profiles it accepts.
fn identify(model: &Model, machine: MachineId) -> String {
    let c = model.chassis(model.machine(machine).chassis, model.clock.now());
    fakedc_wsman::message::identify_response_with(
        &c.hardware.vendor,
        &format!("BMC firmware {}", c.hardware.bmc_firmware),
        &[
            "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/basic",
            "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/digest",
        ],
    )
}

/// Who the request authenticated as.
struct Authed {
    user: String,
    privilege: Privilege,
    /// `Authentication-Info` for a Digest login.
    info: Option<String>,
}

enum AuthResult {
    Ok(Authed),
    /// Answer this instead (already journaled).
    Reply(HttpResponse),
    None,
}

/// What a BMC's `/wsman` accepts: Basic (unless disabled) and Digest
/// with this BMC's realm, nonces and algorithms; never NTLM.
fn policy(setup: &Setup) -> Policy<'_> {
    Policy {
        basic: setup.basic,
        basic_realm: &setup.realm,
        ntlm: NtlmOffer::Off,
        digest: Some(DigestOffer {
            nonces: &setup.nonces,
            realm: &setup.realm,
            opaque: &setup.opaque,
            algorithms: &setup.digest,
        }),
    }
}

/// One request's `Authorization` through the shared authenticator
/// (`fakedc_net::auth`), journaled in the BMC's words.
fn authenticate(
    model: &Model,
    setup: &Setup,
    conn: &ConnInfo,
    auth: &str,
    path: &str,
    j: &mut Journal<'_>,
) -> AuthResult {
    let scheme = auth.trim().split_once(' ').map_or(auth.trim(), |s| s.0);
    j.op = format!("auth {}", scheme.to_ascii_lowercase());
    // SMASH offers no NTLM: the connection state is never used.
    let mut none = NtlmConn::default();
    let policy = policy(setup);
    match fakedc_net::auth::authenticate(model, conn, &mut none, &policy, Some(auth), "POST", path)
    {
        Outcome::Authenticated {
            login,
            reply_header,
        } => AuthResult::Ok(Authed {
            user: login.user.name,
            privilege: login.user.privilege,
            info: reply_header,
        }),
        Outcome::Malformed(e) => {
            j.record(&format!("400: {e}"));
            AuthResult::Reply(status(StatusCode::BAD_REQUEST, Vec::new()))
        }
        Outcome::Refused {
            reason,
            user,
            stale,
        } => {
            j.user = user;
            j.record(&if stale {
                format!("401: {reason} (stale=true)")
            } else {
                format!("auth failure: {reason}")
            });
            AuthResult::Reply(unauthorized(model, conn, setup, stale))
        }
        // Only NTLM challenges or rides on a connection; SMASH has none.
        Outcome::Challenge(_) | Outcome::Connection(_) | Outcome::Anonymous => {
            j.record("auth failure: unsupported authentication scheme");
            AuthResult::Reply(unauthorized(model, conn, setup, false))
        }
    }
}

async fn handle(
    model: &Arc<Model>,
    engine: &Engine,
    setup: &Setup,
    shell: &ShellConfig,
    conn: &ConnInfo,
    req: HttpRequest,
    j: &mut Journal<'_>,
) -> HttpResponse {
    if let Some(r) = fakedc_wsman::service::refuse_early(model, conn, &req, j) {
        return r;
    }
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/wsman".into());
    let auth = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match fakedc_wsman::service::read_body(req.into_body(), conn, j).await {
        Ok(b) => b,
        Err(xml) => {
            let mut r = soap(StatusCode::INTERNAL_SERVER_ERROR, xml);
            r.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            return r;
        }
    };
    let authed = match auth.as_deref() {
        Some(a) => authenticate(model, setup, conn, a, &path, j),
        None => AuthResult::None,
    };
    let authed = match authed {
        AuthResult::Ok(a) => a,
        AuthResult::Reply(r) => return r,
        AuthResult::None => {
            // Identify is the one anonymous operation (DSP0226 §11).
            if parse_request(&body).is_ok_and(|r| r.identify) {
                j.op = "Identify".into();
                j.record("ok (anonymous)");
                return soap(StatusCode::OK, identify(model, conn.machine));
            }
            j.op = "auth".into();
            j.record("401: no credentials");
            return unauthorized(model, conn, setup, false);
        }
    };
    j.user = Some(authed.user.clone());
    let (code, xml) = serve(model, engine, shell, conn, &authed, &body, j).await;
    let mut r = soap(code, xml);
    if let Some(v) = authed
        .info
        .as_deref()
        .and_then(|i| HeaderValue::from_str(i).ok())
    {
        r.headers_mut()
            .insert(HeaderName::from_static("authentication-info"), v);
    }
    r
}

/// Runs one authenticated envelope.
async fn serve(
    model: &Arc<Model>,
    engine: &Engine,
    shell: &ShellConfig,
    conn: &ConnInfo,
    authed: &Authed,
    body: &[u8],
    j: &mut Journal<'_>,
) -> (StatusCode, String) {
    let r = match parse_request(body) {
        Ok(r) => r,
        Err(f) => {
            j.op = "parse".into();
            j.record(&format!("fault {}", f.subcode));
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                f.to_xml(None, &conn.machine_name),
            );
        }
    };
    j.op = r.journal_name();
    if r.identify {
        j.record("ok");
        return (StatusCode::OK, identify(model, conn.machine));
    }
    let fault = |f: Fault, j: &mut Journal<'_>| {
        debug!(fault = %f, "SMASH request refused");
        j.record(&format!("fault {}", f.subcode));
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            f.to_xml(r.message_id.as_deref(), &conn.machine_name),
        )
    };
    if authed.privilege < Privilege::User {
        return fault(
            Fault::access_denied().with_message(format!(
                "Access is denied: user '{}' has {:?} privilege.",
                authed.user, authed.privilege
            )),
            j,
        );
    }
    // A BMC serves neither the WinRM shell nor the WinRM config resource.
    if let Some(uri) = r.resource_uri.as_deref() {
        let lower = uri.to_ascii_lowercase();
        if lower.starts_with(SHELL_PREFIX) || lower.starts_with(CONFIG_URI) {
            return fault(Fault::invalid_resource_uri(uri), j);
        }
    }
    let call = Call {
        ctx: Ctx {
            model,
            machine: conn.machine,
            user: &authed.user,
            privilege: authed.privilege,
            now: model.clock.now(),
        },
        machine_name: &conn.machine_name,
        shell,
        allow_unencrypted: false,
    };
    match engine.handle(&call, &r).await {
        Ok(x) => {
            match return_value(&x) {
                Some(v) => j.record(&format!("ok (ReturnValue {v})")),
                None => j.record("ok"),
            }
            (StatusCode::OK, x)
        }
        Err(f) => fault(f, j),
    }
}

/// The ReturnValue of a method answer, for the journal.
fn return_value(xml: &str) -> Option<&str> {
    let at = xml.find("ReturnValue>")? + "ReturnValue>".len();
    let rest = &xml[at..];
    let end = rest.find('<')?;
    Some(&rest[..end]).filter(|v| v.len() <= 20)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn options_parse_and_validate() {
        let o: SmashOptions = serde_json::from_value(serde_json::json!({
            "digest": ["MD5"], "nonce_ttl_ms": 500, "cpus": 4
        }))
        .unwrap();
        assert_eq!(o.digest.as_deref(), Some(&["MD5".to_string()][..]));
        assert!(serde_json::from_value::<SmashOptions>(serde_json::json!({"bogus": 1})).is_err());
    }

    #[test]
    fn return_value_is_found() {
        assert_eq!(
            return_value("<p:X_OUTPUT><p:ReturnValue>4097</p:ReturnValue></p:X_OUTPUT>"),
            Some("4097")
        );
        assert_eq!(return_value("<p:Items/>"), None);
    }
}
