//! PowerShell remoting (MS-PSRP) with the real client: pypsrp's
//! `RunspacePool`/`PowerShell` API against a Hyper-V host's
//! `.../powershell/Microsoft.PowerShell` shell, over Basic on HTTPS and
//! over NTLM with message encryption on HTTP. Hostile PSRP data on a live
//! pool gets WS-Man faults and the pool keeps serving. A missing client
//! fails these tests (`./scripts/test` installs pypsrp).

use fakedc::{Query, ServiceKind};

use crate::common;
use crate::common::{ca_file, line, lines, python as run};

const SCENARIO: &str = r#"
[defaults]
boot_delay_ms = 300
shutdown_delay_ms = 300

[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.82.0.1"
[machine.options.winrm]
psrp_configurations = ["Fabrikam.Jea"]

[[machine.vm]]
name = "web01"
guest = "guest01"
state = "running"

[[machine.vm]]
name = "db01"
state = "off"

[[machine]]
name = "guest01"
role = "vm-guest"
address = "127.82.0.2"
"#;

const USER: &str = "Administrator";
const PASSWORD: &str = "P@ssw0rd!";

fn pypsrp(dc: &fakedc::Datacenter, ssl: bool, auth: &str, steps: &[&str]) -> String {
    let ca = ca_file(dc, &format!("psrp-{auth}-{ssl}-{}", steps.join("-")));
    let kind = if ssl {
        ServiceKind::WinrmHttps
    } else {
        ServiceKind::WinrmHttp
    };
    let ep = dc.endpoint("hv01", kind).expect("endpoint");
    let mut args = vec![
        ep.ip().to_string(),
        ep.port().to_string(),
        if ssl { "1" } else { "0" }.to_string(),
        auth.to_string(),
        USER.to_string(),
        PASSWORD.to_string(),
        ca.to_str().expect("path").to_string(),
    ];
    args.extend(steps.iter().map(|s| s.to_string()));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run("pypsrp", "psrp_pypsrp.py", &a);
    let _ = std::fs::remove_file(ca);
    out
}

/// The pool opens as on Windows (state Opened, protocol 2.3, the
/// `$PSVersionTable` in the application private data), answers
/// GET_AVAILABLE_RUNSPACES and SET_MAX/MIN_RUNSPACES, and closes.
fn assert_pool(out: &str) {
    assert_eq!(line(out, "OPENED"), "2", "{out}");
    assert_eq!(line(out, "PROTOCOL"), "2.3");
    // Windows Server 2019's PowerShell 5.1 (build 17763).
    assert!(
        line(out, "APD_PSVERSION").starts_with("5.1.17763."),
        "{out}"
    );
    assert_eq!(lines(out, "AVAILABLE"), ["1", "3"], "{out}");
    assert_eq!(line(out, "MAX"), "3");
    // A minimum above the maximum is refused (false in
    // RUNSPACE_AVAILABILITY), which pypsrp raises as an error.
    assert_eq!(line(out, "MIN_REFUSED"), "InvalidPSRPOperation", "{out}");
    assert_eq!(line(out, "CLOSED"), "ok");
}

#[test]
fn pypsrp_pool_basic_https_and_hostile_data() {
    let dc = common::start(SCENARIO);
    let out = pypsrp(
        &dc,
        true,
        "basic",
        &["pool", "hostile", "timeout", "unknown_config"],
    );
    assert_pool(&out);
    let hostile = lines(&out, "HOSTILE");
    assert_eq!(hostile.len(), 8, "{out}");
    for h in &hostile {
        // Every one is a WS-Man fault (a WSManFault code), none accepted.
        let code = h.split_whitespace().nth(1).unwrap_or_default();
        assert!(code.parse::<u64>().is_ok(), "{h}");
    }
    assert!(
        hostile
            .iter()
            .any(|h| h.starts_with("public_key") && h.contains("PUBLIC_KEY is not implemented")),
        "{out}"
    );
    assert!(
        hostile
            .iter()
            .any(|h| h.starts_with("unknown_type") && h.contains("0x00049999")),
        "{out}"
    );
    // The pool still answers after all of it.
    assert_eq!(line(&out, "HOSTILE_AFTER"), "3");
    // An empty Receive waits its OperationTimeout (1 s), then w:TimedOut.
    let t = line(&out, "TIMEOUT");
    assert!(t.starts_with("2150858793 "), "{out}");
    let waited: f64 = t[11..].parse().expect("seconds");
    assert!((0.9..5.0).contains(&waited), "{out}");
    // A configuration the host has not registered: WinRM's fault.
    assert!(line(&out, "UNKNOWN_CONFIG").parse::<u64>().is_ok(), "{out}");
    // The journal has the pool's life under `psrp`, never the password.
    let j = dc.journal(&Query {
        machine: Some("hv01".into()),
        service: Some("psrp".into()),
        ..Default::default()
    });
    assert!(
        j.iter().any(|e| e.operation.starts_with("psrp open")),
        "{j:?}"
    );
    assert!(
        j.iter().any(|e| e.operation.starts_with("psrp close")),
        "{j:?}"
    );
    let all = serde_json::to_string(&dc.journal(&Query::default())).expect("json");
    assert!(!all.contains(PASSWORD));
}

#[test]
fn pypsrp_pool_ntlm_encrypted_http() {
    let dc = common::start(SCENARIO);
    let out = pypsrp(&dc, false, "ntlm", &["pool"]);
    assert_pool(&out);
}

/// A configuration the scenario registers opens like the default one.
#[test]
fn scenario_configuration_opens() {
    let dc = common::start(SCENARIO);
    let ca = ca_file(&dc, "psrp-jea");
    let ep = dc
        .endpoint("hv01", ServiceKind::WinrmHttps)
        .expect("endpoint");
    let out = run(
        "pypsrp",
        "psrp_config.py",
        &[
            &ep.ip().to_string(),
            &ep.port().to_string(),
            USER,
            PASSWORD,
            ca.to_str().expect("path"),
            "Fabrikam.Jea",
        ],
    );
    let _ = std::fs::remove_file(ca);
    assert_eq!(line(&out, "OPENED"), "2", "{out}");
}
