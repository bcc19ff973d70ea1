//! What can be wrong with shard flags or their environment.

/// A `--shard` or `--shard-by` value that cannot be used; nothing runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// `--shard` is not `K/N` or `auto/N`.
    #[error("invalid --shard `{value}`: {why} (expected K/N with 1 <= K <= N, or auto/N)")]
    Spec {
        /// The value as given.
        value: String,
        /// What is wrong with it.
        why: String,
    },
    /// `--shard auto/N` outside a job array.
    #[error(
        "--shard auto/{n}: no shard index in the environment \
         (set by Slurm as SLURM_ARRAY_TASK_ID, by a Kubernetes Indexed Job as JOB_COMPLETION_INDEX)"
    )]
    NoIndex {
        /// The shard count asked for.
        n: u32,
    },
    /// The environment names a shard, but not one that fits `auto/N`.
    #[error("--shard auto/{n}: {var}={value}: {why}")]
    BadIndex {
        /// The shard count asked for.
        n: u32,
        /// The variable that was read.
        var: &'static str,
        /// Its value.
        value: String,
        /// Why it does not fit.
        why: String,
    },
    /// `--shard-by` is not a known key.
    #[error("invalid --shard-by `{value}`: {why} (expected name, host, platform, group:GLOB or data.KEY)")]
    Key {
        /// The value as given.
        value: String,
        /// What is wrong with it.
        why: String,
    },
}
