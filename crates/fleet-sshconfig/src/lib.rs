//! The OpenSSH client configuration (`~/.ssh/config`, `ssh -F FILE`), read
//! as `ssh` reads it, so that hosts already described there work in fleet
//! without an inventory.
//!
//! - [`SshConfig::load`] parses a file and its `Include`s into blocks; bad
//!   values and unreadable files are errors with file:line; keywords fleet
//!   does not use are skipped with one debug line each.
//! - [`SshConfig::resolve`] evaluates `Host` and `Match` (`all`, `host`,
//!   `originalhost`, `user`, `localuser`) for one host, first value wins per
//!   keyword (`IdentityFile` accumulates), as `ssh -G` does.
//! - [`expand_tokens`] expands `~` and `%h %r %u %p %n %d %%` in paths.
//!
//! Checked against `ssh -G` (OpenSSH 9.2) in the tests.
#![deny(missing_docs)]

mod parse;
mod pattern;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use pattern::{match_list, match_patterns, wildcard};

/// Where a directive was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// Why a configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file (or an included one) could not be read.
    #[error("failed to read ssh config {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A malformed line.
    #[error("{at}: {message}")]
    Invalid {
        /// Where.
        at: Location,
        /// What is wrong.
        message: String,
    },
}

/// `StrictHostKeyChecking`, reduced to what a batch tool can do (`ask`
/// cannot ask, so it is `Yes`, as ssh in batch mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrictHostKeyChecking {
    /// `yes` or `ask`: unknown and changed keys fail.
    Yes,
    /// `accept-new`: unknown keys are stored, changed keys fail.
    AcceptNew,
    /// `no` / `off`: keys are not checked.
    No,
}

/// One `ProxyJump` hop, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    /// `user@`, if written.
    pub user: Option<String>,
    /// Host name or alias (resolved through the config again by the caller).
    pub host: String,
    /// `:port`, if written.
    pub port: Option<u16>,
}

/// One parsed setting (typed at parse time, so bad values fail early).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Setting {
    HostName(String),
    User(String),
    Port(u16),
    IdentityFile(String),
    IdentitiesOnly(bool),
    /// Empty: `ProxyJump none`.
    ProxyJump(Vec<Hop>),
    StrictHostKeyChecking(StrictHostKeyChecking),
    /// Empty: `UserKnownHostsFile none`.
    UserKnownHostsFile(Vec<String>),
    GlobalKnownHostsFile(Vec<String>),
    /// `None`: `ConnectTimeout none`.
    ConnectTimeout(Option<Duration>),
}

/// A `Match` criterion.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Criterion {
    All,
    /// (negated, attribute, pattern list)
    Host(bool, String),
    OriginalHost(bool, String),
    User(bool, String),
    LocalUser(bool, String),
    /// A criterion fleet cannot evaluate (`exec`, `canonical`, ...): never matches.
    Unsupported(String),
}

/// A condition opening a block.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cond {
    /// `Host` patterns (with `!`).
    Host(Vec<String>),
    /// `Match` criteria, all of which must hold.
    Match(Vec<Criterion>),
}

/// Settings under a set of conditions (all must hold: an `Include` inside a
/// `Host` block adds the outer condition to the included blocks).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Block {
    pub conds: Vec<Cond>,
    pub settings: Vec<(Setting, Location)>,
}

/// A parsed configuration: an ordered list of conditional blocks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SshConfig {
    pub(crate) blocks: Vec<Block>,
}

/// What is known about the connection before the config is read.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    /// The host as given (an alias or an address).
    pub host: &'a str,
    /// A user given explicitly (`user@host`, `--user`): it wins over `User`
    /// and is what `Match user` sees.
    pub user: Option<&'a str>,
    /// The local user name (`Match localuser`, `%u`, the default login).
    pub local_user: &'a str,
}

/// The values the config gives one host. `None` means "the config does
/// not say": the caller applies its own default (see [`Resolved::port_or_default`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolved {
    /// `HostName`, with `%h` already expanded.
    pub hostname: Option<String>,
    /// `User`.
    pub user: Option<String>,
    /// `Port`.
    pub port: Option<u16>,
    /// Every `IdentityFile`, in order, tokens not yet expanded (as `ssh -G` prints them).
    pub identity_files: Vec<String>,
    /// `IdentitiesOnly`.
    pub identities_only: Option<bool>,
    /// `ProxyJump`; `Some(vec![])` is `ProxyJump none`.
    pub proxy_jump: Option<Vec<Hop>>,
    /// `StrictHostKeyChecking`.
    pub strict_host_key_checking: Option<StrictHostKeyChecking>,
    /// `UserKnownHostsFile`, tokens not yet expanded; `Some(vec![])` is `none`.
    pub user_known_hosts_files: Option<Vec<String>>,
    /// `GlobalKnownHostsFile`.
    pub global_known_hosts_files: Option<Vec<String>>,
    /// `ConnectTimeout`; `Some(None)` is `none`.
    pub connect_timeout: Option<Option<Duration>>,
    /// Where each value came from, for `fleet inventory list` and debugging.
    pub sources: Vec<(&'static str, Location)>,
}

impl SshConfig {
    /// An empty configuration (`-F none`).
    pub fn empty() -> SshConfig {
        SshConfig::default()
    }

    /// Reads `path`; relative `Include`s resolve against `include_base`
    /// (`~/.ssh` for a user config, `/etc/ssh` for the system one).
    pub fn load(path: &Path, include_base: &Path) -> Result<SshConfig, Error> {
        let mut cfg = SshConfig::default();
        parse::read_file(&mut cfg, path, include_base, &[], 0)?;
        Ok(cfg)
    }

    /// Parses text (tests, or a config from elsewhere); `origin` names it in errors.
    pub fn parse_str(text: &str, origin: &Path, include_base: &Path) -> Result<SshConfig, Error> {
        let mut cfg = SshConfig::default();
        parse::parse_text(&mut cfg, text, origin, include_base, &[], 0)?;
        Ok(cfg)
    }

    /// Appends another configuration after this one (ssh reads the user
    /// config, then the system one: earlier values win).
    pub fn then(mut self, other: SshConfig) -> SshConfig {
        self.blocks.extend(other.blocks);
        self
    }

    /// The values for one host, first match wins per keyword.
    pub fn resolve(&self, q: &Query<'_>) -> Resolved {
        // `Host` matches the name as given (case-sensitive, as ssh 9.2);
        // `Match host`/`originalhost` compare case-insensitively.
        let original = q.host.to_ascii_lowercase();
        let mut r = Resolved {
            user: q.user.map(str::to_string),
            ..Resolved::default()
        };
        for block in &self.blocks {
            if !block
                .conds
                .iter()
                .all(|c| cond_holds(c, q.host, &original, q, &r))
            {
                continue;
            }
            for (setting, at) in &block.settings {
                apply(&mut r, setting, at, &original);
            }
        }
        r
    }
}

fn cond_holds(cond: &Cond, given: &str, original: &str, q: &Query<'_>, r: &Resolved) -> bool {
    match cond {
        Cond::Host(patterns) => host_patterns_match(patterns, given),
        Cond::Match(criteria) => criteria.iter().all(|c| {
            let (neg, hit) = match c {
                Criterion::All => (false, true),
                Criterion::Host(neg, list) => {
                    let host = r.hostname.as_deref().unwrap_or(original);
                    (*neg, match_list(host, list))
                }
                Criterion::OriginalHost(neg, list) => (*neg, match_list(original, list)),
                Criterion::User(neg, list) => {
                    let user = r.user.as_deref().unwrap_or(q.local_user);
                    (*neg, match_list(user, list))
                }
                Criterion::LocalUser(neg, list) => (*neg, match_list(q.local_user, list)),
                Criterion::Unsupported(_) => return false,
            };
            hit != neg
        }),
    }
}

/// `Host` semantics: any negated match rejects, else any positive match accepts.
fn host_patterns_match(patterns: &[String], host: &str) -> bool {
    match_patterns(host, patterns.iter().map(String::as_str))
}

fn apply(r: &mut Resolved, s: &Setting, at: &Location, original: &str) {
    let note = |r: &mut Resolved, k: &'static str| r.sources.push((k, at.clone()));
    match s {
        Setting::HostName(h) if r.hostname.is_none() => {
            r.hostname = Some(h.replace("%h", original).replace("%%", "%"));
            note(r, "HostName");
        }
        Setting::User(u) if r.user.is_none() => {
            r.user = Some(u.clone());
            note(r, "User");
        }
        Setting::Port(p) if r.port.is_none() => {
            r.port = Some(*p);
            note(r, "Port");
        }
        Setting::IdentityFile(f) if !r.identity_files.contains(f) => {
            r.identity_files.push(f.clone());
            note(r, "IdentityFile");
        }
        Setting::IdentitiesOnly(b) if r.identities_only.is_none() => {
            r.identities_only = Some(*b);
            note(r, "IdentitiesOnly");
        }
        Setting::ProxyJump(h) if r.proxy_jump.is_none() => {
            r.proxy_jump = Some(h.clone());
            note(r, "ProxyJump");
        }
        Setting::StrictHostKeyChecking(v) if r.strict_host_key_checking.is_none() => {
            r.strict_host_key_checking = Some(*v);
            note(r, "StrictHostKeyChecking");
        }
        Setting::UserKnownHostsFile(v) if r.user_known_hosts_files.is_none() => {
            r.user_known_hosts_files = Some(v.clone());
            note(r, "UserKnownHostsFile");
        }
        Setting::GlobalKnownHostsFile(v) if r.global_known_hosts_files.is_none() => {
            r.global_known_hosts_files = Some(v.clone());
            note(r, "GlobalKnownHostsFile");
        }
        Setting::ConnectTimeout(v) if r.connect_timeout.is_none() => {
            r.connect_timeout = Some(*v);
            note(r, "ConnectTimeout");
        }
        _ => {}
    }
}

impl Resolved {
    /// The address to connect to: `HostName`, else the host as given
    /// (lower-cased, as ssh).
    pub fn hostname_or(&self, host: &str) -> String {
        self.hostname
            .clone()
            .unwrap_or_else(|| host.to_ascii_lowercase())
    }

    /// `Port`, else 22.
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(22)
    }
}

/// Values for token expansion in paths (`IdentityFile`, `UserKnownHostsFile`).
#[derive(Debug, Clone)]
pub struct Tokens<'a> {
    /// `%h`: the host name after `HostName`.
    pub host: &'a str,
    /// `%n`: the host as given.
    pub original_host: &'a str,
    /// `%r`: the remote user.
    pub remote_user: &'a str,
    /// `%u`: the local user.
    pub local_user: &'a str,
    /// `%p`: the port.
    pub port: u16,
    /// `%d` and `~`: the local home directory.
    pub home: &'a Path,
}

/// Why a path from the config could not be expanded ([`expand_tokens`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// A `%` token ssh does not expand in file names.
    #[error("failed to expand `{path}`: unsupported token `%{token}`")]
    Unsupported {
        /// The path as written.
        path: String,
        /// The letter after `%`.
        token: char,
    },
    /// A lone `%` at the end.
    #[error("failed to expand `{path}`: `%` at the end")]
    Trailing {
        /// The path as written.
        path: String,
    },
}

/// Expands a leading `~/` and the `%` tokens ssh allows in file names;
/// an unknown token is an error naming it.
pub fn expand_tokens(s: &str, t: &Tokens<'_>) -> Result<PathBuf, TokenError> {
    let home = t.home.display().to_string();
    let mut out = String::new();
    let body = if s == "~" {
        out.push_str(&home);
        ""
    } else if let Some(rest) = s.strip_prefix("~/") {
        out.push_str(&home);
        out.push('/');
        rest
    } else {
        s
    };
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('h') => out.push_str(t.host),
            Some('n') => out.push_str(t.original_host),
            Some('r') => out.push_str(t.remote_user),
            Some('u') => out.push_str(t.local_user),
            Some('p') => out.push_str(&t.port.to_string()),
            Some('d') => out.push_str(&home),
            Some(token) => {
                return Err(TokenError::Unsupported {
                    path: s.to_owned(),
                    token,
                })
            }
            None => return Err(TokenError::Trailing { path: s.to_owned() }),
        }
    }
    Ok(PathBuf::from(out))
}

#[cfg(test)]
mod tests;
