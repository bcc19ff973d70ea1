//! Layouts as people write them: `4x50` (P processes × T threads), `0x50`
//! (T threads inside the master), `2x8@64` (with batch size 64), `auto`
//! (`fleet run -p auto -t auto`: fleet chooses and adjusts P×T itself), and
//! `bare(200)`: the yardstick, a plain ssh2 thread pool of 200 threads.
//!
//! A sweep mixes kinds; each kind is one variant of [`Layout`] with its own
//! runner, and every `match` on the kind points at what a new one must
//! define. `auto` is a `fleet run` layout whose P×T fleet picks.

use crate::error::BenchError;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// What one entry of `--layouts` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `fleet run -p P -t T [--batch-size B]`.
    Fleet(FleetLayout),
    /// The bare ssh2 thread pool ([`crate::bare`]): connect, auth, exec,
    /// read, nothing else.
    Bare(BareLayout),
}

/// The kind of a layout, as bench.json names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LayoutKind {
    /// `fleet run`.
    Fleet,
    /// The bare pool.
    Bare,
}

impl LayoutKind {
    /// The name bench.json and bench.csv use.
    pub fn as_str(self) -> &'static str {
        match self {
            LayoutKind::Fleet => "fleet",
            LayoutKind::Bare => "bare",
        }
    }
}

/// One P×T layout of `fleet run`, optionally with a batch size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FleetLayout {
    /// Worker processes (0: threads inside the master).
    pub p: u32,
    /// Threads per worker.
    pub t: u32,
    /// Devices per batch; `None` leaves fleet's default.
    pub batch: Option<u32>,
    /// `auto`: `-p auto -t auto` (then `p` and `t` are 0: fleet decides
    /// during the run, see the run's `layout.auto` in run.json).
    pub auto: bool,
}

/// The bare pool's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BareLayout {
    /// Threads, each running one session at a time.
    pub threads: u32,
}

impl FleetLayout {
    /// Sessions that can run at once: P×T (T for `-p 0`); 0 for `auto`,
    /// which decides during the run.
    pub fn slots(&self) -> u64 {
        if self.auto {
            return 0;
        }
        u64::from(self.p.max(1)) * u64::from(self.t)
    }

    /// The `-p` and `-t` values for `fleet run`.
    pub fn run_args(&self) -> [String; 4] {
        let (p, t) = if self.auto {
            ("auto".to_string(), "auto".to_string())
        } else {
            (self.p.to_string(), self.t.to_string())
        };
        ["-p".into(), p, "-t".into(), t]
    }
}

impl Layout {
    /// Sessions that can run at once.
    pub fn slots(&self) -> u64 {
        match self {
            Layout::Fleet(f) => f.slots(),
            Layout::Bare(b) => u64::from(b.threads),
        }
    }

    /// Whether this is plain sequential execution (one session at a time).
    pub fn is_sequential(&self) -> bool {
        self.slots() == 1
    }

    /// The kind, for bench.json.
    pub fn kind(&self) -> LayoutKind {
        match self {
            Layout::Fleet(_) => LayoutKind::Fleet,
            Layout::Bare(_) => LayoutKind::Bare,
        }
    }

    /// The `fleet run` layout, if this is one.
    pub fn fleet(&self) -> Option<FleetLayout> {
        match self {
            Layout::Fleet(f) => Some(*f),
            Layout::Bare(_) => None,
        }
    }

    /// A form safe as a directory name (`2x8-b64`, `bare-200`).
    pub fn dir_name(&self) -> String {
        match self {
            Layout::Fleet(f) => f.to_string().replace('@', "-b"),
            Layout::Bare(b) => format!("bare-{}", b.threads),
        }
    }

    /// Parses a comma-separated list (`1x1,0x50,4x50,bare(50)`).
    pub fn parse_list(s: &str) -> Result<Vec<Layout>, BenchError> {
        let layouts: Vec<Layout> = s
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        if layouts.is_empty() {
            return Err(BenchError::Layout {
                layout: s.to_string(),
                message: "no layout given".into(),
            });
        }
        Ok(layouts)
    }
}

impl fmt::Display for FleetLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.auto {
            f.write_str("auto")?;
        } else {
            write!(f, "{}x{}", self.p, self.t)?;
        }
        if let Some(b) = self.batch {
            write!(f, "@{b}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Layout::Fleet(l) => l.fmt(f),
            Layout::Bare(b) => write!(f, "bare({})", b.threads),
        }
    }
}

impl FromStr for FleetLayout {
    type Err = BenchError;

    fn from_str(s: &str) -> Result<FleetLayout, BenchError> {
        let bad = |message: &str| BenchError::Layout {
            layout: s.to_string(),
            message: message.to_string(),
        };
        let (pt, batch) = match s.split_once('@') {
            Some((pt, b)) => (pt, Some(b)),
            None => (s, None),
        };
        let auto = pt.trim().eq_ignore_ascii_case("auto");
        let (p, t) = if auto {
            (0, 0)
        } else {
            let (p, t) = pt
                .split_once(['x', 'X'])
                .ok_or_else(|| bad("expected PxT (e.g. 4x50), auto or bare(N)"))?;
            let p: u32 = p.trim().parse().map_err(|_| bad("P is not a number"))?;
            let t: u32 = t.trim().parse().map_err(|_| bad("T is not a number"))?;
            if t == 0 {
                return Err(bad("T must be at least 1"));
            }
            (p, t)
        };
        let batch = batch
            .map(|b| b.trim().parse::<u32>())
            .transpose()
            .map_err(|_| bad("batch size after @ is not a number"))?;
        if batch == Some(0) {
            return Err(bad("batch size must be at least 1"));
        }
        Ok(FleetLayout { p, t, batch, auto })
    }
}

impl FromStr for Layout {
    type Err = BenchError;

    /// `PxT[@B]`, or `bare(N)` (also `bare:N`, which needs no shell quoting).
    fn from_str(s: &str) -> Result<Layout, BenchError> {
        let Some(rest) = s.strip_prefix("bare") else {
            return s.parse().map(Layout::Fleet);
        };
        let bad = |message: &str| BenchError::Layout {
            layout: s.to_string(),
            message: message.to_string(),
        };
        let n = if let Some(inner) = rest.strip_prefix('(') {
            inner
                .strip_suffix(')')
                .ok_or_else(|| bad("expected bare(N), e.g. bare(100)"))?
        } else if let Some(n) = rest.strip_prefix(':') {
            n
        } else {
            return Err(bad("expected bare(N) or bare:N, e.g. bare(100)"));
        };
        let threads: u32 = n
            .trim()
            .parse()
            .map_err(|_| bad("the bare pool's thread count is not a number"))?;
        if threads == 0 {
            return Err(bad("the bare pool needs at least 1 thread"));
        }
        Ok(Layout::Bare(BareLayout { threads }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_layouts_and_batches() {
        let l = Layout::parse_list("1x1, 0x50,4x50,2x8@64").unwrap();
        assert_eq!(l.len(), 4);
        assert!(l[0].is_sequential());
        assert_eq!(l[1].slots(), 50);
        assert_eq!(l[2].slots(), 200);
        assert_eq!(l[3].fleet().unwrap().batch, Some(64));
        assert_eq!(l[3].to_string(), "2x8@64");
        assert_eq!(l[3].dir_name(), "2x8-b64");
        assert_eq!(l[3].kind(), LayoutKind::Fleet);
    }

    #[test]
    fn parses_the_bare_pool() {
        let l = Layout::parse_list("bare(200),bare:8,0x100").unwrap();
        assert_eq!(l[0], Layout::Bare(BareLayout { threads: 200 }));
        assert_eq!(l[0].to_string(), "bare(200)");
        assert_eq!(l[0].slots(), 200);
        assert_eq!(l[0].kind(), LayoutKind::Bare);
        assert_eq!(l[0].dir_name(), "bare-200");
        assert!(l[0].fleet().is_none());
        assert_eq!(l[1].slots(), 8);
        // Round trip: what is printed parses back to the same layout.
        assert_eq!(l[0].to_string().parse::<Layout>().unwrap(), l[0]);
    }

    #[test]
    fn auto_is_a_layout_fleet_chooses() {
        let l = Layout::parse_list("auto,2x8,AUTO@32").unwrap();
        let f: Vec<FleetLayout> = l.iter().map(|l| l.fleet().unwrap()).collect();
        assert!(f[0].auto && !f[1].auto && f[2].auto);
        assert_eq!(l[0].to_string(), "auto");
        assert_eq!(l[2].to_string(), "auto@32");
        assert_eq!(l[0].slots(), 0);
        assert!(!l[0].is_sequential());
        assert_eq!(f[0].run_args(), ["-p", "auto", "-t", "auto"]);
        assert_eq!(f[1].run_args(), ["-p", "2", "-t", "8"]);
    }

    #[test]
    fn rejects_nonsense() {
        for bad in [
            "", "4", "4x", "x4", "4x0", "ax2", "2x8@", "2x8@0", "bare", "bare()", "bare(0)",
            "bare(x)", "bare(4", "bare4", "bare:", "autox2", "auto@0",
        ] {
            assert!(Layout::parse_list(bad).is_err(), "{bad}");
        }
    }
}
