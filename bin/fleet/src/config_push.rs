//! `--config FILE` / `--config-line LINE`: push configuration lines through
//! each device's configuration mode, dry-run unless `--commit`.
//!
//! A line may hold secrets as placeholders, `{{ env:NAME }}` (an
//! environment variable of `fleet run`) or `{{ file:PATH }}` (a file's
//! content, trailing newline dropped). The master reads the values and
//! sends them to the workers with the device, like passwords; the session
//! fills them in only as it sends the line, so the dry run, run.json,
//! results and logs show the placeholder, and the value is masked in what
//! the device echoes.

use anyhow::{bail, Context, Result};
use fleet_proto::{Device, Mode, Secret};
use std::collections::BTreeMap;
use std::path::Path;

/// What to push.
pub struct ConfigPush {
    /// Configuration lines, in order.
    pub lines: Vec<String>,
    /// Save the configuration afterwards (`write memory` or the platform's
    /// equivalent).
    pub save: bool,
    /// Values of the placeholders in `lines`, keyed by the placeholder as
    /// written.
    pub placeholders: BTreeMap<String, Secret>,
}

impl ConfigPush {
    /// Collects lines from `--config FILE` (blank lines and `!`/`#`
    /// comments skipped) and `--config-line`.
    pub fn from_args(file: Option<&Path>, lines: &[String], save: bool) -> Result<Option<Self>> {
        let mut all = Vec::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            all.extend(
                text.lines()
                    .map(str::trim_end)
                    .filter(|l| {
                        let t = l.trim_start();
                        !t.is_empty() && !t.starts_with('!') && !t.starts_with('#')
                    })
                    .map(String::from),
            );
        }
        all.extend(lines.iter().cloned());
        if all.is_empty() {
            if save {
                bail!("--save-config needs --config or --config-line");
            }
            return Ok(None);
        }
        let mut placeholders = BTreeMap::new();
        for (i, line) in all.iter().enumerate() {
            for (text, source) in find_placeholders(line)
                .with_context(|| format!("config line {}", i + 1))?
            {
                let value = source
                    .read()
                    .with_context(|| format!("config line {}: {text}", i + 1))?;
                placeholders.insert(text.to_string(), value);
            }
        }
        Ok(Some(ConfigPush {
            lines: all,
            save,
            placeholders,
        }))
    }

    /// The whole command sequence for `device`: enter config mode, the
    /// lines, leave, save, then the device's own commands (e.g. a `show`
    /// to verify). Forces shell mode: config mode is a CLI state.
    pub fn apply(&self, device: &mut Device) -> Result<()> {
        let platform = device.platform.as_deref();
        let spec = fleet_ssh::platform::Platform::for_device(platform)
            .map(|p| p.spec)
            .with_context(|| {
                format!(
                    "device `{}`: unknown platform {:?}; config mode needs a known platform",
                    device.name,
                    platform.unwrap_or("-")
                )
            })?;
        let (Some(enter), Some(exit)) = (spec.config_enter, spec.config_exit) else {
            bail!(
                "device `{}`: platform {} has no configuration mode",
                device.name,
                spec.name
            );
        };
        let mut commands = vec![enter.to_string()];
        commands.extend(self.lines.iter().cloned());
        commands.push(exit.to_string());
        if self.save {
            match save_command(spec.name) {
                Some(save) => commands.push(save.to_string()),
                None => bail!(
                    "device `{}`: don't know how to save the configuration on {}",
                    device.name,
                    spec.name
                ),
            }
        }
        commands.append(&mut device.commands);
        device.commands = commands;
        device.mode = Some(Mode::Shell);
        device
            .placeholders
            .extend(self.placeholders.iter().map(|(k, v)| (k.clone(), v.clone())));
        Ok(())
    }
}

/// Where a placeholder's value comes from.
#[derive(Debug, PartialEq, Eq)]
enum Source<'a> {
    /// `{{ env:NAME }}`.
    Env(&'a str),
    /// `{{ file:PATH }}`.
    File(&'a str),
}

impl Source<'_> {
    fn read(&self) -> Result<Secret> {
        match self {
            Source::Env(name) => std::env::var(name)
                .map(Secret::new)
                .with_context(|| format!("environment variable {name} is not set")),
            Source::File(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {path}"))?;
                let value = text.strip_suffix('\n').unwrap_or(&text);
                let value = value.strip_suffix('\r').unwrap_or(value);
                Ok(Secret::new(value))
            }
        }
    }
}

/// The placeholders of a line, as written, with their sources. Text in
/// `{{ }}` that is not `env:` or `file:` is an error, so a typo never goes
/// to a device as literal text.
fn find_placeholders(line: &str) -> Result<Vec<(&str, Source<'_>)>> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            bail!("`{{{{` without `}}}}`");
        };
        let text = &rest[start..start + len + 2];
        let inner = text[2..text.len() - 2].trim();
        let source = match inner.split_once(':') {
            Some(("env", name)) if !name.trim().is_empty() => Source::Env(name.trim()),
            Some(("file", path)) if !path.trim().is_empty() => Source::File(path.trim()),
            _ => bail!("{text}: a placeholder is {{{{ env:NAME }}}} or {{{{ file:PATH }}}}"),
        };
        found.push((text, source));
        rest = &rest[start + len + 2..];
    }
    Ok(found)
}

fn save_command(platform: &str) -> Option<&'static str> {
    match platform {
        "cisco_ios" | "arista_eos" => Some("write memory"),
        "cisco_nxos" => Some("copy running-config startup-config"),
        _ => None,
    }
}

/// Prints what a dry run would send, per device.
pub fn print_dry_run(devices: &[Device]) {
    for d in devices {
        println!("--- {} ({}:{})", d.name, d.host, d.port);
        for c in &d.commands {
            println!("{c}");
        }
    }
    eprintln!(
        "fleet: dry run: nothing was sent to {} devices; add --commit to apply",
        devices.len()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_with_their_source() {
        let found = find_placeholders("username a secret {{ env:PW }} key {{file:/k}}").unwrap();
        assert_eq!(
            found,
            [
                ("{{ env:PW }}", Source::Env("PW")),
                ("{{file:/k}}", Source::File("/k"))
            ]
        );
        assert!(find_placeholders("no secrets here").unwrap().is_empty());
        assert!(find_placeholders("{{ envv:PW }}").is_err());
        assert!(find_placeholders("{{ env:PW ").is_err());
    }

    #[test]
    fn values_are_read_by_the_master_and_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s");
        std::fs::write(&f, "from-file\n").unwrap();
        let lines = vec![format!("a {{{{ file:{} }}}}", f.display())];
        let push = ConfigPush::from_args(None, &lines, false).unwrap().unwrap();
        let v: Vec<&str> = push.placeholders.values().map(Secret::expose).collect();
        assert_eq!(v, ["from-file"]);
        let lines = vec!["ok".to_string(), "b {{ env:FLEET_SURELY_UNSET_9 }}".to_string()];
        let err = ConfigPush::from_args(None, &lines, false).err().unwrap();
        let err = format!("{err:#}");
        assert!(err.contains("config line 2") && err.contains("is not set"), "{err}");
    }
}
