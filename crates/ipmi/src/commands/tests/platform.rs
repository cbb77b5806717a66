//! Watchdog timer, PEF, DCMI identification strings, the LAN parameters a
//! FreeIPMI checkout reads, channels and channel keys.

use super::*;

const APP: u8 = 0x06;

/// Powers the fixture's chassis on and lets it boot.
fn powered(f: &mut Fixture) {
    f.ok(0x00, 0x02, &[0x01]);
    f.now += Duration::from_secs(5);
    assert!(f.chassis().os_up());
}

/// The Watchdog 2 records in the SEL: (offset byte, data 2).
fn watchdog_records(f: &mut Fixture) -> Vec<(u8, u8)> {
    read_sel(f)
        .iter()
        .filter(|r| r[10] == 0x23)
        .map(|r| {
            assert_eq!(r[2], 0x02, "system event record");
            assert_eq!(r[11], 0xD8, "the watchdog sensor");
            assert_eq!(r[12], 0x6F);
            (r[13], r[14])
        })
        .collect()
}

#[test]
fn watchdog_needs_a_set_before_reset() {
    let mut f = fixture();
    assert_eq!(f.cc(APP, 0x22, &[]), 0x80);
    assert_eq!(f.ok(APP, 0x25, &[]), vec![0; 8]);
    assert_eq!(f.cc(APP, 0x22, &[0x00]), cc::DATA_LENGTH_EXCEEDED);
    assert_eq!(f.cc(APP, 0x25, &[0x00]), cc::DATA_LENGTH_EXCEEDED);
    // Reserved timer uses, interrupts and actions are refused.
    for bad in [
        [0x00, 0x02, 0, 0, 10, 0],
        [0x06, 0x02, 0, 0, 10, 0],
        [0x04, 0x04, 0, 0, 10, 0],
        [0x04, 0x40, 0, 0, 10, 0],
        // A pre-timeout interval (2 s) longer than the countdown (1 s).
        [0x04, 0x21, 2, 0, 10, 0],
    ] {
        assert_eq!(f.cc(APP, 0x24, &bad), cc::INVALID_FIELD, "{bad:02x?}");
    }
    assert_eq!(
        f.cc(APP, 0x24, &[0x04, 0x02, 0, 0, 10]),
        cc::DATA_LENGTH_INVALID
    );
    assert_eq!(
        f.cc(APP, 0x22, &[]),
        0x80,
        "refused Sets initialize nothing"
    );
    // Privileges: Get is User, Set and Reset Operator.
    let r = f.send(APP, 0x25, &[], Privilege::User, Some(SID));
    assert_eq!(r.cc, 0);
    let r = f.send(APP, 0x22, &[], Privilege::User, Some(SID));
    assert_eq!(r.cc, cc::INSUFFICIENT_PRIVILEGE);
}

#[test]
fn watchdog_power_down_expires_on_time_and_logs() {
    let mut f = fixture();
    powered(&mut f);
    // SMS/OS, power down, 2.0 s.
    f.ok(APP, 0x24, &[0x04, 0x02, 0x00, 0x00, 20, 0]);
    assert_eq!(
        f.ok(APP, 0x25, &[]),
        vec![0x04, 0x02, 0x00, 0x00, 20, 0, 20, 0],
        "set but stopped"
    );
    f.ok(APP, 0x22, &[]);
    assert_eq!(f.ok(APP, 0x25, &[])[0], 0x44, "running");
    f.now += Duration::from_millis(1250);
    assert_eq!(
        &f.ok(APP, 0x25, &[])[6..],
        &[8, 0],
        "7.5 ticks left, rounded up"
    );
    assert!(f.chassis().power.power_on());
    assert_eq!(
        f.state.next_timer(),
        Some(f.now + Duration::from_millis(750))
    );
    f.now += Duration::from_millis(750);
    let d = f.ok(APP, 0x25, &[]);
    assert_eq!(
        d,
        vec![0x04, 0x02, 0x00, 0x10, 20, 0, 0, 0],
        "stopped, SMS/OS flag"
    );
    assert!(!f.chassis().power.power_on(), "powered down");
    assert_eq!(f.state.next_timer(), None);
    assert_eq!(watchdog_records(&mut f), vec![(0xC2, 0x04)]);
    // The power-off follows the watchdog record.
    let sel = read_sel(&mut f);
    let wd = sel.iter().position(|r| r[10] == 0x23).unwrap();
    assert_eq!(sel[wd + 1][10], 0x09, "Power Unit: power off");
    assert_eq!(
        f.state.take_timer_events(),
        vec!["SMS/OS expired: power down".to_string()]
    );
    // Clearing the flag through Set; a new Reset starts again.
    f.ok(APP, 0x24, &[0x04, 0x00, 0x00, 0x10, 50, 0]);
    assert_eq!(f.ok(APP, 0x25, &[])[3], 0x00);
}

#[test]
fn watchdog_expiry_without_a_request_through_poll_timers() {
    let mut f = fixture();
    powered(&mut f);
    // OS load, hard reset, 1.0 s.
    f.ok(APP, 0x24, &[0x03, 0x01, 0x00, 0x00, 10, 0]);
    f.ok(APP, 0x22, &[]);
    let due = f.state.next_timer().unwrap();
    assert_eq!(due, f.now + Duration::from_secs(1));
    f.state.poll_timers(&f.model, f.bmc, due);
    let c = f.model.chassis(ChassisId(0), due);
    assert!(
        matches!(c.power, fakedc_model::PowerState::Booting { .. }),
        "hard reset reboots: {:?}",
        c.power
    );
    assert_eq!(
        f.state.take_timer_events(),
        vec!["OS Load expired: hard reset".to_string()]
    );
    assert!(f.state.take_timer_events().is_empty());
    f.now = due;
    assert_eq!(watchdog_records(&mut f), vec![(0xC1, 0x03)]);
    assert_eq!(f.ok(APP, 0x25, &[])[3], 0x08, "OS load flag");
}

#[test]
fn watchdog_power_cycle_pretimeout_and_dont_log() {
    let mut f = fixture();
    powered(&mut f);
    // BIOS/POST, NMI pre-timeout 1 s before, power cycle, 3.0 s.
    f.ok(APP, 0x24, &[0x02, 0x23, 0x01, 0x00, 30, 0]);
    f.ok(APP, 0x22, &[]);
    assert_eq!(f.state.next_timer(), Some(f.now + Duration::from_secs(2)));
    f.now += Duration::from_secs(2);
    assert_eq!(
        f.ok(APP, 0x25, &[])[0],
        0x42,
        "still running after the interrupt"
    );
    assert_eq!(watchdog_records(&mut f), vec![(0xC8, 0x22)]);
    assert_eq!(f.state.next_timer(), Some(f.now + Duration::from_secs(1)));
    f.now += Duration::from_secs(1);
    f.ok(APP, 0x25, &[]);
    assert!(matches!(
        f.chassis().power,
        fakedc_model::PowerState::Cycling { .. }
    ));
    assert_eq!(watchdog_records(&mut f), vec![(0xC8, 0x22), (0xC3, 0x22)]);
    // "Don't log": the timeout acts but leaves no record.
    f.now += Duration::from_secs(5);
    assert!(f.chassis().os_up());
    f.ok(APP, 0x24, &[0x84, 0x02, 0x00, 0x00, 0, 0]);
    assert_eq!(f.ok(APP, 0x25, &[])[0], 0x84);
    f.ok(APP, 0x22, &[]);
    // A zero countdown expires at once.
    f.ok(APP, 0x25, &[]);
    assert!(!f.chassis().power.power_on());
    assert_eq!(watchdog_records(&mut f).len(), 2);
    // Power cycle and reset leave a dark chassis dark.
    f.ok(APP, 0x24, &[0x04, 0x03, 0x00, 0x00, 0, 0]);
    f.ok(APP, 0x22, &[]);
    f.ok(APP, 0x25, &[]);
    assert_eq!(f.chassis().power, fakedc_model::PowerState::Off);
    assert_eq!(watchdog_records(&mut f).last(), Some(&(0xC3, 0x04)));
}

#[test]
fn watchdog_set_stops_unless_dont_stop() {
    let mut f = fixture();
    powered(&mut f);
    f.ok(APP, 0x24, &[0x04, 0x00, 0x00, 0x00, 100, 0]);
    f.ok(APP, 0x22, &[]);
    f.now += Duration::from_secs(3);
    // "Don't stop": the new countdown applies at once and keeps running.
    f.ok(APP, 0x24, &[0x44, 0x00, 0x00, 0x00, 50, 0]);
    assert_eq!(f.ok(APP, 0x25, &[]), vec![0x44, 0, 0, 0, 50, 0, 50, 0]);
    f.now += Duration::from_secs(1);
    assert_eq!(&f.ok(APP, 0x25, &[])[6..], &[40, 0]);
    // A plain Set stops it (ipmitool's `mc watchdog off`).
    f.ok(APP, 0x24, &[0x04, 0x00, 0x00, 0x10, 0xB8, 0x0B]);
    assert_eq!(
        f.ok(APP, 0x25, &[]),
        vec![0x04, 0, 0, 0, 0xB8, 0x0B, 0xB8, 0x0B]
    );
    f.now += Duration::from_secs(400);
    assert_eq!(
        f.ok(APP, 0x25, &[])[0],
        0x04,
        "nothing expires while stopped"
    );
    // "Don't stop" on a stopped timer leaves it stopped.
    f.ok(APP, 0x24, &[0x44, 0x00, 0x00, 0x00, 10, 0]);
    assert_eq!(f.ok(APP, 0x25, &[])[0], 0x04);
    assert_eq!(f.state.next_timer(), None);
    // A BMC cold reset forgets the settings (Reset answers 80h again) and
    // keeps the expiration flags.
    f.ok(APP, 0x24, &[0x05, 0x00, 0x00, 0x00, 0, 0]);
    f.ok(APP, 0x22, &[]);
    f.ok(APP, 0x25, &[]);
    f.ok(APP, 0x02, &[]);
    assert_eq!(f.cc(APP, 0x22, &[]), 0x80);
    assert_eq!(f.ok(APP, 0x25, &[])[3], 0x20, "OEM flag kept");
}
