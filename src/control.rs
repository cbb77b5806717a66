//! The control API: HTTP/JSON on a loopback address, for harnesses and
//! people. Routes are listed in the README; every change goes through the
//! same operations as the library handle.

use crate::datacenter::{machine_state, Core, Error};
use bytes::Bytes;
use fakedc_model::{BootOverride, FaultRule, PowerAction, Query};
use fakedc_net::{full, Body};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info_span, Instrument};

/// Request bodies are small JSON documents.
const MAX_BODY: usize = 64 * 1024;

/// Binds the control API (through the network layer) and serves it until
/// `shutdown`.
pub(crate) async fn serve(
    core: Arc<Core>,
    addr: SocketAddr,
    shutdown: CancellationToken,
) -> Result<SocketAddr, Error> {
    let listener = fakedc_net::bind_tcp(addr)?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::Control(e.to_string()))?;
    tokio::spawn(
        async move {
            loop {
                let (stream, peer) = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    r = listener.accept() => match r {
                        Ok(x) => x,
                        Err(e) => { debug!(error = %e, "control accept"); continue; }
                    },
                };
                let core = core.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let core = core.clone();
                        async move { Ok::<_, std::convert::Infallible>(handle(&core, req, peer).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        }
        .instrument(info_span!("control", addr = %local)),
    );
    Ok(local)
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    let body = serde_json::to_vec_pretty(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn error(status: StatusCode, message: impl Into<String>) -> Response<Body> {
    json(status, &serde_json::json!({ "error": message.into() }))
}

/// A refused request: status and message, turned into a JSON error body.
type Reject = (StatusCode, String);

fn reject((status, message): Reject) -> Response<Body> {
    error(status, message)
}

async fn body_json<T: serde::de::DeserializeOwned>(req: Request<Incoming>) -> Result<T, Reject> {
    let bytes: Bytes = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Err((StatusCode::PAYLOAD_TOO_LARGE, e.to_string())),
    };
    serde_json::from_slice(&bytes).map_err(|e| (StatusCode::BAD_REQUEST, format!("bad JSON: {e}")))
}

fn query_of(req: &Request<Incoming>) -> Result<Query, Reject> {
    let mut q = Query::default();
    for pair in req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = fakedc_net::url::percent_decode_lossy(v, true);
        let num = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| (StatusCode::BAD_REQUEST, format!("{k}: not a number")))
        };
        match k {
            "machine" => q.machine = Some(v),
            "service" => q.service = Some(v),
            "operation" => q.operation = Some(v),
            "after" => q.after = Some(num(&v)?),
            "since_ms" => q.since_ms = Some(num(&v)?),
            "limit" => q.limit = Some(num(&v)? as usize),
            other => {
                return Err((
                    StatusCode::BAD_REQUEST,
                    format!("unknown query parameter '{other}'"),
                ))
            }
        }
    }
    Ok(q)
}

#[derive(serde::Deserialize)]
struct PowerBody {
    action: String,
}

async fn handle(core: &Core, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let path: Vec<String> = req
        .uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| fakedc_net::url::percent_decode_lossy(s, false))
        .collect();
    let parts: Vec<&str> = path.iter().map(|s| s.as_str()).collect();
    debug!(%peer, method = %req.method(), path = %req.uri().path(), "control request");
    let method = req.method().clone();
    match (&method, parts.as_slice()) {
        (&Method::GET, ["health"]) => json(StatusCode::OK, &serde_json::json!({"status": "ok"})),
        (&Method::GET, ["ready"]) => json(
            StatusCode::OK,
            &serde_json::json!({"ready": true, "endpoints": core.endpoints.iter().filter(|e| e.served).count()}),
        ),
        (&Method::GET, ["about"]) => {
            let about: serde_json::Map<String, serde_json::Value> = crate::about()
                .into_iter()
                .map(|(p, ops)| (p.to_string(), serde_json::json!(ops)))
                .collect();
            json(StatusCode::OK, &about)
        }
        (&Method::GET, ["endpoints"]) => json(StatusCode::OK, &*core.endpoints),
        (&Method::GET, ["machines"]) => {
            let all: Vec<_> = core
                .model
                .machines()
                .iter()
                .map(|m| machine_state(&core.model, m.id))
                .collect();
            json(StatusCode::OK, &all)
        }
        (&Method::GET, ["machines", name]) => match core.id(name) {
            Ok(id) => json(StatusCode::OK, &machine_state(&core.model, id)),
            Err(e) => error(StatusCode::NOT_FOUND, e.to_string()),
        },
        (&Method::POST, ["machines", name, "power"])
        | (&Method::POST, ["machines", name, "power", _]) => {
            let action = match parts.get(3) {
                Some(a) => a.to_string(),
                None => match body_json::<PowerBody>(req).await {
                    Ok(b) => b.action,
                    Err(r) => return reject(r),
                },
            };
            let action: PowerAction = match action.parse() {
                Ok(a) => a,
                Err(e) => return error(StatusCode::BAD_REQUEST, e),
            };
            match core.power(name, action, "control") {
                Ok(()) => match core.id(name) {
                    Ok(id) => json(StatusCode::OK, &machine_state(&core.model, id)),
                    Err(e) => error(StatusCode::NOT_FOUND, e.to_string()),
                },
                Err(e) => error(StatusCode::NOT_FOUND, e.to_string()),
            }
        }
        // A VM's console as VMConnect shows it (fakedc-console renders
        // both), by VM name, VM id or guest machine name.
        (&Method::GET, ["machines", name, "console.png"]) => {
            match fakedc_console::find_vm(&core.model, name) {
                Some(vm) => {
                    let now = core.model.clock.now();
                    let png = fakedc_console::consoles(&core.model)
                        .render(&core.model, &vm, now)
                        .png();
                    let mut r = Response::new(full(png));
                    r.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static("image/png"),
                    );
                    r
                }
                None => error(StatusCode::NOT_FOUND, format!("no VM named '{name}'")),
            }
        }
        (&Method::PUT, ["machines", name, "boot"]) => {
            let name = name.to_string();
            let boot: BootOverride = match body_json(req).await {
                Ok(b) => b,
                Err(r) => return reject(r),
            };
            match core.set_boot(&name, boot) {
                Ok(()) => json(StatusCode::OK, &boot),
                Err(e) => error(StatusCode::NOT_FOUND, e.to_string()),
            }
        }
        (&Method::GET, ["journal"]) => match query_of(&req) {
            Ok(q) => json(StatusCode::OK, &core.model.journal.query(&q)),
            Err(r) => reject(r),
        },
        (&Method::GET, ["faults"]) => json(StatusCode::OK, &core.model.faults.list()),
        (&Method::POST, ["faults"]) => {
            let rule: FaultRule = match body_json(req).await {
                Ok(r) => r,
                Err(r) => return reject(r),
            };
            if let Some(m) = &rule.machine {
                if core.model.find(m).is_none() {
                    return error(StatusCode::BAD_REQUEST, format!("no machine named '{m}'"));
                }
            }
            if let Some(s) = &rule.service {
                if s.parse::<fakedc_model::ServiceKind>().is_err() {
                    return error(StatusCode::BAD_REQUEST, format!("unknown service '{s}'"));
                }
            }
            let id = core.add_fault(rule);
            json(StatusCode::CREATED, &serde_json::json!({ "id": id }))
        }
        (&Method::DELETE, ["faults"]) => {
            core.clear_faults();
            json(StatusCode::OK, &serde_json::json!({ "removed": "all" }))
        }
        (&Method::DELETE, ["faults", id]) => match id.parse::<u64>() {
            Ok(id) if core.remove_fault(id) => {
                json(StatusCode::OK, &serde_json::json!({ "removed": id }))
            }
            Ok(id) => error(StatusCode::NOT_FOUND, format!("no fault rule {id}")),
            Err(_) => error(StatusCode::BAD_REQUEST, "fault id must be a number"),
        },
        (&Method::POST, ["reset"]) => {
            core.reset();
            json(StatusCode::OK, &serde_json::json!({ "reset": true }))
        }
        _ => error(
            StatusCode::NOT_FOUND,
            format!("no route for {} {}", method, req.uri().path()),
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn percent_decoding() {
        assert_eq!(
            fakedc_net::url::percent_decode_lossy("a%20b+c", true),
            "a b c"
        );
        assert_eq!(fakedc_net::url::percent_decode_lossy("100%", true), "100%");
        assert_eq!(fakedc_net::url::percent_decode_lossy("%zz", true), "%zz");
    }
}
