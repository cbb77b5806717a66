//! WCF on the VMM server (8100–8103) with real clients: pynettcp (code
//! generated from fakedc's net.tcp MEX, calls over application/negotiate
//! with NTLM sealing, a wrong password refused), zeep (WSDL and calls over
//! BasicHttpBinding on 8103 and HTTPS 8101), a C# client compiled with
//! Mono (net.tcp with security off, BasicHttpBinding), and hostile bytes.
//! A missing client fails these tests; it never skips them
//! (`./scripts/test` installs them).

use crate::common::{ca_file, line, lines, python, Temp};
use fakedc::{Datacenter, Query, ServiceKind};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

fn scenario(security: &str) -> String {
    format!(
        r#"
[[machine]]
name = "vmm01"
role = "vmm-server"
address = "127.84.0.10"
[machine.options.wcf]
net_tcp_security = "{security}"

[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.84.0.20"

[[machine.vm]]
name = "web01"
guest = "guest01"
state = "running"

[[machine.vm]]
name = "build01"
guest = "guest02"
state = "off"

[[machine]]
name = "guest01"
role = "vm-guest"
address = "127.84.0.21"

[[machine]]
name = "guest02"
role = "vm-guest"
address = "127.84.0.22"
"#
    )
}

fn start(security: &str) -> Datacenter {
    Datacenter::builder()
        .scenario_str(&scenario(security))
        .ephemeral()
        .protocols(&["wcf", "wsman"])
        .start()
        .expect("start")
}

fn ep(dc: &Datacenter, kind: ServiceKind) -> SocketAddr {
    dc.endpoint("vmm01", kind).expect("wcf endpoint")
}

fn admin_password(dc: &Datacenter) -> String {
    let m = dc.model().find("vmm01").expect("vmm01");
    dc.model()
        .find_user(m.id, "Administrator")
        .expect("administrator")
        .password
}

#[test]
fn pynettcp_generated_clients_over_negotiate() {
    let dc = start("windows");
    let a = ep(&dc, ServiceKind::WcfTcp8100);
    let (host, port) = (a.ip().to_string(), a.port().to_string());
    let pw = admin_password(&dc);
    let tmp = Temp::new("wcf-pynettcp");
    let dir = tmp.0.to_string_lossy().to_string();
    let out = python(
        "pynettcp",
        "wcf_pynettcp.py",
        &[&host, &port, "Administrator", &pw, "calls", &dir],
    );
    assert!(line(&out, "codegen").starts_with("Management 0"), "{out}");
    assert_eq!(line(&out, "info"), "VMM01 10.19.2445.0");
    let hv = dc.model().find("hv01").expect("hv01").dns_name.clone();
    assert_eq!(lines(&out, "host"), [format!("{hv} HyperV On 2")]);
    assert!(lines(&out, "vm").contains(&"web01 Running"), "{out}");
    assert!(lines(&out, "vm").contains(&"build01 PowerOff"), "{out}");
    assert_eq!(line(&out, "job"), "Start virtual machine Running 50");
    assert_eq!(line(&out, "job-again"), "True");
    assert_eq!(line(&out, "after-start"), "Starting");
    assert!(
        line(&out, "missing-fault").contains("Unable to find the specified virtual machine nope"),
        "{out}"
    );
    assert!(line(&out, "time").starts_with("datetime "), "{out}");
    // The VM started through WCF is the model's: booting, then up.
    assert!(dc.machine_state("guest02").unwrap().power_on);
    // Journal: the negotiate login and each call, with the user.
    let j = dc.journal(&Query {
        machine: Some("vmm01".into()),
        ..Query::default()
    });
    let neg = j
        .iter()
        .find(|e| e.operation == "negotiate")
        .expect("negotiate entry");
    assert_eq!(neg.outcome, "ok");
    assert_eq!(neg.user.as_deref(), Some("Administrator"));
    let start = j
        .iter()
        .find(|e| e.operation == "IVirtualManagerService.StartVirtualMachine")
        .expect("call entry");
    assert_eq!(start.user.as_deref(), Some("Administrator"));
    assert!(j.iter().any(|e| e.operation == "mex Get"));

    let bad = python(
        "pynettcp",
        "wcf_pynettcp.py",
        &[&host, &port, "Administrator", "wrong", "badpass", &dir],
    );
    assert!(
        line(&bad, "auth-error").starts_with("HandshakeFailed"),
        "{bad}"
    );
    let j = dc.journal(&Query {
        operation: Some("negotiate".into()),
        ..Query::default()
    });
    assert!(
        j.iter().any(|e| e.outcome.starts_with("auth failure")),
        "{j:?}"
    );
    // Right password, but sign-only: NetTcpBinding wants EncryptAndSign.
    let signonly = python(
        "pynettcp",
        "wcf_pynettcp.py",
        &[&host, &port, "Administrator", &pw, "signonly", &dir],
    );
    assert!(
        line(&signonly, "auth-error").starts_with("HandshakeFailed"),
        "{signonly}"
    );
    let j = dc.journal(&Query {
        operation: Some("negotiate".into()),
        ..Query::default()
    });
    assert!(
        j.iter()
            .any(|e| e.outcome.contains("did not negotiate EncryptAndSign")),
        "{j:?}"
    );
}

#[test]
fn zeep_basic_http_time_and_agent() {
    let dc = start("windows");
    let http = ep(&dc, ServiceKind::WcfHttp8103);
    let https = ep(&dc, ServiceKind::WcfHttps8101);
    let ca = ca_file(&dc, "wcf-zeep");
    let guid = {
        let m = dc.model().find("hv01").expect("hv01");
        dc.model()
            .chassis(m.chassis, dc.model().clock.now())
            .hardware
            .guid_string()
    };
    let out = python(
        "zeep",
        "wcf_zeep.py",
        &[
            &format!("http://{http}"),
            &format!("https://{https}"),
            &ca.to_string_lossy(),
            &guid,
            "Administrator",
            &admin_password(&dc),
        ],
    );
    assert!(line(&out, "time").starts_with("datetime "), "{out}");
    assert_eq!(line(&out, "anonymous-status"), "401");
    assert_eq!(line(&out, "command-before"), "Register");
    assert_eq!(
        line(&out, "register"),
        dc.model().find("hv01").expect("hv01").dns_name
    );
    assert_eq!(line(&out, "progress"), "True");
    assert_eq!(line(&out, "command-after"), "Reboot");
    assert!(
        line(&out, "unknown-fault").contains("does not match any computer"),
        "{out}"
    );
    let j = dc.journal(&Query {
        machine: Some("vmm01".into()),
        ..Query::default()
    });
    assert!(j
        .iter()
        .any(|e| e.operation == "IWinPEAgent.RegisterMachine" && e.outcome == "ok"));
    assert!(j
        .iter()
        .any(|e| e.operation == "ITimeSync.GetTime" && e.service == "wcf-http-8103"));
}

/// Sends `bytes` and reads until the server closes.
fn exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

fn preamble(via: &str, encoding: u8, mode: u8) -> Vec<u8> {
    let mut b = vec![0x00, 0x01, 0x00, 0x01, mode, 0x02, via.len() as u8];
    b.extend_from_slice(via.as_bytes());
    b.extend_from_slice(&[0x03, encoding]);
    b
}

fn fault(name: &str) -> Vec<u8> {
    let uri = format!("http://schemas.microsoft.com/ws/2006/05/framing/faults/{name}");
    let mut b = vec![0x08, uri.len() as u8];
    b.extend_from_slice(uri.as_bytes());
    b
}

#[test]
fn hostile_framing_gets_dotnet_faults_and_service_goes_on() {
    let dc = start("none");
    let a = ep(&dc, ServiceKind::WcfNetTcp8102);
    let good = format!("net.tcp://{a}/VirtualManager/Management");
    // nmap's DNSVersionBindReqTCP: a Version record with major 0x1E.
    assert_eq!(
        exchange(a, &[0x00, 0x1e, 0x00, 0x06, 0x01, 0x00]),
        fault("UnsupportedVersion")
    );
    // Unknown via.
    let mut b = preamble(&format!("net.tcp://{a}/Nowhere"), 8, 2);
    b.push(0x0c);
    assert_eq!(exchange(a, &b), fault("EndpointNotFound"));
    // Duplex with plain binary (no session dictionary), and simplex.
    assert_eq!(
        exchange(a, &preamble(&good, 7, 2)),
        fault("ContentTypeInvalid")
    );
    assert_eq!(
        exchange(a, &preamble(&good, 8, 3)),
        fault("UnsupportedMode")
    );
    // An upgrade this endpoint does not offer.
    let mut b = preamble(&good, 8, 2);
    b.extend_from_slice(&[0x09, 0x15]);
    b.extend_from_slice(b"application/negotiate");
    assert_eq!(exchange(a, &b), fault("UpgradeInvalid"));
    // A garbage record after the preamble.
    let mut b = preamble(&good, 8, 2);
    b.extend_from_slice(&[0x0c, 0x42, 0x42]);
    let out = exchange(a, &b);
    assert_eq!(out[0], 0x0b, "PreambleAck first");
    assert_eq!(out[1..], fault("InvalidRecordSequence"));
    // A Via longer than WCF's limit.
    let mut b = vec![0x00, 0x01, 0x00, 0x01, 0x02, 0x02, 0x90, 0x4e];
    b.extend_from_slice(&[b'a'; 100]);
    assert_eq!(exchange(a, &b), fault("ViaTooLong"));
    // Not framing at all: closed without a word.
    assert!(exchange(a, b"GET / HTTP/1.0\r\n\r\n").is_empty());

    // Unknown action over a real session: ActionNotSupported, and the
    // session (and the service) go on.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = fakedc_wcf::client::Client::connect(a, &good, None).await.unwrap();
        let env = c.call("urn:nothing/IFoo/Bar", None).await.unwrap();
        let f = fakedc_wcf::client::payload(&env).unwrap();
        assert_eq!(f.name, "Fault");
        let sub = f.children[0].children[1].children[0].text.clone();
        assert_eq!(sub, "a:ActionNotSupported");
        let reason = &f.children[1].children[0].text;
        assert!(reason.starts_with("The message with Action 'urn:nothing/IFoo/Bar' cannot be processed at the receiver, due to a ContractFilter mismatch"), "{reason}");
        let op = &fakedc_wcf::contract::MANAGEMENT.ops[0];
        let env = c
            .call(
                &fakedc_wcf::contract::MANAGEMENT.action(op),
                Some(fakedc_wcf::nbfx::Node::new("", op.name).ns("", fakedc_wcf::contract::NS)),
            )
            .await
            .unwrap();
        let p = fakedc_wcf::client::payload(&env).unwrap();
        assert_eq!(p.name, "GetServerInfoResponse");
        // A To this endpoint does not listen on: DestinationUnreachable.
        let env = c
            .call_to(
                &fakedc_wcf::contract::MANAGEMENT.action(op),
                None,
                &format!("net.tcp://{a}/VirtualManager/Elsewhere"),
                Vec::new(),
            )
            .await
            .unwrap();
        let f = fakedc_wcf::client::payload(&env).unwrap();
        assert_eq!(f.children[0].children[1].children[0].text, "a:DestinationUnreachable");
        // A mustUnderstand header nobody processes: s:MustUnderstand.
        let sec = fakedc_wcf::nbfx::Node::new("o", "Security")
            .ns("o", "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd")
            .attr("s", "mustUnderstand", "1");
        let env = c
            .call_to(&fakedc_wcf::contract::MANAGEMENT.action(op), None, &good, vec![sec])
            .await
            .unwrap();
        let f = fakedc_wcf::client::payload(&env).unwrap();
        assert_eq!(f.children[0].children[0].text, "s:MustUnderstand");
        assert!(f.children[1].children[0].text.starts_with("The header 'Security' from the namespace 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd' was not understood"));
        c.close().await.unwrap();
    });
    let j = dc.journal(&Query {
        machine: Some("vmm01".into()),
        ..Query::default()
    });
    for f in [
        "UnsupportedVersion",
        "EndpointNotFound",
        "InvalidRecordSequence",
        "ViaTooLong",
    ] {
        assert!(
            j.iter().any(|e| e.outcome == format!("framing fault {f}")),
            "{f}: {j:?}"
        );
    }
    assert!(j.iter().any(|e| e.outcome == "fault ActionNotSupported"));
}

/// Compiles `tests/mono/wcf_vmm.cs` with Mono's `mcs` into `dir`.
pub fn mono_client(dir: &std::path::Path) -> std::path::PathBuf {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mono/wcf_vmm.cs");
    let exe = dir.join("wcf_vmm.exe");
    let out = std::process::Command::new("mcs")
        .args([
            "-r:System.ServiceModel",
            "-r:System.Runtime.Serialization",
            &format!("-out:{}", exe.display()),
        ])
        .arg(&src)
        .output()
        .expect("mcs (mono-mcs) is needed: ./scripts/test installs it");
    assert!(
        out.status.success(),
        "mcs failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

fn mono(exe: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("mono")
        .arg(exe)
        .args(args)
        .env("NO_PROXY", "*")
        .output()
        .expect("mono (mono-runtime) is needed: ./scripts/test installs it");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "mono {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn mono_wcf_client_net_tcp_and_basic_http() {
    let dc = start("none");
    let tmp = Temp::new("wcf-mono");
    let exe = mono_client(&tmp.0);
    let tcp = ep(&dc, ServiceKind::WcfTcp8100);
    let out = mono(&exe, &["nettcp", &format!("net.tcp://{tcp}"), "build01"]);
    assert_eq!(line(&out, "info"), "VMM01 10.19.2445.0");
    let hv = dc.model().find("hv01").expect("hv01").dns_name.clone();
    assert_eq!(lines(&out, "host"), [format!("{hv} On 2")]);
    assert!(lines(&out, "vm").contains(&"web01 Running"), "{out}");
    assert!(lines(&out, "vm").contains(&"build01 PowerOff"), "{out}");
    assert_eq!(line(&out, "job"), "Start virtual machine|Running");
    assert!(
        line(&out, "missing-fault").contains("Unable to find the specified virtual machine nope"),
        "{out}"
    );
    // TransferMode.Streamed: the singleton-unsized mode, plain binary.
    let out = mono(&exe, &["streamed", &format!("net.tcp://{tcp}")]);
    assert_eq!(line(&out, "info"), "VMM01 10.19.2445.0");
    // BasicHttpBinding on 8103.
    let http = ep(&dc, ServiceKind::WcfHttp8103);
    let out = mono(&exe, &["http", &format!("http://{http}")]);
    assert!(line(&out, "time").starts_with("Utc "), "{out}");

    // The VM started through WCF boots: its guest's WinRM answers and the
    // host's WMI reports it running (EnabledState 2), and WCF agrees.
    dc.advance(Duration::from_secs(60));
    let winrm = dc.endpoint("hv01", ServiceKind::WinrmHttp).expect("winrm");
    let guest = dc
        .endpoint("guest02", ServiceKind::WinrmHttp)
        .expect("guest winrm");
    let m = dc.model().find("hv01").expect("hv01");
    let pw = dc
        .model()
        .find_user(m.id, "Administrator")
        .expect("administrator")
        .password;
    let out = python(
        "pypsrp",
        "wcf_wmi.py",
        &[
            &winrm.ip().to_string(),
            &winrm.port().to_string(),
            "Administrator",
            &pw,
            "build01",
            &format!("http://{guest}/wsman"),
        ],
    );
    assert_eq!(line(&out, "GUEST_IDENTIFY"), "True");
    assert_eq!(line(&out, "VM_ENABLED_STATE"), "2");
    let out = mono(&exe, &["jobstatus", &format!("net.tcp://{tcp}")]);
    assert!(lines(&out, "vm").contains(&"build01 Running"), "{out}");
}

#[test]
fn ssl_tls_upgrade_with_python_openssl() {
    let dc = start("tls");
    let a = ep(&dc, ServiceKind::WcfNetTcp8102);
    let ca = ca_file(&dc, "wcf-ssl-tls");
    let out = python(
        "ssl",
        "wcf_ssl_tls.py",
        &[
            &a.ip().to_string(),
            &a.port().to_string(),
            &ca.to_string_lossy(),
        ],
    );
    assert_eq!(line(&out, "upgrade-response"), "0a");
    assert!(line(&out, "tls").starts_with("TLSv1."), "{out}");
    assert_eq!(
        line(&out, "subject"),
        dc.model().find("vmm01").unwrap().dns_name
    );
    assert_eq!(line(&out, "preamble-ack"), "0b");
    assert_eq!(line(&out, "end"), "07");
    // Without the upgrade this endpoint refuses the session.
    let good = format!("net.tcp://{a}/VirtualManager/Management");
    let mut b = preamble(&good, 8, 2);
    b.push(0x0c);
    assert_eq!(exchange(a, &b), fault("UpgradeInvalid"));
}

#[test]
fn busy_fault_probe_and_http_metadata() {
    let dc = start("windows");
    let a = ep(&dc, ServiceKind::WcfTcp8100);
    let pw = admin_password(&dc);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let probe = |kind: ServiceKind, creds: Option<(&str, &str)>| {
        let addr = ep(&dc, kind);
        rt.block_on(fakedc_net::Protocol::probe(
            &fakedc_wcf::PROTOCOL,
            fakedc_net::ProbeTarget {
                addr,
                service: kind,
                tls: kind.tls(),
                credentials: creds.map(|(u, p)| (u.to_string(), p.to_string())),
                timeout: Duration::from_secs(5),
            },
        ))
    };
    let r = probe(ServiceKind::WcfTcp8100, None);
    assert_eq!(
        r.verdict,
        fakedc_net::ProbeVerdict::Verified,
        "{}",
        r.detail
    );
    let r = probe(ServiceKind::WcfNetTcp8102, Some(("Administrator", &pw)));
    assert_eq!(
        r.verdict,
        fakedc_net::ProbeVerdict::Verified,
        "{}",
        r.detail
    );
    assert_eq!(r.fact("version"), Some("10.19.2445.0"));
    let r = probe(ServiceKind::WcfTcp8100, Some(("Administrator", "wrong")));
    assert_eq!(
        r.verdict,
        fakedc_net::ProbeVerdict::AuthFailure,
        "{}",
        r.detail
    );
    let r = probe(ServiceKind::WcfHttps8101, Some(("Administrator", &pw)));
    assert_eq!(
        r.verdict,
        fakedc_net::ProbeVerdict::Verified,
        "{}",
        r.detail
    );
    assert!(
        r.detail.ends_with("GetCommand as Administrator"),
        "{}",
        r.detail
    );
    let r = probe(ServiceKind::WcfHttps8101, Some(("Administrator", "wrong")));
    assert_eq!(
        r.verdict,
        fakedc_net::ProbeVerdict::AuthFailure,
        "{}",
        r.detail
    );
    for kind in [ServiceKind::WcfHttp8103, ServiceKind::WcfHttps8101] {
        let r = probe(kind, None);
        assert_eq!(
            r.verdict,
            fakedc_net::ProbeVerdict::Verified,
            "{kind:?}: {}",
            r.detail
        );
    }

    // WS-MetadataExchange over HTTP (SOAP 1.2) and the WSDL's address.
    let http = ep(&dc, ServiceKind::WcfHttp8103);
    let mex = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing"><s:Header><a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><a:MessageID>urn:uuid:03f1ca34-1f37-437f-8438-8c9da907bd43</a:MessageID></s:Header><s:Body/></s:Envelope>"#;
    let (status, body) = post(
        http,
        "/VirtualManager/TimeSync/mex",
        "application/soap+xml; charset=utf-8",
        mex,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("transfer/GetResponse</a:Action>"), "{body}");
    assert!(
        body.contains(&format!(
            "location=\"http://{http}/VirtualManager/TimeSync\""
        )),
        "{body}"
    );
    // WSHttpBinding (SOAP 1.2 + WS-Addressing) at /ws; SOAP 1.2 at the
    // BasicHttpBinding address is a content-type mismatch (415).
    let call = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://www.w3.org/2005/08/addressing"><s:Header><a:Action s:mustUnderstand="1">http://schemas.microsoft.com/VirtualManager/2006/07/ITimeSync/GetTime</a:Action><a:MessageID>urn:uuid:03f1ca34-1f37-437f-8438-8c9da907bd43</a:MessageID></s:Header><s:Body><GetTime xmlns="http://schemas.microsoft.com/VirtualManager/2006/07"><who>x</who></GetTime></s:Body></s:Envelope>"#;
    let (status, body) = post(
        http,
        "/VirtualManager/TimeSync/ws",
        "application/soap+xml; charset=utf-8",
        call,
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("<a:RelatesTo>urn:uuid:03f1ca34-1f37-437f-8438-8c9da907bd43</a:RelatesTo>"),
        "{body}"
    );
    assert!(body.contains("<GetTimeResult>"), "{body}");
    let (status, _) = post(
        http,
        "/VirtualManager/TimeSync",
        "application/soap+xml; charset=utf-8",
        call,
    );
    assert_eq!(status, 415);
    // SOAP 1.1 with an unknown SOAPAction: WCF's SOAP 1.1 fault, HTTP 500.
    let v11 = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><Nope xmlns="urn:x"/></s:Body></s:Envelope>"#;
    let (status, body) = post_action(http, "/VirtualManager/TimeSync", "urn:x/Nope", v11);
    assert_eq!(status, 500);
    assert!(body.contains("<faultcode xmlns:a=\"http://schemas.microsoft.com/ws/2005/05/addressing/none\">a:ActionNotSupported</faultcode>"), "{body}");

    // busy: the ServerTooBusy framing fault on net.tcp, 503 on HTTP.
    dc.add_fault(fakedc_model::FaultRule {
        id: 0,
        machine: Some("vmm01".into()),
        service: None,
        kind: fakedc_model::FaultKind::Busy,
    });
    let mut b = preamble(&format!("net.tcp://{a}/VirtualManager/Management"), 8, 2);
    b.push(0x0c);
    assert_eq!(exchange(a, &b), fault("ServerTooBusy"));
    let (status, _) = post_action(http, "/VirtualManager/TimeSync", "x", v11);
    assert_eq!(status, 503);
}

fn post(addr: SocketAddr, path: &str, ct: &str, body: &str) -> (u16, String) {
    raw_http(addr, &format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()))
}

fn post_action(addr: SocketAddr, path: &str, action: &str, body: &str) -> (u16, String) {
    raw_http(addr, &format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: text/xml; charset=utf-8\r\nSOAPAction: \"{action}\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()))
}

fn raw_http(addr: SocketAddr, req: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, out)
}

/// `nmap -sV` names net.tcp from the UnsupportedVersion fault fakedc sends
/// to its DNSVersionBindReqTCP probe (wcf.md §6).
#[test]
fn nmap_identifies_mc_nmf() {
    let dc = start("windows");
    let a = ep(&dc, ServiceKind::WcfTcp8100);
    let out = std::process::Command::new("nmap")
        .args(["-sV", "-Pn", "-n", "-p"])
        .arg(a.port().to_string())
        .arg(a.ip().to_string())
        .output()
        .expect("nmap is needed (./scripts/test installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    let port = text
        .lines()
        .find(|l| l.starts_with(&format!("{}/tcp", a.port())))
        .unwrap_or_else(|| panic!("no port line: {text}"));
    assert!(port.contains("mc-nmf"), "{port}");
}
