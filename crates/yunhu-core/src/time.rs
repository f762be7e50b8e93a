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

/// The first and the last millisecond of the calendar day in `zone` that holds `ms`.
pub fn local_day(ms: i64, zone: Tz) -> (i64, i64) {
    let date = from_millis(ms).with_timezone(&zone).date_naive();
    let start_of = |d: chrono::NaiveDate| {
        d.and_time(chrono::NaiveTime::MIN)
            .and_local_timezone(zone)
            .earliest()
            // A zone whose day begins in a gap (a DST jump at midnight): its first hour after it.
            .or_else(|| {
                (d.and_time(chrono::NaiveTime::MIN) + chrono::Duration::hours(1)).and_local_timezone(zone).earliest()
            })
            .map_or(ms, |t| t.timestamp_millis())
    };
    let next = date.succ_opt().unwrap_or(date);
    (start_of(date), start_of(next) - 1)
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
    let style = match pattern {
        DASHED => Style::Dashed,
        COMPACT => Style::Compact,
        _ => return from_millis(ms).with_timezone(&zone).format(pattern).to_string(),
    };
    local_stamp(ms, zone, style).as_str().to_string()
}

const DASHED: &str = "%Y-%m-%d %H:%M:%S";
const COMPACT: &str = "%Y%m%d%H%M%S";

/// The two ways the dialects spell a local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `yyyy-MM-dd HH:mm:ss` (chrono `%Y-%m-%d %H:%M:%S`).
    Dashed,
    /// `yyyyMMddHHmmss` (chrono `%Y%m%d%H%M%S`).
    Compact,
}

/// A local time spelt into a fixed buffer: listings print several per row, and chrono's
/// pattern-driven formatting and the `String` it returns cost more than the query's own rows.
#[derive(Clone, Copy)]
pub struct LocalStamp {
    // A sign and six year digits at most (chrono's range), then `-MM-dd HH:mm:ss`.
    buf: [u8; 24],
    len: u8,
}

impl LocalStamp {
    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits, signs, dashes, colons and a space are ever written.
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl std::fmt::Debug for LocalStamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for LocalStamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for LocalStamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A stored timestamp in `zone`, spelt as `style`; the same text as [`format_in_zone`] with
/// the matching chrono pattern.
pub fn local_stamp(ms: i64, zone: Tz, style: Style) -> LocalStamp {
    use chrono::{Datelike, Offset, Timelike};
    let zoned = from_millis(ms).with_timezone(&zone);
    let mut out = LocalStamp { buf: [0; 24], len: 0 };
    let Some(t) = zoned.naive_utc().checked_add_offset(zoned.offset().fix()) else {
        // Past the end of chrono's calendar, where only its own formatting knows the spelling.
        let pattern = if style == Style::Dashed { DASHED } else { COMPACT };
        let text = zoned.format(pattern).to_string();
        let len = text.len().min(out.buf.len());
        out.buf[..len].copy_from_slice(&text.as_bytes()[..len]);
        out.len = len as u8;
        return out;
    };
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        out.buf[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    let year = t.year();
    // chrono's %Y: four digits within 0-9999, else a sign and at least four digits.
    let mut digits = [0u8; 8];
    let mut n = year.unsigned_abs();
    let mut i = digits.len();
    while n > 0 || digits.len() - i < 4 {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    if !(0..=9999).contains(&year) {
        put(if year < 0 { b"-" } else { b"+" });
    }
    put(&digits[i..]);
    let two = |v: u32| [b'0' + (v / 10 % 10) as u8, b'0' + (v % 10) as u8];
    let (date_sep, mid, time_sep): (&[u8], &[u8], &[u8]) = match style {
        Style::Dashed => (b"-", b" ", b":"),
        Style::Compact => (b"", b"", b""),
    };
    put(date_sep);
    put(&two(t.month()));
    put(date_sep);
    put(&two(t.day()));
    put(mid);
    put(&two(t.hour()));
    put(time_sep);
    put(&two(t.minute()));
    put(time_sep);
    put(&two(t.second()));
    out.len = at as u8;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_day_runs_from_its_midnight_to_its_last_millisecond() {
        let shanghai = chrono_tz::Asia::Shanghai;
        // 2026-11-21 02:00 UTC is 10:00 in Shanghai.
        let at = to_millis(Utc.with_ymd_and_hms(2026, 11, 21, 2, 0, 0).unwrap());
        let (start, end) = local_day(at, shanghai);
        assert_eq!(start, parse_local("2026-11-21 00:00:00", shanghai).unwrap());
        assert_eq!(end, parse_local("2026-11-22 00:00:00", shanghai).unwrap() - 1);
        // In New York 2026-11-01 has 25 hours: daylight saving time ends that night.
        let ny = chrono_tz::America::New_York;
        let (start, end) = local_day(to_millis(Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()), ny);
        assert_eq!(end + 1 - start, 25 * 3600 * 1000);
        // São Paulo once began some days at 01:00 (no midnight): the day starts at its first hour.
        let sp = chrono_tz::America::Sao_Paulo;
        let (start, _) = local_day(to_millis(Utc.with_ymd_and_hms(2018, 11, 4, 12, 0, 0).unwrap()), sp);
        assert_eq!(start, parse_local("2018-11-04 01:00:00", sp).unwrap());
    }

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

    #[test]
    fn stamps_spell_what_chrono_spells() {
        let zones = [chrono_tz::Asia::Shanghai, chrono_tz::America::New_York, chrono_tz::Australia::Lord_Howe];
        let chrono =
            |ms: i64, zone: Tz, pattern: &str| from_millis(ms).with_timezone(&zone).format(pattern).to_string();
        let mut samples =
            vec![0, -1, 1, i64::MIN, i64::MAX, -62_135_596_800_000, -62_135_596_800_001, 253_402_300_799_999];
        samples.extend([253_402_300_800_000, 8_210_266_876_799_999, -8_334_601_228_800_000, 1_767_196_800_000]);
        // A pseudo-random walk over ±400 years, crossing DST changes in the zones that have them.
        let mut x: i64 = 0x2545_f491;
        for _ in 0..20_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            samples.push((x >> 16) % 12_600_000_000_000);
        }
        for ms in samples {
            for zone in zones {
                assert_eq!(local_stamp(ms, zone, Style::Dashed).as_str(), chrono(ms, zone, DASHED), "{ms} {zone}");
                assert_eq!(local_stamp(ms, zone, Style::Compact).as_str(), chrono(ms, zone, COMPACT), "{ms} {zone}");
                assert_eq!(format_in_zone(ms, zone, "%H:%M"), chrono(ms, zone, "%H:%M"));
            }
        }
        let ms = Utc.with_ymd_and_hms(2018, 7, 30, 10, 52, 36).unwrap().timestamp_millis();
        let stamp = local_stamp(ms, chrono_tz::Asia::Shanghai, Style::Dashed);
        assert_eq!(format!("{stamp} {stamp:?}"), "2018-07-30 18:52:36 \"2018-07-30 18:52:36\"");
    }
}

/// Business hours: weekly opening spans (`mon-fri 09:00-18:00`, `sat 10:00-14:00`, `daily
/// 00:00-24:00`) and closed days (`2026-10-01`), read in a tenant's zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessHours {
    /// (weekday 0 = Monday, open minute, close minute) spans.
    spans: Vec<(u32, u32, u32)>,
    /// Closed days, `YYYY-MM-DD`.
    holidays: Vec<chrono::NaiveDate>,
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn minute_of(hhmm: &str) -> Option<u32> {
    let (h, m) = hhmm.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

impl BusinessHours {
    /// Reads the spans and closed days; the first fault, said plainly. No spans at all means
    /// always open.
    pub fn parse(spans: &[String], holidays: &[String]) -> Result<BusinessHours, String> {
        let mut out = BusinessHours { spans: Vec::new(), holidays: Vec::new() };
        for s in spans {
            let bad =
                || format!("hours `{s}`: write e.g. `mon-fri 09:00-18:00`, `sat 10:00-14:00` or `daily 08:00-20:00`");
            let (days, times) = s.trim().split_once(' ').ok_or_else(bad)?;
            let (open, close) = times.trim().split_once('-').ok_or_else(bad)?;
            let (open, close) = (minute_of(open).ok_or_else(bad)?, minute_of(close).ok_or_else(bad)?);
            if open >= close {
                return Err(format!("hours `{s}`: the span must close after it opens"));
            }
            let day = |d: &str| WEEKDAYS.iter().position(|w| *w == d).map(|i| i as u32).ok_or_else(bad);
            let (first, last) = match days {
                "daily" => (0, 6),
                _ => match days.split_once('-') {
                    Some((a, b)) => (day(a)?, day(b)?),
                    None => (day(days)?, day(days)?),
                },
            };
            if first > last {
                return Err(bad());
            }
            out.spans.extend((first..=last).map(|d| (d, open, close)));
        }
        for h in holidays {
            let d = chrono::NaiveDate::parse_from_str(h.trim(), "%Y-%m-%d")
                .map_err(|_| format!("holiday `{h}` is not a date like 2026-10-01"))?;
            out.holidays.push(d);
        }
        Ok(out)
    }

    /// Whether the business is open at `ms` in `zone`.
    pub fn open_at(&self, ms: i64, zone: Tz) -> bool {
        use chrono::{Datelike, Timelike};
        let local = from_millis(ms).with_timezone(&zone);
        if self.holidays.contains(&local.date_naive()) {
            return false;
        }
        if self.spans.is_empty() {
            return true;
        }
        let (day, minute) = (local.weekday().num_days_from_monday(), local.hour() * 60 + local.minute());
        self.spans.iter().any(|&(d, open, close)| d == day && (open..close).contains(&minute))
    }
}

#[cfg(test)]
mod business_hours_tests {
    use super::*;

    #[test]
    fn open_on_weekdays_in_the_tenants_zone_closed_on_holidays() {
        let zone = zone_or_default("Asia/Shanghai");
        let hours =
            BusinessHours::parse(&["mon-fri 09:00-18:00".into(), "sat 10:00-14:00".into()], &["2026-10-01".into()])
                .unwrap();
        let at = |s: &str| parse_local(s, zone).unwrap();
        assert!(hours.open_at(at("2026-12-03 09:00:00"), zone), "Thursday 09:00");
        assert!(!hours.open_at(at("2026-12-03 18:00:00"), zone), "closes at 18:00");
        assert!(!hours.open_at(at("2026-12-03 08:59:59"), zone));
        assert!(hours.open_at(at("2026-12-05 13:59:00"), zone), "Saturday");
        assert!(!hours.open_at(at("2026-12-06 12:00:00"), zone), "Sunday");
        assert!(!hours.open_at(at("2026-10-01 12:00:00"), zone), "a holiday on a Thursday");
        assert!(BusinessHours::parse(&[], &[]).unwrap().open_at(at("2026-12-06 03:00:00"), zone));
        for bad in ["mon-fri", "mon-fri 18:00-09:00", "someday 09:00-10:00", "fri-mon 09:00-10:00"] {
            assert!(BusinessHours::parse(&[bad.into()], &[]).is_err(), "{bad}");
        }
    }
}
