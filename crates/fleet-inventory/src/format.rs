//! Which inventory dialect a file is written in, by flag, extension or content.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// An inventory dialect fleet can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// fleet's own YAML (`devices:`, `groups:`, `defaults:`).
    Fleet,
    /// Nornir SimpleInventory (`hosts.yaml` + `groups.yaml` + `defaults.yaml`).
    Nornir,
    /// Ansible INI inventory (`[group]`, `[group:vars]`, `[group:children]`).
    AnsibleIni,
    /// Ansible YAML inventory (`all: {hosts, vars, children}`).
    AnsibleYaml,
    /// A CSV table with a header row.
    Csv,
}

impl Format {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [Format; 5] = [
        Format::Fleet,
        Format::Nornir,
        Format::AnsibleIni,
        Format::AnsibleYaml,
        Format::Csv,
    ];

    /// The `--inventory-format` spelling.
    pub fn name(self) -> &'static str {
        match self {
            Format::Fleet => "fleet",
            Format::Nornir => "nornir",
            Format::AnsibleIni => "ansible-ini",
            Format::AnsibleYaml => "ansible-yaml",
            Format::Csv => "csv",
        }
    }

    /// Guesses the format from the path (extension, directory, file name)
    /// and the first bytes of the file, so users rarely need
    /// `--inventory-format`. `None` when nothing fits.
    pub fn detect(path: &Path, head: &[u8]) -> Option<Format> {
        if path.is_dir() {
            // An Ansible inventory directory (`hosts` + `group_vars/`) or a
            // Nornir one (`hosts.yaml` + `groups.yaml`/`defaults.yaml`).
            return Some(if crate::ansible::is_ansible_dir(path) {
                Format::AnsibleIni
            } else {
                Format::Nornir
            });
        }
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let text = String::from_utf8_lossy(head);
        match ext.as_deref() {
            Some("csv") | Some("tsv") => Some(Format::Csv),
            Some("ini") | Some("cfg") => Some(Format::AnsibleIni),
            Some("yaml") | Some("yml") => Some(sniff_yaml(path, &text)),
            _ => sniff_other(path, &text),
        }
    }
}

/// Top-level keys (column 0) and whether any indented key matches `key`.
fn top_keys(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.starts_with([' ', '\t', '#', '-']) && !l.is_empty())
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, _)| k.trim().trim_matches(['"', '\'']))
        })
        .collect()
}

fn has_nested_key(text: &str, key: &str) -> bool {
    text.lines().any(|l| {
        l.starts_with([' ', '\t'])
            && l.trim_start()
                .strip_prefix(key)
                .is_some_and(|r| r.starts_with(':'))
    })
}

fn sniff_yaml(path: &Path, text: &str) -> Format {
    let keys = top_keys(text);
    let fleet_keys = [
        "devices",
        "defaults",
        "known_hosts",
        "host_key_check",
        "version",
    ];
    if keys.iter().any(|k| fleet_keys.contains(k)) {
        return Format::Fleet;
    }
    if keys.contains(&"all") || has_nested_key(text, "children") {
        return Format::AnsibleYaml;
    }
    if has_nested_key(text, "hostname") || has_nested_key(text, "connection_options") {
        return Format::Nornir;
    }
    if has_nested_key(text, "hosts") || has_nested_key(text, "ansible_host") {
        return Format::AnsibleYaml;
    }
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let sibling = |n: &str| path.parent().is_some_and(|d| d.join(n).is_file());
    if stem == "hosts" && (sibling("groups.yaml") || sibling("defaults.yaml")) {
        return Format::Nornir;
    }
    Format::Fleet
}

fn sniff_other(path: &Path, text: &str) -> Option<Format> {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with(['#', ';']))?;
    if first.starts_with('[') {
        return Some(Format::AnsibleIni);
    }
    if first.contains(':') && !first.contains('=') {
        return Some(sniff_yaml(path, text));
    }
    if first.contains(',') && first.to_ascii_lowercase().contains("name") {
        return Some(Format::Csv);
    }
    // Ansible's classic `hosts` file: bare host names, maybe `k=v` vars.
    Some(Format::AnsibleIni)
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `--inventory-format` value that names no format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown inventory format `{0}` (expected one of: fleet, nornir, ansible-ini, ansible-yaml, csv)")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        let format = match norm.as_str() {
            "fleet" | "yaml" | "fleet-yaml" => Format::Fleet,
            "nornir" | "nornir-simple" => Format::Nornir,
            "ansible-ini" | "ini" | "ansible" => Format::AnsibleIni,
            "ansible-yaml" | "ansible-yml" => Format::AnsibleYaml,
            "csv" => Format::Csv,
            _ => return Err(UnknownFormat(s.to_owned())),
        };
        Ok(format)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flag_values() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>(), Ok(f));
        }
        assert!("toml".parse::<Format>().is_err());
    }

    #[test]
    fn detects_by_extension_and_content() {
        let d = |p: &str, t: &str| Format::detect(Path::new(p), t.as_bytes());
        assert_eq!(d("x.csv", "name,host\n"), Some(Format::Csv));
        assert_eq!(d("x.ini", ""), Some(Format::AnsibleIni));
        assert_eq!(
            d("inv.yaml", "devices:\n  - name: a\n"),
            Some(Format::Fleet)
        );
        assert_eq!(d("inv.yml", "all:\n  hosts:\n"), Some(Format::AnsibleYaml));
        assert_eq!(
            d("h.yaml", "r1:\n  hostname: 1.2.3.4\n"),
            Some(Format::Nornir)
        );
        assert_eq!(d("hosts", "[core]\nr1\n"), Some(Format::AnsibleIni));
        assert_eq!(
            d("hosts", "r1 ansible_host=1.2.3.4\n"),
            Some(Format::AnsibleIni)
        );
    }
}
