//! What [`Schedule::parse`](crate::Schedule::parse) refuses, one variant per mistake, each message
//! naming the field, the value and what would have been allowed.

use std::fmt;

/// A field of a cron expression, as error messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// The leading field of a 6-field expression, 0-59.
    Second,
    /// 0-59.
    Minute,
    /// 0-23.
    Hour,
    /// 1-31.
    DayOfMonth,
    /// 1-12 or JAN-DEC.
    Month,
    /// 0-7 (0 and 7 are Sunday) or SUN-SAT.
    DayOfWeek,
}

impl Field {
    /// The smallest and largest value the field accepts as written (day-of-week takes 7).
    pub fn bounds(self) -> (u32, u32) {
        match self {
            Field::Second | Field::Minute => (0, 59),
            Field::Hour => (0, 23),
            Field::DayOfMonth => (1, 31),
            Field::Month => (1, 12),
            Field::DayOfWeek => (0, 7),
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Second => "second",
            Field::Minute => "minute",
            Field::Hour => "hour",
            Field::DayOfMonth => "day-of-month",
            Field::Month => "month",
            Field::DayOfWeek => "day-of-week",
        })
    }
}

/// Why an expression or a time zone is refused. Every message is fit to show a user as the body
/// of a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    /// Nothing but white space.
    #[error(
        "empty schedule: expected a cron expression such as `*/5 * * * *`, a macro such as `@hourly`, or `@every 30s`"
    )]
    Empty,
    /// Neither 5 nor 6 fields.
    #[error(
        "`{expr}` has {count} fields: expected 5 (minute hour day-of-month month day-of-week) or 6 (second first)"
    )]
    FieldCount {
        /// The expression as given.
        expr: String,
        /// How many fields it has.
        count: usize,
    },
    /// A value that is neither a number nor a name the field knows.
    #[error("{field} field: `{text}` is not a number{names}")]
    NotANumber {
        /// The field.
        field: Field,
        /// The offending part.
        text: String,
        /// Which names the field would take, if any (", nor a month name (JAN-DEC)").
        names: &'static str,
    },
    /// A number outside the field's range.
    #[error("{field} field: {value} is out of range (allowed {min}-{max})")]
    OutOfRange {
        /// The field.
        field: Field,
        /// The value written.
        value: u32,
        /// The smallest allowed.
        min: u32,
        /// The largest allowed.
        max: u32,
    },
    /// `a-b` with `a` after `b`.
    #[error("{field} field: range `{text}` starts after it ends (ranges do not wrap around)")]
    BackwardRange {
        /// The field.
        field: Field,
        /// The range as written.
        text: String,
    },
    /// A step of 0, or larger than the field's span.
    #[error("{field} field: step in `{text}` must be between 1 and {max}")]
    BadStep {
        /// The field.
        field: Field,
        /// The item as written.
        text: String,
        /// The largest step the field takes.
        max: u32,
    },
    /// `L`, `W`, `#`, `?` and other extensions, or an empty list item.
    #[error(
        "{field} field: `{text}` is not supported (use numbers, names, `*`, `a-b`, `*/n`, `a-b/n`, `a/n` and lists)"
    )]
    Unsupported {
        /// The field.
        field: Field,
        /// The item as written.
        text: String,
    },
    /// An `@word` that is not one of the macros.
    #[error(
        "unknown macro `{0}`: expected @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly or @every <duration>"
    )]
    UnknownMacro(String),
    /// `@every` with a duration that does not parse.
    #[error("@every: `{text}` is not a duration: {reason} (write e.g. 30s, 5m, 1h30m, 2d)")]
    BadDuration {
        /// The duration as written.
        text: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `@every` shorter than a second or longer than the engine handles.
    #[error("@every: the period must be between 1s and 3650d, got `{0}`")]
    PeriodOutOfRange(String),
    /// Not an IANA zone name.
    #[error(
        "unknown time zone `{0}`: use an IANA name such as UTC, Europe/Berlin or America/New_York"
    )]
    UnknownTimeZone(String),
    /// Fields that are each valid but never meet on a calendar day, such as 30 February.
    #[error("`{expr}` can never fire: {reason}")]
    NeverFires {
        /// The expression as given.
        expr: String,
        /// Which fields rule every day out.
        reason: String,
    },
}
