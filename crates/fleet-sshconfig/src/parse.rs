//! Lines to blocks: keyword splitting, quoting, `Host`/`Match`/`Include`,
//! and typed values (bad values are errors with file:line).
//!
//! The value parsers here (`one`, `yes_no`, `setting`, `port`, `duration`,
//! `proxy_jump`, `hop`, the `Match` criteria) are crate-private and return
//! a `String` message: `parse_text` wraps it at once in
//! [`Error::Invalid`] with the file and line, which is the error callers see.

use crate::{
    Block, Cond, Criterion, Error, Hop, Location, Setting, SshConfig, StrictHostKeyChecking,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// ssh's limit on nested `Include`s.
const MAX_INCLUDE_DEPTH: usize = 16;

pub(crate) fn read_file(
    cfg: &mut SshConfig,
    path: &Path,
    base: &Path,
    outer: &[Cond],
    depth: usize,
) -> Result<(), Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_text(cfg, &text, path, base, outer, depth)
}

pub(crate) fn parse_text(
    cfg: &mut SshConfig,
    text: &str,
    origin: &Path,
    base: &Path,
    outer: &[Cond],
    depth: usize,
) -> Result<(), Error> {
    let mut conds: Vec<Cond> = outer.to_vec();
    cfg.blocks.push(Block {
        conds: conds.clone(),
        settings: Vec::new(),
    });
    for (i, line) in text.lines().enumerate() {
        let at = Location {
            file: origin.to_path_buf(),
            line: i + 1,
        };
        let invalid = |message: String| Error::Invalid {
            at: at.clone(),
            message,
        };
        let Some((keyword, args)) = split_line(line).map_err(invalid)? else {
            continue;
        };
        match keyword.to_ascii_lowercase().as_str() {
            "host" => {
                if args.is_empty() {
                    return Err(invalid("`Host` needs at least one pattern".into()));
                }
                conds = outer.to_vec();
                conds.push(Cond::Host(args));
                cfg.blocks.push(Block {
                    conds: conds.clone(),
                    settings: Vec::new(),
                });
            }
            "match" => {
                conds = outer.to_vec();
                conds.push(Cond::Match(criteria(&args, &at).map_err(invalid)?));
                cfg.blocks.push(Block {
                    conds: conds.clone(),
                    settings: Vec::new(),
                });
            }
            "include" => {
                if args.is_empty() {
                    return Err(invalid("`Include` needs a file".into()));
                }
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(invalid(format!(
                        "`Include` nested more than {MAX_INCLUDE_DEPTH} deep"
                    )));
                }
                for arg in &args {
                    for file in glob(&include_path(arg, base)).map_err(|e| Error::Io {
                        path: PathBuf::from(arg),
                        source: e,
                    })? {
                        read_file(cfg, &file, base, &conds, depth + 1)?;
                    }
                }
                // Back to the including block's condition.
                cfg.blocks.push(Block {
                    conds: conds.clone(),
                    settings: Vec::new(),
                });
            }
            kw => match setting(kw, &args) {
                Ok(Some(s)) => {
                    if let Some(b) = cfg.blocks.last_mut() {
                        b.settings.push((s, at));
                    }
                }
                Ok(None) => log::debug!("{at}: ssh config keyword `{keyword}` ignored by fleet"),
                Err(m) => return Err(invalid(format!("{keyword}: {m}"))),
            },
        }
    }
    Ok(())
}

/// `Keyword args...`, `Keyword=args`; `None` for blank and comment lines.
fn split_line(line: &str) -> Result<Option<(String, Vec<String>)>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let keyword = line[..end].to_string();
    let mut rest = line[end..].trim_start();
    if let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start();
    }
    Ok(Some((keyword, split_args(rest)?)))
}

/// Arguments with ssh's quoting: `"..."`, `'...'`, backslash escapes; an
/// unquoted word starting with `#` ends the line.
fn split_args(s: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.peek() {
            None => break,
            Some('#') => break,
            _ => {}
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(&c) = chars.peek() {
            match (quote, c) {
                (None, c) if c.is_whitespace() => break,
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (_, '\\') => {
                    chars.next();
                    match chars.peek() {
                        Some(&n) if n == '"' || n == '\'' || n == '\\' || n.is_whitespace() => {
                            word.push(n)
                        }
                        Some(&n) => {
                            word.push('\\');
                            word.push(n);
                        }
                        None => word.push('\\'),
                    }
                }
                (_, c) => word.push(c),
            }
            chars.next();
        }
        if quote.is_some() {
            return Err("unterminated quote".into());
        }
        args.push(word);
    }
    Ok(args)
}

fn criteria(args: &[String], at: &Location) -> Result<Vec<Criterion>, String> {
    if args.is_empty() {
        return Err("`Match` needs criteria (e.g. `Match host NAME` or `Match all`)".into());
    }
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(word) = it.next() {
        let (neg, name) = match word.strip_prefix('!') {
            Some(n) => (true, n),
            None => (false, word.as_str()),
        };
        let lower = name.to_ascii_lowercase();
        let mut arg = |what: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("`Match {what}` needs an argument"))
        };
        let c = match lower.as_str() {
            "all" => {
                if neg
                    || args.iter().any(|a| {
                        !["all", "canonical", "final"].contains(&a.to_ascii_lowercase().as_str())
                    })
                {
                    return Err("`Match all` must appear alone (or with canonical/final)".into());
                }
                Criterion::All
            }
            "final" => Criterion::All,
            "canonical" => Criterion::Unsupported(lower),
            "host" => Criterion::Host(neg, arg("host")?),
            "originalhost" => Criterion::OriginalHost(neg, arg("originalhost")?),
            "user" => Criterion::User(neg, arg("user")?),
            "localuser" => Criterion::LocalUser(neg, arg("localuser")?),
            "exec" | "localnetwork" | "tagged" => {
                let a = arg(&lower)?;
                log::debug!(
                    "{at}: `Match {lower} {a}` is not evaluated by fleet: the block never matches"
                );
                Criterion::Unsupported(lower)
            }
            _ => return Err(format!("unsupported Match attribute `{name}`")),
        };
        out.push(c);
    }
    Ok(out)
}

fn one(args: &[String]) -> Result<&str, String> {
    match args {
        [a] => Ok(a),
        [] => Err("missing argument".into()),
        [_, extra, ..] => Err(format!("garbage at end of line: `{extra}`")),
    }
}

fn yes_no(args: &[String]) -> Result<bool, String> {
    match one(args)?.to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        o => Err(format!("expected yes or no, got `{o}`")),
    }
}

/// A typed setting for the keywords fleet uses; `Ok(None)` for the others.
fn setting(keyword: &str, args: &[String]) -> Result<Option<Setting>, String> {
    Ok(Some(match keyword {
        "hostname" => Setting::HostName(one(args)?.to_string()),
        "user" => Setting::User(one(args)?.to_string()),
        "port" => Setting::Port(port(one(args)?)?),
        "identityfile" => Setting::IdentityFile(one(args)?.to_string()),
        "identitiesonly" => Setting::IdentitiesOnly(yes_no(args)?),
        "proxyjump" => Setting::ProxyJump(proxy_jump(one(args)?)?),
        "stricthostkeychecking" => {
            Setting::StrictHostKeyChecking(match one(args)?.to_ascii_lowercase().as_str() {
                "yes" | "true" | "ask" => StrictHostKeyChecking::Yes,
                "accept-new" => StrictHostKeyChecking::AcceptNew,
                "no" | "off" | "false" => StrictHostKeyChecking::No,
                o => {
                    return Err(format!(
                        "expected yes, no, ask, accept-new or off, got `{o}`"
                    ))
                }
            })
        }
        "userknownhostsfile" | "globalknownhostsfile" => {
            if args.is_empty() {
                return Err("missing argument".into());
            }
            let files = if args.len() == 1 && args[0].eq_ignore_ascii_case("none") {
                Vec::new()
            } else {
                args.to_vec()
            };
            if keyword == "userknownhostsfile" {
                Setting::UserKnownHostsFile(files)
            } else {
                Setting::GlobalKnownHostsFile(files)
            }
        }
        "connecttimeout" => {
            let v = one(args)?;
            Setting::ConnectTimeout(if v.eq_ignore_ascii_case("none") {
                None
            } else {
                let d = duration(v)?;
                (!d.is_zero()).then_some(d)
            })
        }
        _ => return Ok(None),
    }))
}

fn port(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("bad port `{s}` (1-65535)")),
    }
}

/// ssh's time format: `30`, `1m30s`, `2h` (units s, m, h, d, w).
fn duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("bad time value `{s}` (e.g. 30, 10s, 1m30s)");
    let mut total: u64 = 0;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 604800,
            _ => return Err(bad()),
        };
        let n: u64 = num.parse().map_err(|_| bad())?;
        total = total.checked_add(n * unit).ok_or_else(bad)?;
        num.clear();
    }
    if !num.is_empty() {
        total = total
            .checked_add(num.parse::<u64>().map_err(|_| bad())?)
            .ok_or_else(bad)?;
    } else if s.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

/// `none`, or `[ssh://][user@]host[:port]` hops separated by commas.
pub(crate) fn proxy_jump(s: &str) -> Result<Vec<Hop>, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    s.split(',').map(hop).collect()
}

fn hop(s: &str) -> Result<Hop, String> {
    let spec = s.strip_prefix("ssh://").unwrap_or(s);
    let (user, rest) = match spec.rsplit_once('@') {
        Some((u, r)) => (Some(u.to_string()), r),
        None => (None, spec),
    };
    let (host, port_s) = if let Some(inner) = rest.strip_prefix('[') {
        let (h, after) = inner
            .split_once(']')
            .ok_or_else(|| format!("bad jump host `{s}`: unclosed `[`"))?;
        (h, after.strip_prefix(':'))
    } else {
        match rest.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if host.is_empty() || user.as_deref() == Some("") {
        return Err(format!("bad jump host `{s}`"));
    }
    Ok(Hop {
        user,
        host: host.to_string(),
        port: port_s.map(port).transpose()?,
    })
}

fn include_path(arg: &str, base: &Path) -> PathBuf {
    if let Some(rest) = arg.strip_prefix("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return PathBuf::from(home).join(rest);
        }
    }
    let p = PathBuf::from(arg);
    if p.is_absolute() {
        p
    } else {
        base.join(p)
    }
}

/// Files matching a path whose last component may hold `*`/`?`, sorted (as
/// glob(3)); no match is no file, as ssh.
fn glob(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        return Ok(if path.exists() {
            vec![path.to_path_buf()]
        } else {
            Vec::new()
        });
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for e in entries {
        let e = e?;
        let n = e.file_name().to_string_lossy().into_owned();
        if !n.starts_with('.') && crate::wildcard(&name, &n) {
            out.push(e.path());
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_like_ssh() {
        let (k, a) = split_line("  HostName=example.com").unwrap().unwrap();
        assert_eq!(
            (k.as_str(), a),
            ("HostName", vec!["example.com".to_string()])
        );
        let (_, a) = split_line("IdentityFile = \"/a b/c\" # comment")
            .unwrap()
            .unwrap();
        assert_eq!(a, ["/a b/c"]);
        let (_, a) = split_line("UserKnownHostsFile /a 'b c' d\\ e")
            .unwrap()
            .unwrap();
        assert_eq!(a, ["/a", "b c", "d e"]);
        assert!(split_line("# x").unwrap().is_none());
        assert!(split_line("User \"x").is_err());
    }

    #[test]
    fn times_and_jumps() {
        assert_eq!(duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(duration("1m30s").unwrap(), Duration::from_secs(90));
        assert!(duration("1x").is_err());
        let j = proxy_jump("ssh://j@jump:2200,k@[::1]:22,plain").unwrap();
        assert_eq!(j[0].user.as_deref(), Some("j"));
        assert_eq!(j[0].port, Some(2200));
        assert_eq!(j[1].host, "::1");
        assert_eq!(j[2].host, "plain");
        assert_eq!(j[2].port, None);
        assert!(proxy_jump("none").unwrap().is_empty());
        assert!(proxy_jump("a:0").is_err());
        assert!(proxy_jump("@a").is_err());
    }
}
