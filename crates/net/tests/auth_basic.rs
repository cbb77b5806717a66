//! The Basic credentials a connection keeps decoded are still checked
//! against the model's users on every request: a password changed or an
//! account disabled between two requests with the same header is refused.

use fakedc_model::ServiceKind;
use fakedc_net::auth::{authenticate, basic_header, NtlmConn, NtlmOffer, Outcome, Policy};
use fakedc_net::ConnInfo;
use fakedc_scenario::{ParseOptions, Scenario};
use std::sync::Arc;

const SCENARIO: &str = r#"
[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.94.0.1"
"#;

#[test]
fn kept_basic_credentials_follow_the_model() {
    let s = Scenario::parse("<test>", SCENARIO, &ParseOptions::default()).expect("scenario");
    let model = Arc::new(s.model());
    let m = model.find("hv01").expect("hv01");
    let (user, password) = {
        let users = model.users(m.id);
        let u = users.first().expect("a user");
        (u.name.clone(), u.password.clone())
    };
    let conn = ConnInfo {
        machine: m.id,
        machine_name: m.name.clone(),
        role: m.role,
        service: ServiceKind::WinrmHttp,
        peer: "127.0.0.1:40000".parse().expect("addr"),
        local: "127.94.0.1:5985".parse().expect("addr"),
        tls: false,
        closing: Default::default(),
        state: Default::default(),
        dns_name: m.dns_name.clone(),
        ca: None,
        net: None,
    };
    let policy = Policy {
        basic: true,
        basic_realm: "WSMAN",
        ntlm: NtlmOffer::Negotiate,
        digest: None,
    };
    let mut st = NtlmConn::default();
    let header = basic_header(&user, &password);
    let login = |st: &mut NtlmConn, h: &str| {
        authenticate(&model, &conn, st, &policy, Some(h), "POST", "/wsman")
    };
    for _ in 0..2 {
        assert!(matches!(
            login(&mut st, &header),
            Outcome::Authenticated { .. }
        ));
    }
    let wrong = basic_header(&user, "not the password");
    assert!(matches!(login(&mut st, &wrong), Outcome::Refused { .. }));
    assert!(matches!(
        login(&mut st, &header),
        Outcome::Authenticated { .. }
    ));
    assert!(matches!(
        login(&mut st, "Basic !!!"),
        Outcome::Refused { .. }
    ));
    model.users(m.id)[0].password = "changed".into();
    assert!(matches!(login(&mut st, &header), Outcome::Refused { .. }));
    model.users(m.id)[0].password = password.clone();
    assert!(matches!(
        login(&mut st, &header),
        Outcome::Authenticated { .. }
    ));
    model.users(m.id)[0].enabled = false;
    assert!(matches!(login(&mut st, &header), Outcome::Refused { .. }));
}
