//! Calendar text of Unix times, in UTC: the one place that turns seconds
//! into a date for the protocols that write xs:dateTime or ISO 8601
//! (SMASH, Redfish, WSUS, vSphere, the load balancer). Each adds its own
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

/// `YYYY-MM-DDTHH:MM:SSZ` (xs:dateTime, as CIM datetimes carry it).
pub fn xs_datetime(unix: u64) -> String {
    format!(
        "{}Z",
        utc_date_time_or_epoch(i64::try_from(unix).unwrap_or(i64::MAX))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
