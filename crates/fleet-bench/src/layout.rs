//! Layouts as people write them: `4x50` (P processes × T threads), `0x50`
//! (T threads inside the master), `2x8@64` (with batch size 64).

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
}

impl Layout {
    /// Sessions that can run at once: P×T (T for `-p 0`).
    pub fn slots(&self) -> u64 {
        u64::from(self.p.max(1)) * u64::from(self.t)
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
        write!(f, "{}x{}", self.p, self.t)?;
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
        let (p, t) = pt
            .split_once(['x', 'X'])
            .ok_or_else(|| bad("expected PxT, e.g. 4x50"))?;
        let p: u32 = p.trim().parse().map_err(|_| bad("P is not a number"))?;
        let t: u32 = t.trim().parse().map_err(|_| bad("T is not a number"))?;
        if t == 0 {
            return Err(bad("T must be at least 1"));
        }
        let batch = batch
            .map(|b| b.trim().parse::<u32>())
            .transpose()
            .map_err(|_| bad("batch size after @ is not a number"))?;
        if batch == Some(0) {
            return Err(bad("batch size must be at least 1"));
        }
        Ok(Layout { p, t, batch })
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
    fn rejects_nonsense() {
        for bad in ["", "4", "4x", "x4", "4x0", "ax2", "2x8@", "2x8@0"] {
            assert!(Layout::parse_list(bad).is_err(), "{bad}");
        }
    }
}
