//! Chassis netfn (00h): power status and control, identify, restore
//! policy, restart cause, power-on hours and the system boot options.
//!
//! Boot option parameter 5 (boot flags) is the model's boot override: the
//! device selector, the persistent bit and the EFI bit map onto
//! [`BootOverride`], so `ipmitool chassis bootdev pxe options=persistent`
//! changes what SMASH and the control API see. The valid bit reads back as
//! written until the override changes elsewhere (a boot uses up a one-time
//! override); then it reads as "valid if a device is set". Parameters 0-4
//! and 6, and the other bits of parameter 5, are kept here and not acted on.

use super::{cc, need, CmdResponse, Command, Ctx, R};
use fakedc_model::{BootDevice, BootOverride, PowerAction, Privilege};
use std::time::Duration;

/// Boot option parameters the model doesn't hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootParams {
    /// Parameter 0: 0 set complete, 1 set in progress.
    pub set_in_progress: u8,
    /// Parameter 1.
    pub service_partition_selector: u8,
    /// Parameter 2.
    pub service_partition_scan: u8,
    /// Parameter 3: boot flag valid bit clearing.
    pub valid_bit_clearing: u8,
    /// Parameter 4: boot info acknowledge data.
    pub info_ack: u8,
    /// Parameter 5 bytes 2-5 without the device selector bits.
    pub flags_extra: [u8; 4],
    /// Parameter 6: channel, session id, timestamp of the last boot flags write.
    pub initiator: [u8; 9],
    /// The override the last parameter 5 write produced and its valid bit.
    last_written: Option<(BootOverride, bool)>,
}

pub(super) fn lookup(cmd: u8) -> Option<Command> {
    use Privilege::*;
    Some(match cmd {
        0x00 => Command::new("Get Chassis Capabilities", User, get_capabilities),
        0x01 => Command::new("Get Chassis Status", User, get_status),
        0x02 => Command::new("Chassis Control", Operator, control),
        0x04 => Command::new("Chassis Identify", Operator, identify),
        0x06 => Command::new("Set Power Restore Policy", Operator, set_restore_policy),
        0x07 => Command::new("Get System Restart Cause", User, get_restart_cause),
        0x08 => Command::new("Set System Boot Options", Operator, set_boot_option),
        0x09 => Command::new("Get System Boot Options", Operator, get_boot_option),
        0x0F => Command::new("Get POH Counter", User, get_poh),
        _ => return None,
    })
}

fn get_capabilities(ctx: &mut Ctx) -> R {
    need(ctx.data(), 0, 0)?;
    // Diagnostic interrupt supported; FRU, SDR, SEL and system management
    // device are all the BMC.
    Ok(CmdResponse::ok(vec![0x04, 0x20, 0x20, 0x20, 0x20]))
}

fn get_status(ctx: &mut Ctx) -> R {
    need(ctx.data(), 0, 0)?;
    let policy = ctx.state.power_restore_policy & 0x03;
    let now = ctx.now;
    let (on, last, identify) = ctx.with_chassis(|c| {
        let identify = if c.identify_forced {
            0x20
        } else if c.identify_on(now) {
            0x10
        } else {
            0x00
        };
        (c.power.power_on(), c.last_power_event, identify)
    });
    let current = u8::from(on) | (policy << 5);
    let last_event = match last {
        Some(PowerAction::On | PowerAction::Cycle | PowerAction::Reset) => 0x10,
        _ => 0x00,
    };
    // Misc: identify state supported (bit 6) and its state (bits 5:4).
    let misc = 0x40 | identify;
    Ok(CmdResponse::ok(vec![current, last_event, misc, 0x00]))
}

/// Chassis Control: 0 off, 1 on, 2 cycle, 3 hard reset, 4 diagnostic
/// interrupt (NMI), 5 soft (ACPI) shutdown.
fn control(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 1, 1)?;
    let action = match d[0] & 0x0F {
        0 => PowerAction::Off,
        1 => PowerAction::On,
        2 => PowerAction::Cycle,
        3 => PowerAction::Reset,
        4 => PowerAction::Nmi,
        5 => PowerAction::Soft,
        _ => return Err(cc::INVALID_FIELD),
    };
    let now = ctx.now;
    ctx.with_chassis(|c| c.power_action(action, now));
    Ok(CmdResponse::ok(Vec::new()))
}

/// Chassis Identify: no data = 15 s; interval in seconds (0 = off);
/// second byte bit 0 = force on indefinitely.
fn identify(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 0, 2)?;
    let forced = d.get(1).is_some_and(|b| b & 0x01 != 0);
    let interval = d.first().copied().unwrap_or(15);
    let until =
        (!forced && interval != 0).then(|| ctx.now + Duration::from_secs(u64::from(interval)));
    ctx.with_chassis(|c| {
        c.identify_forced = forced;
        c.identify_until = until;
    });
    Ok(CmdResponse::ok(Vec::new()))
}

fn set_restore_policy(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 1, 1)?;
    match d[0] & 0x07 {
        p @ 0..=2 => ctx.state.power_restore_policy = p,
        3 => {}
        _ => return Err(cc::INVALID_FIELD),
    }
    // Supported: always off, previous, always on.
    Ok(CmdResponse::ok(vec![0x07]))
}

fn get_restart_cause(ctx: &mut Ctx) -> R {
    need(ctx.data(), 0, 0)?;
    let last = ctx.with_chassis(|c| c.last_power_event);
    let out = match last {
        // "Chassis control command", on the LAN channel.
        Some(_) => vec![0x01, super::LAN_CHANNEL],
        None => vec![0x00, 0x00],
    };
    Ok(CmdResponse::ok(out))
}

fn get_poh(ctx: &mut Ctx) -> R {
    need(ctx.data(), 0, 0)?;
    let minutes = ctx.state.poh_minutes.clamp(0.0, f64::from(u32::MAX)) as u32;
    let mut out = vec![0x01]; // one minute per count
    out.extend_from_slice(&minutes.to_le_bytes());
    Ok(CmdResponse::ok(out))
}

/// Device selector bits (parameter 5, byte 2 bits 5:2) of a boot device.
fn device_bits(device: BootDevice) -> u8 {
    match device {
        BootDevice::None => 0x00,
        BootDevice::Pxe => 0x04,
        BootDevice::Disk => 0x08,
        BootDevice::Safe => 0x0C,
        BootDevice::Diag => 0x10,
        BootDevice::Cdrom => 0x14,
        BootDevice::Bios => 0x18,
        BootDevice::Floppy => 0x3C,
    }
}

/// The boot device of a device selector; remote media map to their local
/// counterparts, reserved values are `None`.
fn device_from_bits(bits: u8) -> Option<BootDevice> {
    Some(match bits & 0x3C {
        0x00 => BootDevice::None,
        0x04 => BootDevice::Pxe,
        0x08 | 0x2C => BootDevice::Disk,
        0x0C => BootDevice::Safe,
        0x10 => BootDevice::Diag,
        0x14 | 0x20 | 0x24 => BootDevice::Cdrom,
        0x18 => BootDevice::Bios,
        0x1C | 0x3C => BootDevice::Floppy,
        _ => return None,
    })
}

/// Parameter 5 as it reads now.
fn boot_flags(ctx: &Ctx) -> [u8; 5] {
    let b = ctx.with_chassis(|c| c.boot);
    let p = &ctx.state.boot;
    let (valid, extra) = match p.last_written {
        Some((w, valid)) if w == b => (valid, p.flags_extra),
        _ => (b.device != BootDevice::None, [0; 4]),
    };
    let byte1 = (u8::from(valid) << 7) | (u8::from(b.persistent) << 6) | (u8::from(b.efi) << 5);
    [
        byte1,
        (extra[0] & !0x3C) | device_bits(b.device),
        extra[1],
        extra[2],
        extra[3],
    ]
}

/// Get System Boot Options: parameter, set selector, block selector.
/// Answers `01h, parameter, data`; unknown parameters get 80h.
fn get_boot_option(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 3, 3)?;
    let param = d[0] & 0x7F;
    let p = &ctx.state.boot;
    let data: Vec<u8> = match param {
        0 => vec![p.set_in_progress],
        1 => vec![p.service_partition_selector],
        2 => vec![p.service_partition_scan],
        3 => vec![p.valid_bit_clearing],
        4 => vec![0x00, p.info_ack],
        5 => boot_flags(ctx).to_vec(),
        6 => p.initiator.to_vec(),
        _ => return Err(cc::PARAM_NOT_SUPPORTED),
    };
    let mut out = vec![0x01, param];
    out.extend_from_slice(&data);
    Ok(CmdResponse::ok(out))
}

/// Set System Boot Options: parameter (bit 7 = lock, ignored), data.
fn set_boot_option(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 1, 17)?;
    let param = d[0] & 0x7F;
    let v = &d[1..];
    let exact = |n: usize| -> Result<(), u8> {
        if v.len() == n {
            Ok(())
        } else if v.len() < n {
            Err(cc::DATA_LENGTH_INVALID)
        } else {
            Err(cc::DATA_LENGTH_EXCEEDED)
        }
    };
    match param {
        0 => {
            exact(1)?;
            // 0 complete, 1 in progress, 2 commit write (completes).
            ctx.state.boot.set_in_progress = match v[0] & 0x03 {
                0 | 2 => 0,
                1 => 1,
                _ => return Err(cc::INVALID_FIELD),
            };
        }
        1 => {
            exact(1)?;
            ctx.state.boot.service_partition_selector = v[0];
        }
        2 => {
            exact(1)?;
            ctx.state.boot.service_partition_scan = v[0] & 0x03;
        }
        3 => {
            exact(1)?;
            ctx.state.boot.valid_bit_clearing = v[0] & 0x1F;
        }
        4 => {
            exact(2)?;
            let (mask, bits) = (v[0] & 0x1F, v[1] & 0x1F);
            let ack = &mut ctx.state.boot.info_ack;
            *ack = (*ack & !mask) | (bits & mask);
        }
        5 => {
            exact(5)?;
            let device = device_from_bits(v[1]).ok_or(cc::INVALID_FIELD)?;
            let valid = v[0] & 0x80 != 0;
            let o = BootOverride {
                device: if valid { device } else { BootDevice::None },
                persistent: v[0] & 0x40 != 0,
                efi: v[0] & 0x20 != 0,
            };
            ctx.with_chassis(|c| c.set_boot(o));
            let p = &mut ctx.state.boot;
            p.last_written = Some((o, valid));
            p.flags_extra = [v[1] & !0x3C, v[2], v[3], v[4]];
            let mut init = [0u8; 9];
            init[0] = ctx.req.channel & 0x0F;
            init[1..5].copy_from_slice(&ctx.req.session_id.unwrap_or(0).to_le_bytes());
            init[5..9].copy_from_slice(&ctx.state.sel_now().to_le_bytes());
            ctx.state.boot.initiator = init;
        }
        6 => {
            exact(9)?;
            ctx.state.boot.initiator.copy_from_slice(v);
        }
        _ => return Err(cc::PARAM_NOT_SUPPORTED),
    }
    Ok(CmdResponse::ok(Vec::new()))
}
