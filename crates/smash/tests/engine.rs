//! The SMASH providers inside the WS-Management engine, without sockets:
//! association walks from the registered profiles, References with the
//! association's own properties, the methods' DMTF return codes and their
//! effect on the shared chassis, and privilege.
#![allow(clippy::disallowed_methods)] // tests and benchmarks time real peers on the real clock
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use fakedc_model::{
    BootDevice, BootOverride, Chassis, ChassisId, EventKind, Hardware, Machine, MachineId, Model,
    ModelParts, PowerState, Privilege, Role, Timing,
};
use fakedc_smash::cim::SmashProvider;
use fakedc_wsman::client::request;
use fakedc_wsman::engine::{Call, ShellConfig};
use fakedc_wsman::message::{action, parse_request};
use fakedc_wsman::xml::{parse, Element, Limits};
use fakedc_wsman::{Ctx, Engine, Fault};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

const CIM: &str = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/";
const ALL: &str = "http://schemas.dmtf.org/wbem/wscim/1/*";
const B: &str = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd";
const DIALECT: &str = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationFilter";

fn model() -> Arc<Model> {
    let hw = Hardware {
        vendor: "Contoso".into(),
        model: "R1".into(),
        serial: "S1".into(),
        smbios_guid: [
            0x44, 0x45, 0x4c, 0x4c, 0x42, 0x00, 0x10, 0x35, 0x80, 0x52, 0xb3, 0xc0, 0x4f, 0x4e,
            0x31, 0x32,
        ],
        asset_tag: "ASSET1".into(),
        part_number: "P1".into(),
        bios_version: "2.19.1".into(),
        bmc_firmware: "7.10.30".into(),
    };
    let machine = |id, name: &str, role, host| Machine {
        id: MachineId(id),
        name: name.into(),
        role,
        address: "127.0.0.9".parse().expect("ip"),
        dns_name: format!("{name}.test"),
        chassis: ChassisId(0),
        bmc: None,
        host,
        vm_host: None,
        endpoints: vec![],
        options: BTreeMap::new(),
        share: None,
        vms: vec![],
    };
    Arc::new(Model::new(ModelParts {
        machines: vec![
            machine(0, "hv01", Role::HypervHost, None),
            machine(1, "bmc01", Role::Bmc, Some(MachineId(0))),
        ],
        chassis: vec![Chassis::new(hw, Timing::default(), true)],
        users: vec![vec![], vec![]],
        faults: vec![],
        journal_capacity: 100,
    }))
}

fn engine() -> Engine {
    Engine::new(SmashProvider::pair())
}

/// Runs one envelope as `user` with `privilege`; the body or the fault.
fn run(e: &Engine, m: &Arc<Model>, privilege: Privilege, env: &str) -> Result<Element, Fault> {
    let shell = ShellConfig::default();
    let call = Call {
        ctx: Ctx {
            model: m,
            machine: MachineId(1),
            user: "tester",
            privilege,
            now: Instant::now(),
        },
        machine_name: "bmc01",
        shell: &shell,
        allow_unencrypted: false,
    };
    let req = parse_request(env.as_bytes()).expect("request parses");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("rt");
    let out = rt.block_on(e.handle(&call, &req))?;
    Ok(parse(out.as_bytes(), &Limits::default()).expect("answer parses"))
}

fn texts(e: &Element, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(e: &Element, name: &str, out: &mut Vec<String>) {
        if e.name == name {
            out.push(e.text_trim().to_string());
        }
        for c in &e.children {
            walk(c, name, out);
        }
    }
    walk(e, name, &mut out);
    out
}

fn epr(class: &str, sel: &[(&str, &str)]) -> String {
    let mut s = format!(
        r#"<a:Address xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing">anonymous</a:Address><a:ReferenceParameters xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"><w:ResourceURI>{CIM}{class}</w:ResourceURI><w:SelectorSet>"#
    );
    for (k, v) in sel {
        s.push_str(&format!(r#"<w:Selector Name="{k}">{v}</w:Selector>"#));
    }
    s + "</w:SelectorSet></a:ReferenceParameters>"
}

fn assoc(references: bool, class: &str, sel: &[(&str, &str)], extra: &str) -> String {
    let kind = if references {
        "AssociationInstances"
    } else {
        "AssociatedInstances"
    };
    request(
        action::ENUMERATE,
        ALL,
        &[],
        &format!(
            r#"<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>1000</w:MaxElements><w:Filter Dialect="{DIALECT}"><b:{kind} xmlns:b="{B}"><b:Object>{}</b:Object>{extra}</b:{kind}></w:Filter></n:Enumerate>"#,
            epr(class, sel)
        ),
    )
}

fn invoke(class: &str, method: &str, sel: &[(&str, &str)], params: &str) -> String {
    request(
        &format!("{CIM}{class}/{method}"),
        &format!("{CIM}{class}"),
        sel,
        &format!(r#"<p:{method}_INPUT xmlns:p="{CIM}{class}">{params}</p:{method}_INPUT>"#),
    )
}

const CS: &[(&str, &str)] = &[
    ("CreationClassName", "CIM_ComputerSystem"),
    ("Name", "hv01"),
];

#[test]
fn profiles_lead_to_their_central_instances() {
    let (e, m) = (engine(), model());
    let x = run(
        &e,
        &m,
        Privilege::User,
        &assoc(
            false,
            "CIM_RegisteredProfile",
            &[
                ("InstanceID", "DMTF:DSP1027:Power State Management:1.0.0"),
                ("__cimnamespace", "root/interop"),
            ],
            "<b:AssociationClassName>CIM_ElementConformsToProfile</b:AssociationClassName>",
        ),
    )
    .unwrap();
    assert_eq!(texts(&x, "Name"), ["PowerManagementService"]);
    // Base Server references every component profile.
    let x = run(
        &e,
        &m,
        Privilege::User,
        &assoc(
            false,
            "CIM_RegisteredProfile",
            &[("InstanceID", "DMTF:DSP1004:Base Server:1.0.0")],
            "<b:AssociationClassName>CIM_ReferencedProfile</b:AssociationClassName><b:Role>Dependent</b:Role>",
        ),
    )
    .unwrap();
    assert_eq!(texts(&x, "RegisteredName").len(), 8);
    // And back: the system conforms to Base Server.
    let x = run(
        &e,
        &m,
        Privilege::User,
        &assoc(
            false,
            CS[0].1,
            CS,
            "<b:ResultClassName>CIM_RegisteredProfile</b:ResultClassName>",
        ),
    )
    .unwrap();
    assert_eq!(texts(&x, "RegisteredName"), ["Base Server"]);
}

#[test]
fn references_carry_the_association_properties() {
    let (e, m) = (engine(), model());
    let x = run(
        &e,
        &m,
        Privilege::User,
        &assoc(true, "CIM_ComputerSystem", CS, ""),
    )
    .unwrap();
    assert_eq!(
        texts(&x, "PlatformGUID"),
        ["4C4C4544-0042-3510-8052-B3C04F4E3132".replace('-', "")]
    );
    assert_eq!(texts(&x, "PowerState"), ["2"]);
    assert_eq!(texts(&x, "IsNext"), ["1"]);
    // ResultClassName narrows References to one association class.
    let x = run(
        &e,
        &m,
        Privilege::User,
        &assoc(
            true,
            "CIM_BootConfigSetting",
            &[("InstanceID", "BootConfigSetting:1")],
            "<b:ResultClassName>CIM_OrderedComponent</b:ResultClassName>",
        ),
    )
    .unwrap();
    assert_eq!(texts(&x, "AssignedSequence"), ["1", "2", "3"]);
}

/// Class filters match subclasses, as on a real CIMOM: "every logical
/// device of this system through any component association" finds the
/// processors, memory and sensors (CIM_SystemDevice derives from
/// CIM_SystemComponent, CIM_Processor from CIM_LogicalDevice), and no
/// service; a References filter naming CIM_Dependency finds its subclasses.
#[test]
fn association_filters_match_subclasses() {
    let (e, m) = (engine(), model());
    let x = run(
        &e,
        &m,
        Privilege::User,
        &assoc(
            false,
            "CIM_ComputerSystem",
            CS,
            "<b:AssociationClassName>CIM_Component</b:AssociationClassName><b:ResultClassName>CIM_LogicalDevice</b:ResultClassName>",
        ),
    )
    .unwrap();
    let classes = texts(&x, "CreationClassName");
    assert!(classes.iter().any(|c| c == "CIM_Processor"), "{classes:?}");
    assert!(classes.iter().any(|c| c == "CIM_Memory"), "{classes:?}");
    assert!(
        classes.iter().any(|c| c == "CIM_NumericSensor"),
        "{classes:?}"
    );
    assert!(
        classes.iter().all(|c| c != "CIM_PowerManagementService"),
        "{classes:?}"
    );
    // The exact class still works, and an unrelated one finds nothing.
    let exact = run(
        &e,
        &m,
        Privilege::User,
        &assoc(
            false,
            "CIM_ComputerSystem",
            CS,
            "<b:AssociationClassName>CIM_SystemDevice</b:AssociationClassName><b:ResultClassName>CIM_Processor</b:ResultClassName>",
        ),
    )
    .unwrap();
    assert!(!texts(&exact, "DeviceID").is_empty());
    let none = run(
        &e,
        &m,
        Privilege::User,
        &assoc(
            false,
            "CIM_ComputerSystem",
            CS,
            "<b:ResultClassName>CIM_SettingData</b:ResultClassName><b:AssociationClassName>CIM_SystemDevice</b:AssociationClassName>",
        ),
    )
    .unwrap();
    assert!(texts(&none, "DeviceID").is_empty());
    let refs = run(
        &e,
        &m,
        Privilege::User,
        &assoc(
            true,
            "CIM_ComputerSystem",
            CS,
            "<b:ResultClassName>CIM_Dependency</b:ResultClassName>",
        ),
    )
    .unwrap();
    // CIM_ComputerSystemPackage (via CIM_SystemPackaging) and
    // CIM_HostedService (via CIM_HostedDependency) are dependencies.
    assert_eq!(texts(&refs, "PlatformGUID").len(), 1);
    assert!(!refs.children.is_empty());
    assert!(fakedc_smash::cim::is_a(
        "CIM_Chassis",
        "CIM_PhysicalElement"
    ));
    assert!(!fakedc_smash::cim::is_a("CIM_Chassis", "CIM_LogicalDevice"));
}

#[test]
fn power_methods_return_dmtf_codes_and_change_the_chassis() {
    let (e, m) = (engine(), model());
    let pms = [("Name", "PowerManagementService")];
    let rpsc = |state: &str, p: Privilege| {
        run(
            &e,
            &m,
            p,
            &invoke(
                "CIM_PowerManagementService",
                "RequestPowerStateChange",
                &pms,
                &format!(
                    "<p:PowerState>{state}</p:PowerState><p:ManagedElement>{}</p:ManagedElement>",
                    epr("CIM_ComputerSystem", CS)
                ),
            ),
        )
        .map(|x| texts(&x, "ReturnValue").join(""))
    };
    let f = rpsc("6", Privilege::User).unwrap_err();
    assert_eq!(f.subcode, "w:AccessDenied");
    assert!(m.chassis(ChassisId(0), Instant::now()).power.power_on());
    assert_eq!(rpsc("0", Privilege::Operator).unwrap(), "5");
    assert_eq!(rpsc("7", Privilege::Operator).unwrap(), "1");
    assert_eq!(rpsc("6", Privilege::Operator).unwrap(), "0");
    assert_eq!(
        m.chassis(ChassisId(0), Instant::now()).power,
        PowerState::Off
    );
    assert_eq!(rpsc("2", Privilege::Admin).unwrap(), "0");
    assert!(m.chassis(ChassisId(0), Instant::now()).power.power_on());
    // Every PowerState the model supports is accepted and acts.
    for state in fakedc_smash::cim::POWER_STATES_SUPPORTED {
        let before = m.chassis(ChassisId(0), Instant::now()).log.entries().len();
        assert_eq!(
            rpsc(&state.to_string(), Privilege::Operator).unwrap(),
            "0",
            "{state}"
        );
        let c = m.chassis(ChassisId(0), Instant::now());
        let expected = fakedc_smash::cim::power_action_for(*state).unwrap();
        assert_eq!(c.last_power_event, Some(expected), "{state}");
        if expected == fakedc_model::PowerAction::Nmi {
            assert_eq!(c.log.entries().len(), before + 1);
        }
    }
    // RequestStateChange on the system itself.
    let x = run(
        &e,
        &m,
        Privilege::Admin,
        &invoke(
            "CIM_ComputerSystem",
            "RequestStateChange",
            CS,
            "<p:RequestedState>3</p:RequestedState>",
        ),
    )
    .unwrap();
    assert_eq!(texts(&x, "ReturnValue"), ["0"]);
    assert_eq!(
        m.chassis(ChassisId(0), Instant::now()).power,
        PowerState::Off
    );
    let f = run(
        &e,
        &m,
        Privilege::Admin,
        &invoke("CIM_ComputerSystem", "Explode", CS, ""),
    )
    .unwrap_err();
    assert_eq!(f.subcode, "a:ActionNotSupported");
    assert!(f.message.contains("Explode"), "{}", f.message);
}

#[test]
fn boot_methods_and_clear_log_act_on_the_shared_chassis() {
    let (e, m) = (engine(), model());
    let cfg = [("InstanceID", "BootConfigSetting:1")];
    let change = |sources: &[&str]| {
        let params: String = sources
            .iter()
            .map(|s| {
                format!(
                    "<p:Source>{}</p:Source>",
                    epr("CIM_BootSourceSetting", &[("InstanceID", s)])
                )
            })
            .collect();
        let x = run(
            &e,
            &m,
            Privilege::Operator,
            &invoke("CIM_BootConfigSetting", "ChangeBootOrder", &cfg, &params),
        )
        .unwrap();
        texts(&x, "ReturnValue").join("")
    };
    assert_eq!(
        change(&[
            "BootSourceSetting:CIM:Network:1",
            "BootSourceSetting:CIM:Hard-Disk:1"
        ]),
        "0"
    );
    let boot = m.chassis(ChassisId(0), Instant::now()).boot;
    assert_eq!((boot.device, boot.persistent), (BootDevice::Pxe, false));
    assert_eq!(change(&["BootSourceSetting:CIM:Floppy:1"]), "4");
    assert_eq!(change(&[]), "0");
    assert_eq!(
        m.chassis(ChassisId(0), Instant::now()).boot,
        BootOverride::default()
    );
    let role = |r: &str, cfg_id: &str| {
        let x = run(
            &e,
            &m,
            Privilege::Admin,
            &invoke(
                "CIM_BootService",
                "SetBootConfigRole",
                &[("Name", "BootService")],
                &format!(
                    "<p:BootConfigSetting>{}</p:BootConfigSetting><p:Role>{r}</p:Role>",
                    epr("CIM_BootConfigSetting", &[("InstanceID", cfg_id)])
                ),
            ),
        )
        .unwrap();
        texts(&x, "ReturnValue").join("")
    };
    assert_eq!(role("0", "BootConfigSetting:1"), "0");
    assert!(m.chassis(ChassisId(0), Instant::now()).boot.persistent);
    assert_eq!(role("0", "BootConfigSetting:9"), "4");
    assert_eq!(role("7", "BootConfigSetting:1"), "5");

    m.power_action(MachineId(0), fakedc_model::PowerAction::Nmi, Instant::now());
    let x = run(
        &e,
        &m,
        Privilege::Operator,
        &invoke(
            "CIM_RecordLog",
            "ClearLog",
            &[("InstanceID", "RecordLog:SEL")],
            "",
        ),
    )
    .unwrap();
    assert_eq!(texts(&x, "ReturnValue"), ["0"]);
    let kinds: Vec<EventKind> = m
        .chassis(ChassisId(0), Instant::now())
        .log
        .entries()
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, [EventKind::LogCleared]);
}

#[test]
fn enumerate_epr_mode_and_unknown_class() {
    let (e, m) = (engine(), model());
    let x = run(
        &e,
        &m,
        Privilege::User,
        &request(
            action::ENUMERATE,
            &format!("{CIM}CIM_NumericSensor"),
            &[],
            "<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>100</w:MaxElements><w:EnumerationMode>EnumerateEPR</w:EnumerationMode></n:Enumerate>",
        ),
    )
    .unwrap();
    assert_eq!(texts(&x, "EndpointReference").len(), 9);
    let f = run(
        &e,
        &m,
        Privilege::User,
        &request(action::GET, &format!("{CIM}CIM_Nope"), &[], ""),
    )
    .unwrap_err();
    assert_eq!(f.subcode, "w:DestinationUnreachable");
    assert!(f.message.contains("CIM_Nope"));
}
