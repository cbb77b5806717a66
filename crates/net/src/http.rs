//! HTTP on a machine's port: one hyper connection per accepted stream,
//! requests routed by path prefix to the services registered for that port.

use crate::{BoxFuture, Conn, ConnInfo};
use bytes::Bytes;
use fakedc_model::ServiceKind;
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;

/// Response body type: boxed so services can stream (large downloads).
pub type Body = BoxBody<Bytes, std::io::Error>;
pub type HttpRequest = hyper::Request<Incoming>;
pub type HttpResponse = hyper::Response<Body>;

/// A whole body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// An HTTP service under a path prefix.
pub trait HttpService: Send + Sync + 'static {
    fn call(&self, req: HttpRequest, conn: Arc<ConnInfo>) -> BoxFuture<HttpResponse>;
}

/// One route: a path prefix, the endpoint kind it belongs to (what the
/// journal, fault rules and the service see as `ConnInfo::service`), and
/// its service.
#[derive(Clone)]
struct Route {
    prefix: String,
    kind: ServiceKind,
    service: Arc<dyn HttpService>,
}

/// Path-prefix routes of one listener, possibly of several endpoint kinds
/// sharing its port.
#[derive(Clone, Default)]
pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    pub fn add(&mut self, prefix: &str, kind: ServiceKind, service: Arc<dyn HttpService>) {
        self.routes.retain(|r| r.prefix != prefix);
        self.routes.push(Route {
            prefix: prefix.to_string(),
            kind,
            service,
        });
        // Longest prefix first.
        self.routes
            .sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
    }

    /// Adds every route of `other`; a prefix both have is a clash (which
    /// service would answer is not decidable), reported as `Err(prefix)`.
    pub fn merge(&mut self, other: &Router) -> Result<(), String> {
        for r in &other.routes {
            if self
                .routes
                .iter()
                .any(|x| x.prefix == r.prefix && x.kind != r.kind)
            {
                return Err(r.prefix.clone());
            }
            self.add(&r.prefix, r.kind, r.service.clone());
        }
        Ok(())
    }

    fn route(&self, path: &str) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| path.starts_with(r.prefix.as_str()))
    }

    /// Whether routes of more than one endpoint kind are here.
    fn shared(&self) -> bool {
        self.routes.windows(2).any(|w| w[0].kind != w[1].kind)
    }
}

fn not_found() -> HttpResponse {
    let mut r = hyper::Response::new(full("Not Found"));
    *r.status_mut() = hyper::StatusCode::NOT_FOUND;
    r.headers_mut().insert(
        hyper::header::SERVER,
        hyper::header::HeaderValue::from_static("Microsoft-HTTPAPI/2.0"),
    );
    r
}

/// Serves one connection until it closes or fakedc shuts down (then the
/// request in flight finishes first).
pub(crate) fn serve(router: Arc<Router>, conn: Conn) -> BoxFuture<()> {
    Box::pin(async move {
        let info = conn.info.clone();
        // On a shared listener each endpoint kind gets its own view of the
        // connection (same peer, same state map, its own `service`), made
        // once per connection.
        let views: Arc<Vec<(ServiceKind, Arc<ConnInfo>)>> = Arc::new(if router.shared() {
            let mut v: Vec<(ServiceKind, Arc<ConnInfo>)> = Vec::new();
            for r in &router.routes {
                if !v.iter().any(|(k, _)| *k == r.kind) {
                    let mut i = (*info).clone();
                    i.service = r.kind;
                    v.push((r.kind, Arc::new(i)));
                }
            }
            v
        } else {
            Vec::new()
        });
        let svc = service_fn(move |req: HttpRequest| {
            let router = router.clone();
            let info = info.clone();
            let views = views.clone();
            async move {
                let resp = match router.route(req.uri().path()) {
                    Some(r) => {
                        let conn = views
                            .iter()
                            .find(|(k, _)| *k == r.kind)
                            .map(|(_, c)| c.clone())
                            .unwrap_or(info);
                        r.service.call(req, conn).await
                    }
                    None => not_found(),
                };
                Ok::<_, std::convert::Infallible>(resp)
            }
        });
        let closing = conn.info.closing.clone();
        let http = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(Duration::from_secs(30))
            .max_buf_size(64 * 1024)
            .serve_connection(TokioIo::new(conn.io), svc);
        tokio::pin!(http);
        tokio::select! {
            _ = http.as_mut() => {}
            _ = closing.cancelled() => {
                http.as_mut().graceful_shutdown();
                let _ = http.await;
            }
        }
    })
}
