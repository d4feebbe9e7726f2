//! Property checks against a brute force written apart from the engine: for a few hundred random
//! 5-field expressions, `next_after` returns a minute that matches and no earlier minute after
//! the start matches; an expression is refused as never firing exactly when no day in 28 years
//! matches; and the normal form parses back to the same schedule.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Timelike, Utc};
use nova_cron::{CronError, Schedule};

/// splitmix64: a fixed seed, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n)) as u32
    }

    fn between(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.below(hi - lo + 1)
    }
}

/// One random field: its text and the values it means (day-of-week 7 folded to 0), and whether
/// it starts with `*`. `star_odds` in percent.
fn field(
    rng: &mut Rng,
    lo: u32,
    hi: u32,
    star_odds: u32,
    names: &[&str],
) -> (String, BTreeSet<u32>, bool) {
    if rng.below(100) < star_odds {
        return ("*".into(), (lo..=hi).collect(), true);
    }
    let name = |rng: &mut Rng, v: u32| -> String {
        let offset = if names.len() == 12 { 1 } else { 0 };
        match names.get((v - offset) as usize) {
            Some(n) if v >= offset && rng.below(3) == 0 => n.to_string(),
            _ => v.to_string(),
        }
    };
    let items = 1 + rng.below(3);
    let mut texts = Vec::new();
    let mut values = BTreeSet::new();
    let mut star = false;
    for i in 0..items {
        let span = if hi == 7 { 7 } else { hi - lo + 1 };
        match rng.below(5) {
            0 if i == 0 => {
                let step = rng.between(1, span.min(12));
                texts.push(format!("*/{step}"));
                values.extend((lo..=hi).step_by(step as usize));
                star = true;
            }
            1 => {
                let a = rng.between(lo, hi);
                let b = rng.between(a, hi);
                texts.push(format!("{}-{}", name(rng, a), name(rng, b)));
                values.extend(a..=b);
            }
            2 => {
                let a = rng.between(lo, hi);
                let b = rng.between(a, hi);
                let step = rng.between(1, span.min(10));
                texts.push(format!("{a}-{b}/{step}"));
                values.extend((a..=b).step_by(step as usize));
            }
            _ => {
                let v = rng.between(lo, hi);
                texts.push(name(rng, v));
                values.insert(v);
            }
        }
    }
    let star = star && texts.len() == 1;
    (texts.join(","), values, star)
}

/// What an expression means, computed here without the engine.
struct Expected {
    minutes: BTreeSet<u32>,
    hours: BTreeSet<u32>,
    days: BTreeSet<u32>,
    months: BTreeSet<u32>,
    weekdays: BTreeSet<u32>,
    either_day: bool,
}

impl Expected {
    fn day(&self, d: NaiveDate) -> bool {
        if !self.months.contains(&d.month()) {
            return false;
        }
        let by_day = self.days.contains(&d.day());
        let by_weekday = self.weekdays.contains(&d.weekday().num_days_from_sunday());
        if self.either_day {
            by_day || by_weekday
        } else {
            by_day && by_weekday
        }
    }

    fn matches(&self, local: NaiveDateTime) -> bool {
        local.second() == 0
            && self.minutes.contains(&local.minute())
            && self.hours.contains(&local.hour())
            && self.day(local.date())
    }
}

fn random_expression(rng: &mut Rng) -> (String, Expected) {
    const MONTHS: [&str; 12] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    let (m, minutes, _) = field(rng, 0, 59, 30, &[]);
    let (h, hours, _) = field(rng, 0, 23, 40, &[]);
    let (d, days, day_star) = field(rng, 1, 31, 60, &[]);
    let (mo, months, _) = field(rng, 1, 12, 70, &MONTHS);
    let (w, weekdays, week_star) = field(rng, 0, 7, 60, &DAYS);
    let weekdays = weekdays.into_iter().map(|v| v % 7).collect();
    let expected = Expected {
        minutes,
        hours,
        days,
        months,
        weekdays,
        either_day: !day_star && !week_star,
    };
    (format!("{m} {h} {d} {mo} {w}"), expected)
}

#[test]
fn next_after_is_the_first_matching_minute() {
    let mut rng = Rng(0x5EED_C0DE);
    let zones = [("UTC", 0), ("Asia/Kolkata", 330), ("Asia/Kathmandu", 345)];
    let window = 14 * 24 * 60;
    let (mut checked, mut found, mut refused) = (0, 0, 0);
    while checked < 300 {
        let (expr, expected) = random_expression(&mut rng);
        let fires_in_28_years = (0..28 * 366)
            .filter_map(|i| NaiveDate::from_ymd_opt(2024, 1, 1).map(|d| d + Duration::days(i)))
            .any(|d| expected.day(d));
        let (zone, offset) = zones[rng.below(3) as usize];
        let schedule = match Schedule::parse(&expr, Some(zone)) {
            Ok(s) => s,
            Err(CronError::NeverFires { .. }) if !fires_in_28_years => {
                refused += 1;
                continue;
            }
            Err(e) => panic!("{expr}: {e}"),
        };
        assert!(fires_in_28_years, "{expr} never fires but was accepted");
        assert_eq!(
            Schedule::parse(&schedule.to_string(), Some(zone)).as_ref(),
            Ok(&schedule),
            "{expr} → {schedule}"
        );

        let start =
            DateTime::<Utc>::from_timestamp(1_767_225_600 + i64::from(rng.below(366 * 86_400)), 0)
                .expect("an instant in 2026");
        let offset = Duration::minutes(offset);
        let first_minute =
            start - Duration::seconds(i64::from(start.second())) + Duration::minutes(1);
        let brute = (0..window)
            .map(|i| first_minute + Duration::minutes(i))
            .find(|u| expected.matches((*u + offset).naive_utc()));
        let next = schedule.next_after(start).expect("fires");
        match brute {
            Some(want) => {
                assert_eq!(next, want, "{expr} in {zone} after {start}");
                found += 1;
            }
            None => {
                assert!(
                    next > first_minute + Duration::minutes(window - 1),
                    "{expr} in {zone}: {next}"
                );
                assert!(
                    expected.matches((next + offset).naive_utc()),
                    "{expr} in {zone}: {next} does not match"
                );
            }
        }
        checked += 1;
    }
    println!(
        "{checked} expressions checked ({found} fired within two weeks), {refused} refused as never firing"
    );
    assert!(
        found > 150,
        "too few expressions fired within the window: {found}"
    );
}

#[test]
fn refused_as_never_firing_exactly_when_no_day_in_28_years_matches() {
    let mut rng = Rng(0xFEB_2930);
    let (mut refused, mut accepted) = (0, 0);
    for _ in 0..300 {
        let days: BTreeSet<u32> = (0..1 + rng.below(3)).map(|_| rng.between(28, 31)).collect();
        let months: BTreeSet<u32> = (0..1 + rng.below(3))
            .map(|_| [2, 4, 6, 9, 11, 1][rng.below(6) as usize])
            .collect();
        let join = |s: &BTreeSet<u32>| s.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        let expr = format!("0 0 {} {} *", join(&days), join(&months));
        let fires = (0..28 * 366)
            .filter_map(|i| NaiveDate::from_ymd_opt(2024, 1, 1).map(|d| d + Duration::days(i)))
            .any(|d| months.contains(&d.month()) && days.contains(&d.day()));
        match Schedule::parse(&expr, None) {
            Ok(s) => {
                assert!(fires, "{expr} accepted but never fires");
                let next = s
                    .next_after(DateTime::UNIX_EPOCH + Duration::days(20_000))
                    .expect("fires");
                assert!(
                    months.contains(&next.month()) && days.contains(&next.day()),
                    "{expr}: {next}"
                );
                accepted += 1;
            }
            Err(CronError::NeverFires { .. }) => {
                assert!(!fires, "{expr} refused but fires");
                refused += 1;
            }
            Err(e) => panic!("{expr}: {e}"),
        }
    }
    println!("{accepted} accepted, {refused} refused as never firing");
    assert!(refused > 10 && accepted > 10);
}

#[test]
fn across_new_york_dst_no_first_occurrence_of_a_matching_minute_is_skipped() {
    use chrono::TimeZone;
    let ny = chrono_tz::America::New_York;
    let mut rng = Rng(0xD57);
    let transitions = [1_772_953_200_i64, 1_793_512_800]; // 2026-03-08 07:00Z, 2026-11-01 06:00Z
    let mut checked = 0;
    while checked < 200 {
        let (expr, expected) = random_expression(&mut rng);
        let Ok(schedule) = Schedule::parse(&expr, Some("America/New_York")) else {
            continue;
        };
        let around =
            transitions[rng.below(2) as usize] - 6 * 3600 + i64::from(rng.below(12 * 3600));
        let start = DateTime::<Utc>::from_timestamp(around, 0).expect("an instant");
        let Some(next) = schedule.next_after(start) else {
            panic!("{expr}: no fire");
        };
        assert!(next > start);
        let local = |u: DateTime<Utc>| u.with_timezone(&ny).naive_local();
        // The fire time matches, or is the end of a gap holding a matching time.
        let gap_end = local(next - Duration::seconds(1)) + Duration::seconds(1) != local(next);
        assert!(
            expected.matches(local(next)) || gap_end,
            "{expr}: {next} matches nothing"
        );
        // No earlier minute after start whose local time matches and happens for the first time.
        let mut u = start - Duration::seconds(i64::from(start.second())) + Duration::minutes(1);
        while u < next && u < start + Duration::days(3) {
            let first = ny.from_local_datetime(&local(u)).earliest() == Some(u.with_timezone(&ny));
            assert!(
                !(first && expected.matches(local(u))),
                "{expr} after {start}: {u} skipped for {next}"
            );
            u += Duration::minutes(1);
        }
        checked += 1;
    }
}
