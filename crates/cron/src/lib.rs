//! The schedule engine of Nova's timers: what a schedule's expression means, when it fires next,
//! and which one tick it owes after the daemons were down. Pure computation on instants the
//! caller passes in; no clock, no I/O, no runtime, so a dispatcher on any number of daemons gets
//! the same answers from the same stored row.
//!
//! # Syntax
//!
//! A schedule is one of:
//!
//! - **Cron, 5 fields**: `minute hour day-of-month month day-of-week`, fired at second 0.
//! - **Cron, 6 fields**: `second minute hour day-of-month month day-of-week`.
//! - **A macro**: `@yearly` (= `@annually`, `0 0 1 1 *`), `@monthly` (`0 0 1 * *`), `@weekly`
//!   (`0 0 * * 0`), `@daily` (= `@midnight`, `0 0 * * *`), `@hourly` (`0 * * * *`).
//! - **`@every <duration>`**: a fixed period such as `30s`, `5m`, `1h30m`, `2d` (units `d`, `h`,
//!   `m`, `s`, whole seconds, from 1 s to 3650 d), counted from an anchor instant (see
//!   [`Schedule::with_anchor`]); the time zone plays no part.
//!
//! | field | values | names |
//! |---|---|---|
//! | second | 0-59 | |
//! | minute | 0-59 | |
//! | hour | 0-23 | |
//! | day-of-month | 1-31 | |
//! | month | 1-12 | `JAN`-`DEC` |
//! | day-of-week | 0-7 (0 and 7 are Sunday) | `SUN`-`SAT` |
//!
//! Each field is a comma-separated list of `*` (every value), `v`, `a-b` (inclusive, never
//! wrapping), `*/n`, `a-b/n` and `a/n` (from `a` to the field's end), every `n`. Names are
//! case-insensitive and work in ranges (`MON-FRI`, `JAN-MAR/2`). As in Vixie cron, when both
//! day fields restrict (neither is `*` or `*/n` alone), a day matching either fires: `0 9 1 * MON`
//! runs on the 1st and on every Monday; `0 9 */2 * MON` runs on Mondays with an odd day. `L`,
//! `W`, `#` and `?` are not supported.
//!
//! Cron fields are read in the schedule's time zone, an IANA name (`Europe/Berlin`), UTC when
//! none is given. An expression that can never fire (`0 0 30 2 *`, `0 0 31 4,6,9,11 *`) is
//! refused, and so is anything else malformed, with a [`CronError`] whose message names the
//! field, the value and what is allowed.
//!
//! # Daylight saving time
//!
//! - A local time skipped by a spring-forward gap fires at the first instant after the gap: `30
//!   2 * * *` in `America/New_York` fires at 03:00 EDT on the day clocks jump from 02:00 to
//!   03:00. Several skipped times (`*/15 2 * * *`) fire once there.
//! - A local time repeated by a fall-back fires once, at its first occurrence; the repeated
//!   hour fires nothing (so `*/5 * * * *` is silent for the second 01:00-01:59 in New York). A
//!   fixed period in every zone is what `@every` or a UTC schedule is for.
//!
//! # Missed ticks
//!
//! [`Schedule::due`] is the policy: however many ticks fell while nothing was running, one fires
//! (the latest), then the schedule continues from the next tick after now. See [`Due`].
//!
//! # Example
//!
//! ```
//! use chrono::{DateTime, Utc};
//! use nova_cron::Schedule;
//!
//! let at = |s: &str| s.parse::<DateTime<Utc>>().expect("an instant");
//! let s = Schedule::parse("30 2 * * *", Some("America/New_York"))?;
//! // 02:30 does not exist on 8 March 2026 in New York: it fires when the gap ends, 03:00 EDT.
//! assert_eq!(s.next_after(at("2026-03-07T12:00:00Z")), Some(at("2026-03-08T07:00:00Z")));
//!
//! // Down from 09:00 to 12:30: three hourly ticks missed, one fire (12:00), next at 13:00.
//! let hourly = Schedule::parse("@hourly", None)?;
//! let due = hourly.due(at("2026-06-01T09:00:00Z"), at("2026-06-01T12:30:00Z"));
//! assert_eq!(due.fire, Some(at("2026-06-01T12:00:00Z")));
//! assert_eq!(due.next, Some(at("2026-06-01T13:00:00Z")));
//!
//! let refused = Schedule::parse("0 0 30 2 *", None).unwrap_err();
//! assert_eq!(
//!     refused.to_string(),
//!     "`0 0 30 2 *` can never fire: day-of-month 30 does not exist in month 2"
//! );
//! # Ok::<(), nova_cron::CronError>(())
//! ```

#![warn(missing_docs)]

mod cron;
mod error;
mod every;
mod field;
mod zone;

use std::fmt;

use chrono::{DateTime, Duration, Timelike, Utc};
pub use chrono_tz::Tz;

use crate::cron::Cron;
pub use crate::error::{CronError, Field};

/// A parsed schedule: a cron expression in a time zone, or a fixed period from an anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    kind: Kind,
    tz: Tz,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// Cron fields, and the macro they were written as, if any (for [`Display`](fmt::Display)).
    Cron(Cron, Option<&'static str>),
    /// `@every`: period in seconds, first tick at the anchor.
    Every(i64, DateTime<Utc>),
}

/// What a schedule owes at `now`: the answer of [`Schedule::due`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// The tick to fire now, if at least one fell in `(after, now]`: the latest of them. Never
    /// more than one, however long the daemons were down.
    pub fire: Option<DateTime<Utc>>,
    /// The first tick strictly after `now`: the schedule's next fire time to store. `None` only
    /// when the schedule has no tick left within the calendar the engine searches.
    pub next: Option<DateTime<Utc>>,
}

impl Schedule {
    /// Parses an expression (see the [crate docs](crate) for the syntax) in the time zone `tz`,
    /// an IANA name; `None` means UTC. `@every` accepts a zone and ignores it.
    pub fn parse(expr: &str, tz: Option<&str>) -> Result<Schedule, CronError> {
        let tz = match tz {
            None => Tz::UTC,
            Some(name) => name
                .parse::<Tz>()
                .map_err(|_| CronError::UnknownTimeZone(name.to_string()))?,
        };
        let expr = expr.trim();
        if expr.is_empty() {
            return Err(CronError::Empty);
        }
        let kind = match expr.strip_prefix('@') {
            None => Kind::Cron(Cron::parse(expr)?, None),
            Some(word) => {
                let (name, rest) = word.split_once(char::is_whitespace).unwrap_or((word, ""));
                let name = name.to_ascii_lowercase();
                let (shown, fields) = match name.as_str() {
                    "every" => {
                        let period = every::parse_period(rest.trim())?;
                        return Ok(Schedule {
                            kind: Kind::Every(period, DateTime::UNIX_EPOCH),
                            tz,
                        });
                    }
                    _ if !rest.trim().is_empty() => {
                        return Err(CronError::UnknownMacro(expr.to_string()));
                    }
                    "yearly" | "annually" => ("@yearly", "0 0 1 1 *"),
                    "monthly" => ("@monthly", "0 0 1 * *"),
                    "weekly" => ("@weekly", "0 0 * * 0"),
                    "daily" | "midnight" => ("@daily", "0 0 * * *"),
                    "hourly" => ("@hourly", "0 * * * *"),
                    _ => return Err(CronError::UnknownMacro(expr.to_string())),
                };
                Kind::Cron(Cron::parse(fields)?, Some(shown))
            }
        };
        Ok(Schedule { kind, tz })
    }

    /// Sets where an `@every` schedule counts its period from: ticks fall at `anchor + k·period`
    /// for k ≥ 0. Pass something every daemon knows, such as the schedule's creation time, so
    /// they all agree. Without one the anchor is the Unix epoch (`@every 1h` on the hour UTC).
    /// Cron schedules ignore it.
    pub fn with_anchor(mut self, anchor: DateTime<Utc>) -> Schedule {
        if let Kind::Every(_, a) = &mut self.kind {
            *a = anchor;
        }
        self
    }

    /// The zone cron fields are read in (UTC unless given).
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// The period of an `@every` schedule; `None` for cron.
    pub fn period(&self) -> Option<std::time::Duration> {
        match self.kind {
            Kind::Every(secs, _) => Some(std::time::Duration::from_secs(secs.unsigned_abs())),
            Kind::Cron(..) => None,
        }
    }

    /// The first fire time strictly after `t`. Cron fields are matched in the schedule's zone
    /// with the DST rules of the [crate docs](crate); `@every` gives the smallest
    /// `anchor + k·period` (k ≥ 0) after `t`. `None` only past the end of the searchable
    /// calendar (about 30 years ahead of `t`, or chrono's last year).
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.kind {
            Kind::Every(period, anchor) => {
                if t < *anchor {
                    return Some(*anchor);
                }
                let k = nanos(t - *anchor) / (*period as i128 * 1_000_000_000) + 1;
                anchor.checked_add_signed(Duration::seconds(
                    i64::try_from(k).ok()?.checked_mul(*period)?,
                ))
            }
            Kind::Cron(cron, _) => {
                let mut from = t.with_timezone(&self.tz).naive_local().with_nanosecond(0)?;
                loop {
                    let local = cron.next_local(from)?;
                    let at = zone::instant(self.tz, local)?;
                    if at > t {
                        return Some(at);
                    }
                    from = cron::after(local)?;
                }
            }
        }
    }

    /// The missed-tick policy. `after` is the last tick fired, or, for a schedule that never
    /// fired, when it was created (or resumed: ticks while paused are not owed). `now` is the
    /// dispatcher's clock.
    ///
    /// - If no tick fell in `(after, now]`, `fire` is `None`.
    /// - If one or more did, `fire` is the latest of them: one invocation however many were
    ///   missed (three missed hourly ticks after a restart fire once, as the last of them).
    ///   A tick exactly at `now` is due; one exactly at `after` was already fired.
    /// - `next` is always the first tick strictly after `now`.
    ///
    /// How a store claims a tick exactly once among several daemons: keep `next_fire_at` on the
    /// schedule's row; a dispatcher takes rows with `next_fire_at <= now`, calls `due`, and runs
    /// `UPDATE … SET next_fire_at = :next, last_fired_at = :fire WHERE id = :id AND
    /// next_fire_at = :read` in the transaction that enqueues the invocation (idempotency key:
    /// schedule id and `fire`). The daemon whose update changes a row fires; the others see zero
    /// rows and move on, and every daemon computes the same `fire` and `next` from the same row.
    pub fn due(&self, after: DateTime<Utc>, now: DateTime<Utc>) -> Due {
        Due {
            fire: self.latest_in(after, now),
            next: self.next_after(now),
        }
    }

    /// The latest tick in `(after, now]`.
    fn latest_in(&self, after: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let first = self.next_after(after).filter(|f| *f <= now)?;
        if let Kind::Every(period, anchor) = &self.kind {
            // first ≥ anchor, so now ≥ anchor.
            let k = nanos(now - *anchor) / (*period as i128 * 1_000_000_000);
            let tick = anchor.checked_add_signed(Duration::seconds(
                i64::try_from(k).ok()?.checked_mul(*period)?,
            ))?;
            return Some(tick.max(first));
        }
        // Look back from now in doubling steps for a window holding a tick, then walk forward
        // through it: a few dozen searches instead of one per missed tick.
        let mut back = Duration::seconds(1);
        let mut tick = loop {
            let from = now - back;
            if from <= after {
                break first;
            }
            if let Some(t) = self.next_after(from).filter(|t| *t <= now) {
                break t;
            }
            back = back * 2;
        };
        while let Some(next) = self.next_after(tick).filter(|t| *t <= now) {
            tick = next;
        }
        Some(tick)
    }
}

/// A signed duration in nanoseconds, without the overflow of `num_nanoseconds` past 292 years.
fn nanos(d: Duration) -> i128 {
    d.num_seconds() as i128 * 1_000_000_000 + d.subsec_nanos() as i128
}

impl fmt::Display for Schedule {
    /// The expression in normal form (numbers for names, sorted lists, `*` and `*/n` where they
    /// mean the same, the macro as written with its synonyms folded); it parses back to the same
    /// schedule. The zone and an `@every` anchor are not part of it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Cron(_, Some(name)) => f.write_str(name),
            Kind::Cron(cron, None) => cron.fmt(f),
            Kind::Every(period, _) => write!(f, "@every {}", every::render_period(*period)),
        }
    }
}
