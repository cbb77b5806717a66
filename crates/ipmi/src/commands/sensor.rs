//! Sensor/Event netfn (04h): sensor readings and thresholds of the chassis
//! sensors, the device SDR commands (same records as the repository),
//! Platform Event and Get Event Receiver.

use super::sdr::{self, AnalogSensor, VIRTUAL_SENSORS};
use super::{cc, need, CmdResponse, Command, Ctx, R};
use fakedc_model::{EventKind, Privilege};

pub(super) fn lookup(cmd: u8) -> Option<Command> {
    use Privilege::*;
    Some(match cmd {
        0x01 => Command::new("Get Event Receiver", User, get_event_receiver),
        0x02 => Command::new("Platform Event", Operator, platform_event),
        0x20 => Command::new("Get Device SDR Info", User, get_device_sdr_info),
        0x21 => Command::new("Get Device SDR", User, get_device_sdr),
        0x22 => Command::new("Reserve Device SDR Repository", User, reserve_device_sdr),
        0x23 => Command::new("Get Sensor Reading Factors", User, get_reading_factors),
        0x25 => Command::new("Get Sensor Hysteresis", User, get_hysteresis),
        0x26 => Command::new("Set Sensor Threshold", Operator, set_thresholds),
        0x27 => Command::new("Get Sensor Threshold", User, get_thresholds),
        0x29 => Command::new("Get Sensor Event Enable", User, get_event_enable),
        0x2B => Command::new("Get Sensor Event Status", User, get_event_status),
        0x2D => Command::new("Get Sensor Reading", User, get_reading),
        0x2F => Command::new("Get Sensor Type", User, get_sensor_type),
        _ => return None,
    })
}

/// Looks up an analog sensor by number; also says whether the chassis
/// has main power.
fn analog(ctx: &Ctx, number: u8) -> Option<(AnalogSensor, bool)> {
    ctx.with_chassis(|c| {
        let on = c.power.power_on();
        sdr::analog_sensors(c)
            .into_iter()
            .find(|s| s.number == number)
            .map(|s| (s, on))
    })
}

fn get_event_receiver(ctx: &mut Ctx) -> R {
    need(ctx.data(), 0, 0)?;
    Ok(CmdResponse::ok(vec![sdr::BMC_ADDR, 0x00]))
}

/// Platform Event Message: 7 bytes over LAN (EvMRev, sensor type, sensor
/// number, direction/type, data 1-3) or 8 with a leading generator id, as
/// a system interface sends it. Logged as a system event record whose
/// generator is the remote console (software id 40h) on this channel.
fn platform_event(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 7, 8)?;
    let (generator, msg) = if d.len() == 8 {
        ([d[0], ctx.req.channel << 4], &d[1..])
    } else {
        ([0x81, ctx.req.channel << 4], d)
    };
    let mut body = [0u8; 13];
    body[4] = generator[0];
    body[5] = generator[1];
    body[6..13].copy_from_slice(msg);
    ctx.with_chassis(|c| {
        c.log.push(EventKind::Raw {
            record_type: 0x02,
            body,
        })
    });
    Ok(CmdResponse::ok(Vec::new()))
}

fn get_device_sdr_info(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 0, 1)?;
    let all = d.first().is_some_and(|b| b & 0x01 != 0);
    let (sensors, records) =
        ctx.with_chassis(|c| (sdr::analog_sensors(c).len(), sdr::repository(c).len()));
    let count = if all {
        records
    } else {
        sensors + VIRTUAL_SENSORS.len()
    };
    // Static population, sensors on LUN 0.
    Ok(CmdResponse::ok(vec![count.min(255) as u8, 0x01]))
}

fn get_device_sdr(ctx: &mut Ctx) -> R {
    let records = ctx.with_chassis(|c| sdr::repository(c));
    sdr::read_record(ctx.data(), &records, ctx.state.sdr_reservation)
}

fn reserve_device_sdr(ctx: &mut Ctx) -> R {
    need(ctx.data(), 0, 0)?;
    ctx.state.sdr_reservation = super::BmcState::next_reservation(ctx.state.sdr_reservation);
    Ok(CmdResponse::ok(
        ctx.state.sdr_reservation.to_le_bytes().to_vec(),
    ))
}

fn get_reading_factors(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 2, 2)?;
    let (s, _) = analog(ctx, d[0]).ok_or(cc::NOT_PRESENT)?;
    let mut out = vec![0xFF]; // linear: the factors hold for every reading
    out.extend_from_slice(&s.linear.record_bytes());
    Ok(CmdResponse::ok(out))
}

fn get_hysteresis(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 2, 2)?;
    analog(ctx, d[0]).ok_or(cc::NOT_PRESENT)?;
    Ok(CmdResponse::ok(vec![0x00, 0x00]))
}

fn get_thresholds(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 1, 1)?;
    let (s, _) = analog(ctx, d[0]).ok_or(cc::NOT_PRESENT)?;
    let mask = s.readable_mask();
    let mut out = vec![mask];
    for (i, t) in s.raw_thresholds().iter().enumerate() {
        out.push(if mask & (1 << i) != 0 { *t } else { 0 });
    }
    Ok(CmdResponse::ok(out))
}

/// Set Sensor Threshold: sensor, mask, LNC, LCR, LNR, UNC, UCR, UNR (raw).
/// The four thresholds the model has are settable; the non-recoverable
/// ones are not (CCh).
fn set_thresholds(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 8, 8)?;
    let number = d[0];
    let mask = d[1];
    if mask & 0xC0 != 0 || mask & 0x24 != 0 {
        return Err(cc::INVALID_FIELD);
    }
    let (s, _) = analog(ctx, number).ok_or(cc::NOT_PRESENT)?;
    let value = |raw: u8| Some(s.linear.value(raw));
    ctx.with_chassis(|c| {
        if let Some(sensor) = c.sensors.get_mut(s.index) {
            if mask & 0x01 != 0 {
                sensor.lower_non_critical = value(d[2]);
            }
            if mask & 0x02 != 0 {
                sensor.lower_critical = value(d[3]);
            }
            if mask & 0x08 != 0 {
                sensor.upper_non_critical = value(d[5]);
            }
            if mask & 0x10 != 0 {
                sensor.upper_critical = value(d[6]);
            }
        }
    });
    Ok(CmdResponse::ok(Vec::new()))
}

fn get_event_enable(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 1, 1)?;
    if let Some((s, _)) = analog(ctx, d[0]) {
        let r = s.readable_mask();
        let mut events = 0u16;
        for (bit, ev) in [(0x01, 0), (0x02, 2), (0x08, 7), (0x10, 9)] {
            if r & bit != 0 {
                events |= 1 << ev;
            }
        }
        let mut out = vec![0xC0];
        out.extend_from_slice(&events.to_le_bytes());
        out.extend_from_slice(&events.to_le_bytes());
        return Ok(CmdResponse::ok(out));
    }
    if VIRTUAL_SENSORS.iter().any(|v| v.number == d[0]) {
        return Ok(CmdResponse::ok(vec![0xC0, 0xFF, 0x7F, 0x00, 0x00]));
    }
    Err(cc::NOT_PRESENT)
}

fn get_event_status(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 1, 1)?;
    if let Some((s, on)) = analog(ctx, d[0]) {
        let status = if s.available(on) {
            s.event_status(s.raw_reading(on))
        } else {
            0
        };
        let mut out = vec![0xC0];
        out.extend_from_slice(&status.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        return Ok(CmdResponse::ok(out));
    }
    if VIRTUAL_SENSORS.iter().any(|v| v.number == d[0]) {
        return Ok(CmdResponse::ok(vec![0xC0, 0x00, 0x00, 0x00, 0x00]));
    }
    Err(cc::NOT_PRESENT)
}

/// Get Sensor Reading: raw byte, flags (event messages and scanning
/// enabled; "reading unavailable" for a main-power sensor while the chassis
/// is off, see [`AnalogSensor::available`]), threshold status (bits 7:6
/// reserved, returned as 1b). Event-only
/// sensors answer with their current discrete state (the ACPI state sensor
/// reports S0 or S5). Unknown sensor numbers get CBh.
fn get_reading(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 1, 1)?;
    let number = d[0];
    if let Some((s, on)) = analog(ctx, number) {
        if !s.available(on) {
            return Ok(CmdResponse::ok(vec![0x00, 0xE0, 0xC0]));
        }
        let raw = s.raw_reading(on);
        return Ok(CmdResponse::ok(vec![raw, 0xC0, 0xC0 | s.status(raw)]));
    }
    if let Some(v) = VIRTUAL_SENSORS.iter().find(|v| v.number == number) {
        let state: u16 = if v.number == sdr::ACPI_STATE.number {
            let on = ctx.with_chassis(|c| c.power.power_on());
            if on {
                1 << 0
            } else {
                1 << 5
            }
        } else {
            0
        };
        let [lo, hi] = state.to_le_bytes();
        return Ok(CmdResponse::ok(vec![0x00, 0xC0, lo, 0x80 | hi]));
    }
    Err(cc::NOT_PRESENT)
}

fn get_sensor_type(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 1, 1)?;
    if let Some((s, _)) = analog(ctx, d[0]) {
        return Ok(CmdResponse::ok(vec![sdr::sensor_type(s.sensor.kind), 0x01]));
    }
    if let Some(v) = VIRTUAL_SENSORS.iter().find(|v| v.number == d[0]) {
        return Ok(CmdResponse::ok(vec![v.sensor_type, 0x6F]));
    }
    Err(cc::NOT_PRESENT)
}
