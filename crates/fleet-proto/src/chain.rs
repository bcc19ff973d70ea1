//! An error with its causes on one line, for log lines and messages that
//! are not printed through anyhow (`{:#}` does the same at the binary edge).
//!
//! Library errors keep their cause as a `#[source]` instead of pasting it
//! into their own message, so a caller that logs only `{e}` would lose it:
//! log `Chain(&e)` instead.
//!
//! ```
//! use fleet_proto::chain::Chain;
//! #[derive(Debug, thiserror::Error)]
//! #[error("failed to read known_hosts")]
//! struct E(#[source] std::io::Error);
//! let e = E(std::io::Error::other("permission denied"));
//! assert_eq!(Chain(&e).to_string(), "failed to read known_hosts: permission denied");
//! ```

use std::error::Error;
use std::fmt;

/// Displays an error followed by each of its sources, `": "`-separated.
pub struct Chain<'a>(pub &'a (dyn Error + 'a));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(s) = source {
            write!(f, ": {s}")?;
            source = s.source();
        }
        Ok(())
    }
}

impl fmt::Debug for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
