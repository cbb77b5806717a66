//! WSUS (8530/8531, 80/443) with real clients: zeep loading the published
//! MS-WUSP WSDLs drives the Windows Update Agent's sequence, curl
//! downloads the offered content (HEAD, then ranged GETs) and the digests
//! are checked, zeep over requests-ntlm drives the admin service
//! (approve for a group, then the next sync offers it), an expired cookie
//! gets InvalidCookie and re-authentication works, and hostile requests
//! get WSUS's faults while the service keeps serving.
//! A missing client fails these tests; it never skips them
//! (`./scripts/test` installs them).

use crate::common::{line, lines, python, Temp};
use fakedc::{Datacenter, FaultKind, FaultRule, Query, ServiceKind};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const SCENARIO: &str = r#"
[[machine]]
name = "wsus01"
role = "wsus"
address = "127.86.0.40"
[machine.options.wsus]
updates = 20
file_size = 100000
groups = ["Hyper-V Hosts"]
"#;

const PASSWORD: &str = "P@ssw0rd!";

fn start() -> Datacenter {
    Datacenter::builder()
        .scenario_str(SCENARIO)
        .ephemeral()
        .protocols(&["wsus"])
        .start()
        .expect("start")
}

fn base(dc: &Datacenter) -> String {
    let a = dc
        .endpoint("wsus01", ServiceKind::WsusControlHttp)
        .expect("8530");
    format!("http://{a}")
}

fn wsdl_dir() -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/wsus/wsdl")
        .display()
        .to_string()
}

fn agent(args: &[&str]) -> String {
    python("zeep", "wsus_agent.py", args)
}

fn admin(args: &[&str]) -> String {
    python("requests_ntlm", "wsus_admin.py", args)
}

#[test]
fn agent_sequence_admin_approval_downloads_and_reports() {
    let dc = start();
    let b = base(&dc);
    let w = wsdl_dir();

    // Nothing approved: the agent evaluates the 7 categories and is offered
    // no update.
    let out = agent(&["agent", &w, &b, "hv01", ""]);
    assert_eq!(line(&out, "config-max-extended"), "50");
    assert_eq!(line(&out, "config-protocol"), "3.2");
    assert_eq!(
        line(&out, "config-plugin"),
        "SimpleTargeting SimpleAuthWebService/SimpleAuth.asmx"
    );
    assert_eq!(line(&out, "registered"), "hv01");
    assert_eq!(line(&out, "nonleaf"), "7");
    assert_eq!(line(&out, "leaf"), "0");
    assert_eq!(line(&out, "driver-new"), "0");

    // The admin (zeep + requests-ntlm, WSDL from ?wsdl) puts hv01 in a new
    // group and approves KB5000064 (revision 100009, which requires
    // 100008) for it.
    let out = admin(&[
        "approve",
        &b,
        "Administrator",
        PASSWORD,
        "hv01",
        "Hyper-V Production",
        "5000064",
    ]);
    assert_eq!(line(&out, "version"), "10.0.17763.1");
    assert_eq!(lines(&out, "classification").len(), 4);
    assert_eq!(line(&out, "computers"), "hv01");
    assert!(line(&out, "duplicate-fault").starts_with("Server was unable to process request"));
    assert_eq!(
        line(&out, "groups"),
        "All Computers,Unassigned Computers,Hyper-V Hosts,Hyper-V Production"
    );
    assert_eq!(line(&out, "member-of"), "All Computers,Hyper-V Production");
    assert!(line(&out, "update").ends_with("(KB5000064)"), "{out}");
    let group = line(&out, "group");
    assert_eq!(line(&out, "deployed-to"), format!("{group} Administrator"));
    // updates, approved, declined, not approved, computers, groups, reported
    assert_eq!(line(&out, "status"), "20 1 0 19 1 4 0");
    assert_eq!(line(&out, "unknown-update-fault"), "True");

    // The next sync offers the approved update and its prerequisite;
    // every file downloads by HEAD then ranged GETs, digests match, and
    // the install events are reported.
    let out = agent(&["agent", &w, &b, "hv01", ""]);
    assert_eq!(line(&out, "leaf"), "2");
    let offered = lines(&out, "offered");
    assert_eq!(offered.len(), 2, "{out}");
    assert!(offered[0].starts_with("100008 Evaluate "), "{out}");
    assert!(offered[1].starts_with("100009 Install "), "{out}");
    assert_eq!(line(&out, "files"), "2 urls 2");
    assert_eq!(line(&out, "locations-agree"), "True");
    let downloads = lines(&out, "download");
    assert_eq!(downloads.len(), 2);
    for d in downloads {
        assert!(d.ends_with("True True 206 True True"), "{d}");
    }
    assert_eq!(lines(&out, "if-range"), ["206 200", "206 200"]);
    assert_eq!(line(&out, "reported"), "True");

    // Another computer outside the group is still offered nothing.
    let out = agent(&["agent", &w, &b, "hv02", "Hyper-V Hosts"]);
    assert_eq!(line(&out, "leaf"), "0");

    // The admin service shows what hv01 reported.
    let out = admin(&["events", &b, "Administrator", PASSWORD, "hv01"]);
    let events = lines(&out, "event");
    assert_eq!(events.len(), 2, "{out}");
    assert!(events.iter().all(|e| e.ends_with(" 183 0")), "{out}");
    assert_eq!(line(&out, "status"), "20 1 0 19 2 4 1");

    // The journal names the computer and outcome of each call.
    let j = dc.journal(&Query {
        machine: Some("wsus01".into()),
        ..Default::default()
    });
    assert!(j
        .iter()
        .any(|e| e.operation == "Client SyncUpdates computer=hv01" && e.outcome == "ok"));
    assert!(j
        .iter()
        .any(|e| e.operation == "Reporting ReportEventBatch computer=hv01"));
    assert!(j
        .iter()
        .any(|e| e.operation == "Admin ExecuteSPDeployUpdate1"
            && e.user.as_deref() == Some("Administrator")));
    assert!(j
        .iter()
        .any(|e| e.operation.starts_with("GET /Content/") && e.outcome.starts_with("206 ")));
}

#[test]
fn admin_refuses_wrong_credentials() {
    let dc = start();
    let out = admin(&["denied", &base(&dc), "Administrator", "not-the-password"]);
    assert_eq!(line(&out, "wsdl-status"), "401");
    assert_eq!(line(&out, "post-status"), "401 Negotiate, NTLM");
    // Anonymous client services stay open.
    let (status, body) = soap(
        dc.endpoint("wsus01", ServiceKind::WsusControlHttp).unwrap(),
        "/ClientWebService/Client.asmx",
        None,
        &get_config(),
    );
    assert_eq!(status, 200, "{body}");
}

/// The server's identity is kept in its share: a cookie from before a
/// restart is still good; a new `server_id` is a new server to the agent
/// (`ServerChanged`), which starts over and is served.
#[test]
fn cookies_survive_a_restart_and_a_new_identity_is_server_changed() {
    let tmp = Temp::new("wsus-identity");
    let run = |scenario: &str| {
        Datacenter::builder()
            .scenario_str(scenario)
            .ephemeral()
            .data_dir(tmp.path("data"))
            .protocols(&["wsus"])
            .start()
            .expect("start")
    };
    let w = wsdl_dir();
    let dc = run(SCENARIO);
    let out = agent(&["cookie", &w, &base(&dc), "hv05"]);
    let data = line(&out, "cookie-data").to_string();
    let exp = line(&out, "cookie-expiration").to_string();
    drop(dc);
    let kept = std::fs::read_to_string(tmp.path("data/shares/wsus01/wsus/server.json"))
        .expect("identity in the share");
    assert!(kept.contains("server_id"), "{kept}");

    let dc = run(SCENARIO);
    let out = agent(&["reuse", &w, &base(&dc), "hv05", &data, &exp]);
    assert_eq!(line(&out, "reuse"), "ok", "{out}");
    drop(dc);

    let renamed = SCENARIO.replace(
        "groups = [\"Hyper-V Hosts\"]",
        "groups = [\"Hyper-V Hosts\"]\nserver_id = \"0f0e0d0c-0b0a-0908-0706-050403020100\"",
    );
    assert_ne!(renamed, SCENARIO);
    let dc = run(&renamed);
    let out = agent(&["reuse", &w, &base(&dc), "hv05", &data, &exp]);
    assert_eq!(line(&out, "reuse-fault"), "ServerChanged", "{out}");
    assert_eq!(line(&out, "restart-nonleaf"), "7", "{out}");
}

#[test]
fn expired_cookie_gets_invalid_cookie_and_reauthentication_works() {
    let dc = start();
    let b = base(&dc);
    let w = wsdl_dir();
    let out = agent(&["cookie", &w, &b, "hv03"]);
    let data = line(&out, "cookie-data").to_string();
    let exp = line(&out, "cookie-expiration").to_string();
    // Cookies live 60 minutes by default.
    dc.advance(Duration::from_secs(61 * 60));
    let out = agent(&["expired", &w, &b, "hv03", &data, &exp]);
    assert_eq!(line(&out, "stale-fault"), "InvalidCookie");
    assert_eq!(line(&out, "old-config-fault"), "ConfigChanged");
    assert_eq!(line(&out, "resync-nonleaf"), "7");
    assert_eq!(line(&out, "forged-fault"), "InvalidCookie");
    assert_eq!(line(&out, "oversize-fault"), "InvalidParameters");
    let j = dc.journal(&Query {
        machine: Some("wsus01".into()),
        ..Default::default()
    });
    assert!(j
        .iter()
        .any(|e| e.operation == "Client SyncUpdates computer=hv03"
            && e.outcome == "fault InvalidCookie: cookie expired"));
}

/// One raw SOAP POST; returns (status, body).
fn soap(addr: SocketAddr, path: &str, action: Option<&str>, body: &str) -> (u16, String) {
    raw(addr, "POST", path, action, body.as_bytes(), &[])
}

fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    action: Option<&str>,
    body: &[u8],
    extra: &[&str],
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(a) = action {
        head.push_str(&format!("SOAPAction: {a}\r\n"));
    }
    for h in extra {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before reading a huge body.
    let _ = s.write_all(body);
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let resp = String::from_utf8_lossy(&resp).into_owned();
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, resp)
}

fn envelope(inner: &str) -> String {
    format!("<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>{inner}</s:Body></s:Envelope>")
}

/// The text of the first `<name>` element in an answer.
fn tag(xml: &str, name: &str) -> String {
    xml.split(&format!("<{name}>"))
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap_or_else(|| panic!("no {name} in {xml}"))
        .to_string()
}

fn get_config() -> String {
    envelope("<GetConfig xmlns=\"http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService\"><protocolVersion>1.8</protocolVersion></GetConfig>")
}

#[test]
fn hostile_requests_get_faults_and_the_service_keeps_serving() {
    let dc = start();
    let a = dc.endpoint("wsus01", ServiceKind::WsusControlHttp).unwrap();
    let client = "/ClientWebService/Client.asmx";
    let ns = "http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService";

    // Entity expansion: refused before any entity is expanded.
    let bomb = "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><GetConfig xmlns=\"http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService\"><protocolVersion>&c;</protocolVersion></GetConfig></s:Body></s:Envelope>";
    let (st, body) = soap(a, client, None, bomb);
    assert_eq!(st, 500);
    assert!(
        body.contains("<faultcode>soap:Client</faultcode>"),
        "{body}"
    );
    assert!(body.contains("DTD"), "{body}");

    // Malformed XML.
    let (st, body) = soap(a, client, None, "<s:Envelope><oops");
    assert_eq!(st, 500);
    assert!(body.contains("Server was unable to read request"), "{body}");

    // An unknown action, quoted as WUA quotes it.
    let (st, body) = soap(a, client, Some(&format!("\"{ns}/Nope\"")), &get_config());
    assert_eq!(st, 500);
    assert!(
        body.contains("Server did not recognize the value of HTTP Header SOAPAction"),
        "{body}"
    );

    // A published operation this server does not implement.
    let (st, body) = soap(
        a,
        client,
        Some(&format!("{ns}/StartCategoryScan")),
        &envelope(&format!("<StartCategoryScan xmlns=\"{ns}\" />")),
    );
    assert_eq!(st, 500);
    assert!(
        body.contains("<ErrorCode>InternalServerError</ErrorCode>"),
        "{body}"
    );
    assert!(
        body.contains("StartCategoryScan is not implemented"),
        "{body}"
    );

    // A huge revision list (over 100,000 ids) with a good cookie:
    // parsed within the limits and refused as InvalidParameters naming
    // the parameter; with a bad cookie, the cookie is refused first.
    let auth_ns = "http://www.microsoft.com/SoftwareDistribution/Server/SimpleAuthWebService";
    let (_, r) = soap(
        a,
        "/SimpleAuthWebService/SimpleAuth.asmx",
        None,
        &envelope(&format!(
            "<GetAuthorizationCookie xmlns=\"{auth_ns}\"><clientId>big01</clientId></GetAuthorizationCookie>"
        )),
    );
    let data = tag(&r, "CookieData");
    let (_, r) = soap(
        a,
        client,
        None,
        &envelope(&format!(
            "<GetCookie xmlns=\"{ns}\"><authCookies><AuthorizationCookie><PlugInId>SimpleTargeting</PlugInId><CookieData>{data}</CookieData></AuthorizationCookie></authCookies><lastChange>2100-01-01T00:00:00Z</lastChange></GetCookie>"
        )),
    );
    let good = tag(&r, "EncryptedData");
    let (st, _) = soap(
        a,
        client,
        None,
        &envelope(&format!(
            "<RegisterComputer xmlns=\"{ns}\"><cookie><EncryptedData>{good}</EncryptedData></cookie><computerInfo><DnsName>big01</DnsName></computerInfo></RegisterComputer>"
        )),
    );
    assert_eq!(st, 200);
    let mut ids = String::with_capacity(1_400_000);
    for i in 0..100_001 {
        ids.push_str(&format!("<int>{i}</int>"));
    }
    for (cookie, want) in [
        (
            good.as_str(),
            "<ErrorCode>InvalidParameters</ErrorCode><Message>InstalledNonLeafUpdateIDs</Message>",
        ),
        ("AAAA", "<ErrorCode>InvalidCookie</ErrorCode>"),
    ] {
        let sync = envelope(&format!(
            "<SyncUpdates xmlns=\"{ns}\"><cookie><Expiration>2030-01-01T00:00:00Z</Expiration><EncryptedData>{cookie}</EncryptedData></cookie><parameters><ExpressQuery>false</ExpressQuery><InstalledNonLeafUpdateIDs>{ids}</InstalledNonLeafUpdateIDs><SkipSoftwareSync>false</SkipSoftwareSync></parameters></SyncUpdates>"
        ));
        let (st, body) = soap(a, client, Some(&format!("\"{ns}/SyncUpdates\"")), &sync);
        assert_eq!(st, 500);
        assert!(
            body.contains(want),
            "{}",
            &body[body.len().saturating_sub(600)..]
        );
    }

    // More than 4 MiB: refused without reading it all.
    let big = vec![b' '; 5 << 20];
    let (st, _) = raw(a, "POST", client, None, &big, &[]);
    assert_eq!(st, 413);

    // Content: an unknown file, a path escape, a bad method.
    let (st, _) = raw(
        a,
        "GET",
        "/Content/00/0000000000000000000000000000000000000000.cab",
        None,
        b"",
        &[],
    );
    assert_eq!(st, 404);
    let (st, _) = raw(a, "GET", "/Content/../../../etc/passwd", None, b"", &[]);
    assert_eq!(st, 404);

    // The busy fault rule: ServerBusy, then back to normal.
    let id = dc.add_fault(FaultRule {
        id: 0,
        machine: Some("wsus01".into()),
        service: None,
        kind: FaultKind::Busy,
    });
    let (st, body) = soap(a, client, None, &get_config());
    assert_eq!(st, 500);
    assert!(body.contains("<ErrorCode>ServerBusy</ErrorCode>"), "{body}");
    dc.remove_fault(id);

    // And the service still answers.
    let (st, body) = soap(a, client, None, &get_config());
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("MaxExtendedUpdatesPerRequest"));
}

/// curl over TLS (the scenario CA) on 8531 and 443, then power gating:
/// with the WSUS machine off its ports refuse, after boot it answers.
#[test]
fn tls_ports_with_curl_and_power_gating() {
    let dc = start();
    let ca = crate::common::ca_file(&dc, "wsus");
    let body = get_config();
    for kind in [ServiceKind::WsusControlHttps, ServiceKind::WsusHttps] {
        let a = dc.endpoint("wsus01", kind).unwrap();
        let out = std::process::Command::new("curl")
            .args(["-sS", "--noproxy", "*", "--cacert"])
            .arg(&ca)
            .args([
                "-H",
                "Content-Type: text/xml; charset=utf-8",
                "-H",
                "SOAPAction: \"http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService/GetConfig\"",
                "--data-binary",
                &body,
                "-w",
                "\nstatus %{http_code}",
            ])
            .arg(format!("https://{a}/ClientWebService/Client.asmx"))
            .output()
            .expect("run curl");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.ends_with("status 200"), "{text}");
        assert!(text.contains("<Name>MaxExtendedUpdatesPerRequest</Name><Value>50</Value>"));
    }
    let a = dc.endpoint("wsus01", ServiceKind::WsusControlHttp).unwrap();
    dc.power("wsus01", fakedc::PowerAction::Off).expect("off");
    dc.advance(Duration::from_secs(600));
    assert!(crate::common::wait_until(Duration::from_secs(10), || {
        TcpStream::connect_timeout(&a, Duration::from_millis(200)).is_err()
    }));
    dc.power("wsus01", fakedc::PowerAction::On).expect("on");
    dc.advance(Duration::from_secs(600));
    assert!(crate::common::wait_until(Duration::from_secs(10), || {
        TcpStream::connect_timeout(&a, Duration::from_millis(200)).is_ok()
    }));
    let (st, _) = soap(a, "/ClientWebService/Client.asmx", None, &body);
    assert_eq!(st, 200);
}
