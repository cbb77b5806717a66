//! System Event Log (Storage netfn 40h-49h): the chassis event log as
//! 16-byte SEL records.
//!
//! Model events become standard system event records (type 02h, generator
//! 0020h = the BMC, EvM rev 04h, sensor-specific event type 6Fh, assertion)
//! on the event-only sensors declared in the SDR (see `sdr.rs`), so
//! `ipmitool sel elist` names them:
//!
//! | model event                 | sensor type              | offset / data          |
//! |-----------------------------|--------------------------|------------------------|
//! | PowerOn                     | 22h System ACPI Power    | 00h S0/G0 working      |
//! | PowerOff (hard)             | 09h Power Unit           | 00h power off/down     |
//! | PowerOff (soft)             | 22h System ACPI Power    | 05h S5/G2 soft-off     |
//! | SoftShutdownRequested       | 14h Button/Switch        | 00h power button pressed (what an ACPI soft-off request is) |
//! | Reset                       | 1Dh System Boot/Restart  | 01h initiated by hard reset |
//! | BootStarted (PXE)           | 1Dh System Boot/Restart  | 03h user requested PXE boot |
//! | BootStarted (diag)          | 1Dh System Boot/Restart  | 04h automatic boot to diagnostic |
//! | BootStarted (other)         | 0Fh System FW Progress   | 02h, data 2 = 13h system boot initiated |
//! | OsBooted                    | 1Fh OS Boot              | 00h A:, 01h C:, 02h PXE, 03h diag, 04h CD-ROM (from the boot that preceded it) |
//! | Nmi                         | 13h Critical Interrupt   | 00h front panel NMI    |
//! | LogCleared                  | 10h Event Logging Disabled | 02h log area reset/cleared |
//! | Raw (Add SEL Entry)         | as added; the timestamp of types 02h and C0h-DFh is the log time |

use super::sdr::{self, VirtualSensor};
use super::{cc, need, u16_le, u32_le, BmcState, CmdResponse, Command, Ctx, R};
use fakedc_model::{BootDevice, EventKind, LogEntry, Privilege};

pub(super) fn lookup(cmd: u8) -> Option<Command> {
    use Privilege::*;
    Some(match cmd {
        0x40 => Command::new("Get SEL Info", User, get_info),
        0x41 => Command::new("Get SEL Allocation Info", User, get_alloc_info),
        0x42 => Command::new("Reserve SEL", User, reserve),
        0x43 => Command::new("Get SEL Entry", User, get_entry),
        0x44 => Command::new("Add SEL Entry", Operator, add_entry),
        0x47 => Command::new("Clear SEL", Operator, clear),
        0x48 => Command::new("Get SEL Time", User, get_time),
        0x49 => Command::new("Set SEL Time", Operator, set_time),
        0x5C => Command::new("Get SEL Time UTC Offset", User, get_utc_offset),
        _ => return None,
    })
}

/// The event data of a model event: (sensor, data 1 (offset and flags), data 2, data 3).
fn event_fields(kind: EventKind, last_boot: Option<BootDevice>) -> (VirtualSensor, u8, u8, u8) {
    match kind {
        EventKind::PowerOn => (sdr::ACPI_STATE, 0x00, 0xFF, 0xFF),
        EventKind::PowerOff { soft: false } => (sdr::POWER_UNIT, 0x00, 0xFF, 0xFF),
        EventKind::PowerOff { soft: true } => (sdr::ACPI_STATE, 0x05, 0xFF, 0xFF),
        EventKind::SoftShutdownRequested => (sdr::POWER_BUTTON, 0x00, 0xFF, 0xFF),
        EventKind::Reset => (sdr::SYSTEM_BOOT, 0x01, 0xFF, 0xFF),
        EventKind::Nmi => (sdr::CRITICAL_INTERRUPT, 0x00, 0xFF, 0xFF),
        EventKind::BootStarted {
            device: BootDevice::Pxe,
        } => (sdr::SYSTEM_BOOT, 0x03, 0xFF, 0xFF),
        EventKind::BootStarted {
            device: BootDevice::Diag,
        } => (sdr::SYSTEM_BOOT, 0x04, 0xFF, 0xFF),
        // Data 1 bits 7:6 = 11b: data 2 holds the progress code.
        EventKind::BootStarted { .. } => (sdr::FW_PROGRESS, 0xC2, 0x13, 0xFF),
        EventKind::OsBooted => {
            let offset = match last_boot {
                Some(BootDevice::Floppy) => 0x00,
                Some(BootDevice::Pxe) => 0x02,
                Some(BootDevice::Diag) => 0x03,
                Some(BootDevice::Cdrom) => 0x04,
                _ => 0x01,
            };
            (sdr::OS_BOOT, offset, 0xFF, 0xFF)
        }
        EventKind::LogCleared => (sdr::EVENT_LOG, 0x02, 0xFF, 0xFF),
        // Raw records are rendered elsewhere.
        EventKind::Raw { .. } => (sdr::EVENT_LOG, 0x00, 0xFF, 0xFF),
    }
}

/// The 16-byte SEL record of a log entry; `timestamp` is the SEL-clock
/// time of the entry and `last_boot` the device of the latest BootStarted
/// before it.
pub(crate) fn record(entry: &LogEntry, timestamp: u32, last_boot: Option<BootDevice>) -> [u8; 16] {
    let mut r = [0u8; 16];
    r[0..2].copy_from_slice(&entry.id.to_le_bytes());
    match entry.kind {
        EventKind::Raw { record_type, body } => {
            r[2] = record_type;
            r[3..16].copy_from_slice(&body);
            if record_type == 0x02 || (0xC0..=0xDF).contains(&record_type) {
                r[3..7].copy_from_slice(&timestamp.to_le_bytes());
            }
        }
        kind => {
            let (sensor, data1, data2, data3) = event_fields(kind, last_boot);
            r[2] = 0x02;
            r[3..7].copy_from_slice(&timestamp.to_le_bytes());
            r[7] = sdr::BMC_ADDR;
            r[8] = 0x00;
            r[9] = 0x04; // EvM rev: IPMI 1.5+
            r[10] = sensor.sensor_type;
            r[11] = sensor.number;
            r[12] = 0x6F; // assertion, sensor-specific
            r[13] = data1;
            r[14] = data2;
            r[15] = data3;
        }
    }
    r
}

/// The SEL as records, oldest first.
fn records(ctx: &Ctx) -> Vec<[u8; 16]> {
    let entries: Vec<LogEntry> = ctx.with_chassis(|c| c.log.entries().iter().copied().collect());
    let mut last_boot = None;
    entries
        .iter()
        .map(|e| {
            if let EventKind::BootStarted { device } = e.kind {
                last_boot = Some(device);
            }
            record(e, ctx.state.sel_time(e.timestamp), last_boot)
        })
        .collect()
}

fn get_info(ctx: &mut Ctx) -> R {
    need(ctx.data(), 0, 0)?;
    let (count, capacity, last_add, last_erase, wrapped) = ctx.with_chassis(|c| {
        let e = c.log.entries();
        let wrapped = e.len() >= c.log.capacity() && e.front().is_some_and(|f| f.id != 1);
        (
            e.len(),
            c.log.capacity(),
            c.log.last_add,
            c.log.last_erase,
            wrapped,
        )
    });
    let free = capacity
        .saturating_sub(count)
        .saturating_mul(16)
        .min(0xFFFE) as u16;
    let stamp = |t: u64| {
        if t == 0 {
            0xFFFF_FFFFu32
        } else {
            ctx.state.sel_time(t)
        }
    };
    let mut out = vec![0x51];
    out.extend_from_slice(&(count.min(0xFFFF) as u16).to_le_bytes());
    out.extend_from_slice(&free.to_le_bytes());
    out.extend_from_slice(&stamp(last_add).to_le_bytes());
    out.extend_from_slice(&stamp(last_erase).to_le_bytes());
    // Overflow flag; supports Reserve SEL and Get SEL Allocation Info.
    out.push(if wrapped { 0x80 } else { 0x00 } | 0x03);
    Ok(CmdResponse::ok(out))
}

fn get_alloc_info(ctx: &mut Ctx) -> R {
    need(ctx.data(), 0, 0)?;
    let (count, capacity) = ctx.with_chassis(|c| (c.log.entries().len(), c.log.capacity()));
    let total = capacity.min(0xFFFF) as u16;
    let free = capacity.saturating_sub(count).min(0xFFFF) as u16;
    let mut out = Vec::new();
    out.extend_from_slice(&total.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(&free.to_le_bytes());
    out.extend_from_slice(&free.to_le_bytes());
    out.push(1);
    Ok(CmdResponse::ok(out))
}

fn reserve(ctx: &mut Ctx) -> R {
    need(ctx.data(), 0, 0)?;
    ctx.state.sel_reservation = BmcState::next_reservation(ctx.state.sel_reservation);
    Ok(CmdResponse::ok(
        ctx.state.sel_reservation.to_le_bytes().to_vec(),
    ))
}

/// Get SEL Entry: reservation(2), record id(2) (0000h first, FFFFh last),
/// offset, bytes to read (FFh = all). Partial reads (non-zero offset) need
/// the current reservation.
fn get_entry(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 6, 6)?;
    let res = u16_le(d, 0);
    let id = u16_le(d, 2);
    let offset = usize::from(d[4]);
    let len = d[5];
    if offset != 0 && (ctx.state.sel_reservation == 0 || res != ctx.state.sel_reservation) {
        return Err(cc::RESERVATION_CANCELED);
    }
    let records = records(ctx);
    let index = match id {
        0x0000 => 0,
        0xFFFF => records.len().checked_sub(1).ok_or(cc::NOT_PRESENT)?,
        id => records
            .iter()
            .position(|r| u16_le(r, 0) == id)
            .ok_or(cc::NOT_PRESENT)?,
    };
    let rec = records.get(index).ok_or(cc::NOT_PRESENT)?;
    if offset >= rec.len() {
        return Err(cc::PARAM_OUT_OF_RANGE);
    }
    let end = if len == 0xFF {
        rec.len()
    } else {
        let end = offset + usize::from(len);
        if end > rec.len() {
            return Err(cc::CANT_RETURN_BYTES);
        }
        end
    };
    let next = records
        .get(index + 1)
        .map(|r| u16_le(r, 0))
        .unwrap_or(0xFFFF);
    let mut out = next.to_le_bytes().to_vec();
    out.extend_from_slice(&rec[offset..end]);
    Ok(CmdResponse::ok(out))
}

/// Add SEL Entry: 16 bytes (the record id is ignored). Kept as a raw record.
fn add_entry(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 16, 16)?;
    let record_type = d[2];
    let mut body = [0u8; 13];
    body.copy_from_slice(&d[3..16]);
    let id = ctx.with_chassis(|c| c.log.push(EventKind::Raw { record_type, body }));
    // Adding a record cancels the reservation.
    ctx.state.sel_reservation = 0;
    Ok(CmdResponse::ok(id.to_le_bytes().to_vec()))
}

/// Clear SEL: reservation(2), 'C' 'L' 'R', AAh (erase) or 00h (status).
/// Erasure is immediate: both answer 01h (erase completed). The cleared
/// log starts with a "log area reset/cleared" entry, as BMCs do.
fn clear(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 6, 6)?;
    let res = u16_le(d, 0);
    if &d[2..5] != b"CLR" {
        return Err(cc::INVALID_FIELD);
    }
    if ctx.state.sel_reservation == 0 || res != ctx.state.sel_reservation {
        return Err(cc::RESERVATION_CANCELED);
    }
    match d[5] {
        0xAA => {
            ctx.with_chassis(|c| {
                c.log.clear();
                c.log.push(EventKind::LogCleared);
            });
            ctx.state.sel_reservation = 0;
            Ok(CmdResponse::ok(vec![0x01]))
        }
        0x00 => Ok(CmdResponse::ok(vec![0x01])),
        _ => Err(cc::INVALID_FIELD),
    }
}

fn get_time(ctx: &mut Ctx) -> R {
    need(ctx.data(), 0, 0)?;
    Ok(CmdResponse::ok(ctx.state.sel_now().to_le_bytes().to_vec()))
}

fn set_time(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 4, 4)?;
    let wanted = i64::from(u32_le(d, 0));
    let real = ctx.state.clock.unix_secs() as i64;
    ctx.state.sel_time_offset = wanted - real;
    Ok(CmdResponse::ok(Vec::new()))
}

/// Get SEL Time UTC Offset: the SEL clock is UTC (offset 0).
fn get_utc_offset(ctx: &mut Ctx) -> R {
    need(ctx.data(), 0, 0)?;
    Ok(CmdResponse::ok(0i16.to_le_bytes().to_vec()))
}
