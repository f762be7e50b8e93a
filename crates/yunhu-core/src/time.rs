//! Times are UTC inside; these helpers convert to a tenant's zone for the skins.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The zone a tenant gets when it names none.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

/// Parses an IANA zone name such as `Asia/Shanghai`.
pub fn parse_zone(name: &str) -> Option<Tz> {
    name.parse().ok()
}

/// A tenant's zone, or the default zone when the name is not one.
pub fn zone_or_default(name: &str) -> Tz {
    parse_zone(name).unwrap_or(chrono_tz::Asia::Shanghai)
}

/// `yyyy-MM-dd HH:mm:ss` in `zone` (the form most dialects take times in) → ms UTC.
pub fn parse_local(value: &str, zone: Tz) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%d %H:%M:%S")
        .ok()
        .and_then(|t| t.and_local_timezone(zone).earliest())
        .map(|t| t.timestamp_millis())
}

/// `yyyyMMddHHmmss` or `yyyy-MM-dd HH:mm:ss` in `zone` (open95 documents the first and shows the
/// second in examples) → ms UTC.
pub fn parse_local_any(value: &str, zone: Tz) -> Option<i64> {
    chrono::NaiveDateTime::parse_from_str(value, "%Y%m%d%H%M%S")
        .ok()
        .and_then(|t| t.and_local_timezone(zone).earliest())
        .map(|t| t.timestamp_millis())
        .or_else(|| parse_local(value, zone))
}

/// Milliseconds since the Unix epoch, the form times are stored in.
pub fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The instant of a stored millisecond timestamp.
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Formats a stored timestamp in `zone` with a chrono pattern (e.g. `%Y%m%d%H%M%S`).
pub fn format_in_zone(ms: i64, zone: Tz, pattern: &str) -> String {
    from_millis(ms).with_timezone(&zone).format(pattern).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_in_the_tenant_zone() {
        let zone = parse_zone("Asia/Shanghai").unwrap();
        // 2018-07-30 10:52:36 UTC is 18:52:36 in Shanghai.
        let ms = Utc.with_ymd_and_hms(2018, 7, 30, 10, 52, 36).unwrap().timestamp_millis();
        assert_eq!(format_in_zone(ms, zone, "%Y%m%d%H%M%S"), "20180730185236");
        assert!(parse_zone("Mars/Olympus").is_none());
        assert_eq!(parse_local("2018-07-30 18:52:36", zone), Some(ms));
        assert_eq!(parse_local("2018-07-30T18:52:36", zone), None);
        assert_eq!(zone_or_default("Mars/Olympus"), zone);
    }
}
