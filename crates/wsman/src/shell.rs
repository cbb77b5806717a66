//! The WinRM remote shell (`.../windows/shell/cmd`): shells and commands as
//! plain state with time passed in, plus the command table (scenario rules
//! over built-ins that answer like Windows' cmd.exe).

use crate::fault::Fault;
use crate::message::new_uuid;
use crate::powershell;
use fakedc_model::MachineId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const SHELL_URI: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd";
pub const STATE_DONE: &str =
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done";
pub const STATE_RUNNING: &str =
    "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running";

/// One scripted command from `[[machine.options.winrm.command]]`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandRule {
    /// Matched against the whole command line (`command args`),
    /// case-insensitively; `*` matches any run of characters.
    pub pattern: String,
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
    #[serde(default)]
    pub exit_code: i32,
    /// How long the command "runs" before its output is ready.
    #[serde(default)]
    pub delay_ms: u64,
}

/// What a command produces.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_code: i32,
    pub delay: Duration,
}

/// Facts the built-in commands print.
#[derive(Debug, Clone, Default)]
pub struct HostFacts {
    pub hostname: String,
    pub domain: String,
    pub user: String,
    pub ip: String,
    pub vendor: String,
    pub model: String,
    pub serial: String,
    pub mac: String,
}

/// cmd.exe's limit on a command line, in characters.
pub const MAX_COMMAND_LINE: usize = 8191;

/// Runs a command line: scenario rules first, then the built-ins.
///
/// A `powershell` line is matched as `powershell <script>` with the script
/// decoded from `-EncodedCommand` (what pywinrm's `run_ps` sends), so a
/// scenario names the script text, not its base64; a matching rule's stderr
/// is then written as PowerShell's CLIXML error stream, as powershell.exe
/// does when its stderr is not a console.
pub fn run(rules: &[CommandRule], facts: &HostFacts, command: &str, args: &str) -> Output {
    run_in(None, rules, facts, command, args)
}

/// Runs a `powershell.exe` command line (see [`powershell::run`]).
pub type PsRunner<'a> = &'a dyn Fn(&powershell::Invocation) -> Output;

/// [`run`], with `ps` to run `powershell` command lines (the cmd shell of
/// a WinRM session passes one; the evaluator's own native-program bridge
/// does not, so powershell.exe nested in PowerShell answers
/// NotImplemented).
pub fn run_in(
    runner: Option<PsRunner<'_>>,
    rules: &[CommandRule],
    facts: &HostFacts,
    command: &str,
    args: &str,
) -> Output {
    let line = if args.trim().is_empty() {
        command.trim().to_string()
    } else {
        format!("{} {}", command.trim(), args.trim())
    };
    if line.chars().count() > MAX_COMMAND_LINE {
        // What pywinrm's run_ps of a script over ~3,000 characters meets on
        // a real host, whatever the command: tools must work around it.
        return Output {
            stderr: b"The command line is too long.\r\n".to_vec(),
            exit_code: 1,
            ..Default::default()
        };
    }
    let ps = powershell::parse_invocation(&line);
    let matched = match &ps {
        Some(powershell::Invocation::Script(script)) => format!("powershell {}", script.trim()),
        _ => line.clone(),
    };
    for r in rules {
        if glob(
            &r.pattern.to_ascii_lowercase(),
            &matched.to_ascii_lowercase(),
        ) {
            let stderr = if ps.is_some() && !r.stderr.is_empty() {
                powershell::clixml_errors(&[r.stderr.trim_end().to_string()]).into_bytes()
            } else {
                crlf(&r.stderr).into_bytes()
            };
            return Output {
                stdout: crlf(&r.stdout).into_bytes(),
                stderr,
                exit_code: r.exit_code,
                delay: Duration::from_millis(r.delay_ms.min(3_600_000)),
            };
        }
    }
    builtin(runner, facts, &line, 0)
}

/// `whoami`: `host\user` in lower case, as a local account prints.
pub fn whoami(f: &HostFacts) -> String {
    format!(
        "{}\\{}\r\n",
        f.hostname.to_ascii_lowercase(),
        f.user.to_ascii_lowercase()
    )
}

/// The process environment a WinRM shell gets on Windows Server 2019, with
/// this host's names: what `set`, `%VAR%` and `$env:VAR` read.
pub fn environment(f: &HostFacts) -> Vec<(&'static str, String)> {
    let user = f.user.clone();
    let profile = format!("C:\\Users\\{user}");
    // The shell's account is a local one (see `whoami`), so its domain is
    // the computer and there is no USERDNSDOMAIN.
    let computer = f.hostname.to_ascii_uppercase();
    let temp = format!("{profile}\\AppData\\Local\\Temp");
    vec![
        ("ALLUSERSPROFILE", "C:\\ProgramData".to_string()),
        ("APPDATA", format!("{profile}\\AppData\\Roaming")),
        ("CommonProgramFiles", "C:\\Program Files\\Common Files".into()),
        ("COMPUTERNAME", computer.clone()),
        ("ComSpec", "C:\\Windows\\system32\\cmd.exe".into()),
        ("HOMEDRIVE", "C:".into()),
        ("HOMEPATH", format!("\\Users\\{user}")),
        ("LOCALAPPDATA", format!("{profile}\\AppData\\Local")),
        ("NUMBER_OF_PROCESSORS", "2".into()),
        ("OS", "Windows_NT".into()),
        ("Path", "C:\\Windows\\system32;C:\\Windows;C:\\Windows\\System32\\Wbem;C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\".into()),
        ("PATHEXT", ".COM;.EXE;.BAT;.CMD;.VBS;.VBE;.JS;.JSE;.WSF;.WSH;.MSC".into()),
        ("PROCESSOR_ARCHITECTURE", "AMD64".into()),
        ("ProgramData", "C:\\ProgramData".into()),
        ("ProgramFiles", "C:\\Program Files".into()),
        ("ProgramFiles(x86)", "C:\\Program Files (x86)".into()),
        ("PROMPT", "$P$G".into()),
        ("PSModulePath", format!("{profile}\\Documents\\WindowsPowerShell\\Modules;C:\\Program Files\\WindowsPowerShell\\Modules;C:\\Windows\\system32\\WindowsPowerShell\\v1.0\\Modules")),
        ("PUBLIC", "C:\\Users\\Public".into()),
        ("SystemDrive", "C:".into()),
        ("SystemRoot", "C:\\Windows".into()),
        ("TEMP", temp.clone()),
        ("TMP", temp),
        ("USERDOMAIN", computer.clone()),
        ("USERDOMAIN_ROAMINGPROFILE", computer),
        ("USERNAME", user),
        ("USERPROFILE", profile),
        ("windir", "C:\\Windows".into()),
    ]
}

fn crlf(s: &str) -> String {
    s.replace("\r\n", "\n").replace('\n', "\r\n")
}

/// `*` glob without backtracking blow-up (greedy with one restart point).
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

fn ok(s: String) -> Output {
    Output {
        stdout: s.into_bytes(),
        ..Default::default()
    }
}

/// Splits off a trailing `> file` / `>> file` redirection (outside
/// quotes): cmd.exe then prints nothing (tools such as winrmcp upload
/// files with `echo <base64> >> "%TEMP%\\x.tmp"`).
fn split_redirect(line: &str) -> (&str, bool) {
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '>' if !quoted => return (line[..i].trim_end(), true),
            _ => {}
        }
    }
    (line, false)
}

fn builtin(ps: Option<PsRunner<'_>>, f: &HostFacts, line: &str, depth: u8) -> Output {
    if let Some(inv) = powershell::parse_invocation(line) {
        return match ps {
            Some(run) => run(&inv),
            None => powershell::nested(&inv),
        };
    }
    let expanded;
    let line = if line.contains('%') {
        expanded = fakedc_pwsh::dotnet::expand_percent(line, &environment(f));
        expanded.as_str()
    } else {
        line
    };
    let (line, redirected) = split_redirect(line);
    if redirected {
        let mut out = builtin(ps, f, line, depth);
        out.stdout.clear();
        return out;
    }
    let (cmd, rest) = match line.split_once(char::is_whitespace) {
        Some((c, r)) => (c, r.trim()),
        None => (line, ""),
    };
    let lc = cmd.to_ascii_lowercase();
    let lc = lc.strip_suffix(".exe").unwrap_or(&lc);
    match lc {
        "hostname" => ok(format!("{}\r\n", f.hostname)),
        "whoami" => ok(whoami(f)),
        "cd" | "chdir" if rest.is_empty() => ok(format!("C:\\Users\\{}\r\n", f.user)),
        "set" => set(&environment(f), rest),
        "date" | "time" if rest.eq_ignore_ascii_case("/t") => ok(date_time_t(lc == "date")),
        "ver" => ok("\r\nMicrosoft Windows [Version 10.0.17763.5458]\r\n".into()),
        "echo" | "echo." if rest.is_empty() => ok(if lc == "echo." {
            "\r\n".into()
        } else {
            "ECHO is on.\r\n".into()
        }),
        "echo" => ok(format!("{rest}\r\n")),
        "exit" => Output {
            exit_code: rest
                .split_whitespace()
                .find(|w| !w.eq_ignore_ascii_case("/b"))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
            ..Default::default()
        },
        "ipconfig" => ok(ipconfig(f, rest.eq_ignore_ascii_case("/all"))),
        "systeminfo" => ok(systeminfo(f)),
        "cmd" if depth < 4 => {
            let r = rest
                .strip_prefix("/c")
                .or_else(|| rest.strip_prefix("/C"))
                .unwrap_or(rest)
                .trim();
            builtin(ps, f, r, depth + 1)
        }
        "" => Output::default(),
        _ => Output {
            stderr: format!(
                "'{cmd}' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"
            )
            .into_bytes(),
            exit_code: 1,
            ..Default::default()
        },
    }
}

/// `set` and `set PREFIX`: the variables sorted case-insensitively, as
/// cmd.exe lists them.
fn set(env: &[(&'static str, String)], prefix: &str) -> Output {
    let mut vars: Vec<&(&str, String)> = env
        .iter()
        .filter(|(k, _)| k.len() >= prefix.len() && k[..prefix.len()].eq_ignore_ascii_case(prefix))
        .collect();
    if vars.is_empty() {
        return Output {
            stderr: format!("Environment variable {prefix} not defined\r\n").into_bytes(),
            exit_code: 1,
            ..Default::default()
        };
    }
    vars.sort_by_key(|(k, _)| k.to_ascii_lowercase());
    ok(vars.iter().map(|(k, v)| format!("{k}={v}\r\n")).collect())
}

/// `date /t` (`Thu 11/26/2026 `, with cmd's trailing space) and `time /t`
/// (`07:25 AM`) in the en-US format, in UTC.
fn date_time_t(date: bool) -> String {
    let now = time::OffsetDateTime::now_utc();
    if date {
        let day = now.weekday().to_string();
        format!(
            "{} {:02}/{:02}/{} \r\n",
            &day[..3],
            u8::from(now.month()),
            now.day(),
            now.year()
        )
    } else {
        let (h, ampm) = twelve_hour(now.hour());
        format!("{h:02}:{:02} {ampm}\r\n", now.minute())
    }
}

/// 0–23 → (1–12, "AM"/"PM"), the en-US clock Windows prints.
pub(crate) fn twelve_hour(h: u8) -> (u8, &'static str) {
    match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    }
}

fn ipconfig(f: &HostFacts, all: bool) -> String {
    if !all {
        return format!(
            "\r\nWindows IP Configuration\r\n\r\n\r\nEthernet adapter Ethernet:\r\n\r\n   Connection-specific DNS Suffix  . : {d}\r\n   IPv4 Address. . . . . . . . . . . : {ip}\r\n   Subnet Mask . . . . . . . . . . . : 255.0.0.0\r\n   Default Gateway . . . . . . . . . : \r\n",
            d = f.domain,
            ip = f.ip
        );
    }
    format!(
        concat!(
            "\r\nWindows IP Configuration\r\n\r\n",
            "   Host Name . . . . . . . . . . . . : {h}\r\n",
            "   Primary Dns Suffix  . . . . . . . : {d}\r\n",
            "   Node Type . . . . . . . . . . . . : Hybrid\r\n",
            "   IP Routing Enabled. . . . . . . . : No\r\n",
            "   WINS Proxy Enabled. . . . . . . . : No\r\n",
            "   DNS Suffix Search List. . . . . . : {d}\r\n\r\n",
            "Ethernet adapter Ethernet:\r\n\r\n",
            "   Connection-specific DNS Suffix  . : {d}\r\n",
            "   Description . . . . . . . . . . . : Microsoft Hyper-V Network Adapter\r\n",
            "   Physical Address. . . . . . . . . : {mac}\r\n",
            "   DHCP Enabled. . . . . . . . . . . : No\r\n",
            "   Autoconfiguration Enabled . . . . : Yes\r\n",
            "   IPv4 Address. . . . . . . . . . . : {ip}(Preferred) \r\n",
            "   Subnet Mask . . . . . . . . . . . : 255.0.0.0\r\n",
            "   Default Gateway . . . . . . . . . : \r\n",
            "   DNS Servers . . . . . . . . . . . : 127.0.0.1\r\n",
            "   NetBIOS over Tcpip. . . . . . . . : Enabled\r\n"
        ),
        h = f.hostname,
        d = f.domain,
        mac = f.mac,
        ip = f.ip
    )
}

fn systeminfo(f: &HostFacts) -> String {
    format!(
        concat!(
            "\r\nHost Name:                 {h}\r\n",
            "OS Name:                   Microsoft Windows Server 2019 Datacenter\r\n",
            "OS Version:                10.0.17763 N/A Build 17763\r\n",
            "OS Manufacturer:           Microsoft Corporation\r\n",
            "OS Configuration:          Member Server\r\n",
            "OS Build Type:             Multiprocessor Free\r\n",
            "Registered Owner:          Windows User\r\n",
            "Product ID:                00430-00000-00000-AA000\r\n",
            "System Manufacturer:       {v}\r\n",
            "System Model:              {m}\r\n",
            "System Type:               x64-based PC\r\n",
            "BIOS Version:              {v} {s}\r\n",
            "Windows Directory:         C:\\Windows\r\n",
            "System Directory:          C:\\Windows\\system32\r\n",
            "Domain:                    {d}\r\n",
            "Network Card(s):           1 NIC(s) Installed.\r\n",
            "                           [01]: Microsoft Hyper-V Network Adapter\r\n",
            "                                 IP address(es)\r\n",
            "                                 [01]: {ip}\r\n"
        ),
        h = f.hostname.to_ascii_uppercase(),
        v = f.vendor,
        m = f.model,
        s = f.serial,
        d = f.domain,
        ip = f.ip
    )
}

/// Shell limits (Windows' WinRS defaults, adjustable per machine).
#[derive(Debug, Clone, Copy)]
pub struct ShellLimits {
    pub max_shells_per_user: usize,
    pub idle_timeout: Duration,
    pub max_commands_per_shell: usize,
    /// Largest stdin accepted per command.
    pub max_stdin: usize,
}

impl Default for ShellLimits {
    fn default() -> Self {
        ShellLimits {
            max_shells_per_user: 30,
            idle_timeout: Duration::from_secs(7200),
            max_commands_per_shell: 1000,
            max_stdin: 1 << 20,
        }
    }
}

struct Cmd {
    ready_at: Instant,
    out: Output,
    /// Bytes of stdout/stderr already delivered.
    sent_out: usize,
    sent_err: usize,
    stdin: usize,
}

struct Shell {
    machine: MachineId,
    owner: String,
    last_used: Instant,
    commands: HashMap<String, Cmd>,
}

/// What a Receive gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// Output chunks; `done` carries the exit code when the command has
    /// finished and everything was delivered.
    Output {
        stdout: Vec<u8>,
        stderr: Vec<u8>,
        done: Option<i32>,
    },
    /// Nothing yet: ask again at this instant.
    Pending(Instant),
}

/// Every open shell of one WinRM service (all machines).
#[derive(Default)]
pub struct Shells {
    inner: Mutex<HashMap<String, Shell>>,
}

impl Shells {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Shell>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn expire(map: &mut HashMap<String, Shell>, now: Instant, limits: &ShellLimits) {
        map.retain(|_, s| now.saturating_duration_since(s.last_used) < limits.idle_timeout);
    }

    pub fn create(
        &self,
        machine: MachineId,
        owner: &str,
        now: Instant,
        limits: &ShellLimits,
    ) -> Result<String, Fault> {
        let mut map = self.lock();
        Self::expire(&mut map, now, limits);
        let mine = map
            .values()
            .filter(|s| s.machine == machine && s.owner.eq_ignore_ascii_case(owner))
            .count();
        if mine >= limits.max_shells_per_user {
            return Err(Fault::quota_limit(format!(
                "The WS-Management service cannot process the request. This user is allowed a maximum number of {} concurrent shells, which has been exceeded. Close existing shells or raise the quota for this user.",
                limits.max_shells_per_user
            )));
        }
        let id = new_uuid();
        map.insert(
            id.clone(),
            Shell {
                machine,
                owner: owner.to_string(),
                last_used: now,
                commands: HashMap::new(),
            },
        );
        Ok(id)
    }

    fn with_shell<R>(
        &self,
        machine: MachineId,
        owner: &str,
        id: &str,
        now: Instant,
        limits: &ShellLimits,
        f: impl FnOnce(&mut Shell) -> Result<R, Fault>,
    ) -> Result<R, Fault> {
        let mut map = self.lock();
        Self::expire(&mut map, now, limits);
        match map.get_mut(id) {
            Some(s) if s.machine == machine && s.owner.eq_ignore_ascii_case(owner) => {
                s.last_used = now;
                f(s)
            }
            _ => Err(Fault::shell_not_found(id)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn command(
        &self,
        machine: MachineId,
        owner: &str,
        shell: &str,
        out: Output,
        now: Instant,
        limits: &ShellLimits,
    ) -> Result<String, Fault> {
        self.with_shell(machine, owner, shell, now, limits, |s| {
            if s.commands.len() >= limits.max_commands_per_shell {
                return Err(Fault::quota_limit("too many commands in this shell"));
            }
            let id = new_uuid();
            s.commands.insert(
                id.clone(),
                Cmd {
                    ready_at: now + out.delay,
                    out,
                    sent_out: 0,
                    sent_err: 0,
                    stdin: 0,
                },
            );
            Ok(id)
        })
    }

    /// Takes up to `budget` bytes of output (raw, before base64).
    #[allow(clippy::too_many_arguments)]
    pub fn receive(
        &self,
        machine: MachineId,
        owner: &str,
        shell: &str,
        command: &str,
        budget: usize,
        now: Instant,
        limits: &ShellLimits,
    ) -> Result<Received, Fault> {
        self.with_shell(machine, owner, shell, now, limits, |s| {
            let c = s.commands.get_mut(command).ok_or_else(|| {
                Fault::invalid_selectors(format!("The command {command} was not found."))
            })?;
            if now < c.ready_at {
                return Ok(Received::Pending(c.ready_at));
            }
            let budget = budget.max(1);
            let out_left = c.out.stdout.len() - c.sent_out;
            let take_out = out_left.min(budget);
            let stdout = c.out.stdout[c.sent_out..c.sent_out + take_out].to_vec();
            c.sent_out += take_out;
            let err_left = c.out.stderr.len() - c.sent_err;
            let take_err = err_left.min(budget - take_out);
            let stderr = c.out.stderr[c.sent_err..c.sent_err + take_err].to_vec();
            c.sent_err += take_err;
            let done = (c.sent_out == c.out.stdout.len() && c.sent_err == c.out.stderr.len())
                .then_some(c.out.exit_code);
            Ok(Received::Output {
                stdout,
                stderr,
                done,
            })
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub fn send(
        &self,
        machine: MachineId,
        owner: &str,
        shell: &str,
        command: &str,
        bytes: usize,
        now: Instant,
        limits: &ShellLimits,
    ) -> Result<(), Fault> {
        self.with_shell(machine, owner, shell, now, limits, |s| {
            let c = s.commands.get_mut(command).ok_or_else(|| {
                Fault::invalid_selectors(format!("The command {command} was not found."))
            })?;
            c.stdin = c.stdin.saturating_add(bytes);
            if c.stdin > limits.max_stdin {
                return Err(Fault::encoding_limit("too much stdin for one command"));
            }
            Ok(())
        })
    }

    /// Terminate (or any other signal): the command goes away.
    pub fn signal(
        &self,
        machine: MachineId,
        owner: &str,
        shell: &str,
        command: &str,
        now: Instant,
        limits: &ShellLimits,
    ) -> Result<(), Fault> {
        self.with_shell(machine, owner, shell, now, limits, |s| {
            s.commands.remove(command);
            Ok(())
        })
    }

    pub fn delete(
        &self,
        machine: MachineId,
        owner: &str,
        shell: &str,
        now: Instant,
        limits: &ShellLimits,
    ) -> Result<(), Fault> {
        self.with_shell(machine, owner, shell, now, limits, |_| Ok(()))?;
        self.lock().remove(shell);
        Ok(())
    }

    pub fn count(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> HostFacts {
        HostFacts {
            hostname: "hv01".into(),
            domain: "contoso.test".into(),
            user: "Administrator".into(),
            ip: "127.0.0.5".into(),
            ..Default::default()
        }
    }

    #[test]
    fn builtins_answer_like_cmd() {
        let f = facts();
        assert_eq!(run(&[], &f, "hostname", "").stdout, b"hv01\r\n");
        assert_eq!(
            run(&[], &f, "whoami", "").stdout,
            b"hv01\\administrator\r\n"
        );
        assert_eq!(run(&[], &f, "echo", "hi there").stdout, b"hi there\r\n");
        assert_eq!(run(&[], &f, "exit", "/b 7").exit_code, 7);
        assert_eq!(run(&[], &f, "cmd", "/c exit 3").exit_code, 3);
        let up = run(&[], &f, "echo aGVsbG8K >> \"%TEMP%\\x.tmp\"", "");
        assert_eq!((up.stdout.len(), up.exit_code), (0, 0));
        assert_eq!(run(&[], &f, "echo", "\"a > b\"").stdout, b"\"a > b\"\r\n");
        let o = run(&[], &f, "frobnicate", "x");
        assert_eq!(o.exit_code, 1);
        assert!(String::from_utf8_lossy(&o.stderr)
            .starts_with("'frobnicate' is not recognized as an internal or external command,\r\n"));
        assert_eq!(
            run(&[], &f, "echo", "%computername% on %OS% %nope%").stdout,
            b"HV01 on Windows_NT %nope%\r\n"
        );
        assert_eq!(
            run(&[], &f, "cd", "").stdout,
            b"C:\\Users\\Administrator\r\n"
        );
        // Without a PowerShell runner (the evaluator's own native bridge),
        // powershell.exe is refused; the engine's cmd shell passes one
        // (powershell::tests).
        assert_eq!(
            run(
                &[],
                &f,
                "cmd",
                "/c powershell -Command \"hostname; exit 5\""
            )
            .exit_code,
            1
        );
        let d = String::from_utf8(run(&[], &f, "date", "/t").stdout).unwrap();
        assert!(
            d.len() == 17 && d.ends_with(" \r\n") && d.as_bytes()[6] == b'/',
            "{d:?}"
        );
        let long = run(&[], &f, "echo", &"x".repeat(MAX_COMMAND_LINE - 5));
        assert_eq!(long.exit_code, 0, "8191 characters are fine");
        let long = run(&[], &f, "echo", &"x".repeat(MAX_COMMAND_LINE - 4));
        assert_eq!(long.stderr, b"The command line is too long.\r\n");
        assert_eq!(long.exit_code, 1);
        let ip = String::from_utf8(run(&[], &f, "ipconfig", "/all").stdout).unwrap();
        assert!(ip.contains("IPv4 Address. . . . . . . . . . . : 127.0.0.5(Preferred)"));
    }

    #[test]
    fn rules_override_builtins() {
        let rules = vec![CommandRule {
            pattern: "Get-Thing *".into(),
            stdout: "a\nb\n".into(),
            stderr: "warn\n".into(),
            exit_code: 4,
            delay_ms: 0,
        }];
        let o = run(&rules, &facts(), "get-thing", "--all");
        assert_eq!(o.stdout, b"a\r\nb\r\n");
        assert_eq!(o.exit_code, 4);
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b", "aXXc"));
        assert!(glob("*", ""));
    }

    #[test]
    fn shell_lifecycle_limits_and_chunks() {
        let s = Shells::default();
        let m = MachineId(0);
        let t0 = fakedc_model::Clock::new().now();
        let lim = ShellLimits {
            max_shells_per_user: 1,
            idle_timeout: Duration::from_secs(10),
            ..Default::default()
        };
        let id = s.create(m, "u", t0, &lim).unwrap();
        assert!(s.create(m, "u", t0, &lim).is_err(), "quota");
        let out = Output {
            stdout: b"0123456789".to_vec(),
            exit_code: 2,
            delay: Duration::from_secs(1),
            ..Default::default()
        };
        let c = s.command(m, "u", &id, out, t0, &lim).unwrap();
        assert_eq!(
            s.receive(m, "u", &id, &c, 4, t0, &lim).unwrap(),
            Received::Pending(t0 + Duration::from_secs(1))
        );
        let t1 = t0 + Duration::from_secs(1);
        let r = s.receive(m, "u", &id, &c, 4, t1, &lim).unwrap();
        assert!(matches!(r, Received::Output { ref stdout, done: None, .. } if stdout == b"0123"));
        let _ = s.receive(m, "u", &id, &c, 4, t1, &lim).unwrap();
        let r = s.receive(m, "u", &id, &c, 4, t1, &lim).unwrap();
        assert!(matches!(r, Received::Output { done: Some(2), .. }));
        assert!(s.receive(m, "other", &id, &c, 4, t1, &lim).is_err());
        // Idle expiry frees the quota.
        let t2 = t1 + Duration::from_secs(11);
        assert!(s.create(m, "u", t2, &lim).is_ok());
        assert!(s.delete(m, "u", &id, t2, &lim).is_err());
    }
}
