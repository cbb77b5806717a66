//! Windows' Emergency Management Services on a Windows host's serial port:
//! the Special Administration Console (SAC), as Windows Server 2019 shows
//! it over Serial over LAN.
//!
//! The texts are SAC's own messages (its message table, as the `?` list,
//! `ch -?`, `id` and the channel events print them; transcripts of real
//! consoles agree): the banner when the SAC driver starts during boot,
//! `EVENT: The CMD command is now available.` once the OS is up, the `SAC>`
//! prompt, and the commands of the `?` list. What a command would change in
//! the host's power goes out as a [`PowerAction`] for the service to apply
//! to the shared chassis; everything else here is the OS's own bookkeeping
//! (its Cmd channels, its process list, its clock offset), which the model
//! does not hold. Sans-IO: time is passed in.
//!
//! Not modelled: logging in to a Cmd channel (switching to one shows SAC's
//! channel header; the channel's own screen stays blank), `d` (the kernel
//! log is empty), setting an IP address (answered as a failure), paging.

use fakedc_model::timefmt::{civil_from_days, days_from_civil};
use fakedc_model::{PowerAction, Role};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The Windows host a SAC runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SacHost {
    /// The host's name in the scenario (Windows shows it upper-case).
    pub name: String,
    /// The SMBIOS system UUID in its canonical text form.
    pub guid: String,
    pub address: IpAddr,
    pub role: Role,
}

/// Cmd channels beside the SAC channel (SAC's channel manager holds ten).
pub const MAX_CMD_CHANNELS: usize = 9;
/// Longest command line kept; further keystrokes are dropped.
pub const MAX_LINE: usize = 256;

const PROMPT: &str = "SAC>";

const INITIALIZED: &str = "\r\nComputer is booting, SAC started and initialized.\r\n\r\n\
Use the \"ch -?\" command for information about using channels.\r\n\
Use the \"?\" command for general help.\r\n\r\n";
const CMD_REGISTERED: &str = "EVENT: The CMD command is now available.\r\n";
const SHUTTING_DOWN: &str =
    "The SAC will become unavailable soon.  The computer is shutting down.\r\n\r\n";
const UNKNOWN_COMMAND: &str = "Unrecognized command.  Try the 'help' command for more details.\r\n";
const INVALID_PARAMETER: &str =
    "A parameter was incorrect or missing.  Try the 'help' command for more details.\r\n";

/// `?` and `help`.
const HELP: &str = "\
ch                   Channel management commands.  Use ch -? for more help.\r\n\
cmd                  Create a Command Prompt channel.\r\n\
d                    Dump the current kernel log.\r\n\
f                    Toggle detailed or abbreviated tlist info.\r\n\
? or help            Display this list.\r\n\
i                    List all IP network numbers and their IP addresses.\r\n\
i <#> <ip> <subnet> <gateway> Set IPv4 addr., subnet and gateway.\r\n\
id                   Display the computer identification information.\r\n\
k <pid>              Kill the given process.\r\n\
l <pid>              Lower the priority of a process to the lowest possible.\r\n\
lock                 Lock access to Command Prompt channels.\r\n\
m <pid> <MB-allow>   Limit the memory usage of a process to <MB-allow>.\r\n\
p                    Toggle paging the display.\r\n\
r <pid>              Raise the priority of a process by one.\r\n\
s                    Display the current time and date (24 hour clock used).\r\n\
s mm/dd/yyyy hh:mm   Set the current time and date (24 hour clock used).\r\n\
t                    Tlist.\r\n\
restart              Restart the system immediately.\r\n\
shutdown             Shutdown the system immediately.\r\n\
crashdump            Crash the system. You must have crash dump enabled.\r\n";

/// `ch -?`.
const CH_HELP: &str = "\
Channel management commands:\r\n\
\r\n\
ch                   List all channels.\r\n\
\r\n\
Status Legend: (AB)\r\n\
A: Channel operational status\r\n\
\x20   'A' = Channel is active.\r\n\
\x20   'I' = Channel is inactive.\r\n\
B: Channel Type\r\n\
\x20   'V' = VT-UTF8 emulation.\r\n\
\x20   'R' = Raw - no emulation.\r\n\
\r\n\
ch -si <#>           Switch to a channel by its number.\r\n\
ch -sn <name>        Switch to a channel by its name.\r\n\
ch -ci <#>           Close a channel by its number.\r\n\
ch -cn <name>        Close a channel by its name.\r\n\
\r\n\
Press <esc><tab> to select a channel.\r\n\
Press <esc><tab>0 to return to the SAC channel.\r\n";

const CMD_NOT_REGISTERED: &str = "\
Error: Unable to launch a Command Prompt.  The service responsible for launching\r\n\
\x20      Command Prompt channels has not yet registered.  This may be because the\r\n\
\x20      service is not yet started, is disabled by the administrator, is\r\n\
\x20      malfunctioning or is unresponsive.\r\n";

/// The application type every Cmd channel reports (sacsess.exe's).
const CMD_APPLICATION_TYPE: &str = "63d02271-8aa4-11d5-bccf-00b0d014a2d0";

/// Windows Server 2019's identity, as the WinRM side of fakedc reports it.
const OS_VERSION: &str = "10.0";
const OS_BUILD: &str = "17763";
const OS_PRODUCT: &str = "Windows Server 2019 Datacenter";
/// Physical memory in KB (Win32_OperatingSystem.TotalVisibleMemorySize).
const MEMORY_KB: u64 = 16_776_692;

/// One Cmd channel.
#[derive(Debug, Clone)]
struct Channel {
    name: String,
    guid: String,
}

/// A process in the task list.
#[derive(Debug, Clone)]
struct Process {
    pid: u32,
    name: &'static str,
    base_pri: u8,
    pri: u8,
    handles: u32,
    threads: u32,
    ws_kb: u32,
    faults: u32,
    commit_kb: u32,
    /// Share of the uptime spent in user and kernel mode, per mille.
    user_pm: u64,
    kernel_pm: u64,
}

/// Where an escape sequence is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Esc {
    None,
    /// ESC was pressed.
    Started,
    /// Inside a CSI sequence (arrow keys): swallowed up to its final byte.
    Csi(u8),
}

/// The SAC of one host: what survives between SOL sessions lives here
/// (channels, toggles), what a reboot clears is reset by [`Sac::boot`].
#[derive(Debug)]
pub(super) struct Sac {
    host: SacHost,
    cmd_available: bool,
    shutdown_announced: bool,
    /// A `restart`/`shutdown` was sent: nothing more until power changes.
    going_down: bool,
    booted_at: Option<Instant>,
    channels: [Option<Channel>; MAX_CMD_CHANNELS],
    next_cmd: u32,
    /// The Cmd channel slot being viewed (`None`: the SAC channel).
    view: Option<usize>,
    esc: Esc,
    /// `<esc><tab>` was just pressed: a `0` returns to the SAC channel.
    after_tab: bool,
    last_cr: bool,
    line: Vec<u8>,
    paging: bool,
    threads: bool,
    processes: Vec<Process>,
    /// What `s mm/dd/yyyy hh:mm` set, as an offset to the model's clock.
    clock_offset_ms: i64,
}

impl Sac {
    pub(super) fn new(host: SacHost) -> Sac {
        let processes = processes(host.role);
        Sac {
            host,
            cmd_available: false,
            shutdown_announced: false,
            going_down: false,
            booted_at: None,
            channels: Default::default(),
            next_cmd: 1,
            view: None,
            esc: Esc::None,
            after_tab: false,
            last_cr: false,
            line: Vec::new(),
            paging: true,
            threads: false,
            processes,
            clock_offset_ms: 0,
        }
    }

    pub(super) fn host(&self) -> &SacHost {
        &self.host
    }

    /// The host starts (or restarts) booting: the OS's state is gone.
    pub(super) fn boot(&mut self, now: Instant) {
        self.power_off();
        self.booted_at = Some(now);
    }

    /// Main power went away.
    pub(super) fn power_off(&mut self) {
        self.cmd_available = false;
        self.shutdown_announced = false;
        self.going_down = false;
        self.booted_at = None;
        self.channels = Default::default();
        self.next_cmd = 1;
        self.processes = processes(self.host.role);
        self.detach();
    }

    /// A SOL session ends: the half-typed line and the view go with it.
    pub(super) fn detach(&mut self) {
        self.view = None;
        self.esc = Esc::None;
        self.after_tab = false;
        self.last_cr = false;
        self.line.clear();
    }

    /// The SAC driver has started during boot: its banner and prompt.
    pub(super) fn banner(&mut self) -> String {
        format!("{INITIALIZED}\r\n{PROMPT}")
    }

    /// A console attaches to a running SAC.
    pub(super) fn attach(&mut self, now: Instant, os_up: bool) -> String {
        if os_up {
            self.cmd_available = true;
            self.booted_at.get_or_insert(now);
        }
        self.detach();
        format!("\r\n{PROMPT}")
    }

    /// Events from the host's state while the SAC is up.
    pub(super) fn sync(&mut self, booting: bool, os_up: bool) -> String {
        let mut out = String::new();
        if os_up && !self.cmd_available {
            self.cmd_available = true;
            out.push_str("\r\n");
            out.push_str(CMD_REGISTERED);
        }
        if !booting && !os_up && !self.shutdown_announced && !self.going_down {
            self.shutdown_announced = true;
            out.push_str("\r\n");
            out.push_str(SHUTTING_DOWN);
        }
        if out.is_empty() || self.view.is_some() {
            // Events print on the SAC channel only.
            return String::new();
        }
        out.push_str(PROMPT);
        out.push_str(&String::from_utf8_lossy(&self.line));
        out
    }

    /// Keystrokes: echoed and acted on at Enter.
    pub(super) fn input(
        &mut self,
        now: Instant,
        unix_ms: u64,
        bytes: &[u8],
    ) -> (String, Option<PowerAction>) {
        let mut out = String::new();
        let mut power = None;
        for &b in bytes {
            if self.going_down {
                break;
            }
            match self.esc {
                Esc::Started => {
                    self.esc = match b {
                        b'\t' => {
                            self.next_channel(&mut out);
                            self.after_tab = true;
                            Esc::None
                        }
                        b'[' => Esc::Csi(0),
                        _ => Esc::None,
                    };
                    continue;
                }
                Esc::Csi(n) => {
                    self.esc = if (0x40..=0x7E).contains(&b) || n >= 16 {
                        Esc::None
                    } else {
                        Esc::Csi(n + 1)
                    };
                    continue;
                }
                Esc::None => {}
            }
            if b == 0x1B {
                self.esc = Esc::Started;
                continue;
            }
            if std::mem::take(&mut self.after_tab) && b == b'0' {
                if self.view.take().is_some() {
                    self.redraw(&mut out);
                }
                continue;
            }
            if self.view.is_some() {
                // The Cmd channel's own screen is not modelled.
                continue;
            }
            let after_cr = std::mem::take(&mut self.last_cr);
            match b {
                b'\r' => {
                    self.last_cr = true;
                    power = power.or(self.enter(now, unix_ms, &mut out));
                }
                b'\n' if after_cr => {}
                b'\n' => power = power.or(self.enter(now, unix_ms, &mut out)),
                0x7F | 0x08 if self.line.pop().is_some() => out.push_str("\x08 \x08"),
                0x20..=0x7E if self.line.len() < MAX_LINE => {
                    self.line.push(b);
                    out.push(char::from(b));
                }
                _ => {}
            }
        }
        (out, power)
    }

    fn redraw(&self, out: &mut String) {
        out.push_str("\r\n");
        out.push_str(PROMPT);
        out.push_str(&String::from_utf8_lossy(&self.line));
    }

    /// `<esc><tab>`: the next Cmd channel, or back to the SAC channel.
    fn next_channel(&mut self, out: &mut String) {
        let start = self.view.map_or(0, |v| v + 1);
        match (start..MAX_CMD_CHANNELS).find(|&i| self.channels[i].is_some()) {
            Some(i) => {
                self.view = Some(i);
                self.switch_header(i, out);
            }
            None if self.view.take().is_some() => self.redraw(out),
            None => {}
        }
    }

    fn switch_header(&self, slot: usize, out: &mut String) {
        let Some(ch) = &self.channels[slot] else {
            return;
        };
        let _ = write!(
            out,
            "\r\nName:                  {}\r\n\
             Description:           Command\r\n\
             Type:                  VT-UTF8\r\n\
             Channel GUID:          {}\r\n\
             Application Type GUID: {CMD_APPLICATION_TYPE}\r\n\
             \r\n\
             Press <esc><tab> for next channel.\r\n\
             Press <esc><tab>0 to return to the SAC channel.\r\n\
             Use any other key to view this channel.\r\n\
             \r\n",
            ch.name, ch.guid
        );
    }

    /// Runs the typed line; prints the prompt after it unless the console
    /// left the SAC channel or the system is going down.
    fn enter(&mut self, now: Instant, unix_ms: u64, out: &mut String) -> Option<PowerAction> {
        out.push_str("\r\n");
        let line = String::from_utf8_lossy(&std::mem::take(&mut self.line)).into_owned();
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or("").to_ascii_lowercase();
        let args: Vec<&str> = words.take(8).collect();
        let mut power = None;
        match cmd.as_str() {
            "" => {}
            "?" | "help" => out.push_str(HELP),
            "ch" => self.ch(&args, out),
            "cmd" => self.cmd(out),
            // The kernel log is empty: nothing to dump.
            "d" => {}
            "f" => {
                self.threads = !self.threads;
                out.push_str(if self.threads {
                    "Thread information is now ON.\r\n"
                } else {
                    "Thread information is now OFF.\r\n"
                });
            }
            "i" => self.ip(&args, out),
            "id" => self.id(out),
            "k" | "l" | "r" | "m" => self.process_command(&cmd, &args, out),
            "lock" => out.push_str("Locked access to all Command Prompt channels.\r\n"),
            "p" => {
                self.paging = !self.paging;
                out.push_str(if self.paging {
                    "Paging is now ON.\r\n"
                } else {
                    "Paging is now OFF.\r\n"
                });
            }
            "s" => self.time(unix_ms, &args, out),
            "t" => self.tlist(now, out),
            "restart" => {
                out.push_str("SAC preparing to restart the system.\r\n");
                self.going_down = true;
                power = Some(PowerAction::Reset);
            }
            "shutdown" => {
                out.push_str("SAC preparing to shutdown the system.\r\n");
                self.going_down = true;
                power = Some(PowerAction::Off);
            }
            // Crash dumps are not enabled on these hosts.
            "crashdump" => out.push_str("SAC failed to crashdump the system.\r\n"),
            _ => out.push_str(UNKNOWN_COMMAND),
        }
        if self.view.is_none() && !self.going_down {
            out.push_str(PROMPT);
        }
        power
    }

    fn ch(&mut self, args: &[&str], out: &mut String) {
        match args {
            [] => {
                out.push_str(
                    "Channel List\r\n                       \r\n\
                     (Use \"ch -?\" for information on using channels)\r\n\r\n\
                     # Status  Channel Name \r\n\
                     0 (AV)    SAC\r\n",
                );
                for (i, ch) in self.channels.iter().enumerate() {
                    if let Some(ch) = ch {
                        let _ = write!(out, "{} (AV)    {}\r\n", i + 1, ch.name);
                    }
                }
            }
            ["-?"] => out.push_str(CH_HELP),
            [op @ ("-si" | "-ci"), n] => {
                let Ok(n) = n.parse::<usize>() else {
                    out.push_str(INVALID_PARAMETER);
                    return;
                };
                if n == 0 {
                    if *op == "-ci" {
                        out.push_str("Error: The SAC channel cannot be closed.\r\n");
                    }
                    return;
                }
                match n.checked_sub(1).filter(|&s| self.channel(s).is_some()) {
                    Some(slot) if *op == "-si" => self.view_channel(slot, out),
                    Some(slot) => self.close(slot, out),
                    None => out
                        .push_str("Error: There is no channel present at the specified index.\r\n"),
                }
            }
            [op @ ("-sn" | "-cn"), name] => {
                if name.eq_ignore_ascii_case("SAC") {
                    if *op == "-cn" {
                        out.push_str("Error: The SAC channel cannot be closed.\r\n");
                    }
                    return;
                }
                let slot = self.channels.iter().position(|c| {
                    c.as_ref()
                        .is_some_and(|c| c.name.eq_ignore_ascii_case(name))
                });
                match slot {
                    Some(slot) if *op == "-sn" => self.view_channel(slot, out),
                    Some(slot) => self.close(slot, out),
                    None => out.push_str("Error: Could not find a channel with that name.\r\n"),
                }
            }
            _ => out.push_str(INVALID_PARAMETER),
        }
    }

    fn channel(&self, slot: usize) -> Option<&Channel> {
        self.channels.get(slot).and_then(Option::as_ref)
    }

    fn view_channel(&mut self, slot: usize, out: &mut String) {
        self.view = Some(slot);
        self.switch_header(slot, out);
    }

    fn close(&mut self, slot: usize, out: &mut String) {
        if let Some(ch) = self.channels.get_mut(slot).and_then(Option::take) {
            let _ = write!(
                out,
                "EVENT:   A channel has been closed.\r\nChannel: {}\r\n",
                ch.name
            );
        }
    }

    fn cmd(&mut self, out: &mut String) {
        if !self.cmd_available {
            out.push_str(CMD_NOT_REGISTERED);
            return;
        }
        let Some(slot) = self.channels.iter().position(Option::is_none) else {
            out.push_str("The maximum number of channels has been reached.\r\n");
            return;
        };
        let name = format!("Cmd{:04}", self.next_cmd);
        self.next_cmd = self.next_cmd.wrapping_add(1).max(1);
        let guid = derived_guid(&self.host.guid, &name);
        let _ = write!(
            out,
            "The Command Prompt session was successfully launched.\r\n\
             {PROMPT}\r\n\
             EVENT:   A new channel has been created.  Use \"ch -?\" for channel help.\r\n\
             Channel: {name}\r\n"
        );
        self.channels[slot] = Some(Channel { name, guid });
    }

    /// `i`: the host's address; `i <#> <ip> <subnet> <gateway>`: refused,
    /// since the scenario fixes the address.
    fn ip(&self, args: &[&str], out: &mut String) {
        match args {
            [] => match self.host.address {
                IpAddr::V4(a) => {
                    let [a, b, c, d] = a.octets();
                    // fakedc's addresses are loopback, 127/8.
                    let _ = write!(
                        out,
                        "Net: 10, Ip={a}.{b}.{c}.{d}  Subnet=255.0.0.0  Gateway=0.0.0.0\r\n"
                    );
                }
                IpAddr::V6(_) => out.push_str("There are no IP Addresses available.\r\n"),
            },
            [net, ip, mask, gw] => {
                let v4 = |s: &str| s.parse::<std::net::Ipv4Addr>().ok();
                if net.parse::<u32>().is_err() {
                    out.push_str("Error, missing network interface number.\r\n");
                } else if v4(ip).is_none() {
                    out.push_str("The specified IP address is invalid.\r\n");
                } else if !v4(mask).is_some_and(|m| {
                    u32::from(m).leading_ones() + u32::from(m).trailing_zeros() == 32
                }) {
                    out.push_str("The specified subnet mask is invalid.\r\n");
                } else if v4(gw).is_none() {
                    out.push_str("The specified gateway IP address is invalid.\r\n");
                } else {
                    out.push_str("SAC could not set the IP Address.\r\n");
                }
            }
            _ => out.push_str(INVALID_PARAMETER),
        }
    }

    fn id(&self, out: &mut String) {
        let name: String = self
            .host
            .name
            .to_ascii_uppercase()
            .chars()
            .take(15)
            .collect();
        let _ = write!(
            out,
            "           Computer Name: {name}\r\n\
             \x20          Computer GUID: {guid}\r\n\
             \x20 Processor Architecture: AMD64\r\n\
             \x20         Version Number: {OS_VERSION}\r\n\
             \x20           Build Number: {OS_BUILD}\r\n\
             \x20                Product: {OS_PRODUCT}\r\n\
             \x20   Applied Service Pack: None\r\n",
            guid = self.host.guid
        );
    }

    fn process_command(&mut self, cmd: &str, args: &[&str], out: &mut String) {
        let pid = args.first().and_then(|p| p.parse::<u32>().ok());
        let (pid, mb) = match (cmd, pid, args) {
            ("m", Some(pid), [_, mb]) => match mb.parse::<u32>() {
                Ok(mb) => (pid, mb),
                Err(_) => return out.push_str(INVALID_PARAMETER),
            },
            ("m", ..) => return out.push_str(INVALID_PARAMETER),
            (_, Some(pid), [_]) => (pid, 0),
            _ => return out.push_str(INVALID_PARAMETER),
        };
        let idx = self.processes.iter().position(|p| p.pid == pid);
        let msg = match (cmd, idx) {
            // The System process cannot be terminated.
            ("k", Some(i)) if pid > 4 => {
                self.processes.remove(i);
                "SAC successfully terminated the process."
            }
            ("k", _) => "SAC failed to terminate the process.",
            ("l", Some(i)) => {
                self.processes[i].pri = 1;
                "SAC successfully lowered the process priority."
            }
            ("l", None) => "SAC failed to lower the process priority.",
            ("r", Some(i)) => {
                let p = &mut self.processes[i];
                if p.pri >= p.base_pri {
                    "SAC cannot raise the priority of a process that was not previously lowered."
                } else {
                    p.pri += 1;
                    "SAC successfully raised the process priority."
                }
            }
            ("r", None) => "SAC failed to raise the process priority.",
            (_, Some(i)) if mb > 0 => {
                let p = &mut self.processes[i];
                p.commit_kb = p.commit_kb.min(mb.saturating_mul(1024));
                p.ws_kb = p.ws_kb.min(mb.saturating_mul(1024));
                "SAC successfully limited the available process memory."
            }
            _ => "SAC failed to limit the available process memory.",
        };
        out.push_str(msg);
        out.push_str("\r\n");
    }

    /// `s`: the date and time (UTC); `s mm/dd/yyyy hh:mm` sets the host's
    /// clock (kept as an offset: the model's clock is not the OS's).
    fn time(&mut self, unix_ms: u64, args: &[&str], out: &mut String) {
        let now_ms = i64::try_from(unix_ms).unwrap_or(i64::MAX);
        match args {
            [] => {
                let t = now_ms.saturating_add(self.clock_offset_ms);
                let (days, ms) = (t.div_euclid(86_400_000), t.rem_euclid(86_400_000));
                let (y, mo, d) = civil_from_days(days);
                let _ = write!(
                    out,
                    "Date: {mo:02}/{d:02}/{y:02}  Time (GMT): {:02}:{:02}:{:02}:{:04}\r\n",
                    ms / 3_600_000,
                    ms / 60_000 % 60,
                    ms / 1000 % 60,
                    ms % 1000
                );
            }
            [date, time] => match parse_date_time(date, time) {
                None => out.push_str(INVALID_PARAMETER),
                Some((y, ..)) if !(1980..=2099).contains(&y) => {
                    out.push_str("The year is restricted from 1980 to 2099.\r\n")
                }
                Some((y, mo, d, h, mi)) => {
                    let target =
                        (days_from_civil(y, mo as u32, d as u32) * 86_400 + h * 3600 + mi * 60)
                            * 1000;
                    self.clock_offset_ms = target.saturating_sub(now_ms);
                    let _ = write!(
                        out,
                        "Date: {mo:02}/{d:02}/{y:02}  Time (GMT): {h:02}:{mi:02}\r\n"
                    );
                }
            },
            _ => out.push_str(INVALID_PARAMETER),
        }
    }

    /// `t`: the task list, in SAC's tlist layout.
    fn tlist(&self, now: Instant, out: &mut String) {
        let up = self
            .booted_at
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        let up_ms = u64::try_from(up.as_millis()).unwrap_or(u64::MAX);
        let hms = |ms: u64| {
            format!(
                "{:3}:{:02}:{:02}.{:03}",
                ms / 3_600_000,
                ms / 60_000 % 60,
                ms / 1000 % 60,
                ms % 1000
            )
        };
        let total_ws: u64 = self.processes.iter().map(|p| u64::from(p.ws_kb)).sum();
        let commit: u64 = self.processes.iter().map(|p| u64::from(p.commit_kb)).sum();
        let _ = write!(
            out,
            "memory: {MEMORY_KB:4} kb  uptime:{:3} {:2}:{:02}:{:02}.{:03}\r\n\r\n\r\n",
            up_ms / 86_400_000,
            up_ms / 3_600_000 % 24,
            up_ms / 60_000 % 60,
            up_ms / 1000 % 60,
            up_ms % 1000
        );
        out.push_str("PageFile: \\??\\C:\\pagefile.sys\r\n");
        let _ = write!(
            out,
            "        Current Size: {:6} kb  Total Used: {:6} kb   Peak Used {:6} kb\r\n",
            2_490_368, 41_236, 52_880
        );
        let _ = write!(
            out,
            "\r\n Memory:{MEMORY_KB:7}K Avail:{:7}K  TotalWs:{total_ws:7}K InRam Kernel:{:5}K P:{:5}K\r\n",
            MEMORY_KB.saturating_sub(total_ws + 1_048_576),
            12_284,
            98_304
        );
        let _ = write!(
            out,
            " Commit:{commit:7}K/{commit:7}K Limit:{:7}K Peak:{:7}K  Pool N:{:5}K P:{:5}K\r\n",
            MEMORY_KB + 2_490_368,
            commit + 65_536,
            88_412,
            196_608
        );
        out.push_str(
            "    User Time   Kernel Time    Ws   Faults  Commit Pri Hnd Thd  Pid Name\r\n",
        );
        let _ = write!(
            out,
            "                           {:6} {:8}                          File Cache\r\n",
            65_536, 18_432
        );
        for p in &self.processes {
            let _ = write!(
                out,
                "{} {}{:6} {:8} {:7} {:2} {:4} {:3} {:4} {}\r\n",
                hms(up_ms.saturating_mul(p.user_pm) / 1000),
                hms(up_ms.saturating_mul(p.kernel_pm) / 1000),
                p.ws_kb,
                p.faults,
                p.commit_kb,
                p.pri,
                p.handles,
                p.threads,
                p.pid,
                p.name
            );
        }
    }
}

/// The processes a freshly booted host runs; each Windows role adds its
/// own service.
fn processes(role: Role) -> Vec<Process> {
    let p =
        |pid, name, pri, handles, threads, ws_kb, faults, commit_kb, user_pm, kernel_pm| Process {
            pid,
            name,
            base_pri: pri,
            pri,
            handles,
            threads,
            ws_kb,
            faults,
            commit_kb,
            user_pm,
            kernel_pm,
        };
    let mut v = vec![
        p(4, "System", 8, 2874, 148, 140, 8_412, 36, 0, 31),
        p(88, "Registry", 8, 0, 4, 62_316, 18_004, 9_860, 0, 1),
        p(336, "smss.exe", 11, 53, 2, 1_172, 412, 1_072, 0, 0),
        p(452, "csrss.exe", 13, 513, 11, 5_028, 1_820, 1_936, 0, 1),
        p(528, "wininit.exe", 13, 161, 1, 6_632, 1_604, 1_392, 0, 0),
        p(604, "services.exe", 9, 528, 6, 9_712, 4_204, 5_232, 1, 3),
        p(624, "lsass.exe", 9, 1_266, 9, 18_240, 6_316, 7_448, 1, 2),
        p(
            752,
            "svchost.exe",
            8,
            1_102,
            14,
            25_364,
            9_108,
            10_820,
            1,
            2,
        ),
        p(808, "svchost.exe", 8, 812, 12, 14_020, 4_316, 6_280, 0, 1),
        p(
            1024,
            "svchost.exe",
            8,
            1_528,
            41,
            42_556,
            22_360,
            24_112,
            2,
            3,
        ),
    ];
    let extra = match role {
        Role::HypervHost => Some("vmms.exe"),
        Role::VmmServer => Some("vmmservice.exe"),
        Role::SqlServer => Some("sqlservr.exe"),
        Role::Wsus => Some("WsusService.exe"),
        _ => None,
    };
    if let Some(name) = extra {
        v.push(p(2468, name, 8, 1_937, 38, 61_884, 40_112, 88_276, 3, 2));
    }
    v
}

/// A channel GUID that stays the same for the same host and channel.
fn derived_guid(host_guid: &str, name: &str) -> String {
    let fnv = |seed: u64| {
        host_guid.bytes().chain(name.bytes()).fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        })
    };
    let (a, b) = (fnv(0xcbf2_9ce4_8422_2325), fnv(0x84222325_cbf29ce4));
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xFFFF,
        a & 0xFFFF,
        b >> 48,
        b & 0xFFFF_FFFF_FFFF
    )
}

/// `mm/dd/yyyy` and `hh:mm`.
fn parse_date_time(date: &str, time: &str) -> Option<(i64, i64, i64, i64, i64)> {
    let num = |s: &str| -> Option<i64> {
        (!s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let mut d = date.split('/');
    let (mo, day, y) = (num(d.next()?)?, num(d.next()?)?, num(d.next()?)?);
    let mut t = time.split(':');
    let (h, mi) = (num(t.next()?)?, num(t.next()?)?);
    if d.next().is_some() || t.next().is_some() || !(0..24).contains(&h) || !(0..60).contains(&mi) {
        return None;
    }
    if !(1..=12).contains(&mo)
        || day < 1
        || civil_from_days(days_from_civil(y, mo as u32, day as u32)) != (y, mo as u32, day as u32)
    {
        return None;
    }
    Some((y, mo, day, h, mi))
}

#[cfg(test)]
mod tests {
    use super::super::SerialConsole;
    use super::*;
    use fakedc_model::{Chassis, Hardware, PowerState, Timing};

    const GUID: &str = "4c4c4544-0042-3510-8052-b4c04f4d3632";

    fn host() -> SacHost {
        SacHost {
            name: "hv01".into(),
            guid: GUID.into(),
            address: IpAddr::from([127, 78, 0, 1]),
            role: Role::HypervHost,
        }
    }

    fn text(b: Vec<u8>) -> String {
        String::from_utf8(b).unwrap()
    }

    /// Syncs the console with a chassis every 50 ms for `ticks` ticks.
    fn run(c: &mut SerialConsole, ch: &mut Chassis, t: &mut Instant, ticks: u32) -> String {
        let mut out = Vec::new();
        for _ in 0..ticks {
            *t += Duration::from_millis(50);
            ch.advance(*t);
            out.extend(c.sync(
                *t,
                ch.power.power_on(),
                matches!(ch.power, PowerState::Booting { .. }),
                ch.os_up(),
                ch.last_boot_device.label(),
            ));
        }
        text(out)
    }

    fn chassis() -> Chassis {
        let hw = Hardware {
            vendor: "Contoso".into(),
            model: "CX-1".into(),
            serial: "S1".into(),
            smbios_guid: [0; 16],
            asset_tag: String::new(),
            part_number: String::new(),
            bios_version: "2.19.1".into(),
            bmc_firmware: "1.0".into(),
        };
        let timing = Timing {
            boot_delay: Duration::from_millis(1000),
            ..Timing::default()
        };
        Chassis::new(hw, timing, false)
    }

    /// A Windows host powered on and booted with its SAC up.
    fn booted() -> (SerialConsole, Chassis, Instant, String) {
        let mut t = fakedc_model::Clock::new().now();
        let mut c = SerialConsole::windows(host());
        let mut ch = chassis();
        ch.power_action(PowerAction::On, t);
        let log = run(&mut c, &mut ch, &mut t, 30);
        (c, ch, t, log)
    }

    fn typed(c: &mut SerialConsole, t: Instant, line: &str) -> String {
        let out = c.input(t, 1_700_000_000_000, line.as_bytes());
        assert_eq!(out.power, None, "{line}");
        text(out.text)
    }

    #[test]
    fn boot_shows_the_ems_banner_then_sac_and_the_cmd_event() {
        let mut t = fakedc_model::Clock::new().now();
        let mut c = SerialConsole::windows(host());
        let mut ch = chassis();
        assert!(run(&mut c, &mut ch, &mut t, 2).is_empty(), "dark while off");
        ch.power_action(PowerAction::On, t);
        // Still booting after 0.5 s: the POST, then the SAC's banner.
        let early = run(&mut c, &mut ch, &mut t, 10);
        assert!(early.starts_with("\r\nContoso Systems BIOS"), "{early}");
        assert!(early.contains("Boot device: disk\r\n"), "{early}");
        assert!(
            !early.contains("systemd") && !early.contains("Booting hv01"),
            "{early}"
        );
        assert!(
            early.ends_with(
                "\r\nComputer is booting, SAC started and initialized.\r\n\r\n\
                 Use the \"ch -?\" command for information about using channels.\r\n\
                 Use the \"?\" command for general help.\r\n\r\n\r\nSAC>"
            ),
            "{early:?}"
        );
        // The Cmd service has not registered yet.
        let out = typed(&mut c, t, "cmd\r");
        assert!(
            out.starts_with("cmd\r\nError: Unable to launch a Command Prompt.  The service responsible for launching\r\n       Command Prompt channels has not yet registered."),
            "{out:?}"
        );
        assert!(out.ends_with("unresponsive.\r\nSAC>"), "{out:?}");
        // Once the OS is up.
        let up = run(&mut c, &mut ch, &mut t, 20);
        assert_eq!(up, "\r\nEVENT: The CMD command is now available.\r\nSAC>");
        assert!(run(&mut c, &mut ch, &mut t, 5).is_empty(), "said once");
    }

    #[test]
    fn a_new_session_on_a_running_host_gets_the_prompt() {
        let (mut c, mut ch, mut t, _) = booted();
        typed(&mut c, t, "cmd\r");
        typed(&mut c, t, "hal");
        c.reset();
        assert_eq!(run(&mut c, &mut ch, &mut t, 1), "\r\nSAC>");
        // The half-typed line went with the old session; the channel stayed.
        assert!(typed(&mut c, t, "ch\r").contains("1 (AV)    Cmd0001\r\n"));
        // A console attached after boot: the CMD service is there.
        let mut fresh = SerialConsole::windows(host());
        let out = text(fresh.sync(t, true, false, true, "disk"));
        assert_eq!(out, "\r\nSAC>");
        assert!(typed(&mut fresh, t, "cmd\r").contains("successfully launched"));
    }

    #[test]
    fn help_lists_sac_commands_and_unknown_ones_are_refused() {
        let (mut c, _, t, _) = booted();
        let help = typed(&mut c, t, "?\r");
        assert!(help.starts_with("?\r\nch                   Channel management commands.  Use ch -? for more help.\r\ncmd                  Create a Command Prompt channel.\r\n"), "{help:?}");
        assert!(help.contains(
            "\r\nid                   Display the computer identification information.\r\n"
        ));
        assert!(help.ends_with(
            "crashdump            Crash the system. You must have crash dump enabled.\r\nSAC>"
        ));
        assert_eq!(
            typed(&mut c, t, "HELP\r").len(),
            "HELP".len() + help.len() - 1
        );
        assert_eq!(
            typed(&mut c, t, "dir\r"),
            "dir\r\nUnrecognized command.  Try the 'help' command for more details.\r\nSAC>"
        );
        assert_eq!(typed(&mut c, t, "\r"), "\r\nSAC>");
        // CR LF is one Enter; backspace erases.
        assert_eq!(typed(&mut c, t, "\r\n"), "\r\nSAC>");
        assert_eq!(typed(&mut c, t, "ix\x7f"), "ix\x08 \x08");
        assert_eq!(
            typed(&mut c, t, "\r"),
            "\r\nNet: 10, Ip=127.78.0.1  Subnet=255.0.0.0  Gateway=0.0.0.0\r\nSAC>"
        );
        assert_eq!(
            typed(&mut c, t, "crashdump\r"),
            "crashdump\r\nSAC failed to crashdump the system.\r\nSAC>"
        );
        assert_eq!(
            typed(&mut c, t, "k 1\r"),
            "k 1\r\nSAC failed to terminate the process.\r\nSAC>"
        );
        assert_eq!(
            typed(&mut c, t, "k\r"),
            "k\r\nA parameter was incorrect or missing.  Try the 'help' command for more details.\r\nSAC>"
        );
    }

    #[test]
    fn id_shows_the_host_name_and_smbios_guid() {
        let (mut c, _, t, _) = booted();
        assert_eq!(
            typed(&mut c, t, "id\r"),
            "id\r\n\
             \x20          Computer Name: HV01\r\n\
             \x20          Computer GUID: 4c4c4544-0042-3510-8052-b4c04f4d3632\r\n\
             \x20 Processor Architecture: AMD64\r\n\
             \x20         Version Number: 10.0\r\n\
             \x20           Build Number: 17763\r\n\
             \x20                Product: Windows Server 2019 Datacenter\r\n\
             \x20   Applied Service Pack: None\r\n\
             SAC>"
        );
    }

    #[test]
    fn cmd_creates_channels_that_ch_lists_switches_to_and_closes() {
        let (mut c, _, t, _) = booted();
        assert_eq!(
            typed(&mut c, t, "cmd\r"),
            "cmd\r\nThe Command Prompt session was successfully launched.\r\nSAC>\r\n\
             EVENT:   A new channel has been created.  Use \"ch -?\" for channel help.\r\n\
             Channel: Cmd0001\r\nSAC>"
        );
        assert!(typed(&mut c, t, "cmd\r").contains("Channel: Cmd0002\r\n"));
        assert_eq!(
            typed(&mut c, t, "ch\r"),
            "ch\r\nChannel List\r\n                       \r\n\
             (Use \"ch -?\" for information on using channels)\r\n\r\n\
             # Status  Channel Name \r\n0 (AV)    SAC\r\n1 (AV)    Cmd0001\r\n2 (AV)    Cmd0002\r\nSAC>"
        );
        let help = typed(&mut c, t, "ch -?\r");
        assert!(help.contains("ch -si <#>           Switch to a channel by its number.\r\n"));
        assert!(help.contains("    'V' = VT-UTF8 emulation.\r\n"));
        // Switching shows the channel's header and leaves the SAC prompt.
        let sw = typed(&mut c, t, "ch -sn cmd0002\r");
        assert!(sw.contains("\r\nName:                  Cmd0002\r\nDescription:           Command\r\nType:                  VT-UTF8\r\nChannel GUID:          "), "{sw:?}");
        assert!(sw.contains("Application Type GUID: 63d02271-8aa4-11d5-bccf-00b0d014a2d0\r\n"));
        assert!(
            sw.ends_with("Use any other key to view this channel.\r\n\r\n"),
            "{sw:?}"
        );
        assert_eq!(typed(&mut c, t, "dir\r"), "", "the channel's screen");
        assert_eq!(typed(&mut c, t, "\x1b\t0"), "\r\nSAC>");
        // <esc><tab> cycles Cmd0001, Cmd0002, back to SAC.
        assert!(typed(&mut c, t, "\x1b\t").contains("Name:                  Cmd0001\r\n"));
        assert!(typed(&mut c, t, "\x1b\t").contains("Name:                  Cmd0002\r\n"));
        assert_eq!(typed(&mut c, t, "\x1b\t"), "\r\nSAC>");
        assert_eq!(
            typed(&mut c, t, "ch -ci 1\r"),
            "ch -ci 1\r\nEVENT:   A channel has been closed.\r\nChannel: Cmd0001\r\nSAC>"
        );
        assert_eq!(
            typed(&mut c, t, "ch -si 1\r"),
            "ch -si 1\r\nError: There is no channel present at the specified index.\r\nSAC>"
        );
        assert_eq!(
            typed(&mut c, t, "ch -cn SAC\r"),
            "ch -cn SAC\r\nError: The SAC channel cannot be closed.\r\nSAC>"
        );
        assert_eq!(
            typed(&mut c, t, "ch -sn Cmd0009\r"),
            "ch -sn Cmd0009\r\nError: Could not find a channel with that name.\r\nSAC>"
        );
        // The next channel takes the free slot with the next name.
        assert!(typed(&mut c, t, "cmd\r").contains("Channel: Cmd0003\r\n"));
        assert!(typed(&mut c, t, "ch\r").contains("1 (AV)    Cmd0003\r\n2 (AV)    Cmd0002\r\n"));
        for _ in 0..7 {
            assert!(typed(&mut c, t, "cmd\r").contains("successfully launched"));
        }
        assert_eq!(
            typed(&mut c, t, "cmd\r"),
            "cmd\r\nThe maximum number of channels has been reached.\r\nSAC>"
        );
    }

    #[test]
    fn restart_resets_the_chassis_and_sac_boots_again() {
        let (mut c, mut ch, mut t, _) = booted();
        typed(&mut c, t, "cmd\r");
        let out = c.input(t, 0, b"restart\r");
        assert_eq!(
            text(out.text),
            "restart\r\nSAC preparing to restart the system.\r\n"
        );
        assert_eq!(out.power, Some(PowerAction::Reset));
        assert!(c.input(t, 0, b"id\r").text.is_empty(), "going down");
        // What the service does with it: the shared chassis reboots.
        ch.power_action(PowerAction::Reset, t);
        assert!(matches!(ch.power, PowerState::Booting { .. }));
        let again = run(&mut c, &mut ch, &mut t, 30);
        assert!(again.starts_with("\r\nContoso Systems BIOS"), "{again}");
        assert!(again.contains("Computer is booting, SAC started and initialized."));
        assert!(
            again.ends_with("EVENT: The CMD command is now available.\r\nSAC>"),
            "{again:?}"
        );
        // The reboot closed the Cmd channels.
        assert!(!typed(&mut c, t, "ch\r").contains("Cmd0001"));
    }

    #[test]
    fn shutdown_powers_off_and_the_console_goes_dark() {
        let (mut c, mut ch, mut t, _) = booted();
        let out = c.input(t, 0, b"shutdown\r");
        assert_eq!(
            text(out.text),
            "shutdown\r\nSAC preparing to shutdown the system.\r\n"
        );
        assert_eq!(out.power, Some(PowerAction::Off));
        ch.power_action(PowerAction::Off, t);
        assert!(run(&mut c, &mut ch, &mut t, 3).is_empty());
        assert!(c.input(t, 0, b"id\r").text.is_empty(), "dark");
        // A soft shutdown from elsewhere is announced on the SAC channel.
        ch.power_action(PowerAction::On, t);
        run(&mut c, &mut ch, &mut t, 30);
        ch.power_action(PowerAction::Soft, t);
        assert_eq!(
            run(&mut c, &mut ch, &mut t, 1),
            "\r\nThe SAC will become unavailable soon.  The computer is shutting down.\r\n\r\nSAC>"
        );
    }

    #[test]
    fn time_tlist_and_process_commands() {
        let (mut c, _, t, _) = booted();
        // 2023-11-14 22:13:20.000 UTC.
        let s = c.input(t, 1_700_000_000_000, b"s\r");
        assert_eq!(
            text(s.text),
            "s\r\nDate: 11/14/2023  Time (GMT): 22:13:20:0000\r\nSAC>"
        );
        assert_eq!(
            typed(&mut c, t, "s 02/29/2024 08:30\r"),
            "s 02/29/2024 08:30\r\nDate: 02/29/2024  Time (GMT): 08:30\r\nSAC>"
        );
        let later = c.input(t, 1_700_000_061_500, b"s\r");
        assert!(text(later.text).contains("Date: 02/29/2024  Time (GMT): 08:31:01:0500"));
        assert!(typed(&mut c, t, "s 02/30/2023 08:30\r").contains("A parameter was incorrect"));
        assert!(typed(&mut c, t, "s 01/01/1970 00:00\r")
            .contains("The year is restricted from 1980 to 2099."));
        let tl = typed(&mut c, t, "t\r");
        assert!(
            tl.starts_with(
                "t\r\nmemory: 16776692 kb  uptime:  0  0:00:01.450\r\n\r\n\r\nPageFile: "
            ),
            "{tl:?}"
        );
        assert!(tl.contains(
            "    User Time   Kernel Time    Ws   Faults  Commit Pri Hnd Thd  Pid Name\r\n"
        ));
        assert!(tl.contains(" 2468 vmms.exe\r\n"), "{tl}");
        assert!(tl.contains("  624 lsass.exe\r\n"), "{tl}");
        assert_eq!(
            typed(&mut c, t, "k 2468\r"),
            "k 2468\r\nSAC successfully terminated the process.\r\nSAC>"
        );
        assert!(!typed(&mut c, t, "t\r").contains("vmms.exe"));
        assert!(typed(&mut c, t, "k 4\r").contains("SAC failed to terminate the process."));
        assert!(typed(&mut c, t, "r 624\r").contains(
            "SAC cannot raise the priority of a process that was not previously lowered."
        ));
        assert!(
            typed(&mut c, t, "l 624\r").contains("SAC successfully lowered the process priority.")
        );
        assert!(
            typed(&mut c, t, "r 624\r").contains("SAC successfully raised the process priority.")
        );
        assert!(typed(&mut c, t, "m 624 8\r")
            .contains("SAC successfully limited the available process memory."));
        assert_eq!(typed(&mut c, t, "p\r"), "p\r\nPaging is now OFF.\r\nSAC>");
        assert_eq!(
            typed(&mut c, t, "f\r"),
            "f\r\nThread information is now ON.\r\nSAC>"
        );
        assert_eq!(typed(&mut c, t, "d\r"), "d\r\nSAC>");
        assert_eq!(
            typed(&mut c, t, "i 10 10.0.0.5 255.255.255.0 10.0.0.1\r"),
            "i 10 10.0.0.5 255.255.255.0 10.0.0.1\r\nSAC could not set the IP Address.\r\nSAC>"
        );
        assert!(typed(&mut c, t, "i 10 10.0.0.5 255.0.255.0 10.0.0.1\r")
            .contains("The specified subnet mask is invalid."));
    }

    #[test]
    fn input_is_bounded_and_escape_sequences_are_swallowed() {
        let (mut c, _, t, _) = booted();
        let long = vec![b'a'; 10_000];
        let echo = c.input(t, 0, &long).text;
        assert_eq!(echo.len(), MAX_LINE);
        let out = typed(&mut c, t, "\r");
        assert!(out.starts_with("\r\nUnrecognized command."));
        // Arrow keys and stray escapes echo nothing.
        assert_eq!(typed(&mut c, t, "\x1b[A\x1b[1;5C\x1bxid"), "id");
        assert!(typed(&mut c, t, "\r").contains("Computer Name: HV01"));
        // Non-ASCII and control bytes are dropped.
        assert_eq!(typed(&mut c, t, "\u{e9}\x01\x02"), "");
    }

    #[test]
    fn other_windows_roles_run_their_own_service() {
        let mut h = host();
        h.role = Role::SqlServer;
        let mut c = SerialConsole::windows(h);
        let t = fakedc_model::Clock::new().now();
        assert_eq!(text(c.sync(t, true, false, true, "disk")), "\r\nSAC>");
        let tl = typed(&mut c, t, "t\r");
        assert!(
            tl.contains(" sqlservr.exe\r\n") && !tl.contains("vmms.exe"),
            "{tl}"
        );
    }
}
