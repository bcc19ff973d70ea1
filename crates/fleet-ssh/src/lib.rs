//! Runs one device session: TCP, SSH handshake, host-key check, auth, commands, timings.
#![deny(missing_docs)]
