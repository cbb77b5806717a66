//! The ESXi shell, sans-IO: one command line in, output and exit code out,
//! over the model (the host's VMs) and the jailed datastore.
//!
//! VM ids (`vim-cmd vmsvc/...`): a VM's vmid is its 1-based position in the
//! host's `[[machine.vm]]` list, stable for a scenario, the way real ESXi
//! numbers VMs in registration order. Power changes act on the VM's own
//! chassis, so a guest machine whose VM is powered on comes up on the
//! network after its boot delay, and the control API shows the same state.

use crate::jail::{long_line, FsError, Jail, Kind};
use crate::vfs::VPath;
use fakedc_model::{MachineId, Model, PowerAction};
use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;

/// The commands implemented (for `/about` and `help`).
pub const COMMANDS: &[&str] = &[
    "esxcli system version get",
    "esxcli system hostname get",
    "esxcli network ip interface ipv4 get",
    "vim-cmd vmsvc/getallvms",
    "vim-cmd vmsvc/power.getstate <vmid>",
    "vim-cmd vmsvc/power.on <vmid>",
    "vim-cmd vmsvc/power.off <vmid>",
    "vim-cmd vmsvc/power.shutdown <vmid>",
    "vim-cmd vmsvc/power.reset <vmid>",
    "vmware -v | -l | -vl",
    "uname [-a -s -n -r -v -m -o]",
    "hostname",
    "ls [-l] [-a] [path...]",
    "cd [path], pwd",
    "cat <file>",
    "echo [words]",
    "whoami",
    "exit",
    "lists and pipes: a; b, a && b, a || b, a | grep [-ivc] TEXT | head/tail [-n N] | wc -l | sort | cat",
];

/// Largest file `cat` prints.
const MAX_CAT: u64 = 1024 * 1024;
/// Entries `ls` prints per directory at most.
const MAX_LS: usize = 10_000;

/// What a command produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub code: u32,
    /// The session ends (exit, logout).
    pub exit: bool,
}

impl Outcome {
    fn out(stdout: String) -> Outcome {
        Outcome {
            stdout,
            ..Default::default()
        }
    }

    fn err(stderr: String, code: u32) -> Outcome {
        Outcome {
            stderr,
            code,
            ..Default::default()
        }
    }
}

/// Version strings the shell reports.
#[derive(Debug, Clone)]
pub struct EsxiInfo {
    pub version: String,
    pub build: String,
    /// The datastore VMs' files are shown on.
    pub datastore: String,
}

/// One ESXi shell session.
pub struct EsxiShell {
    model: Arc<Model>,
    machine: MachineId,
    jail: Option<Arc<Jail>>,
    info: EsxiInfo,
    user: String,
    cwd: VPath,
}

impl EsxiShell {
    /// `jail` is `None` when the share cannot be opened (file commands then
    /// fail with "Permission denied").
    pub fn new(
        model: Arc<Model>,
        machine: MachineId,
        jail: Option<Arc<Jail>>,
        info: EsxiInfo,
        user: &str,
    ) -> EsxiShell {
        EsxiShell {
            model,
            machine,
            jail,
            info,
            user: user.to_string(),
            // root's home on ESXi is "/".
            cwd: VPath::root(),
        }
    }

    /// The prompt ESXi shows: `[root@esxi01:~] ` (`~` is `/` for root).
    pub fn prompt(&self) -> String {
        let dir = if self.cwd.is_root() {
            "~".to_string()
        } else {
            self.cwd.file_name().unwrap_or("/").to_string()
        };
        format!("[{}@{}:{}] ", self.user, self.host_name(), dir)
    }

    fn host_name(&self) -> &str {
        &self.model.machine(self.machine).name
    }

    /// Runs one command line: simple commands joined by `;`, `&&`, `||`
    /// and `|` (the filters `grep`, `head`, `tail`, `wc -l`, `sort` and
    /// `cat` read the previous command's output), as scripts use them.
    pub fn run(&mut self, line: &str, now: Instant) -> Outcome {
        let list = match parse_list(line) {
            Ok(l) => l,
            Err(msg) => return Outcome::err(format!("sh: syntax error: {msg}\n"), 2),
        };
        let mut out = Outcome::default();
        let mut last = 0u32;
        for (connector, pipeline) in list {
            match connector {
                Connector::And if last != 0 => continue,
                Connector::Or if last == 0 => continue,
                _ => {}
            }
            let mut stdin: Option<String> = None;
            let mut result = Outcome::default();
            for words in &pipeline {
                result = self.simple(words, stdin.as_deref(), now);
                out.stderr.push_str(&result.stderr);
                if result.exit {
                    break;
                }
                stdin = Some(std::mem::take(&mut result.stdout));
            }
            out.stdout.push_str(stdin.as_deref().unwrap_or(""));
            out.stdout.push_str(&result.stdout);
            last = result.code;
            if result.exit {
                out.exit = true;
                break;
            }
        }
        out.code = last;
        out
    }

    /// One simple command; `stdin` is the previous command's output in a
    /// pipeline.
    fn simple(&mut self, words: &[String], stdin: Option<&str>, now: Instant) -> Outcome {
        let Some(cmd) = words.first() else {
            return Outcome::default();
        };
        let args: Vec<&str> = words[1..].iter().map(|s| s.as_str()).collect();
        match cmd.as_str() {
            "exit" | "logout" => Outcome {
                exit: true,
                code: args.first().and_then(|a| a.parse().ok()).unwrap_or(0),
                ..Default::default()
            },
            "esxcli" => self.esxcli(&args),
            "vim-cmd" => self.vim_cmd(&args, now),
            "vmware" => self.vmware(&args),
            "uname" => self.uname(&args),
            "hostname" => Outcome::out(format!("{}\n", self.host_name())),
            "whoami" => Outcome::out(format!("{}\n", self.user)),
            "echo" => Outcome::out(format!("{}\n", args.join(" "))),
            "pwd" => Outcome::out(format!("{}\n", self.cwd)),
            "cd" => self.cd(&args),
            "ls" => self.ls(&args),
            "cat" if args.is_empty() => Outcome::out(stdin.unwrap_or("").to_string()),
            "cat" => self.cat(&args),
            "df" => self.df(&args),
            "grep" | "head" | "tail" | "wc" | "sort" => filter(cmd, &args, stdin.unwrap_or("")),
            "true" | ":" => Outcome::default(),
            "false" => Outcome::err(String::new(), 1),
            other => Outcome::err(format!("sh: {other}: not found\n"), 127),
        }
    }

    fn esxcli(&self, args: &[&str]) -> Outcome {
        let m = self.model.machine(self.machine);
        match args {
            ["system", "version", "get"] => {
                let update = self.info.version.split('.').nth(2).unwrap_or("0");
                Outcome::out(format!(
                    "   Product: VMware ESXi\n   Version: {}\n   Build: Releasebuild-{}\n   Update: {update}\n   Patch: 0\n",
                    self.info.version, self.info.build
                ))
            }
            ["system", "hostname", "get"] => {
                let domain = m.dns_name.split_once('.').map(|(_, d)| d).unwrap_or("");
                Outcome::out(format!(
                    "   Domain Name: {domain}\n   Fully Qualified Domain Name: {}\n   Host Name: {}\n",
                    m.dns_name, m.name
                ))
            }
            ["network", "ip", "interface", "ipv4", "get", ..] => {
                let (addr, mask, bcast) = match m.address {
                    std::net::IpAddr::V4(a) => {
                        let o = a.octets();
                        (
                            a.to_string(),
                            "255.255.255.0".to_string(),
                            format!("{}.{}.{}.255", o[0], o[1], o[2]),
                        )
                    }
                    std::net::IpAddr::V6(a) => (a.to_string(), String::new(), String::new()),
                };
                let rows = [
                    [
                        "Name",
                        "IPv4 Address",
                        "IPv4 Netmask",
                        "IPv4 Broadcast",
                        "Address Type",
                        "Gateway",
                        "DHCP DNS",
                    ]
                    .map(String::from),
                    [
                        "vmk0".into(),
                        addr,
                        mask,
                        bcast,
                        "STATIC".into(),
                        "0.0.0.0".into(),
                        "false".into(),
                    ],
                ];
                Outcome::out(table(&rows))
            }
            [] => Outcome::out(
                "Usage: esxcli [options] {namespace}+ {cmd} [cmd options]\n\nAvailable Namespaces:\n  network               Operations that pertain to the maintenance of networking on an ESX host.\n  system                VMKernel system properties and commands for configuring properties of the kernel core system.\n".into(),
            ),
            _ => Outcome::err(
                format!("Error: Unknown command or namespace {}\n", args.join(" ")),
                1,
            ),
        }
    }

    fn vim_cmd(&self, args: &[&str], now: Instant) -> Outcome {
        let m = self.model.machine(self.machine);
        let Some(&op) = args.first() else {
            return Outcome::out(
                "Commands available under /:\nhbrsvc/       internalsvc/  solo/         vmsvc/\nhostsvc/      proxysvc/     vimsvc/       help\n".into(),
            );
        };
        let vm_of = |arg: Option<&&str>| -> Result<(usize, &fakedc_model::Vm), Outcome> {
            let Some(a) = arg else {
                return Err(Outcome::err("Insufficient arguments.\n".into(), 1));
            };
            a.parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|i| m.vms.get(i).map(|v| (i + 1, v)))
                .ok_or_else(|| {
                    Outcome::err(
                        format!(
                            "(vim.fault.NotFound) {{\n   faultCause = (vmodl.MethodFault) null,\n   faultMessage = <unset>,\n   msg = \"Unable to find a VM corresponding to \"{a}\"\"\n}}\n"
                        ),
                        1,
                    )
                })
        };
        match op {
            "vmsvc/getallvms" => {
                let mut rows = vec![
                    ["Vmid", "Name", "File", "Guest OS", "Version", "Annotation"].map(String::from),
                ];
                for (i, vm) in m.vms.iter().enumerate() {
                    rows.push([
                        (i + 1).to_string(),
                        vm.name.clone(),
                        format!("[{}] {1}/{1}.vmx", self.info.datastore, vm.name),
                        "otherGuest64".into(),
                        "vmx-19".into(),
                        String::new(),
                    ]);
                }
                Outcome::out(table(&rows))
            }
            "vmsvc/power.getstate" => match vm_of(args.get(1)) {
                Err(o) => o,
                Ok((_, vm)) => {
                    let on = self.model.chassis(vm.chassis, now).power.power_on();
                    Outcome::out(format!(
                        "Retrieved runtime info\n{}\n",
                        if on { "Powered on" } else { "Powered off" }
                    ))
                }
            },
            "vmsvc/power.on" | "vmsvc/power.off" | "vmsvc/power.shutdown" | "vmsvc/power.reset" => {
                match vm_of(args.get(1)) {
                    Err(o) => o,
                    Ok((_, vm)) => {
                        let (action, verb, want_on) = match op {
                            "vmsvc/power.on" => (PowerAction::On, "Powering on VM:", false),
                            "vmsvc/power.off" => (PowerAction::Off, "Powering off VM:", true),
                            "vmsvc/power.shutdown" => (PowerAction::Soft, "", true),
                            _ => (PowerAction::Reset, "Reset VM:", true),
                        };
                        let result = self.model.with_chassis(vm.chassis, now, |c| {
                            let on = c.power.power_on();
                            if on != want_on {
                                return Err(on);
                            }
                            c.power_action(action, now);
                            Ok(())
                        });
                        match result {
                            Ok(()) => Outcome::out(if verb.is_empty() {
                                String::new()
                            } else {
                                format!("{verb}\n")
                            }),
                            Err(on) => {
                                let state = if on { "Powered on" } else { "Powered off" };
                                let mut o = String::new();
                                if !verb.is_empty() {
                                    let _ = writeln!(o, "{verb}");
                                }
                                let _ = write!(
                                o,
                                "(vim.fault.InvalidPowerState) {{\n   faultCause = (vmodl.MethodFault) null,\n   faultMessage = <unset>,\n   requestedState = \"{}\",\n   existingState = \"{}\"\n   msg = \"The attempted operation cannot be performed in the current state ({state}).\"\n}}\n",
                                if want_on { "poweredOff" } else { "poweredOn" },
                                if on { "poweredOn" } else { "poweredOff" },
                            );
                                Outcome::err(o, 1)
                            }
                        }
                    }
                }
            }
            other => Outcome::err(format!("Unknown command: '{other}'\n"), 1),
        }
    }

    fn vmware(&self, args: &[&str]) -> Outcome {
        let v = format!(
            "VMware ESXi {} build-{}",
            self.info.version, self.info.build
        );
        let mut parts = self.info.version.split('.');
        let (major, minor, update) = (
            parts.next().unwrap_or("7"),
            parts.next().unwrap_or("0"),
            parts.next().unwrap_or("0"),
        );
        let l = format!("VMware ESXi {major}.{minor} Update {update}");
        match args {
            ["-v"] => Outcome::out(format!("{v}\n")),
            ["-l"] => Outcome::out(format!("{l}\n")),
            ["-vl"] | ["-lv"] | ["-v", "-l"] | ["-l", "-v"] => Outcome::out(format!("{v}\n{l}\n")),
            _ => Outcome::err(
                "Usage: vmware [-v] [-l]\n  -v  print version\n  -l  print release level\n".into(),
                1,
            ),
        }
    }

    fn uname(&self, args: &[&str]) -> Outcome {
        let host = self.host_name().to_string();
        let kernel_version = format!(
            "#1 SMP Release build-{} Jun 15 2023 06:47:56",
            self.info.build
        );
        let fields: [(&str, String); 6] = [
            ("s", "VMkernel".into()),
            ("n", host),
            ("r", self.info.version.clone()),
            ("v", kernel_version),
            ("m", "x86_64".into()),
            ("o", "ESXi".into()),
        ];
        let mut want = Vec::new();
        for a in args {
            let Some(flags) = a.strip_prefix('-') else {
                return Outcome::err(format!("uname: invalid argument '{a}'\n"), 1);
            };
            for f in flags.chars() {
                match f {
                    'a' => want.extend(["s", "n", "r", "v", "m", "m", "m", "o"]),
                    's' | 'n' | 'r' | 'v' | 'm' | 'o' => want.push(match f {
                        's' => "s",
                        'n' => "n",
                        'r' => "r",
                        'v' => "v",
                        'm' => "m",
                        _ => "o",
                    }),
                    'p' | 'i' => want.push("m"),
                    _ => return Outcome::err(format!("uname: invalid option -- '{f}'\n"), 1),
                }
            }
        }
        if want.is_empty() {
            want.push("s");
        }
        let out: Vec<&str> = want
            .iter()
            .filter_map(|k| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()))
            .collect();
        Outcome::out(format!("{}\n", out.join(" ")))
    }

    fn resolve(&self, p: &str) -> Result<VPath, FsError> {
        Ok(VPath::parse(&self.cwd, p)?)
    }

    fn cd(&mut self, args: &[&str]) -> Outcome {
        let target = args.first().copied().unwrap_or("/");
        let Some(jail) = &self.jail else {
            return Outcome::err(format!("sh: cd: can't cd to {target}\n"), 2);
        };
        match self
            .resolve(target)
            .and_then(|p| jail.stat(&p, true).map(|s| (p, s)))
        {
            Ok((p, st)) if st.kind == Kind::Dir => {
                self.cwd = p;
                Outcome::default()
            }
            _ => Outcome::err(format!("sh: cd: can't cd to {target}\n"), 2),
        }
    }

    fn ls(&self, args: &[&str]) -> Outcome {
        let (mut long, mut all) = (false, false);
        let mut paths = Vec::new();
        for a in args {
            match a.strip_prefix('-') {
                Some(flags) if !flags.is_empty() => {
                    for f in flags.chars() {
                        match f {
                            'l' => long = true,
                            'a' | 'A' => all = true,
                            '1' | 'h' | 'F' => {}
                            _ => return Outcome::err(format!("ls: unrecognized option: {f}\n"), 1),
                        }
                    }
                }
                _ => paths.push(*a),
            }
        }
        if paths.is_empty() {
            paths.push(".");
        }
        let Some(jail) = &self.jail else {
            return Outcome::err("ls: can't open '.': Permission denied\n".into(), 1);
        };
        let mut out = Outcome::default();
        let many = paths.len() > 1;
        for (i, p) in paths.iter().enumerate() {
            let vp = match self.resolve(p) {
                Ok(v) => v,
                Err(e) => {
                    let _ = writeln!(out.stderr, "ls: {p}: {e}");
                    out.code = 1;
                    continue;
                }
            };
            let st = match jail.stat(&vp, true) {
                Ok(s) => s,
                Err(e) => {
                    let _ = writeln!(out.stderr, "ls: {p}: {e}");
                    out.code = 1;
                    continue;
                }
            };
            if st.kind != Kind::Dir {
                if long {
                    let _ = writeln!(out.stdout, "{}", long_line(p, &st));
                } else {
                    let _ = writeln!(out.stdout, "{p}");
                }
                continue;
            }
            let mut listing = match jail.list(&vp) {
                Ok(l) => l,
                Err(e) => {
                    let _ = writeln!(out.stderr, "ls: can't open '{p}': {e}");
                    out.code = 1;
                    continue;
                }
            };
            let mut entries = Vec::new();
            loop {
                let batch = listing.next_batch(256);
                if batch.is_empty() || entries.len() >= MAX_LS {
                    break;
                }
                entries.extend(batch);
            }
            entries.truncate(MAX_LS);
            entries.retain(|(n, _)| all || !n.starts_with('.'));
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            if many {
                if i > 0 {
                    out.stdout.push('\n');
                }
                let _ = writeln!(out.stdout, "{p}:");
            }
            if long {
                let _ = writeln!(out.stdout, "total {}", entries.len());
            }
            for (name, st) in entries {
                if long {
                    let _ = writeln!(out.stdout, "{}", long_line(&name, &st));
                } else {
                    let _ = writeln!(out.stdout, "{name}");
                }
            }
        }
        out
    }

    /// `df [-h]`: the datastore as ESXi lists it, sized by the quota (or
    /// the share's file system), the same figures SFTP's statvfs gives.
    fn df(&self, args: &[&str]) -> Outcome {
        let human = match args {
            [] => false,
            ["-h"] => true,
            _ => return Outcome::err(format!("df: unrecognized option '{}'\n", args.join(" ")), 1),
        };
        let Some(jail) = &self.jail else {
            return Outcome::err("df: Permission denied\n".into(), 1);
        };
        let (size, free) = match jail.space() {
            Ok(s) => s,
            Err(e) => return Outcome::err(format!("df: {e}\n"), 1),
        };
        let used = size.saturating_sub(free);
        let pct = (used.saturating_mul(100) + size.saturating_sub(1)) / size.max(1);
        let mount = jail.layout().mount().to_string();
        Outcome::out(if human {
            format!(
                "Filesystem   Size   Used Available Use% Mounted on\nVMFS-6     {:>6} {:>6} {:>9} {:>3}% {mount}\n",
                human_size(size),
                human_size(used),
                human_size(free),
                pct
            )
        } else {
            format!(
                "Filesystem         Bytes          Used    Available Use% Mounted on\nVMFS-6     {size:>13} {used:>13} {free:>12} {pct:>3}% {mount}\n"
            )
        })
    }

    fn cat(&self, args: &[&str]) -> Outcome {
        let Some(jail) = &self.jail else {
            return Outcome::err("cat: Permission denied\n".into(), 1);
        };
        let mut out = Outcome::default();
        for p in args {
            let r = (|| {
                let vp = self.resolve(p)?;
                let st = jail.stat(&vp, true)?;
                if st.kind == Kind::Dir {
                    return Err(FsError::IsDir);
                }
                if st.size > MAX_CAT {
                    return Err(FsError::Io(std::io::Error::other(
                        "file too large to print",
                    )));
                }
                let rel = jail.share_path(&vp)?;
                Ok(jail.dir().read(&rel)?)
            })();
            match r {
                Ok(bytes) => out.stdout.push_str(&String::from_utf8_lossy(&bytes)),
                Err(e) => {
                    let _ = writeln!(out.stderr, "cat: can't open '{p}': {e}");
                    out.code = 1;
                }
            }
        }
        out
    }
}

/// Columns padded to their widest cell, two spaces apart, with a dashed
/// rule under the header (esxcli and vim-cmd tables).
fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut w = [0usize; N];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for (ri, r) in rows.iter().enumerate() {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            let _ = write!(line, "{c:<width$}  ", width = w[i]);
        }
        let _ = writeln!(out, "{}", line.trim_end());
        if ri == 0 {
            let rule: Vec<String> = w.iter().map(|&n| "-".repeat(n)).collect();
            let _ = writeln!(out, "{}", rule.join("  "));
        }
    }
    out
}

/// How a pipeline is joined to the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Connector {
    First,
    Seq,
    And,
    Or,
}

/// A command line as a list of pipelines, each a list of commands' words.
type List = Vec<(Connector, Vec<Vec<String>>)>;

fn parse_list(line: &str) -> Result<List, &'static str> {
    let mut list: List = Vec::new();
    let mut pipeline: Vec<Vec<String>> = Vec::new();
    let mut connector = Connector::First;
    let mut cmd: Vec<String> = Vec::new();
    for tok in tokens(line, true)? {
        match tok {
            Token::Word(w) => cmd.push(w),
            Token::Op(op) => {
                if cmd.is_empty() {
                    return Err("unexpected operator");
                }
                pipeline.push(std::mem::take(&mut cmd));
                if op != "|" {
                    list.push((connector, std::mem::take(&mut pipeline)));
                    connector = match op {
                        "&&" => Connector::And,
                        "||" => Connector::Or,
                        _ => Connector::Seq,
                    };
                }
            }
        }
    }
    if !cmd.is_empty() {
        pipeline.push(cmd);
    } else if !pipeline.is_empty() || matches!(connector, Connector::And | Connector::Or) {
        return Err("unexpected end of line");
    }
    if !pipeline.is_empty() {
        list.push((connector, pipeline));
    }
    Ok(list)
}

/// The text filters a pipeline may end in (fixed-string grep: no regular
/// expressions).
fn filter(cmd: &str, args: &[&str], input: &str) -> Outcome {
    let lines: Vec<&str> = input.lines().collect();
    let join = |v: Vec<&str>| {
        let mut s = v.join("\n");
        if !s.is_empty() {
            s.push('\n');
        }
        s
    };
    let count_arg = |args: &[&str]| -> Option<usize> {
        match args {
            [] => Some(10),
            ["-n", n] => n.parse().ok(),
            [n] => n.strip_prefix('-').and_then(|n| n.parse().ok()),
            _ => None,
        }
    };
    match cmd {
        "grep" => {
            let (mut invert, mut nocase, mut count) = (false, false, false);
            let mut pattern = None;
            for a in args {
                match *a {
                    "-v" => invert = true,
                    "-i" => nocase = true,
                    "-c" => count = true,
                    "-F" | "-E" => {}
                    p if pattern.is_none() => pattern = Some(p),
                    _ => {}
                }
            }
            let Some(p) = pattern else {
                return Outcome::err("Usage: grep [-ivc] PATTERN\n".into(), 2);
            };
            let p_low = p.to_lowercase();
            let hits: Vec<&str> = lines
                .into_iter()
                .filter(|l| {
                    let m = if nocase {
                        l.to_lowercase().contains(&p_low)
                    } else {
                        l.contains(p)
                    };
                    m != invert
                })
                .collect();
            let code = if hits.is_empty() { 1 } else { 0 };
            let stdout = if count {
                format!("{}\n", hits.len())
            } else {
                join(hits)
            };
            Outcome {
                stdout,
                code,
                ..Default::default()
            }
        }
        "head" | "tail" => match count_arg(args) {
            Some(n) if cmd == "head" => Outcome::out(join(lines.into_iter().take(n).collect())),
            Some(n) => {
                let skip = lines.len().saturating_sub(n);
                Outcome::out(join(lines.into_iter().skip(skip).collect()))
            }
            None => Outcome::err(format!("{cmd}: invalid arguments\n"), 1),
        },
        "wc" => match args {
            ["-l"] => Outcome::out(format!("{}\n", lines.len())),
            _ => Outcome::out(format!(
                "{} {} {}\n",
                lines.len(),
                input.split_whitespace().count(),
                input.len()
            )),
        },
        _ => {
            let mut v = lines;
            v.sort_unstable();
            Outcome::out(join(v))
        }
    }
}

/// A lexical token of a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    /// `;`, `&&`, `||` or `|` (only when operators are recognised).
    Op(&'static str),
}

/// Splits a command line into words: whitespace-separated, with '...' and
/// "..." quoting and backslash escapes, as sh does for simple commands.
pub fn words(line: &str) -> Result<Vec<String>, &'static str> {
    Ok(tokens(line, false)?
        .into_iter()
        .filter_map(|t| match t {
            Token::Word(w) => Some(w),
            Token::Op(_) => None,
        })
        .collect())
}

fn tokens(line: &str, ops: bool) -> Result<Vec<Token>, &'static str> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("unterminated quoted string"),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => cur.push(c),
                            None => return Err("unterminated quoted string"),
                        },
                        Some(c) => cur.push(c),
                        None => return Err("unterminated quoted string"),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    cur.push(c);
                }
            }
            ';' | '&' | '|' if ops => {
                if in_word {
                    out.push(Token::Word(std::mem::take(&mut cur)));
                    in_word = false;
                }
                let op = match (c, chars.peek()) {
                    ('&', Some('&')) => {
                        chars.next();
                        "&&"
                    }
                    ('|', Some('|')) => {
                        chars.next();
                        "||"
                    }
                    ('|', _) => "|",
                    (';', _) => ";",
                    _ => return Err("background jobs are not supported"),
                };
                out.push(Token::Op(op));
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(Token::Word(std::mem::take(&mut cur)));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(Token::Word(cur));
    }
    Ok(out)
}

/// busybox's `-h` sizes: 1024-based, one decimal, K/M/G/T.
fn human_size(bytes: u64) -> String {
    let mut v = bytes as f64;
    for unit in ["", "K", "M", "G", "T", "P"] {
        if v < 1024.0 || unit == "P" {
            return if unit.is_empty() {
                format!("{bytes}")
            } else {
                format!("{v:.1}{unit}")
            };
        }
        v /= 1024.0;
    }
    format!("{bytes}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_words() {
        assert_eq!(
            words(r#"vim-cmd  'a b' "c\"d" e\ f"#).expect("ok"),
            vec!["vim-cmd", "a b", "c\"d", "e f"]
        );
        assert!(words("echo 'x").is_err());
        assert!(words("   ").expect("ok").is_empty());
    }

    #[test]
    fn lists_and_pipelines() {
        let l = parse_list("a b; c && d | e || f").expect("ok");
        assert_eq!(l.len(), 4);
        assert_eq!(l[2].0, Connector::And);
        assert_eq!(l[2].1.len(), 2);
        assert_eq!(l[3].0, Connector::Or);
        assert!(parse_list("a &&").is_err());
        assert!(parse_list("| a").is_err());
        assert!(parse_list("a &").is_err());
        assert_eq!(parse_list("echo 'a;b'").expect("ok")[0].1[0][1], "a;b");
        let o = filter("grep", &["-i", "B"], "a\nb\nab\n");
        assert_eq!(o.stdout, "b\nab\n");
        assert_eq!(filter("grep", &["zz"], "a\n").code, 1);
        assert_eq!(filter("head", &["-n", "1"], "a\nb\n").stdout, "a\n");
        assert_eq!(filter("wc", &["-l"], "a\nb\n").stdout, "2\n");
    }

    #[test]
    fn human_sizes_like_busybox() {
        assert_eq!(human_size(512), "512");
        assert_eq!(human_size(1536), "1.5K");
        assert_eq!(human_size(3_000_000), "2.9M");
        assert_eq!(human_size(1_000_000_000_000), "931.3G");
    }

    #[test]
    fn tables_align() {
        let t = table(&[
            ["Vmid".to_string(), "Name".to_string()],
            ["1".to_string(), "web01".to_string()],
        ]);
        assert_eq!(t, "Vmid  Name\n----  -----\n1     web01\n");
    }
}
