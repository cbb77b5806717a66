//! Calendar text of Unix times, in UTC: the one place that turns seconds
//! into a date for the protocols that write xs:dateTime or ISO 8601
//! (SMASH, Redfish, WSUS, vSphere, the load balancer, WMI). Each adds its own
//! product's fraction and zone to [`utc_date_time`].

/// `YYYY-MM-DDTHH:MM:SS` of `unix_secs` in UTC; `None` outside the years
/// the `time` crate represents (±9999).
pub fn utc_date_time(unix_secs: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(unix_secs).ok()?;
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    ))
}

/// [`utc_date_time`], or the epoch's for times out of range.
pub fn utc_date_time_or_epoch(unix_secs: i64) -> String {
    utc_date_time(unix_secs).unwrap_or_else(|| "1970-01-01T00:00:00".to_string())
}

/// `YYYY-MM-DDTHH:MM:SSZ` (xs:dateTime, as CIM datetimes carry it); the
/// epoch's past year 9999, as [`utc_date_time_or_epoch`] does.
pub fn xs_datetime(unix: u64) -> String {
    /// 10000-01-01T00:00:00Z.
    const YEAR_10000: u64 = 253_402_300_800;
    if unix >= YEAR_10000 {
        return "1970-01-01T00:00:00Z".to_string();
    }
    date_time_z(unix)
}

/// `YYYY-MM-DDTHH:MM:SSZ` of `unix` in UTC, the year in as many digits as
/// it takes past 9999. The digits are written directly rather than through
/// `format!`: WMI writes one on every Win32_OperatingSystem read, where
/// the formatting machinery showed in the profile.
pub fn date_time_z(unix: u64) -> String {
    let days = i64::try_from(unix / 86_400).unwrap_or(i64::MAX);
    let rem = unix % 86_400;
    let (y, m, d) = civil_from_days(days);
    if y > 9999 {
        return format!(
            "{y}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            (rem / 60) % 60,
            rem % 60
        );
    }
    let mut out = String::with_capacity(20);
    let fields = [
        (u64::try_from(y).unwrap_or(0), 4, '-'),
        (u64::from(m), 2, '-'),
        (u64::from(d), 2, 'T'),
        (rem / 3600, 2, ':'),
        ((rem / 60) % 60, 2, ':'),
        (rem % 60, 2, 'Z'),
    ];
    for (v, n, after) in fields {
        for k in (0..n).rev() {
            out.push(char::from(b'0' + (v / 10u64.pow(k) % 10) as u8));
        }
        out.push(after);
    }
    out
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`). Total over `i64` years, unlike `time::Date`, because
/// wire formats (TDS date, .NET ticks, SAC's `time`) reach years `time`
/// does not represent; `m` is 1–12 and `d` is not checked against the month.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date (year, month 1–12, day) `days` after
/// 1970-01-01: the inverse of [`days_from_civil`].
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(days_from_civil(1, 1, 1), -719_162);
        assert_eq!(days_from_civil(1900, 1, 1), -25_567);
        for days in (-800_000..3_000_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
            let t = time::OffsetDateTime::from_unix_timestamp(days * 86_400);
            if let Ok(t) = t {
                assert_eq!(
                    (t.year() as i64, u8::from(t.month()) as u32, t.day() as u32),
                    (y, m, d)
                );
            }
        }
    }

    #[test]
    fn known_dates() {
        assert_eq!(xs_datetime(0), "1970-01-01T00:00:00Z");
        assert_eq!(xs_datetime(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(xs_datetime(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(xs_datetime(4_102_444_799), "2099-12-31T23:59:59Z");
        assert_eq!(xs_datetime(u64::MAX), "1970-01-01T00:00:00Z");
        assert_eq!(utc_date_time(i64::MAX), None);
    }
}
