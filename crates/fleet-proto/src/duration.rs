//! The one duration syntax of fleet, shared by command-line flags, every
//! inventory format and run policies, so `30`, `30s` and `0` mean the same
//! thing wherever a user types them.
//!
//! The rule:
//! - a bare non-negative integer is a number of seconds (`30` = 30 s);
//! - anything else is humantime syntax (`250ms`, `5s`, `1m30s`, `1m 30s`, `2h`);
//! - [`parse_duration`] accepts zero (a grace period or latency of `0s` is
//!   meaningful); [`parse_timeout`] refuses it, because a timeout of zero
//!   would fail every session at once.
//!
//! ```
//! use fleet_proto::duration::{parse_duration, parse_timeout};
//! use std::time::Duration;
//! assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
//! assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
//! assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
//! assert!(parse_timeout("0s").is_err());
//! ```

use std::fmt;
use std::time::Duration;

/// A duration that does not follow the rule in the module doc; `Display`
/// says what was written and gives examples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationError {
    /// The text as written.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid duration `{}`: {} (examples: 30, 5s, 1m30s, 250ms)",
            self.input, self.reason
        )
    }
}

impl std::error::Error for DurationError {}

/// Parses a duration by the rule in the module doc; zero is allowed.
pub fn parse_duration(raw: &str) -> Result<Duration, DurationError> {
    let t = raw.trim();
    let err = |reason: String| DurationError {
        input: raw.to_owned(),
        reason,
    };
    if t.is_empty() {
        return Err(err("empty".to_owned()));
    }
    if t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| err("too large".to_owned()));
    }
    humantime::parse_duration(t).map_err(|e| err(e.to_string()))
}

/// Parses a timeout: a duration by the same rule that must be greater than zero.
pub fn parse_timeout(raw: &str) -> Result<Duration, DurationError> {
    let d = parse_duration(raw)?;
    if d.is_zero() {
        return Err(DurationError {
            input: raw.to_owned(),
            reason: "a timeout must be greater than zero".to_owned(),
        });
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_numbers_are_seconds() {
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration(" 7 ").unwrap(), Duration::from_secs(7));
        assert_eq!(parse_timeout("30").unwrap(), Duration::from_secs(30));
    }

    #[test]
    fn humantime_forms() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1m 30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
    }

    #[test]
    fn zero_is_a_duration_but_not_a_timeout() {
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        let e = parse_timeout("0").unwrap_err();
        assert!(e.to_string().contains("greater than zero"), "{e}");
        assert!(parse_timeout("0ms").is_err());
    }

    #[test]
    fn garbage_is_refused_with_examples() {
        for bad in [
            "",
            "soon",
            "5 parsecs",
            "-1",
            "1.5.2s",
            "99999999999999999999999",
        ] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.to_string().contains("examples: 30, 5s"), "{bad}: {e}");
        }
    }
}
