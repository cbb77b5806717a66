//! Command-layer tests on a hand-built model: one BMC and one host sharing a
//! chassis, users admin/operator/user.

use super::*;
use fakedc_model::{
    BootDevice, BootOverride, Chassis, ChassisId, EventKind, Hardware, Machine, MachineId, Model,
    ModelParts, PowerAction, Privilege, Role, Timing, User,
};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

const SID: u32 = 0x0A0B_0C0D;

fn hardware() -> Hardware {
    Hardware {
        vendor: "Contoso".into(),
        model: "R740".into(),
        serial: "SN-0042".into(),
        smbios_guid: [
            0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD,
            0xEE, 0xFF,
        ],
        asset_tag: "ASSET-7".into(),
        part_number: "PN-123".into(),
        bios_version: "1.4.2".into(),
        bmc_firmware: "2.61".into(),
    }
}

fn machine(id: usize, name: &str, role: Role, ip: [u8; 4]) -> Machine {
    Machine {
        id: MachineId(id),
        name: name.into(),
        role,
        address: IpAddr::V4(Ipv4Addr::from(ip)),
        dns_name: format!("{name}.fakedc.test"),
        chassis: ChassisId(0),
        bmc: None,
        host: None,
        vm_host: None,
        endpoints: Vec::new(),
        options: BTreeMap::new(),
        share: None,
        vms: Vec::new(),
    }
}

fn user(id: u8, name: &str, privilege: Privilege) -> User {
    User {
        id,
        name: name.into(),
        password: name.into(),
        privilege,
        enabled: true,
        authorized_keys: Vec::new(),
    }
}

struct Fixture {
    model: Model,
    bmc: MachineId,
    state: BmcState,
    now: Instant,
}

fn fixture() -> Fixture {
    let mut bmc = machine(0, "host01-bmc", Role::Bmc, [127, 0, 10, 2]);
    bmc.host = Some(MachineId(1));
    let mut host = machine(1, "host01", Role::HypervHost, [127, 0, 10, 1]);
    host.bmc = Some(MachineId(0));
    let model = Model::new(ModelParts {
        machines: vec![bmc, host],
        chassis: vec![Chassis::new(hardware(), Timing::default(), false)],
        users: vec![
            vec![
                user(2, "admin", Privilege::Admin),
                user(3, "operator", Privilege::Operator),
                user(4, "user", Privilege::User),
            ],
            Vec::new(),
        ],
        faults: Vec::new(),
        journal_capacity: 100,
    });
    Fixture {
        model,
        bmc: MachineId(0),
        state: BmcState::new(BmcConfig::default()),
        now: fakedc_model::Clock::new().now(),
    }
}

impl Fixture {
    fn send(
        &mut self,
        netfn: u8,
        cmd: u8,
        data: &[u8],
        privilege: Privilege,
        session: Option<u32>,
    ) -> CmdResponse {
        let user = match privilege {
            Privilege::Admin => "admin",
            Privilege::Operator => "operator",
            _ => "user",
        };
        let req = CmdRequest {
            netfn,
            lun: 0,
            cmd,
            data,
            privilege,
            session_id: session,
            user: session.map(|_| user),
            channel: 1,
        };
        handle(&self.model, self.bmc, &mut self.state, &req, self.now)
    }

    /// An admin-session request that must succeed; returns the data.
    fn ok(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Vec<u8> {
        let r = self.send(netfn, cmd, data, Privilege::Admin, Some(SID));
        assert_eq!(
            r.cc, 0,
            "netfn {netfn:02x} cmd {cmd:02x} data {data:02x?} failed"
        );
        r.data
    }

    fn cc(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> u8 {
        self.send(netfn, cmd, data, Privilege::Admin, Some(SID)).cc
    }

    fn chassis(&self) -> Chassis {
        self.model.chassis(ChassisId(0), self.now)
    }
}

#[test]
fn get_device_id_is_15_bytes() {
    let mut f = fixture();
    let d = f.ok(0x06, 0x01, &[]);
    assert_eq!(
        d,
        vec![
            0x20, 0x01, 0x02, 0x61, 0x02, 0x9F, 0x37, 0x01, 0x00, 0xDC, 0x0F, 0x00, 0x00, 0x00,
            0x00
        ]
    );
    assert_eq!(f.cc(0x06, 0x01, &[0]), cc::DATA_LENGTH_EXCEEDED);
}

#[test]
fn firmware_revision_parsing() {
    assert_eq!(app::firmware_revision("2.61"), (2, 0x61));
    assert_eq!(app::firmware_revision("v3.1.4"), (3, 0x01));
    assert_eq!(app::firmware_revision("junk"), (0, 0x00));
    assert_eq!(app::firmware_revision("200.150"), (127, 0x99));
}

#[test]
fn channel_auth_caps_pre_session() {
    let mut f = fixture();
    let r = f.send(0x06, 0x38, &[0x8E, 0x04], Privilege::Callback, None);
    assert_eq!(r.cc, 0);
    // Channel 1; v2 data + MD5 + password; non-null user names; IPMI 1.5
    // and 2.0 both on; no OEM.
    assert_eq!(r.data, vec![0x01, 0x94, 0x04, 0x03, 0x00, 0x00, 0x00, 0x00]);
    let r = f.send(0x06, 0x38, &[0x0E, 0x04], Privilege::Callback, None);
    assert_eq!(r.data, vec![0x01, 0x14, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00]);
    // Only RMCP+ configured, per-message auth off.
    let mut f = fixture();
    f.state = BmcState::new(BmcConfig {
        auth_types: 0,
        cipher_suites: vec![17],
        per_message_auth: false,
        ..BmcConfig::default()
    });
    let r = f.send(0x06, 0x38, &[0x8E, 0x04], Privilege::Callback, None);
    assert_eq!(r.data, vec![0x01, 0x80, 0x14, 0x02, 0x00, 0x00, 0x00, 0x00]);
    // Bad privilege level and bad channel.
    let r = f.send(0x06, 0x38, &[0x8E, 0x06], Privilege::Callback, None);
    assert_eq!(r.cc, cc::INVALID_FIELD);
    let r = f.send(0x06, 0x38, &[0x83, 0x04], Privilege::Callback, None);
    assert_eq!(r.cc, cc::INVALID_FIELD);
    let r = f.send(0x06, 0x38, &[0x8E], Privilege::Callback, None);
    assert_eq!(r.cc, cc::DATA_LENGTH_INVALID);
    // An enabled null user (no name) with a null password is "anonymous
    // login" (b0); with a password it is "null user names" (b1); never both
    // for one user (Table 22-15).
    let mut f = fixture();
    f.model.users(f.bmc).push(user(1, "", Privilege::User));
    let r = f.send(0x06, 0x38, &[0x8E, 0x04], Privilege::Callback, None);
    assert_eq!(r.data[2], 0x05);
    if let Some(u) = f.model.users(f.bmc).iter_mut().find(|u| u.id == 1) {
        u.password = "test".into();
    }
    let r = f.send(0x06, 0x38, &[0x8E, 0x04], Privilege::Callback, None);
    assert_eq!(r.data[2], 0x06);
}

#[test]
fn cipher_suite_records_and_paging() {
    let mut f = fixture();
    let r = f.send(0x06, 0x54, &[0x0E, 0x00, 0x80], Privilege::Callback, None);
    assert_eq!(r.cc, 0);
    assert_eq!(
        r.data,
        vec![0x01, 0xC0, 0x03, 0x01, 0x41, 0x81, 0xC0, 0x11, 0x03, 0x44, 0x81]
    );
    // Next page is empty.
    let r = f.send(0x06, 0x54, &[0x0E, 0x00, 0x81], Privilege::Callback, None);
    assert_eq!(r.data, vec![0x01]);

    // Suite 4 (xRC4-128) is not implemented by the session layer: never listed.
    f.state = BmcState::new(BmcConfig {
        cipher_suites: vec![0, 1, 2, 3, 4, 17],
        ..BmcConfig::default()
    });
    let mut all = Vec::new();
    for index in 0u8.. {
        let r = f.send(
            0x06,
            0x54,
            &[0x0E, 0x00, 0x80 | index],
            Privilege::Callback,
            None,
        );
        assert_eq!(r.cc, 0);
        assert_eq!(r.data[0], 1);
        all.extend_from_slice(&r.data[1..]);
        if r.data.len() < 17 {
            break;
        }
    }
    assert_eq!(all.len(), 25);
    assert_eq!(all, crate::crypto::cipher_suite_records(&[0, 1, 2, 3, 17]));
    assert_eq!(&all[0..5], &[0xC0, 0x00, 0x00, 0x40, 0x80]);
    // Algorithm listing (bit 7 clear).
    let r = f.send(0x06, 0x54, &[0x0E, 0x00, 0x00], Privilege::Callback, None);
    assert_eq!(
        r.data[1..],
        [0x00, 0x40, 0x80, 0x01, 0x41, 0x81, 0x03, 0x44]
    );
}

#[test]
fn hpm_picmg_vso_and_unknown_commands_get_c1() {
    let mut f = fixture();
    for (netfn, cmd, data) in [
        (0x2C, 0x3E, vec![0x00, 0x02]),
        (0x2C, 0x00, vec![0x00]),
        (0x2C, 0x00, vec![0x03]),
        (0x2C, 0x01, vec![]),
        (0x06, 0xF0, vec![0x12, 0x34]),
        (0x30, 0x01, vec![]),
        (0x0A, 0x46, vec![0, 0, 0, 0]),
    ] {
        for (privilege, session) in [
            (Privilege::Admin, Some(SID)),
            (Privilege::User, Some(SID)),
            (Privilege::Callback, None),
        ] {
            let r = f.send(netfn, cmd, &data, privilege, session);
            assert_eq!(
                r.cc,
                cc::INVALID_COMMAND,
                "{netfn:02x}/{cmd:02x} {data:02x?}"
            );
            assert!(r.data.is_empty());
        }
    }
    assert_eq!(required_privilege(0x2C, 0x3E, &[0, 2]), Privilege::Admin);
    assert_eq!(command_name(0x2C, 0x00, &[0x03]), None);
    assert_eq!(
        command_name(0x2C, 0x02, &[0xDC]),
        Some("DCMI Get Power Reading")
    );
}

#[test]
fn privilege_checks() {
    let mut f = fixture();
    let set_pw = [
        0x03, 0x02, b'x', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let r = f.send(0x06, 0x47, &set_pw, Privilege::Operator, Some(SID));
    assert_eq!(r.cc, cc::INSUFFICIENT_PRIVILEGE);
    assert_eq!(
        f.model
            .authenticate(MachineId(0), "operator", "operator")
            .map(|u| u.id),
        Some(3)
    );
    let r = f.send(0x00, 0x02, &[0x01], Privilege::User, Some(SID));
    assert_eq!(r.cc, cc::INSUFFICIENT_PRIVILEGE);
    assert!(!f.chassis().power.power_on());
    let r = f.send(0x00, 0x02, &[0x01], Privilege::Operator, Some(SID));
    assert_eq!(r.cc, 0);
    assert!(f.chassis().power.power_on());
    // Outside a session only the pre-session commands answer.
    let r = f.send(0x06, 0x01, &[], Privilege::Callback, None);
    assert_eq!(r.cc, cc::INSUFFICIENT_PRIVILEGE);
    let r = f.send(0x06, 0x37, &[], Privilege::Callback, None);
    assert_eq!(r.cc, 0);
    assert_eq!(r.data, hardware().smbios_guid.to_vec());
    assert_eq!(required_privilege(0x06, 0x47, &[]), Privilege::Admin);
    assert_eq!(required_privilege(0x06, 0x38, &[]), Privilege::Callback);
    assert_eq!(required_privilege(0x00, 0x02, &[]), Privilege::Operator);
    assert_eq!(required_privilege(0x0A, 0x43, &[]), Privilege::User);
    assert!(allowed_pre_session(0x06, 0x54, &[]));
    assert!(!allowed_pre_session(0x06, 0x3C, &[]));
    // Non-zero LUN.
    let req = CmdRequest {
        netfn: 0x06,
        lun: 2,
        cmd: 0x01,
        data: &[],
        privilege: Privilege::Admin,
        session_id: Some(SID),
        user: Some("admin"),
        channel: 1,
    };
    let r = handle(&f.model, f.bmc, &mut f.state, &req, f.now);
    assert_eq!(r.cc, cc::INVALID_FOR_LUN);
}

#[test]
fn chassis_status_control_and_identify() {
    let mut f = fixture();
    let d = f.ok(0x00, 0x01, &[]);
    assert_eq!(d, vec![0x20, 0x00, 0x40, 0x00]);
    f.ok(0x00, 0x02, &[0x01]);
    let d = f.ok(0x00, 0x01, &[]);
    assert_eq!(d[0] & 0x01, 1);
    assert_eq!(d[1], 0x10);
    f.ok(0x00, 0x04, &[0x05]);
    assert_eq!(f.ok(0x00, 0x01, &[])[2], 0x50);
    f.ok(0x00, 0x04, &[0x00, 0x01]);
    assert_eq!(f.ok(0x00, 0x01, &[])[2], 0x60);
    f.ok(0x00, 0x04, &[0x00]);
    assert_eq!(f.ok(0x00, 0x01, &[])[2], 0x40);
    // NMI is logged, hard reset reboots, soft shuts down, bad code is CCh.
    f.ok(0x00, 0x02, &[0x04]);
    assert_eq!(f.cc(0x00, 0x02, &[0x06]), cc::INVALID_FIELD);
    assert_eq!(f.cc(0x00, 0x02, &[]), cc::DATA_LENGTH_INVALID);
    f.ok(0x00, 0x02, &[0x05]);
    assert!(matches!(
        f.chassis().power,
        fakedc_model::PowerState::ShuttingDown { .. }
    ));
    f.ok(0x00, 0x02, &[0x00]);
    assert!(!f.chassis().power.power_on());
    assert_eq!(f.ok(0x00, 0x06, &[0x02]), vec![0x07]);
    assert_eq!(f.ok(0x00, 0x01, &[])[0], 0x40);
    assert_eq!(f.ok(0x00, 0x07, &[]), vec![0x01, 0x01]);
    assert_eq!(f.ok(0x00, 0x00, &[]), vec![0x04, 0x20, 0x20, 0x20, 0x20]);
}

#[test]
fn boot_flags_round_trip_through_the_model() {
    let mut f = fixture();
    // What `ipmitool chassis bootdev pxe options=persistent` sends.
    f.ok(0x00, 0x08, &[0x00, 0x01]);
    f.ok(0x00, 0x08, &[0x04, 0x01, 0x01]);
    f.ok(0x00, 0x08, &[0x05, 0xC0, 0x04, 0x00, 0x00, 0x00]);
    f.ok(0x00, 0x08, &[0x00, 0x02]);
    f.ok(0x00, 0x08, &[0x00, 0x00]);
    assert_eq!(
        f.chassis().boot,
        BootOverride {
            device: BootDevice::Pxe,
            persistent: true,
            efi: false
        }
    );
    assert_eq!(
        f.ok(0x00, 0x09, &[0x05, 0x00, 0x00]),
        vec![0x01, 0x05, 0xC0, 0x04, 0x00, 0x00, 0x00]
    );
    assert_eq!(
        f.ok(0x00, 0x09, &[0x04, 0x00, 0x00]),
        vec![0x01, 0x04, 0x00, 0x01]
    );
    assert_eq!(
        f.ok(0x00, 0x09, &[0x00, 0x00, 0x00]),
        vec![0x01, 0x00, 0x00]
    );

    // One-time EFI CD-ROM with a lock-keyboard bit; the boot uses it up.
    f.ok(0x00, 0x08, &[0x05, 0xA0, 0x54, 0x00, 0x00, 0x00]);
    assert_eq!(
        f.chassis().boot,
        BootOverride {
            device: BootDevice::Cdrom,
            persistent: false,
            efi: true
        }
    );
    assert_eq!(
        f.ok(0x00, 0x09, &[0x05, 0x00, 0x00]),
        vec![0x01, 0x05, 0xA0, 0x54, 0x00, 0x00, 0x00]
    );
    f.ok(0x00, 0x02, &[0x01]);
    assert_eq!(f.chassis().last_boot_device, BootDevice::Cdrom);
    assert_eq!(
        f.ok(0x00, 0x09, &[0x05, 0x00, 0x00]),
        vec![0x01, 0x05, 0x20, 0x00, 0x00, 0x00, 0x00]
    );

    // Another front end sets the override: IPMI sees it.
    f.model.with_chassis(ChassisId(0), f.now, |c| {
        c.set_boot(BootOverride {
            device: BootDevice::Bios,
            persistent: false,
            efi: false,
        })
    });
    assert_eq!(
        f.ok(0x00, 0x09, &[0x05, 0x00, 0x00]),
        vec![0x01, 0x05, 0x80, 0x18, 0x00, 0x00, 0x00]
    );
    // Floppy, safe, diag, bios, disk, none.
    for (bits, device) in [
        (0x3C, BootDevice::Floppy),
        (0x0C, BootDevice::Safe),
        (0x10, BootDevice::Diag),
        (0x18, BootDevice::Bios),
        (0x08, BootDevice::Disk),
        (0x00, BootDevice::None),
    ] {
        f.ok(0x00, 0x08, &[0x05, 0x80, bits, 0x00, 0x00, 0x00]);
        assert_eq!(f.chassis().boot.device, device);
        assert_eq!(f.ok(0x00, 0x09, &[0x05, 0x00, 0x00])[3], bits);
    }
    // Boot initiator info records the session.
    let d = f.ok(0x00, 0x09, &[0x06, 0x00, 0x00]);
    assert_eq!(&d[2..7], &[0x01, 0x0D, 0x0C, 0x0B, 0x0A]);
    // Errors.
    assert_eq!(
        f.cc(0x00, 0x08, &[0x05, 0x80, 0x28, 0, 0, 0]),
        cc::INVALID_FIELD
    );
    assert_eq!(
        f.cc(0x00, 0x08, &[0x05, 0x80, 0x04]),
        cc::DATA_LENGTH_INVALID
    );
    assert_eq!(
        f.cc(0x00, 0x09, &[0x07, 0x00, 0x00]),
        cc::PARAM_NOT_SUPPORTED
    );
    assert_eq!(f.cc(0x00, 0x09, &[0x05]), cc::DATA_LENGTH_INVALID);
    assert_eq!(f.cc(0x00, 0x08, &[0x30, 0x00]), cc::PARAM_NOT_SUPPORTED);
    for p in 1..=3u8 {
        f.ok(0x00, 0x08, &[p, 0x01]);
        assert_eq!(f.ok(0x00, 0x09, &[p, 0, 0]), vec![0x01, p, 0x01]);
    }
}

/// A decoded full sensor record (the parts ipmitool uses).
#[derive(Debug)]
struct FullSensor {
    number: u8,
    sensor_type: u8,
    unit: u8,
    m: i32,
    b: i32,
    b_exp: i32,
    r_exp: i32,
    readable: u8,
    thresholds: [u8; 6], // UNR, UCR, UNC, LNR, LCR, LNC
    name: String,
}

fn signed(value: i32, bits: u32) -> i32 {
    let sign = 1 << (bits - 1);
    if value & sign != 0 {
        value - (1 << bits)
    } else {
        value
    }
}

impl FullSensor {
    fn parse(r: &[u8]) -> FullSensor {
        assert_eq!(r[2], 0x51);
        assert_eq!(r[3], 0x01);
        assert_eq!(usize::from(r[4]), r.len() - 5);
        let idlen = usize::from(r[47] & 0x1F);
        assert_eq!(r[47] & 0xC0, 0xC0);
        assert_eq!(r.len(), 48 + idlen);
        FullSensor {
            number: r[7],
            sensor_type: r[12],
            unit: r[21],
            m: signed(i32::from(r[24]) | (i32::from(r[25] & 0xC0) << 2), 10),
            b: signed(i32::from(r[26]) | (i32::from(r[27] & 0xC0) << 2), 10),
            r_exp: signed(i32::from(r[29] >> 4), 4),
            b_exp: signed(i32::from(r[29] & 0x0F), 4),
            readable: r[18],
            thresholds: [r[36], r[37], r[38], r[39], r[40], r[41]],
            name: String::from_utf8_lossy(&r[48..48 + idlen]).into_owned(),
        }
    }

    fn value(&self, raw: u8) -> f64 {
        (f64::from(self.m) * f64::from(raw) + f64::from(self.b) * 10f64.powi(self.b_exp))
            * 10f64.powi(self.r_exp)
    }

    fn step(&self) -> f64 {
        f64::from(self.m) * 10f64.powi(self.r_exp)
    }
}

/// Reads the whole SDR repository the way ipmitool does: header first,
/// then the body in 16-byte partial reads under a reservation.
fn read_repository(f: &mut Fixture) -> Vec<Vec<u8>> {
    let info = f.ok(0x0A, 0x20, &[]);
    assert_eq!(info.len(), 14);
    assert_eq!(info[0], 0x51);
    let count = usize::from(u16::from_le_bytes([info[1], info[2]]));
    let res = f.ok(0x0A, 0x22, &[]);
    let mut id = 0u16;
    let mut records = Vec::new();
    loop {
        let [a, b] = id.to_le_bytes();
        let h = f.ok(0x0A, 0x23, &[res[0], res[1], a, b, 0, 5]);
        assert_eq!(h.len(), 7);
        let next = u16::from_le_bytes([h[0], h[1]]);
        let mut rec = h[2..].to_vec();
        let len = usize::from(rec[4]);
        let mut off = 0;
        while off < len {
            let n = (len - off).min(16);
            let d = f.ok(
                0x0A,
                0x23,
                &[res[0], res[1], a, b, (5 + off) as u8, n as u8],
            );
            assert_eq!(d.len(), 2 + n);
            rec.extend_from_slice(&d[2..]);
            off += n;
        }
        records.push(rec);
        if next == 0xFFFF {
            break;
        }
        id = next;
    }
    assert_eq!(records.len(), count);
    records
}

#[test]
fn sdr_repository_decodes_to_model_readings() {
    let mut f = fixture();
    let records = read_repository(&mut f);
    let types: Vec<u8> = records.iter().map(|r| r[3]).collect();
    let sensors = f.chassis().sensors;
    assert_eq!(types.iter().filter(|&&t| t == 0x01).count(), sensors.len());
    assert_eq!(types.iter().filter(|&&t| t == 0x03).count(), 9);
    assert_eq!(types[types.len() - 2..], [0x11, 0x12]);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(u16::from_le_bytes([r[0], r[1]]) as usize, i + 1);
    }
    let full: Vec<FullSensor> = records
        .iter()
        .filter(|r| r[3] == 0x01)
        .map(|r| FullSensor::parse(r))
        .collect();
    for power_on in [false, true] {
        if power_on {
            f.ok(0x00, 0x02, &[0x01]);
        }
        for (s, model) in full.iter().zip(&sensors) {
            assert_eq!(s.name, model.name);
            let expected_unit = match model.kind {
                fakedc_model::SensorKind::Temperature => 0x01,
                fakedc_model::SensorKind::Fan => 0x12,
                fakedc_model::SensorKind::Voltage => 0x04,
                fakedc_model::SensorKind::Current => 0x05,
                fakedc_model::SensorKind::Power => 0x06,
            };
            assert_eq!(s.unit, expected_unit, "{}", s.name);
            let d = f.ok(0x04, 0x2D, &[s.number]);
            assert_eq!(d.len(), 3);
            // Main-power sensors have no reading while the chassis is off.
            let main_power = model.lower_critical.is_some_and(|lc| model.off_value <= lc);
            if !power_on && main_power {
                assert_eq!(d, vec![0x00, 0xE0, 0xC0], "{}", s.name);
                continue;
            }
            assert_eq!(d[1], 0xC0);
            let value = s.value(d[0]);
            let want = model.reading(power_on);
            assert!(
                (value - want).abs() <= s.step() / 2.0 + 1e-9,
                "{}: raw {} -> {value}, model {want} (step {})",
                s.name,
                d[0],
                s.step()
            );
            // Thresholds in the record match Get Sensor Thresholds and the model.
            let t = f.ok(0x04, 0x27, &[s.number]);
            assert_eq!(t[0], s.readable);
            assert_eq!(t[2], s.thresholds[4]); // LCR
            assert_eq!(t[5], s.thresholds[1]); // UCR
            if let Some(uc) = model.upper_critical {
                assert!((s.value(s.thresholds[1]) - uc).abs() <= s.step() / 2.0 + 1e-9);
            } else {
                assert_eq!(s.readable & 0x10, 0);
            }
            // Status bits follow the thresholds.
            let mut status = 0u8;
            let raw = d[0];
            if s.readable & 0x01 != 0 && raw <= s.thresholds[5] {
                status |= 0x01;
            }
            if s.readable & 0x02 != 0 && raw <= s.thresholds[4] {
                status |= 0x02;
            }
            if s.readable & 0x08 != 0 && raw >= s.thresholds[2] {
                status |= 0x08;
            }
            if s.readable & 0x10 != 0 && raw >= s.thresholds[1] {
                status |= 0x10;
            }
            assert_eq!(d[2], 0xC0 | status, "{}", s.name);
        }
    }
    // Powered on, no default sensor is outside its thresholds; the fans
    // read 0 RPM when off, below their critical threshold.
    let fan = full.iter().find(|s| s.name == "Fan1").map(|s| s.number);
    let fan = fan.unwrap_or(0);
    assert_eq!(f.ok(0x04, 0x2D, &[fan])[2], 0xC0);
    assert!(full.iter().any(|s| s.sensor_type == 0x04));
    // Unknown sensor.
    assert_eq!(f.cc(0x04, 0x2D, &[0x99]), cc::NOT_PRESENT);
    assert_eq!(f.cc(0x04, 0x27, &[0x99]), cc::NOT_PRESENT);
    // Event-only sensors answer with discrete state; ACPI says S0.
    assert_eq!(f.ok(0x04, 0x2D, &[0xD0]), vec![0x00, 0xC0, 0x01, 0x80]);
}

#[test]
fn sdr_timestamp_is_stable_and_tracks_the_sensor_set() {
    let mut f = fixture();
    let a = f.ok(0x0A, 0x20, &[]);
    f.state = BmcState::new(BmcConfig::default());
    assert_eq!(f.ok(0x0A, 0x20, &[]), a);
    f.model
        .with_chassis(ChassisId(0), f.now, |c| c.sensors.pop());
    let b = f.ok(0x0A, 0x20, &[]);
    assert_ne!(a[5..9], b[5..9]);
    assert_eq!(b[1], a[1] - 1);
}

#[test]
fn linear_factors_cover_each_sensor() {
    for s in fakedc_model::Sensor::default_set() {
        let l = sdr::linear_for(&s);
        for v in [s.on_value, s.off_value]
            .into_iter()
            .chain(s.upper_critical)
            .chain(s.lower_critical)
        {
            let back = l.value(l.raw(v));
            assert!(
                (back - v).abs() <= l.step() / 2.0 + 1e-9,
                "{} {v} {back}",
                s.name
            );
        }
    }
    let temp = fakedc_model::Sensor::default_set()
        .into_iter()
        .find(|s| s.name == "CPU1 Temp")
        .map(|s| sdr::linear_for(&s));
    assert_eq!(
        temp,
        Some(Linear {
            m: 1,
            b: 0,
            b_exp: 0,
            r_exp: 0
        })
    );
}

#[test]
fn sdr_reservation_is_checked_for_partial_reads() {
    let mut f = fixture();
    let old = f.ok(0x0A, 0x22, &[]);
    let new = f.ok(0x0A, 0x22, &[]);
    assert_ne!(old, new);
    assert_eq!(
        f.cc(0x0A, 0x23, &[old[0], old[1], 1, 0, 5, 4]),
        cc::RESERVATION_CANCELED
    );
    f.ok(0x0A, 0x23, &[new[0], new[1], 1, 0, 5, 4]);
    // Offset 0 needs no reservation; whole record with FFh.
    let d = f.ok(0x0A, 0x23, &[0, 0, 1, 0, 0, 0xFF]);
    assert_eq!(d.len(), 2 + 5 + usize::from(d[6]));
    assert_eq!(f.cc(0x0A, 0x23, &[0, 0, 0x40, 0, 0, 5]), cc::NOT_PRESENT);
    assert_eq!(
        f.cc(0x0A, 0x23, &[new[0], new[1], 1, 0, 40, 60]),
        cc::CANT_RETURN_BYTES
    );
    // Device SDR commands serve the same records.
    assert_eq!(f.ok(0x04, 0x21, &[0, 0, 1, 0, 0, 0xFF]), d);
    assert_eq!(f.ok(0x04, 0x20, &[]), vec![9 + 9, 0x01]);
}

#[test]
fn set_sensor_threshold_changes_the_model() {
    let mut f = fixture();
    // Inlet Temp is sensor 1, 1 degree per step.
    f.ok(0x04, 0x26, &[0x01, 0x08, 0, 0, 0, 40, 0, 0]);
    let s = &f.chassis().sensors[0];
    assert_eq!(s.upper_non_critical, Some(40.0));
    assert_eq!(
        f.cc(0x04, 0x26, &[0x01, 0x20, 0, 0, 0, 0, 0, 50]),
        cc::INVALID_FIELD
    );
}

/// Reads FRU 0 in chunks and returns the image.
fn read_fru(f: &mut Fixture) -> Vec<u8> {
    let info = f.ok(0x0A, 0x10, &[0x00]);
    assert_eq!(info.len(), 3);
    let size = usize::from(u16::from_le_bytes([info[0], info[1]]));
    let mut img = Vec::new();
    while img.len() < size {
        let [lo, hi] = (img.len() as u16).to_le_bytes();
        let d = f.ok(0x0A, 0x11, &[0x00, lo, hi, 0xFF]);
        let n = usize::from(d[0]);
        assert!(n > 0 && n <= FRU_MAX_READ);
        assert_eq!(d.len(), 1 + n);
        img.extend_from_slice(&d[1..]);
    }
    assert_eq!(img.len(), size);
    img
}

fn fru_fields(area: &[u8], mut at: usize) -> Vec<String> {
    let mut out = Vec::new();
    while area[at] != 0xC1 {
        let len = usize::from(area[at] & 0x3F);
        assert_eq!(area[at] & 0xC0, 0xC0);
        out.push(String::from_utf8_lossy(&area[at + 1..at + 1 + len]).into_owned());
        at += 1 + len;
    }
    out
}

#[test]
fn fru_image_is_well_formed() {
    let mut f = fixture();
    let img = read_fru(&mut f);
    assert_eq!(img[0], 0x01);
    assert_eq!(img[..8].iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0);
    let area = |off: u8| {
        let start = usize::from(off) * 8;
        let len = usize::from(img[start + 1]) * 8;
        let a = &img[start..start + len];
        assert_eq!(a[0], 0x01);
        assert_eq!(
            a.iter().fold(0u8, |s, &b| s.wrapping_add(b)),
            0,
            "area checksum"
        );
        a.to_vec()
    };
    let chassis = area(img[2]);
    assert_eq!(chassis[2], 0x17);
    assert_eq!(fru_fields(&chassis, 3), vec!["PN-123", "SN-0042"]);
    let board = area(img[3]);
    let minutes = u32::from_le_bytes([board[3], board[4], board[5], 0]);
    assert_eq!(u64::from(minutes) * 60 + 820_454_400, 1_672_617_600);
    assert_eq!(
        fru_fields(&board, 6),
        vec!["Contoso", "R740", "SN-0042", "PN-123", ""]
    );
    let product = area(img[4]);
    assert_eq!(
        fru_fields(&product, 3),
        vec!["Contoso", "R740", "PN-123", "1.4.2", "SN-0042", "ASSET-7", ""]
    );
    assert_eq!(img.len() % 8, 0);
    // Other FRU ids, bad offsets and writes.
    assert_eq!(f.cc(0x0A, 0x10, &[0x01]), cc::NOT_PRESENT);
    let [lo, hi] = (img.len() as u16).to_le_bytes();
    assert_eq!(f.cc(0x0A, 0x11, &[0x00, lo, hi, 1]), cc::PARAM_OUT_OF_RANGE);
    assert_eq!(
        f.cc(0x0A, 0x12, &[0x00, 0, 0, 1]),
        cc::NOT_SUPPORTED_IN_STATE
    );
}

/// Reads every SEL record from the first.
fn read_sel(f: &mut Fixture) -> Vec<Vec<u8>> {
    let mut id = 0u16;
    let mut out = Vec::new();
    loop {
        let [a, b] = id.to_le_bytes();
        let d = f.ok(0x0A, 0x43, &[0, 0, a, b, 0, 0xFF]);
        assert_eq!(d.len(), 18);
        out.push(d[2..].to_vec());
        let next = u16::from_le_bytes([d[0], d[1]]);
        if next == 0xFFFF {
            return out;
        }
        id = next;
    }
}

#[test]
fn sel_entries_after_power_on() {
    let mut f = fixture();
    let info = f.ok(0x0A, 0x40, &[]);
    assert_eq!(info.len(), 14);
    assert_eq!(&info[..3], &[0x51, 0x00, 0x00]);
    assert_eq!(&info[5..9], &[0xFF; 4]);
    assert_eq!(f.cc(0x0A, 0x43, &[0, 0, 0, 0, 0, 0xFF]), cc::NOT_PRESENT);

    f.ok(0x00, 0x02, &[0x01]);
    f.now += Duration::from_secs(5);
    let info = f.ok(0x0A, 0x40, &[]);
    assert_eq!(&info[1..3], &[0x03, 0x00]);
    let recs = read_sel(&mut f);
    assert_eq!(recs.len(), 3);
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(u16::from_le_bytes([r[0], r[1]]) as usize, i + 1);
        assert_eq!(r[2], 0x02);
        assert_eq!(&r[7..10], &[0x20, 0x00, 0x04]);
        assert_eq!(r[12], 0x6F);
        let ts = u32::from_le_bytes([r[3], r[4], r[5], r[6]]);
        assert!(ts > 1_600_000_000);
    }
    assert_eq!(&recs[0][10..16], &[0x22, 0xD0, 0x6F, 0x00, 0xFF, 0xFF]);
    assert_eq!(&recs[1][10..16], &[0x0F, 0xD4, 0x6F, 0xC2, 0x13, 0xFF]);
    assert_eq!(&recs[2][10..16], &[0x1F, 0xD3, 0x6F, 0x01, 0xFF, 0xFF]);
    // Last record by FFFFh; partial read under a reservation.
    let d = f.ok(0x0A, 0x43, &[0, 0, 0xFF, 0xFF, 0, 0xFF]);
    assert_eq!(&d[..2], &[0xFF, 0xFF]);
    assert_eq!(d[2..], recs[2][..]);
    let res = f.ok(0x0A, 0x42, &[]);
    let d = f.ok(0x0A, 0x43, &[res[0], res[1], 2, 0, 10, 3]);
    assert_eq!(d, vec![0x03, 0x00, 0x0F, 0xD4, 0x6F]);
    assert_eq!(
        f.cc(0x0A, 0x43, &[0x55, 0x55, 2, 0, 10, 3]),
        cc::RESERVATION_CANCELED
    );

    // PXE boot after a reset shows as such, and its completion too.
    f.model.with_chassis(ChassisId(0), f.now, |c| {
        c.set_boot(BootOverride {
            device: BootDevice::Pxe,
            persistent: false,
            efi: false,
        });
        c.power_action(PowerAction::Reset, f.now);
    });
    f.now += Duration::from_secs(5);
    let recs = read_sel(&mut f);
    assert_eq!(&recs[3][10..14], &[0x1D, 0xD2, 0x6F, 0x01]);
    assert_eq!(&recs[4][10..14], &[0x1D, 0xD2, 0x6F, 0x03]);
    assert_eq!(&recs[5][10..14], &[0x1F, 0xD3, 0x6F, 0x02]);

    // Add SEL Entry keeps the record; its timestamp is the log's.
    let mut add = [0u8; 16];
    add[2] = 0x02;
    add[9..16].copy_from_slice(&[0x04, 0x01, 0x30, 0x01, 0x59, 0x00, 0x00]);
    let id = f.ok(0x0A, 0x44, &add);
    let recs = read_sel(&mut f);
    let last = recs.last().cloned().unwrap_or_default();
    assert_eq!(&last[..2], &id[..]);
    assert_eq!(&last[9..16], &add[9..16]);
    assert_ne!(&last[3..7], &[0, 0, 0, 0]);

    // Clear: reservation, CLR, AAh; then status.
    assert_eq!(
        f.cc(0x0A, 0x47, &[0, 0, b'C', b'L', b'R', 0xAA]),
        cc::RESERVATION_CANCELED
    );
    let res = f.ok(0x0A, 0x42, &[]);
    assert_eq!(
        f.cc(0x0A, 0x47, &[res[0], res[1], b'C', b'L', b'X', 0xAA]),
        cc::INVALID_FIELD
    );
    assert_eq!(
        f.ok(0x0A, 0x47, &[res[0], res[1], b'C', b'L', b'R', 0xAA]),
        vec![0x01]
    );
    let recs = read_sel(&mut f);
    assert_eq!(recs.len(), 1);
    assert_eq!(&recs[0][10..14], &[0x10, 0xD6, 0x6F, 0x02]);
    let info = f.ok(0x0A, 0x40, &[]);
    assert_ne!(&info[9..13], &[0xFF; 4]);
}

#[test]
fn sel_time_offset() {
    let mut f = fixture();
    f.ok(0x0A, 0x49, &1_000_000_000u32.to_le_bytes());
    let t = u32::from_le_bytes(f.ok(0x0A, 0x48, &[]).try_into().unwrap_or([0; 4]));
    assert!((1_000_000_000..1_000_000_010).contains(&t));
    f.model
        .with_chassis(ChassisId(0), f.now, |c| c.log.push(EventKind::Nmi));
    let r = read_sel(&mut f);
    let ts = u32::from_le_bytes([r[0][3], r[0][4], r[0][5], r[0][6]]);
    assert!((1_000_000_000..1_000_000_010).contains(&ts));
    assert_eq!(&r[0][10..14], &[0x13, 0xD5, 0x6F, 0x00]);
}

#[test]
fn users_names_passwords_and_access() {
    let mut f = fixture();
    assert_eq!(&f.ok(0x06, 0x46, &[0x02])[..5], b"admin");
    assert_eq!(f.ok(0x06, 0x46, &[0x07]), vec![0; 16]);
    assert_eq!(f.ok(0x06, 0x44, &[0x01, 0x02]), vec![16, 0x43, 0x01, 0x14]);
    assert_eq!(f.ok(0x06, 0x44, &[0x0E, 0x07]), vec![16, 0x03, 0x01, 0x0F]);
    assert_eq!(f.cc(0x06, 0x44, &[0x01, 0x00]), cc::INVALID_FIELD);
    assert_eq!(f.cc(0x06, 0x44, &[0x01, 0x11]), cc::INVALID_FIELD);

    // ipmitool user set name 5 alice; set password; priv 3; enable.
    let mut name = vec![0x05];
    name.extend_from_slice(b"alice\0\0\0\0\0\0\0\0\0\0\0");
    f.ok(0x06, 0x45, &name);
    let mut pw = vec![0x05, 0x02];
    pw.extend_from_slice(b"s3cret\0\0\0\0\0\0\0\0\0\0");
    f.ok(0x06, 0x47, &pw);
    f.ok(0x06, 0x43, &[0x91, 0x05, 0x03, 0x00]);
    assert!(f
        .model
        .authenticate(MachineId(0), "alice", "s3cret")
        .is_none());
    let mut enable = vec![0x05, 0x01];
    enable.extend_from_slice(&[0; 16]);
    f.ok(0x06, 0x47, &enable);
    let u = f.model.authenticate(MachineId(0), "alice", "s3cret");
    assert_eq!(
        u.map(|u| (u.id, u.privilege)),
        Some((5, Privilege::Operator))
    );
    // Test password: right, wrong, wrong size.
    let mut test = vec![0x05, 0x03];
    test.extend_from_slice(b"s3cret\0\0\0\0\0\0\0\0\0\0");
    f.ok(0x06, 0x47, &test);
    test[2] = b'S';
    assert_eq!(f.cc(0x06, 0x47, &test), 0x80);
    let mut long = vec![0x85, 0x02];
    long.extend_from_slice(b"0123456789abcdefghij");
    f.ok(0x06, 0x47, &long);
    let mut test16 = vec![0x05, 0x03];
    test16.extend_from_slice(b"0123456789abcdef");
    assert_eq!(f.cc(0x06, 0x47, &test16), 0x81);
    // 20-byte flag with a 16-byte password is a length error.
    assert_eq!(
        f.cc(0x06, 0x47, &[0x85, 0x02, 0, 0, 0]),
        cc::DATA_LENGTH_INVALID
    );
    // Duplicate names and the null user's name are refused.
    let mut dup = vec![0x06];
    dup.extend_from_slice(b"admin\0\0\0\0\0\0\0\0\0\0\0");
    assert_eq!(f.cc(0x06, 0x45, &dup), cc::INVALID_FIELD);
    dup[0] = 0x01;
    assert_eq!(f.cc(0x06, 0x45, &dup), cc::INVALID_FIELD);
    // Disable.
    f.ok(0x06, 0x47, &[0x05, 0x00]);
    assert!(f
        .model
        .authenticate(MachineId(0), "alice", "0123456789abcdefghij")
        .is_none());
}

#[test]
fn session_commands() {
    let mut f = fixture();
    // Set Session Privilege Level.
    let r = f.send(0x06, 0x3B, &[0x04], Privilege::User, Some(SID));
    assert_eq!(r.cc, 0x81, "user 'user' can't become admin");
    let r = f.send(0x06, 0x3B, &[0x04], Privilege::Admin, Some(SID));
    assert_eq!(r.data, vec![0x04]);
    assert_eq!(r.effect, Effect::SetSessionPrivilege(Privilege::Admin));
    let r = f.send(0x06, 0x3B, &[0x00], Privilege::Operator, Some(SID));
    assert_eq!((r.data, r.effect), (vec![0x03], Effect::None));
    // Session info from the snapshot.
    let info = SessionInfo {
        handle: 3,
        session_id: SID,
        user_id: 2,
        privilege: Privilege::Admin,
        ipmi20: true,
        encrypted: true,
        channel: 1,
        console_ip: [127, 0, 0, 1],
        console_mac: [0; 6],
        console_port: 40000,
    };
    let other = SessionInfo {
        handle: 4,
        session_id: 0x99,
        ..info.clone()
    };
    f.state.set_sessions(vec![info, other]);
    let d = f.ok(0x06, 0x3D, &[0x00]);
    assert_eq!(
        d,
        vec![3, 8, 2, 2, 4, 0x11, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x40, 0x9C]
    );
    assert_eq!(f.ok(0x06, 0x3D, &[0xFE, 4])[0], 4);
    assert_eq!(f.ok(0x06, 0x3D, &[0xFF, 0x99, 0, 0, 0])[0], 4);
    assert_eq!(f.ok(0x06, 0x3D, &[0x05]), vec![0, 8, 2]);
    assert_eq!(f.cc(0x06, 0x3D, &[0xFE, 9]), cc::NOT_PRESENT);
    // Close Session: others need admin; unknown ids 87h.
    let r = f.send(0x06, 0x3C, &[0x99, 0, 0, 0], Privilege::Operator, Some(SID));
    assert_eq!(r.cc, cc::INSUFFICIENT_PRIVILEGE);
    assert_eq!(f.cc(0x06, 0x3C, &[0x98, 0, 0, 0]), 0x87);
    assert_eq!(f.cc(0x06, 0x3C, &[0, 0, 0, 0, 9]), 0x88);
    let r = f.send(0x06, 0x3C, &SID.to_le_bytes(), Privilege::User, Some(SID));
    assert_eq!(r.effect, Effect::CloseSession(SID));
    let r = f.send(0x06, 0x3C, &[0, 0, 0, 0, 4], Privilege::Admin, Some(SID));
    assert_eq!(r.effect, Effect::CloseSession(0x99));
    // Resets close everything.
    let r = f.send(0x06, 0x03, &[], Privilege::Admin, Some(SID));
    assert_eq!(r.effect, Effect::CloseAllSessions);
}

#[test]
fn channel_commands() {
    let mut f = fixture();
    assert_eq!(
        f.ok(0x06, 0x42, &[0x0E]),
        vec![0x01, 0x04, 0x01, 0x80, 0xF2, 0x1B, 0x00, 0x00, 0x00]
    );
    assert_eq!(f.cc(0x06, 0x42, &[0x03]), cc::INVALID_FIELD);
    assert_eq!(f.ok(0x06, 0x41, &[0x01, 0x80]), vec![0x02, 0x04]);
    f.ok(0x06, 0x40, &[0x01, 0x80 | 0x20 | 0x02, 0x83]);
    assert_eq!(f.ok(0x06, 0x41, &[0x01, 0x80]), vec![0x22, 0x03]);
    assert_eq!(f.ok(0x06, 0x41, &[0x01, 0x40]), vec![0x02, 0x04]);
    assert_eq!(
        f.ok(0x06, 0x4E, &[0x01]),
        vec![0x03, 0x00, 0x3F, 0x00, 0x00, 0x00, 0x00, 0x00]
    );
}

#[test]
fn sol_activation() {
    let mut f = fixture();
    f.state.config.udp_port = 16230;
    let activate = [0x01, 0x01, 0xC6, 0x00, 0x00, 0x00];
    let r = f.send(0x06, 0x48, &activate, Privilege::Admin, Some(SID));
    assert_eq!(r.cc, 0);
    assert_eq!(
        r.data,
        vec![0, 0, 0, 0, 0xFF, 0x00, 0xFF, 0x00, 0x66, 0x3F, 0xFF, 0xFF]
    );
    assert_eq!(r.effect, Effect::ActivateSol { instance: 1 });
    assert_eq!(f.state.sol_active(1), Some(SID));
    assert_eq!(f.ok(0x06, 0x4A, &[0x01]), vec![0x01, 0x01, 0x00]);
    let r = f.send(0x06, 0x48, &activate, Privilege::Admin, Some(7));
    assert_eq!(r.cc, 0x80);
    let r = f.send(0x06, 0x49, &activate, Privilege::User, Some(7));
    assert_eq!(r.cc, cc::INSUFFICIENT_PRIVILEGE);
    let r = f.send(0x06, 0x49, &activate, Privilege::User, Some(SID));
    assert_eq!(r.effect, Effect::DeactivateSol { instance: 1 });
    assert_eq!(f.cc(0x06, 0x49, &activate), 0x80);
    // A session that ends releases its payload.
    f.ok(0x06, 0x48, &activate);
    assert_eq!(f.state.session_closed(SID), vec![1]);
    assert_eq!(f.state.sol_active(1), None);
    // Encryption rules.
    let r = f.send(
        0x06,
        0x48,
        &[0x01, 0x01, 0x06, 0, 0, 0],
        Privilege::Admin,
        Some(SID),
    );
    assert_eq!(r.cc, 0x84);
    f.state.set_sessions(vec![SessionInfo {
        handle: 1,
        session_id: SID,
        user_id: 2,
        privilege: Privilege::Admin,
        ipmi20: true,
        encrypted: false,
        channel: 1,
        console_ip: [0; 4],
        console_mac: [0; 6],
        console_port: 1,
    }]);
    assert_eq!(f.cc(0x06, 0x48, &activate), 0x83);
    // Disabled SOL.
    f.ok(0x0C, 0x21, &[0x01, 0x01, 0x00]);
    assert_eq!(f.cc(0x06, 0x48, &activate), 0x81);
    assert_eq!(
        f.cc(0x06, 0x48, &[0x00, 0x01, 0xC6, 0, 0, 0]),
        cc::INVALID_FIELD
    );
}

#[test]
fn user_payload_access() {
    let mut f = fixture();
    assert_eq!(f.ok(0x06, 0x4D, &[0x01, 0x02]), vec![0x02, 0, 0, 0]);
    assert_eq!(f.ok(0x06, 0x4D, &[0x01, 0x09]), vec![0x00, 0, 0, 0]);
    f.ok(0x06, 0x4C, &[0x01, 0x42, 0x02, 0, 0, 0]);
    assert_eq!(f.ok(0x06, 0x4D, &[0x01, 0x02]), vec![0x00, 0, 0, 0]);
    let activate = [0x01, 0x01, 0xC6, 0x00, 0x00, 0x00];
    assert_eq!(f.cc(0x06, 0x48, &activate), cc::INSUFFICIENT_PRIVILEGE);
    f.ok(0x06, 0x4C, &[0x01, 0x02, 0x02, 0, 0, 0]);
    f.ok(0x06, 0x48, &activate);
    assert_eq!(
        f.cc(0x06, 0x4C, &[0x01, 0xC2, 0x02, 0, 0, 0]),
        cc::INVALID_FIELD
    );
}

#[test]
fn lan_parameters_for_lan_print() {
    let mut f = fixture();
    let expect: &[(u8, usize)] = &[
        (0, 1),
        (1, 1),
        (2, 5),
        (3, 4),
        (4, 1),
        (5, 6),
        (6, 4),
        (7, 3),
        (8, 2),
        (9, 2),
        (10, 1),
        (11, 1),
        (12, 4),
        (13, 6),
        (14, 4),
        (15, 6),
        (16, 18),
        (20, 2),
        (21, 1),
        (22, 1),
        (23, 3),
        (24, 9),
        (26, 6),
    ];
    for &(p, len) in expect {
        let d = f.ok(0x0C, 0x02, &[0x01, p, 0, 0]);
        assert_eq!(d[0], 0x11);
        assert_eq!(d.len(), 1 + len, "param {p}");
    }
    assert_eq!(f.ok(0x0C, 0x02, &[0x01, 3, 0, 0])[1..], [127, 0, 10, 2]);
    assert_eq!(
        f.ok(0x0C, 0x02, &[0x01, 5, 0, 0])[1..],
        [0x02, 0xFD, 127, 0, 10, 2]
    );
    assert_eq!(f.ok(0x0C, 0x02, &[0x01, 23, 0, 0])[1..], [0x00, 3, 17]);
    assert_eq!(
        f.ok(0x0C, 0x02, &[0x01, 24, 0, 0])[1..],
        [0x00, 0x00, 0x40, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(f.ok(0x0C, 0x02, &[0x81, 3, 0, 0]), vec![0x11]);
    assert_eq!(
        f.cc(0x0C, 0x02, &[0x01, 0x60, 0, 0]),
        cc::PARAM_NOT_SUPPORTED
    );
    assert_eq!(f.cc(0x0C, 0x02, &[0x02, 3, 0, 0]), cc::INVALID_FIELD);
    // Set and read back exactly; read-only parameters 82h.
    f.ok(0x0C, 0x01, &[0x01, 0x00, 0x01]);
    f.ok(0x0C, 0x01, &[0x01, 3, 10, 1, 2, 3]);
    f.ok(0x0C, 0x01, &[0x01, 0x00, 0x02]);
    f.ok(0x0C, 0x01, &[0x01, 0x00, 0x00]);
    assert_eq!(f.ok(0x0C, 0x02, &[0x01, 3, 0, 0])[1..], [10, 1, 2, 3]);
    f.ok(0x0C, 0x01, &[0x01, 20, 0x0A, 0x80]);
    assert_eq!(f.state.lan.vlan_id(), Some(10));
    f.ok(0x0C, 0x01, &[0x01, 2, 0x14, 0x14, 0x04, 0x04, 0x00]);
    let r = f.send(0x06, 0x38, &[0x8E, 0x04], Privilege::Callback, None);
    assert_eq!(r.data[1], 0x84);
    assert_eq!(f.cc(0x0C, 0x01, &[0x01, 23, 0x00]), 0x82);
    assert_eq!(
        f.cc(0x0C, 0x01, &[0x01, 3, 10, 1, 2]),
        cc::DATA_LENGTH_INVALID
    );
    assert_eq!(f.cc(0x0C, 0x01, &[0x01, 0x70, 1]), cc::PARAM_NOT_SUPPORTED);
    let r = f.send(
        0x0C,
        0x01,
        &[0x01, 3, 10, 1, 2, 3],
        Privilege::Operator,
        Some(SID),
    );
    assert_eq!(r.cc, cc::INSUFFICIENT_PRIVILEGE);
}

#[test]
fn sol_parameters_for_sol_info() {
    let mut f = fixture();
    let lens = [1, 1, 1, 2, 2, 1, 1, 1, 2];
    for (p, len) in lens.iter().enumerate() {
        let d = f.ok(0x0C, 0x22, &[0x01, p as u8, 0, 0]);
        assert_eq!(d[0], 0x11);
        assert_eq!(d.len(), 1 + len, "param {p}");
    }
    assert_eq!(f.ok(0x0C, 0x22, &[0x0E, 8, 0, 0])[1..], [0x6F, 0x02]);
    assert_eq!(f.ok(0x0C, 0x22, &[0x01, 2, 0, 0])[1], 0xC2);
    assert_eq!(f.cc(0x0C, 0x22, &[0x01, 9, 0, 0]), cc::PARAM_NOT_SUPPORTED);
    f.ok(0x0C, 0x21, &[0x01, 4, 0x03, 0x14]);
    assert_eq!(f.state.sol.retry_interval(), Duration::from_millis(200));
    assert_eq!(f.state.sol.retries(), 3);
    assert_eq!(f.cc(0x0C, 0x21, &[0x01, 8, 0x00, 0x00]), 0x82);
    assert_eq!(f.cc(0x0C, 0x21, &[0x01, 5, 0x03]), cc::INVALID_FIELD);
    assert_eq!(f.cc(0x0C, 0x21, &[0x01, 3, 0x00, 0x10]), cc::INVALID_FIELD);
}

#[test]
fn dcmi_commands() {
    let mut f = fixture();
    for p in 1..=5u8 {
        let d = f.ok(0x2C, 0x01, &[0xDC, p]);
        assert_eq!(&d[..4], &[0xDC, 0x01, 0x05, 0x02], "param {p}");
    }
    assert_eq!(f.ok(0x2C, 0x01, &[0xDC, 0x01])[4..], [0x0F, 0x01, 0x18]);
    assert_eq!(
        f.ok(0x2C, 0x01, &[0xDC, 0x02])[4..],
        [0x00, 0x82, 0x05, 0x03, 0x01]
    );
    assert_eq!(f.cc(0x2C, 0x01, &[0xDC, 0x09]), cc::INVALID_FIELD);
    // Power reading follows power.
    let d = f.ok(0x2C, 0x02, &[0xDC, 0x01, 0x00, 0x00]);
    assert_eq!(d.len(), 18);
    assert_eq!(&d[1..3], &12u16.to_le_bytes());
    assert_eq!(d[17], 0x40);
    f.ok(0x00, 0x02, &[0x01]);
    f.now += Duration::from_secs(4);
    let d = f.ok(0x2C, 0x02, &[0xDC, 0x01, 0x00, 0x00]);
    assert_eq!(&d[1..3], &286u16.to_le_bytes());
    assert_eq!(&d[3..5], &12u16.to_le_bytes());
    assert_eq!(&d[5..7], &286u16.to_le_bytes());
    assert_eq!(&d[7..9], &149u16.to_le_bytes());
    assert_eq!(u32::from_le_bytes([d[13], d[14], d[15], d[16]]), 4000);
    assert_eq!(
        f.cc(0x2C, 0x02, &[0xDC, 0x02, 0x05, 0x00]),
        cc::INVALID_FIELD
    );
    // No active power limit: 80h with data.
    let r = f.send(0x2C, 0x03, &[0xDC, 0, 0], Privilege::User, Some(SID));
    assert_eq!(r.cc, 0x80);
    assert_eq!(r.data.len(), 14);
    assert_eq!(r.data[0], 0xDC);
    let mut set = vec![0xDC, 0, 0, 0, 0x01];
    set.extend_from_slice(&500u16.to_le_bytes());
    set.extend_from_slice(&1000u32.to_le_bytes());
    set.extend_from_slice(&[0, 0]);
    set.extend_from_slice(&5u16.to_le_bytes());
    assert_eq!(f.ok(0x2C, 0x04, &set), vec![0xDC]);
    f.ok(0x2C, 0x05, &[0xDC, 0x01, 0, 0]);
    let r = f.send(0x2C, 0x03, &[0xDC, 0, 0], Privilege::User, Some(SID));
    assert_eq!(r.cc, 0);
    assert_eq!(&r.data[3..6], &[0x01, 0xF4, 0x01]);
    // Asset tag and controller id.
    assert_eq!(f.ok(0x2C, 0x06, &[0xDC, 0, 0]), vec![0xDC, 7]);
    assert_eq!(f.ok(0x2C, 0x06, &[0xDC, 0, 7]), b"\xDC\x07ASSET-7".to_vec());
    assert_eq!(f.ok(0x2C, 0x08, &[0xDC, 6, 2, b'9', b'9']), vec![0xDC, 8]);
    assert_eq!(f.chassis().hardware.asset_tag, "ASSET-99");
    let d = f.ok(0x2C, 0x09, &[0xDC, 0, 16]);
    assert_eq!(d[1], 11);
    assert_eq!(&d[2..], b"host01-bmc\0");
    // Temperature sensors: one inlet, two CPUs.
    let d = f.ok(0x2C, 0x07, &[0xDC, 0x01, 0x41, 0x00, 0x00]);
    assert_eq!(d, vec![0xDC, 2, 2, 2, 0, 3, 0]);
    let d = f.ok(0x2C, 0x10, &[0xDC, 0x01, 0x40, 0x00, 0x00]);
    assert_eq!(d, vec![0xDC, 1, 1, 24, 1]);
    assert_eq!(
        f.cc(0x2C, 0x10, &[0xDC, 0x01, 0x99, 0, 0]),
        cc::INVALID_FIELD
    );
    // Wrong group id is not DCMI.
    assert_eq!(f.cc(0x2C, 0x02, &[0xDD, 0x01, 0, 0]), cc::INVALID_COMMAND);
}

#[test]
fn system_info_and_misc_app_commands() {
    let mut f = fixture();
    let d = f.ok(0x06, 0x59, &[0x00, 0x02, 0x00, 0x00]);
    assert_eq!(d.len(), 18);
    assert_eq!(&d[..4], &[0x11, 0x00, 0x00, 6]);
    assert_eq!(&d[4..10], b"host01");
    assert_eq!(&f.ok(0x06, 0x59, &[0x00, 0x01, 0x00, 0x00])[4..9], b"1.4.2");
    let mut set = vec![0x04, 0x00, 0x00, 0x05];
    set.extend_from_slice(b"WinOS\0\0\0\0\0\0\0\0\0");
    f.ok(0x06, 0x58, &set);
    assert_eq!(&f.ok(0x06, 0x59, &[0x00, 0x04, 0x00, 0x00])[4..9], b"WinOS");
    assert_eq!(
        f.cc(0x06, 0x59, &[0x00, 0x40, 0x00, 0x00]),
        cc::PARAM_NOT_SUPPORTED
    );
    assert_eq!(f.ok(0x06, 0x04, &[]), vec![0x55, 0x00]);
    assert_eq!(f.ok(0x06, 0x08, &[]), hardware().smbios_guid.to_vec());
    assert_eq!(f.ok(0x06, 0x07, &[]), vec![0x05, 0x00]);
    assert_eq!(f.ok(0x00, 0x0F, &[])[0], 0x01);
}

/// A tiny xorshift generator so the fuzz loop needs no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 24) as u8
    }
}

#[test]
fn random_requests_never_panic() {
    let mut f = fixture();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for netfn in 0..0x40u8 {
        for cmd in 0..=0xFFu8 {
            for len in 0..20usize {
                let samples = if command_name(netfn, cmd, &[0xDC]).is_some()
                    || command_name(netfn, cmd, &[]).is_some()
                {
                    4
                } else {
                    1
                };
                for sample in 0..samples {
                    let mut data: Vec<u8> = (0..len).map(|_| rng.next()).collect();
                    match sample {
                        1 => data.iter_mut().for_each(|b| *b = 0),
                        2 => data.iter_mut().for_each(|b| *b = 0xFF),
                        _ => {}
                    }
                    if netfn == 0x2C && sample == 3 {
                        if let Some(b) = data.first_mut() {
                            *b = 0xDC;
                        }
                    }
                    let (privilege, session) = if rng.next().is_multiple_of(4) {
                        (Privilege::Callback, None)
                    } else {
                        (Privilege::Admin, Some(SID))
                    };
                    let r = f.send(netfn, cmd, &data, privilege, session);
                    if r.cc == 0 && netfn == 0x06 && cmd == 0x48 {
                        assert_eq!(r.data.len(), 12);
                    }
                }
            }
            f.now += Duration::from_millis(10);
        }
    }
}

/// Watchdog, PEF, DCMI strings, LAN parameters and channels as real
/// clients read them (issue 21).
mod platform;
