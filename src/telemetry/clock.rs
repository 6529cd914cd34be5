//! The timestamp at the start of each human-format log line: the same text as
//! tracing-subscriber's `SystemTime` timer (`2026-12-01T18:27:29.123456Z`, UTC, microseconds),
//! with the date and time of day formatted once per second per thread instead of on every
//! line (that formatting was ~2,400 instructions per request log line in issue 16's profile).

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;

/// UTC wall-clock time with microseconds, as `SystemTime` writes it.
#[derive(Debug, Default, Clone, Copy)]
pub struct UtcMicros;

thread_local! {
    /// The last second this thread formatted, and its `YYYY-MM-DDTHH:MM:SS`.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

impl FormatTime for UtcMicros {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        let Ok(since) = SystemTime::now().duration_since(UNIX_EPOCH) else {
            // before 1970: the exact formatter handles it
            return tracing_subscriber::fmt::time::SystemTime.format_time(w);
        };
        let secs = since.as_secs();
        SECOND.with_borrow_mut(|(cached, text)| {
            if *cached != secs {
                text.clear();
                write_second(text, secs)?;
                *cached = secs;
            }
            w.write_str(text)
        })?;
        let micros = since.subsec_micros();
        let mut digits = [b'0'; 6];
        let mut v = micros;
        for d in digits.iter_mut().rev() {
            *d = b'0' + (v % 10) as u8;
            v /= 10;
        }
        w.write_char('.')?;
        // only ASCII digits were written
        w.write_str(std::str::from_utf8(&digits).unwrap_or("000000"))?;
        w.write_char('Z')
    }
}

/// `YYYY-MM-DDTHH:MM:SS` of `secs` after the epoch (UTC, proleptic Gregorian calendar).
fn write_second(out: &mut String, secs: u64) -> fmt::Result {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    if y > 9999 {
        write!(out, "+{y}")?;
    } else {
        write!(out, "{y:04}")?;
    }
    write!(out, "-{m:02}-{d:02}T{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Year, month and day of `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn second(secs: u64) -> String {
        let mut s = String::new();
        write_second(&mut s, secs).unwrap_or_default();
        s
    }

    #[test]
    fn seconds_are_written_as_utc_calendar_dates() {
        assert_eq!(second(0), "1970-01-01T00:00:00");
        assert_eq!(second(951_782_400), "2000-02-29T00:00:00");
        assert_eq!(second(951_868_799), "2000-02-29T23:59:59");
        assert_eq!(second(1_709_164_800), "2024-02-29T00:00:00");
        assert_eq!(second(1_764_612_449), "2025-12-01T18:07:29");
        assert_eq!(second(4_102_444_800), "2100-01-01T00:00:00");
        assert_eq!(second(253_402_300_799), "9999-12-31T23:59:59");
        assert_eq!(second(253_402_300_800), "+10000-01-01T00:00:00");
    }

    /// The text tracing-subscriber's own timer writes, read until both land in one second.
    #[test]
    fn the_line_timestamp_matches_the_exact_formatter_to_the_second() {
        let write = |t: &dyn FormatTime| {
            let mut s = String::new();
            t.format_time(&mut Writer::new(&mut s)).unwrap_or_default();
            s
        };
        for _ in 0..100 {
            let (ours, exact, again) =
                (write(&UtcMicros), write(&tracing_subscriber::fmt::time::SystemTime), write(&UtcMicros));
            assert_eq!(ours.len(), exact.len(), "{ours} vs {exact}");
            assert!(ours.ends_with('Z') && ours.as_bytes()[19] == b'.', "{ours}");
            if ours[..19] == again[..19] {
                assert_eq!(ours[..19], exact[..19], "{ours} vs {exact}");
                return;
            }
        }
        panic!("the clock crossed a second boundary on every try");
    }
}
