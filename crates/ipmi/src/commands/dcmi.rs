//! DCMI 1.5 (group extension netfn 2Ch, group id DCh): capabilities,
//! power reading from the chassis power sensor, power limit (stored, not
//! enforced), asset tag, management controller id string, temperature
//! sensor discovery and readings. Every response starts with DCh.
//! Privileges follow OpenBMC's DCMI handler: reads need User, setting the
//! power limit and asset tag Operator, the controller id string Admin.

use super::sdr::{self, AnalogSensor};
use super::{cc, need, u16_le, u32_le, CmdResponse, Command, Ctx, R};
use fakedc_model::{Privilege, SensorKind};
use std::time::Instant;

/// DCMI group extension id, the first byte of every request and response.
pub(crate) const GROUP_ID: u8 = 0xDC;

/// DCMI state the model doesn't hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DcmiState {
    /// Power limit in watts (Set Power Limit), its exception action,
    /// correction time (ms) and sampling period (s).
    pub limit_watts: u16,
    pub exception_action: u8,
    pub correction_ms: u32,
    pub sampling_s: u16,
    /// Activate/Deactivate Power Limit.
    pub limit_active: bool,
    /// Management controller identifier string, if set (else the BMC's
    /// machine name).
    pub mc_id: Option<String>,
    /// Power statistics over the Get Power Reading calls seen so far.
    stats: Option<PowerStats>,
}

#[derive(Debug, Clone, PartialEq)]
struct PowerStats {
    since: Instant,
    min: f64,
    max: f64,
    sum: f64,
    count: u64,
}

pub(super) fn lookup(cmd: u8) -> Option<Command> {
    use Privilege::*;
    Some(match cmd {
        0x01 => Command::new("DCMI Get Capabilities Info", User, get_capabilities),
        0x02 => Command::new("DCMI Get Power Reading", User, get_power_reading),
        0x03 => Command::new("DCMI Get Power Limit", User, get_power_limit),
        0x04 => Command::new("DCMI Set Power Limit", Operator, set_power_limit),
        0x05 => Command::new("DCMI Activate Power Limit", Operator, activate_power_limit),
        0x06 => Command::new("DCMI Get Asset Tag", User, get_asset_tag),
        0x07 => Command::new("DCMI Get Sensor Info", User, get_sensor_info),
        0x08 => Command::new("DCMI Set Asset Tag", Operator, set_asset_tag),
        0x09 => Command::new("DCMI Get Management Controller ID String", User, get_mc_id),
        0x0A => Command::new("DCMI Set Management Controller ID String", Admin, set_mc_id),
        0x10 => Command::new("DCMI Get Temperature Readings", User, get_temperatures),
        _ => return None,
    })
}

fn reply(data: &[u8]) -> R {
    let mut out = vec![GROUP_ID];
    out.extend_from_slice(data);
    Ok(CmdResponse::ok(out))
}

/// Get DCMI Capabilities Info: conformance 1.5, parameter revision 02h.
fn get_capabilities(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 2, 2)?;
    let (temps, capacity) = ctx.with_chassis(|c| {
        let temps: Vec<u8> = sdr::analog_sensors(c)
            .iter()
            .filter(|s| s.sensor.kind == SensorKind::Temperature)
            .map(|s| s.entity)
            .collect();
        (temps, c.log.capacity())
    });
    let data: Vec<u8> = match d[1] {
        // Mandatory platform capabilities (identification, SEL, chassis
        // power, temperature), power management, primary LAN OOB and SOL.
        1 => vec![0x0F, 0x01, 0x18],
        2 => {
            // SEL: automatic rollover and the entry count. The flush bits
            // are left clear: DCMI (bit 13 record-level, 14 entire) and
            // FreeIPMI (12 record-level, 13 entire) disagree on them.
            let sel = 0x8000 | (capacity.min(0x0FFF) as u16);
            let mut temp = 0u8;
            for e in temps {
                temp |= match e {
                    0x37 => 0x01,
                    0x03 => 0x02,
                    0x07 => 0x04,
                    _ => 0,
                };
            }
            let [lo, hi] = sel.to_le_bytes();
            // Identification: GUID and asset tag; sampling every second.
            vec![lo, hi, 0x05, temp, 0x01]
        }
        // Power management by the BMC (20h), channel 0, revision 0.
        3 => vec![0x40, 0x00],
        // Primary LAN channel 1; no secondary LAN, no serial.
        4 => vec![super::LAN_CHANNEL, 0xFF, 0xFF],
        // No enhanced power statistics (no rolling averages).
        5 => vec![0x00],
        _ => return Err(cc::INVALID_FIELD),
    };
    let mut out = vec![0x01, 0x05, 0x02];
    out.extend_from_slice(&data);
    reply(&out)
}

/// The chassis power sensor's reading in watts, if it has one.
fn power_watts(ctx: &Ctx) -> Option<f64> {
    ctx.with_chassis(|c| {
        let on = c.power.power_on();
        c.sensors
            .iter()
            .find(|s| s.kind == SensorKind::Power)
            .map(|s| s.reading(on))
    })
}

fn watts(v: f64) -> u16 {
    v.round().clamp(0.0, f64::from(u16::MAX)) as u16
}

/// Get Power Reading, mode 1 (system power statistics): current,
/// minimum, maximum and average watts over the readings taken so far,
/// timestamp, sampling period (ms) and the "measurement active" state.
/// Mode 2 (enhanced statistics) is not supported (CCh).
fn get_power_reading(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 4, 4)?;
    if d[1] != 0x01 {
        return Err(cc::INVALID_FIELD);
    }
    let Some(current) = power_watts(ctx) else {
        // No power sensor: measurement inactive.
        let mut out = vec![0u8; 8];
        out.extend_from_slice(&ctx.state.sel_now().to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.push(0x00);
        return reply(&out);
    };
    let now = ctx.now;
    let stats = ctx.state.dcmi.stats.get_or_insert(PowerStats {
        since: now,
        min: current,
        max: current,
        sum: 0.0,
        count: 0,
    });
    stats.min = stats.min.min(current);
    stats.max = stats.max.max(current);
    stats.sum += current;
    stats.count += 1;
    let avg = stats.sum / stats.count as f64;
    let period_ms = now
        .saturating_duration_since(stats.since)
        .as_millis()
        .clamp(1000, u128::from(u32::MAX)) as u32;
    let (min, max) = (stats.min, stats.max);
    let mut out = Vec::with_capacity(17);
    for v in [current, min, max, avg] {
        out.extend_from_slice(&watts(v).to_le_bytes());
    }
    out.extend_from_slice(&ctx.state.sel_now().to_le_bytes());
    out.extend_from_slice(&period_ms.to_le_bytes());
    out.push(0x40);
    reply(&out)
}

/// Get Power Limit: 80h "no active power limit" unless one was activated;
/// the data is returned either way (ipmitool reads it).
fn get_power_limit(ctx: &mut Ctx) -> R {
    need(ctx.data(), 3, 3)?;
    let s = &ctx.state.dcmi;
    let mut out = vec![GROUP_ID, 0x00, 0x00, s.exception_action];
    out.extend_from_slice(&s.limit_watts.to_le_bytes());
    out.extend_from_slice(&s.correction_ms.to_le_bytes());
    out.extend_from_slice(&[0x00, 0x00]);
    out.extend_from_slice(&s.sampling_s.to_le_bytes());
    let mut r = CmdResponse::ok(out);
    if !s.limit_active {
        r.cc = 0x80;
    }
    Ok(r)
}

/// Set Power Limit: reserved(3), exception action (00h none, 01h hard
/// power off and log, 11h log only), limit (W), correction time (ms),
/// reserved(2), sampling period (s).
fn set_power_limit(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 15, 15)?;
    let action = d[4];
    if !matches!(action, 0x00 | 0x01 | 0x11) {
        return Err(cc::INVALID_FIELD);
    }
    let s = &mut ctx.state.dcmi;
    s.exception_action = action;
    s.limit_watts = u16_le(d, 5);
    s.correction_ms = u32_le(d, 7);
    s.sampling_s = u16_le(d, 13);
    reply(&[])
}

fn activate_power_limit(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 4, 4)?;
    match d[1] {
        0 => ctx.state.dcmi.limit_active = false,
        1 => ctx.state.dcmi.limit_active = true,
        _ => return Err(cc::INVALID_FIELD),
    }
    reply(&[])
}

/// Serves `count` bytes (at most 16) of `text` from `offset`, after DCh
/// and the total length; the answer is short at the end of the text. An
/// empty text reads as total length 0 with no data (DCMI 1.5 §6.4.2: an
/// unset asset tag is empty, not an error). More than 16 bytes, or an
/// offset at or past the end of a non-empty text, get C9h.
fn string_slice(text: &[u8], offset: u8, count: u8) -> R {
    if count > 16 {
        return Err(cc::PARAM_OUT_OF_RANGE);
    }
    let offset = usize::from(offset);
    if offset > text.len() || (offset == text.len() && count > 0 && !text.is_empty()) {
        return Err(cc::PARAM_OUT_OF_RANGE);
    }
    let end = (offset + usize::from(count)).min(text.len());
    let mut out = vec![text.len().min(255) as u8];
    out.extend_from_slice(&text[offset..end]);
    reply(&out)
}

fn get_asset_tag(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 3, 3)?;
    let tag = ctx.with_chassis(|c| c.hardware.asset_tag.clone());
    let bytes: Vec<u8> = tag.bytes().take(63).collect();
    string_slice(&bytes, d[1], d[2])
}

/// Writes `data` at `offset` into `text` (truncating after it), up to
/// `max` bytes; printable ASCII only.
fn splice(text: &str, offset: u8, data: &[u8], max: usize) -> Result<String, u8> {
    let offset = usize::from(offset);
    if offset > text.len() || offset + data.len() > max {
        return Err(cc::PARAM_OUT_OF_RANGE);
    }
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let data = &data[..end];
    if !data.iter().all(|b| (0x20..0x7F).contains(b)) {
        return Err(cc::INVALID_FIELD);
    }
    let mut s = text.as_bytes()[..offset].to_vec();
    s.extend_from_slice(data);
    Ok(String::from_utf8_lossy(&s).into_owned())
}

/// Checks a DCMI string write: offset, count (at most 16, else C9h), then
/// exactly `count` bytes (C7h/C8h).
fn write_request(d: &[u8]) -> Result<(), u8> {
    need(d, 3, 19)?;
    let count = usize::from(d[2]);
    if count > 16 {
        return Err(cc::PARAM_OUT_OF_RANGE);
    }
    need(d, 3 + count, 3 + count)
}

/// Set Asset Tag: offset, count, bytes. Changes the chassis asset tag
/// (FRU and SMASH see it too); at most 63 bytes, written at or before its
/// end (C9h otherwise). Answers the new total length.
fn set_asset_tag(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    write_request(d)?;
    let current = ctx.with_chassis(|c| c.hardware.asset_tag.clone());
    let tag = splice(&current, d[1], &d[3..], 63)?;
    let len = tag.len() as u8;
    ctx.with_chassis(|c| c.hardware.asset_tag = tag);
    reply(&[len])
}

fn mc_id(ctx: &Ctx) -> String {
    ctx.state
        .dcmi
        .mc_id
        .clone()
        .unwrap_or_else(|| ctx.model.machine(ctx.bmc).name.clone())
}

/// Get Management Controller Identifier String: offset, count (<= 16).
/// The total length counts the terminating NUL, as DCMI specifies.
fn get_mc_id(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 3, 3)?;
    let mut bytes: Vec<u8> = mc_id(ctx).bytes().take(63).collect();
    bytes.push(0);
    string_slice(&bytes, d[1], d[2])
}

/// Set Management Controller Identifier String: offset, count, bytes (at
/// most 63 and a NUL). Answers the offset after the bytes written.
fn set_mc_id(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    write_request(d)?;
    let id = splice(&mc_id(ctx), d[1], &d[3..], 63)?;
    let next = d[1].saturating_add(d[2]);
    ctx.state.dcmi.mc_id = Some(id);
    reply(&[next])
}

/// Temperature sensors matching a DCMI entity id (40h/37h inlet, 41h/03h
/// CPU, 42h/07h baseboard), in instance order.
fn temperature_sensors(ctx: &Ctx, entity: u8) -> Result<Vec<AnalogSensor>, u8> {
    let ipmi_entity = match entity {
        0x40 | 0x37 => 0x37,
        0x41 | 0x03 => 0x03,
        0x42 | 0x07 => 0x07,
        _ => return Err(cc::INVALID_FIELD),
    };
    Ok(ctx.with_chassis(|c| {
        sdr::analog_sensors(c)
            .into_iter()
            .filter(|s| s.sensor.kind == SensorKind::Temperature && s.entity == ipmi_entity)
            .collect()
    }))
}

/// Selects sensors by instance (0 = all, from `start`, at most 8).
fn select(sensors: &[AnalogSensor], instance: u8, start: u8) -> Vec<&AnalogSensor> {
    if instance != 0 {
        sensors.iter().filter(|s| s.instance == instance).collect()
    } else {
        sensors
            .iter()
            .filter(|s| s.instance >= start.max(1))
            .take(8)
            .collect()
    }
}

/// Get DCMI Sensor Info: sensor type (01h), entity, instance, start.
/// Answers the instance count and up to 8 SDR record ids.
fn get_sensor_info(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 5, 5)?;
    if d[1] != 0x01 {
        return Err(cc::INVALID_FIELD);
    }
    let sensors = temperature_sensors(ctx, d[2])?;
    let chosen = select(&sensors, d[3], d[4]);
    let mut out = vec![sensors.len().min(255) as u8, chosen.len() as u8];
    for s in chosen {
        out.extend_from_slice(&((s.index + 1) as u16).to_le_bytes());
    }
    reply(&out)
}

/// Get Temperature Readings: sensor type (01h), entity, instance, start.
/// Each set is the temperature (bit 7 sign, 6:0 degrees) and the instance.
fn get_temperatures(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 5, 5)?;
    if d[1] != 0x01 {
        return Err(cc::INVALID_FIELD);
    }
    let sensors = temperature_sensors(ctx, d[2])?;
    let on = ctx.with_chassis(|c| c.power.power_on());
    let chosen = select(&sensors, d[3], d[4]);
    let mut out = vec![sensors.len().min(255) as u8, chosen.len() as u8];
    for s in chosen {
        let t = s.sensor.reading(on).round().clamp(-127.0, 127.0);
        let byte = if t < 0.0 {
            0x80 | ((-t) as u8)
        } else {
            t as u8
        };
        out.extend_from_slice(&[byte, s.instance]);
    }
    reply(&out)
}
