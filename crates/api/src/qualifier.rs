//! Qualifiers: which version of a function a call names. `$LATEST` (the default) is the newest
//! version; a number names one version; any other name is an alias's ([`crate::FunctionAlias`],
//! resolved by Nova to the version it points at). The CLI writes one as `NAME:QUALIFIER`, HTTP as `?qualifier=` or the
//! `X-Nova-Qualifier` header.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::validate_name;

/// The name of the newest version, as Lambda spells it.
pub const LATEST: &str = "$LATEST";

/// Which version of a function to run or read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Qualifier {
    /// The newest version.
    #[default]
    Latest,
    /// Version `n` (from 1).
    Version(u64),
    /// An alias's name: letters, digits, `-` or `_`, not only digits.
    Alias(String),
}

/// Why a qualifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QualifierError {
    /// Neither `$LATEST`, a version number nor an alias name.
    #[error(
        "invalid qualifier '{0}': use $LATEST, a version number (1, 2, …) or an alias name (letters, digits, '-' or '_')"
    )]
    Malformed(String),
    /// `0`, or a number too large to be a version.
    #[error("invalid version '{0}': version numbers start at 1 and fit in 64 bits")]
    BadNumber(String),
}

impl Qualifier {
    /// A version number as written in a path (`/versions/{version}`): digits, from 1.
    pub fn version_number(text: &str) -> Result<u64, QualifierError> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(QualifierError::Malformed(text.to_string()));
        }
        match text.parse::<u64>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(QualifierError::BadNumber(text.to_string())),
        }
    }
}

impl FromStr for Qualifier {
    type Err = QualifierError;

    fn from_str(text: &str) -> Result<Qualifier, QualifierError> {
        if text == LATEST {
            return Ok(Qualifier::Latest);
        }
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return Qualifier::version_number(text).map(Qualifier::Version);
        }
        validate_name(text).map_err(|_| QualifierError::Malformed(text.to_string()))?;
        Ok(Qualifier::Alias(text.to_string()))
    }
}

impl fmt::Display for Qualifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Qualifier::Latest => f.write_str(LATEST),
            Qualifier::Version(n) => write!(f, "{n}"),
            Qualifier::Alias(name) => f.write_str(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualifiers_parse() {
        assert_eq!("$LATEST".parse(), Ok(Qualifier::Latest));
        assert_eq!("3".parse(), Ok(Qualifier::Version(3)));
        assert_eq!("prod".parse(), Ok(Qualifier::Alias("prod".into())));
        assert_eq!(
            "0".parse::<Qualifier>(),
            Err(QualifierError::BadNumber("0".into()))
        );
        assert!(matches!(
            "99999999999999999999999".parse::<Qualifier>(),
            Err(QualifierError::BadNumber(_))
        ));
        for bad in ["", "$latest", "a b", "-1", "x/y", "1.5"] {
            assert_eq!(
                bad.parse::<Qualifier>(),
                Err(QualifierError::Malformed(bad.into())),
                "{bad:?}"
            );
        }
        assert_eq!(Qualifier::version_number("12"), Ok(12));
        assert!(Qualifier::version_number("x").is_err());
        assert_eq!(Qualifier::Version(2).to_string(), "2");
        assert_eq!(Qualifier::Latest.to_string(), "$LATEST");
    }
}
