//! The WinRM probe `fakedc check` uses: an anonymous Identify (vendor and
//! version), then, with credentials, one authenticated Enumerate of
//! Win32_OperatingSystem (Basic over HTTPS, NTLM with encryption over HTTP,
//! as a Windows host expects by default).

use crate::client::{
    enumerate_body, identify_request, insecure_tls, request, Auth, Client, ClientError,
};
use crate::message::{action, ns};
use crate::xml::{parse, Limits};
use std::net::SocketAddr;
use std::time::Duration;

/// Shared with every other probe (see `fakedc_net::probe`).
pub use fakedc_net::ProbeVerdict;

#[derive(Debug, Clone)]
pub struct ProbeResult {
    pub verdict: ProbeVerdict,
    pub detail: String,
}

fn r(verdict: ProbeVerdict, detail: impl Into<String>) -> ProbeResult {
    ProbeResult {
        verdict,
        detail: detail.into(),
    }
}

fn from_err(e: ClientError) -> ProbeResult {
    match e {
        ClientError::Refused => r(ProbeVerdict::Refused, "connection refused"),
        ClientError::Timeout => r(ProbeVerdict::Timeout, "no answer in time"),
        ClientError::Tls(m) => r(ProbeVerdict::TlsFailure, m),
        ClientError::Auth => r(ProbeVerdict::AuthFailure, "credentials rejected (HTTP 401)"),
        e => r(ProbeVerdict::WrongProtocol, e.to_string()),
    }
}

/// Probes a `/wsman` endpoint.
pub async fn probe(
    addr: SocketAddr,
    tls: bool,
    creds: Option<(&str, &str)>,
    timeout: Duration,
) -> ProbeResult {
    let mut c = match Client::connect(addr, tls.then(insecure_tls), timeout).await {
        Ok(c) => c,
        Err(e) => return from_err(e),
    };
    let resp = match c
        .post(
            &[],
            "application/soap+xml;charset=UTF-8",
            identify_request().as_bytes(),
        )
        .await
    {
        Ok(x) => x,
        Err(e) => return from_err(e),
    };
    let root = match parse(&resp.body, &Limits::default()) {
        Ok(x) if resp.status == 200 => x,
        _ => {
            return r(
                ProbeVerdict::WrongProtocol,
                format!(
                    "Identify answered HTTP {} without an IdentifyResponse",
                    resp.status
                ),
            )
        }
    };
    let Some(id) = root.find(ns::WSMID, "IdentifyResponse") else {
        return r(ProbeVerdict::WrongProtocol, "no IdentifyResponse");
    };
    let text = |n: &str| {
        id.child(ns::WSMID, n)
            .map(|e| e.text_trim().to_string())
            .unwrap_or_default()
    };
    let mut detail = format!("{}, {}", text("ProductVendor"), text("ProductVersion"));
    let Some((user, password)) = creds else {
        return r(ProbeVerdict::Verified, detail);
    };
    let auth = if tls {
        Auth::Basic {
            user: user.into(),
            password: password.into(),
        }
    } else {
        c.encrypt = true;
        Auth::Ntlm {
            user: user.into(),
            password: password.into(),
        }
    };
    if let Err(e) = c.login(&auth).await {
        return from_err(e);
    }
    let env = request(
        action::ENUMERATE,
        "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_OperatingSystem",
        &[],
        &enumerate_body(10),
    );
    match c.soap(&env).await {
        Ok((200, body)) => {
            let caption = parse(body.as_bytes(), &Limits::default())
                .ok()
                .and_then(|x| x.find("http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_OperatingSystem", "Caption").map(|e| e.text_trim().to_string()))
                .unwrap_or_default();
            detail.push_str(&format!(
                "; {} Enumerate OK ({caption})",
                if tls { "Basic" } else { "NTLM-sealed" }
            ));
            r(ProbeVerdict::Verified, detail)
        }
        Ok((status, _)) => r(
            ProbeVerdict::WrongProtocol,
            format!("{detail}; authenticated Enumerate answered HTTP {status}"),
        ),
        Err(e) => from_err(e),
    }
}
