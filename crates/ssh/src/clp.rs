//! SMASH CLP (DMTF DSP0214), sans-IO: the command line BMCs offer over
//! SSH, acting on the chassis the BMC shares with its host, so a CLP
//! `stop /system1` is seen by IPMI, SMASH over WS-Man and the control API.
//!
//! Syntax: `<verb> [options] [target] [property=value ...]`, verbs and
//! targets case-insensitive. Every response starts with DSP0214's command
//! status keywords (`status`, `status_tag`, and `error`, `error_tag` on
//! failure), then the command's text output.
//!
//! Address space:
//! `/` → `system1` (the managed host: power) → `bootconfig1` (boot
//! configuration) → `bootsource1..4` (hard disk, network, CD/DVD, floppy;
//! `bootorder` is the position in the boot order), and `/map1` (the BMC).
//! The model keeps one boot override device, so the order shown is that
//! device first (when it is one of the four), then the default order; `set
//! ... bootsourceN bootorder=1` makes N the persistent first device, and
//! `bootorder=2..4` on the current first device clears the override.
//! Power and boot changes need operator privilege (IPMI's levels).

use fakedc_model::{BootDevice, BootOverride, MachineId, Model, PowerAction, Privilege};
use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;

/// The verbs implemented (for `/about` and `help`).
pub const VERBS: &[&str] = &[
    "show [target]",
    "cd [target]",
    "start /system1",
    "stop [-force] /system1",
    "reset /system1",
    "set /system1/bootconfig1/bootsource<N> bootorder=<n>",
    "help [verb]",
    "version",
    "exit",
];

/// DSP0214 Table 4: command status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Completed = 0,
    ProcessingFailed = 2,
    ExecutionFailed = 3,
}

impl Status {
    fn tag(self) -> &'static str {
        match self {
            Status::Completed => "COMMAND COMPLETED",
            Status::ProcessingFailed => "COMMAND PROCESSING FAILED",
            Status::ExecutionFailed => "COMMAND EXECUTION FAILED",
        }
    }
}

/// DSP0214 Table 6: processing errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClpError {
    Unspecified = 255,
    NotSupported = 254,
    NotRecognized = 253,
    Syntax = 252,
    InvalidOption = 251,
    InvalidArgument = 250,
    InvalidTarget = 246,
}

impl ClpError {
    pub fn tag(self) -> &'static str {
        match self {
            ClpError::Unspecified => "COMMAND ERROR-UNSPECIFIED",
            ClpError::NotSupported => "COMMAND NOT SUPPORTED",
            ClpError::NotRecognized => "COMMAND NOT RECOGNIZED",
            ClpError::Syntax => "COMMAND SYNTAX ERROR",
            ClpError::InvalidOption => "INVALID OPTION",
            ClpError::InvalidArgument => "INVALID ARGUMENT",
            ClpError::InvalidTarget => "INVALID TARGET",
        }
    }
}

/// What a command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClpOutcome {
    /// The full response text (status keywords included).
    pub text: String,
    pub status: Status,
    pub error: Option<ClpError>,
    /// The session ends.
    pub exit: bool,
}

/// The boot sources, in their fixed instance order, with the default boot
/// order's positions.
const SOURCES: [(BootDevice, &str, &str); 4] = [
    (BootDevice::Disk, "CIM:Hard-Disk:1", "Hard Disk"),
    (BootDevice::Pxe, "CIM:Network:1", "Network (PXE)"),
    (BootDevice::Cdrom, "CIM:CD/DVD:1", "CD/DVD"),
    (BootDevice::Floppy, "CIM:Floppy:1", "Floppy"),
];

/// A target in the address space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Root,
    System,
    BootConfig,
    /// Index into `SOURCES`.
    BootSource(usize),
    Map,
}

impl Target {
    fn path(self) -> String {
        match self {
            Target::Root => "/".into(),
            Target::System => "/system1".into(),
            Target::BootConfig => "/system1/bootconfig1".into(),
            Target::BootSource(i) => format!("/system1/bootconfig1/bootsource{}", i + 1),
            Target::Map => "/map1".into(),
        }
    }

    fn parent(self) -> Target {
        match self {
            Target::Root | Target::System | Target::Map => Target::Root,
            Target::BootConfig => Target::System,
            Target::BootSource(_) => Target::BootConfig,
        }
    }

    fn child(self, name: &str) -> Option<Target> {
        match (self, name) {
            (Target::Root, "system1") => Some(Target::System),
            (Target::Root, "map1") => Some(Target::Map),
            (Target::System, "bootconfig1") => Some(Target::BootConfig),
            (Target::BootConfig, n) => n
                .strip_prefix("bootsource")
                .and_then(|d| d.parse::<usize>().ok())
                .and_then(|d| d.checked_sub(1))
                .filter(|&i| i < SOURCES.len())
                .map(Target::BootSource),
            _ => None,
        }
    }

    fn verbs(self) -> &'static str {
        match self {
            Target::System => "cd exit help reset set show start stop version",
            Target::BootConfig | Target::BootSource(_) => "cd exit help set show version",
            Target::Root | Target::Map => "cd exit help show version",
        }
    }
}

/// One CLP session on a BMC.
pub struct Clp {
    model: Arc<Model>,
    bmc: MachineId,
    privilege: Privilege,
    cwd: Target,
}

impl Clp {
    pub fn new(model: Arc<Model>, bmc: MachineId, privilege: Privilege) -> Clp {
        Clp {
            model,
            bmc,
            privilege,
            cwd: Target::Root,
        }
    }

    /// DSP0214's prompt.
    pub fn prompt(&self) -> &'static str {
        "-> "
    }

    /// Runs one command line.
    pub fn run(&mut self, line: &str, now: Instant) -> ClpOutcome {
        let words: Vec<String> = match crate::esxi::words(line) {
            Ok(w) => w,
            Err(_) => return fail(ClpError::Syntax, "unterminated quoted string"),
        };
        let Some(verb) = words.first().map(|w| w.to_ascii_lowercase()) else {
            return ClpOutcome {
                text: String::new(),
                status: Status::Completed,
                error: None,
                exit: false,
            };
        };
        let mut force = false;
        let mut help = false;
        let mut target: Option<&str> = None;
        let mut props: Vec<(String, String)> = Vec::new();
        for w in &words[1..] {
            if let Some(opt) = w.strip_prefix('-') {
                match opt.to_ascii_lowercase().as_str() {
                    "force" | "f" => force = true,
                    "help" | "h" => help = true,
                    _ => return fail(ClpError::InvalidOption, &format!("option -{opt}")),
                }
            } else if let Some((k, v)) = w.split_once('=') {
                props.push((k.to_ascii_lowercase(), v.to_string()));
            } else if target.is_none() {
                target = Some(w);
            } else {
                return fail(ClpError::Syntax, "more than one target");
            }
        }
        if help {
            return self.help(Some(&verb));
        }
        if force && verb != "stop" {
            return fail(ClpError::InvalidOption, "-force applies to stop");
        }
        let resolved = match target {
            None => Ok(self.cwd),
            Some(t) => self.resolve(t),
        };
        match verb.as_str() {
            "exit" => ClpOutcome {
                text: String::new(),
                status: Status::Completed,
                error: None,
                exit: true,
            },
            "help" => self.help(target),
            "version" => done("SM CLP Version 1.0.2\nSM ME Addressing Version 1.0.0b\n"),
            "cd" => match resolved {
                Ok(t) => {
                    self.cwd = t;
                    done(&format!("{}\n", t.path()))
                }
                Err(e) => e,
            },
            "show" => match resolved {
                Ok(t) if props.is_empty() => done(&self.show(t, now)),
                Ok(_) => fail(ClpError::Syntax, "show takes no property values"),
                Err(e) => e,
            },
            "start" | "stop" | "reset" => {
                let t = match resolved {
                    Ok(t) => t,
                    Err(e) => return e,
                };
                if t != Target::System {
                    return fail(
                        ClpError::InvalidTarget,
                        &format!("{verb} applies to /system1"),
                    );
                }
                if self.privilege < Privilege::Operator {
                    return exec_failed("insufficient privilege");
                }
                self.power(&verb, force, now)
            }
            "set" => {
                let t = match resolved {
                    Ok(t) => t,
                    Err(e) => return e,
                };
                if props.is_empty() {
                    return fail(ClpError::Syntax, "set needs property=value");
                }
                if self.privilege < Privilege::Operator {
                    return exec_failed("insufficient privilege");
                }
                self.set(t, &props, now)
            }
            "create" | "delete" | "dump" | "load" => {
                fail(ClpError::NotSupported, &format!("{verb} is not supported"))
            }
            _ => fail(ClpError::NotRecognized, &format!("'{verb}'")),
        }
    }

    fn resolve(&self, t: &str) -> Result<Target, ClpOutcome> {
        let lower = t.to_ascii_lowercase();
        let mut cur = if lower.starts_with('/') {
            Target::Root
        } else {
            self.cwd
        };
        for part in lower.split('/') {
            cur = match part {
                "" | "." => cur,
                ".." => cur.parent(),
                name => match cur.child(name) {
                    Some(c) => c,
                    None => return Err(fail(ClpError::InvalidTarget, t)),
                },
            };
        }
        Ok(cur)
    }

    /// The boot order: the override device first (when it is a source),
    /// then the rest in their default order. Returns source indexes.
    fn boot_order(&self, now: Instant) -> (Vec<usize>, BootOverride) {
        let chassis = self.model.machine(self.bmc).chassis;
        let boot = self.model.chassis(chassis, now).boot;
        let mut order: Vec<usize> = (0..SOURCES.len()).collect();
        if let Some(first) = SOURCES.iter().position(|s| s.0 == boot.device) {
            order.retain(|&i| i != first);
            order.insert(0, first);
        }
        (order, boot)
    }

    fn show(&self, t: Target, now: Instant) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", t.path());
        let targets: Vec<String> = match t {
            Target::Root => vec!["system1".into(), "map1".into()],
            Target::System => vec!["bootconfig1".into()],
            Target::BootConfig => (1..=SOURCES.len())
                .map(|i| format!("bootsource{i}"))
                .collect(),
            _ => Vec::new(),
        };
        if !targets.is_empty() {
            let _ = writeln!(out, "  Targets:");
            for x in targets {
                let _ = writeln!(out, "    {x}");
            }
        }
        let props = self.properties(t, now);
        if !props.is_empty() {
            let _ = writeln!(out, "  Properties:");
            for (k, v) in props {
                let _ = writeln!(out, "    {k}={v}");
            }
        }
        let _ = writeln!(out, "  Verbs:");
        let _ = writeln!(out, "    {}", t.verbs());
        out
    }

    fn properties(&self, t: Target, now: Instant) -> Vec<(&'static str, String)> {
        let bmc = self.model.machine(self.bmc);
        match t {
            Target::Root => Vec::new(),
            Target::Map => vec![
                ("name", bmc.name.clone()),
                ("elementname", "Baseboard Management Controller".into()),
                ("enabledstate", "enabled".into()),
            ],
            Target::System => {
                let c = self.model.chassis(bmc.chassis, now);
                let host = bmc
                    .host
                    .map(|h| self.model.machine(h).name.clone())
                    .unwrap_or_else(|| bmc.name.clone());
                let (enabled, power) = match c.power {
                    fakedc_model::PowerState::Off => ("disabled", "off"),
                    fakedc_model::PowerState::On => ("enabled", "on"),
                    fakedc_model::PowerState::Booting { .. } => ("starting", "on"),
                    fakedc_model::PowerState::ShuttingDown { .. } => ("shutting down", "on"),
                    fakedc_model::PowerState::Cycling { .. } => ("starting", "off"),
                };
                vec![
                    ("name", host),
                    ("enabledstate", enabled.into()),
                    ("powerstate", power.into()),
                    ("manufacturer", c.hardware.vendor.clone()),
                    ("model", c.hardware.model.clone()),
                    ("serialnumber", c.hardware.serial.clone()),
                    ("uuid", c.hardware.guid_string()),
                ]
            }
            Target::BootConfig => {
                let (order, boot) = self.boot_order(now);
                let names: Vec<String> = order
                    .iter()
                    .map(|&i| format!("bootsource{}", i + 1))
                    .collect();
                vec![
                    ("instanceid", "bootconfig1".into()),
                    ("elementname", "Boot Configuration".into()),
                    ("bootorder", names.join(",")),
                    ("bootoverride", boot.device.label().into()),
                    (
                        "bootoverridepersistent",
                        if boot.persistent { "true" } else { "false" }.into(),
                    ),
                ]
            }
            Target::BootSource(i) => {
                let (order, _) = self.boot_order(now);
                let pos = order
                    .iter()
                    .position(|&x| x == i)
                    .map(|p| p + 1)
                    .unwrap_or(0);
                let (_, string, name) = SOURCES[i];
                vec![
                    ("bootorder", pos.to_string()),
                    ("bootstring", string.into()),
                    ("elementname", name.into()),
                ]
            }
        }
    }

    fn power(&self, verb: &str, force: bool, now: Instant) -> ClpOutcome {
        let chassis = self.model.machine(self.bmc).chassis;
        let on = self.model.chassis(chassis, now).power.power_on();
        let (action, msg) = match (verb, force) {
            ("start", _) if on => return done("Server power already on.\n"),
            ("start", _) => (PowerAction::On, "Server powering on.\n"),
            ("stop", _) if !on => return done("Server power already off.\n"),
            ("stop", true) => (PowerAction::Off, "Server powering off (forced).\n"),
            ("stop", false) => (PowerAction::Soft, "Server shutting down.\n"),
            _ if !on => return exec_failed("server is powered off"),
            _ => (PowerAction::Reset, "Server resetting.\n"),
        };
        self.model.power_action(self.bmc, action, now);
        done(msg)
    }

    fn set(&self, t: Target, props: &[(String, String)], now: Instant) -> ClpOutcome {
        let Target::BootSource(i) = t else {
            return fail(
                ClpError::InvalidTarget,
                "properties can be set on /system1/bootconfig1/bootsource<N>",
            );
        };
        let [(k, v)] = props else {
            return fail(ClpError::Syntax, "one property at a time");
        };
        if k != "bootorder" {
            return fail(ClpError::InvalidArgument, &format!("{k} is read-only"));
        }
        let Some(pos) = v
            .parse::<usize>()
            .ok()
            .filter(|p| (1..=SOURCES.len()).contains(p))
        else {
            return fail(
                ClpError::InvalidArgument,
                &format!("bootorder must be 1..{}", SOURCES.len()),
            );
        };
        let (order, boot) = self.boot_order(now);
        let device = SOURCES[i].0;
        let new = if pos == 1 {
            BootOverride {
                device,
                persistent: true,
                efi: boot.efi,
            }
        } else if order.first() == Some(&i) && boot.device == device {
            BootOverride {
                device: BootDevice::None,
                persistent: false,
                efi: boot.efi,
            }
        } else {
            return exec_failed("only the first boot device can be chosen (bootorder=1)");
        };
        let chassis = self.model.machine(self.bmc).chassis;
        self.model.with_chassis(chassis, now, |c| c.set_boot(new));
        done(&format!("{} bootorder={pos}\n", t.path()))
    }

    fn help(&self, verb: Option<&str>) -> ClpOutcome {
        let text = match verb.map(|v| v.to_ascii_lowercase()) {
            None => {
                let mut s = String::from("The following verbs are supported:\n");
                for v in VERBS {
                    let _ = writeln!(s, "  {v}");
                }
                s
            }
            Some(v) => match VERBS
                .iter()
                .find(|x| x.split(' ').next() == Some(v.as_str()))
            {
                Some(usage) => format!("usage: {usage}\n"),
                None => return fail(ClpError::NotRecognized, &format!("'{v}'")),
            },
        };
        done(&text)
    }
}

fn header(status: Status, error: Option<ClpError>) -> String {
    let mut s = format!("status={}\nstatus_tag={}\n", status as u8, status.tag());
    if let Some(e) = error {
        let _ = write!(s, "error={}\nerror_tag={}\n", e as u8, e.tag());
    }
    s.push('\n');
    s
}

fn done(body: &str) -> ClpOutcome {
    ClpOutcome {
        text: format!("{}{body}", header(Status::Completed, None)),
        status: Status::Completed,
        error: None,
        exit: false,
    }
}

fn fail(e: ClpError, detail: &str) -> ClpOutcome {
    ClpOutcome {
        text: format!(
            "{}{}: {detail}\n",
            header(Status::ProcessingFailed, Some(e)),
            e.tag()
        ),
        status: Status::ProcessingFailed,
        error: Some(e),
        exit: false,
    }
}

fn exec_failed(detail: &str) -> ClpOutcome {
    ClpOutcome {
        text: format!("{}{detail}\n", header(Status::ExecutionFailed, None)),
        status: Status::ExecutionFailed,
        error: None,
        exit: false,
    }
}

#[cfg(test)]
mod tests;
