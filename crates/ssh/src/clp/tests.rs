//! The CLP over a real model: power and boot changes land on the chassis the
//! BMC shares with its host.

use super::*;
use fakedc_model::PowerState;

const SCENARIO: &str = r#"
[defaults]
boot_delay_ms = 0
shutdown_delay_ms = 0

[[machine]]
name = "srv1"
role = "hyperv-host"
address = "127.0.0.1"
bmc = "srv1-bmc"

[[machine]]
name = "srv1-bmc"
role = "bmc"
address = "127.0.0.2"
"#;

fn clp(privilege: Privilege) -> (Clp, Arc<Model>, MachineId) {
    let s = fakedc_scenario::Scenario::parse(
        "test",
        SCENARIO,
        &fakedc_scenario::ParseOptions::default(),
    )
    .expect("scenario");
    let model = Arc::new(s.model());
    let bmc = model.find("srv1-bmc").expect("bmc").id;
    let host = model.find("srv1").expect("host").id;
    (Clp::new(model.clone(), bmc, privilege), model, host)
}

/// The tests' clock (a model clock of their own: nothing here waits).
fn now() -> Instant {
    static CLOCK: std::sync::OnceLock<fakedc_model::Clock> = std::sync::OnceLock::new();
    CLOCK.get_or_init(fakedc_model::Clock::new).now()
}

fn power(model: &Model, host: MachineId) -> PowerState {
    model.chassis(model.machine(host).chassis, now()).power
}

#[test]
fn show_system_reports_power_and_identity() {
    let (mut c, _, _) = clp(Privilege::User);
    let o = c.run("show /system1", now());
    assert!(o
        .text
        .starts_with("status=0\nstatus_tag=COMMAND COMPLETED\n"));
    assert!(o.text.contains("name=srv1"), "{}", o.text);
    assert!(o.text.contains("enabledstate=enabled"));
    assert!(o.text.contains("bootconfig1"));
    let o = c.run("SHOW /System1/BootConfig1", now());
    assert_eq!(o.status, Status::Completed, "{}", o.text);
    assert!(o.text.contains("bootsource1"));
    assert!(o
        .text
        .contains("bootorder=bootsource1,bootsource2,bootsource3,bootsource4"));
}

#[test]
fn power_verbs_act_on_the_shared_chassis() {
    let (mut c, model, host) = clp(Privilege::Operator);
    let o = c.run("stop -force /system1", now());
    assert_eq!(o.status, Status::Completed, "{}", o.text);
    assert_eq!(power(&model, host), PowerState::Off);
    let o = c.run("start /system1", now());
    assert_eq!(o.status, Status::Completed);
    assert!(power(&model, host).power_on());
    c.run("cd /system1", now());
    let o = c.run("stop", now());
    assert_eq!(o.status, Status::Completed, "{}", o.text);
    // Soft shutdown with a zero delay: off once time moves on.
    let later = now() + std::time::Duration::from_millis(5);
    assert_eq!(
        model.chassis(model.machine(host).chassis, later).power,
        PowerState::Off
    );
    let o = c.run("reset /system1", now());
    assert_eq!(o.status, Status::ExecutionFailed, "reset of an off server");
}

#[test]
fn boot_order_set() {
    let (mut c, model, host) = clp(Privilege::Admin);
    let o = c.run("set /system1/bootconfig1/bootsource2 bootorder=1", now());
    assert_eq!(o.status, Status::Completed, "{}", o.text);
    let boot = model.chassis(model.machine(host).chassis, now()).boot;
    assert_eq!(boot.device, BootDevice::Pxe);
    assert!(boot.persistent);
    let o = c.run("show /system1/bootconfig1/bootsource2", now());
    assert!(o.text.contains("bootorder=1"), "{}", o.text);
    assert!(o.text.contains("bootstring=CIM:Network:1"));
    let o = c.run("set /system1/bootconfig1/bootsource2 bootorder=3", now());
    assert_eq!(o.status, Status::Completed);
    let boot = model.chassis(model.machine(host).chassis, now()).boot;
    assert_eq!(boot.device, BootDevice::None);
    let o = c.run("set /system1/bootconfig1/bootsource3 bootorder=9", now());
    assert_eq!(o.error, Some(ClpError::InvalidArgument));
}

#[test]
fn errors_carry_dsp0214_tags() {
    let (mut c, _, _) = clp(Privilege::User);
    let cases = [
        ("frobnicate /system1", ClpError::NotRecognized),
        ("show /system9", ClpError::InvalidTarget),
        ("stop -sideways /system1", ClpError::InvalidOption),
        ("delete /system1", ClpError::NotSupported),
        ("show 'unterminated", ClpError::Syntax),
        ("start /map1", ClpError::InvalidTarget),
    ];
    for (line, err) in cases {
        let o = c.run(line, now());
        assert_eq!(o.status, Status::ProcessingFailed, "{line}");
        assert_eq!(o.error, Some(err), "{line}");
        assert!(
            o.text
                .contains(&format!("error={}\nerror_tag={}", err as u8, err.tag())),
            "{}",
            o.text
        );
    }
    // A read-only user cannot change power.
    let o = c.run("stop -force /system1", now());
    assert_eq!(o.status, Status::ExecutionFailed);
    assert!(c.run("help", now()).text.contains("stop [-force]"));
    assert!(c.run("exit", now()).exit);
}
