//! Hostile and awkward input against fakedc's WinRM, through the real HTTP
//! path: malformed XML, DTDs and entities, huge and deep bodies, missing
//! headers, unknown actions and resources, invalid UTF-8, garbage NTLM
//! tokens, timeouts, quotas and envelope limits. Each answer is asserted
//! (HTTP status, SOAP subcode, WSManFault code) and the server must keep
//! serving afterwards.

use crate::common;

use fakedc::{Datacenter, PowerAction, ServiceKind};
use fakedc_wsman::client::{basic_header, enumerate_body, identify_request, request, Auth, Client};
use fakedc_wsman::message::{action, ns};
use fakedc_wsman::xml::{parse, Limits};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SCENARIO: &str = r#"
[defaults]
boot_delay_ms = 200
shutdown_delay_ms = 200

[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.80.0.1"
[machine.options.winrm]
allow_unencrypted = true
max_shells_per_user = 2
[[machine.options.winrm.command]]
pattern = "slow*"
stdout = "finally\n"
delay_ms = 1500
[[machine.vm]]
name = "web01"
guest = "guest01"
state = "running"

[[machine]]
name = "guest01"
role = "vm-guest"
address = "127.80.0.2"

[[machine]]
name = "hv02"
role = "hyperv-host"
address = "127.80.0.3"
"#;

const SHELL: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd";
const OS: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_OperatingSystem";
const CT: &str = "application/soap+xml;charset=UTF-8";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn addr(dc: &Datacenter, m: &str, k: ServiceKind) -> SocketAddr {
    dc.endpoint(m, k).expect("endpoint")
}

async fn basic(a: SocketAddr) -> Client {
    let mut c = Client::connect(a, None, Duration::from_secs(5))
        .await
        .expect("connect");
    c.login(&Auth::Basic {
        user: "Administrator".into(),
        password: "P@ssw0rd!".into(),
    })
    .await
    .expect("login");
    c
}

/// (SOAP subcode, WSManFault code) of a fault answer.
fn fault(xml: &str) -> (String, String) {
    let root = parse(xml.as_bytes(), &Limits::default()).expect("fault XML");
    let sub = root
        .find(ns::S, "Subcode")
        .and_then(|s| s.child(ns::S, "Value"))
        .map(|v| v.text.clone())
        .unwrap_or_default();
    let code = root
        .find(ns::F, "WSManFault")
        .and_then(|f| f.attr("Code"))
        .unwrap_or_default()
        .to_string();
    (sub, code)
}

/// The endpoint still answers an anonymous Identify on a new connection.
async fn still_serving(a: SocketAddr) {
    let mut c = Client::connect(a, None, Duration::from_secs(5))
        .await
        .expect("connect");
    let r = c
        .post(&[], CT, identify_request().as_bytes())
        .await
        .expect("identify");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("IdentifyResponse"));
}

async fn raw_post(c: &mut Client, body: &[u8]) -> (u16, String) {
    let auth = basic_header("Administrator", "P@ssw0rd!");
    let r = c
        .post(&[("Authorization", &auth)], CT, body)
        .await
        .expect("post");
    (r.status, r.text())
}

#[test]
fn malformed_xml_dtd_entities_utf8_and_nesting_are_faults() {
    let dc = common::start(SCENARIO);
    let a = addr(&dc, "hv01", ServiceKind::WinrmHttp);
    rt().block_on(async {
        let mut c = basic(a).await;
        let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
            ("malformed", b"<s:Envelope xmlns:s='x'><a></s:Envelope>".to_vec(), "w:SchemaValidationError", "2150858819"),
            (
                "dtd",
                br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&lol2;</s:Body></s:Envelope>"#.to_vec(),
                "w:SchemaValidationError",
                "2150858819",
            ),
            (
                "entity",
                br#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&xxe;</s:Body></s:Envelope>"#.to_vec(),
                "w:SchemaValidationError",
                "2150858819",
            ),
            ("utf8", b"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body>\xff\xfe</s:Body></s:Envelope>".to_vec(), "w:SchemaValidationError", "2150858819"),
            (
                "deep",
                format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000)).into_bytes(),
                "w:EncodingLimit",
                "2150858805",
            ),
            ("not soap", b"<hello/>".to_vec(), "w:SchemaValidationError", "2150858817"),
        ];
        for (name, body, sub, code) in cases {
            let (status, xml) = raw_post(&mut c, &body).await;
            assert_eq!(status, 500, "{name}: {xml}");
            assert_eq!(fault(&xml), (sub.to_string(), code.to_string()), "{name}");
            assert!(!xml.contains("lollol"), "no entity expansion");
        }
        // The same keep-alive connection still works.
        let (status, xml) = c
            .soap(&request(action::ENUMERATE, OS, &[], &enumerate_body(5)))
            .await
            .expect("enumerate");
        assert_eq!(status, 200, "{xml}");
        still_serving(a).await;
    });
}

#[test]
fn ten_megabyte_body_is_refused_and_the_server_keeps_serving() {
    let dc = common::start(SCENARIO);
    let a = addr(&dc, "hv01", ServiceKind::WinrmHttp);
    rt().block_on(async {
        let mut s = tokio::net::TcpStream::connect(a).await.expect("connect");
        let body = vec![b'<'; 10 << 20];
        let head = format!(
            "POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Type: {CT}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).await.expect("head");
        // The server answers before the body is all sent and closes; the
        // write may then fail, which is fine.
        let _ = s.write_all(&body).await;
        let mut resp = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut resp)).await;
        let text = String::from_utf8_lossy(&resp);
        assert!(
            text.starts_with("HTTP/1.1 500"),
            "{}",
            &text[..text.len().min(300)]
        );
        assert!(text.contains("w:EncodingLimit"));
        still_serving(a).await;
    });
}

#[test]
fn missing_headers_unknown_actions_and_resources() {
    let dc = common::start(SCENARIO);
    let a = addr(&dc, "hv01", ServiceKind::WinrmHttp);
    rt().block_on(async {
        let mut c = basic(a).await;
        let no_action = format!(
            r#"<s:Envelope xmlns:s="{}" xmlns:w="{}"><s:Header><w:ResourceURI>{OS}</w:ResourceURI></s:Header><s:Body/></s:Envelope>"#,
            ns::S,
            ns::W
        );
        let (st, xml) = c.soap(&no_action).await.expect("post");
        assert_eq!(st, 500);
        assert_eq!(fault(&xml).0, "a:MessageInformationHeaderRequired");
        let no_uri = format!(
            r#"<s:Envelope xmlns:s="{}" xmlns:a="{}"><s:Header><a:Action>{}</a:Action><a:MessageID>uuid:1</a:MessageID></s:Header><s:Body/></s:Envelope>"#,
            ns::S,
            ns::A,
            action::GET
        );
        let (st, xml) = c.soap(&no_uri).await.expect("post");
        assert_eq!(st, 500);
        assert_eq!(fault(&xml).0, "a:MessageInformationHeaderRequired");
        assert!(xml.contains("<a:RelatesTo>uuid:1</a:RelatesTo>"));

        let (st, xml) = c
            .soap(&request("http://example.com/NoSuchAction", SHELL, &[], ""))
            .await
            .expect("post");
        assert_eq!((st, fault(&xml)), (500, ("a:ActionNotSupported".into(), "2150858771".into())));
        let (st, xml) = c
            .soap(&request(
                action::GET,
                "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_NoSuchClass",
                &[],
                "",
            ))
            .await
            .expect("post");
        assert_eq!(
            (st, fault(&xml)),
            (500, ("w:DestinationUnreachable".into(), "2150858752".into()))
        );
        assert!(xml.contains("faultDetail/InvalidResourceURI"));
        // Unknown shell.
        let (st, xml) = c
            .soap(&request(action::DELETE, SHELL, &[("ShellId", "NOPE")], ""))
            .await
            .expect("post");
        assert_eq!(
            (st, fault(&xml)),
            (500, ("w:InvalidSelectors".into(), "2150858843".into()))
        );
        // Bad enumeration context.
        let pull = "<n:Pull><n:EnumerationContext>uuid:bogus</n:EnumerationContext></n:Pull>";
        let (st, xml) = c.soap(&request(action::PULL, OS, &[], pull)).await.expect("post");
        assert_eq!((st, fault(&xml).0), (500, "n:InvalidEnumerationContext".into()));
        // Bad WQL.
        let wql = r#"<n:Enumerate><w:Filter Dialect="http://schemas.microsoft.com/wbem/wsman/1/WQL">DROP TABLE x</w:Filter></n:Enumerate>"#;
        let (st, xml) = c.soap(&request(action::ENUMERATE, OS, &[], wql)).await.expect("post");
        assert_eq!((st, fault(&xml).0), (500, "w:CannotProcessFilter".into()));
        // GET is not WinRM.
        let mut s = tokio::net::TcpStream::connect(a).await.expect("connect");
        s.write_all(b"GET /wsman HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut resp = Vec::new();
        let _ = s.read_to_end(&mut resp).await;
        assert!(String::from_utf8_lossy(&resp).starts_with("HTTP/1.1 405"));
        still_serving(a).await;
    });
}

#[test]
fn garbage_ntlm_tokens_get_401_and_plaintext_on_sealed_connections_gets_500() {
    let dc = common::start(SCENARIO);
    let strict = addr(&dc, "hv02", ServiceKind::WinrmHttp);
    rt().block_on(async {
        let mut c = Client::connect(strict, None, Duration::from_secs(5))
            .await
            .expect("connect");
        for token in [
            "Negotiate AAAA",
            "Negotiate !!!not-base64!!!",
            "Negotiate TlRMTVNTUAADAAAA", // AUTHENTICATE before any CHALLENGE
            "Negotiate YIIBhgYGKwYBBQUCoIIBejCCAXagMDAuBgorBgEEAYI3AgIKBgkqhkiC9xIBAgIGCSqGSIb3EgECAgYKKwYBBAGCNwICHg==",
            "NTLM TlRMTVNTUAABAAAAAAAAAA==", // NEGOTIATE without Unicode
        ] {
            let r = c.post(&[("Authorization", token)], "", b"").await.expect("post");
            assert_eq!(r.status, 401, "{token}");
        }
        let huge = format!("Negotiate {}", "A".repeat(20_000));
        let r = c.post(&[("Authorization", &huge)], "", b"").await.expect("post");
        assert_eq!(r.status, 401);
        // Anonymous operations other than Identify: 401 offering Negotiate
        // only (Basic is off over HTTP here).
        let r = c
            .post(&[], CT, request(action::GET, OS, &[], "").as_bytes())
            .await
            .expect("post");
        assert_eq!(r.status, 401);
        assert_eq!(r.header("WWW-Authenticate"), Some("Negotiate"));
        // A real NTLM login, then a plaintext message: Windows' bare 500.
        let mut c = Client::connect(strict, None, Duration::from_secs(5))
            .await
            .expect("connect");
        c.login(&Auth::Ntlm {
            user: "administrator".into(),
            password: "P@ssw0rd!".into(),
        })
        .await
        .expect("ntlm");
        let (st, body) = c
            .soap(&request(action::GET, OS, &[], ""))
            .await
            .expect("post");
        assert_eq!((st, body.as_str()), (500, ""));
        // Sealed, it works; a tampered sealed body is a 400.
        c.encrypt = true;
        let (st, body) = c.soap(&request(action::GET, OS, &[], "")).await.expect("post");
        assert_eq!(st, 200, "{body}");
        assert!(body.contains("Windows Server 2019"));
        let r = c
            .post(
                &[],
                "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\";boundary=\"Encrypted Boundary\"",
                b"--Encrypted Boundary\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=5\r\n--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n\x10\0\0\0AAAAAAAAAAAAAAAAhello--Encrypted Boundary--\r\n",
            )
            .await
            .expect("post");
        assert_eq!(r.status, 400);
        still_serving(strict).await;
    });
}

#[test]
fn receive_times_out_then_delivers_and_output_is_split_by_envelope_size() {
    let dc = common::start(SCENARIO);
    let a = addr(&dc, "hv01", ServiceKind::WinrmHttp);
    rt().block_on(async {
        let mut c = basic(a).await;
        let create = "<rsp:Shell xmlns:rsp=\"http://schemas.microsoft.com/wbem/wsman/1/windows/shell\"><rsp:InputStreams>stdin</rsp:InputStreams><rsp:OutputStreams>stdout stderr</rsp:OutputStreams></rsp:Shell>";
        let (st, xml) = c.soap(&request(action::CREATE, SHELL, &[], create)).await.expect("create");
        assert_eq!(st, 200, "{xml}");
        let root = parse(xml.as_bytes(), &Limits::default()).expect("xml");
        let shell = root.find(ns::RSP, "ShellId").expect("ShellId").text.clone();
        let cmd_body = |c: &str| {
            format!("<rsp:CommandLine xmlns:rsp=\"{}\"><rsp:Command>{c}</rsp:Command></rsp:CommandLine>", ns::RSP)
        };
        let (_, xml) = c
            .soap(&request(action::COMMAND, SHELL, &[("ShellId", &shell)], &cmd_body("slow")))
            .await
            .expect("command");
        let root = parse(xml.as_bytes(), &Limits::default()).expect("xml");
        let cmd = root.find(ns::RSP, "CommandId").expect("CommandId").text.clone();
        let receive = format!(
            "<rsp:Receive xmlns:rsp=\"{}\"><rsp:DesiredStream CommandId=\"{cmd}\">stdout stderr</rsp:DesiredStream></rsp:Receive>",
            ns::RSP
        );
        let short = request(action::RECEIVE, SHELL, &[("ShellId", &shell)], &receive)
            .replace("PT20S", "PT0.5S");
        let t0 = Instant::now();
        let (st, xml) = c.soap(&short).await.expect("receive");
        assert_eq!((st, fault(&xml)), (500, ("w:TimedOut".into(), "2150858793".into())));
        assert!(t0.elapsed() >= Duration::from_millis(450));
        let (st, xml) = c
            .soap(&request(action::RECEIVE, SHELL, &[("ShellId", &shell)], &receive))
            .await
            .expect("receive");
        assert_eq!(st, 200);
        assert!(xml.contains("CommandState/Done") && xml.contains("<rsp:ExitCode>0</rsp:ExitCode>"));
        // Quota: two shells per user here.
        let (st, _) = c.soap(&request(action::CREATE, SHELL, &[], create)).await.expect("create");
        assert_eq!(st, 200);
        let (st, xml) = c.soap(&request(action::CREATE, SHELL, &[], create)).await.expect("create");
        assert_eq!((st, fault(&xml).0), (500, "w:QuotaLimit".into()));
        // A response larger than MaxEnvelopeSize: Enumerate with a tiny
        // envelope is an EncodingLimit fault.
        let tiny = request(action::ENUMERATE, "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service", &[], &enumerate_body(100))
            .replace("512000", "8192");
        let (st, xml) = c.soap(&tiny).await.expect("enumerate");
        assert_eq!(st, 200, "items are split over Pulls: {xml}");
        assert!(xml.contains("EnumerationContext"));
        let (st, _) = c
            .soap(&request(action::DELETE, SHELL, &[("ShellId", &shell)], ""))
            .await
            .expect("delete");
        assert_eq!(st, 200);
    });
}

#[test]
fn vm_pause_and_save_take_the_guest_down_and_resume_brings_it_back() {
    let dc = common::start(SCENARIO);
    let host = addr(&dc, "hv01", ServiceKind::WinrmHttp);
    let guest = addr(&dc, "guest01", ServiceKind::WinrmHttp);
    let vm_id = dc.machine_state("hv01").expect("hv01").vms[0].id.clone();
    rt().block_on(async {
        still_serving(guest).await;
        let mut c = basic(host).await;
        let uri = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2/Msvm_ComputerSystem";
        let change = |state: u32| {
            request(
                &format!("{uri}/RequestStateChange"),
                uri,
                &[("CreationClassName", "Msvm_ComputerSystem"), ("Name", &vm_id)],
                &format!("<p:RequestStateChange_INPUT xmlns:p=\"{uri}\"><p:RequestedState>{state}</p:RequestedState></p:RequestStateChange_INPUT>"),
            )
        };
        for (state, enabled) in [(9, "9"), (2, "2"), (6, "6"), (2, "2")] {
            let (st, xml) = c.soap(&change(state)).await.expect("invoke");
            assert_eq!(st, 200, "{xml}");
            assert!(xml.contains("<p:ReturnValue>4096</p:ReturnValue>"), "{xml}");
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let get = request(action::GET, uri, &[("CreationClassName", "Msvm_ComputerSystem"), ("Name", &vm_id)], "");
                let (_, xml) = c.soap(&get).await.expect("get");
                let up = Client::connect(guest, None, Duration::from_millis(300)).await.is_ok();
                if xml.contains(&format!("<p:EnabledState>{enabled}</p:EnabledState>")) && up == (state == 2) {
                    break;
                }
                assert!(Instant::now() < deadline, "state {state}: {xml}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        // Invalid requested state.
        let (st, xml) = c.soap(&change(77)).await.expect("invoke");
        assert_eq!(st, 200);
        assert!(xml.contains("<p:ReturnValue>32773</p:ReturnValue>"));
        // Power the VM off through the control path: the guest goes dark.
        dc.power("guest01", PowerAction::Off).expect("power");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Client::connect(guest, None, Duration::from_millis(500)).await.is_ok() {
            assert!(Instant::now() < deadline, "guest still answers after power-off");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // VM guests have no virtualization namespace.
        dc.power("guest01", PowerAction::On).expect("power");
    });
}
