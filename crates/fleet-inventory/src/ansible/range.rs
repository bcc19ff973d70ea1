//! Ansible host ranges: `sw[01:50].example.net`, `[a:c]`, `[1:10:2]`.

/// Upper bound on hosts one pattern, and one whole inventory, may expand
/// to, so a typo cannot eat all memory.
pub(crate) const MAX_EXPANSION: usize = 1_000_000;

/// Expands every `[start:end(:stride)]` in `pattern` (numeric ranges keep
/// the width of a zero-padded start; alphabetic ranges are single letters).
/// (Crate-private: `Err` is a message the caller wraps at once with file,
/// line and field.)
pub(crate) fn expand(pattern: &str) -> Result<Vec<String>, String> {
    let mut out = vec![String::new()];
    let mut rest = pattern;
    while let Some(open) = rest.find('[') {
        let close = rest[open..]
            .find(']')
            .map(|c| open + c)
            .ok_or_else(|| format!("unclosed `[` in host pattern `{pattern}`"))?;
        let inner = &rest[open + 1..close];
        let items = if inner.contains(':') {
            range_items(inner).map_err(|m| format!("bad range `[{inner}]` in `{pattern}`: {m}"))?
        } else {
            // Not a range (e.g. an IPv6 literal): keep as written.
            vec![format!("[{inner}]")]
        };
        let prefix = &rest[..open];
        if out.len().saturating_mul(items.len()) > MAX_EXPANSION {
            return Err(format!(
                "host pattern `{pattern}` expands to more than {MAX_EXPANSION} hosts"
            ));
        }
        out = out
            .iter()
            .flat_map(|o| items.iter().map(move |i| format!("{o}{prefix}{i}")))
            .collect();
        rest = &rest[close + 1..];
    }
    for o in &mut out {
        o.push_str(rest);
    }
    Ok(out)
}

fn range_items(inner: &str) -> Result<Vec<String>, String> {
    let parts: Vec<&str> = inner.split(':').collect();
    let (start, end, stride) = match parts.as_slice() {
        [s, e] => (*s, *e, 1usize),
        [s, e, st] => (
            *s,
            *e,
            st.parse::<usize>()
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| format!("bad stride `{st}`"))?,
        ),
        _ => return Err("expected [start:end] or [start:end:stride]".to_owned()),
    };
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if numeric(start) && numeric(end) {
        let too_many = || format!("more than {MAX_EXPANSION} hosts");
        // Bounds beyond u64 are certainly too many hosts, not a parse error.
        let a = start.parse::<u64>().map_err(|_| too_many())?;
        let b = end.parse::<u64>().map_err(|_| too_many())?;
        if a > b {
            return Err(format!("start {start} is after end {end}"));
        }
        // (b - a) / stride + 1 without overflow: `h[0:18446744073709551615]`
        // must not wrap to a small count.
        let steps = (b - a) / stride as u64;
        if steps >= MAX_EXPANSION as u64 {
            return Err(too_many());
        }
        let width = if start.len() > 1 && start.starts_with('0') {
            start.len()
        } else {
            0
        };
        return Ok((a..=b)
            .step_by(stride)
            .map(|n| format!("{n:0width$}"))
            .collect());
    }
    let letter = |s: &str| {
        let mut c = s.chars();
        match (c.next(), c.next()) {
            (Some(ch), None) if ch.is_ascii_alphabetic() => Some(ch),
            _ => None,
        }
    };
    match (letter(start), letter(end)) {
        (Some(a), Some(b)) if a <= b => Ok((a..=b).step_by(stride).map(String::from).collect()),
        (Some(_), Some(_)) => Err(format!("start {start} is after end {end}")),
        _ => Err("bounds must be both numbers or both single letters".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_numeric_alpha_and_stride() {
        assert_eq!(
            expand("sw[01:03].x").unwrap(),
            ["sw01.x", "sw02.x", "sw03.x"]
        );
        assert_eq!(expand("[a:c]-r").unwrap(), ["a-r", "b-r", "c-r"]);
        assert_eq!(expand("h[1:9:4]").unwrap(), ["h1", "h5", "h9"]);
        assert_eq!(
            expand("r[1:2]s[a:b]").unwrap(),
            ["r1sa", "r1sb", "r2sa", "r2sb"]
        );
        assert_eq!(expand("plain").unwrap(), ["plain"]);
        assert!(expand("h[3:1]").is_err());
        assert!(expand("h[1:").is_err());
        assert!(expand("h[0:99999999]").is_err());
    }

    #[test]
    fn huge_ranges_are_refused_without_overflow() {
        // (2^64 - 1) - 0 + 1 wraps to 0 in u64: the count must not.
        let e = expand("h[0:18446744073709551615]").unwrap_err();
        assert!(e.contains("more than 1000000 hosts"), "{e}");
        let e = expand("h[0:99999999999999999999999]").unwrap_err();
        assert!(e.contains("more than 1000000 hosts"), "{e}");
        // The cap itself: exactly MAX_EXPANSION is fine, one more is not.
        assert_eq!(expand("h[1:1000000]").unwrap().len(), MAX_EXPANSION);
        assert!(expand("h[0:1000000]").is_err());
        // Two ranges multiply.
        assert!(expand("h[1:1000]x[1:1001]").is_err());
    }
}
