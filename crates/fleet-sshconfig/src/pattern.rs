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

/// A comma-separated list (`a*,!ab,c`): false if a negated pattern matches,
/// else true if any other does. Case-insensitive, as ssh's `match_hostname`.
pub fn match_list(s: &str, list: &str) -> bool {
    let s = s.to_ascii_lowercase();
    let mut hit = false;
    for p in list.split(',') {
        let p = p.trim().to_ascii_lowercase();
        if let Some(neg) = p.strip_prefix('!') {
            if wildcard(neg, &s) {
                return false;
            }
        } else if wildcard(&p, &s) {
            hit = true;
        }
    }
    hit
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
    }
}
