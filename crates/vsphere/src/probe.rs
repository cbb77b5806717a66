//! The `check` probe: `RetrieveServiceContent` (the SDK answers with its
//! `about`), and with credentials `Login` plus one property read (the
//! root folder's name through `Fetch`).

use crate::client::{self, first_text, Client, ClientError};
use fakedc_net::{ProbeReport, ProbeVerdict};
use std::net::SocketAddr;
use std::time::Duration;

pub async fn probe(
    addr: SocketAddr,
    tls: bool,
    creds: Option<(&str, &str)>,
    timeout: Duration,
) -> ProbeReport {
    match tokio::time::timeout(timeout * 2, run(addr, tls, creds)).await {
        Err(_) => ProbeReport::new(
            ProbeVerdict::Timeout,
            format!("no answer within {timeout:?}"),
        ),
        Ok(r) => r,
    }
}

async fn run(addr: SocketAddr, tls: bool, creds: Option<(&str, &str)>) -> ProbeReport {
    let mut c = match Client::connect(addr, tls).await {
        Ok(c) => c,
        Err(ClientError::Connect(e)) => {
            return ProbeReport::new(ProbeVerdict::Refused, e.to_string())
        }
        Err(ClientError::Tls(e)) => return ProbeReport::new(ProbeVerdict::TlsFailure, e),
        Err(e) => return ProbeReport::new(ProbeVerdict::WrongProtocol, e.to_string()),
    };
    let r = match c.post(client::retrieve_service_content()).await {
        Ok(r) => r,
        Err(e) => return ProbeReport::new(ProbeVerdict::WrongProtocol, e.to_string()),
    };
    let (Some(full), Some(api)) = (
        first_text(&r.body, "fullName"),
        first_text(&r.body, "apiType"),
    ) else {
        return ProbeReport::new(
            ProbeVerdict::WrongProtocol,
            format!(
                "RetrieveServiceContent answered HTTP {} without an about",
                r.status
            ),
        );
    };
    let mut rep = ProbeReport::new(ProbeVerdict::Verified, format!("vim25: {full} ({api})"));
    rep.facts.push(("apiType", api.to_string()));
    let Some((user, password)) = creds else {
        return rep;
    };
    let sm = first_text(&r.body, "sessionManager")
        .unwrap_or("SessionManager")
        .to_string();
    let root = first_text(&r.body, "rootFolder")
        .unwrap_or("group-d1")
        .to_string();
    match c.post(client::login(&sm, user, password)).await {
        Ok(r) if r.status == 200 => {}
        Ok(r) if r.body.contains("InvalidLogin") => {
            return ProbeReport::new(ProbeVerdict::AuthFailure, "Login: InvalidLogin")
        }
        Ok(r) => {
            return ProbeReport::new(
                ProbeVerdict::WrongProtocol,
                format!("Login: HTTP {}", r.status),
            )
        }
        Err(e) => return ProbeReport::new(ProbeVerdict::WrongProtocol, e.to_string()),
    }
    let fetch = client::envelope(&format!(
        "<Fetch xmlns=\"urn:vim25\"><_this type=\"Folder\">{}</_this><prop>name</prop></Fetch>",
        fakedc_xml::escape_text(&root)
    ));
    match c.post(fetch).await {
        Ok(r) if r.status == 200 => {
            let name = first_text(&r.body, "returnval")
                .unwrap_or_default()
                .to_string();
            rep.detail = format!("{}, logged in, root folder '{name}'", rep.detail);
            rep
        }
        Ok(r) => ProbeReport::new(
            ProbeVerdict::WrongProtocol,
            format!("Fetch: HTTP {}", r.status),
        ),
        Err(e) => ProbeReport::new(ProbeVerdict::WrongProtocol, e.to_string()),
    }
}
