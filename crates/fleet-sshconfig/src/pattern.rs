//! OpenSSH's pattern matching (`match.c`): `*` and `?` wildcards, and
//! comma-separated lists where a `!` pattern vetoes.

/// `*` matches any run of characters, `?` exactly one; everything else literally.
pub fn wildcard(pattern: &str, s: &str) -> bool {
    let (p, s) = (pattern.as_bytes(), s.as_bytes());
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// A pattern list as OpenSSH's `match_pattern_list`: false if a `!`
/// pattern matches `s`, else true if any other does. Case-sensitive: ssh
/// config `Host` lines use it as is, and `known_hosts` (whose patterns
/// and names are lower-cased when read) and [`match_list`] lower-case
/// both sides first.
pub fn match_patterns<'p>(s: &str, patterns: impl IntoIterator<Item = &'p str>) -> bool {
    let mut hit = false;
    for p in patterns {
        if let Some(neg) = p.strip_prefix('!') {
            if wildcard(neg, s) {
                return false;
            }
        } else if wildcard(p, s) {
            hit = true;
        }
    }
    hit
}

/// A comma-separated list (`a*,!ab,c`): false if a negated pattern matches,
/// else true if any other does. Case-insensitive, as ssh's `match_hostname`.
pub fn match_list(s: &str, list: &str) -> bool {
    let (s, list) = (s.to_ascii_lowercase(), list.to_ascii_lowercase());
    match_patterns(&s, list.split(',').map(str::trim))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_lists() {
        assert!(wildcard("dev*", "dev1"));
        assert!(wildcard("d?v", "dev"));
        assert!(!wildcard("d?v", "deev"));
        assert!(wildcard("*", ""));
        assert!(!wildcard("Dev1", "dev1"));
        assert!(match_list("web3", "web*,!web2"));
        assert!(!match_list("web2", "web*,!web2"));
        assert!(!match_list("db", "web*"));
        assert!(match_list("WEB1", "web1"));
        assert!(match_list("web1", " WEB1 , db"), "items are trimmed");
    }

    #[test]
    fn pattern_lists_veto_and_keep_case() {
        assert!(match_patterns("r1.lab", ["*.lab"]));
        assert!(!match_patterns("r1.lab", ["*.lab", "!r1.*"]));
        assert!(
            !match_patterns("r1.lab", ["!r1.*", "*.lab"]),
            "a veto wins in any position"
        );
        assert!(
            !match_patterns("r1.lab", ["!r2.*"]),
            "only negations: no match"
        );
        assert!(!match_patterns("R1.lab", ["r1.lab"]), "case-sensitive");
        assert!(!match_patterns("r1", std::iter::empty()));
        assert!(wildcard("r?", "r1") && !wildcard("r?", "r12"));
        assert!(wildcard("*.lab", "r1.lab") && wildcard("**", "") && !wildcard("?", ""));
    }
}
