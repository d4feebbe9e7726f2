//! `@every <duration>`: a fixed period counted from an anchor instant, the same in every zone.

use crate::error::CronError;

/// The longest period accepted, so that anchor arithmetic cannot overflow: ten years of days.
const MAX_SECONDS: i64 = 3650 * 86_400;

/// Parses `30s`, `5m`, `1h30m`, `2d`, `1d12h`: numbers each followed by a unit (`d`, `h`, `m`,
/// `s`), summed, into whole seconds between 1 s and 3650 d.
pub(crate) fn parse_period(text: &str) -> Result<i64, CronError> {
    let bad = |reason| CronError::BadDuration {
        text: text.to_string(),
        reason,
    };
    if text.is_empty() {
        return Err(bad("it is empty"));
    }
    let mut total: i64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad("each part must start with a number"));
        }
        let (number, tail) = rest.split_at(digits);
        let units = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = tail.split_at(units);
        let scale = match unit {
            "d" => 86_400,
            "h" => 3_600,
            "m" => 60,
            "s" => 1,
            "" => return Err(bad("a number needs a unit")),
            "ms" | "us" | "ns" => return Err(bad("periods are whole seconds")),
            _ => return Err(bad("units are d, h, m and s")),
        };
        let value: i64 = number.parse().map_err(|_| bad("a number is too large"))?;
        total = value
            .checked_mul(scale)
            .and_then(|v| total.checked_add(v))
            .filter(|t| *t <= MAX_SECONDS)
            .ok_or_else(|| CronError::PeriodOutOfRange(text.to_string()))?;
        rest = tail;
    }
    if total < 1 {
        return Err(CronError::PeriodOutOfRange(text.to_string()));
    }
    Ok(total)
}

/// A period in seconds in normal form: `1d2h3m4s` with the zero parts left out.
pub(crate) fn render_period(seconds: i64) -> String {
    let mut out = String::new();
    let mut rest = seconds;
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        assert_eq!(parse_period("30s"), Ok(30));
        assert_eq!(parse_period("5m"), Ok(300));
        assert_eq!(parse_period("1h30m"), Ok(5400));
        assert_eq!(parse_period("90m"), Ok(5400));
        assert_eq!(parse_period("2d"), Ok(172_800));
        assert_eq!(parse_period("1d1s"), Ok(86_401));
        assert_eq!(render_period(5400), "1h30m");
        assert_eq!(render_period(86_401), "1d1s");
        assert_eq!(render_period(30), "30s");
    }

    #[test]
    fn bad_periods() {
        let msg = |t| parse_period(t).expect_err("refused").to_string();
        assert!(msg("0s").contains("between 1s and 3650d"), "{}", msg("0s"));
        assert!(msg("500ms").contains("whole seconds"));
        assert!(msg("30").contains("needs a unit"));
        assert!(msg("5w").contains("units are d, h, m and s"));
        assert!(msg("h").contains("start with a number"));
        assert!(msg("3651d").contains("between 1s and 3650d"));
        assert!(msg("99999999999999999999s").contains("too large"));
    }
}
