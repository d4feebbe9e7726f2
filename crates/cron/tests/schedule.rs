//! The public API as the store and dispatcher will use it: every syntax form, the errors and
//! their messages, fire times across month ends, leap years and DST changes, `@every` anchors,
//! and the missed-tick policy.

use chrono::{DateTime, Utc};
use nova_cron::{CronError, Due, Field, Schedule};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("test instant")
        .with_timezone(&Utc)
}

fn sched(expr: &str) -> Schedule {
    Schedule::parse(expr, None).unwrap_or_else(|e| panic!("{expr}: {e}"))
}

fn zoned(expr: &str, tz: &str) -> Schedule {
    Schedule::parse(expr, Some(tz)).unwrap_or_else(|e| panic!("{expr} in {tz}: {e}"))
}

fn err(expr: &str) -> String {
    Schedule::parse(expr, None)
        .map(|s| panic!("{expr} parsed as {s}"))
        .unwrap_err()
        .to_string()
}

/// The next `n` fire times after `from`, as RFC 3339 in UTC.
fn fires(s: &Schedule, from: &str, n: usize) -> Vec<String> {
    let mut t = utc(from);
    (0..n)
        .map(|_| {
            t = s.next_after(t).expect("fires");
            t.to_rfc3339()
        })
        .collect()
}

#[test]
fn every_syntax_form_parses_and_prints_in_normal_form() {
    for (expr, shown) in [
        ("* * * * *", "* * * * *"),
        ("0 9 * * 1-5", "0 9 * * 1-5"),
        ("*/15 * * * *", "*/15 * * * *"),
        ("0-30/10 * * * *", "0-30/10 * * * *"),
        ("5/20 * * * *", "5-45/20 * * * *"),
        ("0,30 8-18 * * *", "*/30 8-18 * * *"),
        ("0 0 1,15 * *", "0 0 1,15 * *"),
        ("0 12 * JAN,MAR,jul MON-fri", "0 12 * 1,3,7 1-5"),
        ("0 0 * JAN,JUL *", "0 0 * */6 *"),
        ("0 0 * * 7", "0 0 * * 0"),
        ("0 0 * * SUN-SAT", "0 0 * * 0-6"),
        ("0 0 1 * MON", "0 0 1 * 1"),
        ("30 */10 * * * *", "30 */10 * * * *"),
        ("  0   0 * * *  ", "0 0 * * *"),
        ("@yearly", "@yearly"),
        ("@annually", "@yearly"),
        ("@monthly", "@monthly"),
        ("@weekly", "@weekly"),
        ("@daily", "@daily"),
        ("@midnight", "@daily"),
        ("@HOURLY", "@hourly"),
        ("@every 30s", "@every 30s"),
        ("@every 90m", "@every 1h30m"),
        ("@every 1h30m", "@every 1h30m"),
        ("@every 1d", "@every 1d"),
    ] {
        let s = sched(expr);
        assert_eq!(s.to_string(), shown, "{expr}");
        assert_eq!(sched(shown), s, "{shown} parses back to the same schedule");
    }
}

#[test]
fn macros_mean_their_cron_expressions() {
    for (name, fields) in [
        ("@yearly", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@hourly", "0 * * * *"),
    ] {
        assert_eq!(
            fires(&sched(name), "2026-02-27T13:14:15Z", 5),
            fires(&sched(fields), "2026-02-27T13:14:15Z", 5),
            "{name}"
        );
    }
    assert_eq!(
        fires(&sched("@hourly"), "2026-02-27T13:14:15Z", 2),
        ["2026-02-27T14:00:00+00:00", "2026-02-27T15:00:00+00:00"]
    );
}

#[test]
fn errors_name_the_field_the_value_and_the_range() {
    assert_eq!(
        Schedule::parse("60 * * * *", None),
        Err(CronError::OutOfRange {
            field: Field::Minute,
            value: 60,
            min: 0,
            max: 59
        })
    );
    for (expr, says) in [
        ("", "empty schedule"),
        ("* * * *", "has 4 fields: expected 5"),
        ("* * * * * * *", "has 7 fields"),
        (
            "60 * * * *",
            "minute field: 60 is out of range (allowed 0-59)",
        ),
        (
            "0 24 * * *",
            "hour field: 24 is out of range (allowed 0-23)",
        ),
        (
            "0 0 0 * *",
            "day-of-month field: 0 is out of range (allowed 1-31)",
        ),
        (
            "0 0 32 * *",
            "day-of-month field: 32 is out of range (allowed 1-31)",
        ),
        (
            "0 0 * 13 *",
            "month field: 13 is out of range (allowed 1-12)",
        ),
        (
            "0 0 * * 8",
            "day-of-week field: 8 is out of range (allowed 0-7)",
        ),
        (
            "60 * * * * *",
            "second field: 60 is out of range (allowed 0-59)",
        ),
        (
            "0 0 * FOO *",
            "month field: `FOO` is not a number nor a month name (JAN-DEC)",
        ),
        (
            "0 0 * * FUN",
            "day-of-week field: `FUN` is not a number nor a day name (SUN-SAT)",
        ),
        ("x * * * *", "minute field: `x` is not a number"),
        ("0 0 * JAN-FOO *", "`FOO` is not a number nor a month name"),
        (
            "30-10 * * * *",
            "minute field: range `30-10` starts after it ends",
        ),
        (
            "*/0 * * * *",
            "minute field: step in `*/0` must be between 1 and 60",
        ),
        (
            "0 */25 * * *",
            "hour field: step in `*/25` must be between 1 and 24",
        ),
        ("*/x * * * *", "step in `*/x`"),
        ("1,,2 * * * *", "minute field: `` is not supported"),
        ("0 0 L * *", "day-of-month field: `L` is not supported"),
        ("0 0 * * 5#3", "day-of-week field: `5#3` is not supported"),
        ("0 0 ? * *", "`?` is not supported"),
        ("@often", "unknown macro `@often`"),
        ("@daily 5", "unknown macro `@daily 5`"),
        ("@every", "@every: `` is not a duration: it is empty"),
        (
            "@every 0s",
            "@every: the period must be between 1s and 3650d, got `0s`",
        ),
        ("@every 500ms", "periods are whole seconds"),
        ("@every 10", "a number needs a unit"),
        ("@every 1w", "units are d, h, m and s"),
    ] {
        let msg = err(expr);
        assert!(msg.contains(says), "{expr:?}: {msg:?} should say {says:?}");
    }
    assert_eq!(
        Schedule::parse("@daily", Some("Mars/Olympus"))
            .unwrap_err()
            .to_string(),
        "unknown time zone `Mars/Olympus`: use an IANA name such as UTC, Europe/Berlin or America/New_York"
    );
}

#[test]
fn an_expression_that_can_never_fire_is_refused_with_a_message() {
    for (expr, says) in [
        ("0 0 30 2 *", "day-of-month 30 does not exist in month 2"),
        ("0 0 31 2 *", "day-of-month 31 does not exist in month 2"),
        (
            "0 0 30,31 FEB *",
            "day-of-month 30,31 does not exist in month 2",
        ),
        (
            "0 0 31 4,6,9,11 *",
            "day-of-month 31 does not exist in month 4,6,9,11",
        ),
        (
            "0 0 0 31 APR */2",
            "day-of-month 31 does not exist in month 4",
        ),
    ] {
        let msg = err(expr);
        assert!(
            msg.starts_with(&format!("`{expr}` can never fire: ")),
            "{msg}"
        );
        assert!(msg.contains(says), "{expr}: {msg}");
    }
    // 29 February exists in leap years; either day field matching (both restrict) fires.
    sched("0 0 29 2 *");
    sched("0 0 31 2 MON");
    sched("0 0 31 4,5 *");
}

#[test]
fn utc_is_the_default_and_next_is_strictly_after() {
    let s = sched("30 9 * * *");
    assert_eq!(s.timezone(), chrono_tz::UTC);
    assert_eq!(
        fires(&s, "2026-05-01T09:29:59Z", 1),
        ["2026-05-01T09:30:00+00:00"]
    );
    assert_eq!(
        fires(&s, "2026-05-01T09:30:00Z", 1),
        ["2026-05-02T09:30:00+00:00"]
    );
    assert_eq!(
        fires(&s, "2026-05-01T09:29:59.999Z", 1),
        ["2026-05-01T09:30:00+00:00"]
    );
    let every_second = sched("* * * * * *");
    assert_eq!(
        fires(&every_second, "2026-05-01T09:29:59.5Z", 2),
        ["2026-05-01T09:30:00+00:00", "2026-05-01T09:30:01+00:00"]
    );
}

#[test]
fn month_ends_and_leap_years() {
    assert_eq!(
        fires(&sched("0 0 31 * *"), "2026-01-31T00:00:00Z", 3),
        [
            "2026-03-31T00:00:00+00:00",
            "2026-05-31T00:00:00+00:00",
            "2026-07-31T00:00:00+00:00"
        ]
    );
    assert_eq!(
        fires(&sched("0 12 29 2 *"), "2026-01-01T00:00:00Z", 3),
        [
            "2028-02-29T12:00:00+00:00",
            "2032-02-29T12:00:00+00:00",
            "2036-02-29T12:00:00+00:00"
        ]
    );
    // 2100 is no leap year: from 2096 the next 29 February is in 2104.
    assert_eq!(
        fires(&sched("0 0 29 2 *"), "2096-03-01T00:00:00Z", 1),
        ["2104-02-29T00:00:00+00:00"]
    );
    assert_eq!(
        fires(&sched("59 23 31 12 *"), "2026-12-31T23:59:00Z", 1),
        ["2027-12-31T23:59:00+00:00"]
    );
    // Either day field: the 1st or Fridays.
    assert_eq!(
        fires(&sched("0 8 1 * FRI"), "2026-04-28T00:00:00Z", 3),
        [
            "2026-05-01T08:00:00+00:00",
            "2026-05-08T08:00:00+00:00",
            "2026-05-15T08:00:00+00:00"
        ]
    );
}

#[test]
fn new_york_spring_forward_fires_a_skipped_time_at_the_end_of_the_gap() {
    // 2026-03-08: 02:00 EST becomes 03:00 EDT (07:00 UTC).
    let s = zoned("30 2 * * *", "America/New_York");
    assert_eq!(
        fires(&s, "2026-03-07T00:00:00Z", 3),
        [
            "2026-03-07T07:30:00+00:00",
            "2026-03-08T07:00:00+00:00",
            "2026-03-09T06:30:00+00:00"
        ]
    );
    // Four skipped times fire once; 03:00 itself is then the next tick only if it matches.
    let quarter = zoned("*/15 2-3 * * *", "America/New_York");
    assert_eq!(
        fires(&quarter, "2026-03-08T06:59:00Z", 3),
        [
            "2026-03-08T07:00:00+00:00",
            "2026-03-08T07:15:00+00:00",
            "2026-03-08T07:30:00+00:00"
        ]
    );
    // Times outside the gap keep their wall-clock hour across the change.
    assert_eq!(
        fires(
            &zoned("0 9 * * *", "America/New_York"),
            "2026-03-07T15:00:00Z",
            2
        ),
        ["2026-03-08T13:00:00+00:00", "2026-03-09T13:00:00+00:00"]
    );
}

#[test]
fn new_york_fall_back_fires_a_repeated_time_once() {
    // 2026-11-01: 02:00 EDT becomes 01:00 EST; 01:30 happens at 05:30 and 06:30 UTC.
    let s = zoned("30 1 * * *", "America/New_York");
    assert_eq!(
        fires(&s, "2026-10-31T12:00:00Z", 3),
        [
            "2026-11-01T05:30:00+00:00",
            "2026-11-02T06:30:00+00:00",
            "2026-11-03T06:30:00+00:00"
        ]
    );
    // From inside the repeated hour nothing fires again until after it.
    let hourly = zoned("0 * * * *", "America/New_York");
    assert_eq!(
        fires(&hourly, "2026-11-01T04:30:00Z", 3),
        [
            "2026-11-01T05:00:00+00:00",
            "2026-11-01T07:00:00+00:00",
            "2026-11-01T08:00:00+00:00"
        ]
    );
    assert_eq!(
        fires(&hourly, "2026-11-01T06:10:00Z", 1),
        ["2026-11-01T07:00:00+00:00"]
    );
}

#[test]
fn berlin_spring_forward_and_fall_back() {
    let berlin = |expr| zoned(expr, "Europe/Berlin");
    // 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC).
    assert_eq!(
        fires(&berlin("30 2 * * *"), "2026-03-28T00:00:00Z", 3),
        [
            "2026-03-28T01:30:00+00:00",
            "2026-03-29T01:00:00+00:00",
            "2026-03-30T00:30:00+00:00"
        ]
    );
    // 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 is at 00:30 and 01:30 UTC.
    assert_eq!(
        fires(&berlin("30 2 * * *"), "2026-10-24T12:00:00Z", 2),
        ["2026-10-25T00:30:00+00:00", "2026-10-26T01:30:00+00:00"]
    );
    let half_hourly = berlin("*/30 * * * *");
    assert_eq!(
        fires(&half_hourly, "2026-10-24T23:45:00Z", 5),
        [
            "2026-10-25T00:00:00+00:00",
            "2026-10-25T00:30:00+00:00",
            // 01:00 and 01:30 UTC are 02:00 and 02:30 again: already fired.
            "2026-10-25T02:00:00+00:00",
            "2026-10-25T02:30:00+00:00",
            "2026-10-25T03:00:00+00:00"
        ]
    );
    assert_eq!(berlin("0 9 * * *").timezone(), chrono_tz::Europe::Berlin);
}

#[test]
fn every_counts_from_its_anchor_in_any_zone() {
    let anchor = utc("2026-06-01T10:00:07Z");
    let s = Schedule::parse("@every 30s", Some("Asia/Tokyo"))
        .expect("parses")
        .with_anchor(anchor);
    assert_eq!(s.period(), Some(std::time::Duration::from_secs(30)));
    assert_eq!(
        fires(&s, "2026-06-01T09:00:00Z", 1),
        ["2026-06-01T10:00:07+00:00"]
    );
    assert_eq!(
        fires(&s, "2026-06-01T10:00:07Z", 2),
        ["2026-06-01T10:00:37+00:00", "2026-06-01T10:01:07+00:00"]
    );
    assert_eq!(
        fires(&s, "2026-06-01T12:00:36.9Z", 1),
        ["2026-06-01T12:00:37+00:00"]
    );
    // Zone-independent: the same ticks across a DST change, in UTC or in New York.
    let ny = Schedule::parse("@every 1h", Some("America/New_York"))
        .expect("parses")
        .with_anchor(utc("2026-11-01T04:00:00Z"));
    assert_eq!(
        fires(&ny, "2026-11-01T04:00:00Z", 3),
        [
            "2026-11-01T05:00:00+00:00",
            "2026-11-01T06:00:00+00:00",
            "2026-11-01T07:00:00+00:00"
        ]
    );
    // Without an anchor: the Unix epoch, so @every 1h is on the hour.
    assert_eq!(
        fires(&sched("@every 1h"), "2026-06-01T10:20:00Z", 1),
        ["2026-06-01T11:00:00+00:00"]
    );
    // Cron ignores an anchor.
    assert_eq!(sched("@daily").with_anchor(anchor), sched("@daily"));
    assert_eq!(sched("@daily").period(), None);
}

#[test]
fn three_missed_ticks_fire_once_the_latest() {
    let s = sched("0 * * * *");
    // Last fired 09:00; down until 12:30: 10:00, 11:00 and 12:00 were missed.
    assert_eq!(
        s.due(utc("2026-06-01T09:00:00Z"), utc("2026-06-01T12:30:00Z")),
        Due {
            fire: Some(utc("2026-06-01T12:00:00Z")),
            next: Some(utc("2026-06-01T13:00:00Z")),
        }
    );
    // A year down is still one fire.
    let long = s.due(utc("2025-06-01T09:00:00Z"), utc("2026-06-01T12:30:00Z"));
    assert_eq!(long.fire, Some(utc("2026-06-01T12:00:00Z")));
    let every = Schedule::parse("@every 30s", None)
        .expect("parses")
        .with_anchor(utc("2026-06-01T00:00:10Z"));
    assert_eq!(
        every.due(utc("2026-06-01T00:00:10Z"), utc("2026-06-01T01:00:00Z")),
        Due {
            fire: Some(utc("2026-06-01T00:59:40Z")),
            next: Some(utc("2026-06-01T01:00:10Z")),
        }
    );
    // A sparse burst long ago: 3600 ticks in one hour, found without stepping through years.
    let burst = sched("* * 9 * * *");
    assert_eq!(
        burst
            .due(utc("2026-06-01T00:00:00Z"), utc("2026-06-01T19:59:59Z"))
            .fire,
        Some(utc("2026-06-01T09:59:59Z"))
    );
}

#[test]
fn no_missed_tick_fires_nothing() {
    let s = sched("0 * * * *");
    assert_eq!(
        s.due(utc("2026-06-01T09:00:00Z"), utc("2026-06-01T09:59:59Z")),
        Due {
            fire: None,
            next: Some(utc("2026-06-01T10:00:00Z")),
        }
    );
    // Created at 09:10 (never fired): nothing owed before 10:00.
    assert_eq!(
        s.due(utc("2026-06-01T09:10:00Z"), utc("2026-06-01T09:10:00Z"))
            .fire,
        None
    );
    let every = Schedule::parse("@every 1m", None)
        .expect("parses")
        .with_anchor(utc("2026-06-01T09:00:30Z"));
    assert_eq!(
        every
            .due(utc("2026-06-01T09:00:00Z"), utc("2026-06-01T09:00:29Z"))
            .fire,
        None
    );
}

#[test]
fn a_tick_exactly_at_now_is_due_and_one_at_after_is_not() {
    let s = sched("0 * * * *");
    assert_eq!(
        s.due(utc("2026-06-01T09:00:00Z"), utc("2026-06-01T10:00:00Z")),
        Due {
            fire: Some(utc("2026-06-01T10:00:00Z")),
            next: Some(utc("2026-06-01T11:00:00Z")),
        }
    );
    // Calling again right after claiming: nothing more.
    assert_eq!(
        s.due(utc("2026-06-01T10:00:00Z"), utc("2026-06-01T10:00:00Z"))
            .fire,
        None
    );
    let every = Schedule::parse("@every 10s", None)
        .expect("parses")
        .with_anchor(utc("2026-06-01T00:00:00Z"));
    assert_eq!(
        every
            .due(utc("2026-06-01T00:00:00Z"), utc("2026-06-01T00:00:10Z"))
            .fire,
        Some(utc("2026-06-01T00:00:10Z"))
    );
    assert_eq!(
        every
            .due(utc("2026-06-01T00:00:10Z"), utc("2026-06-01T00:00:19.999Z"))
            .fire,
        None
    );
}

#[test]
fn missed_ticks_across_a_dst_change() {
    // Down over New York's fall-back night: the repeated 01:30 is one tick, and one fire.
    let s = zoned("30 1 * * *", "America/New_York");
    let due = s.due(utc("2026-10-30T05:30:00Z"), utc("2026-11-01T12:00:00Z"));
    assert_eq!(due.fire, Some(utc("2026-11-01T05:30:00Z")));
    assert_eq!(due.next, Some(utc("2026-11-02T06:30:00Z")));
}
