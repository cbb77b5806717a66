//! Who each machine's web server says it is, judged by `nmap -sV` (its
//! service fingerprints) and curl: a Hyper-V host's BITS (IIS) and WinRM
//! (HTTP.sys) as Windows answers, a BMC's 443 never as a Microsoft
//! product, ESXi's 443 without NTLM. A missing nmap fails the test.

use crate::common;
use fakedc::ServiceKind;
use std::process::Command;

const SCENARIO: &str = r#"
[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.84.0.1"
bmc = "bmc01"

[[machine]]
name = "bmc01"
role = "bmc"
address = "127.84.1.1"

[[machine]]
name = "esxi01"
role = "esxi-host"
address = "127.84.0.2"
"#;

/// `nmap -sV` on each address at once (each takes ~17 s of waiting on
/// probes, not CPU); returns each port's line of the report, in order.
fn nmap(addrs: &[std::net::SocketAddr]) -> Vec<String> {
    let children: Vec<_> = addrs
        .iter()
        .map(|addr| {
            Command::new("nmap")
                .args(["-sV", "-Pn", "-n", "-p"])
                .arg(addr.port().to_string())
                .arg(addr.ip().to_string())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("nmap is needed (./scripts/test installs it)")
        })
        .collect();
    children
        .into_iter()
        .zip(addrs)
        .map(|(c, addr)| {
            let out = c.wait_with_output().expect("nmap");
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            assert!(out.status.success(), "{text}");
            text.lines()
                .find(|l| l.starts_with(&format!("{}/tcp", addr.port())))
                .unwrap_or_else(|| panic!("no port line: {text}"))
                .to_string()
        })
        .collect()
}

/// Response headers of `curl -k -sS -D - -o /dev/null URL` (extra args).
fn head(url: &str, args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-k", "-sS", "-D", "-", "-o", "/dev/null"])
        .args(args)
        .arg(url)
        .output()
        .expect("run curl");
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn nmap_and_curl_see_each_machines_own_web_server() {
    let dc = common::start(SCENARIO);
    let bits = dc.endpoint("hv01", ServiceKind::Bits).unwrap();
    let winrm = dc.endpoint("hv01", ServiceKind::WinrmHttp).unwrap();
    let bmc = dc.endpoint("bmc01", ServiceKind::Smash).unwrap();
    let esxi = dc.endpoint("esxi01", ServiceKind::EsxiHttps).unwrap();

    let lines = nmap(&[bits, winrm, bmc]);
    assert!(lines[0].contains("Microsoft IIS httpd"), "{lines:?}");
    assert!(
        lines[1].contains("Microsoft HTTPAPI httpd 2.0"),
        "{lines:?}"
    );
    assert!(!lines[2].contains("Microsoft"), "{lines:?}");

    // Title-case header names and HTTP.sys's own 404 page.
    let h = head(&format!("http://{winrm}/nothing-here"), &[]);
    assert!(h.starts_with("HTTP/1.1 404"), "{h}");
    assert!(h.contains("\r\nServer: Microsoft-HTTPAPI/2.0\r\n"), "{h}");
    assert!(
        h.contains("\r\nContent-Type: text/html; charset=us-ascii\r\n"),
        "{h}"
    );
    // An HTTP/1.0 request gets an HTTP/1.1 status line, as from HTTP.sys.
    let h = head(&format!("http://{winrm}/nothing-here"), &["--http1.0"]);
    assert!(h.starts_with("HTTP/1.1 404"), "{h}");
    // A request the parser refuses (a method with a character no token
    // allows) gets HTTP.sys's 400 page and `Server`, not a bare 400.
    let h = head(&format!("http://{winrm}/wsman"), &["-X", "GE(T"]);
    assert!(h.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{h}");
    assert!(h.contains("\r\nServer: Microsoft-HTTPAPI/2.0\r\n"), "{h}");
    assert!(
        h.contains("\r\nContent-Type: text/html; charset=us-ascii\r\n"),
        "{h}"
    );
    // A challenge names its header as HTTP.sys does (`WWW-Authenticate`,
    // not title case's `Www-Authenticate`).
    let h = head(&format!("http://{winrm}/wsman"), &["-X", "POST"]);
    assert!(h.starts_with("HTTP/1.1 401"), "{h}");
    assert!(h.contains("\r\nWWW-Authenticate: Negotiate\r\n"), "{h}");
    // The BMC's web server is not Windows'.
    let h = head(&format!("https://{bmc}/"), &[]);
    assert!(!h.contains("Microsoft"), "{h}");
    assert!(h.contains("\r\nServer: "), "{h}");
    // ESXi offers Basic only, and names no Windows server.
    let h = head(
        &format!("https://{esxi}/upload/x"),
        &["-X", "BITS_POST", "-H", "BITS-Packet-Type: Create-Session"],
    );
    assert!(h.starts_with("HTTP/1.1 401"), "{h}");
    assert!(!h.contains("NTLM") && !h.contains("Negotiate"), "{h}");
    assert!(
        h.to_ascii_lowercase().contains("www-authenticate: basic"),
        "{h}"
    );
    assert!(!h.contains("Microsoft"), "{h}");
    // An NTLM handshake attempt on ESXi is refused outright.
    let h = head(
        &format!("https://{esxi}/upload/x"),
        &[
            "--ntlm",
            "-u",
            "root:VMware1!",
            "-X",
            "BITS_POST",
            "-H",
            "BITS-Packet-Type: Ping",
        ],
    );
    assert!(!h.contains("HTTP/1.1 200"), "{h}");
}
