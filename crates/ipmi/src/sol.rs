//! Serial over LAN, sans-IO: the packet layer ([`SolLink`]: sequence
//! numbers, ACKs, retransmission, IPMI v2.0 §15.9) and the fake serial
//! console behind it ([`SerialConsole`]: a scripted boot log when the host
//! powers on, then what the host's OS runs on its serial port: a Linux
//! login prompt and shell that echo what is typed, or on a Windows host
//! Emergency Management Services' Special Administration Console (`SAC>`,
//! [`sac`]), chosen by the host's role in the scenario).
//!
//! SOL payload layout (both directions): `packet seq (1-15, 0 = ACK only) |
//! ack/nack seq | accepted char count | op/status | data`.

pub mod sac;

pub use sac::SacHost;

use fakedc_model::PowerAction;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Console → BMC operation bits.
pub mod op {
    pub const NACK: u8 = 0x40;
    pub const BREAK: u8 = 0x10;
}

/// BMC → console status bits.
pub mod status {
    pub const NACK: u8 = 0x40;
    pub const TRANSFER_UNAVAILABLE: u8 = 0x20;
    pub const DEACTIVATING: u8 = 0x10;
}

/// Largest data chunk per SOL packet we send.
pub const MAX_CHUNK: usize = 200;
/// Bytes of console output kept while waiting for ACKs; older output is
/// dropped, as a real UART FIFO would overrun.
pub const MAX_BACKLOG: usize = 64 * 1024;

/// A parsed SOL payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SolPacket {
    pub seq: u8,
    pub ack_seq: u8,
    pub accepted: u8,
    pub op: u8,
    pub data: Vec<u8>,
}

impl SolPacket {
    pub fn parse(b: &[u8]) -> Option<SolPacket> {
        if b.len() < 4 {
            return None;
        }
        Some(SolPacket {
            seq: b[0] & 0x0F,
            ack_seq: b[1] & 0x0F,
            accepted: b[2],
            op: b[3],
            data: b[4..].to_vec(),
        })
    }

    pub fn emit(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(4 + self.data.len());
        v.extend_from_slice(&[self.seq, self.ack_seq, self.accepted, self.op]);
        v.extend_from_slice(&self.data);
        v
    }
}

/// Sequence/ACK/retry state of one active SOL payload instance.
#[derive(Debug)]
pub struct SolLink {
    next_seq: u8,
    /// Our packet waiting for its ACK: (seq, data, last sent, tries left).
    unacked: Option<(u8, Vec<u8>, Instant, u8)>,
    backlog: VecDeque<u8>,
    retry_interval: Duration,
    retries: u8,
    /// The last console packet we accepted, so a retransmission of it is
    /// ACKed again but not delivered twice.
    last_in_seq: u8,
}

/// What the link wants sent.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LinkOutput {
    /// SOL payloads to seal and send, in order.
    pub packets: Vec<Vec<u8>>,
    /// Console data newly received (to feed the serial console).
    pub input: Vec<u8>,
    /// The console sent a break.
    pub brk: bool,
}

impl SolLink {
    /// `retry_interval` and `retries` come from SOL configuration parameter 4.
    pub fn new(retry_interval: Duration, retries: u8) -> SolLink {
        SolLink {
            next_seq: 1,
            unacked: None,
            backlog: VecDeque::new(),
            retry_interval: retry_interval.max(Duration::from_millis(10)),
            retries,
            last_in_seq: 0,
        }
    }

    /// Queues console output.
    pub fn queue(&mut self, bytes: &[u8]) {
        self.backlog.extend(bytes);
        while self.backlog.len() > MAX_BACKLOG {
            self.backlog.pop_front();
        }
    }

    fn take_seq(&mut self) -> u8 {
        let s = self.next_seq;
        self.next_seq = if s >= 15 { 1 } else { s + 1 };
        s
    }

    /// Sends the next chunk if nothing is in flight.
    fn pump(&mut self, now: Instant, out: &mut LinkOutput) {
        if self.unacked.is_some() || self.backlog.is_empty() {
            return;
        }
        let n = self.backlog.len().min(MAX_CHUNK);
        let data: Vec<u8> = self.backlog.drain(..n).collect();
        let seq = self.take_seq();
        out.packets.push(
            SolPacket {
                seq,
                ack_seq: 0,
                accepted: 0,
                op: 0,
                data: data.clone(),
            }
            .emit(),
        );
        self.unacked = Some((seq, data, now, self.retries));
    }

    /// Handles a payload from the console.
    pub fn receive(&mut self, now: Instant, payload: &[u8]) -> LinkOutput {
        let mut out = LinkOutput::default();
        let Some(p) = SolPacket::parse(payload) else {
            return out;
        };
        // An ACK (or NACK) of our packet.
        if p.ack_seq != 0 {
            if let Some((seq, data, _, _)) = &self.unacked {
                if *seq == p.ack_seq {
                    let accepted = usize::from(p.accepted).min(data.len());
                    if p.op & op::NACK != 0 || accepted < data.len() {
                        // Partial accept or NACK: resend the rest later.
                        let rest: Vec<u8> = data[accepted..].to_vec();
                        for b in rest.into_iter().rev() {
                            self.backlog.push_front(b);
                        }
                    }
                    self.unacked = None;
                }
            }
        }
        // Data from the console: ACK it; deliver unless it's a retransmit.
        if p.seq != 0 {
            out.packets.push(
                SolPacket {
                    seq: 0,
                    ack_seq: p.seq,
                    accepted: p.data.len().min(255) as u8,
                    op: 0,
                    data: Vec::new(),
                }
                .emit(),
            );
            if p.seq != self.last_in_seq {
                self.last_in_seq = p.seq;
                out.input = p.data;
                out.brk = p.op & op::BREAK != 0;
            }
        }
        self.pump(now, &mut out);
        out
    }

    /// Retransmits or sends queued output; call when [`Self::next_timeout`]
    /// passes or after [`Self::queue`].
    pub fn poll(&mut self, now: Instant) -> LinkOutput {
        let mut out = LinkOutput::default();
        if let Some((seq, data, sent, tries)) = &mut self.unacked {
            if now.duration_since(*sent) >= self.retry_interval {
                if *tries == 0 {
                    // Give up on this packet, as BMCs do after the retry count.
                    self.unacked = None;
                } else {
                    *tries -= 1;
                    *sent = now;
                    out.packets.push(
                        SolPacket {
                            seq: *seq,
                            ack_seq: 0,
                            accepted: 0,
                            op: 0,
                            data: data.clone(),
                        }
                        .emit(),
                    );
                }
            }
        }
        self.pump(now, &mut out);
        out
    }

    pub fn next_timeout(&self) -> Option<Instant> {
        self.unacked
            .as_ref()
            .map(|(_, _, sent, _)| *sent + self.retry_interval)
    }

    pub fn idle(&self) -> bool {
        self.unacked.is_none() && self.backlog.is_empty()
    }
}

/// Where the fake console is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No main power (or a new session that has not synced yet): nothing
    /// prints.
    Off,
    /// Booting: printing the boot log.
    Booting,
    /// The OS's console is up: a login prompt, or the SAC prompt.
    Up,
}

/// Where a Linux console's getty is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Getty {
    Login,
    Password,
    Shell,
}

/// A Linux-flavoured host's serial console: a getty and a shell.
#[derive(Debug)]
struct Linux {
    getty: Getty,
    line: Vec<u8>,
    user: String,
}

/// What runs on the host's serial port.
#[derive(Debug)]
enum Os {
    Linux(Linux),
    /// Windows' Emergency Management Services.
    Sac(Box<sac::Sac>),
}

/// The fake serial console of a host: a Linux getty, or on a Windows host
/// Emergency Management Services' Special Administration Console.
#[derive(Debug)]
pub struct SerialConsole {
    hostname: String,
    phase: Phase,
    /// A boot whose log is printing (or printed) is under way.
    in_boot: bool,
    /// Boot-log lines not printed yet and when the next one is due.
    script: VecDeque<String>,
    next_line: Option<Instant>,
    os: Os,
}

/// What typed input produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ConsoleOutput {
    /// Echo and answers, to send to the console.
    pub text: Vec<u8>,
    /// A power action the host's OS asked for (SAC `restart`/`shutdown`),
    /// for the service to apply to the shared chassis.
    pub power: Option<PowerAction>,
}

/// What the scripted boot prints, line by line: the firmware's POST, then
/// the OS's early console (Windows prints nothing there until the SAC
/// starts).
fn boot_script(hostname: &str, device: &str, windows: bool) -> Vec<String> {
    let mut v = vec![
        "".into(),
        "Contoso Systems BIOS 2.19.1".into(),
        "Initializing memory... 262144 MB OK".into(),
        "Initializing PCIe devices... done".into(),
        format!("Boot device: {device}"),
        "Loading operating system...".into(),
    ];
    if !windows {
        v.extend([
            format!("[    0.000000] Booting {hostname}"),
            "[    1.204311] systemd[1]: Started Serial Getty on ttyS1.".into(),
            "".into(),
        ]);
    }
    v
}

impl SerialConsole {
    /// A Linux-flavoured host's console (ESX/ESXi, appliances).
    pub fn new(hostname: &str) -> SerialConsole {
        SerialConsole::with_os(
            hostname,
            Os::Linux(Linux {
                getty: Getty::Login,
                line: Vec::new(),
                user: String::new(),
            }),
        )
    }

    /// A Windows host's console: EMS and its SAC.
    pub fn windows(host: SacHost) -> SerialConsole {
        let name = host.name.clone();
        SerialConsole::with_os(&name, Os::Sac(Box::new(sac::Sac::new(host))))
    }

    fn with_os(hostname: &str, os: Os) -> SerialConsole {
        SerialConsole {
            hostname: hostname.to_string(),
            phase: Phase::Off,
            in_boot: false,
            script: VecDeque::new(),
            next_line: None,
            os,
        }
    }

    /// The Windows host behind an EMS console.
    pub fn sac_host(&self) -> Option<&SacHost> {
        match &self.os {
            Os::Sac(s) => Some(s.host()),
            Os::Linux(_) => None,
        }
    }

    fn linux_prompt(&self) -> String {
        match &self.os {
            Os::Linux(l) => match l.getty {
                Getty::Login => format!("\r\n{} login: ", self.hostname),
                Getty::Password => "Password: ".into(),
                Getty::Shell => format!("[{}@{} ~]# ", l.user, self.hostname),
            },
            Os::Sac(_) => String::new(),
        }
    }

    /// Brings the console in line with the host's power state. `booting`
    /// is true while the host is powering on; `os_up` once booted. Returns
    /// output to send.
    pub fn sync(
        &mut self,
        now: Instant,
        power_on: bool,
        booting: bool,
        os_up: bool,
        boot_device: &str,
    ) -> Vec<u8> {
        let mut out = String::new();
        if !power_on {
            self.phase = Phase::Off;
            self.in_boot = false;
            self.script.clear();
            self.next_line = None;
            if let Os::Sac(s) = &mut self.os {
                s.power_off();
            }
            return Vec::new();
        }
        if !booting {
            self.in_boot = false;
        } else if !self.in_boot {
            self.in_boot = true;
            self.phase = Phase::Booting;
            let windows = matches!(self.os, Os::Sac(_));
            self.script = boot_script(&self.hostname, boot_device, windows).into();
            self.next_line = Some(now);
            if let Os::Sac(s) = &mut self.os {
                s.boot(now);
            }
        }
        match self.phase {
            Phase::Booting => {
                while self.next_line.is_some_and(|t| t <= now) {
                    match self.script.pop_front() {
                        Some(l) => {
                            out.push_str(&l);
                            out.push_str("\r\n");
                            self.next_line = Some(now + Duration::from_millis(40));
                        }
                        None => self.next_line = None,
                    }
                }
                if self.script.is_empty() {
                    match &mut self.os {
                        // The SAC starts early in the kernel's boot.
                        Os::Sac(s) => {
                            self.phase = Phase::Up;
                            out.push_str(&s.banner());
                        }
                        Os::Linux(l) if os_up => {
                            l.getty = Getty::Login;
                            self.phase = Phase::Up;
                            out.push_str(&self.linux_prompt());
                        }
                        Os::Linux(_) => {}
                    }
                }
            }
            Phase::Off if os_up => {
                self.phase = Phase::Up;
                match &mut self.os {
                    Os::Sac(s) => out.push_str(&s.attach(now, true)),
                    Os::Linux(l) => {
                        l.getty = Getty::Login;
                        out.push_str(&self.linux_prompt());
                    }
                }
            }
            Phase::Off | Phase::Up => {}
        }
        if self.phase == Phase::Up {
            if let Os::Sac(s) = &mut self.os {
                out.push_str(&s.sync(booting, os_up));
            }
        }
        out.into_bytes()
    }

    /// When the next boot-log line is due.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.next_line
    }

    /// A new SOL session starts from a clean line: whoever was logged in
    /// on the previous one is gone (as after a getty restart). The SAC's
    /// channels belong to the host's OS and stay.
    pub fn reset(&mut self) {
        self.phase = Phase::Off;
        self.in_boot = false;
        self.script.clear();
        self.next_line = None;
        match &mut self.os {
            Os::Linux(l) => l.line.clear(),
            Os::Sac(s) => s.detach(),
        }
    }

    /// Typed input: echoed (except passwords) and acted on at Enter.
    /// `unix_ms` is the wall clock (the SAC's `s` shows it).
    pub fn input(&mut self, now: Instant, unix_ms: u64, bytes: &[u8]) -> ConsoleOutput {
        if self.phase != Phase::Up {
            return ConsoleOutput::default();
        }
        match &mut self.os {
            Os::Sac(s) => {
                let (text, power) = s.input(now, unix_ms, bytes);
                ConsoleOutput {
                    text: text.into_bytes(),
                    power,
                }
            }
            Os::Linux(_) => ConsoleOutput {
                text: self.linux_input(bytes),
                power: None,
            },
        }
    }

    fn linux_input(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &b in bytes {
            let Os::Linux(l) = &mut self.os else {
                return out;
            };
            match b {
                b'\r' | b'\n' => {
                    out.extend_from_slice(b"\r\n");
                    let line = String::from_utf8_lossy(&l.line).trim().to_string();
                    l.line.clear();
                    match l.getty {
                        Getty::Login if !line.is_empty() => {
                            l.user = line.chars().take(32).collect();
                            l.getty = Getty::Password;
                        }
                        Getty::Password => {
                            out.extend_from_slice(b"Last login: on ttyS1\r\n");
                            l.getty = Getty::Shell;
                        }
                        Getty::Shell if line == "exit" || line == "logout" => {
                            l.getty = Getty::Login;
                        }
                        Getty::Shell if !line.is_empty() => {
                            let cmd = line.split_whitespace().next().unwrap_or("");
                            match cmd {
                                "hostname" => out
                                    .extend_from_slice(format!("{}\r\n", self.hostname).as_bytes()),
                                "whoami" => {
                                    out.extend_from_slice(format!("{}\r\n", l.user).as_bytes())
                                }
                                "echo" => out.extend_from_slice(
                                    format!("{}\r\n", line.get(4..).unwrap_or("").trim())
                                        .as_bytes(),
                                ),
                                _ => out.extend_from_slice(
                                    format!("-bash: {cmd}: command not found\r\n").as_bytes(),
                                ),
                            }
                        }
                        _ => {}
                    }
                    let p = self.linux_prompt();
                    out.extend_from_slice(p.trim_start_matches("\r\n").as_bytes());
                }
                0x7F | 0x08 => {
                    let erased = l.line.pop().is_some();
                    if erased && l.getty != Getty::Password {
                        out.extend_from_slice(b"\x08 \x08");
                    }
                }
                b if b >= 0x20 && l.line.len() < 256 => {
                    l.line.push(b);
                    if l.getty != Getty::Password {
                        out.push(b);
                    }
                }
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_acks_console_data_and_retransmits_until_acked() {
        let t0 = fakedc_model::Clock::new().now();
        let mut l = SolLink::new(Duration::from_millis(100), 2);
        let out = l.receive(t0, &[1, 0, 0, 0, b'a']);
        assert_eq!(out.input, b"a");
        assert_eq!(out.packets, vec![vec![0, 1, 1, 0]]);
        // A retransmission is ACKed again but not delivered twice.
        let again = l.receive(t0, &[1, 0, 0, 0, b'a']);
        assert!(again.input.is_empty());
        assert_eq!(again.packets.len(), 1);

        l.queue(b"hello");
        let out = l.poll(t0);
        assert_eq!(
            out.packets,
            vec![vec![1, 0, 0, 0, b'h', b'e', b'l', b'l', b'o']]
        );
        assert!(l.poll(t0 + Duration::from_millis(50)).packets.is_empty());
        assert_eq!(
            l.poll(t0 + Duration::from_millis(100)).packets.len(),
            1,
            "retransmit"
        );
        // ACK it: next chunk goes out.
        l.queue(b"!");
        let out = l.receive(t0, &[0, 1, 5, 0]);
        assert_eq!(out.packets, vec![vec![2, 0, 0, 0, b'!']]);
        // Never ACKed: gives up after the retry count.
        let t = t0 + Duration::from_secs(1);
        assert_eq!(l.poll(t).packets.len(), 1);
        assert_eq!(l.poll(t + Duration::from_secs(1)).packets.len(), 1);
        assert!(l.poll(t + Duration::from_secs(2)).packets.is_empty());
        assert!(l.idle());
    }

    #[test]
    fn console_boots_prompts_and_echoes() {
        let t0 = fakedc_model::Clock::new().now();
        let mut c = SerialConsole::new("esx01");
        let mut text = c.sync(t0, true, true, false, "pxe");
        let mut t = t0;
        for _ in 0..20 {
            t += Duration::from_millis(50);
            text.extend(c.sync(t, true, false, true, "pxe"));
        }
        let s = String::from_utf8(text).unwrap();
        assert!(s.starts_with("\r\nContoso Systems BIOS"), "{s}");
        assert!(s.contains("Boot device: pxe\r\n"), "{s}");
        assert!(s.contains("Booting esx01"), "{s}");
        assert!(s.ends_with("esx01 login: "), "{s}");
        let typed = |c: &mut SerialConsole, b: &[u8]| {
            let out = c.input(t, 0, b);
            assert_eq!(out.power, None);
            out.text
        };
        assert_eq!(typed(&mut c, b"root\r"), b"root\r\nPassword: ");
        assert_eq!(
            typed(&mut c, b"secret\r"),
            b"\r\nLast login: on ttyS1\r\n[root@esx01 ~]# "
        );
        assert_eq!(
            typed(&mut c, b"hostname\r"),
            b"hostname\r\nesx01\r\n[root@esx01 ~]# "
        );
        assert!(c.sync(t, false, false, false, "disk").is_empty());
        assert!(
            typed(&mut c, b"x").is_empty(),
            "nothing echoes with the power off"
        );
    }
}
