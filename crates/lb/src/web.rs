//! The `web` service: an IIS-like site on HTTP 80 of VM guests and hosts,
//! what a load balancer's pool members serve. `GET /` answers IIS's
//! default page naming the machine (so a client behind a virtual server
//! sees which member answered); other paths are static files from the
//! share's `wwwroot/` (IIS's C:\inetpub\wwwroot), opened through a cap-std
//! `Dir` so no path leaves it. The front stamps `Server:
//! Microsoft-IIS/10.0` and serves IIS's error pages; the listener follows
//! the machine's power like every OS endpoint.

use bytes::Bytes;
use cap_std::fs::Dir;
use fakedc_model::{MachineId, Model, ServiceKind};
use fakedc_net::http::error_page;
use fakedc_net::{full, BoxFuture, ConnInfo, HttpRequest, HttpResponse, HttpService, Services};
use http_body_util::BodyExt;
use hyper::body::Frame;
use hyper::header::{HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::StatusCode;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

/// Longest URL path served.
const MAX_PATH: usize = 2048;
/// Read size when streaming a file.
const CHUNK: usize = 64 * 1024;

/// Registers the site on every machine's `web` endpoint.
pub fn register(services: &mut Services, model: &Arc<Model>) {
    let mut roots = HashMap::new();
    for m in model.machines() {
        if !m.endpoints.iter().any(|e| e.service == ServiceKind::Web) {
            continue;
        }
        // The share's wwwroot, when there is one: a missing directory
        // simply serves the default page only.
        let dir = m.share.as_ref().and_then(|s| {
            let root = s.join("wwwroot");
            let _ = std::fs::create_dir_all(&root);
            Dir::open_ambient_dir(&root, cap_std::ambient_authority()).ok()
        });
        roots.insert(m.id, dir.map(Arc::new));
    }
    services.http(
        ServiceKind::Web,
        "/",
        Arc::new(Site {
            model: model.clone(),
            roots: Arc::new(roots),
        }),
    );
}

struct Site {
    model: Arc<Model>,
    roots: Arc<HashMap<MachineId, Option<Arc<Dir>>>>,
}

impl HttpService for Site {
    fn call(&self, req: HttpRequest, conn: Arc<ConnInfo>) -> BoxFuture<HttpResponse> {
        let model = self.model.clone();
        let root = self.roots.get(&conn.machine).cloned().flatten();
        Box::pin(async move {
            let method = req.method().clone();
            let path = req.uri().path().to_string();
            let start = model.clock.now();
            let (resp, outcome) = answer(&model, &conn, root, &method, &path);
            fakedc_net::RequestJournal {
                model: &model,
                conn: &conn,
                user: None,
                op: format!("{method} {}", path.chars().take(200).collect::<String>()),
                start,
            }
            .record(&outcome);
            resp
        })
    }
}

fn answer(
    model: &Model,
    conn: &ConnInfo,
    root: Option<Arc<Dir>>,
    method: &hyper::Method,
    path: &str,
) -> (HttpResponse, String) {
    let head = method == hyper::Method::HEAD;
    if method != hyper::Method::GET && !head {
        let mut r = error_page(conn, StatusCode::METHOD_NOT_ALLOWED);
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD, OPTIONS, TRACE"));
        return (r, "405".into());
    }
    if path == "/" || path.eq_ignore_ascii_case("/iisstart.htm") {
        let m = model.machine(conn.machine);
        let page = format!(
            "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\">\r\n\
             <html xmlns=\"http://www.w3.org/1999/xhtml\">\r\n<head>\r\n\
             <meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\" />\r\n\
             <title>IIS Windows Server</title>\r\n</head>\r\n<body>\r\n\
             <div id=\"container\">\r\n<h1>{name}</h1>\r\n<p>Served by {dns} ({addr}), Internet Information Services 10.0.</p>\r\n</div>\r\n\
             </body>\r\n</html>",
            name = m.name,
            dns = m.dns_name,
            addr = m.address
        );
        let len = page.len();
        let mut r = hyper::Response::new(if head { full(Bytes::new()) } else { full(page) });
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/html"));
        if head {
            r.headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(len));
        }
        return (r, "200 default page".into());
    }
    let Some(rel) = safe_path(path) else {
        return (
            error_page(conn, StatusCode::NOT_FOUND),
            "404 bad path".into(),
        );
    };
    let Some(root) = root else {
        return (
            error_page(conn, StatusCode::NOT_FOUND),
            "404 no wwwroot".into(),
        );
    };
    let file = match root.open(&rel) {
        Ok(f) => f,
        Err(_) => return (error_page(conn, StatusCode::NOT_FOUND), "404".into()),
    };
    let len = match file.metadata() {
        Ok(md) if md.is_file() => md.len(),
        _ => {
            return (
                error_page(conn, StatusCode::NOT_FOUND),
                "404 not a file".into(),
            )
        }
    };
    let body = if head {
        full(Bytes::new())
    } else {
        FileBody {
            file: tokio::fs::File::from_std(file.into_std()),
            left: len,
            buf: vec![0; CHUNK],
        }
        .boxed()
    };
    let mut r = hyper::Response::new(body);
    r.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(len));
    let ct = if rel.ends_with(".htm") || rel.ends_with(".html") {
        "text/html"
    } else if rel.ends_with(".txt") {
        "text/plain"
    } else {
        "application/octet-stream"
    };
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    (r, format!("200 {len} bytes"))
}

/// A URL path as a relative path inside wwwroot: percent-decoded, no
/// empty, `.` or `..` segments, no backslashes or NULs.
fn safe_path(path: &str) -> Option<String> {
    if path.len() > MAX_PATH {
        return None;
    }
    let mut out = Vec::new();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        let b = seg.as_bytes();
        let mut dec = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b.get(i) == Some(&b'%') {
                let v = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())?;
                dec.push(v);
                i += 3;
            } else {
                dec.push(*b.get(i)?);
                i += 1;
            }
        }
        let s = String::from_utf8(dec).ok()?;
        if s == "." || s == ".." || s.contains(['/', '\\', '\0', ':']) {
            return None;
        }
        out.push(s);
    }
    if out.is_empty() {
        return None;
    }
    Some(out.join("/"))
}

/// A file streamed in chunks.
struct FileBody {
    file: tokio::fs::File,
    left: u64,
    buf: Vec<u8>,
}

impl hyper::body::Body for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        if this.left == 0 {
            return Poll::Ready(None);
        }
        let want = (this.left.min(this.buf.len() as u64)) as usize;
        let Some(slice) = this.buf.get_mut(..want) else {
            return Poll::Ready(None);
        };
        let mut rb = ReadBuf::new(slice);
        match Pin::new(&mut this.file).poll_read(cx, &mut rb) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(())) => {
                let n = rb.filled().len();
                if n == 0 {
                    return Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "file shrank while it was sent",
                    ))));
                }
                this.left -= n as u64;
                Poll::Ready(Some(Ok(Frame::data(Bytes::copy_from_slice(rb.filled())))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.left)
    }
}

#[cfg(test)]
mod tests {
    use super::safe_path;

    #[test]
    fn paths_stay_inside() {
        assert_eq!(safe_path("/a/b.txt").as_deref(), Some("a/b.txt"));
        for p in [
            "/../x",
            "/a/%2e%2e/x",
            "/a%2fb",
            "/a\\b",
            "/%00",
            "/c:x",
            "/",
        ] {
            assert_eq!(safe_path(p), None, "{p}");
        }
    }
}
