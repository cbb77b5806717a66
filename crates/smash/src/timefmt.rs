//! Unix time → xs:dateTime text (CIM datetimes on the wire are
//! `cim:Datetime` with an xs:dateTime value).

/// Formats seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn xs_datetime(unix: u64) -> String {
    let t = i64::try_from(unix)
        .ok()
        .and_then(|u| time::OffsetDateTime::from_unix_timestamp(u).ok())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
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
    }
}
