//! A device's running configuration: lines and `interface` blocks that
//! config mode edits and `show running-config` prints.

use crate::flavour::Flavour;
use crate::outputs::DeviceFacts;

/// One top-level line, with indented child lines for blocks (`interface X`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Section {
    /// The top-level line, e.g. `hostname r1` or `interface Gi0/1`.
    header: String,
    /// Lines inside the block, without their leading space.
    children: Vec<String>,
}

/// The configuration the device is running; edits live in memory for the
/// lab's lifetime so a later session sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningConfig {
    /// Sections in print order.
    sections: Vec<Section>,
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

impl RunningConfig {
    /// The configuration a device boots with, derived from its name.
    pub fn initial(name: &str, flavour: Flavour) -> Self {
        let facts = DeviceFacts::new(name);
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
        RunningConfig { sections }
    }

    /// Applies one config-mode line, inside `interface` block `context` if set.
    /// `no X` removes `X`; a line replaces an older one with the same key.
    pub fn apply(&mut self, context: Option<&str>, line: &str) {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            return;
        }
        match context {
            Some(block) => {
                let header = format!("interface {block}");
                let section = match self.sections.iter().position(|s| s.header == header) {
                    Some(i) => &mut self.sections[i],
                    None => {
                        self.sections.push(Section {
                            header,
                            children: vec![],
                        });
                        let last = self.sections.len() - 1;
                        &mut self.sections[last]
                    }
                };
                apply_to(&mut section.children, &line);
            }
            None => {
                if let Some(rest) = line.strip_prefix("no ") {
                    let rest = rest.trim();
                    self.sections
                        .retain(|s| s.header != rest && line_key(&s.header) != rest);
                    return;
                }
                let key = line_key(&line);
                match self.sections.iter_mut().find(|s| {
                    s.children.is_empty()
                        && !s.header.starts_with("interface ")
                        && line_key(&s.header) == key
                }) {
                    Some(section) => section.header = line,
                    None => self.sections.push(Section {
                        header: line,
                        children: vec![],
                    }),
                }
            }
        }
    }

    /// Ensures an `interface X` block exists (entering it in config mode).
    pub fn ensure_interface(&mut self, name: &str) {
        let header = format!("interface {name}");
        if !self.sections.iter().any(|s| s.header == header) {
            self.sections.push(Section {
                header,
                children: vec![],
            });
        }
    }

    /// The current hostname, which the prompt shows.
    pub fn hostname(&self) -> Option<&str> {
        self.sections
            .iter()
            .find_map(|s| s.header.strip_prefix("hostname "))
    }

    /// The configuration as `show running-config` (or `show configuration`) prints it.
    pub fn render(&self, flavour: Flavour) -> String {
        let mut body = String::new();
        for section in &self.sections {
            body.push_str(&section.header);
            body.push('\n');
            for child in &section.children {
                body.push(' ');
                body.push_str(child);
                body.push('\n');
            }
            if flavour != Flavour::JuniperJunos {
                body.push_str("!\n");
            }
        }
        match flavour {
            Flavour::JuniperJunos => body,
            _ => format!(
                "Building configuration...\n\nCurrent configuration : {} bytes\n!\n{body}end\n",
                body.len()
            ),
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
}
