//! The load balancer's `check` probe: TLS (any certificate: the question
//! is the protocol, not trust), then iControl REST's login and
//! `GET /mgmt/tm/sys/version` with the token, as f5-sdk starts. Without
//! credentials an unauthenticated `sys/version` must get F5's 401 body.
//! The web site's probe is a plain `GET /`.

use bytes::Bytes;
use fakedc_net::{ProbeReport, ProbeTarget, ProbeVerdict};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

const MAX_ANSWER: usize = 1 << 20;

fn report(v: ProbeVerdict, d: impl Into<String>) -> ProbeReport {
    ProbeReport::new(v, d)
}

/// One request on a fresh connection: (status, Server header, body).
async fn request(
    t: &ProbeTarget,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<Value>,
) -> Result<(u16, Option<String>, Bytes), ProbeReport> {
    let tcp = tokio::net::TcpStream::connect(t.addr)
        .await
        .map_err(|e| report(ProbeVerdict::Refused, e.to_string()))?;
    let io: Box<dyn fakedc_net::Io> = if t.tls {
        let cfg = fakedc_net::tls::client_config(&fakedc_net::tls::Trust::AnyCertificate)
            .map_err(|e| report(ProbeVerdict::TlsFailure, e.to_string()))?;
        let name = rustls::pki_types::ServerName::try_from("localhost")
            .map_err(|e| report(ProbeVerdict::TlsFailure, e.to_string()))?;
        let s = tokio_rustls::TlsConnector::from(cfg)
            .connect(name, tcp)
            .await
            .map_err(|e| report(ProbeVerdict::TlsFailure, e.to_string()))?;
        Box::new(s)
    } else {
        Box::new(tcp)
    };
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| report(ProbeVerdict::WrongProtocol, e.to_string()))?;
    tokio::spawn(conn);
    let mut b = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", t.addr.to_string());
    for (k, v) in headers {
        b = b.header(*k, v.as_str());
    }
    let payload = body.map(|v| v.to_string()).unwrap_or_default();
    if !payload.is_empty() {
        b = b.header("content-type", "application/json");
    }
    let req = b
        .body(Full::new(Bytes::from(payload)))
        .map_err(|e| report(ProbeVerdict::WrongProtocol, e.to_string()))?;
    let resp = send
        .send_request(req)
        .await
        .map_err(|e| report(ProbeVerdict::WrongProtocol, e.to_string()))?;
    let status = resp.status().as_u16();
    let server = resp
        .headers()
        .get("server")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = Limited::new(resp.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| report(ProbeVerdict::WrongProtocol, e.to_string()))?
        .to_bytes();
    Ok((status, server, body))
}

/// Probes iControl REST on the LB's 443.
pub async fn probe(t: ProbeTarget) -> ProbeReport {
    match tokio::time::timeout(t.timeout * 3, probe_inner(&t)).await {
        Ok(r) => r,
        Err(_) => report(
            ProbeVerdict::Timeout,
            format!("no answer within {:?}", t.timeout),
        ),
    }
}

async fn probe_inner(t: &ProbeTarget) -> ProbeReport {
    let Some((user, pass)) = t.creds() else {
        return match request(t, "GET", "/mgmt/tm/sys/version", &[], None).await {
            Err(r) => r,
            Ok((401, _, b))
                if serde_json::from_slice::<Value>(&b).is_ok_and(|v| v["code"] == 401) =>
            {
                report(
                    ProbeVerdict::Verified,
                    "iControl REST answered F5's 401 (no credentials given)",
                )
            }
            Ok((s, _, _)) => report(
                ProbeVerdict::WrongProtocol,
                format!("sys/version without credentials answered HTTP {s}"),
            ),
        };
    };
    let login = json!({"username": user, "password": pass, "loginProviderName": "tmos"});
    let (s, _, b) = match request(t, "POST", "/mgmt/shared/authn/login", &[], Some(login)).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if s == 401 {
        return report(ProbeVerdict::AuthFailure, "login refused with 401");
    }
    let token = serde_json::from_slice::<Value>(&b)
        .ok()
        .and_then(|v| v["token"]["token"].as_str().map(str::to_string));
    let Some(token) = token else {
        return report(
            ProbeVerdict::WrongProtocol,
            format!("login answered HTTP {s} without a token"),
        );
    };
    let (s, _, b) = match request(
        t,
        "GET",
        "/mgmt/tm/sys/version",
        &[("x-f5-auth-token", token)],
        None,
    )
    .await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let v: Value = serde_json::from_slice(&b).unwrap_or(Value::Null);
    let version = v["entries"]
        .as_object()
        .and_then(|e| e.values().next())
        .and_then(|e| e["nestedStats"]["entries"]["Version"]["description"].as_str())
        .map(str::to_string);
    match (s, version) {
        (200, Some(ver)) => {
            let mut r = report(
                ProbeVerdict::Verified,
                format!("iControl REST login + sys/version: BIG-IP {ver}"),
            );
            r.facts.push(("version", ver));
            r
        }
        (s, _) => report(
            ProbeVerdict::WrongProtocol,
            format!("sys/version answered HTTP {s}"),
        ),
    }
}

/// Probes the web site: `GET /` must answer 200 from IIS.
pub async fn probe_web(t: ProbeTarget) -> ProbeReport {
    let r = tokio::time::timeout(t.timeout * 2, request(&t, "GET", "/", &[], None)).await;
    match r {
        Err(_) => report(
            ProbeVerdict::Timeout,
            format!("no answer within {:?}", t.timeout),
        ),
        Ok(Err(r)) => r,
        Ok(Ok((200, server, _))) => report(
            ProbeVerdict::Verified,
            format!("GET / 200, Server: {}", server.unwrap_or_default()),
        ),
        Ok(Ok((s, _, _))) => report(
            ProbeVerdict::WrongProtocol,
            format!("GET / answered HTTP {s}"),
        ),
    }
}
