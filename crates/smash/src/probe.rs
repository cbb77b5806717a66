//! The SMASH probe `fakedc check` uses: an anonymous Identify over TLS
//! (vendor, firmware), then, with credentials, an Enumerate of
//! CIM_RegisteredProfile in root/interop over Basic, reporting the DMTF
//! profiles the BMC registers. It works against real BMCs too.

use crate::cim::PREFIX;
use fakedc_wsman::client::{enumerate_body, request, Auth, ClientError};
use fakedc_wsman::message::action;
use fakedc_wsman::xml::{parse, Limits};
use std::net::SocketAddr;
use std::time::Duration;

/// Shared with every other probe (see `fakedc_net::protocol`). A
/// verified probe with credentials has a `profile` fact per
/// RegisteredName found.
pub use fakedc_net::{ProbeReport, ProbeVerdict};

fn r(verdict: ProbeVerdict, detail: impl Into<String>) -> ProbeReport {
    ProbeReport::new(verdict, detail)
}

fn from_err(e: ClientError) -> ProbeReport {
    let (v, d) = fakedc_wsman::probe::verdict_of(e);
    r(v, d)
}

/// Probes a BMC's `/wsman` on HTTPS.
pub async fn probe(
    addr: SocketAddr,
    creds: Option<(&str, &str)>,
    timeout: Duration,
) -> ProbeReport {
    let (mut c, mut detail) = match fakedc_wsman::probe::identify(addr, true, timeout).await {
        Ok(x) => x,
        Err((v, d)) => return r(v, d),
    };
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
            let mut report = ProbeReport::new(ProbeVerdict::Verified, detail);
            report.facts = profiles.into_iter().map(|p| ("profile", p)).collect();
            report
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
