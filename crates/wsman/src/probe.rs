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

/// Shared with every other probe (see `fakedc_net::protocol`).
pub use fakedc_net::{ProbeReport, ProbeVerdict};

fn r(verdict: ProbeVerdict, detail: impl Into<String>) -> ProbeReport {
    ProbeReport::new(verdict, detail)
}

/// Maps a client error onto a verdict and a detail line.
pub fn verdict_of(e: ClientError) -> (ProbeVerdict, String) {
    match e {
        ClientError::Refused => (ProbeVerdict::Refused, "connection refused".into()),
        ClientError::Timeout => (ProbeVerdict::Timeout, "no answer in time".into()),
        ClientError::Tls(m) => (ProbeVerdict::TlsFailure, m),
        ClientError::Auth => (
            ProbeVerdict::AuthFailure,
            "credentials rejected (HTTP 401)".into(),
        ),
        e => (ProbeVerdict::WrongProtocol, e.to_string()),
    }
}

fn from_err(e: ClientError) -> ProbeReport {
    let (v, d) = verdict_of(e);
    r(v, d)
}

/// Connects and sends an anonymous Identify: the first step of the WinRM
/// and SMASH probes. Returns the connection (for an authenticated step)
/// and "vendor, version", or the verdict that ends the probe.
pub async fn identify(
    addr: SocketAddr,
    tls: bool,
    timeout: Duration,
) -> Result<(Client, String), (ProbeVerdict, String)> {
    let mut c = Client::connect(addr, tls.then(insecure_tls), timeout)
        .await
        .map_err(verdict_of)?;
    let resp = c
        .post(
            &[],
            "application/soap+xml;charset=UTF-8",
            identify_request().as_bytes(),
        )
        .await
        .map_err(verdict_of)?;
    let root = match parse(&resp.body, &Limits::default()) {
        Ok(x) if resp.status == 200 => x,
        _ => {
            return Err((
                ProbeVerdict::WrongProtocol,
                format!(
                    "Identify answered HTTP {} without an IdentifyResponse",
                    resp.status
                ),
            ))
        }
    };
    let Some(id) = root.find(ns::WSMID, "IdentifyResponse") else {
        return Err((ProbeVerdict::WrongProtocol, "no IdentifyResponse".into()));
    };
    let text = |n: &str| {
        id.child(ns::WSMID, n)
            .map(|e| e.text_trim().to_string())
            .unwrap_or_default()
    };
    let detail = format!("{}, {}", text("ProductVendor"), text("ProductVersion"));
    Ok((c, detail))
}

/// Probes a `/wsman` endpoint.
pub async fn probe(
    addr: SocketAddr,
    tls: bool,
    creds: Option<(&str, &str)>,
    timeout: Duration,
) -> ProbeReport {
    let (mut c, mut detail) = match identify(addr, tls, timeout).await {
        Ok(x) => x,
        Err((v, d)) => return r(v, d),
    };
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
            let subsystems = storage_subsystems(&mut c).await;
            if !subsystems.is_empty() {
                detail.push_str(&format!("; storage subsystems: {}", subsystems.join(", ")));
            }
            let mut report = r(ProbeVerdict::Verified, detail);
            report.facts = subsystems
                .into_iter()
                .map(|s| ("storage_subsystem", s))
                .collect();
            report
        }
        Ok((status, _)) => r(
            ProbeVerdict::WrongProtocol,
            format!("{detail}; authenticated Enumerate answered HTTP {status}"),
        ),
        Err(e) => from_err(e),
    }
}

/// The Storage Management Service's subsystems (the arrays a VMM server
/// manages), by FriendlyName; empty where there are none or the class
/// does not answer, which does not change the verdict.
async fn storage_subsystems(c: &mut Client) -> Vec<String> {
    let uri = format!("{}MSFT_StorageSubSystem", crate::storage::STORAGE);
    let env = request(action::ENUMERATE, &uri, &[], &enumerate_body(100));
    let Ok((200, body)) = c.soap(&env).await else {
        return Vec::new();
    };
    let Ok(x) = parse(body.as_bytes(), &Limits::default()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    collect(&x, &uri, &mut out);
    out
}

fn collect(e: &crate::xml::Element, uri: &str, out: &mut Vec<String>) {
    if e.is(uri, "FriendlyName") && out.len() < 64 {
        out.push(e.text_trim().to_string());
    }
    for c in &e.children {
        collect(c, uri, out);
    }
}
