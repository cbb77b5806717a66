//! SMB 2/3 on 445 and the NetBIOS session service on 139 with real
//! clients: Samba's `smbclient` (share list, file operations on ADMIN$
//! and the library share for every dialect, signing, encryption, port
//! 139), `smbprotocol` (high-level with and without encryption, low-level
//! with its defaults), curl over BITS for a file put over SMB; wrong
//! password, a non-administrator on ADMIN$, path escapes, a tampered
//! signature and hostile bytes. A missing client fails these tests
//! (`./scripts/test` installs them).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use crate::common::{line, python, Temp};
use fakedc::{Datacenter, PowerAction, Query, ServiceKind};
use fakedc_smb::crypto::{self, SignAlgo};
use fakedc_smb::nbss;
use fakedc_smb::proto::{self, cmd, status, Header};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

const ADMIN: &str = "Administrator%P@ssw0rd!";

const SCENARIO: &str = r#"
[defaults]
boot_delay_ms = 100

[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.84.0.1"
[[machine.user]]
name = "Administrator"
password = "P@ssw0rd!"
privilege = "admin"
[[machine.user]]
name = "bob"
password = "Bob-pass1"
privilege = "user"

# Set-SmbServerConfiguration -EncryptData $true -RequireSecuritySignature $true
[[machine]]
name = "hv02"
role = "hyperv-host"
address = "127.84.0.3"
[machine.options.smb]
encrypt_data = true
require_signing = true
[[machine.user]]
name = "Administrator"
password = "P@ssw0rd!"
privilege = "admin"

[[machine]]
name = "lib01"
role = "library-server"
address = "127.84.0.2"
[machine.services]
smb = true
[[machine.user]]
name = "Administrator"
password = "P@ssw0rd!"
privilege = "admin"
[[machine.user]]
name = "bob"
password = "Bob-pass1"
privilege = "user"
"#;

fn start(protocols: &[&str]) -> Datacenter {
    Datacenter::builder()
        .scenario_str(SCENARIO)
        .ephemeral()
        .protocols(protocols)
        .start()
        .expect("start")
}

fn smbclient(addr: SocketAddr, args: &[&str], cwd: &std::path::Path) -> (bool, String) {
    let out = Command::new("smbclient")
        .args(["-p", &addr.port().to_string()])
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("smbclient is not installed ({e}): ./scripts/test installs it"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn unc(addr: SocketAddr, share: &str) -> String {
    format!("//{}/{share}", addr.ip())
}

#[test]
fn share_list_as_windows_shows_it() {
    let dc = start(&["smb"]);
    let t = Temp::new("smb-list");
    let hv = dc.endpoint("hv01", ServiceKind::Smb).unwrap();
    let (ok, out) = smbclient(hv, &["-L", &format!("//{}", hv.ip()), "-U", ADMIN], &t.0);
    assert!(ok, "{out}");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.len() >= 2 && (w[1] == "Disk" || w[1] == "IPC"))
        .collect();
    assert_eq!(
        rows,
        vec![
            vec!["ADMIN$", "Disk", "Remote", "Admin"],
            vec!["C$", "Disk", "Default", "share"],
            vec!["IPC$", "IPC", "Remote", "IPC"],
        ],
        "{out}"
    );
    let lib = dc.endpoint("lib01", ServiceKind::Smb).unwrap();
    let (ok, out) = smbclient(lib, &["-L", &format!("//{}", lib.ip()), "-U", ADMIN], &t.0);
    assert!(ok, "{out}");
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["MSSCVMMLibrary", "Disk"]),
        "{out}"
    );
}

#[test]
fn file_operations_in_every_dialect() {
    let dc = start(&["smb"]);
    let t = Temp::new("smb-files");
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 + i / 256) as u8).collect();
    std::fs::write(t.path("big.bin"), &data).unwrap();
    std::fs::write(t.path("small.txt"), b"hello\n").unwrap();
    let hv = dc.endpoint("hv01", ServiceKind::Smb).unwrap();
    let share = dc.share("hv01").unwrap();
    for dialect in ["SMB2_02", "SMB2_10", "SMB3_00", "SMB3_02", "SMB3_11"] {
        let (ok, out) = smbclient(
            hv,
            &[
                &unc(hv, "ADMIN$"),
                "-U",
                ADMIN,
                "-m",
                dialect,
                "-c",
                "mkdir agent; put big.bin agent\\big.bin; put small.txt s.txt; ls agent\\*; \
                 get agent\\big.bin back.bin; rename s.txt s2.txt; ls",
            ],
            &t.0,
        );
        assert!(ok, "{dialect}: {out}");
        assert!(
            out.contains("big.bin                             A  3000000"),
            "{dialect}: {out}"
        );
        assert!(out.contains("s2.txt"), "{dialect}: {out}");
        assert_eq!(
            std::fs::read(t.path("back.bin")).unwrap(),
            data,
            "{dialect}"
        );
        assert_eq!(std::fs::read(share.join("agent/big.bin")).unwrap(), data);
        assert_eq!(std::fs::read(share.join("s2.txt")).unwrap(), b"hello\n");
        let (ok, out) = smbclient(
            hv,
            &[
                &unc(hv, "C$"),
                "-U",
                ADMIN,
                "-m",
                dialect,
                "-c",
                "del agent\\big.bin; rmdir agent; del s2.txt; ls",
            ],
            &t.0,
        );
        assert!(ok, "{dialect}: {out}");
        assert!(
            !share.join("agent").exists() && !share.join("s2.txt").exists(),
            "{dialect}: {out}"
        );
        std::fs::remove_file(t.path("back.bin")).unwrap();
    }
    // Wildcards in listings, and allinfo (basic, standard, alternate name,
    // streams, security).
    let (ok, out) = smbclient(
        hv,
        &[
            &unc(hv, "C$"),
            "-U",
            ADMIN,
            "-c",
            "mkdir pat; put small.txt pat\\a.txt; put small.txt pat\\b.log; \
             put small.txt pat\\c.txt; ls pat\\*.txt; ls pat\\?.log; allinfo pat\\a.txt",
        ],
        &t.0,
    );
    assert!(ok, "{out}");
    let names: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.len() == 5 && n.contains('.'))
        .collect();
    assert_eq!(
        names.iter().filter(|n| n.ends_with(".txt")).count(),
        2,
        "{out}"
    );
    assert_eq!(names.iter().filter(|n| **n == "b.log").count(), 1, "{out}");
    assert!(out.contains("stream: [::$DATA], 6 bytes"), "{out}");
    assert!(!out.contains("NT_STATUS"), "{out}");
    // A directory that is not empty refuses rmdir as Windows does.
    std::fs::create_dir_all(share.join("full")).unwrap();
    std::fs::write(share.join("full/x"), b"x").unwrap();
    let (_, out) = smbclient(hv, &[&unc(hv, "C$"), "-U", ADMIN, "-c", "rmdir full"], &t.0);
    assert!(out.contains("NT_STATUS_DIRECTORY_NOT_EMPTY"), "{out}");
    let j = dc.journal(&Query {
        machine: Some("hv01".into()),
        operation: Some("CREATE agent\\big.bin".into()),
        ..Query::default()
    });
    assert!(
        j.iter().any(|e| e.user.as_deref() == Some("Administrator")),
        "{j:?}"
    );
    let closes = dc.journal(&Query {
        machine: Some("hv01".into()),
        operation: Some("CLOSE agent\\big.bin".into()),
        ..Query::default()
    });
    assert!(
        closes
            .iter()
            .any(|e| e.operation.contains("wrote 3000000 bytes") && e.outcome == "ok"),
        "{closes:?}"
    );
    assert!(
        closes
            .iter()
            .any(|e| e.operation.contains("read 3000000 bytes")),
        "{closes:?}"
    );
}

#[test]
fn signing_and_encryption_required_by_client_or_server() {
    let dc = start(&["smb"]);
    let t = Temp::new("smb-sign");
    std::fs::write(t.path("p.txt"), b"protected\n").unwrap();
    let hv = dc.endpoint("hv01", ServiceKind::Smb).unwrap();
    for (protection, dialect) in [
        ("sign", "SMB2_02"),
        ("sign", "SMB3_00"),
        ("sign", "SMB3_11"),
        ("encrypt", "SMB3_00"),
        ("encrypt", "SMB3_02"),
        ("encrypt", "SMB3_11"),
    ] {
        let (ok, out) = smbclient(
            hv,
            &[
                &unc(hv, "ADMIN$"),
                "-U",
                ADMIN,
                "-m",
                dialect,
                &format!("--client-protection={protection}"),
                "-c",
                "put p.txt p.txt; get p.txt q.txt; del p.txt",
            ],
            &t.0,
        );
        assert!(ok, "{protection} {dialect}: {out}");
        assert_eq!(std::fs::read(t.path("q.txt")).unwrap(), b"protected\n");
        std::fs::remove_file(t.path("q.txt")).unwrap();
    }
    // A server that encrypts every session: smbclient follows its
    // ENCRYPT_DATA flag on 3.x; a 2.1 client cannot encrypt and is refused.
    let hv2 = dc.endpoint("hv02", ServiceKind::Smb).unwrap();
    let (ok, out) = smbclient(
        hv2,
        &[
            &unc(hv2, "C$"),
            "-U",
            ADMIN,
            "-m",
            "SMB3_11",
            "-c",
            "put p.txt p.txt; ls",
        ],
        &t.0,
    );
    assert!(ok && out.contains("p.txt"), "{out}");
    let (ok, out) = smbclient(
        hv2,
        &[&unc(hv2, "C$"), "-U", ADMIN, "-m", "SMB2_10", "-c", "ls"],
        &t.0,
    );
    assert!(!ok && out.contains("NT_STATUS_ACCESS_DENIED"), "{out}");
    // -L needs signing on IPC$ (client ipc signing = default, mandatory).
    let (ok, out) = smbclient(
        hv,
        &[
            "-L",
            &format!("//{}", hv.ip()),
            "-U",
            ADMIN,
            "--client-protection=encrypt",
        ],
        &t.0,
    );
    assert!(ok && out.contains("Remote IPC"), "{out}");
}

#[test]
fn wrong_password_non_admin_and_escapes() {
    let dc = start(&["smb"]);
    let t = Temp::new("smb-deny");
    let hv = dc.endpoint("hv01", ServiceKind::Smb).unwrap();
    let (ok, out) = smbclient(
        hv,
        &["-L", &format!("//{}", hv.ip()), "-U", "Administrator%nope"],
        &t.0,
    );
    assert!(!ok && out.contains("NT_STATUS_LOGON_FAILURE"), "{out}");
    let (ok, out) = smbclient(
        hv,
        &[&unc(hv, "ADMIN$"), "-U", "bob%Bob-pass1", "-c", "ls"],
        &t.0,
    );
    assert!(!ok && out.contains("NT_STATUS_ACCESS_DENIED"), "{out}");
    let (ok, out) = smbclient(hv, &[&unc(hv, "NOSUCH"), "-U", ADMIN, "-c", "ls"], &t.0);
    assert!(!ok && out.contains("NT_STATUS_BAD_NETWORK_NAME"), "{out}");
    // bob may use the library share.
    let lib = dc.endpoint("lib01", ServiceKind::Smb).unwrap();
    let (ok, out) = smbclient(
        lib,
        &[
            &unc(lib, "MSSCVMMLibrary"),
            "-U",
            "bob%Bob-pass1",
            "-c",
            "ls",
        ],
        &t.0,
    );
    assert!(ok, "{out}");
    // A symlink planted in the share that leads out of it is refused.
    let share = dc.share("hv01").unwrap();
    std::os::unix::fs::symlink("/etc", share.join("out")).unwrap();
    let (_, out) = smbclient(
        hv,
        &[&unc(hv, "C$"), "-U", ADMIN, "-c", "get out\\passwd pw"],
        &t.0,
    );
    assert!(out.contains("NT_STATUS_ACCESS_DENIED"), "{out}");
    assert!(!t.path("pw").exists());
    let fails = dc.journal(&Query {
        machine: Some("hv01".into()),
        operation: Some("SESSION_SETUP".into()),
        ..Query::default()
    });
    assert!(
        fails.iter().any(|e| e.outcome.contains("LOGON_FAILURE")),
        "{fails:?}"
    );
    for e in dc.journal(&Query::default()) {
        assert!(!format!("{e:?}").contains("P@ssw0rd") && !format!("{e:?}").contains("nope"));
    }
}

#[test]
fn smbprotocol_high_and_low_level() {
    let dc = start(&["smb"]);
    let hv = dc.endpoint("hv01", ServiceKind::Smb).unwrap();
    let (host, port) = (hv.ip().to_string(), hv.port().to_string());
    let out = python(
        "smbprotocol",
        "smb_smbprotocol.py",
        &[&host, &port, "Administrator", "P@ssw0rd!", "C$"],
    );
    for tag in ["plain", "enc"] {
        assert_eq!(
            line(&out, &format!("{tag}-roundtrip")),
            "True 1048576",
            "{out}"
        );
        assert_eq!(line(&out, &format!("{tag}-list")), "['b.bin']", "{out}");
        assert_eq!(line(&out, &format!("{tag}-size")), "1048576", "{out}");
        assert_eq!(line(&out, &format!("{tag}-gone")), "True", "{out}");
    }
    assert_eq!(
        line(&out, "lowlevel-dialect"),
        "0x0311 encrypt True",
        "{out}"
    );
    assert_eq!(line(&out, "lowlevel-read"), "b'low level hello'", "{out}");
    // STATUS_OBJECT_PATH_SYNTAX_BAD for `..` above the share.
    assert_eq!(line(&out, "escape"), "0xc000003b", "{out}");
    assert_eq!(line(&out, "notify-cancelled"), "True", "{out}");
    // STATUS_LOCK_NOT_GRANTED, STATUS_FILE_LOCK_CONFLICT, STATUS_RANGE_NOT_LOCKED.
    assert_eq!(line(&out, "conflict-lock"), "0xc0000055", "{out}");
    assert_eq!(line(&out, "conflict-read"), "0xc0000054", "{out}");
    assert_eq!(line(&out, "outside-read"), "b'vel'", "{out}");
    assert_eq!(line(&out, "after-unlock"), "b'low '", "{out}");
    assert_eq!(line(&out, "unlock-again"), "0xc000007e", "{out}");
}

#[test]
fn put_over_smb_is_served_by_bits() {
    let dc = start(&["smb", "bits"]);
    let t = Temp::new("smb-bits");
    let data: Vec<u8> = (0..1_500_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(t.path("agent.msi"), &data).unwrap();
    let lib = dc.endpoint("lib01", ServiceKind::Smb).unwrap();
    let (ok, out) = smbclient(
        lib,
        &[
            &unc(lib, "MSSCVMMLibrary"),
            "-U",
            ADMIN,
            "-c",
            "put agent.msi agent.msi",
        ],
        &t.0,
    );
    assert!(ok, "{out}");
    let bits = dc.endpoint("lib01", ServiceKind::Bits).unwrap();
    let ca = crate::common::ca_file(&dc, "smb-bits");
    let got = Command::new("curl")
        .args(["-sf", "--cacert"])
        .arg(&ca)
        .args(["-u", "Administrator:P@ssw0rd!", "-o"])
        .arg(t.path("via-bits.msi"))
        .arg(format!("https://{}:{}/agent.msi", bits.ip(), bits.port()))
        .status()
        .expect("curl");
    assert!(got.success());
    assert_eq!(std::fs::read(t.path("via-bits.msi")).unwrap(), data);
    // And the other way: what is in the share (as BITS stores it) comes
    // back over SMB byte for byte.
    std::fs::write(
        dc.share("lib01").unwrap().join("from-share.bin"),
        &data[..777_777],
    )
    .unwrap();
    let (ok, out) = smbclient(
        lib,
        &[
            &unc(lib, "MSSCVMMLibrary"),
            "-U",
            ADMIN,
            "-c",
            "get from-share.bin f.bin",
        ],
        &t.0,
    );
    assert!(ok, "{out}");
    assert_eq!(std::fs::read(t.path("f.bin")).unwrap(), &data[..777_777]);
}

/// Port 139 needs its real number (smbclient speaks NetBIOS only there),
/// impacket's smbclient.py 445 and rpcdump.py 135: bound on an address of
/// this test's own, as root (CI runs as root).
#[test]
fn real_ports_139_445_135() {
    let data = Temp::new("smb-139-data");
    let dc = Datacenter::builder()
        .scenario_str(
            &SCENARIO
                .replace("127.84.0.1", "127.84.1.1")
                .replace("127.84.0.2", "127.84.1.2"),
        )
        .data_dir(data.0.clone())
        .protocols(&["smb"])
        .start()
        .expect("start (port 139 needs root)");
    let t = Temp::new("smb-139");
    let nb = dc.endpoint("hv01", ServiceKind::Netbios).unwrap();
    assert_eq!(nb.port(), 139);
    std::fs::write(t.path("n.txt"), b"over netbios\n").unwrap();
    let (ok, out) = smbclient(nb, &["-L", &format!("//{}", nb.ip()), "-U", ADMIN], &t.0);
    assert!(ok && out.contains("Remote Admin"), "{out}");
    let (ok, out) = smbclient(
        nb,
        &[
            &unc(nb, "ADMIN$"),
            "-U",
            ADMIN,
            "-m",
            "SMB3_11",
            "-c",
            "put n.txt n.txt; get n.txt m.txt",
        ],
        &t.0,
    );
    assert!(ok, "{out}");
    assert_eq!(std::fs::read(t.path("m.txt")).unwrap(), b"over netbios\n");
    // Called names: the machine's and *SMBSERVER get a positive response,
    // another name "called name not present", a message first 0x8F.
    for (called, want) in [
        ("HV01", vec![0x82, 0, 0, 0]),
        ("*SMBSERVER", vec![0x82, 0, 0, 0]),
        ("OTHER", vec![0x83, 0, 0, 1, 0x82]),
    ] {
        let mut s = TcpStream::connect(nb).unwrap();
        s.write_all(&nbss::session_request(called, "TEST")).unwrap();
        let mut got = vec![0u8; want.len()];
        s.read_exact(&mut got).unwrap();
        assert_eq!(got, want, "{called}");
    }
    let mut s = TcpStream::connect(nb).unwrap();
    s.write_all(&[0, 0, 0, 4, 1, 2, 3, 4]).unwrap();
    let mut got = [0u8; 5];
    s.read_exact(&mut got).unwrap();
    assert_eq!(got, [0x83, 0, 0, 1, 0x8F]);

    // impacket's tools insist on the real ports (445, 135) too.
    let host = nb.ip().to_string();
    let smb = dc.endpoint("hv01", ServiceKind::Smb).unwrap();
    assert_eq!(smb.port(), 445);
    std::fs::write(t.path("imp.txt"), b"from impacket\n").unwrap();
    std::fs::write(
        t.path("cmds"),
        "shares\nuse C$\nput imp.txt\nls\nget n.txt\nexit\n",
    )
    .unwrap();
    let out = Command::new("smbclient.py")
        .arg(format!("Administrator:P@ssw0rd!@{host}"))
        .arg("-inputfile")
        .arg(t.path("cmds"))
        .current_dir(&t.0)
        .output()
        .expect("impacket's smbclient.py (pip impacket; ./scripts/test installs it)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    for share in ["ADMIN$", "C$", "IPC$"] {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().next() == Some(share)),
            "{share}: {text}"
        );
    }
    assert!(text.contains("imp.txt"), "{text}");
    assert_eq!(
        std::fs::read(dc.share("hv01").unwrap().join("imp.txt")).unwrap(),
        b"from impacket\n"
    );
    let out = Command::new("rpcdump.py")
        .arg(format!("Administrator:P@ssw0rd!@{host}"))
        .output()
        .expect("impacket's rpcdump.py");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("4B324FC8-1670-01D3-1278-5A47BF6EE188"),
        "{text}"
    );
    assert!(text.contains("ncacn_np:\\\\HV01[\\PIPE\\srvsvc]"), "{text}");
    assert!(text.contains("Received one endpoint."), "{text}");
    // nmap's SMBProgNeg probe on 135 gets Windows' bind_nak (version 5.0).
    let epm = dc.endpoint("hv01", ServiceKind::Rpc).unwrap();
    assert_eq!(epm.port(), 135);
    let mut s = TcpStream::connect(epm).unwrap();
    let mut probe = vec![
        0, 0, 0, 0xa4, 0xff, 0x53, 0x4d, 0x42, 0x72, 0, 0, 0, 0x11, 0x22, 0x33, 0x44,
    ];
    probe.resize(0xa8, 0);
    s.write_all(&probe).unwrap();
    let mut nak = [0u8; 24];
    s.read_exact(&mut nak).unwrap();
    assert_eq!(&nak[..12], &[5, 0, 0x0D, 3, 0x10, 0, 0, 0, 0x18, 0, 0, 0]);
    assert_eq!(&nak[12..16], &[0x11, 0x22, 0x33, 0x44]);
    assert_eq!(&nak[16..21], &[4, 0, 1, 5, 0]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = rt.block_on(fakedc_smb::probe::probe_epm(epm, Duration::from_secs(5)));
    assert_eq!(r.fact("endpoints"), Some("1"), "{}", r.detail);
}

#[test]
fn power_gating() {
    let dc = start(&["smb"]);
    let t = Temp::new("smb-power");
    let hv = dc.endpoint("hv01", ServiceKind::Smb).unwrap();
    let (ok, _) = smbclient(hv, &["-L", &format!("//{}", hv.ip()), "-U", ADMIN], &t.0);
    assert!(ok);
    dc.power("hv01", PowerAction::Off).unwrap();
    assert!(crate::common::wait_until(Duration::from_secs(5), || {
        TcpStream::connect(hv).is_err()
    }));
    dc.power("hv01", PowerAction::On).unwrap();
    dc.advance(Duration::from_secs(1));
    assert!(crate::common::wait_until(Duration::from_secs(5), || {
        TcpStream::connect(hv).is_ok()
    }));
    let (ok, out) = smbclient(hv, &["-L", &format!("//{}", hv.ip()), "-U", ADMIN], &t.0);
    assert!(ok, "{out}");
}

// --- a raw client for what no real client sends ---

fn send(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(&nbss::message_header(msg.len())).unwrap();
    s.write_all(msg).unwrap();
}

fn recv(s: &mut TcpStream) -> Vec<u8> {
    let mut h = [0u8; 4];
    s.read_exact(&mut h).unwrap();
    let f = nbss::next_frame(&h, 1 << 24).unwrap().unwrap();
    let mut b = vec![0u8; f.len];
    s.read_exact(&mut b).unwrap();
    b
}

fn message(h: Header, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    h.write(&mut m);
    m.extend_from_slice(body);
    m
}

fn negotiate_202(s: &mut TcpStream) {
    let mut b = Vec::new();
    b.extend_from_slice(&36u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&[0; 2 + 4 + 16 + 8]);
    b.extend_from_slice(&proto::SMB202.to_le_bytes());
    let h = Header {
        command: cmd::NEGOTIATE,
        credits: 10,
        ..Header::default()
    };
    send(s, &message(h, &b));
    recv(s);
}

fn setup_body(token: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&25u16.to_le_bytes());
    b.extend_from_slice(&[0, 1]);
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&88u16.to_le_bytes());
    b.extend_from_slice(&(token.len() as u16).to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(token);
    b
}

#[test]
fn tampered_signature_and_hostile_input() {
    let dc = start(&["smb"]);
    let hv = dc.endpoint("hv01", ServiceKind::Smb).unwrap();
    // Log in with NTLM at 2.0.2, then send a signed ECHO with a bad signature.
    let mut s = TcpStream::connect(hv).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    negotiate_202(&mut s);
    let mut client = fakedc_ntlm::Client::new("Administrator", "", "P@ssw0rd!");
    let mut h = Header {
        command: cmd::SESSION_SETUP,
        message_id: 1,
        credits: 10,
        ..Header::default()
    };
    send(
        &mut s,
        &message(
            h,
            &setup_body(&fakedc_ntlm::spnego::init(&client.negotiate())),
        ),
    );
    let r = recv(&mut s);
    let rh = Header::parse(&mut fakedc_wire::Reader::new(&r)).unwrap();
    assert_eq!(rh.status, status::MORE_PROCESSING_REQUIRED);
    let off = u16::from_le_bytes([r[68], r[69]]) as usize;
    let len = u16::from_le_bytes([r[70], r[71]]) as usize;
    let ch = fakedc_ntlm::spnego::parse(&r[off..off + len])
        .unwrap()
        .token
        .unwrap();
    let (auth, session) = client.authenticate(&ch).unwrap();
    h.message_id = 2;
    h.session_id = rh.session_id;
    let tok = fakedc_ntlm::spnego::response(1, false, Some(&auth), None);
    send(&mut s, &message(h, &setup_body(&tok)));
    let r = recv(&mut s);
    let rh = Header::parse(&mut fakedc_wire::Reader::new(&r)).unwrap();
    assert_eq!(rh.status, status::SUCCESS);
    let key = session.session_key();
    // The final SESSION_SETUP response is signed with the session key.
    assert!(crypto::verify(SignAlgo::HmacSha256, &key, &r));
    let echo = |id: u64, tamper: bool| {
        let h = Header {
            command: cmd::ECHO,
            message_id: id,
            credits: 1,
            flags: proto::FLAG_SIGNED,
            session_id: rh.session_id,
            ..Header::default()
        };
        let mut m = message(h, &[4, 0, 0, 0]);
        crypto::sign(SignAlgo::HmacSha256, &key, &mut m);
        if tamper {
            m[50] ^= 0x55;
        }
        m
    };
    send(&mut s, &echo(3, false));
    let r = recv(&mut s);
    assert_eq!(
        Header::parse(&mut fakedc_wire::Reader::new(&r))
            .unwrap()
            .status,
        status::SUCCESS
    );
    assert!(crypto::verify(SignAlgo::HmacSha256, &key, &r));
    send(&mut s, &echo(4, true));
    let r = recv(&mut s);
    assert_eq!(
        Header::parse(&mut fakedc_wire::Reader::new(&r))
            .unwrap()
            .status,
        status::ACCESS_DENIED
    );
    // Credit abuse: a message id far beyond what was granted ends the
    // connection.
    send(&mut s, &echo(1_000_000, false));
    let mut b = [0u8; 1];
    assert!(matches!(s.read(&mut b), Ok(0) | Err(_)));

    // Hostile bytes: truncated headers, lying lengths, random data.
    let mut seed = 0x1234_5678u64;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut cases: Vec<Vec<u8>> = vec![
        vec![0, 0, 0, 10, 0xFE, b'S', b'M', b'B'],
        vec![0, 0xFF, 0xFF, 0xFF],
        vec![0x42; 64],
        vec![0, 0, 0, 4, 0xFD, b'S', b'M', b'B'],
    ];
    let neg = {
        let mut b = Vec::new();
        b.extend_from_slice(&36u16.to_le_bytes());
        b.extend_from_slice(&0xFFFFu16.to_le_bytes());
        b.extend_from_slice(&[0; 30]);
        let m = message(
            Header {
                command: cmd::NEGOTIATE,
                ..Header::default()
            },
            &b,
        );
        let mut f = nbss::message_header(m.len()).to_vec();
        f.extend(m);
        f
    };
    cases.push(neg);
    for _ in 0..40 {
        let n = (rnd() % 200) as usize;
        let mut v: Vec<u8> = (0..n).map(|_| rnd() as u8).collect();
        if rnd() % 2 == 0 && v.len() > 8 {
            v[0] = 0;
            v[4..8].copy_from_slice(&proto::PROTOCOL_ID);
        }
        cases.push(v);
    }
    for c in cases {
        let mut s = TcpStream::connect(hv).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let _ = s.write_all(&c);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    }
    // The service still serves a real client.
    let t = Temp::new("smb-hostile");
    let (ok, out) = smbclient(hv, &["-L", &format!("//{}", hv.ip()), "-U", ADMIN], &t.0);
    assert!(ok, "{out}");
}

#[test]
fn probe_for_check() {
    let dc = start(&["smb"]);
    let hv = dc.endpoint("hv01", ServiceKind::Smb).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = rt.block_on(fakedc_smb::probe::probe(
        hv,
        false,
        Some(("Administrator", "P@ssw0rd!")),
        Duration::from_secs(5),
    ));
    assert!(r.detail.contains("IPC$ connected"), "{}", r.detail);
    assert_eq!(r.fact("dialect"), Some("3.0.0"));
    let r = rt.block_on(fakedc_smb::probe::probe(
        hv,
        false,
        Some(("Administrator", "bad")),
        Duration::from_secs(5),
    ));
    assert!(r.detail.contains("LOGON_FAILURE"), "{}", r.detail);
}

/// CHANGE_NOTIFY pends (STATUS_PENDING, async) until a change: smbclient's
/// `notify` on one connection sees a file another connection puts and
/// renames.
#[test]
fn change_notify_sees_another_connections_changes() {
    let dc = start(&["smb"]);
    let t = Temp::new("smb-notify");
    std::fs::write(t.path("n1.txt"), b"x\n").unwrap();
    let hv = dc.endpoint("hv01", ServiceKind::Smb).unwrap();
    std::fs::create_dir_all(dc.share("hv01").unwrap().join("watch")).unwrap();
    let mut watcher = Command::new("stdbuf")
        .args([
            "-oL",
            "smbclient",
            &unc(hv, "C$"),
            "-p",
            &hv.port().to_string(),
        ])
        .args(["-U", ADMIN, "-c", "notify watch"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("smbclient");
    let stdout = watcher.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for l in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(l);
        }
    });
    // Wait until the notify is pending on the server.
    assert!(crate::common::wait_until(Duration::from_secs(5), || {
        dc.journal(&Query {
            machine: Some("hv01".into()),
            operation: Some("CHANGE_NOTIFY".into()),
            ..Query::default()
        })
        .iter()
        .any(|e| e.outcome == "pending")
    }));
    let (ok, out) = smbclient(
        hv,
        &[
            &unc(hv, "C$"),
            "-U",
            ADMIN,
            "-c",
            "put n1.txt watch\\n1.txt; rename watch\\n1.txt watch\\n2.txt",
        ],
        &t.0,
    );
    assert!(ok, "{out}");
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !seen.iter().any(|l: &String| l.contains("n2.txt"))
        && std::time::Instant::now() < deadline
    {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(l);
        }
    }
    let _ = watcher.kill();
    let _ = watcher.wait();
    // FILE_ACTION_ADDED, then the rename's old and new names (each
    // notify completes with what happened since it was posted).
    assert!(seen.iter().any(|l| l == "0001 n1.txt"), "{seen:?}");
    assert!(seen.iter().any(|l| l == "0005 n2.txt"), "{seen:?}");
}

/// Null and guest sessions as Windows Server 2019 answers them with its
/// defaults (RestrictNullSessAccess 1, NullSessionPipes and
/// NullSessionShares empty, Guest disabled): smbclient's anonymous logon
/// succeeds and reaches IPC$ but lists no shares (srvsvc is refused) and
/// no disk share; `guest` fails to log on.
#[test]
fn null_session_and_guest() {
    let dc = start(&["smb"]);
    let t = Temp::new("smb-anon");
    let hv = dc.endpoint("hv01", ServiceKind::Smb).unwrap();
    let (_, out) = smbclient(hv, &["-N", "-L", &format!("//{}", hv.ip())], &t.0);
    assert!(out.contains("Anonymous login successful"), "{out}");
    assert!(
        !out.contains("IPC$") && !out.contains("ADMIN$"),
        "a null session lists no share: {out}"
    );
    let (ok, out) = smbclient(hv, &[&unc(hv, "IPC$"), "-N", "-c", "exit"], &t.0);
    assert!(ok, "IPC$ is open to a null session: {out}");
    for share in ["ADMIN$", "C$"] {
        let (ok, out) = smbclient(hv, &[&unc(hv, share), "-N", "-c", "ls"], &t.0);
        assert!(
            !ok && out.contains("NT_STATUS_ACCESS_DENIED"),
            "{share}: {out}"
        );
    }
    let lib = dc.endpoint("lib01", ServiceKind::Smb).unwrap();
    let (ok, out) = smbclient(lib, &[&unc(lib, "MSSCVMMLibrary"), "-N", "-c", "ls"], &t.0);
    assert!(!ok && out.contains("NT_STATUS_ACCESS_DENIED"), "{out}");
    let (ok, out) = smbclient(hv, &[&unc(hv, "IPC$"), "-U", "guest%", "-c", "exit"], &t.0);
    assert!(!ok && out.contains("NT_STATUS_LOGON_FAILURE"), "{out}");
    // rpcclient's null session: the pipe open is refused.
    let out = Command::new("rpcclient")
        .args([
            "-p",
            &hv.port().to_string(),
            "-U",
            "%",
            "-N",
            "-c",
            "srvinfo",
        ])
        .arg(hv.ip().to_string())
        .output()
        .expect("rpcclient (smbclient package; ./scripts/test installs it)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("NT_STATUS_ACCESS_DENIED"), "{text}");
    let j = dc.journal(&Query {
        machine: Some("hv01".into()),
        operation: Some("SESSION_SETUP (anonymous)".into()),
        ..Query::default()
    });
    assert!(j.iter().any(|e| e.outcome == "ok (null session)"), "{j:?}");
}

/// wkssvc NetrWkstaGetInfo over IPC$ (impacket and rpcclient) and DCOM's
/// ServerAlive2 on 135 (impacket's IObjectExporter, as OXID-resolver
/// scanners call it).
#[test]
fn wkssvc_and_server_alive2() {
    let dc = start(&["smb"]);
    let hv = dc.endpoint("hv01", ServiceKind::Smb).unwrap();
    let epm = dc.endpoint("hv01", ServiceKind::Rpc).unwrap();
    let out = python(
        "impacket",
        "smb_impacket_rpc.py",
        &[
            &hv.ip().to_string(),
            &hv.port().to_string(),
            &epm.port().to_string(),
            "Administrator",
            "P@ssw0rd!",
        ],
    );
    // Level 100 as Windows Server 2016-2022 answers: PLATFORM_ID_NT,
    // its NetBIOS name and workgroup, version 10.0; 502 is refused
    // (ERROR_NOT_SUPPORTED: not built); a null session cannot open the
    // pipe (STATUS_ACCESS_DENIED).
    assert_eq!(line(&out, "wksta-100"), "500 HV01 HV01 10 0", "{out}");
    assert_eq!(line(&out, "wksta-101"), "HV01 10", "{out}");
    assert_eq!(line(&out, "wksta-502"), "50", "{out}");
    assert_eq!(line(&out, "anonymous-wkssvc"), "0xc0000022", "{out}");
    // ServerAlive2: ncacn_ip_tcp bindings, the host's name then its address.
    assert_eq!(
        crate::common::lines(&out, "binding"),
        vec!["7 HV01", "7 127.84.0.1"],
        "{out}"
    );
    let out = Command::new("rpcclient")
        .args([
            "-p",
            &hv.port().to_string(),
            "-U",
            ADMIN,
            "-c",
            "wkssvc_wkstagetinfo",
        ])
        .arg(hv.ip().to_string())
        .output()
        .expect("rpcclient (smbclient package; ./scripts/test installs it)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !text.contains("NT_STATUS") && !text.contains("WERR"),
        "{text}"
    );
    let j = dc.journal(&Query {
        machine: Some("hv01".into()),
        operation: Some("ServerAlive2".into()),
        ..Query::default()
    });
    assert!(j.iter().any(|e| e.outcome == "ok"), "{j:?}");
}

/// Share modes as Windows enforces them, across two connections of one
/// machine (smbprotocol's low-level API), and smbclient's `get` of a file
/// another client holds exclusively.
#[test]
fn sharing_violations() {
    let dc = start(&["smb"]);
    let hv = dc.endpoint("hv01", ServiceKind::Smb).unwrap();
    let (host, port) = (hv.ip().to_string(), hv.port().to_string());
    let out = python(
        "smbprotocol",
        "smb_sharing.py",
        &[&host, &port, "Administrator", "P@ssw0rd!", "C$"],
    );
    const VIOLATION: &str = "0xc0000043";
    for (key, want) in [
        ("exclusive-read", VIOLATION),
        ("exclusive-same-connection", VIOLATION),
        ("exclusive-attributes", "ok"),
        ("after-close-read", "ok"),
        ("shared-read", "ok"),
        ("shared-write", VIOLATION),
        ("shared-delete", VIOLATION),
        ("reader-refusing-writers", VIOLATION),
    ] {
        assert_eq!(line(&out, key), want, "{key}: {out}");
    }
}

/// Byte-range locks that wait, across connections of one machine
/// (smbprotocol's low-level API): STATUS_PENDING, then the final answer
/// when the range frees by unlock, by the holder's CLOSE or by its
/// connection dropping; CANCEL ends the wait with STATUS_CANCELLED and
/// closing the waiting handle with STATUS_RANGE_NOT_LOCKED, as Windows
/// answers.
#[test]
fn blocking_locks_wait_for_the_range() {
    let dc = start(&["smb"]);
    let hv = dc.endpoint("hv01", ServiceKind::Smb).unwrap();
    let (host, port) = (hv.ip().to_string(), hv.port().to_string());
    let out = python(
        "smbprotocol",
        "smb_locks.py",
        &[&host, &port, "Administrator", "P@ssw0rd!", "C$"],
    );
    for (key, want) in [
        ("fail-immediately", "0xc0000055"),
        ("interim", "0x00000103"),
        ("before-unlock", "pending"),
        ("after-unlock", "ok"),
        ("held-by-waiter", "0xc0000055"),
        ("cancelled", "0xc0000120"),
        ("after-holder-close", "ok"),
        ("after-holder-disconnect", "ok"),
        ("waiter-closed", "0xc000007e"),
    ] {
        assert_eq!(line(&out, key), want, "{key}: {out}");
    }
}

/// Oplocks as Windows grants and breaks them, across two connections
/// (smbprotocol's low-level API): batch to a lone open; another
/// connection's open breaks it to level II and pends until the holder
/// acknowledges (the break arrives sealed in the holder's encrypted
/// session); level II when others have the file open; an overwrite or a
/// write through another open breaks level II to none; a holder closing instead of acknowledging lets the
/// waiting open through.
#[test]
fn oplocks_granted_and_broken() {
    let dc = start(&["smb"]);
    let hv = dc.endpoint("hv01", ServiceKind::Smb).unwrap();
    let (host, port) = (hv.ip().to_string(), hv.port().to_string());
    let out = python(
        "smbprotocol",
        "smb_oplocks.py",
        &[&host, &port, "Administrator", "P@ssw0rd!", "C$"],
    );
    for (key, want) in [
        ("granted", "0x09"),
        ("second-open-interim", "0x00000103"),
        ("break", "0x01"),
        ("break-file-id", "ok"),
        ("before-ack", "pending"),
        ("ack", "0x01"),
        ("second-open", "ok"),
        ("third-open-level", "0x01"),
        ("overwrite-break", "0x00"),
        ("level-ii-again", "0x01"),
        ("write-break", "0x00"),
        ("write-break-file-id", "ok"),
        ("second-break", "0x01"),
        ("after-holder-close", "ok"),
    ] {
        assert_eq!(line(&out, key), want, "{key}: {out}");
    }
    let j = dc.journal(&Query {
        machine: Some("hv01".into()),
        operation: Some("OPLOCK_BREAK acknowledged".into()),
        ..Query::default()
    });
    assert!(j.iter().any(|e| e.outcome == "ok"), "{j:?}");
}

const DECLARED: &str = r#"
[[machine]]
name = "lib02"
role = "library-server"
address = "127.84.0.4"
[machine.services]
smb = true
[[machine.user]]
name = "Administrator"
password = "P@ssw0rd!"
privilege = "admin"
[[machine.user]]
name = "bob"
password = "Bob-pass1"
privilege = "user"
[[machine.user]]
name = "carol"
password = "Carol-pass1"
privilege = "user"

# New-SmbShare -Name VMs -Path ...\vms -FullAccess Administrators -ReadAccess bob;
# New-SmbShare -Name Drop -Path ...\drop  (Everyone: Read, the default)
[machine.options.smb]
shares = [
  { name = "VMs", path = "vms", remark = "Virtual machines", full = ["Administrators"], read = ["bob"] },
  { name = "Drop", path = "drop" },
]
"#;

/// Shares a scenario declares, with their permissions: listed as Windows
/// lists them, full control for administrators, read for `bob` (his put
/// refused), nothing for `carol` (tree connect refused), Everyone read by
/// default; a declared share is a directory of the machine's share, so
/// ADMIN$ sees what was put there.
#[test]
fn declared_shares_and_permissions() {
    let dc = Datacenter::builder()
        .scenario_str(DECLARED)
        .ephemeral()
        .protocols(&["smb"])
        .start()
        .expect("start");
    let t = Temp::new("smb-declared");
    std::fs::write(t.path("vm.txt"), b"a vm\n").unwrap();
    let lib = dc.endpoint("lib02", ServiceKind::Smb).unwrap();
    let (ok, out) = smbclient(lib, &["-L", &format!("//{}", lib.ip()), "-U", ADMIN], &t.0);
    assert!(ok, "{out}");
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["VMs", "Disk", "Virtual", "machines"]),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["Drop", "Disk"]),
        "{out}"
    );
    let (ok, out) = smbclient(
        lib,
        &[&unc(lib, "VMs"), "-U", ADMIN, "-c", "put vm.txt vm.txt; ls"],
        &t.0,
    );
    assert!(ok && out.contains("vm.txt"), "{out}");
    let share = dc.share("lib02").unwrap();
    assert_eq!(std::fs::read(share.join("vms/vm.txt")).unwrap(), b"a vm\n");
    let (ok, out) = smbclient(
        lib,
        &[&unc(lib, "ADMIN$"), "-U", ADMIN, "-c", "ls vms\\*"],
        &t.0,
    );
    assert!(ok && out.contains("vm.txt"), "{out}");
    // bob reads but cannot write, delete or make a directory.
    let (_, out) = smbclient(
        lib,
        &[
            &unc(lib, "VMs"),
            "-U",
            "bob%Bob-pass1",
            "-c",
            "get vm.txt got.txt; put vm.txt bob.txt; del vm.txt; mkdir d",
        ],
        &t.0,
    );
    assert_eq!(
        std::fs::read(t.path("got.txt")).unwrap(),
        b"a vm\n",
        "{out}"
    );
    assert_eq!(out.matches("NT_STATUS_ACCESS_DENIED").count(), 3, "{out}");
    assert!(!share.join("vms/bob.txt").exists() && share.join("vms/vm.txt").exists());
    // carol has no entry on VMs; Everyone may read Drop.
    let (ok, out) = smbclient(
        lib,
        &[&unc(lib, "VMs"), "-U", "carol%Carol-pass1", "-c", "ls"],
        &t.0,
    );
    assert!(!ok && out.contains("NT_STATUS_ACCESS_DENIED"), "{out}");
    let (ok, out) = smbclient(
        lib,
        &[&unc(lib, "Drop"), "-U", "carol%Carol-pass1", "-c", "ls"],
        &t.0,
    );
    assert!(ok, "{out}");
    let (_, out) = smbclient(
        lib,
        &[
            &unc(lib, "Drop"),
            "-U",
            "carol%Carol-pass1",
            "-c",
            "put vm.txt c.txt",
        ],
        &t.0,
    );
    assert!(out.contains("NT_STATUS_ACCESS_DENIED"), "{out}");
}

/// A library server whose share has a 3,000,000-byte quota, served over
/// SMB, SFTP and BITS: one quota for the three.
const QUOTA_SCENARIO: &str = r#"
[[machine]]
name = "lib09"
role = "library-server"
address = "127.84.0.9"
quota_bytes = 3000000
[machine.services]
smb = true
sftp = true
[[machine.user]]
name = "Administrator"
password = "P@ssw0rd!"
privilege = "admin"
"#;

/// `sftp -b` with a password (sshpass), run in `cwd`.
fn sftp_batch(addr: SocketAddr, batch: &str, cwd: &std::path::Path) -> (bool, String) {
    let file = cwd.join("sftp-batch");
    std::fs::write(&file, batch).unwrap();
    let out = Command::new("sshpass")
        .env("SSHPASS", "P@ssw0rd!")
        .args([
            "-e",
            "sftp",
            "-o",
            "BatchMode=no",
            "-o",
            "PubkeyAuthentication=no",
        ])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args(["-P", &addr.port().to_string(), "-b"])
        .arg(&file)
        .arg(format!("Administrator@{}", addr.ip()))
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("sshpass/sftp are not installed ({e}): ./scripts/test installs them")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// curl's BITS_POST (MC-BUP) with a packet type, headers and an optional
/// body file: (HTTP status, the response head).
fn bits_post(
    ca: &std::path::Path,
    url: &str,
    packet: &str,
    headers: &[String],
    body: Option<&std::path::Path>,
) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args(["-sS", "--cacert"])
        .arg(ca)
        .args([
            "-u",
            "Administrator:P@ssw0rd!",
            "-D",
            "-",
            "-o",
            "/dev/null",
        ])
        .args([
            "-X",
            "BITS_POST",
            "-H",
            &format!("BITS-Packet-Type: {packet}"),
        ])
        .args(["-H", "Content-Type:"]);
    for h in headers {
        c.args(["-H", h]);
    }
    if let Some(b) = body {
        c.arg("--data-binary").arg(format!("@{}", b.display()));
    }
    let out = c
        .arg(url)
        .output()
        .unwrap_or_else(|e| panic!("curl is not installed ({e}): ./scripts/test installs it"));
    let head = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = head
        .rfind("HTTP/1.1 ")
        .and_then(|i| head[i..].split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no response: {head}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    (status, head)
}

/// A header's value in a response head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// smbclient's "N blocks of size B. M blocks available" (after `ls`), as
/// bytes: (total, available).
fn smbclient_space(out: &str) -> (u64, u64) {
    let l = out
        .lines()
        .find(|l| l.contains("blocks of size"))
        .unwrap_or_else(|| panic!("no size line in:\n{out}"));
    let w: Vec<&str> = l.split_whitespace().collect();
    let n = |i: usize| -> u64 { w[i].trim_end_matches('.').parse().unwrap() };
    let size = n(4);
    (n(0) * size, n(5) * size)
}

/// The machine's quota, as Windows enforces an FSRM hard quota on a share:
/// smbclient `put` of a file bigger than it fails with
/// NT_STATUS_DISK_FULL, `ls` reports the quota as the volume; a file put
/// over SFTP leaves SMB less room (one quota, two protocols); deleting
/// over SMB gives the room back; a BITS fragment past what is left gets
/// BITS' own HRESULT_FROM_WIN32(ERROR_DISK_FULL) and the upload never
/// appears, while one that fits is published and counted.
#[test]
fn quota_shared_by_smb_sftp_and_bits() {
    let dc = Datacenter::builder()
        .scenario_str(QUOTA_SCENARIO)
        .ephemeral()
        .protocols(&["smb", "ssh", "bits"])
        .start()
        .expect("start");
    let t = Temp::new("smb-quota");
    let lib = dc.endpoint("lib09", ServiceKind::Smb).unwrap();
    let share = unc(lib, "MSSCVMMLibrary");
    let blob = |n: usize| -> Vec<u8> { (0..n).map(|i| (i % 253) as u8).collect() };
    std::fs::write(t.path("big.bin"), blob(4_000_000)).unwrap();
    std::fs::write(t.path("two.bin"), blob(2_000_000)).unwrap();
    std::fs::write(t.path("one.bin"), blob(1_500_000)).unwrap();
    let smb = |cmd: &str| smbclient(lib, &[&share, "-U", ADMIN, "-c", cmd], &t.0);

    // Bigger than the quota: refused, as a full disk.
    let (_, out) = smb("put big.bin big.bin");
    assert!(out.contains("NT_STATUS_DISK_FULL"), "{out}");
    let (ok, out) = smb("del big.bin; ls");
    assert!(ok, "{out}");
    let (total, avail) = smbclient_space(&out);
    // The quota is the volume (to the block).
    assert!((2_990_000..=3_000_000).contains(&total), "{out}");
    assert!(avail + 8192 >= total, "nothing is stored yet: {out}");

    // 2,000,000 bytes over SFTP count against SMB's room.
    let sftp = dc.endpoint("lib09", ServiceKind::Sftp).unwrap();
    let (ok, out) = sftp_batch(sftp, "put two.bin two.bin\n", &t.0);
    assert!(ok, "{out}");
    let (ok, out) = smb("ls");
    assert!(ok, "{out}");
    let (_, avail) = smbclient_space(&out);
    assert!((990_000..=1_000_000).contains(&avail), "{out}");
    // 1,500,000 bytes alone fit the quota, but not beside SFTP's file.
    let (_, out) = smb("put one.bin one.bin");
    assert!(out.contains("NT_STATUS_DISK_FULL"), "{out}");
    // Deleting SFTP's file over SMB gives its bytes back.
    let (ok, out) = smb("del two.bin; put one.bin one.bin; ls");
    assert!(ok, "{out}");
    assert!(!out.contains("NT_STATUS"), "{out}");
    let (_, avail) = smbclient_space(&out);
    assert!((1_490_000..=1_500_000).contains(&avail), "{out}");
    assert_eq!(
        std::fs::metadata(dc.share("lib09").unwrap().join("one.bin"))
            .unwrap()
            .len(),
        1_500_000
    );

    // BITS: 2,000,000 bytes do not fit beside SMB's 1,500,000.
    let bits = dc.endpoint("lib09", ServiceKind::Bits).unwrap();
    let ca = crate::common::ca_file(&dc, "smb-quota");
    let proto = "BITS-Supported-Protocols: {7df0354d-249b-430f-820d-3d2a9bef4931}".to_string();
    let upload = |name: &str, file: &str, len: usize| -> (u16, String, String) {
        let url = format!("https://{}:{}/{name}", bits.ip(), bits.port());
        let (st, head) = bits_post(
            &ca,
            &url,
            "Create-Session",
            std::slice::from_ref(&proto),
            None,
        );
        assert_eq!(st, 200, "{head}");
        let sid = header(&head, "BITS-Session-Id").unwrap().to_string();
        let (st, head) = bits_post(
            &ca,
            &url,
            "Fragment",
            &[
                format!("BITS-Session-Id: {sid}"),
                format!("Content-Range: bytes 0-{}/{len}", len - 1),
            ],
            Some(&t.path(file)),
        );
        (st, head, sid)
    };
    let (st, head, sid) = upload("up.bin", "two.bin", 2_000_000);
    assert_eq!(st, 500, "{head}");
    assert_eq!(
        header(&head, "BITS-Error-Code"),
        Some("0x80070070"),
        "{head}"
    );
    assert_eq!(header(&head, "BITS-Error-Context"), Some("0x5"), "{head}");
    let url = format!("https://{}:{}/up.bin", bits.ip(), bits.port());
    let (st, head) = bits_post(
        &ca,
        &url,
        "Close-Session",
        &[format!("BITS-Session-Id: {sid}")],
        None,
    );
    assert_ne!(st, 200, "an upload that did not fit cannot close: {head}");
    assert!(!dc.share("lib09").unwrap().join("up.bin").exists());
    let (st, head) = bits_post(
        &ca,
        &url,
        "Cancel-Session",
        &[format!("BITS-Session-Id: {sid}")],
        None,
    );
    assert_eq!(st, 200, "{head}");
    // 1,000,000 bytes fit; once published, SMB sees the room they took.
    std::fs::write(t.path("mega.bin"), blob(1_000_000)).unwrap();
    let (st, head, sid) = upload("mega.bin", "mega.bin", 1_000_000);
    assert_eq!(st, 200, "{head}");
    let url = format!("https://{}:{}/mega.bin", bits.ip(), bits.port());
    let (st, head) = bits_post(
        &ca,
        &url,
        "Close-Session",
        &[format!("BITS-Session-Id: {sid}")],
        None,
    );
    assert_eq!(st, 200, "{head}");
    let (ok, out) = smb("ls");
    assert!(ok && out.contains("mega.bin"), "{out}");
    let (_, avail) = smbclient_space(&out);
    assert!((490_000..=500_000).contains(&avail), "{out}");
}

/// One limit on requests waiting for their final answer, whatever they
/// wait for (smbprotocol's low-level API): with a LOCK waiting and 255
/// CHANGE_NOTIFYs pending on one connection, a CHANGE_NOTIFY, a LOCK and a
/// CREATE held up by an oplock break are each refused with
/// STATUS_INSUFFICIENT_RESOURCES; another connection is not limited by
/// it; a CANCEL makes room; the waiting LOCK still completes.
#[test]
fn pending_requests_share_one_limit() {
    let dc = start(&["smb"]);
    let hv = dc.endpoint("hv01", ServiceKind::Smb).unwrap();
    let (host, port) = (hv.ip().to_string(), hv.port().to_string());
    let out = python(
        "smbprotocol",
        "smb_pending.py",
        &[&host, &port, "Administrator", "P@ssw0rd!", "C$"],
    );
    assert_eq!(
        fakedc_smb::conn::MAX_PENDING,
        256,
        "smb_pending.py fills 256"
    );
    for (key, want) in [
        ("batch-granted", "0x09"),
        ("lock-interim", "0x00000103"),
        ("notifies-pending", "255 0x00000103"),
        ("over-notify", "0xc000009a"),
        ("over-lock", "0xc000009a"),
        ("over-create", "0xc000009a"),
        ("other-connection", "0x00000103"),
        ("other-cancelled", "0xc0000120"),
        ("cancelled", "0xc0000120"),
        ("after-cancel", "0x00000103"),
        ("lock-final", "ok"),
        ("all-cancelled", "True"),
    ] {
        assert_eq!(line(&out, key), want, "{key}: {out}");
    }
}

/// smbprotocol's high-level client against the quota: the volume size it
/// reads (FileFsFullSizeInformation) is the quota, SET_INFO end-of-file
/// growth past it and a WRITE past it are STATUS_DISK_FULL, truncation
/// and delete give the room back. Sizes are in 4 KiB units, as Windows
/// reports them.
#[test]
fn quota_set_info_and_volume_size_with_smbprotocol() {
    let dc = Datacenter::builder()
        .scenario_str(QUOTA_SCENARIO)
        .ephemeral()
        .protocols(&["smb"])
        .start()
        .expect("start");
    let lib = dc.endpoint("lib09", ServiceKind::Smb).unwrap();
    let (host, port) = (lib.ip().to_string(), lib.port().to_string());
    let out = python(
        "smbclient",
        "smb_quota.py",
        &[&host, &port, "Administrator", "P@ssw0rd!", "MSSCVMMLibrary"],
    );
    // 3,000,000 bytes = 732 units of 4096 (rounded down).
    let full = 732 * 4096;
    for (key, want) in [
        ("volume-empty", format!("{full} {full} {full}")),
        ("grow-past", "0xc000007f".into()),
        ("size-after-refusal", "1000".into()),
        ("grow-within", "ok".into()),
        (
            "volume-grown",
            format!("{full} {0} {0}", (3_000_000 - 2_000_000) / 4096 * 4096),
        ),
        ("shrink", "ok".into()),
        ("volume-shrunk", format!("{full} {full} {full}")),
        ("write-past", "0xc000007f".into()),
        ("volume-after-delete", format!("{full} {full} {full}")),
    ] {
        assert_eq!(line(&out, key), want, "{key}: {out}");
    }
}
