//! Fuzz target bodies for fakedc-vsphere: a request body through the SOAP
//! decoder and, when it decodes, through the whole dispatcher of a small
//! ESXi host (logged in, so every method's parameter reading is reached).
//! No panic; every answer is a well-formed SOAP envelope, a fault exactly
//! when the dispatcher says so; the `/folder` path and query decoders never
//! let `..` or a reserved name through.

use fakedc_vsphere::folder;
use fakedc_vsphere::sdk::{Caller, Sdk};
use fakedc_vsphere::soap;
use std::sync::{Arc, OnceLock};

const SCENARIO: &str = r#"
[[machine]]
name = "esxi01"
role = "esxi-host"
address = "127.99.0.1"
[[machine.vm]]
name = "web01"
guest = "guest01"
[[machine.vm]]
name = "db01"
state = "off"
[[machine]]
name = "guest01"
role = "vm-guest"
address = "127.99.0.2"
"#;

fn shared_sdk() -> &'static Sdk {
    static SDK: OnceLock<Sdk> = OnceLock::new();
    SDK.get_or_init(|| {
        let opts = fakedc_scenario::ParseOptions::default();
        let sc = fakedc_scenario::Scenario::parse("fuzz.toml", SCENARIO, &opts)
            .expect("the fuzz scenario parses");
        let model = Arc::new(sc.model());
        let esxi = model.find("esxi01").expect("esxi01").id;
        Sdk::new(model, esxi, None, Default::default())
    })
}

fn well_formed(xml: &str, fault: bool) {
    let env = fakedc_xml::soap::read(xml.as_bytes(), &fakedc_xml::Limits::default())
        .expect("every answer is a SOAP envelope");
    assert_eq!(env.is_fault(), fault, "{xml}");
}

fn caller(cookie: Option<String>) -> Caller {
    Caller {
        cookie,
        ip: std::net::IpAddr::from([127, 0, 0, 1]),
        agent: "fuzz".into(),
    }
}

/// One request body.
pub fn sdk(data: &[u8]) {
    match soap::decode(data) {
        Err(f) => well_formed(&soap::fault(&f), true),
        Ok(req) => {
            assert!(!req.method.is_empty() && !req.this.id.is_empty());
            let s = shared_sdk();
            // Anonymous first: only the no-session methods may succeed.
            if let Some(a) = s.call_now(&req, &caller(None)) {
                well_formed(&a.xml, a.fault.is_some());
                if a.fault.is_none() {
                    assert!(
                        matches!(
                            req.method.as_str(),
                            "RetrieveServiceContent" | "Login" | "CurrentTime"
                        ),
                        "{} answered without a session",
                        req.method
                    );
                }
            }
            // Then logged in.
            let login = soap::decode(
                fakedc_vsphere::client::login("ha-sessionmgr", "root", "VMware1!").as_bytes(),
            )
            .expect("login decodes");
            let cookie = s
                .call_now(&login, &caller(None))
                .and_then(|a| a.set_cookie)
                .expect("root logs in");
            if let Some(a) = s.call_now(&req, &caller(Some(cookie.clone()))) {
                well_formed(&a.xml, a.fault.is_some());
            }
            let logout = soap::decode(
                fakedc_vsphere::client::envelope(
                    "<Logout xmlns=\"urn:vim25\"><_this type=\"SessionManager\">ha-sessionmgr</_this></Logout>",
                )
                .as_bytes(),
            )
            .expect("logout decodes");
            let _ = s.call_now(&logout, &caller(Some(cookie)));
        }
    }
    // The /folder decoders on the same bytes.
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(p) = folder::percent_decode(text, false) {
            if let Ok(rel) = folder::check_path(&p) {
                for c in rel.components() {
                    let c = c.as_os_str().to_string_lossy();
                    assert!(c != ".." && c != "." && !c.starts_with(folder::RESERVED_PREFIX));
                }
            }
        }
        let _ = folder::query_param(text, "dsName");
    }
}
