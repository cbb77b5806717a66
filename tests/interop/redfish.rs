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
        .args(cmd.split_whitespace())
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
        (None, "redfish: Redfish 1.17.0; Systems need credentials"),
        (
            Some(("admin".to_string(), "password".to_string())),
            "redfish: Redfish 1.17.0; Systems listed",
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
    assert!(rows
        .iter()
        .any(|r| r.detail.contains("redfish: Redfish 1.17.0; Basic refused")));

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
