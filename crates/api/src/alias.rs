//! Aliases: a name that points at a version of a function (`live` → 3), optionally sending a
//! share of the calls to a second version (`live` → 3, with 10 % to 4: a canary). A call names
//! an alias the way it names a version (`NAME:ALIAS`, `?qualifier=`, `X-Nova-Qualifier`), so
//! moving an alias moves its callers without their changing anything.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{LATEST, validate_name};

/// Longest description of an alias, in characters (as for versions).
pub const MAX_ALIAS_DESCRIPTION: usize = 256;

/// An alias of a function, as stored and as the API shows it:
/// `{"function": "f", "name": "live", "version": 3, "routing": {"4": 10}, …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionAlias {
    /// The function's name.
    #[serde(default)]
    pub function: String,
    /// The alias's name: a function name's characters, neither only digits (a version number)
    /// nor `$LATEST`.
    pub name: String,
    /// The version that takes the calls the routing does not send elsewhere.
    pub version: u64,
    /// A second version and the percentage of calls it takes (1–99); at most one entry.
    #[serde(default)]
    pub routing: BTreeMap<u64, u8>,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// When the alias was made (RFC 3339; set by the store).
    #[serde(default)]
    pub created_at: String,
    /// When it last changed (RFC 3339; set by the store).
    #[serde(default)]
    pub updated_at: String,
}

/// Why an alias was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AliasError {
    /// Not a name an alias can have.
    #[error(
        "invalid alias name '{0}': letters, digits, '-' or '_', starting with a letter or digit, not only digits (a version number) and not $LATEST"
    )]
    BadName(String),
    /// Version 0.
    #[error("invalid version 0: version numbers start at 1")]
    ZeroVersion,
    /// A weight outside 1–99 %.
    #[error("invalid weight {0}%: the second version takes more than 0 and less than 100 percent")]
    BadWeight(u64),
    /// The routing names the alias's own version.
    #[error("the weighted version {0} is the alias's own version: name another one")]
    SameVersion(u64),
    /// More than one weighted version.
    #[error("at most one weighted version (a canary) per alias")]
    TooManyWeights,
    /// `--weight` not written as `VERSION=PERCENT`.
    #[error("invalid weight '{0}': write VERSION=PERCENT, e.g. 4=10")]
    BadWeightText(String),
    /// The description is too long.
    #[error("description is too long: {0} characters, at most {MAX_ALIAS_DESCRIPTION}")]
    LongDescription(usize),
}

impl FunctionAlias {
    /// Checks everything that does not need the store (whether the versions exist does).
    pub fn validate(&self) -> Result<(), AliasError> {
        validate_alias_name(&self.name)?;
        if self.version == 0 {
            return Err(AliasError::ZeroVersion);
        }
        if self.routing.len() > 1 {
            return Err(AliasError::TooManyWeights);
        }
        for (&version, &percent) in &self.routing {
            if version == 0 {
                return Err(AliasError::ZeroVersion);
            }
            if version == self.version {
                return Err(AliasError::SameVersion(version));
            }
            if percent == 0 || percent >= 100 {
                return Err(AliasError::BadWeight(u64::from(percent)));
            }
        }
        let length = self.description.chars().count();
        if length > MAX_ALIAS_DESCRIPTION {
            return Err(AliasError::LongDescription(length));
        }
        Ok(())
    }

    /// Every version the alias points at: its own, then the weighted one.
    pub fn versions(&self) -> impl Iterator<Item = u64> + '_ {
        std::iter::once(self.version).chain(self.routing.keys().copied())
    }

    /// The version a call runs, given `roll`, uniform in `0..100`: the weighted version when
    /// `roll` is below its percentage, else the alias's own.
    pub fn pick(&self, roll: u8) -> u64 {
        let mut floor = 0u32;
        for (&version, &percent) in &self.routing {
            floor += u32::from(percent);
            if u32::from(roll) < floor {
                return version;
            }
        }
        self.version
    }
}

/// An alias's name: a function name's characters, but never one a qualifier reads otherwise
/// (only digits is a version number, `$LATEST` the newest).
pub fn validate_alias_name(name: &str) -> Result<(), AliasError> {
    let digits = !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit());
    if digits || name == LATEST || validate_name(name).is_err() {
        return Err(AliasError::BadName(crate::preview(name)));
    }
    Ok(())
}

/// `VERSION=PERCENT` (`4=10`), as `nova alias set --weight` takes it; the range is checked by
/// [`FunctionAlias::validate`].
pub fn parse_weight(text: &str) -> Result<(u64, u8), AliasError> {
    let bad = || AliasError::BadWeightText(text.to_string());
    let (version, percent) = text.split_once('=').ok_or_else(bad)?;
    let version: u64 = version.trim().parse().map_err(|_| bad())?;
    let percent = percent.trim().trim_end_matches('%');
    let percent: u64 = percent.parse().map_err(|_| bad())?;
    let percent = u8::try_from(percent).map_err(|_| AliasError::BadWeight(percent))?;
    Ok((version, percent))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alias(version: u64, routing: &[(u64, u8)]) -> FunctionAlias {
        FunctionAlias {
            function: "f".into(),
            name: "live".into(),
            version,
            routing: routing.iter().copied().collect(),
            description: String::new(),
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn names() {
        for good in ["live", "v2", "canary-1", "2x"] {
            assert_eq!(validate_alias_name(good), Ok(()), "{good}");
        }
        for bad in ["", "12", "$LATEST", "-a", "a b", "a:b", &"x".repeat(64)] {
            assert!(validate_alias_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn routing_is_checked() {
        assert_eq!(alias(3, &[(4, 10)]).validate(), Ok(()));
        assert_eq!(alias(3, &[]).validate(), Ok(()));
        assert_eq!(alias(0, &[]).validate(), Err(AliasError::ZeroVersion));
        assert_eq!(
            alias(3, &[(3, 10)]).validate(),
            Err(AliasError::SameVersion(3))
        );
        assert_eq!(
            alias(3, &[(4, 0)]).validate(),
            Err(AliasError::BadWeight(0))
        );
        assert_eq!(
            alias(3, &[(4, 100)]).validate(),
            Err(AliasError::BadWeight(100))
        );
        assert_eq!(
            alias(3, &[(4, 10), (5, 10)]).validate(),
            Err(AliasError::TooManyWeights)
        );
    }

    #[test]
    fn picking_follows_the_roll() {
        let canary = alias(3, &[(4, 10)]);
        let picks: Vec<u64> = (0..100).map(|roll| canary.pick(roll)).collect();
        assert_eq!(picks.iter().filter(|&&v| v == 4).count(), 10);
        assert_eq!(picks.iter().filter(|&&v| v == 3).count(), 90);
        assert!((0..100).all(|roll| alias(3, &[]).pick(roll) == 3));
    }

    #[test]
    fn weights_parse() {
        assert_eq!(parse_weight("4=10"), Ok((4, 10)));
        assert_eq!(parse_weight("4=10%"), Ok((4, 10)));
        assert_eq!(parse_weight("4=300"), Err(AliasError::BadWeight(300)));
        for bad in ["4", "=10", "x=10", "4=", "4=-1"] {
            assert!(
                matches!(parse_weight(bad), Err(AliasError::BadWeightText(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn json_shape() {
        let json = serde_json::to_value(alias(3, &[(4, 10)])).expect("json");
        assert_eq!(json["routing"], serde_json::json!({"4": 10}));
        let back: FunctionAlias =
            serde_json::from_str(r#"{"name":"live","version":3,"routing":{"4":10}}"#)
                .expect("parse");
        assert_eq!(back.routing, BTreeMap::from([(4, 10)]));
    }
}
