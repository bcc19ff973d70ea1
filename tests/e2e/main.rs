//! End-to-end tests: they drive the real `fleet` binary.
