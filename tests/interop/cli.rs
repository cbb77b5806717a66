//! The `fakedc` binary: up / list / check / scenario validate / certs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn fakedc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fakedc"))
}

#[test]
fn list_shows_every_row_of_the_five_tables() {
    let out = fakedc().arg("list").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for title in fakedc_model::table::TABLES {
        assert!(
            text.contains(&format!("== {title} ==")),
            "missing table {title}"
        );
    }
    for row in fakedc_model::table::ROWS {
        assert!(text.contains(row.peer), "missing row {}", row.peer);
    }
    assert!(text.contains("bmc01 127.10.1.20:623"), "{text}");
    assert!(text.contains("n/a (no network port)"));
    let shifted = fakedc()
        .args(["list", "--port-offset", "10000"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&shifted.stdout).contains("bmc01 127.10.1.20:10623"));
}

#[test]
fn validate_reports_file_line_and_problem() {
    let dir = std::env::temp_dir().join(format!("fakedc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        ("role = \"hyperv\"", "3:8", "unknown role 'hyperv'"),
        ("bmc = \"nope\"", "5:7", "bmc 'nope' is not defined"),
    ];
    for (i, (line, pos, msg)) in cases.iter().enumerate() {
        let text = format!(
            "[[machine]]\nname = \"hv01\"\n{}\naddress = \"127.9.0.1\"\n{}\n",
            if line.starts_with("role") {
                *line
            } else {
                "role = \"hyperv-host\""
            },
            if line.starts_with("bmc") { *line } else { "" }
        );
        let f = dir.join(format!("s{i}.toml"));
        std::fs::write(&f, text).unwrap();
        let out = fakedc()
            .args(["scenario", "validate", f.to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("s{i}.toml:{pos}: ")), "{err}");
        assert!(err.contains(msg), "{err}");
    }
    let ok = fakedc()
        .args(["scenario", "validate", "fleet-500"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&ok.stdout).contains("1000 machines"));
}

#[test]
fn up_prints_ready_writes_endpoints_and_stops_on_sigterm() {
    let dir = std::env::temp_dir().join(format!("fakedc-up-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let eps = dir.join("endpoints.json");
    let mut child = fakedc()
        .args([
            "up",
            "--ephemeral",
            // WinRM, BITS, SMASH and SSH deliberately left unserved: their
            // rows must say so (whatever this build implements).
            "--protocols",
            "ipmi",
            "--endpoints-file",
            eps.to_str().unwrap(),
            "--control",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let ready = line.starts_with("ready");
        seen.push(line);
        if ready {
            break;
        }
    }
    assert!(
        seen.last().is_some_and(|l| l.starts_with("ready")),
        "{seen:?}"
    );
    let table = seen.join("\n");
    assert!(table.contains("not served"), "unserved services say so");
    let map: Vec<fakedc::EndpointInfo> =
        serde_json::from_slice(&std::fs::read(&eps).unwrap()).unwrap();
    let winrm = map
        .iter()
        .find(|e| e.service == fakedc::ServiceKind::WinrmHttp)
        .expect("a WinRM endpoint");
    assert!(!winrm.served, "{winrm:?}");
    assert!(map
        .iter()
        .any(|e| e.service == fakedc::ServiceKind::Ipmi && e.served));
    for e in map.iter().filter(|e| e.served) {
        assert_ne!(e.port, 0);
    }

    // check against the running up, through its endpoints file.
    let out = fakedc()
        .args(["check", "--endpoints-file", eps.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let results: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = results.as_array().unwrap();
    assert!(rows.len() >= fakedc_model::table::ROWS.len());
    assert!(rows
        .iter()
        .any(|r| r["verdict"] == "not-served" && r["service"] == "winrm-http"));
    assert!(rows
        .iter()
        .any(|r| r["verdict"] == "verified" && r["service"] == "ipmi"));
    assert!(rows.iter().any(|r| r["verdict"] == "no-port"));
    assert_eq!(out.status.code(), Some(1), "not every row is verified yet");

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn check_probes_a_host_by_address_and_role() {
    // A running fakedc stands in for a real BMC: check --host knows nothing
    // of the scenario, only the address, the role and the port shift.
    let offset = 20_000 + (std::process::id() % 20_000) as u16;
    let mut child = fakedc()
        .args([
            "up",
            "bmc-lab",
            "--port-offset",
            &offset.to_string(),
            "--no-control",
            "--certs",
        ])
        .arg(std::env::temp_dir().join(format!("fakedc-cli-certs-{}", std::process::id())))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_ready(&mut child);
    let out = fakedc()
        .args([
            "check",
            "--host",
            "127.11.1.1",
            "--role",
            "bmc",
            "--port-offset",
            &offset.to_string(),
        ])
        .args(["--user", "admin", "--password", "password", "--json"])
        .output()
        .unwrap();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ipmi = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["service"] == "ipmi")
        .unwrap();
    assert_eq!(ipmi["verdict"], "verified", "{ipmi}");
    assert!(
        ipmi["detail"]
            .as_str()
            .unwrap()
            .contains("session (suite 17) ok"),
        "{ipmi}"
    );
    // SMASH on 443: anonymous Identify, then the registered profiles.
    let smash = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["service"] == "smash")
        .unwrap();
    assert_eq!(smash["verdict"], "verified", "{smash}");
    assert!(
        smash["detail"].as_str().unwrap().contains("Base Server"),
        "{smash}"
    );
}

#[test]
fn a_privileged_port_without_permission_fails_fast_naming_port_and_fixes() {
    let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    let bin = env!("CARGO_BIN_EXE_fakedc");
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            bin,
        ]);
        c
    } else {
        Command::new(bin)
    };
    let certs = std::env::temp_dir().join(format!("fakedc-nobody-{}", std::process::id()));
    std::fs::create_dir_all(&certs).unwrap();
    let _ = Command::new("chmod").arg("777").arg(&certs).status();
    // A data directory the unprivileged user may write, so the first
    // thing it cannot do is bind the port.
    let data = certs.join("data");
    let out = cmd
        .args(["up", "bmc-lab", "--no-control", "--certs"])
        .arg(&certs)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    // The first privileged port bmc-lab binds: WinRM's 80 on its Hyper-V
    // hosts (623 when only the BMCs are served).
    assert!(
        ["80", "443", "623"]
            .iter()
            .any(|p| err.contains(&format!("permission denied for port {p} "))),
        "{err}"
    );
    assert!(
        err.contains("--port-offset") && err.contains("CAP_NET_BIND_SERVICE"),
        "{err}"
    );
}

#[test]
fn journal_file_gets_one_json_line_per_operation() {
    let dir = std::env::temp_dir().join(format!("fakedc-journal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let journal = dir.join("journal.jsonl");
    let eps = dir.join("endpoints.json");
    let mut child = fakedc()
        .args([
            "up",
            "bmc-lab",
            "--ephemeral",
            "--no-control",
            "--journal",
            journal.to_str().unwrap(),
        ])
        .args(["--endpoints-file", eps.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_ready(&mut child);
    let out = fakedc()
        .args([
            "check",
            "--endpoints-file",
            eps.to_str().unwrap(),
            "--user",
            "admin",
            "--password",
            "password",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("verified"));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let text = std::fs::read_to_string(&journal).unwrap();
    let entries: Vec<fakedc::Entry> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(entries
        .iter()
        .any(|e| e.machine == "srv1-bmc" && e.operation == "ASF Presence Ping"));
    assert!(entries
        .iter()
        .any(|e| e.operation == "Get Device ID" && e.user.as_deref() == Some("admin")));
    assert!(
        !text.contains("\"password\""),
        "credentials never reach the journal"
    );
}

/// `check --start` logs each row in as its own machine's administrator from
/// the scenario (BMC admin, Windows Administrator, ESXi root): every built
/// row is verified past the login. `--anonymous` stops at what a stranger
/// sees.
#[test]
fn check_logs_each_row_in_with_its_machines_own_credentials() {
    let run = |extra: &[&str]| -> Vec<serde_json::Value> {
        let out = fakedc()
            .args(["check", "--start", "--json"])
            .args(extra)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v.as_array().unwrap().clone()
    };
    let detail = |rows: &[serde_json::Value], service: &str| -> String {
        let r = rows
            .iter()
            .find(|r| r["service"] == service)
            .unwrap_or_else(|| panic!("no {service} row"));
        assert_eq!(r["verdict"], "verified", "{r}");
        r["detail"].as_str().unwrap().to_string()
    };
    let rows = run(&[]);
    for r in &rows {
        assert!(
            ["verified", "not-served", "no-port"].contains(&r["verdict"].as_str().unwrap()),
            "{r}"
        );
    }
    assert!(detail(&rows, "ipmi").contains("session (suite 17) ok"));
    assert!(detail(&rows, "winrm-http").contains("NTLM-sealed Enumerate OK"));
    assert!(detail(&rows, "ssh").contains("logged in"));
    assert!(detail(&rows, "sftp").contains("logged in"));
    assert!(detail(&rows, "smash").contains("Base Server"));
    let rows = run(&["--anonymous"]);
    assert!(!detail(&rows, "ipmi").contains("session"));
    assert!(!detail(&rows, "ssh").contains("logged in"));
    assert!(detail(&rows, "smash").contains("need credentials"));
}

/// Reads a running `fakedc up`'s stdout up to its `ready` line.
fn wait_ready(child: &mut std::process::Child) {
    let stdout = child.stdout.take().unwrap();
    for line in BufReader::new(stdout).lines() {
        if line.unwrap().starts_with("ready") {
            break;
        }
    }
}
