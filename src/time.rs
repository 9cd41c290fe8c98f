//! Time as a value. The engine never reads a clock: every call that needs
//! the time takes a [`Timestamp`] the host passes in (milliseconds since the
//! Unix epoch, UTC). This module converts it to and from RFC 3339 text and
//! civil dates, with no dependency and no I/O.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A point in time: milliseconds since 1970-01-01T00:00:00Z.
///
/// ```
/// use idsync::time::Timestamp;
/// let t = Timestamp::parse_rfc3339("2024-02-29T13:05:09Z")?;
/// assert_eq!(t.to_rfc3339(), "2024-02-29T13:05:09Z");
/// assert_eq!(t.add_secs(60).to_rfc3339(), "2024-02-29T13:06:09Z");
/// # Ok::<(), idsync::time::TimeError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

/// A timestamp that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timestamp at byte {position}: expected {expected}")]
pub struct TimeError {
    /// Byte offset in the input.
    pub position: usize,
    /// What was expected there.
    pub expected: &'static str,
}

/// A civil (proleptic Gregorian, UTC) date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// Year (may be negative or above 9999 only in arithmetic).
    pub year: i64,
    /// Month, 1-12.
    pub month: u32,
    /// Day of month, 1-31.
    pub day: u32,
    /// Hour, 0-23.
    pub hour: u32,
    /// Minute, 0-59.
    pub minute: u32,
    /// Second, 0-59.
    pub second: u32,
    /// Millisecond, 0-999.
    pub millis: u32,
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Whether `year` is a leap year.
pub fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in a month of a year.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// From milliseconds since the epoch.
    pub const fn from_millis(ms: i64) -> Timestamp {
        Timestamp(ms)
    }

    /// From seconds since the epoch.
    pub const fn from_secs(s: i64) -> Timestamp {
        Timestamp(s.saturating_mul(1000))
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch (rounded toward negative infinity).
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// This time plus `secs` seconds (saturating).
    pub const fn add_secs(self, secs: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(secs.saturating_mul(1000)))
    }

    /// The duration from `earlier` to `self` (zero if `earlier` is later).
    pub fn since(self, earlier: Timestamp) -> Duration {
        let ms = self.0.saturating_sub(earlier.0);
        Duration::from_millis(u64::try_from(ms).unwrap_or(0))
    }

    /// Builds a timestamp from a civil UTC date and time.
    pub fn from_civil(c: Civil) -> Timestamp {
        let days = days_from_civil(c.year, c.month, c.day);
        let secs = days * 86_400
            + i64::from(c.hour) * 3600
            + i64::from(c.minute) * 60
            + i64::from(c.second);
        Timestamp(
            secs.saturating_mul(1000)
                .saturating_add(i64::from(c.millis)),
        )
    }

    /// The civil UTC date and time.
    pub fn to_civil(self) -> Civil {
        let secs = self.0.div_euclid(1000);
        let millis = self.0.rem_euclid(1000) as u32;
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: (sod / 3600) as u32,
            minute: (sod % 3600 / 60) as u32,
            second: (sod % 60) as u32,
            millis,
        }
    }

    /// Parses RFC 3339 (`2024-02-29T13:05:09Z`, `...09.250+01:00`,
    /// lowercase `t`/`z` and a space separator accepted).
    pub fn parse_rfc3339(s: &str) -> Result<Timestamp, TimeError> {
        let b = s.as_bytes();
        let mut i = 0;
        let year = digits(b, &mut i, 4, "four-digit year")?;
        lit(b, &mut i, b'-', "'-'")?;
        let month = digits(b, &mut i, 2, "two-digit month")? as u32;
        lit(b, &mut i, b'-', "'-'")?;
        let day_pos = i;
        let day = digits(b, &mut i, 2, "two-digit day")? as u32;
        if !(1..=12).contains(&month) {
            return Err(TimeError {
                position: 5,
                expected: "month 01-12",
            });
        }
        if day == 0 || day > days_in_month(year, month) {
            return Err(TimeError {
                position: day_pos,
                expected: "a day that exists in that month",
            });
        }
        match b.get(i) {
            Some(b'T' | b't' | b' ') => i += 1,
            _ => {
                return Err(TimeError {
                    position: i,
                    expected: "'T'",
                });
            }
        }
        let hour = digits(b, &mut i, 2, "two-digit hour")? as u32;
        lit(b, &mut i, b':', "':'")?;
        let minute = digits(b, &mut i, 2, "two-digit minute")? as u32;
        lit(b, &mut i, b':', "':'")?;
        let second = digits(b, &mut i, 2, "two-digit second")? as u32;
        if hour > 23 || minute > 59 || second > 60 {
            return Err(TimeError {
                position: i - 2,
                expected: "a valid time of day",
            });
        }
        let mut millis = 0u32;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            let mut scale = 100;
            while let Some(d) = b.get(i).filter(|c| c.is_ascii_digit()) {
                millis += u32::from(d - b'0') * scale;
                scale /= 10;
                i += 1;
            }
            if i == start {
                return Err(TimeError {
                    position: i,
                    expected: "fraction digits",
                });
            }
        }
        let offset_secs: i64 = match b.get(i) {
            Some(b'Z' | b'z') => {
                i += 1;
                0
            }
            Some(&sign @ (b'+' | b'-')) => {
                i += 1;
                let h = digits(b, &mut i, 2, "two-digit offset hour")?;
                lit(b, &mut i, b':', "':'")?;
                let m = digits(b, &mut i, 2, "two-digit offset minute")?;
                let o = h * 3600 + m * 60;
                if sign == b'+' { o } else { -o }
            }
            _ => {
                return Err(TimeError {
                    position: i,
                    expected: "'Z' or an offset",
                });
            }
        };
        if i != b.len() {
            return Err(TimeError {
                position: i,
                expected: "end of timestamp",
            });
        }
        let t = Timestamp::from_civil(Civil {
            year,
            month,
            day,
            hour,
            minute,
            second: second.min(59),
            millis,
        });
        Ok(Timestamp(t.0 - offset_secs * 1000))
    }

    /// RFC 3339 text in UTC, with milliseconds only when not zero.
    pub fn to_rfc3339(self) -> String {
        self.to_string()
    }
}

/// This time plus a duration (saturating).
impl std::ops::Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, d: Duration) -> Timestamp {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(ms))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.to_civil();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        )?;
        if c.millis != 0 {
            write!(f, ".{:03}", c.millis)?;
        }
        f.write_str("Z")
    }
}

fn digits(b: &[u8], i: &mut usize, n: usize, expected: &'static str) -> Result<i64, TimeError> {
    let mut v = 0i64;
    for k in 0..n {
        match b.get(*i + k) {
            Some(d) if d.is_ascii_digit() => v = v * 10 + i64::from(d - b'0'),
            _ => {
                return Err(TimeError {
                    position: *i + k,
                    expected,
                });
            }
        }
    }
    *i += n;
    Ok(v)
}

fn lit(b: &[u8], i: &mut usize, c: u8, expected: &'static str) -> Result<(), TimeError> {
    if b.get(*i) == Some(&c) {
        *i += 1;
        Ok(())
    } else {
        Err(TimeError {
            position: *i,
            expected,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-719_468, -1, 0, 1, 11_016, 19_782, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn rfc3339() {
        let t = Timestamp::parse_rfc3339("2024-02-29T13:05:09.250+01:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2024-02-29T12:05:09.250Z");
        assert_eq!(Timestamp::EPOCH.to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Timestamp::parse_rfc3339("2023-02-29T00:00:00Z")
                .unwrap_err()
                .position,
            8
        );
        assert!(Timestamp::parse_rfc3339("2024-01-01T00:00:00").is_err());
        assert!(Timestamp::parse_rfc3339("2024-01-01T24:00:00Z").is_err());
        assert!(Timestamp::parse_rfc3339("").is_err());
        assert!(Timestamp::parse_rfc3339("2024-01-01T00:00:00Zjunk").is_err());
    }
}
