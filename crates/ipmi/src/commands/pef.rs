//! Platform Event Filtering (IPMI v2.0 §30, Sensor/Event netfn 10h-15h):
//! capabilities, the postpone timer, the PEF configuration parameters
//! (revision 11h) with the event filter table, the alert policy table, the
//! system GUID and alert strings, and the last processed event ids.
//!
//! What ships is what a BMC leaves the factory with: PEF enabled, the
//! alert/power down/reset/power cycle actions globally allowed, 60 s
//! startup delays, a 16-entry filter table whose first eight entries are
//! pre-configured (temperature, voltage and fan critical thresholds, power
//! supply and power unit failures, uncorrectable memory errors, watchdog
//! actions, critical interrupts) and disabled, four disabled alert policies
//! (policy 1 to each of the LAN channel's four alert destinations) and two
//! empty alert strings. Everything writable is stored and read back.
//!
//! Evaluation (IPMI v2.0 §17.7–17.8): every system event record that enters
//! the SEL — from a Platform Event Message, the watchdog, Add SEL Entry or a
//! power change made through any front — is run through the enabled filters
//! when the BMC next polls its timers (before every command and at each
//! timer deadline). The matching filters' actions, masked by the globally
//! enabled ones, are taken in the spec's priority order: power down, then
//! power cycle, then reset, then diagnostic interrupt; only the first of
//! those applies. With "PEF action event messages" enabled (control bit 1)
//! the action is logged as a System Event / PEF Action record. A disabled
//! PEF skips records; a postponed PEF holds them until the timer ends.
//!
//! Deviations: alerts (PET traps to the LAN alert destinations) are not
//! sent — the journal says "alert not sent" — and the startup delays are
//! stored but not applied. Records from other fronts are seen at the BMC's
//! next poll, not at the instant they are logged.

use super::{cc, need, u16_le, BmcState, CmdResponse, Command, Ctx, R};
use fakedc_model::{EventKind, MachineId, Model, PowerAction, Privilege};
use std::time::{Duration, Instant};

/// Parameter revision of PEF configuration parameters.
const PARAM_REVISION: u8 = 0x11;
/// PEF version 1.5 (Get PEF Capabilities).
const PEF_VERSION: u8 = 0x51;
/// Actions supported and globally enabled bits: alert, power down, reset,
/// power cycle, OEM, diagnostic interrupt.
const ACTIONS_SUPPORTED: u8 = 0x3F;
/// Entries in the event filter table.
pub const FILTERS: usize = 16;
/// Entries in the alert policy table.
pub const POLICIES: usize = 4;
/// Non-volatile alert strings (set selectors 1..=N; 0 is the volatile one).
pub const ALERT_STRINGS: usize = 2;
/// Alert string blocks of 16 bytes per string.
const STRING_BLOCKS: usize = 8;
/// The LAN alert destinations the default policies point at.
const LAN_DESTINATIONS: u8 = 4;

/// The PEF postpone timer (Arm PEF Postpone Timer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Postpone {
    #[default]
    Off,
    /// PEF is postponed until this instant.
    Until(Instant),
    /// PEF is disabled until the timer is set again (FEh).
    Disabled,
}

/// PEF state the model doesn't hold: the configuration parameters and the
/// last processed event ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PefState {
    /// Parameter 0.
    pub set_in_progress: u8,
    /// Parameter 1: bit 0 PEF, 1 event messages for PEF actions, 2 startup
    /// delay, 3 alert startup delay.
    pub control: u8,
    /// Parameter 2: actions globally enabled (same bits as the
    /// capabilities' action support).
    pub action_control: u8,
    /// Parameters 3 and 4, in seconds.
    pub startup_delay: u8,
    pub alert_startup_delay: u8,
    /// Parameter 6: the event filter table, filter 1 first (20 bytes each).
    pub filters: Vec<[u8; 20]>,
    /// Parameter 9: the alert policy table, entry 1 first (3 bytes each).
    pub policies: Vec<[u8; 3]>,
    /// Parameter 10 as written (GUID-valid flag and GUID); `None` reads
    /// "use the system GUID" and the system GUID.
    pub system_guid: Option<[u8; 17]>,
    /// Parameter 12: alert string keys (event filter, string set) for set
    /// selectors 0..=N.
    pub string_keys: Vec<[u8; 2]>,
    /// Parameter 13: alert strings for set selectors 0..=N.
    pub strings: Vec<Vec<u8>>,
    /// Set Last Processed Event ID (software).
    pub sw_processed: u16,
    /// The last record the BMC processed (evaluation, or Set Last
    /// Processed Event ID (BMC)); `None` reads as the SEL's last record.
    pub bmc_processed: Option<u16>,
    pub postpone: Postpone,
    /// How many SEL entries (`EventLog::added`) evaluation has looked at;
    /// `None` until the first poll, which starts at the present log.
    pub seen: Option<u64>,
}

/// A pre-configured, disabled filter: alert through policy 1 on `sensor_type`
/// events of `trigger` matching `offsets`.
fn preconfigured(sensor_type: u8, trigger: u8, offsets: u16, severity: u8) -> [u8; 20] {
    let [lo, hi] = offsets.to_le_bytes();
    [
        0x40, // pre-configured, disabled
        0x01, // alert
        0x01, // policy 1, group control selector 0
        severity,
        0xFF, // any generator
        0xFF,
        sensor_type,
        0xFF, // any sensor number
        trigger,
        lo,
        hi,
        // Event data AND masks 00h: the data bytes do not matter.
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
    ]
}

/// Severity: critical / non-critical (PEF severities, Table 30-2).
const CRITICAL: u8 = 0x10;
const WARNING: u8 = 0x08;
/// Event triggers: threshold; sensor-specific.
const THRESHOLD: u8 = 0x01;
const SPECIFIC: u8 = 0x6F;
/// Lower critical going low (2) and upper critical going high (9).
const CRITICAL_THRESHOLDS: u16 = (1 << 2) | (1 << 9);

impl Default for PefState {
    fn default() -> Self {
        let mut filters = vec![
            preconfigured(0x01, THRESHOLD, CRITICAL_THRESHOLDS, CRITICAL),
            preconfigured(0x02, THRESHOLD, CRITICAL_THRESHOLDS, CRITICAL),
            preconfigured(0x04, THRESHOLD, CRITICAL_THRESHOLDS, CRITICAL),
            // Power supply failure detected.
            preconfigured(0x08, SPECIFIC, 1 << 1, CRITICAL),
            // Power unit: AC lost, failure detected.
            preconfigured(0x09, SPECIFIC, (1 << 4) | (1 << 6), CRITICAL),
            // Memory: uncorrectable ECC.
            preconfigured(0x0C, SPECIFIC, 1 << 1, CRITICAL),
            // Watchdog 2: reset, power down, power cycle.
            preconfigured(0x23, SPECIFIC, 0x000E, WARNING),
            // Critical interrupt: any.
            preconfigured(0x13, SPECIFIC, 0xFFFF, CRITICAL),
        ];
        filters.resize(FILTERS, [0u8; 20]);
        let policies = (1..=POLICIES as u8)
            .map(|i| {
                [
                    0x10, // policy 1, disabled, "always send to this destination"
                    (super::LAN_CHANNEL << 4) | (i.min(LAN_DESTINATIONS) & 0x0F),
                    0x00,
                ]
            })
            .collect();
        PefState {
            set_in_progress: 0,
            control: 0x01,
            action_control: 0x0F,
            startup_delay: 60,
            alert_startup_delay: 60,
            filters,
            policies,
            system_guid: None,
            string_keys: vec![[0, 0]; ALERT_STRINGS + 1],
            strings: vec![Vec::new(); ALERT_STRINGS + 1],
            sw_processed: 0x0000,
            bmc_processed: None,
            postpone: Postpone::Off,
            seen: None,
        }
    }
}

pub(super) fn lookup(cmd: u8) -> Option<Command> {
    use Privilege::*;
    Some(match cmd {
        0x10 => Command::new("Get PEF Capabilities", User, get_capabilities),
        0x11 => Command::new("Arm PEF Postpone Timer", Admin, arm_postpone),
        0x12 => Command::new("Set PEF Configuration Parameters", Admin, set_param),
        0x13 => Command::new("Get PEF Configuration Parameters", Operator, get_param),
        0x14 => Command::new("Set Last Processed Event ID", Admin, set_last_processed),
        0x15 => Command::new("Get Last Processed Event ID", Admin, get_last_processed),
        _ => return None,
    })
}

fn get_capabilities(ctx: &mut Ctx) -> R {
    need(ctx.data(), 0, 0)?;
    Ok(CmdResponse::ok(vec![
        PEF_VERSION,
        ACTIONS_SUPPORTED,
        FILTERS as u8,
    ]))
}

/// Seconds left on the postpone timer, rounded up.
fn postpone_left(until: Instant, now: Instant) -> u8 {
    let ms = until.saturating_duration_since(now).as_millis();
    ms.div_ceil(1000).min(0xFD) as u8
}

/// Arm PEF Postpone Timer: 00h disable, 01h-FDh postpone that many
/// seconds, FEh disable PEF until the timer is set again, FFh read.
/// Answers the present countdown (FEh while disabled).
fn arm_postpone(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 1, 1)?;
    let now = ctx.now;
    let p = &mut ctx.state.pef.postpone;
    match d[0] {
        0x00 => *p = Postpone::Off,
        0xFE => *p = Postpone::Disabled,
        0xFF => {}
        s => *p = Postpone::Until(now + Duration::from_secs(u64::from(s))),
    }
    let left = match *p {
        Postpone::Off => 0,
        Postpone::Disabled => 0xFE,
        Postpone::Until(t) => postpone_left(t, now),
    };
    Ok(CmdResponse::ok(vec![left]))
}

/// Checks a 1-based table selector (bits 6:0) against `count` entries.
fn entry(selector: u8, count: usize) -> Result<usize, u8> {
    let i = usize::from(selector & 0x7F);
    if i == 0 || i > count {
        Err(cc::PARAM_OUT_OF_RANGE)
    } else {
        Ok(i - 1)
    }
}

/// Checks a 0-based set selector (bits 6:0; 0 is the volatile set).
fn set(selector: u8, count: usize) -> Result<usize, u8> {
    let i = usize::from(selector & 0x7F);
    if i > count {
        Err(cc::PARAM_OUT_OF_RANGE)
    } else {
        Ok(i)
    }
}

/// Get PEF Configuration Parameters: parameter (bit 7 = revision only),
/// set selector, block selector.
fn get_param(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 3, 3)?;
    let (param, sel, block) = (d[0] & 0x7F, d[1], d[2]);
    let p = &ctx.state.pef;
    let value: Vec<u8> = match param {
        0 => vec![p.set_in_progress],
        1 => vec![p.control],
        2 => vec![p.action_control],
        3 => vec![p.startup_delay],
        4 => vec![p.alert_startup_delay],
        5 => vec![FILTERS as u8],
        6 => {
            let i = entry(sel, FILTERS)?;
            let mut v = vec![sel & 0x7F];
            v.extend_from_slice(&p.filters[i]);
            v
        }
        7 => {
            let i = entry(sel, FILTERS)?;
            vec![sel & 0x7F, p.filters[i][0]]
        }
        8 => vec![POLICIES as u8],
        9 => {
            let i = entry(sel, POLICIES)?;
            let mut v = vec![sel & 0x7F];
            v.extend_from_slice(&p.policies[i]);
            v
        }
        10 => match p.system_guid {
            Some(g) => g.to_vec(),
            None => {
                let mut v = vec![0x00];
                v.extend_from_slice(&ctx.with_chassis(|c| c.hardware.smbios_guid));
                v
            }
        },
        11 => vec![ALERT_STRINGS as u8],
        12 => {
            let i = set(sel, ALERT_STRINGS)?;
            vec![sel & 0x7F, p.string_keys[i][0], p.string_keys[i][1]]
        }
        13 => {
            let i = set(sel, ALERT_STRINGS)?;
            if block == 0 || usize::from(block) > STRING_BLOCKS {
                return Err(cc::PARAM_OUT_OF_RANGE);
            }
            let at = (usize::from(block) - 1) * 16;
            let mut v = vec![sel & 0x7F, block];
            v.extend((0..16).map(|k| p.strings[i].get(at + k).copied().unwrap_or(0)));
            v
        }
        _ => return Err(cc::PARAM_NOT_SUPPORTED),
    };
    let mut out = vec![PARAM_REVISION];
    if d[0] & 0x80 == 0 {
        out.extend_from_slice(&value);
    }
    Ok(CmdResponse::ok(out))
}

/// Set PEF Configuration Parameters: parameter, data. Read-only parameters
/// (the table sizes) answer 82h, unsupported ones 80h.
fn set_param(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 1, 22)?;
    let param = d[0] & 0x7F;
    let v = &d[1..];
    let exact = |n: usize| -> Result<(), u8> {
        match v.len() {
            l if l < n => Err(cc::DATA_LENGTH_INVALID),
            l if l > n => Err(cc::DATA_LENGTH_EXCEEDED),
            _ => Ok(()),
        }
    };
    match param {
        5 | 8 | 11 => return Err(0x82),
        0..=13 => {}
        _ => return Err(cc::PARAM_NOT_SUPPORTED),
    }
    let p = &mut ctx.state.pef;
    match param {
        0 => {
            exact(1)?;
            p.set_in_progress = match v[0] & 0x03 {
                0 | 2 => 0,
                1 => 1,
                _ => return Err(cc::INVALID_FIELD),
            };
        }
        1 => {
            exact(1)?;
            p.control = v[0] & 0x0F;
        }
        2 => {
            exact(1)?;
            p.action_control = v[0] & ACTIONS_SUPPORTED;
        }
        3 => {
            exact(1)?;
            p.startup_delay = v[0];
        }
        4 => {
            exact(1)?;
            p.alert_startup_delay = v[0];
        }
        6 => {
            exact(21)?;
            let i = entry(v[0], FILTERS)?;
            let f = &mut p.filters[i];
            f.copy_from_slice(&v[1..21]);
            f[0] &= 0xE0;
        }
        7 => {
            exact(2)?;
            let i = entry(v[0], FILTERS)?;
            p.filters[i][0] = v[1] & 0xE0;
        }
        9 => {
            exact(4)?;
            let i = entry(v[0], POLICIES)?;
            p.policies[i].copy_from_slice(&v[1..4]);
        }
        10 => {
            exact(17)?;
            let mut g = [0u8; 17];
            g.copy_from_slice(v);
            g[0] &= 0x01;
            p.system_guid = Some(g);
        }
        12 => {
            exact(3)?;
            let i = set(v[0], ALERT_STRINGS)?;
            p.string_keys[i] = [v[1] & 0x7F, v[2] & 0x7F];
        }
        13 => {
            if v.len() < 3 {
                return Err(cc::DATA_LENGTH_INVALID);
            }
            let i = set(v[0], ALERT_STRINGS)?;
            let block = usize::from(v[1]);
            if block == 0 || block > STRING_BLOCKS {
                return Err(cc::PARAM_OUT_OF_RANGE);
            }
            let data = &v[2..];
            let at = (block - 1) * 16;
            let s = &mut p.strings[i];
            if s.len() < at + data.len() {
                s.resize(at + data.len(), 0);
            }
            s[at..at + data.len()].copy_from_slice(data);
        }
        _ => return Err(cc::PARAM_NOT_SUPPORTED),
    }
    Ok(CmdResponse::ok(Vec::new()))
}

/// The SEL's last record id and last addition time (SEL clock), or
/// (FFFFh, FFFFFFFFh) when the SEL is empty / never added to.
fn sel_last(ctx: &Ctx) -> (u16, u32) {
    let (last, added) =
        ctx.with_chassis(|c| (c.log.entries().back().map(|e| e.id), c.log.last_add));
    let stamp = if added == 0 {
        0xFFFF_FFFF
    } else {
        ctx.state.sel_time(added)
    };
    (last.unwrap_or(0xFFFF), stamp)
}

/// Get Last Processed Event ID: most recent addition time, last SEL
/// record id, last software- and BMC-processed record ids.
fn get_last_processed(ctx: &mut Ctx) -> R {
    need(ctx.data(), 0, 0)?;
    let (last, stamp) = sel_last(ctx);
    let p = &ctx.state.pef;
    let bmc = p.bmc_processed.unwrap_or(last);
    let mut out = stamp.to_le_bytes().to_vec();
    out.extend_from_slice(&last.to_le_bytes());
    out.extend_from_slice(&p.sw_processed.to_le_bytes());
    out.extend_from_slice(&bmc.to_le_bytes());
    Ok(CmdResponse::ok(out))
}

/// Set Last Processed Event ID: bit 0 of byte 1 selects software (0) or
/// BMC (1), then the record id.
fn set_last_processed(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 3, 3)?;
    let id = u16_le(d, 1);
    if d[0] & 0x01 == 0 {
        ctx.state.pef.sw_processed = id;
    } else {
        ctx.state.pef.bmc_processed = Some(id);
    }
    Ok(CmdResponse::ok(Vec::new()))
}

/// Filter actions (byte 2 of an event filter entry).
const ACTION_ALERT: u8 = 0x01;
const ACTION_POWER_DOWN: u8 = 0x02;
const ACTION_RESET: u8 = 0x04;
const ACTION_POWER_CYCLE: u8 = 0x08;
const ACTION_DIAG_INTERRUPT: u8 = 0x20;
/// Sensor type System Event (12h), offset 04h "PEF Action".
const SYSTEM_EVENT: u8 = 0x12;

/// One data byte against a filter's AND mask, compare 1 and compare 2
/// (§17.8): bits with compare 1 set must equal compare 2 exactly; among
/// the masked bits with compare 1 clear, at least one must equal its bit
/// in compare 2 (when there are any).
fn data_matches(data: u8, and: u8, compare1: u8, compare2: u8) -> bool {
    let value = data & and;
    let exact = compare1 & and;
    if value & exact != compare2 & exact {
        return false;
    }
    let any = and & !compare1;
    any == 0 || (!(value ^ compare2) & any) != 0
}

/// Whether `filter` (20 bytes, enabled or not) matches the system event
/// record `r` (16 bytes, type 02h).
fn filter_matches(f: &[u8; 20], r: &[u8; 16]) -> bool {
    let any = |want: u8, have: u8| want == 0xFF || want == have;
    let offset = r[13] & 0x0F;
    let offsets = u16::from_le_bytes([f[9], f[10]]);
    any(f[4], r[7])
        && any(f[5], r[8])
        && any(f[6], r[10])
        && any(f[7], r[11])
        && any(f[8], r[12] & 0x7F)
        && offsets & (1 << offset) != 0
        && data_matches(r[13], f[11], f[12], f[13])
        && data_matches(r[14], f[14], f[15], f[16])
        && data_matches(r[15], f[17], f[18], f[19])
}

/// The one power-type action the BMC takes for `actions`, by priority.
fn power_action(actions: u8) -> Option<(PowerAction, &'static str, u8)> {
    [
        (ACTION_POWER_DOWN, PowerAction::Off, "power down", 0x01),
        (ACTION_POWER_CYCLE, PowerAction::Cycle, "power cycle", 0x02),
        (ACTION_RESET, PowerAction::Reset, "reset", 0x03),
        (
            ACTION_DIAG_INTERRUPT,
            PowerAction::Nmi,
            "diagnostic interrupt",
            0x05,
        ),
    ]
    .into_iter()
    .find(|(bit, ..)| actions & bit != 0)
    .map(|(_, a, name, code)| (a, name, code))
}

impl BmcState {
    /// Runs the SEL records added since the last poll through the event
    /// filter table and takes the actions they call for (module docs).
    /// Returns journal lines, one per record that matched.
    pub(crate) fn poll_pef(&mut self, model: &Model, bmc: MachineId, now: Instant) -> Vec<String> {
        if let Postpone::Until(t) = self.pef.postpone {
            if now < t {
                return Vec::new();
            }
            self.pef.postpone = Postpone::Off;
        }
        let held = self.pef.postpone == Postpone::Disabled;
        let chassis = model.machine(bmc).chassis;
        let (added, pending) = model.with_chassis(chassis, now, |c| {
            let added = c.log.added();
            let seen = *self.pef.seen.get_or_insert(added);
            if seen == added {
                // The common case, on every command: nothing new.
                return (added, Vec::new());
            }
            let new = usize::try_from(added.saturating_sub(seen)).unwrap_or(usize::MAX);
            let entries = c.log.entries();
            let start = entries.len().saturating_sub(new);
            let mut last_boot = None;
            let mut pending = Vec::new();
            for (i, e) in entries.iter().enumerate() {
                if let EventKind::BootStarted { device } = e.kind {
                    last_boot = Some(device);
                }
                if i >= start {
                    pending.push(super::sel::record(e, self.sel_time(e.timestamp), last_boot));
                }
            }
            (added, pending)
        });
        if held || pending.is_empty() {
            return Vec::new();
        }
        self.pef.seen = Some(added);
        let mut lines = Vec::new();
        let enabled = self.pef.control & 0x01 != 0;
        for r in &pending {
            let id = u16::from_le_bytes([r[0], r[1]]);
            self.pef.bmc_processed = Some(id);
            if !enabled || r[2] != 0x02 {
                continue;
            }
            let mut actions = 0u8;
            let mut matched = Vec::new();
            for (n, f) in self.pef.filters.iter().enumerate() {
                if f[0] & 0x80 != 0 && filter_matches(f, r) {
                    actions |= f[1];
                    matched.push(n + 1);
                }
            }
            if matched.is_empty() {
                continue;
            }
            let allowed = actions & self.pef.action_control;
            let mut did = Vec::new();
            if let Some((action, name, code)) = power_action(allowed) {
                let log_it = self.pef.control & 0x02 != 0;
                model.with_chassis(chassis, now, |c| {
                    if log_it {
                        let mut body = [0u8; 13];
                        body[4] = super::sdr::BMC_ADDR;
                        body[6] = 0x04;
                        body[7] = SYSTEM_EVENT;
                        body[8] = 0xFF;
                        body[9] = 0x6F;
                        body[10] = 0xA4; // offset 04h, data 2 = action
                        body[11] = code;
                        body[12] = 0xFF;
                        c.log.push(EventKind::Raw {
                            record_type: 0x02,
                            body,
                        });
                    }
                    if c.power.power_on() || action == PowerAction::Nmi {
                        c.power_action(action, now);
                    }
                });
                did.push(name);
            }
            if allowed & ACTION_ALERT != 0 {
                did.push("alert not sent (PET alerts are not built)");
            }
            if did.is_empty() {
                did.push("no action enabled");
            }
            lines.push(format!(
                "record {id:04X} matched filter {}: {}",
                matched
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
                did.join(", ")
            ));
        }
        lines
    }

    /// When a postponed PEF resumes, if it is postponed.
    pub(crate) fn pef_deadline(&self) -> Option<Instant> {
        match self.pef.postpone {
            Postpone::Until(t) => Some(t),
            _ => None,
        }
    }
}

#[cfg(test)]
mod eval_tests {
    use super::*;

    #[test]
    fn data_bytes_match_by_and_mask_and_compares() {
        // AND mask 0: the byte does not matter.
        assert!(data_matches(0x5A, 0x00, 0x00, 0x00));
        // Exact bits.
        assert!(data_matches(0x5A, 0xF0, 0xF0, 0x50));
        assert!(!data_matches(0x5A, 0xF0, 0xF0, 0x60));
        // Any-of bits: at least one of the masked bits equals compare 2.
        assert!(data_matches(0x01, 0x03, 0x00, 0x03));
        assert!(!data_matches(0x00, 0x03, 0x00, 0x03));
    }

    #[test]
    fn filters_match_on_sensor_type_trigger_and_offset() {
        let mut f = [0u8; 20];
        f[0] = 0x80;
        f[1] = ACTION_POWER_DOWN;
        f[4] = 0xFF;
        f[5] = 0xFF;
        f[6] = 0x01; // temperature
        f[7] = 0xFF;
        f[8] = 0x01; // threshold
        f[9..11].copy_from_slice(&(1u16 << 9).to_le_bytes()); // upper critical going high
        let mut r = [0u8; 16];
        r[2] = 0x02;
        r[7] = 0x41;
        r[10] = 0x01;
        r[11] = 0x30;
        r[12] = 0x01;
        r[13] = 0x59; // offset 9 with flags in the top bits
        assert!(filter_matches(&f, &r));
        r[13] = 0x57;
        assert!(!filter_matches(&f, &r), "offset 7 is not in the mask");
        r[13] = 0x59;
        r[12] = 0x81; // deassertion: direction is not part of the trigger
        assert!(filter_matches(&f, &r));
        r[10] = 0x02;
        assert!(!filter_matches(&f, &r), "voltage, not temperature");
    }

    #[test]
    fn power_actions_go_by_priority() {
        assert_eq!(
            power_action(ACTION_RESET | ACTION_POWER_DOWN).map(|a| a.0),
            Some(PowerAction::Off)
        );
        assert_eq!(
            power_action(ACTION_RESET | ACTION_POWER_CYCLE).map(|a| a.0),
            Some(PowerAction::Cycle)
        );
        assert_eq!(power_action(ACTION_ALERT), None);
    }
}
