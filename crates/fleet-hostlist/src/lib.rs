//! pdsh-style host lists, for running without an inventory file:
//! `fleet run -w 'web[01-20,25],db1' -x web07`.
//!
//! Syntax (pdsh's, plus pssh's space-separated lists):
//! - hosts separated by commas or whitespace: `a,b c`;
//! - bracket ranges, expanded as a cartesian product: `web[01-03,7]` gives
//!   `web01 web02 web03 web7`, `r[1-2]-[a-b]` gives `r1-a r1-b r2-a r2-b`;
//!   a low bound written with a leading zero pads every number to its width;
//!   single-letter bounds give letter ranges;
//! - `user@host:port` on any element (`[::1]:2222` for IPv6 literals);
//! - `^FILE`: the hosts in FILE, one expression per line, `#` comments;
//! - `-`: the same, read from standard input.
//!
//! [`expand`] is pure; [`load`] adds `^FILE` and `-`. Errors say where:
//! the expression and the byte offset, or the file and line.
#![deny(missing_docs)]

use std::fmt;
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Most hosts one expression may expand to: a typo such as `[1-99999999]`
/// is an error, not an out-of-memory.
pub const MAX_HOSTS: usize = 1_000_000;

/// One host of a list, with the login user and port written next to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `user@` prefix, if written.
    pub user: Option<String>,
    /// Host name or address as written (after range expansion).
    pub host: String,
    /// `:port` suffix, if written.
    pub port: Option<u16>,
}

impl Target {
    /// The device name: the host, plus `:port` when a port was written (so
    /// `h:2201,h:2202` are two devices).
    pub fn name(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(u) = &self.user {
            write!(f, "{u}@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            write!(f, "{}", self.host)?;
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

/// Why a host list was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad syntax in an expression, at a byte offset.
    #[error("invalid host list `{expr}` at offset {offset}: {message}")]
    Syntax {
        /// The expression (one element of the list).
        expr: String,
        /// Byte offset of the problem within `expr`.
        offset: usize,
        /// What is wrong.
        message: String,
    },
    /// The list expands to more than [`MAX_HOSTS`] hosts.
    #[error("host list `{expr}` expands to more than {MAX_HOSTS} hosts")]
    TooMany {
        /// The expression.
        expr: String,
    },
    /// A `^FILE` could not be read.
    #[error("failed to read host file {}", path.display())]
    Io {
        /// The file (`-` for standard input).
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An error inside a `^FILE` (or stdin), with its line.
    #[error("{}:{line}: {source}", path.display())]
    InFile {
        /// The file (`-` for standard input).
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The error on that line.
        #[source]
        source: Box<Error>,
    },
    /// `^FILE` or `-` inside a file: files do not nest.
    #[error("`{0}` cannot appear inside a host file")]
    Nested(String),
}

/// Expands an expression without files or stdin (`^FILE` and `-` are errors).
pub fn expand(expr: &str) -> Result<Vec<Target>, Error> {
    let mut out = Vec::new();
    for (word, _) in split_top(expr)? {
        if word.starts_with('^') || word == "-" {
            return Err(Error::Nested(word.to_string()));
        }
        expand_word(word, &mut out)?;
        if out.len() > MAX_HOSTS {
            return Err(Error::TooMany {
                expr: expr.to_string(),
            });
        }
    }
    Ok(dedup(out))
}

/// Expands an expression, reading `^FILE` from disk and `-` from `stdin`.
pub fn load(expr: &str, stdin: &mut dyn BufRead) -> Result<Vec<Target>, Error> {
    let mut out = Vec::new();
    for (word, _) in split_top(expr)? {
        if let Some(file) = word.strip_prefix('^') {
            let path = PathBuf::from(file);
            let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            out.extend(expand_lines(&path, &text)?);
        } else if word == "-" {
            let mut text = String::new();
            stdin
                .read_to_string(&mut text)
                .map_err(|source| Error::Io {
                    path: PathBuf::from("-"),
                    source,
                })?;
            out.extend(expand_lines(Path::new("-"), &text)?);
        } else {
            expand_word(word, &mut out)?;
        }
        if out.len() > MAX_HOSTS {
            return Err(Error::TooMany {
                expr: expr.to_string(),
            });
        }
    }
    Ok(dedup(out))
}

/// Removes from `targets` every host that `excluded` names (by host, whatever
/// the user or port), as pdsh's `-x`.
pub fn exclude(targets: Vec<Target>, excluded: &[Target]) -> Vec<Target> {
    targets
        .into_iter()
        .filter(|t| {
            !excluded
                .iter()
                .any(|x| x.host == t.host && x.port.is_none_or(|p| Some(p) == t.port))
        })
        .collect()
}

fn expand_lines(path: &Path, text: &str) -> Result<Vec<Target>, Error> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let hosts = expand(line).map_err(|e| Error::InFile {
            path: path.to_path_buf(),
            line: i + 1,
            source: Box::new(e),
        })?;
        out.extend(hosts);
    }
    Ok(out)
}

/// Drops repeated devices (same name), keeping the first.
fn dedup(targets: Vec<Target>) -> Vec<Target> {
    let mut seen = std::collections::HashSet::new();
    targets
        .into_iter()
        .filter(|t| seen.insert(t.name()))
        .collect()
}

/// Splits on commas and whitespace outside brackets; returns words and offsets.
fn split_top(expr: &str) -> Result<Vec<(&str, usize)>, Error> {
    let mut words = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in expr.char_indices() {
        match c {
            '[' => {
                if depth > 0 {
                    return Err(syntax(expr, i, "nested `[`"));
                }
                depth += 1;
            }
            ']' => {
                if depth == 0 {
                    return Err(syntax(expr, i, "`]` without `[`"));
                }
                depth -= 1;
            }
            ',' | ' ' | '\t' | '\n' if depth == 0 => {
                if i > start {
                    words.push((&expr[start..i], start));
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth > 0 {
        return Err(syntax(expr, expr.len(), "unclosed `[`"));
    }
    if expr.len() > start {
        words.push((&expr[start..], start));
    }
    Ok(words)
}

fn syntax(expr: &str, offset: usize, message: impl Into<String>) -> Error {
    Error::Syntax {
        expr: expr.to_string(),
        offset,
        message: message.into(),
    }
}

/// Expands one `[user@]host[:port]` word into `out`.
fn expand_word(word: &str, out: &mut Vec<Target>) -> Result<(), Error> {
    let (user, rest, rest_at) = match word.split_once('@') {
        Some((u, r)) => {
            if u.is_empty() {
                return Err(syntax(word, 0, "empty user before `@`"));
            }
            (Some(u.to_string()), r, u.len() + 1)
        }
        None => (None, word, 0),
    };
    // An IPv6 literal: `[addr]` or `[addr]:port`, never a range.
    if let Some(inner) = rest.strip_prefix('[') {
        if let Some((addr, after)) = inner.split_once(']') {
            if addr.contains(':') {
                let port = match after {
                    "" => None,
                    p => Some(parse_port(word, rest_at + addr.len() + 2, p)?),
                };
                out.push(Target {
                    user,
                    host: addr.to_string(),
                    port,
                });
                return Ok(());
            }
        }
    }
    // `:port` after the last `]`.
    let tail_from = rest.rfind(']').map_or(0, |i| i + 1);
    let (host, port) = match rest[tail_from..].rfind(':') {
        Some(i) => {
            let at = tail_from + i;
            (
                &rest[..at],
                Some(parse_port(word, rest_at + at, &rest[at..])?),
            )
        }
        None => (rest, None),
    };
    if host.is_empty() {
        return Err(syntax(word, rest_at, "empty host name"));
    }
    let names = expand_ranges(word, rest_at, host)?;
    out.extend(names.into_iter().map(|host| Target {
        user: user.clone(),
        host,
        port,
    }));
    Ok(())
}

/// `:port` (with its colon) as a port number.
fn parse_port(word: &str, at: usize, colon_port: &str) -> Result<u16, Error> {
    let digits = colon_port.strip_prefix(':').unwrap_or(colon_port);
    match digits.parse::<u16>() {
        Ok(p) if p > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(p),
        _ => Err(syntax(
            word,
            at,
            format!("invalid port `{digits}` (1-65535)"),
        )),
    }
}

/// Expands the bracket groups of a host pattern (cartesian product, left to right).
fn expand_ranges(word: &str, base: usize, host: &str) -> Result<Vec<String>, Error> {
    let mut acc = vec![String::new()];
    let mut rest = host;
    let mut at = base;
    while let Some(open) = rest.find('[') {
        let close = rest[open..]
            .find(']')
            .map(|c| open + c)
            .ok_or_else(|| syntax(word, at + open, "unclosed `[`"))?;
        let literal = &rest[..open];
        let values = range_values(word, at + open + 1, &rest[open + 1..close])?;
        if acc.len().saturating_mul(values.len()) > MAX_HOSTS {
            return Err(Error::TooMany {
                expr: word.to_string(),
            });
        }
        acc = acc
            .iter()
            .flat_map(|prefix| values.iter().map(move |v| format!("{prefix}{literal}{v}")))
            .collect();
        at += close + 1;
        rest = &rest[close + 1..];
    }
    for a in &mut acc {
        a.push_str(rest);
    }
    Ok(acc)
}

/// The values of one bracket body: `01-20,25`, `a-c`.
fn range_values(word: &str, at: usize, body: &str) -> Result<Vec<String>, Error> {
    if body.is_empty() {
        return Err(syntax(word, at, "empty `[]`"));
    }
    let mut values = Vec::new();
    let mut off = at;
    for part in body.split(',') {
        if part.is_empty() {
            return Err(syntax(word, off, "empty range element"));
        }
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        if lo.is_empty() || hi.is_empty() {
            return Err(syntax(word, off, format!("incomplete range `{part}`")));
        }
        let numeric = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        let letter = |s: &str| s.len() == 1 && s.bytes().all(|b| b.is_ascii_alphabetic());
        if numeric(lo) && numeric(hi) {
            let (Ok(a), Ok(b)) = (lo.parse::<u64>(), hi.parse::<u64>()) else {
                return Err(syntax(word, off, format!("number too large in `{part}`")));
            };
            if a > b {
                return Err(syntax(
                    word,
                    off,
                    format!("range `{part}` goes down ({a} > {b})"),
                ));
            }
            if (b - a) as usize >= MAX_HOSTS {
                return Err(Error::TooMany {
                    expr: word.to_string(),
                });
            }
            let width = if lo.len() > 1 && lo.starts_with('0') {
                lo.len()
            } else {
                0
            };
            values.extend((a..=b).map(|n| format!("{n:0width$}")));
        } else if letter(lo) && letter(hi) {
            let (a, b) = (lo.as_bytes()[0], hi.as_bytes()[0]);
            if a > b || a.is_ascii_lowercase() != b.is_ascii_lowercase() {
                return Err(syntax(word, off, format!("invalid letter range `{part}`")));
            }
            values.extend((a..=b).map(|c| char::from(c).to_string()));
        } else {
            return Err(syntax(
                word,
                off,
                format!("`{part}` is neither a number range nor a letter range"),
            ));
        }
        off += part.len() + 1;
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(expr: &str) -> Vec<String> {
        expand(expr)
            .unwrap()
            .iter()
            .map(|t| t.to_string())
            .collect()
    }

    #[test]
    fn commas_spaces_and_plain_names() {
        assert_eq!(hosts("a,b c\td"), ["a", "b", "c", "d"]);
        assert_eq!(hosts(" a,,b, "), ["a", "b"]);
    }

    #[test]
    fn ranges_keep_zero_padding_of_the_low_bound() {
        assert_eq!(hosts("web[01-03,25]"), ["web01", "web02", "web03", "web25"]);
        assert_eq!(hosts("n[8-10]"), ["n8", "n9", "n10"]);
        assert_eq!(hosts("n[098-100]"), ["n098", "n099", "n100"]);
        assert_eq!(hosts("x[7]"), ["x7"]);
        assert_eq!(expand("web[01-20,25]").unwrap().len(), 21);
    }

    #[test]
    fn several_groups_are_a_cartesian_product() {
        assert_eq!(
            hosts("r[1-3]-[a-b]"),
            ["r1-a", "r1-b", "r2-a", "r2-b", "r3-a", "r3-b"]
        );
        assert_eq!(hosts("[1-2].lab"), ["1.lab", "2.lab"]);
    }

    #[test]
    fn user_and_port() {
        let t = expand("alice@dev[1-2]:2201").unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].user.as_deref(), Some("alice"));
        assert_eq!(t[1].host, "dev2");
        assert_eq!(t[1].port, Some(2201));
        assert_eq!(t[1].name(), "dev2:2201");
        let v6 = expand("root@[::1]:2222,[fe80::1]").unwrap();
        assert_eq!(v6[0].host, "::1");
        assert_eq!(v6[0].port, Some(2222));
        assert_eq!(v6[1].host, "fe80::1");
        assert_eq!(v6[1].port, None);
        assert_eq!(v6[0].to_string(), "root@[::1]:2222");
    }

    #[test]
    fn duplicates_keep_the_first() {
        assert_eq!(hosts("a,b,a,u@a"), ["a", "b"]);
        assert_eq!(hosts("a,a:2200"), ["a", "a:2200"]);
    }

    #[test]
    fn exclusion_by_host_and_optional_port() {
        let all = expand("web[1-5],db:2200,db:2201").unwrap();
        let x = expand("web[2-3],db:2201,nothere").unwrap();
        let left: Vec<String> = exclude(all.clone(), &x).iter().map(Target::name).collect();
        assert_eq!(left, ["web1", "web4", "web5", "db:2200"]);
        let left = exclude(all, &expand("db").unwrap());
        assert_eq!(left.len(), 5);
    }

    fn err(expr: &str) -> String {
        expand(expr).unwrap_err().to_string()
    }

    #[test]
    fn errors_say_what_and_where() {
        assert!(
            err("web[1-3").contains("unclosed `[`"),
            "{}",
            err("web[1-3")
        );
        assert!(err("web1-3]").contains("`]` without `[`"));
        assert!(err("web[[1]]").contains("nested"));
        assert!(err("web[]").contains("empty `[]`"));
        assert!(err("web[3-1]").contains("goes down"));
        assert!(err("web[1-]").contains("incomplete range"));
        assert!(err("web[1,,2]").contains("empty range element"));
        assert!(err("web[a-3]").contains("neither"));
        assert!(err("web[a-C]").contains("invalid letter range"));
        assert!(err("web:0").contains("invalid port `0`"));
        assert!(err("web:99999").contains("invalid port"));
        assert!(err("web:x").contains("invalid port `x`"));
        assert!(err("@web").contains("empty user"));
        assert!(err("u@:22").contains("empty host"));
        assert!(err("n[1-2000000]").contains("more than"));
        assert!(err("a[1-1000]b[1-1000]c[1-10]").contains("more than"));
        assert!(err("^hosts.txt").contains("cannot appear"));
        match expand("ab[1-2]x[5-3]").unwrap_err() {
            Error::Syntax { offset, .. } => assert_eq!(offset, 9),
            e => panic!("{e}"),
        }
    }

    #[test]
    fn files_and_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("hosts");
        std::fs::write(&f, "# web tier\nweb[1-2]\n\ndb1  # primary\n").unwrap();
        let mut stdin: &[u8] = b"s1\ns2,s3\n";
        let expr = format!("^{},-,x", f.display());
        let t: Vec<String> = load(&expr, &mut stdin)
            .unwrap()
            .iter()
            .map(Target::name)
            .collect();
        assert_eq!(t, ["web1", "web2", "db1", "s1", "s2", "s3", "x"]);

        std::fs::write(&f, "ok\nbad[\n").unwrap();
        let e = load(&format!("^{}", f.display()), &mut &b""[..]).unwrap_err();
        assert!(
            e.to_string().starts_with(&format!("{}:2: ", f.display())),
            "{e}"
        );
        let e = load("^/nonexistent/hosts", &mut &b""[..]).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/hosts"), "{e}");
    }
}
