//! The engine through the provider interface, the way the BMC's SMASH
//! endpoint will use it: a test provider with DMTF-style classes under a
//! shared ResourceURI prefix told apart by `__cimnamespace`, associations,
//! Put, a static method, Enumerate with Pull paging, EPR modes and the
//! selector and association filters.
#![allow(clippy::disallowed_methods)] // tests and benchmarks time real peers on the real clock

use fakedc_model::{
    Chassis, Hardware, Machine, MachineId, Model, ModelParts, Privilege, Role, Timing,
};
use fakedc_wsman::client::request;
use fakedc_wsman::engine::{Call, ShellConfig};
use fakedc_wsman::message::{action, ns, parse_request};
use fakedc_wsman::provider::{param, Association, Ctx, EndpointRef, Instance, MethodOutput};
use fakedc_wsman::xml::{parse, Element, Limits};
use fakedc_wsman::{Engine, Fault, ResourceProvider, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

const CIM: &str = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/";

fn model() -> Arc<Model> {
    let hw = Hardware {
        vendor: "Contoso".into(),
        model: "R1".into(),
        serial: "S1".into(),
        smbios_guid: [0; 16],
        asset_tag: String::new(),
        part_number: String::new(),
        bios_version: "1.0".into(),
        bmc_firmware: "2.0".into(),
    };
    Arc::new(Model::new(ModelParts {
        machines: vec![Machine {
            id: MachineId(0),
            name: "bmc01".into(),
            role: Role::Bmc,
            address: "127.0.0.9".parse().expect("ip"),
            dns_name: "bmc01.test".into(),
            chassis: fakedc_model::ChassisId(0),
            bmc: None,
            host: None,
            vm_host: None,
            endpoints: vec![],
            options: BTreeMap::new(),
            share: None,
            vms: vec![],
        }],
        chassis: vec![Chassis::new(hw, Timing::default(), true)],
        users: vec![vec![]],
        faults: vec![],
        journal_capacity: 100,
    }))
}

/// Profiles in root/interop, a computer system in root/cimv2, and the
/// association between them.
struct Smashish {
    ns: &'static str,
    tag: Mutex<String>,
}

fn epr(class: &str, key: &str, v: &str, ns: &str) -> EndpointRef {
    EndpointRef {
        resource_uri: format!("{CIM}{class}"),
        selectors: vec![(key.into(), v.into()), ("__cimnamespace".into(), ns.into())],
    }
}

impl ResourceProvider for Smashish {
    fn uri_prefix(&self) -> &str {
        CIM
    }
    fn cim_namespace(&self) -> &str {
        self.ns
    }
    fn classes(&self) -> &[&'static str] {
        if self.ns == "root/interop" {
            &["CIM_RegisteredProfile"]
        } else {
            &["CIM_ComputerSystem", "CIM_Chassis"]
        }
    }
    fn instances(&self, _ctx: &Ctx<'_>, class: &str) -> Result<Vec<Instance>, Fault> {
        let uri = format!("{CIM}{class}");
        Ok(match class {
            "CIM_RegisteredProfile" => ["Base Server", "Power State Management", "Boot Control"]
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    Instance::new(&uri, class, &["InstanceID"])
                        .with("InstanceID", Value::str(format!("profile{i}")))
                        .with("RegisteredName", Value::str(*n))
                        .with("RegisteredOrganization", Value::Int(2))
                })
                .collect(),
            "CIM_ComputerSystem" => vec![Instance::new(&uri, class, &["Name"])
                .with("Name", Value::str("system1"))
                .with("EnabledState", Value::Int(2))],
            "CIM_Chassis" => vec![Instance::new(&uri, class, &["Tag"])
                .with("Tag", Value::str(self.tag.lock().expect("lock").clone()))],
            _ => return Err(Fault::invalid_resource_uri(&uri)),
        })
    }
    fn invoke(
        &self,
        _ctx: &Ctx<'_>,
        class: &str,
        method: &str,
        target: Option<&Instance>,
        input: &Element,
    ) -> Result<MethodOutput, Fault> {
        match (class, method, target) {
            ("CIM_ComputerSystem", "RequestStateChange", Some(_)) => Ok(MethodOutput {
                params: vec![],
                return_value: if param(input, "RequestedState") == Some("3") {
                    0
                } else {
                    5
                },
            }),
            _ => Err(Fault::action_not_supported(method)),
        }
    }
    fn put(
        &self,
        _ctx: &Ctx<'_>,
        class: &str,
        _target: &Instance,
        body: &Element,
    ) -> Result<Instance, Fault> {
        let tag = body
            .find(&format!("{CIM}{class}"), "Tag")
            .ok_or_else(|| Fault::schema("no Tag"))?;
        *self.tag.lock().expect("lock") = tag.text.clone();
        Ok(Instance::new(&format!("{CIM}{class}"), class, &["Tag"])
            .with("Tag", Value::str(tag.text.clone())))
    }
    fn associations(&self, _ctx: &Ctx<'_>) -> Vec<Association> {
        if self.ns != "root/interop" {
            return vec![];
        }
        (0..2)
            .map(|i| Association {
                class: "CIM_ElementConformsToProfile".into(),
                resource_uri: format!("{CIM}CIM_ElementConformsToProfile"),
                left: (
                    "ConformantStandard".into(),
                    epr(
                        "CIM_RegisteredProfile",
                        "InstanceID",
                        &format!("profile{i}"),
                        "root/interop",
                    ),
                ),
                right: (
                    "ManagedElement".into(),
                    epr("CIM_ComputerSystem", "Name", "system1", "root/cimv2"),
                ),
            })
            .collect()
    }
}

struct Env {
    model: Arc<Model>,
    engine: Engine,
    shell: ShellConfig,
    rt: tokio::runtime::Runtime,
}

impl Env {
    fn new() -> Env {
        Env {
            model: model(),
            engine: Engine::new(vec![
                Arc::new(Smashish {
                    ns: "root/interop",
                    tag: Mutex::new(String::new()),
                }),
                Arc::new(Smashish {
                    ns: "root/cimv2",
                    tag: Mutex::new("old".into()),
                }),
            ]),
            shell: ShellConfig::default(),
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("rt"),
        }
    }

    /// Sends an envelope; returns Ok(response root) or the fault.
    fn send(&self, env: &str) -> Result<Element, Fault> {
        let req = parse_request(env.as_bytes())?;
        let call = Call {
            ctx: Ctx {
                model: &self.model,
                machine: MachineId(0),
                user: "admin",
                privilege: Privilege::Admin,
                now: Instant::now(),
            },
            machine_name: "bmc01",
            shell: &self.shell,
            allow_unencrypted: false,
        };
        let xml = self.rt.block_on(self.engine.handle(&call, &req))?;
        Ok(parse(xml.as_bytes(), &Limits::default()).expect("response XML"))
    }
}

fn texts<'a>(root: &'a Element, ns: &str, name: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(e) = stack.pop() {
        if e.is(ns, name) {
            out.push(e.text_trim());
        }
        stack.extend(e.children.iter().rev());
    }
    out
}

#[test]
fn namespaces_pick_the_provider_and_pull_pages() {
    let env = Env::new();
    let uri = format!("{CIM}CIM_RegisteredProfile");
    let en = request(
        action::ENUMERATE,
        &uri,
        &[("__cimnamespace", "root/interop")],
        "<n:Enumerate/>",
    );
    let r = env.send(&en).expect("enumerate");
    let mut ctx = texts(&r, ns::N, "EnumerationContext")[0].to_string();
    let mut names = Vec::new();
    loop {
        let pull = format!(
            "<n:Pull><n:EnumerationContext>{ctx}</n:EnumerationContext><n:MaxElements>2</n:MaxElements></n:Pull>"
        );
        let r = env
            .send(&request(action::PULL, &uri, &[], &pull))
            .expect("pull");
        names.extend(
            texts(&r, &uri, "RegisteredName")
                .into_iter()
                .map(String::from),
        );
        match texts(&r, ns::N, "EnumerationContext").first() {
            Some(c) => ctx = c.to_string(),
            None => {
                assert_eq!(texts(&r, ns::N, "EndOfSequence").len(), 1);
                break;
            }
        }
    }
    assert_eq!(
        names,
        ["Base Server", "Power State Management", "Boot Control"]
    );
    // Released and exhausted contexts are gone.
    let pull = format!("<n:Pull><n:EnumerationContext>{ctx}</n:EnumerationContext></n:Pull>");
    let e = env
        .send(&request(action::PULL, &uri, &[], &pull))
        .expect_err("exhausted");
    assert_eq!(e.subcode, "n:InvalidEnumerationContext");
    // The class lives in root/interop only.
    let wrong = request(
        action::ENUMERATE,
        &uri,
        &[("__cimnamespace", "root/cimv2")],
        "<n:Enumerate/>",
    );
    assert_eq!(
        env.send(&wrong).expect_err("wrong ns").subcode,
        "w:DestinationUnreachable"
    );
}

#[test]
fn association_filter_follows_conformance_to_the_system() {
    let env = Env::new();
    let filter = format!(
        r#"<n:Enumerate xmlns:b="{b}"><w:OptimizeEnumeration/><w:MaxElements>10</w:MaxElements><w:Filter Dialect="http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationFilter"><b:AssociatedInstances><b:Object><a:Address>x</a:Address><a:ReferenceParameters><w:ResourceURI>{CIM}CIM_ComputerSystem</w:ResourceURI><w:SelectorSet><w:Selector Name="Name">system1</w:Selector></w:SelectorSet></a:ReferenceParameters></b:Object><b:AssociationClassName>CIM_ElementConformsToProfile</b:AssociationClassName><b:ResultClassName>CIM_RegisteredProfile</b:ResultClassName></b:AssociatedInstances></w:Filter></n:Enumerate>"#,
        b = ns::B
    );
    let r = env
        .send(&request(
            action::ENUMERATE,
            &format!("{CIM}CIM_RegisteredProfile"),
            &[("__cimnamespace", "root/interop")],
            &filter,
        ))
        .expect("enumerate");
    let got = texts(&r, &format!("{CIM}CIM_RegisteredProfile"), "RegisteredName");
    assert_eq!(got, ["Base Server", "Power State Management"]);
    // AssociationInstances: the association objects themselves (here
    // ResultClassName names the association class, DSP0227).
    let refs = filter
        .replace("AssociatedInstances", "AssociationInstances")
        .replace(
            "<b:ResultClassName>CIM_RegisteredProfile</b:ResultClassName>",
            "<b:ResultClassName>CIM_ElementConformsToProfile</b:ResultClassName>",
        );
    let r = env
        .send(&request(
            action::ENUMERATE,
            &format!("{CIM}CIM_RegisteredProfile"),
            &[("__cimnamespace", "root/interop")],
            &refs,
        ))
        .expect("enumerate");
    assert_eq!(
        texts(&r, ns::W, "ResourceURI")
            .iter()
            .filter(|u| u.ends_with("CIM_RegisteredProfile"))
            .count(),
        2
    );
}

#[test]
fn get_put_invoke_epr_mode_and_selector_filter() {
    let env = Env::new();
    let chassis = format!("{CIM}CIM_Chassis");
    let put_body =
        format!(r#"<p:CIM_Chassis xmlns:p="{chassis}"><p:Tag>new-tag</p:Tag></p:CIM_Chassis>"#);
    env.send(&request(
        action::PUT,
        &chassis,
        &[("Tag", "old")],
        &put_body,
    ))
    .expect("put");
    let r = env
        .send(&request(action::GET, &chassis, &[], ""))
        .expect("get singleton");
    assert_eq!(texts(&r, &chassis, "Tag"), ["new-tag"]);

    let cs = format!("{CIM}CIM_ComputerSystem");
    let input = format!(
        r#"<p:RequestStateChange_INPUT xmlns:p="{cs}"><p:RequestedState>3</p:RequestedState></p:RequestStateChange_INPUT>"#
    );
    let r = env
        .send(&request(
            &format!("{cs}/RequestStateChange"),
            &cs,
            &[("Name", "system1")],
            &input,
        ))
        .expect("invoke");
    assert_eq!(texts(&r, &cs, "ReturnValue"), ["0"]);
    assert!(r
        .find(ns::A, "Action")
        .is_some_and(|a| a.text.ends_with("RequestStateChangeResponse")));
    // A method the class does not have.
    let e = env
        .send(&request(
            &format!("{cs}/Explode"),
            &cs,
            &[("Name", "system1")],
            "",
        ))
        .expect_err("no such method");
    assert_eq!(e.subcode, "a:ActionNotSupported");
    // Wrong selector.
    let e = env
        .send(&request(action::GET, &cs, &[("Name", "nope")], ""))
        .expect_err("no instance");
    assert_eq!(e.subcode, "w:InvalidSelectors");

    let profiles = format!("{CIM}CIM_RegisteredProfile");
    let epr_mode = "<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>9</w:MaxElements><w:EnumerationMode>EnumerateEPR</w:EnumerationMode><w:Filter Dialect=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter\"><w:SelectorSet><w:Selector Name=\"InstanceID\">profile1</w:Selector></w:SelectorSet></w:Filter></n:Enumerate>";
    let r = env
        .send(&request(
            action::ENUMERATE,
            &profiles,
            &[("__cimnamespace", "root/interop")],
            epr_mode,
        ))
        .expect("enumerate");
    assert_eq!(texts(&r, ns::W, "Selector"), ["profile1"]);
    assert_eq!(texts(&r, ns::N, "EndOfSequence").len(), 0);
    assert_eq!(texts(&r, ns::W, "EndOfSequence").len(), 1);
}

/// The captured pywinrm and Go client sequences (Create, Command, Receive,
/// Signal, Delete), replayed through the engine with the IDs it hands out:
/// RelatesTo echoes each captured MessageID, the command completes.
#[test]
fn golden_captures_replay_through_the_engine() {
    for (file, expect_out) in [
        ("pywinrm-run_cmd-requests.xml", "Windows IP Configuration"),
        ("go-winrm-requests.xml", ""),
    ] {
        let env = Env::new();
        let text =
            std::fs::read_to_string(format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR")))
                .expect("capture");
        let msgs: Vec<String> = text
            .split("<?xml")
            .filter(|s| !s.trim().is_empty())
            .map(|s| format!("<?xml{s}"))
            .collect();
        assert_eq!(msgs.len(), 5, "{file}");
        let id_of = |m: &str, pat: &str| -> String {
            let at = m.find(pat).expect("id") + pat.len();
            m[at..at + 36].to_string()
        };
        let old_shell = id_of(&msgs[1], "<w:Selector Name=\"ShellId\">");
        let old_cmd = id_of(&msgs[2], "CommandId=\"");
        let mut shell = String::new();
        let mut cmd = String::new();
        let mut stdout = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            let m = m.replace(&old_shell, &shell).replace(&old_cmd, &cmd);
            let m = if i == 0 { msgs[0].clone() } else { m };
            let r = env.send(&m).unwrap_or_else(|f| panic!("{file} #{i}: {f}"));
            let sent_id = parse_request(m.as_bytes()).expect("req").message_id;
            assert_eq!(
                r.find(ns::A, "RelatesTo").map(|e| e.text.clone()),
                sent_id,
                "{file} #{i}"
            );
            match i {
                0 => {
                    shell = r.find(ns::RSP, "ShellId").expect("ShellId").text.clone();
                    let sel = texts(&r, ns::W, "Selector");
                    assert_eq!(sel, [shell.as_str()]);
                }
                1 => {
                    cmd = r
                        .find(ns::RSP, "CommandId")
                        .expect("CommandId")
                        .text
                        .clone()
                }
                2 => {
                    use base64::Engine as _;
                    for s in texts(&r, ns::RSP, "Stream") {
                        stdout.extend(
                            base64::engine::general_purpose::STANDARD
                                .decode(s)
                                .expect("base64"),
                        );
                    }
                    let state = r.find(ns::RSP, "CommandState").expect("state");
                    assert!(state.attr("State").is_some_and(|s| s.ends_with("/Done")));
                    assert_eq!(texts(&r, ns::RSP, "ExitCode"), ["0"]);
                }
                _ => {}
            }
        }
        let out = String::from_utf8(stdout).expect("utf8");
        assert!(out.contains(expect_out), "{file}: {out}");
        if expect_out.is_empty() {
            assert!(out.is_empty(), "redirected echo prints nothing: {out}");
        }
        // Deleted: the shell is gone.
        let again = msgs[4].replace(&old_shell, &shell);
        assert_eq!(
            env.send(&again).expect_err("deleted").subcode,
            "w:InvalidSelectors"
        );
    }
}

/// An optimized Enumerate answers its first batch itself; what MaxElements
/// leaves over is pulled with the context, which comes before the items.
#[test]
fn optimized_enumerate_keeps_what_does_not_fit_for_pull() {
    let env = Env::new();
    let uri = format!("{CIM}CIM_RegisteredProfile");
    let sel = [("__cimnamespace", "root/interop")];
    let body = |max: u32| {
        format!("<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>{max}</w:MaxElements></n:Enumerate>")
    };
    let all = env
        .send(&request(action::ENUMERATE, &uri, &sel, &body(10)))
        .expect("enumerate");
    assert_eq!(texts(&all, ns::N, "EnumerationContext").len(), 0);
    assert_eq!(texts(&all, ns::W, "EndOfSequence").len(), 1);
    assert_eq!(
        texts(&all, &uri, "RegisteredName"),
        ["Base Server", "Power State Management", "Boot Control"]
    );
    let first = env
        .send(&request(action::ENUMERATE, &uri, &sel, &body(1)))
        .expect("enumerate");
    let resp = first.find(ns::N, "EnumerateResponse").expect("response");
    let order: Vec<&str> = resp.children.iter().map(|c| c.name.as_ref()).collect();
    assert_eq!(order, ["EnumerationContext", "Items"]);
    assert_eq!(texts(&first, &uri, "RegisteredName"), ["Base Server"]);
    let ctx = texts(&first, ns::N, "EnumerationContext")[0].to_string();
    let pull = format!(
        "<n:Pull><n:EnumerationContext>{ctx}</n:EnumerationContext><n:MaxElements>5</n:MaxElements></n:Pull>"
    );
    let rest = env
        .send(&request(action::PULL, &uri, &[], &pull))
        .expect("pull");
    assert_eq!(
        texts(&rest, &uri, "RegisteredName"),
        ["Power State Management", "Boot Control"]
    );
    assert_eq!(texts(&rest, ns::N, "EndOfSequence").len(), 1);
}
