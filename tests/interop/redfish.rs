//! Redfish on BMC 443 with DMTF's `redfish` Python library
//! (`tests/python/redfish_lib.py`, verifying the scenario CA), cross-checked
//! with ipmitool on the same BMC: one chassis, whichever protocol asks.
//! A missing client (python3 + redfish, ipmitool) fails these tests; it
//! never skips them (`./scripts/test` installs them).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use crate::common;
use crate::common::{ca_file, line, lines, python};
use fakedc::{Datacenter, PowerAction, ServiceKind};
use std::path::Path;
use std::process::{Command, Stdio};

const SCENARIO: &str = r#"
[defaults]
boot_delay_ms = 300
shutdown_delay_ms = 300
cycle_interval_ms = 300

[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.82.0.1"
bmc = "bmc01"
vendor = "Fabrikam"
model = "FX-9000"
serial = "FXSERIAL01"

[[machine]]
name = "bmc01"
role = "bmc"
address = "127.82.1.1"
"#;

fn lib(dc: &Datacenter, ca: &Path, user: &str, pass: &str, auth: &str, args: &[&str]) -> String {
    let ep = dc
        .endpoint("bmc01", ServiceKind::Redfish)
        .expect("443 endpoint");
    let (ip, port) = (ep.ip().to_string(), ep.port().to_string());
    let mut all = vec![
        ip.as_str(),
        port.as_str(),
        user,
        pass,
        ca.to_str().expect("path"),
        auth,
    ];
    all.extend_from_slice(args);
    python("redfish", "redfish_lib.py", &all)
}

fn ipmitool(dc: &Datacenter, user: &str, pass: &str, cmd: &str) -> (bool, String) {
    let args: Vec<&str> = cmd.split_whitespace().collect();
    ipmitool_args(dc, user, pass, &args)
}

/// ipmitool with its arguments as given (a sensor name with a space).
fn ipmitool_args(dc: &Datacenter, user: &str, pass: &str, args: &[&str]) -> (bool, String) {
    let ok = Command::new("ipmitool")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "ipmitool is not installed (./scripts/test installs it)");
    let a = dc
        .endpoint("bmc01", ServiceKind::Ipmi)
        .expect("ipmi endpoint");
    let o = Command::new("ipmitool")
        .args(["-I", "lanplus", "-C", "17", "-H", &a.ip().to_string()])
        .args(["-p", &a.port().to_string(), "-U", user, "-P", pass])
        .args(["-N", "1", "-R", "2"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ipmitool");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), out)
}

fn power_status(dc: &Datacenter) -> String {
    let (ok, out) = ipmitool(dc, "admin", "password", "chassis power status");
    assert!(ok, "{out}");
    out
}

#[test]
fn session_login_reads_the_system_and_logs_out() {
    let dc = common::start(SCENARIO);
    let ca = ca_file(&dc, "redfish-session");
    let out = lib(&dc, &ca, "admin", "password", "session", &["system"]);
    assert_eq!(line(&out, "TOKEN"), "yes", "{out}");
    assert!(
        line(&out, "LOCATION").contains("/redfish/v1/SessionService/Sessions/"),
        "{out}"
    );
    assert_eq!(line(&out, "REDFISH_VERSION"), "1.17.0", "{out}");
    assert_eq!(lines(&out, "MEMBER"), ["/redfish/v1/Systems/1"], "{out}");
    assert_eq!(line(&out, "STATUS"), "200", "{out}");
    assert!(line(&out, "ETAG").starts_with("W/\""), "{out}");
    assert_eq!(
        line(&out, "TYPE"),
        "#ComputerSystem.v1_20_0.ComputerSystem",
        "{out}"
    );
    assert_eq!(line(&out, "MANUFACTURER"), "Fabrikam", "{out}");
    assert_eq!(line(&out, "MODEL"), "FX-9000", "{out}");
    assert_eq!(line(&out, "SERIAL"), "FXSERIAL01", "{out}");
    // The UUID is the one IPMI's Get System GUID reports.
    let (ok, guid) = ipmitool(&dc, "admin", "password", "mc guid");
    assert!(ok, "{guid}");
    assert!(
        guid.to_ascii_lowercase()
            .contains(&line(&out, "UUID").to_ascii_lowercase()),
        "{out}\n{guid}"
    );
    assert_eq!(line(&out, "POWER"), "On", "{out}");
    assert!(lines(&out, "RESET_TYPE").contains(&"ForceOff"), "{out}");
    assert!(out.contains("LOGOUT"), "{out}");
    assert_eq!(line(&out, "AFTER_LOGOUT"), "401", "{out}");

    // Wrong password: the library's session login fails.
    let ep = dc.endpoint("bmc01", ServiceKind::Redfish).unwrap();
    let o = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/redfish_lib.py"))
        .args([
            &ep.ip().to_string(),
            &ep.port().to_string(),
            "admin",
            "wrong",
        ])
        .args([ca.to_str().unwrap(), "session", "system"])
        .env("NO_PROXY", "*")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("InvalidCredentials"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn force_off_then_on_is_seen_by_ipmitool() {
    let dc = common::start(SCENARIO);
    let ca = ca_file(&dc, "redfish-power");
    assert!(power_status(&dc).contains("Chassis Power is on"));
    let out = lib(
        &dc,
        &ca,
        "admin",
        "password",
        "basic",
        &["reset", "ForceOff"],
    );
    assert_eq!(line(&out, "STATUS"), "204", "{out}");
    assert!(power_status(&dc).contains("Chassis Power is off"));
    let out = lib(&dc, &ca, "admin", "password", "session", &["system"]);
    assert_eq!(line(&out, "POWER"), "Off", "{out}");

    let out = lib(&dc, &ca, "admin", "password", "session", &["reset", "On"]);
    assert_eq!(line(&out, "STATUS"), "204", "{out}");
    assert!(power_status(&dc).contains("Chassis Power is on"));

    // And the other way: IPMI powers off, Redfish sees it.
    dc.power("hv01", PowerAction::Off).unwrap();
    let out = lib(&dc, &ca, "admin", "password", "basic", &["system"]);
    assert_eq!(line(&out, "POWER"), "Off", "{out}");

    // A reset type the service does not list is Redfish's own error.
    let out = lib(
        &dc,
        &ca,
        "admin",
        "password",
        "basic",
        &["bad-reset", "Bogus"],
    );
    assert_eq!(line(&out, "STATUS"), "400", "{out}");
    assert_eq!(
        line(&out, "MESSAGEID"),
        "Base.1.10.ActionParameterValueNotInList",
        "{out}"
    );
}

#[test]
fn one_time_pxe_override_is_seen_by_ipmitool() {
    let dc = common::start(SCENARIO);
    let ca = ca_file(&dc, "redfish-boot");
    let out = lib(
        &dc,
        &ca,
        "admin",
        "password",
        "session",
        &["boot", "Pxe", "Once"],
    );
    assert_eq!(line(&out, "STATUS"), "200", "{out}");
    assert_eq!(line(&out, "STALE"), "412", "{out}");
    let (ok, p) = ipmitool(&dc, "admin", "password", "chassis bootparam get 5");
    assert!(ok, "{p}");
    assert!(p.contains("Boot Device Selector : Force PXE"), "{p}");
    assert!(p.contains("Options apply to only next boot"), "{p}");

    // ipmitool sets a persistent disk boot; Redfish reads it back.
    let (ok, p) = ipmitool(
        &dc,
        "admin",
        "password",
        "chassis bootdev disk options=persistent",
    );
    assert!(ok, "{p}");
    let out = lib(&dc, &ca, "admin", "password", "basic", &["system"]);
    assert_eq!(line(&out, "BOOT"), "Hdd Continuous", "{out}");
}

#[test]
fn password_changed_through_account_service_works_for_ipmitool() {
    let dc = common::start(SCENARIO);
    let ca = ca_file(&dc, "redfish-account");
    let out = lib(
        &dc,
        &ca,
        "admin",
        "password",
        "session",
        &["password", "admin", "N3wPass!"],
    );
    assert!(line(&out, "ACCOUNT").ends_with("Administrator"), "{out}");
    assert_eq!(line(&out, "STATUS"), "200", "{out}");
    let (ok, o) = ipmitool(&dc, "admin", "password", "chassis power status");
    assert!(!ok, "old password still works: {o}");
    let (ok, o) = ipmitool(&dc, "admin", "N3wPass!", "chassis power status");
    assert!(ok && o.contains("Chassis Power is on"), "{o}");
    // And Redfish's own Basic login takes the new one.
    let out = lib(&dc, &ca, "admin", "N3wPass!", "basic", &["sessions"]);
    assert_eq!(line(&out, "STATUS"), "200", "{out}");
}

/// DMTF's `redfishtool` CLI (it does not verify certificates: BMCs' are
/// self-signed). Prints its JSON answer or its error on stderr.
fn redfishtool(dc: &Datacenter, auth: &str, args: &[&str]) -> (bool, String) {
    let ep = dc
        .endpoint("bmc01", ServiceKind::Redfish)
        .expect("443 endpoint");
    let o = Command::new("redfishtool")
        .args(["-r", &ep.to_string(), "-u", "admin", "-p", "password"])
        .args(["-S", "Always", "-A", auth, "-n", "-T", "10"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("redfishtool is not installed (./scripts/test installs it)");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), out)
}

#[test]
fn redfishtool_resets_and_sets_boot() {
    let dc = common::start(SCENARIO);
    let (ok, out) = redfishtool(
        &dc,
        "Session",
        &["Systems", "-I", "1", "get", "-P", "PowerState"],
    );
    assert!(ok && out.contains("\"PowerState\": \"On\""), "{out}");
    let (ok, out) = redfishtool(&dc, "Basic", &["Systems", "-I", "1", "reset", "ForceOff"]);
    assert!(ok, "{out}");
    assert!(power_status(&dc).contains("Chassis Power is off"));
    let (ok, out) = redfishtool(
        &dc,
        "Session",
        &["Systems", "-I", "1", "setBootOverride", "Once", "Pxe"],
    );
    assert!(ok, "{out}");
    let (ok, p) = ipmitool(&dc, "admin", "password", "chassis bootparam get 5");
    assert!(
        ok && p.contains("Force PXE") && p.contains("only next boot"),
        "{p}"
    );
    // A reset type the service does not offer is refused; the power
    // stays as it was.
    let (ok, out) = redfishtool(
        &dc,
        "Basic",
        &["Systems", "-I", "1", "reset", "PushPowerButton"],
    );
    assert!(!ok, "{out}");
    assert!(power_status(&dc).contains("Chassis Power is off"));
}

/// DMTF's `redfish-service-validator`, offline against the CSDL bundle in
/// /work/shared/redfish/csdl (or `FAKEDC_REDFISH_CSDL`), over every
/// resource reachable from the service root. Its summary row must show no
/// FAIL and a real number of PASSes.
#[test]
fn service_validator_finds_no_failures() {
    let dc = common::start(SCENARIO);
    let ep = dc
        .endpoint("bmc01", ServiceKind::Redfish)
        .expect("443 endpoint");
    let csdl =
        std::env::var("FAKEDC_REDFISH_CSDL").unwrap_or_else(|_| "/work/shared/redfish/csdl".into());
    assert!(Path::new(&csdl).is_dir(), "no CSDL bundle at {csdl}");
    let logs = std::env::temp_dir().join(format!("fakedc-rfval-{}", std::process::id()));
    let o = Command::new("rf_service_validator")
        .args([
            "--ip",
            &format!("https://{ep}"),
            "-u",
            "admin",
            "-p",
            "password",
        ])
        .args(["--schema_directory", &csdl])
        .arg("--logdir")
        .arg(&logs)
        .env("NO_PROXY", "*")
        .stdin(Stdio::null())
        .output()
        .expect("rf_service_validator is not installed (./scripts/test installs it)");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let _ = std::fs::remove_dir_all(&logs);
    // The row after "| PASS | WARN | FAIL | NOT TESTED |".
    let row: Vec<u64> = out
        .lines()
        .skip_while(|l| !l.contains("PASS"))
        .nth(2)
        .unwrap_or_default()
        .split('|')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    assert_eq!(row.len(), 4, "no summary row: {out}");
    assert_eq!(row[2], 0, "validator failures: {out}");
    assert!(row[0] >= 150, "too few properties checked: {out}");
}

/// DMTF's `redfish-protocol-validator` (DSP0266 assertions: URIs, methods,
/// headers, sessions, errors, security), verifying the scenario CA. Its
/// summary must show no FAIL and a real number of PASSes.
#[test]
fn protocol_validator_finds_no_failures() {
    let dc = common::start(SCENARIO);
    let ep = dc
        .endpoint("bmc01", ServiceKind::Redfish)
        .expect("443 endpoint");
    let ca = ca_file(&dc, "redfish-protocol");
    let dir = std::env::temp_dir().join(format!("fakedc-rfproto-{}", std::process::id()));
    let o = Command::new("rf_protocol_validator")
        .args([
            "-r",
            &format!("https://{ep}"),
            "-u",
            "admin",
            "-p",
            "password",
        ])
        .arg("--ca-bundle")
        .arg(&ca)
        .arg("--report-dir")
        .arg(&dir)
        // requests lets these override the CA bundle the validator passes.
        .env_remove("REQUESTS_CA_BUNDLE")
        .env_remove("CURL_CA_BUNDLE")
        .env("NO_PROXY", "*")
        .stdin(Stdio::null())
        .output()
        .expect("rf_protocol_validator is not installed (./scripts/test installs it)");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let failures: Vec<String> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "tsv"))
        .flat_map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap_or_default()
                .lines()
                .filter(|l| l.split('\t').nth(4) == Some("FAIL"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    let summary = line(&out, "Summary -");
    assert!(
        summary.contains("FAIL: 0,"),
        "{out}\n{}",
        failures.join("\n")
    );
    let pass: u64 = summary
        .split_once("PASS: ")
        .and_then(|p| p.1.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(pass >= 250, "{summary}");
}

/// `fakedc check` probes Redfish beside SMASH on the BMC's 443, and every
/// Redfish request is journaled with its user, never its password.
#[test]
fn check_probe_and_journal() {
    let dc = common::start(SCENARIO);
    let eps: Vec<_> = dc
        .endpoints()
        .iter()
        .filter(|e| e.service == ServiceKind::Redfish)
        .cloned()
        .collect();
    assert_eq!(eps.len(), 1);
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (creds, want) in [
        (None, "Redfish 1.17.0; Systems need credentials"),
        (
            Some(("admin".to_string(), "password".to_string())),
            "Redfish 1.17.0; Systems listed",
        ),
    ] {
        let opts = fakedc::check::CheckOptions {
            credentials: creds,
            ..Default::default()
        };
        let rows = rt.block_on(fakedc::check::run(&eps, &opts, |_, _| {}));
        let r = rows
            .iter()
            .find(|r| r.service == Some(ServiceKind::Redfish))
            .expect("the 443 row");
        assert_eq!(r.verdict, fakedc::check::Verdict::Verified, "{}", r.detail);
        assert!(r.detail.contains(want), "{}", r.detail);
    }
    let opts = fakedc::check::CheckOptions {
        credentials: Some(("admin".into(), "nope".into())),
        ..Default::default()
    };
    let rows = rt.block_on(fakedc::check::run(&eps, &opts, |_, _| {}));
    assert!(rows.iter().any(|r| r.service == Some(ServiceKind::Redfish)
        && r.detail.contains("Redfish 1.17.0; Basic refused")));

    let ca = ca_file(&dc, "redfish-journal");
    lib(&dc, &ca, "admin", "password", "session", &["system"]);
    let j = dc.journal(&fakedc::Query {
        machine: Some("bmc01".into()),
        ..Default::default()
    });
    assert!(
        j.iter().any(|e| e.operation == "GET /redfish/v1/Systems/1"
            && e.user.as_deref() == Some("admin")
            && e.outcome == "200"),
        "{j:?}"
    );
    assert!(j
        .iter()
        .any(|e| e.operation == "POST /redfish/v1/SessionService/Sessions" && e.outcome == "201"));
    let leaked: Vec<_> = j
        .iter()
        .filter(|e| {
            let t = serde_json::to_string(e).unwrap();
            // The wrong password check tried, and Redfish's own entries.
            t.contains("nope") || (e.operation.contains("/redfish") && t.contains("password"))
        })
        .collect();
    assert!(leaked.is_empty(), "{leaked:?}");
}

/// The SEL through Redfish is the SEL `ipmitool sel list` reads, entry for
/// entry; the sensors are the ones `ipmitool sdr` lists.
#[test]
fn sel_entries_and_sensors_match_ipmitool() {
    let dc = common::start(SCENARIO);
    dc.power("hv01", PowerAction::Nmi).unwrap();
    let ca = ca_file(&dc, "redfish-sel");
    let out = lib(&dc, &ca, "admin", "password", "basic", &["sel"]);
    assert_eq!(line(&out, "STATUS"), "200", "{out}");
    let (ok, sel) = ipmitool(&dc, "admin", "password", "sel list");
    assert!(ok, "{sel}");
    let ipmi_count = sel.lines().filter(|l| l.contains(" | ")).count();
    assert_eq!(line(&out, "COUNT"), ipmi_count.to_string(), "{out}\n{sel}");
    assert!(
        lines(&out, "ENTRY")
            .iter()
            .any(|e| e.ends_with("Critical Diagnostic interrupt (NMI)")),
        "{out}"
    );
    let (ok, sdr) = ipmitool(&dc, "admin", "password", "sdr list");
    assert!(ok, "{sdr}");
    let sensors = lines(&out, "SENSOR");
    assert!(!sensors.is_empty(), "{out}");
    for s in &sensors {
        let name = s.split(" = ").next().unwrap();
        assert!(sdr.contains(name), "{name} not in ipmitool sdr: {sdr}");
    }
}

/// An account created through AccountService is a BMC user: ipmitool logs
/// in with it at once; deleted, it is gone for IPMI too.
#[test]
fn account_created_and_deleted_is_seen_by_ipmitool() {
    let dc = common::start(SCENARIO);
    let ca = ca_file(&dc, "redfish-accounts");
    let (ok, _) = ipmitool(&dc, "newadm", "NewPass-1", "chassis power status");
    assert!(!ok, "no such user yet");
    let args = ["create-account", "newadm", "NewPass-1", "Administrator"];
    let out = lib(&dc, &ca, "admin", "password", "basic", &args);
    assert_eq!(line(&out, "STATUS"), "201", "{out}");
    assert!(
        line(&out, "LOCATION").starts_with("/redfish/v1/AccountService/Accounts/"),
        "{out}"
    );
    assert_eq!(line(&out, "ROLE"), "Administrator", "{out}");
    // The same name again is refused (409 ResourceAlreadyExists).
    assert_eq!(line(&out, "AGAIN"), "409", "{out}");
    let (ok, status) = ipmitool(&dc, "newadm", "NewPass-1", "chassis power status");
    assert!(ok && status.contains("Chassis Power is on"), "{status}");
    // A read-only account cannot create one.
    let out = lib(&dc, &ca, "user", "user", "basic", &args);
    assert_eq!(line(&out, "STATUS"), "403", "{out}");

    let out = lib(
        &dc,
        &ca,
        "admin",
        "password",
        "basic",
        &["delete-account", "newadm"],
    );
    assert_eq!(line(&out, "STATUS"), "204", "{out}");
    let (ok, out) = ipmitool(&dc, "newadm", "NewPass-1", "chassis power status");
    assert!(!ok, "{out}");
}

/// VirtualMedia on the manager: an image inserted through the DMTF
/// library is what a one-time CD boot then boots from (ipmitool sees the
/// CD override); ejected, the drive is empty.
#[test]
fn virtual_media_insert_boot_and_eject() {
    let dc = common::start(SCENARIO);
    let ca = ca_file(&dc, "redfish-media");
    let image = "http://127.0.0.1:8080/images/install.iso";
    let out = lib(
        &dc,
        &ca,
        "admin",
        "password",
        "session",
        &["media", "insert", image],
    );
    assert_eq!(line(&out, "MEDIA_TYPES"), "CD,DVD", "{out}");
    assert_eq!(line(&out, "STATUS"), "204", "{out}");
    assert_eq!(line(&out, "IMAGE"), image, "{out}");
    assert_eq!(line(&out, "INSERTED"), "True", "{out}");
    assert_eq!(line(&out, "CONNECTED_VIA"), "URI", "{out}");
    // An image outside the datacenter: fakedc never leaves loopback.
    let out = lib(
        &dc,
        &ca,
        "admin",
        "password",
        "basic",
        &["media", "insert", "http://203.0.113.9/x.iso"],
    );
    assert_eq!(
        line(&out, "MESSAGEID"),
        "Base.1.10.CouldNotEstablishConnection",
        "{out}"
    );

    let out = lib(
        &dc,
        &ca,
        "admin",
        "password",
        "basic",
        &["boot", "Cd", "Once"],
    );
    assert_eq!(line(&out, "STATUS"), "200", "{out}");
    let (ok, param) = ipmitool(&dc, "admin", "password", "chassis bootparam get 5");
    assert!(ok && param.contains("CD/DVD"), "{param}");
    let out = lib(
        &dc,
        &ca,
        "admin",
        "password",
        "basic",
        &["reset", "ForceRestart"],
    );
    assert_eq!(line(&out, "STATUS"), "204", "{out}");
    let c = dc.model().chassis(
        dc.model().find("hv01").unwrap().chassis,
        dc.model().clock.now(),
    );
    assert_eq!(c.last_boot_device, fakedc::BootDevice::Cdrom);
    assert_eq!(c.booted_media.as_deref(), Some(image));

    let out = lib(&dc, &ca, "admin", "password", "basic", &["media", "eject"]);
    assert_eq!(line(&out, "STATUS"), "204", "{out}");
    assert_eq!(line(&out, "IMAGE"), "None", "{out}");
    assert_eq!(line(&out, "INSERTED"), "False", "{out}");
}

/// Starts `tests/python/redfish_events.py`, an HTTP event destination on
/// loopback, and returns it with its port.
fn event_sink(count: u32) -> (std::process::Child, u16) {
    use std::io::BufRead;
    let mut child = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/redfish_events.py"))
        .args([&count.to_string(), "20"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    let port = first.trim().strip_prefix("PORT ").unwrap().parse().unwrap();
    (child, port)
}

/// EventService: a subscription made with the DMTF library receives a
/// `ResourcePoweredOff` event, with its Context, when ipmitool powers the
/// host off, and the test event `SubmitTestEvent` describes.
#[test]
fn subscription_receives_an_ipmitool_power_off_and_a_test_event() {
    let dc = common::start(SCENARIO);
    let ca = ca_file(&dc, "redfish-events");
    let (child, port) = event_sink(3);
    let dest = format!("http://127.0.0.1:{port}/events");
    let out = lib(
        &dc,
        &ca,
        "admin",
        "password",
        "session",
        &["subscribe", &dest, "fakedc-ctx"],
    );
    assert_eq!(line(&out, "STATUS"), "201", "{out}");
    assert!(
        line(&out, "SUBSCRIPTION").starts_with("/redfish/v1/EventService/Subscriptions/"),
        "{out}"
    );
    let (ok, off) = ipmitool(&dc, "admin", "password", "chassis power off");
    assert!(ok, "{off}");
    let out = lib(
        &dc,
        &ca,
        "admin",
        "password",
        "basic",
        &["test-event", "ResourceEvent.1.4.3.ResourceChanged"],
    );
    assert_eq!(line(&out, "STATUS"), "204", "{out}");
    let got = child.wait_with_output().unwrap();
    let got = String::from_utf8_lossy(&got.stdout).into_owned();
    let events: Vec<serde_json::Value> = lines(&got, "EVENT")
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e["Events"][0]["MessageId"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"ResourceEvent.1.4.3.ResourcePoweredOff"),
        "{got}"
    );
    assert!(
        ids.contains(&"ResourceEvent.1.4.3.ResourceChanged"),
        "{got}"
    );
    assert!(events.iter().all(|e| e["Context"] == "fakedc-ctx"), "{got}");
    let off = events
        .iter()
        .find(|e| e["Events"][0]["MessageId"] == "ResourceEvent.1.4.3.ResourcePoweredOff")
        .unwrap();
    assert_eq!(
        off["Events"][0]["OriginOfCondition"]["@odata.id"],
        "/redfish/v1/Systems/1"
    );
    assert_eq!(line(&got, "CONTENT_TYPE"), "application/json");
}

/// Server-Sent Events with `curl -N`: a stream filtered on the power-off
/// message receives the event for a power-off made by ipmitool, and
/// nothing it filtered out; no credentials, no stream.
#[test]
fn sse_stream_sees_an_ipmitool_power_off() {
    use std::io::Read;
    let dc = common::start(SCENARIO);
    let ca = ca_file(&dc, "redfish-sse");
    let ep = dc.endpoint("bmc01", ServiceKind::Redfish).unwrap();
    let url = format!(
        "https://{ep}/redfish/v1/EventService/SSE?$filter=MessageId%20eq%20%27ResourceEvent.ResourcePoweredOff%27"
    );
    let curl = |auth: &[&str], max: &str| {
        Command::new("curl")
            .args(["-sS", "-N", "--noproxy", "*", "--cacert"])
            .arg(&ca)
            .args(auth)
            .args([
                "--max-time",
                max,
                "-w",
                "\nHTTP %{http_code} %{content_type}\n",
            ])
            .arg(&url)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("curl is not installed")
    };
    let anon = curl(&[], "5").wait_with_output().unwrap();
    let anon = String::from_utf8_lossy(&anon.stdout).into_owned();
    assert!(anon.contains("HTTP 401"), "{anon}");

    let mut child = curl(&["-u", "admin:password"], "6");
    // Let the stream open, then power off through IPMI (and NMI, which the
    // filter leaves out).
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let (ok, out) = ipmitool(&dc, "admin", "password", "chassis power diag");
    assert!(ok, "{out}");
    let (ok, out) = ipmitool(&dc, "admin", "password", "chassis power off");
    assert!(ok, "{out}");
    let mut s = String::new();
    child.stdout.take().unwrap().read_to_string(&mut s).unwrap();
    let _ = child.wait();
    assert!(s.contains("HTTP 200 text/event-stream"), "{s}");
    let data: Vec<serde_json::Value> = s
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(data.len(), 1, "{s}");
    assert_eq!(
        data[0]["Events"][0]["MessageId"], "ResourceEvent.1.4.3.ResourcePoweredOff",
        "{s}"
    );
    assert!(s.lines().any(|l| l.starts_with("id: ")), "{s}");
}

/// $select, $expand and $top through the DMTF library.
#[test]
fn query_parameters_select_expand_and_page() {
    let dc = common::start(SCENARIO);
    let ca = ca_file(&dc, "redfish-query");
    let get = |q: &str| {
        let out = lib(&dc, &ca, "admin", "password", "basic", &["get", q]);
        let body: serde_json::Value = serde_json::from_str(line(&out, "BODY")).unwrap();
        (line(&out, "STATUS").to_string(), body)
    };
    let (s, v) = get("/redfish/v1/Systems/1?$select=PowerState,Boot/BootSourceOverrideTarget");
    assert_eq!(s, "200");
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["@odata.id", "@odata.type", "Boot", "PowerState"],
        "{v}"
    );
    assert_eq!(v["Boot"].as_object().unwrap().len(), 1, "{v}");
    let (s, v) = get("/redfish/v1/Systems?$expand=.");
    assert_eq!(s, "200");
    assert_eq!(v["Members"][0]["PowerState"], "On", "{v}");
    let (s, v) = get("/redfish/v1/AccountService/Accounts?$top=1&$skip=1");
    assert_eq!(s, "200");
    assert_eq!(v["Members@odata.count"], 3, "{v}");
    assert_eq!(v["Members"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(
        v["Members@odata.nextLink"],
        "/redfish/v1/AccountService/Accounts?$skip=2&$top=1"
    );
    let (s, v) = get("/redfish/v1/Systems?$filter=PowerState%20eq%20%27On%27");
    assert_eq!(s, "501", "{v}");
}

/// The inventory an inspection reads (Ironic through sushy, Ansible's
/// GetSystemInventory), walked by links with DMTF's `redfish` library:
/// CPUs and memory from the chassis (here set through the older
/// `[machine.options.smash]` spelling; what SMASH's CIM_Processor and
/// CIM_Memory say), two threads per core, NICs and disks from
/// `[machine.options.redfish]`; an ipmitool power-off takes the links
/// down and the CPUs' operating speed to 0.
#[test]
fn inventory_is_read_by_the_dmtf_library() {
    let scenario = format!(
        "{SCENARIO}
[machine.options.smash]
cpus = 1
cores_per_cpu = 12
cpu_mhz = 2100
memory_gib = 96

[machine.options.redfish]
nics = 3
disks_gb = [480, 1920]
"
    );
    let dc = common::start(&scenario);
    let ca = ca_file(&dc, "redfish-inventory");
    let out = lib(&dc, &ca, "admin", "password", "session", &["inventory"]);
    assert_eq!(line(&out, "SUMMARY"), "1 24 96", "{out}");
    assert_eq!(
        line(&out, "CPU_MODEL"),
        "Intel(R) Xeon(R) CPU 12C @ 2.10GHz",
        "{out}"
    );
    assert_eq!(
        lines(&out, "PROCESSOR"),
        ["CPU1 12 24 2100 2100 x86 x86-64"],
        "{out}"
    );
    // 96 GiB over one socket's 8 slots: 8 x 12 GiB.
    assert_eq!(line(&out, "DIMMS"), format!("8 {}", 96 * 1024), "{out}");
    let nics = lines(&out, "NIC");
    assert_eq!(nics.len(), 3, "{out}");
    let mut macs: Vec<&str> = Vec::new();
    for (i, n) in nics.iter().enumerate() {
        let f: Vec<&str> = n.split(' ').collect();
        assert_eq!(f[0], format!("NIC{}", i + 1), "{out}");
        let mac = f[1];
        assert!(
            mac.len() == 17
                && mac.starts_with("02:")
                && mac
                    .split(':')
                    .all(|b| b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit())),
            "{out}"
        );
        assert_eq!(&f[2..], ["LinkUp", "Enabled"], "{out}");
        macs.push(mac);
    }
    macs.sort_unstable();
    macs.dedup();
    assert_eq!(macs.len(), 3, "MAC addresses repeat: {out}");
    let drives = lines(&out, "DRIVE");
    assert_eq!(drives.len(), 2, "{out}");
    assert!(
        drives[0].starts_with("Disk1 480000000000 SSD SATA "),
        "{out}"
    );
    assert!(
        drives[1].starts_with("Disk2 1920000000000 SSD SATA "),
        "{out}"
    );
    assert_eq!(
        lines(&out, "DEVICE"),
        ["Disk 1 480000000000", "Disk 2 1920000000000"],
        "{out}"
    );
    assert_eq!(line(&out, "BIOS"), "Uefi", "{out}");
    // Its attribute registry, through Registries: read-only, with values.
    let attrs = lines(&out, "BIOS_ATTR");
    assert_eq!(attrs.len(), 5, "{out}");
    assert!(
        attrs.contains(&"BootMode Enumeration True Uefi,Bios"),
        "{out}"
    );
    assert!(attrs.contains(&"ProcCoresEnabled Integer True"), "{out}");
    assert_eq!(line(&out, "BIOS_PATCH"), "405", "{out}");
    assert_eq!(line(&out, "MISSING"), "404", "{out}");

    // The same MACs on the next read; the host off: links down, CPUs at 0.
    let (ok, o) = ipmitool(&dc, "admin", "password", "chassis power off");
    assert!(ok, "{o}");
    let off = lib(&dc, &ca, "admin", "password", "basic", &["inventory"]);
    assert_eq!(
        lines(&off, "PROCESSOR"),
        ["CPU1 12 24 2100 0 x86 x86-64"],
        "{off}"
    );
    for (before, after) in nics.iter().zip(lines(&off, "NIC")) {
        let mac = before.split(' ').nth(1).unwrap();
        assert!(after.contains(mac) && after.contains("LinkDown"), "{off}");
    }
    // A bad table is refused at load, naming the key.
    let bad = format!("{SCENARIO}\n[machine.options.redfish]\nnics = 99\n");
    let e = fakedc::Datacenter::builder()
        .scenario_str(&bad)
        .ephemeral()
        .start()
        .err()
        .expect("nics = 99 refused")
        .to_string();
    assert!(e.contains("options.redfish") && e.contains("nics"), "{e}");
}

/// A one-file HTTP server on loopback standing in for a share's web
/// server: `/fw/<name>` answers 200 with a small image, anything else 404.
/// Returns the port and a counter of the image requests served.
fn firmware_server() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).into_owned();
            let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
            let resp: Vec<u8> = if path.starts_with("/fw/") {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let body = vec![0xA5u8; 64 * 1024];
                let mut r = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                r.extend_from_slice(&body);
                r
            } else {
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
            };
            let _ = s.write_all(&resp);
        }
    });
    (port, served)
}

/// `UpdateService.SimpleUpdate` with DMTF's library: 202 and a task
/// monitor, polled (202 while running) until the update's final answer;
/// the task says Completed with the Update registry's messages, the
/// firmware inventory shows the image's version, and so does ipmitool's
/// Get Device ID (the BMC's firmware is the chassis's). A missing image
/// ends its task in Exception with TransferFailed.
#[test]
fn simple_update_task_is_seen_by_ipmitool() {
    let scenario = format!("{SCENARIO}\n[machine.options.redfish]\nupdate_ms = 1500\n");
    let dc = common::start(&scenario);
    let ca = ca_file(&dc, "redfish-update");
    let (port, served) = firmware_server();
    let (ok, before) = ipmitool(&dc, "admin", "password", "mc info");
    assert!(ok, "{before}");
    assert!(
        !before.contains("Firmware Revision         : 9.42"),
        "{before}"
    );
    // No scheme in ImageURI: TransferProtocol's, as DSP0266 says.
    let image = format!("127.0.0.1:{port}/fw/bmc-9.42.01.bin");
    let out = lib(
        &dc,
        &ca,
        "admin",
        "password",
        "session",
        &["update", &image],
    );
    assert_eq!(line(&out, "STATUS"), "202", "{out}");
    assert!(
        line(&out, "MONITOR").starts_with("/redfish/v1/TaskService/TaskMonitors/"),
        "{out}"
    );
    assert!(line(&out, "RUNNING").starts_with("Running "), "{out}");
    assert_eq!(line(&out, "FINAL"), "204", "{out}");
    assert_eq!(line(&out, "TASK"), "Completed 100", "{out}");
    let msgs = lines(&out, "TASK_MESSAGE");
    assert_eq!(
        msgs.first().copied(),
        Some("TaskEvent.1.0.TaskStarted"),
        "{out}"
    );
    assert!(msgs.contains(&"Update.1.0.UpdateSuccessful"), "{out}");
    assert_eq!(
        msgs.last().copied(),
        Some("TaskEvent.1.0.TaskCompletedOK"),
        "{out}"
    );
    assert!(lines(&out, "FIRMWARE").contains(&"BMC 9.42.01"), "{out}");
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 1);
    let (ok, after) = ipmitool(&dc, "admin", "password", "mc info");
    assert!(ok, "{after}");
    assert!(
        after.contains("Firmware Revision         : 9.42"),
        "{after}"
    );

    // The image is not there: the transfer fails, the task says so.
    let missing = format!("http://127.0.0.1:{port}/gone/bmc-9.50.bin");
    let out = lib(
        &dc,
        &ca,
        "admin",
        "password",
        "basic",
        &["update", &missing],
    );
    assert_eq!(line(&out, "FINAL"), "500", "{out}");
    assert!(
        lines(&out, "MESSAGEID").contains(&"Update.1.0.TransferFailed"),
        "{out}"
    );
    assert_eq!(line(&out, "TASK"), "Exception 100", "{out}");
    assert!(lines(&out, "FIRMWARE").contains(&"BMC 9.42.01"), "{out}");
    // Outside the datacenter: refused before any task starts.
    let out = lib(
        &dc,
        &ca,
        "admin",
        "password",
        "basic",
        &["update", "http://example.com/bmc-1.0.bin"],
    );
    assert_eq!(line(&out, "STATUS"), "400", "{out}");
    assert_eq!(
        line(&out, "MESSAGEID"),
        "Base.1.10.CouldNotEstablishConnection",
        "{out}"
    );
}

/// PowerSubsystem, ThermalSubsystem (fans, thermal metrics),
/// EnvironmentMetrics and the deprecated Power through DMTF's library,
/// cross-checked reading by reading with `ipmitool sdr get` (one set of
/// sensors); a power-off takes the fans' readings away on both sides.
#[test]
fn environment_readings_match_ipmitool() {
    let dc = common::start(SCENARIO);
    let ca = ca_file(&dc, "redfish-environment");
    let out = lib(&dc, &ca, "admin", "password", "basic", &["environment"]);
    assert_eq!(line(&out, "STATUS"), "200", "{out}");
    let sdr_value = |name: &str| -> Option<f64> {
        let (ok, o) = ipmitool_args(&dc, "admin", "password", &["sdr", "get", name]);
        assert!(ok, "{o}");
        let l = o.lines().find(|l| l.contains("Sensor Reading"))?;
        l.split(':').nth(1)?.split_whitespace().next()?.parse().ok()
    };
    // ipmitool's reading is the raw byte converted back: within a step.
    let close = |a: f64, b: f64, tol: f64| (a - b).abs() <= tol;
    let temps = lines(&out, "TEMP");
    assert!(!temps.is_empty(), "{out}");
    for t in &temps {
        // "Inlet Temp = 24.0 24.0": the metric's excerpt and the sensor.
        let (name, rest) = t.split_once(" = ").unwrap();
        let v: Vec<f64> = rest.split(' ').map(|x| x.parse().unwrap()).collect();
        assert_eq!(v[0], v[1], "{out}");
        let ipmi = sdr_value(name).unwrap_or_else(|| panic!("no ipmitool reading for {name}"));
        assert!(
            close(v[0], ipmi, 1.0),
            "{name}: redfish {} ipmitool {ipmi}",
            v[0]
        );
    }
    let fans = lines(&out, "FAN");
    assert!(!fans.is_empty(), "{out}");
    for f in &fans {
        let (name, rest) = f.split_once(" = ").unwrap();
        let rpm: f64 = rest.split(' ').next().unwrap().parse().unwrap();
        let ipmi = sdr_value(name).unwrap();
        assert!(
            close(rpm, ipmi, 100.0),
            "{name}: redfish {rpm} ipmitool {ipmi}"
        );
    }
    let watts: f64 = line(&out, "POWER_WATTS").parse().unwrap();
    assert!(watts > 0.0, "{out}");
    assert!(!lines(&out, "VOLTS").is_empty(), "{out}");
    let (ok, o) = ipmitool(&dc, "admin", "password", "chassis power off");
    assert!(ok, "{o}");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let out = lib(&dc, &ca, "admin", "password", "basic", &["environment"]);
    for f in lines(&out, "FAN") {
        assert!(f.ends_with("= None StandbyOffline"), "{out}");
    }
    let (ok, o) = ipmitool(&dc, "admin", "password", "sdr get Fan1");
    assert!(ok || o.contains("No Reading"), "{o}");
    assert!(o.contains("No Reading") || o.contains("Unavailable"), "{o}");
}
