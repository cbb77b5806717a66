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
        vec![("watchdog", "SMS/OS expired: power down".to_string())]
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
        vec![("watchdog", "OS Load expired: hard reset".to_string())]
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

const SE: u8 = 0x04;

#[test]
fn pef_capabilities_and_factory_configuration() {
    let mut f = fixture();
    let r = f.send(SE, 0x10, &[], Privilege::User, Some(SID));
    assert_eq!((r.cc, r.data), (0, vec![0x51, 0x3F, 16]));
    assert_eq!(f.cc(SE, 0x10, &[0]), cc::DATA_LENGTH_EXCEEDED);
    let get = |f: &mut Fixture, p: u8, set: u8, block: u8| f.ok(SE, 0x13, &[p, set, block]);
    assert_eq!(get(&mut f, 0, 0, 0), vec![0x11, 0x00]);
    assert_eq!(get(&mut f, 1, 0, 0), vec![0x11, 0x01], "PEF enabled");
    assert_eq!(get(&mut f, 0x81, 0, 0), vec![0x11], "revision only");
    assert_eq!(get(&mut f, 2, 0, 0), vec![0x11, 0x0F]);
    assert_eq!(get(&mut f, 3, 0, 0), vec![0x11, 60]);
    assert_eq!(get(&mut f, 4, 0, 0), vec![0x11, 60]);
    assert_eq!(get(&mut f, 5, 0, 0), vec![0x11, 16]);
    assert_eq!(get(&mut f, 8, 0, 0), vec![0x11, 4]);
    assert_eq!(get(&mut f, 11, 0, 0), vec![0x11, 2]);
    // Filter 1: pre-configured, disabled temperature critical thresholds.
    let d = get(&mut f, 6, 1, 0);
    assert_eq!(d.len(), 22, "what ipmitool's pef filter list insists on");
    assert_eq!(
        &d[..12],
        &[0x11, 1, 0x40, 0x01, 0x01, 0x10, 0xFF, 0xFF, 0x01, 0xFF, 0x01, 0x04, 0x02][..12]
    );
    for filter in 1..=16u8 {
        let d = get(&mut f, 6, filter, 0);
        assert_eq!(d[2] & 0x80, 0, "filter {filter} ships disabled");
        assert_eq!(get(&mut f, 7, filter, 0), vec![0x11, filter, d[2]]);
    }
    assert_eq!(
        get(&mut f, 6, 9, 0)[2..],
        [0u8; 20],
        "configurable and empty"
    );
    assert_eq!(f.cc(SE, 0x13, &[6, 0, 0]), cc::PARAM_OUT_OF_RANGE);
    assert_eq!(f.cc(SE, 0x13, &[6, 17, 0]), cc::PARAM_OUT_OF_RANGE);
    // Policies: policy 1, disabled, to LAN channel 1 destination N.
    for entry in 1..=4u8 {
        assert_eq!(
            get(&mut f, 9, entry, 0),
            vec![0x11, entry, 0x10, 0x10 | entry, 0x00]
        );
    }
    assert_eq!(f.cc(SE, 0x13, &[9, 5, 0]), cc::PARAM_OUT_OF_RANGE);
    // The system GUID parameter defaults to "use Get System GUID" and the GUID.
    let d = get(&mut f, 10, 0, 0);
    assert_eq!(d.len(), 18);
    assert_eq!(d[1], 0x00);
    assert_eq!(d[2..], hardware().smbios_guid);
    // Alert strings 0-2 are empty; keys zero.
    for s in 0..=2u8 {
        assert_eq!(get(&mut f, 12, s, 0), vec![0x11, s, 0, 0]);
        let d = get(&mut f, 13, s, 1);
        assert_eq!(d.len(), 19);
        assert_eq!(d[..3], [0x11, s, 1]);
        assert!(d[3..].iter().all(|&b| b == 0));
    }
    assert_eq!(f.cc(SE, 0x13, &[12, 3, 0]), cc::PARAM_OUT_OF_RANGE);
    assert_eq!(f.cc(SE, 0x13, &[13, 1, 0]), cc::PARAM_OUT_OF_RANGE);
    assert_eq!(f.cc(SE, 0x13, &[14, 0, 0]), cc::PARAM_NOT_SUPPORTED);
    assert_eq!(f.cc(SE, 0x13, &[0x60, 0, 0]), cc::PARAM_NOT_SUPPORTED);
    assert_eq!(f.cc(SE, 0x13, &[1, 0]), cc::DATA_LENGTH_INVALID);
    // Reading the configuration takes Operator, changing it Admin.
    let r = f.send(SE, 0x13, &[1, 0, 0], Privilege::User, Some(SID));
    assert_eq!(r.cc, cc::INSUFFICIENT_PRIVILEGE);
    let r = f.send(SE, 0x13, &[1, 0, 0], Privilege::Operator, Some(SID));
    assert_eq!(r.cc, 0);
    let r = f.send(SE, 0x12, &[1, 0], Privilege::Operator, Some(SID));
    assert_eq!(r.cc, cc::INSUFFICIENT_PRIVILEGE);
}

#[test]
fn pef_configuration_writes_read_back() {
    let mut f = fixture();
    let get = |f: &mut Fixture, p: u8, set: u8, block: u8| f.ok(SE, 0x13, &[p, set, block]);
    f.ok(SE, 0x12, &[0, 1]);
    assert_eq!(get(&mut f, 0, 0, 0), vec![0x11, 1]);
    f.ok(SE, 0x12, &[0, 2]);
    assert_eq!(
        get(&mut f, 0, 0, 0),
        vec![0x11, 0],
        "commit write completes"
    );
    assert_eq!(f.cc(SE, 0x12, &[0, 3]), cc::INVALID_FIELD);
    f.ok(SE, 0x12, &[1, 0x0F]);
    assert_eq!(get(&mut f, 1, 0, 0), vec![0x11, 0x0F]);
    f.ok(SE, 0x12, &[2, 0xFF]);
    assert_eq!(
        get(&mut f, 2, 0, 0),
        vec![0x11, 0x3F],
        "only supported actions"
    );
    f.ok(SE, 0x12, &[3, 5]);
    f.ok(SE, 0x12, &[4, 7]);
    assert_eq!(get(&mut f, 3, 0, 0), vec![0x11, 5]);
    assert_eq!(get(&mut f, 4, 0, 0), vec![0x11, 7]);
    // A whole filter: enabled, power off on any watchdog event.
    let mut filter = vec![6, 9, 0x80, 0x02, 0x01, 0x10, 0xFF, 0xFF, 0x23, 0xFF, 0x6F];
    filter.extend_from_slice(&[0xFF, 0xFF]);
    filter.extend_from_slice(&[0u8; 9]);
    assert_eq!(filter.len(), 22);
    f.ok(SE, 0x12, &filter);
    assert_eq!(get(&mut f, 6, 9, 0)[1..], filter[1..]);
    // Data 1 only: disable it again.
    f.ok(SE, 0x12, &[7, 9, 0x00]);
    assert_eq!(get(&mut f, 7, 9, 0), vec![0x11, 9, 0x00]);
    assert_eq!(get(&mut f, 6, 9, 0)[3], 0x02, "the rest stays");
    assert_eq!(f.cc(SE, 0x12, &filter[..21]), cc::DATA_LENGTH_INVALID);
    assert_eq!(f.cc(SE, 0x12, &[7, 0, 0x80]), cc::PARAM_OUT_OF_RANGE);
    f.ok(SE, 0x12, &[9, 2, 0x28, 0x12, 0x01]);
    assert_eq!(get(&mut f, 9, 2, 0), vec![0x11, 2, 0x28, 0x12, 0x01]);
    let mut guid = vec![10, 0x01];
    guid.extend(1..=16u8);
    f.ok(SE, 0x12, &guid);
    assert_eq!(get(&mut f, 10, 0, 0)[1..], guid[1..]);
    f.ok(SE, 0x12, &[12, 1, 9, 1]);
    assert_eq!(get(&mut f, 12, 1, 0), vec![0x11, 1, 9, 1]);
    let mut s = vec![13, 1, 2];
    s.extend_from_slice(b"disk failed\0");
    f.ok(SE, 0x12, &s);
    assert_eq!(&get(&mut f, 13, 1, 2)[3..15], b"disk failed\0");
    assert_eq!(get(&mut f, 13, 1, 1)[3..], [0u8; 16]);
    assert_eq!(f.cc(SE, 0x12, &[13, 1, 9, b'x']), cc::PARAM_OUT_OF_RANGE);
    assert_eq!(f.cc(SE, 0x12, &[13, 1]), cc::DATA_LENGTH_INVALID);
    // Read-only and unsupported parameters.
    for p in [5u8, 8, 11] {
        assert_eq!(f.cc(SE, 0x12, &[p, 1]), 0x82, "parameter {p}");
    }
    assert_eq!(f.cc(SE, 0x12, &[15, 1]), cc::PARAM_NOT_SUPPORTED);
    assert_eq!(f.cc(SE, 0x12, &[1, 1, 1]), cc::DATA_LENGTH_EXCEEDED);
    assert_eq!(f.cc(SE, 0x12, &[]), cc::DATA_LENGTH_INVALID);
}

#[test]
fn pef_last_processed_event_and_postpone_timer() {
    let mut f = fixture();
    assert_eq!(
        f.ok(SE, 0x15, &[]),
        vec![0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0xFF, 0xFF],
        "empty SEL"
    );
    powered(&mut f);
    let last = read_sel(&mut f).len() as u16;
    let d = f.ok(SE, 0x15, &[]);
    assert_ne!(d[..4], [0xFF; 4], "a real addition time");
    assert_eq!(d[4..], [last as u8, 0, 0, 0, last as u8, 0]);
    f.ok(SE, 0x14, &[0x00, 0x02, 0x00]);
    f.ok(SE, 0x14, &[0x01, 0x01, 0x00]);
    assert_eq!(f.ok(SE, 0x15, &[])[6..], [2, 0, 1, 0]);
    // A new event is processed by the BMC as it arrives.
    f.ok(0x00, 0x02, &[0x00]);
    let d = f.ok(SE, 0x15, &[]);
    assert_eq!(d[6..8], [2, 0]);
    assert_eq!(d[8..], d[4..6]);
    assert_eq!(f.cc(SE, 0x14, &[0x00, 0x02]), cc::DATA_LENGTH_INVALID);
    // The postpone timer counts down in seconds.
    assert_eq!(f.ok(SE, 0x11, &[0xFF]), vec![0]);
    assert_eq!(f.ok(SE, 0x11, &[10]), vec![10]);
    f.now += Duration::from_millis(3500);
    assert_eq!(f.ok(SE, 0x11, &[0xFF]), vec![7]);
    f.now += Duration::from_secs(10);
    assert_eq!(f.ok(SE, 0x11, &[0xFF]), vec![0]);
    assert_eq!(f.ok(SE, 0x11, &[0xFE]), vec![0xFE]);
    assert_eq!(f.ok(SE, 0x11, &[0xFF]), vec![0xFE]);
    assert_eq!(f.ok(SE, 0x11, &[0x00]), vec![0]);
    let r = f.send(SE, 0x15, &[], Privilege::Operator, Some(SID));
    assert_eq!(r.cc, cc::INSUFFICIENT_PRIVILEGE);
}

/// A filter written by a client (temperature upper critical going high →
/// power down, PEF action event messages on) powers the host off when a
/// Platform Event Message reports that event; a postponed PEF holds it.
#[test]
fn pef_filter_actions_apply_to_platform_events() {
    let mut f = fixture();
    powered(&mut f);
    // Control: PEF on, action event messages on.
    f.ok(SE, 0x12, &[1, 0x03]);
    let mut filter = vec![6, 9, 0x80, 0x02, 0x00, 0x10, 0xFF, 0xFF, 0x01, 0xFF, 0x01];
    filter.extend_from_slice(&(1u16 << 9).to_le_bytes());
    filter.extend_from_slice(&[0; 9]);
    f.ok(SE, 0x12, &filter);
    // A voltage event matches nothing.
    f.ok(SE, 0x02, &[0x04, 0x02, 0x10, 0x01, 0x59, 0x00, 0x00]);
    f.ok(APP, 0x01, &[]);
    assert!(f.chassis().power.power_on());
    assert!(f.state.take_timer_events().is_empty());
    // Postponed: the temperature event waits.
    f.ok(SE, 0x11, &[5]);
    f.ok(SE, 0x02, &[0x04, 0x01, 0x30, 0x01, 0x59, 0x00, 0x00]);
    f.ok(APP, 0x01, &[]);
    assert!(f.chassis().power.power_on(), "held while postponed");
    let last = read_sel(&mut f).len() as u8;
    let d = f.ok(SE, 0x15, &[]);
    assert_eq!(d[8], last - 1, "the held record is not processed yet");
    f.now += Duration::from_secs(6);
    f.ok(APP, 0x01, &[]);
    assert!(!f.chassis().power.power_on(), "power down once PEF resumes");
    let events = f.state.take_timer_events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "pef");
    assert!(
        events[0].1.ends_with("matched filter 9: power down"),
        "{events:?}"
    );
    // The action is logged as System Event / PEF Action, then the power-off.
    let sel = read_sel(&mut f);
    let pef = sel
        .iter()
        .position(|r| r[10] == 0x12)
        .expect("PEF action record");
    assert_eq!((sel[pef][13] & 0x0F, sel[pef][14]), (0x04, 0x01));
    assert_eq!(sel[pef + 1][10], 0x09, "Power Unit: power off");
    // Disabled PEF: events pass without actions.
    f.ok(0x00, 0x02, &[0x01]);
    f.now += Duration::from_secs(5);
    f.ok(SE, 0x12, &[1, 0x00]);
    f.ok(SE, 0x02, &[0x04, 0x01, 0x30, 0x01, 0x59, 0x00, 0x00]);
    f.ok(APP, 0x01, &[]);
    assert!(f.chassis().power.power_on());
}

const TRANSPORT: u8 = 0x0C;

#[test]
fn lan_alert_destinations_and_ipv6_discovery() {
    let mut f = fixture();
    let get = |f: &mut Fixture, p: u8, set: u8| f.ok(TRANSPORT, 0x02, &[0x01, p, set, 0]);
    assert_eq!(get(&mut f, 17, 0), vec![0x11, 4]);
    for set in 0..=4u8 {
        assert_eq!(get(&mut f, 18, set), vec![0x11, set, 0x00, 0x03, 0x03]);
        let d = get(&mut f, 19, set);
        assert_eq!(d.len(), 1 + 13);
        assert_eq!(d[..4], [0x11, set, 0x00, 0x00]);
        assert_eq!(get(&mut f, 25, set), vec![0x11, set, 0, 0, 0]);
    }
    assert_eq!(
        f.cc(TRANSPORT, 0x02, &[0x01, 18, 5, 0]),
        cc::PARAM_OUT_OF_RANGE
    );
    // Destination 2: acknowledged PET to 10.0.0.9 through the backup gateway.
    f.ok(TRANSPORT, 0x01, &[0x01, 18, 2, 0x80, 5, 2]);
    let mut addr = vec![0x01, 19, 2, 0x00, 0x01, 10, 0, 0, 9];
    addr.extend_from_slice(&[0x00, 0x11, 0x22, 0x33, 0x44, 0x55]);
    f.ok(TRANSPORT, 0x01, &addr);
    assert_eq!(get(&mut f, 18, 2), vec![0x11, 2, 0x80, 5, 2]);
    assert_eq!(get(&mut f, 19, 2)[1..], addr[2..]);
    assert_eq!(get(&mut f, 18, 1)[2], 0x00, "other sets untouched");
    f.ok(TRANSPORT, 0x01, &[0x01, 25, 2, 0x10, 0x0A, 0x00]);
    assert_eq!(get(&mut f, 25, 2), vec![0x11, 2, 0x10, 0x0A, 0x00]);
    // IPv6 destinations and addressing are not available.
    let mut v6 = addr.clone();
    v6[3] = 0x10;
    assert_eq!(f.cc(TRANSPORT, 0x01, &v6), cc::INVALID_FIELD);
    assert_eq!(f.cc(TRANSPORT, 0x01, &[0x01, 17, 2]), 0x82);
    assert_eq!(
        f.cc(TRANSPORT, 0x01, &[0x01, 18, 9, 0, 0, 0]),
        cc::PARAM_OUT_OF_RANGE
    );
    assert_eq!(
        f.cc(TRANSPORT, 0x01, &[0x01, 18, 1, 0, 0]),
        cc::DATA_LENGTH_INVALID
    );
    assert_eq!(get(&mut f, 50, 0), vec![0x11, 0x00], "IPv4 only");
    assert_eq!(get(&mut f, 51, 0), vec![0x11, 0x00]);
    f.ok(TRANSPORT, 0x01, &[0x01, 51, 0x00]);
    assert_eq!(f.cc(TRANSPORT, 0x01, &[0x01, 51, 0x02]), cc::INVALID_FIELD);
    assert_eq!(f.cc(TRANSPORT, 0x01, &[0x01, 50, 0x01]), 0x82);
    // The IPv6 configuration parameters are optional without IPv6.
    for p in [52u8, 55, 56, 59, 64] {
        assert_eq!(
            f.cc(TRANSPORT, 0x02, &[0x01, p, 0, 0]),
            cc::PARAM_NOT_SUPPORTED,
            "parameter {p}"
        );
    }
}

#[test]
fn channels_0_2_and_0f_are_ipmb_serial_and_the_system_interface() {
    let mut f = fixture();
    assert_eq!(
        f.ok(APP, 0x42, &[0x00]),
        vec![0x00, 0x01, 0x01, 0x00, 0xF2, 0x1B, 0x00, 0x00, 0x00]
    );
    assert_eq!(
        f.ok(APP, 0x42, &[0x0F]),
        vec![0x0F, 0x0C, 0x05, 0x00, 0xF2, 0x1B, 0x00, 0xFF, 0xFF]
    );
    assert_eq!(f.ok(APP, 0x42, &[0x01])[..4], [0x01, 0x04, 0x01, 0x80]);
    assert_eq!(
        f.ok(APP, 0x42, &[0x02]),
        vec![0x02, 0x05, 0x01, 0x40, 0xF2, 0x1B, 0x00, 0x00, 0x00]
    );
    for c in 3..=0x0Du8 {
        assert_eq!(f.cc(APP, 0x42, &[c]), cc::INVALID_FIELD, "channel {c}");
    }
    assert_eq!(f.cc(APP, 0x42, &[0x10]), cc::INVALID_FIELD);
}

#[test]
fn channel_security_keys_read_and_set() {
    let mut f = fixture();
    let mut expect = vec![0x00];
    expect.extend_from_slice(&[0u8; 20]);
    assert_eq!(f.ok(APP, 0x56, &[0x01, 0x00, 0x00]), expect, "K_R");
    assert_eq!(f.ok(APP, 0x56, &[0x0E, 0x00, 0x01]), expect, "K_G");
    let mut set = vec![0x01, 0x01, 0x01];
    set.extend_from_slice(b"secret-kg");
    set.resize(23, 0);
    let r = f.send(APP, 0x56, &set, Privilege::Admin, Some(SID));
    assert_eq!(r.cc, 0);
    assert_eq!(r.data, vec![0x00]);
    assert_eq!(r.effect, Effect::SetBmcKey(Key20::new(b"secret-kg")));
    assert_eq!(&f.ok(APP, 0x56, &[0x01, 0x00, 0x01])[1..10], b"secret-kg");
    // The channel now reports a non-null K_G.
    let caps = f.send(APP, 0x38, &[0x8E, 0x04], Privilege::Callback, None);
    assert_eq!(caps.data[2] & 0x20, 0x20);
    assert_eq!(format!("{:?}", Key20::new(b"secret-kg")), "Key20(set)");
    // K_R is stored without touching sessions.
    let mut kr = vec![0x01, 0x01, 0x00];
    kr.extend_from_slice(&[7u8; 20]);
    let r = f.send(APP, 0x56, &kr, Privilege::Admin, Some(SID));
    assert_eq!((r.cc, r.effect), (0, Effect::None));
    assert_eq!(f.ok(APP, 0x56, &[0x01, 0x00, 0x00])[1..], [7u8; 20]);
    assert_eq!(f.cc(APP, 0x56, &set[..22]), 0x81);
    assert_eq!(f.cc(APP, 0x56, &[0x01, 0x02, 0x01]), cc::INVALID_FIELD);
    assert_eq!(f.cc(APP, 0x56, &[0x01, 0x00, 0x02]), cc::INVALID_FIELD);
    assert_eq!(f.cc(APP, 0x56, &[0x02, 0x00, 0x01]), cc::INVALID_FIELD);
    let r = f.send(
        APP,
        0x56,
        &[0x01, 0x00, 0x01],
        Privilege::Operator,
        Some(SID),
    );
    assert_eq!(r.cc, cc::INSUFFICIENT_PRIVILEGE);
}

#[test]
fn dcmi_empty_asset_tag_and_string_offsets() {
    let mut f = fixture();
    f.model
        .with_chassis(ChassisId(0), f.now, |c| c.hardware.asset_tag.clear());
    // An empty tag reads as length 0 (what ipmi-dcmi --get-asset-tag asks).
    assert_eq!(f.ok(0x2C, 0x06, &[0xDC, 0, 16]), vec![0xDC, 0]);
    assert_eq!(f.ok(0x2C, 0x06, &[0xDC, 0, 0]), vec![0xDC, 0]);
    assert_eq!(f.cc(0x2C, 0x06, &[0xDC, 1, 16]), cc::PARAM_OUT_OF_RANGE);
    assert_eq!(f.cc(0x2C, 0x06, &[0xDC, 0, 17]), cc::PARAM_OUT_OF_RANGE);
    // Written in 16-byte pieces, as FreeIPMI does.
    let tag = b"RACK-42-SLOT-07-CONTOSO";
    let mut set = vec![0xDC, 0, 16];
    set.extend_from_slice(&tag[..16]);
    assert_eq!(f.ok(0x2C, 0x08, &set), vec![0xDC, 16]);
    let mut set = vec![0xDC, 16, 7];
    set.extend_from_slice(&tag[16..]);
    assert_eq!(f.ok(0x2C, 0x08, &set), vec![0xDC, 23]);
    assert_eq!(f.chassis().hardware.asset_tag.as_bytes(), tag);
    let d = f.ok(0x2C, 0x06, &[0xDC, 0, 16]);
    assert_eq!((d[1], &d[2..]), (23, &tag[..16]));
    let d = f.ok(0x2C, 0x06, &[0xDC, 16, 16]);
    assert_eq!((d[1], &d[2..]), (23, &tag[16..]), "short at the end");
    assert_eq!(f.cc(0x2C, 0x06, &[0xDC, 23, 1]), cc::PARAM_OUT_OF_RANGE);
    assert_eq!(f.cc(0x2C, 0x06, &[0xDC, 40, 1]), cc::PARAM_OUT_OF_RANGE);
    // Writes: at most 16 bytes, no holes, at most 63 in all.
    assert_eq!(
        f.cc(0x2C, 0x08, &[0xDC, 0, 17, b'x']),
        cc::PARAM_OUT_OF_RANGE
    );
    assert_eq!(
        f.cc(0x2C, 0x08, &[0xDC, 0, 2, b'x']),
        cc::DATA_LENGTH_INVALID
    );
    assert_eq!(
        f.cc(0x2C, 0x08, &[0xDC, 30, 1, b'x']),
        cc::PARAM_OUT_OF_RANGE
    );
    let mut long = vec![0xDC, 23, 16];
    long.extend_from_slice(&[b'y'; 16]);
    f.ok(0x2C, 0x08, &long);
    long[1] = 39;
    f.ok(0x2C, 0x08, &long);
    long[1] = 55;
    assert_eq!(f.cc(0x2C, 0x08, &long), cc::PARAM_OUT_OF_RANGE, "past 63");
    // The controller id string: set, read back with its NUL.
    let mut set = vec![0xDC, 0, 6];
    set.extend_from_slice(b"bmc-7\0");
    assert_eq!(f.ok(0x2C, 0x0A, &set), vec![0xDC, 6]);
    assert_eq!(
        f.ok(0x2C, 0x09, &[0xDC, 0, 16]),
        b"\xDC\x06bmc-7\0".to_vec()
    );
    assert_eq!(f.cc(0x2C, 0x09, &[0xDC, 6, 1]), cc::PARAM_OUT_OF_RANGE);
    assert_eq!(f.cc(0x2C, 0x09, &[0xDC, 0, 17]), cc::PARAM_OUT_OF_RANGE);
}

#[test]
fn serial_channel_access_users_and_configuration() {
    let mut f = fixture();
    // Disabled out of the box, alerting off, admin limit; both copies.
    assert_eq!(f.ok(APP, 0x41, &[0x02, 0x80]), vec![0x20, 0x04]);
    assert_eq!(f.ok(APP, 0x41, &[0x02, 0x40]), vec![0x20, 0x04]);
    // Enabling it (always available) leaves the LAN channel alone.
    f.ok(APP, 0x40, &[0x02, 0x80 | 0x02, 0x80 | 0x03]);
    assert_eq!(f.ok(APP, 0x41, &[0x02, 0x80]), vec![0x02, 0x03]);
    assert_eq!(f.ok(APP, 0x41, &[0x01, 0x80])[1], 0x04);
    // User 2 has no serial access until given some; LAN access unchanged.
    let lan = f.ok(APP, 0x44, &[0x01, 0x02]);
    assert_eq!(f.ok(APP, 0x44, &[0x02, 0x02])[3], 0x0F);
    f.ok(APP, 0x43, &[0x80 | 0x10 | 0x02, 0x02, 0x03]);
    assert_eq!(f.ok(APP, 0x44, &[0x02, 0x02])[3], 0x13);
    assert_eq!(f.ok(APP, 0x44, &[0x01, 0x02]), lan);
    // Serial/Modem Configuration: connection mode and comm settings read
    // back as written; revision-only reads; unknown and read-only params.
    const TRANSPORT: u8 = 0x0C;
    assert_eq!(f.ok(TRANSPORT, 0x11, &[0x02, 3, 0, 0]), vec![0x11, 0x01]);
    f.ok(TRANSPORT, 0x10, &[0x02, 3, 0x84]);
    assert_eq!(f.ok(TRANSPORT, 0x11, &[0x02, 3, 0, 0]), vec![0x11, 0x84]);
    assert_eq!(f.ok(TRANSPORT, 0x11, &[0x82, 7, 0, 0]), vec![0x11]);
    f.ok(TRANSPORT, 0x10, &[0x02, 7, 0x20, 0x07]);
    assert_eq!(
        f.ok(TRANSPORT, 0x11, &[0x02, 7, 0, 0]),
        vec![0x11, 0x20, 0x07]
    );
    assert_eq!(
        f.cc(TRANSPORT, 0x10, &[0x02, 7, 0x20, 0x0F]),
        cc::INVALID_FIELD
    );
    assert_eq!(
        f.cc(TRANSPORT, 0x11, &[0x02, 40, 0, 0]),
        cc::PARAM_NOT_SUPPORTED
    );
    assert_eq!(f.cc(TRANSPORT, 0x10, &[0x02, 1, 0x14]), 0x82);
    assert_eq!(f.cc(TRANSPORT, 0x10, &[0x02, 3]), cc::DATA_LENGTH_INVALID);
    assert_eq!(f.cc(TRANSPORT, 0x11, &[0x01, 3, 0, 0]), cc::INVALID_FIELD);
}
