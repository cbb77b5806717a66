//! BITS interop: curl drives the MC-BUP upload protocol exactly as
//! specified (Ping, Create-Session, Fragments with Content-Range,
//! Close-Session) and ranged downloads; `fakedc bits` (the binary) uploads
//! and downloads; interruptions (a reset in the middle of a fragment, a
//! SIGKILLed fakedc restarted on the same data directory, a killed client)
//! never lose or corrupt a byte, and nothing appears under the final name
//! before Close-Session; wget downloads with its OEM-only NTLM. A missing
//! curl or wget fails these tests; it never skips them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use crate::common;

use crate::common::{wait_until, Temp};
use fakedc::{Datacenter, FaultKind, FaultRule, PowerAction, Query, ServiceKind};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const PROTO: &str = "{7df0354d-249b-430f-820d-3d2a9bef4931}";
const USER: &str = "Administrator:P@ssw0rd!";

const SCENARIO: &str = r#"
[defaults]
boot_delay_ms = 100

[[machine]]
name = "lib01"
role = "library-server"
address = "127.83.0.1"
[machine.options.bits]
max_upload_size = 8388608
max_fragment_size = 4194304
virtual_files = [{ path = "/library/win2022.vhdx", size = 42949672960, seed = 7 }]

[[machine]]
name = "vmm01"
role = "vmm-server"
address = "127.83.0.2"
[machine.options.bits]
session_idle_timeout_s = 1
upload_paths = ["/upload"]

[[machine]]
name = "esxi01"
role = "esxi-host"
address = "127.83.0.3"
[machine.services]
ssh = false

# BITS on plain HTTP 80 as well as HTTPS 443; Basic over HTTP refused.
[[machine]]
name = "lib80"
role = "library-server"
address = "127.83.0.4"
[machine.services]
bits-http = true

# BITS on plain HTTP with Basic allowed over it.
[[machine]]
name = "lib81"
role = "library-server"
address = "127.83.0.5"
[machine.services]
bits-http = true
[machine.options.bits]
allow_basic_over_http = true
"#;

/// Deterministic test data.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; len];
    fakedc_bits::fill_virtual(seed, 0, &mut v);
    v
}

fn curl_path() -> &'static str {
    let ok = Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "curl is not installed: the BITS interop tests need it (./scripts/test installs it)"
    );
    "curl"
}

/// A parsed HTTP response head from `curl -D -`.
#[derive(Debug)]
struct Head {
    status: u16,
    headers: HashMap<String, String>,
    raw: String,
}

impl Head {
    fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(|s| s.as_str())
    }
}

/// The last response head in curl's `-D -` output (after any 100 Continue).
fn parse_head(out: &str) -> Head {
    let start = out.rfind("HTTP/1.1 ").expect("a response head");
    let block = &out[start..];
    let mut lines = block.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let mut headers = HashMap::new();
    for l in lines {
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    Head {
        status,
        headers,
        raw: block.to_string(),
    }
}

struct Bits {
    base: String,
    ca: PathBuf,
    /// curl's authentication arguments.
    auth: Vec<String>,
    _tmp: Temp,
}

impl Bits {
    fn new(dc: &Datacenter, machine: &str) -> Bits {
        Bits::on(dc, machine, ServiceKind::Bits, false)
    }

    /// curl with `--ntlm` (NTLM handshake on each connection).
    fn ntlm(dc: &Datacenter, machine: &str, kind: ServiceKind) -> Bits {
        Bits::on(dc, machine, kind, true)
    }

    fn on(dc: &Datacenter, machine: &str, kind: ServiceKind, ntlm: bool) -> Bits {
        let tmp = Temp::new(machine);
        let ca = tmp.path("ca.pem");
        std::fs::write(&ca, dc.ca_pem()).expect("write CA");
        let addr = dc.endpoint(machine, kind).expect("BITS endpoint");
        let scheme = if kind == ServiceKind::BitsHttp {
            "http"
        } else {
            "https"
        };
        let mut auth: Vec<String> = vec!["-u".into(), USER.into()];
        if ntlm {
            auth.insert(0, "--ntlm".into());
        }
        Bits {
            base: format!("{scheme}://{addr}"),
            ca,
            auth,
            _tmp: tmp,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// curl with the CA, credentials and `-D -`; returns the raw output.
    fn curl(&self, args: &[&str]) -> Output {
        Command::new(curl_path())
            .args(["-sS", "--cacert"])
            .arg(&self.ca)
            .args(&self.auth)
            .args(["-D", "-"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run curl")
    }

    /// A BITS_POST with a packet type and headers; optional body file.
    fn post(&self, path: &str, packet: &str, headers: &[String], body: Option<&Path>) -> Head {
        let url = self.url(path);
        let mut args: Vec<String> = vec![
            "-X".into(),
            "BITS_POST".into(),
            "-o".into(),
            "/dev/null".into(),
            "-H".into(),
            format!("BITS-Packet-Type: {packet}"),
            "-H".into(),
            "Content-Type:".into(),
        ];
        for h in headers {
            args.push("-H".into());
            args.push(h.clone());
        }
        if let Some(b) = body {
            args.push("--data-binary".into());
            args.push(format!("@{}", b.display()));
        }
        args.push(url);
        let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let o = self.curl(&refs);
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(
            o.status.success(),
            "curl {packet} failed: {out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let h = parse_head(&out);
        assert_eq!(h.get("server"), Some("Microsoft-IIS/10.0"), "{}", h.raw);
        assert_eq!(h.get("content-length"), Some("0"), "{}", h.raw);
        h
    }

    fn create(&self, path: &str) -> String {
        let h = self.post(
            path,
            "Create-Session",
            &[format!("BITS-Supported-Protocols: {PROTO}")],
            None,
        );
        assert_eq!(h.status, 200, "{}", h.raw);
        assert_eq!(h.get("bits-packet-type"), Some("Ack"));
        assert_eq!(h.get("bits-protocol"), Some(PROTO));
        assert!(h
            .get("accept-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("identity")));
        let id = h.get("bits-session-id").expect("session id").to_string();
        assert!(id.len() <= 100);
        id
    }

    /// Sends bytes [a, b] of `content` as one fragment.
    fn fragment(&self, path: &str, sid: &str, content: &[u8], a: usize, b: usize) -> Head {
        let part = self._tmp.path(&format!("part-{a}-{b}"));
        std::fs::write(&part, &content[a..=b]).expect("write part");
        self.post(
            path,
            "Fragment",
            &[
                format!("BITS-Session-Id: {sid}"),
                format!("Content-Range: bytes {a}-{b}/{}", content.len()),
            ],
            Some(&part),
        )
    }

    fn close(&self, path: &str, sid: &str) -> Head {
        self.post(
            path,
            "Close-Session",
            &[format!("BITS-Session-Id: {sid}")],
            None,
        )
    }
}

fn assert_bits_error(h: &Head, status: u16, code: &str) {
    assert_eq!(h.status, status, "{}", h.raw);
    assert_eq!(h.get("bits-packet-type"), Some("Ack"), "{}", h.raw);
    assert_eq!(h.get("bits-error-code"), Some(code), "{}", h.raw);
    assert_eq!(h.get("bits-error-context"), Some("0x5"), "{}", h.raw);
}

fn share_file(dc: &Datacenter, machine: &str, rel: &str) -> PathBuf {
    dc.share(machine).expect("share").join(rel)
}

fn session_files(dc: &Datacenter, machine: &str) -> Vec<PathBuf> {
    let dir = share_file(dc, machine, ".bits-sessions");
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

#[test]
fn curl_upload_ping_create_fragments_close_is_byte_exact() {
    let dc = common::start(SCENARIO);
    let b = Bits::new(&dc, "lib01");
    // The middle fragment is over 1 MB, so curl sends `Expect: 100-continue`.
    let content = data(2_200_000, 1);
    let path = "/upload/dir/file.vhdx";
    let final_path = share_file(&dc, "lib01", "upload/dir/file.vhdx");

    let h = b.post(path, "PING", &[], None);
    assert_eq!(h.status, 200);
    assert_eq!(h.get("bits-packet-type"), Some("Ack"));

    let sid = b.create(path);
    for (a, e) in [(0, 65_535), (65_536, 1_665_535), (1_665_536, 2_199_999)] {
        assert!(
            !final_path.exists(),
            "nothing under the final name before Close-Session"
        );
        let h = b.fragment(path, &sid, &content, a, e);
        assert_eq!(h.status, 200, "{}", h.raw);
        assert_eq!(h.get("bits-packet-type"), Some("Ack"));
        assert_eq!(
            h.get("bits-received-content-range"),
            Some((e + 1).to_string().as_str())
        );
    }
    assert!(
        !final_path.exists(),
        "complete but not closed: still no final file"
    );
    let h = b.close(path, &sid);
    assert_eq!(h.status, 200, "{}", h.raw);
    assert_eq!(std::fs::read(&final_path).expect("final file"), content);
    assert!(
        session_files(&dc, "lib01").is_empty(),
        "the session files are gone after Close-Session"
    );

    let ops: Vec<String> = dc
        .journal(&Query {
            machine: Some("lib01".into()),
            service: Some("bits".into()),
            ..Default::default()
        })
        .into_iter()
        .map(|e| format!("{} => {} ({:?})", e.operation, e.outcome, e.user))
        .collect();
    let text = ops.join("\n");
    assert!(text.contains("ping /upload/dir/file.vhdx => ok"), "{text}");
    assert!(
        text.contains("create-session /upload/dir/file.vhdx => ok"),
        "{text}"
    );
    assert_eq!(text.matches("fragment ").count(), 3, "{text}");
    assert!(
        text.contains("bytes 1665536-2199999/2200000 => ok received 2200000"),
        "{text}"
    );
    assert!(text.contains("close-session"), "{text}");
    assert!(text.contains("Some(\"Administrator\")"), "{text}");
}

#[test]
fn curl_gap_is_416_then_overlap_applies_only_the_new_tail() {
    let dc = common::start(SCENARIO);
    let b = Bits::new(&dc, "lib01");
    let content = data(300, 2);
    let path = "/upload/gap.bin";
    let sid = b.create(path);
    assert_eq!(b.fragment(path, &sid, &content, 0, 99).status, 200);
    // A fragment that starts past what was received: 416 + where to resume.
    let h = b.fragment(path, &sid, &content, 200, 299);
    assert_eq!(h.status, 416, "{}", h.raw);
    assert_eq!(h.get("bits-received-content-range"), Some("100"));
    // The client resumes from there, overlapping: only the tail is applied.
    let mut tampered = content.clone();
    tampered[50..100].fill(0xEE); // would corrupt if re-applied
    let h = b.fragment(path, &sid, &tampered, 50, 149);
    assert_eq!(h.status, 200, "{}", h.raw);
    assert_eq!(h.get("bits-received-content-range"), Some("150"));
    // Entirely old fragment: acknowledged, nothing rewritten.
    let h = b.fragment(path, &sid, &tampered, 0, 99);
    assert_eq!(h.get("bits-received-content-range"), Some("150"));
    assert_eq!(b.fragment(path, &sid, &content, 150, 299).status, 200);
    assert_eq!(b.close(path, &sid).status, 200);
    assert_eq!(
        std::fs::read(share_file(&dc, "lib01", "upload/gap.bin")).unwrap(),
        content
    );
}

#[test]
fn unknown_session_is_bg_e_session_not_found() {
    let dc = common::start(SCENARIO);
    let b = Bits::new(&dc, "lib01");
    let content = data(10, 3);
    let h = b.fragment(
        "/upload/x.bin",
        "{00000000-1111-2222-3333-444444444444}",
        &content,
        0,
        9,
    );
    assert_bits_error(&h, 500, "0x8020001F");
    let h = b.close("/upload/x.bin", "{DEADBEEF-0000-0000-0000-000000000000}");
    assert_bits_error(&h, 500, "0x8020001F");
    // A session id that could name a path is simply unknown.
    let h = b.post(
        "/upload/x.bin",
        "Cancel-Session",
        &["BITS-Session-Id: ../../etc".into()],
        None,
    );
    assert_bits_error(&h, 500, "0x8020001F");
}

#[test]
fn oversized_upload_and_fragment_are_bg_e_too_large() {
    let dc = common::start(SCENARIO);
    let b = Bits::new(&dc, "lib01");
    let path = "/upload/big.bin";
    let sid = b.create(path);
    // max_upload_size is 8 MiB: a fragment announcing 9 MiB is refused
    // before its body is read.
    let part = b._tmp.path("small");
    std::fs::write(&part, [0u8; 16]).unwrap();
    let h = b.post(
        path,
        "Fragment",
        &[
            format!("BITS-Session-Id: {sid}"),
            format!("Content-Range: bytes 0-15/{}", 9 << 20),
        ],
        Some(&part),
    );
    assert_bits_error(&h, 413, "0x80200020");
    // max_fragment_size is 4 MiB.
    let content = data((4 << 20) + 1, 4);
    let h = b.fragment(path, &sid, &content, 0, 4 << 20);
    assert_bits_error(&h, 413, "0x80200020");
}

#[test]
fn access_denied_bad_credentials_and_upload_paths() {
    let dc = common::start(SCENARIO);
    let b = Bits::new(&dc, "lib01");
    // `..` cannot leave the share (curl would normalise it without
    // --path-as-is).
    let o = b.curl(&[
        "--path-as-is",
        "-X",
        "BITS_POST",
        "-o",
        "/dev/null",
        "-H",
        "BITS-Packet-Type: Create-Session",
        "-H",
        &format!("BITS-Supported-Protocols: {PROTO}"),
        &b.url("/upload/../../../etc/passwd"),
    ]);
    let h = parse_head(&String::from_utf8_lossy(&o.stdout));
    assert_bits_error(&h, 403, "0x80070005");
    // Virtual files are read-only.
    let h = b.post(
        "/library/win2022.vhdx",
        "Create-Session",
        &[format!("BITS-Supported-Protocols: {PROTO}")],
        None,
    );
    assert_bits_error(&h, 403, "0x80070005");
    // Wrong password: 401 with a Basic challenge.
    let o = Command::new(curl_path())
        .args(["-sS", "--cacert"])
        .arg(&b.ca)
        .args([
            "-u",
            "Administrator:wrong",
            "-D",
            "-",
            "-o",
            "/dev/null",
            "-X",
            "BITS_POST",
            "-H",
            "BITS-Packet-Type: Create-Session",
            &b.url("/upload/a"),
        ])
        .output()
        .unwrap();
    let h = parse_head(&String::from_utf8_lossy(&o.stdout));
    assert_eq!(h.status, 401, "{}", h.raw);
    assert!(
        h.get("www-authenticate")
            .is_some_and(|v| v.starts_with("Basic realm=")),
        "{}",
        h.raw
    );
    assert_eq!(h.get("server"), Some("Microsoft-IIS/10.0"));
    // vmm01 accepts uploads only under /upload.
    let v = Bits::new(&dc, "vmm01");
    let h = v.post(
        "/other/x.bin",
        "Create-Session",
        &[format!("BITS-Supported-Protocols: {PROTO}")],
        None,
    );
    assert_bits_error(&h, 403, "0x80070005");
    v.create("/upload/x.bin");
    // No supported protocol offered.
    let h = b.post(
        "/upload/x.bin",
        "Create-Session",
        &["BITS-Supported-Protocols: {00000000-0000-0000-0000-000000000000}".into()],
        None,
    );
    assert_bits_error(&h, 400, "0x80070057");
}

#[test]
fn cancel_and_idle_expiry_remove_the_session_file() {
    let dc = common::start(SCENARIO);
    let b = Bits::new(&dc, "lib01");
    let content = data(1000, 5);
    let sid = b.create("/upload/c.bin");
    b.fragment("/upload/c.bin", &sid, &content, 0, 499);
    assert_eq!(session_files(&dc, "lib01").len(), 2, "data file + sidecar");
    let h = b.post(
        "/upload/c.bin",
        "cancel-session",
        &[format!("BITS-Session-Id: {sid}")],
        None,
    );
    assert_eq!(h.status, 200, "{}", h.raw);
    assert!(session_files(&dc, "lib01").is_empty());
    assert!(!share_file(&dc, "lib01", "upload/c.bin").exists());
    let h = b.fragment("/upload/c.bin", &sid, &content, 500, 999);
    assert_bits_error(&h, 500, "0x8020001F");

    // vmm01 expires idle sessions after 1 s.
    let v = Bits::new(&dc, "vmm01");
    let sid = v.create("/upload/e.bin");
    v.fragment("/upload/e.bin", &sid, &content, 0, 99);
    assert_eq!(session_files(&dc, "vmm01").len(), 2);
    dc.advance(Duration::from_millis(1300));
    let h = v.fragment("/upload/e.bin", &sid, &content, 100, 199);
    assert_bits_error(&h, 500, "0x8020001F");
    assert!(
        session_files(&dc, "vmm01").is_empty(),
        "expiry removed the files"
    );
}

#[test]
fn curl_downloads_ranges_head_and_conditionals() {
    let dc = common::start(SCENARIO);
    let b = Bits::new(&dc, "lib01");
    let content = data(10_000, 6);
    let f = share_file(&dc, "lib01", "library/disk.vhdx");
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    std::fs::write(&f, &content).unwrap();
    let url = b.url("/library/disk.vhdx");
    let out = b._tmp.path("out");
    let get = |extra: &[&str]| -> (Head, Vec<u8>) {
        let _ = std::fs::remove_file(&out);
        let mut args: Vec<&str> = extra.to_vec();
        let o = out.to_str().unwrap();
        args.extend(["-o", o, url.as_str()]);
        let r = b.curl(&args);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let h = parse_head(&String::from_utf8_lossy(&r.stdout));
        (h, std::fs::read(&out).unwrap_or_default())
    };
    // HEAD: what BITS asks first.
    let r = b.curl(&["-I", url.as_str()]);
    let h = parse_head(&String::from_utf8_lossy(&r.stdout));
    assert_eq!(h.status, 200);
    assert_eq!(h.get("content-length"), Some("10000"));
    assert_eq!(h.get("accept-ranges"), Some("bytes"));
    assert_eq!(h.get("server"), Some("Microsoft-IIS/10.0"));
    let last_modified = h.get("last-modified").expect("Last-Modified").to_string();
    assert!(h.get("etag").is_some());
    // Ranges.
    let (h, body) = get(&["-r", "0-99"]);
    assert_eq!(
        (h.status, h.get("content-range")),
        (206, Some("bytes 0-99/10000"))
    );
    assert_eq!(body, content[..100]);
    let (h, body) = get(&["-r", "9000-"]);
    assert_eq!(
        (h.status, h.get("content-range")),
        (206, Some("bytes 9000-9999/10000"))
    );
    assert_eq!(body, content[9000..]);
    let (h, body) = get(&["-r", "-50"]);
    assert_eq!(h.status, 206);
    assert_eq!(body, content[9950..]);
    let (h, body) = get(&[]);
    assert_eq!(h.status, 200);
    assert_eq!(body, content);
    // Multiple ranges: multipart/byteranges.
    let (h, body) = get(&["-r", "0-9,20-29"]);
    assert_eq!(h.status, 206);
    let ct = h.get("content-type").unwrap();
    assert!(ct.starts_with("multipart/byteranges; boundary="), "{ct}");
    let text = String::from_utf8_lossy(&body);
    assert!(text.contains("Content-Range: bytes 0-9/10000"), "{text}");
    assert!(text.contains("Content-Range: bytes 20-29/10000"), "{text}");
    assert_eq!(body.len().to_string(), h.get("content-length").unwrap());
    // Past the end: 416 with the length.
    let (h, _) = get(&["-r", "20000-"]);
    assert_eq!(
        (h.status, h.get("content-range")),
        (416, Some("bytes */10000"))
    );
    // If-Range with the current date honours the range; an old one does not.
    let (h, _) = get(&["-r", "0-9", "-H", &format!("If-Range: {last_modified}")]);
    assert_eq!(h.status, 206);
    let old = "If-Range: Mon, 01 Jan 2001 00:00:00 GMT";
    let (h, body) = get(&["-r", "0-9", "-H", old]);
    assert_eq!(h.status, 200);
    assert_eq!(body.len(), 10_000);
    let (h, _) = get(&["-H", "If-Unmodified-Since: Mon, 01 Jan 2001 00:00:00 GMT"]);
    assert_eq!(h.status, 412);
    let (h, _) = get(&["-H", &format!("If-Modified-Since: {last_modified}")]);
    assert_eq!(h.status, 304);
    // Missing file; no credentials.
    let r = b.curl(&["-o", "/dev/null", &b.url("/library/none.iso")]);
    assert_eq!(parse_head(&String::from_utf8_lossy(&r.stdout)).status, 404);
    let r = Command::new(curl_path())
        .args(["-sS", "--cacert"])
        .arg(&b.ca)
        .args(["-D", "-", "-o", "/dev/null", url.as_str()])
        .output()
        .unwrap();
    assert_eq!(parse_head(&String::from_utf8_lossy(&r.stdout)).status, 401);
    let j = dc.journal(&Query {
        machine: Some("lib01".into()),
        operation: Some("GET /library/disk.vhdx bytes=0-99".into()),
        ..Default::default()
    });
    assert_eq!(j.len(), 1);
    assert_eq!(j[0].outcome, "206 100 bytes");
}

#[test]
fn virtual_40_gb_file_is_served_from_the_generator() {
    let dc = common::start(SCENARIO);
    let b = Bits::new(&dc, "lib01");
    let url = b.url("/library/win2022.vhdx");
    let r = b.curl(&["-I", url.as_str()]);
    let h = parse_head(&String::from_utf8_lossy(&r.stdout));
    assert_eq!(h.get("content-length"), Some("42949672960"));
    let out = b._tmp.path("v");
    let o = out.to_str().unwrap();
    let r = b.curl(&["-r", "42949600000-42949672959", "-o", o, url.as_str()]);
    assert!(r.status.success());
    let mut expect = vec![0u8; 72_960];
    fakedc_bits::fill_virtual(7, 42_949_600_000, &mut expect);
    assert_eq!(std::fs::read(&out).unwrap(), expect);
    assert!(
        !share_file(&dc, "lib01", "library/win2022.vhdx").exists(),
        "virtual files use no disk"
    );
}

/// Runs `fakedc bits ...`.
fn fakedc_bits(args: &[&str], ca: &Path, state: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fakedc"))
        .arg("bits")
        .args(args)
        .arg("--cacert")
        .arg(ca)
        .arg("--state-dir")
        .arg(state)
        .args(["--user", "Administrator", "--password", "P@ssw0rd!"])
        .stdin(Stdio::null())
        .output()
        .expect("run fakedc bits")
}

#[test]
fn fakedc_bits_upload_and_download_round_trip() {
    let dc = common::start(SCENARIO);
    let b = Bits::new(&dc, "lib01");
    let content = data(3 << 20, 8);
    let src = b._tmp.path("src.bin");
    std::fs::write(&src, &content).unwrap();
    let state = b._tmp.path("state");
    let url = b.url("/upload/round%20trip.bin");
    let o = fakedc_bits(
        &[
            "upload",
            src.to_str().unwrap(),
            &url,
            "--fragment-size",
            "1048576",
        ],
        &b.ca,
        &state,
    );
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(
        std::fs::read(share_file(&dc, "lib01", "upload/round trip.bin")).unwrap(),
        content
    );
    let frags = dc.journal(&Query {
        machine: Some("lib01".into()),
        operation: Some("fragment".into()),
        ..Default::default()
    });
    assert_eq!(frags.len(), 3, "{frags:?}");
    let dst = b._tmp.path("dst.bin");
    let o = fakedc_bits(&["download", &url, dst.to_str().unwrap()], &b.ca, &state);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(&dst).unwrap(), content);
    assert!(!b._tmp.path("dst.bin.bitspart").exists());
    // Unknown host file: a clear failure, exit 1.
    let o = fakedc_bits(
        &[
            "download",
            &b.url("/nope"),
            b._tmp.path("x").to_str().unwrap(),
        ],
        &b.ca,
        &state,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("404"));
}

#[test]
fn reset_in_the_middle_of_a_fragment_then_resume_is_exact() {
    let dc = common::start(SCENARIO);
    let b = Bits::new(&dc, "lib01");
    let content = data(300_000, 9);
    let path = "/upload/reset.bin";
    let sid = b.create(path);
    let fault = dc.add_fault(FaultRule {
        id: 0,
        machine: Some("lib01".into()),
        service: Some("bits".into()),
        kind: FaultKind::ResetAfter { bytes: 100_000 },
    });
    // curl sends a 300,000-byte fragment; the connection is reset after
    // 100,000 bytes of it.
    let part = b._tmp.path("whole");
    std::fs::write(&part, &content).unwrap();
    let o = b.curl(&[
        "-X",
        "BITS_POST",
        "-o",
        "/dev/null",
        "-H",
        "BITS-Packet-Type: Fragment",
        "-H",
        &format!("BITS-Session-Id: {sid}"),
        "-H",
        "Content-Range: bytes 0-299999/300000",
        "--data-binary",
        &format!("@{}", part.display()),
        &b.url(path),
    ]);
    assert!(
        !o.status.success(),
        "the fragment must fail: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("200 OK"));
    let reset = dc.journal(&Query {
        operation: Some("fragment".into()),
        ..Default::default()
    });
    assert!(
        reset
            .iter()
            .any(|e| e.outcome.starts_with("reset by fault rule")),
        "{reset:?}"
    );
    assert!(!share_file(&dc, "lib01", "upload/reset.bin").exists());
    dc.remove_fault(fault);
    // Resume: the client re-sends the fragment; the server applies only
    // what it lacks.
    let h = b.fragment(path, &sid, &content, 0, 299_999);
    assert_eq!(h.status, 200, "{}", h.raw);
    assert_eq!(h.get("bits-received-content-range"), Some("300000"));
    assert_eq!(b.close(path, &sid).status, 200);
    assert_eq!(
        std::fs::read(share_file(&dc, "lib01", "upload/reset.bin")).unwrap(),
        content
    );

    // `fakedc bits upload` rides through resets on every connection.
    dc.add_fault(FaultRule {
        id: 0,
        machine: Some("lib01".into()),
        service: Some("bits".into()),
        kind: FaultKind::ResetAfter { bytes: 150_000 },
    });
    let content = data(600_000, 10);
    let src = b._tmp.path("src2");
    std::fs::write(&src, &content).unwrap();
    let o = fakedc_bits(
        &[
            "upload",
            src.to_str().unwrap(),
            &b.url("/upload/reset2.bin"),
            "--retries",
            "20",
        ],
        &b.ca,
        &b._tmp.path("state"),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read(share_file(&dc, "lib01", "upload/reset2.bin")).unwrap(),
        content
    );
    // Downloads are reset by the network layer (bytes sent); the client
    // resumes with ranges.
    let dst = b._tmp.path("dst2");
    let o = fakedc_bits(
        &[
            "download",
            &b.url("/upload/reset2.bin"),
            dst.to_str().unwrap(),
            "--retries",
            "20",
        ],
        &b.ca,
        &b._tmp.path("state"),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(&dst).unwrap(), content);
    let gets = dc.journal(&Query {
        operation: Some("GET /upload/reset2.bin".into()),
        ..Default::default()
    });
    assert!(gets.len() > 1, "the download needed several ranged GETs");
}

#[test]
fn killed_client_rerun_continues_the_same_session() {
    let scenario = format!(
        "{SCENARIO}\n[[fault]]\nmachine = \"lib01\"\nservice = \"bits\"\nkind = \"delay\"\nms = 5\n"
    );
    let dc = Datacenter::builder()
        .scenario_str(&scenario)
        .ephemeral()
        .start()
        .expect("start");
    let b = Bits::new(&dc, "lib01");
    let content = data(2 << 20, 11);
    let src = b._tmp.path("src");
    std::fs::write(&src, &content).unwrap();
    let state = b._tmp.path("state");
    let url = b.url("/upload/rerun.bin");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fakedc"))
        .args(["bits", "upload", src.to_str().unwrap(), &url])
        .args(["--fragment-size", "131072", "--cacert"])
        .arg(&b.ca)
        .arg("--state-dir")
        .arg(&state)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let acked = || {
        dc.journal(&Query {
            operation: Some("fragment".into()),
            ..Default::default()
        })
        .iter()
        .filter(|e| e.outcome.starts_with("ok"))
        .count()
    };
    assert!(wait_until(Duration::from_secs(20), || acked() >= 3));
    child.kill().unwrap();
    let _ = child.wait();
    assert!(!share_file(&dc, "lib01", "upload/rerun.bin").exists());
    let o = fakedc_bits(&["upload", src.to_str().unwrap(), &url], &b.ca, &state);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("resumed at"), "{out}");
    assert_eq!(
        std::fs::read(share_file(&dc, "lib01", "upload/rerun.bin")).unwrap(),
        content
    );
    let creates = dc.journal(&Query {
        operation: Some("create-session".into()),
        ..Default::default()
    });
    assert_eq!(
        creates.len(),
        1,
        "the re-run reused the session: {creates:?}"
    );
}

/// A `fakedc up` child process with fixed ports (a port offset), so the
/// URL stays valid across a restart.
struct Up {
    child: Child,
}

impl Up {
    fn start(scenario: &Path, data: &Path, certs: &Path, offset: u16) -> Up {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fakedc"))
            .arg("up")
            .arg(scenario)
            .arg("--data-dir")
            .arg(data)
            .arg("--certs")
            .arg(certs)
            .args(["--port-offset", &offset.to_string(), "--no-control"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn fakedc up");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            assert!(Instant::now() < deadline, "fakedc up did not get ready");
            match lines.next() {
                Some(Ok(l)) if l.starts_with("ready") => break,
                Some(Ok(_)) => {}
                _ => panic!("fakedc up exited before ready"),
            }
        }
        // Keep draining stdout so the child never blocks on it.
        std::thread::spawn(move || for _ in lines {});
        Up { child }
    }

    fn kill(mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sigkill_mid_upload_restart_on_the_same_data_dir_resumes_and_completes() {
    let tmp = Temp::new("sigkill");
    let addr = "127.83.9.1";
    let scenario = tmp.path("s.toml");
    std::fs::write(
        &scenario,
        format!(
            "[[machine]]\nname = \"lib09\"\nrole = \"library-server\"\naddress = \"{addr}\"\n\
             [[fault]]\nmachine = \"lib09\"\nservice = \"bits\"\nkind = \"delay\"\nms = 5\n"
        ),
    )
    .unwrap();
    let data_dir = tmp.path("data");
    let certs = tmp.path("certs");
    let offset = 20_000 + (std::process::id() % 20_000) as u16;
    let up = Up::start(&scenario, &data_dir, &certs, offset);
    let port = 443 + offset;
    let url = format!("https://{addr}:{port}/upload/big.bin");
    let content = data(3 << 20, 12);
    let src = tmp.path("src");
    std::fs::write(&src, &content).unwrap();
    let state = tmp.path("state");
    let client = Command::new(env!("CARGO_BIN_EXE_fakedc"))
        .args(["bits", "upload", src.to_str().unwrap(), &url])
        .args(["--fragment-size", "262144", "--retries", "60", "--cacert"])
        .arg(certs.join("fakedc-ca.pem"))
        .arg("--state-dir")
        .arg(&state)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let share = data_dir.join("shares/lib09");
    let final_path = share.join("upload/big.bin");
    let part_len = || -> u64 {
        std::fs::read_dir(share.join(".bits-sessions"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    };
    assert!(
        wait_until(Duration::from_secs(20), || part_len() >= 600_000),
        "the upload did not start"
    );
    assert!(part_len() < content.len() as u64, "killed mid-upload");
    assert!(
        !final_path.exists(),
        "nothing under the final name before Close-Session"
    );
    up.kill();
    assert!(!final_path.exists());
    let up = Up::start(&scenario, &data_dir, &certs, offset);
    let out = client.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&final_path).unwrap(), content);
    assert_eq!(part_len(), 0);
    drop(up);
}

#[test]
fn check_probe_verifies_bits_and_sees_a_powered_off_host() {
    let dc = common::start(SCENARIO);
    let addr = dc.endpoint("lib01", ServiceKind::Bits).unwrap();
    let t = Duration::from_secs(3);
    let r = dc
        .block_on(fakedc_bits::probe::probe(addr, true, None, t))
        .unwrap();
    assert_eq!(
        r.verdict,
        fakedc_bits::probe::ProbeVerdict::Verified,
        "{}",
        r.detail
    );
    assert!(r.detail.contains("Microsoft-IIS/10.0"), "{}", r.detail);
    let r = dc
        .block_on(fakedc_bits::probe::probe(
            addr,
            true,
            Some(("Administrator", "nope")),
            t,
        ))
        .unwrap();
    assert_eq!(r.verdict, fakedc_bits::probe::ProbeVerdict::AuthFailure);
    let results = dc
        .block_on(fakedc::check::run(
            dc.endpoints(),
            &Default::default(),
            |_, _| {},
        ))
        .unwrap();
    let bits: Vec<_> = results
        .iter()
        .filter(|r| matches!(r.service, Some(ServiceKind::Bits | ServiceKind::EsxiHttps)))
        .collect();
    assert!(bits
        .iter()
        .any(|r| r.service == Some(ServiceKind::EsxiHttps)));
    assert!(bits.iter().any(|r| r.service == Some(ServiceKind::Bits)));
    for r in &bits {
        assert_eq!(r.verdict, fakedc::check::Verdict::Verified, "{r:?}");
    }
    dc.power("lib01", PowerAction::Off).unwrap();
    assert!(wait_until(Duration::from_secs(5), || {
        dc.block_on(fakedc_bits::probe::probe(addr, true, None, t))
            .is_some_and(|r| r.verdict == fakedc_bits::probe::ProbeVerdict::Refused)
    }));
}

/// The user each journal entry of `machine` names, by operation prefix.
fn journal_users(dc: &Datacenter, machine: &str, op: &str) -> Vec<(String, Option<String>)> {
    dc.journal(&Query {
        machine: Some(machine.into()),
        operation: Some(op.into()),
        ..Default::default()
    })
    .into_iter()
    .map(|e| (e.outcome, e.user))
    .collect()
}

/// Ping, Create-Session, three fragments, Close-Session, then a ranged and
/// a whole download, every request through curl's NTLM handshake.
fn ntlm_upload_download(dc: &Datacenter, b: &Bits, machine: &str, name: &str) {
    let content = data(300_000, 21);
    let path = format!("/upload/{name}");
    let h = b.post(&path, "Ping", &[], None);
    assert_eq!(h.status, 200, "{}", h.raw);
    let sid = b.create(&path);
    for (a, e) in [(0, 99_999), (100_000, 199_999), (200_000, 299_999)] {
        let h = b.fragment(&path, &sid, &content, a, e);
        assert_eq!(h.status, 200, "{}", h.raw);
        assert_eq!(
            h.get("bits-received-content-range"),
            Some((e + 1).to_string().as_str())
        );
    }
    assert_eq!(b.close(&path, &sid).status, 200);
    let final_path = share_file(dc, machine, &format!("upload/{name}"));
    assert_eq!(std::fs::read(&final_path).unwrap(), content);
    let out = b._tmp.path("ntlm-out");
    let o = out.to_str().unwrap();
    let url = b.url(&path);
    let r = b.curl(&["-r", "1000-1999", "-o", o, &url]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let h = parse_head(&String::from_utf8_lossy(&r.stdout));
    assert_eq!(h.status, 206, "{}", h.raw);
    assert_eq!(h.get("content-range"), Some("bytes 1000-1999/300000"));
    assert_eq!(std::fs::read(&out).unwrap(), content[1000..2000]);
    let r = b.curl(&["-o", o, &url]);
    assert!(r.status.success());
    assert_eq!(std::fs::read(&out).unwrap(), content);
    // The journal names the NTLM user on every authenticated operation.
    // Each curl run is one connection: one NEGOTIATE (answered 401 with the
    // CHALLENGE), then the request itself with the AUTHENTICATE.
    let frags = journal_users(dc, machine, "fragment");
    assert_eq!(frags.len(), 6, "{frags:?}");
    for pair in frags.chunks(2) {
        assert_eq!(pair[0], ("401 NTLM challenge sent".to_string(), None));
        assert!(pair[1].0.starts_with("ok received"), "{pair:?}");
        assert_eq!(pair[1].1.as_deref(), Some("Administrator"));
    }
    let closes = journal_users(dc, machine, "close-session");
    assert_eq!(closes.len(), 2, "{closes:?}");
    assert_eq!(closes[1].1.as_deref(), Some("Administrator"), "{closes:?}");
    let challenges: Vec<_> = journal_users(dc, machine, "create-session")
        .into_iter()
        .filter(|(o, _)| o == "401 NTLM challenge sent")
        .collect();
    assert_eq!(challenges.len(), 1, "one NEGOTIATE per curl connection");
}

#[test]
fn curl_ntlm_upload_and_ranged_download_over_https_are_byte_exact() {
    let dc = common::start(SCENARIO);
    let b = Bits::ntlm(&dc, "lib01", ServiceKind::Bits);
    ntlm_upload_download(&dc, &b, "lib01", "ntlm.bin");
}

#[test]
fn wrong_ntlm_password_is_401_and_401_offers_negotiate_ntlm_basic() {
    let dc = common::start(SCENARIO);
    let b = Bits::new(&dc, "lib01");
    for url in [b.url("/upload/x.bin"), b.url("/library/none")] {
        let o = Command::new(curl_path())
            .args(["-sS", "--cacert"])
            .arg(&b.ca)
            .args(["--ntlm", "-u", "Administrator:wrong", "-D", "-", "-o"])
            .args([
                "/dev/null",
                "-X",
                "BITS_POST",
                "-H",
                "BITS-Packet-Type: Ping",
            ])
            .arg(&url)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(out.matches("HTTP/1.1 401").count(), 2, "{out}");
        assert_eq!(parse_head(&out).status, 401, "{out}");
    }
    let refused = journal_users(&dc, "lib01", "ping");
    assert!(
        refused
            .iter()
            .any(|(o, _)| o == "401 unauthorized: auth failure: unknown user or wrong password"),
        "{refused:?}"
    );
    // Without credentials: what IIS offers, one header per scheme.
    let r = Command::new(curl_path())
        .args(["-sS", "--cacert"])
        .arg(&b.ca)
        .args(["-D", "-", "-o", "/dev/null", &b.url("/library/x")])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&r.stdout).to_ascii_lowercase();
    assert!(out.contains("www-authenticate: negotiate\r\n"), "{out}");
    assert!(out.contains("www-authenticate: ntlm\r\n"), "{out}");
    assert!(out.contains("www-authenticate: basic realm="), "{out}");
    // Never a credential in the journal.
    let all = format!("{:?}", dc.journal(&Query::default()));
    assert!(
        !all.contains("P@ssw0rd") && !all.contains("TlRMTVNT"),
        "{all}"
    );
}

/// wget with NTLM support (Debian builds it in), failing when missing.
fn wget_path() -> &'static str {
    let out = Command::new("wget").arg("--version").output();
    let version = match &out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).to_string(),
        _ => panic!(
            "wget is not installed: the BITS interop tests need it (./scripts/test installs it)"
        ),
    };
    assert!(
        version.contains("+ntlm"),
        "this wget has no NTLM: {version}"
    );
    "wget"
}

/// wget's NTLM: a NEGOTIATE offering OEM strings only, then an NTLMv1
/// AUTHENTICATE with OEM names (whose flags claim Unicode). BITS over HTTPS
/// offers NTLM, so wget authenticates with it rather than Basic, and the
/// download is byte-exact; a wrong password is a 401 and wget's exit 6.
#[test]
fn wget_ntlm_download_over_https_is_byte_exact() {
    let dc = common::start(SCENARIO);
    let b = Bits::new(&dc, "lib01");
    let content = data(300_000, 23);
    let f = share_file(&dc, "lib01", "library/wget.vhdx");
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    std::fs::write(&f, &content).unwrap();
    let url = b.url("/library/wget.vhdx");
    let out = b._tmp.path("wget-out");
    let wget = |password: &str| {
        let _ = std::fs::remove_file(&out);
        Command::new(wget_path())
            .args([
                "--no-config",
                "--no-proxy",
                "--tries=1",
                "--server-response",
            ])
            .args(["--user", "Administrator", "--password", password])
            .arg("--ca-certificate")
            .arg(&b.ca)
            .arg("-O")
            .arg(&out)
            .arg(&url)
            .stdin(Stdio::null())
            .output()
            .expect("run wget")
    };
    let o = wget("P@ssw0rd!");
    let log = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "{log}");
    // The CHALLENGE (NTLMSSP type 2) went to wget in an NTLM header.
    assert!(
        log.to_ascii_lowercase()
            .contains("www-authenticate: ntlm tlrmtvntuaac"),
        "{log}"
    );
    assert_eq!(std::fs::read(&out).unwrap(), content);
    // The journal: the unauthenticated GET, the NEGOTIATE answered with a
    // CHALLENGE, then the download as Administrator.
    let gets = journal_users(&dc, "lib01", "GET /library/wget.vhdx");
    assert_eq!(gets.len(), 3, "{gets:?}");
    assert_eq!(gets[1], ("401 NTLM challenge sent".to_string(), None));
    assert_eq!(gets[2].1.as_deref(), Some("Administrator"), "{gets:?}");
    let o = wget("wrong");
    let log = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(6), "{log}");
    let gets = journal_users(&dc, "lib01", "GET /library/wget.vhdx");
    assert_eq!(
        gets.last().map(|g| g.0.as_str()),
        Some("401 unauthorized: auth failure: unknown user or wrong password"),
        "{gets:?}"
    );
}

#[test]
fn pyspnego_negotiate_authenticates_the_connection() {
    let dc = common::start(SCENARIO);
    let b = Bits::new(&dc, "lib01");
    let url = b.url("/upload/neg.bin");
    let ca = b.ca.to_str().expect("path");
    let out = common::python(
        "spnego",
        "bits_negotiate.py",
        &[&url, ca, "Administrator", "P@ssw0rd!"],
    );
    assert!(out.contains("wrapped: True"), "{out}");
    assert!(out.contains("ping: 200"), "{out}");
    assert!(out.contains("final token: yes"), "{out}");
    assert!(out.contains("complete: True"), "{out}");
    assert!(out.contains("create: 200 {"), "{out}");
    let creates = journal_users(&dc, "lib01", "create-session");
    assert_eq!(creates.len(), 1, "{creates:?}");
    assert_eq!(creates[0].1.as_deref(), Some("Administrator"));
}

#[test]
fn fakedc_bits_ntlm_over_https_and_plain_http() {
    let dc = common::start(SCENARIO);
    let content = data(2 << 20, 22);
    for (kind, extra) in [
        (ServiceKind::Bits, &["--ntlm"][..]),
        (ServiceKind::BitsHttp, &[][..]),
    ] {
        let b = Bits::on(&dc, "lib80", kind, true);
        let src = b._tmp.path("src");
        std::fs::write(&src, &content).unwrap();
        let state = b._tmp.path("state");
        let url = b.url(&format!("/upload/{}.bin", kind.name()));
        let mut args = vec![
            "upload",
            src.to_str().unwrap(),
            &url,
            "--fragment-size",
            "524288",
        ];
        args.extend(extra);
        let o = fakedc_bits(&args, &b.ca, &state);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let dst = b._tmp.path("dst");
        let mut args = vec!["download", &url, dst.to_str().unwrap()];
        args.extend(extra);
        let o = fakedc_bits(&args, &b.ca, &state);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert_eq!(std::fs::read(&dst).unwrap(), content);
        // A wrong password fails at once with exit 1 and a 401.
        let o = Command::new(env!("CARGO_BIN_EXE_fakedc"))
            .args(["bits", "ping", &url, "--password", "nope", "--cacert"])
            .arg(&b.ca)
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{o:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("401"), "{o:?}");
    }
    let frags = journal_users(&dc, "lib80", "fragment");
    assert_eq!(frags.len(), 8, "{frags:?}");
    assert!(frags
        .iter()
        .all(|(_, u)| u.as_deref() == Some("Administrator")));
}

#[test]
fn curl_bits_over_plain_http_80_ntlm_yes_basic_only_when_allowed() {
    let dc = common::start(SCENARIO);
    // Not on by default: only machines whose scenario enables it.
    assert!(dc.endpoint("lib01", ServiceKind::BitsHttp).is_none());
    let b = Bits::ntlm(&dc, "lib80", ServiceKind::BitsHttp);
    assert!(b.base.starts_with("http://"));
    ntlm_upload_download(&dc, &b, "lib80", "http80.bin");
    let j = dc.journal(&Query {
        machine: Some("lib80".into()),
        service: Some("bits-http".into()),
        operation: Some("close-session".into()),
        ..Default::default()
    });
    assert_eq!(j.len(), 2, "journaled under bits-http: {j:?}");
    // Basic over plain HTTP: refused, and not offered.
    let basic = Bits::on(&dc, "lib80", ServiceKind::BitsHttp, false);
    let r = basic.curl(&["-o", "/dev/null", &basic.url("/upload/http80.bin")]);
    let out = String::from_utf8_lossy(&r.stdout).to_string();
    assert_eq!(parse_head(&out).status, 401, "{out}");
    let out = out.to_ascii_lowercase();
    assert!(!out.contains("basic realm"), "{out}");
    assert!(out.contains("www-authenticate: ntlm\r\n"), "{out}");
    assert!(journal_users(&dc, "lib80", "GET")
        .iter()
        .any(|(o, _)| o == "401 unauthorized: Basic over plain HTTP is not allowed"));
    // lib81 allows it.
    let b81 = Bits::on(&dc, "lib81", ServiceKind::BitsHttp, false);
    let sid = b81.create("/upload/basic.bin");
    let content = data(1000, 23);
    assert_eq!(
        b81.fragment("/upload/basic.bin", &sid, &content, 0, 999)
            .status,
        200
    );
    assert_eq!(b81.close("/upload/basic.bin", &sid).status, 200);
    assert_eq!(
        std::fs::read(share_file(&dc, "lib81", "upload/basic.bin")).unwrap(),
        content
    );
    // `check` probes the plain-HTTP endpoint with BITS Ping.
    let results = dc
        .block_on(fakedc::check::run(
            dc.endpoints(),
            &Default::default(),
            |_, _| {},
        ))
        .unwrap();
    let http: Vec<_> = results
        .iter()
        .filter(|r| r.service == Some(ServiceKind::BitsHttp))
        .collect();
    assert_eq!(http.len(), 2, "{http:?}");
    for r in http {
        assert_eq!(r.verdict, fakedc::check::Verdict::Verified, "{r:?}");
    }
    // With credentials the probe authenticates with NTLM over HTTP.
    let addr = dc.endpoint("lib80", ServiceKind::BitsHttp).unwrap();
    let t = Duration::from_secs(3);
    let r = dc
        .block_on(fakedc_bits::probe::probe(
            addr,
            false,
            Some(("Administrator", "P@ssw0rd!")),
            t,
        ))
        .unwrap();
    assert_eq!(
        r.verdict,
        fakedc_bits::probe::ProbeVerdict::Verified,
        "{}",
        r.detail
    );
    let r = dc
        .block_on(fakedc_bits::probe::probe(
            addr,
            false,
            Some(("Administrator", "nope")),
            t,
        ))
        .unwrap();
    assert_eq!(r.verdict, fakedc_bits::probe::ProbeVerdict::AuthFailure);
}

/// On real Windows HTTP.sys shares port 80 between WinRM (`/wsman`) and
/// IIS (BITS): so does fakedc. One requests_ntlm session sends a BITS
/// Create-Session, a WinRM Enumerate and a second Create-Session over one
/// keep-alive connection; each
/// service runs its own NTLM handshake on it and neither wipes the other's
/// (per-connection state is keyed by protocol).
#[test]
fn winrm_and_bits_share_port_80_each_with_its_own_ntlm_state() {
    let scenario = r#"
[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.83.1.1"
[machine.services]
bits-http = true
[machine.options.winrm]
allow_unencrypted = true
"#;
    let dc = common::start(scenario);
    let bits = dc
        .endpoint("hv01", ServiceKind::BitsHttp)
        .expect("bits-http");
    let winrm = dc
        .endpoint("hv01", ServiceKind::WinrmHttp80)
        .expect("winrm 80");
    assert_eq!(bits, winrm, "one listener for both");
    let tmp = Temp::new("share80");
    let identify = tmp.path("enumerate.xml");
    let os = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_OperatingSystem";
    std::fs::write(
        &identify,
        fakedc_wsman::client::request(
            fakedc_wsman::message::action::ENUMERATE,
            os,
            &[],
            &fakedc_wsman::client::enumerate_body(5),
        ),
    )
    .unwrap();
    let user = USER.split(':').next().unwrap();
    let pass = USER.split_once(':').unwrap().1;
    let out = common::python(
        "requests_ntlm",
        "share_port80.py",
        &[&bits.to_string(), user, pass, identify.to_str().unwrap()],
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["bits 200 Ack", "wsman 200 True", "bits-again 200 Ack"],
        "{out}"
    );
    // One connection carried all three (every request came from one peer).
    let peers: std::collections::BTreeSet<_> = dc
        .journal(&Query {
            machine: Some("hv01".into()),
            ..Default::default()
        })
        .into_iter()
        .filter(|e| e.operation != "listen")
        .filter_map(|e| e.peer)
        .collect();
    assert_eq!(peers.len(), 1, "{peers:?}");
    // Each service ran its own handshake; the second Create-Session rode on BITS's
    // authenticated state, untouched by WinRM's handshake in between.
    let creates = journal_users(&dc, "hv01", "create-session");
    let outcomes: Vec<_> = creates
        .iter()
        .map(|(o, u)| (o.as_str(), u.as_deref()))
        .collect();
    // 401 (no credentials), 401 with the CHALLENGE, ok; then ok at once.
    assert_eq!(outcomes.len(), 4, "{creates:?}");
    assert_eq!(outcomes[0], ("401 unauthorized", None), "{creates:?}");
    assert_eq!(
        outcomes[1],
        ("401 NTLM challenge sent", None),
        "{creates:?}"
    );
    for o in &outcomes[2..] {
        assert!(
            o.0.starts_with("ok ") && o.1 == Some("Administrator"),
            "{creates:?}"
        );
    }
    let wsman = dc.journal(&Query {
        machine: Some("hv01".into()),
        service: Some("winrm-http80".into()),
        ..Default::default()
    });
    assert!(
        wsman.iter().any(|e| e.operation.contains("Enumerate")
            && e.outcome.starts_with("ok")
            && e.user.as_deref() == Some("Administrator")),
        "{wsman:?}"
    );
    // What cannot share a port is still refused: SMB (not HTTP) on 80.
    let clash = scenario.replace("bits-http = true", "bits-http = true\nsmb = 80");
    let e = Datacenter::builder()
        .scenario_str(&clash)
        .ephemeral()
        .start()
        .err()
        .expect("SMB cannot share WinRM's port");
    assert!(e.to_string().contains("port 80 conflict"), "{e}");
}

#[test]
fn symlinks_out_of_the_share_are_not_followed_for_download_or_upload() {
    let dc = common::start(SCENARIO);
    let b = Bits::new(&dc, "lib01");
    let share = dc.share("lib01").expect("share");
    std::fs::create_dir_all(&share).unwrap();
    let outside = b._tmp.path("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret"), b"TOP SECRET").unwrap();
    std::os::unix::fs::symlink(&outside, share.join("out")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret"), share.join("s")).unwrap();
    std::os::unix::fs::symlink("../../outside/secret", share.join("rel")).unwrap();
    // Downloads: refused with IIS's short text body, the secret never sent.
    for path in ["/out/secret", "/s", "/rel"] {
        let out = b._tmp.path("dl");
        let _ = std::fs::remove_file(&out);
        let r = b.curl(&["-o", out.to_str().unwrap(), &b.url(path)]);
        let h = parse_head(&String::from_utf8_lossy(&r.stdout));
        assert!(matches!(h.status, 403 | 404), "{path}: {}", h.raw);
        assert_eq!(h.get("server"), Some("Microsoft-IIS/10.0"));
        let body = std::fs::read(&out).unwrap_or_default();
        assert!(
            body == b"Forbidden" || body == b"Not Found",
            "{path}: {:?}",
            String::from_utf8_lossy(&body)
        );
    }
    // Uploads into the linked directory: access denied, nothing written.
    let h = b.post(
        "/out/new.bin",
        "Create-Session",
        &[format!("BITS-Supported-Protocols: {PROTO}")],
        None,
    );
    assert_bits_error(&h, 403, "0x80070005");
    // An upload onto a link's name replaces the link, never its target.
    let content = data(1000, 31);
    let sid = b.create("/s");
    assert_eq!(b.fragment("/s", &sid, &content, 0, 999).status, 200);
    assert_eq!(b.close("/s", &sid).status, 200);
    assert_eq!(std::fs::read(share.join("s")).unwrap(), content);
    assert!(!std::fs::symlink_metadata(share.join("s"))
        .unwrap()
        .file_type()
        .is_symlink());
    let names: Vec<_> = std::fs::read_dir(&outside)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("secret")]);
    assert_eq!(
        std::fs::read(outside.join("secret")).unwrap(),
        b"TOP SECRET"
    );
}
