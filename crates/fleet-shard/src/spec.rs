//! `--shard K/N` and `--shard auto/N`.

use crate::error::ShardError;
use std::fmt;
use std::str::FromStr;

/// One shard of N: `k` is 1-based, like `split -n K/N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    k: u32,
    n: u32,
}

impl Shard {
    /// Shard `k` of `n`; `None` unless `1 <= k <= n`.
    pub fn new(k: u32, n: u32) -> Option<Shard> {
        (k >= 1 && k <= n).then_some(Shard { k, n })
    }

    /// The 1-based index.
    pub fn k(self) -> u32 {
        self.k
    }

    /// The number of shards.
    pub fn n(self) -> u32 {
        self.n
    }

    /// The 0-based index (what [`crate::assign`] returns).
    pub fn index(self) -> usize {
        (self.k - 1) as usize
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

/// The `--shard` flag as written: a fixed shard, or one to read from the
/// job engine's environment when the run starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardSpec {
    /// `K/N`.
    Fixed(Shard),
    /// `auto/N`: K from `SLURM_ARRAY_TASK_ID` or `JOB_COMPLETION_INDEX`.
    Auto {
        /// The number of shards.
        n: u32,
    },
}

impl FromStr for ShardSpec {
    type Err = ShardError;

    fn from_str(value: &str) -> Result<ShardSpec, ShardError> {
        let err = |why: &str| ShardError::Spec {
            value: value.to_string(),
            why: why.to_string(),
        };
        let (k, n) = value.split_once('/').ok_or_else(|| err("no `/`"))?;
        let n: u32 = n
            .trim()
            .parse()
            .map_err(|_| err("N is not a whole number"))?;
        if n == 0 {
            return Err(err("N must be at least 1"));
        }
        if k.trim() == "auto" {
            return Ok(ShardSpec::Auto { n });
        }
        let k: u32 = k
            .trim()
            .parse()
            .map_err(|_| err("K is not a whole number or `auto`"))?;
        Shard::new(k, n)
            .map(ShardSpec::Fixed)
            .ok_or_else(|| err("K must be between 1 and N"))
    }
}

impl ShardSpec {
    /// The shard this process runs. `env` looks up an environment variable
    /// (`|v| std::env::var(v).ok()` in the binary; a map in tests).
    ///
    /// Slurm: `K = (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN) /
    /// SLURM_ARRAY_TASK_STEP + 1` (min 0 and step 1 when unset), and
    /// `SLURM_ARRAY_TASK_COUNT`, when set, must equal N, so `--array=1-4`
    /// with `auto/4` and `--array=0-3` both work. Kubernetes:
    /// `K = JOB_COMPLETION_INDEX + 1`. Slurm wins when both are set.
    pub fn resolve(self, env: impl Fn(&str) -> Option<String>) -> Result<Shard, ShardError> {
        let n = match self {
            ShardSpec::Fixed(s) => return Ok(s),
            ShardSpec::Auto { n } => n,
        };
        let num = |var: &'static str| -> Result<Option<u64>, ShardError> {
            match env(var) {
                None => Ok(None),
                Some(v) if v.trim().is_empty() => Ok(None),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .map(Some)
                    .map_err(|_| ShardError::BadIndex {
                        n,
                        var,
                        value: v.clone(),
                        why: "not a whole number".into(),
                    }),
            }
        };
        let bad = |var: &'static str, value: u64, why: String| ShardError::BadIndex {
            n,
            var,
            value: value.to_string(),
            why,
        };
        if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
            let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let step = num("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1).max(1);
            if let Some(count) = num("SLURM_ARRAY_TASK_COUNT")? {
                if count != u64::from(n) {
                    return Err(bad(
                        "SLURM_ARRAY_TASK_COUNT",
                        count,
                        format!("the array has {count} tasks but --shard asks for {n} shards"),
                    ));
                }
            }
            if id < min || (id - min) % step != 0 {
                return Err(bad(
                    "SLURM_ARRAY_TASK_ID",
                    id,
                    format!("not in the array starting at {min} with step {step}"),
                ));
            }
            let k = (id - min) / step + 1;
            return u32::try_from(k)
                .ok()
                .and_then(|k| Shard::new(k, n))
                .ok_or_else(|| {
                    bad(
                        "SLURM_ARRAY_TASK_ID",
                        id,
                        format!("task {k} of an array of more than {n} tasks"),
                    )
                });
        }
        if let Some(index) = num("JOB_COMPLETION_INDEX")? {
            return u32::try_from(index + 1)
                .ok()
                .and_then(|k| Shard::new(k, n))
                .ok_or_else(|| {
                    bad(
                        "JOB_COMPLETION_INDEX",
                        index,
                        format!("index {index} is not below {n} (completions must equal N)"),
                    )
                });
        }
        Err(ShardError::NoIndex { n })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn parses_fixed_and_auto() {
        assert_eq!(
            "2/3".parse::<ShardSpec>().unwrap(),
            ShardSpec::Fixed(Shard::new(2, 3).unwrap())
        );
        assert_eq!(
            "auto/4".parse::<ShardSpec>().unwrap(),
            ShardSpec::Auto { n: 4 }
        );
        assert_eq!(Shard::new(1, 1).unwrap().to_string(), "1/1");
    }

    #[test]
    fn rejects_out_of_range_and_garbage() {
        for bad in ["0/3", "4/3", "1/0", "3", "a/3", "1/b", "", "/", "-1/3"] {
            let e = bad.parse::<ShardSpec>().unwrap_err();
            assert!(e.to_string().contains(&format!("`{bad}`")), "{bad}: {e}");
        }
    }

    #[test]
    fn fixed_ignores_the_environment() {
        let s = Shard::new(2, 3).unwrap();
        let got = ShardSpec::Fixed(s)
            .resolve(env(&[("SLURM_ARRAY_TASK_ID", "1")]))
            .unwrap();
        assert_eq!(got, s);
    }

    #[test]
    fn slurm_one_based_and_zero_based_arrays() {
        let auto = ShardSpec::Auto { n: 4 };
        for (id, min, k) in [("1", "1", 1), ("4", "1", 4), ("0", "0", 1), ("3", "0", 4)] {
            let got = auto
                .resolve(env(&[
                    ("SLURM_ARRAY_TASK_ID", id),
                    ("SLURM_ARRAY_TASK_MIN", min),
                    ("SLURM_ARRAY_TASK_COUNT", "4"),
                ]))
                .unwrap();
            assert_eq!(got, Shard::new(k, 4).unwrap(), "id {id} min {min}");
        }
        // A stepped array: 10, 12, 14.
        let got = ShardSpec::Auto { n: 3 }
            .resolve(env(&[
                ("SLURM_ARRAY_TASK_ID", "14"),
                ("SLURM_ARRAY_TASK_MIN", "10"),
                ("SLURM_ARRAY_TASK_STEP", "2"),
            ]))
            .unwrap();
        assert_eq!(got, Shard::new(3, 3).unwrap());
    }

    #[test]
    fn slurm_count_must_match_n() {
        let e = ShardSpec::Auto { n: 3 }
            .resolve(env(&[
                ("SLURM_ARRAY_TASK_ID", "1"),
                ("SLURM_ARRAY_TASK_MIN", "1"),
                ("SLURM_ARRAY_TASK_COUNT", "4"),
            ]))
            .unwrap_err();
        assert!(
            e.to_string().contains("4 tasks but --shard asks for 3"),
            "{e}"
        );
        let e = ShardSpec::Auto { n: 3 }
            .resolve(env(&[
                ("SLURM_ARRAY_TASK_ID", "7"),
                ("SLURM_ARRAY_TASK_MIN", "1"),
            ]))
            .unwrap_err();
        assert!(
            matches!(
                e,
                ShardError::BadIndex {
                    var: "SLURM_ARRAY_TASK_ID",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn kubernetes_index_is_zero_based() {
        let auto = ShardSpec::Auto { n: 3 };
        assert_eq!(
            auto.resolve(env(&[("JOB_COMPLETION_INDEX", "0")])).unwrap(),
            Shard::new(1, 3).unwrap()
        );
        assert_eq!(
            auto.resolve(env(&[("JOB_COMPLETION_INDEX", "2")])).unwrap(),
            Shard::new(3, 3).unwrap()
        );
        let e = auto
            .resolve(env(&[("JOB_COMPLETION_INDEX", "3")]))
            .unwrap_err();
        assert!(e.to_string().contains("not below 3"), "{e}");
        let e = auto
            .resolve(env(&[("JOB_COMPLETION_INDEX", "x")]))
            .unwrap_err();
        assert!(e.to_string().contains("not a whole number"), "{e}");
    }

    #[test]
    fn auto_without_an_index_is_an_error() {
        let e = ShardSpec::Auto { n: 2 }.resolve(env(&[])).unwrap_err();
        assert_eq!(e, ShardError::NoIndex { n: 2 });
        assert!(e.to_string().contains("SLURM_ARRAY_TASK_ID"));
        assert!(e.to_string().contains("JOB_COMPLETION_INDEX"));
    }
}
