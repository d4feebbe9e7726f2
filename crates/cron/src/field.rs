//! One field of a cron expression: the set of values it allows (a bit per value), whether it was
//! written starting with `*` (which the day-of-month / day-of-week rule looks at), how it is
//! parsed, and how it is written back in normal form.

use crate::error::{CronError, Field};

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// The values one field allows: bit `v` set when value `v` matches. Day-of-week keeps Sunday as
/// bit 0 only (a written 7 sets bit 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Set {
    pub bits: u64,
    /// A day field written as `*` or `*/n` alone: it does not "restrict" the day for the rule
    /// that either day field may match. Always false in the other fields.
    pub star: bool,
}

impl Set {
    pub fn contains(self, value: u32) -> bool {
        value < 64 && self.bits & (1 << value) != 0
    }

    /// The smallest value in the set at or above `from`.
    pub fn next_from(self, from: u32) -> Option<u32> {
        if from >= 64 {
            return None;
        }
        let rest = self.bits >> from;
        (rest != 0).then(|| from + rest.trailing_zeros())
    }

    /// Every value in the set, ascending.
    pub fn values(self) -> impl Iterator<Item = u32> {
        (0..64).filter(move |v| self.contains(*v))
    }

    /// A single value: the seconds of a 5-field expression.
    pub fn one(value: u32) -> Set {
        Set {
            bits: 1 << value,
            star: false,
        }
    }
}

/// The values a field's set can hold (day-of-week: 0-6, 7 folded into 0).
fn span(field: Field) -> (u32, u32) {
    match field {
        Field::DayOfWeek => (0, 6),
        other => other.bounds(),
    }
}

fn range_bits(from: u32, to: u32, step: u32) -> u64 {
    (from..=to)
        .step_by(step as usize)
        .fold(0, |bits, v| bits | 1 << v)
}

/// Parses one field: a comma-separated list of `*`, `v`, `a-b`, each optionally `/step`
/// (`v/step` meaning `v-max/step`), with names for months and days.
pub(crate) fn parse(field: Field, text: &str) -> Result<Set, CronError> {
    let (min, max) = field.bounds();
    let span_len = span(field).1 - span(field).0 + 1;
    let mut bits = 0u64;
    // Only the day fields care; elsewhere `*/15` and `0,15,30,45` are the same field. Vixie
    // cron looks at the first character only, so `*/6,21` would not restrict either; we call
    // that a restriction, which keeps the normal form able to say it.
    let star = matches!(field, Field::DayOfMonth | Field::DayOfWeek)
        && text.starts_with('*')
        && !text.contains(',');
    for item in text.split(',') {
        let unsupported = || CronError::Unsupported {
            field,
            text: item.to_string(),
        };
        if item.is_empty() {
            return Err(unsupported());
        }
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step = step.parse::<u32>().map_err(|_| CronError::BadStep {
                    field,
                    text: item.to_string(),
                    max: span_len,
                })?;
                if step == 0 || step > span_len {
                    return Err(CronError::BadStep {
                        field,
                        text: item.to_string(),
                        max: span_len,
                    });
                }
                (range, Some(step))
            }
            None => (item, None),
        };
        let (from, to) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(field, a)?, value(field, b)?);
            if a > b {
                return Err(CronError::BackwardRange {
                    field,
                    text: range.to_string(),
                });
            }
            (a, b)
        } else {
            let v = value(field, range)?;
            // `v/n` runs from v to the end of the field.
            (v, if step.is_some() { max } else { v })
        };
        let mut item_bits = range_bits(from, to, step.unwrap_or(1));
        if field == Field::DayOfWeek && item_bits & 1 << 7 != 0 {
            item_bits = (item_bits & !(1 << 7)) | 1;
        }
        bits |= item_bits;
    }
    Ok(Set { bits, star })
}

/// One number or name, checked against the field's bounds.
fn value(field: Field, text: &str) -> Result<u32, CronError> {
    let (min, max) = field.bounds();
    let names: &[&str] = match field {
        Field::Month => &MONTHS,
        Field::DayOfWeek => &DAYS,
        _ => &[],
    };
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        let first = if field == Field::Month { 1 } else { 0 };
        return Ok(first + i as u32);
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        if text.contains(['L', 'W', '#', '?', 'l', 'w']) && text.len() <= 4 {
            return Err(CronError::Unsupported {
                field,
                text: text.to_string(),
            });
        }
        return Err(CronError::NotANumber {
            field,
            text: text.to_string(),
            names: match field {
                Field::Month => " nor a month name (JAN-DEC)",
                Field::DayOfWeek => " nor a day name (SUN-SAT)",
                _ => "",
            },
        });
    }
    let v = text.parse::<u32>().unwrap_or(u32::MAX);
    if v < min || v > max {
        return Err(CronError::OutOfRange {
            field,
            value: v,
            min,
            max,
        });
    }
    Ok(v)
}

/// The field in normal form: `*` or `*/n` when written with a star (and, outside the day fields,
/// whenever the set is one), else ranges `a-b`, stepped ranges `a-b/n` and single values, in
/// numbers (names become numbers, a day-of-week 7 becomes 0).
pub(crate) fn render(field: Field, set: Set) -> String {
    let (min, max) = span(field);
    let values: Vec<u32> = set.values().collect();
    let day_field = matches!(field, Field::DayOfMonth | Field::DayOfWeek);
    if set.star || !day_field {
        match star_step(&values, min, max, set.star) {
            Some(1) => return "*".to_string(),
            Some(n) => return format!("*/{n}"),
            None => {}
        }
    }
    if let [first, second, .., last] = values[..] {
        let step = second - first;
        let arithmetic = values.windows(2).all(|w| w[1] - w[0] == step);
        if arithmetic && (step == 1 || values.len() >= 3) {
            return if step == 1 {
                format!("{first}-{last}")
            } else {
                format!("{first}-{last}/{step}")
            };
        }
    }
    // A list of runs: three or more consecutive values as `a-b`, others one by one.
    let mut parts = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let mut j = i;
        while j + 1 < values.len() && values[j + 1] == values[j] + 1 {
            j += 1;
        }
        if j - i >= 2 {
            parts.push(format!("{}-{}", values[i], values[j]));
        } else {
            parts.extend(values[i..=j].iter().map(u32::to_string));
        }
        i = j + 1;
    }
    parts.join(",")
}

/// `Some(n)` when the values are exactly `min, min+n, …` up to `max`: what `*/n` gives. A lone
/// `min` counts only when it was written with a star (`*/7` in day-of-week).
fn star_step(values: &[u32], min: u32, max: u32, star: bool) -> Option<u32> {
    let step = match values {
        [first, second, ..] if *first == min => second - first,
        [only] if *only == min && star => max - min + 1,
        _ => return None,
    };
    (values
        .iter()
        .copied()
        .eq((min..=max).step_by(step as usize)))
    .then_some(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(field: Field, text: &str) -> Vec<u32> {
        parse(field, text).expect("parses").values().collect()
    }

    #[test]
    fn forms() {
        assert_eq!(set(Field::Minute, "*").len(), 60);
        assert_eq!(set(Field::Minute, "*/15"), [0, 15, 30, 45]);
        assert_eq!(set(Field::Minute, "10-20/5"), [10, 15, 20]);
        assert_eq!(set(Field::Minute, "50/5"), [50, 55]);
        assert_eq!(set(Field::Hour, "1,3,5-7"), [1, 3, 5, 6, 7]);
        assert_eq!(set(Field::Month, "jan,MAR-may"), [1, 3, 4, 5]);
        assert_eq!(set(Field::DayOfWeek, "MON-FRI"), [1, 2, 3, 4, 5]);
        assert_eq!(set(Field::DayOfWeek, "7"), [0]);
        assert_eq!(set(Field::DayOfWeek, "5-7"), [0, 5, 6]);
        assert_eq!(set(Field::DayOfWeek, "*/2"), [0, 2, 4, 6]);
        assert!(parse(Field::DayOfMonth, "*/2").expect("parses").star);
        assert!(!parse(Field::DayOfMonth, "1-31/2").expect("parses").star);
    }

    #[test]
    fn normal_form() {
        let r = |field, text| render(field, parse(field, text).expect("parses"));
        assert_eq!(r(Field::Minute, "0-59"), "*");
        assert_eq!(r(Field::Minute, "0-59/15"), "*/15");
        assert_eq!(r(Field::Minute, "0,15,30,45"), "*/15");
        assert_eq!(r(Field::Minute, "5"), "5");
        assert_eq!(r(Field::Minute, "1,2,3,7,9"), "1-3,7,9");
        assert_eq!(r(Field::Minute, "9,7"), "7,9");
        assert_eq!(r(Field::Minute, "10/20"), "10-50/20");
        assert_eq!(r(Field::Month, "JAN-MAR"), "1-3");
        assert_eq!(r(Field::DayOfWeek, "SUN,SAT"), "0,6");
        assert_eq!(r(Field::DayOfWeek, "0-7"), "0-6");
        assert_eq!(r(Field::DayOfWeek, "*"), "*");
        assert_eq!(r(Field::DayOfMonth, "1-31"), "1-31");
        assert_eq!(r(Field::DayOfMonth, "1-31/2"), "1-31/2");
        assert_eq!(r(Field::DayOfMonth, "*/2"), "*/2");
    }
}
