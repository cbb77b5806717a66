//! HTTP on a machine's port: one hyper connection per accepted stream,
//! requests routed by path prefix to the services registered for that port.

use crate::{BoxFuture, Conn, ConnInfo};
use bytes::Bytes;
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

/// Path-prefix routes of one port.
#[derive(Clone, Default)]
pub struct Router {
    routes: Vec<(String, Arc<dyn HttpService>)>,
}

impl Router {
    pub fn add(&mut self, prefix: &str, service: Arc<dyn HttpService>) {
        self.routes.retain(|(p, _)| p != prefix);
        self.routes.push((prefix.to_string(), service));
        // Longest prefix first.
        self.routes.sort_by_key(|r| std::cmp::Reverse(r.0.len()));
    }

    fn route(&self, path: &str) -> Option<&Arc<dyn HttpService>> {
        self.routes
            .iter()
            .find(|(p, _)| path.starts_with(p.as_str()))
            .map(|(_, s)| s)
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
        let svc = service_fn(move |req: HttpRequest| {
            let router = router.clone();
            let info = info.clone();
            async move {
                let resp = match router.route(req.uri().path()) {
                    Some(s) => s.call(req, info).await,
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
