//! Durations (`15m`) and points in time (`2024-05-01T12:00:00Z`, epoch ms, `15m` ago) as users
//! type them in query parameters. The current time is a parameter, so results are testable.

/// A duration or time that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("{0:?} is not a duration: {1} (examples: 500ms, 30s, 15m, 1h30m, 2d, 1w)")]
    Duration(String, &'static str),
    #[error("{0:?} is not a time: {1} (RFC 3339 like 2024-05-01T12:00:00Z, epoch milliseconds, a duration before now like 15m, or now)")]
    Time(String, &'static str),
}

/// Parses a duration into milliseconds: one or more `<integer><unit>` with units `ms`, `s`,
/// `m`, `h`, `d`, `w` (`1h30m`). Units are lowercase (`M` could mean months).
pub fn parse_duration(text: &str) -> Result<i64, TimeError> {
    let err = |why| TimeError::Duration(text.to_string(), why);
    let s = text.trim();
    if s.is_empty() {
        return Err(err("it is empty"));
    }
    let mut total: i64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(err("expected a number"));
        }
        let n: i64 = rest[..digits]
            .parse()
            .map_err(|_| err("number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| !b.is_ascii_digit()).count();
        let unit_ms = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "" => return Err(err("missing unit")),
            _ => return Err(err("unknown unit")),
        };
        rest = &rest[unit_len..];
        total = n
            .checked_mul(unit_ms)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| err("too long"))?;
    }
    Ok(total)
}

/// Parses a point in time into epoch milliseconds: `now`, an RFC 3339 timestamp (fraction
/// truncated to ms; `t`/`z` and a space separator accepted), plain epoch milliseconds, or a
/// duration meaning that long before `now_ms` (`15m`).
pub fn parse_time(text: &str, now_ms: i64) -> Result<i64, TimeError> {
    let s = text.trim();
    let err = |why| TimeError::Time(text.to_string(), why);
    if s.is_empty() {
        return Err(err("it is empty"));
    }
    if s.eq_ignore_ascii_case("now") {
        return Ok(now_ms);
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map_err(|_| err("number too large"));
    }
    if s.len() >= 10 && s.as_bytes()[4] == b'-' {
        return rfc3339(s).ok_or_else(|| err("not a valid RFC 3339 timestamp"));
    }
    let d = parse_duration(s).map_err(|_| err("not a duration"))?;
    now_ms.checked_sub(d).ok_or_else(|| err("too long ago"))
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` to epoch ms.
fn rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter().all(u8::is_ascii_digit).then(|| {
            part.iter()
                .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'))
        })
    };
    let sep = |at: usize, c: &[u8]| b.get(at).is_some_and(|x| c.contains(x));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut millis = 0;
    if b.get(i) == Some(&b'.') {
        let digits = b[i + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        // Keep the first three digits, padded: .5 is 500 ms.
        for k in 0..3 {
            millis = millis * 10
                + if k < digits {
                    i64::from(b[i + 1 + k] - b'0')
                } else {
                    0
                };
        }
        i += 1 + digits;
    }
    let offset_min = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let (h, m) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let v = h * 60 + m;
            if *sign == b'-' {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_min * 60;
    Some(secs * 1_000 + millis)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [
            ("500ms", 500),
            ("30s", 30_000),
            ("15m", 900_000),
            ("1h", 3_600_000),
            ("2d", 172_800_000),
            ("1w", 604_800_000),
            ("1h30m", 5_400_000),
            ("1m30s250ms", 90_250),
            (" 0s ", 0),
        ];
        for (text, ms) in cases {
            assert_eq!(parse_duration(text), Ok(ms), "{text}");
        }
        let errors = [
            ("", "it is empty"),
            ("15", "missing unit"),
            ("15M", "unknown unit"),
            ("15 m", "unknown unit"),
            ("m", "expected a number"),
            ("-5m", "expected a number"),
            ("1.5h", "unknown unit"),
            ("99999999999999999999s", "number too large"),
            ("9999999999999999w", "too long"),
        ];
        for (text, why) in errors {
            assert_eq!(
                parse_duration(text),
                Err(TimeError::Duration(text.into(), why)),
                "{text}"
            );
        }
        assert_eq!(
            parse_duration("15M").unwrap_err().to_string(),
            "\"15M\" is not a duration: unknown unit (examples: 500ms, 30s, 15m, 1h30m, 2d, 1w)"
        );
    }

    #[test]
    fn times() {
        let now = 1_714_564_800_000; // 2024-05-01T12:00:00Z
        let cases = [
            ("now", now),
            ("NOW", now),
            ("15m", now - 900_000),
            ("1h30m", now - 5_400_000),
            ("1714564800000", now),
            ("0", 0),
            ("2024-05-01T12:00:00Z", now),
            ("2024-05-01t12:00:00z", now),
            ("2024-05-01 12:00:00Z", now),
            ("2024-05-01T12:00:00.5Z", now + 500),
            ("2024-05-01T12:00:00.123456789Z", now + 123),
            ("2024-05-01T14:00:00+02:00", now),
            ("2024-05-01T07:30:00-04:30", now),
            ("1970-01-01T00:00:00Z", 0),
            ("1969-12-31T23:59:59Z", -1_000),
            ("2000-02-29T00:00:00Z", 951_782_400_000),
            ("2024-12-31T23:59:59.999Z", 1_735_689_599_999),
        ];
        for (text, ms) in cases {
            assert_eq!(parse_time(text, now), Ok(ms), "{text}");
        }
        for bad in [
            "",
            "yesterday",
            "2024-05-01",
            "2024-05-01T12:00:00",
            "2024-13-01T12:00:00Z",
            "2023-02-29T12:00:00Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T12:00:00.Z",
            "2024-05-01T12:00:00+2:00",
            "2024-05-01T12:00:00Zjunk",
            "2024/05/01T12:00:00Z",
            "99999999999999999999",
        ] {
            assert!(
                matches!(parse_time(bad, now), Err(TimeError::Time(..))),
                "{bad}"
            );
        }
    }
}
