//! Ansible-like `--limit` expressions over resolved devices.
//!
//! Comma-separated terms (Ansible's `:` separator works too, as in
//! `ios:&network:!lab-*`). A device is selected when it matches at least
//! one positive term (or there are none), every `&` term and no `!` term:
//! `group:core,platform:ios,!name:lab-*`, `group:core,&data.site=ams`.
//!
//! Terms: a bare `GLOB` (a device name or a group, as in Ansible),
//! `name:GLOB`, `group:GLOB`, `platform:GLOB`, `host:GLOB`,
//! `data.KEY=GLOB` (or `data:KEY=GLOB`). [`Limit::unmatched`] names the
//! terms that select nothing, for a warning.

use fleet_proto::Device;
use globset::{Glob, GlobMatcher};

/// A `--limit` expression that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --limit term `{term}`: {message}")]
pub struct LimitError {
    /// The offending term as written (empty for an empty expression).
    pub term: String,
    /// What is wrong with it.
    pub message: String,
}

/// What a term looks at.
#[derive(Debug, Clone)]
enum Selector {
    /// A bare word: a device name or a group name.
    NameOrGroup(GlobMatcher),
    Name(GlobMatcher),
    Group(GlobMatcher),
    Platform(GlobMatcher),
    Host(GlobMatcher),
    Data(String, GlobMatcher),
}

impl Selector {
    fn matches(&self, d: &Device) -> bool {
        match self {
            Selector::NameOrGroup(g) => {
                g.is_match(&d.name) || d.groups.iter().any(|x| g.is_match(x))
            }
            Selector::Name(g) => g.is_match(&d.name),
            Selector::Group(g) => d.groups.iter().any(|x| g.is_match(x)),
            Selector::Platform(g) => d.platform.as_deref().is_some_and(|p| g.is_match(p)),
            Selector::Host(g) => g.is_match(&d.host),
            Selector::Data(k, g) => d.data.get(k).is_some_and(|v| g.is_match(v)),
        }
    }
}

/// How a term combines with the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Intersect,
    Exclude,
}

/// A parsed `--limit` expression.
#[derive(Debug, Clone)]
pub struct Limit {
    terms: Vec<(Op, Selector, String)>,
}

const SELECTORS: &[&str] = &["name", "group", "platform", "host", "data"];

impl Limit {
    /// Parses an expression such as `group:core,platform:ios,!name:lab-*`.
    pub fn parse(expr: &str) -> Result<Limit, LimitError> {
        if expr.trim().is_empty() {
            return Err(LimitError {
                term: String::new(),
                message: "empty expression".to_owned(),
            });
        }
        let mut terms = Vec::new();
        for raw in expr.split(',') {
            for t in ansible_split(raw.trim()) {
                let (op, sel) = parse_term(t)?;
                terms.push((op, sel, t.to_owned()));
            }
        }
        Ok(Limit { terms })
    }

    /// True when the device is selected.
    pub fn matches(&self, d: &Device) -> bool {
        let mut any_union = false;
        let mut union_hit = false;
        for (op, sel, _) in &self.terms {
            match op {
                Op::Union => {
                    any_union = true;
                    union_hit = union_hit || sel.matches(d);
                }
                Op::Intersect if !sel.matches(d) => return false,
                Op::Exclude if sel.matches(d) => return false,
                _ => {}
            }
        }
        union_hit || !any_union
    }

    /// One message per term that matches no device at all (usually a
    /// typo), for the caller to print as a warning.
    pub fn unmatched(&self, devices: &[Device]) -> Vec<String> {
        self.unmatched_each(devices)
    }

    /// [`Limit::unmatched`] over devices given one at a time (e.g. from a
    /// [`fleet_proto::DeviceTable`]), in one pass.
    pub fn unmatched_each<D: std::borrow::Borrow<Device>>(
        &self,
        devices: impl IntoIterator<Item = D>,
    ) -> Vec<String> {
        let mut hit = vec![false; self.terms.len()];
        let mut left = hit.len();
        for d in devices {
            if left == 0 {
                break;
            }
            for (i, (_, sel, _)) in self.terms.iter().enumerate() {
                if !hit[i] && sel.matches(d.borrow()) {
                    hit[i] = true;
                    left -= 1;
                }
            }
        }
        self.terms
            .iter()
            .zip(hit)
            .filter(|(_, hit)| !hit)
            .map(|((_, _, t), _)| format!("`{t}` matches no device name or group"))
            .collect()
    }

    /// The selected devices, in inventory order.
    pub fn select<'a>(&'a self, devices: &'a [Device]) -> impl Iterator<Item = &'a Device> + 'a {
        devices.iter().filter(move |d| self.matches(d))
    }
}

/// Splits Ansible's `a:&b:!c` into terms, unless the part before the first
/// `:` is one of fleet's selectors (`group:core` is one term).
fn ansible_split(raw: &str) -> Vec<&str> {
    let head = raw
        .trim_start_matches(['!', '&'])
        .split(':')
        .next()
        .unwrap_or("");
    // `grop:core` is a typo for a selector (an error later), not two terms.
    let typo = crate::suggest::closest(head, SELECTORS).is_some();
    if !raw.contains(':') || SELECTORS.contains(&head) || head.starts_with("data.") || typo {
        return vec![raw];
    }
    raw.split(':').map(str::trim).collect()
}

fn parse_term(term: &str) -> Result<(Op, Selector), LimitError> {
    let err = |message: String| LimitError {
        term: term.to_owned(),
        message,
    };
    let (op, body) = if let Some(b) = term.strip_prefix('!') {
        (Op::Exclude, b)
    } else if let Some(b) = term.strip_prefix('&') {
        (Op::Intersect, b)
    } else {
        (Op::Union, term)
    };
    let body = body.trim();
    if body.is_empty() {
        return Err(err(
            "empty term (check for a stray or doubled comma)".to_owned()
        ));
    }
    let glob = |pattern: &str, what: &str| -> Result<GlobMatcher, LimitError> {
        if pattern.is_empty() {
            return Err(err(format!("empty {what} pattern")));
        }
        Glob::new(pattern)
            .map(|g| g.compile_matcher())
            .map_err(|e| err(format!("bad pattern `{pattern}`: {}", e.kind())))
    };
    let data = |rest: &str| -> Result<Selector, LimitError> {
        let (k, v) = rest
            .split_once('=')
            .ok_or_else(|| err("expected `data.KEY=VALUE`".to_owned()))?;
        if k.is_empty() {
            return Err(err("empty data key (expected `data.KEY=VALUE`)".to_owned()));
        }
        Ok(Selector::Data(k.to_owned(), glob(v, "data value")?))
    };
    if let Some(rest) = body.strip_prefix("data.") {
        return Ok((op, data(rest)?));
    }
    let selector = match body.split_once(':') {
        None => Selector::NameOrGroup(glob(body, "name")?),
        Some(("name", p)) => Selector::Name(glob(p, "name")?),
        Some(("group", p)) => Selector::Group(glob(p, "group")?),
        Some(("platform", p)) => Selector::Platform(glob(p, "platform")?),
        Some(("host", p)) => Selector::Host(glob(p, "host")?),
        Some(("data", rest)) => data(rest)?,
        Some((other, _)) => {
            return Err(err(format!(
                "unknown selector `{other}`{}",
                crate::suggest::did_you_mean(other, SELECTORS)
            )))
        }
    };
    Ok((op, selector))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(name: &str, groups: &[&str], platform: &str, site: &str) -> Device {
        let mut d = Device::new(name, format!("{name}.example.net"), 22);
        d.groups = groups.iter().map(|s| s.to_string()).collect();
        d.platform = Some(platform.to_owned());
        d.data.insert("site".into(), site.into());
        d
    }

    fn names(expr: &str) -> Vec<String> {
        let devs = [
            dev("core-1", &["core"], "cisco_ios", "ams"),
            dev("core-2", &["core"], "arista_eos", "fra"),
            dev("lab-1", &["core", "lab"], "cisco_ios", "ams"),
            dev("edge-1", &["edge"], "cisco_ios", "fra"),
            dev("srv-1", &[], "linux", "ams"),
        ];
        let l = Limit::parse(expr).unwrap();
        l.select(&devs).map(|d| d.name.clone()).collect()
    }

    #[test]
    fn union_of_positive_terms_minus_negatives() {
        assert_eq!(
            names("group:core,platform:cisco_ios,!name:lab-*"),
            ["core-1", "core-2", "edge-1"]
        );
    }

    #[test]
    fn intersection_terms() {
        assert_eq!(names("group:core,&data.site=ams"), ["core-1", "lab-1"]);
        assert_eq!(names("group:core,&data:site=ams,!lab-*"), ["core-1"]);
    }

    #[test]
    fn bare_glob_is_a_name_and_only_negatives_start_from_all() {
        assert_eq!(names("core-*"), ["core-1", "core-2"]);
        assert_eq!(names("!group:core"), ["edge-1", "srv-1"]);
        assert_eq!(names("host:srv-*.example.net"), ["srv-1"]);
        assert_eq!(names("platform:arista_*"), ["core-2"]);
        assert_eq!(names("data.site=f*"), ["core-2", "edge-1"]);
        assert_eq!(names("name:nope"), Vec::<String>::new());
    }

    #[test]
    fn bare_words_match_groups_and_ansible_separators_work() {
        // #19.8: `--limit ios_routers` is a group, as in Ansible.
        assert_eq!(names("edge"), ["edge-1"]);
        assert_eq!(names("lab"), ["lab-1"]);
        assert_eq!(names("core:&lab"), ["lab-1"]);
        assert_eq!(names("core:!lab"), ["core-1", "core-2"]);
        assert_eq!(names("core:&data.site=ams"), ["core-1", "lab-1"]);
        assert_eq!(names("group:core,&platform:cisco_ios"), ["core-1", "lab-1"]);
    }

    #[test]
    fn terms_matching_nothing_are_named() {
        let devs = [dev("r1", &["core"], "cisco_ios", "ams")];
        let l = Limit::parse("core,group:nope,!zzz").unwrap();
        assert_eq!(
            l.unmatched(&devs),
            [
                "`group:nope` matches no device name or group",
                "`!zzz` matches no device name or group"
            ]
        );
        assert!(Limit::parse("r1").unwrap().unmatched(&devs).is_empty());
    }

    #[test]
    fn bad_terms_are_clear_errors() {
        let e = Limit::parse("grop:core").unwrap_err();
        assert_eq!(e.term, "grop:core");
        assert!(e.to_string().contains("did you mean `group`"), "{e}");
        assert!(Limit::parse("").is_err());
        assert!(Limit::parse("a,,b")
            .unwrap_err()
            .message
            .contains("empty term"));
        assert!(Limit::parse("data.site")
            .unwrap_err()
            .message
            .contains("data.KEY=VALUE"));
        assert!(Limit::parse("name:[a-")
            .unwrap_err()
            .message
            .contains("bad pattern"));
        assert!(Limit::parse("!").is_err());
        assert!(Limit::parse("group:")
            .unwrap_err()
            .message
            .contains("empty group"));
    }
}
