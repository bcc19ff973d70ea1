//! A simulated network of SSH devices on loopback, for the quick start, tests and benchmarks.
#![deny(missing_docs)]
