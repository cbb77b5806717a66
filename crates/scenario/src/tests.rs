use super::*;

fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    Scenario::parse("t.toml", text, &ParseOptions::default())
}

#[test]
fn shipped_scenarios_are_valid() {
    for (name, _) in SHIPPED {
        let s = Scenario::load(name, &ParseOptions::default()).unwrap();
        assert!(!s.machines.is_empty(), "{name}");
    }
    let fleet = Scenario::load("fleet-500", &ParseOptions::default()).unwrap();
    assert_eq!(fleet.machines.len(), 1000);
    let hv = fleet.machines.iter().find(|m| m.name == "hv500").unwrap();
    assert_eq!(hv.address.to_string(), "127.20.1.244");
    let bmc = &fleet.machines[hv.bmc.unwrap().0];
    assert_eq!(bmc.name, "bmc500");
    assert_eq!(bmc.chassis, hv.chassis, "a BMC shares its host's chassis");
}

#[test]
fn default_scenario_covers_every_role() {
    let s = Scenario::default_scenario();
    for role in Role::ALL {
        assert!(
            s.machines.iter().any(|m| m.role == role),
            "no {role} in the default scenario"
        );
    }
    let guest = s.machines.iter().find(|m| m.name == "guest01").unwrap();
    let hv = s.machines.iter().find(|m| m.name == "hv01").unwrap();
    assert_eq!(hv.vms[0].chassis, guest.chassis, "the guest follows its VM");
    assert_ne!(hv.chassis, guest.chassis);
}

const BASE: &str = r#"
[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.1.0.1"
bmc = "bmc01"

[[machine]]
name = "bmc01"
role = "bmc"
address = "127.1.1.1"
"#;

#[test]
fn base_is_valid() {
    let s = parse(BASE).unwrap();
    assert_eq!(s.machines.len(), 2);
    assert_eq!(s.chassis.len(), 1);
}

#[test]
fn unknown_role_names_line_and_column() {
    let e = parse(&BASE.replace("role = \"bmc\"", "role = \"bmcc\"")).unwrap_err();
    assert_eq!((e.line, e.column), (10, 8), "{e}");
    assert!(e.message.contains("unknown role 'bmcc'"), "{e}");
    assert!(e.to_string().starts_with("t.toml:10:8: "), "{e}");
}

#[test]
fn duplicate_address_is_rejected() {
    let e = parse(&BASE.replace("127.1.1.1", "127.1.0.1")).unwrap_err();
    assert_eq!(e.line, 11, "{e}");
    assert!(
        e.message
            .contains("address 127.1.0.1 is already used by machine 'hv01'"),
        "{e}"
    );
}

#[test]
fn dangling_bmc_link_is_rejected() {
    let e = parse(&BASE.replace("bmc = \"bmc01\"", "bmc = \"bmc-hv9\"")).unwrap_err();
    assert_eq!(e.line, 6, "{e}");
    assert_eq!(e.message, "machine 'hv01': bmc 'bmc-hv9' is not defined");
}

#[test]
fn port_conflict_is_rejected() {
    let text = format!("{BASE}\n[machine.services]\nsmash = 22\nbmc-ssh = true\n");
    let e = parse(&text).unwrap_err();
    assert_eq!(e.line, 14, "{e}");
    assert!(e.message.contains("port 22 conflict"), "{e}");
}

#[test]
fn bad_toml_is_rejected_with_position() {
    let e = parse("[[machine]]\nname = \"x\nrole = 1\n").unwrap_err();
    assert_eq!(e.line, 2, "{e}");
    let e = parse("[[machine]]\nname = \"x\"\nrole = \"bmc\"\n").unwrap_err();
    assert!(e.message.contains("address"), "{e}");
    let e =
        parse("[[machine]]\nname = \"x\"\nrole = \"bmc\"\naddress = \"127.0.0.5\"\ncolour = 1\n")
            .unwrap_err();
    assert_eq!(e.line, 5, "{e}");
}

#[test]
fn non_loopback_needs_explicit_permission() {
    let text = BASE.replace("127.1.0.1", "10.0.0.1");
    let e = parse(&text).unwrap_err();
    assert!(e.message.contains("not a loopback address"), "{e}");
    let ok = Scenario::parse(
        "t.toml",
        &text,
        &ParseOptions {
            allow_non_loopback: true,
            ..Default::default()
        },
    );
    assert!(ok.is_ok());
}

#[test]
fn services_can_move_and_be_disabled() {
    let text = BASE.replace(
        "bmc = \"bmc01\"\n",
        "bmc = \"bmc01\"\n[machine.services]\nwinrm-http = 15985\nsmb = false\n",
    );
    let s = parse(&text).unwrap();
    let hv = &s.machines[0];
    assert_eq!(hv.endpoint(ServiceKind::WinrmHttp).unwrap().port, 15985);
    assert!(hv.endpoint(ServiceKind::Smb).is_none());
    assert_eq!(hv.endpoint(ServiceKind::Rpc).unwrap().port, 135);
}

#[test]
fn fleet_patterns() {
    assert_eq!(expand_pattern("hv{n:03}", 7).as_deref(), Some("hv007"));
    assert_eq!(expand_pattern("bmc-{n}", 12).as_deref(), Some("bmc-12"));
    assert_eq!(expand_pattern("plain", 1), None);
}

#[test]
fn guids_are_stable_and_round_trip() {
    let g = derived_guid("hv01");
    assert_eq!(g, derived_guid("hv01"));
    let text = guid_text(&g);
    assert_eq!(parse_guid(&text), Some(g));
}

/// One quota per machine: the machine's `quota_bytes`, or the older
/// spelling in the sftp/ssh options table; two different values are
/// refused; the model hands every protocol the same `Quota`.
#[test]
fn share_quota_is_one_per_machine() {
    let s = parse(
        r#"
[[machine]]
name = "lib01"
role = "library-server"
address = "127.0.0.10"
quota_bytes = 5000

[[machine]]
name = "esx01"
role = "esx-host"
address = "127.0.0.11"
[machine.options.sftp]
quota_bytes = 3000

[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.0.0.12"
"#,
    )
    .unwrap();
    assert_eq!(s.share_quotas, vec![Some(5000), Some(3000), None]);
    let model = s.model();
    let lib = model.find("lib01").unwrap().id;
    assert_eq!(model.share_quota(lib).limit(), Some(5000));
    assert!(std::sync::Arc::ptr_eq(
        &model.share_quota(lib),
        &model.share_quota(lib)
    ));
    let hv = model.find("hv01").unwrap().id;
    assert_eq!(model.share_quota(hv).limit(), None);

    let e = parse(
        r#"
[[machine]]
name = "esx01"
role = "esx-host"
address = "127.0.0.11"
quota_bytes = 5000
[machine.options.sftp]
quota_bytes = 3000
"#,
    )
    .unwrap_err();
    assert!(e.message.contains("one quota"), "{e}");
    assert_eq!(e.line, 7, "{e}");
}

/// One processor and memory shape per chassis: machine-level keys on the
/// host or its BMC, the older `[machine.options.smash]` spelling on the
/// BMC, defaults otherwise; a VM's own `cpus` and `memory_mb` at its
/// host's clock; two spellings that disagree, or a value out of range,
/// are refused at their line.
#[test]
fn compute_is_one_per_chassis() {
    let s = parse(
        r#"
[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.0.0.12"
bmc = "bmc01"
cpus = 1
memory_gib = 64
[[machine.vm]]
name = "web01"
cpus = 4
memory_mb = 8192
[[machine.vm]]
name = "web02"

[[machine]]
name = "bmc01"
role = "bmc"
address = "127.0.0.13"
[machine.options.smash]
cores_per_cpu = 8
cpu_mhz = 3000

[[machine]]
name = "hv02"
role = "hyperv-host"
address = "127.0.0.14"
"#,
    )
    .unwrap();
    let model = s.model();
    let compute = |name: &str| model.compute(model.find(name).unwrap().chassis);
    let hv = compute("hv01");
    assert_eq!(hv, compute("bmc01"));
    assert_eq!(
        (
            hv.cpus,
            hv.cores_per_cpu,
            hv.threads_per_core,
            hv.cpu_mhz,
            hv.memory_mib
        ),
        (1, 8, 2, 3000, 64 * 1024)
    );
    assert_eq!(hv.logical_processors(), 16);
    assert_eq!(compute("hv02"), fakedc_model::Compute::SERVER);
    let vms = model.vms(model.find("hv01").unwrap().id);
    let vm = |name: &str| {
        let v = vms.iter().find(|v| v.name == name).unwrap();
        model.compute(v.chassis)
    };
    assert_eq!(vm("web01"), fakedc_model::Compute::vm(4, 3000, 8192));
    assert_eq!(vm("web02"), fakedc_model::Compute::vm(2, 3000, 4096));

    let e = parse(
        r#"
[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.0.0.12"
bmc = "bmc01"
memory_gib = 64

[[machine]]
name = "bmc01"
role = "bmc"
address = "127.0.0.13"
[machine.options.smash]
memory_gib = 128
"#,
    )
    .unwrap_err();
    assert!(e.message.contains("one shape"), "{e}");
    assert_eq!(e.line, 13, "{e}");

    let e = parse(
        r#"
[[machine]]
name = "hv01"
role = "hyperv-host"
address = "127.0.0.12"
[[machine.vm]]
name = "web01"
cpus = 0
"#,
    )
    .unwrap_err();
    assert!(e.message.contains("cpus = 0 must be 1..=1024"), "{e}");
    assert_eq!(e.line, 8, "{e}");
}
