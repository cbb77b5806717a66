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
//! Deviation: the configuration is not evaluated. No filter ever matches an
//! event, so no alert is sent and no PEF action is taken; the BMC reports
//! every SEL record as processed (Get Last Processed Event ID).

use super::{cc, need, u16_le, CmdResponse, Command, Ctx, R};
use fakedc_model::Privilege;
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
    /// Set Last Processed Event ID (BMC), with the SEL's last record id
    /// when it was set: once another record arrives, the BMC has processed
    /// that one.
    pub bmc_processed: Option<(u16, u16)>,
    pub postpone: Postpone,
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
    let bmc = match p.bmc_processed {
        Some((id, seen)) if seen == last => id,
        _ => last,
    };
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
        let (last, _) = sel_last(ctx);
        ctx.state.pef.bmc_processed = Some((id, last));
    }
    Ok(CmdResponse::ok(Vec::new()))
}
