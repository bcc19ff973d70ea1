//! `[user@]host[:port]` as every format writes addresses and jump hosts
//! (`[v6addr]:port` for IPv6). Crate-private parsers: their `String`
//! errors are messages each loader wraps at once with file, line and field.

/// Splits `[user@]host[:port]` (`[v6addr]:port` for IPv6).
pub(crate) fn parse_user_host_port(
    raw: &str,
) -> Result<(Option<String>, String, Option<u16>), String> {
    let (user, rest) = match raw.rsplit_once('@') {
        Some((u, r)) if !u.is_empty() => (Some(u.to_owned()), r),
        Some(_) => return Err(format!("invalid jump host `{raw}`: empty user name")),
        None => (None, raw),
    };
    let (host, port) =
        split_host_port(rest).map_err(|m| format!("invalid jump host `{raw}`: {m}"))?;
    Ok((user, host, port))
}

/// Splits `host[:port]` / `[v6]:port`.
pub(crate) fn split_host_port(rest: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("unclosed `[`")?;
        match after.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if after.is_empty() => (h, None),
            None => return Err(format!("unexpected `{after}` after `]`")),
        }
    } else if rest.matches(':').count() == 1 {
        let (h, p) = rest.split_once(':').ok_or("missing port")?;
        (h, Some(p))
    } else {
        (rest, None)
    };
    if host.is_empty() {
        return Err("empty host".to_owned());
    }
    let port = port.map(crate::yaml::parse_port).transpose()?;
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_user_host_port() {
        assert_eq!(
            parse_user_host_port("u@h:2222").unwrap(),
            (Some("u".to_owned()), "h".to_owned(), Some(2222))
        );
        assert_eq!(split_host_port("[::1]").unwrap(), ("::1".to_owned(), None));
        assert!(split_host_port("[::1").is_err());
        assert!(parse_user_host_port("@h").is_err());
    }
}
