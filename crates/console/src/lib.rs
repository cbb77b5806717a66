//! A VM's console as a screen of pixels, rendered from the model.
//!
//! Why a crate of its own: two views show the same screen, VMConnect
//! (`fakedc-rdp`, bitmap updates) and the control API's
//! `/machines/{vm}/console.png` (crate `fakedc`), and the issue asks that
//! they match pixel for pixel. The control API may not name protocol
//! crates (one list of protocols), so the renderer lives here and both
//! call it.
//!
//! What the screen shows follows the VM's chassis: dark while off, the
//! Hyper-V firmware screen and a boot log while booting (lines appear as
//! the boot progresses, by the model's clock), a text login prompt while
//! on, the shutdown messages while shutting down. Keys typed on a console
//! (through RDP) edit the prompt's line; the typed line is console
//! bookkeeping, kept per VM in [`Consoles`], and forgotten when the VM
//! stops running.

mod png;

pub use png::png_rgb;

use fakedc_model::{ChassisId, Machine, MachineId, Model, PowerState, Role, Vm};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

/// The console's size: what a Hyper-V Generation 2 VM's video shows by
/// default.
pub const WIDTH: u16 = 1024;
pub const HEIGHT: u16 = 768;
/// A character cell: the 8×8 font drawn with doubled rows, the VGA text
/// mode's 8×16 cell.
pub const CELL_W: usize = 8;
pub const CELL_H: usize = 16;
pub const COLS: usize = WIDTH as usize / CELL_W;
pub const ROWS: usize = HEIGHT as usize / CELL_H;
/// The longest line a user can type at the prompt (Linux's tty line
/// buffer is 4095; a screen line is enough here).
pub const MAX_INPUT: usize = COLS - 24;

const FG: u32 = 0x00aa_aaaa;
const BRIGHT: u32 = 0x00ff_ffff;
const BG: u32 = 0x0000_0000;
const BANNER_BG: u32 = 0x0000_00aa;

/// A rendered screen: `width × height` pixels, row by row from the top,
/// each `0x00RRGGBB`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub width: u16,
    pub height: u16,
    pub pixels: Vec<u32>,
}

impl Frame {
    fn blank() -> Frame {
        Frame {
            width: WIDTH,
            height: HEIGHT,
            pixels: vec![BG; usize::from(WIDTH) * usize::from(HEIGHT)],
        }
    }

    /// The pixel at (x, y); black outside the frame.
    pub fn pixel(&self, x: usize, y: usize) -> u32 {
        if x >= usize::from(self.width) {
            return BG;
        }
        self.pixels
            .get(y * usize::from(self.width) + x)
            .copied()
            .unwrap_or(BG)
    }

    fn fill_row(&mut self, row: usize, color: u32) {
        let w = usize::from(self.width);
        let start = row * CELL_H * w;
        let end = ((row + 1) * CELL_H * w).min(self.pixels.len());
        if let Some(s) = self.pixels.get_mut(start..end) {
            s.fill(color);
        }
    }

    fn text(&mut self, row: usize, col: usize, s: &str, fg: u32) {
        let w = usize::from(self.width);
        for (i, ch) in s.chars().enumerate() {
            let c = col + i;
            if c >= COLS || row >= ROWS {
                break;
            }
            let code = u32::from(ch);
            let glyph = if code < 128 {
                font8x8::legacy::BASIC_LEGACY[code as usize]
            } else {
                font8x8::legacy::BASIC_LEGACY[usize::from(b'?')]
            };
            for (gy, bits) in glyph.iter().enumerate() {
                for gx in 0..8 {
                    if bits & (1 << gx) == 0 {
                        continue;
                    }
                    for dy in 0..2 {
                        let y = row * CELL_H + gy * 2 + dy;
                        let x = c * CELL_W + gx;
                        if let Some(p) = self.pixels.get_mut(y * w + x) {
                            *p = fg;
                        }
                    }
                }
            }
        }
    }

    /// The frame as a PNG (8-bit RGB).
    pub fn png(&self) -> Vec<u8> {
        let mut rgb = Vec::with_capacity(self.pixels.len() * 3);
        for p in &self.pixels {
            rgb.extend_from_slice(&[(p >> 16) as u8, (p >> 8) as u8, *p as u8]);
        }
        png_rgb(u32::from(self.width), u32::from(self.height), &rgb)
    }
}

/// A key as the console understands it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Enter,
    Backspace,
    /// Ctrl+Alt+Del: a Linux console reboots (systemd's
    /// ctrl-alt-del.target); the caller asks the model for the reset.
    CtrlAltDel,
}

/// A VM found by name or id, with the host it runs on.
#[derive(Debug, Clone)]
pub struct VmRef {
    pub host: MachineId,
    pub vm: Vm,
    /// The guest's host name (the guest machine's name, else the VM's).
    pub hostname: String,
}

/// Finds a VM by its name, its id (Msvm_ComputerSystem.Name, any case) or
/// its guest machine's name.
pub fn find_vm(model: &Model, name: &str) -> Option<VmRef> {
    for m in model.machines() {
        if m.role != Role::HypervHost {
            continue;
        }
        for vm in &m.vms {
            let guest = vm.guest.map(|g| model.machine(g));
            if vm.id.eq_ignore_ascii_case(name)
                || vm.name.eq_ignore_ascii_case(name)
                || guest.is_some_and(|g| g.name.eq_ignore_ascii_case(name))
            {
                return Some(vm_ref(m, vm, guest));
            }
        }
    }
    None
}

/// A VM of one host by id (what VMConnect's preconnection PDU names).
pub fn vm_of_host(model: &Model, host: MachineId, id: &str) -> Option<VmRef> {
    let m = model.machine(host);
    m.vms
        .iter()
        .find(|vm| vm.id.eq_ignore_ascii_case(id))
        .map(|vm| vm_ref(m, vm, vm.guest.map(|g| model.machine(g))))
}

fn vm_ref(host: &Machine, vm: &Vm, guest: Option<&Machine>) -> VmRef {
    VmRef {
        host: host.id,
        vm: vm.clone(),
        hostname: guest
            .map(|g| g.name.clone())
            .unwrap_or_else(|| vm.name.clone())
            .to_ascii_lowercase(),
    }
}

/// Where the login prompt is.
#[derive(Debug, Clone, Default)]
enum Prompt {
    #[default]
    Login,
    Password,
}

/// One VM's console bookkeeping: lines printed since the last prompt
/// appeared, the line being typed, and how many keys were typed.
#[derive(Debug, Clone, Default)]
struct TextState {
    history: Vec<String>,
    input: String,
    prompt: Prompt,
    keys: u64,
}

/// Every VM's console of one model.
#[derive(Default)]
pub struct Consoles {
    state: Mutex<HashMap<ChassisId, TextState>>,
}

/// The consoles of `model`, made on first use. Why a registry keyed by the
/// model: the model crate holds machine state only (power, boot, users),
/// and a typed line is console bookkeeping; the control API and the RDP
/// service both reach the same consoles from the model they share. A
/// dropped model's entry is dead (its `Weak` no longer upgrades), so a new
/// model at the same address never sees another one's consoles.
pub fn consoles(model: &Arc<Model>) -> Arc<Consoles> {
    static ALL: Mutex<Vec<(Weak<Model>, Arc<Consoles>)>> = Mutex::new(Vec::new());
    let mut all = ALL.lock().unwrap_or_else(|p| p.into_inner());
    all.retain(|(w, _)| w.strong_count() > 0);
    if let Some((_, c)) = all
        .iter()
        .find(|(w, _)| std::ptr::eq(w.as_ptr(), Arc::as_ptr(model)))
    {
        return c.clone();
    }
    let c = Arc::new(Consoles::default());
    all.push((Arc::downgrade(model), c.clone()));
    c
}

impl Consoles {
    fn with<R>(&self, chassis: ChassisId, f: impl FnOnce(&mut TextState) -> R) -> R {
        let mut m = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(m.entry(chassis).or_default())
    }

    /// Feeds one key to a VM's console. Keys reach the prompt only while
    /// the VM runs (a firmware screen or a dark screen swallows them).
    /// Returns whether the key asked for a reboot (Ctrl+Alt+Del).
    pub fn key(&self, model: &Model, vm: &VmRef, key: Key, now: Instant) -> bool {
        let power = model.chassis(vm.vm.chassis, now).power;
        if power != PowerState::On {
            return false;
        }
        self.with(vm.vm.chassis, |t| {
            t.keys = t.keys.saturating_add(1);
            match key {
                Key::Char(c) if !c.is_control() => {
                    if t.input.chars().count() < MAX_INPUT {
                        t.input.push(c);
                    }
                }
                Key::Char(_) => {}
                Key::Backspace => {
                    t.input.pop();
                }
                Key::Enter => {
                    let line = std::mem::take(&mut t.input);
                    match t.prompt {
                        Prompt::Login if line.is_empty() => {
                            t.history.push(format!("{} login: ", vm.hostname));
                        }
                        Prompt::Login => {
                            t.history.push(format!("{} login: {line}", vm.hostname));
                            t.prompt = Prompt::Password;
                        }
                        Prompt::Password => {
                            // Nothing is echoed at the password prompt, and
                            // no account logs in on a console nobody can
                            // see the other side of.
                            t.history.push("Password: ".into());
                            t.history.push(String::new());
                            t.history.push("Login incorrect".into());
                            t.prompt = Prompt::Login;
                        }
                    }
                    let keep = ROWS.saturating_sub(6);
                    if t.history.len() > keep {
                        let cut = t.history.len() - keep;
                        t.history.drain(..cut);
                    }
                }
                Key::CtrlAltDel => return true,
            }
            false
        })
    }

    /// Keys typed on a VM's console so far (counted for the journal, never
    /// logged).
    pub fn keys_typed(&self, chassis: ChassisId) -> u64 {
        self.with(chassis, |t| t.keys)
    }

    /// A value that changes whenever what [`Consoles::render`] would draw
    /// changes (power state, boot log lines shown, keys fed), so a viewer
    /// that polls (VMConnect's frame tick) renders only when it differs.
    pub fn state_key(&self, model: &Model, vm: &VmRef, now: Instant) -> (u8, u128, u64) {
        let c = model.chassis(vm.vm.chassis, now);
        let keys = self.with(vm.vm.chassis, |t| t.keys);
        match c.power {
            PowerState::Off | PowerState::Cycling { .. } => (0, 0, 0),
            PowerState::Booting { until } => {
                let total = c.timing.boot_delay.as_millis().max(1);
                let left = until.saturating_duration_since(now).as_millis();
                let lines = boot_log(vm).len() as u128 * total.saturating_sub(left) / total;
                (1, lines, 0)
            }
            PowerState::On => (2, 0, keys),
            PowerState::ShuttingDown { .. } => (3, 0, 0),
        }
    }

    /// What the VM's console shows at `now`.
    pub fn render(&self, model: &Model, vm: &VmRef, now: Instant) -> Frame {
        let c = model.chassis(vm.vm.chassis, now);
        let mut f = Frame::blank();
        match c.power {
            PowerState::Off | PowerState::Cycling { .. } => {
                // Dark, and whatever was typed is gone with the guest.
                self.with(vm.vm.chassis, |t| {
                    let keys = t.keys;
                    *t = TextState {
                        keys,
                        ..TextState::default()
                    };
                });
            }
            PowerState::Booting { until } => {
                let total = c.timing.boot_delay.as_millis().max(1);
                let left = until.saturating_duration_since(now).as_millis();
                let done = total.saturating_sub(left);
                firmware(&mut f, vm);
                let lines = boot_log(vm);
                let n = (lines.len() as u128 * done / total) as usize;
                for (i, l) in lines.iter().take(n).enumerate() {
                    f.text(6 + i, 0, l, FG);
                }
            }
            PowerState::On => {
                let t = self.with(vm.vm.chassis, |t| t.clone());
                f.text(
                    0,
                    0,
                    &format!("Debian GNU/Linux 12 {} tty1", vm.hostname),
                    FG,
                );
                let mut row = 2;
                for l in &t.history {
                    f.text(row, 0, l, FG);
                    row += 1;
                }
                let (prompt, echo) = match t.prompt {
                    Prompt::Login => (format!("{} login: ", vm.hostname), t.input.clone()),
                    Prompt::Password => ("Password: ".to_string(), String::new()),
                };
                let line = format!("{prompt}{echo}");
                f.text(row, 0, &line, FG);
                f.text(row, line.chars().count(), "_", FG);
            }
            PowerState::ShuttingDown { .. } => {
                f.text(0, 0, "[  OK  ] Stopped target Multi-User System.", FG);
                f.text(1, 0, "[  OK  ] Reached target System Shutdown.", FG);
                f.text(2, 0, "[  OK  ] Reached target Final Step.", FG);
                f.text(3, 0, "[  OK  ] Finished System Power Off.", FG);
                f.text(4, 0, "[  OK  ] Reached target System Power Off.", FG);
                f.text(5, 0, "reboot: Power down", FG);
            }
        }
        f
    }
}

/// The Hyper-V UEFI boot summary, at the top of the screen.
fn firmware(f: &mut Frame, vm: &VmRef) {
    f.fill_row(0, BANNER_BG);
    f.text(0, 1, "Microsoft Hyper-V UEFI", BRIGHT);
    f.text(1, 0, "Virtual Machine", FG);
    f.text(
        2,
        0,
        &format!("Virtual Machine ID: {}", vm.vm.id.to_uppercase()),
        FG,
    );
    f.text(3, 0, "Boot Summary", BRIGHT);
    f.text(
        4,
        0,
        "1. SCSI Disk (0,0)  The boot loader loaded successfully.",
        FG,
    );
}

/// A Linux boot log, as the kernel and systemd print it on a Hyper-V VM.
fn boot_log(vm: &VmRef) -> Vec<String> {
    vec![
        "[    0.000000] Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org)".into(),
        "[    0.000000] Command line: BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=/dev/sda2 ro quiet".into(),
        "[    0.000000] Hypervisor detected: Microsoft Hyper-V".into(),
        "[    0.000000] Hyper-V: privilege flags low 0x2e7f, high 0x3b8030, hints 0x24e24".into(),
        "[    0.412093] hv_vmbus: Vmbus version:5.3".into(),
        "[    0.498211] hv_storvsc: scsi0: storvsc_host_t".into(),
        "[    0.731054] hv_netvsc: eth0: VF slot 1 added".into(),
        "[    1.102377] EXT4-fs (sda2): mounted filesystem with ordered data mode.".into(),
        "[  OK  ] Started systemd-journald.service - Journal Service.".into(),
        "[  OK  ] Reached target local-fs.target - Local File Systems.".into(),
        "[  OK  ] Started hv-kvp-daemon.service - Hyper-V KVP Protocol Daemon.".into(),
        "[  OK  ] Reached target network-online.target - Network is Online.".into(),
        format!("[  OK  ] Started ssh.service - OpenBSD Secure Shell server on {}.", vm.hostname),
        "[  OK  ] Started getty@tty1.service - Getty on tty1.".into(),
        "[  OK  ] Reached target multi-user.target - Multi-User System.".into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_draws_font_pixels() {
        let mut f = Frame::blank();
        f.text(0, 0, "H", FG);
        assert!(f.pixels.contains(&FG));
        let lit = f.pixels.iter().filter(|p| **p == FG).count();
        // 'H' in the 8x8 font has 22 lit pixels, doubled vertically.
        assert_eq!(lit % 2, 0);
        assert!(lit > 20);
    }

    #[test]
    fn png_has_signature_and_chunks() {
        let f = Frame::blank();
        let png = f.png();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        assert!(png.windows(4).any(|w| w == b"IDAT"));
        assert_eq!(&png[png.len() - 8..png.len() - 4], b"IEND");
    }
}
