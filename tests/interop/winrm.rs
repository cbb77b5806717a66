//! pywinrm and pypsrp (the real clients) against fakedc's WinRM: the cmd
//! shell over Basic (HTTP with AllowUnencrypted, HTTPS), NTLM with message
//! encryption (HTTP) and NTLM over HTTPS, wrong passwords, and WMI over
//! pypsrp's `WSMan` (Enumerate, Get, WQL, Invoke RequestStateChange that
//! starts a VM whose guest then answers Identify). A missing client fails
//! these tests; it never skips them (`./scripts/test` installs both).

use fakedc::{Datacenter, Query, ServiceKind};

use crate::common;
use crate::common::{ca_file, line, python as run};

const SCENARIO: &str = r#"
[defaults]
boot_delay_ms = 300
shutdown_delay_ms = 300

# Hyper-V host that allows unencrypted WinRM (Basic over HTTP).
[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.79.0.1"
vendor = "Fabrikam"
model = "FX-9000"
[machine.options.winrm]
allow_unencrypted = true
[[machine.options.winrm.command]]
pattern = "Get-FakeThing*"
stdout = "thing one\nthing two\n"
stderr = "warning: fake\n"
exit_code = 3

[[machine.vm]]
name = "web01"
guest = "guest01"
state = "off"

[[machine]]
name = "guest01"
role = "vm-guest"
address = "127.79.0.2"

# Hyper-V host with Windows' defaults: Basic over HTTP refused, NTLM sealed.
[[machine]]
name = "hv02"
role = "hyperv-host"
address = "127.79.0.3"
[machine.options.winrm]
[[machine.options.winrm.command]]
pattern = "Get-FakeThing*"
stdout = "thing one\nthing two\n"
stderr = "warning: fake\n"
exit_code = 3

[[machine.options.winrm.command]]
pattern = "powershell Get-VM*"
stdout = "Name State\ndb01 Off\n"
stderr = "WARNING: scripted"
exit_code = 0

[[machine.options.winrm.command]]
pattern = "slow-thing"
stdout = "done at last\n"
delay_ms = 2500

[[machine.vm]]
name = "db01"
guest = "guest02"
state = "off"

[[machine]]
name = "guest02"
role = "vm-guest"
address = "127.79.0.4"
"#;

const USER: &str = "Administrator";
const PASSWORD: &str = "P@ssw0rd!";

fn url(dc: &Datacenter, machine: &str, kind: ServiceKind) -> String {
    let a = dc.endpoint(machine, kind).expect("endpoint");
    let scheme = if kind == ServiceKind::WinrmHttps {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{}:{}/wsman", a.ip(), a.port())
}

fn assert_run_cmd(out: &str, ip: &str) {
    assert_eq!(line(out, "IPCONFIG_EXIT"), "0");
    assert!(
        out.contains(&format!(
            "IPv4 Address. . . . . . . . . . . : {ip}(Preferred)"
        )),
        "{out}"
    );
    assert_eq!(line(out, "SCRIPTED_EXIT"), "3");
    assert_eq!(line(out, "SCRIPTED_OUT"), r"'thing one\r\nthing two\r\n'");
    assert_eq!(line(out, "SCRIPTED_ERR"), r"'warning: fake\r\n'");
    assert_eq!(line(out, "UNKNOWN_EXIT"), "1");
    assert!(line(out, "UNKNOWN_ERR")
        .contains("'nosuchcommand' is not recognized as an internal or external command"));
    assert!(out.contains("DONE"));
}

#[test]
fn pywinrm_basic_over_http_with_allow_unencrypted() {
    let dc = common::start(SCENARIO);
    let out = run(
        "winrm",
        "winrm_run_cmd.py",
        &[
            &url(&dc, "hv01", ServiceKind::WinrmHttp),
            "basic",
            USER,
            PASSWORD,
        ],
    );
    assert_run_cmd(&out, "127.79.0.1");
    assert_eq!(line(&out, "HOSTNAME"), "HV01");
    let ops = dc.journal(&Query {
        machine: Some("hv01".into()),
        service: Some("winrm-http".into()),
        operation: Some("Command cmd".into()),
        ..Default::default()
    });
    assert_eq!(ops.len(), 4, "{ops:?}");
    assert!(ops
        .iter()
        .all(|e| e.user.as_deref() == Some(USER) && e.outcome == "ok"));
}

#[test]
fn pywinrm_basic_over_http_is_refused_by_default() {
    let dc = common::start(SCENARIO);
    let out = run(
        "winrm",
        "winrm_run_cmd.py",
        &[
            &url(&dc, "hv02", ServiceKind::WinrmHttp),
            "basic",
            USER,
            PASSWORD,
        ],
    );
    assert!(out.contains("INVALID_CREDENTIALS"), "{out}");
    let refused = dc.journal(&Query {
        machine: Some("hv02".into()),
        operation: Some("auth basic".into()),
        ..Default::default()
    });
    assert!(refused
        .iter()
        .any(|e| e.outcome.contains("AllowUnencrypted")));
}

#[test]
fn pywinrm_ssl_trusting_the_scenario_ca() {
    let dc = common::start(SCENARIO);
    let ca = ca_file(&dc, "ssl");
    let out = run(
        "winrm",
        "winrm_run_cmd.py",
        &[
            &url(&dc, "hv02", ServiceKind::WinrmHttps),
            "ssl",
            USER,
            PASSWORD,
            ca.to_str().expect("path"),
        ],
    );
    assert_run_cmd(&out, "127.79.0.3");
    let _ = std::fs::remove_file(ca);
}

#[test]
fn pywinrm_ntlm_over_http_with_message_encryption() {
    let dc = common::start(SCENARIO);
    let out = run(
        "winrm",
        "winrm_run_cmd.py",
        &[
            &url(&dc, "hv02", ServiceKind::WinrmHttp),
            "ntlm",
            USER,
            PASSWORD,
        ],
    );
    assert_run_cmd(&out, "127.79.0.3");
    // Every operation after the handshake was authenticated by NTLM.
    let auth = dc.journal(&Query {
        machine: Some("hv02".into()),
        operation: Some("auth ntlm".into()),
        ..Default::default()
    });
    assert!(
        auth.iter().any(|e| e.outcome == "authenticated"),
        "{auth:?}"
    );
}

#[test]
fn pywinrm_ntlm_over_https_and_port_80() {
    let dc = common::start(SCENARIO);
    let ca = ca_file(&dc, "ntlm-https");
    let out = run(
        "winrm",
        "winrm_run_cmd.py",
        &[
            &url(&dc, "hv02", ServiceKind::WinrmHttps),
            "ntlm",
            USER,
            PASSWORD,
            ca.to_str().expect("path"),
        ],
    );
    assert_run_cmd(&out, "127.79.0.3");
    let _ = std::fs::remove_file(ca);
    let out = run(
        "winrm",
        "winrm_run_cmd.py",
        &[
            &url(&dc, "hv02", ServiceKind::WinrmHttp80),
            "ntlm",
            USER,
            PASSWORD,
        ],
    );
    assert_run_cmd(&out, "127.79.0.3");
}

/// `run_ps` is `powershell -encodedcommand <UTF-16LE base64>`: fakedc decodes
/// it, runs the built-in statements, answers anything else with PowerShell's
/// CommandNotFoundException in the CLIXML error stream (which pywinrm
/// decodes), and lets scenario rules match the decoded script.
#[test]
fn pywinrm_run_ps_and_the_cmd_environment() {
    let dc = common::start(SCENARIO);
    let out = run(
        "winrm",
        "winrm_run_ps.py",
        &[
            &url(&dc, "hv02", ServiceKind::WinrmHttp),
            "ntlm",
            USER,
            PASSWORD,
        ],
    );
    assert_eq!(line(&out, "PS_EXIT"), "0", "{out}");
    assert_eq!(
        line(&out, "PS_OUT"),
        r"'HV02\r\nhv02\\administrator\r\nPS Administrator\r\n5\r\n'",
        "{out}"
    );
    assert_eq!(line(&out, "PS_ERR"), "''");
    assert_eq!(line(&out, "PSMISSING_EXIT"), "1");
    let err = line(&out, "PSMISSING_ERR");
    assert!(
        err.starts_with(
            "'Get-Frobnicator : The term 'Get-Frobnicator' is not recognized as the name of a cmdlet"
        ) || err.starts_with(
            "\"Get-Frobnicator : The term 'Get-Frobnicator' is not recognized as the name of a cmdlet"
        ),
        "pywinrm decoded the CLIXML error stream: {err}"
    );
    assert!(err.contains("CommandNotFoundException"), "{err}");
    assert_eq!(line(&out, "PSEXIT_EXIT"), "7");
    // cmd.exe's 8,191-character limit, which long run_ps scripts hit.
    assert_eq!(line(&out, "PSLONG_EXIT"), "1");
    assert_eq!(
        line(&out, "PSLONG_ERR"),
        r"'The command line is too long.\r\n'"
    );
    assert_eq!(line(&out, "PSRULE_OUT"), r"'Name State\r\ndb01 Off\r\n'");
    assert_eq!(line(&out, "PSRULE_ERR"), "'WARNING: scripted'");
    assert_eq!(
        line(&out, "ECHOVAR_OUT"),
        r"'HV02 Administrator %NOSUCHVAR%\r\n'"
    );
    assert_eq!(
        line(&out, "SET_OUT"),
        r"'USERDOMAIN=HV02\r\nUSERDOMAIN_ROAMINGPROFILE=HV02\r\nUSERNAME=Administrator\r\nUSERPROFILE=C:\\Users\\Administrator\r\n'"
    );
    assert_eq!(line(&out, "SETMISSING_EXIT"), "1");
    assert_eq!(
        line(&out, "SETMISSING_ERR"),
        r"'Environment variable NOSUCHVAR not defined\r\n'"
    );
}

#[test]
fn pywinrm_wrong_password_is_invalid_credentials() {
    let dc = common::start(SCENARIO);
    for (machine, transport) in [("hv02", "ntlm"), ("hv01", "basic")] {
        let out = run(
            "winrm",
            "winrm_run_cmd.py",
            &[
                &url(&dc, machine, ServiceKind::WinrmHttp),
                transport,
                USER,
                "wrong-password",
            ],
        );
        assert!(out.contains("INVALID_CREDENTIALS"), "{transport}: {out}");
    }
    let failures = dc.journal(&Query {
        operation: Some("auth".into()),
        ..Default::default()
    });
    assert!(failures
        .iter()
        .any(|e| e.outcome.starts_with("auth failure")));
    // Credentials never reach the journal.
    let all = serde_json::to_string(&dc.journal(&Query::default())).expect("json");
    assert!(!all.contains("wrong-password") && !all.contains(PASSWORD));
}

fn pypsrp_wmi(ssl: bool, auth: &str, host: &str, guest: &str, vm: &str) {
    let dc = common::start(SCENARIO);
    let ca = ca_file(&dc, &format!("psrp-{auth}-{ssl}"));
    let kind = if ssl {
        ServiceKind::WinrmHttps
    } else {
        ServiceKind::WinrmHttp
    };
    let ep = dc.endpoint(host, kind).expect("endpoint");
    let guest_url = url(&dc, guest, ServiceKind::WinrmHttp);
    let out = run(
        "pypsrp",
        "pypsrp_wmi.py",
        &[
            &ep.ip().to_string(),
            &ep.port().to_string(),
            if ssl { "1" } else { "0" },
            auth,
            USER,
            PASSWORD,
            ca.to_str().expect("path"),
            &guest_url,
            vm,
        ],
    );
    let _ = std::fs::remove_file(ca);
    assert_eq!(line(&out, "MAX_ENVELOPE"), "512000");
    assert_eq!(line(&out, "OS_COUNT"), "1");
    assert_eq!(
        line(&out, "OS_CAPTION"),
        "Microsoft Windows Server 2019 Datacenter"
    );
    assert_eq!(line(&out, "SERVICE"), "WinRM Running Auto");
    assert_eq!(line(&out, "VM_COUNT"), "1");
    assert_eq!(line(&out, "VM_STATE_BEFORE"), "3");
    assert_eq!(line(&out, "MSVM_ALL"), "2");
    assert_eq!(line(&out, "RSC_RETURN"), "4096");
    assert_eq!(line(&out, "JOB"), "True");
    assert_eq!(line(&out, "GUEST_IDENTIFY"), "True");
    assert_eq!(line(&out, "JOB_STATE"), "7");
    assert_eq!(line(&out, "VM_STATE_AFTER"), "2");
    // The model agrees: the VM runs and its guest is up.
    let guest_state = dc.machine_state(guest).expect("guest");
    assert_eq!(guest_state.power, "on");
    let invokes = dc.journal(&Query {
        machine: Some(host.into()),
        operation: Some("RequestStateChange".into()),
        ..Default::default()
    });
    assert_eq!(invokes.len(), 1, "{invokes:?}");
}

#[test]
fn pypsrp_wsman_basic_over_https() {
    pypsrp_wmi(true, "basic", "hv01", "guest01", "web01");
}

#[test]
fn pypsrp_wsman_ntlm_over_http_encrypted() {
    pypsrp_wmi(false, "ntlm", "hv02", "guest02", "db01");
}

#[test]
fn check_probe_verifies_winrm_rows() {
    let dc = common::start(SCENARIO);
    let eps: Vec<_> = dc
        .endpoints()
        .iter()
        .filter(|e| {
            matches!(
                e.service,
                ServiceKind::WinrmHttp | ServiceKind::WinrmHttps | ServiceKind::WinrmHttp80
            ) && e.served
                && dc.machine_state(&e.machine).is_ok_and(|m| m.os_up)
        })
        .cloned()
        .collect();
    assert_eq!(eps.len(), 6, "hv01 and hv02: 5985, 5986, 80 each");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    for creds in [None, Some((USER.to_string(), PASSWORD.to_string()))] {
        let opts = fakedc::check::CheckOptions {
            credentials: creds.clone(),
            ..Default::default()
        };
        let rows = rt.block_on(fakedc::check::run(&eps, &opts, |_, _| {}));
        let winrm: Vec<_> = rows.iter().filter(|r| r.service.is_some()).collect();
        assert!(!winrm.is_empty());
        for r in winrm {
            assert_eq!(
                r.verdict,
                fakedc::check::Verdict::Verified,
                "{:?} {}",
                r.service,
                r.detail
            );
            assert!(r.detail.contains("Microsoft Corporation"), "{}", r.detail);
            if creds.is_some() {
                assert!(r.detail.contains("Enumerate OK"), "{}", r.detail);
            } else {
                assert!(r.detail.contains("OS: 0.0.0"), "{}", r.detail);
            }
        }
    }
    let bad = fakedc::check::CheckOptions {
        credentials: Some((USER.into(), "nope".into())),
        ..Default::default()
    };
    let rows = rt.block_on(fakedc::check::run(&eps, &bad, |_, _| {}));
    assert!(rows
        .iter()
        .filter(|r| r.service.is_some())
        .all(|r| r.verdict == fakedc::check::Verdict::AuthFailure));
}

/// pypsrp's default `auth="negotiate"` wraps NTLM in SPNEGO (with the
/// mechListMIC exchange); Windows accepts it, so fakedc does too.
#[test]
fn pypsrp_wsman_negotiate_spnego_over_http_encrypted() {
    pypsrp_wmi(false, "negotiate", "hv02", "guest02", "db01");
}

/// A command slower than pywinrm's OperationTimeout: Receive answers
/// w:TimedOut, which pywinrm retries silently until the output is there.
#[test]
fn pywinrm_retries_receive_after_timed_out() {
    let dc = common::start(SCENARIO);
    let out = run(
        "winrm",
        "winrm_slow.py",
        &[&url(&dc, "hv02", ServiceKind::WinrmHttp), USER, PASSWORD],
    );
    assert_eq!(line(&out, "SLOW_EXIT"), "0");
    assert_eq!(line(&out, "SLOW_OUT"), "done at last");
    assert_eq!(line(&out, "SLOW_WAITED"), "True");
    let timeouts = dc.journal(&Query {
        machine: Some("hv02".into()),
        operation: Some("Receive cmd".into()),
        ..Default::default()
    });
    assert!(
        timeouts.iter().any(|e| e.outcome == "fault w:TimedOut"),
        "{timeouts:?}"
    );
}

/// One Windows host, one account rule: `administrator` (any case, with or
/// without a domain) logs in to WinRM (pywinrm, NTLM sealed) and to BITS
/// (curl, Basic over HTTPS) alike, and both journal the account's own
/// spelling; a BMC's user names stay case-sensitive.
#[test]
fn winrm_and_bits_accept_the_same_account_in_any_case() {
    let dc = common::start(SCENARIO);
    let out = run(
        "winrm",
        "winrm_run_cmd.py",
        &[
            &url(&dc, "hv02", ServiceKind::WinrmHttp),
            "ntlm",
            "administrator",
            PASSWORD,
        ],
    );
    assert_run_cmd(&out, "127.79.0.3");
    let bits = dc.endpoint("hv02", ServiceKind::Bits).expect("bits");
    let ca = ca_file(&dc, "anycase");
    for login in [
        "administrator",
        "HV02\\ADMINISTRATOR",
        "Administrator@lab.test",
    ] {
        let o = std::process::Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(&ca)
            .args(["-u", &format!("{login}:{PASSWORD}")])
            .args(["-X", "BITS_POST", "-H", "BITS-Packet-Type: Create-Session"])
            .args([
                "-H",
                "BITS-Supported-Protocols: {7df0354d-249b-430f-820d-3d2a9bef4931}",
            ])
            .arg(format!("https://{bits}/upload/case.bin"))
            .output()
            .expect("run curl");
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            "200",
            "{login}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    for service in ["winrm-http", "bits"] {
        let users: Vec<_> = dc
            .journal(&Query {
                machine: Some("hv02".into()),
                service: Some(service.into()),
                ..Default::default()
            })
            .into_iter()
            .filter_map(|e| e.user)
            .collect();
        assert!(!users.is_empty(), "{service}");
        assert!(users.iter().all(|u| u == USER), "{service}: {users:?}");
    }
}
