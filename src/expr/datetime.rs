//! Date-times as the expression functions see them: a UTC instant in .NET
//! ticks (100 ns), the product's `M/d/yyyy h:mm:ss tt` rendering, a tolerant
//! reader for the date strings CDate accepts, .NET custom format strings for
//! FormatDateTime (format and exact parse), and VB-style DateAdd/DateDiff.
//! Pure arithmetic: never reads a clock.

use crate::time::{Civil, Timestamp, civil_from_days, days_from_civil, days_in_month};

const TICKS_PER_SEC: i64 = 10_000_000;
const TICKS_PER_DAY: i64 = 86_400 * TICKS_PER_SEC;
/// FILETIME epoch (1601-01-01) in ticks relative to the Unix epoch.
const FILETIME_OFFSET: i64 = 11_644_473_600 * TICKS_PER_SEC;
/// .NET's DateTime range: years 1 to 9999.
const MIN_TICKS: i64 = -62_135_596_800 * TICKS_PER_SEC;
const MAX_TICKS: i64 = 253_402_300_800 * TICKS_PER_SEC - 1;

/// A UTC instant: 100-ns ticks since 1970-01-01, within .NET's year 1..9999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct DateTime(i64);

/// Broken-down UTC fields.
struct Fields {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// Ticks within the second (0..10^7).
    frac: i64,
}

impl DateTime {
    pub(crate) fn from_ticks(t: i64) -> Option<DateTime> {
        (MIN_TICKS..=MAX_TICKS).contains(&t).then_some(DateTime(t))
    }

    pub(crate) fn from_timestamp(t: Timestamp) -> DateTime {
        DateTime(
            t.as_millis()
                .saturating_mul(10_000)
                .clamp(MIN_TICKS, MAX_TICKS),
        )
    }

    pub(crate) fn to_timestamp(self) -> Timestamp {
        Timestamp::from_millis(self.0.div_euclid(10_000))
    }

    /// From a Windows FILETIME (100-ns ticks since 1601-01-01 UTC).
    pub(crate) fn from_filetime(ft: i64) -> Option<DateTime> {
        DateTime::from_ticks(ft.checked_sub(FILETIME_OFFSET)?)
    }

    pub(crate) fn to_filetime(self) -> i64 {
        self.0 + FILETIME_OFFSET
    }

    fn from_parts(
        year: i64,
        month: u32,
        day: u32,
        hour: u32,
        minute: u32,
        second: u32,
        frac: i64,
    ) -> Option<DateTime> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        if hour > 23 || minute > 59 || second > 59 {
            return None;
        }
        let days = days_from_civil(year, month, day);
        let secs = days.checked_mul(86_400)?
            + i64::from(hour) * 3600
            + i64::from(minute) * 60
            + i64::from(second);
        DateTime::from_ticks(secs.checked_mul(TICKS_PER_SEC)?.checked_add(frac)?)
    }

    fn fields(self) -> Fields {
        let days = self.0.div_euclid(TICKS_PER_DAY);
        let rem = self.0.rem_euclid(TICKS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        let secs = rem / TICKS_PER_SEC;
        Fields {
            year,
            month,
            day,
            hour: (secs / 3600) as u32,
            minute: (secs % 3600 / 60) as u32,
            second: (secs % 60) as u32,
            frac: rem % TICKS_PER_SEC,
        }
    }

    fn add_ticks(self, t: i64) -> Option<DateTime> {
        DateTime::from_ticks(self.0.checked_add(t)?)
    }

    /// Day of week, 0 = Sunday.
    fn weekday(self) -> i64 {
        (self.0.div_euclid(TICKS_PER_DAY) + 4).rem_euclid(7)
    }

    fn add_months(self, months: i64) -> Option<DateTime> {
        let f = self.fields();
        let total = f
            .year
            .checked_mul(12)?
            .checked_add(i64::from(f.month) - 1)?
            .checked_add(months)?;
        let year = total.div_euclid(12);
        let month = (total.rem_euclid(12) + 1) as u32;
        let day = f.day.min(days_in_month(year, month));
        DateTime::from_parts(year, month, day, f.hour, f.minute, f.second, f.frac)
    }

    /// VB `DateAdd`: `yyyy`, `q`, `m`, `y`/`d`/`w` (days), `ww`, `h`, `n`, `s`.
    /// Month arithmetic clamps to the month's last day.
    pub(crate) fn add(self, interval: Interval, n: i64) -> Option<DateTime> {
        match interval {
            Interval::Year => self.add_months(n.checked_mul(12)?),
            Interval::Quarter => self.add_months(n.checked_mul(3)?),
            Interval::Month => self.add_months(n),
            Interval::Day | Interval::DayOfYear | Interval::Weekday => {
                self.add_ticks(n.checked_mul(TICKS_PER_DAY)?)
            }
            Interval::Week => self.add_ticks(n.checked_mul(7 * TICKS_PER_DAY)?),
            Interval::Hour => self.add_ticks(n.checked_mul(3600 * TICKS_PER_SEC)?),
            Interval::Minute => self.add_ticks(n.checked_mul(60 * TICKS_PER_SEC)?),
            Interval::Second => self.add_ticks(n.checked_mul(TICKS_PER_SEC)?),
        }
    }

    /// VB `DateDiff(interval, self, other)`: positive when `other` is later.
    /// Elapsed intervals truncate toward zero; `ww` counts Sunday-started
    /// weeks between the two dates' week starts; `m`/`q`/`yyyy` count
    /// calendar boundaries.
    pub(crate) fn diff(self, interval: Interval, other: DateTime) -> i64 {
        let span = other.0 - self.0;
        match interval {
            Interval::Second => span / TICKS_PER_SEC,
            Interval::Minute => span / (60 * TICKS_PER_SEC),
            Interval::Hour => span / (3600 * TICKS_PER_SEC),
            Interval::Day | Interval::DayOfYear => span / TICKS_PER_DAY,
            Interval::Weekday => span / TICKS_PER_DAY / 7,
            Interval::Week => {
                let a = self.0.div_euclid(TICKS_PER_DAY) - self.weekday();
                let b = other.0.div_euclid(TICKS_PER_DAY) - other.weekday();
                (b - a) / 7
            }
            Interval::Month | Interval::Quarter | Interval::Year => {
                let (fa, fb) = (self.fields(), other.fields());
                match interval {
                    Interval::Year => fb.year - fa.year,
                    Interval::Quarter => {
                        (fb.year - fa.year) * 4 + i64::from((fb.month - 1) / 3)
                            - i64::from((fa.month - 1) / 3)
                    }
                    _ => (fb.year - fa.year) * 12 + i64::from(fb.month) - i64::from(fa.month),
                }
            }
        }
    }

    /// The product's rendering: `M/d/yyyy h:mm:ss tt` (en-US "G").
    pub(crate) fn render_us(self) -> String {
        self.format(".G").unwrap_or_default()
    }

    /// Formats with a .NET custom (or one-letter standard) format string.
    pub(crate) fn format(self, fmt: &str) -> Result<String, String> {
        let pattern = standard_pattern(fmt)?;
        let f = self.fields();
        let mut out = String::new();
        for part in tokenize(pattern)? {
            match part {
                Part::Lit(s) => out.push_str(&s),
                Part::Spec(c, n) => match c {
                    'y' => match n {
                        1 => out.push_str(&(f.year % 100).to_string()),
                        2 => out.push_str(&format!("{:02}", f.year % 100)),
                        _ => out.push_str(&format!("{:0width$}", f.year, width = n)),
                    },
                    'M' => match n {
                        1 => out.push_str(&f.month.to_string()),
                        2 => out.push_str(&format!("{:02}", f.month)),
                        3 => out.push_str(&MONTHS[f.month as usize - 1][..3]),
                        _ => out.push_str(MONTHS[f.month as usize - 1]),
                    },
                    'd' => match n {
                        1 => out.push_str(&f.day.to_string()),
                        2 => out.push_str(&format!("{:02}", f.day)),
                        3 => out.push_str(&DAYS[self.weekday() as usize][..3]),
                        _ => out.push_str(DAYS[self.weekday() as usize]),
                    },
                    'h' => {
                        let h12 = if f.hour % 12 == 0 { 12 } else { f.hour % 12 };
                        out.push_str(&pad(i64::from(h12), n.min(2)));
                    }
                    'H' => out.push_str(&pad(i64::from(f.hour), n.min(2))),
                    'm' => out.push_str(&pad(i64::from(f.minute), n.min(2))),
                    's' => out.push_str(&pad(i64::from(f.second), n.min(2))),
                    'f' | 'F' => {
                        let digits = format!("{:07}", f.frac);
                        let mut s = digits[..n.min(7)].to_owned();
                        if c == 'F' {
                            while s.ends_with('0') {
                                s.pop();
                            }
                            if s.is_empty() && out.ends_with('.') {
                                out.pop();
                            }
                        }
                        out.push_str(&s);
                    }
                    't' => {
                        let ampm = if f.hour < 12 { "AM" } else { "PM" };
                        out.push_str(if n == 1 { &ampm[..1] } else { ampm });
                    }
                    'z' => match n {
                        1 => out.push_str("+0"),
                        2 => out.push_str("+00"),
                        _ => out.push_str("+00:00"),
                    },
                    'K' => out.push('Z'),
                    'g' => out.push_str(if f.year > 0 { "A.D." } else { "B.C." }),
                    _ => out.push(c),
                },
            }
        }
        Ok(out)
    }

    /// `DateTime.ParseExact` with a .NET custom format (leading and
    /// trailing white space allowed, offsets converted to UTC).
    pub(crate) fn parse_exact(s: &str, fmt: &str) -> Result<DateTime, String> {
        let pattern = standard_pattern(fmt)?;
        let parts = tokenize(pattern)?;
        let mut r = Reader {
            s: s.trim().as_bytes(),
            i: 0,
        };
        let (mut year, mut month, mut day) = (1i64, 1u32, 1u32);
        let (mut hour, mut minute, mut second, mut frac) = (0u32, 0u32, 0u32, 0i64);
        let mut pm: Option<bool> = None;
        let mut offset: Option<i64> = None;
        let bad = |what: &str| format!("{s:?} does not match format {fmt:?} at the {what}");
        for part in parts {
            match part {
                Part::Lit(l) => {
                    for b in l.bytes() {
                        if r.s.get(r.i) == Some(&b)
                            || (b == b' ' && r.s.get(r.i).is_some_and(u8::is_ascii_whitespace))
                        {
                            r.i += 1;
                        } else {
                            return Err(bad(&format!("literal {l:?}")));
                        }
                    }
                }
                Part::Spec(c, n) => match c {
                    'y' => {
                        let (v, len) = r
                            .num(if n <= 2 { 2 } else { n.max(4) })
                            .ok_or_else(|| bad("year"))?;
                        year = if n <= 2 && len <= 2 { 2000 + v } else { v };
                    }
                    'M' if n >= 3 => {
                        let idx = r.name(&MONTHS, n == 3).ok_or_else(|| bad("month name"))?;
                        month = idx as u32 + 1;
                    }
                    'd' if n >= 3 => {
                        r.name(&DAYS, n == 3).ok_or_else(|| bad("day name"))?;
                    }
                    'M' | 'd' | 'h' | 'H' | 'm' | 's' => {
                        let (v, _) = r.num(2).ok_or_else(|| bad("number"))?;
                        let v = v as u32;
                        match c {
                            'M' => month = v,
                            'd' => day = v,
                            'h' | 'H' => hour = v,
                            'm' => minute = v,
                            _ => second = v,
                        }
                    }
                    'f' | 'F' => {
                        let (v, len) = r.num(n.min(7)).unwrap_or((0, 0));
                        if c == 'f' && len != n.min(7) {
                            return Err(bad("fraction"));
                        }
                        frac = v * 10i64.pow(7 - len as u32);
                    }
                    't' => {
                        let rest = &r.s[r.i..];
                        let up = |k: usize| rest.get(k).map(u8::to_ascii_uppercase);
                        let p = match up(0) {
                            Some(b'A') => false,
                            Some(b'P') => true,
                            _ => return Err(bad("AM/PM designator")),
                        };
                        r.i += 1;
                        if n > 1 {
                            if up(1) != Some(b'M') {
                                return Err(bad("AM/PM designator"));
                            }
                            r.i += 1;
                        }
                        pm = Some(p);
                    }
                    'z' | 'K' => {
                        offset = Some(r.offset(c == 'K').ok_or_else(|| bad("offset"))?);
                    }
                    _ => {
                        if r.s.get(r.i) == Some(&(c as u8)) {
                            r.i += 1;
                        } else {
                            return Err(bad("literal"));
                        }
                    }
                },
            }
        }
        if r.i != r.s.len() {
            return Err(format!("{s:?} has text left over after format {fmt:?}"));
        }
        if let Some(p) = pm {
            if hour > 12 || hour == 0 {
                return Err(bad("hour"));
            }
            hour = hour % 12 + if p { 12 } else { 0 };
        }
        let local = DateTime::from_parts(year, month, day, hour, minute, second, frac)
            .ok_or_else(|| format!("{s:?} is not a valid date"))?;
        match offset {
            Some(o) => local
                .add_ticks(-o * TICKS_PER_SEC)
                .ok_or_else(|| format!("{s:?} is out of range")),
            None => Ok(local),
        }
    }

    /// The date strings CDate accepts: ISO 8601 (`2009-06-15T01:45:30-07:00`,
    /// `2020-03-16-07:00`, `2021-08-24`, space instead of `T`), US
    /// (`8/25/2021 5:41:18 PM`), and LDAP generalized time
    /// (`20150123105347.0Z`). No offset means UTC.
    pub(crate) fn parse_loose(s: &str) -> Result<DateTime, String> {
        let t = s.trim();
        let b = t.as_bytes();
        let fail = || format!("{s:?} is not a recognised date");
        if b.len() >= 8 && b[..8].iter().all(u8::is_ascii_digit) && !t.contains(['-', '/', ':']) {
            for f in [
                "yyyyMMddHHmmss.fZ",
                "yyyyMMddHHmmssZ",
                "yyyyMMddHHmmss",
                "yyyyMMdd",
            ] {
                if let Ok(d) = DateTime::parse_exact(t, f) {
                    return Ok(d);
                }
            }
            if let Some((head, _)) = t.split_once('.') {
                return DateTime::parse_exact(head, "yyyyMMddHHmmss").map_err(|_| fail());
            }
            return Err(fail());
        }
        let mut r = Reader { s: b, i: 0 };
        let (year, month, day) = if b.get(4) == Some(&b'-') {
            let (y, _) = r.num(4).ok_or_else(fail)?;
            r.lit(b'-').ok_or_else(fail)?;
            let (m, _) = r.num(2).ok_or_else(fail)?;
            r.lit(b'-').ok_or_else(fail)?;
            let (d, _) = r.num(2).ok_or_else(fail)?;
            (y, m as u32, d as u32)
        } else {
            let (m, _) = r.num(2).ok_or_else(fail)?;
            r.lit(b'/').ok_or_else(fail)?;
            let (d, _) = r.num(2).ok_or_else(fail)?;
            r.lit(b'/').ok_or_else(fail)?;
            let (y, _) = r.num(4).ok_or_else(fail)?;
            (y, m as u32, d as u32)
        };
        let (mut hour, mut minute, mut second, mut frac) = (0u32, 0u32, 0u32, 0i64);
        let mut offset = 0i64;
        if matches!(r.peek(), Some(b'T' | b't' | b' '))
            && r.s.get(r.i + 1).is_some_and(u8::is_ascii_digit)
        {
            r.i += 1;
            hour = r.num(2).ok_or_else(fail)?.0 as u32;
            r.lit(b':').ok_or_else(fail)?;
            minute = r.num(2).ok_or_else(fail)?.0 as u32;
            if r.lit(b':').is_some() {
                second = r.num(2).ok_or_else(fail)?.0 as u32;
                if r.lit(b'.').is_some() {
                    let (v, len) = r.num(7).ok_or_else(fail)?;
                    frac = v * 10i64.pow(7 - len as u32);
                    while r.peek().is_some_and(|c| c.is_ascii_digit()) {
                        r.i += 1;
                    }
                }
            }
            while r.peek() == Some(b' ') {
                r.i += 1;
            }
            let rest = &r.s[r.i..];
            let ampm = rest.get(..2).map(|x| x.to_ascii_uppercase());
            if let Some(x) = ampm.filter(|x| x == b"AM" || x == b"PM") {
                if hour == 0 || hour > 12 {
                    return Err(fail());
                }
                hour = hour % 12 + if x == b"PM" { 12 } else { 0 };
                r.i += 2;
            }
        }
        if r.i < r.s.len() {
            offset = r.offset(true).ok_or_else(fail)?;
        }
        if r.i != r.s.len() {
            return Err(fail());
        }
        DateTime::from_parts(year, month, day, hour, minute, second, frac)
            .and_then(|d| d.add_ticks(-offset * TICKS_PER_SEC))
            .ok_or_else(fail)
    }
}

impl From<DateTime> for Civil {
    fn from(d: DateTime) -> Civil {
        d.to_timestamp().to_civil()
    }
}

/// DateAdd/DateDiff intervals (VB names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interval {
    Year,
    Quarter,
    Month,
    DayOfYear,
    Day,
    Weekday,
    Week,
    Hour,
    Minute,
    Second,
}

impl Interval {
    /// The documented intervals (`yyyy`, `m`, `d`, `ww`, `h`, `n`, `s`) plus
    /// VB's `q`, `y` and `w`; case-insensitive as in VB.
    pub(crate) fn parse(s: &str) -> Option<Interval> {
        Some(match s.to_ascii_lowercase().as_str() {
            "yyyy" => Interval::Year,
            "q" => Interval::Quarter,
            "m" => Interval::Month,
            "y" => Interval::DayOfYear,
            "d" => Interval::Day,
            "w" => Interval::Weekday,
            "ww" => Interval::Week,
            "h" => Interval::Hour,
            "n" => Interval::Minute,
            "s" => Interval::Second,
            _ => return None,
        })
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

fn pad(v: i64, n: usize) -> String {
    format!("{v:0n$}")
}

/// One-letter standard formats (invariant/en-US patterns); `.G` is the
/// internal name of the product rendering.
fn standard_pattern(fmt: &str) -> Result<&str, String> {
    Ok(match fmt {
        ".G" | "G" => "M/d/yyyy h:mm:ss tt",
        "d" => "M/d/yyyy",
        "g" => "M/d/yyyy h:mm tt",
        "o" | "O" => "yyyy-MM-ddTHH:mm:ss.fffffffK",
        "s" => "yyyy-MM-ddTHH:mm:ss",
        "u" => "yyyy-MM-dd HH:mm:ssZ",
        "t" => "h:mm tt",
        "T" => "h:mm:ss tt",
        "" => return Err("the format is empty".into()),
        f if f.chars().count() == 1 && f.chars().all(|c| c.is_ascii_alphabetic()) => {
            return Err(format!("standard format {f:?} is not supported"));
        }
        f => f,
    })
}

enum Part {
    Lit(String),
    Spec(char, usize),
}

fn tokenize(fmt: &str) -> Result<Vec<Part>, String> {
    let mut out = Vec::new();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            'y' | 'M' | 'd' | 'h' | 'H' | 'm' | 's' | 'f' | 'F' | 't' | 'z' | 'K' | 'g' => {
                let mut n = 1;
                while chars.peek() == Some(&c) {
                    chars.next();
                    n += 1;
                }
                if matches!(c, 'f' | 'F') && n > 7 {
                    return Err(format!("format {fmt:?} has more than 7 fraction digits"));
                }
                out.push(Part::Spec(c, n));
            }
            '\'' | '"' => {
                let mut lit = String::new();
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some('\\') => lit.extend(chars.next()),
                        Some(x) => lit.push(x),
                        None => return Err(format!("format {fmt:?} has an unclosed quote")),
                    }
                }
                out.push(Part::Lit(lit));
            }
            '\\' => match chars.next() {
                Some(x) => out.push(Part::Lit(x.to_string())),
                None => return Err(format!("format {fmt:?} ends with '\\'")),
            },
            '%' => {}
            other => out.push(Part::Lit(other.to_string())),
        }
    }
    Ok(out)
}

struct Reader<'a> {
    s: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn lit(&mut self, c: u8) -> Option<()> {
        (self.peek() == Some(c)).then(|| self.i += 1)
    }

    /// Up to `max` digits (at least one): value and digit count.
    fn num(&mut self, max: usize) -> Option<(i64, usize)> {
        // more digits than any date field has could overflow
        let max = max.min(9);
        let start = self.i;
        let mut v = 0i64;
        while self.i - start < max {
            match self.peek() {
                Some(d) if d.is_ascii_digit() => {
                    v = v * 10 + i64::from(d - b'0');
                    self.i += 1;
                }
                _ => break,
            }
        }
        (self.i > start).then_some((v, self.i - start))
    }

    fn name(&mut self, names: &[&str], abbrev: bool) -> Option<usize> {
        let rest = &self.s[self.i..];
        for (k, n) in names.iter().enumerate() {
            let n = if abbrev { &n[..3] } else { n };
            if rest.len() >= n.len() && rest[..n.len()].eq_ignore_ascii_case(n.as_bytes()) {
                self.i += n.len();
                return Some(k);
            }
        }
        None
    }

    /// `Z`, `+hh:mm`, `-hh:mm`, `+hhmm`, `+hh`: seconds east of UTC.
    fn offset(&mut self, allow_z: bool) -> Option<i64> {
        match self.peek()? {
            b'Z' | b'z' if allow_z => {
                self.i += 1;
                Some(0)
            }
            sign @ (b'+' | b'-') => {
                self.i += 1;
                let (h, _) = self.num(2)?;
                let m = if self.lit(b':').is_some() {
                    self.num(2)?.0
                } else {
                    self.num(2).map_or(0, |x| x.0)
                };
                if h > 14 || m > 59 {
                    return None;
                }
                let o = h * 3600 + m * 60;
                Some(if sign == b'+' { o } else { -o })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> DateTime {
        DateTime::parse_loose(s).unwrap()
    }

    #[test]
    fn loose_parsing_and_rendering() {
        assert_eq!(d("2020-03-16-07:00").render_us(), "3/16/2020 7:00:00 AM");
        assert_eq!(d("2021-06-30+08:00").render_us(), "6/29/2021 4:00:00 PM");
        assert_eq!(
            d("2009-06-15T01:45:30-07:00").render_us(),
            "6/15/2009 8:45:30 AM"
        );
        assert_eq!(
            d("8/25/2021 5:41:18 PM").render_us(),
            "8/25/2021 5:41:18 PM"
        );
        assert_eq!(d("2021-08-24").render_us(), "8/24/2021 12:00:00 AM");
        assert_eq!(
            d("2020-12-31 23:59:59-08:00").to_filetime(),
            132_539_615_990_000_000
        );
        assert_eq!(
            d("20150123105347.1Z").format("yyyy-MM-dd").unwrap(),
            "2015-01-23"
        );
        assert!(DateTime::parse_loose("2021-02-30").is_err());
        assert!(DateTime::parse_loose("yesterday").is_err());
        assert!(DateTime::parse_loose("13/1/2020").is_err());
    }

    #[test]
    fn filetime() {
        let t = DateTime::from_filetime(129_699_324_000_000_000).unwrap();
        assert_eq!(t.render_us(), "1/1/2012 11:00:00 PM");
        assert_eq!(t.format("yyyyMMddHHmmss.0Z").unwrap(), "20120101230000.0Z");
        assert!(DateTime::from_filetime(i64::MAX).is_none());
    }

    #[test]
    fn exact_formats() {
        let t = DateTime::parse_exact("20150123105347.1Z", "yyyyMMddHHmmss.fZ").unwrap();
        assert_eq!(
            t.format("yyyy-MM-dd HH:mm:ss.fff").unwrap(),
            "2015-01-23 10:53:47.100"
        );
        let t = DateTime::parse_exact("2020-12-31-08:00", "yyyy-MM-ddzzz").unwrap();
        assert_eq!(t.format("yyyy-MM-dd").unwrap(), "2020-12-31");
        let t = DateTime::parse_exact("2020-12-31+08:00", "yyyy-MM-ddzzz").unwrap();
        assert_eq!(t.format("yyyy-MM-dd").unwrap(), "2020-12-30");
        let t = DateTime::parse_exact("3/5/2021 01:02:03 PM", "M/d/yyyy hh:mm:ss tt").unwrap();
        assert_eq!(t.format("o").unwrap(), "2021-03-05T13:02:03.0000000Z");
        assert_eq!(
            t.format("dddd, MMMM d 'at' h tt").unwrap(),
            "Friday, March 5 at 1 PM"
        );
        assert!(DateTime::parse_exact("2021-03-05", "yyyyMMdd").is_err());
        assert!(DateTime::parse_exact("x", "Q").is_err());
    }

    #[test]
    fn vb_date_arithmetic() {
        let base = d("2012-03-16-07:00");
        let add = |i: &str, n| {
            base.add(Interval::parse(i).unwrap(), n)
                .unwrap()
                .render_us()
        };
        assert_eq!(add("d", 7), "3/23/2012 7:00:00 AM");
        assert_eq!(add("d", -10), "3/6/2012 7:00:00 AM");
        assert_eq!(add("ww", 2), "3/30/2012 7:00:00 AM");
        assert_eq!(add("m", 10), "1/16/2013 7:00:00 AM");
        assert_eq!(add("yyyy", 2), "3/16/2014 7:00:00 AM");
        assert_eq!(
            d("2021-01-31").add(Interval::Month, 1).unwrap().render_us(),
            "2/28/2021 12:00:00 AM"
        );
        let now = d("8/25/2021 5:41:18 PM");
        let diff = |i: &str| now.diff(Interval::parse(i).unwrap(), base);
        assert_eq!(diff("d"), -3449);
        assert_eq!(diff("ww"), -493);
        assert_eq!(diff("m"), -113);
        assert_eq!(diff("yyyy"), -9);
        assert_eq!(
            d("2021-08-24").diff(Interval::Second, d("2021-08-25")),
            86_400
        );
        assert!(Interval::parse("fortnight").is_none());
    }
}
