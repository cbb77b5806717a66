//! The host shell of ESXi (busybox `sh`) and of ESX 3.x (the service
//! console's bash), sans-IO: a command line in, output and exit status out,
//! over the model (the host's VMs) and the jailed datastore.
//!
//! The syntax is [`crate::sh`]'s; this module runs the tree: lists and
//! pipelines, subshells (a copy of the state: variables, directory, umask),
//! expansion with field splitting, redirections into the jail (`/dev/null`
//! included), and the commands, as built-ins: the ESXi tools (`esxcli`,
//! `vim-cmd`, `vmware`, `df`), the busybox file commands over the jail
//! ([`files`]) and the text ones ([`text`]). Anything else is
//! `sh: X: not found` with status 127 (`bash: X: command not found` on
//! ESX).
//!
//! Limits: everything one command line produces, in every stream of every
//! stage, is at most [`MAX_OUTPUT`] bytes; a command's expanded words at
//! most [`MAX_ARGS`]; a variable [`MAX_VAR`] bytes; commands run per line
//! [`MAX_STEPS`]; nested subshells, substitutions and `sh -c` [`MAX_NEST`].
//! Past a limit the line stops with a message and status 1.
//!
//! VM ids (`vim-cmd vmsvc/...`): a VM's vmid is its 1-based position in the
//! host's `[[machine.vm]]` list, stable for a scenario, the way real ESXi
//! numbers VMs in registration order. Power changes act on the VM's own
//! chassis, so a guest machine whose VM is powered on comes up on the
//! network after its boot delay, and the control API shows the same state.

mod files;
mod text;

use crate::jail::{FsError, Jail, Kind};
use crate::sh::{self, AndOr, Command, Connector, List, Part, Pipeline, Redir, RedirOp, Word};
use crate::vfs::VPath;
use fakedc_model::{MachineId, Model, PowerAction, Role};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;

/// The commands implemented (for `/about` and `help`).
pub const COMMANDS: &[&str] = &[
    "sh syntax: a; b, a & b, a && b, a || b, ! a, a | b, ( list ), { list; }, 'quotes', \"quotes\", \\, $VAR ${VAR} $? $$ $(cmd) `cmd`, ~, NAME=value, > >> < 2> 2>&1 >/dev/null",
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
    "uname [-a -s -n -r -v -m -p -i -o]",
    "hostname [-s -f]",
    "ls [-l -a -d -1] [path...]",
    "cd [path|-], pwd",
    "cat [file|-]...",
    "echo [-n -e] [words], printf FORMAT [args]",
    "mkdir [-p] [-m MODE], rmdir, rm [-f -r], touch [-c], chmod [-R] MODE, mv [-f], cp [-r -p -f]",
    "test / [ (-e -f -d -s -r -w -x -L -z -n = != -eq -ne -lt -le -gt -ge ! -a -o)",
    "umask [-S] [MODE], export, unset, basename, dirname, whoami, true, false, :, exit [N], sh -c",
    "df [-h]",
    "scp -t / -f (the legacy SCP protocol, -r -p -d)",
    "filters: grep [-ivcF] TEXT, head/tail [-n N], wc [-l], sort",
];

/// Largest file `cat` (or `<`) reads.
const MAX_CAT: u64 = 1024 * 1024;
/// Entries `ls` prints per directory at most.
const MAX_LS: usize = 10_000;
/// Bytes one command line may produce in all (every stream of every stage).
pub const MAX_OUTPUT: usize = 4 * 1024 * 1024;
/// Bytes of one command's expanded words (like ARG_MAX).
pub const MAX_ARGS: usize = 256 * 1024;
/// Bytes of one variable's value.
pub const MAX_VAR: usize = 64 * 1024;
/// Variables a session may hold.
pub const MAX_VARS: usize = 1024;
/// Simple commands one command line may run (there are no loops, but
/// `sh -c "$x"` can recurse).
pub const MAX_STEPS: usize = 10_000;
/// Nesting of subshells, substitutions and `sh -c` while running.
pub const MAX_NEST: usize = 64;

/// What a command line produced, as text (invalid UTF-8 replaced).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub code: u32,
    /// The session ends (exit, logout).
    pub exit: bool,
}

/// What a command line produced, as bytes (for an exec channel).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawOutcome {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub code: u32,
    pub exit: bool,
}

/// Version strings the shell reports.
#[derive(Debug, Clone)]
pub struct EsxiInfo {
    pub version: String,
    pub build: String,
    /// The datastore VMs' files are shown on.
    pub datastore: String,
}

/// Which product's shell this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// ESXi: busybox `sh`, `VMkernel` in uname.
    Esxi,
    /// ESX 3.x: the service console (Red Hat Enterprise Linux 3, bash).
    Esx,
}

/// What one command produced.
#[derive(Debug, Default)]
struct Out {
    out: Vec<u8>,
    err: Vec<u8>,
    code: u32,
    /// `exit`: the shell (or subshell) ends with `code`.
    exit: bool,
}

impl Out {
    fn ok(out: impl Into<Vec<u8>>) -> Out {
        Out {
            out: out.into(),
            ..Default::default()
        }
    }

    fn fail(err: impl Into<Vec<u8>>, code: u32) -> Out {
        Out {
            err: err.into(),
            code,
            ..Default::default()
        }
    }

    fn code(code: u32) -> Out {
        Out {
            code,
            ..Default::default()
        }
    }

    fn from_outcome(o: Outcome) -> Out {
        Out {
            out: o.stdout.into_bytes(),
            err: o.stderr.into_bytes(),
            code: o.code,
            exit: o.exit,
        }
    }
}

/// Why running stopped before the end of the line.
#[derive(Debug)]
enum Stop {
    /// `exit N` (ends the shell or the enclosing subshell).
    Exit(u32),
    /// A limit was reached; the message is printed.
    Limit(&'static str),
}

/// A stream being collected.
#[derive(Debug, Default)]
struct Io {
    out: Vec<u8>,
    err: Vec<u8>,
}

/// The budget of one command line.
struct Cx {
    now: Instant,
    produced: usize,
    steps: usize,
    nest: usize,
}

impl Cx {
    fn charge(&mut self, bytes: usize) -> Result<(), Stop> {
        self.produced = self.produced.saturating_add(bytes);
        if self.produced > MAX_OUTPUT {
            return Err(Stop::Limit("output limit exceeded"));
        }
        Ok(())
    }

    fn room(&self) -> usize {
        MAX_OUTPUT.saturating_sub(self.produced)
    }

    fn step(&mut self) -> Result<(), Stop> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(Stop::Limit("too many commands"));
        }
        Ok(())
    }

    fn enter(&mut self) -> Result<(), Stop> {
        self.nest += 1;
        if self.nest > MAX_NEST {
            return Err(Stop::Limit("nesting too deep"));
        }
        Ok(())
    }
}

/// What a subshell copies and a command may change.
#[derive(Debug, Clone)]
struct State {
    cwd: VPath,
    vars: BTreeMap<String, String>,
    umask: u32,
    /// `$?`
    last: u32,
}

/// Where a redirected descriptor writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Out,
    Err,
    Null,
    /// An index into the command's open files.
    File(usize),
}

/// A file opened by a redirection.
struct OpenOut {
    file: cap_std::fs::File,
    len: u64,
    name: String,
}

/// A command's redirections, opened.
struct Redirs {
    fds: [Target; 3],
    files: Vec<OpenOut>,
    stdin: Option<Vec<u8>>,
}

/// One shell session.
pub struct EsxiShell {
    model: Arc<Model>,
    machine: MachineId,
    jail: Option<Arc<Jail>>,
    info: EsxiInfo,
    user: String,
    flavor: Flavor,
    st: State,
    /// The status of the last command substitution in the current command.
    subst_status: Option<u32>,
}

/// Directories whose commands are found by their full path.
const BIN_DIRS: &[&str] = &["/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/"];

impl EsxiShell {
    /// `jail` is `None` when the share cannot be opened (file commands then
    /// fail with "Permission denied"). An ESX host (role `esx-host`) gets
    /// ESX 3.x's service console, any other host ESXi's shell.
    pub fn new(
        model: Arc<Model>,
        machine: MachineId,
        jail: Option<Arc<Jail>>,
        info: EsxiInfo,
        user: &str,
    ) -> EsxiShell {
        let m = model.machine(machine);
        let flavor = if m.role == Role::EsxHost {
            Flavor::Esx
        } else {
            Flavor::Esxi
        };
        let mut vars = BTreeMap::new();
        let shell = match flavor {
            Flavor::Esxi => "/bin/sh",
            Flavor::Esx => "/bin/bash",
        };
        for (k, v) in [
            ("HOME", "/"),
            ("PATH", "/bin:/sbin"),
            ("PWD", "/"),
            ("SHELL", shell),
            ("USER", user),
            ("LOGNAME", user),
            ("HOSTNAME", m.name.as_str()),
            ("IFS", " \t\n"),
        ] {
            vars.insert(k.to_string(), v.to_string());
        }
        EsxiShell {
            model: model.clone(),
            machine,
            jail,
            info,
            user: user.to_string(),
            flavor,
            st: State {
                // root's home on ESXi is "/".
                cwd: VPath::root(),
                vars,
                umask: 0o022,
                last: 0,
            },
            subst_status: None,
        }
    }

    /// Which product's shell this is.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// The working directory.
    pub fn cwd(&self) -> &VPath {
        &self.st.cwd
    }

    /// The file mode creation mask.
    pub fn umask(&self) -> u32 {
        self.st.umask
    }

    /// The jail, when the share could be opened.
    pub fn jail(&self) -> Option<&Arc<Jail>> {
        self.jail.as_ref()
    }

    /// The prompt: ESXi's `[root@esxi01:~] ` (`~` is `/` for root), ESX's
    /// `[root@esx01 ~]# `.
    pub fn prompt(&self) -> String {
        let dir = if self.st.cwd.is_root() {
            "~".to_string()
        } else {
            self.st.cwd.file_name().unwrap_or("/").to_string()
        };
        match self.flavor {
            Flavor::Esxi => format!("[{}@{}:{}] ", self.user, self.host_name(), dir),
            Flavor::Esx => format!("[{}@{} {}]# ", self.user, self.host_name(), dir),
        }
    }

    fn host_name(&self) -> &str {
        &self.model.machine(self.machine).name
    }

    /// The shell's name in its messages.
    fn sh_name(&self) -> &'static str {
        match self.flavor {
            Flavor::Esxi => "sh",
            Flavor::Esx => "bash",
        }
    }

    /// Runs one command line (text output).
    pub fn run(&mut self, line: &str, now: Instant) -> Outcome {
        let r = self.run_bytes(line, now);
        Outcome {
            stdout: String::from_utf8_lossy(&r.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&r.stderr).into_owned(),
            code: r.code,
            exit: r.exit,
        }
    }

    /// Runs one command line.
    pub fn run_bytes(&mut self, line: &str, now: Instant) -> RawOutcome {
        let list = match sh::parse(line) {
            Ok(l) => l,
            Err(e) => {
                self.st.last = 2;
                return RawOutcome {
                    stderr: format!("{}: {e}\n", self.sh_name()).into_bytes(),
                    code: 2,
                    ..Default::default()
                };
            }
        };
        if list.is_empty() {
            return RawOutcome::default();
        }
        let mut io = Io::default();
        let mut cx = Cx {
            now,
            produced: 0,
            steps: 0,
            nest: 0,
        };
        let (code, exit) = match self.list(&list, b"", &mut io, &mut cx) {
            Ok(c) => (c, false),
            Err(Stop::Exit(c)) => (c, true),
            Err(Stop::Limit(why)) => {
                let _ = writeln!(Text(&mut io.err), "{}: {why}", self.sh_name());
                (1, false)
            }
        };
        self.st.last = code;
        RawOutcome {
            stdout: io.out,
            stderr: io.err,
            code,
            exit,
        }
    }

    /// When `line` is exactly one `scp -t`/`scp -f` command (how OpenSSH's
    /// scp starts its remote end), its arguments after `scp`; such a
    /// command streams over the channel instead of running here.
    pub fn scp_command(&self, line: &str) -> Option<Vec<String>> {
        let list = sh::parse(line).ok()?;
        let [AndOr { first, rest }] = list.as_slice() else {
            return None;
        };
        if !rest.is_empty() || first.bang {
            return None;
        }
        let [Command::Simple(s)] = first.commands.as_slice() else {
            return None;
        };
        if !s.assigns.is_empty() || !s.redirs.is_empty() {
            return None;
        }
        let mut argv = Vec::new();
        for w in &s.words {
            argv.push(w.literal()?);
        }
        let (name, args) = argv.split_first()?;
        if command_name(name) != "scp" {
            return None;
        }
        let modes = args
            .iter()
            .take_while(|a| a.as_str() != "--")
            .filter(|a| a.starts_with('-') && (a.contains('t') || a.contains('f')))
            .count();
        (modes > 0).then(|| args.to_vec())
    }

    fn list(&mut self, list: &List, stdin: &[u8], io: &mut Io, cx: &mut Cx) -> Result<u32, Stop> {
        let mut code = self.st.last;
        for ao in list {
            code = self.and_or(ao, stdin, io, cx)?;
        }
        Ok(code)
    }

    fn and_or(&mut self, ao: &AndOr, stdin: &[u8], io: &mut Io, cx: &mut Cx) -> Result<u32, Stop> {
        let mut code = self.pipeline(&ao.first, stdin, io, cx)?;
        for (conn, p) in &ao.rest {
            match conn {
                Connector::And if code != 0 => continue,
                Connector::Or if code == 0 => continue,
                _ => {}
            }
            code = self.pipeline(p, stdin, io, cx)?;
        }
        Ok(code)
    }

    fn pipeline(
        &mut self,
        p: &Pipeline,
        stdin: &[u8],
        io: &mut Io,
        cx: &mut Cx,
    ) -> Result<u32, Stop> {
        let code = match p.commands.as_slice() {
            [one] => self.command(one, stdin, io, cx)?,
            many => {
                // Each stage runs in a subshell, reading the one before.
                let mut input = stdin.to_vec();
                let mut code = 0;
                for (i, c) in many.iter().enumerate() {
                    let mut stage = Io::default();
                    let r = self.subshell(cx, |sh, cx| sh.command(c, &input, &mut stage, cx));
                    code = r?;
                    io.err.append(&mut stage.err);
                    if i + 1 == many.len() {
                        io.out.append(&mut stage.out);
                    } else {
                        input = stage.out;
                    }
                }
                code
            }
        };
        let code = if p.bang { u32::from(code == 0) } else { code };
        self.st.last = code;
        Ok(code)
    }

    /// Runs `f` in a copy of the state (a subshell): its changes and its
    /// `exit` end with it.
    fn subshell(
        &mut self,
        cx: &mut Cx,
        f: impl FnOnce(&mut EsxiShell, &mut Cx) -> Result<u32, Stop>,
    ) -> Result<u32, Stop> {
        cx.enter()?;
        let saved = self.st.clone();
        let r = f(self, cx);
        self.st = saved;
        cx.nest -= 1;
        match r {
            Ok(c) | Err(Stop::Exit(c)) => Ok(c),
            Err(e) => Err(e),
        }
    }

    fn command(
        &mut self,
        c: &Command,
        stdin: &[u8],
        io: &mut Io,
        cx: &mut Cx,
    ) -> Result<u32, Stop> {
        match c {
            Command::Simple(s) => self.simple(s, stdin, io, cx),
            Command::Subshell(list, redirs) | Command::Group(list, redirs) => {
                let mut r = match self.open_redirs(redirs, io, cx)? {
                    Ok(r) => r,
                    Err(msg) => {
                        io.err.extend_from_slice(msg.as_bytes());
                        return Ok(1);
                    }
                };
                let input = r.stdin.take();
                let stdin = input.as_deref().unwrap_or(stdin);
                let mut inner = Io::default();
                let res = if matches!(c, Command::Subshell(..)) {
                    self.subshell(cx, |sh, cx| sh.list(list, stdin, &mut inner, cx))
                } else {
                    cx.enter()?;
                    let r = self.list(list, stdin, &mut inner, cx);
                    cx.nest -= 1;
                    r
                };
                // Output made before an `exit` still goes where it was sent.
                self.deliver(&mut r, inner.out, inner.err, io);
                res
            }
        }
    }

    fn simple(
        &mut self,
        s: &sh::Simple,
        stdin: &[u8],
        io: &mut Io,
        cx: &mut Cx,
    ) -> Result<u32, Stop> {
        cx.step()?;
        self.subst_status = None;
        let mut argv = Vec::new();
        let mut size = 0usize;
        for w in &s.words {
            for f in self.expand(w, true, io, cx)? {
                size = size.saturating_add(f.len() + 1);
                if size > MAX_ARGS {
                    return Err(Stop::Limit("argument list too long"));
                }
                argv.push(f);
            }
        }
        let mut assigns = Vec::new();
        for (name, w) in &s.assigns {
            let v = self.expand(w, false, io, cx)?.concat();
            assigns.push((name.clone(), v));
        }
        let subst = self.subst_status;
        let mut r = match self.open_redirs(&s.redirs, io, cx)? {
            Ok(r) => r,
            Err(msg) => {
                io.err.extend_from_slice(msg.as_bytes());
                return Ok(1);
            }
        };
        if argv.is_empty() {
            for (name, v) in assigns {
                if let Err(msg) = self.set_var(&name, v) {
                    io.err.extend_from_slice(msg.as_bytes());
                    return Ok(1);
                }
            }
            return Ok(subst.unwrap_or(0));
        }
        let input = r.stdin.take();
        let stdin = input.as_deref().unwrap_or(stdin);
        let out = self.dispatch(&argv, stdin, cx)?;
        cx.charge(out.out.len() + out.err.len())?;
        let (code, exit) = (out.code, out.exit);
        self.deliver(&mut r, out.out, out.err, io);
        if exit {
            return Err(Stop::Exit(code));
        }
        Ok(code)
    }

    /// Sets a variable, within the limits.
    fn set_var(&mut self, name: &str, value: String) -> Result<(), String> {
        if value.len() > MAX_VAR {
            return Err(format!("{}: {name}: value too long\n", self.sh_name()));
        }
        if !self.st.vars.contains_key(name) && self.st.vars.len() >= MAX_VARS {
            return Err(format!("{}: {name}: too many variables\n", self.sh_name()));
        }
        self.st.vars.insert(name.to_string(), value);
        Ok(())
    }

    /// The value of a parameter.
    fn param(&self, name: &str) -> String {
        match name {
            "?" => self.st.last.to_string(),
            "$" => (1000 + self.machine.0 as u64).to_string(),
            "#" => "0".into(),
            "0" => self.sh_name().into(),
            "-" => "h".into(),
            "@" | "*" | "!" => String::new(),
            "PWD" => self.st.cwd.to_string(),
            n => self.st.vars.get(n).cloned().unwrap_or_default(),
        }
    }

    /// Expands a word: parameters and substitutions, then (when `split`)
    /// field splitting of the unquoted expansions. No pathname expansion.
    fn expand(
        &mut self,
        w: &Word,
        split: bool,
        io: &mut Io,
        cx: &mut Cx,
    ) -> Result<Vec<String>, Stop> {
        let mut fields = Vec::new();
        let mut cur = String::new();
        // The current field exists even if empty (a quoted part was seen).
        let mut live = false;
        for part in &w.0 {
            let (value, quoted) = match part {
                Part::Lit(t) => {
                    cur.push_str(t);
                    live = true;
                    continue;
                }
                Part::Quoted(t) => {
                    cur.push_str(t);
                    live = true;
                    continue;
                }
                Part::Param { name, quoted } => (self.param(name), *quoted),
                Part::Subst { list, quoted } => (self.substitute(list, io, cx)?, *quoted),
            };
            if cur.len() + value.len() > MAX_ARGS {
                return Err(Stop::Limit("argument list too long"));
            }
            if quoted || !split {
                live |= quoted || !value.is_empty();
                cur.push_str(&value);
                continue;
            }
            let ifs = |c: char| c == ' ' || c == '\t' || c == '\n';
            let pieces: Vec<&str> = value.split(ifs).filter(|p| !p.is_empty()).collect();
            if value.starts_with(ifs) && live {
                fields.push(std::mem::take(&mut cur));
                live = false;
            }
            for (i, p) in pieces.iter().enumerate() {
                if i > 0 {
                    fields.push(std::mem::take(&mut cur));
                }
                cur.push_str(p);
                live = true;
            }
            if value.ends_with(ifs) && live && !pieces.is_empty() {
                fields.push(std::mem::take(&mut cur));
                live = false;
            }
        }
        if live || !cur.is_empty() {
            fields.push(cur);
        }
        Ok(fields)
    }

    /// `$(list)`: its output, trailing newlines removed.
    fn substitute(&mut self, list: &List, io: &mut Io, cx: &mut Cx) -> Result<String, Stop> {
        let mut sub = Io::default();
        let code = self.subshell(cx, |sh, cx| sh.list(list, b"", &mut sub, cx))?;
        self.subst_status = Some(code);
        io.err.append(&mut sub.err);
        let mut s = String::from_utf8_lossy(&sub.out).into_owned();
        while s.ends_with('\n') {
            s.pop();
        }
        Ok(s)
    }

    /// Opens a command's redirections in order. `Err(message)` when one
    /// cannot be (the command does not run; status 1).
    fn open_redirs(
        &mut self,
        redirs: &[Redir],
        io: &mut Io,
        cx: &mut Cx,
    ) -> Result<Result<Redirs, String>, Stop> {
        let mut r = Redirs {
            fds: [Target::Null, Target::Out, Target::Err],
            files: Vec::new(),
            stdin: None,
        };
        for redir in redirs {
            let target = self.expand(&redir.target, false, io, cx)?.concat();
            let fd = redir.fd as usize;
            match redir.op {
                RedirOp::Dup => {
                    if target == "-" {
                        if fd < 3 {
                            r.fds[fd] = Target::Null;
                        }
                        continue;
                    }
                    match target.parse::<usize>() {
                        Ok(n) if n <= 9 => {
                            if (1..3).contains(&fd) && (1..3).contains(&n) {
                                r.fds[fd] = r.fds[n];
                            }
                        }
                        _ => return Ok(Err(format!("{}: {target}: bad number\n", self.sh_name()))),
                    }
                }
                RedirOp::In | RedirOp::ReadWrite => {
                    if redir.op == RedirOp::ReadWrite {
                        if let Err(msg) = self.open_out(&target, false) {
                            return Ok(Err(msg));
                        }
                    }
                    let data = match self.read_input(&target) {
                        Ok(d) => d,
                        Err(msg) => return Ok(Err(msg)),
                    };
                    if fd == 0 {
                        r.stdin = Some(data);
                    }
                }
                RedirOp::Out | RedirOp::Append => {
                    let t = match target.as_str() {
                        "/dev/null" => Target::Null,
                        "/dev/stdout" => r.fds[1],
                        "/dev/stderr" => r.fds[2],
                        _ => match self.open_out(&target, redir.op == RedirOp::Append) {
                            Ok(f) => {
                                r.files.push(f);
                                Target::File(r.files.len() - 1)
                            }
                            Err(msg) => return Ok(Err(msg)),
                        },
                    };
                    if (1..3).contains(&fd) {
                        r.fds[fd] = t;
                    }
                }
            }
        }
        Ok(Ok(r))
    }

    /// Opens `name` for output (created with 0666 less the umask).
    fn open_out(&self, name: &str, append: bool) -> Result<OpenOut, String> {
        let sh = self.sh_name();
        let Some(jail) = &self.jail else {
            return Err(format!("{sh}: can't create {name}: Permission denied\n"));
        };
        let r = (|| {
            let vp = self.resolve(name)?;
            let rel = jail.writable_path(&vp)?;
            let mut o = cap_std::fs::OpenOptions::new();
            o.write(true).create(true);
            cap_std::fs::OpenOptionsExt::mode(&mut o, 0o666 & !self.st.umask);
            let file = jail.dir().open_with(&rel, &o)?;
            let mut len = file.metadata()?.len();
            if !append && len > 0 {
                jail.set_len(&file, &mut len, 0)?;
            }
            Ok::<_, FsError>(OpenOut {
                file,
                len,
                name: name.to_string(),
            })
        })();
        r.map_err(|e| match (e, self.flavor) {
            (FsError::NotFound, Flavor::Esxi) => {
                format!("{sh}: can't create {name}: nonexistent directory\n")
            }
            (e, Flavor::Esxi) => format!("{sh}: can't create {name}: {e}\n"),
            (e, Flavor::Esx) => format!("{sh}: {name}: {e}\n"),
        })
    }

    /// The contents of `name` for `<`.
    fn read_input(&self, name: &str) -> Result<Vec<u8>, String> {
        if name == "/dev/null" {
            return Ok(Vec::new());
        }
        self.read_file(name).map_err(|e| match self.flavor {
            Flavor::Esxi => format!("sh: can't open '{name}': {e}\n"),
            Flavor::Esx => format!("bash: {name}: {e}\n"),
        })
    }

    /// A whole (small) file of the jail.
    fn read_file(&self, name: &str) -> Result<Vec<u8>, FsError> {
        let jail = self.jail.as_ref().ok_or(FsError::Denied)?;
        let vp = self.resolve(name)?;
        let st = jail.stat(&vp, true)?;
        if st.kind == Kind::Dir {
            return Err(FsError::IsDir);
        }
        if st.size > MAX_CAT {
            return Err(FsError::Io(std::io::Error::other("file too large")));
        }
        let rel = jail.share_path(&vp)?;
        Ok(jail.dir().read(&rel)?)
    }

    /// Sends a command's output where its redirections say.
    fn deliver(&mut self, r: &mut Redirs, out: Vec<u8>, err: Vec<u8>, io: &mut Io) {
        for (bytes, fd) in [(out, 1usize), (err, 2usize)] {
            if bytes.is_empty() {
                continue;
            }
            match r.fds[fd] {
                Target::Out => io.out.extend_from_slice(&bytes),
                Target::Err => io.err.extend_from_slice(&bytes),
                Target::Null => {}
                Target::File(i) => {
                    let (Some(jail), Some(f)) = (&self.jail, r.files.get_mut(i)) else {
                        continue;
                    };
                    let at = f.len;
                    if let Err(e) = jail.write_at(&f.file, &mut f.len, at, &bytes) {
                        let _ = writeln!(
                            Text(&mut io.err),
                            "{}: {}: write error: {e}",
                            self.sh_name(),
                            f.name
                        );
                    }
                }
            }
        }
    }

    fn resolve(&self, p: &str) -> Result<VPath, FsError> {
        Ok(VPath::parse(&self.st.cwd, p)?)
    }

    fn not_found(&self, name: &str) -> Out {
        match self.flavor {
            Flavor::Esxi => Out::fail(format!("sh: {name}: not found\n"), 127),
            Flavor::Esx => Out::fail(format!("bash: {name}: command not found\n"), 127),
        }
    }

    /// Runs one command (its words expanded).
    fn dispatch(&mut self, argv: &[String], stdin: &[u8], cx: &mut Cx) -> Result<Out, Stop> {
        let Some((name, rest)) = argv.split_first() else {
            return Ok(Out::default());
        };
        let args: Vec<&str> = rest.iter().map(|s| s.as_str()).collect();
        let cmd = command_name(name);
        let esx = self.flavor == Flavor::Esx;
        Ok(match cmd {
            "exit" | "logout" => {
                let code = match args.first() {
                    None => self.st.last,
                    Some(a) => match a.parse::<i64>() {
                        Ok(n) => (n & 0xff) as u32,
                        Err(_) => {
                            return Ok(Out {
                                err: format!("{}: exit: Illegal number: {a}\n", self.sh_name()).into_bytes(),
                                code: 2,
                                exit: true,
                                ..Default::default()
                            })
                        }
                    },
                };
                Out {
                    code,
                    exit: true,
                    ..Default::default()
                }
            }
            "esxcli" if !esx => Out::from_outcome(self.esxcli(&args)),
            "vim-cmd" | "vmware-vim-cmd" => Out::from_outcome(self.vim_cmd(&args, cx.now)),
            "vmware" => Out::from_outcome(self.vmware(&args)),
            "uname" => Out::from_outcome(self.uname(&args)),
            "hostname" => self.hostname(&args),
            "whoami" => Out::ok(format!("{}\n", self.user)),
            "pwd" => Out::ok(format!("{}\n", self.st.cwd)),
            "cd" => self.cd(&args),
            "umask" => self.umask_cmd(&args),
            "export" => self.export(&args),
            "unset" => {
                for a in &args {
                    self.st.vars.remove(*a);
                }
                Out::default()
            }
            "sh" | "bash" => return self.sh_cmd(&args, stdin, cx),
            "ls" => self.ls(&args, cx.room()),
            "cat" => self.cat(&args, stdin, cx.room()),
            "df" => Out::from_outcome(self.df(&args)),
            "mkdir" => self.mkdir(&args),
            "rmdir" => self.rmdir(&args),
            "rm" => self.rm(&args),
            "mv" => self.mv(&args),
            "cp" => self.cp(&args),
            "chmod" => self.chmod(&args),
            "touch" => self.touch(&args),
            "test" => text::test(&args, |p, f| self.stat_for_test(p, f)),
            "[" => match args.split_last() {
                Some((&"]", inner)) => text::test(inner, |p, f| self.stat_for_test(p, f)),
                _ => Out::fail(format!("{}: [: missing ]\n", self.sh_name()), 2),
            },
            "echo" => text::echo(&args),
            "printf" => text::printf(&args),
            "basename" => text::basename(&args),
            "dirname" => text::dirname(&args),
            "grep" | "head" | "tail" | "wc" | "sort" => self.filter(cmd, &args, stdin),
            "scp" => Out::fail(
                "usage: scp [-346BCpqrTv] [-c cipher] [-F ssh_config] [-i identity_file]\n           [-l limit] [-o ssh_option] [-P port] [-S program] source ... target\n",
                1,
            ),
            "true" | ":" => Out::default(),
            "false" => Out::code(1),
            _ => self.not_found(name),
        })
    }

    /// `sh -c SCRIPT`, `sh FILE`, or `sh` reading its script from stdin.
    fn sh_cmd(&mut self, args: &[&str], stdin: &[u8], cx: &mut Cx) -> Result<Out, Stop> {
        let script = match args {
            ["-c", script, ..] => script.to_string(),
            [] | ["-s", ..] => String::from_utf8_lossy(stdin).into_owned(),
            [file, ..] if !file.starts_with('-') => match self.read_file(file) {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err(e) => {
                    return Ok(Out::fail(
                        format!("{}: can't open '{file}': {e}\n", self.sh_name()),
                        2,
                    ))
                }
            },
            _ => {
                return Ok(Out::fail(
                    format!("{}: {}: invalid option\n", self.sh_name(), args.join(" ")),
                    2,
                ))
            }
        };
        let list = match sh::parse(&script) {
            Ok(l) => l,
            Err(e) => return Ok(Out::fail(format!("{}: {e}\n", self.sh_name()), 2)),
        };
        let mut io = Io::default();
        let code = self.subshell(cx, |sh, cx| {
            sh.st.last = 0;
            sh.list(&list, b"", &mut io, cx)
        })?;
        Ok(Out {
            out: io.out,
            err: io.err,
            code,
            exit: false,
        })
    }

    fn cd(&mut self, args: &[&str]) -> Out {
        let target = match args.first().copied() {
            None => self
                .st
                .vars
                .get("HOME")
                .cloned()
                .unwrap_or_else(|| "/".into()),
            Some("-") => self
                .st
                .vars
                .get("OLDPWD")
                .cloned()
                .unwrap_or_else(|| self.st.cwd.to_string()),
            Some(t) => t.to_string(),
        };
        let fail = || match self.flavor {
            Flavor::Esxi => Out::fail(
                format!("sh: cd: can't cd to {target}: No such file or directory\n"),
                2,
            ),
            Flavor::Esx => Out::fail(
                format!("bash: cd: {target}: No such file or directory\n"),
                1,
            ),
        };
        let Some(jail) = &self.jail else {
            return fail();
        };
        match self
            .resolve(&target)
            .and_then(|p| jail.stat(&p, true).map(|s| (p, s)))
        {
            Ok((p, st)) if st.kind == Kind::Dir => {
                let old = std::mem::replace(&mut self.st.cwd, p);
                self.st.vars.insert("OLDPWD".into(), old.to_string());
                let pwd = self.st.cwd.to_string();
                self.st.vars.insert("PWD".into(), pwd.clone());
                if args.first() == Some(&"-") {
                    return Out::ok(format!("{pwd}\n"));
                }
                Out::default()
            }
            _ => fail(),
        }
    }

    fn umask_cmd(&mut self, args: &[&str]) -> Out {
        match args {
            [] => Out::ok(format!("{:04o}\n", self.st.umask)),
            ["-S"] => {
                let allowed = !self.st.umask & 0o777;
                let mut s = String::new();
                for (i, who) in ['u', 'g', 'o'].iter().enumerate() {
                    let bits = (allowed >> (6 - 3 * i)) & 7;
                    if i > 0 {
                        s.push(',');
                    }
                    s.push(*who);
                    s.push('=');
                    for (b, c) in [(4, 'r'), (2, 'w'), (1, 'x')] {
                        if bits & b != 0 {
                            s.push(c);
                        }
                    }
                }
                Out::ok(format!("{s}\n"))
            }
            [m] if !m.is_empty()
                && m.len() <= 4
                && m.bytes().all(|b| (b'0'..=b'7').contains(&b)) =>
            {
                match u32::from_str_radix(m, 8) {
                    Ok(v) => {
                        self.st.umask = v & 0o777;
                        Out::default()
                    }
                    Err(_) => Out::fail(
                        format!("{}: umask: Illegal number: {m}\n", self.sh_name()),
                        1,
                    ),
                }
            }
            [m, ..] => Out::fail(
                format!("{}: umask: Illegal number: {m}\n", self.sh_name()),
                1,
            ),
        }
    }

    fn export(&mut self, args: &[&str]) -> Out {
        if args.is_empty() || args == ["-p"] {
            let mut s = String::new();
            for (k, v) in &self.st.vars {
                let _ = writeln!(s, "export {k}='{}'", v.replace('\'', "'\\''"));
            }
            return Out::ok(s);
        }
        let mut out = Out::default();
        for a in args {
            let (name, value) = match a.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (*a, None),
            };
            if !sh::is_name(name) {
                let _ = writeln!(
                    Text(&mut out.err),
                    "{}: export: {name}: bad variable name",
                    self.sh_name()
                );
                out.code = 1;
                continue;
            }
            let value = value
                .map(str::to_string)
                .unwrap_or_else(|| self.st.vars.get(name).cloned().unwrap_or_default());
            if let Err(msg) = self.set_var(name, value) {
                out.err.extend_from_slice(msg.as_bytes());
                out.code = 1;
            }
        }
        out
    }

    fn hostname(&self, args: &[&str]) -> Out {
        let m = self.model.machine(self.machine);
        match args {
            [] | ["-s"] => Out::ok(format!("{}\n", m.name)),
            ["-f"] | ["--fqdn"] => Out::ok(format!("{}\n", m.dns_name)),
            ["-d"] | ["--domain"] => Out::ok(format!(
                "{}\n",
                m.dns_name.split_once('.').map(|(_, d)| d).unwrap_or("")
            )),
            ["-i"] => Out::ok(format!("{}\n", m.address)),
            _ => Out::fail("hostname: you must be root to change the host name\n", 1),
        }
    }

    /// The text filters, reading stdin or their file operands.
    fn filter(&self, cmd: &str, args: &[&str], stdin: &[u8]) -> Out {
        let (opts, files) = text::split_filter_args(cmd, args);
        if files.is_empty() {
            return text::filter(cmd, &opts, &String::from_utf8_lossy(stdin));
        }
        let mut input = String::new();
        let mut err = Vec::new();
        for f in &files {
            match self.read_file(f) {
                Ok(b) => input.push_str(&String::from_utf8_lossy(&b)),
                Err(e) => {
                    let _ = writeln!(Text(&mut err), "{cmd}: {f}: {e}");
                }
            }
        }
        let mut o = text::filter(cmd, &opts, &input);
        if !err.is_empty() {
            o.err.splice(0..0, err);
            o.code = o.code.max(if cmd == "grep" { 2 } else { 1 });
        }
        o
    }

    fn esxcli(&self, args: &[&str]) -> Outcome {
        let m = self.model.machine(self.machine);
        match args {
            ["system", "version", "get"] => {
                let update = self.info.version.split('.').nth(2).unwrap_or("0");
                out(format!(
                    "   Product: VMware ESXi\n   Version: {}\n   Build: Releasebuild-{}\n   Update: {update}\n   Patch: 0\n",
                    self.info.version, self.info.build
                ))
            }
            ["system", "hostname", "get"] => {
                let domain = m.dns_name.split_once('.').map(|(_, d)| d).unwrap_or("");
                out(format!(
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
                out(table(&rows))
            }
            [] => out(
                "Usage: esxcli [options] {namespace}+ {cmd} [cmd options]\n\nAvailable Namespaces:\n  network               Operations that pertain to the maintenance of networking on an ESX host.\n  system                VMKernel system properties and commands for configuring properties of the kernel core system.\n".into(),
            ),
            _ => err(
                format!("Error: Unknown command or namespace {}\n", args.join(" ")),
                1,
            ),
        }
    }

    fn vim_cmd(&self, args: &[&str], now: Instant) -> Outcome {
        let m = self.model.machine(self.machine);
        let Some(&op) = args.first() else {
            return out(
                "Commands available under /:\nhbrsvc/       internalsvc/  solo/         vmsvc/\nhostsvc/      proxysvc/     vimsvc/       help\n".into(),
            );
        };
        let vm_of = |arg: Option<&&str>| -> Result<(usize, &fakedc_model::Vm), Outcome> {
            let Some(a) = arg else {
                return Err(err("Insufficient arguments.\n".into(), 1));
            };
            a.parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|i| m.vms.get(i).map(|v| (i + 1, v)))
                // A VM destroyed over the SDK is no longer registered.
                .filter(|(_, v)| self.model.vm_present(v))
                .ok_or_else(|| {
                    err(
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
                    if !self.model.vm_present(vm) {
                        continue;
                    }
                    rows.push([
                        (i + 1).to_string(),
                        vm.name.clone(),
                        format!("[{}] {1}/{1}.vmx", self.info.datastore, vm.name),
                        "otherGuest64".into(),
                        if self.flavor == Flavor::Esx {
                            "vmx-04"
                        } else {
                            "vmx-19"
                        }
                        .into(),
                        String::new(),
                    ]);
                }
                out(table(&rows))
            }
            "vmsvc/power.getstate" => match vm_of(args.get(1)) {
                Err(o) => o,
                Ok((_, vm)) => {
                    let on = self.model.chassis(vm.chassis, now).power.power_on();
                    out(format!(
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
                            Ok(()) => out(if verb.is_empty() {
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
                                err(o, 1)
                            }
                        }
                    }
                }
            }
            other => err(format!("Unknown command: '{other}'\n"), 1),
        }
    }

    fn vmware(&self, args: &[&str]) -> Outcome {
        let (v, l) = match self.flavor {
            Flavor::Esxi => {
                let mut parts = self.info.version.split('.');
                let (major, minor, update) = (
                    parts.next().unwrap_or("7"),
                    parts.next().unwrap_or("0"),
                    parts.next().unwrap_or("0"),
                );
                (
                    format!(
                        "VMware ESXi {} build-{}",
                        self.info.version, self.info.build
                    ),
                    format!("VMware ESXi {major}.{minor} Update {update}"),
                )
            }
            Flavor::Esx => (
                format!(
                    "VMware ESX Server {} build-{}",
                    self.info.version, self.info.build
                ),
                format!("VMware ESX Server {}", self.info.version),
            ),
        };
        match args {
            ["-v"] => out(format!("{v}\n")),
            ["-l"] => out(format!("{l}\n")),
            ["-vl"] | ["-lv"] | ["-v", "-l"] | ["-l", "-v"] => out(format!("{v}\n{l}\n")),
            _ => err(
                "Usage: vmware [-v] [-l]\n  -v  print version\n  -l  print release level\n".into(),
                1,
            ),
        }
    }

    fn uname(&self, args: &[&str]) -> Outcome {
        let host = self.host_name().to_string();
        // s n r v m p i o
        let fields: [String; 8] = match self.flavor {
            Flavor::Esxi => [
                "VMkernel".into(),
                host,
                self.info.version.clone(),
                format!(
                    "#1 SMP Release build-{} Jun 15 2023 06:47:56",
                    self.info.build
                ),
                "x86_64".into(),
                "x86_64".into(),
                "x86_64".into(),
                "ESXi".into(),
            ],
            // ESX 3.x's service console: Red Hat Enterprise Linux 3 and its
            // 2.4 kernel, built for the console ("vmnix"), 32-bit.
            Flavor::Esx => [
                "Linux".into(),
                host,
                "2.4.21-57.ELvmnix".into(),
                "#1 Tue Aug 12 17:28:03 PDT 2008".into(),
                "i686".into(),
                "i686".into(),
                "i386".into(),
                "GNU/Linux".into(),
            ],
        };
        let mut want = Vec::new();
        for a in args {
            let Some(flags) = a.strip_prefix('-') else {
                return err(format!("uname: invalid argument '{a}'\n"), 1);
            };
            for f in flags.chars() {
                match "snrvmpio".find(f) {
                    Some(i) => want.push(i),
                    None if f == 'a' => want.extend(0..8),
                    None => return err(format!("uname: invalid option -- '{f}'\n"), 1),
                }
            }
        }
        if want.is_empty() {
            want.push(0);
        }
        want.sort_unstable();
        want.dedup();
        let out_fields: Vec<&str> = want.iter().map(|&i| fields[i].as_str()).collect();
        out(format!("{}\n", out_fields.join(" ")))
    }

    /// `df [-h]`: the datastore as ESXi lists it, sized by the quota (or
    /// the share's file system), the same figures SFTP's statvfs gives.
    fn df(&self, args: &[&str]) -> Outcome {
        let human = match args {
            [] => false,
            ["-h"] => true,
            _ => return err(format!("df: unrecognized option '{}'\n", args.join(" ")), 1),
        };
        let Some(jail) = &self.jail else {
            return err("df: Permission denied\n".into(), 1);
        };
        let (size, free) = match jail.space() {
            Ok(s) => s,
            Err(e) => return err(format!("df: {e}\n"), 1),
        };
        let used = size.saturating_sub(free);
        let pct = (used.saturating_mul(100) + size.saturating_sub(1)) / size.max(1);
        let mount = jail.layout().mount().to_string();
        out(if human {
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
}

/// A command's name without one of the bin directories in front.
fn command_name(name: &str) -> &str {
    for d in BIN_DIRS {
        if let Some(rest) = name.strip_prefix(d) {
            if !rest.is_empty() && !rest.contains('/') {
                return rest;
            }
        }
    }
    name
}

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

/// `write!` into a byte buffer.
struct Text<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Text<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
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

/// Splits a command line into words: whitespace-separated, with '...' and
/// "..." quoting and backslash escapes, as sh does for simple commands (the
/// SMASH CLP's tokenizer).
pub fn words(line: &str) -> Result<Vec<String>, &'static str> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
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
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
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
        out.push(cur);
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
mod tests;
