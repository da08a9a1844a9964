//! Time windows: when a selector's blocking is in force (monitoring never stops).
//!
//! A window is days of the week, a span of hours and a time zone:
//! `days: Mon-Fri`, `hours: "09:00-17:30"`, `time_zone: Europe/Paris`. Days are a comma-separated
//! list of names (`Mon`, `monday`, case-insensitive) and ranges (`Mon-Fri`, `Fri-Mon` wraps), or
//! `*` for every day. Hours are `HH:MM-HH:MM`, the end exclusive; `24:00` ends at midnight; an end
//! before the start runs past midnight into the next day, and the days name the day the window
//! starts (`days: Fri, hours: 22:00-06:00` holds Friday 22:00 to Saturday 06:00). The zone is an
//! IANA name (`America/New_York`, daylight saving included), `UTC`, or a fixed offset (`+02:00`,
//! `-0530`, `+2`).

use std::fmt;

use jiff::civil::Weekday;
use jiff::tz::{Offset, TimeZone};
use jiff::Timestamp;

/// Why a window did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("days {0:?}: {1}")]
    Days(String, String),
    #[error("hours {0:?}: expected HH:MM-HH:MM, e.g. 09:00-17:30 (24:00 ends at midnight)")]
    Hours(String),
    #[error(
        "hours {0:?}: an empty window (start equals end); for the whole day write 00:00-24:00"
    )]
    EmptyHours(String),
    #[error("time zone {0:?}: {1}")]
    Zone(String, String),
}

/// Days of the week as bits, Monday = bit 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Days(u8);

impl Days {
    pub const ALL: Days = Days(0x7f);

    fn bit(day: Weekday) -> u8 {
        1 << (day.to_monday_zero_offset() as u8)
    }

    /// Whether `day` is one of these days.
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & Days::bit(day) != 0
    }

    /// Parses `Mon-Fri`, `Sat,Sun`, `mon,wed-fri`, `*`.
    pub fn parse(text: &str) -> Result<Days, WindowError> {
        let err = |m: &str| WindowError::Days(text.to_string(), m.to_string());
        let trimmed = text.trim();
        if trimmed == "*" {
            return Ok(Days::ALL);
        }
        let mut bits = 0u8;
        for item in trimmed.split(',') {
            let item = item.trim();
            if item.is_empty() {
                return Err(err(
                    "empty item (expected day names such as Mon-Fri or Sat,Sun)",
                ));
            }
            match item.split_once('-') {
                Some((first, last)) => {
                    let first = weekday(first.trim()).ok_or_else(|| err(&unknown(first)))?;
                    let last = weekday(last.trim()).ok_or_else(|| err(&unknown(last)))?;
                    let mut day = first;
                    loop {
                        bits |= Days::bit(day);
                        if day == last {
                            break;
                        }
                        day = day.next();
                    }
                }
                None => bits |= Days::bit(weekday(item).ok_or_else(|| err(&unknown(item)))?),
            }
        }
        Ok(Days(bits))
    }
}

fn unknown(name: &str) -> String {
    format!(
        "unknown day {:?} (expected Mon, Tue, Wed, Thu, Fri, Sat, Sun or full names)",
        name.trim()
    )
}

fn weekday(name: &str) -> Option<Weekday> {
    let lower = name.to_ascii_lowercase();
    let days = [
        ("mon", "monday", Weekday::Monday),
        ("tue", "tuesday", Weekday::Tuesday),
        ("wed", "wednesday", Weekday::Wednesday),
        ("thu", "thursday", Weekday::Thursday),
        ("fri", "friday", Weekday::Friday),
        ("sat", "saturday", Weekday::Saturday),
        ("sun", "sunday", Weekday::Sunday),
    ];
    days.iter()
        .find(|(short, long, _)| lower == *short || lower == *long)
        .map(|(_, _, d)| *d)
}

impl fmt::Display for Days {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Days::ALL {
            return f.write_str("*");
        }
        let names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        let on: Vec<&str> = (0..7)
            .filter(|i| self.0 & (1 << i) != 0)
            .map(|i| names[i])
            .collect();
        f.write_str(&on.join(","))
    }
}

/// A time zone as written: IANA names keep their rules (daylight saving), offsets are fixed.
#[derive(Debug, Clone, PartialEq)]
pub struct Zone {
    pub written: String,
    tz: TimeZone,
}

impl Zone {
    /// `UTC`, `Z`, an offset (`+02:00`, `-0530`, `+2`), or an IANA name.
    pub fn parse(text: &str) -> Result<Zone, WindowError> {
        let written = text.trim().to_string();
        let tz = if written.eq_ignore_ascii_case("utc") || written == "Z" {
            TimeZone::UTC
        } else if written.starts_with(['+', '-']) {
            TimeZone::fixed(parse_offset(&written)?)
        } else {
            TimeZone::get(&written).map_err(|e| {
                WindowError::Zone(
                    written.clone(),
                    format!("not a known IANA time zone or offset ({e})"),
                )
            })?
        };
        Ok(Zone { written, tz })
    }

    /// UTC.
    pub fn utc() -> Zone {
        Zone {
            written: "UTC".to_string(),
            tz: TimeZone::UTC,
        }
    }
}

fn parse_offset(text: &str) -> Result<Offset, WindowError> {
    let bad = || {
        WindowError::Zone(
            text.to_string(),
            "expected an offset such as +02:00, -0530 or +2 (hours up to 25)".to_string(),
        )
    };
    let sign: i32 = if text.starts_with('-') { -1 } else { 1 };
    let body = &text[1..];
    // `+HH:MM`, `+HHMM`, `+HMM`, `+HH`, `+H`.
    let (hours, minutes) = match body.split_once(':') {
        Some((h, m)) if m.len() == 2 && (1..=2).contains(&h.len()) => (h, m),
        Some(_) => return Err(bad()),
        None => match body.len() {
            1 | 2 => (body, "0"),
            3 => body.split_at(1),
            4 => body.split_at(2),
            _ => return Err(bad()),
        },
    };
    if !hours
        .bytes()
        .chain(minutes.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    // All digits, at most two: these parse.
    let hours: i32 = hours.parse().map_err(|_| bad())?;
    let minutes: i32 = minutes.parse().map_err(|_| bad())?;
    if hours > 25 || minutes > 59 {
        return Err(bad());
    }
    Offset::from_seconds(sign * (hours * 3600 + minutes * 60)).map_err(|_| bad())
}

/// When a selector's blocking is in force.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeWindow {
    pub days: Days,
    /// Minutes after local midnight, start inclusive.
    pub start: u16,
    /// Minutes after local midnight, exclusive (1440 = midnight); before `start`: past midnight.
    pub end: u16,
    pub zone: Zone,
}

fn parse_clock(text: &str) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    if !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(1440),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

impl TimeWindow {
    /// Builds a window from its three written parts.
    pub fn parse(days: &str, hours: &str, zone: &str) -> Result<TimeWindow, WindowError> {
        let days = Days::parse(days)?;
        let (start, end) = hours
            .split_once('-')
            .ok_or_else(|| WindowError::Hours(hours.to_string()))?;
        let start = parse_clock(start).ok_or_else(|| WindowError::Hours(hours.to_string()))?;
        let end = parse_clock(end).ok_or_else(|| WindowError::Hours(hours.to_string()))?;
        if start == 1440 {
            return Err(WindowError::Hours(hours.to_string()));
        }
        if start == end {
            return Err(WindowError::EmptyHours(hours.to_string()));
        }
        Ok(TimeWindow {
            days,
            start,
            end,
            zone: Zone::parse(zone)?,
        })
    }

    /// Whether the window holds at `at`.
    pub fn contains(&self, at: Timestamp) -> bool {
        let local = at.to_zoned(self.zone.tz.clone());
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        let day = local.weekday();
        if self.start < self.end {
            self.days.contains(day) && minute >= self.start && minute < self.end
        } else {
            // Past midnight: today's part after the start, or yesterday's part before the end.
            (self.days.contains(day) && minute >= self.start)
                || (self.days.contains(day.previous()) && minute < self.end)
        }
    }
}

impl fmt::Display for TimeWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let clock = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        write!(
            f,
            "{} {}-{} {}",
            self.days,
            clock(self.start),
            clock(self.end),
            self.zone.written
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("timestamp")
    }

    #[test]
    fn days_parse() {
        let cases: &[(&str, &str)] = &[
            ("Mon-Fri", "Mon,Tue,Wed,Thu,Fri"),
            ("sat,SUN", "Sat,Sun"),
            ("Fri-Mon", "Mon,Fri,Sat,Sun"),
            ("monday, wed-thu", "Mon,Wed,Thu"),
            ("*", "*"),
            ("Mon-Sun", "*"),
        ];
        for (text, want) in cases {
            assert_eq!(
                Days::parse(text).map(|d| d.to_string()).as_deref(),
                Ok(*want),
                "{text}"
            );
        }
        for bad in ["", "Mon,,Tue", "Funday", "Mon-Xyz"] {
            assert!(Days::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn windows_parse() {
        let ok: &[(&str, &str, &str, &str)] = &[
            (
                "Mon-Fri",
                "09:00-17:30",
                "UTC",
                "Mon,Tue,Wed,Thu,Fri 09:00-17:30 UTC",
            ),
            ("*", "00:00-24:00", "+02:00", "* 00:00-24:00 +02:00"),
            (
                "Fri",
                "22:00-06:00",
                "Europe/Paris",
                "Fri 22:00-06:00 Europe/Paris",
            ),
            ("Sat", "9:05-10:00", "-0530", "Sat 09:05-10:00 -0530"),
        ];
        for (days, hours, zone, want) in ok {
            let w = TimeWindow::parse(days, hours, zone).expect(hours);
            assert_eq!(w.to_string(), *want);
        }
        let bad: &[(&str, &str, &str)] = &[
            ("*", "09:00", "UTC"),
            ("*", "09:00-25:00", "UTC"),
            ("*", "24:00-02:00", "UTC"),
            ("*", "09:60-10:00", "UTC"),
            ("*", "10:00-10:00", "UTC"),
            ("*", "9-10", "UTC"),
            ("*", "09:00-10:00", "Mars/Olympus"),
            ("*", "09:00-10:00", "+2:3"),
            ("*", "09:00-10:00", "+30"),
        ];
        for (days, hours, zone) in bad {
            assert!(
                TimeWindow::parse(days, hours, zone).is_err(),
                "{hours} {zone}"
            );
        }
    }

    #[test]
    fn containment_table() {
        let w = |d, h, z| TimeWindow::parse(d, h, z).expect("window");
        let office = w("Mon-Fri", "09:00-17:00", "UTC");
        let paris = w("Mon-Fri", "09:00-17:00", "Europe/Paris");
        let night = w("Fri", "22:00-06:00", "UTC");
        let plus2 = w("*", "09:00-10:00", "+02:00");
        let all_day = w("Sun", "00:00-24:00", "UTC");
        // 2024-06-03 is a Monday; Paris is UTC+2 in June, UTC+1 in January.
        let cases: &[(&TimeWindow, &str, bool)] = &[
            (&office, "2024-06-03T09:00:00Z", true),
            (&office, "2024-06-03T08:59:59Z", false),
            (&office, "2024-06-03T16:59:59Z", true),
            (&office, "2024-06-03T17:00:00Z", false),
            (&office, "2024-06-08T12:00:00Z", false),
            (&paris, "2024-06-03T07:00:00Z", true),
            (&paris, "2024-06-03T06:59:00Z", false),
            (&paris, "2024-01-08T07:30:00Z", false),
            (&paris, "2024-01-08T08:00:00Z", true),
            (&night, "2024-06-07T22:00:00Z", true),
            (&night, "2024-06-08T05:59:00Z", true),
            (&night, "2024-06-08T06:00:00Z", false),
            (&night, "2024-06-08T23:00:00Z", false),
            (&night, "2024-06-07T05:00:00Z", false),
            (&plus2, "2024-06-03T07:30:00Z", true),
            (&plus2, "2024-06-03T09:30:00Z", false),
            (&all_day, "2024-06-09T00:00:00Z", true),
            (&all_day, "2024-06-09T23:59:59Z", true),
            (&all_day, "2024-06-10T00:00:00Z", false),
        ];
        for (window, time, want) in cases {
            assert_eq!(window.contains(at(time)), *want, "{window} at {time}");
        }
    }
}
