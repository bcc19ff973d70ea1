//! Connection policy: protect the network while going fast.
//!
//! Enforced by the dispatcher when it hands out devices, never by sleeping
//! session threads: a rate limit for new sessions across all workers, caps
//! on concurrent sessions per inventory group, and retries with backoff per
//! failure class.

use fleet_proto::{Device, Status};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// The policy of a run; the default imposes nothing.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// New sessions per second, across all workers (`--connect-rate`).
    pub connect_rate: Option<f64>,
    /// Most concurrent sessions per group (`--max-per-group core=10`).
    pub group_caps: BTreeMap<String, usize>,
    /// Extra attempts per failure class (`--retry connect_failed=3`).
    pub retry: BTreeMap<Status, u32>,
    /// Backoff before the first retry; doubles per attempt.
    pub backoff_min: Duration,
    /// Longest backoff.
    pub backoff_max: Duration,
}

impl Policy {
    /// Whether a device that ended in `status` on attempt `attempt` (1-based,
    /// counting every attempt) gets another one.
    pub fn should_retry(&self, status: Status, attempt: u32) -> bool {
        self.retry
            .get(&status)
            .is_some_and(|&extra| attempt <= extra)
    }

    /// Exponential backoff with jitter for the retry after `attempt`:
    /// uniformly random in [d/2, d] where d = min * 2^(attempt-1), capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let base = self
            .backoff_min
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.backoff_max);
        let half = base / 2;
        half + base.mul_f64(rand::random::<f64>() * 0.5)
    }
}

/// A token bucket holding at most one token: no bursts, so over any
/// window of one second at most `rate` (+1) sessions start.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Instant,
}

impl RateLimiter {
    /// A limiter for `rate` new sessions per second.
    pub fn new(rate: f64) -> RateLimiter {
        RateLimiter {
            interval: Duration::from_secs_f64(1.0 / rate.max(1e-3)),
            next: Instant::now(),
        }
    }

    /// A limiter whose first token is available at `now` (for callers that
    /// pass their own clock).
    pub fn starting_at(rate: f64, now: Instant) -> RateLimiter {
        RateLimiter {
            next: now,
            ..RateLimiter::new(rate)
        }
    }

    /// Takes a token if one is available now.
    pub fn try_take(&mut self, now: Instant) -> bool {
        if now < self.next {
            return false;
        }
        // Count from now, never from the missed slot: no catching up, so
        // no two sessions start closer than one interval.
        self.next = now + self.interval;
        true
    }

    /// When the next token becomes available.
    pub fn next_token(&self) -> Instant {
        self.next
    }
}

/// Counts sessions per capped group; a device may start only if every capped
/// group it belongs to is below its cap.
#[derive(Debug, Default)]
pub struct GroupGate {
    caps: HashMap<String, usize>,
    active: HashMap<String, usize>,
}

impl GroupGate {
    /// A gate for these caps.
    pub fn new(caps: &BTreeMap<String, usize>) -> GroupGate {
        GroupGate {
            caps: caps.iter().map(|(g, n)| (g.clone(), *n)).collect(),
            active: HashMap::new(),
        }
    }

    /// Whether any cap is configured (the dispatcher skips the scan if not).
    pub fn is_active(&self) -> bool {
        !self.caps.is_empty()
    }

    /// Whether `device` may start now.
    pub fn admits(&self, device: &Device) -> bool {
        device.groups.iter().all(|g| match self.caps.get(g) {
            Some(&cap) => self.active.get(g).copied().unwrap_or(0) < cap,
            None => true,
        })
    }

    /// `device` was handed to a worker.
    pub fn enter(&mut self, device: &Device) {
        for g in &device.groups {
            if self.caps.contains_key(g) {
                *self.active.entry(g.clone()).or_default() += 1;
            }
        }
    }

    /// `device` finished or came back.
    pub fn leave(&mut self, device: &Device) {
        for g in &device.groups {
            if let Some(n) = self.active.get_mut(g) {
                *n = n.saturating_sub(1);
            }
        }
    }
}

/// Why a policy flag's value (`--connect-rate`, `--max-per-group`,
/// `--retry`, `--retry-backoff`) is invalid. The message names the flag
/// and the bad part; a parse failure keeps its cause as the source.
#[derive(Debug, thiserror::Error)]
pub enum PolicyParseError {
    /// `--connect-rate`: the number before `/` does not parse.
    #[error("invalid rate `{input}` (e.g. 50/s)")]
    RateNumber {
        /// The whole value.
        input: String,
        /// Why the number did not parse.
        #[source]
        source: std::num::ParseFloatError,
    },
    /// `--connect-rate`: the unit after `/` is not s, m or h.
    #[error("invalid rate unit `{unit}` (use /s, /m or /h)")]
    RateUnit {
        /// The unit given.
        unit: String,
    },
    /// `--connect-rate`: zero, negative or not finite.
    #[error("rate must be positive, got `{input}`")]
    RateNotPositive {
        /// The whole value.
        input: String,
    },
    /// `--max-per-group`: no `=`.
    #[error("--max-per-group expects GROUP=N, got `{spec}`")]
    GroupSpec {
        /// The part without `=`.
        spec: String,
    },
    /// `--max-per-group`: N is not a positive number.
    #[error("--max-per-group {group}: `{count}` is not a positive number")]
    GroupCount {
        /// The group.
        group: String,
        /// The count given.
        count: String,
        /// Why it did not parse (`None` for 0).
        #[source]
        source: Option<std::num::ParseIntError>,
    },
    /// `--retry`: no `=`.
    #[error("--retry expects CLASS=N, got `{spec}`")]
    RetrySpec {
        /// The part without `=`.
        spec: String,
    },
    /// `--retry`: not a status name.
    #[error("--retry: unknown class `{class}` (one of {})", Status::ALL.map(|s| s.as_str()).join(", "))]
    RetryClass {
        /// The class given.
        class: String,
    },
    /// `--retry`: `ok` or `cancelled`.
    #[error("--retry: `{class}` cannot be retried")]
    NotRetryable {
        /// The class given.
        class: String,
    },
    /// `--retry`: N is not a number.
    #[error("--retry {class}: `{count}` is not a number")]
    RetryCount {
        /// The class.
        class: String,
        /// The count given.
        count: String,
        /// Why it did not parse.
        #[source]
        source: std::num::ParseIntError,
    },
    /// `--retry-backoff`: no `..`.
    #[error("--retry-backoff expects MIN..MAX, got `{input}`")]
    BackoffSpec {
        /// The whole value.
        input: String,
    },
    /// `--retry-backoff`: a bound is not a duration.
    #[error("--retry-backoff {input}: bad bound")]
    BackoffBound {
        /// The whole value.
        input: String,
        /// Why the bound did not parse.
        #[source]
        source: fleet_proto::duration::DurationError,
    },
    /// `--retry-backoff`: MIN is more than MAX.
    #[error("--retry-backoff: {min} is more than {max}")]
    BackoffOrder {
        /// MIN as given.
        min: String,
        /// MAX as given.
        max: String,
    },
}

/// Parses `--max-per-group core=10` (repeatable, or comma-separated).
pub fn parse_group_caps(specs: &[String]) -> Result<BTreeMap<String, usize>, PolicyParseError> {
    let mut caps = BTreeMap::new();
    for spec in specs.iter().flat_map(|s| s.split(',')) {
        let (g, n) = spec
            .split_once('=')
            .ok_or_else(|| PolicyParseError::GroupSpec { spec: spec.into() })?;
        let bad = |source| PolicyParseError::GroupCount {
            group: g.into(),
            count: n.into(),
            source,
        };
        let n: usize = n.trim().parse().map_err(|e| bad(Some(e)))?;
        if n == 0 {
            return Err(bad(None));
        }
        caps.insert(g.trim().to_string(), n);
    }
    Ok(caps)
}

/// Parses `--retry connect_failed=3,timeout=1`.
pub fn parse_retry(specs: &[String]) -> Result<BTreeMap<Status, u32>, PolicyParseError> {
    let mut map = BTreeMap::new();
    for spec in specs.iter().flat_map(|s| s.split(',')) {
        let (class, n) = spec
            .split_once('=')
            .ok_or_else(|| PolicyParseError::RetrySpec { spec: spec.into() })?;
        let status = Status::parse(class.trim()).ok_or_else(|| PolicyParseError::RetryClass {
            class: class.into(),
        })?;
        if matches!(status, Status::Ok | Status::Cancelled) {
            return Err(PolicyParseError::NotRetryable {
                class: class.into(),
            });
        }
        let n: u32 = n
            .trim()
            .parse()
            .map_err(|source| PolicyParseError::RetryCount {
                class: class.into(),
                count: n.into(),
                source,
            })?;
        map.insert(status, n);
    }
    Ok(map)
}

/// Parses `--connect-rate 50/s` (also `50`, `3000/m`).
pub fn parse_rate(s: &str) -> Result<f64, PolicyParseError> {
    let (n, per) = match s.split_once('/') {
        Some((n, unit)) => (n, unit),
        None => (s, "s"),
    };
    let n: f64 = n
        .trim()
        .parse()
        .map_err(|source| PolicyParseError::RateNumber {
            input: s.into(),
            source,
        })?;
    let secs = match per.trim() {
        "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => return Err(PolicyParseError::RateUnit { unit: other.into() }),
    };
    if n <= 0.0 || !n.is_finite() {
        return Err(PolicyParseError::RateNotPositive { input: s.into() });
    }
    Ok(n / secs)
}

/// Parses `--retry-backoff 1s..30s`.
pub fn parse_backoff(s: &str) -> Result<(Duration, Duration), PolicyParseError> {
    let (a, b) = s
        .split_once("..")
        .ok_or_else(|| PolicyParseError::BackoffSpec { input: s.into() })?;
    let p = |x: &str| {
        fleet_proto::duration::parse_duration(x).map_err(|source| PolicyParseError::BackoffBound {
            input: s.into(),
            source,
        })
    };
    let (min, max) = (p(a)?, p(b)?);
    if min > max {
        return Err(PolicyParseError::BackoffOrder {
            min: a.into(),
            max: b.into(),
        });
    }
    Ok((min, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limiter_allows_no_burst() {
        let mut r = RateLimiter::new(10.0);
        let t0 = Instant::now() + Duration::from_secs(5);
        assert!(r.try_take(t0));
        assert!(!r.try_take(t0));
        assert!(!r.try_take(t0 + Duration::from_millis(50)));
        assert!(r.try_take(t0 + Duration::from_millis(100)));
        // A long idle period banks at most one token.
        let later = t0 + Duration::from_secs(10);
        assert!(r.try_take(later));
        assert!(!r.try_take(later));
    }

    #[test]
    fn group_gate_caps_each_group() {
        let caps = parse_group_caps(&["core=2".into()]).unwrap();
        let mut g = GroupGate::new(&caps);
        let mut d = Device::new("r1", "h", 22);
        d.groups = vec!["core".into(), "ams".into()];
        let free = Device::new("s1", "h", 22);
        assert!(g.admits(&d));
        g.enter(&d);
        g.enter(&d);
        assert!(!g.admits(&d));
        assert!(g.admits(&free));
        g.leave(&d);
        assert!(g.admits(&d));
    }

    #[test]
    fn parse_errors_name_the_flag_and_keep_the_cause() {
        use fleet_proto::chain::Chain;
        let e = parse_retry(&["timeout=x".into()]).unwrap_err();
        assert!(matches!(e, PolicyParseError::RetryCount { .. }));
        assert_eq!(
            Chain(&e).to_string(),
            "--retry timeout: `x` is not a number: invalid digit found in string"
        );
        let e = parse_backoff("1x..3s").unwrap_err();
        let text = Chain(&e).to_string();
        assert!(
            text.starts_with("--retry-backoff 1x..3s: bad bound: invalid duration `1x`"),
            "{text}"
        );
        let e = parse_group_caps(&["core=0".into()]).unwrap_err();
        assert!(std::error::Error::source(&e).is_none());
        assert_eq!(
            e.to_string(),
            "--max-per-group core: `0` is not a positive number"
        );
        let e = parse_rate("5/d").unwrap_err();
        assert_eq!(e.to_string(), "invalid rate unit `d` (use /s, /m or /h)");
    }

    #[test]
    fn parsers() {
        assert_eq!(parse_rate("50/s").unwrap(), 50.0);
        assert_eq!(parse_rate("120/m").unwrap(), 2.0);
        assert!(parse_rate("fast").is_err());
        let r = parse_retry(&["connect_failed=3,timeout=1".into()]).unwrap();
        assert_eq!(r[&Status::ConnectFailed], 3);
        assert!(parse_retry(&["ok=1".into()]).is_err());
        assert!(parse_retry(&["nope=1".into()]).is_err());
        let (a, b) = parse_backoff("1s..30s").unwrap();
        assert_eq!((a.as_secs(), b.as_secs()), (1, 30));
        // The one duration rule: a bare number is seconds, as in inventories.
        let (a, b) = parse_backoff("0..30").unwrap();
        assert_eq!((a.as_secs(), b.as_secs()), (0, 30));
        assert!(parse_group_caps(&["core".into()]).is_err());
    }

    #[test]
    fn retry_counts_attempts_and_backoff_is_bounded() {
        let p = Policy {
            retry: parse_retry(&["timeout=2".into()]).unwrap(),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_millis(300),
            ..Policy::default()
        };
        assert!(p.should_retry(Status::Timeout, 1));
        assert!(p.should_retry(Status::Timeout, 2));
        assert!(!p.should_retry(Status::Timeout, 3));
        assert!(!p.should_retry(Status::AuthFailed, 1));
        for attempt in 1..10 {
            let b = p.backoff(attempt);
            assert!(b >= Duration::from_millis(50) && b <= Duration::from_millis(300));
        }
    }
}
