//! Time limits of one session: the whole-session deadline and the limits of
//! each phase, and which one is binding when something times out.

use crate::error::Failure;
use fleet_proto::{Status, Timeouts};
use std::time::{Duration, Instant};

/// The limits in force for one session, from its start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    pub start: Instant,
    pub timeouts: Timeouts,
}

/// A deadline for one step and the human name of the limit that set it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limit {
    pub end: Option<Instant>,
    pub what: &'static str,
    pub value: Option<Duration>,
}

impl Budget {
    pub fn new(timeouts: Timeouts) -> Self {
        Budget {
            start: Instant::now(),
            timeouts,
        }
    }

    fn session_end(&self) -> Option<Instant> {
        self.timeouts.session.map(|d| self.start + d)
    }

    /// The deadline of a step limited by `step` (from now) and the session.
    pub fn limit(&self, step: Option<Duration>, step_name: &'static str) -> Limit {
        let now = Instant::now();
        let step_end = step.map(|d| now + d);
        match (step_end, self.session_end()) {
            (Some(s), Some(e)) if e < s => self.session_limit(),
            (None, Some(_)) => self.session_limit(),
            (Some(s), _) => Limit {
                end: Some(s),
                what: step_name,
                value: step,
            },
            (None, None) => Limit {
                end: None,
                what: step_name,
                value: None,
            },
        }
    }

    fn session_limit(&self) -> Limit {
        Limit {
            end: self.session_end(),
            what: "session",
            value: self.timeouts.session,
        }
    }

    /// The limit for the next command-like step (handshake, auth, command).
    pub fn command(&self) -> Limit {
        self.limit(self.timeouts.command, "command")
    }

    /// The limit for the TCP connect.
    pub fn connect(&self) -> Limit {
        self.limit(self.timeouts.connect, "connect")
    }

    /// Milliseconds since the session started, fractional.
    pub fn elapsed_ms(&self) -> f64 {
        ms(self.start.elapsed())
    }
}

impl Limit {
    /// Time left, or a Timeout failure naming `during` if none is.
    pub fn remaining(&self, during: &str) -> Result<Option<Duration>, Failure> {
        match self.end {
            None => Ok(None),
            Some(end) => {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    Err(self.expired(during))
                } else {
                    Ok(Some(left))
                }
            }
        }
    }

    /// The value for libssh2's `set_timeout` (0 disables it).
    pub fn libssh2_ms(&self, during: &str) -> Result<u32, Failure> {
        Ok(match self.remaining(during)? {
            None => 0,
            Some(left) => u32::try_from(left.as_millis()).unwrap_or(u32::MAX).max(1),
        })
    }

    /// The failure for this limit running out during `during`.
    pub fn expired(&self, during: &str) -> Failure {
        let value = self
            .value
            .map(|v| format!(" ({})", human(v)))
            .unwrap_or_default();
        Failure::new(
            Status::Timeout,
            format!("{} time limit{value} reached during {during}", self.what),
        )
    }
}

/// Milliseconds of a duration, fractional with microsecond precision.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

/// A short human duration like `1.5s` or `200ms`.
pub(crate) fn human(d: Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}
