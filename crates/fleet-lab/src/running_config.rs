//! A device's configuration: what config mode edits, `show running-config`
//! (or Junos `show configuration`) prints, `write memory` saves and a
//! confirmed commit may roll back.
//!
//! IOS-like flavours keep top-level lines and `interface` blocks. Junos
//! keeps `set` statements (as `show configuration | display set` prints
//! them) and renders the brace hierarchy from them.

use crate::facts::DeviceFacts;
use crate::flavour::Flavour;
use std::time::{Duration, Instant};

/// One top-level line, with indented child lines for blocks (`interface X`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Section {
    /// The top-level line, e.g. `hostname r1` or `interface Gi0/1`.
    header: String,
    /// Lines inside the block, without their leading space.
    children: Vec<String>,
}

/// The configuration text itself, in the flavour's native model.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Body {
    /// IOS, NX-OS, EOS, Linux: sections in print order.
    Blocks(Vec<Section>),
    /// Junos: `set` statements (words after `set`), in insertion order.
    Statements(Vec<Vec<String>>),
}

/// A commit that rolls back unless confirmed before `deadline`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pending {
    deadline: Instant,
    previous: Body,
}

/// How many earlier commits Junos `rollback N` can reach.
const HISTORY: usize = 49;

/// The configuration the device is running, plus its saved (startup)
/// copy, earlier commits and a pending confirmed commit. Edits live in
/// memory for the lab's lifetime so a later session sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningConfig {
    flavour: Flavour,
    body: Body,
    /// What `write memory` saved (`show startup-config`).
    startup: Body,
    /// Earlier committed bodies, newest first (Junos `rollback N`).
    history: Vec<Body>,
    pending: Option<Pending>,
}

/// The key under which a config line replaces an older one: the first word
/// for words that take one value, else the first two words (`ip address`).
fn line_key(line: &str) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [] => String::new(),
        [one] => (*one).to_string(),
        [first, ..] if matches!(*first, "hostname" | "description" | "shutdown") => {
            (*first).to_string()
        }
        [first, second, ..] => format!("{first} {second}"),
    }
}

/// Junos leaves that hold one value: a new `set` replaces the old one.
const JUNOS_SINGLE: &[&str] = &[
    "host-name",
    "description",
    "mtu",
    "location",
    "contact",
    "speed",
    "vlan-id",
    "native-vlan-id",
    "domain-name",
    "time-zone",
];
/// Junos leaves that hold a list of values (`address`, `server`).
const JUNOS_MULTI: &[&str] = &["address", "server", "name-server", "community", "members"];
/// Junos containers named by their next word (`unit 0 {`, `family inet {`).
const JUNOS_NAMED: &[&str] = &["unit", "family", "vlan", "group", "neighbor", "user"];

/// Splits a Junos statement into words, keeping `"quoted text"` as one word.
pub(crate) fn junos_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// Splits a statement into its container path (`interfaces`, `ge-0/0/0`,
/// `unit 0`) and its leaf (`description "x"`, `disable`).
fn junos_split(words: &[String]) -> (Vec<String>, String) {
    let n = words.len();
    let leaf_len = if n >= 2
        && (JUNOS_SINGLE.contains(&words[n - 2].as_str())
            || JUNOS_MULTI.contains(&words[n - 2].as_str()))
    {
        2
    } else {
        1.min(n)
    };
    let leaf = words[n - leaf_len..].join(" ");
    let mut path = Vec::new();
    let mut i = 0;
    while i < n - leaf_len {
        if JUNOS_NAMED.contains(&words[i].as_str()) && i + 1 < n - leaf_len {
            path.push(format!("{} {}", words[i], words[i + 1]));
            i += 2;
        } else {
            path.push(words[i].clone());
            i += 1;
        }
    }
    (path, leaf)
}

/// Whether statement `new` replaces `old` (same single-valued leaf).
fn junos_replaces(old: &[String], new: &[String]) -> bool {
    if old == new {
        return true;
    }
    let n = new.len();
    n >= 2
        && old.len() == n
        && JUNOS_SINGLE.contains(&new[n - 2].as_str())
        && old[..n - 1] == new[..n - 1]
}

/// Renders statements as the Junos brace hierarchy.
fn junos_tree(items: &[(Vec<String>, String)], depth: usize, out: &mut String) {
    let indent = "    ".repeat(depth);
    let mut done = vec![false; items.len()];
    for (i, (path, leaf)) in items.iter().enumerate() {
        if done[i] {
            continue;
        }
        match path.first() {
            None => {
                done[i] = true;
                out.push_str(&format!("{indent}{leaf};\n"));
            }
            Some(head) => {
                let mut group = Vec::new();
                for (j, (other, other_leaf)) in items.iter().enumerate().skip(i) {
                    if !done[j] && other.first() == Some(head) {
                        done[j] = true;
                        group.push((other[1..].to_vec(), other_leaf.clone()));
                    }
                }
                out.push_str(&format!("{indent}{head} {{\n"));
                junos_tree(&group, depth + 1, out);
                out.push_str(&format!("{indent}}}\n"));
            }
        }
    }
}

impl RunningConfig {
    /// The configuration a device boots with, derived from its name.
    pub fn initial(name: &str, flavour: Flavour) -> Self {
        let facts = DeviceFacts::new(name);
        let body = if flavour == Flavour::JuniperJunos {
            let mut s: Vec<String> = vec![format!("system host-name {name}")];
            s.push(format!("system ntp server {}", facts.ntp_server()));
            for (i, iface) in facts.interfaces(flavour).iter().enumerate() {
                s.push(format!("interfaces {iface} description \"lab link {i}\""));
                match facts.interface_address(i) {
                    Some((ip, mask)) => {
                        let prefix: u32 = mask
                            .split('.')
                            .filter_map(|o| o.parse::<u8>().ok())
                            .map(u8::count_ones)
                            .sum();
                        s.push(format!(
                            "interfaces {iface} unit 0 family inet address {ip}/{prefix}"
                        ));
                    }
                    None => s.push(format!("interfaces {iface} disable")),
                }
            }
            Body::Statements(s.iter().map(|l| junos_words(l)).collect())
        } else {
            let mut sections = vec![Section {
                header: format!("hostname {name}"),
                children: vec![],
            }];
            for (i, iface) in facts.interfaces(flavour).iter().enumerate() {
                let mut children = vec![format!("description lab link {}", i)];
                match facts.interface_address(i) {
                    Some((ip, mask)) => children.push(format!("ip address {ip} {mask}")),
                    None => children.push("shutdown".to_string()),
                }
                sections.push(Section {
                    header: format!("interface {iface}"),
                    children,
                });
            }
            sections.push(Section {
                header: format!("ntp server {}", facts.ntp_server()),
                children: vec![],
            });
            Body::Blocks(sections)
        };
        RunningConfig {
            flavour,
            startup: body.clone(),
            body,
            history: Vec::new(),
            pending: None,
        }
    }

    /// Applies one config-mode line, inside `interface` block `context` if set.
    /// `no X` removes `X`; a line replaces an older one with the same key.
    /// On Junos, use [`RunningConfig::set`] and [`RunningConfig::delete`].
    pub fn apply(&mut self, context: Option<&str>, line: &str) {
        let Body::Blocks(sections) = &mut self.body else {
            return;
        };
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            return;
        }
        match context {
            Some(block) => {
                let header = format!("interface {block}");
                let section = match sections.iter().position(|s| s.header == header) {
                    Some(i) => &mut sections[i],
                    None => {
                        sections.push(Section {
                            header,
                            children: vec![],
                        });
                        let last = sections.len() - 1;
                        &mut sections[last]
                    }
                };
                apply_to(&mut section.children, &line);
            }
            None => {
                if let Some(rest) = line.strip_prefix("no ") {
                    let rest = rest.trim();
                    sections.retain(|s| s.header != rest && line_key(&s.header) != rest);
                    return;
                }
                let key = line_key(&line);
                match sections.iter_mut().find(|s| {
                    s.children.is_empty()
                        && !s.header.starts_with("interface ")
                        && line_key(&s.header) == key
                }) {
                    Some(section) => section.header = line,
                    None => sections.push(Section {
                        header: line,
                        children: vec![],
                    }),
                }
            }
        }
    }

    /// Ensures an `interface X` block exists (entering it in config mode).
    pub fn ensure_interface(&mut self, name: &str) {
        let Body::Blocks(sections) = &mut self.body else {
            return;
        };
        let header = format!("interface {name}");
        if !sections.iter().any(|s| s.header == header) {
            sections.push(Section {
                header,
                children: vec![],
            });
        }
    }

    /// Junos `set WORDS`: adds the statement, replacing a single-valued
    /// leaf's old value. Returns false when there is nothing to set.
    pub fn set(&mut self, statement: &str) -> bool {
        let Body::Statements(all) = &mut self.body else {
            return false;
        };
        let words = junos_words(statement);
        if words.len() < 2 {
            return false;
        }
        match all.iter().position(|old| junos_replaces(old, &words)) {
            Some(i) => all[i] = words,
            None => all.push(words),
        }
        true
    }

    /// Junos `delete WORDS`: removes every statement under that path.
    /// Returns false when nothing matched (`statement not found`).
    pub fn delete(&mut self, path: &str) -> bool {
        let Body::Statements(all) = &mut self.body else {
            return false;
        };
        let words = junos_words(path);
        let before = all.len();
        all.retain(|s| !(s.len() >= words.len() && s[..words.len()] == words[..]));
        all.len() != before
    }

    /// The current hostname, which the prompt shows.
    pub fn hostname(&self) -> Option<&str> {
        match &self.body {
            Body::Blocks(sections) => sections
                .iter()
                .find_map(|s| s.header.strip_prefix("hostname ")),
            Body::Statements(all) => all.iter().find_map(|s| match s.as_slice() {
                [a, b, name] if a == "system" && b == "host-name" => Some(name.as_str()),
                _ => None,
            }),
        }
    }

    /// The configuration as `show running-config` (or Junos `show
    /// configuration`) prints it.
    pub fn render(&self, flavour: Flavour) -> String {
        render_body(&self.body, flavour, "running")
    }

    /// `show startup-config`: what `write memory` saved last.
    pub fn render_startup(&self, flavour: Flavour) -> String {
        render_body(&self.startup, flavour, "startup")
    }

    /// Junos `show configuration | display set`.
    pub fn render_set(&self) -> String {
        match &self.body {
            Body::Statements(all) => all
                .iter()
                .map(|s| format!("set {}\n", s.join(" ")))
                .collect(),
            Body::Blocks(_) => String::new(),
        }
    }

    /// Junos `show | compare`: what this candidate changes against `base`.
    pub fn compare(&self, base: &RunningConfig) -> String {
        let (Body::Statements(new), Body::Statements(old)) = (&self.body, &base.body) else {
            return String::new();
        };
        let mut lines: Vec<(Vec<String>, char, String)> = Vec::new();
        for s in old.iter().filter(|s| !new.contains(s)) {
            let (path, leaf) = junos_split(s);
            lines.push((path, '-', leaf));
        }
        for s in new.iter().filter(|s| !old.contains(s)) {
            let (path, leaf) = junos_split(s);
            lines.push((path, '+', leaf));
        }
        // Grouped by path in order of first appearance, removals first,
        // as Junos prints it.
        let mut paths: Vec<&Vec<String>> = Vec::new();
        for (path, _, _) in &lines {
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
        let mut out = String::new();
        for path in paths {
            if path.is_empty() {
                out.push_str("[edit]\n");
            } else {
                out.push_str(&format!("[edit {}]\n", path.join(" ")));
            }
            for sign in ['-', '+'] {
                for (_, _, leaf) in lines.iter().filter(|(p, s, _)| p == path && *s == sign) {
                    out.push_str(&format!("{sign}  {leaf};\n"));
                }
            }
        }
        out
    }

    /// Whether two configurations hold the same text (uncommitted changes).
    pub fn same_as(&self, other: &RunningConfig) -> bool {
        self.body == other.body
    }

    /// `write memory`: the running configuration becomes the startup one.
    pub fn save(&mut self) {
        self.startup = self.body.clone();
    }

    /// Commits `candidate` (a Junos candidate or an EOS session). With
    /// `confirm`, the commit rolls back at `now + confirm` unless
    /// confirmed; a commit without it confirms a pending one.
    pub fn commit(&mut self, candidate: &RunningConfig, confirm: Option<Duration>, now: Instant) {
        let previous = std::mem::replace(&mut self.body, candidate.body.clone());
        self.pending = match (confirm, self.pending.take()) {
            (Some(d), Some(p)) => Some(Pending {
                deadline: now + d,
                previous: p.previous,
            }),
            (Some(d), None) => Some(Pending {
                deadline: now + d,
                previous: previous.clone(),
            }),
            (None, _) => None,
        };
        self.history.insert(0, previous);
        self.history.truncate(HISTORY);
    }

    /// Confirms a pending commit (EOS `configure session NAME commit`);
    /// false when none was pending.
    pub fn confirm(&mut self) -> bool {
        self.pending.take().is_some()
    }

    /// Rolls back an unconfirmed commit whose time has passed; true if it did.
    pub fn settle(&mut self, now: Instant) -> bool {
        match &self.pending {
            Some(p) if p.deadline <= now => {
                let previous = p.previous.clone();
                let current = std::mem::replace(&mut self.body, previous);
                self.history.insert(0, current);
                self.history.truncate(HISTORY);
                self.pending = None;
                true
            }
            _ => false,
        }
    }

    /// Whether a confirmed commit waits for confirmation.
    pub fn pending_confirm(&self) -> bool {
        self.pending.is_some()
    }

    /// Junos `rollback N`: the configuration committed N commits ago
    /// (0: the current one), as a new candidate.
    pub fn rollback(&self, n: usize) -> Option<RunningConfig> {
        let body = match n {
            0 => self.body.clone(),
            n => self.history.get(n - 1)?.clone(),
        };
        Some(RunningConfig {
            body,
            ..self.clone()
        })
    }

    /// The flavour this configuration is written in.
    pub fn flavour(&self) -> Flavour {
        self.flavour
    }
}

fn render_body(body: &Body, flavour: Flavour, which: &str) -> String {
    match body {
        Body::Statements(all) => {
            let items: Vec<(Vec<String>, String)> = all.iter().map(|s| junos_split(s)).collect();
            let mut out = String::new();
            junos_tree(&items, 0, &mut out);
            out
        }
        Body::Blocks(sections) => {
            let mut text = String::new();
            for section in sections {
                text.push_str(&section.header);
                text.push('\n');
                for child in &section.children {
                    text.push(' ');
                    text.push_str(child);
                    text.push('\n');
                }
                text.push_str("!\n");
            }
            match (flavour, which) {
                (Flavour::JuniperJunos, _) => text,
                (_, "startup") => {
                    format!("Using {} out of 262144 bytes\n!\n{text}end\n", text.len())
                }
                _ => format!(
                    "Building configuration...\n\nCurrent configuration : {} bytes\n!\n{text}end\n",
                    text.len()
                ),
            }
        }
    }
}

/// Applies `line` to a block's children: `no X` removes, else replace by key or append.
fn apply_to(children: &mut Vec<String>, line: &str) {
    if let Some(rest) = line.strip_prefix("no ") {
        let rest = rest.trim();
        children.retain(|c| c != rest && line_key(c) != rest);
        // `no shutdown` is how an interface comes up: nothing to add.
        return;
    }
    let key = line_key(line);
    match children.iter_mut().find(|c| line_key(c) == key) {
        Some(existing) => *existing = line.to_string(),
        None => children.push(line.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_replace_add_and_remove() {
        let mut rc = RunningConfig::initial("r1", Flavour::CiscoIos);
        rc.apply(Some("GigabitEthernet0/1"), "description uplink to core");
        rc.apply(None, "hostname r2");
        rc.apply(None, "snmp-server community lab RO");
        let text = rc.render(Flavour::CiscoIos);
        assert!(text.contains("interface GigabitEthernet0/1\n description uplink to core\n"));
        assert!(!text.contains("description lab link 1"));
        assert!(text.contains("hostname r2\n"));
        assert_eq!(rc.hostname(), Some("r2"));
        rc.apply(None, "no snmp-server community lab RO");
        assert!(!rc.render(Flavour::CiscoIos).contains("snmp-server"));
    }

    #[test]
    fn save_copies_running_to_startup() {
        let mut rc = RunningConfig::initial("r1", Flavour::CiscoIos);
        rc.apply(None, "ntp server 192.0.2.1");
        assert!(!rc.render_startup(Flavour::CiscoIos).contains("192.0.2.1"));
        rc.save();
        let startup = rc.render_startup(Flavour::CiscoIos);
        assert!(startup.starts_with("Using "), "{startup}");
        assert!(startup.contains("ntp server 192.0.2.1\n"));
    }

    #[test]
    fn junos_statements_render_as_a_hierarchy() {
        let mut rc = RunningConfig::initial("mx1", Flavour::JuniperJunos);
        assert_eq!(rc.hostname(), Some("mx1"));
        let text = rc.render(Flavour::JuniperJunos);
        assert!(
            text.starts_with("system {\n    host-name mx1;\n    ntp {\n        server "),
            "{text}"
        );
        assert!(text.contains("    ge-0/0/0 {\n        description \"lab link 0\";\n        unit 0 {\n            family inet {\n                address 10."), "{text}");
        assert!(
            text.contains(
                "    ge-0/0/2 {\n        description \"lab link 2\";\n        disable;\n    }\n"
            ),
            "{text}"
        );
        let base = rc.clone();
        assert!(rc.set("system host-name mx2"));
        assert!(rc.set("interfaces ge-0/0/3 description \"to core\""));
        assert!(rc.delete("interfaces ge-0/0/2 disable"));
        assert!(!rc.delete("interfaces ge-0/0/9"));
        assert_eq!(rc.hostname(), Some("mx2"));
        assert!(rc
            .render_set()
            .contains("set interfaces ge-0/0/3 description \"to core\"\n"));
        assert_eq!(
            rc.compare(&base),
            "[edit system]\n-  host-name mx1;\n+  host-name mx2;\n\
             [edit interfaces ge-0/0/2]\n-  disable;\n\
             [edit interfaces ge-0/0/3]\n-  description \"lab link 3\";\n+  description \"to core\";\n"
        );
    }

    #[test]
    fn confirmed_commit_rolls_back_unless_confirmed() {
        let t0 = Instant::now();
        let mut device = RunningConfig::initial("mx1", Flavour::JuniperJunos);
        let mut cand = device.clone();
        cand.set("system host-name mx2");
        device.commit(&cand, Some(Duration::from_secs(60)), t0);
        assert!(device.pending_confirm());
        assert!(!device.settle(t0 + Duration::from_secs(59)));
        assert_eq!(device.hostname(), Some("mx2"));
        assert!(device.settle(t0 + Duration::from_secs(60)));
        assert_eq!(device.hostname(), Some("mx1"));
        // Confirmed in time: stays.
        device.commit(&cand, Some(Duration::from_secs(60)), t0);
        assert!(device.confirm());
        assert!(!device.settle(t0 + Duration::from_secs(600)));
        assert_eq!(device.hostname(), Some("mx2"));
        // rollback 1 is the configuration before the last commit.
        assert_eq!(
            device
                .rollback(1)
                .and_then(|c| c.hostname().map(String::from)),
            Some("mx1".into())
        );
    }
}
