//! From wall-clock time in a zone to an instant, with the two DST rules of this crate:
//!
//! - A local time that a spring-forward gap skips (02:30 on the night New York jumps from 02:00
//!   to 03:00) fires at the first instant after the gap (03:00 local): a daily job still runs
//!   that day, as late as it must and no later. Several skipped times fire once there.
//! - A local time that a fall-back repeats (01:30 on the night New York goes from 02:00 back to
//!   01:00) fires once, at its first occurrence; the repeated hour fires nothing.
//!
//! Both make the map from local to instant non-decreasing, which is what lets the search walk
//! local times in order and take the first whose instant is after the given one.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The instant a local time fires at in `tz` (see the module doc for gaps and repeats).
pub(crate) fn instant(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        LocalResult::None => gap_end(tz, local),
    }
}

/// The first instant whose local time is after `local`, a time inside a gap: the instant the
/// clocks jumped. Found by bisection over a window wide enough for any offset (±36 h).
fn gap_end(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let at = |secs: i64| DateTime::<Utc>::from_timestamp(secs, 0);
    let later = |secs: i64| at(secs).is_some_and(|t| t.with_timezone(&tz).naive_local() > local);
    let guess = local.and_utc().timestamp();
    let (mut lo, mut hi) = (guess - 36 * 3600, guess + 36 * 3600);
    // Invariant: lo's local time is not after `local`, hi's is.
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if later(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    at(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("test time")
    }

    #[test]
    fn gap_and_repeat_in_new_york() {
        let ny = chrono_tz::America::New_York;
        // 2026-03-08 02:30 does not exist: 03:00 EDT = 07:00 UTC.
        assert_eq!(
            instant(ny, local("2026-03-08 02:30:00")).map(|t| t.to_rfc3339()),
            Some("2026-03-08T07:00:00+00:00".to_string())
        );
        // 2026-11-01 01:30 happens twice: the first (EDT, 05:30 UTC).
        assert_eq!(
            instant(ny, local("2026-11-01 01:30:00")).map(|t| t.to_rfc3339()),
            Some("2026-11-01T05:30:00+00:00".to_string())
        );
    }
}
