//! Spawns and supervises workers, dispatches batches, and writes results, logs and traces.
#![deny(missing_docs)]
