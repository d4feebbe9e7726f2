//! A cron expression as sets of field values, and the search for the next matching wall-clock
//! time. Everything here is in local (naive) time; `zone` turns it into instants.

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

use crate::error::{CronError, Field};
use crate::field::{self, Set};

/// How far ahead the search looks. A parsed expression fires at least every 8 years (29
/// February skips 2100), so this bound is only reached near the end of chrono's calendar.
const SEARCH_YEARS: i32 = 30;

/// The six fields of a cron expression (a 5-field one has seconds `0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Cron {
    pub seconds: Set,
    pub minutes: Set,
    pub hours: Set,
    pub days: Set,
    pub months: Set,
    pub weekdays: Set,
    /// Written with 6 fields: shown back with 6.
    pub with_seconds: bool,
}

impl Cron {
    /// Parses 5 or 6 white-space separated fields and refuses one that can never fire.
    pub fn parse(expr: &str) -> Result<Cron, CronError> {
        let parts: Vec<&str> = expr.split_whitespace().collect();
        let (seconds, rest) = match parts.len() {
            5 => (Set::one(0), &parts[..]),
            6 => (field::parse(Field::Second, parts[0])?, &parts[1..]),
            count => {
                return Err(CronError::FieldCount {
                    expr: expr.to_string(),
                    count,
                });
            }
        };
        let cron = Cron {
            seconds,
            minutes: field::parse(Field::Minute, rest[0])?,
            hours: field::parse(Field::Hour, rest[1])?,
            days: field::parse(Field::DayOfMonth, rest[2])?,
            months: field::parse(Field::Month, rest[3])?,
            weekdays: field::parse(Field::DayOfWeek, rest[4])?,
            with_seconds: parts.len() == 6,
        };
        cron.check_fires(expr)?;
        Ok(cron)
    }

    /// An expression fires on some day unless day-of-month alone decides and none of its days
    /// exists in any of its months (30 February, 31 April). Day-of-week always has days, and
    /// when it restricts too either field matching is enough, so those fire.
    fn check_fires(&self, expr: &str) -> Result<(), CronError> {
        if self.days_by_month_only() {
            let longest = |m: u32| if m == 2 { 29 } else { days_in_month(2000, m) };
            let fires = self
                .months
                .values()
                .any(|m| self.days.values().any(|d| d <= longest(m)));
            if !fires {
                let days: Vec<String> = self.days.values().map(|d| d.to_string()).collect();
                let months: Vec<String> = self.months.values().map(|m| m.to_string()).collect();
                return Err(CronError::NeverFires {
                    expr: expr.trim().to_string(),
                    reason: format!(
                        "day-of-month {} does not exist in month {}",
                        days.join(","),
                        months.join(",")
                    ),
                });
            }
        }
        Ok(())
    }

    /// Days must match both day fields (not both restrict). Every valid day of a month falls
    /// on each weekday within 28 years, so then the day of the month alone decides whether the
    /// expression can fire.
    fn days_by_month_only(&self) -> bool {
        self.days.star || self.weekdays.star
    }

    /// Whether a calendar day matches: month, then the day fields with cron's rule that when both
    /// day-of-month and day-of-week restrict (neither is `*` or `*/n` alone), either may match.
    pub fn matches_date(&self, date: NaiveDate) -> bool {
        if !self.months.contains(date.month()) {
            return false;
        }
        let by_day = self.days.contains(date.day());
        let by_weekday = self
            .weekdays
            .contains(date.weekday().num_days_from_sunday());
        if !self.days.star && !self.weekdays.star {
            by_day || by_weekday
        } else {
            by_day && by_weekday
        }
    }

    /// The earliest time of day at or after `from` that the time fields allow.
    fn time_from(&self, from: NaiveTime) -> Option<NaiveTime> {
        let (h0, m0, s0) = (from.hour(), from.minute(), from.second());
        let mut h = self.hours.next_from(h0)?;
        loop {
            let mut m = self.minutes.next_from(if h == h0 { m0 } else { 0 });
            while let Some(minute) = m {
                let s_from = if h == h0 && minute == m0 { s0 } else { 0 };
                if let Some(s) = self.seconds.next_from(s_from) {
                    return NaiveTime::from_hms_opt(h, minute, s);
                }
                m = self.minutes.next_from(minute + 1);
            }
            h = self.hours.next_from(h + 1)?;
        }
    }

    /// The earliest wall-clock time at or after `from` (whole seconds) that matches, within
    /// [`SEARCH_YEARS`].
    pub fn next_local(&self, from: NaiveDateTime) -> Option<NaiveDateTime> {
        let limit = from.year().saturating_add(SEARCH_YEARS);
        let mut date = from.date();
        let mut earliest = Some(from.time());
        while date.year() <= limit {
            if !self.months.contains(date.month()) {
                date = self.next_month_start(date)?;
                earliest = None;
                continue;
            }
            if self.matches_date(date) {
                let start = earliest.unwrap_or(NaiveTime::MIN);
                if let Some(time) = self.time_from(start) {
                    return Some(date.and_time(time));
                }
            }
            date = date.succ_opt()?;
            earliest = None;
        }
        None
    }

    /// The first day of the next month the month field allows.
    fn next_month_start(&self, date: NaiveDate) -> Option<NaiveDate> {
        let (mut year, mut month) = (date.year(), date.month());
        loop {
            month += 1;
            if month > 12 {
                month = 1;
                year = year.checked_add(1)?;
            }
            if self.months.contains(month) {
                return NaiveDate::from_ymd_opt(year, month, 1);
            }
        }
    }
}

/// Days in a month of a year (`month` 1-12).
pub(crate) fn days_in_month(year: i32, month: u32) -> u32 {
    let first = NaiveDate::from_ymd_opt(year, month, 1);
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    match (first, next) {
        (Some(a), Some(b)) => (b - a).num_days() as u32,
        _ => 31,
    }
}

impl std::fmt::Display for Cron {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.with_seconds {
            write!(f, "{} ", field::render(Field::Second, self.seconds))?;
        }
        write!(
            f,
            "{} {} {} {} {}",
            field::render(Field::Minute, self.minutes),
            field::render(Field::Hour, self.hours),
            field::render(Field::DayOfMonth, self.days),
            field::render(Field::Month, self.months),
            field::render(Field::DayOfWeek, self.weekdays),
        )
    }
}

/// One second later, for stepping past a candidate.
pub(crate) fn after(t: NaiveDateTime) -> Option<NaiveDateTime> {
    t.checked_add_signed(Duration::seconds(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("test time")
    }

    #[test]
    fn next_local_walks_fields() {
        let c = Cron::parse("30 9 * * MON-FRI").expect("parses");
        // Saturday 2026-01-03 → Monday 09:30.
        assert_eq!(
            c.next_local(at("2026-01-03 12:00:00")),
            Some(at("2026-01-05 09:30:00"))
        );
        assert_eq!(
            c.next_local(at("2026-01-05 09:30:00")),
            Some(at("2026-01-05 09:30:00"))
        );
        assert_eq!(
            c.next_local(at("2026-01-05 09:30:01")),
            Some(at("2026-01-06 09:30:00"))
        );
        let s = Cron::parse("*/20 * * * * *").expect("parses");
        assert_eq!(
            s.next_local(at("2026-01-05 23:59:41")),
            Some(at("2026-01-06 00:00:00"))
        );
    }

    #[test]
    fn vixie_day_rule() {
        // Both restricted: the 1st or any Monday.
        let either = Cron::parse("0 0 1 * MON").expect("parses");
        assert!(either.matches_date(NaiveDate::from_ymd_opt(2026, 1, 1).expect("date")));
        assert!(either.matches_date(NaiveDate::from_ymd_opt(2026, 1, 5).expect("date")));
        assert!(!either.matches_date(NaiveDate::from_ymd_opt(2026, 1, 6).expect("date")));
        // A starred day-of-month does not restrict: both must hold.
        let both = Cron::parse("0 0 */2 * MON").expect("parses");
        assert!(both.matches_date(NaiveDate::from_ymd_opt(2026, 1, 5).expect("date")));
        assert!(!both.matches_date(NaiveDate::from_ymd_opt(2026, 1, 12).expect("date")));
    }

    #[test]
    fn days_in_months() {
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
        assert_eq!(days_in_month(2026, 12), 31);
        assert_eq!(days_in_month(2026, 4), 30);
    }
}
