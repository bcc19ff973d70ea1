//! The thread pool inside a worker process, and its IPC link to the master.
#![deny(missing_docs)]
