//! HTTP glue of the SMI-S provider: `POST /cimom` on the array's 5988
//! (HTTP) and 5989 (HTTPS). Basic authentication against the array's
//! users through the one authenticator (`fakedc_net::auth`), the DSP0200
//! headers (`CIMOperation`, `CIMMethod`, `CIMError`), body limits, the
//! busy fault, the journal; the operations themselves are [`crate::ops`].

use crate::cimxml::{decode, MAX_BODY};
use crate::ops;
use fakedc_model::{FaultKind, Model, ServiceKind};
use fakedc_net::auth::{NtlmConn, NtlmOffer, Outcome, Policy};
use fakedc_net::{full, BoxFuture, ConnInfo, HttpRequest, HttpResponse, HttpService, Services};
use http_body_util::BodyExt;
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::StatusCode;
use std::sync::Arc;
use tracing::{debug, info_span, Instrument};

pub use fakedc_net::OptionsError;
use fakedc_net::RequestJournal as Journal;

/// The path CIM clients post to (pywbem's default, DSP0200's example).
pub const PATH: &str = "/cimom";

/// Checks `[machine.options.storage]`: an array's pools and volumes, or
/// the list of arrays a VMM server manages.
pub fn validate(m: &fakedc_model::Machine) -> Result<(), OptionsError> {
    let e = |msg: String| OptionsError::new(&m.name, "storage", msg);
    match m.role {
        fakedc_model::Role::StorageArray => {
            fakedc_model::storage::parse_array(m.options.get("storage"))
                .map(|_| ())
                .map_err(e)
        }
        fakedc_model::Role::VmmServer => match m.options.get("storage") {
            Some(v) => serde_json::from_value::<fakedc_model::storage::ManagementConfig>(v.clone())
                .map(|_| ())
                .map_err(|x| e(x.to_string())),
            None => Ok(()),
        },
        _ if m.options.contains_key("storage") => Err(e(
            "only storage-array and vmm-server machines take storage options".into(),
        )),
        _ => Ok(()),
    }
}

/// Registers the provider on every array's 5988 and 5989.
pub fn register(services: &mut Services, model: &Arc<Model>) -> Result<(), OptionsError> {
    for m in model.machines() {
        validate(m)?;
    }
    let svc = Arc::new(SmisService {
        model: model.clone(),
    });
    services.http(ServiceKind::SmisHttp, PATH, svc.clone());
    services.http(ServiceKind::SmisHttps, PATH, svc);
    Ok(())
}

struct SmisService {
    model: Arc<Model>,
}

fn status(code: StatusCode) -> HttpResponse {
    let mut r = hyper::Response::new(full(Vec::new()));
    *r.status_mut() = code;
    r
}

/// A request-level failure (DSP0200 §7.3): status plus `CIMError`.
fn cim_error(code: StatusCode, cim_error: &'static str) -> HttpResponse {
    let mut r = status(code);
    r.headers_mut().insert(
        HeaderName::from_static("cimerror"),
        HeaderValue::from_static(cim_error),
    );
    r
}

fn realm(conn: &ConnInfo) -> String {
    format!("{} SMI-S", conn.machine_name)
}

impl HttpService for SmisService {
    fn call(&self, req: HttpRequest, conn: Arc<ConnInfo>) -> BoxFuture<HttpResponse> {
        let model = self.model.clone();
        let span = info_span!("request", proto = "smis", machine = %conn.machine_name);
        Box::pin(
            async move {
                let mut j = Journal {
                    model: &model,
                    conn: &conn,
                    user: None,
                    op: "http".into(),
                    start: model.clock.now(),
                };
                handle(&model, &conn, req, &mut j).await
            }
            .instrument(span),
        )
    }
}

async fn handle(
    model: &Arc<Model>,
    conn: &ConnInfo,
    req: HttpRequest,
    j: &mut Journal<'_>,
) -> HttpResponse {
    let busy = !model.faults.is_empty()
        && model
            .faults
            .matching(&conn.machine_name, conn.service.name())
            .iter()
            .any(|f| matches!(f, FaultKind::Busy));
    if busy {
        j.record("busy (fault rule): 503");
        return fakedc_net::http::error_page(conn, StatusCode::SERVICE_UNAVAILABLE);
    }
    // DSP0200 §7.1: a server without the HTTP Extension Framework answers
    // M-POST with 501, and the client retries with POST.
    if req.method().as_str() == "M-POST" {
        j.op = "M-POST".into();
        j.record("501: M-POST is not supported; use POST");
        return status(StatusCode::NOT_IMPLEMENTED);
    }
    if req.method() != hyper::Method::POST {
        j.op = format!("{} {}", req.method(), req.uri().path());
        j.record("405 method not allowed");
        let mut r = fakedc_net::http::error_page(conn, StatusCode::METHOD_NOT_ALLOWED);
        r.headers_mut()
            .insert(hyper::header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    let header = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let auth = header(AUTHORIZATION.as_str());
    // Authentication comes before anything is read or parsed.
    let policy_realm = realm(conn);
    let policy = Policy {
        basic: true,
        basic_realm: &policy_realm,
        ntlm: NtlmOffer::Off,
        digest: None,
    };
    let Some(auth) = auth else {
        j.op = "auth".into();
        j.record("401: no credentials");
        return unauthorized(model, conn, &policy);
    };
    let mut none = NtlmConn::default();
    let login = match fakedc_net::auth::authenticate(
        model,
        conn,
        &mut none,
        &policy,
        Some(&auth),
        "POST",
        req.uri().path(),
    ) {
        Outcome::Authenticated { login, .. } => login,
        Outcome::Malformed(e) => {
            j.op = "auth".into();
            j.record(&format!("400: {e}"));
            return status(StatusCode::BAD_REQUEST);
        }
        Outcome::Refused { reason, user, .. } => {
            j.op = "auth basic".into();
            j.user = user;
            j.record(&format!("auth failure: {reason}"));
            return unauthorized(model, conn, &policy);
        }
        Outcome::Challenge(_) | Outcome::Connection(_) | Outcome::Anonymous => {
            j.op = "auth".into();
            j.record("auth failure: unsupported authentication scheme");
            return unauthorized(model, conn, &policy);
        }
    };
    j.user = Some(login.user.name.clone());
    let ct_ok = header(CONTENT_TYPE.as_str()).is_some_and(|c| {
        let c = c.to_ascii_lowercase();
        c.starts_with("application/xml") || c.starts_with("text/xml")
    });
    let operation = header("cimoperation");
    if !operation
        .as_deref()
        .is_some_and(|o| o.eq_ignore_ascii_case("MethodCall"))
    {
        j.op = "request".into();
        j.record("400: CIMOperation header is not MethodCall");
        return cim_error(StatusCode::BAD_REQUEST, "unsupported-operation");
    }
    if !ct_ok {
        j.op = "request".into();
        j.record("400: Content-Type is not application/xml or text/xml");
        return cim_error(StatusCode::BAD_REQUEST, "request-not-valid");
    }
    let body = match http_body_util::Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let too_big = e.is::<http_body_util::LengthLimitError>();
            j.op = "request".into();
            j.record(if too_big {
                "413: request body over the limit"
            } else {
                "request body read failed"
            });
            let mut r = cim_error(StatusCode::PAYLOAD_TOO_LARGE, "request-not-valid");
            r.headers_mut()
                .insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
            return r;
        }
    };
    let request = match decode(&body) {
        Ok(r) => r,
        Err(e) => {
            let (h, code) = e.header();
            j.op = "decode".into();
            j.record(&format!("{code}: {e}"));
            debug!(error = %e, "CIM-XML request refused");
            return cim_error(
                StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
                h,
            );
        }
    };
    j.op = request.call.name().to_string();
    let a = ops::handle(
        model,
        conn.machine,
        login.user.privilege,
        &request,
        model.clock.now(),
    );
    j.record(&a.outcome);
    let mut r = hyper::Response::new(full(a.xml.into_bytes()));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/xml; charset=\"utf-8\""),
    );
    r.headers_mut().insert(
        HeaderName::from_static("cimoperation"),
        HeaderValue::from_static("MethodResponse"),
    );
    r
}

fn unauthorized(model: &Model, conn: &ConnInfo, policy: &Policy<'_>) -> HttpResponse {
    let mut r = status(StatusCode::UNAUTHORIZED);
    for c in fakedc_net::auth::challenges(model, conn, policy, false) {
        if let Ok(v) = HeaderValue::from_str(&c) {
            r.headers_mut().append(WWW_AUTHENTICATE, v);
        }
    }
    r
}

/// What `/about` lists.
pub fn operations() -> Vec<String> {
    vec![
        format!("POST {PATH}: CIM-XML (DSP0200/DSP0201) with HTTP Basic against the array's users"),
        format!("Intrinsic: {} (pull: the enumeration context carries the position, no server state); the other Open*/Pull* operations and the rest answer CIM_ERR_NOT_SUPPORTED, on which pywbem falls back", ops::INTRINSIC.join(", ")),
        "root/interop: CIM_ObjectManager, CIM_Namespace, CIM_ObjectManagerCommunicationMechanism, CIM_RegisteredProfile (SNIA Server, Array, Block Services, Masking and Mapping, Job Control, iSCSI Target Ports), CIM_ReferencedProfile, CIM_ElementConformsToProfile".into(),
        "root/cimv2: CIM_ComputerSystem, CIM_StoragePool (primordial + concrete), CIM_StorageVolume, CIM_iSCSIProtocolEndpoint, CIM_StorageHardwareID, CIM_SCSIProtocolController, CIM_ConcreteJob and their associations".into(),
        format!("Methods: {}", ops::METHODS.iter().map(|(c, m)| format!("{c}.{m}")).collect::<Vec<_>>().join(", ")),
    ]
}
