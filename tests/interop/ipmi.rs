//! ipmitool (the real client) against fakedc BMCs: every command the IPMI
//! issue names, each result asserted, and power/boot changes checked against
//! the model. A missing ipmitool fails these tests; it never skips them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use crate::common;

use crate::common::wait_until;
use fakedc::{Datacenter, FaultKind, FaultRule, Query, ServiceKind};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const SCENARIO: &str = r#"
[defaults]
boot_delay_ms = 300
shutdown_delay_ms = 300
cycle_interval_ms = 300

[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.78.0.1"
bmc = "bmc01"
vendor = "Fabrikam"
model = "FX-9000"
serial = "FXSERIAL01"

[[machine]]
name = "bmc01"
role = "bmc"
address = "127.78.1.1"
[machine.options.ipmi]
cipher_suites = [3, 17]

[[machine]]
name = "hv02"
role = "hyperv-host"
address = "127.78.0.2"
bmc = "bmc02"

[[machine]]
name = "bmc02"
role = "bmc"
address = "127.78.1.2"
[machine.options.ipmi]
cipher_suites = [17]
max_sessions = 2
"#;

fn ipmitool_path() -> &'static str {
    let ok = Command::new("ipmitool")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "ipmitool is not installed: the interop tests need it (./scripts/test installs it)"
    );
    "ipmitool"
}

/// Runs ipmitool against a BMC with the given interface/auth args.
fn ipmitool(addr: SocketAddr, iface: &[&str], user: &str, pass: &str, cmd: &str) -> Output {
    let mut c = Command::new(ipmitool_path());
    c.args(iface)
        .args([
            "-H",
            &addr.ip().to_string(),
            "-p",
            &addr.port().to_string(),
            "-U",
            user,
            "-P",
            pass,
            "-N",
            "1",
            "-R",
            "2",
        ])
        .args(cmd.split_whitespace())
        .stdin(Stdio::null());
    c.output().expect("run ipmitool")
}

fn ok(addr: SocketAddr, iface: &[&str], cmd: &str) -> String {
    let o = ipmitool(addr, iface, "admin", "password", cmd);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "ipmitool {iface:?} {cmd} failed: {}{}",
        out,
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

const LANPLUS17: &[&str] = &["-I", "lanplus", "-C", "17"];
const LANPLUS3: &[&str] = &["-I", "lanplus", "-C", "3"];
const LANPLUS: &[&str] = &["-I", "lanplus"];
const LAN_MD5: &[&str] = &["-I", "lan", "-A", "MD5"];

/// `key : value` lines of ipmitool output, whitespace-normalized.
fn field(out: &str, key: &str) -> Option<String> {
    out.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

#[test]
fn mc_info_guid_and_status_on_every_session_type() {
    let dc = common::start(SCENARIO);
    let bmc = dc.endpoint("bmc01", ServiceKind::Ipmi).unwrap();
    let guid = dc.machine_state("hv01").unwrap().guid;
    for iface in [LANPLUS3, LANPLUS17, LANPLUS, LAN_MD5] {
        let t0 = Instant::now();
        let info = ok(bmc, iface, "mc info");
        let took = t0.elapsed();
        assert_eq!(
            field(&info, "IPMI Version").as_deref(),
            Some("2.0"),
            "{info}"
        );
        assert_eq!(
            field(&info, "Firmware Revision").as_deref(),
            Some("7.10"),
            "{info}"
        );
        assert_eq!(
            field(&info, "Manufacturer ID").as_deref(),
            Some("311"),
            "{info}"
        );
        assert!(
            took < Duration::from_millis(900),
            "{iface:?} mc info took {took:?}"
        );
        let g = ok(bmc, iface, "mc guid");
        assert_eq!(
            field(&g, "System GUID").as_deref(),
            Some(guid.as_str()),
            "{g}"
        );
        let st = ok(bmc, iface, "chassis status");
        assert_eq!(field(&st, "System Power").as_deref(), Some("on"), "{st}");
    }
    // Every command is journaled with user, privilege and completion code.
    let j = dc.journal(&Query {
        machine: Some("bmc01".into()),
        operation: Some("Get Device ID".into()),
        ..Default::default()
    });
    assert!(j.len() >= 4, "{j:?}");
    assert!(
        j.iter()
            .all(|e| e.user.as_deref() == Some("admin") && e.outcome == "cc 00h as admin"),
        "{j:?}"
    );
    let probes = dc.journal(&Query {
        machine: Some("bmc01".into()),
        operation: Some("not implemented".into()),
        ..Default::default()
    });
    assert!(
        !probes.is_empty(),
        "ipmitool's HPM/PICMG probes got answers (C1h)"
    );
    assert!(
        probes.iter().all(|e| e.outcome.starts_with("cc C1h")),
        "{probes:?}"
    );
}

/// A BMC offering every suite fakedc implements.
const ALL_SUITES_SCENARIO: &str = r#"
[[machine]]
name = "hv09"
role = "hyperv-host"
address = "127.78.9.1"
bmc = "bmc09"

[[machine]]
name = "bmc09"
role = "bmc"
address = "127.78.9.2"
[machine.options.ipmi]
cipher_suites = [0, 1, 2, 3, 6, 7, 8, 11, 12, 15, 16, 17]
"#;

/// Each RMCP+ cipher suite fakedc lists logs in with a real client and
/// carries commands under its own integrity and confidentiality: ipmitool
/// for the HMAC suites (it has no MD5-128), FreeIPMI for MD5-128 (11, 12).
/// A wrong password under an MD5 suite is refused as under SHA1.
#[test]
fn every_listed_cipher_suite_logs_in_with_real_clients() {
    let dc = common::start(ALL_SUITES_SCENARIO);
    let bmc = dc.endpoint("bmc09", ServiceKind::Ipmi).unwrap();
    let guid = dc.machine_state("hv09").unwrap().guid;
    for suite in ["1", "2", "3", "6", "7", "8", "15", "16", "17"] {
        let g = ok(bmc, &["-I", "lanplus", "-C", suite], "mc guid");
        assert_eq!(
            field(&g, "System GUID").as_deref(),
            Some(guid.as_str()),
            "suite {suite}: {g}"
        );
    }
    let listed = ok(bmc, LANPLUS3, "channel getciphers ipmi");
    for (id, auth, integrity, conf) in [
        ("6", "hmac_md5", "none", "none"),
        ("8", "hmac_md5", "hmac_md5_128", "aes_cbc_128"),
        ("12", "hmac_md5", "md5_128", "aes_cbc_128"),
        ("16", "hmac_sha256", "sha256_128", "none"),
    ] {
        assert!(
            listed.lines().any(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                w.len() >= 5 && w[0] == id && w[2] == auth && w[3] == integrity && w[4] == conf
            }),
            "suite {id} not listed as {auth}/{integrity}/{conf}:\n{listed}"
        );
    }
    // FreeIPMI reads the device GUID (App 08h); suite 3 is the reference.
    let reference = freeipmi_ok("bmc-info", bmc, &["-I", "3", "--get-device-guid"]);
    assert_eq!(reference.trim().len(), 36, "{reference}");
    for suite in ["7", "8", "11", "12"] {
        let info = freeipmi_ok("bmc-info", bmc, &["-I", suite, "--get-device-guid"]);
        assert_eq!(info, reference, "FreeIPMI suite {suite}");
    }
    let o = ipmitool(
        bmc,
        &["-I", "lanplus", "-C", "8"],
        "admin",
        "wrong",
        "mc guid",
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("Unable to establish IPMI v2 / RMCP+ session"),
        "{err}"
    );
}

#[test]
fn power_control_changes_the_model() {
    let dc = common::start(SCENARIO);
    let bmc = dc.endpoint("bmc01", ServiceKind::Ipmi).unwrap();
    let power = |dc: &Datacenter| dc.machine_state("hv01").unwrap().power;
    assert_eq!(
        ok(bmc, LANPLUS17, "chassis power status").trim(),
        "Chassis Power is on"
    );

    assert!(ok(bmc, LANPLUS17, "chassis power off").contains("Down/Off"));
    assert_eq!(power(&dc), "off");
    assert_eq!(
        ok(bmc, LANPLUS17, "chassis power status").trim(),
        "Chassis Power is off"
    );

    assert!(ok(bmc, LANPLUS17, "chassis power on").contains("Up/On"));
    assert_eq!(power(&dc), "booting");
    assert!(wait_until(Duration::from_secs(3), || power(&dc) == "on"));
    assert_eq!(
        ok(bmc, LAN_MD5, "chassis power status").trim(),
        "Chassis Power is on"
    );

    assert!(ok(bmc, LANPLUS17, "chassis power cycle").contains("Cycle"));
    assert_eq!(power(&dc), "cycling");
    assert!(wait_until(Duration::from_secs(3), || power(&dc) == "on"));

    assert!(ok(bmc, LANPLUS3, "chassis power reset").contains("Reset"));
    assert_eq!(power(&dc), "booting");
    assert!(wait_until(Duration::from_secs(3), || power(&dc) == "on"));

    assert!(ok(bmc, LANPLUS17, "chassis power soft").contains("Soft"));
    assert_eq!(power(&dc), "shutting-down");
    assert!(wait_until(Duration::from_secs(3), || power(&dc) == "off"));
    // The other BMC's host is untouched: many BMCs, each with its own state.
    assert_eq!(dc.machine_state("hv02").unwrap().power, "on");

    // SEL records the power and boot events.
    let sel = ok(bmc, LANPLUS17, "sel list");
    assert!(sel.contains("Power off/down"), "{sel}");
    assert!(sel.contains("System Boot Initiated"), "{sel}");
    assert!(ok(bmc, LANPLUS17, "sel clear").contains("Clearing SEL"));
    let after = ok(bmc, LANPLUS17, "sel list");
    assert!(!after.contains("Power off/down"), "{after}");
    assert!(
        after.lines().count() <= 1,
        "only the 'log cleared' record is left: {after}"
    );
}

#[test]
fn boot_device_round_trips_through_the_model() {
    let dc = common::start(SCENARIO);
    let bmc = dc.endpoint("bmc01", ServiceKind::Ipmi).unwrap();
    assert!(ok(bmc, LANPLUS17, "chassis bootdev pxe").contains("Set Boot Device to pxe"));
    let st = dc.machine_state("hv01").unwrap();
    assert_eq!(st.boot.device, fakedc::BootDevice::Pxe);
    assert!(!st.boot.persistent);
    let p = ok(bmc, LANPLUS17, "chassis bootparam get 5");
    assert!(p.contains("Boot Device Selector : Force PXE"), "{p}");
    assert!(p.contains("Options apply to only next boot"), "{p}");
    // A power cycle uses the one-time override up.
    ok(bmc, LANPLUS17, "chassis power cycle");
    assert!(wait_until(Duration::from_secs(3), || dc
        .machine_state("hv01")
        .unwrap()
        .power
        == "on"));
    let st = dc.machine_state("hv01").unwrap();
    assert_eq!(
        (st.last_boot_device, st.boot.device),
        (fakedc::BootDevice::Pxe, fakedc::BootDevice::None)
    );

    ok(bmc, LANPLUS17, "chassis bootdev cdrom options=persistent");
    let st = dc.machine_state("hv01").unwrap();
    assert_eq!(
        (st.boot.device, st.boot.persistent),
        (fakedc::BootDevice::Cdrom, true)
    );
    let p = ok(bmc, LANPLUS17, "chassis bootparam get 5");
    assert!(p.contains("Force Boot from CD/DVD"), "{p}");
    assert!(p.contains("Options apply to all future boots"), "{p}");
    ok(bmc, LANPLUS17, "chassis bootdev bios");
    assert_eq!(
        dc.machine_state("hv01").unwrap().boot.device,
        fakedc::BootDevice::Bios
    );
    ok(bmc, LANPLUS17, "chassis bootdev disk");
    assert_eq!(
        dc.machine_state("hv01").unwrap().boot.device,
        fakedc::BootDevice::Disk
    );
}

fn line<'a>(out: &'a str, name: &str) -> Option<Vec<&'a str>> {
    out.lines()
        .find(|l| l.starts_with(name))
        .map(|l| l.split('|').map(str::trim).collect())
}

#[test]
fn sensors_sdr_fru_users_channel_lan_and_dcmi() {
    let dc = common::start(SCENARIO);
    let bmc = dc.endpoint("bmc01", ServiceKind::Ipmi).unwrap();
    let sdr = ok(bmc, LANPLUS17, "sdr list");
    assert_eq!(
        line(&sdr, "Inlet Temp"),
        Some(vec!["Inlet Temp", "24 degrees C", "ok"]),
        "{sdr}"
    );
    assert_eq!(
        line(&sdr, "Fan1"),
        Some(vec!["Fan1", "7200 RPM", "ok"]),
        "{sdr}"
    );
    assert_eq!(
        line(&sdr, "12V"),
        Some(vec!["12V", "12.10 Volts", "ok"]),
        "{sdr}"
    );
    let sensors = ok(bmc, LANPLUS17, "sensor list");
    let cpu = line(&sensors, "CPU1 Temp").unwrap();
    assert_eq!(
        (cpu[1], cpu[2], cpu[3]),
        ("48.000", "degrees C", "ok"),
        "{sensors}"
    );
    assert_eq!(cpu[7], "85.000", "upper non-critical threshold: {sensors}");

    let pw = ok(bmc, LANPLUS17, "dcmi power reading");
    assert!(
        pw.contains("Instantaneous power reading:                   286 Watts"),
        "{pw}"
    );
    // Readings follow the power state.
    dc.power("hv01", fakedc::PowerAction::Off).unwrap();
    let sensors = ok(bmc, LANPLUS17, "sensor list");
    assert_eq!(
        line(&sensors, "CPU1 Temp").unwrap()[1],
        "22.000",
        "{sensors}"
    );
    assert!(ok(bmc, LANPLUS17, "dcmi power reading")
        .contains("Instantaneous power reading:                    12 Watts"));

    let fru = ok(bmc, LANPLUS17, "fru print");
    assert_eq!(
        field(&fru, "Board Mfg").as_deref(),
        Some("Fabrikam"),
        "{fru}"
    );
    assert_eq!(
        field(&fru, "Product Name").as_deref(),
        Some("FX-9000"),
        "{fru}"
    );
    assert_eq!(
        field(&fru, "Board Serial").as_deref(),
        Some("FXSERIAL01"),
        "{fru}"
    );

    let users = ok(bmc, LANPLUS17, "user list");
    let admin = users
        .lines()
        .find(|l| l.starts_with("2 "))
        .unwrap_or_default();
    assert!(
        admin.contains("admin") && admin.contains("ADMINISTRATOR"),
        "{users}"
    );
    assert!(
        users
            .lines()
            .any(|l| l.starts_with("3 ") && l.contains("operator") && l.contains("OPERATOR")),
        "{users}"
    );

    let ch = ok(bmc, LANPLUS17, "channel info");
    assert_eq!(
        field(&ch, "Channel Medium Type").as_deref(),
        Some("802.3 LAN"),
        "{ch}"
    );
    let lan = ok(bmc, LANPLUS17, "lan print");
    assert_eq!(
        field(&lan, "IP Address").as_deref(),
        Some("127.78.1.1"),
        "{lan}"
    );
    assert_eq!(
        field(&lan, "IP Address Source").as_deref(),
        Some("Static Address"),
        "{lan}"
    );
    assert!(lan.contains("Cipher Suite Priv Max"), "{lan}");
}

#[test]
fn failures_look_like_real_hardware() {
    let dc = common::start(SCENARIO);
    let bmc = dc.endpoint("bmc01", ServiceKind::Ipmi).unwrap();
    let bmc2 = dc.endpoint("bmc02", ServiceKind::Ipmi).unwrap();
    // Wrong password: RAKP2 arrives, its HMAC does not verify at the client.
    let o = ipmitool(
        bmc,
        &["-I", "lanplus", "-C", "17", "-v"],
        "admin",
        "wrong",
        "mc info",
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("Unable to establish IPMI v2 / RMCP+ session"),
        "{err}"
    );
    // Unknown user: RAKP2 status 0Dh.
    let o = ipmitool(
        bmc,
        &["-I", "lanplus", "-C", "17", "-v"],
        "mallory",
        "x",
        "mc info",
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("unauthorized name"), "{err}");
    // A suite the BMC is not configured with is refused, never substituted.
    let o = ipmitool(bmc2, LANPLUS3, "admin", "password", "mc info");
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("invalid authentication algorithm"), "{err}");
    assert!(ok(bmc2, LANPLUS17, "mc info").contains("IPMI Version"));
    // No -C against a suite-17-only BMC: ipmitool reads the suite list and picks 17, fast.
    let t0 = Instant::now();
    ok(bmc2, LANPLUS, "chassis power status");
    assert!(t0.elapsed() < Duration::from_millis(900));
    // Operator: may control power, may not change users.
    let op = |cmd: &str| {
        ipmitool(
            bmc,
            &["-I", "lanplus", "-C", "17", "-L", "OPERATOR"],
            "operator",
            "operator",
            cmd,
        )
    };
    let o = op("user set password 4 newpass");
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Insufficient privilege level"),
        "{o:?}"
    );
    assert!(op("chassis power off").status.success());
    assert_eq!(dc.machine_state("hv01").unwrap().power, "off");
    // An operator cannot ask for an admin session.
    let o = ipmitool(
        bmc,
        &["-I", "lanplus", "-C", "17", "-L", "ADMINISTRATOR"],
        "operator",
        "operator",
        "mc info",
    );
    assert!(!o.status.success());
    // The journal says who was refused.
    let j = dc.journal(&Query {
        machine: Some("bmc01".into()),
        operation: Some("Set User Password".into()),
        ..Default::default()
    });
    assert_eq!(
        j.last().map(|e| e.outcome.as_str()),
        Some("cc D4h as operator"),
        "{j:?}"
    );
    let j = dc.journal(&Query {
        machine: Some("bmc01".into()),
        operation: Some("RAKP 1".into()),
        ..Default::default()
    });
    assert!(j.iter().any(|e| e.user.as_deref() == Some("mallory") && e.outcome.contains("UnauthorizedName")), "{j:?}");
}

#[test]
fn fault_rules_apply_to_ipmi() {
    let dc = common::start(SCENARIO);
    let bmc = dc.endpoint("bmc01", ServiceKind::Ipmi).unwrap();
    let rule = |kind| FaultRule {
        id: 0,
        machine: Some("bmc01".into()),
        service: Some("ipmi".into()),
        kind,
    };
    let id = dc.add_fault(rule(FaultKind::Busy));
    let o = ipmitool(bmc, LANPLUS17, "admin", "password", "chassis power status");
    assert!(!o.status.success());
    dc.remove_fault(id);
    let id = dc.add_fault(rule(FaultKind::WrongHmac));
    let o = ipmitool(bmc, LANPLUS17, "admin", "password", "chassis power status");
    assert!(
        !o.status.success(),
        "a response with a bad integrity code must not be accepted"
    );
    dc.remove_fault(id);
    let id = dc.add_fault(rule(FaultKind::Delay {
        ms: 150,
        jitter_ms: 0,
    }));
    let t0 = Instant::now();
    ok(bmc, LANPLUS17, "chassis power status");
    assert!(
        t0.elapsed() >= Duration::from_millis(150 * 5),
        "each datagram of the exchange is delayed"
    );
    dc.remove_fault(id);
    dc.add_fault(rule(FaultKind::Drop { probability: 1.0 }));
    let o = ipmitool(bmc, LANPLUS17, "admin", "password", "chassis power status");
    assert!(!o.status.success());
    assert!(ok(
        dc.endpoint("bmc02", ServiceKind::Ipmi).unwrap(),
        LANPLUS17,
        "chassis power status"
    )
    .contains("on"));
}

/// `lan set 1 auth ADMIN MD5` changes what the channel offers and what the
/// BMC accepts: straight-password logins at admin privilege stop working,
/// at user privilege they go on, MD5 and RMCP+ are untouched.
#[test]
fn lan_auth_type_enables_govern_logins() {
    let dc = common::start(SCENARIO);
    let bmc = dc.endpoint("bmc01", ServiceKind::Ipmi).unwrap();
    const PW_ADMIN: &[&str] = &["-I", "lan", "-A", "PASSWORD", "-L", "ADMINISTRATOR"];
    const PW_USER: &[&str] = &["-I", "lan", "-A", "PASSWORD", "-L", "USER"];
    assert!(ok(bmc, PW_ADMIN, "mc info").contains("IPMI Version"));
    ok(bmc, LANPLUS17, "lan set 1 auth ADMIN MD5");
    let lan = ok(bmc, LANPLUS17, "lan print 1");
    assert_eq!(
        field(&lan, "Auth Type Enable").as_deref(),
        Some("Callback : MD5 PASSWORD"),
        "{lan}"
    );
    assert!(lan.contains(": Operator : MD5 PASSWORD \n"), "{lan}");
    assert!(lan.contains(": Admin    : MD5 \n"), "{lan}");
    let o = ipmitool(bmc, PW_ADMIN, "admin", "password", "mc info");
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("Authentication type PASSWORD not supported"),
        "{err}"
    );
    assert!(ok(bmc, PW_USER, "mc info").contains("IPMI Version"));
    assert!(ok(bmc, LAN_MD5, "mc info").contains("IPMI Version"));
    assert!(ok(bmc, LANPLUS17, "mc info").contains("IPMI Version"));
}

#[test]
fn hostile_datagrams_do_not_disturb_sessions() {
    let dc = common::start(SCENARIO);
    let bmc = dc.endpoint("bmc01", ServiceKind::Ipmi).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut client = rt
        .block_on(fakedc_ipmi::probe::Client::connect(
            bmc,
            "admin",
            "password",
            17,
            fakedc_ipmi::wire::Privilege::Admin,
            Duration::from_secs(2),
        ))
        .expect("session");
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut junk: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x06],
        vec![0x06, 0x00, 0xFF, 0x07],
        vec![
            0x06, 0x00, 0xFF, 0x07, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x09, 0x20, 0x18, 0x00, 0x81,
            0x04, 0x38, 0x8E, 0x04, 0x00,
        ],
        vec![
            0x06, 0x00, 0xFF, 0x07, 0x06, 0xC0, 1, 2, 3, 4, 5, 0, 0, 0, 0xFF, 0xFF,
        ],
        vec![
            0x06, 0x00, 0xFF, 0x07, 0x06, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0x00,
        ],
        vec![0xFF; 1500],
        vec![0x06, 0x00, 0xFF, 0x06, 0x00, 0x00, 0x11, 0xBE, 0x80],
    ];
    let mut seed = 0x1234_5678u32;
    for _ in 0..300 {
        let len = (seed % 80) as usize;
        let mut v = vec![0x06, 0x00, 0xFF, 0x07];
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            v.push(seed as u8);
        }
        junk.push(v);
    }
    for j in &junk {
        s.send_to(j, bmc).unwrap();
    }
    // The session still works and nothing crashed.
    let (cc, data) = rt.block_on(client.request(0x06, 0x01, &[])).unwrap();
    assert_eq!((cc, data.len()), (0, 15));
    assert!(ok(bmc, LANPLUS17, "mc info").contains("IPMI Version"));
    let dropped = dc.journal(&Query {
        machine: Some("bmc01".into()),
        operation: Some("malformed".into()),
        ..Default::default()
    });
    assert!(!dropped.is_empty());
}

/// Hosts whose BMCs' SOL consoles differ by the host's OS: a Hyper-V host
/// (Windows: EMS/SAC) and an ESXi host (a Linux-flavoured console).
const SOL_SCENARIO: &str = r#"
[defaults]
boot_delay_ms = 300
shutdown_delay_ms = 300
cycle_interval_ms = 300

[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.78.3.1"
bmc = "bmc-hv01"

[[machine]]
name = "bmc-hv01"
role = "bmc"
address = "127.78.4.1"

[[machine]]
name = "esx01"
role = "esxi-host"
address = "127.78.3.2"
bmc = "bmc-esx01"

[[machine]]
name = "bmc-esx01"
role = "bmc"
address = "127.78.4.2"
"#;

/// `ipmitool sol activate` in a pseudo-terminal (util-linux `script`),
/// typed at like a person.
struct SolTerminal {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    seen: String,
    /// Where the next [`SolTerminal::expect`] starts looking.
    cursor: usize,
}

impl SolTerminal {
    fn activate(bmc: SocketAddr) -> SolTerminal {
        use std::io::Read;
        ipmitool_path();
        let cmd = format!(
            "ipmitool -I lanplus -C 17 -H {} -p {} -U admin -P password sol activate",
            bmc.ip(),
            bmc.port()
        );
        let mut child = Command::new("script")
            .args(["-qfec", &cmd, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("script (util-linux) is needed for the SOL test");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        SolTerminal {
            child,
            stdin,
            rx,
            seen: String::new(),
            cursor: 0,
        }
    }

    /// Waits for `needle` after what earlier expectations matched.
    fn expect(&mut self, needle: &str) {
        let end = Instant::now() + Duration::from_secs(8);
        loop {
            if let Some(i) = self.seen[self.cursor..].find(needle) {
                self.cursor += i + needle.len();
                return;
            }
            let left = end.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "never saw {needle:?}; console so far:\n{}",
                self.seen
            );
            if let Ok(chunk) = self.rx.recv_timeout(left.min(Duration::from_millis(200))) {
                self.seen.push_str(&String::from_utf8_lossy(&chunk));
            }
        }
    }

    fn type_text(&mut self, text: &str) {
        use std::io::Write;
        self.stdin.write_all(text.as_bytes()).unwrap();
    }

    /// `~.` at the start of a line: ipmitool deactivates and exits 0.
    fn leave(mut self) -> String {
        self.type_text("\r~.");
        let end = Instant::now() + Duration::from_secs(8);
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            assert!(Instant::now() < end, "ipmitool did not leave on ~.");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "{status:?}");
        self.seen
    }
}

/// A Linux-flavoured host (ESXi): the scripted boot log, a login prompt, a
/// shell that echoes, and a clean exit.
#[test]
fn sol_shows_the_boot_log_echoes_and_leaves_cleanly() {
    let dc = common::start(SOL_SCENARIO);
    let bmc = dc.endpoint("bmc-esx01", ServiceKind::Ipmi).unwrap();
    dc.power("esx01", fakedc::PowerAction::Off).unwrap();
    let mut term = SolTerminal::activate(bmc);
    term.expect("SOL Session operational");
    // Power on: the scripted boot log streams, then a login prompt.
    dc.power("esx01", fakedc::PowerAction::On).unwrap();
    term.expect("Contoso Systems BIOS");
    term.expect("Booting esx01");
    term.expect("esx01 login: ");
    term.type_text("root\r");
    term.expect("root\r\nPassword: ");
    term.type_text("secret\r");
    term.expect("[root@esx01 ~]# ");
    term.type_text("echo fakedc-sol-test\r");
    term.expect("echo fakedc-sol-test\r\nfakedc-sol-test\r\n");
    let seen = term.leave();
    assert!(!seen.contains("secret"), "passwords are not echoed");
    assert!(!seen.contains("SAC"), "{seen}");
    let j = dc.journal(&Query {
        machine: Some("bmc-esx01".into()),
        ..Default::default()
    });
    assert!(
        j.iter()
            .any(|e| e.operation == "Activate Payload" && e.outcome.starts_with("cc 00h")),
        "{j:?}"
    );
    assert!(j
        .iter()
        .any(|e| e.operation == "Deactivate Payload" || e.operation == "Close Session"));
    // The payload was released: a second activation works.
    let o = ipmitool(bmc, LANPLUS17, "admin", "password", "sol info");
    assert!(o.status.success());
}

/// A Windows host (Hyper-V): Emergency Management Services. The SAC's
/// banner during boot, `SAC>`, `id` with the host's name and the SMBIOS
/// GUID `ipmitool mc guid` reads, a Cmd channel, and `restart` rebooting
/// the shared chassis.
#[test]
fn sol_on_a_windows_host_shows_sac_and_answers_id() {
    let dc = common::start(SOL_SCENARIO);
    let bmc = dc.endpoint("bmc-hv01", ServiceKind::Ipmi).unwrap();
    let guid = dc.machine_state("hv01").unwrap().guid;
    let mc_guid = ok(bmc, LANPLUS17, "mc guid");
    assert_eq!(
        field(&mc_guid, "System GUID").as_deref(),
        Some(guid.as_str())
    );
    dc.power("hv01", fakedc::PowerAction::Off).unwrap();
    let mut term = SolTerminal::activate(bmc);
    term.expect("SOL Session operational");
    dc.power("hv01", fakedc::PowerAction::On).unwrap();
    term.expect("Contoso Systems BIOS");
    term.expect(
        "Computer is booting, SAC started and initialized.\r\n\r\n\
         Use the \"ch -?\" command for information about using channels.\r\n\
         Use the \"?\" command for general help.\r\n",
    );
    term.expect("SAC>");
    term.expect("EVENT: The CMD command is now available.\r\nSAC>");
    term.type_text("id\r");
    term.expect("id\r\n");
    term.expect("           Computer Name: HV01\r\n");
    term.expect(&format!("           Computer GUID: {guid}\r\n"));
    term.expect("  Processor Architecture: AMD64\r\n");
    term.expect("            Build Number: 17763\r\n");
    term.expect("SAC>");
    term.type_text("cmd\r");
    term.expect("The Command Prompt session was successfully launched.\r\n");
    term.expect("Channel: Cmd0001\r\nSAC>");
    term.type_text("ch\r");
    term.expect("0 (AV)    SAC\r\n1 (AV)    Cmd0001\r\nSAC>");
    term.type_text("i\r");
    term.expect("Net: 10, Ip=127.78.3.1  Subnet=255.0.0.0  Gateway=0.0.0.0\r\nSAC>");
    term.type_text("dir\r");
    term.expect("Unrecognized command.  Try the 'help' command for more details.\r\nSAC>");
    // `restart`: the host's OS resets its own chassis and boots again.
    term.type_text("restart\r");
    term.expect("SAC preparing to restart the system.\r\n");
    term.expect("Contoso Systems BIOS");
    term.expect("Computer is booting, SAC started and initialized.");
    term.expect("EVENT: The CMD command is now available.\r\nSAC>");
    term.type_text("ch\r");
    term.expect("# Status  Channel Name \r\n0 (AV)    SAC\r\nSAC>");
    let seen = term.leave();
    assert!(
        !seen.contains("login:") && !seen.contains("[root@"),
        "{seen}"
    );
    let j = dc.journal(&Query {
        machine: Some("bmc-hv01".into()),
        operation: Some("SOL console".into()),
        ..Default::default()
    });
    assert!(
        j.iter().any(|e| e.outcome == "host OS power action Reset"),
        "{j:?}"
    );
    // `shutdown` from a new session powers the host off.
    let mut term = SolTerminal::activate(bmc);
    term.expect("SOL Session operational");
    term.expect("SAC>");
    term.type_text("shutdown\r");
    term.expect("SAC preparing to shutdown the system.\r\n");
    assert!(
        wait_until(Duration::from_secs(5), || {
            dc.machine_state("hv01").is_ok_and(|m| m.power == "off")
        }),
        "shutdown powers the host off"
    );
    term.leave();
}

// ---------------------------------------------------------------------------
// Watchdog, PEF, DCMI identification and a full FreeIPMI configuration
// checkout (issue 21): what real clients read that the BMC used to refuse.

/// FreeIPMI's tools (`ipmi-config`, `bmc-config`, `ipmi-dcmi`); a missing
/// FreeIPMI fails the test (`./scripts/test` installs freeipmi-tools).
fn freeipmi(tool: &str, addr: SocketAddr, args: &[&str]) -> Output {
    let present = Command::new("ipmi-config")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        present,
        "FreeIPMI (ipmi-config) is not installed: the interop tests need it (./scripts/test installs freeipmi-tools)"
    );
    Command::new(tool)
        .args([
            "-h",
            &format!("{}:{}", addr.ip(), addr.port()),
            "-u",
            "admin",
            "-p",
            "password",
            "--driver-type=LAN_2_0",
        ])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run FreeIPMI")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `tool args` must exit 0; returns its output.
fn freeipmi_ok(tool: &str, addr: SocketAddr, args: &[&str]) -> String {
    let o = freeipmi(tool, addr, args);
    assert!(
        o.status.success(),
        "{tool} {args:?} exited {:?}:\n{}{}",
        o.status.code(),
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(&o)
}

#[test]
fn watchdog_get_set_reset_and_off() {
    let dc = common::start(SCENARIO);
    let bmc = dc.endpoint("bmc01", ServiceKind::Ipmi).unwrap();
    let get = ok(bmc, LANPLUS17, "mc watchdog get");
    assert_eq!(
        field(&get, "Watchdog Timer Is").as_deref(),
        Some("Stopped"),
        "{get}"
    );
    // Reset before any Set: 80h, as the spec says.
    let o = ipmitool(bmc, LANPLUS17, "admin", "password", "mc watchdog reset");
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("Attempt to reset uninitialized watchdog"),
        "{err}"
    );
    // Set through raw bytes: SMS/OS, hard reset, 30.0 s.
    ok(
        bmc,
        LANPLUS17,
        "raw 0x06 0x24 0x04 0x01 0x00 0x10 0x2c 0x01",
    );
    let get = ok(bmc, LANPLUS17, "mc watchdog get");
    for (key, value) in [
        ("Watchdog Timer Use", "SMS/OS (0x04)"),
        ("Watchdog Timer Is", "Stopped"),
        ("Watchdog Timer Logging", "On"),
        ("Watchdog Timer Action", "Hard Reset (0x01)"),
        ("Initial Countdown", "30.0 sec"),
        ("Present Countdown", "30.0 sec"),
    ] {
        assert_eq!(field(&get, key).as_deref(), Some(value), "{key}: {get}");
    }
    assert!(ok(bmc, LANPLUS17, "mc watchdog reset").contains("countdown restarted"));
    let get = ok(bmc, LANPLUS3, "mc watchdog get");
    assert_eq!(
        field(&get, "Watchdog Timer Is").as_deref(),
        Some("Started/Running"),
        "{get}"
    );
    let present: f64 = field(&get, "Present Countdown")
        .and_then(|v| v.trim_end_matches(" sec").parse().ok())
        .unwrap();
    assert!((25.0..=30.0).contains(&present), "{get}");
    // ipmitool's own set: with "dontstop" the running timer takes the new
    // values at once.
    ok(
        bmc,
        LANPLUS17,
        "mc watchdog set timeout=20 pretimeout=5 int=nmi action=cycle use=osload dontstop",
    );
    let get = ok(bmc, LANPLUS17, "mc watchdog get");
    for (key, value) in [
        ("Watchdog Timer Use", "OS Load (0x43)"),
        ("Watchdog Timer Is", "Started/Running"),
        ("Watchdog Timer Action", "Power Cycle (0x23)"),
        ("Pre-timeout interrupt", "NMI/Diagnostic"),
        ("Pre-timeout interval", "5 seconds"),
        ("Initial Countdown", "20.0 sec"),
    ] {
        assert_eq!(field(&get, key).as_deref(), Some(value), "{key}: {get}");
    }
    // A pre-timeout longer than the countdown is refused (CCh; ipmitool
    // 1.8.19 still exits 0, so read what it printed).
    let o = ipmitool(
        bmc,
        LANPLUS17,
        "admin",
        "password",
        "mc watchdog set timeout=2 pretimeout=5 int=nmi use=sms",
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("Set Watchdog Timer command failed: Invalid data field in request"),
        "{err}"
    );
    assert!(ok(bmc, LANPLUS17, "mc watchdog off").contains("timer stopped"));
    let get = ok(bmc, LANPLUS17, "mc watchdog get");
    assert_eq!(
        field(&get, "Watchdog Timer Is").as_deref(),
        Some("Stopped"),
        "{get}"
    );
    assert_eq!(dc.machine_state("hv01").unwrap().power, "on");
    // A user may read the timer, not set it.
    let user = |cmd: &str| {
        ipmitool(
            bmc,
            &["-I", "lanplus", "-C", "17", "-L", "USER"],
            "user",
            "user",
            cmd,
        )
    };
    assert!(user("mc watchdog get").status.success());
    assert!(!user("mc watchdog reset").status.success());
}

#[test]
fn watchdog_expiry_powers_the_host_down_and_logs_it() {
    let dc = common::start(SCENARIO);
    let bmc = dc.endpoint("bmc01", ServiceKind::Ipmi).unwrap();
    let power = |dc: &Datacenter| dc.machine_state("hv01").unwrap().power;
    assert_eq!(
        ok(bmc, LANPLUS17, "chassis power status").trim(),
        "Chassis Power is on"
    );
    // SMS/OS, power down, 1.5 s; started by Reset.
    ok(
        bmc,
        LANPLUS17,
        "raw 0x06 0x24 0x04 0x02 0x00 0x10 0x0f 0x00",
    );
    ok(bmc, LANPLUS17, "mc watchdog reset");
    let started = Instant::now();
    assert_eq!(power(&dc), "on");
    // Nobody talks to the BMC: the service acts when the countdown ends.
    assert!(
        wait_until(Duration::from_secs(5), || power(&dc) == "off"),
        "the watchdog never powered the host down"
    );
    assert!(started.elapsed() >= Duration::from_millis(1300));
    assert_eq!(
        ok(bmc, LANPLUS17, "chassis power status").trim(),
        "Chassis Power is off"
    );
    let get = ok(bmc, LANPLUS17, "mc watchdog get");
    assert_eq!(
        field(&get, "Watchdog Timer Is").as_deref(),
        Some("Stopped"),
        "{get}"
    );
    assert_eq!(
        field(&get, "Timer Expiration Flags").as_deref(),
        Some("(0x10)"),
        "{get}"
    );
    assert!(get.contains("* SMS/OS"), "{get}");
    assert_eq!(
        field(&get, "Present Countdown").as_deref(),
        Some("0.0 sec"),
        "{get}"
    );
    // The SEL: the Watchdog 2 event, then the power-off it caused.
    let sel = ok(bmc, LANPLUS17, "sel elist");
    let lines: Vec<&str> = sel.lines().collect();
    let wd = lines
        .iter()
        .position(|l| l.contains("Watchdog2") && l.contains("Power down"))
        .unwrap_or_else(|| panic!("no watchdog event in the SEL:\n{sel}"));
    assert!(
        lines[wd + 1..].iter().any(|l| l.contains("Power off/down")),
        "{sel}"
    );
    let j = dc.journal(&Query {
        machine: Some("bmc01".into()),
        operation: Some("watchdog".into()),
        ..Default::default()
    });
    assert!(
        j.iter().any(|e| e.outcome == "SMS/OS expired: power down"),
        "{j:?}"
    );
    // Clearing the flag through Set.
    ok(
        bmc,
        LANPLUS17,
        "mc watchdog set timeout=10 use=sms clear=sms",
    );
    let get = ok(bmc, LANPLUS17, "mc watchdog get");
    assert!(get.contains("Timer Expiration Flags: None (0x00)"), "{get}");
}

#[test]
fn pef_info_status_filters_and_policies() {
    let dc = common::start(SCENARIO);
    let bmc = dc.endpoint("bmc01", ServiceKind::Ipmi).unwrap();
    let guid = dc.machine_state("hv01").unwrap().guid;
    let info = ok(bmc, LANPLUS17, "pef info");
    assert!(info.contains("0x51"), "PEF 1.5: {info}");
    // The system GUID (ipmitool prints its bytes in another order; the
    // node part reads the same in every encoding).
    let node = guid.rsplit('-').next().unwrap();
    assert!(info.contains(node), "the system GUID {guid}: {info}");
    assert!(
        info.contains("Alert,Power-off,Reset,Power-cycle,OEM-defined,Diagnostic-interrupt"),
        "{info}"
    );
    let status = ok(bmc, LANPLUS17, "pef status");
    assert!(status.contains("PEF"), "{status}");
    let filters = ok(bmc, LANPLUS17, "pef filter list");
    let entries: Vec<&str> = filters.lines().filter(|l| l.contains('|')).collect();
    assert_eq!(entries.len(), 16, "{filters}");
    assert!(
        entries.iter().all(|l| l.contains("disabled")),
        "filters ship disabled: {filters}"
    );
    assert_eq!(
        entries
            .iter()
            .filter(|l| l.contains("pre-configured"))
            .count(),
        8,
        "{filters}"
    );
    let policies = ok(bmc, LANPLUS17, "pef policy list");
    assert_eq!(
        policies
            .lines()
            .filter(|l| l.contains("802.3 LAN") && l.contains("disabled"))
            .count(),
        4,
        "{policies}"
    );
    // Enabling a filter through ipmitool is stored and read back.
    ok(bmc, LANPLUS17, "pef filter enable 9");
    let filters = ok(bmc, LANPLUS17, "pef filter list");
    assert!(
        filters
            .lines()
            .any(|l| l.starts_with(" 9 |") && l.contains("enabled")),
        "{filters}"
    );
    // FreeIPMI's PEF checkout reads every table.
    let pef = freeipmi_ok("ipmi-config", bmc, &["--checkout", "--category=pef"]);
    for section in [
        "Section PEF_Conf",
        "Section Community_String",
        "Section Lan_Alert_Destination_4",
        "Section Alert_String_2",
        "Section Alert_Policy_4",
        "Section Event_Filter_16",
    ] {
        assert!(pef.contains(section), "{section} missing:\n{pef}");
    }
    assert!(
        pef.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["Enable_PEF", "Yes"]),
        "{pef}"
    );
}

/// PEF evaluates events: FreeIPMI's `ipmi-config` enables the factory
/// temperature filter with a power-off action, ipmitool's test event
/// "Temperature - Upper Critical - Going High" arrives, and the host goes
/// off, with the PEF action in the SEL and the journal.
#[test]
fn pef_filter_powers_the_host_off_on_a_matching_event() {
    let dc = common::start(SCENARIO);
    let bmc = dc.endpoint("bmc01", ServiceKind::Ipmi).unwrap();
    ok(bmc, LANPLUS17, "chassis power on");
    assert!(ok(bmc, LANPLUS17, "chassis power status").contains("is on"));
    freeipmi_ok(
        "ipmi-config",
        bmc,
        &[
            "--commit",
            "--category=pef",
            "-e",
            "PEF_Conf:Enable_PEF_Event_Messages=Yes",
            "-e",
            "Event_Filter_1:Enable_Filter=Yes",
            "-e",
            "Event_Filter_1:Event_Filter_Action_Power_Off=Yes",
        ],
    );
    // A voltage event does not match the temperature filter.
    ok(bmc, LANPLUS17, "event 2");
    assert!(ok(bmc, LANPLUS17, "chassis power status").contains("is on"));
    ok(bmc, LANPLUS17, "event 1");
    let status = ok(bmc, LANPLUS17, "chassis power status");
    assert!(status.contains("Chassis Power is off"), "{status}");
    let sel = ok(bmc, LANPLUS17, "sel elist");
    let lines: Vec<&str> = sel.lines().collect();
    let temp = lines
        .iter()
        .rposition(|l| l.contains("Temperature") && l.contains("Upper Critical going high"))
        .unwrap_or_else(|| panic!("no temperature event:\n{sel}"));
    assert!(
        lines[temp + 1..].iter().any(|l| l.contains("PEF Action")),
        "{sel}"
    );
    assert!(
        lines[temp + 1..]
            .iter()
            .any(|l| l.contains("Power off/down")),
        "{sel}"
    );
    let j = dc.journal(&Query {
        machine: Some("bmc01".into()),
        operation: Some("pef".into()),
        ..Default::default()
    });
    assert!(
        j.iter().any(|e| e.outcome.starts_with("record ")
            && e.outcome.ends_with(
                " matched filter 1: power down, alert not sent (PET alerts are not built)"
            )),
        "{j:?}"
    );
}

#[test]
fn dcmi_asset_tag_and_controller_id_with_freeipmi() {
    let dc = common::start(SCENARIO);
    let bmc = dc.endpoint("bmc01", ServiceKind::Ipmi).unwrap();
    // hv01 has no asset tag: an empty answer, not an error.
    let tag = freeipmi_ok("ipmi-dcmi", bmc, &["--get-asset-tag"]);
    assert_eq!(tag.trim(), "");
    freeipmi_ok(
        "ipmi-dcmi",
        bmc,
        &["--set-asset-tag=RACK-42-SLOT-07-FABRIKAM"],
    );
    let tag = freeipmi_ok("ipmi-dcmi", bmc, &["--get-asset-tag"]);
    assert_eq!(tag.trim(), "RACK-42-SLOT-07-FABRIKAM");
    // The tag is the chassis's: ipmitool reads the same.
    let tag = ok(bmc, LANPLUS17, "dcmi asset_tag");
    assert!(tag.contains("Asset tag: RACK-42-SLOT-07-FABRIKAM"), "{tag}");
    let id = freeipmi_ok(
        "ipmi-dcmi",
        bmc,
        &["--get-management-controller-identifier-string"],
    );
    assert_eq!(id.trim(), "bmc01");
    freeipmi_ok(
        "ipmi-dcmi",
        bmc,
        &["--set-management-controller-identifier-string=lab-bmc-7"],
    );
    let id = freeipmi_ok(
        "ipmi-dcmi",
        bmc,
        &["--get-management-controller-identifier-string"],
    );
    assert_eq!(id.trim(), "lab-bmc-7");
    let conf = freeipmi_ok("ipmi-config", bmc, &["--checkout", "--category=dcmi"]);
    assert!(
        conf.contains("Asset_Tag")
            && conf.contains("RACK-42-SLOT-07-FABRIKAM")
            && conf.contains("lab-bmc-7"),
        "{conf}"
    );
}

/// The keys `ipmi-config -vv --checkout` could not read.
fn unreadable(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("## Unable to checkout "))
        .map(|k| k.trim_end_matches(" : Not Supported").to_string())
        .collect()
}

/// A full FreeIPMI configuration checkout (core, chassis, PEF, DCMI; also as
/// `bmc-config`) reads every parameter, the serial channel's included.
/// FreeIPMI exits 1 from the core category on any BMC that does not list
/// every cipher suite 0-15 (the Intel, Dell and HP BMCs that list 0-3 and
/// 17, say, and OpenIPMI's ipmi_sim), so the core checkout is held to
/// what that leaves: every section comes out, and under -vv the only keys
/// it cannot read are the suites this BMC does not list — on a BMC listing
/// all it implements, exactly the xRC4 suites 4, 5, 9, 10, 13 and 14, which
/// no client implements either.
#[test]
fn freeipmi_configuration_checkout_reads_everything() {
    let dc = common::start(SCENARIO);
    let bmc = dc.endpoint("bmc01", ServiceKind::Ipmi).unwrap();
    for category in ["chassis", "pef", "dcmi"] {
        freeipmi_ok(
            "ipmi-config",
            bmc,
            &["--checkout", &format!("--category={category}")],
        );
    }
    for tool in ["ipmi-config", "bmc-config"] {
        let o = freeipmi(tool, bmc, &["--checkout"]);
        let out = stdout(&o);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.is_empty(), "{tool}: {err}");
        assert!(matches!(o.status.code(), Some(0 | 1)), "{tool}: {o:?}");
        for section in [
            "Section User16",
            "Section Lan_Channel",
            "Section Lan_Conf",
            "Section Lan6_Conf",
            "Section Lan_Conf_Auth",
            "Section Lan_Conf_Security_Keys",
            "Section Lan_Conf_User_Security",
            "Section Lan_Conf_Misc",
            "Section Rmcpplus_Conf_Privilege",
            "Section SOL_Conf",
        ] {
            assert!(out.contains(section), "{tool}: {section} missing:\n{out}");
        }
        for key in [
            "IPv6_IPv4_Addressing_Enables",
            "K_G",
            "Maximum_Privilege_Cipher_Suite_Id_3",
            "SOL_Payload_Port_Number",
        ] {
            assert!(out.contains(key), "{tool}: {key} missing:\n{out}");
        }
    }
    let o = freeipmi("ipmi-config", bmc, &["--checkout", "-vv"]);
    let out = stdout(&o);
    let suite_key = "Rmcpplus_Conf_Privilege:Maximum_Privilege_Cipher_Suite_Id_";
    let not_listed: Vec<String> = [0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
        .iter()
        .map(|id| format!("{suite_key}{id}"))
        .collect();
    assert_eq!(unreadable(&out), not_listed, "{out}");
    for key in [
        "Serial_Privilege_Limit",
        "Volatile_Access_Mode",
        "Enable_Basic_Mode",
        "Bit_Rate",
        "Call_Retry_Interval",
    ] {
        assert!(out.contains(key), "{key} missing:\n{out}");
    }
    // ipmitool names the serial channel (medium 05h, RS-232).
    let info = ok(bmc, LANPLUS3, "channel info 2");
    assert_eq!(
        field(&info, "Channel Medium Type").as_deref(),
        Some("Serial/Modem"),
        "{info}"
    );
    // A BMC listing every suite fakedc implements: only the xRC4 ones.
    let dc9 = common::start(ALL_SUITES_SCENARIO);
    let bmc9 = dc9.endpoint("bmc09", ServiceKind::Ipmi).unwrap();
    let o = freeipmi("ipmi-config", bmc9, &["--checkout", "-vv"]);
    let out9 = stdout(&o);
    let xrc4: Vec<String> = [4, 5, 9, 10, 13, 14]
        .iter()
        .map(|id| format!("{suite_key}{id}"))
        .collect();
    assert_eq!(unreadable(&out9), xrc4, "{out9}");
    // The one BMC key line is there (checked out through Set Channel
    // Security Keys, read operation).
    assert!(
        out.lines().any(|l| l.trim_start().starts_with("K_G")),
        "{out}"
    );
}
