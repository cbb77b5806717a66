//! Sensor Data Records: how the chassis sensors look in IPMI (sensor
//! numbers, units, conversion factors, thresholds), the record images, and
//! the SDR repository commands (Storage netfn 20h-23h).
//!
//! The repository is generated from the chassis every time it is read:
//! record 1..n are full sensor records (type 01h) for the model's sensors in
//! order, then event-only records (type 03h) for the virtual sensors the SEL
//! uses, then a FRU device locator (11h) for FRU 0 and a management
//! controller device locator (12h) for the BMC. Record ids are stable as
//! long as the sensor list is.

use super::{cc, need, u16_le, CmdResponse, Command, Ctx, R};
use fakedc_model::{Chassis, Privilege, Sensor, SensorKind};

/// Analog sensors get numbers 1..=MAX_ANALOG; the rest are not exposed.
pub(crate) const MAX_ANALOG: usize = 0xCF;
/// SDR version in every record header and in Get SDR Repository Info.
pub(crate) const SDR_VERSION: u8 = 0x51;
/// Owner (slave) address of the BMC.
pub(crate) const BMC_ADDR: u8 = 0x20;

/// Linear conversion factors: value = (M·raw + B·10^Bexp)·10^Rexp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Linear {
    pub m: i16,
    pub b: i16,
    pub b_exp: i8,
    pub r_exp: i8,
}

impl Linear {
    /// The value a raw reading stands for.
    pub fn value(&self, raw: u8) -> f64 {
        let b = f64::from(self.b) * 10f64.powi(i32::from(self.b_exp));
        (f64::from(self.m) * f64::from(raw) + b) * 10f64.powi(i32::from(self.r_exp))
    }

    /// The raw byte closest to `value` (clamped to 0..=255).
    pub fn raw(&self, value: f64) -> u8 {
        if !value.is_finite() || self.m == 0 {
            return 0;
        }
        let b = f64::from(self.b) * 10f64.powi(i32::from(self.b_exp));
        let x = (value / 10f64.powi(i32::from(self.r_exp)) - b) / f64::from(self.m);
        x.round().clamp(0.0, 255.0) as u8
    }

    /// The value of one raw step.
    pub fn step(&self) -> f64 {
        f64::from(self.m) * 10f64.powi(i32::from(self.r_exp))
    }

    /// Bytes 25-30 of a full sensor record (M, tolerance, B, accuracy,
    /// direction, exponents); also the Get Sensor Reading Factors layout.
    pub fn record_bytes(&self) -> [u8; 6] {
        let m = (self.m as u16) & 0x3FF;
        let b = (self.b as u16) & 0x3FF;
        [
            (m & 0xFF) as u8,
            ((m >> 2) & 0xC0) as u8, // tolerance 0
            (b & 0xFF) as u8,
            ((b >> 2) & 0xC0) as u8, // accuracy LS bits 0
            0x00,                    // accuracy MS, exp, direction unspecified
            (((self.r_exp as u8) & 0x0F) << 4) | ((self.b_exp as u8) & 0x0F),
        ]
    }
}

/// Factors for a sensor: B is 0 (readings start at 0); M and the result
/// exponent are the smallest "round" step (1, 2, 4 or 5 times a power
/// of ten, at least the kind's natural resolution) such that 255 steps
/// cover the largest value the sensor can show (reading or threshold) with
/// 10% headroom.
pub fn linear_for(sensor: &Sensor) -> Linear {
    let mut need = sensor.on_value.abs().max(sensor.off_value.abs());
    for t in [
        sensor.lower_critical,
        sensor.lower_non_critical,
        sensor.upper_non_critical,
        sensor.upper_critical,
    ]
    .into_iter()
    .flatten()
    {
        if t.is_finite() {
            need = need.max(t.abs());
        }
    }
    if !need.is_finite() {
        need = 0.0;
    }
    let need = need * 1.1;
    let min_step = match sensor.kind {
        SensorKind::Temperature | SensorKind::Power | SensorKind::Fan => 1.0,
        SensorKind::Voltage | SensorKind::Current => 0.01,
    };
    let mut best: Option<(f64, Linear)> = None;
    for r_exp in -3i8..=4 {
        for m in [1i16, 2, 4, 5] {
            let l = Linear {
                m,
                b: 0,
                b_exp: 0,
                r_exp,
            };
            let step = l.step();
            if step + 1e-12 < min_step || 255.0 * step < need {
                continue;
            }
            if best.is_none_or(|(s, _)| step < s) {
                best = Some((step, l));
            }
        }
    }
    best.map(|(_, l)| l).unwrap_or(Linear {
        m: 5,
        b: 0,
        b_exp: 0,
        r_exp: 4,
    })
}

/// IPMI sensor type, unit code and entity for a sensor kind.
pub(crate) fn sensor_type(kind: SensorKind) -> u8 {
    match kind {
        SensorKind::Temperature => 0x01,
        SensorKind::Voltage => 0x02,
        SensorKind::Current => 0x03,
        SensorKind::Fan => 0x04,
        // "Other units-based sensor": a system input power reading.
        SensorKind::Power => 0x0B,
    }
}

pub(crate) fn unit_code(kind: SensorKind) -> u8 {
    match kind {
        SensorKind::Temperature => 0x01, // degrees C
        SensorKind::Voltage => 0x04,     // Volts
        SensorKind::Current => 0x05,     // Amps
        SensorKind::Power => 0x06,       // Watts
        SensorKind::Fan => 0x12,         // RPM
    }
}

/// Entity id of a sensor, from its kind and name.
pub(crate) fn entity_id(sensor: &Sensor) -> u8 {
    let name = sensor.name.to_ascii_lowercase();
    match sensor.kind {
        SensorKind::Temperature if name.contains("cpu") || name.contains("proc") => 0x03,
        SensorKind::Temperature
            if name.contains("inlet") || name.contains("ambient") || name.contains("intake") =>
        {
            0x37
        }
        SensorKind::Fan => 0x1D,
        SensorKind::Current if name.contains("ps") => 0x0A,
        SensorKind::Power => 0x13,
        _ => 0x07,
    }
}

/// One analog sensor as IPMI sees it.
#[derive(Debug, Clone)]
pub(crate) struct AnalogSensor {
    pub index: usize,
    pub number: u8,
    pub entity: u8,
    pub instance: u8,
    pub linear: Linear,
    pub sensor: Sensor,
}

impl AnalogSensor {
    pub fn raw_reading(&self, power_on: bool) -> u8 {
        self.linear.raw(self.sensor.reading(power_on))
    }

    /// Whether the sensor has a reading now (the model's rule,
    /// [`fakedc_model::chassis::Sensor::available`]).
    pub fn available(&self, power_on: bool) -> bool {
        self.sensor.available(power_on)
    }

    fn raw_threshold(&self, t: Option<f64>) -> u8 {
        t.map(|v| self.linear.raw(v)).unwrap_or(0)
    }

    /// Thresholds in Get Sensor Thresholds order: LNC, LCR, LNR, UNC, UCR, UNR.
    pub fn raw_thresholds(&self) -> [u8; 6] {
        let s = &self.sensor;
        [
            self.raw_threshold(s.lower_non_critical),
            self.raw_threshold(s.lower_critical),
            0,
            self.raw_threshold(s.upper_non_critical),
            self.raw_threshold(s.upper_critical),
            0,
        ]
    }

    /// Readable threshold mask (bit 0 LNC, 1 LCR, 3 UNC, 4 UCR).
    pub fn readable_mask(&self) -> u8 {
        let s = &self.sensor;
        (u8::from(s.lower_non_critical.is_some()))
            | (u8::from(s.lower_critical.is_some()) << 1)
            | (u8::from(s.upper_non_critical.is_some()) << 3)
            | (u8::from(s.upper_critical.is_some()) << 4)
    }

    /// Threshold comparison status bits for a raw reading (Get Sensor
    /// Reading byte 3): at or below a lower threshold, at or above an
    /// upper one.
    pub fn status(&self, raw: u8) -> u8 {
        let t = self.raw_thresholds();
        let mask = self.readable_mask();
        let mut st = 0u8;
        if mask & 0x01 != 0 && raw <= t[0] {
            st |= 0x01;
        }
        if mask & 0x02 != 0 && raw <= t[1] {
            st |= 0x02;
        }
        if mask & 0x08 != 0 && raw >= t[3] {
            st |= 0x08;
        }
        if mask & 0x10 != 0 && raw >= t[4] {
            st |= 0x10;
        }
        st
    }

    /// Assertion and deassertion event masks (record bytes 15-18) and the
    /// threshold masks (19-20).
    fn masks(&self) -> (u16, u16, u8, u8) {
        let r = self.readable_mask();
        let mut events = 0u16;
        if r & 0x01 != 0 {
            events |= 1 << 0; // LNC going low
        }
        if r & 0x02 != 0 {
            events |= 1 << 2; // LCR going low
        }
        if r & 0x08 != 0 {
            events |= 1 << 7; // UNC going high
        }
        if r & 0x10 != 0 {
            events |= 1 << 9; // UCR going high
        }
        let lower_reading = u16::from(r & 0x07) << 12;
        let upper_reading = u16::from((r >> 3) & 0x07) << 12;
        (events | lower_reading, events | upper_reading, r, 0x1B)
    }

    /// Assertion event status bits for Get Sensor Event Status.
    pub fn event_status(&self, raw: u8) -> u16 {
        let st = self.status(raw);
        let mut bits = 0u16;
        if st & 0x01 != 0 {
            bits |= 1 << 0;
        }
        if st & 0x02 != 0 {
            bits |= 1 << 2;
        }
        if st & 0x08 != 0 {
            bits |= 1 << 7;
        }
        if st & 0x10 != 0 {
            bits |= 1 << 9;
        }
        bits
    }

    /// The full sensor record body after the 5-byte header.
    fn record_body(&self) -> Vec<u8> {
        let s = &self.sensor;
        let (assert, deassert, readable, settable) = self.masks();
        let mut b = Vec::with_capacity(64);
        b.push(BMC_ADDR);
        b.push(0x00); // channel 0, LUN 0
        b.push(self.number);
        b.push(self.entity);
        b.push(self.instance & 0x7F);
        b.push(0x7F); // init: scanning, events, thresholds, hysteresis, type, event gen, scan on
        b.push(0x48); // capabilities: auto re-arm, thresholds readable+settable, per-threshold events
        b.push(sensor_type(s.kind));
        b.push(0x01); // event/reading type: threshold
        b.extend_from_slice(&assert.to_le_bytes());
        b.extend_from_slice(&deassert.to_le_bytes());
        b.push(readable);
        b.push(settable);
        b.push(0x00); // unsigned, no rate, no modifier, not percentage
        b.push(unit_code(s.kind));
        b.push(0x00); // modifier unit
        b.push(0x00); // linear
        b.extend_from_slice(&self.linear.record_bytes());
        b.push(0x01); // nominal reading specified
        b.push(self.linear.raw(s.on_value));
        b.push(0x00); // normal max (not specified)
        b.push(0x00); // normal min (not specified)
        b.push(0xFF); // sensor maximum reading
        b.push(0x00); // sensor minimum reading
        let t = self.raw_thresholds();
        b.extend_from_slice(&[t[5], t[4], t[3], t[2], t[1], t[0]]);
        b.push(0x00); // positive hysteresis
        b.push(0x00); // negative hysteresis
        b.extend_from_slice(&[0x00, 0x00]); // reserved
        b.push(0x00); // OEM
        push_id_string(&mut b, &s.name);
        b
    }
}

/// Appends an 8-bit ASCII type/length byte and up to 16 bytes of `text`.
fn push_id_string(b: &mut Vec<u8>, text: &str) {
    let bytes: Vec<u8> = text
        .bytes()
        .map(|c| if (0x20..0x7F).contains(&c) { c } else { b'?' })
        .take(16)
        .collect();
    b.push(0xC0 | bytes.len() as u8);
    b.extend_from_slice(&bytes);
}

/// The analog sensors of a chassis with their IPMI identity.
pub(crate) fn analog_sensors(chassis: &Chassis) -> Vec<AnalogSensor> {
    let mut instances: Vec<(u8, u8)> = Vec::new();
    chassis
        .sensors
        .iter()
        .take(MAX_ANALOG)
        .enumerate()
        .map(|(index, s)| {
            let entity = entity_id(s);
            let instance = match instances.iter_mut().find(|(e, _)| *e == entity) {
                Some((_, n)) => {
                    *n = n.saturating_add(1);
                    *n
                }
                None => {
                    instances.push((entity, 1));
                    1
                }
            };
            AnalogSensor {
                index,
                number: (index + 1) as u8,
                entity,
                instance,
                linear: linear_for(s),
                sensor: s.clone(),
            }
        })
        .collect()
}

/// A virtual, event-only sensor that SEL entries refer to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VirtualSensor {
    pub number: u8,
    pub sensor_type: u8,
    pub entity: u8,
    pub name: &'static str,
}

pub(crate) const ACPI_STATE: VirtualSensor = VirtualSensor {
    number: 0xD0,
    sensor_type: 0x22,
    entity: 0x07,
    name: "ACPI State",
};
pub(crate) const POWER_UNIT: VirtualSensor = VirtualSensor {
    number: 0xD1,
    sensor_type: 0x09,
    entity: 0x13,
    name: "Power Unit",
};
pub(crate) const SYSTEM_BOOT: VirtualSensor = VirtualSensor {
    number: 0xD2,
    sensor_type: 0x1D,
    entity: 0x07,
    name: "System Restart",
};
pub(crate) const OS_BOOT: VirtualSensor = VirtualSensor {
    number: 0xD3,
    sensor_type: 0x1F,
    entity: 0x23,
    name: "OS Boot",
};
pub(crate) const FW_PROGRESS: VirtualSensor = VirtualSensor {
    number: 0xD4,
    sensor_type: 0x0F,
    entity: 0x22,
    name: "POST Progress",
};
pub(crate) const CRITICAL_INTERRUPT: VirtualSensor = VirtualSensor {
    number: 0xD5,
    sensor_type: 0x13,
    entity: 0x0C,
    name: "Front Panel NMI",
};
pub(crate) const EVENT_LOG: VirtualSensor = VirtualSensor {
    number: 0xD6,
    sensor_type: 0x10,
    entity: 0x07,
    name: "Event Log",
};
pub(crate) const POWER_BUTTON: VirtualSensor = VirtualSensor {
    number: 0xD7,
    sensor_type: 0x14,
    entity: 0x0C,
    name: "Power Button",
};

/// The BMC watchdog timer (Watchdog 2): its timeouts and pre-timeout
/// interrupts are logged on it (see `watchdog.rs`).
pub(crate) const WATCHDOG: VirtualSensor = VirtualSensor {
    number: 0xD8,
    sensor_type: 0x23,
    entity: 0x07,
    name: "Watchdog",
};

pub(crate) const VIRTUAL_SENSORS: [VirtualSensor; 9] = [
    ACPI_STATE,
    POWER_UNIT,
    SYSTEM_BOOT,
    OS_BOOT,
    FW_PROGRESS,
    CRITICAL_INTERRUPT,
    EVENT_LOG,
    POWER_BUTTON,
    WATCHDOG,
];

fn event_only_body(v: &VirtualSensor) -> Vec<u8> {
    let mut b = vec![
        BMC_ADDR,
        0x00,
        v.number,
        v.entity,
        0x01, // instance 1
        v.sensor_type,
        0x6F, // sensor-specific
        0x01, // share count 1
        0x00,
        0x00, // reserved
        0x00, // OEM
    ];
    push_id_string(&mut b, v.name);
    b
}

fn fru_locator_body() -> Vec<u8> {
    let mut b = vec![
        BMC_ADDR, // device access address
        0x00,     // FRU device id 0
        0x80,     // logical FRU device, LUN 0, private bus 0
        0x00,     // channel 0
        0x00,     // reserved
        0x10,     // device type: FRU inventory device behind management controller
        0x00,     // type modifier: IPMI FRU inventory
        0x07,     // entity: system board
        0x01,     // instance
        0x00,     // OEM
    ];
    push_id_string(&mut b, "Builtin FRU");
    b
}

fn mc_locator_body() -> Vec<u8> {
    let mut b = vec![
        BMC_ADDR, // device slave address
        0x00,     // channel 0
        0x00,     // power state notification / global init: defaults
        0x9F,     // capabilities: chassis, event receiver, FRU, SEL, SDR repo, sensors
        0x00, 0x00, 0x00, // reserved
        0x06, // entity: system management module
        0x01, // instance
        0x00, // OEM
    ];
    push_id_string(&mut b, "BMC");
    b
}

/// The SDR repository of a chassis: (record type, body) in record id order
/// (ids start at 1).
pub(crate) fn repository(chassis: &Chassis) -> Vec<(u8, Vec<u8>)> {
    let mut records: Vec<(u8, Vec<u8>)> = analog_sensors(chassis)
        .iter()
        .map(|s| (0x01, s.record_body()))
        .collect();
    records.extend(VIRTUAL_SENSORS.iter().map(|v| (0x03, event_only_body(v))));
    records.push((0x11, fru_locator_body()));
    records.push((0x12, mc_locator_body()));
    records
}

/// A whole record image: header (id, version, type, length) and body.
pub(crate) fn record_image(id: u16, record_type: u8, body: &[u8]) -> Vec<u8> {
    let mut r = Vec::with_capacity(5 + body.len());
    r.extend_from_slice(&id.to_le_bytes());
    r.push(SDR_VERSION);
    r.push(record_type);
    r.push(body.len().min(255) as u8);
    r.extend_from_slice(body);
    r
}

/// Serves a (partial) read of a record list the way Get SDR and Get Device
/// SDR do: request `reservation(2) id(2) offset length`, response
/// `next id(2) bytes`. Record id 0000h is the first record; the last record's
/// next id is FFFFh. A non-zero offset needs the current reservation.
pub(crate) fn read_record(data: &[u8], records: &[(u8, Vec<u8>)], reservation: u16) -> R {
    need(data, 6, 6)?;
    let res = u16_le(data, 0);
    let id = u16_le(data, 2);
    let offset = usize::from(data[4]);
    let len = data[5];
    if offset != 0 && (reservation == 0 || res != reservation) {
        return Err(cc::RESERVATION_CANCELED);
    }
    let index = match id {
        0x0000 => 0,
        0xFFFF => records.len().checked_sub(1).ok_or(cc::NOT_PRESENT)?,
        n => usize::from(n) - 1,
    };
    let (rtype, body) = records.get(index).ok_or(cc::NOT_PRESENT)?;
    let image = record_image((index + 1) as u16, *rtype, body);
    if offset > image.len() {
        return Err(cc::PARAM_OUT_OF_RANGE);
    }
    let end = if len == 0xFF {
        image.len()
    } else {
        let end = offset + usize::from(len);
        if end > image.len() {
            return Err(cc::CANT_RETURN_BYTES);
        }
        end
    };
    let next: u16 = if index + 1 < records.len() {
        (index + 2) as u16
    } else {
        0xFFFF
    };
    let mut out = next.to_le_bytes().to_vec();
    out.extend_from_slice(&image[offset..end]);
    Ok(CmdResponse::ok(out))
}

pub(super) fn lookup(cmd: u8) -> Option<Command> {
    use Privilege::*;
    Some(match cmd {
        0x20 => Command::new("Get SDR Repository Info", User, get_repo_info),
        0x21 => Command::new("Get SDR Repository Allocation Info", User, get_alloc_info),
        0x22 => Command::new("Reserve SDR Repository", User, reserve),
        0x23 => Command::new("Get SDR", User, get_sdr),
        _ => return None,
    })
}

/// The repository's "most recent addition" time: derived from what the
/// records describe (sensor numbers, names, types, entities, conversion
/// factors), so it stays the same across restarts of the same scenario and
/// changes when the sensor set does. SDR caches (FreeIPMI's) key on it.
pub(crate) fn repository_stamp(chassis: &Chassis) -> u32 {
    let mut h = 0x811C_9DC5u32;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
    };
    for s in analog_sensors(chassis) {
        eat(&[s.number, s.entity, s.instance, sensor_type(s.sensor.kind)]);
        eat(&s.linear.record_bytes());
        eat(s.sensor.name.as_bytes());
        eat(&[0]);
    }
    // Somewhere in 2023.
    1_672_531_200 + h % 31_536_000
}

fn get_repo_info(ctx: &mut Ctx) -> R {
    need(ctx.data(), 0, 0)?;
    let (count, stamp) = ctx.with_chassis(|c| (repository(c).len() as u16, repository_stamp(c)));
    let mut out = vec![SDR_VERSION];
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // no free space: read-only repository
    out.extend_from_slice(&stamp.to_le_bytes()); // most recent addition
    out.extend_from_slice(&0u32.to_le_bytes()); // never erased
    out.push(0x03); // reserve and allocation info supported; no updates
    Ok(CmdResponse::ok(out))
}

fn get_alloc_info(ctx: &mut Ctx) -> R {
    need(ctx.data(), 0, 0)?;
    let count = ctx.with_chassis(|c| repository(c).len()) as u16;
    let mut out = Vec::new();
    out.extend_from_slice(&count.to_le_bytes()); // allocation units
    out.extend_from_slice(&64u16.to_le_bytes()); // unit size
    out.extend_from_slice(&0u16.to_le_bytes()); // free units
    out.extend_from_slice(&0u16.to_le_bytes()); // largest free block
    out.push(1); // max record size in units
    Ok(CmdResponse::ok(out))
}

fn reserve(ctx: &mut Ctx) -> R {
    need(ctx.data(), 0, 0)?;
    ctx.state.sdr_reservation = super::BmcState::next_reservation(ctx.state.sdr_reservation);
    Ok(CmdResponse::ok(
        ctx.state.sdr_reservation.to_le_bytes().to_vec(),
    ))
}

fn get_sdr(ctx: &mut Ctx) -> R {
    let records = ctx.with_chassis(|c| repository(c));
    read_record(ctx.data(), &records, ctx.state.sdr_reservation)
}
