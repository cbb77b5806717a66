//! The SMASH probe `fakedc check` uses: an anonymous Identify over TLS
//! (vendor, firmware), then, with credentials, an Enumerate of
//! CIM_RegisteredProfile in root/interop over Basic, reporting the DMTF
//! profiles the BMC registers. It works against real BMCs too.

use crate::cim::PREFIX;
use fakedc_wsman::client::{
    enumerate_body, identify_request, insecure_tls, request, Auth, Client, ClientError,
};
use fakedc_wsman::message::{action, ns};
use fakedc_wsman::xml::{parse, Limits};
use std::net::SocketAddr;
use std::time::Duration;

/// Shared with every other probe (see `fakedc_net::probe`).
pub use fakedc_net::ProbeVerdict;

#[derive(Debug, Clone)]
pub struct ProbeResult {
    pub verdict: ProbeVerdict,
    pub detail: String,
    /// RegisteredName of every profile found (empty without credentials).
    pub profiles: Vec<String>,
}

fn r(verdict: ProbeVerdict, detail: impl Into<String>) -> ProbeResult {
    ProbeResult {
        verdict,
        detail: detail.into(),
        profiles: Vec::new(),
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

/// Probes a BMC's `/wsman` on HTTPS.
pub async fn probe(
    addr: SocketAddr,
    creds: Option<(&str, &str)>,
    timeout: Duration,
) -> ProbeResult {
    let mut c = match Client::connect(addr, Some(insecure_tls()), timeout).await {
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
        detail.push_str("; profiles need credentials (--user/--password)");
        return r(ProbeVerdict::Verified, detail);
    };
    if let Err(e) = c
        .login(&Auth::Basic {
            user: user.into(),
            password: password.into(),
        })
        .await
    {
        return from_err(e);
    }
    let uri = format!("{PREFIX}CIM_RegisteredProfile");
    let env = request(
        action::ENUMERATE,
        &uri,
        &[("__cimnamespace", "root/interop")],
        &enumerate_body(100),
    );
    match c.soap(&env).await {
        Ok((200, body)) => {
            let mut profiles = Vec::new();
            if let Ok(x) = parse(body.as_bytes(), &Limits::default()) {
                collect(&x, &uri, &mut profiles);
            }
            detail.push_str(&format!("; profiles: {}", profiles.join(", ")));
            ProbeResult {
                verdict: ProbeVerdict::Verified,
                detail,
                profiles,
            }
        }
        Ok((status, _)) => r(
            ProbeVerdict::WrongProtocol,
            format!("{detail}; Enumerate CIM_RegisteredProfile answered HTTP {status}"),
        ),
        Err(e) => from_err(e),
    }
}

fn collect(e: &fakedc_wsman::xml::Element, uri: &str, out: &mut Vec<String>) {
    if e.is(uri, "RegisteredName") && out.len() < 256 {
        out.push(e.text_trim().to_string());
    }
    for c in &e.children {
        collect(c, uri, out);
    }
}
