//! RPC parameters (MS-TDS 2.2.6.6): name, status, TYPE_INFO and value, for
//! the types drivers send to sp_executesql.

use crate::token::Value;
use crate::TdsError;
use fakedc_wire::Reader;

/// A parameter value larger than this is refused.
const MAX_VALUE: usize = 16 << 20;

fn bad(what: impl Into<String>) -> TdsError {
    TdsError::Protocol(what.into())
}

/// StatusFlags: the parameter is OUTPUT (its value comes back in a
/// RETURNVALUE token).
pub const STATUS_BYREF: u8 = 0x01;

/// One parameter: its name (with `@`, possibly empty) and value.
pub fn param(r: &mut Reader<'_>) -> Result<(String, Value), TdsError> {
    param_with_status(r).map(|(n, _, v)| (n, v))
}

/// One parameter: name, StatusFlags and value.
pub fn param_with_status(r: &mut Reader<'_>) -> Result<(String, u8, Value), TdsError> {
    let name_len = usize::from(r.u8()?);
    let name = r.utf16le_lossy(name_len)?;
    let status = r.u8()?;
    let ty = r.u8()?;
    let v =
        match ty {
            // Fixed-length: INT1, BIT, INT2, INT4, INT8, FLT8, FLT4.
            0x30 => Value::Int(i64::from(r.u8()?)),
            0x32 => Value::Int(i64::from(r.u8()? != 0)),
            0x34 => Value::Int(i64::from(r.i16_le()?)),
            0x38 => Value::Int(i64::from(r.i32_le()?)),
            0x7F => Value::Int(r.i64_le()?),
            0x3E => Value::Float(f64::from_le_bytes(r.array()?)),
            0x3B => Value::Float(f64::from(f32::from_le_bytes(r.array()?))),
            0x1F => Value::Null,
            // INTN, BITN, FLTN: max length byte, then a length-prefixed value.
            0x26 | 0x68 | 0x6D => {
                let _max = r.u8()?;
                let len = r.u8()?;
                match (ty, len) {
                    (_, 0) => Value::Null,
                    (0x26 | 0x68, 1) => Value::Int(i64::from(r.u8()?)),
                    (0x26, 2) => Value::Int(i64::from(r.i16_le()?)),
                    (0x26, 4) => Value::Int(i64::from(r.i32_le()?)),
                    (0x26, 8) => Value::Int(r.i64_le()?),
                    (0x6D, 4) => Value::Float(f64::from(f32::from_le_bytes(r.array()?))),
                    (0x6D, 8) => Value::Float(f64::from_le_bytes(r.array()?)),
                    _ => return Err(bad(format!("bad length {len} for type {ty:#04x}"))),
                }
            }
            // DECIMALN, NUMERICN.
            0x6A | 0x6C => {
                let _max = r.u8()?;
                let _precision = r.u8()?;
                let scale = r.u8()?;
                let len = usize::from(r.u8()?);
                if len == 0 {
                    Value::Null
                } else {
                    let mut b = r.sub(len)?;
                    let sign = b.u8()?;
                    let mut mag = [0u8; 16];
                    let rest = b.rest();
                    if rest.len() > 16 {
                        return Err(bad("decimal too long"));
                    }
                    mag[..rest.len()].copy_from_slice(rest);
                    let n = u128::from_le_bytes(mag);
                    let s = format!("{n:0>width$}", width = usize::from(scale) + 1);
                    let (i, f) = s.split_at(s.len() - usize::from(scale));
                    let text = if scale == 0 {
                        i.to_string()
                    } else {
                        format!("{i}.{f}")
                    };
                    let text = if sign == 0 { format!("-{text}") } else { text };
                    Value::Float(text.parse().unwrap_or(0.0))
                }
            }
            // DATETIMN.
            0x6F => {
                let _max = r.u8()?;
                match r.u8()? {
                    0 => Value::Null,
                    8 => {
                        let days = r.i32_le()?;
                        let ticks = r.u32_le()?;
                        Value::Text(datetime_text(i64::from(days), i64::from(ticks) * 10 / 3))
                    }
                    4 => {
                        let days = r.u16_le()?;
                        let mins = r.u16_le()?;
                        Value::Text(datetime_text(i64::from(days), i64::from(mins) * 60_000))
                    }
                    n => return Err(bad(format!("bad datetime length {n}"))),
                }
            }
            // DATEN, TIMEN, DATETIME2N, DATETIMEOFFSETN (7.3+; ODBC sends
            // datetime parameters as DATETIME2N): days since 0001-01-01 and
            // 10^-scale seconds since midnight (UTC for DATETIMEOFFSET).
            0x28..=0x2B => {
                let scale = if ty == 0x28 { 0 } else { r.u8()? };
                if scale > 7 {
                    return Err(bad(format!("bad time scale {scale}")));
                }
                let len = usize::from(r.u8()?);
                if len == 0 {
                    Value::Null
                } else {
                    let mut b = r.sub(len)?;
                    let time_len = match ty {
                        0x28 => 0,
                        0x2B => len
                            .checked_sub(5)
                            .ok_or_else(|| bad("short datetimeoffset"))?,
                        0x29 => len,
                        _ => len.checked_sub(3).ok_or_else(|| bad("short datetime2"))?,
                    };
                    if time_len > 5 {
                        return Err(bad("time too long"));
                    }
                    let mut t = [0u8; 8];
                    t[..time_len].copy_from_slice(b.bytes(time_len)?);
                    let mut units = i128::from(u64::from_le_bytes(t));
                    let mut days = if ty == 0x29 {
                        0
                    } else {
                        let d = b.bytes(3)?;
                        i128::from(u32::from_le_bytes([d[0], d[1], d[2], 0]))
                    };
                    let per_sec = 10i128.pow(u32::from(scale));
                    let day_units = 86_400 * per_sec;
                    // DATETIMEOFFSET is UTC on the wire: back to local time.
                    let offset = if ty == 0x2B {
                        i128::from(b.i16_le()?)
                    } else {
                        0
                    };
                    if offset != 0 {
                        let total = days * day_units + units + offset * 60 * per_sec;
                        days = total.div_euclid(day_units);
                        units = total.rem_euclid(day_units);
                    }
                    let z = i64::try_from(days).map_err(|_| bad("date out of range"))?
                        + crate::token::days_from_civil(1, 1, 1);
                    let date = civil(z, 0);
                    let date = date.get(..10).unwrap_or(&date);
                    let secs = units / per_sec;
                    let mut time = format!(
                        "{:02}:{:02}:{:02}",
                        secs / 3600 % 24,
                        secs / 60 % 60,
                        secs % 60
                    );
                    // Milliseconds at least (as datetime text is stored,
                    // so equal values compare equal), more digits only
                    // when they are not zero.
                    let mut frac =
                        format!("{:07}", units % per_sec * 10i128.pow(7 - u32::from(scale)));
                    while frac.len() > 3 && frac.ends_with('0') {
                        frac.pop();
                    }
                    time.push('.');
                    time.push_str(&frac);
                    let sign = if offset < 0 { '-' } else { '+' };
                    let o = offset.abs();
                    Value::Text(match ty {
                        0x28 => date.to_string(),
                        0x29 => time,
                        0x2A => format!("{date} {time}"),
                        _ => format!("{date} {time} {sign}{:02}:{:02}", o / 60, o % 60),
                    })
                }
            }
            // GUID: text as SQL Server prints it (first three groups LE).
            0x24 => {
                let _max = r.u8()?;
                match r.u8()? {
                    0 => Value::Null,
                    16 => {
                        let g: [u8; 16] = r.array()?;
                        Value::Text(format!(
                        "{:08X}-{:04X}-{:04X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}",
                        u32::from_le_bytes([g[0], g[1], g[2], g[3]]),
                        u16::from_le_bytes([g[4], g[5]]),
                        u16::from_le_bytes([g[6], g[7]]),
                        g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]
                    ))
                    }
                    n => return Err(bad(format!("bad guid length {n}"))),
                }
            }
            // MONEYN: 1/10,000 units; 8 bytes are high then low 32 bits.
            0x6E => {
                let _max = r.u8()?;
                match r.u8()? {
                    0 => Value::Null,
                    4 => Value::Float(f64::from(r.i32_le()?) / 10_000.0),
                    8 => {
                        let hi = i64::from(r.i32_le()?);
                        let lo = i64::from(r.u32_le()?);
                        Value::Float(((hi << 32) | lo) as f64 / 10_000.0)
                    }
                    n => return Err(bad(format!("bad money length {n}"))),
                }
            }
            // NVARCHAR, NCHAR, BIGVARCHAR, BIGCHAR, BIGVARBINARY, BIGBINARY.
            0xE7 | 0xEF | 0xA7 | 0xAF | 0xA5 | 0xAD => {
                let max = r.u16_le()?;
                if matches!(ty, 0xE7 | 0xEF | 0xA7 | 0xAF) {
                    r.skip(5)?;
                }
                let bytes = if max == 0xFFFF {
                    plp(r)?
                } else {
                    match r.u16_le()? {
                        0xFFFF => None,
                        n => Some(r.bytes(usize::from(n))?.to_vec()),
                    }
                };
                match bytes {
                    None => Value::Null,
                    Some(b) => match ty {
                        0xE7 | 0xEF => {
                            let units = b.len() / 2;
                            Value::Text(Reader::new(&b).utf16le_lossy(units)?)
                        }
                        0xA7 | 0xAF => Value::Text(b.iter().map(|&c| char::from(c)).collect()),
                        _ => Value::Bytes(b),
                    },
                }
            }
            other => {
                return Err(bad(format!(
                    "parameter type {other:#04x} not supported yet"
                )))
            }
        };
    Ok((name, status, v))
}

/// A PLP value: total length, chunks, a zero terminator.
fn plp(r: &mut Reader<'_>) -> Result<Option<Vec<u8>>, TdsError> {
    let total = r.u64_le()?;
    if total == u64::MAX {
        return Ok(None);
    }
    let mut out = Vec::new();
    loop {
        let n = r.u32_le()? as usize;
        if n == 0 {
            break;
        }
        if out.len() + n > MAX_VALUE {
            return Err(bad("parameter value too large"));
        }
        out.extend_from_slice(r.bytes(n)?);
    }
    Ok(Some(out))
}

/// Days since 1900-01-01 and milliseconds → `YYYY-MM-DD HH:MM:SS.fff`.
pub fn datetime_text(days: i64, ms: i64) -> String {
    let z = days + crate::token::days_from_civil(1900, 1, 1);
    civil(z, ms)
}

/// Days since 1970-01-01 and milliseconds into the day → text.
pub fn civil(z: i64, ms: i64) -> String {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let ms = ms.clamp(0, 86_399_999);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(datetime_text(0, 0), "1900-01-01 00:00:00.000");
        assert_eq!(civil(0, 1), "1970-01-01 00:00:00.001");
        assert_eq!(datetime_text(45349, 3_723_000), "2024-02-29 01:02:03.000");
    }

    #[test]
    fn nvarchar_and_int_params() {
        let mut b = vec![2, b'@', 0, b'x', 0, 0, 0x26, 4, 4];
        b.extend_from_slice(&7i32.to_le_bytes());
        b.extend_from_slice(&[
            0, 0, 0xE7, 0x10, 0, 9, 4, 0xD0, 0, 0x34, 4, 0, b'h', 0, b'i', 0,
        ]);
        let mut r = Reader::new(&b);
        assert_eq!(param(&mut r).expect("int"), ("@x".into(), Value::Int(7)));
        assert_eq!(
            param(&mut r).expect("str"),
            (String::new(), Value::Text("hi".into()))
        );
        assert!(r.is_empty());
    }

    #[test]
    fn datetime2_date_guid_money_params() {
        let days =
            crate::token::days_from_civil(2024, 2, 29) - crate::token::days_from_civil(1, 1, 1);
        let units: u64 = 3723 * 10_000_000 + 1_230_000;
        let mut p = vec![0u8, 0, 0x2A, 7, 8];
        p.extend(&units.to_le_bytes()[..5]);
        p.extend(&(days as u32).to_le_bytes()[..3]);
        let mut r = Reader::new(&p);
        assert_eq!(
            param(&mut r).expect("datetime2").1,
            Value::Text("2024-02-29 01:02:03.123".into())
        );
        // More than milliseconds, and a datetimeoffset back in local time.
        let mut p = vec![0u8, 0, 0x2A, 7, 8];
        p.extend(&(units + 4567).to_le_bytes()[..5]);
        p.extend(&(days as u32).to_le_bytes()[..3]);
        assert_eq!(
            param(&mut Reader::new(&p)).expect("datetime2").1,
            Value::Text("2024-02-29 01:02:03.1234567".into())
        );
        let mut p = vec![0u8, 0, 0x2B, 0, 8];
        p.extend(&(23u64 * 3600).to_le_bytes()[..3]);
        p.extend(&(days as u32 - 1).to_le_bytes()[..3]);
        p.extend(120i16.to_le_bytes());
        assert_eq!(
            param(&mut Reader::new(&p)).expect("datetimeoffset").1,
            Value::Text("2024-02-29 01:00:00.000 +02:00".into())
        );
        let mut p = vec![0u8, 0, 0x28, 3];
        p.extend(&(days as u32).to_le_bytes()[..3]);
        assert_eq!(
            param(&mut Reader::new(&p)).expect("date").1,
            Value::Text("2024-02-29".into())
        );
        let mut p = vec![0u8, 0, 0x24, 16, 16];
        p.extend([
            0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD,
            0xEE, 0xFF,
        ]);
        assert_eq!(
            param(&mut Reader::new(&p)).expect("guid").1,
            Value::Text("00112233-4455-6677-8899-AABBCCDDEEFF".into())
        );
        let mut p = vec![0u8, 0, 0x6E, 8, 8, 0, 0, 0, 0];
        p.extend(125_000u32.to_le_bytes());
        assert_eq!(
            param(&mut Reader::new(&p)).expect("money").1,
            Value::Float(12.5)
        );
        // A scale beyond 7 and a short value are refused, not read past.
        assert!(param(&mut Reader::new(&[0, 0, 0x2A, 9, 0])).is_err());
        assert!(param(&mut Reader::new(&[0, 0, 0x2B, 7, 3, 1, 2, 3])).is_err());
    }
}
