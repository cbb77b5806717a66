//! The HTTP glue: `/redfish` on every BMC's 443, a body limit, the
//! headers Redfish reads (`X-Auth-Token`, `Authorization: Basic`,
//! `If-Match`), the journal, and `OData-Version` on every answer.

use crate::api::{error, Api, Request, MAX_BODY};
use fakedc_model::Model;
use fakedc_net::{full, BoxFuture, ConnInfo, HttpRequest, HttpResponse, HttpService, Services};
use http_body_util::{BodyExt, Limited};
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use std::sync::Arc;
use tracing::{info_span, Instrument};

/// Registers Redfish at `/redfish` on the BMC front (its own service kind,
/// sharing SMASH's listener).
pub fn register(services: &mut Services, model: &Arc<Model>) {
    let svc = Arc::new(RedfishService {
        model: model.clone(),
        api: Arc::new(Api::default()),
    });
    services.http(fakedc_model::ServiceKind::Redfish, "/redfish", svc);
}

/// What `/about` lists.
pub fn operations() -> Vec<String> {
    [
        "GET /redfish, service root, /redfish/v1/odata, /redfish/v1/$metadata (anonymous)",
        "SessionService: POST Sessions (X-Auth-Token, Location), GET, DELETE; HTTP Basic",
        "Systems/1: PowerState, Boot override PATCH (Pxe/Hdd/Cd/BiosSetup/Floppy/Diags, Once/Continuous/Disabled, UEFI/Legacy, If-Match), Actions/ComputerSystem.Reset (On, ForceOff, GracefulShutdown, ForceRestart, PowerCycle, Nmi)",
        "Chassis/1 (identity, power state) and Chassis/1/Sensors (the chassis sensors IPMI's SDR lists); Managers/1 (identity)",
        "Systems/1/LogServices/SEL: Entries from the chassis event log (the IPMI SEL), LogService.ClearLog",
        "AccountService: Accounts are the BMC's IPMI users; PATCH Password; Roles Administrator, Operator, ReadOnly",
        "HEAD; Allow, Link rel=describedby, Cache-Control, OData-Version (4.0 only, else 412)",
        "Errors: Base.1.10 message registry bodies; ETags on every resource",
        "Not built: query parameters ($select/$expand/$top/$skip/$filter: 501 QueryNotSupported), VirtualMedia, EventService/SSE",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

struct RedfishService {
    model: Arc<Model>,
    api: Arc<Api>,
}

use fakedc_net::RequestJournal as Journal;

impl HttpService for RedfishService {
    fn call(&self, req: HttpRequest, conn: Arc<ConnInfo>) -> BoxFuture<HttpResponse> {
        let model = self.model.clone();
        let api = self.api.clone();
        let span = info_span!("request", proto = "redfish", machine = %conn.machine_name);
        Box::pin(
            async move {
                let mut j = Journal {
                    model: &model,
                    conn: &conn,
                    user: None,
                    op: "http".into(),
                    start: model.clock.now(),
                };
                let (parts, body) = req.into_parts();
                let body = match Limited::new(body, MAX_BODY).collect().await {
                    Ok(b) => b.to_bytes(),
                    Err(_) => {
                        j.op = format!("{} {}", parts.method, parts.uri.path());
                        j.record("413: body too large");
                        let r = error(
                            413,
                            "GeneralError",
                            format!("The request body is larger than {MAX_BODY} bytes."),
                            "Critical",
                            "None.",
                        );
                        return to_http(r);
                    }
                };
                let header = |n: &str| parts.headers.get(n).and_then(|v| v.to_str().ok());
                let basic = parts
                    .headers
                    .get(AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(fakedc_net::auth::parse_basic);
                let method = parts.method.as_str();
                let r = Request {
                    method,
                    path: parts.uri.path(),
                    token: header("x-auth-token"),
                    basic,
                    if_match: header("if-match"),
                    query: parts.uri.query(),
                    odata_version: header("odata-version"),
                    body: &body,
                };
                let out = api.handle(&model, conn.machine, model.clock.now(), &r);
                j.op = out.op;
                j.user = out.user;
                j.record(&out.reply.status.to_string());
                to_http(out.reply)
            }
            .instrument(span),
        )
    }
}

fn to_http(r: crate::api::Reply) -> HttpResponse {
    let mut h = hyper::Response::new(full(r.body));
    *h.status_mut() =
        hyper::StatusCode::from_u16(r.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let hs = h.headers_mut();
    hs.insert(CONTENT_TYPE, HeaderValue::from_static(r.content_type));
    hs.insert(
        HeaderName::from_static("odata-version"),
        HeaderValue::from_static("4.0"),
    );
    // Every answer is computed from live state: nothing may be cached.
    hs.insert(
        hyper::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    for (k, v) in r.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::from_str(&v)) {
            hs.append(k, v);
        }
    }
    h
}
