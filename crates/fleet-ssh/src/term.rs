//! A terminal over an SSH channel, for shell mode.
