//! VMConnect (RDP on a Hyper-V host's 2179) with the real client:
//! FreeRDP's `xfreerdp /vmconnect:<VM id>` under Xvfb. The session
//! reaches the active state and the client's window shows the VM's
//! console exactly as the control API's `console.png` does; text typed
//! with xdotool appears; powering the VM off darkens it. `+auth-only`
//! with the right and a wrong password, an unknown VM id and a plain RDP
//! connection end with FreeRDP's own exit codes. Hostile bytes at every
//! stage leave the service serving others. A missing client fails these
//! tests; it never skips them (`./scripts/test` installs freerdp2-x11,
//! xvfb, x11-apps and xdotool).
//!
//! xfreerdp's `/vmconnect` always dials port 2179, so these datacenters
//! bind the real ports (each test on its own loopback address) with the
//! CA in a temporary directory instead of `ephemeral()`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use crate::common::{wait_until, Temp};
use fakedc::{Datacenter, Query, ServiceKind};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const PASSWORD: &str = "P@ssw0rd!";

fn scenario(address: &str, guest: &str) -> String {
    format!(
        r#"
[defaults]
boot_delay_ms = 400
shutdown_delay_ms = 200
cycle_interval_ms = 100

[[machine]]
name = "hv01"
role = "hyperv-host"
address = "{address}"

[[machine.vm]]
name = "web01"
guest = "guest01"
state = "running"

[[machine.vm]]
name = "build01"
state = "off"

[[machine]]
name = "guest01"
role = "vm-guest"
address = "{guest}"
"#
    )
}

struct Dc {
    dc: Datacenter,
    _dirs: (Temp, Temp),
}

fn start(address: &str, guest: &str) -> Dc {
    let certs = Temp::new("rdp-certs");
    let data = Temp::new("rdp-data");
    let dc = Datacenter::builder()
        .scenario_str(&scenario(address, guest))
        .certs_dir(certs.0.clone())
        .data_dir(data.0.clone())
        .control("127.0.0.1:0".parse().unwrap())
        .protocols(&["rdp"])
        .start()
        .expect("start");
    Dc {
        dc,
        _dirs: (certs, data),
    }
}

fn vm_id(dc: &Datacenter, name: &str) -> String {
    let m = dc.model().find("hv01").expect("hv01");
    m.vms
        .iter()
        .find(|v| v.name == name)
        .expect("vm")
        .id
        .clone()
}

/// `xvfb-run -a xfreerdp ... +auth-only`: (exit code, output).
fn auth_only(host: &str, vm: Option<&str>, password: &str) -> (i32, String) {
    let mut args = vec![
        "-a".to_string(),
        "xfreerdp".into(),
        format!("/v:{host}"),
        "/u:Administrator".into(),
        format!("/p:{password}"),
        "/cert:ignore".into(),
        "+auth-only".into(),
    ];
    if let Some(vm) = vm {
        args.push(format!("/vmconnect:{vm}"));
    }
    let out = Command::new("xvfb-run")
        .args(&args)
        .output()
        .expect("xvfb-run and xfreerdp (apt-get install xvfb freerdp2-x11)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// An Xvfb server on a display it picked itself (`-displayfd`).
struct Xvfb {
    child: Child,
    display: String,
}

impl Xvfb {
    fn start() -> Xvfb {
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x1024x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb (apt-get install xvfb)");
        let mut out = child.stdout.take().expect("stdout");
        let mut n = Vec::new();
        let mut b = [0u8; 1];
        while out.read(&mut b).unwrap_or(0) == 1 && b[0] != b'\n' {
            n.push(b[0]);
        }
        let display = format!(":{}", String::from_utf8_lossy(&n).trim());
        assert!(display.len() > 1, "Xvfb did not say its display");
        Xvfb { child, display }
    }

    /// The root window's pixels (0x00RRGGBB), through `xwd`.
    fn screenshot(&self) -> (usize, usize, Vec<u32>) {
        let out = Command::new("xwd")
            .args(["-root", "-silent", "-display", &self.display])
            .output()
            .expect("xwd (apt-get install x11-apps)");
        assert!(out.status.success(), "xwd failed");
        parse_xwd(&out.stdout)
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Rdp(Child);

impl Drop for Rdp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn open_session(x: &Xvfb, host: &str, vm: &str, log: &std::path::Path) -> Rdp {
    let log = std::fs::File::create(log).unwrap();
    let child = Command::new("xfreerdp")
        .args([
            &format!("/v:{host}"),
            "/u:Administrator",
            &format!("/p:{PASSWORD}"),
            &format!("/vmconnect:{vm}"),
            "/cert:ignore",
            "/bpp:32",
            "/size:1024x768",
            "-grab-keyboard",
        ])
        .env("DISPLAY", &x.display)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("xfreerdp (apt-get install freerdp2-x11)");
    Rdp(child)
}

/// XWD (X11 window dump) with 32-bit pixels, as `xwd` writes a 24-bit
/// TrueColor root.
fn parse_xwd(d: &[u8]) -> (usize, usize, Vec<u32>) {
    let be = |i: usize| u32::from_be_bytes(d[i * 4..i * 4 + 4].try_into().unwrap()) as usize;
    let (header, width, height) = (be(0), be(4), be(5));
    let (byte_order, bits_per_pixel, bytes_per_line, ncolors) = (be(7), be(11), be(12), be(19));
    assert_eq!(bits_per_pixel, 32, "xwd pixel size");
    let off = header + ncolors * 12;
    let mut px = Vec::with_capacity(width * height);
    for y in 0..height {
        for x in 0..width {
            let p = &d[off + y * bytes_per_line + x * 4..][..4];
            let v = if byte_order == 0 {
                u32::from_le_bytes(p.try_into().unwrap())
            } else {
                u32::from_be_bytes(p.try_into().unwrap())
            };
            px.push(v & 0x00ff_ffff);
        }
    }
    (width, height, px)
}

/// GET on the control API, the body's bytes.
fn get(addr: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let end = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&resp[..end]).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    assert!(
        status != 200
            || head
                .to_ascii_lowercase()
                .contains("content-type: image/png"),
        "{head}"
    );
    (status, resp[end + 4..].to_vec())
}

/// Decodes the control API's PNG (8-bit RGB, filter 0, stored deflate
/// blocks: what fakedc writes; anything else fails the test).
fn decode_png(png: &[u8]) -> (usize, usize, Vec<u32>) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let mut at = 8;
    let (mut w, mut h) = (0, 0);
    let mut z = Vec::new();
    while at + 8 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let kind = &png[at + 4..at + 8];
        let data = &png[at + 8..at + 8 + len];
        match kind {
            b"IHDR" => {
                w = u32::from_be_bytes(data[0..4].try_into().unwrap()) as usize;
                h = u32::from_be_bytes(data[4..8].try_into().unwrap()) as usize;
                assert_eq!(&data[8..10], &[8, 2], "8-bit RGB");
            }
            b"IDAT" => z.extend_from_slice(data),
            _ => {}
        }
        at += 12 + len;
    }
    let mut raw = Vec::new();
    let mut i = 2;
    loop {
        let hdr = z[i];
        assert_eq!(hdr & 0x06, 0, "stored deflate blocks");
        let len = u16::from_le_bytes([z[i + 1], z[i + 2]]) as usize;
        raw.extend_from_slice(&z[i + 5..i + 5 + len]);
        i += 5 + len;
        if hdr & 1 == 1 {
            break;
        }
    }
    let stride = w * 3 + 1;
    let mut px = Vec::with_capacity(w * h);
    for y in 0..h {
        let row = &raw[y * stride..(y + 1) * stride];
        assert_eq!(row[0], 0, "filter 0");
        for x in 0..w {
            let p = &row[1 + x * 3..4 + x * 3];
            px.push((u32::from(p[0]) << 16) | (u32::from(p[1]) << 8) | u32::from(p[2]));
        }
    }
    (w, h, px)
}

fn console(dc: &Datacenter, vm: &str) -> (usize, usize, Vec<u32>) {
    let (status, body) = get(
        dc.control_addr().expect("control API"),
        &format!("/machines/{vm}/console.png"),
    );
    assert_eq!(status, 200);
    decode_png(&body)
}

/// Pixels of the console area that differ between a screenshot (the
/// xfreerdp window at the root's top-left corner: no window manager) and
/// the control API's PNG.
fn mismatches(shot: &(usize, usize, Vec<u32>), png: &(usize, usize, Vec<u32>)) -> usize {
    let (sw, _, s) = shot;
    let (w, h, p) = png;
    let mut n = 0;
    for y in 0..*h {
        for x in 0..*w {
            if s[y * sw + x] != p[y * w + x] {
                n += 1;
            }
        }
    }
    n
}

/// Waits until the client's window shows what the control API's PNG
/// shows, pixel for pixel; returns the last count of differing pixels.
fn wait_for_match(dc: &Datacenter, x: &Xvfb, vm: &str) -> usize {
    let mut last = usize::MAX;
    wait_until(Duration::from_secs(20), || {
        let png = console(dc, vm);
        last = mismatches(&x.screenshot(), &png);
        last == 0
    });
    last
}

fn lit(img: &(usize, usize, Vec<u32>)) -> usize {
    img.2.iter().filter(|p| **p != 0).count()
}

/// The whole story: active state, the console pixel for pixel, typed text,
/// power off.
#[test]
fn vmconnect_shows_the_console_types_and_follows_power() {
    let d = start("127.79.0.1", "127.79.0.2");
    let id = vm_id(&d.dc, "web01");
    let x = Xvfb::start();
    let log = Temp::new("rdp-log");
    let log = log.path("xfreerdp.log");
    let _rdp = open_session(&x, "127.79.0.1", &id, &log);

    // The login prompt, exactly as console.png shows it.
    let before = console(&d.dc, "web01");
    assert!(lit(&before) > 0, "the running VM's console is not dark");
    let diff = wait_for_match(&d.dc, &x, "web01");
    assert_eq!(
        diff,
        0,
        "window vs console.png; xfreerdp said:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let entries = d.dc.journal(&Query {
        service: Some("vmconnect".into()),
        ..Query::default()
    });
    assert!(
        entries.iter().any(|e| e.operation == "connect"),
        "{entries:?}"
    );

    // Typed text reaches the console and shows on the next frame.
    let st = Command::new("xdotool")
        .args(["mousemove", "512", "384", "type", "--delay", "30", "hello"])
        .env("DISPLAY", &x.display)
        .status()
        .expect("xdotool (apt-get install xdotool)");
    assert!(st.success());
    assert!(
        wait_until(Duration::from_secs(10), || console(&d.dc, "web01")
            != before),
        "typed text never reached the console"
    );
    assert_eq!(
        wait_for_match(&d.dc, &x, "web01"),
        0,
        "typed text in the window"
    );
    let typed = console(&d.dc, "web01");
    assert!(lit(&typed) > lit(&before));

    // Power off through the control API: the window goes dark.
    let (status, _) = crate::common::http(
        d.dc.control_addr().unwrap(),
        "POST",
        "/machines/guest01/power/off",
        None,
    );
    assert_eq!(status, 200);
    assert!(
        wait_until(Duration::from_secs(10), || lit(&x.screenshot()) == 0),
        "the window did not go dark"
    );
    assert_eq!(lit(&console(&d.dc, "web01")), 0);
    drop(_rdp);

    // The session's journal entry: the VM, the user, keys counted.
    assert!(wait_until(Duration::from_secs(10), || {
        d.dc.journal(&Query {
            service: Some("vmconnect".into()),
            ..Query::default()
        })
        .iter()
        .any(|e| {
            e.operation == "vmconnect web01"
                && e.user.as_deref() == Some("HV01\\Administrator")
                && e.outcome.contains("keys typed")
                && !e.outcome.contains(" 0 keys typed")
        })
    }));
}

/// `+auth-only` succeeds with the right password and fails with FreeRDP's
/// logon-failure exit code (134) with a wrong one; an unknown VM id and a
/// plain RDP connection are closed (exit 147, transport failure).
#[test]
fn auth_only_and_refusals() {
    let d = start("127.79.1.1", "127.79.1.2");
    let id = vm_id(&d.dc, "web01");
    let (code, out) = auth_only("127.79.1.1", Some(&id), PASSWORD);
    assert_eq!(code, 0, "{out}");
    let (code, out) = auth_only("127.79.1.1", Some(&id), "wrong");
    assert_eq!(code, 134, "{out}");
    assert!(out.contains("STATUS_LOGON_FAILURE"), "{out}");
    let (code, out) = auth_only(
        "127.79.1.1",
        Some("00000000-0000-0000-0000-000000000001"),
        PASSWORD,
    );
    assert_eq!(code, 147, "{out}");
    let (code, out) = auth_only("127.79.1.1:2179", None, PASSWORD);
    assert_eq!(code, 147, "{out}");
    let outcomes: Vec<String> =
        d.dc.journal(&Query {
            service: Some("vmconnect".into()),
            ..Query::default()
        })
        .into_iter()
        .filter(|e| e.operation.starts_with("vmconnect"))
        .map(|e| e.outcome)
        .collect();
    for want in [
        "refused: logon failure",
        "refused: unknown VM id",
        "refused: X.224 without a preconnection PDU",
    ] {
        assert!(outcomes.iter().any(|o| o == want), "{want}: {outcomes:?}");
    }
    // The probe `check` runs: preconnection PDU, TLS, CredSSP.
    let addr = d.dc.endpoint("hv01", ServiceKind::VmConnect).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let r = rt.block_on(fakedc_rdp::probe::probe(
        addr,
        Some(("Administrator", PASSWORD)),
        Duration::from_secs(10),
    ));
    assert_eq!(
        r.verdict,
        fakedc_net::ProbeVerdict::Verified,
        "{}",
        r.detail
    );
    let r = rt.block_on(fakedc_rdp::probe::probe(
        addr,
        Some(("Administrator", "wrong")),
        Duration::from_secs(10),
    ));
    assert_eq!(
        r.verdict,
        fakedc_net::ProbeVerdict::AuthFailure,
        "{}",
        r.detail
    );
}

/// Reads until the server closes (EOF or reset), within 15 s; what the
/// server sends on the way (a Connection Confirm...) is skipped.
async fn server_closes<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    })
    .await
    .unwrap_or(false)
}

/// Truncated, lying and random bytes before TLS, inside TLS before and
/// during CredSSP, and after it at X.224, MCS and fast-path framing: each
/// connection is closed, and an xfreerdp session that was open all along
/// keeps its window in step with the console; the probe still verifies.
#[test]
fn hostile_input_at_every_stage_leaves_others_served() {
    use fakedc_rdp::{credssp::TsRequest, pcb, pdu, probe};
    use tokio::io::AsyncWriteExt;
    let d = start("127.79.2.1", "127.79.2.2");
    let id = vm_id(&d.dc, "web01");
    let x = Xvfb::start();
    let log = Temp::new("rdp-hostile-log");
    let mut rdp = open_session(&x, "127.79.2.1", &id, &log.path("xfreerdp.log"));
    assert_eq!(wait_for_match(&d.dc, &x, "web01"), 0);
    let addr = d.dc.endpoint("hv01", ServiceKind::VmConnect).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let creds = Some(("Administrator", PASSWORD));

    // Before TLS: random bytes, a cbSize far too large, a v2 blob longer
    // than the PDU, a truncated PDU.
    let good = pcb::encode_v2(&id);
    let mut long_blob = good.clone();
    long_blob[16] = 0xff;
    let random: Vec<u8> = (0..200u32)
        .map(|i| (i.wrapping_mul(97) ^ 0x5a) as u8)
        .collect();
    for bytes in [
        random.clone(),
        vec![0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0],
        long_blob,
        good[..10].to_vec(),
    ] {
        rt.block_on(async {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(&bytes).await.unwrap();
            s.shutdown().await.unwrap();
            assert!(
                server_closes(&mut s).await,
                "pre-TLS {:02x?}",
                &bytes[..8.min(bytes.len())]
            );
        });
    }

    // Inside TLS, before and during CredSSP: random bytes, a DER length
    // beyond the limit, a TSRequest without a token, a truncated one.
    let no_token = TsRequest {
        version: 6,
        ..TsRequest::default()
    }
    .encode();
    for bytes in [
        random.clone(),
        vec![0x30, 0x83, 0xff, 0xff, 0xff],
        no_token.clone(),
        no_token[..no_token.len() - 2].to_vec(),
    ] {
        rt.block_on(async {
            let mut s = probe::direct(addr, &id, None).await.unwrap();
            s.get_mut().write_all(&bytes).await.unwrap();
            s.get_mut().shutdown().await.unwrap();
            assert!(
                server_closes(s.get_mut()).await,
                "CredSSP {:02x?}",
                &bytes[..5]
            );
        });
    }

    // After CredSSP: a TPKT shorter than its header, a Connection Request
    // then a Connect Initial whose BER length lies, then MCS PDUs that are
    // cut short, and a fast-path PDU longer than what follows.
    let cr = {
        let mut p = vec![0, 0xe0, 0, 0, 0, 0, 0, 1, 0, 8, 0, 2, 0, 0, 0];
        p[0] = (p.len() - 1) as u8;
        pdu::tpkt(&p)
    };
    let ci = pdu::encode_connect_initial(&pdu::ClientData {
        width: 1024,
        height: 768,
        client_name: "hostile".into(),
        keyboard_layout: 0x409,
        color_depth: 32,
        server_selected_protocol: 2,
        channels: vec![],
    });
    let mut lying_ci = ci.clone();
    // The Connect Initial's BER length (0x82 + two bytes) says 65535:
    // far past the PDU.
    assert_eq!(lying_ci[9], 0x82);
    lying_ci[10] = 0xff;
    lying_ci[11] = 0xff;
    let stages: Vec<Vec<u8>> = vec![
        vec![0x03, 0x00, 0x00, 0x03],
        [cr.clone(), lying_ci].concat(),
        [cr.clone(), ci.clone(), pdu::x224_data(&[0x38, 0x00])].concat(),
        [
            cr.clone(),
            ci.clone(),
            pdu::x224_data(&[0x64, 0, 6, 3, 0xeb, 0x70, 0x81]),
        ]
        .concat(),
        [cr.clone(), vec![0x00, 0xff, 0xff, 0x01]].concat(),
        [cr, random].concat(),
    ];
    for bytes in stages {
        rt.block_on(async {
            let mut s = probe::direct(addr, &id, creds).await.unwrap();
            s.get_mut().write_all(&bytes).await.unwrap();
            s.get_mut().shutdown().await.unwrap();
            assert!(
                server_closes(s.get_mut()).await,
                "after CredSSP {:02x?}",
                &bytes[..4]
            );
        });
    }

    // The session that was open all along is still served.
    assert!(rdp.0.try_wait().unwrap().is_none(), "xfreerdp exited");
    let before = console(&d.dc, "web01");
    let st = Command::new("xdotool")
        .args(["mousemove", "512", "384", "type", "--delay", "30", "ok"])
        .env("DISPLAY", &x.display)
        .status()
        .expect("xdotool");
    assert!(st.success());
    assert!(wait_until(Duration::from_secs(10), || console(
        &d.dc, "web01"
    ) != before));
    assert_eq!(wait_for_match(&d.dc, &x, "web01"), 0);
    let r = rt.block_on(probe::probe(addr, creds, Duration::from_secs(10)));
    assert_eq!(
        r.verdict,
        fakedc_net::ProbeVerdict::Verified,
        "{}",
        r.detail
    );
}

/// Power gating: the host off closes 2179 (the probe is refused); on
/// again and booted, VMConnect answers.
#[test]
fn host_power_gates_2179() {
    let d = start("127.79.3.1", "127.79.3.2");
    let addr = d.dc.endpoint("hv01", ServiceKind::VmConnect).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let creds = Some(("Administrator", PASSWORD));
    let probe = |rt: &tokio::runtime::Runtime| {
        rt.block_on(fakedc_rdp::probe::probe(
            addr,
            creds,
            Duration::from_secs(5),
        ))
        .verdict
    };
    assert_eq!(probe(&rt), fakedc_net::ProbeVerdict::Verified);
    d.dc.power("hv01", fakedc::PowerAction::Off).unwrap();
    assert!(wait_until(Duration::from_secs(5), || probe(&rt)
        == fakedc_net::ProbeVerdict::Refused));
    d.dc.power("hv01", fakedc::PowerAction::On).unwrap();
    d.dc.advance(Duration::from_secs(1));
    assert!(wait_until(Duration::from_secs(5), || probe(&rt)
        == fakedc_net::ProbeVerdict::Verified));
}

/// Ctrl+Alt+Del typed in xfreerdp reaches the VM as on a Linux console:
/// the VM resets (its chassis records the reset) and the window shows
/// the console again, pixel for pixel.
#[test]
fn ctrl_alt_del_resets_the_vm() {
    let d = start("127.79.4.1", "127.79.4.2");
    let id = vm_id(&d.dc, "web01");
    let x = Xvfb::start();
    let log = Temp::new("rdp-cad-log");
    let _rdp = open_session(&x, "127.79.4.1", &id, &log.path("xfreerdp.log"));
    assert_eq!(wait_for_match(&d.dc, &x, "web01"), 0);
    let model = d.dc.model().clone();
    let chassis = model.find("guest01").unwrap().chassis;
    let last = || model.chassis(chassis, model.clock.now()).last_power_event;
    assert_ne!(last(), Some(fakedc::PowerAction::Reset));
    let st = Command::new("xdotool")
        .args(["mousemove", "512", "384", "key", "ctrl+alt+Delete"])
        .env("DISPLAY", &x.display)
        .status()
        .expect("xdotool");
    assert!(st.success());
    assert!(
        wait_until(Duration::from_secs(10), || last()
            == Some(fakedc::PowerAction::Reset)),
        "Ctrl+Alt+Del did not reset the VM"
    );
    assert_eq!(wait_for_match(&d.dc, &x, "web01"), 0);
}

/// `;EnhancedMode=1` after the VM id asks Hyper-V for an enhanced session,
/// which the guest's own Remote Desktop service serves; fakedc's guests
/// run none, so the host ends it as for a VM without enhanced-session
/// support: CredSSP still authenticates against the host (a wrong
/// password is a logon failure, 134), then the host closes where the
/// Connection Confirm was due and xfreerdp exits with its transport-failure
/// code, 147 (`+auth-only` too: in the Direct Approach FreeRDP reads the
/// Connection Confirm before it stops); the journal says why. The same VM
/// in basic mode still shows its console.
#[test]
fn enhanced_mode_without_guest_support() {
    let d = start("127.79.5.1", "127.79.5.2");
    let id = vm_id(&d.dc, "web01");
    let enhanced = format!("{id};EnhancedMode=1");
    let (code, out) = auth_only("127.79.5.1", Some(&enhanced), "wrong");
    assert_eq!(code, 134, "{out}");
    assert!(out.contains("STATUS_LOGON_FAILURE"), "{out}");
    let (code, out) = auth_only("127.79.5.1", Some(&enhanced), PASSWORD);
    assert_eq!(code, 147, "{out}");
    assert!(out.contains("ERRCONNECT_CONNECT_TRANSPORT_FAILED"), "{out}");
    let out = Command::new("xvfb-run")
        .args([
            "-a",
            "timeout",
            "30",
            "xfreerdp",
            "/v:127.79.5.1",
            "/u:Administrator",
            &format!("/p:{PASSWORD}"),
            &format!("/vmconnect:{enhanced}"),
            "/cert:ignore",
            "/log-level:DEBUG",
        ])
        .output()
        .expect("xvfb-run and xfreerdp (apt-get install xvfb freerdp2-x11)");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    // 147: FreeRDP's transport failure (ERRCONNECT_CONNECT_TRANSPORT_FAILED),
    // the server having closed where the Connection Confirm was due.
    assert_eq!(out.status.code(), Some(147), "{text}");
    assert!(
        text.contains("ERRCONNECT_CONNECT_TRANSPORT_FAILED"),
        "{text}"
    );
    assert!(!text.contains("CONNECTION_STATE_ACTIVE"), "{text}");
    let outcomes: Vec<String> =
        d.dc.journal(&Query {
            service: Some("vmconnect".into()),
            ..Query::default()
        })
        .into_iter()
        .filter(|e| e.operation == "vmconnect web01")
        .map(|e| e.outcome)
        .collect();
    assert!(
        outcomes
            .iter()
            .any(|o| o == "refused: no enhanced session (the guest has no Remote Desktop service)"),
        "{outcomes:?}"
    );
    // Basic mode on the same VM and host: the console, pixel for pixel.
    let x = Xvfb::start();
    let log = Temp::new("rdp-enhanced-log");
    let _rdp = open_session(&x, "127.79.5.1", &id, &log.path("xfreerdp.log"));
    assert_eq!(wait_for_match(&d.dc, &x, "web01"), 0);
}
