//! Helpers shared by the integration tests: hex decoding, the capture-file loader, and
//! a one-BMC model for answering pre-session commands through the command layer.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Instant;

use fakedc_ipmi::commands::{self, BmcState, CmdRequest, CmdResponse};
use fakedc_ipmi::session::{Privilege as WirePrivilege, Request, UserCred, UserTable};
use fakedc_model::{
    Chassis, ChassisId, Hardware, Machine, MachineId, Model, ModelParts, Privilege, Role, Timing,
    User,
};

/// Direction of a captured datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Remote console → BMC (`C>` lines).
    ToBmc,
    /// BMC → remote console (`B<` lines).
    ToConsole,
}

/// Decodes a hex string (whitespace ignored).
pub fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// Loads `tests/captures/<name>.txt`: `#` comments, then `C> hex` / `B< hex` lines.
pub fn capture(name: &str) -> Vec<(Dir, Vec<u8>)> {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "captures",
        &format!("{name}.txt"),
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (dir, bytes) = l.split_once(' ').expect("direction and hex");
            let dir = match dir {
                "C>" => Dir::ToBmc,
                "B<" => Dir::ToConsole,
                other => panic!("bad direction {other}"),
            };
            (dir, hex(bytes))
        })
        .collect()
}

/// All capture files.
pub const CAPTURES: &[&str] = &[
    "lanplus_c3",
    "lanplus_c2",
    "lanplus_c1",
    "lanplus_c17",
    "lanplus_auto",
    "lanplus_auto_fakedc",
    "lanplus_unknown_user",
    "lanplus_wrong_password",
    "lan_md5",
    "lan_password",
];

/// The password every capture was made with.
pub const PASSWORD: &[u8] = b"password";

/// A model user.
pub fn user(id: u8, name: &str, password: &str, privilege: Privilege) -> User {
    User {
        id,
        name: name.into(),
        password: password.into(),
        privilege,
        enabled: true,
        authorized_keys: Vec::new(),
    }
}

/// The same users as the session layer's [`UserTable`] (what the service's model-backed
/// user directory answers).
pub fn user_table(users: &[User]) -> UserTable {
    let mut table = UserTable::new();
    for u in users {
        let max_privilege = match u.privilege {
            Privilege::Callback => WirePrivilege::Callback,
            Privilege::User => WirePrivilege::User,
            Privilege::Operator => WirePrivilege::Operator,
            Privilege::Admin => WirePrivilege::Admin,
        };
        table.insert(
            u.name.as_bytes(),
            UserCred {
                id: u.id,
                password: u.password.as_bytes().to_vec(),
                max_privilege,
                enabled: u.enabled,
            },
        );
    }
    table
}

/// The BMC of [`bmc_model`].
pub const BMC: MachineId = MachineId(0);

/// A model holding one BMC (machine 0, on chassis 0) with these users.
pub fn bmc_model(users: Vec<User>) -> Model {
    let hardware = Hardware {
        vendor: "Contoso".into(),
        model: "R740".into(),
        serial: "SN-0001".into(),
        smbios_guid: *b"fakedc-test-guid",
        asset_tag: String::new(),
        part_number: String::new(),
        bios_version: "1.0.0".into(),
        bmc_firmware: "2.61".into(),
    };
    let bmc = Machine {
        id: BMC,
        name: "bmc01".into(),
        role: Role::Bmc,
        address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        dns_name: "bmc01.fakedc.test".into(),
        chassis: ChassisId(0),
        bmc: None,
        host: None,
        vm_host: None,
        endpoints: Vec::new(),
        options: BTreeMap::new(),
        share: None,
        vms: Vec::new(),
    };
    Model::new(ModelParts {
        machines: vec![bmc],
        chassis: vec![Chassis::new(hardware, Timing::default(), false)],
        users: vec![users],
        faults: Vec::new(),
        journal_capacity: 16,
    })
}

/// Answers a pre-session request from the session layer the way the service does:
/// through [`commands::handle`], as `Callback` without a session.
pub fn presession_command(model: &Model, state: &mut BmcState, req: &Request) -> CmdResponse {
    assert_eq!(req.session, None, "not a pre-session request");
    let creq = CmdRequest {
        netfn: req.netfn,
        lun: req.lun,
        cmd: req.cmd,
        data: &req.data,
        privilege: Privilege::Callback,
        session_id: None,
        user: None,
        channel: commands::LAN_CHANNEL,
    };
    commands::handle(model, BMC, state, &creq, Instant::now())
}
