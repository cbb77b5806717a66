//! Fuzz target body for fakedc-wsus: everything a peer's bytes reach on
//! the web services. The first byte picks the service and whether a
//! `SOAPAction` is sent; the rest is the request body. A decoded request
//! runs through the operation it names on a small server (client services
//! and the admin subset), whose answers must be well-formed XML; the
//! content path parser sees the input as a path too. No panic on any
//! input.

use fakedc_wsus::msg::{self, Service};
use fakedc_wsus::server::{Cx, Server, WsusOptions};
use std::sync::OnceLock;

fn server() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(|| {
        let o = WsusOptions {
            updates: 30,
            file_size: 512,
            ..WsusOptions::default()
        };
        Server::new(&o, 1_700_000_000_000, [3; 32])
    })
}

pub fn request(data: &[u8]) {
    let Some((&sel, body)) = data.split_first() else {
        return;
    };
    let svc = match sel & 3 {
        0 => Service::Client,
        1 => Service::SimpleAuth,
        2 => Service::Reporting,
        _ => Service::Admin,
    };
    if let Ok(p) = std::str::from_utf8(body) {
        if let Some(sha1) = fakedc_wsus::service::parse_content_path(p) {
            assert!(p.len() >= 53);
            let _ = server().catalog.file_by_sha1(&sha1);
        }
    }
    // The action named by the body's first element, quoted or not, or none.
    let action = match sel >> 2 & 3 {
        0 => None,
        1 => Some(format!("\"{}/SyncUpdates\"", svc.namespace())),
        2 => Some(format!("{}/GetCookie", svc.namespace())),
        _ => Some("\"\"".to_string()),
    };
    let Ok(req) = msg::decode(svc, action.as_deref(), body) else {
        return;
    };
    assert!(!req.op.is_empty());
    assert_eq!(req.body.ns, svc.namespace());
    let s = server();
    let cx = Cx {
        now_ms: 1_700_000_000_500,
        base_url: "http://wsus01:8530",
    };
    let out = match (svc, req.op.as_str()) {
        (Service::Admin, op) => {
            let _ = fakedc_wsus::admin::dispatch(s, op, &req.body, "fuzz", cx.now_ms).map(|x| {
                check(&x);
            });
            return;
        }
        (Service::SimpleAuth, "GetAuthorizationCookie") => s.get_authorization_cookie(&req.body),
        (Service::Client, "GetConfig") => s.get_config(&cx),
        (Service::Client, "GetCookie") => s.get_cookie(&req.body, &cx),
        (Service::Client, "RegisterComputer") => s.register_computer(&req.body, &cx),
        (Service::Client, "SyncUpdates") => s.sync_updates(&req.body, &cx),
        (Service::Client, "GetExtendedUpdateInfo") => s.get_extended_update_info(&req.body, &cx),
        (Service::Client, "GetFileLocations") => s.get_file_locations(&req.body, &cx),
        (Service::Client, "RefreshCache") => s.refresh_cache(&req.body, &cx),
        (Service::Reporting, "ReportEventBatch") => s.report_event_batch(&req.body, &cx, false),
        (Service::Reporting, "ReportEventBatch2") => s.report_event_batch(&req.body, &cx, true),
        _ => return,
    };
    match out {
        Ok(a) => check(&a.xml),
        Err((f, _)) => check(&msg::wsus_fault(&f, "http://wsus01:8530/x", "m", "0")),
    }
}

/// An answer (body XML, or a whole envelope) must parse.
fn check(xml: &str) {
    let doc = if xml.starts_with("<?xml") {
        xml.to_string()
    } else {
        msg::envelope(xml)
    };
    let limits = fakedc_xml::Limits {
        max_depth: 64,
        max_elements: 1_000_000,
        max_attributes: 64,
    };
    if let Err(e) = fakedc_xml::soap::read(doc.as_bytes(), &limits) {
        panic!("answer does not parse: {e}\n{doc}");
    }
}
