//! The HTTP glue: `/redfish` on every BMC's 443, a body limit, the
//! headers Redfish reads (`X-Auth-Token`, `Authorization: Basic`,
//! `If-Match`), the journal, and `OData-Version` on every answer.

use crate::api::{error, Api, Request, MAX_BODY};
use fakedc_model::Model;
use fakedc_net::{
    full, BoxFuture, ConnInfo, HttpRequest, HttpResponse, HttpService, NetHandle, Services,
};
use http_body_util::{BodyExt, Limited};
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use std::sync::Arc;
use tracing::{info_span, Instrument};

/// Registers Redfish at `/redfish` on the BMC front (its own service kind,
/// sharing SMASH's listener).
pub fn register(services: &mut Services, model: &Arc<Model>) {
    let api = Arc::new(Api::default());
    let svc = Arc::new(RedfishService {
        model: model.clone(),
        api: api.clone(),
    });
    services.http(fakedc_model::ServiceKind::Redfish, "/redfish", svc);
    let model = Arc::downgrade(model);
    services.on_start(Arc::new(move |net| {
        if let Some(model) = model.upgrade() {
            start_events(&model, api.clone(), net);
        }
    }));
}

/// The BMCs serving Redfish on a chassis.
fn bmcs_on(model: &Model, c: fakedc_model::ChassisId) -> Vec<fakedc_model::MachineId> {
    model
        .machines_on(c)
        .iter()
        .copied()
        .filter(|m| {
            let m = model.machine(*m);
            m.role == fakedc_model::Role::Bmc
                && m.endpoint(fakedc_model::ServiceKind::Redfish).is_some()
        })
        .collect()
}

/// Watches every chassis for the EventService: a model change (from any
/// protocol) is looked at by one task, which raises the events and sends
/// them; a transition due later (a graceful shutdown ending) is looked at
/// again when it is due. The task holds the model weakly and ends with it.
fn start_events(model: &Arc<Model>, api: Arc<Api>, net: NetHandle) {
    let now = model.clock.now();
    for i in 0..model.chassis_count() {
        for b in bmcs_on(model, fakedc_model::ChassisId(i)) {
            api.events.baseline(model, b, now);
        }
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<fakedc_model::ChassisId>();
    let again = tx.downgrade();
    // Runs under the model's watcher lock: only a channel send here.
    model.on_change(move |c| {
        let _ = tx.send(c);
    });
    let weak = Arc::downgrade(model);
    tokio::spawn(async move {
        // The wake-up already scheduled per chassis: a burst of changes
        // (a client resetting in a loop) schedules one timer, not one per
        // change, since each new transition is due no earlier than the
        // pending one.
        let mut wakes: std::collections::HashMap<fakedc_model::ChassisId, std::time::Instant> =
            std::collections::HashMap::new();
        while let Some(c) = rx.recv().await {
            let Some(model) = weak.upgrade() else { break };
            let now = model.clock.now();
            if wakes.get(&c).is_some_and(|at| *at <= now) {
                wakes.remove(&c);
            }
            for b in bmcs_on(&model, c) {
                // A clock advance may bring a firmware install due.
                api.tasks.settle(&model, b, now);
                for d in api.events.observe(&model, b, now) {
                    tokio::spawn(push(model.clone(), net.clone(), d));
                }
                let Some(at) = model.next_transition(b, now) else {
                    continue;
                };
                if wakes.get(&c).is_some_and(|pending| *pending <= at) {
                    continue;
                }
                wakes.insert(c, at);
                let again = again.clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
                    if let Some(tx) = again.upgrade() {
                        let _ = tx.send(c);
                    }
                });
            }
        }
    });
}

/// Longest answer read from an event destination.
const MAX_PUSH_ANSWER: usize = 64 * 1024;
/// Largest firmware image a SimpleUpdate transfers (a BMC's flash part).
const MAX_IMAGE: usize = 64 << 20;
/// Image transfers in flight across every BMC: each holds its image in
/// memory (up to [`MAX_IMAGE`]), so a fleet updating at once waits here
/// instead of holding 64 MiB per BMC.
static TRANSFERS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// One HTTP/1.1 exchange from the BMC's own address (loopback or a
/// datacenter machine only, through the network layer): event POSTs and
/// firmware image GETs. `Err` says why, in words for the journal or a
/// task's message.
async fn exchange(
    model: &Model,
    net: &NetHandle,
    bmc: fakedc_model::MachineId,
    url: &str,
    request: (&str, &[(String, String)], &[u8]),
    max_answer: usize,
    timeout: std::time::Duration,
) -> Result<fakedc_net::client::Response, String> {
    let (method, headers, body) = request;
    let (tls, addr, host, path) = crate::events::destination_addr(model, url)
        .ok_or_else(|| "refused: destination not reachable".to_string())?;
    let tcp = net
        .connect_from(bmc, fakedc_model::ServiceKind::Redfish, addr, timeout)
        .await
        .map_err(|e| format!("connect failed: {e}"))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if method != "GET" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut msg = head.into_bytes();
    msg.extend_from_slice(body);
    let result = tokio::time::timeout(timeout, async {
        use tokio::io::AsyncWriteExt;
        if tls {
            let cfg = fakedc_net::tls::client_config(&fakedc_net::tls::Trust::AnyCertificate)
                .map_err(|e| e.to_string())?;
            let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
            let mut s = tokio_rustls::TlsConnector::from(cfg)
                .connect(name, tcp)
                .await
                .map_err(|e| e.to_string())?;
            s.write_all(&msg).await.map_err(|e| e.to_string())?;
            fakedc_net::client::read_response(&mut s, false, max_answer)
                .await
                .map_err(|e| e.to_string())
        } else {
            let mut s = tcp;
            s.write_all(&msg).await.map_err(|e| e.to_string())?;
            fakedc_net::client::read_response(&mut s, false, max_answer)
                .await
                .map_err(|e| e.to_string())
        }
    })
    .await;
    match result {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(format!("failed: {e}")),
        Err(_) => Err("timed out".into()),
    }
}

/// POSTs one event to its destination from the BMC's address, and
/// journals the outcome.
async fn push(model: Arc<Model>, net: NetHandle, d: crate::events::Delivery) {
    let mut headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        ("OData-Version".to_string(), "4.0".to_string()),
    ];
    headers.extend(d.headers.iter().cloned());
    let r = exchange(
        &model,
        &net,
        d.bmc,
        &d.destination,
        ("POST", &headers, &d.body),
        MAX_PUSH_ANSWER,
        std::time::Duration::from_secs(5),
    )
    .await;
    model.journal.record(fakedc_model::Record {
        machine: model.machine(d.bmc).name.clone(),
        service: fakedc_model::ServiceKind::Redfish.name().into(),
        operation: format!("event POST {}", d.destination),
        outcome: match r {
            Ok(r) => r.status.to_string(),
            Err(e) => e,
        },
        ..Default::default()
    });
}

/// Transfers a SimpleUpdate's image (GET from the BMC's address, Basic
/// with the action's credentials if it gave them), reports to the task,
/// journals the outcome (never the credentials), and settles the task
/// when its install is due.
async fn fetch_image(
    model: Arc<Model>,
    api: Arc<Api>,
    net: Option<NetHandle>,
    f: crate::tasks::Fetch,
) {
    let result = match &net {
        None => Err("no network to fetch from".to_string()),
        Some(net) => {
            // The semaphore is never closed; if it were, transfer anyway.
            let _permit = TRANSFERS.acquire().await.ok();
            let mut headers = Vec::new();
            if let Some((u, p)) = &f.credentials {
                headers.push((
                    "Authorization".to_string(),
                    fakedc_net::auth::basic_header(u, p),
                ));
            }
            match exchange(
                &model,
                net,
                f.bmc,
                &f.url,
                ("GET", &headers, b""),
                MAX_IMAGE,
                std::time::Duration::from_secs(60),
            )
            .await
            {
                Ok(r) if r.status == 200 => Ok(r.body.len()),
                Ok(r) => Err(format!("HTTP {}", r.status)),
                Err(e) => Err(e),
            }
        }
    };
    model.journal.record(fakedc_model::Record {
        machine: model.machine(f.bmc).name.clone(),
        service: fakedc_model::ServiceKind::Redfish.name().into(),
        operation: format!("firmware GET {}", f.url),
        outcome: match &result {
            Ok(n) => format!("200 ({n} bytes)"),
            Err(e) => e.clone(),
        },
        ..Default::default()
    });
    let now = model.clock.now();
    if let Some(until) = api.tasks.transferred(&model, f.bmc, f.task, result, now) {
        let wait = until.saturating_duration_since(now);
        tokio::time::sleep(wait).await;
        api.tasks.settle(&model, f.bmc, model.clock.now());
    }
}

/// An SSE response body: frames from the task that follows the BMC's
/// event stream.
struct SseBody {
    rx: tokio::sync::mpsc::Receiver<hyper::body::Bytes>,
}

impl hyper::body::Body for SseBody {
    type Data = hyper::body::Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|o| o.map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

/// `GET ServerSentEventUri`: `text/event-stream` of the BMC's events that
/// pass the `$filter`, until the client goes or fakedc shuts down.
fn sse(
    api: &Api,
    model: &Model,
    conn: &ConnInfo,
    r: &Request<'_>,
) -> Result<(HttpResponse, String), crate::api::Reply> {
    let caller = api.stream_caller(model, conn.machine, r)?;
    let filter = crate::events::sse_filter(r.query)?;
    let Some(mut events) = api.events.stream(conn.machine) else {
        return Err(error(
            503,
            "ServiceTemporarilyUnavailable",
            "The service is temporarily unavailable.  Retry in 30 seconds.".into(),
            "Critical",
            "Wait for the indicated retry duration and retry the operation.",
        ));
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<hyper::body::Bytes>(16);
    let closing = conn.closing.clone();
    tokio::spawn(async move {
        // A comment first, so the client sees the stream open at once.
        if tx
            .send(hyper::body::Bytes::from_static(b": stream open\n\n"))
            .await
            .is_err()
        {
            return;
        }
        loop {
            tokio::select! {
                _ = closing.cancelled() => break,
                _ = tx.closed() => break,
                e = events.recv() => match e {
                    Ok(e) => {
                        if filter.matches(&e) {
                            let m = crate::events::sse_message(&e);
                            if tx.send(m.into()).await.is_err() {
                                break;
                            }
                        }
                    }
                    // A slow reader misses what it fell behind on.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                },
            }
        }
    });
    let mut h = hyper::Response::new(http_body_util::BodyExt::boxed(SseBody { rx }));
    let hs = h.headers_mut();
    hs.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    hs.insert(
        HeaderName::from_static("odata-version"),
        HeaderValue::from_static("4.0"),
    );
    hs.insert(
        hyper::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    Ok((h, caller.user))
}

/// What `/about` lists.
pub fn operations() -> Vec<String> {
    [
        "GET /redfish, service root, /redfish/v1/odata, /redfish/v1/$metadata (anonymous)",
        "SessionService: POST Sessions (X-Auth-Token, Location), GET, DELETE; HTTP Basic",
        "Systems/1: PowerState, Boot override PATCH (Pxe/Hdd/Cd/BiosSetup/Floppy/Diags, Once/Continuous/Disabled, UEFI/Legacy, If-Match), Actions/ComputerSystem.Reset (On, ForceOff, GracefulShutdown, ForceRestart, PowerCycle, Nmi)",
        "Chassis/1 (identity, power state) and Chassis/1/Sensors (the chassis sensors IPMI's SDR lists); Managers/1 (identity)",
        "Systems/1/LogServices/SEL: Entries from the chassis event log (the IPMI SEL), LogService.ClearLog",
        "AccountService: Accounts are the BMC's IPMI users (POST creates in IPMI slots 2-16, DELETE, PATCH Password/UserName/RoleId/Enabled/PasswordChangeRequired); Roles Administrator, Operator, ReadOnly",
        "Managers/1/VirtualMedia/CD1: InsertMedia (http/https image on loopback or a datacenter machine; recorded, not fetched), EjectMedia; a CD boot override boots the inserted image",
        "EventService: Subscriptions (POST/GET/DELETE; events POSTed to loopback destinations), SSE at ServerSentEventUri with $filter (MessageId, RegistryPrefix, ResourceType, OriginResource, EventFormatType), SubmitTestEvent; ResourceEvent power and SEL (ResourceCreated) events from the shared chassis",
        "Query parameters: $select, $expand (*, ., ~, $levels up to 3), $top/$skip on collections; $filter (outside SSE), only, excerpt and other $ parameters: 501 QueryNotSupported",
        "HEAD; Allow, Link rel=describedby, Cache-Control, OData-Version (4.0 only, else 412)",
        "Errors: Base.1.10 message registry bodies; ETags on every resource",
        "Systems/1 inventory, read-only: ProcessorSummary/MemorySummary, Processors (CPUs, cores, MHz: [machine.options.smash] as SMASH reads them), Memory (DIMMs), EthernetInterfaces (MACs from the chassis GUID; [machine.options.redfish] nics), Storage/1 with Drives and SimpleStorage/1 ([machine.options.redfish] disks_gb), Bios (fixed attributes, no settings object) with its read-only attribute registry under /redfish/v1/Registries",
        "TaskService: Tasks (TaskState, PercentComplete, TaskEvent/Update Messages), TaskMonitors (202 + Location while running, the action's answer when done, DELETE cancels)",
        "UpdateService: FirmwareInventory BMC and BIOS (the chassis's versions IPMI and SMASH report); SimpleUpdate as a task: ImageURI over HTTP/HTTPS from loopback or a datacenter machine, fetched from the BMC's address, version from the image's file name, installed after [machine.options.redfish] update_ms of model time",
        "Chassis/1: PowerSubsystem, ThermalSubsystem (Fans, ThermalMetrics), EnvironmentMetrics, deprecated Power and Thermal, all from the chassis sensors (IPMI's SDR)",
        "Not built: Bios settings (PATCH), PowerSupplies, Managers/1 reset actions, UpdateService MultipartHttpPushUri",
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
                if method == "GET" && parts.uri.path().trim_end_matches('/') == crate::events::SSE {
                    j.op = format!("GET {}", crate::events::SSE);
                    return match sse(&api, &model, &conn, &r) {
                        Ok((resp, user)) => {
                            j.user = Some(user);
                            j.record("200 (stream)");
                            resp
                        }
                        Err(reply) => {
                            j.record(&reply.status.to_string());
                            to_http(reply)
                        }
                    };
                }
                let out = api.handle(&model, conn.machine, model.clock.now(), &r);
                if let Some(net) = &conn.net {
                    for d in api.take_deliveries() {
                        tokio::spawn(push(model.clone(), net.clone(), d));
                    }
                }
                for f in api.take_fetches() {
                    tokio::spawn(fetch_image(model.clone(), api.clone(), conn.net.clone(), f));
                }
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
