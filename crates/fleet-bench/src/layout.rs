//! Layouts as people write them: `4x50` (P processes × T threads), `0x50`
//! (T threads inside the master), `2x8@64` (with batch size 64), `auto`
//! (`fleet run -p auto -t auto`: fleet chooses and adjusts P×T itself).

use crate::error::BenchError;
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// One P×T layout, optionally with a batch size for `fleet run --batch-size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Layout {
    /// Worker processes (0: threads inside the master).
    pub p: u32,
    /// Threads per worker.
    pub t: u32,
    /// Devices per batch; `None` leaves fleet's default (T/2).
    pub batch: Option<u32>,
    /// `auto`: `-p auto -t auto` (then `p` and `t` are 0: fleet decides
    /// during the run, see the run's `layout.auto` in run.json).
    pub auto: bool,
}

impl Layout {
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

    /// Whether this is plain sequential execution (one session at a time).
    pub fn is_sequential(&self) -> bool {
        self.slots() == 1
    }

    /// Parses a comma-separated list (`1x1,0x50,4x50`).
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

impl fmt::Display for Layout {
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

impl FromStr for Layout {
    type Err = BenchError;

    fn from_str(s: &str) -> Result<Layout, BenchError> {
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
                .ok_or_else(|| bad("expected PxT (e.g. 4x50) or auto"))?;
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
        Ok(Layout { p, t, batch, auto })
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
        assert_eq!(l[3].batch, Some(64));
        assert_eq!(l[3].to_string(), "2x8@64");
    }

    #[test]
    fn auto_is_a_layout_fleet_chooses() {
        let l = Layout::parse_list("auto,2x8,AUTO@32").unwrap();
        assert!(l[0].auto && !l[1].auto && l[2].auto);
        assert_eq!(l[0].to_string(), "auto");
        assert_eq!(l[2].to_string(), "auto@32");
        assert_eq!(l[0].slots(), 0);
        assert!(!l[0].is_sequential());
        assert_eq!(l[0].run_args(), ["-p", "auto", "-t", "auto"]);
        assert_eq!(l[1].run_args(), ["-p", "2", "-t", "8"]);
    }

    #[test]
    fn rejects_nonsense() {
        for bad in [
            "", "4", "4x", "x4", "4x0", "ax2", "2x8@", "2x8@0", "autox2", "auto@0",
        ] {
            assert!(Layout::parse_list(bad).is_err(), "{bad}");
        }
    }
}
